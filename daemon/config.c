// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The daemon's configuration file and its settings (config.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "parse.h"

void pnm_cfg_defaults(struct pnm_daemon_cfg *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->db, sizeof(c->db), "%s", PNM_STORE_DEFAULT_PATH);
	c->interval_ms = PNM_INTERVAL_DEFAULT_MS;
	pnm_retention_default(&c->retention);
	snprintf(c->listen, sizeof(c->listen), "%s", PNM_LISTEN_DEFAULT);
}

int pnm_check_listen(const char *s, char *err, size_t errlen)
{
	char host[64], buf[sizeof(struct in6_addr)];
	const char *colon = strrchr(s, ':');
	char *end;
	size_t n;
	long port;

	if (!colon || colon == s) {
		snprintf(err, errlen, "'%s' is not ADDR:PORT", s);
		return -EINVAL;
	}
	n = (size_t)(colon - s);
	if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= sizeof(host)) {
		snprintf(err, errlen, "the address of '%s' is too long", s);
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535) {
		snprintf(err, errlen, "'%s' is not a port (1-65535)", colon + 1);
		return -EINVAL;
	}
	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	return 0;
}

/* An interface name or an fnmatch pattern of them: this namespace's. */
static bool valid_glob(const char *s)
{
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || *s == '/')
			return false;
	return true;
}

/* Interfaces: names or globs, separated by spaces or commas. */
static int add_globs(struct pnm_daemon_cfg *c, const char *value, char *err, size_t errlen)
{
	const char *p = value;

	while (*p) {
		size_t n = strcspn(p, " \t,");

		if (n) {
			if (n >= PNM_GLOB_LEN) {
				snprintf(err, errlen, "interface pattern too long: %.*s", (int)n,
					 p);
				return -EINVAL;
			}
			if (c->nglobs == PNM_GLOBS_MAX) {
				snprintf(err, errlen, "more than %d interface patterns",
					 PNM_GLOBS_MAX);
				return -EINVAL;
			}
			memcpy(c->globs[c->nglobs], p, n);
			c->globs[c->nglobs][n] = '\0';
			if (!valid_glob(c->globs[c->nglobs])) {
				snprintf(err, errlen,
					 "'%s' is not an interface name or pattern (printable, no "
					 "'/')",
					 c->globs[c->nglobs]);
				return -EINVAL;
			}
			c->nglobs++;
		}
		p += n;
		p += strspn(p, " \t,");
	}
	c->set |= PNM_CFG_IFACES;
	return 0;
}

int pnm_cfg_set(struct pnm_daemon_cfg *c, const char *key, const char *value, char *err,
		size_t errlen)
{
	char why[160];

	if (!strcmp(key, "db")) {
		if (!value[0] || strlen(value) >= sizeof(c->db)) {
			snprintf(err, errlen, "db: '%s' is not a file name", value);
			return -EINVAL;
		}
		snprintf(c->db, sizeof(c->db), "%s", value);
		c->set |= PNM_CFG_DB;
	} else if (!strcmp(key, "interval")) {
		if (pnm_parse_duration(value, 1000, 3600000, &c->interval_ms, why, sizeof(why))) {
			snprintf(err, errlen, "interval: %s", why);
			return -EINVAL;
		}
		c->set |= PNM_CFG_INTERVAL;
	} else if (!strcmp(key, "retention")) {
		/* Its reason starts with "retention: " already. */
		if (pnm_retention_parse(value, &c->retention, err, errlen))
			return -EINVAL;
		c->set |= PNM_CFG_RETENTION;
	} else if (!strcmp(key, "listen")) {
		if (pnm_check_listen(value, why, sizeof(why))) {
			snprintf(err, errlen, "listen: %s", why);
			return -EINVAL;
		}
		snprintf(c->listen, sizeof(c->listen), "%s", value);
		c->set |= PNM_CFG_LISTEN;
	} else if (!strcmp(key, "interfaces")) {
		return add_globs(c, value, err, errlen);
	} else {
		snprintf(err, errlen,
			 "unknown setting '%s' (db, interval, retention, listen, "
			 "interfaces)",
			 key);
		return -EINVAL;
	}
	return 0;
}

/* s without its leading and trailing blanks (in place). */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int pnm_cfg_load(struct pnm_daemon_cfg *c, const char *file, char *err, size_t errlen)
{
	struct pnm_daemon_cfg tmp = *c;
	char line[1024], why[256];
	unsigned int n = 0;
	int rc = 0;
	FILE *f = fopen(file, "re");

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot read %s: %s", file, strerror(errno));
		return rc;
	}
	/* The file's interfaces replace the defaults', not add to them. */
	tmp.nglobs = 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		char *s, *eq;

		n++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", file, n);
			rc = -EINVAL;
			break;
		}
		s = trim(line);
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: not 'key = value': %s", file, n, s);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		if (pnm_cfg_set(&tmp, trim(s), trim(eq + 1), why, sizeof(why))) {
			snprintf(err, errlen, "%s:%u: %s", file, n, why);
			rc = -EINVAL;
		}
	}
	if (!rc && ferror(f)) {
		snprintf(err, errlen, "cannot read %s: %s", file, strerror(EIO));
		rc = -EIO;
	}
	fclose(f);
	if (!rc)
		*c = tmp;
	return rc;
}

void pnm_cfg_merge(struct pnm_daemon_cfg *base, const struct pnm_daemon_cfg *over)
{
	if (over->set & PNM_CFG_DB)
		memcpy(base->db, over->db, sizeof(base->db));
	if (over->set & PNM_CFG_INTERVAL)
		base->interval_ms = over->interval_ms;
	if (over->set & PNM_CFG_RETENTION)
		base->retention = over->retention;
	if (over->set & PNM_CFG_LISTEN)
		memcpy(base->listen, over->listen, sizeof(base->listen));
	if (over->set & PNM_CFG_IFACES) {
		memcpy(base->globs, over->globs, sizeof(base->globs));
		base->nglobs = over->nglobs;
	}
	base->set |= over->set;
}

/* Seconds the way a person writes them: 48h, 90d, 30s; 0 is forever. */
static const char *span(int64_t s, char *buf, size_t len)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };

	if (!s)
		return "forever";
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (s % units[i].secs == 0) {
			snprintf(buf, len, "%lld%c", (long long)(s / units[i].secs), units[i].unit);
			return buf;
		}
	snprintf(buf, len, "%llds", (long long)s);
	return buf;
}

int pnm_cfg_print(FILE *out, const struct pnm_daemon_cfg *c)
{
	static const char *const levels[PNM_LEVELS] = { "minute", "hour", "day", "month" };
	char buf[32];

	fprintf(out, "db = %s\n", c->db);
	fprintf(out, "interval = %s\n",
		c->interval_ms % 1000
			? (snprintf(buf, sizeof(buf), "%llums", (unsigned long long)c->interval_ms),
			   buf)
			: span((int64_t)(c->interval_ms / 1000), buf, sizeof(buf)));
	fputs("retention = ", out);
	for (int l = 0; l < PNM_LEVELS; l++)
		fprintf(out, "%s%s=%s", l ? "," : "", levels[l],
			span(c->retention.keep[l], buf, sizeof(buf)));
	fprintf(out, "\nlisten = %s\ninterfaces =", c->listen);
	for (size_t i = 0; i < c->nglobs; i++)
		fprintf(out, " %s", c->globs[i]);
	fputc('\n', out);
	return pnm_out_flush();
}
