/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * How a socket gets its owner (part of sock_owner.bpf.c, included by it
 * only): a process's identity (owner_of) and its pnm_procinfo record
 * (note_process), the copy of the owner XDP reads (pnm_skcookie), claim()
 * itself with its fold when a socket changes hands, and the per-CPU claim
 * hints that let the send and receive hooks skip a socket already theirs.
 * The hooks that call these are in sock_owner.bpf.c.
 */
#ifndef PNM_OWNER_CLAIM_BPF_H
#define PNM_OWNER_CLAIM_BPF_H

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

#endif /* PNM_OWNER_CLAIM_BPF_H */
