// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One sample (sample.h): the snapshot show reads, turned into series, the
 * series set against their last stored values, and the growth written in
 * one transaction with the new values. Processes get their identity (exe,
 * unit, uid) from /proc once, while they live (ident.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <bpf/bpf.h>

#include "grow.h"
#include "log.h"
#include "parse.h"
#include "ident.h"
#include "sample.h"
#include "snapshot.h"
#include "state.h"

struct pnm_series_val {
	struct pnm_series_key k;
	struct pnm_store_counts c;
};

/* A process's bytes with one remote address, on one interface. */
struct pnm_talk_key {
	uint32_t pid;
	uint64_t start_ns;
	uint32_t slot, gen;
	uint8_t proto, family;
	uint8_t remote[16];
};

struct pnm_talk_val {
	struct pnm_talk_key k;
	struct pnm_store_counts c;
};

/* The remote ends stored per process and sample: the top talkers. */
#define TALKS_PER_PROC 10

static int talk_cmp(const void *pa, const void *pb)
{
	const struct pnm_talk_key *a = pa, *b = pb;

	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	if (a->slot != b->slot)
		return a->slot < b->slot ? -1 : 1;
	if (a->gen != b->gen)
		return a->gen < b->gen ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->remote, b->remote, sizeof(a->remote));
}

int pnm_sampler_init(struct pnm_sampler *s)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (!f)
		return pnm_neg_errno();
	if (!fgets(s->boot, sizeof(s->boot), f))
		rc = -EIO;
	fclose(f);
	s->boot[strcspn(s->boot, "\n")] = '\0';
	return rc;
}

void pnm_sampler_free(struct pnm_sampler *s)
{
	free(s->last);
	free(s->idents);
	free(s->talks);
	memset(s, 0, sizeof(*s));
}

static struct pnm_store_counts store_counts(const struct pnm_counts *c)
{
	return (struct pnm_store_counts){ (int64_t)c->bytes_in, (int64_t)c->bytes_out,
					  (int64_t)c->packets_in, (int64_t)c->packets_out };
}

static struct pnm_store_counts minus(const struct pnm_store_counts *a,
				     const struct pnm_store_counts *b)
{
	return (struct pnm_store_counts){ a->bytes_in - b->bytes_in, a->bytes_out - b->bytes_out,
					  a->packets_in - b->packets_in,
					  a->packets_out - b->packets_out };
}

static bool is_zero(const struct pnm_store_counts *c)
{
	return !c->bytes_in && !c->bytes_out && !c->packets_in && !c->packets_out;
}

/* The attach the pinned state is: this boot, and the id of its interface
 * table (a new state is a new map, with a new id). */
static int attach_of(const struct pnm_sampler *s, const struct pnm_maps *m, char *buf, size_t len)
{
	struct bpf_map_info info = { 0 };
	uint32_t n = sizeof(info);

	if (bpf_obj_get_info_by_fd(m->ifcfg, &info, &n))
		return pnm_neg_errno();
	snprintf(buf, len, "%s/%u", s->boot, info.id);
	return 0;
}

static int load_one(void *ctx, const char *key, const struct pnm_store_counts *c)
{
	struct pnm_sampler *s = ctx;
	struct pnm_series_key k;

	if (pnm_series_key_parse(key, &k))
		return 0; /* not one of ours: it is dropped with the next write */
	if (pnm_grow(&s->last, &s->last_cap, s->nlast + 1, sizeof(*s->last), 256))
		return -ENOMEM;
	s->last[s->nlast].k = k;
	s->last[s->nlast++].c = *c;
	return 0;
}

/* A new attach (or the first sample): its series as stored, if any. */
static int load_series(struct pnm_sampler *s, struct pnm_store *st, const char *attach)
{
	int rc;

	s->nlast = 0;
	s->ntalks = 0;
	s->loaded = false;
	snprintf(s->attach, sizeof(s->attach), "%s", attach);
	rc = pnm_store_series(st, attach, load_one, s);
	if (rc)
		return rc;
	qsort(s->last, s->nlast, sizeof(*s->last), pnm_series_cmp);
	s->loaded = true;
	return 0;
}

/* This sample's work space. */
struct sample_ctx {
	struct pnm_snapshot snap;
	struct pnm_series_val *cur;
	size_t ncur, cur_cap;
	struct pnm_store_row *rows;
	size_t nrows, rows_cap;
	struct pnm_store_series *series;
	size_t nseries, series_cap;
	char (*keys)[64]; /* the series' and gone keys' text */
	size_t nkeys, keys_cap;
	const char **gone;
	size_t ngone, gone_cap;
	struct pnm_ident_slot *ids; /* per process of the snapshot */
	struct pnm_talk_val *tcur;
	size_t ntcur, tcur_cap;
	struct pnm_store_talk *talks;
	size_t ntalks, talks_cap;
	char (*addrs)[INET6_ADDRSTRLEN];
};

static int add_cur(struct sample_ctx *x, const struct pnm_series_key *k, const struct pnm_counts *c)
{
	if (pnm_grow(&x->cur, &x->cur_cap, x->ncur + 1, sizeof(*x->cur), 256))
		return -ENOMEM;
	x->cur[x->ncur].k = *k;
	x->cur[x->ncur++].c = store_counts(c);
	return 0;
}

/* Every counter of the snapshot, as series. */
static int collect(struct sample_ctx *x)
{
	const struct pnm_snapshot *sn = &x->snap;
	int rc = 0;

	for (size_t i = 0; i < sn->nifaces && !rc; i++) {
		const struct pnm_iface *f = &sn->ifaces[i];
		struct pnm_series_key k = { .kind = 'i', .slot = f->slot, .gen = f->gen };

		rc = add_cur(x, &k, &f->total);
		k.kind = 'u';
		for (unsigned int u = 0; u < PNM_U_COUNT && !rc; u++) {
			k.uclass = (uint8_t)u;
			rc = add_cur(x, &k, &f->unattr_by[u]);
		}
		k.uclass = PNM_U_COUNT;
		if (!rc)
			rc = add_cur(x, &k, &f->overflow);
	}
	for (size_t i = 0; i < sn->nprocs && !rc; i++) {
		const struct pnm_proc *p = &sn->procs[i];

		for (size_t j = 0; j < p->nifs && !rc; j++) {
			const struct pnm_iface *f =
				pnm_snapshot_iface_by_slot(&x->snap, p->ifs[j].slot);
			struct pnm_series_key k = { .kind = 'p',
						    .slot = p->ifs[j].slot,
						    .gen = f ? f->gen : 0,
						    .pid = p->pid,
						    .start_ns = p->start_ns };

			if (f)
				rc = add_cur(x, &k, &p->ifs[j].c);
		}
	}
	if (!rc)
		qsort(x->cur, x->ncur, sizeof(*x->cur), pnm_series_cmp);
	return rc;
}

static const char *key_text(struct sample_ctx *x, const struct pnm_series_key *k)
{
	char *buf;

	if (pnm_grow(&x->keys, &x->keys_cap, x->nkeys + 1, sizeof(*x->keys), 256))
		return NULL;
	buf = x->keys[x->nkeys++];
	return pnm_series_key_fmt(k, buf, sizeof(x->keys[0])) ? NULL : buf;
}

static struct pnm_proc *proc_of(struct sample_ctx *x, const struct pnm_series_key *k, size_t *idx)
{
	struct pnm_proc *p = pnm_snapshot_lookup(&x->snap, k->pid, k->start_ns);

	if (p)
		*idx = (size_t)(p - x->snap.procs);
	return p;
}

static const char *uclass_text(unsigned int u)
{
	return u == PNM_U_COUNT ? "overflow" : pnm_uclass_name(u);
}

/* One row for a series that grew. */
static int add_row(struct pnm_sampler *s, struct sample_ctx *x, const struct pnm_series_val *v,
		   const struct pnm_store_counts *d)
{
	const struct pnm_iface *f = pnm_snapshot_iface_by_slot(&x->snap, v->k.slot);
	struct pnm_store_row *r;
	size_t idx;

	if (!f)
		return 0;
	if (pnm_grow(&x->rows, &x->rows_cap, x->nrows + 1, sizeof(*x->rows), 256))
		return -ENOMEM;
	r = &x->rows[x->nrows];
	memset(r, 0, sizeof(*r));
	r->iface = f->label;
	r->c = *d;
	if (v->k.kind == 'i') {
		r->kind = PNM_ROW_TOTAL;
	} else if (v->k.kind == 'u') {
		r->kind = PNM_ROW_UNATTR;
		r->proto = uclass_text(v->k.uclass);
	} else {
		struct pnm_proc *p = proc_of(x, &v->k, &idx);

		if (!p)
			return 0;
		r->kind = PNM_ROW_PROC;
		r->proc = pnm_ident_of(s, p, &x->ids[idx], s->boot);
		if (!r->proc)
			return -ENOMEM;
	}
	x->nrows++;
	return 0;
}

static int add_series(struct sample_ctx *x, const struct pnm_series_val *v)
{
	const char *key = key_text(x, &v->k);

	if (!key || pnm_grow(&x->series, &x->series_cap, x->nseries + 1, sizeof(*x->series), 256))
		return -ENOMEM;
	x->series[x->nseries].key = key;
	x->series[x->nseries++].c = v->c;
	return 0;
}

static int add_gone(struct sample_ctx *x, const struct pnm_series_key *k)
{
	const char *key = key_text(x, k);

	if (!key || pnm_grow(&x->gone, &x->gone_cap, x->ngone + 1, sizeof(*x->gone), 64))
		return -ENOMEM;
	x->gone[x->ngone++] = key;
	return 0;
}

/* Set the series against their last values: a row and a new value for
 * each that grew, a gone key for each the kernel no longer has. */
static int compare(struct pnm_sampler *s, struct sample_ctx *x, struct pnm_sample_stats *st)
{
	size_t i = 0, j = 0;
	int rc = 0;

	while (!rc && (i < x->ncur || j < s->nlast)) {
		int c = i == x->ncur	? 1
			: j == s->nlast ? -1
					: pnm_series_cmp(&x->cur[i].k, &s->last[j].k);
		struct pnm_store_counts d;

		if (c > 0) {
			rc = add_gone(x, &s->last[j++].k);
			continue;
		}
		d = c < 0 ? x->cur[i].c : minus(&x->cur[i].c, &s->last[j].c);
		if (c == 0)
			j++;
		if (!is_zero(&d)) {
			rc = add_row(s, x, &x->cur[i], &d);
			if (!rc)
				rc = add_series(x, &x->cur[i]);
			if (!rc && x->cur[i].k.kind == 'i') {
				st->grew.bytes_in += d.bytes_in;
				st->grew.bytes_out += d.bytes_out;
				st->grew.packets_in += d.packets_in;
				st->grew.packets_out += d.packets_out;
			}
		}
		i++;
	}
	return rc;
}

/* Each process's bytes per remote address, from its connections. */
static int collect_talks(struct sample_ctx *x)
{
	const struct pnm_snapshot *sn = &x->snap;
	size_t n = 0;

	for (size_t i = 0; i < sn->nprocs; i++) {
		const struct pnm_proc *p = &sn->procs[i];

		for (size_t j = 0; j < p->nconns; j++) {
			const struct pnm_conn_row *c = &p->conns[j];
			const struct pnm_iface *f = pnm_snapshot_iface_by_slot(&x->snap, c->slot);
			struct pnm_talk_val *t;

			if (!f)
				continue;
			if (pnm_grow(&x->tcur, &x->tcur_cap, x->ntcur + 1, sizeof(*x->tcur), 256))
				return -ENOMEM;
			t = &x->tcur[x->ntcur++];
			memset(t, 0, sizeof(*t));
			t->k.pid = p->pid;
			t->k.start_ns = p->start_ns;
			t->k.slot = c->slot;
			t->k.gen = f->gen;
			t->k.proto = c->t.proto;
			t->k.family = c->t.family;
			memcpy(t->k.remote, c->t.remote, sizeof(t->k.remote));
			t->c = store_counts(&c->c);
		}
	}
	qsort(x->tcur, x->ntcur, sizeof(*x->tcur), talk_cmp);
	/* Connections with the same remote address, summed. */
	for (size_t i = 0; i < x->ntcur; i++) {
		if (n && !talk_cmp(&x->tcur[n - 1].k, &x->tcur[i].k)) {
			struct pnm_store_counts *a = &x->tcur[n - 1].c, *b = &x->tcur[i].c;

			a->bytes_in += b->bytes_in;
			a->bytes_out += b->bytes_out;
			a->packets_in += b->packets_in;
			a->packets_out += b->packets_out;
		} else {
			x->tcur[n++] = x->tcur[i];
		}
	}
	x->ntcur = n;
	return 0;
}

static int64_t bytes(const struct pnm_store_counts *c)
{
	return c->bytes_in + c->bytes_out;
}

static int talk_by_bytes(const void *pa, const void *pb)
{
	int64_t a = bytes(&((const struct pnm_store_talk *)pa)->c),
		b = bytes(&((const struct pnm_store_talk *)pb)->c);

	return a > b ? -1 : a < b;
}

/* One process's talks that grew since the last sample (a connection that
 * left pnm_conn lowers a sum: not growth), its top TALKS_PER_PROC kept. */
static int proc_talks(struct pnm_sampler *s, struct sample_ctx *x, size_t from, size_t to)
{
	size_t first = x->ntalks;

	for (size_t i = from; i < to; i++) {
		const struct pnm_talk_val *t = &x->tcur[i];
		struct pnm_store_counts d = t->c;
		const struct pnm_talk_val *old;
		struct pnm_store_talk *o;
		struct pnm_proc *p;
		size_t idx;

		old = bsearch(&t->k, s->talks, s->ntalks, sizeof(*s->talks), talk_cmp);
		if (old)
			d = minus(&t->c, &old->c);
		if (d.bytes_in < 0 || d.bytes_out < 0 || bytes(&d) <= 0)
			continue;
		p = pnm_snapshot_lookup(&x->snap, t->k.pid, t->k.start_ns);
		if (!p)
			continue;
		idx = (size_t)(p - x->snap.procs);
		if (pnm_grow(&x->talks, &x->talks_cap, x->ntalks + 1, sizeof(*x->talks), 64))
			return -ENOMEM;
		o = &x->talks[x->ntalks++];
		o->iface = pnm_snapshot_iface_by_slot(&x->snap, t->k.slot)->label;
		o->proc = pnm_ident_of(s, p, &x->ids[idx], s->boot);
		o->proto = pnm_proto_name(t->k.proto);
		o->remote = inet_ntop(t->k.family, t->k.remote, x->addrs[i], sizeof(x->addrs[i]));
		o->c = d;
		if (!o->proc || !o->remote)
			x->ntalks--;
	}
	if (x->ntalks - first > TALKS_PER_PROC) {
		qsort(x->talks + first, x->ntalks - first, sizeof(*x->talks), talk_by_bytes);
		x->ntalks = first + TALKS_PER_PROC;
	}
	return 0;
}

static int talks(struct pnm_sampler *s, struct sample_ctx *x)
{
	int rc = collect_talks(x);

	if (rc || !s->talks_base)
		return rc; /* the first sample only sets the baseline */
	x->addrs = calloc(x->ntcur ? x->ntcur : 1, sizeof(*x->addrs));
	if (!x->addrs)
		return -ENOMEM;
	for (size_t i = 0, j; !rc && i < x->ntcur; i = j) {
		for (j = i + 1; j < x->ntcur && x->tcur[j].k.pid == x->tcur[i].k.pid &&
				x->tcur[j].k.start_ns == x->tcur[i].k.start_ns;
		     j++)
			;
		rc = proc_talks(s, x, i, j);
	}
	return rc;
}

static void ctx_free(struct sample_ctx *x)
{
	pnm_snapshot_free(&x->snap);
	free(x->cur);
	free(x->rows);
	free(x->series);
	free(x->keys);
	free(x->gone);
	free(x->ids);
	free(x->tcur);
	free(x->talks);
	free(x->addrs);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int pnm_sample(struct pnm_sampler *s, const struct pnm_maps *m, struct pnm_store *st, int64_t now,
	       struct pnm_sample_stats *out, char *err, size_t errlen)
{
	struct sample_ctx x = { 0 };
	struct pnm_store_sample smp;
	struct timespec t0;
	char attach[sizeof(s->attach)];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(out, 0, sizeof(*out));
	rc = attach_of(s, m, attach, sizeof(attach));
	if (!rc && (!s->loaded || strcmp(attach, s->attach)))
		rc = load_series(s, st, attach);
	if (rc) {
		snprintf(err, errlen, "cannot read the stored series: %s", strerror(-rc));
		return rc;
	}
	rc = pnm_snapshot_read(m, &x.snap, PNM_SNAP_CONNS);
	if (rc) {
		snprintf(err, errlen, "cannot read the counters: %s", strerror(-rc));
		goto out;
	}
	x.ids = calloc(x.snap.nprocs ? x.snap.nprocs : 1, sizeof(*x.ids));
	rc = x.ids ? collect(&x) : -ENOMEM;
	if (!rc)
		rc = compare(s, &x, out);
	if (!rc)
		rc = talks(s, &x);
	if (rc) {
		snprintf(err, errlen, "cannot take the sample: %s", strerror(-rc));
		goto out;
	}
	smp = (struct pnm_store_sample){ .ts = now,
					 .rows = x.rows,
					 .nrows = x.nrows,
					 .talks = x.talks,
					 .ntalks = x.ntalks,
					 .attach = s->attach,
					 .series = x.series,
					 .nseries = x.nseries,
					 .gone = x.gone,
					 .ngone = x.ngone };
	rc = pnm_store_write(st, &smp, err, errlen);
	if (rc) {
		/* The last values stay: the next sample stores this growth. */
		s->failed++;
		goto out;
	}
	s->failed = 0;
	/* The new values are the last ones now; so are the talks. */
	free(s->last);
	s->last = x.cur;
	s->nlast = x.ncur;
	s->last_cap = x.cur_cap;
	x.cur = NULL;
	free(s->talks);
	s->talks = x.tcur;
	s->ntalks = x.ntcur;
	s->talks_cap = x.tcur_cap;
	s->talks_base = true;
	x.tcur = NULL;
	pnm_idents_settle(s, &x.snap);
	out->procs = x.snap.nprocs;
	out->ifaces = x.snap.nifaces;
	out->rows = x.nrows;
	out->talks = x.ntalks;
out:
	ctx_free(&x);
	out->ms = ms_since(&t0);
	return rc;
}
