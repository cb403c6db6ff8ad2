// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Lock files under /run/pnm-tc: attach and detach take one at a time
 * (pnm_lock), and so does 'pnm-tc events' (its own file, cli/events.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"
#include "state_int.h"

int pnm_lock_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	return fd < 0 ? -errno : fd;
}

int pnm_lock_try(int fd, char *holder, size_t len)
{
	ssize_t n;
	int err;

	if (!flock(fd, LOCK_EX | LOCK_NB))
		return 0;
	err = errno;
	n = pread(fd, holder, len - 1, 0);
	holder[n > 0 ? n : 0] = '\0';
	holder[strcspn(holder, "\n")] = '\0';
	return -err;
}

/* A file that cannot be emptied is left as it is, and that is no error:
 * the pid is only there to say who holds the lock. */
int pnm_lock_record(int fd)
{
	char pid[32];
	int n;

	if (ftruncate(fd, 0))
		return 0;
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	return pwrite(fd, pid, (size_t)n, 0) < 0 ? -errno : 0;
}

int pnm_lock(void)
{
	char holder[32] = "";
	struct stat st;
	int fd, err;

	if (mkdir(PNM_LOCK_DIR, 0700) && errno != EEXIST) {
		err = errno;
		pr_warn("cannot create %s: %s", PNM_LOCK_DIR, strerror(err));
		return -err;
	}
	if (lstat(PNM_LOCK_DIR, &st) || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 0022)) {
		pr_warn("refusing lock directory %s: not a directory owned and writable only by "
			"root",
			PNM_LOCK_DIR);
		return -EPERM;
	}
	fd = pnm_lock_open(PNM_LOCK_FILE);
	if (fd < 0) {
		pr_warn("cannot open lock file %s: %s", PNM_LOCK_FILE, strerror(-fd));
		return fd;
	}
	if (pnm_lock_try(fd, holder, sizeof(holder))) {
		long pid = strtol(holder, NULL, 10);

		if (pid > 0)
			pr_warn("waiting for another pnm-tc (pid %ld) that holds %s", pid,
				PNM_LOCK_FILE);
		else
			pr_warn("waiting for another pnm-tc that holds %s", PNM_LOCK_FILE);
		if (flock(fd, LOCK_EX)) {
			err = errno;
			close(fd);
			return -err;
		}
	}
	if (pnm_lock_record(fd))
		pr_debug("cannot record our pid in the lock file");
	return fd;
}

void pnm_unlock(int fd)
{
	if (fd >= 0) {
		if (ftruncate(fd, 0))
			pr_debug("cannot clear the lock file");
		close(fd);
	}
}
