// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the packet parsers in the kernel: the TC and XDP counting
 * programs run by BPF_PROG_TEST_RUN on crafted frames, with no namespace
 * and no interface. Each program instance gets its load-time constants as
 * attach gives them (pnm_set_consts) and all share one set of maps of
 * their own, never the pinned ones: no socket has an owner there, so every
 * frame is unattributed, and what it counted is read back from the
 * instance's slot of pnm_ifstat: bytes at the instance's layer, packets
 * (GSO segments) and the protocol bucket. Header lengths show through GSO:
 * len + (segments - 1) * headers. Needs root; skips where the kernel
 * refuses the programs or BPF_PROG_TEST_RUN.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "frames.h"
#include "patch.h"
#include "pnm.h"
#include "tc_count.skel.h"
#include "xdp_count.skel.h"

/* Program instances, one slot each, as attach gives each interface. */
enum inst { TC_L2, TC_L3, TC_L1, XDP_L2, NINST };
static const uint32_t inst_layer[NINST] = { PNM_L2, PNM_L3, PNM_L1, PNM_L2 };

static struct {
	struct tc_count_bpf *tc[XDP_L2];
	struct xdp_count_bpf *xdp;
	int ifstat, procstat, synpend;
	int ncpus;
	unsigned int runs; /* frames run and checked */
	char why[256];	   /* why every test skips; "" when they run */
	char why_xdp[256]; /* why the XDP tests skip */
} B;

#define NEED(why)                                           \
	do {                                                \
		if ((why)[0]) {                             \
			print_message("SKIP: %s\n", (why)); \
			skip();                             \
		}                                           \
	} while (0)

static int libbpf_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static uint64_t netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : st.st_ino;
}

/* An instance's constants, and the maps: private (no pin path), pnm_flows
 * sized per CPU as the loader sizes it, those of maps_of once it is
 * loaded (attach gets one set by pinning). */
static int prepare(struct bpf_object *obj, enum inst i, struct bpf_object *maps_of)
{
	struct bpf_map *map;
	int rc;

	rc = pnm_set_consts(obj, (uint64_t[PNM_C_COUNT]){
					 [PNM_C_SLOT] = i,
					 [PNM_C_L2_LEN] = ETH_HLEN,
					 [PNM_C_LAYER] = inst_layer[i],
					 [PNM_C_GEN] = 1 + i,
					 [PNM_C_FLOWS_ON] = 1,
					 [PNM_C_NETNS_INO] = netns_ino(),
				 });
	bpf_object__for_each_map(map, obj)
	{
		const char *name = bpf_map__name(map);
		struct bpf_map *first;

		if (rc || strncmp(name, "pnm_", 4))
			continue;
		rc = bpf_map__set_pin_path(map, NULL);
		if (!rc && !strcmp(name, PNM_MAP_FLOWS))
			rc = bpf_map__set_max_entries(map, (uint32_t)B.ncpus * 2 * PNM_FLOWS);
		if (!rc && maps_of) {
			first = bpf_object__find_map_by_name(maps_of, name);
			rc = first ? bpf_map__reuse_fd(map, bpf_map__fd(first)) : -ENOENT;
		}
	}
	return rc;
}

static int run_prog(int fd, bool xdp, const void *frame, uint32_t len, const struct __sk_buff *skb,
		    uint32_t *retval)
{
	struct __sk_buff none = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len, .repeat = 1);
	int rc;

	if (!xdp) {
		o.ctx_in = skb ? skb : &none;
		o.ctx_size_in = sizeof(*skb);
	}
	rc = bpf_prog_test_run_opts(fd, &o);
	*retval = o.retval;
	return rc ? -errno : 0;
}

static const uint8_t arp_frame[42] = { [12] = 0x08, [13] = 0x06 };

/* Does the kernel run this program by BPF_PROG_TEST_RUN? "" if so. */
static void probe(int fd, bool xdp, char *why, size_t len)
{
	uint32_t ret;
	int rc = run_prog(fd, xdp, arp_frame, sizeof(arp_frame), NULL, &ret);

	if (rc)
		snprintf(why, len, "the kernel refuses BPF_PROG_TEST_RUN for %s programs: %s",
			 xdp ? "XDP" : "TC", strerror(-rc));
}

static void load(void)
{
	int rc;

	libbpf_set_print(libbpf_warnings);
	B.ncpus = libbpf_num_possible_cpus();
	if (geteuid()) {
		snprintf(B.why, sizeof(B.why), "needs root (BPF programs and test runs)");
		return;
	}
	for (int i = TC_L2; i < XDP_L2; i++) {
		B.tc[i] = tc_count_bpf__open();
		rc = B.tc[i] ? prepare(B.tc[i]->obj, i, i ? B.tc[0]->obj : NULL) : -errno;
		if (!rc)
			rc = tc_count_bpf__load(B.tc[i]);
		if (rc) {
			snprintf(B.why, sizeof(B.why), "the kernel refuses the TC programs: %s",
				 strerror(-rc));
			return;
		}
	}
	B.ifstat = bpf_map__fd(B.tc[0]->maps.pnm_ifstat);
	B.procstat = bpf_map__fd(B.tc[0]->maps.pnm_procstat);
	B.synpend = bpf_map__fd(B.tc[0]->maps.pnm_synpend);
	probe(bpf_program__fd(B.tc[0]->progs.pnm_tc_ingress), false, B.why, sizeof(B.why));

	B.xdp = xdp_count_bpf__open();
	rc = B.xdp ? prepare(B.xdp->obj, XDP_L2, B.tc[0]->obj) : -errno;

	if (!rc)
		rc = xdp_count_bpf__load(B.xdp);
	if (rc)
		snprintf(B.why_xdp, sizeof(B.why_xdp), "the kernel refuses the XDP program: %s",
			 strerror(-rc));
	else
		probe(bpf_program__fd(B.xdp->progs.pnm_xdp_ingress), true, B.why_xdp,
		      sizeof(B.why_xdp));
}

static int setup(void **state)
{
	(void)state;
	load();
	/* The XDP instance uses the TC instances' maps. */
	if (B.why[0] && !B.why_xdp[0])
		snprintf(B.why_xdp, sizeof(B.why_xdp), "%s", B.why);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (B.runs)
		print_message("%u frames run and checked\n", B.runs);
	xdp_count_bpf__destroy(B.xdp);
	for (int i = XDP_L2 - 1; i >= 0; i--)
		tc_count_bpf__destroy(B.tc[i]);
	return 0;
}

static void zero_slot(uint32_t slot)
{
	struct pnm_if_stats *v = calloc((size_t)B.ncpus, sizeof(*v));

	assert_non_null(v);
	assert_int_equal(bpf_map_update_elem(B.ifstat, &slot, v, BPF_ANY), 0);
	free(v);
}

/* The slot's counters, summed over the CPUs. */
static void read_slot(uint32_t slot, struct pnm_if_stats *sum)
{
	struct pnm_if_stats *v = calloc((size_t)B.ncpus, sizeof(*v));
	uint64_t *s = (uint64_t *)sum;

	assert_non_null(v);
	assert_int_equal(bpf_map_lookup_elem(B.ifstat, &slot, v), 0);
	memset(sum, 0, sizeof(*sum));
	for (int c = 0; c < B.ncpus; c++)
		for (size_t k = 0; k < sizeof(*sum) / sizeof(uint64_t); k++)
			s[k] += ((uint64_t *)&v[c])[k];
	free(v);
}

static const char *const uclass_name[PNM_U_COUNT] = { "tcp",	  "udp", "icmp", "icmpv6",
						      "other-ip", "arp", "other" };

static void show(const char *what, const struct pnm_if_stats *s)
{
	for (int d = 0; d < PNM_NDIR; d++) {
		print_message("  %s %s: unattr %llu B %llu p, overflow %llu B %llu p\n", what,
			      d ? "out" : "in", (unsigned long long)s->unattr[d].bytes,
			      (unsigned long long)s->unattr[d].packets,
			      (unsigned long long)s->overflow[d].bytes,
			      (unsigned long long)s->overflow[d].packets);
		for (int u = 0; u < PNM_U_COUNT; u++)
			if (s->unattr_by[u][d].bytes || s->unattr_by[u][d].packets)
				print_message("    %s: %llu B %llu p\n", uclass_name[u],
					      (unsigned long long)s->unattr_by[u][d].bytes,
					      (unsigned long long)s->unattr_by[u][d].packets);
	}
}

/* What one run is expected to count: all unattributed, in one bucket. */
struct want {
	int dir;
	uint32_t uc;
	uint64_t bytes, packets;
};

/* Run instance i's program for dir on the frame's first len bytes (skb:
 * the TC context, NULL for none) and check its slot against w. */
static int run_some(enum inst i, const struct frame *f, uint32_t len, const struct __sk_buff *skb,
		    struct want w, bool may_refuse)
{
	bool xdp = i == XDP_L2;
	struct pnm_if_stats got, exp = { 0 };
	uint32_t ret, key;
	int fd, rc;

	if (xdp)
		fd = bpf_program__fd(B.xdp->progs.pnm_xdp_ingress);
	else if (w.dir == PNM_IN)
		fd = bpf_program__fd(B.tc[i]->progs.pnm_tc_ingress);
	else
		fd = bpf_program__fd(B.tc[i]->progs.pnm_tc_egress);
	zero_slot(i);
	rc = run_prog(fd, xdp, f->b, len, skb, &ret);
	if (rc == -EINVAL && may_refuse)
		return rc;
	if (rc)
		print_message("frame of %u bytes, slot %d: test run: %s\n", len, i, strerror(-rc));
	assert_int_equal(rc, 0);
	assert_int_equal(ret, xdp ? XDP_PASS : (uint32_t)TC_ACT_UNSPEC);
	read_slot(i, &got);
	exp.unattr[w.dir].bytes = w.bytes;
	exp.unattr[w.dir].packets = w.packets;
	exp.unattr_by[w.uc][w.dir] = exp.unattr[w.dir];
	if (memcmp(&got, &exp, sizeof(got))) {
		print_message("frame of %u bytes, slot %d:\n", len, i);
		show("got", &got);
		show("want", &exp);
		fail();
	}
	/* Nothing was anyone's: no process counters, no handshake entry. */
	assert_int_equal(bpf_map_get_next_key(B.procstat, NULL, &key), -ENOENT);
	assert_int_equal(bpf_map_get_next_key(B.synpend, NULL, &key), -ENOENT);
	B.runs++;
	return 0;
}

static void run_len(enum inst i, const struct frame *f, uint32_t len, const struct __sk_buff *skb,
		    struct want w)
{
	run_some(i, f, len, skb, w, false);
}

static void run(enum inst i, const struct frame *f, const struct __sk_buff *skb, struct want w)
{
	run_len(i, f, f->len, skb, w);
}

/*
 * Every truncation of f from the Ethernet header on: below full bytes the
 * frame is in bucket short_uc, from full on in full_uc; each counted
 * whole, once. The kernel refuses (EINVAL) TC test runs of IP frames cut
 * inside their IP header (ip_end): said, and left to the XDP tests, which
 * run the same parser on them.
 */
static void truncations(enum inst i, const struct frame *f, uint32_t ip_end, uint32_t full,
			uint32_t short_uc, uint32_t full_uc)
{
	uint32_t refused = 0;

	for (uint32_t len = ETH_HLEN; len <= f->len; len++) {
		struct want w = { PNM_IN, len < full ? short_uc : full_uc, len, 1 };

		if (run_some(i, f, len, NULL, w, i != XDP_L2 && len < ip_end))
			refused++;
	}
	if (refused)
		print_message("  the kernel refused %u TC test runs of frames cut in the IP "
			      "header (%u-%u bytes)\n",
			      refused, ETH_HLEN, ip_end - 1);
}

static void tc_ipv4_tcp(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0), payload(&f, 100);
	done(&f);
	assert_int_equal(f.len, 14 + 20 + 20 + 100);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_TCP, 154, 1 });
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_TCP, 154, 1 });
}

static void tc_ipv4_udp(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_UDP_, 0, 0), udp(&f), payload(&f, 50);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_UDP, 14 + 20 + 8 + 50, 1 });
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_UDP, 14 + 20 + 8 + 50, 1 });
}

static void tc_ipv6_tcp(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_TCP_), tcp(&f, 0), payload(&f, 10);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_TCP, 14 + 40 + 20 + 10, 1 });
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_TCP, 14 + 40 + 20 + 10, 1 });
}

static void tc_ipv6_udp(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_UDP_), udp(&f), payload(&f, 30);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_UDP, 14 + 40 + 8 + 30, 1 });
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_UDP, 14 + 40 + 8 + 30, 1 });
}

/* Ingress GRO super-packets: each segment repeats the headers parse_l3
 * measured, IP and TCP options included. */
static void tc_gso_header_lengths(void **state)
{
	struct __sk_buff skb = { .gso_segs = 3, .gso_size = 1000 };
	struct frame f;
	uint32_t hdr;

	(void)state;
	NEED(B.why);
	/* IPv4 with one option word (24 B), TCP with three (32 B). */
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 1, 0), tcp(&f, 3), payload(&f, 3000);
	done(&f);
	hdr = 14 + 24 + 32;
	run(TC_L2, &f, &skb, (struct want){ PNM_IN, PNM_U_TCP, f.len + 2 * hdr, 3 });
	/* gso_segs 0 (some sources): the count follows from gso_size. */
	skb.gso_segs = 0;
	run(TC_L2, &f, &skb, (struct want){ PNM_IN, PNM_U_TCP, f.len + 2 * hdr, 3 });

	skb = (struct __sk_buff){ .gso_segs = 4, .gso_size = 500 };
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_UDP_, 0, 0), udp(&f), payload(&f, 2000);
	done(&f);
	run(TC_L2, &f, &skb, (struct want){ PNM_IN, PNM_U_UDP, f.len + 3 * (14 + 20 + 8), 4 });

	skb = (struct __sk_buff){ .gso_segs = 2, .gso_size = 1400 };
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_TCP_), tcp(&f, 0), payload(&f, 2800);
	done(&f);
	run(TC_L2, &f, &skb, (struct want){ PNM_IN, PNM_U_TCP, f.len + (14 + 40 + 20), 2 });
}

/* IPv6 extension headers are not walked: another IP protocol, and a
 * super-packet's segments count without their repeated headers. */
static void tc_ipv6_extension_header(void **state)
{
	struct __sk_buff skb = { .gso_segs = 2, .gso_size = 1000 };
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_HOPOPTS_), hopopts(&f, IPPROTO_TCP_), tcp(&f, 0);
	payload(&f, 2000);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_OTHER_IP, f.len, 1 });
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_OTHER_IP, f.len, 1 });
	run(TC_L2, &f, &skb, (struct want){ PNM_IN, PNM_U_OTHER_IP, f.len, 2 });
}

/* Only the first fragment carries the ports. */
static void tc_ipv4_fragments(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_UDP_, 0, 0x2000 /* MF */), udp(&f), payload(&f, 64);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_UDP, f.len, 1 });
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_UDP_, 0, 9 /* offset 72 B */), payload(&f, 64);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_OTHER_IP, f.len, 1 });
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_OTHER_IP, f.len, 1 });
}

/* An IPv4 header length under 20 B: no header to find ports behind, at
 * TC and XDP alike (the TCP ports would be read from inside it). */
static void ipv4_short_ihl(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0), payload(&f, 64);
	done(&f);
	f.b[ETH_HLEN] = 0x44; /* version 4, ihl 4 words */
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_OTHER_IP, f.len, 1 });
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_OTHER_IP, f.len, 1 });
	if (!B.why_xdp[0])
		run(XDP_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_OTHER_IP, f.len, 1 });
}

static void tc_icmp_sctp(void **state)
{
	struct __sk_buff skb = { .gso_segs = 3, .gso_size = 1000 };
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_ICMP_, 0, 0), echo(&f, 8), payload(&f, 56);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_ICMP, 14 + 20 + 8 + 56, 1 });
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_ICMPV6_), echo(&f, 129), payload(&f, 56);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_ICMPV6, 14 + 40 + 8 + 56, 1 });
	/* SCTP, another IP protocol; an egress GSO packet's segments each
	 * repeat the IP and SCTP common headers (wire_len knows only TCP's
	 * and UDP's). */
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_SCTP_, 0, 0), sctp(&f), payload(&f, 3000);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_OTHER_IP, f.len, 1 });
	skb.wire_len = f.len + 2 * (14 + 20 + 8); /* as for UDP */
	run(TC_L2, &f, &skb,
	    (struct want){ PNM_OUT, PNM_U_OTHER_IP, f.len + 2 * (14 + 20 + 12), 3 });
}

/* Egress takes the qdisc layer's wire_len and gso_segs as they are. */
static void tc_egress_wire_len(void **state)
{
	struct __sk_buff skb = { .gso_segs = 3, .gso_size = 1000 };
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 3), payload(&f, 3000);
	done(&f);
	skb.wire_len = f.len + 2 * (14 + 20 + 32);
	run(TC_L2, &f, &skb, (struct want){ PNM_OUT, PNM_U_TCP, skb.wire_len, 3 });
}

static void tc_not_ip(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	memcpy(&f, arp_frame, sizeof(arp_frame));
	f.len = sizeof(arp_frame);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_ARP, 42, 1 });
	eth(&f, P_LLDP), payload(&f, 46);
	run(TC_L2, &f, NULL, (struct want){ PNM_OUT, PNM_U_OTHER, 60, 1 });
}

/* TC reads skb->protocol at the device's fixed header length: the kernel
 * takes a VLAN tag out of the frame before TC ingress. One left in the
 * frame (here, or a QinQ frame's inner tag) is another link protocol. */
static void tc_vlan_in_frame(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_8021Q), tag(&f, 100, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0);
	payload(&f, 20);
	done(&f);
	run(TC_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_OTHER, f.len, 1 });
}

/* Each layer from the same frames: L3 without the 14-byte header per
 * packet, L1 with 24 bytes per frame and a short frame padded to 60. */
static void tc_layers(void **state)
{
	struct __sk_buff skb = { .gso_segs = 3, .gso_size = 1000 };
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0), payload(&f, 100);
	done(&f);
	run(TC_L3, &f, NULL, (struct want){ PNM_IN, PNM_U_TCP, 154 - 14, 1 });
	run(TC_L3, &f, NULL, (struct want){ PNM_OUT, PNM_U_TCP, 154 - 14, 1 });
	run(TC_L1, &f, NULL, (struct want){ PNM_IN, PNM_U_TCP, 154 + 24, 1 });
	run(TC_L1, &f, NULL, (struct want){ PNM_OUT, PNM_U_TCP, 154 + 24, 1 });

	eth(&f, P_IPV4), ipv4(&f, IPPROTO_UDP_, 0, 0), udp(&f), payload(&f, 4);
	done(&f);
	assert_int_equal(f.len, 46);
	run(TC_L1, &f, NULL, (struct want){ PNM_IN, PNM_U_UDP, 60 + 24, 1 });
	run(TC_L3, &f, NULL, (struct want){ PNM_IN, PNM_U_UDP, 46 - 14, 1 });

	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0), payload(&f, 3000);
	done(&f);
	run(TC_L3, &f, &skb, (struct want){ PNM_IN, PNM_U_TCP, f.len + 2 * 54 - 3 * 14, 3 });
	run(TC_L1, &f, &skb, (struct want){ PNM_IN, PNM_U_TCP, f.len + 2 * 54 + 3 * 24, 3 });
}

/* Truncated frames: a header cut short leaves the frame unparsed (another
 * IP packet), counted whole; an ICMP header cut short still says ICMP. */
static void tc_truncated(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0), payload(&f, 4);
	truncations(TC_L2, done(&f), 14 + 20, 14 + 20 + 20, PNM_U_OTHER_IP, PNM_U_TCP);
	/* TCP's options are not read: only its first 20 bytes must be there. */
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 2, 0), tcp(&f, 3), payload(&f, 4);
	truncations(TC_L2, done(&f), 14 + 20, 14 + 28 + 20, PNM_U_OTHER_IP, PNM_U_TCP);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_UDP_, 0, 0), udp(&f), payload(&f, 4);
	truncations(TC_L2, done(&f), 14 + 20, 14 + 20 + 8, PNM_U_OTHER_IP, PNM_U_UDP);
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_TCP_), tcp(&f, 0), payload(&f, 4);
	truncations(TC_L2, done(&f), 14 + 40, 14 + 40 + 20, PNM_U_OTHER_IP, PNM_U_TCP);
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_UDP_), udp(&f), payload(&f, 4);
	truncations(TC_L2, done(&f), 14 + 40, 14 + 40 + 8, PNM_U_OTHER_IP, PNM_U_UDP);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_ICMP_, 0, 0), echo(&f, 8), payload(&f, 4);
	truncations(TC_L2, done(&f), 14 + 20, 14 + 20, PNM_U_OTHER_IP, PNM_U_ICMP);
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_ICMPV6_), echo(&f, 128), payload(&f, 4);
	truncations(TC_L2, done(&f), 14 + 40, 14 + 40, PNM_U_OTHER_IP, PNM_U_ICMPV6);
}

static void xdp_plain(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why_xdp);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 1, 0), tcp(&f, 0), payload(&f, 100);
	run(XDP_L2, done(&f), NULL, (struct want){ PNM_IN, PNM_U_TCP, 14 + 24 + 20 + 100, 1 });
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_UDP_), udp(&f), payload(&f, 100);
	run(XDP_L2, done(&f), NULL, (struct want){ PNM_IN, PNM_U_UDP, 14 + 40 + 8 + 100, 1 });
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_HOPOPTS_), hopopts(&f, IPPROTO_UDP_), udp(&f);
	run(XDP_L2, done(&f), NULL, (struct want){ PNM_IN, PNM_U_OTHER_IP, 14 + 40 + 8 + 8, 1 });
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_ICMP_, 0, 0), echo(&f, 0);
	run(XDP_L2, done(&f), NULL, (struct want){ PNM_IN, PNM_U_ICMP, 14 + 20 + 8, 1 });
	memcpy(&f, arp_frame, sizeof(arp_frame));
	f.len = sizeof(arp_frame);
	run(XDP_L2, &f, NULL, (struct want){ PNM_IN, PNM_U_ARP, 42, 1 });
}

/* XDP sees the frame as it came: one 802.1Q or 802.1ad tag is stepped
 * over; a second one (QinQ) is not, and the frame is another link
 * protocol's. */
static void xdp_vlan(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why_xdp);
	eth(&f, P_8021Q), tag(&f, 100, P_IPV4), ipv4(&f, IPPROTO_UDP_, 0, 0), udp(&f);
	payload(&f, 50);
	run(XDP_L2, done(&f), NULL, (struct want){ PNM_IN, PNM_U_UDP, 18 + 20 + 8 + 50, 1 });
	eth(&f, P_8021AD), tag(&f, 200, P_IPV6), ipv6(&f, IPPROTO_TCP_), tcp(&f, 0);
	run(XDP_L2, done(&f), NULL, (struct want){ PNM_IN, PNM_U_TCP, 18 + 40 + 20, 1 });
	eth(&f, P_8021AD), tag(&f, 200, P_8021Q), tag(&f, 100, P_IPV4);
	ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0);
	run(XDP_L2, done(&f), NULL, (struct want){ PNM_IN, PNM_U_OTHER, 22 + 20 + 20, 1 });
}

/* A tag cut short leaves no protocol (another link protocol's frame);
 * then as at TC. */
static void xdp_truncated(void **state)
{
	struct frame f;

	(void)state;
	NEED(B.why_xdp);
	eth(&f, P_8021Q), tag(&f, 100, P_IPV4), ipv4(&f, IPPROTO_TCP_, 0, 0), tcp(&f, 0);
	payload(&f, 4);
	done(&f);
	for (uint32_t len = ETH_HLEN; len <= f.len; len++) {
		uint32_t uc = len < 18		   ? PNM_U_OTHER
			      : len < 18 + 20 + 20 ? PNM_U_OTHER_IP
						   : PNM_U_TCP;

		run_len(XDP_L2, &f, len, NULL, (struct want){ PNM_IN, uc, len, 1 });
	}
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_UDP_), udp(&f), payload(&f, 4);
	truncations(XDP_L2, done(&f), 0, 14 + 40 + 8, PNM_U_OTHER_IP, PNM_U_UDP);
	eth(&f, P_IPV4), ipv4(&f, IPPROTO_TCP_, 2, 0), tcp(&f, 3), payload(&f, 4);
	truncations(XDP_L2, done(&f), 0, 14 + 28 + 20, PNM_U_OTHER_IP, PNM_U_TCP);
	eth(&f, P_IPV6), ipv6(&f, IPPROTO_ICMPV6_), echo(&f, 128);
	truncations(XDP_L2, done(&f), 0, 14 + 40, PNM_U_OTHER_IP, PNM_U_ICMPV6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tc_ipv4_tcp),
		cmocka_unit_test(tc_ipv4_udp),
		cmocka_unit_test(tc_ipv6_tcp),
		cmocka_unit_test(tc_ipv6_udp),
		cmocka_unit_test(tc_gso_header_lengths),
		cmocka_unit_test(tc_ipv6_extension_header),
		cmocka_unit_test(tc_ipv4_fragments),
		cmocka_unit_test(ipv4_short_ihl),
		cmocka_unit_test(tc_icmp_sctp),
		cmocka_unit_test(tc_egress_wire_len),
		cmocka_unit_test(tc_not_ip),
		cmocka_unit_test(tc_vlan_in_frame),
		cmocka_unit_test(tc_layers),
		cmocka_unit_test(tc_truncated),
		cmocka_unit_test(xdp_plain),
		cmocka_unit_test(xdp_vlan),
		cmocka_unit_test(xdp_truncated),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
