/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where the counting programs go on one interface, and how they come off
 * again: the TC programs (tcx or clsact), XDP through libxdp's dispatcher,
 * the interface's slot and record. The commands (cli/attach.c) resolve the
 * names, take the lock and make the state first.
 */
#ifndef PNM_ATTACH_H
#define PNM_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "iface.h"
#include "netns.h"
#include "state.h"

/* --tc-hook: where the TC programs go (auto: tcx where the kernel has it). */
enum pnm_tc_hook { PNM_TC_AUTO, PNM_TC_TCX, PNM_TC_CLSACT };
extern const char *const pnm_tc_hook_name[];

/* Attach to one interface; call inside its network namespace ns. *is_new:
 * this call made its record (which a rollback then releases). */
int pnm_iface_attach(const struct pnm_maps *m, const struct pnm_netns *ns, const struct pnm_link *l,
		     uint32_t layer, bool xdp, enum pnm_tc_hook hook, bool *is_new);
/* Take one interface back to how it was before attach. */
int pnm_iface_release(const struct pnm_maps *m, uint32_t slot, const struct pnm_if_cfg *cfg);
/* Does another tool's XDP program hold the hook alone (no dispatcher for
 * ours to join)? Says so. */
bool pnm_xdp_hook_taken(uint32_t ifindex, const char *label);

#endif
