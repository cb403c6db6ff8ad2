// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Opening the store. A writer holds PATH.lock (flock, its PID inside) for
 * as long as it is open, so a second daemon is refused with the first's
 * PID. A file that is not ours, corrupt or of a newer schema is found
 * through a read-only connection first and never written: the read-write
 * connection, which switches the file to WAL and migrates it, comes after.
 * Readers never write; WAL lets them read the last committed state while
 * the writer is in a transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

/* How long a reader waits for the writer's rare exclusive moments (WAL
 * recovery, a checkpoint's restart), and the writer for a reader's. */
#define PNM_BUSY_MS 3000

static int take_lock(struct pnm_store *s, char *err, size_t errlen)
{
	char lp[PATH_MAX], buf[32];
	ssize_t n;
	int fd, rc;

	if (snprintf(lp, sizeof(lp), "%s.lock", s->path) >= (int)sizeof(lp))
		return pnm_errf(err, errlen, -ENAMETOOLONG, "%s: path too long", s->path);
	fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		rc = -errno;
		return pnm_errf(err, errlen, rc, "%s: cannot open: %s", lp, strerror(-rc));
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		rc = -errno;
		if (rc == -EWOULDBLOCK) {
			long pid = 0;

			n = pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			pid = strtol(buf, NULL, 10);
			close(fd);
			if (pid > 0)
				return pnm_errf(err, errlen, -EBUSY,
						"%s is in use by the daemon with PID %ld", s->path,
						pid);
			return pnm_errf(err, errlen, -EBUSY, "%s is in use by another writer",
					s->path);
		}
		close(fd);
		return pnm_errf(err, errlen, rc, "%s: cannot lock: %s", lp, strerror(-rc));
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n) {
		rc = -errno;
		close(fd);
		return pnm_errf(err, errlen, rc, "%s: cannot write: %s", lp, strerror(-rc));
	}
	s->lock_fd = fd;
	return 0;
}

static int open_db(struct pnm_store *s, int flags, char *err, size_t errlen)
{
	int rc = sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOFOLLOW, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(s->db, PNM_BUSY_MS);
	if (rc != SQLITE_OK) {
		int sys = s->db ? sqlite3_system_errno(s->db) : 0;

		rc = pnm_store_fail(s, rc, "cannot open", err, errlen);
		if (sys)
			rc = pnm_errf(err, errlen, -sys, "%s: cannot open: %s", s->path,
				      strerror(sys));
		sqlite3_close(s->db);
		s->db = NULL;
	}
	return rc;
}

/* The file is there and readable: a clear line for each way it is not. */
static int check_file(struct pnm_store *s, bool create, char *err, size_t errlen)
{
	int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	rc = -errno;
	if (rc == -ENOENT && create)
		return 0;
	if (rc == -ENOENT)
		return pnm_errf(err, errlen, rc,
				"%s: no such history database (pnm-tc daemon writes it)", s->path);
	return pnm_errf(err, errlen, rc, "%s: cannot open: %s", s->path, strerror(-rc));
}

/* A new file, mode 0640 (SQLite's -wal and -shm take the same), in a
 * directory made if missing. */
static int create_file(struct pnm_store *s, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", s->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) && errno != EEXIST) {
			rc = -errno;
			return pnm_errf(err, errlen, rc, "%s: cannot create: %s", dir,
					strerror(-rc));
		}
	}
	fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		rc = -errno;
		return pnm_errf(err, errlen, rc, "%s: cannot create: %s", s->path, strerror(-rc));
	}
	close(fd);
	return 0;
}

/* The version of the file, from a read-only look that changes nothing. */
static int check_readonly(struct pnm_store *s, int *version, char *err, size_t errlen)
{
	int rc = open_db(s, SQLITE_OPEN_READONLY, err, errlen);

	if (rc)
		return rc;
	rc = pnm_schema_check(s, version, err, errlen);
	sqlite3_close(s->db);
	s->db = NULL;
	return rc;
}

static int setup_writer(struct pnm_store *s, char *err, size_t errlen)
{
	/* NORMAL: with WAL, a crash of the daemon loses nothing committed; a
	 * power cut may lose the last samples, never the file. */
	static const char pragmas[] = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
				      "PRAGMA cache_size = -16384;"
				      "PRAGMA journal_size_limit = 16777216";
	int rc, version = 0;

	rc = open_db(s, SQLITE_OPEN_READWRITE, err, errlen);
	if (rc)
		return rc;
	rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return pnm_store_fail(s, rc, "cannot set up", err, errlen);
	rc = pnm_schema_check(s, &version, err, errlen);
	if (!rc)
		rc = pnm_schema_migrate(s, version, err, errlen);
	if (!rc)
		rc = pnm_store_prepare(s, err, errlen);
	return rc;
}

int pnm_store_open(struct pnm_store **out, const char *path, bool readonly, char *err,
		   size_t errlen)
{
	struct pnm_store *s = calloc(1, sizeof(*s));
	int rc, version = 0;

	*out = NULL;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return pnm_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	s->lock_fd = -1;
	s->readonly = readonly;
	if (!readonly) {
		rc = take_lock(s, err, errlen);
		if (rc)
			goto fail;
	}
	rc = check_file(s, !readonly, err, errlen);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		rc = check_readonly(s, &version, err, errlen);
		if (rc)
			goto fail;
	} else {
		rc = create_file(s, err, errlen);
		if (rc)
			goto fail;
	}
	if (readonly) {
		rc = open_db(s, SQLITE_OPEN_READONLY, err, errlen);
		if (!rc && !version)
			rc = pnm_errf(err, errlen, -EBADMSG,
				      "%s: an empty database, not yet pnm-tc's", path);
		else if (!rc && version < PNM_STORE_VERSION)
			rc = pnm_errf(err, errlen, -EPROTO,
				      "%s: schema version %d is older than this pnm-tc's %d; the "
				      "daemon upgrades it when it starts",
				      path, version, PNM_STORE_VERSION);
	} else {
		rc = setup_writer(s, err, errlen);
	}
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	pnm_store_close(s);
	return rc;
}

void pnm_store_close(struct pnm_store *s)
{
	if (!s)
		return;
	pnm_store_finalize(s);
	sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s);
}
