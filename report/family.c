// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * show --children: the descendants of the -p processes. The process tree
 * comes from three places: the fork records the kernel keeps while
 * attached (pnm_parent: exact, and they outlive the processes), the
 * processes with counters (their parent PID), and /proc for processes that
 * run now (which may predate the attach).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "grow.h"
#include "proc.h"
#include "show.h"
#include "snapshot.h"
#include "state.h"

struct edge {
	uint32_t pid, ppid;
	uint64_t start, pstart; /* pstart 0: the parent's start is unknown */
};

struct edges {
	struct edge *e;
	size_t n, cap;
};

static int add_edge(struct edges *g, uint32_t pid, uint64_t start, uint32_t ppid, uint64_t pstart)
{
	if (pnm_grow(&g->e, &g->cap, g->n + 1, sizeof(*g->e), 256))
		return -ENOMEM;
	g->e[g->n++] = (struct edge){ pid, ppid, start, pstart };
	return 0;
}

/* The fork records (pnm_parent's slots in use): counted, and kept as
 * edges when g is set. */
struct forks_ctx {
	struct edges *g;
	size_t n;
};

static int forks_batch(void *ctx, const char *keys, const char *vals, size_t n)
{
	struct forks_ctx *x = ctx;

	(void)keys;
	for (size_t i = 0; i < n; i++) {
		struct pnm_fork f;
		int rc;

		memcpy(&f, vals + i * sizeof(f), sizeof(f));
		if (!f.child.tgid)
			continue;
		x->n++;
		rc = x->g ? add_edge(x->g, f.child.tgid, f.child.start_ns, f.parent.tgid,
				     f.parent.start_ns)
			  : 0;
		if (rc)
			return rc;
	}
	return 0;
}

int pnm_forks_count(const struct pnm_maps *m, size_t *n)
{
	struct forks_ctx x = { 0 };
	int rc = pnm_read_batches(m->parent, sizeof(uint32_t), sizeof(struct pnm_fork), forks_batch,
				  &x);

	*n = x.n;
	return rc;
}

static int collect(const struct pnm_maps *m, const struct pnm_snapshot *s, struct edges *g)
{
	struct forks_ctx x = { .g = g };
	struct dirent *d;
	DIR *dir;
	int rc;

	rc = pnm_read_batches(m->parent, sizeof(uint32_t), sizeof(struct pnm_fork), forks_batch,
			      &x);
	for (size_t i = 0; !rc && i < s->nprocs; i++)
		if (s->procs[i].ppid)
			rc = add_edge(g, s->procs[i].pid, s->procs[i].start_ns, s->procs[i].ppid,
				      0);
	dir = opendir("/proc");
	while (!rc && dir && (d = readdir(dir))) {
		uint32_t pid, ppid;
		uint64_t start;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = (uint32_t)strtoul(d->d_name, NULL, 10);
		if (!pnm_proc_stat(pid, &ppid, &start))
			rc = add_edge(g, pid, start, ppid, 0);
	}
	if (dir)
		closedir(dir);
	return rc;
}

static bool member(const struct pnm_proc_ref *f, size_t n, uint32_t pid, uint64_t start)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].pid == pid && pnm_same_start(f[i].start_ns, start))
			return true;
	return false;
}

/* Is the parent of edge e in the family? A parent known only by PID must
 * have started before its child (a reused PID did not). */
static bool parent_in(const struct pnm_proc_ref *f, size_t n, const struct edge *e)
{
	for (size_t i = 0; i < n; i++) {
		if (f[i].pid != e->ppid)
			continue;
		if (e->pstart ? pnm_same_start(f[i].start_ns, e->pstart)
			      : f[i].start_ns <= e->start)
			return true;
	}
	return false;
}

int pnm_family(const struct pnm_maps *m, const struct pnm_snapshot *s, struct pnm_show *a)
{
	struct edges g = { 0 };
	struct pnm_proc_ref *f = NULL;
	size_t n = 0, cap;
	bool grew = true;
	int rc;

	rc = collect(m, s, &g);
	cap = g.n + s->nprocs + a->view.pids->n + 1;
	f = rc ? NULL : calloc(cap, sizeof(*f));
	if (!f) {
		free(g.e);
		return -ENOMEM;
	}
	/* The roots: every instance of each -p PID we know of. */
	for (size_t i = 0; i < a->view.pids->n; i++) {
		uint32_t pid = a->view.pids->pid[i];

		for (size_t j = 0; j < s->nprocs; j++)
			if (s->procs[j].pid == pid && !member(f, n, pid, s->procs[j].start_ns))
				f[n++] = (struct pnm_proc_ref){ pid, s->procs[j].start_ns };
		for (size_t j = 0; j < g.n; j++)
			if (g.e[j].pid == pid && !member(f, n, pid, g.e[j].start))
				f[n++] = (struct pnm_proc_ref){ pid, g.e[j].start };
	}
	while (grew) {
		grew = false;
		for (size_t j = 0; j < g.n; j++) {
			const struct edge *e = &g.e[j];

			if (n < cap && !member(f, n, e->pid, e->start) && parent_in(f, n, e)) {
				f[n++] = (struct pnm_proc_ref){ e->pid, e->start };
				grew = true;
			}
		}
	}
	/* The snapshot's own start times are exact: use those in the view. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < s->nprocs; j++)
			if (s->procs[j].pid == f[i].pid &&
			    pnm_same_start(s->procs[j].start_ns, f[i].start_ns))
				f[i].start_ns = s->procs[j].start_ns;
	free(g.e);
	free(a->family);
	a->family = f;
	a->nfamily = n;
	a->view.procs = f;
	a->view.nprocs = n;
	return 0;
}
