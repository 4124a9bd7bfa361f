/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* What lib/ruleset's two files share: the layout of a built ruleset
 * (mg_ruleset.c writes it once, rs_lookup.c reads it) and the small
 * helpers both use. Not installed: mg_ruleset.h is the public header. */

#ifndef RS_PRIVATE_H
#define RS_PRIVATE_H

#include <string.h>

#include <rte_rib.h>
#include <rte_rib6.h>

#include "mg_ruleset.h"

/*
 * Version choice: hash & (PICK_SLOTS - 1) indexes a table of version
 * numbers filled in proportion to the weights (VPP lb style), so the fast
 * path does one load whatever the number of versions. 2^14 slots give a
 * resolution of 1/16384, finer than the 1/10,000 the config promises.
 */
#define PICK_BITS  MG_CANARY_PICK_BITS
#define PICK_SLOTS MG_CANARY_PICK_SLOTS
/* The backend within a version comes from the top half of the hash,
 * which the version pick does not use. */
#define BACKEND_SHIFT 16
/*
 * Maglev tables are sized for the most backends a version may have, not
 * for the ones it has: a table of another size would share nothing with
 * the previous one, and every connection would move on a reload that
 * adds a backend. mg_maglev_size(32) = 4099 slots of 2 bytes.
 */
#define MAGLEV_FOR MG_CONF_MAX_BACKENDS
/* Slots looked at after an ejected backend's before counting the ones
 * up: with half the backends down, 32 all-down slots in a row happen
 * once in 4e9. */
#define MAGLEV_WALK 32
/* No Maglev table: fewer than two backends of that family. */
#define NO_TABLE UINT32_MAX
/* No pinned or canary version. */
#define NO_VERSION UINT8_MAX

/* (family, address, protocol) as bytes, so keys sort and compare with
 * memcmp. */
#define VIP_KEY_LEN 18

/* One virtual address and protocol, and the port ranges behind it. */
struct rs_vip {
	uint8_t key[VIP_KEY_LEN];
	uint16_t first; /* into ranges[], sorted by lo, disjoint */
	uint16_t n;
};

struct rs_range {
	uint16_t lo;
	uint16_t hi;
	uint16_t service;
};

struct rs_backend {
	struct mg_addr addr;
	uint16_t port;	 /* network order; 0 keeps the client's port */
	uint32_t health; /* index in the health table, or MG_HEALTH_NONE */
};

/* A version's backends, IPv4 ones first: a connection only ever goes to
 * a backend of its own family (no NAT64). */
struct rs_version {
	uint16_t first_backend;
	uint16_t n_backends4;
	uint16_t n_backends6;
	uint32_t weight;
	/* [0] IPv4, [1] IPv6: offset of the Maglev table in rs->maglev,
	 * whose entries count from the family's first backend; NO_TABLE
	 * for fewer than two backends */
	uint32_t maglev[2];
	/* [0] IPv4, [1] IPv6: the health group of the family's backends
	 * (MG_HEALTH_NONE without a table or backends) and how many may
	 * be out at once */
	uint32_t group[2];
	uint32_t cap[2];
	uint16_t service; /* the service it belongs to */
	char name[MG_CONF_NAME_LEN];
};

struct rs_service {
	uint16_t first_version;
	uint8_t n_versions;
	uint8_t canary;	     /* version index, or NO_VERSION */
	bool check_health;   /* enabled, and the ruleset has a table */
	const uint8_t *pick; /* PICK_SLOTS version numbers; NULL: one */
	struct mg_health_params health;
	char name[MG_CONF_NAME_LEN];
};

/* The precomputed outcome of one (identity, service) pair. */
struct rs_cell {
	uint16_t rule;
	uint16_t dry_rule;
	uint8_t verdict;
	uint8_t pin;	     /* pinned version, or NO_VERSION */
	uint8_t deny_action; /* enum mg_deny_action, for MG_VERDICT_DENY */
};

struct rs_neigh {
	struct mg_addr addr;
	uint8_t mac[6];
};

struct rs_port {
	unsigned int n_addrs;
	struct mg_prefix addrs[MG_CONF_MAX_ADDRS];
	struct mg_addr gateway4;
	struct mg_addr gateway6;
};

/* One allocation holds this header and every table after it. */
struct mg_ruleset {
	/* first: the fast path reads it inline (mg_ruleset.h): the id maps
	 * (in ids_mem, rs_ids.c) and the limits by id */
	struct mg_ruleset_hdr hdr;
	/* index -> id: [service], [identity] (0: the unknown identity),
	 * [rule] */
	const uint16_t *service_id;
	const uint16_t *identity_id;
	const uint16_t *rule_id;
	uint16_t *ids_mem;	/* the C heap: the maps and the arrays above */
	bool forward_unmatched; /* unmatched = "forward" (wire mode) */
	/*
	 * Identity tries, next hop = identity id. A trie costs ~3 KiB plus
	 * ~400 bytes a prefix where rte_lpm/rte_lpm6 took 64 MiB each up
	 * front, and its speed is plenty for one lookup per connection.
	 * NULL when the config has no prefix of that family.
	 */
	struct rte_rib *rib4;
	struct rte_rib6 *rib6;

	unsigned int n_vips;
	const struct rs_vip *vips;
	const struct rs_range *ranges;
	unsigned int n_local; /* distinct VIP addresses, sorted */
	const struct mg_addr *local;

	unsigned int n_services;
	unsigned int n_versions; /* of all services */
	const struct rs_service *services;
	const struct rs_version *versions;
	const struct rs_backend *backends;
	const uint16_t *maglev; /* every version's tables, maglev_m each */
	uint32_t maglev_m;
	struct mg_health *health; /* shared, outlives us; NULL: all up */
	/* by health index below n_health: the groups (versions, per
	 * family) the backend is in, limits[limit_first[i] ..
	 * limit_first[i + 1]), and the first service that lists it */
	uint32_t n_health;
	uint32_t *limit_first;
	struct mg_health_limit *limits;
	uint16_t *health_service;

	/* canary chains: backend addresses of every canary version, sorted
	 * (callers from them reach canary versions) */
	unsigned int n_chain;
	const struct mg_addr *chain;

	unsigned int n_identities; /* configured ones; ids 1..n */
	unsigned int n_rules;
	const struct rs_cell *matrix; /* [identity][service] */
	const char (*identity_names)[MG_CONF_NAME_LEN];
	const char (*rule_names)[MG_CONF_NAME_LEN];

	unsigned int n_neigh;
	const struct rs_neigh *neigh; /* sorted by address */

	unsigned int n_ports;
	struct rs_port ports[MG_CONF_MAX_PORTS];

	/* telemetry series: [identity][version across all services] for
	 * the pairs the policy lets through, and one per rule (the last is
	 * the default deny); separate allocations, 0 = overflow */
	unsigned int n_all_versions;
	uint32_t *label_slot;
	uint32_t *rule_slot;
	bool telemetry;	  /* slots registered in lib/telemetry */
	struct mg_l7 *l7; /* layer-7 rules and their Hyperscan databases */
	/* caller limits: compiled ones, [identity][service] -> index + 1
	 * (0: none), table id -> the limit (NULL: none) */
	unsigned int n_climits;
	struct mg_ruleset_limit *climits;
	uint8_t *climit_cell;
	const struct mg_ruleset_limit **climit_by_id; /* hdr's, writable
						       * while building */
	uint8_t *climit_meter;			      /* hdr's too */
	struct mg_esp_set *esp; /* ESP peers of the same config, or NULL */
};

static inline void
vip_key(uint8_t key[VIP_KEY_LEN], const struct mg_addr *a, uint8_t proto)
{
	key[0] = a->family;
	memcpy(key + 1, a->bytes, sizeof(a->bytes));
	key[VIP_KEY_LEN - 1] = proto;
}

static inline int
cmp_addr(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct mg_addr));
}

/* rte_rib wants IPv4 addresses in host order. */
static inline uint32_t
ipv4_host(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/*
 * Register @p conf's service, identity and rule names in the process's
 * id registry (rs_ids.c) and fill @p rs's maps: index -> id and id ->
 * index. All or nothing: when a kind would pass MG_RULESET_MAX_NAMES,
 * nothing is registered and -ENOSPC returned (@p err says which);
 * -ENOMEM. Control plane; takes the registry's lock.
 */
int rs_ids_build(struct mg_ruleset *rs, const struct mg_conf *conf, char *err,
		 size_t errlen);

#endif /* RS_PRIVATE_H */
