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
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static struct sockaddr_storage dst;
static socklen_t dst_len;
static char buf[65536];

static void die(const char *what)
{
	fprintf(stderr, "pnmt_traffic: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void parse_addr(const char *addr, const char *port)
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

static int udp_socket(void)
{
	int fd = socket(dst.ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	return fd;
}

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

static void report(long count, long size)
{
	printf("%d %ld %ld\n", getpid(), count * size, count);
	fflush(stdout);
}

static int burst(long count, long size)
{
	int fd = udp_socket();

	send_n(fd, count, size);
	report(count, size);
	return 0;
}

/* Parent and child alternate on one socket, paced by a pipe pair. */
static int fork_share(long rounds, long size)
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
static int tcp_fork_share(long rounds, long size)
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
static int scm(long count, long size)
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

static int gso(long count, long segs, long size)
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

static int many(long procs, long socks, long size)
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

static int hold(const char *udpport, const char *trigger)
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

/* A packet on fd within 2 s, into b; its length, or -1. */
static ssize_t recv_wait(int fd, char *b, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 2000) != 1)
		return -1;
	return recv(fd, b, len, 0);
}

static uint16_t csum(const void *data, size_t len)
{
	const uint16_t *w = data;
	uint32_t sum = 0;

	for (; len > 1; len -= 2)
		sum += *w++;
	if (len)
		sum += *(const uint8_t *)w;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void report2(long sent, long nsent, long got, long ngot)
{
	printf("%d %ld %ld %ld %ld\n", getpid(), sent, nsent, got, ngot);
	fflush(stdout);
}

/* Echo requests; a raw socket sees every echo reply of the host: only
 * those with our identifier are ours. IPv4 raw sockets get the IP header
 * too. */
static int icmp(const char *kind, long count, long size)
{
	bool v6 = dst.ss_family == AF_INET6, raw = !strcmp(kind, "raw");
	int proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	int fd = socket(dst.ss_family, raw ? SOCK_RAW : SOCK_DGRAM, proto);
	uint16_t id = (uint16_t)getpid();
	long got = 0, ngot = 0;
	static char in[65536];

	if (fd < 0)
		die(raw ? "raw ICMP socket" : "ping socket (net.ipv4.ping_group_range?)");
	if (size + 8 > (long)sizeof(buf))
		die("too large");
	((struct sockaddr_in *)&dst)->sin_port = 0;
	for (long i = 0; i < count; i++) {
		struct icmphdr *h = (struct icmphdr *)buf;
		ssize_t n;

		memset(buf, 'p', (size_t)size + 8);
		h->type = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
		h->code = 0;
		h->checksum = 0;
		h->un.echo.id = htons(id);
		h->un.echo.sequence = htons((uint16_t)i);
		if (!v6)
			h->checksum = csum(buf, (size_t)size + 8); /* IPv6: the kernel's */
		if (sendto(fd, buf, (size_t)size + 8, 0, (struct sockaddr *)&dst, dst_len) !=
		    size + 8)
			die("sendto");
		for (;;) {
			const struct icmphdr *r = (const void *)in;

			n = recv_wait(fd, in, sizeof(in));
			if (n < 0)
				die("no echo reply");
			if (raw && !v6) {
				size_t ihl = (size_t)(in[0] & 0xf) * 4;

				r = (const void *)(in + ihl);
				n -= (ssize_t)ihl;
			}
			if (n < 8 || r->type != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY))
				continue;
			/* A ping socket's identifier is its own, and its replies
			 * are all its own. */
			if (raw && (ntohs(r->un.echo.id) != id ||
				    ntohs(r->un.echo.sequence) != (uint16_t)i))
				continue;
			got += n;
			ngot++;
			break;
		}
	}
	report2(count * (size + 8), count, got, ngot);
	return 0;
}

static int rawip(int proto, long count, long size)
{
	int fd = socket(AF_INET, SOCK_RAW, proto);
	long got = 0;
	static char in[65536];

	if (fd < 0)
		die("raw IP socket");
	for (long i = 0; i < count; i++) {
		ssize_t n;

		if (sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst, dst_len) != size)
			die("sendto");
		n = recv_wait(fd, in, sizeof(in));
		if (n < 20)
			die("no echo");
		got += n - (in[0] & 0xf) * 4;
	}
	report2(count * size, count, got, count);
	return 0;
}

static int rawecho(int proto, long seconds)
{
	int fd = socket(AF_INET, SOCK_RAW, proto);
	time_t end = time(NULL) + seconds;
	static char in[65536];

	if (fd < 0)
		die("raw IP socket");
	printf("ready %d\n", getpid());
	fflush(stdout);
	while (time(NULL) < end) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		size_t ihl;

		if (poll(&pfd, 1, 200) != 1)
			continue;
		n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &flen);
		if (n < 20)
			continue;
		ihl = (size_t)(in[0] & 0xf) * 4;
		if (sendto(fd, in + ihl, (size_t)n - ihl, 0, (struct sockaddr *)&from, flen) < 0)
			die("sendto");
	}
	return 0;
}

static int packet(const char *ifname, long count, long size)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	int fd = socket(AF_PACKET, SOCK_RAW, 0); /* send only: no protocol */
	struct ether_header *eh = (struct ether_header *)buf;

	if (fd < 0)
		die("AF_PACKET socket");
	ll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!ll.sll_ifindex)
		die("no such interface");
	if (size < (long)sizeof(*eh) || size > (long)sizeof(buf))
		die("bad frame size");
	memset(eh->ether_dhost, 0xff, ETH_ALEN);
	memset(ll.sll_addr, 0xff, ETH_ALEN);
	memset(eh->ether_shost, 0x02, ETH_ALEN);
	eh->ether_type = htons(0x88b5);
	for (long i = 0; i < count; i++)
		if (sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&ll, sizeof(ll)) != size)
			die("sendto");
	report(count, size);
	return 0;
}

static int mmsg(long count, long size)
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

static int mrecv(long count)
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

static int tcp_connect(void)
{
	int fd = socket(dst.ss_family, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, dst_len))
		die("connect");
	return fd;
}

/* The connection's end: no more to send, then the peer's close. */
static void tcp_finish(int fd)
{
	char b;

	if (shutdown(fd, SHUT_WR))
		die("shutdown");
	while (read(fd, &b, 1) > 0)
		;
	close(fd);
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

static int do_sendfile(long size)
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

static int do_splice(long size)
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

static int conns(long n, long par, long size)
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

static int drip(long count, long size, long ms)
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

/* A listener on dst; "ready" once it listens. */
static int tcp_listen(void)
{
	int l = socket(dst.ss_family, SOCK_STREAM, 0), one = 1;

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&dst, dst_len) || listen(l, 256))
		die("listen");
	printf("ready %d\n", getpid());
	fflush(stdout);
	return l;
}

static int sink(long n)
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

static int usend(long size, bool sqpoll)
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

static int urecv(long n)
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

static int uprobe(void)
{
	struct io_uring ring;

	uring_init(&ring, false);
	io_uring_queue_exit(&ring);
	uring_init(&ring, true);
	io_uring_queue_exit(&ring);
	return 0;
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
