/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Messages: every line on stderr starts with "pnm-tc: "; each -v shows one
 * more level. libbpf's own output is shown only at -vv. */
#ifndef PNM_LOG_H
#define PNM_LOG_H

#include <errno.h>

enum pnm_log_level {
	PNM_LOG_WARN = 0,
	PNM_LOG_INFO = 1,
	PNM_LOG_DEBUG = 2,
};

extern int pnm_verbosity;

void pnm_log(enum pnm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pnm_log_setup_libbpf(void);

/* While set, what libbpf says of a program that failed to load: its name
 * and the first line that says why (the verifier's error). NULL stops. */
struct pnm_load_failure {
	char prog[64];
	char reason_of[64]; /* the program reason is about */
	char reason[216];
};
void pnm_log_capture(struct pnm_load_failure *f);
/* One libbpf warning, as the capture reads it (for tests). */
void pnm_load_failure_parse(struct pnm_load_failure *f, const char *msg);

/* Flush stdout: 0, or -errno after saying, once, that the output could
 * not be written (a full disk, a closed pipe): a failed write is never
 * silent. */
int pnm_out_flush(void);

/* -errno after a failed libc call; never 0, even if errno was not set. */
#define pnm_neg_errno() (errno ? -errno : -EIO)

#define pr_warn(...) pnm_log(PNM_LOG_WARN, __VA_ARGS__)
#define pr_info(...) pnm_log(PNM_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) pnm_log(PNM_LOG_DEBUG, __VA_ARGS__)

#endif
