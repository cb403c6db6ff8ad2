// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <string.h>

#include "format.h"
#include "report.h"

static bool view_iface(const struct pnm_view *v, const struct pnm_iface *i)
{
	return !v->iface || v->iface->slot == i->slot;
}

static bool view_pid(const struct pnm_view *v, uint32_t pid)
{
	if (!v->pids)
		return true;
	for (size_t i = 0; i < v->pids->n; i++)
		if (v->pids->pid[i] == pid)
			return true;
	return false;
}

bool pnm_view_proc(const struct pnm_view *v, const struct pnm_proc *p, struct pnm_counts *c)
{
	bool seen = false;

	memset(c, 0, sizeof(*c));
	if (!view_pid(v, p->pid))
		return false;
	for (size_t i = 0; i < p->nifs; i++) {
		if (v->iface && v->iface->slot != p->ifs[i].slot)
			continue;
		pnm_counts_add(c, &p->ifs[i].c);
		seen = true;
	}
	/* Selected by PID: shown even without counters. */
	return seen || v->pids;
}

static struct json_object *counts_into(struct json_object *o, const struct pnm_counts *c)
{
	json_object_object_add(o, "bytes_in", json_object_new_uint64(c->bytes_in));
	json_object_object_add(o, "bytes_out", json_object_new_uint64(c->bytes_out));
	json_object_object_add(o, "packets_in", json_object_new_uint64(c->packets_in));
	json_object_object_add(o, "packets_out", json_object_new_uint64(c->packets_out));
	return o;
}

static struct json_object *counts_json(const struct pnm_counts *c)
{
	return counts_into(json_object_new_object(), c);
}

static const char *iface_label(const struct pnm_snapshot *s, uint32_t slot)
{
	for (size_t i = 0; i < s->nifaces; i++)
		if (s->ifaces[i].slot == slot)
			return s->ifaces[i].label;
	return NULL;
}

struct json_object *pnm_report_json(const struct pnm_snapshot *s, const struct pnm_view *v)
{
	struct json_object *root = json_object_new_object();
	struct json_object *ifaces = json_object_new_object();
	struct json_object *procs = json_object_new_object();
	struct pnm_counts unattr = { 0 }, overflow = { 0 };
	char ts[32];

	json_object_object_add(root, "timestamp",
			       json_object_new_string(pnm_fmt_rfc3339(s->taken, ts, sizeof(ts))));
	for (size_t i = 0; i < s->nifaces; i++) {
		const struct pnm_iface *ifc = &s->ifaces[i];
		struct json_object *o;

		if (!view_iface(v, ifc))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "ifindex", json_object_new_uint64(ifc->ifindex));
		json_object_object_add(o, "netns", json_object_new_string(ifc->netns));
		json_object_object_add(o, "layer",
				       json_object_new_string(pnm_layer_name(ifc->layer)));
		counts_into(o, &ifc->total);
		json_object_object_add(ifaces, ifc->label, o);
		pnm_counts_add(&unattr, &ifc->unattr);
		pnm_counts_add(&overflow, &ifc->overflow);
	}
	json_object_object_add(root, "interfaces", ifaces);
	json_object_object_add(root, "unattributed", counts_json(&unattr));
	json_object_object_add(root, "overflow", counts_json(&overflow));

	for (size_t i = 0; i < s->nprocs; i++) {
		const struct pnm_proc *p = &s->procs[i];
		struct json_object *o, *pifs;
		struct pnm_counts c;

		if (!pnm_view_proc(v, p, &c))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_uint64(p->pid));
		json_object_object_add(o, "name", json_object_new_string(p->name));
		json_object_object_add(o, "exited", json_object_new_boolean(p->exited));
		json_object_object_add(o, "current", counts_json(&c));
		pifs = json_object_new_object();
		for (size_t j = 0; j < p->nifs; j++) {
			const char *name = iface_label(s, p->ifs[j].slot);

			if (!name || (v->iface && v->iface->slot != p->ifs[j].slot))
				continue;
			json_object_object_add(pifs, name, counts_json(&p->ifs[j].c));
		}
		json_object_object_add(o, "interfaces", pifs);
		json_object_object_add(procs, p->key, o);
	}
	json_object_object_add(root, "processes", procs);
	return root;
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

void pnm_report_table(FILE *out, const struct pnm_snapshot *s, const struct pnm_view *v)
{
	const struct pnm_counts zero = { 0 };

	fprintf(out, "%-8s %-16s %-6s %-15s %10s %8s %10s %8s\n", "PID", "NAME", "STATE", "IFACE",
		"BYTES IN", "PKTS IN", "BYTES OUT", "PKTS OUT");
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct pnm_proc *p = &s->procs[i];
		char pid[16], name[4 * PNM_COMM_LEN + 1];
		const char *state = p->exited ? "exited" : "live";
		struct pnm_counts c;
		bool any = false;

		if (!pnm_view_proc(v, p, &c))
			continue;
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
	}
	if (v->pids)
		return;
	for (size_t i = 0; i < s->nifaces; i++) {
		const struct pnm_iface *ifc = &s->ifaces[i];

		if (!view_iface(v, ifc))
			continue;
		row(out, "-", "(unattributed)", "", ifc->label, &ifc->unattr);
	}
	for (size_t i = 0; i < s->nifaces; i++) {
		const struct pnm_iface *ifc = &s->ifaces[i];

		if (!view_iface(v, ifc))
			continue;
		row(out, "-", "(iface total)", "", ifc->label, &ifc->total);
	}
}
