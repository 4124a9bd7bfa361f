/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * The immutable runtime ruleset: a validated config compiled into the
 * tables the fast path reads — identity tries (rte_rib, v4 and v6), service
 * lookup by (address, protocol, port), the identity x service policy matrix,
 * version and backend choice (weights, pinned routes, canary chains,
 * Maglev tables, passive health), and the gateway's own addresses and
 * static neighbours.
 *
 * A ruleset never changes once built. The control plane publishes a new
 * one by swapping a pointer and frees the old one after an RCU grace
 * period; workers load the pointer once per burst.
 */

#ifndef MG_RULESET_H
#define MG_RULESET_H

#include <stdbool.h>
#include <stdint.h>

#include "mg_canary.h"
#include "mg_conf.h"
#include "mg_limit.h"
#include "mg_esp.h"
#include "mg_pkt.h"
#include "mg_l7.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Identity index (and id) of a source no identity prefix covers. */
#define MG_IDENTITY_UNKNOWN 0
/** Rule id when no rule matched (default deny). */
#define MG_RULE_DEFAULT 0xffff

/*
 * Ids that survive a reload. A service, identity or rule name gets an id
 * the first time a ruleset naming it is built, and keeps it for the life of
 * the process (an append-only registry, like lib/telemetry's label
 * sets), whatever later files do: removed, it keeps its id; added back,
 * it gets the same id. Each ruleset maps every id registered when it was
 * built to its own index of that name, or to none. A connection records
 * ids when it is admitted and never changes them; whoever reads it maps
 * them through the ruleset in force (mg_ruleset_service_of_id(),
 * mg_ruleset_identity_of_id()): a bounds check and one array load.
 */

/** Kinds of names the registry gives ids to. */
enum mg_ruleset_id_kind {
	MG_RULESET_ID_SERVICE = 0, /**< service names: ids 0 .. 65,534 */
	/** identity names ("peer:NAME" too): ids 1 .. 65,535; id 0 is
	 * the unknown identity (MG_IDENTITY_UNKNOWN), which has no name */
	MG_RULESET_ID_IDENTITY,
	/** policy (rule) names: ids 0 .. 65,534; MG_RULE_DEFAULT is the
	 * default deny's */
	MG_RULESET_ID_RULE,
	MG_RULESET_ID_KINDS
};

/** Names the registry holds of each kind: ids are 16 bits. */
#define MG_RULESET_MAX_NAMES 65535u
/** Service id of no service, and the index of a service or rule id a
 * ruleset does not have. */
#define MG_RULESET_NONE UINT16_MAX

/**
 * A ruleset's maps of ids to its indexes: the first member of every
 * ruleset (struct mg_ruleset_hdr, below), so the fast path reads them
 * inline.
 */
struct mg_ruleset_ids {
	/** [kind][id]: the index of that name in this ruleset; for a name
	 * it does not have, MG_RULESET_NONE (services, rules) or
	 * MG_IDENTITY_UNKNOWN (identities) */
	const uint16_t *index_of[MG_RULESET_ID_KINDS];
	/** [kind]: ids registered when the ruleset was built; later ones
	 * (a connection admitted under a newer ruleset) are none here */
	uint32_t n_ids[MG_RULESET_ID_KINDS];
};

/** What the policy says about a new connection. */
enum mg_verdict {
	MG_VERDICT_DENY = 0,	   /**< drop */
	MG_VERDICT_ALLOW,	   /**< forward */
	MG_VERDICT_ALLOW_DRY_DENY, /**< forward; a dry-run rule would deny */
};

/** How the version of a connection was chosen, for telemetry. */
enum mg_pick {
	MG_PICK_WEIGHT = 0, /**< by weight */
	MG_PICK_PINNED,	    /**< a route pins the caller's identity */
	MG_PICK_CHAIN,	    /**< the caller is a canary backend: canary */
	MG_PICK_FAILOVER,   /**< the first choice had no backend up */
	MG_PICK_ALL_DOWN,   /**< no backend up anywhere: first choice kept */
	MG_PICK_MAX
};

/** Outcome of classifying a connection's first packet. */
struct mg_decision {
	uint16_t service;     /**< index into the config's services */
	uint16_t identity;    /**< 1 + index into identities; 0 = unknown */
	uint16_t service_id;  /**< the service's id (survives reloads) */
	uint16_t identity_id; /**< the caller's id; 0 = unknown */
	uint16_t rule;	      /**< deciding policy index, or MG_RULE_DEFAULT */
	uint16_t dry_rule;    /**< dry-run rule that would deny, or DEFAULT */
	uint8_t verdict;      /**< enum mg_verdict */
	uint8_t version;      /**< index into the service's versions */
	/** enum mg_deny_action: what MG_VERDICT_DENY answers */
	uint8_t deny_action;
	uint16_t backend; /**< index into that version's backends */
	struct mg_addr backend_addr;
	uint8_t pick;	       /**< enum mg_pick */
	uint16_t backend_port; /**< network order */
	/** The backend in the health table (mg_health_report()), or
	 * MG_HEALTH_NONE when the ruleset was built without one. */
	uint32_t health_idx;
	/** Telemetry slots (lib/telemetry): the (caller, service, version)
	 * series, the deciding rule, the dry-run rule (0 when none). */
	uint32_t labels;
	uint32_t rule_slot;
	uint32_t dry_rule_slot;
};

struct mg_ruleset;

/**
 * The index in @p rs of the service whose id is @p id (struct
 * mg_decision.service_id, kept by a connection).
 *
 * @return The index, or MG_RULESET_NONE when @p rs has no service of
 *         that name (a reload removed it, or it is newer than @p rs).
 *
 * Thread safety: lock-free; one array load. Fast path.
 */
static inline uint16_t
mg_ruleset_service_of_id(const struct mg_ruleset *rs, uint16_t id)
{
	const struct mg_ruleset_ids *m = (const struct mg_ruleset_ids *)rs;

	return id < m->n_ids[MG_RULESET_ID_SERVICE]
		       ? m->index_of[MG_RULESET_ID_SERVICE][id]
		       : MG_RULESET_NONE;
}

/**
 * The identity index in @p rs of the caller whose id is @p id (struct
 * mg_decision.identity_id).
 *
 * @return The index, or MG_IDENTITY_UNKNOWN when @p rs has no identity
 *         of that name (and for id 0, the unknown identity).
 *
 * Thread safety: lock-free; one array load. Fast path.
 */
static inline uint16_t
mg_ruleset_identity_of_id(const struct mg_ruleset *rs, uint16_t id)
{
	const struct mg_ruleset_ids *m = (const struct mg_ruleset_ids *)rs;

	return id < m->n_ids[MG_RULESET_ID_IDENTITY]
		       ? m->index_of[MG_RULESET_ID_IDENTITY][id]
		       : MG_IDENTITY_UNKNOWN;
}

/**
 * The id of rule (policy index) @p rule of @p rs, for reports that name
 * it later: MG_RULE_DEFAULT for the default deny.
 *
 * Thread safety: lock-free. Not the fast path (a call).
 */
uint16_t mg_ruleset_rule_id(const struct mg_ruleset *rs, uint16_t rule);

/**
 * The name in @p rs of the rule whose id is @p id.
 *
 * @return The name, "default-deny" for MG_RULE_DEFAULT, or NULL when
 *         @p rs has no rule of that id.
 *
 * Thread safety: lock-free.
 */
const char *mg_ruleset_rule_name_of_id(const struct mg_ruleset *rs,
				       uint16_t id);

/**
 * The name of id @p id of @p kind in the registry: what the name was
 * when it got the id, whether or not the ruleset in force still has it.
 *
 * @param buf  Receives the name ("unknown" for identity 0,
 *             "default-deny" for rule MG_RULE_DEFAULT).
 * @param len  Size of @p buf.
 * @return 0, or -ENOENT for an id never given (@p buf "").
 *
 * Thread safety: any thread (takes the registry's lock): reports, not
 * the fast path.
 */
int mg_ruleset_id_name(enum mg_ruleset_id_kind kind, uint32_t id, char *buf,
		       size_t len);

/**
 * Names registered of @p kind so far (ids given), at most
 * MG_RULESET_MAX_NAMES.
 *
 * Thread safety: any thread (takes the registry's lock).
 */
unsigned int mg_ruleset_ids_registered(enum mg_ruleset_id_kind kind);

/**
 * Compile a config into a ruleset.
 *
 * Every service, identity and rule name is registered in the process's id
 * registry (above): a name seen before keeps its id. A build that would
 * take the registry past MG_RULESET_MAX_NAMES names of a kind fails
 * (ENOSPC, the reason in @p err) and registers nothing; a restart
 * numbers names afresh. Every backend is registered in @p health (an index that
 * stays the same across reloads, so ejections survive them), and so is every
 * version's group of backends of each family with the cap on how many may be
 * out at once (mg_ruleset_health_report()); every version gets a Maglev table
 * per address family of mg_maglev_size(MG_CONF_MAX_BACKENDS) = 4099 slots (8
 * KiB), the same size whatever its backend count, so that a reload adding or
 * removing a backend moves only the connections it must. A version with a
 * single backend of a family needs no table.
 *
 * @param conf    Validated config; not referenced after the call.
 * @param socket  NUMA socket for the tables (SOCKET_ID_ANY allowed).
 * @param health  Passive health table, or NULL: every backend is up and
 *                decisions carry MG_HEALTH_NONE. Must outlive the
 *                ruleset.
 * @param n_workers  Workers that will inspect requests with its layer-7
 *                rules: one Hyperscan scratch each (0 counts as 1).
 * @param err     Receives a message on failure.
 * @param errlen  Size of @p err.
 * @return The ruleset, or NULL with rte_errno set (ENOMEM, EINVAL — a
 *         layer-7 pattern Hyperscan refuses is reported as FILE:LINE in
 *         @p err —, or ENOSPC when @p health has no room for a new
 *         backend or group, or the id registry none for a new name).
 *
 * Thread safety: may run on any thread, concurrently with workers reading
 * another ruleset; but registering in @p health is control-plane work,
 * so two builds with one health table must not run at once (the id
 * registry has a lock of its own). Tries get unique names per build.
 */
struct mg_ruleset *mg_ruleset_build(const struct mg_conf *conf, int socket,
				    struct mg_health *health,
				    unsigned int n_workers, char *err,
				    size_t errlen);

/**
 * mg_ruleset_build() for a shadow (candidate) ruleset that decides but
 * never counts: no health table (every backend up), and nothing
 * registered in lib/telemetry, so its rules, services and callers add
 * no series. Its names do get ids, as a live ruleset's. Its decisions carry
 * label-set slot 0 and private rule slots (policy index; default deny after the
 * last), which only mg_ruleset_rule_name_of_slot() should read.
 *
 * @return As mg_ruleset_build().
 *
 * Thread safety: as mg_ruleset_build().
 */
struct mg_ruleset *mg_ruleset_build_shadow(const struct mg_conf *conf,
					   int socket, unsigned int n_workers,
					   char *err, size_t errlen);

/** A limit on a caller's traffic, compiled from the config's "limits". */
struct mg_ruleset_limit {
	uint32_t id;	 /**< in the limit table: stable across reloads */
	uint32_t bucket; /**< the identity's bucket (mg_limit_bucket()) */
	bool per_source; /**< each source address has a budget too */
	/** packets or bytes are metered: for the identity, per source */
	bool meter_all, meter_source;
	struct mg_limit_params all;    /**< the identity as a whole */
	struct mg_limit_params source; /**< each source address */
};

/**
 * Compile the config's limits into @p rs, registering each limit's name
 * in @p t (a limit keeps its id, so its buckets, across reloads). Part
 * of building: call after mg_ruleset_build() and before publishing the
 * ruleset. Without it the ruleset limits nothing.
 *
 * @return 0; -ENOSPC when @p t holds no more names (a restart sizes it
 *         for the file); -EINVAL for a rate rte_meter refuses, or
 *         per-source limits when @p t keeps no sources; -ENOMEM. @p err
 *         says which.
 *
 * Thread safety: control plane (registration), before publishing.
 */
int mg_ruleset_set_limits(struct mg_ruleset *rs, const struct mg_conf *conf,
			  struct mg_limit_table *t, char *err, size_t errlen);

/**
 * The limit a new connection from @p identity to @p service counts
 * against: the one naming both, else the one naming the identity alone.
 *
 * @return The limit, or NULL. Thread safety: lock-free.
 */
const struct mg_ruleset_limit *mg_ruleset_limit(const struct mg_ruleset *rs,
						uint16_t identity,
						uint16_t service);

/** The limit compiled from the config's @p i-th, or NULL. */
const struct mg_ruleset_limit *mg_ruleset_limit_of(const struct mg_ruleset *rs,
						   unsigned int i);

/** The part of a ruleset the fast path reads inline: the first member
 * of every struct mg_ruleset, written before it is published and never
 * after. */
struct mg_ruleset_hdr {
	/** first: mg_ruleset_service_of_id() and the like read it */
	struct mg_ruleset_ids ids;
	/** [limit table id]: the limit in this ruleset, NULL when it has
	 * none of that id (one load) */
	const struct mg_ruleset_limit *const *climit_by_id;
	/** [limit table id]: how the limit meters packets, MG_RULESET_METER_*
	 * bits (0: no such limit, or it meters none) */
	const uint8_t *climit_meter;
	uint32_t n_climit_ids; /**< entries of both (0: none) */
	/** a bit set at mg_ruleset_local_bit() of every address
	 * mg_ruleset_is_local() answers true for, on any port: a clear bit
	 * rules an address out in one load */
	uint64_t local_filter[4];
};

/** The limit meters the identity's packets (or bytes). */
#define MG_RULESET_METER_ALL 1u
/** ... in bytes. */
#define MG_RULESET_METER_BYTES 2u
/** The limit meters each source's packets (or bytes). */
#define MG_RULESET_METER_SOURCE 4u

/**
 * The limit of table id @p id in this ruleset, or NULL (a reload took it
 * away). Inline: every packet of a limited connection asks.
 *
 * Thread safety: lock-free (the ruleset is immutable once published).
 */
static inline const struct mg_ruleset_limit *
mg_ruleset_limit_by_id(const struct mg_ruleset *rs, uint32_t id)
{
	const struct mg_ruleset_hdr *h = (const struct mg_ruleset_hdr *)rs;

	return id < h->n_climit_ids ? h->climit_by_id[id] : NULL;
}

/**
 * How the limit of table id @p id meters packets in this ruleset:
 * MG_RULESET_METER_* bits, 0 when it meters none (or the ruleset has no
 * such limit). Inline: one load for every packet of a limited
 * connection, which needs mg_ruleset_limit_by_id() only for what its
 * credit does not cover.
 *
 * Thread safety: lock-free (the ruleset is immutable once published).
 */
static inline unsigned int
mg_ruleset_limit_meter(const struct mg_ruleset *rs, uint32_t id)
{
	const struct mg_ruleset_hdr *h = (const struct mg_ruleset_hdr *)rs;

	return id < h->n_climit_ids ? h->climit_meter[id] : 0;
}

/**
 * The ruleset's layer-7 rules (lib/l7), for mg_l7_input() and
 * mg_l7_service_proto(). Valid as long as the ruleset.
 */
const struct mg_l7 *mg_ruleset_l7(const struct mg_ruleset *rs);

/** Free a ruleset. NULL accepted. Only after no worker can read it. */
void mg_ruleset_free(struct mg_ruleset *rs);

/**
 * DPDK memory mg_ruleset_build() takes for @p conf: the ruleset's one
 * block, its telemetry slot arrays and the identity tries (rte_rib node
 * pools of two nodes per prefix, node sizes as DPDK 22.11 has them).
 * Heap element headers are not counted; the layer-7 databases live in
 * the C heap, not DPDK's, and so do the id maps (two bytes per name
 * registered since start, per ruleset).
 *
 * @return Bytes. Thread safety: pure; needs no EAL.
 */
size_t mg_ruleset_memsize(const struct mg_conf *conf);

/**
 * Classify the first packet of a connection (client -> virtual address).
 *
 * @p hash is first remixed (murmur3's finalizer), so a linear hash
 * such as CRC32 or the NIC's Toeplitz RSS hash is fine. The version, in
 * order of precedence: the first route of the service that covers the
 * caller's identity (MG_PICK_PINNED); the service's canary version if
 * the caller's source address is a backend of a canary version of any
 * service (MG_PICK_CHAIN); else by weight, from the low 14 bits of the
 * remixed hash (MG_PICK_WEIGHT). The backend: the version's Maglev
 * table of the caller's family at (remixed hash >> 16) % 4099.
 *
 * Health (when the ruleset has a table and the service enables it):
 * a chosen backend that is ejected is replaced by the owner of the
 * first slot that is up along a probe sequence drawn from the hash (at
 * most 32 slots, then any up backend of the version), so connections of
 * the backends that are up never move and the ejected one's spread
 * evenly over the others. If no backend of the version (and family) is
 * up, the version is chosen again among the other versions with weight
 * > 0 and a backend up, in proportion to their weights
 * (MG_PICK_FAILOVER). If no backend is up anywhere, the first choice
 * stands (MG_PICK_ALL_DOWN): a backend that is probably dead beats
 * certainly dropping the connection, and its answer is what can bring
 * it back.
 *
 * @param rs    Ruleset.
 * @param t     The packet's 5-tuple.
 * @param hash  A hash of the tuple; picks the version and backend, so a
 *              connection's choice is stable.
 * @param now   TSC, compared with ejection times.
 * @param d     Filled when a service matches.
 * @return true if @p t is addressed to a service (d is filled, whatever
 *         the verdict), false if no service has that address and port.
 *
 * Thread safety: lock-free; any number of concurrent readers, concurrent
 * with mg_health_report().
 */
bool mg_ruleset_classify(const struct mg_ruleset *rs, const struct mg_5tuple *t,
			 uint32_t hash, uint64_t now, struct mg_decision *d);

/** mg_ruleset_classify_as(): the caller is who its source prefix says. */
#define MG_RULESET_BY_SOURCE UINT32_MAX

/**
 * mg_ruleset_classify() for a packet whose caller is known otherwise
 * than by its source address: traffic decapsulated from an ESP peer is
 * that peer's identity ("peer:NAME"), whatever its inner address.
 *
 * @param identity  1 + index into the config's identities, or
 *                  MG_RULESET_BY_SOURCE (then as mg_ruleset_classify()).
 *
 * Thread safety: as mg_ruleset_classify().
 */
bool mg_ruleset_classify_as(const struct mg_ruleset *rs,
			    const struct mg_5tuple *t, uint32_t identity,
			    uint32_t hash, uint64_t now, struct mg_decision *d);

/**
 * Attach the ESP peers of the config the ruleset was built from (its
 * identities are the set's), before publishing it: workers then get
 * both from one pointer, and next hops toward what sits behind a peer
 * are the peer's endpoint's. The ruleset owns @p set from here and
 * frees it with itself (mg_esp_set_free()).
 *
 * Thread safety: control plane, before the ruleset is published.
 */
void mg_ruleset_set_esp(struct mg_ruleset *rs, struct mg_esp_set *set);

/** The ESP set attached to @p rs, or NULL. Lock-free. */
const struct mg_esp_set *mg_ruleset_esp(const struct mg_ruleset *rs);

/**
 * Whether a service has @p t's destination address, port and protocol:
 * the check a SYN answered with a cookie needs, without the caller's
 * identity.
 *
 * Thread safety: lock-free.
 */
bool mg_ruleset_is_service(const struct mg_ruleset *rs,
			   const struct mg_5tuple *t);

/**
 * Whether IP traffic for no service and not for the gateway leaves
 * unchanged (unmatched = "forward", wire mode) rather than being
 * dropped. Part of the ruleset so that a reload changes it together
 * with the services. Thread safety: lock-free.
 */
bool mg_ruleset_forward_unmatched(const struct mg_ruleset *rs);

/**
 * Passive health parameters of a service, for the worker's reports
 * (mg_health_report()) and its connect timeout. Converted to TSC cycles
 * of the health table's clock (rte_get_tsc_hz() without a table);
 * enabled is false when the service disables health or the ruleset was
 * built without a table.
 *
 * @return The parameters, or NULL for an unknown service.
 *
 * Thread safety: lock-free; valid as long as the ruleset.
 */
const struct mg_health_params *
mg_ruleset_health_params(const struct mg_ruleset *rs, uint16_t service);

/** mg_ruleset_health_report(): the first service listing the backend. */
#define MG_RULESET_ANY_SERVICE UINT16_MAX

/**
 * Report evidence about a backend's health (mg_health_report()) under
 * this ruleset: the service's parameters, and as limits every version
 * (per address family) that lists the backend, each with its cap:
 * max_ejected_percent of the version's backends of that family, rounded
 * down; at least one for a canary version (unless the percentage is 0);
 * at most all but one for any other, so a stable version never loses
 * its last backend.
 *
 * @param rs       Ruleset in force.
 * @param service  The connection's service in @p rs (after a reload,
 *                 as mg_ruleset_service_of_id() gives it), or
 *                 MG_RULESET_ANY_SERVICE for evidence that belongs to
 *                 the backend alone (an unresolved next hop): the first
 *                 service that lists it.
 * @param backend  Health index (struct mg_decision.health_idx).
 * @param ev       What happened.
 * @param now      TSC.
 * @return What changed; MG_HEALTH_NO_CHANGE also when the ruleset has
 *         no health table, the service is unknown, or the index was
 *         registered after this ruleset was built. A backend no version
 *         of the ruleset lists any more has no cap.
 *
 * Thread safety: lock-free, any number of concurrent callers.
 */
enum mg_health_event mg_ruleset_health_report(const struct mg_ruleset *rs,
					      uint16_t service,
					      uint32_t backend,
					      enum mg_health_evidence ev,
					      uint64_t now);

/**
 * After a reload: make the health table's groups match this ruleset's
 * versions and caps (mg_health_group_sync() for each version and
 * family). Call once it is in force and the ruleset before it can no
 * longer be read by any worker.
 *
 * @return Backends returned to service because their version had no
 *         room left for their ejection.
 *
 * Thread safety: control plane, concurrent with workers' reports.
 */
unsigned int mg_ruleset_health_sync(const struct mg_ruleset *rs, uint64_t now);

/**
 * How many backends of family @p family (4 or 6) of a version may be
 * out at once.
 *
 * @return The cap, or -EINVAL for an unknown service, version or family.
 *
 * Thread safety: lock-free (a read of the immutable ruleset).
 */
int mg_ruleset_health_cap(const struct mg_ruleset *rs, uint16_t service,
			  uint8_t version, uint8_t family);

/** Stable name of an enum mg_pick ("weight", "pinned", ...). */
const char *mg_ruleset_pick_name(enum mg_pick pick);

/** The bit of mg_ruleset_hdr.local_filter for an address of either
 * family, bytes as in struct mg_5tuple (or mg_addr.bytes). */
static inline unsigned int
mg_ruleset_local_bit(const uint8_t *bytes)
{
	return (unsigned int)(bytes[3] ^ bytes[15]);
}

/**
 * Whether @p bytes (an address of either family, as in struct mg_5tuple)
 * may belong to the gateway: false means mg_ruleset_is_local() is false
 * for it on every port; true, that it must be asked. Inline: every frame
 * for no service asks, and few are the gateway's.
 *
 * Thread safety: lock-free (the ruleset is immutable once published).
 */
static inline bool
mg_ruleset_maybe_local(const struct mg_ruleset *rs, const uint8_t *bytes)
{
	const struct mg_ruleset_hdr *h = (const struct mg_ruleset_hdr *)rs;
	unsigned int bit = mg_ruleset_local_bit(bytes);

	return (h->local_filter[bit / 64] >> (bit % 64)) & 1;
}

/**
 * Whether @p addr (family 4 or 6; bytes as in struct mg_5tuple) belongs to
 * the gateway on port index @p port: one of its own addresses or a
 * service's virtual address. ARP/ND and ICMP echo answer for these.
 *
 * Thread safety: lock-free.
 */
bool mg_ruleset_is_local(const struct mg_ruleset *rs, unsigned int port,
			 const struct mg_addr *addr);

/**
 * Whether @p addr is the gateway's on any port (one of its own addresses)
 * or a service's virtual address. No caller has such a source: a
 * connection from one is spoofed (a "martian" source, RFC 1812 5.3.7),
 * and its replies would go to the gateway itself.
 *
 * Thread safety: lock-free.
 */
bool mg_ruleset_is_gateway_addr(const struct mg_ruleset *rs,
				const struct mg_addr *addr);

/**
 * Next hop for @p dst leaving on port index @p port: @p dst itself when
 * on-link (inside one of the port's address prefixes), else the port's
 * gateway for that family. A destination behind an ESP peer (its
 * prefixes, its services' backends) is reached through the peer's
 * endpoint: the next hop is that of the endpoint.
 *
 * @return true with *nh set, false when there is no route.
 *
 * Thread safety: lock-free.
 */
bool mg_ruleset_next_hop(const struct mg_ruleset *rs, unsigned int port,
			 const struct mg_addr *dst, struct mg_addr *nh);

/**
 * The gateway's source address for talking to @p peer on port index
 * @p port (ARP/ND requests): the port address whose prefix holds @p peer,
 * else the first of the same family.
 *
 * @return true with *src set, false if the port has none of that family.
 *
 * Thread safety: lock-free.
 */
bool mg_ruleset_local_addr(const struct mg_ruleset *rs, unsigned int port,
			   const struct mg_addr *peer, struct mg_addr *src);

/**
 * Static neighbour MAC of @p addr, if the config gave one.
 *
 * @return true with mac[0..5] set.
 */
bool mg_ruleset_static_neigh(const struct mg_ruleset *rs,
			     const struct mg_addr *addr, uint8_t mac[6]);

/**
 * The telemetry label sets (mg_telemetry_labelset()) of every caller of
 * a version: its traffic summed is the version's (canary rollback).
 * The shared overflow slot 0 is left out.
 *
 * @return How many were written to @p slots (at most @p max); 0 for an
 *         unknown service or version.
 *
 * Thread safety: lock-free.
 */
unsigned int mg_ruleset_version_labels(const struct mg_ruleset *rs,
				       uint16_t service, uint8_t version,
				       uint32_t *slots, unsigned int max);

/** Sizes, for telemetry and names of ids in decisions. */
unsigned int mg_ruleset_n_services(const struct mg_ruleset *rs);
unsigned int mg_ruleset_n_identities(const struct mg_ruleset *rs);
unsigned int mg_ruleset_n_rules(const struct mg_ruleset *rs);
const char *mg_ruleset_service_name(const struct mg_ruleset *rs,
				    uint16_t service);
const char *mg_ruleset_version_name(const struct mg_ruleset *rs,
				    uint16_t service, uint8_t version);
/** "unknown" for MG_IDENTITY_UNKNOWN. */
const char *mg_ruleset_identity_name(const struct mg_ruleset *rs,
				     uint16_t identity);
/** "default-deny" for MG_RULE_DEFAULT. */
const char *mg_ruleset_rule_name(const struct mg_ruleset *rs, uint16_t rule);

/**
 * Name of the rule whose telemetry slot is @p slot (the slot a layer-7
 * decision reports, struct mg_l7_trace): a scan of the rules, for
 * reports, not the fast path.
 *
 * @return The name, "default-deny", or "unknown" when no rule of this
 *         ruleset has the slot (the telemetry registry overflowed).
 *
 * Thread safety: lock-free.
 */
const char *mg_ruleset_rule_name_of_slot(const struct mg_ruleset *rs,
					 uint32_t slot);

#ifdef __cplusplus
}
#endif

#endif /* MG_RULESET_H */
