/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * ESP tunnels between edge nodes (RFC 4303 tunnel mode, AES-GCM of RFC
 * 4106, optionally in UDP per RFC 3948), on DPDK's librte_ipsec over a
 * cryptodev: the crypto_aesni_mb PMD (Intel IPsec-MB) that
 * mg_esp_create() instantiates. Where the device offers synchronous CPU
 * crypto (RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO, which crypto_aesni_mb does),
 * each worker encrypts and decrypts its bursts on its own core with
 * rte_cryptodev_sym_cpu_crypto_process(); else through its queue pair.
 *
 * Three objects:
 * - struct mg_esp, for the life of the process: the cryptodev, its
 *   pools, the locked key store, the registry of SAs (an SA that a
 *   reload keeps, by peer, direction and SPI, is the same object: its
 *   sequence numbers and replay window go on) and of peers (a peer keeps
 *   its id across reloads, so connections and packets in flight name
 *   it safely);
 * - struct mg_esp_set, immutable, built from a config: the peers, their
 *   routes, the inbound SPIs accepted (those a reload removed for
 *   rekey_linger more seconds) and each peer's outbound SA. Published
 *   with the ruleset and freed after an RCU grace period, like it;
 * - struct mg_esp_worker, one per worker: its queue pair, its staging
 *   of packets into bursts, its counters (single writer).
 *
 * The data path never blocks: a worker stages packets while it handles
 * a burst, mg_esp_flush() prepares them (rte_ipsec_pkt_crypto_prepare)
 * and hands them to the device in bursts (with CPU crypto: encrypts or
 * decrypts them there and then), mg_esp_poll() takes what the device
 * finished and completes it (rte_ipsec_pkt_process). A decapsulated
 * packet then goes through the data path again, as if received, marked
 * (an ol_flags dynflag and an mbuf dynfield) with the peer it came
 * from: the only way a packet carries a peer, since every PMD writes
 * ol_flags of what it receives. An SA is retired (its crypto session
 * freed, its key zeroised with explicit_bzero()) once no set holds it,
 * every worker has passed an RCU quiescent point and every operation
 * enqueued before has been dequeued.
 */

#ifndef MG_ESP_H
#define MG_ESP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>

#include "mg_conf.h"
#include "mg_esp_drop.h"
#include "mg_pkt.h"
#include "mg_telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/** SAs at once (lingering and retiring ones included). */
#define MG_ESP_MAX_SAS 512
/** Distinct peer names over the life of the process: a peer's id is
 * never given to another one, so a connection of a removed peer can
 * never be taken for a new one's. */
#define MG_ESP_MAX_PEER_IDS 256
/** UDP port of ESP in UDP (RFC 3948). */
#define MG_ESP_NATT_PORT 4500

struct mg_esp;
struct mg_esp_set;
struct mg_esp_worker;

/** Where an mbuf's peer marks are (mg_esp_marks()). */
struct mg_esp_marks {
	int offset;	/**< of struct mg_esp_mbuf in the mbuf */
	uint64_t decap; /**< ol_flags bit: decapsulated, origin is valid */
	uint64_t encap; /**< ol_flags bit: egress is decided */
};

/** The mbuf dynfield: who a packet came from or goes to, and what lib/esp
 * keeps about a packet in flight. */
struct mg_esp_mbuf {
	uint16_t origin;   /**< peer id it was decapsulated from */
	uint16_t egress;   /**< peer id it leaves encrypted to; 0: clear */
	uint32_t seq;	   /**< in flight: ESP sequence number, low bits */
	uint16_t data_off; /**< in flight: data_off before decapsulation */
	uint8_t port;	   /**< in flight: port index */
	uint8_t l2_len;	   /**< in flight: bytes of the L2 header */
	uint32_t aux;	   /**< in flight: staging position / length */
};

/** The peer a packet was decapsulated from, or 0 (it came in clear). */
static inline uint16_t
mg_esp_origin(const struct mg_esp_marks *k, const struct rte_mbuf *m)
{
	if (likely(!(m->ol_flags & k->decap)))
		return 0;
	return RTE_MBUF_DYNFIELD(m, k->offset, const struct mg_esp_mbuf *)
		->origin;
}

/**
 * Decide where @p m leaves: encrypted to peer @p peer, or in clear
 * (@p peer 0), whatever its destination. Without this, a packet leaves
 * toward the peer whose prefixes or services hold its destination; one
 * decapsulated from a peer and sent back (an answer of the gateway's
 * own) to that peer.
 */
static inline void
mg_esp_set_egress(const struct mg_esp_marks *k, struct rte_mbuf *m,
		  uint16_t peer)
{
	if (k->encap == 0)
		return;
	m->ol_flags |= k->encap;
	RTE_MBUF_DYNFIELD(m, k->offset, struct mg_esp_mbuf *)->egress = peer;
}

/** Copy the peer marks of @p from to @p to (fragments of a packet). */
static inline void
mg_esp_copy_marks(const struct mg_esp_marks *k, struct rte_mbuf *to,
		  const struct rte_mbuf *from)
{
	uint64_t both = k->decap | k->encap;

	if (both == 0)
		return;
	to->ol_flags = (to->ol_flags & ~both) | (from->ol_flags & both);
	*RTE_MBUF_DYNFIELD(to, k->offset, struct mg_esp_mbuf *) =
		*RTE_MBUF_DYNFIELD(from, k->offset, const struct mg_esp_mbuf *);
}

/** Parameters of mg_esp_create(). */
struct mg_esp_params {
	unsigned int n_workers; /**< one queue pair each */
	int socket;
	uint32_t qp_depth;	  /**< descriptors per queue pair */
	struct rte_rcu_qsbr *qsv; /**< workers' quiescent reports */
	uint64_t tsc_hz;
	/** Enqueue to the queue pairs and dequeue even where the device
	 * offers synchronous CPU crypto (tests of that path); false: CPU
	 * crypto whenever the device has RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO. */
	bool queue_pairs_only;
};

/**
 * Create the ESP context: mbuf marks, the crypto_aesni_mb cryptodev
 * (named "crypto_aesni_mb_mg", one queue pair per worker, used when
 * the device has no synchronous CPU crypto or @p p asks), its session
 * and operation pools, and the key store (mmap'ed, mlock'ed, excluded
 * from core dumps with MADV_DONTDUMP; the session pool's memory too).
 *
 * @return The context, or NULL with rte_errno set (ENOTSUP: the PMD
 *         lacks AES-GCM; ENOMEM; EPERM: memory cannot be locked) and
 *         the reason logged (mg.esp).
 *
 * Thread safety: control plane, before workers start.
 */
struct mg_esp *mg_esp_create(const struct mg_esp_params *p);

/**
 * Free the context once workers have stopped (and freed their
 * mg_esp_worker): every SA's crypto session is freed, every key
 * zeroised, the device closed. Sets must have been freed. NULL accepted.
 */
void mg_esp_free(struct mg_esp *esp);

/** The mbuf marks of @p esp (all zero for NULL: nothing is marked). */
struct mg_esp_marks mg_esp_marks(const struct mg_esp *esp);

/** DPDK memory mg_esp_create() takes for @p n_workers workers and queue
 * pairs of @p qp_depth, estimated; the cryptodev's own allocations
 * excluded. Thread safety: pure. */
size_t mg_esp_memsize(unsigned int n_workers, uint32_t qp_depth);

/**
 * Build the set of a config. SAs of @p running (the set in force, or
 * NULL) that @p conf keeps — same peer, direction and SPI — are the
 * same objects (their sequence numbers and replay windows go on);
 * others are created, their keys read (mg_conf_key_read()) into the
 * locked store. An inbound SA of @p running that @p conf drops, of a
 * peer it keeps, stays accepted until rekey_linger seconds after @p now
 * (or its earlier deadline).
 *
 * @param conf     Validated config.
 * @param running  Set in force, or NULL.
 * @param now      TSC.
 * @param err      Receives "FILE:LINE: message" on failure: an SA whose
 *                 SPI stays but whose key, algorithm, ESN or window
 *                 changes (a replay window must never start afresh
 *                 under the same key), a key file that cannot be read,
 *                 the registry full.
 * @return The set, or NULL with rte_errno set. Nothing of @p running
 *         changes either way.
 *
 * Thread safety: control plane.
 */
struct mg_esp_set *mg_esp_set_build(struct mg_esp *esp,
				    const struct mg_conf *conf,
				    const struct mg_esp_set *running,
				    uint64_t now, char *err, size_t errlen);

/**
 * Free a set no worker can read any more. SAs no set holds then start
 * retiring (mg_esp_tick() finishes). NULL accepted.
 *
 * Thread safety: control plane.
 */
void mg_esp_set_free(struct mg_esp_set *set);

/** Whether @p set has peers; NULL has none. */
bool mg_esp_set_active(const struct mg_esp_set *set);

/** Record the set in force (telemetry, linger expiry). Control plane. */
void mg_esp_publish(struct mg_esp *esp, const struct mg_esp_set *set);

/**
 * Control-plane housekeeping, every tick: an inbound SA whose linger
 * ran out, or an SA no set holds, is retired once safe (RCU grace
 * period, then every operation enqueued before it dequeued): its
 * session freed, its key zeroised; an outbound SA that stopped at the
 * end of its sequence numbers is logged once.
 *
 * @return SAs retired by this call.
 *
 * Thread safety: control plane, concurrent with workers.
 */
unsigned int mg_esp_tick(struct mg_esp *esp, uint64_t now);

/**
 * Identity index (1 + index into the config's identities) of the peer
 * with id @p peer in @p set, or -1 if the set has no such peer.
 */
int mg_esp_identity(const struct mg_esp_set *set, uint16_t peer);

/**
 * The peer id whose prefixes or services hold @p addr (a backend, a
 * destination), or 0.
 *
 * Thread safety: lock-free.
 */
uint16_t mg_esp_route(const struct mg_esp_set *set, const struct mg_addr *addr);

/**
 * The largest IP packet that, sent through peer @p peer, leaves as an
 * ESP packet of at most @p mtu bytes (the outer header, ESP's header,
 * IV, padding, trailer and ICV taken off); @p mtu itself when @p set
 * has no such peer.
 */
uint16_t mg_esp_inner_mtu(const struct mg_esp_set *set, uint16_t peer,
			  uint16_t mtu);

/** The peer @p m leaves to when nothing but its destination decides:
 * as mg_esp_output() chooses it (marks, then routes). 0: in clear. */
uint16_t mg_esp_egress_of(const struct mg_esp_marks *k,
			  const struct mg_esp_set *set,
			  const struct rte_mbuf *m, uint8_t family,
			  const uint8_t *dst);

/**
 * The next hop toward peer @p peer's endpoint is looked up for this
 * address instead of the packet's destination: the peer's remote
 * address; false if @p set has no such peer.
 */
bool mg_esp_peer_endpoint(const struct mg_esp_set *set, uint16_t peer,
			  struct mg_addr *remote);

/* ---- workers ---- */

/**
 * A worker's context: queue pair @p rank, counters, staging areas.
 * @p stats receives the drops lib/esp decides (drops[reason]).
 *
 * @return The context, or NULL with rte_errno set.
 */
struct mg_esp_worker *mg_esp_worker_create(struct mg_esp *esp,
					   unsigned int rank,
					   struct mg_lcore_stats *stats,
					   int socket);

/** Drain the worker's queue pair (freeing what comes back) and free its
 * context; the worker must have stopped. NULL accepted. */
void mg_esp_worker_free(struct mg_esp_worker *ew);

/**
 * The input stage of a parsed burst, before anything else reads it:
 * ESP (IP protocol 50, or UDP to port 4500) addressed to a tunnel
 * endpoint of @p set is taken out of the arrays (which are compacted,
 * order kept) and staged for decryption, or dropped under its reason
 * (esp_unknown_spi, esp_malformed, esp_wrong_queue); any other IP
 * packet that came in clear from a peer's prefixes gets reason
 * MG_DROP_ESP_REQUIRED in @p reasons (for the caller to drop).
 *
 * @return How many frames remain in @p pkts, @p info, @p reasons.
 *
 * Thread safety: the worker owning @p ew.
 */
uint16_t mg_esp_input(struct mg_esp_worker *ew, const struct mg_esp_set *set,
		      uint16_t port, struct rte_mbuf **pkts,
		      struct mg_pkt_info *info, uint8_t *reasons, uint16_t n,
		      uint64_t now);

/** What mg_esp_output() did with a frame. */
enum mg_esp_out {
	MG_ESP_CLEAR = 0, /**< not for a peer: send it as it is */
	MG_ESP_TAKEN,	  /**< staged for encryption, or dropped (counted) */
	MG_ESP_TOO_BIG,	  /**< for a peer, but over the port's MTU once
			   * encapsulated: *inner_mtu is the most it may be */
};

/**
 * The output stage: a frame about to leave through port @p port (MACs
 * set) goes encrypted through a peer if mg_esp_set_egress() said so,
 * or, without that, if it was decapsulated from one (it answers its
 * sender) or its destination is behind one. Multicast, link-local and
 * ARP/ND frames always go in clear.
 *
 * @param mtu        Largest IP packet the port sends.
 * @param inner_mtu  With MG_ESP_TOO_BIG: the largest IP packet that
 *                   fits once encapsulated.
 *
 * Thread safety: the worker owning @p ew.
 */
enum mg_esp_out mg_esp_output(struct mg_esp_worker *ew,
			      const struct mg_esp_set *set, uint16_t port,
			      struct rte_mbuf *m, uint16_t mtu,
			      uint16_t *inner_mtu);

/** Count a drop of @p m under @p why, for peer @p peer too (0: none),
 * and free it. */
void mg_esp_drop(struct mg_esp_worker *ew, uint16_t peer, struct rte_mbuf *m,
		 enum mg_drop_reason why);

/**
 * Prepare what the worker staged (rte_ipsec_pkt_crypto_prepare, by SA)
 * and hand it to the device in bursts: with CPU crypto, encrypted or
 * decrypted at once (the operations wait for mg_esp_poll() in the
 * worker's own ring); else enqueued to its queue pair. Never
 * waits: what the queue pair or ring refuses is dropped
 * (esp_crypto_full).
 */
void mg_esp_flush(struct mg_esp_worker *ew);

/** Where mg_esp_poll() hands finished packets. */
struct mg_esp_sink {
	/** Decapsulated inner packets (Ethernet header rebuilt, marked
	 * with their peer) that came in on port index @p port. */
	void (*decapsulated)(void *ctx, uint16_t port, struct rte_mbuf **pkts,
			     uint16_t n);
	/** An encrypted frame to send through port index @p port. */
	void (*encapsulated)(void *ctx, uint16_t port, struct rte_mbuf *m);
	void *ctx;
};

/**
 * Take what the device finished (one burst, in order) and complete it
 * (rte_ipsec_pkt_process): authentication failures, replays and
 * malformed packets are dropped under their reasons, the rest handed to
 * @p sink.
 *
 * @return Operations dequeued.
 */
unsigned int mg_esp_poll(struct mg_esp_worker *ew,
			 const struct mg_esp_sink *sink);

/** Whether the worker has packets staged or in its queue pair. */
bool mg_esp_busy(const struct mg_esp_worker *ew);

/**
 * Decapsulate one frame synchronously (for fuzzing and tests): parse
 * it, run the input stage, flush, and poll (bounded) until the device
 * returns it.
 *
 * @param m    A frame; consumed.
 * @param now  TSC, for SAs that linger after a reload.
 * @param out  Receives the decapsulated frame (the caller frees it), or
 *             NULL.
 * @param why  Receives the drop reason when @p m was dropped;
 *             MG_DROP_NONE when it was decapsulated or was no ESP for
 *             the set (then *out is @p m itself, untouched), or
 *             MG_DROP_ESP_REQUIRED for such a frame that came in clear
 *             from a peer's prefix (for the caller to drop).
 * @return 1 decapsulated, 0 not ESP for the set (or not parseable),
 *         -1 dropped.
 *
 * Thread safety: the worker owning @p ew, outside its loop.
 */
int mg_esp_decap_one(struct mg_esp_worker *ew, const struct mg_esp_set *set,
		     struct rte_mbuf *m, uint64_t now, struct rte_mbuf **out,
		     enum mg_drop_reason *why);

/* ---- telemetry ---- */

/** Fill @p out with the peers and SAs of the set in force (lib/telemetry
 * walks them for /metrics and /meshgate/peers). */
int mg_esp_telemetry(void *esp, mg_telemetry_esp_emit emit, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* MG_ESP_H */
