/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Connection tracking. One preallocated entry per connection, reachable
 * from two keys: the tuple the client sends (client -> virtual address)
 * and the tuple the backend sends back (backend -> client). Entries are
 * reclaimed through RCU (rte_rcu_qsbr): a worker may read an entry until
 * its next quiescent report, so nothing is reused under it.
 *
 * No lock anywhere. The table is split into one shard per writer (a
 * worker, by its rank): the entries it admits connections into, its own
 * free list and defer queue, and an rte_hash with lock-free readers
 * that only it writes. Every worker looks a key up in its own shard
 * first, then in the others (the two directions of a connection may
 * arrive on different workers). A worker that removes another shard's
 * connection marks it dead (lookups pass over it from then on) and hands
 * it to the owner through a ring; the owner unlinks it on its next
 * round. Two workers admitting the
 * same tuple at once in two shards each see the other (see
 * mg_flow_publish()). A shard holds max_flows / writers connections.
 *
 * What changes while a connection lives (TCP sequence space, flags,
 * last activity) is kept per direction in two struct mg_flow_half, each
 * written only by the worker that receives that direction: one writer
 * per field, whichever queues the two directions arrive on.
 *
 * Time is passed in by the caller (TSC cycles) so the fast path reads
 * the clock once per burst and tests can drive expiry.
 */

#ifndef MG_FLOW_H
#define MG_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_rcu_qsbr.h>

#include "mg_conf.h"
#include "mg_flow_drop.h"
#include "mg_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** mg_flow_half.mark keeps TSC / 2^8: 32 bits span ~7 minutes at
 * 2.5 GHz, far beyond any handshake or response time worth a histogram
 * bucket. */
#define MG_FLOW_MARK_SHIFT 8

/** Connection states. UDP flows are MG_FLOW_UDP throughout; a TCP
 * connection's state is derived from both directions' halves. */
enum mg_flow_state {
	MG_FLOW_SYN_SENT = 0, /**< client SYN forwarded */
	MG_FLOW_SYN_RECV,     /**< backend SYN-ACK seen */
	MG_FLOW_ESTABLISHED,  /**< the client acknowledged the SYN-ACK */
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

/*
 * Flags of a flow half: what that direction's sender has sent.
 */
#define MG_HALF_SYN	 0x01 /**< its SYN: isn and wscale are valid */
#define MG_HALF_ACK	 0x02 /**< an acknowledgement: ack, allow_end valid */
#define MG_HALF_SYNACKED 0x04 /**< it acknowledged the other side's SYN */
#define MG_HALF_FIN	 0x08 /**< a FIN inside the window */
#define MG_HALF_RST	 0x10 /**< an acceptable RST (or the gateway's) */
#define MG_HALF_WSCALE	 0x20 /**< its SYN offered window scaling */

/**
 * What one direction of a connection has sent, for TCP window tracking
 * (RFC 9293 3.10.7.4, the checks of Linux's nf_conntrack tcp_in_window)
 * and expiry. Written only by the worker that receives that direction
 * (after DNAT the two directions of one connection may be on two
 * workers); the other direction's worker reads it with relaxed loads.
 * Sequence numbers are host order and compared modulo 2^32.
 */
struct mg_flow_half {
	uint32_t last_seen; /**< TSC >> the table's time shift */
	uint32_t end;	    /**< sequence number after all it sent (SYN and
			     * FIN count one) */
	uint32_t ack;	    /**< highest acknowledgement it sent */
	uint32_t allow_end; /**< highest ack + window it sent: the other
			     * side may send up to here */
	uint32_t maxwin;    /**< largest window it advertised, scaled */
	uint32_t isn;	    /**< its SYN's sequence number */
	uint32_t mark;	    /**< telemetry of this direction's worker */
	uint8_t flags;	    /**< MG_HALF_* */
	uint8_t wscale;	    /**< its SYN's window scale shift */
	uint8_t tel;	    /**< telemetry of this direction's worker */
	uint8_t pad;
};

/**
 * A tracked connection: its keys and the decision taken when it was
 * admitted, written before the entry is published and never changed
 * after. The service and the caller are recorded by ids that survive a
 * reload (lib/ruleset's registry of names), which each reader maps to
 * the ruleset in force: a reload applies that service's and caller's
 * new rules, by name. What changes per packet lives in the two struct
 * mg_flow_half of the entry (mg_flow_half()).
 */
struct mg_flow {
	struct mg_5tuple key[2]; /**< [dir]: as received from each side */
	/* decision, fixed at the first packet; the virtual address and
	 * port the client used are key[MG_FLOW_DIR_FWD].dst and .dport */
	uint16_t service_id; /**< mg_ruleset_service_of_id() maps it */
	uint16_t labels;     /**< telemetry series (caller, service, version) */
	uint16_t identity_id; /**< the caller: mg_ruleset_identity_of_id() */
	/* where each direction leaves: port index and next-hop MAC */
	uint8_t out_port[2];		  /**< [dir] */
	struct rte_ether_addr out_mac[2]; /**< [dir] destination MAC */
	uint8_t l7; /**< enum mg_l7_proto: client bytes inspected */
	/** 1: admitted on a SYN cookie's ACK (the gateway answered the
	 * client's SYN itself): the backend's sequence numbers are
	 * translated (mg_flow_proxy()) */
	uint8_t syn_proxy;
	/** 1 once removed by a worker other than its shard's owner, which
	 * has yet to unlink it: lookups pass over it (the one field written
	 * after publication, once, by the worker that removed it) */
	uint8_t dead;
	uint32_t index;	 /**< position in the entry array */
	uint32_t health; /**< backend's passive-health index */
	/** [dir]: what rewriting that direction's packets adds to their
	 * checksums for the address (mg_cksum_addr_diff(): the virtual
	 * address to the backend's forward, back in reverse), the same for
	 * every packet: set by mg_flow_publish() from the keys */
	uint16_t nat_ck[2];
	/** per-caller limit buckets the connection counts against (see
	 * lib/limit): the limit's id and the source's bucket, or NONE */
	uint32_t limit_src;
	uint16_t limit;
	/** 1 while the connection is half open (not established) and
	 * counts against flows.max_half_open; cleared exactly once, by
	 * whoever sees it end (the handshake's last ACK, or removal) */
	uint8_t half_open;
	/** 1 while the connection holds a count under its limit; cleared
	 * exactly once, by whoever sees it close or removes it (the
	 * application, lib/limit) */
	uint8_t limit_held;
	/** [dir]: the ESP peer (lib/esp's id) that direction's packets
	 * must arrive from, 0 for in clear; the other direction leaves
	 * encrypted to it */
	uint16_t peer[2];
} __rte_cache_aligned;

/**
 * What a connection admitted by the SYN proxy (mg_flow.syn_proxy) keeps
 * besides its halves. Its halves keep both directions in the client's
 * sequence space: the backend's sequence numbers are translated by
 * delta (backend ISN - cookie) before they are tracked.
 */
struct mg_flow_proxy {
	/** backend ISN - cookie: written once, by the worker that receives
	 * the backend's direction, before it publishes the backend's SYN
	 * in its half (release); valid once that half has MG_HALF_SYN */
	uint32_t delta;
	uint16_t mss; /**< from the cookie: the SYN to the backend's */
	uint16_t win; /**< the client's window in its ACK (unscaled) */
};

/** The part of a table the fast path reads inline. */
struct mg_flow_table_hdr {
	struct mg_flow_half *half[2]; /**< [dir][entry index] */
	struct mg_flow_proxy *proxy;  /**< [entry index] */
	uint32_t time_shift; /**< mg_flow_half.last_seen = TSC >> this */
};

struct mg_flow_table;

/** Parameters of mg_flow_table_create(). */
struct mg_flow_params {
	const char *name;   /**< unique per process, 1-18 chars */
	uint32_t max_flows; /**< connections; keys are twice that */
	/** writers (workers), 1-64 and at most max_flows; 0: one. Each
	 * gets a shard of max_flows / writers connections (the last one
	 * the rest) */
	uint32_t writers;
	int socket;
	const struct mg_flow_conf *timeouts; /**< seconds, copied */
	/** half-open connections at once (0: a quarter of max_flows) */
	uint32_t max_half_open;
	uint64_t tsc_hz;	  /**< cycles per second */
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

/** Free a table; workers must have stopped and be offline for RCU
 * (entries still in their grace period are recycled). NULL accepted. */
void mg_flow_table_free(struct mg_flow_table *t);

/**
 * DPDK memory mg_flow_table_create() takes for @p max_flows connections
 * and @p writers shards with an RCU variable: the entry array, its
 * metadata, and per shard the free list, kill ring, defer queue and
 * the rte_hash of twice its connections' keys, from the same sizes
 * create uses (rte_hash's from DPDK 22.11's layout). Heap element
 * headers are not counted.
 *
 * @return Bytes; 0 when @p max_flows or @p writers is out of range.
 *
 * Thread safety: pure; needs no EAL.
 */
size_t mg_flow_table_memsize(uint32_t max_flows, uint32_t writers);

/**
 * Look up a burst of tuples: in the caller's shard first, then the
 * misses in the others.
 *
 * @param t      Table.
 * @param self   The caller's writer rank (< writers).
 * @param keys   @p n tuples.
 * @param n      At most RTE_HASH_LOOKUP_BULK_MAX (64).
 * @param flows  Receives the entry for each hit, NULL for a miss.
 * @param dir    Receives the direction (enum mg_flow_dir) of each hit.
 * @return Bit mask of hits (bit i set: keys[i] found).
 *
 * Thread safety: lock-free; concurrent with inserts and deletes. Entries
 * stay valid until the caller's next rte_rcu_qsbr_quiescent().
 */
uint64_t mg_flow_lookup_bulk(struct mg_flow_table *t, unsigned int self,
			     const struct mg_5tuple **keys, uint32_t n,
			     struct mg_flow **flows, uint8_t *dir);

/**
 * Claim a free entry of the caller's shard for a new connection. The
 * caller fills the key[] and decision fields (and, for TCP, the client's
 * half with mg_flow_tcp_syn()), then calls mg_flow_publish().
 *
 * @param self  The caller's writer rank (< writers).
 * @return The zeroed entry (both halves zeroed too), or NULL with
 *         rte_errno = ENOSPC when the shard is full (established flows
 *         are unaffected), EINVAL for a bad @p self.
 *
 * Thread safety: the writer of rank @p self only (its free list).
 */
struct mg_flow *mg_flow_alloc(struct mg_flow_table *t, unsigned int self);

/** Return an entry from mg_flow_alloc() that was never published, or
 * whose mg_flow_publish() failed. The writer that allocated it. */
void mg_flow_release(struct mg_flow_table *t, struct mg_flow *f);

/**
 * Make @p f reachable by both of its keys, both halves last seen at
 * @p now.
 *
 * @return 0; -EEXIST if another worker published the same connection
 *         first (the caller releases @p f and looks up again), or if
 *         either key belongs to another flow or both keys are equal;
 *         -ENOSPC. On error @p f is not reachable and the caller
 *         releases it.
 *
 * Uniqueness across shards, without waiting: the entry is marked
 * "publishing" and its keys added to its shard, then, after a full
 * fence, the other shards are looked up. A key there of a live
 * connection, or of one being published from a lower-ranked shard,
 * makes this one give up (-EEXIST); one being published from a
 * higher-ranked shard is vetoed (compare-and-swap of its mark), and the
 * entry goes live only if its own mark was not vetoed meanwhile. Of
 * workers publishing one tuple at once, at least one sees each other
 * (the fence), and exactly one wins.
 *
 * Thread safety: the writer that allocated @p f, lock-free; concurrent
 * with lookups and with every other writer.
 */
int mg_flow_publish(struct mg_flow_table *t, struct mg_flow *f, uint64_t now);

/** The half of @p f that direction @p dir writes. Fast path. */
static inline struct mg_flow_half *
mg_flow_half(const struct mg_flow_table *t, const struct mg_flow *f,
	     unsigned int dir)
{
	return &((const struct mg_flow_table_hdr *)t)->half[dir][f->index];
}

/** What the SYN proxy keeps of @p f (meaningful when f->syn_proxy). */
static inline struct mg_flow_proxy *
mg_flow_proxy(const struct mg_flow_table *t, const struct mg_flow *f)
{
	return &((const struct mg_flow_table_hdr *)t)->proxy[f->index];
}

/** State of a TCP connection from its halves' flags. */
static inline enum mg_flow_state
mg_flow_tcp_state_of(uint8_t fwd, uint8_t rev)
{
	if ((fwd | rev) & MG_HALF_RST)
		return MG_FLOW_CLOSED;
	if (fwd & rev & MG_HALF_FIN)
		return MG_FLOW_TIME_WAIT;
	if ((fwd | rev) & MG_HALF_FIN)
		return MG_FLOW_FIN_WAIT;
	/* both SYNs seen: a proxied client acknowledges the gateway's
	 * SYN-ACK before the backend has answered */
	if ((fwd & MG_HALF_SYNACKED) && (rev & MG_HALF_SYN))
		return MG_FLOW_ESTABLISHED;
	if (rev & MG_HALF_SYN)
		return MG_FLOW_SYN_RECV;
	return MG_FLOW_SYN_SENT;
}

/**
 * A connection's state, read from both halves (relaxed loads): UDP
 * flows are MG_FLOW_UDP.
 *
 * Thread safety: any thread.
 */
static inline enum mg_flow_state
mg_flow_state(const struct mg_flow_table *t, const struct mg_flow *f)
{
	if (f->key[MG_FLOW_DIR_FWD].proto != IPPROTO_TCP)
		return MG_FLOW_UDP;
	return mg_flow_tcp_state_of(
		__atomic_load_n(&mg_flow_half(t, f, MG_FLOW_DIR_FWD)->flags,
				__ATOMIC_RELAXED),
		__atomic_load_n(&mg_flow_half(t, f, MG_FLOW_DIR_REV)->flags,
				__ATOMIC_RELAXED));
}

/**
 * Record that direction @p dir of @p f saw a packet at @p now (stored
 * only when the clock moved by a unit of the table's time shift, about a
 * millisecond, so a busy connection does not write it per packet).
 *
 * Thread safety: the worker that receives direction @p dir.
 */
static inline void
mg_flow_touch(const struct mg_flow_table *t, const struct mg_flow *f,
	      unsigned int dir, uint64_t now)
{
	struct mg_flow_half *h = mg_flow_half(t, f, dir);
	uint32_t v =
		(uint32_t)(now >>
			   ((const struct mg_flow_table_hdr *)t)->time_shift);

	if (__atomic_load_n(&h->last_seen, __ATOMIC_RELAXED) != v)
		__atomic_store_n(&h->last_seen, v, __ATOMIC_RELAXED);
}

/**
 * TSC cycles since direction @p dir of @p f last saw a packet (to the
 * table's time grain).
 */
uint64_t mg_flow_idle_cycles(const struct mg_flow_table *t,
			     const struct mg_flow *f, unsigned int dir,
			     uint64_t now);

/**
 * Start tracking a TCP connection from its client's SYN: the client's
 * half gets the ISN, the end of the SYN, its window and options. Call
 * between mg_flow_alloc() and mg_flow_publish().
 */
void mg_flow_tcp_syn(struct mg_flow_table *t, struct mg_flow *f,
		     const struct mg_pkt_tcp_seg *syn);

/**
 * Start tracking a connection admitted by the SYN proxy, from the
 * client's ACK of the gateway's SYN-ACK: the client's half as if its
 * SYN (ISN = @p ack's sequence number - 1, no window scaling) and its
 * acknowledgement of @p cookie had been seen, the backend's half
 * starting at @p cookie (its SYN-ACK is translated there), and
 * mg_flow_proxy() (mss, win; delta 0). Sets f->syn_proxy. Call between
 * mg_flow_alloc() and mg_flow_publish().
 */
void mg_flow_tcp_proxy(struct mg_flow_table *t, struct mg_flow *f,
		       const struct mg_pkt_tcp_seg *ack, uint32_t cookie,
		       uint16_t mss);

/** What to do with a TCP segment of a tracked connection. */
enum mg_flow_verdict {
	MG_FLOW_ACCEPT = 0,    /**< forward it; the half is updated */
	MG_FLOW_NEW,	       /**< a client SYN on a connection that is
				* closing or closed, or that restarts a
				* handshake nobody answered: it starts a
				* new connection; remove this flow and
				* admit the SYN */
	MG_FLOW_CHALLENGE,     /**< drop it and answer its sender with a
				* challenge ACK (RFC 5961 3.2, 4.2):
				* mg_flow_challenge() */
	MG_FLOW_OUT_OF_WINDOW, /**< drop it */
};

/**
 * Check a TCP segment of a tracked connection against what each side
 * has sent and acknowledged, and update direction @p dir's half.
 *
 * The checks are those of Linux's nf_conntrack tcp_in_window, with a
 * window scaled as both SYNs agreed (RFC 7323):
 * - data must start no later than the receiver's last ack + window
 *   (with @p whole, end there too: inspected bytes must all be bytes the
 *   receiver takes), and end no earlier than the sender's end minus the
 *   receiver's largest window;
 * - an acknowledgement may not cover bytes the receiver never sent, nor
 *   lag what it sent by more than the sender's largest window (at least
 *   66,000 bytes);
 * - before both SYNs, only the handshake passes; a FIN counts only in
 *   the window;
 * - a RST is accepted only at the exact sequence number: the sender's
 *   next one, or the receiver's last acknowledgement (a reset answering
 *   a segment). In the window but not exact: MG_FLOW_CHALLENGE. Before
 *   the backend's SYN-ACK, a backend RST must acknowledge the client's
 *   SYN;
 * - a client SYN on a connection that is closing or closed, or with a
 *   new ISN before the backend answered, is MG_FLOW_NEW; the same ISN
 *   again before the handshake completes is a retransmission
 *   (accepted); any other SYN on a live connection is MG_FLOW_CHALLENGE.
 *   A backend SYN-ACK must acknowledge the client's SYN.
 *
 * @param seg    The segment (mg_pkt_tcp_seg()).
 * @param whole  Its data must lie wholly inside the receiver's window
 *               (layer-7 inspection).
 * @return What to do with it.
 *
 * Thread safety: the worker that receives direction @p dir; reads the
 * other half with relaxed loads.
 */
enum mg_flow_verdict mg_flow_tcp_track(struct mg_flow_table *t,
				       struct mg_flow *f, enum mg_flow_dir dir,
				       const struct mg_pkt_tcp_seg *seg,
				       bool whole);

/**
 * Sequence and acknowledgement numbers of a challenge ACK to the sender
 * of direction @p dir: what the receiving side would send (its next
 * sequence number and its last acknowledgement).
 */
void mg_flow_challenge(const struct mg_flow_table *t, const struct mg_flow *f,
		       enum mg_flow_dir dir, uint32_t *seq, uint32_t *ack);

/**
 * Mark direction @p dir as reset: by an accepted RST, or by the gateway
 * resetting the connection itself (a layer-7 verdict).
 *
 * Thread safety: the worker that receives direction @p dir.
 */
void mg_flow_tcp_reset(struct mg_flow_table *t, struct mg_flow *f,
		       enum mg_flow_dir dir);

/**
 * Take a place for a new half-open connection (a TCP SYN) in the budget
 * of max_half_open. On success the caller sets f->half_open = 1 before
 * publishing (the place is given back when the connection is
 * established or removed) and records the connection with
 * mg_flow_half_open_push() after publishing; when the caller does not
 * publish, mg_flow_half_open_cancel() gives the place back.
 *
 * @return true, or false when the budget is spent (mg_flow_evict_oldest()
 *         makes room).
 *
 * Thread safety: multi-thread safe (compare-and-swap on the count: the
 * budget is never exceeded).
 */
bool mg_flow_half_open_take(struct mg_flow_table *t);

/** Give back a place taken by mg_flow_half_open_take() that no published
 * connection holds. */
void mg_flow_half_open_cancel(struct mg_flow_table *t);

/**
 * Record a published half-open connection in the order of arrival, for
 * mg_flow_evict_oldest().
 *
 * Thread safety: multi-thread safe.
 */
void mg_flow_half_open_push(struct mg_flow_table *t, const struct mg_flow *f);

/**
 * Remove the oldest connection that is still half open (never an
 * established one), whichever shard holds it, calling @p removed(@p ctx,
 * f) as expiry does. Its place in the budget is free at once; its entry
 * once its owner unlinked it and the grace period is over.
 *
 * @param self  The caller's writer rank.
 * @return true when one was removed.
 *
 * Thread safety: multi-thread safe (distinct ranks).
 */
bool mg_flow_evict_oldest(struct mg_flow_table *t, unsigned int self,
			  void (*removed)(void *ctx, const struct mg_flow *f),
			  void *ctx);

/**
 * A UDP flow's first answer: it is no longer half open. Cheap when it
 * was answered already (one load).
 *
 * Thread safety: multi-thread safe.
 */
void mg_flow_answered(struct mg_flow_table *t, struct mg_flow *f);

/** Half-open connections now, and the budget. Any thread. */
uint32_t mg_flow_half_open(const struct mg_flow_table *t);
uint32_t mg_flow_half_open_budget(const struct mg_flow_table *t);

/**
 * Forget a published connection now (e.g. to steer a handshake that a
 * backend never answered elsewhere): from now on it is dead, and its
 * tuple may be published again. Its shard's owner unlinks it (at once
 * when that is the caller, else on its next mg_flow_expire()); the entry
 * is recycled after a grace period, like an expired one.
 *
 * @param self  The caller's writer rank.
 * @return 0, or -ENOENT if it was already removed (by expiry or another
 *         worker) or is not yet published.
 *
 * Thread safety: multi-thread safe (distinct ranks); @p f stays readable
 * until the caller's next quiescent report.
 */
int mg_flow_remove(struct mg_flow_table *t, unsigned int self,
		   struct mg_flow *f);

/** Cursor for incremental expiry; one per writer. */
struct mg_flow_cursor {
	uint32_t next;	/**< next entry index to look at */
	uint32_t first; /**< the writer's rank: the shard it expires */
	/** Called for each flow this cursor expires, before the entry can
	 * be reused (e.g. to count a closed connection); may be NULL. */
	void (*removed)(void *ctx, const struct mg_flow *f);
	void *ctx;
};

/**
 * The owner's round on its shard: unlink the connections other workers
 * removed, recycle what is past its grace period, then look at up to
 * @p budget entries of the shard from the cursor and remove those idle
 * past their state's timeout. Entries are recycled after a grace period.
 *
 * @return Number of flows removed by expiry.
 *
 * Thread safety: the writer of rank c->first.
 */
unsigned int mg_flow_expire(struct mg_flow_table *t, struct mg_flow_cursor *c,
			    uint64_t now, unsigned int budget);

/**
 * Unlink the connections other workers removed from the caller's shard
 * (mg_flow_remove(), mg_flow_evict_oldest()): lookups pass over them
 * from the removal on (mg_flow.dead), but their keys and entries stay
 * until the owner unlinks them and the grace period ends. A writer calls
 * it each round; mg_flow_expire() does it too.
 *
 * @param self  The caller's writer rank.
 *
 * Thread safety: the writer of rank @p self.
 */
void mg_flow_handover(struct mg_flow_table *t, unsigned int self);

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
