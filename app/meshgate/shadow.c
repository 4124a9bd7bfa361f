/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Shadow evaluation: a candidate ruleset decides each new connection and
 * each request beside the ruleset in force, never enforced. The
 * candidate is a second immutable ruleset behind an atomic pointer, freed
 * under the workers' RCU like the one in force. Per flow entry it keeps
 * the candidate's view (service, caller, its own layer-7 parser state in
 * its own buffer pool, so that it can never take a buffer the current
 * rules need); per worker, counts by kind and a ring of the last
 * disagreements, each written by that worker alone.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_telemetry.h>
#include <rte_tcp.h>

#include "meshgate.h"
#include "shadow.h"

/* The candidate's view of one flow entry, written by the worker that
 * admits the connection before it is published; then only the client
 * side's worker writes `active` and `requests`. Services, callers and
 * rules are ids (lib/ruleset's registry), which mean the same in every
 * ruleset, current or candidate, reloaded or not: each side maps them
 * through its ruleset in force, as the connection's own are. */
struct shadow_flow {
	uint16_t service;   /* the candidate's service id */
	uint16_t identity;  /* the candidate's identity id */
	uint16_t cur_rule;  /* current's layer-4 rule id */
	uint16_t cand_rule; /* candidate's layer-4 rule id */
	uint8_t active;	    /* the candidate allows the connection */
	uint8_t l7;	    /* the candidate's enum mg_l7_proto */
	uint8_t pad[2];
	uint32_t requests; /* decided so far, either side */
};

/* Series of meshgate_shadow_disagreements_total a worker keeps: (kind,
 * caller, service) in an open-addressed table; slot `kind` takes what
 * does not fit ("_overflow_"). */
#define SHADOW_SERIES 256
#define SHADOW_PROBES 8

struct shadow_series {
	uint64_t count;
	uint8_t used; /* stored with release once the names are written */
	uint8_t kind;
	char identity[MG_CONF_NAME_LEN];
	char service[MG_CONF_NAME_LEN];
};

/* One worker's disagreements: counts and the last `cap` records. The
 * worker is the only writer; `written` is stored with release after a
 * record is complete. A reader copies records below `written` and then
 * reads `written` again: a record the worker may have overwritten in
 * between (cap or fewer positions behind the new value) is discarded. */
struct shadow_log {
	uint64_t written;
	uint64_t connections;
	uint64_t kinds[MG_SHADOW_KINDS];
	uint32_t cap;
	struct mg_shadow_rec *recs;
	struct shadow_series series[SHADOW_SERIES];
} __rte_cache_aligned;

struct mg_shadow {
	struct mg_shadow_head head; /* first: see shadow.h */
	struct shadow_flow *flows;
	struct mg_l7_flow *l7_flows;
	struct mg_l7_pool *l7_pool;
	/* zeroed, no rule slots: the candidate counts no decision */
	struct mg_lcore_stats *no_stats;
	unsigned int n_workers;
	struct shadow_log *logs;
	uint64_t t0_tsc;
	struct timespec t0;
	char path[PATH_MAX];
};

/* Held by the telemetry thread while it reads the registered shadow
 * state (handle_shadow()), and by whoever changes its path. */
static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const kind_names[MG_SHADOW_KINDS] = {
	[MG_SHADOW_ALLOW_TO_DENY] = "allow_to_deny",
	[MG_SHADOW_DENY_TO_ALLOW] = "deny_to_allow",
	[MG_SHADOW_L7_ALLOW_TO_DENY] = "l7_allow_to_deny",
	[MG_SHADOW_L7_DENY_TO_ALLOW] = "l7_deny_to_allow",
	[MG_SHADOW_VERSION_CHANGED] = "version_changed",
	[MG_SHADOW_BACKEND_CHANGED] = "backend_changed",
	[MG_SHADOW_SERVICE_CHANGED] = "service_changed",
};

const char *
mg_shadow_kind_name(enum mg_shadow_kind k)
{
	return (unsigned int)k < MG_SHADOW_KINDS ? kind_names[k] : "invalid";
}

struct mg_shadow *
mg_shadow_create(uint32_t max_flows, unsigned int n_workers, uint32_t records,
		 uint32_t l7_pending, uint32_t l7_bytes,
		 struct rte_rcu_qsbr *qsv)
{
	struct mg_shadow *sh = calloc(1, sizeof(*sh));
	unsigned int i;

	if (sh == NULL)
		goto fail;
	sh->n_workers = n_workers;
	sh->flows = rte_zmalloc("mg_shadow_flows",
				(size_t)max_flows * sizeof(*sh->flows),
				RTE_CACHE_LINE_SIZE);
	sh->l7_flows = rte_zmalloc("mg_shadow_l7",
				   (size_t)max_flows * sizeof(*sh->l7_flows),
				   RTE_CACHE_LINE_SIZE);
	sh->no_stats = rte_zmalloc("mg_shadow_stats", sizeof(*sh->no_stats),
				   RTE_CACHE_LINE_SIZE);
	sh->logs = rte_zmalloc("mg_shadow_logs",
			       (size_t)n_workers * sizeof(*sh->logs),
			       RTE_CACHE_LINE_SIZE);
	sh->l7_pool = mg_l7_pool_create("mg_shadow_l7", l7_pending, l7_bytes,
					n_workers, (int)rte_socket_id(), qsv);
	if (sh->flows == NULL || sh->l7_flows == NULL || sh->no_stats == NULL ||
	    sh->logs == NULL || sh->l7_pool == NULL)
		goto fail;
	for (i = 0; i < n_workers; i++) {
		sh->logs[i].cap = records;
		/* the C heap: a replay's report may keep many */
		sh->logs[i].recs = calloc(RTE_MAX(records, 1u),
					  sizeof(struct mg_shadow_rec));
		if (sh->logs[i].recs == NULL)
			goto fail;
	}
	sh->t0_tsc = rte_rdtsc();
	clock_gettime(CLOCK_REALTIME, &sh->t0);
	return sh;
fail:
	MG_LOG(ERR, "cannot allocate the shadow state for %u connections",
	       max_flows);
	mg_shadow_free(sh);
	return NULL;
}

size_t
mg_shadow_memsize(uint32_t max_flows, unsigned int n_workers,
		  uint32_t l7_pending, uint32_t l7_bytes)
{
	return (size_t)max_flows * (sizeof(struct shadow_flow) +
				    sizeof(struct mg_l7_flow)) +
	       mg_l7_pool_memsize(l7_pending, l7_bytes, n_workers) +
	       n_workers * sizeof(struct shadow_log) +
	       sizeof(struct mg_lcore_stats);
}

void
mg_shadow_free(struct mg_shadow *sh)
{
	unsigned int i;

	if (sh == NULL)
		return;
	mg_shadow_publish(NULL);
	mg_ruleset_free(sh->head.rs);
	mg_l7_pool_free(sh->l7_pool);
	for (i = 0; sh->logs != NULL && i < sh->n_workers; i++)
		free(sh->logs[i].recs);
	rte_free(sh->logs);
	rte_free(sh->no_stats);
	rte_free(sh->l7_flows);
	rte_free(sh->flows);
	free(sh);
}

int
mg_shadow_set(struct mg_shadow *sh, const struct mg_conf *conf,
	      struct rte_rcu_qsbr *qsv, unsigned int qsbr_id)
{
	struct mg_ruleset *fresh = NULL, *old;
	struct mg_l7_stats l7;
	char err[512] = "";

	if (conf != NULL) {
		fresh = mg_ruleset_build_shadow(conf, (int)rte_socket_id(),
						sh->n_workers, err,
						sizeof(err));
		if (fresh == NULL) {
			MG_LOG(ERR, "%s: cannot build the shadow ruleset: %s",
			       conf->path,
			       err[0] != '\0' ? err : rte_strerror(rte_errno));
			return -1;
		}
	}
	/* before the ruleset: a worker that sees the new one may skip a
	 * segment for a moment, never read rules that are gone */
	if (fresh != NULL) {
		mg_l7_get_stats(mg_ruleset_l7(fresh), &l7);
		__atomic_store_n(&sh->head.any_l7,
				 (uint8_t)(l7.n_services != 0),
				 __ATOMIC_RELAXED);
	}
	old = __atomic_exchange_n(&sh->head.rs, fresh, __ATOMIC_ACQ_REL);
	/* /meshgate/shadow reads it on the telemetry thread */
	pthread_mutex_lock(&registered_lock);
	snprintf(sh->path, sizeof(sh->path), "%s",
		 conf != NULL ? conf->path : "");
	pthread_mutex_unlock(&registered_lock);
	if (old != NULL) {
		rte_rcu_qsbr_synchronize(qsv, qsbr_id);
		MG_TSAN_ACQUIRE(qsv); /* the workers' quiescent reports */
		mg_ruleset_free(old);
	}
	return 0;
}

const char *
mg_shadow_path(const struct mg_shadow *sh)
{
	return sh->path;
}

void
mg_shadow_classify(struct mg_worker *w, const struct mg_5tuple *t,
		   uint32_t hash, struct mg_shadow_pick *p)
{
	p->rs = __atomic_load_n(&w->shadow->head.rs, __ATOMIC_ACQUIRE);
	p->service = p->rs != NULL &&
		     mg_ruleset_classify(p->rs, t, hash, w->now, &p->d);
}

/* A side's decision on a new connection, by name; @p d NULL: no service. */
static void
side_l4(struct mg_shadow_side *s, const struct mg_ruleset *rs,
	const struct mg_decision *d)
{
	memset(s, 0, sizeof(*s));
	if (d == NULL) {
		snprintf(s->reason, sizeof(s->reason), "%s",
			 mg_drop_reason_name(MG_DROP_NO_SERVICE));
		return;
	}
	snprintf(s->service, sizeof(s->service), "%s",
		 mg_ruleset_service_name(rs, d->service));
	snprintf(s->rule, sizeof(s->rule), "%s",
		 mg_ruleset_rule_name(rs, d->rule));
	s->allow = d->verdict != MG_VERDICT_DENY;
	if (!s->allow) {
		snprintf(s->reason, sizeof(s->reason), "%s",
			 mg_drop_reason_name(MG_DROP_POLICY_DENY));
		return;
	}
	snprintf(s->version, sizeof(s->version), "%s",
		 mg_ruleset_version_name(rs, d->service, d->version));
	s->backend = d->backend_addr;
	s->backend_port = rte_be_to_cpu_16(d->backend_port);
}

/* Count one disagreement of @p kind in its series. */
static void
count_series(struct shadow_log *lg, unsigned int kind, const char *identity,
	     const char *service)
{
	uint32_t h = rte_hash_crc(identity, strlen(identity), kind);
	struct shadow_series *e = NULL;
	unsigned int i, at;

	h = rte_hash_crc(service, strlen(service), h);
	for (i = 0; i < SHADOW_PROBES && e == NULL; i++) {
		at = MG_SHADOW_KINDS +
		     (h + i) % (SHADOW_SERIES - MG_SHADOW_KINDS);
		if (!lg->series[at].used) {
			e = &lg->series[at];
			e->kind = (uint8_t)kind;
			snprintf(e->identity, sizeof(e->identity), "%s",
				 identity);
			snprintf(e->service, sizeof(e->service), "%s", service);
			__atomic_store_n(&e->used, 1, __ATOMIC_RELEASE);
		} else if (lg->series[at].kind == kind &&
			   strcmp(lg->series[at].identity, identity) == 0 &&
			   strcmp(lg->series[at].service, service) == 0) {
			e = &lg->series[at];
		}
	}
	if (e == NULL) {
		e = &lg->series[kind];
		if (!e->used) {
			e->kind = (uint8_t)kind;
			snprintf(e->identity, sizeof(e->identity),
				 "_overflow_");
			snprintf(e->service, sizeof(e->service), "_overflow_");
			__atomic_store_n(&e->used, 1, __ATOMIC_RELEASE);
		}
	}
	__atomic_store_n(&e->count, e->count + 1, __ATOMIC_RELAXED);
}

static void
record(struct mg_worker *w, const struct mg_5tuple *t, uint32_t request,
       uint16_t kinds, const char *identity, const struct mg_shadow_side *c,
       const struct mg_shadow_side *k)
{
	struct shadow_log *lg = &w->shadow->logs[w->rank];
	struct mg_shadow_rec *r;
	unsigned int i;

	for (i = 0; i < MG_SHADOW_KINDS; i++)
		if (kinds & (1u << i)) {
			__atomic_store_n(&lg->kinds[i], lg->kinds[i] + 1,
					 __ATOMIC_RELAXED);
			count_series(lg, i, identity,
				     c->service[0] != '\0' ? c->service
							   : k->service);
		}
	if (lg->cap == 0)
		return;
	r = &lg->recs[lg->written % lg->cap];
	r->tsc = w->now;
	r->tuple = *t;
	r->request = request;
	r->kinds = kinds;
	snprintf(r->identity, sizeof(r->identity), "%s", identity);
	r->cur = *c;
	r->cand = *k;
	__atomic_store_n(&lg->written, lg->written + 1, __ATOMIC_RELEASE);
}

void
mg_shadow_admitted(struct mg_worker *w, const struct mg_ruleset *rs,
		   const struct mg_5tuple *t, const struct mg_decision *d,
		   const struct mg_shadow_pick *p, struct mg_flow *f,
		   const struct rte_mbuf *m, const struct mg_pkt_info *info)
{
	struct mg_shadow *sh = w->shadow;
	struct shadow_log *lg = &sh->logs[w->rank];
	struct mg_shadow_side c, k;
	struct shadow_flow *sf;
	uint16_t kinds = 0;
	const char *identity;

	if (f != NULL) {
		sf = &sh->flows[f->index];
		sf->active = 0;
		sf->l7 = MG_L7_NONE;
		sf->requests = 0;
	}
	if (p->rs == NULL || (d == NULL && !p->service))
		return;
	side_l4(&c, rs, d);
	side_l4(&k, p->rs, p->service ? &p->d : NULL);
	identity = d != NULL ? mg_ruleset_identity_name(rs, d->identity)
			     : mg_ruleset_identity_name(p->rs, p->d.identity);
	if (strcmp(c.service, k.service) != 0)
		kinds |= 1u << MG_SHADOW_SERVICE_CHANGED;
	if (c.allow && !k.allow)
		kinds |= 1u << MG_SHADOW_ALLOW_TO_DENY;
	else if (!c.allow && k.allow)
		kinds |= 1u << MG_SHADOW_DENY_TO_ALLOW;
	else if (c.allow && kinds == 0) {
		if (strcmp(c.version, k.version) != 0)
			kinds |= 1u << MG_SHADOW_VERSION_CHANGED;
		else if (c.backend_port != k.backend_port ||
			 memcmp(&c.backend, &k.backend, sizeof(c.backend)) != 0)
			kinds |= 1u << MG_SHADOW_BACKEND_CHANGED;
	}
	__atomic_store_n(&lg->connections, lg->connections + 1,
			 __ATOMIC_RELAXED);
	if (kinds != 0)
		record(w, t, 0, kinds, identity, &c, &k);
	if (f == NULL || !k.allow)
		return;
	sf->service = p->d.service_id;
	sf->identity = p->d.identity_id;
	sf->cur_rule = mg_ruleset_rule_id(rs, d->rule);
	sf->cand_rule = mg_ruleset_rule_id(p->rs, p->d.rule);
	sf->active = 1;
	if (t->proto != IPPROTO_TCP)
		return;
	sf->l7 = (uint8_t)mg_l7_service_proto(mg_ruleset_l7(p->rs),
					      p->d.service);
	if (sf->l7 != MG_L7_NONE)
		mg_l7_flow_start(sh->l7_pool, &sh->l7_flows[f->index],
				 (enum mg_l7_proto)sf->l7, m, info);
}

void
mg_shadow_flow_gone(struct mg_worker *w, const struct mg_flow *f)
{
	struct shadow_flow *sf = &w->shadow->flows[f->index];

	if (sf->l7 != MG_L7_NONE)
		mg_l7_flow_release(w->shadow->l7_pool,
				   &w->shadow->l7_flows[f->index]);
}

/* A side's verdict on a request: by its layer-7 rules, or (none for the
 * service) by the connection's layer-4 rule; names as @p rs has them
 * (none for a service or rule it no longer has). */
static void
side_l7(struct mg_shadow_side *s, const struct mg_ruleset *rs,
	uint16_t service_id, bool inspects, const struct mg_shadow_l7 *r,
	uint16_t l4_rule_id)
{
	uint16_t service = mg_ruleset_service_of_id(rs, service_id);
	const char *l4_rule = mg_ruleset_rule_name_of_id(rs, l4_rule_id);

	memset(s, 0, sizeof(*s));
	if (service != MG_RULESET_NONE)
		snprintf(s->service, sizeof(s->service), "%s",
			 mg_ruleset_service_name(rs, service));
	s->allow = !inspects || r->act != MG_L7_RESET;
	if (inspects && r->trace.decided > 0)
		snprintf(s->rule, sizeof(s->rule), "%s",
			 mg_ruleset_rule_name_of_slot(rs, r->trace.slot));
	else if (!inspects && l4_rule != NULL)
		snprintf(s->rule, sizeof(s->rule), "%s", l4_rule);
	if (!s->allow)
		snprintf(s->reason, sizeof(s->reason), "%s",
			 mg_drop_reason_name(r->why));
}

bool
mg_shadow_segment(struct mg_worker *w, const struct mg_ruleset *rs,
		  struct rte_mbuf *m, const struct mg_pkt_info *info,
		  struct mg_flow *f, uint8_t dir, bool cur_needs,
		  mg_shadow_inspect_fn inspect)
{
	struct mg_shadow *sh = w->shadow;
	struct shadow_flow *sf = &sh->flows[f->index];
	const struct mg_ruleset *cand =
		__atomic_load_n(&sh->head.rs, __ATOMIC_ACQUIRE);
	struct mg_l7_flow *st = &sh->l7_flows[f->index];
	struct mg_shadow_l7 cr = { .act = MG_L7_FORWARD };
	struct mg_shadow_l7 kr = { .act = MG_L7_FORWARD };
	struct mg_l7_ctx kc;
	struct mg_shadow_side c, k;
	bool cand_l7, cur_l7, cur_dec, cand_dec, consumed;
	enum mg_drop_reason why = MG_DROP_NONE;
	uint32_t n;

	/* a candidate reloaded since admission decides by its own rules
	 * for the connection's service and caller, by name (ids) */
	if (!sf->active || cand == NULL)
		return cur_needs && inspect(w, rs, m, info, f, dir, NULL);
	cand_l7 = sf->l7 != MG_L7_NONE;
	if (cand_l7 && dir == MG_FLOW_DIR_REV &&
	    (info->payload_len != 0 ||
	     (info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG))))
		mg_l7_backend_segment(st, m, info);
	if (dir == MG_FLOW_DIR_REV)
		return cur_needs && inspect(w, rs, m, info, f, dir, NULL);
	if (cand_l7) {
		kc = (struct mg_l7_ctx){
			.l7 = mg_ruleset_l7(cand),
			.pool = sh->l7_pool,
			.stats = sh->no_stats,
			.worker = w->rank,
			.trace = &kr.trace,
		};
		kr.act = (uint8_t)mg_l7_client_segment(
			&kc, st, mg_ruleset_service_of_id(cand, sf->service),
			mg_ruleset_identity_of_id(cand, sf->identity), m, info,
			&why);
		kr.why = (uint8_t)why;
	}
	cur_l7 = f->l7 != MG_L7_NONE;
	consumed = cur_needs && inspect(w, rs, m, info, f, dir, &cr);
	if (info->payload_len == 0)
		return consumed;
	cur_dec = cur_l7 && (cr.trace.decided > 0 || cr.act == MG_L7_RESET);
	cand_dec = cand_l7 && (kr.trace.decided > 0 || kr.act == MG_L7_RESET);
	/* a side with rules that decided nothing here (a head still
	 * incomplete) cannot be compared; one without rules allows */
	if ((!cur_dec && !cand_dec) || (cur_l7 && !cur_dec) ||
	    (cand_l7 && !cand_dec))
		goto out;
	n = RTE_MAX(RTE_MAX(cr.trace.decided, kr.trace.decided), 1u);
	sf->requests += n;
	if ((cr.act == MG_L7_RESET) == (kr.act == MG_L7_RESET))
		goto out;
	side_l7(&c, rs, f->service_id, cur_l7, &cr, sf->cur_rule);
	side_l7(&k, cand, sf->service, cand_l7, &kr, sf->cand_rule);
	record(w, &f->key[MG_FLOW_DIR_FWD], sf->requests,
	       1u << (c.allow ? MG_SHADOW_L7_ALLOW_TO_DENY
			      : MG_SHADOW_L7_DENY_TO_ALLOW),
	       mg_ruleset_identity_name(
		       rs, mg_ruleset_identity_of_id(rs, f->identity_id)),
	       &c, &k);
out:
	/* a reset ends the connection on that side: nothing to compare */
	if (kr.act == MG_L7_RESET || cr.act == MG_L7_RESET)
		sf->active = 0;
	return consumed;
}

void
mg_shadow_totals(const struct mg_shadow *sh, uint64_t *connections,
		 uint64_t kinds[MG_SHADOW_KINDS])
{
	unsigned int i, k;

	*connections = 0;
	memset(kinds, 0, MG_SHADOW_KINDS * sizeof(kinds[0]));
	for (i = 0; i < sh->n_workers; i++) {
		*connections += __atomic_load_n(&sh->logs[i].connections,
						__ATOMIC_RELAXED);
		for (k = 0; k < MG_SHADOW_KINDS; k++)
			kinds[k] += __atomic_load_n(&sh->logs[i].kinds[k],
						    __ATOMIC_RELAXED);
	}
}

static void
json_addr(FILE *o, const struct mg_addr *a, uint16_t port)
{
	char buf[INET6_ADDRSTRLEN];

	mg_addr_format(a, buf, sizeof(buf));
	if (port == 0)
		fprintf(o, "\"%s\"", buf);
	else if (a->family == 6)
		fprintf(o, "\"[%s]:%u\"", buf, port);
	else
		fprintf(o, "\"%s:%u\"", buf, port);
}

static void
json_side(FILE *o, const struct mg_shadow_side *s)
{
	fprintf(o, "{\"verdict\": \"%s\"", s->allow ? "allow" : "deny");
	if (s->rule[0] != '\0')
		fprintf(o, ", \"rule\": \"%s\"", s->rule);
	if (s->reason[0] != '\0')
		fprintf(o, ", \"reason\": \"%s\"", s->reason);
	fprintf(o, ", \"service\": %s%s%s", s->service[0] ? "\"" : "",
		s->service[0] ? s->service : "null", s->service[0] ? "\"" : "");
	if (s->version[0] != '\0')
		fprintf(o, ", \"version\": \"%s\"", s->version);
	if (s->backend.family != 0) {
		fprintf(o, ", \"backend\": ");
		json_addr(o, &s->backend, s->backend_port);
	}
	fprintf(o, "}");
}

/* Wall-clock time of TSC @p tsc, as ISO 8601 UTC with microseconds. */
static void
json_time(FILE *o, const struct mg_shadow *sh, uint64_t tsc)
{
	uint64_t us = (tsc - sh->t0_tsc) * 1000000 / rte_get_tsc_hz() +
		      (uint64_t)sh->t0.tv_nsec / 1000;
	time_t s = sh->t0.tv_sec + (time_t)(us / 1000000);
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(o, "\"%s.%06" PRIu64 "Z\"", buf, us % 1000000);
}

/** Write one record as a JSON object (no newline). */
void
mg_shadow_rec_json(FILE *o, const struct mg_shadow *sh,
		   const struct mg_shadow_rec *r)
{
	struct mg_addr a = { .family = r->tuple.family };
	const char *sep = "";
	unsigned int i;

	fprintf(o, "{\"time\": ");
	json_time(o, sh, r->tsc);
	fprintf(o, ", \"kinds\": [");
	for (i = 0; i < MG_SHADOW_KINDS; i++)
		if (r->kinds & (1u << i)) {
			fprintf(o, "%s\"%s\"", sep, kind_names[i]);
			sep = ", ";
		}
	fprintf(o, "], \"proto\": \"%s\", \"src\": ",
		r->tuple.proto == IPPROTO_TCP ? "tcp" : "udp");
	memcpy(a.bytes, r->tuple.src, 16);
	json_addr(o, &a, rte_be_to_cpu_16(r->tuple.sport));
	fprintf(o, ", \"dst\": ");
	memcpy(a.bytes, r->tuple.dst, 16);
	json_addr(o, &a, rte_be_to_cpu_16(r->tuple.dport));
	fprintf(o, ", \"identity\": \"%s\"", r->identity);
	if (r->request != 0)
		fprintf(o, ", \"request\": %u", r->request);
	fprintf(o, ", \"current\": ");
	json_side(o, &r->cur);
	fprintf(o, ", \"candidate\": ");
	json_side(o, &r->cand);
	fprintf(o, "}");
}

static int
by_time_rec(const void *a, const void *b)
{
	const struct mg_shadow_rec *x = a, *y = b;

	return x->tsc < y->tsc ? -1 : x->tsc > y->tsc;
}

/* by_time_rec() of the records two pointers point to */
static int
by_time(const void *a, const void *b)
{
	return by_time_rec(*(const struct mg_shadow_rec *const *)a,
			   *(const struct mg_shadow_rec *const *)b);
}

int
mg_shadow_report(const struct mg_shadow *sh, const char *path)
{
	uint64_t connections, kinds[MG_SHADOW_KINDS], omitted = 0, n = 0;
	const struct mg_shadow_rec **all;
	const struct shadow_log *lg;
	unsigned int i, k;
	uint64_t j, first;
	FILE *o;
	int rc = 0;

	for (i = 0; i < sh->n_workers; i++)
		n += RTE_MIN(sh->logs[i].written, (uint64_t)sh->logs[i].cap);
	all = calloc(RTE_MAX(n, (uint64_t)1), sizeof(*all));
	o = fopen(path, "w");
	if (all == NULL || o == NULL) {
		rc = all == NULL ? -ENOMEM : -errno;
		MG_LOG(ERR, "cannot write %s: %s", path, strerror(-rc));
		free(all);
		if (o != NULL)
			fclose(o);
		return rc;
	}
	n = 0;
	for (i = 0; i < sh->n_workers; i++) {
		lg = &sh->logs[i];
		first = lg->written > lg->cap ? lg->written - lg->cap : 0;
		omitted += first;
		for (j = first; j < lg->written; j++)
			all[n++] = &lg->recs[j % lg->cap];
	}
	qsort(all, n, sizeof(*all), by_time);
	fprintf(o, "{\"candidate\": \"%s\",\n \"disagreements\": [", sh->path);
	for (j = 0; j < n; j++) {
		fprintf(o, "%s\n  ", j == 0 ? "" : ",");
		mg_shadow_rec_json(o, sh, all[j]);
	}
	mg_shadow_totals(sh, &connections, kinds);
	fprintf(o,
		"%s],\n \"omitted\": %" PRIu64 ",\n \"summary\": "
		"{\"connections\": %" PRIu64,
		n == 0 ? "" : "\n ", omitted, connections);
	for (k = 0; k < MG_SHADOW_KINDS; k++)
		fprintf(o, ", \"%s\": %" PRIu64, kind_names[k], kinds[k]);
	fprintf(o, "}}\n");
	free(all);
	if (fclose(o) != 0) {
		rc = -errno;
		MG_LOG(ERR, "cannot write %s: %s", path, strerror(errno));
	}
	return rc;
}

/* ---- telemetry: meshgate_shadow_disagreements_total, /meshgate/shadow */

/* The shadow state telemetry reads, set while it exists (the lock is
 * declared at the top). */
static struct mg_shadow *registered;

struct series_sum {
	uint8_t kind;
	const char *identity, *service;
	uint64_t count;
};

/* Every worker's series, summed by (kind, caller, service). Runs under
 * lib/telemetry's read lock; mg_shadow_free() unregisters first. */
static int
shadow_series(void *arg, mg_telemetry_shadow_emit emit, void *ctx)
{
	const struct mg_shadow *sh = arg;
	const struct shadow_series *e;
	struct series_sum *all;
	unsigned int i, j, k, n = 0;
	int rc = 0;

	all = calloc((size_t)sh->n_workers * SHADOW_SERIES, sizeof(*all));
	if (all == NULL)
		return -ENOMEM;
	for (i = 0; i < sh->n_workers; i++)
		for (j = 0; j < SHADOW_SERIES; j++) {
			e = &sh->logs[i].series[j];
			if (!__atomic_load_n(&e->used, __ATOMIC_ACQUIRE))
				continue;
			for (k = 0; k < n; k++)
				if (all[k].kind == e->kind &&
				    strcmp(all[k].identity, e->identity) == 0 &&
				    strcmp(all[k].service, e->service) == 0)
					break;
			if (k == n) {
				all[n].kind = e->kind;
				all[n].identity = e->identity;
				all[n++].service = e->service;
			}
			all[k].count +=
				__atomic_load_n(&e->count, __ATOMIC_RELAXED);
		}
	for (k = 0; k < n && rc == 0; k++)
		rc = emit(ctx, &(const struct mg_telemetry_shadow){
				       .kind = kind_names[all[k].kind],
				       .identity = all[k].identity,
				       .service = all[k].service,
				       .count = all[k].count,
			       });
	free(all);
	return rc;
}

/* One side as a line: "allow by rule (service version backend)". */
static void
side_text(const struct mg_shadow_side *s, char *buf, size_t len)
{
	char be[INET6_ADDRSTRLEN] = "";
	int n;

	if (s->backend.family != 0)
		mg_addr_format(&s->backend, be, sizeof(be));
	n = snprintf(buf, len, "%s%s%s%s%s service=%s%s%s%s%s",
		     s->allow ? "allow" : "deny", s->rule[0] ? " rule=" : "",
		     s->rule, s->reason[0] ? " reason=" : "", s->reason,
		     s->service[0] ? s->service : "-",
		     s->version[0] ? " version=" : "", s->version,
		     be[0] ? " backend=" : "", be);
	if (n < 0 || (size_t)n >= len) /* cut to what the caller holds */
		buf[len - 1] = '\0';
}

static void
tuple_text(const struct mg_5tuple *t, bool src, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(t->family == 6 ? AF_INET6 : AF_INET, src ? t->src : t->dst, a,
		  sizeof(a));
	snprintf(buf, len, t->family == 6 ? "[%s]:%u" : "%s:%u", a,
		 rte_be_to_cpu_16(src ? t->sport : t->dport));
}

/* The last records of every worker, newest last; @p max at most. */
static unsigned int
recent(const struct mg_shadow *sh, struct mg_shadow_rec *out, unsigned int max)
{
	const struct shadow_log *lg;
	unsigned int i, n = 0, got, keep, j;
	uint64_t w0, w1, first, p;

	for (i = 0; i < sh->n_workers && sh->logs[i].cap != 0; i++) {
		lg = &sh->logs[i];
		w0 = __atomic_load_n(&lg->written, __ATOMIC_ACQUIRE);
		first = w0 > max ? w0 - max : 0;
		if (w0 - first > lg->cap)
			first = w0 - lg->cap;
		got = 0;
		for (p = first; p < w0 && n + got < 2 * max; p++)
			out[n + got++] = lg->recs[p % lg->cap];
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		w1 = __atomic_load_n(&lg->written, __ATOMIC_RELAXED);
		/* positions the worker may have rewritten meanwhile */
		keep = 0;
		for (j = 0; j < got; j++)
			if (first + j + lg->cap > w1)
				out[n + keep++] = out[n + j];
		n += keep;
	}
	qsort(out, n, sizeof(*out), by_time_rec);
	if (n > max) {
		memmove(out, out + (n - max), max * sizeof(*out));
		n = max;
	}
	return n;
}

#define SHADOW_TEL_RECENT 10

static int
handle_shadow(const char *cmd __rte_unused, const char *params,
	      struct rte_tel_data *d)
{
	uint64_t connections, kinds[MG_SHADOW_KINDS];
	struct mg_shadow_rec *recs;
	struct rte_tel_data *r;
	char key[24], buf[RTE_TEL_MAX_STRING_LEN];
	unsigned int i, k, n;
	const char *sep;

	if (params != NULL && params[0] != '\0')
		return -EINVAL;
	recs = calloc(2 * SHADOW_TEL_RECENT * RTE_MAX_LCORE, sizeof(*recs));
	if (recs == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&registered_lock);
	if (registered == NULL ||
	    __atomic_load_n(&registered->head.rs, __ATOMIC_ACQUIRE) == NULL) {
		rte_tel_data_add_dict_string(d, "candidate", "");
		pthread_mutex_unlock(&registered_lock);
		free(recs);
		return 0;
	}
	/* a long path is cut to what a telemetry string holds */
	if (snprintf(buf, sizeof(buf), "%s", registered->path) >=
	    (int)sizeof(buf))
		buf[sizeof(buf) - 1] = '\0';
	rte_tel_data_add_dict_string(d, "candidate", buf);
	mg_shadow_totals(registered, &connections, kinds);
	rte_tel_data_add_dict_u64(d, "connections", connections);
	for (k = 0; k < MG_SHADOW_KINDS; k++)
		rte_tel_data_add_dict_u64(d, kind_names[k], kinds[k]);
	n = recent(registered, recs, SHADOW_TEL_RECENT);
	for (i = 0; i < n; i++) {
		r = rte_tel_data_alloc();
		if (r == NULL)
			break;
		rte_tel_data_start_dict(r);
		buf[0] = '\0';
		for (k = 0, sep = ""; k < MG_SHADOW_KINDS; k++)
			if (recs[i].kinds & (1u << k)) {
				strncat(buf, sep,
					sizeof(buf) - strlen(buf) - 1);
				strncat(buf, kind_names[k],
					sizeof(buf) - strlen(buf) - 1);
				sep = ",";
			}
		rte_tel_data_add_dict_string(r, "kinds", buf);
		tuple_text(&recs[i].tuple, true, buf, sizeof(buf));
		rte_tel_data_add_dict_string(r, "src", buf);
		tuple_text(&recs[i].tuple, false, buf, sizeof(buf));
		rte_tel_data_add_dict_string(r, "dst", buf);
		rte_tel_data_add_dict_string(
			r, "proto",
			recs[i].tuple.proto == IPPROTO_TCP ? "tcp" : "udp");
		rte_tel_data_add_dict_string(r, "identity", recs[i].identity);
		rte_tel_data_add_dict_u64(r, "request", recs[i].request);
		side_text(&recs[i].cur, buf, sizeof(buf));
		rte_tel_data_add_dict_string(r, "current", buf);
		side_text(&recs[i].cand, buf, sizeof(buf));
		rte_tel_data_add_dict_string(r, "candidate", buf);
		snprintf(key, sizeof(key), "recent_%u", i);
		rte_tel_data_add_dict_container(d, key, r, 0);
	}
	pthread_mutex_unlock(&registered_lock);
	free(recs);
	return 0;
}

/* help strings: fewer than RTE_TEL_MAX_STRING_LEN characters */
RTE_INIT(shadow_telemetry)
{
	rte_telemetry_register_cmd(
		"/meshgate/shadow", handle_shadow,
		"Shadow config: candidate, connections, disagreements by "
		"kind, the last ones (recent_N). No parameters.");
}

void
mg_shadow_publish(struct mg_shadow *sh)
{
	pthread_mutex_lock(&registered_lock);
	registered = sh;
	pthread_mutex_unlock(&registered_lock);
	mg_telemetry_set_shadow_fn(sh != NULL ? shadow_series : NULL, sh);
}
