/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Who a process is, for the history: its name (the kernel's record), and
 * from /proc while it lives, its executable, its systemd unit or container
 * (the cgroup) and its uid. Read once per process instance and kept while
 * the kernel has counters for it, so an exited process keeps them.
 */
#ifndef PNM_DAEMON_IDENT_H
#define PNM_DAEMON_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct pnm_sampler;
struct pnm_proc;
struct pnm_snapshot;

struct pnm_ident {
	uint32_t pid;
	uint64_t start_ns;
	int64_t uid; /* -1: unknown */
	char exe[256];
	char unit[128];
};

/* One process's identity for one sample's rows. */
struct pnm_ident_slot {
	struct pnm_store_ident id;
	struct pnm_ident info;
	bool set;
};

/* p's identity (from the cache, or read now), in slot: NULL when out of
 * memory. */
const struct pnm_store_ident *pnm_ident_of(struct pnm_sampler *s, const struct pnm_proc *p,
					   struct pnm_ident_slot *slot, const char *boot);
/* After a sample: keep the identities of the processes snap still has. */
void pnm_idents_settle(struct pnm_sampler *s, struct pnm_snapshot *snap);

/* The unit or container in /proc/PID/cgroup's text: the last component
 * of the v2 path that ends in .service or .scope, else its last one; ""
 * for the root. */
void pnm_unit_of_cgroup(const char *text, char *unit, size_t len);

#endif
