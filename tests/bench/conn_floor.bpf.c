// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The floor of what pnm-tc costs per connection and per process: programs
 * that do nothing on each hook it uses there (socket creation and release,
 * sockops, TCP state changes, fork, exec, exit), and one that only creates
 * a socket's storage, as pnm-tc's creation hook must. Attached by
 * tests/helpers/pnmt_floor.c (the cgroup ones to the cgroup v2 root). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The size of pnm-tc's (struct pnm_sock, maps/pnm.h). */
struct floor_sock {
	__u64 w[24];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct floor_sock);
} floor_storage SEC(".maps");

SEC("cgroup/sock_create")
int pnm_fl_create(struct bpf_sock *ctx)
{
	(void)ctx;
	return 1;
}

SEC("cgroup/sock_create")
int pnm_fl_storage(struct bpf_sock *ctx)
{
	bpf_sk_storage_get(&floor_storage, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
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
