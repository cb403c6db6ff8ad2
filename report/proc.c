// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "proc.h"

/* The thread-group (process) ID of a task, from /proc/ID/status. */
static int task_tgid(uint32_t id, uint32_t *tgid)
{
	char path[64], line[128];
	int rc = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", id);
	f = fopen(path, "re");
	if (!f)
		return pnm_neg_errno();
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %u", tgid) == 1) {
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

bool pnm_proc_exists(uint32_t pid)
{
	uint32_t tgid = 0;

	/* Beyond the kernel's limit no process exists; kill() must not see a
	 * negative pid_t (a process group). */
	if (pid == 0 || pid > PNM_PID_MAX)
		return false;
	/* A thread's ID answers kill() too, but names no process. */
	if (!task_tgid(pid, &tgid) && tgid != pid)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int pnm_proc_stat(uint32_t pid, uint32_t *ppid, uint64_t *start_ns)
{
	char path[64], buf[1024];
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);
	uint32_t pp;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return pnm_neg_errno();
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (hz <= 0 || pnm_parse_proc_stat(buf, &pp, &ticks))
		return -EINVAL;
	if (ppid)
		*ppid = pp;
	if (start_ns)
		*start_ns = ticks * (1000000000ULL / (unsigned long long)hz);
	return 0;
}

int pnm_proc_start_ns(uint32_t pid, uint64_t *ns)
{
	return pnm_proc_stat(pid, NULL, ns);
}

bool pnm_same_start(uint64_t a, uint64_t b)
{
	uint64_t tick = 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK);

	/* /proc rounds down to a clock tick. */
	return a <= b + 2 * tick && b <= a + 2 * tick;
}

bool pnm_proc_is(uint32_t pid, uint64_t start_ns)
{
	uint64_t ns = 0;

	return !pnm_proc_start_ns(pid, &ns) && pnm_same_start(ns, start_ns);
}

int pnm_proc_name(uint32_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return pnm_neg_errno();
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
