/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The store's insides, shared by its files and its unit test: the open
 * connection with its cached statements, the schema's table names, the
 * bucket arithmetic. docs/history.md describes the schema.
 */
#ifndef PNM_STORE_INT_H
#define PNM_STORE_INT_H

#include <sqlite3.h>

#include "store.h"

/* The schema this build writes (PRAGMA user_version) and the file's
 * PRAGMA application_id, "pnmt": a database of ours. */
#define PNM_STORE_VERSION 1
#define PNM_STORE_APP_ID 0x706e6d74

/* The fact tables: FACT_LEVEL, e.g. proc_minute. Talks exist from the
 * hour level up. */
enum pnm_fact { PNM_FACT_PROC, PNM_FACT_UNATTR, PNM_FACT_TOTAL, PNM_FACT_TALK, PNM_FACTS };

/* The dictionaries, each (id, its key columns, last). */
enum pnm_dict {
	PNM_DICT_IFACE,
	PNM_DICT_IDENT,
	PNM_DICT_INST,
	PNM_DICT_PROTO,
	PNM_DICT_REMOTE,
	PNM_DICTS
};

struct pnm_store {
	sqlite3 *db;
	char *path;
	bool readonly;
	int lock_fd; /* PATH.lock, held while open read-write; else -1 */
	/* Read-write only, prepared once at open. */
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *dict_get[PNM_DICTS], *dict_add[PNM_DICTS], *dict_touch[PNM_DICTS];
	sqlite3_stmt *upsert[PNM_FACTS][PNM_LEVELS]; /* NULL: talk_minute */
	sqlite3_stmt *expire[PNM_FACTS][PNM_LEVELS];
	sqlite3_stmt *series_other, *series_put, *series_gone, *meta_put;
	sqlite3_stmt *series_list, *meta_get; /* both modes */
	/* Test hook: fail the write after this many upserts (0: never). */
	unsigned long fail_after;
};

extern const char *const pnm_level_names[PNM_LEVELS];
extern const char *const pnm_fact_names[PNM_FACTS];

/* The fact table's key columns after ts, e.g. "iface, inst". */
const char *pnm_fact_keys(enum pnm_fact f, enum pnm_level l);
/* How many key columns after ts. */
int pnm_fact_nkeys(enum pnm_fact f, enum pnm_level l);

/* The start of the bucket holding t; the next bucket's start. Hours,
 * days and months are those of the local time zone. */
int64_t pnm_bucket(enum pnm_level l, int64_t t);
int64_t pnm_bucket_next(enum pnm_level l, int64_t start);

/* An SQLite result code as -errno (SQLITE_FULL: -ENOSPC, ...). */
int pnm_sql_errno(int rc);
/* "PATH: what: SQLite's message" into err; returns -errno of rc. */
int pnm_store_fail(const struct pnm_store *s, int rc, const char *what, char *err, size_t errlen);
/* One line into err (when given); returns rc. */
int pnm_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The schema: create it or bring an older one up to PNM_STORE_VERSION in
 * one transaction (schema.c). */
int pnm_schema_migrate(struct pnm_store *s, int from, char *err, size_t errlen);
/* Whether the open database is ours: its version in *version (0 when it
 * is a new, empty file); -EBADMSG or -EPROTO with the line. */
int pnm_schema_check(struct pnm_store *s, int *version, char *err, size_t errlen);

/* The read-write statements (write.c), prepared after the migration. */
int pnm_store_prepare(struct pnm_store *s, char *err, size_t errlen);
void pnm_store_finalize(struct pnm_store *s);

/* meta: the oldest bucket start level l still holds complete (set by
 * expiry); INT64_MIN when nothing was ever expired. */
int pnm_store_horizon(struct pnm_store *s, enum pnm_level l, int64_t *out);

#endif
