// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * attach and detach: where a filter is attached. Both are all-or-nothing
 * and serialised by a lock; only pnm-tc's own filters, clsact (when pnm-tc
 * created it) and pins are ever removed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cmd.h"
#include "iface.h"
#include "log.h"
#include "parse.h"
#include "state.h"

static const char *const dir_name[PNM_NDIR] = { "ingress", "egress" };

/* Zero an interface's per-CPU counter slot. */
static int zero_slot(const struct pnm_maps *m, uint32_t slot)
{
	void *zero = calloc((size_t)pnm_ncpus(), sizeof(struct pnm_if_stats));
	int rc;

	if (!zero)
		return -ENOMEM;
	rc = bpf_map_update_elem(m->ifstat, &slot, zero, BPF_ANY) ? -errno : 0;
	free(zero);
	return rc;
}

static int free_slot(const struct pnm_maps *m, uint32_t *slot)
{
	bool used[PNM_MAX_IFACES] = { false };
	uint32_t key, next, *prev = NULL;
	struct pnm_if_cfg cfg;

	while (!bpf_map_get_next_key(m->ifcfg, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(m->ifcfg, &key, &cfg) && cfg.slot < PNM_MAX_IFACES)
			used[cfg.slot] = true;
	}
	for (uint32_t s = 0; s < PNM_MAX_IFACES; s++) {
		if (!used[s]) {
			*slot = s;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Drop every process counter of one interface. */
static void drop_proc_counters(const struct pnm_maps *m, uint32_t ifindex)
{
	struct pnm_proc_key key, next;
	bool have = false;

	while (!bpf_map_get_next_key(m->procstat, have ? &key : NULL, &next)) {
		if (have && key.ifindex == ifindex)
			bpf_map_delete_elem(m->procstat, &key);
		key = next;
		have = true;
	}
	if (have && key.ifindex == ifindex)
		bpf_map_delete_elem(m->procstat, &key);
}

/*
 * Take one interface back to how it was before attach: our filters, the
 * clsact if we created it and nothing else uses it, our records.
 * A vanished interface took its filters with it.
 */
static int release_iface(const struct pnm_maps *m, uint32_t ifindex, const struct pnm_if_cfg *cfg,
			 const uint32_t prog_id[PNM_NDIR])
{
	static const char *const prog_name[PNM_NDIR] = { "pnm_tc_ingress", "pnm_tc_egress" };
	struct pnm_link link;
	bool exists = !pnm_link_by_index(ifindex, &link), removed, ours;
	int rc = 0;

	/* Same index and name: the interface we attached to (an index the
	 * kernel gave to a newer interface is somebody else's), or one of
	 * our filters is still on it (it was renamed). */
	ours = exists && !strcmp(link.name, cfg->name);
	for (int d = 0; exists && d < PNM_NDIR; d++) {
		struct pnm_filter f = { cfg->handle[d], cfg->prio[d], prog_id[d] };
		int err;

		if (!f.handle && !f.prio)
			continue; /* never attached */
		err = pnm_filter_detach(ifindex, d, &f, prog_name[d]);
		ours = ours || !err;
		if (err == -EBUSY)
			pr_warn("%s %s: the filter at prio %u is no longer pnm-tc's; left alone",
				cfg->name, dir_name[d], f.prio);
		else if (err && err != -ENOENT && err != -ENODEV) {
			pr_warn("cannot remove the %s filter from %s: %s", dir_name[d], cfg->name,
				strerror(-err));
			rc = err;
		}
	}
	if (ours && !rc && (cfg->flags & PNM_IF_CREATED_CLSACT)) {
		int err = pnm_clsact_remove_if_empty(ifindex, &removed);

		if (err)
			pr_warn("cannot remove clsact from %s: %s", cfg->name, strerror(-err));
		else if (!removed)
			pr_info("%s: clsact holds other filters now; left in place", cfg->name);
	}
	if (rc)
		return rc;
	drop_proc_counters(m, ifindex);
	bpf_map_delete_elem(m->ifcfg, &ifindex);
	zero_slot(m, cfg->slot);
	pr_info("detached from %s", cfg->name);
	return 0;
}

/* A record of the same name under another ifindex is an interface that was
 * deleted (and perhaps re-created): its filters went with it. */
static int release_same_name(const struct pnm_maps *m, const struct pnm_link *l,
			     const uint32_t prog_id[PNM_NDIR])
{
	uint32_t key, next, *prev = NULL;
	struct pnm_if_cfg cfg;

	while (!bpf_map_get_next_key(m->ifcfg, prev, &next)) {
		key = next;
		prev = &key;
		if (key == l->ifindex || bpf_map_lookup_elem(m->ifcfg, &key, &cfg) ||
		    strcmp(cfg.name, l->name))
			continue;
		pr_info("%s: dropping the record of its earlier incarnation (ifindex %u)", l->name,
			key);
		return release_iface(m, key, &cfg, prog_id);
	}
	return 0;
}

/* Both of our filters still in place on the interface? */
static bool filters_intact(uint32_t ifindex, const struct pnm_if_cfg *cfg,
			   const uint32_t prog_id[PNM_NDIR])
{
	for (int d = 0; d < PNM_NDIR; d++) {
		struct pnm_filter f = { cfg->handle[d], cfg->prio[d], prog_id[d] };
		uint32_t id;

		if (pnm_filter_query(ifindex, d, &f, &id) || id != prog_id[d])
			return false;
	}
	return true;
}

static int attach_iface(const struct pnm_maps *m, const struct pnm_link *l, uint32_t layer,
			const int prog_fd[PNM_NDIR], const uint32_t prog_id[PNM_NDIR], bool *is_new)
{
	struct pnm_if_cfg cfg = { 0 };
	bool created;
	int rc;

	*is_new = false;
	if (!bpf_map_lookup_elem(m->ifcfg, &l->ifindex, &cfg)) {
		if (filters_intact(l->ifindex, &cfg, prog_id)) {
			pr_info("%s is already attached", l->name);
			return 0;
		}
		/* Our filters were removed behind our back: start afresh. */
		rc = release_iface(m, l->ifindex, &cfg, prog_id);
		if (rc)
			return rc;
	}
	rc = release_same_name(m, l, prog_id);
	if (rc)
		return rc;
	rc = free_slot(m, &cfg.slot);
	if (rc) {
		pr_warn("cannot attach %s: already %d interfaces attached", l->name,
			PNM_MAX_IFACES);
		return rc;
	}
	cfg.l2_len = l->l2_len;
	cfg.layer = layer;
	cfg.flags = 0;
	memset(cfg.prio, 0, sizeof(cfg.prio));
	memset(cfg.handle, 0, sizeof(cfg.handle));
	snprintf(cfg.name, sizeof(cfg.name), "%s", l->name);
	rc = zero_slot(m, cfg.slot);
	if (!rc && bpf_map_update_elem(m->ifcfg, &l->ifindex, &cfg, BPF_NOEXIST))
		rc = -errno;
	if (rc) {
		pr_warn("cannot record %s: %s", l->name, strerror(-rc));
		return rc;
	}
	*is_new = true;

	rc = pnm_clsact_ensure(l->ifindex, &created);
	if (rc) {
		pr_warn("cannot add a clsact qdisc to %s: %s", l->name, strerror(-rc));
		return rc;
	}
	if (created)
		cfg.flags |= PNM_IF_CREATED_CLSACT;
	for (int d = 0; d < PNM_NDIR && !rc; d++) {
		struct pnm_filter f;
		bool first;

		rc = pnm_filter_place(l->ifindex, d, &f, &first);
		if (rc) {
			pr_warn("cannot place the %s filter on %s: %s", dir_name[d], l->name,
				strerror(-rc));
			break;
		}
		if (!first)
			pr_warn("%s %s: priority 1 is taken, pnm-tc runs at %u and misses what "
				"earlier filters drop or redirect",
				l->name, dir_name[d], f.prio);
		/* Record the place first: a detach after an interrupted attach
		 * still finds the filter. */
		cfg.handle[d] = f.handle;
		cfg.prio[d] = f.prio;
		if (bpf_map_update_elem(m->ifcfg, &l->ifindex, &cfg, BPF_EXIST)) {
			rc = -errno;
			pr_warn("cannot record %s: %s", l->name, strerror(-rc));
			break;
		}
		rc = pnm_filter_attach(l->ifindex, d, prog_fd[d], &f);
		if (rc)
			pr_warn("cannot attach the %s filter to %s: %s", dir_name[d], l->name,
				strerror(-rc));
	}
	/* Record what we did even on failure, so that the rollback undoes it. */
	if (bpf_map_update_elem(m->ifcfg, &l->ifindex, &cfg, BPF_EXIST) && !rc)
		rc = -errno;
	if (!rc)
		pr_info("attached to %s (ifindex %u), counting at %s: ingress prio %u, egress prio "
			"%u%s",
			l->name, l->ifindex, pnm_layer_name(layer), cfg.prio[PNM_IN],
			cfg.prio[PNM_OUT], created ? ", clsact created" : "");
	return rc;
}

/* Options that only attach takes. */
struct attach_args {
	int layer; /* -1: l2 for new interfaces, unchanged for attached ones */
	struct pnm_sizes sizes;
};

static const struct option attach_opts[] = {
	{ "layer", required_argument, NULL, 'l' },
	{ "max-processes", required_argument, NULL, 'P' },
	{ "max-sockets", required_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* Option loop of attach and detach; only attach (a not NULL) takes the
 * first three. */
static int simple_opts(const char *cmd, int argc, char **argv, bool *done, struct attach_args *a)
{
	char err[128];
	unsigned int l;
	int c;

	*done = false;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, a ? "+l:hv" : "+hv", attach_opts + (a ? 0 : 3),
				NULL)) != -1) {
		switch (c) {
		case 'l':
			if (pnm_parse_layer(optarg, &l, err, sizeof(err)))
				return pnm_usage_error(cmd, "%s", err);
			a->layer = (int)l;
			break;
		case 'P':
		case 'S':
			if (pnm_parse_count(optarg, PNM_MIN_ENTRIES, PNM_MAX_ENTRIES,
					    c == 'P' ? &a->sizes.procs : &a->sizes.sockets, err,
					    sizeof(err)))
				return pnm_usage_error(cmd, "--max-%s: %s",
						       c == 'P' ? "processes" : "sockets", err);
			break;
		case 'h':
			pnm_print_help(stdout, cmd);
			*done = true;
			return PNM_EXIT_OK;
		case 'v':
			pnm_verbosity++;
			break;
		default:
			/* A long option's missing value: optopt is its letter. */
			if (optopt == 'P' || optopt == 'S')
				return pnm_usage_error(cmd, "option --max-%s needs a value",
						       optopt == 'P' ? "processes" : "sockets");
			return pnm_bad_option(cmd, a ? "l" : "", argv);
		}
	}
	return PNM_EXIT_OK;
}

static int check_names(const char *cmd, int n, char **names)
{
	char err[128];

	for (int i = 0; i < n; i++)
		if (pnm_check_ifname(names[i], err, sizeof(err)))
			return pnm_usage_error(cmd, "%s", err);
	return PNM_EXIT_OK;
}

int cmd_attach(int argc, char **argv)
{
	struct pnm_link *links = NULL;
	bool *fresh_if = NULL, fresh_state = false, done;
	struct pnm_maps m;
	int prog_fd[PNM_NDIR] = { -1, -1 }, n, i, lock = -1, rc, ret = PNM_EXIT_FAIL;
	struct attach_args args = { .layer = -1 };
	uint32_t prog_id[PNM_NDIR];

	rc = simple_opts("attach", argc, argv, &done, &args);
	if (rc || done)
		return rc;
	n = argc - optind;
	if (n == 0)
		return pnm_usage_error("attach", "name at least one interface");
	rc = check_names("attach", n, argv + optind);
	if (rc)
		return rc;
	if (pnm_check_privileges("attach", true) || pnm_check_kernel())
		return PNM_EXIT_FAIL;

	/* Resolve every name before changing anything. */
	links = calloc((size_t)n, sizeof(*links));
	fresh_if = calloc((size_t)n, sizeof(*fresh_if));
	if (!links || !fresh_if)
		goto out;
	for (i = 0; i < n; i++) {
		const char *name = argv[optind + i];

		rc = pnm_link_by_name(name, &links[i]);
		if (rc == -ENODEV) {
			pr_warn("no such interface: %s", name);
			goto out;
		} else if (rc == -EPROTONOSUPPORT) {
			pr_warn("%s: unsupported link type (pnm-tc handles Ethernet, loopback and "
				"IP tunnel devices)",
				name);
			goto out;
		} else if (rc) {
			pr_warn("cannot look up interface %s: %s", name, strerror(-rc));
			goto out;
		}
		if (args.layer == PNM_L1 && !links[i].ether) {
			pr_warn("%s: --layer l1 needs an Ethernet interface (no physical layer "
				"here)",
				name);
			goto out;
		}
	}

	lock = pnm_lock();
	if (lock < 0)
		goto out;
	rc = pnm_state_present();
	if (rc < 0) {
		pr_warn("cannot read %s: %s", PNM_PIN_DIR, strerror(-rc));
		goto out;
	}
	if (rc == 0) {
		if (pnm_state_create(&args.sizes))
			goto out;
		fresh_state = true;
	}
	rc = pnm_maps_open(&m);
	if (rc) {
		pr_warn(rc == -EPROTO ? "the state pinned under %s is from another pnm-tc version; "
					"detach with that version first"
				      : "cannot open the maps pinned under %s",
			PNM_PIN_DIR);
		goto out_state;
	}
	rc = pnm_tc_progs(prog_fd, prog_id);
	if (rc) {
		pr_warn("cannot open the TC programs pinned under %s: %s", PNM_PIN_DIR,
			strerror(-rc));
		goto out_maps;
	}
	/* Map sizes are set when the state is made: later ones must agree. */
	if (!fresh_state && pnm_check_sizes(&m, &args.sizes))
		goto out_progs;
	/* An attached interface keeps its layer: changing it would mix units. */
	for (i = 0; i < n && args.layer >= 0; i++) {
		struct pnm_if_cfg cfg;

		if (!bpf_map_lookup_elem(m.ifcfg, &links[i].ifindex, &cfg) &&
		    cfg.layer != (uint32_t)args.layer) {
			pr_warn("%s is attached counting at %s; 'pnm-tc detach %s' first to count "
				"at %s",
				links[i].name, pnm_layer_name(cfg.layer), links[i].name,
				pnm_layer_name((unsigned int)args.layer));
			rc = -EEXIST;
			goto out_progs;
		}
	}
	for (i = 0; i < n; i++) {
		rc = attach_iface(&m, &links[i], args.layer < 0 ? PNM_L2 : (uint32_t)args.layer,
				  prog_fd, prog_id, &fresh_if[i]);
		if (rc)
			break;
	}
	if (rc) {
		/* All or nothing: undo this run's interfaces. */
		for (int j = i; j >= 0; j--) {
			struct pnm_if_cfg cfg;

			if (fresh_if[j] && !bpf_map_lookup_elem(m.ifcfg, &links[j].ifindex, &cfg))
				release_iface(&m, links[j].ifindex, &cfg, prog_id);
		}
	} else {
		ret = PNM_EXIT_OK;
	}
out_progs:
	for (int d = 0; d < PNM_NDIR; d++)
		close(prog_fd[d]);
out_maps:
	pnm_maps_close(&m);
out_state:
	if (ret != PNM_EXIT_OK && fresh_state)
		pnm_state_destroy();
out:
	pnm_unlock(lock);
	free(links);
	free(fresh_if);
	return ret;
}

int cmd_detach(int argc, char **argv)
{
	struct pnm_maps m;
	int prog_fd[PNM_NDIR] = { -1, -1 }, n, lock, rc, ret = PNM_EXIT_FAIL;
	uint32_t prog_id[PNM_NDIR], key, next;
	bool done, left = false;
	char **names;

	rc = simple_opts("detach", argc, argv, &done, NULL);
	if (rc || done)
		return rc;
	n = argc - optind;
	names = argv + optind;
	rc = check_names("detach", n, names);
	if (rc)
		return rc;
	if (pnm_check_privileges("detach", true))
		return PNM_EXIT_FAIL;
	lock = pnm_lock();
	if (lock < 0)
		return PNM_EXIT_FAIL;
	rc = pnm_maps_open(&m);
	if (rc == -ENOENT && pnm_state_leftovers())
		goto out;
	if (rc == -ENOENT) {
		if (n) {
			pr_warn("%s is not attached (nothing is)", names[0]);
		} else {
			pr_info("nothing is attached");
			ret = PNM_EXIT_OK;
		}
		goto out;
	} else if (rc) {
		pr_warn(rc == -EPROTO ? "the state pinned under %s is from another pnm-tc version; "
					"detach with that version"
				      : "cannot open the maps pinned under %s",
			PNM_PIN_DIR);
		goto out;
	}
	/* Every named interface must be ours before anything is removed. */
	for (int i = 0; i < n; i++) {
		bool found = false;
		uint32_t *prev = NULL;
		struct pnm_if_cfg cfg;

		while (!found && !bpf_map_get_next_key(m.ifcfg, prev, &next)) {
			key = next;
			prev = &key;
			found = !bpf_map_lookup_elem(m.ifcfg, &key, &cfg) &&
				!strcmp(cfg.name, names[i]);
		}
		if (!found) {
			struct pnm_link l;

			if (pnm_link_by_name(names[i], &l) == -ENODEV)
				pr_warn("no such interface: %s", names[i]);
			else
				pr_warn("%s is not attached", names[i]);
			goto out_maps;
		}
	}
	rc = pnm_tc_progs(prog_fd, prog_id);
	if (rc) {
		/* Without our programs no filter can be ours: clear the state. */
		pr_warn("pinned TC programs missing (%s); removing pnm-tc's state", strerror(-rc));
		memset(prog_id, 0, sizeof(prog_id));
	}
	rc = 0;
	for (;;) {
		uint32_t *prev = NULL;
		struct pnm_if_cfg cfg;
		bool again = false;

		/* Restart the walk after each removal: deleting invalidates it. */
		while (!bpf_map_get_next_key(m.ifcfg, prev, &next)) {
			bool want = n == 0;

			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(m.ifcfg, &key, &cfg))
				continue;
			for (int i = 0; i < n && !want; i++)
				want = !strcmp(cfg.name, names[i]);
			if (!want)
				continue;
			if (release_iface(&m, key, &cfg, prog_id)) {
				rc = -EIO;
				continue;
			}
			again = true;
			break;
		}
		if (!again)
			break;
	}
	left = bpf_map_get_next_key(m.ifcfg, NULL, &next) == 0;
	for (int d = 0; d < PNM_NDIR; d++)
		if (prog_fd[d] >= 0)
			close(prog_fd[d]);
	pnm_maps_close(&m);
	if (!left && pnm_state_destroy())
		rc = -EIO;
	ret = rc ? PNM_EXIT_FAIL : PNM_EXIT_OK;
	goto out;
out_maps:
	pnm_maps_close(&m);
out:
	pnm_unlock(lock);
	return ret;
}
