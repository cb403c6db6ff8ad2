// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The socket iterators: reading every socket's own counters through the
 * pinned reader (show, detach), pinning the reader at attach, and the
 * seeding pass that gives sockets made before attach their owner.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "grow.h"
#include "log.h"
#include "netns.h"
#include "sock_owner.skel.h"
#include "state.h"
#include "state_int.h"

/* What the readers give, appended; p NULL and drop set: read and dropped. */
struct iter_out {
	char *p;
	size_t len, cap;
	bool drop;
};

/* Read the pinned iterator name to its end, appending to *out. */
static int read_iter(const char *name, struct iter_out *out)
{
	char path[PATH_MAX], discard[4096];
	ssize_t got;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", PNM_PIN_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (!out->drop) {
			rc = pnm_grow(&out->p, &out->cap, out->len + 1, 1,
				      64 * sizeof(struct pnm_sock_rec));
			if (rc)
				break;
		}
		got = out->drop ? read(fd, discard, sizeof(discard))
				: read(fd, out->p + out->len, out->cap - out->len);
		if (!got)
			break;
		if (got > 0) {
			if (!out->drop)
				out->len += (size_t)got;
		} else if (errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	close(fd);
	return rc;
}

/* The sockets reader, in one network namespace: its TCP and UDP tables. */
static int read_netns_socks(void *arg)
{
	struct iter_out *out = arg;
	int rc = read_iter(PNM_SOCKITER, out);

	return rc ? rc : read_iter(PNM_UDPITER, out);
}

static int by_cookie(const void *a, const void *b)
{
	uint64_t x = ((const struct pnm_sock_rec *)a)->cookie;
	uint64_t y = ((const struct pnm_sock_rec *)b)->cookie;

	return x < y ? -1 : x > y;
}

/* The open-files reader gives a socket once per process holding it (after
 * a fork, say): one record per cookie stays. Returns how many. */
static size_t unique_socks(struct pnm_sock_rec *r, size_t n)
{
	size_t k = 0;

	if (n < 2)
		return n;
	qsort(r, n, sizeof(*r), by_cookie);
	for (size_t i = 1; i < n; i++)
		if (r[i].cookie != r[k].cookie)
			r[++k] = r[i];
	return k + 1;
}

int pnm_sockets_read(const struct pnm_maps *m, const struct pnm_sockets_req *req,
		     struct pnm_sock_rec **out, size_t *n)
{
	/* The open-files reader gives a socket once per holder, and clears
	 * pnm_conn's column itself at its end; so does the sockets reader,
	 * which reads each network namespace's tables. */
	bool files = pnm_meta_has(m, PNM_META_FILES_READER);
	bool tables = pnm_meta_has(m, PNM_META_SOCK_READER);
	struct iter_out buf = { .drop = !out };
	struct pnm_meta meta;
	uint32_t zero = 0;
	int rc;

	if (req) {
		if (bpf_map_lookup_elem(m->meta, &zero, &meta))
			return -errno;
		meta.clear_slot = req->clear_slot;
		meta.fill_owners = req->fill_owners;
		if (bpf_map_update_elem(m->meta, &zero, &meta, BPF_EXIST))
			return -errno;
	}
	if (tables) {
		rc = pnm_netns_each(read_netns_socks, &buf);
	} else {
		rc = read_iter(PNM_SOCKITER, &buf);
		if (!rc && req && req->clear_slot && !files) {
			struct iter_out none = { .drop = true };

			rc = read_iter(PNM_CONNITER, &none);
		}
	}
	if (req && !bpf_map_lookup_elem(m->meta, &zero, &meta)) {
		meta.clear_slot = 0;
		meta.fill_owners = 0;
		bpf_map_update_elem(m->meta, &zero, &meta, BPF_EXIST);
	}
	if (rc) {
		free(buf.p);
		return rc;
	}
	if (out) {
		*out = (struct pnm_sock_rec *)buf.p;
		*n = buf.len / sizeof(**out);
		if (files)
			*n = unique_socks(*out, *n);
	}
	return 0;
}

/* Iterator prog over map_fd (-1: none), pinned as link_NAME. */
static int pin_iter(struct bpf_program *prog, int map_fd, const char *name, const char *what)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info;
	struct bpf_link *link;
	int rc;

	memset(&info, 0, sizeof(info));
	if (map_fd >= 0) {
		info.map.map_fd = (__u32)map_fd;
		opts.link_info = &info;
		opts.link_info_len = sizeof(info);
	}
	link = bpf_program__attach_iter(prog, &opts);
	if (!link) {
		rc = -errno;
		pr_warn("cannot attach %s: %s", what, strerror(-rc));
		return rc;
	}
	rc = pnm_pin_link(link, name);
	if (rc)
		pr_warn("cannot pin link_%s: %s", name, strerror(-rc));
	return rc;
}

/* The reader of every socket's own counters, pinned: show reads it; and
 * the iterator over pnm_conn that detach runs (the other readers do its
 * work at the end of their pass). */
int pnm_attach_sockiter(struct sock_owner_bpf *so, const struct pnm_prog_group *r)
{
	int rc;

	if (r->meta_flag == PNM_META_FILES_READER)
		return pin_iter(so->progs.pnm_sockfiles, -1, "pnm_sockiter",
				"the socket counter reader (iter/task_file)");
	if (r->meta_flag == PNM_META_SOCK_READER) {
		rc = pin_iter(so->progs.pnm_tcpiter, -1, "pnm_sockiter",
			      "the TCP socket counter reader (iter/tcp)");
		return rc ? rc
			  : pin_iter(so->progs.pnm_udpiter, -1, "pnm_udpiter",
				     "the UDP socket counter reader (iter/udp)");
	}
	rc = pin_iter(so->progs.pnm_sockiter, bpf_map__fd(so->maps.pnm_sockowner), "pnm_sockiter",
		      "the socket counter reader (iter/bpf_sk_storage_map, Linux 5.9+)");
	return rc ? rc
		  : pin_iter(so->progs.pnm_conniter, bpf_map__fd(so->maps.pnm_conn), "pnm_conniter",
			     "the connection map iterator (iter/bpf_map_elem)");
}

/* Run an iterator link to its end, its output dropped. */
static int run_iter(struct bpf_link *link)
{
	char buf[4096];
	ssize_t got;
	int fd = bpf_iter_create(bpf_link__fd(link));

	if (fd < 0)
		return -errno;
	while ((got = read(fd, buf, sizeof(buf))) > 0 || (got < 0 && errno == EINTR))
		;
	close(fd);
	return got < 0 ? -errno : 0;
}

struct seed_pass {
	struct bpf_link *tcp, *udp;
};

/* In one network namespace: its TCP and UDP sockets. */
static int seed_netns(void *arg)
{
	const struct seed_pass *sp = arg;
	int rc = run_iter(sp->tcp);

	return rc ? rc : run_iter(sp->udp);
}

/* Give the sockets that existed before attach to the processes holding
 * them: a pass of an iterator over every process's open files (and, for
 * the sockets seeder, over each namespace's socket tables). */
void pnm_seed_sockets(struct sock_owner_bpf *so, const struct pnm_prog_group *g)
{
	struct seed_pass sp = { NULL, NULL };
	bool sockets = pnm_in_group(g, "pnm_seedfiles");
	struct bpf_link *files;
	int rc;

	files = bpf_program__attach_iter(sockets ? so->progs.pnm_seedfiles : so->progs.pnm_seed,
					 NULL);
	rc = files ? run_iter(files) : -errno;
	if (!rc && sockets) {
		sp.tcp = bpf_program__attach_iter(so->progs.pnm_tcpseed, NULL);
		sp.udp = sp.tcp ? bpf_program__attach_iter(so->progs.pnm_udpseed, NULL) : NULL;
		rc = sp.udp ? pnm_netns_each(seed_netns, &sp) : -errno;
	}
	bpf_link__destroy(sp.udp);
	bpf_link__destroy(sp.tcp);
	bpf_link__destroy(files);
	if (rc) {
		pr_warn("cannot list existing sockets (%s): they are attributed from their next "
			"send or receive",
			strerror(-rc));
		return;
	}
	if (so->bss->seed_full)
		pr_warn("%llu sockets that existed before attach were left to their next send "
			"or receive (more than %d)",
			(unsigned long long)so->bss->seed_full, PNM_SEED_SOCKETS);
	pr_info("%llu sockets that existed before attach were given to their processes",
		(unsigned long long)so->bss->seeded);
}
