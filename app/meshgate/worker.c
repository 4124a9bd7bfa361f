/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The worker lcore: poll every port's queue, parse, forward, count. */

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "meshgate.h"
#include "mg_pkt.h"

/* Frames looked at per burst never exceed this (config caps burst). */
#define BURST_MAX MG_CONF_MAX_BURST

/* Unsent frames from a full TX ring: freed here and counted, never
 * retried, so a stuck port cannot hold the pool. */
static void
tx_unsent(struct rte_mbuf **pkts, uint16_t unsent, void *arg)
{
	struct mg_worker *w = arg;

	rte_pktmbuf_free_bulk(pkts, unsent);
	mg_counter_add(&w->stats->drops[MG_DROP_TX_FULL], unsent);
}

struct mg_worker *
mg_worker_create(unsigned int lcore_id, uint16_t queue,
		 const struct mg_conf *conf, const struct mg_port *ports,
		 enum mg_lcore_role role, const bool *quit)
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
	w->queue = queue;
	w->burst = conf->burst;
	w->n_ports = (uint16_t)conf->n_ports;
	w->quit = quit;
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
	for (i = 0; i < w->n_ports; i++) {
		if (w->txb[i] == NULL)
			continue;
		rte_pktmbuf_free_bulk(w->txb[i]->pkts, w->txb[i]->length);
		rte_free(w->txb[i]);
	}
	rte_free(w);
}

/* Parse a burst from port index @p in; well-formed frames go to the TX
 * buffer of the egress port, the rest are freed under their reason. */
static inline void
process_burst(struct mg_worker *w, uint16_t in, struct rte_mbuf **pkts,
	      uint16_t n)
{
	struct mg_pkt_info info[BURST_MAX];
	uint8_t reason[BURST_MAX];
	struct rte_mbuf *drop[BURST_MAX];
	uint16_t out = w->out[in], i, n_drop = 0;
	uint64_t sent = 0;

	mg_pkt_parse_burst(pkts, n, info, reason);
	for (i = 0; i < n; i++) {
		if (unlikely(reason[i] != MG_DROP_NONE)) {
			mg_counter_add(&w->stats->drops[reason[i]], 1);
			drop[n_drop++] = pkts[i];
			continue;
		}
		sent += rte_eth_tx_buffer(w->port_id[out], w->queue,
					  w->txb[out], pkts[i]);
	}
	if (n_drop != 0)
		rte_pktmbuf_free_bulk(drop, n_drop);
	mg_counter_add(&w->stats->tx, sent);
}

int
mg_worker_main(void *arg)
{
	struct mg_worker *w = arg;
	struct rte_mbuf *pkts[BURST_MAX];
	struct mg_lcore_stats *stats = w->stats;

	MG_LOG(INFO, "lcore %u: forwarding on queue %u of %u port(s)",
	       w->lcore_id, w->queue, w->n_ports);
	while (!__atomic_load_n(w->quit, __ATOMIC_RELAXED)) {
		uint64_t rx = 0, sent = 0;
		uint16_t p, n;

		for (p = 0; p < w->n_ports; p++) {
			n = rte_eth_rx_burst(w->port_id[p], w->queue, pkts,
					     w->burst);
			if (n == 0)
				continue;
			rx += n;
			process_burst(w, p, pkts, n);
		}
		if (rx == 0) {
			mg_counter_add(&stats->idle_polls, 1);
			continue;
		}
		/* Flush once per round: batches across ports, bounded
		 * latency (one poll round) without a drain timer. */
		for (p = 0; p < w->n_ports; p++)
			sent += rte_eth_tx_buffer_flush(w->port_id[p], w->queue,
							w->txb[p]);
		mg_counter_add(&stats->tx, sent);
		mg_counter_add(&stats->rx, rx);
		mg_counter_add(&stats->busy_polls, 1);
	}
	return 0;
}
