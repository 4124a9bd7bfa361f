/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* libFuzzer target for lib/l7's parsers (scripts/fuzz.sh builds and
 * runs it). Besides memory safety (ASan/UBSan), it checks the contract
 * the stream walker relies on: a refusal is final — no prefix of the
 * bytes gives another error, no longer input makes them valid — a
 * complete head stays complete at any longer length (a complete prefix
 * is the whole input's head, of the same length), and chunked framing
 * gives the same answer however the body is cut. */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l7_parse.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			__builtin_trap();                                      \
	} while (0)

static struct mg_http_head head, head2;
static struct mg_tls_hello hello, hello2;
static uint8_t tmp[1 << 16];

/* @p r: the answer for the whole input; @p r2: for its first @p k bytes. */
static void
check_prefix(int r, int r2, uint32_t k)
{
	if (r2 < 0)
		CHECK(r == r2);
	if (r2 > 0)
		CHECK(r == r2);
	if (r > 0)
		CHECK(r2 == (k >= (uint32_t)r ? r : 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	uint32_t len, cut, k, step;
	uint64_t left1 = 0, left2 = 0;
	uint8_t st1 = 0, st2 = 0;
	bool done1, done2;
	int r, c1, c2, c3;

	if (size < 1 || size > sizeof(tmp))
		return 0;
	len = (uint32_t)size - 1;
	cut = len != 0 ? (data[0] * 2654435761u) % (len + 1) : 0;
	step = len / 16 + 1;

	r = mg_http_parse_head(p, len, &head);
	for (k = 0; k <= len; k += step)
		check_prefix(r, mg_http_parse_head(p, k, &head2), k);
	if (r > 0) {
		CHECK(r <= (int)len && head.n_headers <= MG_HTTP_MAX_HEADERS);
		/* path and query: the target cut at its first '?' */
		CHECK(head.path.p == head.target.p &&
		      memchr(head.path.p, '?', head.path.len) == NULL);
		CHECK(head.query.p == NULL
			      ? head.path.len == head.target.len
			      : head.query.p == head.path.p + head.path.len +
							1 &&
					head.query.p + head.query.len ==
						head.target.p +
							head.target.len);
		CHECK(head.host.len == 0 ||
		      head.host.p[head.host.len - 1] != '.');
		/* the edge the stride may step over: one byte short, exact */
		k = (uint32_t)r - 1;
		check_prefix(r, mg_http_parse_head(p, k, &head2), k);
		k = (uint32_t)r;
		check_prefix(r, mg_http_parse_head(p, k, &head2), k);
	}

	r = mg_tls_parse_client_hello(p, len, tmp, &hello);
	for (k = 0; k <= len; k += step)
		check_prefix(r, mg_tls_parse_client_hello(p, k, tmp, &hello2),
			     k);
	if (r > 0) {
		CHECK(r <= (int)len && strlen(hello.sni) == hello.sni_len);
		k = (uint32_t)r - 1;
		check_prefix(r, mg_tls_parse_client_hello(p, k, tmp, &hello2),
			     k);
		k = (uint32_t)r;
		check_prefix(r, mg_tls_parse_client_hello(p, k, tmp, &hello2),
			     k);
	}

	c1 = mg_http_chunked(&left1, &st1, p, len, &done1);
	c2 = mg_http_chunked(&left2, &st2, p, cut, &done2);
	if (c2 >= 0 && !done2) {
		c3 = mg_http_chunked(&left2, &st2, p + cut, len - cut, &done2);
		c2 = c3 >= 0 ? c2 + c3 : c3;
	}
	CHECK(c1 == c2 && done1 == done2);
	return 0;
}
