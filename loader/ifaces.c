// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Attach and detach by name (ifaces.h): resolve every name and check it
 * can take what is asked before anything changes, make the state at the
 * first attach, undo a partial attach, and remove the state with the last
 * interface. loader/attach.c does the work on each interface.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "ifaces.h"
#include "iface.h"
#include "lock.h"
#include "log.h"
#include "netns.h"
#include "parse.h"
#include "slots.h"

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
static int resolve_links(const struct pnm_netns *ns, int n, char *const *names,
			 const char *ether_only, const struct pnm_attach_req *a,
			 struct pnm_link *links)
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
		} else if (a->xdp && pnm_xdp_hook_taken(links[i].ifindex, label)) {
			rc = -EBUSY;
		} else if (a->hook == PNM_TC_TCX && !pnm_tcx_supported(links[i].ifindex)) {
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
			   const struct pnm_link *l, const struct pnm_attach_req *a)
{
	char label[LABEL_LEN];
	struct pnm_if_cfg cfg;
	uint32_t slot;

	if (pnm_slot_find(m, ns->ino, l->ifindex, &slot, &cfg))
		return 0;
	LABEL(&cfg, label);
	if (a->layer >= 0 && cfg.layer != (uint32_t)a->layer) {
		pr_warn("%s is attached counting at %s; 'pnm-tc detach %s' first to count at %s",
			label, pnm_layer_name(cfg.layer), label,
			pnm_layer_name((unsigned int)a->layer));
		return -EEXIST;
	}
	if (a->hook != PNM_TC_AUTO && (a->hook == PNM_TC_TCX) != !!(cfg.flags & PNM_IF_TCX)) {
		pr_warn("%s is attached with its TC programs on %s; 'pnm-tc detach %s' first to "
			"put them on %s",
			label, cfg.flags & PNM_IF_TCX ? "tcx" : "clsact", label,
			pnm_tc_hook_name[a->hook]);
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

/* The pinned state, made first when nothing is attached (*fresh), with its
 * maps open in *m. On an error the maps are closed, and a fresh state is
 * left for the caller to destroy. */
static int open_state(const struct pnm_attach_req *args, struct pnm_maps *m, bool *fresh)
{
	int rc = pnm_state_present();

	if (rc < 0) {
		pr_warn("cannot read %s: %s", PNM_PIN_DIR, strerror(-rc));
		return rc;
	}
	if (rc == 0) {
		rc = pnm_state_create(&args->sizes);
		if (rc)
			return rc;
		*fresh = true;
	}
	rc = pnm_maps_open(m);
	/* Present, or just made: a pin is missing, not the state. */
	if (rc == -ENOENT)
		pr_warn("cannot open the maps pinned under %s: %s", PNM_PIN_DIR, strerror(-rc));
	else
		pnm_explain_open_error(rc);
	if (rc)
		return rc;
	/* Map sizes and sharing are set when the state is made: later ones
	 * must agree. */
	if (!*fresh && pnm_check_sizes(m, &args->sizes))
		rc = -EEXIST;
	else if (*fresh && args->share && (rc = pnm_pins_share(args->gid)))
		pr_warn("cannot share %s with group %u: %s", PNM_PIN_DIR, (unsigned int)args->gid,
			strerror(-rc));
	if (!rc && !*fresh && args->share) {
		gid_t now;

		if (pnm_pins_group(&now) || now != args->gid) {
			pr_warn("the pins were made %s; sharing changes only when everything is "
				"detached",
				now == (gid_t)-1 ? "for root only" : "for another group");
			rc = -EEXIST;
		}
	}
	if (rc)
		pnm_maps_close(m);
	return rc;
}

int pnm_attach_names(const struct pnm_attach_req *a, int n, char *const *names)
{
	struct pnm_link *links = NULL;
	bool *fresh_if = NULL, fresh_state = false;
	struct pnm_maps m;
	struct pnm_netns ns;
	int i, lock = -1, rc, prev = -1;
	const char *ether_only;

	rc = target_netns(a->netns, &ns);
	if (rc)
		return rc;
	links = calloc((size_t)n, sizeof(*links));
	fresh_if = calloc((size_t)n, sizeof(*fresh_if));
	rc = -ENOMEM;
	if (!links || !fresh_if)
		goto out;
	ether_only = a->xdp ? "--xdp" : a->layer == PNM_L1 ? "--layer l1" : NULL;
	rc = resolve_links(&ns, n, names, ether_only, a, links);
	if (rc)
		goto out;

	lock = pnm_lock();
	rc = lock < 0 ? lock : open_state(a, &m, &fresh_state);
	if (rc)
		goto out_state;
	for (i = 0; i < n && !rc; i++)
		rc = check_unchanged(&m, &ns, &links[i], a);
	if (rc)
		goto out_maps;
	rc = pnm_netns_enter(ns.ino, ns.name, &prev);
	if (rc) {
		pr_warn("cannot enter network namespace %s: %s", ns.name, strerror(-rc));
		goto out_maps;
	}
	for (i = 0; i < n; i++) {
		rc = pnm_iface_attach(&m, &ns, &links[i],
				      a->layer < 0 ? PNM_L2 : (uint32_t)a->layer, a->xdp, a->hook,
				      &fresh_if[i]);
		if (rc)
			break;
	}
	if (rc) {
		/* All or nothing: undo this run's interfaces. */
		for (int j = i; j >= 0; j--) {
			struct pnm_if_cfg cfg;
			uint32_t slot;

			if (fresh_if[j] &&
			    !pnm_slot_find(&m, ns.ino, links[j].ifindex, &slot, &cfg))
				pnm_iface_release(&m, slot, &cfg);
		}
	}
	pnm_netns_leave(prev);
out_maps:
	pnm_maps_close(&m);
out_state:
	if (rc && fresh_state)
		pnm_state_destroy();
out:
	pnm_unlock(lock);
	free(links);
	free(fresh_if);
	return rc;
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

	while (!strchr(name, '/') && pnm_slot_next(m, &prev, &slot, &cfg)) {
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

int pnm_detach_names(const char *netns, int n, char *const *names, bool *none)
{
	struct pnm_maps m;
	struct pnm_netns ns;
	uint32_t slot, next;
	bool left = false;
	int lock, rc;

	*none = false;
	rc = target_netns(netns, &ns);
	if (rc)
		return rc;
	lock = pnm_lock();
	if (lock < 0)
		return lock;
	rc = pnm_maps_open(&m);
	if (rc == -ENOENT) {
		rc = pnm_state_leftovers();
		if (rc)
			goto out;
		*none = true;
		if (n) {
			pr_warn("%s is not attached (nothing is)", names[0]);
			rc = -ENOENT;
		} else {
			pr_info("nothing is attached");
		}
		goto out;
	} else if (rc) {
		pnm_explain_open_error(rc);
		goto out;
	}
	/* Every named interface must be ours before anything is removed. */
	for (int i = 0; i < n; i++) {
		uint32_t *prev = NULL;
		struct pnm_if_cfg cfg;
		bool found = false;

		while (!found && pnm_slot_next(&m, &prev, &slot, &cfg))
			found = cfg_named(&cfg, names[i], &ns);
		if (!found) {
			explain_unmatched(&m, names[i], &ns);
			rc = -ENOENT;
			goto out_maps;
		}
	}
	for (;;) {
		uint32_t *prev = NULL;
		struct pnm_if_cfg cfg;
		bool again = false;

		/* Restart the walk after each removal: deleting invalidates it. */
		while (pnm_slot_next(&m, &prev, &slot, &cfg)) {
			bool want = n == 0;

			for (int i = 0; i < n && !want; i++)
				want = cfg_named(&cfg, names[i], &ns);
			if (!want)
				continue;
			if (pnm_iface_release(&m, slot, &cfg)) {
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
	goto out;
out_maps:
	pnm_maps_close(&m);
out:
	pnm_unlock(lock);
	return rc;
}

int pnm_attached(const char *name)
{
	struct pnm_maps m;
	struct pnm_netns ns;
	struct pnm_if_cfg cfg;
	struct pnm_link l;
	uint32_t slot;
	int rc = pnm_netns_current(&ns);

	if (rc)
		return rc;
	rc = pnm_maps_open(&m);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	rc = pnm_link_by_name(name, &l);
	if (!rc)
		rc = !pnm_slot_find(&m, ns.ino, l.ifindex, &slot, &cfg);
	else if (rc == -ENODEV)
		rc = 0;
	pnm_maps_close(&m);
	return rc;
}
