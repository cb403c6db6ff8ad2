/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The socket readers and the seeding at attach (part of sock_owner.bpf.c,
 * included by it where their programs come in the skeleton's order): show
 * reads every socket's counters as pnm_sock_rec records through one of
 * three iterators (the socket-storage map, every process's open files, or
 * the TCP and UDP socket tables), whichever the kernel loads; the same
 * passes clear a detached interface's column. Seeding gives the sockets
 * that exist at attach to a process that holds them.
 */
#ifndef PNM_OWNER_READERS_BPF_H
#define PNM_OWNER_READERS_BPF_H

/* The IP or packet socket an open file is, or NULL. */
static __always_inline struct sock *file_sock(struct file *file)
{
	struct socket *sock = bpf_sock_from_file(file);
	struct sock *sk = sock ? sock->sk : NULL;

	return sk && owned_sock(sk) ? sk : NULL;
}

/* What the socket reader does with one socket's storage ps: clear a
 * detached interface's column, give pnm_skcookie its owner (first XDP
 * attach), and write its record if it has counters. */
static __always_inline void sock_rec_emit(struct seq_file *seq, struct sock *sk,
					  struct pnm_sock *ps)
{
	struct pnm_sock_rec r = {};
	struct pnm_meta *m;
	__u32 zero = 0;

	m = bpf_map_lookup_elem(&pnm_meta, &zero);
	/* XDP attached for the first time: the sockets that exist get their
	 * owner copy (new ones get it from the hooks from now on). */
	if (m && m->fill_owners && read_owner(&ps->owner, &r.conn.owner))
		cookie_owner(bpf_get_socket_cookie(sk), &r.conn.owner);
	for (int i = 0; m && m->clear_slot && i < PNM_CONN_IFACES; i++) {
		if (ps->slot[i] != m->clear_slot)
			continue;
		__builtin_memset(&ps->in[i], 0, sizeof(ps->in[i]));
		__builtin_memset(&ps->out[i], 0, sizeof(ps->out[i]));
		__builtin_memset(&ps->base[i], 0, sizeof(ps->base[i]));
		ps->slot[i] = 0;
	}
	if (!(ps->slot[0] | ps->slot[1]) || !read_owner(&ps->owner, &r.conn.owner))
		return;
	r.cookie = bpf_get_socket_cookie(sk);
	tuple_of_sock(sk, &r.conn.t);
	if (sk->sk_protocol == IPPROTO_TCP)
		r.conn.state = sk->__sk_common.skc_state;
	r.flags = ps->flags;
	r.conn.closed = !!(ps->flags & (PNM_SOCK_RETIRED | PNM_SOCK_RELEASED));
	for (int i = 0; i < PNM_CONN_IFACES; i++) {
		r.conn.slot[i] = ps->slot[i];
		r.conn.c[i][PNM_IN] = ps->in[i];
		r.conn.c[i][PNM_OUT] = ps->out[i];
		r.base[i][PNM_IN] = ps->base[i][PNM_IN];
		r.base[i][PNM_OUT] = ps->base[i][PNM_OUT];
	}
	bpf_seq_write(seq, &r, sizeof(r));
}

/* show: every socket's own counters, one pnm_sock_rec each (read through
 * the pinned link PNM_SOCKITER). While an interface is detached, its
 * column is cleared first: its slot may be given to another interface. */
SEC("iter/bpf_sk_storage_map")
int pnm_sockiter(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct pnm_sock *ps = ctx->value;
	struct sock *sk = ctx->sk;

	if (ps && sk)
		sock_rec_emit(ctx->meta->seq, sk, ps);
	return 0;
}

/* The detached interface's column (slot + 1) of a pnm_conn entry,
 * cleared. */
static __always_inline void conn_clear_slot(struct pnm_conn *c, __u32 slot)
{
	for (int i = 0; i < PNM_CONN_IFACES; i++) {
		if (c->slot[i] != slot)
			continue;
		__builtin_memset(&c->c[i], 0, sizeof(c->c[i]));
		c->slot[i] = 0;
	}
}

static long conn_clear(struct bpf_map *map, __u64 *key, struct pnm_conn *c, __u32 *slot)
{
	conn_clear_slot(c, *slot);
	return 0;
}

/* The end of a reader's pass where there is no pnm_conniter: a detached
 * interface's column of pnm_conn too (idempotent: the sockets reader ends
 * one pass per namespace). */
static __always_inline void conn_clear_detached(void)
{
	__u32 zero = 0, slot;
	struct pnm_meta *m = bpf_map_lookup_elem(&pnm_meta, &zero);

	slot = m ? m->clear_slot : 0;
	if (slot)
		bpf_for_each_map_elem(&pnm_conn, conn_clear, &slot, 0);
}

SEC("iter/task_file")
int pnm_sockfiles(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct pnm_sock *ps;
	struct sock *sk;

	if (!file) {
		conn_clear_detached();
		return 0;
	}
	sk = file_sock(file);
	if (!sk)
		return 0;
	ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
	if (ps)
		sock_rec_emit(ctx->meta->seq, sk, ps);
	return 0;
}

/* Detaching one interface: its column of every pnm_conn entry (closed
 * connections, listeners, XDP) is cleared too, through this iterator over
 * the map, run while pnm_meta.clear_slot is set. Nothing adds to that
 * column meanwhile: the interface's programs are gone. */
SEC("iter/bpf_map_elem")
int pnm_conniter(struct bpf_iter__bpf_map_elem *ctx)
{
	struct pnm_conn *c = ctx->value;
	struct pnm_meta *m;
	__u32 zero = 0;

	m = bpf_map_lookup_elem(&pnm_meta, &zero);
	if (c && m && m->clear_slot)
		conn_clear_slot(c, m->clear_slot);
	return 0;
}

/*
 * Kernels that refuse both map iterators and socket storage through an
 * open file (its sock->sk is an untrusted pointer to some verifiers) get
 * the records from the TCP and UDP socket tables: iter/tcp and iter/udp
 * hand the program trusted sockets. Each walks the network namespace of
 * the process that opens it, so the loader reads them once per namespace.
 * Every socket in the tables is seen, held by a process or not (orphaned,
 * in an accept queue).
 */
SEC("iter/tcp")
int pnm_tcpiter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp = skc ? bpf_skc_to_tcp_sock(skc) : NULL;
	struct pnm_sock *ps;

	if (!tp)
		return 0; /* the end, or a request or time-wait socket */
	ps = bpf_sk_storage_get(&pnm_sockowner, tp, 0, 0);
	if (ps)
		sock_rec_emit(ctx->meta->seq, (struct sock *)tp, ps);
	return 0;
}

SEC("iter/udp")
int pnm_udpiter(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;
	struct pnm_sock *ps;

	if (!udp) {
		conn_clear_detached();
		return 0;
	}
	ps = bpf_sk_storage_get(&pnm_sockowner, udp, 0, 0);
	if (ps)
		sock_rec_emit(ctx->meta->seq, (struct sock *)udp, ps);
	return 0;
}

/* Seeding at attach: the sockets that already exist go to a process that
 * holds them (the first one met, in PID order), unless already owned. */
__u64 seeded;

SEC("iter/task_file")
int pnm_seed(struct bpf_iter__task_file *ctx)
{
	struct task_struct *t = ctx->task;
	struct file *file = ctx->file;
	struct pnm_owner me;
	struct pnm_sock *cur;
	struct sock *sk;
	__u64 cookie;

	if (!t || !file)
		return 0;
	sk = file_sock(file);
	if (!sk)
		return 0;
	cur = bpf_sk_storage_get(&pnm_sockowner, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!cur || cur->owner.tgid)
		return 0;
	cookie = bpf_get_socket_cookie(sk); /* as sock_create would */
	owner_of(t, &me);
	note_process(t, &me);
	write_owner(&cur->owner, &me);
	set_cookie_owner(cookie, &me);
	seeded++;
	return 0;
}

/*
 * Seeding where pnm_seed is refused: the open-files pass only notes which
 * process first holds each socket (by the socket's address, never leaving
 * the kernel), and passes over each namespace's socket tables (trusted
 * sockets) give them their owner.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PNM_SEED_SOCKETS);
	__type(key, __u64);
	__type(value, struct pnm_owner);
} seed_holders SEC(".maps");

/* Sockets left unseeded because seed_holders was full. */
__u64 seed_full;

SEC("iter/task_file")
int pnm_seedfiles(struct bpf_iter__task_file *ctx)
{
	struct task_struct *t = ctx->task;
	struct file *file = ctx->file;
	struct pnm_owner me;
	struct sock *sk;
	__u64 key;

	if (!t || !file)
		return 0;
	sk = file_sock(file);
	if (!sk)
		return 0;
	key = (__u64)sk;
	if (bpf_map_lookup_elem(&seed_holders, &key))
		return 0; /* held by an earlier process too */
	owner_of(t, &me);
	if (bpf_map_update_elem(&seed_holders, &key, &me, BPF_NOEXIST)) {
		seed_full++;
		return 0;
	}
	note_process(t, &me);
	return 0;
}

static __always_inline void seed_sock(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct pnm_owner *holder = bpf_map_lookup_elem(&seed_holders, &key), me;
	struct pnm_sock *cur;
	__u64 cookie;

	if (!holder)
		return;
	me = *holder;
	cur = bpf_sk_storage_get(&pnm_sockowner, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!cur || cur->owner.tgid)
		return;
	cookie = bpf_get_socket_cookie(sk); /* as sock_create would */
	write_owner(&cur->owner, &me);
	set_cookie_owner(cookie, &me);
	seeded++;
}

SEC("iter/tcp")
int pnm_tcpseed(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp = skc ? bpf_skc_to_tcp_sock(skc) : NULL;

	if (tp)
		seed_sock((struct sock *)tp);
	return 0;
}

SEC("iter/udp")
int pnm_udpseed(struct bpf_iter__udp *ctx)
{
	if (ctx->udp_sk)
		seed_sock((struct sock *)ctx->udp_sk);
	return 0;
}

#endif /* PNM_OWNER_READERS_BPF_H */
