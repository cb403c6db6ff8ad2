// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests: human units, escaping, timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"

static void bytes(void **state)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0 B" },
		{ 1, "1 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.00 KiB" },
		{ 1536, "1.50 KiB" },
		{ 10240, "10.0 KiB" },
		{ 102400, "100 KiB" },
		{ 1048575, "1.00 MiB" }, /* rounds up into the next unit */
		{ 8388608, "8.00 MiB" },
		{ 8777033, "8.37 MiB" },
		{ 1073741824, "1.00 GiB" },
		{ UINT64_MAX, "16.0 EiB" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(pnm_fmt_bytes(cases[i].v, buf, sizeof(buf)), cases[i].s);
}

static void counts(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(pnm_fmt_count(0, buf, sizeof(buf)), "0");
	assert_string_equal(pnm_fmt_count(999, buf, sizeof(buf)), "999");
	assert_string_equal(pnm_fmt_count(1000, buf, sizeof(buf)), "1.00k");
	assert_string_equal(pnm_fmt_count(5882, buf, sizeof(buf)), "5.88k");
	assert_string_equal(pnm_fmt_count(12345678, buf, sizeof(buf)), "12.3M");
}

static void escape(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(pnm_escape("curl", buf, sizeof(buf)), "curl");
	assert_string_equal(pnm_escape("a\x1b[31mb", buf, sizeof(buf)), "a\\x1b[31mb");
	assert_string_equal(pnm_escape("a\nb\tc\\", buf, sizeof(buf)), "a\\nb\\tc\\\\");
	assert_string_equal(pnm_escape("\xff", buf, sizeof(buf)), "\\xff");
	/* Truncation never splits an escape. */
	assert_string_equal(pnm_escape("\x01\x02", buf, 6), "\\x01");
	assert_string_equal(pnm_escape("abc", buf, 1), "");
}

static void rates(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(pnm_fmt_rate(0, b, sizeof(b)), "0 bps");
	assert_string_equal(pnm_fmt_rate(100, b, sizeof(b)), "800 bps");
	assert_string_equal(pnm_fmt_rate(125, b, sizeof(b)), "1.00 Kbps");
	assert_string_equal(pnm_fmt_rate(2500000, b, sizeof(b)), "20.0 Mbps");
	assert_string_equal(pnm_fmt_rate(1.25e9, b, sizeof(b)), "10.0 Gbps");
	assert_string_equal(pnm_fmt_duration(42, b, sizeof(b)), "42s");
	assert_string_equal(pnm_fmt_duration(187, b, sizeof(b)), "3m07s");
	assert_string_equal(pnm_fmt_duration(5 * 3600 + 120, b, sizeof(b)), "5h02m");
	assert_string_equal(pnm_fmt_duration(2 * 86400 + 3 * 3600, b, sizeof(b)), "2d03h");
}

static void rfc3339(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(pnm_fmt_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
	assert_string_equal(pnm_fmt_rfc3339(1795310625, buf, sizeof(buf)), "2026-11-22T01:23:45Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bytes),   cmocka_unit_test(counts), cmocka_unit_test(escape),
		cmocka_unit_test(rfc3339), cmocka_unit_test(rates),
	};

	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
