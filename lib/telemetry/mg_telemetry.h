/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Per-lcore counters and their export through the DPDK telemetry socket.
 * Each lcore writes only its own cache-aligned block with plain stores;
 * readers sum all blocks with relaxed loads. No lock and no atomic
 * read-modify-write ever touches the fast path.
 */

#ifndef MG_TELEMETRY_H
#define MG_TELEMETRY_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "mg_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What an lcore does; reported by /meshgate/lcores. */
enum mg_lcore_role {
	MG_LCORE_UNUSED = 0,
	MG_LCORE_WORKER,
	MG_LCORE_MAIN_WORKER, /**< single-core mode: main lcore forwards */
};

/** Counters of one lcore. Written by that lcore only. */
struct mg_lcore_stats {
	uint64_t rx;		     /**< frames received */
	uint64_t tx;		     /**< frames handed to the NIC */
	uint64_t busy_polls;	     /**< poll rounds that received something */
	uint64_t idle_polls;	     /**< poll rounds that received nothing */
	uint64_t busy_cycles;	     /**< TSC cycles spent in busy rounds */
	uint64_t local;		     /**< ARP/ND absorbed by the gateway */
	uint64_t flows_created;	     /**< connections admitted */
	uint64_t dry_run_denied;     /**< forwarded; a dry-run rule denies */
	uint64_t drops[MG_DROP_MAX]; /**< by enum mg_drop_reason */
} __rte_cache_aligned;

/** Sum over lcores, as returned to readers. */
struct mg_stats_sum {
	uint64_t rx;
	uint64_t tx;
	uint64_t busy_polls;
	uint64_t idle_polls;
	uint64_t busy_cycles;
	uint64_t local;
	uint64_t flows_created;
	uint64_t dry_run_denied;
	uint64_t drops_total;
	uint64_t drops[MG_DROP_MAX];
};

/**
 * Add to a counter owned by the calling lcore. A relaxed store, not an
 * atomic add: there is one writer, and readers only need untorn values.
 */
static inline void
mg_counter_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

/**
 * Register the /meshgate/ telemetry commands (stats, lcores, drops).
 * Call once from the main lcore, after rte_eal_init().
 *
 * @return 0, or a negative errno from rte_telemetry_register_cmd().
 *
 * Thread safety: not thread safe; call during start-up only.
 */
int mg_telemetry_init(void);

/**
 * Claim the counter block of an lcore and record its role.
 *
 * @param lcore_id  EAL lcore id, < RTE_MAX_LCORE.
 * @param role      What the lcore does.
 * @return The zeroed block, or NULL with rte_errno = EINVAL.
 *
 * Thread safety: call from the main lcore before the worker starts.
 */
struct mg_lcore_stats *mg_telemetry_lcore_claim(unsigned int lcore_id,
						enum mg_lcore_role role);

/**
 * Role recorded for an lcore, MG_LCORE_UNUSED when none.
 *
 * Thread safety: safe from any thread.
 */
enum mg_lcore_role mg_telemetry_lcore_role(unsigned int lcore_id);

/**
 * Read one lcore's counters with relaxed loads.
 *
 * Thread safety: safe from any thread, concurrently with the writer.
 */
void mg_telemetry_lcore_read(unsigned int lcore_id, struct mg_stats_sum *out);

/**
 * Sum the counters of all claimed lcores.
 *
 * Thread safety: safe from any thread, concurrently with the writers.
 */
void mg_telemetry_sum(struct mg_stats_sum *out);

/** Stable name of an lcore role ("worker", "main-worker", "unused"). */
const char *mg_lcore_role_name(enum mg_lcore_role role);

#ifdef __cplusplus
}
#endif

#endif /* MG_TELEMETRY_H */
