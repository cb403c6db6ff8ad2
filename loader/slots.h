/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The interface slot table: each attached interface has a slot, the key of
 * its record in pnm_ifcfg and of its counters in pnm_ifstat and
 * pnm_procstat (PNM_MAX_IFACES of them).
 */
#ifndef PNM_SLOTS_H
#define PNM_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

/* "eth0", or "ns1/eth0" outside the initial network namespace. */
#define LABEL(cfg, buf) pnm_if_label((cfg)->netns, (cfg)->name, buf, sizeof(buf))
#define LABEL_LEN (PNM_NETNS_LEN + PNM_IFNAME_LEN)

/* Zero an interface's per-CPU counter slot. */
int pnm_slot_zero(const struct pnm_maps *m, uint32_t slot);
/* Walk the interface records: each call gives the next (slot, record);
 * *prev starts NULL. */
bool pnm_slot_next(const struct pnm_maps *m, uint32_t **prev, uint32_t *slot,
		   struct pnm_if_cfg *cfg);
/* The record of interface ifindex in namespace ino: 0 and its slot, or
 * -ENOENT. */
int pnm_slot_find(const struct pnm_maps *m, uint64_t ino, uint32_t ifindex, uint32_t *slot,
		  struct pnm_if_cfg *cfg);
/* The lowest slot without a record, or -ENOSPC. */
int pnm_slot_free(const struct pnm_maps *m, uint32_t *slot);
/* Drop every process counter of one interface. */
void pnm_slot_drop_procs(const struct pnm_maps *m, uint32_t slot);

#endif
