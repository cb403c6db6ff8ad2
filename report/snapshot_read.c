// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fill a snapshot from the pinned maps, summing the per-CPU values, and
 * from the sockets' own counters (the pinned iterator PNM_SOCKITER).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "grow.h"
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
		struct pnm_iface *ifc;
		struct pnm_if_stats *st = buf;
		struct pnm_link link;
		int home;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->ifcfg, &key, &cfg))
			continue;
		if (pnm_grow(&s->ifaces, &s->ifaces_cap, s->nifaces + 1, sizeof(*s->ifaces), 8))
			return -ENOMEM;
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
			for (int u = 0; u < PNM_U_COUNT; u++)
				pnm_counts_from(&ifc->unattr_by[u], st[c].unattr_by[u]);
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

/* A value of sz bytes as batch reads and per-CPU lookups lay it out:
 * 8-byte aligned. */
static size_t val_size(size_t sz)
{
	return (sz + 7) & ~(size_t)7;
}

/*
 * Every entry of a map, read in batches (a few system calls, not two per
 * entry) into one batch's buffers, used again for the next: fn keeps what
 * it needs of each. Per-CPU maps give all CPUs' copies of a value. Whole
 * maps read at once were most of what show touched: the flow cache alone
 * is 4096 entries of 112 B on 2 CPUs, nearly all of them empty, and on a
 * VM each page touched for the first time is a dear page fault.
 */
int pnm_read_batches(int fd, size_t ksz, size_t vsz, pnm_batch_fn fn, void *ctx)
{
	enum { BATCH = 1024 };
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint64_t in = 0, out = 0; /* the kernel's position: a bucket number */
	/* Zeroed: valgrind does not see the kernel fill them. */
	char *keys = calloc(BATCH, ksz), *vals = calloc(BATCH, vsz);
	bool first = true;
	int err = keys && vals ? 0 : ENOMEM;

	while (!err) {
		uint32_t got = BATCH;
		bool last;

		if (bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &got, &opts))
			err = errno;
		last = err == ENOENT; /* which may still bring some */
		if (last)
			err = 0;
		if (!err && got)
			err = -fn(ctx, keys, vals, got);
		if (last)
			break;
		first = false;
		in = out;
	}
	free(keys);
	free(vals);
	return -err;
}

/* The flow cache's pending bytes, every CPU's entries (bpf/flows.bpf.h):
 * those of an interface's current attach only. */
struct flows_ctx {
	struct pnm_snapshot *s;
	struct socks *k;
	size_t cap;
};

static int flows_batch(void *ctx, const char *keys, const char *vals, size_t n)
{
	struct flows_ctx *x = ctx;
	size_t vsz = val_size(sizeof(struct pnm_flow));

	(void)keys;
	for (size_t i = 0; i < n; i++) {
		const struct pnm_flow *f = (const void *)(vals + i * vsz);
		const struct pnm_iface *ifc;

		if (!f->slot || !(f->pending.bytes | f->pending.packets))
			continue;
		ifc = pnm_snapshot_iface_by_slot(x->s, f->slot - 1);
		if (!ifc || ifc->gen != f->gen)
			continue;
		if (pnm_grow(&x->k->flow, &x->cap, x->k->nflow + 1, sizeof(*f), 256))
			return -ENOMEM;
		x->k->flow[x->k->nflow] = *f;
		if (f->ugen) {
			/* A sender to an unconnected socket: not its remote end. */
			struct pnm_tuple *t = &x->k->flow[x->k->nflow].t;

			memset(t->remote, 0, sizeof(t->remote));
			t->rport = 0;
		}
		x->k->nflow++;
	}
	return 0;
}

static int read_flows(const struct pnm_maps *m, struct pnm_snapshot *s, struct socks *k)
{
	struct flows_ctx x = { .s = s, .k = k };

	return pnm_read_batches(m->flows, sizeof(uint32_t), val_size(sizeof(struct pnm_flow)),
				flows_batch, &x);
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
	return pnm_grow(rows, cap, *n + 1, sizeof(**rows), 256) ? NULL : &(*rows)[(*n)++];
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
struct info_row {
	struct pnm_owner o;
	struct pnm_proc_info info;
};

struct names_ctx {
	struct info_row *rows;
	size_t n, cap;
};

static int names_batch(void *ctx, const char *keys, const char *vals, size_t n)
{
	struct names_ctx *x = ctx;

	if (pnm_grow(&x->rows, &x->cap, x->n + n, sizeof(*x->rows), 256))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, x->n++) {
		memcpy(&x->rows[x->n].o, keys + i * sizeof(struct pnm_owner),
		       sizeof(struct pnm_owner));
		memcpy(&x->rows[x->n].info, vals + i * sizeof(struct pnm_proc_info),
		       sizeof(struct pnm_proc_info));
	}
	return 0;
}

/* x: pnm_procinfo's entries (prefetched), taken. */
static void join_names(struct names_ctx *x, struct pnm_snapshot *s)
{
	struct info_row *rows = x->rows;
	size_t n = x->n, j = 0;

	x->rows = NULL;
	if (n > 1)
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
}

/* pnm_procstat's entries, all CPUs' counters summed, as rows. */
struct procs_ctx {
	struct proc_row *rows;
	size_t n, cap;
};

/* A pnm_procstat value: one 8-byte-aligned copy per possible CPU. */
static size_t traffic_vsz(void)
{
	return val_size(sizeof(struct pnm_traffic)) * (size_t)pnm_ncpus();
}

static int procs_batch(void *ctx, const char *keys, const char *vals, size_t n)
{
	size_t vsz = traffic_vsz();
	struct procs_ctx *x = ctx;

	for (size_t i = 0; i < n; i++) {
		const struct pnm_traffic *tr = (const void *)(vals + i * vsz);
		struct proc_row *r = next_row(&x->rows, &x->n, &x->cap);

		if (!r)
			return -ENOMEM;
		memcpy(&r->key, keys + i * sizeof(r->key), sizeof(r->key));
		memset(&r->c, 0, sizeof(r->c));
		for (int c = 0; c < pnm_ncpus(); c++)
			pnm_counts_from(&r->c, tr[c].dir);
	}
	return 0;
}

/* Handshakes in progress (pnm_synpend): their listener owner's bytes,
 * on interfaces of their current attach. */
struct syns_ctx {
	struct procs_ctx *procs;
	struct pnm_snapshot *s;
};

static int syns_batch(void *ctx, const char *keys, const char *vals, size_t n)
{
	size_t vsz = val_size(sizeof(struct pnm_syn));
	struct syns_ctx *x = ctx;

	(void)keys;
	for (size_t i = 0; i < n; i++) {
		const struct pnm_syn *e = (const void *)(vals + i * vsz);

		for (int j = 0; j < PNM_CONN_IFACES; j++) {
			const struct pnm_iface *ifc;
			struct proc_row *r;

			if (!e->slot[j] || !(e->c[j][PNM_IN].packets | e->c[j][PNM_OUT].packets))
				continue;
			ifc = pnm_snapshot_iface_by_slot(x->s, e->slot[j] - 1);
			if (!ifc || ifc->gen != e->gen[j])
				continue;
			r = next_row(&x->procs->rows, &x->procs->n, &x->procs->cap);
			if (!r)
				return -ENOMEM;
			r->key = (struct pnm_proc_key){ .start_ns = e->owner.start_ns,
							.tgid = e->owner.tgid,
							.slot = e->slot[j] - 1 };
			memset(&r->c, 0, sizeof(r->c));
			pnm_counts_from(&r->c, e->c[j]);
		}
	}
	return 0;
}

static int read_procs(const struct pnm_maps *m, const struct socks *k, struct pnm_snapshot *s)
{
	struct procs_ctx x = { 0 };
	struct proc_row *rows, *r;
	size_t n, cap;
	int rc;

	/* Read all, then group by process: no search per row. */
	rc = pnm_read_batches(m->procstat, sizeof(struct pnm_proc_key), traffic_vsz(), procs_batch,
			      &x);
	if (!rc)
		rc = pnm_read_batches(m->synpend, sizeof(struct pnm_tuple),
				      val_size(sizeof(struct pnm_syn)), syns_batch,
				      &(struct syns_ctx){ .procs = &x, .s = s });
	rows = x.rows;
	n = x.n;
	cap = x.cap;
	if (rc) {
		free(rows);
		return rc;
	}
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
	return 0;
}

/* Where a connection record comes from, the one that describes it first:
 * the socket's storage (open), pnm_conn (closed or not), a flow-cache
 * entry (only its counters: its tuple may be one sender's, its owner
 * older). */
enum conn_src { CONN_LIVE, CONN_MAP, CONN_FLOW };

struct conn_rec {
	uint64_t cookie;
	enum conn_src src;
	struct pnm_conn c;
};

/* By cookie, the describing record first. */
static int by_cookie(const void *a, const void *b)
{
	const struct conn_rec *x = a, *y = b;

	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return x->src == y->src ? 0 : x->src < y->src ? -1 : 1;
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
struct conns_ctx {
	struct conn_rec *recs;
	size_t n, cap;
};

static int conns_batch(void *ctx, const char *keys, const char *vals, size_t n)
{
	struct conns_ctx *x = ctx;

	if (pnm_grow(&x->recs, &x->cap, x->n + n, sizeof(*x->recs), 256))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, x->n++) {
		struct conn_rec *r = &x->recs[x->n];

		memcpy(&r->cookie, keys + i * sizeof(uint64_t), sizeof(uint64_t));
		r->src = CONN_MAP;
		memcpy(&r->c, vals + i * sizeof(struct pnm_conn), sizeof(struct pnm_conn));
	}
	return 0;
}

/* x: pnm_conn's entries (prefetched), taken, with the live sockets' and
 * the flow cache's records. */
static int read_conn_recs(struct conns_ctx *x, const struct socks *k, struct conn_rec **out,
			  size_t *count)
{
	struct conn_rec *recs;
	size_t n;

	if (pnm_grow(&x->recs, &x->cap, x->n + k->n + k->nflow + 1, sizeof(*x->recs), 256)) {
		free(x->recs);
		x->recs = NULL;
		return -ENOMEM;
	}
	recs = x->recs;
	n = x->n;
	x->recs = NULL;
	for (size_t i = 0; i < k->n; i++) {
		if (k->rec[i].flags & PNM_SOCK_RETIRED)
			continue; /* its connection is in pnm_conn */
		recs[n].cookie = k->rec[i].cookie;
		recs[n].src = CONN_LIVE;
		recs[n++].c = k->rec[i].conn;
	}
	for (size_t i = 0; i < k->nflow; i++, n++) {
		const struct pnm_flow *f = &k->flow[i];

		memset(&recs[n], 0, sizeof(recs[n]));
		recs[n].src = CONN_FLOW;
		recs[n].cookie = f->cookie;
		recs[n].c.t = f->t;
		recs[n].c.owner = f->owner;
		recs[n].c.state = f->state;
		recs[n].c.slot[0] = f->slot;
		recs[n].c.c[0][f->dir == PNM_OUT ? PNM_OUT : PNM_IN] = f->pending;
	}
	qsort(recs, n, sizeof(*recs), by_cookie);
	/* One per cookie: the first takes the others' counts. */
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

/* Each connection to its owner, found among the processes (in PID
 * order): counted, and with rows its counters added. */
static int read_conns(struct conns_ctx *x, const struct socks *k, struct pnm_snapshot *s, bool rows)
{
	struct conn_rec *recs = NULL;
	size_t n = 0;
	int rc = read_conn_recs(x, k, &recs, &n);

	for (size_t i = 0; i < n && !rc; i++) {
		struct pnm_proc key = { .pid = recs[i].c.owner.tgid,
					.start_ns = recs[i].c.owner.start_ns };
		struct pnm_proc *hit =
			s->nprocs ? bsearch(&key, s->procs, s->nprocs, sizeof(key), pnm_proc_cmp)
				  : NULL;

		/* An owner without counters (a full map): nothing to add to. */
		if (hit && rows)
			rc = pnm_proc_add_conn(hit, &recs[i].c);
		else if (hit)
			pnm_proc_count_conn(hit, &recs[i].c);
	}
	free(recs);
	return rc;
}

/*
 * pnm_procinfo and pnm_conn, read in a thread of their own while the rest
 * is read: with 10000 processes each took about a quarter of show's time
 * (the kernel's batch read costs about 0.6 us per hash bucket here).
 */
struct prefetch {
	const struct pnm_maps *m;
	bool conns;
	struct names_ctx names;
	struct conns_ctx cx;
	int rc;
};

static void *prefetch_run(void *arg)
{
	struct prefetch *f = arg;

	f->rc = pnm_read_batches(f->m->procinfo, sizeof(struct pnm_owner),
				 sizeof(struct pnm_proc_info), names_batch, &f->names);
	if (!f->rc && f->conns)
		f->rc = pnm_read_batches(f->m->conn, sizeof(uint64_t), sizeof(struct pnm_conn),
					 conns_batch, &f->cx);
	return NULL;
}

static int read_once(const struct pnm_maps *m, struct pnm_snapshot *s, unsigned int parts)
{
	struct prefetch f = { .m = m, .conns = parts & PNM_SNAP_CONN_COUNTS };
	struct socks k = { 0 };
	struct timespec now;
	pthread_t th;
	bool threaded;
	void *buf;
	int rc;

	memset(s, 0, sizeof(*s));
	s->taken = time(NULL);
	if (!clock_gettime(CLOCK_BOOTTIME, &now))
		s->now_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	/* Per-CPU values come as one 8-byte-aligned slot per possible CPU. */
	buf = calloc((size_t)pnm_ncpus(), val_size(sizeof(struct pnm_if_stats)));
	if (!buf)
		return -ENOMEM;
	threaded = !pthread_create(&th, NULL, prefetch_run, &f);
	rc = pnm_sockets_read(m, NULL, &k.rec, &k.n);
	if (!rc)
		rc = read_ifaces(m, s, buf);
	if (!rc)
		rc = read_flows(m, s, &k);
	if (!rc)
		rc = read_procs(m, &k, s);
	if (threaded)
		pthread_join(th, NULL);
	else
		prefetch_run(&f);
	if (!rc)
		rc = f.rc;
	if (!rc)
		join_names(&f.names, s);
	free(buf);
	if (!rc && f.conns)
		rc = read_conns(&f.cx, &k, s, (parts & PNM_SNAP_CONNS) == PNM_SNAP_CONNS);
	free(f.names.rows);
	free(f.cx.recs);
	if (!rc)
		pnm_snapshot_finish(s);
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
int pnm_snapshot_read(const struct pnm_maps *m, struct pnm_snapshot *s, unsigned int parts)
{
	for (int tries = 1;; tries++) {
		uint64_t before = 0, after = 0;
		bool quiet = no_fold(m, &before);
		int rc = read_once(m, s, parts);

		if (rc)
			return rc;
		if ((quiet && no_fold(m, &after) && after == before) || tries == 8)
			return 0;
		pnm_snapshot_free(s);
	}
}
