/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* What every section's reader uses: FILE:LINE errors and warnings,
 * typed getters, names, addresses and prefixes, reading the file. */

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf_private.h"

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

void __attribute__((format(printf, 4, 5)))
conf_report(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, ld->errs, file, line, "", fmt, ap);
	va_end(ap);
}

/* A valid setting that will not work as written: kept in the config. */
void __attribute__((format(printf, 4, 5)))
conf_warn_setting(struct loader *ld, struct mg_conf *conf,
		  const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, &conf->warnings, config_setting_source_file(s),
		(int)config_setting_source_line(s), "warning: ", fmt, ap);
	va_end(ap);
}

const char *
conf_type_name(int type)
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
void
conf_check_keys(struct loader *ld, const config_setting_t *group,
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
config_setting_t *
conf_member(struct loader *ld, const config_setting_t *group, const char *key,
	    int type, int type2)
{
	config_setting_t *s = config_setting_get_member(group, key);
	int t;

	if (s == NULL)
		return NULL;
	t = config_setting_type(s);
	if (t == type || (type2 != 0 && t == type2))
		return s;
	err_at(ld, s, "'%s' must be %s, not %s", key, conf_type_name(type),
	       conf_type_name(t));
	return NULL;
}

config_setting_t *
conf_require(struct loader *ld, const config_setting_t *group, const char *key,
	     int type, int type2, const char *where)
{
	config_setting_t *s = conf_member(ld, group, key, type, type2);

	if (s == NULL && config_setting_get_member(group, key) == NULL)
		err_at(ld, group, "%s needs '%s'", where, key);
	return s;
}

/* Reads an optional integer in [min, max] into *out; *out is untouched
 * when the key is absent. */
void
conf_get_uint(struct loader *ld, const config_setting_t *group, const char *key,
	      long long min, long long max, uint32_t *out)
{
	config_setting_t *s =
		conf_member(ld, group, key, CONFIG_TYPE_INT, CONFIG_TYPE_INT64);
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

void
conf_get_u16(struct loader *ld, const config_setting_t *group, const char *key,
	     long long min, long long max, uint16_t *out)
{
	uint32_t v = *out;

	conf_get_uint(ld, group, key, min, max, &v);
	*out = (uint16_t)v;
}

/* Copies a string setting into @p buf; reports empty or over-long text. */
bool
conf_copy_string(struct loader *ld, const config_setting_t *s, const char *key,
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
bool
conf_path_value(struct loader *ld, const config_setting_t *s, const char *key,
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
		err_at(ld, s,
		       "'%s': the path '%s' is longer than %zu characters", key,
		       v, len - 1);
		out[0] = '\0';
		return false;
	}
	return true;
}

bool
conf_lookup_name(const struct name_value *table, const char *name,
		 uint32_t *out)
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

void
conf_get_choice(struct loader *ld, const config_setting_t *group,
		const char *key, const struct name_value *table, uint32_t *out)
{
	config_setting_t *s =
		conf_member(ld, group, key, CONFIG_TYPE_STRING, 0);
	const char *v;

	if (s == NULL)
		return;
	v = config_setting_get_string(s);
	if (!conf_lookup_name(table, v, out))
		err_choice(ld, s, key, v, table);
}

/* A list or array of names, OR-ed into a bit set. */
void
conf_get_flags(struct loader *ld, const config_setting_t *group,
	       const char *key, const struct name_value *table, uint32_t *out)
{
	config_setting_t *s = conf_member(ld, group, key, CONFIG_TYPE_ARRAY,
					  CONFIG_TYPE_LIST);
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
		if (conf_lookup_name(table, v, &bit))
			*out |= bit;
		else
			err_choice(ld, e, key, v, table);
	}
}

const char *
conf_name_of(const struct name_value *table, uint32_t value)
{
	for (; table->name != NULL; table++)
		if (table->value == value)
			return table->name;
	return "unknown";
}

/* The value of hex digit @p c, or -1. */
int
conf_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Clears the bits of @p p->addr after the first p->len. */
void
conf_clear_host_bits(struct mg_prefix *p)
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

bool
conf_same_addr(const struct mg_addr *a, const struct mg_addr *b)
{
	return a->family == b->family &&
	       memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Decimal digits s[0..n) in [0, max]; no sign, no spaces, no 0x. */
bool
conf_parse_decimal(const char *s, size_t n, unsigned long max,
		   unsigned long *out)
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
const char *
conf_parse_prefix(const char *text, bool need_len, struct mg_prefix *out)
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
	if (!conf_parse_decimal(slash + 1, strlen(slash + 1), max, &len)) {
		out->addr.family = 0;
		return max == 32 ? "needs a prefix length between 0 and 32"
				 : "needs a prefix length between 0 and 128";
	}
	out->len = (uint8_t)len;
	return NULL;
}

/* List element @p e of @p key as a network prefix ("addr/len" or a
 * host address) without host bits, into @p p. Returns its text, or NULL
 * when it is missing or refused (the error reported at its line). */
const char *
conf_network_elem(struct loader *ld, const config_setting_t *e, const char *key,
		  struct mg_prefix *p)
{
	const char *text = conf_elem_string(ld, e, key);
	char buf[INET6_ADDRSTRLEN];
	struct mg_prefix net;
	const char *why;

	if (text == NULL)
		return NULL;
	why = conf_parse_prefix(text, false, p);
	if (why != NULL) {
		err_at(ld, e, "prefix '%s' %s", text, why);
		return NULL;
	}
	net = *p;
	conf_clear_host_bits(&net);
	if (!conf_same_addr(&net.addr, &p->addr)) {
		err_at(ld, e,
		       "prefix '%s' has host bits set (did you mean %s/%u?)",
		       text, mg_addr_format(&net.addr, buf, sizeof(buf)),
		       p->len);
		p->addr.family = 0;
		return NULL;
	}
	return text;
}

/* The string of a list element, or NULL after reporting its type. */
const char *
conf_elem_string(struct loader *ld, const config_setting_t *e, const char *key)
{
	const char *v = config_setting_get_string(e);

	if (v == NULL)
		err_at(ld, e, "'%s' must list strings, not %s", key,
		       conf_type_name(config_setting_type(e)));
	return v;
}

/* An optional or required list/array with between @p min and @p max
 * elements; NULL when absent or refused. */
config_setting_t *
conf_get_list(struct loader *ld, const config_setting_t *g, const char *key,
	      bool required, int min, int max, const char *where)
{
	config_setting_t *s;
	int n;

	if (required)
		s = conf_require(ld, g, key, CONFIG_TYPE_LIST,
				 CONFIG_TYPE_ARRAY, where);
	else
		s = conf_member(ld, g, key, CONFIG_TYPE_LIST,
				CONFIG_TYPE_ARRAY);
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
bool
conf_valid_name(const char *s)
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
config_setting_t *
conf_get_name(struct loader *ld, const config_setting_t *g, const char *key,
	      bool required, const char *where, char *buf, size_t len)
{
	config_setting_t *s;

	buf[0] = '\0';
	if (required)
		s = conf_require(ld, g, key, CONFIG_TYPE_STRING, 0, where);
	else
		s = conf_member(ld, g, key, CONFIG_TYPE_STRING, 0);
	if (s == NULL || !conf_copy_string(ld, s, key, buf, len))
		return NULL;
	if (!conf_valid_name(buf)) {
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
void
conf_get_addr(struct loader *ld, const config_setting_t *g, const char *key,
	      uint8_t family, struct mg_addr *out)
{
	config_setting_t *s = conf_member(ld, g, key, CONFIG_TYPE_STRING, 0);
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
			conf_report(ld, path, 0, "cannot read file: %s",
				    strerror(errno));
	} else {
		conf_report(ld,
			    config_error_file(cfg) ? config_error_file(cfg)
						   : path,
			    config_error_line(cfg), "syntax error: %s",
			    config_error_text(cfg));
	}
	config_destroy(cfg);
	return false;
}

/* Reads a libconfig file, reporting I/O and syntax errors as FILE:LINE. */
bool
conf_read_file(struct loader *ld, config_t *cfg, const char *path,
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
bool
conf_read_text(struct loader *ld, config_t *cfg, const char *name,
	       const char *text, size_t len)
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
		conf_report(ld, name, 0, "cannot read the text: %s",
			    strerror(errno));
		config_destroy(cfg);
		return false;
	}
	ok = config_read(cfg, f);
	fclose(f);
	return ok == CONFIG_TRUE || read_failed(ld, cfg, name, NULL);
}

/* A top-level list of groups of at most @p max entries, or NULL. Sets
 * *broken when the list is there but could not be read. */
config_setting_t *
conf_get_section(struct loader *ld, const config_setting_t *root,
		 const char *key, int max, bool *broken)
{
	config_setting_t *list =
		conf_member(ld, root, key, CONFIG_TYPE_LIST, 0);
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

bool
conf_is_group(struct loader *ld, const config_setting_t *s, const char *what)
{
	if (config_setting_type(s) == CONFIG_TYPE_GROUP)
		return true;
	err_at(ld, s, "each %s must be a group { name = ...; }", what);
	return false;
}
