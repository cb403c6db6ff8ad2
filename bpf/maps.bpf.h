/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The maps shared by the kernel programs. Each program file in bpf/ is its
 * own object and skeleton and includes these same definitions; all maps are
 * pinned by name under one directory, so the object loaded second reuses
 * the first one's maps and every program shares one set.
 * Sizes are defaults: the loader may change max_entries before load.
 */
#ifndef PNM_MAPS_BPF_H
#define PNM_MAPS_BPF_H

#include "pnm.h"

/*
 * What pnm-tc keeps on each TCP/UDP socket (socket-local storage): its
 * owner, and its per-connection counters, which the packet path adds to
 * without a map lookup (see counters.bpf.h). Freed with the socket; cloned
 * from a listener to the sockets it accepts (BPF_F_CLONE): a listener
 * never counts on its own counters, so clones start at zero.
 */
struct pnm_sock {
	struct pnm_owner owner;
	__u32 slot[PNM_CONN_IFACES]; /* interface slot + 1 per column; 0: unused */
	__u32 flags;		     /* PNM_SOCK_* */
	__u32 pad;
	/* What earlier owners had of in/out (pnm_sock_rec's base). */
	struct pnm_counter base[PNM_CONN_IFACES][PNM_NDIR];
	/* Received and sent 64 bytes apart: the two directions of a
	 * connection are often counted on two CPUs at once. */
	struct pnm_counter in[PNM_CONN_IFACES];
	/* Its flow-cache entries (bpf/flows.bpf.h): the ingress one's index
	 * + 1 (0: none), the cookie they hold (0: none yet), the CPUs that
	 * made them (bit cpu % 64); epoch counts the changes (owner, close,
	 * connect) that end them. */
	__u32 flow;
	__u32 epoch;
	__u64 cookie;
	__u64 cpus;
	__u8 gap[8];
	struct pnm_counter out[PNM_CONN_IFACES];
};
_Static_assert(sizeof(struct pnm_sock) == PNM_SOCK_SIZE, "pnm_sock layout");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct pnm_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_sockowner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PNM_MAX_PROC_IF);
	__type(key, struct pnm_proc_key);
	__type(value, struct pnm_traffic);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_procstat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PNM_MAX_PROCS);
	__type(key, struct pnm_owner);
	__type(value, struct pnm_proc_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_procinfo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PNM_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct pnm_if_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_ifstat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PNM_MAX_IFACES);
	__type(key, __u32); /* slot */
	__type(value, struct pnm_if_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_ifcfg SEC(".maps");

/* socket cookie -> the socket's tuple, owner, state and counters. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PNM_MAX_CLOSED);
	__type(key, __u64);
	__type(value, struct pnm_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_conn SEC(".maps");

/* Handshakes in progress (maps/pnm.h). Preallocated: allocating in
 * softirq on demand fails in bursts. An element deleted at establishment
 * while another CPU adds to it (a retransmitted SYN-ACK at that very
 * moment) may be reused for another handshake meanwhile: that packet then
 * counts for the other one, the only way a handshake packet can stray. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PNM_MAX_SYN);
	__type(key, struct pnm_tuple);
	__type(value, struct pnm_syn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_synpend SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PNM_MAX_RAWFLOWS);
	__type(key, struct pnm_tuple);
	__type(value, struct pnm_owner);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_rawflow SEC(".maps");

/* pnm-tc events: the ring, its switch, its PID filter, its losses. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PNM_EVENTS_RING);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pnm_evcfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_evcfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PNM_EVENTS_PIDS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_evpids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_evlost SEC(".maps");

/* The destination of an unconnected UDP send, from cgroup/sendmsg to the
 * send's event (same thread, same call); only while events run. */
struct pnm_evdst {
	__u8 addr[16];
	__u16 port; /* host order */
	__u8 family;
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PNM_EVENTS_PIDS);
	__type(key, __u64); /* pid_tgid: the thread */
	__type(value, struct pnm_evdst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_evdst SEC(".maps");

/* Per slot of PIDs (the PID modulo PNM_INFO_SLOTS): the processes with a
 * pnm_procinfo record that are still running (bpf/owner_claim.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PNM_INFO_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_infolive SEC(".maps");

/* The processes forked while attached and their parents (show
 * --children), in a ring indexed by the child's PID: the next process
 * whose PID falls on a slot writes it again, so the oldest forks make
 * room. An array's lookup is inlined (no helper call, no lock); an LRU
 * hash's update cost 2.3 us per fork. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PNM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct pnm_fork);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_parent SEC(".maps");

/* The owner again, by socket cookie, for XDP (no socket storage there).
 * LRU: a socket that dies without a release hook (never accepted) ages
 * out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PNM_MAX_CLOSED);
	__type(key, __u64);
	__type(value, struct pnm_owner);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_skcookie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pnm_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pnm_folds);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_folds SEC(".maps");

/* One block of 2 * PNM_FLOWS entries per possible CPU (the loader sizes
 * it), not a per-CPU array: an entry's address is then the map's base
 * plus an offset, without the load of the per-CPU pointer that a per-CPU
 * array's lookup waits on (a quarter of egress's samples). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * PNM_FLOWS); /* per CPU: ingress, then egress */
	__type(key, __u32);
	__type(value, struct pnm_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_flows SEC(".maps");

/* The generation of the flow cache's entries for unconnected sockets
 * (bpf/flows.bpf.h): odd, bumped by 2 to end all of them at once. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_flowgen SEC(".maps");

/*
 * The owner is two words that a claim on one CPU may rewrite while a packet
 * on another reads them. The writer clears tgid first and sets it last; the
 * reader takes the pair only if tgid is the same, and not 0, before and
 * after reading start_ns. A read that loses the race counts as
 * unattributed, never for a process that does not exist.
 */
#define PNM_ONCE(x) (*(volatile typeof(x) *)&(x))
/* BPF has no fence instruction: this keeps the compiler's order; x86 keeps
 * stores and loads in program order, weaker CPUs narrow the window only. */
#define pnm_barrier() asm volatile("" ::: "memory")
/* A value kept alive: an atomic whose result is used is a fetching one. */
#define pnm_use(x)                                   \
	do {                                         \
		__u64 pnm_used_ = (__u64)(x);        \
		asm volatile("" : : "r"(pnm_used_)); \
	} while (0)

static __always_inline void write_owner(struct pnm_owner *dst, const struct pnm_owner *src)
{
	PNM_ONCE(dst->tgid) = 0;
	pnm_barrier();
	PNM_ONCE(dst->start_ns) = src->start_ns;
	pnm_barrier();
	PNM_ONCE(dst->tgid) = src->tgid;
}

static __always_inline bool read_owner(const struct pnm_owner *src, struct pnm_owner *dst)
{
	__u32 tgid = PNM_ONCE(src->tgid);

	pnm_barrier();
	dst->start_ns = PNM_ONCE(src->start_ns);
	pnm_barrier();
	dst->tgid = PNM_ONCE(src->tgid);
	dst->pad = 0;
	return tgid && tgid == dst->tgid;
}

#endif /* PNM_MAPS_BPF_H */
