// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pnmt_traffic's UDP and TCP modes: bursts, sockets shared across fork and
 * SCM_RIGHTS, UDP GSO, many processes' sockets, a held connection. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "traffic.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* Send COUNT datagrams; a full queue (EAGAIN, ENOBUFS) is waited out, so
 * that every datagram the report counts was really sent. */
static void send_n(int fd, long count, long size)
{
	for (long i = 0; i < count; i++) {
		int tries = 0;

		while (sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst, dst_len) != size) {
			if ((errno != EAGAIN && errno != ENOBUFS) || ++tries > 5000)
				die("sendto");
			usleep(1000);
		}
	}
}

int burst(long count, long size)
{
	int fd = udp_socket();

	send_n(fd, count, size);
	report(count, size);
	return 0;
}

/* Parent and child alternate on one socket, paced by a pipe pair. */
int fork_share(long rounds, long size)
{
	int fd = udp_socket(), to_child[2], to_parent[2];
	char token = 't';
	pid_t pid;

	if (pipe(to_child) || pipe(to_parent))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	for (long r = 0; r < rounds; r++) {
		if (pid == 0) {
			if (read(to_child[0], &token, 1) != 1)
				die("read");
			send_n(fd, 2, size);
			if (write(to_parent[1], &token, 1) != 1)
				die("write");
		} else {
			send_n(fd, 1, size);
			if (write(to_child[1], &token, 1) != 1)
				die("write");
			if (read(to_parent[0], &token, 1) != 1)
				die("read");
		}
	}
	if (pid == 0) {
		report(2 * rounds, size);
		return 0;
	}
	waitpid(pid, NULL, 0);
	report(rounds, size);
	return 0;
}

/* Run on CPU cpu when the machine has it (else wherever). */
static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sysconf(_SC_NPROCESSORS_ONLN) > cpu && sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static void write_all(int fd, long size)
{
	for (long done = 0; done < size;) {
		ssize_t n = write(fd, buf, (size_t)(size - done));

		if (n <= 0)
			die("write");
		done += n;
	}
}

/* Parent and child take turns on one TCP connection from two CPUs: each
 * turn's bytes are the sender's, though the other CPU saw the socket last
 * with the other process. */
int tcp_fork_share(long rounds, long size)
{
	int fd = socket(dst.ss_family, SOCK_STREAM, 0), one = 1, to_child[2], to_parent[2];
	char token = 't';
	pid_t pid;

	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, dst_len))
		die("connect");
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("TCP_NODELAY");
	if (pipe(to_child) || pipe(to_parent))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	pin_cpu(pid == 0 ? 1 : 0);
	for (long r = 0; r < rounds; r++) {
		if (pid == 0) {
			if (read(to_child[0], &token, 1) != 1)
				die("read");
			write_all(fd, 3 * size);
			if (write(to_parent[1], &token, 1) != 1)
				die("write");
		} else {
			write_all(fd, size);
			if (write(to_child[1], &token, 1) != 1)
				die("write");
			if (read(to_parent[0], &token, 1) != 1)
				die("read");
		}
	}
	if (pid == 0) {
		report(rounds, 3 * size);
		return 0;
	}
	waitpid(pid, NULL, 0);
	report(rounds, size);
	return 0;
}

/* The parent creates the socket; only the child, which receives it over a
 * unix socket, sends. */
int scm(long count, long size)
{
	int pair[2], fd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair))
		die("socketpair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char cbuf[CMSG_SPACE(sizeof(int))], b;
		struct iovec iov = { &b, 1 };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c;

		if (recvmsg(pair[1], &msg, 0) != 1)
			die("recvmsg");
		c = CMSG_FIRSTHDR(&msg);
		if (!c || c->cmsg_type != SCM_RIGHTS)
			die("no SCM_RIGHTS");
		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		send_n(fd, count, size);
		report(count, size);
		return 0;
	} else {
		char cbuf[CMSG_SPACE(sizeof(int))], b = 'f';
		struct iovec iov = { &b, 1 };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		fd = udp_socket();
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
		if (sendmsg(pair[0], &msg, 0) != 1)
			die("sendmsg");
		waitpid(pid, NULL, 0);
		report(0, size);
		return 0;
	}
}

int gso(long count, long segs, long size)
{
	int fd = udp_socket(), seg = (int)size;

	if (segs * size > (long)sizeof(buf))
		die("too large");
	if (setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof(seg)))
		die("UDP_SEGMENT");
	send_n(fd, count, segs * size);
	report(count * segs, size);
	return 0;
}

int many(long procs, long socks, long size)
{
	struct rlimit rl = { (rlim_t)socks + 64, (rlim_t)socks + 64 };
	int ready[2], go[2];
	char b;

	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit");
	if (pipe(ready) || pipe(go))
		die("pipe");
	for (long p = 0; p < procs; p++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			long sent = 0;

			close(go[1]);
			for (long i = 0; i < socks; i++) {
				int fd = udp_socket();

				if (i % 10 == 0) {
					send_n(fd, 1, size);
					sent++;
				}
			}
			if (write(ready[1], "r", 1) != 1)
				die("write");
			/* Hold every socket until the parent lets all go. */
			if (read(go[0], &b, 1) < 0)
				die("read");
			report(sent, size);
			_exit(0);
		}
	}
	close(go[0]);
	for (long p = 0; p < procs; p++)
		if (read(ready[0], &b, 1) != 1)
			die("read");
	close(go[1]);
	while (wait(NULL) > 0)
		;
	return 0;
}

int hold(const char *udpport, const char *trigger)
{
	int t = socket(dst.ss_family, SOCK_STREAM, 0), u = udp_socket();
	struct sockaddr_storage local = dst;
	struct stat st;

	if (t < 0 || connect(t, (struct sockaddr *)&dst, dst_len))
		die("connect");
	/* The UDP socket listens on the same local address the TCP one got. */
	socklen_t len = sizeof(local);
	if (getsockname(t, (struct sockaddr *)&local, &len))
		die("getsockname");
	if (local.ss_family == AF_INET)
		((struct sockaddr_in *)&local)->sin_port = htons((uint16_t)atoi(udpport));
	else
		((struct sockaddr_in6 *)&local)->sin6_port = htons((uint16_t)atoi(udpport));
	if (bind(u, (struct sockaddr *)&local, len))
		die("bind");
	printf("ready %d\n", getpid());
	fflush(stdout);
	while (stat(trigger, &st))
		usleep(20000);
	sleep(2);
	return 0;
}

int active(long procs, long seconds, long size)
{
	int go[2];
	char b;

	if (pipe(go))
		die("pipe");
	for (long p = 0; p < procs; p++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			int fd = udp_socket();

			close(go[1]);
			if (read(go[0], &b, 1) < 0)
				die("read");
			/* Spread over the second: not all in one burst. */
			usleep((useconds_t)(p % 1000) * 1000);
			for (long i = 0; i < seconds; i++) {
				send_n(fd, 1, size);
				sleep(1);
			}
			report(seconds, size);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]); /* every child starts now */
	while (wait(NULL) > 0)
		;
	return 0;
}
