/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * The one HTTP/1.x recogniser, below both of its users and depending on
 * nothing: lib/l7 enforces policy with the strict request-head parser
 * and the chunked-framing walker; lib/telemetry measures messages with
 * the status-line, request-line and head scanners. They share one byte
 * class table and one caseless compare (mg_http.c).
 *
 * Two strictness levels on purpose: enforcement refuses whatever two
 * peers could read two ways (mg_http_parse_head()); measurement only
 * needs where a head ends and what it says of its body, for requests
 * already enforced and for responses no one enforces
 * (mg_http_head_scan()).
 *
 * Every function is pure: it never allocates, never reads at or past
 * the end it is given, keeps no state between calls except what the
 * caller holds, and is safe on the fast path from any thread.
 */

#ifndef MG_HTTP_H
#define MG_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** mg_http_parse_head() results below zero: why the bytes were refused.
 * lib/l7 numbers its parsers' errors on from these. */
enum mg_http_parse_err {
	MG_HTTP_ERR_NOT_HTTP = 1, /**< not an HTTP/1.0 or 1.1 request line */
	MG_HTTP_ERR_BAD_REQUEST,  /**< HTTP, but malformed or ambiguous */
};

/** Most header fields in one request head; more is a bad request. */
#define MG_HTTP_MAX_HEADERS 64

/** A byte string inside the parsed buffer. */
struct mg_http_str {
	const uint8_t *p;
	uint32_t len;
};

struct mg_http_header {
	struct mg_http_str name; /**< as sent (case not folded) */
	struct mg_http_str
		value; /**< leading/trailing spaces and tabs trimmed */
};

/** How the message body after a head is framed (RFC 9112 section 6). */
enum mg_http_body_kind {
	MG_HTTP_BODY_NONE = 0, /**< no Content-Length, no Transfer-Encoding */
	MG_HTTP_BODY_LENGTH,   /**< Content-Length: content_length bytes */
	MG_HTTP_BODY_CHUNKED,  /**< Transfer-Encoding: chunked */
};

/** Most protocols one Upgrade header may offer; more is a bad request. */
#define MG_HTTP_MAX_UPGRADES 8

/**
 * A parsed request head. Strings point into the parsed buffer. The
 * normal forms policy matches (path, query, host) are slices of it, so
 * they cost no copy; mg_http_parse_head() says what each one holds.
 */
struct mg_http_head {
	struct mg_http_str method;
	struct mg_http_str target; /**< as sent, query included */
	struct mg_http_str path;   /**< target up to '?' ("*" for OPTIONS *) */
	struct mg_http_str query;  /**< after the '?'; len 0 when none */
	/** Host without its port and trailing dot; len 0 when absent or
	 * empty (p is NULL only when absent) */
	struct mg_http_str host;
	/** Upgrade's value, a checked list of protocols; p is NULL when
	 * the request has no Upgrade header */
	struct mg_http_str upgrade;
	uint8_t minor;		 /**< HTTP/1.<minor>: 0 or 1 */
	uint8_t body;		 /**< enum mg_http_body_kind */
	bool path_params;	 /**< a path segment carries ";params" */
	uint64_t content_length; /**< MG_HTTP_BODY_LENGTH */
	uint32_t n_headers;	 /**< Host included */
	struct mg_http_header headers[MG_HTTP_MAX_HEADERS];
};

/**
 * Parse an HTTP/1.x request head: request line, header fields, the empty
 * line. Strict (RFC 9110/9112): CRLF line ends only (a bare CR or LF is
 * a bad request); method a token; a single SP between the three parts;
 * version exactly "HTTP/1.0" or "HTTP/1.1"; target in origin-form
 * ('/' then visible ASCII), or "*" for OPTIONS only; no obs-fold; field
 * names tokens immediately followed by ':'; field values visible ASCII,
 * SP, HTAB and obs-text (0x80-0xff). Also refused as a bad request,
 * because an intermediary that does not rewrite paths must not let
 * peers read one request two ways:
 * - a target whose path (before '?') is not canonical: "//", a "." or
 *   ".." segment, a segment empty before its ";params" that is not the
 *   last ("/;x/a" would be "//a" without them), '\', or a %-escape of
 *   an unreserved character, '/', '\', ';', a control or DEL (any
 *   case); '#' anywhere in the target (a fragment is never sent, and a
 *   server that cut it off would read another path); CONNECT and
 *   absolute-form targets;
 * - a Host that is not "host[:port]": a DNS-like name (letters, digits,
 *   '-', '_', dot-separated labels, one trailing dot allowed) or an IP
 *   literal in brackets (hex digits, ':' and '.'), then an optional ':'
 *   and at most 5 digits;
 * - an Upgrade value that is not a list of 1 to MG_HTTP_MAX_UPGRADES
 *   protocols (token or token/token, separated by commas and optional
 *   spaces), or a repeated Upgrade;
 * - Content-Length together with Transfer-Encoding; Transfer-Encoding
 *   other than exactly "chunked" (case-insensitive); Content-Length not
 *   1*DIGIT (at most 18 digits) or repeated; Host repeated; HTTP/1.1
 *   without Host; Transfer-Encoding in an HTTP/1.0 request;
 * - more than MG_HTTP_MAX_HEADERS fields.
 *
 * On success @p h holds the normal forms policy reads: path and query
 * split at the first '?'; path_params set when a segment has ";params"
 * (the caller may read the path without them too); host without ":port"
 * and without a trailing dot ("Admin.Example.:80" gives "Admin.Example";
 * letter case is left to caseless matching, "[2001:db8::1]:80" gives
 * "[2001:db8::1]").
 *
 * A method token longer than 20 bytes, or a first line that stops
 * looking like "TOKEN SP target SP HTTP/1.x" is MG_HTTP_ERR_NOT_HTTP; any
 * later fault is MG_HTTP_ERR_BAD_REQUEST.
 *
 * @return > 0: the head is complete and @p h filled; the value is its
 *         length through the empty line. 0: @p p[0..len) is a valid
 *         prefix of a head (len 0 included); send more. < 0:
 *         -enum mg_http_parse_err; no bytes appended can make it valid.
 */
int mg_http_parse_head(const uint8_t *p, uint32_t len, struct mg_http_head *h);

/**
 * Walk chunked body framing (RFC 9112 section 7.1): chunk-size in hex
 * (at most 15 digits), optional chunk extensions (';' then anything but
 * CR, LF and other controls except HTAB), CRLF, the data, CRLF; after
 * the last (zero) chunk, trailer fields and the final CRLF. State
 * survives between calls in @p left and @p state (both 0 at the start
 * of a body).
 *
 * @param left   Data bytes of the current chunk still to pass (or the
 *               size being read).
 * @param state  Position in the framing; opaque to the caller.
 * @param p      Body bytes.
 * @param len    Their number.
 * @param done   Set when the body ended; the return value then counts
 *               the bytes up to and including its last CRLF.
 * @return Bytes consumed (all of @p len unless *done), or
 *         -MG_HTTP_ERR_BAD_REQUEST on malformed framing.
 */
int mg_http_chunked(uint64_t *left, uint8_t *state, const uint8_t *p,
		    uint32_t len, bool *done);

/**
 * Status code (100..599) of an HTTP/1.x response from the start of its
 * status line: "HTTP/" DIGIT "." DIGIT SP, three digits, then SP (a
 * reason, possibly empty) or CR (no reason, as some servers send).
 *
 * @param data  Bytes from the server; may be NULL.
 * @param len   Their number.
 * @return The code; -1 when @p data does not start with such a line.
 *
 * Thread safety: pure; fast-path safe.
 */
int mg_http_status(const void *data, uint32_t len);

/**
 * Whether @p data starts an HTTP/1.x request line: a known method
 * (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH) and a
 * space. Cheap on the common miss (body bytes, TLS records): the first
 * two bytes decide most of them.
 *
 * @param data  Bytes from the client; may be NULL.
 * @param len   Their number.
 * @return true when they start such a line.
 *
 * Thread safety: pure; fast-path safe.
 */
bool mg_http_is_request(const void *data, uint32_t len);

/** What mg_http_head_scan() found in a head. */
struct mg_http_head_info {
	uint32_t head;	/**< bytes up to and with the empty line */
	int64_t length; /**< Content-Length, -1 without one */
	bool chunked;	/**< a Transfer-Encoding field (any value) */
};

/**
 * Find the end of the head at @p p (its start line, request or status,
 * already recognised by the caller) and what it says of its body. The
 * scan is strict about framing only: every line ends in CRLF and holds
 * no other CR, every field line is a token name, ':' and a value. A
 * Content-Length value is digits between optional spaces and tabs, at
 * most INT64_MAX; its name and Transfer-Encoding's match in any case.
 *
 * @param p    Start of the head.
 * @param len  Bytes at @p p; nothing at or past @p p + @p len is read.
 * @param out  Filled on success.
 * @return 0; -1 when the head does not end within @p len, is malformed,
 *         has a bad Content-Length value or two Content-Length fields
 *         (even equal).
 *
 * Thread safety: pure; fast-path safe.
 */
int mg_http_head_scan(const uint8_t *p, uint32_t len,
		      struct mg_http_head_info *out);

#ifdef __cplusplus
}
#endif

#endif /* MG_HTTP_H */
