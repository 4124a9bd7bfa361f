/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* What the libFuzzer targets share: a failed invariant that says what
 * broke, frames in exact-size heap buffers (so ASan sees a read one byte
 * past the frame), an EAL started once, and checksums summed here from
 * the bytes rather than by lib/pkt, so they check it. Header-only. */

#ifndef MG_FUZZ_COMMON_H
#define MG_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include <sanitizer/lsan_interface.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "mg_pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: say which, then die so libFuzzer keeps the input. */
#define FZ_CHECK(x, ...)                                                       \
	do {                                                                   \
		if (unlikely(!(x))) {                                          \
			fprintf(stderr, "INVARIANT %s:%d: %s: ", __FILE__,     \
				__LINE__, #x);                                 \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* Two bits of an input byte to a NIC checksum verdict; "none" is both. */
static inline uint64_t
fz_ip_flag(unsigned int sel)
{
	static const uint64_t f[4] = {
		RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN,
		RTE_MBUF_F_RX_IP_CKSUM_BAD,
		RTE_MBUF_F_RX_IP_CKSUM_GOOD,
		RTE_MBUF_F_RX_IP_CKSUM_NONE,
	};
	return f[sel & 3];
}

static inline uint64_t
fz_l4_flag(unsigned int sel)
{
	static const uint64_t f[4] = {
		RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN,
		RTE_MBUF_F_RX_L4_CKSUM_BAD,
		RTE_MBUF_F_RX_L4_CKSUM_GOOD,
		RTE_MBUF_F_RX_L4_CKSUM_NONE,
	};
	return f[sel & 3];
}

/*
 * An mbuf over a heap buffer of exactly @p len + @p tailroom bytes with
 * no headroom: any read or write outside it is an ASan report. Not from
 * a mempool: free it with fz_mbuf_free(), never rte_pktmbuf_free().
 */
static inline struct rte_mbuf *
fz_mbuf_new(const uint8_t *frame, uint16_t len, uint16_t tailroom)
{
	struct rte_mbuf *m =
		aligned_alloc(RTE_CACHE_LINE_SIZE,
			      RTE_ALIGN_CEIL(sizeof(*m), RTE_CACHE_LINE_SIZE));
	uint8_t *buf = malloc((size_t)len + tailroom + 1);

	if (m == NULL || buf == NULL)
		abort();
	memset(m, 0, sizeof(*m));
	if (len != 0)
		memcpy(buf, frame, len);
	/* what a receiver leaves past the frame is not the frame */
	memset(buf + len, 0xa5, tailroom);
	m->buf_addr = buf;
	m->buf_len = (uint16_t)(len + tailroom);
	m->data_off = 0;
	m->data_len = len;
	m->pkt_len = len;
	m->nb_segs = 1;
	m->next = NULL;
	rte_mbuf_refcnt_set(m, 1);
	return m;
}

static inline void
fz_mbuf_free(struct rte_mbuf *m)
{
	if (m == NULL)
		return;
	free(m->buf_addr);
	free(m);
}

/* ---- checksums, from the bytes ---- */

static inline uint32_t
fz_sum(const uint8_t *p, uint32_t len, uint32_t sum)
{
	uint32_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t
fz_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The IPv4 header at @p l3, @p hlen bytes long, sums to all ones. */
static inline bool
fz_ipv4_ok(const uint8_t *l3, uint32_t hlen)
{
	return fz_fold(fz_sum(l3, hlen, 0)) == 0xffff;
}

/* Sum of the upper-layer message at @p l4 (@p len bytes) with, unless
 * ICMPv4, its pseudo-header from the IP header at @p l3. */
static inline uint32_t
fz_l4_sum(const uint8_t *l3, bool v4, uint8_t proto, const uint8_t *l4,
	  uint32_t len)
{
	uint32_t sum = 0;

	if (!(v4 && proto == IPPROTO_ICMP)) {
		sum = fz_sum(l3 + (v4 ? 12 : 8), v4 ? 8 : 32, 0);
		sum += proto;
		sum += len >> 16;
		sum += len & 0xffff;
	}
	return fz_sum(l4, len, sum);
}

/* Offset of the checksum field in an L4 header, by protocol. */
static inline uint32_t
fz_l4_cksum_off(uint8_t proto)
{
	return proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
}

/*
 * Whether the L4 checksum of a parsed IPv4/IPv6 frame verifies; a zero
 * UDP-over-IPv4 checksum means none and verifies.
 */
static inline bool
fz_l4_ok(const uint8_t *p, const struct mg_pkt_info *info)
{
	bool v4 = info->l3 == MG_L3_IPV4;
	uint8_t proto = info->tuple.proto;
	const uint8_t *l4 = p + info->l4_off;
	uint32_t len =
		(uint32_t)info->payload_off + info->payload_len - info->l4_off;

	if (v4 && proto == IPPROTO_UDP && l4[6] == 0 && l4[7] == 0)
		return true;
	return fz_fold(fz_l4_sum(p + info->l3_off, v4, proto, l4, len)) ==
	       0xffff;
}

static inline bool
fz_ip_ok(const uint8_t *p, const struct mg_pkt_info *info)
{
	return info->l3 != MG_L3_IPV4 ||
	       fz_ipv4_ok(p + info->l3_off,
			  (uint32_t)info->l4_off - info->l3_off);
}

/* Make the IPv4 header and L4 checksums of a parsed frame right (a zero
 * UDP-over-IPv4 checksum stays: none). */
static inline void
fz_fix_cksums(uint8_t *p, const struct mg_pkt_info *info)
{
	bool v4 = info->l3 == MG_L3_IPV4;
	uint8_t proto = info->tuple.proto;
	uint8_t *l3 = p + info->l3_off, *l4 = p + info->l4_off;
	uint32_t len =
		(uint32_t)info->payload_off + info->payload_len - info->l4_off;
	uint8_t *ck = l4 + fz_l4_cksum_off(proto);
	uint16_t v;

	if (v4) {
		l3[10] = l3[11] = 0;
		v = (uint16_t)~fz_fold(
			fz_sum(l3, info->l4_off - info->l3_off, 0));
		l3[10] = (uint8_t)(v >> 8);
		l3[11] = (uint8_t)v;
	}
	if (v4 && proto == IPPROTO_UDP && ck[0] == 0 && ck[1] == 0)
		return;
	ck[0] = ck[1] = 0;
	v = (uint16_t)~fz_fold(fz_l4_sum(l3, v4, proto, l4, len));
	if (v == 0 && proto == IPPROTO_UDP)
		v = 0xffff;
	ck[0] = (uint8_t)(v >> 8);
	ck[1] = (uint8_t)v;
}

/* ---- the EAL ---- */

/* DPDK's heap is one mapping LeakSanitizer does not know: objects that
 * only DPDK memory points to (a ruleset's malloc'd parts) are not leaks.
 * Without hugepages the whole list is mapped, so it can be scanned. */
static inline int
fz_lsan_root(const struct rte_memseg_list *msl, void *arg)
{
	(void)arg;
	__lsan_register_root_region(msl->base_va, msl->len);
	return 0;
}

/*
 * rte_eal_init() once per process: no hugepages, no PCI, no shared config
 * files and a file prefix of its own (so any number of fuzzers run side
 * by side), one lcore, quiet libraries, plus @p extra (e.g. a --vdev).
 */
static inline void
fz_eal_init(const char *name, const char *extra)
{
	char prefix[64];
	char *argv[] = {
		(char *)name,
		"--no-huge",
		"--no-pci",
		"--no-shconf",
		"--file-prefix",
		prefix,
		"-m",
		"256",
		"-l",
		"0",
		"--no-telemetry",
		"--log-level",
		"lib.*:error",
		"--log-level",
		"mg.*:error",
		"--log-level",
		"pmd.*:error",
		(char *)extra,
	};
	int argc = (int)RTE_DIM(argv) - (extra == NULL ? 1 : 0);

	snprintf(prefix, sizeof(prefix), "%s_%d", name, (int)getpid());
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "%s: EAL initialisation failed\n", name);
		exit(1);
	}
	rte_memseg_list_walk(fz_lsan_root, NULL);
}

#endif /* MG_FUZZ_COMMON_H */
