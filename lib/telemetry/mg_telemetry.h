/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Per-lcore counters and histograms, their export through the DPDK
 * telemetry socket and as Prometheus text.
 *
 * Each lcore writes only its own cache-aligned block and arrays with plain
 * stores (mg_counter_add()); readers sum all blocks with relaxed loads. No
 * lock and no atomic read-modify-write ever touches the fast path (the
 * per-thread counters of VPP's vlib, without their growth under a worker
 * barrier: every array is sized once, by mg_telemetry_configure()).
 *
 * Traffic is counted per *label set*, one (source identity, destination
 * service, destination version) triple. The control plane maps names to
 * slots with mg_telemetry_labelset() (append-only: a slot keeps its names
 * for the life of the process, so counters stay monotonic across reloads)
 * and the fast path indexes per-lcore arrays with the slot. Handshake
 * histograms are kept per destination (service, version), which the label
 * set implies; policy decisions per rule slot (mg_telemetry_rule()).
 *
 * Fast path (a worker, on its own block; never blocks, never allocates):
 * mg_tel_conn_open(), mg_tel_conn_close(), mg_tel_bytes(),
 * mg_tel_request(), mg_tel_request_duration(), mg_tel_message_size(),
 * mg_tel_handshake(), mg_tel_decision(), mg_tel_latency() and
 * mg_counter_add() on the block's own fields.
 */

#ifndef MG_TELEMETRY_H
#define MG_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
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

/** HTTP response code class, from the first digit of the status code. */
enum mg_tel_class {
	MG_TEL_1XX = 0,
	MG_TEL_2XX,
	MG_TEL_3XX,
	MG_TEL_4XX,
	MG_TEL_5XX,
	MG_TEL_CLASS_MAX
};

/** HTTP status codes counted one by one (for Istio's response_code);
 * any other is counted in its class only. */
#define MG_TEL_CODES                                                           \
	100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400,  \
		401, 403, 404, 405, 409, 429, 500, 502, 503, 504
#define MG_TEL_CODE_MAX 24

/**
 * Slot of an HTTP status code among MG_TEL_CODES, or -1 for another.
 *
 * Thread safety: pure; fast-path safe.
 */
static inline int
mg_tel_code_slot(int code)
{
	switch (code) {
	case 100: return 0;
	case 101: return 1;
	case 200: return 2;
	case 201: return 3;
	case 202: return 4;
	case 204: return 5;
	case 206: return 6;
	case 301: return 7;
	case 302: return 8;
	case 303: return 9;
	case 304: return 10;
	case 307: return 11;
	case 308: return 12;
	case 400: return 13;
	case 401: return 14;
	case 403: return 15;
	case 404: return 16;
	case 405: return 17;
	case 409: return 18;
	case 429: return 19;
	case 500: return 20;
	case 502: return 21;
	case 503: return 22;
	case 504: return 23;
	default: return -1;
	}
}

/** How /metrics names the traffic series (telemetry.naming). */
enum mg_tel_naming {
	MG_TEL_NAMING_MESHGATE = 0, /**< meshgate_requests_total, seconds */
	MG_TEL_NAMING_ISTIO,	    /**< istio_requests_total, Istio's labels
				     * and milliseconds */
};

/** A caller or service name and the namespace Istio's labels give it
 * (its env). */
struct mg_tel_namespace {
	const char *name;
	const char *ns;
};

/**
 * Direction of traffic; the values are those of enum mg_flow_dir, so a
 * worker passes the direction its flow lookup matched.
 */
enum mg_tel_dir {
	MG_TEL_DIR_REQUEST = 0,	 /**< client -> service */
	MG_TEL_DIR_RESPONSE = 1, /**< service -> client */
	MG_TEL_DIR_MAX
};

/** Transport of a new connection. */
enum mg_tel_l4 { MG_TEL_TCP = 0, MG_TEL_UDP, MG_TEL_L4_MAX };

/** Policy decision counted against a rule. */
enum mg_tel_decision {
	MG_TEL_ALLOW = 0, /**< the rule allowed the connection */
	MG_TEL_DENY,	  /**< the rule (or default deny) dropped it */
	MG_TEL_DRY_RUN,	  /**< a dry-run rule would have denied it */
	MG_TEL_DECISION_MAX
};

/** Buckets of request and handshake durations: 17 bounds from 50 us to
 * 10 s, then +Inf. */
#define MG_TEL_DURATION_BUCKETS 18
/** Buckets of the processing latency: 13 bounds from 1 us to 10 ms, then
 * +Inf. */
#define MG_TEL_LATENCY_BUCKETS 14

/**
 * Upper bounds of a histogram's buckets in TSC cycles, computed once from
 * the TSC rate: le[i] = floor(bound_i * hz), so an observation of c cycles
 * falls in the first bucket with c <= le[i], which is Prometheus's "le".
 * Unused and +Inf entries hold UINT64_MAX. first[] turns the bit length of
 * an observation into the first bucket it can fall in, so a lookup is a
 * count of leading zeros, one load and one to three compares.
 */
struct mg_tel_bounds {
	uint64_t le[MG_TEL_DURATION_BUCKETS];
	uint8_t first[65];
};

/** Buckets of request and response sizes (Istio's): 8 bounds from 1 to
 * 10^7 bytes, each ten times the last, then +Inf. */
#define MG_TEL_SIZE_BUCKETS 9

/** Duration histogram (request, handshake). Count = sum of buckets. */
struct mg_tel_duration {
	uint64_t bucket[MG_TEL_DURATION_BUCKETS]; /**< non-cumulative */
	uint64_t sum;				  /**< TSC cycles */
};

/** Processing-latency histogram. Count = sum of buckets. */
struct mg_tel_latency {
	uint64_t bucket[MG_TEL_LATENCY_BUCKETS]; /**< non-cumulative */
	uint64_t sum;				 /**< TSC cycles */
};

/** Size histogram (HTTP head + body). Count = sum of buckets. */
struct mg_tel_size {
	uint64_t bucket[MG_TEL_SIZE_BUCKETS]; /**< non-cumulative */
	uint64_t sum;			      /**< bytes */
};

/** Counters of one label set on one lcore (584 bytes). */
struct mg_tel_set {
	uint64_t bytes[MG_TEL_DIR_MAX];	     /**< L3 bytes, TCP */
	uint64_t opened[MG_TEL_L4_MAX];	     /**< new connections */
	uint64_t closed;		     /**< TCP connections */
	uint64_t requests[MG_TEL_CLASS_MAX]; /**< HTTP responses */
	uint64_t codes[MG_TEL_CODE_MAX];     /**< of them, by MG_TEL_CODES */
	struct mg_tel_duration request_duration; /**< request -> reply */
	/** sizes of requests [MG_TEL_DIR_REQUEST] and responses */
	struct mg_tel_size size[MG_TEL_DIR_MAX];
};

/** Counters of one destination (service, version) on one lcore. */
struct mg_tel_dest {
	struct mg_tel_duration handshake; /**< SYN forwarded -> SYN-ACK */
};

/** Counters of one policy rule on one lcore. */
struct mg_tel_rule {
	uint64_t decisions[MG_TEL_DECISION_MAX];
};

/** Limits a process can count drops for (twice a file's maximum: room
 * for reloads to rename). */
#define MG_TEL_MAX_LIMITS 128

/** Why a limit dropped (meshgate_limit_drops_total{reason}). */
enum mg_tel_limit_reason {
	MG_TEL_LIMIT_CONN_RATE = 0, /**< rate_limited_conn */
	MG_TEL_LIMIT_CONNS,	    /**< conn_limit */
	MG_TEL_LIMIT_PKT_RATE,	    /**< rate_limited_pps */
	MG_TEL_LIMIT_MAX
};

/** Counters of one lcore. Written by that lcore only. */
struct mg_lcore_stats {
	uint64_t rx;		  /**< frames received */
	uint64_t tx;		  /**< frames handed to the NIC */
	uint64_t busy_polls;	  /**< poll rounds that received something */
	uint64_t idle_polls;	  /**< poll rounds that received nothing */
	uint64_t busy_cycles;	  /**< TSC cycles spent in busy rounds */
	uint64_t local;		  /**< ARP/ND absorbed by the gateway */
	uint64_t flows_created;	  /**< connections admitted */
	uint64_t dry_run_denied;  /**< forwarded; a dry-run rule denies */
	uint64_t neigh_conflicts; /**< ARP/ND claims against the cache */
	/** refused connections answered (deny_action "reset"): RST or
	 * ICMP sent, or not sent because the rate was spent */
	uint64_t deny_replies;
	uint64_t deny_replies_suppressed;
	/** SYN proxy (flows.syn_cookies): SYNs answered with a cookie,
	 * ACKs whose cookie was valid (each then admitted as a SYN is) */
	uint64_t syn_cookies_sent;
	uint64_t syn_cookies_valid;
	uint64_t drops[MG_DROP_CAPACITY]; /**< by enum mg_drop_reason */
	/** drops by limit id and enum mg_tel_limit_reason */
	uint64_t limit_drops[MG_TEL_MAX_LIMITS][MG_TEL_LIMIT_MAX];
	/** most half-open connections this lcore saw after admitting one */
	uint64_t half_open_peak;
	/** TSC cycles an idle worker spent waiting (sleep, interrupt) */
	uint64_t idle_wait_cycles;
	/** Longest time between two poll rounds not spent waiting idle:
	 * how long forwarding ever stalled (a maximum, not a counter) */
	uint64_t stall_max_cycles;
	/** The same since the latest reload began (the worker starts a
	 * new maximum when it sees mg_dataplane's reload epoch move): how
	 * long that reload made forwarding stand still, at most */
	uint64_t reload_stall_max_cycles;
	/** RX to TX of each packet, per poll round. */
	struct mg_tel_latency latency;
	/* Set by mg_telemetry_lcore_claim(), read-only afterwards. The
	 * arrays are NULL and the counts 0 before mg_telemetry_configure(),
	 * and the per-slot functions then count nothing. */
	struct mg_tel_set *sets;	 /**< [n_sets], by label-set slot */
	struct mg_tel_dest *dests;	 /**< by destination slot */
	struct mg_tel_rule *rules;	 /**< [n_rules], by rule slot */
	const uint32_t *dest_of;	 /**< label-set slot -> destination */
	const struct mg_tel_bounds *dur; /**< duration bucket bounds */
	const struct mg_tel_bounds *lat; /**< latency bucket bounds */
	uint32_t n_sets;
	uint32_t n_rules;
	uint64_t claim_tsc; /**< TSC at claim, for the busy ratio */
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
	uint64_t neigh_conflicts;
	uint64_t deny_replies;
	uint64_t deny_replies_suppressed;
	uint64_t syn_cookies_sent;
	uint64_t syn_cookies_valid;
	uint64_t drops_total;
	uint64_t drops[MG_DROP_CAPACITY];
	uint64_t idle_wait_cycles;
	uint64_t stall_max_cycles;	  /**< the largest of any lcore */
	uint64_t reload_stall_max_cycles; /**< the largest of any lcore */
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

/** A drop by limit @p id for @p why. One writer: the calling lcore. */
static inline void
mg_tel_limit_drop(struct mg_lcore_stats *s, uint32_t id,
		  enum mg_tel_limit_reason why)
{
	if (id < MG_TEL_MAX_LIMITS)
		mg_counter_add(&s->limit_drops[id][why], 1);
}

/** Note @p n half-open connections after an admission. */
static inline void
mg_tel_half_open(struct mg_lcore_stats *s, uint64_t n)
{
	if (n > s->half_open_peak)
		__atomic_store_n(&s->half_open_peak, n, __ATOMIC_RELAXED);
}

/**
 * Bucket of an observation: the first i with cycles <= b->le[i].
 *
 * Thread safety: pure; @p b is read-only once configured.
 */
static inline unsigned int
mg_tel_bucket(const struct mg_tel_bounds *b, uint64_t cycles)
{
	/* cycles | 1: 0 and 1 share first[1], which starts at bucket 0 */
	unsigned int i = b->first[64 - __builtin_clzll(cycles | 1)];

	while (cycles > b->le[i])
		i++;
	return i;
}

/**
 * Count a new connection of label set @p slot (every admitted flow, TCP or
 * UDP; canary selections are the sum of both).
 *
 * @param s     The calling lcore's block.
 * @param slot  From mg_telemetry_labelset().
 * @param l4    MG_TEL_TCP or MG_TEL_UDP.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_conn_open(struct mg_lcore_stats *s, uint32_t slot, enum mg_tel_l4 l4)
{
	if (likely(slot < s->n_sets && (unsigned int)l4 < MG_TEL_L4_MAX))
		mg_counter_add(&s->sets[slot].opened[l4], 1);
}

/**
 * Count a TCP connection of label set @p slot as closed. Call exactly once
 * per connection counted by mg_tel_conn_open(MG_TEL_TCP), e.g. when its
 * flow is removed, so opened - closed is the number still tracked.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_conn_close(struct mg_lcore_stats *s, uint32_t slot)
{
	if (likely(slot < s->n_sets))
		mg_counter_add(&s->sets[slot].closed, 1);
}

/**
 * Count @p len L3 bytes of a TCP connection of label set @p slot.
 *
 * @param dir  MG_TEL_DIR_REQUEST (client -> service) or
 *             MG_TEL_DIR_RESPONSE; the flow direction as matched.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_bytes(struct mg_lcore_stats *s, uint32_t slot, enum mg_tel_dir dir,
	     uint32_t len)
{
	if (likely(slot < s->n_sets))
		mg_counter_add(&s->sets[slot].bytes[dir & 1], len);
}

/**
 * Count one HTTP request of label set @p slot, answered with a status of
 * class @p cls (see mg_telemetry_http_status_class()). A negative or
 * out-of-range class counts nothing: an unparsable reply is no request.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_request(struct mg_lcore_stats *s, uint32_t slot, int cls)
{
	if (likely(slot < s->n_sets && (unsigned int)cls < MG_TEL_CLASS_MAX))
		mg_counter_add(&s->sets[slot].requests[cls], 1);
}

/**
 * Count the status code of a response mg_tel_request() counted, when it
 * is one of MG_TEL_CODES; any other code counts nothing here.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_response_code(struct mg_lcore_stats *s, uint32_t slot, int code)
{
	int k = mg_tel_code_slot(code);

	if (likely(slot < s->n_sets && k >= 0))
		mg_counter_add(&s->sets[slot].codes[k], 1);
}

/* Adds one observation of weight @p n to a histogram. */
static inline void
mg_tel_observe(uint64_t *bucket, uint64_t *sum, const struct mg_tel_bounds *b,
	       uint64_t cycles, uint64_t n)
{
	mg_counter_add(&bucket[mg_tel_bucket(b, cycles)], n);
	mg_counter_add(sum, cycles * n);
}

/**
 * Observe the time from a request's first byte (client -> service) to the
 * first byte of its response, in TSC cycles.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_request_duration(struct mg_lcore_stats *s, uint32_t slot,
			uint64_t cycles)
{
	struct mg_tel_duration *h;

	if (unlikely(slot >= s->n_sets))
		return;
	h = &s->sets[slot].request_duration;
	mg_tel_observe(h->bucket, &h->sum, s->dur, cycles, 1);
}

/**
 * Bucket of a size in bytes: the first i with @p bytes <= 10^i, or the
 * last (+Inf) above 10^7.
 *
 * Thread safety: pure; fast-path safe.
 */
static inline unsigned int
mg_tel_size_bucket(uint64_t bytes)
{
	unsigned int i = 0;
	uint64_t le = 1;

	while (i < MG_TEL_SIZE_BUCKETS - 1 && bytes > le) {
		i++;
		le *= 10;
	}
	return i;
}

/** The most one message adds to a size histogram's sum: a size is the
 * sender's Content-Length, which no one checks against the bytes that
 * follow; unbounded, a few messages claiming 2^63 bytes would wrap the
 * sum (a counter reset to Prometheus). Above it, the +Inf bucket. */
#define MG_TEL_SIZE_SUM_MAX 100000000ull

/**
 * Observe the size (head and body, bytes) of an HTTP request
 * (@p dir MG_TEL_DIR_REQUEST) or response (MG_TEL_DIR_RESPONSE) of label
 * set @p slot; see mg_telemetry_http_request_size(). The sum takes at
 * most MG_TEL_SIZE_SUM_MAX of it.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_message_size(struct mg_lcore_stats *s, uint32_t slot,
		    enum mg_tel_dir dir, uint64_t bytes)
{
	struct mg_tel_size *h;

	if (unlikely(slot >= s->n_sets))
		return;
	h = &s->sets[slot].size[dir & 1];
	mg_counter_add(&h->bucket[mg_tel_size_bucket(bytes)], 1);
	mg_counter_add(&h->sum, RTE_MIN(bytes, MG_TEL_SIZE_SUM_MAX));
}

/**
 * Observe a TCP handshake as the gateway sees it: from forwarding the
 * client's SYN to the backend's SYN-ACK coming back, in TSC cycles. Kept
 * per destination (service, version) of label set @p slot.
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_handshake(struct mg_lcore_stats *s, uint32_t slot, uint64_t cycles)
{
	struct mg_tel_duration *h;

	if (unlikely(slot >= s->n_sets))
		return;
	h = &s->dests[s->dest_of[slot]].handshake;
	mg_tel_observe(h->bucket, &h->sum, s->dur, cycles, 1);
}

/**
 * Count a policy decision against rule slot @p rule (mg_telemetry_rule()).
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_decision(struct mg_lcore_stats *s, uint32_t rule,
		enum mg_tel_decision kind)
{
	if (likely(rule < s->n_rules &&
		   (unsigned int)kind < MG_TEL_DECISION_MAX))
		mg_counter_add(&s->rules[rule].decisions[kind], 1);
}

/**
 * Observe the gateway's own processing latency: @p npkts packets that
 * spent @p cycles from their RX burst to the TX flush of the same poll
 * round (one observation per packet).
 *
 * Thread safety: only the lcore that owns @p s.
 */
static inline void
mg_tel_latency(struct mg_lcore_stats *s, uint64_t cycles, uint32_t npkts)
{
	mg_tel_observe(s->latency.bucket, &s->latency.sum, s->lat, cycles,
		       npkts);
}

/**
 * Register the /meshgate/ telemetry commands: stats, lcores, drops,
 * services, identities, policies, flows and histograms. Call once from the
 * main lcore, after rte_eal_init().
 *
 * @return 0, or a negative errno from rte_telemetry_register_cmd().
 *
 * Thread safety: not thread safe; call during start-up only.
 */
int mg_telemetry_init(void);

/**
 * Size the label-set, destination and rule registries and the per-lcore
 * arrays that mg_telemetry_lcore_claim() allocates. Slot 0 of each is the
 * shared overflow slot, so @p max_label_sets - 1 distinct label sets fit,
 * and so on. Size them for the life of the process: registries are
 * append-only and survive reloads.
 *
 * @param max_label_sets  Label-set slots, 2..2^24.
 * @param max_dests       Destination (service, version) slots, 2..2^24.
 * @param max_rules       Rule slots, 2..2^24.
 * @return 0; -EINVAL for an out-of-range size; -EALREADY when already
 *         configured; -ENOMEM.
 *
 * Thread safety: call from the control plane before any worker is
 * claimed; safe against concurrent readers.
 */
int mg_telemetry_configure(uint32_t max_label_sets, uint32_t max_dests,
			   uint32_t max_rules);

/**
 * Free the registries and the per-lcore arrays; unclaim every lcore. The
 * library may be configured again afterwards.
 *
 * Thread safety: only once no worker writes its block any more; safe
 * against concurrent readers.
 */
void mg_telemetry_fini(void);

/**
 * Slot of a label set, registered on first use. The same names give the
 * same slot for the life of the process. When the registry is full (or a
 * name cannot be stored) the shared overflow slot 0 is returned, whose
 * labels read "_overflow_", and the overflow is counted and logged once.
 *
 * @param identity  Source identity ("unknown" for none), non-empty.
 * @param service   Destination service, non-empty.
 * @param version   Destination version, non-empty.
 * @return A slot in [0, max_label_sets); -EINVAL for a NULL or empty
 *         name; -ENODEV before mg_telemetry_configure().
 *
 * Thread safety: control plane; serialised internally; never blocks a
 * worker. Workers may use the slot as soon as it is returned and has
 * reached them with release/acquire ordering (e.g. in a published
 * ruleset).
 */
int mg_telemetry_labelset(const char *identity, const char *service,
			  const char *version);

/**
 * Slot of a policy rule, registered on first use ("default-deny" for the
 * default). Like mg_telemetry_labelset(): stable, overflow slot 0.
 *
 * @return A slot in [0, max_rules); -EINVAL; -ENODEV.
 *
 * Thread safety: as mg_telemetry_labelset().
 */
int mg_telemetry_rule(const char *name);

/**
 * Bytes held by the library: the static per-lcore blocks, the registries
 * (arrays, hash tables, names) and every claimed lcore's arrays
 * (mg_telemetry_lcore_bytes() each).
 *
 * Thread safety: safe from any thread.
 */
size_t mg_telemetry_memory(void);

/**
 * Bytes of one lcore's arrays for the current configuration:
 * max_label_sets * sizeof(struct mg_tel_set) + max_dests *
 * sizeof(struct mg_tel_dest) + max_rules * sizeof(struct mg_tel_rule),
 * each rounded up to a cache line. 0 when not configured.
 *
 * Thread safety: safe from any thread.
 */
size_t mg_telemetry_lcore_bytes(void);

/**
 * What mg_telemetry_lcore_bytes() will be once configured with these
 * sizes (the DPDK memory each claimed lcore then takes), or 0 for sizes
 * mg_telemetry_configure() refuses.
 *
 * Thread safety: pure; needs no EAL.
 */
size_t mg_telemetry_lcore_bytes_for(uint32_t max_label_sets, uint32_t max_dests,
				    uint32_t max_rules);

/**
 * Claim the counter block of an lcore and record its role. Once the
 * library is configured, also allocates (or, on a second claim, zeroes)
 * the lcore's label-set, destination and rule arrays on its socket.
 *
 * @param lcore_id  EAL lcore id, < RTE_MAX_LCORE.
 * @param role      What the lcore does.
 * @return The zeroed block, or NULL with rte_errno = EINVAL or ENOMEM.
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

/** Totals of one label set over all lcores (see mg_telemetry_set_read()). */
struct mg_tel_set_sum {
	uint64_t bytes[MG_TEL_DIR_MAX];
	uint64_t opened[MG_TEL_L4_MAX];
	uint64_t closed;
	uint64_t requests[MG_TEL_CLASS_MAX];
	uint64_t codes[MG_TEL_CODE_MAX]; /**< by MG_TEL_CODES */
	uint64_t duration_bucket[MG_TEL_DURATION_BUCKETS];
	uint64_t duration_sum; /**< TSC cycles */
	uint64_t duration_count;
	/** request [MG_TEL_DIR_REQUEST] and response sizes */
	uint64_t size_bucket[MG_TEL_DIR_MAX][MG_TEL_SIZE_BUCKETS];
	uint64_t size_sum[MG_TEL_DIR_MAX]; /**< bytes */
	uint64_t size_count[MG_TEL_DIR_MAX];
};

/**
 * Sum one label set over all claimed lcores.
 *
 * @return 0; -ENOENT when @p slot is not registered.
 *
 * Thread safety: safe from any thread, concurrently with the writers.
 */
int mg_telemetry_set_read(uint32_t slot, struct mg_tel_set_sum *out);

/**
 * Bucket counts of a histogram summed over everything it is kept for.
 *
 * @param which   "request_duration", "handshake_duration" or
 *                "processing_latency".
 * @param bucket  Non-cumulative counts, MG_TEL_DURATION_BUCKETS entries.
 * @param sum     Sum of observations, TSC cycles.
 * @return The number of buckets (last is +Inf); -EINVAL.
 *
 * Thread safety: safe from any thread, concurrently with the writers.
 */
int mg_telemetry_hist_read(const char *which, uint64_t *bucket, uint64_t *sum);

/**
 * Upper bound of bucket @p i of a histogram ("request_duration",
 * "handshake_duration" or "processing_latency").
 *
 * @param seconds  Out: the bound as rendered in "le" (INFINITY for the
 *                 last bucket). May be NULL.
 * @param cycles   Out: the bound in TSC cycles (UINT64_MAX for the last
 *                 bucket). May be NULL.
 * @return 0; -EINVAL for an unknown histogram or bucket.
 *
 * Thread safety: safe from any thread once configured.
 */
int mg_telemetry_hist_bound(const char *which, unsigned int i, double *seconds,
			    uint64_t *cycles);

/**
 * Flow-table figures, filled in by the application's callback. State
 * names are static strings (e.g. mg_flow_state_name()).
 */
#define MG_TELEMETRY_MAX_STATES 16
struct mg_telemetry_flows {
	uint32_t total;	   /**< connections tracked */
	uint32_t capacity; /**< table size */
	unsigned int n_states;
	uint32_t by_state[MG_TELEMETRY_MAX_STATES];
	const char *state_name[MG_TELEMETRY_MAX_STATES];
	/** Connections whose request head or ClientHello is held across
	 * segments for layer-7 inspection, and how many can be. */
	uint32_t l7_held;
	uint32_t l7_capacity;
	/** Connections not yet established, the budget of them
	 * (flows.max_half_open), and the most seen (filled in by the
	 * library from the lcores) */
	uint32_t half_open;
	uint32_t half_open_budget;
	uint64_t half_open_peak;
	/** SYNs answered with a cookie and valid cookies, summed over
	 * lcores (filled in by the library) */
	uint64_t syn_cookies_sent;
	uint64_t syn_cookies_valid;
};

/**
 * Fills in @p out; returns 0, or a negative errno when the figures are not
 * available (e.g. no table yet). Called from control-plane threads (the
 * telemetry socket, the Prometheus endpoint), possibly concurrently.
 */
typedef int (*mg_telemetry_flows_fn)(void *arg, struct mg_telemetry_flows *out);

/**
 * Register the source of flow-table gauges (meshgate_flows{state},
 * meshgate_flow_table_entries, meshgate_flow_table_capacity,
 * meshgate_l7_held_heads, meshgate_l7_held_heads_capacity and
 * /meshgate/flows). NULL unregisters.
 *
 * Thread safety: call during start-up, before the endpoints serve.
 */
void mg_telemetry_set_flows_fn(mg_telemetry_flows_fn fn, void *arg);

/** One limit (lib/limit), for meshgate_limit_* and /meshgate/limits. */
struct mg_telemetry_limit {
	uint32_t id; /**< index of its drop counters */
	const char *name;
	const char *identity; /**< the caller */
	const char *service;  /**< "" for every service */
	uint32_t conns;	      /**< concurrent connections, whole identity */
	uint32_t sources;     /**< per-source budgets held */
};

typedef int (*mg_telemetry_limit_emit)(void *ctx,
				       const struct mg_telemetry_limit *l);
typedef int (*mg_telemetry_limits_fn)(void *arg, mg_telemetry_limit_emit emit,
				      void *ctx);

/** Register the source of limit labels and gauges; NULL unregisters. */
void mg_telemetry_set_limits_fn(mg_telemetry_limits_fn fn, void *arg);

/**
 * Drops of limit @p id by reason (enum mg_tel_limit_reason), summed over
 * lcores, into @p drops[MG_TEL_LIMIT_MAX]. Any thread.
 */
void mg_telemetry_limit_drops(uint32_t id, uint64_t *drops);

/** The most half-open connections any lcore saw. Any thread. */
uint64_t mg_telemetry_half_open_peak(void);

/** Name of a limit drop reason ("rate_limited_conn", ...). */
const char *mg_tel_limit_reason_name(enum mg_tel_limit_reason r);

/**
 * Disagreements of a shadow (candidate) config of one kind, caller and
 * service, for meshgate_shadow_disagreements_total.
 */
struct mg_telemetry_shadow {
	const char *kind;     /**< "allow_to_deny", ... */
	const char *identity; /**< the caller */
	const char *service;  /**< the service the current config has */
	uint64_t count;
};

typedef int (*mg_telemetry_shadow_emit)(void *ctx,
					const struct mg_telemetry_shadow *s);
typedef int (*mg_telemetry_shadow_fn)(void *arg, mg_telemetry_shadow_emit emit,
				      void *ctx);

/**
 * Register the source of shadow disagreement counts; NULL unregisters
 * (and waits for a render in progress).
 *
 * Thread safety: control plane.
 */
void mg_telemetry_set_shadow_fn(mg_telemetry_shadow_fn fn, void *arg);

typedef int (*mg_telemetry_canary_emit)(void *ctx, const char *service,
					const char *version, bool rolled_back);
typedef int (*mg_telemetry_canary_fn)(void *arg, mg_telemetry_canary_emit emit,
				      void *ctx);

/**
 * Register the source of meshgate_canary_rolled_back (one gauge per
 * version with automatic rollback); NULL unregisters (and waits for a
 * render in progress).
 *
 * Thread safety: control plane.
 */
void mg_telemetry_set_canary_fn(mg_telemetry_canary_fn fn, void *arg);

/** Passive health of one backend, for meshgate_backend_up. */
struct mg_telemetry_backend {
	const char *service;
	const char *version;
	const char *backend; /**< "address:port" or "[v6]:port" */
	bool up;	     /**< healthy: not ejected, not failing */
	uint64_t ejections;  /**< times ejected, monotonic */
};

/** Called by the backends callback once per backend; returns 0. */
typedef int (*mg_telemetry_backend_emit)(void *ctx,
					 const struct mg_telemetry_backend *b);

/**
 * Walks the backends, calling @p emit(@p ctx, b) for each; returns 0 or a
 * negative errno. Called from control-plane threads, possibly
 * concurrently; must not call back into the registry.
 */
typedef int (*mg_telemetry_backends_fn)(void *arg,
					mg_telemetry_backend_emit emit,
					void *ctx);

/**
 * Register the source of backend-health gauges (meshgate_backend_up,
 * meshgate_backend_ejections_total). NULL unregisters.
 *
 * Thread safety: call during start-up, before the endpoints serve.
 */
void mg_telemetry_set_backends_fn(mg_telemetry_backends_fn fn, void *arg);

/** One ESP peer (lib/esp), for meshgate_esp_* and /meshgate/peers.
 * Strings outlive the callback. */
struct mg_telemetry_esp_peer {
	const char *name;
	const char *identity; /**< "peer:NAME" */
	const char *local;    /**< our endpoint */
	const char *remote;   /**< its endpoint (":port" with UDP) */
	bool udp_encap;
	/** Drops of the peer's traffic not tied to one of its SAs
	 * (esp_unknown_spi from its address, esp_required, esp_wrong_peer,
	 * no_route), by reason */
	uint64_t drops[MG_DROP_CAPACITY];
};

/** One SA of a peer. */
struct mg_telemetry_esp_sa {
	uint32_t spi;
	bool inbound;
	/** "active"; "lingering" (inbound, removed by a reload, still
	 * accepted); "stopped" (outbound, sequence numbers exhausted) */
	const char *state;
	const char *algorithm;
	uint64_t packets, bytes; /**< decapsulated / encapsulated */
	/** Outbound: the last sequence number sent; inbound: the highest
	 * authenticated (the top of the replay window) */
	uint64_t seq;
	uint32_t replay_window; /**< inbound: its size in packets */
	bool esn;
	uint64_t drops[MG_DROP_CAPACITY]; /**< by reason */
};

/** Called once per peer with @p sa NULL, then once per SA of it. */
typedef int (*mg_telemetry_esp_emit)(void *ctx,
				     const struct mg_telemetry_esp_peer *p,
				     const struct mg_telemetry_esp_sa *sa);

/** Walks the peers of the ESP set in force (lib/esp). Called from
 * control-plane threads, possibly concurrently. */
typedef int (*mg_telemetry_esp_fn)(void *arg, mg_telemetry_esp_emit emit,
				   void *ctx);

/**
 * Register the source of ESP telemetry (meshgate_esp_* in /metrics,
 * /meshgate/peers). NULL unregisters.
 *
 * Thread safety: call during start-up, before the endpoints serve.
 */
void mg_telemetry_set_esp_fn(mg_telemetry_esp_fn fn, void *arg);

/** Ports reported at most, and PMD extended statistics per port. */
#define MG_TELEMETRY_MAX_PORTS	8
#define MG_TELEMETRY_MAX_XSTATS 32

/**
 * Counters of one port as its NIC (the PMD) reports them, from
 * rte_eth_stats_get() and rte_eth_xstats_get_by_id(). Strings belong to
 * the application and outlive the callback.
 */
struct mg_telemetry_port {
	const char *name; /**< the config's port name */
	uint16_t port_id;
	uint64_t ipackets, opackets; /**< frames received, sent */
	uint64_t ibytes, obytes;
	uint64_t imissed;   /**< dropped by the NIC: RX ring full */
	uint64_t ierrors;   /**< erroneous frames received */
	uint64_t oerrors;   /**< frames the NIC failed to send */
	uint64_t rx_nombuf; /**< RX mbuf allocation failures */
	unsigned int n_xstats;
	/** PMD xstats that mg_telemetry_xstat_of_interest() keeps */
	const char *xstat_name[MG_TELEMETRY_MAX_XSTATS];
	uint64_t xstat_value[MG_TELEMETRY_MAX_XSTATS];
};

/**
 * Fills in up to @p max ports; returns how many, or a negative errno.
 * Called from control-plane threads (the telemetry socket, the
 * Prometheus endpoint), possibly concurrently: the callback serialises
 * its reads of the NICs.
 */
typedef int (*mg_telemetry_ports_fn)(void *arg, struct mg_telemetry_port *out,
				     unsigned int max);

/**
 * Register the source of NIC counters (meshgate_port_* and
 * /meshgate/ports). NULL unregisters; once this returns, the old
 * callback runs no more.
 *
 * Thread safety: control plane; safe against concurrent readers.
 */
void mg_telemetry_set_ports_fn(mg_telemetry_ports_fn fn, void *arg);

/**
 * Whether a PMD extended statistic is exported beside the basic
 * counters: its name holds "error", "missed", "drop", "discard",
 * "no_mbuf", "nombuf", "out_of_buffer" or "no_dma", and it is neither
 * one of the generic xstats every ethdev prepends (rx_good_packets,
 * rx_missed_errors, rx_errors, tx_errors, rx_mbuf_allocation_errors, ...:
 * the basic counters again) nor a per-queue one (rx_qN_..., tx_qN_...).
 *
 * Thread safety: pure.
 */
bool mg_telemetry_xstat_of_interest(const char *name);

/** The configuration's history, as the control plane keeps it. */
struct mg_telemetry_config {
	uint64_t reloads_success; /**< reloads that took effect */
	uint64_t reloads_failure; /**< reloads rejected (file or build) */
	/** Unix time of the last successful load (start-up included) */
	double last_success_s;
	/** The file on disk changes a setting that needs a restart; the
	 * running value stays until then. */
	bool restart_pending;
};

/**
 * Publish the configuration's history for meshgate_config_* (copied).
 * Until the first call, those metrics are not exported.
 *
 * Thread safety: control plane; safe against concurrent readers.
 */
void mg_telemetry_set_config(const struct mg_telemetry_config *c);

/**
 * Choose how the traffic series are exported (telemetry.naming) and give
 * each caller and service the namespace Istio's labels carry (copied;
 * replaces what an earlier call gave). Until the first call, the
 * naming is MG_TEL_NAMING_MESHGATE.
 *
 * @param naming      The naming.
 * @param callers     Identity names and their env (@p n_callers).
 * @param services    Service names and their env (@p n_services).
 * @return 0; -ENOMEM (the earlier naming stays).
 *
 * Thread safety: control plane; safe against concurrent readers.
 */
int mg_telemetry_set_naming(enum mg_tel_naming naming,
			    const struct mg_tel_namespace *callers,
			    unsigned int n_callers,
			    const struct mg_tel_namespace *services,
			    unsigned int n_services);

/**
 * Render every metric in the Prometheus text exposition format 0.0.4
 * (# HELP and # TYPE for each family, escaped label values, histograms as
 * _bucket{le}/_sum/_count in seconds).
 *
 * @param buf  Out: malloc'ed, NUL-terminated text; the caller frees it.
 * @param len  Out: length of the text, without the NUL.
 * @return 0; -ENOMEM.
 *
 * Thread safety: control plane, any thread; concurrent with the writers
 * and with other readers.
 */
int mg_telemetry_prometheus(char **buf, size_t *len);

/**
 * Class of an HTTP/1.x response from the start of its status line
 * ("HTTP/1.1 503 ..."): MG_TEL_1XX .. MG_TEL_5XX, or -1 when @p data does
 * not start with a well-formed status line of a status 100..599.
 *
 * Thread safety: pure; fast-path safe.
 */
int mg_telemetry_http_status_class(const void *data, uint32_t len);

/**
 * Status code (100..599) of an HTTP/1.x response from the start of its
 * status line, or -1 as mg_telemetry_http_status_class() (lib/http's
 * mg_http_status()).
 *
 * Thread safety: pure; fast-path safe.
 */
int mg_telemetry_http_status(const void *data, uint32_t len);

/**
 * Whether @p data starts an HTTP/1.x request line: a known method
 * (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH) and a
 * space (lib/http's mg_http_is_request()). For timing a request to its
 * first response byte.
 *
 * Thread safety: pure; fast-path safe.
 */
bool mg_telemetry_http_is_request(const void *data, uint32_t len);

/**
 * Size in bytes of an HTTP/1.x request whose head starts at @p data
 * (mg_telemetry_http_is_request()), when these @p len bytes tell it: the
 * whole head (up to its empty line, CRLF CRLF) and a known body, i.e.
 * one Content-Length (name in any case, value only digits between
 * optional spaces and tabs) or neither Content-Length nor
 * Transfer-Encoding (no body). Size = head + Content-Length.
 *
 * Strict: every line ends in CRLF, no bare CR, every field line is a
 * token name, a colon and a value (lib/http's mg_http_head_scan());
 * otherwise the size is unknown.
 * Reads nothing at or past @p data + @p len.
 *
 * @return The size; -1 when unknown: not a request, head not complete
 *         within @p len, Transfer-Encoding (chunked), two
 *         Content-Length fields (even equal), a bad or overflowing
 *         value, or a malformed head.
 *
 * Thread safety: pure; fast-path safe.
 */
int64_t mg_telemetry_http_request_size(const void *data, uint32_t len);

/**
 * Size in bytes of an HTTP/1.x response whose status line starts at
 * @p data (mg_telemetry_http_status() >= 0), as
 * mg_telemetry_http_request_size(): head + Content-Length; a status
 * 1xx, 204 or 304 has no body (size = head). A response without
 * Content-Length (read to close) or with Transfer-Encoding has no known
 * size. A response to HEAD is not told apart: its Content-Length counts.
 *
 * @return The size; -1 when unknown (as mg_telemetry_http_request_size()).
 *
 * Thread safety: pure; fast-path safe.
 */
int64_t mg_telemetry_http_response_size(const void *data, uint32_t len);

/** Stable name of an lcore role ("worker", "main-worker", "unused"). */
const char *mg_lcore_role_name(enum mg_lcore_role role);

#ifdef __cplusplus
}
#endif

#endif /* MG_TELEMETRY_H */
