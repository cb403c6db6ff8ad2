// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * attach and detach: the commands. Both are all-or-nothing and serialised
 * by a lock; only pnm-tc's own filters, XDP program, clsact (when pnm-tc
 * created it) and pins are ever removed (loader/attach.c does the work on
 * each interface, loader/ifaces.c by name).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "format.h"
#include "iface.h"
#include "ifaces.h"
#include "log.h"
#include "options.h"
#include "parse.h"

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
		       struct pnm_attach_req *a)
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

int cmd_attach(int argc, char **argv)
{
	struct pnm_attach_req args = { .layer = -1 };
	bool done;
	int n, rc;

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
	return pnm_attach_names(&args, n, argv + optind) ? PNM_EXIT_FAIL : PNM_EXIT_OK;
}

int cmd_detach(int argc, char **argv)
{
	struct pnm_attach_req args = { .layer = -1 };
	bool done, none;
	int n, rc;

	rc = simple_opts(&pnm_cmd_detach, argc, argv, &done, &args);
	if (rc || done)
		return rc;
	n = argc - optind;
	rc = check_names("detach", n, argv + optind, true);
	if (rc)
		return rc;
	if (args.netns && n == 0)
		return pnm_usage_error("detach", "--netns needs the interfaces to detach");
	if (pnm_check_privileges("detach", true))
		return PNM_EXIT_FAIL;
	return pnm_detach_names(args.netns, n, argv + optind, &none) ? PNM_EXIT_FAIL : PNM_EXIT_OK;
}
