// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The store's pure parts: buckets, retention, error lines. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

const char *const pnm_level_names[PNM_LEVELS] = { "minute", "hour", "day", "month" };
const char *const pnm_fact_names[PNM_FACTS] = { "proc", "unattr", "total", "talk" };

const char *pnm_fact_keys(enum pnm_fact f, enum pnm_level l)
{
	switch (f) {
	case PNM_FACT_PROC:
		return l == PNM_LEVEL_MINUTE ? "iface, inst" : "iface, ident";
	case PNM_FACT_UNATTR:
		return "iface, proto";
	case PNM_FACT_TOTAL:
		return "iface";
	default:
		return "iface, ident, proto, remote";
	}
}

int pnm_fact_nkeys(enum pnm_fact f, enum pnm_level l)
{
	static const int n[PNM_FACTS] = { 2, 2, 1, 4 };

	(void)l;
	return n[f];
}

int64_t pnm_bucket(enum pnm_level l, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int64_t m = t - ((t % 60) + 60) % 60;

	if (l == PNM_LEVEL_MINUTE || !localtime_r(&tt, &tm))
		return m;
	/* The hour of a DST change that repeats keeps its tm_isdst, so mktime
	 * gives this instance of it; days and months let mktime decide. */
	tm.tm_sec = 0;
	tm.tm_min = 0;
	if (l >= PNM_LEVEL_DAY) {
		tm.tm_hour = 0;
		tm.tm_isdst = -1;
	}
	if (l == PNM_LEVEL_MONTH)
		tm.tm_mday = 1;
	tt = mktime(&tm);
	/* A zone whose day starts in a gap (no local midnight): mktime moves
	 * past it, which may land after t; the bucket then starts at t's
	 * minute rather than after t. */
	return tt == (time_t)-1 || (int64_t)tt > t ? m : (int64_t)tt;
}

int64_t pnm_bucket_next(enum pnm_level l, int64_t start)
{
	/* Past the end of any bucket of that level, short of the one after
	 * next: days are 23 to 25 hours long, months 28 to 31 days. */
	static const int64_t past[PNM_LEVELS] = { 60, 3600 + 1800, 36 * 3600LL, 32 * 86400LL };

	return pnm_bucket(l, pnm_bucket(l, start) + past[l]);
}

int pnm_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int pnm_sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return -EBADMSG;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_READONLY:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int pnm_store_fail(const struct pnm_store *s, int rc, const char *what, char *err, size_t errlen)
{
	const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

	if ((rc & 0xff) == SQLITE_FULL)
		msg = "no space left on the device";
	return pnm_errf(err, errlen, pnm_sql_errno(rc), "%s: %s: %s", s->path, what, msg);
}

void pnm_retention_default(struct pnm_retention *r)
{
	r->keep[PNM_LEVEL_MINUTE] = 48 * 3600LL;
	r->keep[PNM_LEVEL_HOUR] = 90 * 86400LL;
	r->keep[PNM_LEVEL_DAY] = 731 * 86400LL;
	r->keep[PNM_LEVEL_MONTH] = 0;
}

/* One duration: N with s, m, h, d or y, a plain number of seconds, or
 * "forever" (0). A year is 365 days plus one per started four: N years
 * then always span N calendar years, leap days included (2y: 731 days). */
static int parse_keep(const char *s, size_t len, int64_t *out)
{
	static const char units[] = "smhdy";
	static const int64_t mul[] = { 1, 60, 3600, 86400, 0 };
	const int64_t max = (int64_t)1 << 40;
	int64_t n = 0;
	size_t i;

	if (len == 7 && !strncmp(s, "forever", 7)) {
		*out = 0;
		return 0;
	}
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		n = n * 10 + (s[i] - '0');
		if (n > max)
			return -ERANGE;
	}
	if (!i || len - i > 1)
		return -EINVAL;
	if (i < len) {
		const char *u = strchr(units, s[i]);

		if (!u || !s[i])
			return -EINVAL;
		if (*u == 'y')
			n = n * 365 * 86400 + (n + 3) / 4 * 86400;
		else
			n *= mul[u - units];
		if (n > max * 86400)
			return -ERANGE;
	}
	*out = n;
	return 0;
}

/* finer's keep against coarser's (0: forever). */
static int keeps_shorter(int64_t coarser, int64_t finer)
{
	if (!finer)
		return coarser != 0;
	return coarser && coarser < finer;
}

int pnm_retention_parse(const char *spec, struct pnm_retention *r, char *err, size_t errlen)
{
	struct pnm_retention t;
	bool seen[PNM_LEVELS] = { false };
	const char *p = spec;

	if (!spec || !*spec)
		return pnm_errf(err, errlen, -EINVAL, "empty retention: use e.g. %s",
				"minute=48h,hour=90d");
	pnm_retention_default(&t);
	while (*p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		size_t nlen;
		int l, rc;

		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end)
			return pnm_errf(err, errlen, -EINVAL,
					"retention: '%.*s' is not LEVEL=DURATION", (int)(end - p),
					p);
		nlen = (size_t)(eq - p);
		for (l = 0; l < PNM_LEVELS; l++)
			if (strlen(pnm_level_names[l]) == nlen &&
			    !strncmp(p, pnm_level_names[l], nlen))
				break;
		if (l == PNM_LEVELS)
			return pnm_errf(
				err, errlen, -EINVAL,
				"retention: unknown level '%.*s' (minute, hour, day, month)",
				(int)nlen, p);
		if (seen[l])
			return pnm_errf(err, errlen, -EINVAL, "retention: %s given twice",
					pnm_level_names[l]);
		seen[l] = true;
		rc = parse_keep(eq + 1, (size_t)(end - eq - 1), &t.keep[l]);
		if (rc)
			return pnm_errf(err, errlen, rc,
					"retention: %s=%.*s: use 30s, 15m, 48h, 90d, 2y, seconds "
					"or forever",
					pnm_level_names[l], (int)(end - eq - 1), eq + 1);
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return pnm_errf(err, errlen, -EINVAL, "retention: '%s' ends with ','",
					spec);
	}
	for (int l = 1; l < PNM_LEVELS; l++)
		if (keeps_shorter(t.keep[l], t.keep[l - 1]))
			return pnm_errf(err, errlen, -EINVAL,
					"retention: %s is kept shorter than %s", pnm_level_names[l],
					pnm_level_names[l - 1]);
	*r = t;
	return 0;
}
