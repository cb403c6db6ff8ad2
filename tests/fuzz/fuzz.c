// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer targets for every parser of user input, one binary each
 * (built with -DFUZZ_<name>): PID lists, durations, interface names and
 * NETNS/IFACE labels, option values (counts, layers, sort keys, names),
 * history's times, and the one file format read (/proc/PID/stat). Besides the sanitizers'
 * checks, each asserts what its parser promises on success, and that every
 * error message is one printable line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "parse.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

/* An error message: one line of printable ASCII. */
static __attribute__((unused)) void check_err(const char *err)
{
	check(err[0] != '\0');
	for (const char *p = err; *p; p++)
		check((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256] = "";

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
#if defined(FUZZ_pids)
	{
		static struct pnm_pid_list l;

		if (!pnm_parse_pids(s, &l, err, sizeof(err))) {
			check(l.n >= 1 && l.n <= PNM_MAX_PIDS);
			for (size_t i = 0; i < l.n; i++) {
				check(l.pid[i] != 0);
				for (size_t j = 0; j < i; j++)
					check(l.pid[i] != l.pid[j]);
			}
		} else {
			check_err(err);
		}
	}
#elif defined(FUZZ_duration)
	{
		uint64_t ms = 0;

		if (!pnm_parse_duration(s, 100, 3600000, &ms, err, sizeof(err)))
			check(ms >= 100 && ms <= 3600000);
		else
			check_err(err);
	}
#elif defined(FUZZ_iface)
	{
		if (!pnm_check_ifname(s, err, sizeof(err)))
			check(strlen(s) >= 1 && strlen(s) <= 15 && !strchr(s, '/'));
		else
			check_err(err);
		err[0] = '\0';
		if (!pnm_check_iflabel(s, err, sizeof(err)))
			check(strlen(s) >= 1 && strlen(s) <= 47);
		else
			check_err(err);
	}
#elif defined(FUZZ_options)
	{
		unsigned int layer, key;
		uint32_t count;

		if (!pnm_parse_count(s, 16, 1u << 24, &count, err, sizeof(err)))
			check(count >= 16 && count <= (1u << 24));
		else
			check_err(err);
		if (!pnm_parse_layer(s, &layer, err, sizeof(err)))
			check(layer <= 2 && !strcmp(pnm_layer_name(layer), s));
		else
			check_err(err);
		if (!pnm_parse_sort(s, &key, err, sizeof(err)))
			check(key < PNM_SORT_N && !strcmp(pnm_sort_name(key), s));
		else
			check_err(err);
		if (pnm_check_name_glob(s, err, sizeof(err)))
			check_err(err);
		/* What a name becomes on screen: printable, and bounded. */
		{
			char out[4 * 64 + 1];

			pnm_escape(s, out, sizeof(out));
			for (const char *p = out; *p; p++)
				check((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
		}
	}
#elif defined(FUZZ_time)
	{
		int64_t t = -1;

		if (!pnm_parse_time(s, 1772625600, &t, err, sizeof(err)))
			check(t >= 0 && t <= PNM_TIME_MAX);
		else
			check_err(err);
	}
#elif defined(FUZZ_procstat)
	{
		uint32_t ppid;
		unsigned long long ticks;

		(void)err;
		(void)pnm_parse_proc_stat(s, &ppid, &ticks);
	}
#else
#error "build with -DFUZZ_<target>"
#endif
	free(s);
	return 0;
}
