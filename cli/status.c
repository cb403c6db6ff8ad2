// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* status: what is attached where, which hooks this kernel runs (and why
 * not the others), how full the maps are. Reads, never changes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "cmd.h"
#include "format.h"
#include "iface.h"
#include "log.h"
#include "netns.h"
#include "options.h"
#include "show.h"
#include "state.h"

static const struct pnm_opt status_opts[] = {
	{ "json", 'j', PNM_ARG_NONE, NULL, "the same as one JSON object" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

const struct pnm_cmd pnm_cmd_status = {
	"status",
	cmd_status,
	"status [-j] [-v]",
	"Show what is attached where, whether the filters are still in place,\n"
	"which attribution hooks this kernel runs (and why not the others:\n"
	"refused by its verifier, absent from it, or turned off), which socket\n"
	"reader and seeder it uses, and how full the maps are.\n",
	status_opts,
	NULL,
};

/* pnm_hookstate, as the first attach wrote it. */
struct hook_states {
	struct pnm_hook_state st[PNM_HOOK_SLOTS];
};

static void read_states(const struct pnm_maps *m, struct hook_states *hs)
{
	memset(hs, 0, sizeof(*hs));
	for (uint32_t i = 0; i < PNM_HOOK_SLOTS; i++)
		if (bpf_map_lookup_elem(m->hookstate, &i, &hs->st[i]))
			hs->st[i].prog[0] = '\0';
}

static const struct pnm_hook_state *find_state(const struct hook_states *hs, const char *prog)
{
	for (size_t i = 0; i < PNM_HOOK_SLOTS; i++)
		if (hs->st[i].prog[0] && !strcmp(hs->st[i].prog, prog))
			return &hs->st[i];
	return NULL;
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case PNM_HOOK_ACTIVE:
		return "active";
	case PNM_HOOK_REFUSED:
		return "refused";
	case PNM_HOOK_ABSENT:
		return "absent";
	case PNM_HOOK_DISABLED:
		return "disabled";
	default:
		return "unused";
	}
}

/* A hook: active when its link is pinned; else what the attach found, or
 * "missing" (its pin was removed since). */
static const char *hook_state(const struct hook_states *hs, const struct pnm_hook *h,
			      const char **reason)
{
	const struct pnm_hook_state *st = find_state(hs, h->prog);

	*reason = "";
	if (pnm_hook_active(h))
		return "active";
	if (!st || st->state == PNM_HOOK_ACTIVE) {
		*reason = "its link is no longer pinned";
		return "missing";
	}
	*reason = st->reason;
	return state_name(st->state);
}

/* The group used (reader or seeder), or -1. */
static int group_used(const struct hook_states *hs, const struct pnm_prog_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct pnm_hook_state *st = find_state(hs, g[i].progs[0]);
		bool all = st != NULL;

		for (size_t j = 0; all && j < PNM_GROUP_PROGS && g[i].progs[j]; j++) {
			st = find_state(hs, g[i].progs[j]);
			all = st && st->state == PNM_HOOK_ACTIVE;
		}
		if (all)
			return (int)i;
	}
	return -1;
}

/* Why a group is not used: its first program that is off, and why. */
static const struct pnm_hook_state *group_off(const struct hook_states *hs,
					      const struct pnm_prog_group *g)
{
	for (size_t j = 0; j < PNM_GROUP_PROGS && g->progs[j]; j++) {
		const struct pnm_hook_state *st = find_state(hs, g->progs[j]);

		if (st && st->state != PNM_HOOK_ACTIVE && st->state != PNM_HOOK_UNUSED)
			return st;
	}
	return NULL;
}

static void print_group(const struct hook_states *hs, const char *title,
			const struct pnm_prog_group *g, size_t n)
{
	int used = group_used(hs, g, n);

	printf("%s: %s\n", title, used >= 0 ? g[used].name : "none");
	for (size_t i = 0; i < n; i++) {
		const struct pnm_hook_state *off = group_off(hs, &g[i]);

		printf("  %-8s %-8s %s",
		       (int)i == used ? "active"
		       : off	      ? state_name(off->state)
				      : "unused",
		       g[i].name, g[i].what);
		if (off)
			printf(": %s: %s", off->prog, off->reason);
		printf("\n");
	}
}

static void print_hooks_states(const struct hook_states *hs)
{
	printf("attribution hooks:\n");
	for (size_t i = 0; i < pnm_nhooks; i++) {
		const char *reason, *state = hook_state(hs, &pnm_hooks[i], &reason);

		printf("  %-8s %s%s%s\n", state, pnm_hooks[i].what, reason[0] ? ": " : "", reason);
	}
	print_group(hs, "socket counter reader", pnm_readers, pnm_nreaders);
	print_group(hs, "seeding of the sockets that existed before attach", pnm_seeders,
		    pnm_nseeders);
}

static json_object *group_json(const struct hook_states *hs, const struct pnm_prog_group *g,
			       size_t n)
{
	json_object *o = json_object_new_object(), *all = json_object_new_array();
	int used = group_used(hs, g, n);

	json_object_object_add(o, "used", used >= 0 ? json_object_new_string(g[used].name) : NULL);
	for (size_t i = 0; i < n; i++) {
		const struct pnm_hook_state *off = group_off(hs, &g[i]);
		json_object *e = json_object_new_object(), *progs;

		json_object_object_add(e, "name", json_object_new_string(g[i].name));
		json_object_object_add(e, "what", json_object_new_string(g[i].what));
		progs = json_object_new_array();
		for (size_t j = 0; j < PNM_GROUP_PROGS && g[i].progs[j]; j++)
			json_object_array_add(progs, json_object_new_string(g[i].progs[j]));
		json_object_object_add(e, "programs", progs);
		json_object_object_add(e, "state",
				       json_object_new_string((int)i == used ? "active"
							      : off ? state_name(off->state)
								    : "unused"));
		if (off) {
			json_object_object_add(e, "program", json_object_new_string(off->prog));
			json_object_object_add(e, "reason", json_object_new_string(off->reason));
		}
		json_object_array_add(all, e);
	}
	json_object_object_add(o, "readers", all);
	return o;
}

static int status_json(const struct pnm_maps *m, const struct pnm_snapshot *snap,
		       const struct hook_states *hs)
{
	json_object *root = json_object_new_object(), *ifs = json_object_new_array();
	json_object *hooks = json_object_new_array();

	json_object_object_add(root, "attached", json_object_new_boolean(1));
	json_object_object_add(root, "pin_dir", json_object_new_string(PNM_PIN_DIR));
	for (size_t i = 0; i < snap->nifaces; i++) {
		const struct pnm_iface *ifc = &snap->ifaces[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(ifc->label));
		json_object_object_add(e, "ifindex", json_object_new_int64(ifc->ifindex));
		json_object_object_add(e, "present", json_object_new_boolean(ifc->present));
		json_object_object_add(e, "layer",
				       json_object_new_string(pnm_layer_name(ifc->layer)));
		json_object_object_add(e, "bytes_in", json_object_new_uint64(ifc->total.bytes_in));
		json_object_object_add(e, "bytes_out",
				       json_object_new_uint64(ifc->total.bytes_out));
		json_object_array_add(ifs, e);
	}
	json_object_object_add(root, "interfaces", ifs);
	for (size_t i = 0; i < pnm_nhooks; i++) {
		const char *reason, *state = hook_state(hs, &pnm_hooks[i], &reason);
		json_object *e = json_object_new_object();

		json_object_object_add(e, "program", json_object_new_string(pnm_hooks[i].prog));
		json_object_object_add(e, "what", json_object_new_string(pnm_hooks[i].what));
		json_object_object_add(e, "essential",
				       json_object_new_boolean(pnm_hooks[i].required));
		json_object_object_add(e, "state", json_object_new_string(state));
		if (reason[0])
			json_object_object_add(e, "reason", json_object_new_string(reason));
		json_object_array_add(hooks, e);
	}
	json_object_object_add(root, "hooks", hooks);
	json_object_object_add(root, "socket_reader", group_json(hs, pnm_readers, pnm_nreaders));
	json_object_object_add(root, "seeder", group_json(hs, pnm_seeders, pnm_nseeders));
	json_object_object_add(root, "flow_cache",
			       json_object_new_boolean(pnm_meta_has(m, PNM_META_FLOWS)));
	json_object_object_add(root, "tunnel_gro_exact",
			       json_object_new_boolean(pnm_meta_has(m, PNM_META_TUNNEL_GSO)));
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return PNM_EXIT_OK;
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
/* The keys of a hash map, counted. */
static unsigned long count_keys(int fd, uint32_t key_size)
{
	unsigned char key[64] = { 0 }, next[64];
	unsigned long n = 0;
	bool have = false;

	while (key_size <= sizeof(key) && !bpf_map_get_next_key(fd, have ? key : NULL, next)) {
		memcpy(key, next, key_size);
		have = true;
		n++;
	}
	return n;
}

/* A map's line: its entries in use against its size. The fork ring is an
 * array: its slots in use are those with a record. */
static unsigned long long map_fill(const struct pnm_maps *m, int fd, const char *name)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	unsigned long long mem = map_memory(fd);
	unsigned long n;
	size_t forks = 0;
	char membuf[16];

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return mem;
	if (fd == m->parent)
		n = pnm_forks_count(m, &forks) ? 0 : forks;
	else
		n = count_keys(fd, info.key_size);
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

/* The table's interfaces: where the programs are, the layer, the totals. */
static void print_ifaces(const struct pnm_maps *m, const struct pnm_snapshot *snap)
{
	bool missing = false;

	printf("pnm-tc: attached; state pinned under %s\n", PNM_PIN_DIR);
	printf("interfaces:\n");
	for (size_t i = 0; i < snap->nifaces; i++) {
		const struct pnm_iface *ifc = &snap->ifaces[i];
		struct pnm_if_cfg cfg;
		char in[16], out[16];

		if (bpf_map_lookup_elem(m->ifcfg, &ifc->slot, &cfg))
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
}

/* The table's maps: how full, their memory, the readers, the flow cache. */
static void print_maps(const struct pnm_maps *m)
{
	struct pnm_sock_rec *socks;
	unsigned long long mem;
	size_t nsocks = 0;
	char membuf[16];

	printf("maps:\n");
	mem = map_fill(m, m->procstat, PNM_MAP_PROCSTAT);
	mem += map_fill(m, m->procinfo, PNM_MAP_PROCINFO);
	mem += map_fill(m, m->ifcfg, PNM_MAP_IFCFG);
	mem += map_fill(m, m->skcookie, PNM_MAP_SKCOOKIE);
	mem += map_fill(m, m->conn, PNM_MAP_CONN);
	mem += map_fill(m, m->parent, PNM_MAP_PARENT);
	mem += map_fill(m, m->synpend, PNM_MAP_SYNPEND);
	mem += map_memory(m->ifstat) + map_memory(m->meta) + map_memory(m->folds);
	mem += map_memory(m->flows);
	if (!pnm_sockets_read(m, NULL, &socks, &nsocks))
		free(socks);
	printf("  %-14s %zu sockets with counters; %d B on each open TCP/UDP socket, "
	       "freed with it\n",
	       PNM_MAP_SOCKOWNER, nsocks, PNM_SOCK_SIZE);
	if (pnm_meta_has(m, PNM_META_FILES_READER))
		printf("  %-14s read from open sockets: a TCP socket's counters go to the maps "
		       "when its last holder closes it\n",
		       "");
	if (pnm_meta_has(m, PNM_META_SOCK_READER))
		printf("  %-14s read from each network namespace's socket tables: one a process "
		       "or /run/netns holds\n",
		       "");
	printf("  %-14s flow cache, %d ingress + %d egress entries per CPU: %s\n", PNM_MAP_FLOWS,
	       PNM_FLOWS, PNM_FLOWS,
	       pnm_meta_has(m, PNM_META_FLOWS) ? "on" : "off (needs the close hooks)");
	printf("  memory of all maps: %s (socket storage aside)\n",
	       pnm_fmt_bytes(mem, membuf, sizeof(membuf)));
	printf("tunnels: %s\n",
	       pnm_meta_has(m, PNM_META_TUNNEL_GSO)
		       ? "received GRO super-packets count the inner headers of every segment"
		       : "received GRO super-packets count low by the inner headers each segment "
			 "repeats (needs Linux 6.3: bpf_cast_to_kern_ctx)");
}

int cmd_status(int argc, char **argv)
{
	struct pnm_snapshot snap = { 0 };
	struct pnm_maps m;
	int rc;
	bool json = false;
	struct hook_states hs;
	struct pnm_getopt g;
	int c;

	pnm_opt_start(&g, &pnm_cmd_status, argc, argv);
	while ((c = pnm_opt_next(&g)) != PNM_OPT_END) {
		if (c != 'j')
			return g.rc; /* PNM_OPT_STOP */
		json = true;
	}
	if (optind < argc)
		return pnm_usage_error("status", "unexpected argument '%s'", argv[optind]);
	if (pnm_check_privileges("status", false))
		return PNM_EXIT_FAIL;
	rc = pnm_maps_open(&m);
	if (rc == -ENOENT) {
		if (json)
			printf("{\n  \"attached\": false\n}\n");
		else
			printf("pnm-tc: not attached (start with 'pnm-tc attach IFACE')\n");
		return pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK;
	} else if (rc) {
		pnm_explain_open_error(rc);
		return PNM_EXIT_FAIL;
	}
	if ((c = pnm_snapshot_read(&m, &snap, 0))) {
		pr_warn("cannot read the counters: %s", strerror(-c));
		pnm_maps_close(&m);
		return PNM_EXIT_FAIL;
	}
	read_states(&m, &hs);
	if (json) {
		rc = status_json(&m, &snap, &hs);
	} else {
		print_ifaces(&m, &snap);
		print_hooks_states(&hs);
		print_maps(&m);
		rc = PNM_EXIT_OK;
	}
	pnm_snapshot_free(&snap);
	pnm_maps_close(&m);
	return pnm_out_flush() ? PNM_EXIT_FAIL : rc;
}
