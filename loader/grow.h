/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Growing arrays: one helper for every array that grows by doubling its
 * capacity (report/, loader/, iface/).
 */
#ifndef PNM_GROW_H
#define PNM_GROW_H

#include <stddef.h>

/* Room for need elements of elem bytes in the array whose address is arrp
 * (a T ** passed as it is: the pointer is read and written with memcpy,
 * not through a cast to void **) and whose capacity, in elements, is
 * *cap. An empty array (*cap 0) gets first elements, or more; a full one
 * doubles until need fits. 0, or -ENOMEM with the array and *cap as they
 * were (still the caller's to free) when realloc fails or the size would
 * overflow, elem 0 included. need <= *cap: 0 at once. */
int pnm_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first);

#endif
