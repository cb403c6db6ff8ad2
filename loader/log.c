// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "log.h"

int pnm_verbosity;
static struct pnm_load_failure *capture;

int pnm_out_flush(void)
{
	static bool said;
	int err;

	errno = 0;
	if (!fflush(stdout) && !ferror(stdout))
		return 0;
	/* An earlier write's error, its buffer since emptied: that errno is
	 * gone, EIO says it. */
	err = errno ? errno : EIO;
	if (!said)
		pr_warn("cannot write the output: %s", strerror(err));
	said = true;
	return -err;
}

void pnm_log(enum pnm_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > pnm_verbosity)
		return;
	fputs("pnm-tc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The verifier's reason in its log: the line before "processed N insns"
 * (the statistics that follow the error), else the last line. */
static void log_reason(const char *log, char *out, size_t len)
{
	const char *best = NULL, *p = log;
	size_t blen = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (!strncmp(p, "processed ", 10)) {
			if (best)
				break;
		} else if (n && strncmp(p, "-- END", 6)) {
			best = p;
			blen = n;
		}
		p += n + (nl != NULL);
	}
	if (best)
		snprintf(out, len, "%.*s", (int)blen, best);
}

/* libbpf says ("libbpf: " first) which program failed ("prog 'NAME': failed to load: -13")
 * after its log ("prog 'NAME': -- BEGIN PROG LOAD LOG --\n...") or its
 * error ("prog 'NAME': BPF program load failed: ..."). */
void pnm_load_failure_parse(struct pnm_load_failure *f, const char *msg)
{
	char name[sizeof(f->prog)];
	const char *rest;
	size_t n;

	if (!strncmp(msg, "libbpf: ", 8))
		msg += 8;
	if (strncmp(msg, "prog '", 6))
		return;
	rest = strstr(msg + 6, "': ");
	n = rest ? (size_t)(rest - msg - 6) : 0;
	if (!n || n >= sizeof(name))
		return;
	memcpy(name, msg + 6, n);
	name[n] = '\0';
	rest += 3;
	if (!strncmp(rest, "failed to load", 14)) {
		snprintf(f->prog, sizeof(f->prog), "%s", name);
		return;
	}
	if (strcmp(f->reason_of, name)) {
		snprintf(f->reason_of, sizeof(f->reason_of), "%s", name);
		f->reason[0] = '\0';
	}
	if (!strncmp(rest, "-- BEGIN PROG LOAD LOG --\n", 26))
		log_reason(rest + 26, f->reason, sizeof(f->reason));
	else if (!f->reason[0])
		snprintf(f->reason, sizeof(f->reason), "%.*s", (int)strcspn(rest, "\n"), rest);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (capture && level == LIBBPF_WARN) {
		char *msg = NULL;
		va_list cp;

		va_copy(cp, ap);
		if (vasprintf(&msg, fmt, cp) >= 0)
			pnm_load_failure_parse(capture, msg);
		va_end(cp);
		free(msg);
	}
	if (pnm_verbosity < PNM_LOG_DEBUG)
		return 0;
	if (level == LIBBPF_DEBUG && pnm_verbosity < PNM_LOG_DEBUG + 1)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void pnm_log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

void pnm_log_capture(struct pnm_load_failure *f)
{
	if (f)
		memset(f, 0, sizeof(*f));
	capture = f;
}
