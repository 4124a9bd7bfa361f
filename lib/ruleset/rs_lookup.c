/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The reads of a built ruleset: classify and resolve a new connection,
 * its version and backend, next hops, local addresses, limits and
 * names. What workers call: no locks, no allocation, no writes. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_rib.h>
#include <rte_rib6.h>

#include "rs_private.h"

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
mg_ruleset_is_service(const struct mg_ruleset *rs, const struct mg_5tuple *t)
{
	return service_of(rs, t) >= 0;
}

bool
mg_ruleset_forward_unmatched(const struct mg_ruleset *rs)
{
	return rs->forward_unmatched;
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
	d->service_id = rs->service_id[s];
	d->identity_id = rs->identity_id[d->identity];
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
