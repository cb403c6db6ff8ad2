// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>
#include <linux/if_arp.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>

#include "iface.h"

static int nl_to_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static struct nl_sock *route_socket(int *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int rc;

	if (!sk) {
		*err = -ENOMEM;
		return NULL;
	}
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0) {
		nl_socket_free(sk);
		*err = nl_to_errno(rc);
		return NULL;
	}
	return sk;
}

static int link_get(int ifindex, const char *name, struct pnm_link *out)
{
	struct rtnl_link *link = NULL;
	struct nl_sock *sk;
	int err = 0, rc;

	sk = route_socket(&err);
	if (!sk)
		return err;
	rc = rtnl_link_get_kernel(sk, ifindex, name, &link);
	if (rc < 0) {
		err = nl_to_errno(rc);
		goto out;
	}
	out->ifindex = (uint32_t)rtnl_link_get_ifindex(link);
	out->ether = false;
	snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(link));
	switch (rtnl_link_get_arptype(link)) {
	case ARPHRD_ETHER:
		out->ether = true;
		out->l2_len = 14;
		break;
	case ARPHRD_LOOPBACK:
		out->l2_len = 14;
		break;
	case ARPHRD_NONE: /* tun, wireguard: IP straight away */
	case ARPHRD_IPGRE:
	case ARPHRD_TUNNEL:
	case ARPHRD_TUNNEL6:
	case ARPHRD_SIT:
		out->l2_len = 0;
		break;
	default:
		err = -EPROTONOSUPPORT;
	}
	rtnl_link_put(link);
out:
	nl_socket_free(sk);
	return err;
}

int pnm_link_by_name(const char *name, struct pnm_link *out)
{
	return link_get(0, name, out);
}

int pnm_link_by_index(uint32_t ifindex, struct pnm_link *out)
{
	return link_get((int)ifindex, NULL, out);
}

static void hook_init(struct bpf_tc_hook *h, uint32_t ifindex, enum bpf_tc_attach_point ap)
{
	memset(h, 0, sizeof(*h));
	h->sz = sizeof(*h);
	h->ifindex = (int)ifindex;
	h->attach_point = ap;
}

static enum bpf_tc_attach_point point(int dir)
{
	return dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

int pnm_clsact_ensure(uint32_t ifindex, bool *created)
{
	struct bpf_tc_hook h;
	int rc;

	hook_init(&h, ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS);
	rc = bpf_tc_hook_create(&h);
	*created = rc == 0;
	return rc == -EEXIST ? 0 : rc;
}

static uint32_t clsact_parent(int dir)
{
	return TC_H_MAKE(TC_H_CLSACT, dir == 0 ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

/* Filters (of any kind) under one clsact parent: how many, and which
 * priorities they use (a bitmap of 65536 bits, may be NULL). */
static int scan_filters(struct nl_sock *sk, uint32_t ifindex, int dir, int *n, uint8_t *used)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	int rc = rtnl_cls_alloc_cache(sk, (int)ifindex, clsact_parent(dir), &cache);

	if (rc < 0)
		return nl_to_errno(rc);
	*n = nl_cache_nitems(cache);
	for (o = nl_cache_get_first(cache); o && used; o = nl_cache_get_next(o)) {
		uint16_t prio = rtnl_cls_get_prio((struct rtnl_cls *)o);

		used[prio / 8] |= (uint8_t)(1u << (prio % 8));
	}
	nl_cache_free(cache);
	return 0;
}

int pnm_clsact_remove_if_empty(uint32_t ifindex, bool *removed)
{
	struct bpf_tc_hook h;
	struct nl_sock *sk;
	int err = 0, in = 0, eg = 0;

	*removed = false;
	sk = route_socket(&err);
	if (!sk)
		return err;
	err = scan_filters(sk, ifindex, 0, &in, NULL);
	if (!err)
		err = scan_filters(sk, ifindex, 1, &eg, NULL);
	nl_socket_free(sk);
	if (err || in || eg)
		return err;
	hook_init(&h, ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS);
	err = bpf_tc_hook_destroy(&h);
	*removed = err == 0;
	return err == -ENOENT ? 0 : err;
}

int pnm_filter_place(uint32_t ifindex, int dir, struct pnm_filter *f, bool *first)
{
	uint8_t used[65536 / 8] = { 0 };
	struct nl_sock *sk;
	uint32_t p;
	int err = 0, n;

	sk = route_socket(&err);
	if (!sk)
		return err;
	err = scan_filters(sk, ifindex, dir, &n, used);
	nl_socket_free(sk);
	if (err)
		return err;
	f->handle = 1;
	*first = true;
	if (n == 0) {
		f->prio = PNM_FILTER_PRIO;
		return 0;
	}
	for (p = 1; p < 65536 && !(used[p / 8] & (1u << (p % 8))); p++)
		;
	if (p == 65536) { /* only priority 0 entries: treat as empty */
		f->prio = PNM_FILTER_PRIO;
		return 0;
	}
	if (p > 1) { /* just before the first filter */
		f->prio = p - 1;
		return 0;
	}
	/* Priority 1 is taken: the first free one after it. */
	*first = false;
	for (; p < 65536 && used[p / 8] & (1u << (p % 8)); p++)
		;
	if (p == 65536)
		return -ENOSPC;
	f->prio = p;
	return 0;
}

/* tcx's attach types and "before" flag: the kernel's values (Linux 6.6),
 * newer than libbpf 1.1's headers. The bpf syscall takes the interface's
 * index where a cgroup's fd would go. */
#define PNM_TCX_INGRESS 46
#define PNM_TCX_EGRESS 47
#define PNM_F_BEFORE (1U << 3)
#define PNM_TCX_MAX 64 /* programs per hook (bpf_mprog_max) */

static enum bpf_attach_type tcx_type(int dir)
{
	return (enum bpf_attach_type)(dir == 0 ? PNM_TCX_INGRESS : PNM_TCX_EGRESS);
}

/* The programs on a tcx hook, in run order. */
static int tcx_list(uint32_t ifindex, int dir, uint32_t *ids, uint32_t *n)
{
	*n = PNM_TCX_MAX;
	return bpf_prog_query((int)ifindex, tcx_type(dir), 0, NULL, ids, n) ? -errno : 0;
}

bool pnm_tcx_supported(uint32_t ifindex)
{
	uint32_t ids[PNM_TCX_MAX] = { 0 }, n;

	return tcx_list(ifindex, 0, ids, &n) != -EINVAL;
}

static bool prog_named(uint32_t id, const char *name)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	bool same;

	if (fd < 0)
		return false;
	same = !bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, name);
	close(fd);
	return same;
}

/* Program id (or, id 0: one named name) on a tcx hook: 0 and its id. */
static int tcx_find(uint32_t ifindex, int dir, uint32_t id, const char *name, uint32_t *found)
{
	uint32_t ids[PNM_TCX_MAX] = { 0 }, n;
	int rc = tcx_list(ifindex, dir, ids, &n);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		if (id ? ids[i] == id : prog_named(ids[i], name)) {
			*found = ids[i];
			return 0;
		}
	}
	return -ENOENT;
}

int pnm_filter_attach(uint32_t ifindex, int dir, int prog_fd, struct pnm_filter *f)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = f->handle,
		    .priority = f->prio);
	struct bpf_tc_hook h;
	int rc;

	if (f->tcx) {
		LIBBPF_OPTS(bpf_prog_attach_opts, o, .flags = PNM_F_BEFORE);

		return bpf_prog_attach_opts(prog_fd, (int)ifindex, tcx_type(dir), &o) ? -errno : 0;
	}
	hook_init(&h, ifindex, point(dir));
	rc = bpf_tc_attach(&h, &opts);
	if (rc)
		return rc;
	f->prog_id = opts.prog_id;
	return 0;
}

int pnm_filter_query(uint32_t ifindex, int dir, const struct pnm_filter *f, uint32_t *prog_id)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = f->handle, .priority = f->prio);
	struct bpf_tc_hook h;
	int rc;

	if (f->tcx)
		return tcx_find(ifindex, dir, f->prog_id, NULL, prog_id);
	hook_init(&h, ifindex, point(dir));
	rc = bpf_tc_query(&h, &opts);
	if (rc)
		return rc;
	*prog_id = opts.prog_id;
	return 0;
}

int pnm_filter_detach(uint32_t ifindex, int dir, const struct pnm_filter *f, const char *prog_name)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = f->handle, .priority = f->prio);
	struct bpf_tc_hook h;
	uint32_t id;
	int rc, fd;

	if (f->tcx) {
		rc = tcx_find(ifindex, dir, f->prog_id, prog_name, &id);
		if (rc)
			return rc == -EINVAL ? -ENOENT : rc;
		fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			return errno == ENOENT ? -ENOENT : -errno;
		rc = bpf_prog_detach2(fd, (int)ifindex, tcx_type(dir)) ? -errno : 0;
		close(fd);
		return rc;
	}
	rc = pnm_filter_query(ifindex, dir, f, &id);
	if (rc)
		return rc == -EINVAL ? -ENOENT : rc;
	if (f->prog_id ? id != f->prog_id : !prog_named(id, prog_name))
		return -EBUSY;
	hook_init(&h, ifindex, point(dir));
	return bpf_tc_detach(&h, &opts);
}
