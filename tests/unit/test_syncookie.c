/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Unit tests of SYN cookies (lib/flow/mg_syncookie.c): SipHash-2-4
 * against the 64 reference vectors of its authors (key 00..0f, message
 * 00..(n-1) for n = 0..63), cookies made and checked (valid, stale,
 * forged, other tuples), the MSS they carry, and the segments the SYN
 * proxy builds (fields, option, checksums), and a proxied connection's
 * tracking (lib/flow): both halves in the client's sequence space.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_test.h"

#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_tcp.h>

#include "mg_flow.h"
#include "mg_syncookie.h"

static struct rte_mempool *pool;

/* SipHash-2-4, 64-bit tags (the reference's vectors_sip64, read as
 * little-endian words). */
static const uint64_t sip64[64] = {
	UINT64_C(0x726fdb47dd0e0e31), UINT64_C(0x74f839c593dc67fd),
	UINT64_C(0x0d6c8009d9a94f5a), UINT64_C(0x85676696d7fb7e2d),
	UINT64_C(0xcf2794e0277187b7), UINT64_C(0x18765564cd99a68d),
	UINT64_C(0xcbc9466e58fee3ce), UINT64_C(0xab0200f58b01d137),
	UINT64_C(0x93f5f5799a932462), UINT64_C(0x9e0082df0ba9e4b0),
	UINT64_C(0x7a5dbbc594ddb9f3), UINT64_C(0xf4b32f46226bada7),
	UINT64_C(0x751e8fbc860ee5fb), UINT64_C(0x14ea5627c0843d90),
	UINT64_C(0xf723ca908e7af2ee), UINT64_C(0xa129ca6149be45e5),
	UINT64_C(0x3f2acc7f57c29bdb), UINT64_C(0x699ae9f52cbe4794),
	UINT64_C(0x4bc1b3f0968dd39c), UINT64_C(0xbb6dc91da77961bd),
	UINT64_C(0xbed65cf21aa2ee98), UINT64_C(0xd0f2cbb02e3b67c7),
	UINT64_C(0x93536795e3a33e88), UINT64_C(0xa80c038ccd5ccec8),
	UINT64_C(0xb8ad50c6f649af94), UINT64_C(0xbce192de8a85b8ea),
	UINT64_C(0x17d835b85bbb15f3), UINT64_C(0x2f2e6163076bcfad),
	UINT64_C(0xde4daaaca71dc9a5), UINT64_C(0xa6a2506687956571),
	UINT64_C(0xad87a3535c49ef28), UINT64_C(0x32d892fad841c342),
	UINT64_C(0x7127512f72f27cce), UINT64_C(0xa7f32346f95978e3),
	UINT64_C(0x12e0b01abb051238), UINT64_C(0x15e034d40fa197ae),
	UINT64_C(0x314dffbe0815a3b4), UINT64_C(0x027990f029623981),
	UINT64_C(0xcadcd4e59ef40c4d), UINT64_C(0x9abfd8766a33735c),
	UINT64_C(0x0e3ea96b5304a7d0), UINT64_C(0xad0c42d6fc585992),
	UINT64_C(0x187306c89bc215a9), UINT64_C(0xd4a60abcf3792b95),
	UINT64_C(0xf935451de4f21df2), UINT64_C(0xa9538f0419755787),
	UINT64_C(0xdb9acddff56ca510), UINT64_C(0xd06c98cd5c0975eb),
	UINT64_C(0xe612a3cb9ecba951), UINT64_C(0xc766e62cfcadaf96),
	UINT64_C(0xee64435a9752fe72), UINT64_C(0xa192d576b245165a),
	UINT64_C(0x0a8787bf8ecb74b2), UINT64_C(0x81b3e73d20b49b6f),
	UINT64_C(0x7fa8220ba3b2ecea), UINT64_C(0x245731c13ca42499),
	UINT64_C(0xb78dbfaf3a8d83bd), UINT64_C(0xea1ad565322a1a0b),
	UINT64_C(0x60e61c23a3795013), UINT64_C(0x6606d7e446282b93),
	UINT64_C(0x6ca4ecb15c5f91e1), UINT64_C(0x9f626da15c9625f3),
	UINT64_C(0xe51b38608ef25f57), UINT64_C(0x958a324ceb064572),
};

static void
test_siphash_vectors(void **state)
{
	uint8_t msg[64];
	uint64_t k0 = 0, k1 = 0;
	unsigned int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		k0 |= (uint64_t)i << (8 * i);
		k1 |= (uint64_t)(i + 8) << (8 * i);
	}
	for (i = 0; i < RTE_DIM(msg); i++)
		msg[i] = (uint8_t)i;
	for (i = 0; i < RTE_DIM(sip64); i++)
		assert_true(mg_siphash24(k0, k1, msg, i) == sip64[i]);
	/* the key matters */
	assert_true(mg_siphash24(k0 ^ 1, k1, msg, 15) != sip64[15]);
	assert_true(mg_siphash24(k0, k1 ^ 1, msg, 15) != sip64[15]);
}

static struct mg_5tuple
tuple(uint8_t last)
{
	struct mg_5tuple t = { 0 };

	t.src[0] = 198, t.src[1] = 18, t.src[2] = 1, t.src[3] = last;
	t.dst[0] = 198, t.dst[1] = 19, t.dst[2] = 0, t.dst[3] = 10;
	t.sport = rte_cpu_to_be_16(40000);
	t.dport = rte_cpu_to_be_16(80);
	t.proto = IPPROTO_TCP;
	t.family = 4;
	return t;
}

static void
test_cookie_valid_and_slots(void **state)
{
	struct mg_syncookie c, old;
	struct mg_5tuple t = tuple(10);
	uint64_t hz = 2000000000ull, now = 1000 * hz;
	uint64_t slot_len;
	uint32_t cookie;
	uint16_t mss = 0;

	(void)state;
	mg_syncookie_init(&c, hz, 0);
	slot_len = 1ull << c.slot_shift;
	/* between 32 and 64 seconds */
	assert_true(slot_len > 32 * hz && slot_len <= 64 * hz);
	cookie = mg_syncookie_make(&c, &t, 12345, 1460, now);
	assert_true(mg_syncookie_check(&c, &t, 12345, cookie, now, &mss));
	assert_int_equal(mss, 1460);
	/* the next slot still takes it, the one after no longer */
	assert_true(mg_syncookie_check(&c, &t, 12345, cookie, now + slot_len,
				       &mss));
	assert_false(mg_syncookie_check(&c, &t, 12345, cookie,
					now + 2 * slot_len, &mss));
	/* nor a slot before it was made */
	assert_false(mg_syncookie_check(&c, &t, 12345, cookie, now - slot_len,
					&mss));
	/* the test hook: made one or two slots in the past */
	old = c;
	old.age = 1;
	cookie = mg_syncookie_make(&old, &t, 12345, 1460, now);
	assert_true(mg_syncookie_check(&c, &t, 12345, cookie, now, &mss));
	old.age = 2;
	cookie = mg_syncookie_make(&old, &t, 12345, 1460, now);
	assert_false(mg_syncookie_check(&c, &t, 12345, cookie, now, &mss));
}

static void
test_cookie_bound_to_tuple_isn_key(void **state)
{
	struct mg_syncookie c, other;
	struct mg_5tuple t = tuple(10), u;
	uint64_t now = 123456789ull << 20;
	uint32_t cookie, bit;
	uint16_t mss;

	(void)state;
	mg_syncookie_init(&c, 2000000000ull, 0);
	mg_syncookie_init(&other, 2000000000ull, 0);
	assert_true(c.k0 != other.k0 || c.k1 != other.k1);
	cookie = mg_syncookie_make(&c, &t, 777, 1460, now);
	assert_false(mg_syncookie_check(&other, &t, 777, cookie, now, &mss));
	assert_false(mg_syncookie_check(&c, &t, 778, cookie, now, &mss));
	u = tuple(11);
	assert_false(mg_syncookie_check(&c, &u, 777, cookie, now, &mss));
	u = t;
	u.sport = rte_cpu_to_be_16(40001);
	assert_false(mg_syncookie_check(&c, &u, 777, cookie, now, &mss));
	u = t;
	u.dport = rte_cpu_to_be_16(81);
	assert_false(mg_syncookie_check(&c, &u, 777, cookie, now, &mss));
	/* every single bit flipped is refused: the MSS index and the
	 * slot's parity are covered by the MAC too */
	for (bit = 0; bit < 32; bit++)
		assert_false(mg_syncookie_check(
			&c, &t, 777, cookie ^ (1u << bit), now, &mss));
}

static void
test_cookie_forged(void **state)
{
	struct mg_syncookie c;
	struct mg_5tuple t = tuple(10);
	uint64_t now = 987654321ull << 16;
	unsigned int i, valid = 0;
	uint16_t mss;

	(void)state;
	mg_syncookie_init(&c, 2000000000ull, 0);
	/* 2^16 random guesses, each right with probability 2^-28: the
	 * chance that any is accepted is below 2^-12 */
	for (i = 0; i < 65536; i++)
		valid += mg_syncookie_check(&c, &t, 777, (uint32_t)rte_rand(),
					    now, &mss);
	assert_int_equal(valid, 0);
}

static void
test_cookie_mss(void **state)
{
	static const struct {
		uint16_t in, out;
	} cases[] = {
		{ 0, 536 },	{ 100, 536 },	{ 536, 536 },	{ 1219, 536 },
		{ 1220, 1220 }, { 1300, 1280 }, { 1400, 1400 }, { 1452, 1440 },
		{ 1460, 1460 }, { 1500, 1460 }, { 8960, 8940 }, { 65535, 8940 },
	};
	struct mg_syncookie c;
	struct mg_5tuple t = tuple(9);
	uint64_t now = 5ull << 40;
	unsigned int i;
	uint16_t mss;

	(void)state;
	mg_syncookie_init(&c, 3000000000ull, 0);
	for (i = 0; i < RTE_DIM(cases); i++) {
		uint32_t cookie =
			mg_syncookie_make(&c, &t, i, cases[i].in, now);

		assert_true(mg_syncookie_check(&c, &t, i, cookie, now, &mss));
		assert_int_equal(mss, cases[i].out);
	}
}

/* A TCP/IPv4 SYN with a 16-byte payload and a window scale option. */
static struct rte_mbuf *
syn4(struct mg_pkt_info *info)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *tcp;
	uint8_t *o;

	assert_non_null(m);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(
		m, sizeof(*eth) + sizeof(*ip) + sizeof(*tcp) + 4 + 16);
	memset(eth, 0, m->data_len);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + sizeof(*tcp) + 20);
	ip->time_to_live = 9;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(0xc6120110);
	ip->dst_addr = rte_cpu_to_be_32(0xc613000a);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	tcp = (struct rte_tcp_hdr *)(ip + 1);
	tcp->src_port = rte_cpu_to_be_16(40000);
	tcp->dst_port = rte_cpu_to_be_16(80);
	tcp->sent_seq = rte_cpu_to_be_32(1000);
	tcp->data_off = 6 << 4;
	tcp->tcp_flags = RTE_TCP_SYN_FLAG;
	tcp->rx_win = rte_cpu_to_be_16(64240);
	o = (uint8_t *)(tcp + 1);
	o[0] = 3, o[1] = 3, o[2] = 7, o[3] = 1;
	tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
	assert_int_equal(mg_pkt_parse(m, info), MG_DROP_NONE);
	return m;
}

static void
test_segment_syn_ack(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m = syn4(&info);
	struct mg_pkt_tcp_seg seg;
	const struct rte_ipv4_hdr *ip;
	const uint8_t *o;

	(void)state;
	assert_int_equal(mg_pkt_tcp_segment(m, &info, true, 0xdeadbeef, 1001,
					    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
					    65535, 1460),
			 0);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	assert_int_equal(info.payload_len, 0);
	assert_int_equal(info.tcp_flags, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
	/* addresses and ports swapped, a fresh TTL */
	ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *,
				     info.l3_off);
	assert_int_equal(rte_be_to_cpu_32(ip->src_addr), 0xc613000a);
	assert_int_equal(rte_be_to_cpu_32(ip->dst_addr), 0xc6120110);
	assert_int_equal(ip->time_to_live, 64);
	assert_int_equal(rte_be_to_cpu_16(mg_pkt_tcp_hdr(m, &info)->src_port),
			 80);
	mg_pkt_tcp_seg(m, &info, &seg);
	assert_true(seg.seq == 0xdeadbeef);
	assert_int_equal(seg.ack, 1001);
	assert_int_equal(seg.win, 65535);
	assert_int_equal(seg.mss, 1460);
	/* the MSS alone: no window scale, no SACK, no timestamps */
	assert_int_equal(seg.wscale, MG_PKT_NO_WSCALE);
	assert_int_equal(info.payload_off - info.l4_off, 24);
	o = rte_pktmbuf_mtod_offset(m, const uint8_t *, info.l4_off + 20);
	assert_int_equal(o[0], 2);
	assert_int_equal(o[1], 4);
	assert_int_equal(m->pkt_len, info.payload_off);
	assert_int_equal(mg_pkt_tcp_cksum(m, &info), MG_DROP_NONE);
	rte_pktmbuf_free(m);
}

static void
test_segment_forward_no_option(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m = syn4(&info);
	const struct rte_ipv4_hdr *ip;
	struct mg_pkt_tcp_seg seg;

	(void)state;
	assert_int_equal(mg_pkt_tcp_segment(m, &info, false, 5, 6,
					    RTE_TCP_ACK_FLAG, 1000, 0),
			 0);
	assert_int_equal(mg_pkt_parse(m, &info), MG_DROP_NONE);
	ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *,
				     info.l3_off);
	/* on its way: addresses and TTL as they came */
	assert_int_equal(rte_be_to_cpu_32(ip->src_addr), 0xc6120110);
	assert_int_equal(ip->time_to_live, 9);
	assert_int_equal(info.payload_off - info.l4_off, 20);
	mg_pkt_tcp_seg(m, &info, &seg);
	assert_int_equal(seg.seq, 5);
	assert_int_equal(seg.ack, 6);
	assert_int_equal(seg.flags, RTE_TCP_ACK_FLAG);
	assert_int_equal(mg_pkt_tcp_cksum(m, &info), MG_DROP_NONE);
	/* and the shift keeps the checksum right */
	mg_syncookie_shift(m, &info, true, 0xfffffff0u);
	mg_syncookie_shift(m, &info, false, 100);
	mg_pkt_tcp_seg(m, &info, &seg);
	assert_true(seg.seq == 0xfffffff5u);
	assert_int_equal(seg.ack, 106);
	assert_int_equal(mg_pkt_tcp_cksum(m, &info), MG_DROP_NONE);
	rte_pktmbuf_free(m);
}

static void
test_segment_refuses_non_tcp(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *m = syn4(&info);

	(void)state;
	info.tuple.proto = IPPROTO_UDP;
	assert_int_equal(mg_pkt_tcp_segment(m, &info, true, 1, 2,
					    RTE_TCP_ACK_FLAG, 0, 0),
			 -EINVAL);
	rte_pktmbuf_free(m);
}

static struct mg_pkt_tcp_seg
seg_of(uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, uint16_t len)
{
	return (struct mg_pkt_tcp_seg){ .seq = seq,
					.ack = ack,
					.win = win,
					.len = len,
					.flags = flags,
					.wscale = MG_PKT_NO_WSCALE };
}

static void
test_flow_proxied_tracking(void **state)
{
	const struct mg_flow_params p = {
		.name = "test_syncookie",
		.max_flows = 1024,
		.socket = SOCKET_ID_ANY,
		.tsc_hz = 1000000000ull,
	};
	struct mg_flow_table *t = mg_flow_table_create(&p);
	const uint32_t isn = 1000, cookie = 0xfffffff0u, bisn = 5000000;
	const uint32_t delta = bisn - cookie;
	struct mg_pkt_tcp_seg s;
	struct mg_flow *f;
	uint32_t seq, ack;

	(void)state;
	assert_non_null(t);
	f = mg_flow_alloc(t, 0);
	assert_non_null(f);
	f->key[MG_FLOW_DIR_FWD] = tuple(20);
	f->key[MG_FLOW_DIR_REV] = tuple(21);
	f->key[MG_FLOW_DIR_REV].proto = IPPROTO_TCP;
	/* the client's ACK of the cookie */
	s = seg_of(RTE_TCP_ACK_FLAG, isn + 1, cookie + 1, 29200, 0);
	mg_flow_tcp_proxy(t, f, &s, cookie, 1460);
	assert_int_equal(f->syn_proxy, 1);
	assert_int_equal(mg_flow_proxy(t, f)->mss, 1460);
	assert_int_equal(mg_flow_proxy(t, f)->win, 29200);
	assert_int_equal(mg_flow_publish(t, f, 0), 0);
	/* the client is connected, the backend not yet: not established */
	assert_int_equal(mg_flow_state(t, f), MG_FLOW_SYN_SENT);
	/* a challenge to the client before the backend answered is in its
	 * own space: the cookie's next byte, its ISN + 1 */
	mg_flow_challenge(t, f, MG_FLOW_DIR_FWD, &seq, &ack);
	assert_true(seq == cookie + 1);
	assert_int_equal(ack, isn + 1);
	/* a SYN-ACK that does not acknowledge the client's SYN is refused */
	s = seg_of(RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, cookie, isn + 2, 64000,
		   0);
	assert_int_equal(mg_flow_tcp_track(t, f, MG_FLOW_DIR_REV, &s, false),
			 MG_FLOW_OUT_OF_WINDOW);
	/* the backend's SYN-ACK, translated to the cookie */
	s = seg_of(RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, bisn - delta, isn + 1,
		   64000, 0);
	assert_int_equal(mg_flow_tcp_track(t, f, MG_FLOW_DIR_REV, &s, false),
			 MG_FLOW_ACCEPT);
	assert_int_equal(mg_flow_state(t, f), MG_FLOW_ESTABLISHED);
	/* the client's data, acknowledging in the cookie's space (wraps) */
	s = seg_of(RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, isn + 1, cookie + 1,
		   29200, 100);
	assert_int_equal(mg_flow_tcp_track(t, f, MG_FLOW_DIR_FWD, &s, false),
			 MG_FLOW_ACCEPT);
	/* the backend's answer, translated */
	s = seg_of(RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, cookie + 1, isn + 101,
		   64000, 50);
	assert_int_equal(mg_flow_tcp_track(t, f, MG_FLOW_DIR_REV, &s, false),
			 MG_FLOW_ACCEPT);
	/* an acknowledgement of bytes the backend never sent is refused */
	s = seg_of(RTE_TCP_ACK_FLAG, isn + 101, cookie + 1 + 51, 29200, 0);
	assert_int_equal(mg_flow_tcp_track(t, f, MG_FLOW_DIR_FWD, &s, false),
			 MG_FLOW_OUT_OF_WINDOW);
	s = seg_of(RTE_TCP_ACK_FLAG, isn + 101, cookie + 1 + 50, 29200, 0);
	assert_int_equal(mg_flow_tcp_track(t, f, MG_FLOW_DIR_FWD, &s, false),
			 MG_FLOW_ACCEPT);
	/* a challenge to the backend carries the client's acknowledgement
	 * in the cookie's space: the worker adds delta */
	mg_flow_challenge(t, f, MG_FLOW_DIR_REV, &seq, &ack);
	assert_int_equal(seq, isn + 101);
	assert_true(ack == cookie + 51);
	mg_flow_table_free(t);
}

static int
group_setup(void **state)
{
	(void)state;
	if (mg_test_eal_init("test_syncookie", "64", "0", false) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("test_syncookie", 63, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL) {
		rte_eal_cleanup();
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	/* every test frees what it allocated */
	if (rte_mempool_in_use_count(pool) != 0)
		return -1;
	rte_mempool_free(pool);
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_cookie_valid_and_slots),
		cmocka_unit_test(test_cookie_bound_to_tuple_isn_key),
		cmocka_unit_test(test_cookie_forged),
		cmocka_unit_test(test_cookie_mss),
		cmocka_unit_test(test_segment_syn_ack),
		cmocka_unit_test(test_segment_forward_no_option),
		cmocka_unit_test(test_segment_refuses_non_tcp),
		cmocka_unit_test(test_flow_proxied_tracking),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
