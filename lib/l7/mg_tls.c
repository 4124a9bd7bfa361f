/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Strict TLS ClientHello parser (see l7_parse.h): joins the handshake
 * message across records, checks every length against both the message
 * and the bytes at hand, and keeps the server name. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "l7_parse.h"

#define REC_HDR		5
#define REC_MAX		16384
#define CT_HANDSHAKE	22
#define HS_HDR		4
#define HT_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define SNI_HOST_NAME	0
#define HELLO_RANDOM	32
#define MAX_SESSION_ID	32
#define EXT_TYPES	65536
#define EXT_BLOCK_BITS	1024 /* types per lazily cleared bitmap block */

/* Outcome of reading a field: in the message and at hand, past the end
 * of the message (bad), or in it but not received yet. */
enum step {
	STEP_OK = 0,
	STEP_MORE,
	STEP_BAD,
};

/* The handshake message body: [0, end) declared, [0, avail) at hand. */
struct cursor {
	const uint8_t *b;
	uint32_t off;
	uint32_t avail;
	uint32_t end;
};

/* Extension types seen in one hello; a block of the bitmap is cleared
 * when first touched, so a hello costs what its types touch, not 8 KiB. */
struct ext_seen {
	uint64_t init; /* blocks cleared */
	uint64_t bits[EXT_TYPES / 64];
};

static inline uint32_t
be16(const uint8_t *b)
{
	return (uint32_t)b[0] << 8 | b[1];
}

static inline uint32_t
be24(const uint8_t *b)
{
	return (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
}

/* Take @p n bytes at the cursor. */
static inline enum step
take(struct cursor *c, uint32_t n, const uint8_t **out)
{
	if (n > c->end - c->off)
		return STEP_BAD;
	if (n > c->avail - c->off)
		return STEP_MORE;
	*out = c->b + c->off;
	c->off += n;
	return STEP_OK;
}

/* Take a vector: a @p width-byte length of @p min..@p max bytes, then
 * those bytes. A length past the message is bad at once, before the
 * bytes arrive. */
static inline enum step
take_vec(struct cursor *c, unsigned int width, uint32_t min, uint32_t max,
	 const uint8_t **out, uint32_t *n)
{
	const uint8_t *l;
	enum step s;

	s = take(c, width, &l);
	if (s != STEP_OK)
		return s;
	*n = width == 1 ? l[0] : be16(l);
	if (*n < min || *n > max)
		return STEP_BAD;
	return take(c, *n, out);
}

static inline bool
seen_before(struct ext_seen *s, uint32_t type)
{
	uint32_t block = type / EXT_BLOCK_BITS;
	uint64_t bit = 1ULL << (type % 64);
	uint64_t *w;

	if (!(s->init & 1ULL << block)) {
		memset(&s->bits[block * (EXT_BLOCK_BITS / 64)], 0,
		       EXT_BLOCK_BITS / 8);
		s->init |= 1ULL << block;
	}
	w = &s->bits[type / 64];
	if (*w & bit)
		return true;
	*w |= bit;
	return false;
}

/* A DNS name in host_name: letters, digits, '-', '_' in dot-separated
 * labels, none empty. RFC 6066 wants no trailing dot, but servers that
 * take one anyway name the same host with it (nginx strips it), so one
 * is accepted and left out of the normal form. */
static bool
host_name_ok(const uint8_t *s, uint32_t n)
{
	uint32_t i;
	uint8_t c;

	if (n == 0 || n > MG_TLS_MAX_SNI || s[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')
			continue;
		if (c != '.' || s[i - 1] == '.')
			return false;
	}
	return true;
}

/* server_name: a list holding exactly one host_name. */
static enum step
parse_server_name(const uint8_t *b, uint32_t n, struct mg_tls_hello *h)
{
	uint32_t name_len, i;

	if (n < 5 || be16(b) != n - 2 || b[2] != SNI_HOST_NAME)
		return STEP_BAD;
	name_len = be16(b + 3);
	if (name_len != n - 5 || !host_name_ok(b + 5, name_len))
		return STEP_BAD;
	/* the normal form: lowercase, without the trailing dot */
	b += 5;
	if (b[name_len - 1] == '.')
		name_len--;
	h->has_sni = true;
	h->sni_len = (uint16_t)name_len;
	for (i = 0; i < name_len; i++)
		h->sni[i] =
			(char)(b[i] >= 'A' && b[i] <= 'Z' ? b[i] | 0x20 : b[i]);
	h->sni[name_len] = '\0';
	return STEP_OK;
}

/* The ClientHello body after its 4-byte header. */
static enum step
parse_hello(struct cursor *c, struct mg_tls_hello *h)
{
	struct ext_seen seen;
	const uint8_t *f;
	uint32_t n, type, ext_end;
	enum step s;

	h->has_sni = false;
	h->sni_len = 0;
	h->sni[0] = '\0';

	s = take(c, 2, &f);
	if (s != STEP_OK)
		return s;
	if (f[0] != 3 || f[1] < 1)
		return STEP_BAD;
	s = take(c, HELLO_RANDOM, &f);
	if (s == STEP_OK)
		s = take_vec(c, 1, 0, MAX_SESSION_ID, &f, &n);
	if (s == STEP_OK)
		s = take_vec(c, 2, 2, 0xfffe, &f, &n);
	/* GREASE suites need no skipping: no suite is looked at. */
	if (s == STEP_OK && (n & 1))
		s = STEP_BAD;
	if (s == STEP_OK)
		s = take_vec(c, 1, 1, 0xff, &f, &n);
	if (s != STEP_OK)
		return s;
	/* Before TLS 1.3 the extensions may be absent altogether. */
	if (c->off == c->end)
		return STEP_OK;
	s = take(c, 2, &f);
	if (s != STEP_OK)
		return s;
	if (be16(f) != c->end - c->off)
		return STEP_BAD;
	ext_end = c->end;
	seen.init = 0;
	while (c->off < ext_end) {
		s = take(c, 4, &f);
		if (s != STEP_OK)
			return s;
		type = be16(f);
		/* GREASE (RFC 8701) types are unknown ones like any other:
		 * skipped, and refused twice like any other. */
		if (seen_before(&seen, type))
			return STEP_BAD;
		n = be16(f + 2);
		s = take(c, n, &f);
		if (s != STEP_OK)
			return s;
		if (type == EXT_SERVER_NAME &&
		    parse_server_name(f, n, h) != STEP_OK)
			return STEP_BAD;
	}
	return STEP_OK;
}

int
mg_tls_parse_client_hello(const uint8_t *p, uint32_t len, uint8_t *tmp,
			  struct mg_tls_hello *h)
{
	const uint8_t *msg = NULL;
	uint32_t off = 0, rlen = 0, have, got = 0, need = 0, sum = 0;
	struct cursor c;
	enum step s;

	/* Walk the records until the one where the message ends, or the
	 * data runs out. One record (the usual case) is parsed in place;
	 * more are joined in tmp. */
	for (;;) {
		const uint8_t *r = p + off;
		uint32_t avail = len - off;
		int err = off == 0 ? -MG_L7_ERR_NOT_TLS : -MG_L7_ERR_BAD_HELLO;

		if ((avail >= 1 && r[0] != CT_HANDSHAKE) ||
		    (avail >= 2 && r[1] != 3))
			return err;
		if (avail >= 4 && r[3] > REC_MAX >> 8)
			return -MG_L7_ERR_BAD_HELLO;
		if (avail < REC_HDR)
			break;
		rlen = be16(r + 3);
		if (rlen == 0 || rlen > REC_MAX)
			return -MG_L7_ERR_BAD_HELLO;
		have = avail - REC_HDR < rlen ? avail - REC_HDR : rlen;
		sum += rlen;
		if (off == 0) {
			msg = r + REC_HDR;
		} else {
			if (msg != tmp) {
				memcpy(tmp, msg, got);
				msg = tmp;
			}
			memcpy(tmp + got, r + REC_HDR, have);
		}
		got += have;
		if (got >= 1 && msg[0] != HT_CLIENT_HELLO)
			return -MG_L7_ERR_BAD_HELLO;
		if (need == 0 && got >= HS_HDR)
			need = HS_HDR + be24(msg + 1);
		/* The hello must end with its record: nothing may hide
		 * behind it. */
		if (need != 0 && need < sum)
			return -MG_L7_ERR_BAD_HELLO;
		if (have < rlen || need == sum)
			break;
		off += REC_HDR + rlen;
	}
	if (got < HS_HDR)
		return 0;

	c.b = msg + HS_HDR;
	c.off = 0;
	c.avail = got - HS_HDR;
	c.end = need - HS_HDR;
	s = parse_hello(&c, h);
	if (s == STEP_BAD)
		return -MG_L7_ERR_BAD_HELLO;
	if (got < need)
		return 0;
	/* Whole: every field read, and they fill the message exactly. */
	if (s != STEP_OK || c.off != c.end)
		return -MG_L7_ERR_BAD_HELLO;
	return (int)(off + REC_HDR + rlen);
}
