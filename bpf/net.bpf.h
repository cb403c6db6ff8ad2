/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Network constants vmlinux.h lacks (they are #defines) and tuple helpers. */
#ifndef PNM_NET_BPF_H
#define PNM_NET_BPF_H

#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_HLEN 14
#define TC_ACT_UNSPEC (-1)
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define E2BIG 7
#define IPPROTO_ICMPV6 58
#define ETH_P_ARP 0x0806

/* Store an IPv6 address pair; a v4-mapped pair (a dual-stack socket talking
 * IPv4) is stored as AF_INET so that it matches the packet's IPv4 tuple. */
static __always_inline void tuple_set_v6(struct pnm_tuple *t, const __u32 *l, const __u32 *r)
{
	if (l[0] == 0 && l[1] == 0 && l[2] == bpf_htonl(0xffff)) {
		t->family = AF_INET;
		__builtin_memcpy(t->local, &l[3], 4);
		__builtin_memcpy(t->remote, &r[3], 4);
		return;
	}
	t->family = AF_INET6;
	__builtin_memcpy(t->local, l, 16);
	__builtin_memcpy(t->remote, r, 16);
}

#endif /* PNM_NET_BPF_H */
