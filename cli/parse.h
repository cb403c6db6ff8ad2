/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Parsers of user input. Pure functions: no I/O, unit-tested. Each returns
 * 0 or -EINVAL/-ERANGE/-E2BIG and, on error, a one-line reason in err. */
#ifndef PNM_PARSE_H
#define PNM_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define PNM_MAX_PIDS 1024
/* The kernel's PID_MAX_LIMIT: no PID is ever larger. */
#define PNM_PID_MAX 4194304u

struct pnm_pid_list {
	uint32_t pid[PNM_MAX_PIDS];
	size_t n;
};

/* "1234" or "1234,5678": decimal PIDs in 1..UINT32_MAX, no blanks, no
 * empty elements; duplicates are kept once. A well-formed PID above
 * PNM_PID_MAX is accepted here: it is a process that does not exist. */
int pnm_parse_pids(const char *s, struct pnm_pid_list *out, char *err, size_t errlen);

/* A decimal count in min..max (map sizes). */
int pnm_parse_count(const char *s, uint32_t min, uint32_t max, uint32_t *out, char *err,
		    size_t errlen);

/* --layer: "l1", "l2" or "l3" (enum pnm_layer). */
int pnm_parse_layer(const char *s, unsigned int *layer, char *err, size_t errlen);
const char *pnm_layer_name(unsigned int layer);
/* What a class of unattributed packets is (enum pnm_uclass): "arp", ... */
const char *pnm_uclass_name(unsigned int uc);
/* An IP protocol's name for a socket's tuple: "tcp", "udp", "icmp",
 * "icmpv6", "sctp", or "ip" for another (a raw socket's). */
const char *pnm_proto_name(unsigned int proto);

/* An interface name: 1..15 bytes of [A-Za-z0-9._@+-], not "." or "..". */
int pnm_check_ifname(const char *s, char *err, size_t errlen);
/* An interface name, or NETNS/IFACE: one in a named network namespace
 * (1..31 printable bytes, no blanks, not "." or ".."). */
int pnm_check_iflabel(const char *s, char *err, size_t errlen);

/* /proc/PID/stat: the parent PID and the start time in clock ticks. */
int pnm_parse_proc_stat(const char *buf, uint32_t *ppid, unsigned long long *ticks);

/* -n: a process name or an fnmatch glob, 1..255 bytes. */
int pnm_check_name_glob(const char *s, char *err, size_t errlen);

/* A duration: "30s", "5m", "1h", "2d", "500ms", "1.5s"; a bare number is
 * seconds. In milliseconds, within min_ms..max_ms. */
int pnm_parse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *ms, char *err,
		       size_t errlen);

/* A point in time, as Unix seconds (up to the end of 9999):
 * "YYYY-MM-DD" (local midnight), "YYYY-MM-DD HH:MM[:SS]" or with 'T',
 * optionally followed by "Z" or "+HH:MM"/"-HH:MM" (else local time),
 * "today" and "yesterday" (local midnight), "now", "@SECONDS". now is the
 * time those are relative to. No I/O but the time zone's. */
#define PNM_TIME_MAX 253402300799LL
int pnm_parse_time(const char *s, int64_t now, int64_t *out, char *err, size_t errlen);

/* --sort: the order of processes. */
enum pnm_sort {
	PNM_SORT_TOTAL = 0, /* bytes (or rate) in + out, largest first */
	PNM_SORT_IN = 1,
	PNM_SORT_OUT = 2,
	PNM_SORT_PID = 3,  /* ascending */
	PNM_SORT_NAME = 4, /* ascending */
	PNM_SORT_N = 5,
};
int pnm_parse_sort(const char *s, unsigned int *key, char *err, size_t errlen);
const char *pnm_sort_name(unsigned int key);

#endif
