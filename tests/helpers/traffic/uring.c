// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pnmt_traffic's io_uring modes (liburing): sends, accepts and receives
 * through a ring, some in io-wq's workers or the SQPOLL thread. */
#include <dirent.h>
#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "traffic.h"

/* The tests read exit status 4 as "this kernel gives no io_uring". */
#define EXIT_NO_URING 4
#define URING_DEPTH 8

static void uring_init(struct io_uring *ring, bool sqpoll)
{
	struct io_uring_params p = { .flags = sqpoll ? IORING_SETUP_SQPOLL : 0,
				     .sq_thread_idle = 100 };
	int err = io_uring_queue_init_params(2 * URING_DEPTH, ring, &p);
	char off[16] = "absent";
	FILE *f;

	if (!err)
		return;
	if (err != -ENOSYS && err != -EPERM && err != -EACCES) {
		errno = -err;
		die(sqpoll ? "io_uring_queue_init (SQPOLL)" : "io_uring_queue_init");
	}
	f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	if (f) {
		if (fgets(off, sizeof(off), f))
			off[strcspn(off, "\n")] = '\0';
		fclose(f);
	}
	fprintf(stderr, "pnmt_traffic: io_uring unavailable%s: %s (kernel.io_uring_disabled: %s)\n",
		sqpoll ? " with SQPOLL" : "", strerror(-err), off);
	exit(EXIT_NO_URING);
}

/* Submit what is queued and take the next completion's result and tag;
 * nothing for 10 s is an error, as in sink. */
static int uring_next(struct io_uring *ring, uint64_t *tag)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring_cqe *cqe;
	int err = io_uring_submit(ring), res;

	if (err < 0) {
		errno = -err;
		die("io_uring_submit");
	}
	err = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (err) {
		errno = -err;
		die("io_uring: no completion for 10 s");
	}
	*tag = io_uring_cqe_get_data64(cqe);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static struct io_uring_sqe *uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		errno = EBUSY;
		die("io_uring_get_sqe");
	}
	return sqe;
}

/* After the io_uring_prep_* call, which clears the flags. */
static void uring_mark(struct io_uring_sqe *sqe, uint64_t tag, bool async)
{
	io_uring_sqe_set_data64(sqe, tag);
	if (async)
		io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
}

/* The ring's threads in this process: io-wq's workers (iou-wrk-TID) and
 * the SQPOLL thread (iou-sqp-PID). Each kind asked for must be there, or
 * the mode did not test what it says; the counts go to stderr. */
static void uring_threads(const char *mode, bool want_wrk, bool want_sqp)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int wrk = 0, sqp = 0;

	if (!d)
		die("/proc/self/task");
	while ((e = readdir(d))) {
		char path[sizeof(e->d_name) + 32], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f)) {
			wrk += !strncmp(comm, "iou-wrk-", 8);
			sqp += !strncmp(comm, "iou-sqp-", 8);
		}
		fclose(f);
	}
	closedir(d);
	fprintf(stderr, "pnmt_traffic: %s: io_uring threads: %d iou-wrk, %d iou-sqp\n", mode, wrk,
		sqp);
	if ((want_wrk && !wrk) || (want_sqp && !sqp)) {
		errno = ESRCH;
		die("io_uring ran without the threads asked for");
	}
}

int usend(long size, bool sqpoll)
{
	struct io_uring ring;
	struct iovec iov[URING_DEPTH];
	struct msghdr msg[URING_DEPTH];
	size_t len[URING_DEPTH];
	int fd, freel[URING_DEPTH], nfree = 0, inflight = 0;
	unsigned long n = 0;
	long left = size;

	uring_init(&ring, sqpoll);
	fd = tcp_connect();
	memset(msg, 0, sizeof(msg));
	for (int s = URING_DEPTH - 1; s >= 0; s--)
		freel[nfree++] = s;
	while (left > 0 || inflight > 0) {
		uint64_t s;
		int res;

		for (; left > 0 && nfree > 0; n++, inflight++) {
			struct io_uring_sqe *sqe;

			s = (uint64_t)freel[--nfree];
			len[s] = (size_t)(left < 65536 ? left : 65536);
			left -= (long)len[s];
			sqe = uring_sqe(&ring);
			if (n % 2 == 0) {
				io_uring_prep_send(sqe, fd, buf, len[s], MSG_NOSIGNAL);
			} else {
				iov[s] = (struct iovec){ .iov_base = buf, .iov_len = len[s] };
				msg[s].msg_iov = &iov[s];
				msg[s].msg_iovlen = 1;
				io_uring_prep_sendmsg(sqe, fd, &msg[s], MSG_NOSIGNAL);
			}
			uring_mark(sqe, s, n % 4 >= 2);
		}
		res = uring_next(&ring, &s);
		if (res <= 0 || s >= URING_DEPTH) {
			errno = res < 0 ? -res : EIO;
			die("io_uring send");
		}
		/* A short send: the rest goes again. */
		left += (long)len[s] - res;
		freel[nfree++] = (int)s;
		inflight--;
	}
	uring_threads("usend", true, sqpoll);
	io_uring_queue_exit(&ring);
	tcp_finish(fd);
	report(1, size);
	return 0;
}

static void urecv_queue(struct io_uring *ring, int fd, uint64_t s, bool async)
{
	static char in[URING_DEPTH][65536];
	struct io_uring_sqe *sqe = uring_sqe(ring);

	io_uring_prep_recv(sqe, fd, in[s], sizeof(in[s]), 0);
	uring_mark(sqe, s, async);
}

int urecv(long n)
{
	int l, conn[URING_DEPTH], freel[URING_DEPTH], nfree = 0;
	bool async[URING_DEPTH], accepting = false;
	long got = 0, done = 0, accepted = 0;
	struct io_uring ring;

	uring_init(&ring, false);
	l = tcp_listen();
	for (int s = URING_DEPTH - 1; s >= 0; s--)
		freel[nfree++] = s;
	while (done < n) {
		uint64_t s;
		int res;

		/* At most URING_DEPTH open at once: the rest wait in the backlog. */
		if (!accepting && accepted < n && nfree > 0) {
			struct io_uring_sqe *sqe = uring_sqe(&ring);

			io_uring_prep_accept(sqe, l, NULL, NULL, 0);
			uring_mark(sqe, URING_DEPTH, false);
			accepting = true;
		}
		res = uring_next(&ring, &s);
		if (res < 0) {
			errno = -res;
			die(s == URING_DEPTH ? "io_uring accept" : "io_uring recv");
		}
		if (s == URING_DEPTH) {
			s = (uint64_t)freel[--nfree];
			conn[s] = res;
			async[s] = accepted++ % 2 == 0;
			accepting = false;
		} else if (res > 0) {
			got += res;
		} else {
			close(conn[s]);
			freel[nfree++] = (int)s;
			done++;
			continue;
		}
		urecv_queue(&ring, conn[s], s, async[s]);
	}
	uring_threads("urecv", true, false);
	io_uring_queue_exit(&ring);
	report2(0, 0, got, n);
	return 0;
}

int uprobe(void)
{
	struct io_uring ring;

	uring_init(&ring, false);
	io_uring_queue_exit(&ring);
	uring_init(&ring, true);
	io_uring_queue_exit(&ring);
	return 0;
}
