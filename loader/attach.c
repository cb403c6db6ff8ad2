// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * attach and detach: where the counting programs go. Both are all-or-nothing
 * and serialised by a lock; only pnm-tc's own filters, XDP program, clsact
 * (when pnm-tc created it) and pins are ever removed.
 *
 * Each attached interface has a slot: its counters (pnm_ifstat), its record
 * (pnm_ifcfg) and its own instance of the counting programs, loaded with the
 * slot, layer and header length built in. An interface lives in a network
 * namespace; the netlink work on it happens inside that namespace.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cmd.h"
#include "format.h"
#include "iface.h"
#include "log.h"
#include "netns.h"
#include "parse.h"
#include "state.h"
#include "tc_count.skel.h"
#include "xdp_count.skel.h"

static const char *const dir_name[PNM_NDIR] = { "ingress", "egress" };
static const char *const tc_prog_name[PNM_NDIR] = { "pnm_tc_ingress", "pnm_tc_egress" };
#define XDP_PROG_NAME "pnm_xdp_ingress"

/* "eth0", or "ns1/eth0" outside the initial network namespace. */
#define LABEL(cfg, buf) pnm_if_label((cfg)->netns, (cfg)->name, buf, sizeof(buf))
#define LABEL_LEN (PNM_NETNS_LEN + PNM_IFNAME_LEN)

/* Zero an interface's per-CPU counter slot. */
static int zero_slot(const struct pnm_maps *m, uint32_t slot)
{
	void *zero = calloc((size_t)pnm_ncpus(), sizeof(struct pnm_if_stats));
	int rc;

	if (!zero)
		return -ENOMEM;
	rc = bpf_map_update_elem(m->ifstat, &slot, zero, BPF_ANY) ? -errno : 0;
	free(zero);
	return rc;
}

/* Walk the interface records: each call gives the next (slot, record). */
static bool next_cfg(const struct pnm_maps *m, uint32_t **prev, uint32_t *slot,
		     struct pnm_if_cfg *cfg)
{
	uint32_t next;

	while (!bpf_map_get_next_key(m->ifcfg, *prev, &next)) {
		*slot = next;
		*prev = slot;
		if (!bpf_map_lookup_elem(m->ifcfg, slot, cfg))
			return true;
	}
	return false;
}

/* The record of interface ifindex in namespace ino: 0 and its slot. */
static int find_cfg(const struct pnm_maps *m, uint64_t ino, uint32_t ifindex, uint32_t *slot,
		    struct pnm_if_cfg *cfg)
{
	uint32_t key, *prev = NULL;

	while (next_cfg(m, &prev, &key, cfg)) {
		if (cfg->netns_ino == ino && cfg->ifindex == ifindex) {
			*slot = key;
			return 0;
		}
	}
	return -ENOENT;
}

static int free_slot(const struct pnm_maps *m, uint32_t *slot)
{
	bool used[PNM_MAX_IFACES] = { false };
	uint32_t key, *prev = NULL;
	struct pnm_if_cfg cfg;

	while (next_cfg(m, &prev, &key, &cfg))
		if (key < PNM_MAX_IFACES)
			used[key] = true;
	for (uint32_t s = 0; s < PNM_MAX_IFACES; s++) {
		if (!used[s]) {
			*slot = s;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Drop every process counter of one interface. */
static void drop_proc_counters(const struct pnm_maps *m, uint32_t slot)
{
	struct pnm_proc_key key, next;
	bool have = false;

	while (!bpf_map_get_next_key(m->procstat, have ? &key : NULL, &next)) {
		if (have && key.slot == slot)
			bpf_map_delete_elem(m->procstat, &key);
		key = next;
		have = true;
	}
	if (have && key.slot == slot)
		bpf_map_delete_elem(m->procstat, &key);
}

/* Remove our ingress XDP program or one TC filter: 0 removed, -ENOENT not
 * there (never attached, or gone), -EBUSY not ours any more (left alone),
 * else -errno; says why when it matters. */
static int remove_hook(const struct pnm_if_cfg *cfg, int d, const char *label)
{
	struct pnm_filter f = pnm_filter_of(cfg, d);
	int err;

	if (d == PNM_IN && (cfg->flags & PNM_IF_XDP)) {
		err = pnm_xdp_detach(cfg->ifindex, cfg->prog_id[d], XDP_PROG_NAME);
		if (err && err != -ENOENT && err != -ENODEV)
			pr_warn("cannot remove the XDP program from %s: %s", label, strerror(-err));
		return err == -ENODEV ? -ENOENT : err;
	}
	if (!f.tcx && !f.handle && !f.prio)
		return -ENOENT; /* never attached */
	err = pnm_filter_detach(cfg->ifindex, d, &f, tc_prog_name[d]);
	if (err == -EBUSY)
		pr_warn("%s %s: the filter at prio %u is no longer pnm-tc's; left alone", label,
			dir_name[d], f.prio);
	else if (err && err != -ENOENT && err != -ENODEV)
		pr_warn("cannot remove the %s filter from %s: %s", dir_name[d], label,
			strerror(-err));
	return err == -ENODEV ? -ENOENT : err;
}

/* The last XDP ingress is gone: the socket hooks stop keeping the owner
 * copy for it (the next attach --xdp fills it again for every socket). */
static void xdp_owners_unused(const struct pnm_maps *m)
{
	uint32_t slot, *prev = NULL;
	struct pnm_if_cfg cfg;

	while (next_cfg(m, &prev, &slot, &cfg))
		if (cfg.flags & PNM_IF_XDP)
			return;
	pnm_meta_flags(m, 0, PNM_META_XDP_OWNERS);
}

/*
 * Take one interface back to how it was before attach: our filters and XDP
 * program, the clsact if we created it and nothing else uses it, our
 * records. A vanished interface (or namespace) took its hooks with it.
 */
static int release_iface(const struct pnm_maps *m, uint32_t slot, const struct pnm_if_cfg *cfg)
{
	char label[LABEL_LEN];
	struct pnm_link link;
	bool exists, removed, ours;
	int rc = 0, prev;

	LABEL(cfg, label);
	rc = pnm_netns_enter(cfg->netns_ino, cfg->netns, &prev);
	if (rc == -ENOENT) {
		pr_info("%s: its network namespace is gone, and the interface with it", label);
		goto drop;
	} else if (rc) {
		pr_warn("cannot enter the network namespace of %s: %s", label, strerror(-rc));
		return rc;
	}
	/* Same index and name: the interface we attached to (an index the
	 * kernel gave to a newer interface is somebody else's), or one of our
	 * hooks is still on it (it was renamed). */
	exists = !pnm_link_by_index(cfg->ifindex, &link);
	ours = exists && !strcmp(link.name, cfg->name);
	for (int d = 0; exists && d < PNM_NDIR; d++) {
		int err = remove_hook(cfg, d, label);

		if (!err)
			ours = true;
		else if (err != -ENOENT && err != -EBUSY)
			rc = err;
	}
	if (ours && !rc && (cfg->flags & PNM_IF_CREATED_CLSACT)) {
		int err = pnm_clsact_remove_if_empty(cfg->ifindex, &removed);

		if (err)
			pr_warn("cannot remove clsact from %s: %s", label, strerror(-err));
		else if (!removed)
			pr_info("%s: clsact holds other filters now; left in place", label);
	}
	pnm_netns_leave(prev);
	if (rc)
		return rc;
drop:
	/* Its column in every socket first: a fold meanwhile would bring
	 * counters back. */
	pnm_sockets_read(m, &(struct pnm_sockets_req){ .clear_slot = slot + 1 }, NULL, NULL);
	drop_proc_counters(m, slot);
	bpf_map_delete_elem(m->ifcfg, &slot);
	zero_slot(m, slot);
	if (cfg->flags & PNM_IF_XDP)
		xdp_owners_unused(m);
	pr_info("detached from %s", label);
	return 0;
}

/* A record of the same name and namespace under another ifindex is an
 * interface that was deleted (and perhaps re-created): its hooks went with
 * it. */
static int release_same_name(const struct pnm_maps *m, uint64_t ino, const struct pnm_link *l)
{
	uint32_t slot, *prev = NULL;
	struct pnm_if_cfg cfg;

	while (next_cfg(m, &prev, &slot, &cfg)) {
		if (cfg.netns_ino != ino || cfg.ifindex == l->ifindex || strcmp(cfg.name, l->name))
			continue;
		pr_info("%s: dropping the record of its earlier incarnation (ifindex %u)", l->name,
			cfg.ifindex);
		return release_iface(m, slot, &cfg);
	}
	return 0;
}

/* Our hooks still in place on the interface (call inside its namespace)? */
static bool hooks_intact(const struct pnm_if_cfg *cfg)
{
	for (int d = 0; d < PNM_NDIR; d++) {
		struct pnm_filter f = pnm_filter_of(cfg, d);
		uint32_t id;

		if (d == PNM_IN && (cfg->flags & PNM_IF_XDP)) {
			if (!pnm_xdp_attached(cfg->ifindex, cfg->prog_id[d]))
				return false;
		} else if (pnm_filter_query(cfg->ifindex, d, &f, &id) || id != cfg->prog_id[d]) {
			return false;
		}
	}
	return true;
}

static uint32_t prog_id_of(const struct bpf_program *p)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) ? 0 : info.id;
}

/* A generation for a new attach, never 0: flow-cache entries made for an
 * earlier interface in the same slot do not count for this one. */
static uint32_t attach_gen(void)
{
	struct timespec ts;
	uint32_t g;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	g = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u;
	return g ? g : 1;
}

/*
 * The load-time constants of an interface's packet programs (maps/pnm.h):
 * each marked 64-bit immediate gets its value. A mark with an id we do not
 * know fails the load rather than run with it.
 */
static int set_consts(struct bpf_object *obj, const uint64_t val[PNM_C_COUNT])
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
	{
		size_t n = bpf_program__insn_cnt(prog);
		struct bpf_insn *insn = malloc(n * sizeof(*insn));
		int rc;

		if (!insn)
			return -ENOMEM;
		memcpy(insn, bpf_program__insns(prog), n * sizeof(*insn));
		for (size_t i = 0; i + 1 < n; i++) {
			uint32_t id = (uint32_t)insn[i].imm;

			if (insn[i].code != (BPF_LD | BPF_IMM | BPF_DW))
				continue;
			if (!insn[i].src_reg && (uint32_t)insn[i + 1].imm == PNM_CONST_MARK) {
				if (!id || id >= PNM_C_COUNT) {
					free(insn);
					pr_warn("program %s has an unknown load-time constant (%u)",
						bpf_program__name(prog), id);
					return -EINVAL;
				}
				insn[i].imm = (int32_t)(uint32_t)val[id];
				insn[i + 1].imm = (int32_t)(uint32_t)(val[id] >> 32);
			}
			i++; /* its second half */
		}
		rc = bpf_program__set_insns(prog, insn, n);
		free(insn);
		if (rc)
			return rc;
	}
	return 0;
}

/* This interface's instance of the TC programs (egress only with XDP). */
static int load_tc(const struct pnm_maps *m, const struct pnm_if_cfg *cfg, uint32_t slot,
		   struct tc_count_bpf **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = PNM_PIN_DIR);
	struct tc_count_bpf *tc = tc_count_bpf__open_opts(&opts);
	int rc;

	*out = tc;
	if (!tc)
		return -errno;
	if (cfg->flags & PNM_IF_XDP)
		bpf_program__set_autoload(tc->progs.pnm_tc_ingress, false);
	rc = set_consts(tc->obj, (uint64_t[PNM_C_COUNT]){
					 [PNM_C_SLOT] = slot,
					 [PNM_C_L2_LEN] = cfg->l2_len,
					 [PNM_C_LAYER] = cfg->layer,
					 [PNM_C_GEN] = cfg->gen,
					 [PNM_C_FLOWS_ON] = pnm_meta_has(m, PNM_META_FLOWS),
					 [PNM_C_NETNS_INO] = cfg->netns_ino,
				 });
	if (!rc)
		rc = pnm_reuse_maps(tc->obj);
	return rc ? rc : tc_count_bpf__load(tc);
}

/* Does another tool's XDP program hold the hook alone (no dispatcher for
 * ours to join)? Says so. */
static bool xdp_hook_taken(uint32_t ifindex, const char *label)
{
	char other[64];
	uint32_t id;

	if (pnm_xdp_foreign(ifindex, other, sizeof(other), &id) || !strcmp(other, XDP_PROG_NAME))
		return false;
	pr_warn("%s runs XDP program %s (id %u) outside a libxdp dispatcher: pnm-tc cannot run "
		"beside it; attach without --xdp to count ingress at TC",
		label, other, id);
	return true;
}

/* Count ingress at XDP: libxdp loads our instance and adds it to the
 * interface's dispatcher. */
static int attach_xdp(const struct pnm_maps *m, struct pnm_if_cfg *cfg, uint32_t slot,
		      const char *label)
{
	bool had_dir = !access(PNM_XDP_DIR, F_OK);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = PNM_PIN_DIR);
	struct xdp_count_bpf *x;
	bool skb_mode;
	int rc;

	if (xdp_hook_taken(cfg->ifindex, label))
		return -EBUSY;
	x = xdp_count_bpf__open_opts(&opts);
	if (!x)
		return -errno;
	rc = set_consts(x->obj, (uint64_t[PNM_C_COUNT]){
					[PNM_C_SLOT] = slot,
					[PNM_C_L2_LEN] = cfg->l2_len,
					[PNM_C_LAYER] = cfg->layer,
					[PNM_C_GEN] = cfg->gen,
				});
	if (!rc)
		rc = pnm_reuse_maps(x->obj);
	/* The XDP program finds owners in pnm_skcookie: from now on the
	 * socket hooks keep it, and the sockets that exist get theirs. */
	if (!rc) {
		pnm_meta_flags(m, PNM_META_XDP_OWNERS, 0);
		rc = pnm_sockets_read(m, &(struct pnm_sockets_req){ .fill_owners = true }, NULL,
				      NULL);
		if (rc)
			pr_warn("cannot give the existing sockets' owners to XDP: %s",
				strerror(-rc));
	}
	if (!rc)
		rc = pnm_xdp_attach(cfg->ifindex, x->obj, &cfg->prog_id[PNM_IN], &skb_mode);
	xdp_count_bpf__destroy(x);
	if (!had_dir && !access(PNM_XDP_DIR, F_OK))
		pnm_meta_flags(m, PNM_META_MADE_XDP_DIR, 0);
	if (rc)
		pr_warn("cannot attach the XDP program to %s: %s (run with -vv for libxdp's "
			"log)",
			label, strerror(-rc));
	else if (skb_mode)
		cfg->flags |= PNM_IF_XDP_SKB;
	return rc;
}

/* --tc-hook: where the TC programs go (auto: tcx where the kernel has it). */
enum tc_hook { HOOK_AUTO, HOOK_TCX, HOOK_CLSACT };
static const char *const hook_name[] = { "auto", "tcx", "clsact" };

/* Attach to one interface; call inside its network namespace ns. */
static int attach_iface(const struct pnm_maps *m, const struct pnm_netns *ns,
			const struct pnm_link *l, uint32_t layer, bool xdp, enum tc_hook hook,
			bool *is_new)
{
	struct pnm_if_cfg cfg = { 0 };
	struct tc_count_bpf *tc = NULL;
	char label[LABEL_LEN];
	uint32_t slot;
	bool created = false, tcx;
	int rc;

	*is_new = false;
	pnm_if_label(ns->name, l->name, label, sizeof(label));
	if (!find_cfg(m, ns->ino, l->ifindex, &slot, &cfg)) {
		if (hooks_intact(&cfg)) {
			pr_info("%s is already attached", label);
			return 0;
		}
		/* Our hooks were removed behind our back: start afresh. */
		rc = release_iface(m, slot, &cfg);
		if (rc)
			return rc;
	}
	rc = release_same_name(m, ns->ino, l);
	if (rc)
		return rc;
	rc = free_slot(m, &slot);
	if (rc) {
		pr_warn("cannot attach %s: already %d interfaces attached", label, PNM_MAX_IFACES);
		return rc;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.netns_ino = ns->ino;
	cfg.ifindex = l->ifindex;
	cfg.l2_len = l->l2_len;
	cfg.layer = layer;
	cfg.flags = xdp ? PNM_IF_XDP : 0;
	cfg.gen = attach_gen();
	snprintf(cfg.name, sizeof(cfg.name), "%s", l->name);
	snprintf(cfg.netns, sizeof(cfg.netns), "%s", ns->name);
	rc = zero_slot(m, slot);
	if (!rc && bpf_map_update_elem(m->ifcfg, &slot, &cfg, BPF_NOEXIST))
		rc = -errno;
	if (rc) {
		pr_warn("cannot record %s: %s", label, strerror(-rc));
		return rc;
	}
	*is_new = true;
	tcx = hook == HOOK_TCX || (hook == HOOK_AUTO && pnm_tcx_supported(l->ifindex));

	rc = load_tc(m, &cfg, slot, &tc);
	if (rc) {
		pr_warn("kernel refused the counting programs for %s (%s): run with -vv for "
			"details",
			label, strerror(-rc));
		goto out;
	}
	if (tcx) {
		cfg.flags |= PNM_IF_TCX;
	} else {
		rc = pnm_clsact_ensure(l->ifindex, &created);
		if (rc) {
			pr_warn("cannot add a clsact qdisc to %s: %s", label, strerror(-rc));
			goto out;
		}
		if (created)
			cfg.flags |= PNM_IF_CREATED_CLSACT;
	}
	for (int d = 0; d < PNM_NDIR && !rc; d++) {
		struct bpf_program *p =
			d == PNM_IN ? tc->progs.pnm_tc_ingress : tc->progs.pnm_tc_egress;
		struct pnm_filter f = { .tcx = tcx };
		bool first = true;

		if (d == PNM_IN && xdp)
			continue;
		if (!tcx)
			rc = pnm_filter_place(l->ifindex, d, &f, &first);
		if (rc) {
			pr_warn("cannot place the %s filter on %s: %s", dir_name[d], label,
				strerror(-rc));
			break;
		}
		if (!first)
			pr_warn("%s %s: priority 1 is taken, pnm-tc runs at %u and misses what "
				"earlier filters drop or redirect",
				label, dir_name[d], f.prio);
		/* Record the place first: a detach after an interrupted attach
		 * still finds the program. */
		cfg.handle[d] = f.handle;
		cfg.prio[d] = f.prio;
		cfg.prog_id[d] = prog_id_of(p);
		if (bpf_map_update_elem(m->ifcfg, &slot, &cfg, BPF_EXIST)) {
			rc = -errno;
			pr_warn("cannot record %s: %s", label, strerror(-rc));
			break;
		}
		rc = pnm_filter_attach(l->ifindex, d, bpf_program__fd(p), &f);
		if (rc)
			pr_warn("cannot attach the %s program to %s (%s): %s", dir_name[d], label,
				tcx ? "tcx" : "clsact", strerror(-rc));
	}
	if (!rc && xdp)
		rc = attach_xdp(m, &cfg, slot, label);
out:
	/* Record what we did even on failure, so that the rollback undoes it. */
	if (bpf_map_update_elem(m->ifcfg, &slot, &cfg, BPF_EXIST) && !rc)
		rc = -errno;
	tc_count_bpf__destroy(tc);
	if (!rc) {
		char in_at[32], out_at[32];
		const char *in = in_at;

		if (xdp)
			snprintf(in_at, sizeof(in_at), "at XDP (%s mode)",
				 cfg.flags & PNM_IF_XDP_SKB ? "generic" : "native");
		else
			in = pnm_hook_place(&cfg, PNM_IN, in_at, sizeof(in_at));
		pr_info("attached to %s (ifindex %u), counting at %s: ingress %s, egress %s%s",
			label, l->ifindex, pnm_layer_name(layer), in,
			pnm_hook_place(&cfg, PNM_OUT, out_at, sizeof(out_at)),
			created ? ", clsact created" : "");
	}
	return rc;
}

/* Options that only attach takes. */
struct attach_args {
	int layer; /* -1: l2 for new interfaces, unchanged for attached ones */
	bool xdp;
	enum tc_hook hook;
	const char *netns;
	struct pnm_sizes sizes;
	bool share;
	gid_t gid; /* --group: who may read the pins */
};

enum { OPT_NETNS = 0x100, OPT_XDP, OPT_GROUP, OPT_TC_HOOK };

static const struct option attach_opts[] = {
	{ "layer", required_argument, NULL, 'l' },
	{ "max-processes", required_argument, NULL, 'P' },
	{ "max-sockets", required_argument, NULL, 'S' },
	{ "xdp", no_argument, NULL, OPT_XDP },
	{ "tc-hook", required_argument, NULL, OPT_TC_HOOK },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* detach takes only these. */
static const struct option detach_opts[] = {
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* Option loop of attach and detach (detach: attach_only false). */
static int simple_opts(const char *cmd, int argc, char **argv, bool *done, struct attach_args *a,
		       bool attach_only)
{
	char err[128];
	unsigned int l;
	int c;

	*done = false;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, attach_only ? "+l:hv" : "+hv",
				attach_only ? attach_opts : detach_opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (pnm_parse_layer(optarg, &l, err, sizeof(err)))
				return pnm_usage_error(cmd, "%s", err);
			a->layer = (int)l;
			break;
		case 'P':
		case 'S':
			if (pnm_parse_count(optarg, PNM_MIN_ENTRIES, PNM_MAX_ENTRIES,
					    c == 'P' ? &a->sizes.procs : &a->sizes.sockets, err,
					    sizeof(err)))
				return pnm_usage_error(cmd, "--max-%s: %s",
						       c == 'P' ? "processes" : "sockets", err);
			break;
		case OPT_XDP:
			a->xdp = true;
			break;
		case OPT_TC_HOOK:
			if (!strcmp(optarg, "tcx"))
				a->hook = HOOK_TCX;
			else if (!strcmp(optarg, "clsact"))
				a->hook = HOOK_CLSACT;
			else
				return pnm_usage_error(cmd, "--tc-hook: '%s' is not tcx or clsact",
						       pnm_escape(optarg, err, sizeof(err)));
			break;
		case OPT_NETNS:
			if (!optarg[0])
				return pnm_usage_error(cmd, "--netns: empty namespace name");
			a->netns = optarg;
			break;
		case OPT_GROUP: {
			struct group *g = getgrnam(optarg);

			if (!g)
				return pnm_usage_error(cmd, "--group: no such group: %s",
						       pnm_escape(optarg, err, sizeof(err)));
			a->share = true;
			a->gid = g->gr_gid;
			break;
		}
		case 'h':
			pnm_print_help(stdout, cmd);
			*done = true;
			return PNM_EXIT_OK;
		case 'v':
			pnm_verbosity++;
			break;
		default:
			/* A long option's missing value: optopt is its letter. */
			if (optopt == 'P' || optopt == 'S')
				return pnm_usage_error(cmd, "option --max-%s needs a value",
						       optopt == 'P' ? "processes" : "sockets");
			if (optopt == OPT_NETNS || optopt == OPT_GROUP || optopt == OPT_TC_HOOK)
				return pnm_usage_error(cmd, "option --%s needs a value",
						       optopt == OPT_NETNS   ? "netns"
						       : optopt == OPT_GROUP ? "group"
									     : "tc-hook");
			return pnm_bad_option(cmd, attach_only ? "l" : "", argv);
		}
	}
	return PNM_EXIT_OK;
}

/* attach takes interface names; detach also "NETNS/IFACE" labels. */
static int check_names(const char *cmd, int n, char **names, bool labels)
{
	char err[128];

	for (int i = 0; i < n; i++)
		if ((labels ? pnm_check_iflabel : pnm_check_ifname)(names[i], err, sizeof(err)))
			return pnm_usage_error(cmd, "%s", err);
	return PNM_EXIT_OK;
}

/* The namespace the interface names refer to: --netns, else ours. */
static int target_netns(const char *spec, struct pnm_netns *ns)
{
	int rc = spec ? pnm_netns_resolve(spec, ns) : pnm_netns_current(ns);

	if (rc == -ENOENT)
		pr_warn("no such network namespace: %s (not under %s, nor a path)", spec,
			PNM_NETNS_RUN_DIR);
	else if (rc == -EINVAL)
		pr_warn("%s is not a network namespace", spec);
	else if (rc)
		pr_warn("cannot open network namespace %s: %s", spec ? spec : "of this process",
			strerror(-rc));
	return rc;
}

/* Resolve every name inside namespace ns, and check that each can take
 * what is asked, before changing anything. */
static int resolve_links(const struct pnm_netns *ns, int n, char **names, const char *ether_only,
			 const struct attach_args *a, struct pnm_link *links)
{
	char label[LABEL_LEN];
	int prev, rc;

	rc = pnm_netns_enter(ns->ino, ns->name, &prev);
	if (rc) {
		pr_warn("cannot enter network namespace %s: %s", ns->name, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < n && !rc; i++) {
		pnm_if_label(ns->name, names[i], label, sizeof(label));
		rc = pnm_link_by_name(names[i], &links[i]);
		if (rc == -ENODEV)
			pr_warn("no such interface: %s", label);
		else if (rc == -EPROTONOSUPPORT)
			pr_warn("%s: unsupported link type (pnm-tc handles Ethernet, loopback and "
				"IP tunnel devices)",
				label);
		else if (rc)
			pr_warn("cannot look up interface %s: %s", label, strerror(-rc));
		else if (ether_only && !links[i].ether) {
			pr_warn("%s: %s needs an Ethernet interface", label, ether_only);
			rc = -EPROTONOSUPPORT;
		} else if (a->xdp && xdp_hook_taken(links[i].ifindex, label)) {
			rc = -EBUSY;
		} else if (a->hook == HOOK_TCX && !pnm_tcx_supported(links[i].ifindex)) {
			pr_warn("this kernel has no tcx (Linux 6.6+): attach with --tc-hook "
				"clsact, "
				"or without --tc-hook");
			rc = -EOPNOTSUPP;
		}
	}
	pnm_netns_leave(prev);
	return rc;
}

/* An attached interface keeps its layer and its ingress hook: changing
 * either would mix units or double-count. */
static int check_unchanged(const struct pnm_maps *m, const struct pnm_netns *ns,
			   const struct pnm_link *l, const struct attach_args *a)
{
	char label[LABEL_LEN];
	struct pnm_if_cfg cfg;
	uint32_t slot;

	if (find_cfg(m, ns->ino, l->ifindex, &slot, &cfg))
		return 0;
	LABEL(&cfg, label);
	if (a->layer >= 0 && cfg.layer != (uint32_t)a->layer) {
		pr_warn("%s is attached counting at %s; 'pnm-tc detach %s' first to count at %s",
			label, pnm_layer_name(cfg.layer), label,
			pnm_layer_name((unsigned int)a->layer));
		return -EEXIST;
	}
	if (a->hook != HOOK_AUTO && (a->hook == HOOK_TCX) != !!(cfg.flags & PNM_IF_TCX)) {
		pr_warn("%s is attached with its TC programs on %s; 'pnm-tc detach %s' first to "
			"put them on %s",
			label, cfg.flags & PNM_IF_TCX ? "tcx" : "clsact", label,
			hook_name[a->hook]);
		return -EEXIST;
	}
	if (a->xdp && !(cfg.flags & PNM_IF_XDP)) {
		pr_warn("%s is attached counting ingress at TC; 'pnm-tc detach %s' first to "
			"count it at XDP",
			label, label);
		return -EEXIST;
	}
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	struct pnm_link *links = NULL;
	bool *fresh_if = NULL, fresh_state = false, done;
	struct pnm_maps m;
	struct pnm_netns ns;
	int n, i, lock = -1, rc, ret = PNM_EXIT_FAIL, prev = -1;
	struct attach_args args = { .layer = -1 };
	const char *ether_only;

	rc = simple_opts("attach", argc, argv, &done, &args, true);
	if (rc || done)
		return rc;
	n = argc - optind;
	if (n == 0)
		return pnm_usage_error("attach", "name at least one interface");
	rc = check_names("attach", n, argv + optind, false);
	if (rc)
		return rc;
	if (pnm_check_privileges("attach", true) || pnm_check_kernel())
		return PNM_EXIT_FAIL;
	if (target_netns(args.netns, &ns))
		return PNM_EXIT_FAIL;

	links = calloc((size_t)n, sizeof(*links));
	fresh_if = calloc((size_t)n, sizeof(*fresh_if));
	if (!links || !fresh_if)
		goto out;
	ether_only = args.xdp ? "--xdp" : args.layer == PNM_L1 ? "--layer l1" : NULL;
	if (resolve_links(&ns, n, argv + optind, ether_only, &args, links))
		goto out;

	lock = pnm_lock();
	if (lock < 0)
		goto out;
	rc = pnm_state_present();
	if (rc < 0) {
		pr_warn("cannot read %s: %s", PNM_PIN_DIR, strerror(-rc));
		goto out;
	}
	if (rc == 0) {
		if (pnm_state_create(&args.sizes))
			goto out;
		fresh_state = true;
	}
	rc = pnm_maps_open(&m);
	if (rc) {
		pr_warn(rc == -EPROTO ? "the state pinned under %s is from another pnm-tc version; "
					"detach with that version first"
				      : "cannot open the maps pinned under %s",
			PNM_PIN_DIR);
		goto out_state;
	}
	/* Map sizes and sharing are set when the state is made: later ones
	 * must agree. */
	if (!fresh_state && pnm_check_sizes(&m, &args.sizes))
		goto out_maps;
	if (fresh_state && args.share && (rc = pnm_pins_share(args.gid))) {
		pr_warn("cannot share %s with group %u: %s", PNM_PIN_DIR, (unsigned int)args.gid,
			strerror(-rc));
		goto out_maps;
	}
	if (!fresh_state && args.share) {
		gid_t now;

		if (pnm_pins_group(&now) || now != args.gid) {
			pr_warn("the pins were made %s; sharing changes only when everything is "
				"detached",
				now == (gid_t)-1 ? "for root only" : "for another group");
			goto out_maps;
		}
	}
	for (i = 0; i < n; i++)
		if (check_unchanged(&m, &ns, &links[i], &args))
			goto out_maps;
	rc = pnm_netns_enter(ns.ino, ns.name, &prev);
	if (rc) {
		pr_warn("cannot enter network namespace %s: %s", ns.name, strerror(-rc));
		goto out_maps;
	}
	for (i = 0; i < n; i++) {
		rc = attach_iface(&m, &ns, &links[i],
				  args.layer < 0 ? PNM_L2 : (uint32_t)args.layer, args.xdp,
				  args.hook, &fresh_if[i]);
		if (rc)
			break;
	}
	if (rc) {
		/* All or nothing: undo this run's interfaces. */
		for (int j = i; j >= 0; j--) {
			struct pnm_if_cfg cfg;
			uint32_t slot;

			if (fresh_if[j] && !find_cfg(&m, ns.ino, links[j].ifindex, &slot, &cfg))
				release_iface(&m, slot, &cfg);
		}
	} else {
		ret = PNM_EXIT_OK;
	}
	pnm_netns_leave(prev);
out_maps:
	pnm_maps_close(&m);
out_state:
	if (ret != PNM_EXIT_OK && fresh_state)
		pnm_state_destroy();
out:
	pnm_unlock(lock);
	free(links);
	free(fresh_if);
	return ret;
}

/* Does record cfg answer to the name given on the command line? "NETNS/IF"
 * names an interface of any namespace; a plain name one in namespace ns. */
static bool cfg_named(const struct pnm_if_cfg *cfg, const char *name, const struct pnm_netns *ns)
{
	char label[LABEL_LEN];

	if (strchr(name, '/'))
		return !strcmp(LABEL(cfg, label), name);
	return cfg->netns_ino == ns->ino && !strcmp(cfg->name, name);
}

/* Why a name given to detach matches nothing. */
static void explain_unmatched(const struct pnm_maps *m, const char *name,
			      const struct pnm_netns *ns)
{
	char label[LABEL_LEN];
	uint32_t slot, *prev = NULL;
	struct pnm_if_cfg cfg;
	struct pnm_link l;
	int pns;

	while (!strchr(name, '/') && next_cfg(m, &prev, &slot, &cfg)) {
		if (!strcmp(cfg.name, name)) {
			pr_warn("%s is not attached here, but %s is: name it so, or use --netns",
				name, LABEL(&cfg, label));
			return;
		}
	}
	if (!strchr(name, '/') && !pnm_netns_enter(ns->ino, ns->name, &pns)) {
		bool missing = pnm_link_by_name(name, &l) == -ENODEV;

		pnm_netns_leave(pns);
		if (missing) {
			pr_warn("no such interface: %s",
				pnm_if_label(ns->name, name, label, sizeof(label)));
			return;
		}
	}
	pr_warn("%s is not attached", pnm_if_label(ns->name, name, label, sizeof(label)));
}

int cmd_detach(int argc, char **argv)
{
	struct pnm_maps m;
	struct pnm_netns ns;
	struct attach_args args = { .layer = -1 };
	int n, lock, rc, ret = PNM_EXIT_FAIL;
	uint32_t slot, next;
	bool done, left = false;
	char **names;

	rc = simple_opts("detach", argc, argv, &done, &args, false);
	if (rc || done)
		return rc;
	n = argc - optind;
	names = argv + optind;
	rc = check_names("detach", n, names, true);
	if (rc)
		return rc;
	if (args.netns && n == 0)
		return pnm_usage_error("detach", "--netns needs the interfaces to detach");
	if (pnm_check_privileges("detach", true) || target_netns(args.netns, &ns))
		return PNM_EXIT_FAIL;
	lock = pnm_lock();
	if (lock < 0)
		return PNM_EXIT_FAIL;
	rc = pnm_maps_open(&m);
	if (rc == -ENOENT && pnm_state_leftovers())
		goto out;
	if (rc == -ENOENT) {
		if (n) {
			pr_warn("%s is not attached (nothing is)", names[0]);
		} else {
			pr_info("nothing is attached");
			ret = PNM_EXIT_OK;
		}
		goto out;
	} else if (rc) {
		pr_warn(rc == -EPROTO ? "the state pinned under %s is from another pnm-tc version; "
					"detach with that version"
				      : "cannot open the maps pinned under %s",
			PNM_PIN_DIR);
		goto out;
	}
	/* Every named interface must be ours before anything is removed. */
	for (int i = 0; i < n; i++) {
		uint32_t *prev = NULL;
		struct pnm_if_cfg cfg;
		bool found = false;

		while (!found && next_cfg(&m, &prev, &slot, &cfg))
			found = cfg_named(&cfg, names[i], &ns);
		if (!found) {
			explain_unmatched(&m, names[i], &ns);
			goto out_maps;
		}
	}
	rc = 0;
	for (;;) {
		uint32_t *prev = NULL;
		struct pnm_if_cfg cfg;
		bool again = false;

		/* Restart the walk after each removal: deleting invalidates it. */
		while (next_cfg(&m, &prev, &slot, &cfg)) {
			bool want = n == 0;

			for (int i = 0; i < n && !want; i++)
				want = cfg_named(&cfg, names[i], &ns);
			if (!want)
				continue;
			if (release_iface(&m, slot, &cfg)) {
				rc = -EIO;
				continue;
			}
			again = true;
			break;
		}
		if (!again)
			break;
	}
	left = bpf_map_get_next_key(m.ifcfg, NULL, &next) == 0;
	pnm_maps_close(&m);
	if (!left && pnm_state_destroy())
		rc = -EIO;
	ret = rc ? PNM_EXIT_FAIL : PNM_EXIT_OK;
	goto out;
out_maps:
	pnm_maps_close(&m);
out:
	pnm_unlock(lock);
	return ret;
}
