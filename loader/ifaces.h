/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Attach and detach by interface name, all or nothing, under the lock:
 * what the attach and detach commands do after parsing their options, and
 * what the daemon does as interfaces come and go. Each says what went
 * wrong in one line and returns -errno.
 */
#ifndef PNM_IFACES_H
#define PNM_IFACES_H

#include <stdbool.h>
#include <sys/types.h>

#include "attach.h"
#include "state.h"

struct pnm_attach_req {
	int layer; /* -1: l2 for new interfaces, unchanged for attached ones */
	bool xdp;
	enum pnm_tc_hook hook;
	const char *netns; /* NULL: this process's */
	struct pnm_sizes sizes;
	bool share;
	gid_t gid; /* share: who may read the pins */
};

/* Attach the n interfaces named (in a->netns); nothing when one fails. */
int pnm_attach_names(const struct pnm_attach_req *a, int n, char *const *names);
/* Detach the n interfaces named ("NETNS/IFACE" labels too; names in netns
 * when given), or all when n is 0: the state goes with the last. *none:
 * nothing was attached (not an error when n is 0). */
int pnm_detach_names(const char *netns, int n, char *const *names, bool *none);
/* Is interface name of this process's network namespace attached? 1, 0,
 * or -errno (the state cannot be read; nothing attached is 0). */
int pnm_attached(const char *name);

#endif
