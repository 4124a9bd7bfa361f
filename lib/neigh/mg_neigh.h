/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Neighbours: the ARP / IPv6 ND responder for the gateway's addresses,
 * a resolver with a shared cache, per-worker queues of packets waiting
 * for a resolution, and ICMP/ICMPv6 echo replies.
 *
 * The cache is an rte_hash with lock-free readers shared by all workers;
 * entries are learned from ARP and ND traffic and expire. Static
 * neighbours live in the ruleset and are checked by the caller first.
 */

#ifndef MG_NEIGH_H
#define MG_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mg_conf.h"
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
 * @param max_entries  Bound on cached neighbours.
 * @param socket       NUMA socket.
 * @param tsc_hz       Cycles per second.
 * @param reachable_s  Seconds a learned entry is used before it must be
 *                     learned again.
 * @return The table, or NULL with rte_errno set.
 */
struct mg_neigh_table *mg_neigh_create(const char *name, uint32_t max_entries,
				       int socket, uint64_t tsc_hz,
				       uint32_t reachable_s);

/** Free a cache; workers must have stopped. NULL accepted. */
void mg_neigh_free(struct mg_neigh_table *t);

/**
 * Look up a neighbour's MAC.
 *
 * @return true with @p mac set if known and not stale at @p now.
 *
 * Thread safety: lock-free, concurrent with mg_neigh_learn().
 */
bool mg_neigh_lookup(struct mg_neigh_table *t, const struct mg_addr *ip,
		     uint64_t now, struct rte_ether_addr *mac);

/**
 * Record that @p ip is at @p mac (seen at @p now).
 *
 * @return 0, or -ENOSPC when the cache is full.
 *
 * Thread safety: multi-thread safe.
 */
int mg_neigh_learn(struct mg_neigh_table *t, const struct mg_addr *ip,
		   const struct rte_ether_addr *mac, uint64_t now);

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
 * advertisement. The sender is learned (only from frames that pass the
 * validity checks of RFC 826 / RFC 4861: hop limit 255, code 0, options
 * well formed). A request for a local address becomes the reply in place,
 * from @p port_mac.
 *
 * Thread safety: multi-thread safe.
 */
enum mg_neigh_result mg_neigh_input(struct mg_neigh_table *t,
				    struct rte_mbuf *m,
				    const struct mg_pkt_info *info,
				    const struct rte_ether_addr *port_mac,
				    mg_neigh_is_local_t is_local, void *ctx,
				    uint64_t now);

/**
 * Turn an ICMP echo request (IPv4) or ICMPv6 echo request addressed to
 * the gateway into its reply, in place (addresses, MACs, type, checksum).
 *
 * @return true if @p m was an echo request and is now the reply.
 */
bool mg_neigh_echo_reply(struct rte_mbuf *m, const struct mg_pkt_info *info,
			 const struct rte_ether_addr *port_mac);

/**
 * Build an ARP request or ICMPv6 neighbour solicitation for @p target.
 *
 * @param mp        Pool for the new frame.
 * @param port_mac  Source MAC.
 * @param src       Gateway address of the same family.
 * @param target    Address to resolve.
 * @return The frame, or NULL when the pool is empty.
 *
 * Thread safety: multi-thread safe.
 */
struct rte_mbuf *mg_neigh_request(struct rte_mempool *mp,
				  const struct rte_ether_addr *port_mac,
				  const struct mg_addr *src,
				  const struct mg_addr *target);

/** One packet parked until its next hop resolves. */
struct mg_neigh_parked {
	struct rte_mbuf *m;
	struct mg_addr next_hop;
	uint64_t deadline; /**< TSC after which it is dropped */
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
 * @return 0, or -ENOSPC when the queue is full (the caller drops @p m
 *         and counts it).
 */
int mg_neigh_park(struct mg_neigh_pending *q, struct rte_mbuf *m,
		  const struct mg_addr *next_hop, uint8_t port,
		  uint64_t deadline);

/**
 * Whether a packet for @p next_hop is parked already: its request is out,
 * and another one for each packet behind it would only flood the link.
 */
bool mg_neigh_pending_has(const struct mg_neigh_pending *q,
			  const struct mg_addr *next_hop);

/** Called by mg_neigh_pending_run() for each packet leaving the queue. */
typedef void (*mg_neigh_release_t)(void *ctx, struct rte_mbuf *m, uint8_t port,
				   const struct rte_ether_addr *mac);

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
