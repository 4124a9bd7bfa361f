/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The worker lcore: poll every port's queue, parse, then either answer
 * for the gateway (ARP, ND, echo), follow a tracked connection, or admit
 * a new one (classify, authorize, pick a backend) — and NAT and forward. */

#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>

#include "meshgate.h"
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
/* Poll rounds between calls to the control hook in single-core mode. */
#define CONTROL_EVERY 1024

/* Unsent frames from a full TX ring: freed here and counted, never
 * retried, so a stuck port cannot hold the pool. */
static void
tx_unsent(struct rte_mbuf **pkts, uint16_t unsent, void *arg)
{
	struct mg_worker *w = arg;

	rte_pktmbuf_free_bulk(pkts, unsent);
	mg_counter_add(&w->stats->drops[MG_DROP_TX_FULL], unsent);
}

/* A TCP connection this worker expired is closed, for telemetry. */
static void
flow_removed(void *ctx, const struct mg_flow *f)
{
	struct mg_worker *w = ctx;

	if (f->key[MG_FLOW_DIR_FWD].proto == IPPROTO_TCP)
		mg_tel_conn_close(w->stats, f->labels);
	/* a client that stalled inside a request head holds a buffer */
	if (f->l7 != MG_L7_NONE)
		mg_l7_flow_release(w->dp->l7_pool, &w->dp->l7_flows[f->index]);
}

struct mg_worker *
mg_worker_create(unsigned int lcore_id, unsigned int rank,
		 unsigned int n_workers, uint16_t queue,
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
	w->qsbr_id = rank;
	w->queue = queue;
	w->burst = conf->burst;
	w->n_ports = (uint16_t)conf->n_ports;
	w->quit = quit;
	w->dp = dp;
	w->cursor.first = rank;
	w->cursor.next = rank;
	w->cursor.stride = n_workers;
	w->cursor.removed = flow_removed;
	w->cursor.ctx = w;
	for (i = 0; i < conf->n_ports; i++) {
		w->port_id[i] = ports[i].port_id;
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
	return w;
}

void
mg_worker_free(struct mg_worker *w)
{
	unsigned int i;

	if (w == NULL)
		return;
	mg_neigh_pending_flush(&w->pending);
	for (i = 0; i < w->n_ports; i++) {
		if (w->txb[i] == NULL)
			continue;
		rte_pktmbuf_free_bulk(w->txb[i]->pkts, w->txb[i]->length);
		rte_free(w->txb[i]);
	}
	rte_free(w);
}

static inline void
drop(struct mg_worker *w, struct rte_mbuf *m, enum mg_drop_reason why)
{
	mg_counter_add(&w->stats->drops[why], 1);
	rte_pktmbuf_free(m);
}

static inline void
tx(struct mg_worker *w, uint16_t port, struct rte_mbuf *m)
{
	mg_counter_add(
		&w->stats->tx,
		rte_eth_tx_buffer(w->port_id[port], w->queue, w->txb[port], m));
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

static inline void
tuple_addr(struct mg_addr *a, const uint8_t *bytes, uint8_t family)
{
	a->family = family;
	memcpy(a->bytes, bytes, sizeof(a->bytes));
}

/*
 * Make @p f's service and identity indexes those of @p rs: a reload may
 * have renumbered them since the connection was admitted. A connection
 * whose service is gone keeps flowing, as its verdict was taken, but
 * has no service (UINT16_MAX) for health and layer-7 rules.
 */
static inline void
flow_refresh(const struct mg_ruleset *rs, struct mg_flow *f)
{
	uint16_t gen = (uint16_t)mg_ruleset_generation(rs);
	uint16_t service, identity;

	if (likely(__atomic_load_n(&f->generation, __ATOMIC_ACQUIRE) == gen))
		return;
	if (!mg_ruleset_resolve(rs, &f->key[MG_FLOW_DIR_FWD], &service,
				&identity)) {
		service = UINT16_MAX;
		identity = MG_IDENTITY_UNKNOWN;
	}
	/* any worker may do this; they all store the same values */
	f->service = service;
	f->identity = identity;
	__atomic_store_n(&f->generation, gen, __ATOMIC_RELEASE);
}

static void admit(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
		  struct rte_mbuf *m, const struct mg_pkt_info *info);

/*
 * Passive health from a handshake: the backend's SYN-ACK is a success,
 * its RST before the connection is established a failure, and so is the
 * client's SYN retransmitted after the connect timeout with no SYN-ACK.
 * In that last case, if the backend is now out, the connection is
 * forgotten and admitted again — no byte has flowed yet, so the client
 * never notices that its SYN went elsewhere. Returns true when @p m was
 * consumed that way.
 */
static bool
handshake_health(struct mg_worker *w, const struct mg_ruleset *rs,
		 struct rte_mbuf *m, const struct mg_pkt_info *info,
		 struct mg_flow *f, uint8_t dir, uint16_t in)
{
	const struct mg_health_params *hp;
	uint8_t flags = info->tcp_flags;
	struct mg_health *h = w->dp->health;

	flow_refresh(rs, f);
	hp = mg_ruleset_health_params(rs, f->service);
	if (hp == NULL || !hp->enabled)
		return false;
	if (dir == MG_FLOW_DIR_REV) {
		if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
			    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG) &&
		    f->state == MG_FLOW_SYN_SENT)
			mg_health_report(h, f->health, true, w->now, hp);
		else if (flags & RTE_TCP_RST_FLAG)
			mg_health_report(h, f->health, false, w->now, hp);
		return false;
	}
	if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) !=
		    RTE_TCP_SYN_FLAG ||
	    f->state != MG_FLOW_SYN_SENT ||
	    w->now - __atomic_load_n(&f->last_seen, __ATOMIC_RELAXED) <
		    hp->connect_timeout_tsc)
		return false;
	mg_health_report(h, f->health, false, w->now, hp);
	if (mg_health_up(h, f->health, w->now) ||
	    mg_flow_remove(w->dp->flows, f) != 0)
		return false;
	mg_tel_conn_close(w->stats, f->labels);
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
 * handshake time (SYN forwarded -> SYN-ACK back), and HTTP/1.x request
 * -> first response byte with the response's status class. A request
 * marks the flow; the first reply payload after it ends the wait.
 */
static inline void
tcp_telemetry(struct mg_worker *w, struct rte_mbuf *m,
	      const struct mg_pkt_info *info, struct mg_flow *f, uint8_t dir)
{
	struct mg_lcore_stats *s = w->stats;
	const uint8_t *payload;
	int cls;

	mg_tel_bytes(s, f->labels, (enum mg_tel_dir)dir,
		     info->payload_off + info->payload_len - info->l3_off);
	if (dir == MG_FLOW_DIR_REV && f->state == MG_FLOW_SYN_SENT &&
	    (info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
		    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG))
		mg_tel_handshake(s, f->labels, since_mark(w->now, f->mark));
	if (info->payload_len == 0)
		return;
	payload =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->payload_off);
	if (dir == MG_FLOW_DIR_FWD) {
		if (!f->awaiting &&
		    mg_telemetry_http_is_request(payload, info->payload_len)) {
			f->mark = mark_now(w->now);
			f->awaiting = 1;
		}
	} else if (f->awaiting) {
		cls = mg_telemetry_http_status_class(payload,
						     info->payload_len);
		if (cls >= 0) {
			mg_tel_request(s, f->labels, cls);
			mg_tel_request_duration(s, f->labels,
						since_mark(w->now, f->mark));
		}
		f->awaiting = 0;
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
	  enum mg_drop_reason why)
{
	const struct rte_tcp_hdr *th = mg_pkt_tcp_hdr(m, info);
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	uint32_t ack = rte_be_to_cpu_32(th->recv_ack);
	uint8_t back = f->out_port[MG_FLOW_DIR_REV];
	uint8_t fwd = f->out_port[MG_FLOW_DIR_FWD];
	struct rte_mbuf *rst;

	mg_counter_add(&w->stats->drops[why], 1);
	if (act != MG_L7_RESET) {
		rte_pktmbuf_free(m);
		return;
	}
	mg_flow_update(f, MG_FLOW_DIR_FWD, RTE_TCP_RST_FLAG, w->now);
	rst = rte_pktmbuf_copy(m, w->dp->pool, 0, info->payload_off);
	if (rst != NULL) {
		mg_pkt_tcp_reset(rst, info, true, ack, seq + info->payload_len);
		set_macs(rst, &w->dp->mac[back], &f->out_mac[MG_FLOW_DIR_REV]);
		tx(w, back, rst);
	}
	mg_pkt_nat(m, info, true, f->key[MG_FLOW_DIR_REV].src,
		   f->key[MG_FLOW_DIR_REV].sport);
	mg_pkt_tcp_reset(m, info, false, st->next_seq, ack);
	set_macs(m, &w->dp->mac[fwd], &f->out_mac[MG_FLOW_DIR_FWD]);
	tx(w, fwd, m);
}

/*
 * Layer-7 inspection of a TCP segment of a connection whose service has
 * request rules. Returns true when @p m was consumed (refused).
 */
static bool
inspect(struct mg_worker *w, const struct mg_ruleset *rs, struct rte_mbuf *m,
	const struct mg_pkt_info *info, struct mg_flow *f, uint8_t dir)
{
	struct mg_l7_flow *st = &w->dp->l7_flows[f->index];
	const struct mg_l7_ctx c = {
		.l7 = mg_ruleset_l7(rs),
		.pool = w->dp->l7_pool,
		.stats = w->stats,
		.worker = w->qsbr_id,
	};
	enum mg_drop_reason why = MG_DROP_NONE;
	enum mg_l7_action act;

	if (dir == MG_FLOW_DIR_REV) {
		mg_l7_backend_segment(st, m, info);
		return false;
	}
	flow_refresh(rs, f);
	act = mg_l7_client_segment(&c, st, f->service, f->identity, m, info,
				   &why);
	if (likely(act == MG_L7_FORWARD))
		return false;
	l7_refuse(w, m, info, f, st, act, why);
	return true;
}

/* Rewrite and send one packet of a tracked connection. */
static inline void
forward_flow(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	     struct rte_mbuf *m, const struct mg_pkt_info *info,
	     struct mg_flow *f, uint8_t dir)
{
	uint8_t out = f->out_port[dir];

	if (unlikely(f->state <= MG_FLOW_SYN_RECV) &&
	    info->tuple.proto == IPPROTO_TCP &&
	    handshake_health(w, rs, m, info, f, dir, in))
		return;
	/* bytes to inspect, anything after a reset (a verdict's reset
	 * leaves the flow closed), the backend's sequence space (SYN, FIN)
	 * or the client's timestamps (TCP options) */
	if (unlikely(f->l7 != MG_L7_NONE) &&
	    (info->payload_len != 0 || f->state == MG_FLOW_CLOSED ||
	     (dir == MG_FLOW_DIR_REV
		      ? info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)
		      : info->payload_off - info->l4_off > 20)) &&
	    inspect(w, rs, m, info, f, dir))
		return;
	if (info->tuple.proto == IPPROTO_TCP)
		tcp_telemetry(w, m, info, f, dir);
	mg_flow_update(f, dir, info->tcp_flags, w->now);
	if (dir == MG_FLOW_DIR_FWD)
		mg_pkt_nat(m, info, true, f->key[MG_FLOW_DIR_REV].src,
			   f->key[MG_FLOW_DIR_REV].sport);
	else
		mg_pkt_nat(m, info, false, f->key[MG_FLOW_DIR_FWD].dst,
			   f->key[MG_FLOW_DIR_FWD].dport);
	set_macs(m, &w->dp->mac[out], &f->out_mac[dir]);
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

	return mg_ruleset_is_local(c->rs, c->port, addr);
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
			tx(w, in, m);
		else
			drop(w, m, MG_DROP_LOCAL_UNHANDLED);
	} else if (mg_ruleset_forward_unmatched(rs)) {
		tx(w, w->out[in], m);
	} else {
		drop(w, m, MG_DROP_NO_SERVICE);
	}
}

/* MAC of @p nh, from the config's static entries or the cache. */
static inline bool
resolve(struct mg_worker *w, const struct mg_ruleset *rs,
	const struct mg_addr *nh, struct rte_ether_addr *mac)
{
	return mg_ruleset_static_neigh(rs, nh, mac->addr_bytes) ||
	       mg_neigh_lookup(w->dp->neigh, nh, w->now, mac);
}

/* Hold @p m until @p nh answers, asking for it unless a packet parked
 * before already did. */
static void
park(struct mg_worker *w, const struct mg_ruleset *rs, struct rte_mbuf *m,
     const struct mg_addr *nh, uint8_t out)
{
	uint64_t deadline = w->now + w->dp->tsc_hz * PARK_MS / 1000;
	bool asked = mg_neigh_pending_has(&w->pending, nh);
	struct mg_addr src;
	struct rte_mbuf *req;

	if (mg_neigh_park(&w->pending, m, nh, out, deadline) < 0) {
		drop(w, m, MG_DROP_NEIGH_QUEUE_FULL);
		return;
	}
	if (asked || !mg_ruleset_local_addr(rs, out, nh, &src))
		return; /* no address to ask from: the packet times out */
	req = mg_neigh_request(w->dp->pool, &w->dp->mac[out], &src, nh);
	if (req != NULL)
		tx(w, out, req);
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
	struct rte_ether_addr mac;
	struct mg_decision d;
	struct mg_addr nh;
	enum mg_l7_proto l7;
	struct mg_flow *f;
	int rc;

	if (!mg_ruleset_classify(rs, t,
				 rte_hash_crc(t, sizeof(*t), w->dp->hash_seed),
				 w->now, &d)) {
		not_for_service(w, rs, in, m, info);
		return;
	}
	if (t->proto == IPPROTO_TCP &&
	    (info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG |
				RTE_TCP_RST_FLAG)) != RTE_TCP_SYN_FLAG) {
		drop(w, m, MG_DROP_TCP_NOT_SYN);
		return;
	}
	l7 = t->proto == IPPROTO_TCP
		     ? mg_l7_service_proto(mg_ruleset_l7(rs), d.service)
		     : MG_L7_NONE;
	/* data in a SYN (TCP Fast Open) would reach the backend before
	 * the inspection is set up; the client retries without */
	if (unlikely(l7 != MG_L7_NONE && info->payload_len != 0)) {
		drop(w, m, MG_DROP_L7_BAD_REQUEST);
		return;
	}
	if (d.verdict == MG_VERDICT_DENY) {
		mg_tel_decision(w->stats, d.rule_slot, MG_TEL_DENY);
		drop(w, m, MG_DROP_POLICY_DENY);
		return;
	}
	if (!mg_ruleset_next_hop(rs, out, &d.backend_addr, &nh)) {
		drop(w, m, MG_DROP_NO_ROUTE);
		return;
	}
	if (!resolve(w, rs, &nh, &mac)) {
		/* retried from the queue once the next hop answers */
		park(w, rs, m, &nh, out);
		return;
	}
	f = mg_flow_alloc(w->dp->flows);
	if (f == NULL) {
		drop(w, m, MG_DROP_FLOW_TABLE_FULL);
		return;
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
	f->service = d.service;
	f->identity = d.identity;
	f->generation = (uint16_t)mg_ruleset_generation(rs);
	f->l7 = (uint8_t)l7;
	f->labels = (uint16_t)d.labels;
	f->mark = mark_now(w->now); /* the SYN leaves now */
	f->health = d.health_idx;
	f->out_port[MG_FLOW_DIR_FWD] = out;
	f->out_port[MG_FLOW_DIR_REV] = (uint8_t)in;
	f->out_mac[MG_FLOW_DIR_FWD] = mac;
	/* replies go back to whoever handed us the request */
	f->out_mac[MG_FLOW_DIR_REV] = eth->src_addr;
	f->state = t->proto == IPPROTO_TCP ? MG_FLOW_SYN_SENT : MG_FLOW_UDP;
	if (l7 != MG_L7_NONE)
		mg_l7_flow_start(w->dp->l7_pool, &w->dp->l7_flows[f->index], l7,
				 m, info);
	rc = mg_flow_publish(w->dp->flows, f, w->now);
	if (rc < 0) {
		mg_flow_release(w->dp->flows, f);
		/* -EEXIST: a retransmitted SYN raced its twin on another
		 * worker; the twin's flow carries the connection */
		drop(w, m,
		     rc == -EEXIST ? MG_DROP_TCP_NOT_SYN
				   : MG_DROP_FLOW_TABLE_FULL);
		return;
	}
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
	forward_flow(w, rs, in, m, info, f, MG_FLOW_DIR_FWD);
}

static inline bool
is_tracked(const struct mg_pkt_info *info)
{
	return info->l3 != MG_L3_ARP && (info->tuple.proto == IPPROTO_TCP ||
					 info->tuple.proto == IPPROTO_UDP);
}

/* Frames that are not TCP/UDP: ARP/ND and echo for the gateway, the
 * rest dropped (or passed on in wire mode). */
static void
handle_other(struct mg_worker *w, const struct mg_ruleset *rs, uint16_t in,
	     struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	struct is_local_ctx lc = { rs, in };

	switch (mg_neigh_input(w->dp->neigh, m, info, &w->dp->mac[in], is_local,
			       &lc, w->now)) {
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
	not_for_service(w, rs, in, m, info);
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
	uint64_t hits = 0;
	uint16_t i, k = 0;
	bool admitted = false;

	for (i = 0; i < n; i++)
		if (reason[i] == MG_DROP_NONE && is_tracked(&info[i]))
			keys[k++] = &info[i].tuple;
	if (k != 0)
		hits = mg_flow_lookup_bulk(w->dp->flows, keys, k, flows, dir);
	for (i = 0, k = 0; i < n; i++) {
		if (unlikely(reason[i] != MG_DROP_NONE)) {
			drop(w, pkts[i], reason[i]);
		} else if (!is_tracked(&info[i])) {
			handle_other(w, rs, in, pkts[i], &info[i]);
		} else {
			/* a flow admitted earlier in this chunk may be the
			 * one a later miss belongs to: look again */
			if (unlikely(!(hits & (1ull << k))) && admitted &&
			    mg_flow_lookup_bulk(w->dp->flows, &keys[k], 1,
						&flows[k], &dir[k]) != 0)
				hits |= 1ull << k;
			if (likely(hits & (1ull << k))) {
				forward_flow(w, rs, in, pkts[i], &info[i],
					     flows[k], dir[k]);
			} else {
				admit(w, rs, in, pkts[i], &info[i]);
				admitted = true;
			}
			k++;
		}
	}
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
	     const struct rte_ether_addr *mac)
{
	struct retry_ctx *c = arg;
	struct mg_worker *w = c->w;

	if (mac == NULL) {
		drop(w, m, MG_DROP_NEIGH_TIMEOUT);
		return;
	}
	/* egress port -> the port it came in on (out[] is an involution) */
	process_burst(w, c->rs, w->out[port], &m, 1);
}

int
mg_worker_main(void *arg)
{
	struct mg_worker *w = arg;
	struct mg_dataplane *dp = w->dp;
	struct rte_mbuf *pkts[BURST_MAX];
	struct mg_lcore_stats *stats = w->stats;
	unsigned int rounds = 0;

	MG_LOG(INFO, "lcore %u: forwarding on queue %u of %u port(s)",
	       w->lcore_id, w->queue, w->n_ports);
	rte_rcu_qsbr_thread_register(dp->qsv, w->qsbr_id);
	rte_rcu_qsbr_thread_online(dp->qsv, w->qsbr_id);
	while (!__atomic_load_n(w->quit, __ATOMIC_RELAXED)) {
		const struct mg_ruleset *rs;
		uint64_t rx = 0, sent = 0;
		uint16_t p, n;

		/* nothing read before this point is referenced after it */
		rte_rcu_qsbr_quiescent(dp->qsv, w->qsbr_id);
		rs = __atomic_load_n(&dp->ruleset, __ATOMIC_ACQUIRE);
		w->now = rte_rdtsc();
		for (p = 0; p < w->n_ports; p++) {
			n = rte_eth_rx_burst(w->port_id[p], w->queue, pkts,
					     w->burst);
			if (n == 0)
				continue;
			rx += n;
			process_burst(w, rs, p, pkts, n);
		}
		if (unlikely(w->pending.count != 0)) {
			struct retry_ctx rc = { w, rs };

			mg_neigh_pending_run(&w->pending, dp->neigh, w->now,
					     retry_parked, &rc);
		}
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
		} else {
			mg_counter_add(&stats->rx, rx);
			mg_counter_add(&stats->busy_polls, 1);
			mg_counter_add(&stats->busy_cycles,
				       rte_rdtsc() - w->now);
		}
		if (unlikely(w->control != NULL) &&
		    ++rounds % CONTROL_EVERY == 0)
			w->control(w->control_arg, w->qsbr_id);
	}
	rte_rcu_qsbr_thread_offline(dp->qsv, w->qsbr_id);
	rte_rcu_qsbr_thread_unregister(dp->qsv, w->qsbr_id);
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
