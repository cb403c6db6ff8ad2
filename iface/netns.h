/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Network namespaces: which one an interface lives in, how to name it, and
 * how to get into it for the netlink work (setns). A namespace is known by
 * the inode of its nsfs file; its name is the one `ip netns` gave it under
 * /run/netns, "" for the initial namespace, or "netns-INODE".
 * Functions return 0 or -errno and print nothing.
 */
#ifndef PNM_NETNS_H
#define PNM_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pnm.h"

#define PNM_NETNS_RUN_DIR "/run/netns"

struct pnm_netns {
	uint64_t ino;
	char name[PNM_NETNS_LEN];
};

/* The namespace this process runs in. */
int pnm_netns_current(struct pnm_netns *ns);
/* --netns SPEC: a name under /run/netns, or a path to an nsfs file such as
 * /proc/PID/ns/net. -ENOENT: no such namespace; -EINVAL: not one. */
int pnm_netns_resolve(const char *spec, struct pnm_netns *ns);
/* Move this process into namespace ino (name: where to look first);
 * *prev is what pnm_netns_leave() needs to come back (-1: no move).
 * -ENOENT: no process or name holds the namespace any more. */
int pnm_netns_enter(uint64_t ino, const char *name, int *prev);
void pnm_netns_leave(int prev);
/* Call fn(arg) from inside each network namespace that a process or a name
 * under /run/netns holds, this one first, and come back; stops at fn's
 * first error. Namespaces that cannot be entered are passed over (said
 * once when it is for want of CAP_SYS_ADMIN). */
int pnm_netns_each(int (*fn)(void *arg), void *arg);
/* "IFACE" in the initial namespace, "NETNS/IFACE" elsewhere. */
const char *pnm_if_label(const char *netns, const char *ifname, char *buf, size_t len);

/* Under `ip netns exec`: a private mount namespace whose /sys hides bpffs.
 * Join init's mount namespace (the network namespace stays) so that the
 * pins are the host's. Returns 1 when it moved, 0 when not needed. */
int pnm_join_host_mounts(void);
/* Do we run in the initial mount namespace (unknown counts as yes)? */
bool pnm_host_mount_ns(void);

#endif
