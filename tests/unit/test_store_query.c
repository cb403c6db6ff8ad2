// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of the history store's roll-ups and queries: 50 hours of a
 * changing load across a DST change, identical per level; processes plus
 * unattributed equal to each interface's total; the groupings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store_fixture.h"

/* 2026-03-28 10:00 in Berlin; the clocks go forward the next night. */
#define LOAD_T0 1774688400
#define LOAD_HOURS 50
#define NPROC 20
#define NDAYS 4

static const char *const ifaces[] = { "eth0", "wlan0", "ns1/veth0" };

static uint64_t rnd_state = 42;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rnd_state >> 33) % n;
}

struct slot {
	struct pnm_store_ident id;
	char name[16];
};

/* What the load put in, per local day and interface. */
struct truth {
	int64_t day[NDAYS];
	int64_t total[NDAYS][3], unattr[NDAYS][3], procs[NDAYS][3];
	int64_t worker; /* bytes in of every "worker", whatever its PID */
};

static int day_of(const struct truth *t, int64_t ts)
{
	int64_t d = pnm_bucket(PNM_LEVEL_DAY, ts);

	for (int i = 0; i < NDAYS; i++)
		if (t->day[i] == d)
			return i;
	fail_msg("no day for %lld", (long long)ts);
	return 0;
}

/* One sample: each process grows on one interface or not at all; now and
 * then one exits and its PID comes back with another start and name; some
 * bytes move from unattributed to a process (negative growth). */
static void load_sample(struct fx_sample *x, struct slot *p, int64_t ts, struct truth *t)
{
	int d = day_of(t, ts);
	int64_t sum[3] = { 0 };

	fx_start(x, ts);
	for (int i = 0; i < NPROC; i++) {
		struct pnm_store_counts c;
		int ifc = (int)rnd(3);

		if (!rnd(1500)) {
			p[i].id.start_ns += 1000000000ULL * (1 + rnd(1000));
			snprintf(p[i].name, sizeof(p[i].name), "p%d-%u", i, rnd(100));
		}
		if (rnd(2))
			continue;
		c = fx_c(rnd(100000), rnd(20000));
		fx_row(x, PNM_ROW_PROC, ifaces[ifc], &p[i].id, NULL, c);
		sum[ifc] += c.bytes_in;
		t->procs[d][ifc] += c.bytes_in;
		if (!strcmp(p[i].name, "worker"))
			t->worker += c.bytes_in;
	}
	for (int ifc = 0; ifc < 3; ifc++) {
		struct pnm_store_counts u = fx_c(rnd(3000), rnd(3000));

		if (!rnd(20))
			u.bytes_in = -(int64_t)rnd(1000);
		fx_row(x, PNM_ROW_UNATTR, ifaces[ifc], NULL, rnd(2) ? "arp" : "tcp", u);
		fx_row(x, PNM_ROW_TOTAL, ifaces[ifc], NULL, NULL,
		       (struct pnm_store_counts){ sum[ifc] + u.bytes_in, 0, 0, 0 });
		t->unattr[d][ifc] += u.bytes_in;
		t->total[d][ifc] += sum[ifc] + u.bytes_in;
	}
}

static void load(struct pnm_store *s, struct truth *t)
{
	static struct fx_sample x;
	static struct slot p[NPROC];

	memset(t, 0, sizeof(*t));
	t->day[0] = pnm_bucket(PNM_LEVEL_DAY, LOAD_T0);
	for (int i = 1; i < NDAYS; i++)
		t->day[i] = pnm_bucket_next(PNM_LEVEL_DAY, t->day[i - 1]);
	for (int i = 0; i < NPROC; i++) {
		/* Two share a name (a pool of workers). */
		snprintf(p[i].name, sizeof(p[i].name), i < 2 ? "worker" : "p%d", i);
		p[i].id = (struct pnm_store_ident){ p[i].name, "/usr/bin/x",	    "x.service",
						    1000,      (uint32_t)(100 + i), 1000,
						    "boot" };
	}
	for (int64_t ts = LOAD_T0; ts < LOAD_T0 + LOAD_HOURS * 3600; ts += 10) {
		load_sample(&x, p, ts, t);
		fx_write(s, &x);
	}
}

/* SUM(bytes_in) of FACT at level l per day and interface, from SQL. */
static void level_days(struct pnm_store *s, const struct truth *t, const char *fact,
		       enum pnm_level l, int64_t out[NDAYS][3])
{
	char sql[256];
	sqlite3_stmt *st;

	memset(out, 0, sizeof(int64_t) * NDAYS * 3);
	snprintf(sql, sizeof(sql),
		 "SELECT p.ts, f.label, sum(p.bytes_in) FROM %s_%s p JOIN iface f ON f.id = "
		 "p.iface GROUP BY p.ts, p.iface",
		 fact, pnm_level_names[l]);
	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *label = (const char *)sqlite3_column_text(st, 1);
		int ifc = 0;

		while (strcmp(ifaces[ifc], label))
			ifc++;
		out[day_of(t, sqlite3_column_int64(st, 0))][ifc] += sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
}

static void qry(struct pnm_store *s, struct pnm_hist_query *q, int level, struct pnm_hist_result *r)
{
	char err[256] = "";
	int rc = level < 0 ? pnm_store_query(s, q, r, err, sizeof(err))
			   : pnm_store_query_level(s, q, level, r, err, sizeof(err));

	if (rc)
		fail_msg("query: %d %s", rc, err);
}

/* Every iface of r: its processes (rows by iface) + unattributed = total. */
static void adds_up(const struct pnm_hist_result *r)
{
	for (size_t i = 0; i < r->nifaces; i++) {
		int64_t procs = 0;

		for (size_t j = 0; j < r->nrows; j++)
			if (!strcmp(r->rows[j].iface, r->ifaces[i].iface))
				procs += r->rows[j].c.bytes_in;
		assert_int_equal(procs + r->ifaces[i].unattr.bytes_in, r->ifaces[i].total.bytes_in);
	}
}

static void fifty_hours(void **state)
{
	struct fx *f = *state;
	struct pnm_store *s = fx_open(f->path, false);
	static struct truth t;
	int64_t got[NDAYS][3];
	struct pnm_hist_query q = { .from = LOAD_T0, .to = LOAD_T0 + LOAD_HOURS * 3600 };
	struct pnm_hist_result r;
	int hours = 0;

	load(s, &t);
	/* The day of the DST change is 23 hours long. */
	assert_int_equal(t.day[2] - t.day[1], 23 * 3600);
	for (int l = PNM_LEVEL_MINUTE; l <= PNM_LEVEL_DAY; l++) {
		level_days(s, &t, "total", l, got);
		assert_memory_equal(got, t.total, sizeof(got));
		level_days(s, &t, "unattr", l, got);
		assert_memory_equal(got, t.unattr, sizeof(got));
		level_days(s, &t, "proc", l, got);
		assert_memory_equal(got, t.procs, sizeof(got));
	}
	/* Through the queries, per day, from each level. */
	for (int l = PNM_LEVEL_MINUTE; l <= PNM_LEVEL_DAY; l++) {
		q.by = PNM_BY_DAY;
		qry(s, &q, l, &r);
		assert_int_equal(r.nrows, 3);
		for (int d = 0; d < 3; d++) {
			assert_int_equal(r.rows[d].period, t.day[d]);
			assert_int_equal(r.rows[d].c.bytes_in,
					 t.procs[d][0] + t.procs[d][1] + t.procs[d][2]);
		}
		pnm_hist_result_free(&r);
	}
	/* Every hour, and a span across hours from the minutes. */
	q.by = PNM_BY_IFACE;
	for (int64_t h = pnm_bucket(PNM_LEVEL_HOUR, LOAD_T0); h < q.to;
	     h = pnm_bucket_next(PNM_LEVEL_HOUR, h), hours++) {
		struct pnm_hist_query hq = { .from = h, .to = h + 3600, .by = PNM_BY_IFACE };

		qry(s, &hq, PNM_LEVEL_HOUR, &r);
		assert_int_equal(r.nifaces, 3);
		adds_up(&r);
		pnm_hist_result_free(&r);
	}
	assert_int_equal(hours, LOAD_HOURS);
	q.from = LOAD_T0 + 610;
	q.to = LOAD_T0 + 30 * 3600 + 1234;
	qry(s, &q, -1, &r);
	assert_int_equal(r.level, PNM_LEVEL_MINUTE);
	assert_int_equal(r.from, LOAD_T0 + 600);
	assert_int_equal(r.to, LOAD_T0 + 30 * 3600 + 1260);
	adds_up(&r);
	pnm_hist_result_free(&r);
	/* The workers by name, whatever their PIDs. */
	q = (struct pnm_hist_query){ .from = LOAD_T0,
				     .to = LOAD_T0 + LOAD_HOURS * 3600,
				     .name = "worker" };
	qry(s, &q, -1, &r);
	assert_int_equal(r.nrows, 1);
	assert_int_equal(r.rows[0].c.bytes_in, t.worker);
	pnm_hist_result_free(&r);
	pnm_store_close(s);
}

static const struct pnm_store_ident
	nginx1 = { "nginx", "/usr/sbin/nginx", "nginx.service", 33, 10, 1, "b" },
	nginx2 = { "nginx", "/usr/sbin/nginx", "nginx.service", 33, 11, 1, "b" },
	nginx3 = { "nginx", "/opt/nginx", "nginx.service", 33, 12, 1, "b" },
	curl = { "curl", "/usr/bin/curl", "", 1000, 20, 1, "b" },
	sshd = { "sshd", "/usr/sbin/sshd", "ssh.service", 0, 30, 1, "b" };

/* 2026-03-04 12:00 UTC */
#define T0 1772625600

static void fill_small(struct pnm_store *s)
{
	static struct fx_sample x;

	fx_start(&x, T0);
	fx_proc(&x, "eth0", &nginx1, fx_c(1000, 10));
	fx_proc(&x, "eth1", &nginx2, fx_c(500, 10));
	fx_proc(&x, "eth0", &nginx3, fx_c(200, 10));
	fx_proc(&x, "eth0", &curl, fx_c(3000, 10));
	fx_talk(&x, "eth0", &curl, "tcp", "1.1.1.1", fx_c(2000, 5));
	fx_talk(&x, "eth0", &curl, "udp", "8.8.8.8", fx_c(1000, 5));
	fx_talk(&x, "eth0", &nginx1, "tcp", "10.0.0.2", fx_c(700, 5));
	fx_row(&x, PNM_ROW_UNATTR, "eth0", NULL, "arp", fx_c(9, 0));
	fx_row(&x, PNM_ROW_TOTAL, "eth0", NULL, NULL, fx_c(9, 0));
	fx_write(s, &x);
	fx_start(&x, T0 + 86400);
	fx_proc(&x, "eth1", &sshd, fx_c(100, 10));
	fx_write(s, &x);
}

static void check_rows(struct pnm_store *s, struct pnm_hist_query q, size_t n,
		       const char *const *keys, const int64_t *bytes)
{
	struct pnm_hist_result r;

	q.from = q.from ? q.from : T0 - 86400;
	q.to = q.to ? q.to : T0 + 3 * 86400;
	qry(s, &q, -1, &r);
	assert_int_equal(r.nrows, n);
	for (size_t i = 0; i < n; i++) {
		const struct pnm_hist_row *w = &r.rows[i];
		const char *k = w->name	    ? w->name
				: w->unit   ? w->unit
				: w->iface  ? w->iface
				: w->remote ? w->remote
					    : w->proto;

		if (keys)
			assert_string_equal(k, keys[i]);
		assert_int_equal(w->c.bytes_in, bytes[i]);
	}
	pnm_hist_result_free(&r);
}

static void groupings(void **state)
{
	struct fx *f = *state;
	struct pnm_store *s = fx_open(f->path, false);
	struct pnm_hist_query q = { .from = T0 - 86400, .to = T0 + 3 * 86400 };
	struct pnm_hist_result r;
	char err[256] = "";
	struct pnm_retention ret;
	bool more;

	fill_small(s);
	check_rows(s, q, 3, (const char *const[]){ "curl", "nginx", "sshd" },
		   (const int64_t[]){ 3000, 1700, 100 });
	qry(s, &q, -1, &r);
	assert_null(r.rows[1].exe); /* two executables */
	assert_string_equal(r.rows[1].unit, "nginx.service");
	assert_true(r.rows[1].has_uid);
	assert_int_equal(r.rows[1].uid, 33);
	assert_string_equal(r.rows[0].exe, "/usr/bin/curl");
	assert_int_equal(r.unattr.bytes_in, 9);
	pnm_hist_result_free(&r);
	check_rows(s, (struct pnm_hist_query){ .top = 1 }, 1, (const char *const[]){ "curl" },
		   (const int64_t[]){ 3000 });
	check_rows(s, (struct pnm_hist_query){ .name = "ngi*" }, 1,
		   (const char *const[]){ "nginx" }, (const int64_t[]){ 1700 });
	check_rows(s, (struct pnm_hist_query){ .iface = "eth1" }, 2,
		   (const char *const[]){ "nginx", "sshd" }, (const int64_t[]){ 500, 100 });
	check_rows(s, (struct pnm_hist_query){ .iface = "nosuch0" }, 0, NULL, NULL);
	check_rows(s, (struct pnm_hist_query){ .by = PNM_BY_UNIT }, 3,
		   (const char *const[]){ "", "nginx.service", "ssh.service" },
		   (const int64_t[]){ 3000, 1700, 100 });
	check_rows(s, (struct pnm_hist_query){ .by = PNM_BY_IFACE }, 2,
		   (const char *const[]){ "eth0", "eth1" }, (const int64_t[]){ 4200, 600 });
	check_rows(s, (struct pnm_hist_query){ .by = PNM_BY_REMOTE }, 3,
		   (const char *const[]){ "1.1.1.1", "8.8.8.8", "10.0.0.2" },
		   (const int64_t[]){ 2000, 1000, 700 });
	check_rows(s, (struct pnm_hist_query){ .by = PNM_BY_PROTO }, 2,
		   (const char *const[]){ "tcp", "udp" }, (const int64_t[]){ 2700, 1000 });
	check_rows(s, (struct pnm_hist_query){ .by = PNM_BY_DAY }, 2, NULL,
		   (const int64_t[]){ 4700, 100 });
	check_rows(s, (struct pnm_hist_query){ .by = PNM_BY_DAY, .name = "sshd" }, 1, NULL,
		   (const int64_t[]){ 100 });
	check_rows(s, (struct pnm_hist_query){ .by = PNM_BY_DAY, .top = 1 }, 1, NULL,
		   (const int64_t[]){ 100 });
	q.by = PNM_BY_REMOTE;
	qry(s, &q, -1, &r);
	assert_int_equal(r.level, PNM_LEVEL_HOUR);
	pnm_hist_result_free(&r);
	/* Talks are not kept per minute. */
	assert_int_equal(pnm_store_query_level(s, &q, PNM_LEVEL_MINUTE, &r, err, sizeof(err)),
			 -EINVAL);
	q.from = q.to;
	assert_int_equal(pnm_store_query(s, &q, &r, err, sizeof(err)), -EINVAL);

	/* After expiry, an old period comes from a coarser level, and hours
	 * older than the hour level's retention are refused. */
	assert_int_equal(pnm_retention_parse("minute=1h,hour=1d", &ret, err, sizeof(err)), 0);
	assert_int_equal(pnm_store_expire(s, T0 + 3 * 86400, &ret, 1000, &more, err, sizeof(err)),
			 0);
	q = (struct pnm_hist_query){ .from = T0 - 86400, .to = T0 + 3 * 86400 };
	qry(s, &q, -1, &r);
	assert_int_equal(r.level, PNM_LEVEL_DAY);
	assert_int_equal(r.nrows, 3);
	pnm_hist_result_free(&r);
	q.by = PNM_BY_HOUR;
	assert_int_equal(pnm_store_query(s, &q, &r, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "no hour figures before"));
	pnm_store_close(s);
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fifty_hours, setup, teardown),
		cmocka_unit_test_setup_teardown(groupings, setup, teardown),
	};

	setenv("TZ", "Europe/Berlin", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
