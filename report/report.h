/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Tables and JSON from a snapshot. Pure: unit-tested without a kernel. */
#ifndef PNM_REPORT_H
#define PNM_REPORT_H

#include <stdio.h>

#include <json-c/json.h>

#include "parse.h"
#include "snapshot.h"

/* Exact processes (--children): a PID and its start time. */
struct pnm_proc_ref {
	uint32_t pid;
	uint64_t start_ns;
};

/* What to show. The filters narrow: a process is shown when it passes
 * every one that is set. */
struct pnm_view {
	const struct pnm_pid_list *pids;  /* -p: these PIDs (any instance) */
	const struct pnm_proc_ref *procs; /* --children: these, exactly */
	size_t nprocs;
	const char *name;	       /* -n: exact name or glob (fnmatch) */
	const struct pnm_iface *iface; /* -i: one interface */
	unsigned int sort;	       /* enum pnm_sort */
	size_t top;		       /* --top N; 0: all */
	bool aggregate;		       /* -a: a TOTAL over the shown processes */
	bool details;		       /* -d: each process's connections */
	unsigned int by;	       /* enum pnm_by */
};

/* --by: totals per remote address or per protocol, over the shown
 * processes' connections. */
enum pnm_by {
	PNM_BY_NONE = 0,
	PNM_BY_REMOTE = 1,
	PNM_BY_PROTO = 2,
};

/* Does the view's -p, --children and -n select this process? */
bool pnm_view_wants(const struct pnm_view *v, uint32_t pid, uint64_t start_ns, const char *name);

/* A process as shown: its figures restricted to the view. */
struct pnm_row {
	const struct pnm_proc *p;
	struct pnm_counts c;
};

/* The shown processes, filtered, sorted and cut to --top; *rows is
 * malloc'ed (caller frees). Returns their number, or -1 on ENOMEM. A
 * process selected by -p is shown even without counters. With rates
 * (sampling), in/out/total sort by the current rate, then by bytes. */
long pnm_report_rows(const struct pnm_snapshot *s, const struct pnm_view *v, struct pnm_row **rows);
/* The `show --json` document, written to out in json-c's layout for its
 * flags (PLAIN or SPACED), one process at a time ("processes" last, then
 * "elapsed" when given): no tree of every process at once. 0, -ENOMEM or
 * -EIO. */
int pnm_report_json_write(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v,
			  int flags, const double *elapsed);
/* The `show` table: a row per process and interface. */
void pnm_report_table(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v);
/* The --by table. */
void pnm_report_by(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v);
/* The sampling table: a row per process with rates, peaks and totals. */
void pnm_report_rates(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v);

#endif
