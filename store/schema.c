// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The schema and its migrations. Each step takes the database from
 * version i to i + 1 and is frozen once released: a change of the schema
 * is a new step at the end of steps[] (and PNM_STORE_VERSION + 1), never an
 * edit of an old one. All steps from the file's version run in one
 * transaction with the version bump, so a file is at one version or the
 * next, never between. docs/history.md explains the tables.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/*
 * v1. Why this shape:
 * - Names are stored once, in dictionaries referenced by small integer
 *   ids; a fact row is then a handful of varints (about 30 bytes with its
 *   B-tree cell), which is what keeps 48 h of minutes of 1000 processes
 *   (2.9 M rows) near 100 MB.
 * - The fact tables are WITHOUT ROWID with the bucket's start first in
 *   the key: each sample appends at the right edge of the B-tree (full
 *   pages), a period is one range scan, and expiry deletes from the left.
 * - The minute level keys processes by instance (boot, PID, start time),
 *   so PID reuse never merges two processes; the hour and coarser levels
 *   key by identity (name, exe, unit, uid), so a daemon restarting every
 *   hour is one row per hour, not one per PID.
 * - Unattributed bytes (per protocol) and the interfaces' totals have
 *   their own tables: processes + unattributed = total can be checked.
 * - Talks (one process with one remote address) only from the hour up:
 *   minutes of them would be most of the file for little use.
 * - Every dictionary row has "last", the latest minute bucket that
 *   referenced it, so unreferenced rows are found without scanning the
 *   fact tables.
 */
#define COUNTERS                                                                          \
	" bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, packets_in INTEGER NOT " \
	"NULL, packets_out INTEGER NOT NULL,"
#define PROC(L)                                                                      \
	"CREATE TABLE proc_" L "(ts INTEGER, iface INTEGER, ident INTEGER," COUNTERS \
	" PRIMARY KEY(ts, iface, ident)) WITHOUT ROWID;"
#define UNATTR(L)                                                                      \
	"CREATE TABLE unattr_" L "(ts INTEGER, iface INTEGER, proto INTEGER," COUNTERS \
	" PRIMARY KEY(ts, iface, proto)) WITHOUT ROWID;"
#define TOTAL(L)                                                       \
	"CREATE TABLE total_" L "(ts INTEGER, iface INTEGER," COUNTERS \
	" PRIMARY KEY(ts, iface)) WITHOUT ROWID;"
#define TALK(L)                                                                            \
	"CREATE TABLE talk_" L "(ts INTEGER, iface INTEGER, ident INTEGER, proto INTEGER," \
	" remote INTEGER," COUNTERS                                                        \
	" PRIMARY KEY(ts, iface, ident, proto, remote)) WITHOUT ROWID;"

static const char schema_v1[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE iface(id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE,"
	" last INTEGER NOT NULL);"
	"CREATE TABLE ident(id INTEGER PRIMARY KEY, name TEXT NOT NULL, exe TEXT NOT NULL,"
	" unit TEXT NOT NULL, uid INTEGER NOT NULL, last INTEGER NOT NULL,"
	" UNIQUE(name, exe, unit, uid));"
	"CREATE TABLE inst(id INTEGER PRIMARY KEY, boot TEXT NOT NULL, pid INTEGER NOT NULL,"
	" start_ns INTEGER NOT NULL, ident INTEGER NOT NULL, last INTEGER NOT NULL,"
	" UNIQUE(pid, start_ns, boot, ident));"
	"CREATE TABLE proto(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" last INTEGER NOT NULL);"
	"CREATE TABLE remote(id INTEGER PRIMARY KEY, addr TEXT NOT NULL UNIQUE,"
	" last INTEGER NOT NULL);"
	"CREATE TABLE proc_minute(ts INTEGER, iface INTEGER, inst INTEGER," COUNTERS
	" PRIMARY KEY(ts, iface, inst)) WITHOUT ROWID;" PROC("hour") PROC("day") PROC("month")
		UNATTR("minute") UNATTR("hour") UNATTR("day") UNATTR("month") TOTAL("minute")
			TOTAL("hour") TOTAL("day") TOTAL("month") TALK("hour") TALK("day")
				TALK("month") "CREATE TABLE series(attach TEXT NOT NULL, key TEXT "
					      "NOT NULL," COUNTERS
					      " PRIMARY KEY(attach, key)) WITHOUT ROWID;";
#undef COUNTERS
#undef PROC
#undef UNATTR
#undef TOTAL
#undef TALK

/* steps[i]: version i -> i + 1. */
static const char *const steps[] = { schema_v1 };

_Static_assert(sizeof(steps) / sizeof(steps[0]) == PNM_STORE_VERSION,
	       "one migration step per schema version");

static int exec(struct pnm_store *s, const char *sql, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : pnm_store_fail(s, rc, what, err, errlen);
}

int pnm_schema_migrate(struct pnm_store *s, int from, char *err, size_t errlen)
{
	char sql[96];
	int rc;

	if (from == PNM_STORE_VERSION)
		return 0;
	rc = exec(s, "BEGIN IMMEDIATE", "cannot start the migration", err, errlen);
	if (rc)
		return rc;
	for (int v = from; v < PNM_STORE_VERSION; v++) {
		rc = exec(s, steps[v], "cannot migrate the schema", err, errlen);
		if (rc)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
		 PNM_STORE_APP_ID, PNM_STORE_VERSION);
	rc = exec(s, sql, "cannot migrate the schema", err, errlen);
	if (!rc)
		rc = exec(s, "COMMIT", "cannot commit the migration", err, errlen);
	if (!rc)
		return 0;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int pragma_int(struct pnm_store *s, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

int pnm_schema_check(struct pnm_store *s, int *version, char *err, size_t errlen)
{
	int rc, app = 0, nobj = 0;

	/* The schema's first read: a file that is not SQLite fails here. */
	rc = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &nobj);
	if (rc == SQLITE_OK)
		rc = pragma_int(s, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = pragma_int(s, "PRAGMA user_version", version);
	if ((rc & 0xff) == SQLITE_NOTADB)
		return pnm_errf(err, errlen, -EBADMSG, "%s: not an SQLite database", s->path);
	if (rc != SQLITE_OK)
		return pnm_store_fail(s, rc, "cannot read the schema", err, errlen);
	if (app == 0 && *version == 0 && nobj == 0)
		return 0; /* new and empty: ours to create */
	if (app != PNM_STORE_APP_ID || *version <= 0)
		return pnm_errf(err, errlen, -EBADMSG, "%s: not a pnm-tc history database",
				s->path);
	if (*version > PNM_STORE_VERSION)
		return pnm_errf(err, errlen, -EPROTO,
				"%s: schema version %d is newer than this pnm-tc's %d", s->path,
				*version, PNM_STORE_VERSION);
	return 0;
}
