// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "grow.h"
#include "log.h"
#include "netns.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* Since Linux 6.x the initial namespaces have fixed nsfs inodes: what
 * identifies them when /proc/1/ns cannot be read (a confined root). */
#define INIT_NET_INO 0xEFFFFFF9ULL
#define INIT_MNT_INO 0xEFFFFFF8ULL

static int ns_ino(const char *path, uint64_t *ino)
{
	struct statfs fs = { 0 };
	struct stat st = { 0 };

	if (stat(path, &st) || statfs(path, &fs))
		return pnm_neg_errno();
	if ((unsigned long)fs.f_type != NSFS_MAGIC)
		return -EINVAL;
	*ino = st.st_ino;
	return 0;
}

/* The initial namespace of a type ("net", "mnt"). */
static uint64_t init_ino(const char *type)
{
	char path[64];
	uint64_t ino = 0;

	snprintf(path, sizeof(path), "/proc/1/ns/%s", type);
	if (!ns_ino(path, &ino))
		return ino;
	return strcmp(type, "net") ? INIT_MNT_INO : INIT_NET_INO;
}

/* The name of namespace ino under /run/netns, "" for init's, else
 * "netns-INODE". */
static void name_of(uint64_t ino, char *name, size_t len)
{
	uint64_t other = 0;
	struct dirent *e;
	char path[PATH_MAX];
	DIR *d;

	if (ino == init_ino("net")) {
		name[0] = '\0';
		return;
	}
	d = opendir(PNM_NETNS_RUN_DIR);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= len)
			continue;
		snprintf(path, sizeof(path), "%s/%s", PNM_NETNS_RUN_DIR, e->d_name);
		if (!ns_ino(path, &other) && other == ino) {
			snprintf(name, len, "%s", e->d_name);
			closedir(d);
			return;
		}
	}
	if (d)
		closedir(d);
	snprintf(name, len, "netns-%llu", (unsigned long long)ino);
}

int pnm_netns_current(struct pnm_netns *ns)
{
	int rc = ns_ino("/proc/self/ns/net", &ns->ino);

	if (rc)
		return rc;
	name_of(ns->ino, ns->name, sizeof(ns->name));
	return 0;
}

int pnm_netns_resolve(const char *spec, struct pnm_netns *ns)
{
	char path[PATH_MAX];
	int rc;

	if (spec[0] == '/') {
		snprintf(path, sizeof(path), "%s", spec);
	} else {
		if (!spec[0] || strchr(spec, '/') || !strcmp(spec, ".") || !strcmp(spec, ".."))
			return -EINVAL;
		snprintf(path, sizeof(path), "%s/%s", PNM_NETNS_RUN_DIR, spec);
	}
	rc = ns_ino(path, &ns->ino);
	if (rc)
		return rc;
	name_of(ns->ino, ns->name, sizeof(ns->name));
	/* Several names may bind one namespace: keep the one given. */
	if (spec[0] != '/' && ns->name[0] && strlen(spec) < sizeof(ns->name))
		snprintf(ns->name, sizeof(ns->name), "%s", spec);
	return 0;
}

/* An open nsfs file of namespace ino of a type ("net", "mnt"): by name,
 * then any under /run/netns, then any process's. */
static int open_ns(const char *type, uint64_t ino, const char *name)
{
	const char *dirs[] = { PNM_NETNS_RUN_DIR, "/proc" };
	bool net = !strcmp(type, "net");
	char path[PATH_MAX];
	uint64_t other = 0;
	struct dirent *e;

	if (net && name && name[0] && !strchr(name, '/')) {
		snprintf(path, sizeof(path), "%s/%s", PNM_NETNS_RUN_DIR, name);
		if (!ns_ino(path, &other) && other == ino)
			return open(path, O_RDONLY | O_CLOEXEC);
	}
	for (size_t i = net ? 0 : 1; i < 2; i++) {
		DIR *d = opendir(dirs[i]);

		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.' ||
			    (i == 1 && !isdigit((unsigned char)e->d_name[0])))
				continue;
			if (i)
				snprintf(path, sizeof(path), "/proc/%s/ns/%s", e->d_name, type);
			else
				snprintf(path, sizeof(path), "%s/%s", dirs[i], e->d_name);
			if (!ns_ino(path, &other) && other == ino) {
				int fd = open(path, O_RDONLY | O_CLOEXEC);

				if (fd >= 0) {
					closedir(d);
					return fd;
				}
			}
		}
		if (d)
			closedir(d);
	}
	return -ENOENT;
}

int pnm_netns_enter(uint64_t ino, const char *name, int *prev)
{
	uint64_t here = 0;
	int fd, rc;

	*prev = -1;
	rc = ns_ino("/proc/self/ns/net", &here);
	if (rc)
		return rc;
	if (here == ino)
		return 0;
	fd = open_ns("net", ino, name);
	if (fd < 0)
		return fd;
	*prev = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*prev < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	if (rc) {
		close(*prev);
		*prev = -1;
	}
	return rc;
}

void pnm_netns_leave(int prev)
{
	if (prev < 0)
		return;
	/* Going back where we came from cannot fail for root; if it did,
	 * everything after would act on the wrong interfaces. */
	if (setns(prev, CLONE_NEWNET)) {
		fprintf(stderr, "pnm-tc: cannot return to the original network namespace: %s\n",
			strerror(errno));
		abort();
	}
	close(prev);
}

const char *pnm_if_label(const char *netns, const char *ifname, char *buf, size_t len)
{
	if (netns && netns[0])
		snprintf(buf, len, "%s/%s", netns, ifname);
	else
		snprintf(buf, len, "%s", ifname);
	return buf;
}

bool pnm_host_mount_ns(void)
{
	uint64_t self = 0;

	return ns_ino("/proc/self/ns/mnt", &self) || self == init_ino("mnt");
}

int pnm_join_host_mounts(void)
{
	struct statfs fs;
	int fd, rc;

	if (!statfs("/sys/fs/bpf", &fs) && (unsigned long)fs.f_type == BPF_FS_MAGIC)
		return 0;
	if (pnm_host_mount_ns())
		return 0;
	fd = open_ns("mnt", init_ino("mnt"), NULL);
	if (fd < 0)
		return fd;
	rc = setns(fd, CLONE_NEWNS) ? -errno : 1;
	close(fd);
	return rc;
}

static bool seen_ino(const uint64_t *seen, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i] == ino)
			return true;
	return false;
}

int pnm_netns_each(int (*fn)(void *arg), void *arg)
{
	const char *dirs[] = { PNM_NETNS_RUN_DIR, "/proc" };
	static bool refused_said;
	uint64_t *seen = NULL;
	size_t n = 0, cap = 0, refused = 0;
	struct stat self;
	bool moved = false;
	int prev, rc;

	prev = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (prev < 0 || fstat(prev, &self)) {
		rc = pnm_neg_errno();
		if (prev >= 0)
			close(prev);
		return rc;
	}
	rc = fn(arg);
	if (pnm_grow(&seen, &cap, 1, sizeof(*seen), 64)) {
		close(prev);
		return rc ? rc : -ENOMEM;
	}
	seen[n++] = self.st_ino;
	for (size_t i = 0; i < 2 && !rc; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;

		while (d && !rc && (e = readdir(d))) {
			char path[PATH_MAX];
			struct stat st;
			int fd;

			if (e->d_name[0] == '.' || (i && !isdigit((unsigned char)e->d_name[0])))
				continue;
			if (i)
				snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
			else
				snprintf(path, sizeof(path), "%s/%s", dirs[i], e->d_name);
			/* Another file system than nsfs: not a namespace. */
			if (stat(path, &st) || st.st_dev != self.st_dev ||
			    seen_ino(seen, n, st.st_ino))
				continue;
			rc = pnm_grow(&seen, &cap, n + 1, sizeof(*seen), 64);
			if (rc)
				break;
			seen[n++] = st.st_ino;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue; /* gone meanwhile */
			if (!setns(fd, CLONE_NEWNET)) {
				moved = true;
				rc = fn(arg);
			} else if (errno == EPERM) {
				refused++;
			}
			close(fd);
		}
		if (d)
			closedir(d);
	}
	free(seen);
	/* Never left (every other namespace refused): nothing to go back
	 * from, and without CAP_SYS_ADMIN going back would fail too. */
	if (moved)
		pnm_netns_leave(prev);
	else
		close(prev);
	/* Said once per run: what is left out is left out every time. */
	if (refused && !refused_said) {
		refused_said = true;
		pr_warn("cannot enter %zu other network namespace%s (needs CAP_SYS_ADMIN): "
			"their open sockets are left out until they close",
			refused, refused == 1 ? "" : "s");
	}
	return rc;
}
