/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Layer-7 authorization without terminating TCP. The policies' HTTP and
 * TLS matchers are compiled per service into Hyperscan block-mode
 * databases (mg_l7_build()); a connection to a service with such rules
 * passes its handshake, then each client segment goes through
 * mg_l7_input(), which follows the byte stream by sequence number,
 * parses every request head (keep-alive and pipelined requests
 * included) or the ClientHello, and decides on it.
 *
 * A head that spans segments is reassembled in a buffer from a bounded
 * pool (struct mg_l7_pool) until it completes; the segments are
 * forwarded meanwhile, since a backend cannot act on a head it has not
 * received whole, and the segment that completes a denied head is
 * dropped. A connection holds a buffer only while its head is split, so
 * the memory per connection is sizeof(struct mg_l7_flow).
 *
 * Fields are matched in their normal forms (mg_http_parse_head(),
 * mg_tls_parse_client_hello()): the path without the query, the query,
 * Host without port and trailing dot, the server name lowercased and
 * without a trailing dot. A path with ";params" is read both as sent
 * and without them; a request is allowed only if both readings are.
 *
 * Request semantics, for the caller's identity and the service:
 * 1. the first enforced deny rule with matchers that all match denies;
 * 2. a request with Upgrade is allowed only by the first enforced allow
 *    rule with an http.upgrade matcher whose matchers all match, else
 *    denied (MG_DROP_L7_UPGRADE_DENY): a 101 makes the rest opaque;
 * 3. else an enforced allow rule without matchers (an L4 rule) allows;
 * 4. else the first enforced allow rule whose matchers all match
 *    allows;
 * 5. else default deny.
 * A ClientHello without a server name is allowed only by an enforced
 * allow rule with tls.allow_no_sni, else denied (MG_DROP_L7_NO_SNI). An
 * allowed request that a dry-run deny rule matches is counted against
 * that rule and forwarded.
 */

#ifndef MG_L7_H
#define MG_L7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "mg_conf.h"
#include "mg_l7_drop.h"
#include "mg_pkt.h"
#include "mg_telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where a connection's client byte stream is. */
enum mg_l7_phase {
	MG_L7_PHASE_HEAD = 0, /**< at or inside a request head / ClientHello */
	MG_L7_PHASE_BODY,     /**< Content-Length body: body_left bytes */
	MG_L7_PHASE_CHUNKED,  /**< chunked body being walked */
	MG_L7_PHASE_UPGRADE,  /**< an Upgrade request a rule's http.upgrade
			       * allowed awaits its response: 101 passes
			       * the rest, else HEAD; no other request
			       * gets here */
	MG_L7_PHASE_PASS,     /**< decided for good (TLS, no L7 rules) */
	MG_L7_PHASE_DENIED,   /**< reset; every further packet is refused */
};

/**
 * Layer-7 state of one connection; the caller keeps one per flow entry.
 * Written only by the worker that receives the client's direction (RSS
 * sends one tuple to one queue), except buf, which expiry takes back.
 */
struct mg_l7_flow {
	uint64_t body_left; /**< body or chunk bytes still to pass */
	uint32_t next_seq;  /**< sequence number of the next client byte */
	uint32_t buf;	    /**< reassembly buffer + 1; 0: none held */
	uint32_t ts_max;    /**< newest TSval of inspected client data */
	/** end of what the backend has sent (its SYN and FIN count one),
	 * written by the worker that receives the backend's direction */
	uint32_t snd_max;
	uint16_t buf_len;   /**< bytes held in it */
	uint8_t phase;	    /**< enum mg_l7_phase */
	uint8_t body_state; /**< chunked framing position */
	uint8_t proto;	    /**< enum mg_l7_proto */
	uint8_t has_ts;	    /**< ts_max is set */
	uint8_t has_snd;    /**< snd_max is set */
	uint8_t pad[1];
};
_Static_assert(sizeof(struct mg_l7_flow) == 32,
	       "per-flow layer-7 state is kept small: one per flow entry");

/**
 * Whether the connection's client bytes are still inspected (so its
 * segments must be strict, mg_pkt_tcp_strict()): not once passed (TLS
 * after its ClientHello, an accepted upgrade) or reset.
 */
static inline bool
mg_l7_inspecting(const struct mg_l7_flow *st)
{
	return st->phase < MG_L7_PHASE_PASS;
}

/**
 * PAWS (RFC 7323) for inspected client data: a segment whose TSval is
 * older than the newest one accepted would be dropped by the backend
 * after the gateway counted its bytes as seen, letting different bytes
 * follow at the same sequence numbers. Check before mg_l7_input(); a
 * stale segment is dropped (MG_DROP_L7_STALE_TIMESTAMP).
 */
static inline bool
mg_l7_timestamp_stale(const struct mg_l7_flow *st, uint32_t tsval)
{
	return st->has_ts && (int32_t)(tsval - st->ts_max) < 0;
}

/**
 * Note a segment from the backend that occupies sequence space, ending
 * before @p end (its sequence number + payload, + 1 for SYN or FIN).
 *
 * Thread safety: the worker that receives the backend's direction;
 * relaxed stores, read by the client side's worker.
 */
static inline void
mg_l7_backend_sent(struct mg_l7_flow *st, uint32_t end)
{
	if (!st->has_snd ||
	    (int32_t)(end - __atomic_load_n(&st->snd_max, __ATOMIC_RELAXED)) >
		    0)
		__atomic_store_n(&st->snd_max, end, __ATOMIC_RELAXED);
	__atomic_store_n(&st->has_snd, 1, __ATOMIC_RELAXED);
}

/**
 * Whether a client segment's acknowledgement could be taken by the
 * backend: a receiver discards data that acknowledges bytes it never
 * sent (RFC 9293 3.10.7.4), after the gateway would have counted it.
 */
static inline bool
mg_l7_ack_sent(const struct mg_l7_flow *st, uint32_t ack)
{
	return !__atomic_load_n(&st->has_snd, __ATOMIC_RELAXED) ||
	       (int32_t)(ack -
			 __atomic_load_n(&st->snd_max, __ATOMIC_RELAXED)) <= 0;
}

/** Remember the TSval of a segment mg_l7_input() forwarded. */
static inline void
mg_l7_timestamp_seen(struct mg_l7_flow *st, uint32_t tsval)
{
	if (!st->has_ts || (int32_t)(tsval - st->ts_max) > 0)
		st->ts_max = tsval;
	st->has_ts = 1;
}

/** What to do with a client segment. */
enum mg_l7_action {
	MG_L7_FORWARD = 0, /**< on its way, fast path */
	MG_L7_DROP,	   /**< drop silently (the client retransmits) */
	MG_L7_RESET,	   /**< drop, reset the connection both ways */
};

struct mg_l7;
struct mg_l7_pool;

/**
 * Compile the layer-7 rules of a config: per service, one database per
 * field (method, path, query, host, upgrade, sni) and per header name
 * that its rules use, and @p n_scratch Hyperscan scratch spaces that fit
 * all of them.
 *
 * @param conf        Validated config; not referenced after the call.
 * @param rule_slots  Telemetry slot of each policy (conf->n_policies)
 *                    and of default deny (index conf->n_policies).
 * @param n_scratch   Scratch spaces: one per worker (mg_l7_input()'s
 *                    @p worker is below this). At least 1.
 * @param err         Receives "FILE:LINE: message" (Hyperscan's own
 *                    message for a pattern it refuses) on failure.
 * @param errlen      Size of @p err.
 * @return The compiled rules (a config without L7 rules gives an object
 *         that holds none), or NULL with rte_errno = EINVAL or ENOMEM.
 *
 * Thread safety: control plane; may run while workers use another one.
 */
struct mg_l7 *mg_l7_build(const struct mg_conf *conf,
			  const uint32_t *rule_slots, unsigned int n_scratch,
			  char *err, size_t errlen);

/** Free compiled rules. NULL accepted. Only once no worker reads them. */
void mg_l7_free(struct mg_l7 *l7);

/** Protocol of a service's layer-7 rules; MG_L7_NONE when it has none or
 * @p service is out of range. Thread safety: lock-free. */
enum mg_l7_proto mg_l7_service_proto(const struct mg_l7 *l7, uint16_t service);

/** Sizes for the operator's log and the closing note. */
struct mg_l7_stats {
	unsigned int n_services; /**< services with layer-7 rules */
	unsigned int n_patterns;
	unsigned int n_databases;
	size_t database_bytes; /**< hs_database_size() summed */
	size_t scratch_bytes;  /**< hs_scratch_size() of one scratch */
};

void mg_l7_get_stats(const struct mg_l7 *l7, struct mg_l7_stats *out);

/**
 * Create the pool of reassembly buffers.
 *
 * @param name       Unique per process.
 * @param n          Buffers: connections with a split head at once.
 * @param size       Bytes per buffer: the most of a head inspected.
 * @param n_workers  Workers calling mg_l7_input(); each gets a private
 *                   work area of @p size bytes too.
 * @param socket     NUMA socket.
 * @param qsv        RCU variable of the workers, for buffers taken
 *                   back by expiry (mg_l7_flow_release()).
 * @return The pool, or NULL with rte_errno set (ENOMEM, EINVAL).
 *
 * Thread safety: control plane, before the workers start.
 */
struct mg_l7_pool *mg_l7_pool_create(const char *name, uint32_t n,
				     uint32_t size, unsigned int n_workers,
				     int socket, struct rte_rcu_qsbr *qsv);

/** Free a pool; workers must have stopped. NULL accepted. */
void mg_l7_pool_free(struct mg_l7_pool *pool);

/**
 * DPDK memory mg_l7_pool_create() takes with the same arguments: the
 * buffers (one per worker besides), the free ring and the RCU defer
 * queue. Heap element headers are not counted.
 *
 * @return Bytes. Thread safety: pure; needs no EAL.
 */
size_t mg_l7_pool_memsize(uint32_t n, uint32_t size, unsigned int n_workers);

/** Buffers in use now (for telemetry). Thread safety: any thread. */
uint32_t mg_l7_pool_in_use(const struct mg_l7_pool *pool);

/**
 * Start tracking a new connection from the client's SYN. A buffer a
 * previous connection of this entry still held is returned now (the
 * entry was recycled after a grace period, so nobody reads it).
 *
 * @param st     State of the flow entry.
 * @param proto  mg_l7_service_proto() of the connection's service.
 * @param isn    Sequence number of the client's SYN (host order).
 */
void mg_l7_flow_init(struct mg_l7_pool *pool, struct mg_l7_flow *st,
		     enum mg_l7_proto proto, uint32_t isn);

/**
 * mg_l7_flow_init() from the connection's SYN @p m, whose timestamp (if
 * any) is the first PAWS reference.
 */
void mg_l7_flow_start(struct mg_l7_pool *pool, struct mg_l7_flow *st,
		      enum mg_l7_proto proto, const struct rte_mbuf *m,
		      const struct mg_pkt_info *info);

/**
 * Take back the buffer of a connection that went away (expiry). The
 * buffer is reused only after an RCU grace period, as a worker may still
 * be writing to it.
 *
 * Thread safety: any worker; multi-thread safe.
 */
void mg_l7_flow_release(struct mg_l7_pool *pool, struct mg_l7_flow *st);

/**
 * Reset the connection for a reason found outside mg_l7_input() (e.g.
 * an ambiguous segment): its buffer goes back and every later client
 * packet is refused (MG_DROP_L7_RESET).
 *
 * Thread safety: as mg_l7_input().
 */
void mg_l7_flow_reset(struct mg_l7_pool *pool, struct mg_l7_flow *st);

/**
 * What mg_l7_input() decided during one call, for a caller that compares
 * two rulesets' decisions (shadow mode): how many request heads or
 * ClientHellos were decided, and the last one's rule and verdict.
 */
struct mg_l7_trace {
	uint32_t decided; /**< heads decided; the caller zeroes it */
	uint32_t slot;	  /**< telemetry slot of the last deciding rule */
	uint8_t denied;	  /**< the last one was denied */
};

/** Per-worker context of mg_l7_input(). */
struct mg_l7_ctx {
	const struct mg_l7 *l7; /**< the current ruleset's rules */
	struct mg_l7_pool *pool;
	struct mg_lcore_stats *stats; /**< decisions are counted here */
	unsigned int worker;	      /**< scratch and work area index */
	struct mg_l7_trace *trace;    /**< NULL, or filled per decision */
};

/**
 * Inspect one client segment of a connection with layer-7 rules.
 *
 * Bytes already seen (a retransmission) are forwarded without a second
 * look; a segment that starts beyond the next expected byte is dropped
 * (MG_DROP_L7_OUT_OF_ORDER), since its gap could hide a head. Every
 * request decided is counted against its rule (mg_tel_decision()); a
 * denied one resets (MG_DROP_L7_DENY, MG_DROP_L7_UPGRADE_DENY,
 * MG_DROP_L7_NO_SNI).
 *
 * @param c         Worker context.
 * @param st        The connection's state.
 * @param service   Its service.
 * @param identity  The caller's identity (as in struct mg_decision).
 * @param seq       The segment's sequence number, host order.
 * @param data      Its payload.
 * @param len       Payload bytes (0: forwarded unless the connection
 *                  was reset).
 * @param why       Set for MG_L7_DROP and MG_L7_RESET: the drop reason.
 * @return What to do with the segment. On MG_L7_RESET, st->next_seq is
 *         the first byte the backend has not received: the sequence
 *         number of a reset toward it.
 *
 * Thread safety: the worker that owns @p c; see struct mg_l7_flow.
 */
enum mg_l7_action mg_l7_input(const struct mg_l7_ctx *c, struct mg_l7_flow *st,
			      uint16_t service, uint16_t identity, uint32_t seq,
			      const uint8_t *data, uint32_t len,
			      enum mg_drop_reason *why);

/**
 * A client segment of a connection with layer-7 rules, whole: its
 * timestamp (bare segments' too) moves the PAWS reference; while the
 * connection's bytes are inspected, a segment with data must be one the
 * backend takes as it is (mg_pkt_tcp_strict(), an ACK of what the
 * backend sent, a fresh timestamp), since a segment the backend discards
 * after the gateway counted its bytes would let other bytes follow at
 * its sequence numbers; then its bytes go through mg_l7_input().
 *
 * @param m     The segment, parsed into @p info (TCP, client -> service).
 * @param why   Set for MG_L7_DROP and MG_L7_RESET: the drop reason
 *              (corrupt: MG_DROP_IPV4_BAD_CKSUM, MG_DROP_L4_BAD_CKSUM;
 *              stale: MG_DROP_L7_STALE_TIMESTAMP; MG_DROP_L7_AMBIGUOUS,
 *              which resets; or one of mg_l7_input()'s).
 * @return As mg_l7_input(); on MG_L7_RESET, st->next_seq is the
 *         sequence number of a reset toward the backend.
 *
 * Thread safety: as mg_l7_input().
 */
enum mg_l7_action mg_l7_client_segment(const struct mg_l7_ctx *c,
				       struct mg_l7_flow *st, uint16_t service,
				       uint16_t identity,
				       const struct rte_mbuf *m,
				       const struct mg_pkt_info *info,
				       enum mg_drop_reason *why);

/**
 * A segment from the backend: the end of the sequence space it
 * occupies (for mg_l7_ack_sent()) and, while an Upgrade request waits,
 * its answer (mg_l7_response()).
 *
 * Thread safety: the worker that receives the backend's direction.
 */
void mg_l7_backend_segment(struct mg_l7_flow *st, const struct rte_mbuf *m,
			   const struct mg_pkt_info *info);

/**
 * Look at the backend's reply to an Upgrade request (only while
 * st->phase is MG_L7_PHASE_UPGRADE): "101" switches the connection to
 * another protocol, which passes uninspected; any other status keeps
 * inspecting HTTP requests.
 *
 * Thread safety: any worker (the reply may arrive on another queue);
 * the client side is waiting for this reply, so nothing else writes.
 */
void mg_l7_response(struct mg_l7_flow *st, const uint8_t *data, uint32_t len);

#ifdef __cplusplus
}
#endif

#endif /* MG_L7_H */
