// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pins under PNM_PIN_DIR and the bpffs they live in: the pin
 * directory's check, whether a state is present, opening the pinned maps,
 * the meta flags, reusing the maps from a new object, mounting bpffs,
 * sharing the pins with a group, and destroying the state.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "state.h"
#include "state_int.h"

/* Our pin directory is a real directory that only root owns and writes:
 * never a symlink (detach unlinks everything in it), never somebody
 * else's. Absent is fine. Says why once. */
int pnm_pin_dir_check(void)
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

	if (!pnm_is_bpffs(PNM_BPFFS))
		return 0;
	err = pnm_pin_dir_check();
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

int pnm_explain_open_error(int rc)
{
	if (rc == -ENOENT)
		pr_warn("nothing is attached; start with 'pnm-tc attach IFACE'");
	else if (rc == -EPROTO)
		pr_warn("the state pinned under %s is from another pnm-tc version; detach with "
			"that version first",
			PNM_PIN_DIR);
	else if (rc)
		pr_warn("cannot open the maps pinned under %s: %s", PNM_PIN_DIR, strerror(-rc));
	return rc;
}

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

int pnm_mount_bpffs(bool *mounted)
{
	int fd;

	*mounted = false;
	if (pnm_is_bpffs(PNM_BPFFS))
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

int pnm_pin_link(struct bpf_link *link, const char *prog)
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

	if (!pnm_is_bpffs(PNM_BPFFS)) {
		unlink(PNM_MOUNT_INTENT);
		return 0;
	}
	rc = pnm_pin_dir_check();
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
