/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Interfaces: name <-> ifindex and link type through libnl-3 (rtnetlink),
 * and pnm-tc's TC programs: tcx entries (Linux 6.6+, the bpf syscall) or
 * clsact filters (libbpf's netlink TC API). Functions return 0 or -errno.
 */
#ifndef PNM_IFACE_H
#define PNM_IFACE_H

#include <stdbool.h>
#include <stdint.h>

struct pnm_link {
	uint32_t ifindex;
	uint32_t l2_len; /* link-layer header bytes in front of the IP header */
	bool ether;	 /* an Ethernet device (a physical layer to count at l1) */
	char name[16];
};

/* -ENODEV: no such interface in this network namespace;
 * -EPROTONOSUPPORT: a link type whose frames pnm-tc cannot parse. */
int pnm_link_by_name(const char *name, struct pnm_link *out);
int pnm_link_by_index(uint32_t ifindex, struct pnm_link *out);

/*
 * Where our program sits on one TC hook (dir: 0 ingress, 1 egress, enum
 * pnm_dir). tcx: an entry of the device's own BPF program list, run before
 * any clsact filter, without the classifier layer (cls_bpf) that costs as
 * much per packet as our program. Else a clsact filter at handle/prio.
 */
struct pnm_filter {
	uint32_t handle, prio, prog_id;
	bool tcx;
};

/* Does this kernel have tcx (Linux 6.6+)? Asked of interface ifindex. */
bool pnm_tcx_supported(uint32_t ifindex);

/* Make sure a clsact qdisc exists; *created tells whether we made it. */
int pnm_clsact_ensure(uint32_t ifindex, bool *created);
/* Remove clsact only if it holds no filter at all any more. */
int pnm_clsact_remove_if_empty(uint32_t ifindex, bool *removed);
/* tc's own default priority, used on a hook without filters. */
#define PNM_FILTER_PRIO 49152

/* Choose where our filter goes, handle 1: a priority just before every
 * existing filter, so that pnm-tc sees packets before anything drops or
 * redirects them (*first). When priority 1 is taken, the first free one
 * after it (*first false). Recording the place before attaching lets a
 * later detach find a filter whose attach was interrupted. */
int pnm_filter_place(uint32_t ifindex, int dir, struct pnm_filter *f, bool *first);
/* Attach prog_fd: at the front of the tcx list (other tcx programs and
 * every clsact filter run after it), or as a direct-action filter at f's
 * handle and priority (then f->prog_id is the filter's program). */
int pnm_filter_attach(uint32_t ifindex, int dir, int prog_fd, struct pnm_filter *f);
/* Remove our program: the tcx entry of program f->prog_id, or the filter
 * at f's handle/prio only if it still runs f->prog_id. With prog_id 0 (our
 * pinned programs are lost), a program named prog_name. 0 removed, -ENOENT
 * not there, -EBUSY the filter's slot now holds another program (not ours:
 * left alone). */
int pnm_filter_detach(uint32_t ifindex, int dir, const struct pnm_filter *f, const char *prog_name);
/* Is our program there? 0 and the id of the program running at f's place
 * (tcx: f->prog_id itself, when it is in the list). */
int pnm_filter_query(uint32_t ifindex, int dir, const struct pnm_filter *f, uint32_t *prog_id);

/*
 * XDP ingress through libxdp's multi-program dispatcher: other XDP programs
 * on the interface keep running after ours (our run priority comes first).
 */
struct bpf_object;
#define PNM_XDP_PRIO 1
/* Attach the XDP program of obj (opened, not loaded: libxdp loads it),
 * native mode when the driver has it, else generic. */
int pnm_xdp_attach(uint32_t ifindex, struct bpf_object *obj, uint32_t *prog_id, bool *skb_mode);
/* A program attached without a dispatcher (that nothing can join): 0 and
 * its name and id, -ENOENT when there is none. */
int pnm_xdp_foreign(uint32_t ifindex, char *name, size_t len, uint32_t *id);
/* Detach our program (by id; by name when id is 0) from the dispatcher,
 * leaving the others: 0 removed, -ENOENT not there. */
int pnm_xdp_detach(uint32_t ifindex, uint32_t prog_id, const char *prog_name);
/* Is our program (by id) in the interface's XDP chain? */
bool pnm_xdp_attached(uint32_t ifindex, uint32_t prog_id);
/* Route libxdp's messages into ours. */
void pnm_xdp_setup_log(int verbosity);

#endif
