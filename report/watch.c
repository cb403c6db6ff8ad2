// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * show --watch / -t: sample the counters every interval. On a terminal, a
 * live view redrawn in place (q quits, s cycles the sort); otherwise one
 * snapshot per interval (a table, or one JSON object per line). Ctrl-C,
 * SIGTERM, q or the end of -t print the session's summary and exit 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "log.h"
#include "rates.h"
#include "show.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The terminal, in raw mode while the live view runs. */
struct term {
	bool live;  /* redraw in place */
	bool keys;  /* stdin is a terminal we read keys from */
	bool color; /* a terminal, and NO_COLOR unset or empty */
	struct termios saved;
};

static void term_restore(struct term *t)
{
	if (t->keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	if (t->live)
		fputs("\033[?25h", stdout); /* cursor back */
	fflush(stdout);
}

static void term_setup(struct term *t, bool json)
{
	const char *nc = getenv("NO_COLOR");

	memset(t, 0, sizeof(*t));
	t->live = !json && isatty(STDOUT_FILENO);
	t->color = t->live && !(nc && nc[0]);
	if (t->live && isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &t->saved)) {
		struct termios raw = t->saved;

		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		t->keys = !tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	if (t->live)
		fputs("\033[?25l", stdout); /* hide the cursor */
}

static int term_rows(void)
{
	struct winsize ws;

	return !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row ? ws.ws_row : 24;
}

/* Wait until deadline (monotonic seconds) or a key or a signal. Returns the
 * key pressed, 0 at the deadline, -1 on a signal. */
static int wait_key(const struct term *t, double deadline)
{
	for (;;) {
		double left = deadline - now_s();
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int rc;
		char c;

		if (stop_signal)
			return -1;
		if (left <= 0)
			return 0;
		rc = poll(&pfd, t->keys ? 1 : 0, (int)(left * 1000) + 1);
		if (rc < 0 && errno == EINTR)
			continue; /* stop_signal is checked above */
		if (rc > 0 && read(STDIN_FILENO, &c, 1) == 1)
			return (unsigned char)c;
	}
}

static void header(FILE *out, const struct pnm_show *a, const struct term *t,
		   const struct pnm_snapshot *s, double elapsed, size_t shown)
{
	char ts[32], iv[32], el[32];
	struct tm tm;

	localtime_r(&s->taken, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	pnm_fmt_duration((double)a->interval_ms / 1000.0, iv, sizeof(iv));
	if (a->interval_ms < 1000)
		snprintf(iv, sizeof(iv), "%llums", (unsigned long long)a->interval_ms);
	pnm_fmt_duration(elapsed, el, sizeof(el));
	fprintf(out, "%spnm-tc %s  every %s  elapsed %s  sort: %s  %s%zu processes%s%s\n",
		t->color ? "\033[1;7m" : "", ts, iv, el, pnm_sort_name(a->view.sort),
		a->view.iface ? "" : "all interfaces  ", shown, t->keys ? "  [q quit, s sort]" : "",
		t->color ? "\033[0m" : "");
	fprintf(out,
		"rates: bit/s, SI (1 Mbps = 10^6 bit/s), over the last %s; peak: highest "
		"since start; totals: bytes, IEC (1 MiB = 2^20 B), since attach\n",
		iv);
}

static void print_json_line(struct json_object *doc)
{
	puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
}

static void render(const struct pnm_show *a, const struct term *t, const struct pnm_snapshot *s,
		   double elapsed)
{
	struct pnm_view v = a->view;
	struct pnm_row *rows;
	long n = pnm_report_rows(s, &v, &rows);

	free(rows);
	if (a->json) {
		pnm_report_json_write(stdout, s, &v,
				      JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
				      &elapsed);
	} else if (t->live) {
		/* As many rows as the terminal holds, unless --top says. */
		int room = term_rows() - 4 - (v.aggregate ? 1 : 0);

		if (!v.top && room > 0)
			v.top = (size_t)room;
		fputs("\033[H\033[2J", stdout);
		header(stdout, a, t, s, elapsed, (size_t)(n > 0 ? n : 0));
		pnm_report_rates(stdout, s, &v);
	} else {
		header(stdout, a, t, s, elapsed, (size_t)(n > 0 ? n : 0));
		pnm_report_rates(stdout, s, &v);
		putchar('\n');
	}
}

int pnm_watch(struct pnm_show *a, const struct pnm_maps *m)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct pnm_snapshot snap = { 0 };
	struct pnm_rates r = { 0 };
	struct term t;
	double start, last, end;
	int ret = 1, key;
	bool first = true;

	/* No SA_RESTART: a signal ends the wait at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (pnm_show_read(a, m, &snap, true))
		goto out_signals;
	if (pnm_rates_update(&r, &snap, a->view.iface, 0))
		goto out_signals;
	term_setup(&t, a->json);
	start = last = now_s();
	end = a->duration_ms ? start + (double)a->duration_ms / 1000.0 : 0;
	for (;;) {
		double deadline = last + (double)a->interval_ms / 1000.0, now;

		if (end && deadline > end)
			deadline = end;
		key = wait_key(&t, deadline);
		if (key < 0 || key == 'q' || key == 'Q')
			break;
		if (key == 's' || key == 'S') {
			a->view.sort = (a->view.sort + 1) % PNM_SORT_N;
			if (!first)
				render(a, &t, &snap, last - start);
			if (pnm_out_flush())
				goto out_term;
			continue;
		}
		if (key > 0)
			continue;
		now = now_s();
		pnm_snapshot_free(&snap);
		if (pnm_show_read(a, m, &snap, false) ||
		    pnm_rates_update(&r, &snap, a->view.iface, now - last))
			goto out_term;
		last = now;
		first = false;
		render(a, &t, &snap, now - start);
		if (pnm_out_flush())
			goto out_term;
		if (end && now >= end - 0.001)
			break;
	}
	term_restore(&t);
	if (t.live)
		putchar('\n');
	if (a->json) {
		struct json_object *doc = json_object_new_object();
		char ts[32];

		json_object_object_add(
			doc, "timestamp",
			json_object_new_string(pnm_fmt_rfc3339(time(NULL), ts, sizeof(ts))));
		json_object_object_add(doc, "summary", pnm_rates_summary_json(&r, &a->view));
		print_json_line(doc);
	} else {
		pnm_rates_summary_table(stdout, &r, &a->view);
	}
	if (stop_signal)
		pr_info("stopped by signal %d", (int)stop_signal);
	ret = pnm_out_flush() ? 1 : 0;
	goto out_signals;
out_term:
	term_restore(&t);
out_signals:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	pnm_rates_free(&r);
	pnm_snapshot_free(&snap);
	free(a->family);
	a->family = NULL;
	return ret;
}
