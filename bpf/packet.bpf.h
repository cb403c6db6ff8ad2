/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The packet path the TC and XDP counting programs share: the interface
 * constants each attached instance is loaded with, header parsing, the
 * socket lookup by tuple, the layer conversion, and what a packet is
 * counted on (an owner, the unattributed buckets, a handshake's entry).
 * The adds themselves, which the socket hooks make too, are in
 * counters.bpf.h.
 *
 * Before including this file, a program file defines:
 *  - PNM_LOAD(ctx, off, to, len): copy packet bytes (in place or by
 *    bpf_skb_load_bytes for TC, bpf_xdp_load_bytes for XDP);
 *  - sock_owner(sk, out, ref): the owner of a looked-up socket, and its
 *    storage (ref->ps, NULL where the program cannot have it) with the
 *    storage's epoch as it was before the owner was read;
 *  - sock_cookie(sk): its cookie, 0 if it never got one.
 */
#ifndef PNM_PACKET_BPF_H
#define PNM_PACKET_BPF_H

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
/* This instance's generation (pnm_if_cfg.gen). */
#define pnm_gen ((__u32)PNM_CONST(PNM_C_GEN))

struct pkt {
	struct pnm_tuple t; /* local/remote from this host's point of view */
	__u32 hdr_len;	    /* link + network + transport header bytes */
} __attribute__((aligned(8)));

#define PNM_ICMP_ECHO 8
#define PNM_ICMP_ECHOREPLY 0
#define PNM_ICMPV6_ECHO 128
#define PNM_ICMPV6_ECHOREPLY 129

#define PNM_SCTP_HDR_LEN 12 /* ports, verification tag, checksum */

/* What parse_l3 found. */
#define PNM_PARSED_L4 0	   /* a TCP or UDP tuple */
#define PNM_PARSED_OTHER 1 /* another IP protocol: its tuple, ports as below */
#define PNM_PARSED_NONE -1 /* not IP, a later fragment, or truncated */

/* The tuple's ports for IP protocol proto at offset off (past the IP
 * header): see parse_l3. */
static __always_inline int parse_other(void *ctx, __u32 off, __u8 proto, int dir, struct pkt *p)
{
	__u16 w[4] __attribute__((aligned(4)));

	p->hdr_len = off;
	if (proto != IPPROTO_ICMP && proto != IPPROTO_ICMPV6 && proto != IPPROTO_SCTP)
		return PNM_PARSED_OTHER;
	if (PNM_LOAD(ctx, off, w, sizeof(w)))
		return PNM_PARSED_OTHER;
	if (proto == IPPROTO_SCTP) {
		p->hdr_len = off + PNM_SCTP_HDR_LEN; /* each packet's common header */
		p->t.lport = bpf_ntohs(dir == PNM_IN ? w[1] : w[0]);
		p->t.rport = bpf_ntohs(dir == PNM_IN ? w[0] : w[1]);
		return PNM_PARSED_OTHER;
	}
	/* Type and code in w[0] as the packet has them: the type first. */
	__u8 type = ((__u8 *)w)[0];

	if ((proto == IPPROTO_ICMP && (type == PNM_ICMP_ECHO || type == PNM_ICMP_ECHOREPLY)) ||
	    (proto == IPPROTO_ICMPV6 &&
	     (type == PNM_ICMPV6_ECHO || type == PNM_ICMPV6_ECHOREPLY))) {
		p->t.lport = bpf_ntohs(w[2]);
		p->t.rport = p->t.lport;
	}
	return PNM_PARSED_OTHER;
}

/* Parse IPv4/IPv6 + TCP/UDP headers from offset off, the network header of
 * an L3 protocol (network order). For another IP protocol, the tuple's
 * ports are an ICMP echo's identifier (both, so that a reply matches its
 * request), SCTP's ports, or 0. */
static __always_inline int parse_l3(void *ctx, __u32 off, __u16 l3proto, int dir, struct pkt *p)
{
	__u8 proto;
	__u16 ports[2];

	if (l3proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (PNM_LOAD(ctx, off, &ip, sizeof(ip)))
			return PNM_PARSED_NONE;
		/* A header shorter than its 20 fixed bytes is no IPv4 header:
		 * what follows it would be read from the wrong place. */
		if (ip.ihl < 5)
			return PNM_PARSED_NONE;
		/* Only the first fragment carries the ports. */
		if (ip.frag_off & bpf_htons(IP_OFFSET))
			return PNM_PARSED_NONE;
		proto = ip.protocol;
		p->t.family = AF_INET;
		__builtin_memcpy(dir == PNM_IN ? p->t.local : p->t.remote, &ip.daddr, 4);
		__builtin_memcpy(dir == PNM_IN ? p->t.remote : p->t.local, &ip.saddr, 4);
		off += ip.ihl * 4;
	} else if (l3proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (PNM_LOAD(ctx, off, &ip6, sizeof(ip6)))
			return PNM_PARSED_NONE;
		proto = ip6.nexthdr;
		p->t.family = AF_INET6;
		__builtin_memcpy(dir == PNM_IN ? p->t.local : p->t.remote, &ip6.daddr, 16);
		__builtin_memcpy(dir == PNM_IN ? p->t.remote : p->t.local, &ip6.saddr, 16);
		off += sizeof(ip6);
	} else {
		return PNM_PARSED_NONE;
	}

	p->t.proto = proto;
	if (proto == IPPROTO_TCP) {
		struct tcphdr th;

		if (PNM_LOAD(ctx, off, &th, sizeof(th)))
			return PNM_PARSED_NONE;
		ports[0] = th.source;
		ports[1] = th.dest;
		off += th.doff * 4;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr uh __attribute__((aligned(4)));

		if (PNM_LOAD(ctx, off, &uh, sizeof(uh)))
			return PNM_PARSED_NONE;
		ports[0] = uh.source;
		ports[1] = uh.dest;
		off += sizeof(uh);
	} else {
		return parse_other(ctx, off, proto, dir, p);
	}
	p->t.lport = bpf_ntohs(dir == PNM_IN ? ports[1] : ports[0]);
	p->t.rport = bpf_ntohs(dir == PNM_IN ? ports[0] : ports[1]);
	p->hdr_len = off;
	return PNM_PARSED_L4;
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

/*
 * A TCP tuple that no full socket takes: a time-wait socket's (the ACK of
 * a FIN sent again, a reset), which keeps its connection's cookie. At
 * CLOSE the connection went to pnm_conn under that cookie with its owner
 * (retire): the packet is that owner's and that connection's.
 */
static __always_inline bool owner_of_timewait(void *ctx, struct bpf_sock_tuple *st, __u32 sz,
					      struct pnm_owner *out, struct sock_ref *ref)
{
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, st, sz, BPF_F_CURRENT_NETNS, 0);
	struct tcp_timewait_sock *tw;
	struct pnm_conn *c;
	__u64 cookie = 0;

	if (!sk)
		return false;
	tw = bpf_skc_to_tcp_timewait_sock(sk);
	if (tw)
		cookie = (__u64)BPF_CORE_READ(tw, tw_sk.__tw_common.skc_cookie.counter);
	bpf_sk_release(sk);
	c = cookie ? bpf_map_lookup_elem(&pnm_conn, &cookie) : NULL;
	if (!c || !read_owner(&c->owner, out))
		return false;
	ref->cookie = cookie;
	return true;
}

/* Find the local socket of a packet from its tuple, as if it were arriving,
 * in the device's network namespace. */
static __always_inline bool owner_by_tuple(void *ctx, __u32 ifindex, const struct pkt *p, int dir,
					   struct pnm_owner *out, struct sock_ref *ref)
{
	struct bpf_sock_tuple st = {};
	struct bpf_sock *sk;
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
		/* A socket with an owner record decides; without, try a
		 * time-wait socket. */
		if (found >= 0)
			return found;
	}
	return p->t.proto == IPPROTO_TCP && owner_of_timewait(ctx, &st, sz, out, ref);
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

/* What an unattributed packet is (enum pnm_uclass), from its link-layer
 * protocol (network order) and what parse_l3 made of it (pr, p). */
static __always_inline __u32 uclass(__u16 l3proto, int pr, const struct pkt *p)
{
	if (pr == PNM_PARSED_L4)
		return p->t.proto == IPPROTO_TCP ? PNM_U_TCP : PNM_U_UDP;
	if (pr == PNM_PARSED_OTHER && p->t.proto == IPPROTO_ICMP)
		return PNM_U_ICMP;
	if (pr == PNM_PARSED_OTHER && p->t.proto == IPPROTO_ICMPV6)
		return PNM_U_ICMPV6;
	if (l3proto == bpf_htons(ETH_P_IP) || l3proto == bpf_htons(ETH_P_IPV6))
		return PNM_U_OTHER_IP;
	return l3proto == bpf_htons(ETH_P_ARP) ? PNM_U_ARP : PNM_U_OTHER;
}

/* Count bytes (at the interface's layer) for the owner o, or as
 * unattributed (o NULL) of class uc. */
static __always_inline void count(const struct pnm_owner *o, __u32 uc, int dir, __u64 bytes,
				  __u32 packets)
{
	__u32 slot = pnm_slot;
	struct pnm_if_stats *ifs;

	if (o) {
		proc_add(slot, o, dir, bytes, packets);
		return;
	}
	ifs = bpf_map_lookup_elem(&pnm_ifstat, &slot);
	if (!ifs)
		return;
	add(&ifs->unattr[dir], bytes, packets);
	if (uc < PNM_U_COUNT)
		add(&ifs->unattr_by[uc][dir], bytes, packets);
}

/* A packet sent on an owned socket that is neither TCP nor UDP: its tuple
 * names the owner of the replies (pnm_rawflow). */
static __always_inline void rawflow_note(const struct pnm_tuple *t, const struct pnm_owner *o)
{
	struct pnm_owner *cur = bpf_map_lookup_elem(&pnm_rawflow, t);

	if (!cur || cur->tgid != o->tgid || cur->start_ns != o->start_ns)
		bpf_map_update_elem(&pnm_rawflow, t, o, BPF_ANY);
}

static __always_inline bool rawflow_owner(const struct pnm_tuple *t, struct pnm_owner *out)
{
	struct pnm_owner *o = bpf_map_lookup_elem(&pnm_rawflow, t);

	if (!o)
		return false;
	*out = *o;
	return true;
}

/* When this instance last looked for stale handshakes (ns). */
__u64 syn_swept;

static long syn_sweep_one(struct bpf_map *map, struct pnm_tuple *key, struct pnm_syn *e, __u64 *now)
{
	struct pnm_folds *f;

	if (*now - PNM_ONCE(e->last) < PNM_SYN_STALE_NS)
		return 0;
	f = fold_begin();
	PNM_ONCE(e->moved) = 1;
	syn_give(e, NULL);
	fold_end(f);
	bpf_map_delete_elem(map, key);
	return 0;
}

/* pnm_synpend is full: handshakes that never completed give their bytes to
 * their listener's owner and make room; once a second at most. */
static __always_inline void syn_sweep(void)
{
	__u64 now = bpf_ktime_get_ns();

	if (now - PNM_ONCE(syn_swept) < 1000000000ULL)
		return;
	PNM_ONCE(syn_swept) = now;
	bpf_for_each_map_elem(&pnm_synpend, syn_sweep_one, &now, 0);
}

/*
 * A packet of a TCP connection being set up, which found only its
 * listener (owner o): to the connection's pnm_synpend entry (maps/pnm.h),
 * whose bytes the connection's socket takes once established (pnm_sockops).
 * False when it cannot be counted there (a full map, a third interface):
 * then it is the listener owner's at once.
 */
static __always_inline bool syn_add(const struct pnm_tuple *t, const struct pnm_owner *o,
				    struct pnm_sock *lps, int dir, __u64 bytes, __u32 packets)
{
	struct pnm_syn *e = bpf_map_lookup_elem(&pnm_synpend, t);
	struct pnm_counter *c;
	__u64 now = bpf_ktime_get_ns();
	int i;

	/* Before the stash: the handshake's connection is cloned from the
	 * listener (lps) after this packet on its CPU, or after a later one
	 * that crossed this hook first. */
	if (lps && !(PNM_ONCE(lps->flags) & PNM_SOCK_SYNPEND))
		__sync_fetch_and_or(&lps->flags, PNM_SOCK_SYNPEND);
	if (!e) {
		struct pnm_syn fresh = { .owner = *o, .last = now };

		fresh.slot[0] = pnm_slot + 1;
		fresh.gen[0] = pnm_gen;
		if (bpf_map_update_elem(&pnm_synpend, t, &fresh, BPF_NOEXIST) == -E2BIG)
			syn_sweep();
		e = bpf_map_lookup_elem(&pnm_synpend, t);
		if (!e)
			return false;
	}
	i = column(e->slot, pnm_slot);
	if (i >= PNM_CONN_IFACES)
		return false;
	/* A column of an interface detached since, its slot now this one's:
	 * what it held went with that interface. */
	if (PNM_ONCE(e->gen[i]) != pnm_gen) {
		PNM_ONCE(e->gen[i]) = pnm_gen;
		__sync_lock_test_and_set(&e->c[i][PNM_IN].bytes, 0);
		__sync_lock_test_and_set(&e->c[i][PNM_IN].packets, 0);
		__sync_lock_test_and_set(&e->c[i][PNM_OUT].bytes, 0);
		__sync_lock_test_and_set(&e->c[i][PNM_OUT].packets, 0);
	}
	c = &e->c[i][dir];
	PNM_ONCE(e->last) = now;
	__sync_fetch_and_add(&c->bytes, bytes);
	/* Fetching: fully ordered before the look at moved. */
	pnm_use(__sync_fetch_and_add(&c->packets, packets));
	if (PNM_ONCE(e->moved)) {
		/* The connection was established meanwhile, and its move may
		 * have missed this add: what is left is the listener owner's. */
		struct pnm_folds *f = fold_begin();
		__u64 b = __sync_lock_test_and_set(&c->bytes, 0);
		__u64 p = __sync_lock_test_and_set(&c->packets, 0);

		if (b | p)
			proc_add(pnm_slot, &e->owner, dir, b, p);
		fold_end(f);
	}
	return true;
}

#endif /* PNM_PACKET_BPF_H */
