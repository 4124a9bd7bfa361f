/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The worker lcore: poll every port's queue, parse, reassemble
 * fragments, then either answer for the gateway (ARP, ND, echo), follow a
 * tracked connection (its TCP window checked), translate an ICMP error
 * about one, or admit a new connection (classify, authorize, pick a
 * backend) — and NAT, route (TTL, MTU) and forward. ESP between edge
 * nodes (lib/esp) hooks in twice: tunnel packets leave a parsed burst
 * for decryption (and come back later as if received, marked with
 * their peer), and frames for a peer are encrypted as they leave. */

#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>

#include "meshgate.h"
#include "denylog.h"
#include "shadow.h"
#include "mg_pkt.h"

/* Frames looked at per burst never exceed this (config caps burst). */
#define BURST_MAX MG_CONF_MAX_BURST
/* rte_hash bulk lookups take at most 64 keys. */
#define LOOKUP_MAX 64
/* Flow entries a worker examines for expiry per poll round: a few when
 * busy so expiry keeps up under load, more when idle. */
#define EXPIRE_BUDGET_BUSY 8
#define EXPIRE_BUDGET_IDLE 64
/* How long a packet waits for its next hop to resolve. */
#define PARK_MS 1000
/* Fragments one datagram may leave as on the way out: 64 KiB in 1,280-byte
 * IPv6 packets. */
#define FRAGS_OUT_MAX 64
/* The death row is freed before it could overflow (rte_ip_frag appends
 * to it without a bound check): one datagram's fragments and one more. */
#define DEATH_ROW_ROOM (MG_PKT_MAX_FRAGS + 1)
/* Evictions a new connection tries for a place in the half-open budget
 * before it is dropped (other workers may take the places made). */
#define HALF_OPEN_TRIES 4

/* Unsent frames from a full TX ring: freed here and counted, never
 * retried, so a stuck port cannot hold the pool. */
static void
tx_unsent(struct rte_mbuf **pkts, uint16_t unsent, void *arg)
{
	struct mg_worker *w = arg;

	rte_pktmbuf_free_bulk(pkts, unsent);
	mg_counter_add(&w->stats->drops[MG_DROP_TX_FULL], unsent);
}

/* A connection closed or forgotten no longer counts under its caller's
 * limit: given back once, by whichever worker sees that first. */
static void
limit_end(struct mg_worker *w, const struct mg_flow *f)
{
	/* the flag is the only field of a published entry that workers
	 * write concurrently, and only this way */
	uint8_t *held = (uint8_t *)(uintptr_t)&f->limit_held;

	if (__atomic_load_n(held, __ATOMIC_RELAXED) == 0 ||
	    __atomic_exchange_n(held, 0, __ATOMIC_ACQ_REL) == 0)
		return;
	mg_limit_release(w->dp->limits,
			 mg_limit_bucket(w->dp->limits, f->limit));
	mg_limit_release(w->dp->limits, f->limit_src);
}

/* A connection this worker removed (expired, or replaced by a new one on
 * its tuple) is closed, for telemetry, and gives its buffer back. */
static void
flow_gone(struct mg_worker *w, const struct mg_flow *f)
{
	if (f->key[MG_FLOW_DIR_FWD].proto == IPPROTO_TCP)
		mg_tel_conn_close(w->stats, f->labels);
	limit_end(w, f);
	/* a client that stalled inside a request head holds a buffer */
	if (f->l7 != MG_L7_NONE)
		mg_l7_flow_release(w->dp->l7_pool, &w->dp->l7_flows[f->index]);
	if (unlikely(w->shadow != NULL))
		mg_shadow_flow_gone(w, f);
}

/* Expired, or evicted for a new connection: a packet of the same burst
 * looked up before must look again (see dispatch()). */
static void
flow_removed(void *ctx, const struct mg_flow *f)
{
	struct mg_worker *w = ctx;

	flow_gone(w, f);
	w->removals++;
}

struct mg_worker *
mg_worker_create(unsigned int lcore_id, unsigned int rank, uint16_t queue,
		 const struct mg_conf *conf, const struct mg_port *ports,
		 struct mg_dataplane *dp, enum mg_lcore_role role,
		 const bool *quit)
{
	int socket = (int)rte_lcore_to_socket_id(lcore_id);
	struct mg_worker *w;
	unsigned int i;

	w = rte_zmalloc_socket("mg_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
			       socket);
	if (w == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	w->lcore_id = lcore_id;
	w->rank = rank;
	w->queue = queue;
	w->burst = conf->burst;
	w->n_ports = (uint16_t)conf->n_ports;
	w->quit = quit;
	w->dp = dp;
	w->limit_view = mg_limit_view(dp->limits, rank);
	w->shadow = dp->shadow;
	w->denylog = mg_denylog_worker(dp->denylog, rank);
	w->conn_errors = dp->conn_errors + (size_t)rank * dp->n_label_sets;
	w->cursor.first = rank;
	w->cursor.next = rank;
	w->cursor.removed = flow_removed;
	w->cursor.ctx = w;
	rte_meter_srtcm_config(&w->ctl_meter, &dp->ctl_profile);
	rte_meter_srtcm_config(&w->deny_meter, &dp->ctl_profile);
	/* bucket_entries 4, twice the buckets needed: few collisions */
	w->frag_tbl = rte_ip_frag_table_create(
		rte_align32pow2(conf->fragments.max) / 2, 4,
		conf->fragments.max,
		dp->tsc_hz * conf->fragments.timeout_ms / 1000, socket);
	if (w->frag_tbl == NULL) {
		mg_worker_free(w);
		rte_errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < conf->n_ports; i++) {
		w->port_id[i] = ports[i].port_id;
		w->port_name[i] = ports[i].name;
		w->mtu[i] = ports[i].mtu;
		w->mss_clamp[i] = conf->ports[i].mss_clamp;
		/* two-arm: edge <-> mesh; one-arm: back out the same port */
		w->out[i] = conf->mode == MG_MODE_TWO_ARM ? (uint16_t)(1 - i)
							  : (uint16_t)i;
		w->txb[i] = rte_zmalloc_socket(
			"mg_txb", RTE_ETH_TX_BUFFER_SIZE(BURST_MAX), 0, socket);
		if (w->txb[i] == NULL) {
			mg_worker_free(w);
			rte_errno = ENOMEM;
			return NULL;
		}
		rte_eth_tx_buffer_init(w->txb[i], BURST_MAX);
		rte_eth_tx_buffer_set_err_callback(w->txb[i], tx_unsent, w);
	}
	w->stats = mg_telemetry_lcore_claim(lcore_id, role);
	if (w->stats == NULL) {
		mg_worker_free(w);
		return NULL;
	}
	w->marks = mg_esp_marks(dp->esp);
	if (dp->esp != NULL) {
		w->esp = mg_esp_worker_create(dp->esp, rank, w->stats, socket);
		if (w->esp == NULL) {
			mg_worker_free(w);
			return NULL;
		}
	}
	if (conf->recorder.packets != 0) {
		w->recorder = mg_recorder_create(conf->recorder.packets,
						 lcore_id, socket);
		if (w->recorder == NULL) {
			mg_worker_free(w);
			return NULL;
		}
	}
	return w;
}

void
mg_worker_free(struct mg_worker *w)
{
	unsigned int i;

	if (w == NULL)
		return;
	MG_TSAN_ACQUIRE(w); /* its loop has returned */
	/* what is in its queue pair comes back and is freed */
	mg_esp_worker_free(w->esp);
	mg_neigh_pending_flush(&w->pending);
	if (w->frag_tbl != NULL) {
		rte_ip_frag_free_death_row(&w->death_row, 0);
		rte_ip_frag_table_destroy(w->frag_tbl);
	}
	for (i = 0; i < w->n_ports; i++) {
		if (w->txb[i] == NULL)
			continue;
		rte_pktmbuf_free_bulk(w->txb[i]->pkts, w->txb[i]->length);
		rte_free(w->txb[i]);
	}
	mg_recorder_free(w->recorder);
	rte_free(w);
}

/* Count @p m as dropped for @p why, and keep it in the flight recorder
 * with what the drop was about (@p rc, NULL: unknown); the caller still
 * owns it (it may become an answer). */
static inline void
count_drop(struct mg_worker *w, const struct rte_mbuf *m,
	   enum mg_drop_reason why, const struct mg_recorder_ctx *rc)
{
	mg_counter_add(&w->stats->drops[why], 1);
	if (unlikely(w->recorder != NULL))
		mg_recorder_add(w->recorder, m, (uint8_t)why, rc, w->now);
}

static inline void
drop(struct mg_worker *w, struct rte_mbuf *m, enum mg_drop_reason why)
{
	count_drop(w, m, why, NULL);
	rte_pktmbuf_free(m);
}

static __rte_always_inline void
tx_raw(struct mg_worker *w, uint16_t port, struct rte_mbuf *m)
{
	mg_counter_add(
		&w->stats->tx,
		rte_eth_tx_buffer(w->port_id[port], w->queue, w->txb[port], m));
}

static bool esp_out(struct mg_worker *w, uint16_t port, struct rte_mbuf *m);

/* Every frame leaves here: through a peer's SA when it goes to one. */
static __rte_always_inline void
tx(struct mg_worker *w, uint16_t port, struct rte_mbuf *m)
{
	if (unlikely(w->esp_set != NULL) && esp_out(w, port, m))
		return;
	tx_raw(w, port, m);
}

/* Ethernet source = our port, destination = the next hop. */
static inline void
set_macs(struct rte_mbuf *m, const struct rte_ether_addr *src,
	 const struct rte_ether_addr *dst)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	rte_ether_addr_copy(dst, &eth->dst_addr);
	rte_ether_addr_copy(src, &eth->src_addr);
}

/* Back to whoever handed us the frame, from our port. */
static inline void
reply_macs(struct rte_mbuf *m, const struct rte_ether_addr *port_mac)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(port_mac, &eth->src_addr);
}

static inline void
tuple_addr(struct mg_addr *a, const uint8_t *bytes, uint8_t family)
{
	a->family = family;
	memcpy(a->bytes, bytes, sizeof(a->bytes));
}

/* ---- ESP (lib/esp): the input and output hooks, and what binds a
 * connection to the peers its two sides sit behind ---- */

/* The peer @p m was decapsulated from; 0: it came in clear. */
static inline uint16_t
origin(const struct mg_worker *w, const struct rte_mbuf *m)
{
	return mg_esp_origin(&w->marks, m);
}

/* Send @p m to peer @p peer (0: in clear), whatever its destination. */
static inline void
egress(const struct mg_worker *w, struct rte_mbuf *m, uint16_t peer)
{
	mg_esp_set_egress(&w->marks, m, peer);
}

/* Input hook, on a parsed burst: tunnel packets for the gateway's
 * endpoints are taken (decrypted later, see esp_round()); clear packets
 * from behind a peer get reason esp_required. */
static inline uint16_t
esp_in(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
       struct rte_mbuf **pkts, struct mg_pkt_info *info, uint8_t *reason,
       uint16_t n)
{
	const struct mg_esp_set *set = mg_ruleset_esp(rs);

	if (likely(set == NULL))
		return n;
	return mg_esp_input(w->esp, set, in, pkts, info, reason, n, w->now);
}

static void tx_fragments(struct mg_worker *w, uint8_t out, struct rte_mbuf *m,
			 const struct mg_pkt_info *info, uint16_t mtu);

/* Output hook, in tx(): a frame for a peer is staged for encryption.
 * Returns false when it leaves in clear. Packets of connections were
 * sized for the tunnel before they were rewritten (may_leave()); what
 * still does not fit is fragmented when IPv4 allows, else dropped. */
static bool
esp_out(struct mg_worker *w, uint16_t port, struct rte_mbuf *m)
{
	struct mg_pkt_info info;
	uint16_t inner = 0;

	switch (mg_esp_output(w->esp, w->esp_set, port, m, w->mtu[port],
			      &inner)) {
	case MG_ESP_CLEAR: return false;
	case MG_ESP_TAKEN: return true;
	case MG_ESP_TOO_BIG: break;
	}
	if (mg_pkt_parse(m, &info) == MG_DROP_NONE && info.l3 == MG_L3_IPV4 &&
	    inner >= 68 &&
	    !(rte_pktmbuf_mtod_offset(m, const uint8_t *, info.l3_off)[6] &
	      (RTE_IPV4_HDR_DF_FLAG >> 8))) {
		tx_fragments(w, (uint8_t)port, m, &info, inner);
		return true;
	}
	drop(w, m, MG_DROP_MTU_EXCEEDED);
	return true;
}

/* The largest IP packet @p m may be to leave through port @p out: less
 * the tunnel's overhead when it goes through a peer. */
static inline uint16_t
link_mtu(const struct mg_worker *w, uint8_t out, const struct rte_mbuf *m,
	 const struct mg_pkt_info *info)
{
	if (likely(w->esp_set == NULL))
		return w->mtu[out];
	return mg_esp_inner_mtu(w->esp_set,
				mg_esp_egress_of(&w->marks, w->esp_set, m,
						 info->tuple.family,
						 info->tuple.dst),
				w->mtu[out]);
}

static void process_burst(struct mg_worker *w, const struct mg_ruleset *rs,
			  uint16_t in, struct rte_mbuf **pkts, uint16_t n);

/* Decrypted packets go through the data path again, as received. */
static void
esp_decapsulated(void *ctx, uint16_t in, struct rte_mbuf **pkts, uint16_t n)
{
	struct mg_worker *w = ctx;

	process_burst(w, w->rs, in, pkts, n);
}

static void
esp_encapsulated(void *ctx, uint16_t port, struct rte_mbuf *m)
{
	tx_raw(ctx, port, m);
}

/* Once a round: what the round staged goes to the cryptodev, what it
 * finished comes back (decrypted packets may stage more: next round). */
static void
esp_round(struct mg_worker *w)
{
	const struct mg_esp_sink sink = { esp_decapsulated, esp_encapsulated,
					  w };

	mg_esp_flush(w->esp);
	mg_esp_poll(w->esp, &sink);
	mg_esp_flush(w->esp);
}

/* Whether the caller of a new connection is a peer: its identity then
 * ("peer:NAME"), whatever the source address; *caller is
 * MG_RULESET_BY_SOURCE for clear traffic. False: a peer the config no
 * longer has (@p m dropped). */
static inline bool
caller_of(struct mg_worker *w, const struct mg_ruleset *rs, struct rte_mbuf *m,
	  uint32_t *caller)
{
	uint16_t from = origin(w, m);
	int id;

	*caller = MG_RULESET_BY_SOURCE;
	if (likely(from == 0))
		return true;
	id = mg_esp_identity(mg_ruleset_esp(rs), from);
	if (id < 0) {
		mg_esp_drop(w->esp, from, m, MG_DROP_ESP_WRONG_PEER);
		return false;
	}
	*caller = (uint32_t)id;
	return true;
}

/* A packet of a connection must come from where its side of the
 * connection does: in clear, or through that side's peer. */
static inline bool
from_its_side(struct mg_worker *w, struct rte_mbuf *m, const struct mg_flow *f,
	      uint8_t dir)
{
	uint16_t from = origin(w, m);

	if (likely(from == f->peer[dir]))
		return true;
	if (from == 0)
		mg_esp_drop(w->esp, f->peer[dir], m, MG_DROP_ESP_REQUIRED);
	else
		mg_esp_drop(w->esp, from, m, MG_DROP_ESP_WRONG_PEER);
	return false;
}

/* The fragments of a datagram came all in clear or all from one peer:
 * a fragment in clear must not complete a peer's datagram. */
static bool
one_origin(const struct mg_worker *w, const struct rte_mbuf *m)
{
	uint16_t first = origin(w, m);
	const struct rte_mbuf *seg;

	for (seg = m->next; seg != NULL; seg = seg->next)
		if (origin(w, seg) != first)
			return false;
	return true;
}

/* Whether this worker may originate one more ICMP error or challenge
 * ACK now: a flood of bad packets must not become a flood of answers. */
static inline bool
ctl_allowed(struct mg_worker *w)
{
	return rte_meter_srtcm_color_blind_check(&w->ctl_meter,
						 &w->dp->ctl_profile, w->now,
						 1) == RTE_COLOR_GREEN;
}

/* An ICMP error about @p m to its source, from the gateway's address on
 * port @p in, when the rate allows and the port has an address of the
 * family. @p m itself is left to the caller. */
static void
icmp_error(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	   const struct rte_mbuf *m, const struct mg_pkt_info *info,
	   enum mg_icmp_kind kind, uint16_t mtu)
{
	struct mg_addr peer, src;
	struct rte_mbuf *e;

	tuple_addr(&peer, info->tuple.src, info->tuple.family);
	if (!mg_ruleset_local_addr(rs, in, &peer, &src) || !ctl_allowed(w))
		return;
	e = mg_pkt_icmp_error(w->dp->pool, m, info, kind, mtu, src.bytes,
			      &w->dp->mac[in]);
	if (e == NULL)
		return;
	egress(w, e, origin(w, m)); /* back the way @p m came */
	tx(w, in, e);
}

/*
 * A new connection the policy refuses: dropped as policy_deny and, under
 * deny_action "reset", answered from the virtual address it called so
 * that the caller gives up at once — a SYN (the only TCP segment that
 * reaches admission) with a RST|ACK, a UDP datagram with an ICMP
 * administratively prohibited. At most one answer per refused packet,
 * never larger than it plus an IP and an ICMP header, within the
 * worker's own rate: a spoofed flood cannot be turned against its
 * victim. Nothing answers a source that is not a unicast host's, a
 * frame sent to a group MAC, nor ICMP (errors included): RSTs never
 * reach here. Consumes @p m.
 */
static void
deny(struct mg_worker *w, uint16_t in, struct rte_mbuf *m,
     const struct mg_pkt_info *info, uint8_t action,
     const struct mg_recorder_ctx *rc)
{
	const struct rte_ether_hdr *eth =
		rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	bool v4 = info->tuple.family == 4;
	uint16_t from = origin(w, m);
	struct rte_mbuf *e;
	uint32_t seq;

	count_drop(w, m, MG_DROP_POLICY_DENY, rc);
	if (action != MG_DENY_RESET ||
	    (info->tuple.proto != IPPROTO_TCP &&
	     info->tuple.proto != IPPROTO_UDP) ||
	    rte_is_multicast_ether_addr(&eth->dst_addr) ||
	    !mg_pkt_unicast_addr(info->tuple.src, v4)) {
		rte_pktmbuf_free(m);
		return;
	}
	if (rte_meter_srtcm_color_blind_check(&w->deny_meter,
					      &w->dp->ctl_profile, w->now,
					      1) != RTE_COLOR_GREEN) {
		mg_counter_add(&w->stats->deny_replies_suppressed, 1);
		rte_pktmbuf_free(m);
		return;
	}
	if (info->tuple.proto == IPPROTO_TCP) {
		const struct rte_tcp_hdr *th = mg_pkt_tcp_hdr(m, info);

		seq = rte_be_to_cpu_32(th->sent_seq);
		/* RFC 9293 3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>,
		 * the SYN counting one; to the ACK of a SYN cookie (the
		 * client thinks itself connected), <SEQ=SEG.ACK><RST> */
		if ((info->tcp_flags & RTE_TCP_ACK_FLAG
			     ? mg_pkt_tcp_control(
				       m, info, true,
				       rte_be_to_cpu_32(th->recv_ack), 0,
				       RTE_TCP_RST_FLAG)
			     : mg_pkt_tcp_reset(m, info, true, 0,
						seq + 1 + info->payload_len)) <
		    0) {
			rte_pktmbuf_free(m);
			return;
		}
		reply_macs(m, &w->dp->mac[in]);
		e = m;
	} else {
		e = mg_pkt_icmp_error(w->dp->pool, m, info,
				      MG_ICMP_ADMIN_PROHIBITED, 0,
				      info->tuple.dst, &w->dp->mac[in]);
		rte_pktmbuf_free(m);
		if (e == NULL)
			return;
	}
	mg_counter_add(&w->stats->deny_replies, 1);
	egress(w, e, from); /* back the way @p m came: its peer's SA, if any */
	tx(w, in, e);
}

/*
 * A packet to be routed on (a tracked connection's, a new connection's
 * once classified, an ICMP error being translated) whose TTL / hop
 * limit would reach 0 (RFC 1812 5.3.1, RFC 8200 3): dropped, answered
 * with time exceeded, and never tracked or inspected, since it would
 * die behind the next router. Consumes @p m.
 */
static void
ttl_expired(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	    struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	icmp_error(w, rs, in, m, info, MG_ICMP_TIME_EXCEEDED, 0);
	drop(w, m, MG_DROP_TTL_EXCEEDED);
}

/* ---- leaving: MTU and fragments ---- */

static inline bool
reassembled(const struct mg_worker *w, const struct rte_mbuf *m)
{
	return (m->ol_flags & w->dp->reassembled_flag) != 0;
}

/* The largest fragment a datagram arrived in (its IP length): a
 * reassembled datagram leaves in fragments no larger, as Linux's
 * defragmentation does, so the path MTU its sender found still holds. */
static uint16_t
arrived_frag_size(const struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	/* the first segment is the first fragment: headers and data; the
	 * others are the data of the later ones */
	uint32_t hdr = info->l4_off - info->l3_off;
	uint32_t data = m->data_len - info->l4_off;
	const struct rte_mbuf *seg;

	for (seg = m->next; seg != NULL; seg = seg->next)
		data = RTE_MAX(data, (uint32_t)seg->data_len);
	/* IPv6 fragments also carried their fragment header */
	return (uint16_t)RTE_MIN(hdr + data + (info->l3 == MG_L3_IPV6 ? 8 : 0),
				 (uint32_t)UINT16_MAX);
}

/*
 * Whether @p m may leave through port @p out: it fits the MTU, or it may
 * be fragmented (IPv4 without DF, or a datagram the gateway reassembled)
 * — *frag_mtu is then the size of its fragments. Otherwise its source
 * learns the MTU (ICMP fragmentation needed / packet too big, when
 * @p answer) and it is dropped: returns false, @p m consumed.
 */
static bool
may_leave(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	  uint8_t out, struct rte_mbuf *m, const struct mg_pkt_info *info,
	  bool answer, uint16_t *frag_mtu)
{
	const uint8_t *l3 =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->l3_off);
	uint16_t mtu = link_mtu(w, out, m, info);

	*frag_mtu = 0;
	if (likely(mg_pkt_l3_len(info) <= mtu))
		return true;
	if (reassembled(w, m)) {
		*frag_mtu = RTE_MIN(mtu, arrived_frag_size(m, info));
		return true;
	}
	if (info->l3 == MG_L3_IPV4 && !(l3[6] & (RTE_IPV4_HDR_DF_FLAG >> 8))) {
		*frag_mtu = mtu;
		return true;
	}
	if (answer)
		icmp_error(w, rs, in, m, info, MG_ICMP_FRAG_NEEDED, mtu);
	drop(w, m, MG_DROP_MTU_EXCEEDED);
	return false;
}

/* The common case of may_leave(), decided inline: in clear (no peers)
 * and within the port's MTU. */
static __rte_always_inline bool
leaves_whole(const struct mg_worker *w, uint8_t out,
	     const struct mg_pkt_info *info)
{
	return likely(w->esp_set == NULL && mg_pkt_l3_len(info) <= w->mtu[out]);
}

/* Send @p m (L2 header in place) in fragments of @p mtu bytes of IP. */
static void
tx_fragments(struct mg_worker *w, uint8_t out, struct rte_mbuf *m,
	     const struct mg_pkt_info *info, uint16_t mtu)
{
	struct rte_mbuf *frags[FRAGS_OUT_MAX];
	uint8_t l2[RTE_ETHER_HDR_LEN + MG_PKT_MAX_VLANS * RTE_VLAN_HLEN];
	uint16_t l2_len = info->l3_off;
	bool v4 = info->l3 == MG_L3_IPV4;
	int32_t n, i;

	/* rte_ipv6_fragment_packet() knows no extension headers */
	if (!v4 && info->l4_off != info->l3_off + sizeof(struct rte_ipv6_hdr)) {
		drop(w, m, MG_DROP_MTU_EXCEEDED);
		return;
	}
	memcpy(l2, rte_pktmbuf_mtod(m, void *), l2_len);
	rte_pktmbuf_adj(m, l2_len);
	if (v4)
		n = rte_ipv4_fragment_packet(m, frags, FRAGS_OUT_MAX, mtu,
					     w->dp->pool, w->dp->indirect_pool);
	else
		n = rte_ipv6_fragment_packet(m, frags, FRAGS_OUT_MAX, mtu,
					     w->dp->pool, w->dp->indirect_pool);
	if (n < 0) {
		drop(w, m, MG_DROP_MTU_EXCEEDED);
		return;
	}
	for (i = 0; i < n; i++)
		mg_esp_copy_marks(&w->marks, frags[i], m);
	/* the fragments refer to its data */
	rte_pktmbuf_free(m);
	for (i = 0; i < n; i++) {
		uint8_t *p = (uint8_t *)rte_pktmbuf_prepend(frags[i], l2_len);

		if (p == NULL) {
			drop(w, frags[i], MG_DROP_MTU_EXCEEDED);
			continue;
		}
		memcpy(p, l2, l2_len);
		if (v4) {
			struct rte_ipv4_hdr *ip =
				(struct rte_ipv4_hdr *)(p + l2_len);

			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		}
		tx(w, out, frags[i]);
	}
}

/* Send a packet that is not a tracked connection's (wire mode, a local
 * answer) out of port @p out, fragmenting where allowed. */
static void
tx_any(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
       uint8_t out, struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	uint16_t frag_mtu;

	if (info->l3 != MG_L3_IPV4 && info->l3 != MG_L3_IPV6) {
		tx(w, out, m);
		return;
	}
	frag_mtu = 0;
	if (!leaves_whole(w, out, info) &&
	    !may_leave(w, rs, in, out, m, info, false, &frag_mtu))
		return;
	if (unlikely(frag_mtu != 0))
		tx_fragments(w, out, m, info, frag_mtu);
	else
		tx(w, out, m);
}

/* A connect failure of @p f's label set, or a backend's reset with a
 * request waiting: an error outcome for the canary rollback. */
static inline void
conn_error(struct mg_worker *w, const struct mg_flow *f)
{
	uint64_t *c;

	if (f->labels >= w->dp->n_label_sets)
		return;
	c = &w->conn_errors[f->labels];
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

static void admit(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
		  struct rte_mbuf *m, const struct mg_pkt_info *info);

/*
 * Passive health from a handshake (@p before: the connection's state
 * before this segment): the backend's SYN-ACK is a success, its RST
 * before the connection is established a failure (only a RST at the
 * exact sequence number gets here), and so is the client's SYN
 * retransmitted after the connect timeout with no SYN-ACK. In that last
 * case, if the backend is now out, the connection is forgotten and
 * admitted again — no byte has flowed yet, so the client never notices
 * that its SYN went elsewhere. Returns true when @p m was consumed that
 * way.
 */
static bool
handshake_health(struct mg_worker *w, const struct mg_ruleset *rs,
		 struct rte_mbuf *m, const struct mg_pkt_info *info,
		 struct mg_flow *f, uint8_t dir, uint16_t in,
		 enum mg_flow_state before)
{
	/* the service it was admitted to, as the ruleset in force has it
	 * (none, MG_RULESET_NONE, if a reload removed it) */
	uint16_t service = mg_ruleset_service_of_id(rs, f->service_id);
	const struct mg_health_params *hp;
	uint8_t flags = info->tcp_flags;
	struct mg_health *h = w->dp->health;

	hp = mg_ruleset_health_params(rs, service);
	if (hp == NULL || !hp->enabled)
		return false;
	/* what counts, and how far, is lib/canary's to say (a RST from a
	 * port-keeping backend does not): pass the evidence */
	if (dir == MG_FLOW_DIR_REV) {
		if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
			    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG) &&
		    before == MG_FLOW_SYN_SENT)
			mg_ruleset_health_report(rs, service, f->health,
						 MG_HEALTH_SYN_ACK, w->now);
		else if (flags & RTE_TCP_RST_FLAG) {
			mg_ruleset_health_report(rs, service, f->health,
						 MG_HEALTH_RST, w->now);
			conn_error(w, f);
		}
		return false;
	}
	if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) !=
		    RTE_TCP_SYN_FLAG ||
	    before != MG_FLOW_SYN_SENT ||
	    mg_flow_idle_cycles(w->dp->flows, f, MG_FLOW_DIR_FWD, w->now) <
		    hp->connect_timeout_tsc ||
	    mg_pkt_tcp_cksum(m, info) != MG_DROP_NONE)
		return false;
	mg_ruleset_health_report(rs, service, f->health, MG_HEALTH_TIMEOUT,
				 w->now);
	conn_error(w, f);
	if (mg_health_up(h, f->health, w->now) ||
	    mg_flow_remove(w->dp->flows, w->rank, f) != 0)
		return false;
	flow_gone(w, f);
	w->removals++;
	admit(w, rs, in, m, info);
	return true;
}

/* Cycles since a mark taken with mark_now(); wraps safely in 32 bits. */
static inline uint32_t
mark_now(uint64_t now)
{
	return (uint32_t)(now >> MG_FLOW_MARK_SHIFT);
}

static inline uint64_t
since_mark(uint64_t now, uint32_t mark)
{
	return (uint64_t)(mark_now(now) - mark) << MG_FLOW_MARK_SHIFT;
}

/*
 * Per-connection telemetry of a TCP packet: bytes each way, the
 * handshake time (SYN forwarded -> SYN-ACK back), HTTP/1.x request
 * -> first response byte with the response's status class, and the
 * sizes of both when their first segment tells them. Each side
 * writes only its own half: the client's counts requests and marks the
 * time of the pending one, the backend's counts the requests answered;
 * a request waits while the two counts differ.
 */
static inline void
tcp_telemetry(struct mg_worker *w, struct rte_mbuf *m,
	      const struct mg_pkt_info *info, struct mg_flow *f, uint8_t dir,
	      enum mg_flow_state before)
{
	struct mg_flow_half *h = mg_flow_half(w->dp->flows, f, dir);
	struct mg_flow_half *fwd =
		mg_flow_half(w->dp->flows, f, MG_FLOW_DIR_FWD);
	struct mg_lcore_stats *s = w->stats;
	const uint8_t *payload;
	int64_t size;
	uint32_t seen;
	uint8_t other;
	int code;

	mg_tel_bytes(s, f->labels, (enum mg_tel_dir)dir, mg_pkt_l3_len(info));
	if (dir == MG_FLOW_DIR_REV && before == MG_FLOW_SYN_SENT &&
	    (info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
		    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG))
		mg_tel_handshake(
			s, f->labels,
			since_mark(w->now, __atomic_load_n(&fwd->mark,
							   __ATOMIC_RELAXED)));
	/* the backend reset the connection with a request waiting: that
	 * request's outcome is an error of its version (canary rollback;
	 * only a RST at the exact sequence number gets here) */
	if (unlikely(info->tcp_flags & RTE_TCP_RST_FLAG) &&
	    dir == MG_FLOW_DIR_REV) {
		other = __atomic_load_n(&fwd->tel, __ATOMIC_ACQUIRE);
		if (h->tel != other) {
			conn_error(w, f);
			__atomic_store_n(&h->tel, other, __ATOMIC_RELEASE);
		}
		return;
	}
	if (info->payload_len == 0)
		return;
	payload =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->payload_off);
	seen = RTE_MIN(info->payload_len, m->data_len - info->payload_off);
	other = __atomic_load_n(&mg_flow_half(w->dp->flows, f, !dir)->tel,
				__ATOMIC_ACQUIRE);
	if (dir == MG_FLOW_DIR_FWD) {
		if (h->tel == other &&
		    mg_telemetry_http_is_request(payload, seen)) {
			__atomic_store_n(&h->mark, mark_now(w->now),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&h->tel, (uint8_t)(h->tel + 1),
					 __ATOMIC_RELEASE);
			size = mg_telemetry_http_request_size(payload, seen);
			if (size >= 0)
				mg_tel_message_size(s, f->labels,
						    MG_TEL_DIR_REQUEST, size);
		}
	} else if (h->tel != other) {
		code = mg_telemetry_http_status(payload, seen);
		if (code >= 0) {
			mg_tel_request(s, f->labels, code / 100 - 1);
			mg_tel_response_code(s, f->labels, code);
			mg_tel_request_duration(
				s, f->labels,
				since_mark(w->now,
					   __atomic_load_n(&fwd->mark,
							   __ATOMIC_RELAXED)));
			size = mg_telemetry_http_response_size(payload, seen);
			if (size >= 0)
				mg_tel_message_size(s, f->labels,
						    MG_TEL_DIR_RESPONSE, size);
		}
		__atomic_store_n(&h->tel, other, __ATOMIC_RELEASE);
	}
}

/*
 * Refuse a client segment of an inspected connection: drop it and, for
 * a reset, answer with RST|ACKs both ways — to the client from the
 * virtual address it called, at the sequence number it acknowledged;
 * to the backend from the client, at the first byte the backend has not
 * received — so neither side waits on a connection that is over.
 */
static void
l7_refuse(struct mg_worker *w, struct rte_mbuf *m,
	  const struct mg_pkt_info *info, struct mg_flow *f,
	  const struct mg_l7_flow *st, enum mg_l7_action act,
	  enum mg_drop_reason why, const struct mg_recorder_ctx *rc)
{
	const struct rte_tcp_hdr *th = mg_pkt_tcp_hdr(m, info);
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	uint32_t ack = rte_be_to_cpu_32(th->recv_ack);
	uint8_t back = f->out_port[MG_FLOW_DIR_REV];
	uint8_t fwd = f->out_port[MG_FLOW_DIR_FWD];
	struct rte_mbuf *rst;

	count_drop(w, m, why, rc);
	/* a verdict on a request, not a segment dropped to be resent */
	if (unlikely(w->denylog != NULL) && act == MG_L7_RESET)
		mg_denylog_add(w->denylog, &f->key[MG_FLOW_DIR_FWD],
			       (uint8_t)why, rc, w->now);
	if (act != MG_L7_RESET) {
		rte_pktmbuf_free(m);
		return;
	}
	mg_flow_tcp_reset(w->dp->flows, f, MG_FLOW_DIR_FWD);
	rst = rte_pktmbuf_copy(m, w->dp->pool, 0, info->payload_off);
	if (rst != NULL) {
		mg_pkt_tcp_reset(rst, info, true, ack, seq + info->payload_len);
		set_macs(rst, &w->dp->mac[back], &f->out_mac[MG_FLOW_DIR_REV]);
		egress(w, rst, f->peer[MG_FLOW_DIR_FWD]);
		tx(w, back, rst);
	}
	egress(w, m, f->peer[MG_FLOW_DIR_REV]);
	mg_pkt_nat(m, info, true, f->key[MG_FLOW_DIR_REV].src,
		   f->key[MG_FLOW_DIR_REV].sport);
	mg_pkt_tcp_reset(m, info, false, st->next_seq,
			 ack + (unlikely(f->syn_proxy)
					? mg_flow_proxy(w->dp->flows, f)->delta
					: 0));
	set_macs(m, &w->dp->mac[fwd], &f->out_mac[MG_FLOW_DIR_FWD]);
	tx(w, fwd, m);
}

/*
 * Layer-7 inspection of a TCP segment of a connection whose service has
 * request rules. Returns true when @p m was consumed (refused).
 */
static bool
inspect(struct mg_worker *w, const struct mg_ruleset *rs, struct rte_mbuf *m,
	const struct mg_pkt_info *info, struct mg_flow *f, uint8_t dir,
	struct mg_shadow_l7 *out)
{
	struct mg_l7_flow *st = &w->dp->l7_flows[f->index];
	struct mg_l7_trace own = { 0 };
	const struct mg_l7_ctx c = {
		.l7 = mg_ruleset_l7(rs),
		.pool = w->dp->l7_pool,
		.stats = w->stats,
		.worker = w->rank,
		/* the recorder names the rule of a denied request */
		.trace = out != NULL ? &out->trace
			 : w->recorder != NULL || w->denylog != NULL ? &own
								     : NULL,
	};
	const struct mg_l7_trace *t = c.trace;
	enum mg_drop_reason why = MG_DROP_NONE;
	struct mg_recorder_ctx rc;
	enum mg_l7_action act;

	if (dir == MG_FLOW_DIR_REV) {
		mg_l7_backend_segment(st, m, info);
		return false;
	}
	/* the rules the ruleset in force has for the connection's service
	 * and caller, by name: none (MG_RULESET_NONE) for a service a
	 * reload removed, the unknown identity's for a caller it removed */
	act = mg_l7_client_segment(
		&c, st, mg_ruleset_service_of_id(rs, f->service_id),
		mg_ruleset_identity_of_id(rs, f->identity_id), m, info, &why);
	if (unlikely(out != NULL)) {
		out->act = (uint8_t)act;
		out->why = (uint8_t)why;
	}
	if (likely(act == MG_L7_FORWARD))
		return false;
	rc = (struct mg_recorder_ctx){
		.valid = 1,
		.rule_is_slot = 1,
		.identity = f->identity_id,
		.service = f->service_id,
		.rule = t != NULL && t->decided != 0 ? t->slot : UINT32_MAX,
	};
	l7_refuse(w, m, info, f, st, act, why, &rc);
	return true;
}

/* A client SYN on a tuple whose connection is closing or closed: it
 * starts a new connection, decided afresh (verdict under the ruleset in
 * force, canary pick, layer-7 state) — the old one is forgotten. */
static void
renew(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
      struct rte_mbuf *m, const struct mg_pkt_info *info, struct mg_flow *f)
{
	if (mg_flow_remove(w->dp->flows, w->rank, f) == 0)
		flow_gone(w, f);
	w->removals++;
	admit(w, rs, in, m, info);
}

/* A RST not at the exact sequence number, or a SYN on a live
 * connection: dropped, and its sender gets the ACK the receiver would
 * send (RFC 5961): a real peer answers it with an exact RST, a blind
 * attacker never sees it. */
static void
challenge(struct mg_worker *w, uint16_t in, struct rte_mbuf *m,
	  const struct mg_pkt_info *info, struct mg_flow *f, uint8_t dir)
{
	uint32_t seq, ack;

	mg_counter_add(&w->stats->drops[MG_DROP_TCP_CHALLENGED], 1);
	mg_flow_challenge(w->dp->flows, f, dir, &seq, &ack);
	/* the client's acknowledgements are in the gateway's SYN cookie's
	 * space; the backend hears them in its own */
	if (unlikely(f->syn_proxy) && dir == MG_FLOW_DIR_REV)
		ack += mg_flow_proxy(w->dp->flows, f)->delta;
	if (!ctl_allowed(w) ||
	    mg_pkt_tcp_control(m, info, true, seq, ack, RTE_TCP_ACK_FLAG) < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	reply_macs(m, &w->dp->mac[in]);
	egress(w, m, f->peer[dir]); /* back to its sender */
	tx(w, in, m);
}

/*
 * Connection tracking of a TCP segment of @p f (its state before the
 * segment in *before). Returns false when @p m was consumed: out of the
 * window, challenged, or a SYN that starts a new connection.
 */
static bool
track_tcp(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	  struct rte_mbuf *m, const struct mg_pkt_info *info, struct mg_flow *f,
	  uint8_t dir, enum mg_flow_state *before)
{
	struct mg_flow_table *ft = w->dp->flows;
	struct mg_pkt_tcp_seg seg;
	bool whole;

	*before = mg_flow_state(ft, f);
	mg_pkt_tcp_seg(m, info, &seg);
	/* inspected bytes must be bytes the backend takes */
	whole = dir == MG_FLOW_DIR_FWD && unlikely(f->l7 != MG_L7_NONE) &&
		info->payload_len != 0 &&
		mg_l7_inspecting(&w->dp->l7_flows[f->index]);
	switch (mg_flow_tcp_track(ft, f, dir, &seg, whole)) {
	case MG_FLOW_ACCEPT: break;
	case MG_FLOW_NEW: renew(w, rs, in, m, info, f); return false;
	case MG_FLOW_CHALLENGE: challenge(w, in, m, info, f, dir); return false;
	default: drop(w, m, MG_DROP_TCP_OUT_OF_WINDOW); return false;
	}
	if (unlikely(*before <= MG_FLOW_SYN_RECV) &&
	    handshake_health(w, rs, m, info, f, dir, in, *before))
		return false;
	return true;
}

static void
limit_drop(struct mg_worker *w, struct rte_mbuf *m, uint32_t id,
	   enum mg_limit_verdict v)
{
	static const struct {
		enum mg_tel_limit_reason tel;
		enum mg_drop_reason drop;
	} why[MG_LIMIT_VERDICTS] = {
		[MG_LIMIT_CONN_RATE] = { MG_TEL_LIMIT_CONN_RATE,
					 MG_DROP_RATE_LIMITED_CONN },
		[MG_LIMIT_CONNS] = { MG_TEL_LIMIT_CONNS, MG_DROP_CONN_LIMIT },
		[MG_LIMIT_PKT_RATE] = { MG_TEL_LIMIT_PKT_RATE,
					MG_DROP_RATE_LIMITED_PPS },
	};

	mg_tel_limit_drop(w->stats, id, why[v].tel);
	drop(w, m, why[v].drop);
}

/*
 * A new connection of a caller under limit @p l: within the budget of
 * its source address (when the limit has one), then of the identity.
 * On success the connection holds a count in each bucket (the source's
 * in *src, MG_LIMIT_NONE without one) until flow_gone(); on refusal
 * nothing is held and @p m is dropped under the reason.
 */
static bool
limit_admit(struct mg_worker *w, const struct mg_ruleset_limit *l,
	    const struct mg_5tuple *t, struct rte_mbuf *m, uint32_t *src)
{
	struct mg_limit_table *lt = w->dp->limits;
	enum mg_limit_verdict v;
	bool overflow;

	*src = MG_LIMIT_NONE;
	if (l->per_source)
		*src = mg_limit_source_bucket(lt, l->id, t->src,
					      t->family == 4 ? 4 : 16, w->now,
					      &overflow);
	v = mg_limit_admit_caller(lt, w->rank, *src, &l->source, l->bucket,
				  &l->all, w->now);
	if (v == MG_LIMIT_OK)
		return true;
	*src = MG_LIMIT_NONE;
	limit_drop(w, m, l->id, v);
	return false;
}

/* limit_packet() beyond the worker's credit on the identity's bucket:
 * the limit's params, the source's meter, drawing from the meters. */
static __rte_noinline bool
limit_packet_meter(struct mg_worker *w, const struct mg_ruleset *rs,
		   struct rte_mbuf *m, const struct mg_flow *f)
{
	struct mg_limit_table *lt = w->dp->limits;
	const struct mg_ruleset_limit *l;

	/* NULL: a reload took the limit away */
	l = mg_ruleset_limit_by_id(rs, f->limit);
	if (l == NULL)
		return true;
	if (unlikely(l->meter_source) && f->limit_src != MG_LIMIT_NONE &&
	    !mg_limit_source_packet(lt, w->rank, f->limit_src, &l->source,
				    m->pkt_len, w->now)) {
		limit_drop(w, m, l->id, MG_LIMIT_PKT_RATE);
		return false;
	}
	if (l->meter_all && !mg_limit_packet(lt, w->rank, l->bucket, &l->all,
					     m->pkt_len, w->now)) {
		limit_drop(w, m, l->id, MG_LIMIT_PKT_RATE);
		return false;
	}
	return true;
}

/* The connection's packets within its caller's packet or byte rate
 * (the limit's, as the ruleset in force has it): inline, a packet of a
 * limit that meters none, or one the worker's credit on the identity's
 * bucket (the limit's id, mg_limit_bucket()) covers. */
static inline bool
limit_packet(struct mg_worker *w, const struct mg_ruleset *rs,
	     struct rte_mbuf *m, const struct mg_flow *f)
{
	unsigned int how = mg_ruleset_limit_meter(rs, f->limit);

	if (how == 0)
		return true;
	if (likely(how == MG_RULESET_METER_ALL)) {
		if (likely(mg_limit_spend(w->limit_view, f->limit, 1)))
			return true;
	} else if (how == (MG_RULESET_METER_ALL | MG_RULESET_METER_BYTES) &&
		   mg_limit_spend(w->limit_view, f->limit, m->pkt_len)) {
		return true;
	}
	return limit_packet_meter(w, rs, m, f);
}

/*
 * A place in the half-open budget (flows.max_half_open) for a new
 * connection: when it is spent, the oldest half-open connection is
 * evicted for this one. Established connections are never evicted.
 */
static bool
half_open_take(struct mg_worker *w)
{
	struct mg_flow_table *ft = w->dp->flows;
	unsigned int tries;

	/* other workers may take the place an eviction made */
	for (tries = 0; tries < HALF_OPEN_TRIES; tries++) {
		if (mg_flow_half_open_take(ft)) {
			mg_tel_half_open(w->stats, mg_flow_half_open(ft));
			return true;
		}
		if (!mg_flow_evict_oldest(ft, w->rank, flow_removed, w))
			break;
	}
	return false;
}

/* Give back what a connection that was not recorded took. */
static void
admit_cancel(struct mg_worker *w, const struct mg_ruleset_limit *l,
	     uint32_t src, bool half_open)
{
	if (half_open)
		mg_flow_half_open_cancel(w->dp->flows);
	if (l != NULL) {
		mg_limit_release(w->dp->limits, l->bucket);
		mg_limit_release(w->dp->limits, src);
	}
}

/* Whether a segment of a connection with layer-7 rules goes through
 * inspect(): bytes to inspect, anything after a reset (a verdict's
 * reset leaves the flow closed), the backend's sequence space (SYN,
 * FIN) or the client's timestamps (TCP options). */
static inline bool
l7_needs(struct mg_worker *w, const struct mg_pkt_info *info, struct mg_flow *f,
	 uint8_t dir)
{
	return f->l7 != MG_L7_NONE &&
	       (info->payload_len != 0 ||
		mg_flow_state(w->dp->flows, f) == MG_FLOW_CLOSED ||
		(dir == MG_FLOW_DIR_REV
			 ? info->tcp_flags &
				   (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)
			 : info->payload_off - info->l4_off > 20));
}

/* ---- SYN proxy (flows.syn_cookies): the gateway answers a SYN with a
 * cookie, makes the connection on the ACK that echoes it, and opens it
 * to the backend itself; the backend's sequence numbers are then
 * translated by delta = backend ISN - cookie, both halves of the flow
 * kept in the client's space (lib/flow) ---- */

/* What a valid cookie's ACK carried. */
struct cookie_ack {
	uint32_t cookie;
	uint16_t mss;
};

enum cookie_path {
	COOKIE_NONE = 0, /* admitted as before */
	COOKIE_DONE,	 /* answered with a cookie, or dropped */
	COOKIE_ACK,	 /* a valid cookie's ACK: admitted, proxied */
};

/* Send the SYN @p m (a client -> virtual address segment, parsed into
 * @p info) to @p f's backend: NAT, TTL, MSS clamp. */
static void
proxy_syn_out(struct mg_worker *w, struct rte_mbuf *m,
	      const struct mg_pkt_info *info, const struct mg_flow *f)
{
	uint8_t out = f->out_port[MG_FLOW_DIR_FWD];

	egress(w, m, f->peer[MG_FLOW_DIR_REV]);
	mg_pkt_rewrite_diff(m, info, true, f->key[MG_FLOW_DIR_REV].src,
			    f->key[MG_FLOW_DIR_REV].sport,
			    f->nat_ck[MG_FLOW_DIR_FWD], true);
	if (unlikely(w->mss_clamp[out] != 0))
		mg_pkt_tcp_clamp_mss(m, info, w->mss_clamp[out]);
	set_macs(m, &w->dp->mac[out], &f->out_mac[MG_FLOW_DIR_FWD]);
	tx(w, out, m);
}

/* The handshake's last ACK to @p f's backend, made of the backend's
 * SYN-ACK @p m: from the client, acknowledging @p backend_isn. */
static void
proxy_ack_out(struct mg_worker *w, struct rte_mbuf *m,
	      const struct mg_pkt_info *info, const struct mg_flow *f,
	      uint32_t backend_isn)
{
	const struct mg_flow_table *ft = w->dp->flows;
	uint8_t out = f->out_port[MG_FLOW_DIR_FWD];

	if (mg_pkt_tcp_segment(m, info, true,
			       mg_flow_half(ft, f, MG_FLOW_DIR_FWD)->isn + 1,
			       backend_isn + 1, RTE_TCP_ACK_FLAG,
			       mg_flow_proxy(ft, f)->win, 0) < 0) {
		drop(w, m, MG_DROP_TCP_OUT_OF_WINDOW);
		return;
	}
	egress(w, m, f->peer[MG_FLOW_DIR_REV]);
	set_macs(m, &w->dp->mac[out], &f->out_mac[MG_FLOW_DIR_FWD]);
	tx(w, out, m);
}

/*
 * The backend's SYN-ACK of a proxied connection (worker of the
 * backend's direction, the only writer of delta): it must acknowledge
 * the client's SYN; delta is recorded, the SYN-ACK tracked as if it
 * had come at the cookie, and answered with the handshake's last ACK.
 * The client, connected since its ACK, hears nothing of it.
 */
static void
proxy_syn_ack(struct mg_worker *w, const struct mg_ruleset *rs,
	      struct rte_mbuf *m, const struct mg_pkt_info *info,
	      struct mg_flow *f)
{
	struct mg_flow_table *ft = w->dp->flows;
	const struct mg_flow_half *rev = mg_flow_half(ft, f, MG_FLOW_DIR_REV);
	struct mg_flow_proxy *x = mg_flow_proxy(ft, f);
	struct mg_pkt_tcp_seg seg;
	uint32_t backend_isn;

	mg_pkt_tcp_seg(m, info, &seg);
	backend_isn = seg.seq;
	/* delta first: the half's flags (release) publish it */
	__atomic_store_n(&x->delta, backend_isn - rev->isn, __ATOMIC_RELAXED);
	seg.seq = rev->isn;
	if (mg_flow_tcp_track(ft, f, MG_FLOW_DIR_REV, &seg, false) !=
	    MG_FLOW_ACCEPT) {
		/* not of the client's SYN: delta is unpublished still */
		drop(w, m, MG_DROP_TCP_OUT_OF_WINDOW);
		return;
	}
	mg_flow_answered(ft, f);
	handshake_health(w, rs, m, info, f, MG_FLOW_DIR_REV, 0,
			 MG_FLOW_SYN_SENT);
	tcp_telemetry(w, m, info, f, MG_FLOW_DIR_REV, MG_FLOW_SYN_SENT);
	if (f->l7 != MG_L7_NONE)
		mg_l7_backend_sent(&w->dp->l7_flows[f->index], seg.seq + 1);
	mg_flow_touch(ft, f, MG_FLOW_DIR_REV, w->now);
	proxy_ack_out(w, m, info, f, backend_isn);
}

/*
 * A segment of a proxied connection, before anything else looks at it.
 * Returns true when it goes on as any tracked segment: the backend's
 * with its sequence number translated to the client's space; the
 * client's (its acknowledgement is translated when it leaves). False
 * when consumed: the backend's SYN-ACK (answered), a client segment
 * before the backend answered (dropped, syn_proxy_pending, and made
 * the backend's SYN again: a SYN lost on the way is sent again when
 * the client retransmits).
 */
static bool
proxy_in(struct mg_worker *w, const struct mg_ruleset *rs, struct rte_mbuf *m,
	 const struct mg_pkt_info *info, struct mg_flow *f, uint8_t dir)
{
	struct mg_flow_table *ft = w->dp->flows;
	const struct mg_flow_half *rev = mg_flow_half(ft, f, MG_FLOW_DIR_REV);
	const struct mg_flow_proxy *x = mg_flow_proxy(ft, f);
	uint8_t fl = info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG |
					RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG);
	struct mg_pkt_info syn;
	uint32_t seq, delta;

	if (__atomic_load_n(&rev->flags, __ATOMIC_ACQUIRE) & MG_HALF_SYN) {
		if (dir == MG_FLOW_DIR_FWD)
			return true;
		delta = __atomic_load_n(&x->delta, __ATOMIC_RELAXED);
		seq = rte_be_to_cpu_32(mg_pkt_tcp_hdr(m, info)->sent_seq);
		if (unlikely(fl & RTE_TCP_SYN_FLAG)) {
			/* its SYN-ACK again: our ACK was lost */
			if (fl == (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG) &&
			    seq - delta == rev->isn)
				proxy_ack_out(w, m, info, f, seq);
			else
				drop(w, m, MG_DROP_TCP_OUT_OF_WINDOW);
			return false;
		}
		mg_syncookie_shift(m, info, true, -delta);
		return true;
	}
	/* the backend has not answered yet */
	if (dir == MG_FLOW_DIR_REV) {
		if (fl == (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) {
			proxy_syn_ack(w, rs, m, info, f);
			return false;
		}
		if (fl & RTE_TCP_RST_FLAG) {
			/* it refuses the SYN: the client, connected at the
			 * cookie, takes a reset at its next byte only */
			seq = rte_be_to_cpu_32(
				mg_pkt_tcp_hdr(m, info)->sent_seq);
			mg_syncookie_shift(m, info, true, rev->end - seq);
			return true;
		}
		drop(w, m, MG_DROP_TCP_OUT_OF_WINDOW);
		return false;
	}
	/* the client's reset closes it; a SYN is judged as on any
	 * connection (tracking challenges it) */
	if (fl & (RTE_TCP_RST_FLAG | RTE_TCP_SYN_FLAG))
		return true;
	count_drop(w, m, MG_DROP_SYN_PROXY_PENDING, NULL);
	if (mg_pkt_tcp_segment(m, info, false,
			       mg_flow_half(ft, f, MG_FLOW_DIR_FWD)->isn, 0,
			       RTE_TCP_SYN_FLAG, x->win, x->mss) < 0 ||
	    mg_pkt_parse(m, &syn) != MG_DROP_NONE) {
		rte_pktmbuf_free(m);
		return false;
	}
	proxy_syn_out(w, m, &syn, f);
	return false;
}

/*
 * Translate the TCP quote of an ICMP error about a proxied connection
 * (@p to_client: the quote is the client's packet as the backend got
 * it): the quoted acknowledgement back into the client's space, or the
 * backend's quoted sequence number into the backend's; the quoted
 * checksum (when quoted) updated. The ICMP checksum is recomputed after.
 */
static void
proxy_icmp(struct mg_worker *w, struct rte_mbuf *m,
	   const struct mg_pkt_icmp_quote *q, const struct mg_flow *f,
	   bool to_client)
{
	const struct mg_flow_table *ft = w->dp->flows;
	uint8_t *l4 = rte_pktmbuf_mtod_offset(m, uint8_t *, q->l4_off);
	uint32_t have = (uint32_t)q->end - q->l4_off, old, new, delta;
	uint8_t *p = l4 + (to_client ? 8 : 4);
	uint16_t ck;

	if (!(__atomic_load_n(&mg_flow_half(ft, f, MG_FLOW_DIR_REV)->flags,
			      __ATOMIC_ACQUIRE) &
	      MG_HALF_SYN) ||
	    have < (to_client ? 12u : 8u))
		return;
	delta = __atomic_load_n(&mg_flow_proxy(ft, f)->delta, __ATOMIC_RELAXED);
	memcpy(&old, p, 4);
	new = rte_cpu_to_be_32(rte_be_to_cpu_32(old) +
			       (to_client ? -delta : delta));
	if (have >= 18) {
		memcpy(&ck, l4 + 16, 2);
		ck = mg_cksum_apply(ck, mg_cksum_diff(&old, &new, 4));
		memcpy(l4 + 16, &ck, 2);
	}
	memcpy(p, &new, 4);
}

/* Rewrite and send one packet of a tracked connection. */
static inline void
forward_flow(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	     struct rte_mbuf *m, const struct mg_pkt_info *info,
	     struct mg_flow *f, uint8_t dir)
{
	enum mg_flow_state before = MG_FLOW_UDP;
	uint8_t out = f->out_port[dir];
	bool tcp = info->tuple.proto == IPPROTO_TCP;
	uint16_t frag_mtu;

	/* SYN proxy: the backend's handshake, its numbers translated */
	if (unlikely(f->syn_proxy) && !proxy_in(w, rs, m, info, f, dir))
		return;
	/* to the other side, through the peer it sits behind (if any):
	 * decided first, so that the MTU is the tunnel's */
	egress(w, m, f->peer[!dir]);
	/* before tracking or inspection: a packet that cannot leave must
	 * not move the connection's state or count as seen */
	frag_mtu = 0;
	if (!leaves_whole(w, out, info) &&
	    !may_leave(w, rs, in, out, m, info, true, &frag_mtu))
		return;
	if (tcp && !track_tcp(w, rs, in, m, info, f, dir, &before))
		return;
	/* closed (both FINs, or a RST): no longer a concurrent one */
	if (unlikely(f->limit_held) && tcp &&
	    (info->tcp_flags & (RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG)) &&
	    mg_flow_state(w->dp->flows, f) >= MG_FLOW_TIME_WAIT)
		limit_end(w, f);
	/* after tracking: only packets the connection takes count */
	if (unlikely(f->limit != UINT16_MAX) && !limit_packet(w, rs, m, f))
		return;
	/* a UDP flow is half open until its first answer */
	if (!tcp && dir == MG_FLOW_DIR_REV)
		mg_flow_answered(w->dp->flows, f);
	if (unlikely(w->shadow != NULL) && tcp &&
	    (f->l7 != MG_L7_NONE ||
	     (mg_shadow_l7_any(w->shadow) &&
	      (info->payload_len != 0 ||
	       (info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)))))) {
		/* the candidate's rules see the segment too (shadow.h) */
		if (mg_shadow_segment(w, rs, m, info, f, dir,
				      l7_needs(w, info, f, dir), inspect))
			return;
	} else if (unlikely(f->l7 != MG_L7_NONE) && l7_needs(w, info, f, dir) &&
		   inspect(w, rs, m, info, f, dir, NULL)) {
		return;
	}
	if (tcp)
		tcp_telemetry(w, m, info, f, dir, before);
	mg_flow_touch(w->dp->flows, f, dir, w->now);
	/* the client acknowledges the backend's bytes in the cookie's
	 * space (proxy_in() checked that the backend answered) */
	if (unlikely(f->syn_proxy) && dir == MG_FLOW_DIR_FWD &&
	    (info->tcp_flags & RTE_TCP_ACK_FLAG))
		mg_syncookie_shift(
			m, info, false,
			__atomic_load_n(&mg_flow_proxy(w->dp->flows, f)->delta,
					__ATOMIC_RELAXED));
	/* NAT and the TTL decrement in one pass, the address's part of the
	 * checksums' change the connection's own */
	if (dir == MG_FLOW_DIR_FWD)
		mg_pkt_rewrite_diff(m, info, true, f->key[MG_FLOW_DIR_REV].src,
				    f->key[MG_FLOW_DIR_REV].sport,
				    f->nat_ck[MG_FLOW_DIR_FWD], true);
	else
		mg_pkt_rewrite_diff(m, info, false, f->key[MG_FLOW_DIR_FWD].dst,
				    f->key[MG_FLOW_DIR_FWD].dport,
				    f->nat_ck[MG_FLOW_DIR_REV], true);
	if (unlikely(w->mss_clamp[out] != 0) && tcp &&
	    (info->tcp_flags & RTE_TCP_SYN_FLAG))
		mg_pkt_tcp_clamp_mss(m, info, w->mss_clamp[out]);
	set_macs(m, &w->dp->mac[out], &f->out_mac[dir]);
	if (unlikely(frag_mtu != 0))
		tx_fragments(w, out, m, info, frag_mtu);
	else
		tx(w, out, m);
}

struct is_local_ctx {
	const struct mg_ruleset *rs;
	unsigned int port;
};

static bool
is_local(void *arg, const struct mg_addr *addr)
{
	const struct is_local_ctx *c = arg;

	return mg_ruleset_maybe_local(c->rs, addr->bytes) &&
	       mg_ruleset_is_local(c->rs, c->port, addr);
}

/* A frame for no service: echo for the gateway's own addresses, else
 * dropped, or passed on unchanged in wire mode. */
static void
not_for_service(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
		struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	struct is_local_ctx lc = { rs, in };
	struct mg_addr dst;

	tuple_addr(&dst, info->tuple.dst, info->tuple.family);
	if (is_local(&lc, &dst)) {
		if (mg_neigh_echo_reply(m, info, &w->dp->mac[in]))
			tx_any(w, rs, in, in, m, info);
		else
			drop(w, m, MG_DROP_LOCAL_UNHANDLED);
	} else if (mg_ruleset_forward_unmatched(rs) && origin(w, m) == 0) {
		/* wire mode bridges clear traffic; a peer reaches services */
		tx_any(w, rs, in, w->out[in], m, info);
	} else {
		drop(w, m, MG_DROP_NO_SERVICE);
	}
}

/* Ask for @p nh on port @p out (from the gateway's address on its
 * prefix); the cache takes an answer until @p deadline. */
static void
ask(struct mg_worker *w, const struct mg_ruleset *rs, const struct mg_addr *nh,
    uint8_t out, uint64_t deadline)
{
	struct rte_mbuf *req;
	struct mg_addr src;

	if (!mg_ruleset_local_addr(rs, out, nh, &src))
		return; /* no address to ask from */
	req = mg_neigh_request(w->dp->neigh, w->dp->pool, &w->dp->mac[out],
			       &src, nh, w->now, deadline);
	if (req != NULL)
		tx(w, out, req);
}

/* MAC of @p nh, from the config's static entries or the cache; a stale
 * entry is still used while it is asked for again on port @p out. */
static inline bool
resolve(struct mg_worker *w, const struct mg_ruleset *rs,
	const struct mg_addr *nh, uint8_t out, struct rte_ether_addr *mac)
{
	bool refresh;

	if (mg_ruleset_static_neigh(rs, nh, mac->addr_bytes))
		return true;
	if (!mg_neigh_lookup_stale(w->dp->neigh, nh, w->now, mac, &refresh))
		return false;
	if (unlikely(refresh))
		ask(w, rs, nh, out, w->now + w->dp->tsc_hz * PARK_MS / 1000);
	return true;
}

/* Hold @p m, heading for backend @p health, until @p nh answers,
 * asking for it unless a packet parked before already did. */
static void
park(struct mg_worker *w, const struct mg_ruleset *rs, struct rte_mbuf *m,
     const struct mg_addr *nh, uint8_t out, uint32_t health)
{
	uint64_t deadline = w->now + w->dp->tsc_hz * PARK_MS / 1000;
	bool asked = mg_neigh_pending_has(&w->pending, nh);

	if (mg_neigh_park(&w->pending, m, nh, out, deadline, health) < 0) {
		drop(w, m, MG_DROP_NEIGH_QUEUE_FULL);
		return;
	}
	/* without an address to ask from, the packet times out */
	if (!asked)
		ask(w, rs, nh, out, deadline);
}

/* A caller claiming the gateway's or a service's address: spoofed, and
 * the backend's answers would come back to the gateway as a connection
 * of their own (the reverse key a later connection could match). */
static inline bool
martian(const struct mg_ruleset *rs, const struct mg_5tuple *t)
{
	struct mg_addr src;

	tuple_addr(&src, t->src, t->family);
	return mg_ruleset_is_gateway_addr(rs, &src);
}

/* Whether new SYNs are answered with cookies now. */
static inline bool
cookies_now(const struct mg_worker *w, uint32_t mode)
{
	return mode == MG_SYN_COOKIES_ON ||
	       mg_flow_half_open(w->dp->flows) >= w->dp->cookie_threshold;
}

/* The MSS the gateway announces in its SYN-ACK: what the way to the
 * backends carries (the port's MTU), less the port's mss_clamp. */
static inline uint16_t
cookie_mss(const struct mg_worker *w, uint16_t in, bool v4)
{
	uint16_t mss = (uint16_t)(w->mtu[w->out[in]] - (v4 ? 40 : 60));

	if (w->mss_clamp[in] != 0 && w->mss_clamp[in] < mss)
		mss = w->mss_clamp[in];
	return mss;
}

/*
 * SYN cookies, for a TCP segment of no connection. A SYN to a service
 * while cookies are on is answered here with a SYN-ACK made of it —
 * nothing classified, kept or allocated. A bare ACK while cookies are
 * in use (on, or answered by this worker in this slot or the last) is
 * checked as the echo of one: valid, it is admitted as a SYN would be
 * (*ca filled); else dropped, syn_cookie_invalid. Only clear traffic:
 * a peer's (ESP) cannot be spoofed.
 */
static enum cookie_path
syn_cookie(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	   struct rte_mbuf *m, const struct mg_pkt_info *info,
	   struct cookie_ack *ca)
{
	const struct mg_syncookie *sc = &w->dp->syncookie;
	const struct mg_5tuple *t = &info->tuple;
	uint32_t mode = __atomic_load_n(&w->dp->syn_cookies, __ATOMIC_RELAXED);
	uint8_t fl = info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG |
					RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG);
	uint64_t slot = w->now >> sc->slot_shift;
	struct mg_pkt_tcp_seg seg;
	enum mg_drop_reason bad;
	uint32_t cookie;

	if (mode == MG_SYN_COOKIES_OFF || origin(w, m) != 0)
		return COOKIE_NONE;
	if (fl == RTE_TCP_SYN_FLAG) {
		if (!cookies_now(w, mode) || !mg_ruleset_is_service(rs, t))
			return COOKIE_NONE;
		if (unlikely(martian(rs, t))) {
			drop(w, m, MG_DROP_MARTIAN_SOURCE);
			return COOKIE_DONE;
		}
		/* nothing answers a group, nor a SYN its sender never
		 * sent as it came */
		if (rte_is_multicast_ether_addr(
			    &rte_pktmbuf_mtod(m, struct rte_ether_hdr *)
				     ->dst_addr) ||
		    !mg_pkt_unicast_addr(t->src, t->family == 4))
			return COOKIE_NONE;
		bad = mg_pkt_tcp_cksum(m, info);
		if (unlikely(bad != MG_DROP_NONE)) {
			drop(w, m, bad);
			return COOKIE_DONE;
		}
		mg_pkt_tcp_seg(m, info, &seg);
		cookie = mg_syncookie_make(sc, t, seg.seq, seg.mss, w->now);
		/* MSS only: no window scaling, SACK or timestamps, which a
		 * cookie has no room to remember */
		if (mg_pkt_tcp_segment(m, info, true, cookie, seg.seq + 1,
				       RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
				       UINT16_MAX,
				       cookie_mss(w, in, t->family == 4)) < 0) {
			drop(w, m, MG_DROP_TCP_NOT_SYN);
			return COOKIE_DONE;
		}
		reply_macs(m, &w->dp->mac[in]);
		egress(w, m, 0); /* in clear, as it came */
		tx(w, in, m);
		mg_counter_add(&w->stats->syn_cookies_sent, 1);
		if (w->cookie_mark != slot + 1)
			w->cookie_mark = slot + 1;
		return COOKIE_DONE;
	}
	if (fl != RTE_TCP_ACK_FLAG ||
	    (mode == MG_SYN_COOKIES_AUTO &&
	     (w->cookie_mark == 0 || slot > w->cookie_mark)) ||
	    !mg_ruleset_is_service(rs, t))
		return COOKIE_NONE;
	mg_pkt_tcp_seg(m, info, &seg);
	if (!mg_syncookie_check(sc, t, seg.seq - 1, seg.ack - 1, w->now,
				&ca->mss)) {
		drop(w, m, MG_DROP_SYN_COOKIE_INVALID);
		return COOKIE_DONE;
	}
	ca->cookie = seg.ack - 1;
	mg_counter_add(&w->stats->syn_cookies_valid, 1);
	return COOKIE_ACK;
}

/*
 * First packet of a connection arriving on port index @p in: classify,
 * authorize, pick the backend, resolve its next hop, record the flow and
 * forward. Consumes @p m: forwarded, parked or dropped under a reason.
 */
static void
admit(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
      struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	const struct mg_5tuple *t = &info->tuple;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint8_t out = (uint8_t)w->out[in];
	struct mg_flow_table *ft = w->dp->flows;
	const struct mg_ruleset_limit *lim;
	uint32_t limit_src = MG_LIMIT_NONE;
	struct rte_ether_addr mac;
	struct mg_pkt_tcp_seg syn;
	uint32_t hash = rte_hash_crc(t, sizeof(*t), w->dp->hash_seed);
	struct mg_recorder_ctx about;
	struct mg_shadow_pick sp;
	struct mg_decision d;
	struct mg_addr nh;
	enum mg_l7_proto l7;
	struct mg_pkt_info syn_info;
	struct cookie_ack ca;
	bool proxy = false;
	struct mg_flow *f;
	uint32_t caller;
	int rc;

	if (t->proto == IPPROTO_TCP) {
		switch (syn_cookie(w, rs, in, m, info, &ca)) {
		case COOKIE_NONE: break;
		case COOKIE_DONE: return;
		case COOKIE_ACK: proxy = true; break;
		}
	}
	if (!caller_of(w, rs, m, &caller))
		return;
	if (!mg_ruleset_classify_as(rs, t, caller, hash, w->now, &d)) {
		/* a connection's first packet the candidate may take */
		if (unlikely(w->shadow != NULL) &&
		    (t->proto == IPPROTO_UDP ||
		     (t->proto == IPPROTO_TCP &&
		      (info->tcp_flags &
		       (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG |
			RTE_TCP_FIN_FLAG)) == RTE_TCP_SYN_FLAG))) {
			mg_shadow_classify(w, t, hash, &sp);
			mg_shadow_admitted(w, rs, t, NULL, &sp, NULL, m, info);
		}
		not_for_service(w, rs, in, m, info);
		return;
	}
	if (unlikely(martian(rs, t))) {
		drop(w, m, MG_DROP_MARTIAN_SOURCE);
		return;
	}
	/* routed on, it would die: no connection for it */
	if (unlikely(mg_pkt_ttl(m, info) <= 1)) {
		ttl_expired(w, rs, in, m, info);
		return;
	}
	if (t->proto == IPPROTO_TCP) {
		enum mg_drop_reason bad;

		if ((info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG |
					RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) !=
			    RTE_TCP_SYN_FLAG &&
		    !proxy) {
			drop(w, m, MG_DROP_TCP_NOT_SYN);
			return;
		}
		/* a SYN the backend would discard unanswered must not make
		 * a connection (nor, timing out, a health failure) */
		bad = mg_pkt_tcp_cksum(m, info);
		if (unlikely(bad != MG_DROP_NONE)) {
			drop(w, m, bad);
			return;
		}
	}
	l7 = t->proto == IPPROTO_TCP
		     ? mg_l7_service_proto(mg_ruleset_l7(rs), d.service)
		     : MG_L7_NONE;
	/* data in a SYN (TCP Fast Open) would reach the backend before
	 * the inspection is set up; the client retries without */
	if (unlikely(l7 != MG_L7_NONE && info->payload_len != 0 && !proxy)) {
		drop(w, m, MG_DROP_L7_BAD_REQUEST);
		return;
	}
	if (unlikely(w->shadow != NULL))
		mg_shadow_classify(w, t, hash, &sp);
	if (d.verdict == MG_VERDICT_DENY) {
		if (unlikely(w->shadow != NULL))
			mg_shadow_admitted(w, rs, t, &d, &sp, NULL, m, info);
		mg_tel_decision(w->stats, d.rule_slot, MG_TEL_DENY);
		about = (struct mg_recorder_ctx){
			.valid = 1,
			.identity = d.identity_id,
			.service = d.service_id,
			.rule = mg_ruleset_rule_id(rs, d.rule),
		};
		if (unlikely(w->denylog != NULL))
			mg_denylog_add(w->denylog, t, MG_DROP_POLICY_DENY,
				       &about, w->now);
		deny(w, in, m, info, d.deny_action, &about);
		return;
	}
	if (!mg_ruleset_next_hop(rs, out, &d.backend_addr, &nh)) {
		drop(w, m, MG_DROP_NO_ROUTE);
		return;
	}
	if (!resolve(w, rs, &nh, out, &mac)) {
		/* retried from the queue once the next hop answers */
		park(w, rs, m, &nh, out, d.health_idx);
		return;
	}
	lim = mg_ruleset_limit(rs, d.identity, d.service);
	if (lim != NULL && !limit_admit(w, lim, t, m, &limit_src))
		return;
	/* every new connection is half open until answered */
	if (!half_open_take(w)) {
		admit_cancel(w, lim, limit_src, false);
		drop(w, m, MG_DROP_FLOW_TABLE_FULL);
		return;
	}
	f = mg_flow_alloc(ft, w->rank);
	if (f == NULL) {
		admit_cancel(w, lim, limit_src, true);
		/* the oldest half-open connection goes: room for the next
		 * one in its owner's shard once the grace period is over */
		mg_flow_evict_oldest(ft, w->rank, flow_removed, w);
		drop(w, m, MG_DROP_FLOW_TABLE_FULL);
		return;
	}
	if (proxy) {
		/* the client's side as its SYN and ACK said; the ACK
		 * becomes the backend's SYN (its data, if any, is
		 * retransmitted by the client) */
		mg_pkt_tcp_seg(m, info, &syn);
		mg_flow_tcp_proxy(ft, f, &syn, ca.cookie, ca.mss);
		if (mg_pkt_tcp_segment(m, info, false, syn.seq - 1, 0,
				       RTE_TCP_SYN_FLAG, syn.win, ca.mss) < 0 ||
		    mg_pkt_parse(m, &syn_info) != MG_DROP_NONE) {
			mg_flow_release(ft, f);
			admit_cancel(w, lim, limit_src, true);
			drop(w, m, MG_DROP_TCP_NOT_SYN);
			return;
		}
		info = &syn_info;
	}
	f->key[MG_FLOW_DIR_FWD] = *t;
	f->key[MG_FLOW_DIR_REV] = (struct mg_5tuple){
		.sport = d.backend_port,
		.dport = t->sport,
		.proto = t->proto,
		.family = t->family,
	};
	memcpy(f->key[MG_FLOW_DIR_REV].src, d.backend_addr.bytes, 16);
	memcpy(f->key[MG_FLOW_DIR_REV].dst, t->src, 16);
	f->service_id = d.service_id;
	f->identity_id = d.identity_id;
	f->l7 = (uint8_t)l7;
	f->labels = (uint16_t)d.labels;
	f->health = d.health_idx;
	f->out_port[MG_FLOW_DIR_FWD] = out;
	f->out_port[MG_FLOW_DIR_REV] = (uint8_t)in;
	f->out_mac[MG_FLOW_DIR_FWD] = mac;
	/* replies go back to whoever handed us the request */
	f->out_mac[MG_FLOW_DIR_REV] = eth->src_addr;
	f->half_open = 1;
	if (lim != NULL) {
		f->limit = (uint16_t)lim->id;
		f->limit_src = limit_src;
		f->limit_held = 1;
	}
	/* each side in clear, or behind its peer, for the connection's life */
	f->peer[MG_FLOW_DIR_FWD] = origin(w, m);
	f->peer[MG_FLOW_DIR_REV] =
		mg_esp_route(mg_ruleset_esp(rs), &d.backend_addr);
	if (t->proto == IPPROTO_TCP) {
		if (!proxy) {
			mg_pkt_tcp_seg(m, info, &syn);
			mg_flow_tcp_syn(ft, f, &syn);
		}
		/* the SYN leaves now: the handshake time starts */
		mg_flow_half(ft, f, MG_FLOW_DIR_FWD)->mark = mark_now(w->now);
	}
	if (l7 != MG_L7_NONE)
		mg_l7_flow_start(w->dp->l7_pool, &w->dp->l7_flows[f->index], l7,
				 m, info);
	if (unlikely(w->shadow != NULL))
		mg_shadow_admitted(w, rs, t, &d, &sp, f, m, info);
	rc = mg_flow_publish(ft, f, w->now);
	if (rc < 0) {
		mg_flow_release(ft, f);
		admit_cancel(w, lim, limit_src, true);
		/* -EEXIST: a retransmitted SYN raced its twin on another
		 * worker; the twin's flow carries the connection */
		drop(w, m,
		     rc == -EEXIST ? MG_DROP_TCP_NOT_SYN
				   : MG_DROP_FLOW_TABLE_FULL);
		return;
	}
	mg_flow_half_open_push(ft, f);
	w->admissions++;
	w->admitted = f;
	mg_counter_add(&w->stats->flows_created, 1);
	/* with layer-7 rules, decisions are taken and counted per request */
	if (l7 == MG_L7_NONE)
		mg_tel_decision(w->stats, d.rule_slot, MG_TEL_ALLOW);
	if (d.verdict == MG_VERDICT_ALLOW_DRY_DENY) {
		mg_counter_add(&w->stats->dry_run_denied, 1);
		mg_tel_decision(w->stats, d.dry_rule_slot, MG_TEL_DRY_RUN);
	}
	mg_tel_conn_open(w->stats, d.labels,
			 t->proto == IPPROTO_TCP ? MG_TEL_TCP : MG_TEL_UDP);
	if (proxy)
		proxy_syn_out(w, m, info, f);
	else
		forward_flow(w, rs, in, m, info, f, MG_FLOW_DIR_FWD);
}

/* TCP and UDP packets, whole: looked up in the flow table. */
static inline bool
is_tracked(const struct mg_pkt_info *info)
{
	return info->l3 != MG_L3_ARP && info->frag == 0 &&
	       (info->tuple.proto == IPPROTO_TCP ||
		info->tuple.proto == IPPROTO_UDP);
}

/*
 * An ICMP error that quotes a packet of a tracked connection, in either
 * direction, goes to the connection's other end, translated as the NAT
 * translated that packet: about the client's packet (quoted as the
 * backend received it, client -> backend), to the client with the
 * virtual address quoted, and from the virtual address if the backend
 * itself sent it; about the backend's packet (quoted as the client
 * received it, virtual address -> client), to the backend with the
 * backend quoted. A TCP quote must lie in the sender's window (RFC
 * 5927). Returns false when @p m quotes no tracked connection.
 */
static bool
icmp_translate(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	       struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	struct mg_flow_table *ft = w->dp->flows;
	struct mg_pkt_icmp_quote q;
	struct mg_5tuple key;
	const struct mg_5tuple *kp = &key;
	const struct mg_flow_half *sender, *receiver;
	struct mg_flow *f;
	uint8_t dir, out;
	uint16_t frag_mtu;
	bool to_client;

	if (!mg_pkt_icmp_quote(m, info, &q))
		return false;
	/* the quoted packet reversed is what its receiver sends back */
	key = q.tuple;
	memcpy(key.src, q.tuple.dst, 16);
	memcpy(key.dst, q.tuple.src, 16);
	key.sport = q.tuple.dport;
	key.dport = q.tuple.sport;
	if (mg_flow_lookup_bulk(ft, w->rank, &kp, 1, &f, &dir) == 0) {
		drop(w, m, MG_DROP_ICMP_UNMATCHED);
		return true;
	}
	/* matched by the backend's key: the quote is the client's packet */
	to_client = dir == MG_FLOW_DIR_REV;
	/* from the side it is about, and on to the other: each its way */
	if (!from_its_side(w, m, f,
			   to_client ? MG_FLOW_DIR_REV : MG_FLOW_DIR_FWD))
		return true;
	egress(w, m, f->peer[to_client ? MG_FLOW_DIR_FWD : MG_FLOW_DIR_REV]);
	sender = mg_flow_half(ft, f,
			      to_client ? MG_FLOW_DIR_FWD : MG_FLOW_DIR_REV);
	receiver = mg_flow_half(ft, f,
				to_client ? MG_FLOW_DIR_REV : MG_FLOW_DIR_FWD);
	if (q.tuple.proto == IPPROTO_TCP &&
	    ((int32_t)(q.seq -
		       __atomic_load_n(&sender->end, __ATOMIC_RELAXED)) > 0 ||
	     (int32_t)(q.seq -
		       (__atomic_load_n(&sender->end, __ATOMIC_RELAXED) -
			RTE_MAX(__atomic_load_n(&receiver->maxwin,
						__ATOMIC_RELAXED),
				1u))) < 0)) {
		drop(w, m, MG_DROP_ICMP_UNMATCHED);
		return true;
	}
	out = f->out_port[to_client ? MG_FLOW_DIR_REV : MG_FLOW_DIR_FWD];
	if (unlikely(mg_pkt_ttl(m, info) <= 1)) {
		ttl_expired(w, rs, in, m, info);
		return true;
	}
	if (!may_leave(w, rs, in, out, m, info, false, &frag_mtu))
		return true;
	if (unlikely(f->syn_proxy) && q.tuple.proto == IPPROTO_TCP)
		proxy_icmp(w, m, &q, f, to_client);
	if (to_client)
		mg_pkt_icmp_nat(m, info, &q, true, f->key[MG_FLOW_DIR_FWD].dst,
				f->key[MG_FLOW_DIR_FWD].dport, false,
				memcmp(info->tuple.src,
				       f->key[MG_FLOW_DIR_REV].src, 16) == 0
					? f->key[MG_FLOW_DIR_FWD].dst
					: NULL);
	else
		mg_pkt_icmp_nat(m, info, &q, false, f->key[MG_FLOW_DIR_REV].src,
				f->key[MG_FLOW_DIR_REV].sport, true,
				f->key[MG_FLOW_DIR_REV].src);
	mg_pkt_ttl_dec(m, info);
	set_macs(m, &w->dp->mac[out],
		 &f->out_mac[to_client ? MG_FLOW_DIR_REV : MG_FLOW_DIR_FWD]);
	if (unlikely(frag_mtu != 0))
		tx_fragments(w, out, m, info, frag_mtu);
	else
		tx(w, out, m);
	return true;
}

/* Frames that are not TCP/UDP: ARP/ND and echo for the gateway, ICMP
 * errors about connections, the rest dropped (or passed on in wire
 * mode). */
static void
handle_other(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	     struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	struct is_local_ctx lc = { rs, in };

	/* neighbours are learned on the link, never through a tunnel */
	switch (origin(w, m) != 0
			? MG_NEIGH_NOT_NEIGH
			: mg_neigh_input(w->dp->neigh, m, info, &w->dp->mac[in],
					 is_local, &lc, w->now,
					 &w->stats->neigh_conflicts)) {
	case MG_NEIGH_REPLY: tx(w, in, m); return;
	case MG_NEIGH_CONSUMED:
		/* learned from; in wire mode it also goes on its way */
		if (mg_ruleset_forward_unmatched(rs)) {
			tx(w, w->out[in], m);
		} else {
			mg_counter_add(&w->stats->local, 1);
			rte_pktmbuf_free(m);
		}
		return;
	case MG_NEIGH_NOT_NEIGH: break;
	}
	if (info->l3 != MG_L3_ARP && icmp_translate(w, rs, in, m, info))
		return;
	not_for_service(w, rs, in, m, info);
}

static void process_burst(struct mg_worker *w, const struct mg_ruleset *rs,
			  uint16_t in, struct rte_mbuf **pkts, uint16_t n);

/*
 * A fragment goes into this worker's reassembly table (rte_ip_frag;
 * RSS hashes every fragment of a datagram alike, by addresses only, so
 * they all meet on one queue). The datagram, once whole, is handled as
 * if it had arrived in one piece: classified and inspected whole, so no
 * rule can be walked around by splitting a header across fragments.
 * What the table refuses is counted: this fragment alone when no entry
 * is free (frag_table_full); the datagram's fragments when they overlap
 * or repeat or are too many (ipv4_fragment / ipv6_fragment).
 */
static void
reassemble(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	   struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	struct rte_ip_frag_death_row *dr = &w->death_row;
	uint8_t *l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, info->l3_off);
	bool v4 = info->l3 == MG_L3_IPV4;
	enum mg_drop_reason bad =
		v4 ? MG_DROP_IPV4_FRAGMENT : MG_DROP_IPV6_FRAGMENT;
	uint32_t data = mg_pkt_l3_len(info) - (info->l4_off - info->l3_off);
	uint32_t before = dr->cnt, i;
	struct rte_mbuf *whole;
	bool refused = false;

	/* rte_ip_frag takes the IPv6 fragment header only right after the
	 * IPv6 header; a fragment but the last carries a multiple of 8
	 * bytes (RFC 791, RFC 8200 4.5); an empty one carries nothing */
	if ((!v4 && info->frag_hdr != info->l3_off + 40) || data == 0 ||
	    (!(info->frag & MG_PKT_FRAG_LAST) && data % 8 != 0)) {
		drop(w, m, bad);
		return;
	}
	if (v4)
		whole = rte_ipv4_frag_reassemble_packet(
			w->frag_tbl, dr, m, w->now, (struct rte_ipv4_hdr *)l3);
	else
		whole = rte_ipv6_frag_reassemble_packet(
			w->frag_tbl, dr, m, w->now, (struct rte_ipv6_hdr *)l3,
			rte_pktmbuf_mtod_offset(m,
						struct rte_ipv6_fragment_ext *,
						info->frag_hdr));
	for (i = before; i < dr->cnt; i++)
		refused |= dr->row[i] == m;
	if (dr->cnt != before)
		mg_counter_add(
			&w->stats->drops[!refused ? MG_DROP_FRAG_TIMEOUT
					 : dr->cnt - before == 1
						 ? MG_DROP_FRAG_TABLE_FULL
						 : bad],
			dr->cnt - before);
	if (dr->cnt + DEATH_ROW_ROOM > RTE_DIM(dr->row))
		rte_ip_frag_free_death_row(dr, 0);
	if (whole == NULL)
		return;
	if (unlikely(!one_origin(w, whole))) {
		drop(w, whole, bad);
		return;
	}
	whole->ol_flags |= w->dp->reassembled_flag;
	if (v4) {
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(
			whole, struct rte_ipv4_hdr *, whole->l2_len);

		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
	process_burst(w, rs, in, &whole, 1);
}

/* Datagrams not complete in time: their fragments go (as many as the
 * death row takes at once; the next round takes the rest). */
static unsigned int
frag_expire(struct mg_worker *w, uint64_t now)
{
	struct rte_ip_frag_death_row *dr = &w->death_row;
	uint32_t before = dr->cnt, n;

	rte_ip_frag_table_del_expired_entries(w->frag_tbl, dr, now);
	n = dr->cnt - before;
	if (n != 0)
		mg_counter_add(&w->stats->drops[MG_DROP_FRAG_TIMEOUT], n);
	if (dr->cnt != 0)
		rte_ip_frag_free_death_row(dr, 0);
	return n;
}

/*
 * Keys of the connections admitted earlier in a chunk, as a 256-bit
 * Bloom filter of one bit per key: a later miss of the chunk is looked
 * up again only when its bit is set (a retransmitted SYN behind its
 * first copy, or in a replay the backend's answer), not after every
 * admission or refusal (about 250 instructions a lookup).
 */
struct admitted_filter {
	uint64_t bits[4];
};

static inline unsigned int
tuple_bit(const struct mg_5tuple *t)
{
	uint64_t x = 0, v;
	unsigned int i;

	RTE_BUILD_BUG_ON(sizeof(*t) % sizeof(v) != 0);
	for (i = 0; i < sizeof(*t); i += sizeof(v)) {
		memcpy(&v, (const uint8_t *)t + i, sizeof(v));
		x ^= v;
	}
	return (unsigned int)((x * UINT64_C(0x9e3779b97f4a7c15)) >> 56);
}

static inline void
admitted_add(struct admitted_filter *af, const struct mg_5tuple *t)
{
	unsigned int b = tuple_bit(t);

	af->bits[b / 64] |= UINT64_C(1) << (b % 64);
}

static inline bool
admitted_may_have(const struct admitted_filter *af, const struct mg_5tuple *t)
{
	unsigned int b = tuple_bit(t);

	return (af->bits[b / 64] >> (b % 64)) & 1;
}

/*
 * Dispatch up to LOOKUP_MAX parsed frames in arrival order: one bulk
 * flow lookup for the TCP/UDP ones, then each frame takes the fast path
 * (hit), admission (miss) or the local/other path. Keeping arrival order
 * across paths means a gateway never reorders what it forwards.
 */
static void
dispatch(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	 struct rte_mbuf **pkts, const struct mg_pkt_info *info,
	 const uint8_t *reason, uint16_t n)
{
	const struct mg_5tuple *keys[LOOKUP_MAX];
	struct mg_flow *flows[LOOKUP_MAX];
	uint8_t dir[LOOKUP_MAX];
	struct admitted_filter admitted = { { 0 } };
	uint32_t removals = w->removals, admissions;
	uint64_t hits = 0, tracked = 0;
	uint16_t i, k = 0;

	RTE_BUILD_BUG_ON(LOOKUP_MAX > 64);
	for (i = 0; i < n; i++)
		if (reason[i] == MG_DROP_NONE && is_tracked(&info[i])) {
			keys[k++] = &info[i].tuple;
			tracked |= UINT64_C(1) << i;
		}
	if (k != 0)
		hits = mg_flow_lookup_bulk(w->dp->flows, w->rank, keys, k,
					   flows, dir);
	for (i = 0, k = 0; i < n; i++) {
		if (unlikely(reason[i] != MG_DROP_NONE)) {
			drop(w, pkts[i], reason[i]);
		} else if (unlikely(info[i].frag != 0)) {
			reassemble(w, rs, in, pkts[i], &info[i]);
		} else if (!(tracked & (UINT64_C(1) << i))) {
			handle_other(w, rs, in, pkts[i], &info[i]);
		} else {
			/* a flow admitted earlier in this chunk may be the
			 * one a later miss belongs to, and a flow replaced
			 * (a new connection on its tuple) no longer the one
			 * a hit belongs to: look again */
			if (unlikely(w->removals != removals)) {
				hits &= ~(1ull << k);
				if (mg_flow_lookup_bulk(w->dp->flows, w->rank,
							&keys[k], 1, &flows[k],
							&dir[k]) != 0)
					hits |= 1ull << k;
			} else if (unlikely(!(hits & (1ull << k))) &&
				   admitted_may_have(&admitted, keys[k]) &&
				   mg_flow_lookup_bulk(w->dp->flows, w->rank,
						       &keys[k], 1, &flows[k],
						       &dir[k]) != 0) {
				hits |= 1ull << k;
			}
			if (likely(hits & (1ull << k))) {
				if (unlikely(!from_its_side(w, pkts[i],
							    flows[k], dir[k])))
					; /* dropped: not from its side */
				else if (unlikely(mg_pkt_ttl(pkts[i],
							     &info[i]) <= 1))
					ttl_expired(w, rs, in, pkts[i],
						    &info[i]);
				else
					forward_flow(w, rs, in, pkts[i],
						     &info[i], flows[k],
						     dir[k]);
			} else {
				admissions = w->admissions;
				admit(w, rs, in, pkts[i], &info[i]);
				if (w->admissions != admissions) {
					admitted_add(&admitted,
						     &w->admitted->key[0]);
					admitted_add(&admitted,
						     &w->admitted->key[1]);
				}
			}
			k++;
		}
	}
}

/*
 * Whether no packet of this burst can belong to a connection: the
 * ruleset has no service (so it admits none) and no peer, no shadow
 * candidate classifies, and the table holds none left from an earlier
 * config. Every TCP/UDP packet would miss and go to not_for_service()
 * through admit(), which finds nothing else to do without a service: so
 * it goes there at once (wire mode's bridge), without a lookup. A
 * reload that brings services makes the next burst look up again; a
 * connection another worker admits under it counts in the table before
 * its SYN leaves, so before any answer can arrive here.
 */
static inline bool
nothing_tracked(const struct mg_worker *w, const struct mg_ruleset *rs)
{
	return mg_ruleset_n_services(rs) == 0 && mg_ruleset_esp(rs) == NULL &&
	       w->shadow == NULL && mg_flow_count(w->dp->flows) == 0;
}

/* What not_for_service() and tx_any() do in wire mode's common case,
 * decided inline: a frame in clear, for none of the gateway's addresses,
 * that leaves whole (leaves_whole(): no peers, so tx() would send it in
 * clear, and within the MTU) goes out as it came. */
static __rte_always_inline bool
bridges(const struct mg_worker *w, const struct mg_ruleset *rs, bool wire,
	uint8_t out, const struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	return wire && !mg_ruleset_maybe_local(rs, info->tuple.dst) &&
	       origin(w, m) == 0 && leaves_whole(w, out, info);
}

/* dispatch() when nothing_tracked(). */
static void
dispatch_untracked(struct mg_worker *w, const struct mg_ruleset *rs,
		   uint16_t in, struct rte_mbuf **pkts,
		   const struct mg_pkt_info *info, const uint8_t *reason,
		   uint16_t n)
{
	/* the ruleset forwards unmatched frames (wire mode) */
	const bool wire = mg_ruleset_forward_unmatched(rs);
	const uint8_t out = (uint8_t)w->out[in];
	/* the bridge's tx_raw(), its buffer loaded once (the loop's stores
	 * may alias it) and its count added once */
	struct rte_eth_dev_tx_buffer *txb = w->txb[out];
	const uint16_t port_id = w->port_id[out], queue = w->queue;
	uint64_t sent = 0;
	uint16_t i;

	for (i = 0; i < n; i++) {
		if (unlikely(reason[i] != MG_DROP_NONE))
			drop(w, pkts[i], reason[i]);
		else if (unlikely(info[i].frag != 0))
			reassemble(w, rs, in, pkts[i], &info[i]);
		else if (!is_tracked(&info[i]))
			handle_other(w, rs, in, pkts[i], &info[i]);
		else if (bridges(w, rs, wire, out, pkts[i], &info[i]))
			sent += rte_eth_tx_buffer(port_id, queue, txb, pkts[i]);
		else
			not_for_service(w, rs, in, pkts[i], &info[i]);
	}
	mg_counter_add(&w->stats->tx, sent);
}

/* Parse a burst from port index @p in and dispatch every frame. */
static void
process_burst(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	      struct rte_mbuf **pkts, uint16_t n)
{
	struct mg_pkt_info info[BURST_MAX];
	uint8_t reason[BURST_MAX];
	uint16_t i;

	mg_pkt_parse_burst(pkts, n, info, reason);
	n = esp_in(w, rs, in, pkts, info, reason, n);
	if (nothing_tracked(w, rs)) {
		dispatch_untracked(w, rs, in, pkts, info, reason, n);
		return;
	}
	for (i = 0; i < n; i += LOOKUP_MAX)
		dispatch(w, rs, in, pkts + i, info + i, reason + i,
			 RTE_MIN(LOOKUP_MAX, n - i));
}

/* Parked packets whose next hop answered go through admission again,
 * as if just received; the rest time out. */
struct retry_ctx {
	struct mg_worker *w;
	const struct mg_ruleset *rs;
};

static void
retry_parked(void *arg, struct rte_mbuf *m, uint8_t port,
	     const struct rte_ether_addr *mac, uint64_t health)
{
	struct retry_ctx *c = arg;
	struct mg_worker *w = c->w;

	if (mac == NULL) {
		/* a backend whose next hop never answers is not reachable:
		 * a connect failure, as a SYN timeout */
		mg_ruleset_health_report(c->rs, MG_RULESET_ANY_SERVICE,
					 (uint32_t)health, MG_HEALTH_UNRESOLVED,
					 w->now);
		drop(w, m, MG_DROP_NEIGH_TIMEOUT);
		return;
	}
	/* egress port -> the port it came in on (out[] is an involution) */
	process_burst(w, c->rs, w->out[port], &m, 1);
}

void
mg_worker_drop_fragments(struct mg_worker *w)
{
	/* datagrams still incomplete are dropped, and counted so */
	while (frag_expire(w, UINT64_MAX) != 0)
		;
}

void
mg_worker_run_parked(struct mg_worker *w)
{
	struct retry_ctx rc = { w, __atomic_load_n(&w->dp->ruleset,
						   __ATOMIC_ACQUIRE) };

	mg_neigh_pending_run(&w->pending, w->dp->neigh, w->now, retry_parked,
			     &rc);
}

/*
 * The longest time forwarding ever stood still, and since the latest
 * reload began: the round in which a new reload epoch shows counts in
 * the new window (the reload may have begun during it).
 */
static inline void
stall_account(struct mg_worker *w, struct mg_lcore_stats *stats)
{
	uint64_t gap = w->now - w->round_ref;
	uint32_t epoch =
		__atomic_load_n(&w->dp->reload_epoch, __ATOMIC_RELAXED);

	if (unlikely(gap > stats->stall_max_cycles))
		__atomic_store_n(&stats->stall_max_cycles, gap,
				 __ATOMIC_RELAXED);
	if (unlikely(epoch != w->seen_reload)) {
		w->seen_reload = epoch;
		__atomic_store_n(&stats->reload_stall_max_cycles, 0,
				 __ATOMIC_RELAXED);
	}
	if (unlikely(gap > stats->reload_stall_max_cycles))
		__atomic_store_n(&stats->reload_stall_max_cycles, gap,
				 __ATOMIC_RELAXED);
	w->round_ref = w->now;
}

int
mg_worker_main(void *arg)
{
	struct mg_worker *w = arg;
	struct mg_dataplane *dp = w->dp;
	struct rte_mbuf *pkts[BURST_MAX];
	struct mg_lcore_stats *stats = w->stats;

	MG_LOG(INFO, "lcore %u: forwarding on queue %u of %u port(s)",
	       w->lcore_id, w->queue, w->n_ports);
	rte_rcu_qsbr_thread_register(dp->qsv, w->rank);
	rte_rcu_qsbr_thread_online(dp->qsv, w->rank);
	mg_idle_start(w);
	while (!__atomic_load_n(w->quit, __ATOMIC_RELAXED)) {
		const struct mg_ruleset *rs;
		uint64_t rx = 0, sent = 0;
		uint16_t p, n;

		/* nothing read before this point is referenced after it */
		/* what rte_rcu_qsbr_synchronize() and the flow table's
		 * reclamation acquire, for TSan: before the report that
		 * lets a grace period end */
		MG_TSAN_RELEASE(dp->qsv);
		rte_rcu_qsbr_quiescent(dp->qsv, w->rank);
		rs = __atomic_load_n(&dp->ruleset, __ATOMIC_ACQUIRE);
		w->rs = rs;
		w->esp_set = w->esp != NULL ? mg_ruleset_esp(rs) : NULL;
		w->now = rte_rdtsc();
		stall_account(w, stats);
		/* unlink what other workers removed from our shard (their
		 * lookups pass over it already): its entries come back */
		mg_flow_handover(dp->flows, w->rank);
		for (p = 0; p < w->n_ports; p++) {
			n = rte_eth_rx_burst(w->port_id[p], w->queue, pkts,
					     w->burst);
			if (n == 0)
				continue;
			rx += n;
			process_burst(w, rs, p, pkts, n);
		}
		if (unlikely(w->pending.count != 0))
			mg_worker_run_parked(w);
		frag_expire(w, w->now);
		if (unlikely(w->esp != NULL) && mg_esp_busy(w->esp))
			esp_round(w);
		/* Flush once per round: batches across ports, bounded
		 * latency (one poll round) without a drain timer. */
		for (p = 0; p < w->n_ports; p++)
			sent += rte_eth_tx_buffer_flush(w->port_id[p], w->queue,
							w->txb[p]);
		mg_counter_add(&stats->tx, sent);
		if (rx != 0)
			mg_tel_latency(stats, rte_rdtsc() - w->now,
				       (uint32_t)rx);
		mg_flow_expire(dp->flows, &w->cursor, w->now,
			       rx ? EXPIRE_BUDGET_BUSY : EXPIRE_BUDGET_IDLE);
		if (rx == 0) {
			mg_counter_add(&stats->idle_polls, 1);
			/* last in the round: it may leave RCU while waiting */
			mg_idle_wait(w);
		} else {
			mg_counter_add(&stats->rx, rx);
			mg_counter_add(&stats->busy_polls, 1);
			mg_counter_add(&stats->busy_cycles,
				       rte_rdtsc() - w->now);
		}
	}
	mg_idle_stop(w);
	mg_worker_drop_fragments(w);
	MG_TSAN_RELEASE(dp->qsv);
	rte_rcu_qsbr_thread_offline(dp->qsv, w->rank);
	rte_rcu_qsbr_thread_unregister(dp->qsv, w->rank);
	/* what rte_eal_mp_wait_lcore() acquires (mg_worker_free()) */
	MG_TSAN_RELEASE(w);
	return 0;
}

uint16_t
mg_worker_process(struct mg_worker *w, uint16_t port, struct rte_mbuf **pkts,
		  uint16_t n)
{
	if (port >= w->n_ports)
		return 0;
	n = RTE_MIN(n, (uint16_t)BURST_MAX);
	process_burst(w, __atomic_load_n(&w->dp->ruleset, __ATOMIC_ACQUIRE),
		      port, pkts, n);
	return n;
}
