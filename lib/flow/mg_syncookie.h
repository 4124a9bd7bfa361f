/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * SYN cookies for the gateway's SYN proxy: under a SYN flood the gateway
 * answers a new connection's SYN itself, keeping nothing, with an
 * initial sequence number (the cookie) that only it can compute; a
 * client's ACK that echoes a valid cookie proves the client received
 * the SYN-ACK at its address, and only then is the connection
 * classified and made (lib/flow, app/meshgate/worker.c).
 *
 * A cookie is 32 bits: 28 bits of SipHash-2-4 (mg_siphash24()) keyed by
 * a per-process secret, over the connection's 4-tuple, the client's
 * ISN, the time slot and the MSS index; the parity of the slot (1 bit)
 * and the index into a table of MSS values (3 bits). A slot is 2^k TSC
 * cycles, between 32 and 64 seconds; a cookie is accepted in its slot
 * and the next, so it lives at least one slot and less than two.
 *
 * The segments the proxy builds in place (the SYN-ACK to the client, the
 * SYN and the handshake's last ACK to the backend) are lib/pkt's
 * mg_pkt_tcp_segment(), as resets are.
 */

#ifndef MG_SYNCOOKIE_H
#define MG_SYNCOOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "mg_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bits of the cookie that index mg_syncookie_mss_table. */
#define MG_SYNCOOKIE_MSS_BITS 3
/** MSS values a cookie can carry (the client's MSS, rounded down). */
#define MG_SYNCOOKIE_N_MSS (1u << MG_SYNCOOKIE_MSS_BITS)

/** Secret and clock of the cookies of one process. Read-only once
 * mg_syncookie_init() returned; any number of readers. */
struct mg_syncookie {
	uint64_t k0, k1;     /**< SipHash key; never logged */
	uint32_t slot_shift; /**< slot = TSC >> slot_shift */
	/** test hook: cookies are made this many slots in the past (0) */
	uint32_t age;
};

/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012) of @p len bytes at
 * @p data under the 128-bit key (@p k0, @p k1): the key's first and
 * second 8 bytes read little-endian, as the reference does.
 *
 * @return The 64-bit tag.
 *
 * Thread safety: pure.
 */
uint64_t mg_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);

/**
 * Draw a secret (rte_rand(), seeded by EAL from getentropy() where the
 * system has it) and size the time slot for @p tsc_hz.
 *
 * @param c       Filled.
 * @param tsc_hz  TSC cycles a second (> 0).
 * @param age     Test hook: slots by which cookies are made old (0).
 *
 * Thread safety: once, before workers read @p c. Needs EAL.
 */
void mg_syncookie_init(struct mg_syncookie *c, uint64_t tsc_hz, uint32_t age);

/**
 * The cookie for a client's SYN.
 *
 * @param c    Secret and clock.
 * @param t    The SYN's tuple (client -> virtual address).
 * @param isn  The SYN's sequence number.
 * @param mss  Its MSS option (0: none, then 536 is assumed).
 * @param now  TSC.
 * @return The cookie: the sequence number of the SYN-ACK.
 *
 * Thread safety: any thread.
 */
uint32_t mg_syncookie_make(const struct mg_syncookie *c,
			   const struct mg_5tuple *t, uint32_t isn,
			   uint16_t mss, uint64_t now);

/**
 * Whether @p cookie is one mg_syncookie_make() gave for @p t and
 * @p isn in the current slot or the one before, and the MSS it carries.
 *
 * @param c       Secret and clock.
 * @param t       The ACK's tuple (client -> virtual address).
 * @param isn     The client's ISN: the ACK's sequence number - 1.
 * @param cookie  The ACK's acknowledgement number - 1.
 * @param now     TSC.
 * @param mss     Receives the MSS on success.
 * @return true when valid.
 *
 * Thread safety: any thread.
 */
bool mg_syncookie_check(const struct mg_syncookie *c, const struct mg_5tuple *t,
			uint32_t isn, uint32_t cookie, uint64_t now,
			uint16_t *mss);

/** The MSS values a cookie can carry, ascending. */
extern const uint16_t mg_syncookie_mss_table[MG_SYNCOOKIE_N_MSS];

/**
 * Add @p delta to the sequence number (@p seq true) or the
 * acknowledgement number of a parsed TCP segment, updating its
 * checksum incrementally.
 *
 * Thread safety: reentrant.
 */
static inline void
mg_syncookie_shift(struct rte_mbuf *m, const struct mg_pkt_info *info, bool seq,
		   uint32_t delta)
{
	uint8_t *th = rte_pktmbuf_mtod_offset(m, uint8_t *, info->l4_off);
	uint8_t *p = th + (seq ? 4 : 8);
	uint32_t old, new;
	uint16_t ck;

	memcpy(&old, p, 4);
	new = rte_cpu_to_be_32(rte_be_to_cpu_32(old) + delta);
	memcpy(&ck, th + 16, 2);
	ck = mg_cksum_apply(ck, mg_cksum_diff(&old, &new, 4));
	memcpy(th + 16, &ck, 2);
	memcpy(p, &new, 4);
}

#ifdef __cplusplus
}
#endif

#endif /* MG_SYNCOOKIE_H */
