/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Addresses and prefixes as text and as bits, and the error-buffer
 * helper every library's build step shares. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mg_base.h"

bool
mg_addr_parse(const char *text, struct mg_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return false;
	/* inet_pton is strict (no leading zeros, no short forms, no
	 * scope ids), which is what a config wants */
	if (strchr(text, ':') != NULL) {
		if (inet_pton(AF_INET6, text, out->bytes) == 1) {
			out->family = 6;
			return true;
		}
	} else if (inet_pton(AF_INET, text, out->bytes) == 1) {
		out->family = 4;
		return true;
	}
	memset(out, 0, sizeof(*out));
	return false;
}

const char *
mg_addr_format(const struct mg_addr *addr, char *buf, size_t len)
{
	int af = addr->family == 4 ? AF_INET : AF_INET6;

	if (len == 0)
		return buf;
	if ((addr->family != 4 && addr->family != 6) ||
	    inet_ntop(af, addr->bytes, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

bool
mg_prefix_contains(const struct mg_prefix *prefix, const struct mg_addr *addr)
{
	unsigned int full = prefix->len / 8, rem = prefix->len % 8;
	uint8_t mask;

	if (addr->family != prefix->addr.family)
		return false;
	if (memcmp(addr->bytes, prefix->addr.bytes, full) != 0)
		return false;
	if (rem == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rem));
	return ((addr->bytes[full] ^ prefix->addr.bytes[full]) & mask) == 0;
}

void
mg_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
