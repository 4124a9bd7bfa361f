/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Unit tests for lib/neigh: frames built byte by byte go through the real
 * parser and then the responder, as in the worker; checksums are checked
 * by a routine of our own and against frames scapy produced.
 */

#define _GNU_SOURCE /* CPU sets and thread affinity */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mg_test.h"

#include <pthread.h>
#include <sched.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>

#include "mg_neigh.h"
#include "mg_pkt.h"

#define POOL_SIZE 127
/* More than any single test holds; teardown frees them all. */
#define MAX_LIVE  16
#define FRAME_MAX 256

#define TABLE_NAME    "test_neigh"
#define TABLE_ENTRIES 16
/* A made-up clock: 1000 ticks a second keeps the arithmetic readable. */
#define TSC_HZ	    1000
#define REACHABLE_S 30
#define REACHABLE   (TSC_HZ * REACHABLE_S)
#define T0	    1000000

/* Two askers: the boxes this runs on have two cores or more. */
#define RACE_THREADS 2
#define RACE_KEYS    64
#define RACE_ROUNDS  25

#define VLAN_ID	     100
#define ECHO_ID	     0x1234
#define ECHO_SEQ     7
#define ECHO_PAYLOAD "meshgate-ping"

#define ETH_TYPE_ARP  0x0806
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_IPV6 0x86dd
#define ETH_TYPE_VLAN 0x8100

#define ND_NS	     135
#define ND_NA	     136
#define ND_SLLA	     1
#define ND_TLLA	     2
#define NA_SOLICITED 0x40
#define NA_OVERRIDE  0x20
#define NA_ROUTER    0x80

static const uint8_t port_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x03 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mcast_mac[6] = { 0x01, 0x00, 0x5e, 0, 0, 0x01 };
static const uint8_t zero_mac[6];

static const uint8_t local4[4] = { 192, 0, 2, 1 };
static const uint8_t peer4[4] = { 192, 0, 2, 2 };
static const uint8_t far4[4] = { 192, 0, 2, 99 };
static const uint8_t garp4[4] = { 192, 0, 2, 50 };
static const uint8_t zero4[4];

static const uint8_t local6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t peer6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t far6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x99 };
static const uint8_t zero6[16];
static const uint8_t all_nodes6[16] = { 0xff, 0x02, [15] = 1 };
static const uint8_t snm_local6[16] = {
	0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01,
};
static const uint8_t snm_local_mac[6] = { 0x33, 0x33, 0xff, 0, 0, 0x01 };
static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 0x01 };

/*
 * Reference frames, made once with scapy 2.5.0 (PORT = 02:00:00:00:00:01,
 * PEER = 02:00:00:00:00:02, L6 = 2001:db8::1, P6 = 2001:db8::2); scapy
 * computed every length and checksum.
 */

/* Ether(src=PEER, dst='33:33:ff:00:00:01')/IPv6(src=P6,
 * dst='ff02::1:ff00:1', hlim=255)/ICMPv6ND_NS(tgt=L6)/
 * ICMPv6NDOptSrcLLAddr(lladdr=PEER) */
static const uint8_t ref_ns[86] = {
	0x33, 0x33, 0xff, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01, 0x87,
	0x00, 0x1c, 0x27, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
};

/* Ether(src=PORT, dst=PEER)/IPv6(src=L6, dst=P6, hlim=255)/
 * ICMPv6ND_NA(R=0, S=1, O=1, tgt=L6)/ICMPv6NDOptDstLLAddr(lladdr=PORT) */
static const uint8_t ref_na[86] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x88,
	0x00, 0x8a, 0x73, 0x60, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
};

/* Ether(src=PORT, dst='33:33:ff:00:00:02')/IPv6(src=L6,
 * dst='ff02::1:ff00:2', hlim=255)/ICMPv6ND_NS(tgt=P6)/
 * ICMPv6NDOptSrcLLAddr(lladdr=PORT) */
static const uint8_t ref_ns_req[86] = {
	0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02, 0x87,
	0x00, 0x1c, 0x27, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
};

/* Ether(src=PORT, dst=PEER)/Dot1Q(vlan=100)/IPv6(src=L6, dst=P6, hlim=64)/
 * ICMPv6EchoReply(id=0x1234, seq=7, data=b'meshgate-ping') */
static const uint8_t ref_echo6_reply[79] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x81, 0x00, 0x00, 0x64, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x15,
	0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x81, 0x00,
	0x56, 0x8c, 0x12, 0x34, 0x00, 0x07, 0x6d, 0x65, 0x73, 0x68, 0x67, 0x61,
	0x74, 0x65, 0x2d, 0x70, 0x69, 0x6e, 0x67,
};

/* Ether(src=PORT, dst=PEER)/Dot1Q(vlan=100)/IP(src='192.0.2.1',
 * dst='192.0.2.2', ttl=64, id=0x4242, flags='DF')/
 * ICMP(type=0, id=0x1234, seq=7)/Raw(b'meshgate-ping') */
static const uint8_t ref_echo4_reply[59] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x29, 0x42, 0x42,
	0x40, 0x00, 0x40, 0x01, 0x74, 0x8e, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00,
	0x02, 0x02, 0x00, 0x00, 0x33, 0x51, 0x12, 0x34, 0x00, 0x07, 0x6d, 0x65,
	0x73, 0x68, 0x67, 0x61, 0x74, 0x65, 0x2d, 0x70, 0x69, 0x6e, 0x67,
};

static struct rte_mempool *pool;
static struct rte_mbuf *live[MAX_LIVE];
static unsigned int n_live;
static struct mg_neigh_table *table;
/* Parked mbufs live here, not in live[]: teardown flushes the queue. */
static struct mg_neigh_pending pending;
static struct rte_ether_addr port;
/* EAL pins the main thread to lcore 0; racing threads need the rest. */
static cpu_set_t startup_cpus;

/* ---- frame bytes ---- */

struct bytes {
	uint8_t b[FRAME_MAX];
	uint16_t len;
};

/* Appends @n bytes of @src, or zeros when @src is NULL. */
static uint8_t *
put(struct bytes *f, const void *src, uint16_t n)
{
	uint8_t *p = f->b + f->len;

	if (f->len + n > FRAME_MAX) {
		fail_msg("frame over %u bytes", FRAME_MAX);
		abort();
	}
	if (src != NULL)
		memcpy(p, src, n);
	else
		memset(p, 0, n);
	f->len += n;
	return p;
}

static void
set_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
put_be16(struct bytes *f, uint16_t v)
{
	set_be16(put(f, NULL, 2), v);
}

static void
put_u8(struct bytes *f, uint8_t v)
{
	put(f, &v, 1);
}

/* Returns the L3 offset. */
static uint16_t
put_eth(struct bytes *f, const uint8_t *dst, const uint8_t *src,
	unsigned int n_vlans, uint16_t type)
{
	unsigned int i;

	put(f, dst, 6);
	put(f, src, 6);
	for (i = 0; i < n_vlans; i++) {
		put_be16(f, ETH_TYPE_VLAN);
		put_be16(f, VLAN_ID + i);
	}
	put_be16(f, type);
	return f->len;
}

/* ---- an independent RFC 1071 checksum, byte-wise big-endian ---- */

static uint32_t
ref_add(const uint8_t *p, size_t n, uint32_t acc)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t
ref_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc;
}

/* Sum of the pseudo-header and the message: 0xffff when it checks. */
static uint16_t
ref_icmp6_sum(const uint8_t *ip6, const uint8_t *icmp, uint32_t len)
{
	uint32_t acc = ref_add(ip6 + 8, 32, 0);

	acc += (len >> 16) + (len & 0xffff) + 58;
	return ref_fold(ref_add(icmp, len, acc));
}

static void
ref_icmp6_fill(uint8_t *ip6, uint8_t *icmp, uint32_t len)
{
	set_be16(icmp + 2, 0);
	set_be16(icmp + 2, (uint16_t)~ref_icmp6_sum(ip6, icmp, len));
}

static void
assert_icmp6_cksum(const uint8_t *frame, uint16_t l3_off)
{
	const uint8_t *ip6 = frame + l3_off;
	uint32_t len = (uint32_t)ip6[4] << 8 | ip6[5];

	assert_int_equal(ref_icmp6_sum(ip6, ip6 + 40, len), 0xffff);
}

static void
assert_ipv4_cksums(const uint8_t *frame, uint16_t l3_off)
{
	const uint8_t *ip = frame + l3_off;
	uint32_t hl = (ip[0] & 0xf) * 4;
	uint32_t total = (uint32_t)ip[2] << 8 | ip[3];

	assert_int_equal(ref_fold(ref_add(ip, hl, 0)), 0xffff);
	assert_int_equal(ref_fold(ref_add(ip + hl, total - hl, 0)), 0xffff);
}

/* ---- frame builders ---- */

struct arp_spec {
	const uint8_t *eth_dst, *eth_src;
	uint16_t op;
	const uint8_t *sha, *spa, *tha, *tpa;
	unsigned int n_vlans;
};

/* Padded to the Ethernet minimum, as it arrives from a NIC. */
static void
build_arp(struct bytes *f, const struct arp_spec *s)
{
	memset(f, 0, sizeof(*f));
	put_eth(f, s->eth_dst, s->eth_src, s->n_vlans, ETH_TYPE_ARP);
	put_be16(f, 1);
	put_be16(f, ETH_TYPE_IPV4);
	put_u8(f, 6);
	put_u8(f, 4);
	put_be16(f, s->op);
	put(f, s->sha, 6);
	put(f, s->spa, 4);
	put(f, s->tha, 6);
	put(f, s->tpa, 4);
	if (f->len < 60)
		put(f, NULL, 60 - f->len);
}

struct nd_spec {
	const uint8_t *eth_dst, *eth_src;
	const uint8_t *src, *dst, *target;
	uint8_t type;
	uint8_t hop_limit;
	uint8_t flags;
	uint8_t opt; /* ND_SLLA, ND_TLLA or 0 for none */
	const uint8_t *opt_mac;
	unsigned int n_vlans;
};

/* Sets the payload length and the checksum from what was appended. */
static void
nd_seal(struct bytes *f, uint16_t l3_off)
{
	uint8_t *ip6 = f->b + l3_off;
	uint16_t len = f->len - l3_off - 40;

	set_be16(ip6 + 4, len);
	ref_icmp6_fill(ip6, ip6 + 40, len);
}

static uint16_t
build_nd(struct bytes *f, const struct nd_spec *s)
{
	uint16_t l3_off;

	memset(f, 0, sizeof(*f));
	l3_off = put_eth(f, s->eth_dst, s->eth_src, s->n_vlans, ETH_TYPE_IPV6);
	put_u8(f, 0x60);
	put(f, NULL, 5);
	put_u8(f, 58);
	put_u8(f, s->hop_limit);
	put(f, s->src, 16);
	put(f, s->dst, 16);
	put_u8(f, s->type);
	put(f, NULL, 3);
	put_u8(f, s->flags);
	put(f, NULL, 3);
	put(f, s->target, 16);
	if (s->opt != 0) {
		put_u8(f, s->opt);
		put_u8(f, 1);
		put(f, s->opt_mac, 6);
	}
	nd_seal(f, l3_off);
	return l3_off;
}

/* The NS of ref_ns: PEER asks for 2001:db8::1 on its solicited group. */
static const struct nd_spec ns_for_local = {
	.eth_dst = snm_local_mac,
	.eth_src = peer_mac,
	.src = peer6,
	.dst = snm_local6,
	.target = local6,
	.type = ND_NS,
	.hop_limit = 255,
	.opt = ND_SLLA,
	.opt_mac = peer_mac,
};

/*
 * Put an 8-byte hop-by-hop header (one PadN option) in front of the
 * ICMPv6 message. Its checksum stays valid: the upper-layer length in the
 * pseudo-header does not count extension headers.
 */
static void
insert_hbh(struct bytes *f, uint16_t l3_off)
{
	static const uint8_t hbh[8] = { 58, 0, 1, 4 };
	uint8_t *ip6 = f->b + l3_off;
	uint16_t msg = f->len - l3_off - 40;

	put(f, NULL, sizeof(hbh));
	memmove(ip6 + 40 + sizeof(hbh), ip6 + 40, msg);
	memcpy(ip6 + 40, hbh, sizeof(hbh));
	ip6[6] = 0;
	set_be16(ip6 + 4, msg + sizeof(hbh));
}

static uint16_t
build_echo4(struct bytes *f, unsigned int n_vlans, uint8_t type)
{
	uint16_t l3_off, total = 20 + 8 + sizeof(ECHO_PAYLOAD) - 1;
	uint8_t *ip, *icmp;

	memset(f, 0, sizeof(*f));
	l3_off = put_eth(f, port_mac, peer_mac, n_vlans, ETH_TYPE_IPV4);
	ip = put(f, NULL, 20);
	ip[0] = 0x45;
	set_be16(ip + 2, total);
	set_be16(ip + 4, 0x4242);
	set_be16(ip + 6, 0x4000);
	ip[8] = 57;
	ip[9] = 1;
	memcpy(ip + 12, peer4, 4);
	memcpy(ip + 16, local4, 4);
	set_be16(ip + 10, (uint16_t)~ref_fold(ref_add(ip, 20, 0)));
	icmp = put(f, NULL, 8);
	icmp[0] = type;
	set_be16(icmp + 4, ECHO_ID);
	set_be16(icmp + 6, ECHO_SEQ);
	put(f, ECHO_PAYLOAD, sizeof(ECHO_PAYLOAD) - 1);
	set_be16(icmp + 2, (uint16_t)~ref_fold(ref_add(icmp, total - 20, 0)));
	return l3_off;
}

static uint16_t
build_echo6(struct bytes *f, unsigned int n_vlans, uint8_t type)
{
	uint16_t l3_off;
	uint8_t *ip6, *icmp;

	memset(f, 0, sizeof(*f));
	l3_off = put_eth(f, port_mac, peer_mac, n_vlans, ETH_TYPE_IPV6);
	ip6 = put(f, NULL, 40);
	ip6[0] = 0x60;
	ip6[6] = 58;
	ip6[7] = 57;
	memcpy(ip6 + 8, peer6, 16);
	memcpy(ip6 + 24, local6, 16);
	icmp = put(f, NULL, 8);
	icmp[0] = type;
	set_be16(icmp + 4, ECHO_ID);
	set_be16(icmp + 6, ECHO_SEQ);
	put(f, ECHO_PAYLOAD, sizeof(ECHO_PAYLOAD) - 1);
	nd_seal(f, l3_off);
	return l3_off;
}

/* ---- mbufs and the parser ---- */

static struct rte_mbuf *
mbuf_new(void)
{
	struct rte_mbuf *m;

	assert_true(n_live < MAX_LIVE);
	m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	live[n_live++] = m;
	return m;
}

/* The mbuf leaves the test's hands (sent or freed by the code). */
static void
mbuf_forget(struct rte_mbuf *m)
{
	unsigned int i;

	for (i = 0; i < n_live; i++) {
		if (live[i] == m) {
			live[i] = live[--n_live];
			return;
		}
	}
	fail_msg("mbuf %p not live", (void *)m);
}

/* A frame the code under test allocated: teardown frees it. */
static void
keep(struct rte_mbuf *m)
{
	assert_non_null(m);
	assert_true(n_live < MAX_LIVE);
	live[n_live++] = m;
}

static struct rte_mbuf *
mbuf_from(const struct bytes *f)
{
	struct rte_mbuf *m = mbuf_new();
	void *p = rte_pktmbuf_append(m, f->len);

	if (p == NULL) {
		fail_msg("no room for %u bytes", f->len);
		abort();
	}
	memcpy(p, f->b, f->len);
	return m;
}

/* The frame starts at an odd address, as after trimming an odd amount. */
static struct rte_mbuf *
mbuf_odd(const struct bytes *f)
{
	struct rte_mbuf *m = mbuf_new();

	m->data_off++;
	memcpy(rte_pktmbuf_append(m, f->len), f->b, f->len);
	assert_true((uintptr_t)rte_pktmbuf_mtod(m, void *) & 1);
	return m;
}

/* The frame ends where the buffer does: no tailroom at all. */
static struct rte_mbuf *
mbuf_at_end(const struct bytes *f)
{
	struct rte_mbuf *m = mbuf_new();

	m->data_off = m->buf_len - f->len;
	memcpy(rte_pktmbuf_append(m, f->len), f->b, f->len);
	assert_int_equal(rte_pktmbuf_tailroom(m), 0);
	return m;
}

/* Parse exactly as the worker does before handing frames to neigh. */
static struct rte_mbuf *
parsed(const struct bytes *f, struct mg_pkt_info *info)
{
	struct rte_mbuf *m = mbuf_from(f);

	assert_int_equal(mg_pkt_parse(m, info), MG_DROP_NONE);
	return m;
}

static void
assert_frame(const struct rte_mbuf *m, const uint8_t *want, uint16_t len)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned int i;

	assert_int_equal(m->nb_segs, 1);
	assert_int_equal(rte_pktmbuf_data_len(m), len);
	assert_int_equal(rte_pktmbuf_pkt_len(m), len);
	for (i = 0; i < len; i++)
		if (p[i] != want[i])
			fail_msg("byte %u: got 0x%02x, want 0x%02x", i, p[i],
				 want[i]);
}

/* ---- addresses and the cache ---- */

static struct mg_addr
addr4(const uint8_t *b)
{
	struct mg_addr a = { .family = 4 };

	memcpy(a.bytes, b, 4);
	return a;
}

static struct mg_addr
addr6(const uint8_t *b)
{
	struct mg_addr a = { .family = 6 };

	memcpy(a.bytes, b, 16);
	return a;
}

static struct rte_ether_addr
mac_of(const uint8_t *b)
{
	struct rte_ether_addr mac;

	memcpy(&mac, b, sizeof(mac));
	return mac;
}

static void
assert_learned(const struct mg_addr *a, const uint8_t *want)
{
	struct rte_ether_addr mac;

	assert_true(mg_neigh_lookup(table, a, T0, &mac));
	assert_memory_equal(mac.addr_bytes, want, 6);
}

static void
assert_unknown(const struct mg_addr *a)
{
	struct rte_ether_addr mac;

	assert_false(mg_neigh_lookup(table, a, T0, &mac));
}

/* What the gateway does to learn a neighbour: ask, and take the answer. */
static void
resolve_in(struct mg_neigh_table *t, const struct mg_addr *a,
	   const struct rte_ether_addr *mac, uint64_t now)
{
	assert_int_equal(mg_neigh_solicit(t, a, now, now + TSC_HZ), 0);
	assert_int_equal(mg_neigh_learn(t, a, mac, now),
			 MG_NEIGH_CLAIM_APPLIED);
}

static void
resolve(const struct mg_addr *a, const struct rte_ether_addr *mac, uint64_t now)
{
	resolve_in(table, a, mac, now);
}

/* The request the gateway sends before an answer may count. */
static void
ask(const struct mg_addr *a)
{
	assert_int_equal(mg_neigh_solicit(table, a, T0, T0 + TSC_HZ), 0);
}

/* The gateway owns 192.0.2.1 and 2001:db8::1; counts the questions. */
struct local_ctx {
	unsigned int calls;
};

static bool
is_local(void *ctx, const struct mg_addr *a)
{
	struct local_ctx *c = ctx;

	c->calls++;
	if (a->family == 4)
		return memcmp(a->bytes, local4, 4) == 0;
	return a->family == 6 && memcmp(a->bytes, local6, 16) == 0;
}

/* The worker's lcore counter of claims against the cache. */
static uint64_t conflicts;

static enum mg_neigh_result
input_at(struct rte_mbuf *m, const struct mg_pkt_info *info, uint64_t now)
{
	struct local_ctx c = { 0 };

	return mg_neigh_input(table, m, info, &port, is_local, &c, now,
			      &conflicts);
}

static enum mg_neigh_result
input(struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	return input_at(m, info, T0);
}

/* ---- ARP ---- */

static void
test_arp_request_local(void **state)
{
	unsigned int n_vlans;

	(void)state;
	/* Untagged and behind a tag: the tag must survive the rewrite. */
	for (n_vlans = 0; n_vlans <= 1; n_vlans++) {
		struct arp_spec req = {
			bcast_mac, peer_mac, 1,	     peer_mac,
			peer4,	   zero_mac, local4, n_vlans,
		};
		struct arp_spec rep = {
			peer_mac, port_mac, 2,	   port_mac,
			local4,	  peer_mac, peer4, n_vlans,
		};
		struct bytes in, want;
		struct mg_pkt_info info;
		struct rte_mbuf *m;

		build_arp(&in, &req);
		build_arp(&want, &rep);
		m = parsed(&in, &info);
		assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
		assert_frame(m, want.b, want.len);

		/* The reply still parses as ARP. */
		assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
		assert_int_equal(info.l3, MG_L3_ARP);
	}
	{
		/* Answered, not believed: the request is no answer of
		 * ours, and its sender could be anyone on the link. */
		struct mg_addr a = addr4(peer4);

		assert_unknown(&a);
		assert_int_equal(conflicts, 0);
	}
}

static void
test_arp_reply_to_sender_hw(void **state)
{
	/* RFC 826: the reply goes to the sender hardware address, even
	 * when a bridge or proxy relayed the request from another MAC. */
	struct arp_spec req = {
		bcast_mac, other_mac, 1, peer_mac, peer4, zero_mac, local4, 0,
	};
	struct arp_spec rep = {
		peer_mac, port_mac, 2, port_mac, local4, peer_mac, peer4, 0,
	};
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in, want;

	(void)state;
	build_arp(&in, &req);
	build_arp(&want, &rep);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	assert_frame(m, want.b, want.len);
}

static void
test_arp_request_other(void **state)
{
	struct arp_spec req = {
		bcast_mac, peer_mac, 1, peer_mac, peer4, zero_mac, far4, 0,
	};
	struct mg_addr a = addr4(peer4), far = addr4(far4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	/* Even while we wait for its answer, a request is not one. */
	ask(&a);
	build_arp(&in, &req);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
	assert_unknown(&a);
	assert_unknown(&far);
	assert_int_equal(conflicts, 0);
}

/* An ARP reply from @p sha for @p spa, to the gateway (or @p tpa). */
static struct rte_mbuf *
arp_reply_in(const uint8_t *sha, const uint8_t *spa, const uint8_t *tpa,
	     struct mg_pkt_info *info, struct bytes *in)
{
	struct arp_spec rep = {
		port_mac, sha, 2, sha, spa, port_mac, tpa, 0,
	};

	build_arp(in, &rep);
	return parsed(in, info);
}

static void
test_arp_reply_answers(void **state)
{
	struct mg_addr a = addr4(peer4), b = addr4(garp4), c = addr4(far4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	/* Unasked: not learned, and nothing known to contradict. */
	m = arp_reply_in(peer_mac, peer4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
	assert_unknown(&a);

	/* Asked: the reply to us is the answer. */
	ask(&a);
	assert_unknown(&a); /* asked is not known */
	m = arp_reply_in(peer_mac, peer4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
	assert_learned(&a, peer_mac);

	/* A reply to someone else answers nothing of ours. */
	ask(&b);
	m = arp_reply_in(other_mac, garp4, far4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_unknown(&b);

	/* Past the request's deadline, the answer is too late. */
	assert_int_equal(mg_neigh_solicit(table, &c, T0, T0 + 10), 0);
	m = arp_reply_in(other_mac, far4, local4, &info, &in);
	assert_int_equal(input_at(m, &info, T0 + 11), MG_NEIGH_CONSUMED);
	assert_unknown(&c);
	m = arp_reply_in(other_mac, far4, local4, &info, &in);
	assert_int_equal(input_at(m, &info, T0 + 10), MG_NEIGH_CONSUMED);
	assert_learned(&c, other_mac);
	assert_int_equal(conflicts, 0);
}

static void
test_arp_first_answer_wins(void **state)
{
	/* Two answers to one request: the first sets the MAC and closes
	 * the request; the second, from another MAC, is a conflict.
	 * (Last-wins would let a spoofer win by merely waiting for the
	 * real answer; first-wins makes it race the real host.) */
	struct mg_addr a = addr4(peer4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	ask(&a);
	m = arp_reply_in(peer_mac, peer4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	m = arp_reply_in(other_mac, peer4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_learned(&a, peer_mac);
	assert_int_equal(conflicts, 1);
	/* The same answer again agrees: no conflict. */
	m = arp_reply_in(peer_mac, peer4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_int_equal(conflicts, 1);

	/* Whoever answers first wins, the spoofer too: what the link
	 * allows without static neighbours, and logged as a conflict. */
	a = addr4(garp4);
	ask(&a);
	m = arp_reply_in(other_mac, garp4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	m = arp_reply_in(peer_mac, garp4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_learned(&a, other_mac);
	assert_int_equal(conflicts, 2);
}

static void
test_arp_gratuitous(void **state)
{
	/* Both announcement forms: request (RFC 5227) and reply. */
	struct arp_spec garp[] = {
		{ bcast_mac, other_mac, 1, other_mac, garp4, zero_mac, garp4,
		  0 },
		{ bcast_mac, other_mac, 2, other_mac, garp4, bcast_mac, garp4,
		  0 },
	};
	struct rte_ether_addr pm = mac_of(peer_mac);
	struct mg_addr a = addr4(garp4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	unsigned int i;

	(void)state;
	/* Unknown: never learned, asked for or not. */
	for (i = 0; i < 2 * RTE_DIM(garp); i++) {
		if (i == RTE_DIM(garp))
			ask(&a);
		build_arp(&in, &garp[i % RTE_DIM(garp)]);
		m = parsed(&in, &info);
		assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
		assert_frame(m, in.b, in.len);
		assert_unknown(&a);
	}
	assert_int_equal(conflicts, 0);

	/* Known: a conflict each, never applied; the log says it once. */
	resolve(&a, &pm, T0);
	for (i = 0; i < RTE_DIM(garp); i++) {
		build_arp(&in, &garp[i]);
		m = parsed(&in, &info);
		assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
		assert_learned(&a, peer_mac);
	}
	assert_int_equal(conflicts, 2);
	assert_int_equal(mg_neigh_log_conflicts(table, T0), 1);
	assert_int_equal(mg_neigh_log_conflicts(table, T0), 0);

	/* Announcing the MAC it has is no conflict. */
	garp[0].eth_src = garp[0].sha = peer_mac;
	build_arp(&in, &garp[0]);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_int_equal(conflicts, 2);
}

static void
test_arp_group_sender(void **state)
{
	/* A group sender is neither learned nor answered (no reflection). */
	const uint8_t *macs[] = { bcast_mac, mcast_mac, zero_mac };
	struct mg_addr a = addr4(peer4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	unsigned int i;

	(void)state;
	ask(&a);
	for (i = 0; i < RTE_DIM(macs); i++) {
		struct arp_spec req = {
			bcast_mac, peer_mac, 1,	     macs[i],
			peer4,	   zero_mac, local4, 0,
		};

		build_arp(&in, &req);
		m = parsed(&in, &info);
		assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
		assert_frame(m, in.b, in.len);
		/* nor taken as the answer we wait for */
		m = arp_reply_in(macs[i], peer4, local4, &info, &in);
		assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
		assert_unknown(&a);
	}
}

static void
test_arp_probe(void **state)
{
	/* RFC 5227 probe for our address: answered, nothing learned. */
	struct arp_spec req = {
		bcast_mac, peer_mac, 1, peer_mac, zero4, zero_mac, local4, 0,
	};
	struct arp_spec rep = {
		peer_mac, port_mac, 2, port_mac, local4, peer_mac, zero4, 0,
	};
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in, want;

	(void)state;
	build_arp(&in, &req);
	build_arp(&want, &rep);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	assert_frame(m, want.b, want.len);
}

static void
test_arp_claims_local(void **state)
{
	/* Someone claiming our address must not divert our traffic, not
	 * even as an answer to a request (the gateway never asks for its
	 * own addresses; the library does not trust that). */
	struct mg_addr a = addr4(local4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	ask(&a);
	m = arp_reply_in(other_mac, local4, local4, &info, &in);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_unknown(&a);
}

static void
test_arp_other_op(void **state)
{
	/* RARP-style opcodes carry nothing to learn. */
	struct arp_spec rarp = {
		bcast_mac, peer_mac, 3, peer_mac, peer4, zero_mac, local4, 0,
	};
	struct rte_ether_addr om = mac_of(other_mac);
	struct mg_addr a = addr4(peer4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	/* Not even compared with what is known. */
	resolve(&a, &om, T0);
	build_arp(&in, &rarp);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
	assert_learned(&a, other_mac);
	assert_int_equal(conflicts, 0);
}

/* ---- neighbour discovery ---- */

static void
test_ns_local(void **state)
{
	struct mg_addr a = addr6(peer6);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	build_nd(&in, &ns_for_local);
	/* Our builder and checksum agree with scapy's... */
	assert_int_equal(in.len, sizeof(ref_ns));
	assert_memory_equal(in.b, ref_ns, sizeof(ref_ns));

	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	/* ...and so does the NA, byte for byte. */
	assert_frame(m, ref_na, sizeof(ref_na));
	assert_icmp6_cksum(rte_pktmbuf_mtod(m, uint8_t *), 14);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	/* answered, its sender not believed (as ARP requests) */
	assert_unknown(&a);
}

static void
test_ns_local_vlan_grows(void **state)
{
	/* A unicast NS (NUD) without the option: reply to the frame's
	 * sender, and the frame grows by the option we add. */
	struct nd_spec s = ns_for_local;
	const uint8_t *p;
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	uint16_t l3_off;

	(void)state;
	s.eth_dst = port_mac;
	s.dst = local6;
	s.opt = 0;
	s.n_vlans = 1;
	l3_off = build_nd(&in, &s);
	assert_int_equal(in.len, 18 + 40 + 24);

	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	p = rte_pktmbuf_mtod(m, const uint8_t *);
	assert_int_equal(rte_pktmbuf_data_len(m), 18 + 40 + 32);
	assert_int_equal(rte_pktmbuf_pkt_len(m), 18 + 40 + 32);
	/* ref_na behind the tag of the request. */
	assert_memory_equal(p, ref_na, 12);
	assert_memory_equal(p + 12, in.b + 12, 4);
	assert_memory_equal(p + 16, ref_na + 12, sizeof(ref_na) - 12);
	assert_icmp6_cksum(p, l3_off);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_int_equal(info.n_vlans, 1);
}

static void
test_ns_reply_to_option(void **state)
{
	/* The option names the requester, whatever the frame says. */
	struct nd_spec s = ns_for_local;
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	s.eth_src = other_mac;
	build_nd(&in, &s);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	assert_frame(m, ref_na, sizeof(ref_na));

	/* A group address in the option: neither answered nor compared
	 * with what is known of its sender. */
	{
		struct rte_ether_addr pm = mac_of(peer_mac);
		struct mg_addr a = addr6(far6);

		resolve(&a, &pm, T0);
		s.opt_mac = mcast_mac;
		s.src = far6;
		build_nd(&in, &s);
		m = parsed(&in, &info);
		assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
		assert_frame(m, in.b, in.len);
		assert_learned(&a, peer_mac);
		assert_int_equal(conflicts, 0);
	}
}

static void
test_ns_ext_header(void **state)
{
	/* The NA leaves the NS's extension headers behind: the frame
	 * shrinks to exactly the reference NA. */
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	build_nd(&in, &ns_for_local);
	insert_hbh(&in, 14);
	assert_int_equal(in.len, sizeof(ref_ns) + 8);
	m = parsed(&in, &info);
	assert_int_equal(info.l4_off, 14 + 40 + 8);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	assert_frame(m, ref_na, sizeof(ref_na));
	assert_int_equal(m->l3_len, 40);
}

static void
test_ns_no_tailroom(void **state)
{
	/* An NA that cannot grow into the mbuf is not sent half-built. */
	struct nd_spec s = ns_for_local;
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	s.opt = 0;
	s.eth_dst = port_mac;
	s.dst = local6;
	build_nd(&in, &s);
	m = mbuf_at_end(&in);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
}

static void
test_ns_dad(void **state)
{
	/* RFC 4861 7.2.4: defend against DAD on all-nodes, S clear. */
	struct nd_spec s = ns_for_local;
	const uint8_t *p, *ip6, *icmp;
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	s.src = zero6;
	s.opt = 0;
	build_nd(&in, &s);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);

	p = rte_pktmbuf_mtod(m, const uint8_t *);
	ip6 = p + 14;
	icmp = ip6 + 40;
	assert_int_equal(rte_pktmbuf_data_len(m), 86);
	assert_memory_equal(p, all_nodes_mac, 6);
	assert_memory_equal(p + 6, port_mac, 6);
	assert_int_equal(ip6[7], 255);
	assert_memory_equal(ip6 + 8, local6, 16);
	assert_memory_equal(ip6 + 24, all_nodes6, 16);
	assert_int_equal(icmp[0], ND_NA);
	assert_int_equal(icmp[4], NA_OVERRIDE);
	assert_memory_equal(icmp + 8, local6, 16);
	assert_int_equal(icmp[24], ND_TLLA);
	assert_memory_equal(icmp + 26, port_mac, 6);
	assert_icmp6_cksum(p, 14);

	/* A DAD probe carrying a source address option is invalid. */
	s.opt = ND_SLLA;
	build_nd(&in, &s);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
}

static void
test_ns_other(void **state)
{
	struct nd_spec s = ns_for_local;
	struct mg_addr a = addr6(peer6);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	s.target = far6;
	build_nd(&in, &s);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
	assert_unknown(&a);

	/* What a solicitation says of a known sender is compared: the
	 * same MAC is fine, another a conflict, and neither applied. */
	{
		struct rte_ether_addr om = mac_of(other_mac);

		resolve(&a, &om, T0);
	}
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_learned(&a, other_mac);
	assert_int_equal(conflicts, 1);
	s.opt_mac = other_mac;
	build_nd(&in, &s);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_int_equal(conflicts, 1);
}

static void
test_ns_hop_limit(void **state)
{
	/* Hop limit 64: it may come from off-link; neither answered nor
	 * compared with the cache, though the checksum is good. */
	struct rte_ether_addr om = mac_of(other_mac);
	struct nd_spec s = ns_for_local;
	struct mg_addr a = addr6(peer6);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	resolve(&a, &om, T0);
	s.hop_limit = 64;
	build_nd(&in, &s);
	assert_icmp6_cksum(in.b, 14);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
	assert_int_equal(conflicts, 0);
}

/* One broken NS per case; each keeps a good checksum unless it is the
 * fault. */
enum ns_fault {
	FAULT_CKSUM,
	FAULT_CODE,
	FAULT_SHORT,
	FAULT_OPT_ZERO_LEN,
	FAULT_OPT_OVERRUN,
	FAULT_OPT_TRUNCATED,
	FAULT_TARGET_MULTICAST,
	FAULT_MAX
};

static void
test_ns_invalid(void **state)
{
	struct rte_ether_addr om = mac_of(other_mac);
	struct mg_addr a = addr6(peer6);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	uint8_t *icmp;
	unsigned int f;

	(void)state;
	resolve(&a, &om, T0);
	for (f = 0; f < FAULT_MAX; f++) {
		build_nd(&in, &ns_for_local);
		icmp = in.b + 14 + 40;
		switch (f) {
		case FAULT_CKSUM: icmp[2] ^= 0x01; break;
		case FAULT_CODE: icmp[1] = 1; break;
		case FAULT_SHORT: in.len = 14 + 40 + 16; break;
		case FAULT_OPT_ZERO_LEN: icmp[25] = 0; break;
		case FAULT_OPT_OVERRUN: icmp[25] = 2; break;
		case FAULT_OPT_TRUNCATED: in.len -= 7; break;
		case FAULT_TARGET_MULTICAST: icmp[8] = 0xff; break;
		}
		if (f != FAULT_CKSUM)
			nd_seal(&in, 14);
		m = parsed(&in, &info);
		assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
		if (memcmp(rte_pktmbuf_mtod(m, void *), in.b, in.len) != 0)
			fail_msg("fault %u: frame modified", f);
		/* its claim (peer_mac) was not even compared */
		assert_learned(&a, other_mac);
		assert_int_equal(conflicts, 0);
	}
	/* The unbroken NS would have been: a conflict. */
	build_nd(&in, &ns_for_local);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	assert_int_equal(conflicts, 1);
}

static void
test_nd_nic_cksum_good(void **state)
{
	/* A checksum the NIC vouched for is trusted, not summed again:
	 * answered, and its claim compared (a conflict here). */
	struct rte_ether_addr om = mac_of(other_mac);
	struct mg_addr a = addr6(peer6);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	resolve(&a, &om, T0);
	build_nd(&in, &ns_for_local);
	in.b[14 + 40 + 2] ^= 0x01;
	m = parsed(&in, &info);
	m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	assert_frame(m, ref_na, sizeof(ref_na));
	assert_int_equal(conflicts, 1);
}

/* An NA from peer6 about itself to us, solicited, with override. */
static const struct nd_spec na_from_peer = {
	.eth_dst = port_mac,
	.eth_src = peer_mac,
	.src = peer6,
	.dst = local6,
	.target = peer6,
	.type = ND_NA,
	.hop_limit = 255,
	.flags = NA_SOLICITED | NA_OVERRIDE,
	.opt = ND_TLLA,
	.opt_mac = other_mac,
};

static void
na_in(const struct nd_spec *s)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	build_nd(&in, s);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_CONSUMED);
	assert_frame(m, in.b, in.len);
}

static void
test_na_answers(void **state)
{
	struct nd_spec s = na_from_peer;
	struct mg_addr a = addr6(peer6);

	(void)state;
	/* Unasked, override flag or not: never learned. */
	na_in(&s);
	s.flags = NA_OVERRIDE;
	na_in(&s);
	assert_unknown(&a);

	/* Asked; none of these is the answer: solicited to a group
	 * (invalid), without the target option, unsolicited (override
	 * or not), solicited but to someone else. */
	ask(&a);
	s.dst = all_nodes6;
	s.flags = NA_SOLICITED | NA_OVERRIDE;
	na_in(&s);
	s.dst = local6;
	s.opt = 0;
	na_in(&s);
	s.opt = ND_TLLA;
	s.flags = NA_OVERRIDE;
	na_in(&s);
	s.flags = 0;
	na_in(&s);
	s.flags = NA_SOLICITED | NA_OVERRIDE;
	s.dst = far6;
	na_in(&s);
	assert_unknown(&a);
	assert_int_equal(conflicts, 0);

	/* The answer: its MAC comes from the option, not the frame. */
	s.dst = local6;
	na_in(&s);
	assert_learned(&a, other_mac);

	/* After it, an unsolicited NA with override to all nodes, or a
	 * second "solicited" one, cannot move the entry: conflicts. */
	s.dst = all_nodes6;
	s.flags = NA_OVERRIDE;
	s.opt_mac = peer_mac;
	na_in(&s);
	s.dst = local6;
	s.flags = NA_SOLICITED | NA_OVERRIDE;
	na_in(&s);
	assert_learned(&a, other_mac);
	assert_int_equal(conflicts, 2);

	/* A group address in the option is not even compared. */
	s.opt_mac = mcast_mac;
	na_in(&s);
	assert_int_equal(conflicts, 2);

	/* Someone advertising our own address is not believed, even
	 * with a request out for it. */
	a = addr6(local6);
	ask(&a);
	s.src = far6;
	s.target = local6;
	s.opt_mac = other_mac;
	na_in(&s);
	assert_unknown(&a);
	assert_int_equal(conflicts, 2);
}

static void
test_na_override_flag(void **state)
{
	/* RFC 4861 7.2.5: a solicited NA without the override flag fills
	 * an unanswered entry, but does not replace a known MAC. */
	struct rte_ether_addr pm = mac_of(peer_mac);
	struct nd_spec s = na_from_peer;
	struct mg_addr a = addr6(peer6), b = addr6(far6);

	(void)state;
	resolve(&a, &pm, T0);
	ask(&a);
	s.flags = NA_SOLICITED;
	na_in(&s);
	assert_learned(&a, peer_mac);
	assert_int_equal(conflicts, 0);
	/* still asked: the answer with the flag replaces it */
	s.flags = NA_SOLICITED | NA_OVERRIDE;
	na_in(&s);
	assert_learned(&a, other_mac);

	ask(&b);
	s.src = far6;
	s.target = far6;
	s.flags = NA_SOLICITED;
	na_in(&s);
	assert_learned(&b, other_mac);
	assert_int_equal(conflicts, 0);
}

static void
test_not_neigh(void **state)
{
	struct nd_spec ra = ns_for_local;
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	build_echo6(&in, 0, 128);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_NOT_NEIGH);

	build_echo4(&in, 0, 8);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_NOT_NEIGH);

	/* Router advertisements are not ours to handle. */
	ra.type = 134;
	build_nd(&in, &ra);
	m = parsed(&in, &info);
	assert_int_equal(input(m, &info), MG_NEIGH_NOT_NEIGH);
}

/* ---- echo ---- */

static void
test_echo4(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	uint16_t l3_off;

	(void)state;
	l3_off = build_echo4(&in, 1, 8);
	assert_ipv4_cksums(in.b, l3_off);
	m = parsed(&in, &info);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	assert_frame(m, ref_echo4_reply, sizeof(ref_echo4_reply));
	assert_ipv4_cksums(rte_pktmbuf_mtod(m, uint8_t *), l3_off);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
}

static void
test_echo6(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	uint16_t l3_off;

	(void)state;
	l3_off = build_echo6(&in, 1, 128);
	assert_icmp6_cksum(in.b, l3_off);
	m = parsed(&in, &info);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	assert_frame(m, ref_echo6_reply, sizeof(ref_echo6_reply));
	assert_icmp6_cksum(rte_pktmbuf_mtod(m, uint8_t *), l3_off);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
}

static void
test_echo_untagged(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	uint16_t l3_off;

	(void)state;
	l3_off = build_echo4(&in, 0, 8);
	m = parsed(&in, &info);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	assert_ipv4_cksums(rte_pktmbuf_mtod(m, uint8_t *), l3_off);

	l3_off = build_echo6(&in, 0, 128);
	m = parsed(&in, &info);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	assert_icmp6_cksum(rte_pktmbuf_mtod(m, uint8_t *), l3_off);
}

/*
 * Regression (fuzz_neigh): an echo request whose ICMP message is zero
 * but for its type (identifier 0, sequence 0, zero payload) — here with
 * IPv4 options and a byte of padding, as the fuzzer sent it. Its reply
 * sums to +0: the incremental update gave checksum 0, which no receiver
 * accepts; it must be 0xffff.
 */
static void
test_echo4_zero_message(void **state)
{
	static const uint8_t frame[] = {
		0x02, 0x00, 0x89, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x08, 0x00, 0x46, 0x00, 0x00, 0x24,
		0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0xcb, 0xff, 0x00,
		0x00, 0x00, 0x0a, 0xc6, 0x12, 0x13, 0x00, 0x01, 0x01,
		0x01, 0x01, 0x08, 0x00, 0xf7, 0xff, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x12,
	};
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	const uint8_t *icmp;

	(void)state;
	memset(&in, 0, sizeof(in));
	put(&in, frame, sizeof(frame));
	/* the request's ICMP checksum is right (its header's is not) */
	assert_int_equal(ref_fold(ref_add(in.b + 14 + 24, 12, 0)), 0xffff);
	m = parsed(&in, &info);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	icmp = rte_pktmbuf_mtod_offset(m, const uint8_t *, info.l4_off);
	assert_int_equal(icmp[0], 0);
	assert_int_equal(icmp[2] << 8 | icmp[3], 0xffff);
	assert_ipv4_cksums(rte_pktmbuf_mtod(m, uint8_t *), 14);

	/* the same through the builder: no payload but the test's own */
	build_echo4(&in, 0, 8);
	memset(in.b + 14 + 20 + 4, 0, in.len - 14 - 20 - 4);
	set_be16(in.b + 14 + 20 + 2, 0xf7ff);
	m = parsed(&in, &info);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	assert_ipv4_cksums(rte_pktmbuf_mtod(m, uint8_t *), 14);
}

/* Found by fuzz_neigh: a later fragment's data is not an ICMP header
 * (here it looks like an echo request), and the header of a first
 * fragment is checked against the whole datagram only: the worker
 * reassembles first, the library answers whole datagrams only. */
static void
test_echo_fragment(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	build_echo4(&in, 0, 8);
	set_be16(in.b + 14 + 6, 0x0001); /* offset 8, the last fragment */
	m = parsed(&in, &info);
	assert_true(info.frag & MG_PKT_FRAG);
	assert_false(mg_neigh_echo_reply(m, &info, &port));
	assert_memory_equal(rte_pktmbuf_mtod(m, uint8_t *), in.b, in.len);

	build_echo4(&in, 0, 8);
	set_be16(in.b + 14 + 6, 0x2000); /* the first of several */
	m = parsed(&in, &info);
	assert_true(info.frag & MG_PKT_FRAG_FIRST);
	assert_false(mg_neigh_echo_reply(m, &info, &port));
}

/* RFC 6980 5: neighbour discovery inside fragments is ignored (the
 * library's contract; its checksum and options would span fragments). */
static void
test_ns_fragment(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	build_nd(&in, &ns_for_local);
	m = parsed(&in, &info);
	info.frag = MG_PKT_FRAG | MG_PKT_FRAG_FIRST;
	assert_int_equal(input(m, &info), MG_NEIGH_NOT_NEIGH);
	assert_memory_equal(rte_pktmbuf_mtod(m, uint8_t *), in.b, in.len);
}

static void
test_echo_refused(void **state)
{
	struct arp_spec req = {
		bcast_mac, peer_mac, 1, peer_mac, peer4, zero_mac, local4, 0,
	};
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;
	uint16_t l3_off;

	(void)state;
	/* Replies, other ICMP and ARP are not echo requests. */
	build_echo4(&in, 0, 0);
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));
	assert_frame(m, in.b, in.len);

	build_echo6(&in, 0, 129);
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));

	build_nd(&in, &ns_for_local);
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));

	build_arp(&in, &req);
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));

	/* A non-zero code is not an echo request. */
	l3_off = build_echo4(&in, 0, 8);
	in.b[l3_off + 21] = 1;
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));

	/* No replies to a broadcast source: no reflection. */
	l3_off = build_echo4(&in, 0, 8);
	memset(in.b + l3_off + 12, 0xff, 4);
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));

	l3_off = build_echo6(&in, 0, 128);
	memcpy(in.b + l3_off + 8, all_nodes6, 16);
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));

	/* Extension headers: not answered (a routing header's reply would
	 * need rebuilding). */
	l3_off = build_echo6(&in, 0, 128);
	insert_hbh(&in, l3_off);
	m = parsed(&in, &info);
	assert_false(mg_neigh_echo_reply(m, &info, &port));
	assert_frame(m, in.b, in.len);
}

static void
test_odd_alignment(void **state)
{
	/* Headers are read and written byte-wise or through packed
	 * structs; the sanitizer build checks this. */
	struct arp_spec req = {
		bcast_mac, peer_mac, 1, peer_mac, peer4, zero_mac, local4, 0,
	};
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes in;

	(void)state;
	build_nd(&in, &ns_for_local);
	m = mbuf_odd(&in);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);
	assert_frame(m, ref_na, sizeof(ref_na));

	build_arp(&in, &req);
	m = mbuf_odd(&in);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_int_equal(input(m, &info), MG_NEIGH_REPLY);

	build_echo4(&in, 1, 8);
	m = mbuf_odd(&in);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	assert_frame(m, ref_echo4_reply, sizeof(ref_echo4_reply));

	build_echo6(&in, 1, 128);
	m = mbuf_odd(&in);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_true(mg_neigh_echo_reply(m, &info, &port));
	assert_frame(m, ref_echo6_reply, sizeof(ref_echo6_reply));
}

/* ---- request builders ---- */

static void
test_request_arp(void **state)
{
	struct arp_spec want_spec = {
		bcast_mac, port_mac, 1, port_mac, local4, zero_mac, peer4, 0,
	};
	struct mg_addr src = addr4(local4), dst = addr4(peer4);
	struct mg_pkt_info info;
	struct rte_mbuf *m;
	struct bytes want;

	(void)state;
	build_arp(&want, &want_spec);
	assert_int_equal(want.len, 60);
	m = mg_neigh_request(table, pool, &port, &src, &dst, T0, T0 + 10);
	keep(m);
	assert_frame(m, want.b, want.len);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_int_equal(info.l3, MG_L3_ARP);
	/* recorded: the answer is taken until the deadline */
	assert_unknown(&dst);
	m = arp_reply_in(peer_mac, peer4, local4, &info, &want);
	assert_int_equal(input_at(m, &info, T0 + 10), MG_NEIGH_CONSUMED);
	assert_learned(&dst, peer_mac);
}

static void
test_request_ns(void **state)
{
	struct mg_addr src = addr6(local6), dst = addr6(peer6);
	struct mg_pkt_info info;
	struct rte_mbuf *m;

	(void)state;
	m = mg_neigh_request(table, pool, &port, &src, &dst, T0, T0 + 10);
	keep(m);
	assert_frame(m, ref_ns_req, sizeof(ref_ns_req));
	assert_icmp6_cksum(ref_ns_req, 14);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_int_equal(info.l3, MG_L3_IPV6);
	na_in(&na_from_peer);
	assert_learned(&dst, other_mac);
}

static void
test_request_refused(void **state)
{
	struct mg_addr s4 = addr4(local4), s6 = addr6(local6);
	struct mg_addr t6 = addr6(peer6), bad = { .family = 5 };
	struct rte_mempool *tiny;
	struct rte_mbuf *m, *held;

	(void)state;
	rte_errno = 0;
	assert_null(mg_neigh_request(table, pool, &port, &s4, &t6, T0, T0));
	assert_int_equal(rte_errno, EINVAL);
	assert_null(mg_neigh_request(table, pool, &port, &bad, &bad, T0, T0));
	assert_int_equal(rte_errno, EINVAL);

	/* Room for the 60-byte ARP frame but not the 86-byte NS. */
	tiny = rte_pktmbuf_pool_create("test_neigh_tiny", 1, 0, 0,
				       RTE_PKTMBUF_HEADROOM + 64,
				       SOCKET_ID_ANY);
	assert_non_null(tiny);
	assert_null(
		mg_neigh_request(table, tiny, &port, &s6, &t6, T0, T0 + 10));
	assert_int_equal(rte_errno, ENOBUFS);
	assert_int_equal(rte_mempool_in_use_count(tiny), 0);
	/* A request not sent is not recorded: no answer taken for it. */
	na_in(&na_from_peer);
	assert_unknown(&t6);

	held = mg_neigh_request(table, tiny, &port, &s4, &s4, T0, T0 + 10);
	assert_non_null(held);
	/* The pool is empty now. */
	m = mg_neigh_request(table, tiny, &port, &s4, &s4, T0, T0 + 10);
	assert_null(m);
	assert_int_equal(rte_errno, ENOBUFS);
	rte_pktmbuf_free(held);
	assert_int_equal(rte_mempool_in_use_count(tiny), 0);
	rte_mempool_free(tiny);
}

/* ---- cache ---- */

static void
test_cache_learn_lookup(void **state)
{
	/* Same bytes, other family: a different neighbour. */
	static const uint8_t v6_like_v4[16] = { 192, 0, 2, 2 };
	struct mg_addr a4 = addr4(peer4), a6 = addr6(peer6);
	struct mg_addr b6 = addr6(v6_like_v4), bad = { .family = 0 };
	struct rte_ether_addr pm = mac_of(peer_mac), om = mac_of(other_mac);
	struct rte_ether_addr mac;

	(void)state;
	assert_false(mg_neigh_lookup(table, &a4, T0, &mac));
	/* an answer nobody asked for teaches nothing */
	assert_int_equal(mg_neigh_learn(table, &a4, &pm, T0),
			 MG_NEIGH_CLAIM_IGNORED);
	assert_unknown(&a4);
	resolve(&a4, &pm, T0);
	resolve(&a6, &om, T0);
	assert_learned(&a4, peer_mac);
	assert_learned(&a6, other_mac);
	assert_unknown(&b6);

	/* Bytes past an IPv4 address are not part of its key. */
	a4.bytes[4] = 0xaa;
	assert_learned(&a4, peer_mac);

	assert_int_equal(mg_neigh_solicit(table, &bad, T0, T0), -EINVAL);
	assert_int_equal(mg_neigh_learn(table, &bad, &pm, T0),
			 MG_NEIGH_CLAIM_IGNORED);
	assert_false(mg_neigh_lookup(table, &bad, T0, &mac));
}

static void
test_cache_stale(void **state)
{
	struct mg_addr a = addr4(peer4);
	struct rte_ether_addr pm = mac_of(peer_mac), om = mac_of(other_mac);
	struct rte_ether_addr mac;
	uint64_t later = T0 + 2 * REACHABLE;

	(void)state;
	resolve(&a, &pm, T0);
	assert_true(mg_neigh_lookup(table, &a, T0 + REACHABLE, &mac));
	assert_false(mg_neigh_lookup(table, &a, T0 + REACHABLE + 1, &mac));
	/* Another worker's clock may lag the learner's. */
	assert_true(mg_neigh_lookup(table, &a, T0 - 5, &mac));

	/* Stale, it is asked for again; only the answer may move it. */
	assert_int_equal(mg_neigh_learn(table, &a, &om, later),
			 MG_NEIGH_CLAIM_CONFLICT);
	assert_int_equal(mg_neigh_learn(table, &a, &pm, later),
			 MG_NEIGH_CLAIM_SAME);
	assert_false(mg_neigh_lookup(table, &a, later, &mac));
	resolve(&a, &om, later);
	assert_true(mg_neigh_lookup(table, &a, later, &mac));
	assert_memory_equal(mac.addr_bytes, other_mac, 6);
}

/* A stale entry keeps being used for MG_NEIGH_STALE_S seconds while it
 * is asked for again (one request at a time), as Linux's STALE state:
 * no packet waits for a neighbour that answered a moment ago. */
static void
test_cache_stale_grace(void **state)
{
	static const uint8_t other4[4] = { 192, 0, 2, 3 };
	struct mg_addr a = addr4(peer4), b = addr4(other4);
	struct rte_ether_addr pm = mac_of(peer_mac), om = mac_of(other_mac);
	uint64_t stale = T0 + REACHABLE + 1;
	uint64_t grace = (uint64_t)MG_NEIGH_STALE_S * TSC_HZ;
	struct rte_ether_addr mac;
	bool refresh = true;

	(void)state;
	resolve(&a, &pm, T0);
	assert_true(mg_neigh_lookup_stale(table, &a, T0 + 1, &mac, &refresh));
	assert_false(refresh);
	assert_memory_equal(mac.addr_bytes, peer_mac, 6);
	/* stale: still used, and to be asked for */
	assert_true(mg_neigh_lookup_stale(table, &a, stale, &mac, &refresh));
	assert_true(refresh);
	assert_memory_equal(mac.addr_bytes, peer_mac, 6);
	/* asked: no second request while the first is out */
	assert_int_equal(mg_neigh_solicit(table, &a, stale, stale + 1000), 0);
	assert_true(
		mg_neigh_lookup_stale(table, &a, stale + 10, &mac, &refresh));
	assert_false(refresh);
	/* the request closed unanswered: asked again */
	assert_true(
		mg_neigh_lookup_stale(table, &a, stale + 2000, &mac, &refresh));
	assert_true(refresh);
	/* past the grace: not used any more */
	assert_false(mg_neigh_lookup_stale(table, &a, stale + grace, &mac,
					   &refresh));
	/* an answer makes it fresh again, with the MAC of the answer */
	resolve(&a, &om, stale + grace);
	assert_true(mg_neigh_lookup_stale(table, &a, stale + grace + 1, &mac,
					  &refresh));
	assert_false(refresh);
	assert_memory_equal(mac.addr_bytes, other_mac, 6);
	/* unknown and unanswered neighbours are not used */
	assert_false(mg_neigh_lookup_stale(table, &b, T0, &mac, &refresh));
	assert_int_equal(mg_neigh_solicit(table, &b, T0, T0 + 1000), 0);
	assert_false(mg_neigh_lookup_stale(table, &b, T0, &mac, &refresh));
	assert_false(refresh);
}

static void
test_cache_overwrite(void **state)
{
	struct mg_addr a = addr4(peer4);
	struct rte_ether_addr pm = mac_of(peer_mac), om = mac_of(other_mac);
	uint8_t b[4] = { 10, 0, 0, 0 };
	unsigned int i;

	(void)state;
	resolve(&a, &pm, T0);
	resolve(&a, &om, T0 + 1);
	assert_learned(&a, other_mac);

	/* The second answer took no second entry: the rest still fit,
	 * and nothing was evicted for them. */
	for (i = 1; i < TABLE_ENTRIES; i++) {
		struct mg_addr n;

		b[3] = i;
		n = addr4(b);
		resolve(&n, &pm, T0 + 1);
	}
	assert_learned(&a, other_mac);
	for (i = 1; i < TABLE_ENTRIES; i++) {
		struct mg_addr n;

		b[3] = i;
		n = addr4(b);
		assert_learned(&n, peer_mac);
	}
}

/* Lookups at @p now: every 200 ticks is past the touch granularity. */
static void
use(const struct mg_addr *a, uint64_t now)
{
	struct rte_ether_addr mac;

	assert_true(mg_neigh_lookup(table, a, now, &mac));
}

static void
test_cache_lru(void **state)
{
	struct rte_ether_addr pm = mac_of(peer_mac), om = mac_of(other_mac);
	struct mg_addr a[TABLE_ENTRIES + 2];
	struct mg_neigh_table *small;
	uint8_t b[16] = { 0xfd };
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(a); i++) {
		b[15] = i;
		a[i] = addr6(b);
	}
	/* Full, every entry learned at T0; then all but 3 and 7 used. */
	for (i = 0; i < TABLE_ENTRIES; i++)
		resolve(&a[i], &pm, T0);
	for (i = 0; i < TABLE_ENTRIES; i++)
		if (i != 3 && i != 7)
			use(&a[i], T0 + 200 + i);
	use(&a[7], T0 + 300); /* 7 now the most recent; 3 the least */

	/* A new next hop asked for takes the least recently used. */
	resolve(&a[TABLE_ENTRIES], &om, T0 + 400);
	assert_unknown(&a[3]);
	assert_learned(&a[TABLE_ENTRIES], other_mac);
	for (i = 0; i < TABLE_ENTRIES; i++)
		if (i != 3)
			assert_learned(&a[i], peer_mac);
	/* then the next least recently used (0, used at T0 + 200) */
	resolve(&a[TABLE_ENTRIES + 1], &om, T0 + 500);
	assert_unknown(&a[0]);
	assert_learned(&a[7], peer_mac);
	/* an evicted neighbour is asked for and comes back in */
	resolve(&a[3], &pm, T0 + 600);
	assert_learned(&a[3], peer_mac);

	/* Below rte_hash's smallest size the bound is still exact: the
	 * fourth of three evicts the first. */
	small = mg_neigh_create("test_neigh_small", 3, SOCKET_ID_ANY, TSC_HZ,
				REACHABLE_S);
	assert_non_null(small);
	for (i = 0; i < 4; i++)
		resolve_in(small, &a[i], &pm, T0 + i * 200);
	{
		struct rte_ether_addr mac;

		assert_false(mg_neigh_lookup(small, &a[0], T0 + 800, &mac));
		for (i = 1; i < 4; i++)
			assert_true(
				mg_neigh_lookup(small, &a[i], T0 + 800, &mac));
	}
	mg_neigh_free(small);
}

static void
test_cache_conflict_log(void **state)
{
	/* Logged once per claim, at most once a minute per neighbour. */
	struct rte_ether_addr pm = mac_of(peer_mac), om = mac_of(other_mac);
	struct rte_ether_addr third = { { 0x02, 0, 0, 0, 0, 0x04 } };
	struct mg_addr a = addr4(peer4), b = addr4(far4);

	(void)state;
	assert_int_equal(mg_neigh_log_conflicts(table, T0), 0);
	resolve(&a, &pm, T0);
	resolve(&b, &pm, T0);
	assert_int_equal(mg_neigh_learn(table, &a, &om, T0),
			 MG_NEIGH_CLAIM_CONFLICT);
	assert_int_equal(mg_neigh_learn(table, &b, &om, T0),
			 MG_NEIGH_CLAIM_CONFLICT);
	assert_int_equal(mg_neigh_log_conflicts(table, T0), 2);
	/* the same claims again: nothing new to say */
	assert_int_equal(mg_neigh_learn(table, &a, &om, T0 + 1),
			 MG_NEIGH_CLAIM_CONFLICT);
	assert_int_equal(mg_neigh_log_conflicts(table, T0 + 1), 0);
	/* another MAC within the minute waits for it */
	assert_int_equal(mg_neigh_learn(table, &a, &third, T0 + 2),
			 MG_NEIGH_CLAIM_CONFLICT);
	assert_int_equal(mg_neigh_log_conflicts(table, T0 + 2), 0);
	assert_int_equal(mg_neigh_log_conflicts(table, T0 + 60 * TSC_HZ - 1),
			 0);
	assert_int_equal(mg_neigh_log_conflicts(table, T0 + 60 * TSC_HZ), 1);
	assert_int_equal(mg_neigh_log_conflicts(table, T0 + 61 * TSC_HZ), 0);
	assert_learned(&a, peer_mac);
	assert_int_equal(mg_neigh_log_conflicts(NULL, T0), 0);
}

static void
test_cache_create_refused(void **state)
{
	(void)state;
	rte_errno = 0;
	assert_null(mg_neigh_create(NULL, 8, SOCKET_ID_ANY, TSC_HZ, 1));
	assert_int_equal(rte_errno, EINVAL);
	assert_null(mg_neigh_create("x", 0, SOCKET_ID_ANY, TSC_HZ, 1));
	assert_int_equal(rte_errno, EINVAL);
	assert_null(mg_neigh_create("x", 8, SOCKET_ID_ANY, 0, 1));
	assert_int_equal(rte_errno, EINVAL);
	/* The name is the fixture's, already taken. */
	assert_null(mg_neigh_create(TABLE_NAME, 8, SOCKET_ID_ANY, TSC_HZ, 1));
	assert_int_equal(rte_errno, EEXIST);
	mg_neigh_free(NULL);
}

struct race {
	struct mg_neigh_table *t;
	unsigned int arrived;
	int failures;
	bool stop;
	unsigned int cur; /* the neighbour being resolved */
	uint64_t lookups; /* reader: hits checked */
};

/*
 * Before each key the askers meet at a spinning barrier, so that every
 * key is a first request by all of them at once.
 */
static void *
race_asker(void *arg)
{
	struct race *r = arg;
	uint8_t b[4] = { 10, 1, 0, 0 };
	unsigned int i;

	for (i = 0; i < RACE_KEYS; i++) {
		struct mg_addr a;

		__atomic_fetch_add(&r->arrived, 1, __ATOMIC_ACQ_REL);
		while (__atomic_load_n(&r->arrived, __ATOMIC_ACQUIRE) <
		       (i + 1) * RACE_THREADS)
			rte_pause();
		b[3] = i;
		a = addr4(b);
		if (mg_neigh_solicit(r->t, &a, T0, T0 + TSC_HZ) != 0)
			__atomic_fetch_add(&r->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void
race_start(pthread_t *th, unsigned int n, void *(*fn)(void *), struct race *r)
{
	pthread_attr_t attr;
	unsigned int i;

	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setaffinity_np(
				 &attr, sizeof(startup_cpus), &startup_cpus),
			 0);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&th[i], &attr, fn, r), 0);
	pthread_attr_destroy(&attr);
}

static void
test_cache_concurrent_first_request(void **state)
{
	/*
	 * Requests racing on the same new neighbours must share one entry
	 * each: in a table sized exactly for them, a second entry for one
	 * key evicts another key, whose answer then finds no request.
	 * Timing-dependent, so it can only ever pass a leaking table by
	 * luck: with the lookup moved out of the writer lock, it failed 6
	 * runs out of 6 on two busy cores. Needs two CPUs.
	 */
	struct rte_ether_addr pm = mac_of(peer_mac);
	pthread_t th[RACE_THREADS];
	uint8_t b[4] = { 10, 1, 0, 0 };
	unsigned int round, i;
	struct race r;

	(void)state;
	if (CPU_COUNT(&startup_cpus) < RACE_THREADS)
		skip();
	for (round = 0; round < RACE_ROUNDS; round++) {
		memset(&r, 0, sizeof(r));
		r.t = mg_neigh_create("test_neigh_race", RACE_KEYS,
				      SOCKET_ID_ANY, TSC_HZ, REACHABLE_S);
		assert_non_null(r.t);
		race_start(th, RACE_THREADS, race_asker, &r);
		for (i = 0; i < RACE_THREADS; i++)
			pthread_join(th[i], NULL);
		for (i = 0; i < RACE_KEYS; i++) {
			struct mg_addr a;

			b[3] = i;
			a = addr4(b);
			if (mg_neigh_learn(r.t, &a, &pm, T0) !=
			    MG_NEIGH_CLAIM_APPLIED)
				r.failures++;
		}
		mg_neigh_free(r.t);
		assert_int_equal(r.failures, 0);
	}
}

/* Neighbour i of the reuse race is 10.2.0.i at 02:00:00:00:01:i. */
static struct mg_addr
reuse_addr(unsigned int i)
{
	uint8_t b[4] = { 10, 2, 0, (uint8_t)i };

	return addr4(b);
}

/*
 * Looks up the neighbour the writer resolves now, the one before (being
 * evicted) and the one after (about to take an entry), and checks every
 * MAC it gets.
 */
static void *
race_reader(void *arg)
{
	struct race *r = arg;
	struct rte_ether_addr mac;
	unsigned int cur, k, i;
	struct mg_addr a;

	__atomic_store_n(&r->arrived, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		cur = __atomic_load_n(&r->cur, __ATOMIC_RELAXED);
		for (k = 0; k < 3; k++) {
			i = (cur + RACE_KEYS - 1 + k) % RACE_KEYS;
			a = reuse_addr(i);
			if (!mg_neigh_lookup(r->t, &a, T0, &mac))
				continue;
			r->lookups++;
			if (mac.addr_bytes[4] != 1 || mac.addr_bytes[5] != i)
				__atomic_fetch_add(&r->failures, 1,
						   __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void
test_cache_reuse_race(void **state)
{
	/*
	 * A reader racing the eviction that reuses an entry for another
	 * neighbour gets a miss or the right MAC, never the newcomer's:
	 * two entries, RACE_KEYS neighbours resolved in turn by one
	 * writer, every lookup checked. Bounded: 200,000 resolutions.
	 * With the entry's own key check removed from lookups, this
	 * failed 5 runs of 5.
	 */
	struct mg_neigh_table *t;
	pthread_t th;
	unsigned int i;
	struct race r;

	(void)state;
	if (CPU_COUNT(&startup_cpus) < 2)
		skip();
	t = mg_neigh_create("test_neigh_reuse", 2, SOCKET_ID_ANY, TSC_HZ,
			    REACHABLE_S);
	assert_non_null(t);
	memset(&r, 0, sizeof(r));
	r.t = t;
	race_start(&th, 1, race_reader, &r);
	while (!__atomic_load_n(&r.arrived, __ATOMIC_ACQUIRE))
		rte_pause();
	for (i = 0; i < 200000; i++) {
		struct rte_ether_addr mac = { { 0x02, 0, 0, 0, 1,
						(uint8_t)(i % RACE_KEYS) } };
		struct mg_addr a = reuse_addr(i % RACE_KEYS);

		/* later each time: the older entry is the one reused */
		resolve_in(t, &a, &mac, T0 + i);
		__atomic_store_n(&r.cur, i % RACE_KEYS, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	mg_neigh_free(t);
	print_message("# reuse race: %llu hits checked\n",
		      (unsigned long long)r.lookups);
	assert_true(r.lookups > 0);
	assert_int_equal(r.failures, 0);
}

/* ---- pending queue ---- */

#define SENT_MAX (MG_NEIGH_PENDING_MAX + 1)

struct sent {
	unsigned int n;
	struct rte_mbuf *m[SENT_MAX];
	uint8_t port[SENT_MAX];
	bool resolved[SENT_MAX];
	struct rte_ether_addr mac[SENT_MAX];
	uint64_t tag[SENT_MAX];
};

/* What park_new() tags a packet for port @p port with. */
#define TAG(port) (UINT64_C(0x7a6) << 32 | (port))

/* Records and frees, as the worker's TX or drop path would. */
static void
record_send(void *ctx, struct rte_mbuf *m, uint8_t port_id,
	    const struct rte_ether_addr *mac, uint64_t tag)
{
	struct sent *s = ctx;

	assert_true(s->n < SENT_MAX);
	s->m[s->n] = m;
	s->port[s->n] = port_id;
	s->tag[s->n] = tag;
	s->resolved[s->n] = mac != NULL;
	if (mac != NULL)
		s->mac[s->n] = *mac;
	s->n++;
	rte_pktmbuf_free(m);
}

static struct rte_mbuf *
park_new(const struct mg_addr *hop, uint8_t port_id, uint64_t deadline)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	assert_non_null(m);
	if (mg_neigh_park(&pending, m, hop, port_id, deadline, TAG(port_id)) !=
	    0) {
		rte_pktmbuf_free(m);
		fail_msg("queue full at %u", pending.count);
	}
	return m;
}

static void
test_pending_order(void **state)
{
	static const uint8_t hops[5][4] = {
		{ 192, 0, 2, 10 }, { 192, 0, 2, 11 }, { 192, 0, 2, 10 },
		{ 192, 0, 2, 12 }, { 192, 0, 2, 11 },
	};
	struct rte_ether_addr pm = mac_of(peer_mac), om = mac_of(other_mac);
	struct mg_neigh_pending *q = &pending;
	struct rte_mbuf *m[5];
	struct sent s = { 0 };
	struct mg_addr a;
	unsigned int i;

	(void)state;
	for (i = 0; i < 5; i++) {
		a = addr4(hops[i]);
		m[i] = park_new(&a, i, T0 + 100);
	}
	assert_int_equal(q->count, 5);
	assert_int_equal(mg_neigh_pending_run(q, table, T0, record_send, &s),
			 0);

	a = addr4(hops[0]);
	resolve(&a, &pm, T0);
	assert_int_equal(mg_neigh_pending_run(q, table, T0, record_send, &s),
			 2);
	assert_int_equal(s.n, 2);
	assert_ptr_equal(s.m[0], m[0]);
	assert_ptr_equal(s.m[1], m[2]);
	assert_int_equal(s.port[1], 2);
	/* each packet comes back with its own tag */
	assert_int_equal(s.tag[0], TAG(0));
	assert_int_equal(s.tag[1], TAG(2));
	assert_true(s.resolved[0] && s.resolved[1]);
	assert_memory_equal(s.mac[1].addr_bytes, peer_mac, 6);
	assert_int_equal(q->count, 3);

	/* The survivors keep their order. */
	a = addr4(hops[3]);
	resolve(&a, &om, T0);
	a = addr4(hops[1]);
	resolve(&a, &pm, T0);
	assert_int_equal(mg_neigh_pending_run(q, table, T0, record_send, &s),
			 3);
	assert_ptr_equal(s.m[2], m[1]);
	assert_ptr_equal(s.m[3], m[3]);
	assert_ptr_equal(s.m[4], m[4]);
	assert_memory_equal(s.mac[3].addr_bytes, other_mac, 6);
	assert_int_equal(s.port[4], 4);
	assert_int_equal(q->count, 0);
}

static void
test_pending_deadline(void **state)
{
	static const uint8_t slow[4] = { 192, 0, 2, 20 };
	static const uint8_t fast[4] = { 192, 0, 2, 21 };
	struct rte_ether_addr pm = mac_of(peer_mac);
	struct mg_neigh_pending *q = &pending;
	struct mg_addr a = addr4(slow), b = addr4(fast);
	struct rte_mbuf *m[3];
	struct sent s = { 0 };

	(void)state;
	assert_false(mg_neigh_pending_has(q, &a));
	m[0] = park_new(&a, 0, T0 + 10);
	/* a's request is out; b has none yet */
	assert_true(mg_neigh_pending_has(q, &a));
	assert_false(mg_neigh_pending_has(q, &b));
	m[1] = park_new(&b, 1, T0 + 10);
	m[2] = park_new(&a, 2, T0 + 50);
	assert_true(mg_neigh_pending_has(q, &b));

	/* At the deadline a packet still waits; past it, it leaves. */
	assert_int_equal(
		mg_neigh_pending_run(q, table, T0 + 10, record_send, &s), 0);
	resolve(&b, &pm, T0 + 11);
	assert_int_equal(
		mg_neigh_pending_run(q, table, T0 + 11, record_send, &s), 2);
	assert_ptr_equal(s.m[0], m[0]);
	assert_false(s.resolved[0]);
	assert_int_equal(s.tag[0], TAG(0)); /* timed out: tagged too */
	assert_ptr_equal(s.m[1], m[1]);
	assert_true(s.resolved[1]);
	assert_int_equal(q->count, 1);

	assert_int_equal(
		mg_neigh_pending_run(q, table, T0 + 51, record_send, &s), 1);
	assert_ptr_equal(s.m[2], m[2]);
	assert_false(s.resolved[2]);
	assert_int_equal(q->count, 0);
	/* gone from the queue: the next packet for a asks again */
	assert_false(mg_neigh_pending_has(q, &a));
}

static void
test_pending_full(void **state)
{
	static const uint8_t hop[4] = { 192, 0, 2, 30 };
	struct rte_ether_addr pm = mac_of(peer_mac);
	struct mg_neigh_pending *q = &pending;
	struct mg_addr a = addr4(hop);
	struct rte_mbuf *m, *first[2];
	struct sent s = { 0 };
	unsigned int i;

	(void)state;
	/* Fill, time out the front two, refill: the ring wraps around. */
	for (i = 0; i < MG_NEIGH_PENDING_MAX; i++) {
		m = park_new(&a, 0, i < 2 ? T0 : T0 + 100);
		if (i < 2)
			first[i] = m;
	}
	m = mbuf_new();
	assert_int_equal(mg_neigh_park(q, m, &a, 0, T0 + 100, 0), -ENOSPC);
	assert_int_equal(q->count, MG_NEIGH_PENDING_MAX);

	assert_int_equal(
		mg_neigh_pending_run(q, table, T0 + 1, record_send, &s), 2);
	assert_ptr_equal(s.m[0], first[0]);
	assert_ptr_equal(s.m[1], first[1]);
	assert_false(s.resolved[0] || s.resolved[1]);
	mbuf_forget(m);
	assert_int_equal(mg_neigh_park(q, m, &a, 0, T0 + 100, 0), 0);
	assert_int_equal(q->count, MG_NEIGH_PENDING_MAX - 1);

	/* All resolve at once; the late one leaves last. */
	resolve(&a, &pm, T0 + 1);
	assert_int_equal(
		mg_neigh_pending_run(q, table, T0 + 1, record_send, &s),
		MG_NEIGH_PENDING_MAX - 1);
	assert_int_equal(s.n, MG_NEIGH_PENDING_MAX + 1);
	assert_ptr_equal(s.m[s.n - 1], m);
	assert_int_equal(q->count, 0);
}

/* Like the worker: a released packet may be routed anew and parked
 * again, into the queue being run, behind an unknown next hop. */
struct repark {
	struct sent sent;
	struct mg_addr next_hop;
	unsigned int reparked;
};

static void
repark_send(void *ctx, struct rte_mbuf *m, uint8_t port_id,
	    const struct rte_ether_addr *mac, uint64_t tag)
{
	struct repark *r = ctx;

	if (mac != NULL && r->reparked < 2) {
		r->reparked++;
		assert_int_equal(mg_neigh_park(&pending, m, &r->next_hop,
					       port_id, T0 + 50, tag),
				 0);
		return;
	}
	record_send(&r->sent, m, port_id, mac, tag);
}

static void
test_pending_repark(void **state)
{
	static const uint8_t known[4] = { 192, 0, 2, 50 };
	static const uint8_t unknown[4] = { 192, 0, 2, 51 };
	static const uint8_t waiting[4] = { 192, 0, 2, 52 };
	struct rte_ether_addr pm = mac_of(peer_mac);
	struct mg_addr k = addr4(known), w = addr4(waiting);
	struct repark r = { .next_hop = addr4(unknown) };
	struct rte_mbuf *m[4];

	(void)state;
	m[0] = park_new(&k, 0, T0 + 100);
	m[1] = park_new(&w, 1, T0 + 100);
	m[2] = park_new(&k, 2, T0 + 100);
	m[3] = park_new(&w, 3, T0 + 100);
	resolve(&k, &pm, T0);

	/* Both resolved packets come back in; nothing is lost. */
	assert_int_equal(
		mg_neigh_pending_run(&pending, table, T0, repark_send, &r), 2);
	assert_int_equal(r.reparked, 2);
	assert_int_equal(r.sent.n, 0);
	assert_int_equal(pending.count, 4);
	assert_int_equal(rte_mempool_in_use_count(pool), 4);

	/* The order is the survivors', then the re-parked. */
	assert_int_equal(
		mg_neigh_pending_run(&pending, table, T0 + 60, repark_send, &r),
		2);
	assert_ptr_equal(r.sent.m[0], m[0]);
	assert_ptr_equal(r.sent.m[1], m[2]);
	assert_false(r.sent.resolved[0] || r.sent.resolved[1]);
	assert_int_equal(pending.count, 2);
	assert_int_equal(mg_neigh_pending_run(&pending, table, T0 + 101,
					      repark_send, &r),
			 2);
	assert_ptr_equal(r.sent.m[2], m[1]);
	assert_ptr_equal(r.sent.m[3], m[3]);
	assert_int_equal(pending.count, 0);
}

static void
test_pending_flush(void **state)
{
	static const uint8_t hop[4] = { 192, 0, 2, 40 };
	struct mg_addr a = addr4(hop);
	unsigned int i;

	(void)state;
	for (i = 0; i < 3; i++)
		park_new(&a, 0, T0);
	assert_int_equal(rte_mempool_in_use_count(pool), 3);
	mg_neigh_pending_flush(&pending);
	assert_int_equal(pending.count, 0);
	assert_int_equal(rte_mempool_in_use_count(pool), 0);
	mg_neigh_pending_flush(&pending);
	assert_int_equal(pending.count, 0);
}

/* ---- fixtures ---- */

static int
group_setup(void **state)
{

	(void)state;
	if (sched_getaffinity(0, sizeof(startup_cpus), &startup_cpus) != 0)
		return -1;
	if (mg_test_eal_init("test_neigh", "128", "0", false) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("test_neigh", POOL_SIZE, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL) {
		rte_eal_cleanup();
		return -1;
	}
	memcpy(&port, port_mac, sizeof(port));
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	rte_mempool_free(pool);
	pool = NULL;
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

static int
test_setup(void **state)
{
	(void)state;
	conflicts = 0;
	memset(&pending, 0, sizeof(pending));
	table = mg_neigh_create(TABLE_NAME, TABLE_ENTRIES, SOCKET_ID_ANY,
				TSC_HZ, REACHABLE_S);
	return table == NULL ? -1 : 0;
}

/* Runs even when a test fails half-way, so mbufs are never carried over. */
static int
test_teardown(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < n_live; i++)
		rte_pktmbuf_free(live[i]);
	n_live = 0;
	mg_neigh_pending_flush(&pending);
	mg_neigh_free(table);
	table = NULL;
	assert_int_equal(rte_mempool_in_use_count(pool), 0);
	return 0;
}

#define NEIGH_TEST(fn)                                                         \
	cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		NEIGH_TEST(test_arp_request_local),
		NEIGH_TEST(test_arp_reply_to_sender_hw),
		NEIGH_TEST(test_arp_request_other),
		NEIGH_TEST(test_arp_reply_answers),
		NEIGH_TEST(test_arp_first_answer_wins),
		NEIGH_TEST(test_arp_gratuitous),
		NEIGH_TEST(test_arp_group_sender),
		NEIGH_TEST(test_arp_probe),
		NEIGH_TEST(test_arp_claims_local),
		NEIGH_TEST(test_arp_other_op),
		NEIGH_TEST(test_ns_local),
		NEIGH_TEST(test_ns_local_vlan_grows),
		NEIGH_TEST(test_ns_reply_to_option),
		NEIGH_TEST(test_ns_ext_header),
		NEIGH_TEST(test_ns_no_tailroom),
		NEIGH_TEST(test_ns_dad),
		NEIGH_TEST(test_ns_other),
		NEIGH_TEST(test_ns_hop_limit),
		NEIGH_TEST(test_ns_invalid),
		NEIGH_TEST(test_nd_nic_cksum_good),
		NEIGH_TEST(test_na_answers),
		NEIGH_TEST(test_na_override_flag),
		NEIGH_TEST(test_not_neigh),
		NEIGH_TEST(test_echo4),
		NEIGH_TEST(test_echo6),
		NEIGH_TEST(test_echo_untagged),
		NEIGH_TEST(test_echo4_zero_message),
		NEIGH_TEST(test_echo_refused),
		NEIGH_TEST(test_echo_fragment),
		NEIGH_TEST(test_ns_fragment),
		NEIGH_TEST(test_odd_alignment),
		NEIGH_TEST(test_request_arp),
		NEIGH_TEST(test_request_ns),
		NEIGH_TEST(test_request_refused),
		NEIGH_TEST(test_cache_learn_lookup),
		NEIGH_TEST(test_cache_stale),
		NEIGH_TEST(test_cache_stale_grace),
		NEIGH_TEST(test_cache_overwrite),
		NEIGH_TEST(test_cache_lru),
		NEIGH_TEST(test_cache_conflict_log),
		NEIGH_TEST(test_cache_create_refused),
		NEIGH_TEST(test_cache_concurrent_first_request),
		NEIGH_TEST(test_cache_reuse_race),
		NEIGH_TEST(test_pending_order),
		NEIGH_TEST(test_pending_deadline),
		NEIGH_TEST(test_pending_full),
		NEIGH_TEST(test_pending_repark),
		NEIGH_TEST(test_pending_flush),
	};

	return cmocka_run_group_tests_name("neigh", tests, group_setup,
					   group_teardown);
}
