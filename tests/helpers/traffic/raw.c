// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pnmt_traffic's sockets that are neither TCP nor UDP: ICMP echo on raw and
 * ping sockets, raw IP and its echo, frames on a packet socket. */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "traffic.h"

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

/* Echo requests; a raw socket sees every echo reply of the host: only
 * those with our identifier are ours. IPv4 raw sockets get the IP header
 * too. */
int icmp(const char *kind, long count, long size)
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

int rawip(int proto, long count, long size)
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

int rawecho(int proto, long seconds)
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

int packet(const char *ifname, long count, long size)
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
