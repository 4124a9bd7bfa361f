/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Internal interfaces of the meshgate application: ports and workers. */

#ifndef MESHGATE_H
#define MESHGATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "mg_canary.h"
#include "mg_conf.h"
#include "mg_flow.h"
#include "mg_neigh.h"
#include "mg_policy.h"
#include "mg_ruleset.h"
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

/**
 * What every worker shares, owned by the control plane. The ruleset
 * pointer is swapped under RCU on reload; the rest is fixed from start-up
 * to teardown.
 */
struct mg_backend_label;

struct mg_dataplane {
	struct mg_ruleset *ruleset; /**< load with __atomic_load_n */
	struct mg_flow_table *flows;
	uint32_t max_flows;
	struct mg_neigh_table *neigh;
	struct mg_health *health; /**< passive health, kept on reload */
	/** Layer-7 state of each flow entry, by mg_flow.index */
	struct mg_l7_flow *l7_flows;
	struct mg_l7_pool *l7_pool; /**< buffers for split request heads */
	uint32_t l7_capacity;	    /**< buffers in the pool */
	/** Service and version of each health-table backend, for the
	 * backend gauges: rebuilt on every (re)load, read by /metrics */
	struct mg_backend_label *labels;
	unsigned int n_labels;
	pthread_mutex_t labels_lock;
	unsigned int n_workers;
	struct rte_rcu_qsbr *qsv; /**< one reader per worker */
	struct rte_mempool *pool; /**< for ARP/ND requests and resets */
	uint64_t tsc_hz;
	uint32_t hash_seed; /**< per process: callers cannot aim
			     *   connections at one backend */
	struct rte_ether_addr mac[MG_CONF_MAX_PORTS];
};

/**
 * Create the shared state: RCU variable for @p n_workers readers, flow
 * table, neighbour cache and the first ruleset.
 *
 * @return 0, or -1 with the reason logged (nothing left allocated).
 */
int mg_dataplane_init(struct mg_dataplane *dp, const struct mg_conf *conf,
		      const struct mg_port *ports, unsigned int n_workers,
		      struct rte_mempool *pool);

/** Free what mg_dataplane_init() created; workers must have stopped. */
void mg_dataplane_fini(struct mg_dataplane *dp);

/**
 * Publish a ruleset built from @p conf and free the old one once no
 * worker can read it. On failure the running ruleset stays.
 *
 * @param running  Config in force (to warn about restart-only changes).
 * @param qsbr_id  Caller's RCU reader id, or RTE_QSBR_THRID_INVALID when
 *                 the caller is not a worker.
 * @return 0, or -1 with the reason logged.
 */
int mg_dataplane_reload(struct mg_dataplane *dp, const struct mg_conf *running,
			const struct mg_conf *conf, unsigned int qsbr_id);

/** Called by a worker that also runs the control plane (single core). */
typedef void (*mg_control_fn)(void *arg, unsigned int qsbr_id);

/** Per-lcore context of the forwarding loop. Owned by one worker. */
struct mg_worker {
	unsigned int lcore_id;
	unsigned int qsbr_id; /**< reader id in dp->qsv */
	uint16_t queue;	      /**< RX and TX queue index on every port */
	uint16_t burst;
	uint16_t n_ports;
	uint16_t port_id[MG_CONF_MAX_PORTS];
	uint16_t out[MG_CONF_MAX_PORTS]; /**< index of the egress port */
	struct rte_eth_dev_tx_buffer *txb[MG_CONF_MAX_PORTS];
	struct mg_lcore_stats *stats;
	const bool *quit; /**< set by the control plane */
	struct mg_dataplane *dp;
	mg_control_fn control; /**< NULL unless single-core */
	void *control_arg;
	struct mg_flow_cursor cursor;
	uint64_t now; /**< TSC at the start of this round */
	struct mg_neigh_pending pending;
} __rte_cache_aligned;

/**
 * Allocate a worker context on the lcore's socket, with its TX buffers.
 *
 * @return The context, or NULL with rte_errno set.
 */
struct mg_worker *mg_worker_create(unsigned int lcore_id, unsigned int rank,
				   unsigned int n_workers, uint16_t queue,
				   const struct mg_conf *conf,
				   const struct mg_port *ports,
				   struct mg_dataplane *dp,
				   enum mg_lcore_role role, const bool *quit);

/** Free a worker context; frees any mbufs still buffered or parked. */
void mg_worker_free(struct mg_worker *w);

/** The run-to-completion loop; returns when *w->quit becomes true. */
int mg_worker_main(void *arg);

/**
 * One received burst through the whole per-packet decision, as the loop
 * handles it: parse, flow lookup, admission, NAT, layer-7 inspection,
 * resets, ARP/ND and echo. For harnesses that drive a worker without a
 * NIC (tests/fuzz); the loop itself does not call it.
 *
 * The caller does what the loop does around it: sets w->now, runs
 * w->pending (mg_neigh_pending_run()), flushes w->txb, expires flows
 * and reports RCU quiescence.
 *
 * @param w     Worker context.
 * @param port  Index of the port the frames came in on (< w->n_ports).
 * @param pkts  Frames; each is consumed: sent (into w->txb), parked in
 *              w->pending or freed.
 * @param n     Number of frames.
 * @return Frames consumed: min(n, MG_CONF_MAX_BURST), or 0 for a port
 *         index out of range; the caller keeps the rest.
 *
 * Thread safety: the worker's own thread only, as the loop.
 */
uint16_t mg_worker_process(struct mg_worker *w, uint16_t port,
			   struct rte_mbuf **pkts, uint16_t n);

#endif /* MESHGATE_H */
