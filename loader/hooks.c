// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The socket hooks: the table of what each covers, the readers and
 * seeders that stand in for each other, attaching and pinning the hooks,
 * and pnm_state_create, which loads (plan.c), attaches and pins it all.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "sock_owner.skel.h"
#include "state.h"
#include "state_int.h"

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

static int attach_hooks(struct sock_owner_bpf *so, struct prog_states *ps)
{
	char cgpath[PATH_MAX];
	int cgfd, rc = 0;

	rc = pnm_cgroup2_root(cgpath, sizeof(cgpath));
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
			pnm_set_state(ps, h->prog, PNM_HOOK_REFUSED, why);
			if (h->required) {
				pr_warn("cannot attach %s: %s", h->what, strerror(-rc));
				break;
			}
			pr_info("cannot attach %s (%s): turned off", h->what, strerror(-rc));
			rc = 0;
			continue;
		}
		rc = pnm_pin_link(link, h->prog);
		if (rc)
			pr_warn("cannot pin %s: %s", h->prog, strerror(-rc));
	}
	close(cgfd);
	return rc;
}

static int write_states(const struct sock_owner_bpf *so, const struct prog_states *ps)
{
	int fd = bpf_map__fd(so->maps.pnm_hookstate);

	for (uint32_t i = 0; i < ps->n; i++)
		if (bpf_map_update_elem(fd, &i, &ps->st[i], BPF_ANY))
			return -errno;
	return 0;
}

/* The pin directory, and the mark that we mounted its bpffs. */
static int make_pin_dir(bool mounted)
{
	int rc;

	if (mkdir(PNM_PIN_DIR, 0700) && errno != EEXIST) {
		rc = -errno;
		pr_warn("cannot create %s: %s", PNM_PIN_DIR, strerror(errno));
		return rc;
	}
	/* Say so at once, on the file system: the meta that says it too comes
	 * only once the programs are loaded, and a kill in between must not
	 * leave an empty bpffs mounted for good. */
	if (mounted && mkdir(PNM_MOUNT_MARK, 0700)) {
		rc = -errno;
		pr_warn("cannot create %s: %s", PNM_MOUNT_MARK, strerror(errno));
		return rc;
	}
	unlink(PNM_MOUNT_INTENT);
	return pnm_pin_dir_check();
}

static int write_meta(const struct sock_owner_bpf *so, const struct pnm_meta *meta)
{
	uint32_t zero = 0;
	int rc;

	if (!bpf_map_update_elem(bpf_map__fd(so->maps.pnm_meta), &zero, meta, BPF_ANY))
		return 0;
	rc = -errno;
	pr_warn("cannot write %s: %s", PNM_MAP_META, strerror(-rc));
	return rc;
}

/* The hooks, the socket counter reader and the states status shows. */
static int attach_all(struct sock_owner_bpf *so, struct load_plan *lp)
{
	int rc = attach_hooks(so, &lp->ps);

	if (!rc)
		rc = pnm_attach_sockiter(so, &pnm_readers[lp->reader]);
	if (!rc && (rc = write_states(so, &lp->ps)))
		pr_warn("cannot write %s: %s", PNM_MAP_HOOKSTATE, strerror(-rc));
	return rc;
}

int pnm_state_create(const struct pnm_sizes *sizes)
{
	struct sock_owner_bpf *so = NULL;
	struct load_plan lp;
	struct btf *vmlinux = NULL;
	struct pnm_meta meta = { 0 };
	bool mounted;
	int rc;

	/* Leftovers of an attach that was killed half-way are ours to clear
	 * (a bpffs it mounted included). */
	rc = pnm_state_destroy();
	if (rc)
		return rc;
	rc = pnm_mount_bpffs(&mounted);
	if (rc)
		return rc;
	if (mounted)
		meta.flags |= PNM_META_MOUNTED_BPFFS;
	rc = make_pin_dir(mounted);
	if (rc)
		goto fail;
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		rc = -errno;
		pr_warn("cannot read the kernel's BTF: %s", strerror(errno));
		goto fail;
	}
	rc = pnm_plan_load(&lp, sizes, vmlinux, &so);
	if (!so)
		goto fail;
	meta.flags |= pnm_readers[lp.reader].meta_flag;
	/* The version is written last: until then the state is half-made, and
	 * the next attach or detach clears it. */
	rc = write_meta(so, &meta);
	if (!rc)
		rc = attach_all(so, &lp);
	if (rc)
		goto fail;
	/* After the hooks: a socket made meanwhile is already owned. */
	if (lp.seeder < pnm_nseeders)
		pnm_seed_sockets(so, &pnm_seeders[lp.seeder]);
	pnm_say_what_is_off(&lp);
	if (pnm_flows_possible())
		meta.flags |= PNM_META_FLOWS;
	/* The TC programs' weak kfunc, resolved by libbpf the same way. */
	if (btf__find_by_name_kind(vmlinux, "bpf_cast_to_kern_ctx", BTF_KIND_FUNC) >= 0)
		meta.flags |= PNM_META_TUNNEL_GSO;
	meta.version = PNM_LAYOUT_VERSION;
	rc = write_meta(so, &meta);
	if (rc)
		goto fail;
	sock_owner_bpf__destroy(so);
	btf__free(vmlinux);
	pr_info("loaded programs, pinned state under %s", PNM_PIN_DIR);
	return 0;
fail:
	sock_owner_bpf__destroy(so);
	btf__free(vmlinux);
	pnm_state_destroy();
	/* pnm_state_destroy() cannot read the meta of a half-made state. */
	if (mounted && pnm_is_bpffs(PNM_BPFFS))
		umount(PNM_BPFFS);
	return rc;
}
