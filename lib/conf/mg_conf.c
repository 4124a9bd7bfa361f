/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* libconfig file -> struct mg_conf, with FILE:LINE for every rejection. */

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <hs/hs.h>
#include <libconfig.h>

#include "mg_conf.h"

/* Whose key a key of the load is. */
struct key_owner {
	const char *peer;
	uint32_t spi;
	int line;
	size_t len;
};

/* State of one load: where errors go and which file is being read. */
struct loader {
	struct mg_conf_errors *errs;
	const char *path; /* file being read, for errors without a line */
	/* a section that could not be read as a whole: references into it
	 * are not checked, so one mistake does not echo as many */
	bool identities_broken;
	bool services_broken;
	bool patterns_full;    /* MG_CONF_MAX_PATTERNS reported */
	bool matchers_full;    /* MG_CONF_MAX_MATCHERS reported, this policy */
	uint32_t patterns_cap; /* entries allocated in conf->patterns */
	bool peers_broken;
	const char *dir; /* the config file's folder: paths in it are relative to it */
	/* every SA key of the load, to refuse one key in two SAs: locked
	 * and kept out of core dumps, zeroised when the load ends */
	uint8_t (*keys)[MG_CONF_MAX_KEY_LEN];
	size_t keys_bytes;
	struct key_owner *key_owner;
	unsigned int n_keys;
};

/* A name from the config mapped to a value, for enums and flag lists. */
struct name_value {
	const char *name;
	uint32_t value;
};

/* "FILE:LINE: " (or "FILE: ") then @p prefix and the message. */
static void
vreport(struct loader *ld, struct mg_conf_errors *errs, const char *file,
	int line, const char *prefix, const char *fmt, va_list ap)
{
	char *msg;
	int off;

	if (errs->n < MG_CONF_MAX_ERRORS) {
		msg = errs->msg[errs->n];
		if (file == NULL)
			file = ld->path;
		/* a missing key has no line of its own: name the file */
		if (line > 0)
			off = snprintf(msg, MG_CONF_ERROR_LEN, "%s:%d: %s",
				       file, line, prefix);
		else
			off = snprintf(msg, MG_CONF_ERROR_LEN, "%s: %s", file,
				       prefix);
		if (off > 0 && off < MG_CONF_ERROR_LEN)
			vsnprintf(msg + off, MG_CONF_ERROR_LEN - off, fmt, ap);
	}
	errs->n++;
}

static void __attribute__((format(printf, 4, 5)))
report(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, ld->errs, file, line, "", fmt, ap);
	va_end(ap);
}

/* A valid setting that will not work as written: kept in the config. */
static void __attribute__((format(printf, 4, 5)))
warn_setting(struct loader *ld, struct mg_conf *conf, const config_setting_t *s,
	     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, &conf->warnings, config_setting_source_file(s),
		(int)config_setting_source_line(s), "warning: ", fmt, ap);
	va_end(ap);
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

/* A path written in the config (string @p s, key @p key): absolute, or
 * relative to the config file's folder. False, with an error at its
 * line, when empty or when the result does not fit @p len. */
static bool
path_value(struct loader *ld, const config_setting_t *s, const char *key,
	   char *out, size_t len)
{
	const char *v = config_setting_get_string(s);
	int n;

	if (v == NULL || *v == '\0') {
		err_at(ld, s, "'%s' must not be empty", key);
		return false;
	}
	n = v[0] == '/' ? snprintf(out, len, "%s", v)
			: snprintf(out, len, "%s/%s", ld->dir, v);
	if (n < 0 || (size_t)n >= len) {
		err_at(ld, s, "'%s': the path '%s' is longer than %zu characters",
		       key, v, len - 1);
		out[0] = '\0';
		return false;
	}
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

static const struct name_value unmatched_names[] = {
	{ "drop", MG_UNMATCHED_DROP },
	{ "forward", MG_UNMATCHED_FORWARD },
	{ NULL, 0 },
};

static const struct name_value deny_action_names[] = {
	{ "reset", MG_DENY_RESET },
	{ "drop", MG_DENY_DROP },
	{ NULL, 0 },
};

static const struct name_value role_names[] = {
	{ "edge", MG_ROLE_EDGE },
	{ "mesh", MG_ROLE_MESH },
	{ NULL, 0 },
};

static const char *
name_of(const struct name_value *table, uint32_t value)
{
	for (; table->name != NULL; table++)
		if (table->value == value)
			return table->name;
	return "unknown";
}

const char *
mg_conf_rss_name(uint32_t bit)
{
	return name_of(rss_names, bit);
}

const char *
mg_conf_offload_name(uint32_t bit)
{
	/* rx and tx share names; their own bits are distinct */
	return bit == MG_OFFLOAD_VLAN_INSERT || bit == MG_OFFLOAD_MBUF_FAST_FREE
		       ? name_of(tx_offload_names, bit)
		       : name_of(rx_offload_names, bit);
}

const char *
mg_port_role_name(enum mg_port_role role)
{
	const struct name_value *r;

	for (r = role_names; r->name != NULL; r++)
		if (r->value == (uint32_t)role)
			return r->name;
	return "both";
}

bool
mg_addr_parse(const char *text, struct mg_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return false;
	/* inet_pton is strict (no leading zeros, no short forms, no
	 * scope ids), which is what a config wants */
	if (strchr(text, ':') != NULL) {
		if (inet_pton(AF_INET6, text, out->bytes) == 1) {
			out->family = 6;
			return true;
		}
	} else if (inet_pton(AF_INET, text, out->bytes) == 1) {
		out->family = 4;
		return true;
	}
	memset(out, 0, sizeof(*out));
	return false;
}

const char *
mg_addr_format(const struct mg_addr *addr, char *buf, size_t len)
{
	int af = addr->family == 4 ? AF_INET : AF_INET6;

	if (len == 0)
		return buf;
	if ((addr->family != 4 && addr->family != 6) ||
	    inet_ntop(af, addr->bytes, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

bool
mg_prefix_contains(const struct mg_prefix *prefix, const struct mg_addr *addr)
{
	unsigned int full = prefix->len / 8, rem = prefix->len % 8;
	uint8_t mask;

	if (addr->family != prefix->addr.family)
		return false;
	if (memcmp(addr->bytes, prefix->addr.bytes, full) != 0)
		return false;
	if (rem == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rem));
	return ((addr->bytes[full] ^ prefix->addr.bytes[full]) & mask) == 0;
}

/* Clears the bits of @p p->addr after the first p->len. */
static void
clear_host_bits(struct mg_prefix *p)
{
	unsigned int i;

	for (i = 0; i < sizeof(p->addr.bytes); i++) {
		if (p->len >= 8 * (i + 1))
			continue;
		if (p->len <= 8 * i)
			p->addr.bytes[i] = 0;
		else
			p->addr.bytes[i] &= (uint8_t)(0xff << (8 - p->len % 8));
	}
}

static bool
same_addr(const struct mg_addr *a, const struct mg_addr *b)
{
	return a->family == b->family &&
	       memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Decimal digits s[0..n) in [0, max]; no sign, no spaces, no 0x. */
static bool
parse_decimal(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 9)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* "addr/len", or a bare address as a host prefix unless @p need_len.
 * Returns NULL on success, else why the text is refused. Host bits are
 * left for the caller to judge. */
static const char *
parse_prefix(const char *text, bool need_len, struct mg_prefix *out)
{
	const char *slash = strchr(text, '/');
	size_t n = slash != NULL ? (size_t)(slash - text) : strlen(text);
	char addr[INET6_ADDRSTRLEN];
	unsigned long len, max;

	memset(out, 0, sizeof(*out));
	if (n >= sizeof(addr))
		return "is not an IPv4 or IPv6 prefix";
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (!mg_addr_parse(addr, &out->addr))
		return "is not an IPv4 or IPv6 prefix";
	max = out->addr.family == 4 ? 32 : 128;
	if (slash == NULL) {
		if (need_len) {
			out->addr.family = 0;
			return "needs a prefix length (address/length)";
		}
		out->len = (uint8_t)max;
		return NULL;
	}
	if (!parse_decimal(slash + 1, strlen(slash + 1), max, &len)) {
		out->addr.family = 0;
		return max == 32 ? "needs a prefix length between 0 and 32"
				 : "needs a prefix length between 0 and 128";
	}
	out->len = (uint8_t)len;
	return NULL;
}

/* The string of a list element, or NULL after reporting its type. */
static const char *
elem_string(struct loader *ld, const config_setting_t *e, const char *key)
{
	const char *v = config_setting_get_string(e);

	if (v == NULL)
		err_at(ld, e, "'%s' must list strings, not %s", key,
		       type_name(config_setting_type(e)));
	return v;
}

/* An optional or required list/array with between @p min and @p max
 * elements; NULL when absent or refused. */
static config_setting_t *
get_list(struct loader *ld, const config_setting_t *g, const char *key,
	 bool required, int min, int max, const char *where)
{
	config_setting_t *s;
	int n;

	if (required)
		s = require(ld, g, key, CONFIG_TYPE_LIST, CONFIG_TYPE_ARRAY,
			    where);
	else
		s = member(ld, g, key, CONFIG_TYPE_LIST, CONFIG_TYPE_ARRAY);
	if (s == NULL)
		return NULL;
	n = config_setting_length(s);
	if (n < min || n > max) {
		if (n < min)
			err_at(ld, s, "'%s' of %s must not be empty", key,
			       where);
		else
			err_at(ld, s,
			       "'%s' lists %d entries; at most %d are "
			       "supported",
			       key, n, max);
		return NULL;
	}
	return s;
}

/* Names end up in policy refs, telemetry keys and Prometheus label
 * values: keep them to characters that need no quoting anywhere, and
 * free of the ':' and '*' that policy refs give a meaning. */
static bool
valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		      *s == '-'))
			return false;
	return true;
}

/* Reads a name or label into @p buf (left empty when refused). */
static config_setting_t *
get_name(struct loader *ld, const config_setting_t *g, const char *key,
	 bool required, const char *where, char *buf, size_t len)
{
	config_setting_t *s;

	buf[0] = '\0';
	if (required)
		s = require(ld, g, key, CONFIG_TYPE_STRING, 0, where);
	else
		s = member(ld, g, key, CONFIG_TYPE_STRING, 0);
	if (s == NULL || !copy_string(ld, s, key, buf, len))
		return NULL;
	if (!valid_name(buf)) {
		err_at(ld, s,
		       "'%s' value '%s' may only hold letters, digits, "
		       "'_', '.' and '-'",
		       key, buf);
		buf[0] = '\0';
		return NULL;
	}
	return s;
}

/* An optional address of one family into *out (family 0 when absent). */
static void
get_addr(struct loader *ld, const config_setting_t *g, const char *key,
	 uint8_t family, struct mg_addr *out)
{
	config_setting_t *s = member(ld, g, key, CONFIG_TYPE_STRING, 0);
	const char *v;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	v = config_setting_get_string(s);
	if (!mg_addr_parse(v, out) || out->family != family) {
		err_at(ld, s, "'%s' value '%s' is not an IPv%u address", key, v,
		       family);
		memset(out, 0, sizeof(*out));
	}
}

/* Reports why libconfig could not read @p path (I/O or syntax, as
 * FILE:LINE) and releases @p cfg. */
static bool
read_failed(struct loader *ld, config_t *cfg, const char *path,
	    const config_setting_t *from)
{
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

/* Reads a libconfig file, reporting I/O and syntax errors as FILE:LINE. */
static bool
read_file(struct loader *ld, config_t *cfg, const char *path,
	  const config_setting_t *from)
{
	config_init(cfg);
	if (config_read_file(cfg, path) == CONFIG_TRUE)
		return true;
	return read_failed(ld, cfg, path, from);
}

/*
 * Reads @p len bytes of config text, exactly as config_read_file() would
 * read a file holding them (a NUL byte is a syntax error, not the end);
 * errors name @p name.
 */
static bool
read_text(struct loader *ld, config_t *cfg, const char *name, const char *text,
	  size_t len)
{
	FILE *f;
	int ok;

	config_init(cfg);
	/* fmemopen() refuses an empty buffer */
	if (len == 0) {
		if (config_read_string(cfg, "") == CONFIG_TRUE)
			return true;
		return read_failed(ld, cfg, name, NULL);
	}
	f = fmemopen((void *)(uintptr_t)text, len, "r");
	if (f == NULL) {
		report(ld, name, 0, "cannot read the text: %s",
		       strerror(errno));
		config_destroy(cfg);
		return false;
	}
	ok = config_read(cfg, f);
	fclose(f);
	return ok == CONFIG_TRUE || read_failed(ld, cfg, name, NULL);
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
	static const char *const keys[] = {
		"description", "rx_desc",      "tx_desc",
		"mtu",	       "mtu_external", "rx_frame_max",
		"rss",	       "rss_key",      "rx_offloads",
		"tx_offloads", "promiscuous",  "ipsec",
		NULL
	};
	static const struct name_value ipsec_names[] = {
		{ "lookaside", 0 },
		{ "inline-crypto", 1 },
		{ NULL, 0 },
	};
	const char *name = config_setting_get_string(ref);
	uint32_t ipsec = 0;
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
	/* an mbuf's buffer (this and its headroom) is at most 64 KiB */
	get_u16(&pl, root, "rx_frame_max", 64, 65280, &p->rx_frame_max);
	get_flags(&pl, root, "rss", rss_names, &p->rss);
	get_choice(&pl, root, "rss_key", rss_key_names, &sym);
	p->rss_symmetric = sym != 0;
	get_flags(&pl, root, "rx_offloads", rx_offload_names, &p->rx_offloads);
	get_flags(&pl, root, "tx_offloads", tx_offload_names, &p->tx_offloads);
	s = member(&pl, root, "promiscuous", CONFIG_TYPE_BOOL, 0);
	if (s != NULL)
		p->promiscuous = config_setting_get_bool(s);
	get_choice(&pl, root, "ipsec", ipsec_names, &ipsec);
	p->ipsec_inline = ipsec != 0;
	s = member(&pl, root, "mtu_external", CONFIG_TYPE_BOOL, 0);
	if (s != NULL) {
		p->mtu_external = config_setting_get_bool(s);
		if (p->mtu_external && p->mtu == 0)
			err_at(&pl, s, "'mtu_external' needs an 'mtu'");
	}
	config_destroy(&cfg);
}

/* Replies to ARP/ND for a gateway need an address of its family to
 * come from, and a gateway that is not on-link can never be resolved. */
static void
check_gateway(struct loader *ld, const config_setting_t *s, const char *key,
	      const struct mg_port_conf *port, const struct mg_addr *gw)
{
	bool has_family = false, on_link = false;
	char buf[INET6_ADDRSTRLEN];
	unsigned int i;

	if (gw->family == 0)
		return;
	for (i = 0; i < port->n_addrs; i++) {
		has_family |= port->addrs[i].addr.family == gw->family;
		on_link |= mg_prefix_contains(&port->addrs[i], gw);
	}
	/* fe80::/10: IPv6 routers are commonly known by link-local only */
	if (gw->family == 6 && gw->bytes[0] == 0xfe &&
	    (gw->bytes[1] & 0xc0) == 0x80)
		on_link = true;
	s = config_setting_get_member(s, key);
	if (!has_family)
		err_at(ld, s,
		       "'%s' %s needs an IPv%u address in the port's "
		       "'addresses' to be reached from",
		       key, mg_addr_format(gw, buf, sizeof(buf)), gw->family);
	else if (!on_link)
		err_at(ld, s,
		       "'%s' %s is not inside any address prefix of the "
		       "port (a gateway must be on-link)",
		       key, mg_addr_format(gw, buf, sizeof(buf)));
}

/* The port's own addresses (with their on-link length) and gateways. */
static void
load_port_addrs(struct loader *ld, const config_setting_t *s,
		struct mg_port_conf *port)
{
	config_setting_t *list = get_list(ld, s, "addresses", false, 0,
					  MG_CONF_MAX_ADDRS, "a port");
	int i, n = list != NULL ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_prefix *p = &port->addrs[i], net;
		const char *text = elem_string(ld, e, "addresses");
		const char *why;

		if (text == NULL)
			continue;
		why = parse_prefix(text, true, p);
		if (why != NULL) {
			err_at(ld, e, "address '%s' %s", text, why);
			continue;
		}
		net = *p;
		clear_host_bits(&net);
		/* host bits are expected here, but none at all on an IPv4
		 * subnet with hosts means the network's own address */
		if (p->addr.family == 4 && p->len < 31 &&
		    same_addr(&net.addr, &p->addr)) {
			err_at(ld, e,
			       "address '%s' is the network address of its "
			       "prefix; give the gateway's own address, "
			       "e.g. 198.18.0.1/24",
			       text);
			p->addr.family = 0;
		}
	}
	port->n_addrs = (unsigned int)n;
	get_addr(ld, s, "gateway4", 4, &port->gateway4);
	get_addr(ld, s, "gateway6", 6, &port->gateway6);
	check_gateway(ld, s, "gateway4", port, &port->gateway4);
	check_gateway(ld, s, "gateway6", port, &port->gateway6);
}

static void
load_port(struct loader *ld, const config_setting_t *s, const char *dir,
	  struct mg_port_conf *port)
{
	static const char *const keys[] = { "name",	 "device",
					    "profile",	 "role",
					    "addresses", "gateway4",
					    "gateway6",	 "mss_clamp",
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
	load_port_addrs(ld, s, port);
	/* 536: the IPv4 default MSS (RFC 9293 3.7.1); no MTU needs more
	 * than 9600 - 40 */
	get_u16(ld, s, "mss_clamp", 536, 9560, &port->mss_clamp);
}

/* The port (index) holding the address ports[i].addrs[k] before it in
 * config order, or -1. */
static int
earlier_port_addr(const struct mg_conf *conf, unsigned int i, unsigned int k)
{
	const struct mg_addr *a = &conf->ports[i].addrs[k].addr;
	unsigned int j, l, n;

	for (j = 0; j <= i; j++) {
		n = j == i ? k : conf->ports[j].n_addrs;
		for (l = 0; l < n; l++)
			if (same_addr(a, &conf->ports[j].addrs[l].addr))
				return (int)j;
	}
	return -1;
}

/* One address of the gateway on two ports (or twice on one) would make
 * ARP answers and next hops ambiguous. */
static void
check_port_addrs(struct loader *ld, const config_setting_t *list,
		 const struct mg_conf *conf)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned int i, k;
	int j;

	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *p = &conf->ports[i];
		config_setting_t *addrs = config_setting_get_member(
			config_setting_get_elem(list, i), "addresses");

		for (k = 0; k < p->n_addrs; k++) {
			if (p->addrs[k].addr.family == 0)
				continue;
			j = earlier_port_addr(conf, i, k);
			if (j < 0)
				continue;
			err_at(ld, config_setting_get_elem(addrs, k),
			       "address %s is given to the gateway twice "
			       "(port '%s' and port '%s')",
			       mg_addr_format(&p->addrs[k].addr, buf,
					      sizeof(buf)),
			       conf->ports[j].name, p->name);
		}
	}
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
	check_port_addrs(ld, list, conf);
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

/* Longest accepted timeout: a week. Anything longer is a leak, not a
 * timeout, on a box with a bounded flow table. */
#define MAX_TIMEOUT_S (7 * 24 * 3600)

static void
load_flows(struct loader *ld, const config_setting_t *root,
	   struct mg_flow_conf *f)
{
	static const char *const keys[] = { "max",
					    "max_half_open",
					    "tcp_syn",
					    "tcp_established",
					    "tcp_fin",
					    "tcp_time_wait",
					    "tcp_rst",
					    "udp",
					    "syn_cookies",
					    NULL };
	static const struct name_value cookie_names[] = {
		{ "auto", MG_SYN_COOKIES_AUTO },
		{ "on", MG_SYN_COOKIES_ON },
		{ "off", MG_SYN_COOKIES_OFF },
		{ NULL, 0 },
	};
	config_setting_t *g = member(ld, root, "flows", CONFIG_TYPE_GROUP, 0),
			 *h;

	/* written even without the group: the flow table never has to
	 * guess what a 0 means */
	f->max_flows = 65536;
	f->tcp_syn_s = 10;
	f->tcp_established_s = 3600;
	f->tcp_fin_s = 30;
	f->tcp_time_wait_s = 10;
	f->tcp_rst_s = 2;
	f->udp_s = 30;
	f->max_half_open = 0;
	f->syn_cookies = MG_SYN_COOKIES_AUTO;
	if (g != NULL) {
		check_keys(ld, g, keys, "'flows'");
		get_uint(ld, g, "max", 1024, 1 << 24, &f->max_flows);
		get_uint(ld, g, "max_half_open", 64, 1 << 24,
			 &f->max_half_open);
		h = config_setting_get_member(g, "max_half_open");
		if (h != NULL && f->max_half_open > f->max_flows)
			err_at(ld, h,
			       "'max_half_open' is %u, more than flows.max "
			       "(%u)",
			       f->max_half_open, f->max_flows);
	}
	if (g == NULL)
		return;
	get_uint(ld, g, "tcp_syn", 1, MAX_TIMEOUT_S, &f->tcp_syn_s);
	get_uint(ld, g, "tcp_established", 1, MAX_TIMEOUT_S,
		 &f->tcp_established_s);
	get_uint(ld, g, "tcp_fin", 1, MAX_TIMEOUT_S, &f->tcp_fin_s);
	get_uint(ld, g, "tcp_time_wait", 1, MAX_TIMEOUT_S, &f->tcp_time_wait_s);
	get_uint(ld, g, "tcp_rst", 1, MAX_TIMEOUT_S, &f->tcp_rst_s);
	get_uint(ld, g, "udp", 1, MAX_TIMEOUT_S, &f->udp_s);
	get_choice(ld, g, "syn_cookies", cookie_names, &f->syn_cookies);
}

static void
load_fragments(struct loader *ld, const config_setting_t *root,
	       struct mg_frag_conf *f)
{
	static const char *const keys[] = { "max", "timeout_ms", NULL };
	config_setting_t *g =
		member(ld, root, "fragments", CONFIG_TYPE_GROUP, 0);

	f->max = 256;
	f->timeout_ms = 3000;
	if (g == NULL)
		return;
	check_keys(ld, g, keys, "'fragments'");
	get_uint(ld, g, "max", 16, 65536, &f->max);
	/* RFC 791 suggests 15 s; a short wait frees a flood's fragments
	 * sooner, and fragments of one datagram travel together */
	get_uint(ld, g, "timeout_ms", 100, 60000, &f->timeout_ms);
}

static void
load_l7(struct loader *ld, const config_setting_t *root, struct mg_l7_conf *l7)
{
	static const char *const keys[] = { "max_request_bytes", "max_pending",
					    NULL };
	config_setting_t *g = member(ld, root, "l7", CONFIG_TYPE_GROUP, 0);

	/* written even without the group, as flows are */
	l7->max_request_bytes = 4096;
	l7->max_pending = 1024;
	if (g == NULL)
		return;
	check_keys(ld, g, keys, "'l7'");
	/* a request line with a Host header fits in 256 bytes; 64 KiB is
	 * more than any server accepts as a head */
	get_uint(ld, g, "max_request_bytes", 256, 65536,
		 &l7->max_request_bytes);
	get_uint(ld, g, "max_pending", 1, 1 << 20, &l7->max_pending);
}

/* A top-level list of groups of at most @p max entries, or NULL. Sets
 * *broken when the list is there but could not be read. */
static config_setting_t *
get_section(struct loader *ld, const config_setting_t *root, const char *key,
	    int max, bool *broken)
{
	config_setting_t *list = member(ld, root, key, CONFIG_TYPE_LIST, 0);
	int n;

	*broken = list == NULL && config_setting_get_member(root, key) != NULL;
	if (list == NULL)
		return NULL;
	n = config_setting_length(list);
	if (n > max) {
		err_at(ld, list,
		       "'%s' lists %d entries; at most %d are supported", key,
		       n, max);
		*broken = true;
		return NULL;
	}
	return list;
}

static bool
is_group(struct loader *ld, const config_setting_t *s, const char *what)
{
	if (config_setting_type(s) == CONFIG_TYPE_GROUP)
		return true;
	err_at(ld, s, "each %s must be a group { name = ...; }", what);
	return false;
}

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
	char buf[INET6_ADDRSTRLEN];
	int i, n;

	if (!is_group(ld, s, "identity"))
		return;
	id->line = (int)config_setting_source_line(s);
	check_keys(ld, s, keys, "an identity");
	v = get_name(ld, s, "name", true, "an identity", id->name,
		     sizeof(id->name));
	if (v != NULL && strcmp(id->name, "unknown") == 0) {
		err_at(ld, v,
		       "identity name 'unknown' is reserved for sources no "
		       "identity covers");
		id->name[0] = '\0';
	}
	get_name(ld, s, "env", false, "an identity", id->env, sizeof(id->env));
	list = get_list(ld, s, "prefixes", true, 1, MG_CONF_MAX_PREFIXES,
			"an identity");
	n = list != NULL ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_prefix *p = &id->prefixes[i], net;
		const char *text = elem_string(ld, e, "prefixes");
		const char *why;

		if (text == NULL)
			continue;
		why = parse_prefix(text, false, p);
		if (why != NULL) {
			err_at(ld, e, "prefix '%s' %s", text, why);
			continue;
		}
		net = *p;
		clear_host_bits(&net);
		if (!same_addr(&net.addr, &p->addr)) {
			err_at(ld, e,
			       "prefix '%s' has host bits set (did you mean "
			       "%s/%u?)",
			       text,
			       mg_addr_format(&net.addr, buf, sizeof(buf)),
			       p->len);
			p->addr.family = 0;
		}
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
		report(ld, NULL, 0, "out of memory");
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

static void
load_identities(struct loader *ld, const config_setting_t *root,
		struct mg_conf *conf)
{
	config_setting_t *list =
		get_section(ld, root, "identities", MG_CONF_MAX_IDENTITIES,
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
		       type_name(config_setting_type(e)));
		return;
	}
	dash = strchr(text, '-');
	if (dash == NULL) {
		if (!parse_decimal(text, strlen(text), 65535, &lo))
			goto bad;
		hi = lo;
	} else if (!parse_decimal(text, (size_t)(dash - text), 65535, &lo) ||
		   !parse_decimal(dash + 1, strlen(dash + 1), 65535, &hi)) {
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
static const char *
parse_backend(const char *text, struct mg_backend_conf *b)
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
		if (!parse_decimal(port, strlen(port), 65535, &p) || p == 0) {
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
	config_setting_t *list = get_list(ld, s, "backends", true, 1,
					  MG_CONF_MAX_BACKENDS, "a version");
	int i, j, n = list != NULL ? config_setting_length(list) : 0;
	unsigned int k;

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_backend_conf *b = &v->backends[i];
		const char *text = elem_string(ld, e, "backends");
		const char *why;
		bool family_ok = false;

		if (text == NULL)
			continue;
		why = parse_backend(text, b);
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
			if (same_addr(&b->addr, &v->backends[j].addr) &&
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
		       type_name(config_setting_type(s)));
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
	config_setting_t *g = member(ld, s, "rollback", CONFIG_TYPE_GROUP, 0);
	struct mg_rollback_conf *r = &v->rollback;
	unsigned int i;

	if (g == NULL)
		return;
	r->line = (int)config_setting_source_line(g);
	check_keys(ld, g, keys, "'rollback'");
	for (i = 0; keys[i] != NULL; i++)
		if (config_setting_get_member(g, keys[i]) == NULL)
			err_at(ld, g, "'rollback' of version '%s' needs '%s'",
			       v->name, keys[i]);
	get_ratio(ld, g, "max_error_ratio", 0, 1, &r->max_error_ratio);
	/* fewer outcomes prove nothing at the test's confidence */
	get_uint(ld, g, "min_requests", 10, 100000000, &r->min_requests);
	/* a window is at least ten of the control plane's one-second
	 * samples, at most a day of them */
	get_uint(ld, g, "window_s", 10, 86400, &r->window_s);
	r->enabled = true;
}

static void
load_version(struct loader *ld, const config_setting_t *s,
	     const struct mg_service_conf *svc, bool several,
	     struct mg_version_conf *v)
{
	static const char *const keys[] = { "name",	"weight", "backends",
					    "canary",	"rollback", NULL };
	config_setting_t *c;

	if (!is_group(ld, s, "version"))
		return;
	v->line = (int)config_setting_source_line(s);
	check_keys(ld, s, keys, "a version");
	get_name(ld, s, "name", true, "a version", v->name, sizeof(v->name));
	c = member(ld, s, "canary", CONFIG_TYPE_BOOL, 0);
	v->canary = c != NULL && config_setting_get_bool(c);
	/* a lone version takes all traffic; among several, a forgotten
	 * weight must not silently decide the split */
	v->weight = 1;
	if (config_setting_get_member(s, "weight") != NULL)
		get_uint(ld, s, "weight", 0, MG_CONF_MAX_WEIGHT_TOTAL,
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
	config_setting_t *list = get_list(ld, s, "versions", true, 1,
					  MG_CONF_MAX_VERSIONS, "a service");
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
static bool
parse_ref(const char *text, struct mg_ref *r)
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
		    !valid_name(text + strlen(MG_CONF_PEER_PREFIX)))
			return false;
		memcpy(r->name, text, strlen(text) + 1);
		return true;
	}
	if (strlen(text) >= sizeof(r->name) || !valid_name(text))
		return false;
	memcpy(r->name, text, strlen(text) + 1);
	return true;
}

/* Whether a ref names something that exists: a misspelt name or label
 * would otherwise be a rule that silently matches nothing. */
static bool
ref_resolves(const struct mg_conf *conf, const struct mg_ref *r, bool from)
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

bool
mg_conf_ref_covers_identity(const struct mg_conf *conf, const struct mg_ref *r,
			    unsigned int identity)
{
	const struct mg_identity_conf *ic;

	if (r->kind == MG_REF_ANY)
		return true;
	if (identity > conf->n_identities)
		return false;
	ic = identity == 0 ? NULL : &conf->identities[identity - 1];
	switch (r->kind) {
	case MG_REF_NAME:
		return ic == NULL ? strcmp(r->name, "unknown") == 0
				  : strcmp(r->name, ic->name) == 0;
	case MG_REF_ENV:
		/* the unknown caller has no env: "env:x" never covers it */
		return ic != NULL && ic->env[0] != '\0' &&
		       strcmp(r->name, ic->env) == 0;
	case MG_REF_ANY: return true;
	}
	return false;
}

bool
mg_conf_ref_covers_service(const struct mg_ref *r,
			   const struct mg_service_conf *s)
{
	switch (r->kind) {
	case MG_REF_ANY: return true;
	case MG_REF_NAME: return strcmp(r->name, s->name) == 0;
	case MG_REF_ENV:
		return s->env[0] != '\0' && strcmp(r->name, s->env) == 0;
	}
	return false;
}

/* Written even without a group: the ruleset never guesses a default. */
static void
health_defaults(struct mg_health_conf *h)
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
static void
load_health(struct loader *ld, const config_setting_t *parent,
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
		member(ld, parent, "health", CONFIG_TYPE_GROUP, 0);
	config_setting_t *v, *base, *max;

	if (g == NULL)
		return;
	check_keys(ld, g, keys, where);
	v = member(ld, g, "enabled", CONFIG_TYPE_BOOL, 0);
	if (v != NULL)
		h->enabled = config_setting_get_bool(v);
	/* a SYN-ACK takes a round trip; a minute is a dead backend */
	get_uint(ld, g, "connect_timeout_ms", 10, 60000,
		 &h->connect_timeout_ms);
	get_uint(ld, g, "eject_after", 1, 1000, &h->eject_after);
	/* below 100 ms an ejection is noise; a day is a removal */
	get_uint(ld, g, "base_ejection_ms", 100, 3600000, &h->base_ejection_ms);
	get_uint(ld, g, "max_ejection_ms", 100, 86400000, &h->max_ejection_ms);
	get_uint(ld, g, "max_ejected_percent", 0, 100, &h->max_ejected_percent);
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
	config_setting_t *list =
		get_list(ld, g, "from", true, 1, MG_CONF_MAX_REFS, "a route");
	int i, n = list != NULL ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		const char *text = elem_string(ld, e, "from");

		if (text == NULL)
			continue;
		if (!parse_ref(text, &r->from[i])) {
			err_at(ld, e,
			       "'from' entry '%s' is not a name, "
			       "\"peer:name\", \"env:label\" or \"*\"",
			       text);
			continue;
		}
		if (ld->identities_broken ||
		    ref_resolves(conf, &r->from[i], true))
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
	config_setting_t *list = get_list(ld, s, "routes", false, 0,
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
		check_keys(ld, g, keys, "a route");
		load_route_from(ld, g, conf, svc, r);
		v = require(ld, g, "version", CONFIG_TYPE_STRING, 0, "a route");
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

	if (!is_group(ld, s, "service"))
		return;
	svc->line = (int)config_setting_source_line(s);
	check_keys(ld, s, keys, "a service");
	get_name(ld, s, "name", true, "a service", svc->name,
		 sizeof(svc->name));
	get_name(ld, s, "env", false, "a service", svc->env, sizeof(svc->env));
	if (require(ld, s, "protocol", CONFIG_TYPE_STRING, 0, "a service"))
		get_choice(ld, s, "protocol", proto_names, &proto);
	svc->proto = (uint8_t)proto;

	list = get_list(ld, s, "addresses", true, 1, MG_CONF_MAX_VIPS,
			"a service");
	n = list != NULL ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		const char *text = elem_string(ld, e, "addresses");

		if (text == NULL)
			continue;
		if (!mg_addr_parse(text, &svc->vips[i])) {
			err_at(ld, e,
			       "address '%s' is not an IPv4 or IPv6 address",
			       text);
			continue;
		}
		for (j = 0; j < i; j++)
			if (same_addr(&svc->vips[i], &svc->vips[j])) {
				err_at(ld, e, "address '%s' is listed twice",
				       text);
				break;
			}
	}
	svc->n_vips = (unsigned int)n;

	list = get_list(ld, s, "ports", true, 1, MG_CONF_MAX_PORT_RANGES,
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
	load_health(ld, s, "a service's 'health'", &svc->health);
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
			    !same_addr(&a->vips[i], &b->vips[j]))
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

static void
load_services(struct loader *ld, const config_setting_t *root,
	      struct mg_conf *conf)
{
	config_setting_t *list =
		get_section(ld, root, "services", MG_CONF_MAX_SERVICES,
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

/* ---- ESP peers ---- */

static const struct name_value esp_algo_names[] = {
	{ "aes-gcm-128", MG_ESP_AES_GCM_128 },
	{ "aes-gcm-256", MG_ESP_AES_GCM_256 },
	{ NULL, 0 },
};

/* The room for every SA key a file may hold, locked (best effort: the
 * load is short) and kept out of core dumps. */
static bool
keys_alloc(struct loader *ld)
{
	size_t n = (size_t)MG_CONF_MAX_PEERS * (MG_CONF_MAX_PEER_INBOUND + 1);
	size_t bytes = n * MG_CONF_MAX_KEY_LEN;
	void *p;

	if (ld->keys != NULL)
		return true;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ld->key_owner = calloc(n, sizeof(*ld->key_owner));
	if (p == MAP_FAILED || ld->key_owner == NULL) {
		if (p != MAP_FAILED)
			munmap(p, bytes);
		free(ld->key_owner);
		ld->key_owner = NULL;
		report(ld, NULL, 0, "out of memory");
		return false;
	}
	(void)madvise(p, bytes, MADV_DONTDUMP);
	(void)mlock(p, bytes);
	ld->keys = p;
	ld->keys_bytes = bytes;
	return true;
}

static void
keys_free(struct loader *ld)
{
	if (ld->keys == NULL)
		return;
	explicit_bzero(ld->keys, ld->keys_bytes);
	munlock(ld->keys, ld->keys_bytes);
	munmap(ld->keys, ld->keys_bytes);
	free(ld->key_owner);
	ld->keys = NULL;
	ld->key_owner = NULL;
}

/* An SPI: an integer or a string ("0x10001"); 0-255 are reserved (RFC
 * 4303 2.1). */
static bool
get_spi(struct loader *ld, const config_setting_t *g, uint32_t *spi)
{
	config_setting_t *s = config_setting_get_member(g, "spi");
	unsigned long long v;
	const char *text;
	char *end;

	if (s == NULL) {
		err_at(ld, g, "an SA needs 'spi'");
		return false;
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		/* libconfig reads 0x80000000 and above as negative ints */
		if (config_setting_get_int64(s) < 0) {
			err_at(ld, s,
			       "'spi' is negative; write an SPI above "
			       "0x7fffffff with an L (0xc0000001L) or as a "
			       "string (\"0xc0000001\")");
			return false;
		}
		v = (unsigned long long)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_STRING:
		text = config_setting_get_string(s);
		errno = 0;
		v = strtoull(text, &end, 0);
		if (errno != 0 || *text == '\0' || *end != '\0' ||
		    *text == '-') {
			err_at(ld, s, "'spi' value '%s' is not a number", text);
			return false;
		}
		break;
	default:
		err_at(ld, s, "'spi' must be an integer or a string, not %s",
		       type_name(config_setting_type(s)));
		return false;
	}
	if (v < 256 || v > UINT32_MAX) {
		err_at(ld, s,
		       "'spi' is %llu; it must be between 256 and 4294967295 "
		       "(0-255 are reserved)",
		       v);
		return false;
	}
	*spi = (uint32_t)v;
	return true;
}

/* The key file of an SA, read and checked now so that --check-config
 * and a reload refuse a bad one at its line; kept (locked) until the
 * end of the load only to refuse one key in two SAs. */
static void
load_key(struct loader *ld, const config_setting_t *v,
	 const struct mg_peer_conf *peer, struct mg_sa_conf *sa)
{
	const char *file = config_setting_get_string(v);
	size_t len = mg_conf_esp_key_len(sa->algo);
	struct key_owner *o;
	char why[160];
	unsigned int i;
	uint8_t *key;

	if (!path_value(ld, v, "key_file", sa->key_file, sizeof(sa->key_file)))
		return;
	if (len == 0 || !keys_alloc(ld))
		return;
	key = ld->keys[ld->n_keys];
	if (mg_conf_key_read(sa->key_file, key, len, why, sizeof(why)) != 0) {
		err_at(ld, v, "key file '%s' %s", file, why);
		return;
	}
	/* GCM under one key in two SAs repeats nonces: both count their
	 * sequence numbers (the IV) from 1 */
	for (i = 0; i < ld->n_keys; i++) {
		o = &ld->key_owner[i];
		if (o->len == len && memcmp(ld->keys[i], key, len) == 0) {
			err_at(ld, v,
			       "key file '%s' holds the key of SA 0x%x of "
			       "peer '%s' (line %d): every SA needs a key of "
			       "its own",
			       file, o->spi, o->peer, o->line);
			explicit_bzero(key, len);
			return;
		}
	}
	o = &ld->key_owner[ld->n_keys++];
	o->peer = peer->name;
	o->spi = sa->spi;
	o->line = sa->line;
	o->len = len;
}

/* One SA group: spi, algorithm, key_file (and, outbound, initial_seq). */
static void
load_sa(struct loader *ld, const config_setting_t *g, bool outbound,
	const struct mg_peer_conf *peer, struct mg_sa_conf *sa)
{
	static const char *const in_keys[] = { "spi", "algorithm", "key_file",
					       NULL };
	static const char *const out_keys[] = { "spi", "algorithm", "key_file",
						"initial_seq", NULL };
	config_setting_t *v;
	uint32_t algo = MG_ESP_AES_GCM_128;

	if (!is_group(ld, g, "SA"))
		return;
	sa->line = (int)config_setting_source_line(g);
	check_keys(ld, g, outbound ? out_keys : in_keys,
		   outbound ? "an outbound SA" : "an inbound SA");
	get_spi(ld, g, &sa->spi);
	if (require(ld, g, "algorithm", CONFIG_TYPE_STRING, 0, "an SA") != NULL)
		get_choice(ld, g, "algorithm", esp_algo_names, &algo);
	sa->algo = (uint8_t)algo;
	sa->initial_seq = 1;
	v = member(ld, g, "initial_seq", CONFIG_TYPE_INT, CONFIG_TYPE_INT64);
	if (v != NULL) {
		long long seq = config_setting_get_int64(v);
		/* the last number before the wrap stops the SA at once */
		long long max =
			peer->esn ? INT64_MAX : (long long)UINT32_MAX - 1;

		if (seq < 1 || seq > max)
			err_at(ld, v,
			       "'initial_seq' is %lld; it must be between 1 "
			       "and %lld",
			       seq, max);
		else
			sa->initial_seq = (uint64_t)seq;
	}
	v = require(ld, g, "key_file", CONFIG_TYPE_STRING, 0, "an SA");
	if (v == NULL)
		return;
	sa->key_line = (int)config_setting_source_line(v);
	load_key(ld, v, peer, sa);
}

/* Prefixes routed through the peer: host bits clear, as identities'. */
static void
load_peer_prefixes(struct loader *ld, const config_setting_t *s,
		   struct mg_peer_conf *peer)
{
	config_setting_t *list = get_list(ld, s, "prefixes", false, 0,
					  MG_CONF_MAX_PEER_PREFIXES, "a peer");
	int i, j, n = list != NULL ? config_setting_length(list) : 0;
	char buf[INET6_ADDRSTRLEN];

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_prefix *p = &peer->prefixes[i], net;
		const char *text = elem_string(ld, e, "prefixes");
		const char *why;

		if (text == NULL)
			continue;
		why = parse_prefix(text, false, p);
		if (why != NULL) {
			err_at(ld, e, "prefix '%s' %s", text, why);
			continue;
		}
		net = *p;
		clear_host_bits(&net);
		if (!same_addr(&net.addr, &p->addr)) {
			err_at(ld, e,
			       "prefix '%s' has host bits set (did you mean "
			       "%s/%u?)",
			       text,
			       mg_addr_format(&net.addr, buf, sizeof(buf)),
			       p->len);
			p->addr.family = 0;
			continue;
		}
		for (j = 0; j < i; j++)
			if (memcmp(p, &peer->prefixes[j], sizeof(*p)) == 0) {
				err_at(ld, e,
				       "prefix '%s' is listed twice in peer "
				       "'%s'",
				       text, peer->name);
				break;
			}
	}
	peer->n_prefixes = (unsigned int)n;
}

/* Whether @p a is one of the gateway's port addresses. */
static bool
is_port_addr(const struct mg_conf *conf, const struct mg_addr *a)
{
	unsigned int i, j;

	for (i = 0; i < conf->n_ports; i++)
		for (j = 0; j < conf->ports[i].n_addrs; j++)
			if (same_addr(a, &conf->ports[i].addrs[j].addr))
				return true;
	return false;
}

static void
load_peer_endpoints(struct loader *ld, const config_setting_t *s,
		    const struct mg_conf *conf, struct mg_peer_conf *peer)
{
	config_setting_t *l, *r;
	char buf[INET6_ADDRSTRLEN];

	l = require(ld, s, "local", CONFIG_TYPE_STRING, 0, "a peer");
	r = require(ld, s, "remote", CONFIG_TYPE_STRING, 0, "a peer");
	if (l != NULL &&
	    !mg_addr_parse(config_setting_get_string(l), &peer->local))
		err_at(ld, l, "'local' value '%s' is not an IP address",
		       config_setting_get_string(l));
	else if (l != NULL && conf->n_ports != 0 &&
		 !is_port_addr(conf, &peer->local))
		err_at(ld, l,
		       "'local' %s is not an address of a port: the tunnel "
		       "ends at one of the gateway's own addresses",
		       mg_addr_format(&peer->local, buf, sizeof(buf)));
	if (r != NULL &&
	    !mg_addr_parse(config_setting_get_string(r), &peer->remote)) {
		err_at(ld, r, "'remote' value '%s' is not an IP address",
		       config_setting_get_string(r));
		return;
	}
	if (r == NULL || l == NULL || peer->local.family == 0)
		return;
	if (peer->remote.family != peer->local.family)
		err_at(ld, r, "'remote' is IPv%u but 'local' is IPv%u",
		       peer->remote.family, peer->local.family);
	else if (is_port_addr(conf, &peer->remote))
		err_at(ld, r, "'remote' %s is an address of the gateway itself",
		       mg_addr_format(&peer->remote, buf, sizeof(buf)));
}

static void
load_peer(struct loader *ld, const config_setting_t *s,
	  const struct mg_conf *conf, struct mg_peer_conf *peer)
{
	static const char *const keys[] = {
		"name",		"env",	       "local",	   "remote",
		"udp_encap",	"remote_port", "esn",	   "replay_window",
		"rekey_linger", "inbound",     "outbound", "prefixes",
		"services",	NULL
	};
	config_setting_t *v, *list;
	char where[64];
	int i, n;

	if (!is_group(ld, s, "peer"))
		return;
	peer->line = (int)config_setting_source_line(s);
	check_keys(ld, s, keys, "a peer");
	get_name(ld, s, "name", true, "a peer", peer->name, sizeof(peer->name));
	get_name(ld, s, "env", false, "a peer", peer->env, sizeof(peer->env));
	load_peer_endpoints(ld, s, conf, peer);
	v = member(ld, s, "udp_encap", CONFIG_TYPE_BOOL, 0);
	peer->udp_encap = v != NULL && config_setting_get_bool(v);
	peer->remote_port = 4500;
	v = config_setting_get_member(s, "remote_port");
	if (v != NULL && !peer->udp_encap)
		err_at(ld, v, "'remote_port' needs 'udp_encap = true'");
	get_u16(ld, s, "remote_port", 1, 65535, &peer->remote_port);
	v = member(ld, s, "esn", CONFIG_TYPE_BOOL, 0);
	peer->esn = v != NULL && config_setting_get_bool(v);
	/* RFC 4303 3.4.3: 32 at least, 64 recommended */
	peer->replay_window = 1024;
	get_uint(ld, s, "replay_window", 64, 4096, &peer->replay_window);
	peer->rekey_linger_s = 60;
	get_uint(ld, s, "rekey_linger", 0, 3600, &peer->rekey_linger_s);
	snprintf(where, sizeof(where), "peer '%s'", peer->name);
	list = get_list(ld, s, "inbound", true, 1, MG_CONF_MAX_PEER_INBOUND,
			where);
	n = list != NULL ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++)
		load_sa(ld, config_setting_get_elem(list, i), false, peer,
			&peer->inbound[i]);
	peer->n_inbound = (unsigned int)n;
	v = require(ld, s, "outbound", CONFIG_TYPE_GROUP, 0, where);
	if (v != NULL)
		load_sa(ld, v, true, peer, &peer->outbound);
	load_peer_prefixes(ld, s, peer);
}

/* The element @p j of list @p key of peer @p i, for errors. */
static config_setting_t *
peer_elem(const config_setting_t *list, unsigned int i, const char *key,
	  unsigned int j)
{
	config_setting_t *p = config_setting_get_elem(list, i);

	return config_setting_get_elem(config_setting_get_member(p, key), j);
}

/* The inbound SA before (peer @p i, SA @p j) with SPI @p spi, or NULL. */
static const struct mg_sa_conf *
earlier_spi(const struct mg_conf *conf, unsigned int i, unsigned int j,
	    uint32_t spi, const struct mg_peer_conf **peer)
{
	unsigned int k, l, n;

	for (k = 0; k <= i; k++) {
		n = k == i ? j : conf->peers[k].n_inbound;
		for (l = 0; l < n; l++)
			if (conf->peers[k].inbound[l].spi == spi) {
				*peer = &conf->peers[k];
				return &conf->peers[k].inbound[l];
			}
	}
	return NULL;
}

/* An inbound SPI names one SA, whatever the peer: the SA is looked up
 * by it alone before anything is authenticated. */
static void
check_peer_spis(struct loader *ld, const config_setting_t *list,
		const struct mg_conf *conf)
{
	const struct mg_peer_conf *other;
	const struct mg_sa_conf *sa;
	unsigned int i, j;
	uint32_t spi;

	for (i = 0; i < conf->n_peers; i++)
		for (j = 0; j < conf->peers[i].n_inbound; j++) {
			spi = conf->peers[i].inbound[j].spi;
			sa = spi != 0 ? earlier_spi(conf, i, j, spi, &other)
				      : NULL;
			if (sa != NULL)
				err_at(ld, peer_elem(list, i, "inbound", j),
				       "inbound SPI 0x%x is also that of peer "
				       "'%s' (line %d)",
				       spi, other->name, sa->line);
		}
}

/* The peer before @p i that lists prefix @p p, or NULL. */
static const struct mg_peer_conf *
earlier_prefix(const struct mg_conf *conf, unsigned int i,
	       const struct mg_prefix *p)
{
	unsigned int k, l;

	for (k = 0; k < i; k++)
		for (l = 0; l < conf->peers[k].n_prefixes; l++)
			if (memcmp(p, &conf->peers[k].prefixes[l],
				   sizeof(*p)) == 0)
				return &conf->peers[k];
	return NULL;
}

/* A prefix behind two peers would leave the route to table order. */
static void
check_peer_prefixes(struct loader *ld, const config_setting_t *list,
		    const struct mg_conf *conf)
{
	const struct mg_peer_conf *other;
	const struct mg_prefix *p;
	char buf[INET6_ADDRSTRLEN];
	unsigned int i, j;

	for (i = 0; i < conf->n_peers; i++)
		for (j = 0; j < conf->peers[i].n_prefixes; j++) {
			p = &conf->peers[i].prefixes[j];
			other = p->addr.family != 0 ? earlier_prefix(conf, i, p)
						    : NULL;
			if (other != NULL)
				err_at(ld, peer_elem(list, i, "prefixes", j),
				       "prefix %s/%u is behind two peers: "
				       "'%s' and '%s'",
				       mg_addr_format(&p->addr, buf,
						      sizeof(buf)),
				       p->len, other->name,
				       conf->peers[i].name);
		}
}

/* peers = ( { name = ...; ... } ): each also becomes the identity
 * "peer:NAME" (after the file's), which policies and routes may name,
 * so this runs after identities and before services and policies. */
static void
load_peers(struct loader *ld, const config_setting_t *root,
	   struct mg_conf *conf)
{
	config_setting_t *list = get_section(
		ld, root, "peers", MG_CONF_MAX_PEERS, &ld->peers_broken);
	unsigned int i, j;

	if (list == NULL)
		return;
	conf->n_peers = (unsigned int)config_setting_length(list);
	if (!ld->identities_broken &&
	    conf->n_identities + conf->n_peers > MG_CONF_MAX_IDENTITIES) {
		err_at(ld, list,
		       "%u identities and %u peers (each an identity): at "
		       "most %d in all",
		       conf->n_identities, conf->n_peers,
		       MG_CONF_MAX_IDENTITIES);
		ld->peers_broken = true;
		conf->n_peers = 0;
		return;
	}
	for (i = 0; i < conf->n_peers; i++) {
		config_setting_t *s = config_setting_get_elem(list, i);
		struct mg_peer_conf *p = &conf->peers[i];

		load_peer(ld, s, conf, p);
		for (j = 0; j < i && p->name[0] != '\0'; j++)
			if (strcmp(p->name, conf->peers[j].name) == 0) {
				err_at(ld, config_setting_get_member(s, "name"),
				       "peer name '%s' is used twice (first "
				       "at line %d)",
				       p->name, conf->peers[j].line);
				break;
			}
	}
	check_peer_spis(ld, list, conf);
	check_peer_prefixes(ld, list, conf);
	if (ld->identities_broken)
		return;
	for (i = 0; i < conf->n_peers; i++) {
		struct mg_identity_conf *id =
			&conf->identities[conf->n_identities + i];

		snprintf(id->name, sizeof(id->name), "%s%s",
			 MG_CONF_PEER_PREFIX, conf->peers[i].name);
		memcpy(id->env, conf->peers[i].env, sizeof(id->env));
		id->peer = (uint16_t)(i + 1);
		id->line = conf->peers[i].line;
		conf->peers[i].identity =
			(uint16_t)(conf->n_identities + i + 1);
	}
	conf->n_identities += conf->n_peers;
}

/* A peer's `services`: their backends sit behind it. After services. */
static void
load_peer_services(struct loader *ld, const config_setting_t *root,
		   struct mg_conf *conf)
{
	config_setting_t *list = config_setting_get_member(root, "peers");
	unsigned int i, k, l;
	int j, n;

	if (list == NULL || ld->peers_broken)
		return;
	for (i = 0; i < conf->n_peers; i++) {
		struct mg_peer_conf *p = &conf->peers[i];
		config_setting_t *s = config_setting_get_elem(list, i);
		config_setting_t *sl;

		if (s == NULL || config_setting_type(s) != CONFIG_TYPE_GROUP)
			continue;
		sl = get_list(ld, s, "services", false, 0,
			      MG_CONF_MAX_PEER_SERVICES, "a peer");
		n = sl != NULL ? config_setting_length(sl) : 0;
		for (j = 0; j < n; j++) {
			config_setting_t *e = config_setting_get_elem(sl, j);
			const char *name = elem_string(ld, e, "services");
			bool found = false;

			if (name == NULL || ld->services_broken)
				continue;
			for (k = 0; k < conf->n_services && !found; k++)
				if (strcmp(name, conf->services[k].name) == 0) {
					p->services[p->n_services++] =
						(uint16_t)k;
					found = true;
				}
			if (!found) {
				err_at(ld, e,
				       "peer '%s': 'services' names '%s', "
				       "which is not a service",
				       p->name, name);
				continue;
			}
			/* one route to a backend */
			for (k = 0; k < i; k++)
				for (l = 0; l < conf->peers[k].n_services; l++)
					if (conf->peers[k].services[l] ==
					    p->services[p->n_services - 1])
						err_at(ld, e,
						       "service '%s' is behind "
						       "two peers: '%s' and "
						       "'%s'",
						       name,
						       conf->peers[k].name,
						       p->name);
		}
	}
}

static const struct name_value action_names[] = {
	{ "allow", MG_POLICY_ALLOW },
	{ "deny", MG_POLICY_DENY },
	{ NULL, 0 },
};

static void
load_refs(struct loader *ld, const config_setting_t *s, const char *key,
	  const struct mg_conf *conf, struct mg_policy_conf *p)
{
	bool from = strcmp(key, "from") == 0;
	struct mg_ref *refs = from ? p->from : p->to;
	config_setting_t *list =
		get_list(ld, s, key, true, 1, MG_CONF_MAX_REFS, "a policy");
	int i, n = list != NULL ? config_setting_length(list) : 0;
	const char *kind = from ? "identity" : "service";

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		const char *text = elem_string(ld, e, key);

		if (text == NULL)
			continue;
		if (!parse_ref(text, &refs[i])) {
			err_at(ld, e,
			       "'%s' entry '%s' is not a name, %s"
			       "\"env:label\" or \"*\"",
			       key, text, from ? "\"peer:name\", " : "");
			continue;
		}
		if ((from ? ld->identities_broken : ld->services_broken) ||
		    ref_resolves(conf, &refs[i], from))
			continue;
		if (refs[i].kind == MG_REF_ENV)
			err_at(ld, e,
			       "policy '%s': no %s has env '%s' (in '%s')",
			       p->name, kind, refs[i].name, key);
		else
			err_at(ld, e,
			       "policy '%s': '%s' names '%s', which is not "
			       "a%s %s%s",
			       p->name, key, refs[i].name, from ? "n" : "",
			       kind, from ? " (nor \"unknown\")" : "");
	}
	if (from)
		p->n_from = (unsigned int)n;
	else
		p->n_to = (unsigned int)n;
}

unsigned int
mg_conf_pattern_flags(enum mg_l7_field field)
{
	/* DNS names and upgrade tokens ("WebSocket") are caseless; a
	 * method, path or query is not */
	return field == MG_L7_HOST || field == MG_L7_SNI ||
			       field == MG_L7_UPGRADE
		       ? HS_FLAG_CASELESS
		       : 0;
}

const char *
mg_conf_field_name(enum mg_l7_field field)
{
	static const char *const names[MG_L7_FIELD_MAX] = {
		[MG_L7_METHOD] = "method",   [MG_L7_PATH] = "path",
		[MG_L7_HOST] = "host",	     [MG_L7_HEADER] = "header",
		[MG_L7_SNI] = "sni",	     [MG_L7_QUERY] = "query",
		[MG_L7_UPGRADE] = "upgrade",
	};

	return (unsigned int)field < MG_L7_FIELD_MAX ? names[field] : "unknown";
}

/* Appends @p regex to conf->patterns, doubling the array as it fills. */
static bool
add_pattern(struct loader *ld, struct mg_conf *conf, const char *regex,
	    int line)
{
	struct mg_l7_pattern *grown;
	uint32_t cap;
	char *copy;

	if (conf->n_patterns == ld->patterns_cap) {
		cap = ld->patterns_cap == 0 ? 64 : 2 * ld->patterns_cap;
		grown = realloc(conf->patterns, cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		conf->patterns = grown;
		ld->patterns_cap = cap;
	}
	copy = strdup(regex);
	if (copy == NULL)
		return false;
	conf->patterns[conf->n_patterns].regex = copy;
	conf->patterns[conf->n_patterns].line = line;
	conf->n_patterns++;
	return true;
}

/* Checks one pattern as Hyperscan will compile it and keeps it. @p what
 * names the key in errors ("http.path"). */
static void
load_pattern(struct loader *ld, const config_setting_t *e, struct mg_conf *conf,
	     const struct mg_policy_conf *p, enum mg_l7_field field,
	     const char *what, struct mg_matcher_conf *m)
{
	const char *regex = config_setting_get_string(e);
	hs_compile_error_t *cerr = NULL;
	hs_expr_info_t *info = NULL;
	bool empty;

	if (regex == NULL) {
		err_at(ld, e,
		       "policy '%s': %s must be a string or a list of "
		       "strings, not %s",
		       p->name, what, type_name(config_setting_type(e)));
		return;
	}
	if (*regex == '\0') {
		err_at(ld, e, "policy '%s': %s has an empty pattern", p->name,
		       what);
		return;
	}
	if (strlen(regex) >= MG_CONF_PATTERN_LEN) {
		err_at(ld, e,
		       "policy '%s': %s pattern is longer than %d characters",
		       p->name, what, MG_CONF_PATTERN_LEN - 1);
		return;
	}
	if (hs_expression_info(regex, mg_conf_pattern_flags(field), &info,
			       &cerr) != HS_SUCCESS) {
		err_at(ld, e, "policy '%s': %s pattern '%s': %s", p->name, what,
		       regex, cerr != NULL ? cerr->message : "refused");
		hs_free_compile_error(cerr);
		return;
	}
	/* Hyperscan never reports a match of width 0 (and hs_compile()
	 * refuses some such patterns outright): where a regex would match
	 * the empty string, the rule would silently not match */
	empty = info->min_width == 0;
	free(info);
	if (empty) {
		err_at(ld, e,
		       "policy '%s': %s pattern '%s' matches the empty "
		       "string",
		       p->name, what, regex);
		return;
	}
	if (conf->n_patterns >= MG_CONF_MAX_PATTERNS) {
		if (!ld->patterns_full)
			err_at(ld, e,
			       "policy '%s': more than %d patterns in the "
			       "config",
			       p->name, MG_CONF_MAX_PATTERNS);
		ld->patterns_full = true;
		return;
	}
	if (!add_pattern(ld, conf, regex, (int)config_setting_source_line(e))) {
		report(ld, NULL, 0, "out of memory");
		return;
	}
	m->n++;
}

/* A string or a non-empty list of strings: one matcher, any of whose
 * patterns matches. */
static void
load_patterns(struct loader *ld, const config_setting_t *v,
	      struct mg_conf *conf, const struct mg_policy_conf *p,
	      enum mg_l7_field field, const char *what,
	      struct mg_matcher_conf *m)
{
	int i, n, t = config_setting_type(v);

	m->field = (uint8_t)field;
	m->first = conf->n_patterns;
	m->n = 0;
	m->line = (int)config_setting_source_line(v);
	if (t == CONFIG_TYPE_STRING) {
		load_pattern(ld, v, conf, p, field, what, m);
		return;
	}
	if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) {
		err_at(ld, v,
		       "policy '%s': %s must be a string or a list of "
		       "strings, not %s",
		       p->name, what, type_name(t));
		return;
	}
	n = config_setting_length(v);
	if (n == 0)
		err_at(ld, v, "policy '%s': %s must not be an empty list",
		       p->name, what);
	for (i = 0; i < n; i++)
		load_pattern(ld, config_setting_get_elem(v, i), conf, p, field,
			     what, m);
}

/* RFC 9110 tchar: what a header field name may hold. */
static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return false;
	return true;
}

/* The next free matcher of @p p, or NULL after reporting (once per
 * rule) that it has too many. */
static struct mg_matcher_conf *
next_matcher(struct loader *ld, const config_setting_t *s,
	     struct mg_policy_conf *p)
{
	if (p->n_matchers < MG_CONF_MAX_MATCHERS)
		return &p->matchers[p->n_matchers++];
	if (!ld->matchers_full)
		err_at(ld, s,
		       "policy '%s': more than %d matchers (method, path, "
		       "query, host, upgrade and each header count one "
		       "each)",
		       p->name, MG_CONF_MAX_MATCHERS);
	ld->matchers_full = true;
	return NULL;
}

/* http.headers = ( { name = "x-env"; value = "^prod$"; }, ... ): one
 * matcher per entry, the name stored lowercase. */
static void
load_headers(struct loader *ld, const config_setting_t *list,
	     struct mg_conf *conf, struct mg_policy_conf *p)
{
	static const char *const keys[] = { "name", "value", NULL };
	int i, n, t = config_setting_type(list);
	char where[MG_CONF_NAME_LEN + 48];

	snprintf(where, sizeof(where),
		 "an entry of http.headers of policy '%s'", p->name);

	if (t != CONFIG_TYPE_LIST) {
		err_at(ld, list,
		       "policy '%s': http.headers must be a list ( { name = "
		       "...; value = ...; }, ... ), not %s",
		       p->name, type_name(t));
		return;
	}
	n = config_setting_length(list);
	if (n == 0)
		err_at(ld, list,
		       "policy '%s': http.headers must not be an empty list",
		       p->name);
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, i);
		config_setting_t *name, *value;
		struct mg_matcher_conf *m;
		char what[MG_CONF_NAME_LEN + 32];
		const char *text;
		size_t k, len;

		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			err_at(ld, g,
			       "policy '%s': each of http.headers must be a "
			       "group { name = ...; value = ...; }",
			       p->name);
			continue;
		}
		check_keys(ld, g, keys, where);
		name = require(ld, g, "name", CONFIG_TYPE_STRING, 0, where);
		value = config_setting_get_member(g, "value");
		if (value == NULL)
			err_at(ld, g, "%s needs 'value'", where);
		if (name == NULL || value == NULL)
			continue;
		text = config_setting_get_string(name);
		len = strlen(text);
		if (!is_token(text) || len >= MG_CONF_NAME_LEN) {
			err_at(ld, name,
			       "policy '%s': header name '%s' is not a "
			       "field name of 1 to %d letters, digits and "
			       "!#$%%&'*+-.^_`|~",
			       p->name, text, MG_CONF_NAME_LEN - 1);
			continue;
		}
		m = next_matcher(ld, g, p);
		if (m == NULL)
			continue;
		/* field names are caseless; the parser lowercases too */
		for (k = 0; k <= len; k++)
			m->header[k] = (char)(text[k] >= 'A' && text[k] <= 'Z'
						      ? text[k] - 'A' + 'a'
						      : text[k]);
		snprintf(what, sizeof(what), "http.headers '%s'", m->header);
		load_patterns(ld, value, conf, p, MG_L7_HEADER, what, m);
	}
}

/* tls.allow_no_sni = true: this allow rule takes a ClientHello without
 * a server name (its sni matcher, if any, cannot see one). */
static void
load_allow_no_sni(struct loader *ld, const config_setting_t *g,
		  const config_setting_t *v, struct mg_policy_conf *p)
{
	int t = config_setting_type(v);

	if (t != CONFIG_TYPE_BOOL) {
		err_at(ld, v,
		       "policy '%s': tls.allow_no_sni must be true or false, "
		       "not %s",
		       p->name, type_name(t));
		return;
	}
	if (p->action != MG_POLICY_ALLOW) {
		err_at(ld, v,
		       "policy '%s': tls.allow_no_sni is for allow rules; a "
		       "deny rule never matches a ClientHello without SNI",
		       p->name);
		return;
	}
	p->allow_no_sni = config_setting_get_bool(v);
	if (!p->allow_no_sni && config_setting_get_member(g, "sni") == NULL)
		err_at(ld, v,
		       "policy '%s': tls.allow_no_sni is false and there is "
		       "no tls.sni: the rule would match nothing",
		       p->name);
}

/* An `http` or `tls` group: its keys in config order, one matcher each
 * (one per entry of http.headers). */
static void
load_matchers(struct loader *ld, const config_setting_t *g,
	      struct mg_conf *conf, struct mg_policy_conf *p)
{
	/* both groups' keys: one of the other group gets its own message */
	static const char *const keys[] = { "method", "path",	      "query",
					    "host",   "headers",      "upgrade",
					    "sni",    "allow_no_sni", NULL };
	static const struct name_value http_fields[] = {
		{ "method", MG_L7_METHOD },   { "path", MG_L7_PATH },
		{ "query", MG_L7_QUERY },     { "host", MG_L7_HOST },
		{ "upgrade", MG_L7_UPGRADE }, { NULL, 0 },
	};
	static const struct name_value tls_fields[] = {
		{ "sni", MG_L7_SNI },
		{ NULL, 0 },
	};
	static const char http_list[] = "method, path, query, host, headers "
					"or upgrade";
	static const char tls_list[] = "sni or allow_no_sni";
	bool http = p->l7 == MG_L7_HTTP;
	const char *group = http ? "http" : "tls";
	char where[MG_CONF_NAME_LEN + 32], what[16];
	int i, n = config_setting_length(g);

	snprintf(where, sizeof(where), "'%s' of policy '%s'", group, p->name);
	check_keys(ld, g, keys, where);
	if (n == 0) {
		err_at(ld, g,
		       "policy '%s': '%s' is empty; give at least one of %s",
		       p->name, group, http ? http_list : tls_list);
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *v = config_setting_get_elem(g, i);
		const char *key = config_setting_name(v);
		struct mg_matcher_conf *m;
		uint32_t field;

		if (http && strcmp(key, "headers") == 0) {
			load_headers(ld, v, conf, p);
			continue;
		}
		if (!http && strcmp(key, "allow_no_sni") == 0) {
			load_allow_no_sni(ld, g, v, p);
			continue;
		}
		if (!lookup_name(http ? http_fields : tls_fields, key,
				 &field)) {
			if (lookup_name(http ? tls_fields : http_fields, key,
					&field) ||
			    strcmp(key, "headers") == 0 ||
			    strcmp(key, "allow_no_sni") == 0)
				err_at(ld, v,
				       "policy '%s': '%s' is a key of '%s', "
				       "not of '%s' (which takes %s)",
				       p->name, key, http ? "tls" : "http",
				       group, http ? http_list : tls_list);
			continue; /* else reported by check_keys */
		}
		m = next_matcher(ld, v, p);
		if (m == NULL)
			continue;
		snprintf(what, sizeof(what), "%s.%s", group, key);
		load_patterns(ld, v, conf, p, (enum mg_l7_field)field, what, m);
	}
}

/* A policy's `http` or `tls` group, if it has one. */
static void
load_l7_rule(struct loader *ld, const config_setting_t *s, struct mg_conf *conf,
	     struct mg_policy_conf *p)
{
	config_setting_t *http = member(ld, s, "http", CONFIG_TYPE_GROUP, 0);
	config_setting_t *tls = member(ld, s, "tls", CONFIG_TYPE_GROUP, 0);

	p->l7 = MG_L7_NONE;
	p->allow_no_sni = false;
	ld->matchers_full = false;
	if (http != NULL && tls != NULL) {
		err_at(ld, tls,
		       "policy '%s' has both 'http' (line %d) and 'tls'; a "
		       "rule reads one protocol",
		       p->name, (int)config_setting_source_line(http));
		return;
	}
	if (http == NULL && tls == NULL)
		return;
	p->l7 = http != NULL ? MG_L7_HTTP : MG_L7_TLS;
	load_matchers(ld, http != NULL ? http : tls, conf, p);
}

static void
load_policy(struct loader *ld, const config_setting_t *s, struct mg_conf *conf,
	    struct mg_policy_conf *p)
{
	static const char *const keys[] = { "name",	"action", "from",
					    "to",	"dry_run", "http",
					    "tls",	"deny_action", NULL };
	uint32_t action = MG_POLICY_DENY, deny = conf->deny_action;
	config_setting_t *v;

	if (!is_group(ld, s, "policy"))
		return;
	p->line = (int)config_setting_source_line(s);
	check_keys(ld, s, keys, "a policy");
	get_name(ld, s, "name", true, "a policy", p->name, sizeof(p->name));
	if (require(ld, s, "action", CONFIG_TYPE_STRING, 0, "a policy"))
		get_choice(ld, s, "action", action_names, &action);
	p->action = action;
	v = member(ld, s, "dry_run", CONFIG_TYPE_BOOL, 0);
	p->dry_run = v != NULL && config_setting_get_bool(v);
	load_refs(ld, s, "from", conf, p);
	load_refs(ld, s, "to", conf, p);
	load_l7_rule(ld, s, conf, p);
	v = config_setting_get_member(s, "deny_action");
	get_choice(ld, s, "deny_action", deny_action_names, &deny);
	p->deny_action = deny;
	/* a request refused by its matchers is always reset both ways
	 * (README, "Layer-7 rules") */
	if (v != NULL && (action != MG_POLICY_DENY || p->l7 != MG_L7_NONE))
		err_at(ld, v,
		       "policy '%s': deny_action is for deny rules without "
		       "'http' or 'tls' matchers",
		       p->name);
}

bool
mg_conf_policy_covers_service(const struct mg_policy_conf *p,
			      const struct mg_service_conf *s)
{
	unsigned int k;

	for (k = 0; k < p->n_to; k++)
		if (mg_conf_ref_covers_service(&p->to[k], s))
			return true;
	return false;
}

bool
mg_conf_policy_covers_identity(const struct mg_conf *conf,
			       const struct mg_policy_conf *p,
			       unsigned int identity)
{
	unsigned int k;

	for (k = 0; k < p->n_from; k++)
		if (mg_conf_ref_covers_identity(conf, &p->from[k], identity))
			return true;
	return false;
}

/* Layer-7 rules read a byte stream, so they need TCP; and a service's
 * first bytes are parsed as HTTP or as a ClientHello, not both. Each
 * policy is blamed once, at its `http` or `tls` group. */
static void
check_l7_services(struct loader *ld, const config_setting_t *list,
		  const struct mg_conf *conf)
{
	/* per service, the first policy with http (0) or tls (1) rules */
	uint16_t first[2][MG_CONF_MAX_SERVICES];
	unsigned int i, k;

	for (k = 0; k < conf->n_services; k++)
		first[0][k] = first[1][k] = UINT16_MAX;
	for (i = 0; i < conf->n_policies; i++) {
		const struct mg_policy_conf *p = &conf->policies[i];
		unsigned int kind = p->l7 == MG_L7_TLS;

		if (p->l7 == MG_L7_NONE)
			continue;
		for (k = 0; k < conf->n_services; k++)
			if (first[kind][k] == UINT16_MAX &&
			    mg_conf_policy_covers_service(p,
							  &conf->services[k]))
				first[kind][k] = (uint16_t)i;
	}
	for (i = 0; i < conf->n_policies; i++) {
		const struct mg_policy_conf *p = &conf->policies[i], *q;
		unsigned int kind = p->l7 == MG_L7_TLS;
		const char *group = kind ? "tls" : "http";
		config_setting_t *g;

		if (p->l7 == MG_L7_NONE)
			continue;
		g = config_setting_get_member(config_setting_get_elem(list, i),
					      group);
		for (k = 0; k < conf->n_services; k++) {
			const struct mg_service_conf *svc = &conf->services[k];

			if (svc->proto != IPPROTO_UDP ||
			    !mg_conf_policy_covers_service(p, svc))
				continue;
			err_at(ld, g,
			       "policy '%s' has '%s' rules but covers UDP "
			       "service '%s'; layer-7 rules need TCP",
			       p->name, group, svc->name);
			break;
		}
		for (k = 0; k < conf->n_services; k++) {
			if (first[!kind][k] >= i ||
			    !mg_conf_policy_covers_service(p,
							   &conf->services[k]))
				continue;
			q = &conf->policies[first[!kind][k]];
			err_at(ld, g,
			       "policy '%s' has '%s' rules for service '%s', "
			       "which policy '%s' (line %d) gives '%s' rules; "
			       "a service is HTTP or TLS, not both",
			       p->name, group, conf->services[k].name, q->name,
			       q->line, kind ? "http" : "tls");
			break;
		}
	}
}

static void
load_policies(struct loader *ld, const config_setting_t *root,
	      struct mg_conf *conf)
{
	bool broken;
	config_setting_t *list = get_section(ld, root, "policies",
					     MG_CONF_MAX_POLICIES, &broken);
	unsigned int i, j;

	if (list == NULL)
		return;
	conf->n_policies = (unsigned int)config_setting_length(list);
	for (i = 0; i < conf->n_policies; i++) {
		config_setting_t *s = config_setting_get_elem(list, i);
		struct mg_policy_conf *p = &conf->policies[i];

		load_policy(ld, s, conf, p);
		for (j = 0; j < i && p->name[0] != '\0'; j++)
			if (strcmp(p->name, conf->policies[j].name) == 0) {
				err_at(ld, config_setting_get_member(s, "name"),
				       "policy name '%s' is used twice "
				       "(first at line %d)",
				       p->name, conf->policies[j].line);
				break;
			}
	}
	if (!ld->services_broken)
		check_l7_services(ld, list, conf);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly "xx:xx:xx:xx:xx:xx". */
static bool
parse_mac(const char *text, uint8_t mac[6])
{
	int i, hi, lo;

	if (strlen(text) != 17)
		return false;
	for (i = 0; i < 6; i++) {
		hi = hex_digit(text[3 * i]);
		lo = hex_digit(text[3 * i + 1]);
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
	config_setting_t *s = member(ld, g, key, CONFIG_TYPE_GROUP, 0), *v;
	long long x;

	if (s == NULL)
		return;
	check_keys(ld, s, keys, what);
	v = require(ld, s, "rate", CONFIG_TYPE_INT, CONFIG_TYPE_INT64, what);
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
	v = member(ld, s, "burst", CONFIG_TYPE_INT, CONFIG_TYPE_INT64);
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
	get_uint(ld, g, "max_connections", 1, 1 << 24, &b->max_conns);
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

static void
load_limits(struct loader *ld, const config_setting_t *root,
	    struct mg_conf *conf)
{
	static const char *const keys[] = {
		"name",		   "identity",	"service",  "new_connections",
		"max_connections", "packets",	"bytes",    "per_source",
		NULL
	};
	static const char *const src_keys[] = { "new_connections",
						"max_connections", "packets",
						"bytes", NULL };
	bool broken;
	config_setting_t *list = get_section(ld, root, "limits",
					     MG_CONF_MAX_LIMITS, &broken);
	unsigned int i, j;

	conf->limit_sources = 1024;
	get_uint(ld, root, "limit_sources", 8, 1 << 20, &conf->limit_sources);
	if (list == NULL)
		return;
	conf->n_limits = (unsigned int)config_setting_length(list);
	for (i = 0; i < conf->n_limits; i++) {
		config_setting_t *s = config_setting_get_elem(list, i), *v, *ps;
		struct mg_limit_conf *l = &conf->limits[i];
		char buf[MG_CONF_NAME_LEN];

		l->service = -1;
		if (!is_group(ld, s, "limit"))
			continue;
		l->line = (int)config_setting_source_line(s);
		check_keys(ld, s, keys, "a limit");
		v = get_name(ld, s, "name", true, "a limit", l->name,
			     sizeof(l->name));
		for (j = 0; v != NULL && j < i; j++)
			if (strcmp(l->name, conf->limits[j].name) == 0)
				err_at(ld, v,
				       "limit '%s' is defined twice (first at "
				       "line %d)",
				       l->name, conf->limits[j].line);
		v = get_name(ld, s, "identity", true, "a limit", buf,
			     sizeof(buf));
		if (v != NULL) {
			for (j = 0; j < conf->n_identities; j++)
				if (strcmp(buf, conf->identities[j].name) == 0)
					break;
			if (j < conf->n_identities)
				l->identity = (uint16_t)(j + 1);
			else if (strcmp(buf, "unknown") != 0)
				err_at(ld, v,
				       "limit '%s': no identity '%s' (identities "
				       "and \"unknown\" are limited)",
				       l->name, buf);
		}
		v = get_name(ld, s, "service", false, "a limit", buf,
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
		ps = member(ld, s, "per_source", CONFIG_TYPE_GROUP, 0);
		if (ps != NULL) {
			check_keys(ld, ps, src_keys, "'per_source'");
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

static void
load_neighbours(struct loader *ld, const config_setting_t *root,
		struct mg_conf *conf)
{
	static const char *const keys[] = { "address", "mac", NULL };
	static const uint8_t zero[6];
	bool broken;
	config_setting_t *list = get_section(ld, root, "neighbours",
					     MG_CONF_MAX_NEIGHBOURS, &broken);
	unsigned int i, j;

	if (list == NULL)
		return;
	conf->n_neighbours = (unsigned int)config_setting_length(list);
	for (i = 0; i < conf->n_neighbours; i++) {
		config_setting_t *s = config_setting_get_elem(list, i), *v;
		struct mg_neighbour_conf *nb = &conf->neighbours[i];
		const char *text;

		if (!is_group(ld, s, "neighbour"))
			continue;
		nb->line = (int)config_setting_source_line(s);
		check_keys(ld, s, keys, "a neighbour");
		v = require(ld, s, "address", CONFIG_TYPE_STRING, 0,
			    "a neighbour");
		if (v != NULL) {
			text = config_setting_get_string(v);
			if (!mg_addr_parse(text, &nb->addr))
				err_at(ld, v,
				       "neighbour address '%s' is not an IPv4 "
				       "or IPv6 address",
				       text);
			for (j = 0; j < i && nb->addr.family != 0; j++)
				if (same_addr(&nb->addr,
					      &conf->neighbours[j].addr)) {
					err_at(ld, v,
					       "neighbour %s is listed twice "
					       "(first at line %d)",
					       text, conf->neighbours[j].line);
					break;
				}
		}
		v = require(ld, s, "mac", CONFIG_TYPE_STRING, 0, "a neighbour");
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

/* A backend that is one of the gateway's own addresses (a VIP or a port
 * address) would send the rewritten packet straight back in. */
static void
check_backend_loops(struct loader *ld, const config_setting_t *root,
		    const struct mg_conf *conf)
{
	config_setting_t *list = config_setting_get_member(root, "services");
	struct mg_addr *local;
	unsigned int i, j, k, n = 0;
	char buf[INET6_ADDRSTRLEN];

	if (list == NULL || conf->n_services == 0)
		return;
	local = calloc(MG_CONF_MAX_SERVICES * MG_CONF_MAX_VIPS +
			       MG_CONF_MAX_PORTS * MG_CONF_MAX_ADDRS,
		       sizeof(*local));
	if (local == NULL) {
		report(ld, NULL, 0, "out of memory");
		return;
	}
	for (i = 0; i < conf->n_services; i++)
		for (j = 0; j < conf->services[i].n_vips; j++)
			local[n++] = conf->services[i].vips[j];
	for (i = 0; i < conf->n_ports; i++)
		for (j = 0; j < conf->ports[i].n_addrs; j++)
			local[n++] = conf->ports[i].addrs[j].addr;
	qsort(local, n, sizeof(*local), cmp_addr);
	for (i = 0; i < conf->n_services; i++) {
		const struct mg_service_conf *svc = &conf->services[i];
		config_setting_t *vl = config_setting_get_member(
			config_setting_get_elem(list, i), "versions");

		for (j = 0; j < svc->n_versions; j++) {
			const struct mg_version_conf *v = &svc->versions[j];
			config_setting_t *bl = config_setting_get_member(
				config_setting_get_elem(vl, j), "backends");

			for (k = 0; k < v->n_backends; k++) {
				const struct mg_addr *a = &v->backends[k].addr;

				if (a->family == 0 ||
				    bsearch(a, local, n, sizeof(*local),
					    cmp_addr) == NULL)
					continue;
				err_at(ld, config_setting_get_elem(bl, k),
				       "backend %s of service '%s' is an "
				       "address of the gateway itself",
				       mg_addr_format(a, buf, sizeof(buf)),
				       svc->name);
			}
		}
	}
	free(local);
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

/* A backend no port can reach is valid config, but every connection
 * sent its way would be dropped (no_route): say so, where it is. A
 * backend behind a peer is reached through the peer's endpoint. */
static void
check_backend_routes(struct loader *ld, const config_setting_t *root,
		     struct mg_conf *conf)
{
	config_setting_t *list = config_setting_get_member(root, "services");
	unsigned int i, j, k;
	char buf[INET6_ADDRSTRLEN];

	if (list == NULL || ld->errs->n > 0)
		return;
	for (i = 0; i < conf->n_services; i++) {
		const struct mg_service_conf *svc = &conf->services[i];
		config_setting_t *vl = config_setting_get_member(
			config_setting_get_elem(list, i), "versions");

		for (j = 0; j < svc->n_versions; j++) {
			const struct mg_version_conf *v = &svc->versions[j];
			config_setting_t *bl = config_setting_get_member(
				config_setting_get_elem(vl, j), "backends");

			for (k = 0; k < v->n_backends; k++) {
				const struct mg_addr *a = &v->backends[k].addr;
				const struct mg_peer_conf *p =
					backend_peer(conf, i, a);

				if (backend_routable(
					    conf, p != NULL ? &p->remote : a))
					continue;
				warn_setting(
					ld, conf,
					config_setting_get_elem(bl, k),
					"backend %s of service '%s' "
					"(version '%s') is in no port's "
					"prefix and no port has a "
					"gateway%u: its connections will "
					"be dropped (no_route)",
					mg_addr_format(a, buf, sizeof(buf)),
					svc->name, v->name, a->family);
			}
		}
	}
}

/* The profile folder: drivers_conf_dir from the file (relative to the
 * file's folder) or the built-in default. */
static void
profile_dir(struct loader *ld, const config_setting_t *root, const char *def,
	    char *out, size_t len)
{
	config_setting_t *s =
		member(ld, root, "drivers_conf_dir", CONFIG_TYPE_STRING, 0);

	if (s == NULL || !path_value(ld, s, "drivers_conf_dir", out, len))
		snprintf(out, len, "%s", def);
}

/* "shadow": a candidate config to evaluate beside this one. The app
 * loads it (its errors are its own file's); here only the path. */
static void
load_shadow(struct loader *ld, const config_setting_t *root,
	    struct mg_conf *conf)
{
	config_setting_t *s = member(ld, root, "shadow", CONFIG_TYPE_STRING, 0);

	if (s == NULL)
		return;
	conf->shadow_line = (int)config_setting_source_line(s);
	path_value(ld, s, "shadow", conf->shadow, sizeof(conf->shadow));
}

/* "recorder": how many dropped or denied packets each lcore keeps, and
 * where a dump goes. */
static void
load_recorder(struct loader *ld, const config_setting_t *root,
	      struct mg_conf *conf)
{
	static const char *const keys[] = { "packets", "dir", NULL };
	struct mg_recorder_conf *r = &conf->recorder;
	config_setting_t *g, *s;

	r->packets = 256;
	snprintf(r->dir, sizeof(r->dir), "/var/tmp");
	g = member(ld, root, "recorder", CONFIG_TYPE_GROUP, 0);
	if (g == NULL)
		return;
	check_keys(ld, g, keys, "'recorder'");
	get_uint(ld, g, "packets", 0, 65536, &r->packets);
	s = member(ld, g, "dir", CONFIG_TYPE_STRING, 0);
	if (s != NULL)
		path_value(ld, s, "dir", r->dir, sizeof(r->dir));
}

/* "deny_log": a JSON line per denied connection or request, to a file
 * or to syslog, at most `rate` a second. */
static void
load_deny_log(struct loader *ld, const config_setting_t *root,
	      struct mg_conf *conf)
{
	static const char *const keys[] = { "file", "syslog", "rate", "burst",
					    NULL };
	struct mg_deny_log_conf *d = &conf->deny_log;
	config_setting_t *g, *file, *sys;

	d->rate = 100;
	g = member(ld, root, "deny_log", CONFIG_TYPE_GROUP, 0);
	if (g == NULL)
		return;
	check_keys(ld, g, keys, "'deny_log'");
	file = member(ld, g, "file", CONFIG_TYPE_STRING, 0);
	sys = member(ld, g, "syslog", CONFIG_TYPE_BOOL, 0);
	d->syslog = sys != NULL && config_setting_get_bool(sys);
	if (file != NULL && d->syslog)
		err_at(ld, file,
		       "'deny_log' has 'file' and 'syslog = true': choose one");
	else if (file == NULL && !d->syslog &&
		 config_setting_get_member(g, "file") == NULL &&
		 (sys != NULL || config_setting_get_member(g, "syslog") == NULL))
		err_at(ld, g, "'deny_log' needs 'file' or 'syslog = true'");
	if (file != NULL)
		path_value(ld, file, "file", d->file, sizeof(d->file));
	get_uint(ld, g, "rate", 1, 1000000, &d->rate);
	d->burst = d->rate;
	get_uint(ld, g, "burst", 1, 10000000, &d->burst);
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
			if (same_addr(a, &conf->ports[i].addrs[j].addr))
				return true;
	for (i = 0; i < conf->n_services; i++)
		for (j = 0; j < conf->services[i].n_vips; j++)
			if (same_addr(a, &conf->services[i].vips[j]))
				return true;
	return false;
}

static void
load_telemetry(struct loader *ld, const config_setting_t *root,
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
	g = member(ld, root, "telemetry", CONFIG_TYPE_GROUP, 0);
	if (g != NULL) {
		check_keys(ld, g, keys, "'telemetry'");
		get_uint(ld, g, "max_label_sets", 16, 65536,
			 &t->max_label_sets);
		get_choice(ld, g, "naming", naming_names, &naming);
		t->istio = naming == 1;
		s = member(ld, g, "listen", CONFIG_TYPE_STRING, 0);
		if (s != NULL)
			listen = config_setting_get_string(s);
		t->explicit_listen = s != NULL;
	}
	if (strcmp(listen, "off") == 0) {
		t->enabled = false;
		return;
	}
	why = parse_backend(listen, &b);
	if (why == NULL && b.port == 0)
		why = "needs a port";
	if (why == NULL && is_data_plane_addr(conf, &b.addr))
		why = "is a data-plane address of the gateway; use a "
		      "management address (e.g. loopback)";
	if (why != NULL) {
		if (s != NULL)
			err_at(ld, s, "telemetry listen '%s' %s", listen, why);
		else
			report(ld, NULL, 0, "telemetry listen '%s' %s", listen,
			       why);
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
	return name_of(idle_names, mode);
}

/* An idle worker wakes up 333 times a second: about 1% of a core on a
 * 2-vCPU VM, where a wake-up costs 20-35 us; the first packet after
 * idling waits at most this long. */
#define IDLE_MAX_SLEEP_US_DEFAULT 3000

/* What makes the gateway an appliance: how workers idle, the seed of
 * the backend choice, the memory budget (applied by the app, which
 * knows what each part costs; here only read and bounded). */
static void
load_appliance(struct loader *ld, const config_setting_t *root,
	       struct mg_conf *conf)
{
	static const char *const keys[] = { "mode", "max_sleep_us", NULL };
	config_setting_t *g = member(ld, root, "idle", CONFIG_TYPE_GROUP, 0);
	config_setting_t *s;

	conf->idle.mode = MG_IDLE_ADAPTIVE;
	conf->idle.max_sleep_us = IDLE_MAX_SLEEP_US_DEFAULT;
	if (g != NULL) {
		check_keys(ld, g, keys, "'idle'");
		get_choice(ld, g, "mode", idle_names, &conf->idle.mode);
		get_uint(ld, g, "max_sleep_us", 1, MG_CONF_MAX_SLEEP_US,
			 &conf->idle.max_sleep_us);
	}
	conf->hash_seed = MG_CONF_HASH_SEED_DEFAULT;
	/* libconfig reads 0x80000000 and up as negative ints unless
	 * written with an L suffix: 31 bits say nothing twice */
	get_uint(ld, root, "hash_seed", 0, INT32_MAX, &conf->hash_seed);
	/* 16 MiB holds the smallest flow table and pool; 1 TiB is beyond
	 * any edge box */
	s = member(ld, root, "memory_mb", CONFIG_TYPE_INT, CONFIG_TYPE_INT64);
	if (s != NULL) {
		get_uint(ld, root, "memory_mb", 16, 1 << 20, &conf->memory_mb);
		conf->memory_line = (int)config_setting_source_line(s);
	}
	/* libconfig's lookup takes no const; it only reads */
	conf->flows_max_set = config_setting_lookup((config_setting_t *)root,
						    "flows.max") != NULL;
	conf->l7_pending_set = config_setting_lookup((config_setting_t *)root,
						     "l7.max_pending") != NULL;
}

/* mg_conf_load() of the file @p path, or of @p len bytes at @p text
 * (when not NULL) named @p path. */
static struct mg_conf *
conf_load(const char *path, const char *text, size_t len,
	  const char *drivers_dir, struct mg_conf_errors *errs)
{
	static const char *const keys[] = { "mode",	  "burst",
					    "mempool",	  "ports",
					    "lcores",	  "drivers_conf_dir",
					    "flows",	  "identities",
					    "services",	  "policies",
					    "neighbours", "unmatched",
					    "health",	  "telemetry",
					    "l7",	  "fragments",
					    "limits",	  "limit_sources",
					    "peers",	  "idle",
					    "hash_seed",  "memory_mb",
					    "deny_action", "shadow",
					    "recorder",	  "deny_log",
					    NULL };
	struct loader ld = { .errs = errs, .path = path };
	char dir[PATH_MAX], conf_dir[PATH_MAX];
	config_setting_t *root;
	struct mg_conf *conf;
	uint32_t mode = MG_MODE_ONE_ARM, unmatched = MG_UNMATCHED_DROP;
	uint32_t deny = MG_DENY_RESET;
	config_t cfg;

	memset(errs, 0, sizeof(*errs));
	conf = calloc(1, sizeof(*conf));
	if (conf == NULL) {
		report(&ld, path, 0, "out of memory");
		return NULL;
	}
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	/* paths written in the file are relative to its folder */
	snprintf(conf_dir, sizeof(conf_dir), "%s", path);
	ld.dir = dirname(conf_dir);
	conf->burst = 32;
	conf->mbuf_cache = 256;
	if (text != NULL ? !read_text(&ld, &cfg, path, text, len)
			 : !read_file(&ld, &cfg, path, NULL)) {
		mg_conf_free(conf);
		return NULL;
	}
	root = config_root_setting(&cfg);
	check_keys(&ld, root, keys, "the config");
	get_choice(&ld, root, "mode", mode_names, &mode);
	conf->mode = mode;
	get_choice(&ld, root, "unmatched", unmatched_names, &unmatched);
	conf->unmatched = unmatched;
	/* before policies: it holds their default */
	get_choice(&ld, root, "deny_action", deny_action_names, &deny);
	conf->deny_action = deny;
	get_u16(&ld, root, "burst", 1, MG_CONF_MAX_BURST, &conf->burst);
	load_mempool(&ld, root, conf);
	profile_dir(&ld, root, drivers_dir, dir, sizeof(dir));
	load_ports(&ld, root, dir, conf);
	load_lcores(&ld, root, conf);
	load_flows(&ld, root, &conf->flows);
	load_fragments(&ld, root, &conf->fragments);
	load_l7(&ld, root, &conf->l7);
	load_identities(&ld, root, conf);
	/* after identities (each peer is one more), before services and
	 * policies (routes and rules may name "peer:NAME") */
	load_peers(&ld, root, conf);
	/* before services: it holds their defaults */
	health_defaults(&conf->health);
	load_health(&ld, root, "'health'", &conf->health);
	load_services(&ld, root, conf);
	load_peer_services(&ld, root, conf);
	/* after identities and services: rules refer to both */
	load_policies(&ld, root, conf);
	load_limits(&ld, root, conf);
	load_neighbours(&ld, root, conf);
	check_backend_loops(&ld, root, conf);
	check_backend_routes(&ld, root, conf);
	/* after ports and services: it may not take their addresses */
	load_telemetry(&ld, root, conf);
	load_appliance(&ld, root, conf);
	load_shadow(&ld, root, conf);
	load_recorder(&ld, root, conf);
	load_deny_log(&ld, root, conf);
	config_destroy(&cfg);
	keys_free(&ld);

	if (errs->n > 0) {
		mg_conf_free(conf);
		return NULL;
	}
	return conf;
}

struct mg_conf *
mg_conf_load(const char *path, const char *drivers_dir,
	     struct mg_conf_errors *errs)
{
	return conf_load(path, NULL, 0, drivers_dir, errs);
}

struct mg_conf *
mg_conf_load_string(const char *text, size_t len, const char *name,
		    const char *drivers_dir, struct mg_conf_errors *errs)
{
	if (text == NULL)
		text = "";
	return conf_load(name, text, len, drivers_dir, errs);
}

void
mg_conf_free(struct mg_conf *conf)
{
	uint32_t i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->n_patterns; i++)
		free(conf->patterns[i].regex);
	free(conf->patterns);
	free(conf);
}
