// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The snapshot one show query asks for (show.h): the counters read, then
 * -i, -p and --children resolved against them. show, its sampling and
 * events read through it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iface.h"
#include "log.h"
#include "netns.h"
#include "proc.h"
#include "show.h"

/* -p PIDs with no counters: shown with zeros if they run; else an error
 * (strict), or left out (while sampling, when one may have ended). */
static int add_requested(struct pnm_snapshot *s, const struct pnm_show *a, bool strict)
{
	const struct pnm_pid_list *pids = a->view.pids;

	for (size_t i = 0; i < pids->n; i++) {
		uint32_t pid = pids->pid[i];
		struct pnm_counts zero = { 0 };
		struct pnm_proc *p;
		uint64_t start = 0;
		bool known = false;

		for (size_t j = 0; j < s->nprocs && !known; j++)
			known = s->procs[j].pid == pid;
		/* With --children, an ended parent known from its fork record. */
		for (size_t j = 0; j < a->nfamily && !known; j++)
			known = a->family[j].pid == pid;
		if (known)
			continue;
		if (!pnm_proc_exists(pid)) {
			if (!strict)
				continue;
			pr_warn("no such process: %u", pid);
			return -ESRCH;
		}
		pnm_proc_start_ns(pid, &start);
		p = pnm_snapshot_add(s, pid, start, 0, &zero);
		if (!p)
			return -ENOMEM;
		/* A row without an interface: the process has no traffic yet. */
		p->nifs = 0;
		if (pnm_proc_name(pid, p->name, sizeof(p->name)))
			snprintf(p->name, sizeof(p->name), "?");
	}
	pnm_snapshot_finish(s);
	return 0;
}

/* -i: "NETNS/IFACE", or a plain name: the initial namespace's interface,
 * else the one in the namespace we run in (under ip netns exec). */
static struct pnm_iface *find_iface(struct pnm_snapshot *s, const char *name)
{
	struct pnm_iface *ifc = pnm_snapshot_iface(s, name);
	struct pnm_netns here;
	struct pnm_link l;

	if (ifc)
		return ifc;
	if (!strchr(name, '/') && !pnm_netns_current(&here)) {
		for (size_t i = 0; i < s->nifaces; i++)
			if (s->ifaces[i].netns_ino == here.ino && !strcmp(s->ifaces[i].name, name))
				return &s->ifaces[i];
	}
	if (!strchr(name, '/') && pnm_link_by_name(name, &l) == -ENODEV)
		pr_warn("no such interface: %s", name);
	else
		pr_warn("%s is not attached; attach it with 'pnm-tc attach %s'", name,
			strchr(name, '/') ? "--netns NETNS IFACE" : name);
	return NULL;
}

int pnm_show_read(struct pnm_show *a, const struct pnm_maps *m, struct pnm_snapshot *snap,
		  bool strict)
{
	unsigned int parts = 0;
	int rc;

	/* JSON has each process's count of connections; --details and --by
	 * show them. */
	if (a->view.details || a->view.by)
		parts = PNM_SNAP_CONNS;
	else if (a->json)
		parts = PNM_SNAP_CONN_COUNTS;
	rc = pnm_snapshot_read(m, snap, parts);
	if (rc) {
		pr_warn("cannot read the counters: %s", strerror(-rc));
		return rc;
	}
	if (a->ifname) {
		a->view.iface = find_iface(snap, a->ifname);
		if (!a->view.iface)
			return -ENODEV;
	}
	if (a->children && (rc = pnm_family(m, snap, a))) {
		pr_warn("cannot follow the process tree: %s", strerror(-rc));
		return rc;
	}
	if (a->view.pids && (rc = add_requested(snap, a, strict)))
		return rc;
	return 0;
}
