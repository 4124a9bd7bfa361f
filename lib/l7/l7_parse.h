/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Internal to lib/l7: strict parsers of what a client sends first —
 * an HTTP/1.x request head and its body framing (lib/http, mg_http.h), a
 * TLS ClientHello (mg_tls.c). They never allocate, never read past
 * @p len, and tell "valid so far but incomplete" apart from "cannot
 * become valid", so a caller can deny non-HTTP bytes at their first
 * segment and hold a split head until it completes. */

#ifndef MG_L7_PARSE_H
#define MG_L7_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "mg_http.h"

/** Parse results below zero: why the bytes were refused (HTTP's own,
 * then TLS's). */
enum mg_l7_parse_err {
	MG_L7_ERR_NOT_HTTP = MG_HTTP_ERR_NOT_HTTP,
	MG_L7_ERR_BAD_REQUEST = MG_HTTP_ERR_BAD_REQUEST,
	MG_L7_ERR_NOT_TLS,   /**< not a TLS handshake record */
	MG_L7_ERR_BAD_HELLO, /**< TLS, but not a well-formed ClientHello */
};

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
