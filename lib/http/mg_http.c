/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* HTTP/1.x recognisers (see mg_http.h): the strict request-head parser
 * and chunked-framing walker of policy, the status-line, request-line and
 * head scanners of telemetry; one pass over the bytes, no allocation, no
 * state kept between calls except what the caller holds. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cpuflags.h>

#include "http_scan.h"
#include "mg_http.h"

/* Byte classes, one table so each byte costs one load. */
#define C_TCHAR 0x01 /* token (RFC 9110 5.6.2) */
#define C_VCHAR 0x02 /* visible ASCII: request target */
#define C_FIELD 0x04 /* field value: VCHAR, SP, HTAB, obs-text */
#define C_HEX	0x08
/* Target bytes the path check looks at; the rest are skipped fast. */
#define C_PATHX 0x10
/* Bytes of a host name's labels: letters, digits, '-', '_' */
#define C_HOST 0x20
/* '#': ends a query (a fragment) */
#define C_FRAG 0x40

static const uint8_t cls[256] = {
	['\t'] = C_FIELD,
	[' '] = C_FIELD,
	['!'] = C_TCHAR | C_VCHAR | C_FIELD,
	['"'] = C_VCHAR | C_FIELD,
	['#'] = C_TCHAR | C_VCHAR | C_FIELD | C_PATHX | C_FRAG,
	['$'] = C_TCHAR | C_VCHAR | C_FIELD,
	['%'] = C_TCHAR | C_VCHAR | C_FIELD | C_PATHX,
	['&'] = C_TCHAR | C_VCHAR | C_FIELD,
	['\''] = C_TCHAR | C_VCHAR | C_FIELD,
	['('] = C_VCHAR | C_FIELD,
	[')'] = C_VCHAR | C_FIELD,
	['*'] = C_TCHAR | C_VCHAR | C_FIELD,
	['+'] = C_TCHAR | C_VCHAR | C_FIELD,
	[','] = C_VCHAR | C_FIELD,
	['-'] = C_TCHAR | C_VCHAR | C_FIELD | C_HOST,
	['.'] = C_TCHAR | C_VCHAR | C_FIELD,
	['/'] = C_VCHAR | C_FIELD | C_PATHX,
	['0' ... '9'] = C_TCHAR | C_VCHAR | C_FIELD | C_HEX | C_HOST,
	[':'] = C_VCHAR | C_FIELD,
	[';'] = C_VCHAR | C_FIELD | C_PATHX,
	['<' ... '>'] = C_VCHAR | C_FIELD,
	['?'] = C_VCHAR | C_FIELD | C_PATHX,
	['@'] = C_VCHAR | C_FIELD,
	['A' ... 'F'] = C_TCHAR | C_VCHAR | C_FIELD | C_HEX | C_HOST,
	['G' ... 'Z'] = C_TCHAR | C_VCHAR | C_FIELD | C_HOST,
	['['] = C_VCHAR | C_FIELD,
	['\\'] = C_VCHAR | C_FIELD | C_PATHX,
	[']'] = C_VCHAR | C_FIELD,
	['^'] = C_TCHAR | C_VCHAR | C_FIELD,
	['_'] = C_TCHAR | C_VCHAR | C_FIELD | C_HOST,
	['`'] = C_TCHAR | C_VCHAR | C_FIELD,
	['a' ... 'f'] = C_TCHAR | C_VCHAR | C_FIELD | C_HEX | C_HOST,
	['g' ... 'z'] = C_TCHAR | C_VCHAR | C_FIELD | C_HOST,
	['{'] = C_VCHAR | C_FIELD,
	['|'] = C_TCHAR | C_VCHAR | C_FIELD,
	['}'] = C_VCHAR | C_FIELD,
	['~'] = C_TCHAR | C_VCHAR | C_FIELD,
	[0x80 ... 0xff] = C_FIELD,
};

bool http_scan_avx512;
static struct http_run_lut run_lut[HTTP_RUNS];

bool
http_run_in(enum http_run r, uint8_t c)
{
	switch (r) {
	case HTTP_RUN_TCHAR: return cls[c] & C_TCHAR;
	case HTTP_RUN_FIELD: return cls[c] & C_FIELD;
	case HTTP_RUN_PATH: return (cls[c] & (C_VCHAR | C_PATHX)) == C_VCHAR;
	case HTTP_RUN_QUERY: return (cls[c] & (C_VCHAR | C_FRAG)) == C_VCHAR;
	default: return false;
	}
}

bool
http_run_lut_build(struct http_run_lut *lut, bool (*in)(uint8_t c))
{
	uint16_t row[8], seen[8];
	unsigned int r, b, n = 0;

	memset(lut, 0, sizeof(*lut));
	for (r = 0; r < 8; r++) {
		row[r] = 0;
		for (b = 0; b < 16; b++)
			if (in((uint8_t)(r << 4 | b)))
				row[r] |= (uint16_t)(1u << b);
		if (row[r] == 0)
			continue;
		/* one bit per distinct row: 8 rows, at most 8 bits */
		for (b = 0; b < n && seen[b] != row[r]; b++)
			;
		if (b == n)
			seen[n++] = row[r];
		lut->hi[r] = (uint8_t)(1u << b);
	}
	for (b = 0; b < n; b++)
		for (r = 0; r < 16; r++)
			if (seen[b] & (1u << r))
				lut->lo[r] |= (uint8_t)(1u << b);
	lut->high_in = in(0x80);
	for (r = 0x81; r <= 0xff; r++)
		if (in((uint8_t)r) != lut->high_in)
			return false;
	return true;
}

#define RUN_IN(name, r)                                                        \
	static bool name(uint8_t c)                                            \
	{                                                                      \
		return http_run_in(r, c);                                      \
	}
RUN_IN(in_tchar, HTTP_RUN_TCHAR)
RUN_IN(in_field, HTTP_RUN_FIELD)
RUN_IN(in_path, HTTP_RUN_PATH)
RUN_IN(in_query, HTTP_RUN_QUERY)

/* The nibble tables of every run, and the AVX-512 scanner where the CPU
 * has it (cpuid only: no EAL needed this early). */
RTE_INIT(http_scan_init)
{
	static bool (*const in[HTTP_RUNS])(uint8_t) = {
		[HTTP_RUN_TCHAR] = in_tchar,
		[HTTP_RUN_FIELD] = in_field,
		[HTTP_RUN_PATH] = in_path,
		[HTTP_RUN_QUERY] = in_query,
	};
	bool ok = true;
	unsigned int r;

	for (r = 0; r < HTTP_RUNS; r++)
		ok &= http_run_lut_build(&run_lut[r], in[r]);
	http_scan_avx512 = ok &&
			   rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F) > 0 &&
			   rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512BW) > 0;
}

/* First index from @p i on whose byte is not in run @p r; @p len if
 * none. */
static inline uint32_t
run_end(const uint8_t *p, uint32_t i, uint32_t len, enum http_run r)
{
	if (http_scan_avx512)
		return http_run_end_avx512(&run_lut[r], p, i, len);
	while (i < len && http_run_in(r, p[i]))
		i++;
	return i;
}

#define MAX_METHOD	 20
#define MAX_CL_DIGITS	 18
#define MAX_CHUNK_DIGITS 15

static inline bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline int
hexval(uint8_t c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* @p s is a token (validated), @p lower a lower-case literal: token bytes
 * never collide with a letter under |0x20, so this is a caseless compare. */
static inline bool
name_is(const uint8_t *s, uint32_t n, const char *lower, uint32_t lower_len)
{
	uint32_t i;

	if (n != lower_len)
		return false;
	for (i = 0; i < n; i++)
		if ((s[i] | 0x20) != (uint8_t)lower[i])
			return false;
	return true;
}

#define NAME_IS(s, n, lit) name_is(s, n, lit, sizeof(lit) - 1)

/* Value bytes compare caselessly too, but may hold non-letters that
 * |0x20 would fold (e.g. '@' to '`'): fold letters only. */
static bool
value_caseless_is(const struct mg_http_str *v, const char *lower, uint32_t n)
{
	uint32_t i;
	uint8_t c;

	if (v->len != n)
		return false;
	for (i = 0; i < n; i++) {
		c = v->p[i];
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (uint8_t)lower[i])
			return false;
	}
	return true;
}

/* True when the path segment at @p s, up to @p semi (its first ';' or
 * its end), is "." or "..": some servers strip ";params" before they
 * resolve dot segments ("/..;/admin"). */
static inline bool
dot_segment(const uint8_t *s, const uint8_t *semi)
{
	ptrdiff_t n = semi - s;

	return (n == 1 && s[0] == '.') ||
	       (n == 2 && s[0] == '.' && s[1] == '.');
}

/* Percent-escapes a server may decode before routing: an unreserved
 * byte (RFC 3986 2.3, which says never to encode them, so no honest
 * client does) could rename the path behind a pattern's back ("%61dmin");
 * '/' or '\' would move segment boundaries, ';' would start parameters
 * that a server decoding first strips ("/admin%3Bx"), and a NUL or
 * another control could end the path early in a C server
 * ("/admin%00.html"). */
static inline bool
escape_refused(int v)
{
	return (v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') ||
	       (v >= '0' && v <= '9') || v == '-' || v == '.' || v == '_' ||
	       v == '~' || v == '/' || v == '\\' || v == ';' || v < 0x20 ||
	       v == 0x7f;
}

/*
 * Scan the request target from @p i: stop at the first byte that is not
 * visible ASCII (normally the SP before the version) and return its
 * index, or len. *bad is set when the origin-form path is not canonical;
 * the caller reports it only once the line proves to be HTTP, so that
 * e.g. "SET key value" on a Redis port reads as not HTTP. *qmark is set
 * to the index of the '?' that starts the query (left alone when there
 * is none), *params when a segment carries ";params".
 */
static inline uint32_t
scan_target(const uint8_t *p, uint32_t i, uint32_t len, bool *bad,
	    uint32_t *qmark, bool *params)
{
	const uint8_t *seg, *semi = NULL;
	uint8_t c;

	if (p[i] != '/') {
		/* "*" (OPTIONS) or absolute/authority-form: the caller
		 * decides; only the extent is found here. */
		while (i < len && (cls[p[i]] & C_VCHAR))
			i++;
		return i;
	}
	/* Path: every '/' closes a segment that must not be empty or a dot
	 * segment. The leading '/' opens the first one. */
	i++;
	seg = p + i;
	for (;;) {
		i = run_end(p, i, len, HTTP_RUN_PATH);
		if (i == len)
			return i;
		c = p[i];
		if (!(cls[c] & C_VCHAR) || c == '?') {
			/* End of the path: the last segment may be "." or
			 * "..", but "/a/" or "/a/;p" (empty last segment)
			 * is fine. */
			if (dot_segment(seg, semi ? semi : p + i))
				*bad = true;
			if (c == '?')
				*qmark = i;
			break;
		}
		switch (c) {
		case '/':
			/* "//", and "/;p/": without its parameters, as some
			 * servers map it, that segment is empty too */
			if ((semi ? semi : p + i) == seg ||
			    dot_segment(seg, semi ? semi : p + i))
				*bad = true;
			seg = p + i + 1;
			semi = NULL;
			break;
		case ';':
			*params = true;
			if (semi == NULL)
				semi = p + i;
			break;
		case '\\':
		case '#': *bad = true; break;
		case '%':
			/* An escape cut by the end of the data is checked
			 * when it arrives whole. */
			if (i + 1 < len && !(cls[p[i + 1]] & C_HEX))
				*bad = true;
			else if (i + 2 < len && !(cls[p[i + 2]] & C_HEX))
				*bad = true;
			else if (i + 2 < len &&
				 escape_refused(hexval(p[i + 1]) * 16 +
						hexval(p[i + 2])))
				*bad = true;
			break;
		default: break;
		}
		i++;
	}
	/* The query: any visible ASCII but '#', which would end it. */
	for (;;) {
		i = run_end(p, i, len, HTTP_RUN_QUERY);
		if (i == len || p[i] != '#')
			return i;
		*bad = true;
		i++;
	}
}

/*
 * Host's value (RFC 9110 7.2: uri-host [":" port]) in its normal form,
 * into @p out: without the port and without a trailing dot, which name
 * the same virtual host to the servers that route on it. Letter case is
 * kept: patterns on the host are caseless. Returns false when the value
 * is not a host name or an IP literal with an optional port: an odd
 * form (percent-escapes, sub-delims, IPvFuture, zone ids, empty labels)
 * is refused rather than guessed at, since a server might map it to a
 * name a rule denies. @p v is a whole field value: the byte after it (a
 * trailing space or tab, or the CR) is there to read and ends both
 * scans below, which need no bounds check.
 */
static bool
host_normal(const struct mg_http_str *v, struct mg_http_str *out)
{
	const uint8_t *s = v->p;
	uint32_t n = v->len, i, t0, end, digits, colons = 0;

	out->p = s;
	out->len = 0;
	if (n == 0)
		return true; /* no authority (RFC 9112 3.2): no host to match */
	if (s[0] == '[') {
		for (i = 1; (cls[s[i]] & C_HEX) || s[i] == ':' || s[i] == '.';
		     i++)
			colons += s[i] == ':';
		if (i >= n || s[i] != ']' || colons < 2)
			return false;
		end = ++i;
	} else {
		/* labels of letters, digits, '-' and '_', none empty, then
		 * maybe one trailing dot */
		for (i = 0;;) {
			for (t0 = i; cls[s[i]] & C_HOST; i++)
				;
			if (i == t0)
				return false;
			end = i;
			if (i >= n || s[i] != '.' || ++i == n || s[i] == ':')
				break;
		}
	}
	if (i < n) {
		if (s[i] != ':')
			return false;
		for (digits = 0, i++; i < n; i++, digits++)
			if (s[i] < '0' || s[i] > '9' || digits == 5)
				return false;
	}
	out->len = end;
	return true;
}

/* Upgrade's value (RFC 9110 7.8): 1#protocol, protocol = token ["/"
 * token], at most MG_HTTP_MAX_UPGRADES of them and no empty element (a
 * client that means one protocol names it once). */
static bool
upgrade_ok(const struct mg_http_str *v)
{
	const uint8_t *s = v->p;
	uint32_t i = 0, n = 0, t0, part;

	for (;;) {
		for (part = 0; part < 2; part++) {
			for (t0 = i; i < v->len && (cls[s[i]] & C_TCHAR); i++)
				;
			if (i == t0)
				return false;
			if (i == v->len || s[i] != '/' || part == 1)
				break;
			i++;
		}
		if (++n > MG_HTTP_MAX_UPGRADES)
			return false;
		while (i < v->len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == v->len)
			return true;
		if (s[i++] != ',')
			return false;
		while (i < v->len && (s[i] == ' ' || s[i] == '\t'))
			i++;
	}
}

/* Parse Content-Length's value: 1*DIGIT, at most MAX_CL_DIGITS. */
static bool
parse_content_length(const struct mg_http_str *v, uint64_t *out)
{
	uint64_t n = 0;
	uint32_t i;

	if (v->len == 0 || v->len > MAX_CL_DIGITS)
		return false;
	for (i = 0; i < v->len; i++) {
		if (!is_digit(v->p[i]))
			return false;
		n = n * 10 + (v->p[i] - '0');
	}
	*out = n;
	return true;
}

int
mg_http_parse_head(const uint8_t *p, uint32_t len, struct mg_http_head *h)
{
	static const uint8_t version[] = "HTTP/1.";
	struct mg_http_header *f;
	uint32_t i, t0, k, n0, v0, v1, qmark = 0;
	bool bad_target = false, seen_cl = false, seen_te = false;

	/* Request line: the shape "TOKEN SP target SP HTTP/1.x" decides
	 * NOT_HTTP; faults inside a line of that shape are bad requests. */
	for (i = 0; i < len && (cls[p[i]] & C_TCHAR); i++)
		if (i == MAX_METHOD)
			return -MG_HTTP_ERR_NOT_HTTP;
	if (i == len)
		return 0;
	if (i == 0 || p[i] != ' ')
		return -MG_HTTP_ERR_NOT_HTTP;
	h->method.p = p;
	h->method.len = i;
	t0 = ++i;
	if (i == len)
		return 0;
	h->path_params = false;
	i = scan_target(p, i, len, &bad_target, &qmark, &h->path_params);
	if (i == len)
		return 0;
	if (i == t0 || p[i] != ' ')
		return -MG_HTTP_ERR_NOT_HTTP;
	h->target.p = p + t0;
	h->target.len = i - t0;
	/* t0 > 0, so qmark 0 means no query */
	h->path = h->target;
	h->query.p = NULL;
	h->query.len = 0;
	if (qmark != 0) {
		h->path.len = qmark - t0;
		h->query.p = p + qmark + 1;
		h->query.len = i - qmark - 1;
	}
	i++;
	for (k = 0; k < sizeof(version) - 1; k++, i++) {
		if (i == len)
			return 0;
		if (p[i] != version[k])
			return -MG_HTTP_ERR_NOT_HTTP;
	}
	if (i == len)
		return 0;
	if (p[i] != '0' && p[i] != '1')
		return -MG_HTTP_ERR_NOT_HTTP;
	h->minor = p[i] - '0';
	if (++i == len)
		return 0;
	if (p[i] != '\r' && p[i] != '\n')
		return -MG_HTTP_ERR_NOT_HTTP;

	/* HTTP from here on. */
	if (bad_target)
		return -MG_HTTP_ERR_BAD_REQUEST;
	if (p[t0] != '/') {
		/* Only "OPTIONS *"; absolute-form would let the target name
		 * another host than Host does. */
		if (h->target.len != 1 || p[t0] != '*' || h->method.len != 7 ||
		    memcmp(p, "OPTIONS", 7) != 0)
			return -MG_HTTP_ERR_BAD_REQUEST;
	}
	if (h->method.len == 7 && memcmp(p, "CONNECT", 7) == 0)
		return -MG_HTTP_ERR_BAD_REQUEST;
	if (p[i] != '\r')
		return -MG_HTTP_ERR_BAD_REQUEST;
	if (++i == len)
		return 0;
	if (p[i] != '\n')
		return -MG_HTTP_ERR_BAD_REQUEST;
	i++;

	h->host.p = NULL;
	h->host.len = 0;
	h->upgrade.p = NULL;
	h->upgrade.len = 0;
	h->body = MG_HTTP_BODY_NONE;
	h->content_length = 0;
	h->n_headers = 0;

	/* Header fields: name ":" OWS value OWS CRLF, until an empty line. */
	for (;;) {
		if (i == len)
			return 0;
		if (p[i] == '\r') {
			if (i + 1 == len)
				return 0;
			if (p[i + 1] != '\n')
				return -MG_HTTP_ERR_BAD_REQUEST;
			break;
		}
		n0 = i;
		i = run_end(p, i, len, HTTP_RUN_TCHAR);
		if (i == len)
			return 0;
		/* Also refuses obs-fold and whitespace before the colon. */
		if (i == n0 || p[i] != ':')
			return -MG_HTTP_ERR_BAD_REQUEST;
		if (h->n_headers == MG_HTTP_MAX_HEADERS)
			return -MG_HTTP_ERR_BAD_REQUEST;
		f = &h->headers[h->n_headers];
		f->name.p = p + n0;
		f->name.len = i - n0;
		i++;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		v0 = i;
		i = run_end(p, i, len, HTTP_RUN_FIELD);
		if (i == len)
			return 0;
		if (p[i] != '\r')
			return -MG_HTTP_ERR_BAD_REQUEST;
		if (i + 1 == len)
			return 0;
		if (p[i + 1] != '\n')
			return -MG_HTTP_ERR_BAD_REQUEST;
		for (v1 = i; v1 > v0 && (p[v1 - 1] == ' ' || p[v1 - 1] == '\t');
		     v1--)
			;
		f->value.p = p + v0;
		f->value.len = v1 - v0;
		i += 2;
		h->n_headers++;

		switch (f->name.len) {
		case 4:
			if (!NAME_IS(f->name.p, 4, "host"))
				break;
			if (h->host.p != NULL ||
			    !host_normal(&f->value, &h->host))
				return -MG_HTTP_ERR_BAD_REQUEST;
			break;
		case 7:
			if (!NAME_IS(f->name.p, 7, "upgrade"))
				break;
			if (h->upgrade.p != NULL || !upgrade_ok(&f->value))
				return -MG_HTTP_ERR_BAD_REQUEST;
			h->upgrade = f->value;
			break;
		case 14:
			if (!NAME_IS(f->name.p, 14, "content-length"))
				break;
			if (seen_cl || seen_te ||
			    !parse_content_length(&f->value,
						  &h->content_length))
				return -MG_HTTP_ERR_BAD_REQUEST;
			seen_cl = true;
			h->body = MG_HTTP_BODY_LENGTH;
			break;
		case 17:
			if (!NAME_IS(f->name.p, 17, "transfer-encoding"))
				break;
			if (seen_te || seen_cl || h->minor == 0 ||
			    !value_caseless_is(&f->value, "chunked", 7))
				return -MG_HTTP_ERR_BAD_REQUEST;
			seen_te = true;
			h->body = MG_HTTP_BODY_CHUNKED;
			break;
		default: break;
		}
	}
	if (h->minor == 1 && h->host.p == NULL)
		return -MG_HTTP_ERR_BAD_REQUEST;
	return (int)(i + 2);
}

/* Chunked framing positions; the low nibble of *state. The high nibble
 * counts chunk-size digits while one is read. */
enum chunk_pos {
	CK_SIZE0 = 0, /* first hex digit of a chunk-size */
	CK_SIZE,      /* more hex digits, ';' or CR */
	CK_EXT,	      /* chunk extension, until CR */
	CK_SIZE_LF,   /* LF ending the size line */
	CK_DATA,      /* *left data bytes */
	CK_DATA_CR,   /* CR after the data */
	CK_DATA_LF,   /* LF after the data */
	CK_TRAILER0,  /* a trailer field's first byte, or the final CR */
	CK_TNAME,     /* trailer field name, until ':' */
	CK_TVALUE,    /* trailer field value, until CR */
	CK_TLF,	      /* LF ending a trailer field */
	CK_END_LF,    /* LF ending the body */
	CK_DONE,
	CK_ERROR,
};

int
mg_http_chunked(uint64_t *left, uint8_t *state, const uint8_t *p, uint32_t len,
		bool *done)
{
	unsigned int pos = *state & 0x0f, digits = *state >> 4;
	uint64_t n = *left;
	uint32_t i = 0, take;
	uint8_t c;

	*done = false;
	if (pos == CK_DONE) {
		*done = true;
		return 0;
	}
	while (i < len) {
		c = p[i];
		switch (pos) {
		case CK_SIZE0:
			if (!(cls[c] & C_HEX))
				goto bad;
			n = hexval(c);
			digits = 1;
			pos = CK_SIZE;
			break;
		case CK_SIZE:
			if (cls[c] & C_HEX) {
				if (digits == MAX_CHUNK_DIGITS)
					goto bad;
				n = n << 4 | hexval(c);
				digits++;
			} else if (c == ';') {
				pos = CK_EXT;
			} else if (c == '\r') {
				pos = CK_SIZE_LF;
			} else {
				goto bad;
			}
			break;
		case CK_EXT:
			if (c == '\r')
				pos = CK_SIZE_LF;
			else if (!(cls[c] & C_FIELD))
				goto bad;
			break;
		case CK_SIZE_LF:
			if (c != '\n')
				goto bad;
			digits = 0;
			pos = n ? CK_DATA : CK_TRAILER0;
			break;
		case CK_DATA:
			take = len - i < n ? len - i : (uint32_t)n;
			n -= take;
			i += take;
			if (n == 0)
				pos = CK_DATA_CR;
			continue;
		case CK_DATA_CR:
			if (c != '\r')
				goto bad;
			pos = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (c != '\n')
				goto bad;
			pos = CK_SIZE0;
			break;
		case CK_TRAILER0:
			if (c == '\r')
				pos = CK_END_LF;
			else if (cls[c] & C_TCHAR)
				pos = CK_TNAME;
			else
				goto bad;
			break;
		case CK_TNAME:
			if (c == ':')
				pos = CK_TVALUE;
			else if (!(cls[c] & C_TCHAR))
				goto bad;
			break;
		case CK_TVALUE:
			if (c == '\r')
				pos = CK_TLF;
			else if (!(cls[c] & C_FIELD))
				goto bad;
			break;
		case CK_TLF:
			if (c != '\n')
				goto bad;
			pos = CK_TRAILER0;
			break;
		case CK_END_LF:
			if (c != '\n')
				goto bad;
			*left = 0;
			*state = CK_DONE;
			*done = true;
			return (int)(i + 1);
		default: goto bad;
		}
		i++;
	}
	*left = n;
	*state = (uint8_t)(digits << 4 | pos);
	return (int)len;
bad:
	*state = CK_ERROR;
	return -MG_HTTP_ERR_BAD_REQUEST;
}

int
mg_http_status(const void *data, uint32_t len)
{
	const uint8_t *p = data;

	/* "HTTP/1.1 200 OK\r\n": version, SP, three digits, then SP (a
	 * reason, possibly empty) or CR (no reason, as some servers send) */
	if (p == NULL || len < 13 || memcmp(p, "HTTP/", 5) != 0 ||
	    !is_digit(p[5]) || p[6] != '.' || !is_digit(p[7]) || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || !is_digit(p[10]) || !is_digit(p[11]) ||
	    (p[12] != ' ' && p[12] != '\r'))
		return -1;
	return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

bool
mg_http_is_request(const void *data, uint32_t len)
{
	static const struct {
		const char *text;
		uint8_t len;
	} methods[] = {
		{ "GET ", 4 },	   { "HEAD ", 5 },   { "POST ", 5 },
		{ "PUT ", 4 },	   { "DELETE ", 7 }, { "CONNECT ", 8 },
		{ "OPTIONS ", 8 }, { "TRACE ", 6 },  { "PATCH ", 6 },
	};
	const uint8_t *p = data;
	unsigned int i;

	/* called for every client payload: reject the common case (body
	 * bytes, TLS records) on the first byte, before any comparison */
	if (p == NULL || len < 4 || p[0] < 'C' || p[0] > 'T' ||
	    !(p[1] >= 'A' && p[1] <= 'Z'))
		return false;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (p[0] == (uint8_t)methods[i].text[0] &&
		    len >= methods[i].len &&
		    memcmp(p, methods[i].text, methods[i].len) == 0)
			return true;
	return false;
}

/* Content-Length's value [p, e): optional SP/HTAB, digits, SP/HTAB.
 * -1 when empty, not digits only, or above INT64_MAX. */
static int64_t
length_value(const uint8_t *p, const uint8_t *e)
{
	int64_t v = 0;

	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (p == e)
		return -1;
	for (; p < e; p++) {
		if (!is_digit(*p) || v > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

int
mg_http_head_scan(const uint8_t *p, uint32_t len, struct mg_http_head_info *out)
{
	const uint8_t *end = p + len, *line = p, *nl, *colon;
	bool start = true;

	out->length = -1;
	out->chunked = false;
	for (;;) {
		if (end - line < 2)
			return -1;
		if (!start && line[0] == '\r' && line[1] == '\n') {
			out->head = (uint32_t)(line + 2 - p);
			return 0;
		}
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL || nl == line || nl[-1] != '\r' ||
		    memchr(line, '\r', (size_t)(nl - 1 - line)) != NULL)
			return -1;
		if (start) {
			start = false;
			line = nl + 1;
			continue;
		}
		for (colon = line; colon < nl - 1 && (cls[*colon] & C_TCHAR);
		     colon++)
			;
		if (colon == line || *colon != ':')
			return -1;
		if (NAME_IS(line, (uint32_t)(colon - line), "content-length")) {
			if (out->length >= 0)
				return -1;
			out->length = length_value(colon + 1, nl - 1);
			if (out->length < 0)
				return -1;
		} else if (NAME_IS(line, (uint32_t)(colon - line),
				   "transfer-encoding")) {
			out->chunked = true;
		}
		line = nl + 1;
	}
}
