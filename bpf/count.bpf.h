/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the TC and XDP counting programs share: the interface constants each
 * attached instance is loaded with, header parsing, the socket lookup by
 * tuple, the layer conversion and the counters.
 *
 * Before including this file, a program file defines:
 *  - PNM_LOAD(ctx, off, to, len): copy packet bytes (in place or by
 *    bpf_skb_load_bytes for TC, bpf_xdp_load_bytes for XDP);
 *  - sock_owner(sk, out, ref): the owner of a looked-up socket, and its
 *    storage (ref->ps, NULL where the program cannot have it) with the
 *    storage's epoch as it was before the owner was read;
 *  - sock_cookie(sk): its cookie, 0 if it never got one.
 */
#ifndef PNM_COUNT_BPF_H
#define PNM_COUNT_BPF_H

#include "flows.bpf.h"

/*
 * Set by the loader for each attached interface: one program instance per
 * interface, so the packet path needs no per-packet configuration lookup
 * and interfaces with the same ifindex in two network namespaces stay apart.
 * Immediates the loader writes into the instructions (maps/pnm.h): opaque
 * to the compiler, exact constants to the verifier, which drops the
 * branches they rule out.
 */
#define PNM_CONST(id)                                                                             \
	({                                                                                        \
		__u64 __v;                                                                        \
		asm volatile("%0 = %1 ll" : "=r"(__v) : "i"((__u64)PNM_CONST_MARK << 32 | (id))); \
		__v;                                                                              \
	})
#define pnm_slot ((__u32)PNM_CONST(PNM_C_SLOT))
#define pnm_l2_len ((__u32)PNM_CONST(PNM_C_L2_LEN))
#define pnm_layer ((__u32)PNM_CONST(PNM_C_LAYER))

struct pkt {
	struct pnm_tuple t; /* local/remote from this host's point of view */
	__u32 hdr_len;	    /* link + network + transport header bytes */
} __attribute__((aligned(8)));

/* Parse IPv4/IPv6 + TCP/UDP headers from offset off, the network header of
 * an L3 protocol (network order). Returns 0 when p holds a TCP or UDP
 * tuple. */
static __always_inline int parse_l3(void *ctx, __u32 off, __u16 l3proto, int dir, struct pkt *p)
{
	__u8 proto;
	__u16 ports[2];

	if (l3proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (PNM_LOAD(ctx, off, &ip, sizeof(ip)))
			return -1;
		/* Only the first fragment carries the ports. */
		if (ip.frag_off & bpf_htons(IP_OFFSET))
			return -1;
		proto = ip.protocol;
		p->t.family = AF_INET;
		__builtin_memcpy(dir == PNM_IN ? p->t.local : p->t.remote, &ip.daddr, 4);
		__builtin_memcpy(dir == PNM_IN ? p->t.remote : p->t.local, &ip.saddr, 4);
		off += ip.ihl * 4;
	} else if (l3proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (PNM_LOAD(ctx, off, &ip6, sizeof(ip6)))
			return -1;
		proto = ip6.nexthdr;
		p->t.family = AF_INET6;
		__builtin_memcpy(dir == PNM_IN ? p->t.local : p->t.remote, &ip6.daddr, 16);
		__builtin_memcpy(dir == PNM_IN ? p->t.remote : p->t.local, &ip6.saddr, 16);
		off += sizeof(ip6);
	} else {
		return -1;
	}

	if (proto == IPPROTO_TCP) {
		struct tcphdr th;

		if (PNM_LOAD(ctx, off, &th, sizeof(th)))
			return -1;
		ports[0] = th.source;
		ports[1] = th.dest;
		off += th.doff * 4;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr uh __attribute__((aligned(4)));

		if (PNM_LOAD(ctx, off, &uh, sizeof(uh)))
			return -1;
		ports[0] = uh.source;
		ports[1] = uh.dest;
		off += sizeof(uh);
	} else {
		return -1;
	}
	p->t.proto = proto;
	p->t.lport = bpf_ntohs(dir == PNM_IN ? ports[1] : ports[0]);
	p->t.rport = bpf_ntohs(dir == PNM_IN ? ports[0] : ports[1]);
	p->hdr_len = off;
	return 0;
}

/*
 * A socket bound to the wildcard address (a listener, an unconnected UDP
 * socket) matches any destination: an arriving packet is its socket's only
 * if the host delivers it locally instead of forwarding it. With forwarding
 * off on the device the packet is local or dropped: counted as local.
 */
static __always_inline bool delivered_locally(void *ctx, __u32 ifindex, const struct pkt *p)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.family = p->t.family;
	fib.l4_protocol = p->t.proto;
	fib.sport = bpf_htons(p->t.rport);
	fib.dport = bpf_htons(p->t.lport);
	fib.ifindex = ifindex;
	if (p->t.family == AF_INET) {
		__builtin_memcpy(&fib.ipv4_src, p->t.remote, 4);
		__builtin_memcpy(&fib.ipv4_dst, p->t.local, 4);
	} else {
		__builtin_memcpy(fib.ipv6_src, p->t.remote, 16);
		__builtin_memcpy(fib.ipv6_dst, p->t.local, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	return rc == BPF_FIB_LKUP_RET_NOT_FWDED || rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

static __always_inline bool wildcard_bound(const struct bpf_sock *sk)
{
	if (sk->family == AF_INET)
		return sk->src_ip4 == 0;
	return (sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] | sk->src_ip6[3]) == 0;
}

/* Find the local socket of a packet from its tuple, as if it were arriving,
 * in the device's network namespace. */
static __always_inline bool owner_by_tuple(void *ctx, __u32 ifindex, const struct pkt *p, int dir,
					   struct pnm_owner *out, struct sock_ref *ref)
{
	struct bpf_sock_tuple st = {};
	struct bpf_sock *sk;
	struct pnm_owner *o;
	__u32 sz;

	if (p->t.family == AF_INET) {
		__builtin_memcpy(&st.ipv4.saddr, p->t.remote, 4);
		__builtin_memcpy(&st.ipv4.daddr, p->t.local, 4);
		st.ipv4.sport = bpf_htons(p->t.rport);
		st.ipv4.dport = bpf_htons(p->t.lport);
		sz = sizeof(st.ipv4);
	} else {
		__builtin_memcpy(st.ipv6.saddr, p->t.remote, 16);
		__builtin_memcpy(st.ipv6.daddr, p->t.local, 16);
		st.ipv6.sport = bpf_htons(p->t.rport);
		st.ipv6.dport = bpf_htons(p->t.lport);
		sz = sizeof(st.ipv6);
	}
	/* bpf_sk_lookup_* turns a request socket into its listener. */
	if (p->t.proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(ctx, &st, sz, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(ctx, &st, sz, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		int found = -1; /* -1: the socket has no owner record */

		if (dir == PNM_OUT || !wildcard_bound(sk) || delivered_locally(ctx, ifindex, p)) {
			found = sock_owner(sk, out, ref);
			ref->cookie = found > 0 ? sock_cookie(sk) : 0;
			ref->state = p->t.proto == IPPROTO_TCP ? (__u8)sk->state : 0;
			ref->connected = sk->dst_port != 0;
			ref->unconn_ok =
				!ref->connected && p->t.proto == IPPROTO_UDP && !sock_reuseport(sk);
		}
		bpf_sk_release(sk);
		/* A socket with an owner record decides; without, try the
		 * closing map. */
		if (found >= 0)
			return found;
	}
	if (p->t.proto != IPPROTO_TCP)
		return false;
	o = bpf_map_lookup_elem(&pnm_closed, &p->t);
	if (!o)
		return false;
	*out = *o;
	return true;
}

/* From frame bytes (l2) to the layer the interface counts at. */
static __always_inline __u64 at_layer(__u64 bytes, __u32 packets)
{
	if (pnm_layer == PNM_L3)
		return bytes - (__u64)pnm_l2_len * packets;
	if (pnm_layer == PNM_L1) {
		/* Segments of a super-packet are full-sized: only a single
		 * frame can be short enough to need padding. */
		if (packets == 1 && bytes < PNM_ETH_MIN_FRAME)
			bytes = PNM_ETH_MIN_FRAME;
		return bytes + (__u64)PNM_L1_OVERHEAD * packets;
	}
	return bytes;
}

/* Count bytes (at the interface's layer) for the owner o, or as
 * unattributed (o NULL). */
static __always_inline void count(const struct pnm_owner *o, int dir, __u64 bytes, __u32 packets)
{
	__u32 slot = pnm_slot;
	struct pnm_if_stats *ifs;

	if (o) {
		proc_add(slot, o, dir, bytes, packets);
		return;
	}
	ifs = bpf_map_lookup_elem(&pnm_ifstat, &slot);
	if (ifs)
		add(&ifs->unattr[dir], bytes, packets);
}

#endif /* PNM_COUNT_BPF_H */
