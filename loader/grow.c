// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pnm_grow (grow.h). In loader/ next to log.c: the other helper that
 * report/, loader/ and iface/ all use, linked into the unit tests the same
 * way (UNIT_MODS); report/ would have made loader/ and iface/ depend on
 * the printing side.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

int pnm_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t max = elem ? SIZE_MAX / elem : 0, want = *cap ? *cap : first;
	void *old, *grown;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -ENOMEM;
	if (!want)
		want = 1;
	while (want < need)
		want = want > max / 2 ? max : 2 * want;
	if (want > max)
		want = max;
	memcpy(&old, arrp, sizeof(old));
	grown = realloc(old, want * elem);
	if (!grown)
		return -ENOMEM;
	memcpy(arrp, &grown, sizeof(grown));
	*cap = want;
	return 0;
}
