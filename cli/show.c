// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* show: read the pinned counters, never change them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "cmd.h"
#include "format.h"
#include "iface.h"
#include "log.h"
#include "netns.h"
#include "options.h"
#include "proc.h"
#include "report.h"
#include "show.h"
#include "state.h"

static int open_maps(struct pnm_maps *m)
{
	return pnm_explain_open_error(pnm_maps_open(m));
}

enum {
	OPT_TOP = PNM_OPT_LONG_ONLY,
	OPT_SORT,
	OPT_CHILDREN,
	OPT_BY,
};

static const struct pnm_opt show_opts[] = {
	{ "pid", 'p', PNM_ARG_REQUIRED, "PID[,PID...]",
	  "only these processes (exited ones are kept)" },
	{ "children", OPT_CHILDREN, PNM_ARG_NONE, NULL,
	  "and every descendant of them, also those forked after attach (needs -p)" },
	{ "name", 'n', PNM_ARG_REQUIRED, "NAME",
	  "only processes with this name, or matching this glob ('nginx*'); with -p, both "
	  "must match" },
	{ "interface", 'i', PNM_ARG_REQUIRED, "IFACE",
	  "every figure restricted to this interface (NETNS/IFACE for one in another "
	  "namespace)" },
	{ "sort", OPT_SORT, PNM_ARG_REQUIRED, "KEY",
	  "total (default), in, out, pid or name; while sampling, in/out/total order by the "
	  "current rate" },
	{ "top", OPT_TOP, PNM_ARG_REQUIRED, "N", "only the first N processes" },
	{ "aggregate", 'a', PNM_ARG_NONE, NULL, "add a TOTAL over the processes shown" },
	{ "details", 'd', PNM_ARG_NONE, NULL,
	  "each process's connections: protocol, local and remote address:port, TCP state, "
	  "bytes and packets" },
	{ "by", OPT_BY, PNM_ARG_REQUIRED, "remote|proto",
	  "totals of the shown processes' connections per remote address, or per protocol" },
	{ "json", 'j', PNM_ARG_NONE, NULL, "JSON (see pnm-tc(8)) instead of a table" },
	{ "watch", 'c', PNM_ARG_OPTIONAL, "INTERVAL",
	  "sample every INTERVAL (default 2s): current and peak rates; a live view on a "
	  "terminal (q quits, s changes the sort), else one snapshot (one JSON line with "
	  "--json) per interval" },
	{ "time", 't', PNM_ARG_REQUIRED, "DURATION",
	  "sample for DURATION (30s, 5m, 1h), then stop" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

const struct pnm_cmd pnm_cmd_show = {
	"show",
	cmd_show,
	"show [-p PID[,PID...] [--children]] [-n NAME] [-i IFACE] [--sort KEY]\n"
	"            [--top N] [-a] [-d] [--by remote|proto] [--json]\n"
	"            [-c|--watch [INTERVAL]] [-t DURATION]",
	"Print bytes and packets in (received) and out (sent) per process and\n"
	"interface, plus each interface's unattributed traffic and total. Without\n"
	"-p, every process with counters, the busiest first.\n",
	show_opts,
	"Sampling ends with a summary of the period (also on Ctrl-C or SIGTERM).\n"
	"Rates are bit/s in SI units (Kbps, Mbps); byte totals use IEC (KiB, MiB).\n"
	"NO_COLOR turns colour off; it is only used on a terminal.\n",
};

/* Sampling bounds: an interval of 100 ms to 1 h, a duration up to 30 days. */
#define PNM_INTERVAL_MIN_MS 100
#define PNM_INTERVAL_MAX_MS 3600000ULL
#define PNM_DURATION_MAX_MS (30ULL * 86400 * 1000)

static int parse_show_opts(int argc, char **argv, struct pnm_show *a, bool *done)
{
	static struct pnm_pid_list pids;
	struct pnm_getopt g;
	uint32_t top;
	char err[160];
	int c;

	*done = false;
	pnm_opt_start(&g, &pnm_cmd_show, argc, argv);
	while ((c = pnm_opt_next(&g)) != PNM_OPT_END) {
		switch (c) {
		case PNM_OPT_STOP:
			*done = true;
			return g.rc;
		case 'p':
			if (pnm_parse_pids(optarg, &pids, err, sizeof(err)))
				return pnm_usage_error("show", "%s", err);
			a->view.pids = &pids;
			break;
		case 'n':
			if (pnm_check_name_glob(optarg, err, sizeof(err)))
				return pnm_usage_error("show", "%s", err);
			a->view.name = optarg;
			break;
		case 'i':
			if (pnm_check_iflabel(optarg, err, sizeof(err)))
				return pnm_usage_error("show", "%s", err);
			a->ifname = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case OPT_TOP:
			if (pnm_parse_count(optarg, 1, 1000000, &top, err, sizeof(err)))
				return pnm_usage_error("show", "--top: %s", err);
			a->view.top = top;
			break;
		case OPT_SORT:
			if (pnm_parse_sort(optarg, &a->view.sort, err, sizeof(err)))
				return pnm_usage_error("show", "%s", err);
			break;
		case 'a':
			a->view.aggregate = true;
			break;
		case OPT_CHILDREN:
			a->children = true;
			break;
		case 'd':
			a->view.details = true;
			break;
		case OPT_BY:
			if (!optarg) /* required: for the analyzer */
				return PNM_EXIT_USAGE;
			if (!strcmp(optarg, "remote"))
				a->view.by = PNM_BY_REMOTE;
			else if (!strcmp(optarg, "proto"))
				a->view.by = PNM_BY_PROTO;
			else
				return pnm_usage_error("show", "--by: use remote or proto");
			break;
		case 'c':
			a->watch = true;
			/* --watch 2 as well as --watch=2 and -c2. */
			if (!optarg && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9')
				optarg = argv[optind++];
			if (optarg &&
			    pnm_parse_duration(optarg, PNM_INTERVAL_MIN_MS, PNM_INTERVAL_MAX_MS,
					       &a->interval_ms, err, sizeof(err)))
				return pnm_usage_error("show", "--watch: %s", err);
			break;
		case 't':
			if (pnm_parse_duration(optarg, PNM_INTERVAL_MIN_MS, PNM_DURATION_MAX_MS,
					       &a->duration_ms, err, sizeof(err)))
				return pnm_usage_error("show", "-t: %s", err);
			break;
		default:
			return PNM_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return pnm_usage_error("show", "unexpected argument '%s'", argv[optind]);
	if (a->children && !a->view.pids)
		return pnm_usage_error("show", "--children needs -p PID");
	if ((a->view.details || a->view.by) && (a->watch || a->duration_ms))
		return pnm_usage_error("show", "--details and --by show one snapshot; not with "
					       "--watch or -t");
	if (!a->interval_ms)
		a->interval_ms = a->duration_ms && a->duration_ms < 2000 ? a->duration_ms : 2000;
	return PNM_EXIT_OK;
}

/* Warnings that go with a snapshot: a vanished interface, a full map. */
static void warn_ifaces(const struct pnm_snapshot *snap, const struct pnm_view *v)
{
	for (size_t i = 0; i < snap->nifaces; i++) {
		const struct pnm_iface *ifc = &snap->ifaces[i];
		char in[16], out[16];

		if (v->iface && v->iface != ifc)
			continue;
		if (!ifc->present)
			pr_warn("%s no longer exists; 'pnm-tc detach %s' clears it", ifc->label,
				ifc->label);
		if (ifc->overflow.bytes_in || ifc->overflow.bytes_out)
			pr_warn("%s: %s in / %s out had no free process slot (map full) and count "
				"as unattributed",
				ifc->label, pnm_fmt_bytes(ifc->overflow.bytes_in, in, sizeof(in)),
				pnm_fmt_bytes(ifc->overflow.bytes_out, out, sizeof(out)));
	}
}

int cmd_show(int argc, char **argv)
{
	struct pnm_snapshot snap = { 0 };
	struct pnm_show a = { 0 };
	struct pnm_maps m;
	bool done;
	int rc, ret = PNM_EXIT_FAIL;

	rc = parse_show_opts(argc, argv, &a, &done);
	if (rc || done)
		return rc;
	if (pnm_check_privileges("show", false) || open_maps(&m))
		return PNM_EXIT_FAIL;
	if (a.watch || a.duration_ms) {
		ret = pnm_watch(&a, &m);
		pnm_maps_close(&m);
		return ret;
	}
	if (pnm_show_read(&a, &m, &snap, true))
		goto out;
	if (a.json)
		rc = pnm_report_json_write(stdout, &snap, &a.view,
					   JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE,
					   NULL);
	else if (a.view.by)
		pnm_report_by(stdout, &snap, &a.view);
	else
		pnm_report_table(stdout, &snap, &a.view);
	if (rc == -ENOMEM) {
		pr_warn("cannot write the JSON: %s", strerror(-rc));
		goto out;
	}
	warn_ifaces(&snap, &a.view);
	ret = pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK;
out:
	free(a.family);
	pnm_snapshot_free(&snap);
	pnm_maps_close(&m);
	return ret;
}
