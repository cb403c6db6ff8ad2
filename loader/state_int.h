/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Private to the files behind state.h and lock.h (env.c, pins.c, hooks.c,
 * plan.c, sockiter.c, lock.c): what one of them defines and another uses.
 */
#ifndef PNM_STATE_INT_H
#define PNM_STATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"
#include "state.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

#define PNM_LOCK_FILE PNM_LOCK_DIR "/lock"
/* A directory in ours: pnm-tc mounted the bpffs it lives in. */
#define PNM_MOUNT_MARK PNM_PIN_DIR "/mounted-bpffs"
/* Made before pnm-tc mounts bpffs, removed once PNM_MOUNT_MARK says it: a
 * kill between the mount and the mark leaves this one. */
#define PNM_MOUNT_INTENT PNM_LOCK_DIR "/mounting-bpffs"

struct bpf_link;
struct btf;
struct sock_owner_bpf;

/* What became of each program of the object (pnm_hookstate's rows). */
struct prog_states {
	struct pnm_hook_state st[PNM_HOOK_SLOTS];
	size_t n;
};

/* The programs on, and the reader and seeder tried (plan.c). */
struct load_plan {
	struct prog_states ps;
	size_t reader, seeder; /* index; n: none */
	int force_reader, force_seeder;
};

/* env.c: is path a bpffs mount? */
bool pnm_is_bpffs(const char *path);
/* env.c: the cgroup v2 mount point, from /proc/self/mountinfo. */
int pnm_cgroup2_root(char *buf, size_t len);

/* pins.c: PNM_PIN_DIR is root's own directory, or absent; says why once. */
int pnm_pin_dir_check(void);
/* pins.c: mount bpffs on PNM_BPFFS unless it is; *mounted says we did. */
int pnm_mount_bpffs(bool *mounted);
/* pins.c: pin link as link_PROG and let go of it. */
int pnm_pin_link(struct bpf_link *link, const char *prog);

/* plan.c: record what became of prog, and why. */
void pnm_set_state(struct prog_states *ps, const char *prog, uint32_t state, const char *reason);
/* plan.c: is prog one of the group's programs? */
bool pnm_in_group(const struct pnm_prog_group *g, const char *prog);
/* plan.c: make the plan and load the object as it says, into *so. */
int pnm_plan_load(struct load_plan *lp, const struct pnm_sizes *sizes, const struct btf *vmlinux,
		  struct sock_owner_bpf **so);
/* plan.c: attach's line of the features off and the reader used. */
void pnm_say_what_is_off(const struct load_plan *lp);

/* sockiter.c: pin the socket counter reader r of the loaded object. */
int pnm_attach_sockiter(struct sock_owner_bpf *so, const struct pnm_prog_group *r);
/* sockiter.c: give the sockets made before attach their owner (seeder g). */
void pnm_seed_sockets(struct sock_owner_bpf *so, const struct pnm_prog_group *g);

#endif
