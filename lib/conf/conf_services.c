/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Callers and services: identities and their prefixes; services with
 * their VIPs, ports, versions, backends, rollback, pinned-version
 * routes and passive health. */

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_private.h"

/* A prefix of an identity, for finding the same prefix claimed twice. */
struct claim {
	struct mg_prefix prefix;
	uint16_t identity;
	uint16_t elem;
};

static int
cmp_claim(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int c = memcmp(&x->prefix, &y->prefix, sizeof(x->prefix));

	if (c != 0)
		return c;
	if (x->identity != y->identity)
		return x->identity < y->identity ? -1 : 1;
	return x->elem < y->elem ? -1 : x->elem > y->elem;
}

static void
load_identity(struct loader *ld, const config_setting_t *s,
	      struct mg_identity_conf *id)
{
	static const char *const keys[] = { "name", "env", "prefixes", NULL };
	config_setting_t *v, *list;
	int i, n;

	if (!conf_is_group(ld, s, "identity"))
		return;
	id->line = (int)config_setting_source_line(s);
	conf_check_keys(ld, s, keys, "an identity");
	v = conf_get_name(ld, s, "name", true, "an identity", id->name,
			  sizeof(id->name));
	if (v != NULL && strcmp(id->name, "unknown") == 0) {
		err_at(ld, v,
		       "identity name 'unknown' is reserved for sources no "
		       "identity covers");
		id->name[0] = '\0';
	}
	conf_get_name(ld, s, "env", false, "an identity", id->env,
		      sizeof(id->env));
	list = conf_get_list(ld, s, "prefixes", true, 1, MG_CONF_MAX_PREFIXES,
			     "an identity");
	n = list != NULL ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);

		conf_network_elem(ld, e, "prefixes", &id->prefixes[i]);
	}
	id->n_prefixes = (unsigned int)n;
}

/* Nested prefixes are fine (the longest wins); the same prefix under two
 * names would leave the winner to table order. */
static void
check_claims(struct loader *ld, const config_setting_t *list,
	     const struct mg_conf *conf)
{
	struct claim *c;
	unsigned int i, j, n = 0;
	char buf[INET6_ADDRSTRLEN];

	c = calloc(MG_CONF_MAX_IDENTITIES * MG_CONF_MAX_PREFIXES, sizeof(*c));
	if (c == NULL) {
		conf_report(ld, NULL, 0, "out of memory");
		return;
	}
	for (i = 0; i < conf->n_identities; i++)
		for (j = 0; j < conf->identities[i].n_prefixes; j++) {
			if (conf->identities[i].prefixes[j].addr.family == 0)
				continue;
			c[n].prefix = conf->identities[i].prefixes[j];
			c[n].identity = (uint16_t)i;
			c[n].elem = (uint16_t)j;
			n++;
		}
	qsort(c, n, sizeof(*c), cmp_claim);
	for (i = 1; i < n; i++) {
		const struct claim *a = &c[i - 1], *b = &c[i];
		const struct mg_identity_conf *ia, *ib;
		config_setting_t *e;

		if (memcmp(&a->prefix, &b->prefix, sizeof(a->prefix)) != 0)
			continue;
		ia = &conf->identities[a->identity];
		ib = &conf->identities[b->identity];
		e = config_setting_get_elem(
			config_setting_get_member(
				config_setting_get_elem(list, b->identity),
				"prefixes"),
			b->elem);
		mg_addr_format(&b->prefix.addr, buf, sizeof(buf));
		if (a->identity == b->identity)
			err_at(ld, e,
			       "prefix %s/%u is listed twice in "
			       "identity '%s'",
			       buf, b->prefix.len, ib->name);
		else
			err_at(ld, e,
			       "prefix %s/%u is claimed by two identities: "
			       "'%s' (line %d) and '%s'",
			       buf, b->prefix.len, ia->name, ia->line,
			       ib->name);
	}
	free(c);
}

void
conf_load_identities(struct loader *ld, const config_setting_t *root,
		     struct mg_conf *conf)
{
	config_setting_t *list =
		conf_get_section(ld, root, "identities", MG_CONF_MAX_IDENTITIES,
				 &ld->identities_broken);
	unsigned int i, j;

	if (list == NULL)
		return;
	conf->n_identities = (unsigned int)config_setting_length(list);
	for (i = 0; i < conf->n_identities; i++) {
		config_setting_t *s = config_setting_get_elem(list, i);
		struct mg_identity_conf *id = &conf->identities[i];

		load_identity(ld, s, id);
		for (j = 0; j < i && id->name[0] != '\0'; j++)
			if (strcmp(id->name, conf->identities[j].name) == 0) {
				err_at(ld, config_setting_get_member(s, "name"),
				       "identity name '%s' is used twice "
				       "(first at line %d)",
				       id->name, conf->identities[j].line);
				break;
			}
	}
	check_claims(ld, list, conf);
}

static const struct name_value proto_names[] = {
	{ "tcp", IPPROTO_TCP },
	{ "udp", IPPROTO_UDP },
	{ NULL, 0 },
};

/* One port (an integer, or "80") or range ("8000-8099"). */
static void
parse_port_range(struct loader *ld, const config_setting_t *e,
		 struct mg_port_range *r)
{
	unsigned long lo, hi;
	const char *text, *dash;
	long long v;

	memset(r, 0, sizeof(*r));
	if (config_setting_type(e) == CONFIG_TYPE_INT ||
	    config_setting_type(e) == CONFIG_TYPE_INT64) {
		v = config_setting_get_int64(e);
		if (v < 1 || v > 65535) {
			err_at(ld, e, "port %lld is outside 1..65535", v);
			return;
		}
		r->lo = r->hi = (uint16_t)v;
		return;
	}
	text = config_setting_get_string(e);
	if (text == NULL) {
		err_at(ld, e,
		       "'ports' must list ports (80) or ranges "
		       "(\"8000-8099\"), not %s",
		       conf_type_name(config_setting_type(e)));
		return;
	}
	dash = strchr(text, '-');
	if (dash == NULL) {
		if (!conf_parse_decimal(text, strlen(text), 65535, &lo))
			goto bad;
		hi = lo;
	} else if (!conf_parse_decimal(text, (size_t)(dash - text), 65535,
				       &lo) ||
		   !conf_parse_decimal(dash + 1, strlen(dash + 1), 65535,
				       &hi)) {
		goto bad;
	}
	if (lo == 0 || hi == 0) {
		err_at(ld, e, "port range '%s' is outside 1..65535", text);
		return;
	}
	if (lo > hi) {
		err_at(ld, e,
		       "port range '%s' has its low end above its high end",
		       text);
		return;
	}
	r->lo = (uint16_t)lo;
	r->hi = (uint16_t)hi;
	return;
bad:
	err_at(ld, e,
	       "port range '%s' is not a port or a range lo-hi within "
	       "1..65535",
	       text);
}

static bool
ranges_overlap(const struct mg_port_range *a, const struct mg_port_range *b)
{
	/* lo 0 marks an entry already refused */
	return a->lo != 0 && b->lo != 0 && a->lo <= b->hi && b->lo <= a->hi;
}

/* "a.b.c.d", "a.b.c.d:p", "v6" or "[v6]:p"; NULL or why not. */
const char *
conf_parse_backend(const char *text, struct mg_backend_conf *b)
{
	char addr[INET6_ADDRSTRLEN];
	const char *port = NULL, *end;
	const char *colon = strchr(text, ':');
	bool bracket = text[0] == '[';
	unsigned long p;
	size_t n;

	memset(b, 0, sizeof(*b));
	if (bracket) {
		end = strchr(text, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return "is not address, address:port or [IPv6]:port";
		n = (size_t)(end - text - 1);
		if (end[1] == ':')
			port = end + 2;
		text++;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		n = (size_t)(colon - text); /* IPv4:port */
		port = colon + 1;
	} else {
		n = strlen(text);
	}
	if (n >= sizeof(addr))
		return "is not address, address:port or [IPv6]:port";
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (!mg_addr_parse(addr, &b->addr))
		return "is not address, address:port or [IPv6]:port";
	if (bracket && b->addr.family != 6) {
		b->addr.family = 0;
		return "puts an IPv4 address in [ ], which are for IPv6";
	}
	if (port != NULL) {
		if (!conf_parse_decimal(port, strlen(port), 65535, &p) ||
		    p == 0) {
			b->addr.family = 0;
			return "has a port outside 1..65535";
		}
		b->port = (uint16_t)p;
	}
	return NULL;
}

static void
load_backends(struct loader *ld, const config_setting_t *s,
	      const struct mg_service_conf *svc, struct mg_version_conf *v)
{
	config_setting_t *list = conf_get_list(
		ld, s, "backends", true, 1, MG_CONF_MAX_BACKENDS, "a version");
	int i, j, n = list != NULL ? config_setting_length(list) : 0;
	unsigned int k;

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_backend_conf *b = &v->backends[i];
		const char *text = conf_elem_string(ld, e, "backends");
		const char *why;
		bool family_ok = false;

		if (text == NULL)
			continue;
		why = conf_parse_backend(text, b);
		if (why != NULL) {
			err_at(ld, e, "backend '%s' %s", text, why);
			continue;
		}
		for (k = 0; k < svc->n_vips; k++)
			family_ok |= svc->vips[k].family == b->addr.family;
		/* the rewrite keeps the IP version: no NAT64/46 */
		if (!family_ok) {
			err_at(ld, e,
			       "backend '%s' is IPv%u but service '%s' has "
			       "no IPv%u address (NAT64 is not supported)",
			       text, b->addr.family, svc->name, b->addr.family);
			continue;
		}
		for (j = 0; j < i; j++)
			if (conf_same_addr(&b->addr, &v->backends[j].addr) &&
			    b->port == v->backends[j].port) {
				err_at(ld, e,
				       "backend '%s' is listed twice in "
				       "version '%s'",
				       text, v->name);
				break;
			}
	}
	v->n_backends = (unsigned int)n;
	/* a connection keeps its IP version, so a version that can be
	 * picked needs a backend for every family the service answers on */
	for (k = 0; k < svc->n_vips && v->weight != 0; k++) {
		uint8_t fam = svc->vips[k].family;
		bool found = false;

		for (j = 0; j < n; j++)
			found |= v->backends[j].addr.family == fam;
		if (!found && fam != 0 && list != NULL) {
			err_at(ld, list,
			       "version '%s' has no IPv%u backend, but service "
			       "'%s' has an IPv%u address",
			       v->name, fam, svc->name, fam);
			break;
		}
	}
}

/* A number (integer or not) strictly between @p lo and @p hi. */
static void
get_ratio(struct loader *ld, const config_setting_t *group, const char *key,
	  double lo, double hi, double *out)
{
	config_setting_t *s = config_setting_get_member(group, key);
	double v;

	if (s == NULL)
		return;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT: v = config_setting_get_float(s); break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: v = (double)config_setting_get_int64(s); break;
	default:
		err_at(ld, s, "'%s' must be a number, not %s", key,
		       conf_type_name(config_setting_type(s)));
		return;
	}
	if (!(v > lo && v < hi)) {
		err_at(ld, s, "'%s' is %g; it must be above %g and below %g",
		       key, v, lo, hi);
		return;
	}
	*out = v;
}

/* A version's `rollback` group: every key is needed, so that what
 * pulls a canary back is written where it is configured. */
static void
load_rollback(struct loader *ld, const config_setting_t *s,
	      struct mg_version_conf *v)
{
	static const char *const keys[] = { "max_error_ratio", "min_requests",
					    "window_s", NULL };
	config_setting_t *g =
		conf_member(ld, s, "rollback", CONFIG_TYPE_GROUP, 0);
	struct mg_rollback_conf *r = &v->rollback;
	unsigned int i;

	if (g == NULL)
		return;
	r->line = (int)config_setting_source_line(g);
	conf_check_keys(ld, g, keys, "'rollback'");
	for (i = 0; keys[i] != NULL; i++)
		if (config_setting_get_member(g, keys[i]) == NULL)
			err_at(ld, g, "'rollback' of version '%s' needs '%s'",
			       v->name, keys[i]);
	get_ratio(ld, g, "max_error_ratio", 0, 1, &r->max_error_ratio);
	/* fewer outcomes prove nothing at the test's confidence */
	conf_get_uint(ld, g, "min_requests", 10, 100000000, &r->min_requests);
	/* a window is at least ten of the control plane's one-second
	 * samples, at most a day of them */
	conf_get_uint(ld, g, "window_s", 10, 86400, &r->window_s);
	r->enabled = true;
}

static void
load_version(struct loader *ld, const config_setting_t *s,
	     const struct mg_service_conf *svc, bool several,
	     struct mg_version_conf *v)
{
	static const char *const keys[] = { "name",   "weight",	  "backends",
					    "canary", "rollback", NULL };
	config_setting_t *c;

	if (!conf_is_group(ld, s, "version"))
		return;
	v->line = (int)config_setting_source_line(s);
	conf_check_keys(ld, s, keys, "a version");
	conf_get_name(ld, s, "name", true, "a version", v->name,
		      sizeof(v->name));
	c = conf_member(ld, s, "canary", CONFIG_TYPE_BOOL, 0);
	v->canary = c != NULL && config_setting_get_bool(c);
	/* a lone version takes all traffic; among several, a forgotten
	 * weight must not silently decide the split */
	v->weight = 1;
	if (config_setting_get_member(s, "weight") != NULL)
		conf_get_uint(ld, s, "weight", 0, MG_CONF_MAX_WEIGHT_TOTAL,
			      &v->weight);
	else if (several)
		err_at(ld, s,
		       "version '%s' of service '%s' needs 'weight' (the "
		       "service has several versions)",
		       v->name, svc->name);
	load_backends(ld, s, svc, v);
	load_rollback(ld, s, v);
}

/* A version with `rollback` is compared with the service's stable
 * versions (weight > 0, no rollback of their own): there must be one,
 * and its weight is where the rolled-back share goes. */
static void
check_rollback(struct loader *ld, const config_setting_t *list,
	       const struct mg_service_conf *svc)
{
	unsigned int i, stable = 0;

	for (i = 0; i < svc->n_versions; i++)
		stable += !svc->versions[i].rollback.enabled &&
			  svc->versions[i].weight > 0;
	for (i = 0; i < svc->n_versions && stable == 0; i++)
		if (svc->versions[i].rollback.enabled) {
			err_at(ld,
			       config_setting_get_member(
				       config_setting_get_elem(list, i),
				       "rollback"),
			       "version '%s' of service '%s' has 'rollback' "
			       "but the service has no stable version (one "
			       "with weight above 0 and no 'rollback') to "
			       "compare it with and to take its share",
			       svc->versions[i].name, svc->name);
			return;
		}
}

static void
load_versions(struct loader *ld, const config_setting_t *s,
	      struct mg_service_conf *svc)
{
	config_setting_t *list = conf_get_list(
		ld, s, "versions", true, 1, MG_CONF_MAX_VERSIONS, "a service");
	unsigned int i, j, n;
	uint64_t total = 0;

	if (list == NULL)
		return;
	n = (unsigned int)config_setting_length(list);
	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		err_at(ld, list, "'versions' must be a list ( { ... }, ... )");
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_version_conf *v = &svc->versions[i];

		load_version(ld, e, svc, n > 1, v);
		total += v->weight;
		for (j = 0; j < i && v->canary; j++)
			if (svc->versions[j].canary) {
				err_at(ld,
				       config_setting_get_member(e, "canary"),
				       "service '%s' has two canary versions: "
				       "'%s' (line %d) and '%s'",
				       svc->name, svc->versions[j].name,
				       svc->versions[j].line, v->name);
				break;
			}
		for (j = 0; j < i && v->name[0] != '\0'; j++)
			if (strcmp(v->name, svc->versions[j].name) == 0) {
				err_at(ld, config_setting_get_member(e, "name"),
				       "version name '%s' is used twice in "
				       "service '%s'",
				       v->name, svc->name);
				break;
			}
	}
	svc->n_versions = n;
	check_rollback(ld, list, svc);
	if (total > MG_CONF_MAX_WEIGHT_TOTAL)
		err_at(ld, list,
		       "weights of service '%s' add up to %llu; at most %d",
		       svc->name, (unsigned long long)total,
		       MG_CONF_MAX_WEIGHT_TOTAL);
	else if (total == 0)
		err_at(ld, list,
		       "all versions of service '%s' have weight 0; at least "
		       "one must get traffic",
		       svc->name);
}

/* "name", "env:label" or "*". */
bool
conf_parse_ref(const char *text, struct mg_ref *r)
{
	memset(r, 0, sizeof(*r));
	if (strcmp(text, "*") == 0) {
		r->kind = MG_REF_ANY;
		return true;
	}
	r->kind = MG_REF_NAME;
	if (strncmp(text, "env:", 4) == 0) {
		r->kind = MG_REF_ENV;
		text += 4;
	}
	/* "peer:NAME" is the identity of traffic from that peer's SAs */
	if (r->kind == MG_REF_NAME &&
	    strncmp(text, MG_CONF_PEER_PREFIX, strlen(MG_CONF_PEER_PREFIX)) ==
		    0) {
		if (strlen(text) >= sizeof(r->name) ||
		    !conf_valid_name(text + strlen(MG_CONF_PEER_PREFIX)))
			return false;
		memcpy(r->name, text, strlen(text) + 1);
		return true;
	}
	if (strlen(text) >= sizeof(r->name) || !conf_valid_name(text))
		return false;
	memcpy(r->name, text, strlen(text) + 1);
	return true;
}

/* Whether a ref names something that exists: a misspelt name or label
 * would otherwise be a rule that silently matches nothing. */
bool
conf_ref_resolves(const struct mg_conf *conf, const struct mg_ref *r, bool from)
{
	unsigned int i;

	if (r->kind == MG_REF_ANY)
		return true;
	if (from) {
		if (r->kind == MG_REF_NAME && strcmp(r->name, "unknown") == 0)
			return true;
		for (i = 0; i < conf->n_identities; i++)
			if (strcmp(r->name,
				   r->kind == MG_REF_NAME
					   ? conf->identities[i].name
					   : conf->identities[i].env) == 0)
				return true;
		return false;
	}
	for (i = 0; i < conf->n_services; i++)
		if (strcmp(r->name, r->kind == MG_REF_NAME
					    ? conf->services[i].name
					    : conf->services[i].env) == 0)
			return true;
	return false;
}

/* Written even without a group: the ruleset never guesses a default. */
void
conf_health_defaults(struct mg_health_conf *h)
{
	h->enabled = true;
	h->connect_timeout_ms = 1000;
	h->eject_after = 1;
	h->base_ejection_ms = 5000;
	h->max_ejection_ms = 60000;
	h->max_ejected_percent = 50;
}

/* A `health` group in @p parent (the root or a service) overrides what
 * *h holds key by key. */
void
conf_load_health(struct loader *ld, const config_setting_t *parent,
		 const char *where, struct mg_health_conf *h)
{
	static const char *const keys[] = { "enabled",
					    "connect_timeout_ms",
					    "eject_after",
					    "base_ejection_ms",
					    "max_ejection_ms",
					    "max_ejected_percent",
					    NULL };
	config_setting_t *g =
		conf_member(ld, parent, "health", CONFIG_TYPE_GROUP, 0);
	config_setting_t *v, *base, *max;

	if (g == NULL)
		return;
	conf_check_keys(ld, g, keys, where);
	v = conf_member(ld, g, "enabled", CONFIG_TYPE_BOOL, 0);
	if (v != NULL)
		h->enabled = config_setting_get_bool(v);
	/* a SYN-ACK takes a round trip; a minute is a dead backend */
	conf_get_uint(ld, g, "connect_timeout_ms", 10, 60000,
		      &h->connect_timeout_ms);
	conf_get_uint(ld, g, "eject_after", 1, 1000, &h->eject_after);
	/* below 100 ms an ejection is noise; a day is a removal */
	conf_get_uint(ld, g, "base_ejection_ms", 100, 3600000,
		      &h->base_ejection_ms);
	conf_get_uint(ld, g, "max_ejection_ms", 100, 86400000,
		      &h->max_ejection_ms);
	conf_get_uint(ld, g, "max_ejected_percent", 0, 100,
		      &h->max_ejected_percent);
	base = config_setting_get_member(g, "base_ejection_ms");
	max = config_setting_get_member(g, "max_ejection_ms");
	/* only where this group sets one of them: an inherited mistake is
	 * reported once, where it was made */
	if (h->max_ejection_ms < h->base_ejection_ms &&
	    (base != NULL || max != NULL))
		err_at(ld, max != NULL ? max : base,
		       "'max_ejection_ms' (%u) is below 'base_ejection_ms' "
		       "(%u)",
		       h->max_ejection_ms, h->base_ejection_ms);
}

/* A route's callers: refs as a policy's `from`. */
static void
load_route_from(struct loader *ld, const config_setting_t *g,
		const struct mg_conf *conf, const struct mg_service_conf *svc,
		struct mg_route_conf *r)
{
	config_setting_t *list = conf_get_list(ld, g, "from", true, 1,
					       MG_CONF_MAX_REFS, "a route");
	int i, n = list != NULL ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		const char *text = conf_elem_string(ld, e, "from");

		if (text == NULL)
			continue;
		if (!conf_parse_ref(text, &r->from[i])) {
			err_at(ld, e,
			       "'from' entry '%s' is not a name, "
			       "\"peer:name\", \"env:label\" or \"*\"",
			       text);
			continue;
		}
		if (ld->identities_broken ||
		    conf_ref_resolves(conf, &r->from[i], true))
			continue;
		if (r->from[i].kind == MG_REF_ENV)
			err_at(ld, e,
			       "route of service '%s': no identity has env "
			       "'%s'",
			       svc->name, r->from[i].name);
		else
			err_at(ld, e,
			       "route of service '%s': 'from' names '%s', "
			       "which is not an identity (nor \"unknown\")",
			       svc->name, r->from[i].name);
	}
	r->n_from = (unsigned int)n;
}

/* routes = ( { from = [...]; version = "v2"; }, ... ): callers pinned to
 * a version of this service. Versions must be loaded. */
static void
load_routes(struct loader *ld, const config_setting_t *s,
	    const struct mg_conf *conf, struct mg_service_conf *svc)
{
	static const char *const keys[] = { "from", "version", NULL };
	config_setting_t *list = conf_get_list(ld, s, "routes", false, 0,
					       MG_CONF_MAX_ROUTES, "a service");
	unsigned int i, j, n;

	if (list == NULL)
		return;
	n = (unsigned int)config_setting_length(list);
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, i), *v;
		struct mg_route_conf *r = &svc->routes[i];
		const char *name;

		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			err_at(ld, g,
			       "each route must be a group { from = [...]; "
			       "version = \"...\"; }");
			continue;
		}
		r->line = (int)config_setting_source_line(g);
		r->version = UINT8_MAX; /* until the name resolves */
		conf_check_keys(ld, g, keys, "a route");
		load_route_from(ld, g, conf, svc, r);
		v = conf_require(ld, g, "version", CONFIG_TYPE_STRING, 0,
				 "a route");
		if (v == NULL)
			continue;
		name = config_setting_get_string(v);
		for (j = 0; j < svc->n_versions; j++)
			if (strcmp(name, svc->versions[j].name) == 0)
				break;
		if (j == svc->n_versions)
			err_at(ld, v,
			       "route of service '%s': version '%s' is not a "
			       "version of the service",
			       svc->name, name);
		else
			r->version = (uint8_t)j;
	}
	svc->n_routes = n;
}

/* A canary or routed version takes connections even at weight 0, so it
 * needs what load_backends() asks of a weighted one: a backend of every
 * family the service answers on. */
static void
check_reachable_versions(struct loader *ld, const config_setting_t *s,
			 const struct mg_service_conf *svc)
{
	config_setting_t *vl = config_setting_get_member(s, "versions");
	unsigned int i, j, k;

	for (i = 0; i < svc->n_versions && vl != NULL; i++) {
		const struct mg_version_conf *v = &svc->versions[i];
		bool routed = v->canary;

		for (j = 0; j < svc->n_routes; j++)
			routed |= svc->routes[j].version == i;
		if (v->weight != 0 || !routed || v->n_backends == 0)
			continue;
		for (k = 0; k < svc->n_vips; k++) {
			uint8_t fam = svc->vips[k].family;
			bool found = false;

			for (j = 0; j < v->n_backends; j++)
				found |= v->backends[j].addr.family == fam;
			if (found || fam == 0)
				continue;
			err_at(ld,
			       config_setting_get_member(
				       config_setting_get_elem(vl, i),
				       "backends"),
			       "version '%s' has no IPv%u backend, but service "
			       "'%s' has an IPv%u address (a canary or routed "
			       "version takes connections at weight 0 too)",
			       v->name, fam, svc->name, fam);
			break;
		}
	}
}

static void
load_service(struct loader *ld, const config_setting_t *s,
	     const struct mg_conf *conf, struct mg_service_conf *svc)
{
	static const char *const keys[] = { "name",	 "env",	   "protocol",
					    "addresses", "ports",  "versions",
					    "routes",	 "health", NULL };
	config_setting_t *list;
	uint32_t proto = 0;
	int i, j, n;

	if (!conf_is_group(ld, s, "service"))
		return;
	svc->line = (int)config_setting_source_line(s);
	conf_check_keys(ld, s, keys, "a service");
	conf_get_name(ld, s, "name", true, "a service", svc->name,
		      sizeof(svc->name));
	conf_get_name(ld, s, "env", false, "a service", svc->env,
		      sizeof(svc->env));
	if (conf_require(ld, s, "protocol", CONFIG_TYPE_STRING, 0, "a service"))
		conf_get_choice(ld, s, "protocol", proto_names, &proto);
	svc->proto = (uint8_t)proto;

	list = conf_get_list(ld, s, "addresses", true, 1, MG_CONF_MAX_VIPS,
			     "a service");
	n = list != NULL ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		const char *text = conf_elem_string(ld, e, "addresses");

		if (text == NULL)
			continue;
		if (!mg_addr_parse(text, &svc->vips[i])) {
			err_at(ld, e,
			       "address '%s' is not an IPv4 or IPv6 address",
			       text);
			continue;
		}
		for (j = 0; j < i; j++)
			if (conf_same_addr(&svc->vips[i], &svc->vips[j])) {
				err_at(ld, e, "address '%s' is listed twice",
				       text);
				break;
			}
	}
	svc->n_vips = (unsigned int)n;

	list = conf_get_list(ld, s, "ports", true, 1, MG_CONF_MAX_PORT_RANGES,
			     "a service");
	n = list != NULL ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);

		parse_port_range(ld, e, &svc->ports[i]);
		for (j = 0; j < i; j++)
			if (ranges_overlap(&svc->ports[i], &svc->ports[j])) {
				err_at(ld, e,
				       "ports %u-%u overlap %u-%u of the same "
				       "service",
				       svc->ports[i].lo, svc->ports[i].hi,
				       svc->ports[j].lo, svc->ports[j].hi);
				break;
			}
	}
	svc->n_ports = (unsigned int)n;
	load_versions(ld, s, svc);
	load_routes(ld, s, conf, svc);
	check_reachable_versions(ld, s, svc);
	svc->health = conf->health;
	conf_load_health(ld, s, "a service's 'health'", &svc->health);
}

/* Whether services @p a and @p b claim one (address, protocol, port);
 * if so, fills @p where with "address proto port". */
static bool
services_collide(const struct mg_service_conf *a,
		 const struct mg_service_conf *b, char *where, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned int i, j, k, l;

	if (a->proto != b->proto || a->proto == 0)
		return false;
	for (i = 0; i < a->n_vips; i++)
		for (j = 0; j < b->n_vips; j++) {
			if (a->vips[i].family == 0 ||
			    !conf_same_addr(&a->vips[i], &b->vips[j]))
				continue;
			for (k = 0; k < a->n_ports; k++)
				for (l = 0; l < b->n_ports; l++) {
					if (!ranges_overlap(&a->ports[k],
							    &b->ports[l]))
						continue;
					snprintf(
						where, len, "%s %s port %u",
						mg_addr_format(&a->vips[i], buf,
							       sizeof(buf)),
						a->proto == IPPROTO_TCP ? "tcp"
									: "udp",
						a->ports[k].lo > b->ports[l].lo
							? a->ports[k].lo
							: b->ports[l].lo);
					return true;
				}
		}
	return false;
}

void
conf_load_services(struct loader *ld, const config_setting_t *root,
		   struct mg_conf *conf)
{
	config_setting_t *list =
		conf_get_section(ld, root, "services", MG_CONF_MAX_SERVICES,
				 &ld->services_broken);
	unsigned int i, j;
	char where[96];

	if (list == NULL)
		return;
	conf->n_services = (unsigned int)config_setting_length(list);
	for (i = 0; i < conf->n_services; i++) {
		config_setting_t *s = config_setting_get_elem(list, i);
		struct mg_service_conf *svc = &conf->services[i];

		load_service(ld, s, conf, svc);
		for (j = 0; j < i && svc->name[0] != '\0'; j++)
			if (strcmp(svc->name, conf->services[j].name) == 0) {
				err_at(ld, config_setting_get_member(s, "name"),
				       "service name '%s' is used twice "
				       "(first at line %d)",
				       svc->name, conf->services[j].line);
				break;
			}
		for (j = 0; j < i; j++)
			if (services_collide(svc, &conf->services[j], where,
					     sizeof(where))) {
				err_at(ld,
				       config_setting_get_member(s, "ports"),
				       "services '%s' (line %d) and '%s' both "
				       "claim %s",
				       conf->services[j].name,
				       conf->services[j].line, svc->name,
				       where);
				break;
			}
	}
}
