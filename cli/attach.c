// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * attach and detach: the commands. Both are all-or-nothing and serialised
 * by a lock; only pnm-tc's own filters, XDP program, clsact (when pnm-tc
 * created it) and pins are ever removed (loader/attach.c does the work on
 * each interface).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "attach.h"
#include "cmd.h"
#include "format.h"
#include "iface.h"
#include "lock.h"
#include "log.h"
#include "netns.h"
#include "options.h"
#include "parse.h"
#include "slots.h"
#include "state.h"

/* Options that only attach takes. */
struct attach_args {
	int layer; /* -1: l2 for new interfaces, unchanged for attached ones */
	bool xdp;
	enum pnm_tc_hook hook;
	const char *netns;
	struct pnm_sizes sizes;
	bool share;
	gid_t gid; /* --group: who may read the pins */
};

enum {
	OPT_NETNS = PNM_OPT_LONG_ONLY,
	OPT_XDP,
	OPT_GROUP,
	OPT_TC_HOOK,
	OPT_MAX_PROCS,
	OPT_MAX_SOCKS,
};

#define NETNS_OPT                                                                                \
	{                                                                                        \
		"netns", OPT_NETNS, PNM_ARG_REQUIRED, "NETNS",                                   \
			"the interfaces are in this network namespace: a name under /run/netns " \
			"(ip "                                                                   \
			"netns) or a path such as /proc/PID/ns/net; shown as NETNS/IFACE "       \
			"afterwards"                                                             \
	}

static const struct pnm_opt attach_opts[] = {
	NETNS_OPT,
	{ "xdp", OPT_XDP, PNM_ARG_NONE, NULL,
	  "count ingress at XDP, before GRO, through libxdp's dispatcher (other XDP programs "
	  "keep running after pnm-tc's); egress stays on TC. Ethernet only" },
	{ "tc-hook", OPT_TC_HOOK, PNM_ARG_REQUIRED, "tcx|clsact",
	  "where the TC programs go. tcx (Linux 6.6+, the default there): first in the "
	  "device's program list, ahead of any clsact filter, and without the classifier "
	  "layer's cost. clsact (the default on older kernels): filters just before the "
	  "existing ones, in a clsact qdisc added if there is none" },
	{ "layer", 'l', PNM_ARG_REQUIRED, "l1|l2|l3",
	  "what a byte count includes (per interface):\n"
	  "l2  Ethernet frames: header + payload, no FCS (the default)\n"
	  "l1  + preamble, SFD, FCS and inter-frame gap (24 B per frame, short frames padded "
	  "to 60 B): link utilisation; Ethernet only\n"
	  "l3  IP packets" },
	{ "max-processes", OPT_MAX_PROCS, PNM_ARG_REQUIRED, "N",
	  "(process, interface) counter slots and process records (default 16384); beyond "
	  "them, traffic counts as unattributed overflow, reported by show and status" },
	{ "max-sockets", OPT_MAX_SOCKS, PNM_ARG_REQUIRED, "N",
	  "closed connections remembered with their counters, for show -d and their last "
	  "packets (default 65536), and under --xdp the sockets' owners; open sockets keep "
	  "their owner and counters themselves, without a limit" },
	{ "group", OPT_GROUP, PNM_ARG_REQUIRED, "GROUP",
	  "let GROUP read the pins (directory 0750, files 0640; reading still needs "
	  "CAP_BPF); by default they are root's alone (0700/0600)" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

const struct pnm_cmd pnm_cmd_attach = {
	"attach",
	cmd_attach,
	"attach [--netns NETNS] [--xdp] [--tc-hook tcx|clsact] [--layer l1|l2|l3]\n"
	"              [--max-processes N] [--max-sockets N] [--group GROUP] [-v] IFACE...",
	"Count every packet on each interface (TC ingress and egress) and\n"
	"attribute it to the process that owns its socket. Loads the programs once,\n"
	"attaches the socket hooks to the cgroup v2 root and pins everything under\n" PNM_PIN_DIR
	", so the counters outlive the command. Attaching twice\n"
	"equals attaching once; if one interface fails, none is attached.\n",
	attach_opts,
	"Sizes and --group are set by the first attach and kept until the last\n"
	"detach. Options may come before or after the interfaces.\n",
};

/* detach takes only these. */
static const struct pnm_opt detach_opts[] = {
	NETNS_OPT,
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

const struct pnm_cmd pnm_cmd_detach = {
	"detach",
	cmd_detach,
	"detach [--netns NETNS] [-v] [IFACE...]",
	"Remove pnm-tc's TC programs (and XDP program) from the named interfaces, or\n"
	"from all. When the last interface goes, the programs, socket hooks and pins\n"
	"go too. A clsact qdisc is removed only if pnm-tc created it and nothing\n"
	"else uses it; other tools' qdiscs, filters and XDP programs are never\n"
	"touched. An interface of another namespace is NETNS/IFACE, or IFACE with\n"
	"--netns NETNS.\n",
	detach_opts,
	NULL,
};

/* Option loop of attach and detach (def: which of the two). */
static int simple_opts(const struct pnm_cmd *def, int argc, char **argv, bool *done,
		       struct attach_args *a)
{
	const char *cmd = def->name;
	struct pnm_getopt g;
	char err[128];
	unsigned int l;
	int c;

	*done = false;
	pnm_opt_start(&g, def, argc, argv);
	while ((c = pnm_opt_next(&g)) != PNM_OPT_END) {
		switch (c) {
		case 'l':
			if (pnm_parse_layer(optarg, &l, err, sizeof(err)))
				return pnm_usage_error(cmd, "%s", err);
			a->layer = (int)l;
			break;
		case OPT_MAX_PROCS:
		case OPT_MAX_SOCKS:
			if (pnm_parse_count(optarg, PNM_MIN_ENTRIES, PNM_MAX_ENTRIES,
					    c == OPT_MAX_PROCS ? &a->sizes.procs
							       : &a->sizes.sockets,
					    err, sizeof(err)))
				return pnm_usage_error(cmd, "--max-%s: %s",
						       c == OPT_MAX_PROCS ? "processes" : "sockets",
						       err);
			break;
		case OPT_XDP:
			a->xdp = true;
			break;
		case OPT_TC_HOOK:
			if (!strcmp(optarg, "tcx"))
				a->hook = PNM_TC_TCX;
			else if (!strcmp(optarg, "clsact"))
				a->hook = PNM_TC_CLSACT;
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
			struct group *grp = getgrnam(optarg);

			if (!grp)
				return pnm_usage_error(cmd, "--group: no such group: %s",
						       pnm_escape(optarg, err, sizeof(err)));
			a->share = true;
			a->gid = grp->gr_gid;
			break;
		}
		default: /* PNM_OPT_STOP */
			*done = true;
			return g.rc;
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
			   const struct pnm_link *l, const struct attach_args *a)
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
static int open_state(const struct attach_args *args, struct pnm_maps *m, bool *fresh)
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

int cmd_attach(int argc, char **argv)
{
	struct pnm_link *links = NULL;
	bool *fresh_if = NULL, fresh_state = false, done;
	struct pnm_maps m;
	struct pnm_netns ns;
	int n, i, lock = -1, rc, ret = PNM_EXIT_FAIL, prev = -1;
	struct attach_args args = { .layer = -1 };
	const char *ether_only;

	rc = simple_opts(&pnm_cmd_attach, argc, argv, &done, &args);
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
	if (open_state(&args, &m, &fresh_state))
		goto out_state;
	for (i = 0; i < n; i++)
		if (check_unchanged(&m, &ns, &links[i], &args))
			goto out_maps;
	rc = pnm_netns_enter(ns.ino, ns.name, &prev);
	if (rc) {
		pr_warn("cannot enter network namespace %s: %s", ns.name, strerror(-rc));
		goto out_maps;
	}
	for (i = 0; i < n; i++) {
		rc = pnm_iface_attach(&m, &ns, &links[i],
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

			if (fresh_if[j] &&
			    !pnm_slot_find(&m, ns.ino, links[j].ifindex, &slot, &cfg))
				pnm_iface_release(&m, slot, &cfg);
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

int cmd_detach(int argc, char **argv)
{
	struct pnm_maps m;
	struct pnm_netns ns;
	struct attach_args args = { .layer = -1 };
	int n, lock, rc, ret = PNM_EXIT_FAIL;
	uint32_t slot, next;
	bool done, left = false;
	char **names;

	rc = simple_opts(&pnm_cmd_detach, argc, argv, &done, &args);
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
			goto out_maps;
		}
	}
	rc = 0;
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
	ret = rc ? PNM_EXIT_FAIL : PNM_EXIT_OK;
	goto out;
out_maps:
	pnm_maps_close(&m);
out:
	pnm_unlock(lock);
	return ret;
}
