// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pnm-tc events: a line per send/receive call (TIME DIR PID COMM BYTES
 * LOCAL -> REMOTE) and per process exec and exit, from a BPF ring buffer
 * the socket hooks fill while this command runs. Lost events (a full ring)
 * are counted by the kernel and reported. Ctrl-C, SIGTERM or the end of -t
 * print a summary: totals, and bytes sent and received per connection.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "cmd.h"
#include "format.h"
#include "log.h"
#include "options.h"
#include "parse.h"
#include "proc.h"
#include "show.h"
#include "lock.h"
#include "state.h"

/* Beside attach's lock, which made PNM_LOCK_DIR: events needs a state. */
#define EVENTS_LOCK PNM_LOCK_DIR "/events.lock"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* Per-connection totals for the summary: an open-addressing table. */
struct conn_sum {
	bool used;
	uint32_t pid;
	char comm[PNM_COMM_LEN + 1];
	struct pnm_tuple t;
	uint64_t sent, recv, sends, recvs;
};

struct ev_state {
	/* filters */
	const struct pnm_pid_list *pids;
	const char *name;
	bool have_iface;
	uint32_t ifindex, netns;
	bool json;
	/* time: boottime ns -> wall clock */
	int64_t boot_to_real_ns;
	/* summary */
	uint64_t events, sent, recv, sends, recvs, execs, exits;
	struct conn_sum *tab;
	size_t cap, n;
};

static uint64_t fnv(const void *p, size_t len, uint64_t h)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 1099511628211ULL;
	return h;
}

static struct conn_sum *conn_slot(struct ev_state *st, uint32_t pid, const struct pnm_tuple *t)
{
	uint64_t h;
	size_t i;

	if (st->n * 2 >= st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 256;
		struct conn_sum *nt = calloc(cap, sizeof(*nt)), *old = st->tab;

		if (!nt)
			return NULL;
		for (size_t j = 0; j < st->cap; j++) {
			if (!old[j].used)
				continue;
			h = fnv(&old[j].t, sizeof(old[j].t),
				fnv(&old[j].pid, 4, 14695981039346656037ULL));
			for (i = h % cap; nt[i].used; i = (i + 1) % cap)
				;
			nt[i] = old[j];
		}
		free(old);
		st->tab = nt;
		st->cap = cap;
	}
	h = fnv(t, sizeof(*t), fnv(&pid, 4, 14695981039346656037ULL));
	for (i = h % st->cap; st->tab[i].used; i = (i + 1) % st->cap)
		if (st->tab[i].pid == pid && !memcmp(&st->tab[i].t, t, sizeof(*t)))
			return &st->tab[i];
	st->tab[i].used = true;
	st->tab[i].pid = pid;
	st->tab[i].t = *t;
	st->n++;
	return &st->tab[i];
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case PNM_EV_SEND:
		return "SEND";
	case PNM_EV_RECV:
		return "RECV";
	case PNM_EV_EXEC:
		return "EXEC";
	case PNM_EV_EXIT:
		return "EXIT";
	}
	return "?";
}

static void fmt_time(const struct ev_state *st, uint64_t boot_ns, char *buf, size_t len, bool iso)
{
	int64_t real = (int64_t)boot_ns + st->boot_to_real_ns;
	time_t sec = (time_t)(real / 1000000000LL);
	long usec = (long)(real % 1000000000LL) / 1000;
	struct tm tm;
	char base[32];

	if (iso) {
		gmtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf, len, "%s.%06ldZ", base, usec);
	} else {
		localtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%H:%M:%S", &tm);
		snprintf(buf, len, "%s.%06ld", base, usec);
	}
}

/* A socket's end: "10.0.0.1:80", "*" when unconnected. */
static char *endpoint(const struct pnm_tuple *t, bool remote, char *buf, size_t len)
{
	static const uint8_t zero[16];
	const uint8_t *a = remote ? t->remote : t->local;
	uint16_t port = remote ? t->rport : t->lport;

	if (remote && !port && !memcmp(a, zero, t->family == 2 ? 4 : 16))
		snprintf(buf, len, "*");
	else
		pnm_fmt_endpoint(t->family, a, port, buf, len);
	return buf;
}

/* "proto", "local" and "remote" of a socket, into o. */
static void tuple_json(struct json_object *o, const struct pnm_tuple *t)
{
	char l[80], r[80];

	json_object_object_add(o, "proto", json_object_new_string(pnm_proto_name(t->proto)));
	json_object_object_add(o, "local",
			       json_object_new_string(endpoint(t, false, l, sizeof(l))));
	json_object_object_add(o, "remote",
			       json_object_new_string(endpoint(t, true, r, sizeof(r))));
}

static bool wanted(const struct ev_state *st, const struct pnm_event *e)
{
	bool io = e->type == PNM_EV_SEND || e->type == PNM_EV_RECV;
	char comm[PNM_COMM_LEN + 1];

	if (st->have_iface && (!io || e->ifindex != st->ifindex || e->netns != st->netns))
		return false;
	snprintf(comm, sizeof(comm), "%.*s", PNM_COMM_LEN, e->comm);
	return !st->name || !strcmp(st->name, comm) || !fnmatch(st->name, comm, 0);
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct ev_state *st = ctx;
	const struct pnm_event *e = data;
	char ts[48], comm[4 * PNM_COMM_LEN + 1], raw[PNM_COMM_LEN + 1], l[80], r[80];
	bool io;

	if (size < sizeof(*e) || !wanted(st, e))
		return 0;
	io = e->type == PNM_EV_SEND || e->type == PNM_EV_RECV;
	snprintf(raw, sizeof(raw), "%.*s", PNM_COMM_LEN, e->comm);
	st->events++;
	if (io) {
		struct conn_sum *c = conn_slot(st, e->tgid, &e->t);

		if (c) {
			memcpy(c->comm, raw, sizeof(c->comm));
			if (e->type == PNM_EV_SEND) {
				c->sent += (uint64_t)e->value;
				c->sends++;
			} else {
				c->recv += (uint64_t)e->value;
				c->recvs++;
			}
		}
		if (e->type == PNM_EV_SEND) {
			st->sent += (uint64_t)e->value;
			st->sends++;
		} else {
			st->recv += (uint64_t)e->value;
			st->recvs++;
		}
	} else if (e->type == PNM_EV_EXEC) {
		st->execs++;
	} else {
		st->exits++;
	}
	fmt_time(st, e->ts_ns, ts, sizeof(ts), st->json);
	if (st->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "time", json_object_new_string(ts));
		json_object_object_add(o, "type", json_object_new_string(type_name(e->type)));
		json_object_object_add(o, "pid", json_object_new_uint64(e->tgid));
		json_object_object_add(o, "ppid", json_object_new_uint64(e->ppid));
		json_object_object_add(o, "comm", json_object_new_string(raw));
		if (io) {
			json_object_object_add(o, "bytes", json_object_new_int64(e->value));
			tuple_json(o, &e->t);
			json_object_object_add(o, "ifindex", json_object_new_uint64(e->ifindex));
		} else if (e->type == PNM_EV_EXIT) {
			if (e->value & 0x7f)
				json_object_object_add(o, "signal",
						       json_object_new_int(e->value & 0x7f));
			else
				json_object_object_add(o, "exit_code",
						       json_object_new_int((e->value >> 8) & 0xff));
		}
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return 0;
	}
	pnm_escape(raw, comm, sizeof(comm));
	if (io)
		printf("%s %s %u %s %d %s -> %s\n", ts, type_name(e->type), e->tgid, comm, e->value,
		       endpoint(&e->t, false, l, sizeof(l)), endpoint(&e->t, true, r, sizeof(r)));
	else if (e->type == PNM_EV_EXEC)
		printf("%s EXEC %u %s ppid %u\n", ts, e->tgid, comm, e->ppid);
	else if (e->value & 0x7f)
		printf("%s EXIT %u %s signal %d\n", ts, e->tgid, comm, e->value & 0x7f);
	else
		printf("%s EXIT %u %s code %d\n", ts, e->tgid, comm, (e->value >> 8) & 0xff);
	return 0;
}

static uint64_t lost_total(const struct pnm_maps *m)
{
	int ncpu = pnm_ncpus();
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v)), sum = 0;
	uint32_t zero = 0;

	if (v && !bpf_map_lookup_elem(m->evlost, &zero, v))
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

static int by_bytes(const void *a, const void *b)
{
	const struct conn_sum *x = a, *y = b;
	uint64_t tx = x->sent + x->recv, ty = y->sent + y->recv;

	if (x->used != y->used)
		return x->used ? -1 : 1;
	return tx == ty ? 0 : tx < ty ? 1 : -1;
}

static void summary(struct ev_state *st, uint64_t lost)
{
	char s1[16], s2[16], l[80], r[80];

	if (st->tab)
		qsort(st->tab, st->cap, sizeof(*st->tab), by_bytes);
	if (st->json) {
		struct json_object *o = json_object_new_object(), *sum = json_object_new_object();
		struct json_object *conns = json_object_new_array();

		json_object_object_add(sum, "events", json_object_new_uint64(st->events));
		json_object_object_add(sum, "lost", json_object_new_uint64(lost));
		json_object_object_add(sum, "sends", json_object_new_uint64(st->sends));
		json_object_object_add(sum, "bytes_sent", json_object_new_uint64(st->sent));
		json_object_object_add(sum, "receives", json_object_new_uint64(st->recvs));
		json_object_object_add(sum, "bytes_received", json_object_new_uint64(st->recv));
		json_object_object_add(sum, "execs", json_object_new_uint64(st->execs));
		json_object_object_add(sum, "exits", json_object_new_uint64(st->exits));
		for (size_t i = 0; st->tab && i < st->n; i++) {
			const struct conn_sum *c = &st->tab[i];
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "pid", json_object_new_uint64(c->pid));
			json_object_object_add(e, "comm", json_object_new_string(c->comm));
			tuple_json(e, &c->t);
			json_object_object_add(e, "sends", json_object_new_uint64(c->sends));
			json_object_object_add(e, "bytes_sent", json_object_new_uint64(c->sent));
			json_object_object_add(e, "receives", json_object_new_uint64(c->recvs));
			json_object_object_add(e, "bytes_received",
					       json_object_new_uint64(c->recv));
			json_object_array_add(conns, e);
		}
		json_object_object_add(sum, "connections", conns);
		json_object_object_add(o, "summary", sum);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	printf("summary: %llu events (%llu lost); %llu sends, %s sent; %llu receives, %s "
	       "received; %llu exec, %llu exit\n",
	       (unsigned long long)st->events, (unsigned long long)lost,
	       (unsigned long long)st->sends, pnm_fmt_bytes(st->sent, s1, sizeof(s1)),
	       (unsigned long long)st->recvs, pnm_fmt_bytes(st->recv, s2, sizeof(s2)),
	       (unsigned long long)st->execs, (unsigned long long)st->exits);
	if (st->n)
		printf("%-8s %-16s %-5s %-28s %-28s %10s %10s\n", "PID", "COMM", "PROTO", "LOCAL",
		       "REMOTE", "SENT", "RECEIVED");
	for (size_t i = 0; st->tab && i < st->n; i++) {
		const struct conn_sum *c = &st->tab[i];
		char comm[4 * PNM_COMM_LEN + 1];

		printf("%-8u %-16s %-5s %-28s %-28s %10s %10s\n", c->pid,
		       pnm_escape(c->comm, comm, sizeof(comm)), pnm_proto_name(c->t.proto),
		       endpoint(&c->t, false, l, sizeof(l)), endpoint(&c->t, true, r, sizeof(r)),
		       pnm_fmt_bytes(c->sent, s1, sizeof(s1)),
		       pnm_fmt_bytes(c->recv, s2, sizeof(s2)));
	}
}

/* One events consumer at a time: the switch and the PID filter are global. */
static int events_lock(void)
{
	char holder[32] = "";
	int fd = pnm_lock_open(EVENTS_LOCK);

	if (fd < 0) {
		pr_warn("cannot open %s: %s", EVENTS_LOCK, strerror(-fd));
		return -1;
	}
	if (pnm_lock_try(fd, holder, sizeof(holder))) {
		pr_warn("another 'pnm-tc events' (pid %s) is running; one at a time",
			holder[0] ? holder : "?");
		close(fd);
		return -1;
	}
	if (pnm_lock_record(fd))
		pr_debug("cannot record our pid in %s", EVENTS_LOCK);
	return fd;
}

/* Switch the producers on (with the PID filter) or off. */
static int set_producers(const struct pnm_maps *m, const struct ev_state *st, bool on,
			 bool children)
{
	struct pnm_evcfg cfg = { 0 };
	uint32_t zero = 0, key, next;

	/* Off first, then the filter, then on: no event slips through
	 * unfiltered. */
	bpf_map_update_elem(m->evcfg, &zero, &cfg, BPF_ANY);
	while (!bpf_map_get_next_key(m->evpids, NULL, &next)) {
		key = next;
		bpf_map_delete_elem(m->evpids, &key);
	}
	if (!on)
		return 0;
	for (size_t i = 0; st->pids && i < st->pids->n; i++)
		if (bpf_map_update_elem(m->evpids, &st->pids->pid[i], &st->pids->pid[i], BPF_ANY))
			return -errno;
	cfg.enabled = 1;
	cfg.filter_pids = st->pids != NULL;
	cfg.children = children;
	return bpf_map_update_elem(m->evcfg, &zero, &cfg, BPF_ANY) ? -errno : 0;
}

enum { OPT_CHILDREN = PNM_OPT_LONG_ONLY };

static const struct pnm_opt ev_opts[] = {
	{ "pid", 'p', PNM_ARG_REQUIRED, "PID[,PID...]",
	  "only these processes (filtered in the kernel)" },
	{ "children", OPT_CHILDREN, PNM_ARG_NONE, NULL, "and the processes they fork from now on" },
	{ "name", 'n', PNM_ARG_REQUIRED, "NAME",
	  "only processes with this name, or matching this glob" },
	{ "interface", 'i', PNM_ARG_REQUIRED, "IFACE",
	  "only send/receive events whose socket routes through this attached interface "
	  "(TCP and connected UDP sockets cache their route)" },
	{ "json", 'j', PNM_ARG_NONE, NULL, "one JSON object per event, and for the summary" },
	{ "time", 't', PNM_ARG_REQUIRED, "DURATION", "stop after DURATION (30s, 5m, 1h)" },
	{ NULL, 0, PNM_ARG_NONE, NULL, NULL },
};

const struct pnm_cmd pnm_cmd_events = {
	"events",
	cmd_events,
	"events [-p PID[,PID...] [--children]] [-n NAME] [-i IFACE] [--json]\n"
	"              [-t DURATION]",
	"Stream socket-level events, one line each: TIME DIR PID COMM BYTES\n"
	"LOCAL -> REMOTE, where DIR is SEND or RECV and BYTES what one send or\n"
	"receive call moved; and process events: EXEC (PID, PPID, name) and EXIT\n"
	"(PID, exit code or signal). Needs an attached state. Events come through\n"
	"a BPF ring buffer; if the reader falls behind, the number lost is\n"
	"reported. Ctrl-C, SIGTERM or the end of -t print a summary: totals, and\n"
	"bytes sent and received per connection. One events reader at a time.\n",
	ev_opts,
	NULL,
};

/* The processes of -p run, and the interface of -i is attached: then its
 * (ifindex, namespace) goes to st. */
static int check_filters(const struct pnm_maps *m, struct ev_state *st, const char *ifname,
			 struct pnm_snapshot *snap)
{
	struct pnm_show a = { 0 };

	for (size_t i = 0; st->pids && i < st->pids->n; i++) {
		if (!pnm_proc_exists(st->pids->pid[i])) {
			pr_warn("no such process: %u", st->pids->pid[i]);
			return -ESRCH;
		}
	}
	if (ifname) {
		const struct pnm_iface *ifc;

		a.ifname = ifname;
		if (pnm_show_read(&a, m, snap, true))
			return -ENODEV;
		ifc = a.view.iface;
		st->have_iface = true;
		st->ifindex = ifc->ifindex;
		st->netns = (uint32_t)ifc->netns_ino;
	}
	return 0;
}

/* Read the ring until a signal, or the end of -t (end, CLOCK_MONOTONIC
 * seconds; 0 for none). */
static void stream(struct ring_buffer *rb, double end)
{
	while (!stop_signal) {
		int n = ring_buffer__poll(rb, 100);
		struct timespec now;

		if (n < 0 && n != -EINTR) {
			pr_warn("reading events failed: %s", strerror(-n));
			break;
		}
		if (pnm_out_flush())
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (end && (double)now.tv_sec + (double)now.tv_nsec / 1e9 >= end)
			break;
	}
}

/* events' options into st and the rest; -1 to go on, else the exit code. */
static int parse_ev_opts(int argc, char **argv, struct ev_state *st, const char **ifname,
			 bool *children, uint64_t *duration_ms)
{
	static struct pnm_pid_list pids;
	struct pnm_getopt g;
	char err[160];
	int c;

	pnm_opt_start(&g, &pnm_cmd_events, argc, argv);
	while ((c = pnm_opt_next(&g)) != PNM_OPT_END) {
		switch (c) {
		case 'p':
			if (pnm_parse_pids(optarg, &pids, err, sizeof(err)))
				return pnm_usage_error("events", "%s", err);
			st->pids = &pids;
			break;
		case 'n':
			if (pnm_check_name_glob(optarg, err, sizeof(err)))
				return pnm_usage_error("events", "%s", err);
			st->name = optarg;
			break;
		case 'i':
			if (pnm_check_iflabel(optarg, err, sizeof(err)))
				return pnm_usage_error("events", "%s", err);
			*ifname = optarg;
			break;
		case OPT_CHILDREN:
			*children = true;
			break;
		case 'j':
			st->json = true;
			break;
		case 't':
			if (pnm_parse_duration(optarg, 100, 30ULL * 86400 * 1000, duration_ms, err,
					       sizeof(err)))
				return pnm_usage_error("events", "-t: %s", err);
			break;
		default: /* PNM_OPT_STOP */
			return g.rc;
		}
	}
	if (optind < argc)
		return pnm_usage_error("events", "unexpected argument '%s'", argv[optind]);
	if (*children && !st->pids)
		return pnm_usage_error("events", "--children needs -p PID");
	return -1;
}

int cmd_events(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct ev_state st = { 0 };
	struct ring_buffer *rb = NULL;
	struct pnm_snapshot snap = { 0 };
	struct timespec rt, bt;
	const char *ifname = NULL;
	bool children = false;
	uint64_t duration_ms = 0, lost0;
	double end = 0;
	struct pnm_maps m;
	int c, lock, ret = PNM_EXIT_FAIL;

	c = parse_ev_opts(argc, argv, &st, &ifname, &children, &duration_ms);
	if (c >= 0)
		return c;
	if (pnm_check_privileges("events", false))
		return PNM_EXIT_FAIL;
	if (pnm_explain_open_error(pnm_maps_open(&m)))
		return PNM_EXIT_FAIL;
	if (check_filters(&m, &st, ifname, &snap))
		goto out_maps;
	lock = events_lock();
	if (lock < 0)
		goto out_maps;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	st.boot_to_real_ns = ((int64_t)rt.tv_sec - (int64_t)bt.tv_sec) * 1000000000LL +
			     ((int64_t)rt.tv_nsec - (int64_t)bt.tv_nsec);
	rb = ring_buffer__new(m.events, handle_event, &st, NULL);
	if (!rb) {
		pr_warn("cannot read the event ring: %s", strerror(errno));
		goto out_lock;
	}
	/* Whatever an earlier consumer left in the ring is not ours. */
	ring_buffer__consume(rb);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	lost0 = lost_total(&m);
	if (set_producers(&m, &st, true, children)) {
		pr_warn("cannot switch the event producers on: %s", strerror(errno));
		goto out_signals;
	}
	st.events = st.sends = st.recvs = st.sent = st.recv = st.execs = st.exits = 0;
	if (duration_ms) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		end = (double)now.tv_sec + (double)now.tv_nsec / 1e9 + (double)duration_ms / 1000;
	}
	stream(rb, end);
	set_producers(&m, &st, false, false);
	ring_buffer__consume(rb);
	summary(&st, lost_total(&m) - lost0);
	if (lost_total(&m) > lost0)
		pr_warn("%llu events were lost (the ring was full): the figures above miss them",
			(unsigned long long)(lost_total(&m) - lost0));
	ret = pnm_out_flush() ? PNM_EXIT_FAIL : PNM_EXIT_OK;
out_signals:
	set_producers(&m, &st, false, false);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
out_lock:
	ring_buffer__free(rb);
	close(lock);
out_maps:
	free(st.tab);
	pnm_snapshot_free(&snap);
	pnm_maps_close(&m);
	return ret;
}
