/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The /meshgate/ DPDK telemetry commands. Replies are dicts of at most
 * RTE_TEL_MAX_DICT_ENTRIES entries, nested one level (a dict of dicts of
 * basic values). Dict keys may only hold [A-Za-z0-9_/]: names are keyed
 * with other characters replaced by '_', and carried whole as a string
 * value beside the figures.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_telemetry.h>

#include "tel_private.h"

#define KEY_LEN 64

static void
add_totals(struct rte_tel_data *d, const struct mg_stats_sum *s)
{
	rte_tel_data_add_dict_u64(d, "rx", s->rx);
	rte_tel_data_add_dict_u64(d, "tx", s->tx);
	rte_tel_data_add_dict_u64(d, "drops_total", s->drops_total);
	rte_tel_data_add_dict_u64(d, "busy_polls", s->busy_polls);
	rte_tel_data_add_dict_u64(d, "idle_polls", s->idle_polls);
	rte_tel_data_add_dict_u64(d, "busy_cycles", s->busy_cycles);
	rte_tel_data_add_dict_u64(d, "local", s->local);
	rte_tel_data_add_dict_u64(d, "flows_created", s->flows_created);
	rte_tel_data_add_dict_u64(d, "dry_run_denied", s->dry_run_denied);
	rte_tel_data_add_dict_u64(d, "neigh_conflicts", s->neigh_conflicts);
	rte_tel_data_add_dict_u64(d, "idle_wait_cycles", s->idle_wait_cycles);
	rte_tel_data_add_dict_u64(d, "stall_max_us",
				  s->stall_max_cycles * 1000000 /
					  rte_get_tsc_hz());
	rte_tel_data_add_dict_u64(d, "reload_stall_max_us",
				  s->reload_stall_max_cycles * 1000000 /
					  rte_get_tsc_hz());
	rte_tel_data_add_dict_u64(d, "deny_replies", s->deny_replies);
	rte_tel_data_add_dict_u64(d, "deny_replies_suppressed",
				  s->deny_replies_suppressed);
}

static void
add_drops(struct rte_tel_data *d, const struct mg_stats_sum *s)
{
	unsigned int r;

	for (r = 1; r < mg_drop_reason_end(); r++)
		rte_tel_data_add_dict_u64(d, mg_drop_reason_name(r),
					  s->drops[r]);
}

static bool
no_params(const char *params)
{
	return params == NULL || *params == '\0';
}

/* Adds @p c under @p key, or frees it: the library keeps a container only
 * when it accepts it. */
static void
add_container(struct rte_tel_data *d, const char *key, struct rte_tel_data *c)
{
	if (rte_tel_data_add_dict_container(d, key, c, 0) != 0)
		rte_tel_data_free(c);
}

static struct rte_tel_data *
new_dict(void)
{
	struct rte_tel_data *d = rte_tel_data_alloc();

	if (d != NULL)
		rte_tel_data_start_dict(d);
	return d;
}

static int
handle_drops(const char *cmd __rte_unused, const char *params,
	     struct rte_tel_data *d)
{
	struct mg_stats_sum s;

	if (!no_params(params))
		return -EINVAL;
	mg_telemetry_sum(&s);
	rte_tel_data_start_dict(d);
	add_drops(d, &s);
	return 0;
}

static int
handle_stats(const char *cmd __rte_unused, const char *params,
	     struct rte_tel_data *d)
{
	struct rte_tel_data *drops;
	struct mg_stats_sum s;

	if (!no_params(params))
		return -EINVAL;
	drops = new_dict();
	if (drops == NULL)
		return -ENOMEM;
	mg_telemetry_sum(&s);
	rte_tel_data_start_dict(d);
	add_totals(d, &s);
	add_drops(drops, &s);
	add_container(d, "drops", drops);
	return 0;
}

static int
handle_lcores(const char *cmd __rte_unused, const char *params,
	      struct rte_tel_data *d)
{
	uint64_t now = rte_rdtsc();
	unsigned int i;

	if (!no_params(params))
		return -EINVAL;
	rte_tel_data_start_dict(d);
	for (i = 0; i < RTE_MAX_LCORE; i++) {
		const struct mg_lcore_stats *st = tel_lcore(i);
		struct rte_tel_data *l;
		struct mg_stats_sum s;
		char name[16];

		if (st == NULL)
			continue;
		l = new_dict();
		if (l == NULL)
			return -ENOMEM;
		mg_telemetry_lcore_read(i, &s);
		rte_tel_data_add_dict_string(
			l, "role",
			mg_lcore_role_name(mg_telemetry_lcore_role(i)));
		add_totals(l, &s);
		/* busy ratio = busy_cycles / elapsed_cycles */
		rte_tel_data_add_dict_u64(l, "elapsed_cycles",
					  now - st->claim_tsc);
		snprintf(name, sizeof(name), "%u", i);
		add_container(d, name, l);
	}
	return 0;
}

/* Whether a string can go into the JSON reply as it is (22.11 does not
 * escape string values). */
static bool
json_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* "a" or "a/b", characters a dict key may not hold replaced by '_'. */
static void
make_key(char *key, const char *a, const char *b)
{
	size_t n;
	char *p;

	if (b != NULL)
		snprintf(key, KEY_LEN, "%s/%s", a, b);
	else
		snprintf(key, KEY_LEN, "%s", a);
	n = b != NULL ? strlen(a) : SIZE_MAX;
	for (p = key; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' ||
		      (*p == '/' && (size_t)(p - key) == n)))
			*p = '_';
}

static void
add_name(struct rte_tel_data *d, const char *key, const char *name)
{
	if (json_safe(name))
		rte_tel_data_add_dict_string(d, key, name);
}

/* Traffic of some label sets added together. */
struct agg {
	struct mg_tel_set_sum s;
	bool seen;
};

static void
agg_add(struct agg *a, const struct mg_tel_set_sum *s)
{
	tel_set_add(&a->s, s);
	a->seen = true;
}

static bool
agg_active(const struct agg *a)
{
	return tel_set_active(&a->s);
}

static void
agg_fill(struct rte_tel_data *d, const struct agg *a)
{
	static const char *const req[MG_TEL_CLASS_MAX] = {
		"requests_1xx", "requests_2xx", "requests_3xx",
		"requests_4xx", "requests_5xx",
	};
	unsigned int i;

	rte_tel_data_add_dict_u64(d, "connections",
				  a->s.opened[MG_TEL_TCP] +
					  a->s.opened[MG_TEL_UDP]);
	rte_tel_data_add_dict_u64(d, "tcp_opened", a->s.opened[MG_TEL_TCP]);
	rte_tel_data_add_dict_u64(d, "tcp_closed", a->s.closed);
	for (i = 0; i < MG_TEL_CLASS_MAX; i++)
		rte_tel_data_add_dict_u64(d, req[i], a->s.requests[i]);
	rte_tel_data_add_dict_u64(d, "received_bytes",
				  a->s.bytes[MG_TEL_DIR_REQUEST]);
	rte_tel_data_add_dict_u64(d, "sent_bytes",
				  a->s.bytes[MG_TEL_DIR_RESPONSE]);
}

static uint64_t
cycles_to_ns(uint64_t cycles)
{
	uint64_t hz = tel_tsc_hz();

	return hz == 0 ? 0
		       : (uint64_t)((unsigned __int128)cycles * 1000000000u /
				    hz);
}

/* /meshgate/services[,SERVICE]: per destination (service, version). */
static int
services(const struct tel_registry *r, const char *params,
	 struct rte_tel_data *d)
{
	uint32_t n_sets = r->n[TEL_KIND_SET], n_dests = r->n[TEL_KIND_DEST];
	uint64_t bucket[MG_TEL_DURATION_BUCKETS];
	struct mg_tel_set_sum s;
	bool found = false;
	struct agg *aggs;
	uint32_t i, j;

	aggs = calloc(n_dests, sizeof(*aggs));
	if (aggs == NULL)
		return -ENOMEM;
	for (i = 0; i < n_sets; i++) {
		tel_set_sum(i, &s);
		agg_add(&aggs[r->dest_of[i]], &s);
	}
	rte_tel_data_start_dict(d);
	for (i = 0; i < n_dests; i++) {
		const char *svc = r->names[r->dests[i].service];
		const char *ver = r->names[r->dests[i].version];
		struct rte_tel_data *c;
		uint64_t sum, count = 0;
		char key[KEY_LEN];

		if (!no_params(params) && strcmp(params, svc) != 0)
			continue;
		found = true;
		if (i == 0 && !agg_active(&aggs[i]))
			continue;
		c = new_dict();
		if (c == NULL)
			break;
		add_name(c, "service", svc);
		add_name(c, "version", ver);
		agg_fill(c, &aggs[i]);
		tel_dest_sum(i, bucket, &sum);
		for (j = 0; j < MG_TEL_DURATION_BUCKETS; j++)
			count += bucket[j];
		rte_tel_data_add_dict_u64(c, "handshakes", count);
		rte_tel_data_add_dict_u64(c, "handshake_sum_ns",
					  cycles_to_ns(sum));
		make_key(key, no_params(params) ? svc : ver,
			 no_params(params) ? ver : NULL);
		add_container(d, key, c);
	}
	free(aggs);
	return !no_params(params) && !found ? -EINVAL : 0;
}

/* /meshgate/identities[,IDENTITY]: per identity, or that identity's
 * traffic per destination. */
static int
identities(const struct tel_registry *r, const char *params,
	   struct rte_tel_data *d)
{
	uint32_t n_sets = r->n[TEL_KIND_SET];
	struct mg_tel_set_sum s;
	struct agg *aggs;
	bool found = false;
	uint32_t i;

	rte_tel_data_start_dict(d);
	if (!no_params(params)) {
		for (i = 1; i < n_sets; i++) {
			const struct tel_set_key *k = &r->sets[i];
			struct rte_tel_data *c;
			struct agg a = { 0 };
			char key[KEY_LEN];

			if (strcmp(params, r->names[k->identity]) != 0)
				continue;
			found = true;
			tel_set_sum(i, &s);
			agg_add(&a, &s);
			c = new_dict();
			if (c == NULL)
				return -ENOMEM;
			add_name(c, "service", r->names[k->service]);
			add_name(c, "version", r->names[k->version]);
			agg_fill(c, &a);
			make_key(key, r->names[k->service],
				 r->names[k->version]);
			add_container(d, key, c);
		}
		return found ? 0 : -EINVAL;
	}
	aggs = calloc(r->n_names, sizeof(*aggs));
	if (aggs == NULL)
		return -ENOMEM;
	for (i = 0; i < n_sets; i++) {
		tel_set_sum(i, &s);
		agg_add(&aggs[r->sets[i].identity], &s);
	}
	for (i = 0; i < r->n_names; i++) {
		struct rte_tel_data *c;
		char key[KEY_LEN];

		if (!aggs[i].seen || (i == 0 && !agg_active(&aggs[i])))
			continue;
		c = new_dict();
		if (c == NULL)
			break;
		add_name(c, "identity", r->names[i]);
		agg_fill(c, &aggs[i]);
		make_key(key, r->names[i], NULL);
		add_container(d, key, c);
	}
	free(aggs);
	return 0;
}

static int
policies(const struct tel_registry *r, struct rte_tel_data *d)
{
	uint64_t dec[MG_TEL_DECISION_MAX];
	uint32_t i;

	rte_tel_data_start_dict(d);
	for (i = 0; i < r->n[TEL_KIND_RULE]; i++) {
		const char *name = r->names[r->rule_name[i]];
		struct rte_tel_data *c;
		char key[KEY_LEN];

		tel_rule_sum(i, dec);
		if (i == 0 && dec[0] + dec[1] + dec[2] == 0)
			continue;
		c = new_dict();
		if (c == NULL)
			return -ENOMEM;
		add_name(c, "rule", name);
		rte_tel_data_add_dict_u64(c, "allow", dec[MG_TEL_ALLOW]);
		rte_tel_data_add_dict_u64(c, "deny", dec[MG_TEL_DENY]);
		rte_tel_data_add_dict_u64(c, "dry_run", dec[MG_TEL_DRY_RUN]);
		make_key(key, name, NULL);
		add_container(d, key, c);
	}
	return 0;
}

typedef int (*registry_cmd)(const struct tel_registry *r, const char *params,
			    struct rte_tel_data *d);

/* Runs @p fn on the registry under the read lock; an empty dict when the
 * library is not configured. */
static int
with_registry(registry_cmd fn, const char *params, struct rte_tel_data *d)
{
	const struct tel_registry *r;
	int rc = 0;

	tel_read_lock();
	r = tel_registry();
	if (r != NULL)
		rc = fn(r, params, d);
	else if (no_params(params))
		rte_tel_data_start_dict(d);
	else
		rc = -EINVAL;
	tel_read_unlock();
	return rc;
}

static int
handle_services(const char *cmd __rte_unused, const char *params,
		struct rte_tel_data *d)
{
	return with_registry(services, params, d);
}

static int
handle_identities(const char *cmd __rte_unused, const char *params,
		  struct rte_tel_data *d)
{
	return with_registry(identities, params, d);
}

static int
policies_cmd(const struct tel_registry *r, const char *params __rte_unused,
	     struct rte_tel_data *d)
{
	return policies(r, d);
}

static int
handle_policies(const char *cmd __rte_unused, const char *params,
		struct rte_tel_data *d)
{
	if (!no_params(params))
		return -EINVAL;
	return with_registry(policies_cmd, params, d);
}

static int
handle_flows(const char *cmd __rte_unused, const char *params,
	     struct rte_tel_data *d)
{
	struct mg_telemetry_flows f;
	struct rte_tel_data *states;
	unsigned int i;
	int rc;

	if (!no_params(params))
		return -EINVAL;
	tel_read_lock();
	rc = tel_flows(&f);
	tel_read_unlock();
	if (rc < 0)
		return rc;
	states = new_dict();
	if (states == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "total", f.total);
	rte_tel_data_add_dict_u64(d, "capacity", f.capacity);
	rte_tel_data_add_dict_u64(d, "l7_held", f.l7_held);
	rte_tel_data_add_dict_u64(d, "l7_capacity", f.l7_capacity);
	rte_tel_data_add_dict_u64(d, "half_open", f.half_open);
	rte_tel_data_add_dict_u64(d, "half_open_budget", f.half_open_budget);
	rte_tel_data_add_dict_u64(d, "half_open_peak", f.half_open_peak);
	rte_tel_data_add_dict_u64(d, "syn_cookies_sent", f.syn_cookies_sent);
	rte_tel_data_add_dict_u64(d, "syn_cookies_valid", f.syn_cookies_valid);
	for (i = 0; i < f.n_states; i++) {
		char key[KEY_LEN];

		if (f.state_name[i] == NULL)
			continue;
		make_key(key, f.state_name[i], NULL);
		rte_tel_data_add_dict_u64(states, key, f.by_state[i]);
	}
	add_container(d, "states", states);
	return 0;
}

/* One limit of /meshgate/limits, keyed by its name. */
static int
limit_dict(void *ctx, const struct mg_telemetry_limit *l)
{
	struct rte_tel_data *d = ctx, *c = new_dict();
	uint64_t drops[MG_TEL_LIMIT_MAX];
	char key[KEY_LEN];
	unsigned int r;

	if (c == NULL)
		return -ENOMEM;
	add_name(c, "limit", l->name);
	add_name(c, "identity", l->identity);
	add_name(c, "service", l->service[0] != '\0' ? l->service : "*");
	rte_tel_data_add_dict_u64(c, "connections", l->conns);
	rte_tel_data_add_dict_u64(c, "sources", l->sources);
	mg_telemetry_limit_drops(l->id, drops);
	for (r = 0; r < MG_TEL_LIMIT_MAX; r++)
		rte_tel_data_add_dict_u64(c, mg_tel_limit_reason_name(r),
					  drops[r]);
	make_key(key, l->name, NULL);
	add_container(d, key, c);
	return 0;
}

/* /meshgate/limits: per limit, its caller, connections, sources held
 * and drops by reason. */
static int
handle_limits(const char *cmd __rte_unused, const char *params,
	      struct rte_tel_data *d)
{
	int rc;

	if (!no_params(params))
		return -EINVAL;
	rte_tel_data_start_dict(d);
	tel_read_lock();
	rc = tel_limits(limit_dict, d);
	tel_read_unlock();
	return rc == -ENOTSUP ? 0 : rc;
}

/* /meshgate/ports: per port (keyed by its name), the NIC's counters and
 * the xstats of interest as "xstat_NAME". */
static int
handle_ports(const char *cmd __rte_unused, const char *params,
	     struct rte_tel_data *d)
{
	struct mg_telemetry_port p[MG_TELEMETRY_MAX_PORTS];
	unsigned int i, x;
	int n;

	if (!no_params(params))
		return -EINVAL;
	tel_read_lock();
	n = tel_ports(p, RTE_DIM(p));
	tel_read_unlock();
	if (n < 0)
		return n;
	rte_tel_data_start_dict(d);
	for (i = 0; i < (unsigned int)n; i++) {
		struct rte_tel_data *c = new_dict();
		char key[KEY_LEN];

		if (c == NULL)
			return -ENOMEM;
		add_name(c, "port", p[i].name);
		rte_tel_data_add_dict_u64(c, "port_id", p[i].port_id);
		rte_tel_data_add_dict_u64(c, "ipackets", p[i].ipackets);
		rte_tel_data_add_dict_u64(c, "opackets", p[i].opackets);
		rte_tel_data_add_dict_u64(c, "ibytes", p[i].ibytes);
		rte_tel_data_add_dict_u64(c, "obytes", p[i].obytes);
		rte_tel_data_add_dict_u64(c, "imissed", p[i].imissed);
		rte_tel_data_add_dict_u64(c, "ierrors", p[i].ierrors);
		rte_tel_data_add_dict_u64(c, "oerrors", p[i].oerrors);
		rte_tel_data_add_dict_u64(c, "rx_nombuf", p[i].rx_nombuf);
		for (x = 0; x < p[i].n_xstats; x++) {
			make_key(key, "xstat", p[i].xstat_name[x]);
			key[strlen("xstat")] = '_';
			rte_tel_data_add_dict_u64(c, key, p[i].xstat_value[x]);
		}
		make_key(key, p[i].name, NULL);
		add_container(d, key, c);
	}
	return 0;
}

/* /meshgate/peers[,NAME]: per ESP peer, its endpoints, drops not tied
 * to an SA, and per SA ("in_0x00001001", "out_...") its state, packets,
 * bytes, sequence number, replay window and drops (non-zero reasons). */
struct peers_ctx {
	struct rte_tel_data *d;
	const char *only;
	struct rte_tel_data *peer; /* the peer being filled */
	struct rte_tel_data *sas;
	bool found;
	int rc;
};

static struct rte_tel_data *
esp_drops(const uint64_t *drops)
{
	struct rte_tel_data *c = new_dict();
	unsigned int r;

	for (r = 1; c != NULL && r < mg_drop_reason_end(); r++)
		if (drops[r] != 0)
			rte_tel_data_add_dict_u64(c, mg_drop_reason_name(r),
						  drops[r]);
	return c;
}

static void
peer_done(struct peers_ctx *c, const char *name)
{
	char key[KEY_LEN];

	if (c->peer == NULL)
		return;
	add_container(c->peer, "sas", c->sas);
	make_key(key, name, NULL);
	add_container(c->d, key, c->peer);
	c->peer = c->sas = NULL;
}

static int
emit_peer(void *arg, const struct mg_telemetry_esp_peer *p,
	  const struct mg_telemetry_esp_sa *sa)
{
	struct peers_ctx *c = arg;
	struct rte_tel_data *s, *drops;
	char key[KEY_LEN];

	if (c->only != NULL && strcmp(c->only, p->name) != 0)
		return 0;
	if (sa == NULL) {
		c->found = true;
		c->peer = new_dict();
		c->sas = new_dict();
		if (c->peer == NULL || c->sas == NULL) {
			rte_tel_data_free(c->peer);
			rte_tel_data_free(c->sas);
			c->peer = c->sas = NULL;
			c->rc = -ENOMEM;
			return 0;
		}
		add_name(c->peer, "peer", p->name);
		add_name(c->peer, "identity", p->identity);
		add_name(c->peer, "local", p->local);
		add_name(c->peer, "remote", p->remote);
		rte_tel_data_add_dict_string(c->peer, "encap",
					     p->udp_encap ? "udp" : "esp");
		drops = esp_drops(p->drops);
		if (drops != NULL)
			add_container(c->peer, "drops", drops);
		return 0;
	}
	if (c->peer == NULL)
		return 0;
	s = new_dict();
	if (s == NULL)
		return 0;
	rte_tel_data_add_dict_string(s, "state", sa->state);
	rte_tel_data_add_dict_string(s, "algorithm", sa->algorithm);
	rte_tel_data_add_dict_u64(s, "spi", sa->spi);
	rte_tel_data_add_dict_u64(s, "packets", sa->packets);
	rte_tel_data_add_dict_u64(s, "bytes", sa->bytes);
	rte_tel_data_add_dict_u64(s, "seq", sa->seq);
	rte_tel_data_add_dict_u64(s, "esn", sa->esn);
	if (sa->inbound)
		rte_tel_data_add_dict_u64(s, "replay_window",
					  sa->replay_window);
	drops = esp_drops(sa->drops);
	if (drops != NULL)
		add_container(s, "drops", drops);
	snprintf(key, sizeof(key), "%s_0x%08x", sa->inbound ? "in" : "out",
		 sa->spi);
	add_container(c->sas, key, s);
	return 0;
}

/* emit_peer() fills one peer at a time; this one closes each. */
struct peers_walk {
	struct peers_ctx *c;
	const char *current;
	char name[KEY_LEN];
};

static int
walk_peer(void *arg, const struct mg_telemetry_esp_peer *p,
	  const struct mg_telemetry_esp_sa *sa)
{
	struct peers_walk *w = arg;

	if (sa == NULL && w->current != NULL) {
		peer_done(w->c, w->name);
		w->current = NULL;
	}
	if (sa == NULL) {
		snprintf(w->name, sizeof(w->name), "%s", p->name);
		w->current = w->name;
	}
	return emit_peer(w->c, p, sa);
}

static int
handle_peers(const char *cmd __rte_unused, const char *params,
	     struct rte_tel_data *d)
{
	struct peers_ctx c = { .d = d,
			       .only = no_params(params) ? NULL : params };
	struct peers_walk w = { .c = &c };
	int rc;

	rte_tel_data_start_dict(d);
	tel_read_lock();
	rc = tel_esp(walk_peer, &w);
	tel_read_unlock();
	if (w.current != NULL)
		peer_done(&c, w.name);
	if (rc == -ENOTSUP)
		rc = 0; /* no ESP: no peers */
	if (rc < 0)
		return rc;
	if (c.rc < 0)
		return c.rc;
	return c.only != NULL && !c.found ? -EINVAL : 0;
}

/* Cumulative bucket counts under "le_..." keys, count, sum in ns. */
static void
hist_fill(struct rte_tel_data *d, enum tel_hist h)
{
	const struct tel_hist_def *def = tel_hist_def(h);
	uint64_t bucket[MG_TEL_DURATION_BUCKETS], sum, cum = 0;
	unsigned int i;

	tel_hist_total(h, bucket, &sum);
	for (i = 0; i < def->n_bucket; i++) {
		cum += bucket[i];
		rte_tel_data_add_dict_u64(d, def->key[i], cum);
	}
	rte_tel_data_add_dict_u64(d, "count", cum);
	rte_tel_data_add_dict_u64(d, "sum_ns", cycles_to_ns(sum));
}

static int
handle_histograms(const char *cmd __rte_unused, const char *params,
		  struct rte_tel_data *d)
{
	int h, one = -1;

	if (!no_params(params)) {
		one = tel_hist_by_name(params);
		if (one < 0)
			return -EINVAL;
	}
	rte_tel_data_start_dict(d);
	tel_read_lock();
	if (one >= 0) {
		hist_fill(d, one);
	} else {
		for (h = 0; h < TEL_HIST_MAX; h++) {
			struct rte_tel_data *c = new_dict();

			if (c == NULL)
				break;
			hist_fill(c, h);
			add_container(d, tel_hist_def(h)->name, c);
		}
	}
	tel_read_unlock();
	return 0;
}

int
mg_telemetry_init(void)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{ "/meshgate/stats", handle_stats,
		  "Totals over all lcores: rx, tx, drops by reason, polls. No "
		  "parameters." },
		{ "/meshgate/lcores", handle_lcores,
		  "Per-lcore role and counters; busy ratio = busy_cycles / "
		  "elapsed_cycles. No parameters." },
		{ "/meshgate/drops", handle_drops,
		  "Dropped packets by reason. No parameters." },
		{ "/meshgate/services", handle_services,
		  "Traffic per service/version: connections, requests, bytes, "
		  "handshakes. Parameter: a service, for its versions." },
		{ "/meshgate/identities", handle_identities,
		  "Traffic per caller identity. Parameter: an identity name "
		  "to list its traffic per service/version." },
		{ "/meshgate/policies", handle_policies,
		  "Decisions per policy rule: allow, deny, dry_run. No "
		  "parameters." },
		{ "/meshgate/flows", handle_flows,
		  "Connections: total, capacity, by state, half_open(_budget, "
		  "_peak); layer-7 heads l7_held, l7_capacity. No "
		  "parameters." },
		{ "/meshgate/limits", handle_limits,
		  "Per caller limit: identity, service, connections, sources, "
		  "drops by reason. No parameters." },
		{ "/meshgate/ports", handle_ports,
		  "NIC counters per port: packets, bytes, imissed, ierrors, "
		  "oerrors, rx_nombuf, driver xstats (xstat_*). No "
		  "parameters." },
		{ "/meshgate/peers", handle_peers,
		  "ESP peers: endpoints, drops; per SA state, packets, "
		  "bytes, seq, replay window, drops. Parameter: a peer." },
		{ "/meshgate/histograms", handle_histograms,
		  "Histograms: cumulative buckets, count, sum_ns. Parameter: "
		  "one histogram's name." },
	};
	unsigned int i;
	int rc = 0;

	/* help strings: fewer than RTE_TEL_MAX_STRING_LEN characters */
	for (i = 0; i < RTE_DIM(cmds) && rc == 0; i++)
		rc = rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn,
						cmds[i].help);
	return rc;
}
