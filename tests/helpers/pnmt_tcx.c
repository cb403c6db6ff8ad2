// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pnmt_tcx: another tool's programs on an interface's tcx hooks (Linux
 * 6.6+), for the integration tests; names resolve in the current network
 * namespace. The iproute2 and bpftool of Debian 12 do not show tcx.
 *   pnmt_tcx list DEV ingress|egress       "ID NAME" per program, run order
 *   pnmt_tcx add DEV ingress|egress        attach a program that counts the
 *                                          packets it sees and passes them
 *                                          on, after the others; prints its
 *                                          id (it stays after we exit)
 *   pnmt_tcx count ID                      packets program ID counted
 *   pnmt_tcx del DEV ingress|egress ID     detach program ID
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#define TCX_INGRESS 46 /* the kernel's enum bpf_attach_type (6.6) */
#define TCX_MAX 64

static int die(const char *what)
{
	fprintf(stderr, "pnmt_tcx: %s: %s\n", what, strerror(errno));
	return 1;
}

static int hook(const char *dev, const char *dir, int *ifindex, enum bpf_attach_type *type)
{
	*ifindex = (int)if_nametoindex(dev);
	if (!*ifindex)
		return die(dev);
	if (strcmp(dir, "ingress") && strcmp(dir, "egress")) {
		fprintf(stderr, "pnmt_tcx: %s: not ingress or egress\n", dir);
		return 1;
	}
	*type = (enum bpf_attach_type)(TCX_INGRESS + !strcmp(dir, "egress"));
	return 0;
}

static int list(int ifindex, enum bpf_attach_type type)
{
	uint32_t ids[TCX_MAX] = { 0 }, n = TCX_MAX;

	if (bpf_prog_query(ifindex, type, 0, NULL, ids, &n))
		return die("query");
	for (uint32_t i = 0; i < n; i++) {
		struct bpf_prog_info info = { 0 };
		uint32_t len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(ids[i]);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			printf("%u %s\n", ids[i], info.name);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

static int add(int ifindex, enum bpf_attach_type type)
{
	int map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "pnmt_foreign", 4, 8, 1, NULL), prog;
	struct bpf_insn insns[] = {
		INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0), /* key 0 on the stack */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
		INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map),
		INSN(0, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1),
		INSN(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1), /* TCX_NEXT */
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);

	if (map < 0)
		return die("map");
	prog = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "pnmt_foreign", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), NULL);
	if (prog < 0)
		return die("load");
	if (bpf_prog_attach(prog, ifindex, type, 0))
		return die("attach");
	if (bpf_obj_get_info_by_fd(prog, &info, &len))
		return die("info");
	printf("%u\n", info.id);
	return 0;
}

static int count(uint32_t id)
{
	uint32_t map_id = 0, key = 0;
	struct bpf_prog_info info = { .nr_map_ids = 1, .map_ids = (uintptr_t)&map_id };
	uint32_t len = sizeof(info);
	uint64_t n = 0;
	int fd = bpf_prog_get_fd_by_id(id), map;

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || !map_id)
		return die("program");
	map = bpf_map_get_fd_by_id(map_id);
	if (map < 0 || bpf_map_lookup_elem(map, &key, &n))
		return die("map");
	printf("%llu\n", (unsigned long long)n);
	return 0;
}

static int del(int ifindex, enum bpf_attach_type type, uint32_t id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0 || bpf_prog_detach2(fd, ifindex, type))
		return die("detach");
	return 0;
}

int main(int argc, char **argv)
{
	enum bpf_attach_type type = (enum bpf_attach_type)TCX_INGRESS;
	int ifindex = 0;

	if (argc == 3 && !strcmp(argv[1], "count"))
		return count((uint32_t)strtoul(argv[2], NULL, 10));
	if (argc < 4 || hook(argv[2], argv[3], &ifindex, &type))
		goto usage;
	if (argc == 4 && !strcmp(argv[1], "list"))
		return list(ifindex, type);
	if (argc == 4 && !strcmp(argv[1], "add"))
		return add(ifindex, type);
	if (argc == 5 && !strcmp(argv[1], "del"))
		return del(ifindex, type, (uint32_t)strtoul(argv[4], NULL, 10));
usage:
	fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
	return 2;
}
