/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The rest of the box: rate limits, static neighbours, checks that
 * every backend can be reached, telemetry, idle mode, shadow, recorder
 * and deny log. */

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_private.h"

/* Exactly "xx:xx:xx:xx:xx:xx". */
static bool
parse_mac(const char *text, uint8_t mac[6])
{
	int i, hi, lo;

	if (strlen(text) != 17)
		return false;
	for (i = 0; i < 6; i++) {
		hi = conf_hex_digit(text[3 * i]);
		lo = conf_hex_digit(text[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Largest rate or burst of a limit: far beyond any link, far below
 * where rte_meter's arithmetic overflows. */
#define MAX_LIMIT_RATE 1000000000000ull

static void
load_rate(struct loader *ld, const config_setting_t *g, const char *key,
	  const char *what, struct mg_rate_conf *r)
{
	static const char *const keys[] = { "rate", "burst", NULL };
	config_setting_t *s = conf_member(ld, g, key, CONFIG_TYPE_GROUP, 0), *v;
	long long x;

	if (s == NULL)
		return;
	conf_check_keys(ld, s, keys, what);
	v = conf_require(ld, s, "rate", CONFIG_TYPE_INT, CONFIG_TYPE_INT64,
			 what);
	if (v != NULL) {
		x = config_setting_get_int64(v);
		if (x < 1 || (unsigned long long)x > MAX_LIMIT_RATE)
			err_at(ld, v,
			       "'rate' is %lld; it must be between 1 and %llu",
			       x, MAX_LIMIT_RATE);
		else
			r->rate = (uint64_t)x;
	}
	/* a second's worth unless told */
	r->burst = r->rate;
	v = conf_member(ld, s, "burst", CONFIG_TYPE_INT, CONFIG_TYPE_INT64);
	if (v != NULL) {
		x = config_setting_get_int64(v);
		if (x < 1 || (unsigned long long)x > MAX_LIMIT_RATE)
			err_at(ld, v,
			       "'burst' is %lld; it must be between 1 and "
			       "%llu",
			       x, MAX_LIMIT_RATE);
		else
			r->burst = (uint64_t)x;
	}
}

/* The budget of an identity, or of each source of one. */
static void
load_limit_bucket(struct loader *ld, const config_setting_t *g,
		  const char *what, struct mg_limit_bucket_conf *b)
{
	config_setting_t *p = config_setting_get_member(g, "packets");
	config_setting_t *y = config_setting_get_member(g, "bytes");

	load_rate(ld, g, "new_connections", what, &b->conn);
	conf_get_uint(ld, g, "max_connections", 1, 1 << 24, &b->max_conns);
	if (p != NULL && y != NULL) {
		err_at(ld, y, "%s has both 'packets' and 'bytes'; give one",
		       what);
		return;
	}
	b->bytes = y != NULL;
	load_rate(ld, g, b->bytes ? "bytes" : "packets", what, &b->pkt);
}

static bool
limit_bucket_empty(const struct mg_limit_bucket_conf *b)
{
	return b->conn.rate == 0 && b->max_conns == 0 && b->pkt.rate == 0;
}

void
conf_load_limits(struct loader *ld, const config_setting_t *root,
		 struct mg_conf *conf)
{
	static const char *const keys[] = { "name",
					    "identity",
					    "service",
					    "new_connections",
					    "max_connections",
					    "packets",
					    "bytes",
					    "per_source",
					    NULL };
	static const char *const src_keys[] = { "new_connections",
						"max_connections", "packets",
						"bytes", NULL };
	bool broken;
	config_setting_t *list = conf_get_section(ld, root, "limits",
						  MG_CONF_MAX_LIMITS, &broken);
	unsigned int i, j;

	conf->limit_sources = 1024;
	conf_get_uint(ld, root, "limit_sources", 8, 1 << 20,
		      &conf->limit_sources);
	if (list == NULL)
		return;
	conf->n_limits = (unsigned int)config_setting_length(list);
	for (i = 0; i < conf->n_limits; i++) {
		config_setting_t *s = config_setting_get_elem(list, i), *v, *ps;
		struct mg_limit_conf *l = &conf->limits[i];
		char buf[MG_CONF_NAME_LEN];

		l->service = -1;
		if (!conf_is_group(ld, s, "limit"))
			continue;
		l->line = (int)config_setting_source_line(s);
		conf_check_keys(ld, s, keys, "a limit");
		v = conf_get_name(ld, s, "name", true, "a limit", l->name,
				  sizeof(l->name));
		for (j = 0; v != NULL && j < i; j++)
			if (strcmp(l->name, conf->limits[j].name) == 0)
				err_at(ld, v,
				       "limit '%s' is defined twice (first at "
				       "line %d)",
				       l->name, conf->limits[j].line);
		v = conf_get_name(ld, s, "identity", true, "a limit", buf,
				  sizeof(buf));
		if (v != NULL) {
			for (j = 0; j < conf->n_identities; j++)
				if (strcmp(buf, conf->identities[j].name) == 0)
					break;
			if (j < conf->n_identities)
				l->identity = (uint16_t)(j + 1);
			else if (strcmp(buf, "unknown") != 0)
				err_at(ld, v,
				       "limit '%s': no identity '%s' "
				       "(identities "
				       "and \"unknown\" are limited)",
				       l->name, buf);
		}
		v = conf_get_name(ld, s, "service", false, "a limit", buf,
				  sizeof(buf));
		if (v != NULL) {
			for (j = 0; j < conf->n_services; j++)
				if (strcmp(buf, conf->services[j].name) == 0)
					break;
			if (j < conf->n_services)
				l->service = (int)j;
			else
				err_at(ld, v, "limit '%s': no service '%s'",
				       l->name, buf);
		}
		load_limit_bucket(ld, s, "a limit", &l->all);
		ps = conf_member(ld, s, "per_source", CONFIG_TYPE_GROUP, 0);
		if (ps != NULL) {
			conf_check_keys(ld, ps, src_keys, "'per_source'");
			load_limit_bucket(ld, ps, "'per_source'", &l->source);
			l->per_source = !limit_bucket_empty(&l->source);
			if (!l->per_source)
				err_at(ld, ps,
				       "limit '%s': 'per_source' limits "
				       "nothing",
				       l->name);
		}
		if (limit_bucket_empty(&l->all) && !l->per_source)
			err_at(ld, s,
			       "limit '%s' limits nothing: give "
			       "new_connections, max_connections, packets "
			       "or bytes",
			       l->name);
		/* one limit per caller and service: the one naming the
		 * service beats the one for every service */
		for (j = 0; j < i; j++)
			if (conf->limits[j].identity == l->identity &&
			    conf->limits[j].service == l->service)
				err_at(ld, s,
				       "limit '%s' covers the same caller and "
				       "service as '%s' (line %d)",
				       l->name, conf->limits[j].name,
				       conf->limits[j].line);
	}
}

void
conf_load_neighbours(struct loader *ld, const config_setting_t *root,
		     struct mg_conf *conf)
{
	static const char *const keys[] = { "address", "mac", NULL };
	static const uint8_t zero[6];
	bool broken;
	config_setting_t *list = conf_get_section(
		ld, root, "neighbours", MG_CONF_MAX_NEIGHBOURS, &broken);
	unsigned int i, j;

	if (list == NULL)
		return;
	conf->n_neighbours = (unsigned int)config_setting_length(list);
	for (i = 0; i < conf->n_neighbours; i++) {
		config_setting_t *s = config_setting_get_elem(list, i), *v;
		struct mg_neighbour_conf *nb = &conf->neighbours[i];
		const char *text;

		if (!conf_is_group(ld, s, "neighbour"))
			continue;
		nb->line = (int)config_setting_source_line(s);
		conf_check_keys(ld, s, keys, "a neighbour");
		v = conf_require(ld, s, "address", CONFIG_TYPE_STRING, 0,
				 "a neighbour");
		if (v != NULL) {
			text = config_setting_get_string(v);
			if (!mg_addr_parse(text, &nb->addr))
				err_at(ld, v,
				       "neighbour address '%s' is not an IPv4 "
				       "or IPv6 address",
				       text);
			for (j = 0; j < i && nb->addr.family != 0; j++)
				if (conf_same_addr(&nb->addr,
						   &conf->neighbours[j].addr)) {
					err_at(ld, v,
					       "neighbour %s is listed twice "
					       "(first at line %d)",
					       text, conf->neighbours[j].line);
					break;
				}
		}
		v = conf_require(ld, s, "mac", CONFIG_TYPE_STRING, 0,
				 "a neighbour");
		if (v == NULL)
			continue;
		text = config_setting_get_string(v);
		if (!parse_mac(text, nb->mac))
			err_at(ld, v,
			       "mac '%s' is not of the form 02:00:00:00:00:01",
			       text);
		else if ((nb->mac[0] & 1) != 0 ||
			 memcmp(nb->mac, zero, sizeof(zero)) == 0)
			err_at(ld, v,
			       "mac '%s' is not a unicast address (a "
			       "neighbour is one host)",
			       text);
	}
}

static int
cmp_addr(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct mg_addr));
}

/* One backend of the config, where the file has it. */
struct backend_at {
	unsigned int svc; /* index in conf->services */
	const struct mg_service_conf *service;
	const struct mg_version_conf *version;
	const struct mg_addr *addr;
	const config_setting_t *setting; /* its element of "backends" */
};

/* Calls @p fn for every backend of every version of every service. */
static void
for_each_backend(struct loader *ld, const config_setting_t *root,
		 const struct mg_conf *conf,
		 void (*fn)(struct loader *ld, const struct mg_conf *conf,
			    const struct backend_at *b, void *ctx),
		 void *ctx)
{
	config_setting_t *list = config_setting_get_member(root, "services");
	struct backend_at b;
	unsigned int j, k;

	if (list == NULL)
		return;
	for (b.svc = 0; b.svc < conf->n_services; b.svc++) {
		config_setting_t *vl = config_setting_get_member(
			config_setting_get_elem(list, b.svc), "versions");

		b.service = &conf->services[b.svc];
		for (j = 0; j < b.service->n_versions; j++) {
			config_setting_t *bl = config_setting_get_member(
				config_setting_get_elem(vl, j), "backends");

			b.version = &b.service->versions[j];
			for (k = 0; k < b.version->n_backends; k++) {
				b.addr = &b.version->backends[k].addr;
				b.setting = config_setting_get_elem(bl, k);
				fn(ld, conf, &b, ctx);
			}
		}
	}
}

/* The gateway's own addresses (VIPs and port addresses), sorted. */
struct local_addrs {
	struct mg_addr *addr;
	unsigned int n;
};

static void
backend_loop(struct loader *ld, const struct mg_conf *conf,
	     const struct backend_at *b, void *ctx)
{
	const struct local_addrs *local = ctx;
	char buf[INET6_ADDRSTRLEN];

	(void)conf;

	if (b->addr->family == 0 ||
	    bsearch(b->addr, local->addr, local->n, sizeof(*local->addr),
		    cmp_addr) == NULL)
		return;
	err_at(ld, b->setting,
	       "backend %s of service '%s' is an address of the gateway "
	       "itself",
	       mg_addr_format(b->addr, buf, sizeof(buf)), b->service->name);
}

/* A backend that is one of the gateway's own addresses (a VIP or a port
 * address) would send the rewritten packet straight back in. */
void
conf_check_backend_loops(struct loader *ld, const config_setting_t *root,
			 const struct mg_conf *conf)
{
	struct local_addrs local = { NULL, 0 };
	unsigned int i, j;

	if (conf->n_services == 0)
		return;
	local.addr = calloc(MG_CONF_MAX_SERVICES * MG_CONF_MAX_VIPS +
				    MG_CONF_MAX_PORTS * MG_CONF_MAX_ADDRS,
			    sizeof(*local.addr));
	if (local.addr == NULL) {
		conf_report(ld, NULL, 0, "out of memory");
		return;
	}
	for (i = 0; i < conf->n_services; i++)
		for (j = 0; j < conf->services[i].n_vips; j++)
			local.addr[local.n++] = conf->services[i].vips[j];
	for (i = 0; i < conf->n_ports; i++)
		for (j = 0; j < conf->ports[i].n_addrs; j++)
			local.addr[local.n++] = conf->ports[i].addrs[j].addr;
	qsort(local.addr, local.n, sizeof(*local.addr), cmp_addr);
	for_each_backend(ld, root, conf, backend_loop, &local);
	free(local.addr);
}

/* Whether some port can send to @p a: a prefix of one of its addresses
 * holds it, or it has a gateway of its family. */
static bool
backend_routable(const struct mg_conf *conf, const struct mg_addr *a)
{
	unsigned int i, j;

	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *p = &conf->ports[i];

		for (j = 0; j < p->n_addrs; j++)
			if (mg_prefix_contains(&p->addrs[j], a))
				return true;
		if ((a->family == 4 ? p->gateway4 : p->gateway6).family != 0)
			return true;
	}
	return false;
}

/* The peer a backend of service @p svc sits behind (its services or
 * prefixes), or NULL. */
static const struct mg_peer_conf *
backend_peer(const struct mg_conf *conf, unsigned int svc,
	     const struct mg_addr *a)
{
	unsigned int i, j;

	for (i = 0; i < conf->n_peers; i++) {
		const struct mg_peer_conf *p = &conf->peers[i];

		for (j = 0; j < p->n_services; j++)
			if (p->services[j] == svc)
				return p;
		for (j = 0; j < p->n_prefixes; j++)
			if (mg_prefix_contains(&p->prefixes[j], a))
				return p;
	}
	return NULL;
}

/* @p ctx: the config, which keeps the warning */
static void
backend_route(struct loader *ld, const struct mg_conf *conf,
	      const struct backend_at *b, void *ctx)
{
	const struct mg_peer_conf *p = backend_peer(conf, b->svc, b->addr);
	char buf[INET6_ADDRSTRLEN];

	if (backend_routable(conf, p != NULL ? &p->remote : b->addr))
		return;
	conf_warn_setting(ld, ctx, b->setting,
			  "backend %s of service '%s' (version '%s') is in no "
			  "port's prefix and no port has a gateway%u: its "
			  "connections will be dropped (no_route)",
			  mg_addr_format(b->addr, buf, sizeof(buf)),
			  b->service->name, b->version->name, b->addr->family);
}

/* A backend no port can reach is valid config, but every connection
 * sent its way would be dropped (no_route): say so, where it is. A
 * backend behind a peer is reached through the peer's endpoint. */
void
conf_check_backend_routes(struct loader *ld, const config_setting_t *root,
			  struct mg_conf *conf)
{
	if (ld->errs->n > 0)
		return;
	for_each_backend(ld, root, conf, backend_route, conf);
}

/* "shadow": a candidate config to evaluate beside this one. The app
 * loads it (its errors are its own file's); here only the path. */
void
conf_load_shadow(struct loader *ld, const config_setting_t *root,
		 struct mg_conf *conf)
{
	config_setting_t *s =
		conf_member(ld, root, "shadow", CONFIG_TYPE_STRING, 0);

	if (s == NULL)
		return;
	conf->shadow_line = (int)config_setting_source_line(s);
	conf_path_value(ld, s, "shadow", conf->shadow, sizeof(conf->shadow));
}

/* "recorder": how many dropped or denied packets each lcore keeps, and
 * where a dump goes. */
void
conf_load_recorder(struct loader *ld, const config_setting_t *root,
		   struct mg_conf *conf)
{
	static const char *const keys[] = { "packets", "dir", NULL };
	struct mg_recorder_conf *r = &conf->recorder;
	config_setting_t *g, *s;

	r->packets = 256;
	snprintf(r->dir, sizeof(r->dir), "/var/tmp");
	g = conf_member(ld, root, "recorder", CONFIG_TYPE_GROUP, 0);
	if (g == NULL)
		return;
	conf_check_keys(ld, g, keys, "'recorder'");
	conf_get_uint(ld, g, "packets", 0, 65536, &r->packets);
	s = conf_member(ld, g, "dir", CONFIG_TYPE_STRING, 0);
	if (s != NULL)
		conf_path_value(ld, s, "dir", r->dir, sizeof(r->dir));
}

/* "deny_log": a JSON line per denied connection or request, to a file
 * or to syslog, at most `rate` a second. */
void
conf_load_deny_log(struct loader *ld, const config_setting_t *root,
		   struct mg_conf *conf)
{
	static const char *const keys[] = { "file", "syslog", "rate", "burst",
					    NULL };
	struct mg_deny_log_conf *d = &conf->deny_log;
	config_setting_t *g, *file, *sys;

	d->rate = 100;
	g = conf_member(ld, root, "deny_log", CONFIG_TYPE_GROUP, 0);
	if (g == NULL)
		return;
	conf_check_keys(ld, g, keys, "'deny_log'");
	file = conf_member(ld, g, "file", CONFIG_TYPE_STRING, 0);
	sys = conf_member(ld, g, "syslog", CONFIG_TYPE_BOOL, 0);
	d->syslog = sys != NULL && config_setting_get_bool(sys);
	if (file != NULL && d->syslog)
		err_at(ld, file,
		       "'deny_log' has 'file' and 'syslog = true': choose one");
	else if (file == NULL && !d->syslog &&
		 config_setting_get_member(g, "file") == NULL &&
		 (sys != NULL ||
		  config_setting_get_member(g, "syslog") == NULL))
		err_at(ld, g, "'deny_log' needs 'file' or 'syslog = true'");
	if (file != NULL)
		conf_path_value(ld, file, "file", d->file, sizeof(d->file));
	conf_get_uint(ld, g, "rate", 1, 1000000, &d->rate);
	d->burst = d->rate;
	conf_get_uint(ld, g, "burst", 1, 10000000, &d->burst);
	d->enabled = d->syslog || d->file[0] != '\0';
}

/* The management address is served by the kernel; one of the gateway's
 * data-plane addresses (owned by DPDK) would never see a scrape. */
static bool
is_data_plane_addr(const struct mg_conf *conf, const struct mg_addr *a)
{
	unsigned int i, j;

	for (i = 0; i < conf->n_ports; i++)
		for (j = 0; j < conf->ports[i].n_addrs; j++)
			if (conf_same_addr(a, &conf->ports[i].addrs[j].addr))
				return true;
	for (i = 0; i < conf->n_services; i++)
		for (j = 0; j < conf->services[i].n_vips; j++)
			if (conf_same_addr(a, &conf->services[i].vips[j]))
				return true;
	return false;
}

void
conf_load_telemetry(struct loader *ld, const config_setting_t *root,
		    struct mg_conf *conf)
{
	static const char *const keys[] = { "listen", "max_label_sets",
					    "naming", NULL };
	static const struct name_value naming_names[] = {
		{ "meshgate", 0 },
		{ "istio", 1 },
		{ NULL, 0 },
	};
	struct mg_telemetry_conf *t = &conf->telemetry;
	uint32_t naming = 0;
	const char *listen = MG_CONF_TELEMETRY_LISTEN;
	config_setting_t *g, *s = NULL;
	struct mg_backend_conf b;
	const char *why;

	t->enabled = true;
	t->max_label_sets = 1024;
	g = conf_member(ld, root, "telemetry", CONFIG_TYPE_GROUP, 0);
	if (g != NULL) {
		conf_check_keys(ld, g, keys, "'telemetry'");
		conf_get_uint(ld, g, "max_label_sets", 16, 65536,
			      &t->max_label_sets);
		conf_get_choice(ld, g, "naming", naming_names, &naming);
		t->istio = naming == 1;
		s = conf_member(ld, g, "listen", CONFIG_TYPE_STRING, 0);
		if (s != NULL)
			listen = config_setting_get_string(s);
		t->explicit_listen = s != NULL;
	}
	if (strcmp(listen, "off") == 0) {
		t->enabled = false;
		return;
	}
	why = conf_parse_backend(listen, &b);
	if (why == NULL && b.port == 0)
		why = "needs a port";
	if (why == NULL && is_data_plane_addr(conf, &b.addr))
		why = "is a data-plane address of the gateway; use a "
		      "management address (e.g. loopback)";
	if (why != NULL) {
		if (s != NULL)
			err_at(ld, s, "telemetry listen '%s' %s", listen, why);
		else
			conf_report(ld, NULL, 0, "telemetry listen '%s' %s",
				    listen, why);
		return;
	}
	t->addr = b.addr;
	t->port = b.port;
}

static const struct name_value idle_names[] = {
	{ "adaptive", MG_IDLE_ADAPTIVE },
	{ "interrupt", MG_IDLE_INTERRUPT },
	{ "poll", MG_IDLE_POLL },
	{ NULL, 0 },
};

const char *
mg_conf_idle_mode_name(enum mg_idle_mode mode)
{
	return conf_name_of(idle_names, mode);
}

/* An idle worker wakes up 333 times a second: about 1% of a core on a
 * 2-vCPU VM, where a wake-up costs 20-35 us; the first packet after
 * idling waits at most this long. */
#define IDLE_MAX_SLEEP_US_DEFAULT 3000

/* What makes the gateway an appliance: how workers idle, the seed of
 * the backend choice, the memory budget (applied by the app, which
 * knows what each part costs; here only read and bounded). */
void
conf_load_appliance(struct loader *ld, const config_setting_t *root,
		    struct mg_conf *conf)
{
	static const char *const keys[] = { "mode", "max_sleep_us", NULL };
	config_setting_t *g =
		conf_member(ld, root, "idle", CONFIG_TYPE_GROUP, 0);
	config_setting_t *s;

	conf->idle.mode = MG_IDLE_ADAPTIVE;
	conf->idle.max_sleep_us = IDLE_MAX_SLEEP_US_DEFAULT;
	if (g != NULL) {
		conf_check_keys(ld, g, keys, "'idle'");
		conf_get_choice(ld, g, "mode", idle_names, &conf->idle.mode);
		conf_get_uint(ld, g, "max_sleep_us", 1, MG_CONF_MAX_SLEEP_US,
			      &conf->idle.max_sleep_us);
	}
	conf->hash_seed = MG_CONF_HASH_SEED_DEFAULT;
	/* libconfig reads 0x80000000 and up as negative ints unless
	 * written with an L suffix: 31 bits say nothing twice */
	conf_get_uint(ld, root, "hash_seed", 0, INT32_MAX, &conf->hash_seed);
	/* 16 MiB holds the smallest flow table and pool; 1 TiB is beyond
	 * any edge box */
	s = conf_member(ld, root, "memory_mb", CONFIG_TYPE_INT,
			CONFIG_TYPE_INT64);
	if (s != NULL) {
		conf_get_uint(ld, root, "memory_mb", 16, 1 << 20,
			      &conf->memory_mb);
		conf->memory_line = (int)config_setting_source_line(s);
	}
	/* libconfig's lookup takes no const; it only reads */
	conf->flows_max_set = config_setting_lookup((config_setting_t *)root,
						    "flows.max") != NULL;
	conf->l7_pending_set = config_setting_lookup((config_setting_t *)root,
						     "l7.max_pending") != NULL;
}
