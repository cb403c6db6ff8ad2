// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The benchmark's floor: a TC program that does nothing. Its cost per
 * packet (kernel.bpf_stats_enabled) is what any TC program pays. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int pnm_bench_empty(struct __sk_buff *skb)
{
	(void)skb;
	return -1; /* TC_ACT_UNSPEC: on to the next filter */
}
