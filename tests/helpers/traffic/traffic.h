/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What pnmt_traffic.c (the command line, the destination, the reports)
 * shares with its modes in traffic/; the modes' usage is in its top comment.
 */
#ifndef PNMT_TRAFFIC_H
#define PNMT_TRAFFIC_H

#include <stdbool.h>
#include <sys/socket.h>

/* The destination (ADDR PORT of the command line) and a payload of 'p's. */
extern struct sockaddr_storage dst;
extern socklen_t dst_len;
extern char buf[65536];

/* Prints what failed with errno, exits 1. */
__attribute__((noreturn)) void die(const char *what);
void parse_addr(const char *addr, const char *port);
int udp_socket(void);
int tcp_connect(void);
void tcp_finish(int fd);
int tcp_listen(void);
void report(long count, long size);
void report2(long sent, long nsent, long got, long ngot);

/* sockets.c */
int burst(long count, long size);
int fork_share(long rounds, long size);
int tcp_fork_share(long rounds, long size);
int scm(long count, long size);
int gso(long count, long segs, long size);
int many(long procs, long socks, long size);
int active(long procs, long seconds, long size);
int hold(const char *udpport, const char *trigger);

/* raw.c */
int icmp(const char *kind, long count, long size);
int rawip(int proto, long count, long size);
int rawecho(int proto, long seconds);
int packet(const char *ifname, long count, long size);

/* syscalls.c */
int mmsg(long count, long size);
int mrecv(long count);
int do_sendfile(long size);
int do_splice(long size);
int conns(long n, long par, long size);
int drip(long count, long size, long ms);
int sink(long n);

/* uring.c */
int usend(long size, bool sqpoll);
int urecv(long n);
int uprobe(void);

#endif
