// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Traffic with known owners for the integration tests. Every mode prints
 * one line per process that moved data: "PID BYTES DATAGRAMS" (payload
 * bytes and datagrams it sent itself), so the tests have the application's
 * own count as ground truth.
 *
 *   burst ADDR PORT COUNT SIZE      open a UDP socket, send, exit at once
 *   fork ADDR PORT ROUNDS SIZE      one UDP socket shared by parent and child;
 *                                   they take turns, the child sending twice
 *                                   as many datagrams
 *   tfork ADDR PORT ROUNDS SIZE     one TCP connection shared by parent and
 *                                   child, each on a CPU of its own where
 *                                   there are two; they take turns, the
 *                                   parent sending SIZE bytes, the child 3x
 *   scm ADDR PORT COUNT SIZE        the parent opens a UDP socket and passes
 *                                   it over a unix socket (SCM_RIGHTS) to a
 *                                   child that alone sends
 *   gso ADDR PORT COUNT SEGS SIZE   UDP_SEGMENT: COUNT sends of SEGS
 *                                   datagrams of SIZE bytes each
 *   many ADDR PORT PROCS SOCKS SIZE PROCS processes each open SOCKS UDP
 *                                   sockets and send one datagram on every
 *                                   tenth (at least one); all sockets stay
 *                                   open until every process has sent
 *   active ADDR PORT PROCS SECONDS SIZE
 *                                   PROCS processes each send one datagram a
 *                                   second for SECONDS seconds
 *   hold ADDR PORT UDPPORT TRIGGER  connect TCP to ADDR:PORT and bind UDP to
 *                                   UDPPORT, print "ready", then wait (never
 *                                   reading) until the file TRIGGER exists
 *                                   and 2 more seconds pass
 *
 * Sockets of other types print "PID SENT PACKETS RECEIVED PACKETS": the
 * bytes above IP (ICMP header and payload; a raw IP payload) each way.
 *   icmp ADDR raw|ping COUNT SIZE   COUNT echo requests of SIZE payload bytes
 *                                   on a raw or a ping socket (IPv4 or IPv6),
 *                                   each answered before the next
 *   rawip ADDR PROTO COUNT SIZE     COUNT packets of IP protocol PROTO on a raw
 *                                   socket, each echoed back (rawecho)
 *   rawecho PROTO SECONDS           a raw IPv4 socket of PROTO sending every
 *                                   packet back to its sender; "ready" first
 *   packet IFNAME COUNT SIZE        COUNT frames of SIZE bytes (EtherType
 *                                   0x88b5, to the broadcast address) on an
 *                                   AF_PACKET socket; prints "PID BYTES COUNT"
 *
 * Other system calls on TCP and UDP (the payload each way, as above):
 *   mmsg ADDR PORT COUNT SIZE       COUNT UDP datagrams by sendmmsg, 32 a call
 *   mrecv ADDR PORT COUNT           bind, recvmmsg until COUNT datagrams (or
 *                                   3 s without one); "ready" first
 *   sendfile ADDR PORT SIZE         one TCP connection sending SIZE bytes of a
 *                                   file with sendfile
 *   splice ADDR PORT SIZE           the same through a pipe with splice
 *   conns ADDR PORT N PAR SIZE      N TCP connections, PAR at once, each
 *                                   sending SIZE bytes, then closing
 *   drip ADDR PORT COUNT SIZE MS    one TCP connection sending SIZE bytes
 *                                   COUNT times, MS ms apart
 *   sink ADDR PORT N                accept N TCP connections (256 open at
 *                                   most), read each to its end; "ready"
 *                                   first
 *
 * The same through io_uring (liburing); exit 4 with "io_uring unavailable"
 * where the kernel refuses a ring (kernel.io_uring_disabled, a policy):
 *   usend ADDR PORT SIZE [sqpoll]   one TCP connection sending SIZE bytes,
 *                                   8 sends in flight, IORING_OP_SEND and
 *                                   IORING_OP_SENDMSG in turn, every other
 *                                   pair in io-wq's worker threads; sqpoll:
 *                                   the ring's own thread submits them
 *   urecv ADDR PORT N               accept N TCP connections (8 open at
 *                                   most) by IORING_OP_ACCEPT, read each to
 *                                   its end by IORING_OP_RECV, every other
 *                                   connection's reads in io-wq's workers;
 *                                   "ready" first
 *   uprobe                          exit 0 if a ring, and an SQPOLL one, can
 *                                   be had here
 *
 * This file holds the command line, the destination and the reports; the
 * modes are in traffic/: sockets.c (UDP and TCP shared, passed, held),
 * raw.c (ICMP, raw IP, packet sockets), syscalls.c (sendmmsg, sendfile,
 * splice, many connections, the sink) and uring.c (io_uring).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "traffic/traffic.h"

struct sockaddr_storage dst;
socklen_t dst_len;
char buf[65536];

void die(const char *what)
{
	fprintf(stderr, "pnmt_traffic: %s: %s\n", what, strerror(errno));
	exit(1);
}

void parse_addr(const char *addr, const char *port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&dst;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&dst;

	memset(&dst, 0, sizeof(dst));
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)atoi(port));
		dst_len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)atoi(port));
		dst_len = sizeof(*a6);
	} else {
		fprintf(stderr, "pnmt_traffic: bad address %s\n", addr);
		exit(2);
	}
}

int udp_socket(void)
{
	int fd = socket(dst.ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	return fd;
}

void report(long count, long size)
{
	printf("%d %ld %ld\n", getpid(), count * size, count);
	fflush(stdout);
}

void report2(long sent, long nsent, long got, long ngot)
{
	printf("%d %ld %ld %ld %ld\n", getpid(), sent, nsent, got, ngot);
	fflush(stdout);
}

int tcp_connect(void)
{
	int fd = socket(dst.ss_family, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, dst_len))
		die("connect");
	return fd;
}

/* The connection's end: no more to send, then the peer's close. */
void tcp_finish(int fd)
{
	char b;

	if (shutdown(fd, SHUT_WR))
		die("shutdown");
	while (read(fd, &b, 1) > 0)
		;
	close(fd);
}

/* A listener on dst; "ready" once it listens. */
int tcp_listen(void)
{
	int l = socket(dst.ss_family, SOCK_STREAM, 0), one = 1;

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&dst, dst_len) || listen(l, 256))
		die("listen");
	printf("ready %d\n", getpid());
	fflush(stdout);
	return l;
}

int main(int argc, char **argv)
{
	memset(buf, 'p', sizeof(buf));
	if (argc >= 6 && !strcmp(argv[1], "burst"))
		return parse_addr(argv[2], argv[3]), burst(atol(argv[4]), atol(argv[5]));
	if (argc >= 6 && !strcmp(argv[1], "fork"))
		return parse_addr(argv[2], argv[3]), fork_share(atol(argv[4]), atol(argv[5]));
	if (argc >= 6 && !strcmp(argv[1], "tfork"))
		return parse_addr(argv[2], argv[3]), tcp_fork_share(atol(argv[4]), atol(argv[5]));
	if (argc >= 6 && !strcmp(argv[1], "scm"))
		return parse_addr(argv[2], argv[3]), scm(atol(argv[4]), atol(argv[5]));
	if (argc >= 7 && !strcmp(argv[1], "gso"))
		return parse_addr(argv[2], argv[3]),
		       gso(atol(argv[4]), atol(argv[5]), atol(argv[6]));
	if (argc >= 7 && !strcmp(argv[1], "many"))
		return parse_addr(argv[2], argv[3]),
		       many(atol(argv[4]), atol(argv[5]), atol(argv[6]));
	if (argc >= 7 && !strcmp(argv[1], "active"))
		return parse_addr(argv[2], argv[3]),
		       active(atol(argv[4]), atol(argv[5]), atol(argv[6]));
	if (argc >= 6 && !strcmp(argv[1], "hold"))
		return parse_addr(argv[2], argv[3]), hold(argv[4], argv[5]);
	if (argc >= 6 && !strcmp(argv[1], "icmp"))
		return parse_addr(argv[2], "0"), icmp(argv[3], atol(argv[4]), atol(argv[5]));
	if (argc >= 6 && !strcmp(argv[1], "rawip"))
		return parse_addr(argv[2], "0"), rawip(atoi(argv[3]), atol(argv[4]), atol(argv[5]));
	if (argc >= 4 && !strcmp(argv[1], "rawecho"))
		return rawecho(atoi(argv[2]), atol(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "packet"))
		return packet(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc >= 6 && !strcmp(argv[1], "mmsg"))
		return parse_addr(argv[2], argv[3]), mmsg(atol(argv[4]), atol(argv[5]));
	if (argc >= 5 && !strcmp(argv[1], "mrecv"))
		return parse_addr(argv[2], argv[3]), mrecv(atol(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "sendfile"))
		return parse_addr(argv[2], argv[3]), do_sendfile(atol(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "splice"))
		return parse_addr(argv[2], argv[3]), do_splice(atol(argv[4]));
	if (argc >= 7 && !strcmp(argv[1], "conns"))
		return parse_addr(argv[2], argv[3]),
		       conns(atol(argv[4]), atol(argv[5]), atol(argv[6]));
	if (argc >= 7 && !strcmp(argv[1], "drip"))
		return parse_addr(argv[2], argv[3]),
		       drip(atol(argv[4]), atol(argv[5]), atol(argv[6]));
	if (argc >= 5 && !strcmp(argv[1], "sink"))
		return parse_addr(argv[2], argv[3]), sink(atol(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "usend"))
		return parse_addr(argv[2], argv[3]),
		       usend(atol(argv[4]), argc >= 6 && !strcmp(argv[5], "sqpoll"));
	if (argc >= 5 && !strcmp(argv[1], "urecv"))
		return parse_addr(argv[2], argv[3]), urecv(atol(argv[4]));
	if (argc >= 2 && !strcmp(argv[1], "uprobe"))
		return uprobe();
	fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
	return 2;
}
