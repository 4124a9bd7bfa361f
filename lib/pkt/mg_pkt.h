/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Header parsing and validation. One pass over a frame yields the layer
 * offsets, the 5-tuple and the payload, or the reason the frame must be
 * dropped. Every malformed class has its own reason so that operators can
 * tell a broken NIC from a hostile sender.
 */

#ifndef MG_PKT_H
#define MG_PKT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wire constants DPDK 22.11 does not name (RFC 826, RFC 4443). */
#define MG_ARP_LEN	      28 /**< Ethernet/IPv4 ARP body */
#define MG_ARP_PTYPE_IPV4     0x0800
#define MG_ICMP6_ECHO_REQUEST 128
#define MG_ICMP6_ECHO_REPLY   129
#define MG_ESP_HDR_LEN	      8 /**< SPI and sequence number (RFC 4303) */

/** Most VLAN tags accepted in front of the L3 header (802.1ad + 802.1Q). */
#define MG_PKT_MAX_VLANS 2
/** Most IPv6 extension headers walked before the frame is refused. */
#define MG_PKT_MAX_IPV6_EXT 4
/** Most fragments of one datagram reassembled (rte_ip_frag's build-time
 * RTE_LIBRTE_IP_FRAG_MAX_FRAG). */
#define MG_PKT_MAX_FRAGS 8

/* Flags of a parsed frame (mg_pkt_info.frag). */
#define MG_PKT_FRAG	  0x01 /**< an IPv4 or IPv6 fragment */
#define MG_PKT_FRAG_FIRST 0x02 /**< ... at offset 0: its L4 header parsed */
#define MG_PKT_FRAG_LAST  0x04 /**< ... without more fragments */

/**
 * Why a packet was dropped. Each stage declares the reasons it decides
 * in its own header, numbered densely from where the stage before it
 * ends; the headers chain in the order a packet meets the stages:
 * parsing and sending here (1 .. MG_DROP_PKT_END - 1), then ESP
 * (lib/esp/mg_esp_drop.h), the flow table and connection tracking
 * (lib/flow/mg_flow_drop.h), per-caller limits
 * (lib/limit/mg_limit_drop.h), layer 7 (lib/l7/mg_l7_drop.h), and
 * forwarding and reassembly (app/meshgate/drops.h), which asserts that
 * the last ends within MG_DROP_CAPACITY. A reason two stages decide is
 * declared by the lower one: the parser refuses a short ESP header and
 * a segment layer 7 could read otherwise; ESP and forwarding both meet
 * no_route and mtu_exceeded. Malformed fragments are the parser's
 * classes (ipv4_fragment, ipv6_fragment, frag_too_big,
 * frag_first_short) though reassembly finds the first two; what the
 * reassembly table itself refuses (frag_timeout, frag_table_full) is
 * the gateway's.
 *
 * This enum is the type every stage's reason travels in; the stages
 * above declare theirs as int constants (a C enum cannot be extended,
 * and enumerators of another enum would warn wherever they are passed
 * as this one). Counters are arrays of MG_DROP_CAPACITY indexed by
 * reason. The names, from the table each stage adds its part to
 * (mg_drop_stage_add(), mg_drop_reason_name()), are stable: telemetry
 * keys and Prometheus label values. The numbers are not: a reason
 * added to one stage moves those of the stages after it.
 */
enum mg_drop_reason {
	MG_DROP_NONE = 0,
	MG_DROP_MULTI_SEG,	    /**< headers not all in the first segment */
	MG_DROP_RUNT,		    /**< shorter than an Ethernet header */
	MG_DROP_VLAN_TRUNCATED,	    /**< frame ends inside a VLAN tag */
	MG_DROP_VLAN_TOO_MANY,	    /**< more than MG_PKT_MAX_VLANS tags */
	MG_DROP_ETHERTYPE_UNKNOWN,  /**< not ARP, IPv4 or IPv6 */
	MG_DROP_ARP_MALFORMED,	    /**< short or not Ethernet/IPv4 ARP */
	MG_DROP_IPV4_TRUNCATED,	    /**< frame shorter than 20 bytes of IPv4 */
	MG_DROP_IPV4_BAD_VERSION,   /**< version field is not 4 */
	MG_DROP_IPV4_BAD_IHL,	    /**< IHL < 5 or header past frame end */
	MG_DROP_IPV4_BAD_OPTIONS,   /**< option TLVs overrun the header */
	MG_DROP_IPV4_BAD_LENGTH,    /**< total length below IHL or past frame */
	MG_DROP_IPV4_FRAGMENT,	    /**< an IPv4 fragment reassembly refused:
				     * overlapping or duplicate data, more
				     * than MG_PKT_MAX_FRAGS, or a non-final
				     * one not a multiple of 8 bytes */
	MG_DROP_IPV4_BAD_CKSUM,	    /**< NIC flagged the header checksum bad */
	MG_DROP_IPV6_TRUNCATED,	    /**< frame shorter than 40 bytes of IPv6 */
	MG_DROP_IPV6_BAD_VERSION,   /**< version field is not 6 */
	MG_DROP_IPV6_BAD_LENGTH,    /**< payload length past frame */
	MG_DROP_IPV6_EXT_TRUNCATED, /**< extension header past payload */
	MG_DROP_IPV6_EXT_CHAIN,	    /**< > MG_PKT_MAX_IPV6_EXT headers, or
				     * a chain too long for m->l3_len */
	MG_DROP_IPV6_FRAGMENT,	    /**< the same for an IPv6 fragment */
	MG_DROP_TCP_TRUNCATED,	    /**< less than 20 bytes of TCP */
	MG_DROP_TCP_BAD_DOFF,	    /**< data offset < 5 or past the segment */
	MG_DROP_UDP_TRUNCATED,	    /**< less than 8 bytes of UDP */
	MG_DROP_UDP_BAD_LENGTH,	    /**< UDP length differs from IP payload */
	MG_DROP_ICMP_TRUNCATED,	    /**< less than 8 bytes of ICMP/ICMPv6 */
	MG_DROP_L4_BAD_CKSUM,	    /**< NIC flagged the L4 checksum bad */
	MG_DROP_L4_PROTO_UNKNOWN,   /**< not TCP, UDP, ICMP(v6) or ESP */
	MG_DROP_TX_FULL,	    /**< TX queue full; mbuf freed */
	/* the parser's, for fragments and for the stages after it */
	MG_DROP_FRAG_TOO_BIG,	  /**< fragment ends past 65,535 bytes */
	MG_DROP_FRAG_FIRST_SHORT, /**< first fragment without the whole
				   * L4 header */
	MG_DROP_ESP_MALFORMED,	  /**< ESP too short, badly padded, not IP
				   * inside; ESP-in-UDP that is not ESP */
	MG_DROP_L7_AMBIGUOUS,	  /**< IP options, urgent data or TCP options a
				   * backend could read otherwise */
	/* sending, besides tx_full: ESP and forwarding alike */
	MG_DROP_NO_ROUTE,     /**< no on-link prefix or gateway */
	MG_DROP_MTU_EXCEEDED, /**< larger than the egress MTU and may
			       * not be fragmented: answered by ICMP
			       * fragmentation needed / packet too
			       * big */
	MG_DROP_PKT_END	      /**< one past lib/pkt's: the ESP stage's first */
};

/** Room for every stage's drop reasons: the size of each counter array
 * indexed by reason (app/meshgate/drops.h asserts that the last stage
 * ends within it). A reason travels in a byte (mg_pkt_parse_burst()). */
#define MG_DROP_CAPACITY 96

/** L3 class of a parsed frame. */
enum mg_pkt_l3 {
	MG_L3_ARP = 1,
	MG_L3_IPV4,
	MG_L3_IPV6,
};

/**
 * Connection 5-tuple. IPv4 addresses occupy the first four bytes of
 * their array and the rest is zero, so a tuple can be hashed and compared
 * as raw bytes whatever its family. Ports are in network order.
 */
struct mg_5tuple {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t proto;	/**< IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP(V6) */
	uint8_t family; /**< 4 or 6 */
	uint16_t pad;	/**< always zero */
};

/**
 * What the parser learned about one frame. Offsets count from byte 0;
 * every header up to payload_off lies in the first segment, the payload
 * may continue in others (multi-segment mbufs: jumbo frames, reassembled
 * datagrams). For ARP, l4_off, payload_off and payload_len are 0 and the
 * tuple is zero. VLAN tags the NIC stripped are in n_vlans and vlan_tci
 * but take no room before l3_off.
 *
 * A fragment (frag & MG_PKT_FRAG) has its addresses and protocol in the
 * tuple; a first fragment also its ports and L4 header, checked against
 * the fragment alone; for later ones l4_off = payload_off is where the
 * fragment's data starts and the ports are 0. frag_data is the offset
 * of that data in the datagram.
 */
struct mg_pkt_info {
	struct mg_5tuple tuple; /**< valid for MG_L3_IPV4 / MG_L3_IPV6 */
	uint16_t l3_off;	/**< after Ethernet and VLAN tags */
	uint16_t l4_off;	/**< after IPv4 options / IPv6 ext headers */
	uint16_t payload_off;	/**< after the L4 header */
	uint16_t payload_len;	/**< L4 payload bytes (excludes padding) */
	uint16_t vlan_tci[MG_PKT_MAX_VLANS]; /**< outer first, host order */
	uint8_t n_vlans;
	uint8_t l3;	    /**< enum mg_pkt_l3 */
	uint8_t tcp_flags;  /**< TCP flags byte, 0 for other protocols */
	uint8_t frag;	    /**< MG_PKT_FRAG* flags, 0 for whole packets */
	uint16_t frag_data; /**< fragment: its data's offset in the datagram */
	uint16_t frag_hdr;  /**< IPv6 fragment: offset of its header */
	uint32_t pad;	    /**< a multiple of 8 bytes: in an array, every
			     * tuple stays 8-byte aligned for hashing */
};

/**
 * Parse and validate one frame.
 *
 * Also fills m->l2_len, m->l3_len and m->l4_len so that TX offloads and
 * later rewrites can use them. NIC checksum verdicts in m->ol_flags are
 * honoured: a frame flagged bad is dropped; unknown is not rechecked.
 *
 * Fragments are accepted (info->frag) for reassembly, with their own
 * checks: a fragment that would end past 65,535 bytes of datagram
 * (MG_DROP_FRAG_TOO_BIG) and a first fragment without its whole TCP,
 * UDP or ICMP header (MG_DROP_FRAG_FIRST_SHORT) are refused.
 *
 * @param m     Frame to parse; its headers must lie in the first segment
 *              (MG_DROP_MULTI_SEG otherwise), the payload may not.
 * @param info  Filled on success; unspecified when a reason is returned.
 * @return MG_DROP_NONE if the frame is well formed, else why to drop it.
 *         A frame with several faults gets the reason of the first one
 *         met walking outward-in (L2, then L3, then L4).
 *
 * Thread safety: reentrant; touches only @p m and @p info.
 */
enum mg_drop_reason mg_pkt_parse(struct rte_mbuf *m, struct mg_pkt_info *info);

/**
 * Parse a burst. Frames that fail keep their position in @p pkts; the
 * caller decides what to do with them using @p reasons. Each result is
 * mg_pkt_parse()'s for that frame; the common frame (untagged IPv4
 * without options, TCP or UDP, one segment, no NIC verdict) is decided
 * by a shorter path that makes the same checks.
 *
 * @param pkts     Frames to parse.
 * @param n        Number of frames.
 * @param info     Array of @p n results.
 * @param reasons  Array of @p n reasons (MG_DROP_NONE when accepted).
 * @return Number of frames accepted.
 *
 * Thread safety: reentrant.
 */
uint16_t mg_pkt_parse_burst(struct rte_mbuf **pkts, uint16_t n,
			    struct mg_pkt_info *info, uint8_t *reasons);

/**
 * Rewrite the source or destination address and port of a parsed TCP or
 * UDP packet (IPv4 or IPv6), updating the IPv4 header checksum and the
 * L4 checksum incrementally (RFC 1624) — cost independent of the payload.
 * A zero UDP-over-IPv4 checksum (none) stays zero.
 *
 * @param m     Packet; single segment, parsed into @p info.
 * @param info  Parser result for @p m.
 * @param dst   true: rewrite the destination; false: the source.
 * @param addr  New address: 4 or 16 bytes by the packet's family.
 * @param port  New port, network order.
 *
 * Thread safety: reentrant.
 */
void mg_pkt_nat(struct rte_mbuf *m, const struct mg_pkt_info *info, bool dst,
		const uint8_t *addr, uint16_t port);

/* ~old + new over @p len bytes (even), unfolded: the RFC 1624 (eqn. 3)
 * difference an update adds to a checksum; byte-order agnostic. Inlined
 * with a constant @p len, it unrolls to a few adds. */
static inline uint32_t
mg_cksum_diff(const void *old, const void *new, unsigned int len)
{
	const uint8_t *o = (const uint8_t *)old, *n = (const uint8_t *)new;
	uint32_t sum = 0;
	unsigned int i;

	for (i = 0; i + 1 < len; i += 2) {
		uint16_t ow, nw;

		memcpy(&ow, o + i, 2);
		memcpy(&nw, n + i, 2);
		sum += (uint16_t)~ow + (uint32_t)nw;
	}
	return sum;
}

/* The checksum field @p cksum after adding the difference @p diff. */
static inline uint16_t
mg_cksum_apply(uint16_t cksum, uint32_t diff)
{
	uint32_t sum = (uint32_t)(uint16_t)~cksum + diff;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/**
 * What rewriting address @p old to @p new (4 bytes for @p family 4, else
 * 16) adds to a checksum: mg_cksum_diff() folded to 16 bits, for
 * mg_pkt_rewrite_diff(). A connection's is the same for every packet of
 * one direction, so it is computed once (lib/flow: mg_flow.nat_ck).
 *
 * Thread safety: pure.
 */
static inline uint16_t
mg_cksum_addr_diff(const uint8_t *old, const uint8_t *new, uint8_t family)
{
	uint32_t sum = family == 4 ? mg_cksum_diff(old, new, 4)
				   : mg_cksum_diff(old, new, 16);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The destination (@p dst) or source address in the IP header of @p m. */
static inline uint8_t *
mg_pkt_l3_addr(struct rte_mbuf *m, const struct mg_pkt_info *info, bool dst)
{
	uint8_t *l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, info->l3_off);

	return info->l3 == MG_L3_IPV4 ? l3 + (dst ? 16 : 12)
				      : l3 + (dst ? 24 : 8);
}

/**
 * mg_pkt_nat(), and with @p ttl_dec also mg_pkt_ttl_dec(), in one pass
 * over the headers, the address's difference given: @p diff is
 * mg_cksum_addr_diff() of the frame's address (the destination with
 * @p dst, else the source) and @p addr, added to both checksums; the
 * TTL's is folded into the IPv4 header's. The forwarding path's rewrite:
 * a connection's difference is computed when it is admitted.
 *
 * Thread safety: reentrant.
 */
static __rte_always_inline void
mg_pkt_rewrite_diff(struct rte_mbuf *m, const struct mg_pkt_info *info,
		    bool dst, const uint8_t *addr, uint16_t port, uint16_t diff,
		    bool ttl_dec)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *l3 = p + info->l3_off, *l4 = p + info->l4_off;
	bool v4 = info->l3 == MG_L3_IPV4;
	bool udp = info->tuple.proto == IPPROTO_UDP;
	uint8_t *a = mg_pkt_l3_addr(m, info, dst);
	uint8_t *pp = l4 + (dst ? 2 : 0);
	uint8_t *l4ck = l4 + (udp ? 6 : 16);
	uint16_t ck;

	memcpy(&ck, l4ck, 2);
	/* a zero UDP-over-IPv4 checksum is none: it stays so */
	if (!(udp && v4 && ck == 0)) {
		ck = mg_cksum_apply(ck, diff + mg_cksum_diff(pp, &port, 2));
		/* UDP sends a computed zero as all ones (RFC 768) */
		if (ck == 0 && udp)
			ck = 0xffff;
		memcpy(l4ck, &ck, 2);
	}
	if (v4) {
		uint16_t before, after;

		memcpy(&before, l3 + 8, 2);
		l3[8] -= ttl_dec;
		memcpy(&after, l3 + 8, 2);
		memcpy(&ck, l3 + 10, 2);
		ck = mg_cksum_apply(ck,
				    diff + mg_cksum_diff(&before, &after, 2));
		memcpy(l3 + 10, &ck, 2);
		memcpy(a, addr, 4);
	} else {
		l3[7] -= ttl_dec;
		memcpy(a, addr, 16);
	}
	memcpy(pp, &port, 2);
}

/** The TCP header of a parsed TCP segment. */
static inline const struct rte_tcp_hdr *
mg_pkt_tcp_hdr(const struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	return rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *,
				       info->l4_off);
}

/** The timestamps option of a TCP segment, if it has one. */
struct mg_pkt_tcp_ts {
	bool present;
	uint32_t val; /**< TSval, host order */
};

/**
 * The timestamps option of a parsed TCP segment, if it has a well-formed
 * one (other options are not judged).
 *
 * @return ts->present.
 *
 * Thread safety: reentrant.
 */
bool mg_pkt_tcp_timestamp(const struct rte_mbuf *m,
			  const struct mg_pkt_info *info,
			  struct mg_pkt_tcp_ts *ts);

/**
 * Verify a parsed TCP segment's IPv4 header and TCP checksums, computed
 * here unless the NIC marked them good.
 *
 * @return MG_DROP_NONE, MG_DROP_IPV4_BAD_CKSUM or MG_DROP_L4_BAD_CKSUM.
 *
 * Thread safety: reentrant.
 */
enum mg_drop_reason mg_pkt_tcp_cksum(const struct rte_mbuf *m,
				     const struct mg_pkt_info *info);

/**
 * Complete the TCP or UDP checksum of a parsed packet that a Linux stack
 * handed over before computing it. A socket's segment, or one the
 * kernel merged (GRO), is checksummed by the NIC it leaves through
 * (CHECKSUM_PARTIAL): until then its checksum field holds the folded sum
 * of its pseudo-header, not the complement of a sum over the segment.
 * Devices that receive from the kernel (net_af_packet over a veth whose
 * peer has tx checksum offload on, or a NIC with GRO) pass such packets
 * on, and DPDK 22.11's af_packet PMD drops the flag
 * (TP_STATUS_CSUMNOTREADY) that tells them apart. A packet whose field
 * holds its pseudo-header's sum gets its checksum computed over the
 * whole segment, in full (never incrementally from that field); any
 * other is left as it came. A packet whose L4 checksum the NIC marked
 * good, a fragment, or a UDP-over-IPv4 datagram without a checksum
 * (zero) is left alone.
 *
 * @param m     Packet, parsed into @p info; may be chained.
 * @param info  Parser result for @p m.
 * @return true when the checksum was computed here.
 *
 * Thread safety: reentrant.
 */
bool mg_pkt_l4_cksum_complete(struct rte_mbuf *m,
			      const struct mg_pkt_info *info);

/**
 * Check a parsed TCP segment the way the strictest receiver would before
 * taking its data, so that what a middlebox inspects is what a backend
 * accepts: the IPv4 header and TCP checksums (computed here unless the
 * NIC marked them good); then no IPv4 options or IPv6 extension headers,
 * no urgent data, and TCP options only among EOL, NOP, MSS, window
 * scale, SACK-permitted, SACK and timestamps, each well formed.
 *
 * @param m     Segment; single mbuf, parsed into @p info, TCP.
 * @param info  Parser result for @p m.
 * @param ts    Receives the timestamps option.
 * @return MG_DROP_NONE; MG_DROP_IPV4_BAD_CKSUM or MG_DROP_L4_BAD_CKSUM
 *         for a corrupt segment; MG_DROP_L7_AMBIGUOUS for one a receiver
 *         could read otherwise than the middlebox.
 *
 * Thread safety: reentrant.
 */
enum mg_drop_reason mg_pkt_tcp_strict(const struct rte_mbuf *m,
				      const struct mg_pkt_info *info,
				      struct mg_pkt_tcp_ts *ts);

/**
 * Turn a parsed TCP packet, in place, into a bare segment: payload, TCP
 * options, IPv4 options and IPv6 extension headers cut (a reset never
 * sends a source route back), the given numbers, flags and window, an
 * MSS option when @p mss is not 0 (the SYN proxy's), urgent pointer
 * zeroed, IP length fields set and the IPv4 header and TCP checksums
 * computed in full. VLAN tags stay. Ethernet addresses are the caller's.
 * Segments after the first of a chained mbuf are freed.
 *
 * @param m      Packet, parsed into @p info, TCP.
 * @param info   Parser result for @p m; stale afterwards except for
 *               l3_off.
 * @param reply  true: swap addresses and ports, so the segment goes back
 *               to the packet's sender (with TTL / hop limit 64);
 *               false: the TTL stays as it came.
 * @param seq    Sequence number, host order.
 * @param ack    Acknowledgement number, host order.
 * @param flags  TCP flags of the new segment.
 * @param win    Window field, host order.
 * @param mss    MSS option value, 0 for none.
 * @return 0, or -EINVAL if @p m is not a parsed TCP packet with room for
 *         the option.
 *
 * Thread safety: reentrant.
 */
int mg_pkt_tcp_segment(struct rte_mbuf *m, const struct mg_pkt_info *info,
		       bool reply, uint32_t seq, uint32_t ack, uint8_t flags,
		       uint16_t win, uint16_t mss);

/** mg_pkt_tcp_segment() without window or option: a bare control
 * segment (a reset, or a challenge ACK, RFC 5961). */
static inline int
mg_pkt_tcp_control(struct rte_mbuf *m, const struct mg_pkt_info *info,
		   bool reply, uint32_t seq, uint32_t ack, uint8_t flags)
{
	return mg_pkt_tcp_segment(m, info, reply, seq, ack, flags, 0, 0);
}

/** mg_pkt_tcp_control() with RST|ACK: a reset. */
static inline int
mg_pkt_tcp_reset(struct rte_mbuf *m, const struct mg_pkt_info *info, bool reply,
		 uint32_t seq, uint32_t ack)
{
	return mg_pkt_tcp_control(m, info, reply, seq, ack,
				  RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG);
}

/** A TCP segment's header fields as connection tracking reads them. */
struct mg_pkt_tcp_seg {
	uint32_t seq;	/**< host order */
	uint32_t ack;	/**< host order; meaningful with the ACK flag */
	uint16_t win;	/**< window field, unscaled */
	uint16_t mss;	/**< SYN: MSS option, 0 when absent */
	uint16_t len;	/**< payload bytes */
	uint8_t flags;	/**< TCP flags */
	uint8_t wscale; /**< SYN: window scale option (capped at 14, RFC
			 * 7323), MG_PKT_NO_WSCALE when absent */
};

/** mg_pkt_tcp_seg.wscale of a SYN without the window scale option. */
#define MG_PKT_NO_WSCALE 0xff

/**
 * The MSS and window scale options of a SYN (well-formed ones only) into
 * @p seg; the rest of mg_pkt_tcp_seg(), out of line.
 *
 * Thread safety: reentrant.
 */
void mg_pkt_tcp_syn_options(const struct rte_mbuf *m,
			    const struct mg_pkt_info *info,
			    struct mg_pkt_tcp_seg *seg);

/**
 * Read a parsed TCP segment's sequence numbers, window and flags; for a
 * SYN also its MSS and window scale options (well-formed ones only).
 * Inline for the forwarding path.
 *
 * Thread safety: reentrant.
 */
static inline void
mg_pkt_tcp_seg(const struct rte_mbuf *m, const struct mg_pkt_info *info,
	       struct mg_pkt_tcp_seg *seg)
{
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(
		m, const struct rte_tcp_hdr *, info->l4_off);
	uint32_t v;
	uint16_t win;

	/* 2-byte aligned at best (behind a 14-byte Ethernet header) */
	memcpy(&v, &th->sent_seq, sizeof(v));
	seg->seq = rte_be_to_cpu_32(v);
	memcpy(&v, &th->recv_ack, sizeof(v));
	seg->ack = rte_be_to_cpu_32(v);
	memcpy(&win, &th->rx_win, sizeof(win));
	seg->win = rte_be_to_cpu_16(win);
	seg->flags = info->tcp_flags;
	seg->len = info->payload_len;
	seg->mss = 0;
	seg->wscale = MG_PKT_NO_WSCALE;
	if (unlikely(seg->flags & RTE_TCP_SYN_FLAG))
		mg_pkt_tcp_syn_options(m, info, seg);
}

/**
 * Lower a SYN's MSS option to @p mss when it is larger, updating the TCP
 * checksum incrementally. A SYN without the option is left alone (its
 * peer assumes 536 or 1220 bytes, below any clamp).
 *
 * @return true when the option was changed.
 *
 * Thread safety: reentrant.
 */
bool mg_pkt_tcp_clamp_mss(struct rte_mbuf *m, const struct mg_pkt_info *info,
			  uint16_t mss);

/**
 * TTL (IPv4) or hop limit (IPv6) of a parsed IP packet.
 */
static inline uint8_t
mg_pkt_ttl(const struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	const uint8_t *l3 =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->l3_off);

	return info->l3 == MG_L3_IPV4 ? l3[8] : l3[7];
}

/**
 * Decrement the TTL or hop limit of a parsed IP packet, as a router does
 * when forwarding it (the IPv4 header checksum is updated incrementally,
 * RFC 1624). The caller has checked that it is above 1.
 *
 * Thread safety: reentrant.
 */
void mg_pkt_ttl_dec(struct rte_mbuf *m, const struct mg_pkt_info *info);

/** Bytes of the IP packet (or fragment), from its L3 header: Ethernet
 * padding after it excluded. */
static inline uint32_t
mg_pkt_l3_len(const struct mg_pkt_info *info)
{
	return info->payload_off + info->payload_len - info->l3_off;
}

/**
 * Whether an address may be a unicast host's: not unspecified,
 * loopback, multicast or the IPv4 limited broadcast (nor class E). The
 * gateway answers nothing else (a reply to a group is an amplifier).
 *
 * @param a   The address: 4 bytes for IPv4, else 16.
 * @param v4  Its family.
 *
 * Thread safety: reentrant.
 */
bool mg_pkt_unicast_addr(const uint8_t *a, bool v4);

/** ICMP errors the gateway sends, mapped to each family's type/code. */
enum mg_icmp_kind {
	MG_ICMP_TIME_EXCEEDED = 0, /**< v4 11/0, v6 3/0: TTL exceeded */
	MG_ICMP_FRAG_NEEDED,	   /**< v4 3/4 with the next-hop MTU,
				    * v6 2/0 packet too big with the MTU */
	MG_ICMP_ADMIN_PROHIBITED,  /**< v4 3/13, v6 1/1 */
};

/** Most bytes of the offending packet an ICMP error quotes: RFC 1812
 * 4.3.2.3 (576-byte v4 errors) and RFC 4443 2.4 (1280-byte v6). */
#define MG_ICMP4_QUOTE_MAX (576 - 20 - 8)
#define MG_ICMP6_QUOTE_MAX (1280 - 40 - 8)

/**
 * Build an ICMP or ICMPv6 error about a parsed IP packet, to its source
 * from @p src: the Ethernet header of @p m with its addresses swapped
 * (source @p port_mac; VLAN tags in the frame are kept), an IP header
 * (TTL / hop limit 64), the ICMP header and as much of the offending
 * packet as MG_ICMP4_QUOTE_MAX / MG_ICMP6_QUOTE_MAX allow, checksums
 * computed. @p m is not changed.
 *
 * No error is built (RFC 1122 3.2.2, RFC 4443 2.4 e) about an ICMP error
 * or an ICMPv6 error or redirect, a non-first fragment, or a packet from
 * an address that is not a unicast host's (unspecified, multicast,
 * broadcast, loopback).
 *
 * @param mp        Pool for the new frame.
 * @param m         The offending packet, parsed into @p info.
 * @param kind      What went wrong.
 * @param mtu       MG_ICMP_FRAG_NEEDED: the MTU to report; else 0.
 * @param src       The gateway's address the error comes from (same
 *                  family as @p m).
 * @param port_mac  The gateway port's MAC.
 * @return The frame, or NULL (no error is due, or @p mp is empty).
 *
 * Thread safety: reentrant.
 */
struct rte_mbuf *mg_pkt_icmp_error(struct rte_mempool *mp,
				   const struct rte_mbuf *m,
				   const struct mg_pkt_info *info,
				   enum mg_icmp_kind kind, uint16_t mtu,
				   const uint8_t *src,
				   const struct rte_ether_addr *port_mac);

/** The packet an ICMP error quotes, as found by mg_pkt_icmp_quote(). */
struct mg_pkt_icmp_quote {
	struct mg_5tuple tuple; /**< as the quoted packet was sent */
	uint16_t l3_off;	/**< quoted IP header, from byte 0 */
	uint16_t l4_off;	/**< quoted L4 header */
	uint16_t end;		/**< end of the ICMP message (first segment) */
	uint32_t seq;		/**< quoted TCP sequence number, host order */
};

/**
 * Whether a parsed ICMP or ICMPv6 packet is an error that quotes a TCP
 * or UDP packet (destination unreachable, time exceeded, parameter
 * problem; ICMPv6 packet too big) with at least its ports (and, for
 * TCP, its sequence number), and where that quote is.
 *
 * @return true with @p q filled.
 *
 * Thread safety: reentrant.
 */
bool mg_pkt_icmp_quote(const struct rte_mbuf *m, const struct mg_pkt_info *info,
		       struct mg_pkt_icmp_quote *q);

/**
 * Translate an ICMP error about a NATed connection: the quoted packet's
 * source or destination address and port, and the outer packet's source
 * or destination address; the quoted IPv4 header checksum and (when the
 * quote holds it) the quoted L4 checksum are updated incrementally, the
 * ICMP checksum and the outer IPv4 header checksum recomputed.
 *
 * @param m             The error, parsed into @p info, quote in @p q.
 * @param quoted_dst    true: rewrite the quoted destination; false: its
 *                      source.
 * @param addr, port    The quoted packet's new address (4 or 16 bytes)
 *                      and port (network order).
 * @param outer_dst     true: rewrite the outer destination; false: the
 *                      outer source.
 * @param outer         The outer address's new value, or NULL to keep it.
 *
 * Thread safety: reentrant.
 */
void mg_pkt_icmp_nat(struct rte_mbuf *m, const struct mg_pkt_info *info,
		     const struct mg_pkt_icmp_quote *q, bool quoted_dst,
		     const uint8_t *addr, uint16_t port, bool outer_dst,
		     const uint8_t *outer);

/**
 * Fold the one's complement sum of a checksum update: @p cksum is the
 * old checksum field, @p old and @p new the old and new bytes it covered
 * (@p len even). Returns the new checksum field.
 */
uint16_t mg_cksum_adjust(uint16_t cksum, const void *old, const void *new,
			 unsigned int len);

/**
 * Ones' complement sum (folded, not inverted) of an upper-layer
 * pseudo-header (RFC 793 / RFC 8200 8.1) and the message: a valid
 * checksum sums to 0xffff; a new one is its complement.
 *
 * @param addrs  Source then destination address, as in the IP header.
 * @param alen   4 or 16.
 * @param proto  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6.
 * @param l4     The message, checksum field included.
 * @param len    Its length (the upper-layer length, extension headers
 *               excluded).
 */
uint16_t mg_cksum_l4(const void *addrs, unsigned int alen, uint8_t proto,
		     const void *l4, uint16_t len);

/** The drop reasons of one stage above lib/pkt, for mg_drop_stage_add(). */
struct mg_drop_stage {
	const char *name;	  /**< the stage's, for errors: "esp" */
	unsigned int first;	  /**< its first reason */
	unsigned int end;	  /**< one past its last */
	const char *const *names; /**< names[r] for first <= r < end */
};

/**
 * Add a stage's names to the table of drop reasons. Stages are added in
 * the order they are numbered, each starting where the table ends, so
 * the table never has a hole; adding a stage again changes nothing.
 *
 * @return 0; -EINVAL when @p stage starts past the table's end (a
 *         stage before it missing) or at reason 0, is empty or ends
 *         past MG_DROP_CAPACITY, or one of its names is NULL, empty,
 *         not made of [a-z0-9_], "none", "invalid" or another
 *         reason's; -EEXIST when it starts below the table's end with
 *         other names than the table's (the same stage again: 0). The
 *         table is unchanged on error.
 *
 * Thread safety: the main thread at start-up, before any thread that
 * reads names (telemetry, the Prometheus endpoint) starts.
 */
int mg_drop_stage_add(const struct mg_drop_stage *stage);

/**
 * One past the last drop reason with a name: MG_DROP_PKT_END, or the
 * end of the last stage added. Every reason from 1 below it is named.
 *
 * Thread safety: any thread, once the stages are added.
 */
unsigned int mg_drop_reason_end(void);

/**
 * Stable short name of a drop reason, e.g. "ipv4_bad_ihl".
 *
 * @return The name, or "invalid" for a value no stage added names:
 *         MG_DROP_NONE is "none".
 *
 * Thread safety: any thread, once the stages are added.
 */
const char *mg_drop_reason_name(enum mg_drop_reason reason);

#ifdef __cplusplus
}
#endif

#endif /* MG_PKT_H */
