/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The state workers share: ruleset (swapped under RCU on reload), flow
 * table, neighbour cache, and the RCU variable that guards them. */

#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include "meshgate.h"

RTE_LOG_REGISTER(mg_logtype_app, mg.app, INFO);

/* Neighbours cached per gateway; far more than an edge segment holds. */
#define NEIGH_MAX	  4096
#define NEIGH_REACHABLE_S 30
/* Distinct backends ever configured, reloads included (health entries
 * are never removed, so ejections survive reloads). */
#define HEALTH_MAX 4096

static struct mg_ruleset *
build_ruleset(const struct mg_conf *conf, struct mg_health *health,
	      unsigned int n_workers)
{
	struct mg_l7_stats l7;
	char err[512] = "";
	struct mg_ruleset *rs;

	rs = mg_ruleset_build(conf, (int)rte_socket_id(), health, n_workers,
			      err, sizeof(err));
	if (rs == NULL) {
		MG_LOG(ERR, "%s: cannot build the ruleset: %s", conf->path,
		       err[0] != '\0' ? err : rte_strerror(rte_errno));
		return NULL;
	}
	mg_l7_get_stats(mg_ruleset_l7(rs), &l7);
	if (l7.n_services != 0)
		MG_LOG(INFO,
		       "layer-7 rules: %u service(s), %u pattern(s) in %u "
		       "Hyperscan database(s) of %zu bytes, scratch %zu "
		       "bytes per worker",
		       l7.n_services, l7.n_patterns, l7.n_databases,
		       l7.database_bytes, l7.scratch_bytes);
	return rs;
}

struct mg_backend_label {
	uint32_t health; /* index in the health table */
	char service[MG_CONF_NAME_LEN];
	char version[MG_CONF_NAME_LEN];
};

/* Every (service, version, backend) of @p conf with its health index;
 * control plane, after the ruleset registered them. NULL on ENOMEM. */
static struct mg_backend_label *
backend_labels(const struct mg_conf *conf, struct mg_health *h, unsigned int *n)
{
	const struct mg_service_conf *s;
	const struct mg_version_conf *v;
	struct mg_backend_label *l;
	unsigned int i, j, k, cap = 0;
	int idx;

	for (i = 0; i < conf->n_services; i++)
		for (j = 0; j < conf->services[i].n_versions; j++)
			cap += conf->services[i].versions[j].n_backends;
	l = calloc(RTE_MAX(cap, 1u), sizeof(*l));
	*n = 0;
	if (l == NULL)
		return NULL;
	for (i = 0; i < conf->n_services; i++) {
		s = &conf->services[i];
		for (j = 0; j < s->n_versions; j++) {
			v = &s->versions[j];
			for (k = 0; k < v->n_backends; k++) {
				/* known already: this only looks it up */
				idx = mg_health_register(h,
							 &v->backends[k].addr,
							 v->backends[k].port);
				if (idx < 0)
					continue;
				l[*n].health = (uint32_t)idx;
				snprintf(l[*n].service, sizeof(l->service),
					 "%s", s->name);
				snprintf(l[*n].version, sizeof(l->version),
					 "%s", v->name);
				(*n)++;
			}
		}
	}
	return l;
}

/* Swap in the labels of @p conf; the old ones are freed. */
static void
set_backend_labels(struct mg_dataplane *dp, const struct mg_conf *conf)
{
	struct mg_backend_label *fresh, *old;
	unsigned int n;

	fresh = backend_labels(conf, dp->health, &n);
	pthread_mutex_lock(&dp->labels_lock);
	old = dp->labels;
	dp->labels = fresh;
	dp->n_labels = fresh != NULL ? n : 0;
	pthread_mutex_unlock(&dp->labels_lock);
	free(old);
}

/* Backend gauges for /metrics (meshgate_backend_up, ..._ejections). */
static int
backends_gauges(void *arg, mg_telemetry_backend_emit emit, void *ctx)
{
	struct mg_dataplane *dp = arg;
	struct mg_health_info s;
	char name[80];
	unsigned int i;

	pthread_mutex_lock(&dp->labels_lock);
	for (i = 0; i < dp->n_labels; i++) {
		const struct mg_backend_label *l = &dp->labels[i];

		if (mg_health_state(dp->health, l->health, rte_rdtsc(), &s) < 0)
			continue;
		emit(ctx,
		     &(struct mg_telemetry_backend){
			     .service = l->service,
			     .version = l->version,
			     .backend = mg_health_name(&s, name, sizeof(name)),
			     .up = s.up,
			     .ejections = s.ejections_total,
		     });
	}
	pthread_mutex_unlock(&dp->labels_lock);
	return 0;
}

/* Flow-table gauges for /metrics and /meshgate/flows. */
static int
flows_gauges(void *arg, struct mg_telemetry_flows *out)
{
	const struct mg_dataplane *dp = arg;
	unsigned int i;

	if (dp->flows == NULL)
		return -ENODEV;
	RTE_BUILD_BUG_ON(MG_FLOW_STATE_MAX > MG_TELEMETRY_MAX_STATES);
	out->total = mg_flow_count(dp->flows);
	out->capacity = dp->max_flows;
	out->l7_held = mg_l7_pool_in_use(dp->l7_pool);
	out->l7_capacity = dp->l7_capacity;
	out->n_states = MG_FLOW_STATE_MAX;
	mg_flow_count_states(dp->flows, out->by_state);
	for (i = 0; i < MG_FLOW_STATE_MAX; i++)
		out->state_name[i] = mg_flow_state_name(i);
	return 0;
}

int
mg_dataplane_init(struct mg_dataplane *dp, const struct mg_conf *conf,
		  const struct mg_port *ports, unsigned int n_workers,
		  struct rte_mempool *pool)
{
	struct mg_flow_params fp = {
		.name = "mg_flows",
		.max_flows = conf->flows.max_flows,
		.socket = (int)rte_socket_id(),
		.timeouts = &conf->flows,
		.tsc_hz = rte_get_tsc_hz(),
	};
	size_t qsv_size = rte_rcu_qsbr_get_memsize(n_workers);
	unsigned int i;

	memset(dp, 0, sizeof(*dp));
	pthread_mutex_init(&dp->labels_lock, NULL);
	dp->pool = pool;
	dp->n_workers = n_workers;
	dp->tsc_hz = rte_get_tsc_hz();
	dp->hash_seed = (uint32_t)rte_rand();
	for (i = 0; i < conf->n_ports; i++)
		rte_eth_macaddr_get(ports[i].port_id, &dp->mac[i]);

	dp->qsv = rte_zmalloc("mg_qsv", qsv_size, RTE_CACHE_LINE_SIZE);
	if (dp->qsv == NULL || rte_rcu_qsbr_init(dp->qsv, n_workers) != 0) {
		MG_LOG(ERR, "cannot create the RCU variable");
		goto fail;
	}
	fp.qsv = dp->qsv;
	dp->flows = mg_flow_table_create(&fp);
	if (dp->flows == NULL) {
		MG_LOG(ERR, "cannot create a flow table of %u connections: %s",
		       fp.max_flows, rte_strerror(rte_errno));
		goto fail;
	}
	dp->neigh = mg_neigh_create("mg_neigh", NEIGH_MAX, fp.socket,
				    dp->tsc_hz, NEIGH_REACHABLE_S);
	if (dp->neigh == NULL) {
		MG_LOG(ERR, "cannot create the neighbour cache: %s",
		       rte_strerror(rte_errno));
		goto fail;
	}
	dp->health = mg_health_create("mg_health", HEALTH_MAX, fp.socket,
				      dp->tsc_hz);
	if (dp->health == NULL) {
		MG_LOG(ERR, "cannot create the health table: %s",
		       rte_strerror(rte_errno));
		goto fail;
	}
	dp->l7_flows = rte_zmalloc_socket(
		"mg_l7_flows", (size_t)fp.max_flows * sizeof(*dp->l7_flows),
		RTE_CACHE_LINE_SIZE, fp.socket);
	dp->l7_pool = mg_l7_pool_create("mg_l7", conf->l7.max_pending,
					conf->l7.max_request_bytes, n_workers,
					fp.socket, dp->qsv);
	if (dp->l7_flows == NULL || dp->l7_pool == NULL) {
		MG_LOG(ERR, "cannot allocate layer-7 state: %s",
		       rte_strerror(rte_errno));
		goto fail;
	}
	MG_LOG(INFO,
	       "layer-7 state: %zu bytes per flow (%zu KiB), %u buffers of "
	       "%u bytes for split heads (%zu KiB) and one per worker",
	       sizeof(*dp->l7_flows),
	       (size_t)fp.max_flows * sizeof(*dp->l7_flows) / 1024,
	       conf->l7.max_pending, conf->l7.max_request_bytes,
	       (size_t)conf->l7.max_pending * conf->l7.max_request_bytes /
		       1024);
	dp->ruleset = build_ruleset(conf, dp->health, n_workers);
	if (dp->ruleset == NULL)
		goto fail;
	dp->max_flows = fp.max_flows;
	dp->l7_capacity = conf->l7.max_pending;
	mg_telemetry_set_flows_fn(flows_gauges, dp);
	set_backend_labels(dp, conf);
	mg_telemetry_set_backends_fn(backends_gauges, dp);
	return 0;
fail:
	mg_dataplane_fini(dp);
	return -1;
}

void
mg_dataplane_fini(struct mg_dataplane *dp)
{
	mg_telemetry_set_flows_fn(NULL, NULL);
	mg_telemetry_set_backends_fn(NULL, NULL);
	free(dp->labels);
	pthread_mutex_destroy(&dp->labels_lock);
	mg_ruleset_free(dp->ruleset);
	mg_l7_pool_free(dp->l7_pool);
	rte_free(dp->l7_flows);
	mg_health_free(dp->health);
	mg_neigh_free(dp->neigh);
	mg_flow_table_free(dp->flows);
	rte_free(dp->qsv);
	memset(dp, 0, sizeof(*dp));
}

/* Settings a reload cannot change: they size ports, pools and tables. */
static void
warn_restart_only(const struct mg_conf *old, const struct mg_conf *new)
{
	bool ports = old->n_ports != new->n_ports;
	unsigned int i;

	for (i = 0; !ports && i < old->n_ports; i++)
		ports = strcmp(old->ports[i].device, new->ports[i].device) !=
				0 ||
			old->ports[i].role != new->ports[i].role ||
			memcmp(&old->ports[i].profile, &new->ports[i].profile,
			       sizeof(old->ports[i].profile)) != 0;
	if (ports || old->mode != new->mode || old->burst != new->burst ||
	    old->mbufs != new->mbufs || old->n_lcores != new->n_lcores ||
	    memcmp(&old->flows, &new->flows, sizeof(old->flows)) != 0 ||
	    memcmp(&old->l7, &new->l7, sizeof(old->l7)) != 0)
		MG_LOG(WARNING,
		       "%s: mode, ports, burst, mempool, lcores, flows and "
		       "l7 take effect only after a restart",
		       new->path);
}

int
mg_dataplane_reload(struct mg_dataplane *dp, const struct mg_conf *running,
		    const struct mg_conf *conf, unsigned int qsbr_id)
{
	struct mg_ruleset *fresh, *old;

	warn_restart_only(running, conf);
	fresh = build_ruleset(conf, dp->health, dp->n_workers);
	if (fresh == NULL)
		return -1;
	old = __atomic_exchange_n(&dp->ruleset, fresh, __ATOMIC_ACQ_REL);
	/* every worker has passed a quiescent point after the swap: none
	 * can still hold the old ruleset */
	rte_rcu_qsbr_synchronize(dp->qsv, qsbr_id);
	mg_ruleset_free(old);
	set_backend_labels(dp, conf);
	return 0;
}
