/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The load-time constants of an interface's packet programs: the slot,
 * header length, layer, generation and namespace, written into the marked
 * instructions of each program before it is loaded (maps/pnm.h,
 * PNM_CONST_MARK), so that the programs test no map for them per packet.
 */
#ifndef PNM_PATCH_H
#define PNM_PATCH_H

#include <stdint.h>

#include "pnm.h"

struct bpf_object;

/* Give each marked 64-bit immediate of obj's programs its value; a mark
 * with an id we do not know fails (-EINVAL) rather than run with it. */
int pnm_set_consts(struct bpf_object *obj, const uint64_t val[PNM_C_COUNT]);
/* A generation for a new attach, never 0: flow-cache entries made for an
 * earlier interface in the same slot do not count for this one. */
uint32_t pnm_attach_gen(void);

#endif
