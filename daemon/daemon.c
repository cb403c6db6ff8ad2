// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon's loop (daemon.h): one thread, poll(2) over a sampling
 * timer, the link events, a watchdog timer and the signals. Rows are
 * written between samples' reads, expiry in small steps after each sample,
 * so nothing it does holds a sample up for long.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "links.h"
#include "lock.h"
#include "log.h"
#include "sample.h"
#include "state.h"
#include "store.h"

#define DAEMON_LOCK PNM_LOCK_DIR "/daemon.lock"
/* Expired rows deleted per step, one step after each sample. */
#define EXPIRE_BUDGET 5000

struct daemon {
	const struct pnm_daemon_opts *o;
	struct pnm_daemon_cfg cfg;
	struct pnm_store *st;
	struct pnm_sampler smp;
	struct pnm_links links;
	int tfd, wfd, sfd, lock;
	unsigned long samples;
	bool detached_warned;
	struct pnm_sample_stats last;
};

/* The settings: defaults, the file, then the command line. */
static int read_config(const struct pnm_daemon_opts *o, struct pnm_daemon_cfg *c)
{
	char err[512];
	int rc;

	pnm_cfg_defaults(c);
	rc = pnm_cfg_load(c, o->config, err, sizeof(err));
	if (rc == -ENOENT && !o->config_given)
		rc = 0;
	else if (rc)
		pr_warn("%s", err);
	if (!rc)
		pnm_cfg_merge(c, &o->cli);
	return rc;
}

static int arm(int fd, uint64_t ms)
{
	struct itimerspec it = { { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L },
				 { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L } };

	return timerfd_settime(fd, 0, &it, NULL) ? pnm_neg_errno() : 0;
}

static void notify_status(const struct daemon *d)
{
	const struct pnm_sample_stats *s = &d->last;

	sd_notifyf(0,
		   "STATUS=%lu samples; last: %zu processes on %zu interfaces, %lld B in, "
		   "%lld B out, %.1f ms%s",
		   d->samples, s->procs, s->ifaces, (long long)s->grew.bytes_in,
		   (long long)s->grew.bytes_out, s->ms,
		   d->smp.failed ? "; the database cannot be written" : "");
}

/* One sample and one step of expiry. */
static void sample(struct daemon *d)
{
	struct pnm_maps m;
	char err[512];
	bool more;
	int rc;

	rc = pnm_maps_open(&m);
	if (rc == -ENOENT) {
		size_t n;

		/* Detached behind our back: attach again, count from there. */
		if (!d->detached_warned)
			pr_warn("nothing is attached any more: attaching again");
		d->detached_warned = true;
		pnm_links_close(&d->links, false);
		if (!pnm_links_open(&d->links))
			pnm_links_sync(&d->links, &d->cfg, &n);
		return;
	}
	if (rc) {
		pnm_explain_open_error(rc);
		return;
	}
	d->detached_warned = false;
	rc = pnm_sample(&d->smp, &m, d->st, (int64_t)time(NULL), &d->last, err, sizeof(err));
	pnm_maps_close(&m);
	if (rc) {
		/* Said once per run of failures; the kernel keeps counting. */
		if (d->smp.failed <= 1)
			pr_warn("%s; counting goes on in the kernel, stored when it can be", err);
		notify_status(d);
		return;
	}
	d->samples++;
	pr_info("sample: %zu processes on %zu interfaces, %zu rows, %lld B in, %lld B out, "
		"%.1f ms",
		d->last.procs, d->last.ifaces, d->last.rows, (long long)d->last.grew.bytes_in,
		(long long)d->last.grew.bytes_out, d->last.ms);
	notify_status(d);
	if (pnm_store_expire(d->st, (int64_t)time(NULL), &d->cfg.retention, EXPIRE_BUDGET, &more,
			     err, sizeof(err)))
		pr_warn("%s", err);
}

/* SIGHUP: the file again, the command line over it. */
static void reload(struct daemon *d)
{
	struct pnm_daemon_cfg c;
	size_t n;

	sd_notify(0, "RELOADING=1");
	if (read_config(d->o, &c)) {
		pr_warn("configuration not reloaded: the old one stays");
	} else {
		if (strcmp(c.db, d->cfg.db))
			pr_warn("db: %s is used until the daemon restarts", d->cfg.db);
		memcpy(c.db, d->cfg.db, sizeof(c.db));
		if (c.interval_ms != d->cfg.interval_ms && arm(d->tfd, c.interval_ms))
			pr_warn("cannot set the interval: %s", strerror(errno));
		d->cfg = c;
		pnm_links_unmatched(&d->links, &d->cfg);
		pnm_links_sync(&d->links, &d->cfg, &n);
		pr_info("configuration reloaded: %zu interfaces", n);
	}
	sd_notify(0, "READY=1");
}

static int setup(struct daemon *d)
{
	uint64_t wd_usec = 0;
	char err[512];
	sigset_t set;
	size_t n;
	int rc;

	if (mkdir(PNM_LOCK_DIR, 0700) && errno != EEXIST) {
		rc = -errno;
		pr_warn("cannot make %s: %s", PNM_LOCK_DIR, strerror(-rc));
		return rc;
	}
	d->lock = pnm_lock_open(DAEMON_LOCK);
	if (d->lock < 0) {
		pr_warn("cannot open %s: %s", DAEMON_LOCK, strerror(-d->lock));
		return d->lock;
	}
	rc = pnm_lock_try(d->lock, err, sizeof(err));
	if (rc) {
		pr_warn("another pnm-tc daemon is running (PID %s)", err[0] ? err : "unknown");
		close(d->lock); /* not ours: its holder's PID stays in it */
		d->lock = -1;
		return rc;
	}
	pnm_lock_record(d->lock);
	rc = pnm_store_open(&d->st, d->cfg.db, false, err, sizeof(err));
	if (rc) {
		pr_warn("%s", err);
		return rc;
	}
	rc = pnm_sampler_init(&d->smp);
	if (rc) {
		pr_warn("cannot read this boot's id: %s", strerror(-rc));
		return rc;
	}
	rc = pnm_links_open(&d->links);
	if (rc)
		return rc;
	rc = pnm_links_sync(&d->links, &d->cfg, &n);
	if (rc)
		pr_warn("cannot list the interfaces: %s", strerror(-rc));
	if (!n)
		pr_warn("no interface matches yet: counting starts when one appears");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	d->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->sfd < 0 || d->tfd < 0 || arm(d->tfd, d->cfg.interval_ms)) {
		pr_warn("cannot set up the timers and signals: %s", strerror(errno));
		return -EIO;
	}
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec) {
		d->wfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (d->wfd < 0 || arm(d->wfd, wd_usec / 2000 ? wd_usec / 2000 : 1))
			pr_warn("cannot set the watchdog timer: %s", strerror(errno));
	}
	pr_info("recording %zu interface%s into %s every %llu ms", n, n == 1 ? "" : "s", d->cfg.db,
		(unsigned long long)d->cfg.interval_ms);
	sd_notifyf(0, "READY=1\nSTATUS=recording %zu interface%s into %s", n, n == 1 ? "" : "s",
		   d->cfg.db);
	return 0;
}

/* Wait for the next thing to do; false once a signal says stop. */
static bool step(struct daemon *d)
{
	struct pollfd p[4] = { { d->sfd, POLLIN, 0 },
			       { d->tfd, POLLIN, 0 },
			       { pnm_links_fd(&d->links), POLLIN, 0 },
			       { d->wfd, POLLIN, 0 } };
	struct signalfd_siginfo si;
	uint64_t ticks;
	size_t n;

	if (poll(p, d->wfd >= 0 ? 4 : 3, -1) < 0)
		return errno == EINTR;
	if (p[3].revents && read(d->wfd, &ticks, sizeof(ticks)) > 0)
		sd_notify(0, "WATCHDOG=1");
	if (p[2].revents) {
		pnm_links_events(&d->links, &d->cfg);
		if (d->links.ngone) {
			sample(d); /* their last bytes, before their records go */
			pnm_links_drop_gone(&d->links);
		}
		if (d->links.resync)
			pnm_links_sync(&d->links, &d->cfg, &n);
	}
	if (p[1].revents && read(d->tfd, &ticks, sizeof(ticks)) > 0)
		sample(d);
	while (p[0].revents && read(d->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(d);
		} else {
			pr_info("%s: a last sample, then exit",
				si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			return false;
		}
	}
	return true;
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

int pnm_daemon_run(const struct pnm_daemon_opts *o)
{
	struct daemon d = { .o = o, .tfd = -1, .wfd = -1, .sfd = -1, .lock = -1 };
	int rc;

	if (read_config(o, &d.cfg))
		return 2;
	if (!d.cfg.nglobs) {
		pr_warn("daemon: name the interfaces to count (IFACE or 'GLOB'), or set "
			"'interfaces =' in %s",
			o->config);
		return 2;
	}
	if (o->check)
		return pnm_cfg_print(stdout, &d.cfg) ? 1 : 0;
	if (pnm_check_privileges("daemon", true) || pnm_check_kernel())
		return 1;
	rc = setup(&d);
	while (!rc && step(&d))
		;
	if (!rc) {
		sd_notify(0, "STOPPING=1");
		sample(&d);
	}
	/* Only what this daemon (or a killed one before it) attached. */
	pnm_links_close(&d.links, true);
	pnm_sampler_free(&d.smp);
	if (d.st)
		pnm_store_close(d.st);
	close_fd(d.tfd);
	close_fd(d.wfd);
	close_fd(d.sfd);
	pnm_unlock(d.lock);
	/* A last sample that could not be written was said; it fails the exit. */
	return rc || d.smp.failed ? 1 : 0;
}
