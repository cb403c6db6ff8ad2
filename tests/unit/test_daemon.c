// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of the daemon's pure parts: the configuration file and its
 * settings, the listen address, the series keys it stores, and the unit
 * or container read from /proc/PID/cgroup. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "ident.h"
#include "pnm.h"
#include "sample.h"

/* A file with text: its path (static buffer). */
static const char *file_with(const char *text)
{
	static char path[] = "/tmp/pnm-test-conf-XXXXXX";
	int fd;

	strcpy(path + strlen(path) - 6, "XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void config_file(void **state)
{
	struct pnm_daemon_cfg c;
	char err[256];
	const char *f;

	(void)state;
	pnm_cfg_defaults(&c);
	assert_string_equal(c.db, PNM_STORE_DEFAULT_PATH);
	assert_int_equal(c.interval_ms, 10000);
	f = file_with("# comment\n\n  interval = 30s  \ninterfaces = eth0 'x' veth*,wl*\n"
		      "db=/tmp/h.db\nlisten = [::1]:9000\nretention = minute=1h\n");
	assert_int_equal(pnm_cfg_load(&c, f, err, sizeof(err)), 0);
	unlink(f);
	assert_int_equal(c.interval_ms, 30000);
	assert_string_equal(c.db, "/tmp/h.db");
	assert_string_equal(c.listen, "[::1]:9000");
	assert_int_equal(c.nglobs, 4);
	assert_string_equal(c.globs[0], "eth0");
	assert_string_equal(c.globs[1], "'x'");
	assert_string_equal(c.globs[2], "veth*");
	assert_string_equal(c.globs[3], "wl*");
	assert_int_equal(c.retention.keep[PNM_LEVEL_MINUTE], 3600);
	assert_true(c.set & PNM_CFG_DB && c.set & PNM_CFG_IFACES);
}

/* A bad line names the file and the line, and changes nothing. */
static void config_errors(void **state)
{
	static const char *const bad[] = {
		"interval = 0\n",	"interval = 2h\n",
		"speed = 1\n",		"no equals sign\n",
		"listen = 1.2.3.4\n",	"listen = host:80\n",
		"listen = 1.2.3.4:0\n", "retention = hour=1x\n",
		"interfaces = a/b\n",	"db =\n",
	};
	struct pnm_daemon_cfg c, before;
	char err[256], want[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *f = file_with(bad[i]);

		pnm_cfg_defaults(&c);
		before = c;
		assert_int_equal(pnm_cfg_load(&c, f, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "%s:1: ", f);
		assert_memory_equal(err, want, strlen(want));
		assert_memory_equal(&c, &before, sizeof(c));
		unlink(f);
	}
	assert_int_equal(pnm_cfg_load(&c, "/nonexistent/pnm.conf", err, sizeof(err)), -ENOENT);
}

/* The command line wins, setting by setting; its interfaces replace the
 * file's. */
static void config_merge(void **state)
{
	struct pnm_daemon_cfg base, cli = { 0 };
	char err[128];

	(void)state;
	pnm_cfg_defaults(&base);
	assert_int_equal(pnm_cfg_set(&base, "interfaces", "eth0 eth1", err, sizeof(err)), 0);
	assert_int_equal(pnm_cfg_set(&base, "interval", "5s", err, sizeof(err)), 0);
	assert_int_equal(pnm_cfg_set(&cli, "interfaces", "veth*", err, sizeof(err)), 0);
	pnm_cfg_merge(&base, &cli);
	assert_int_equal(base.nglobs, 1);
	assert_string_equal(base.globs[0], "veth*");
	assert_int_equal(base.interval_ms, 5000);
	assert_int_equal(pnm_check_listen("127.0.0.1:9464", err, sizeof(err)), 0);
	assert_int_equal(pnm_check_listen("[fd00::1]:1", err, sizeof(err)), 0);
	assert_int_equal(pnm_check_listen(":80", err, sizeof(err)), -EINVAL);
	assert_int_equal(pnm_check_listen("127.0.0.1:65536", err, sizeof(err)), -EINVAL);
}

static void series_keys(void **state)
{
	const struct pnm_series_key keys[] = {
		{ .kind = 'i', .slot = 3, .gen = 7 },
		{ .kind = 'u', .slot = 0, .gen = 1, .uclass = PNM_U_ARP },
		{ .kind = 'u', .slot = 1, .gen = 2, .uclass = PNM_U_COUNT },
		{ .kind = 'p', .slot = 2, .gen = 9, .pid = 4194304, .start_ns = UINT64_MAX },
	};
	static const char *const bad[] = { "",	      "i/",    "i/1",	      "i/1.2x", "u/1.2/99",
					   "p/1.2/3", "x/1.2", "p/1.2/3/4/5", "i/1.2 " };
	struct pnm_series_key k;
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(pnm_series_key_fmt(&keys[i], buf, sizeof(buf)), 0);
		assert_int_equal(pnm_series_key_parse(buf, &k), 0);
		assert_int_equal(pnm_series_cmp(&k, &keys[i]), 0);
	}
	assert_int_equal(pnm_series_key_fmt(&keys[3], buf, 8), -ENOSPC);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pnm_series_key_parse(bad[i], &k), -EINVAL);
	assert_true(pnm_series_cmp(&keys[0], &keys[3]) < 0); /* 'i' before 'p' */
}

static void cgroup_units(void **state)
{
	static const char *const cases[][2] = {
		{ "0::/system.slice/nginx.service\n", "nginx.service" },
		{ "12:cpu:/x\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
		  "foo.service\n",
		  "foo.service" },
		{ "0::/system.slice/docker-0123abcd.scope\n", "docker-0123abcd.scope" },
		{ "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-99.scope\n",
		  "cri-containerd-99.scope" },
		{ "0::/mygroup/sub\n", "sub" },
		{ "0::/\n", "" },
		{ "1:name=systemd:/x.service\n", "" },
		{ "", "" },
	};
	char unit[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pnm_unit_of_cgroup(cases[i][0], unit, sizeof(unit));
		assert_string_equal(unit, cases[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_file),	cmocka_unit_test(config_errors),
		cmocka_unit_test(config_merge), cmocka_unit_test(series_keys),
		cmocka_unit_test(cgroup_units),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
