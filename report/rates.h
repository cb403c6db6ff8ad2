/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Rates from successive snapshots (show --watch, -t). A process's current
 * rate is what its counters grew by over the last interval, divided by the
 * interval; its peak is the highest current rate seen since sampling
 * began. Pure: unit-tested without a kernel.
 */
#ifndef PNM_RATES_H
#define PNM_RATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

struct pnm_rate_entry {
	uint32_t pid;
	uint64_t start_ns;
	char name[PNM_COMM_LEN];
	bool exited;
	uint64_t in, out;   /* bytes at the last sample */
	uint64_t in0, out0; /* bytes when sampling began (0: appeared later) */
	double peak_in, peak_out;
};

struct pnm_rates {
	struct pnm_rate_entry *e; /* sorted by (pid, start_ns) */
	size_t n, cap;
	bool primed;	/* a first sample was taken */
	double elapsed; /* seconds since the first sample */
};

/* Take one sample: the processes' bytes on iface (NULL: all interfaces),
 * dt seconds after the previous sample. Fills each process's rate fields
 * in s (none on the first sample). -ENOMEM on allocation failure. */
int pnm_rates_update(struct pnm_rates *r, struct pnm_snapshot *s, const struct pnm_iface *iface,
		     double dt);
void pnm_rates_free(struct pnm_rates *r);

/* The session summary: bytes each process moved since sampling began, its
 * average and peak rates, in the view's order (sort, top, filters by PID
 * and name apply). */
void pnm_rates_summary_table(FILE *out, const struct pnm_rates *r, const struct pnm_view *v);
struct json_object *pnm_rates_summary_json(const struct pnm_rates *r, const struct pnm_view *v);

#endif
