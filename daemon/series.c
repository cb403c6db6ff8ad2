// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Series keys (sample.h): their order, and their text in the store. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pnm.h"
#include "sample.h"

int pnm_series_cmp(const void *pa, const void *pb)
{
	const struct pnm_series_key *a = pa, *b = pb;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->slot != b->slot)
		return a->slot < b->slot ? -1 : 1;
	if (a->gen != b->gen)
		return a->gen < b->gen ? -1 : 1;
	if (a->uclass != b->uclass)
		return a->uclass < b->uclass ? -1 : 1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return 0;
}

int pnm_series_key_fmt(const struct pnm_series_key *k, char *buf, size_t len)
{
	int n;

	switch (k->kind) {
	case 'i':
		n = snprintf(buf, len, "i/%u.%u", k->slot, k->gen);
		break;
	case 'u':
		n = snprintf(buf, len, "u/%u.%u/%u", k->slot, k->gen, k->uclass);
		break;
	case 'p':
		n = snprintf(buf, len, "p/%u.%u/%u/%" PRIu64, k->slot, k->gen, k->pid, k->start_ns);
		break;
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int pnm_series_key_parse(const char *s, struct pnm_series_key *k)
{
	unsigned int uc = 0;
	int end = -1;

	memset(k, 0, sizeof(*k));
	if (s[0] == 'i')
		sscanf(s, "i/%u.%u%n", &k->slot, &k->gen, &end);
	else if (s[0] == 'u')
		sscanf(s, "u/%u.%u/%u%n", &k->slot, &k->gen, &uc, &end);
	else if (s[0] == 'p')
		sscanf(s, "p/%u.%u/%u/%" SCNu64 "%n", &k->slot, &k->gen, &k->pid, &k->start_ns,
		       &end);
	if (end < 0 || s[end] || uc > PNM_U_COUNT)
		return -EINVAL;
	k->kind = (uint8_t)s[0];
	k->uclass = (uint8_t)uc;
	return 0;
}
