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
#include "pnm.h"

#ifndef PNM_VERSION
#define PNM_VERSION "unknown"
#endif

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
};

int pnm_bad_option(const char *cmd, const char *with_value, char **argv)
{
	/* optopt names a short option (also a long one's letter when its value
	 * is missing); 0 means an unknown long option, whole in argv. */
	if (optopt && strchr(with_value, optopt))
		return pnm_usage_error(cmd, "option -%c needs a value", optopt);
	if (optopt)
		return pnm_usage_error(cmd, "unknown option '-%c'", optopt);
	return pnm_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

static int cmd_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "attach", cmd_attach,
	  "attach [--netns NETNS] [--xdp] [--tc-hook tcx|clsact] [--layer l1|l2|l3]\n"
	  "              [--max-processes N] [--max-sockets N] [--group GROUP] [-v] IFACE...",
	  "Count every packet on each interface (TC ingress and egress) and\n"
	  "attribute it to the process that owns its socket. Loads the programs once,\n"
	  "attaches the socket hooks to the cgroup v2 root and pins everything under\n" PNM_PIN_DIR
	  ", so the counters outlive the command. Attaching twice\n"
	  "equals attaching once; if one interface fails, none is attached.\n"
	  "  --netns NETNS         the interfaces are in this network namespace: a name\n"
	  "                        under /run/netns (ip netns) or a path such as\n"
	  "                        /proc/PID/ns/net; shown as NETNS/IFACE afterwards\n"
	  "  --xdp                 count ingress at XDP, before GRO, through libxdp's\n"
	  "                        dispatcher (other XDP programs keep running after\n"
	  "                        pnm-tc's); egress stays on TC. Ethernet only\n"
	  "  --tc-hook tcx|clsact  where the TC programs go. tcx (Linux 6.6+, the\n"
	  "                        default there): first in the device's program\n"
	  "                        list, ahead of any clsact filter, and without the\n"
	  "                        classifier layer's cost. clsact (the default on\n"
	  "                        older kernels): filters just before the existing\n"
	  "                        ones, in a clsact qdisc added if there is none\n"
	  "  -l, --layer l1|l2|l3  what a byte count includes (per interface):\n"
	  "        l2  Ethernet frames: header + payload, no FCS (the default)\n"
	  "        l1  + preamble, SFD, FCS and inter-frame gap (24 B per frame, short\n"
	  "            frames padded to 60 B): link utilisation; Ethernet only\n"
	  "        l3  IP packets\n"
	  "  --max-processes N     (process, interface) counter slots and process\n"
	  "                        records (default 16384); beyond them, traffic counts\n"
	  "                        as unattributed overflow, reported by show and status\n"
	  "  --max-sockets N       closing TCP connections remembered for their last\n"
	  "                        packets, closed connections' counters kept (default\n"
	  "                        65536); open sockets keep their owner and counters\n"
	  "                        themselves, without a limit\n"
	  "  --group GROUP         let GROUP read the pins (directory 0750, files 0640;\n"
	  "                        reading still needs CAP_BPF); by default they are\n"
	  "                        root's alone (0700/0600)\n"
	  "  Sizes and --group are set by the first attach and kept until the last\n"
	  "  detach.\n" },
	{ "detach", cmd_detach, "detach [--netns NETNS] [-v] [IFACE...]",
	  "Remove pnm-tc's TC programs (and XDP program) from the named interfaces, or\n"
	  "from all. When the last interface goes, the programs, socket hooks and pins\n"
	  "go too. A clsact qdisc is removed only if pnm-tc created it and nothing\n"
	  "else uses it; other tools' qdiscs, filters and XDP programs are never\n"
	  "touched. An interface of another namespace is NETNS/IFACE, or IFACE with\n"
	  "--netns NETNS.\n" },
	{ "show", cmd_show,
	  "show [-p PID[,PID...] [--children]] [-n NAME] [-i IFACE] [--sort KEY]\n"
	  "            [--top N] [-a] [-d] [--by remote|proto] [--json]\n"
	  "            [-c|--watch [INTERVAL]] [-t DURATION]",
	  "Print bytes and packets in (received) and out (sent) per process and\n"
	  "interface, plus each interface's unattributed traffic and total. Without\n"
	  "-p, every process with counters, the busiest first.\n"
	  "  -p, --pid PID[,PID...]   only these processes (exited ones are kept)\n"
	  "      --children           and every descendant of them, also those forked\n"
	  "                           after attach (needs -p)\n"
	  "  -n, --name NAME          only processes with this name, or matching this\n"
	  "                           glob ('nginx*'); with -p, both must match\n"
	  "  -i, --interface IFACE    every figure restricted to this interface\n"
	  "                           (NETNS/IFACE for one in another namespace)\n"
	  "      --sort KEY           total (default), in, out, pid or name; while\n"
	  "                           sampling, in/out/total order by the current rate\n"
	  "      --top N              only the first N processes\n"
	  "  -a, --aggregate          add a TOTAL over the processes shown\n"
	  "  -d, --details            each process's connections: protocol, local and\n"
	  "                           remote address:port, TCP state, bytes and packets\n"
	  "      --by remote|proto    totals of the shown processes' connections per\n"
	  "                           remote address, or per protocol\n"
	  "  -j, --json               JSON (see README) instead of a table\n"
	  "  -c, --watch [INTERVAL]   sample every INTERVAL (default 2s): current and\n"
	  "                           peak rates; a live view on a terminal (q quits,\n"
	  "                           s changes the sort), else one snapshot (one JSON\n"
	  "                           line with --json) per interval\n"
	  "  -t, --time DURATION      sample for DURATION (30s, 5m, 1h), then stop\n"
	  "  Sampling ends with a summary of the period (also on Ctrl-C or SIGTERM).\n"
	  "  Rates are bit/s in SI units (Kbps, Mbps); byte totals use IEC (KiB, MiB).\n"
	  "  NO_COLOR turns colour off; it is only used on a terminal.\n" },
	{ "events", cmd_events,
	  "events [-p PID[,PID...] [--children]] [-n NAME] [-i IFACE] [--json]\n"
	  "              [-t DURATION]",
	  "Stream socket-level events, one line each: TIME DIR PID COMM BYTES\n"
	  "LOCAL -> REMOTE, where DIR is SEND or RECV and BYTES what one send or\n"
	  "receive call moved; and process events: EXEC (PID, PPID, name) and EXIT\n"
	  "(PID, exit code or signal). Needs an attached state. Events come through\n"
	  "a BPF ring buffer; if the reader falls behind, the number lost is\n"
	  "reported. Ctrl-C, SIGTERM or the end of -t print a summary: totals, and\n"
	  "bytes sent and received per connection. One events reader at a time.\n"
	  "  -p, --pid PID[,PID...]   only these processes (filtered in the kernel)\n"
	  "      --children           and the processes they fork from now on\n"
	  "  -n, --name NAME          only processes with this name, or matching this\n"
	  "                           glob\n"
	  "  -i, --interface IFACE    only send/receive events whose socket routes\n"
	  "                           through this attached interface (TCP and\n"
	  "                           connected UDP sockets cache their route)\n"
	  "  -j, --json               one JSON object per event, and for the summary\n"
	  "  -t, --time DURATION      stop after DURATION (30s, 5m, 1h)\n" },
	{ "status", cmd_status, "status [-j] [-v]",
	  "Show what is attached where, whether the filters are still in place,\n"
	  "which attribution hooks this kernel runs (and why not the others:\n"
	  "refused by its verifier, absent from it, or turned off), which socket\n"
	  "reader and seeder it uses, and how full the maps are.\n"
	  "  -j, --json               the same as one JSON object\n" },
	{ "help", cmd_help, "help [COMMAND]", "Show help for pnm-tc or one command.\n" },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

void pnm_print_help(FILE *out, const char *name)
{
	const struct cmd *c = name ? find_cmd(name) : NULL;

	if (c) {
		fprintf(out, "Usage: pnm-tc %s\n\n%s", c->usage, c->help);
		return;
	}
	fprintf(out, "Usage: pnm-tc [-v|-vv] [--version] COMMAND [ARGS]\n\n"
		     "Which process put how many bytes on which interface: exact wire bytes\n"
		     "per process and interface, counted in the kernel.\n\nCommands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %s\n", cmds[i].usage);
	fprintf(out, "\nOptions:\n"
		     "  -v, --verbose   more messages (-vv adds libbpf's, -vvv its debug log)\n"
		     "  -V, --version   print the version\n"
		     "  -h, --help      this help; 'pnm-tc help COMMAND' for one command\n\n"
		     "Exit status: 0 success, 1 failure, 2 usage error.\n"
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
	pnm_print_help(stdout, argc == 2 ? argv[1] : NULL);
	return PNM_EXIT_OK;
}

static const struct option main_opts[] = {
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

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
	const struct cmd *c;
	int opt;

	heap_setup();
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+vVh", main_opts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			pnm_verbosity++;
			break;
		case 'V':
			printf("pnm-tc %s\n", PNM_VERSION);
			return PNM_EXIT_OK;
		case 'h':
			pnm_print_help(stdout, NULL);
			return PNM_EXIT_OK;
		default:
			return pnm_bad_option(NULL, "", argv);
		}
	}
	if (optind >= argc) {
		pnm_print_help(stderr, NULL);
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
