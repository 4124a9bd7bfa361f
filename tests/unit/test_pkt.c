/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Unit tests for lib/pkt: frames are built byte by byte in real mbufs; one
 * test per drop reason, then the shapes the parser must accept.
 */

#include <errno.h>
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

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "mg_pkt.h"

#define POOL_SIZE 127
/* More than any single test allocates; teardown frees them all. */
#define MAX_LIVE 32

#define SPORT	  40000
#define DPORT	  443
#define ICMP_ID	  0x1234
#define TCP_FLAGS (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)

static const uint8_t src4[4] = { 192, 0, 2, 1 };
static const uint8_t dst4[4] = { 198, 51, 100, 2 };
static const uint8_t src6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t dst6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static struct rte_mempool *pool;
static struct rte_mbuf *live[MAX_LIVE];
static unsigned int n_live;

/*
 * A frame under construction. The header pointers let frame_seal() fill
 * the lengths once everything is appended, and let a test break one field
 * afterwards.
 */
struct frame {
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip4;
	struct rte_ipv6_hdr *ip6;
	struct rte_udp_hdr *udp;
	uint16_t l3_off;
	uint16_t l4_off;
};

/* One IPv6 extension header: its type and its raw length byte. */
struct ext6 {
	uint8_t type;
	uint8_t len;
};

static void
frame_init(struct frame *f)
{
	memset(f, 0, sizeof(*f));
	assert_true(n_live < MAX_LIVE);
	f->m = rte_pktmbuf_alloc(pool);
	assert_non_null(f->m);
	live[n_live++] = f->m;
}

static void *
frame_put(struct frame *f, uint16_t n)
{
	void *p = rte_pktmbuf_append(f->m, n);

	/* cmocka's fail() is not noreturn; abort() keeps GCC from a NULL. */
	if (p == NULL) {
		fail_msg("no room for %u more bytes", n);
		abort();
	}
	memset(p, 0, n);
	return p;
}

static uint8_t *
frame_at(struct frame *f, uint16_t off)
{
	return rte_pktmbuf_mtod_offset(f->m, uint8_t *, off);
}

static uint16_t
frame_len(const struct frame *f)
{
	return rte_pktmbuf_data_len(f->m);
}

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
put_eth(struct frame *f, uint16_t type)
{
	uint8_t *h = frame_put(f, RTE_ETHER_HDR_LEN);
	static const uint8_t macs[12] = { 0x02, 0, 0, 0, 0, 0x01,
					  0x02, 0, 0, 0, 0, 0x02 };

	memcpy(h, macs, sizeof(macs));
	put_be16(h + 12, type);
}

/* The tag's TPID is the type of whatever header precedes it. */
static void
put_vlan(struct frame *f, uint16_t tci, uint16_t type)
{
	uint8_t *h = frame_put(f, 4);

	put_be16(h, tci);
	put_be16(h + 2, type);
}

static void
put_ipv4(struct frame *f, uint8_t proto, const uint8_t *opts, uint8_t opt_len)
{
	assert_int_equal(opt_len % 4, 0);
	f->l3_off = frame_len(f);
	f->ip4 = frame_put(f, sizeof(*f->ip4) + opt_len);
	f->ip4->version_ihl = 0x40 | (5 + opt_len / 4);
	f->ip4->time_to_live = 64;
	f->ip4->next_proto_id = proto;
	memcpy(&f->ip4->src_addr, src4, 4);
	memcpy(&f->ip4->dst_addr, dst4, 4);
	if (opt_len)
		memcpy(f->ip4 + 1, opts, opt_len);
}

static void
put_ipv6(struct frame *f, uint8_t nh)
{
	f->l3_off = frame_len(f);
	f->ip6 = frame_put(f, sizeof(*f->ip6));
	f->ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
	f->ip6->proto = nh;
	f->ip6->hop_limits = 64;
	memcpy(f->ip6->src_addr, src6, 16);
	memcpy(f->ip6->dst_addr, dst6, 16);
}

static uint8_t *
put_ext6(struct frame *f, const struct ext6 *e, uint8_t nh)
{
	uint16_t n =
		e->type == IPPROTO_AH ? (e->len + 2) * 4 : (e->len + 1) * 8;
	uint8_t *h = frame_put(f, n);

	h[0] = nh;
	h[1] = e->len;
	return h;
}

static void
put_tcp(struct frame *f, uint8_t doff, uint8_t flags)
{
	struct rte_tcp_hdr *th;

	f->l4_off = frame_len(f);
	th = frame_put(f, doff * 4);
	th->src_port = rte_cpu_to_be_16(SPORT);
	th->dst_port = rte_cpu_to_be_16(DPORT);
	th->data_off = doff << 4;
	th->tcp_flags = flags;
}

static void
put_udp(struct frame *f)
{
	f->l4_off = frame_len(f);
	f->udp = frame_put(f, sizeof(*f->udp));
	f->udp->src_port = rte_cpu_to_be_16(SPORT);
	f->udp->dst_port = rte_cpu_to_be_16(DPORT);
}

static void
put_icmp(struct frame *f, uint8_t type, uint16_t id)
{
	struct rte_icmp_hdr *ih;

	f->l4_off = frame_len(f);
	ih = frame_put(f, sizeof(*ih));
	ih->icmp_type = type;
	ih->icmp_ident = rte_cpu_to_be_16(id);
	ih->icmp_seq_nb = rte_cpu_to_be_16(7);
}

/* Default L4 header for @proto; nothing for anything else. */
static void
put_l4(struct frame *f, uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: put_tcp(f, 5, TCP_FLAGS); break;
	case IPPROTO_UDP: put_udp(f); break;
	case IPPROTO_ICMP:
		put_icmp(f, RTE_IP_ICMP_ECHO_REQUEST, ICMP_ID);
		break;
	case IPPROTO_ICMPV6: put_icmp(f, 128, ICMP_ID); break;
	}
}

static void
put_payload(struct frame *f, uint16_t n)
{
	uint8_t *p = frame_put(f, n);
	uint16_t i;

	for (i = 0; i < n; i++)
		p[i] = 0xa0 + (i & 0xf);
}

/* Lengths cover everything appended so far; later bytes are padding. */
static void
frame_seal(struct frame *f)
{
	uint16_t len = frame_len(f);

	if (f->ip4)
		f->ip4->total_length = rte_cpu_to_be_16(len - f->l3_off);
	if (f->ip6)
		f->ip6->payload_len = rte_cpu_to_be_16(len - f->l3_off - 40);
	if (f->udp)
		f->udp->dgram_len = rte_cpu_to_be_16(len - f->l4_off);
}

static void
build_ipv4(struct frame *f, uint8_t proto, const uint8_t *opts, uint8_t opt_len,
	   uint16_t payload)
{
	frame_init(f);
	put_eth(f, RTE_ETHER_TYPE_IPV4);
	put_ipv4(f, proto, opts, opt_len);
	put_l4(f, proto);
	put_payload(f, payload);
	frame_seal(f);
}

static void
build_ipv6(struct frame *f, const struct ext6 *ext, unsigned int n_ext,
	   uint8_t proto, uint16_t payload)
{
	unsigned int i;

	frame_init(f);
	put_eth(f, RTE_ETHER_TYPE_IPV6);
	put_ipv6(f, n_ext ? ext[0].type : proto);
	for (i = 0; i < n_ext; i++)
		put_ext6(f, &ext[i], i + 1 < n_ext ? ext[i + 1].type : proto);
	put_l4(f, proto);
	put_payload(f, payload);
	frame_seal(f);
}

static void
build_arp(struct frame *f)
{
	uint8_t *a;

	frame_init(f);
	put_eth(f, RTE_ETHER_TYPE_ARP);
	f->l3_off = frame_len(f);
	a = frame_put(f, 28);
	put_be16(a, RTE_ARP_HRD_ETHER);
	put_be16(a + 2, RTE_ETHER_TYPE_IPV4);
	a[4] = RTE_ETHER_ADDR_LEN;
	a[5] = sizeof(src4);
	put_be16(a + 6, RTE_ARP_OP_REQUEST);
	a[8] = 0x02;
	a[13] = 0x01;
	memcpy(a + 14, src4, sizeof(src4));
	memcpy(a + 24, dst4, sizeof(dst4));
}

/* Names, not numbers, so that a failure says which reason came back. */
static void
assert_reason(enum mg_drop_reason got, enum mg_drop_reason want)
{
	assert_string_equal(mg_drop_reason_name(got),
			    mg_drop_reason_name(want));
}

/*
 * mg_pkt_parse() on @m, and mg_pkt_parse_burst() on it too: the burst
 * takes a shortcut for common frames (parse_fast()), which must come to
 * the same reason, the same info byte for byte and the same mbuf lengths.
 * Every frame the tests parse goes through here.
 */
static enum mg_drop_reason
parse_both(struct rte_mbuf *m, struct mg_pkt_info *info)
{
	const uint64_t garbage = 0xa5a5a5a5a5a5a5a5ull;
	struct mg_pkt_info burst_info;
	struct rte_mbuf want;
	enum mg_drop_reason r;
	uint64_t offload;
	uint8_t reason = 0xff;

	r = mg_pkt_parse(m, info);
	offload = m->tx_offload;
	/* the lengths as mg_pkt_parse() set them, the rest left alone */
	want.tx_offload = garbage;
	want.l2_len = m->l2_len;
	want.l3_len = m->l3_len;
	want.l4_len = m->l4_len;
	m->tx_offload = garbage;
	memset(&burst_info, 0x5a, sizeof(burst_info));
	assert_int_equal(mg_pkt_parse_burst(&m, 1, &burst_info, &reason),
			 r == MG_DROP_NONE);
	assert_reason(reason, r);
	if (r == MG_DROP_NONE) {
		assert_memory_equal(&burst_info, info, sizeof(burst_info));
		assert_int_equal(m->tx_offload, want.tx_offload);
	}
	m->tx_offload = offload;
	return r;
}

static void
free_exact(void *addr, void *opaque)
{
	(void)opaque;
	free(addr);
}

/*
 * Parses @len bytes from a heap buffer of exactly that size attached as
 * an external mbuf buffer, so that AddressSanitizer catches any read past
 * the frame; mbuf data rooms are far too big for that. @meta, if given,
 * lends its offload flags and stripped VLAN tags.
 */
static enum mg_drop_reason
parse_exact(const uint8_t *bytes, uint16_t len, const struct rte_mbuf *meta,
	    struct mg_pkt_info *info)
{
	struct rte_mbuf_ext_shared_info shinfo = { .free_cb = free_exact };
	enum mg_drop_reason r;
	struct rte_mbuf *m;
	uint8_t *buf;

	m = rte_pktmbuf_alloc(pool);
	buf = malloc(len ? len : 1);
	if (m == NULL || buf == NULL) {
		rte_pktmbuf_free(m);
		free(buf);
		fail_msg("out of mbufs or memory");
		abort();
	}
	memcpy(buf, bytes, len);
	rte_mbuf_ext_refcnt_set(&shinfo, 1);
	rte_pktmbuf_attach_extbuf(m, buf, RTE_BAD_IOVA, len, &shinfo);
	m->data_len = len;
	m->pkt_len = len;
	if (meta != NULL) {
		m->ol_flags |= meta->ol_flags & ~RTE_MBUF_F_EXTERNAL;
		m->vlan_tci = meta->vlan_tci;
		m->vlan_tci_outer = meta->vlan_tci_outer;
	}
	r = parse_both(m, info);
	rte_pktmbuf_free(m);
	return r;
}

/* @f's frame again, from an exact-size copy; single segment only. */
static enum mg_drop_reason
parse_copy(struct frame *f, struct mg_pkt_info *info)
{
	return parse_exact(frame_at(f, 0), frame_len(f), f->m, info);
}

static void
expect_drop(struct frame *f, enum mg_drop_reason want)
{
	struct mg_pkt_info info;

	assert_reason(parse_both(f->m, &info), want);
	if (f->m->nb_segs == 1)
		assert_reason(parse_copy(f, &info), want);
}

/* Garbage first: the parser must write every field it reports. */
static void
expect_ok(struct frame *f, struct mg_pkt_info *info)
{
	struct mg_pkt_info copy;

	memset(info, 0xa5, sizeof(*info));
	assert_reason(parse_both(f->m, info), MG_DROP_NONE);
	if (f->m->nb_segs != 1)
		return;
	memset(&copy, 0x5a, sizeof(copy));
	assert_reason(parse_copy(f, &copy), MG_DROP_NONE);
	assert_memory_equal(&copy, info, sizeof(copy));
}

static void
check_layout(const struct frame *f, const struct mg_pkt_info *info,
	     uint16_t l3_off, uint16_t l4_off, uint16_t payload_off,
	     uint16_t payload_len)
{
	assert_int_equal(info->l3_off, l3_off);
	assert_int_equal(info->l4_off, l4_off);
	assert_int_equal(info->payload_off, payload_off);
	assert_int_equal(info->payload_len, payload_len);
	assert_int_equal(f->m->l2_len, l3_off);
	assert_int_equal(f->m->l3_len, l4_off - l3_off);
	assert_int_equal(f->m->l4_len, payload_off - l4_off);
}

/* Compared as raw bytes, the way the flow table hashes it. */
static void
check_tuple(const struct mg_pkt_info *info, uint8_t family, uint8_t proto,
	    uint16_t sport, uint16_t dport)
{
	struct mg_5tuple want;

	memset(&want, 0, sizeof(want));
	if (family == 4) {
		memcpy(want.src, src4, sizeof(src4));
		memcpy(want.dst, dst4, sizeof(dst4));
	} else {
		memcpy(want.src, src6, sizeof(src6));
		memcpy(want.dst, dst6, sizeof(dst6));
	}
	want.sport = rte_cpu_to_be_16(sport);
	want.dport = rte_cpu_to_be_16(dport);
	want.proto = proto;
	want.family = family;
	assert_memory_equal(&info->tuple, &want, sizeof(want));
	assert_int_equal(info->l3, family == 4 ? MG_L3_IPV4 : MG_L3_IPV6);
}

/* ---- drop reasons, in enum order ---- */

/* A chained mbuf: headers in the first segment, the payload anywhere. */
static void
test_multi_seg(void **state)
{
	struct mg_pkt_info info;
	struct rte_mbuf *tail;
	struct frame f;

	(void)state;
	/* payload in a second segment: accepted, lengths over the chain */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	tail = rte_pktmbuf_alloc(pool);
	assert_non_null(tail);
	assert_non_null(rte_pktmbuf_append(tail, 16));
	/* From here the head owns the tail and frees it with itself. */
	assert_int_equal(rte_pktmbuf_chain(f.m, tail), 0);
	assert_int_equal(f.m->nb_segs, 2);
	f.ip4->total_length = rte_cpu_to_be_16(20 + 8 + 8 + 16);
	f.udp->dgram_len = rte_cpu_to_be_16(8 + 8 + 16);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 42, 24);

	/* headers split across segments: refused */
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_TCP, NULL, 0);
	put_tcp(&f, 5, RTE_TCP_SYN_FLAG);
	frame_seal(&f);
	tail = rte_pktmbuf_alloc(pool);
	assert_non_null(tail);
	memcpy(rte_pktmbuf_append(tail, 10),
	       rte_pktmbuf_mtod_offset(f.m, uint8_t *, 14 + 20 + 10), 10);
	assert_int_equal(rte_pktmbuf_trim(f.m, 10), 0);
	assert_int_equal(rte_pktmbuf_chain(f.m, tail), 0);
	expect_drop(&f, MG_DROP_MULTI_SEG);
}

static void
test_runt(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	expect_drop(&f, MG_DROP_RUNT);
	put_payload(&f, RTE_ETHER_HDR_LEN - 1);
	expect_drop(&f, MG_DROP_RUNT);
}

static void
test_vlan_truncated(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_VLAN);
	frame_put(&f, 3);
	expect_drop(&f, MG_DROP_VLAN_TRUNCATED);

	/* The inner tag of a QinQ pair cut short. */
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_QINQ);
	put_vlan(&f, 10, RTE_ETHER_TYPE_VLAN);
	frame_put(&f, 2);
	expect_drop(&f, MG_DROP_VLAN_TRUNCATED);
}

static void
test_vlan_too_many(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_QINQ);
	put_vlan(&f, 10, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 20, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 30, RTE_ETHER_TYPE_IPV4);
	expect_drop(&f, MG_DROP_VLAN_TOO_MANY);

	/* A tag the NIC stripped counts against the limit too. */
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 20, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 30, RTE_ETHER_TYPE_IPV4);
	f.m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
	f.m->vlan_tci = 10;
	expect_drop(&f, MG_DROP_VLAN_TOO_MANY);
}

static void
test_ethertype_unknown(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_LLDP);
	put_payload(&f, 46);
	expect_drop(&f, MG_DROP_ETHERTYPE_UNKNOWN);

	/* An 802.3 length field is not an ethertype. */
	frame_init(&f);
	put_eth(&f, 46);
	put_payload(&f, 46);
	expect_drop(&f, MG_DROP_ETHERTYPE_UNKNOWN);

	/* Behind a tag, RARP is still not ARP. */
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 1, RTE_ETHER_TYPE_RARP);
	put_payload(&f, 28);
	expect_drop(&f, MG_DROP_ETHERTYPE_UNKNOWN);
}

static void
test_arp_malformed(void **state)
{
	/* Byte offset in the ARP header and the value that breaks it. */
	static const struct {
		uint8_t off;
		uint8_t val;
	} breaks[] = {
		{ 1, 6 },    /* htype IEEE 802 */
		{ 2, 0x86 }, /* ptype 0x8600 */
		{ 4, 8 },    /* hlen */
		{ 5, 16 },   /* plen */
	};
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(breaks); i++) {
		build_arp(&f);
		frame_at(&f, f.l3_off)[breaks[i].off] = breaks[i].val;
		expect_drop(&f, MG_DROP_ARP_MALFORMED);
	}

	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_ARP);
	put_payload(&f, 27);
	expect_drop(&f, MG_DROP_ARP_MALFORMED);
}

static void
test_ipv4_truncated(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV4);
	expect_drop(&f, MG_DROP_IPV4_TRUNCATED);
	*(uint8_t *)frame_put(&f, 19) = 0x45;
	expect_drop(&f, MG_DROP_IPV4_TRUNCATED);
}

static void
test_ipv4_bad_version(void **state)
{
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.ip4->version_ihl = 0x65;
	expect_drop(&f, MG_DROP_IPV4_BAD_VERSION);
}

static void
test_ipv4_bad_ihl(void **state)
{
	static const uint8_t ihl[] = { 0, 4, 15 };
	struct frame f;
	unsigned int i;

	(void)state;
	/* 15 words is 60 bytes, more than the 32 in the frame. */
	for (i = 0; i < RTE_DIM(ihl); i++) {
		build_ipv4(&f, IPPROTO_UDP, NULL, 0, 4);
		f.ip4->version_ihl = 0x40 | ihl[i];
		expect_drop(&f, MG_DROP_IPV4_BAD_IHL);
	}
}

static void
test_ipv4_bad_length(void **state)
{
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.ip4->total_length = rte_cpu_to_be_16(19);
	expect_drop(&f, MG_DROP_IPV4_BAD_LENGTH);

	/* A header that fits the frame but not the total length. */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.ip4->version_ihl = 0x46;
	f.ip4->total_length = rte_cpu_to_be_16(20);
	expect_drop(&f, MG_DROP_IPV4_BAD_LENGTH);

	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.ip4->total_length = rte_cpu_to_be_16(20 + 8 + 8 + 1);
	expect_drop(&f, MG_DROP_IPV4_BAD_LENGTH);
}

static void
test_ipv4_bad_options(void **state)
{
	static const uint8_t bad[][8] = {
		{ 0x94, 1, 0, 0, 0, 0, 0, 0 },	  /* length below 2 */
		{ 0x94, 0, 0, 0, 0, 0, 0, 0 },	  /* length 0: no progress */
		{ 0x94, 9, 0, 0, 0, 0, 0, 0 },	  /* past the header */
		{ 1, 1, 1, 1, 1, 1, 1, 0x94 },	  /* no room for a length */
		{ 0x44, 4, 0, 0, 0x07, 5, 0, 0 }, /* second one overruns */
	};
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(bad); i++) {
		build_ipv4(&f, IPPROTO_UDP, bad[i], sizeof(bad[i]), 8);
		expect_drop(&f, MG_DROP_IPV4_BAD_OPTIONS);
	}
}

/* Fragments are accepted for reassembly, with their place marked. */
static void
test_ipv4_fragment(void **state)
{
	static const struct {
		uint16_t field; /* flags and offset */
		uint8_t flags;	/* MG_PKT_FRAG* */
		uint16_t data;	/* offset of its data in the datagram */
	} frag[] = {
		{ 0x2000, MG_PKT_FRAG | MG_PKT_FRAG_FIRST, 0 },
		{ 0x0001, MG_PKT_FRAG | MG_PKT_FRAG_LAST, 8 },
		{ 0x2001, MG_PKT_FRAG, 8 },
		/* 20 + 65472 + 16 bytes: the largest datagram but 27 */
		{ 0x1ff8, MG_PKT_FRAG | MG_PKT_FRAG_LAST, 65472 },
	};
	struct mg_pkt_info info;
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(frag); i++) {
		build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
		f.ip4->fragment_offset = rte_cpu_to_be_16(frag[i].field);
		expect_ok(&f, &info);
		assert_int_equal(info.frag, frag[i].flags);
		assert_int_equal(info.frag_data, frag[i].data);
		assert_int_equal(info.tuple.proto, IPPROTO_UDP);
		if (frag[i].flags & MG_PKT_FRAG_FIRST) {
			/* the UDP header, checked against the fragment */
			check_tuple(&info, 4, IPPROTO_UDP, SPORT, DPORT);
			check_layout(&f, &info, 14, 34, 42, 8);
		} else {
			/* later fragments: data only, no ports */
			check_tuple(&info, 4, IPPROTO_UDP, 0, 0);
			check_layout(&f, &info, 14, 34, 34, 16);
		}
	}
	/* past 65,535 bytes of datagram */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.ip4->fragment_offset = rte_cpu_to_be_16(0x1ffe);
	expect_drop(&f, MG_DROP_FRAG_TOO_BIG);
	/* a first fragment without its whole TCP header */
	build_ipv4(&f, IPPROTO_TCP, NULL, 0, 0);
	f.ip4->fragment_offset = rte_cpu_to_be_16(0x2000);
	f.ip4->total_length = rte_cpu_to_be_16(20 + 16);
	expect_drop(&f, MG_DROP_FRAG_FIRST_SHORT);

	/* DF alone is not a fragment. */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.ip4->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	expect_ok(&f, &info);
	assert_int_equal(info.frag, 0);
}

/* mg_cksum_l4() (4 bytes a step) against DPDK's rte_raw_cksum() for
 * every length to 1,500 at every alignment to 8, random bytes: sums of
 * all-ones bytes included, where a carry lost in folding would show. */
static void
test_cksum_l4_as_dpdk(void **state)
{
	static uint8_t buf[1500 + 8 + 32];
	uint8_t addrs[32];
	unsigned int len, off, i, alen;

	(void)state;
	srand(4303);
	for (len = 0; len <= 1500; len++) {
		for (off = 0; off < 8; off++) {
			for (i = 0; i < len + off; i++)
				buf[i] = len % 7 == 0 ? 0xff : (uint8_t)rand();
			for (i = 0; i < sizeof(addrs); i++)
				addrs[i] =
					len % 5 == 0 ? 0xff : (uint8_t)rand();
			for (alen = 4; alen <= 16; alen += 12) {
				uint32_t sum =
					__rte_raw_cksum(addrs, 2 * alen, 0);

				sum += rte_cpu_to_be_16(IPPROTO_TCP);
				sum += rte_cpu_to_be_16((uint16_t)len);
				sum = __rte_raw_cksum(buf + off, len, sum);
				assert_int_equal(
					mg_cksum_l4(addrs, alen, IPPROTO_TCP,
						    buf + off, (uint16_t)len),
					__rte_raw_cksum_reduce(sum));
			}
		}
	}
}

static void
test_ipv4_bad_cksum(void **state)
{
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_TCP, NULL, 0, 8);
	f.m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
	expect_drop(&f, MG_DROP_IPV4_BAD_CKSUM);
}

static void
test_ipv6_truncated(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV6);
	*(uint8_t *)frame_put(&f, 39) = 0x60;
	expect_drop(&f, MG_DROP_IPV6_TRUNCATED);
}

static void
test_ipv6_bad_version(void **state)
{
	struct frame f;

	(void)state;
	build_ipv6(&f, NULL, 0, IPPROTO_UDP, 8);
	f.ip6->vtc_flow = rte_cpu_to_be_32(4u << 28);
	expect_drop(&f, MG_DROP_IPV6_BAD_VERSION);
}

static void
test_ipv6_bad_length(void **state)
{
	struct frame f;

	(void)state;
	build_ipv6(&f, NULL, 0, IPPROTO_UDP, 8);
	f.ip6->payload_len = rte_cpu_to_be_16(8 + 8 + 1);
	expect_drop(&f, MG_DROP_IPV6_BAD_LENGTH);
}

static void
test_ipv6_ext_truncated(void **state)
{
	static const struct ext6 hbh = { IPPROTO_HOPOPTS, 0 };
	static const struct ext6 ah = { IPPROTO_AH, 4 };
	struct frame f;

	(void)state;
	/* 16 bytes claimed, 8 in the payload. */
	build_ipv6(&f, &hbh, 1, IPPROTO_NONE, 0);
	frame_at(&f, f.l3_off + 40)[1] = 1;
	expect_drop(&f, MG_DROP_IPV6_EXT_TRUNCATED);

	/* Too short even for the next-header and length bytes. */
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV6);
	put_ipv6(&f, IPPROTO_DSTOPTS);
	frame_put(&f, 1);
	frame_seal(&f);
	expect_drop(&f, MG_DROP_IPV6_EXT_TRUNCATED);

	/*
	 * AH counts 4-byte words: length 4 is 24 bytes and fits, so the
	 * walk reaches "no next header"; length 5 is 28 and does not.
	 */
	build_ipv6(&f, &ah, 1, IPPROTO_NONE, 0);
	expect_drop(&f, MG_DROP_L4_PROTO_UNKNOWN);
	frame_at(&f, f.l3_off + 40)[1] = 5;
	expect_drop(&f, MG_DROP_IPV6_EXT_TRUNCATED);

	/* The bytes exist in the frame but past the payload length. */
	build_ipv6(&f, &hbh, 1, IPPROTO_NONE, 0);
	put_payload(&f, 8);
	frame_at(&f, f.l3_off + 40)[1] = 1;
	expect_drop(&f, MG_DROP_IPV6_EXT_TRUNCATED);
}

static void
test_ipv6_ext_chain(void **state)
{
	static const struct ext6 chain[MG_PKT_MAX_IPV6_EXT + 1] = {
		{ IPPROTO_HOPOPTS, 0 }, { IPPROTO_DSTOPTS, 0 },
		{ IPPROTO_ROUTING, 0 }, { IPPROTO_AH, 0 },
		{ IPPROTO_DSTOPTS, 0 },
	};
	struct mg_pkt_info info;
	struct ext6 big = { IPPROTO_HOPOPTS, 57 };
	struct frame f;

	(void)state;
	build_ipv6(&f, chain, RTE_DIM(chain), IPPROTO_UDP, 8);
	expect_drop(&f, MG_DROP_IPV6_EXT_CHAIN);

	/*
	 * m->l3_len holds 511 at most: 40 + 464 bytes of options fit,
	 * 40 + 472 do not.
	 */
	build_ipv6(&f, &big, 1, IPPROTO_UDP, 8);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 518, 526, 8);
	big.len = 58;
	build_ipv6(&f, &big, 1, IPPROTO_UDP, 8);
	expect_drop(&f, MG_DROP_IPV6_EXT_CHAIN);
}

static void
test_ipv6_fragment(void **state)
{
	static const struct ext6 hbh_frag[] = {
		{ IPPROTO_HOPOPTS, 0 },
		{ IPPROTO_FRAGMENT, 0 },
	};
	struct mg_pkt_info info;
	uint8_t *fh;
	struct frame f;

	(void)state;
	/* atomic fragments (offset 0, no more) are whole packets (RFC 6946),
	 * the fragment header skipped */
	build_ipv6(&f, &hbh_frag[1], 1, IPPROTO_UDP, 8);
	expect_ok(&f, &info);
	assert_int_equal(info.frag, 0);
	check_layout(&f, &info, 14, 62, 70, 8);
	build_ipv6(&f, hbh_frag, RTE_DIM(hbh_frag), IPPROTO_UDP, 8);
	expect_ok(&f, &info);
	assert_int_equal(info.frag, 0);

	/* a first fragment, M set */
	build_ipv6(&f, &hbh_frag[1], 1, IPPROTO_UDP, 8);
	fh = rte_pktmbuf_mtod_offset(f.m, uint8_t *, 54);
	fh[3] = 1;
	expect_ok(&f, &info);
	assert_int_equal(info.frag, MG_PKT_FRAG | MG_PKT_FRAG_FIRST);
	assert_int_equal(info.frag_hdr, 54);
	check_tuple(&info, 6, IPPROTO_UDP, SPORT, DPORT);
	/* a later one, the last: offset 16 */
	fh[2] = 0;
	fh[3] = 16;
	expect_ok(&f, &info);
	assert_int_equal(info.frag, MG_PKT_FRAG | MG_PKT_FRAG_LAST);
	assert_int_equal(info.frag_data, 16);
	check_tuple(&info, 6, IPPROTO_UDP, 0, 0);
	check_layout(&f, &info, 14, 62, 62, 16);
	/* ending past 65,535 */
	fh[2] = 0xff;
	fh[3] = 0xf8;
	expect_drop(&f, MG_DROP_FRAG_TOO_BIG);
}

static void
test_tcp_truncated(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_TCP, NULL, 0);
	frame_put(&f, 19);
	frame_seal(&f);
	expect_drop(&f, MG_DROP_TCP_TRUNCATED);

	/* The frame holds the header; the IP total length does not. */
	build_ipv4(&f, IPPROTO_TCP, NULL, 0, 10);
	f.ip4->total_length = rte_cpu_to_be_16(20 + 19);
	expect_drop(&f, MG_DROP_TCP_TRUNCATED);

	build_ipv6(&f, NULL, 0, IPPROTO_TCP, 10);
	f.ip6->payload_len = rte_cpu_to_be_16(19);
	expect_drop(&f, MG_DROP_TCP_TRUNCATED);
}

static void
test_tcp_bad_doff(void **state)
{
	static const uint8_t doff[] = { 0, 4, 6, 15 };
	struct mg_pkt_info info;
	struct frame f;
	unsigned int i;

	(void)state;
	/* 20 bytes of segment: 6 and 15 words reach past it. */
	for (i = 0; i < RTE_DIM(doff); i++) {
		build_ipv4(&f, IPPROTO_TCP, NULL, 0, 0);
		frame_at(&f, f.l4_off)[12] = doff[i] << 4;
		expect_drop(&f, MG_DROP_TCP_BAD_DOFF);
	}

	/* 8 words over a 32-byte segment is exact; one byte less is not. */
	build_ipv4(&f, IPPROTO_TCP, NULL, 0, 12);
	frame_at(&f, f.l4_off)[12] = 8 << 4;
	expect_ok(&f, &info);
	assert_int_equal(info.payload_len, 0);
	f.ip4->total_length = rte_cpu_to_be_16(20 + 31);
	expect_drop(&f, MG_DROP_TCP_BAD_DOFF);
}

static void
test_udp_truncated(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_UDP, NULL, 0);
	frame_put(&f, 7);
	frame_seal(&f);
	expect_drop(&f, MG_DROP_UDP_TRUNCATED);

	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV6);
	put_ipv6(&f, IPPROTO_UDP);
	frame_put(&f, 7);
	frame_seal(&f);
	expect_drop(&f, MG_DROP_UDP_TRUNCATED);
}

static void
test_udp_bad_length(void **state)
{
	static const int16_t delta[] = { -1, 1, -8 };
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(delta); i++) {
		build_ipv4(&f, IPPROTO_UDP, NULL, 0, 16);
		f.udp->dgram_len = rte_cpu_to_be_16(8 + 16 + delta[i]);
		expect_drop(&f, MG_DROP_UDP_BAD_LENGTH);
	}

	/* A UDP length that counts the Ethernet padding is still wrong. */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 2);
	put_payload(&f, 16);
	f.udp->dgram_len = rte_cpu_to_be_16(frame_len(&f) - f.l4_off);
	expect_drop(&f, MG_DROP_UDP_BAD_LENGTH);

	build_ipv6(&f, NULL, 0, IPPROTO_UDP, 16);
	f.udp->dgram_len = rte_cpu_to_be_16(8 + 15);
	expect_drop(&f, MG_DROP_UDP_BAD_LENGTH);
}

static void
test_icmp_truncated(void **state)
{
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_ICMP, NULL, 0);
	frame_put(&f, 7);
	frame_seal(&f);
	expect_drop(&f, MG_DROP_ICMP_TRUNCATED);

	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV6);
	put_ipv6(&f, IPPROTO_ICMPV6);
	frame_put(&f, 7);
	frame_seal(&f);
	expect_drop(&f, MG_DROP_ICMP_TRUNCATED);
}

static void
test_l4_bad_cksum(void **state)
{
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.m->ol_flags |=
		RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_BAD;
	expect_drop(&f, MG_DROP_L4_BAD_CKSUM);

	build_ipv6(&f, NULL, 0, IPPROTO_TCP, 8);
	f.m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_BAD;
	expect_drop(&f, MG_DROP_L4_BAD_CKSUM);
}

static void
test_l4_proto_unknown(void **state)
{
	static const struct ext6 dst = { IPPROTO_DSTOPTS, 0 };
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_GRE, NULL, 0, 8);
	expect_drop(&f, MG_DROP_L4_PROTO_UNKNOWN);
	/* Each ICMP belongs to its own IP version only. */
	build_ipv4(&f, IPPROTO_ICMPV6, NULL, 0, 8);
	expect_drop(&f, MG_DROP_L4_PROTO_UNKNOWN);
	build_ipv6(&f, NULL, 0, IPPROTO_ICMP, 8);
	expect_drop(&f, MG_DROP_L4_PROTO_UNKNOWN);
	build_ipv6(&f, NULL, 0, IPPROTO_NONE, 0);
	expect_drop(&f, MG_DROP_L4_PROTO_UNKNOWN);
	build_ipv6(&f, &dst, 1, IPPROTO_SCTP, 16);
	expect_drop(&f, MG_DROP_L4_PROTO_UNKNOWN);
}

/* ESP is parsed as far as its SPI and sequence number, behind IPv6
 * extension headers too; what follows is lib/esp's to judge. */
static void
test_esp(void **state)
{
	static const struct ext6 dst = { IPPROTO_DSTOPTS, 0 };
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_ESP, NULL, 0, 40);
	expect_ok(&f, &info);
	assert_int_equal(info.tuple.proto, IPPROTO_ESP);
	assert_int_equal(info.payload_off, info.l4_off);
	assert_int_equal(info.payload_len, 40);
	assert_int_equal(info.tuple.sport, 0);
	assert_int_equal(info.tuple.dport, 0);
	build_ipv6(&f, &dst, 1, IPPROTO_ESP, 16);
	expect_ok(&f, &info);
	assert_int_equal(info.tuple.proto, IPPROTO_ESP);
	assert_int_equal(info.l4_off, info.l3_off + 40 + 8);
	assert_int_equal(info.payload_len, 16);
	/* the SPI and sequence number are the least ESP has */
	build_ipv4(&f, IPPROTO_ESP, NULL, 0, MG_ESP_HDR_LEN - 1);
	expect_drop(&f, MG_DROP_ESP_MALFORMED);
	build_ipv6(&f, NULL, 0, IPPROTO_ESP, MG_ESP_HDR_LEN);
	expect_ok(&f, &info);
}

/* ---- accepted frames ---- */

static void
test_tcp4(void **state)
{
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_TCP, NULL, 0, 10);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 54, 10);
	check_tuple(&info, 4, IPPROTO_TCP, SPORT, DPORT);
	assert_int_equal(info.tcp_flags, TCP_FLAGS);
	assert_int_equal(info.n_vlans, 0);
}

static void
test_tcp4_options(void **state)
{
	/* NOP, router alert, EOL, then padding the walk must not read. */
	static const uint8_t opts[8] = { 1, 0x94, 4, 0, 0, 0, 0x44, 0xff };
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_TCP, opts, sizeof(opts));
	put_tcp(&f, 8, RTE_TCP_PSH_FLAG | RTE_TCP_ACK_FLAG);
	put_payload(&f, 5);
	frame_seal(&f);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 42, 74, 5);
	check_tuple(&info, 4, IPPROTO_TCP, SPORT, DPORT);
	assert_int_equal(info.tcp_flags, RTE_TCP_PSH_FLAG | RTE_TCP_ACK_FLAG);
}

static void
test_udp4(void **state)
{
	/* One option filling its 4 bytes exactly, no EOL. */
	static const uint8_t ra[4] = { 0x94, 4, 0, 0 };
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 100);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 42, 100);
	check_tuple(&info, 4, IPPROTO_UDP, SPORT, DPORT);
	assert_int_equal(info.tcp_flags, 0);

	build_ipv4(&f, IPPROTO_UDP, ra, sizeof(ra), 0);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 38, 46, 0);
	check_tuple(&info, 4, IPPROTO_UDP, SPORT, DPORT);
}

static void
test_icmp4(void **state)
{
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_ICMP, NULL, 0, 56);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 42, 56);
	check_tuple(&info, 4, IPPROTO_ICMP, ICMP_ID, ICMP_ID);

	frame_at(&f, f.l4_off)[0] = RTE_IP_ICMP_ECHO_REPLY;
	expect_ok(&f, &info);
	check_tuple(&info, 4, IPPROTO_ICMP, ICMP_ID, ICMP_ID);

	/* Destination unreachable: bytes 4-7 are no identifier. */
	frame_at(&f, f.l4_off)[0] = 3;
	expect_ok(&f, &info);
	check_tuple(&info, 4, IPPROTO_ICMP, 0, 0);
}

static void
test_ipv6_ext_at_limit(void **state)
{
	/* 8 + 16 + 8 + 24 bytes; AH in 4-byte words. */
	static const struct ext6 chain[MG_PKT_MAX_IPV6_EXT] = {
		{ IPPROTO_HOPOPTS, 0 },
		{ IPPROTO_DSTOPTS, 1 },
		{ IPPROTO_ROUTING, 0 },
		{ IPPROTO_AH, 4 },
	};
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv6(&f, chain, RTE_DIM(chain), IPPROTO_UDP, 20);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 110, 118, 20);
	check_tuple(&info, 6, IPPROTO_UDP, SPORT, DPORT);

	build_ipv6(&f, chain, RTE_DIM(chain), IPPROTO_TCP, 3);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 110, 130, 3);
	check_tuple(&info, 6, IPPROTO_TCP, SPORT, DPORT);
	assert_int_equal(info.tcp_flags, TCP_FLAGS);
}

static void
test_ipv6_l4(void **state)
{
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv6(&f, NULL, 0, IPPROTO_TCP, 0);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 54, 74, 0);
	check_tuple(&info, 6, IPPROTO_TCP, SPORT, DPORT);

	build_ipv6(&f, NULL, 0, IPPROTO_ICMPV6, 32);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 54, 62, 32);
	check_tuple(&info, 6, IPPROTO_ICMPV6, ICMP_ID, ICMP_ID);

	frame_at(&f, f.l4_off)[0] = 129; /* echo reply */
	expect_ok(&f, &info);
	check_tuple(&info, 6, IPPROTO_ICMPV6, ICMP_ID, ICMP_ID);

	/* ICMPv4's echo request number means nothing to ICMPv6. */
	frame_at(&f, f.l4_off)[0] = RTE_IP_ICMP_ECHO_REQUEST;
	expect_ok(&f, &info);
	check_tuple(&info, 6, IPPROTO_ICMPV6, 0, 0);
}

static void
test_vlan_one(void **state)
{
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 0x2064, RTE_ETHER_TYPE_IPV4); /* PCP 1, VID 100 */
	put_ipv4(&f, IPPROTO_UDP, NULL, 0);
	put_udp(&f);
	put_payload(&f, 4);
	frame_seal(&f);
	expect_ok(&f, &info);
	check_layout(&f, &info, 18, 38, 46, 4);
	check_tuple(&info, 4, IPPROTO_UDP, SPORT, DPORT);
	assert_int_equal(info.n_vlans, 1);
	assert_int_equal(info.vlan_tci[0], 0x2064);
	assert_int_equal(info.vlan_tci[1], 0);
}

static void
test_vlan_two(void **state)
{
	static const uint16_t outer_tpid[] = { RTE_ETHER_TYPE_QINQ,
					       RTE_ETHER_TYPE_QINQ1,
					       RTE_ETHER_TYPE_VLAN };
	struct mg_pkt_info info;
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(outer_tpid); i++) {
		frame_init(&f);
		put_eth(&f, outer_tpid[i]);
		put_vlan(&f, 0x0abc, RTE_ETHER_TYPE_VLAN);
		put_vlan(&f, 0xe00a, RTE_ETHER_TYPE_IPV6);
		put_ipv6(&f, IPPROTO_TCP);
		put_tcp(&f, 5, RTE_TCP_FIN_FLAG);
		frame_seal(&f);
		expect_ok(&f, &info);
		check_layout(&f, &info, 22, 62, 82, 0);
		check_tuple(&info, 6, IPPROTO_TCP, SPORT, DPORT);
		assert_int_equal(info.n_vlans, 2);
		assert_int_equal(info.vlan_tci[0], 0x0abc);
		assert_int_equal(info.vlan_tci[1], 0xe00a);
		assert_int_equal(info.tcp_flags, RTE_TCP_FIN_FLAG);
	}
}

static void
test_vlan_stripped(void **state)
{
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	/* The NIC took the only tag. */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
	f.m->vlan_tci = 0x0123;
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 42, 8);
	assert_int_equal(info.n_vlans, 1);
	assert_int_equal(info.vlan_tci[0], 0x0123);

	/* The NIC took the outer tag; the inner one is still in the data. */
	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 0x0456, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_UDP, NULL, 0);
	put_udp(&f);
	frame_seal(&f);
	f.m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
	f.m->vlan_tci = 0x0123;
	expect_ok(&f, &info);
	check_layout(&f, &info, 18, 38, 46, 0);
	assert_int_equal(info.n_vlans, 2);
	assert_int_equal(info.vlan_tci[0], 0x0123);
	assert_int_equal(info.vlan_tci[1], 0x0456);

	/* Both tags stripped: vlan_tci_outer is the outer one. */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	f.m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED |
			 RTE_MBUF_F_RX_QINQ | RTE_MBUF_F_RX_QINQ_STRIPPED;
	f.m->vlan_tci_outer = 0x0011;
	f.m->vlan_tci = 0x0022;
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 42, 8);
	assert_int_equal(info.n_vlans, 2);
	assert_int_equal(info.vlan_tci[0], 0x0011);
	assert_int_equal(info.vlan_tci[1], 0x0022);
}

static void
test_arp(void **state)
{
	static const uint8_t zero[sizeof(struct mg_5tuple)];
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_arp(&f);
	put_payload(&f, 18); /* padded to the 60-byte minimum */
	expect_ok(&f, &info);
	assert_int_equal(info.l3, MG_L3_ARP);
	assert_int_equal(info.l3_off, 14);
	assert_int_equal(info.l4_off, 0);
	assert_int_equal(info.payload_off, 0);
	assert_int_equal(info.payload_len, 0);
	assert_int_equal(info.n_vlans, 0);
	assert_int_equal(info.tcp_flags, 0);
	assert_memory_equal(&info.tuple, zero, sizeof(zero));
	assert_int_equal(f.m->l2_len, 14);
	assert_int_equal(f.m->l3_len, 28);
	assert_int_equal(f.m->l4_len, 0);
}

static void
test_ethernet_padding(void **state)
{
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	/* 14 + 20 + 8 + 2 = 44 bytes of frame, padded to 60. */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 2);
	put_payload(&f, 16);
	assert_int_equal(frame_len(&f), 60);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 42, 2);
	check_tuple(&info, 4, IPPROTO_UDP, SPORT, DPORT);

	build_ipv4(&f, IPPROTO_TCP, NULL, 0, 1);
	put_payload(&f, 5);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 34, 54, 1);

	build_ipv6(&f, NULL, 0, IPPROTO_UDP, 3);
	put_payload(&f, 7);
	expect_ok(&f, &info);
	check_layout(&f, &info, 14, 54, 62, 3);
}

static void
test_nic_cksum_flags(void **state)
{
	/* Only a "bad" verdict drops; "none" sets both bits of the field. */
	static const uint64_t ok_flags[] = {
		0,
		RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD,
		RTE_MBUF_F_RX_IP_CKSUM_NONE | RTE_MBUF_F_RX_L4_CKSUM_NONE,
		RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN,
	};
	struct mg_pkt_info info;
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(ok_flags); i++) {
		build_ipv4(&f, IPPROTO_TCP, NULL, 0, 8);
		f.m->ol_flags |= ok_flags[i];
		expect_ok(&f, &info);
		check_layout(&f, &info, 14, 34, 54, 8);
	}

	/* Bad IP and bad L4 together: the IP verdict is reported. */
	build_ipv4(&f, IPPROTO_TCP, NULL, 0, 8);
	f.m->ol_flags |=
		RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_BAD;
	expect_drop(&f, MG_DROP_IPV4_BAD_CKSUM);
}

static void
test_parse_burst(void **state)
{
	struct mg_pkt_info info[4];
	struct rte_mbuf *pkts[4];
	uint8_t reasons[4];
	struct frame f[4];
	unsigned int i;

	(void)state;
	build_ipv4(&f[0], IPPROTO_UDP, NULL, 0, 8);
	frame_init(&f[1]);
	put_payload(&f[1], 10);
	build_ipv6(&f[2], NULL, 0, IPPROTO_TCP, 4);
	build_ipv4(&f[3], IPPROTO_UDP, NULL, 0, 8);
	f[3].ip4->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	for (i = 0; i < RTE_DIM(f); i++)
		pkts[i] = f[i].m;

	memset(reasons, 0xff, sizeof(reasons));
	assert_int_equal(mg_pkt_parse_burst(pkts, 4, info, reasons), 3);
	assert_int_equal(reasons[0], MG_DROP_NONE);
	assert_int_equal(reasons[1], MG_DROP_RUNT);
	assert_int_equal(reasons[2], MG_DROP_NONE);
	assert_int_equal(reasons[3], MG_DROP_NONE);
	assert_int_equal(info[3].frag, MG_PKT_FRAG | MG_PKT_FRAG_FIRST);
	check_layout(&f[0], &info[0], 14, 34, 42, 8);
	check_tuple(&info[0], 4, IPPROTO_UDP, SPORT, DPORT);
	check_layout(&f[2], &info[2], 14, 54, 74, 4);
	check_tuple(&info[2], 6, IPPROTO_TCP, SPORT, DPORT);
	/* The burst must not have reordered the caller's array. */
	for (i = 0; i < RTE_DIM(f); i++)
		assert_ptr_equal(pkts[i], f[i].m);

	assert_int_equal(mg_pkt_parse_burst(pkts, 0, info, reasons), 0);
}

/*
 * The burst's shortcut for common frames against the full walk, on
 * frames a byte or a flag away from the common shape: IPv4 TCP and UDP,
 * unpadded and padded, every byte set to values across each check (the
 * version and header length, the lengths, fragment bits, protocol, data
 * offset) and one off its own value, every offload verdict, and every
 * length down to nothing. parse_both() asserts the same reason, info and
 * mbuf lengths each time.
 */
static void
test_parse_burst_same(void **state)
{
	static const uint8_t values[] = { 0x00, 0x01, 0x05, 0x06, 0x08, 0x11,
					  0x14, 0x1c, 0x20, 0x2e, 0x3f, 0x40,
					  0x44, 0x45, 0x46, 0x4f, 0x50, 0x60,
					  0x80, 0xf0, 0xff };
	static const uint64_t flags[] = {
		RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED,
		RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED |
			RTE_MBUF_F_RX_QINQ | RTE_MBUF_F_RX_QINQ_STRIPPED,
		RTE_MBUF_F_RX_IP_CKSUM_BAD,
		RTE_MBUF_F_RX_IP_CKSUM_GOOD,
		RTE_MBUF_F_RX_IP_CKSUM_NONE,
		RTE_MBUF_F_RX_L4_CKSUM_BAD,
		RTE_MBUF_F_RX_L4_CKSUM_GOOD,
		RTE_MBUF_F_RX_L4_CKSUM_NONE,
		RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD,
	};
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	unsigned int pi, pad, v, k, accepted = 0;
	struct mg_pkt_info info;
	uint16_t off, len;
	struct frame f;
	uint8_t *b, orig;

	(void)state;
	for (pi = 0; pi < RTE_DIM(protos); pi++) {
		for (pad = 0; pad < 2; pad++) {
			build_ipv4(&f, protos[pi], NULL, 0, 6);
			if (pad)
				frame_put(&f, 64 - frame_len(&f));
			len = frame_len(&f);
			for (off = 0; off < len; off++) {
				b = frame_at(&f, off);
				orig = *b;
				for (v = 0; v < RTE_DIM(values); v++) {
					*b = values[v];
					accepted += parse_both(f.m, &info) ==
						    MG_DROP_NONE;
				}
				*b = (uint8_t)(orig + 1);
				parse_both(f.m, &info);
				*b = (uint8_t)(orig - 1);
				parse_both(f.m, &info);
				*b = orig;
			}
			expect_ok(&f, &info);
			for (k = 0; k < RTE_DIM(flags); k++) {
				f.m->ol_flags = flags[k];
				f.m->vlan_tci = 0x123;
				f.m->vlan_tci_outer = 0x456;
				parse_both(f.m, &info);
			}
			f.m->ol_flags = 0;
			/* exact-size copies, ASan sees any read past one:
			 * the IP length as it was, and as what is left */
			while (frame_len(&f) > 0) {
				assert_int_equal(rte_pktmbuf_trim(f.m, 1), 0);
				parse_copy(&f, &info);
				if (frame_len(&f) < RTE_ETHER_HDR_LEN + 4)
					continue;
				f.ip4->total_length = rte_cpu_to_be_16(
					frame_len(&f) - RTE_ETHER_HDR_LEN);
				parse_copy(&f, &info);
			}
		}
	}
	/* most mutations of payload, addresses, ports and the like pass */
	assert_true(accepted > 1000);
}

static void
test_reason_names(void **state)
{
	/* lib/pkt's own; tests/unit/test_drops.c checks every stage's */
	static const char *const want[MG_DROP_PKT_END] = {
		[MG_DROP_NONE] = "none",
		[MG_DROP_MULTI_SEG] = "multi_seg",
		[MG_DROP_RUNT] = "runt",
		[MG_DROP_VLAN_TRUNCATED] = "vlan_truncated",
		[MG_DROP_VLAN_TOO_MANY] = "vlan_too_many",
		[MG_DROP_ETHERTYPE_UNKNOWN] = "ethertype_unknown",
		[MG_DROP_ARP_MALFORMED] = "arp_malformed",
		[MG_DROP_IPV4_TRUNCATED] = "ipv4_truncated",
		[MG_DROP_IPV4_BAD_VERSION] = "ipv4_bad_version",
		[MG_DROP_IPV4_BAD_IHL] = "ipv4_bad_ihl",
		[MG_DROP_IPV4_BAD_OPTIONS] = "ipv4_bad_options",
		[MG_DROP_IPV4_BAD_LENGTH] = "ipv4_bad_length",
		[MG_DROP_IPV4_FRAGMENT] = "ipv4_fragment",
		[MG_DROP_IPV4_BAD_CKSUM] = "ipv4_bad_cksum",
		[MG_DROP_IPV6_TRUNCATED] = "ipv6_truncated",
		[MG_DROP_IPV6_BAD_VERSION] = "ipv6_bad_version",
		[MG_DROP_IPV6_BAD_LENGTH] = "ipv6_bad_length",
		[MG_DROP_IPV6_EXT_TRUNCATED] = "ipv6_ext_truncated",
		[MG_DROP_IPV6_EXT_CHAIN] = "ipv6_ext_chain",
		[MG_DROP_IPV6_FRAGMENT] = "ipv6_fragment",
		[MG_DROP_TCP_TRUNCATED] = "tcp_truncated",
		[MG_DROP_TCP_BAD_DOFF] = "tcp_bad_doff",
		[MG_DROP_UDP_TRUNCATED] = "udp_truncated",
		[MG_DROP_UDP_BAD_LENGTH] = "udp_bad_length",
		[MG_DROP_ICMP_TRUNCATED] = "icmp_truncated",
		[MG_DROP_L4_BAD_CKSUM] = "l4_bad_cksum",
		[MG_DROP_L4_PROTO_UNKNOWN] = "l4_proto_unknown",
		[MG_DROP_TX_FULL] = "tx_full",
		[MG_DROP_NO_ROUTE] = "no_route",
		[MG_DROP_L7_AMBIGUOUS] = "l7_ambiguous",
		[MG_DROP_FRAG_TOO_BIG] = "frag_too_big",
		[MG_DROP_FRAG_FIRST_SHORT] = "frag_first_short",
		[MG_DROP_MTU_EXCEEDED] = "mtu_exceeded",
		[MG_DROP_ESP_MALFORMED] = "esp_malformed",
	};
	unsigned int r, q;
	const char *name;

	(void)state;
	for (r = 0; r < MG_DROP_PKT_END; r++) {
		name = mg_drop_reason_name(r);
		assert_non_null(name);
		assert_string_not_equal(name, "invalid");
		/* A new reason needs its stable name written down here. */
		assert_non_null(want[r]);
		assert_string_equal(name, want[r]);
		assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz0123"
					      "456789_"),
				 strlen(name));
		for (q = 0; q < r; q++)
			assert_string_not_equal(name, mg_drop_reason_name(q));
	}
	/* before test_drop_stage_add(), no stage above lib/pkt has added
	 * its names in this process */
	assert_int_equal(mg_drop_reason_end(), MG_DROP_PKT_END);
	assert_string_equal(mg_drop_reason_name(MG_DROP_PKT_END), "invalid");
	assert_string_equal(mg_drop_reason_name(MG_DROP_CAPACITY), "invalid");
	assert_string_equal(mg_drop_reason_name(MG_DROP_CAPACITY + 100),
			    "invalid");
	assert_string_equal(mg_drop_reason_name((enum mg_drop_reason)(-1)),
			    "invalid");
}

/* Names of two made-up stages right above lib/pkt, indexed by reason as
 * a stage's are. */
#define T_FIRST MG_DROP_PKT_END
static const char *const t_names[T_FIRST + 3] = {
	[T_FIRST] = "t_one",
	[T_FIRST + 1] = "t_two",
	[T_FIRST + 2] = "t_three",
};

/* @p rc, and the table as lib/pkt has it. */
static void
expect_refused(unsigned int first, unsigned int end, const char *const *names,
	       int rc)
{
	const struct mg_drop_stage s = { "t", first, end, names };

	assert_int_equal(mg_drop_stage_add(&s), rc);
	assert_int_equal(mg_drop_reason_end(), T_FIRST);
	assert_string_equal(mg_drop_reason_name(T_FIRST), "invalid");
}

static void
test_drop_stage_add(void **state)
{
	/* the second name spoils each */
	static const char *const bad[][T_FIRST + 2] = {
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = NULL },
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = "T_two" },
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = "t-two" },
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = "" },
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = "invalid" },
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = "none" },
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = "runt" },
		{ [T_FIRST] = "t_one", [T_FIRST + 1] = "t_one" },
	};
	const struct mg_drop_stage one = { "t", T_FIRST, T_FIRST + 2, t_names };
	const struct mg_drop_stage two = { "u", T_FIRST + 2, T_FIRST + 3,
					   t_names };
	const struct mg_drop_stage other = { "t", T_FIRST, T_FIRST + 2,
					     bad[2] };
	unsigned int i;

	(void)state;
	assert_int_equal(mg_drop_stage_add(NULL), -EINVAL);
	/* a hole below it, no reason, past the table, reason 0, no names */
	expect_refused(T_FIRST + 1, T_FIRST + 3, t_names, -EINVAL);
	expect_refused(T_FIRST, T_FIRST, t_names, -EINVAL);
	expect_refused(T_FIRST, MG_DROP_CAPACITY + 1, t_names, -EINVAL);
	expect_refused(0, T_FIRST + 1, t_names, -EINVAL);
	expect_refused(T_FIRST, T_FIRST + 1, NULL, -EINVAL);
	/* every name checked before any is written */
	for (i = 0; i < RTE_DIM(bad); i++)
		expect_refused(T_FIRST, T_FIRST + 2, bad[i], -EINVAL);
	/* lib/pkt's own reasons are named already */
	expect_refused(1, T_FIRST + 2, t_names, -EEXIST);

	assert_int_equal(mg_drop_stage_add(&one), 0);
	assert_int_equal(mg_drop_reason_end(), T_FIRST + 2);
	assert_string_equal(mg_drop_reason_name(T_FIRST), "t_one");
	assert_string_equal(mg_drop_reason_name(T_FIRST + 1), "t_two");
	assert_string_equal(mg_drop_reason_name(T_FIRST + 2), "invalid");
	/* the same stage again changes nothing; other names over it fail */
	assert_int_equal(mg_drop_stage_add(&one), 0);
	assert_int_equal(mg_drop_stage_add(&other), -EEXIST);
	assert_int_equal(mg_drop_reason_end(), T_FIRST + 2);
	assert_string_equal(mg_drop_reason_name(T_FIRST + 1), "t_two");
	/* the next stage starts where it ended */
	assert_int_equal(mg_drop_stage_add(&two), 0);
	assert_int_equal(mg_drop_reason_end(), T_FIRST + 3);
	assert_string_equal(mg_drop_reason_name(T_FIRST + 2), "t_three");
	assert_string_equal(mg_drop_reason_name(T_FIRST + 3), "invalid");
}

/* ---- reads stay inside the frame ---- */

/* Whole frames; every strict prefix of one must be refused. */
#define TEMPLATE_MAX 256
#define N_TEMPLATES  5
/* Deterministic: the same seed gives the same frames on every run. */
#define MUTATION_SEED 0x2545f491u
#define MUTATIONS     4000

struct template
{
	uint8_t bytes[TEMPLATE_MAX];
	uint16_t len;
};

static void
template_from(struct template *t, struct frame *f)
{
	t->len = frame_len(f);
	assert_true(t->len <= sizeof(t->bytes));
	memcpy(t->bytes, frame_at(f, 0), t->len);
}

/* One frame per parser path, none of them padded. */
static void
build_templates(struct template *t)
{
	static const uint8_t opts[8] = { 1, 0x94, 4, 0, 0, 1, 1, 0 };
	static const struct ext6 chain[MG_PKT_MAX_IPV6_EXT] = {
		{ IPPROTO_HOPOPTS, 0 },
		{ IPPROTO_DSTOPTS, 1 },
		{ IPPROTO_ROUTING, 0 },
		{ IPPROTO_AH, 4 },
	};
	struct frame f;

	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_TCP, opts, sizeof(opts));
	put_tcp(&f, 8, TCP_FLAGS);
	put_payload(&f, 5);
	frame_seal(&f);
	template_from(&t[0], &f);

	build_ipv6(&f, chain, RTE_DIM(chain), IPPROTO_UDP, 3);
	template_from(&t[1], &f);

	frame_init(&f);
	put_eth(&f, RTE_ETHER_TYPE_QINQ);
	put_vlan(&f, 10, RTE_ETHER_TYPE_VLAN);
	put_vlan(&f, 20, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, IPPROTO_ICMP, NULL, 0);
	put_icmp(&f, RTE_IP_ICMP_ECHO_REQUEST, ICMP_ID);
	put_payload(&f, 4);
	frame_seal(&f);
	template_from(&t[2], &f);

	build_ipv6(&f, NULL, 0, IPPROTO_ICMPV6, 8);
	template_from(&t[3], &f);

	build_arp(&f);
	template_from(&t[4], &f);
}

static void
test_truncation_sweep(void **state)
{
	struct template t[N_TEMPLATES];
	struct mg_pkt_info info;
	enum mg_drop_reason r;
	unsigned int i;
	uint16_t len;

	(void)state;
	build_templates(t);
	for (i = 0; i < RTE_DIM(t); i++) {
		for (len = 0; len < t[i].len; len++) {
			r = parse_exact(t[i].bytes, len, NULL, &info);
			assert_int_not_equal(r, MG_DROP_NONE);
		}
		r = parse_exact(t[i].bytes, t[i].len, NULL, &info);
		assert_reason(r, MG_DROP_NONE);
	}
}

static uint32_t
xorshift32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* What any accepted frame must satisfy, whatever its bytes. */
static void
check_invariants(const struct mg_pkt_info *info, uint16_t len)
{
	static const uint8_t zero[12];

	assert_true(info->n_vlans <= MG_PKT_MAX_VLANS);
	assert_int_equal(info->tuple.pad, 0);
	if (info->l3 == MG_L3_ARP) {
		assert_true(info->l3_off + 28 <= len);
		return;
	}
	assert_true(info->l3 == MG_L3_IPV4 || info->l3 == MG_L3_IPV6);
	assert_int_equal(info->tuple.family, info->l3 == MG_L3_IPV4 ? 4 : 6);
	if (info->l3 == MG_L3_IPV4) {
		assert_memory_equal(info->tuple.src + 4, zero, sizeof(zero));
		assert_memory_equal(info->tuple.dst + 4, zero, sizeof(zero));
	}
	assert_true(info->l3_off < info->l4_off);
	/* a later fragment has no L4 header: its data starts at l4_off */
	if (info->frag & MG_PKT_FRAG && !(info->frag & MG_PKT_FRAG_FIRST))
		assert_int_equal(info->l4_off, info->payload_off);
	else
		assert_true(info->l4_off < info->payload_off);
	assert_true(info->payload_off + info->payload_len <= len);
}

static void
test_mutations(void **state)
{
	struct template t[N_TEMPLATES];
	uint8_t bytes[TEMPLATE_MAX];
	uint32_t seed = MUTATION_SEED;
	enum mg_drop_reason r;
	struct mg_pkt_info info;
	unsigned int i, k, n, accepted = 0;
	uint16_t len;

	(void)state;
	build_templates(t);
	for (i = 0; i < MUTATIONS; i++) {
		const struct template *tp = &t[i % RTE_DIM(t)];

		memcpy(bytes, tp->bytes, tp->len);
		n = 1 + xorshift32(&seed) % 3;
		for (k = 0; k < n; k++)
			bytes[xorshift32(&seed) % tp->len] = xorshift32(&seed);
		len = tp->len;
		if (xorshift32(&seed) % 4 == 0)
			len = xorshift32(&seed) % (tp->len + 1);

		r = parse_exact(bytes, len, NULL, &info);
		assert_true(r < MG_DROP_TX_FULL);
		assert_int_not_equal(r, MG_DROP_MULTI_SEG);
		if (r == MG_DROP_NONE) {
			check_invariants(&info, len);
			accepted++;
		}
	}
	/* Flips land in payload and addresses too: some frames survive. */
	assert_true(accepted > 0);
	assert_true(accepted < MUTATIONS);
}

/* ---- fixtures ---- */

static int
group_setup(void **state)
{

	(void)state;
	if (mg_test_eal_init("test_pkt", "64", "0", false) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("test_pkt", POOL_SIZE, 0, 0,
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
	rte_mempool_free(pool);
	pool = NULL;
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

/* Puts valid checksums in a built TCP/UDP frame, as a sender would. */
static void
frame_checksum(struct frame *f, const struct mg_pkt_info *info)
{
	uint8_t *l4 = frame_at(f, info->l4_off);
	uint16_t *ck =
		(uint16_t *)(l4 + (info->tuple.proto == IPPROTO_TCP ? 16 : 6));

	*ck = 0;
	if (f->ip4) {
		f->ip4->hdr_checksum = 0;
		f->ip4->hdr_checksum = rte_ipv4_cksum(f->ip4);
		*ck = rte_ipv4_udptcp_cksum(f->ip4, l4);
	} else {
		*ck = rte_ipv6_udptcp_cksum(f->ip6, l4);
	}
}

/* After NAT, checksums computed from scratch must verify. */
static void
assert_checksums_valid(struct frame *f, const struct mg_pkt_info *info)
{
	uint8_t *l4 = frame_at(f, info->l4_off);

	if (f->ip4) {
		assert_int_equal(rte_ipv4_cksum(f->ip4), 0);
		assert_int_equal(rte_ipv4_udptcp_cksum_verify(f->ip4, l4), 0);
	} else {
		assert_int_equal(rte_ipv6_udptcp_cksum_verify(f->ip6, l4), 0);
	}
}

static void
nat_and_check(struct frame *f, bool dst, const uint8_t *addr, uint16_t port)
{
	struct mg_pkt_info info;
	unsigned int alen = f->ip4 ? 4 : 16;

	assert_reason(mg_pkt_parse(f->m, &info), MG_DROP_NONE);
	frame_checksum(f, &info);
	mg_pkt_nat(f->m, &info, dst, addr, rte_cpu_to_be_16(port));
	assert_checksums_valid(f, &info);
	assert_reason(mg_pkt_parse(f->m, &info), MG_DROP_NONE);
	assert_memory_equal(dst ? info.tuple.dst : info.tuple.src, addr, alen);
	assert_int_equal(dst ? info.tuple.dport : info.tuple.sport,
			 rte_cpu_to_be_16(port));
}

static void
test_nat_rewrite(void **state)
{
	static const uint8_t a4[4] = { 198, 19, 1, 7 };
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 };
	uint16_t ports[] = { 1, 8080, 65535 };
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(ports); i++) {
		build_ipv4(&f, IPPROTO_TCP, NULL, 0, 13);
		nat_and_check(&f, true, a4, ports[i]);
		build_ipv4(&f, IPPROTO_UDP, NULL, 0, 9);
		nat_and_check(&f, false, a4, ports[i]);
		build_ipv6(&f, NULL, 0, IPPROTO_TCP, 21);
		nat_and_check(&f, true, a6, ports[i]);
		build_ipv6(&f, NULL, 0, IPPROTO_UDP, 4);
		nat_and_check(&f, false, a6, ports[i]);
	}
}

static struct frame f_rw;

/* mg_pkt_rewrite_diff() with the address's difference taken from the
 * tuple (as a connection keeps it, computed once): the checksums come
 * out valid, with the TTL decremented; the difference of another address
 * would not. */
static void
rewrite_diff_and_check(struct frame *f, bool dst, const uint8_t *addr)
{
	struct mg_pkt_info info;
	uint8_t family = f->ip4 ? 4 : 6;
	unsigned int alen = f->ip4 ? 4 : 16;
	uint8_t orig[16] = { 0 }, other[16] = { 0 };
	uint16_t port = rte_cpu_to_be_16(8443), diff;
	const void *l4;

	assert_reason(mg_pkt_parse(f->m, &info), MG_DROP_NONE);
	frame_checksum(f, &info);
	memcpy(orig, dst ? info.tuple.dst : info.tuple.src, alen);
	diff = mg_cksum_addr_diff(orig, addr, family);
	mg_pkt_rewrite_diff(f->m, &info, dst, addr, port, diff, true);
	assert_checksums_valid(f, &info);
	assert_reason(mg_pkt_parse(f->m, &info), MG_DROP_NONE);
	assert_memory_equal(dst ? info.tuple.dst : info.tuple.src, addr, alen);

	/* back to the first address with the difference of another: the
	 * L4 checksum no longer verifies */
	memcpy(other, addr, alen);
	other[alen - 1] ^= 1;
	mg_pkt_rewrite_diff(f->m, &info, dst, orig, port,
			    mg_cksum_addr_diff(addr, other, family), false);
	l4 = rte_pktmbuf_mtod_offset(f->m, const void *, info.l4_off);
	assert_int_not_equal(f->ip4 ? rte_ipv4_udptcp_cksum_verify(f->ip4, l4)
				    : rte_ipv6_udptcp_cksum_verify(f->ip6, l4),
			     0);
}

static void
test_rewrite_diff(void **state)
{
	static const uint8_t a4[4] = { 198, 19, 1, 7 };
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 };

	(void)state;
	build_ipv4(&f_rw, IPPROTO_TCP, NULL, 0, 13);
	rewrite_diff_and_check(&f_rw, true, a4);
	build_ipv4(&f_rw, IPPROTO_UDP, NULL, 0, 9);
	rewrite_diff_and_check(&f_rw, false, a4);
	build_ipv6(&f_rw, NULL, 0, IPPROTO_TCP, 21);
	rewrite_diff_and_check(&f_rw, true, a6);
	build_ipv6(&f_rw, NULL, 0, IPPROTO_UDP, 4);
	rewrite_diff_and_check(&f_rw, false, a6);
}

/*
 * A segment a Linux stack left for offload (CHECKSUM_PARTIAL: the field
 * holds the folded pseudo-header sum, as rte_ipv4/6_phdr_cksum() make
 * it) is completed in full, and NAT after it yields valid checksums; a
 * complete, a corrupt, a NIC-verified segment and a UDP/IPv4 datagram
 * without a checksum are left as they are.
 */
static void
test_l4_cksum_complete(void **state)
{
	static const uint8_t a4[4] = { 198, 19, 1, 7 };
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct mg_pkt_info info;
	uint16_t *ck, good, partial;
	unsigned int i, v6;
	struct frame f;

	(void)state;
	for (v6 = 0; v6 < 2; v6++)
		for (i = 0; i < RTE_DIM(protos); i++) {
			if (v6)
				build_ipv6(&f, NULL, 0, protos[i], 23);
			else
				build_ipv4(&f, protos[i], NULL, 0, 23);
			assert_reason(mg_pkt_parse(f.m, &info), MG_DROP_NONE);
			frame_checksum(&f, &info);
			ck = (uint16_t *)frame_at(
				&f,
				info.l4_off +
					(protos[i] == IPPROTO_TCP ? 16 : 6));
			good = *ck;
			partial = v6 ? rte_ipv6_phdr_cksum(f.ip6, 0)
				     : rte_ipv4_phdr_cksum(f.ip4, 0);
			assert_int_not_equal(good, partial);

			/* complete already: left alone */
			assert_false(mg_pkt_l4_cksum_complete(f.m, &info));
			assert_int_equal(*ck, good);
			/* corrupt: left for the receiver to refuse */
			*ck = good ^ 0x0101;
			assert_false(mg_pkt_l4_cksum_complete(f.m, &info));
			assert_int_equal(*ck, good ^ 0x0101);
			/* partial, but the NIC vouched for it: left alone */
			*ck = partial;
			f.m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
			assert_false(mg_pkt_l4_cksum_complete(f.m, &info));
			assert_int_equal(*ck, partial);
			f.m->ol_flags &= ~RTE_MBUF_F_RX_L4_CKSUM_MASK;
			/* partial: computed in full */
			assert_true(mg_pkt_l4_cksum_complete(f.m, &info));
			assert_int_equal(*ck, good);
			assert_checksums_valid(&f, &info);
			/* and the NAT's incremental update stays right */
			mg_pkt_nat(f.m, &info, true, v6 ? a6 : a4,
				   rte_cpu_to_be_16(8080));
			assert_checksums_valid(&f, &info);
		}

	/* UDP over IPv4 without a checksum keeps none */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 9);
	assert_reason(mg_pkt_parse(f.m, &info), MG_DROP_NONE);
	f.udp->dgram_cksum = 0;
	assert_false(mg_pkt_l4_cksum_complete(f.m, &info));
	assert_int_equal(f.udp->dgram_cksum, 0);
}

/* UDP over IPv4 without a checksum keeps none. */
static void
test_nat_udp_no_cksum(void **state)
{
	static const uint8_t a4[4] = { 198, 19, 1, 7 };
	struct mg_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 8);
	assert_reason(mg_pkt_parse(f.m, &info), MG_DROP_NONE);
	f.udp->dgram_cksum = 0;
	f.ip4->hdr_checksum = 0;
	f.ip4->hdr_checksum = rte_ipv4_cksum(f.ip4);
	assert_memory_not_equal(info.tuple.dst, a4, 4);
	assert_int_not_equal(info.tuple.dport, rte_cpu_to_be_16(81));
	mg_pkt_nat(f.m, &info, true, a4, rte_cpu_to_be_16(81));
	assert_int_equal(f.udp->dgram_cksum, 0);
	assert_int_equal(rte_ipv4_cksum(f.ip4), 0);
	/* and the rewrite happened */
	assert_reason(mg_pkt_parse(f.m, &info), MG_DROP_NONE);
	assert_memory_equal(info.tuple.dst, a4, 4);
	assert_int_equal(info.tuple.dport, rte_cpu_to_be_16(81));
	assert_int_equal(f.udp->dgram_cksum, 0);
}

/* IPv6 pseudo-header checksum over the upper-layer length, which the
 * rte_ helpers cannot give with extension headers in between. */
static uint16_t
tcp6_cksum_verify(const struct rte_ipv6_hdr *ip, const uint8_t *l4,
		  uint16_t l4_len)
{
	uint32_t sum = rte_raw_cksum(ip->src_addr, 32);

	sum += rte_cpu_to_be_16(IPPROTO_TCP) + rte_cpu_to_be_16(l4_len);
	sum += rte_raw_cksum(l4, l4_len);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A reset made from a data segment: headers kept, payload and options
 * gone, sequence numbers and checksums right, turned around on request. */
static void
reset_and_check(struct frame *f, bool reply)
{
	struct mg_pkt_info before, info;
	const struct rte_tcp_hdr *th;
	uint8_t *l4;

	assert_reason(mg_pkt_parse(f->m, &before), MG_DROP_NONE);
	frame_checksum(f, &before);
	assert_int_equal(
		mg_pkt_tcp_reset(f->m, &before, reply, 0xfffffffe, 12345), 0);
	assert_reason(mg_pkt_parse(f->m, &info), MG_DROP_NONE);
	assert_int_equal(info.payload_len, 0);
	/* options and extension headers are gone: nothing reflected */
	assert_int_equal(info.l4_off, info.l3_off + (f->ip4 ? 20 : 40));
	if (f->ip4)
		assert_int_equal(f->ip4->version_ihl, 0x45);
	assert_int_equal(rte_pktmbuf_pkt_len(f->m), info.l4_off + 20);
	assert_int_equal(info.tcp_flags, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG);
	assert_memory_equal(info.tuple.src,
			    reply ? before.tuple.dst : before.tuple.src, 16);
	assert_memory_equal(info.tuple.dst,
			    reply ? before.tuple.src : before.tuple.dst, 16);
	assert_int_equal(info.tuple.sport,
			 reply ? before.tuple.dport : before.tuple.sport);
	assert_int_equal(info.tuple.dport,
			 reply ? before.tuple.sport : before.tuple.dport);
	l4 = frame_at(f, info.l4_off);
	th = (const struct rte_tcp_hdr *)l4;
	assert_int_equal(rte_be_to_cpu_32(th->sent_seq), 0xfffffffe);
	assert_int_equal(rte_be_to_cpu_32(th->recv_ack), 12345);
	assert_int_equal(th->rx_win, 0);
	if (f->ip4) {
		assert_int_equal(rte_ipv4_cksum(f->ip4), 0);
		assert_int_equal(rte_ipv4_udptcp_cksum_verify(f->ip4, l4), 0);
	} else {
		assert_int_equal(tcp6_cksum_verify(f->ip6, l4, 20), 0);
	}
}

static void
test_tcp_reset(void **state)
{
	static const uint8_t opts[4] = { 1, 1, 1, 0 };
	static const struct ext6 ext[] = { { IPPROTO_HOPOPTS, 0 },
					   { IPPROTO_DSTOPTS, 1 } };
	struct mg_pkt_info info;
	struct frame f;
	unsigned int reply;

	(void)state;
	for (reply = 0; reply < 2; reply++) {
		build_ipv4(&f, IPPROTO_TCP, NULL, 0, 100);
		reset_and_check(&f, reply);
		build_ipv4(&f, IPPROTO_TCP, opts, sizeof(opts), 1);
		reset_and_check(&f, reply);
		build_ipv6(&f, NULL, 0, IPPROTO_TCP, 300);
		reset_and_check(&f, reply);
		build_ipv6(&f, ext, RTE_DIM(ext), IPPROTO_TCP, 7);
		reset_and_check(&f, reply);
		/* TCP options go too, and a VLAN tag stays */
		frame_init(&f);
		put_eth(&f, RTE_ETHER_TYPE_VLAN);
		put_vlan(&f, 42, RTE_ETHER_TYPE_IPV4);
		put_ipv4(&f, IPPROTO_TCP, NULL, 0);
		put_tcp(&f, 8, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
		put_payload(&f, 50);
		frame_seal(&f);
		reset_and_check(&f, reply);
		assert_int_equal(frame_at(&f, 12)[0], 0x81);
	}
	/* not TCP */
	build_ipv4(&f, IPPROTO_UDP, NULL, 0, 10);
	assert_reason(mg_pkt_parse(f.m, &info), MG_DROP_NONE);
	assert_int_equal(mg_pkt_tcp_reset(f.m, &info, false, 1, 2), -EINVAL);
}

/* A TCP segment with @p opts (a multiple of 4 bytes) and a payload,
 * valid checksums; IPv4 unless @p v6. */
static void
build_tcp_opts(struct frame *f, bool v6, const uint8_t *opts, uint8_t opts_len,
	       uint8_t flags)
{
	struct mg_pkt_info info;

	frame_init(f);
	put_eth(f, v6 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4);
	if (v6)
		put_ipv6(f, IPPROTO_TCP);
	else
		put_ipv4(f, IPPROTO_TCP, NULL, 0);
	put_tcp(f, 5 + opts_len / 4, flags);
	if (opts_len != 0) /* memcpy() from NULL is undefined, even of 0 */
		memcpy(frame_at(f, f->l4_off + 20), opts, opts_len);
	put_payload(f, 40);
	frame_seal(f);
	assert_reason(mg_pkt_parse(f->m, &info), MG_DROP_NONE);
	frame_checksum(f, &info);
}

static enum mg_drop_reason
strict(struct frame *f, struct mg_pkt_tcp_ts *ts)
{
	struct mg_pkt_info info;

	assert_reason(mg_pkt_parse(f->m, &info), MG_DROP_NONE);
	return mg_pkt_tcp_strict(f->m, &info, ts);
}

static void
test_tcp_strict(void **state)
{
	/* NOP NOP TS(0x01020304, 0), SACK of one block */
	static const uint8_t plain[24] = {
		1, 1, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0,
		1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2
	};
	static const uint8_t md5[20] = { 19, 18 };
	static const uint8_t bad_len[4] = { 1, 3, 7, 1 };
	static const uint8_t two_ts[20] = { 8, 10, [10] = 8, 10 };
	static const uint8_t after_eol[4] = { 0, 19, 2, 0 };
	static const uint8_t opts4[4] = { 1, 1, 1, 0 };
	static const struct ext6 dst_opts = { IPPROTO_DSTOPTS, 0 };
	struct mg_pkt_tcp_ts ts;
	struct frame f;
	unsigned int v6;

	(void)state;
	for (v6 = 0; v6 < 2; v6++) {
		build_tcp_opts(&f, v6, plain, sizeof(plain), RTE_TCP_ACK_FLAG);
		assert_reason(strict(&f, &ts), MG_DROP_NONE);
		assert_true(ts.present);
		assert_int_equal(ts.val, 0x01020304);
		memset(&ts, 0, sizeof(ts));
		assert_true(mg_pkt_tcp_timestamp(
			f.m,
			&(struct mg_pkt_info){ .l4_off = f.l4_off,
					       .payload_off = f.l4_off + 44 },
			&ts));
		assert_int_equal(ts.val, 0x01020304);
		/* one flipped payload bit: the TCP checksum catches it */
		frame_at(&f, rte_pktmbuf_data_len(f.m) - 1)[0] ^= 0x10;
		assert_reason(strict(&f, &ts), MG_DROP_L4_BAD_CKSUM);
		/* unless the NIC said it was good */
		f.m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		assert_reason(strict(&f, &ts), MG_DROP_NONE);

		build_tcp_opts(&f, v6, NULL, 0, RTE_TCP_ACK_FLAG);
		assert_reason(strict(&f, &ts), MG_DROP_NONE);
		assert_false(ts.present);
		build_tcp_opts(&f, v6, after_eol, sizeof(after_eol),
			       RTE_TCP_ACK_FLAG);
		assert_reason(strict(&f, &ts), MG_DROP_NONE);
		build_tcp_opts(&f, v6, NULL, 0,
			       RTE_TCP_ACK_FLAG | RTE_TCP_URG_FLAG);
		assert_reason(strict(&f, &ts), MG_DROP_L7_AMBIGUOUS);
		build_tcp_opts(&f, v6, md5, sizeof(md5), RTE_TCP_ACK_FLAG);
		assert_reason(strict(&f, &ts), MG_DROP_L7_AMBIGUOUS);
		/* a lenient walk skips it and finds no timestamp */
		assert_false(mg_pkt_tcp_timestamp(
			f.m,
			&(struct mg_pkt_info){ .l4_off = f.l4_off,
					       .payload_off = f.l4_off + 40 },
			&ts));
		build_tcp_opts(&f, v6, bad_len, sizeof(bad_len),
			       RTE_TCP_ACK_FLAG);
		assert_reason(strict(&f, &ts), MG_DROP_L7_AMBIGUOUS);
		build_tcp_opts(&f, v6, two_ts, sizeof(two_ts),
			       RTE_TCP_ACK_FLAG);
		assert_reason(strict(&f, &ts), MG_DROP_L7_AMBIGUOUS);
	}
	/* a bad IPv4 header checksum, caught before the TCP one */
	build_tcp_opts(&f, false, NULL, 0, RTE_TCP_ACK_FLAG);
	f.ip4->time_to_live--;
	assert_reason(strict(&f, &ts), MG_DROP_IPV4_BAD_CKSUM);
	/* IPv4 options and IPv6 extension headers, checksums valid */
	build_ipv4(&f, IPPROTO_TCP, opts4, sizeof(opts4), 20);
	frame_checksum(&f, &(struct mg_pkt_info){ .l4_off = f.l4_off,
						  .tuple.proto = IPPROTO_TCP });
	assert_reason(strict(&f, &ts), MG_DROP_L7_AMBIGUOUS);
	build_ipv6(&f, &dst_opts, 1, IPPROTO_TCP, 20);
	assert_reason(strict(&f, &ts), MG_DROP_L4_BAD_CKSUM);
	f.m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	assert_reason(strict(&f, &ts), MG_DROP_L7_AMBIGUOUS);
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
	assert_int_equal(rte_mempool_in_use_count(pool), 0);
	return 0;
}

#define PKT_TEST(fn) cmocka_unit_test_teardown(fn, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		PKT_TEST(test_multi_seg),
		PKT_TEST(test_runt),
		PKT_TEST(test_vlan_truncated),
		PKT_TEST(test_vlan_too_many),
		PKT_TEST(test_ethertype_unknown),
		PKT_TEST(test_arp_malformed),
		PKT_TEST(test_ipv4_truncated),
		PKT_TEST(test_ipv4_bad_version),
		PKT_TEST(test_ipv4_bad_ihl),
		PKT_TEST(test_ipv4_bad_length),
		PKT_TEST(test_ipv4_bad_options),
		PKT_TEST(test_ipv4_fragment),
		PKT_TEST(test_ipv4_bad_cksum),
		PKT_TEST(test_cksum_l4_as_dpdk),
		PKT_TEST(test_ipv6_truncated),
		PKT_TEST(test_ipv6_bad_version),
		PKT_TEST(test_ipv6_bad_length),
		PKT_TEST(test_ipv6_ext_truncated),
		PKT_TEST(test_ipv6_ext_chain),
		PKT_TEST(test_ipv6_fragment),
		PKT_TEST(test_tcp_truncated),
		PKT_TEST(test_tcp_bad_doff),
		PKT_TEST(test_udp_truncated),
		PKT_TEST(test_udp_bad_length),
		PKT_TEST(test_icmp_truncated),
		PKT_TEST(test_l4_bad_cksum),
		PKT_TEST(test_l4_proto_unknown),
		PKT_TEST(test_esp),
		PKT_TEST(test_tcp4),
		PKT_TEST(test_tcp4_options),
		PKT_TEST(test_udp4),
		PKT_TEST(test_icmp4),
		PKT_TEST(test_ipv6_ext_at_limit),
		PKT_TEST(test_ipv6_l4),
		PKT_TEST(test_vlan_one),
		PKT_TEST(test_vlan_two),
		PKT_TEST(test_vlan_stripped),
		PKT_TEST(test_arp),
		PKT_TEST(test_ethernet_padding),
		PKT_TEST(test_nic_cksum_flags),
		PKT_TEST(test_parse_burst),
		PKT_TEST(test_parse_burst_same),
		PKT_TEST(test_reason_names),
		PKT_TEST(test_drop_stage_add),
		PKT_TEST(test_truncation_sweep),
		PKT_TEST(test_mutations),
		PKT_TEST(test_nat_rewrite),
		PKT_TEST(test_rewrite_diff),
		PKT_TEST(test_l4_cksum_complete),
		PKT_TEST(test_nat_udp_no_cksum),
		PKT_TEST(test_tcp_reset),
		PKT_TEST(test_tcp_strict),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
