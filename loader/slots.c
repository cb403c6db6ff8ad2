// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The interface slot table (slots.h). */
#include <errno.h>
#include <stdlib.h>

#include <bpf/bpf.h>

#include "slots.h"

int pnm_slot_zero(const struct pnm_maps *m, uint32_t slot)
{
	void *zero = calloc((size_t)pnm_ncpus(), sizeof(struct pnm_if_stats));
	int rc;

	if (!zero)
		return -ENOMEM;
	rc = bpf_map_update_elem(m->ifstat, &slot, zero, BPF_ANY) ? -errno : 0;
	free(zero);
	return rc;
}

/* Walk the interface records: each call gives the next (slot, record). */
bool pnm_slot_next(const struct pnm_maps *m, uint32_t **prev, uint32_t *slot,
		   struct pnm_if_cfg *cfg)
{
	uint32_t next;

	while (!bpf_map_get_next_key(m->ifcfg, *prev, &next)) {
		*slot = next;
		*prev = slot;
		if (!bpf_map_lookup_elem(m->ifcfg, slot, cfg))
			return true;
	}
	return false;
}

/* The record of interface ifindex in namespace ino: 0 and its slot. */
int pnm_slot_find(const struct pnm_maps *m, uint64_t ino, uint32_t ifindex, uint32_t *slot,
		  struct pnm_if_cfg *cfg)
{
	uint32_t key, *prev = NULL;

	while (pnm_slot_next(m, &prev, &key, cfg)) {
		if (cfg->netns_ino == ino && cfg->ifindex == ifindex) {
			*slot = key;
			return 0;
		}
	}
	return -ENOENT;
}

int pnm_slot_free(const struct pnm_maps *m, uint32_t *slot)
{
	bool used[PNM_MAX_IFACES] = { false };
	uint32_t key, *prev = NULL;
	struct pnm_if_cfg cfg;

	while (pnm_slot_next(m, &prev, &key, &cfg))
		if (key < PNM_MAX_IFACES)
			used[key] = true;
	for (uint32_t s = 0; s < PNM_MAX_IFACES; s++) {
		if (!used[s]) {
			*slot = s;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Drop every process counter of one interface. */
void pnm_slot_drop_procs(const struct pnm_maps *m, uint32_t slot)
{
	struct pnm_proc_key key, next;
	bool have = false;

	while (!bpf_map_get_next_key(m->procstat, have ? &key : NULL, &next)) {
		if (have && key.slot == slot)
			bpf_map_delete_elem(m->procstat, &key);
		key = next;
		have = true;
	}
	if (have && key.slot == slot)
		bpf_map_delete_elem(m->procstat, &key);
}
