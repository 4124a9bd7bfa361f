/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * libFuzzer target `neigh`: lib/neigh's input path on raw frames — ARP,
 * IPv6 neighbour solicitations and advertisements into a neighbour
 * cache kept across inputs, echo replies, and the requests the gateway
 * sends for what a frame names. Frames live in heap buffers of their
 * exact size plus the tailroom the input asks for, so a reply that
 * grows past its room is an ASan report.
 *
 * Checked: a frame is rewritten only into a reply; a reply parses, goes
 * back to the sender (Ethernet and IP or ARP addresses, or all nodes for
 * a duplicate-address probe), comes from the gateway's MAC and the
 * address asked about, and its checksums verify (summed here); an echo
 * reply keeps checksums that were valid; the gateway's own addresses
 * never enter the cache, whatever a frame claims; a neighbour frame
 * failing RFC 4861's checks (hop limit, code, checksum) changes no
 * entry; the entry a frame names holds a station MAC, if any; a request
 * parses and asks for the right address.
 *
 * Input: a 1-byte header, then the frame.
 *   [0]  bits 0-1 NIC IP checksum verdict, 2-3 L4 verdict (unknown, bad,
 *        good, none); bit 4: no tailroom (else 128 bytes); bits 5-7 k:
 *        the clock moves 2^k - 1 seconds first (entries go stale at 30)
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "fuzz_common.h"
#include "mg_neigh.h"
#include "mg_pkt.h"

#define FRAME_MAX   9600
#define TAILROOM    128
#define CACHE_SIZE  16
#define RESET_EVERY 4096
#define TSC_HZ	    UINT64_C(1000000000)
#define REACHABLE_S 30

#define ND_NS 135
#define ND_NA 136

/* The gateway's addresses and MAC, as scripts/gen_mesh_pcaps.py's. */
static const uint8_t local4[][4] = { { 198, 18, 1, 1 }, { 198, 18, 2, 1 } };
static const uint8_t local6[][16] = {
	{ 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
	{ 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
};
static const struct rte_ether_addr port_mac = { { 0x02, 0x70, 0x63, 0x61, 0x70,
						  0x00 } };
static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };

static struct {
	struct mg_neigh_table *t;
	struct rte_mempool *pool;
	uint64_t now;
	uint64_t conflicts;
	unsigned int inputs;
} state;

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
addr_set(struct mg_addr *a, uint8_t family, const uint8_t *bytes)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	memcpy(a->bytes, bytes, family == 4 ? 4 : 16);
}

static bool
is_local(void *ctx, const struct mg_addr *a)
{
	unsigned int i;

	(void)ctx;
	for (i = 0; a->family == 4 && i < RTE_DIM(local4); i++)
		if (memcmp(a->bytes, local4[i], 4) == 0)
			return true;
	for (i = 0; a->family == 6 && i < RTE_DIM(local6); i++)
		if (memcmp(a->bytes, local6[i], 16) == 0)
			return true;
	return false;
}

static bool
station(const uint8_t *mac)
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

/* What the cache says about @p a now: known (and its MAC) or not. */
struct seen {
	bool known;
	struct rte_ether_addr mac;
};

static struct seen
look(const struct mg_addr *a)
{
	struct seen s;

	memset(&s, 0, sizeof(s));
	s.known = mg_neigh_lookup(state.t, a, state.now, &s.mac);
	if (s.known)
		FZ_CHECK(station(s.mac.addr_bytes),
			 "a cached neighbour has a group or zero MAC");
	return s;
}

static void
check_no_local_cached(void)
{
	struct mg_addr a;
	unsigned int i;

	for (i = 0; i < RTE_DIM(local4); i++) {
		addr_set(&a, 4, local4[i]);
		FZ_CHECK(!look(&a).known, "the gateway's own IPv4 address "
					  "was learned");
	}
	for (i = 0; i < RTE_DIM(local6); i++) {
		addr_set(&a, 6, local6[i]);
		FZ_CHECK(!look(&a).known, "the gateway's own IPv6 address "
					  "was learned");
	}
}

static void
check_arp_reply(const uint8_t *in, const struct rte_mbuf *m,
		const struct mg_pkt_info *info)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *req = in + info->l3_off, *rep = p + info->l3_off;
	struct mg_pkt_info r;
	struct mg_addr tpa;

	addr_set(&tpa, 4, req + 24);
	FZ_CHECK(be16(req + 6) == 1 && is_local(NULL, &tpa) && station(req + 8),
		 "answered an ARP frame that is not a request for us");
	FZ_CHECK(mg_pkt_parse((struct rte_mbuf *)m, &r) == MG_DROP_NONE &&
			 r.l3 == MG_L3_ARP && r.l3_off == info->l3_off,
		 "ARP reply unparseable");
	FZ_CHECK(be16(rep + 6) == 2, "ARP reply op %u", be16(rep + 6));
	FZ_CHECK(memcmp(p, req + 8, 6) == 0 && memcmp(p + 6, &port_mac, 6) == 0,
		 "ARP reply Ethernet addresses");
	FZ_CHECK(memcmp(rep + 8, &port_mac, 6) == 0 &&
			 memcmp(rep + 14, req + 24, 4) == 0 &&
			 memcmp(rep + 18, req + 8, 6) == 0 &&
			 memcmp(rep + 24, req + 14, 4) == 0,
		 "ARP reply addresses");
	FZ_CHECK(memcmp(p + 12, in + 12, info->l3_off - 12) == 0 &&
			 memcmp(rep, req, 6) == 0,
		 "ARP reply changed tags or the hardware fields");
}

static void
check_na(const uint8_t *in, uint16_t in_len, const struct rte_mbuf *m,
	 const struct mg_pkt_info *info)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *ip6 = in + info->l3_off, *ns = in + info->l4_off;
	const uint8_t *rip6 = p + info->l3_off, *na, *to, *to_mac;
	static const uint8_t unspec[16];
	bool dad = memcmp(ip6 + 8, unspec, 16) == 0;
	const uint8_t *slla = NULL, *o;
	struct mg_pkt_info r;
	struct mg_addr target;

	FZ_CHECK(ns[0] == ND_NS && ns[1] == 0 && ip6[7] == 255,
		 "answered what is not a valid solicitation");
	addr_set(&target, 6, ns + 8);
	FZ_CHECK(is_local(NULL, &target), "answered for another's address");
	/* the option the reply must go to, from the solicitation */
	for (o = ns + 24;
	     o + 2 <= in + info->payload_off + info->payload_len && o[1] != 0;
	     o += o[1] * 8)
		if (o[0] == 1 && o[1] * 8 >= 8)
			slla = o + 2;
	FZ_CHECK(mg_pkt_parse((struct rte_mbuf *)m, &r) == MG_DROP_NONE &&
			 r.l3 == MG_L3_IPV6 && r.tuple.proto == IPPROTO_ICMPV6,
		 "NA unparseable");
	FZ_CHECK(r.l3_off == info->l3_off && r.l4_off == r.l3_off + 40 &&
			 r.payload_off + r.payload_len == r.l4_off + 32 &&
			 m->data_len == r.l4_off + 32,
		 "NA layout");
	FZ_CHECK(in_len >= info->l3_off &&
			 memcmp(p + 12, in + 12, info->l3_off - 12) == 0,
		 "NA changed the tags or ethertype");
	na = p + r.l4_off;
	FZ_CHECK(na[0] == ND_NA && na[1] == 0 && rip6[7] == 255,
		 "NA type, code or hop limit");
	FZ_CHECK(memcmp(na + 8, ns + 8, 16) == 0 &&
			 memcmp(rip6 + 8, ns + 8, 16) == 0,
		 "NA target or source");
	FZ_CHECK(na[24] == 2 && na[25] == 1 &&
			 memcmp(na + 26, &port_mac, 6) == 0,
		 "NA target link-layer option");
	to = dad ? all_nodes : ip6 + 8;
	to_mac = dad ? all_nodes_mac : slla != NULL ? slla : in + 6;
	FZ_CHECK(memcmp(rip6 + 24, to, 16) == 0,
		 "NA sent to the wrong address");
	FZ_CHECK(memcmp(p, to_mac, 6) == 0 && memcmp(p + 6, &port_mac, 6) == 0,
		 "NA Ethernet addresses");
	FZ_CHECK((na[4] & 0x40) == (dad ? 0 : 0x40) && (na[4] & 0x20),
		 "NA flags %#x", na[4]);
	FZ_CHECK(fz_l4_ok(p, &r), "NA checksum");
}

static void
check_echo(const uint8_t *frame, uint16_t len, uint8_t hdr,
	   const struct mg_pkt_info *info)
{
	struct rte_mbuf *m = fz_mbuf_new(frame, len, 0);
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *), *l3, *in3;
	bool v4 = info->l3 == MG_L3_IPV4;
	bool l4_ok = fz_l4_ok(frame, info);
	unsigned int a = v4 ? 4 : 16, s = v4 ? 12 : 8;
	struct mg_pkt_info r;

	m->ol_flags = fz_ip_flag(hdr) | fz_l4_flag(hdr >> 2);
	if (!mg_neigh_echo_reply(m, info, &port_mac)) {
		FZ_CHECK(memcmp(p, frame, len) == 0,
			 "an echo not answered was changed");
		fz_mbuf_free(m);
		return;
	}
	l3 = p + info->l3_off;
	in3 = frame + info->l3_off;
	FZ_CHECK(frame[info->l4_off] == (v4 ? 8 : 128) &&
			 frame[info->l4_off + 1] == 0 && station(frame + 6),
		 "answered what is not an echo request from a station");
	FZ_CHECK(mg_pkt_parse(m, &r) == MG_DROP_NONE &&
			 r.l4_off == info->l4_off &&
			 r.payload_len == info->payload_len,
		 "echo reply unparseable or reshaped");
	FZ_CHECK(p[r.l4_off] == (v4 ? 0 : 129), "echo reply type");
	FZ_CHECK(memcmp(l3 + s, in3 + s + a, a) == 0 &&
			 memcmp(l3 + s + a, in3 + s, a) == 0,
		 "echo reply addresses not swapped");
	FZ_CHECK(memcmp(p, frame + 6, 6) == 0 &&
			 memcmp(p + 6, &port_mac, 6) == 0,
		 "echo reply Ethernet addresses");
	FZ_CHECK(fz_ip_ok(p, &r), "echo reply IPv4 header checksum");
	FZ_CHECK(fz_l4_ok(p, &r) == l4_ok, "echo reply checksum %s",
		 l4_ok ? "broken" : "mended");
	fz_mbuf_free(m);
}

/* The request the gateway would send for @p target parses and asks for
 * it, from the gateway. */
static void
check_request(const struct mg_addr *target)
{
	struct mg_addr src;
	struct mg_pkt_info r;
	struct rte_mbuf *m;
	const uint8_t *p;

	addr_set(&src, target->family,
		 target->family == 4 ? local4[0] : local6[0]);
	/* recorded as outstanding: a later input may answer it */
	m = mg_neigh_request(state.t, state.pool, &port_mac, &src, target,
			     state.now, state.now + TSC_HZ);
	FZ_CHECK(m != NULL, "no request built");
	p = rte_pktmbuf_mtod(m, const uint8_t *);
	FZ_CHECK(mg_pkt_parse(m, &r) == MG_DROP_NONE, "request unparseable");
	FZ_CHECK(memcmp(p + 6, &port_mac, 6) == 0, "request source MAC");
	if (target->family == 4) {
		FZ_CHECK(r.l3 == MG_L3_ARP && be16(p + 20) == 1 &&
				 memcmp(p + 22, &port_mac, 6) == 0 &&
				 memcmp(p + 28, src.bytes, 4) == 0 &&
				 memcmp(p + 38, target->bytes, 4) == 0,
			 "ARP request fields");
	} else {
		FZ_CHECK(r.l3 == MG_L3_IPV6 &&
				 r.tuple.proto == IPPROTO_ICMPV6 &&
				 p[r.l4_off] == ND_NS && p[14 + 7] == 255 &&
				 memcmp(p + r.l4_off + 8, target->bytes, 16) ==
					 0 &&
				 memcmp(r.tuple.src, src.bytes, 16) == 0,
			 "NS fields");
		/* to the target's solicited-node group, its MAC 33:33:ff.. */
		FZ_CHECK(r.tuple.dst[0] == 0xff && r.tuple.dst[11] == 1 &&
				 r.tuple.dst[12] == 0xff &&
				 memcmp(r.tuple.dst + 13, target->bytes + 13,
					3) == 0 &&
				 p[0] == 0x33 && p[1] == 0x33 &&
				 memcmp(p + 2, r.tuple.dst + 12, 4) == 0,
			 "NS destination");
		FZ_CHECK(fz_l4_ok(p, &r), "NS checksum");
	}
	rte_pktmbuf_free(m);
	FZ_CHECK(rte_mempool_in_use_count(state.pool) == 0,
		 "request mbuf leaked");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_eal_init("fuzz_neigh", NULL);
	state.pool = rte_pktmbuf_pool_create("fz_neigh", 63, 0, 0,
					     RTE_MBUF_DEFAULT_BUF_SIZE,
					     (int)rte_socket_id());
	if (state.pool == NULL)
		exit(1);
	state.now = TSC_HZ * 1000;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *frame = data + 1;
	enum mg_neigh_result res;
	struct mg_pkt_info info;
	struct mg_addr claim;
	struct seen before = { 0 };
	struct rte_mbuf *m;
	const uint8_t *l3, *l4 = NULL;
	bool rfc_ok = true, nd = false;
	uint16_t len;

	if (size < 1 || size - 1 > FRAME_MAX)
		return 0;
	len = (uint16_t)(size - 1);
	if (state.t == NULL || ++state.inputs == RESET_EVERY) {
		mg_neigh_free(state.t);
		state.t = mg_neigh_create("fz_neigh", CACHE_SIZE, SOCKET_ID_ANY,
					  TSC_HZ, REACHABLE_S);
		if (state.t == NULL)
			abort();
		state.inputs = 0;
	}
	state.now += ((UINT64_C(1) << (data[0] >> 5)) - 1) * TSC_HZ;

	m = fz_mbuf_new(frame, len, data[0] & 0x10 ? 0 : TAILROOM);
	m->ol_flags = fz_ip_flag(data[0]) | fz_l4_flag(data[0] >> 2);
	if (mg_pkt_parse(m, &info) != MG_DROP_NONE) {
		fz_mbuf_free(m);
		return 0;
	}
	l3 = frame + info.l3_off;
	memset(&claim, 0, sizeof(claim));
	if (info.l3 == MG_L3_ARP) {
		addr_set(&claim, 4, l3 + 14);
	} else if (info.l3 == MG_L3_IPV6 &&
		   info.tuple.proto == IPPROTO_ICMPV6 && info.frag == 0) {
		/* a fragment's data is no ICMPv6 message (and a later one
		 * may have none): only whole datagrams are read */
		l4 = frame + info.l4_off;
		nd = l4[0] == ND_NS || l4[0] == ND_NA;
		/* NS: the sender is learned; NA: the target */
		if (l4[0] == ND_NS)
			addr_set(&claim, 6, l3 + 8);
		else if (l4[0] == ND_NA &&
			 info.payload_off + info.payload_len >=
				 info.l4_off + 24)
			addr_set(&claim, 6, l4 + 8);
		rfc_ok = l3[7] == 255 && l4[1] == 0 &&
			 ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
				  RTE_MBUF_F_RX_L4_CKSUM_GOOD ||
			  fz_l4_ok(frame, &info));
	}
	if (claim.family != 0)
		before = look(&claim);

	res = mg_neigh_input(state.t, m, &info, &port_mac, is_local, NULL,
			     state.now, &state.conflicts);
	switch (res) {
	case MG_NEIGH_REPLY:
		if (info.l3 == MG_L3_ARP)
			check_arp_reply(frame, m, &info);
		else
			check_na(frame, len, m, &info);
		break;
	case MG_NEIGH_CONSUMED:
		FZ_CHECK(info.l3 == MG_L3_ARP || nd,
			 "consumed what is neither ARP nor ND");
		/* fall through */
	case MG_NEIGH_NOT_NEIGH:
		FZ_CHECK(m->data_len == len &&
				 memcmp(rte_pktmbuf_mtod(m, uint8_t *), frame,
					len) == 0,
			 "a frame not answered was changed");
		FZ_CHECK(res == MG_NEIGH_CONSUMED || info.l3 != MG_L3_ARP,
			 "ARP handed back to the caller");
		break;
	default: FZ_CHECK(false, "result %d", res);
	}
	if (claim.family != 0) {
		struct seen after = look(&claim);

		if (!rfc_ok)
			FZ_CHECK(after.known == before.known &&
					 (!after.known ||
					  rte_is_same_ether_addr(&after.mac,
								 &before.mac)),
				 "learned from a frame RFC 4861 drops");
		if (is_local(NULL, &claim))
			FZ_CHECK(!after.known, "learned our own address");
		/* only answers are learned: ARP replies and advertisements */
		if (after.known && !before.known)
			FZ_CHECK(info.l3 == MG_L3_ARP ? be16(l3 + 6) == 2
						      : l4[0] == ND_NA,
				 "learned from a frame that is not an answer");
		check_request(&claim);
	}
	check_no_local_cached();
	fz_mbuf_free(m);

	if ((info.l3 == MG_L3_IPV4 && info.tuple.proto == IPPROTO_ICMP) ||
	    (info.l3 == MG_L3_IPV6 && info.tuple.proto == IPPROTO_ICMPV6 &&
	     !nd))
		check_echo(frame, len, data[0], &info);
	return 0;
}
