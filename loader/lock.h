/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Lock files: an exclusive flock(2) on a file made 0600 (never through a
 * symbolic link) that holds the pid of the process holding it.
 */
#ifndef PNM_LOCK_H
#define PNM_LOCK_H

#include <stddef.h>

/* Root's own directory: in a world-writable one (/run/lock, /tmp) anybody
 * could create a lock file first and hold the lock forever. */
#define PNM_LOCK_DIR "/run/pnm-tc"

/* Serialise attach/detach: an exclusive lock; tells who holds it. */
int pnm_lock(void);
void pnm_unlock(int fd);

/* Open lock file path: its fd, or -errno. */
int pnm_lock_open(const char *path);
/* Take fd's lock without waiting: 0, or -errno with the pid text that
 * its holder wrote in holder (up to a newline; "" if none). */
int pnm_lock_try(int fd, char *holder, size_t len);
/* Write our pid in the lock file: 0 or -errno. */
int pnm_lock_record(int fd);

#endif
