/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Crafted frames for test_bpf_parse.c: built header by header in network
 * order (Ethernet, VLAN tags, IPv4 with options, IPv6 with a hop-by-hop
 * header, TCP with options, UDP, ICMP echo, SCTP), lengths filled in by
 * done().
 */
#ifndef PNM_TEST_FRAMES_H
#define PNM_TEST_FRAMES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define ETH_HLEN 14
#define TC_ACT_UNSPEC (-1)
#define P_IPV4 0x0800
#define P_IPV6 0x86DD
#define P_ARP 0x0806
#define P_LLDP 0x88CC
#define P_8021Q 0x8100
#define P_8021AD 0x88A8
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_SCTP_ 132

/* A frame, built header by header in network order. */
struct frame {
	uint8_t b[4096];
	uint32_t len;
	uint32_t ip4; /* offset + 1 of the IPv4 header, for its length */
	uint32_t ip6;
};

static inline void put8(struct frame *f, uint8_t v)
{
	f->b[f->len++] = v;
}

static inline void put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static inline void put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static inline void eth(struct frame *f, uint16_t type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };

	memset(f, 0, sizeof(*f));
	memcpy(f->b, macs, sizeof(macs));
	f->len = sizeof(macs);
	put16(f, type);
}

/* A VLAN tag after the type that announced it: its TCI, then the type of
 * what follows. */
static inline void tag(struct frame *f, uint16_t vid, uint16_t type)
{
	put16(f, vid);
	put16(f, type);
}

/* 192.0.2.1 -> 198.51.100.2 (documentation addresses); opt_words of
 * options (a router alert, then NOPs). */
static inline void ipv4(struct frame *f, uint8_t proto, uint32_t opt_words, uint16_t frag)
{
	f->ip4 = f->len + 1;
	put8(f, (uint8_t)(0x40 | (5 + opt_words)));
	put8(f, 0);
	put16(f, 0); /* total length: set by done() */
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, 0xC0000201);
	put32(f, 0xC6336402);
	for (uint32_t i = 0; i < opt_words; i++)
		put32(f, i ? 0x01010101 : 0x94040000);
}

static inline void ipv6(struct frame *f, uint8_t next)
{
	static const uint8_t addrs[32] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1,
					   0x20, 0x01, 0x0d, 0xb8, [31] = 2 };

	f->ip6 = f->len + 1;
	put32(f, 0x60000000);
	put16(f, 0); /* payload length: set by done() */
	put8(f, next);
	put8(f, 64);
	memcpy(f->b + f->len, addrs, sizeof(addrs));
	f->len += sizeof(addrs);
}

/* An IPv6 hop-by-hop options header: 8 bytes, padding only. */
static inline void hopopts(struct frame *f, uint8_t next)
{
	put8(f, next);
	put8(f, 0);
	put16(f, 0x0104);
	put32(f, 0);
}

/* 40000 -> 7; opt_words of options (NOPs). */
static inline void tcp(struct frame *f, uint32_t opt_words)
{
	put16(f, 40000);
	put16(f, 7);
	put32(f, 1);
	put32(f, 0);
	put8(f, (uint8_t)((5 + opt_words) << 4));
	put8(f, 0x18); /* PSH, ACK */
	put16(f, 65535);
	put32(f, 0);
	for (uint32_t i = 0; i < opt_words; i++)
		put32(f, 0x01010101);
}

static inline void udp(struct frame *f)
{
	put16(f, 40000);
	put16(f, 7);
	put16(f, 0); /* length: not read */
	put16(f, 0);
}

static inline void echo(struct frame *f, uint8_t type)
{
	put8(f, type);
	put8(f, 0);
	put16(f, 0);
	put16(f, 0x4242); /* identifier */
	put16(f, 1);
}

/* The common header, then a DATA chunk's header. */
static inline void sctp(struct frame *f)
{
	put16(f, 40000);
	put16(f, 7);
	put32(f, 0xdeadbeef);
	put32(f, 0);
	put16(f, 0x0003);
	put16(f, 16);
	put32(f, 1);
	put32(f, 0);
}

/* Test runs take up to a page less the skb's head and tail room. */
static inline void payload(struct frame *f, uint32_t n)
{
	assert_true(f->len + n <= 3200);
	memset(f->b + f->len, 0xa5, n);
	f->len += n;
}

static inline const struct frame *done(struct frame *f)
{
	if (f->ip4) {
		f->b[f->ip4 + 1] = (uint8_t)((f->len - f->ip4 + 1) >> 8);
		f->b[f->ip4 + 2] = (uint8_t)(f->len - f->ip4 + 1);
	}
	if (f->ip6) {
		f->b[f->ip6 + 3] = (uint8_t)((f->len - f->ip6 - 39) >> 8);
		f->b[f->ip6 + 4] = (uint8_t)(f->len - f->ip6 - 39);
	}
	return f;
}

#endif
