// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pnmt_floor OBJECT DEV [CGROUP]: the benchmark's hooks floor. Loads
 * OBJECT (tests/bench/hooks_floor.bpf.c or conn_floor.bpf.c: programs that
 * do nothing), attaches its TC programs to DEV's tcx ingress and egress
 * hooks (Linux 6.6+; DEV "-": none), its cgroup ones to the cgroup v2
 * directory CGROUP, and the others to their tracepoints, prints "ready",
 * and holds them until SIGINT or SIGTERM. Its links are its file
 * descriptors: they go with it, however it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define TCX_INGRESS 46 /* the kernel's enum bpf_attach_type (6.6) */
#define TCX_EGRESS 47

static int die(const char *what, int err)
{
	fprintf(stderr, "pnmt_floor: %s: %s\n", what, strerror(err));
	return 1;
}

/* Attach program p: a TC one to ifindex's tcx hook (by its name's end),
 * a cgroup one to cgroup cg, any other where its section says. */
static int attach(struct bpf_program *p, int ifindex, int cg)
{
	const char *name = bpf_program__name(p);
	enum bpf_prog_type type = bpf_program__type(p);
	size_t n = strlen(name);
	struct bpf_link *link;

	if (type == BPF_PROG_TYPE_CGROUP_SOCK || type == BPF_PROG_TYPE_SOCK_OPS) {
		link = cg >= 0 ? bpf_program__attach_cgroup(p, cg) : NULL;
		return link ? 0 : die(name, cg >= 0 ? errno : EINVAL);
	}

	if (type == BPF_PROG_TYPE_SCHED_CLS) {
		int hook = n > 3 && !strcmp(name + n - 3, "_in") ? TCX_INGRESS : TCX_EGRESS;

		if (bpf_link_create(bpf_program__fd(p), ifindex, (enum bpf_attach_type)hook, NULL) <
		    0)
			return die(name, errno);
		return 0;
	}
	link = bpf_program__attach(p);
	if (!link)
		return die(name, errno);
	return 0; /* held until exit */
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *p;
	sigset_t set;
	int ifindex = 0, cg = -1, sig, err;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: pnmt_floor OBJECT DEV [CGROUP]\n");
		return 2;
	}
	if (strcmp(argv[2], "-")) {
		ifindex = (int)if_nametoindex(argv[2]);
		if (!ifindex)
			return die(argv[2], errno);
	}
	if (argc == 4) {
		cg = open(argv[3], O_RDONLY | O_DIRECTORY);
		if (cg < 0)
			return die(argv[3], errno);
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		return die(argv[1], errno);
	if (bpf_object__load(obj))
		return die("load", errno);
	bpf_object__for_each_program(p, obj)
	{
		if (attach(p, ifindex, cg))
			return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("ready\n");
	fflush(stdout);
	err = sigwait(&set, &sig);
	if (err)
		return die("sigwait", err);
	bpf_object__close(obj);
	return 0;
}
