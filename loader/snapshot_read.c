// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fill a snapshot from the pinned maps, summing the per-CPU values, and
 * from the sockets' own counters (the pinned iterator PNM_SOCKITER).
 */
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
		ifc->gen = cfg.gen;
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

/* Every socket's own counters: one pnm_sock_rec per socket; and the flow
 * cache's entries that hold bytes for an attached interface. */
struct socks {
	struct pnm_sock_rec *rec;
	size_t n;
	struct pnm_flow *flow;
	size_t nflow;
};

/*
 * Every entry of a hash map, read in batches (a few system calls, not two
 * per entry): *n keys of ksz bytes in *keys, values of vsz bytes (per-CPU
 * maps: all CPUs' copies) in *vals. The caller frees both.
 */
static int read_all(int fd, size_t ksz, size_t vsz, char **keys, char **vals, size_t *n)
{
	enum { BATCH = 1024 };
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint64_t in = 0, out = 0; /* the kernel's position: a bucket number */
	size_t cap = 0;
	bool first = true;
	int err;

	*keys = *vals = NULL;
	*n = 0;
	for (;;) {
		uint32_t got = BATCH;

		err = 0;
		if (*n + BATCH > cap) {
			size_t old = cap;
			char *k, *v;

			cap = 2 * cap + BATCH;
			k = realloc(*keys, cap * ksz);
			if (k)
				*keys = k;
			v = k ? realloc(*vals, cap * vsz) : NULL;
			if (v)
				*vals = v;
			if (!k || !v) {
				err = ENOMEM;
				goto fail;
			}
			/* Zeroed: valgrind does not see the kernel fill them. */
			memset(k + old * ksz, 0, (cap - old) * ksz);
			memset(v + old * vsz, 0, (cap - old) * vsz);
		}
		if (bpf_map_lookup_batch(fd, first ? NULL : &in, &out, *keys + *n * ksz,
					 *vals + *n * vsz, &got, &opts))
			err = errno;
		if (err && err != ENOENT)
			goto fail;
		*n += got; /* the last batch (ENOENT) may have some too */
		first = false;
		in = out;
		if (err == ENOENT)
			return 0;
	}
fail:
	free(*keys);
	free(*vals);
	*keys = *vals = NULL;
	*n = 0;
	return -err;
}

/* The flow cache's pending bytes, every CPU's entries (bpf/flows.bpf.h):
 * those of an interface's current attach only. */
static int read_flows(const struct pnm_maps *m, struct pnm_snapshot *s, struct socks *k)
{
	size_t vsz = (sizeof(struct pnm_flow) + 7) & ~(size_t)7, n;
	char *keys, *vals;
	int rc;

	rc = read_all(m->flows, sizeof(uint32_t), vsz, &keys, &vals, &n);
	if (rc)
		return rc;
	free(keys);
	k->flow = calloc(n + 1, sizeof(*k->flow));
	if (!k->flow) {
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct pnm_flow *f = (const void *)(vals + i * vsz);
		const struct pnm_iface *ifc;

		if (!f->slot || !(f->pending.bytes | f->pending.packets))
			continue;
		ifc = pnm_snapshot_iface_by_slot(s, f->slot - 1);
		if (ifc && ifc->gen == f->gen)
			k->flow[k->nflow++] = *f;
	}
	free(vals);
	return 0;
}

static int by_owner(const void *a, const void *b)
{
	const struct pnm_owner *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->start_ns == y->start_ns ? 0 : x->start_ns < y->start_ns ? -1 : 1;
}

struct proc_row {
	struct pnm_proc_key key;
	struct pnm_counts c;
};

/* Room for one more row. */
static struct proc_row *next_row(struct proc_row **rows, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		struct proc_row *grown;

		*cap = *cap ? 2 * *cap : 256;
		grown = realloc(*rows, *cap * sizeof(*grown));
		if (!grown)
			return NULL;
		*rows = grown;
	}
	return &(*rows)[(*n)++];
}

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

/* Names, parents and exits from pnm_procinfo, joined to the processes
 * (both in PID order: one pass). */
static int read_names(const struct pnm_maps *m, struct pnm_snapshot *s)
{
	struct info_row {
		struct pnm_owner o;
		struct pnm_proc_info info;
	} * rows;
	size_t n, j = 0;
	char *keys, *vals;
	int rc;

	rc = read_all(m->procinfo, sizeof(struct pnm_owner), sizeof(struct pnm_proc_info), &keys,
		      &vals, &n);
	if (rc)
		return rc;
	rows = calloc(n ? n : 1, sizeof(*rows));
	for (size_t i = 0; rows && i < n; i++) {
		memcpy(&rows[i].o, keys + i * sizeof(rows[i].o), sizeof(rows[i].o));
		memcpy(&rows[i].info, vals + i * sizeof(rows[i].info), sizeof(rows[i].info));
	}
	free(keys);
	free(vals);
	if (!rows)
		return -ENOMEM;
	qsort(rows, n, sizeof(*rows), by_owner);
	for (size_t i = 0; i < s->nprocs; i++) {
		struct pnm_proc *p = &s->procs[i];
		struct pnm_owner o = { .start_ns = p->start_ns, .tgid = p->pid };

		while (j < n && by_owner(&rows[j].o, &o) < 0)
			j++;
		if (j < n && !by_owner(&rows[j].o, &o)) {
			snprintf(p->name, sizeof(p->name), "%s", rows[j].info.comm);
			p->ppid = rows[j].info.ppid;
			p->exited = rows[j].info.flags & PNM_PROC_EXITED;
			p->exit_ns = rows[j].info.exit_ns;
		} else {
			/* No record (a full map): ask /proc whether it still runs. */
			p->exited = !pnm_proc_is(p->pid, p->start_ns);
			if (p->exited || pnm_proc_name(p->pid, p->name, sizeof(p->name)))
				snprintf(p->name, sizeof(p->name), "?");
		}
	}
	free(rows);
	return 0;
}

static int read_procs(const struct pnm_maps *m, const struct socks *k, struct pnm_snapshot *s)
{
	size_t vsz = ((sizeof(struct pnm_traffic) + 7) & ~(size_t)7) * (size_t)pnm_ncpus();
	struct proc_row *rows = NULL, *r;
	size_t n = 0, cap = 0, nstat;
	char *keys, *vals;
	int rc;

	/* Read all, then group by process: no search per row. */
	rc = read_all(m->procstat, sizeof(struct pnm_proc_key), vsz, &keys, &vals, &nstat);
	if (rc)
		return rc;
	for (size_t i = 0; i < nstat; i++) {
		const struct pnm_traffic *tr = (const void *)(vals + i * vsz);

		r = next_row(&rows, &n, &cap);
		if (!r) {
			free(keys);
			free(vals);
			free(rows);
			return -ENOMEM;
		}
		memcpy(&r->key, keys + i * sizeof(r->key), sizeof(r->key));
		memset(&r->c, 0, sizeof(r->c));
		for (int c = 0; c < pnm_ncpus(); c++)
			pnm_counts_from(&r->c, tr[c].dir);
	}
	free(keys);
	free(vals);
	/* A socket's owner has what it counted since its last fold. */
	for (size_t i = 0; i < k->n; i++) {
		const struct pnm_sock_rec *sr = &k->rec[i];

		for (int j = 0; j < PNM_CONN_IFACES; j++) {
			const struct pnm_counter *c = sr->conn.c[j], *b = sr->base[j];
			struct pnm_counts d = {
				.bytes_in = c[PNM_IN].bytes - b[PNM_IN].bytes,
				.packets_in = c[PNM_IN].packets - b[PNM_IN].packets,
				.bytes_out = c[PNM_OUT].bytes - b[PNM_OUT].bytes,
				.packets_out = c[PNM_OUT].packets - b[PNM_OUT].packets,
			};

			if (!sr->conn.slot[j] ||
			    !(d.bytes_in | d.bytes_out | d.packets_in | d.packets_out))
				continue;
			r = next_row(&rows, &n, &cap);
			if (!r) {
				free(rows);
				return -ENOMEM;
			}
			r->key = (struct pnm_proc_key){ .start_ns = sr->conn.owner.start_ns,
							.tgid = sr->conn.owner.tgid,
							.slot = sr->conn.slot[j] - 1 };
			r->c = d;
		}
	}
	/* What the flow cache holds is its entry's owner's. */
	for (size_t i = 0; i < k->nflow; i++) {
		const struct pnm_flow *f = &k->flow[i];
		struct pnm_counter d[PNM_NDIR] = { 0 };

		d[f->dir == PNM_OUT ? PNM_OUT : PNM_IN] = f->pending;
		r = next_row(&rows, &n, &cap);
		if (!r) {
			free(rows);
			return -ENOMEM;
		}
		r->key = (struct pnm_proc_key){ .start_ns = f->owner.start_ns,
						.tgid = f->owner.tgid,
						.slot = f->slot - 1 };
		memset(&r->c, 0, sizeof(r->c));
		pnm_counts_from(&r->c, d);
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
	return read_names(m, s);
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

struct conn_rec {
	uint64_t cookie;
	bool live; /* from the socket's storage, not pnm_conn */
	struct pnm_conn c;
};

/* By cookie, the live record first. */
static int by_cookie(const void *a, const void *b)
{
	const struct conn_rec *x = a, *y = b;

	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return x->live == y->live ? 0 : x->live ? -1 : 1;
}

/* b's counters into a, column by column (a socket counted partly in its
 * storage, partly in pnm_conn: XDP ingress). */
static void conn_merge(struct pnm_conn *a, const struct pnm_conn *b)
{
	for (int j = 0; j < PNM_CONN_IFACES; j++) {
		int i;

		if (!b->slot[j])
			continue;
		for (i = 0; i < PNM_CONN_IFACES; i++)
			if (a->slot[i] == b->slot[j] || !a->slot[i])
				break;
		if (i == PNM_CONN_IFACES)
			continue;
		a->slot[i] = b->slot[j];
		for (int d = 0; d < PNM_NDIR; d++) {
			a->c[i][d].bytes += b->c[j][d].bytes;
			a->c[i][d].packets += b->c[j][d].packets;
		}
	}
}

/* Every connection: the live sockets' own counters and pnm_conn's (read in
 * batches), one per socket cookie. */
static int read_conn_recs(const struct pnm_maps *m, const struct socks *k, struct conn_rec **out,
			  size_t *count)
{
	struct conn_rec *recs;
	size_t n = 0, nmap;
	char *keys, *vals;
	int rc;

	rc = read_all(m->conn, sizeof(uint64_t), sizeof(struct pnm_conn), &keys, &vals, &nmap);
	if (rc)
		return rc;
	recs = calloc(k->n + nmap + k->nflow + 1, sizeof(*recs));
	if (!recs) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < k->n; i++) {
		if (k->rec[i].flags & PNM_SOCK_RETIRED)
			continue; /* its connection is in pnm_conn */
		recs[n].cookie = k->rec[i].cookie;
		recs[n].live = true;
		recs[n++].c = k->rec[i].conn;
	}
	for (size_t i = 0; i < nmap; i++, n++) {
		memcpy(&recs[n].cookie, keys + i * sizeof(uint64_t), sizeof(uint64_t));
		memcpy(&recs[n].c, vals + i * sizeof(struct pnm_conn), sizeof(struct pnm_conn));
	}
	free(keys);
	free(vals);
	for (size_t i = 0; i < k->nflow; i++, n++) {
		const struct pnm_flow *f = &k->flow[i];

		recs[n].cookie = f->cookie;
		recs[n].c.t = f->t;
		recs[n].c.owner = f->owner;
		recs[n].c.state = f->state;
		recs[n].c.slot[0] = f->slot;
		recs[n].c.c[0][f->dir == PNM_OUT ? PNM_OUT : PNM_IN] = f->pending;
	}
	qsort(recs, n, sizeof(*recs), by_cookie);
	/* One per cookie: the live one (first) takes the other's counts. */
	if (n) {
		size_t w = 0;

		for (size_t i = 1; i < n; i++) {
			if (recs[i].cookie == recs[w].cookie)
				conn_merge(&recs[w].c, &recs[i].c);
			else
				recs[++w] = recs[i];
		}
		n = w + 1;
	}
	*out = recs;
	*count = n;
	return 0;
}

/* Each connection to its owner. */
static int read_conns(const struct pnm_maps *m, const struct socks *k, struct pnm_snapshot *s)
{
	struct proc_idx *idx = calloc(s->nprocs ? s->nprocs : 1, sizeof(*idx));
	struct conn_rec *recs = NULL;
	size_t n = 0;
	int rc;

	if (!idx)
		return -ENOMEM;
	rc = read_conn_recs(m, k, &recs, &n);
	for (size_t i = 0; i < s->nprocs; i++)
		idx[i] = (struct proc_idx){ s->procs[i].pid, s->procs[i].start_ns, &s->procs[i] };
	qsort(idx, s->nprocs, sizeof(*idx), cmp_idx);
	for (size_t i = 0; i < n && !rc; i++) {
		struct proc_idx key = { recs[i].c.owner.tgid, recs[i].c.owner.start_ns, NULL };
		struct proc_idx *hit =
			s->nprocs ? bsearch(&key, idx, s->nprocs, sizeof(*idx), cmp_idx) : NULL;

		/* An owner without counters (a full map): nothing to add to. */
		if (hit)
			rc = pnm_proc_add_conn(hit->p, &recs[i].c);
	}
	free(idx);
	free(recs);
	return rc;
}

static int read_once(const struct pnm_maps *m, struct pnm_snapshot *s)
{
	struct socks k = { 0 };
	struct timespec now;
	void *buf;
	int rc;

	memset(s, 0, sizeof(*s));
	s->taken = time(NULL);
	if (!clock_gettime(CLOCK_BOOTTIME, &now))
		s->now_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	/* Per-CPU values come as one 8-byte-aligned slot per possible CPU. */
	buf = calloc((size_t)pnm_ncpus(), (sizeof(struct pnm_if_stats) + 7) & ~(size_t)7);
	if (!buf)
		return -ENOMEM;
	rc = pnm_sockets_read(m, NULL, &k.rec, &k.n);
	if (!rc)
		rc = read_ifaces(m, s, buf);
	if (!rc)
		rc = read_flows(m, s, &k);
	if (!rc)
		rc = read_procs(m, &k, s);
	free(buf);
	if (!rc) {
		pnm_snapshot_finish(s);
		/* After the sort: connections point at their owners. */
		rc = read_conns(m, &k, s);
	}
	free(k.rec);
	free(k.flow);
	if (rc)
		pnm_snapshot_free(s);
	return rc;
}

/* Folds begun (*begun); true when as many have ended: none under way. */
static bool no_fold(const struct pnm_maps *m, uint64_t *begun)
{
	struct pnm_folds f;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(m->folds, &zero, &f))
		return false;
	*begun = f.begun;
	return f.begun == f.ended;
}

/*
 * A fold moves bytes from a socket to pnm_procstat while we read: read
 * again until no fold began or was under way meanwhile. Sockets changing
 * hands or closing thousands of times a second can outpace that: the last
 * read then stands, with an error of at most the bytes in flight.
 */
int pnm_snapshot_read(const struct pnm_maps *m, struct pnm_snapshot *s)
{
	for (int tries = 1;; tries++) {
		uint64_t before = 0, after = 0;
		bool quiet = no_fold(m, &before);
		int rc = read_once(m, s);

		if (rc)
			return rc;
		if ((quiet && no_fold(m, &after) && after == before) || tries == 8)
			return 0;
		pnm_snapshot_free(s);
	}
}
