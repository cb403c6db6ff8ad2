// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "snapshot.h"

void pnm_counts_add(struct pnm_counts *a, const struct pnm_counts *b)
{
	a->bytes_in += b->bytes_in;
	a->bytes_out += b->bytes_out;
	a->packets_in += b->packets_in;
	a->packets_out += b->packets_out;
}

void pnm_counts_from(struct pnm_counts *c, const struct pnm_counter *dir)
{
	c->bytes_in += dir[PNM_IN].bytes;
	c->packets_in += dir[PNM_IN].packets;
	c->bytes_out += dir[PNM_OUT].bytes;
	c->packets_out += dir[PNM_OUT].packets;
}

struct pnm_proc *pnm_snapshot_find(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].pid == pid && s->procs[i].start_ns == start_ns)
			return &s->procs[i];
	return NULL;
}

struct pnm_iface *pnm_snapshot_iface(struct pnm_snapshot *s, const char *label)
{
	for (size_t i = 0; i < s->nifaces; i++)
		if (!strcmp(s->ifaces[i].label, label))
			return &s->ifaces[i];
	return NULL;
}

struct pnm_iface *pnm_snapshot_iface_by_slot(struct pnm_snapshot *s, uint32_t slot)
{
	for (size_t i = 0; i < s->nifaces; i++)
		if (s->ifaces[i].slot == slot)
			return &s->ifaces[i];
	return NULL;
}

/* The row of (pid, start_ns): the last one if it is that process, else
 * (search) any, else a new one. */
static struct pnm_proc *proc_row(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns,
				 bool search)
{
	struct pnm_proc *p = NULL;

	if (s->nprocs && s->procs[s->nprocs - 1].pid == pid &&
	    s->procs[s->nprocs - 1].start_ns == start_ns)
		return &s->procs[s->nprocs - 1];
	if (search)
		p = pnm_snapshot_find(s, pid, start_ns);
	if (p)
		return p;
	if (pnm_grow(&s->procs, &s->procs_cap, s->nprocs + 1, sizeof(*s->procs), 64))
		return NULL;
	p = &s->procs[s->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->start_ns = start_ns;
	return p;
}

static struct pnm_proc *add_row(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns,
				uint32_t slot, const struct pnm_counts *c, bool search)
{
	struct pnm_proc *p = proc_row(s, pid, start_ns, search);

	if (!p)
		return NULL;
	for (size_t i = 0; i < p->nifs; i++) {
		if (p->ifs[i].slot == slot) {
			pnm_counts_add(&p->ifs[i].c, c);
			pnm_counts_add(&p->total, c);
			return p;
		}
	}
	if (pnm_grow(&p->ifs, &p->ifs_cap, p->nifs + 1, sizeof(*p->ifs), 2))
		return NULL;
	p->ifs[p->nifs].slot = slot;
	p->ifs[p->nifs].c = *c;
	p->nifs++;
	pnm_counts_add(&p->total, c);
	return p;
}

struct pnm_proc *pnm_snapshot_add(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns,
				  uint32_t slot, const struct pnm_counts *c)
{
	return add_row(s, pid, start_ns, slot, c, true);
}

struct pnm_proc *pnm_snapshot_append(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns,
				     uint32_t slot, const struct pnm_counts *c)
{
	return add_row(s, pid, start_ns, slot, c, false);
}

int pnm_proc_cmp(const void *a, const void *b)
{
	const struct pnm_proc *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start_ns == y->start_ns ? 0 : x->start_ns < y->start_ns ? -1 : 1;
}

struct pnm_proc *pnm_snapshot_lookup(struct pnm_snapshot *s, uint32_t pid, uint64_t start_ns)
{
	struct pnm_proc key = { .pid = pid, .start_ns = start_ns };

	return s->nprocs ? bsearch(&key, s->procs, s->nprocs, sizeof(key), pnm_proc_cmp) : NULL;
}

void pnm_snapshot_finish(struct pnm_snapshot *s)
{
	size_t i, end;

	/* Read from the maps they come in order; only processes added after
	 * (show -p) need a sort. Reports sort their rows themselves: two
	 * more sorts here (by bytes, then PIDs' instances) were a tenth of
	 * a 10000-process show. */
	for (i = 1; i < s->nprocs; i++)
		if (pnm_proc_cmp(&s->procs[i - 1], &s->procs[i]) > 0)
			break;
	if (i < s->nprocs)
		qsort(s->procs, s->nprocs, sizeof(*s->procs), pnm_proc_cmp);
	/* The newest instance of a PID is "PID", older ones "PID.1", ... */
	for (i = 0; i < s->nprocs; i = end) {
		for (end = i + 1; end < s->nprocs && s->procs[end].pid == s->procs[i].pid; end++)
			;
		for (size_t j = i; j < end; j++) {
			struct pnm_proc *p = &s->procs[j];
			size_t k = end - 1 - j;

			if (k)
				snprintf(p->key, sizeof(p->key), "%u.%zu", p->pid, k);
			else
				snprintf(p->key, sizeof(p->key), "%u", p->pid);
		}
	}
}

void pnm_proc_count_conn(struct pnm_proc *p, const struct pnm_conn *c)
{
	bool any = false;

	for (int i = 0; i < PNM_CONN_IFACES; i++)
		any |= c->slot[i] != 0;
	/* Listening sockets (handshakes) are not connections. */
	if (any && !c->closed && c->t.proto == IPPROTO_TCP && c->state != PNM_TCP_LISTEN)
		p->tcp_conns++;
	else if (any && !c->closed && c->t.proto == IPPROTO_UDP)
		p->udp_conns++;
}

int pnm_proc_add_conn(struct pnm_proc *p, const struct pnm_conn *c)
{
	for (int i = 0; i < PNM_CONN_IFACES; i++) {
		struct pnm_conn_row *r;

		if (!c->slot[i])
			continue;
		if (pnm_grow(&p->conns, &p->conns_cap, p->nconns + 1, sizeof(*p->conns), 4))
			return -ENOMEM;
		r = &p->conns[p->nconns++];
		memset(r, 0, sizeof(*r));
		r->t = c->t;
		r->slot = c->slot[i] - 1;
		r->state = c->state;
		r->closed = c->closed;
		pnm_counts_from(&r->c, c->c[i]);
	}
	pnm_proc_count_conn(p, c);
	return 0;
}

void pnm_snapshot_free(struct pnm_snapshot *s)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		free(s->procs[i].ifs);
		free(s->procs[i].conns);
	}
	free(s->procs);
	free(s->ifaces);
	memset(s, 0, sizeof(*s));
}

double pnm_proc_runtime(const struct pnm_snapshot *s, const struct pnm_proc *p)
{
	uint64_t end = p->exited && p->exit_ns ? p->exit_ns : s->now_ns;

	return end > p->start_ns && p->start_ns ? (double)(end - p->start_ns) / 1e9 : 0.0;
}
