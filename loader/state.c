// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "netns.h"
#include "sock_owner.skel.h"
#include "state.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Root's own directory: in a world-writable one (/run/lock, /tmp) anybody
 * could create the file first and hold the lock forever. */
#define PNM_LOCK_DIR "/run/pnm-tc"
#define PNM_LOCK_FILE PNM_LOCK_DIR "/lock"
/* A directory in ours: pnm-tc mounted the bpffs it lives in. */
#define PNM_MOUNT_MARK PNM_PIN_DIR "/mounted-bpffs"
/* Made before pnm-tc mounts bpffs, removed once PNM_MOUNT_MARK says it: a
 * kill between the mount and the mark leaves this one. */
#define PNM_MOUNT_INTENT PNM_LOCK_DIR "/mounting-bpffs"

const struct pnm_hook pnm_hooks[] = {
	{ "pnm_sock_create", "", "socket creation (cgroup/sock_create)", true },
	{ "pnm_sockops", "", "TCP establishment and close (sockops)", true },
	{ "pnm_sendmsg4", "", "unconnected UDP sends before transmit (cgroup/sendmsg4)", false },
	{ "pnm_sendmsg6", "", "unconnected UDP sends before transmit (cgroup/sendmsg6)", false },
	{ "pnm_connect4", "",
	  "UDP reconnects: the flow cache forgets the old peer (cgroup/connect4)", false },
	{ "pnm_connect6", "",
	  "UDP reconnects: the flow cache forgets the old peer (cgroup/connect6)", false },
	{ "pnm_post_bind4", "",
	  "UDP binds to a shareable port: the flow cache forgets unconnected senders "
	  "(cgroup/post_bind4)",
	  false },
	{ "pnm_post_bind6", "",
	  "UDP binds to a shareable port: the flow cache forgets unconnected senders "
	  "(cgroup/post_bind6)",
	  false },
	{ "pnm_tcp_send", "tcp_sendmsg_locked",
	  "TCP sends before transmit (tp_btf/tcp_sendmsg_locked)", false },
	{ "pnm_send", "sock_send_length", "sends in process context (tp_btf/sock_send_length)",
	  false },
	{ "pnm_recv", "sock_recv_length", "receives in process context (tp_btf/sock_recv_length)",
	  false },
	{ "pnm_exec", "sched_process_exec", "process names after exec (tp_btf/sched_process_exec)",
	  false },
	{ "pnm_exit", "sched_process_exit", "process exit (tp_btf/sched_process_exit)", false },
	{ "pnm_sock_release", "",
	  "socket close: UDP counters to the maps, connections marked closed (cgroup/sock_release)",
	  false },
	{ "pnm_tcp_state", "inet_sock_set_state",
	  "TCP close: a closed connection's counters to the maps (tp_btf/inet_sock_set_state)",
	  false },
	{ "pnm_fork", "sched_process_fork",
	  "process tree for --children (tp_btf/sched_process_fork)", false },
};
const size_t pnm_nhooks = sizeof(pnm_hooks) / sizeof(pnm_hooks[0]);

/* The socket readers, best first: the first whose programs load is used
 * (PNM_READER=NAME forces one). */
const struct pnm_prog_group pnm_readers[] = {
	{ "storage",
	  "the socket storage map (iter/bpf_sk_storage_map, iter/bpf_map_elem)",
	  { "pnm_sockiter", "pnm_conniter" },
	  0 },
	{ "sockets",
	  "each network namespace's TCP and UDP sockets (iter/tcp, iter/udp)",
	  { "pnm_tcpiter", "pnm_udpiter" },
	  PNM_META_SOCK_READER },
	{ "files",
	  "every process's open sockets (iter/task_file)",
	  { "pnm_sockfiles" },
	  PNM_META_FILES_READER },
};
const size_t pnm_nreaders = sizeof(pnm_readers) / sizeof(pnm_readers[0]);
/* Who gives the sockets that existed before attach their owner, best
 * first (PNM_SEEDER=NAME forces one); none is no failure. */
const struct pnm_prog_group pnm_seeders[] = {
	{ "files", "every process's open sockets (iter/task_file)", { "pnm_seed" }, 0 },
	{ "sockets",
	  "open files, then each network namespace's TCP and UDP sockets (iter/task_file, "
	  "iter/tcp, iter/udp)",
	  { "pnm_seedfiles", "pnm_tcpseed", "pnm_udpseed" },
	  0 },
};
const size_t pnm_nseeders = sizeof(pnm_seeders) / sizeof(pnm_seeders[0]);

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
static int cgroup2_root(char *buf, size_t len)
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

static bool is_bpffs(const char *path)
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
	if (!is_bpffs(PNM_BPFFS) && !pnm_host_mount_ns()) {
		pr_warn("private mount namespace without bpffs, and init's cannot be joined: "
			"what pnm-tc pins here would vanish with this command; run it in the "
			"host's mount namespace");
		return -EPERM;
	}
	if (cgroup2_root(cg, sizeof(cg))) {
		pr_warn("no cgroup v2 mount found in /proc/self/mountinfo: mount one, e.g. "
			"'mount -t cgroup2 none /sys/fs/cgroup/unified'");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* Our pin directory is a real directory that only root owns and writes:
 * never a symlink (detach unlinks everything in it), never somebody
 * else's. Absent is fine. Says why once. */
static int pin_dir_check(void)
{
	static bool warned;
	struct stat st;

	if (lstat(PNM_PIN_DIR, &st))
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode) && st.st_uid == 0 && !(st.st_mode & 0022))
		return 0;
	if (!warned)
		pr_warn("refusing %s: %s", PNM_PIN_DIR,
			S_ISLNK(st.st_mode)    ? "it is a symbolic link"
			: !S_ISDIR(st.st_mode) ? "it is not a directory"
			: st.st_uid != 0       ? "it is not owned by root"
					       : "others than root may write to it");
	warned = true;
	return -EPERM;
}

int pnm_state_present(void)
{
	struct pnm_meta meta = { 0 };
	char path[PATH_MAX];
	uint32_t zero = 0;
	int fd, err;

	if (!is_bpffs(PNM_BPFFS))
		return 0;
	err = pin_dir_check();
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, PNM_MAP_META);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = errno;
		return err == ENOENT ? 0 : -err;
	}
	/* Version 0: an attach that never finished; nothing to show. */
	err = bpf_map_lookup_elem(fd, &zero, &meta) ? -errno : 0;
	close(fd);
	if (err)
		return err;
	return meta.version != 0;
}

int pnm_state_leftovers(void)
{
	if (pnm_state_present() != 0 || access(PNM_PIN_DIR, F_OK))
		return 0;
	pr_info("removing what an interrupted attach left under %s", PNM_PIN_DIR);
	return pnm_state_destroy();
}

struct pinned_map {
	const char *name;
	size_t off; /* in struct pnm_maps */
	uint32_t key_size, value_size;
};

static const struct pinned_map pinned_maps[] = {
	{ PNM_MAP_SOCKOWNER, offsetof(struct pnm_maps, sockowner), 4, PNM_SOCK_SIZE },
	{ PNM_MAP_PROCSTAT, offsetof(struct pnm_maps, procstat), sizeof(struct pnm_proc_key),
	  sizeof(struct pnm_traffic) },
	{ PNM_MAP_PROCINFO, offsetof(struct pnm_maps, procinfo), sizeof(struct pnm_owner),
	  sizeof(struct pnm_proc_info) },
	{ PNM_MAP_IFSTAT, offsetof(struct pnm_maps, ifstat), 4, sizeof(struct pnm_if_stats) },
	{ PNM_MAP_IFCFG, offsetof(struct pnm_maps, ifcfg), 4, sizeof(struct pnm_if_cfg) },
	{ PNM_MAP_META, offsetof(struct pnm_maps, meta), 4, sizeof(struct pnm_meta) },
	{ PNM_MAP_SKCOOKIE, offsetof(struct pnm_maps, skcookie), 8, sizeof(struct pnm_owner) },
	{ PNM_MAP_PARENT, offsetof(struct pnm_maps, parent), 4, sizeof(struct pnm_fork) },
	{ PNM_MAP_CONN, offsetof(struct pnm_maps, conn), 8, sizeof(struct pnm_conn) },
	{ PNM_MAP_EVENTS, offsetof(struct pnm_maps, events), 0, 0 },
	{ PNM_MAP_EVCFG, offsetof(struct pnm_maps, evcfg), 4, sizeof(struct pnm_evcfg) },
	{ PNM_MAP_EVPIDS, offsetof(struct pnm_maps, evpids), 4, 4 },
	{ PNM_MAP_EVLOST, offsetof(struct pnm_maps, evlost), 4, 8 },
	{ PNM_MAP_EVDST, offsetof(struct pnm_maps, evdst), 8, 24 },
	{ PNM_MAP_FOLDS, offsetof(struct pnm_maps, folds), 4, sizeof(struct pnm_folds) },
	{ PNM_MAP_FLOWS, offsetof(struct pnm_maps, flows), 4, sizeof(struct pnm_flow) },
	{ PNM_MAP_HOOKSTATE, offsetof(struct pnm_maps, hookstate), 4,
	  sizeof(struct pnm_hook_state) },
	{ PNM_MAP_SYNPEND, offsetof(struct pnm_maps, synpend), sizeof(struct pnm_tuple),
	  sizeof(struct pnm_syn) },
};

void pnm_maps_close(struct pnm_maps *m)
{
	for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		int *fd = (int *)((char *)m + pinned_maps[i].off);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

int pnm_maps_open(struct pnm_maps *m)
{
	struct pnm_meta meta;
	uint32_t zero = 0;
	int rc = 0;

	memset(m, 0xff, sizeof(*m)); /* every fd -1 */
	rc = pnm_state_present();
	if (rc <= 0)
		return rc ? rc : -ENOENT;
	for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		const struct pinned_map *pm = &pinned_maps[i];
		int *fd = (int *)((char *)m + pm->off);
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, pm->name);
		*fd = bpf_obj_get(path);
		if (*fd < 0) {
			rc = -errno;
			goto fail;
		}
		if (bpf_obj_get_info_by_fd(*fd, &info, &len)) {
			rc = -errno;
			goto fail;
		}
		if (info.key_size != pm->key_size || info.value_size != pm->value_size) {
			rc = -EPROTO;
			goto fail;
		}
	}
	if (bpf_map_lookup_elem(m->meta, &zero, &meta) || meta.version != PNM_LAYOUT_VERSION) {
		rc = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	pnm_maps_close(m);
	return rc;
}

/* What the readers give, appended; p NULL and drop set: read and dropped. */
struct iter_out {
	char *p;
	size_t len, cap;
	bool drop;
};

/* Read the pinned iterator name to its end, appending to *out. */
static int read_iter(const char *name, struct iter_out *out)
{
	char path[PATH_MAX], discard[4096];
	ssize_t got;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (!out->drop && out->len == out->cap) {
			size_t cap = out->cap ? 2 * out->cap : 64 * sizeof(struct pnm_sock_rec);
			char *grown = realloc(out->p, cap);

			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			out->p = grown;
			out->cap = cap;
		}
		got = out->drop ? read(fd, discard, sizeof(discard))
				: read(fd, out->p + out->len, out->cap - out->len);
		if (!got)
			break;
		if (got > 0) {
			if (!out->drop)
				out->len += (size_t)got;
		} else if (errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	close(fd);
	return rc;
}

/* The sockets reader, in one network namespace: its TCP and UDP tables. */
static int read_netns_socks(void *arg)
{
	struct iter_out *out = arg;
	int rc = read_iter(PNM_SOCKITER, out);

	return rc ? rc : read_iter(PNM_UDPITER, out);
}

static int by_cookie(const void *a, const void *b)
{
	uint64_t x = ((const struct pnm_sock_rec *)a)->cookie;
	uint64_t y = ((const struct pnm_sock_rec *)b)->cookie;

	return x < y ? -1 : x > y;
}

/* The open-files reader gives a socket once per process holding it (after
 * a fork, say): one record per cookie stays. Returns how many. */
static size_t unique_socks(struct pnm_sock_rec *r, size_t n)
{
	size_t k = 0;

	if (n < 2)
		return n;
	qsort(r, n, sizeof(*r), by_cookie);
	for (size_t i = 1; i < n; i++)
		if (r[i].cookie != r[k].cookie)
			r[++k] = r[i];
	return k + 1;
}

int pnm_sockets_read(const struct pnm_maps *m, const struct pnm_sockets_req *req,
		     struct pnm_sock_rec **out, size_t *n)
{
	/* The open-files reader gives a socket once per holder, and clears
	 * pnm_conn's column itself at its end; so does the sockets reader,
	 * which reads each network namespace's tables. */
	bool files = pnm_meta_has(m, PNM_META_FILES_READER);
	bool tables = pnm_meta_has(m, PNM_META_SOCK_READER);
	struct iter_out buf = { .drop = !out };
	struct pnm_meta meta;
	uint32_t zero = 0;
	int rc;

	if (req) {
		if (bpf_map_lookup_elem(m->meta, &zero, &meta))
			return -errno;
		meta.clear_slot = req->clear_slot;
		meta.fill_owners = req->fill_owners;
		if (bpf_map_update_elem(m->meta, &zero, &meta, BPF_EXIST))
			return -errno;
	}
	if (tables) {
		rc = pnm_netns_each(read_netns_socks, &buf);
	} else {
		rc = read_iter(PNM_SOCKITER, &buf);
		if (!rc && req && req->clear_slot && !files) {
			struct iter_out none = { .drop = true };

			rc = read_iter(PNM_CONNITER, &none);
		}
	}
	if (req && !bpf_map_lookup_elem(m->meta, &zero, &meta)) {
		meta.clear_slot = 0;
		meta.fill_owners = 0;
		bpf_map_update_elem(m->meta, &zero, &meta, BPF_EXIST);
	}
	if (rc) {
		free(buf.p);
		return rc;
	}
	if (out) {
		*out = (struct pnm_sock_rec *)buf.p;
		*n = buf.len / sizeof(**out);
		if (files)
			*n = unique_socks(*out, *n);
	}
	return 0;
}

bool pnm_hook_active(const struct pnm_hook *h)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/link_%s", PNM_PIN_DIR, h->prog);
	return !access(path, F_OK);
}

bool pnm_flows_possible(void)
{
	/* The hooks that end entries (closes, UDP connects and binds). */
	static const char *const need[] = {
		"pnm_sock_release", "pnm_tcp_state",  "pnm_connect4",
		"pnm_connect6",	    "pnm_post_bind4", "pnm_post_bind6"
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		for (size_t j = 0; j < pnm_nhooks; j++)
			if (!strcmp(pnm_hooks[j].prog, need[i]) && !pnm_hook_active(&pnm_hooks[j]))
				return false;
	}
	return true;
}

bool pnm_meta_has(const struct pnm_maps *m, uint32_t flag)
{
	struct pnm_meta meta;
	uint32_t zero = 0;

	return !bpf_map_lookup_elem(m->meta, &zero, &meta) && (meta.flags & flag);
}

void pnm_meta_flags(const struct pnm_maps *m, uint32_t set, uint32_t clear)
{
	struct pnm_meta meta;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(m->meta, &zero, &meta))
		return;
	meta.flags = (meta.flags | set) & ~clear;
	bpf_map_update_elem(m->meta, &zero, &meta, BPF_EXIST);
}

int pnm_reuse_maps(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		const char *name = bpf_map__name(map);
		char path[PATH_MAX];
		int fd, rc;

		if (strncmp(name, "pnm_", 4))
			continue; /* .rodata, .bss: the object's own */
		snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -errno;
		rc = bpf_map__reuse_fd(map, fd);
		close(fd);
		if (rc)
			return rc;
	}
	return 0;
}

/* Does this kernel have the BTF tracepoint a hook attaches to? */
static bool have_tracepoint(const struct btf *vmlinux, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
}

static int mount_bpffs(bool *mounted)
{
	int fd;

	*mounted = false;
	if (is_bpffs(PNM_BPFFS))
		return 0;
	fd = open(PNM_MOUNT_INTENT, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = errno;

		pr_warn("cannot create %s: %s", PNM_MOUNT_INTENT, strerror(err));
		return -err;
	}
	close(fd);
	if (mount("bpf", PNM_BPFFS, "bpf", 0, "mode=0700")) {
		int err = errno;

		unlink(PNM_MOUNT_INTENT);
		pr_warn("cannot mount bpffs on %s: %s", PNM_BPFFS, strerror(err));
		return -err;
	}
	*mounted = true;
	pr_info("mounted bpffs on %s", PNM_BPFFS);
	return 0;
}

static int pin_link(struct bpf_link *link, const char *prog)
{
	char path[PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "%s/link_%s", PNM_PIN_DIR, prog);
	rc = bpf_link__pin(link, path);
	if (!rc)
		bpf_link__disconnect(link);
	bpf_link__destroy(link);
	return rc;
}

/* Iterator prog over map_fd (-1: none), pinned as link_NAME. */
static int pin_iter(struct bpf_program *prog, int map_fd, const char *name, const char *what)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info;
	struct bpf_link *link;
	int rc;

	memset(&info, 0, sizeof(info));
	if (map_fd >= 0) {
		info.map.map_fd = (__u32)map_fd;
		opts.link_info = &info;
		opts.link_info_len = sizeof(info);
	}
	link = bpf_program__attach_iter(prog, &opts);
	if (!link) {
		rc = -errno;
		pr_warn("cannot attach %s: %s", what, strerror(-rc));
		return rc;
	}
	rc = pin_link(link, name);
	if (rc)
		pr_warn("cannot pin link_%s: %s", name, strerror(-rc));
	return rc;
}

/* The reader of every socket's own counters, pinned: show reads it; and
 * the iterator over pnm_conn that detach runs (the other readers do its
 * work at the end of their pass). */
static int attach_sockiter(struct sock_owner_bpf *so, const struct pnm_prog_group *r)
{
	int rc;

	if (r->meta_flag == PNM_META_FILES_READER)
		return pin_iter(so->progs.pnm_sockfiles, -1, "pnm_sockiter",
				"the socket counter reader (iter/task_file)");
	if (r->meta_flag == PNM_META_SOCK_READER) {
		rc = pin_iter(so->progs.pnm_tcpiter, -1, "pnm_sockiter",
			      "the TCP socket counter reader (iter/tcp)");
		return rc ? rc
			  : pin_iter(so->progs.pnm_udpiter, -1, "pnm_udpiter",
				     "the UDP socket counter reader (iter/udp)");
	}
	rc = pin_iter(so->progs.pnm_sockiter, bpf_map__fd(so->maps.pnm_sockowner), "pnm_sockiter",
		      "the socket counter reader (iter/bpf_sk_storage_map, Linux 5.9+)");
	return rc ? rc
		  : pin_iter(so->progs.pnm_conniter, bpf_map__fd(so->maps.pnm_conn), "pnm_conniter",
			     "the connection map iterator (iter/bpf_map_elem)");
}

/* The same sizes in both objects: the second reuses the first's maps. */
static void set_sizes(struct bpf_object *obj, const struct pnm_sizes *sizes)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		const char *name = bpf_map__name(map);

		if (sizes->procs &&
		    (!strcmp(name, PNM_MAP_PROCSTAT) || !strcmp(name, PNM_MAP_PROCINFO) ||
		     !strcmp(name, PNM_MAP_PARENT)))
			bpf_map__set_max_entries(map, sizes->procs);
		if (sizes->sockets &&
		    (!strcmp(name, PNM_MAP_SKCOOKIE) || !strcmp(name, PNM_MAP_CONN)))
			bpf_map__set_max_entries(map, sizes->sockets);
		/* A block of entries per possible CPU (bpf/maps.bpf.h). */
		if (!strcmp(name, PNM_MAP_FLOWS))
			bpf_map__set_max_entries(map, (uint32_t)pnm_ncpus() * 2 * PNM_FLOWS);
	}
}

/* What became of each program of the object (pnm_hookstate's rows). */
struct prog_states {
	struct pnm_hook_state st[PNM_HOOK_SLOTS];
	size_t n;
};

static struct pnm_hook_state *state_of(struct prog_states *ps, const char *prog)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->st[i].prog, prog))
			return &ps->st[i];
	return NULL;
}

static void set_state(struct prog_states *ps, const char *prog, uint32_t state, const char *reason)
{
	struct pnm_hook_state *st = state_of(ps, prog);

	if (!st)
		return;
	st->state = state;
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
}

static bool essential(const char *prog)
{
	for (size_t i = 0; i < pnm_nhooks; i++)
		if (!strcmp(pnm_hooks[i].prog, prog))
			return pnm_hooks[i].required;
	return false;
}

static const char *hook_what(const char *prog)
{
	for (size_t i = 0; i < pnm_nhooks; i++)
		if (!strcmp(pnm_hooks[i].prog, prog))
			return pnm_hooks[i].what;
	return prog;
}

static bool in_group(const struct pnm_prog_group *g, const char *prog)
{
	for (size_t i = 0; i < PNM_GROUP_PROGS && g->progs[i]; i++)
		if (!strcmp(g->progs[i], prog))
			return true;
	return false;
}

/* Which group (reader or seeder) a program belongs to, or -1. */
static int group_of(const struct pnm_prog_group *g, size_t n, const char *prog)
{
	for (size_t i = 0; i < n; i++)
		if (in_group(&g[i], prog))
			return (int)i;
	return -1;
}

/* Does every program of the group stand a chance (none off already)? */
static bool group_possible(struct prog_states *ps, const struct pnm_prog_group *g)
{
	for (size_t i = 0; i < PNM_GROUP_PROGS && g->progs[i]; i++) {
		const struct pnm_hook_state *st = state_of(ps, g->progs[i]);

		if (st && st->state != PNM_HOOK_ACTIVE && st->state != PNM_HOOK_UNUSED)
			return false;
	}
	return true;
}

static int attach_hooks(struct sock_owner_bpf *so, struct prog_states *ps)
{
	char cgpath[PATH_MAX];
	int cgfd, rc = 0;

	rc = cgroup2_root(cgpath, sizeof(cgpath));
	if (rc)
		return rc;
	cgfd = open(cgpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		rc = -errno;
		pr_warn("cannot open cgroup v2 root %s: %s", cgpath, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < pnm_nhooks && !rc; i++) {
		const struct pnm_hook *h = &pnm_hooks[i];
		struct bpf_program *prog = bpf_object__find_program_by_name(so->obj, h->prog);
		struct bpf_link *link;
		char why[160];

		if (!prog || !bpf_program__autoload(prog))
			continue;
		if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_SOCK_OPS)
			link = bpf_program__attach_cgroup(prog, cgfd);
		else
			link = bpf_program__attach(prog);
		if (!link) {
			rc = -errno;
			snprintf(why, sizeof(why), "cannot attach: %s", strerror(-rc));
			set_state(ps, h->prog, PNM_HOOK_REFUSED, why);
			if (h->required) {
				pr_warn("cannot attach %s: %s", h->what, strerror(-rc));
				break;
			}
			pr_info("cannot attach %s (%s): turned off", h->what, strerror(-rc));
			rc = 0;
			continue;
		}
		rc = pin_link(link, h->prog);
		if (rc)
			pr_warn("cannot pin %s: %s", h->prog, strerror(-rc));
	}
	close(cgfd);
	return rc;
}

/* Run an iterator link to its end, its output dropped. */
static int run_iter(struct bpf_link *link)
{
	char buf[4096];
	ssize_t got;
	int fd = bpf_iter_create(bpf_link__fd(link));

	if (fd < 0)
		return -errno;
	while ((got = read(fd, buf, sizeof(buf))) > 0 || (got < 0 && errno == EINTR))
		;
	close(fd);
	return got < 0 ? -errno : 0;
}

struct seed_pass {
	struct bpf_link *tcp, *udp;
};

/* In one network namespace: its TCP and UDP sockets. */
static int seed_netns(void *arg)
{
	const struct seed_pass *sp = arg;
	int rc = run_iter(sp->tcp);

	return rc ? rc : run_iter(sp->udp);
}

/* Give the sockets that existed before attach to the processes holding
 * them: a pass of an iterator over every process's open files (and, for
 * the sockets seeder, over each namespace's socket tables). */
static void seed_existing_sockets(struct sock_owner_bpf *so, const struct pnm_prog_group *g)
{
	struct seed_pass sp = { NULL, NULL };
	bool sockets = in_group(g, "pnm_seedfiles");
	struct bpf_link *files;
	int rc;

	files = bpf_program__attach_iter(sockets ? so->progs.pnm_seedfiles : so->progs.pnm_seed,
					 NULL);
	rc = files ? run_iter(files) : -errno;
	if (!rc && sockets) {
		sp.tcp = bpf_program__attach_iter(so->progs.pnm_tcpseed, NULL);
		sp.udp = sp.tcp ? bpf_program__attach_iter(so->progs.pnm_udpseed, NULL) : NULL;
		rc = sp.udp ? pnm_netns_each(seed_netns, &sp) : -errno;
	}
	bpf_link__destroy(sp.udp);
	bpf_link__destroy(sp.tcp);
	bpf_link__destroy(files);
	if (rc) {
		pr_warn("cannot list existing sockets (%s): they are attributed from their next "
			"send or receive",
			strerror(-rc));
		return;
	}
	if (so->bss->seed_full)
		pr_warn("%llu sockets that existed before attach were left to their next send "
			"or receive (more than %d)",
			(unsigned long long)so->bss->seed_full, PNM_SEED_SOCKETS);
	pr_info("%llu sockets that existed before attach were given to their processes",
		(unsigned long long)so->bss->seeded);
}

/* Programs PNM_DISABLE names are off as if the kernel had refused them
 * (for tests). */
static int apply_disable(struct prog_states *ps)
{
	const char *env = getenv("PNM_DISABLE");
	char list[1024], *save = NULL;

	if (!env || !env[0])
		return 0;
	snprintf(list, sizeof(list), "%s", env);
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!state_of(ps, tok)) {
			pr_warn("PNM_DISABLE: no program named '%s'", tok);
			return -EINVAL;
		}
		if (essential(tok)) {
			pr_warn("PNM_DISABLE: %s is essential: pnm-tc cannot count without it",
				tok);
			return -EINVAL;
		}
		set_state(ps, tok, PNM_HOOK_DISABLED, "turned off by PNM_DISABLE");
	}
	return 0;
}

/* PNM_READER/PNM_SEEDER: the group forced, or -1 for the best that loads. */
static int forced_group(const char *var, const struct pnm_prog_group *g, size_t n, int *idx)
{
	const char *env = getenv(var);

	*idx = -1;
	if (!env || !env[0])
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(g[i].name, env))
			*idx = (int)i;
	if (*idx < 0) {
		pr_warn("%s: no reader named '%s'", var, env);
		return -EINVAL;
	}
	return 0;
}

/* The first group at or after from that can still load; n when none. */
static size_t next_group(struct prog_states *ps, const struct pnm_prog_group *g, size_t n,
			 size_t from, int forced)
{
	if (forced >= 0)
		return from <= (size_t)forced && group_possible(ps, &g[forced]) ? (size_t)forced
										: n;
	while (from < n && !group_possible(ps, &g[from]))
		from++;
	return from;
}

struct load_plan {
	struct prog_states ps;
	size_t reader, seeder; /* index; n: none */
	int force_reader, force_seeder;
};

/* A probe's maps: of one entry where the type allows, pinned nowhere, so
 * that a refused program costs no real map's creation. */
static void probe_maps(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_HASH:
		case BPF_MAP_TYPE_ARRAY:
		case BPF_MAP_TYPE_PERCPU_HASH:
		case BPF_MAP_TYPE_PERCPU_ARRAY:
		case BPF_MAP_TYPE_LRU_HASH:
		case BPF_MAP_TYPE_LRU_PERCPU_HASH:
			if (!bpf_map__is_internal(map))
				bpf_map__set_max_entries(map, 1);
			break;
		default:
			break;
		}
		bpf_map__set_pin_path(map, NULL);
	}
}

/* Open the object as the plan says: the programs still on, of the chosen
 * reader and seeder only; a probe loads only those two. */
static struct sock_owner_bpf *open_planned(struct load_plan *lp, const struct pnm_sizes *sizes,
					   bool probe)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = PNM_PIN_DIR);
	struct sock_owner_bpf *so = sock_owner_bpf__open_opts(&opts);
	struct bpf_program *prog;

	if (!so)
		return NULL;
	set_sizes(so->obj, sizes);
	bpf_map__set_max_entries(so->maps.claim_hints, (uint32_t)pnm_ncpus() * PNM_HINTS);
	so->rodata->pnm_ncpus = (uint32_t)pnm_ncpus();
	so->rodata->pnm_fork_slots = sizes->procs ? sizes->procs : PNM_MAX_PROCS;
	so->rodata->pnm_files_reader = lp->reader < pnm_nreaders &&
				       pnm_readers[lp->reader].meta_flag == PNM_META_FILES_READER;
	so->rodata->pnm_task_btf =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK, BPF_FUNC_get_current_task_btf,
					NULL) == 1 &&
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
					BPF_FUNC_get_current_task_btf, NULL) == 1;
	bpf_object__for_each_program(prog, so->obj)
	{
		const char *name = bpf_program__name(prog);
		const struct pnm_hook_state *st = state_of(&lp->ps, name);
		int r = group_of(pnm_readers, pnm_nreaders, name);
		int sd = group_of(pnm_seeders, pnm_nseeders, name);
		bool on = st && st->state == PNM_HOOK_ACTIVE;

		if (r >= 0)
			on = (size_t)r == lp->reader;
		else if (sd >= 0)
			on = (size_t)sd == lp->seeder;
		else if (probe)
			on = false;
		bpf_program__set_autoload(prog, on);
	}
	if (probe)
		probe_maps(so->obj);
	return so;
}

/* Mark the programs of groups other than the chosen one unused. */
static void mark_unused(struct prog_states *ps, const struct pnm_prog_group *g, size_t n,
			size_t chosen, const char *kind)
{
	char why[160];

	for (size_t i = 0; i < n; i++) {
		if (i == chosen)
			continue;
		for (size_t j = 0; j < PNM_GROUP_PROGS && g[i].progs[j]; j++) {
			struct pnm_hook_state *st = state_of(ps, g[i].progs[j]);

			if (!st || st->state != PNM_HOOK_ACTIVE)
				continue;
			if (chosen < n)
				snprintf(why, sizeof(why), "the %s %s is used", g[chosen].name,
					 kind);
			else
				snprintf(why, sizeof(why), "no %s loads", kind);
			st->state = PNM_HOOK_UNUSED;
			snprintf(st->reason, sizeof(st->reason), "%s", why);
		}
	}
}

/*
 * Load the object, one refused program at a time: libbpf loads a skeleton
 * all or nothing, so a refused optional program is turned off, and the
 * object opened and loaded again without it (a refused reader or seeder:
 * the next one). The kernel's verdict on the real program decides, not a
 * guess from its version. An essential program refused ends it. A probe
 * loads only the readers and seeders, into maps of one entry.
 */
static struct sock_owner_bpf *load_planned(struct load_plan *lp, const struct pnm_sizes *sizes,
					   bool probe, int *err)
{
	struct pnm_load_failure lf;
	struct sock_owner_bpf *so;

	for (;;) {
		struct pnm_hook_state *st;
		const char *reason;
		int rc, r, sd;

		so = open_planned(lp, sizes, probe);
		if (!so) {
			*err = -errno;
			pr_warn("cannot open the BPF programs: %s", strerror(errno));
			return NULL;
		}
		pnm_log_capture(&lf);
		rc = sock_owner_bpf__load(so);
		pnm_log_capture(NULL);
		if (!rc)
			return so;
		sock_owner_bpf__destroy(so);
		st = state_of(&lp->ps, lf.prog);
		if (!st) {
			*err = rc;
			pr_warn("kernel refused the socket-owner object (%s; run with -vv for "
				"details)",
				strerror(-rc));
			return NULL;
		}
		reason = !strcmp(lf.reason_of, lf.prog) && lf.reason[0] ? lf.reason : strerror(-rc);
		set_state(&lp->ps, lf.prog, PNM_HOOK_REFUSED, reason);
		r = group_of(pnm_readers, pnm_nreaders, lf.prog);
		sd = group_of(pnm_seeders, pnm_nseeders, lf.prog);
		if (essential(lf.prog) || (r >= 0 && lp->force_reader >= 0) ||
		    (sd >= 0 && lp->force_seeder >= 0)) {
			*err = rc;
			if (essential(lf.prog))
				pr_warn("kernel refused %s, %s: %s (run with -vv for the "
					"verifier's "
					"log)",
					lf.prog, hook_what(lf.prog), reason);
			else
				pr_warn("kernel refused %s, of the %s %s forced by %s: %s", lf.prog,
					r >= 0 ? pnm_readers[lp->reader].name
					       : pnm_seeders[lp->seeder].name,
					r >= 0 ? "reader" : "seeder",
					r >= 0 ? "PNM_READER" : "PNM_SEEDER", reason);
			return NULL;
		}
		pr_info("kernel refused %s: %s", lf.prog, reason);
		if (r >= 0) {
			lp->reader = next_group(&lp->ps, pnm_readers, pnm_nreaders, lp->reader + 1,
						lp->force_reader);
			if (lp->reader == pnm_nreaders) {
				*err = rc;
				pr_warn("kernel refused every socket counter reader; the last, %s: "
					"%s (run with -vv for the verifier's log)",
					lf.prog, reason);
				return NULL;
			}
		} else if (sd >= 0) {
			lp->seeder = next_group(&lp->ps, pnm_seeders, pnm_nseeders, lp->seeder + 1,
						lp->force_seeder);
		}
	}
}

/* The plan before any load: every program on, but those the kernel lacks
 * an attach point for and those PNM_DISABLE names. */
static int plan_init(struct load_plan *lp, const struct btf *vmlinux)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = PNM_PIN_DIR);
	struct sock_owner_bpf *so = sock_owner_bpf__open_opts(&opts);
	struct bpf_program *prog;
	int rc;

	memset(lp, 0, sizeof(*lp));
	if (!so) {
		rc = -errno;
		pr_warn("cannot open the BPF programs: %s", strerror(errno));
		return rc;
	}
	bpf_object__for_each_program(prog, so->obj)
	{
		if (lp->ps.n == PNM_HOOK_SLOTS)
			break;
		snprintf(lp->ps.st[lp->ps.n++].prog, sizeof(lp->ps.st[0].prog), "%s",
			 bpf_program__name(prog));
	}
	sock_owner_bpf__destroy(so);
	for (size_t i = 0; i < pnm_nhooks; i++) {
		const struct pnm_hook *h = &pnm_hooks[i];
		char why[160];

		if (h->target[0] && !have_tracepoint(vmlinux, h->target)) {
			snprintf(why, sizeof(why), "the kernel lacks tracepoint %s", h->target);
			set_state(&lp->ps, h->prog, PNM_HOOK_ABSENT, why);
			pr_info("kernel lacks tracepoint %s: %s disabled", h->target, h->what);
		}
	}
	rc = apply_disable(&lp->ps);
	if (!rc)
		rc = forced_group("PNM_READER", pnm_readers, pnm_nreaders, &lp->force_reader);
	if (!rc)
		rc = forced_group("PNM_SEEDER", pnm_seeders, pnm_nseeders, &lp->force_seeder);
	if (rc)
		return rc;
	lp->reader = next_group(&lp->ps, pnm_readers, pnm_nreaders, 0, lp->force_reader);
	lp->seeder = next_group(&lp->ps, pnm_seeders, pnm_nseeders, 0, lp->force_seeder);
	if (lp->reader == pnm_nreaders) {
		pr_warn("no socket counter reader is left to load (PNM_DISABLE, PNM_READER)");
		return -EINVAL;
	}
	return 0;
}

/* One line for attach: the features off, and a reader or seeder other
 * than the best. */
static void say_what_is_off(const struct load_plan *lp)
{
	char line[1024] = "";
	size_t len = 0;

	for (size_t i = 0; i < lp->ps.n; i++) {
		const struct pnm_hook_state *st = &lp->ps.st[i];
		const char *why = st->state == PNM_HOOK_REFUSED	   ? "refused"
				  : st->state == PNM_HOOK_ABSENT   ? "not in this kernel"
				  : st->state == PNM_HOOK_DISABLED ? "PNM_DISABLE"
								   : NULL;

		if (!why || group_of(pnm_readers, pnm_nreaders, st->prog) >= 0 ||
		    group_of(pnm_seeders, pnm_nseeders, st->prog) >= 0)
			continue;
		if (len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s (%s)",
						len ? ", " : "", st->prog, why);
	}
	if (lp->seeder == pnm_nseeders && len < sizeof(line))
		len += (size_t)snprintf(line + len, sizeof(line) - len,
					"%sseeding of the sockets that existed before attach",
					len ? ", " : "");
	if (len)
		pr_warn("off on this kernel: %s; 'pnm-tc status' says what each covers and why",
			line);
	if (lp->reader || lp->seeder)
		pr_info("socket reader: %s; seeder: %s", pnm_readers[lp->reader].name,
			lp->seeder < pnm_nseeders ? pnm_seeders[lp->seeder].name : "none");
}

static int write_states(const struct sock_owner_bpf *so, const struct prog_states *ps)
{
	int fd = bpf_map__fd(so->maps.pnm_hookstate);

	for (uint32_t i = 0; i < ps->n; i++)
		if (bpf_map_update_elem(fd, &i, &ps->st[i], BPF_ANY))
			return -errno;
	return 0;
}

static uint32_t max_entries(int fd)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

int pnm_check_sizes(const struct pnm_maps *m, const struct pnm_sizes *sizes)
{
	uint32_t procs = max_entries(m->procstat), sockets = max_entries(m->conn);

	if ((sizes->procs && sizes->procs != procs) ||
	    (sizes->sockets && sizes->sockets != sockets)) {
		pr_warn("the maps were made with --max-processes %u --max-sockets %u; sizes change "
			"only when everything is detached",
			procs, sockets);
		return -EEXIST;
	}
	return 0;
}

int pnm_pins_share(gid_t gid)
{
	struct dirent *e;
	char path[PATH_MAX];
	DIR *d;
	int rc = 0;

	if (chown(PNM_PIN_DIR, (uid_t)-1, gid) || chmod(PNM_PIN_DIR, 0750))
		return -errno;
	d = opendir(PNM_PIN_DIR);
	if (!d)
		return -errno;
	while ((e = readdir(d)) && !rc) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, e->d_name);
		if (chown(path, (uid_t)-1, gid) || chmod(path, 0640))
			rc = -errno;
	}
	closedir(d);
	return rc;
}

int pnm_pins_group(gid_t *gid)
{
	struct stat st;

	if (lstat(PNM_PIN_DIR, &st))
		return -errno;
	*gid = (st.st_mode & 0050) ? st.st_gid : (gid_t)-1;
	return 0;
}

int pnm_state_create(const struct pnm_sizes *sizes)
{
	struct sock_owner_bpf *so = NULL;
	struct load_plan lp;
	struct btf *vmlinux = NULL;
	struct pnm_meta meta = { 0 };
	uint32_t zero = 0;
	bool mounted;
	int rc;

	/* Leftovers of an attach that was killed half-way are ours to clear
	 * (a bpffs it mounted included). */
	rc = pnm_state_destroy();
	if (rc)
		return rc;
	rc = mount_bpffs(&mounted);
	if (rc)
		return rc;
	if (mounted)
		meta.flags |= PNM_META_MOUNTED_BPFFS;
	if (mkdir(PNM_PIN_DIR, 0700) && errno != EEXIST) {
		rc = -errno;
		pr_warn("cannot create %s: %s", PNM_PIN_DIR, strerror(errno));
		goto fail;
	}
	/* Say so at once, on the file system: the meta that says it too comes
	 * only once the programs are loaded, and a kill in between must not
	 * leave an empty bpffs mounted for good. */
	if (mounted && mkdir(PNM_MOUNT_MARK, 0700)) {
		rc = -errno;
		pr_warn("cannot create %s: %s", PNM_MOUNT_MARK, strerror(errno));
		goto fail;
	}
	unlink(PNM_MOUNT_INTENT);
	rc = pin_dir_check();
	if (rc)
		goto fail;

	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		rc = -errno;
		pr_warn("cannot read the kernel's BTF: %s", strerror(errno));
		goto fail;
	}
	rc = plan_init(&lp, vmlinux);
	if (rc)
		goto fail;
	/* The readers and seeders, the programs kernels refuse most, are
	 * tried first with the maps cut down: the real load then mostly
	 * succeeds at once. */
	so = load_planned(&lp, sizes, true, &rc);
	sock_owner_bpf__destroy(so);
	so = so ? load_planned(&lp, sizes, false, &rc) : NULL;
	if (!so)
		goto fail;
	mark_unused(&lp.ps, pnm_readers, pnm_nreaders, lp.reader, "reader");
	mark_unused(&lp.ps, pnm_seeders, pnm_nseeders, lp.seeder, "seeder");
	meta.flags |= pnm_readers[lp.reader].meta_flag;
	/* The version is written last: until then the state is half-made, and
	 * the next attach or detach clears it. */
	rc = bpf_map_update_elem(bpf_map__fd(so->maps.pnm_meta), &zero, &meta, BPF_ANY);
	if (rc) {
		rc = -errno;
		pr_warn("cannot write %s: %s", PNM_MAP_META, strerror(-rc));
		goto fail;
	}
	rc = attach_hooks(so, &lp.ps);
	if (!rc)
		rc = attach_sockiter(so, &pnm_readers[lp.reader]);
	if (!rc && (rc = write_states(so, &lp.ps)))
		pr_warn("cannot write %s: %s", PNM_MAP_HOOKSTATE, strerror(-rc));
	if (rc)
		goto fail;
	/* After the hooks: a socket made meanwhile is already owned. */
	if (lp.seeder < pnm_nseeders)
		seed_existing_sockets(so, &pnm_seeders[lp.seeder]);
	say_what_is_off(&lp);
	if (pnm_flows_possible())
		meta.flags |= PNM_META_FLOWS;
	/* The TC programs' weak kfunc, resolved by libbpf the same way. */
	if (btf__find_by_name_kind(vmlinux, "bpf_cast_to_kern_ctx", BTF_KIND_FUNC) >= 0)
		meta.flags |= PNM_META_TUNNEL_GSO;
	meta.version = PNM_LAYOUT_VERSION;
	if (bpf_map_update_elem(bpf_map__fd(so->maps.pnm_meta), &zero, &meta, BPF_ANY)) {
		rc = -errno;
		pr_warn("cannot write %s: %s", PNM_MAP_META, strerror(-rc));
		goto fail;
	}
	sock_owner_bpf__destroy(so);
	btf__free(vmlinux);
	pr_info("loaded programs, pinned state under %s", PNM_PIN_DIR);
	return 0;
fail:
	sock_owner_bpf__destroy(so);
	btf__free(vmlinux);
	pnm_state_destroy();
	/* pnm_state_destroy() cannot read the meta of a half-made state. */
	if (mounted && is_bpffs(PNM_BPFFS))
		umount(PNM_BPFFS);
	return rc;
}

/* bpffs keeps these two entries of its own in every mount. */
static bool bpffs_empty(void)
{
	DIR *d = opendir(PNM_BPFFS);
	struct dirent *e;
	bool empty = true;

	if (!d)
		return false;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, "maps.debug") || !strcmp(e->d_name, "progs.debug"))
			continue;
		empty = false;
	}
	closedir(d);
	return empty;
}

int pnm_state_destroy(void)
{
	struct pnm_meta meta = { 0 };
	uint32_t zero = 0;
	char path[PATH_MAX];
	struct dirent *e;
	bool we_mounted, intent = !access(PNM_MOUNT_INTENT, F_OK);
	DIR *d;
	int fd, rc = 0;

	if (!is_bpffs(PNM_BPFFS)) {
		unlink(PNM_MOUNT_INTENT);
		return 0;
	}
	rc = pin_dir_check();
	if (rc)
		return rc;
	we_mounted = intent || !access(PNM_MOUNT_MARK, F_OK);
	snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, PNM_MAP_META);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		bpf_map_lookup_elem(fd, &zero, &meta);
		close(fd);
	}
	d = opendir(PNM_PIN_DIR);
	if (!d && errno != ENOENT)
		return -errno;
	/* Everything in our directory is ours: links (detaching the socket
	 * hooks as their last reference goes), programs and maps. */
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, e->d_name);
		if (unlink(path) && (errno != EISDIR || rmdir(path)) && !rc) {
			rc = -errno;
			pr_warn("cannot remove %s: %s", path, strerror(errno));
		}
	}
	if (d) {
		closedir(d);
		if (rmdir(PNM_PIN_DIR) && !rc) {
			rc = -errno;
			pr_warn("cannot remove %s: %s", PNM_PIN_DIR, strerror(errno));
		}
	}
	/* libxdp's directory, made for our first XDP program: removed when
	 * empty (another tool's programs may live there by now). */
	if (!rc && (meta.flags & PNM_META_MADE_XDP_DIR))
		rmdir(PNM_XDP_DIR);
	if (!rc && (we_mounted || (meta.flags & PNM_META_MOUNTED_BPFFS)) && bpffs_empty()) {
		if (umount(PNM_BPFFS))
			pr_warn("cannot unmount %s: %s", PNM_BPFFS, strerror(errno));
		else
			pr_info("unmounted bpffs from %s (pnm-tc had mounted it)", PNM_BPFFS);
	}
	if (!rc)
		unlink(PNM_MOUNT_INTENT);
	return rc;
}

int pnm_lock(void)
{
	char holder[32] = "";
	struct stat st;
	int fd, err;

	if (mkdir(PNM_LOCK_DIR, 0700) && errno != EEXIST) {
		err = errno;
		pr_warn("cannot create %s: %s", PNM_LOCK_DIR, strerror(err));
		return -err;
	}
	if (lstat(PNM_LOCK_DIR, &st) || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 0022)) {
		pr_warn("refusing lock directory %s: not a directory owned and writable only by "
			"root",
			PNM_LOCK_DIR);
		return -EPERM;
	}
	fd = open(PNM_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = errno;
		pr_warn("cannot open lock file %s: %s", PNM_LOCK_FILE, strerror(err));
		return -err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
		long pid;

		holder[n > 0 ? n : 0] = '\0';
		pid = strtol(holder, NULL, 10);
		if (pid > 0)
			pr_warn("waiting for another pnm-tc (pid %ld) that holds %s", pid,
				PNM_LOCK_FILE);
		else
			pr_warn("waiting for another pnm-tc that holds %s", PNM_LOCK_FILE);
		if (flock(fd, LOCK_EX)) {
			err = errno;
			close(fd);
			return -err;
		}
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(holder, sizeof(holder), "%d\n", getpid());

		if (pwrite(fd, holder, (size_t)n, 0) < 0)
			pr_debug("cannot record our pid in the lock file");
	}
	return fd;
}

void pnm_unlock(int fd)
{
	if (fd >= 0) {
		if (ftruncate(fd, 0))
			pr_debug("cannot clear the lock file");
		close(fd);
	}
}
