// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Who owns a socket. The owner is kept in socket-local storage
 * (pnm_sockowner), so it is freed with the socket and never goes stale:
 *  - cgroup/sock_create names the creating process;
 *  - a listener's owner is cloned to every socket it accepts (BPF_F_CLONE),
 *    since accepted sockets are born in softirq where no process is known;
 *  - every send and receive that moves bytes (tp_btf/sock_*_length, process
 *    context) hands the socket to the process doing it: this covers sockets
 *    shared across fork and passed over unix sockets. TCP sends
 *    (tp_btf/tcp_sendmsg_locked) and unconnected UDP sends (cgroup
 *    sendmsg4/6) are claimed before their packets leave;
 *  - at attach, an iterator over every process's open files gives the
 *    sockets that already exist to the process holding them;
 *  - sock_ops follows TCP closing: at CLOSE the connection's counters and
 *    owner go to pnm_conn, by cookie, which its time-wait socket keeps.
 * Process identities (name, parent, exited) go to pnm_procinfo.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "flows.bpf.h"
#include "net.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym __weak;

/* What became of each program here at load, for status (the loader writes
 * it; no program reads it). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PNM_HOOK_SLOTS);
	__type(key, __u32);
	__type(value, struct pnm_hook_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_hookstate SEC(".maps");

/* start_boottime: the clock /proc/PID/stat's starttime also uses. */
static __always_inline void owner_of(struct task_struct *t, struct pnm_owner *o)
{
	o->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	o->tgid = BPF_CORE_READ(t, tgid);
	o->pad = 0;
}

/* The same through BTF pointers (tracing programs, and cgroup ones where
 * the kernel lets them have the current task's). */
static __always_inline void owner_of_btf(const struct task_struct *t, struct pnm_owner *o)
{
	o->start_ns = t->group_leader->start_boottime;
	o->tgid = t->tgid;
	o->pad = 0;
}

/* May the cgroup programs walk the current task through BTF pointers
 * (bpf_get_current_task_btf, Linux 6.x)? Probed by the loader: it costs
 * them half of probe reads' time. */
const volatile bool pnm_task_btf = false;

/* pnm_parent's size, set by the loader: a fork's slot is its PID modulo. */
const volatile __u32 pnm_fork_slots = PNM_MAX_PROCS;

/* The current process in a cgroup program: its task and identity. */
static __always_inline struct task_struct *current_owner(struct pnm_owner *o)
{
	struct task_struct *t;

	if (!pnm_task_btf) {
		t = (struct task_struct *)bpf_get_current_task();
		owner_of(t, o);
		return t;
	}
	t = bpf_get_current_task_btf();
	owner_of_btf(t, o);
	return t;
}

/* How many processes with a pnm_procinfo record that has not seen their
 * exit share tgid's pnm_infolive slot: when none, exec and exit skip the
 * record's lookup, a cache miss of about 600 ns on a VM (most processes
 * never own a socket). Errors only make a lookup happen in vain. */
static __always_inline __u32 *info_live(__u32 tgid)
{
	__u32 k = tgid & (PNM_INFO_SLOTS - 1);

	return bpf_map_lookup_elem(&pnm_infolive, &k);
}

static __always_inline struct pnm_proc_info *info_of(const struct pnm_owner *o)
{
	__u32 *n = info_live(o->tgid);

	return n && !PNM_ONCE(*n) ? NULL : bpf_map_lookup_elem(&pnm_procinfo, o);
}

/* The process each CPU last saw with a pnm_procinfo record: a process
 * opening sockets one after another is looked up once, not per socket
 * (records stay until detach; a torn write only makes a lookup). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pnm_owner);
} noted SEC(".maps");

/* Record the process behind o once; exec refreshes the name, exit marks it. */
static __always_inline void note_process(struct task_struct *t, const struct pnm_owner *o)
{
	struct pnm_proc_info info = {};
	struct task_struct *leader;
	struct pnm_owner *last;
	__u32 zero = 0, *n;

	last = bpf_map_lookup_elem(&noted, &zero);
	if (last && last->tgid == o->tgid && last->start_ns == o->start_ns)
		return;
	if (!bpf_map_lookup_elem(&pnm_procinfo, o)) {
		leader = BPF_CORE_READ(t, group_leader);
		info.ppid = BPF_CORE_READ(leader, real_parent, tgid);
		BPF_CORE_READ_STR_INTO(&info.comm, leader, comm);
		/* A full map only costs the name: the loader falls back to
		 * /proc. */
		if (bpf_map_update_elem(&pnm_procinfo, o, &info, BPF_NOEXIST))
			return;
		n = info_live(o->tgid);
		if (n)
			__sync_fetch_and_add(n, 1);
	}
	if (last)
		*last = *o;
}

/* Is the XDP programs' copy of the owners (pnm_skcookie) kept? Only once
 * an XDP ingress was attached: it costs every socket a map update. */
static __always_inline bool xdp_owners(void)
{
	__u32 zero = 0;
	struct pnm_meta *m = bpf_map_lookup_elem(&pnm_meta, &zero);

	return m && (m->flags & PNM_META_XDP_OWNERS);
}

static __always_inline void cookie_owner(__u64 cookie, const struct pnm_owner *o)
{
	if (cookie)
		bpf_map_update_elem(&pnm_skcookie, &cookie, o, BPF_ANY);
}

/* The copy, by socket cookie; the cookie is only asked for when kept. */
#define set_cookie_owner(cookie, o)              \
	do {                                     \
		if (xdp_owners())                \
			cookie_owner(cookie, o); \
	} while (0)

/* Sockets that changed hands (from one owner to another) so far: every
 * claim hint made before a change is void. */
__u32 pnm_handovers;

/* The process me (task t) takes the socket over. 1 when the owner changed:
 * then the caller updates the cookie copy (each program type has its own
 * bpf_get_socket_cookie argument); 0 when me owned it already; -1 when the
 * socket has no storage. */
static __always_inline int claim(void *sk, const struct pnm_owner *me, struct task_struct *t)
{
	struct pnm_owner old;
	struct pnm_sock *ps;
	struct pnm_folds *f;

	ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!ps)
		return -1;
	if (ps->owner.tgid == me->tgid && ps->owner.start_ns == me->start_ns) {
		/* The listener's owner serves its accepted socket itself. */
		if (PNM_ONCE(ps->flags) & PNM_SOCK_ACCEPTED)
			__sync_fetch_and_and(&ps->flags, ~PNM_SOCK_ACCEPTED);
		return 0;
	}
	note_process(t, me);
	/* A new socket (no owner yet) has counted nothing and has no
	 * flow-cache entries: the common case, without the brackets. */
	if (!read_owner(&ps->owner, &old)) {
		write_owner(&ps->owner, me);
		return 1;
	}
	/* An accepted socket's first user (a worker of the listener's
	 * owner, or the daemon a launcher handed the listener to): what the
	 * socket counted since the accept is the user's, so no fold. It made
	 * no flow-cache entries meanwhile; the epoch's bump ends one a packet
	 * may be making with the listener's owner right now. No handover
	 * either: no CPU has a claim hint for the socket (a claim leaves one,
	 * and the first claim clears the flag). */
	if (PNM_ONCE(ps->flags) & PNM_SOCK_ACCEPTED) {
		write_owner(&ps->owner, me);
		__sync_fetch_and_and(&ps->flags, ~PNM_SOCK_ACCEPTED);
		flow_forget(ps);
		return 1;
	}
	/* What the socket counted so far was the old owner's. */
	f = fold_begin();
	fold(ps, &old);
	write_owner(&ps->owner, me);
	fold_end(f);
	__sync_fetch_and_add(&pnm_handovers, 1);
	/* Its cached flows counted for the old owner: no more. */
	flow_forget(ps);
	return 1;
}

/*
 * Send and receive run for every socket call on the system: read the task
 * and socket through BTF pointers directly (no probe reads), and only for
 * calls that moved bytes on a socket pnm-tc gives an owner: any IP socket
 * (TCP, UDP, raw, ICMP ping, SCTP) or packet socket. Packet sockets have no
 * creation hook: their first send names their owner (its own packets,
 * already gone, are unattributed).
 */
static __always_inline bool owned_sock(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return family == AF_INET || family == AF_INET6 || family == AF_PACKET;
}

/* Kernels that refuse map iterators (iter/bpf_sk_storage_map, iter/
 * bpf_map_elem: EPERM on some hardened builds) get the same records from
 * every process's open sockets instead (pinned as PNM_SOCKITER too). A
 * socket open in several processes comes once per process: the reader
 * keeps one per cookie. A socket no process holds is missed: one its last
 * holder closed (so such a TCP socket retires at release, and its bytes go
 * to the maps from then on: pnm_sock_release) or one still in a listener's
 * accept queue (seen once accepted). */
const volatile bool pnm_files_reader = false;

/* The IP or packet socket an open file is, or NULL. */
static __always_inline struct sock *file_sock(struct file *file)
{
	struct socket *sock = bpf_sock_from_file(file);
	struct sock *sk = sock ? sock->sk : NULL;

	return sk && owned_sock(sk) ? sk : NULL;
}

#define PF_KTHREAD 0x00200000

/*
 * The send and receive hooks run for every call that moves bytes, and a
 * stream's calls nearly always find the socket already theirs. Each CPU
 * remembers which process it last saw owning a socket (by its cookie,
 * unique for the boot): while no socket has changed hands since, the same
 * process on the same socket skips the storage lookup. A socket's first
 * owner needs no such care: a hint names a socket only once it is owned.
 */
struct pnm_claim_hint {
	__u64 cookie;
	__u64 start_ns;
	__u32 tgid;
	__u32 handovers; /* pnm_handovers when made */
};

/* A block of PNM_HINTS per possible CPU (the loader sizes it), as
 * pnm_flows: no per-CPU pointer to load first. Tracepoint programs run
 * with preemption off, so a block is only ever written by its CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PNM_HINTS);
	__type(key, __u32);
	__type(value, struct pnm_claim_hint);
} claim_hints SEC(".maps");

static __always_inline void claim_btf(struct sock *sk, struct task_struct *t)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	__u32 idx = bpf_get_smp_processor_id() * PNM_HINTS +
		    cookie_slot(cookie, __builtin_ctz(PNM_HINTS));
	__u32 seen = PNM_ONCE(pnm_handovers);
	struct pnm_owner me = {};
	struct pnm_claim_hint *h;
	struct pnm_sock *cur;
	int rc;

	owner_of_btf(t, &me);
	h = cookie ? bpf_map_lookup_elem(&claim_hints, &idx) : NULL;
	if (h && h->cookie == cookie && h->handovers == seen && h->tgid == me.tgid &&
	    h->start_ns == me.start_ns)
		return;
	/* A kernel thread working for a socket (kTLS, sockmap, NFS) does not
	 * take a process's socket over; it may own a socket nobody owns. */
	if (t->flags & PF_KTHREAD) {
		cur = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
		if (cur && cur->owner.tgid)
			return;
	}
	rc = claim(sk, &me, t);
	if (rc > 0)
		set_cookie_owner(bpf_get_socket_cookie(sk), &me);
	if (rc >= 0 && h) {
		h->cookie = cookie;
		h->start_ns = me.start_ns;
		h->tgid = me.tgid;
		h->handovers = seen;
	}
}

/* pnm-tc events: is one running, and does it want process tgid's? */
static __always_inline struct pnm_evcfg *events_on(__u32 tgid)
{
	__u32 zero = 0;
	struct pnm_evcfg *cfg = bpf_map_lookup_elem(&pnm_evcfg, &zero);

	if (!cfg || !cfg->enabled)
		return NULL;
	if (cfg->filter_pids && !bpf_map_lookup_elem(&pnm_evpids, &tgid))
		return NULL;
	return cfg;
}

/* A ring-buffer record about task t, every field set; NULL when the ring
 * is full (counted as lost). */
static __always_inline struct pnm_event *event_new(__u32 type, struct task_struct *t)
{
	struct pnm_event *e = bpf_ringbuf_reserve(&pnm_events, sizeof(*e), 0);
	__u32 zero = 0;
	__u64 *lost;

	if (!e) {
		lost = bpf_map_lookup_elem(&pnm_evlost, &zero);
		if (lost)
			(*lost)++;
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->type = type;
	e->tgid = BPF_CORE_READ(t, tgid);
	e->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&e->comm, t, group_leader, comm);
	return e;
}

/* A socket's local/remote addresses and ports, protocol, family. */
static __always_inline void tuple_of_sock(const struct sock *sk, struct pnm_tuple *t)
{
	t->proto = (__u8)sk->sk_protocol;
	t->lport = sk->__sk_common.skc_num;
	t->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (sk->__sk_common.skc_family == AF_INET) {
		t->family = AF_INET;
		__builtin_memcpy(t->local, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(t->remote, &sk->__sk_common.skc_daddr, 4);
	} else {
		const __u32 *ls = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32;
		const __u32 *rs = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32;
		__u32 l[4] = { ls[0], ls[1], ls[2], ls[3] }, r[4] = { rs[0], rs[1], rs[2], rs[3] };

		tuple_set_v6(t, l, r);
	}
}

/* SEND/RECV: the call's bytes, the socket's tuple and route. */
static __always_inline void event_io(struct sock *sk, struct task_struct *t, int ret, __u32 type)
{
	struct dst_entry *dst;
	struct pnm_event *e;

	if (!events_on(t->tgid))
		return;
	e = event_new(type, t);
	if (!e)
		return;
	e->value = ret;
	tuple_of_sock(sk, &e->t);
	/* An unconnected UDP send: its destination from cgroup/sendmsg. */
	if (type == PNM_EV_SEND && !e->t.rport && e->t.proto == IPPROTO_UDP) {
		__u64 id = bpf_get_current_pid_tgid();
		struct pnm_evdst *d = bpf_map_lookup_elem(&pnm_evdst, &id);

		if (d) {
			if (d->family == e->t.family)
				__builtin_memcpy(e->t.remote, d->addr, 16);
			e->t.rport = d->port;
			bpf_map_delete_elem(&pnm_evdst, &id);
		}
	}
	dst = BPF_CORE_READ(sk, sk_dst_cache);
	if (dst) {
		e->ifindex = BPF_CORE_READ(dst, dev, ifindex);
		e->netns = BPF_CORE_READ(dst, dev, nd_net.net, ns.inum);
	}
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void claim_on_io(struct sock *sk, int ret, __u32 type)
{
	struct task_struct *t;

	if (ret > 0 && owned_sock(sk)) {
		t = bpf_get_current_task_btf();
		claim_btf(sk, t);
		if (sk->__sk_common.skc_family != AF_PACKET)
			event_io(sk, t, ret, type);
	}
}

SEC("cgroup/sock_create")
int pnm_sock_create(struct bpf_sock *ctx)
{
	struct task_struct *t;
	struct pnm_owner me;
	__u64 cookie;

	/* Every IP socket (TCP, UDP, raw, ICMP ping, SCTP) and packet socket:
	 * the packet path counts the others' packets in the maps. */
	if (ctx->family == AF_INET || ctx->family == AF_INET6 || ctx->family == AF_PACKET) {
		t = current_owner(&me);
		/* A cookie now: TC ingress can read a looked-up socket's cookie
		 * but not make one (the flow cache and pnm_conn need it). */
		cookie = bpf_get_socket_cookie(ctx);
		if (claim(ctx, &me, t) > 0)
			set_cookie_owner(cookie, &me);
	}
	return 1; /* never deny */
}

/*
 * A socket closes: what it counted goes to its owner's pnm_procstat entry,
 * its connection to a pnm_conn entry, and what it counts from now on goes
 * there too (its storage dies with it). Once per socket.
 */
static __always_inline void retire(struct pnm_sock *ps, __u64 cookie, const struct pnm_tuple *t,
				   __u8 state)
{
	struct pnm_conn *c = NULL;
	struct pnm_owner o;
	struct pnm_folds *f;

	if (__sync_fetch_and_or(&ps->flags, PNM_SOCK_RETIRED) & PNM_SOCK_RETIRED)
		return;
	flow_forget(ps);
	if (!read_owner(&ps->owner, &o))
		return;
	f = fold_begin();
	fold(ps, &o);
	if (ps->slot[0])
		c = conn_get(cookie, &o, state, t);
	for (int i = 0; c && i < PNM_CONN_IFACES; i++) {
		__u32 slot = ps->slot[i];

		if (!slot)
			continue;
		conn_add(c, slot - 1, &o, state, PNM_IN, ps->in[i].bytes, ps->in[i].packets);
		conn_add(c, slot - 1, &o, state, PNM_OUT, ps->out[i].bytes, ps->out[i].packets);
	}
	if (c)
		c->closed = 1; /* at CLOSE (TCP) or released (UDP): not open */
	fold_end(f);
}

/* A TCP socket retires when it reaches CLOSE: after its last packet
 * (a closed socket's FIN exchange and resets are still its own).
 * Established ones retire in sockops first; this takes the rest (a
 * connect that failed), whose local port is already cleared here. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(pnm_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	struct pnm_tuple t = {};
	struct pnm_sock *ps;

	if (newstate != PNM_TCP_CLOSE || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
	if (!ps)
		return 0;
	tuple_of_sock(sk, &t);
	retire(ps, bpf_get_socket_cookie(sk), &t, PNM_TCP_CLOSE);
	return 0;
}

/* The socket is closed by its last holder: drop its cookie record, retire
 * a UDP socket (a TCP one may still have its FIN exchange ahead), mark its
 * connection closed. */
SEC("cgroup/sock_release")
int pnm_sock_release(struct bpf_sock *ctx)
{
	__u32 proto = ctx->protocol; /* read once: not again through ctx + 12 */
	struct pnm_tuple t = { .proto = (__u8)proto };
	struct pnm_sock *ps;
	struct pnm_conn *c;
	__u64 cookie = 0;

	if (ctx->family != AF_INET && ctx->family != AF_INET6 && ctx->family != AF_PACKET)
		return 1;
	if (xdp_owners()) {
		cookie = bpf_get_socket_cookie(ctx);
		bpf_map_delete_elem(&pnm_skcookie, &cookie);
	}
	if (ctx->family == AF_PACKET || (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return 1;
	ps = bpf_sk_storage_get(&pnm_sockowner, ctx, 0, 0);
	if (ps && (PNM_ONCE(ps->flags) & PNM_SOCK_ACCEPTED)) {
		/* Accepted, and closed before any byte was sent or read on
		 * it: the process closing it accepted it (or was given it),
		 * and takes it with its handshake and its closing. */
		struct pnm_owner me;
		struct task_struct *t = current_owner(&me);

		if (claim(ctx, &me, t) > 0)
			set_cookie_owner(cookie, &me);
	}
	if (ps && (__sync_fetch_and_or(&ps->flags, PNM_SOCK_RELEASED) & PNM_SOCK_RETIRED) == 0 &&
	    proto == IPPROTO_TCP && !pnm_files_reader)
		return 1; /* its pnm_conn entry, if any, is marked at CLOSE (retire) */
	if (!cookie)
		cookie = bpf_get_socket_cookie(ctx);
	/* cgroup/sock_release cannot read the local address; without
	 * bpf_rdonly_cast (Linux < 6.2) the closed connection is listed
	 * without its addresses. */
	if (bpf_rdonly_cast && (proto == IPPROTO_UDP || (ps && pnm_files_reader)))
		tuple_of_sock(bpf_rdonly_cast(ctx, bpf_core_type_id_kernel(struct sock)), &t);
	/* Also TCP when the socket reader sees only open sockets: what the
	 * socket counts from now on (its FIN exchange, the rest of its send
	 * queue) goes to the maps, where show sees it. */
	if (ps && (proto == IPPROTO_UDP || pnm_files_reader))
		retire(ps, cookie, &t, proto == IPPROTO_TCP ? PNM_TCP_CLOSE : 0);
	/* Its per-connection counters stay, marked closed, until the LRU
	 * needs the room. */
	c = bpf_map_lookup_elem(&pnm_conn, &cookie);
	if (c) {
		c->closed = 1;
		if (proto == IPPROTO_TCP)
			c->state = BPF_TCP_CLOSE;
		/* A UDP socket's entry may have been made from a datagram
		 * (a flow-cache entry keyed by its sender, a third interface,
		 * XDP) while it was unconnected: its local address was the
		 * datagram's destination (a broadcast address, say), its
		 * remote end the sender or none, whatever connect came later.
		 * From now on the entry alone describes the socket: the
		 * socket's own tuple. */
		if (proto == IPPROTO_UDP && t.lport)
			c->t = t;
	}
	return 1;
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

/* Unconnected UDP sends, before the datagram is built. */
static __always_inline int claim_sendmsg(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct task_struct *t;
	struct pnm_owner me;

	if (sk) {
		t = current_owner(&me);
		if (claim(sk, &me, t) > 0)
			set_cookie_owner(bpf_get_socket_cookie(ctx), &me);
	}
	return 1; /* never deny */
}

/* While events run: where this unconnected UDP send goes. */
static __always_inline void stash_dst(struct bpf_sock_addr *ctx, bool v6)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pnm_evdst d = {};

	if (!events_on((__u32)(id >> 32)))
		return;
	d.port = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			       ctx->user_ip6[3] };

		d.family = AF_INET6;
		__builtin_memcpy(d.addr, a, 16);
	} else {
		__u32 a = ctx->user_ip4;

		d.family = AF_INET;
		__builtin_memcpy(d.addr, &a, 4);
	}
	bpf_map_update_elem(&pnm_evdst, &id, &d, BPF_ANY);
}

SEC("cgroup/sendmsg4")
int pnm_sendmsg4(struct bpf_sock_addr *ctx)
{
	stash_dst(ctx, false);
	return claim_sendmsg(ctx);
}

SEC("cgroup/sendmsg6")
int pnm_sendmsg6(struct bpf_sock_addr *ctx)
{
	stash_dst(ctx, true);
	return claim_sendmsg(ctx);
}

/* May another UDP socket have (or get) the same local port as sk, and so
 * the packets of a sender the flow cache has given to another: bound to a
 * device, or SO_REUSEADDR/SO_REUSEPORT. True when it cannot be told. */
static __always_inline bool port_may_be_shared(struct bpf_sock *sk)
{
	struct sock *s;

	if (!bpf_rdonly_cast)
		return true;
	s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	return s->__sk_common.skc_bound_dev_if ||
	       BPF_CORE_READ_BITFIELD(&s->__sk_common, skc_reuse) ||
	       BPF_CORE_READ_BITFIELD(&s->__sk_common, skc_reuseport);
}

/* A UDP socket connects elsewhere: its old tuple is no longer its own. One
 * that shares its port takes its new peer's packets from the socket the
 * flow cache has for them. */
static __always_inline int forget_on_connect(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct pnm_sock *ps;

	if (sk && sk->protocol == IPPROTO_UDP) {
		ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
		if (ps)
			flow_forget(ps);
		if (port_may_be_shared(sk))
			flowgen_bump();
	}
	return 1; /* never deny */
}

/* A UDP socket bound to a port another socket may have: the packets the
 * flow cache gives that one by sender may be its own now. */
static __always_inline int forget_on_bind(struct bpf_sock *ctx)
{
	if (ctx->protocol == IPPROTO_UDP && port_may_be_shared(ctx))
		flowgen_bump();
	return 1; /* never deny */
}

SEC("cgroup/post_bind4")
int pnm_post_bind4(struct bpf_sock *ctx)
{
	return forget_on_bind(ctx);
}

SEC("cgroup/post_bind6")
int pnm_post_bind6(struct bpf_sock *ctx)
{
	return forget_on_bind(ctx);
}

SEC("cgroup/connect4")
int pnm_connect4(struct bpf_sock_addr *ctx)
{
	return forget_on_connect(ctx);
}

SEC("cgroup/connect6")
int pnm_connect6(struct bpf_sock_addr *ctx)
{
	return forget_on_connect(ctx);
}

/* TCP sends, before the data is queued and pushed out. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(pnm_tcp_send, struct sock *sk)
{
	claim_btf(sk, bpf_get_current_task_btf());
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

SEC("tp_btf/sock_send_length")
int BPF_PROG(pnm_send, struct sock *sk, int ret, int flags)
{
	claim_on_io(sk, ret, PNM_EV_SEND);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(pnm_recv, struct sock *sk, int ret, int flags)
{
	claim_on_io(sk, ret, PNM_EV_RECV);
	return 0;
}

/* Not inlined: two inlined copies let the compiler merge their context
 * reads through one computed pointer, which the verifier refuses. */
static __noinline void tuple_of_skops(const struct bpf_sock_ops *skops, struct pnm_tuple *t)
{
	t->proto = IPPROTO_TCP;
	t->lport = (__u16)skops->local_port;
	t->rport = (__u16)bpf_ntohl(skops->remote_port);
	if (skops->family == AF_INET) {
		t->family = AF_INET;
		__builtin_memcpy(t->local, &skops->local_ip4, 4);
		__builtin_memcpy(t->remote, &skops->remote_ip4, 4);
	} else {
		__u32 l[4] = { skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			       skops->local_ip6[3] };
		__u32 r[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
			       skops->remote_ip6[3] };
		tuple_set_v6(t, l, r);
	}
}

/* An established connection reaches CLOSE: retire it here, while its local
 * port is still set (pnm_tcp_state sees it cleared). */
static __always_inline void retire_skops(struct bpf_sock_ops *skops)
{
	struct pnm_tuple t = {};
	struct bpf_sock *sk = skops->sk;
	struct pnm_sock *ps;

	if (!sk)
		return;
	ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
	if (!ps)
		return;
	tuple_of_skops(skops, &t);
	retire(ps, bpf_get_socket_cookie(skops), &t, PNM_TCP_CLOSE);
}

/* An accepted connection is established: the bytes of its handshake, which
 * only found the listener (pnm_synpend), are its own now, and its first
 * user's with the rest (PNM_SOCK_ACCEPTED). */
static __always_inline void take_handshake(struct bpf_sock_ops *skops, struct pnm_sock *ps)
{
	struct pnm_tuple t = {};
	struct pnm_folds *f;
	struct pnm_syn *e;

	tuple_of_skops(skops, &t);
	e = bpf_map_lookup_elem(&pnm_synpend, &t);
	if (!e)
		return;
	f = fold_begin();
	__sync_lock_test_and_set(&e->moved, 1);
	syn_give(e, ps);
	fold_end(f);
	bpf_map_delete_elem(&pnm_synpend, &t);
}

SEC("sockops")
int pnm_sockops(struct bpf_sock_ops *skops)
{
	struct pnm_owner owner;
	__u64 cookie;
	struct bpf_sock *sk;
	struct pnm_sock *o;

	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* An accepted socket got its listener's owner by cloning; no
		 * process-context hook has seen it yet. It gets its cookie
		 * here, as a created one does in sock_create, and waits for
		 * its first user (PNM_SOCK_ACCEPTED). */
		cookie = bpf_get_socket_cookie(skops);
		sk = skops->sk;
		if (sk) {
			o = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
			if (o && read_owner(&o->owner, &owner)) {
				set_cookie_owner(cookie, &owner);
				__sync_fetch_and_or(&o->flags, PNM_SOCK_ACCEPTED);
				take_handshake(skops, o);
			}
		}
		__attribute__((fallthrough));
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			retire_skops(skops);
		break;
	}
	return 1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pnm_exec, struct task_struct *p)
{
	struct pnm_owner o;
	struct pnm_proc_info *info;

	/* Through the tracepoint's BTF pointer: loads, not probe-read calls
	 * (a helper call costs 100-200 ns on a VM with retpolines). */
	owner_of_btf(p, &o);
	info = info_of(&o);
	if (info)
		__builtin_memcpy(info->comm, p->comm, sizeof(info->comm));
	if (events_on(o.tgid)) {
		struct pnm_event *e = event_new(PNM_EV_EXEC, p);

		if (e)
			bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

/* The process tree, for show --children: a new process (not a thread)
 * and the process that forked it. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(pnm_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = (__u32)child->tgid, slot = tgid % pnm_fork_slots;
	struct pnm_evcfg *cfg;
	struct pnm_fork *f;

	if (child->pid != child->tgid)
		return 0;
	f = bpf_map_lookup_elem(&pnm_parent, &slot);
	if (f) {
		f->child.start_ns = child->start_boottime;
		f->child.tgid = tgid;
		f->child.pad = 0;
		owner_of_btf(parent, &f->parent);
	}
	/* pnm-tc events --children: the family grows with each fork. */
	cfg = events_on((__u32)parent->tgid);
	if (cfg && cfg->filter_pids && cfg->children)
		bpf_map_update_elem(&pnm_evpids, &tgid, &tgid, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pnm_exit, struct task_struct *p)
{
	struct pnm_owner o;
	struct pnm_proc_info *info;

	/* Only the last thread of the group ends the process. */
	if (p->signal->live.counter != 0)
		return 0;
	owner_of_btf(p, &o);
	info = info_of(&o);
	if (info && !(info->flags & PNM_PROC_EXITED)) {
		__u32 *n = info_live(o.tgid);

		info->exit_ns = bpf_ktime_get_boot_ns();
		info->flags |= PNM_PROC_EXITED;
		if (n)
			__sync_fetch_and_add(n, -1);
	}
	if (events_on(o.tgid)) {
		struct pnm_event *e = event_new(PNM_EV_EXIT, p);

		if (e) {
			/* As wait() reports it: the group's code if it had one. */
			e->value = BPF_CORE_READ(p, signal, group_exit_code)
					   ?: BPF_CORE_READ(p, exit_code);
			bpf_ringbuf_submit(e, 0);
		}
	}
	return 0;
}
