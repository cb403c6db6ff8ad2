// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of the history store's storage: round trip, all or nothing,
 * files it refuses (unchanged), one writer, readers beside it, series,
 * negative growth, retention and expiry. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "store_fixture.h"

/* 2026-03-04 12:00:00 UTC, a day without a DST change in UTC. */
#define T0 1772625600

static const struct pnm_store_ident nginx = { "nginx", "/usr/sbin/nginx", "nginx.service", 33, 100,
					      5000,    "boot-a" };
static const struct pnm_store_ident curl = {
	"curl", "/usr/bin/curl", "", 1000, 200, 7000, "boot-a"
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_setup(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_teardown(*state);
	free(*state);
	return 0;
}

static void query_all(struct pnm_store *s, int64_t from, int64_t to, struct pnm_hist_result *r)
{
	struct pnm_hist_query q = { .from = from, .to = to, .by = PNM_BY_PROCESS };
	char err[256] = "";
	int rc = pnm_store_query(s, &q, r, err, sizeof(err));

	if (rc)
		fail_msg("query: %d %s", rc, err);
}

static void round_trip(void **state)
{
	struct fx *f = *state;
	static struct fx_sample x;
	struct pnm_hist_result r;
	struct pnm_store *s = fx_open(f->path, false);
	struct stat st;

	fx_start(&x, T0 + 5);
	fx_proc(&x, "eth0", &nginx, fx_c(1000, 2000));
	fx_proc(&x, "eth0", &curl, fx_c(300, 40));
	fx_row(&x, PNM_ROW_UNATTR, "eth0", NULL, "arp", fx_c(42, 0));
	fx_row(&x, PNM_ROW_TOTAL, "eth0", NULL, NULL, fx_c(42, 0));
	fx_write(s, &x);
	pnm_store_close(s);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	s = fx_open(f->path, true);
	query_all(s, T0 - 3600, T0 + 3600, &r);
	assert_int_equal(r.level, PNM_LEVEL_MINUTE);
	assert_int_equal(r.nrows, 2);
	assert_string_equal(r.rows[0].name, "nginx");
	assert_string_equal(r.rows[0].exe, "/usr/sbin/nginx");
	assert_string_equal(r.rows[0].unit, "nginx.service");
	assert_true(r.rows[0].has_uid);
	assert_int_equal(r.rows[0].uid, 33);
	assert_int_equal(r.rows[0].c.bytes_in, 1000);
	assert_int_equal(r.rows[0].c.bytes_out, 2000);
	assert_int_equal(r.rows[0].c.packets_in, 11);
	assert_string_equal(r.rows[1].name, "curl");
	assert_int_equal(r.rows[1].c.bytes_in, 300);
	assert_int_equal(r.unattr.bytes_in, 42);
	assert_int_equal(r.nifaces, 1);
	assert_string_equal(r.ifaces[0].iface, "eth0");
	assert_int_equal(r.ifaces[0].total.bytes_in, 1342);
	assert_int_equal(r.ifaces[0].total.bytes_out, 2040);
	assert_int_equal(r.ifaces[0].unattr.bytes_in, 42);
	pnm_hist_result_free(&r);
	/* A reader cannot write. */
	assert_int_equal(pnm_store_write(s, &x.s, NULL, 0), -EROFS);
	pnm_store_close(s);
}

static int64_t total_bytes(struct pnm_store *s)
{
	return fx_sql_int(s->db, "SELECT coalesce(sum(bytes_in), 0) FROM total_minute") +
	       fx_sql_int(s->db, "SELECT coalesce(sum(bytes_in), 0) FROM proc_month");
}

/* A write that fails half way leaves nothing; the next one works. */
static void all_or_nothing(void **state)
{
	struct fx *f = *state;
	static struct fx_sample x;
	struct pnm_store *s = fx_open(f->path, false);
	int64_t before, pages;
	char err[256] = "";

	fx_start(&x, T0);
	fx_proc(&x, "eth0", &nginx, fx_c(1000, 0));
	fx_write(s, &x);
	before = total_bytes(s);
	/* The second row has no interface: refused after the first row's
	 * names were added. */
	fx_start(&x, T0 + 60);
	fx_proc(&x, "eth1", &curl, fx_c(500, 0));
	fx_row(&x, PNM_ROW_TOTAL, NULL, NULL, NULL, fx_c(1, 1));
	assert_int_equal(pnm_store_write(s, &x.s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, f->path));
	assert_int_equal(total_bytes(s), before);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM iface"), 1);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM ident"), 1);

	/* A full disk in the middle of the upserts: -ENOSPC, nothing kept. */
	pages = fx_sql_int(s->db, "PRAGMA page_count");
	fx_start(&x, T0 + 120);
	for (int i = 0; i < 400; i++) {
		static struct pnm_store_ident many[400];
		static char names[400][16];

		snprintf(names[i], sizeof(names[i]), "proc%d", i);
		many[i] = (struct pnm_store_ident){ names[i], "", "", -1, 1000 + i, 1, "b" };
		fx_row(&x, PNM_ROW_PROC, "eth0", &many[i], NULL, fx_c(1000 + i, 1));
	}
	fx_row(&x, PNM_ROW_TOTAL, "eth0", NULL, NULL, fx_c(7, 7));
	assert_true(fx_sql_int(s->db, "PRAGMA max_page_count = 1") > 0);
	(void)pages;
	assert_int_equal(pnm_store_write(s, &x.s, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "no space"));
	assert_int_equal(total_bytes(s), before);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM ident"), 1);
	/* Space again: the same statements write the retry. */
	fx_sql_int(s->db, "PRAGMA max_page_count = 1073741823");
	fx_write(s, &x);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM ident"), 401);
	pnm_store_close(s);
}

static void set_version(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Opening path fails with want, the line names the file and holds what,
 * and the file's bytes are as they were. */
static void refused(const char *path, int want, const char *what)
{
	size_t n0, n1;
	char *b0 = fx_slurp(path, &n0), *b1;
	struct pnm_store *s = NULL;
	char err[256] = "";

	for (int ro = 0; ro < 2; ro++) {
		assert_int_equal(pnm_store_open(&s, path, ro, err, sizeof(err)), want);
		assert_null(s);
		assert_non_null(strstr(err, path));
		if (!strstr(err, what))
			fail_msg("'%s' lacks '%s'", err, what);
		b1 = fx_slurp(path, &n1);
		assert_int_equal(n0, n1);
		assert_memory_equal(b0, b1, n0);
		free(b1);
	}
	free(b0);
}

static void newer_schema(void **state)
{
	struct fx *f = *state;

	pnm_store_close(fx_open(f->path, false));
	set_version(f->path, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 7");
	refused(f->path, -EPROTO, "schema version 7 is newer than this pnm-tc's 1");
}

static void not_a_database(void **state)
{
	struct fx *f = *state;
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not an SQLite database at all\n", fp);
	fclose(fp);
	refused(f->path, -EBADMSG, "not an SQLite database");
	/* SQLite, but another program's. */
	unlink(f->path);
	set_version(f->path, "CREATE TABLE t(x); INSERT INTO t VALUES(1)");
	refused(f->path, -EBADMSG, "not a pnm-tc history database");
}

static void missing(void **state)
{
	struct fx *f = *state;
	struct pnm_store *s = NULL;
	char err[256] = "";

	assert_int_equal(pnm_store_open(&s, f->path, true, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, f->path));
	assert_int_equal(access(f->path, F_OK), -1); /* not created */
}

static void second_writer(void **state)
{
	struct fx *f = *state;
	struct pnm_store *s = fx_open(f->path, false), *s2 = NULL, *r;
	char err[256] = "", want[64];

	assert_int_equal(pnm_store_open(&s2, f->path, false, err, sizeof(err)), -EBUSY);
	snprintf(want, sizeof(want), "in use by the daemon with PID %d", (int)getpid());
	if (!strstr(err, want) || !strstr(err, f->path))
		fail_msg("'%s' lacks '%s'", err, want);
	r = fx_open(f->path, true); /* readers are welcome */
	pnm_store_close(r);
	pnm_store_close(s);
	s2 = fx_open(f->path, false); /* and a writer once the first is gone */
	pnm_store_close(s2);
}

/* A reader sees the last commit while the writer is inside a transaction. */
static void reader_during_write(void **state)
{
	struct fx *f = *state;
	static struct fx_sample x;
	struct pnm_store *w = fx_open(f->path, false), *r;
	struct pnm_hist_result res;

	fx_start(&x, T0);
	fx_proc(&x, "eth0", &nginx, fx_c(1000, 0));
	fx_write(w, &x);
	assert_int_equal(sqlite3_exec(w->db,
				      "BEGIN IMMEDIATE; UPDATE total_minute SET bytes_in = "
				      "bytes_in + 5000000; UPDATE total_hour SET bytes_in = 1",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	r = fx_open(f->path, true);
	query_all(r, T0, T0 + 60, &res);
	assert_int_equal(res.ifaces[0].total.bytes_in, 1000);
	pnm_hist_result_free(&res);
	assert_int_equal(sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	query_all(r, T0, T0 + 60, &res);
	assert_int_equal(res.ifaces[0].total.bytes_in, 5001000);
	pnm_hist_result_free(&res);
	pnm_store_close(r);
	pnm_store_close(w);
}

struct seen {
	char keys[8][16];
	int64_t bytes_in[8];
	int n;
};

static int collect(void *ctx, const char *key, const struct pnm_store_counts *c)
{
	struct seen *v = ctx;

	snprintf(v->keys[v->n], sizeof(v->keys[0]), "%s", key);
	v->bytes_in[v->n++] = c->bytes_in;
	return 0;
}

static struct seen series_of(struct pnm_store *s, const char *attach)
{
	struct seen v = { 0 };

	assert_int_equal(pnm_store_series(s, attach, collect, &v), 0);
	return v;
}

static void series(void **state)
{
	struct fx *f = *state;
	struct pnm_store *s = fx_open(f->path, false);
	struct pnm_store_series a[2] = { { "k1", { 10, 1, 1, 1 } }, { "k2", { 20, 2, 2, 2 } } };
	const char *gone[] = { "k2" };
	struct pnm_store_sample smp = { .ts = T0, .attach = "A", .series = a, .nseries = 2 };
	struct seen v;

	assert_int_equal(pnm_store_write(s, &smp, NULL, 0), 0);
	v = series_of(s, "A");
	assert_int_equal(v.n, 2);
	assert_string_equal(v.keys[1], "k2");
	assert_int_equal(v.bytes_in[1], 20);
	/* Replaced, and dropped by gone. */
	a[0].c.bytes_in = 15;
	smp = (struct pnm_store_sample){
		.ts = T0 + 10, .attach = "A", .series = a, .nseries = 1, .gone = gone, .ngone = 1
	};
	assert_int_equal(pnm_store_write(s, &smp, NULL, 0), 0);
	v = series_of(s, "A");
	assert_int_equal(v.n, 1);
	assert_int_equal(v.bytes_in[0], 15);
	/* Another attach: A's go. */
	smp = (struct pnm_store_sample){
		.ts = T0 + 20, .attach = "B", .series = &a[1], .nseries = 1
	};
	assert_int_equal(pnm_store_write(s, &smp, NULL, 0), 0);
	assert_int_equal(series_of(s, "A").n, 0);
	v = series_of(s, "B");
	assert_int_equal(v.n, 1);
	assert_string_equal(v.keys[0], "k2");
	pnm_store_close(s);
}

/* Growth moved from unattributed to its process: negative deltas add. */
static void negative(void **state)
{
	struct fx *f = *state;
	static struct fx_sample x;
	struct pnm_store *s = fx_open(f->path, false);
	struct pnm_hist_result r;

	fx_start(&x, T0);
	fx_row(&x, PNM_ROW_UNATTR, "eth0", NULL, "tcp", fx_c(100, 0));
	fx_row(&x, PNM_ROW_TOTAL, "eth0", NULL, NULL, fx_c(100, 0));
	fx_write(s, &x);
	fx_start(&x, T0 + 70);
	fx_row(&x, PNM_ROW_UNATTR, "eth0", NULL, "tcp", (struct pnm_store_counts){ -60, 0, -1, 0 });
	fx_row(&x, PNM_ROW_PROC, "eth0", &curl, NULL, (struct pnm_store_counts){ 60, 0, 1, 0 });
	fx_write(s, &x);
	query_all(s, T0, T0 + 120, &r);
	assert_int_equal(r.unattr.bytes_in, 40);
	assert_int_equal(r.rows[0].c.bytes_in, 60);
	assert_int_equal(r.ifaces[0].total.bytes_in, 100);
	pnm_hist_result_free(&r);
	/* The minute of the move holds the negative part on its own. */
	assert_int_equal(
		fx_sql_int(s->db, "SELECT bytes_in FROM unattr_minute WHERE ts > 1772625600"), -60);
	pnm_store_close(s);
}

static void retention(void **state)
{
	static const char *const bad[] = {
		"",	     "minute",	    "minute=",
		"minute=5x", "week=1d",	    "minute=1h,minute=2h",
		"hour=1h",   "minute=48h,", "minute=forever",
		"=1h",	     "minute=-1h",  "day=99999999999999y",
	};
	struct pnm_retention r, d;
	char err[160];

	(void)state;
	pnm_retention_default(&d);
	assert_int_equal(d.keep[PNM_LEVEL_MINUTE], 48 * 3600);
	assert_int_equal(d.keep[PNM_LEVEL_DAY], 731 * 86400);
	assert_int_equal(d.keep[PNM_LEVEL_MONTH], 0);
	assert_int_equal(pnm_retention_parse("minute=48h,hour=90d,day=2y,month=forever", &r, err,
					     sizeof(err)),
			 0);
	assert_memory_equal(&r, &d, sizeof(r));
	assert_int_equal(pnm_retention_parse("hour=120d", &r, err, sizeof(err)), 0);
	assert_int_equal(r.keep[PNM_LEVEL_HOUR], 120 * 86400);
	assert_int_equal(r.keep[PNM_LEVEL_MINUTE], 48 * 3600);
	assert_int_equal(
		pnm_retention_parse("minute=90,hour=15m,day=1y,month=0", &r, err, sizeof(err)), 0);
	assert_int_equal(r.keep[PNM_LEVEL_MINUTE], 90);
	assert_int_equal(r.keep[PNM_LEVEL_HOUR], 900);
	assert_int_equal(r.keep[PNM_LEVEL_DAY], 366 * 86400);
	assert_int_equal(pnm_retention_parse("minute=30s,month=4y", &r, err, sizeof(err)), 0);
	assert_int_equal(r.keep[PNM_LEVEL_MONTH], 1461 * 86400);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pnm_retention keep = r;

		err[0] = '\0';
		if (!pnm_retention_parse(bad[i], &r, err, sizeof(err)))
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(strlen(err) > 0);
		assert_memory_equal(&keep, &r, sizeof(r));
	}
}

/* Samples every minute for 5 h; expiry with minute=10m, hour=3h keeps
 * exactly the buckets whose start + keep is after now, a budget at a time. */
static void expiry(void **state)
{
	struct fx *f = *state;
	static struct fx_sample x;
	struct pnm_store *s = fx_open(f->path, false);
	struct pnm_retention r;
	int64_t now = T0 + 5 * 3600, rows0, rows1;
	struct pnm_store_ident early = curl;
	bool more = true;
	int calls = 0;
	char err[256];

	early.pid = 999;
	assert_int_equal(pnm_retention_parse("minute=10m,hour=3h,day=2d", &r, err, sizeof(err)), 0);
	for (int64_t t = T0; t < now; t += 60) {
		fx_start(&x, t);
		fx_proc(&x, "eth0", &nginx, fx_c(10, 10));
		if (t < T0 + 600)
			fx_proc(&x, "eth0", &early, fx_c(5, 5));
		fx_write(s, &x);
	}
	rows0 = fx_sql_int(s->db, "SELECT count(*) FROM proc_minute");
	assert_int_equal(pnm_store_expire(s, now, &r, 25, &more, err, sizeof(err)), 0);
	assert_true(more);
	rows1 = fx_sql_int(s->db, "SELECT count(*) FROM proc_minute");
	assert_int_equal(rows0 - rows1, 25);
	while (more && calls++ < 100)
		assert_int_equal(pnm_store_expire(s, now, &r, 25, &more, err, sizeof(err)), 0);
	assert_false(more);
	/* Kept: start + 600 > now, i.e. the last 9 minutes with data; the hour level
	 * the hours starting after now - 3 h. */
	assert_int_equal(fx_sql_int(s->db, "SELECT min(ts) FROM proc_minute"), now - 540);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM proc_minute"), 9);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM total_minute"), 9);
	assert_int_equal(fx_sql_int(s->db, "SELECT min(ts) FROM proc_hour"), now - 7200);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM total_hour"), 2);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM proc_day"), 2);
	/* The early process's instance is gone; its identity (curl, also
	 * in the day level) stays. */
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM inst"), 1);
	assert_int_equal(fx_sql_int(s->db, "SELECT count(*) FROM ident"), 2);
	assert_int_equal(fx_sql_int(s->db, "SELECT value FROM meta WHERE key = 'horizon_minute'"),
			 now - 540);
	pnm_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(missing, setup, teardown),
		cmocka_unit_test_setup_teardown(second_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(reader_during_write, setup, teardown),
		cmocka_unit_test_setup_teardown(series, setup, teardown),
		cmocka_unit_test_setup_teardown(negative, setup, teardown),
		cmocka_unit_test(retention),
		cmocka_unit_test_setup_teardown(expiry, setup, teardown),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
