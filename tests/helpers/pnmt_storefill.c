// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pnmt_storefill DB [PROCS [DAYS]]: fill a history database through
 * pnm_store_write as the daemon would, for make bench: DAYS (30) of PROCS
 * (1000) processes ending now, each growing on one of two interfaces, the
 * busiest ten with talks; one sample an hour up to the last 48 hours (their
 * minute rows expire anyway), then one a minute; expiry after each sample
 * with the default retention. Prints what it wrote and how long it took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define TALKERS 10
#define REMOTES 3

static const char *const ifaces[] = { "eth0", "wlan0" };

static uint64_t rnd_state = 1;

static uint64_t rnd(uint64_t n)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (rnd_state >> 20) % n;
}

struct fill {
	struct pnm_store_ident *id;
	char (*names)[24];
	struct pnm_store_row *rows;
	struct pnm_store_talk *talks;
	int procs;
};

static int setup(struct fill *f, int procs)
{
	f->procs = procs;
	f->id = calloc((size_t)procs, sizeof(*f->id));
	f->names = calloc((size_t)procs, sizeof(*f->names));
	f->rows = calloc((size_t)procs + 4, sizeof(*f->rows));
	f->talks = calloc(TALKERS * REMOTES, sizeof(*f->talks));
	if (!f->id || !f->names || !f->rows || !f->talks)
		return -1;
	for (int i = 0; i < procs; i++) {
		snprintf(f->names[i], sizeof(f->names[i]), "proc%d", i);
		f->id[i] = (struct pnm_store_ident){ f->names[i],	    "/usr/bin/app",
						     "app.service",	    1000 + i % 7,
						     (uint32_t)(10000 + i), (uint64_t)i * 1000000,
						     "bench-boot" };
	}
	return 0;
}

/* One sample's growth over span seconds: the busiest first. */
static void sample(struct fill *f, int64_t ts, int span, struct pnm_store_sample *smp)
{
	static const char *const remotes[REMOTES] = { "192.0.2.1", "198.51.100.7", "2001:db8::1" };
	struct pnm_store_counts tot[2] = { { 0 } };
	size_t n = 0, nt = 0;

	for (int i = 0; i < f->procs; i++) {
		int64_t scale = i < TALKERS ? 1000 : 10;
		struct pnm_store_counts c = { (int64_t)rnd(2000) * scale * span / 60,
					      (int64_t)rnd(500) * scale * span / 60,
					      (int64_t)rnd(20) * span, (int64_t)rnd(10) * span };
		int ifc = i % 2;

		f->rows[n++] =
			(struct pnm_store_row){ PNM_ROW_PROC, ifaces[ifc], &f->id[i], NULL, c };
		tot[ifc].bytes_in += c.bytes_in;
		tot[ifc].bytes_out += c.bytes_out;
		tot[ifc].packets_in += c.packets_in;
		tot[ifc].packets_out += c.packets_out;
		for (int r = 0; i < TALKERS && r < REMOTES; r++)
			f->talks[nt++] = (struct pnm_store_talk){ ifaces[ifc],
								  &f->id[i],
								  r == 2 ? "udp" : "tcp",
								  remotes[r],
								  { c.bytes_in / REMOTES,
								    c.bytes_out / REMOTES, 1, 1 } };
	}
	for (int ifc = 0; ifc < 2; ifc++) {
		struct pnm_store_counts u = { (int64_t)rnd(5000) * span / 60, 0, 1, 0 };

		f->rows[n++] =
			(struct pnm_store_row){ PNM_ROW_UNATTR, ifaces[ifc], NULL, "arp", u };
		tot[ifc].bytes_in += u.bytes_in;
		tot[ifc].packets_in += u.packets_in;
		f->rows[n++] =
			(struct pnm_store_row){ PNM_ROW_TOTAL, ifaces[ifc], NULL, NULL, tot[ifc] };
	}
	*smp = (struct pnm_store_sample){
		.ts = ts, .rows = f->rows, .nrows = n, .talks = f->talks, .ntalks = nt
	};
}

int main(int argc, char **argv)
{
	int procs = argc > 2 ? atoi(argv[2]) : 1000, days = argc > 3 ? atoi(argv[3]) : 30;
	int64_t now = time(NULL), t, minutes_from = now - 48 * 3600;
	struct timespec t0, t1;
	struct pnm_retention keep;
	struct pnm_store *s;
	struct fill f;
	long samples = 0;
	char err[256];

	if (argc < 2 || procs < 1 || days < 3) {
		fprintf(stderr, "usage: pnmt_storefill DB [PROCS [DAYS]]\n");
		return 2;
	}
	if (setup(&f, procs) || pnm_store_open(&s, argv[1], false, err, sizeof(err))) {
		fprintf(stderr, "pnmt_storefill: %s\n", err);
		return 1;
	}
	pnm_retention_default(&keep);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (t = now - (int64_t)days * 86400; t < now; samples++) {
		int span = t < minutes_from ? 3600 : 60;
		struct pnm_store_sample smp;
		bool more;

		sample(&f, t, span, &smp);
		if (pnm_store_write(s, &smp, err, sizeof(err)) ||
		    pnm_store_expire(s, t, &keep, 20000, &more, err, sizeof(err))) {
			fprintf(stderr, "pnmt_storefill: %s\n", err);
			pnm_store_close(s);
			return 1;
		}
		t += span;
	}
	pnm_store_close(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("samples %ld\nfill_s %.2f\n", samples,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
