/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Processes as /proc shows them: the fallback when the kernel side kept no
 * record of one, and the check behind "no such process". */
#ifndef PNM_PROC_H
#define PNM_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool pnm_proc_exists(uint32_t pid);
/* The thread-group leader's start time, CLOCK_BOOTTIME ns (tick precision). */
int pnm_proc_start_ns(uint32_t pid, uint64_t *ns);
/* Is pid still the process that started at start_ns? */
bool pnm_proc_is(uint32_t pid, uint64_t start_ns);
int pnm_proc_name(uint32_t pid, char *buf, size_t len);
/* Parent PID and start time (as pnm_proc_start_ns) from one read. */
int pnm_proc_stat(uint32_t pid, uint32_t *ppid, uint64_t *start_ns);
/* /proc's start times have clock-tick precision: the same process? */
bool pnm_same_start(uint64_t a, uint64_t b);

#endif
