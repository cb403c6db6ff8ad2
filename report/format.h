/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Human-readable figures and safe strings. Pure functions, unit-tested. */
#ifndef PNM_FORMAT_H
#define PNM_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Bytes in IEC units: "512 B", "1.5 KiB", "8.00 MiB" (three significant
 * digits). Returns buf. */
char *pnm_fmt_bytes(uint64_t bytes, char *buf, size_t len);
/* Counts with SI suffixes: "999", "12.3k", "4.56M". Returns buf. */
char *pnm_fmt_count(uint64_t n, char *buf, size_t len);
/* A string made safe for a terminal: printable ASCII stays, backslash and
 * everything else becomes a C escape (\\, \n, \t, \xNN). Returns buf. */
char *pnm_escape(const char *in, char *buf, size_t len);
/* A rate given in bytes/s, shown in bits per second with SI units:
 * "0 bps", "950 bps", "1.23 Kbps", "20.0 Mbps". Returns buf. */
char *pnm_fmt_rate(double bytes_per_s, char *buf, size_t len);
/* An age: "42s", "3m07s", "5h02m", "2d03h". Returns buf. */
char *pnm_fmt_duration(double seconds, char *buf, size_t len);
/* An address of family 2 (AF_INET) or 10 (AF_INET6); with a port:
 * "10.0.0.1:80", "[fd00::1]:80". Return buf. */
char *pnm_fmt_addr(int family, const uint8_t *addr, char *buf, size_t len);
char *pnm_fmt_endpoint(int family, const uint8_t *addr, uint16_t port, char *buf, size_t len);
/* A TCP state (BPF_TCP_*): "ESTABLISHED", "LISTEN", ...; 0: "-". */
const char *pnm_tcp_state_name(unsigned int state);
/* RFC 3339 UTC timestamp, e.g. 2026-11-22T01:23:45Z. Returns buf. */
char *pnm_fmt_rfc3339(time_t t, char *buf, size_t len);

#endif
