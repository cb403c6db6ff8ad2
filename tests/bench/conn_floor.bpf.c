// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The floor of what pnm-tc costs per connection and per process: programs
 * that do nothing on each hook it uses there (socket creation, connect and
 * release, sockops, TCP state changes, fork, exec, exit). With
 * hooks_floor.bpf.c (TC, the send and receive tracepoints) every hook
 * pnm-tc runs per connection has one; storage_floor.bpf.c stands in for
 * the creation one where a socket's storage is made, as pnm-tc's creation
 * hook must. Attached by tests/helpers/pnmt_floor.c (the cgroup ones to
 * the cgroup v2 root). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup/sock_create")
int pnm_fl_create(struct bpf_sock *ctx)
{
	(void)ctx;
	return 1;
}

SEC("cgroup/connect4")
int pnm_fl_connect(struct bpf_sock_addr *ctx)
{
	(void)ctx;
	return 1;
}

SEC("cgroup/sock_release")
int pnm_fl_release(struct bpf_sock *ctx)
{
	(void)ctx;
	return 1;
}

SEC("sockops")
int pnm_fl_sockops(struct bpf_sock_ops *skops)
{
	(void)skops;
	return 1;
}

SEC("tp_btf/inet_sock_set_state")
int pnm_fl_state(unsigned long long *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/sched_process_fork")
int pnm_fl_fork(unsigned long long *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/sched_process_exec")
int pnm_fl_exec(unsigned long long *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int pnm_fl_exit(unsigned long long *ctx)
{
	(void)ctx;
	return 0;
}
