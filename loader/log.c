// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>

#include <bpf/libbpf.h>

#include "log.h"

int pnm_verbosity;

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

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
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
