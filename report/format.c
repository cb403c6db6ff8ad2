// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "format.h"

static char *scaled(uint64_t v, unsigned int base, const char *const *units, size_t nunits,
		    const char *sep, char *buf, size_t len)
{
	double d = (double)v;
	size_t u = 0;

	if (v < base) {
		snprintf(buf, len, "%llu%s%s", (unsigned long long)v, sep, units[0]);
		return buf;
	}
	while (d >= base && u + 1 < nunits) {
		d /= base;
		u++;
	}
	/* Rounding may reach the base again: 1023.96 KiB -> 1.00 MiB. */
	if (d >= base - 0.5 && u + 1 < nunits) {
		d /= base;
		u++;
	}
	if (d < 9.995)
		snprintf(buf, len, "%.2f%s%s", d, sep, units[u]);
	else if (d < 99.95)
		snprintf(buf, len, "%.1f%s%s", d, sep, units[u]);
	else
		snprintf(buf, len, "%.0f%s%s", d, sep, units[u]);
	return buf;
}

char *pnm_fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

	return scaled(bytes, 1024, units, sizeof(units) / sizeof(units[0]), " ", buf, len);
}

char *pnm_fmt_count(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "", "k", "M", "G", "T", "P", "E" };

	return scaled(n, 1000, units, sizeof(units) / sizeof(units[0]), "", buf, len);
}

char *pnm_escape(const char *in, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!len)
		return buf;
	/* A character at a time, without printf: show escapes a name and an
	 * interface label on every row. */
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char tmp[4] = { '\\' };
		size_t n = 2;

		if (*p == '\\')
			tmp[1] = '\\';
		else if (*p == '\n')
			tmp[1] = 'n';
		else if (*p == '\t')
			tmp[1] = 't';
		else if (*p < 0x20 || *p >= 0x7f) {
			tmp[1] = 'x';
			tmp[2] = hex[*p >> 4];
			tmp[3] = hex[*p & 0xf];
			n = 4;
		} else {
			tmp[0] = (char)*p;
			n = 1;
		}
		if (o + n >= len)
			break;
		for (size_t i = 0; i < n; i++)
			buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

char *pnm_fmt_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "1970-01-01T00:00:00Z");
	return buf;
}

char *pnm_fmt_rate(double bytes_per_s, char *buf, size_t len)
{
	static const char *const units[] = { "bps", "Kbps", "Mbps", "Gbps", "Tbps" };
	double bits = bytes_per_s * 8;
	size_t u = 0;

	if (bits < 0.5) {
		snprintf(buf, len, "0 bps");
		return buf;
	}
	while (bits >= 999.5 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bits /= 1000;
		u++;
	}
	if (u > 0 && bits < 9.995)
		snprintf(buf, len, "%.2f %s", bits, units[u]);
	else if (u > 0 && bits < 99.95)
		snprintf(buf, len, "%.1f %s", bits, units[u]);
	else
		snprintf(buf, len, "%.0f %s", bits, units[u]);
	return buf;
}

char *pnm_fmt_duration(double seconds, char *buf, size_t len)
{
	unsigned long long s = seconds > 0 ? (unsigned long long)(seconds + 0.5) : 0;

	if (s < 60)
		snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
	return buf;
}

char *pnm_fmt_addr(int family, const uint8_t *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == 2 ? AF_INET : AF_INET6, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

char *pnm_fmt_endpoint(int family, const uint8_t *addr, uint16_t port, char *buf, size_t len)
{
	char a[64];

	pnm_fmt_addr(family, addr, a, sizeof(a));
	if (family == 2)
		snprintf(buf, len, "%s:%u", a, port);
	else
		snprintf(buf, len, "[%s]:%u", a, port);
	return buf;
}

const char *pnm_tcp_state_name(unsigned int state)
{
	static const char *const names[] = { "-",	    "ESTABLISHED", "SYN_SENT",	"SYN_RECV",
					     "FIN_WAIT1",   "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
					     "CLOSE_WAIT",  "LAST_ACK",	   "LISTEN",	"CLOSING",
					     "NEW_SYN_RECV" };

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}
