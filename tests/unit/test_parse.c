// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests: PID lists and interface names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "parse.h"
#include "pnm.h"

static void pids_ok(void **state)
{
	static struct pnm_pid_list l;
	char err[128];

	(void)state;
	assert_int_equal(pnm_parse_pids("1234", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.pid[0], 1234);
	assert_int_equal(pnm_parse_pids("1,22,333", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.pid[2], 333);
	/* Duplicates count once. */
	assert_int_equal(pnm_parse_pids("7,7,8,7", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	/* The kernel's largest possible PID, and well-formed PIDs beyond it
	 * (no such process, not a usage error). */
	assert_int_equal(pnm_parse_pids("4194304", &l, err, sizeof(err)), 0);
	assert_int_equal(l.pid[0], 4194304);
	assert_int_equal(pnm_parse_pids("4294967295", &l, err, sizeof(err)), 0);
	assert_int_equal(l.pid[0], 4294967295u);
}

static void pids_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"abc",
		"-5",
		"+5",
		"1,,2",
		",1",
		"1,",
		"4294967296",
		"0",
		"12a",
		" 1",
		"1 ",
		"0x10",
		"99999999999999999999999",
		"1;2",
		"\xb1"
		"234",
		"1,\x1b[2J",
	};
	static struct pnm_pid_list l;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[128] = "";
		int rc = pnm_parse_pids(bad[i], &l, err, sizeof(err));

		if (rc == 0)
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(rc == -EINVAL || rc == -ERANGE);
		assert_true(strlen(err) > 0);
		/* One printable line: the input is shown escaped (the fuzzer
		 * found raw bytes here). */
		for (const char *p = err; *p; p++)
			assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	}
	assert_int_equal(pnm_parse_pids(NULL, &l, NULL, 0), -EINVAL);
}

static void pids_too_many(void **state)
{
	static struct pnm_pid_list l;
	static char buf[PNM_MAX_PIDS * 8 + 16];
	size_t o = 0;
	char err[128];

	(void)state;
	for (unsigned int i = 1; i <= PNM_MAX_PIDS + 1; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%u", i > 1 ? "," : "", i);
	assert_int_equal(pnm_parse_pids(buf, &l, err, sizeof(err)), -E2BIG);
}

static void ifnames(void **state)
{
	static const char *const good[] = { "eth0", "lo",  "veth-a.10",	     "br_0",
					    "wg0",  "a@b", "123456789012345" };
	static const char *const bad[] = { "",
					   ".",
					   "..",
					   "1234567890123456",
					   "eth0;reboot",
					   "a b",
					   "a/b",
					   "$(id)",
					   "eth0\n",
					   "x\x1b[31m",
					   "a:b",
					   "averyveryverylongname-over-40-characters" };
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (pnm_check_ifname(good[i], err, sizeof(err)))
			fail_msg("'%s' was refused: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (!pnm_check_ifname(bad[i], err, sizeof(err)))
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(strlen(err) > 0);
		/* The message shows the name escaped: no raw control bytes. */
		for (const char *p = err; *p; p++)
			assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	}
	assert_int_equal(pnm_check_ifname(NULL, err, sizeof(err)), -EINVAL);
}

/* Interfaces of other namespaces: NETNS/IFACE. */
static void iflabels(void **state)
{
	const char *good[] = { "eth0",
			       "ctr1/eth0",
			       "netns-4026532281/veth0",
			       "a/b",
			       "ns.with-dots_and+x/lo",
			       "0123456789012345678901234567890/eth0" };
	const char *bad[] = { "/eth0",	   "ns/",
			      "ns/a/b",	   "./eth0",
			      "../eth0",   "n s/eth0",
			      "ns\t/eth0", "ns\x1b/eth0",
			      "ns/eth0;x", "01234567890123456789012345678901/eth0" };
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (pnm_check_iflabel(good[i], err, sizeof(err)))
			fail_msg("'%s' was refused: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (!pnm_check_iflabel(bad[i], err, sizeof(err)))
			fail_msg("'%s' was accepted", bad[i]);
		for (const char *p = err; *p; p++)
			assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	}
}

static void durations(void **state)
{
	const struct {
		const char *s;
		uint64_t ms;
	} good[] = { { "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 }, { "2", 2000 },
		     { "500ms", 500 }, { "1.5s", 1500 }, { "0.1", 100 } };
	const char *bad[] = { "", "s", "-1s", "5x", "5 s", "1d", "99ms", "2h", "1e3", "\x1b[2Js" };
	char err[160];
	uint64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (pnm_parse_duration(good[i].s, 100, 3600000, &ms, err, sizeof(err)))
			fail_msg("'%s' was refused: %s", good[i].s, err);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (!pnm_parse_duration(bad[i], 100, 3600000, &ms, err, sizeof(err)))
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\x1b'));
	}
	/* Days, for history --since. */
	assert_int_equal(pnm_parse_duration("2d", 1000, 1ULL << 40, &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 2 * 86400000ULL);
}

/* 2026-03-04 12:00:00 UTC, and its midnight. */
#define NOON 1772625600
#define MIDNIGHT 1772582400

static void times(void **state)
{
	const struct {
		const char *s;
		int64_t t;
	} good[] = {
		{ "2026-03-04", MIDNIGHT },
		{ "2026-03-04 12:00", NOON },
		{ "2026-03-04T12:00:30", NOON + 30 },
		{ "2026-03-04T12:00:30Z", NOON + 30 },
		{ "2026-03-04T13:30+01:30", NOON },
		{ "2026-03-04 10:00-02:00", NOON },
		{ "2024-02-29 00:00:00Z", 1709164800 },
		{ "@1700000000", 1700000000 },
		{ "@0", 0 },
		{ "now", NOON + 5 },
		{ "today", MIDNIGHT },
		{ "yesterday", MIDNIGHT - 86400 },
		{ "9999-12-31 23:59:59Z", PNM_TIME_MAX },
	};
	static const char *const bad[] = {
		"",
		"2026-13-01",
		"2026-02-29",
		"2024-02-30",
		"2026-03-04 24:00",
		"2026-03-04 12:60",
		"2026-03-04 12",
		"2026-03-04T12:00+1",
		"2026-03-04T12:00Zx",
		"2026-03-04 12:00:61",
		"@",
		"@-5",
		"@1e9",
		"1969-12-31",
		"tomorrow",
		"2026-3-4",
		"12:00",
		"2026-03-04 ",
		"2026-03-04T12:0",
		"@99999999999999",
		"2026-03-04\x1b[2J",
	};
	char err[192];
	int64_t t;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (pnm_parse_time(good[i].s, NOON + 5, &t, err, sizeof(err)))
			fail_msg("'%s' was refused: %s", good[i].s, err);
		if (t != good[i].t)
			fail_msg("'%s': %lld, want %lld", good[i].s, (long long)t,
				 (long long)good[i].t);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (!pnm_parse_time(bad[i], NOON, &t, err, sizeof(err)))
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(strlen(err) > 0);
		for (const char *p = err; *p; p++)
			assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	}
	/* Local time: 13:00 in Berlin is noon UTC; its "today" is CET's. */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	assert_int_equal(pnm_parse_time("2026-03-04 13:00", 0, &t, err, sizeof(err)), 0);
	assert_int_equal(t, NOON);
	assert_int_equal(pnm_parse_time("today", NOON, &t, err, sizeof(err)), 0);
	assert_int_equal(t, MIDNIGHT - 3600);
	setenv("TZ", "UTC", 1);
	tzset();
}

static void sorts(void **state)
{
	unsigned int k;
	char err[128];

	(void)state;
	assert_int_equal(pnm_parse_sort("in", &k, err, sizeof(err)), 0);
	assert_int_equal(k, PNM_SORT_IN);
	assert_int_equal(pnm_parse_sort("name", &k, err, sizeof(err)), 0);
	assert_string_equal(pnm_sort_name(k), "name");
	assert_int_equal(pnm_parse_sort("bytes", &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bytes"));
}

static void layers(void **state)
{
	unsigned int l = 99;
	char err[128];

	(void)state;
	assert_int_equal(pnm_parse_layer("l1", &l, err, sizeof(err)), 0);
	assert_int_equal(l, PNM_L1);
	assert_int_equal(pnm_parse_layer("l2", &l, err, sizeof(err)), 0);
	assert_int_equal(l, PNM_L2);
	assert_int_equal(pnm_parse_layer("l3", &l, err, sizeof(err)), 0);
	assert_int_equal(l, PNM_L3);
	assert_string_equal(pnm_layer_name(PNM_L3), "l3");
	assert_string_equal(pnm_layer_name(42), "?");
	for (const char *const *b = (const char *const[]){ "", "l4", "L2", "l2 ", "2", NULL }; *b;
	     b++) {
		err[0] = '\0';
		assert_int_equal(pnm_parse_layer(*b, &l, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(pnm_parse_layer(NULL, &l, err, sizeof(err)), -EINVAL);
}

static void counts(void **state)
{
	uint32_t v = 0;
	char err[128];

	(void)state;
	assert_int_equal(pnm_parse_count("16", 16, 1000, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 16);
	assert_int_equal(pnm_parse_count("1000", 16, 1000, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(pnm_parse_count("15", 16, 1000, &v, err, sizeof(err)), -ERANGE);
	assert_int_equal(pnm_parse_count("1001", 16, 1000, &v, err, sizeof(err)), -ERANGE);
	assert_int_equal(pnm_parse_count("99999999999999999999999", 16, 1000, &v, err, sizeof(err)),
			 -ERANGE);
	for (const char *const *b =
		     (const char *const[]){ "", "-5", "+5", "1k", "0x20", " 20", NULL };
	     *b; b++)
		assert_int_equal(pnm_parse_count(*b, 16, 1000, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(pnm_parse_count(NULL, 16, 1000, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(v, 1000);
}

/* Names for tuples and for the unattributed classes. */
static void names(void **state)
{
	(void)state;
	assert_string_equal(pnm_proto_name(6), "tcp");
	assert_string_equal(pnm_proto_name(17), "udp");
	assert_string_equal(pnm_proto_name(1), "icmp");
	assert_string_equal(pnm_proto_name(58), "icmpv6");
	assert_string_equal(pnm_proto_name(132), "sctp");
	assert_string_equal(pnm_proto_name(253), "ip");
	assert_string_equal(pnm_uclass_name(PNM_U_ARP), "arp");
	assert_string_equal(pnm_uclass_name(PNM_U_OTHER), "l2");
	assert_string_equal(pnm_uclass_name(PNM_U_COUNT), "?");
	for (unsigned int u = 0; u < PNM_U_COUNT; u++)
		assert_true(strlen(pnm_uclass_name(u)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pids_ok),	 cmocka_unit_test(pids_bad),
		cmocka_unit_test(pids_too_many), cmocka_unit_test(ifnames),
		cmocka_unit_test(iflabels),	 cmocka_unit_test(durations),
		cmocka_unit_test(sorts),	 cmocka_unit_test(layers),
		cmocka_unit_test(counts),	 cmocka_unit_test(names),
		cmocka_unit_test(times),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
