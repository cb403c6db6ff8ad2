// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests: per-CPU decoding, snapshot building, JSON and table output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "rates.h"
#include "report.h"

static const struct pnm_counts c_a = { 1000, 200, 10, 4 }, c_b = { 50, 5000, 1, 9 };

/* Two interfaces, three processes, one PID reused, one hostile name. */
static void build(struct pnm_snapshot *s)
{
	struct pnm_proc *p;

	memset(s, 0, sizeof(*s));
	s->taken = 1795310625;
	s->ifaces = calloc(2, sizeof(*s->ifaces));
	s->nifaces = 2;
	s->ifaces[0] = (struct pnm_iface){
		.ifindex = 2, .slot = 2, .name = "eth0", .label = "eth0", .present = true
	};
	s->ifaces[1] = (struct pnm_iface){
		.ifindex = 7, .slot = 7, .name = "wg0", .label = "wg0", .present = true
	};

	p = pnm_snapshot_add(s, 100, 5000, 2, &c_a);
	snprintf(p->name, sizeof(p->name), "curl");
	pnm_snapshot_add(s, 100, 5000, 7, &c_b);
	p = pnm_snapshot_add(s, 200, 6000, 2, &c_b);
	snprintf(p->name, sizeof(p->name), "ev\"il\x1b[2J\n");
	/* PID 100 again, an older instance that exited. */
	p = pnm_snapshot_add(s, 100, 10, 2, &c_b);
	snprintf(p->name, sizeof(p->name), "old");
	p->exited = true;

	/* The interfaces' totals include every process plus unattributed. */
	s->ifaces[0].unattr = (struct pnm_counts){ 7, 3, 1, 1 };
	s->ifaces[0].unattr_by[PNM_U_ARP] = s->ifaces[0].unattr;
	s->ifaces[0].total = s->ifaces[0].unattr;
	pnm_counts_add(&s->ifaces[0].total, &c_a);
	pnm_counts_add(&s->ifaces[0].total, &c_b);
	pnm_counts_add(&s->ifaces[0].total, &c_b);
	s->ifaces[1].total = c_b;
	pnm_snapshot_finish(s);
}

static uint64_t get_u64(struct json_object *o, const char *a, const char *b, const char *c,
			const char *d)
{
	const char *path[] = { a, b, c, d };
	struct json_object *cur = o;

	for (size_t i = 0; i < 4 && path[i]; i++)
		if (!json_object_object_get_ex(cur, path[i], &cur))
			fail_msg("no %s", path[i]);
	return json_object_get_uint64(cur);
}

static void percpu_decoding(void **state)
{
	/* What a per-CPU map lookup returns: one value per CPU. */
	struct pnm_traffic cpus[3] = {
		{ { { 100, 1 }, { 10, 1 } } },
		{ { { 0, 0 }, { 0, 0 } } },
		{ { { 23, 2 }, { 7, 3 } } },
	};
	struct pnm_counts c = { 0 };

	(void)state;
	for (int i = 0; i < 3; i++)
		pnm_counts_from(&c, cpus[i].dir);
	assert_int_equal(c.bytes_in, 123);
	assert_int_equal(c.packets_in, 3);
	assert_int_equal(c.bytes_out, 17);
	assert_int_equal(c.packets_out, 4);
}

static void snapshot_keys_and_order(void **state)
{
	struct pnm_snapshot s;

	(void)state;
	build(&s);
	assert_int_equal(s.nprocs, 3);
	/* By PID, oldest instance first, whatever order they came in: the
	 * old 100 (added last), 100 on two interfaces, 200. */
	assert_int_equal(s.procs[0].pid, 100);
	assert_int_equal(s.procs[0].start_ns, 10);
	assert_string_equal(s.procs[0].key, "100.1");
	assert_int_equal(s.procs[1].pid, 100);
	assert_int_equal(s.procs[1].nifs, 2);
	assert_string_equal(s.procs[1].key, "100");
	assert_int_equal(s.procs[2].pid, 200);
	assert_string_equal(s.procs[2].key, "200");
	pnm_snapshot_free(&s);
}

/* The show --json document as a json-c tree: the streamed text, parsed
 * back (NULL on ENOMEM). */
static struct json_object *report_json(const struct pnm_snapshot *s, const struct pnm_view *v)
{
	struct json_object *doc = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f)
		return NULL;
	rc = pnm_report_json_write(f, s, v, JSON_C_TO_STRING_PLAIN, NULL);
	if (fclose(f))
		rc = -1;
	if (!rc)
		doc = json_tokener_parse(text);
	free(text);
	return doc;
}

static void json_shape_and_totals(void **state)
{
	struct pnm_snapshot s;
	struct pnm_view v = { 0 };
	struct json_object *doc, *back, *procs;
	const char *text;
	uint64_t sum_in = 0, sum_out = 0;

	(void)state;
	build(&s);
	v.iface = &s.ifaces[0];
	doc = report_json(&s, &v);
	text = json_object_to_json_string(doc);
	/* Whatever the names hold, the text parses back. */
	back = json_tokener_parse(text);
	assert_non_null(back);
	assert_string_equal(json_object_get_string(json_object_object_get(back, "timestamp")),
			    "2026-11-22T01:23:45Z");
	assert_int_equal(get_u64(back, "interfaces", "eth0", "ifindex", NULL), 2);
	assert_null(json_object_object_get(json_object_object_get(back, "interfaces"), "wg0"));
	procs = json_object_object_get(back, "processes");
	assert_int_equal(json_object_object_length(procs), 3);
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_object_get(procs, "200"), "name")),
			    "ev\"il\x1b[2J\n");
	assert_true(json_object_get_boolean(
		json_object_object_get(json_object_object_get(procs, "100.1"), "exited")));
	/* -i eth0: pid 100 shows only its eth0 figures. */
	assert_int_equal(get_u64(procs, "100", "current", "bytes_in", NULL), c_a.bytes_in);
	assert_null(json_object_object_get(
		json_object_object_get(json_object_object_get(procs, "100"), "interfaces"), "wg0"));
	/* The invariant: processes + unattributed == interface total. */
	json_object_object_foreach(procs, key, val)
	{
		(void)key;
		sum_in += get_u64(val, "current", "bytes_in", NULL, NULL);
		sum_out += get_u64(val, "current", "bytes_out", NULL, NULL);
	}
	sum_in += get_u64(back, "unattributed", "bytes_in", NULL, NULL);
	sum_out += get_u64(back, "unattributed", "bytes_out", NULL, NULL);
	assert_int_equal(sum_in, get_u64(back, "interfaces", "eth0", "bytes_in", NULL));
	assert_int_equal(sum_out, get_u64(back, "interfaces", "eth0", "bytes_out", NULL));
	/* Its breakdown: all of it ARP here, every kind present. */
	assert_int_equal(get_u64(back, "unattributed", "by_proto", "arp", "bytes_in"),
			 s.ifaces[0].unattr.bytes_in);
	assert_int_equal(get_u64(back, "unattributed", "by_proto", "l2", "bytes_in"), 0);
	json_object_put(back);
	json_object_put(doc);
	pnm_snapshot_free(&s);
}

/* show --json's streamed document: in both of json-c's layouts, exactly
 * the text json-c prints for the same document (hostile name, older
 * instance, aggregate, details, --by and watch's elapsed included), and the
 * same document in both. */
static void json_stream_is_json_c_layout(void **state)
{
	static const int flags[] = { JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE,
				     JSON_C_TO_STRING_PLAIN };
	static const unsigned int bys[] = { PNM_BY_NONE, PNM_BY_REMOTE, PNM_BY_PROTO };
	struct pnm_snapshot s;
	struct pnm_view v = { .aggregate = true, .details = true };
	struct json_object *doc, *back;
	double elapsed = 2.5;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	build(&s);
	/* A TCP connection of pid 200 on eth0 (slot 2): a row under
	 * --details, a group under --by. */
	for (size_t i = 0; i < s.nprocs; i++) {
		struct pnm_conn c = { .t = { .local = { 10, 0, 0, 1 },
					     .remote = { 10, 0, 0, 2 },
					     .lport = 40000,
					     .rport = 443,
					     .family = AF_INET,
					     .proto = IPPROTO_TCP },
				      .slot = { 3 },
				      .c = { { { 1500, 2 }, { 300, 3 } } },
				      .state = 1 };

		if (s.procs[i].pid == 200)
			assert_int_equal(pnm_proc_add_conn(&s.procs[i], &c), 0);
	}
	for (size_t b = 0; b < sizeof(bys) / sizeof(bys[0]); b++) {
		v.by = bys[b];
		doc = report_json(&s, &v);
		assert_non_null(doc);
		assert_non_null(
			json_object_object_get(json_object_object_get(doc, "processes"), "200"));
		if (v.by)
			assert_true(json_object_object_length(json_object_object_get(
					    doc,
					    v.by == PNM_BY_REMOTE ? "by_remote" : "by_proto")) > 0);
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			f = open_memstream(&text, &len);
			assert_non_null(f);
			assert_int_equal(
				pnm_report_json_write(f, &s, &v, flags[i], i ? &elapsed : NULL), 0);
			fclose(f);
			back = json_tokener_parse(text);
			assert_non_null(back);
			/* Parsed reals print as they were read: the text comes back. */
			assert_true(len > 0 && text[len - 1] == '\n');
			text[len - 1] = '\0';
			assert_string_equal(json_object_to_json_string_ext(back, flags[i]), text);
			if (i) {
				assert_true(json_object_get_double(json_object_object_get(
						    back, "elapsed")) == 2.5);
				json_object_object_del(back, "elapsed");
			}
			assert_true(json_object_equal(doc, back));
			json_object_put(back);
			free(text);
			text = NULL;
		}
		json_object_put(doc);
	}
	pnm_snapshot_free(&s);
}

static void json_pid_filter(void **state)
{
	static struct pnm_pid_list pids = { .pid = { 200 }, .n = 1 };
	struct pnm_snapshot s;
	struct pnm_view v = { .pids = &pids };
	struct json_object *doc, *procs;

	(void)state;
	build(&s);
	doc = report_json(&s, &v);
	procs = json_object_object_get(doc, "processes");
	assert_int_equal(json_object_object_length(procs), 1);
	assert_int_equal(get_u64(procs, "200", "pid", NULL, NULL), 200);
	assert_int_equal(get_u64(procs, "200", "interfaces", "eth0", "bytes_out"), c_b.bytes_out);
	json_object_put(doc);
	pnm_snapshot_free(&s);
}

static void table_escapes(void **state)
{
	struct pnm_snapshot s;
	struct pnm_view v = { 0 };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	build(&s);
	pnm_report_table(f, &s, &v);
	fclose(f);
	assert_non_null(strstr(out, "ev\"il\\x1b[2J\\n"));
	assert_null(strchr(out, '\x1b'));
	assert_non_null(strstr(out, "(unattributed)"));
	assert_non_null(strstr(out, "(unattr: arp)"));
	assert_null(strstr(out, "(unattr: tcp)"));
	assert_non_null(strstr(out, "exited"));
	/* One row per (process, interface): pid 100 has two. */
	assert_non_null(strstr(out, "wg0"));
	free(out);
	pnm_snapshot_free(&s);
}

/* Sort keys, --top, -n globs and --aggregate. */
static void rows_sort_top_name(void **state)
{
	struct pnm_snapshot s;
	struct pnm_view v = { 0 };
	struct pnm_row *rows;
	long n;

	(void)state;
	build(&s);
	/* total: 100 (1200 + 5050) > 100.1 (5050) = 200 (5050), PID order then
	 * the newest first. */
	n = pnm_report_rows(&s, &v, &rows);
	assert_int_equal(n, 3);
	assert_int_equal(rows[0].p->pid, 100);
	assert_int_equal(rows[0].p->start_ns, 5000);
	assert_int_equal(rows[1].p->start_ns, 10);
	assert_int_equal(rows[2].p->pid, 200);
	free(rows);
	v.sort = PNM_SORT_OUT;
	n = pnm_report_rows(&s, &v, &rows);
	assert_int_equal(rows[0].c.bytes_out, 5200);
	assert_int_equal(rows[2].c.bytes_out, 5000);
	free(rows);
	v.sort = PNM_SORT_NAME;
	v.top = 2;
	n = pnm_report_rows(&s, &v, &rows);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].p->name, "curl");
	assert_string_equal(rows[1].p->name, "ev\"il\x1b[2J\n");
	free(rows);
	v.top = 0;
	v.name = "c*";
	n = pnm_report_rows(&s, &v, &rows);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].p->pid, 100);
	free(rows);
	v.name = "old";
	n = pnm_report_rows(&s, &v, &rows);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].p->start_ns, 10);
	free(rows);
	pnm_snapshot_free(&s);
}

static void json_aggregate_runtime(void **state)
{
	static struct pnm_pid_list pids = { .pid = { 100, 200 }, .n = 2 };
	struct pnm_snapshot s;
	struct pnm_view v = { .pids = &pids, .aggregate = true };
	struct json_object *doc, *agg;

	(void)state;
	build(&s);
	s.now_ns = 5000 + 90ULL * 1000000000ULL;
	doc = report_json(&s, &v);
	agg = json_object_object_get(doc, "aggregated");
	assert_non_null(agg);
	assert_int_equal(get_u64(agg, "processes", NULL, NULL, NULL), 3);
	assert_int_equal(get_u64(agg, "bytes_in", NULL, NULL, NULL), 1000 + 50 + 50 + 50);
	assert_int_equal(get_u64(agg, "bytes_out", NULL, NULL, NULL), 200 + 5000 + 5000 + 5000);
	assert_int_equal(json_object_array_length(json_object_object_get(agg, "pids")), 3);
	/* A live process's age; no rates without sampling. */
	assert_true(json_object_get_double(json_object_object_get(
			    json_object_object_get(json_object_object_get(doc, "processes"), "100"),
			    "runtime")) == 90.0);
	assert_null(json_object_object_get(
		json_object_object_get(
			json_object_object_get(json_object_object_get(doc, "processes"), "100"),
			"current"),
		"rate_in"));
	json_object_put(doc);
	pnm_snapshot_free(&s);
}

/* Rates: growth over the interval; the peak keeps the highest. */
static void rates_and_summary(void **state)
{
	struct pnm_snapshot s;
	struct pnm_rates r = { 0 };
	struct pnm_view v = { .aggregate = true };
	struct json_object *sum;
	struct pnm_proc *p;

	(void)state;
	build(&s);
	assert_int_equal(pnm_rates_update(&r, &s, NULL, 0), 0);
	assert_false(s.procs[0].rated);
	/* Two seconds later pid 200 sent 4000 B more, then 1000 B more. */
	p = pnm_snapshot_find(&s, 200, 6000);
	p->ifs[0].c.bytes_out += 4000;
	assert_int_equal(pnm_rates_update(&r, &s, NULL, 2.0), 0);
	assert_true(p->rated);
	assert_true(p->rate_out == 2000.0);
	assert_true(p->peak_out == 2000.0);
	p->ifs[0].c.bytes_out += 1000;
	/* A process that appears now moved all its bytes in the interval. */
	pnm_snapshot_add(&s, 300, 7000, 2, &c_a);
	pnm_snapshot_finish(&s);
	/* And pid 100's count went down: an accepted socket's bytes moved
	 * to the process that first used it. */
	pnm_snapshot_find(&s, 100, 5000)->ifs[0].c.bytes_in -= 600;
	p = pnm_snapshot_find(&s, 200, 6000);
	assert_int_equal(pnm_rates_update(&r, &s, NULL, 1.0), 0);
	assert_true(pnm_snapshot_find(&s, 100, 5000)->rate_in == 0.0);
	assert_true(p->rate_out == 1000.0);
	assert_true(p->peak_out == 2000.0);
	assert_true(pnm_snapshot_find(&s, 300, 7000)->rate_in == 1000.0);
	assert_true(r.elapsed == 3.0);
	sum = pnm_rates_summary_json(&r, &v);
	assert_int_equal(get_u64(sum, "processes", "200", "bytes_out", NULL), 5000);
	assert_int_equal(get_u64(sum, "processes", "300", "bytes_in", NULL), 1000);
	/* Processes that moved nothing in the period are left out. */
	assert_null(json_object_object_get(json_object_object_get(sum, "processes"), "100"));
	assert_int_equal(get_u64(sum, "aggregated", "bytes_out", NULL, NULL), 5000 + 200);
	json_object_put(sum);
	pnm_rates_free(&r);
	pnm_snapshot_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(percpu_decoding),
		cmocka_unit_test(snapshot_keys_and_order),
		cmocka_unit_test(json_shape_and_totals),
		cmocka_unit_test(json_pid_filter),
		cmocka_unit_test(json_stream_is_json_c_layout),
		cmocka_unit_test(table_escapes),
		cmocka_unit_test(rows_sort_top_name),
		cmocka_unit_test(json_aggregate_runtime),
		cmocka_unit_test(rates_and_summary),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
