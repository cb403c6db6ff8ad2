/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Tables and JSON from a snapshot. Pure: unit-tested without a kernel. */
#ifndef PNM_REPORT_H
#define PNM_REPORT_H

#include <stdio.h>

#include <json-c/json.h>

#include "parse.h"
#include "snapshot.h"

struct pnm_view {
	const struct pnm_pid_list *pids; /* NULL: every process with counters */
	const struct pnm_iface *iface;	 /* NULL: every attached interface */
};

/* The `show --json` document (caller frees with json_object_put). */
struct json_object *pnm_report_json(const struct pnm_snapshot *s, const struct pnm_view *v);
/* The `show` table. */
void pnm_report_table(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v);
/* Is process p part of the view; its figures restricted to the view. */
bool pnm_view_proc(const struct pnm_view *v, const struct pnm_proc *p, struct pnm_counts *c);

#endif
