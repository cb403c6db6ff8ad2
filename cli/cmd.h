/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The subcommands. Each returns the process exit code. */
#ifndef PNM_CMD_H
#define PNM_CMD_H

#include <stdio.h>

enum pnm_exit {
	PNM_EXIT_OK = 0,
	PNM_EXIT_FAIL = 1,
	PNM_EXIT_USAGE = 2,
};

int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_history(int argc, char **argv);

/* Shared by the commands: print "unknown option" style usage errors and
 * return PNM_EXIT_USAGE. */
int pnm_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
