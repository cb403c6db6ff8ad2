/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pnm-tc events (part of sock_owner.bpf.c, included by it only): whether a
 * consumer wants a process's events, the ring-buffer record, a send's or
 * receive's record with its socket's tuple and route, and where an
 * unconnected UDP send goes (stash_dst, from cgroup/sendmsg). tuple_of_sock
 * also gives the retiring sockets and the readers their tuple.
 */
#ifndef PNM_OWNER_EVENTS_BPF_H
#define PNM_OWNER_EVENTS_BPF_H

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

#endif /* PNM_OWNER_EVENTS_BPF_H */
