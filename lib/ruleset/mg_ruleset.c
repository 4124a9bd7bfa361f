/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * A validated config compiled into the immutable tables a worker reads
 * when it classifies the first packet of a connection. Everything that
 * can be decided ahead of time is: the policy verdict and pinned version
 * of every (identity, service) pair, the version slots of every weighted
 * service and the Maglev table of every version, so the fast path is
 * lookups and array indexing only. Passive health is the one input that
 * changes under a ruleset; it is read, never written, here.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rib.h>
#include <rte_rib6.h>

#include "mg_ruleset.h"
#include "mg_telemetry.h"

/*
 * Version choice: hash & (PICK_SLOTS - 1) indexes a table of version
 * numbers filled in proportion to the weights (VPP lb style), so the fast
 * path does one load whatever the number of versions. 2^14 slots give a
 * resolution of 1/16384, finer than the 1/10,000 the config promises.
 */
#define PICK_BITS  14
#define PICK_SLOTS (1u << PICK_BITS)
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
	uint32_t generation;	/* build sequence number, unique per process */
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
	bool telemetry; /* slots registered in lib/telemetry */
	struct mg_l7 *l7; /* layer-7 rules and their Hyperscan databases */
	/* caller limits: compiled ones, [identity][service] -> index + 1
	 * (0: none), table id -> index + 1 */
	unsigned int n_climits;
	struct mg_ruleset_limit *climits;
	uint8_t *climit_cell;
	uint32_t n_climit_ids;
	uint8_t *climit_by_id;
	struct mg_esp_set *esp; /* ESP peers of the same config, or NULL */
};

/* Makes RIB names unique across concurrent and successive builds. */
static uint32_t build_seq;

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
vip_key(uint8_t key[VIP_KEY_LEN], const struct mg_addr *a, uint8_t proto)
{
	key[0] = a->family;
	memcpy(key + 1, a->bytes, sizeof(a->bytes));
	key[VIP_KEY_LEN - 1] = proto;
}

static int
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

/* ---- layout: sizes first, then one allocation carved in place ---- */

struct layout {
	size_t size;
	size_t vips, ranges, local, services, versions, backends, pick;
	size_t maglev, chain;
	size_t matrix, identity_names, rule_names, neigh;
	unsigned int n_vip_ranges; /* (vip, proto, range) triples */
	unsigned int n_local_max;
	unsigned int n_versions, n_backends, n_picks;
	unsigned int n_tables; /* Maglev tables */
	unsigned int n_chain_max;
};

/* Cache-line aligned offset of the next @p size bytes. */
static size_t
carve(struct layout *l, size_t size)
{
	size_t at = RTE_ALIGN_CEIL(l->size, RTE_CACHE_LINE_SIZE);

	l->size = at + size;
	return at;
}

/* Backends of @p v of @p family. */
static unsigned int
count_family(const struct mg_version_conf *v, uint8_t family)
{
	unsigned int k, n = 0;

	for (k = 0; k < v->n_backends; k++)
		n += v->backends[k].addr.family == family;
	return n;
}

static void
plan(const struct mg_conf *conf, struct layout *l)
{
	unsigned int i, j;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < conf->n_services; i++) {
		const struct mg_service_conf *s = &conf->services[i];

		l->n_vip_ranges += s->n_vips * s->n_ports;
		l->n_local_max += s->n_vips;
		l->n_versions += s->n_versions;
		l->n_picks += s->n_versions > 1;
		for (j = 0; j < s->n_versions; j++) {
			const struct mg_version_conf *v = &s->versions[j];

			l->n_backends += v->n_backends;
			l->n_tables += count_family(v, 4) > 1;
			l->n_tables += count_family(v, 6) > 1;
			if (v->canary)
				l->n_chain_max += v->n_backends;
		}
	}
	l->size = sizeof(struct mg_ruleset);
	l->vips = carve(l, l->n_vip_ranges * sizeof(struct rs_vip));
	l->ranges = carve(l, l->n_vip_ranges * sizeof(struct rs_range));
	l->local = carve(l, l->n_local_max * sizeof(struct mg_addr));
	l->services = carve(l, conf->n_services * sizeof(struct rs_service));
	l->versions = carve(l, l->n_versions * sizeof(struct rs_version));
	l->backends = carve(l, l->n_backends * sizeof(struct rs_backend));
	l->pick = carve(l, (size_t)l->n_picks * PICK_SLOTS);
	l->maglev = carve(l, (size_t)l->n_tables * mg_maglev_size(MAGLEV_FOR) *
				     sizeof(uint16_t));
	l->chain = carve(l, l->n_chain_max * sizeof(struct mg_addr));
	l->matrix = carve(l, (size_t)(conf->n_identities + 1) *
				     conf->n_services * sizeof(struct rs_cell));
	l->identity_names =
		carve(l, (conf->n_identities + 1) * MG_CONF_NAME_LEN);
	l->rule_names = carve(l, conf->n_policies * MG_CONF_NAME_LEN);
	l->neigh = carve(l, conf->n_neighbours * sizeof(struct rs_neigh));
}

/* The library trusts mg_conf_load() for the fine rules but not for the
 * bounds its tables are sized by, nor for what would divide by zero. */
static bool
conf_sane(const struct mg_conf *conf, char *err, size_t errlen)
{
	unsigned int i, j;
	uint64_t total;

	if (conf->n_identities > MG_CONF_MAX_IDENTITIES ||
	    conf->n_services > MG_CONF_MAX_SERVICES ||
	    conf->n_policies > MG_CONF_MAX_POLICIES ||
	    conf->n_neighbours > MG_CONF_MAX_NEIGHBOURS ||
	    conf->n_ports > MG_CONF_MAX_PORTS) {
		set_err(err, errlen, "config exceeds the MG_CONF_MAX_* bounds");
		return false;
	}
	for (i = 0; i < conf->n_services; i++) {
		const struct mg_service_conf *s = &conf->services[i];

		if (s->n_versions == 0 ||
		    s->n_versions > MG_CONF_MAX_VERSIONS ||
		    s->n_vips > MG_CONF_MAX_VIPS ||
		    s->n_ports > MG_CONF_MAX_PORT_RANGES) {
			set_err(err, errlen, "service '%s' is malformed",
				s->name);
			return false;
		}
		if (s->n_routes > MG_CONF_MAX_ROUTES) {
			set_err(err, errlen, "service '%s' is malformed",
				s->name);
			return false;
		}
		for (j = 0; j < s->n_routes; j++)
			if (s->routes[j].version >= s->n_versions ||
			    s->routes[j].n_from > MG_CONF_MAX_REFS) {
				set_err(err, errlen,
					"route %u of service '%s' is malformed",
					j, s->name);
				return false;
			}
		total = 0;
		for (j = 0; j < s->n_versions; j++) {
			if (s->versions[j].n_backends == 0 ||
			    s->versions[j].n_backends > MG_CONF_MAX_BACKENDS) {
				set_err(err, errlen,
					"version '%s' of service '%s' has "
					"no backends",
					s->versions[j].name, s->name);
				return false;
			}
			total += s->versions[j].weight;
		}
		if (total == 0 || total > MG_CONF_MAX_WEIGHT_TOTAL) {
			set_err(err, errlen,
				"weights of service '%s' add up to %llu",
				s->name, (unsigned long long)total);
			return false;
		}
	}
	for (i = 0; i < conf->n_identities; i++)
		if (conf->identities[i].n_prefixes > MG_CONF_MAX_PREFIXES) {
			set_err(err, errlen, "identity '%s' is malformed",
				conf->identities[i].name);
			return false;
		}
	return true;
}

/* ---- identities ---- */

/* Prefixes of @p family over all identities. */
static unsigned int
count_prefixes(const struct mg_conf *conf, uint8_t family)
{
	unsigned int i, j, n = 0;

	for (i = 0; i < conf->n_identities; i++)
		for (j = 0; j < conf->identities[i].n_prefixes; j++)
			n += conf->identities[i].prefixes[j].addr.family ==
			     family;
	return n;
}

/* Why rte_rib(6)_insert() refused prefix @p p of identity @p id. */
static int
insert_err(const struct mg_conf *conf, unsigned int id,
	   const struct mg_prefix *p, char *err, size_t errlen)
{
	int e = rte_errno;
	char buf[64];

	mg_addr_format(&p->addr, buf, sizeof(buf));
	/* mg_conf_load() rejects these; an rte_lpm would have overwritten */
	if (e == EEXIST) {
		set_err(err, errlen,
			"prefix %s/%u of identity '%s' is given twice", buf,
			p->len, conf->identities[id].name);
		return -EINVAL;
	}
	set_err(err, errlen, "cannot add prefix %s/%u of identity '%s': %s",
		buf, p->len, conf->identities[id].name, rte_strerror(e));
	return -e;
}

/* An identity trie per family, only for a family that has prefixes. */
static int
create_ribs(struct mg_ruleset *rs, const struct mg_conf *conf, int socket,
	    uint32_t seq, char *err, size_t errlen)
{
	/*
	 * rte_rib_insert() takes at most two nodes from the pool for a
	 * prefix: its own and one branching node above it (a prefix that
	 * lands on an existing branching node takes one and gives one
	 * back). 2 nodes per prefix never run out. A /0 is an ordinary
	 * node, no special case.
	 */
	unsigned int n4 = count_prefixes(conf, 4), n6 = count_prefixes(conf, 6);
	char name[32];

	if (n4 != 0) {
		struct rte_rib_conf cfg = { .max_nodes = (int)(2 * n4) };

		snprintf(name, sizeof(name), "mg_id4_%u", seq);
		rs->rib4 = rte_rib_create(name, socket, &cfg);
	}
	if (n6 != 0) {
		struct rte_rib6_conf cfg = { .max_nodes = (int)(2 * n6) };

		snprintf(name, sizeof(name), "mg_id6_%u", seq);
		rs->rib6 = rte_rib6_create(name, socket, &cfg);
	}
	if ((n4 != 0 && rs->rib4 == NULL) || (n6 != 0 && rs->rib6 == NULL)) {
		set_err(err, errlen, "cannot create an identity RIB: %s",
			rte_strerror(rte_errno));
		return -rte_errno;
	}
	return 0;
}

/* Every identity prefix into the trie of its family, next hop = id. */
static int
build_ribs(struct mg_ruleset *rs, const struct mg_conf *conf, int socket,
	   uint32_t seq, char *err, size_t errlen)
{
	unsigned int i, j;
	int ret;

	ret = create_ribs(rs, conf, socket, seq, err, errlen);
	if (ret < 0)
		return ret;
	for (i = 0; i < conf->n_identities; i++)
		for (j = 0; j < conf->identities[i].n_prefixes; j++) {
			const struct mg_prefix *p =
				&conf->identities[i].prefixes[j];
			struct rte_rib6_node *n6 = NULL;
			struct rte_rib_node *n4 = NULL;

			if (p->addr.family == 4)
				n4 = rte_rib_insert(rs->rib4,
						    ipv4_host(p->addr.bytes),
						    p->len);
			else
				n6 = rte_rib6_insert(rs->rib6, p->addr.bytes,
						     p->len);
			if (n4 == NULL && n6 == NULL)
				return insert_err(conf, i, p, err, errlen);
			if (n4 != NULL)
				rte_rib_set_nh(n4, i + 1);
			else
				rte_rib6_set_nh(n6, i + 1);
		}
	return 0;
}

/* Lookups only read the trie, which never changes after the build. */
static uint16_t
identity_of(const struct mg_ruleset *rs, uint8_t family, const uint8_t *src)
{
	struct rte_rib6_node *n6;
	struct rte_rib_node *n4;
	uint64_t nh = MG_IDENTITY_UNKNOWN;

	if (family == 4 && rs->rib4 != NULL) {
		n4 = rte_rib_lookup(rs->rib4, ipv4_host(src));
		if (n4 != NULL)
			rte_rib_get_nh(n4, &nh);
	} else if (family == 6 && rs->rib6 != NULL) {
		n6 = rte_rib6_lookup(rs->rib6, src);
		if (n6 != NULL)
			rte_rib6_get_nh(n6, &nh);
	}
	return (uint16_t)nh;
}

/* ---- services ---- */

/* One (vip, proto, port range) before grouping. */
struct vip_range {
	uint8_t key[VIP_KEY_LEN];
	struct rs_range range;
};

static int
cmp_vip_range(const void *a, const void *b)
{
	const struct vip_range *x = a, *y = b;
	int c = memcmp(x->key, y->key, VIP_KEY_LEN);

	if (c != 0)
		return c;
	return (int)x->range.lo - (int)y->range.lo;
}

static int
build_services(struct mg_ruleset *rs, const struct mg_conf *conf,
	       const struct layout *l, char *err, size_t errlen)
{
	struct rs_vip *vips = (struct rs_vip *)((char *)rs + l->vips);
	struct rs_range *ranges = (struct rs_range *)((char *)rs + l->ranges);
	struct mg_addr *local = (struct mg_addr *)((char *)rs + l->local);
	struct vip_range *all;
	unsigned int i, j, k, n = 0, nv = 0, nl = 0;

	all = calloc(RTE_MAX(l->n_vip_ranges, 1u), sizeof(*all));
	if (all == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < conf->n_services; i++) {
		const struct mg_service_conf *s = &conf->services[i];

		for (j = 0; j < s->n_vips; j++) {
			local[nl++] = s->vips[j];
			for (k = 0; k < s->n_ports; k++) {
				vip_key(all[n].key, &s->vips[j], s->proto);
				all[n].range = (struct rs_range){
					.lo = s->ports[k].lo,
					.hi = s->ports[k].hi,
					.service = (uint16_t)i,
				};
				n++;
			}
		}
	}
	qsort(all, n, sizeof(*all), cmp_vip_range);
	for (i = 0; i < n; i++) {
		bool same = nv > 0 && memcmp(vips[nv - 1].key, all[i].key,
					     VIP_KEY_LEN) == 0;

		/* binary search over ranges relies on them being disjoint */
		if (same && ranges[i - 1].hi >= all[i].range.lo) {
			set_err(err, errlen,
				"services '%s' and '%s' share an address, "
				"protocol and port",
				conf->services[ranges[i - 1].service].name,
				conf->services[all[i].range.service].name);
			free(all);
			return -EINVAL;
		}
		if (!same) {
			memcpy(vips[nv].key, all[i].key, VIP_KEY_LEN);
			vips[nv].first = (uint16_t)i;
			nv++;
		}
		vips[nv - 1].n++;
		ranges[i] = all[i].range;
	}
	free(all);
	qsort(local, nl, sizeof(*local), cmp_addr);
	for (i = 0, j = 0; i < nl; i++)
		if (j == 0 || cmp_addr(&local[j - 1], &local[i]) != 0)
			local[j++] = local[i];
	rs->vips = vips;
	rs->n_vips = nv;
	rs->ranges = ranges;
	rs->local = local;
	rs->n_local = j;
	return 0;
}

static const struct rs_vip *
find_vip(const struct mg_ruleset *rs, const uint8_t key[VIP_KEY_LEN])
{
	unsigned int lo = 0, hi = rs->n_vips;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int c = memcmp(key, rs->vips[mid].key, VIP_KEY_LEN);

		if (c == 0)
			return &rs->vips[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The service index for @p port (host order), or -1. */
static int
find_service(const struct mg_ruleset *rs, const struct rs_vip *v, uint16_t port)
{
	const struct rs_range *r = &rs->ranges[v->first];
	unsigned int lo = 0, hi = v->n;

	/* last range with lo <= port */
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (r[mid].lo <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || r[lo - 1].hi < port)
		return -1;
	return r[lo - 1].service;
}

/*
 * Fills the PICK_SLOTS slots of @p table with version numbers in
 * proportion to the weights: largest-remainder counts, at least one slot
 * for every non-zero weight (a 1-in-a-million canary gets 1/16384 rather
 * than nothing), then interleaved by smooth weighted round robin so that
 * a hash weak in its low bits still spreads.
 */
static void
build_pick(const struct mg_service_conf *s, uint8_t *table)
{
	int64_t rem[MG_CONF_MAX_VERSIONS], cur[MG_CONF_MAX_VERSIONS] = { 0 };
	uint32_t count[MG_CONF_MAX_VERSIONS];
	unsigned int v, best, slot, given = 0;
	uint64_t total = 0;

	for (v = 0; v < s->n_versions; v++)
		total += s->versions[v].weight;
	for (v = 0; v < s->n_versions; v++) {
		uint64_t q = (uint64_t)s->versions[v].weight * PICK_SLOTS;

		count[v] = (uint32_t)(q / total);
		rem[v] = (int64_t)(q % total);
		given += count[v];
	}
	while (given < PICK_SLOTS) {
		for (best = 0, v = 1; v < s->n_versions; v++)
			if (rem[v] > rem[best])
				best = v;
		count[best]++;
		rem[best] = -1;
		given++;
	}
	for (v = 0; v < s->n_versions; v++) {
		if (s->versions[v].weight == 0 || count[v] > 0)
			continue;
		for (best = 0, slot = 1; slot < s->n_versions; slot++)
			if (count[slot] > count[best])
				best = slot;
		count[best]--;
		count[v]++;
	}
	for (slot = 0; slot < PICK_SLOTS; slot++) {
		for (v = 0; v < s->n_versions; v++)
			cur[v] += count[v];
		for (best = 0, v = 1; v < s->n_versions; v++)
			if (cur[v] > cur[best])
				best = v;
		table[slot] = (uint8_t)best;
		cur[best] -= PICK_SLOTS;
	}
}

/*
 * How many of a version's @p n backends of one family may be out at
 * once: max_ejected_percent of them, rounded down; a canary version may
 * always lose one (unless the percentage is 0), a stable version never
 * its last, so a caller that makes backends fail cannot push all of a
 * service's traffic onto its canary.
 */
static uint32_t
group_cap(uint32_t n, uint32_t percent, bool canary)
{
	uint32_t cap = n * RTE_MIN(percent, 100u) / 100;

	if (n == 0)
		return 0;
	if (canary)
		return percent > 0 ? RTE_MAX(cap, 1u) : 0;
	return RTE_MIN(cap, n - 1);
}

/* The group of version @p v's backends of family @p fam (4 or 6). */
static int
register_group(struct mg_ruleset *rs, const struct mg_service_conf *s,
	       const struct mg_version_conf *v, unsigned int fam,
	       uint32_t *group, char *err, size_t errlen)
{
	char key[MG_HEALTH_KEY_LEN];
	int idx;

	*group = MG_HEALTH_NONE;
	if (rs->health == NULL || count_family(v, (uint8_t)fam) == 0)
		return 0;
	snprintf(key, sizeof(key), "%s/%s/v%u", s->name, v->name, fam);
	idx = mg_health_group(rs->health, key);
	if (idx < 0) {
		set_err(err, errlen,
			"cannot track the ejections of version '%s' of "
			"service '%s': %s",
			v->name, s->name, strerror(-idx));
		return idx;
	}
	*group = (uint32_t)idx;
	return 0;
}

/* ms -> cycles of the clock that mg_ruleset_classify()'s `now` reads. */
static void
health_params(const struct mg_health_conf *c, uint64_t hz, bool enabled,
	      struct mg_health_params *p)
{
	p->enabled = enabled && c->enabled;
	p->connect_timeout_tsc = hz * c->connect_timeout_ms / 1000;
	p->eject_after = c->eject_after;
	p->base_ejection_tsc = hz * c->base_ejection_ms / 1000;
	p->max_ejection_tsc = hz * c->max_ejection_ms / 1000;
}

/*
 * Copies the backends of version @p v of family @p fam to bes[nb...],
 * registers them with the health table and builds their Maglev table.
 * Returns the number copied or a negative errno.
 */
static int
build_family(struct mg_ruleset *rs, const struct mg_version_conf *v,
	     uint8_t fam, struct rs_backend *bes, uint16_t **table,
	     uint32_t *table_off, char *err, size_t errlen)
{
	uint64_t keys[MG_CONF_MAX_BACKENDS];
	uint32_t m = rs->maglev_m;
	unsigned int k, n = 0;
	int idx, ret;
	char buf[64];

	*table_off = NO_TABLE;
	for (k = 0; k < v->n_backends; k++) {
		const struct mg_backend_conf *b = &v->backends[k];

		if (b->addr.family != fam)
			continue;
		bes[n].addr = b->addr;
		bes[n].port = rte_cpu_to_be_16(b->port);
		bes[n].health = MG_HEALTH_NONE;
		if (rs->health != NULL) {
			idx = mg_health_register(rs->health, &b->addr, b->port);
			if (idx < 0) {
				set_err(err, errlen,
					"cannot track the health of backend "
					"%s of version '%s': %s",
					mg_addr_format(&b->addr, buf,
						       sizeof(buf)),
					v->name, strerror(-idx));
				return idx;
			}
			bes[n].health = (uint32_t)idx;
		}
		keys[n++] = mg_maglev_key(&b->addr, b->port);
	}
	if (n < 2)
		return (int)n;
	ret = mg_maglev_build(*table, m, keys, n);
	if (ret < 0) {
		set_err(err, errlen,
			"cannot build the Maglev table of version '%s': %s",
			v->name, strerror(-ret));
		return ret;
	}
	*table_off = (uint32_t)(*table - rs->maglev);
	*table += m;
	return (int)n;
}

static int
build_versions(struct mg_ruleset *rs, const struct mg_conf *conf,
	       const struct layout *l, char *err, size_t errlen)
{
	struct rs_service *svcs =
		(struct rs_service *)((char *)rs + l->services);
	struct rs_version *vers =
		(struct rs_version *)((char *)rs + l->versions);
	struct rs_backend *bes =
		(struct rs_backend *)((char *)rs + l->backends);
	uint16_t *table = (uint16_t *)((char *)rs + l->maglev);
	uint8_t *pick = (uint8_t *)rs + l->pick;
	uint64_t hz = rs->health != NULL ? mg_health_tsc_hz(rs->health)
					 : rte_get_tsc_hz();
	unsigned int i, j, f, nv = 0, nb = 0;
	int n;

	rs->maglev = table;
	rs->maglev_m = mg_maglev_size(MAGLEV_FOR);
	for (i = 0; i < conf->n_services; i++) {
		const struct mg_service_conf *s = &conf->services[i];
		struct rs_service *svc = &svcs[i];

		memcpy(svc->name, s->name, sizeof(svc->name));
		svc->first_version = (uint16_t)nv;
		svc->n_versions = (uint8_t)s->n_versions;
		svc->canary = NO_VERSION;
		health_params(&s->health, hz, rs->health != NULL, &svc->health);
		svc->check_health = svc->health.enabled;
		if (s->n_versions > 1) {
			build_pick(s, pick);
			svc->pick = pick;
			pick += PICK_SLOTS;
		}
		for (j = 0; j < s->n_versions; j++, nv++) {
			const struct mg_version_conf *v = &s->versions[j];
			struct rs_version *ver = &vers[nv];

			/* mg_conf_load() refuses a second canary; should
			 * one get here, the first is the service's */
			if (v->canary && svc->canary == NO_VERSION)
				svc->canary = (uint8_t)j;
			memcpy(ver->name, v->name, sizeof(ver->name));
			ver->weight = v->weight;
			ver->service = (uint16_t)i;
			ver->first_backend = (uint16_t)nb;
			n = build_family(rs, v, 4, &bes[nb], &table,
					 &ver->maglev[0], err, errlen);
			if (n < 0)
				return n;
			ver->n_backends4 = (uint16_t)n;
			nb += (unsigned int)n;
			n = build_family(rs, v, 6, &bes[nb], &table,
					 &ver->maglev[1], err, errlen);
			if (n < 0)
				return n;
			ver->n_backends6 = (uint16_t)n;
			nb += (unsigned int)n;
			for (f = 0; f < 2; f++) {
				n = register_group(rs, s, v, f == 0 ? 4 : 6,
						   &ver->group[f], err, errlen);
				if (n < 0)
					return n;
				ver->cap[f] =
					group_cap(f == 0 ? ver->n_backends4
							 : ver->n_backends6,
						  s->health.max_ejected_percent,
						  v->canary);
			}
		}
	}
	rs->services = svcs;
	rs->versions = vers;
	rs->n_versions = nv;
	rs->backends = bes;
	rs->n_services = conf->n_services;
	return 0;
}

/*
 * For each backend of the health table: the groups it is in with their
 * caps (every version and family that lists it), and the first service
 * that does, whose settings apply to a report that names no service.
 * A version's backends are grouped by family, so backend b of version v
 * is in group[b < n_backends4 ? 0 : 1].
 */
static int
build_health_limits(struct mg_ruleset *rs, int socket, char *err, size_t errlen)
{
	uint32_t n = mg_health_count(rs->health), total = 0, i, h, *fill;
	const struct rs_version *ver;
	unsigned int v, b, nb;

	if (rs->health == NULL)
		return 0;
	rs->limit_first = rte_zmalloc_socket(
		"mg_rs_limit_first", (n + 1) * sizeof(uint32_t), 0, socket);
	rs->health_service =
		rte_malloc_socket("mg_rs_health_service",
				  RTE_MAX(n, 1u) * sizeof(uint16_t), 0, socket);
	fill = calloc(RTE_MAX(n, 1u), sizeof(*fill));
	if (rs->limit_first == NULL || rs->health_service == NULL ||
	    fill == NULL)
		goto nomem;
	for (v = 0; v < rs->n_versions; v++) {
		ver = &rs->versions[v];
		nb = (unsigned int)ver->n_backends4 + ver->n_backends6;
		for (b = 0; b < nb; b++) {
			h = rs->backends[ver->first_backend + b].health;
			if (h < n) {
				rs->limit_first[h + 1]++;
				total++;
			}
		}
	}
	for (i = 0; i < n; i++)
		rs->limit_first[i + 1] += rs->limit_first[i];
	rs->limits = rte_malloc_socket("mg_rs_limits",
				       RTE_MAX(total, 1u) * sizeof(*rs->limits),
				       0, socket);
	if (rs->limits == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		rs->health_service[i] = UINT16_MAX;
	for (v = 0; v < rs->n_versions; v++) {
		ver = &rs->versions[v];
		nb = (unsigned int)ver->n_backends4 + ver->n_backends6;
		for (b = 0; b < nb; b++) {
			unsigned int f = b >= ver->n_backends4;

			h = rs->backends[ver->first_backend + b].health;
			if (h >= n)
				continue;
			rs->limits[rs->limit_first[h] + fill[h]++] =
				(struct mg_health_limit){
					.group = ver->group[f],
					.cap = ver->cap[f],
				};
			if (rs->health_service[h] == UINT16_MAX)
				rs->health_service[h] = ver->service;
		}
	}
	free(fill);
	rs->n_health = n;
	return 0;
nomem:
	free(fill);
	set_err(err, errlen, "out of memory for the health limits");
	return -ENOMEM;
}

/* Backend addresses of canary versions: a caller from one of them is a
 * canary itself, and stays on canaries down the chain. */
static void
build_chain(struct mg_ruleset *rs, const struct mg_conf *conf,
	    const struct layout *l)
{
	struct mg_addr *chain = (struct mg_addr *)((char *)rs + l->chain);
	unsigned int i, j, k, n = 0;

	for (i = 0; i < conf->n_services; i++)
		for (j = 0; j < conf->services[i].n_versions; j++) {
			const struct mg_version_conf *v =
				&conf->services[i].versions[j];

			if (!v->canary)
				continue;
			for (k = 0; k < v->n_backends; k++)
				chain[n++] = v->backends[k].addr;
		}
	qsort(chain, n, sizeof(*chain), cmp_addr);
	for (i = 0, j = 0; i < n; i++)
		if (j == 0 || cmp_addr(&chain[j - 1], &chain[i]) != 0)
			chain[j++] = chain[i];
	rs->chain = chain;
	rs->n_chain = j;
}

/* ---- policy matrix ---- */

/* The version of the first route of service @p s that covers identity
 * @p id, or NO_VERSION. */
static uint8_t
pinned_version(const struct mg_conf *conf, unsigned int id, unsigned int s)
{
	const struct mg_service_conf *svc = &conf->services[s];
	unsigned int r, k;

	for (r = 0; r < svc->n_routes; r++)
		for (k = 0; k < svc->routes[r].n_from; k++)
			if (mg_conf_ref_covers_identity(
				    conf, &svc->routes[r].from[k], id))
				return svc->routes[r].version;
	return NO_VERSION;
}

/* The first rule of each kind that covers a pair. */
struct first_rules {
	uint16_t deny;
	uint16_t allow;
	uint16_t dry_deny;
};

/*
 * Semantics, per (identity, service):
 * - an enforced deny anywhere in the list beats every allow; else an
 *   enforced allow allows; else default deny. The first matching rule of
 *   the winning kind (config order) is the one reported as deciding.
 * - dry run asks "would this be dropped if the dry-run rules were
 *   enforced too?". Only a connection that is allowed can change, and
 *   only a deny can change it: such a pair gets ALLOW_DRY_DENY and the
 *   first dry-run deny that covers it. A dry-run allow changes nothing:
 *   enforcing it could not undo an enforced deny (deny wins), and a pair
 *   that is denied by default stays so here because the verdict has no
 *   "denied, dry run would allow" state to count it in.
 * - a rule with layer-7 matchers never denies here: its deny, enforced
 *   or dry, is taken per request. An enforced allow with matchers admits
 *   the connection so that its requests can be inspected.
 */
static int
build_matrix(struct mg_ruleset *rs, const struct mg_conf *conf,
	     const struct layout *l, char *err, size_t errlen)
{
	struct rs_cell *m = (struct rs_cell *)((char *)rs + l->matrix);
	unsigned int ni = conf->n_identities + 1, ns = conf->n_services;
	bool from[MG_CONF_MAX_IDENTITIES + 1], to[MG_CONF_MAX_SERVICES];
	struct first_rules *fr;
	unsigned int r, i, s, k;

	fr = malloc(RTE_MAX((size_t)ni * ns, (size_t)1) * sizeof(*fr));
	if (fr == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (k = 0; k < ni * ns; k++)
		fr[k] = (struct first_rules){ MG_RULE_DEFAULT, MG_RULE_DEFAULT,
					      MG_RULE_DEFAULT };
	for (r = 0; r < conf->n_policies; r++) {
		const struct mg_policy_conf *p = &conf->policies[r];

		for (i = 0; i < ni; i++)
			from[i] = mg_conf_policy_covers_identity(conf, p, i);
		for (s = 0; s < ns; s++)
			to[s] = mg_conf_policy_covers_service(
				p, &conf->services[s]);
		for (i = 0; i < ni; i++) {
			if (!from[i])
				continue;
			for (s = 0; s < ns; s++) {
				struct first_rules *f = &fr[i * ns + s];
				uint16_t *slot;

				if (!to[s])
					continue;
				/* a rule with matchers decides per request
				 * (lib/policy); here it only admits */
				if (p->l7 != MG_L7_NONE)
					slot = p->action == MG_POLICY_ALLOW &&
							       !p->dry_run
						       ? &f->allow
						       : NULL;
				else if (p->dry_run)
					slot = p->action == MG_POLICY_DENY
						       ? &f->dry_deny
						       : NULL;
				else
					slot = p->action == MG_POLICY_DENY
						       ? &f->deny
						       : &f->allow;
				if (slot != NULL && *slot == MG_RULE_DEFAULT)
					*slot = (uint16_t)r;
			}
		}
	}
	for (k = 0; k < ni * ns; k++) {
		const struct first_rules *f = &fr[k];
		struct rs_cell *c = &m[k];

		c->pin = pinned_version(conf, k / ns, k % ns);

		c->dry_rule = MG_RULE_DEFAULT;
		c->deny_action = (uint8_t)conf->deny_action;
		if (f->deny != MG_RULE_DEFAULT) {
			c->verdict = MG_VERDICT_DENY;
			c->rule = f->deny;
			c->deny_action =
				(uint8_t)conf->policies[f->deny].deny_action;
		} else if (f->allow != MG_RULE_DEFAULT) {
			c->rule = f->allow;
			c->verdict = MG_VERDICT_ALLOW;
			if (f->dry_deny != MG_RULE_DEFAULT) {
				c->verdict = MG_VERDICT_ALLOW_DRY_DENY;
				c->dry_rule = f->dry_deny;
			}
		} else {
			c->verdict = MG_VERDICT_DENY;
			c->rule = MG_RULE_DEFAULT;
		}
	}
	free(fr);
	rs->matrix = m;
	return 0;
}

/* ---- names, ports, neighbours ---- */

static void
build_names(struct mg_ruleset *rs, const struct mg_conf *conf,
	    const struct layout *l)
{
	char(*ids)[MG_CONF_NAME_LEN] =
		(char(*)[MG_CONF_NAME_LEN])((char *)rs + l->identity_names);
	char(*rules)[MG_CONF_NAME_LEN] =
		(char(*)[MG_CONF_NAME_LEN])((char *)rs + l->rule_names);
	unsigned int i;

	snprintf(ids[0], MG_CONF_NAME_LEN, "unknown");
	for (i = 0; i < conf->n_identities; i++)
		memcpy(ids[i + 1], conf->identities[i].name, MG_CONF_NAME_LEN);
	for (i = 0; i < conf->n_policies; i++)
		memcpy(rules[i], conf->policies[i].name, MG_CONF_NAME_LEN);
	rs->identity_names = (const char(*)[MG_CONF_NAME_LEN])ids;
	rs->rule_names = (const char(*)[MG_CONF_NAME_LEN])rules;
	rs->n_identities = conf->n_identities;
	rs->n_rules = conf->n_policies;
}

static void
build_ports(struct mg_ruleset *rs, const struct mg_conf *conf,
	    const struct layout *l)
{
	struct rs_neigh *nb = (struct rs_neigh *)((char *)rs + l->neigh);
	unsigned int i;

	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *p = &conf->ports[i];

		rs->ports[i].n_addrs =
			RTE_MIN(p->n_addrs, (unsigned int)MG_CONF_MAX_ADDRS);
		memcpy(rs->ports[i].addrs, p->addrs, sizeof(p->addrs));
		rs->ports[i].gateway4 = p->gateway4;
		rs->ports[i].gateway6 = p->gateway6;
	}
	rs->n_ports = conf->n_ports;
	for (i = 0; i < conf->n_neighbours; i++) {
		nb[i].addr = conf->neighbours[i].addr;
		memcpy(nb[i].mac, conf->neighbours[i].mac, 6);
	}
	/* the address is the struct's first member: cmp_addr sorts it */
	qsort(nb, conf->n_neighbours, sizeof(*nb), cmp_addr);
	rs->neigh = nb;
	rs->n_neigh = conf->n_neighbours;
}

static uint32_t
slot_or_overflow(int slot)
{
	return slot > 0 ? (uint32_t)slot : 0;
}

/*
 * Registers this ruleset's telemetry series: a label set per (caller,
 * service, version) the policy lets through — denied pairs never carry
 * traffic, so they cost no series — and a slot per rule. Registration
 * is append-only in lib/telemetry: a reload maps the same names to the
 * same slots and counters stay monotonic.
 */
static int
build_telemetry(struct mg_ruleset *rs, const struct mg_conf *conf, int socket,
		char *err, size_t errlen)
{
	unsigned int ni = conf->n_identities + 1, ns = conf->n_services;
	unsigned int i, s, v, nv = 0;

	for (s = 0; s < ns; s++)
		nv += conf->services[s].n_versions;
	rs->n_all_versions = nv;
	rs->label_slot = rte_zmalloc_socket(
		"mg_rs_labels",
		RTE_MAX((size_t)ni * nv, (size_t)1) * sizeof(uint32_t), 0,
		socket);
	rs->rule_slot = rte_zmalloc_socket(
		"mg_rs_rules", (conf->n_policies + 1) * sizeof(uint32_t), 0,
		socket);
	if (rs->label_slot == NULL || rs->rule_slot == NULL) {
		set_err(err, errlen, "out of memory for telemetry slots");
		return -ENOMEM;
	}
	if (!rs->telemetry) {
		/* nothing counted: private slots that still tell the rules
		 * apart (mg_ruleset_rule_name_of_slot()); label sets 0 */
		for (i = 0; i <= conf->n_policies; i++)
			rs->rule_slot[i] = i;
		return 0;
	}
	for (i = 0; i < conf->n_policies; i++)
		rs->rule_slot[i] = slot_or_overflow(
			mg_telemetry_rule(conf->policies[i].name));
	rs->rule_slot[conf->n_policies] =
		slot_or_overflow(mg_telemetry_rule("default-deny"));
	for (i = 0; i < ni; i++)
		for (s = 0; s < ns; s++) {
			const struct mg_service_conf *svc = &conf->services[s];
			const struct rs_service *rsv = &rs->services[s];

			if (rs->matrix[i * ns + s].verdict == MG_VERDICT_DENY)
				continue;
			for (v = 0; v < svc->n_versions; v++)
				rs->label_slot[i * nv + rsv->first_version +
					       v] =
					slot_or_overflow(mg_telemetry_labelset(
						mg_ruleset_identity_name(
							rs, (uint16_t)i),
						svc->name,
						svc->versions[v].name));
		}
	return 0;
}

static struct mg_ruleset *build(const struct mg_conf *conf, int socket,
				 struct mg_health *health,
				 unsigned int n_workers, bool telemetry,
				 char *err, size_t errlen);

struct mg_ruleset *
mg_ruleset_build(const struct mg_conf *conf, int socket,
		 struct mg_health *health, unsigned int n_workers, char *err,
		 size_t errlen)
{
	return build(conf, socket, health, n_workers, true, err, errlen);
}

struct mg_ruleset *
mg_ruleset_build_shadow(const struct mg_conf *conf, int socket,
			unsigned int n_workers, char *err, size_t errlen)
{
	return build(conf, socket, NULL, n_workers, false, err, errlen);
}

static struct mg_ruleset *
build(const struct mg_conf *conf, int socket, struct mg_health *health,
      unsigned int n_workers, bool telemetry, char *err, size_t errlen)
{
	struct mg_ruleset *rs;
	struct layout l;
	uint32_t seq;
	int ret;

	if (conf == NULL) {
		set_err(err, errlen, "no config");
		rte_errno = EINVAL;
		return NULL;
	}
	if (!conf_sane(conf, err, errlen)) {
		rte_errno = EINVAL;
		return NULL;
	}
	plan(conf, &l);
	rs = rte_zmalloc_socket("mg_ruleset", l.size, RTE_CACHE_LINE_SIZE,
				socket);
	if (rs == NULL) {
		set_err(err, errlen,
			"cannot allocate %zu bytes for the ruleset", l.size);
		rte_errno = ENOMEM;
		return NULL;
	}
	rs->health = health;
	rs->telemetry = telemetry;
	seq = __atomic_fetch_add(&build_seq, 1, __ATOMIC_RELAXED);
	rs->generation = seq;
	rs->forward_unmatched = conf->unmatched == MG_UNMATCHED_FORWARD;
	ret = build_ribs(rs, conf, socket, seq, err, errlen);
	if (ret < 0)
		goto fail;
	ret = build_services(rs, conf, &l, err, errlen);
	if (ret < 0)
		goto fail;
	ret = build_versions(rs, conf, &l, err, errlen);
	if (ret < 0)
		goto fail;
	ret = build_health_limits(rs, socket, err, errlen);
	if (ret < 0)
		goto fail;
	build_chain(rs, conf, &l);
	ret = build_matrix(rs, conf, &l, err, errlen);
	if (ret < 0)
		goto fail;
	build_names(rs, conf, &l);
	build_ports(rs, conf, &l);
	ret = build_telemetry(rs, conf, socket, err, errlen);
	if (ret < 0)
		goto fail;
	/* after telemetry: decisions per request count in the rule slots */
	rs->l7 = mg_l7_build(conf, rs->rule_slot, RTE_MAX(n_workers, 1u), err,
			     errlen);
	if (rs->l7 == NULL) {
		ret = -rte_errno;
		goto fail;
	}
	return rs;

fail:
	mg_ruleset_free(rs);
	rte_errno = -ret;
	return NULL;
}

/*
 * An identity trie: struct rte_rib(6) and a node pool (rte_mempool
 * without cache: header, ring, objects). Node sizes are DPDK 22.11's
 * struct rte_rib_node and rte_rib6_node, private to librte_rib. The
 * pool keeps each object within a page: counted as on 4 KiB pages
 * (--no-huge), where that wastes the most.
 */
#define RIB4_NODE_BYTES	 40
#define RIB6_NODE_BYTES	 56
#define RIB_HEADER_BYTES 192 /* struct rte_rib(6) and its tailq entry */
#define RIB_PAGE_BYTES	 4096

static size_t
rib_memsize(unsigned int prefixes, size_t node_bytes)
{
	struct rte_mempool_objsz sz;
	uint32_t nodes = 2 * prefixes; /* as create_ribs() sizes them */
	size_t obj, per_page;

	if (prefixes == 0)
		return 0;
	obj = rte_mempool_calc_obj_size((uint32_t)node_bytes, 0, &sz);
	per_page = RIB_PAGE_BYTES / obj;
	return RIB_HEADER_BYTES +
	       RTE_ALIGN_CEIL(
		       RTE_MEMPOOL_HEADER_SIZE((struct rte_mempool *)NULL, 0),
		       RTE_CACHE_LINE_SIZE) +
	       rte_ring_get_memsize(rte_align32pow2(nodes + 1)) +
	       (nodes + per_page - 1) / per_page * RIB_PAGE_BYTES + obj;
}

size_t
mg_ruleset_memsize(const struct mg_conf *conf)
{
	unsigned int ni = conf->n_identities + 1, nv = 0, s;
	struct layout l;

	plan(conf, &l);
	for (s = 0; s < conf->n_services; s++)
		nv += conf->services[s].n_versions;
	return RTE_ALIGN_CEIL(l.size, RTE_CACHE_LINE_SIZE) +
	       RTE_MAX((size_t)ni * nv, (size_t)1) * sizeof(uint32_t) +
	       (conf->n_policies + 1) * sizeof(uint32_t) +
	       rib_memsize(count_prefixes(conf, 4), RIB4_NODE_BYTES) +
	       rib_memsize(count_prefixes(conf, 6), RIB6_NODE_BYTES);
}

void
mg_ruleset_free(struct mg_ruleset *rs)
{
	if (rs == NULL)
		return;
	/* rte_rib6_free(NULL) would set rte_errno */
	if (rs->rib6 != NULL)
		rte_rib6_free(rs->rib6);
	rte_rib_free(rs->rib4);
	rte_free(rs->label_slot);
	rte_free(rs->rule_slot);
	rte_free(rs->limit_first);
	rte_free(rs->limits);
	rte_free(rs->health_service);
	rte_free(rs->climits);
	rte_free(rs->climit_cell);
	rte_free(rs->climit_by_id);
	mg_l7_free(rs->l7);
	mg_esp_set_free(rs->esp);
	rte_free(rs);
}

static int
limit_params(struct mg_limit_params *p, const struct mg_limit_bucket_conf *b)
{
	const struct mg_limit_rate conn = { b->conn.rate, b->conn.burst };
	const struct mg_limit_rate pkt = { b->pkt.rate, b->pkt.burst };

	return mg_limit_params_init(p, &conn, &pkt, b->max_conns, b->bytes);
}

int
mg_ruleset_set_limits(struct mg_ruleset *rs, const struct mg_conf *conf,
		      struct mg_limit_table *t, char *err, size_t errlen)
{
	unsigned int n = conf->n_limits, i, id_cells, cell;
	int id;

	if (n == 0)
		return 0;
	if (t == NULL) {
		set_err(err, errlen, "limits need a limit table");
		return -EINVAL;
	}
	id_cells = (conf->n_identities + 1) * RTE_MAX(conf->n_services, 1u);
	rs->climits = rte_zmalloc("mg_rs_limits", n * sizeof(*rs->climits),
				  RTE_CACHE_LINE_SIZE);
	rs->climit_cell = rte_zmalloc("mg_rs_limits", id_cells, 0);
	rs->n_climit_ids = MG_TEL_MAX_LIMITS;
	rs->climit_by_id = rte_zmalloc("mg_rs_limits", rs->n_climit_ids, 0);
	if (rs->climits == NULL || rs->climit_cell == NULL ||
	    rs->climit_by_id == NULL) {
		set_err(err, errlen, "out of memory for limits");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct mg_limit_conf *lc = &conf->limits[i];
		struct mg_ruleset_limit *l = &rs->climits[i];
		unsigned int s;

		id = mg_limit_register(t, lc->name, lc->per_source);
		if (id == -ENOBUFS) {
			set_err(err, errlen,
				"%s:%d: limit '%s': no room for another "
				"per_source limit until a restart",
				conf->path, lc->line, lc->name);
			return -ENOSPC;
		}
		if (id < 0 || (uint32_t)id >= rs->n_climit_ids) {
			set_err(err, errlen,
				"%s:%d: limit '%s': no room for another limit "
				"name until a restart",
				conf->path, lc->line, lc->name);
			return -ENOSPC;
		}
		l->id = (uint32_t)id;
		l->bucket = mg_limit_bucket(t, l->id);
		l->per_source = lc->per_source;
		l->meter_all = lc->all.pkt.rate != 0;
		l->meter_source = lc->per_source && lc->source.pkt.rate != 0;
		if (limit_params(&l->all, &lc->all) < 0 ||
		    (lc->per_source &&
		     limit_params(&l->source, &lc->source) < 0)) {
			set_err(err, errlen,
				"%s:%d: limit '%s': a rate rte_meter cannot "
				"meter",
				conf->path, lc->line, lc->name);
			return -EINVAL;
		}
		rs->climit_by_id[id] = (uint8_t)(i + 1);
		/* the limit naming the service beats the one for all */
		for (s = 0; s < conf->n_services; s++) {
			if (lc->service >= 0 && (unsigned int)lc->service != s)
				continue;
			cell = lc->identity * conf->n_services + s;
			if (lc->service >= 0 || rs->climit_cell[cell] == 0)
				rs->climit_cell[cell] = (uint8_t)(i + 1);
		}
	}
	rs->n_climits = n;
	return 0;
}

const struct mg_ruleset_limit *
mg_ruleset_limit(const struct mg_ruleset *rs, uint16_t identity,
		 uint16_t service)
{
	uint8_t i;

	if (rs->n_climits == 0 || identity > rs->n_identities ||
	    service >= rs->n_services)
		return NULL;
	i = rs->climit_cell[identity * rs->n_services + service];
	return i != 0 ? &rs->climits[i - 1] : NULL;
}

const struct mg_ruleset_limit *
mg_ruleset_limit_of(const struct mg_ruleset *rs, unsigned int i)
{
	return i < rs->n_climits ? &rs->climits[i] : NULL;
}

const struct mg_ruleset_limit *
mg_ruleset_limit_by_id(const struct mg_ruleset *rs, uint32_t id)
{
	if (id >= rs->n_climit_ids || rs->climit_by_id == NULL ||
	    rs->climit_by_id[id] == 0)
		return NULL;
	return &rs->climits[rs->climit_by_id[id] - 1];
}

void
mg_ruleset_set_esp(struct mg_ruleset *rs, struct mg_esp_set *set)
{
	mg_esp_set_free(rs->esp);
	rs->esp = set;
}

const struct mg_esp_set *
mg_ruleset_esp(const struct mg_ruleset *rs)
{
	return rs->esp;
}

/* ---- fast-path reads: no locks, no allocation, no writes ---- */

/*
 * murmur3's finalizer, a bijection in which every input bit flips about
 * half the output bits. Applied first to the caller's hash: CRC32 and
 * the NICs' Toeplitz RSS hash are linear, and on structured traffic
 * (counting sources or ports) their low bits fall into patterns that
 * the interleaved version table aliases with: 100,000 sequential
 * 5-tuples through CRC32-C missed a 30% share by 4-5 sigma. Applied to
 * the hash xor a constant, it makes further draws for the slow path.
 */
static inline uint32_t
remix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline unsigned int
n_family(const struct rs_version *ver, unsigned int fi)
{
	return fi == 0 ? ver->n_backends4 : ver->n_backends6;
}

/* Index of the family's first backend within the version. */
static inline unsigned int
family_base(const struct rs_version *ver, unsigned int fi)
{
	return fi == 0 ? 0 : ver->n_backends4;
}

static inline bool
backend_up(const struct mg_ruleset *rs, const struct rs_version *ver,
	   unsigned int b, uint64_t now)
{
	return mg_health_up(rs->health,
			    rs->backends[ver->first_backend + b].health, now);
}

/* The Maglev slot of @p hash: an index into the version's backends. */
static inline unsigned int
maglev_backend(const struct mg_ruleset *rs, const struct rs_version *ver,
	       unsigned int fi, uint32_t hash)
{
	if (ver->maglev[fi] == NO_TABLE)
		return family_base(ver, fi);
	return family_base(ver, fi) +
	       mg_maglev_lookup(rs->maglev + ver->maglev[fi], rs->maglev_m,
				hash >> BACKEND_SHIFT);
}

/* Draws for the slow path, independent of the hash's first uses. */
#define DRAW_STEP     0x9e3779b9u
#define DRAW_VERSION  0x85ebca77u
#define DRAW_FALLBACK 0x27d4eb2fu

/*
 * An up backend of @p ver for @p hash: its Maglev backend if up, else
 * the owner of the first up slot along a probe sequence of the
 * connection's own (double hashing: a step drawn from the hash; m is
 * prime, so any step visits every slot). Connections of the backends
 * that are up stay put, and an ejected backend's spread evenly over the
 * others; walking to the next slot instead would not, as neighbouring
 * slots of a Maglev table are not independent (one of three backends
 * out split 64/36 between the other two). After MAGLEV_WALK probes (a
 * run that long needs nearly every backend down) any up backend will do.
 */
static bool
healthy_backend(const struct mg_ruleset *rs, const struct rs_version *ver,
		unsigned int fi, uint32_t hash, uint64_t now, unsigned int *b)
{
	unsigned int n = n_family(ver, fi), base = family_base(ver, fi);
	unsigned int j, slot, step, up = 0, pick;
	const uint16_t *table;

	if (n == 0)
		return false;
	if (ver->maglev[fi] == NO_TABLE) {
		if (!backend_up(rs, ver, base, now))
			return false;
		*b = base;
		return true;
	}
	table = rs->maglev + ver->maglev[fi];
	slot = (hash >> BACKEND_SHIFT) % rs->maglev_m;
	step = remix(hash ^ DRAW_STEP) % (rs->maglev_m - 1) + 1;
	for (j = 0; j < MAGLEV_WALK; j++) {
		if (backend_up(rs, ver, base + table[slot], now)) {
			*b = base + table[slot];
			return true;
		}
		slot += step;
		if (slot >= rs->maglev_m)
			slot -= rs->maglev_m;
	}
	for (j = 0; j < n; j++)
		up += backend_up(rs, ver, base + j, now);
	if (up == 0)
		return false;
	pick = remix(hash ^ DRAW_FALLBACK) % up;
	for (j = 0;; j++)
		if (backend_up(rs, ver, base + j, now) && pick-- == 0)
			break;
	*b = base + j;
	return true;
}

/*
 * Slow path, taken only when the first choice's backend is down: find
 * another backend of the version, else another version. Leaves
 * *version and *backend alone when nothing is up anywhere.
 */
static void __rte_noinline
avoid_down(const struct mg_ruleset *rs, const struct rs_service *svc,
	   unsigned int fi, uint32_t hash, uint64_t now, uint8_t *version,
	   unsigned int *backend, uint8_t *pick)
{
	const struct rs_version *vers = &rs->versions[svc->first_version];
	uint64_t total = 0, r;
	unsigned int v, b;
	bool cand[MG_CONF_MAX_VERSIONS];

	if (healthy_backend(rs, &vers[*version], fi, hash, now, backend))
		return;
	/* the version is all out: its share goes to the others, in
	 * proportion to their weights */
	for (v = 0; v < svc->n_versions; v++) {
		cand[v] = false;
		if (v == *version || vers[v].weight == 0)
			continue;
		cand[v] = healthy_backend(rs, &vers[v], fi, hash, now, &b);
		if (cand[v])
			total += vers[v].weight;
	}
	if (total == 0) {
		*pick = MG_PICK_ALL_DOWN;
		return;
	}
	/* multiply-shift: proportional, without a division's bias */
	r = (uint64_t)remix(hash ^ DRAW_VERSION) * total >> 32;
	for (v = 0; v < svc->n_versions; v++) {
		if (!cand[v])
			continue;
		if (r < vers[v].weight)
			break;
		r -= vers[v].weight;
	}
	healthy_backend(rs, &vers[v], fi, hash, now, backend);
	*version = (uint8_t)v;
	*pick = MG_PICK_FAILOVER;
}

/* Whether the caller's source is a backend of some canary version. */
static bool
in_chain(const struct mg_ruleset *rs, const struct mg_5tuple *t)
{
	struct mg_addr src;

	if (rs->n_chain == 0)
		return false;
	src.family = t->family;
	memcpy(src.bytes, t->src, sizeof(src.bytes));
	return bsearch(&src, rs->chain, rs->n_chain, sizeof(*rs->chain),
		       cmp_addr) != NULL;
}

/* The service @p t is addressed to, or -1. */
static inline int
service_of(const struct mg_ruleset *rs, const struct mg_5tuple *t)
{
	const struct rs_vip *vip;
	uint8_t key[VIP_KEY_LEN];
	struct mg_addr dst;

	dst.family = t->family;
	memcpy(dst.bytes, t->dst, sizeof(dst.bytes));
	vip_key(key, &dst, t->proto);
	vip = find_vip(rs, key);
	if (vip == NULL)
		return -1;
	return find_service(rs, vip, rte_be_to_cpu_16(t->dport));
}

bool
mg_ruleset_resolve(const struct mg_ruleset *rs, const struct mg_5tuple *t,
		   uint16_t *service, uint16_t *identity)
{
	int s = service_of(rs, t);

	if (s < 0)
		return false;
	*service = (uint16_t)s;
	*identity = identity_of(rs, t->family, t->src);
	return true;
}

bool
mg_ruleset_forward_unmatched(const struct mg_ruleset *rs)
{
	return rs->forward_unmatched;
}

uint32_t
mg_ruleset_generation(const struct mg_ruleset *rs)
{
	return rs->generation;
}

bool
mg_ruleset_classify(const struct mg_ruleset *rs, const struct mg_5tuple *t,
		    uint32_t hash, uint64_t now, struct mg_decision *d)
{
	return mg_ruleset_classify_as(rs, t, MG_RULESET_BY_SOURCE, hash, now,
				      d);
}

bool
mg_ruleset_classify_as(const struct mg_ruleset *rs, const struct mg_5tuple *t,
		       uint32_t identity, uint32_t hash, uint64_t now,
		       struct mg_decision *d)
{
	const struct rs_version *ver;
	const struct rs_backend *be;
	const struct rs_service *svc;
	const struct rs_cell *cell;
	unsigned int fi = t->family == 6, b;
	uint8_t version = NO_VERSION, pick = MG_PICK_WEIGHT;
	int s;

	s = service_of(rs, t);
	if (s < 0)
		return false;
	hash = remix(hash);
	svc = &rs->services[s];
	d->service = (uint16_t)s;
	d->identity =
		identity != MG_RULESET_BY_SOURCE && identity <= rs->n_identities
			? (uint16_t)identity
			: identity_of(rs, t->family, t->src);
	cell = &rs->matrix[d->identity * rs->n_services + (unsigned int)s];
	d->verdict = cell->verdict;
	d->deny_action = cell->deny_action;
	d->rule = cell->rule;
	d->dry_rule = cell->dry_rule;

	/* an explicit pin beats the chain, the chain beats the weights */
	if (cell->pin != NO_VERSION) {
		version = cell->pin;
		pick = MG_PICK_PINNED;
	} else if (svc->canary != NO_VERSION && in_chain(rs, t)) {
		version = svc->canary;
		pick = MG_PICK_CHAIN;
	}
	/* a weight-0 version lacking the family (config validation
	 * forbids it) cannot take the connection: back to the weights */
	if (version != NO_VERSION &&
	    n_family(&rs->versions[svc->first_version + version], fi) == 0) {
		version = NO_VERSION;
		pick = MG_PICK_WEIGHT;
	}
	if (version == NO_VERSION)
		version = svc->pick != NULL ? svc->pick[hash & (PICK_SLOTS - 1)]
					    : 0;
	ver = &rs->versions[svc->first_version + version];
	if (unlikely(n_family(ver, fi) == 0))
		return false; /* config validation forbids this */
	b = maglev_backend(rs, ver, fi, hash);
	if (svc->check_health && !backend_up(rs, ver, b, now))
		avoid_down(rs, svc, fi, hash, now, &version, &b, &pick);
	ver = &rs->versions[svc->first_version + version];
	be = &rs->backends[ver->first_backend + b];
	d->version = version;
	d->labels = rs->label_slot[d->identity * rs->n_all_versions +
				   svc->first_version + version];
	d->rule_slot = rs->rule_slot[d->rule == MG_RULE_DEFAULT ? rs->n_rules
								: d->rule];
	d->dry_rule_slot =
		d->dry_rule == MG_RULE_DEFAULT ? 0 : rs->rule_slot[d->dry_rule];
	d->backend = (uint16_t)b;
	d->pick = pick;
	d->health_idx = be->health;
	d->backend_addr = be->addr;
	d->backend_port = be->port != 0 ? be->port : t->dport;
	return true;
}

const struct mg_health_params *
mg_ruleset_health_params(const struct mg_ruleset *rs, uint16_t service)
{
	return service < rs->n_services ? &rs->services[service].health : NULL;
}

enum mg_health_event
mg_ruleset_health_report(const struct mg_ruleset *rs, uint16_t service,
			 uint32_t backend, enum mg_health_evidence ev,
			 uint64_t now)
{
	uint32_t first;

	if (rs->health == NULL || backend >= rs->n_health)
		return MG_HEALTH_NO_CHANGE;
	if (service == MG_RULESET_ANY_SERVICE)
		service = rs->health_service[backend];
	if (service >= rs->n_services)
		return MG_HEALTH_NO_CHANGE;
	first = rs->limit_first[backend];
	return mg_health_report(
		rs->health, backend, ev, now, &rs->services[service].health,
		rs->limits + first, rs->limit_first[backend + 1] - first);
}

unsigned int
mg_ruleset_health_sync(const struct mg_ruleset *rs, uint64_t now)
{
	uint32_t members[MG_CONF_MAX_BACKENDS];
	unsigned int v, f, b, n, returned = 0;
	const struct rs_version *ver;

	if (rs->health == NULL)
		return 0;
	for (v = 0; v < rs->n_versions; v++) {
		ver = &rs->versions[v];
		for (f = 0; f < 2; f++) {
			n = n_family(ver, f);
			for (b = 0; b < n; b++)
				members[b] =
					rs->backends[ver->first_backend +
						     family_base(ver, f) + b]
						.health;
			returned += mg_health_group_sync(
				rs->health, ver->group[f], ver->cap[f], members,
				n, now);
		}
	}
	return returned;
}

int
mg_ruleset_health_cap(const struct mg_ruleset *rs, uint16_t service,
		      uint8_t version, uint8_t family)
{
	const struct rs_version *ver;

	if (service >= rs->n_services ||
	    version >= rs->services[service].n_versions ||
	    (family != 4 && family != 6))
		return -EINVAL;
	ver = &rs->versions[rs->services[service].first_version + version];
	return (int)ver->cap[family == 6];
}

const char *
mg_ruleset_pick_name(enum mg_pick pick)
{
	static const char *const names[MG_PICK_MAX] = {
		[MG_PICK_WEIGHT] = "weight",
		[MG_PICK_PINNED] = "pinned",
		[MG_PICK_CHAIN] = "chain",
		[MG_PICK_FAILOVER] = "failover",
		[MG_PICK_ALL_DOWN] = "all_down",
	};

	return (unsigned int)pick < MG_PICK_MAX ? names[pick] : "invalid";
}

/* Whether @p addr is one of port @p p's own addresses. */
static bool
port_owns(const struct rs_port *p, const struct mg_addr *addr)
{
	unsigned int i;

	for (i = 0; i < p->n_addrs; i++)
		if (cmp_addr(&p->addrs[i].addr, addr) == 0)
			return true;
	return false;
}

/* Whether @p addr is a service's virtual address (they answer on every
 * port). */
static bool
is_virtual(const struct mg_ruleset *rs, const struct mg_addr *addr)
{
	return bsearch(addr, rs->local, rs->n_local, sizeof(*rs->local),
		       cmp_addr) != NULL;
}

bool
mg_ruleset_is_local(const struct mg_ruleset *rs, unsigned int port,
		    const struct mg_addr *addr)
{
	return port < rs->n_ports &&
	       (port_owns(&rs->ports[port], addr) || is_virtual(rs, addr));
}

bool
mg_ruleset_is_gateway_addr(const struct mg_ruleset *rs,
			   const struct mg_addr *addr)
{
	unsigned int p;

	for (p = 0; p < rs->n_ports; p++)
		if (port_owns(&rs->ports[p], addr))
			return true;
	return is_virtual(rs, addr);
}

bool
mg_ruleset_next_hop(const struct mg_ruleset *rs, unsigned int port,
		    const struct mg_addr *dst, struct mg_addr *nh)
{
	const struct rs_port *p;
	const struct mg_addr *gw;
	unsigned int i;

	struct mg_addr endpoint;

	if (port >= rs->n_ports)
		return false;
	if (rs->esp != NULL &&
	    mg_esp_peer_endpoint(rs->esp, mg_esp_route(rs->esp, dst),
				 &endpoint))
		dst = &endpoint;
	p = &rs->ports[port];
	for (i = 0; i < p->n_addrs; i++)
		if (mg_prefix_contains(&p->addrs[i], dst)) {
			*nh = *dst;
			return true;
		}
	gw = dst->family == 4 ? &p->gateway4 : &p->gateway6;
	if (gw->family == 0)
		return false;
	*nh = *gw;
	return true;
}

bool
mg_ruleset_local_addr(const struct mg_ruleset *rs, unsigned int port,
		      const struct mg_addr *peer_addr, struct mg_addr *src)
{
	const struct mg_addr peer_copy = *peer_addr, *peer = &peer_copy;
	const struct mg_prefix *a;
	unsigned int i;
	bool found = false;

	if (port >= rs->n_ports)
		return false;
	for (i = 0; i < rs->ports[port].n_addrs; i++) {
		a = &rs->ports[port].addrs[i];
		if (a->addr.family != peer->family)
			continue;
		/* the address on the peer's own subnet, or the first */
		if (mg_prefix_contains(a, peer)) {
			*src = a->addr;
			return true;
		}
		if (!found)
			*src = a->addr;
		found = true;
	}
	return found;
}

bool
mg_ruleset_static_neigh(const struct mg_ruleset *rs, const struct mg_addr *addr,
			uint8_t mac[6])
{
	const struct rs_neigh *n;

	n = bsearch(addr, rs->neigh, rs->n_neigh, sizeof(*rs->neigh), cmp_addr);
	if (n == NULL)
		return false;
	memcpy(mac, n->mac, 6);
	return true;
}

const struct mg_l7 *
mg_ruleset_l7(const struct mg_ruleset *rs)
{
	return rs->l7;
}

unsigned int
mg_ruleset_n_services(const struct mg_ruleset *rs)
{
	return rs->n_services;
}

unsigned int
mg_ruleset_n_identities(const struct mg_ruleset *rs)
{
	return rs->n_identities;
}

unsigned int
mg_ruleset_n_rules(const struct mg_ruleset *rs)
{
	return rs->n_rules;
}

const char *
mg_ruleset_service_name(const struct mg_ruleset *rs, uint16_t service)
{
	return service < rs->n_services ? rs->services[service].name
					: "invalid";
}

const char *
mg_ruleset_version_name(const struct mg_ruleset *rs, uint16_t service,
			uint8_t version)
{
	const struct rs_service *s;

	if (service >= rs->n_services)
		return "invalid";
	s = &rs->services[service];
	return version < s->n_versions
		       ? rs->versions[s->first_version + version].name
		       : "invalid";
}

const char *
mg_ruleset_identity_name(const struct mg_ruleset *rs, uint16_t identity)
{
	return identity <= rs->n_identities ? rs->identity_names[identity]
					    : "invalid";
}

const char *
mg_ruleset_rule_name(const struct mg_ruleset *rs, uint16_t rule)
{
	if (rule == MG_RULE_DEFAULT)
		return "default-deny";
	return rule < rs->n_rules ? rs->rule_names[rule] : "invalid";
}

const char *
mg_ruleset_rule_name_of_slot(const struct mg_ruleset *rs, uint32_t slot)
{
	unsigned int i;

	/* rare (a disagreement to report): a scan is fine */
	for (i = 0; i < rs->n_rules; i++)
		if (rs->rule_slot[i] == slot)
			return rs->rule_names[i];
	return rs->rule_slot[rs->n_rules] == slot ? "default-deny" : "unknown";
}

unsigned int
mg_ruleset_version_labels(const struct mg_ruleset *rs, uint16_t service,
			  uint8_t version, uint32_t *slots, unsigned int max)
{
	const struct rs_service *svc;
	unsigned int i, k, n = 0;
	uint32_t slot;

	if (service >= rs->n_services ||
	    version >= rs->services[service].n_versions)
		return 0;
	svc = &rs->services[service];
	for (i = 0; i <= rs->n_identities && n < max; i++) {
		slot = rs->label_slot[i * rs->n_all_versions +
				      svc->first_version + version];
		/* 0: a pair the policy denies, or the shared overflow */
		for (k = 0; slot != 0 && k < n && slots[k] != slot; k++)
			;
		if (slot != 0 && k == n)
			slots[n++] = slot;
	}
	return n;
}
