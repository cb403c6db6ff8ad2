/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flow cache (pnm_flows, a block per CPU, direct-mapped: ingress by
 * tuple, egress by socket cookie).
 * See docs/design.md, section "The flow cache", for why and how.
 *
 * Invariants this code keeps:
 * - What an entry took (pending) stays its owner's, on its socket and
 *   interface: show adds it in, and an entry taken for another flow moves
 *   it to pnm_procstat and pnm_conn inside a fold's brackets.
 * - A socket that changes hands, closes or connects elsewhere ends its
 *   entries (flow_forget: live = 0). The owner side bumps ps->epoch, then
 *   reads flow, cookie and cpus; the packet side writes those, sets live,
 *   then reads epoch; both with locked instructions, so an entry made
 *   meanwhile is ended by one side or the other.
 * - Unconnected UDP entries carry the pnm_flowgen generation read before
 *   the socket lookup, and one bump ends them all: when such a socket
 *   changes hands, closes or connects, and when a socket that can share a
 *   port binds or connects.
 * - No unconnected entries for a SO_REUSEPORT group's sockets, before
 *   PNM_UNCONN_MIN packets received, or after PNM_UNCONN_MAX_CHANGES
 *   changes of hands, closes or connects.
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
