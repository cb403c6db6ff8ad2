/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where bytes are added, for the counting programs and the socket hooks
 * (what a packet is counted on is decided in packet.bpf.h).
 *
 * A live socket's packets go to its own storage (sock_add): one atomic add
 * per counter, no map lookup. Everything else goes to the maps: the owner's
 * pnm_procstat entry (proc_add) and the socket's pnm_conn entry (conn_add).
 * When a socket changes hands or closes, the bytes its owner has not yet
 * been given move from its storage to the owner's pnm_procstat entry
 * (fold), between two counts in pnm_folds that let a reader see it happen.
 */
#ifndef PNM_COUNTERS_BPF_H
#define PNM_COUNTERS_BPF_H

#include "maps.bpf.h"

static __always_inline void add(struct pnm_counter *c, __u64 bytes, __u64 packets)
{
	c->bytes += bytes;
	c->packets += packets;
}

/* Process o's pnm_procstat entry for interface slot, made if new; NULL
 * when the map is full. */
static __always_inline struct pnm_traffic *proc_entry(__u32 slot, const struct pnm_owner *o)
{
	struct pnm_proc_key key = { .start_ns = o->start_ns, .tgid = o->tgid, .slot = slot };
	struct pnm_traffic *tr;

	tr = bpf_map_lookup_elem(&pnm_procstat, &key);
	if (!tr) {
		struct pnm_traffic zero = {};

		/* EEXIST: another CPU created it meanwhile; look again. */
		bpf_map_update_elem(&pnm_procstat, &key, &zero, BPF_NOEXIST);
		tr = bpf_map_lookup_elem(&pnm_procstat, &key);
	}
	return tr;
}

/* A full pnm_procstat leaves the bytes visible as unattributed overflow. */
static __always_inline void proc_overflow(__u32 slot, int dir, __u64 bytes, __u64 packets)
{
	struct pnm_if_stats *ifs = bpf_map_lookup_elem(&pnm_ifstat, &slot);

	if (ifs) {
		add(&ifs->unattr[dir], bytes, packets);
		add(&ifs->overflow[dir], bytes, packets);
	}
}

/* To process o on interface slot. */
static __always_inline void proc_add(__u32 slot, const struct pnm_owner *o, int dir, __u64 bytes,
				     __u64 packets)
{
	struct pnm_traffic *tr = proc_entry(slot, o);

	if (tr)
		add(&tr->dir[dir], bytes, packets);
	else
		proc_overflow(slot, dir, bytes, packets);
}

/* The first free or matching column for interface slot in a socket's
 * per-interface columns (shared across CPUs: claimed by compare-and-swap);
 * PNM_CONN_IFACES when a third interface finds none. */
static __always_inline int column(__u32 *slots, __u32 slot)
{
	__u32 want = slot + 1, old;
	int i;

	for (i = 0; i < PNM_CONN_IFACES; i++)
		if (slots[i] == want)
			return i;
	for (i = 0; i < PNM_CONN_IFACES; i++) {
		if (slots[i])
			continue;
		old = __sync_val_compare_and_swap(&slots[i], 0, want);
		if (!old || old == want)
			break;
	}
	return i;
}

/* The packet on its socket's own counters. False when they cannot take
 * it: the socket closed (its bytes go to the maps now), a listener (its
 * storage is cloned to every accepted socket), a third interface. */
static __always_inline bool sock_add(struct pnm_sock *ps, __u32 slot, __u8 state, int dir,
				     __u64 bytes, __u64 packets)
{
	struct pnm_counter *col;
	int i;

	if (!ps || (ps->flags & PNM_SOCK_RETIRED) || state == PNM_TCP_LISTEN)
		return false;
	i = column(ps->slot, slot);
	if (i >= PNM_CONN_IFACES)
		return false;
	col = dir == PNM_IN ? &ps->in[i] : &ps->out[i];
	__sync_fetch_and_add(&col->bytes, bytes);
	/* Fetching: fully ordered before the caller's look at the flags
	 * (sock_add_late), on arm64 too. */
	pnm_use(__sync_fetch_and_add(&col->packets, packets));
	return true;
}

/* The socket's pnm_conn entry: looked up, or made from tuple t (NULL: the
 * caller has none, and none is made). */
static __always_inline struct pnm_conn *conn_get(__u64 cookie, const struct pnm_owner *o,
						 __u8 state, const struct pnm_tuple *t)
{
	struct pnm_conn fresh = {}, *c;

	if (!cookie)
		return NULL;
	c = bpf_map_lookup_elem(&pnm_conn, &cookie);
	if (c || !t)
		return c;
	fresh.t = *t;
	fresh.owner = *o;
	fresh.state = state;
	bpf_map_update_elem(&pnm_conn, &cookie, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&pnm_conn, &cookie);
}

/* Count on a pnm_conn entry, for interface slot. Shared across CPUs:
 * atomic adds. */
static __always_inline void conn_add(struct pnm_conn *c, __u32 slot, const struct pnm_owner *o,
				     __u8 state, int dir, __u64 bytes, __u64 packets)
{
	int i;

	if (c->owner.tgid != o->tgid || c->owner.start_ns != o->start_ns)
		write_owner(&c->owner, o);
	if (state && c->state != state)
		c->state = state;
	i = column(c->slot, slot);
	if (i >= PNM_CONN_IFACES)
		return; /* a third interface: the process counters have it */
	__sync_fetch_and_add(&c->c[i][dir].bytes, bytes);
	__sync_fetch_and_add(&c->c[i][dir].packets, packets);
}

/* Brackets around a fold: pnm_folds counts folds begun and ended. */
static __always_inline struct pnm_folds *fold_begin(void)
{
	__u32 zero = 0;
	struct pnm_folds *f = bpf_map_lookup_elem(&pnm_folds, &zero);

	if (f)
		__sync_fetch_and_add(&f->begun, 1);
	return f;
}

static __always_inline void fold_end(struct pnm_folds *f)
{
	if (f)
		__sync_fetch_and_add(&f->ended, 1);
}

/* Give owner o what the socket counted since the last fold. Each base is
 * swapped for the count read: concurrent folds chain, so every byte moves
 * exactly once. Both directions of an interface go to the same
 * pnm_procstat entry: looked up once (a helper call and often a cache
 * miss each). */
static __always_inline void fold(struct pnm_sock *ps, const struct pnm_owner *o)
{
	for (int i = 0; i < PNM_CONN_IFACES; i++) {
		__u32 slot = ps->slot[i];
		struct pnm_counter d[PNM_NDIR];
		struct pnm_traffic *tr;

		if (!slot)
			continue;
		for (int dir = 0; dir < PNM_NDIR; dir++) {
			struct pnm_counter *col = dir == PNM_IN ? &ps->in[i] : &ps->out[i];
			__u64 b = PNM_ONCE(col->bytes), p = PNM_ONCE(col->packets);

			d[dir].bytes = b - __sync_lock_test_and_set(&ps->base[i][dir].bytes, b);
			d[dir].packets = p - __sync_lock_test_and_set(&ps->base[i][dir].packets, p);
		}
		if (!(d[PNM_IN].bytes | d[PNM_IN].packets | d[PNM_OUT].bytes | d[PNM_OUT].packets))
			continue;
		tr = proc_entry(slot - 1, o);
		for (int dir = 0; dir < PNM_NDIR; dir++) {
			if (tr)
				add(&tr->dir[dir], d[dir].bytes, d[dir].packets);
			else if (d[dir].bytes | d[dir].packets)
				proc_overflow(slot - 1, dir, d[dir].bytes, d[dir].packets);
		}
	}
}

/*
 * After sock_add: the socket may have retired meanwhile on another CPU
 * (closed), and its fold (retire) may have read the counters before this
 * packet's add; what the storage holds after that would be lost with it.
 * Both sides are fully ordered atomics (the add here, the flag there), so
 * when the fold missed the add, the flag is seen here: fold again. Folds
 * chain (fold above): a byte both saw moves once. The connection's own
 * entry (pnm_conn) took the counters whole at retire and misses such a
 * packet.
 */
static __always_inline void sock_add_late(struct pnm_sock *ps, const struct pnm_owner *o)
{
	struct pnm_folds *f;

	if (!(PNM_ONCE(ps->flags) & PNM_SOCK_RETIRED))
		return;
	f = fold_begin();
	fold(ps, o);
	fold_end(f);
}

/*
 * A handshake's bytes (pnm_synpend entry e) leave it: to socket storage ps,
 * the established connection's (NULL: to e's owner's pnm_procstat entry).
 * Each counter is swapped for 0, so a packet adding meanwhile on another
 * CPU either is taken here or sees e->moved and takes its own (syn_add).
 * Columns of an interface detached since are dropped with it.
 */
static __always_inline void syn_give(struct pnm_syn *e, struct pnm_sock *ps)
{
	/* Unrolled: in a map callback the verifier takes the loop's two
	 * passes for one state seen again. */
#pragma clang loop unroll(full)
	for (int i = 0; i < PNM_CONN_IFACES; i++) {
		__u32 slot = PNM_ONCE(e->slot[i]), key;
		struct pnm_if_cfg *cfg;

		if (!slot)
			continue;
		key = slot - 1;
		cfg = bpf_map_lookup_elem(&pnm_ifcfg, &key);
#pragma clang loop unroll(full)
		for (int dir = 0; dir < PNM_NDIR; dir++) {
			__u64 b = __sync_lock_test_and_set(&e->c[i][dir].bytes, 0);
			__u64 p = __sync_lock_test_and_set(&e->c[i][dir].packets, 0);
			struct pnm_counter *col;
			int j;

			if (!(b | p) || !cfg || cfg->gen != PNM_ONCE(e->gen[i]))
				continue;
			j = ps ? column(ps->slot, key) : PNM_CONN_IFACES;
			if (j >= PNM_CONN_IFACES) {
				proc_add(key, &e->owner, dir, b, p);
				continue;
			}
			col = dir == PNM_IN ? &ps->in[j] : &ps->out[j];
			__sync_fetch_and_add(&col->bytes, b);
			__sync_fetch_and_add(&col->packets, p);
		}
	}
}

#endif /* PNM_COUNTERS_BPF_H */
