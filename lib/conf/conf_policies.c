/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Policies: who may reach what, and their layer-7 matchers (HTTP and
 * TLS patterns, each checked by Hyperscan at its FILE:LINE). */

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "conf_private.h"

const struct name_value conf_deny_action_names[] = {
	{ "reset", MG_DENY_RESET },
	{ "drop", MG_DENY_DROP },
	{ NULL, 0 },
};

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
	config_setting_t *list = conf_get_list(ld, s, key, true, 1,
					       MG_CONF_MAX_REFS, "a policy");
	int i, n = list != NULL ? config_setting_length(list) : 0;
	const char *kind = from ? "identity" : "service";

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		const char *text = conf_elem_string(ld, e, key);

		if (text == NULL)
			continue;
		if (!conf_parse_ref(text, &refs[i])) {
			err_at(ld, e,
			       "'%s' entry '%s' is not a name, %s"
			       "\"env:label\" or \"*\"",
			       key, text, from ? "\"peer:name\", " : "");
			continue;
		}
		if ((from ? ld->identities_broken : ld->services_broken) ||
		    conf_ref_resolves(conf, &refs[i], from))
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
		       p->name, what, conf_type_name(config_setting_type(e)));
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
		conf_report(ld, NULL, 0, "out of memory");
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
		       p->name, what, conf_type_name(t));
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
		       p->name, conf_type_name(t));
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
		conf_check_keys(ld, g, keys, where);
		name = conf_require(ld, g, "name", CONFIG_TYPE_STRING, 0,
				    where);
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
		       p->name, conf_type_name(t));
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
	conf_check_keys(ld, g, keys, where);
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
		if (!conf_lookup_name(http ? http_fields : tls_fields, key,
				      &field)) {
			if (conf_lookup_name(http ? tls_fields : http_fields,
					     key, &field) ||
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
	config_setting_t *http =
		conf_member(ld, s, "http", CONFIG_TYPE_GROUP, 0);
	config_setting_t *tls = conf_member(ld, s, "tls", CONFIG_TYPE_GROUP, 0);

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
	static const char *const keys[] = { "name", "action",	   "from",
					    "to",   "dry_run",	   "http",
					    "tls",  "deny_action", NULL };
	uint32_t action = MG_POLICY_DENY, deny = conf->deny_action;
	config_setting_t *v;

	if (!conf_is_group(ld, s, "policy"))
		return;
	p->line = (int)config_setting_source_line(s);
	conf_check_keys(ld, s, keys, "a policy");
	conf_get_name(ld, s, "name", true, "a policy", p->name,
		      sizeof(p->name));
	if (conf_require(ld, s, "action", CONFIG_TYPE_STRING, 0, "a policy"))
		conf_get_choice(ld, s, "action", action_names, &action);
	p->action = action;
	v = conf_member(ld, s, "dry_run", CONFIG_TYPE_BOOL, 0);
	p->dry_run = v != NULL && config_setting_get_bool(v);
	load_refs(ld, s, "from", conf, p);
	load_refs(ld, s, "to", conf, p);
	load_l7_rule(ld, s, conf, p);
	v = config_setting_get_member(s, "deny_action");
	conf_get_choice(ld, s, "deny_action", conf_deny_action_names, &deny);
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

void
conf_load_policies(struct loader *ld, const config_setting_t *root,
		   struct mg_conf *conf)
{
	bool broken;
	config_setting_t *list = conf_get_section(
		ld, root, "policies", MG_CONF_MAX_POLICIES, &broken);
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
