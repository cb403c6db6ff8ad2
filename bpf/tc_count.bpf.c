// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Where a packet is counted. TC clsact programs on ingress and egress add
 * every packet's wire bytes to its interface's total and to the process that
 * owns its socket, or to the interface's unattributed bucket. Nothing is sent
 * to user space per packet; the counters are per-CPU.
 *
 * The join:
 *  - egress: the packet's own socket (skb->sk) carries its owner;
 *  - ingress: skb->sk is unusable (on veth it is the SENDER's socket), so the
 *    receiving socket is looked up from the packet's tuple in the device's
 *    network namespace. A request socket resolves to its listener; a TCP
 *    tuple without a full socket (time-wait, closing) finds its owner in
 *    pnm_closed. Egress packets without an owned socket (SYN-ACKs, resets,
 *    time-wait ACKs) take the same lookup with the tuple reversed.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"
#include "net.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct pkt {
	struct pnm_tuple t; /* local/remote from this host's point of view */
	__u32 hdr_len;	    /* link + network + transport header bytes */
};

/* Parse IPv4/IPv6 + TCP/UDP headers starting after l2_len bytes of link
 * header. Returns 0 when p holds a TCP or UDP tuple. */
static __always_inline int parse(struct __sk_buff *skb, __u32 l2_len, int dir, struct pkt *p)
{
	__u32 off = l2_len;
	__u8 proto;
	__u16 ports[2];

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return -1;
		/* Only the first fragment carries the ports. */
		if (ip.frag_off & bpf_htons(IP_OFFSET))
			return -1;
		proto = ip.protocol;
		p->t.family = AF_INET;
		__builtin_memcpy(dir == PNM_IN ? p->t.local : p->t.remote, &ip.daddr, 4);
		__builtin_memcpy(dir == PNM_IN ? p->t.remote : p->t.local, &ip.saddr, 4);
		off += ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
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

		if (bpf_skb_load_bytes(skb, off, &th, sizeof(th)))
			return -1;
		ports[0] = th.source;
		ports[1] = th.dest;
		off += th.doff * 4;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)))
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
 * Wire bytes and packets of what may be a GSO/GRO super-packet: each segment
 * repeats the headers, so len + (segs - 1) * hdr_len. gso_segs can be 0 for
 * some sources; then the segment count follows from gso_size.
 */
static __always_inline __u64 wire_bytes(struct __sk_buff *skb, __u32 hdr_len, __u32 *packets)
{
	__u64 len = skb->len;
	__u32 size = skb->gso_size, segs = skb->gso_segs;

	*packets = 1;
	if (!size)
		return len;
	if (!hdr_len || len <= hdr_len) {
		/* Headers we cannot parse (tunnels, IPv6 extension headers):
		 * the segments still count, their repeated headers do not. */
		if (segs > 1)
			*packets = segs;
		return len;
	}
	if (segs <= 1)
		segs = ((__u32)len - hdr_len + size - 1) / size;
	if (segs > 1) {
		len += (__u64)(segs - 1) * hdr_len;
		*packets = segs;
	}
	return len;
}

/*
 * A socket bound to the wildcard address (a listener, an unconnected UDP
 * socket) matches any destination: an arriving packet is its socket's only
 * if the host delivers it locally instead of forwarding it. With forwarding
 * off on the device the packet is local or dropped: counted as local.
 */
static __always_inline bool delivered_locally(struct __sk_buff *skb, const struct pkt *p)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.family = p->t.family;
	fib.l4_protocol = p->t.proto;
	fib.sport = bpf_htons(p->t.rport);
	fib.dport = bpf_htons(p->t.lport);
	fib.ifindex = skb->ifindex;
	if (p->t.family == AF_INET) {
		__builtin_memcpy(&fib.ipv4_src, p->t.remote, 4);
		__builtin_memcpy(&fib.ipv4_dst, p->t.local, 4);
	} else {
		__builtin_memcpy(fib.ipv6_src, p->t.remote, 16);
		__builtin_memcpy(fib.ipv6_dst, p->t.local, 16);
	}
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	return rc == BPF_FIB_LKUP_RET_NOT_FWDED || rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

static __always_inline bool wildcard_bound(const struct bpf_sock *sk)
{
	if (sk->family == AF_INET)
		return sk->src_ip4 == 0;
	return (sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] | sk->src_ip6[3]) == 0;
}

/* Find the local socket of a packet from its tuple, as if it were arriving. */
static __always_inline bool owner_by_tuple(struct __sk_buff *skb, const struct pkt *p, int dir,
					   struct pnm_owner *out)
{
	struct bpf_sock_tuple st = {};
	struct pnm_owner *o = NULL;
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
		sk = bpf_sk_lookup_tcp(skb, &st, sz, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &st, sz, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		bool found = false;

		if (dir == PNM_OUT || !wildcard_bound(sk) || delivered_locally(skb, p)) {
			o = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
			found = o && read_owner(o, out);
		}
		bpf_sk_release(sk);
		/* A socket with storage decides; without, try the closing map. */
		if (o)
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
static __always_inline __u64 at_layer(__u64 bytes, __u32 packets, const struct pnm_if_cfg *cfg)
{
	if (cfg->layer == PNM_L3)
		return bytes - (__u64)cfg->l2_len * packets;
	if (cfg->layer == PNM_L1) {
		/* Segments of a super-packet are full-sized: only a single
		 * frame can be short enough to need padding. */
		if (packets == 1 && bytes < PNM_ETH_MIN_FRAME)
			bytes = PNM_ETH_MIN_FRAME;
		return bytes + (__u64)PNM_L1_OVERHEAD * packets;
	}
	return bytes;
}

static __always_inline void add(struct pnm_counter *c, __u64 bytes, __u32 packets)
{
	c->bytes += bytes;
	c->packets += packets;
}

static __always_inline int account(struct __sk_buff *skb, int dir)
{
	__u32 ifindex = skb->ifindex;
	struct pnm_if_cfg *cfg;
	struct pnm_if_stats *ifs;
	struct pnm_traffic *tr;
	struct pnm_owner o = {};
	struct pnm_proc_key key;
	struct pkt p = {};
	bool parsed = false, owned = false;
	__u64 bytes, egress_len;
	__u32 packets;

	cfg = bpf_map_lookup_elem(&pnm_ifcfg, &ifindex);
	if (!cfg)
		return TC_ACT_UNSPEC;
	ifs = bpf_map_lookup_elem(&pnm_ifstat, &cfg->slot);
	if (!ifs)
		return TC_ACT_UNSPEC;

	if (dir == PNM_OUT) {
		struct bpf_sock *sk = skb->sk;
		struct pnm_owner *so = NULL;

		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk)
			so = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
		if (so)
			owned = read_owner(so, &o);
	}

	/* Egress: the qdisc layer already expanded GSO into wire_len and
	 * gso_segs. */
	egress_len = dir == PNM_OUT ? skb->wire_len : 0;
	if (!owned || !egress_len)
		parsed = parse(skb, cfg->l2_len, dir, &p) == 0;
	if (egress_len) {
		bytes = egress_len;
		packets = skb->gso_size && skb->gso_segs ? skb->gso_segs : 1;
	} else {
		bytes = wire_bytes(skb, parsed ? p.hdr_len : 0, &packets);
	}
	if (!owned && parsed)
		owned = owner_by_tuple(skb, &p, dir, &o);
	bytes = at_layer(bytes, packets, cfg);

	if (!owned) {
		add(&ifs->unattr[dir], bytes, packets);
		return TC_ACT_UNSPEC;
	}

	key.start_ns = o.start_ns;
	key.tgid = o.tgid;
	key.ifindex = ifindex;
	tr = bpf_map_lookup_elem(&pnm_procstat, &key);
	if (!tr) {
		struct pnm_traffic zero = {};

		/* EEXIST: another CPU created it meanwhile; look again. */
		bpf_map_update_elem(&pnm_procstat, &key, &zero, BPF_NOEXIST);
		tr = bpf_map_lookup_elem(&pnm_procstat, &key);
	}
	if (!tr) {
		/* Map full: the bytes stay visible as unattributed overflow. */
		add(&ifs->unattr[dir], bytes, packets);
		add(&ifs->overflow[dir], bytes, packets);
		return TC_ACT_UNSPEC;
	}
	add(&tr->dir[dir], bytes, packets);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int pnm_tc_ingress(struct __sk_buff *skb)
{
	return account(skb, PNM_IN);
}

SEC("tc")
int pnm_tc_egress(struct __sk_buff *skb)
{
	return account(skb, PNM_OUT);
}
