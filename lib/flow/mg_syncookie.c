/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * SYN cookies: SipHash-2-4 as the keyed PRF, and the segments the SYN
 * proxy builds. Written here because DPDK 22.11 has no keyed PRF: its
 * hashes (rte_hash_crc, rte_jhash, rte_thash) are for spreading keys,
 * and a CRC is linear — from the cookie of a SYN it sends from its own
 * address, a caller could compute the cookie of any spoofed address and
 * open connections in its name. SipHash is a PRF for short inputs, fast
 * enough for a 48-byte message per SYN (a few dozen nanoseconds).
 */

#include <errno.h>
#include <string.h>

#include <rte_random.h>

#include "mg_syncookie.h"

/* 536: RFC 9293's default; 1220 and 1280: IPv6's minimum MTU less
 * headers; 1360-1460: Ethernet less tunnels and PPPoE; 8940: jumbo. */
const uint16_t mg_syncookie_mss_table[MG_SYNCOOKIE_N_MSS] = {
	536, 1220, 1280, 1360, 1400, 1440, 1460, 8940,
};

/* A slot of 2^k cycles, the largest that is at most this long. */
#define SLOT_S 64
/* Cookie bits: the MAC above, the slot's parity, the MSS index. */
#define COOKIE_PARITY (1u << MG_SYNCOOKIE_MSS_BITS)
#define COOKIE_MSS    (MG_SYNCOOKIE_N_MSS - 1)
#define COOKIE_MAC    (~(COOKIE_PARITY | COOKIE_MSS))

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = ROTL(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = ROTL(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = ROTL(v2, 32);                                             \
	} while (0)

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return rte_le_to_cpu_64(v);
}

uint64_t
mg_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
	uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
	uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
	uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, full = len & ~(size_t)7;

	for (i = 0; i < full; i += 8) {
		m = load_le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (; i < len; i++)
		b |= (uint64_t)p[i] << (8 * (i & 7));
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

void
mg_syncookie_init(struct mg_syncookie *c, uint64_t tsc_hz, uint32_t age)
{
	uint64_t slot = tsc_hz * SLOT_S;

	c->k0 = rte_rand();
	c->k1 = rte_rand();
	c->slot_shift = 0;
	while ((slot >> (c->slot_shift + 1)) != 0)
		c->slot_shift++;
	c->age = age;
}

/* The 28 bits of the cookie that only the secret's holder can make. */
static uint32_t
cookie_mac(const struct mg_syncookie *c, const struct mg_5tuple *t,
	   uint32_t isn, uint64_t slot, uint32_t mss_idx)
{
	uint8_t msg[48];
	uint32_t s = (uint32_t)slot, alen = t->family == 4 ? 4 : 16;
	uint8_t *p = msg;

	/* addresses (an IPv4 tuple's 4 bytes: 24 bytes of message, three
	 * SipHash blocks instead of six), ports (network order), then
	 * what is not the tuple */
	memcpy(p, t->src, alen);
	memcpy(p + alen, t->dst, alen);
	p += 2 * alen;
	memcpy(p, &t->sport, 2);
	memcpy(p + 2, &t->dport, 2);
	memcpy(p + 4, &isn, 4);
	memcpy(p + 8, &s, 4);
	p[12] = (uint8_t)mss_idx;
	p[13] = t->family;
	p[14] = t->proto;
	p[15] = 0;
	return (uint32_t)mg_siphash24(c->k0, c->k1, msg,
				      (size_t)(p + 16 - msg)) &
	       COOKIE_MAC;
}

uint32_t
mg_syncookie_make(const struct mg_syncookie *c, const struct mg_5tuple *t,
		  uint32_t isn, uint16_t mss, uint64_t now)
{
	uint64_t slot = (now >> c->slot_shift) - c->age;
	uint32_t i = 0;

	/* the largest MSS of the table the client can take (536 at
	 * least: a smaller MSS option is not honoured) */
	while (i + 1 < MG_SYNCOOKIE_N_MSS &&
	       mg_syncookie_mss_table[i + 1] <= mss)
		i++;
	return cookie_mac(c, t, isn, slot, i) |
	       ((uint32_t)(slot & 1) * COOKIE_PARITY) | i;
}

bool
mg_syncookie_check(const struct mg_syncookie *c, const struct mg_5tuple *t,
		   uint32_t isn, uint32_t cookie, uint64_t now, uint16_t *mss)
{
	uint64_t slot = now >> c->slot_shift;
	uint32_t i = cookie & COOKIE_MSS;

	/* the parity says which of the two slots it claims: one hash */
	if ((slot & 1) != !!(cookie & COOKIE_PARITY))
		slot--;
	if (cookie_mac(c, t, isn, slot, i) != (cookie & COOKIE_MAC))
		return false;
	*mss = mg_syncookie_mss_table[i];
	return true;
}
