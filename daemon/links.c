// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The daemon's interfaces (links.h): netlink link events through libnl. */
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "grow.h"
#include "ifaces.h"
#include "links.h"
#include "lock.h"
#include "log.h"

/* The interfaces a daemon of this boot attached (/run is a tmpfs). */
#define OURS_FILE PNM_LOCK_DIR "/daemon.ifaces"

typedef char ifname_t[IFNAMSIZ];

static ssize_t find(ifname_t *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return (ssize_t)i;
	return -1;
}

static int add(ifname_t **list, size_t *n, size_t *cap, const char *name)
{
	if (find(*list, *n, name) >= 0)
		return 0;
	if (pnm_grow(list, cap, *n + 1, sizeof(**list), 8))
		return -ENOMEM;
	snprintf((*list)[(*n)++], IFNAMSIZ, "%s", name);
	return 0;
}

static void drop(ifname_t *list, size_t *n, const char *name)
{
	ssize_t i = find(list, *n, name);

	if (i >= 0)
		memmove(&list[i], &list[i + 1], (*n - (size_t)i - 1) * sizeof(*list));
	*n -= i >= 0;
}

/* Write the list of ours, for a daemon that follows a killed one. */
static void save_ours(const struct pnm_links *l)
{
	char tmp[] = OURS_FILE ".tmp";
	FILE *f;

	if (!l->nours) {
		unlink(OURS_FILE);
		return;
	}
	f = fopen(tmp, "we");
	if (!f) {
		pr_warn("cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	for (size_t i = 0; i < l->nours; i++)
		fprintf(f, "%s\n", l->ours[i]);
	if (fclose(f) || rename(tmp, OURS_FILE))
		pr_warn("cannot write %s: %s", OURS_FILE, strerror(errno));
}

/* A killed daemon's interfaces that are still attached are ours. */
static void adopt(struct pnm_links *l)
{
	char line[64];
	FILE *f = fopen(OURS_FILE, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] && pnm_attached(line) == 1 &&
		    !add(&l->ours, &l->nours, &l->ours_cap, line))
			pr_info("%s: attached by an earlier daemon, taken over", line);
	}
	fclose(f);
}

static bool matches(const struct pnm_daemon_cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nglobs; i++)
		if (!fnmatch(c->globs[i], name, 0))
			return true;
	return false;
}

/* Attach name if it is wanted and not attached: 1 attached now (or
 * already), 0 not wanted. */
static int want(struct pnm_links *l, const struct pnm_daemon_cfg *c, const char *name)
{
	struct pnm_attach_req req = { .layer = -1 };
	char *names[] = { (char *)name };
	int rc;

	if (!matches(c, name))
		return 0;
	rc = pnm_attached(name);
	if (rc)
		return rc < 0 ? rc : 1;
	if (find(l->failed, l->nfailed, name) >= 0)
		return 0;
	rc = pnm_attach_names(&req, 1, names);
	if (rc) {
		pr_warn("%s: not attached; tried again when it changes", name);
		return add(&l->failed, &l->nfailed, &l->failed_cap, name);
	}
	pr_info("%s: attached", name);
	rc = add(&l->ours, &l->nours, &l->ours_cap, name);
	save_ours(l);
	return rc ? rc : 1;
}

int pnm_links_sync(struct pnm_links *l, const struct pnm_daemon_cfg *c, size_t *n)
{
	struct if_nameindex *all = if_nameindex();
	int rc = 0;

	*n = 0;
	if (!all)
		return pnm_neg_errno();
	l->resync = false;
	for (struct if_nameindex *i = all; i->if_index && rc >= 0; i++) {
		rc = want(l, c, i->if_name);
		*n += rc > 0;
	}
	if_freenameindex(all);
	return rc < 0 ? rc : 0;
}

struct event_ctx {
	struct pnm_links *l;
	const struct pnm_daemon_cfg *c;
};

static int on_msg(struct nl_msg *msg, void *arg)
{
	struct event_ctx *x = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[IFLA_MAX + 1];
	const char *name;

	if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
		return NL_OK;
	if (nlmsg_parse(h, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_IFNAME])
		return NL_OK;
	name = nla_get_string(tb[IFLA_IFNAME]);
	if (h->nlmsg_type == RTM_NEWLINK) {
		/* A change may be what a failed attach waited for. */
		drop(x->l->failed, &x->l->nfailed, name);
		if (want(x->l, x->c, name) < 0)
			x->l->resync = true;
	} else if (find(x->l->ours, x->l->nours, name) >= 0) {
		pr_info("%s: went away; its counters are stored, then released", name);
		if (add(&x->l->gone, &x->l->ngone, &x->l->gone_cap, name))
			x->l->resync = true;
	} else if (matches(x->c, name)) {
		pr_info("%s: went away", name);
		drop(x->l->failed, &x->l->nfailed, name);
	}
	return NL_OK;
}

int pnm_links_open(struct pnm_links *l)
{
	int rc;

	memset(l, 0, sizeof(*l));
	l->sk = nl_socket_alloc();
	if (!l->sk)
		return -ENOMEM;
	nl_socket_disable_seq_check(l->sk);
	rc = nl_connect(l->sk, NETLINK_ROUTE);
	if (!rc)
		rc = nl_socket_add_membership(l->sk, RTNLGRP_LINK);
	if (!rc)
		rc = nl_socket_set_nonblocking(l->sk);
	if (rc) {
		pr_warn("cannot watch interfaces (netlink): %s", nl_geterror(rc));
		nl_socket_free(l->sk);
		l->sk = NULL;
		return -EIO;
	}
	adopt(l);
	return 0;
}

int pnm_links_fd(const struct pnm_links *l)
{
	return l->sk ? nl_socket_get_fd(l->sk) : -1; /* poll passes -1 over */
}

int pnm_links_events(struct pnm_links *l, const struct pnm_daemon_cfg *c)
{
	struct event_ctx x = { l, c };
	int rc;

	if (!l->sk)
		return 0;
	nl_socket_modify_cb(l->sk, NL_CB_VALID, NL_CB_CUSTOM, on_msg, &x);
	do {
		rc = nl_recvmsgs_default(l->sk);
	} while (rc >= 0);
	/* -NLE_AGAIN: read all. Others (-NLE_NOMEM: the kernel dropped
	 * events): look at every interface. */
	if (rc != -NLE_AGAIN) {
		pr_debug("link events lost (%s): looking at every interface", nl_geterror(rc));
		l->resync = true;
	}
	return 0;
}

/* Detach names (ours), saying so. */
static void release(struct pnm_links *l, const char *name)
{
	char *names[] = { (char *)name };
	bool none;

	if (pnm_attached(name) != 0 && !pnm_detach_names(NULL, 1, names, &none))
		pr_info("%s: detached", name);
	drop(l->ours, &l->nours, name);
}

void pnm_links_drop_gone(struct pnm_links *l)
{
	for (size_t i = 0; i < l->ngone; i++) {
		char *names[] = { l->gone[i] };
		bool none;

		/* The interface is gone: its record is released by its label. */
		if (!pnm_detach_names(NULL, 1, names, &none))
			pr_info("%s: released", l->gone[i]);
		drop(l->ours, &l->nours, l->gone[i]);
	}
	l->ngone = 0;
	save_ours(l);
}

void pnm_links_unmatched(struct pnm_links *l, const struct pnm_daemon_cfg *c)
{
	for (size_t i = l->nours; i-- > 0;)
		if (!matches(c, l->ours[i]))
			release(l, l->ours[i]);
	l->nfailed = 0;
	save_ours(l);
}

void pnm_links_close(struct pnm_links *l, bool detach)
{
	while (detach && l->nours)
		release(l, l->ours[l->nours - 1]);
	if (detach)
		save_ours(l);
	if (l->sk)
		nl_socket_free(l->sk);
	free(l->ours);
	free(l->failed);
	free(l->gone);
	memset(l, 0, sizeof(*l));
}
