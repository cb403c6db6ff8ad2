// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The creation hook's floor where a socket -> process map lives in the
 * socket: a program that only creates a socket's storage, of the size of
 * pnm-tc's (struct pnm_sock, maps/pnm.h), and does nothing else. Beside
 * conn_floor.bpf.c, in place of its empty creation program. Attached by
 * tests/helpers/pnmt_floor.c to the cgroup v2 root. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
int pnm_fl_storage(struct bpf_sock *ctx)
{
	bpf_sk_storage_get(&floor_storage, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	return 1;
}
