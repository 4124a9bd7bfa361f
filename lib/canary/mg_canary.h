/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Canary forwarding building blocks: Maglev consistent hashing (backend
 * choice within a version) and passive health (ejection of backends that
 * stop answering new connections).
 *
 * Maglev tables are plain arrays built on the control plane and read with
 * one index on the fast path; they need no EAL. The health table is one
 * shared object that outlives rulesets: workers read it without locks and
 * report connection outcomes to it with compare-and-swap, the control
 * plane registers backends and polls it for changes to log.
 *
 * Who can move a backend's health: only evidence a caller cannot choose.
 * A RST to a SYN counts only for a backend with a fixed port (a caller
 * picks the port of a port-keeping one, and could pick one it does not
 * serve); SYN timeouts and next hops that never resolve count for all.
 * And however the evidence comes, at most a capped number of a
 * version's backends are out at once (groups, below): the cap is a
 * compare-and-swap on one of the group's slots, so concurrent reporters
 * can never exceed it.
 */

#ifndef MG_CANARY_H
#define MG_CANARY_H

#include <stdbool.h>
#include <stdint.h>

#include "mg_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Maglev ---- */

/** Most backends one Maglev table can hold (indices are uint16_t). */
#define MG_MAGLEV_MAX_BACKENDS 4096
/** Largest table size mg_maglev_size() returns. */
#define MG_MAGLEV_MAX_SIZE 65521

/**
 * Table size for up to @p n backends: the smallest prime of 251, 509,
 * 1021, 2053, 4099, 8191, 16381, 32749, 65521 that is at least 100 x n.
 *
 * With m >= 100 n every backend owns m/n +- 1 slots (one per round of
 * the population) and the extra disruption on a backend change stays a
 * small fraction of the table (Maglev paper, section 3.4). Callers that
 * rebuild tables as backends come and go should size for the most
 * backends they allow rather than the current count: a table of another
 * size shares nothing with the old one.
 *
 * @param n  Backends, 1..MG_MAGLEV_MAX_BACKENDS.
 * @return The size, or 0 when @p n is 0 or above 655 (100 n > 65521).
 *
 * Thread safety: pure function.
 */
uint32_t mg_maglev_size(uint32_t n);

/**
 * A backend's Maglev key: a 64-bit hash of its address and port, so that
 * a backend keeps its preference list (and so its slots) whatever the
 * other backends and their order are.
 *
 * @param addr  Address (family 4 or 6).
 * @param port  Port, host order (0 is a valid, distinct port).
 * @return The key.
 *
 * Thread safety: pure function.
 */
uint64_t mg_maglev_key(const struct mg_addr *addr, uint16_t port);

/**
 * Populate a Maglev lookup table (Eisenbud et al., NSDI 2016, pseudocode
 * 1): backend i prefers slots offset_i, offset_i + skip_i, ... (mod m)
 * with offset = h1(key) mod m and skip = h2(key) mod (m - 1) + 1; the
 * backends take turns claiming their next preferred free slot until the
 * table is full. Turns go in ascending key order, so the table depends
 * on the set of keys, not on the order of @p keys.
 *
 * @param table  Receives @p m entries, each an index into @p keys.
 * @param m      Table size: a prime, at least @p n (mg_maglev_size()).
 * @param keys   @p n distinct keys (mg_maglev_key()).
 * @param n      1..MG_MAGLEV_MAX_BACKENDS.
 * @return 0; -EINVAL if @p m is not a prime >= @p n, @p n is out of
 *         range or two keys are equal; -ENOMEM (scratch space).
 *
 * Thread safety: reentrant; allocates with malloc(), so control plane.
 */
int mg_maglev_build(uint16_t *table, uint32_t m, const uint64_t *keys,
		    uint32_t n);

/**
 * The backend of @p hash: one index.
 *
 * Thread safety: lock-free read of an immutable table.
 */
static inline uint16_t
mg_maglev_lookup(const uint16_t *table, uint32_t m, uint32_t hash)
{
	return table[hash % m];
}

/* ---- weighted version pick ---- */

/**
 * Version choice: hash & (MG_CANARY_PICK_SLOTS - 1) indexes a table of
 * version numbers filled in proportion to the weights (VPP lb style), so
 * the fast path does one load whatever the number of versions. 2^14
 * slots give a resolution of 1/16384, finer than the 1/10,000 the config
 * promises.
 */
#define MG_CANARY_PICK_BITS  14
#define MG_CANARY_PICK_SLOTS (1u << MG_CANARY_PICK_BITS)
/** Most versions a pick table chooses among. */
#define MG_CANARY_PICK_MAX 8

/**
 * Fill a pick table: largest-remainder counts, at least one slot for
 * every non-zero weight, interleaved by smooth weighted round robin.
 *
 * @param weights  @p n weights, not all zero.
 * @param n        2..MG_CANARY_PICK_MAX versions.
 * @param table    MG_CANARY_PICK_SLOTS version numbers (0..n-1), out.
 *
 * Thread safety: reentrant.
 */
void mg_canary_pick_build(const uint32_t *weights, unsigned int n,
			  uint8_t *table);

/* ---- passive health ---- */

/** Health index of a backend no health table tracks. */
#define MG_HEALTH_NONE UINT32_MAX
/** Most consecutive failures counted (eject_after may not exceed it). */
#define MG_HEALTH_MAX_FAILURES 1023
/** Most backends a table can register (indices fit 15 bits). */
#define MG_HEALTH_MAX_BACKENDS 32766
/** Most backends of one group ejected at once (a version's backends of
 * one family: at most MG_CONF_MAX_BACKENDS). */
#define MG_HEALTH_GROUP_SLOTS MG_CONF_MAX_BACKENDS
/** Longest group key, NUL included. */
#define MG_HEALTH_KEY_LEN (2 * MG_CONF_NAME_LEN + 8)

/**
 * When a backend is ejected and for how long, in TSC cycles. One per
 * service (lib/ruleset converts the config's milliseconds).
 */
struct mg_health_params {
	bool enabled; /**< false: never eject, reports are ignored */
	uint64_t connect_timeout_tsc; /**< SYN without SYN-ACK: a failure */
	uint32_t eject_after;	      /**< consecutive failures, >= 1 */
	uint64_t base_ejection_tsc;   /**< first ejection lasts this */
	uint64_t max_ejection_tsc;    /**< doubling stops here */
};

/** What one report changed. */
enum mg_health_event {
	MG_HEALTH_NO_CHANGE = 0,
	MG_HEALTH_EJECTED,  /**< this report ejected the backend */
	MG_HEALTH_RETURNED, /**< answered after an ejection: back in */
	MG_HEALTH_HELD,	    /**< due for ejection, but a group is at its
			     *   cap: kept in service, marked failing */
};

/** The kind of evidence a report brings. */
enum mg_health_evidence {
	MG_HEALTH_SYN_ACK = 0, /**< the backend answered a SYN: success */
	/** The backend reset a connection before it was established: a
	 * failure only if the backend has a fixed port (registered with
	 * port != 0); a port-keeping backend is sent whatever port the
	 * caller chose, so its RST proves nothing. */
	MG_HEALTH_RST,
	MG_HEALTH_TIMEOUT,    /**< no SYN-ACK within connect_timeout */
	MG_HEALTH_UNRESOLVED, /**< its next hop never answered ARP/ND */
};

/**
 * A group the reported backend belongs to (the worker passes those of
 * the ruleset in force: every version, per address family, that lists
 * the backend) and how many of the group's backends may be out at once.
 */
struct mg_health_limit {
	uint32_t group; /**< from mg_health_group() */
	uint32_t cap;	/**< 0..MG_HEALTH_GROUP_SLOTS */
};

/** A backend's health, for telemetry and logs. */
struct mg_health_info {
	struct mg_addr addr;
	uint16_t port;		  /**< host order, as registered */
	bool up;		  /**< takes new connections at `now` */
	bool held;		  /**< failing, kept in service by a cap */
	uint32_t failures;	  /**< consecutive, saturating */
	uint32_t level;		  /**< ejections since its last success */
	uint64_t ejected_until;	  /**< TSC; 0 if never ejected */
	uint64_t ejections_total; /**< since the table was created */
	uint64_t returns_total;	  /**< MG_HEALTH_RETURNED events */
};

struct mg_health;

/**
 * Create a health table.
 *
 * @param name          For logs and the allocation's type; unique.
 * @param max_backends  Distinct (address, port) pairs ever registered,
 *                      1..MG_HEALTH_MAX_BACKENDS. Entries are never
 *                      removed (indices stay stable across reloads):
 *                      leave room for backends that reloads add.
 * @param max_groups    Distinct group keys ever registered, 1..2^20;
 *                      MG_HEALTH_GROUP_SLOTS x 8 bytes each.
 * @param socket        NUMA socket (SOCKET_ID_ANY allowed).
 * @param tsc_hz        TSC cycles per second (logs, telemetry).
 * @return The table, or NULL with rte_errno set (EINVAL, ENOMEM).
 *
 * Thread safety: control plane. Needs the EAL (rte_malloc).
 */
struct mg_health *mg_health_create(const char *name, uint32_t max_backends,
				   uint32_t max_groups, int socket,
				   uint64_t tsc_hz);

/**
 * Free a table. No worker may use it any more, nor any ruleset built
 * with it. NULL accepted.
 */
void mg_health_free(struct mg_health *h);

/**
 * Index of a backend: the same (address, port) always gets the same
 * index, and keeps its state, across calls and so across reloads.
 *
 * @param h     Table.
 * @param addr  Address (family 4 or 6).
 * @param port  Port, host order.
 * @return The index (>= 0), -EINVAL (bad family), or -ENOSPC when
 *         max_backends pairs are registered already.
 *
 * Thread safety: control plane only (one registering thread); safe
 * against concurrent mg_health_up() and mg_health_report() on indices
 * handed out earlier. Publish rulesets holding a new index after the
 * call (the ruleset pointer swap orders the writes).
 */
int mg_health_register(struct mg_health *h, const struct mg_addr *addr,
		       uint16_t port);

/** Registered backends: valid indices are 0..count-1. Any thread. */
uint32_t mg_health_count(const struct mg_health *h);

/** Cycles per second given at creation. */
uint64_t mg_health_tsc_hz(const struct mg_health *h);

/**
 * Whether a backend takes new connections: not ejected, or its ejection
 * ran out before @p now.
 *
 * @param h    Table; NULL means every backend is up.
 * @param idx  From mg_health_register(); MG_HEALTH_NONE or an index out
 *             of range is up.
 * @param now  TSC.
 * @return true if up.
 *
 * Thread safety: lock-free; one relaxed 64-bit load. Fast path.
 */
bool mg_health_up(const struct mg_health *h, uint32_t idx, uint64_t now);

/**
 * Report how a new connection to a backend went. Call on events only
 * (enum mg_health_evidence): SYN-ACK is a success; a timeout or an
 * unresolved next hop a failure; a RST a failure for a backend with a
 * fixed port and nothing at all for a port-keeping one.
 *
 * A failure counts one consecutive failure; when there are at least
 * p->eject_after and the backend is not ejected, it is due for
 * ejection: it takes a slot in each of its groups (@p limits) and is
 * ejected until now + base x 2^level (at most max; rounded up to a
 * grain of 2^16 cycles, 66 us at 1 GHz), its level up by one. A group
 * holds as many backends out at once as its cap; when one of them is
 * full (a cap of 0 always is), the backend stays in service, marked
 * held (failing), and the next failure tries again. A failure while
 * ejected changes nothing else (connections admitted before the
 * ejection are still timing out). After the ejection runs out the
 * backend is up again, its slots free, and its next result decides: a
 * failure ejects it again for twice as long, a success puts it back. A
 * success clears failures, level and held, and ends any ejection at
 * once (freeing its slots).
 *
 * @param h         Table; NULL accepted (no-op).
 * @param idx       Backend index; MG_HEALTH_NONE or out of range: no-op.
 * @param ev        What happened.
 * @param now       TSC.
 * @param p         The service's parameters; if !p->enabled, no-op.
 * @param limits    The backend's groups and their caps; NULL when
 *                  @p n_limits is 0 (no cap: ejected whenever due).
 * @param n_limits  Entries in @p limits.
 * @return What changed (enum mg_health_event); the caller may count or
 *         log it (rate-limited) but need not: mg_health_log_changes()
 *         logs from the control plane.
 *
 * Thread safety: lock-free, any number of concurrent reporters: each
 * change is one compare-and-swap of the backend's state word, so every
 * ejection is decided (and counted) by exactly one report, and the
 * group slots it takes first are each a compare-and-swap, so no group
 * is ever over its cap through reports (see mg_health_group_sync() for
 * caps and members that a reload changes).
 */
enum mg_health_event mg_health_report(struct mg_health *h, uint32_t idx,
				      enum mg_health_evidence ev, uint64_t now,
				      const struct mg_health_params *p,
				      const struct mg_health_limit *limits,
				      unsigned int n_limits);

/**
 * Index of a group, the set of backends a cap applies to (lib/ruleset:
 * one version's backends of one address family): the same key always
 * gets the same index, and its slots, across reloads.
 *
 * @param h    Table.
 * @param key  NUL-terminated, shorter than MG_HEALTH_KEY_LEN.
 * @return The index (>= 0), -EINVAL, or -ENOSPC when max_groups keys
 *         are registered already.
 *
 * Thread safety: control plane only, as mg_health_register().
 */
int mg_health_group(struct mg_health *h, const char *key);

/**
 * Backends of a group out at @p now (holding one of its slots).
 *
 * Thread safety: lock-free; a snapshot.
 */
unsigned int mg_health_group_ejected(const struct mg_health *h, uint32_t group,
				     uint64_t now);

/**
 * Make a group's slots match a new ruleset: its @p members and
 * @p cap. Call once the ruleset is in force and no worker can still
 * report under the one before (after the RCU grace period): until then
 * reports use the old caps and members. Slots at or past @p cap, and
 * slots of backends no longer members, are freed; a member out without
 * a slot (it joined the group ejected) takes a free one. An ejected
 * member that finds none, or that held a slot past a lowered cap and
 * finds none below it, is returned to service (held: failing): the cap
 * wins over an ejection it did not decide.
 *
 * @return Members returned to service (logged, mg.canary).
 *
 * Thread safety: control plane only, concurrent with reports.
 */
unsigned int mg_health_group_sync(struct mg_health *h, uint32_t group,
				  uint32_t cap, const uint32_t *members,
				  unsigned int n, uint64_t now);

/**
 * Ejections of a backend since the table was created.
 *
 * @return The count; 0 for an unknown index or NULL table.
 *
 * Thread safety: lock-free (relaxed load).
 */
uint64_t mg_health_ejections(const struct mg_health *h, uint32_t idx);

/**
 * A backend's state at @p now.
 *
 * @return 0 with @p out filled; -EINVAL for an unknown index.
 *
 * Thread safety: lock-free; fields are read one by one, so a report
 * landing in between may show in some and not others.
 */
int mg_health_state(const struct mg_health *h, uint32_t idx, uint64_t now,
		    struct mg_health_info *out);

/**
 * A backend's name as logs and metrics show it: "198.18.2.21:8080",
 * "[2001:db8::21]:8080", or the bare address for port 0 (the caller's
 * port is kept). Returns @p buf.
 */
const char *mg_health_name(const struct mg_health_info *s, char *buf,
			   size_t len);

/**
 * Counts every ejection and every return of any backend. Poll it: when
 * it has not moved, nothing needs logging.
 *
 * Thread safety: lock-free (relaxed load).
 */
uint64_t mg_health_generation(const struct mg_health *h);

/**
 * Log (log type mg.canary) what changed since the previous call: each
 * backend ejected (with its consecutive failures, how long and how many
 * times in total), each backend back in service, and each backend
 * newly held in service by a cap. Cheap when nothing changed (one
 * load).
 *
 * @param h    Table; NULL accepted.
 * @param now  TSC.
 * @return Backends logged.
 *
 * Thread safety: one caller at a time (the control plane), concurrent
 * with workers reporting.
 */
unsigned int mg_health_log_changes(struct mg_health *h, uint64_t now);

#ifdef __cplusplus
}
#endif

#endif /* MG_CANARY_H */
