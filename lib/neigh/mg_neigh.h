/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Neighbours: the ARP / IPv6 ND responder for the gateway's addresses,
 * a resolver with a shared cache, per-worker queues of packets waiting
 * for a resolution, and ICMP/ICMPv6 echo replies.
 *
 * The cache is an rte_hash with lock-free readers shared by all workers.
 * It learns only what the gateway asked for: sending a request
 * (mg_neigh_request()) records it as outstanding, and the first valid
 * reply to it (an ARP reply or solicited NA addressed to the gateway)
 * sets the MAC and closes it. Unsolicited ARP, gratuitous ARP, NS and
 * unsolicited NA never create an entry nor change one; one that
 * contradicts a known entry is counted as a conflict and logged (by the
 * control plane, rate-limited). A stale entry is asked for again, and
 * only that answer may change its MAC. When the cache is full, the
 * least recently used entry makes room. Static neighbours live in the
 * ruleset and are checked by the caller first, so nothing learned can
 * override them.
 */

#ifndef MG_NEIGH_H
#define MG_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mg_base.h"
#include "mg_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Packets one worker holds while their next hop resolves. */
#define MG_NEIGH_PENDING_MAX 64

struct mg_neigh_table;

/**
 * Create a neighbour cache.
 *
 * @param name         Unique per process.
 * @param max_entries  Bound on cached neighbours; when full, the least
 *                     recently used entry makes room for a new one.
 * @param socket       NUMA socket.
 * @param tsc_hz       Cycles per second.
 * @param reachable_s  Seconds a learned entry is used before it must be
 *                     asked for again.
 * @return The table, or NULL with rte_errno set (EINVAL, EEXIST for a
 *         name in use, ENOMEM).
 *
 * Thread safety: control plane.
 */
struct mg_neigh_table *mg_neigh_create(const char *name, uint32_t max_entries,
				       int socket, uint64_t tsc_hz,
				       uint32_t reachable_s);

/** Free a cache; workers must have stopped. NULL accepted. */
void mg_neigh_free(struct mg_neigh_table *t);

/**
 * Look up a neighbour's MAC, and mark the entry used (least recently
 * used entries are evicted first).
 *
 * @return true with @p mac set if known and not stale at @p now; false
 *         for an unknown, unanswered or stale neighbour (ask for it).
 *
 * Thread safety: lock-free, concurrent with every other call.
 */
bool mg_neigh_lookup(struct mg_neigh_table *t, const struct mg_addr *ip,
		     uint64_t now, struct rte_ether_addr *mac);

/** Seconds a stale entry is still used while it is asked for again. */
#define MG_NEIGH_STALE_S 5

/**
 * As mg_neigh_lookup(), but an entry gone stale less than
 * MG_NEIGH_STALE_S seconds ago is still used, as Linux's STALE, DELAY and
 * PROBE states do: traffic keeps flowing while the neighbour is asked
 * again, and only that answer may change the MAC. *@p refresh is set when
 * the entry is stale and no request for it is outstanding: the caller
 * asks (mg_neigh_request()).
 *
 * @return true with @p mac set if known, fresh or stale within the
 *         grace; false otherwise (ask for it and wait).
 *
 * Thread safety: lock-free, concurrent with every other call.
 */
bool mg_neigh_lookup_stale(struct mg_neigh_table *t, const struct mg_addr *ip,
			   uint64_t now, struct rte_ether_addr *mac,
			   bool *refresh);

/**
 * Record that the gateway asked for @p ip: a reply is accepted until
 * @p until (TSC). Creates an incomplete entry if there is none, evicting
 * the least recently used one when the cache is full; a known entry
 * keeps its MAC (and is used meanwhile if fresh) until the answer.
 * mg_neigh_request() calls this for the request it builds.
 *
 * @return 0, -EINVAL (not IPv4 or IPv6), or a negative errno from the
 *         hash (none expected: its room is the cache's).
 *
 * Thread safety: multi-thread safe (takes the table's writer lock).
 */
int mg_neigh_solicit(struct mg_neigh_table *t, const struct mg_addr *ip,
		     uint64_t now, uint64_t until);

/** What a claim "@p ip is at @p mac" did to the cache. */
enum mg_neigh_claim {
	MG_NEIGH_CLAIM_APPLIED = 0, /**< answered our request: MAC set */
	MG_NEIGH_CLAIM_IGNORED,	    /**< nothing asked, nothing known */
	MG_NEIGH_CLAIM_SAME,	    /**< agrees with the known MAC */
	MG_NEIGH_CLAIM_CONFLICT,    /**< contradicts it: not applied */
};

/**
 * Apply an answer to the gateway's request: "@p ip is at @p mac", as an
 * ARP reply or a solicited NA (with the override flag) to the gateway
 * says. Applied only while a request for @p ip is outstanding
 * (mg_neigh_solicit()); the first answer closes it (first valid reply
 * wins), so a later one is compared like an unsolicited claim.
 *
 * @return MG_NEIGH_CLAIM_APPLIED; else what an unsolicited claim gives:
 *         SAME, CONFLICT (recorded for mg_neigh_log_conflicts()) or
 *         IGNORED (also for a bad family).
 *
 * Thread safety: multi-thread safe; takes the writer lock only while a
 * request for @p ip is outstanding.
 */
enum mg_neigh_claim mg_neigh_learn(struct mg_neigh_table *t,
				   const struct mg_addr *ip,
				   const struct rte_ether_addr *mac,
				   uint64_t now);

/**
 * Log (log type mg.neigh) the conflicts recorded since the previous
 * call: for each entry, the MAC it has and the one an unsolicited frame
 * claimed. An entry is logged at most once a minute, however many
 * frames contradict it (the caller's counter has them all). Cheap when
 * there was none (one load).
 *
 * @return Entries logged.
 *
 * Thread safety: one caller at a time (the control plane), concurrent
 * with workers.
 */
unsigned int mg_neigh_log_conflicts(struct mg_neigh_table *t, uint64_t now);

/** Does @p addr belong to the gateway? Supplied by the caller. */
typedef bool (*mg_neigh_is_local_t)(void *ctx, const struct mg_addr *addr);

/** What mg_neigh_input() did with a frame. */
enum mg_neigh_result {
	MG_NEIGH_REPLY = 0, /**< frame rewritten into the reply: send it */
	MG_NEIGH_CONSUMED,  /**< learned from or ignored: free it */
	MG_NEIGH_NOT_NEIGH, /**< not ARP / ND: the caller handles it */
};

/**
 * Handle an ARP frame, or an ICMPv6 neighbour solicitation or
 * advertisement, from port @p port_mac's link. Only frames that pass the
 * validity checks of RFC 826 / RFC 4861 (hop limit 255, code 0, options
 * well formed, a station MAC) are looked at. An ARP reply or a solicited
 * NA addressed to one of the gateway's addresses answers a request
 * (mg_neigh_learn()); every other claim (ARP requests, gratuitous ARP,
 * NS, unsolicited NA, override flag or not) is only compared with the
 * cache. A claim for one of the gateway's own addresses is never
 * believed. A request for a local address becomes the reply in place,
 * from @p port_mac; its sender is not learned (RFC 826 would: an
 * unauthenticated request would then steer our traffic to its sender).
 * ICMPv6 in a fragment or reassembled from fragments is not neighbour
 * discovery (RFC 6980): MG_NEIGH_NOT_NEIGH.
 *
 * @param conflicts  The caller's counter (its lcore's, one writer): one
 *                   more for each claim that contradicts a known entry.
 *                   NULL: not counted.
 *
 * Thread safety: multi-thread safe.
 */
enum mg_neigh_result mg_neigh_input(struct mg_neigh_table *t,
				    struct rte_mbuf *m,
				    const struct mg_pkt_info *info,
				    const struct rte_ether_addr *port_mac,
				    mg_neigh_is_local_t is_local, void *ctx,
				    uint64_t now, uint64_t *conflicts);

/**
 * Turn an ICMP echo request (IPv4) or ICMPv6 echo request addressed to
 * the gateway into its reply, in place (addresses, MACs, type, checksum).
 *
 * @return true if @p m was an echo request and is now the reply; false
 *         for anything else, fragments included (reassemble them first).
 */
bool mg_neigh_echo_reply(struct rte_mbuf *m, const struct mg_pkt_info *info,
			 const struct rte_ether_addr *port_mac);

/**
 * Build an ARP request or ICMPv6 neighbour solicitation for @p target,
 * and record it in @p t as outstanding until @p until (mg_neigh_solicit()):
 * only then may a reply teach the cache anything.
 *
 * @param t         The cache the answer goes to.
 * @param mp        Pool for the new frame.
 * @param port_mac  Source MAC.
 * @param src       Gateway address of the same family.
 * @param target    Address to resolve.
 * @param now       TSC.
 * @param until     TSC until which an answer is accepted.
 * @return The frame, or NULL with rte_errno set: EINVAL (families),
 *         ENOBUFS (pool empty; nothing recorded), or the cache's error.
 *
 * Thread safety: multi-thread safe.
 */
struct rte_mbuf *mg_neigh_request(struct mg_neigh_table *t,
				  struct rte_mempool *mp,
				  const struct rte_ether_addr *port_mac,
				  const struct mg_addr *src,
				  const struct mg_addr *target, uint64_t now,
				  uint64_t until);

/** One packet parked until its next hop resolves. */
struct mg_neigh_parked {
	struct rte_mbuf *m;
	struct mg_addr next_hop;
	uint64_t deadline; /**< TSC after which it is dropped */
	uint64_t tag;	   /**< the caller's, handed back on release */
	uint8_t port;	   /**< egress port index */
};

/** A worker's bounded queue of parked packets (FIFO). Not shared. */
struct mg_neigh_pending {
	uint32_t count;
	struct mg_neigh_parked slot[MG_NEIGH_PENDING_MAX];
};

/**
 * Park @p m until @p next_hop resolves or @p deadline passes.
 *
 * @param tag  Anything the caller needs back on release (the worker:
 *             the backend the packet was heading to).
 * @return 0, or -ENOSPC when the queue is full (the caller drops @p m
 *         and counts it).
 */
int mg_neigh_park(struct mg_neigh_pending *q, struct rte_mbuf *m,
		  const struct mg_addr *next_hop, uint8_t port,
		  uint64_t deadline, uint64_t tag);

/**
 * Whether a packet for @p next_hop is parked already: its request is out,
 * and another one for each packet behind it would only flood the link.
 */
bool mg_neigh_pending_has(const struct mg_neigh_pending *q,
			  const struct mg_addr *next_hop);

/** Called by mg_neigh_pending_run() for each packet leaving the queue,
 * with the tag it was parked with. */
typedef void (*mg_neigh_release_t)(void *ctx, struct rte_mbuf *m, uint8_t port,
				   const struct rte_ether_addr *mac,
				   uint64_t tag);

/**
 * Release parked packets whose next hop is now known (calling @p send
 * with the MAC) and those past their deadline (calling @p send with
 * mac = NULL, for the caller to drop and count).
 *
 * @return Packets that left the queue.
 */
unsigned int mg_neigh_pending_run(struct mg_neigh_pending *q,
				  struct mg_neigh_table *t, uint64_t now,
				  mg_neigh_release_t send, void *ctx);

/** Free every parked packet (shutdown). */
void mg_neigh_pending_flush(struct mg_neigh_pending *q);

#ifdef __cplusplus
}
#endif

#endif /* MG_NEIGH_H */
