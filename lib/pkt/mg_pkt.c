/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Single-pass parser: Ethernet, VLAN, ARP/IPv4/IPv6 and TCP/UDP/ICMP of one
 * frame, every read bounds-checked against the mbuf's data length.
 */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_arp.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "mg_pkt.h"

/* Ethernet/IPv4 ARP: 8 bytes of header, two MAC + IPv4 address pairs. */
#define ARP_HLEN_ETHER 6
#define ARP_PLEN_IPV4  4

/* ICMP and ICMPv6 share the 8-byte type/code/cksum/ident/seq layout. */
/* TTL / hop limit of what the gateway sends on its own account. */
#define REPLY_TTL    64
#define ICMP_HDR_LEN 8

/* m->l3_len is a bitfield; a longer IPv6 chain cannot be described. */
#define MBUF_L3_LEN_MAX ((1u << RTE_MBUF_L3_LEN_BITS) - 1)

static_assert(sizeof(struct mg_pkt_info) % 8 == 0,
	      "tuples in an array of results stay 8-byte aligned");
/* A NIC may strip two tags before parse_l2() looks at the frame. */
static_assert(MG_PKT_MAX_VLANS >= 2, "room for both stripped tags");

/*
 * Ethernet and ARP fields are loaded byte-wise: rte_ether_hdr and
 * rte_arp_hdr promise 2-byte alignment, which an mbuf trimmed by an odd
 * amount does not give.
 */
static inline uint16_t
load_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline bool
is_vlan_tpid(uint16_t type)
{
	return type == RTE_ETHER_TYPE_VLAN || type == RTE_ETHER_TYPE_QINQ ||
	       type == RTE_ETHER_TYPE_QINQ1;
}

/* The NIC verdicts are two-bit fields: "none" sets both bits. */
static inline bool
ip_cksum_bad(uint64_t ol_flags)
{
	return (ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) ==
	       RTE_MBUF_F_RX_IP_CKSUM_BAD;
}

static inline bool
l4_cksum_bad(uint64_t ol_flags)
{
	return (ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
	       RTE_MBUF_F_RX_L4_CKSUM_BAD;
}

static inline enum mg_drop_reason
parse_l2(const struct rte_mbuf *m, const uint8_t *p, uint32_t len,
	 struct mg_pkt_info *info, uint16_t *ethertype)
{
	uint32_t off = RTE_ETHER_HDR_LEN;
	uint16_t type = load_be16(p + off - RTE_ETHER_TYPE_LEN);
	unsigned int n = 0;

	/* Stripped tags were the outermost ones, so they are listed first. */
	if (unlikely(m->ol_flags & RTE_MBUF_F_RX_QINQ_STRIPPED))
		info->vlan_tci[n++] = m->vlan_tci_outer;
	if (unlikely(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED))
		info->vlan_tci[n++] = m->vlan_tci;

	while (unlikely(is_vlan_tpid(type))) {
		if (unlikely(n == MG_PKT_MAX_VLANS))
			return MG_DROP_VLAN_TOO_MANY;
		if (unlikely(len - off < sizeof(struct rte_vlan_hdr)))
			return MG_DROP_VLAN_TRUNCATED;
		info->vlan_tci[n++] = load_be16(p + off);
		type = load_be16(p + off + 2);
		off += sizeof(struct rte_vlan_hdr);
	}

	info->n_vlans = n;
	info->l3_off = off;
	*ethertype = type;
	return MG_DROP_NONE;
}

/* l4_off and the payload stay zero: ARP has neither. */
static inline enum mg_drop_reason
parse_arp(struct rte_mbuf *m, const uint8_t *p, uint32_t len,
	  struct mg_pkt_info *info)
{
	const uint8_t *arp = p + info->l3_off;

	if (unlikely(len - info->l3_off < MG_ARP_LEN))
		return MG_DROP_ARP_MALFORMED;
	if (unlikely(load_be16(arp) != RTE_ARP_HRD_ETHER ||
		     load_be16(arp + 2) != MG_ARP_PTYPE_IPV4 ||
		     arp[4] != ARP_HLEN_ETHER || arp[5] != ARP_PLEN_IPV4))
		return MG_DROP_ARP_MALFORMED;

	info->l3 = MG_L3_ARP;
	m->l2_len = info->l3_off;
	m->l3_len = MG_ARP_LEN;
	m->l4_len = 0;
	return MG_DROP_NONE;
}

/* Options are only walked to prove they stay inside the header. */
static bool
ipv4_options_ok(const uint8_t *opt, uint32_t len)
{
	uint32_t i = 0;

	while (i < len) {
		if (opt[i] == RTE_IPV4_HDR_OPT_EOL)
			return true;
		if (opt[i] == RTE_IPV4_HDR_OPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2 || opt[i + 1] < 2 || opt[i + 1] > len - i)
			return false;
		i += opt[i + 1];
	}
	return true;
}

/*
 * L4 parsers. @l4_len is the L4 length the IP header gives (for a first
 * fragment, the fragment's data), @room how much of it the first
 * segment holds: headers must lie there. A first fragment too short for
 * its header is FRAG_FIRST_SHORT, not truncated: the rest may exist.
 */
static inline enum mg_drop_reason
short_l4(bool frag, enum mg_drop_reason whole)
{
	return frag ? MG_DROP_FRAG_FIRST_SHORT : whole;
}

static inline enum mg_drop_reason
parse_tcp(const uint8_t *l4, uint32_t l4_len, uint32_t room, bool frag,
	  struct mg_pkt_info *info, uint32_t *hdr_len)
{
	const struct rte_tcp_hdr *th = (const struct rte_tcp_hdr *)l4;
	uint32_t hl;

	if (unlikely(l4_len < sizeof(*th)))
		return short_l4(frag, MG_DROP_TCP_TRUNCATED);
	if (unlikely(room < sizeof(*th)))
		return MG_DROP_MULTI_SEG;
	hl = (uint32_t)(th->data_off >> 4) * 4;
	if (unlikely(hl < sizeof(*th)))
		return MG_DROP_TCP_BAD_DOFF;
	if (unlikely(hl > l4_len))
		return short_l4(frag, MG_DROP_TCP_BAD_DOFF);
	if (unlikely(hl > room))
		return MG_DROP_MULTI_SEG;

	info->tuple.sport = th->src_port;
	info->tuple.dport = th->dst_port;
	info->tcp_flags = th->tcp_flags;
	*hdr_len = hl;
	return MG_DROP_NONE;
}

static inline enum mg_drop_reason
parse_udp(const uint8_t *l4, uint32_t l4_len, uint32_t room, bool frag,
	  struct mg_pkt_info *info, uint32_t *hdr_len)
{
	const struct rte_udp_hdr *uh = (const struct rte_udp_hdr *)l4;

	if (unlikely(l4_len < sizeof(*uh)))
		return short_l4(frag, MG_DROP_UDP_TRUNCATED);
	if (unlikely(room < sizeof(*uh)))
		return MG_DROP_MULTI_SEG;
	/* a fragment's length is checked once the datagram is whole */
	if (unlikely(!frag && rte_be_to_cpu_16(uh->dgram_len) != l4_len))
		return MG_DROP_UDP_BAD_LENGTH;

	info->tuple.sport = uh->src_port;
	info->tuple.dport = uh->dst_port;
	*hdr_len = sizeof(*uh);
	return MG_DROP_NONE;
}

/* ESP (RFC 4303): the SPI and sequence number must be there; the rest
 * is lib/esp's to judge, and only for the gateway's tunnel endpoints.
 * The payload is the whole ESP packet, from its header. */
static inline enum mg_drop_reason
parse_esp(uint32_t l4_len, uint32_t room, bool frag, uint32_t *hdr_len)
{
	if (unlikely(l4_len < MG_ESP_HDR_LEN))
		return short_l4(frag, MG_DROP_ESP_MALFORMED);
	if (unlikely(room < MG_ESP_HDR_LEN))
		return MG_DROP_MULTI_SEG;
	*hdr_len = 0;
	return MG_DROP_NONE;
}

/* Echo identifiers stand in for ports so that pings spread like flows. */
static inline enum mg_drop_reason
parse_icmp(const uint8_t *l4, uint32_t l4_len, uint32_t room, bool frag,
	   bool is_v6, struct mg_pkt_info *info, uint32_t *hdr_len)
{
	const struct rte_icmp_hdr *ih = (const struct rte_icmp_hdr *)l4;
	bool echo;

	if (unlikely(l4_len < ICMP_HDR_LEN))
		return short_l4(frag, MG_DROP_ICMP_TRUNCATED);
	if (unlikely(room < ICMP_HDR_LEN))
		return MG_DROP_MULTI_SEG;

	if (is_v6)
		echo = ih->icmp_type == MG_ICMP6_ECHO_REQUEST ||
		       ih->icmp_type == MG_ICMP6_ECHO_REPLY;
	else
		echo = ih->icmp_type == RTE_IP_ICMP_ECHO_REQUEST ||
		       ih->icmp_type == RTE_IP_ICMP_ECHO_REPLY;
	if (echo) {
		info->tuple.sport = ih->icmp_ident;
		info->tuple.dport = ih->icmp_ident;
	}
	*hdr_len = ICMP_HDR_LEN;
	return MG_DROP_NONE;
}

/*
 * @l4_len comes from the IP header, so Ethernet padding never counts;
 * @seg is the first segment's length. A later fragment has no L4 header
 * to parse: its data starts at @l4_off.
 */
static inline enum mg_drop_reason
parse_l4(const struct rte_mbuf *m, const uint8_t *p, uint32_t seg,
	 uint32_t l4_off, uint32_t l4_len, uint8_t proto, bool is_v6,
	 struct mg_pkt_info *info)
{
	const uint8_t *l4 = p + l4_off;
	uint32_t room = seg > l4_off ? seg - l4_off : 0;
	bool frag = info->frag != 0;
	enum mg_drop_reason r = MG_DROP_NONE;
	uint32_t hl = 0;

	if (unlikely(frag && !(info->frag & MG_PKT_FRAG_FIRST))) {
		if (unlikely(proto != IPPROTO_TCP && proto != IPPROTO_UDP &&
			     proto != IPPROTO_ESP &&
			     proto != (is_v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)))
			return MG_DROP_L4_PROTO_UNKNOWN;
	} else if (likely(proto == IPPROTO_TCP)) {
		r = parse_tcp(l4, l4_len, room, frag, info, &hl);
	} else if (likely(proto == IPPROTO_UDP)) {
		r = parse_udp(l4, l4_len, room, frag, info, &hl);
	} else if (proto == (is_v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
		r = parse_icmp(l4, l4_len, room, frag, is_v6, info, &hl);
	} else if (proto == IPPROTO_ESP) {
		r = parse_esp(l4_len, room, frag, &hl);
	} else {
		return MG_DROP_L4_PROTO_UNKNOWN;
	}
	if (likely(!frag) || (info->frag & MG_PKT_FRAG_FIRST)) {
		if (unlikely(r != MG_DROP_NONE))
			return r;
		/* a NIC verdict on a fragment's L4 checksum means nothing */
		if (unlikely(!frag && l4_cksum_bad(m->ol_flags)))
			return MG_DROP_L4_BAD_CKSUM;
	}

	info->tuple.proto = proto;
	info->l4_off = l4_off;
	info->payload_off = l4_off + hl;
	info->payload_len = l4_len - hl;
	return MG_DROP_NONE;
}

/* A fragment's place in its datagram (@data_off .. + @len); the datagram
 * may not exceed 65,535 bytes (RFC 791; RFC 8200 4.5, RFC 2460's limit
 * on reassembled payload). */
static inline enum mg_drop_reason
frag_mark(struct mg_pkt_info *info, uint32_t data_off, uint32_t len, bool more)
{
	if (unlikely(data_off + len > UINT16_MAX))
		return MG_DROP_FRAG_TOO_BIG;
	info->frag = MG_PKT_FRAG | (data_off == 0 ? MG_PKT_FRAG_FIRST : 0) |
		     (more ? 0 : MG_PKT_FRAG_LAST);
	info->frag_data = (uint16_t)data_off;
	return MG_DROP_NONE;
}

static inline enum mg_drop_reason
parse_ipv4(const struct rte_mbuf *m, const uint8_t *p, uint32_t seg,
	   uint32_t len, struct mg_pkt_info *info)
{
	uint32_t off = info->l3_off;
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(p + off);
	uint32_t avail = len - off;
	uint32_t hl, total;
	enum mg_drop_reason r;
	uint16_t frag;

	if (unlikely(avail < sizeof(*ip)))
		return MG_DROP_IPV4_TRUNCATED;
	if (unlikely(seg - off < sizeof(*ip)))
		return MG_DROP_MULTI_SEG;
	if (unlikely(ip->version_ihl >> 4 != 4))
		return MG_DROP_IPV4_BAD_VERSION;
	hl = (uint32_t)(ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) *
	     RTE_IPV4_IHL_MULTIPLIER;
	if (unlikely(hl < sizeof(*ip) || hl > avail))
		return MG_DROP_IPV4_BAD_IHL;
	if (unlikely(hl > seg - off))
		return MG_DROP_MULTI_SEG;
	total = rte_be_to_cpu_16(ip->total_length);
	if (unlikely(total < hl || total > avail))
		return MG_DROP_IPV4_BAD_LENGTH;
	if (unlikely(hl > sizeof(*ip)) &&
	    !ipv4_options_ok((const uint8_t *)(ip + 1), hl - sizeof(*ip)))
		return MG_DROP_IPV4_BAD_OPTIONS;
	if (unlikely(ip_cksum_bad(m->ol_flags)))
		return MG_DROP_IPV4_BAD_CKSUM;
	frag = rte_be_to_cpu_16(ip->fragment_offset);
	if (unlikely(frag &
		     (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
		r = frag_mark(info,
			      (uint32_t)(frag & RTE_IPV4_HDR_OFFSET_MASK) *
				      RTE_IPV4_HDR_OFFSET_UNITS,
			      total, frag & RTE_IPV4_HDR_MF_FLAG);
		if (unlikely(r != MG_DROP_NONE))
			return r;
	}

	/* The other 12 bytes stay zero so tuples hash as raw bytes. */
	memcpy(info->tuple.src, &ip->src_addr, sizeof(ip->src_addr));
	memcpy(info->tuple.dst, &ip->dst_addr, sizeof(ip->dst_addr));
	info->tuple.family = 4;
	info->l3 = MG_L3_IPV4;
	return parse_l4(m, p, seg, off + hl, total - hl, ip->next_proto_id,
			false, info);
}

static inline bool
is_ipv6_ext(uint8_t nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_DSTOPTS || nh == IPPROTO_AH;
}

/* IPv6 fragment header: next header, reserved, offset | M, id. */
#define IPV6_FRAG_HDR	   8
#define IPV6_FRAG_OFF_MASK 0xfff8
#define IPV6_FRAG_MORE	   0x0001

static inline enum mg_drop_reason
parse_ipv6(const struct rte_mbuf *m, const uint8_t *p, uint32_t seg,
	   uint32_t len, struct mg_pkt_info *info)
{
	uint32_t off = info->l3_off;
	const struct rte_ipv6_hdr *ip6 = (const struct rte_ipv6_hdr *)(p + off);
	uint32_t avail = len - off;
	uint32_t end, l4_off, hdr_end;
	unsigned int n_ext = 0;
	enum mg_drop_reason r;
	uint8_t nh;

	if (unlikely(avail < sizeof(*ip6)))
		return MG_DROP_IPV6_TRUNCATED;
	if (unlikely(seg - off < sizeof(*ip6)))
		return MG_DROP_MULTI_SEG;
	if (unlikely(p[off] >> 4 != 6))
		return MG_DROP_IPV6_BAD_VERSION;
	end = sizeof(*ip6) + rte_be_to_cpu_16(ip6->payload_len);
	if (unlikely(end > avail))
		return MG_DROP_IPV6_BAD_LENGTH;
	end += off;
	/* extension headers are read from the first segment only */
	hdr_end = RTE_MIN(end, seg);

	l4_off = off + sizeof(*ip6);
	nh = ip6->proto;
	while (unlikely(is_ipv6_ext(nh))) {
		const uint8_t *ext = p + l4_off;
		uint32_t ext_len;

		if (unlikely(++n_ext > MG_PKT_MAX_IPV6_EXT))
			return MG_DROP_IPV6_EXT_CHAIN;
		if (unlikely(end - l4_off < 2))
			return MG_DROP_IPV6_EXT_TRUNCATED;
		if (unlikely(hdr_end - l4_off < 2))
			return MG_DROP_MULTI_SEG;
		/* AH counts 4-byte words (RFC 4302), the rest 8-byte units. */
		if (nh == IPPROTO_AH)
			ext_len = ((uint32_t)ext[1] + 2) * 4;
		else
			ext_len = ((uint32_t)ext[1] + 1) * 8;
		if (unlikely(ext_len > end - l4_off))
			return MG_DROP_IPV6_EXT_TRUNCATED;
		if (unlikely(ext_len > hdr_end - l4_off))
			return MG_DROP_MULTI_SEG;
		nh = ext[0];
		l4_off += ext_len;
	}
	if (unlikely(nh == IPPROTO_FRAGMENT)) {
		const uint8_t *fh = p + l4_off;
		uint16_t fo;

		if (unlikely(end - l4_off < IPV6_FRAG_HDR))
			return MG_DROP_IPV6_EXT_TRUNCATED;
		if (unlikely(hdr_end - l4_off < IPV6_FRAG_HDR))
			return MG_DROP_MULTI_SEG;
		fo = load_be16(fh + 2);
		info->frag_hdr = (uint16_t)l4_off;
		nh = fh[0];
		l4_off += IPV6_FRAG_HDR;
		/* an atomic fragment is a whole packet (RFC 6946) */
		if (fo & (IPV6_FRAG_OFF_MASK | IPV6_FRAG_MORE)) {
			r = frag_mark(info, fo & IPV6_FRAG_OFF_MASK,
				      end - l4_off, fo & IPV6_FRAG_MORE);
			if (unlikely(r != MG_DROP_NONE))
				return r;
		}
		/* nothing but the upper layer may follow in a fragment */
		if (unlikely(is_ipv6_ext(nh) || nh == IPPROTO_FRAGMENT))
			return MG_DROP_IPV6_EXT_CHAIN;
	}
	/* Refuse what m->l3_len would silently truncate for TX offloads. */
	if (unlikely(l4_off - off > MBUF_L3_LEN_MAX))
		return MG_DROP_IPV6_EXT_CHAIN;

	memcpy(info->tuple.src, ip6->src_addr, sizeof(ip6->src_addr));
	memcpy(info->tuple.dst, ip6->dst_addr, sizeof(ip6->dst_addr));
	info->tuple.family = 6;
	info->l3 = MG_L3_IPV6;
	return parse_l4(m, p, seg, l4_off, end - l4_off, nh, true, info);
}

static inline enum mg_drop_reason
pkt_parse(struct rte_mbuf *m, struct mg_pkt_info *info)
{
	const uint8_t *p;
	enum mg_drop_reason r;
	uint32_t seg, len;
	uint16_t type;

	p = rte_pktmbuf_mtod(m, const uint8_t *);
	seg = rte_pktmbuf_data_len(m);
	len = rte_pktmbuf_pkt_len(m);
	if (unlikely(len < RTE_ETHER_HDR_LEN))
		return MG_DROP_RUNT;
	if (unlikely(seg < RTE_ETHER_HDR_LEN || seg > len))
		return MG_DROP_MULTI_SEG;

	memset(info, 0, sizeof(*info));
	r = parse_l2(m, p, seg, info, &type);
	if (unlikely(r != MG_DROP_NONE))
		return r;

	if (likely(type == RTE_ETHER_TYPE_IPV4))
		r = parse_ipv4(m, p, seg, len, info);
	else if (likely(type == RTE_ETHER_TYPE_IPV6))
		r = parse_ipv6(m, p, seg, len, info);
	else if (type == RTE_ETHER_TYPE_ARP)
		return parse_arp(m, p, seg, info);
	else
		return MG_DROP_ETHERTYPE_UNKNOWN;
	if (unlikely(r != MG_DROP_NONE))
		return r;

	m->l2_len = info->l3_off;
	m->l3_len = info->l4_off - info->l3_off;
	m->l4_len = info->payload_off - info->l4_off;
	return MG_DROP_NONE;
}

/*
 * The common frame, decided in one go: untagged Ethernet, IPv4 without
 * options, not a fragment, TCP or UDP, every byte in the first segment,
 * and no NIC verdict to honour (a stripped tag, a checksum flagged bad
 * or "none"). Each test here is one of those pkt_parse() makes, in a
 * cheaper form where the others imply it (a segment that holds the whole
 * frame holds every header the IP length covers); the results are
 * pkt_parse()'s, byte for byte (test_pkt.c compares the two on every
 * frame it builds). Anything else — and anything pkt_parse() would
 * refuse — returns false with nothing written, for pkt_parse() to walk
 * and name the reason.
 */
#define FAST_OL_FLAGS                                                          \
	(RTE_MBUF_F_RX_QINQ_STRIPPED | RTE_MBUF_F_RX_VLAN_STRIPPED |           \
	 RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_BAD)
#define FAST_IPV4_HLEN sizeof(struct rte_ipv4_hdr)
#define FAST_MIN_TOTAL (FAST_IPV4_HLEN + sizeof(struct rte_udp_hdr))
/* m->l2_len, l3_len and l4_len within m->tx_offload */
#define TX_LENS_MASK                                                           \
	rte_mbuf_tx_offload(RTE_LEN2MASK(RTE_MBUF_L2_LEN_BITS, uint64_t),      \
			    RTE_LEN2MASK(RTE_MBUF_L3_LEN_BITS, uint64_t),      \
			    RTE_LEN2MASK(RTE_MBUF_L4_LEN_BITS, uint64_t), 0,   \
			    0, 0, 0)

static __rte_always_inline bool
parse_fast(struct rte_mbuf *m, struct mg_pkt_info *info)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *ip = p + RTE_ETHER_HDR_LEN;
	const uint8_t *l4 = ip + FAST_IPV4_HLEN;
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint32_t total, l4_len, hl;
	uint16_t type, frag;
	uint8_t proto, flags;

	if (unlikely((m->ol_flags & FAST_OL_FLAGS) != 0 ||
		     rte_pktmbuf_data_len(m) != len ||
		     len < RTE_ETHER_HDR_LEN + FAST_MIN_TOTAL))
		return false;
	memcpy(&type, p + RTE_ETHER_HDR_LEN - RTE_ETHER_TYPE_LEN, 2);
	memcpy(&frag, ip + offsetof(struct rte_ipv4_hdr, fragment_offset), 2);
	total = load_be16(ip + offsetof(struct rte_ipv4_hdr, total_length));
	/* version 4, IHL 5 */
	if (unlikely(type != RTE_BE16(RTE_ETHER_TYPE_IPV4) || ip[0] != 0x45 ||
		     total < FAST_MIN_TOTAL ||
		     total > len - RTE_ETHER_HDR_LEN ||
		     (frag & RTE_BE16(RTE_IPV4_HDR_MF_FLAG |
				      RTE_IPV4_HDR_OFFSET_MASK)) != 0))
		return false;
	l4_len = total - FAST_IPV4_HLEN;
	proto = ip[offsetof(struct rte_ipv4_hdr, next_proto_id)];
	if (likely(proto == IPPROTO_TCP)) {
		/* the data offset lies within the frame only then */
		if (unlikely(l4_len < sizeof(struct rte_tcp_hdr)))
			return false;
		hl = (uint32_t)(l4[offsetof(struct rte_tcp_hdr, data_off)] >>
				4) *
		     4;
		if (unlikely(hl < sizeof(struct rte_tcp_hdr) || hl > l4_len))
			return false;
		flags = l4[offsetof(struct rte_tcp_hdr, tcp_flags)];
	} else if (likely(proto == IPPROTO_UDP)) {
		if (unlikely(load_be16(l4 + offsetof(struct rte_udp_hdr,
						     dgram_len)) != l4_len))
			return false;
		hl = sizeof(struct rte_udp_hdr);
		flags = 0;
	} else {
		return false;
	}

	memset(info, 0, sizeof(*info));
	memcpy(info->tuple.src, ip + offsetof(struct rte_ipv4_hdr, src_addr),
	       4);
	memcpy(info->tuple.dst, ip + offsetof(struct rte_ipv4_hdr, dst_addr),
	       4);
	/* source and destination port, as TCP and UDP both start */
	memcpy(&info->tuple.sport, l4, 4);
	info->tuple.proto = proto;
	info->tuple.family = 4;
	info->l3_off = RTE_ETHER_HDR_LEN;
	info->l4_off = RTE_ETHER_HDR_LEN + FAST_IPV4_HLEN;
	info->payload_off = (uint16_t)(RTE_ETHER_HDR_LEN + FAST_IPV4_HLEN + hl);
	info->payload_len = (uint16_t)(l4_len - hl);
	info->l3 = MG_L3_IPV4;
	info->tcp_flags = flags;
	m->tx_offload = (m->tx_offload & ~TX_LENS_MASK) |
			rte_mbuf_tx_offload(RTE_ETHER_HDR_LEN, FAST_IPV4_HLEN,
					    hl, 0, 0, 0, 0);
	return true;
}

enum mg_drop_reason
mg_pkt_parse(struct rte_mbuf *m, struct mg_pkt_info *info)
{
	return pkt_parse(m, info);
}

uint16_t
mg_pkt_parse_burst(struct rte_mbuf **pkts, uint16_t n, struct mg_pkt_info *info,
		   uint8_t *reasons)
{
	uint16_t i, accepted = 0;

	for (i = 0; i < n; i++) {
		if (likely(i + 1 < n))
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (likely(parse_fast(pkts[i], &info[i])))
			reasons[i] = MG_DROP_NONE;
		else
			reasons[i] = pkt_parse(pkts[i], &info[i]);
		accepted += reasons[i] == MG_DROP_NONE;
	}
	return accepted;
}

uint16_t
mg_cksum_adjust(uint16_t cksum, const void *old, const void *new,
		unsigned int len)
{
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), byte order agnostic */
	return mg_cksum_apply(cksum, mg_cksum_diff(old, new, len));
}

/*
 * A partial sum as __rte_raw_cksum() gives it (congruent modulo 0xffff,
 * which is all __rte_raw_cksum_reduce() needs), 8 bytes a step with an
 * end-around carry (RFC 1071: any word size works, 2^64 is 1 modulo
 * 0xffff): DPDK 22.11 adds 2 bytes a step, about 350 instructions for
 * the 150-byte segment that layer-7 inspection verifies before it
 * reads it.
 */
static inline uint32_t
raw_sum(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = sum, q;
	uint32_t w;
	uint16_t h;
	size_t i;

	for (i = 0; i + sizeof(q) <= len; i += sizeof(q)) {
		memcpy(&q, p + i, sizeof(q));
		acc += q;
		acc += acc < q;
	}
	if (len & 4) {
		memcpy(&w, p + i, sizeof(w));
		acc += w;
		acc += acc < w;
		i += sizeof(w);
	}
	if (len & 2) {
		memcpy(&h, p + i, sizeof(h));
		acc += h;
		acc += acc < h;
		i += sizeof(h);
	}
	if (len & 1) {
		/* the byte first in memory, as __rte_raw_cksum() has it */
		h = 0;
		memcpy(&h, p + i, 1);
		acc += h;
		acc += acc < h;
	}
	/* 2^32 and 2^16 are 1 modulo 0xffff: folded below 2^17, so that
	 * the caller may go on adding to it as to a 16-bit step's sum */
	acc = (acc & UINT32_MAX) + (acc >> 32);
	acc = (acc & UINT32_MAX) + (acc >> 32);
	acc = (acc & UINT16_MAX) + (acc >> 16);
	return (uint32_t)((acc & UINT16_MAX) + (acc >> 16));
}

uint16_t
mg_cksum_l4(const void *addrs, unsigned int alen, uint8_t proto, const void *l4,
	    uint16_t len)
{
	uint32_t sum;

	sum = raw_sum(addrs, 2 * alen, 0);
	sum += rte_cpu_to_be_16(proto);
	sum += rte_cpu_to_be_16(len);
	sum = raw_sum(l4, len, sum);
	return __rte_raw_cksum_reduce(sum);
}

/* The TCP sum of a segment whose IP header starts at @p l3. */
static inline uint16_t
tcp_sum(const uint8_t *l3, bool v4, const void *l4, uint16_t l4_len)
{
	return mg_cksum_l4(l3 + (v4 ? 12 : 8), v4 ? 4 : 16, IPPROTO_TCP, l4,
			   l4_len);
}

/* The TCP or UDP sum of a message that may continue in further
 * segments. */
static inline uint16_t
l4_sum_mbuf(const struct rte_mbuf *m, const uint8_t *l3, bool v4, uint8_t proto,
	    uint32_t l4_off, uint16_t l4_len)
{
	uint16_t part = 0;
	uint32_t sum;

	if (likely(m->nb_segs == 1))
		return mg_cksum_l4(
			l3 + (v4 ? 12 : 8), v4 ? 4 : 16, proto,
			rte_pktmbuf_mtod_offset(m, const void *, l4_off),
			l4_len);
	sum = __rte_raw_cksum(l3 + (v4 ? 12 : 8), v4 ? 8 : 32, 0);
	sum += rte_cpu_to_be_16(proto);
	sum += rte_cpu_to_be_16(l4_len);
	/* the folded, not inverted, sum of the segments' bytes */
	rte_raw_cksum_mbuf(m, l4_off, l4_len, &part);
	return __rte_raw_cksum_reduce(sum + part);
}

/* The folded sum (not inverted) of an upper-layer pseudo-header. */
static inline uint16_t
pseudo_sum(const uint8_t *l3, bool v4, uint8_t proto, uint16_t l4_len)
{
	uint32_t sum = __rte_raw_cksum(l3 + (v4 ? 12 : 8), v4 ? 8 : 32, 0);

	sum += rte_cpu_to_be_16(proto);
	sum += rte_cpu_to_be_16(l4_len);
	return __rte_raw_cksum_reduce(sum);
}

/* Two 16-bit ones' complement values are equal (0 and 0xffff are both
 * zero). */
static inline bool
cksum_equal(uint16_t a, uint16_t b)
{
	return a == b || ((a == 0 || a == 0xffff) && (b == 0 || b == 0xffff));
}

bool
mg_pkt_l4_cksum_complete(struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	uint8_t proto = info->tuple.proto;
	bool v4 = info->l3 == MG_L3_IPV4;
	uint16_t l4_len, ck, field, *fp;
	const uint8_t *l3;

	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) ||
	    (info->l3 != MG_L3_IPV4 && info->l3 != MG_L3_IPV6) ||
	    info->frag != 0 ||
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
		    RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return false;
	l3 = rte_pktmbuf_mtod_offset(m, const uint8_t *, info->l3_off);
	fp = rte_pktmbuf_mtod_offset(
		m, uint16_t *, info->l4_off + (proto == IPPROTO_TCP ? 16 : 6));
	l4_len = (uint16_t)(info->payload_off + info->payload_len -
			    info->l4_off);
	memcpy(&field, fp, 2);
	/* a computed checksum is the complement of a sum over the whole
	 * segment; Linux leaves the pseudo-header's sum itself for the NIC
	 * to finish. Anything else is left as it came (a corrupt segment
	 * stays corrupt, for its receiver to refuse), and so is a
	 * UDP-over-IPv4 datagram without one (zero) */
	if ((v4 && proto == IPPROTO_UDP && field == 0) ||
	    !cksum_equal(field, pseudo_sum(l3, v4, proto, l4_len)))
		return false;
	memset(fp, 0, 2);
	ck = (uint16_t)~l4_sum_mbuf(m, l3, v4, proto, info->l4_off, l4_len);
	/* UDP sends a computed zero as all ones (RFC 768) */
	if (ck == 0 && proto == IPPROTO_UDP)
		ck = 0xffff;
	memcpy(fp, &ck, 2);
	return true;
}

/* TCP options a strict receiver takes on any segment. */
static inline bool
tcp_option_plain(uint8_t kind)
{
	switch (kind) {
	case 2: /* MSS */
	case 3: /* window scale */
	case 4: /* SACK permitted */
	case 5: /* SACK */
	case 8: /* timestamps */ return true;
	default: return false;
	}
}

/*
 * Walk the TCP options from @p o to @p end for the timestamps option.
 * Returns false when @p strict and an option is malformed, repeated (TS)
 * or not one tcp_option_plain() accepts; lenient walks stop at the first
 * malformed option instead.
 */
static bool
tcp_options(const uint8_t *o, const uint8_t *end, bool strict,
	    struct mg_pkt_tcp_ts *ts)
{
	uint32_t val;

	ts->present = false;
	while (o < end && *o != 0) {
		if (*o == 1) {
			o++;
			continue;
		}
		if (end - o < 2 || o[1] < 2 || o[1] > end - o)
			return !strict;
		if (strict && !tcp_option_plain(*o))
			return false;
		if (*o == 8) {
			if (o[1] != 10 || (strict && ts->present))
				return !strict;
			/* TSval sits 2 bytes off a 4-byte boundary at best */
			memcpy(&val, o + 2, sizeof(val));
			ts->present = true;
			ts->val = rte_be_to_cpu_32(val);
		}
		o += o[1];
	}
	return true;
}

bool
mg_pkt_tcp_timestamp(const struct rte_mbuf *m, const struct mg_pkt_info *info,
		     struct mg_pkt_tcp_ts *ts)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);

	tcp_options(p + info->l4_off + 20, p + info->payload_off, false, ts);
	return ts->present;
}

enum mg_drop_reason
mg_pkt_tcp_cksum(const struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	const uint8_t *l3 =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->l3_off);
	uint16_t l4_len = (uint16_t)(info->payload_off + info->payload_len -
				     info->l4_off);
	bool v4 = info->l3 == MG_L3_IPV4;

	if (v4 &&
	    (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) !=
		    RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    __rte_raw_cksum_reduce(
		    raw_sum(l3, info->l4_off - info->l3_off, 0)) != 0xffff)
		return MG_DROP_IPV4_BAD_CKSUM;
	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) !=
		    RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
	    l4_sum_mbuf(m, l3, v4, IPPROTO_TCP, info->l4_off, l4_len) != 0xffff)
		return MG_DROP_L4_BAD_CKSUM;
	return MG_DROP_NONE;
}

enum mg_drop_reason
mg_pkt_tcp_strict(const struct rte_mbuf *m, const struct mg_pkt_info *info,
		  struct mg_pkt_tcp_ts *ts)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *o = p + info->l4_off + 20, *end = p + info->payload_off;
	bool v4 = info->l3 == MG_L3_IPV4;
	enum mg_drop_reason r;

	ts->present = false;
	r = mg_pkt_tcp_cksum(m, info);
	if (r != MG_DROP_NONE)
		return r;
	/* a receiver may drop what it does not like in these (source
	 * routes, unknown extension headers) after we looked */
	if (info->l4_off - info->l3_off != (v4 ? 20 : 40))
		return MG_DROP_L7_AMBIGUOUS;
	/* the urgent byte leaves the stream the application reads */
	if (info->tcp_flags & RTE_TCP_URG_FLAG)
		return MG_DROP_L7_AMBIGUOUS;
	if (!tcp_options(o, end, true, ts))
		return MG_DROP_L7_AMBIGUOUS;
	return MG_DROP_NONE;
}

static inline void
swap_bytes(uint8_t *a, uint8_t *b, unsigned int len)
{
	uint8_t t[16];

	memcpy(t, a, len);
	memcpy(a, b, len);
	memcpy(b, t, len);
}

int
mg_pkt_tcp_segment(struct rte_mbuf *m, const struct mg_pkt_info *info,
		   bool reply, uint32_t seq, uint32_t ack, uint8_t flags,
		   uint16_t win, uint16_t mss)
{
	bool v4 = info->l3 == MG_L3_IPV4;
	uint16_t l3_len =
		v4 ? sizeof(struct rte_ipv4_hdr) : sizeof(struct rte_ipv6_hdr);
	uint16_t l4_len = sizeof(struct rte_tcp_hdr) + (mss != 0 ? 4 : 0);
	uint32_t len = (uint32_t)info->l3_off + l3_len + l4_len;
	unsigned int alen = v4 ? 4 : 16;
	struct rte_tcp_hdr *tcp;
	uint8_t *l3, *src, *dst, *opt;

	if (info->tuple.proto != IPPROTO_TCP ||
	    (info->l3 != MG_L3_IPV4 && info->l3 != MG_L3_IPV6) ||
	    info->frag != 0 || info->l4_off + sizeof(*tcp) > m->data_len ||
	    len > (uint32_t)m->buf_len - m->data_off)
		return -EINVAL;
	if (m->next != NULL) {
		rte_pktmbuf_free(m->next);
		m->next = NULL;
		m->nb_segs = 1;
	}
	l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, info->l3_off);
	tcp = (struct rte_tcp_hdr *)(l3 + l3_len);
	/* IPv4 options and IPv6 extension headers go: a reset must not
	 * send a source route or routing header back as it came */
	if (info->l4_off != info->l3_off + l3_len) {
		memmove(tcp, rte_pktmbuf_mtod_offset(m, void *, info->l4_off),
			sizeof(*tcp));
		if (v4)
			l3[0] = 0x45;
		else
			((struct rte_ipv6_hdr *)l3)->proto = IPPROTO_TCP;
	}
	src = l3 + (v4 ? 12 : 8);
	dst = src + alen;
	if (reply) {
		swap_bytes(src, dst, alen);
		swap_bytes((uint8_t *)&tcp->src_port, (uint8_t *)&tcp->dst_port,
			   2);
		/* an answer starts its own journey */
		l3[v4 ? 8 : 7] = REPLY_TTL;
	}
	tcp->sent_seq = rte_cpu_to_be_32(seq);
	tcp->recv_ack = rte_cpu_to_be_32(ack);
	tcp->data_off = (uint8_t)((l4_len / 4) << 4);
	tcp->tcp_flags = flags;
	tcp->rx_win = rte_cpu_to_be_16(win);
	tcp->cksum = 0;
	tcp->tcp_urp = 0;
	if (mss != 0) {
		opt = (uint8_t *)(tcp + 1);
		opt[0] = 2; /* MSS, RFC 9293 3.2 */
		opt[1] = 4;
		opt[2] = (uint8_t)(mss >> 8);
		opt[3] = (uint8_t)mss;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	m->l3_len = l3_len;
	m->l4_len = l4_len;
	if (v4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;

		ip->total_length = rte_cpu_to_be_16(l3_len + l4_len);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)l3;

		ip->payload_len = rte_cpu_to_be_16(l4_len);
	}
	tcp->cksum = (uint16_t)~tcp_sum(l3, v4, tcp, l4_len);
	return 0;
}

void
mg_pkt_nat(struct rte_mbuf *m, const struct mg_pkt_info *info, bool dst,
	   const uint8_t *addr, uint16_t port)
{
	mg_pkt_rewrite_diff(m, info, dst, addr, port,
			    mg_cksum_addr_diff(mg_pkt_l3_addr(m, info, dst),
					       addr,
					       info->l3 == MG_L3_IPV4 ? 4 : 6),
			    false);
}

void
mg_pkt_tcp_syn_options(const struct rte_mbuf *m, const struct mg_pkt_info *info,
		       struct mg_pkt_tcp_seg *seg)
{
	const uint8_t *th =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->l4_off);
	const uint8_t *o = th + 20,
		      *end = th + (info->payload_off - info->l4_off);

	while (o < end && *o != 0) {
		if (*o == 1) {
			o++;
			continue;
		}
		if (end - o < 2 || o[1] < 2 || o[1] > end - o)
			return; /* malformed: what was read stands */
		if (*o == 2 && o[1] == 4)
			seg->mss = load_be16(o + 2);
		else if (*o == 3 && o[1] == 3)
			seg->wscale = RTE_MIN(o[2], 14); /* RFC 7323 2.3 */
		o += o[1];
	}
}

bool
mg_pkt_tcp_clamp_mss(struct rte_mbuf *m, const struct mg_pkt_info *info,
		     uint16_t mss)
{
	uint8_t *th = rte_pktmbuf_mtod_offset(m, uint8_t *, info->l4_off);
	uint8_t *o = th + 20, *end = th + (info->payload_off - info->l4_off);
	uint16_t *ck = (uint16_t *)(th + 16);
	uint16_t old, new = rte_cpu_to_be_16(mss);

	while (o < end && *o != 0) {
		if (*o == 1) {
			o++;
			continue;
		}
		if (end - o < 2 || o[1] < 2 || o[1] > end - o)
			return false;
		if (*o == 2 && o[1] == 4) {
			if (load_be16(o + 2) <= mss)
				return false;
			/* the option may sit at an odd offset: the sum is
			 * taken over aligned 16-bit words, so adjust over the
			 * words the two bytes share */
			if (((o + 2 - th) & 1) == 0) {
				memcpy(&old, o + 2, 2);
				*ck = mg_cksum_adjust(*ck, &old, &new, 2);
				memcpy(o + 2, &new, 2);
			} else {
				uint8_t before[4], after[4];

				memcpy(before, o + 1, 4);
				memcpy(o + 2, &new, 2);
				memcpy(after, o + 1, 4);
				*ck = mg_cksum_adjust(*ck, before, after, 4);
			}
			return true;
		}
		o += o[1];
	}
	return false;
}

void
mg_pkt_ttl_dec(struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	uint8_t *l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, info->l3_off);

	if (info->l3 == MG_L3_IPV4) {
		uint16_t *ck = (uint16_t *)(l3 + 10);
		uint8_t before[2] = { l3[8], l3[9] };

		l3[8]--;
		*ck = mg_cksum_adjust(*ck, before, l3 + 8, 2);
	} else {
		l3[7]--;
	}
}

/* ---- ICMP errors ---- */

#define ICMP4_DEST_UNREACH   3
#define ICMP4_FRAG_NEEDED    4
#define ICMP4_ADMIN_PROHIB   13
#define ICMP4_TIME_EXCEEDED  11
#define ICMP4_PARAM_PROBLEM  12
#define ICMP6_DEST_UNREACH   1
#define ICMP6_ADMIN_PROHIB   1
#define ICMP6_PACKET_TOO_BIG 2
#define ICMP6_TIME_EXCEEDED  3
#define ICMP6_PARAM_PROBLEM  4
#define ICMP6_REDIRECT	     137

static inline bool
icmp4_is_error(uint8_t type)
{
	return type == ICMP4_DEST_UNREACH || type == ICMP4_TIME_EXCEEDED ||
	       type == ICMP4_PARAM_PROBLEM || type == 4 /* source quench */ ||
	       type == 5 /* redirect */;
}

bool
mg_pkt_unicast_addr(const uint8_t *a, bool v4)
{
	static const uint8_t zero[16];

	if (v4)
		return a[0] != 0 && a[0] != 127 && a[0] < 224;
	return a[0] != 0xff && memcmp(a, zero, 16) != 0 &&
	       !(memcmp(a, zero, 15) == 0 && a[15] == 1);
}

struct rte_mbuf *
mg_pkt_icmp_error(struct rte_mempool *mp, const struct rte_mbuf *m,
		  const struct mg_pkt_info *info, enum mg_icmp_kind kind,
		  uint16_t mtu, const uint8_t *src,
		  const struct rte_ether_addr *port_mac)
{
	bool v4 = info->l3 == MG_L3_IPV4;
	const uint8_t *in = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *ol3 = in + info->l3_off;
	uint32_t ip_len = v4 ? 20 : 40;
	uint32_t quote, total, avail;
	struct rte_mbuf *e;
	uint8_t *out, *l3, *icmp;
	const void *qp;
	uint8_t type, code;

	if (info->l3 != MG_L3_IPV4 && info->l3 != MG_L3_IPV6)
		return NULL;
	if ((info->frag & MG_PKT_FRAG) && !(info->frag & MG_PKT_FRAG_FIRST))
		return NULL;
	if (!mg_pkt_unicast_addr(ol3 + (v4 ? 12 : 8), v4))
		return NULL;
	if (info->tuple.proto == (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6) &&
	    info->payload_off - info->l4_off >= 1) {
		uint8_t t = in[info->l4_off];

		if (v4 ? icmp4_is_error(t) : (t < 128 || t == ICMP6_REDIRECT))
			return NULL;
	}
	switch (kind) {
	case MG_ICMP_TIME_EXCEEDED:
		type = v4 ? ICMP4_TIME_EXCEEDED : ICMP6_TIME_EXCEEDED;
		code = 0;
		break;
	case MG_ICMP_FRAG_NEEDED:
		type = v4 ? ICMP4_DEST_UNREACH : ICMP6_PACKET_TOO_BIG;
		code = v4 ? ICMP4_FRAG_NEEDED : 0;
		break;
	default:
		type = v4 ? ICMP4_DEST_UNREACH : ICMP6_DEST_UNREACH;
		code = v4 ? ICMP4_ADMIN_PROHIB : ICMP6_ADMIN_PROHIB;
		break;
	}
	avail = rte_pktmbuf_pkt_len(m) - info->l3_off;
	quote = RTE_MIN(avail, (uint32_t)(v4 ? MG_ICMP4_QUOTE_MAX
					     : MG_ICMP6_QUOTE_MAX));
	/* the IP packet only, never the Ethernet padding after it */
	quote = RTE_MIN(quote, mg_pkt_l3_len(info));
	total = info->l3_off + ip_len + ICMP_HDR_LEN + quote;
	e = rte_pktmbuf_alloc(mp);
	if (e == NULL)
		return NULL;
	out = (uint8_t *)rte_pktmbuf_append(e, (uint16_t)total);
	if (out == NULL) {
		rte_pktmbuf_free(e);
		return NULL;
	}
	/* Ethernet and VLAN tags as received, addresses swapped */
	memcpy(out, in, info->l3_off);
	memcpy(out, in + 6, 6);
	memcpy(out + 6, port_mac, 6);
	l3 = out + info->l3_off;
	icmp = l3 + ip_len;
	/* the quote may span segments; read returns it in place or copied */
	qp = rte_pktmbuf_read(m, info->l3_off, quote, icmp + ICMP_HDR_LEN);
	if (qp != icmp + ICMP_HDR_LEN)
		memcpy(icmp + ICMP_HDR_LEN, qp, quote);
	icmp[0] = type;
	icmp[1] = code;
	memset(icmp + 2, 0, 6);
	/* v4: next-hop MTU in bytes 6-7 (RFC 1191); v6: a 32-bit MTU */
	if (kind == MG_ICMP_FRAG_NEEDED) {
		icmp[6] = (uint8_t)(mtu >> 8);
		icmp[7] = (uint8_t)mtu;
	}
	if (v4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;
		uint16_t ck;

		memset(ip, 0, sizeof(*ip));
		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16(
			(uint16_t)(ip_len + ICMP_HDR_LEN + quote));
		ip->time_to_live = REPLY_TTL;
		ip->next_proto_id = IPPROTO_ICMP;
		memcpy(&ip->src_addr, src, 4);
		memcpy(&ip->dst_addr, ol3 + 12, 4);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		ck = rte_raw_cksum(icmp, ICMP_HDR_LEN + quote);
		ck = (uint16_t)~ck;
		memcpy(icmp + 2, &ck, 2);
	} else {
		struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)l3;
		uint16_t ck;

		memset(ip6, 0, sizeof(*ip6));
		ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip6->payload_len =
			rte_cpu_to_be_16((uint16_t)(ICMP_HDR_LEN + quote));
		ip6->proto = IPPROTO_ICMPV6;
		ip6->hop_limits = REPLY_TTL;
		memcpy(ip6->src_addr, src, 16);
		memcpy(ip6->dst_addr, ol3 + 8, 16);
		ck = (uint16_t)~mg_cksum_l4(ip6->src_addr, 16, IPPROTO_ICMPV6,
					    icmp,
					    (uint16_t)(ICMP_HDR_LEN + quote));
		memcpy(icmp + 2, &ck, 2);
	}
	e->l2_len = info->l3_off;
	e->l3_len = ip_len;
	return e;
}

static inline bool
icmp_quotes(uint8_t type, bool v4)
{
	if (v4)
		return type == ICMP4_DEST_UNREACH ||
		       type == ICMP4_TIME_EXCEEDED ||
		       type == ICMP4_PARAM_PROBLEM;
	return type == ICMP6_DEST_UNREACH || type == ICMP6_PACKET_TOO_BIG ||
	       type == ICMP6_TIME_EXCEEDED || type == ICMP6_PARAM_PROBLEM;
}

bool
mg_pkt_icmp_quote(const struct rte_mbuf *m, const struct mg_pkt_info *info,
		  struct mg_pkt_icmp_quote *q)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	bool v4 = info->l3 == MG_L3_IPV4;
	uint32_t off = info->l4_off + ICMP_HDR_LEN, l4, end;
	uint8_t proto;

	if (info->frag != 0 ||
	    info->tuple.proto != (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6) ||
	    !icmp_quotes(p[info->l4_off], v4))
		return false;
	/* errors are small: one that does not fit the first segment is
	 * not one a router sent */
	end = (uint32_t)info->payload_off + info->payload_len;
	if (end > rte_pktmbuf_data_len(m) || end < off)
		return false;
	memset(q, 0, sizeof(*q));
	q->l3_off = (uint16_t)off;
	q->end = (uint16_t)end;
	if (v4) {
		uint32_t hl;

		if (end - off < 20 || p[off] >> 4 != 4)
			return false;
		hl = (uint32_t)(p[off] & 0x0f) * 4;
		/* a later fragment quotes no ports */
		if (hl < 20 ||
		    (load_be16(p + off + 6) & RTE_IPV4_HDR_OFFSET_MASK))
			return false;
		proto = p[off + 9];
		memcpy(q->tuple.src, p + off + 12, 4);
		memcpy(q->tuple.dst, p + off + 16, 4);
		q->tuple.family = 4;
		l4 = off + hl;
	} else {
		unsigned int n = 0;

		if (end - off < 40 || p[off] >> 4 != 6)
			return false;
		proto = p[off + 6];
		l4 = off + 40;
		while (is_ipv6_ext(proto) || proto == IPPROTO_FRAGMENT) {
			if (++n > MG_PKT_MAX_IPV6_EXT || end - l4 < 8)
				return false;
			if (proto == IPPROTO_FRAGMENT) {
				if (load_be16(p + l4 + 2) & IPV6_FRAG_OFF_MASK)
					return false;
				proto = p[l4];
				l4 += IPV6_FRAG_HDR;
				continue;
			}
			proto = p[l4];
			l4 += proto == IPPROTO_AH
				      ? ((uint32_t)p[l4 + 1] + 2) * 4
				      : ((uint32_t)p[l4 + 1] + 1) * 8;
		}
		memcpy(q->tuple.src, p + off + 8, 16);
		memcpy(q->tuple.dst, p + off + 24, 16);
		q->tuple.family = 6;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	/* ports, and TCP's sequence number to check against the window */
	if (l4 > end || end - l4 < (proto == IPPROTO_TCP ? 8u : 4u))
		return false;
	q->tuple.proto = proto;
	memcpy(&q->tuple.sport, p + l4, 2);
	memcpy(&q->tuple.dport, p + l4 + 2, 2);
	if (proto == IPPROTO_TCP) {
		uint32_t v;

		memcpy(&v, p + l4 + 4, 4);
		q->seq = rte_be_to_cpu_32(v);
	}
	q->l4_off = (uint16_t)l4;
	return true;
}

void
mg_pkt_icmp_nat(struct rte_mbuf *m, const struct mg_pkt_info *info,
		const struct mg_pkt_icmp_quote *q, bool quoted_dst,
		const uint8_t *addr, uint16_t port, bool outer_dst,
		const uint8_t *outer)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	bool v4 = info->l3 == MG_L3_IPV4;
	unsigned int alen = v4 ? 4 : 16;
	uint8_t *ql3 = p + q->l3_off, *ql4 = p + q->l4_off;
	uint8_t *qa =
		ql3 + (v4 ? (quoted_dst ? 16 : 12) : (quoted_dst ? 24 : 8));
	uint8_t *qp = ql4 + (quoted_dst ? 2 : 0);
	uint32_t have = q->end - q->l4_off;
	uint32_t ck_off = q->tuple.proto == IPPROTO_TCP ? 16 : 6;
	uint8_t *l3 = p + info->l3_off, *icmp = p + info->l4_off;
	uint16_t ck, icmp_len;

	/* the quoted L4 checksum, when the quote holds it (a zero UDP
	 * checksum over IPv4 means none and stays so) */
	if (have >= ck_off + 2) {
		uint16_t *l4ck = (uint16_t *)(ql4 + ck_off);

		if (!(q->tuple.proto == IPPROTO_UDP && v4 && *l4ck == 0)) {
			ck = mg_cksum_adjust(*l4ck, qa, addr, alen);
			*l4ck = mg_cksum_adjust(ck, qp, &port, 2);
		}
	}
	if (v4) {
		uint16_t *qipck = (uint16_t *)(ql3 + 10);

		*qipck = mg_cksum_adjust(*qipck, qa, addr, 4);
	}
	memcpy(qa, addr, alen);
	memcpy(qp, &port, 2);
	if (outer != NULL)
		memcpy(l3 + (v4 ? (outer_dst ? 16 : 12) : (outer_dst ? 24 : 8)),
		       outer, alen);

	/* the quote changed in ways an incremental sum would need every
	 * step of; an error is short, so sum it again */
	icmp_len = (uint16_t)(info->payload_off + info->payload_len -
			      info->l4_off);
	icmp[2] = icmp[3] = 0;
	if (v4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;

		ck = (uint16_t)~rte_raw_cksum(icmp, icmp_len);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	} else {
		ck = (uint16_t)~mg_cksum_l4(l3 + 8, 16, IPPROTO_ICMPV6, icmp,
					    icmp_len);
	}
	memcpy(icmp + 2, &ck, 2);
}
