// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Process identities from /proc (ident.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grow.h"
#include "ident.h"
#include "proc.h"
#include "sample.h"
#include "snapshot.h"

static int ident_cmp(const void *pa, const void *pb)
{
	const struct pnm_ident *a = pa, *b = pb;

	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return a->start_ns < b->start_ns ? -1 : a->start_ns > b->start_ns;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

void pnm_unit_of_cgroup(const char *text, char *unit, size_t len)
{
	const char *line = text, *path = NULL, *best = NULL, *last = NULL;
	size_t best_n = 0, last_n = 0;

	unit[0] = '\0';
	/* cgroup v2's line is "0::PATH"; v1 hierarchies have other numbers. */
	while (line && *line) {
		if (!strncmp(line, "0::", 3)) {
			path = line + 3;
			break;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (!path)
		return;
	for (const char *p = path; *p && *p != '\n';) {
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/\n");
		if (!n)
			break;
		last = p;
		last_n = n;
		if (ends_with(p, n, ".service") || ends_with(p, n, ".scope")) {
			best = p;
			best_n = n;
		}
		p += n;
	}
	if (!best) {
		best = last;
		best_n = last_n;
	}
	if (best)
		snprintf(unit, len, "%.*s", (int)best_n, best);
}

static void read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* What /proc says of p, if p is still the process that started then. */
static void read_ident(struct pnm_ident *id)
{
	char path[64], buf[4096];
	const char *uid;
	ssize_t n;

	id->uid = -1;
	id->exe[0] = id->unit[0] = '\0';
	if (!pnm_proc_is(id->pid, id->start_ns))
		return;
	snprintf(path, sizeof(path), "/proc/%u/exe", id->pid);
	n = readlink(path, id->exe, sizeof(id->exe) - 1);
	id->exe[n > 0 ? n : 0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/cgroup", id->pid);
	read_text(path, buf, sizeof(buf));
	pnm_unit_of_cgroup(buf, id->unit, sizeof(id->unit));
	snprintf(path, sizeof(path), "/proc/%u/status", id->pid);
	read_text(path, buf, sizeof(buf));
	uid = strstr(buf, "\nUid:");
	if (uid)
		id->uid = strtoll(uid + 5, NULL, 10);
	/* Read after the rest: a PID reused meanwhile is not this one. */
	if (!pnm_proc_is(id->pid, id->start_ns)) {
		id->uid = -1;
		id->exe[0] = id->unit[0] = '\0';
	}
}

/* The cached identity: sorted, and those added this sample after it. */
static struct pnm_ident *find(struct pnm_sampler *s, const struct pnm_ident *key)
{
	struct pnm_ident *hit =
		bsearch(key, s->idents, s->nidents_sorted, sizeof(*s->idents), ident_cmp);

	for (size_t i = s->nidents_sorted; !hit && i < s->nidents; i++)
		if (!ident_cmp(key, &s->idents[i]))
			hit = &s->idents[i];
	return hit;
}

const struct pnm_store_ident *pnm_ident_of(struct pnm_sampler *s, const struct pnm_proc *p,
					   struct pnm_ident_slot *slot, const char *boot)
{
	struct pnm_ident key = { .pid = p->pid, .start_ns = p->start_ns }, *hit;

	if (slot->set)
		return &slot->id;
	hit = find(s, &key);
	if (!hit) {
		if (pnm_grow(&s->idents, &s->idents_cap, s->nidents + 1, sizeof(*s->idents), 64))
			return NULL;
		hit = &s->idents[s->nidents++];
		*hit = key;
		read_ident(hit);
	}
	slot->info = *hit;
	slot->id = (struct pnm_store_ident){ .name = p->name,
					     .exe = slot->info.exe,
					     .unit = slot->info.unit,
					     .uid = slot->info.uid,
					     .pid = p->pid,
					     .start_ns = p->start_ns,
					     .boot = boot };
	slot->set = true;
	return &slot->id;
}

void pnm_idents_settle(struct pnm_sampler *s, struct pnm_snapshot *snap)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nidents; i++)
		if (pnm_snapshot_lookup(snap, s->idents[i].pid, s->idents[i].start_ns))
			s->idents[n++] = s->idents[i];
	s->nidents = n;
	qsort(s->idents, n, sizeof(*s->idents), ident_cmp);
	s->nidents_sorted = n;
}
