// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Where the counting programs go on one interface, and how they come off
 * (attach.h); only pnm-tc's own filters, XDP program and clsact (when
 * pnm-tc created it) are ever removed.
 *
 * Each attached interface has a slot: its counters (pnm_ifstat), its record
 * (pnm_ifcfg) and its own instance of the counting programs, loaded with the
 * slot, layer and header length built in. An interface lives in a network
 * namespace; the netlink work on it happens inside that namespace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "format.h"
#include "iface.h"
#include "log.h"
#include "netns.h"
#include "parse.h"
#include "patch.h"
#include "slots.h"
#include "state.h"
#include "tc_count.skel.h"
#include "xdp_count.skel.h"

static const char *const dir_name[PNM_NDIR] = { "ingress", "egress" };
static const char *const tc_prog_name[PNM_NDIR] = { "pnm_tc_ingress", "pnm_tc_egress" };
#define XDP_PROG_NAME "pnm_xdp_ingress"
const char *const pnm_tc_hook_name[] = { "auto", "tcx", "clsact" };

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

	while (pnm_slot_next(m, &prev, &slot, &cfg))
		if (cfg.flags & PNM_IF_XDP)
			return;
	pnm_meta_flags(m, 0, PNM_META_XDP_OWNERS);
}

/*
 * Take one interface back to how it was before attach: our filters and XDP
 * program, the clsact if we created it and nothing else uses it, our
 * records. A vanished interface (or namespace) took its hooks with it.
 */
int pnm_iface_release(const struct pnm_maps *m, uint32_t slot, const struct pnm_if_cfg *cfg)
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
	pnm_slot_drop_procs(m, slot);
	bpf_map_delete_elem(m->ifcfg, &slot);
	pnm_slot_zero(m, slot);
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

	while (pnm_slot_next(m, &prev, &slot, &cfg)) {
		if (cfg.netns_ino != ino || cfg.ifindex == l->ifindex || strcmp(cfg.name, l->name))
			continue;
		pr_info("%s: dropping the record of its earlier incarnation (ifindex %u)", l->name,
			cfg.ifindex);
		return pnm_iface_release(m, slot, &cfg);
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
	rc = pnm_set_consts(tc->obj, (uint64_t[PNM_C_COUNT]){
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
bool pnm_xdp_hook_taken(uint32_t ifindex, const char *label)
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

	if (pnm_xdp_hook_taken(cfg->ifindex, label))
		return -EBUSY;
	x = xdp_count_bpf__open_opts(&opts);
	if (!x)
		return -errno;
	rc = pnm_set_consts(x->obj, (uint64_t[PNM_C_COUNT]){
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

/* A free slot and a fresh record for interface l, its counters zeroed. */
static int record_iface(const struct pnm_maps *m, const struct pnm_netns *ns,
			const struct pnm_link *l, uint32_t layer, bool xdp, const char *label,
			uint32_t *slot, struct pnm_if_cfg *cfg)
{
	int rc = release_same_name(m, ns->ino, l);

	if (rc)
		return rc;
	rc = pnm_slot_free(m, slot);
	if (rc) {
		pr_warn("cannot attach %s: already %d interfaces attached", label, PNM_MAX_IFACES);
		return rc;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->netns_ino = ns->ino;
	cfg->ifindex = l->ifindex;
	cfg->l2_len = l->l2_len;
	cfg->layer = layer;
	cfg->flags = xdp ? PNM_IF_XDP : 0;
	cfg->gen = pnm_attach_gen();
	snprintf(cfg->name, sizeof(cfg->name), "%s", l->name);
	snprintf(cfg->netns, sizeof(cfg->netns), "%s", ns->name);
	rc = pnm_slot_zero(m, *slot);
	if (!rc && bpf_map_update_elem(m->ifcfg, slot, cfg, BPF_NOEXIST))
		rc = -errno;
	if (rc)
		pr_warn("cannot record %s: %s", label, strerror(-rc));
	return rc;
}

/* The TC program of direction d on the interface: placed (a clsact
 * priority, or first on tcx), recorded, attached. */
static int place_tc(const struct pnm_maps *m, const struct tc_count_bpf *tc, int d, uint32_t slot,
		    struct pnm_if_cfg *cfg, const char *label)
{
	const struct bpf_program *p =
		d == PNM_IN ? tc->progs.pnm_tc_ingress : tc->progs.pnm_tc_egress;
	bool tcx = cfg->flags & PNM_IF_TCX, first = true;
	struct pnm_filter f = { .tcx = tcx };
	int rc = 0;

	if (!tcx)
		rc = pnm_filter_place(cfg->ifindex, d, &f, &first);
	if (rc) {
		pr_warn("cannot place the %s filter on %s: %s", dir_name[d], label, strerror(-rc));
		return rc;
	}
	if (!first)
		pr_warn("%s %s: priority 1 is taken, pnm-tc runs at %u and misses what "
			"earlier filters drop or redirect",
			label, dir_name[d], f.prio);
	/* Record the place first: a detach after an interrupted attach
	 * still finds the program. */
	cfg->handle[d] = f.handle;
	cfg->prio[d] = f.prio;
	cfg->prog_id[d] = prog_id_of(p);
	if (bpf_map_update_elem(m->ifcfg, &slot, cfg, BPF_EXIST)) {
		rc = -errno;
		pr_warn("cannot record %s: %s", label, strerror(-rc));
		return rc;
	}
	rc = pnm_filter_attach(cfg->ifindex, d, bpf_program__fd(p), &f);
	if (rc)
		pr_warn("cannot attach the %s program to %s (%s): %s", dir_name[d], label,
			tcx ? "tcx" : "clsact", strerror(-rc));
	return rc;
}

int pnm_iface_attach(const struct pnm_maps *m, const struct pnm_netns *ns, const struct pnm_link *l,
		     uint32_t layer, bool xdp, enum pnm_tc_hook hook, bool *is_new)
{
	struct pnm_if_cfg cfg = { 0 };
	struct tc_count_bpf *tc = NULL;
	char label[LABEL_LEN];
	uint32_t slot;
	bool created = false, tcx;
	int rc;

	*is_new = false;
	pnm_if_label(ns->name, l->name, label, sizeof(label));
	if (!pnm_slot_find(m, ns->ino, l->ifindex, &slot, &cfg)) {
		if (hooks_intact(&cfg)) {
			pr_info("%s is already attached", label);
			return 0;
		}
		/* Our hooks were removed behind our back: start afresh. */
		rc = pnm_iface_release(m, slot, &cfg);
		if (rc)
			return rc;
	}
	rc = record_iface(m, ns, l, layer, xdp, label, &slot, &cfg);
	if (rc)
		return rc;
	*is_new = true;
	tcx = hook == PNM_TC_TCX || (hook == PNM_TC_AUTO && pnm_tcx_supported(l->ifindex));

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
	for (int d = 0; d < PNM_NDIR && !rc; d++)
		if (d != PNM_IN || !xdp)
			rc = place_tc(m, tc, d, slot, &cfg, label);
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
