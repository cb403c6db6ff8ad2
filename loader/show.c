// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* show and status: read the pinned counters, never change them. */
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
#include "proc.h"
#include "report.h"
#include "show.h"
#include "state.h"

/* Say why the maps could not be opened. */
static int explain_open_error(int rc)
{
	if (rc == -ENOENT)
		pr_warn("nothing is attached; start with 'pnm-tc attach IFACE'");
	else if (rc == -EPROTO)
		pr_warn("the state pinned under %s is from another pnm-tc version", PNM_PIN_DIR);
	else if (rc)
		pr_warn("cannot open the maps pinned under %s: %s", PNM_PIN_DIR, strerror(-rc));
	return rc;
}

static int open_maps(struct pnm_maps *m)
{
	return explain_open_error(pnm_maps_open(m));
}

/* -p PIDs with no counters: shown with zeros if they run; else an error
 * (strict), or left out (while sampling, when one may have ended). */
static int add_requested(struct pnm_snapshot *s, const struct pnm_show *a, bool strict)
{
	const struct pnm_pid_list *pids = a->view.pids;

	for (size_t i = 0; i < pids->n; i++) {
		uint32_t pid = pids->pid[i];
		struct pnm_counts zero = { 0 };
		struct pnm_proc *p;
		uint64_t start = 0;
		bool known = false;

		for (size_t j = 0; j < s->nprocs && !known; j++)
			known = s->procs[j].pid == pid;
		/* With --children, an ended parent known from its fork record. */
		for (size_t j = 0; j < a->nfamily && !known; j++)
			known = a->family[j].pid == pid;
		if (known)
			continue;
		if (!pnm_proc_exists(pid)) {
			if (!strict)
				continue;
			pr_warn("no such process: %u", pid);
			return -ESRCH;
		}
		pnm_proc_start_ns(pid, &start);
		p = pnm_snapshot_add(s, pid, start, 0, &zero);
		if (!p)
			return -ENOMEM;
		/* A row without an interface: the process has no traffic yet. */
		p->nifs = 0;
		if (pnm_proc_name(pid, p->name, sizeof(p->name)))
			snprintf(p->name, sizeof(p->name), "?");
	}
	pnm_snapshot_finish(s);
	return 0;
}

/* -i: "NETNS/IFACE", or a plain name: the initial namespace's interface,
 * else the one in the namespace we run in (under ip netns exec). */
static struct pnm_iface *find_iface(struct pnm_snapshot *s, const char *name)
{
	struct pnm_iface *ifc = pnm_snapshot_iface(s, name);
	struct pnm_netns here;
	struct pnm_link l;

	if (ifc)
		return ifc;
	if (!strchr(name, '/') && !pnm_netns_current(&here)) {
		for (size_t i = 0; i < s->nifaces; i++)
			if (s->ifaces[i].netns_ino == here.ino && !strcmp(s->ifaces[i].name, name))
				return &s->ifaces[i];
	}
	if (!strchr(name, '/') && pnm_link_by_name(name, &l) == -ENODEV)
		pr_warn("no such interface: %s", name);
	else
		pr_warn("%s is not attached; attach it with 'pnm-tc attach %s'", name,
			strchr(name, '/') ? "--netns NETNS IFACE" : name);
	return NULL;
}

enum {
	OPT_TOP = 0x100,
	OPT_SORT,
	OPT_CHILDREN,
	OPT_BY,
};

static const struct option show_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "name", required_argument, NULL, 'n' },
	{ "interface", required_argument, NULL, 'i' },
	{ "json", no_argument, NULL, 'j' },
	{ "top", required_argument, NULL, OPT_TOP },
	{ "sort", required_argument, NULL, OPT_SORT },
	{ "aggregate", no_argument, NULL, 'a' },
	{ "children", no_argument, NULL, OPT_CHILDREN },
	{ "details", no_argument, NULL, 'd' },
	{ "by", required_argument, NULL, OPT_BY },
	{ "watch", optional_argument, NULL, 'c' },
	{ "time", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* Sampling bounds: an interval of 100 ms to 1 h, a duration up to 30 days. */
#define PNM_INTERVAL_MIN_MS 100
#define PNM_INTERVAL_MAX_MS 3600000ULL
#define PNM_DURATION_MAX_MS (30ULL * 86400 * 1000)

static int parse_show_opts(int argc, char **argv, struct pnm_show *a, bool *done)
{
	static struct pnm_pid_list pids;
	uint32_t top;
	char err[160];
	int c;

	*done = false;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+p:n:i:jadc::t:hv", show_opts, NULL)) != -1) {
		switch (c) {
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
			if (!optarg)
				return pnm_usage_error("show", "option --by needs a value");
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
		case 'h':
			pnm_print_help(stdout, "show");
			*done = true;
			return PNM_EXIT_OK;
		case 'v':
			pnm_verbosity++;
			break;
		default:
			if (optopt == OPT_TOP || optopt == OPT_SORT || optopt == OPT_BY)
				return pnm_usage_error("show", "option --%s needs a value",
						       optopt == OPT_TOP    ? "top"
						       : optopt == OPT_SORT ? "sort"
									    : "by");
			return pnm_bad_option("show", "pnit", argv);
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

int pnm_show_read(struct pnm_show *a, const struct pnm_maps *m, struct pnm_snapshot *snap,
		  bool strict)
{
	unsigned int parts = 0;
	int rc;

	/* JSON has each process's count of connections; --details and --by
	 * show them. */
	if (a->view.details || a->view.by)
		parts = PNM_SNAP_CONNS;
	else if (a->json)
		parts = PNM_SNAP_CONN_COUNTS;
	rc = pnm_snapshot_read(m, snap, parts);
	if (rc) {
		pr_warn("cannot read the counters: %s", strerror(-rc));
		return rc;
	}
	if (a->ifname) {
		a->view.iface = find_iface(snap, a->ifname);
		if (!a->view.iface)
			return -ENODEV;
	}
	if (a->children && (rc = pnm_family(m, snap, a))) {
		pr_warn("cannot follow the process tree: %s", strerror(-rc));
		return rc;
	}
	if (a->view.pids && (rc = add_requested(snap, a, strict)))
		return rc;
	return 0;
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
	if (a.json) {
		pnm_report_json_write(stdout, &snap, &a.view,
				      JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE,
				      NULL);
	} else if (a.view.by) {
		pnm_report_by(stdout, &snap, &a.view);
	} else {
		pnm_report_table(stdout, &snap, &a.view);
	}
	warn_ifaces(&snap, &a.view);
	ret = fflush(stdout) ? PNM_EXIT_FAIL : PNM_EXIT_OK;
out:
	free(a.family);
	pnm_snapshot_free(&snap);
	pnm_maps_close(&m);
	return ret;
}

/* The kernel memory a map holds, from its fdinfo (what bpftool shows). */
static unsigned long long map_memory(int fd)
{
	char path[64], line[128];
	unsigned long long bytes = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &bytes) == 1)
			break;
	fclose(f);
	return bytes;
}

/* Entries in a map, its capacity and its memory; returns the memory. */
static unsigned long long map_fill(int fd, const char *name)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	unsigned char key[64] = { 0 }, next[64];
	unsigned long long mem = map_memory(fd);
	unsigned long n = 0;
	bool have = false;
	char membuf[16];

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.key_size > sizeof(key))
		return mem;
	while (!bpf_map_get_next_key(fd, have ? key : NULL, next)) {
		memcpy(key, next, info.key_size);
		have = true;
		n++;
	}
	printf("  %-14s %7lu / %-7u entries (%5.1f%%) %10s\n", name, n, info.max_entries,
	       info.max_entries ? 100.0 * (double)n / info.max_entries : 0.0,
	       pnm_fmt_bytes(mem, membuf, sizeof(membuf)));
	return mem;
}

/* Our hooks on one interface, checked inside its namespace; true when one
 * is missing. */
static bool print_hooks(const struct pnm_if_cfg *cfg)
{
	bool missing = false;
	int prev;

	if (pnm_netns_enter(cfg->netns_ino, cfg->netns, &prev)) {
		printf("its network namespace cannot be entered\n");
		return true;
	}
	for (int d = 0; d < PNM_NDIR; d++) {
		struct pnm_filter f = pnm_filter_of(cfg, d);
		char buf[32];
		uint32_t id;
		bool ok;

		if (d == PNM_IN && (cfg->flags & PNM_IF_XDP)) {
			ok = pnm_xdp_attached(cfg->ifindex, cfg->prog_id[d]);
			printf("ingress XDP (%s, libxdp) %s",
			       cfg->flags & PNM_IF_XDP_SKB ? "generic" : "native",
			       ok ? "ok" : "MISSING");
		} else {
			ok = !pnm_filter_query(cfg->ifindex, d, &f, &id) && id == cfg->prog_id[d];
			printf("%s %s %s", d == PNM_IN ? "ingress" : "egress",
			       pnm_hook_place(cfg, d, buf, sizeof(buf)), ok ? "ok" : "MISSING");
		}
		if (d == PNM_IN)
			fputs(", ", stdout);
		missing = missing || !ok;
	}
	if (cfg->flags & PNM_IF_TCX)
		printf("\n");
	else
		printf(", clsact %s\n",
		       cfg->flags & PNM_IF_CREATED_CLSACT ? "created by pnm-tc" : "pre-existing");
	pnm_netns_leave(prev);
	return missing;
}

int cmd_status(int argc, char **argv)
{
	unsigned long long mem;
	char membuf[16];
	struct pnm_snapshot snap = { 0 };
	struct pnm_sock_rec *socks;
	size_t nsocks = 0;
	struct pnm_maps m;
	int rc;
	bool missing = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hv", show_opts + 12, NULL)) != -1) {
		if (c == 'h') {
			pnm_print_help(stdout, "status");
			return PNM_EXIT_OK;
		} else if (c == 'v') {
			pnm_verbosity++;
		} else {
			return pnm_bad_option("status", "", argv);
		}
	}
	if (optind < argc)
		return pnm_usage_error("status", "unexpected argument '%s'", argv[optind]);
	if (pnm_check_privileges("status", false))
		return PNM_EXIT_FAIL;
	rc = pnm_maps_open(&m);
	if (rc == -ENOENT) {
		printf("pnm-tc: not attached (start with 'pnm-tc attach IFACE')\n");
		return PNM_EXIT_OK;
	} else if (rc) {
		explain_open_error(rc);
		return PNM_EXIT_FAIL;
	}
	if ((c = pnm_snapshot_read(&m, &snap, 0))) {
		pr_warn("cannot read the counters: %s", strerror(-c));
		pnm_maps_close(&m);
		return PNM_EXIT_FAIL;
	}
	printf("pnm-tc: attached; state pinned under %s\n", PNM_PIN_DIR);
	printf("interfaces:\n");
	for (size_t i = 0; i < snap.nifaces; i++) {
		const struct pnm_iface *ifc = &snap.ifaces[i];
		struct pnm_if_cfg cfg;
		char in[16], out[16];

		if (bpf_map_lookup_elem(m.ifcfg, &ifc->slot, &cfg))
			continue;
		printf("  %-15s ifindex %-5u ", ifc->label, ifc->ifindex);
		if (!ifc->present) {
			printf("GONE (the interface was deleted; 'pnm-tc detach %s' clears it)\n",
			       ifc->label);
			continue;
		}
		missing = print_hooks(&cfg) || missing;
		printf("  %-15s counting at %s: in %s, out %s\n", "", pnm_layer_name(ifc->layer),
		       pnm_fmt_bytes(ifc->total.bytes_in, in, sizeof(in)),
		       pnm_fmt_bytes(ifc->total.bytes_out, out, sizeof(out)));
		if (ifc->overflow.bytes_in || ifc->overflow.bytes_out)
			printf("  %-15s OVERFLOW: %s in, %s out found no process slot (map full)\n",
			       "", pnm_fmt_bytes(ifc->overflow.bytes_in, in, sizeof(in)),
			       pnm_fmt_bytes(ifc->overflow.bytes_out, out, sizeof(out)));
	}
	if (missing)
		printf("  (a MISSING filter was removed by someone else: 'pnm-tc attach IFACE' "
		       "restores it)\n");
	printf("attribution hooks:\n");
	for (size_t i = 0; i < pnm_nhooks; i++)
		printf("  %-8s %s\n", pnm_hook_active(&pnm_hooks[i]) ? "active" : "missing",
		       pnm_hooks[i].what);
	printf("maps:\n");
	mem = map_fill(m.procstat, PNM_MAP_PROCSTAT);
	mem += map_fill(m.procinfo, PNM_MAP_PROCINFO);
	mem += map_fill(m.closed, PNM_MAP_CLOSED);
	mem += map_fill(m.ifcfg, PNM_MAP_IFCFG);
	mem += map_fill(m.skcookie, PNM_MAP_SKCOOKIE);
	mem += map_fill(m.conn, PNM_MAP_CONN);
	mem += map_fill(m.parent, PNM_MAP_PARENT);
	mem += map_memory(m.ifstat) + map_memory(m.meta) + map_memory(m.folds);
	mem += map_memory(m.flows);
	if (!pnm_sockets_read(&m, NULL, &socks, &nsocks))
		free(socks);
	printf("  %-14s %zu sockets with counters; %d B on each open TCP/UDP socket, "
	       "freed with it\n",
	       PNM_MAP_SOCKOWNER, nsocks, PNM_SOCK_SIZE);
	if (pnm_meta_has(&m, PNM_META_FILES_READER))
		printf("  %-14s read from open sockets (this kernel refuses map iterators): a TCP "
		       "socket's counters go to the maps when its last holder closes it\n",
		       "");
	printf("  %-14s flow cache, %d ingress + %d egress entries per CPU: %s\n", PNM_MAP_FLOWS,
	       PNM_FLOWS, PNM_FLOWS,
	       pnm_meta_has(&m, PNM_META_FLOWS) ? "on" : "off (needs the close hooks)");
	printf("  memory of all maps: %s (socket storage aside)\n",
	       pnm_fmt_bytes(mem, membuf, sizeof(membuf)));
	pnm_snapshot_free(&snap);
	pnm_maps_close(&m);
	return PNM_EXIT_OK;
}
