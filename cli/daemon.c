// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* daemon: the command and its options; daemon/ does the work. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "daemon.h"
#include "format.h"
#include "options.h"

enum {
	OPT_DB = PNM_OPT_LONG_ONLY,
	OPT_INTERVAL,
	OPT_RETENTION,
	OPT_LISTEN,
	OPT_CONFIG,
	OPT_CHECK,
};

static const struct pnm_opt daemon_opts[] = {
	{ "db", OPT_DB, PNM_ARG_REQUIRED, "PATH",
	  "the history database (default " PNM_STORE_DEFAULT_PATH ")" },
	{ "interval", OPT_INTERVAL, PNM_ARG_REQUIRED, "DURATION",
	  "how often the counters are sampled and stored (default 10s; 1s to 1h)" },
	{ "retention", OPT_RETENTION, PNM_ARG_REQUIRED, "SPEC",
	  "how long each level keeps its rows, e.g. minute=48h,hour=90d,day=2y,month=forever "
	  "(the default)" },
	{ "listen", OPT_LISTEN, PNM_ARG_REQUIRED, "ADDR:PORT",
	  "where the HTTP server will listen (default " PNM_LISTEN_DEFAULT
	  "); checked, not served yet" },
	{ "config", OPT_CONFIG, PNM_ARG_REQUIRED, "FILE",
	  "the configuration file (default " PNM_CONFIG_DEFAULT ", which may be missing); "
	  "the options win over it" },
	{ "check", OPT_CHECK, PNM_ARG_NONE, NULL,
	  "print the settings the configuration and the options give, one per line, and exit "
	  "(2 when they are wrong); attaches nothing" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

const struct pnm_cmd pnm_cmd_daemon = {
	"daemon",
	cmd_daemon,
	"daemon [--db PATH] [--interval DURATION] [--retention SPEC]\n"
	"              [--listen ADDR:PORT] [--config FILE] [--check] [-v] [IFACE|GLOB...]",
	"Record the history: attach the interfaces named or matching the shell\n"
	"patterns ('veth*'), and those that appear later and match, sample the\n"
	"counters every interval and store what grew in an SQLite database, which\n"
	"'pnm-tc history' reads. Runs in the foreground, logs to stderr, and talks\n"
	"to systemd (Type=notify) when started by it. SIGHUP rereads the\n"
	"configuration; SIGTERM and SIGINT take a last sample, detach what the\n"
	"daemon attached and exit.\n",
	daemon_opts,
	"The interfaces given replace the configuration's 'interfaces ='.\n",
};

int cmd_daemon(int argc, char **argv)
{
	struct pnm_daemon_opts o = { .config = PNM_CONFIG_DEFAULT };
	static const char *const keys[] = { "db", "interval", "retention", "listen" };
	struct pnm_getopt g;
	char err[256], esc[128];
	int c;

	pnm_opt_start(&g, &pnm_cmd_daemon, argc, argv);
	while ((c = pnm_opt_next(&g)) != PNM_OPT_END) {
		if (c == PNM_OPT_STOP)
			return g.rc;
		if (c == OPT_CHECK) {
			o.check = true;
		} else if (c == OPT_CONFIG) {
			if (!optarg[0])
				return pnm_usage_error("daemon", "--config: empty file name");
			o.config = optarg;
			o.config_given = true;
		} else if (pnm_cfg_set(&o.cli, keys[c - OPT_DB], optarg, err, sizeof(err))) {
			return pnm_usage_error("daemon", "--%s", err);
		}
	}
	for (int i = optind; i < argc; i++)
		if (pnm_cfg_set(&o.cli, "interfaces", argv[i], err, sizeof(err)))
			return pnm_usage_error("daemon", "%s", pnm_escape(err, esc, sizeof(esc)));
	return pnm_daemon_run(&o);
}
