/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* libconfig file -> struct mg_conf, with FILE:LINE for every rejection. */

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "mg_conf.h"

/* State of one load: where errors go and which file is being read. */
struct loader {
	struct mg_conf_errors *errs;
	const char *path; /* file being read, for errors without a line */
};

/* A name from the config mapped to a value, for enums and flag lists. */
struct name_value {
	const char *name;
	uint32_t value;
};

static void __attribute__((format(printf, 4, 5)))
report(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	struct mg_conf_errors *errs = ld->errs;
	char *msg;
	va_list ap;
	int off;

	if (errs->n < MG_CONF_MAX_ERRORS) {
		msg = errs->msg[errs->n];
		if (file == NULL)
			file = ld->path;
		/* a missing key has no line of its own: name the file */
		if (line > 0)
			off = snprintf(msg, MG_CONF_ERROR_LEN, "%s:%d: ", file,
				       line);
		else
			off = snprintf(msg, MG_CONF_ERROR_LEN, "%s: ", file);
		if (off > 0 && off < MG_CONF_ERROR_LEN) {
			va_start(ap, fmt);
			vsnprintf(msg + off, MG_CONF_ERROR_LEN - off, fmt, ap);
			va_end(ap);
		}
	}
	errs->n++;
}

/* Errors about a setting carry the line (and file, for @include) of it. */
#define err_at(ld, s, ...)                                                     \
	report(ld, config_setting_source_file(s),                              \
	       (int)config_setting_source_line(s), __VA_ARGS__)

static const char *
type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP: return "a group { }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "true or false";
	case CONFIG_TYPE_ARRAY: return "an array [ ]";
	case CONFIG_TYPE_LIST: return "a list ( )";
	default: return "a value";
	}
}

/* Rejects members of @p group that are not in @p allowed (NULL-ended):
 * a misspelt key must not silently fall back to a default. */
static void
check_keys(struct loader *ld, const config_setting_t *group,
	   const char *const *allowed, const char *where)
{
	int i, n = config_setting_length(group);

	for (i = 0; i < n; i++) {
		config_setting_t *m = config_setting_get_elem(group, i);
		const char *name = config_setting_name(m);
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, name) == 0)
				break;
		if (*a == NULL)
			err_at(ld, m, "unknown key '%s' in %s", name, where);
	}
}

/* Returns the member @p key of @p group if it exists and has one of the
 * expected types (a second type of 0 means only the first); reports a
 * type mismatch. */
static config_setting_t *
member(struct loader *ld, const config_setting_t *group, const char *key,
       int type, int type2)
{
	config_setting_t *s = config_setting_get_member(group, key);
	int t;

	if (s == NULL)
		return NULL;
	t = config_setting_type(s);
	if (t == type || (type2 != 0 && t == type2))
		return s;
	err_at(ld, s, "'%s' must be %s, not %s", key, type_name(type),
	       type_name(t));
	return NULL;
}

static config_setting_t *
require(struct loader *ld, const config_setting_t *group, const char *key,
	int type, int type2, const char *where)
{
	config_setting_t *s = member(ld, group, key, type, type2);

	if (s == NULL && config_setting_get_member(group, key) == NULL)
		err_at(ld, group, "%s needs '%s'", where, key);
	return s;
}

/* Reads an optional integer in [min, max] into *out; *out is untouched
 * when the key is absent. */
static void
get_uint(struct loader *ld, const config_setting_t *group, const char *key,
	 long long min, long long max, uint32_t *out)
{
	config_setting_t *s =
		member(ld, group, key, CONFIG_TYPE_INT, CONFIG_TYPE_INT64);
	long long v;

	if (s == NULL)
		return;
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		err_at(ld, s, "'%s' is %lld; it must be between %lld and %lld",
		       key, v, min, max);
		return;
	}
	*out = (uint32_t)v;
}

static void
get_u16(struct loader *ld, const config_setting_t *group, const char *key,
	long long min, long long max, uint16_t *out)
{
	uint32_t v = *out;

	get_uint(ld, group, key, min, max, &v);
	*out = (uint16_t)v;
}

/* Copies a string setting into @p buf; reports empty or over-long text. */
static bool
copy_string(struct loader *ld, const config_setting_t *s, const char *key,
	    char *buf, size_t len)
{
	const char *v = config_setting_get_string(s);

	if (v == NULL || *v == '\0') {
		err_at(ld, s, "'%s' must not be empty", key);
		return false;
	}
	if (strlen(v) >= len) {
		err_at(ld, s, "'%s' is longer than %zu characters", key,
		       len - 1);
		return false;
	}
	memcpy(buf, v, strlen(v) + 1);
	return true;
}

static bool
lookup_name(const struct name_value *table, const char *name, uint32_t *out)
{
	for (; table->name != NULL; table++)
		if (strcmp(table->name, name) == 0) {
			*out = table->value;
			return true;
		}
	return false;
}

/* Reports a name outside @p table, listing the names that are allowed. */
static void
err_choice(struct loader *ld, const config_setting_t *s, const char *key,
	   const char *value, const struct name_value *table)
{
	char choices[256] = "";
	size_t off = 0;

	for (; table->name != NULL && off < sizeof(choices); table++)
		off += snprintf(choices + off, sizeof(choices) - off, "%s%s",
				off == 0 ? "" : ", ", table->name);
	err_at(ld, s, "'%s' has unknown value '%s' (expected one of: %s)", key,
	       value, choices);
}

static void
get_choice(struct loader *ld, const config_setting_t *group, const char *key,
	   const struct name_value *table, uint32_t *out)
{
	config_setting_t *s = member(ld, group, key, CONFIG_TYPE_STRING, 0);
	const char *v;

	if (s == NULL)
		return;
	v = config_setting_get_string(s);
	if (!lookup_name(table, v, out))
		err_choice(ld, s, key, v, table);
}

/* A list or array of names, OR-ed into a bit set. */
static void
get_flags(struct loader *ld, const config_setting_t *group, const char *key,
	  const struct name_value *table, uint32_t *out)
{
	config_setting_t *s =
		member(ld, group, key, CONFIG_TYPE_ARRAY, CONFIG_TYPE_LIST);
	int i, n;

	if (s == NULL)
		return;
	*out = 0;
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, i);
		const char *v = config_setting_get_string(e);
		uint32_t bit;

		if (v == NULL) {
			err_at(ld, e, "'%s' must list strings", key);
			continue;
		}
		if (lookup_name(table, v, &bit))
			*out |= bit;
		else
			err_choice(ld, e, key, v, table);
	}
}

static const struct name_value rss_names[] = {
	{ "ipv4", MG_RSS_IPV4 },
	{ "ipv4-tcp", MG_RSS_IPV4_TCP },
	{ "ipv4-udp", MG_RSS_IPV4_UDP },
	{ "ipv6", MG_RSS_IPV6 },
	{ "ipv6-tcp", MG_RSS_IPV6_TCP },
	{ "ipv6-udp", MG_RSS_IPV6_UDP },
	{ NULL, 0 },
};

static const struct name_value rx_offload_names[] = {
	{ "ipv4-cksum", MG_OFFLOAD_IPV4_CKSUM },
	{ "tcp-cksum", MG_OFFLOAD_TCP_CKSUM },
	{ "udp-cksum", MG_OFFLOAD_UDP_CKSUM },
	{ "vlan-strip", MG_OFFLOAD_VLAN_STRIP },
	{ NULL, 0 },
};

static const struct name_value tx_offload_names[] = {
	{ "ipv4-cksum", MG_OFFLOAD_IPV4_CKSUM },
	{ "tcp-cksum", MG_OFFLOAD_TCP_CKSUM },
	{ "udp-cksum", MG_OFFLOAD_UDP_CKSUM },
	{ "vlan-insert", MG_OFFLOAD_VLAN_INSERT },
	{ "mbuf-fast-free", MG_OFFLOAD_MBUF_FAST_FREE },
	{ NULL, 0 },
};

static const struct name_value rss_key_names[] = {
	{ "default", 0 },
	{ "symmetric", 1 },
	{ NULL, 0 },
};

static const struct name_value mode_names[] = {
	{ "one-arm", MG_MODE_ONE_ARM },
	{ "two-arm", MG_MODE_TWO_ARM },
	{ NULL, 0 },
};

static const struct name_value role_names[] = {
	{ "edge", MG_ROLE_EDGE },
	{ "mesh", MG_ROLE_MESH },
	{ NULL, 0 },
};

const char *
mg_port_role_name(enum mg_port_role role)
{
	const struct name_value *r;

	for (r = role_names; r->name != NULL; r++)
		if (r->value == (uint32_t)role)
			return r->name;
	return "both";
}

/* Reads a libconfig file, reporting I/O and syntax errors as FILE:LINE. */
static bool
read_file(struct loader *ld, config_t *cfg, const char *path,
	  const config_setting_t *from)
{
	config_init(cfg);
	if (config_read_file(cfg, path) == CONFIG_TRUE)
		return true;
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO) {
		if (from != NULL)
			err_at(ld, from, "cannot read '%s': %s", path,
			       strerror(errno));
		else
			report(ld, path, 0, "cannot read file: %s",
			       strerror(errno));
	} else {
		report(ld,
		       config_error_file(cfg) ? config_error_file(cfg) : path,
		       config_error_line(cfg), "syntax error: %s",
		       config_error_text(cfg));
	}
	config_destroy(cfg);
	return false;
}

/* Profile names become file names: keep them to [a-z0-9_-]. */
static bool
valid_profile_name(const char *name)
{
	if (*name == '\0')
		return false;
	for (; *name != '\0'; name++)
		if (!((*name >= 'a' && *name <= 'z') ||
		      (*name >= '0' && *name <= '9') || *name == '_' ||
		      *name == '-'))
			return false;
	return true;
}

static void
load_profile(struct loader *ld, const char *dir, const config_setting_t *ref,
	     struct mg_port_profile *p)
{
	static const char *const keys[] = { "description", "rx_desc",
					    "tx_desc",	   "mtu",
					    "rss",	   "rss_key",
					    "rx_offloads", "tx_offloads",
					    "promiscuous", NULL };
	const char *name = config_setting_get_string(ref);
	char path[PATH_MAX];
	struct loader pl;
	config_setting_t *root, *s;
	uint32_t sym = 0;
	config_t cfg;

	if (!valid_profile_name(name)) {
		err_at(ld, ref,
		       "profile '%s' is not a valid profile name "
		       "(letters, digits, '-' and '_')",
		       name);
		return;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.conf", dir, name) >=
	    sizeof(path)) {
		err_at(ld, ref, "profile path too long");
		return;
	}
	if (!read_file(ld, &cfg, path, ref))
		return;

	pl = *ld;
	pl.path = path;
	memcpy(p->name, name, strlen(name) + 1);
	p->rx_desc = 1024;
	p->tx_desc = 1024;
	p->promiscuous = true;
	root = config_root_setting(&cfg);
	check_keys(&pl, root, keys, "a driver profile");
	member(&pl, root, "description", CONFIG_TYPE_STRING, 0);
	get_u16(&pl, root, "rx_desc", 64, 32768, &p->rx_desc);
	get_u16(&pl, root, "tx_desc", 64, 32768, &p->tx_desc);
	get_u16(&pl, root, "mtu", 68, 9600, &p->mtu);
	get_flags(&pl, root, "rss", rss_names, &p->rss);
	get_choice(&pl, root, "rss_key", rss_key_names, &sym);
	p->rss_symmetric = sym != 0;
	get_flags(&pl, root, "rx_offloads", rx_offload_names, &p->rx_offloads);
	get_flags(&pl, root, "tx_offloads", tx_offload_names, &p->tx_offloads);
	s = member(&pl, root, "promiscuous", CONFIG_TYPE_BOOL, 0);
	if (s != NULL)
		p->promiscuous = config_setting_get_bool(s);
	config_destroy(&cfg);
}

static void
load_port(struct loader *ld, const config_setting_t *s, const char *dir,
	  struct mg_port_conf *port)
{
	static const char *const keys[] = { "name", "device", "profile", "role",
					    NULL };
	config_setting_t *v;
	uint32_t role = MG_ROLE_BOTH;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		err_at(ld, s, "each port must be a group { name = ...; }");
		return;
	}
	port->line = (int)config_setting_source_line(s);
	check_keys(ld, s, keys, "a port");
	v = require(ld, s, "name", CONFIG_TYPE_STRING, 0, "a port");
	if (v != NULL)
		copy_string(ld, v, "name", port->name, sizeof(port->name));
	v = require(ld, s, "device", CONFIG_TYPE_STRING, 0, "a port");
	if (v != NULL)
		copy_string(ld, v, "device", port->device,
			    sizeof(port->device));
	v = require(ld, s, "profile", CONFIG_TYPE_STRING, 0, "a port");
	if (v != NULL)
		load_profile(ld, dir, v, &port->profile);
	get_choice(ld, s, "role", role_names, &role);
	port->role = role;
}

/* Cross-port rules: unique names and devices, roles matching the mode. */
static void
check_ports(struct loader *ld, const config_setting_t *list,
	    struct mg_conf *conf)
{
	unsigned int i, j, edge = 0, mesh = 0;

	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *p = &conf->ports[i];
		config_setting_t *s = config_setting_get_elem(list, i);

		for (j = 0; j < i; j++) {
			if (p->name[0] != '\0' &&
			    strcmp(p->name, conf->ports[j].name) == 0)
				err_at(ld, s, "port name '%s' is used twice",
				       p->name);
			if (p->device[0] != '\0' &&
			    strcmp(p->device, conf->ports[j].device) == 0)
				err_at(ld, s,
				       "device '%s' is used by two ports",
				       p->device);
		}
		if (conf->mode == MG_MODE_ONE_ARM && p->role != MG_ROLE_BOTH)
			err_at(ld, s,
			       "port '%s': role is only meaningful in "
			       "two-arm mode",
			       p->name);
		edge += p->role == MG_ROLE_EDGE;
		mesh += p->role == MG_ROLE_MESH;
	}
	if (conf->mode == MG_MODE_TWO_ARM &&
	    (conf->n_ports != 2 || edge != 1 || mesh != 1))
		err_at(ld, list,
		       "two-arm mode needs exactly two ports, one "
		       "with role = \"edge\" and one with role = \"mesh\"");
}

static void
load_ports(struct loader *ld, const config_setting_t *root, const char *dir,
	   struct mg_conf *conf)
{
	config_setting_t *list = require(ld, root, "ports", CONFIG_TYPE_LIST,
					 CONFIG_TYPE_ARRAY, "the config");
	int i, n;

	if (list == NULL)
		return;
	n = config_setting_length(list);
	if (n == 0 || n > MG_CONF_MAX_PORTS) {
		err_at(ld, list,
		       "'ports' lists %d ports; between 1 and %d "
		       "are supported",
		       n, MG_CONF_MAX_PORTS);
		return;
	}
	conf->n_ports = (unsigned int)n;
	for (i = 0; i < n; i++)
		load_port(ld, config_setting_get_elem(list, i), dir,
			  &conf->ports[i]);
	check_ports(ld, list, conf);
}

static void
load_lcores(struct loader *ld, const config_setting_t *root,
	    struct mg_conf *conf)
{
	static const char *const keys[] = { "lcore", "queue", NULL };
	config_setting_t *list =
		member(ld, root, "lcores", CONFIG_TYPE_LIST, 0);
	int i, n;

	if (list == NULL)
		return;
	n = config_setting_length(list);
	if (n > MG_CONF_MAX_LCORES) {
		err_at(ld, list, "'lcores' lists %d entries; at most %d", n,
		       MG_CONF_MAX_LCORES);
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(list, i);
		struct mg_lcore_conf *l = &conf->lcores[i];
		uint32_t lcore = UINT32_MAX, queue = 0;
		int j;

		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			err_at(ld, s,
			       "each lcore must be a group "
			       "{ lcore = N; queue = N; }");
			continue;
		}
		check_keys(ld, s, keys, "an lcore");
		if (require(ld, s, "lcore", CONFIG_TYPE_INT, 0, "an lcore"))
			get_uint(ld, s, "lcore", 0, MG_CONF_MAX_LCORES - 1,
				 &lcore);
		get_uint(ld, s, "queue", 0, 1023, &queue);
		l->lcore = lcore;
		l->queue = (uint16_t)queue;
		for (j = 0; j < i; j++) {
			if (lcore != UINT32_MAX &&
			    conf->lcores[j].lcore == lcore)
				err_at(ld, s, "lcore %u is listed twice",
				       lcore);
			if (conf->lcores[j].queue == queue)
				err_at(ld, s, "queue %u is given to two lcores",
				       queue);
		}
	}
	conf->n_lcores = (unsigned int)n;
}

static void
load_mempool(struct loader *ld, const config_setting_t *root,
	     struct mg_conf *conf)
{
	static const char *const keys[] = { "mbufs", "cache", NULL };
	config_setting_t *g = member(ld, root, "mempool", CONFIG_TYPE_GROUP, 0);

	if (g == NULL)
		return;
	check_keys(ld, g, keys, "'mempool'");
	get_uint(ld, g, "mbufs", 1023, 1 << 24, &conf->mbufs);
	/* 512 is RTE_MEMPOOL_CACHE_MAX_SIZE; with at least 1023 mbufs it
	 * also stays under rte_mempool's size / 1.5 limit */
	get_uint(ld, g, "cache", 0, 512, &conf->mbuf_cache);
}

/* The profile folder: drivers_conf_dir from the file (relative to the
 * file's folder) or the built-in default. */
static void
profile_dir(struct loader *ld, const config_setting_t *root, const char *path,
	    const char *def, char *out, size_t len)
{
	config_setting_t *s =
		member(ld, root, "drivers_conf_dir", CONFIG_TYPE_STRING, 0);
	char copy[PATH_MAX];
	const char *v;

	snprintf(out, len, "%s", def);
	if (s == NULL)
		return;
	v = config_setting_get_string(s);
	if (v[0] == '/') {
		snprintf(out, len, "%s", v);
		return;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(out, len, "%s/%s", dirname(copy), v);
}

struct mg_conf *
mg_conf_load(const char *path, const char *drivers_dir,
	     struct mg_conf_errors *errs)
{
	static const char *const keys[] = { "mode",    "burst",
					    "mempool", "ports",
					    "lcores",  "drivers_conf_dir",
					    NULL };
	struct loader ld = { .errs = errs, .path = path };
	char dir[PATH_MAX];
	config_setting_t *root;
	struct mg_conf *conf;
	uint32_t mode = MG_MODE_ONE_ARM;
	config_t cfg;

	memset(errs, 0, sizeof(*errs));
	conf = calloc(1, sizeof(*conf));
	if (conf == NULL) {
		report(&ld, path, 0, "out of memory");
		return NULL;
	}
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	conf->burst = 32;
	conf->mbuf_cache = 256;
	if (!read_file(&ld, &cfg, path, NULL)) {
		free(conf);
		return NULL;
	}
	root = config_root_setting(&cfg);
	check_keys(&ld, root, keys, "the config");
	get_choice(&ld, root, "mode", mode_names, &mode);
	conf->mode = mode;
	get_u16(&ld, root, "burst", 1, MG_CONF_MAX_BURST, &conf->burst);
	load_mempool(&ld, root, conf);
	profile_dir(&ld, root, path, drivers_dir, dir, sizeof(dir));
	load_ports(&ld, root, dir, conf);
	load_lcores(&ld, root, conf);
	config_destroy(&cfg);

	if (errs->n > 0) {
		free(conf);
		return NULL;
	}
	return conf;
}

void
mg_conf_free(struct mg_conf *conf)
{
	free(conf);
}
