// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The environment checks that come before any state is made: privileges,
 * the kernel's BTF, a cgroup v2 root, whether bpffs is mounted, and the
 * number of possible CPUs.
 */
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "log.h"
#include "netns.h"
#include "state.h"
#include "state_int.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

int pnm_ncpus(void)
{
	static int n;

	if (!n)
		n = libbpf_num_possible_cpus();
	return n;
}

int pnm_check_privileges(const char *cmd, bool net_admin)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	uint64_t eff;
	bool bpf, net;

	if (syscall(SYS_capget, &hdr, data)) {
		int err = errno;

		pr_warn("cannot read process capabilities: %s", strerror(err));
		return -err;
	}
	eff = (uint64_t)data[1].effective << 32 | data[0].effective;
	bpf = eff & (1ULL << CAP_BPF) || eff & (1ULL << CAP_SYS_ADMIN);
	net = eff & (1ULL << CAP_NET_ADMIN);
	if (bpf && (net || !net_admin))
		return 0;
	pr_warn("'%s' needs root (CAP_BPF%s); run it with sudo", cmd,
		net_admin ? " and CAP_NET_ADMIN" : "");
	return -EPERM;
}

/* The cgroup v2 mount point, from /proc/self/mountinfo. */
int pnm_cgroup2_root(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], *sep = strstr(line, " - ");

		/* fields: id parent maj:min root mountpoint ... - fstype ... */
		if (!sep || strncmp(sep, " - cgroup2 ", 11))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
			snprintf(buf, len, "%s", mnt);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

bool pnm_is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

int pnm_check_kernel(void)
{
	char cg[PATH_MAX];

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		pr_warn("kernel has no BTF (/sys/kernel/btf/vmlinux): pnm-tc needs a kernel built "
			"with CONFIG_DEBUG_INFO_BTF=y");
		return -EOPNOTSUPP;
	}
	/* A bpffs mounted in a private mount namespace dies with the command,
	 * and the pins with it: the filters would count where nobody can read
	 * or remove them. main() joins init's mount namespace first; this is
	 * when that failed. */
	if (!pnm_is_bpffs(PNM_BPFFS) && !pnm_host_mount_ns()) {
		pr_warn("private mount namespace without bpffs, and init's cannot be joined: "
			"what pnm-tc pins here would vanish with this command; run it in the "
			"host's mount namespace");
		return -EPERM;
	}
	if (pnm_cgroup2_root(cg, sizeof(cg))) {
		pr_warn("no cgroup v2 mount found in /proc/self/mountinfo: mount one, e.g. "
			"'mount -t cgroup2 none /sys/fs/cgroup/unified'");
		return -EOPNOTSUPP;
	}
	return 0;
}
