/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Per-caller limits: new connections per second, concurrent
 * connections, and packets or bytes per second, for a caller identity as
 * a whole and for each of its source addresses. Rates are metered by
 * DPDK's rte_meter (srTCM with no excess bucket: green passes, red is
 * over the limit).
 *
 * A limit's state lives in buckets: one for the identity, and a bounded
 * set of per-source buckets claimed on demand (set-associative, 8 ways;
 * a source that finds no room shares the limit's overflow bucket). A
 * bucket's concurrent-connection count is shared by all workers (atomic,
 * touched once per connection); its meters are per worker, each with a
 * share of the rate that the control plane sets from the workers'
 * demand every 100 ms (mg_limit_rebalance()), so that a caller whose
 * traffic lands on one worker still gets the whole rate. A worker draws
 * tokens from its meters in chunks and spends them locally, per packet
 * and per new connection: a rate that is not reached costs a decrement
 * (per packet, inline: mg_limit_spend()).
 *
 * Buckets outlive rulesets: a limit keeps its id (and its counts) across
 * reloads by name (mg_limit_register()); its parameters and rte_meter
 * profiles are compiled into each ruleset (struct mg_limit_params).
 */

#ifndef MG_LIMIT_H
#define MG_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_meter.h>

#include "mg_limit_drop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A flow's bucket when no limit applies. */
#define MG_LIMIT_NONE UINT32_MAX
/** A worker's share of a rate, in 1/MG_LIMIT_SHARES steps. */
#define MG_LIMIT_SHARES 64
/** Ways of a per-source set. */
#define MG_LIMIT_WAYS 8

/** Why a limit refused. */
enum mg_limit_verdict {
	MG_LIMIT_OK = 0,
	MG_LIMIT_CONN_RATE, /**< new connections per second */
	MG_LIMIT_CONNS,	    /**< concurrent connections */
	MG_LIMIT_PKT_RATE,  /**< packets or bytes per second */
	MG_LIMIT_VERDICTS
};

/** A rate: per second, with a burst; rate 0 means none. */
struct mg_limit_rate {
	uint64_t rate;
	uint64_t burst;
};

/**
 * What one bucket allows, with the rte_meter profiles of every share:
 * built by mg_limit_params_init() into an immutable ruleset.
 */
struct mg_limit_params {
	struct mg_limit_rate conn; /**< new connections per second */
	struct mg_limit_rate pkt;  /**< packets (or bytes) per second */
	uint32_t max_conns;	   /**< concurrent; 0: none */
	bool bytes;		   /**< pkt counts bytes, not packets */
	/** [share]: the meter of a worker holding share/MG_LIMIT_SHARES */
	struct rte_meter_srtcm_profile conn_prof[MG_LIMIT_SHARES + 1];
	struct rte_meter_srtcm_profile pkt_prof[MG_LIMIT_SHARES + 1];
	uint32_t pkt_chunk; /**< tokens a worker draws at once */
};

/**
 * Build @p p from the rates.
 *
 * @return 0, or -EINVAL if a rate or burst is out of rte_meter's range.
 *
 * Thread safety: reentrant.
 */
int mg_limit_params_init(struct mg_limit_params *p,
			 const struct mg_limit_rate *conn,
			 const struct mg_limit_rate *pkt, uint32_t max_conns,
			 bool bytes);

struct mg_limit_table;

/**
 * Create a table.
 *
 * @param name         Unique per process.
 * @param max_limits   Limits ever registered (reloads included).
 * @param max_regions  Of those, how many may have per-source buckets.
 * @param max_sources  Per-source buckets of each such limit (rounded up
 *                     to a multiple of MG_LIMIT_WAYS); 0 for none.
 * @param n_workers    Workers that meter (ids 0..n-1).
 * @param socket       NUMA socket.
 * @param tsc_hz       TSC cycles per second.
 * @return The table, or NULL with rte_errno set (EINVAL, ENOMEM).
 *
 * Thread safety: control plane.
 */
struct mg_limit_table *
mg_limit_table_create(const char *name, uint32_t max_limits,
		      uint32_t max_regions, uint32_t max_sources,
		      unsigned int n_workers, int socket, uint64_t tsc_hz);

/** Free a table; workers must have stopped. NULL accepted. */
void mg_limit_table_free(struct mg_limit_table *t);

/**
 * The id of the limit named @p name: the same name keeps its id (and its
 * buckets) across calls, so across reloads. With @p sources, the limit
 * also gets per-source buckets (kept from then on).
 *
 * @return The id (>= 0); -ENOSPC when max_limits names are taken;
 *         -ENOBUFS when @p sources asks for one of max_regions regions
 *         and none is left.
 *
 * Thread safety: control plane only; publish what uses the id (the
 * ruleset) after this returns.
 */
int mg_limit_register(struct mg_limit_table *t, const char *name, bool sources);

/** Name of limit @p id ("" for an unknown one). Any thread. */
const char *mg_limit_name(const struct mg_limit_table *t, uint32_t id);

/** Limits registered: ids 0..n-1. Any thread. */
uint32_t mg_limit_count(const struct mg_limit_table *t);

/** The identity-wide bucket of limit @p id: @p id itself while below
 * max_limits (mg_limit_spend() relies on it). Fast path. */
uint32_t mg_limit_bucket(const struct mg_limit_table *t, uint32_t id);

/**
 * The bucket of source @p addr (@p alen bytes) under limit @p id: the
 * one it holds, else one it claims (a free one, or one idle for a
 * minute with no connection), else the limit's overflow bucket, shared
 * by every source that found no room.
 *
 * @param overflow  Set when the overflow bucket was returned.
 * @return The bucket; MG_LIMIT_NONE when the limit has no per-source
 *         buckets.
 *
 * Thread safety: any worker, lock-free (a claim is a compare-and-swap).
 */
uint32_t mg_limit_source_bucket(struct mg_limit_table *t, uint32_t id,
				const uint8_t *addr, unsigned int alen,
				uint64_t now, bool *overflow);

/**
 * A new connection in bucket @p b: the rate first, then the count of
 * concurrent connections, which it takes when both allow.
 *
 * @return MG_LIMIT_OK (the connection holds a count: give it back with
 *         mg_limit_release()), MG_LIMIT_CONN_RATE or MG_LIMIT_CONNS.
 *
 * Thread safety: worker @p worker for its meter; the count is atomic.
 */
enum mg_limit_verdict mg_limit_admit(struct mg_limit_table *t,
				     unsigned int worker, uint32_t b,
				     const struct mg_limit_params *p,
				     uint64_t now);

/**
 * A new connection of a caller: mg_limit_admit() in its source's bucket
 * @p src (with @p sp; MG_LIMIT_NONE: none), then in its identity's
 * @p all (with @p ap), in one call.
 *
 * @return MG_LIMIT_OK (the connection holds a count in each bucket: give
 *         them back with mg_limit_release()), or why one refused (then
 *         it holds none).
 *
 * Thread safety: worker @p worker for its meters; the counts are atomic.
 */
enum mg_limit_verdict mg_limit_admit_caller(struct mg_limit_table *t,
					    unsigned int worker, uint32_t src,
					    const struct mg_limit_params *sp,
					    uint32_t all,
					    const struct mg_limit_params *ap,
					    uint64_t now);

/** A connection of bucket @p b ended. Thread safety: any thread. */
void mg_limit_release(struct mg_limit_table *t, uint32_t b);

/**
 * A worker's draws on one bucket's meters: tokens are taken from the
 * worker's rte_meter in chunks and spent per packet inline, per
 * connection out of line. Internal to the library, here for
 * mg_limit_spend().
 */
struct mg_limit_credit {
	uint32_t credit; /**< tokens drawn, not yet spent */
	/** connections drawn from the connection meter, not yet admitted
	 * (out of line only) */
	uint32_t conn_credit;
	uint32_t gen; /**< 1 + the bucket's claim generation the
		       * meters were set up for; 0: not yet */
};

/** Size of a worker's view of a bucket, which starts with its credit. */
#define MG_LIMIT_WBUCKET_SIZE 64

/** The part of a table mg_limit_packet() reads inline. */
struct mg_limit_table_hdr {
	uint8_t **wb;	     /**< [worker]: views, MG_LIMIT_WBUCKET_SIZE each */
	const uint32_t *gen; /**< [bucket]: claim generation */
};

/** mg_limit_packet() without credit left: draws from the meter. */
bool mg_limit_packet_draw(struct mg_limit_table *t, unsigned int worker,
			  uint32_t b, const struct mg_limit_params *p,
			  uint32_t len, uint64_t now);

/** One worker's view of every bucket (mg_limit_view()). */
struct mg_limit_view;

/**
 * Worker @p worker's view of the buckets, for mg_limit_spend(): worth
 * keeping in the worker's context.
 *
 * Thread safety: any thread; valid as long as the table.
 */
static inline struct mg_limit_view *
mg_limit_view(const struct mg_limit_table *t, unsigned int worker)
{
	const struct mg_limit_table_hdr *h = (const void *)t;

	return (struct mg_limit_view *)h->wb[worker];
}

/* The credit of view @p v on bucket @p b. */
static inline struct mg_limit_credit *
mg_limit_credit_of(struct mg_limit_view *v, uint32_t b)
{
	return (struct mg_limit_credit *)((uint8_t *)v +
					  (size_t)b * MG_LIMIT_WBUCKET_SIZE);
}

/**
 * Spend @p need tokens (1 for a packet, its length for bytes) of the
 * credit worker view @p v holds on the identity-wide bucket @p b: the
 * whole of mg_limit_packet() while the credit lasts, for a caller that
 * knows the bucket meters packets (or bytes) without its params.
 *
 * @return true when spent; false, spending nothing, when the credit is
 *         short: ask mg_limit_packet().
 *
 * Thread safety: the worker of @p v.
 */
static inline bool
mg_limit_spend(struct mg_limit_view *v, uint32_t b, uint32_t need)
{
	struct mg_limit_credit *c = mg_limit_credit_of(v, b);

	if (likely(c->credit >= need)) {
		c->credit -= need;
		return true;
	}
	return false;
}

/**
 * A packet of @p len bytes in the identity-wide bucket @p b
 * (mg_limit_bucket()). Inline while the worker's credit lasts (a chunk
 * of tokens drawn from its meter at once), else out of line. Such a
 * bucket never changes hands, so its credit needs no claim generation:
 * a worker's first packet finds no credit and sets its meters up out of
 * line.
 *
 * @return true when the rate allows it.
 *
 * Thread safety: worker @p worker.
 */
static inline bool
mg_limit_packet(struct mg_limit_table *t, unsigned int worker, uint32_t b,
		const struct mg_limit_params *p, uint32_t len, uint64_t now)
{
	if (likely(mg_limit_spend(mg_limit_view(t, worker), b,
				  p->bytes ? len : 1)))
		return true;
	return mg_limit_packet_draw(t, worker, b, p, len, now);
}

/**
 * mg_limit_packet() for a source's bucket (mg_limit_source_bucket()),
 * which may change hands: credit drawn before the bucket was claimed by
 * another source is not spent (the meters start afresh, out of line).
 *
 * @return true when the rate allows it.
 *
 * Thread safety: worker @p worker.
 */
static inline bool
mg_limit_source_packet(struct mg_limit_table *t, unsigned int worker,
		       uint32_t b, const struct mg_limit_params *p,
		       uint32_t len, uint64_t now)
{
	const struct mg_limit_table_hdr *h = (const void *)t;
	struct mg_limit_credit *c =
		mg_limit_credit_of(mg_limit_view(t, worker), b);
	uint32_t need = p->bytes ? len : 1;

	if (likely(c->credit >= need &&
		   c->gen ==
			   __atomic_load_n(&h->gen[b], __ATOMIC_ACQUIRE) + 1)) {
		c->credit -= need;
		return true;
	}
	return mg_limit_packet_draw(t, worker, b, p, len, now);
}

/**
 * Give each worker the share of every active bucket's rates that its
 * demand since the last call asks for (at least 1/MG_LIMIT_SHARES each).
 * Call about every 100 ms.
 *
 * Thread safety: control plane (one caller), concurrent with workers.
 */
void mg_limit_rebalance(struct mg_limit_table *t);

/** Concurrent connections of bucket @p b. Any thread. */
uint32_t mg_limit_conns(const struct mg_limit_table *t, uint32_t b);

/** Per-source buckets of limit @p id held now (overflow excluded). */
uint32_t mg_limit_sources(const struct mg_limit_table *t, uint32_t id);

/** Bytes mg_limit_table_create() allocates for these sizes. */
size_t mg_limit_table_memsize(uint32_t max_limits, uint32_t max_regions,
			      uint32_t max_sources, unsigned int n_workers);

#ifdef __cplusplus
}
#endif

#endif /* MG_LIMIT_H */
