// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * history's queries. The answer comes from the finest level that holds
 * [from, to) whole, aligned to that level's buckets; inside it, every
 * whole bucket of a coarser level is read from that level (a day of
 * minutes is 24 hour rows, not 1440 minute rows per process), which
 * gives the same sums since every level holds the same growth. Each such
 * part is grouped in SQL, and the parts' groups are merged here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

/* One range of one level: [a, b), aligned to its buckets. */
struct part {
	enum pnm_level l;
	int64_t a, b;
};

#define PARTS_MAX (2 * PNM_LEVELS)

/* [a, b) of level l, with its whole buckets of levels up to lmax. */
static size_t cover(int64_t a, int64_t b, int l, int lmax, struct part *p, size_t n)
{
	int64_t ca, fb;

	if (a >= b)
		return n;
	if (l < lmax) {
		ca = pnm_bucket(l + 1, a);
		ca = ca == a ? a : pnm_bucket_next(l + 1, a);
		fb = pnm_bucket(l + 1, b);
		if (ca < fb) {
			if (a < ca)
				p[n++] = (struct part){ l, a, ca };
			n = cover(ca, fb, l + 1, lmax, p, n);
			if (fb < b)
				p[n++] = (struct part){ l, fb, b };
			return n;
		}
	}
	p[n++] = (struct part){ l, a, b };
	return n;
}

static bool by_period(enum pnm_hist_by by)
{
	return by >= PNM_BY_HOUR;
}

static bool by_talks(enum pnm_hist_by by)
{
	return by == PNM_BY_REMOTE || by == PNM_BY_PROTO;
}

/* A group from one part, before the merge. */
struct group {
	char *key, *exe, *unit;
	int64_t period, uid;
	bool mixed_exe, mixed_unit, mixed_uid;
	struct pnm_store_counts c;
};

struct groups {
	struct group *g;
	size_t n, cap;
};

static struct group *group_add(struct groups *gs)
{
	if (gs->n == gs->cap) {
		size_t cap = gs->cap ? gs->cap * 2 : 256;
		struct group *g = realloc(gs->g, cap * sizeof(*g));

		if (!g)
			return NULL;
		gs->g = g;
		gs->cap = cap;
	}
	memset(&gs->g[gs->n], 0, sizeof(gs->g[0]));
	return &gs->g[gs->n++];
}

static void groups_free(struct groups *gs)
{
	for (size_t i = 0; i < gs->n; i++) {
		free(gs->g[i].key);
		free(gs->g[i].exe);
		free(gs->g[i].unit);
	}
	free(gs->g);
}

static void add_counts(struct pnm_store_counts *to, const struct pnm_store_counts *c)
{
	to->bytes_in += c->bytes_in;
	to->bytes_out += c->bytes_out;
	to->packets_in += c->packets_in;
	to->packets_out += c->packets_out;
}

static void column_counts(sqlite3_stmt *st, int at, struct pnm_store_counts *c)
{
	c->bytes_in = sqlite3_column_int64(st, at);
	c->bytes_out = sqlite3_column_int64(st, at + 1);
	c->packets_in = sqlite3_column_int64(st, at + 2);
	c->packets_out = sqlite3_column_int64(st, at + 3);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return strdup(t ? t : "");
}

#define SUMS "sum(p.bytes_in), sum(p.bytes_out), sum(p.packets_in), sum(p.packets_out)"

/* The SQL of one part's groups: ?1 from, ?2 to, ?3 the interface id (or
 * unused), ?4 the name glob (or unused). */
static void rows_sql(char *sql, size_t len, const struct pnm_hist_query *q, enum pnm_level l)
{
	/* What a group is: its key (GROUP BY) and what SELECT adds to it. */
	static const char *const keys[] = {
		[PNM_BY_PROCESS] = "i.name", [PNM_BY_UNIT] = "i.unit",	[PNM_BY_IFACE] = "f.label",
		[PNM_BY_REMOTE] = "r.addr",  [PNM_BY_PROTO] = "x.name", [PNM_BY_HOUR] = "p.ts",
		[PNM_BY_DAY] = "p.ts",	     [PNM_BY_MONTH] = "p.ts",
	};
	const char *lv = pnm_level_names[l], *key = keys[q->by];
	char from[256];

	if (by_talks(q->by))
		snprintf(from, sizeof(from),
			 "talk_%s p JOIN ident i ON i.id = p.ident JOIN remote r ON r.id = "
			 "p.remote JOIN proto x ON x.id = p.proto",
			 lv);
	else if (l == PNM_LEVEL_MINUTE)
		snprintf(from, sizeof(from),
			 "proc_minute p JOIN inst n ON n.id = p.inst JOIN ident i ON i.id = "
			 "n.ident%s",
			 q->by == PNM_BY_IFACE ? " JOIN iface f ON f.id = p.iface" : "");
	else
		snprintf(from, sizeof(from), "proc_%s p JOIN ident i ON i.id = p.ident%s", lv,
			 q->by == PNM_BY_IFACE ? " JOIN iface f ON f.id = p.iface" : "");
	snprintf(sql, len,
		 "SELECT %s%s, " SUMS " FROM %s WHERE p.ts >= ?1 AND p.ts < ?2%s%s GROUP BY %s",
		 key,
		 q->by == PNM_BY_PROCESS ? ", min(i.exe), max(i.exe), min(i.unit), max(i.unit), "
					   "min(i.uid), max(i.uid)"
					 : "",
		 from, q->iface ? " AND p.iface = ?3" : "", q->name ? " AND i.name GLOB ?4" : "",
		 key);
}

static int bind_part(sqlite3_stmt *st, const struct part *p, int64_t ifid,
		     const struct pnm_hist_query *q)
{
	int rc = sqlite3_bind_int64(st, 1, p->a);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, p->b);
	if (rc == SQLITE_OK && q->iface)
		rc = sqlite3_bind_int64(st, 3, ifid);
	if (rc == SQLITE_OK && q->name)
		rc = sqlite3_bind_text(st, 4, q->name, -1, SQLITE_STATIC);
	return rc;
}

/* One SQL row as a group; an SQLite code. */
static int read_group(sqlite3_stmt *st, const struct pnm_hist_query *q, struct groups *gs)
{
	struct group *g = group_add(gs);
	int at = 1;

	if (!g)
		return SQLITE_NOMEM;
	if (by_period(q->by)) {
		g->period = pnm_bucket(PNM_LEVEL_HOUR + (q->by - PNM_BY_HOUR),
				       sqlite3_column_int64(st, 0));
	} else {
		g->key = column_dup(st, 0);
		if (!g->key)
			return SQLITE_NOMEM;
	}
	if (q->by == PNM_BY_PROCESS) {
		g->exe = column_dup(st, 1);
		g->unit = column_dup(st, 3);
		if (!g->exe || !g->unit)
			return SQLITE_NOMEM;
		g->mixed_exe = strcmp(g->exe, (const char *)sqlite3_column_text(st, 2)) != 0;
		g->mixed_unit = strcmp(g->unit, (const char *)sqlite3_column_text(st, 4)) != 0;
		g->uid = sqlite3_column_int64(st, 5);
		g->mixed_uid = g->uid != sqlite3_column_int64(st, 6);
		at = 7;
	}
	column_counts(st, at, &g->c);
	return SQLITE_OK;
}

static int read_rows(sqlite3 *db, const struct pnm_hist_query *q, const struct part *p, size_t np,
		     int64_t ifid, struct groups *gs)
{
	for (size_t i = 0; i < np; i++) {
		sqlite3_stmt *st;
		char sql[1024];
		int rc;

		rows_sql(sql, sizeof(sql), q, p[i].l);
		rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = bind_part(st, &p[i], ifid, q);
		while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
			rc = read_group(st, q, gs);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_OK;
}

static int group_cmp(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	if (!a->key || !b->key)
		return a->period < b->period ? -1 : a->period > b->period;
	return strcmp(a->key, b->key);
}

/* Two groups of one key into a. */
static void merge(struct group *a, struct group *b)
{
	add_counts(&a->c, &b->c);
	a->mixed_exe |= b->mixed_exe || (a->exe && b->exe && strcmp(a->exe, b->exe));
	a->mixed_unit |= b->mixed_unit || (a->unit && b->unit && strcmp(a->unit, b->unit));
	a->mixed_uid |= b->mixed_uid || a->uid != b->uid;
}

static int64_t total(const struct pnm_store_counts *c)
{
	return c->bytes_in + c->bytes_out;
}

static const char *row_key(const struct pnm_hist_row *r)
{
	const char *const k[] = { r->name, r->unit, r->iface, r->remote, r->proto };

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (k[i])
			return k[i];
	return "";
}

static int busiest_cmp(const void *pa, const void *pb)
{
	const struct pnm_hist_row *a = pa, *b = pb;
	int64_t ta = total(&a->c), tb = total(&b->c);

	if (ta != tb)
		return ta > tb ? -1 : 1;
	return strcmp(row_key(a), row_key(b));
}

static void row_free(struct pnm_hist_row *x)
{
	free(x->name);
	free(x->exe);
	free(x->unit);
	free(x->iface);
	free(x->remote);
	free(x->proto);
}

/* The group as a result row: its key in the grouping's field. */
static void to_row(const struct pnm_hist_query *q, struct group *g, struct pnm_hist_row *r)
{
	char **field[] = { [PNM_BY_PROCESS] = &r->name,
			   [PNM_BY_UNIT] = &r->unit,
			   [PNM_BY_IFACE] = &r->iface,
			   [PNM_BY_REMOTE] = &r->remote,
			   [PNM_BY_PROTO] = &r->proto };

	memset(r, 0, sizeof(*r));
	r->uid = -1;
	r->c = g->c;
	r->period = g->period;
	if (!by_period(q->by)) {
		*field[q->by] = g->key;
		g->key = NULL;
	}
	if (q->by != PNM_BY_PROCESS)
		return;
	if (!g->mixed_exe) {
		r->exe = g->exe;
		g->exe = NULL;
	}
	if (!g->mixed_unit) {
		r->unit = g->unit;
		g->unit = NULL;
	}
	if (!g->mixed_uid && g->uid >= 0) {
		r->uid = g->uid;
		r->has_uid = true;
	}
}

/* Merge the parts' groups into r's rows: sorted, top N. */
static int finish_rows(const struct pnm_hist_query *q, struct groups *gs, struct pnm_hist_result *r)
{
	size_t n = 0, skip = 0;

	if (!gs->n)
		return 0;
	qsort(gs->g, gs->n, sizeof(gs->g[0]), group_cmp);
	/* Each run of one key into its first; what is merged away stays in
	 * gs (swapped behind) and is freed with it. */
	for (size_t i = 1; i < gs->n; i++) {
		if (!group_cmp(&gs->g[n], &gs->g[i])) {
			merge(&gs->g[n], &gs->g[i]);
		} else if (++n != i) {
			struct group t = gs->g[n];

			gs->g[n] = gs->g[i];
			gs->g[i] = t;
		}
	}
	n++;
	r->rows = calloc(n, sizeof(*r->rows));
	if (!r->rows)
		return -ENOMEM;
	/* The periods stay in time order; top N keeps the last N. */
	if (by_period(q->by) && q->top && n > q->top)
		skip = n - q->top;
	for (size_t i = skip; i < n; i++)
		to_row(q, &gs->g[i], &r->rows[r->nrows++]);
	if (!by_period(q->by)) {
		qsort(r->rows, r->nrows, sizeof(r->rows[0]), busiest_cmp);
		if (q->top && r->nrows > q->top) {
			for (size_t i = q->top; i < r->nrows; i++)
				row_free(&r->rows[i]);
			r->nrows = q->top;
		}
	}
	return 0;
}

/* The interfaces' totals and unattributed bytes over the parts. */
static struct pnm_hist_iface *iface_of(struct pnm_hist_result *r, const char *label)
{
	struct pnm_hist_iface *f;

	for (size_t i = 0; i < r->nifaces; i++)
		if (!strcmp(r->ifaces[i].iface, label))
			return &r->ifaces[i];
	f = realloc(r->ifaces, (r->nifaces + 1) * sizeof(*f));
	if (!f)
		return NULL;
	r->ifaces = f;
	f = &f[r->nifaces];
	memset(f, 0, sizeof(*f));
	f->iface = strdup(label);
	if (!f->iface)
		return NULL;
	r->nifaces++;
	return f;
}

static int read_ifaces(sqlite3 *db, const struct pnm_hist_query *q, const struct part *p, size_t np,
		       int64_t ifid, struct pnm_hist_result *r)
{
	const struct pnm_hist_query nq = { .iface = q->iface };

	for (size_t i = 0; i < np; i++) {
		for (int unattr = 0; unattr < 2; unattr++) {
			sqlite3_stmt *st;
			char sql[512];
			int rc;

			snprintf(sql, sizeof(sql),
				 "SELECT f.label, " SUMS " FROM %s_%s p JOIN iface f ON f.id = "
				 "p.iface WHERE p.ts >= ?1 AND p.ts < ?2%s GROUP BY p.iface",
				 unattr ? "unattr" : "total", pnm_level_names[p[i].l],
				 q->iface ? " AND p.iface = ?3" : "");
			rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
			if (rc == SQLITE_OK)
				rc = bind_part(st, &p[i], ifid, &nq);
			while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
				struct pnm_hist_iface *f =
					iface_of(r, (const char *)sqlite3_column_text(st, 0));
				struct pnm_store_counts c;

				if (!f) {
					rc = SQLITE_NOMEM;
					break;
				}
				column_counts(st, 1, &c);
				add_counts(unattr ? &f->unattr : &f->total, &c);
				if (unattr)
					add_counts(&r->unattr, &c);
				rc = SQLITE_OK;
			}
			sqlite3_finalize(st);
			if (rc != SQLITE_DONE)
				return rc;
		}
	}
	return SQLITE_OK;
}

static int iface_cmp(const void *pa, const void *pb)
{
	return strcmp(((const struct pnm_hist_iface *)pa)->iface,
		      ((const struct pnm_hist_iface *)pb)->iface);
}

/* -i's interface id; -1 (nothing matches) when the store never saw it. */
static int iface_id(sqlite3 *db, const char *label, int64_t *id)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "SELECT id FROM iface WHERE label = ?1", -1, &st, NULL);

	*id = -1;
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static enum pnm_level period_level(enum pnm_hist_by by)
{
	return by_period(by) ? PNM_LEVEL_HOUR + (by - PNM_BY_HOUR) : PNM_LEVEL_MONTH;
}

/* The finest level that holds from on whole (talks: the hour up). */
static int choose_level(struct pnm_store *s, const struct pnm_hist_query *q, enum pnm_level *out,
			char *err, size_t errlen)
{
	int64_t h = INT64_MIN;
	int l, rc;

	for (l = by_talks(q->by) ? PNM_LEVEL_HOUR : PNM_LEVEL_MINUTE; l < PNM_LEVELS; l++) {
		rc = pnm_store_horizon(s, l, &h);
		if (rc != SQLITE_OK)
			return pnm_store_fail(s, rc, "cannot read", err, errlen);
		if (q->from >= h)
			break;
	}
	*out = l < PNM_LEVELS ? l : PNM_LEVEL_MONTH;
	if (*out > period_level(q->by)) {
		time_t t = (time_t)h;
		struct tm tm;
		char when[32] = "?";

		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		return pnm_errf(err, errlen, -ERANGE, "%s: no %s figures before %s (retention)",
				s->path, pnm_level_names[period_level(q->by)], when);
	}
	return 0;
}

static int query_at(struct pnm_store *s, const struct pnm_hist_query *q, enum pnm_level l,
		    struct pnm_hist_result *r, char *err, size_t errlen)
{
	enum pnm_level lmax = period_level(q->by);
	struct part parts[PARTS_MAX];
	struct groups gs = { 0 };
	int64_t ifid = -1;
	size_t np;
	int rc;

	if ((unsigned int)l >= PNM_LEVELS)
		return pnm_errf(err, errlen, -EINVAL, "%s: no level %d", s->path, (int)l);
	if (l > lmax || (by_talks(q->by) && l < PNM_LEVEL_HOUR))
		return pnm_errf(err, errlen, -EINVAL, "%s: no %s figures at the %s level", s->path,
				by_talks(q->by) ? "talk" : "period", pnm_level_names[l]);
	r->level = l;
	r->from = pnm_bucket(l, q->from);
	r->to = pnm_bucket(l, q->to);
	if (r->to < q->to)
		r->to = pnm_bucket_next(l, q->to);
	np = cover(r->from, r->to, l, lmax, parts, 0);
	rc = q->iface ? iface_id(s->db, q->iface, &ifid) : SQLITE_OK;
	if (rc == SQLITE_OK)
		rc = read_rows(s->db, q, parts, np, ifid, &gs);
	if (rc == SQLITE_OK)
		rc = finish_rows(q, &gs, r) ? SQLITE_NOMEM : SQLITE_OK;
	groups_free(&gs);
	if (rc == SQLITE_OK)
		rc = read_ifaces(s->db, q, parts, np, ifid, r);
	if (rc != SQLITE_OK)
		return pnm_store_fail(s, rc, "cannot read", err, errlen);
	if (r->nifaces)
		qsort(r->ifaces, r->nifaces, sizeof(r->ifaces[0]), iface_cmp);
	return 0;
}

/* level < 0: choose it. In one read transaction: one committed state. */
static int query(struct pnm_store *s, const struct pnm_hist_query *q, int level,
		 struct pnm_hist_result *r, char *err, size_t errlen)
{
	enum pnm_level l = level < 0 ? PNM_LEVEL_MINUTE : (enum pnm_level)level;
	int rc;

	memset(r, 0, sizeof(*r));
	if (q->from >= q->to || q->by > PNM_BY_MONTH || level >= PNM_LEVELS)
		return pnm_errf(err, errlen, -EINVAL, "%s: an empty or invalid query", s->path);
	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return pnm_store_fail(s, rc, "cannot read", err, errlen);
	rc = level < 0 ? choose_level(s, q, &l, err, errlen) : 0;
	if (!rc)
		rc = query_at(s, q, l, r, err, errlen);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc)
		pnm_hist_result_free(r);
	return rc;
}

int pnm_store_query(struct pnm_store *s, const struct pnm_hist_query *q, struct pnm_hist_result *r,
		    char *err, size_t errlen)
{
	return query(s, q, -1, r, err, errlen);
}

int pnm_store_query_level(struct pnm_store *s, const struct pnm_hist_query *q, enum pnm_level level,
			  struct pnm_hist_result *r, char *err, size_t errlen)
{
	return query(s, q, (int)level, r, err, errlen);
}

void pnm_hist_result_free(struct pnm_hist_result *r)
{
	for (size_t i = 0; i < r->nrows; i++)
		row_free(&r->rows[i]);
	for (size_t i = 0; i < r->nifaces; i++)
		free(r->ifaces[i].iface);
	free(r->rows);
	free(r->ifaces);
	memset(r, 0, sizeof(*r));
}
