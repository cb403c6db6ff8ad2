/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One sample: read the pinned counters, and store what grew since the last
 * sample. The kernel's counters are cumulative; the sampler keeps their
 * last stored values (in the store too, as series, so that a restart, even
 * after kill -9, stores exactly what grew since). A series is one counter
 * of one attach of one interface (slot and generation): an interface's
 * total, one class of its unattributed bytes, or one process instance's
 * bytes there. A re-attach or a reboot starts new series.
 */
#ifndef PNM_DAEMON_SAMPLE_H
#define PNM_DAEMON_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct pnm_maps;
struct pnm_series_val;
struct pnm_ident;
struct pnm_talk_val;

struct pnm_sampler {
	char boot[40];		     /* this boot's id */
	char attach[80];	     /* the attach the series belong to: boot and state */
	bool loaded;		     /* last holds the store's series of attach */
	struct pnm_series_val *last; /* sorted by key */
	size_t nlast, last_cap;
	struct pnm_ident *idents; /* process identities, by (pid, start) */
	size_t nidents, nidents_sorted, idents_cap;
	struct pnm_talk_val *talks; /* per remote end, by key */
	size_t ntalks, talks_cap;
	bool talks_base;     /* talks holds the last sample's (else none yet) */
	unsigned int failed; /* writes failed in a row */
};

/* What the last sample found and stored. */
struct pnm_sample_stats {
	size_t procs, ifaces, rows, talks;
	struct pnm_store_counts grew; /* over every interface's total */
	double ms;		      /* how long it took */
};

int pnm_sampler_init(struct pnm_sampler *s);
void pnm_sampler_free(struct pnm_sampler *s);
/* Read the counters (m), store the growth at now (Unix seconds): 0, or
 * -errno with a line in err; after a failed write the growth is stored
 * with the next sample. */
int pnm_sample(struct pnm_sampler *s, const struct pnm_maps *m, struct pnm_store *st, int64_t now,
	       struct pnm_sample_stats *out, char *err, size_t errlen);

/* A series key as stored, and back (series.c). */
struct pnm_series_key {
	uint8_t kind;	/* 'i' total, 'u' unattributed class, 'p' process */
	uint8_t uclass; /* 'u': enum pnm_uclass, or PNM_U_COUNT for overflow */
	uint32_t slot, gen;
	uint32_t pid;
	uint64_t start_ns;
};
int pnm_series_key_fmt(const struct pnm_series_key *k, char *buf, size_t len);
/* -EINVAL for text that is not a key. */
int pnm_series_key_parse(const char *s, struct pnm_series_key *k);
/* Their order (qsort, bsearch). */
int pnm_series_cmp(const void *a, const void *b);

#endif
