// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Expiry: a bucket is kept while its start + the level's retention is
 * after now. Deletion is bounded (budget rows per call, the oldest first),
 * so a daemon that calls it after each sample never stalls its writes for
 * long, even after the retention was shortened. Each level remembers the
 * first bucket it still holds whole (meta "horizon_LEVEL"), which tells a
 * query which level can answer it. Once everything due is gone,
 * dictionary rows that nothing can reference any more are dropped: their
 * "last" minute is past the retention of every level that uses them.
 */
#include <errno.h>
#include <stdio.h>

#include "store_int.h"

int pnm_store_horizon(struct pnm_store *s, enum pnm_level l, int64_t *out)
{
	char key[32];
	int rc;

	*out = INT64_MIN;
	if (!s->meta_get) {
		rc = sqlite3_prepare_v3(s->db, "SELECT value FROM meta WHERE key = ?1", -1,
					SQLITE_PREPARE_PERSISTENT, &s->meta_get, NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	snprintf(key, sizeof(key), "horizon_%s", pnm_level_names[l]);
	sqlite3_bind_text(s->meta_get, 1, key, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s->meta_get);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s->meta_get, 0);
	sqlite3_reset(s->meta_get);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The longest retention of levels from..PNM_LEVELS-1; 0 when one keeps
 * forever. */
static int64_t keep_max(const struct pnm_retention *r, int from)
{
	int64_t m = 0;

	for (int l = from; l < PNM_LEVELS; l++) {
		if (!r->keep[l])
			return 0;
		if (r->keep[l] > m)
			m = r->keep[l];
	}
	return m;
}

static int run(struct pnm_store *s, const char *sql, int64_t keep, int64_t now)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, keep);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Dictionary rows whose last reference has expired everywhere. Instances
 * first: an identity is still used while an instance refers to it. */
static int prune(struct pnm_store *s, int64_t now, const struct pnm_retention *r)
{
	static const struct {
		const char *sql;
		int from; /* the finest level that references the dictionary */
	} dicts[] = {
		{ "DELETE FROM inst WHERE last + ?1 <= ?2", PNM_LEVEL_MINUTE },
		{ "DELETE FROM ident WHERE last + ?1 <= ?2 AND id NOT IN (SELECT ident FROM inst)",
		  PNM_LEVEL_HOUR },
		{ "DELETE FROM remote WHERE last + ?1 <= ?2", PNM_LEVEL_HOUR },
		{ "DELETE FROM proto WHERE last + ?1 <= ?2", PNM_LEVEL_MINUTE },
		{ "DELETE FROM iface WHERE last + ?1 <= ?2", PNM_LEVEL_MINUTE },
	};
	int rc = SQLITE_OK;

	for (size_t i = 0; i < sizeof(dicts) / sizeof(dicts[0]) && rc == SQLITE_OK; i++) {
		/* inst is only in the minute level: its own retention. */
		int64_t k = i == 0 ? r->keep[PNM_LEVEL_MINUTE] : keep_max(r, dicts[i].from);

		if (k)
			rc = run(s, dicts[i].sql, k, now);
	}
	return rc;
}

/* One level's due rows, at most *left of them; *more when some remain. */
static int expire_level(struct pnm_store *s, enum pnm_level l, int64_t cutoff, size_t *left,
			bool *more)
{
	char key[32];
	int rc;

	for (int f = 0; f < PNM_FACTS; f++) {
		sqlite3_stmt *st = s->expire[f][l];
		size_t n;

		if (!st)
			continue;
		if (!*left) {
			*more = true;
			break;
		}
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int64(st, 2, (int64_t)*left);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return rc;
		n = (size_t)sqlite3_changes(s->db);
		*left -= n < *left ? n : *left;
		if (!*left)
			*more = true; /* maybe: the next call finds out */
	}
	snprintf(key, sizeof(key), "horizon_%s", pnm_level_names[l]);
	sqlite3_bind_text(s->meta_put, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s->meta_put, 2, pnm_bucket_next(l, cutoff));
	rc = sqlite3_step(s->meta_put);
	sqlite3_reset(s->meta_put);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int pnm_store_expire(struct pnm_store *s, int64_t now, const struct pnm_retention *r, size_t budget,
		     bool *more, char *err, size_t errlen)
{
	size_t left = budget;
	int rc;

	*more = false;
	if (s->readonly)
		return pnm_errf(err, errlen, -EROFS, "%s: opened read-only", s->path);
	rc = step_done(s->begin);
	if (rc != SQLITE_OK)
		return pnm_store_fail(s, rc, "cannot start expiry", err, errlen);
	for (int l = 0; l < PNM_LEVELS && rc == SQLITE_OK; l++)
		if (r->keep[l] > 0)
			rc = expire_level(s, l, now - r->keep[l], &left, more);
	/* Cheap (the dictionaries are small), and only when all is done. */
	if (rc == SQLITE_OK && !*more && left < budget)
		rc = prune(s, now, r);
	if (rc == SQLITE_OK)
		rc = step_done(s->commit);
	if (rc == SQLITE_OK)
		return 0;
	rc = pnm_store_fail(s, rc, "cannot expire", err, errlen);
	if (!sqlite3_get_autocommit(s->db))
		step_done(s->rollback);
	return rc;
}
