/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The interfaces the daemon counts: those of its network namespace whose
 * names match its patterns, attached as they appear (netlink link events),
 * and noted, sampled and released as they go. The daemon detaches only
 * what it attached itself; the list survives a kill -9 in PNM_LOCK_DIR,
 * so that the next daemon of this boot takes those over.
 */
#ifndef PNM_DAEMON_LINKS_H
#define PNM_DAEMON_LINKS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct nl_sock;

struct pnm_links {
	struct nl_sock *sk;
	char (*ours)[IFNAMSIZ]; /* attached by a daemon */
	size_t nours, ours_cap;
	char (*failed)[IFNAMSIZ]; /* could not be attached: tried again when they change */
	size_t nfailed, failed_cap;
	char (*gone)[IFNAMSIZ]; /* ours that went away: sample, then pnm_links_drop_gone */
	size_t ngone, gone_cap;
	bool resync; /* events were lost: look at every interface again */
};

/* Subscribe to link events and take over the list a killed daemon left. */
int pnm_links_open(struct pnm_links *l);
/* The events' socket, -1 when there is none (it could not be opened). */
int pnm_links_fd(const struct pnm_links *l);
/* Attach every interface that matches c and is not attached; *n: how many
 * of them are attached now (ours or not). */
int pnm_links_sync(struct pnm_links *l, const struct pnm_daemon_cfg *c, size_t *n);
/* Read the pending link events: new matching interfaces are attached,
 * ours that went away are listed in gone. */
int pnm_links_events(struct pnm_links *l, const struct pnm_daemon_cfg *c);
/* Release the gone ones' records (after a last sample). */
void pnm_links_drop_gone(struct pnm_links *l);
/* Detach ours that c no longer matches (a reload). */
void pnm_links_unmatched(struct pnm_links *l, const struct pnm_daemon_cfg *c);
/* Detach every interface this daemon attached; close. */
void pnm_links_close(struct pnm_links *l, bool detach);

#endif
