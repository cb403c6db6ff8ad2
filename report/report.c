// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "grow.h"
#include "json_writer.h"
#include "report.h"

#define LABEL_MAX (PNM_NETNS_LEN + PNM_IFNAME_LEN)

static bool view_iface(const struct pnm_view *v, const struct pnm_iface *i)
{
	return !v->iface || v->iface->slot == i->slot;
}

bool pnm_view_wants(const struct pnm_view *v, uint32_t pid, uint64_t start_ns, const char *name)
{
	bool in = !v->pids && !v->procs;

	for (size_t i = 0; v->pids && i < v->pids->n && !in; i++)
		in = v->pids->pid[i] == pid;
	for (size_t i = 0; v->procs && i < v->nprocs && !in; i++)
		in = v->procs[i].pid == pid && v->procs[i].start_ns == start_ns;
	/* -n: the exact name, or a glob. */
	return in && (!v->name || !strcmp(v->name, name) || !fnmatch(v->name, name, 0));
}

/* Is process p part of the view; its figures restricted to the view. */
static bool view_proc(const struct pnm_view *v, const struct pnm_proc *p, struct pnm_counts *c)
{
	bool seen = false;

	memset(c, 0, sizeof(*c));
	if (!pnm_view_wants(v, p->pid, p->start_ns, p->name))
		return false;
	for (size_t i = 0; i < p->nifs; i++) {
		if (v->iface && v->iface->slot != p->ifs[i].slot)
			continue;
		pnm_counts_add(c, &p->ifs[i].c);
		seen = true;
	}
	/* Selected by PID: shown even without counters. */
	return seen || v->pids || v->procs;
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a == b ? 0 : a < b ? 1 : -1;
}

static int cmp_double_desc(double a, double b)
{
	return a == b ? 0 : a < b ? 1 : -1;
}

static unsigned int sort_key; /* for qsort's comparator */

static int by_key(const void *a, const void *b)
{
	const struct pnm_row *x = a, *y = b;
	int r = 0;

	switch (sort_key) {
	case PNM_SORT_IN:
		if (x->p->rated && y->p->rated)
			r = cmp_double_desc(x->p->rate_in, y->p->rate_in);
		if (!r)
			r = cmp_u64_desc(x->c.bytes_in, y->c.bytes_in);
		break;
	case PNM_SORT_OUT:
		if (x->p->rated && y->p->rated)
			r = cmp_double_desc(x->p->rate_out, y->p->rate_out);
		if (!r)
			r = cmp_u64_desc(x->c.bytes_out, y->c.bytes_out);
		break;
	case PNM_SORT_NAME:
		r = strcmp(x->p->name, y->p->name);
		break;
	case PNM_SORT_PID:
		break;
	default:
		if (x->p->rated && y->p->rated)
			r = cmp_double_desc(x->p->rate_in + x->p->rate_out,
					    y->p->rate_in + y->p->rate_out);
		if (!r)
			r = cmp_u64_desc(x->c.bytes_in + x->c.bytes_out,
					 y->c.bytes_in + y->c.bytes_out);
	}
	if (!r && x->p->pid != y->p->pid)
		r = x->p->pid < y->p->pid ? -1 : 1;
	if (!r && x->p->start_ns != y->p->start_ns)
		r = x->p->start_ns < y->p->start_ns ? 1 : -1; /* newest first */
	return r;
}

long pnm_report_rows(const struct pnm_snapshot *s, const struct pnm_view *v, struct pnm_row **rows)
{
	struct pnm_row *r = calloc(s->nprocs ? s->nprocs : 1, sizeof(*r));
	size_t n = 0;

	*rows = r;
	if (!r)
		return -1;
	for (size_t i = 0; i < s->nprocs; i++) {
		if (view_proc(v, &s->procs[i], &r[n].c))
			r[n++].p = &s->procs[i];
	}
	sort_key = v->sort;
	if (n > 1)
		qsort(r, n, sizeof(*r), by_key);
	if (v->top && n > v->top)
		n = v->top;
	return (long)n;
}

static const char *iface_label(const struct pnm_snapshot *s, uint32_t slot)
{
	for (size_t i = 0; i < s->nifaces; i++)
		if (s->ifaces[i].slot == slot)
			return s->ifaces[i].label;
	return NULL;
}

/* Is connection row c on an interface of the view? */
static bool view_conn(const struct pnm_view *v, const struct pnm_conn_row *c)
{
	return !v->iface || v->iface->slot == c->slot;
}

/* --by: connections of the shown processes grouped by remote address or
 * protocol. */
struct by_group {
	char key[64];
	struct pnm_counts c;
	uint64_t conns;
};

/* The groups, in *out (caller frees): their number, or -ENOMEM. */
static long by_groups(const struct pnm_view *v, const struct pnm_row *rows, long n,
		      struct by_group **out)
{
	struct by_group *g = NULL;
	size_t cap = 0;
	long ng = 0;

	*out = NULL;
	for (long i = 0; i < n; i++) {
		const struct pnm_proc *p = rows[i].p;

		for (size_t j = 0; j < p->nconns; j++) {
			const struct pnm_conn_row *c = &p->conns[j];
			char key[64];
			long k;

			if (!view_conn(v, c))
				continue;
			if (v->by == PNM_BY_REMOTE)
				pnm_fmt_addr(c->t.family, c->t.remote, key, sizeof(key));
			else
				snprintf(key, sizeof(key), "%s", pnm_proto_name(c->t.proto));
			for (k = 0; k < ng && strcmp(g[k].key, key); k++)
				;
			if (k == ng) {
				if (pnm_grow(&g, &cap, (size_t)ng + 1, sizeof(*g), 16)) {
					free(g);
					return -ENOMEM;
				}
				memset(&g[ng], 0, sizeof(g[ng]));
				snprintf(g[ng].key, sizeof(g[ng].key), "%s", key);
				ng++;
			}
			pnm_counts_add(&g[k].c, &c->c);
			g[k].conns++;
		}
	}
	*out = g;
	return ng;
}

static int by_total_bytes(const void *a, const void *b)
{
	const struct by_group *x = a, *y = b;
	uint64_t tx = x->c.bytes_in + x->c.bytes_out, ty = y->c.bytes_in + y->c.bytes_out;

	return tx == ty ? strcmp(x->key, y->key) : tx < ty ? 1 : -1;
}

void pnm_report_by(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v)
{
	struct pnm_row *rows;
	struct by_group *g;
	long n = pnm_report_rows(s, v, &rows), ng;

	ng = n < 0 ? -1 : by_groups(v, rows, n, &g);
	fprintf(out, "%-40s %10s %8s %10s %8s %6s\n", v->by == PNM_BY_REMOTE ? "REMOTE" : "PROTO",
		"BYTES IN", "PKTS IN", "BYTES OUT", "PKTS OUT", "CONNS");
	if (ng > 1)
		qsort(g, (size_t)ng, sizeof(*g), by_total_bytes);
	for (long i = 0; i < ng; i++) {
		char bi[16], pi[16], bo[16], po[16];

		fprintf(out, "%-40s %10s %8s %10s %8s %6llu\n", g[i].key,
			pnm_fmt_bytes(g[i].c.bytes_in, bi, sizeof(bi)),
			pnm_fmt_count(g[i].c.packets_in, pi, sizeof(pi)),
			pnm_fmt_bytes(g[i].c.bytes_out, bo, sizeof(bo)),
			pnm_fmt_count(g[i].c.packets_out, po, sizeof(po)),
			(unsigned long long)g[i].conns);
	}
	if (ng > 0)
		free(g);
	free(rows);
}

static void put_counts(struct jw *w, const struct pnm_counts *c)
{
	jw_uint_field(w, "bytes_in", c->bytes_in);
	jw_uint_field(w, "bytes_out", c->bytes_out);
	jw_uint_field(w, "packets_in", c->packets_in);
	jw_uint_field(w, "packets_out", c->packets_out);
}

/* "key": {the four counters}; key escaped unless literal. */
static void put_counts_obj(struct jw *w, const char *key, bool literal, const struct pnm_counts *c)
{
	if (literal)
		jw_name_raw(w, key);
	else
		jw_name(w, key);
	jw_start_object(w);
	put_counts(w, c);
	jw_end_object(w);
}

static void put_rates(struct jw *w, double in, double out)
{
	jw_float_field(w, "rate_in", in);
	jw_float_field(w, "rate_out", out);
}

static void put_conn(struct jw *w, const struct pnm_snapshot *s, const struct pnm_conn_row *c)
{
	const char *ifname = iface_label(s, c->slot);
	char l[80], r[80];

	jw_start_object(w);
	jw_string_field(w, "proto", pnm_proto_name(c->t.proto));
	jw_string_field(w, "local",
			pnm_fmt_endpoint(c->t.family, c->t.local, c->t.lport, l, sizeof(l)));
	jw_string_field(w, "remote",
			pnm_fmt_endpoint(c->t.family, c->t.remote, c->t.rport, r, sizeof(r)));
	jw_string_field(w, "state", c->t.proto == 6 ? pnm_tcp_state_name(c->state) : "-");
	jw_bool_field(w, "closed", c->closed);
	jw_string_field(w, "interface", ifname ? ifname : "?");
	put_counts(w, &c->c);
	jw_end_object(w);
}

static void put_proc(struct jw *w, const struct pnm_snapshot *s, const struct pnm_view *v,
		     const struct pnm_row *r)
{
	const struct pnm_proc *p = r->p;

	jw_name(w, p->key);
	jw_start_object(w);
	jw_uint_field(w, "pid", p->pid);
	jw_string_field(w, "name", p->name);
	jw_bool_field(w, "exited", p->exited);
	jw_float_field(w, "runtime", pnm_proc_runtime(s, p));
	jw_name_raw(w, "current");
	jw_start_object(w);
	put_counts(w, &r->c);
	if (p->rated)
		put_rates(w, p->rate_in, p->rate_out);
	jw_uint_field(w, "tcp_connections", p->tcp_conns);
	jw_uint_field(w, "udp_connections", p->udp_conns);
	jw_end_object(w);
	if (p->rated) {
		jw_name_raw(w, "peak");
		jw_start_object(w);
		put_rates(w, p->peak_in, p->peak_out);
		jw_end_object(w);
	}
	jw_name_raw(w, "interfaces");
	jw_start_object(w);
	for (size_t j = 0; j < p->nifs; j++) {
		const char *name = iface_label(s, p->ifs[j].slot);

		if (!name || (v->iface && v->iface->slot != p->ifs[j].slot))
			continue;
		put_counts_obj(w, name, false, &p->ifs[j].c);
	}
	jw_end_object(w);
	if (v->details) {
		jw_name_raw(w, "connections");
		jw_start_array(w);
		for (size_t j = 0; j < p->nconns; j++) {
			if (!view_conn(v, &p->conns[j]))
				continue;
			put_conn(w, s, &p->conns[j]);
		}
		jw_end_array(w);
	}
	jw_end_object(w);
}

/* The time, and each interface in view with its totals; the
 * unattributed and overflow buckets summed over them. */
static void put_head(struct jw *w, const struct pnm_snapshot *s, const struct pnm_view *v)
{
	struct pnm_counts unattr = { 0 }, overflow = { 0 }, by[PNM_U_COUNT] = { 0 };
	char ts[32];

	jw_string_field(w, "timestamp", pnm_fmt_rfc3339(s->taken, ts, sizeof(ts)));
	jw_name_raw(w, "interfaces");
	jw_start_object(w);
	for (size_t i = 0; i < s->nifaces; i++) {
		const struct pnm_iface *ifc = &s->ifaces[i];

		if (!view_iface(v, ifc))
			continue;
		jw_name(w, ifc->label);
		jw_start_object(w);
		jw_uint_field(w, "ifindex", ifc->ifindex);
		jw_string_field(w, "netns", ifc->netns);
		jw_string_field(w, "layer", pnm_layer_name(ifc->layer));
		put_counts(w, &ifc->total);
		jw_end_object(w);
		pnm_counts_add(&unattr, &ifc->unattr);
		pnm_counts_add(&overflow, &ifc->overflow);
		for (int u = 0; u < PNM_U_COUNT; u++)
			pnm_counts_add(&by[u], &ifc->unattr_by[u]);
	}
	jw_end_object(w);
	/* by_proto and overflow add up to the unattributed counters. */
	jw_name_raw(w, "unattributed");
	jw_start_object(w);
	put_counts(w, &unattr);
	jw_name_raw(w, "by_proto");
	jw_start_object(w);
	for (int u = 0; u < PNM_U_COUNT; u++)
		put_counts_obj(w, pnm_uclass_name((unsigned int)u), true, &by[u]);
	jw_end_object(w);
	jw_end_object(w);
	put_counts_obj(w, "overflow", true, &overflow);
}

/* --aggregate: the shown processes summed. */
static void put_aggregated(struct jw *w, const struct pnm_row *rows, long n)
{
	struct pnm_counts sum = { 0 };
	double rin = 0, rout = 0;
	bool rated = n > 0;

	jw_name_raw(w, "aggregated");
	jw_start_object(w);
	jw_name_raw(w, "pids");
	jw_start_array(w);
	for (long i = 0; i < n; i++) {
		jw_uint(w, rows[i].p->pid);
		pnm_counts_add(&sum, &rows[i].c);
		rin += rows[i].p->rate_in;
		rout += rows[i].p->rate_out;
		rated = rated && rows[i].p->rated;
	}
	jw_end_array(w);
	jw_uint_field(w, "processes", (uint64_t)n);
	put_counts(w, &sum);
	if (rated)
		put_rates(w, rin, rout);
	jw_end_object(w);
}

/* --by: the groups, most bytes first. */
static void put_by(struct jw *w, const struct pnm_view *v, const struct pnm_row *rows, long n)
{
	struct by_group *g;
	long ng = by_groups(v, rows, n, &g);

	if (ng > 1)
		qsort(g, (size_t)ng, sizeof(*g), by_total_bytes);
	jw_name_raw(w, v->by == PNM_BY_REMOTE ? "by_remote" : "by_proto");
	jw_start_object(w);
	for (long i = 0; i < ng; i++) {
		jw_name(w, g[i].key);
		jw_start_object(w);
		put_counts(w, &g[i].c);
		jw_uint_field(w, "connections", g[i].conns);
		jw_end_object(w);
	}
	jw_end_object(w);
	free(g);
}

int pnm_report_json_write(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v,
			  int flags, const double *elapsed)
{
	struct pnm_row *rows;
	long n = pnm_report_rows(s, v, &rows);
	struct jw *w = jw_new(out, flags);

	if (!w) {
		free(rows);
		return -ENOMEM;
	}
	jw_start_object(w);
	put_head(w, s, v);
	if (v->aggregate && n >= 0)
		put_aggregated(w, rows, n);
	if (v->by && n >= 0)
		put_by(w, v, rows, n);
	jw_name_raw(w, "processes");
	jw_start_object(w);
	for (long i = 0; i < n; i++)
		put_proc(w, s, v, &rows[i]);
	jw_end_object(w);
	if (elapsed)
		jw_float_field(w, "elapsed", *elapsed);
	jw_end_object(w);
	jw_destroy(w);
	free(rows);
	return ferror(out) ? -EIO : 0;
}

static void row(FILE *out, const char *pid, const char *name, const char *state, const char *ifname,
		const struct pnm_counts *c)
{
	char bi[16], pi[16], bo[16], po[16], label[4 * (PNM_NETNS_LEN + PNM_IFNAME_LEN) + 1];

	/* Namespace names are file names: anything but '/' and NUL. */
	fprintf(out, "%-8s %-16s %-6s %-15s %10s %8s %10s %8s\n", pid, name, state,
		pnm_escape(ifname, label, sizeof(label)),
		pnm_fmt_bytes(c->bytes_in, bi, sizeof(bi)),
		pnm_fmt_count(c->packets_in, pi, sizeof(pi)),
		pnm_fmt_bytes(c->bytes_out, bo, sizeof(bo)),
		pnm_fmt_count(c->packets_out, po, sizeof(po)));
}

/* A connection under its process: "  tcp 10.0.0.1:80 > 10.0.0.2:5555". */
static void conn_line(FILE *out, const struct pnm_snapshot *s, const struct pnm_conn_row *c)
{
	char l[80], r[80], bi[16], pi[16], bo[16], po[16], label[4 * LABEL_MAX + 1];
	const char *ifname = iface_label(s, c->slot);

	fprintf(out, "  %s %s > %s %s%s %s: in %s/%s out %s/%s\n", pnm_proto_name(c->t.proto),
		pnm_fmt_endpoint(c->t.family, c->t.local, c->t.lport, l, sizeof(l)),
		pnm_fmt_endpoint(c->t.family, c->t.remote, c->t.rport, r, sizeof(r)),
		c->t.proto == 6 ? pnm_tcp_state_name(c->state) : "-", c->closed ? " (closed)" : "",
		pnm_escape(ifname ? ifname : "?", label, sizeof(label)),
		pnm_fmt_bytes(c->c.bytes_in, bi, sizeof(bi)),
		pnm_fmt_count(c->c.packets_in, pi, sizeof(pi)),
		pnm_fmt_bytes(c->c.bytes_out, bo, sizeof(bo)),
		pnm_fmt_count(c->c.packets_out, po, sizeof(po)));
}

void pnm_report_table(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v)
{
	const struct pnm_counts zero = { 0 };
	struct pnm_row *rows;
	long n;

	fprintf(out, "%-8s %-16s %-6s %-15s %10s %8s %10s %8s\n", "PID", "NAME", "STATE", "IFACE",
		"BYTES IN", "PKTS IN", "BYTES OUT", "PKTS OUT");
	n = pnm_report_rows(s, v, &rows);
	for (long i = 0; i < n; i++) {
		const struct pnm_proc *p = rows[i].p;
		char pid[16], name[4 * PNM_COMM_LEN + 1];
		const char *state = p->exited ? "exited" : "live";
		bool any = false;

		snprintf(pid, sizeof(pid), "%u", p->pid);
		pnm_escape(p->name, name, sizeof(name));
		for (size_t j = 0; j < p->nifs; j++) {
			const char *ifname = iface_label(s, p->ifs[j].slot);

			if (!ifname || (v->iface && v->iface->slot != p->ifs[j].slot))
				continue;
			row(out, pid, name, state, ifname, &p->ifs[j].c);
			any = true;
		}
		if (!any)
			row(out, pid, name, state, v->iface ? v->iface->label : "-", &zero);
		for (size_t j = 0; v->details && j < p->nconns; j++)
			if (view_conn(v, &p->conns[j]))
				conn_line(out, s, &p->conns[j]);
	}
	if (v->aggregate && n >= 0) {
		struct pnm_counts sum = { 0 };
		char what[32];

		for (long i = 0; i < n; i++)
			pnm_counts_add(&sum, &rows[i].c);
		snprintf(what, sizeof(what), "(%ld processes)", n);
		row(out, "TOTAL", what, "", v->iface ? v->iface->label : "(all)", &sum);
	}
	free(rows);
	if (v->pids || v->procs || v->name)
		return;
	for (size_t i = 0; i < s->nifaces; i++) {
		const struct pnm_iface *ifc = &s->ifaces[i];

		if (!view_iface(v, ifc))
			continue;
		row(out, "-", "(unattributed)", "", ifc->label, &ifc->unattr);
		for (int u = 0; u < PNM_U_COUNT; u++) {
			const struct pnm_counts *c = &ifc->unattr_by[u];
			char what[24];

			if (!(c->packets_in | c->packets_out))
				continue;
			snprintf(what, sizeof(what), "(unattr: %s)",
				 pnm_uclass_name((unsigned int)u));
			row(out, "-", what, "", ifc->label, c);
		}
	}
	for (size_t i = 0; i < s->nifaces; i++) {
		const struct pnm_iface *ifc = &s->ifaces[i];

		if (!view_iface(v, ifc))
			continue;
		row(out, "-", "(iface total)", "", ifc->label, &ifc->total);
	}
}

/* r: rate in, out, peak in, out; peaks < 0 are shown as "-". */
static void rate_row(FILE *out, const char *pid, const char *name, const char *state,
		     const double r[4], const struct pnm_counts *c)
{
	char ri[16], ro[16], pi[16] = "-", po[16] = "-", bi[16], bo[16];

	if (r[2] >= 0)
		pnm_fmt_rate(r[2], pi, sizeof(pi));
	if (r[3] >= 0)
		pnm_fmt_rate(r[3], po, sizeof(po));
	fprintf(out, "%-8s %-16s %-6s %11s %11s %11s %11s %10s %10s\n", pid, name, state,
		pnm_fmt_rate(r[0], ri, sizeof(ri)), pnm_fmt_rate(r[1], ro, sizeof(ro)), pi, po,
		pnm_fmt_bytes(c->bytes_in, bi, sizeof(bi)),
		pnm_fmt_bytes(c->bytes_out, bo, sizeof(bo)));
}

void pnm_report_rates(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v)
{
	struct pnm_row *rows;
	double sum[4] = { 0 };
	struct pnm_counts total = { 0 };
	long n;

	fprintf(out, "%-8s %-16s %-6s %11s %11s %11s %11s %10s %10s\n", "PID", "NAME", "STATE",
		"RATE IN", "RATE OUT", "PEAK IN", "PEAK OUT", "TOTAL IN", "TOTAL OUT");
	n = pnm_report_rows(s, v, &rows);
	for (long i = 0; i < n; i++) {
		const struct pnm_proc *p = rows[i].p;
		const double r[4] = { p->rate_in, p->rate_out, p->peak_in, p->peak_out };
		char pid[16], name[4 * PNM_COMM_LEN + 1];

		snprintf(pid, sizeof(pid), "%u", p->pid);
		rate_row(out, pid, pnm_escape(p->name, name, sizeof(name)),
			 p->exited ? "exited" : "live", r, &rows[i].c);
		for (int k = 0; k < 4; k++)
			sum[k] += r[k];
		pnm_counts_add(&total, &rows[i].c);
	}
	if (v->aggregate && n >= 0) {
		char what[32];

		/* The peak of a sum is not the sum of peaks: rates only. */
		sum[2] = sum[3] = -1;
		snprintf(what, sizeof(what), "(%ld processes)", n);
		rate_row(out, "TOTAL", what, "", sum, &total);
	}
	free(rows);
}
