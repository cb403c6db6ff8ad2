// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* getopt's tables, the help text and the usage errors of a command, all
 * from its one declaration (options.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "options.h"

/* What every command takes besides its own options. */
static const struct pnm_opt common_opts[] = {
	PNM_OPT_VERBOSE_DECL,
	{ "help", PNM_OPT_HELP, PNM_ARG_NONE, NULL, "this help" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

#define HELP_WIDTH 79
#define HELP_MAX_COL 30

static bool has_short(const struct pnm_opt *o)
{
	return o->key > 0 && o->key < PNM_OPT_LONG_ONLY;
}

/* "-p, --pid PID" or "    --top N": the left column of the help. */
static int opt_left(const struct pnm_opt *o, char *buf, size_t len)
{
	const char *fmt = o->arg == PNM_ARG_OPTIONAL ? " [%s]" : " %s";
	char val[64] = "";
	int n;

	if (o->metavar)
		snprintf(val, sizeof(val), fmt, o->metavar);
	if (has_short(o))
		n = snprintf(buf, len, "  -%c, --%s%s", o->key, o->name, val);
	else
		n = snprintf(buf, len, "      --%s%s", o->name, val);
	return n < 0 ? 0 : n;
}

/* The length of one line of at most room columns from p, in its paragraph
 * (up to '\n' or the end): broken after the last word that fits; a word
 * longer than room stays whole. */
static int line_len(const char *p, int room)
{
	int n, brk = 0;

	for (n = 0; p[n] && p[n] != '\n'; n++) {
		if (p[n] != ' ')
			continue;
		if (n > room)
			break;
		brk = n;
	}
	if ((!p[n] || p[n] == '\n') && n <= room)
		return n;
	return brk ? brk : n;
}

/* A paragraph that starts "KEY  text" (a list: "l2  Ethernet frames")
 * wraps under its text: the offset of that text, else 0. */
static int hang_of(const char *p)
{
	for (int i = 1; i < 12 && p[i] && p[i] != '\n'; i++)
		if (p[i] == ' ' && p[i + 1] == ' ' && p[i + 2] && p[i + 2] != ' ')
			return i + 2;
	return 0;
}

/* text from column col to HELP_WIDTH, broken between words and at each
 * '\n'; the cursor is at column at (the option's left column), on a line of
 * its own when that leaves less than two spaces. */
static void wrap(FILE *out, const char *text, int at, int col)
{
	const char *p = text ? text : "";
	bool para = true;
	int hang = 0;

	if (at > col - 2) {
		fputc('\n', out);
		at = 0;
	}
	do {
		int ind = para ? 0 : hang, n, len;

		if (para)
			hang = hang_of(p);
		n = line_len(p, HELP_WIDTH - col - ind);
		for (len = n; len > 0 && p[len - 1] == ' '; len--)
			;
		if (len)
			fprintf(out, "%*s%.*s", col - at + ind, "", len, p);
		fputc('\n', out);
		at = 0;
		p += n;
		while (*p == ' ')
			p++;
		para = *p == '\n';
		if (para)
			p++;
	} while (*p);
}

static int help_col(const struct pnm_opt *opts)
{
	char left[96];
	int col = 0;

	for (const struct pnm_opt *o = opts; o->name; o++) {
		int n = opt_left(o, left, sizeof(left)) + 2;

		if (n > col && n <= HELP_MAX_COL)
			col = n;
	}
	return col;
}

void pnm_opts_help(FILE *out, const struct pnm_opt *opts)
{
	int col = help_col(opts);
	char left[96];

	for (const struct pnm_opt *o = opts; o->name; o++) {
		int n = opt_left(o, left, sizeof(left));

		fputs(left, out);
		wrap(out, o->help, n, col);
	}
}

#define NCOMMON (sizeof(common_opts) / sizeof(common_opts[0]) - 1)
#define NALL (PNM_OPTS_MAX + NCOMMON + 1)

/* What cmd takes: its own options, then the common ones, then the NULL
 * name. More than PNM_OPTS_MAX of its own is a bug of ours, caught by any
 * run of the command. */
static void all_opts(const struct pnm_cmd *cmd, struct pnm_opt all[NALL])
{
	size_t n = 0;

	while (cmd->opts && cmd->opts[n].name)
		n++;
	if (n > PNM_OPTS_MAX) {
		fprintf(stderr, "pnm-tc: %s declares %zu options, more than %d\n", cmd->name, n,
			PNM_OPTS_MAX);
		abort();
	}
	if (n)
		memcpy(all, cmd->opts, n * sizeof(*all));
	memcpy(all + n, common_opts, sizeof(common_opts));
}

void pnm_cmd_help(FILE *out, const struct pnm_cmd *cmd)
{
	struct pnm_opt all[NALL];

	all_opts(cmd, all);
	fprintf(out, "Usage: pnm-tc %s\n\n%s", cmd->usage, cmd->help);
	if (cmd->opts && cmd->opts->name) {
		fputs("\nOptions:\n", out);
		pnm_opts_help(out, all);
	}
	if (cmd->notes)
		fprintf(out, "\n%s", cmd->notes);
}

/* The parse's options, and getopt_long's tables made from them. */
static struct pnm_opt opts[NALL];
static struct option longs[NALL];
static char shorts[1 + 3 * (NALL - 1) + 1];

static const struct pnm_opt *find_key(int key)
{
	for (const struct pnm_opt *o = opts; o->name; o++)
		if (o->key == key)
			return o;
	return NULL;
}

void pnm_opt_start(struct pnm_getopt *g, const struct pnm_cmd *cmd, int argc, char **argv)
{
	static const int has_arg[] = { no_argument, required_argument, optional_argument };
	size_t n = 0, s = 0;

	all_opts(cmd, opts);
	*g = (struct pnm_getopt){ cmd, argc, argv, PNM_EXIT_OK };
	/* ':' first: a missing value is told apart from an unknown option. */
	shorts[s++] = ':';
	for (const struct pnm_opt *o = opts; o->name; o++, n++) {
		longs[n] = (struct option){ o->name, has_arg[o->arg], NULL, o->key };
		if (!has_short(o))
			continue;
		shorts[s++] = (char)o->key;
		for (int i = 0; i < (int)o->arg; i++)
			shorts[s++] = ':';
	}
	longs[n] = (struct option){ NULL, 0, NULL, 0 };
	shorts[s] = '\0';
	/* 0, not 1: glibc then also forgets the '+' (options first) of
	 * main's own parse, and permutes. */
	optind = 0;
	opterr = 0;
}

static int stop(struct pnm_getopt *g, int rc)
{
	g->rc = rc;
	return PNM_OPT_STOP;
}

int pnm_opt_next(struct pnm_getopt *g)
{
	const char *cmd = g->cmd->name;
	const struct pnm_opt *o;
	int c = getopt_long(g->argc, g->argv, shorts, longs, NULL);

	switch (c) {
	case -1:
		return PNM_OPT_END;
	case PNM_OPT_HELP:
		pnm_cmd_help(stdout, g->cmd);
		return stop(g, pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK);
	case PNM_OPT_VERBOSE:
		pnm_verbosity++;
		return pnm_opt_next(g);
	case ':':
		o = find_key(optopt);
		if (o && has_short(o))
			return stop(g, pnm_usage_error(cmd, "option -%c needs a value", o->key));
		return stop(g,
			    pnm_usage_error(cmd, "option --%s needs a value", o ? o->name : "?"));
	case '?':
		/* optopt: an unknown short option, or one given a value it
		 * does not take (--json=1); 0 for an unknown long one. */
		o = optopt ? find_key(optopt) : NULL;
		if (o)
			return stop(g, pnm_usage_error(cmd, "option --%s takes no value", o->name));
		if (optopt)
			return stop(g, pnm_usage_error(cmd, "unknown option '-%c'", optopt));
		return stop(g, pnm_usage_error(cmd, "unknown option '%s'", g->argv[optind - 1]));
	default:
		return c;
	}
}
