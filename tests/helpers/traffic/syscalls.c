// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pnmt_traffic's other system calls on TCP and UDP: sendmmsg and recvmmsg,
 * sendfile, splice, many short connections, a slow drip, and the sink. */
#define _GNU_SOURCE /* splice, sendmmsg, recvmmsg */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "traffic.h"

int mmsg(long count, long size)
{
	struct mmsghdr m[32];
	struct iovec iov = { .iov_base = buf, .iov_len = (size_t)size };
	int fd = udp_socket();

	if (connect(fd, (struct sockaddr *)&dst, dst_len))
		die("connect");
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 32; i++) {
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (long done = 0; done < count;) {
		int n = sendmmsg(fd, m, (unsigned int)(count - done < 32 ? count - done : 32), 0);

		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			usleep(1000);
			continue;
		}
		if (n <= 0)
			die("sendmmsg");
		done += n;
	}
	report(count, size);
	return 0;
}

int mrecv(long count)
{
	static char in[32][2048];
	struct mmsghdr m[32];
	struct iovec iov[32];
	int fd = udp_socket(), rcvbuf = 16 << 20;
	long got = 0, n = 0;

	/* Room for the whole run: the sender does not wait for us. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		die("SO_RCVBUFFORCE");
	if (bind(fd, (struct sockaddr *)&dst, dst_len))
		die("bind");
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 32; i++) {
		iov[i] = (struct iovec){ .iov_base = in[i], .iov_len = sizeof(in[i]) };
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	while (n < count) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int k;

		if (poll(&pfd, 1, 3000) != 1)
			break;
		k = recvmmsg(fd, m, 32, MSG_DONTWAIT, NULL);
		for (int i = 0; i < k; i++)
			got += m[i].msg_len;
		if (k > 0)
			n += k;
	}
	report2(0, 0, got, n);
	return 0;
}

static int tmpfile_of(long size)
{
	char path[] = "/tmp/pnmt_traffic.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		die("mkstemp");
	unlink(path);
	for (long left = size; left > 0;) {
		ssize_t n = write(fd, buf,
				  (size_t)(left < (long)sizeof(buf) ? left : (long)sizeof(buf)));

		if (n <= 0)
			die("write");
		left -= n;
	}
	return fd;
}

int do_sendfile(long size)
{
	int file = tmpfile_of(size), fd = tcp_connect();
	off_t off = 0;

	while (off < size)
		if (sendfile(fd, file, &off, (size_t)(size - off)) <= 0)
			die("sendfile");
	tcp_finish(fd);
	report(1, size);
	return 0;
}

int do_splice(long size)
{
	int file = tmpfile_of(size), fd = tcp_connect(), p[2];
	loff_t off = 0;

	if (pipe(p))
		die("pipe");
	while (off < size) {
		ssize_t in = splice(file, &off, p[1], NULL, 65536, 0);

		if (in <= 0)
			die("splice from the file");
		while (in > 0) {
			ssize_t out = splice(p[0], NULL, fd, NULL, (size_t)in, 0);

			if (out <= 0)
				die("splice to the socket");
			in -= out;
		}
	}
	tcp_finish(fd);
	report(1, size);
	return 0;
}

static void send_all(int fd, long size)
{
	for (long left = size; left > 0;) {
		ssize_t n =
			send(fd, buf, (size_t)(left < (long)sizeof(buf) ? left : (long)sizeof(buf)),
			     MSG_NOSIGNAL);

		if (n <= 0)
			die("send");
		left -= n;
	}
}

int conns(long n, long par, long size)
{
	for (long i = 0; i < n; i += par) {
		int fds[256];
		long k = n - i < par ? n - i : par;

		if (k > 256)
			die("too many at once");
		for (long j = 0; j < k; j++)
			fds[j] = tcp_connect();
		for (long j = 0; j < k; j++)
			send_all(fds[j], size);
		for (long j = 0; j < k; j++)
			tcp_finish(fds[j]);
	}
	report(n, size);
	return 0;
}

int drip(long count, long size, long ms)
{
	int fd = tcp_connect();

	for (long i = 0; i < count; i++) {
		send_all(fd, size);
		usleep((useconds_t)ms * 1000);
	}
	tcp_finish(fd);
	report(count, size);
	return 0;
}

int sink(long n)
{
	int l = tcp_listen();
	struct pollfd pfd[257];
	long got = 0, done = 0, open = 0;

	pfd[0] = (struct pollfd){ .fd = l, .events = POLLIN };
	while (done < n) {
		/* At most 256 open at once: the rest wait in the backlog. */
		pfd[0].events = open < 256 ? POLLIN : 0;
		if (poll(pfd, (nfds_t)open + 1, 10000) <= 0)
			die("sink: nothing for 10 s");
		if (pfd[0].revents & POLLIN) {
			int c = accept(l, NULL, NULL);

			if (c < 0)
				die("accept");
			pfd[++open] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
		for (long i = 1; i <= open; i++) {
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r > 0) {
				got += r;
				continue;
			}
			close(pfd[i].fd);
			pfd[i--] = pfd[open--];
			done++;
		}
	}
	report2(0, 0, got, n);
	return 0;
}
