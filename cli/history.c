// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* history: what the daemon recorded, read from its database (read-only,
 * also while the daemon writes). docs/history.md describes the store. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cmd.h"
#include "format.h"
#include "json_writer.h"
#include "log.h"
#include "options.h"
#include "parse.h"
#include "store.h"

enum {
	OPT_DB = PNM_OPT_LONG_ONLY,
	OPT_SINCE,
	OPT_FROM,
	OPT_TO,
	OPT_BY,
	OPT_TOP,
};

static const struct pnm_opt history_opts[] = {
	{ "db", OPT_DB, PNM_ARG_REQUIRED, "PATH",
	  "the database (default " PNM_STORE_DEFAULT_PATH ")" },
	{ "since", OPT_SINCE, PNM_ARG_REQUIRED, "DURATION",
	  "the last DURATION (30m, 24h, 7d; default 24h)" },
	{ "from", OPT_FROM, PNM_ARG_REQUIRED, "TIME",
	  "from TIME: YYYY-MM-DD[ HH:MM[:SS]] in local time or with Z or +HH:MM, today, "
	  "yesterday, @UNIXSECONDS" },
	{ "to", OPT_TO, PNM_ARG_REQUIRED, "TIME", "up to TIME (default now; needs --from)" },
	{ "by", OPT_BY, PNM_ARG_REQUIRED, "KEY",
	  "process (default), unit, iface, remote, proto, or hour, day, month: one row per "
	  "period (of -n NAME, else of all processes)" },
	{ "top", OPT_TOP, PNM_ARG_REQUIRED, "N",
	  "the N busiest rows (default 20), or the last N periods; 0: all" },
	{ "name", 'n', PNM_ARG_REQUIRED, "NAME", "only processes with this name or glob" },
	{ "interface", 'i', PNM_ARG_REQUIRED, "IFACE", "only this interface (or NETNS/IFACE)" },
	{ "json", 'j', PNM_ARG_NONE, NULL, "JSON (see pnm-tc(8)) instead of a table" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

const struct pnm_cmd pnm_cmd_history = {
	"history",
	cmd_history,
	"history [--db PATH] [--since DURATION | --from TIME [--to TIME]]\n"
	"            [--by KEY] [--top N] [-n NAME] [-i IFACE] [--json]",
	"Bytes and packets per process (or unit, interface, remote, protocol, hour,\n"
	"day or month) over a past period, from the database pnm-tc daemon writes,\n"
	"with the unattributed bytes and each interface's total below. Default: the\n"
	"busiest processes of the last 24 hours.\n",
	history_opts,
	"Periods are in local time. The answer comes from the finest level that\n"
	"still holds the start (minutes for 48 hours, hours for 90 days, days for\n"
	"2 years, months after that); its start and end are aligned to that level.\n"
	"Exit status: 0 (also for an empty period), 1 when the database is missing,\n"
	"unreadable or not one this pnm-tc reads, 2 for a usage error.\n",
};

static const char *const by_names[] = { "process", "unit", "iface", "remote",
					"proto",   "hour", "day",   "month" };
static const char *const level_names[] = { "minute", "hour", "day", "month" };

struct hist_args {
	const char *db;
	struct pnm_hist_query q;
	bool json, top_set;
};

/* --since/--from/--to into q's range; a usage error's code, or 0. */
static int set_range(struct hist_args *a, const char *since, const char *from, const char *to)
{
	int64_t now = (int64_t)time(NULL);
	char err[192];
	uint64_t ms;

	if (since && (from || to))
		return pnm_usage_error("history", "--since goes without --from and --to");
	if (to && !from)
		return pnm_usage_error("history", "--to needs --from");
	a->q.to = now;
	a->q.from = now - 86400;
	if (since) {
		if (pnm_parse_duration(since, 1000, 200ULL * 366 * 86400000, &ms, err, sizeof(err)))
			return pnm_usage_error("history", "--since: %s", err);
		a->q.from = now - (int64_t)(ms / 1000);
	}
	if (from && pnm_parse_time(from, now, &a->q.from, err, sizeof(err)))
		return pnm_usage_error("history", "--from: %s", err);
	if (to && pnm_parse_time(to, now, &a->q.to, err, sizeof(err)))
		return pnm_usage_error("history", "--to: %s", err);
	if (a->q.from >= a->q.to)
		return pnm_usage_error("history", "the period is empty: --from must be before %s",
				       to ? "--to" : "now");
	return 0;
}

static int parse_history_opts(int argc, char **argv, struct hist_args *a, bool *done)
{
	const char *since = NULL, *from = NULL, *to = NULL;
	struct pnm_getopt g;
	char err[160];
	uint32_t top;
	int c;

	*done = false;
	pnm_opt_start(&g, &pnm_cmd_history, argc, argv);
	while ((c = pnm_opt_next(&g)) != PNM_OPT_END) {
		switch (c) {
		case PNM_OPT_STOP:
			*done = true;
			return g.rc;
		case OPT_DB:
			a->db = optarg;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_BY: {
			size_t i = 0;

			while (i < sizeof(by_names) / sizeof(by_names[0]) &&
			       strcmp(optarg, by_names[i]))
				i++;
			if (i == sizeof(by_names) / sizeof(by_names[0]))
				return pnm_usage_error("history",
						       "--by: use process, unit, iface, "
						       "remote, proto, hour, day or month");
			a->q.by = (enum pnm_hist_by)i;
			break;
		}
		case OPT_TOP:
			if (pnm_parse_count(optarg, 0, 1000000, &top, err, sizeof(err)))
				return pnm_usage_error("history", "--top: %s", err);
			a->q.top = top;
			a->top_set = true;
			break;
		case 'n':
			if (pnm_check_name_glob(optarg, err, sizeof(err)))
				return pnm_usage_error("history", "%s", err);
			a->q.name = optarg;
			break;
		case 'i':
			if (pnm_check_iflabel(optarg, err, sizeof(err)))
				return pnm_usage_error("history", "%s", err);
			a->q.iface = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		default:
			return PNM_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return pnm_usage_error("history", "unexpected argument '%s'", argv[optind]);
	if (!a->top_set)
		a->q.top = a->q.by >= PNM_BY_HOUR ? 0 : 20;
	return set_range(a, since, from, to);
}

/* Local time: "2026-03-04 13:00" (fmt as strftime's), or RFC 3339 with
 * the zone's offset when fmt is NULL. */
static char *fmt_local(int64_t t, const char *fmt, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t n;

	if (!localtime_r(&tt, &tm) ||
	    !(n = strftime(buf, len, fmt ? fmt : "%Y-%m-%dT%H:%M:%S%z", &tm)))
		return pnm_fmt_rfc3339(tt, buf, len);
	/* +0100 -> +01:00 */
	if (!fmt && n >= 5 && n + 2 <= len) {
		memmove(buf + n - 1, buf + n - 2, 3);
		buf[n - 2] = ':';
	}
	return buf;
}

static const char *period_fmt(enum pnm_hist_by by)
{
	return by == PNM_BY_HOUR ? "%Y-%m-%d %H:00" : by == PNM_BY_DAY ? "%Y-%m-%d" : "%Y-%m";
}

static void counts_row(FILE *out, const char *left, const struct pnm_store_counts *c)
{
	char bi[16], pi[16], bo[16], po[16];

	/* A negative sum (bytes moved between buckets) shows as 0. */
	fprintf(out, "%-40s %10s %8s %10s %8s\n", left,
		pnm_fmt_bytes(c->bytes_in > 0 ? (uint64_t)c->bytes_in : 0, bi, sizeof(bi)),
		pnm_fmt_count(c->packets_in > 0 ? (uint64_t)c->packets_in : 0, pi, sizeof(pi)),
		pnm_fmt_bytes(c->bytes_out > 0 ? (uint64_t)c->bytes_out : 0, bo, sizeof(bo)),
		pnm_fmt_count(c->packets_out > 0 ? (uint64_t)c->packets_out : 0, po, sizeof(po)));
}

static const char *shown(const char *s, char *buf, size_t len)
{
	return s && *s ? pnm_escape(s, buf, len) : "-";
}

static void print_table(FILE *out, const struct hist_args *a, const struct pnm_hist_result *r)
{
	static const char *const heads[] = { "NAME",  "UNIT", "IFACE", "REMOTE",
					     "PROTO", "HOUR", "DAY",   "MONTH" };
	char from[32], to[32], left[64], k[4 * 64 + 1], u[4 * 64 + 1];
	enum pnm_hist_by by = a->q.by;

	fmt_local(r->from, "%Y-%m-%d %H:%M", from, sizeof(from));
	fmt_local(r->to, "%Y-%m-%d %H:%M", to, sizeof(to));
	if (!r->nrows) {
		fprintf(out, "no traffic recorded from %s to %s\n", from, to);
		if (!r->nifaces)
			return;
	} else {
		fprintf(out, "from %s to %s (%s buckets)\n", from, to, level_names[r->level]);
		if (by == PNM_BY_PROCESS)
			snprintf(left, sizeof(left), "%-16s %s", "NAME", "UNIT");
		else
			snprintf(left, sizeof(left), "%s", heads[by]);
		fprintf(out, "%-40s %10s %8s %10s %8s\n", left, "BYTES IN", "PKTS IN", "BYTES OUT",
			"PKTS OUT");
	}
	for (size_t i = 0; i < r->nrows; i++) {
		const struct pnm_hist_row *w = &r->rows[i];

		if (by == PNM_BY_PROCESS)
			snprintf(left, sizeof(left), "%-16s %.23s", shown(w->name, k, sizeof(k)),
				 shown(w->unit, u, sizeof(u)));
		else if (by >= PNM_BY_HOUR)
			fmt_local(w->period, period_fmt(by), left, sizeof(left));
		else
			snprintf(left, sizeof(left), "%.40s",
				 shown(by == PNM_BY_UNIT     ? w->unit
				       : by == PNM_BY_IFACE  ? w->iface
				       : by == PNM_BY_REMOTE ? w->remote
							     : w->proto,
				       k, sizeof(k)));
		counts_row(out, left, &r->rows[i].c);
	}
	for (size_t i = 0; i < r->nifaces; i++) {
		const struct pnm_hist_iface *f = &r->ifaces[i];

		snprintf(left, sizeof(left), "%-16s %.23s", "(unattributed)",
			 pnm_escape(f->iface, k, sizeof(k)));
		counts_row(out, left, &f->unattr);
		snprintf(left, sizeof(left), "%-16s %.23s", "(iface total)", k);
		counts_row(out, left, &f->total);
	}
}

static void json_counts(struct jw *w, const struct pnm_store_counts *c)
{
	jw_int_field(w, "bytes_in", c->bytes_in);
	jw_int_field(w, "bytes_out", c->bytes_out);
	jw_int_field(w, "packets_in", c->packets_in);
	jw_int_field(w, "packets_out", c->packets_out);
}

/* A string, or null when it is unknown or not the same for the row. */
static void json_opt(struct jw *w, const char *name, const char *v)
{
	jw_name_raw(w, name);
	if (v && *v)
		jw_string(w, v);
	else
		jw_null(w);
}

static void json_row(struct jw *w, enum pnm_hist_by by, const struct pnm_hist_row *r)
{
	char t[40];

	jw_start_object(w);
	if (by == PNM_BY_PROCESS) {
		json_opt(w, "name", r->name);
		json_opt(w, "exe", r->exe);
		json_opt(w, "unit", r->unit);
		jw_name_raw(w, "uid");
		if (r->has_uid)
			jw_int(w, r->uid);
		else
			jw_null(w);
	} else if (by == PNM_BY_UNIT) {
		json_opt(w, "unit", r->unit);
	} else if (by == PNM_BY_IFACE) {
		json_opt(w, "interface", r->iface);
	} else if (by == PNM_BY_REMOTE) {
		json_opt(w, "remote", r->remote);
	} else if (by == PNM_BY_PROTO) {
		json_opt(w, "proto", r->proto);
	} else {
		jw_string_field(w, "period", fmt_local(r->period, NULL, t, sizeof(t)));
	}
	json_counts(w, &r->c);
	jw_end_object(w);
}

static int print_json(FILE *out, const struct hist_args *a, const struct pnm_hist_result *r)
{
	struct jw *w = jw_new(out, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	char t[40];

	if (!w)
		return -ENOMEM;
	jw_start_object(w);
	jw_string_field(w, "from", fmt_local(r->from, NULL, t, sizeof(t)));
	jw_string_field(w, "to", fmt_local(r->to, NULL, t, sizeof(t)));
	jw_string_field(w, "by", by_names[a->q.by]);
	jw_string_field(w, "level", level_names[r->level]);
	jw_name_raw(w, "rows");
	jw_start_array(w);
	for (size_t i = 0; i < r->nrows; i++)
		json_row(w, a->q.by, &r->rows[i]);
	jw_end_array(w);
	jw_name_raw(w, "unattributed");
	jw_start_object(w);
	json_counts(w, &r->unattr);
	jw_end_object(w);
	jw_name_raw(w, "interfaces");
	jw_start_object(w);
	for (size_t i = 0; i < r->nifaces; i++) {
		jw_name(w, r->ifaces[i].iface);
		jw_start_object(w);
		json_counts(w, &r->ifaces[i].total);
		jw_name_raw(w, "unattributed");
		jw_start_object(w);
		json_counts(w, &r->ifaces[i].unattr);
		jw_end_object(w);
		jw_end_object(w);
	}
	jw_end_object(w);
	jw_end_object(w);
	jw_destroy(w);
	return 0;
}

int cmd_history(int argc, char **argv)
{
	struct hist_args a = { .db = PNM_STORE_DEFAULT_PATH };
	struct pnm_hist_result r;
	struct pnm_store *s;
	char err[512];
	bool done;
	int rc;

	rc = parse_history_opts(argc, argv, &a, &done);
	if (rc || done)
		return rc;
	if (pnm_store_open(&s, a.db, true, err, sizeof(err))) {
		pr_warn("%s", err);
		return PNM_EXIT_FAIL;
	}
	rc = pnm_store_query(s, &a.q, &r, err, sizeof(err));
	pnm_store_close(s);
	if (rc) {
		pr_warn("%s", err);
		return PNM_EXIT_FAIL;
	}
	if (a.json)
		rc = print_json(stdout, &a, &r);
	else
		print_table(stdout, &a, &r);
	pnm_hist_result_free(&r);
	if (rc) {
		pr_warn("cannot write the JSON: %s", strerror(-rc));
		return PNM_EXIT_FAIL;
	}
	return pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK;
}
