// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "grow.h"
#include "rates.h"

static int cmp_entry(const void *a, const void *b)
{
	const struct pnm_rate_entry *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start_ns == y->start_ns ? 0 : x->start_ns < y->start_ns ? -1 : 1;
}

static struct pnm_rate_entry *find(struct pnm_rates *r, uint32_t pid, uint64_t start_ns)
{
	struct pnm_rate_entry key = { .pid = pid, .start_ns = start_ns };

	return r->n ? bsearch(&key, r->e, r->n, sizeof(*r->e), cmp_entry) : NULL;
}

int pnm_rates_update(struct pnm_rates *r, struct pnm_snapshot *s, const struct pnm_iface *iface,
		     double dt)
{
	if (r->primed)
		r->elapsed += dt;
	for (size_t i = 0; i < s->nprocs; i++) {
		struct pnm_proc *p = &s->procs[i];
		struct pnm_rate_entry *e = find(r, p->pid, p->start_ns);
		uint64_t in = 0, out = 0;
		bool appended = false;

		for (size_t j = 0; j < p->nifs; j++) {
			if (iface && iface->slot != p->ifs[j].slot)
				continue;
			in += p->ifs[j].c.bytes_in;
			out += p->ifs[j].c.bytes_out;
		}
		if (!e) {
			if (pnm_grow(&r->e, &r->cap, r->n + 1, sizeof(*r->e), 64))
				return -ENOMEM;
			e = &r->e[r->n++];
			memset(e, 0, sizeof(*e));
			e->pid = p->pid;
			e->start_ns = p->start_ns;
			/* Seen from the start: its earlier bytes are not ours. A
			 * process that appears later moved all its bytes since. */
			if (!r->primed) {
				e->in = e->in0 = in;
				e->out = e->out0 = out;
			}
			appended = true;
		}
		snprintf(e->name, sizeof(e->name), "%s", p->name);
		e->exited = p->exited;
		if (r->primed && dt > 0) {
			p->rated = true;
			p->rate_in = in >= e->in ? (double)(in - e->in) / dt : 0;
			p->rate_out = out >= e->out ? (double)(out - e->out) / dt : 0;
			if (p->rate_in > e->peak_in)
				e->peak_in = p->rate_in;
			if (p->rate_out > e->peak_out)
				e->peak_out = p->rate_out;
			p->peak_in = e->peak_in;
			p->peak_out = e->peak_out;
		}
		e->in = in;
		e->out = out;
		/* A new entry went at the end: keep the lookup's order. */
		if (appended && r->n > 1 && cmp_entry(&r->e[r->n - 2], &r->e[r->n - 1]) > 0)
			qsort(r->e, r->n, sizeof(*r->e), cmp_entry);
	}
	r->primed = true;
	return 0;
}

void pnm_rates_free(struct pnm_rates *r)
{
	free(r->e);
	memset(r, 0, sizeof(*r));
}

/* The summary as a snapshot-like list: rows in the view's order. */
struct sum_row {
	const struct pnm_rate_entry *e;
	uint64_t in, out;
};

static unsigned int sum_sort;

static int by_sum(const void *a, const void *b)
{
	const struct sum_row *x = a, *y = b;
	uint64_t kx, ky;
	int r;

	switch (sum_sort) {
	case PNM_SORT_NAME:
		r = strcmp(x->e->name, y->e->name);
		if (r)
			return r;
		break;
	case PNM_SORT_PID:
		break;
	default:
		kx = sum_sort == PNM_SORT_IN	? x->in
		     : sum_sort == PNM_SORT_OUT ? x->out
						: x->in + x->out;
		ky = sum_sort == PNM_SORT_IN	? y->in
		     : sum_sort == PNM_SORT_OUT ? y->out
						: y->in + y->out;
		if (kx != ky)
			return kx < ky ? 1 : -1;
	}
	if (x->e->pid != y->e->pid)
		return x->e->pid < y->e->pid ? -1 : 1;
	return x->e->start_ns < y->e->start_ns ? 1 : -1;
}

static long summary_rows(const struct pnm_rates *r, const struct pnm_view *v, struct sum_row **out)
{
	struct sum_row *rows = calloc(r->n ? r->n : 1, sizeof(*rows));
	size_t n = 0;

	*out = rows;
	if (!rows)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		const struct pnm_rate_entry *e = &r->e[i];

		if (!pnm_view_wants(v, e->pid, e->start_ns, e->name) ||
		    (e->in <= e->in0 && e->out <= e->out0 && !v->pids && !v->procs))
			continue;
		rows[n].e = e;
		/* A process's count can go down: an accepted socket's bytes
		 * move from its listener's owner to its first user. */
		rows[n].in = e->in > e->in0 ? e->in - e->in0 : 0;
		rows[n].out = e->out > e->out0 ? e->out - e->out0 : 0;
		n++;
	}
	sum_sort = v->sort;
	if (n > 1)
		qsort(rows, n, sizeof(*rows), by_sum);
	if (v->top && n > v->top)
		n = v->top;
	return (long)n;
}

void pnm_rates_summary_table(FILE *out, const struct pnm_rates *r, const struct pnm_view *v)
{
	struct sum_row *rows;
	uint64_t tin = 0, tout = 0;
	char dur[32];
	long n = summary_rows(r, v, &rows);
	double t = r->elapsed > 0 ? r->elapsed : 1;

	fprintf(out, "summary over %s: bytes moved, average and peak rates\n",
		pnm_fmt_duration(r->elapsed, dur, sizeof(dur)));
	fprintf(out, "%-8s %-16s %-6s %10s %10s %11s %11s %11s %11s\n", "PID", "NAME", "STATE",
		"BYTES IN", "BYTES OUT", "AVG IN", "AVG OUT", "PEAK IN", "PEAK OUT");
	for (long i = 0; i < n; i++) {
		const struct pnm_rate_entry *e = rows[i].e;
		char name[4 * PNM_COMM_LEN + 1], bi[16], bo[16], ai[16], ao[16], pi[16], po[16];

		fprintf(out, "%-8u %-16s %-6s %10s %10s %11s %11s %11s %11s\n", e->pid,
			pnm_escape(e->name, name, sizeof(name)), e->exited ? "exited" : "live",
			pnm_fmt_bytes(rows[i].in, bi, sizeof(bi)),
			pnm_fmt_bytes(rows[i].out, bo, sizeof(bo)),
			pnm_fmt_rate((double)rows[i].in / t, ai, sizeof(ai)),
			pnm_fmt_rate((double)rows[i].out / t, ao, sizeof(ao)),
			pnm_fmt_rate(e->peak_in, pi, sizeof(pi)),
			pnm_fmt_rate(e->peak_out, po, sizeof(po)));
		tin += rows[i].in;
		tout += rows[i].out;
	}
	if (v->aggregate && n >= 0) {
		char what[32], bi[16], bo[16], ai[16], ao[16];

		snprintf(what, sizeof(what), "(%ld processes)", n);
		fprintf(out, "%-8s %-16s %-6s %10s %10s %11s %11s %11s %11s\n", "TOTAL", what, "",
			pnm_fmt_bytes(tin, bi, sizeof(bi)), pnm_fmt_bytes(tout, bo, sizeof(bo)),
			pnm_fmt_rate((double)tin / t, ai, sizeof(ai)),
			pnm_fmt_rate((double)tout / t, ao, sizeof(ao)), "-", "-");
	}
	free(rows);
}

struct json_object *pnm_rates_summary_json(const struct pnm_rates *r, const struct pnm_view *v)
{
	struct json_object *o = json_object_new_object(), *procs = json_object_new_object();
	struct sum_row *rows;
	long n = summary_rows(r, v, &rows);
	double t = r->elapsed > 0 ? r->elapsed : 1;
	uint64_t tin = 0, tout = 0;

	json_object_object_add(o, "duration", json_object_new_double(r->elapsed));
	for (long i = 0; i < n; i++) {
		const struct pnm_rate_entry *e = rows[i].e;
		struct json_object *p = json_object_new_object(), *peak = json_object_new_object();
		char key[32];

		json_object_object_add(p, "pid", json_object_new_uint64(e->pid));
		json_object_object_add(p, "name", json_object_new_string(e->name));
		json_object_object_add(p, "exited", json_object_new_boolean(e->exited));
		json_object_object_add(p, "bytes_in", json_object_new_uint64(rows[i].in));
		json_object_object_add(p, "bytes_out", json_object_new_uint64(rows[i].out));
		json_object_object_add(p, "avg_rate_in",
				       json_object_new_double((double)rows[i].in / t));
		json_object_object_add(p, "avg_rate_out",
				       json_object_new_double((double)rows[i].out / t));
		json_object_object_add(peak, "rate_in", json_object_new_double(e->peak_in));
		json_object_object_add(peak, "rate_out", json_object_new_double(e->peak_out));
		json_object_object_add(p, "peak", peak);
		/* Two instances of one PID: the older keeps its start time. */
		snprintf(key, sizeof(key), "%u", e->pid);
		if (json_object_object_get_ex(procs, key, NULL))
			snprintf(key, sizeof(key), "%u@%llu", e->pid,
				 (unsigned long long)e->start_ns);
		json_object_object_add(procs, key, p);
		tin += rows[i].in;
		tout += rows[i].out;
	}
	json_object_object_add(o, "processes", procs);
	if (v->aggregate && n >= 0) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, "processes", json_object_new_uint64((uint64_t)n));
		json_object_object_add(a, "bytes_in", json_object_new_uint64(tin));
		json_object_object_add(a, "bytes_out", json_object_new_uint64(tout));
		json_object_object_add(a, "avg_rate_in", json_object_new_double((double)tin / t));
		json_object_object_add(a, "avg_rate_out", json_object_new_double((double)tout / t));
		json_object_object_add(o, "aggregated", a);
	}
	free(rows);
	return o;
}
