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
 *    network namespace. A request socket resolves to its listener; a
 *    time-wait socket keeps its connection's cookie, whose closed entry in
 *    pnm_conn names the owner. Egress packets without an owned socket
 *    (SYN-ACKs, resets, time-wait ACKs) take the same lookup with the
 *    tuple reversed.
 *  - ingress with no local receiver, from a sender in another network
 *    namespace of this host (a container behind its veth): the sender's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "flows.bpf.h"
#include "net.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Headers are read in place when they are in the linear part of the skb
 * (nearly always), else copied by the helper. In place, in 4-byte words:
 * with the packet's alignment unknown, clang would copy byte by byte and
 * reassemble the words (70 instructions for an IPv4 header). Packet loads
 * need no alignment where the kernel has efficient unaligned access, and
 * elsewhere the verifier counts IP headers as 4-aligned (NET_IP_ALIGN).
 * Callers' buffers are 4-aligned. */
static __always_inline int skb_load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (off < 256 && data + off + len <= end) {
		__builtin_memcpy(__builtin_assume_aligned(to, 4),
				 __builtin_assume_aligned(data + off, 4), len);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}
#define PNM_LOAD(ctx, off, to, len) skb_load(ctx, off, to, len)

/* 1: owner read; 0: the socket has a record but no owner could be read;
 * -1: no record. */
static __always_inline int sock_owner(struct bpf_sock *sk, struct pnm_owner *out,
				      struct sock_ref *ref)
{
	struct pnm_sock *ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);

	ref->ps = ps;
	if (!ps)
		return -1;
	ref->epoch = PNM_ONCE(ps->epoch);
	pnm_barrier();
	return read_owner(&ps->owner, out);
}

extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym __weak;
#define pnm_ksym_exists(sym) (!!(sym))

/* The cookie a looked-up socket already has (kernels without
 * bpf_rdonly_cast: none, and no per-connection counters at ingress). */
static __always_inline __u64 sock_cookie(struct bpf_sock *sk)
{
	struct sock *s;

	if (!pnm_ksym_exists(bpf_rdonly_cast))
		return 0;
	s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	return s->__sk_common.skc_cookie.counter;
}

/* In a SO_REUSEPORT group (true when it cannot be told). */
static __always_inline bool sock_reuseport(struct bpf_sock *sk)
{
	struct sock *s;

	if (!pnm_ksym_exists(bpf_rdonly_cast))
		return true;
	s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	/* SO_REUSEPORT cleared after joining leaves it in its group. */
	return BPF_CORE_READ_BITFIELD(&s->__sk_common, skc_reuseport) || s->sk_reuseport_cb;
}

#include "packet.bpf.h"

/* The cookie of a packet's own socket, read in place: every socket pnm-tc
 * counts got one when it was created, accepted or seeded. The helper (a
 * call, and one that makes a cookie) only for one that has none. */
static __always_inline __u64 skb_sock_cookie(struct __sk_buff *skb, struct bpf_sock *sk)
{
	__u64 cookie = sock_cookie(sk);

	return cookie ? cookie : bpf_get_socket_cookie(skb);
}

/* The network namespace of this instance's interface (nsfs inode). */
#define pnm_netns_ino PNM_CONST(PNM_C_NETNS_INO)

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/*
 * The headers each segment of a tunnel's super-packet repeats (VXLAN,
 * Geneve, GRE, IP in IP, received with GRO): from the frame's start to the
 * end of the inner TCP or UDP header, as the kernel marked them; 0 for
 * another packet, or without bpf_cast_to_kern_ctx (Linux < 6.3).
 */
static __always_inline __u32 tunnel_hdr_len(struct __sk_buff *skb)
{
	struct sk_buff *k;
	__u32 net, l4;
	__u8 b[10];

	if (!pnm_ksym_exists(bpf_cast_to_kern_ctx))
		return 0;
	k = bpf_cast_to_kern_ctx(skb);
	if (!BPF_CORE_READ_BITFIELD(k, encapsulation))
		return 0;
	net = (__u32)k->inner_network_header - k->mac_header;
	l4 = (__u32)k->inner_transport_header - k->mac_header;
	if (net >= l4 || l4 > 512 || bpf_skb_load_bytes(skb, net, b, sizeof(b)))
		return 0;
	/* The inner protocol: IPv4's at byte 9, IPv6's next header at 6. */
	if ((b[0] >> 4 == 4 ? b[9] : b[6]) == IPPROTO_UDP)
		return l4 + 8;
	if (bpf_skb_load_bytes(skb, l4 + 12, b, 1))
		return 0;
	return l4 + (b[0] >> 4) * 4; /* TCP's data offset */
}

/*
 * Wire bytes and packets of what may be a GSO/GRO super-packet: each segment
 * repeats the headers, so len + (segs - 1) * hdr_len. gso_segs can be 0 for
 * some sources; then the segment count follows from gso_size.
 */
static __always_inline __u64 wire_bytes(struct __sk_buff *skb, __u32 hdr_len, __u32 *packets)
{
	__u64 len = skb->len;
	__u32 size = skb->gso_size, segs = skb->gso_segs, tun;

	*packets = 1;
	if (!size)
		return len;
	tun = tunnel_hdr_len(skb);
	if (tun)
		hdr_len = tun;
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
 * A packet that arrives from another network namespace on this host (the
 * host side of a container's veth) still carries its sender's socket, and
 * no local socket receives it when it is routed on. It is the sending
 * process's traffic on this interface.
 */
static __always_inline bool owner_from_other_netns(struct __sk_buff *skb, struct pnm_owner *out)
{
	struct bpf_sock *sk = skb->sk;
	struct sock_ref ref;
	struct sock *s;

	if (!sk || !pnm_ksym_exists(bpf_rdonly_cast))
		return false;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return false;
	s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	if (s->__sk_common.skc_net.net->ns.inum == pnm_netns_ino)
		return false;
	return sock_owner(sk, out, &ref) > 0;
}

/* Whether the hooks that end flow-cache entries are all there (the
 * loader's check). */
#define pnm_flows_on ((bool)PNM_CONST(PNM_C_FLOWS_ON))

/* A flow taken for another only when idle this long (ns). */
#define PNM_FLOW_IDLE 100000000ULL

/* Does entry e still count, and for this instance's interface? */
static __always_inline bool flow_live(const struct pnm_flow *e)
{
	return PNM_ONCE(e->live) && e->slot == pnm_slot + 1 && e->gen == pnm_gen &&
	       (!e->ugen || e->ugen == flowgen());
}

/* A packet of a cached flow: counted on its entry (ingress: e is its
 * tuple's; egress: its socket's, by cookie). */
static __always_inline bool flow_hit(struct pnm_flow *e, const struct pkt *p, __u64 cookie,
				     __u64 bytes, __u32 packets)
{
	if (!e || !flow_live(e))
		return false;
	if (p ? !tuple_eq(&e->t, &p->t) : e->cookie != cookie)
		return false;
	e->pending.bytes += bytes;
	e->pending.packets += packets;
	return true;
}

/*
 * An IPv4 TCP or UDP packet of a cached flow, at ingress: the common case,
 * checked first. The tuple's words are taken from the packet as they are
 * and compared with the entry's (ports byte-swapped), without copying the
 * headers or building the tuple: those copies, and the reloads waiting on
 * them, were a third of the program's samples. Anything else (IPv6,
 * options past the linear data, no entry) takes the full path.
 */
static __always_inline bool flow_hit_ipv4(struct __sk_buff *skb, struct pnm_flow **entry,
					  __u32 *index)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u32 off = pnm_l2_len, ihl, ports, fp, idx, hdr_len, packets;
	const __u32 *ip, *l4, *w;
	struct pnm_flow *e;
	__u64 bytes;
	__u8 proto;

	if (!pnm_flows_on || skb->protocol != bpf_htons(ETH_P_IP) || off >= 256)
		return false;
	ip = __builtin_assume_aligned(data + off, 4);
	if ((void *)(ip + 5) > end)
		return false;
	/* Word 1 holds frag_off in its upper half, as the packet has it. */
	if ((ip[1] >> 16) & bpf_htons(IP_OFFSET))
		return false;
	ihl = (ip[0] & 0xf) * 4;
	proto = (__u8)(ip[2] >> 8);
	if (ihl < 20)
		return false;
	l4 = (const void *)ip + ihl;
	if (proto == IPPROTO_TCP) {
		if ((void *)l4 + 20 > end)
			return false;
		hdr_len = off + ihl + ((l4[3] >> 4) & 0xf) * 4; /* doff */
	} else if (proto == IPPROTO_UDP) {
		if ((void *)l4 + 8 > end)
			return false;
		hdr_len = off + ihl + 8;
	} else {
		return false;
	}
	/* The tuple's words: local = destination, remote = source; ports in
	 * host order, local (destination) in the low half. */
	ports = __builtin_bswap32(l4[0]);
	fp = AF_INET | (__u32)proto << 8;
	idx = flow_hash(ip[4], ip[3], ports, fp);
	e = flow_entry(idx);
	/* Looked up: a miss is not looked up again on the full path, which
	 * would find the same entry for the same tuple. */
	*entry = e;
	*index = idx;
	if (!e || !flow_live(e))
		return false;
	w = (const __u32 *)&e->t;
	if (w[0] != ip[4] || w[4] != ip[3] || w[8] != ports || w[9] != fp)
		return false;
	bytes = wire_bytes(skb, hdr_len, &packets);
	e->pending.bytes += at_layer(bytes, packets);
	e->pending.packets += packets;
	return true;
}

/* An unconnected socket's connection has no remote end: t's is cleared. */
static __always_inline void no_remote(struct pnm_tuple *t)
{
	__builtin_memset(t->remote, 0, sizeof(t->remote));
	t->rport = 0;
}

/* An entry's pending bytes to the maps: its owner's pnm_procstat entry and
 * its socket's pnm_conn entry, if its interface is still the one it
 * counted for. */
static __always_inline void flow_evict(struct pnm_flow *e)
{
	struct pnm_counter c = e->pending;
	const struct pnm_tuple *ct = &e->t;
	struct pnm_tuple t;
	__u32 slot = e->slot - 1;
	int dir = e->dir == PNM_OUT ? PNM_OUT : PNM_IN;
	struct pnm_if_cfg *cfg;
	struct pnm_folds *f;
	struct pnm_conn *conn;

	f = fold_begin();
	e->pending.bytes = 0;
	e->pending.packets = 0;
	cfg = bpf_map_lookup_elem(&pnm_ifcfg, &slot);
	if (e->ugen) {
		/* Keyed by one sender: not the socket's remote end. */
		t = e->t;
		no_remote(&t);
		ct = &t;
	}
	if (cfg && cfg->gen == e->gen) {
		proc_add(slot, &e->owner, dir, c.bytes, c.packets);
		conn = conn_get(e->cookie, &e->owner, e->state, ct);
		if (conn)
			conn_add(conn, slot, &e->owner, e->state, dir, c.bytes, c.packets);
	}
	fold_end(f);
}

/* May entry e serve the socket of ref, just counted through its storage?
 * Not while it serves another flow that is busy. */
static __always_inline bool flow_can_take(struct pnm_flow *e, const struct sock_ref *ref, int dir)
{
	struct pnm_sock *ps = ref->ps;
	__u64 now;

	if (!pnm_flows_on || !e || !ps || !ref->cookie)
		return false;
	/* Accepted, not used yet: its first user takes its counters, and
	 * would not take an entry's (PNM_SOCK_ACCEPTED). */
	if (PNM_ONCE(ps->flags) & PNM_SOCK_ACCEPTED)
		return false;
	/* Ingress by tuple: a connected socket's, or an unconnected one's
	 * that has received a few packets already (bpf/flows.bpf.h). */
	if (dir == PNM_IN && !ref->connected &&
	    (!ref->unconn_ok || !ref->ugen || ref->epoch >= PNM_UNCONN_MAX_CHANGES ||
	     PNM_ONCE(ps->in[0].packets) + PNM_ONCE(ps->in[1].packets) < PNM_UNCONN_MIN))
		return false;
	if (!e->live || (e->ugen && e->ugen != flowgen()))
		return true;
	/* Busy if it counted since the last look, or lately. */
	now = bpf_ktime_get_ns();
	if (e->pending.packets != e->seen) {
		e->seen = e->pending.packets;
		e->last = now;
		return false;
	}
	return now - e->last >= PNM_FLOW_IDLE;
}

/* Entry e (index idx) serves the socket of ref (owner o, tuple p->t) from
 * its next packet on this CPU. */
static __always_inline void flow_take(struct pnm_flow *e, __u32 idx, const struct pkt *p,
				      const struct pnm_owner *o, const struct sock_ref *ref,
				      int dir)
{
	struct pnm_sock *ps = ref->ps;
	__u64 cpu_bit = 1ULL << (bpf_get_smp_processor_id() & 63);
	bool unconn = !ref->connected && dir == PNM_IN;

	if (e->slot && (e->pending.bytes | e->pending.packets))
		flow_evict(e);
	__sync_lock_test_and_set(&e->live, 0);
	e->t = p->t;
	if (!ref->connected && !unconn)
		no_remote(&e->t);
	e->ugen = 0;
	if (unconn) {
		/* Flagged before the epoch is read again (see flow_forget);
		 * the generation was read before the lookup. */
		if (!(PNM_ONCE(ps->flags) & PNM_SOCK_UNCONN_FLOWS))
			pnm_use(__sync_fetch_and_or(&ps->flags, PNM_SOCK_UNCONN_FLOWS));
		e->ugen = ref->ugen;
	}
	e->owner = *o;
	e->cookie = ref->cookie;
	e->state = ref->state;
	e->dir = (__u8)dir;
	e->slot = pnm_slot + 1;
	e->gen = pnm_gen;
	e->last = bpf_ktime_get_ns();
	e->seen = 0;
	PNM_ONCE(ps->cookie) = ref->cookie;
	if (dir == PNM_IN && !unconn)
		PNM_ONCE(ps->flow) = idx + 1;
	if (!(PNM_ONCE(ps->cpus) & cpu_bit))
		__sync_fetch_and_or(&ps->cpus, cpu_bit);
	__sync_lock_test_and_set(&e->live, 1);
	/* The socket changed meanwhile (owner, close, connect): its side may
	 * have missed this entry. */
	if (PNM_ONCE(ps->epoch) != ref->epoch)
		__sync_lock_test_and_set(&e->live, 0);
}

static __always_inline int account(struct __sk_buff *skb, int dir)
{
	struct pnm_flow *e = NULL;
	struct pnm_owner o = {};
	struct sock_ref ref = {};
	struct pkt p = {};
	__u32 idx = 0;
	bool parsed = false, owned = false, own_sk, other_sk = false, raw_sk = false;
	__u64 bytes, egress_len = 0, own_cookie = 0;
	__u32 packets = 1;
	int pr = PNM_PARSED_NONE;

	if (dir == PNM_IN && flow_hit_ipv4(skb, &e, &idx))
		return TC_ACT_UNSPEC;
	if (dir == PNM_OUT) {
		struct bpf_sock *sk = skb->sk;

		/* The qdisc layer already expanded GSO into wire_len and
		 * gso_segs. */
		egress_len = skb->wire_len;
		if (skb->gso_size && skb->gso_segs)
			packets = skb->gso_segs;
		if (sk && egress_len && pnm_flows_on) {
			own_cookie = skb_sock_cookie(skb, sk);
			idx = PNM_FLOWS + flow_index_cookie(own_cookie);
			e = flow_entry(idx);
			if (flow_hit(e, NULL, own_cookie, at_layer(egress_len, packets), packets))
				return TC_ACT_UNSPEC;
		}
		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk) {
			__u32 family = sk->family, proto = sk->protocol;

			owned = sock_owner(sk, &o, &ref) > 0;
			ref.state = proto == IPPROTO_TCP ? (__u8)sk->state : 0;
			ref.connected = sk->dst_port != 0;
			/* Raw, ping, SCTP and packet sockets count in the maps
			 * (the socket readers know TCP and UDP sockets only);
			 * an IP one's flow names the owner of its replies. */
			if (owned && ((family != AF_INET && family != AF_INET6) ||
				      (proto != IPPROTO_TCP && proto != IPPROTO_UDP))) {
				other_sk = true;
				raw_sk = family == AF_INET || family == AF_INET6;
				ref.ps = NULL;
			}
		}
	}

	if (!owned || !egress_len || raw_sk) {
		pr = parse_l3(skb, pnm_l2_len, skb->protocol, dir, &p);
		parsed = pr == PNM_PARSED_L4;
	}
	/* wire_len knows TCP's and UDP's headers only (adding 8 B or none per
	 * segment for others, by kernel): an SCTP GSO packet's segments each
	 * repeat the IP and the SCTP common header. */
	if (egress_len && pr == PNM_PARSED_OTHER && p.t.proto == IPPROTO_SCTP && skb->gso_segs > 1)
		egress_len = skb->len + (__u64)(skb->gso_segs - 1) * p.hdr_len;
	if (egress_len)
		bytes = egress_len;
	else
		bytes = wire_bytes(skb, parsed ? p.hdr_len : 0, &packets);
	own_sk = owned && !other_sk;
	if (raw_sk && pr == PNM_PARSED_OTHER)
		rawflow_note(&p.t, &o);
	/* The packet's own socket (not a request or time-wait one): its
	 * cookie. */
	if (own_sk)
		ref.cookie = own_cookie ? own_cookie : bpf_get_socket_cookie(skb);
	if (dir == PNM_IN && parsed && !e) {
		idx = flow_index(&p.t);
		e = flow_entry(idx);
		if (flow_hit(e, &p, 0, at_layer(bytes, packets), packets))
			return TC_ACT_UNSPEC;
	}
	if (!owned && parsed) {
		if (dir == PNM_IN)
			ref.ugen = flowgen();
		owned = owner_by_tuple(skb, skb->ifindex, &p, dir, &o, &ref);
	}
	if (!owned && pr == PNM_PARSED_OTHER && dir == PNM_IN)
		owned = rawflow_owner(&p.t, &o);
	if (!owned && dir == PNM_IN) {
		ref.ps = NULL; /* the sender's socket: its process's counters only */
		owned = owner_from_other_netns(skb, &o);
	}
	bytes = at_layer(bytes, packets);
	/* The common case: a live socket's own counters; its next packets
	 * here go to a flow-cache entry (egress: only the packet's own
	 * socket's, whose cookie keys it). */
	if (owned && sock_add(ref.ps, pnm_slot, ref.state, dir, bytes, packets)) {
		sock_add_late(ref.ps, &o);
		if ((dir == PNM_IN || own_sk) && flow_can_take(e, &ref, dir)) {
			if (!parsed)
				parsed = parse_l3(skb, pnm_l2_len, skb->protocol, dir, &p) ==
					 PNM_PARSED_L4;
			if (parsed)
				flow_take(e, idx, &p, &o, &ref, dir);
		}
		return TC_ACT_UNSPEC;
	}
	if (owned && ref.state == PNM_TCP_LISTEN && syn_add(&p.t, &o, ref.ps, dir, bytes, packets))
		return TC_ACT_UNSPEC;
	count(owned ? &o : NULL, uclass(skb->protocol, pr, &p), dir, bytes, packets);
	if (owned && ref.cookie) {
		struct pnm_conn *c = conn_get(ref.cookie, &o, ref.state, NULL);

		/* A new connection entry needs the tuple: parse once for it. */
		if (!c && !parsed)
			parsed = parse_l3(skb, pnm_l2_len, skb->protocol, dir, &p) == PNM_PARSED_L4;
		if (!c && parsed)
			c = conn_get(ref.cookie, &o, ref.state, &p.t);
		if (c)
			conn_add(c, pnm_slot, &o, ref.state, dir, bytes, packets);
	}
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
