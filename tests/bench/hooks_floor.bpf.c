// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The hooks' floor for the sampled comparison with nethogs: programs that
 * do nothing on every hook pnm-tc uses per packet or per send and receive
 * call (the tcx ingress and egress hooks, and the tracepoints
 * sock_send_length, sock_recv_length and tcp_sendmsg_locked). What they
 * cost is what any program there costs, before it does any work: the
 * kernel's hook code and its calls into the programs. Attached by
 * tests/helpers/pnmt_floor.c. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int floor_tc_in(struct __sk_buff *skb)
{
	(void)skb;
	return -1; /* TCX_NEXT */
}

SEC("tc")
int floor_tc_out(struct __sk_buff *skb)
{
	(void)skb;
	return -1;
}

SEC("tp_btf/sock_send_length")
int floor_send(unsigned long long *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/sock_recv_length")
int floor_recv(unsigned long long *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/tcp_sendmsg_locked")
int floor_tcp_send(unsigned long long *ctx)
{
	(void)ctx;
	return 0;
}
