// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Fill a snapshot from the pinned maps, summing the per-CPU values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "iface.h"
#include "netns.h"
#include "proc.h"
#include "snapshot.h"
#include "state.h"

static int read_ifaces(const struct pnm_maps *m, struct pnm_snapshot *s, void *buf)
{
	uint32_t key, next, *prev = NULL;
	int ncpu = pnm_ncpus();

	while (!bpf_map_get_next_key(m->ifcfg, prev, &next)) {
		struct pnm_if_cfg cfg;
		struct pnm_iface *ifc, *grown;
		struct pnm_if_stats *st = buf;
		struct pnm_link link;
		int home;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->ifcfg, &key, &cfg))
			continue;
		grown = realloc(s->ifaces, (s->nifaces + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->ifaces = grown;
		ifc = &s->ifaces[s->nifaces++];
		memset(ifc, 0, sizeof(*ifc));
		ifc->ifindex = cfg.ifindex;
		ifc->slot = key;
		ifc->flags = cfg.flags;
		ifc->layer = cfg.layer;
		ifc->netns_ino = cfg.netns_ino;
		snprintf(ifc->name, sizeof(ifc->name), "%s", cfg.name);
		snprintf(ifc->netns, sizeof(ifc->netns), "%s", cfg.netns);
		pnm_if_label(cfg.netns, cfg.name, ifc->label, sizeof(ifc->label));
		/* A namespace that is gone took the interface with it. */
		if (!pnm_netns_enter(cfg.netns_ino, cfg.netns, &home)) {
			ifc->present = !pnm_link_by_index(cfg.ifindex, &link) &&
				       !strcmp(link.name, cfg.name);
			pnm_netns_leave(home);
		}
		if (bpf_map_lookup_elem(m->ifstat, &key, buf))
			continue;
		for (int c = 0; c < ncpu; c++) {
			pnm_counts_from(&ifc->unattr, st[c].unattr);
			pnm_counts_from(&ifc->overflow, st[c].overflow);
		}
	}
	return 0;
}

struct proc_row {
	struct pnm_proc_key key;
	struct pnm_counts c;
};

static int by_process(const void *a, const void *b)
{
	const struct pnm_proc_key *x = &((const struct proc_row *)a)->key;
	const struct pnm_proc_key *y = &((const struct proc_row *)b)->key;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->slot == y->slot ? 0 : x->slot < y->slot ? -1 : 1;
}

static int read_procs(const struct pnm_maps *m, struct pnm_snapshot *s, void *buf)
{
	struct pnm_proc_key key, next, *prev = NULL;
	struct proc_row *rows = NULL;
	size_t n = 0, cap = 0;
	int ncpu = pnm_ncpus();

	/* Read all, then group by process: no search per row. */
	while (!bpf_map_get_next_key(m->procstat, prev, &next)) {
		struct pnm_traffic *tr = buf;
		struct pnm_counts c = { 0 };

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->procstat, &key, buf))
			continue;
		for (int i = 0; i < ncpu; i++)
			pnm_counts_from(&c, tr[i].dir);
		if (n == cap) {
			struct proc_row *grown;

			cap = cap ? 2 * cap : 256;
			grown = realloc(rows, cap * sizeof(*rows));
			if (!grown) {
				free(rows);
				return -ENOMEM;
			}
			rows = grown;
		}
		rows[n].key = key;
		rows[n++].c = c;
	}
	if (n > 1)
		qsort(rows, n, sizeof(*rows), by_process);
	for (size_t i = 0; i < n; i++) {
		if (!pnm_snapshot_append(s, rows[i].key.tgid, rows[i].key.start_ns,
					 rows[i].key.slot, &rows[i].c)) {
			free(rows);
			return -ENOMEM;
		}
	}
	free(rows);
	/* Totals from the same reads as their parts: they always add up. */
	for (size_t i = 0; i < s->nifaces; i++)
		s->ifaces[i].total = s->ifaces[i].unattr;
	for (size_t i = 0; i < s->nprocs; i++) {
		for (size_t j = 0; j < s->procs[i].nifs; j++) {
			struct pnm_iface *ifc =
				pnm_snapshot_iface_by_slot(s, s->procs[i].ifs[j].slot);

			if (ifc)
				pnm_counts_add(&ifc->total, &s->procs[i].ifs[j].c);
		}
	}
	for (size_t i = 0; i < s->nprocs; i++) {
		struct pnm_proc *p = &s->procs[i];
		struct pnm_owner o = { .start_ns = p->start_ns, .tgid = p->pid };
		struct pnm_proc_info info;

		if (!bpf_map_lookup_elem(m->procinfo, &o, &info)) {
			snprintf(p->name, sizeof(p->name), "%s", info.comm);
			p->ppid = info.ppid;
			p->exited = info.flags & PNM_PROC_EXITED;
			p->exit_ns = info.exit_ns;
		} else {
			/* No record (a full map): ask /proc whether it still runs. */
			p->exited = !pnm_proc_is(p->pid, p->start_ns);
			if (p->exited || pnm_proc_name(p->pid, p->name, sizeof(p->name)))
				snprintf(p->name, sizeof(p->name), "?");
		}
	}
	return 0;
}

struct proc_idx {
	uint32_t pid;
	uint64_t start_ns;
	struct pnm_proc *p;
};

static int cmp_idx(const void *a, const void *b)
{
	const struct proc_idx *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start_ns == y->start_ns ? 0 : x->start_ns < y->start_ns ? -1 : 1;
}

/* Every socket's own counters, to its owner (read in batches). */
static int read_conns(const struct pnm_maps *m, struct pnm_snapshot *s)
{
	enum { BATCH = 1024 };
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct proc_idx *idx = calloc(s->nprocs ? s->nprocs : 1, sizeof(*idx));
	uint64_t *keys = calloc(BATCH, sizeof(*keys)), in = 0, out = 0;
	struct pnm_conn *vals = calloc(BATCH, sizeof(*vals));
	bool first = true, done = false;
	int rc = 0;

	if (!idx || !keys || !vals) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->nprocs; i++)
		idx[i] = (struct proc_idx){ s->procs[i].pid, s->procs[i].start_ns, &s->procs[i] };
	qsort(idx, s->nprocs, sizeof(*idx), cmp_idx);
	while (!done && !rc) {
		uint32_t n = BATCH;

		if (bpf_map_lookup_batch(m->conn, first ? NULL : &in, &out, keys, vals, &n,
					 &opts)) {
			if (errno != ENOENT) {
				rc = -errno;
				break;
			}
			done = true; /* the last batch, n may be > 0 */
		}
		first = false;
		in = out;
		for (uint32_t i = 0; i < n && !rc; i++) {
			struct proc_idx key = { vals[i].owner.tgid, vals[i].owner.start_ns, NULL };
			struct proc_idx *hit =
				s->nprocs ? bsearch(&key, idx, s->nprocs, sizeof(*idx), cmp_idx)
					  : NULL;

			/* An owner without counters (a full map): nothing to add to. */
			if (hit)
				rc = pnm_proc_add_conn(hit->p, &vals[i]);
		}
	}
out:
	free(idx);
	free(keys);
	free(vals);
	return rc;
}

int pnm_snapshot_read(const struct pnm_maps *m, struct pnm_snapshot *s)
{
	size_t per_cpu = sizeof(struct pnm_if_stats) > sizeof(struct pnm_traffic)
				 ? sizeof(struct pnm_if_stats)
				 : sizeof(struct pnm_traffic);
	struct timespec now;
	void *buf;
	int rc;

	memset(s, 0, sizeof(*s));
	s->taken = time(NULL);
	if (!clock_gettime(CLOCK_BOOTTIME, &now))
		s->now_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	/* Per-CPU values come as one 8-byte-aligned slot per possible CPU. */
	buf = calloc((size_t)pnm_ncpus(), (per_cpu + 7) & ~(size_t)7);
	if (!buf)
		return -ENOMEM;
	rc = read_ifaces(m, s, buf);
	if (!rc)
		rc = read_procs(m, s, buf);
	free(buf);
	if (!rc) {
		pnm_snapshot_finish(s);
		/* After the sort: connections point at their owners. */
		rc = read_conns(m, s);
	}
	if (rc)
		pnm_snapshot_free(s);
	return rc;
}
