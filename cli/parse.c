// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"
#include "parse.h"
#include "pnm.h"

/* IFNAMSIZ includes the terminating NUL. */
#define PNM_IFNAME_MAX 15

static int fail(char *err, size_t errlen, int rc, const char *fmt, const char *arg)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, arg);
	return rc;
}

static int parse_one_pid(const char *s, size_t len, uint32_t *pid, char *err, size_t errlen)
{
	char raw[24], tok[4 * sizeof(raw)];
	uint64_t v = 0;

	/* The token as shown: at most 20 bytes, escaped (it is user input). */
	snprintf(raw, sizeof(raw), "%.*s", (int)(len < 20 ? len : 20), s);
	pnm_escape(raw, tok, sizeof(tok));
	if (len == 0)
		return fail(err, errlen, -EINVAL, "empty element in PID list%s", "");
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return fail(err, errlen, -EINVAL, "invalid PID '%s': not a positive number",
				    tok);
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return fail(err, errlen, -ERANGE, "invalid PID '%s': out of range", tok);
	}
	if (v == 0)
		return fail(err, errlen, -ERANGE, "invalid PID '%s': out of range", tok);
	*pid = (uint32_t)v;
	return 0;
}

int pnm_parse_pids(const char *s, struct pnm_pid_list *out, char *err, size_t errlen)
{
	const char *p = s;

	out->n = 0;
	if (!s || !*s)
		return fail(err, errlen, -EINVAL, "empty PID list%s", "");
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		uint32_t pid;
		int rc = parse_one_pid(p, len, &pid, err, errlen);
		size_t i;

		if (rc)
			return rc;
		for (i = 0; i < out->n && out->pid[i] != pid; i++)
			;
		if (i == out->n) {
			if (out->n == PNM_MAX_PIDS)
				return fail(err, errlen, -E2BIG, "too many PIDs (at most %s)",
					    "1024");
			out->pid[out->n++] = pid;
		}
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

int pnm_parse_count(const char *s, uint32_t min, uint32_t max, uint32_t *out, char *err,
		    size_t errlen)
{
	char shown[64], *end;
	unsigned long long v;

	pnm_escape(s ? s : "", shown, sizeof(shown));
	if (!s || *s < '0' || *s > '9')
		return fail(err, errlen, -EINVAL, "'%s' is not a number", shown);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return fail(err, errlen, -EINVAL, "'%s' is not a number", shown);
	if (errno || v < min || v > max) {
		if (err && errlen)
			snprintf(err, errlen, "'%s' is out of range (%u to %u)", shown, min, max);
		return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

static const char *const layer_names[] = { [PNM_L2] = "l2", [PNM_L1] = "l1", [PNM_L3] = "l3" };

int pnm_parse_layer(const char *s, unsigned int *layer, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < sizeof(layer_names) / sizeof(layer_names[0]); i++) {
		if (s && !strcmp(s, layer_names[i])) {
			*layer = i;
			return 0;
		}
	}
	{
		char shown[64];

		return fail(err, errlen, -EINVAL, "invalid layer '%s': use l1, l2 or l3",
			    pnm_escape(s ? s : "", shown, sizeof(shown)));
	}
}

const char *pnm_layer_name(unsigned int layer)
{
	return layer < sizeof(layer_names) / sizeof(layer_names[0]) ? layer_names[layer] : "?";
}

/* enum pnm_uclass: ip is another IP protocol, l2 another link-layer one. */
static const char *const uclass_names[PNM_U_COUNT] = {
	[PNM_U_TCP] = "tcp",	   [PNM_U_UDP] = "udp",	    [PNM_U_ICMP] = "icmp",
	[PNM_U_ICMPV6] = "icmpv6", [PNM_U_OTHER_IP] = "ip", [PNM_U_ARP] = "arp",
	[PNM_U_OTHER] = "l2",
};

const char *pnm_uclass_name(unsigned int uc)
{
	return uc < PNM_U_COUNT ? uclass_names[uc] : "?";
}

const char *pnm_proto_name(unsigned int proto)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return "icmp";
	case 58:
		return "icmpv6";
	case 132:
		return "sctp";
	default:
		return "ip";
	}
}

int pnm_check_ifname(const char *s, char *err, size_t errlen)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0)
		return fail(err, errlen, -EINVAL, "empty interface name%s", "");
	if (len > PNM_IFNAME_MAX) {
		char shown[64];

		return fail(err, errlen, -EINVAL,
			    "invalid interface name '%s': longer than 15 characters",
			    pnm_escape(s, shown, sizeof(shown)));
	}
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return fail(err, errlen, -EINVAL, "invalid interface name '%s'", s);
	for (size_t i = 0; i < len; i++) {
		char c = s[i], shown[4 * PNM_IFNAME_MAX + 1];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._@+-", c)))
			return fail(err, errlen, -EINVAL,
				    "invalid interface name '%s': only letters, digits and ._@+- "
				    "are allowed",
				    pnm_escape(s, shown, sizeof(shown)));
	}
	return 0;
}

int pnm_check_iflabel(const char *s, char *err, size_t errlen)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t nslen = slash ? (size_t)(slash - s) : 0;
	char shown[128];

	if (!slash)
		return pnm_check_ifname(s, err, errlen);
	if (nslen == 0 || nslen >= PNM_NETNS_LEN || (nslen == 1 && s[0] == '.') ||
	    (nslen == 2 && s[0] == '.' && s[1] == '.'))
		return fail(err, errlen, -EINVAL,
			    "invalid interface '%s': expected NETNS/IFACE with a namespace name "
			    "of 1 to 31 characters",
			    pnm_escape(s, shown, sizeof(shown)));
	for (size_t i = 0; i < nslen; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return fail(err, errlen, -EINVAL, "invalid network namespace name in '%s'",
				    pnm_escape(s, shown, sizeof(shown)));
	return pnm_check_ifname(slash + 1, err, errlen);
}

int pnm_parse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *ms, char *err,
		       size_t errlen)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = { { "ms", 1 },    { "s", 1000 },	{ "", 1000 },
		      { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 } };
	uint64_t whole = 0, frac = 0, scale = 1;
	char shown[64];
	const char *p = s;
	long double v;

	pnm_escape(s ? s : "", shown, sizeof(shown));
	if (!s || *s < '0' || *s > '9')
		return fail(
			err, errlen, -EINVAL,
			"invalid duration '%s': use a number with s, m, h, d or ms (e.g. 30s, 5m)",
			shown);
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > 1000000000ULL)
			return fail(err, errlen, -ERANGE, "invalid duration '%s': too long", shown);
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale < 1000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix))
			continue;
		v = ((long double)whole + (long double)frac / (long double)scale) *
		    (long double)units[i].ms;
		if (v < (long double)min_ms || v > (long double)max_ms) {
			char lim[192];

			snprintf(lim, sizeof(lim),
				 "invalid duration '%s': must be %llu ms to %llu s", shown,
				 (unsigned long long)min_ms, (unsigned long long)(max_ms / 1000));
			return fail(err, errlen, -ERANGE, "%s", lim);
		}
		*ms = (uint64_t)(v + 0.5L);
		return 0;
	}
	return fail(err, errlen, -EINVAL,
		    "invalid duration '%s': use a number with s, m, h, d or ms (e.g. 30s, 5m)",
		    shown);
}

static const char *const sort_names[] = { "total", "in", "out", "pid", "name" };

int pnm_parse_sort(const char *s, unsigned int *key, char *err, size_t errlen)
{
	char shown[64];

	for (unsigned int i = 0; s && i < sizeof(sort_names) / sizeof(sort_names[0]); i++) {
		if (!strcmp(s, sort_names[i])) {
			*key = i;
			return 0;
		}
	}
	return fail(err, errlen, -EINVAL, "invalid sort key '%s': use in, out, total, pid or name",
		    pnm_escape(s ? s : "", shown, sizeof(shown)));
}

const char *pnm_sort_name(unsigned int key)
{
	return key < sizeof(sort_names) / sizeof(sort_names[0]) ? sort_names[key] : "?";
}

int pnm_check_name_glob(const char *s, char *err, size_t errlen)
{
	if (!s || !s[0] || strlen(s) > 255)
		return fail(err, errlen, -EINVAL,
			    "-n: a process name or glob of 1 to 255 characters%s", "");
	return 0;
}

int pnm_parse_proc_stat(const char *buf, uint32_t *ppid, unsigned long long *ticks)
{
	const char *p = buf ? strrchr(buf, ')') : NULL;
	unsigned int pp;
	unsigned long long t;

	/* The name may hold spaces and parentheses: fields resume after the
	 * last ')'. ppid is field 4, starttime field 22. */
	if (!p || !p[1] || !p[2])
		return -EINVAL;
	if (sscanf(p + 2,
		   "%*c %u %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d "
		   "%llu",
		   &pp, &t) != 2)
		return -EINVAL;
	*ppid = pp;
	*ticks = t;
	return 0;
}

/* Exactly n digits at s, as a number; -1 when they are not. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && ((y % 4 == 0 && y % 100) || y % 400 == 0) ? 29 : d[m - 1];
}

/* Local midnight of the day now is in, plus days. */
static int64_t local_midnight(int64_t now, int days)
{
	time_t t = (time_t)now;
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return -1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* "@SECONDS": up to PNM_TIME_MAX. */
static int parse_unix(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 12; i++)
		v = v * 10 + (s[i] - '0');
	if (!i || s[i] || v > PNM_TIME_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

/* " HH:MM[:SS][Z|+HH:MM]" or with 'T': the fields, and the zone's offset
 * in seconds east of UTC (*zoned false: local time). The end, or NULL. */
static const char *parse_clock(const char *p, struct tm *tm, int *off, bool *zoned)
{
	int oh, om;

	/* Each character is read only after those before it were digits or
	 * separators: never past the end. */
	if (*p != ' ' && *p != 'T')
		return NULL;
	tm->tm_hour = digits(p + 1, 2);
	if (tm->tm_hour < 0 || p[3] != ':')
		return NULL;
	tm->tm_min = digits(p + 4, 2);
	p += 6;
	if (tm->tm_min >= 0 && *p == ':') {
		tm->tm_sec = digits(p + 1, 2);
		p += 3;
	}
	if (tm->tm_hour > 23 || tm->tm_min < 0 || tm->tm_min > 59 || tm->tm_sec < 0 ||
	    tm->tm_sec > 59)
		return NULL;
	if (*p == 'Z') {
		*zoned = true;
		return p + 1;
	}
	if (*p != '+' && *p != '-')
		return p;
	oh = digits(p + 1, 2);
	if (oh < 0 || p[3] != ':')
		return NULL;
	om = digits(p + 4, 2);
	if (oh > 23 || om < 0 || om > 59)
		return NULL;
	*off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	*zoned = true;
	return p + 6;
}

int pnm_parse_time(const char *s, int64_t now, int64_t *out, char *err, size_t errlen)
{
	struct tm tm = { 0 };
	bool zoned = false;
	int off = 0, y, mo, d;
	const char *p = NULL;
	char shown[64];
	int64_t t = -1;

	pnm_escape(s ? s : "", shown, sizeof(shown));
	if (!s)
		goto bad;
	if (!strcmp(s, "now")) {
		*out = now;
		return 0;
	}
	if (!strcmp(s, "today") || !strcmp(s, "yesterday")) {
		t = local_midnight(now, s[0] == 'y' ? -1 : 0);
		goto done;
	}
	if (s[0] == '@') {
		if (parse_unix(s + 1, &t))
			goto bad;
		goto done;
	}
	y = digits(s, 4);
	mo = y >= 0 && s[4] == '-' ? digits(s + 5, 2) : -1;
	d = mo >= 0 && s[7] == '-' ? digits(s + 8, 2) : -1;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		goto bad;
	tm = (struct tm){ .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_isdst = -1 };
	p = s + 10;
	if (*p)
		p = parse_clock(p, &tm, &off, &zoned);
	if (!p || *p)
		goto bad;
	t = zoned ? (int64_t)timegm(&tm) - off : (int64_t)mktime(&tm);
done:
	if (t < 0 || t > PNM_TIME_MAX)
		return fail(err, errlen, -ERANGE, "time '%s' is out of range (1970 to 9999)",
			    shown);
	*out = t;
	return 0;
bad:
	return fail(err, errlen, -EINVAL,
		    "invalid time '%s': use YYYY-MM-DD[ HH:MM[:SS]][Z|+HH:MM], today, yesterday, "
		    "now or @UNIXSECONDS",
		    shown);
}
