/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Connection tracking. One preallocated entry per connection, reachable
 * from two keys in an rte_hash with lock-free readers: the tuple the
 * client sends (client -> virtual address) and the tuple the backend
 * sends back (backend -> client). Entries are reclaimed through RCU
 * (rte_rcu_qsbr): a worker may read an entry until its next quiescent
 * report, so nothing is reused under it.
 *
 * Time is passed in by the caller (TSC cycles) so the fast path reads
 * the clock once per burst and tests can drive expiry.
 */

#ifndef MG_FLOW_H
#define MG_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_rcu_qsbr.h>

#include "mg_conf.h"
#include "mg_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** f->mark keeps TSC / 2^8: 32 bits span ~7 minutes at 2.5 GHz, far
 * beyond any handshake or response time worth a histogram bucket. */
#define MG_FLOW_MARK_SHIFT 8

/** Connection states. UDP flows are MG_FLOW_UDP throughout. */
enum mg_flow_state {
	MG_FLOW_SYN_SENT = 0, /**< client SYN forwarded */
	MG_FLOW_SYN_RECV,     /**< backend SYN-ACK seen */
	MG_FLOW_ESTABLISHED,  /**< handshake completed */
	MG_FLOW_FIN_WAIT,     /**< one side sent FIN */
	MG_FLOW_TIME_WAIT,    /**< both sides sent FIN */
	MG_FLOW_CLOSED,	      /**< RST seen */
	MG_FLOW_UDP,
	MG_FLOW_STATE_MAX
};

/** Which key a packet matched. */
enum mg_flow_dir {
	MG_FLOW_DIR_FWD = 0, /**< client -> service */
	MG_FLOW_DIR_REV = 1, /**< backend -> client */
};

/**
 * A tracked connection. Decision fields are written once, before the
 * entry is published; state and last_seen are updated by any worker with
 * relaxed stores (a lost update of last_seen only delays expiry).
 */
struct mg_flow {
	struct mg_5tuple key[2]; /**< [dir]: as received from each side */
	/* decision, fixed at the first packet; the virtual address and
	 * port the client used are key[MG_FLOW_DIR_FWD].dst and .dport */
	uint16_t service;
	uint16_t labels;   /**< telemetry series (caller, service, version) */
	uint8_t awaiting;  /**< a request is waiting for its response */
	uint16_t identity; /**< the caller, for per-request decisions */
	/** TSC >> MG_FLOW_MARK_SHIFT of the SYN, then of the pending
	 * request: the start of the latency being measured */
	uint32_t mark;
	/* where each direction leaves: port index and next-hop MAC */
	uint8_t out_port[2];		  /**< [dir] */
	struct rte_ether_addr out_mac[2]; /**< [dir] destination MAC */
	/* tracking */
	uint8_t state;	  /**< enum mg_flow_state */
	uint8_t fin_seen; /**< bit per dir */
	uint8_t l7;	  /**< enum mg_l7_proto: client bytes inspected */
	/** low bits of the generation of the ruleset that service and
	 * identity index (mg_ruleset_generation()) */
	uint16_t generation;
	uint64_t last_seen; /**< TSC of the last packet */
	uint32_t index;	    /**< position in the entry array */
	uint32_t health;    /**< backend's passive-health index */
} __rte_cache_aligned;

struct mg_flow_table;

/** Parameters of mg_flow_table_create(). */
struct mg_flow_params {
	const char *name;   /**< unique per process, 1-21 chars */
	uint32_t max_flows; /**< connections; keys are twice that */
	int socket;
	const struct mg_flow_conf *timeouts; /**< seconds, copied */
	uint64_t tsc_hz;		     /**< cycles per second */
	struct rte_rcu_qsbr *qsv; /**< workers report quiescence here */
};

/**
 * Create a table.
 *
 * @return The table, or NULL with rte_errno set (EINVAL, ENOMEM, EEXIST).
 *
 * Thread safety: control plane, before workers use it.
 */
struct mg_flow_table *mg_flow_table_create(const struct mg_flow_params *p);

/** Free a table; workers must have stopped. NULL accepted. */
void mg_flow_table_free(struct mg_flow_table *t);

/**
 * DPDK memory mg_flow_table_create() takes for @p max_flows connections
 * with an RCU variable: the entry array, its metadata, the retired FIFO,
 * the free ring and the rte_hash of twice as many keys, from the same
 * sizes create uses (rte_hash's from DPDK 22.11's layout). Heap element
 * headers are not counted.
 *
 * @return Bytes; 0 when @p max_flows is out of range.
 *
 * Thread safety: pure; needs no EAL.
 */
size_t mg_flow_table_memsize(uint32_t max_flows);

/**
 * Look up a burst of tuples.
 *
 * @param t      Table.
 * @param keys   @p n tuples.
 * @param n      At most RTE_HASH_LOOKUP_BULK_MAX (64).
 * @param flows  Receives the entry for each hit, NULL for a miss.
 * @param dir    Receives the direction (enum mg_flow_dir) of each hit.
 * @return Bit mask of hits (bit i set: keys[i] found).
 *
 * Thread safety: lock-free; concurrent with inserts and deletes. Entries
 * stay valid until the caller's next rte_rcu_qsbr_quiescent().
 */
uint64_t mg_flow_lookup_bulk(struct mg_flow_table *t,
			     const struct mg_5tuple **keys, uint32_t n,
			     struct mg_flow **flows, uint8_t *dir);

/**
 * Claim a free entry for a new connection. The caller fills the key[]
 * and decision fields, then calls mg_flow_publish().
 *
 * @return The zeroed entry, or NULL with rte_errno = ENOSPC when the
 *         table is full (established flows are unaffected).
 *
 * Thread safety: multi-thread safe.
 */
struct mg_flow *mg_flow_alloc(struct mg_flow_table *t);

/** Return an entry from mg_flow_alloc() that was never published. */
void mg_flow_release(struct mg_flow_table *t, struct mg_flow *f);

/**
 * Make @p f reachable by both of its keys. The caller sets the initial
 * state from the first packet before publishing: mg_flow_alloc() leaves
 * MG_FLOW_SYN_SENT (a TCP connection opened by a SYN); a TCP connection
 * adopted mid-stream may be set to MG_FLOW_ESTABLISHED. A flow whose
 * key[0].proto is not TCP is set to MG_FLOW_UDP here. last_seen = @p now.
 *
 * @return 0; -EEXIST if another worker published the same connection
 *         first (the caller releases @p f and looks up again), or if
 *         either key belongs to another flow or both keys are equal;
 *         -ENOSPC. On error @p f is not reachable and the caller
 *         releases it.
 *
 * Thread safety: multi-thread safe. Writers (publish, release of a
 * partly published entry, removal in mg_flow_expire()) share one
 * table lock; lookups never take it.
 */
int mg_flow_publish(struct mg_flow_table *t, struct mg_flow *f, uint64_t now);

/**
 * Advance the state machine with one packet of the flow.
 *
 * @param f          Entry from a lookup.
 * @param dir        Direction of the packet.
 * @param tcp_flags  Its TCP flags (0 for UDP).
 * @param now        TSC.
 *
 * Thread safety: any worker; relaxed stores.
 */
void mg_flow_update(struct mg_flow *f, enum mg_flow_dir dir, uint8_t tcp_flags,
		    uint64_t now);

/**
 * Forget a published connection now (e.g. to steer a handshake that a
 * backend never answered elsewhere). The entry is recycled after a grace
 * period, like an expired one.
 *
 * @return 0, or -ENOENT if it was already removed (by expiry or another
 *         worker).
 *
 * Thread safety: multi-thread safe; @p f stays readable until the
 * caller's next quiescent report.
 */
int mg_flow_remove(struct mg_flow_table *t, struct mg_flow *f);

/** Cursor for incremental expiry; one per expiring thread. */
struct mg_flow_cursor {
	uint32_t next;	 /**< next entry index to look at */
	uint32_t stride; /**< number of expiring threads */
	uint32_t first;	 /**< this thread's rank, < stride */
	/** Called for each flow this cursor expires, before the entry can
	 * be reused (e.g. to count a closed connection); may be NULL. */
	void (*removed)(void *ctx, const struct mg_flow *f);
	void *ctx;
};

/**
 * Look at up to @p budget entries from the cursor and remove those idle
 * past their state's timeout. Entries are recycled after a grace period.
 * Threads with distinct cursor ranks never look at the same entry.
 *
 * @return Number of flows removed.
 *
 * Thread safety: multi-thread safe with distinct cursors.
 */
unsigned int mg_flow_expire(struct mg_flow_table *t, struct mg_flow_cursor *c,
			    uint64_t now, unsigned int budget);

/** Connections currently tracked. Thread safety: any thread. */
uint32_t mg_flow_count(const struct mg_flow_table *t);

/**
 * Connections by state, counts[MG_FLOW_STATE_MAX]. Walks the table: for
 * telemetry, not the fast path.
 */
void mg_flow_count_states(const struct mg_flow_table *t, uint32_t *counts);

/** Stable name of a state ("established", ...). */
const char *mg_flow_state_name(enum mg_flow_state s);

#ifdef __cplusplus
}
#endif

#endif /* MG_FLOW_H */
