/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Definitions shared by the kernel programs (bpf/) and the user side
 * (cli/, report/, loader/): map names, limits, and the plain key/value
 * structs stored in the maps. Only fixed-width types, no vmlinux.h
 * types, so both sides agree on the layout.
 */
#ifndef PNM_MAPS_H
#define PNM_MAPS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Everything pnm-tc pins lives under this bpffs directory. */
#define PNM_BPFFS "/sys/fs/bpf"
#define PNM_PIN_DIR PNM_BPFFS "/pnm-tc"

/* Bump when a struct below changes: a pinned state of another layout is
 * refused instead of misread. */
#define PNM_LAYOUT_VERSION 11

/* Default map sizes. */
#define PNM_MAX_IFACES 64      /* attached interfaces */
#define PNM_MAX_PROC_IF 16384  /* (process, interface) counter slots */
#define PNM_MAX_PROCS 16384    /* process identities (name, exited) */
#define PNM_MAX_CLOSED 65536   /* connections by cookie: pnm_conn, pnm_skcookie (LRU) */
#define PNM_MAX_SYN 16384      /* TCP connections being set up (pnm_synpend) */
#define PNM_MAX_RAWFLOWS 16384 /* flows sent on raw, ping and SCTP sockets (LRU) */
#define PNM_INFO_SLOTS 8192    /* pnm_infolive: a power of 2 */

#define PNM_COMM_LEN 16
#define PNM_IFNAME_LEN 16
#define PNM_NETNS_LEN 32 /* a network namespace's name (ip netns) */

enum pnm_dir {
	PNM_IN = 0,  /* received: ingress */
	PNM_OUT = 1, /* sent: egress */
	PNM_NDIR = 2,
};

struct pnm_counter {
	__u64 bytes;
	__u64 packets;
};

/*
 * A process is identified by its thread-group ID plus the start time of its
 * thread-group leader (CLOCK_BOOTTIME ns, task->start_boottime, the clock of
 * /proc/PID/stat): a PID that the kernel reuses gets a new identity and
 * never inherits old counters.
 * This is also the value of the per-socket owner storage.
 */
struct pnm_owner {
	__u64 start_ns;
	__u32 tgid;
	__u32 pad;
};

/* pnm_parent: one fork, the new process and the one that forked it; an
 * empty slot has child.tgid 0. */
struct pnm_fork {
	struct pnm_owner child, parent;
};

/* pnm_procstat: per-CPU counters of one process on one interface (its
 * slot: ifindexes repeat across network namespaces, slots do not). */
struct pnm_proc_key {
	__u64 start_ns;
	__u32 tgid;
	__u32 slot;
};

struct pnm_traffic {
	struct pnm_counter dir[PNM_NDIR];
};

/* pnm_procinfo: what we know of a process identity. */
#define PNM_PROC_EXITED 0x1

struct pnm_proc_info {
	__u64 exit_ns; /* bpf_ktime_get_boot_ns (CLOCK_BOOTTIME), 0 while alive */
	__u32 ppid;
	__u32 flags;
	char comm[PNM_COMM_LEN]; /* the thread-group leader's name */
};

/*
 * pnm_ifstat: per-CPU array, one slot per attached interface. An
 * interface's total is its unattributed traffic plus its processes', summed
 * by the reader, so that one snapshot always adds up. overflow is the part
 * of unattr that had an owner but found no free counter slot (a full map,
 * reported by status); unattr_by breaks the rest down by protocol.
 */
enum pnm_uclass {
	PNM_U_TCP = 0,
	PNM_U_UDP,
	PNM_U_ICMP,
	PNM_U_ICMPV6,
	PNM_U_OTHER_IP, /* other IP protocols, later fragments, IPv6 extension headers */
	PNM_U_ARP,
	PNM_U_OTHER, /* other link-layer protocols (LLDP, STP, ...) */
	PNM_U_COUNT
};
struct pnm_if_stats {
	struct pnm_counter unattr[PNM_NDIR];
	struct pnm_counter overflow[PNM_NDIR];
	/* unattr but overflow, by what it is. */
	struct pnm_counter unattr_by[PNM_U_COUNT][PNM_NDIR];
};

/* pnm_ifcfg: the loader's record of an attached interface, keyed by its
 * slot. The counting programs do not read it: each interface gets its own
 * program instance with its slot, layer and header length built in. */
#define PNM_IF_CREATED_CLSACT 0x1
#define PNM_IF_XDP 0x2	   /* ingress counted at XDP (libxdp dispatcher) */
#define PNM_IF_XDP_SKB 0x4 /* ... in generic (skb) mode */
#define PNM_IF_TCX 0x8	   /* TC programs on tcx, not as clsact filters */

/* What a byte count includes, chosen per interface at attach. */
enum pnm_layer {
	PNM_L2 = 0, /* Ethernet frame: header + payload, no FCS (the default) */
	PNM_L1 = 1, /* + preamble, SFD, FCS, inter-frame gap: 24 B per frame,
		     * frames padded to the 60-byte minimum */
	PNM_L3 = 2, /* IP packet */
};
#define PNM_L1_OVERHEAD 24
#define PNM_ETH_MIN_FRAME 60

/*
 * The packet programs' load-time constants (bpf/packet.bpf.h): each use is
 * a 64-bit immediate load of PNM_CONST_MARK << 32 | id, which the loader
 * rewrites to the interface's value before the program is loaded, as
 * Cilium's LOAD_CONSTANT does. The value is then part of the instruction:
 * no load from .rodata, a cache line every cold run would miss.
 */
#define PNM_CONST_MARK 0x706e6d63u /* "pnmc" */
enum pnm_const_id {
	PNM_C_SLOT = 1,	 /* the interface's slot */
	PNM_C_L2_LEN,	 /* its link-layer header length */
	PNM_C_LAYER,	 /* enum pnm_layer */
	PNM_C_GEN,	 /* pnm_if_cfg.gen of this attach */
	PNM_C_FLOWS_ON,	 /* PNM_META_FLOWS: the flow cache is on */
	PNM_C_NETNS_INO, /* its network namespace (nsfs inode) */
	PNM_C_COUNT
};

struct pnm_if_cfg {
	__u64 netns_ino;	 /* its network namespace (nsfs inode) */
	__u32 ifindex;		 /* in that namespace */
	__u32 l2_len;		 /* link-layer header bytes before the IP header */
	__u32 flags;		 /* PNM_IF_* */
	__u32 layer;		 /* enum pnm_layer */
	__u32 prio[PNM_NDIR];	 /* our clsact filter's priority, ingress/egress */
	__u32 handle[PNM_NDIR];	 /* our clsact filter's handle (tcx: 0) */
	__u32 prog_id[PNM_NDIR]; /* our programs (ingress: TC or XDP) */
	__u32 gen;		 /* this attach's generation (pnm_flow.gen), not 0 */
	char name[PNM_IFNAME_LEN];
	char netns[PNM_NETNS_LEN]; /* its name; "" for the initial namespace */
};

/* A connection's addresses and ports, seen from this host. */
struct pnm_tuple {
	__u8 local[16];
	__u8 remote[16];
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u8 family; /* AF_INET or AF_INET6; v4-mapped v6 is stored as AF_INET */
	__u8 proto;
	__u16 pad;
};

/* pnm_rawflow: the tuple of a packet sent on a socket that is neither TCP
 * nor UDP (raw, ICMP ping, SCTP; ports as bpf/packet.bpf.h's parse_l3 gives
 * them: an echo's identifier, SCTP's ports) -> the owner of that socket,
 * so that the replies, for which no socket can be looked up, are its
 * own. */

/* pnm_skcookie: socket cookie -> owner, the same owner as pnm_sockowner's,
 * for XDP programs, which cannot read socket storage. */

/*
 * Per-connection counters, on up to PNM_CONN_IFACES attached interfaces (a
 * socket's packets cross one, or two when both ends of a veth are
 * attached). A live socket keeps them in its own storage (pnm_sockowner),
 * where the packet path adds to them without a map lookup; pnm_sockiter
 * reads them out as pnm_sock_rec records. pnm_conn, keyed by socket
 * cookie, holds what a socket counted after it closed, and what sockets
 * without usable storage counted (listeners, XDP ingress). LRU-bounded.
 */
#define PNM_CONN_IFACES 2
#define PNM_SOCK_SIZE 192 /* the storage value, struct pnm_sock (bpf/maps.bpf.h) */
#define PNM_TCP_LISTEN 10 /* BPF_TCP_LISTEN */
#define PNM_TCP_CLOSE 7	  /* BPF_TCP_CLOSE */
struct pnm_conn {
	struct pnm_tuple t;
	struct pnm_owner owner;
	__u32 slot[PNM_CONN_IFACES]; /* slot + 1; 0: unused */
	struct pnm_counter c[PNM_CONN_IFACES][PNM_NDIR];
	__u8 state;  /* BPF_TCP_* (TCP), 0 for UDP */
	__u8 closed; /* released by its last holder */
	__u8 pad[6];
};

/*
 * pnm_synpend: the bytes of a TCP connection being set up, by its tuple
 * (local: the listener's side), while the only socket it finds is its
 * listener: the SYN, the SYN-ACK, the handshake's last ACK. They are the
 * listener owner's until the connection is established; then they move to
 * the new socket, whose first user takes them with what came before the
 * accept (PNM_SOCK_ACCEPTED). A connection never established (refused,
 * reset, a SYN flood) leaves them to the listener's owner: PNM_SYN_STALE_NS
 * after its last packet, a full map moves them to its pnm_procstat entry.
 */
#define PNM_SYN_STALE_NS (180ULL * 1000000000ULL)
struct pnm_syn {
	struct pnm_owner owner;
	__u64 last;		     /* its last packet (ns, monotonic) */
	__u32 slot[PNM_CONN_IFACES]; /* slot + 1 per column; 0: unused */
	__u32 gen[PNM_CONN_IFACES];  /* that interface's pnm_if_cfg.gen */
	__u32 moved;		     /* established: late packets go to the maps */
	__u32 pad;
	struct pnm_counter c[PNM_CONN_IFACES][PNM_NDIR];
};

/*
 * pnm_sockiter: one record per socket with counters in its storage. The
 * owner's share of c is c - base: base is what earlier owners had, moved
 * to their pnm_procstat entries when the socket changed hands or closed
 * (a fold). A closed (retired) socket's connection is in pnm_conn; its
 * record only carries bytes counted while it was being retired.
 */
#define PNM_SOCK_RETIRED 0x1  /* closed: its bytes go to the maps now */
#define PNM_SOCK_RELEASED 0x2 /* closed by its last holder (TCP may still be closing) */
/* Unconnected (UDP) with flow-cache entries by a sender's tuple: ending
 * them ends every such entry (bpf/flows.bpf.h). */
#define PNM_SOCK_UNCONN_FLOWS 0x4
/* Accepted, with its listener's owner, and no process has sent or
 * received on it yet: the first that does takes what it counted so far
 * (the request that came before the accept), and until then it makes no
 * flow-cache entries (their bytes would stay the listener owner's). */
#define PNM_SOCK_ACCEPTED 0x8
/* A listener some of whose handshakes TC stashed in pnm_synpend (set
 * before the first stash, so every socket it accepts from then on is
 * cloned with it): only then does an accepted socket look for its
 * handshake there (or with an XDP ingress, which cannot reach storage). */
#define PNM_SOCK_SYNPEND 0x10
struct pnm_sock_rec {
	__u64 cookie;
	struct pnm_conn conn; /* closed: PNM_SOCK_RELEASED */
	struct pnm_counter base[PNM_CONN_IFACES][PNM_NDIR];
	__u32 flags; /* PNM_SOCK_* */
	__u32 pad;
};

/*
 * pnm_flows: the flow cache, a block per possible CPU (key cpu * 2 *
 * PNM_FLOWS + index), direct-mapped (bpf/flows.bpf.h): in each block,
 * PNM_FLOWS entries for ingress, by tuple, then PNM_FLOWS for egress, by
 * socket cookie. A socket's packets after the first add to their entry
 * (pending) instead of finding the socket (ingress) and its storage again.
 * Pending bytes are the entry's owner's, on the entry's socket (cookie) and
 * interface for good: show adds them in, and they move to pnm_procstat and
 * pnm_conn when the entry is taken for another flow. An entry whose
 * interface generation is not its interface's current one (detached)
 * counts for nothing.
 */
#define PNM_FLOWS 1024 /* entries per CPU, a power of two */
/* The send/receive hooks' claim hints (bpf/owner_claim.bpf.h), per CPU. */
#define PNM_HINTS 64
/* Sockets the open-files seeding pass can note (bpf/owner_readers.bpf.h). */
#define PNM_SEED_SOCKETS 65536

/*
 * pnm_hookstate: what became of each program of the socket-owner object at
 * the first attach, for status (written by the loader only). Index i:
 * the i-th program; an entry with an empty name is unused.
 */
#define PNM_HOOK_SLOTS 48
#define PNM_HOOK_ACTIVE 0   /* loaded (and attached, for a hook) */
#define PNM_HOOK_REFUSED 1  /* the kernel refused it: reason */
#define PNM_HOOK_ABSENT 2   /* the kernel lacks its attach point */
#define PNM_HOOK_DISABLED 3 /* PNM_DISABLE named it */
#define PNM_HOOK_UNUSED 4   /* another reader or seeder was chosen */
struct pnm_hook_state {
	char prog[32];
	__u32 state; /* PNM_HOOK_* */
	__u32 pad;
	char reason[216];
};
struct pnm_flow {
	struct pnm_tuple t;
	struct pnm_owner owner;
	__u64 cookie;
	struct pnm_counter pending; /* at the interface's layer */
	__u64 last;		    /* when it was last seen busy (ns, monotonic) */
	__u64 seen;		    /* pending.packets then */
	__u32 slot;		    /* interface slot + 1; 0: never used */
	__u32 gen;		    /* pnm_if_cfg.gen of that interface */
	__u32 live;		    /* packets of t still count here */
	__u32 ugen;		    /* unconnected socket's: pnm_flowgen when taken; else 0 */
	__u8 state;		    /* BPF_TCP_* (TCP), 0 for UDP */
	__u8 dir;		    /* PNM_IN: by tuple; PNM_OUT: by socket cookie */
	__u8 pad[6];
};

/*
 * pnm-tc events: one record per send/receive call and per process exec and
 * exit, through a ring buffer, while a consumer runs (pnm_evcfg.enabled).
 * With filter_pids, only processes in pnm_evpids (and, with children,
 * those they fork) produce events.
 */
enum pnm_event_type {
	PNM_EV_SEND = 1,
	PNM_EV_RECV = 2,
	PNM_EV_EXEC = 3,
	PNM_EV_EXIT = 4,
};

struct pnm_event {
	__u64 ts_ns;	/* CLOCK_BOOTTIME */
	__u64 start_ns; /* the process's identity, with tgid */
	__u32 type;	/* enum pnm_event_type */
	__u32 tgid;
	__u32 ppid;
	__s32 value;   /* bytes of the call (SEND/RECV), exit status (EXIT) */
	__u32 ifindex; /* the socket's route, 0 if none (SEND/RECV) */
	__u32 netns;   /* its device's namespace (nsfs inode, low 32 bits) */
	struct pnm_tuple t;
	char comm[PNM_COMM_LEN];
};

struct pnm_evcfg {
	__u32 enabled;
	__u32 filter_pids; /* only pnm_evpids' processes */
	__u32 children;	   /* and those they fork */
	__u32 pad;
};
#define PNM_EVENTS_RING (1u << 22) /* 4 MiB */
#define PNM_EVENTS_PIDS 4096

/* pnm_meta: array of one; lets a later invocation check the layout. */
struct pnm_meta {
	__u32 version;
	__u32 flags; /* PNM_META_* */
	/* Set while the loader drops a detached interface's counters (slot +
	 * 1): pnm_sockiter clears that column of every socket it reads. */
	__u32 clear_slot;
	/* Set while the loader gives the sockets that exist their owner copy
	 * in pnm_skcookie (first XDP attach): pnm_sockiter writes it. */
	__u32 fill_owners;
};
/* pnm_folds: folds begun and ended (written by the kernel programs only;
 * the loader writes pnm_meta). A reader that saw them equal and unchanged
 * around its reads saw no bytes in flight between a socket and
 * pnm_procstat. */
struct pnm_folds {
	__u64 begun, ended;
};

#define PNM_META_MOUNTED_BPFFS 0x1 /* we mounted bpffs; unmount at the end */
#define PNM_META_MADE_XDP_DIR 0x2  /* libxdp made its bpffs directory for us */
#define PNM_META_XDP_OWNERS 0x4	   /* pnm_skcookie is kept (an XDP ingress was attached) */
#define PNM_META_FLOWS 0x8	   /* the TC programs use the flow cache (pnm_flows) */
/* The kernel refused map iterators: PNM_SOCKITER reads open sockets
 * (iter/task_file), and there is no PNM_CONNITER. */
#define PNM_META_FILES_READER 0x10
/* PNM_SOCKITER and PNM_UDPITER read the TCP and UDP socket tables (iter/tcp,
 * iter/udp), of the namespace of the process that opens them; no
 * PNM_CONNITER. */
#define PNM_META_SOCK_READER 0x20
/* The kernel has bpf_cast_to_kern_ctx (6.3+): a tunnel's GRO super-packets
 * count the inner headers each segment repeats. */
#define PNM_META_TUNNEL_GSO 0x40

/* Pinned names (bpffs object names are at most 15 characters). */
#define PNM_MAP_SOCKOWNER "pnm_sockowner"
#define PNM_MAP_PROCSTAT "pnm_procstat"
#define PNM_MAP_PROCINFO "pnm_procinfo"
#define PNM_MAP_IFSTAT "pnm_ifstat"
#define PNM_MAP_IFCFG "pnm_ifcfg"
#define PNM_MAP_META "pnm_meta"
#define PNM_MAP_SKCOOKIE "pnm_skcookie"
#define PNM_MAP_PARENT "pnm_parent"
#define PNM_MAP_CONN "pnm_conn"
#define PNM_MAP_EVENTS "pnm_events"
#define PNM_MAP_EVCFG "pnm_evcfg"
#define PNM_MAP_EVPIDS "pnm_evpids"
#define PNM_MAP_EVLOST "pnm_evlost"
#define PNM_MAP_EVDST "pnm_evdst"
#define PNM_MAP_FOLDS "pnm_folds"
#define PNM_MAP_FLOWS "pnm_flows"
#define PNM_MAP_FLOWGEN "pnm_flowgen"
#define PNM_MAP_HOOKSTATE "pnm_hookstate"
#define PNM_MAP_SYNPEND "pnm_synpend"
#define PNM_MAP_RAWFLOW "pnm_rawflow"
/* The pinned iterator link that reads every socket's counters. */
#define PNM_SOCKITER "link_pnm_sockiter"
/* With PNM_META_SOCK_READER, the UDP half of the reader. */
#define PNM_UDPITER "link_pnm_udpiter"
/* The pinned iterator that clears a detached interface's pnm_conn column. */
#define PNM_CONNITER "link_pnm_conniter"

#endif /* PNM_MAPS_H */
