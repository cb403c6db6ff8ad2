// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Ingress counted at XDP (attach --xdp): every frame as it comes off the
 * wire, before GRO merges it, through libxdp's multi-program dispatcher so
 * that other XDP programs keep running after it. Egress stays on TC.
 *
 * The join is the TC ingress one: the receiving socket is looked up from
 * the frame's tuple in the device's network namespace. XDP programs cannot
 * read socket storage, so the owner comes from pnm_skcookie, which the
 * socket hooks keep next to it, by the socket's cookie.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "flows.bpf.h"
#include "net.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PNM_LOAD(ctx, off, to, len) bpf_xdp_load_bytes(ctx, off, to, len)

extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym;

/* 1: owner found; -1: no record for this socket. No storage here: the
 * bytes go to the maps. */
static __always_inline int sock_owner(struct bpf_sock *sk, struct pnm_owner *out,
				      struct sock_ref *ref)
{
	struct sock *s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	__u64 cookie = s->__sk_common.skc_cookie.counter;
	struct pnm_owner *o;

	ref->ps = NULL;
	if (!cookie)
		return -1;
	o = bpf_map_lookup_elem(&pnm_skcookie, &cookie);
	if (!o) {
		/* Released by its process, which drops the cookie's record,
		 * and still closing (FIN_WAIT2, LAST_ACK): its connection's
		 * owner, in pnm_conn since its first frame here. */
		struct pnm_conn *c = bpf_map_lookup_elem(&pnm_conn, &cookie);

		return c && read_owner(&c->owner, out) ? 1 : -1;
	}
	out->start_ns = o->start_ns;
	out->tgid = o->tgid;
	out->pad = 0;
	return out->tgid != 0;
}

static __always_inline __u64 sock_cookie(struct bpf_sock *sk)
{
	struct sock *s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));

	return s->__sk_common.skc_cookie.counter;
}

/* XDP keeps no flow cache: whether a socket could have entries by tuple
 * does not matter here. */
static __always_inline bool sock_reuseport(struct bpf_sock *sk)
{
	return true;
}

#include "packet.bpf.h"

SEC("xdp")
int pnm_xdp_ingress(struct xdp_md *ctx)
{
	__u64 bytes = bpf_xdp_get_buff_len(ctx);
	struct pnm_owner o = {};
	struct sock_ref ref = {};
	struct pkt p = {};
	__u32 off = ETH_HLEN;
	bool owned = false;
	int pr = PNM_PARSED_NONE;
	__u16 proto = 0;

	if (!PNM_LOAD(ctx, ETH_HLEN - 2, &proto, sizeof(proto))) {
		/* One 802.1Q/802.1ad tag, when the device did not strip it. */
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			off += 4;
			if (PNM_LOAD(ctx, off - 2, &proto, sizeof(proto)))
				proto = 0;
		}
		pr = parse_l3(ctx, off, proto, PNM_IN, &p);
		if (pr == PNM_PARSED_L4)
			owned = owner_by_tuple(ctx, ctx->ingress_ifindex, &p, PNM_IN, &o, &ref);
		else if (pr == PNM_PARSED_OTHER)
			owned = rawflow_owner(&p.t, &o);
	}
	bytes = at_layer(bytes, 1);
	if (owned && ref.state == PNM_TCP_LISTEN && syn_add(&p.t, &o, NULL, PNM_IN, bytes, 1))
		return XDP_PASS;
	count(owned ? &o : NULL, uclass(proto, pr, &p), PNM_IN, bytes, 1);
	if (owned) {
		struct pnm_conn *c = conn_get(ref.cookie, &o, ref.state, &p.t);

		if (c)
			conn_add(c, pnm_slot, &o, ref.state, PNM_IN, bytes, 1);
	}
	return XDP_PASS;
}
