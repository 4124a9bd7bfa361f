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
 *
 * This file builds a ruleset from a config and frees it; rs_lookup.c
 * holds the reads workers make of a built one; rs_private.h, the layout
 * both share.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rib.h>
#include <rte_rib6.h>

#include "mg_base.h"
#include "mg_telemetry.h"
#include "rs_private.h"

/* Makes RIB names unique across concurrent and successive builds. */
static uint32_t build_seq;

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
		mg_set_err(err, errlen,
			   "config exceeds the MG_CONF_MAX_* bounds");
		return false;
	}
	for (i = 0; i < conf->n_services; i++) {
		const struct mg_service_conf *s = &conf->services[i];

		if (s->n_versions == 0 ||
		    s->n_versions > MG_CONF_MAX_VERSIONS ||
		    s->n_vips > MG_CONF_MAX_VIPS ||
		    s->n_ports > MG_CONF_MAX_PORT_RANGES) {
			mg_set_err(err, errlen, "service '%s' is malformed",
				   s->name);
			return false;
		}
		if (s->n_routes > MG_CONF_MAX_ROUTES) {
			mg_set_err(err, errlen, "service '%s' is malformed",
				   s->name);
			return false;
		}
		for (j = 0; j < s->n_routes; j++)
			if (s->routes[j].version >= s->n_versions ||
			    s->routes[j].n_from > MG_CONF_MAX_REFS) {
				mg_set_err(
					err, errlen,
					"route %u of service '%s' is malformed",
					j, s->name);
				return false;
			}
		total = 0;
		for (j = 0; j < s->n_versions; j++) {
			if (s->versions[j].n_backends == 0 ||
			    s->versions[j].n_backends > MG_CONF_MAX_BACKENDS) {
				mg_set_err(err, errlen,
					   "version '%s' of service '%s' has "
					   "no backends",
					   s->versions[j].name, s->name);
				return false;
			}
			total += s->versions[j].weight;
		}
		if (total == 0 || total > MG_CONF_MAX_WEIGHT_TOTAL) {
			mg_set_err(err, errlen,
				   "weights of service '%s' add up to %llu",
				   s->name, (unsigned long long)total);
			return false;
		}
	}
	for (i = 0; i < conf->n_identities; i++)
		if (conf->identities[i].n_prefixes > MG_CONF_MAX_PREFIXES) {
			mg_set_err(err, errlen, "identity '%s' is malformed",
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
		mg_set_err(err, errlen,
			   "prefix %s/%u of identity '%s' is given twice", buf,
			   p->len, conf->identities[id].name);
		return -EINVAL;
	}
	mg_set_err(err, errlen, "cannot add prefix %s/%u of identity '%s': %s",
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
		mg_set_err(err, errlen, "cannot create an identity RIB: %s",
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
		mg_set_err(err, errlen, "out of memory");
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
			mg_set_err(err, errlen,
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
		mg_set_err(err, errlen,
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
				mg_set_err(err, errlen,
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
		mg_set_err(err, errlen,
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
			uint32_t weights[MG_CONF_MAX_VERSIONS];

			RTE_BUILD_BUG_ON(MG_CONF_MAX_VERSIONS >
					 MG_CANARY_PICK_MAX);

			for (j = 0; j < s->n_versions; j++)
				weights[j] = s->versions[j].weight;
			mg_canary_pick_build(weights, s->n_versions, pick);
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
	mg_set_err(err, errlen, "out of memory for the health limits");
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
		mg_set_err(err, errlen, "out of memory");
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
				 * (lib/l7); here it only admits */
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
local_filter_add(struct mg_ruleset *rs, const struct mg_addr *a)
{
	unsigned int bit = mg_ruleset_local_bit(a->bytes);

	rs->hdr.local_filter[bit / 64] |= UINT64_C(1) << (bit % 64);
}

/* After build_services(): the filter holds the virtual addresses too. */
static void
build_ports(struct mg_ruleset *rs, const struct mg_conf *conf,
	    const struct layout *l)
{
	struct rs_neigh *nb = (struct rs_neigh *)((char *)rs + l->neigh);
	unsigned int i, j;

	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *p = &conf->ports[i];

		rs->ports[i].n_addrs =
			RTE_MIN(p->n_addrs, (unsigned int)MG_CONF_MAX_ADDRS);
		memcpy(rs->ports[i].addrs, p->addrs, sizeof(p->addrs));
		rs->ports[i].gateway4 = p->gateway4;
		rs->ports[i].gateway6 = p->gateway6;
	}
	rs->n_ports = conf->n_ports;
	for (i = 0; i < rs->n_ports; i++)
		for (j = 0; j < rs->ports[i].n_addrs; j++)
			local_filter_add(rs, &rs->ports[i].addrs[j].addr);
	for (i = 0; i < rs->n_local; i++)
		local_filter_add(rs, &rs->local[i]);
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
		mg_set_err(err, errlen, "out of memory for telemetry slots");
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
		mg_set_err(err, errlen, "no config");
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
		mg_set_err(err, errlen,
			   "cannot allocate %zu bytes for the ruleset", l.size);
		rte_errno = ENOMEM;
		return NULL;
	}
	rs->health = health;
	rs->telemetry = telemetry;
	seq = __atomic_fetch_add(&build_seq, 1, __ATOMIC_RELAXED);
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
	ret = rs_ids_build(rs, conf, err, errlen);
	if (ret < 0)
		goto fail;
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
	rte_free(rs->climit_meter);
	mg_l7_free(rs->l7);
	mg_esp_set_free(rs->esp);
	free(rs->ids_mem);
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
		mg_set_err(err, errlen, "limits need a limit table");
		return -EINVAL;
	}
	id_cells = (conf->n_identities + 1) * RTE_MAX(conf->n_services, 1u);
	rs->climits = rte_zmalloc("mg_rs_limits", n * sizeof(*rs->climits),
				  RTE_CACHE_LINE_SIZE);
	rs->climit_cell = rte_zmalloc("mg_rs_limits", id_cells, 0);
	rs->climit_by_id =
		rte_zmalloc("mg_rs_limits",
			    MG_TEL_MAX_LIMITS * sizeof(*rs->climit_by_id), 0);
	rs->climit_meter = rte_zmalloc("mg_rs_limits", MG_TEL_MAX_LIMITS, 0);
	if (rs->climits == NULL || rs->climit_cell == NULL ||
	    rs->climit_by_id == NULL || rs->climit_meter == NULL) {
		mg_set_err(err, errlen, "out of memory for limits");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct mg_limit_conf *lc = &conf->limits[i];
		struct mg_ruleset_limit *l = &rs->climits[i];
		unsigned int s;

		id = mg_limit_register(t, lc->name, lc->per_source);
		if (id == -ENOBUFS) {
			mg_set_err(err, errlen,
				   "%s:%d: limit '%s': no room for another "
				   "per_source limit until a restart",
				   conf->path, lc->line, lc->name);
			return -ENOSPC;
		}
		if (id < 0 || (uint32_t)id >= MG_TEL_MAX_LIMITS) {
			mg_set_err(
				err, errlen,
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
			mg_set_err(err, errlen,
				   "%s:%d: limit '%s': a rate rte_meter cannot "
				   "meter",
				   conf->path, lc->line, lc->name);
			return -EINVAL;
		}
		rs->climit_by_id[id] = l;
		rs->climit_meter[id] =
			(uint8_t)((l->meter_all ? MG_RULESET_METER_ALL : 0) |
				  (l->meter_all && l->all.bytes
					   ? MG_RULESET_METER_BYTES
					   : 0) |
				  (l->meter_source ? MG_RULESET_METER_SOURCE
						   : 0));
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
	rs->hdr.climit_by_id = rs->climit_by_id;
	rs->hdr.climit_meter = rs->climit_meter;
	rs->hdr.n_climit_ids = MG_TEL_MAX_LIMITS;
	return 0;
}

void
mg_ruleset_set_esp(struct mg_ruleset *rs, struct mg_esp_set *set)
{
	mg_esp_set_free(rs->esp);
	rs->esp = set;
}
