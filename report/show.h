/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* show: one snapshot, or sampling (--watch, -t), and --children. */
#ifndef PNM_SHOW_H
#define PNM_SHOW_H

#include <stdbool.h>
#include <stdint.h>

#include "report.h"
#include "state.h"

struct pnm_show {
	struct pnm_view view;
	const char *ifname; /* -i as given */
	bool json, children, watch;
	uint64_t interval_ms, duration_ms;
	struct pnm_proc_ref *family; /* --children: the -p processes' descendants */
	size_t nfamily;
};

/* One snapshot with the view resolved (-i, -p, --children); strict: a -p
 * PID that does not exist is an error. Says what went wrong. */
int pnm_show_read(struct pnm_show *a, const struct pnm_maps *m, struct pnm_snapshot *snap,
		  bool strict);
/* --children: every descendant of the -p processes, from the fork records
 * and /proc, into a->family and a->view.procs. */
int pnm_family(const struct pnm_maps *m, const struct pnm_snapshot *s, struct pnm_show *a);
/* How many fork records pnm_parent holds (status). */
int pnm_forks_count(const struct pnm_maps *m, size_t *n);
/* --watch / -t: sample until q, Ctrl-C, SIGTERM or the duration; then the
 * summary. Returns the exit code. */
int pnm_watch(struct pnm_show *a, const struct pnm_maps *m);

#endif
