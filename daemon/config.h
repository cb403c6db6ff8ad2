/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The daemon's settings: /etc/pnm-tc/pnm-tc.conf (key = value lines, '#'
 * comments), then the command line over it. SIGHUP reads the file again.
 */
#ifndef PNM_DAEMON_CONFIG_H
#define PNM_DAEMON_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

#define PNM_CONFIG_DEFAULT "/etc/pnm-tc/pnm-tc.conf"
#define PNM_INTERVAL_DEFAULT_MS 10000
#define PNM_LISTEN_DEFAULT "127.0.0.1:9464"
#define PNM_GLOBS_MAX 64
#define PNM_GLOB_LEN 64

/* What each setting is; bits of pnm_daemon_cfg.set. */
enum pnm_cfg_key {
	PNM_CFG_DB = 1,
	PNM_CFG_INTERVAL = 2,
	PNM_CFG_RETENTION = 4,
	PNM_CFG_LISTEN = 8,
	PNM_CFG_IFACES = 16,
};

struct pnm_daemon_cfg {
	unsigned int set; /* which were given (enum pnm_cfg_key) */
	char db[PATH_MAX];
	uint64_t interval_ms;
	struct pnm_retention retention;
	char listen[128];
	char globs[PNM_GLOBS_MAX][PNM_GLOB_LEN]; /* interface names or shell globs */
	size_t nglobs;
};

/* The defaults: no interfaces, the default database, 10 s, vnstat-like
 * retention, loopback. */
void pnm_cfg_defaults(struct pnm_daemon_cfg *c);
/* One setting by its key ("db", "interval", "retention", "listen",
 * "interfaces"), as the file and the options give it: 0 or -EINVAL with
 * a line in err. Interfaces add to the list. */
int pnm_cfg_set(struct pnm_daemon_cfg *c, const char *key, const char *value, char *err,
		size_t errlen);
/* Read file into c (over what c holds). -ENOENT when it does not exist;
 * -EINVAL with "FILE:LINE: ..." in err; other -errno. */
int pnm_cfg_load(struct pnm_daemon_cfg *c, const char *file, char *err, size_t errlen);
/* What over gives wins over base. */
void pnm_cfg_merge(struct pnm_daemon_cfg *base, const struct pnm_daemon_cfg *over);
/* The settings as the file writes them, one per line: 0 or -errno (the
 * output could not be written, said). */
int pnm_cfg_print(FILE *out, const struct pnm_daemon_cfg *c);
/* "ADDR:PORT" or "[ADDR6]:PORT": 0, or -EINVAL with a reason. */
int pnm_check_listen(const char *s, char *err, size_t errlen);

#endif
