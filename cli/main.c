// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pnm-tc: which process put how many bytes on which interface. */
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "iface.h"
#include "log.h"
#include "netns.h"
#include "options.h"
#include "pnm.h"

#ifndef PNM_VERSION
#define PNM_VERSION "unknown"
#endif

static int cmd_help(int argc, char **argv);

static const struct pnm_cmd help_cmd = {
	"help", cmd_help, "help [COMMAND]", "Show help for pnm-tc or one command.\n", NULL, NULL,
};

static const struct pnm_cmd *const cmds[] = {
	&pnm_cmd_attach, &pnm_cmd_detach, &pnm_cmd_show,    &pnm_cmd_events,
	&pnm_cmd_status, &pnm_cmd_daemon, &pnm_cmd_history, &help_cmd,
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct pnm_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i]->name, name))
			return cmds[i];
	return NULL;
}

static const struct pnm_opt main_opts[] = {
	PNM_OPT_VERBOSE_DECL,
	{ "version", 'V', PNM_ARG_NONE, NULL, "print the version" },
	{ "help", 'h', PNM_ARG_NONE, NULL, "this help; 'pnm-tc help COMMAND' for one command" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

/* The overview (name NULL), or one command's help. */
static void print_help(FILE *out, const char *name)
{
	const struct pnm_cmd *c = name ? find_cmd(name) : NULL;

	if (c) {
		pnm_cmd_help(out, c);
		return;
	}
	fprintf(out, "Usage: pnm-tc [-v|-vv] [--version] COMMAND [ARGS]\n\n"
		     "Which process put how many bytes on which interface: exact wire bytes\n"
		     "per process and interface, counted in the kernel.\n\nCommands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %s\n", cmds[i]->usage);
	fputs("\nOptions:\n", out);
	pnm_opts_help(out, main_opts);
	fprintf(out, "\nExit status: 0 success, 1 failure, 2 usage error.\n"
		     "Example: pnm-tc attach eth0 && pnm-tc show -i eth0 && pnm-tc detach\n");
}

int pnm_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("pnm-tc: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'pnm-tc help%s%s')\n", cmd ? " " : "", cmd ? cmd : "");
	return PNM_EXIT_USAGE;
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 2)
		return pnm_usage_error("help", "expects at most one command");
	if (argc == 2 && !find_cmd(argv[1]))
		return pnm_usage_error(NULL, "unknown command '%s'", argv[1]);
	print_help(stdout, argc == 2 ? argv[1] : NULL);
	return pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK;
}

/*
 * One show reads every map into memory it allocates and frees again, a
 * few MB with 10000 processes. On a VM a page touched for the first time
 * is dear: with paravirtualised page tables each 4 KiB fault cost 15 to
 * 20 us here, 2400 of them half of show's 110 ms. A 2 MiB transparent
 * huge page costs one fault. So freed memory stays in the heap for the
 * next read instead of going back to the kernel, and the heap grows at
 * once by 32 MB that are marked MADV_HUGEPAGE (where transparent huge
 * pages are "madvise") before any of it is touched: a 2 MiB block with one
 * 4 KiB page in it stays in 4 KiB pages. The heap's top is then moved to
 * the first 2 MiB boundary, so that what comes next is in huge pages too.
 * Before, 200 to 750 of show's faults were 4 KiB ones below that boundary
 * or in a block malloc had touched; now none are (137 faults in all).
 */
/* Below that boundary: never touched, never freed (volatile: a store the
 * compiler drops, and the malloc with it, when nothing reads it). */
static void *volatile heap_pad;

static void heap_setup(void)
{
	const size_t step = 16u << 20, huge = 2u << 20, hdr = 2 * sizeof(size_t);
	uintptr_t lo, hi, at;
	void *volatile p; /* not a malloc/free pair the compiler drops */

	/* One arena: show's reading thread (snapshot_read.c) allocates from
	 * this heap too, not from an arena of its own in 4 KiB pages. */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 32 << 20); /* its largest */
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	mallopt(M_TOP_PAD, (int)step);
	/* From the top, which grows by step + M_TOP_PAD: malloc writes only
	 * its headers, at p - hdr (touched before) and p + step. */
	p = malloc(step);
	if (!p)
		return;
	at = (uintptr_t)p;
	hi = (uintptr_t)sbrk(0);
	lo = (at + huge - 1) & ~(uintptr_t)(huge - 1);
	free(p);
	if (hi == (uintptr_t)-1 || hi < lo + huge)
		return;
	madvise((void *)lo, (hi - lo) & ~(uintptr_t)(huge - 1), MADV_HUGEPAGE);
	/* A chunk from p - hdr up to lo: the top starts at lo. */
	if (lo - at >= 4 * hdr)
		heap_pad = malloc(lo - at + hdr / 2);
}

/* stdout, when not a terminal, in 64 KiB blocks: show --json of 10000
 * processes is 3 MB, 750 writes of glibc's 4 KiB (it sizes its own buffer
 * by st_blksize whatever setvbuf is asked). The commands that stream
 * (show -t, events) flush after each sample or batch. */
static char out_buf[1 << 16];

int main(int argc, char **argv)
{
	/* getopt's tables from main_opts (all without a value); '+': options
	 * before the command only, the command's own come after it. */
	struct option longs[sizeof(main_opts) / sizeof(main_opts[0])];
	char shorts[sizeof(main_opts) / sizeof(main_opts[0]) + 1] = "+";
	const struct pnm_cmd *c;
	int opt;

	heap_setup();
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
	opterr = 0;
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		longs[i] =
			(struct option){ main_opts[i].name, no_argument, NULL, main_opts[i].key };
		shorts[i + 1] = (char)main_opts[i].key;
	}
	while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		switch (opt) {
		case 'v':
			pnm_verbosity++;
			break;
		case 'V':
			printf("pnm-tc %s\n", PNM_VERSION);
			return pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK;
		case 'h':
			print_help(stdout, NULL);
			return pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK;
		default:
			if (optopt)
				return pnm_usage_error(NULL, "unknown option '-%c'", optopt);
			return pnm_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		print_help(stderr, NULL);
		return PNM_EXIT_USAGE;
	}
	c = find_cmd(argv[optind]);
	if (!c)
		return pnm_usage_error(NULL, "unknown command '%s'", argv[optind]);
	pnm_log_setup_libbpf();
	pnm_xdp_setup_log(pnm_verbosity);
	/* Rates and ages in JSON: milliseconds and bytes/1000 s are plenty. */
	json_c_set_serialization_double_format("%.3f", JSON_C_OPTION_GLOBAL);
	/* Under `ip netns exec`, the pins are still the host's. */
	if (c->fn != cmd_help && pnm_join_host_mounts() > 0)
		pr_debug("joined the initial mount namespace, where the pins live");
	return c->fn(argc - optind, argv + optind);
}
