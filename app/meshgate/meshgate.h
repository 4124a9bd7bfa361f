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
#include <rte_ip_frag.h>
#include <rte_log.h>
#include <rte_mempool.h>
#include <rte_meter.h>
#include <rte_rcu_qsbr.h>

#include "drops.h"
#include "mg_canary.h"
#include "mg_conf.h"
#include "mg_esp.h"
#include "mg_flow.h"
#include "mg_neigh.h"
#include "mg_l7.h"
#include "mg_ruleset.h"
#include "mg_syncookie.h"
#include "mg_telemetry.h"
#include "recorder.h"

extern int mg_logtype_app;
#define MG_LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, mg_logtype_app, "meshgate: " fmt "\n",        \
		##__VA_ARGS__)

/** A started port and what its NIC actually agreed to. */
struct mg_port {
	char name[MG_CONF_NAME_LEN]; /**< the config's, fixed until exit */
	uint16_t port_id;
	uint16_t n_queues;
	uint64_t rx_offloads; /**< RTE_ETH_RX_OFFLOAD_* in effect */
	uint64_t tx_offloads; /**< RTE_ETH_TX_OFFLOAD_* in effect */
	uint64_t rss_hf;      /**< RTE_ETH_RSS_* in effect */
	uint16_t mtu;	      /**< largest IP packet it sends */
	bool started;
	/** Per RX queue: the callback completing checksums the kernel
	 * left undone (net_af_packet), else NULL */
	const struct rte_eth_rxtx_callback *rx_cb[MG_CONF_MAX_LCORES];
	/** What that callback needs to say when the kernel hands over
	 * frames larger than the ring's (TSO, GSO or GRO super-frames) */
	struct mg_port_kernel {
		char ifname[MG_CONF_DEVICE_LEN]; /**< its interface */
		const char *name;		 /**< the port's */
		uint16_t mtu;
		uint64_t warned; /**< TSC of the last warning, atomic */
	} kernel;
	/** The PMD's xstats that mg_telemetry_xstat_of_interest() keeps,
	 * looked up once at start */
	unsigned int n_xstats;
	uint64_t xstat_id[MG_TELEMETRY_MAX_XSTATS];
	char xstat_name[MG_TELEMETRY_MAX_XSTATS][RTE_ETH_XSTATS_NAME_SIZE];
};

/** Descriptors of each worker's cryptodev queue pair (ESP): operations
 * in flight between two poll rounds. */
#define MG_ESP_QP_DEPTH 2048

/** Indirect mbufs for fragments on their way out: each refers to part
 * of a datagram held in a direct mbuf (rte_ipv4/6_fragment_packet()). */
#define MG_INDIRECT_MBUFS 2047

/**
 * Bytes of mbuf data room for ports with these MTUs: whole frames of
 * the largest MTU fit one mbuf (jumbo frames too).
 */
uint16_t mg_port_data_room(const struct mg_conf *conf);

/**
 * Configure and start one port with @p n_queues RX and TX queues.
 * Offloads and RSS types the device lacks are logged and left out; so
 * are RX interrupts (@p rx_intr: idle mode interrupt) when the device
 * refuses them.
 *
 * @return 0, or a negative errno with the reason logged.
 */
int mg_port_start(const struct mg_port_conf *pc, uint16_t n_queues,
		  struct rte_mempool *pool, bool rx_intr, struct mg_port *port);

/** Stop and close a port started by mg_port_start(). */
void mg_port_close(struct mg_port *port);

/**
 * Read the NIC's counters of a started port (rte_eth_stats_get() and the
 * xstats chosen at start). Reads of all ports are serialised: some PMDs
 * accumulate clear-on-read registers and must not be read twice at once.
 *
 * @return 0, or a negative errno from ethdev.
 *
 * Thread safety: any control-plane thread; never from a worker.
 */
int mg_port_read(const struct mg_port *port, struct mg_telemetry_port *out);

/**
 * Whether the port's link is up (rte_eth_link_get_nowait()), serialised
 * with mg_port_read().
 *
 * Thread safety: as mg_port_read().
 */
bool mg_port_link_up(const struct mg_port *port);

/**
 * What every worker shares, owned by the control plane. The ruleset
 * pointer is swapped under RCU on reload; the rest is fixed from start-up
 * to teardown.
 */
struct mg_backend_label;
struct mg_limit_label;
struct mg_shadow;
struct mg_denylog;
struct mg_denylog_worker;

struct mg_dataplane {
	struct mg_ruleset *ruleset; /**< load with __atomic_load_n */
	/** Bumped by the control plane as a reload begins (one at a
	 * time: mg_dataplane_reload_begin()); each worker starts a new
	 * reload_stall_max_cycles when it sees it move */
	uint32_t reload_epoch;
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
	/** Per-caller limits' buckets, kept on reload, and the labels of
	 * the configured ones (under labels_lock) */
	struct mg_limit_table *limits;
	struct mg_limit_label *limit_labels;
	unsigned int n_limit_labels;
	unsigned int n_workers;
	struct rte_rcu_qsbr *qsv; /**< one reader per worker */
	struct rte_mempool *pool; /**< for ARP/ND requests and resets */
	/** Indirect mbufs of fragments that share a datagram's data */
	struct rte_mempool *indirect_pool;
	/** ol_flags bit of a datagram this gateway reassembled: it may be
	 * fragmented again on the way out, IPv6 included */
	uint64_t reassembled_flag;
	/** Gateway-originated errors and challenge ACKs, per worker */
	struct rte_meter_srtcm_profile ctl_profile;
	uint64_t tsc_hz;
	/** Seed of the version and backend choice, from the config
	 *  (hash_seed): HA peers choose alike (README, "HA pairs") */
	uint32_t hash_seed;
	struct rte_ether_addr mac[MG_CONF_MAX_PORTS];
	/** ESP (lib/esp): the cryptodev, keys and SAs; NULL when the
	 * file had no peers at start-up or it could not be created (then
	 * a config with peers is refused: "peers need a restart") */
	struct mg_esp *esp;
	/** Shadow evaluation of a candidate config (shadow.h), or NULL */
	struct mg_shadow *shadow;
	struct mg_denylog *denylog; /**< deny_log (denylog.h), or NULL */
	/** Connect failures (a backend's RST before the connection is
	 * established, no SYN-ACK in time) by worker and label-set slot:
	 * [n_workers][n_label_sets], each row written by its worker, read
	 * by the canary rollback */
	uint64_t *conn_errors;
	uint32_t n_label_sets;
	/** SYN cookies: the secret and clock (read-only once started), the
	 * mode (enum mg_syn_cookies, flows.syn_cookies; stored by a
	 * reload) and, in "auto", the half-open count from which new SYNs
	 * are answered with cookies (half of flows.max_half_open) */
	struct mg_syncookie syncookie;
	uint32_t syn_cookies;
	uint32_t cookie_threshold;
};

/** Limits that may keep per-source buckets, for a gateway started with
 * @p conf (reloads may add some). */
unsigned int mg_limit_regions(const struct mg_conf *conf);

/**
 * Create the shared state: RCU variable for @p n_workers readers, flow
 * table, neighbour cache and the first ruleset.
 *
 * @return 0, or -1 with the reason logged (nothing left allocated).
 */
int mg_dataplane_init(struct mg_dataplane *dp, const struct mg_conf *conf,
		      const struct mg_port *ports, unsigned int n_workers,
		      struct rte_mempool *pool);

/**
 * The half-open budget and peak and each limit's drops by reason and
 * connections, as a JSON object (for --stats-json).
 *
 * @return A string to free(), or NULL (ENOMEM).
 */
char *mg_dataplane_overload_json(struct mg_dataplane *dp);

/** Free what mg_dataplane_init() created; workers must have stopped. */
void mg_dataplane_fini(struct mg_dataplane *dp);

/**
 * A reload begins (before its parse and compile): every worker starts a
 * new reload_stall_max_cycles at its next round, so that telemetry shows
 * how long this reload made forwarding stand still. Control plane only.
 */
static inline void
mg_dataplane_reload_begin(struct mg_dataplane *dp)
{
	__atomic_store_n(&dp->reload_epoch, dp->reload_epoch + 1,
			 __ATOMIC_RELAXED);
}

/**
 * Publish a ruleset built from @p conf and free the old one once no
 * worker can read it. On failure the running ruleset stays.
 *
 * @param qsbr_id  Caller's RCU reader id, or RTE_QSBR_THRID_INVALID when
 *                 the caller is not a worker.
 * @return 0, or -1 with the reason logged.
 */
int mg_dataplane_reload(struct mg_dataplane *dp, const struct mg_conf *conf,
			unsigned int qsbr_id);

/**
 * Settings of @p file that differ from the running config @p run and
 * take effect only after a restart (they size ports, pools, tables and
 * registries, or, for telemetry.listen, bind the management socket):
 * each is logged with both values, saying the running one stays.
 *
 * @return How many differ.
 */
unsigned int mg_conf_restart_changes(const struct mg_conf *run,
				     const struct mg_conf *file);

/** Per-lcore context of the forwarding loop. Owned by one worker. */
struct mg_worker {
	unsigned int lcore_id;
	/** 0 .. n_workers - 1: its reader id in dp->qsv, its shard of the
	 * flow table, its view of the limits */
	unsigned int rank;
	uint16_t queue; /**< RX and TX queue index on every port */
	uint16_t burst;
	uint16_t n_ports;
	uint16_t port_id[MG_CONF_MAX_PORTS];
	uint16_t out[MG_CONF_MAX_PORTS]; /**< index of the egress port */
	struct rte_eth_dev_tx_buffer *txb[MG_CONF_MAX_PORTS];
	struct mg_lcore_stats *stats;
	const bool *quit; /**< set by the control plane */
	struct mg_dataplane *dp;
	struct mg_flow_cursor cursor;
	uint64_t now; /**< TSC at the start of this round */
	/** Flows this worker removed to make way for another (a new
	 * connection on a tuple): lookups made before are stale */
	uint32_t removals;
	/** Flows this worker published (admit()), the last of them: a
	 * miss looked up before may have become a hit on either key */
	uint32_t admissions;
	const struct mg_flow *admitted;
	uint16_t mtu[MG_CONF_MAX_PORTS];       /**< of each port */
	uint16_t mss_clamp[MG_CONF_MAX_PORTS]; /**< 0: none */
	/** Rate of ICMP errors and challenge ACKs this worker originates */
	struct rte_meter_srtcm ctl_meter;
	/** Rate of answers to refused connections (deny_action "reset"),
	 * apart: a flood of them must not silence the errors above */
	struct rte_meter_srtcm deny_meter;
	/** Datagrams being reassembled, and fragments to free */
	struct rte_ip_frag_tbl *frag_tbl;
	struct rte_ip_frag_death_row death_row;
	struct mg_neigh_pending pending;
	/** ESP: this worker's queue pair and staging (NULL without ESP),
	 * the mbuf marks, and the ruleset and ESP set of this round */
	struct mg_esp_worker *esp;
	struct mg_esp_marks marks;
	const struct mg_ruleset *rs;
	const struct mg_esp_set *esp_set;
	/* Idling (idle.c): written by this worker only */
	uint64_t round_ref;  /**< TSC a stall is measured from */
	uint64_t idle_start; /**< TSC of this idle period's first round */
	uint64_t seen_busy;  /**< busy_polls when the period began */
	uint32_t sleep_us;   /**< next sleep of the back-off; 0: spin */
	uint32_t max_sleep_us;
	uint64_t spin_tsc;    /**< spin this long before waiting */
	uint8_t idle_mode;    /**< enum mg_idle_mode in effect */
	bool intr;	      /**< waits on every port's RX interrupt */
	uint32_t seen_stall;  /**< test hook generation handled */
	uint32_t seen_reload; /**< dp->reload_epoch of reload_stall_max */
	const char *port_name[MG_CONF_MAX_PORTS]; /**< for logs */
	struct mg_shadow *shadow;		  /**< dp->shadow, or NULL */
	/** The flight recorder's ring of this lcore, or NULL (off) */
	struct mg_recorder *recorder;
	struct mg_denylog_worker *denylog; /**< its deny log, or NULL */
	uint64_t *conn_errors;		   /**< its row of dp->conn_errors */
	/** 1 + the last time slot this worker answered a SYN with a
	 * cookie (0: never); in "auto", ACKs without a connection are
	 * checked as cookies only within a slot of it (the client's SYN
	 * and ACK share a tuple, so RSS brings them to one queue) */
	uint64_t cookie_mark;
	/** Its view of dp->limits' buckets (its packet credits) */
	struct mg_limit_view *limit_view;
} __rte_cache_aligned;

/**
 * Allocate a worker context on the lcore's socket, with its TX buffers.
 *
 * @return The context, or NULL with rte_errno set.
 */
struct mg_worker *mg_worker_create(unsigned int lcore_id, unsigned int rank,
				   uint16_t queue, const struct mg_conf *conf,
				   const struct mg_port *ports,
				   struct mg_dataplane *dp,
				   enum mg_lcore_role role, const bool *quit);

/** Free a worker context; frees any mbufs still buffered or parked. */
void mg_worker_free(struct mg_worker *w);

/**
 * Choose how @p w idles (idle.mode, and what the CPU and the ports'
 * drivers offer) and set it up on the control plane: DPDK's PMD power
 * management (monitor) on the worker's queues for "adaptive", RX
 * interrupts asked of the ports for "interrupt". Logs what it chose.
 * Call after the ports started, before the worker runs.
 */
void mg_idle_prepare(struct mg_worker *w, const struct mg_conf *conf);

/** On the worker's own thread, before its first round: registers its
 * queues' RX interrupts with the thread's epoll set (interrupt mode). */
void mg_idle_start(struct mg_worker *w);

/**
 * After a round that received nothing: spin a little, then wait — an RX
 * interrupt or a sleep, each longer, up to max_sleep_us — offline for
 * RCU while waiting. Counts the wait in idle_wait_cycles.
 */
void mg_idle_wait(struct mg_worker *w);

/** On the worker's thread after its last round: unregisters. */
void mg_idle_stop(struct mg_worker *w);

/**
 * Test hook (MESHGATE_TEST_STALL_MS): after SIGUSR1 every worker stalls
 * once for that long, as a stuck worker would.
 */
void mg_idle_test_stall_arm(void);

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

/**
 * Release the packets parked in w->pending whose next hop resolved (they
 * go on as if just received on the port they came in on) or timed out
 * (dropped as neigh_timeout, a connect failure for the backend), as the
 * loop does once a round.
 *
 * Thread safety: the worker's own thread only, as the loop.
 */
void mg_worker_run_parked(struct mg_worker *w);

/**
 * Drop every datagram still being reassembled (counted as frag_timeout),
 * as the loop does when it stops; harnesses call it to account for
 * every mbuf.
 *
 * Thread safety: the worker's own thread only, as the loop.
 */
void mg_worker_drop_fragments(struct mg_worker *w);

#endif /* MESHGATE_H */
