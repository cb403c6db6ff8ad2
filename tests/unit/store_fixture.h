/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the store's unit tests share: a database in a scratch directory,
 * samples built row by row, a whole file's bytes. */
#ifndef PNM_STORE_FIXTURE_H
#define PNM_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_int.h"

struct fx {
	char dir[64], path[96];
};

static inline void fx_setup(struct fx *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/pnmt-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/history.db", f->dir);
}

static inline void fx_teardown(struct fx *f)
{
	static const char *const sfx[] = { "", "-wal", "-shm", ".lock", "-journal" };
	char p[128];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
}

/* A sample under construction: rows and talks appended. */
#define FX_MAX 512
struct fx_sample {
	struct pnm_store_row rows[FX_MAX];
	struct pnm_store_talk talks[FX_MAX];
	struct pnm_store_sample s;
};

static inline void fx_start(struct fx_sample *x, int64_t ts)
{
	memset(&x->s, 0, sizeof(x->s));
	x->s.ts = ts;
	x->s.rows = x->rows;
	x->s.talks = x->talks;
}

static inline struct pnm_store_counts fx_c(int64_t bi, int64_t bo)
{
	return (struct pnm_store_counts){ bi, bo, bi ? bi / 100 + 1 : 0, bo ? bo / 100 + 1 : 0 };
}

static inline void fx_row(struct fx_sample *x, enum pnm_row_kind k, const char *iface,
			  const struct pnm_store_ident *p, const char *proto,
			  struct pnm_store_counts c)
{
	assert_true(x->s.nrows < FX_MAX);
	x->rows[x->s.nrows++] = (struct pnm_store_row){ k, iface, p, proto, c };
}

static inline void fx_talk(struct fx_sample *x, const char *iface, const struct pnm_store_ident *p,
			   const char *proto, const char *remote, struct pnm_store_counts c)
{
	assert_true(x->s.ntalks < FX_MAX);
	x->talks[x->s.ntalks++] = (struct pnm_store_talk){ iface, p, proto, remote, c };
}

/* A process's row with the matching total, so the interface adds up. */
static inline void fx_proc(struct fx_sample *x, const char *iface, const struct pnm_store_ident *p,
			   struct pnm_store_counts c)
{
	fx_row(x, PNM_ROW_PROC, iface, p, NULL, c);
	fx_row(x, PNM_ROW_TOTAL, iface, NULL, NULL, c);
}

static inline void fx_write(struct pnm_store *s, struct fx_sample *x)
{
	char err[256] = "";
	int rc = pnm_store_write(s, &x->s, err, sizeof(err));

	if (rc)
		fail_msg("write: %d %s", rc, err);
}

static inline struct pnm_store *fx_open(const char *path, bool ro)
{
	struct pnm_store *s = NULL;
	char err[256] = "";
	int rc = pnm_store_open(&s, path, ro, err, sizeof(err));

	if (rc)
		fail_msg("open %s: %d %s", path, rc, err);
	return s;
}

/* The whole file, malloc'd; its size in *n. */
static inline char *fx_slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	*n = (size_t)len;
	return buf;
}

static inline int64_t fx_sql_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

#endif
