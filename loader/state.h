/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pnm-tc's persistent state: the programs and maps pinned under
 * PNM_PIN_DIR, the socket hooks' links, and the environment checks that
 * come before any of it (privileges, BTF, bpffs, cgroup v2). Behind it:
 * env.c (the checks), pins.c (the pins and bpffs), hooks.c (the hooks and
 * pnm_state_create), plan.c (the load plan), sockiter.c (the socket
 * iterators); its private parts are in state_int.h. The lock is lock.h's.
 */
#ifndef PNM_STATE_H
#define PNM_STATE_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iface.h"
#include "pnm.h"

struct pnm_maps {
	int sockowner, procstat, procinfo, ifstat, ifcfg, meta, skcookie, parent, conn;
	int folds, flows, hookstate, synpend;
	int events, evcfg, evpids, evlost, evdst;
};

/* The attribution hooks and what each covers. */
struct pnm_hook {
	const char *prog;   /* program name in the skeleton */
	const char *target; /* tracepoint or "" */
	const char *what;   /* for status */
	bool required;
};
extern const struct pnm_hook pnm_hooks[];
extern const size_t pnm_nhooks;

/* Programs that stand in for each other: the socket counter readers and
 * the seeders of sockets that existed before attach, best first. */
#define PNM_GROUP_PROGS 3
struct pnm_prog_group {
	const char *name; /* for PNM_READER=, PNM_SEEDER= and status */
	const char *what;
	const char *progs[PNM_GROUP_PROGS];
	uint32_t meta_flag; /* PNM_META_* that says this reader is used */
};
extern const struct pnm_prog_group pnm_readers[], pnm_seeders[];
extern const size_t pnm_nreaders, pnm_nseeders;

/* Environment: each prints its own one-line error and returns -errno. */
int pnm_check_privileges(const char *cmd, bool net_admin);
int pnm_check_kernel(void);

/* 1 when a pnm-tc state is pinned, 0 when not, -errno on error. */
int pnm_state_present(void);
/* Clear what an attach that never finished left behind (call locked). */
int pnm_state_leftovers(void);
/* Map sizes chosen at the first attach; 0 keeps the default. */
struct pnm_sizes {
	uint32_t procs;	  /* (process, interface) slots and process records */
	uint32_t sockets; /* closing TCP connections remembered */
};
#define PNM_MIN_ENTRIES 16
#define PNM_MAX_ENTRIES (1u << 24)

/* Load the programs, attach the socket hooks and pin everything. */
int pnm_state_create(const struct pnm_sizes *sizes);
/* Sizes asked for that differ from the pinned maps: say so, -EEXIST. */
int pnm_check_sizes(const struct pnm_maps *m, const struct pnm_sizes *sizes);
/* Unpin everything (detaching the socket hooks) and unmount bpffs if we
 * mounted it. */
int pnm_state_destroy(void);
/* Open the pinned maps; -ENOENT when nothing is attached, -EPROTO when the
 * pinned layout is from another pnm-tc version. Prints nothing. */
int pnm_maps_open(struct pnm_maps *m);
void pnm_maps_close(struct pnm_maps *m);
/* Say why pnm_maps_open failed with rc (nothing when 0), in the one
 * wording every command uses; returns rc. */
int pnm_explain_open_error(int rc);
/* libxdp's directory in bpffs. */
#define PNM_XDP_DIR PNM_BPFFS "/xdp"
/* Set and clear PNM_META_* flags of the pinned state; is one set? */
void pnm_meta_flags(const struct pnm_maps *m, uint32_t set, uint32_t clear);
bool pnm_meta_has(const struct pnm_maps *m, uint32_t flag);
/* Where an interface's record says our TC program sits on hook d. */
static inline struct pnm_filter pnm_filter_of(const struct pnm_if_cfg *cfg, int d)
{
	return (struct pnm_filter){ cfg->handle[d], cfg->prio[d], cfg->prog_id[d],
				    (cfg->flags & PNM_IF_TCX) != 0 };
}
/* How attach and status name that place: "tcx" or "prio N". */
static inline const char *pnm_hook_place(const struct pnm_if_cfg *cfg, int d, char *buf, size_t len)
{
	if (cfg->flags & PNM_IF_TCX)
		return "tcx";
	snprintf(buf, len, "prio %u", cfg->prio[d]);
	return buf;
}
/* Make an opened object use the pinned maps (whatever their sizes). */
struct bpf_object;
int pnm_reuse_maps(struct bpf_object *obj);
/* Is the link of hook h pinned (i.e. active)? */
bool pnm_hook_active(const struct pnm_hook *h);
/* Can the TC programs use the flow cache (pnm_flows): are the hooks that
 * end its entries active? Asked once, at the first attach
 * (PNM_META_FLOWS). */
bool pnm_flows_possible(void);

/* Let group gid read the pins (directory 0750, files 0640). */
int pnm_pins_share(gid_t gid);
/* The group the pins are shared with, (gid_t)-1 for none. */
int pnm_pins_group(gid_t *gid);

/* Number of possible CPUs (per-CPU map values). */
int pnm_ncpus(void);
/* What the socket iterator also does as it reads each socket: clear the
 * column of interface slot clear_slot - 1 (pnm_conn's too, through its own
 * iterator), give pnm_skcookie the owner. */
struct pnm_sockets_req {
	uint32_t clear_slot;
	bool fill_owners;
};
/* Read every socket's own counters through the pinned iterator: *n
 * records in *out (free it; out NULL: read and drop them), doing req (NULL:
 * nothing else) on the way. */
int pnm_sockets_read(const struct pnm_maps *m, const struct pnm_sockets_req *req,
		     struct pnm_sock_rec **out, size_t *n);

#endif
