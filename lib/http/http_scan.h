/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Runs of one byte class in an HTTP head (internal to lib/http): where
 * the CPU has AVX-512BW, 64 bytes a step with masked loads, which never
 * touch a byte past the end (http_scan_avx512.c); else byte by byte in
 * mg_http.c. The two agree byte for byte (tests/unit/test_parse.c). */

#ifndef HTTP_SCAN_H
#define HTTP_SCAN_H

#include <stdbool.h>
#include <stdint.h>

/* The classes a head is scanned in runs of. */
enum http_run {
	HTTP_RUN_TCHAR, /* a token: method, field name */
	HTTP_RUN_FIELD, /* a field value */
	HTTP_RUN_PATH,	/* target bytes the path check need not look at */
	HTTP_RUN_QUERY, /* query bytes: visible ASCII but '#' */
	HTTP_RUNS
};

/*
 * A byte class as two 16-entry nibble tables (vpshufb): byte b < 0x80 is
 * in it when lo[b & 15] & hi[b >> 4] is not zero (each high nibble row
 * has one bit, set in lo[] for the low nibbles its row holds: 8 rows,
 * so at most 8 distinct rows); the bytes 0x80-0xff all are or all are
 * not (high_in).
 */
struct http_run_lut {
	uint8_t lo[16];
	uint8_t hi[16];
	bool high_in;
} __attribute__((aligned(16)));

/* Build @p lut for the class @p in (byte -> member); false when the
 * class does not have that shape. */
bool http_run_lut_build(struct http_run_lut *lut, bool (*in)(uint8_t c));

/* First index j in [i, len) whose byte is not in @p lut's class; len
 * when there is none. Needs AVX-512F and AVX-512BW. */
uint32_t http_run_end_avx512(const struct http_run_lut *lut, const uint8_t *p,
			     uint32_t i, uint32_t len);

/* Whether the scans use http_run_end_avx512() (chosen at start-up with
 * rte_cpu_get_flag_enabled()); tests turn it off to compare. */
extern bool http_scan_avx512;

/* The class of run @p r, from mg_http.c's byte table. */
bool http_run_in(enum http_run r, uint8_t c);

#endif /* HTTP_SCAN_H */
