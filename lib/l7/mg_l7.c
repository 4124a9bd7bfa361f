/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Layer-7 authorization: policies' matchers compiled per service into
 * Hyperscan databases, the decision on one request, and the walk of a
 * connection's client bytes from head to body to the next head. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hs/hs.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "l7_parse.h"
#include "mg_base.h"
#include "mg_l7.h"

/* Identities: 1 + MG_CONF_MAX_IDENTITIES (0 is the unknown caller). */
#define ID_WORDS ((MG_CONF_MAX_IDENTITIES + 1 + 63) / 64)
/* Matchers of one service: every rule's, at most. */
#define MAX_MATCHERS (MG_CONF_MAX_POLICIES * MG_CONF_MAX_MATCHERS)
#define MATCH_WORDS  (MAX_MATCHERS / 64)
#define NO_SLOT	     UINT32_MAX

enum rule_kind {
	RULE_DENY = 0,
	RULE_ALLOW,
	RULE_DRY_DENY,
};

/* l7_rule.flags */
#define RULE_F_UPGRADE 0x01 /* has an http.upgrade matcher */
#define RULE_F_NO_SNI  0x02 /* tls.allow_no_sni = true */

/* A policy with matchers, as one service sees it. */
struct l7_rule {
	uint8_t kind; /* enum rule_kind */
	uint8_t n_matchers;
	uint16_t first_matcher; /* service-local matcher ids */
	uint32_t slot;		/* telemetry rule slot */
	uint8_t flags;		/* RULE_F_* */
	uint64_t callers[ID_WORDS];
};

/*
 * A Hyperscan database and the matcher of each of its expressions. Ids
 * are the expressions' own (0..n-1), not the matchers': Hyperscan
 * compiles many patterns sharing an id far slower (10,000 literals:
 * 10 s against 0.3 s), so a match maps its id to the matcher here.
 */
struct l7_db {
	hs_database_t *hs; /* NULL: no pattern on this field */
	uint16_t *matcher;
};

struct l7_header_db {
	char name[MG_CONF_NAME_LEN]; /* lowercase */
	uint32_t name_len;
	struct l7_db db;
};

/* Methods common enough that their matches are worked out when the
 * rules are built: a Hyperscan call costs a few hundred instructions, a
 * lookup here a handful. */
static const char *const common_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
};
#define N_COMMON RTE_DIM(common_methods)

struct l7_service {
	uint8_t proto; /* enum mg_l7_proto */
	/* method matchers common_methods[k] matches: method_ids[
	 * method_first[k] .. method_first[k + 1]); NULL: no method rule */
	uint16_t method_first[N_COMMON + 1];
	uint16_t *method_ids;
	uint16_t n_rules;
	uint32_t n_matchers;
	struct l7_rule *rules; /* config order */
	/* per field; MG_L7_HEADER's are by name in headers[] */
	struct l7_db db[MG_L7_FIELD_MAX];
	unsigned int n_headers;
	struct l7_header_db *headers;
	/* per identity: the first enforced allow rule without matchers
	 * that covers it (its slot), or NO_SLOT */
	uint32_t *l4_allow;
};

struct mg_l7 {
	unsigned int n_services;
	struct l7_service *services;
	unsigned int n_ids; /* identities + 1 */
	uint32_t default_slot;
	unsigned int n_scratch;
	hs_scratch_t **scratch;
	struct mg_l7_stats stats;
};

/* ---- building ---- */

/* Patterns of one database being gathered; arrays of conf->n_patterns. */
struct pattern_set {
	unsigned int n;
	const char **expr;
	unsigned int *flags;
	unsigned int *ids;
	uint16_t *matcher;		      /* of each pattern */
	const struct mg_l7_pattern **src;     /* for error lines */
	const struct mg_policy_conf **policy; /* for error names */
};

static void
set_add(struct pattern_set *ps, const struct mg_conf *conf,
	const struct mg_policy_conf *p, const struct mg_matcher_conf *m,
	unsigned int id)
{
	unsigned int i;

	for (i = 0; i < m->n; i++) {
		const struct mg_l7_pattern *pat = &conf->patterns[m->first + i];

		ps->expr[ps->n] = pat->regex;
		ps->flags[ps->n] =
			mg_conf_pattern_flags(m->field) | HS_FLAG_SINGLEMATCH;
		ps->ids[ps->n] = ps->n;
		ps->matcher[ps->n] = (uint16_t)id;
		ps->src[ps->n] = pat;
		ps->policy[ps->n] = p;
		ps->n++;
	}
}

/* Compile the gathered patterns into *db (none: db->hs stays NULL) and
 * make the first scratch fit it. */
static int
set_compile(const struct pattern_set *ps, const struct mg_conf *conf,
	    const char *what, struct l7_db *db, struct mg_l7 *l7, char *err,
	    size_t errlen)
{
	hs_compile_error_t *cerr = NULL;
	size_t size = 0;
	int e;

	if (ps->n == 0)
		return 0;
	db->matcher = malloc(ps->n * sizeof(*db->matcher));
	if (db->matcher == NULL) {
		mg_set_err(err, errlen, "out of memory for layer-7 rules");
		return -ENOMEM;
	}
	memcpy(db->matcher, ps->matcher, ps->n * sizeof(*db->matcher));
	if (hs_compile_multi(ps->expr, ps->flags, ps->ids, ps->n, HS_MODE_BLOCK,
			     NULL, &db->hs, &cerr) != HS_SUCCESS) {
		e = cerr != NULL ? cerr->expression : -1;
		if (e >= 0 && (unsigned int)e < ps->n)
			mg_set_err(err, errlen,
				   "%s:%d: policy '%s': %s pattern '%s': %s",
				   conf->path, ps->src[e]->line,
				   ps->policy[e]->name, what, ps->expr[e],
				   cerr->message);
		else
			mg_set_err(err, errlen, "%s: %s patterns: %s",
				   conf->path, what,
				   cerr != NULL ? cerr->message : "failed");
		hs_free_compile_error(cerr);
		db->hs = NULL;
		return -EINVAL;
	}
	hs_database_size(db->hs, &size);
	l7->stats.database_bytes += size;
	l7->stats.n_databases++;
	l7->stats.n_patterns += ps->n;
	if (hs_alloc_scratch(db->hs, &l7->scratch[0]) != HS_SUCCESS) {
		mg_set_err(err, errlen, "out of memory for Hyperscan scratch");
		return -ENOMEM;
	}
	return 0;
}

static const char *
field_label(enum mg_l7_field f)
{
	switch (f) {
	case MG_L7_METHOD: return "http.method";
	case MG_L7_PATH: return "http.path";
	case MG_L7_HOST: return "http.host";
	case MG_L7_HEADER: return "http.headers";
	case MG_L7_QUERY: return "http.query";
	case MG_L7_UPGRADE: return "http.upgrade";
	default: return "tls.sni";
	}
}

/* Whether policy @p p is one of service @p s's rules with matchers. A
 * dry-run allow changes nothing, as at L4, so it is not. */
static bool
is_l7_rule(const struct mg_conf *conf, const struct mg_policy_conf *p,
	   unsigned int s)
{
	return p->l7 != MG_L7_NONE &&
	       !(p->dry_run && p->action == MG_POLICY_ALLOW) &&
	       mg_conf_policy_covers_service(p, &conf->services[s]);
}

/* Enforced allow rules without matchers, per identity. */
static int
build_l4_allow(struct l7_service *sv, const struct mg_conf *conf,
	       unsigned int s, unsigned int n_ids, const uint32_t *slots)
{
	unsigned int r, i;

	sv->l4_allow = malloc(n_ids * sizeof(*sv->l4_allow));
	if (sv->l4_allow == NULL)
		return -ENOMEM;
	for (i = 0; i < n_ids; i++)
		sv->l4_allow[i] = NO_SLOT;
	for (r = 0; r < conf->n_policies; r++) {
		const struct mg_policy_conf *p = &conf->policies[r];

		if (p->l7 != MG_L7_NONE || p->action != MG_POLICY_ALLOW ||
		    p->dry_run ||
		    !mg_conf_policy_covers_service(p, &conf->services[s]))
			continue;
		for (i = 0; i < n_ids; i++)
			if (sv->l4_allow[i] == NO_SLOT &&
			    mg_conf_policy_covers_identity(conf, p, i))
				sv->l4_allow[i] = slots[r];
	}
	return 0;
}

/* Every pattern of the service's matchers on @p field (and, for
 * headers, on the header named @p header) into @p ps. */
static void
gather(struct pattern_set *ps, const struct mg_conf *conf,
       const struct l7_service *sv, const struct mg_policy_conf **rp,
       enum mg_l7_field field, const char *header)
{
	const struct mg_matcher_conf *m;
	unsigned int k, i;

	ps->n = 0;
	for (k = 0; k < sv->n_rules; k++)
		for (i = 0; i < rp[k]->n_matchers; i++) {
			m = &rp[k]->matchers[i];
			if (m->field == field &&
			    (header == NULL || strcmp(m->header, header) == 0))
				set_add(ps, conf, rp[k], m,
					sv->rules[k].first_matcher + i);
		}
}

static const struct l7_header_db *
find_header(const struct l7_service *sv, const char *name)
{
	unsigned int h;

	for (h = 0; h < sv->n_headers; h++)
		if (strcmp(sv->headers[h].name, name) == 0)
			return &sv->headers[h];
	return NULL;
}

/* Matchers of one request that matched: a bit per service-local id. */
struct matched {
	uint64_t bits[MATCH_WORDS];
};

struct scan_ctx {
	struct matched *m;
	const uint16_t *matcher;
};

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to,
	 unsigned int flags, void *arg)
{
	const struct scan_ctx *c = arg;
	unsigned int k = c->matcher[id];

	RTE_SET_USED(from);
	RTE_SET_USED(to);
	RTE_SET_USED(flags);
	c->m->bits[k / 64] |= 1ull << (k % 64);
	return 0;
}

static inline void
scan(const struct l7_db *db, hs_scratch_t *scratch, const uint8_t *p,
     uint32_t len, struct matched *m)
{
	struct scan_ctx c = { m, db->matcher };

	/* An empty field cannot match: every pattern needs a byte. */
	if (db->hs != NULL && len != 0)
		hs_scan(db->hs, (const char *)p, len, 0, scratch, on_match, &c);
}

/* What each common method matches, from the method database. */
static int
build_methods(struct l7_service *sv, hs_scratch_t *scratch)
{
	struct matched m;
	unsigned int k, id, n = 0;

	sv->method_ids = calloc((size_t)N_COMMON * sv->n_matchers,
				sizeof(*sv->method_ids));
	if (sv->method_ids == NULL)
		return -ENOMEM;
	for (k = 0; k < N_COMMON; k++) {
		memset(&m, 0, sizeof(m));
		scan(&sv->db[MG_L7_METHOD], scratch,
		     (const uint8_t *)common_methods[k],
		     (uint32_t)strlen(common_methods[k]), &m);
		sv->method_first[k] = (uint16_t)n;
		for (id = 0; id < sv->n_matchers; id++)
			if ((m.bits[id / 64] >> (id % 64)) & 1)
				sv->method_ids[n++] = (uint16_t)id;
	}
	sv->method_first[N_COMMON] = (uint16_t)n;
	return 0;
}

/* Rules of service @p s that have matchers, and their databases. */
static int
build_service(struct mg_l7 *l7, const struct mg_conf *conf, unsigned int s,
	      const uint32_t *slots, struct pattern_set *ps,
	      const struct mg_policy_conf **rp, char *err, size_t errlen)
{
	struct l7_service *sv = &l7->services[s];
	unsigned int r, i, k, f;
	int rc;

	for (r = 0; r < conf->n_policies; r++)
		if (is_l7_rule(conf, &conf->policies[r], s))
			rp[sv->n_rules++] = &conf->policies[r];
	if (sv->n_rules == 0)
		return 0;
	sv->proto = rp[0]->l7; /* the loader refuses a service with both */
	l7->stats.n_services++;
	sv->rules = calloc(sv->n_rules, sizeof(*sv->rules));
	sv->headers = calloc((size_t)sv->n_rules * MG_CONF_MAX_MATCHERS,
			     sizeof(*sv->headers));
	if (sv->rules == NULL || sv->headers == NULL ||
	    build_l4_allow(sv, conf, s, l7->n_ids, slots) < 0) {
		mg_set_err(err, errlen, "out of memory for layer-7 rules");
		return -ENOMEM;
	}
	for (k = 0; k < sv->n_rules; k++) {
		struct l7_rule *rule = &sv->rules[k];

		rule->kind = rp[k]->dry_run		       ? RULE_DRY_DENY
			     : rp[k]->action == MG_POLICY_DENY ? RULE_DENY
							       : RULE_ALLOW;
		rule->slot = slots[rp[k] - conf->policies];
		rule->first_matcher = (uint16_t)sv->n_matchers;
		rule->n_matchers = (uint8_t)rp[k]->n_matchers;
		sv->n_matchers += rp[k]->n_matchers;
		for (i = 0; i < rp[k]->n_matchers; i++)
			if (rp[k]->matchers[i].field == MG_L7_UPGRADE)
				rule->flags |= RULE_F_UPGRADE;
		if (rp[k]->allow_no_sni && rule->kind == RULE_ALLOW)
			rule->flags |= RULE_F_NO_SNI;
		for (i = 0; i < l7->n_ids; i++)
			if (mg_conf_policy_covers_identity(conf, rp[k], i))
				rule->callers[i / 64] |= 1ull << (i % 64);
	}
	/* one database per field, then one per header name */
	for (f = 0; f < MG_L7_FIELD_MAX; f++) {
		if (f == MG_L7_HEADER)
			continue;
		gather(ps, conf, sv, rp, f, NULL);
		rc = set_compile(ps, conf, field_label(f), &sv->db[f], l7, err,
				 errlen);
		if (rc < 0)
			return rc;
	}
	if (sv->db[MG_L7_METHOD].hs != NULL &&
	    build_methods(sv, l7->scratch[0]) < 0) {
		mg_set_err(err, errlen, "out of memory for layer-7 rules");
		return -ENOMEM;
	}
	for (k = 0; k < sv->n_rules; k++)
		for (i = 0; i < rp[k]->n_matchers; i++) {
			const struct mg_matcher_conf *m = &rp[k]->matchers[i];
			struct l7_header_db *hd = &sv->headers[sv->n_headers];

			if (m->field != MG_L7_HEADER ||
			    find_header(sv, m->header) != NULL)
				continue;
			snprintf(hd->name, sizeof(hd->name), "%s", m->header);
			hd->name_len = (uint32_t)strlen(hd->name);
			sv->n_headers++;
			gather(ps, conf, sv, rp, MG_L7_HEADER, m->header);
			rc = set_compile(ps, conf, field_label(MG_L7_HEADER),
					 &hd->db, l7, err, errlen);
			if (rc < 0)
				return rc;
		}
	return 0;
}

struct mg_l7 *
mg_l7_build(const struct mg_conf *conf, const uint32_t *rule_slots,
	    unsigned int n_scratch, char *err, size_t errlen)
{
	const struct mg_policy_conf **rp = NULL;
	struct pattern_set ps = { 0 };
	size_t np = RTE_MAX(conf->n_patterns, 1u);
	struct mg_l7 *l7;
	unsigned int s;
	int rc;

	if (n_scratch == 0 || rule_slots == NULL) {
		mg_set_err(err, errlen, "invalid arguments");
		rte_errno = EINVAL;
		return NULL;
	}
	l7 = calloc(1, sizeof(*l7));
	if (l7 == NULL)
		goto nomem;
	l7->n_ids = conf->n_identities + 1;
	l7->n_services = conf->n_services;
	l7->default_slot = rule_slots[conf->n_policies];
	l7->n_scratch = n_scratch;
	l7->services =
		calloc(RTE_MAX(conf->n_services, 1u), sizeof(*l7->services));
	l7->scratch = calloc(n_scratch, sizeof(*l7->scratch));
	rp = calloc(RTE_MAX(conf->n_policies, 1u), sizeof(*rp));
	ps.expr = calloc(np, sizeof(*ps.expr));
	ps.flags = calloc(np, sizeof(*ps.flags));
	ps.ids = calloc(np, sizeof(*ps.ids));
	ps.matcher = calloc(np, sizeof(*ps.matcher));
	ps.src = calloc(np, sizeof(*ps.src));
	ps.policy = calloc(np, sizeof(*ps.policy));
	if (l7->services == NULL || l7->scratch == NULL || rp == NULL ||
	    ps.expr == NULL || ps.flags == NULL || ps.ids == NULL ||
	    ps.matcher == NULL || ps.src == NULL || ps.policy == NULL)
		goto nomem;
	for (s = 0; s < conf->n_services; s++) {
		rc = build_service(l7, conf, s, rule_slots, &ps, rp, err,
				   errlen);
		if (rc < 0)
			goto out;
	}
	for (s = 1; l7->scratch[0] != NULL && s < n_scratch; s++)
		if (hs_clone_scratch(l7->scratch[0], &l7->scratch[s]) !=
		    HS_SUCCESS)
			goto nomem;
	if (l7->scratch[0] != NULL)
		hs_scratch_size(l7->scratch[0], &l7->stats.scratch_bytes);
	rc = 0;
	goto out;
nomem:
	mg_set_err(err, errlen, "out of memory for layer-7 rules");
	rc = -ENOMEM;
out:
	free(ps.expr);
	free(ps.flags);
	free(ps.ids);
	free(ps.matcher);
	free(ps.src);
	free(ps.policy);
	free(rp);
	if (rc == 0)
		return l7;
	mg_l7_free(l7);
	rte_errno = -rc;
	return NULL;
}

static void
db_free(struct l7_db *db)
{
	hs_free_database(db->hs);
	free(db->matcher);
}

void
mg_l7_free(struct mg_l7 *l7)
{
	unsigned int s, f, h;

	if (l7 == NULL)
		return;
	for (s = 0; l7->services != NULL && s < l7->n_services; s++) {
		struct l7_service *sv = &l7->services[s];

		for (f = 0; f < MG_L7_FIELD_MAX; f++)
			db_free(&sv->db[f]);
		for (h = 0; h < sv->n_headers; h++)
			db_free(&sv->headers[h].db);
		free(sv->headers);
		free(sv->method_ids);
		free(sv->rules);
		free(sv->l4_allow);
	}
	for (s = 0; l7->scratch != NULL && s < l7->n_scratch; s++)
		hs_free_scratch(l7->scratch[s]);
	free(l7->scratch);
	free(l7->services);
	free(l7);
}

enum mg_l7_proto
mg_l7_service_proto(const struct mg_l7 *l7, uint16_t service)
{
	if (l7 == NULL || service >= l7->n_services)
		return MG_L7_NONE;
	return (enum mg_l7_proto)l7->services[service].proto;
}

void
mg_l7_get_stats(const struct mg_l7 *l7, struct mg_l7_stats *out)
{
	*out = l7->stats;
}

/* ---- deciding ---- */

static inline bool
covers(const struct l7_rule *r, unsigned int id)
{
	return (r->callers[id / 64] >> (id % 64)) & 1;
}

/* A rule without matchers (tls.allow_no_sni alone) matches no request
 * that has fields: it speaks only of a ClientHello without SNI. */
static inline bool
all_matched(const struct l7_rule *r, const struct matched *m)
{
	unsigned int i, id;

	if (r->n_matchers == 0)
		return false;
	for (i = 0; i < r->n_matchers; i++) {
		id = r->first_matcher + i;
		if (!((m->bits[id / 64] >> (id % 64)) & 1))
			return false;
	}
	return true;
}

/* Whether any rule with matchers covers the caller: if none does, the
 * request's fields cannot change the decision and are not scanned. */
static bool
any_rule_covers(const struct l7_service *sv, unsigned int id)
{
	unsigned int k;

	for (k = 0; k < sv->n_rules; k++)
		if (covers(&sv->rules[k], id))
			return true;
	return false;
}

/* How one reading of a request is decided: the slot of the rule that
 * decides, and the drop reason when it denies (MG_DROP_NONE: allowed). */
struct verdict {
	uint32_t slot;
	enum mg_drop_reason why;
};

/*
 * The verdict on a request whose matched fields are in @p m (see the file
 * comment of mg_l7.h). An Upgrade request (@p upgrade) is allowed
 * only by an allow rule whose http.upgrade matcher matches too: once the
 * backend answers 101 the connection passes uninspected, so neither an
 * L4 rule nor a rule about the request alone may open it.
 */
static __rte_always_inline struct verdict
judge(const struct mg_l7 *l7, const struct l7_service *sv, unsigned int id,
      const struct matched *m, bool upgrade)
{
	const struct l7_rule *r;
	uint32_t allow = NO_SLOT;
	unsigned int k;

	for (k = 0; k < sv->n_rules; k++) {
		r = &sv->rules[k];
		if (r->kind == RULE_DENY && covers(r, id) && all_matched(r, m))
			return (struct verdict){ r->slot, MG_DROP_L7_DENY };
	}
	if (upgrade) {
		for (k = 0; k < sv->n_rules; k++) {
			r = &sv->rules[k];
			if (r->kind == RULE_ALLOW &&
			    (r->flags & RULE_F_UPGRADE) && covers(r, id) &&
			    all_matched(r, m))
				return (struct verdict){ r->slot,
							 MG_DROP_NONE };
		}
		return (struct verdict){ l7->default_slot,
					 MG_DROP_L7_UPGRADE_DENY };
	}
	if (id < l7->n_ids)
		allow = sv->l4_allow[id];
	for (k = 0; allow == NO_SLOT && k < sv->n_rules; k++) {
		r = &sv->rules[k];
		if (r->kind == RULE_ALLOW && covers(r, id) && all_matched(r, m))
			allow = r->slot;
	}
	if (allow == NO_SLOT)
		return (struct verdict){ l7->default_slot, MG_DROP_L7_DENY };
	return (struct verdict){ allow, MG_DROP_NONE };
}

/* Note a decision for a caller comparing rulesets (struct mg_l7_trace). */
static inline void
trace(const struct mg_l7_ctx *c, uint32_t slot, bool denied)
{
	c->trace->decided++;
	c->trace->slot = slot;
	c->trace->denied = denied;
}

/*
 * The decision on one request, counted. @p m holds what its fields
 * matched; @p other, when not NULL, what they matched read the other
 * way (a path with ";params": @p m without them, @p other as sent).
 * A request read two ways is allowed only when both readings are, and
 * a deny of either denies it. Returns MG_DROP_NONE to allow, else why
 * it is denied.
 */
static enum mg_drop_reason
decide(const struct mg_l7_ctx *c, const struct l7_service *sv, unsigned int id,
       const struct matched *m, const struct matched *other, bool upgrade)
{
	struct verdict v = judge(c->l7, sv, id, m, upgrade), v2;
	const struct l7_rule *r;
	unsigned int k;

	if (v.why == MG_DROP_NONE && other != NULL) {
		v2 = judge(c->l7, sv, id, other, upgrade);
		if (v2.why != MG_DROP_NONE)
			v = v2;
	}
	if (unlikely(c->trace != NULL))
		trace(c, v.slot, v.why != MG_DROP_NONE);
	if (v.why != MG_DROP_NONE) {
		mg_tel_decision(c->stats, v.slot, MG_TEL_DENY);
		return v.why;
	}
	mg_tel_decision(c->stats, v.slot, MG_TEL_ALLOW);
	for (k = 0; k < sv->n_rules; k++) {
		r = &sv->rules[k];
		if (r->kind == RULE_DRY_DENY && covers(r, id) &&
		    (all_matched(r, m) ||
		     (other != NULL && all_matched(r, other)))) {
			mg_tel_decision(c->stats, r->slot, MG_TEL_DRY_RUN);
			break;
		}
	}
	return MG_DROP_NONE;
}

/* Matchers the request's method matches: from the table for a common
 * method, else from a scan. */
static inline void
match_method(const struct l7_service *sv, hs_scratch_t *scratch,
	     const struct mg_http_str *method, struct matched *m)
{
	unsigned int k, i, id;

	if (sv->method_ids == NULL)
		return;
	for (k = 0; k < N_COMMON; k++)
		if (strlen(common_methods[k]) == method->len &&
		    memcmp(common_methods[k], method->p, method->len) == 0)
			break;
	if (k == N_COMMON) {
		scan(&sv->db[MG_L7_METHOD], scratch, method->p, method->len, m);
		return;
	}
	for (i = sv->method_first[k]; i < sv->method_first[k + 1]; i++) {
		id = sv->method_ids[i];
		m->bits[id / 64] |= 1ull << (id % 64);
	}
}

static inline bool
name_is(const struct mg_http_str *name, const struct l7_header_db *h)
{
	return name->len == h->name_len &&
	       strncasecmp((const char *)name->p, h->name, h->name_len) == 0;
}

/*
 * Matchers the offered protocols of an Upgrade value (checked by the
 * parser: tokens or token/token, separated by commas and spaces) match.
 * A rule's upgrade matcher matches only when each protocol matches one
 * of its patterns: the server may switch to any of them.
 */
static void
match_upgrade(const struct l7_service *sv, hs_scratch_t *scratch,
	      const struct mg_http_str *v, unsigned int words,
	      struct matched *m)
{
	struct matched every, one;
	const uint8_t *p = v->p;
	uint32_t i = 0, t0;
	unsigned int w;
	bool first = true;

	if (sv->db[MG_L7_UPGRADE].hs == NULL || p == NULL)
		return;
	for (;;) {
		while (i < v->len &&
		       (p[i] == ',' || p[i] == ' ' || p[i] == '\t'))
			i++;
		for (t0 = i;
		     i < v->len && p[i] != ',' && p[i] != ' ' && p[i] != '\t';
		     i++)
			;
		if (i == t0)
			break;
		memset(one.bits, 0, words * 8);
		scan(&sv->db[MG_L7_UPGRADE], scratch, p + t0, i - t0, &one);
		for (w = 0; w < words; w++)
			every.bits[w] = first ? one.bits[w]
					      : every.bits[w] & one.bits[w];
		first = false;
	}
	for (w = 0; !first && w < words; w++)
		m->bits[w] |= every.bits[w];
}

/* @p path without its segments' ";params" (Tomcat's and Spring's reading
 * of "/admin;x/y": "/admin/y"), written to @p out; returns its length. */
static uint32_t
strip_params(const struct mg_http_str *path, uint8_t *out)
{
	uint32_t i, n = 0;
	bool in_params = false;

	for (i = 0; i < path->len; i++) {
		if (path->p[i] == '/')
			in_params = false;
		else if (path->p[i] == ';')
			in_params = true;
		if (!in_params)
			out[n++] = path->p[i];
	}
	return n;
}

/*
 * The request's fields in their normal forms (see mg_http_parse_head())
 * through the service's databases, then the decision. A path with
 * ";params" is read both ways, without them into @p work (the
 * worker's work area: a head, so its path, is never longer): some
 * servers strip them ("/admin;x" is /admin to Tomcat), others keep them
 * as part of the segment (nginx), and the rules must hold for either.
 */
static enum mg_drop_reason
decide_http(const struct mg_l7_ctx *c, const struct l7_service *sv,
	    unsigned int id, const struct mg_http_head *head, uint8_t *work)
{
	hs_scratch_t *scratch = c->l7->scratch[c->worker];
	const struct l7_db *path_db = &sv->db[MG_L7_PATH];
	struct matched m, as_sent;
	unsigned int i, h, words = (sv->n_matchers + 63) / 64;
	bool two = false;
	uint32_t n;

	if (any_rule_covers(sv, id)) {
		memset(m.bits, 0, words * 8);
		match_method(sv, scratch, &head->method, &m);
		scan(&sv->db[MG_L7_QUERY], scratch, head->query.p,
		     head->query.len, &m);
		scan(&sv->db[MG_L7_HOST], scratch, head->host.p, head->host.len,
		     &m);
		for (h = 0; h < sv->n_headers; h++)
			for (i = 0; i < head->n_headers; i++)
				if (name_is(&head->headers[i].name,
					    &sv->headers[h]))
					scan(&sv->headers[h].db, scratch,
					     head->headers[i].value.p,
					     head->headers[i].value.len, &m);
		match_upgrade(sv, scratch, &head->upgrade, words, &m);
		if (unlikely(head->path_params) && path_db->hs != NULL) {
			memcpy(as_sent.bits, m.bits, words * 8);
			scan(path_db, scratch, head->path.p, head->path.len,
			     &as_sent);
			n = strip_params(&head->path, work);
			scan(path_db, scratch, work, n, &m);
			two = true;
		} else {
			scan(path_db, scratch, head->path.p, head->path.len,
			     &m);
		}
	}
	return decide(c, sv, id, &m, two ? &as_sent : NULL,
		      head->upgrade.p != NULL);
}

/*
 * The decision on a ClientHello. One without SNI cannot meet an sni
 * matcher, so no deny rule could see it: it is allowed only by an allow
 * rule that says so (tls.allow_no_sni), else denied (MG_DROP_L7_NO_SNI)
 * against the default rule, even for a caller an L4 rule allows.
 */
static enum mg_drop_reason
decide_tls(const struct mg_l7_ctx *c, const struct l7_service *sv,
	   unsigned int id, const struct mg_tls_hello *hello)
{
	const struct l7_rule *r;
	struct matched m;
	unsigned int k;

	if (!hello->has_sni) {
		for (k = 0; k < sv->n_rules; k++) {
			r = &sv->rules[k];
			if ((r->flags & RULE_F_NO_SNI) && covers(r, id)) {
				if (unlikely(c->trace != NULL))
					trace(c, r->slot, false);
				mg_tel_decision(c->stats, r->slot,
						MG_TEL_ALLOW);
				return MG_DROP_NONE;
			}
		}
		if (unlikely(c->trace != NULL))
			trace(c, c->l7->default_slot, true);
		mg_tel_decision(c->stats, c->l7->default_slot, MG_TEL_DENY);
		return MG_DROP_L7_NO_SNI;
	}
	if (any_rule_covers(sv, id)) {
		memset(m.bits, 0, (sv->n_matchers + 63) / 64 * 8);
		scan(&sv->db[MG_L7_SNI], c->l7->scratch[c->worker],
		     (const uint8_t *)hello->sni, hello->sni_len, &m);
	}
	return decide(c, sv, id, &m, NULL, false);
}

/* ---- reassembly buffers ---- */

struct mg_l7_pool {
	struct rte_ring *free; /* buffer indices */
	struct rte_rcu_qsbr_dq *dq;
	struct rte_rcu_qsbr *qsv; /* the dq's: what TSan syncs on */
	uint32_t n;
	uint32_t size;
	unsigned int n_workers;
	uint8_t *bufs; /* n buffers, then one work area per worker */
};

static void
pool_put_deferred(void *p, void *e, unsigned int n)
{
	struct mg_l7_pool *pool = p;

	/* the grace period was checked inside DPDK, which TSan does not
	 * see: acquire what the workers released before reporting */
	MG_TSAN_ACQUIRE(pool->qsv);
	rte_ring_enqueue_bulk_elem(pool->free, e, sizeof(uint32_t), n, NULL);
}

struct mg_l7_pool *
mg_l7_pool_create(const char *name, uint32_t n, uint32_t size,
		  unsigned int n_workers, int socket, struct rte_rcu_qsbr *qsv)
{
	char rname[RTE_RING_NAMESIZE];
	struct rte_rcu_qsbr_dq_parameters dp = { 0 };
	struct mg_l7_pool *pool;
	uint32_t i;

	if (name == NULL || n == 0 || size == 0 || n_workers == 0 ||
	    qsv == NULL) {
		rte_errno = EINVAL;
		return NULL;
	}
	pool = rte_zmalloc_socket(name, sizeof(*pool), RTE_CACHE_LINE_SIZE,
				  socket);
	if (pool == NULL)
		goto nomem;
	pool->n = n;
	pool->size = size;
	pool->qsv = qsv;
	pool->n_workers = n_workers;
	pool->bufs = rte_malloc_socket(name, ((size_t)n + n_workers) * size,
				       RTE_CACHE_LINE_SIZE, socket);
	snprintf(rname, sizeof(rname), "%s_free", name);
	pool->free = rte_ring_create_elem(rname, sizeof(uint32_t),
					  rte_align32pow2(n + 1), socket, 0);
	if (pool->bufs == NULL || pool->free == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		rte_ring_enqueue_elem(pool->free, &i, sizeof(i));
	snprintf(rname, sizeof(rname), "%s_dq", name);
	dp.name = rname;
	dp.size = n;
	dp.esize = sizeof(uint32_t);
	dp.trigger_reclaim_limit = 0; /* reclaim what it can at each put */
	dp.max_reclaim_size = n;
	dp.free_fn = pool_put_deferred;
	dp.p = pool;
	dp.v = qsv;
	pool->dq = rte_rcu_qsbr_dq_create(&dp);
	if (pool->dq == NULL)
		goto nomem;
	return pool;
nomem:
	mg_l7_pool_free(pool);
	rte_errno = ENOMEM;
	return NULL;
}

/* struct rte_rcu_qsbr_dq, private to DPDK: a few words */
#define DQ_HEADER_BYTES 128

size_t
mg_l7_pool_memsize(uint32_t n, uint32_t size, unsigned int n_workers)
{
	uint32_t ring = rte_align32pow2(n + 1);

	return RTE_ALIGN_CEIL(sizeof(struct mg_l7_pool), RTE_CACHE_LINE_SIZE) +
	       ((size_t)n + n_workers) * size +
	       rte_ring_get_memsize_elem(sizeof(uint32_t), ring) +
	       DQ_HEADER_BYTES +
	       rte_ring_get_memsize_elem(
		       __RTE_QSBR_TOKEN_SIZE + sizeof(uint32_t), ring);
}

void
mg_l7_pool_free(struct mg_l7_pool *pool)
{
	if (pool == NULL)
		return;
	/* workers have stopped: whatever is deferred is free */
	if (pool->dq != NULL)
		rte_rcu_qsbr_dq_delete(pool->dq);
	rte_ring_free(pool->free);
	rte_free(pool->bufs);
	rte_free(pool);
}

uint32_t
mg_l7_pool_in_use(const struct mg_l7_pool *pool)
{
	return pool->n - rte_ring_count(pool->free);
}

static inline uint8_t *
pool_buf(const struct mg_l7_pool *pool, uint32_t idx)
{
	return pool->bufs + (size_t)idx * pool->size;
}

static inline uint8_t *
pool_work(const struct mg_l7_pool *pool, unsigned int worker)
{
	return pool_buf(pool, pool->n + worker);
}

/* A buffer index, or -1 when every one is taken. */
static int64_t
pool_get(struct mg_l7_pool *pool)
{
	uint32_t idx = 0;

	if (rte_ring_dequeue_elem(pool->free, &idx, sizeof(idx)) == 0)
		return idx;
	/* buffers of expired connections may be past their grace period */
	rte_rcu_qsbr_dq_reclaim(pool->dq, pool->n, NULL, NULL, NULL);
	if (rte_ring_dequeue_elem(pool->free, &idx, sizeof(idx)) == 0)
		return idx;
	return -1;
}

static inline void
pool_put(struct mg_l7_pool *pool, uint32_t idx)
{
	rte_ring_enqueue_elem(pool->free, &idx, sizeof(idx));
}

void
mg_l7_flow_init(struct mg_l7_pool *pool, struct mg_l7_flow *st,
		enum mg_l7_proto proto, uint32_t isn)
{
	uint32_t buf = __atomic_exchange_n(&st->buf, 0, __ATOMIC_RELAXED);

	if (buf != 0)
		pool_put(pool, buf - 1);
	memset(st, 0, sizeof(*st));
	st->proto = (uint8_t)proto;
	st->next_seq = isn + 1;
	st->phase = proto == MG_L7_NONE ? MG_L7_PHASE_PASS : MG_L7_PHASE_HEAD;
}

void
mg_l7_flow_release(struct mg_l7_pool *pool, struct mg_l7_flow *st)
{
	uint32_t buf = __atomic_exchange_n(&st->buf, 0, __ATOMIC_RELAXED);

	if (buf == 0)
		return;
	buf--;
	/* Cannot overflow: it holds at most every buffer. Should it fail
	 * anyway, the buffer is lost, never handed out twice. */
	rte_rcu_qsbr_dq_enqueue(pool->dq, &buf);
}

static inline void
release_now(struct mg_l7_pool *pool, struct mg_l7_flow *st)
{
	uint32_t buf = __atomic_exchange_n(&st->buf, 0, __ATOMIC_RELAXED);

	if (buf != 0)
		pool_put(pool, buf - 1);
	st->buf_len = 0;
}

/* ---- the client byte stream ---- */

static const enum mg_drop_reason parse_reason[] = {
	[MG_L7_ERR_NOT_HTTP] = MG_DROP_L7_NOT_HTTP,
	[MG_L7_ERR_BAD_REQUEST] = MG_DROP_L7_BAD_REQUEST,
	[MG_L7_ERR_NOT_TLS] = MG_DROP_L7_NOT_TLS,
	[MG_L7_ERR_BAD_HELLO] = MG_DROP_L7_BAD_HELLO,
};

/*
 * Parse a head at @p p and decide on it when complete.
 * Returns the head's length (> 0, allowed), 0 (incomplete prefix) or
 * -reason (refused or denied).
 */
static int
head(const struct mg_l7_ctx *c, struct mg_l7_flow *st,
     const struct l7_service *sv, unsigned int id, const uint8_t *p,
     uint32_t len)
{
	struct mg_http_head h;
	struct mg_tls_hello hello;
	enum mg_drop_reason why;
	int rc;

	if (st->proto == MG_L7_TLS) {
		rc = mg_tls_parse_client_hello(
			p, len, pool_work(c->pool, c->worker), &hello);
		if (rc <= 0)
			return rc < 0 ? -(int)parse_reason[-rc] : 0;
		why = decide_tls(c, sv, id, &hello);
		if (why != MG_DROP_NONE)
			return -(int)why;
		st->phase = MG_L7_PHASE_PASS;
		return rc;
	}
	rc = mg_http_parse_head(p, len, &h);
	if (rc <= 0)
		return rc < 0 ? -(int)parse_reason[-rc] : 0;
	why = decide_http(c, sv, id, &h, pool_work(c->pool, c->worker));
	if (why != MG_DROP_NONE)
		return -(int)why;
	if (h.upgrade.p != NULL) {
		/* Allowed as an upgrade: a rule's http.upgrade matched every
		 * protocol offered (decide()), which is what lets a 101
		 * pass the rest uninspected. The other protocol starts
		 * after the backend's 101; a body would be read as HTTP
		 * while we cannot tell. */
		if (h.body != MG_HTTP_BODY_NONE)
			return -MG_DROP_L7_BAD_REQUEST;
		st->phase = MG_L7_PHASE_UPGRADE;
	} else if (h.body == MG_HTTP_BODY_LENGTH && h.content_length != 0) {
		st->phase = MG_L7_PHASE_BODY;
		st->body_left = h.content_length;
	} else if (h.body == MG_HTTP_BODY_CHUNKED) {
		st->phase = MG_L7_PHASE_CHUNKED;
		st->body_left = 0;
		st->body_state = 0;
	}
	return rc;
}

/*
 * Bytes at the start of a head (or inside one held in a buffer): decide
 * when it completes, else hold it. Returns bytes consumed of @p p, or
 * -reason.
 */
static int
take_head(const struct mg_l7_ctx *c, struct mg_l7_flow *st,
	  const struct l7_service *sv, unsigned int id, const uint8_t *p,
	  uint32_t len)
{
	struct mg_l7_pool *pool = c->pool;
	uint32_t held = st->buf_len, add;
	uint8_t *buf;
	int64_t idx;
	int rc;

	if (st->buf == 0) {
		/* a head is never read past the limit, even from one
		 * large segment */
		rc = head(c, st, sv, id, p, RTE_MIN(len, pool->size));
		if (rc != 0)
			return rc;
		/* a valid prefix: hold it until the head completes */
		if (len >= pool->size)
			return -MG_DROP_L7_TOO_LARGE;
		idx = pool_get(pool);
		if (idx < 0)
			return -MG_DROP_L7_PENDING_FULL;
		memcpy(pool_buf(pool, (uint32_t)idx), p, len);
		st->buf_len = (uint16_t)len;
		__atomic_store_n(&st->buf, (uint32_t)idx + 1, __ATOMIC_RELAXED);
		return (int)len;
	}
	buf = pool_buf(pool, st->buf - 1);
	add = RTE_MIN(len, pool->size - held);
	memcpy(buf + held, p, add);
	/* An HTTP head ends with a line: a segment without a line end
	 * cannot complete it, and parsing the held bytes again for each
	 * tiny segment would cost quadratic time. */
	if (st->proto == MG_L7_HTTP && memchr(p, '\n', add) == NULL)
		rc = 0;
	else
		rc = head(c, st, sv, id, buf, held + add);
	if (rc == 0) {
		if (held + add >= pool->size)
			return -MG_DROP_L7_TOO_LARGE;
		st->buf_len = (uint16_t)(held + add);
		return (int)add;
	}
	release_now(pool, st);
	/* the held bytes were consumed by earlier calls */
	return rc < 0 ? rc : rc - (int)held;
}

enum mg_l7_action
mg_l7_input(const struct mg_l7_ctx *c, struct mg_l7_flow *st, uint16_t service,
	    uint16_t identity, uint32_t seq, const uint8_t *data, uint32_t len,
	    enum mg_drop_reason *why)
{
	const struct l7_service *sv;
	uint32_t off, n;
	bool done;
	int rc;

	if (st->phase == MG_L7_PHASE_DENIED) {
		*why = MG_DROP_L7_RESET;
		return MG_L7_RESET;
	}
	if (st->phase == MG_L7_PHASE_PASS || len == 0)
		return MG_L7_FORWARD;
	off = st->next_seq - seq;
	if ((int32_t)off < 0) {
		/* a gap before it could hide a head */
		*why = MG_DROP_L7_OUT_OF_ORDER;
		return MG_L7_DROP;
	}
	if (off >= len)
		return MG_L7_FORWARD; /* seen and inspected already */
	data += off;
	len -= off;
	/* a reload may have taken the service's rules away */
	if (service >= c->l7->n_services ||
	    c->l7->services[service].proto != st->proto) {
		st->phase = MG_L7_PHASE_PASS;
		return MG_L7_FORWARD;
	}
	sv = &c->l7->services[service];
	for (off = 0; off < len; off += n) {
		switch (st->phase) {
		case MG_L7_PHASE_BODY:
			n = (uint32_t)RTE_MIN((uint64_t)(len - off),
					      st->body_left);
			st->body_left -= n;
			if (st->body_left == 0)
				st->phase = MG_L7_PHASE_HEAD;
			break;
		case MG_L7_PHASE_CHUNKED:
			rc = mg_http_chunked(&st->body_left, &st->body_state,
					     data + off, len - off, &done);
			if (rc < 0)
				goto refuse_bad;
			n = (uint32_t)rc;
			if (done)
				st->phase = MG_L7_PHASE_HEAD;
			break;
		case MG_L7_PHASE_HEAD:
			rc = take_head(c, st, sv, identity, data + off,
				       len - off);
			if (rc < 0) {
				*why = (enum mg_drop_reason) - rc;
				goto refuse;
			}
			n = (uint32_t)rc;
			break;
		case MG_L7_PHASE_UPGRADE:
			/* nothing may come before the backend's answer */
			goto refuse_bad;
		default: /* PASS after a ClientHello: the rest is opaque */
			n = len - off;
			break;
		}
	}
	/* the new bytes started at next_seq */
	st->next_seq += len;
	return MG_L7_FORWARD;
refuse_bad:
	*why = MG_DROP_L7_BAD_REQUEST;
refuse:
	mg_l7_flow_reset(c->pool, st);
	return MG_L7_RESET;
}

void
mg_l7_flow_reset(struct mg_l7_pool *pool, struct mg_l7_flow *st)
{
	release_now(pool, st);
	st->phase = MG_L7_PHASE_DENIED;
}

void
mg_l7_response(struct mg_l7_flow *st, const uint8_t *data, uint32_t len)
{
	static const char status[] = "HTTP/1.1 101";

	if (len == 0)
		return;
	/* "HTTP/1.x 101": the version digit is either */
	if (len >= sizeof(status) - 1 && memcmp(data, status, 7) == 0 &&
	    memcmp(data + 8, status + 8, 4) == 0)
		st->phase = MG_L7_PHASE_PASS;
	else
		st->phase = MG_L7_PHASE_HEAD;
}

/*
 * mg_l7_input() on a segment's payload, one mbuf segment at a time (a
 * jumbo frame or a reassembled datagram is a chain). When a later piece
 * is refused the whole segment is, so the backend has none of it: the
 * reset toward it then starts at the segment's first byte.
 */
static enum mg_l7_action
l7_input_mbuf(const struct mg_l7_ctx *c, struct mg_l7_flow *st,
	      uint16_t service, uint16_t identity, const struct rte_mbuf *m,
	      const struct mg_pkt_info *info, uint32_t seq,
	      enum mg_drop_reason *why)
{
	uint32_t left = info->payload_len, off = info->payload_off, n;
	const struct rte_mbuf *seg = m;
	enum mg_l7_action act;

	if (likely(off + left <= m->data_len))
		return mg_l7_input(
			c, st, service, identity, seq,
			rte_pktmbuf_mtod_offset(m, const uint8_t *, off), left,
			why);
	act = mg_l7_input(c, st, service, identity, seq, NULL, 0, why);
	for (; act == MG_L7_FORWARD && left != 0 && seg != NULL;
	     seg = seg->next) {
		if (off >= seg->data_len) {
			off -= seg->data_len;
			continue;
		}
		n = RTE_MIN((uint32_t)seg->data_len - off, left);
		act = mg_l7_input(
			c, st, service, identity,
			seq + (info->payload_len - left),
			rte_pktmbuf_mtod_offset(seg, const uint8_t *, off), n,
			why);
		left -= n;
		off = 0;
	}
	if (act == MG_L7_RESET)
		st->next_seq = seq;
	return act;
}

enum mg_l7_action
mg_l7_client_segment(const struct mg_l7_ctx *c, struct mg_l7_flow *st,
		     uint16_t service, uint16_t identity,
		     const struct rte_mbuf *m, const struct mg_pkt_info *info,
		     enum mg_drop_reason *why)
{
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(
		m, const struct rte_tcp_hdr *, info->l4_off);
	struct mg_pkt_tcp_ts ts = { .present = false };
	enum mg_l7_action act;

	if (mg_l7_inspecting(st)) {
		if (info->payload_len == 0) {
			if (mg_pkt_tcp_timestamp(m, info, &ts))
				mg_l7_timestamp_seen(st, ts.val);
			return MG_L7_FORWARD;
		}
		*why = mg_pkt_tcp_strict(m, info, &ts);
		if (*why == MG_DROP_NONE &&
		    (!(info->tcp_flags & RTE_TCP_ACK_FLAG) ||
		     !mg_l7_ack_sent(st, rte_be_to_cpu_32(th->recv_ack))))
			*why = MG_DROP_L7_AMBIGUOUS;
		if (*why == MG_DROP_L7_AMBIGUOUS) {
			mg_l7_flow_reset(c->pool, st);
			return MG_L7_RESET;
		}
		if (*why == MG_DROP_NONE && ts.present &&
		    mg_l7_timestamp_stale(st, ts.val))
			*why = MG_DROP_L7_STALE_TIMESTAMP;
		if (*why != MG_DROP_NONE)
			return MG_L7_DROP;
	}
	act = l7_input_mbuf(c, st, service, identity, m, info,
			    rte_be_to_cpu_32(th->sent_seq), why);
	if (act == MG_L7_FORWARD && ts.present)
		mg_l7_timestamp_seen(st, ts.val);
	return act;
}

void
mg_l7_backend_segment(struct mg_l7_flow *st, const struct rte_mbuf *m,
		      const struct mg_pkt_info *info)
{
	/* SYN and FIN take one sequence number each */
	mg_l7_backend_sent(st,
			   rte_be_to_cpu_32(mg_pkt_tcp_hdr(m, info)->sent_seq) +
				   info->payload_len +
				   !!(info->tcp_flags &
				      (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)));
	if (unlikely(st->phase == MG_L7_PHASE_UPGRADE))
		mg_l7_response(
			st,
			rte_pktmbuf_mtod_offset(m, const uint8_t *,
						info->payload_off),
			RTE_MIN((uint32_t)info->payload_len,
				(uint32_t)(m->data_len - info->payload_off)));
}

void
mg_l7_flow_start(struct mg_l7_pool *pool, struct mg_l7_flow *st,
		 enum mg_l7_proto proto, const struct rte_mbuf *m,
		 const struct mg_pkt_info *info)
{
	struct mg_pkt_tcp_ts ts;

	mg_l7_flow_init(pool, st, proto,
			rte_be_to_cpu_32(mg_pkt_tcp_hdr(m, info)->sent_seq));
	if (mg_pkt_tcp_timestamp(m, info, &ts))
		mg_l7_timestamp_seen(st, ts.val);
}
