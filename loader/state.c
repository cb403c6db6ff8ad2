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
	{ "pnm_sendmsg4", "", "unconnected UDP sends before transmit (cgroup/sendmsg4)", true },
	{ "pnm_sendmsg6", "", "unconnected UDP sends before transmit (cgroup/sendmsg6)", true },
	{ "pnm_connect4", "",
	  "UDP reconnects: the flow cache forgets the old peer (cgroup/connect4)", true },
	{ "pnm_connect6", "",
	  "UDP reconnects: the flow cache forgets the old peer (cgroup/connect6)", true },
	{ "pnm_post_bind4", "",
	  "UDP binds to a shareable port: the flow cache forgets unconnected senders "
	  "(cgroup/post_bind4)",
	  true },
	{ "pnm_post_bind6", "",
	  "UDP binds to a shareable port: the flow cache forgets unconnected senders "
	  "(cgroup/post_bind6)",
	  true },
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
	{ PNM_MAP_CLOSED, offsetof(struct pnm_maps, closed), sizeof(struct pnm_tuple),
	  sizeof(struct pnm_owner) },
	{ PNM_MAP_META, offsetof(struct pnm_maps, meta), 4, sizeof(struct pnm_meta) },
	{ PNM_MAP_SKCOOKIE, offsetof(struct pnm_maps, skcookie), 8, sizeof(struct pnm_owner) },
	{ PNM_MAP_PARENT, offsetof(struct pnm_maps, parent), sizeof(struct pnm_owner),
	  sizeof(struct pnm_owner) },
	{ PNM_MAP_CONN, offsetof(struct pnm_maps, conn), 8, sizeof(struct pnm_conn) },
	{ PNM_MAP_EVENTS, offsetof(struct pnm_maps, events), 0, 0 },
	{ PNM_MAP_EVCFG, offsetof(struct pnm_maps, evcfg), 4, sizeof(struct pnm_evcfg) },
	{ PNM_MAP_EVPIDS, offsetof(struct pnm_maps, evpids), 4, 4 },
	{ PNM_MAP_EVLOST, offsetof(struct pnm_maps, evlost), 4, 8 },
	{ PNM_MAP_EVDST, offsetof(struct pnm_maps, evdst), 8, 24 },
	{ PNM_MAP_FOLDS, offsetof(struct pnm_maps, folds), 4, sizeof(struct pnm_folds) },
	{ PNM_MAP_FLOWS, offsetof(struct pnm_maps, flows), 4, sizeof(struct pnm_flow) },
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

/* Read the pinned iterator name to its end: its output in *out (len
 * bytes; the caller frees it), or dropped (out NULL). */
static int read_iter(const char *name, char **out, size_t *len)
{
	char path[PATH_MAX], discard[4096], *buf = NULL;
	size_t cap = 0;
	ssize_t got;
	int fd, rc = 0;

	*len = 0;
	snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (out && *len == cap) {
			char *grown;

			cap = cap ? 2 * cap : 64 * sizeof(struct pnm_sock_rec);
			grown = realloc(buf, cap);
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			buf = grown;
		}
		got = out ? read(fd, buf + *len, cap - *len) : read(fd, discard, sizeof(discard));
		if (!got)
			break;
		if (got > 0) {
			*len += (size_t)got;
		} else if (errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	close(fd);
	if (rc || !out)
		free(buf);
	else
		*out = buf;
	return rc;
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
	 * pnm_conn's column itself at its end. */
	bool files = pnm_meta_has(m, PNM_META_FILES_READER);
	struct pnm_meta meta;
	uint32_t zero = 0;
	char *buf = NULL;
	size_t len, clen;
	int rc;

	if (req) {
		if (bpf_map_lookup_elem(m->meta, &zero, &meta))
			return -errno;
		meta.clear_slot = req->clear_slot;
		meta.fill_owners = req->fill_owners;
		if (bpf_map_update_elem(m->meta, &zero, &meta, BPF_EXIST))
			return -errno;
	}
	rc = read_iter(PNM_SOCKITER, out ? &buf : NULL, &len);
	if (!rc && req && req->clear_slot && !files)
		rc = read_iter(PNM_CONNITER, NULL, &clen);
	if (req && !bpf_map_lookup_elem(m->meta, &zero, &meta)) {
		meta.clear_slot = 0;
		meta.fill_owners = 0;
		bpf_map_update_elem(m->meta, &zero, &meta, BPF_EXIST);
	}
	if (rc) {
		free(buf);
		return rc;
	}
	if (out) {
		*out = (struct pnm_sock_rec *)buf;
		*n = len / sizeof(**out);
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
	/* The hooks that end entries (closes). */
	static const char *const need[] = { "pnm_sock_release", "pnm_tcp_state" };

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

/* Does this kernel load map iterators? Some hardened builds refuse them
 * (EPERM) while they load the task iterators. */
static bool map_iters_load(const struct btf *vmlinux)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_ITER);
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int id = btf__find_by_name_kind(vmlinux, "bpf_iter_bpf_sk_storage_map", BTF_KIND_FUNC);
	int fd;

	if (id < 0)
		return false;
	opts.attach_btf_id = (uint32_t)id;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "pnm_probe", "Dual BSD/GPL", insns,
			   sizeof(insns) / sizeof(insns[0]), &opts);
	if (fd < 0)
		return false;
	close(fd);
	return true;
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
 * the iterator over pnm_conn that detach runs (none with the open-files
 * reader, which does its work). */
static int attach_sockiter(struct sock_owner_bpf *so)
{
	int rc;

	if (so->rodata->pnm_files_reader)
		return pin_iter(so->progs.pnm_sockfiles, -1, "pnm_sockiter",
				"the socket counter reader (iter/task_file)");
	rc = pin_iter(so->progs.pnm_sockiter, bpf_map__fd(so->maps.pnm_sockowner), "pnm_sockiter",
		      "the socket counter reader (iter/bpf_sk_storage_map, Linux 5.9+)");
	return rc ? rc
		  : pin_iter(so->progs.pnm_conniter, bpf_map__fd(so->maps.pnm_conn), "pnm_conniter",
			     "the connection map iterator (iter/bpf_map_elem)");
}

static int attach_hooks(struct sock_owner_bpf *so, const struct btf *vmlinux)
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

		if (!prog || !bpf_program__autoload(prog))
			continue;
		if (h->target[0] && !have_tracepoint(vmlinux, h->target))
			continue;
		if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_SOCK_OPS)
			link = bpf_program__attach_cgroup(prog, cgfd);
		else
			link = bpf_program__attach(prog);
		if (!link) {
			rc = -errno;
			pr_warn("cannot attach %s: %s", h->what, strerror(errno));
			break;
		}
		rc = pin_link(link, h->prog);
		if (rc)
			pr_warn("cannot pin %s: %s", h->prog, strerror(-rc));
	}
	close(cgfd);
	return rc ? rc : attach_sockiter(so);
}

/* Give the sockets that existed before attach to the processes holding
 * them: one pass of the iterator over every process's open files. */
static void seed_existing_sockets(struct sock_owner_bpf *so)
{
	struct bpf_link *link = bpf_program__attach_iter(so->progs.pnm_seed, NULL);
	char buf[256];
	int fd;

	if (!link) {
		pr_warn("cannot list existing sockets (%s): they are attributed from their next "
			"send or receive",
			strerror(errno));
		return;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd >= 0) {
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	bpf_link__destroy(link);
	pr_info("%llu sockets that existed before attach were given to their processes",
		(unsigned long long)so->bss->seeded);
}

static uint32_t max_entries(int fd)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

int pnm_check_sizes(const struct pnm_maps *m, const struct pnm_sizes *sizes)
{
	uint32_t procs = max_entries(m->procstat), sockets = max_entries(m->closed);

	if ((sizes->procs && sizes->procs != procs) ||
	    (sizes->sockets && sizes->sockets != sockets)) {
		pr_warn("the maps were made with --max-processes %u --max-sockets %u; sizes change "
			"only when everything is detached",
			procs, sockets);
		return -EEXIST;
	}
	return 0;
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
		    (!strcmp(name, PNM_MAP_CLOSED) || !strcmp(name, PNM_MAP_SKCOOKIE) ||
		     !strcmp(name, PNM_MAP_CONN)))
			bpf_map__set_max_entries(map, sizes->sockets);
		/* A block of entries per possible CPU (bpf/maps.bpf.h). */
		if (!strcmp(name, PNM_MAP_FLOWS))
			bpf_map__set_max_entries(map, (uint32_t)pnm_ncpus() * 2 * PNM_FLOWS);
	}
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
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = PNM_PIN_DIR);
	struct sock_owner_bpf *so = NULL;
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
	so = sock_owner_bpf__open_opts(&opts);
	if (!so) {
		rc = -errno;
		pr_warn("cannot open the BPF programs: %s", strerror(errno));
		goto fail;
	}
	set_sizes(so->obj, sizes);
	bpf_map__set_max_entries(so->maps.claim_hints, (uint32_t)pnm_ncpus() * PNM_HINTS);
	so->rodata->pnm_ncpus = (uint32_t)pnm_ncpus();
	so->rodata->pnm_files_reader = !map_iters_load(vmlinux);
	if (so->rodata->pnm_files_reader) {
		pr_info("kernel refuses map iterators: socket counters are read from open files");
		bpf_program__set_autoload(so->progs.pnm_sockiter, false);
		bpf_program__set_autoload(so->progs.pnm_conniter, false);
		meta.flags |= PNM_META_FILES_READER;
	} else {
		bpf_program__set_autoload(so->progs.pnm_sockfiles, false);
	}
	so->rodata->pnm_task_btf =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK, BPF_FUNC_get_current_task_btf,
					NULL) == 1 &&
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
					BPF_FUNC_get_current_task_btf, NULL) == 1;
	/* Optional hooks this kernel lacks are skipped; status lists them. */
	for (size_t i = 0; i < pnm_nhooks; i++) {
		const struct pnm_hook *h = &pnm_hooks[i];
		struct bpf_program *prog = bpf_object__find_program_by_name(so->obj, h->prog);

		if (prog && h->target[0] && !have_tracepoint(vmlinux, h->target)) {
			pr_info("kernel lacks tracepoint %s: %s disabled", h->target, h->what);
			bpf_program__set_autoload(prog, false);
		}
	}
	rc = sock_owner_bpf__load(so);
	if (rc) {
		pr_warn("kernel refused the socket-owner programs (%s): it needs sk_storage, "
			"cgroup sock and sockops support (Linux 5.15+; run with -vv for details)",
			strerror(-rc));
		goto fail;
	}
	/* The version is written last: until then the state is half-made, and
	 * the next attach or detach clears it. */
	rc = bpf_map_update_elem(bpf_map__fd(so->maps.pnm_meta), &zero, &meta, BPF_ANY);
	if (rc) {
		rc = -errno;
		pr_warn("cannot write %s: %s", PNM_MAP_META, strerror(-rc));
		goto fail;
	}
	rc = attach_hooks(so, vmlinux);
	if (rc)
		goto fail;
	/* After the hooks: a socket made meanwhile is already owned. */
	seed_existing_sockets(so);
	if (pnm_flows_possible())
		meta.flags |= PNM_META_FLOWS;
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
