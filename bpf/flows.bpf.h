/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flow cache (pnm_flows, a block per CPU, direct-mapped: ingress by
 * tuple, egress by socket cookie).
 *
 * Most of what TC ingress costs is finding the receiving socket
 * (bpf_sk_lookup_* takes and drops a reference on it) and touching its
 * storage, a cache line the receiving process's CPU also writes. A
 * connected socket's tuple always leads to the same socket, so after one
 * lookup its packets on this CPU add to the flow's entry instead: a tuple
 * compare and two adds on a line no other CPU writes. Egress has the
 * socket, but its storage is as far: its entry is found by the socket's
 * cookie (any socket, connected or not).
 *
 * What an entry holds (pending) is its owner's, on its socket and interface,
 * for good: show adds it in, and when the entry is taken for another flow it
 * moves to pnm_procstat and pnm_conn, inside a fold's brackets. An entry
 * stops taking packets (live = 0) when its socket changes hands, closes or
 * connects elsewhere (flow_forget). The socket's storage says where its
 * entries are (flow, cookie, the CPUs that made them); both sides use
 * locked instructions in opposite order (the owner side bumps epoch, then
 * reads those; the packet side writes them, sets live, then reads epoch),
 * so an entry made during such a change is ended by one side or the other.
 *
 * An unconnected UDP socket receives from anyone: its entries are keyed by
 * each sender's tuple, as many as it has senders, and the socket cannot
 * list them. They carry the generation pnm_flowgen had when taken, and one
 * bump of it ends them all: when such a socket changes hands, closes or
 * connects, and when another socket may start taking its packets (a bind
 * or connect of a socket that can share a port: SO_REUSEADDR, or bound to
 * a device). Sockets of a SO_REUSEPORT group get none (which member a
 * sender's packets reach changes with the group), nor do sockets that have
 * received fewer than PNM_UNCONN_MIN packets (a DNS lookup's socket would
 * only churn entries and bump the generation when it closes), nor do
 * sockets that changed hands, closed or connected PNM_UNCONN_MAX_CHANGES
 * times (one socket read by a server's worker processes in turn would bump
 * it at each turn). The generation an entry carries is the one read
 * before its socket was looked up: a bump between the lookup and the entry
 * leaves the entry stale from the start.
 */
#ifndef PNM_FLOWS_BPF_H
#define PNM_FLOWS_BPF_H

#define PNM_UNCONN_MIN 16
#define PNM_UNCONN_MAX_CHANGES 32

#include "counters.bpf.h"

/* The socket a packet was joined to, for its per-connection counters. */
struct sock_ref {
	struct pnm_sock *ps; /* its storage: NULL if none or unusable */
	__u64 cookie;	     /* 0: none */
	__u32 epoch;	     /* ps->epoch, read before its owner */
	__u8 state;	     /* BPF_TCP_* for TCP, 0 for UDP */
	bool connected;	     /* one remote: its tuple is its own (cacheable) */
	bool unconn_ok;	     /* unconnected UDP, in no SO_REUSEPORT group */
	__u32 ugen;	     /* pnm_flowgen before the socket was looked up */
};

/* CPUs whose entries flow_forget visits (set by the loader). */
const volatile __u32 pnm_ncpus = 1;
#define PNM_MAX_CPUS 8192

/* A tuple's ingress entry, from its words: local and remote address (each
 * folded to one word), ports (local in the low half) and family/protocol.
 * Four independent products, summed: a chain of ten dependent multiplies
 * (one per word) held every cached packet up (ingress went from 22 to 18
 * ns above the empty program without it). */
static __always_inline __u32 flow_hash(__u32 local, __u32 remote, __u32 ports, __u32 fp)
{
	__u32 h =
		local * 0x9E3779B1u + remote * 0x85EBCA77u + ports * 0xC2B2AE3Du + fp * 0x27D4EB2Fu;

	return (h ^ (h >> 16)) & (PNM_FLOWS - 1);
}

static __always_inline __u32 flow_index(const struct pnm_tuple *t)
{
	const __u32 *w = (const __u32 *)t;

	return flow_hash(w[0] ^ w[1] ^ w[2] ^ w[3], w[4] ^ w[5] ^ w[6] ^ w[7], w[8], w[9]);
}

/* The top bits of a socket cookie's multiplicative hash: an index into a
 * table of 2^bits entries (the flow cache's egress half, claim hints). */
static __always_inline __u32 cookie_slot(__u64 cookie, unsigned int bits)
{
	return (__u32)((cookie * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

/* Egress entries follow the ingress ones, by socket cookie. */
static __always_inline __u32 flow_index_cookie(__u64 cookie)
{
	return cookie_slot(cookie, __builtin_ctz(PNM_FLOWS));
}

static __always_inline bool tuple_eq(const struct pnm_tuple *a, const struct pnm_tuple *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* Entry idx of CPU cpu's block (NULL past the map's end). */
static __always_inline struct pnm_flow *flow_entry_of(__u32 idx, __u32 cpu)
{
	__u32 key = cpu * (2 * PNM_FLOWS) + idx;

	return bpf_map_lookup_elem(&pnm_flows, &key);
}

/* Entry idx of this CPU's block: for packets, which stay on their CPU. */
static __always_inline struct pnm_flow *flow_entry(__u32 idx)
{
	return flow_entry_of(idx, bpf_get_smp_processor_id());
}

/* The generation of unconnected sockets' entries, now (0: unknown, none
 * made). */
static __always_inline __u32 flowgen(void)
{
	__u32 zero = 0, *g = bpf_map_lookup_elem(&pnm_flowgen, &zero);

	return g ? PNM_ONCE(*g) | 1 : 0;
}

/* End every unconnected socket's entries. A fetching atomic, its result
 * used: fully ordered on every architecture (a plain atomic add is not
 * ordered with the loads that follow it on arm64). */
static __always_inline void flowgen_bump(void)
{
	__u32 zero = 0, *g = bpf_map_lookup_elem(&pnm_flowgen, &zero);

	if (g)
		pnm_use(__sync_fetch_and_add(g, 2));
}

/*
 * The socket of storage ps changes hands, closes or reconnects: its entry
 * on every CPU stops taking packets. Bytes that entry already took stay its
 * owner's.
 */
static __always_inline void flow_kill(__u32 idx, __u64 cookie, __u32 cpu)
{
	struct pnm_flow *e = flow_entry_of(idx, cpu);

	if (e && e->cookie == cookie)
		__sync_lock_test_and_set(&e->live, 0);
}

static __always_inline void flow_forget(struct pnm_sock *ps)
{
	__u32 in, out, cpu;
	__u64 cookie, cpus;

	pnm_use(__sync_fetch_and_add(&ps->epoch, 1));
	/* All set before any entry of the socket's goes live. */
	if (PNM_ONCE(ps->flags) & PNM_SOCK_UNCONN_FLOWS)
		flowgen_bump();
	cookie = PNM_ONCE(ps->cookie);
	in = PNM_ONCE(ps->flow);
	cpus = PNM_ONCE(ps->cpus);
	if (!cookie)
		return;
	out = PNM_FLOWS + flow_index_cookie(cookie);
	for (cpu = 0; cpu < PNM_MAX_CPUS && cpu < pnm_ncpus; cpu++) {
		if (!(cpus & (1ULL << (cpu & 63))))
			continue;
		if (in)
			flow_kill(in - 1, cookie, cpu);
		flow_kill(out, cookie, cpu);
	}
}

#endif /* PNM_FLOWS_BPF_H */
