/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * libFuzzer target `pkt`: lib/pkt's parser on raw frames (Ethernet, VLAN
 * stacks, ARP, IPv4 and its options, IPv6 and its extension chain, TCP
 * and its options, UDP, ICMP, ESP), then, on an accepted frame, the helpers
 * the worker applies to it: mg_pkt_tcp_strict(), mg_pkt_tcp_timestamp(),
 * mg_pkt_nat() and mg_pkt_tcp_reset() on copies. Each frame lives in a
 * heap buffer of its exact size, so a read past it is an ASan report.
 *
 * Checked besides memory safety: what the parser reports is what the
 * bytes say (offsets, lengths, tuple, flags, re-derived here); the same
 * bytes give the same answer, in a burst (its shortcut for common frames)
 * as alone, and Ethernet padding changes nothing; the
 * strict check refuses exactly the corrupt (checksums summed here) and
 * the ambiguous; NAT rewrites exactly the address and port it is given
 * and leaves checksums valid that were valid (and wrong that were
 * wrong), verified by a full recomputation; a reset parses as a bare
 * RST|ACK with the given numbers and valid checksums.
 *
 * Input: a 28-byte header, then the frame.
 *   [0]      NIC flags: bits 0-1 IP checksum verdict, 2-3 L4 verdict
 *            (unknown, bad, good, none), 4 VLAN stripped, 5 QinQ stripped
 *   [1]      bit 0 NAT the destination (else the source), bit 1 reset
 *            as a reply, bits 2-7 bytes of padding for the padding check
 *   [2..3]   NAT port; [4..19] NAT address; [20..27] reset seq, ack
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "fuzz_common.h"
#include "mg_pkt.h"

#define HDR_LEN	  28
#define FRAME_MAX 9600

struct params {
	uint64_t ol_flags;
	uint16_t vlan_tci, vlan_tci_outer;
	bool nat_dst, reply;
	uint8_t pad;
	uint16_t port; /* network order, as mg_pkt_nat() takes it */
	uint8_t addr[16];
	uint32_t seq, ack;
};

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static struct rte_mbuf *
frame_new(const uint8_t *frame, uint16_t len, const struct params *pr)
{
	struct rte_mbuf *m = fz_mbuf_new(frame, len, 0);

	m->ol_flags = pr->ol_flags;
	m->vlan_tci = pr->vlan_tci;
	m->vlan_tci_outer = pr->vlan_tci_outer;
	return m;
}

static bool
is_vlan(uint16_t t)
{
	return t == RTE_ETHER_TYPE_VLAN || t == RTE_ETHER_TYPE_QINQ ||
	       t == RTE_ETHER_TYPE_QINQ1;
}

/* What an accepted frame's parse must say, re-derived from its bytes. */
static void
check_info(const struct rte_mbuf *m, const struct mg_pkt_info *in)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->data_len, off = RTE_ETHER_HDR_LEN, l4_len = 0, hl;
	uint32_t end, ext;
	unsigned int stripped = 0, tags = 0, i;
	uint16_t type = be16(p + 12);
	const uint8_t *l3, *l4;
	uint8_t proto, frag = 0;
	uint32_t frag_data = 0;

	if (m->ol_flags & RTE_MBUF_F_RX_QINQ_STRIPPED)
		stripped++;
	if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED)
		stripped++;
	while (is_vlan(type)) {
		FZ_CHECK(off + 4 <= len, "accepted tag past the frame");
		type = be16(p + off + 2);
		off += 4;
		tags++;
	}
	FZ_CHECK(in->n_vlans == stripped + tags && in->n_vlans <= 2,
		 "n_vlans %u, stripped %u, in frame %u", in->n_vlans, stripped,
		 tags);
	FZ_CHECK(in->l3_off == off, "l3_off %u, tags end at %u", in->l3_off,
		 off);
	FZ_CHECK(m->l2_len == in->l3_off, "l2_len %u", m->l2_len);
	FZ_CHECK(in->tuple.pad == 0, "tuple pad");
	l3 = p + off;

	if (type == RTE_ETHER_TYPE_ARP) {
		static const struct mg_5tuple zero;

		FZ_CHECK(in->l3 == MG_L3_ARP, "ARP frame parsed as %u", in->l3);
		FZ_CHECK(off + MG_ARP_LEN <= len, "ARP body past the frame");
		FZ_CHECK(be16(l3) == 1 && be16(l3 + 2) == 0x0800 &&
				 l3[4] == 6 && l3[5] == 4,
			 "ARP other than Ethernet/IPv4 accepted");
		FZ_CHECK(in->l4_off == 0 && in->payload_off == 0 &&
				 in->payload_len == 0 && in->tcp_flags == 0,
			 "ARP with L4 offsets");
		FZ_CHECK(memcmp(&in->tuple, &zero, sizeof(zero)) == 0,
			 "ARP with a tuple");
		FZ_CHECK(m->l3_len == MG_ARP_LEN && m->l4_len == 0,
			 "ARP mbuf lengths");
		return;
	}
	if (type == RTE_ETHER_TYPE_IPV4) {
		FZ_CHECK(in->l3 == MG_L3_IPV4 && in->tuple.family == 4,
			 "IPv4 frame parsed as %u/%u", in->l3,
			 in->tuple.family);
		FZ_CHECK(off + 20 <= len && l3[0] >> 4 == 4, "IPv4 header");
		hl = (uint32_t)(l3[0] & 0xf) * 4;
		FZ_CHECK(hl >= 20 && in->l4_off == off + hl,
			 "l4_off %u, IHL %u", in->l4_off, hl);
		FZ_CHECK(be16(l3 + 2) >= hl && off + be16(l3 + 2) <= len,
			 "total length %u", be16(l3 + 2));
		if (be16(l3 + 6) & 0x3fff) {
			frag_data = (be16(l3 + 6) & 0x1fffu) * 8;
			frag = MG_PKT_FRAG |
			       (frag_data == 0 ? MG_PKT_FRAG_FIRST : 0) |
			       (be16(l3 + 6) & 0x2000 ? 0 : MG_PKT_FRAG_LAST);
		}
		FZ_CHECK((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) !=
				 RTE_MBUF_F_RX_IP_CKSUM_BAD,
			 "NIC-flagged bad header accepted");
		FZ_CHECK(memcmp(in->tuple.src, l3 + 12, 4) == 0 &&
				 memcmp(in->tuple.dst, l3 + 16, 4) == 0,
			 "IPv4 addresses");
		for (i = 4; i < 16; i++)
			FZ_CHECK(in->tuple.src[i] == 0 && in->tuple.dst[i] == 0,
				 "IPv4 tuple not zero-padded");
		proto = l3[9];
		l4_len = be16(l3 + 2) - hl;
	} else {
		FZ_CHECK(type == RTE_ETHER_TYPE_IPV6, "ethertype %#x accepted",
			 type);
		FZ_CHECK(in->l3 == MG_L3_IPV6 && in->tuple.family == 6,
			 "IPv6 frame parsed as %u/%u", in->l3,
			 in->tuple.family);
		FZ_CHECK(off + 40 <= len && l3[0] >> 4 == 6, "IPv6 header");
		FZ_CHECK(off + 40 + be16(l3 + 4) <= len, "payload length %u",
			 be16(l3 + 4));
		FZ_CHECK(memcmp(in->tuple.src, l3 + 8, 16) == 0 &&
				 memcmp(in->tuple.dst, l3 + 24, 16) == 0,
			 "IPv6 addresses");
		end = off + 40 + be16(l3 + 4);
		hl = off + 40;
		proto = l3[6];
		for (i = 0;
		     proto == IPPROTO_HOPOPTS || proto == IPPROTO_ROUTING ||
		     proto == IPPROTO_DSTOPTS || proto == IPPROTO_AH;
		     i++) {
			FZ_CHECK(i < MG_PKT_MAX_IPV6_EXT && hl + 2 <= end,
				 "extension header %u accepted", i);
			ext = proto == IPPROTO_AH ? (p[hl + 1] + 2u) * 4
						  : (p[hl + 1] + 1u) * 8;
			FZ_CHECK(hl + ext <= end,
				 "extension header past the payload");
			proto = p[hl];
			hl += ext;
		}
		if (proto == IPPROTO_FRAGMENT) {
			uint16_t fo;

			FZ_CHECK(hl + 8 <= end && in->frag_hdr == hl,
				 "fragment header at %u, parse says %u", hl,
				 in->frag_hdr);
			fo = be16(p + hl + 2);
			proto = p[hl];
			hl += 8;
			/* an atomic fragment (RFC 6946) is a whole packet */
			if (fo & 0xfff9) {
				frag_data = fo & 0xfff8u;
				frag = MG_PKT_FRAG |
				       (frag_data == 0 ? MG_PKT_FRAG_FIRST
						       : 0) |
				       (fo & 1 ? 0 : MG_PKT_FRAG_LAST);
			}
		}
		FZ_CHECK(in->l4_off == hl, "l4_off %u, chain ends at %u",
			 in->l4_off, hl);
		l4_len = end - hl;
	}
	FZ_CHECK(m->l3_len == in->l4_off - in->l3_off, "l3_len %u", m->l3_len);
	FZ_CHECK(in->tuple.proto == proto, "proto %u, header says %u",
		 in->tuple.proto, proto);
	FZ_CHECK(in->frag == frag && (!frag || in->frag_data == frag_data),
		 "fragment flags %#x at %u, header says %#x at %u", in->frag,
		 in->frag_data, frag, frag_data);
	FZ_CHECK(frag_data + l4_len <= UINT16_MAX,
		 "a fragment past 65,535 bytes accepted");
	/* a NIC's verdict on a fragment's L4 checksum means nothing */
	FZ_CHECK(frag || (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) !=
				 RTE_MBUF_F_RX_L4_CKSUM_BAD,
		 "NIC-flagged bad L4 accepted");
	/* lengths come from the IP header: padding is never payload */
	FZ_CHECK(in->payload_off >= in->l4_off &&
			 (uint32_t)in->payload_off + in->payload_len ==
				 (uint32_t)in->l4_off + l4_len &&
			 (uint32_t)in->payload_off + in->payload_len <= len,
		 "payload %u+%u, l4 %u+%u, frame %u", in->payload_off,
		 in->payload_len, in->l4_off, l4_len, len);
	FZ_CHECK(m->l4_len == in->payload_off - in->l4_off, "l4_len %u",
		 m->l4_len);
	l4 = p + in->l4_off;
	if (frag && !(frag & MG_PKT_FRAG_FIRST)) {
		/* a later fragment: data only, no ports */
		FZ_CHECK(in->payload_off == in->l4_off &&
				 in->tuple.sport == 0 && in->tuple.dport == 0 &&
				 in->tcp_flags == 0,
			 "a later fragment with an L4 header");
		FZ_CHECK(proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
				 proto == IPPROTO_ESP ||
				 proto == (in->l3 == MG_L3_IPV4
						   ? IPPROTO_ICMP
						   : IPPROTO_ICMPV6),
			 "protocol %u accepted", proto);
		return;
	}
	switch (proto) {
	case IPPROTO_ESP:
		/* the payload is the whole ESP packet: SPI and sequence
		 * number at least (lib/esp judges the rest) */
		FZ_CHECK(in->payload_off == in->l4_off &&
				 (frag || l4_len >= MG_ESP_HDR_LEN),
			 "ESP of %u bytes, payload at +%u", l4_len,
			 in->payload_off - in->l4_off);
		FZ_CHECK(in->tuple.sport == 0 && in->tuple.dport == 0 &&
				 in->tcp_flags == 0,
			 "ESP with ports or TCP flags");
		break;
	case IPPROTO_TCP:
		hl = (uint32_t)(l4[12] >> 4) * 4;
		FZ_CHECK(hl >= 20 && in->payload_off - in->l4_off == hl,
			 "TCP data offset %u", hl);
		FZ_CHECK(in->tcp_flags == l4[13], "TCP flags");
		FZ_CHECK(memcmp(&in->tuple.sport, l4, 4) == 0, "TCP ports");
		break;
	case IPPROTO_UDP:
		/* a first fragment's UDP length is the datagram's */
		FZ_CHECK(in->payload_off - in->l4_off == 8 &&
				 (frag || be16(l4 + 4) == l4_len),
			 "UDP length %u, IP says %u", be16(l4 + 4), l4_len);
		FZ_CHECK(memcmp(&in->tuple.sport, l4, 4) == 0, "UDP ports");
		FZ_CHECK(in->tcp_flags == 0, "UDP with TCP flags");
		break;
	default:
		FZ_CHECK(proto == (in->l3 == MG_L3_IPV4 ? IPPROTO_ICMP
							: IPPROTO_ICMPV6),
			 "protocol %u accepted", proto);
		FZ_CHECK(in->payload_off - in->l4_off == 8, "ICMP header");
		FZ_CHECK(in->tcp_flags == 0, "ICMP with TCP flags");
		break;
	}
}

/* The strict check's answer, from the bytes: corrupt first, then what a
 * receiver could read otherwise. */
static enum mg_drop_reason
strict_expected(const struct rte_mbuf *m, const struct mg_pkt_info *in)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *o = p + in->l4_off + 20, *end = p + in->payload_off;
	bool v4 = in->l3 == MG_L3_IPV4, ts = false;

	if (v4 &&
	    (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) !=
		    RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    !fz_ip_ok(p, in))
		return MG_DROP_IPV4_BAD_CKSUM;
	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) !=
		    RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
	    !fz_l4_ok(p, in))
		return MG_DROP_L4_BAD_CKSUM;
	if (in->l4_off - in->l3_off != (v4 ? 20 : 40))
		return MG_DROP_L7_AMBIGUOUS;
	if (in->tcp_flags & RTE_TCP_URG_FLAG)
		return MG_DROP_L7_AMBIGUOUS;
	while (o < end && *o != 0) {
		if (*o == 1) {
			o++;
			continue;
		}
		if (end - o < 2 || o[1] < 2 || o[1] > end - o)
			return MG_DROP_L7_AMBIGUOUS;
		if (*o != 2 && *o != 3 && *o != 4 && *o != 5 && *o != 8)
			return MG_DROP_L7_AMBIGUOUS;
		if (*o == 8 && (o[1] != 10 || ts))
			return MG_DROP_L7_AMBIGUOUS;
		ts |= *o == 8;
		o += o[1];
	}
	return MG_DROP_NONE;
}

static void
check_strict(const struct rte_mbuf *m, const struct mg_pkt_info *in)
{
	struct mg_pkt_tcp_ts ts, lenient;
	enum mg_drop_reason r, want;
	bool has;

	r = mg_pkt_tcp_strict(m, in, &ts);
	want = strict_expected(m, in);
	FZ_CHECK(r == want, "strict says %s, the bytes say %s",
		 mg_drop_reason_name(r), mg_drop_reason_name(want));
	has = mg_pkt_tcp_timestamp(m, in, &lenient);
	FZ_CHECK(has == lenient.present, "timestamp return value");
	if (r == MG_DROP_NONE)
		FZ_CHECK(ts.present == lenient.present &&
				 (!ts.present || ts.val == lenient.val),
			 "strict and lenient timestamps differ");
}

static void
check_nat(const uint8_t *frame, uint16_t len, const struct params *pr,
	  const struct mg_pkt_info *in)
{
	struct rte_mbuf *m = frame_new(frame, len, pr);
	unsigned int alen = in->l3 == MG_L3_IPV4 ? 4 : 16;
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *ck = p + in->l4_off + fz_l4_cksum_off(in->tuple.proto);
	bool ip_ok = fz_ip_ok(p, in), l4_ok = fz_l4_ok(p, in);
	bool none = in->l3 == MG_L3_IPV4 && in->tuple.proto == IPPROTO_UDP &&
		    ck[0] == 0 && ck[1] == 0;
	struct mg_pkt_info after;
	struct mg_5tuple want = in->tuple;

	mg_pkt_nat(m, in, pr->nat_dst, pr->addr, pr->port);
	if (pr->nat_dst) {
		memcpy(want.dst, pr->addr, alen);
		want.dport = pr->port;
	} else {
		memcpy(want.src, pr->addr, alen);
		want.sport = pr->port;
	}
	FZ_CHECK(m->data_len == len, "NAT changed the length");
	FZ_CHECK(mg_pkt_parse(m, &after) == MG_DROP_NONE,
		 "NAT made the frame unparseable");
	FZ_CHECK(memcmp(&after.tuple, &want, sizeof(want)) == 0,
		 "NAT rewrote other than the %s address and port",
		 pr->nat_dst ? "destination" : "source");
	FZ_CHECK(after.l4_off == in->l4_off &&
			 after.payload_off == in->payload_off &&
			 after.payload_len == in->payload_len,
		 "NAT moved the headers");
	FZ_CHECK(fz_ip_ok(p, &after) == ip_ok, "IPv4 checksum %s by NAT",
		 ip_ok ? "broken" : "mended");
	FZ_CHECK(fz_l4_ok(p, &after) == l4_ok, "L4 checksum %s by NAT",
		 l4_ok ? "broken" : "mended");
	if (none)
		FZ_CHECK(ck[0] == 0 && ck[1] == 0,
			 "a UDP datagram without a checksum got one");
	else if (in->tuple.proto == IPPROTO_UDP)
		FZ_CHECK(ck[0] != 0 || ck[1] != 0,
			 "a UDP checksum became 'none'");
	fz_mbuf_free(m);
}

static void
check_reset(const uint8_t *frame, uint16_t len, const struct params *pr,
	    const struct mg_pkt_info *in)
{
	struct rte_mbuf *m = frame_new(frame, len, pr);
	bool v4 = in->l3 == MG_L3_IPV4;
	unsigned int alen = v4 ? 4 : 16;
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *), *th;
	struct mg_pkt_info r;
	struct mg_pkt_tcp_ts ts;

	FZ_CHECK(mg_pkt_tcp_reset(m, in, pr->reply, pr->seq, pr->ack) == 0,
		 "reset of a parsed TCP segment refused");
	FZ_CHECK(m->data_len == in->l3_off + (v4 ? 20 : 40) + 20 &&
			 m->pkt_len == m->data_len,
		 "reset length %u", m->data_len);
	FZ_CHECK(memcmp(p, frame, in->l3_off) == 0,
		 "reset changed Ethernet or VLAN bytes");
	FZ_CHECK(mg_pkt_parse(m, &r) == MG_DROP_NONE, "reset unparseable");
	FZ_CHECK(r.l3 == in->l3 && r.tuple.proto == IPPROTO_TCP &&
			 r.l4_off == r.l3_off + (v4 ? 20 : 40) &&
			 r.payload_off == r.l4_off + 20 && r.payload_len == 0,
		 "reset is not a bare TCP segment");
	FZ_CHECK(r.tcp_flags == (RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG),
		 "reset flags %#x", r.tcp_flags);
	FZ_CHECK(memcmp(r.tuple.src, pr->reply ? in->tuple.dst : in->tuple.src,
			alen) == 0 &&
			 memcmp(r.tuple.dst,
				pr->reply ? in->tuple.src : in->tuple.dst,
				alen) == 0 &&
			 r.tuple.sport == (pr->reply ? in->tuple.dport
						     : in->tuple.sport) &&
			 r.tuple.dport == (pr->reply ? in->tuple.sport
						     : in->tuple.dport),
		 "reset addressed wrong (reply %d)", pr->reply);
	th = p + r.l4_off;
	FZ_CHECK(be32(th + 4) == pr->seq && be32(th + 8) == pr->ack,
		 "reset numbers");
	FZ_CHECK(be16(th + 14) == 0 && be16(th + 18) == 0,
		 "reset window or urgent pointer");
	FZ_CHECK(fz_ip_ok(p, &r) && fz_l4_ok(p, &r), "reset checksums");
	/* nothing in it a receiver could read two ways */
	m->ol_flags &=
		~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK);
	FZ_CHECK(mg_pkt_tcp_strict(m, &r, &ts) == MG_DROP_NONE && !ts.present,
		 "reset not strict");
	fz_mbuf_free(m);
}

/* mg_pkt_parse_burst() decides common frames a shorter way of its own:
 * it must come to mg_pkt_parse()'s reason (@p want), info (@p info) and
 * mbuf lengths (@p ref's) on every frame. */
static void
check_burst(const uint8_t *frame, uint16_t len, const struct params *pr,
	    enum mg_drop_reason want, const struct mg_pkt_info *info,
	    const struct rte_mbuf *ref)
{
	struct rte_mbuf *m = frame_new(frame, len, pr);
	struct mg_pkt_info got;
	uint8_t reason = 0xff;

	FZ_CHECK(mg_pkt_parse_burst(&m, 1, &got, &reason) ==
			 (want == MG_DROP_NONE),
		 "burst count");
	FZ_CHECK(reason == want, "the burst says %s, mg_pkt_parse() %s",
		 mg_drop_reason_name(reason), mg_drop_reason_name(want));
	if (want == MG_DROP_NONE)
		FZ_CHECK(memcmp(&got, info, sizeof(got)) == 0 &&
				 m->tx_offload == ref->tx_offload,
			 "the burst parses otherwise than mg_pkt_parse()");
	fz_mbuf_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t padded[FRAME_MAX + 64];
	struct mg_pkt_info info, again;
	const uint8_t *frame = data + HDR_LEN;
	struct params pr;
	struct rte_mbuf *m;
	enum mg_drop_reason r;
	uint16_t len;

	if (size < HDR_LEN || size - HDR_LEN > FRAME_MAX)
		return 0;
	len = (uint16_t)(size - HDR_LEN);
	memset(&pr, 0, sizeof(pr));
	pr.ol_flags = fz_ip_flag(data[0]) | fz_l4_flag(data[0] >> 2);
	if (data[0] & 0x10) {
		pr.ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
		pr.vlan_tci = 100;
	}
	if (data[0] & 0x20) {
		pr.ol_flags |= RTE_MBUF_F_RX_QINQ | RTE_MBUF_F_RX_QINQ_STRIPPED;
		pr.vlan_tci_outer = 200;
	}
	pr.nat_dst = data[1] & 1;
	pr.reply = data[1] & 2;
	pr.pad = data[1] >> 2;
	memcpy(&pr.port, data + 2, 2);
	memcpy(pr.addr, data + 4, 16);
	pr.seq = be32(data + 20);
	pr.ack = be32(data + 24);

	m = frame_new(frame, len, &pr);
	r = mg_pkt_parse(m, &info);
	/* the parser's reasons, the two fragment checks it makes and
	 * ESP's header check */
	FZ_CHECK(r < MG_DROP_TX_FULL || r == MG_DROP_FRAG_TOO_BIG ||
			 r == MG_DROP_FRAG_FIRST_SHORT ||
			 r == MG_DROP_ESP_MALFORMED,
		 "parser gave a later stage's reason %s",
		 mg_drop_reason_name(r));
	FZ_CHECK(strcmp(mg_drop_reason_name(r), "invalid") != 0,
		 "reason %d has no name", r);
	FZ_CHECK(memcmp(rte_pktmbuf_mtod(m, const uint8_t *), frame, len) == 0,
		 "the parser wrote to the frame");
	check_burst(frame, len, &pr, r, &info, m);
	if (r != MG_DROP_NONE) {
		fz_mbuf_free(m);
		return 0;
	}
	check_info(m, &info);
	fz_mbuf_free(m);

	/* padding after the IP packet is not part of it */
	memcpy(padded, frame, len);
	memset(padded + len, 0x5a, pr.pad);
	m = frame_new(padded, (uint16_t)(len + pr.pad), &pr);
	FZ_CHECK(mg_pkt_parse(m, &again) == MG_DROP_NONE &&
			 memcmp(&info, &again, sizeof(info)) == 0,
		 "%u bytes of padding changed the parse", pr.pad);
	fz_mbuf_free(m);

	/* fragments are reassembled before anything reads or rewrites
	 * their transport header */
	if (info.frag != 0)
		return 0;
	if (info.tuple.proto == IPPROTO_TCP) {
		m = frame_new(frame, len, &pr);
		check_strict(m, &info);
		fz_mbuf_free(m);
		check_reset(frame, len, &pr, &info);
	}
	if (info.tuple.proto == IPPROTO_TCP || info.tuple.proto == IPPROTO_UDP)
		check_nat(frame, len, &pr, &info);
	return 0;
}
