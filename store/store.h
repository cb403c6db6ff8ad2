/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The history store: what the daemon samples, in SQLite (WAL, one
 * transaction per sample, a versioned schema with migrations). Every
 * sample's growth is added to all four levels at once, as vnstat does, so
 * the roll-ups are exact by construction; expiry deletes what a level's
 * retention no longer keeps. Times are Unix seconds; hour, day and month
 * buckets are those of the local time zone at write time.
 */
#ifndef PNM_STORE_H
#define PNM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the daemon keeps it and history reads it by default. */
#define PNM_STORE_DEFAULT_PATH "/var/lib/pnm-tc/history.db"

enum pnm_level { PNM_LEVEL_MINUTE, PNM_LEVEL_HOUR, PNM_LEVEL_DAY, PNM_LEVEL_MONTH, PNM_LEVELS };

/* How long each level keeps its rows, in seconds; 0: forever. */
struct pnm_retention {
	int64_t keep[PNM_LEVELS];
};

/* 48 h, 90 days, 2 years (731 days), forever. */
void pnm_retention_default(struct pnm_retention *r);
/* "minute=48h,hour=90d,day=2y,month=forever": any subset, durations as
 * 30s/15m/48h/90d/2y or a plain number of seconds; "0" or "forever" keeps
 * all. A level kept shorter than the one below it is an error. Writes r
 * only on success; 0 or -EINVAL with a one-line reason in err. */
int pnm_retention_parse(const char *spec, struct pnm_retention *r, char *err, size_t errlen);

/* Growth (or, in a series, a cumulative value): integers, never rates. A
 * delta may be negative where the kernel moved bytes between buckets
 * (e.g. a handshake moved from unattributed to its process). */
struct pnm_store_counts {
	int64_t bytes_in, bytes_out, packets_in, packets_out;
};

/* One process instance and its identity. */
struct pnm_store_ident {
	const char *name; /* comm */
	const char *exe;  /* executable path, "" when unknown */
	const char *unit; /* systemd unit or container from the cgroup, "" if none */
	int64_t uid;	  /* -1 when unknown */
	uint32_t pid;
	uint64_t start_ns; /* CLOCK_BOOTTIME */
	const char *boot;  /* /proc/sys/kernel/random/boot_id */
};

enum pnm_row_kind {
	PNM_ROW_PROC,	/* a process's bytes on an interface */
	PNM_ROW_UNATTR, /* the interface's unattributed bytes (by proto) */
	PNM_ROW_TOTAL,	/* everything the interface counted */
};

struct pnm_store_row {
	enum pnm_row_kind kind;
	const char *iface;		    /* "eth0" or "NETNS/eth0" */
	const struct pnm_store_ident *proc; /* PNM_ROW_PROC only */
	const char *proto;		    /* PNM_ROW_UNATTR: "tcp", "arp", "overflow", ... */
	struct pnm_store_counts c;	    /* growth since the last sample */
};

/* A process's bytes with one remote end (the top talkers): a breakdown of
 * its PNM_ROW_PROC rows, kept at the hour level and above. */
struct pnm_store_talk {
	const char *iface;
	const struct pnm_store_ident *proc;
	const char *proto;  /* "tcp", "udp", "icmp", ... */
	const char *remote; /* address, no port */
	struct pnm_store_counts c;
};

/* The last cumulative value of one kernel counter the daemon has stored
 * the growth of, under the identity of the attach it belongs to: after a
 * restart the daemon stores only what grew since. Keys are the daemon's. */
struct pnm_store_series {
	const char *key;
	struct pnm_store_counts c;
};

struct pnm_store_sample {
	int64_t ts; /* when it was taken */
	const struct pnm_store_row *rows;
	size_t nrows;
	const struct pnm_store_talk *talks;
	size_t ntalks;
	const char *attach;		       /* the attach the series belong to */
	const struct pnm_store_series *series; /* new cumulative values */
	size_t nseries;
	const char *const *gone; /* series keys no longer in the kernel */
	size_t ngone;
};

struct pnm_store;

/* Open (read-write: create or migrate, take PATH.lock and hold it; read-
 * only: never writes, works while a daemon writes). 0, or -errno with one
 * line in err naming the file: -ENOENT (missing, read-only), -EBUSY
 * (another writer; the line names its PID), -EPROTO (a newer schema),
 * -EBADMSG (not a pnm-tc database, or corrupt), -EACCES, -EIO. Changes
 * nothing on failure. */
int pnm_store_open(struct pnm_store **out, const char *path, bool readonly, char *err,
		   size_t errlen);
void pnm_store_close(struct pnm_store *s);

/* One transaction: the rows into every level, the talks into hour and
 * up, the series replaced or dropped for attach (every series of another
 * attach is dropped too). All or nothing: 0 or -errno (-ENOSPC when the
 * disk is full) with a line in err; after a failure the caller keeps its
 * last values and retries with the growth summed. */
int pnm_store_write(struct pnm_store *s, const struct pnm_store_sample *smp, char *err,
		    size_t errlen);

/* The series stored for attach: fn per series (its return stops the walk
 * and is returned). 0 when there are none (another attach, or new). */
typedef int (*pnm_series_fn)(void *ctx, const char *key, const struct pnm_store_counts *c);
int pnm_store_series(struct pnm_store *s, const char *attach, pnm_series_fn fn, void *ctx);

/* Expiry: delete at most budget rows older than r allows at now; *more
 * says whether some are left (call again after the next sample). */
int pnm_store_expire(struct pnm_store *s, int64_t now, const struct pnm_retention *r, size_t budget,
		     bool *more, char *err, size_t errlen);

/* history */
enum pnm_hist_by {
	PNM_BY_PROCESS,
	PNM_BY_UNIT,
	PNM_BY_IFACE,
	PNM_BY_REMOTE,
	PNM_BY_PROTO,
	PNM_BY_HOUR,
	PNM_BY_DAY,
	PNM_BY_MONTH,
};

struct pnm_hist_query {
	int64_t from, to; /* [from, to) */
	enum pnm_hist_by by;
	size_t top;	   /* 0: all */
	const char *name;  /* -n: only this process name, or NULL */
	const char *iface; /* -i: only this interface label, or NULL */
};

/* A key the grouping does not have is NULL (uid: -1 and has_uid false). */
struct pnm_hist_row {
	char *name, *exe, *unit, *iface, *remote, *proto;
	int64_t uid;
	bool has_uid;
	int64_t period; /* by hour/day/month: the bucket's start; else 0 */
	struct pnm_store_counts c;
};

struct pnm_hist_iface {
	char *iface;
	struct pnm_store_counts total, unattr;
};

struct pnm_hist_result {
	int64_t from, to;     /* as answered: aligned to the level's buckets */
	enum pnm_level level; /* the level the answer came from */
	struct pnm_hist_row *rows;
	size_t nrows;
	struct pnm_store_counts unattr; /* over the selected interfaces */
	struct pnm_hist_iface *ifaces;
	size_t nifaces;
};

int pnm_store_query(struct pnm_store *s, const struct pnm_hist_query *q, struct pnm_hist_result *r,
		    char *err, size_t errlen);
/* The same from the given level (r->level), e.g. to compare levels;
 * -EINVAL for one the grouping cannot use (talks below the hour, periods
 * finer than the level). pnm_store_query gives -ERANGE when the level it
 * needs for a period grouping no longer holds from. */
int pnm_store_query_level(struct pnm_store *s, const struct pnm_hist_query *q, enum pnm_level level,
			  struct pnm_hist_result *r, char *err, size_t errlen);
void pnm_hist_result_free(struct pnm_hist_result *r);

#endif
