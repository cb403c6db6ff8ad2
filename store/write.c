// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Writing a sample: one transaction that resolves names to dictionary ids,
 * adds every row's growth to its bucket at all four levels (UPSERT: the
 * roll-ups are sums of the same growth, exact by construction) and
 * replaces the series. Any failure rolls it all back; the statements are
 * reset and stay usable for the caller's retry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char *const dict_sql[PNM_DICTS][3] = {
	[PNM_DICT_IFACE] = { "SELECT id, last FROM iface WHERE label = ?1",
			     "INSERT INTO iface(label, last) VALUES(?1, ?2)",
			     "UPDATE iface SET last = ?2 WHERE id = ?1" },
	[PNM_DICT_IDENT] = { "SELECT id, last FROM ident WHERE name = ?1 AND exe = ?2 AND "
			     "unit = ?3 AND uid = ?4",
			     "INSERT INTO ident(name, exe, unit, uid, last) VALUES(?1, ?2, ?3, "
			     "?4, ?5)",
			     "UPDATE ident SET last = ?2 WHERE id = ?1" },
	[PNM_DICT_INST] = { "SELECT id, last FROM inst WHERE pid = ?1 AND start_ns = ?2 AND "
			    "boot = ?3 AND ident = ?4",
			    "INSERT INTO inst(pid, start_ns, boot, ident, last) VALUES(?1, ?2, "
			    "?3, ?4, ?5)",
			    "UPDATE inst SET last = ?2 WHERE id = ?1" },
	[PNM_DICT_PROTO] = { "SELECT id, last FROM proto WHERE name = ?1",
			     "INSERT INTO proto(name, last) VALUES(?1, ?2)",
			     "UPDATE proto SET last = ?2 WHERE id = ?1" },
	[PNM_DICT_REMOTE] = { "SELECT id, last FROM remote WHERE addr = ?1",
			      "INSERT INTO remote(addr, last) VALUES(?1, ?2)",
			      "UPDATE remote SET last = ?2 WHERE id = ?1" },
};

static int prep(struct pnm_store *s, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

#define COUNTER_COLS "bytes_in, bytes_out, packets_in, packets_out"

static int prep_facts(struct pnm_store *s)
{
	static const char *const qs[] = { "", "?2", "?2, ?3", "?2, ?3, ?4", "?2, ?3, ?4, ?5" };
	char sql[640];
	int rc = SQLITE_OK;

	for (int f = 0; f < PNM_FACTS && rc == SQLITE_OK; f++) {
		for (int l = 0; l < PNM_LEVELS && rc == SQLITE_OK; l++) {
			const char *t = pnm_fact_names[f], *lv = pnm_level_names[l];
			const char *k = pnm_fact_keys(f, l);
			int nk = pnm_fact_nkeys(f, l);

			if (f == PNM_FACT_TALK && l == PNM_LEVEL_MINUTE)
				continue;
			/* ?1 ts, ?2... the keys, then the four counters. */
			snprintf(sql, sizeof(sql),
				 "INSERT INTO %s_%s(ts, %s, " COUNTER_COLS ") VALUES(?1, %s, "
				 "?%d, ?%d, ?%d, ?%d) ON CONFLICT(ts, %s) DO UPDATE SET "
				 "bytes_in = bytes_in + excluded.bytes_in, bytes_out = "
				 "bytes_out + excluded.bytes_out, packets_in = packets_in + "
				 "excluded.packets_in, packets_out = packets_out + "
				 "excluded.packets_out",
				 t, lv, k, qs[nk], nk + 2, nk + 3, nk + 4, nk + 5, k);
			rc = prep(s, sql, &s->upsert[f][l]);
			if (rc != SQLITE_OK)
				break;
			/* Bounded: the oldest rows first, at most ?2 of them. */
			snprintf(sql, sizeof(sql),
				 "DELETE FROM %s_%s WHERE ts <= ?1 AND (ts, %s) IN (SELECT ts, "
				 "%s FROM %s_%s WHERE ts <= ?1 ORDER BY ts LIMIT ?2)",
				 t, lv, k, k, t, lv);
			rc = prep(s, sql, &s->expire[f][l]);
		}
	}
	return rc;
}

int pnm_store_prepare(struct pnm_store *s, char *err, size_t errlen)
{
	int rc = SQLITE_OK;

	for (int d = 0; d < PNM_DICTS && rc == SQLITE_OK; d++) {
		rc = prep(s, dict_sql[d][0], &s->dict_get[d]);
		if (rc == SQLITE_OK)
			rc = prep(s, dict_sql[d][1], &s->dict_add[d]);
		if (rc == SQLITE_OK)
			rc = prep(s, dict_sql[d][2], &s->dict_touch[d]);
	}
	if (rc == SQLITE_OK)
		rc = prep_facts(s);
	if (rc == SQLITE_OK)
		rc = prep(s, "BEGIN IMMEDIATE", &s->begin);
	if (rc == SQLITE_OK)
		rc = prep(s, "COMMIT", &s->commit);
	if (rc == SQLITE_OK)
		rc = prep(s, "ROLLBACK", &s->rollback);
	if (rc == SQLITE_OK)
		rc = prep(s, "DELETE FROM series WHERE attach <> ?1", &s->series_other);
	if (rc == SQLITE_OK)
		rc = prep(s,
			  "INSERT INTO series(attach, key, " COUNTER_COLS ") VALUES(?1, ?2, ?3, "
			  "?4, ?5, ?6) ON CONFLICT(attach, key) DO UPDATE SET bytes_in = "
			  "excluded.bytes_in, bytes_out = excluded.bytes_out, packets_in = "
			  "excluded.packets_in, packets_out = excluded.packets_out",
			  &s->series_put);
	if (rc == SQLITE_OK)
		rc = prep(s, "DELETE FROM series WHERE attach = ?1 AND key = ?2", &s->series_gone);
	if (rc == SQLITE_OK)
		rc = prep(s,
			  "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO "
			  "UPDATE SET value = max(value, excluded.value)",
			  &s->meta_put);
	return rc == SQLITE_OK ? 0 : pnm_store_fail(s, rc, "cannot prepare", err, errlen);
}

void pnm_store_finalize(struct pnm_store *s)
{
	sqlite3_stmt **all[] = { &s->begin,	   &s->commit,	    &s->rollback,
				 &s->series_other, &s->series_put,  &s->series_gone,
				 &s->meta_put,	   &s->series_list, &s->meta_get };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
	for (int d = 0; d < PNM_DICTS; d++) {
		sqlite3_finalize(s->dict_get[d]);
		sqlite3_finalize(s->dict_add[d]);
		sqlite3_finalize(s->dict_touch[d]);
		s->dict_get[d] = s->dict_add[d] = s->dict_touch[d] = NULL;
	}
	for (int f = 0; f < PNM_FACTS; f++) {
		for (int l = 0; l < PNM_LEVELS; l++) {
			sqlite3_finalize(s->upsert[f][l]);
			sqlite3_finalize(s->expire[f][l]);
			s->upsert[f][l] = s->expire[f][l] = NULL;
		}
	}
}

/* A dictionary key's value: text, or an integer when t is NULL. */
struct val {
	const char *t;
	int64_t i;
};

static void bind_val(sqlite3_stmt *st, int at, const struct val *v)
{
	if (v->t)
		sqlite3_bind_text(st, at, v->t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, at, v->i);
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* The id of a dictionary key, added if new; its "last" moved up to
 * minute (at most once a minute per row). An SQLite code. */
static int dict_id(struct pnm_store *s, enum pnm_dict d, const struct val *v, int n, int64_t minute,
		   int64_t *id)
{
	sqlite3_stmt *g = s->dict_get[d], *a = s->dict_add[d], *t = s->dict_touch[d];
	int rc;

	for (int i = 0; i < n; i++)
		bind_val(g, i + 1, &v[i]);
	rc = sqlite3_step(g);
	if (rc == SQLITE_ROW) {
		int64_t last = sqlite3_column_int64(g, 1);

		*id = sqlite3_column_int64(g, 0);
		sqlite3_reset(g);
		if (last >= minute)
			return SQLITE_OK;
		sqlite3_bind_int64(t, 1, *id);
		sqlite3_bind_int64(t, 2, minute);
		return step_reset(t);
	}
	sqlite3_reset(g);
	if (rc != SQLITE_DONE)
		return rc;
	for (int i = 0; i < n; i++)
		bind_val(a, i + 1, &v[i]);
	sqlite3_bind_int64(a, n + 1, minute);
	rc = step_reset(a);
	*id = sqlite3_last_insert_rowid(s->db);
	return rc;
}

static int text_id(struct pnm_store *s, enum pnm_dict d, const char *t, int64_t minute, int64_t *id)
{
	struct val v = { t, 0 };

	return dict_id(s, d, &v, 1, minute, id);
}

/* A row with its names resolved: keys as the fact table orders them. */
struct fact {
	int kind;	/* enum pnm_fact */
	int64_t key[4]; /* iface, then inst (minute) or ident/proto/... */
	int64_t ident;	/* PNM_FACT_PROC: the hour-and-up key */
	struct pnm_store_counts c;
};

static int proc_ids(struct pnm_store *s, const struct pnm_store_ident *p, int64_t minute,
		    int64_t *ident, int64_t *inst)
{
	struct val v[4] = { { p->name, 0 },
			    { p->exe ? p->exe : "", 0 },
			    { p->unit ? p->unit : "", 0 },
			    { NULL, p->uid < 0 ? -1 : p->uid } };
	int rc = dict_id(s, PNM_DICT_IDENT, v, 4, minute, ident);

	if (rc != SQLITE_OK || !inst)
		return rc;
	v[0] = (struct val){ NULL, p->pid };
	v[1] = (struct val){ NULL, (int64_t)p->start_ns };
	v[2] = (struct val){ p->boot ? p->boot : "", 0 };
	v[3] = (struct val){ NULL, *ident };
	return dict_id(s, PNM_DICT_INST, v, 4, minute, inst);
}

static bool zero(const struct pnm_store_counts *c)
{
	return !c->bytes_in && !c->bytes_out && !c->packets_in && !c->packets_out;
}

/* Each row and talk as a struct fact (zero growth left out); -EINVAL for
 * a row without the names its kind needs. */
static int resolve(struct pnm_store *s, const struct pnm_store_sample *smp, int64_t minute,
		   struct fact *out, size_t *n)
{
	int rc = SQLITE_OK;

	*n = 0;
	for (size_t i = 0; i < smp->nrows && rc == SQLITE_OK; i++) {
		const struct pnm_store_row *r = &smp->rows[i];
		struct fact *f = &out[*n];

		if (zero(&r->c))
			continue;
		if (!r->iface || (r->kind == PNM_ROW_PROC && (!r->proc || !r->proc->name)) ||
		    (r->kind == PNM_ROW_UNATTR && !r->proto) || r->kind > PNM_ROW_TOTAL)
			return -EINVAL;
		f->c = r->c;
		f->kind = r->kind == PNM_ROW_PROC     ? PNM_FACT_PROC
			  : r->kind == PNM_ROW_UNATTR ? PNM_FACT_UNATTR
						      : PNM_FACT_TOTAL;
		rc = text_id(s, PNM_DICT_IFACE, r->iface, minute, &f->key[0]);
		if (rc == SQLITE_OK && f->kind == PNM_FACT_PROC)
			rc = proc_ids(s, r->proc, minute, &f->ident, &f->key[1]);
		else if (rc == SQLITE_OK && f->kind == PNM_FACT_UNATTR)
			rc = text_id(s, PNM_DICT_PROTO, r->proto, minute, &f->key[1]);
		(*n)++;
	}
	for (size_t i = 0; i < smp->ntalks && rc == SQLITE_OK; i++) {
		const struct pnm_store_talk *t = &smp->talks[i];
		struct fact *f = &out[*n];

		if (zero(&t->c))
			continue;
		if (!t->iface || !t->proc || !t->proc->name || !t->proto || !t->remote)
			return -EINVAL;
		f->kind = PNM_FACT_TALK;
		f->c = t->c;
		rc = text_id(s, PNM_DICT_IFACE, t->iface, minute, &f->key[0]);
		if (rc == SQLITE_OK)
			rc = proc_ids(s, t->proc, minute, &f->key[1], NULL);
		if (rc == SQLITE_OK)
			rc = text_id(s, PNM_DICT_PROTO, t->proto, minute, &f->key[2]);
		if (rc == SQLITE_OK)
			rc = text_id(s, PNM_DICT_REMOTE, t->remote, minute, &f->key[3]);
		(*n)++;
	}
	return rc;
}

/* In the fact tables' key order, so that a new bucket's rows append. */
static int fact_cmp(const void *pa, const void *pb)
{
	const struct fact *a = pa, *b = pb;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	for (int i = 0; i < 4; i++)
		if (a->key[i] != b->key[i])
			return a->key[i] < b->key[i] ? -1 : 1;
	return 0;
}

static int upsert(struct pnm_store *s, const struct fact *f, const int64_t *bucket)
{
	for (int l = f->kind == PNM_FACT_TALK ? PNM_LEVEL_HOUR : 0; l < PNM_LEVELS; l++) {
		sqlite3_stmt *st = s->upsert[f->kind][l];
		int nk = pnm_fact_nkeys(f->kind, l), rc;

		sqlite3_bind_int64(st, 1, bucket[l]);
		for (int k = 0; k < nk; k++)
			sqlite3_bind_int64(st, k + 2, f->key[k]);
		if (f->kind == PNM_FACT_PROC && l > PNM_LEVEL_MINUTE)
			sqlite3_bind_int64(st, 3, f->ident);
		sqlite3_bind_int64(st, nk + 2, f->c.bytes_in);
		sqlite3_bind_int64(st, nk + 3, f->c.bytes_out);
		sqlite3_bind_int64(st, nk + 4, f->c.packets_in);
		sqlite3_bind_int64(st, nk + 5, f->c.packets_out);
		rc = step_reset(st);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int write_series(struct pnm_store *s, const struct pnm_store_sample *smp)
{
	int rc;

	if (!smp->attach)
		return smp->nseries || smp->ngone ? -EINVAL : SQLITE_OK;
	sqlite3_bind_text(s->series_other, 1, smp->attach, -1, SQLITE_STATIC);
	rc = step_reset(s->series_other);
	for (size_t i = 0; i < smp->nseries && rc == SQLITE_OK; i++) {
		const struct pnm_store_series *e = &smp->series[i];
		sqlite3_stmt *st = s->series_put;

		if (!e->key)
			return -EINVAL;
		sqlite3_bind_text(st, 1, smp->attach, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e->key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, e->c.bytes_in);
		sqlite3_bind_int64(st, 4, e->c.bytes_out);
		sqlite3_bind_int64(st, 5, e->c.packets_in);
		sqlite3_bind_int64(st, 6, e->c.packets_out);
		rc = step_reset(st);
	}
	for (size_t i = 0; i < smp->ngone && rc == SQLITE_OK; i++) {
		if (!smp->gone[i])
			return -EINVAL;
		sqlite3_bind_text(s->series_gone, 1, smp->attach, -1, SQLITE_STATIC);
		sqlite3_bind_text(s->series_gone, 2, smp->gone[i], -1, SQLITE_STATIC);
		rc = step_reset(s->series_gone);
	}
	return rc;
}

/* The body of the transaction: an SQLite code, or -EINVAL. */
static int write_all(struct pnm_store *s, const struct pnm_store_sample *smp, struct fact *f)
{
	int64_t bucket[PNM_LEVELS];
	size_t n;
	int rc;

	for (int l = 0; l < PNM_LEVELS; l++)
		bucket[l] = pnm_bucket(l, smp->ts);
	rc = resolve(s, smp, bucket[PNM_LEVEL_MINUTE], f, &n);
	if (rc != SQLITE_OK)
		return rc;
	if (n)
		qsort(f, n, sizeof(*f), fact_cmp);
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
		rc = upsert(s, &f[i], bucket);
	if (rc == SQLITE_OK)
		rc = write_series(s, smp);
	return rc;
}

int pnm_store_write(struct pnm_store *s, const struct pnm_store_sample *smp, char *err,
		    size_t errlen)
{
	struct fact *f = NULL;
	int rc;

	if (s->readonly)
		return pnm_errf(err, errlen, -EROFS, "%s: opened read-only", s->path);
	if (smp->nrows + smp->ntalks) {
		f = calloc(smp->nrows + smp->ntalks, sizeof(*f));
		if (!f)
			return pnm_errf(err, errlen, -ENOMEM, "%s: out of memory", s->path);
	}
	rc = step_reset(s->begin);
	if (rc != SQLITE_OK) {
		free(f);
		return pnm_store_fail(s, rc, "cannot start a write", err, errlen);
	}
	rc = write_all(s, smp, f);
	if (rc == SQLITE_OK)
		rc = step_reset(s->commit);
	free(f);
	if (rc == SQLITE_OK)
		return 0;
	if (rc == -EINVAL)
		pnm_errf(err, errlen, rc, "%s: a sample row lacks its interface or names", s->path);
	else
		rc = pnm_store_fail(s, rc, "cannot write a sample", err, errlen);
	/* A failed COMMIT may have rolled back already; ROLLBACK then fails,
	 * harmlessly. */
	if (!sqlite3_get_autocommit(s->db))
		step_reset(s->rollback);
	return rc;
}

int pnm_store_series(struct pnm_store *s, const char *attach, pnm_series_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if (!s->series_list) {
		rc = prep(s,
			  "SELECT key, " COUNTER_COLS " FROM series WHERE attach = ?1 ORDER BY "
			  "key",
			  &s->series_list);
		if (rc != SQLITE_OK)
			return pnm_sql_errno(rc);
	}
	st = s->series_list;
	sqlite3_bind_text(st, 1, attach, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pnm_store_counts c = { sqlite3_column_int64(st, 1),
					      sqlite3_column_int64(st, 2),
					      sqlite3_column_int64(st, 3),
					      sqlite3_column_int64(st, 4) };
		int ret = fn(ctx, (const char *)sqlite3_column_text(st, 0), &c);

		if (ret) {
			sqlite3_reset(st);
			return ret;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : pnm_sql_errno(rc);
}
