/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The AVX-512BW run scanner (see http_scan.h); built with -mavx512f
 * -mavx512bw and called only where the CPU has both. */

#include <immintrin.h>

#include "http_scan.h"

uint32_t
http_run_end_avx512(const struct http_run_lut *lut, const uint8_t *p,
		    uint32_t i, uint32_t len)
{
	const __m512i lo_t = _mm512_broadcast_i32x4(
		_mm_load_si128((const __m128i *)lut->lo));
	const __m512i hi_t = _mm512_broadcast_i32x4(
		_mm_load_si128((const __m128i *)lut->hi));
	const __m512i nib = _mm512_set1_epi8(0x0f);

	while (i < len) {
		uint32_t left = len - i;
		__mmask64 k =
			left >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << left) - 1;
		/* masked: the bytes past len are never read */
		__m512i v = _mm512_maskz_loadu_epi8(k, p + i);
		__m512i lo = _mm512_and_si512(v, nib);
		__m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
		__mmask64 in =
			_mm512_test_epi8_mask(_mm512_shuffle_epi8(lo_t, lo),
					      _mm512_shuffle_epi8(hi_t, hi));
		/* 0x80-0xff: hi[] has no bit for rows 8-15 */
		__mmask64 high = _mm512_movepi8_mask(v);
		__mmask64 out;

		if (lut->high_in)
			in |= high;
		out = ~in & k;
		if (out != 0)
			return i + (uint32_t)__builtin_ctzll(out);
		if (left <= 64)
			return len;
		i += 64;
	}
	return len;
}
