// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* XDP ingress through libxdp's dispatcher, shared with other programs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "iface.h"

static int xdp_verbosity;

static int xdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	if (xdp_verbosity < 2 || (level == LIBXDP_DEBUG && xdp_verbosity < 3))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void pnm_xdp_setup_log(int verbosity)
{
	xdp_verbosity = verbosity;
	libxdp_set_print(xdp_print);
}

int pnm_xdp_foreign(uint32_t ifindex, char *name, size_t len, uint32_t *id)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex((int)ifindex);
	struct xdp_program *p;
	int rc = -ENOENT;

	if (libxdp_get_error(mp))
		return -ENOENT;
	p = xdp_multiprog__is_legacy(mp) ? xdp_multiprog__main_prog(mp) : NULL;
	if (p) {
		snprintf(name, len, "%s", xdp_program__name(p));
		*id = xdp_program__id(p);
		rc = 0;
	}
	xdp_multiprog__close(mp);
	return rc;
}

int pnm_xdp_attach(uint32_t ifindex, struct bpf_object *obj, uint32_t *prog_id, bool *skb_mode)
{
	struct xdp_program *prog = xdp_program__from_bpf_obj(obj, NULL);
	int rc;

	rc = (int)libxdp_get_error(prog);
	if (rc)
		return rc;
	xdp_program__set_run_prio(prog, PNM_XDP_PRIO);
	*skb_mode = false;
	rc = xdp_program__attach(prog, (int)ifindex, XDP_MODE_NATIVE, 0);
	if (rc == -EOPNOTSUPP) {
		*skb_mode = true;
		rc = xdp_program__attach(prog, (int)ifindex, XDP_MODE_SKB, 0);
	}
	if (!rc)
		*prog_id = xdp_program__id(prog);
	xdp_program__close(prog);
	return rc;
}

/* Our program in the interface's chain, or NULL; *mp to close. */
static struct xdp_program *find(uint32_t ifindex, uint32_t prog_id, const char *name,
				struct xdp_multiprog **mp)
{
	struct xdp_program *p = NULL;

	*mp = xdp_multiprog__get_from_ifindex((int)ifindex);
	if (libxdp_get_error(*mp)) {
		*mp = NULL;
		return NULL;
	}
	if (xdp_multiprog__is_legacy(*mp)) {
		/* A single program without dispatcher: ours only if it matches. */
		p = xdp_multiprog__main_prog(*mp);
		if (p && (prog_id ? xdp_program__id(p) == prog_id
				  : name && !strcmp(xdp_program__name(p), name)))
			return p;
		return NULL;
	}
	while ((p = xdp_multiprog__next_prog(p, *mp)))
		if (prog_id ? xdp_program__id(p) == prog_id
			    : name && !strcmp(xdp_program__name(p), name))
			return p;
	return NULL;
}

int pnm_xdp_detach(uint32_t ifindex, uint32_t prog_id, const char *prog_name)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p = find(ifindex, prog_id, prog_name, &mp);
	int rc;

	if (!p) {
		if (mp)
			xdp_multiprog__close(mp);
		return -ENOENT;
	}
	rc = xdp_program__detach(p, (int)ifindex, xdp_multiprog__attach_mode(mp), 0);
	xdp_multiprog__close(mp);
	return rc;
}

bool pnm_xdp_attached(uint32_t ifindex, uint32_t prog_id)
{
	struct xdp_multiprog *mp;
	bool found = prog_id && find(ifindex, prog_id, NULL, &mp);

	if (prog_id && mp)
		xdp_multiprog__close(mp);
	return found;
}
