// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pnmt_floor [-x PROG]... OBJECT[,OBJECT...] DEV [CGROUP]: the benchmark's
 * hooks floor. Loads each OBJECT (the floors of tests/bench/: programs that
 * do nothing, or only create a socket's storage), attaches their TC
 * programs to DEV's tcx ingress and egress hooks (Linux 6.6+; DEV "-":
 * none, and TC programs are not loaded), their cgroup ones to the cgroup
 * v2 directory CGROUP, and the others to their tracepoints, prints
 * "ready", and holds them until SIGINT or SIGTERM. -x PROG leaves program
 * PROG out: one program per hook where two objects have one for the same
 * hook. Its links are its file descriptors: they go with it, however it
 * ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
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

	if (type == BPF_PROG_TYPE_CGROUP_SOCK || type == BPF_PROG_TYPE_SOCK_OPS ||
	    type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR) {
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

/* Is program p left out, by a -x of argv[1..n)? TC programs are without a
 * device. */
static bool skipped(struct bpf_program *p, int ifindex, char **skip, int n)
{
	if (!ifindex && bpf_program__type(p) == BPF_PROG_TYPE_SCHED_CLS)
		return true;
	for (int i = 0; i < n; i++)
		if (!strcmp(skip[i], bpf_program__name(p)))
			return true;
	return false;
}

/* Open, load and attach object path; its programs stay attached until
 * exit. */
static int hold(const char *path, int ifindex, int cg, char **skip, int nskip)
{
	struct bpf_object *obj;
	struct bpf_program *p;

	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		return die(path, errno);
	bpf_object__for_each_program(p, obj)
	{
		if (skipped(p, ifindex, skip, nskip))
			bpf_program__set_autoload(p, false);
	}
	if (bpf_object__load(obj))
		return die("load", errno);
	bpf_object__for_each_program(p, obj)
	{
		if (bpf_program__autoload(p) && attach(p, ifindex, cg))
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char *skip[16], *objs, *path;
	int ifindex = 0, cg = -1, nskip = 0, sig, err, opt;
	sigset_t set;

	while ((opt = getopt(argc, argv, "x:")) != -1) {
		if (opt != 'x' || nskip == (int)(sizeof(skip) / sizeof(skip[0])))
			return 2;
		skip[nskip++] = optarg;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: pnmt_floor [-x PROG]... OBJECT[,OBJECT...] DEV [CGROUP]\n");
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
	objs = argv[1];
	while ((path = strsep(&objs, ",")))
		if (hold(path, ifindex, cg, skip, nskip))
			return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("ready\n");
	fflush(stdout);
	err = sigwait(&set, &sig);
	if (err)
		return die("sigwait", err);
	return 0;
}
