// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The load plan: which programs of the socket-owner object are on, which
 * reader and seeder are tried, and loading the object one refused program
 * at a time (the states status shows come from here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "sock_owner.skel.h"
#include "state.h"
#include "state_int.h"

/* Does this kernel have the BTF tracepoint a hook attaches to? */
static bool have_tracepoint(const struct btf *vmlinux, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
}

/* The same sizes in both objects: the second reuses the first's maps. */
static void set_sizes(struct bpf_object *obj, const struct pnm_sizes *sizes)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		const char *name = bpf_map__name(map);

		if (sizes->procs &&
		    (!strcmp(name, PNM_MAP_PROCSTAT) || !strcmp(name, PNM_MAP_PROCINFO) ||
		     !strcmp(name, PNM_MAP_PARENT)))
			bpf_map__set_max_entries(map, sizes->procs);
		if (sizes->sockets &&
		    (!strcmp(name, PNM_MAP_SKCOOKIE) || !strcmp(name, PNM_MAP_CONN)))
			bpf_map__set_max_entries(map, sizes->sockets);
		/* A block of entries per possible CPU (bpf/maps.bpf.h). */
		if (!strcmp(name, PNM_MAP_FLOWS))
			bpf_map__set_max_entries(map, (uint32_t)pnm_ncpus() * 2 * PNM_FLOWS);
	}
}

static struct pnm_hook_state *state_of(struct prog_states *ps, const char *prog)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->st[i].prog, prog))
			return &ps->st[i];
	return NULL;
}

void pnm_set_state(struct prog_states *ps, const char *prog, uint32_t state, const char *reason)
{
	struct pnm_hook_state *st = state_of(ps, prog);

	if (!st)
		return;
	st->state = state;
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
}

static bool essential(const char *prog)
{
	for (size_t i = 0; i < pnm_nhooks; i++)
		if (!strcmp(pnm_hooks[i].prog, prog))
			return pnm_hooks[i].required;
	return false;
}

static const char *hook_what(const char *prog)
{
	for (size_t i = 0; i < pnm_nhooks; i++)
		if (!strcmp(pnm_hooks[i].prog, prog))
			return pnm_hooks[i].what;
	return prog;
}

bool pnm_in_group(const struct pnm_prog_group *g, const char *prog)
{
	for (size_t i = 0; i < PNM_GROUP_PROGS && g->progs[i]; i++)
		if (!strcmp(g->progs[i], prog))
			return true;
	return false;
}

/* Which group (reader or seeder) a program belongs to, or -1. */
static int group_of(const struct pnm_prog_group *g, size_t n, const char *prog)
{
	for (size_t i = 0; i < n; i++)
		if (pnm_in_group(&g[i], prog))
			return (int)i;
	return -1;
}

/* Does every program of the group stand a chance (none off already)? */
static bool group_possible(struct prog_states *ps, const struct pnm_prog_group *g)
{
	for (size_t i = 0; i < PNM_GROUP_PROGS && g->progs[i]; i++) {
		const struct pnm_hook_state *st = state_of(ps, g->progs[i]);

		if (st && st->state != PNM_HOOK_ACTIVE && st->state != PNM_HOOK_UNUSED)
			return false;
	}
	return true;
}

/* Programs PNM_DISABLE names are off as if the kernel had refused them
 * (for tests). */
static int apply_disable(struct prog_states *ps)
{
	const char *env = getenv("PNM_DISABLE");
	char list[1024], *save = NULL;

	if (!env || !env[0])
		return 0;
	snprintf(list, sizeof(list), "%s", env);
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!state_of(ps, tok)) {
			pr_warn("PNM_DISABLE: no program named '%s'", tok);
			return -EINVAL;
		}
		if (essential(tok)) {
			pr_warn("PNM_DISABLE: %s is essential: pnm-tc cannot count without it",
				tok);
			return -EINVAL;
		}
		pnm_set_state(ps, tok, PNM_HOOK_DISABLED, "turned off by PNM_DISABLE");
	}
	return 0;
}

/* PNM_READER/PNM_SEEDER: the group forced, or -1 for the best that loads. */
static int forced_group(const char *var, const struct pnm_prog_group *g, size_t n, int *idx)
{
	const char *env = getenv(var);

	*idx = -1;
	if (!env || !env[0])
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(g[i].name, env))
			*idx = (int)i;
	if (*idx < 0) {
		pr_warn("%s: no reader named '%s'", var, env);
		return -EINVAL;
	}
	return 0;
}

/* The first group at or after from that can still load; n when none. */
static size_t next_group(struct prog_states *ps, const struct pnm_prog_group *g, size_t n,
			 size_t from, int forced)
{
	if (forced >= 0)
		return from <= (size_t)forced && group_possible(ps, &g[forced]) ? (size_t)forced
										: n;
	while (from < n && !group_possible(ps, &g[from]))
		from++;
	return from;
}

/* A probe's maps: of one entry where the type allows, pinned nowhere, so
 * that a refused program costs no real map's creation. */
static void probe_maps(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_HASH:
		case BPF_MAP_TYPE_ARRAY:
		case BPF_MAP_TYPE_PERCPU_HASH:
		case BPF_MAP_TYPE_PERCPU_ARRAY:
		case BPF_MAP_TYPE_LRU_HASH:
		case BPF_MAP_TYPE_LRU_PERCPU_HASH:
			if (!bpf_map__is_internal(map))
				bpf_map__set_max_entries(map, 1);
			break;
		default:
			break;
		}
		bpf_map__set_pin_path(map, NULL);
	}
}

/* Open the object as the plan says: the programs still on, of the chosen
 * reader and seeder only; a probe loads only those two. */
static struct sock_owner_bpf *open_planned(struct load_plan *lp, const struct pnm_sizes *sizes,
					   bool probe)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = PNM_PIN_DIR);
	struct sock_owner_bpf *so = sock_owner_bpf__open_opts(&opts);
	struct bpf_program *prog;

	if (!so)
		return NULL;
	set_sizes(so->obj, sizes);
	bpf_map__set_max_entries(so->maps.claim_hints, (uint32_t)pnm_ncpus() * PNM_HINTS);
	so->rodata->pnm_ncpus = (uint32_t)pnm_ncpus();
	so->rodata->pnm_fork_slots = sizes->procs ? sizes->procs : PNM_MAX_PROCS;
	so->rodata->pnm_files_reader = lp->reader < pnm_nreaders &&
				       pnm_readers[lp->reader].meta_flag == PNM_META_FILES_READER;
	so->rodata->pnm_task_btf =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK, BPF_FUNC_get_current_task_btf,
					NULL) == 1 &&
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
					BPF_FUNC_get_current_task_btf, NULL) == 1;
	bpf_object__for_each_program(prog, so->obj)
	{
		const char *name = bpf_program__name(prog);
		const struct pnm_hook_state *st = state_of(&lp->ps, name);
		int r = group_of(pnm_readers, pnm_nreaders, name);
		int sd = group_of(pnm_seeders, pnm_nseeders, name);
		bool on = st && st->state == PNM_HOOK_ACTIVE;

		if (r >= 0)
			on = (size_t)r == lp->reader;
		else if (sd >= 0)
			on = (size_t)sd == lp->seeder;
		else if (probe)
			on = false;
		bpf_program__set_autoload(prog, on);
	}
	if (probe)
		probe_maps(so->obj);
	return so;
}

/* Mark the programs of groups other than the chosen one unused. */
static void mark_unused(struct prog_states *ps, const struct pnm_prog_group *g, size_t n,
			size_t chosen, const char *kind)
{
	char why[160];

	for (size_t i = 0; i < n; i++) {
		if (i == chosen)
			continue;
		for (size_t j = 0; j < PNM_GROUP_PROGS && g[i].progs[j]; j++) {
			struct pnm_hook_state *st = state_of(ps, g[i].progs[j]);

			if (!st || st->state != PNM_HOOK_ACTIVE)
				continue;
			if (chosen < n)
				snprintf(why, sizeof(why), "the %s %s is used", g[chosen].name,
					 kind);
			else
				snprintf(why, sizeof(why), "no %s loads", kind);
			st->state = PNM_HOOK_UNUSED;
			snprintf(st->reason, sizeof(st->reason), "%s", why);
		}
	}
}

/*
 * Load the object, one refused program at a time: libbpf loads a skeleton
 * all or nothing, so a refused optional program is turned off, and the
 * object opened and loaded again without it (a refused reader or seeder:
 * the next one). The kernel's verdict on the real program decides, not a
 * guess from its version. An essential program refused ends it. A probe
 * loads only the readers and seeders, into maps of one entry.
 */
static struct sock_owner_bpf *load_planned(struct load_plan *lp, const struct pnm_sizes *sizes,
					   bool probe, int *err)
{
	struct pnm_load_failure lf;
	struct sock_owner_bpf *so;

	for (;;) {
		struct pnm_hook_state *st;
		const char *reason;
		int rc, r, sd;

		so = open_planned(lp, sizes, probe);
		if (!so) {
			*err = -errno;
			pr_warn("cannot open the BPF programs: %s", strerror(errno));
			return NULL;
		}
		pnm_log_capture(&lf);
		rc = sock_owner_bpf__load(so);
		pnm_log_capture(NULL);
		if (!rc)
			return so;
		sock_owner_bpf__destroy(so);
		st = state_of(&lp->ps, lf.prog);
		if (!st) {
			*err = rc;
			pr_warn("kernel refused the socket-owner object (%s; run with -vv for "
				"details)",
				strerror(-rc));
			return NULL;
		}
		reason = !strcmp(lf.reason_of, lf.prog) && lf.reason[0] ? lf.reason : strerror(-rc);
		pnm_set_state(&lp->ps, lf.prog, PNM_HOOK_REFUSED, reason);
		r = group_of(pnm_readers, pnm_nreaders, lf.prog);
		sd = group_of(pnm_seeders, pnm_nseeders, lf.prog);
		if (essential(lf.prog) || (r >= 0 && lp->force_reader >= 0) ||
		    (sd >= 0 && lp->force_seeder >= 0)) {
			*err = rc;
			if (essential(lf.prog))
				pr_warn("kernel refused %s, %s: %s (run with -vv for the "
					"verifier's "
					"log)",
					lf.prog, hook_what(lf.prog), reason);
			else
				pr_warn("kernel refused %s, of the %s %s forced by %s: %s", lf.prog,
					r >= 0 ? pnm_readers[lp->reader].name
					       : pnm_seeders[lp->seeder].name,
					r >= 0 ? "reader" : "seeder",
					r >= 0 ? "PNM_READER" : "PNM_SEEDER", reason);
			return NULL;
		}
		pr_info("kernel refused %s: %s", lf.prog, reason);
		if (r >= 0) {
			lp->reader = next_group(&lp->ps, pnm_readers, pnm_nreaders, lp->reader + 1,
						lp->force_reader);
			if (lp->reader == pnm_nreaders) {
				*err = rc;
				pr_warn("kernel refused every socket counter reader; the last, %s: "
					"%s (run with -vv for the verifier's log)",
					lf.prog, reason);
				return NULL;
			}
		} else if (sd >= 0) {
			lp->seeder = next_group(&lp->ps, pnm_seeders, pnm_nseeders, lp->seeder + 1,
						lp->force_seeder);
		}
	}
}

/* The plan before any load: every program on, but those the kernel lacks
 * an attach point for and those PNM_DISABLE names. */
static int plan_init(struct load_plan *lp, const struct btf *vmlinux)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = PNM_PIN_DIR);
	struct sock_owner_bpf *so = sock_owner_bpf__open_opts(&opts);
	struct bpf_program *prog;
	int rc;

	memset(lp, 0, sizeof(*lp));
	if (!so) {
		rc = -errno;
		pr_warn("cannot open the BPF programs: %s", strerror(errno));
		return rc;
	}
	bpf_object__for_each_program(prog, so->obj)
	{
		if (lp->ps.n == PNM_HOOK_SLOTS)
			break;
		snprintf(lp->ps.st[lp->ps.n++].prog, sizeof(lp->ps.st[0].prog), "%s",
			 bpf_program__name(prog));
	}
	sock_owner_bpf__destroy(so);
	for (size_t i = 0; i < pnm_nhooks; i++) {
		const struct pnm_hook *h = &pnm_hooks[i];
		char why[160];

		if (h->target[0] && !have_tracepoint(vmlinux, h->target)) {
			snprintf(why, sizeof(why), "the kernel lacks tracepoint %s", h->target);
			pnm_set_state(&lp->ps, h->prog, PNM_HOOK_ABSENT, why);
			pr_info("kernel lacks tracepoint %s: %s disabled", h->target, h->what);
		}
	}
	rc = apply_disable(&lp->ps);
	if (!rc)
		rc = forced_group("PNM_READER", pnm_readers, pnm_nreaders, &lp->force_reader);
	if (!rc)
		rc = forced_group("PNM_SEEDER", pnm_seeders, pnm_nseeders, &lp->force_seeder);
	if (rc)
		return rc;
	lp->reader = next_group(&lp->ps, pnm_readers, pnm_nreaders, 0, lp->force_reader);
	lp->seeder = next_group(&lp->ps, pnm_seeders, pnm_nseeders, 0, lp->force_seeder);
	if (lp->reader == pnm_nreaders) {
		pr_warn("no socket counter reader is left to load (PNM_DISABLE, PNM_READER)");
		return -EINVAL;
	}
	return 0;
}

/* One line for attach: the features off, and a reader or seeder other
 * than the best. */
void pnm_say_what_is_off(const struct load_plan *lp)
{
	char line[1024] = "";
	size_t len = 0;

	for (size_t i = 0; i < lp->ps.n; i++) {
		const struct pnm_hook_state *st = &lp->ps.st[i];
		const char *why = st->state == PNM_HOOK_REFUSED	   ? "refused"
				  : st->state == PNM_HOOK_ABSENT   ? "not in this kernel"
				  : st->state == PNM_HOOK_DISABLED ? "PNM_DISABLE"
								   : NULL;

		if (!why || group_of(pnm_readers, pnm_nreaders, st->prog) >= 0 ||
		    group_of(pnm_seeders, pnm_nseeders, st->prog) >= 0)
			continue;
		if (len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s (%s)",
						len ? ", " : "", st->prog, why);
	}
	if (lp->seeder == pnm_nseeders && len < sizeof(line))
		len += (size_t)snprintf(line + len, sizeof(line) - len,
					"%sseeding of the sockets that existed before attach",
					len ? ", " : "");
	if (len)
		pr_warn("off on this kernel: %s; 'pnm-tc status' says what each covers and why",
			line);
	if (lp->reader || lp->seeder)
		pr_info("socket reader: %s; seeder: %s", pnm_readers[lp->reader].name,
			lp->seeder < pnm_nseeders ? pnm_seeders[lp->seeder].name : "none");
}

int pnm_plan_load(struct load_plan *lp, const struct pnm_sizes *sizes, const struct btf *vmlinux,
		  struct sock_owner_bpf **so)
{
	int rc = plan_init(lp, vmlinux);

	*so = NULL;
	if (rc)
		return rc;
	/* The readers and seeders, the programs kernels refuse most, are
	 * tried first with the maps cut down: the real load then mostly
	 * succeeds at once. */
	*so = load_planned(lp, sizes, true, &rc);
	sock_owner_bpf__destroy(*so);
	*so = *so ? load_planned(lp, sizes, false, &rc) : NULL;
	if (!*so)
		return rc;
	mark_unused(&lp->ps, pnm_readers, pnm_nreaders, lp->reader, "reader");
	mark_unused(&lp->ps, pnm_seeders, pnm_nseeders, lp->seeder, "seeder");
	return 0;
}
