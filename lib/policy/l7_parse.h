/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Internal to lib/policy: strict parsers of what a client sends first —
 * an HTTP/1.x request head and its body framing, a TLS ClientHello.
 * They never allocate, never read past @p len, and tell "valid so far
 * but incomplete" apart from "cannot become valid", so a caller can deny
 * non-HTTP bytes at their first segment and hold a split head until it
 * completes. */

#ifndef MG_L7_PARSE_H
#define MG_L7_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/** Parse results below zero: why the bytes were refused. */
enum mg_l7_parse_err {
	MG_L7_ERR_NOT_HTTP = 1, /**< not an HTTP/1.0 or 1.1 request line */
	MG_L7_ERR_BAD_REQUEST,	/**< HTTP, but malformed or ambiguous */
	MG_L7_ERR_NOT_TLS,	/**< not a TLS handshake record */
	MG_L7_ERR_BAD_HELLO,	/**< TLS, but not a well-formed ClientHello */
};

/** Most header fields in one request head; more is a bad request. */
#define MG_HTTP_MAX_HEADERS 64

/** A byte string inside the parsed buffer. */
struct mg_l7_str {
	const uint8_t *p;
	uint32_t len;
};

struct mg_http_header {
	struct mg_l7_str name;	/**< as sent (case not folded) */
	struct mg_l7_str value; /**< leading/trailing spaces and tabs trimmed */
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
	struct mg_l7_str method;
	struct mg_l7_str target; /**< as sent, query included */
	struct mg_l7_str path;	 /**< target up to '?' ("*" for OPTIONS *) */
	struct mg_l7_str query;	 /**< after the '?'; len 0 when none */
	/** Host without its port and trailing dot; len 0 when absent or
	 * empty (p is NULL only when absent) */
	struct mg_l7_str host;
	/** Upgrade's value, a checked list of protocols; p is NULL when
	 * the request has no Upgrade header */
	struct mg_l7_str upgrade;
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
 * looking like "TOKEN SP target SP HTTP/1.x" is MG_L7_ERR_NOT_HTTP; any
 * later fault is MG_L7_ERR_BAD_REQUEST.
 *
 * @return > 0: the head is complete and @p h filled; the value is its
 *         length through the empty line. 0: @p p[0..len) is a valid
 *         prefix of a head (len 0 included); send more. < 0:
 *         -enum mg_l7_parse_err; no bytes appended can make it valid.
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
 *         -MG_L7_ERR_BAD_REQUEST on malformed framing.
 */
int mg_http_chunked(uint64_t *left, uint8_t *state, const uint8_t *p,
		    uint32_t len, bool *done);

/** Longest server name kept (a DNS name is at most 253 bytes). */
#define MG_TLS_MAX_SNI 255

/** What a ClientHello says, as far as policy cares. */
struct mg_tls_hello {
	bool has_sni;
	uint16_t sni_len;
	/** host_name in its normal form, NUL-terminated: lowercase,
	 * without a trailing dot */
	char sni[MG_TLS_MAX_SNI + 1];
};

/**
 * Parse the ClientHello at the start of a TLS connection, which may
 * span several handshake records (record type 22, legacy version 3.x,
 * length 1..16384, no other record type in between). The handshake
 * message must be a ClientHello (type 1) of legacy version 3.1+ whose
 * fields and extensions fill it exactly; extensions may each appear once
 * and unknown ones (GREASE included) are skipped. From server_name
 * (RFC 6066), the one host_name entry is kept: 1..255 bytes of letters,
 * digits, '-' and '_' in dot-separated labels (none empty, one trailing
 * dot allowed), lowercased and without the trailing dot. A hello with
 * no server_name extension is fine (has_sni false); an empty or
 * repeated host_name, or other bytes, is a bad hello.
 *
 * @param p    Bytes from the client.
 * @param len  Their number.
 * @param tmp  Room for at least @p len bytes, to join a handshake message
 *             split across records.
 * @param h    Filled when complete.
 * @return > 0: complete; the length of the records that hold the hello.
 *         0: a valid prefix (len 0 included); send more. < 0:
 *         -MG_L7_ERR_NOT_TLS when the first record header is not a
 *         handshake record, else -MG_L7_ERR_BAD_HELLO.
 */
int mg_tls_parse_client_hello(const uint8_t *p, uint32_t len, uint8_t *tmp,
			      struct mg_tls_hello *h);

#endif /* MG_L7_PARSE_H */
