/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Commands and their options, each declared once: the command's own file
 * holds its struct pnm_cmd (name, synopsis, description, options), and
 * getopt's tables, the help text and the usage errors are derived from it
 * (in the manner of xdp-tools' DEFINE_OPTION and bpftool's per-command
 * do_help). tests/integration checks that every long option is also in
 * the man page and the bash completion.
 */
#ifndef PNM_OPTIONS_H
#define PNM_OPTIONS_H

#include <stdio.h>

enum pnm_arg {
	PNM_ARG_NONE,
	PNM_ARG_REQUIRED,
	PNM_ARG_OPTIONAL,
};

/* Keys of options without a short form start here. */
#define PNM_OPT_LONG_ONLY 0x100

struct pnm_opt {
	const char *name; /* the long name, without "--" */
	int key;	  /* the short letter, or PNM_OPT_LONG_ONLY + n */
	enum pnm_arg arg;
	const char *metavar; /* the value's name in the help, NULL for none */
	const char *help;    /* wrapped at 79 columns; '\n' breaks a line */
};

struct pnm_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;	    /* the synopsis after "pnm-tc " */
	const char *help;	    /* what the command does, before the options */
	const struct pnm_opt *opts; /* ends with a NULL name */
	const char *notes;	    /* after the options, or NULL */
};

/* The commands, in main.c's order; each defined in its command's file. */
extern const struct pnm_cmd pnm_cmd_attach, pnm_cmd_detach, pnm_cmd_show, pnm_cmd_events,
	pnm_cmd_status, pnm_cmd_daemon, pnm_cmd_history;

/* Every command also takes these (not listed in its opts). */
#define PNM_OPT_HELP 'h'
#define PNM_OPT_VERBOSE 'v'
/* -v's declaration, which main's own options share. */
#define PNM_OPT_VERBOSE_DECL                                                    \
	{                                                                       \
		"verbose", PNM_OPT_VERBOSE, PNM_ARG_NONE, NULL,                 \
			"more messages (-vv adds libbpf's, -vvv its debug log)" \
	}

/* The parser's state for one command's argv. */
#define PNM_OPTS_MAX 24
struct pnm_getopt {
	const struct pnm_cmd *cmd;
	int argc;
	char **argv;
	int rc; /* the exit code when pnm_opt_next returns PNM_OPT_STOP */
};

/* pnm_opt_next's return besides a key: the options are over (positional
 * arguments start at optind), or the command must return g->rc (help was
 * printed, or a usage error). */
#define PNM_OPT_END (-1)
#define PNM_OPT_STOP (-2)

/* Start parsing argv (argv[0] is the command's name). Options may come
 * after positional arguments, as with GNU tools; "--" ends them. */
void pnm_opt_start(struct pnm_getopt *g, const struct pnm_cmd *cmd, int argc, char **argv);
/* The next option's key, optarg set; -h and -v are handled here. */
int pnm_opt_next(struct pnm_getopt *g);

/* Help of one command, from its declaration. */
void pnm_cmd_help(FILE *out, const struct pnm_cmd *cmd);
/* The option list of a help text, each option's help wrapped at its
 * column (also the overview's); opts ends with a NULL name. */
void pnm_opts_help(FILE *out, const struct pnm_opt *opts);

#endif
