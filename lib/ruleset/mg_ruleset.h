/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * The immutable runtime ruleset: a validated config compiled into the
 * tables the fast path reads — identity tries (rte_rib, v4 and v6), service
 * lookup by (address, protocol, port), the identity x service policy matrix,
 * backend choice, and the gateway's own addresses and static neighbours.
 *
 * A ruleset never changes once built. The control plane publishes a new
 * one by swapping a pointer and frees the old one after an RCU grace
 * period; workers load the pointer once per burst.
 */

#ifndef MG_RULESET_H
#define MG_RULESET_H

#include <stdbool.h>
#include <stdint.h>

#include "mg_conf.h"
#include "mg_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Identity id of a source no identity prefix covers. */
#define MG_IDENTITY_UNKNOWN 0
/** Rule id when no rule matched (default deny). */
#define MG_RULE_DEFAULT 0xffff

/** What the policy says about a new connection. */
enum mg_verdict {
	MG_VERDICT_DENY = 0,	   /**< drop */
	MG_VERDICT_ALLOW,	   /**< forward */
	MG_VERDICT_ALLOW_DRY_DENY, /**< forward; a dry-run rule would deny */
};

/** Outcome of classifying a connection's first packet. */
struct mg_decision {
	uint16_t service;  /**< index into the config's services */
	uint16_t identity; /**< 1 + index into identities; 0 = unknown */
	uint16_t rule;	   /**< deciding policy index, or MG_RULE_DEFAULT */
	uint16_t dry_rule; /**< dry-run rule that would deny, or DEFAULT */
	uint8_t verdict;   /**< enum mg_verdict */
	uint8_t version;   /**< index into the service's versions */
	uint16_t backend;  /**< index into that version's backends */
	struct mg_addr backend_addr;
	uint16_t backend_port; /**< network order */
};

struct mg_ruleset;

/**
 * Compile a config into a ruleset.
 *
 * @param conf    Validated config; not referenced after the call.
 * @param socket  NUMA socket for the tables (SOCKET_ID_ANY allowed).
 * @param err     Receives a message on failure.
 * @param errlen  Size of @p err.
 * @return The ruleset, or NULL with rte_errno set (ENOMEM, EINVAL).
 *
 * Thread safety: may run on any thread, concurrently with workers reading
 * another ruleset. Tries get unique names per build.
 */
struct mg_ruleset *mg_ruleset_build(const struct mg_conf *conf, int socket,
				    char *err, size_t errlen);

/** Free a ruleset. NULL accepted. Only after no worker can read it. */
void mg_ruleset_free(struct mg_ruleset *rs);

/**
 * Classify the first packet of a connection (client -> virtual address).
 *
 * @param rs    Ruleset.
 * @param t     The packet's 5-tuple.
 * @param hash  A hash of the tuple; picks the version and backend
 *              (weight-proportional), so a connection's choice is stable.
 * @param d     Filled when a service matches.
 * @return true if @p t is addressed to a service (d is filled, whatever
 *         the verdict), false if no service has that address and port.
 *
 * Thread safety: lock-free; any number of concurrent readers.
 */
bool mg_ruleset_classify(const struct mg_ruleset *rs, const struct mg_5tuple *t,
			 uint32_t hash, struct mg_decision *d);

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
 * Next hop for @p dst leaving on port index @p port: @p dst itself when
 * on-link (inside one of the port's address prefixes), else the port's
 * gateway for that family.
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

#ifdef __cplusplus
}
#endif

#endif /* MG_RULESET_H */
