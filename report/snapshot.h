/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A snapshot of pnm-tc's counters as plain C data: read from the pinned
 * maps (snapshot_read.c), or built by the unit tests, and turned into tables
 * and JSON by report.c.
 */
#ifndef PNM_SNAPSHOT_H
#define PNM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pnm.h"

struct pnm_counts {
	uint64_t bytes_in, bytes_out, packets_in, packets_out;
};

struct pnm_iface {
	uint32_t ifindex; /* in its network namespace */
	uint32_t slot;	  /* what identifies it here */
	uint32_t flags;	  /* PNM_IF_* */
	uint32_t layer;	  /* enum pnm_layer */
	uint64_t netns_ino;
	uint32_t gen; /* its attach's generation (pnm_if_cfg.gen) */
	char name[PNM_IFNAME_LEN];
	char netns[PNM_NETNS_LEN];		    /* "" for the initial namespace */
	char label[PNM_NETNS_LEN + PNM_IFNAME_LEN]; /* "eth0" or "NETNS/eth0" */
	bool present;				    /* the interface still exists */
	struct pnm_counts total, unattr, overflow;
	struct pnm_counts unattr_by[PNM_U_COUNT]; /* unattr but overflow, by protocol */
};

struct pnm_proc_if {
	uint32_t slot;
	struct pnm_counts c;
};

/* One connection (socket) on one interface. */
struct pnm_conn_row {
	struct pnm_tuple t;
	uint32_t slot;
	uint8_t state; /* BPF_TCP_* for TCP, 0 for UDP */
	bool closed;
	struct pnm_counts c;
};

struct pnm_proc {
	uint32_t pid;
	uint64_t start_ns; /* CLOCK_BOOTTIME */
	uint64_t exit_ns;  /* CLOCK_BOOTTIME, 0: alive or unknown */
	uint32_t ppid;
	bool exited;
	/* Sampling (watch, -t): bytes/s over the last interval, and the
	 * highest such rate since sampling began. */
	bool rated;
	double rate_in, rate_out, peak_in, peak_out;
	char name[PNM_COMM_LEN];
	char key[24]; /* JSON key: "1234", or "1234.1" for an older instance */
	struct pnm_counts total;
	struct pnm_proc_if *ifs;
	size_t nifs, ifs_cap;
	struct pnm_conn_row *conns; /* its sockets' own counters */
	size_t nconns, conns_cap;
	uint32_t tcp_conns, udp_conns; /* open: TCP not listening, UDP */
};

struct pnm_snapshot {
	time_t taken;
	uint64_t now_ns; /* CLOCK_BOOTTIME when taken: process ages */
	struct pnm_iface *ifaces;
	size_t nifaces, ifaces_cap;
	struct pnm_proc *procs;
	size_t nprocs, procs_cap;
};

void pnm_counts_add(struct pnm_counts *a, const struct pnm_counts *b);
/* Sum the per-CPU values of one pnm_traffic/pnm_if_stats counter pair. */
void pnm_counts_from(struct pnm_counts *c, const struct pnm_counter *dir);

/* Append a counter row for (pid, start_ns) on interface slot, creating the
 * process on first sight. Returns the process or NULL on allocation
 * failure. */
struct pnm_proc *pnm_snapshot_add(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns,
				  uint32_t slot, const struct pnm_counts *c);
/* The same for rows that come grouped by process (sorted): no search. */
struct pnm_proc *pnm_snapshot_append(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns,
				     uint32_t slot, const struct pnm_counts *c);
struct pnm_proc *pnm_snapshot_find(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns);
/* The same in a finished (sorted) snapshot: a binary search. */
struct pnm_proc *pnm_snapshot_lookup(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns);
/* Count one socket among its owner p's open connections (tcp_conns,
 * udp_conns); add_conn also adds its counters as p's rows (conns). */
void pnm_proc_count_conn(struct pnm_proc *p, const struct pnm_conn *c);
int pnm_proc_add_conn(struct pnm_proc *p, const struct pnm_conn *c);
/* By label ("eth0", "NETNS/eth0"). */
struct pnm_iface *pnm_snapshot_iface(struct pnm_snapshot *s, const char *label);
struct pnm_iface *pnm_snapshot_iface_by_slot(struct pnm_snapshot *s, uint32_t slot);
/* Processes by PID, then oldest instance first (qsort/bsearch): the order
 * the maps are read in, and a finished snapshot's. */
int pnm_proc_cmp(const void *a, const void *b);
/* Order processes by PID, then start (oldest first), and give each its
 * JSON key (the newest instance of a PID gets "PID", older ones "PID.1",
 * ...). Reports order their rows by the view's sort key. */
void pnm_snapshot_finish(struct pnm_snapshot *s);
void pnm_snapshot_free(struct pnm_snapshot *s);

/* Seconds process p has run (until its exit, if known). */
double pnm_proc_runtime(const struct pnm_snapshot *s, const struct pnm_proc *p);

/* What a snapshot reads besides the processes' and interfaces' counters. */
enum pnm_snap_parts {
	/* How many connections each process has open (tcp_conns,
	 * udp_conns): with 10000 processes, reading them was a fifth of a
	 * show that prints none. */
	PNM_SNAP_CONN_COUNTS = 1,
	/* And each connection (conns): PNM_SNAP_CONN_COUNTS too. */
	PNM_SNAP_CONNS = 3,
};

/* Read the pinned maps (snapshot_read.c); parts: enum pnm_snap_parts. */
struct pnm_maps;
int pnm_snapshot_read(const struct pnm_maps *m, struct pnm_snapshot *s, unsigned int parts);
/* Every entry of the map fd, a batch at a time: fn gets n keys of ksz
 * bytes and n values of vsz bytes. 0 or -errno (fn's own, or the read's). */
typedef int (*pnm_batch_fn)(void *ctx, const char *keys, const char *vals, size_t n);
int pnm_read_batches(int fd, size_t ksz, size_t vsz, pnm_batch_fn fn, void *ctx);

#endif
