/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Internal interfaces of the meshgate application: ports and workers. */

#ifndef MESHGATE_H
#define MESHGATE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mempool.h>

#include "mg_conf.h"
#include "mg_telemetry.h"

extern int mg_logtype_app;
#define MG_LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, mg_logtype_app, "meshgate: " fmt "\n",        \
		##__VA_ARGS__)

/** A started port and what its NIC actually agreed to. */
struct mg_port {
	uint16_t port_id;
	uint16_t n_queues;
	uint64_t rx_offloads; /**< RTE_ETH_RX_OFFLOAD_* in effect */
	uint64_t tx_offloads; /**< RTE_ETH_TX_OFFLOAD_* in effect */
	uint64_t rss_hf;      /**< RTE_ETH_RSS_* in effect */
	bool started;
};

/**
 * Configure and start one port with @p n_queues RX and TX queues.
 * Offloads and RSS types the device lacks are logged and left out.
 *
 * @return 0, or a negative errno with the reason logged.
 */
int mg_port_start(const struct mg_port_conf *pc, uint16_t n_queues,
		  struct rte_mempool *pool, struct mg_port *port);

/** Stop and close a port started by mg_port_start(). */
void mg_port_close(struct mg_port *port);

/** Per-lcore context of the forwarding loop. Owned by one worker. */
struct mg_worker {
	unsigned int lcore_id;
	uint16_t queue; /**< RX and TX queue index on every port */
	uint16_t burst;
	uint16_t n_ports;
	uint16_t port_id[MG_CONF_MAX_PORTS];
	uint16_t out[MG_CONF_MAX_PORTS]; /**< index of the egress port */
	struct rte_eth_dev_tx_buffer *txb[MG_CONF_MAX_PORTS];
	struct mg_lcore_stats *stats;
	const bool *quit; /**< set by the control plane */
} __rte_cache_aligned;

/**
 * Allocate a worker context on the lcore's socket, with its TX buffers.
 *
 * @return The context, or NULL with rte_errno set.
 */
struct mg_worker *mg_worker_create(unsigned int lcore_id, uint16_t queue,
				   const struct mg_conf *conf,
				   const struct mg_port *ports,
				   enum mg_lcore_role role, const bool *quit);

/** Free a worker context; frees any mbufs still buffered. */
void mg_worker_free(struct mg_worker *w);

/** The run-to-completion loop; returns when *w->quit becomes true. */
int mg_worker_main(void *arg);

#endif /* MESHGATE_H */
