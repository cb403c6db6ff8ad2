/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pnm-tc daemon: attach the configured interfaces, sample the counters
 * every interval into the history store, follow interfaces as they come
 * and go, and tell systemd how it goes (sd_notify). SIGHUP rereads the
 * configuration; SIGTERM and SIGINT take a last sample and end it.
 */
#ifndef PNM_DAEMON_H
#define PNM_DAEMON_H

#include <stdbool.h>

#include "config.h"

struct pnm_daemon_opts {
	struct pnm_daemon_cfg cli; /* what the command line set (cli.set) */
	const char *config;	   /* the configuration file */
	bool config_given;	   /* --config: the file must exist */
	bool check;		   /* --check: print the settings, do nothing */
};

/* Run until a signal ends it: the exit code. */
int pnm_daemon_run(const struct pnm_daemon_opts *o);

#endif
