/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The state workers share: ruleset (swapped under RCU on reload), flow
 * table, neighbour cache, and the RCU variable that guards them. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>

#include "meshgate.h"

RTE_LOG_REGISTER(mg_logtype_app, mg.app, INFO);

/* Neighbours cached per gateway; far more than an edge segment holds. */
#define NEIGH_MAX	  4096
#define NEIGH_REACHABLE_S 30
/* Distinct backends ever configured, reloads included (health entries
 * are never removed, so ejections survive reloads), and likewise
 * distinct (service, version, family) groups with backends: 1 MiB of
 * ejection slots. */
#define HEALTH_MAX	  4096
#define HEALTH_MAX_GROUPS 4096
/* ICMP errors and challenge ACKs a worker originates: per second and
 * at once (Linux sends at most 1000 ICMP errors a second, bursts of
 * 50, and as many challenge ACKs). */
#define CTL_RATE  1000
#define CTL_BURST 50

unsigned int
mg_limit_regions(const struct mg_conf *conf)
{
	unsigned int i, n = 0;

	for (i = 0; i < conf->n_limits; i++)
		n += conf->limits[i].per_source;
	/* room for a reload to add as many again, and one when none */
	return RTE_MIN(RTE_MAX(2 * n, 1u), (unsigned int)MG_TEL_MAX_LIMITS);
}

/* The ESP peers of @p conf, attached to @p rs (SAs that keep their SPI
 * taken from @p running, the set in force). */
static int
attach_esp(struct mg_dataplane *dp, const struct mg_conf *conf,
	   struct mg_ruleset *rs, const struct mg_esp_set *running)
{
	struct mg_esp_set *set;
	char err[512] = "";

	if (conf->n_peers == 0)
		return 0;
	if (dp->esp == NULL) {
		/* made only at start-up (each worker binds a queue pair
		 * before it forwards): a reload cannot bring the first
		 * peers, and a start-up whose cryptodev failed says why
		 * above */
		MG_LOG(ERR,
		       "%s: peers need a restart: ESP is set up at start-up, "
		       "and only when the file has peers",
		       conf->path);
		return -1;
	}
	set = mg_esp_set_build(dp->esp, conf, running, rte_rdtsc(), err,
			       sizeof(err));
	if (set == NULL) {
		MG_LOG(ERR, "%s", err[0] != '\0' ? err : "cannot set up ESP");
		return -1;
	}
	mg_ruleset_set_esp(rs, set);
	return 0;
}

static struct mg_ruleset *
build_ruleset(struct mg_dataplane *dp, const struct mg_conf *conf,
	      const struct mg_esp_set *running)
{
	struct mg_l7_stats l7;
	char err[512] = "";
	struct mg_ruleset *rs;

	rs = mg_ruleset_build(conf, (int)rte_socket_id(), dp->health,
			      dp->n_workers, err, sizeof(err));
	if (rs == NULL) {
		MG_LOG(ERR, "%s: cannot build the ruleset: %s", conf->path,
		       err[0] != '\0' ? err : rte_strerror(rte_errno));
		return NULL;
	}
	if (mg_ruleset_set_limits(rs, conf, dp->limits, err, sizeof(err)) < 0) {
		MG_LOG(ERR, "%s", err);
		mg_ruleset_free(rs);
		return NULL;
	}
	if (attach_esp(dp, conf, rs, running) < 0) {
		mg_ruleset_free(rs);
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
			     /* failing but kept in service by a cap: down */
			     .up = s.up && !s.held,
			     .ejections = s.ejections_total,
		     });
	}
	pthread_mutex_unlock(&dp->labels_lock);
	return 0;
}

struct mg_limit_label {
	uint32_t id; /* in dp->limits */
	char name[MG_CONF_NAME_LEN];
	char identity[MG_CONF_NAME_LEN];
	char service[MG_CONF_NAME_LEN]; /* "" for every service */
};

/* Swap in the labels of @p conf's limits (registered by the ruleset
 * just built); the old ones are freed. */
static void
set_limit_labels(struct mg_dataplane *dp, const struct mg_conf *conf,
		 const struct mg_ruleset *rs)
{
	struct mg_limit_label *fresh, *old;
	const struct mg_ruleset_limit *rl;
	unsigned int i, n = 0;

	fresh = calloc(RTE_MAX(conf->n_limits, 1u), sizeof(*fresh));
	for (i = 0; fresh != NULL && i < conf->n_limits; i++) {
		const struct mg_limit_conf *lc = &conf->limits[i];

		rl = mg_ruleset_limit_of(rs, i);
		if (rl == NULL)
			continue;
		fresh[n].id = rl->id;
		snprintf(fresh[n].name, sizeof(fresh->name), "%s", lc->name);
		snprintf(fresh[n].identity, sizeof(fresh->identity), "%s",
			 lc->identity != 0
				 ? conf->identities[lc->identity - 1].name
				 : "unknown");
		snprintf(fresh[n].service, sizeof(fresh->service), "%s",
			 lc->service >= 0 ? conf->services[lc->service].name
					  : "");
		n++;
	}
	pthread_mutex_lock(&dp->labels_lock);
	old = dp->limit_labels;
	dp->limit_labels = fresh;
	dp->n_limit_labels = n;
	pthread_mutex_unlock(&dp->labels_lock);
	free(old);
}

/* Limit gauges for /metrics and /meshgate/limits. */
static int
limits_gauges(void *arg, mg_telemetry_limit_emit emit, void *ctx)
{
	struct mg_dataplane *dp = arg;
	unsigned int i;
	int rc = 0;

	pthread_mutex_lock(&dp->labels_lock);
	for (i = 0; i < dp->n_limit_labels && rc == 0; i++) {
		const struct mg_limit_label *l = &dp->limit_labels[i];

		rc = emit(
			ctx,
			&(struct mg_telemetry_limit){
				.id = l->id,
				.name = l->name,
				.identity = l->identity,
				.service = l->service,
				.conns = mg_limit_conns(
					dp->limits,
					mg_limit_bucket(dp->limits, l->id)),
				.sources = mg_limit_sources(dp->limits, l->id),
			});
	}
	pthread_mutex_unlock(&dp->labels_lock);
	return rc;
}

char *
mg_dataplane_overload_json(struct mg_dataplane *dp)
{
	uint64_t drops[MG_TEL_LIMIT_MAX];
	char *buf = NULL;
	size_t len = 0;
	unsigned int i, r;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	fprintf(f,
		"{\"half_open_budget\": %u, \"half_open_peak\": %" PRIu64
		", \"limits\": {",
		mg_flow_half_open_budget(dp->flows),
		mg_telemetry_half_open_peak());
	pthread_mutex_lock(&dp->labels_lock);
	for (i = 0; i < dp->n_limit_labels; i++) {
		const struct mg_limit_label *l = &dp->limit_labels[i];

		/* names are config names: no quote or backslash in them */
		fprintf(f, "%s\"%s\": {\"connections\": %u", i ? ", " : "",
			l->name,
			mg_limit_conns(dp->limits,
				       mg_limit_bucket(dp->limits, l->id)));
		mg_telemetry_limit_drops(l->id, drops);
		for (r = 0; r < MG_TEL_LIMIT_MAX; r++)
			fprintf(f, ", \"%s\": %" PRIu64,
				mg_tel_limit_reason_name(r), drops[r]);
		fprintf(f, "}");
	}
	pthread_mutex_unlock(&dp->labels_lock);
	fprintf(f, "}}");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
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
	out->half_open = mg_flow_half_open(dp->flows);
	out->half_open_budget = mg_flow_half_open_budget(dp->flows);
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
		.max_half_open = conf->flows.max_half_open,
		.tsc_hz = rte_get_tsc_hz(),
		.writers = n_workers,
	};
	size_t qsv_size = rte_rcu_qsbr_get_memsize(n_workers);
	const char *age;
	unsigned int i;
	int rc;

	memset(dp, 0, sizeof(*dp));
	pthread_mutex_init(&dp->labels_lock, NULL);
	dp->pool = pool;
	dp->n_workers = n_workers;
	dp->tsc_hz = rte_get_tsc_hz();
	/* the config's, not the process's: HA peers and a restarted
	 * gateway pick the same backends (the flow table's own seed is
	 * random, lib/flow) */
	dp->hash_seed = conf->hash_seed;
	/* a secret per process, never logged; the test hook makes every
	 * cookie that many slots old (tests of stale cookies) */
	age = getenv("MESHGATE_TEST_SYN_COOKIE_AGE");
	mg_syncookie_init(&dp->syncookie, dp->tsc_hz,
			  age != NULL ? (uint32_t)strtoul(age, NULL, 10) : 0);
	dp->syn_cookies = conf->flows.syn_cookies;
	for (i = 0; i < conf->n_ports; i++)
		rte_eth_macaddr_get(ports[i].port_id, &dp->mac[i]);

	/* no per-lcore cache: fragmenting is rare, and a cached pool's
	 * header holds one for each of RTE_MAX_LCORE (1 MiB of hugepages) */
	dp->indirect_pool =
		rte_pktmbuf_pool_create("mg_indirect", MG_INDIRECT_MBUFS, 0, 0,
					0, (int)rte_socket_id());
	rc = rte_mbuf_dynflag_register(
		&(const struct rte_mbuf_dynflag){ .name = "mg_reassembled" });
	if (dp->indirect_pool == NULL || rc < 0) {
		MG_LOG(ERR, "cannot create the fragmentation pool: %s",
		       rte_strerror(rte_errno));
		goto fail;
	}
	dp->reassembled_flag = UINT64_C(1) << rc;
	if (rte_meter_srtcm_profile_config(
		    &dp->ctl_profile,
		    &(struct rte_meter_srtcm_params){
			    .cir = CTL_RATE, .cbs = CTL_BURST }) != 0) {
		MG_LOG(ERR, "cannot configure the control packet meter");
		goto fail;
	}

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
	dp->cookie_threshold =
		RTE_MAX(mg_flow_half_open_budget(dp->flows) / 2, 1u);
	dp->neigh = mg_neigh_create("mg_neigh", NEIGH_MAX, fp.socket,
				    dp->tsc_hz, NEIGH_REACHABLE_S);
	if (dp->neigh == NULL) {
		MG_LOG(ERR, "cannot create the neighbour cache: %s",
		       rte_strerror(rte_errno));
		goto fail;
	}
	dp->health = mg_health_create("mg_health", HEALTH_MAX,
				      HEALTH_MAX_GROUPS, fp.socket, dp->tsc_hz);
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
	dp->limits = mg_limit_table_create(
		"mg_limits", MG_TEL_MAX_LIMITS, mg_limit_regions(conf),
		conf->limit_sources, n_workers, fp.socket, dp->tsc_hz);
	if (dp->limits == NULL) {
		MG_LOG(ERR, "cannot create the limit table: %s",
		       rte_strerror(rte_errno));
		goto fail;
	}
	dp->n_label_sets = conf->telemetry.max_label_sets;
	dp->conn_errors = rte_zmalloc_socket(
		"mg_conn_errors",
		(size_t)n_workers * dp->n_label_sets * sizeof(uint64_t),
		RTE_CACHE_LINE_SIZE, fp.socket);
	if (dp->conn_errors == NULL) {
		MG_LOG(ERR, "cannot allocate connect failure counters");
		goto fail;
	}
	/* the cryptodev, its queue pairs and pools (about 3 MiB) only for
	 * a file with peers; one without stays without until a restart */
	if (conf->n_peers != 0) {
		dp->esp = mg_esp_create(&(const struct mg_esp_params){
			.n_workers = n_workers,
			.socket = fp.socket,
			.qp_depth = MG_ESP_QP_DEPTH,
			.qsv = dp->qsv,
			.tsc_hz = dp->tsc_hz,
		});
		if (dp->esp == NULL)
			MG_LOG(ERR, "ESP is unavailable: %s",
			       rte_strerror(rte_errno));
	}
	dp->ruleset = build_ruleset(dp, conf, NULL);
	if (dp->ruleset == NULL)
		goto fail;
	if (dp->esp != NULL) {
		mg_esp_publish(dp->esp, mg_ruleset_esp(dp->ruleset));
		mg_telemetry_set_esp_fn(mg_esp_telemetry, dp->esp);
	}
	dp->max_flows = fp.max_flows;
	dp->l7_capacity = conf->l7.max_pending;
	mg_telemetry_set_flows_fn(flows_gauges, dp);
	set_backend_labels(dp, conf);
	mg_telemetry_set_backends_fn(backends_gauges, dp);
	set_limit_labels(dp, conf, dp->ruleset);
	mg_telemetry_set_limits_fn(limits_gauges, dp);
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
	mg_telemetry_set_limits_fn(NULL, NULL);
	mg_telemetry_set_esp_fn(NULL, NULL);
	free(dp->labels);
	free(dp->limit_labels);
	pthread_mutex_destroy(&dp->labels_lock);
	mg_ruleset_free(dp->ruleset);
	/* after the workers and the ruleset (its ESP set): every session
	 * freed, every key zeroised */
	mg_esp_free(dp->esp);
	mg_l7_pool_free(dp->l7_pool);
	rte_free(dp->l7_flows);
	mg_health_free(dp->health);
	mg_neigh_free(dp->neigh);
	mg_flow_table_free(dp->flows);
	mg_limit_table_free(dp->limits);
	rte_free(dp->conn_errors);
	rte_free(dp->qsv);
	rte_mempool_free(dp->indirect_pool);
	memset(dp, 0, sizeof(*dp));
}

static void
format_listen(const struct mg_telemetry_conf *t, char *buf, size_t len)
{
	char a[48];

	if (!t->enabled) {
		snprintf(buf, len, "off");
		return;
	}
	mg_addr_format(&t->addr, a, sizeof(a));
	snprintf(buf, len, t->addr.family == 6 ? "[%s]:%u" : "%s:%u", a,
		 t->port);
}

/* Logs one restart-only setting the file changes; counts it. */
static void
pending(unsigned int *n, const char *path, const char *what,
	const char *running, const char *file)
{
	MG_LOG(WARNING,
	       "%s: %s changes from %s to %s only after a restart; %s stays "
	       "in force",
	       path, what, running, file, running);
	(*n)++;
}

/* The same for a setting too long to quote. */
static void
differ(unsigned int *n, const char *path, const char *what)
{
	MG_LOG(WARNING,
	       "%s: %s differ from the running ones and change only after a "
	       "restart; the running ones stay in force",
	       path, what);
	(*n)++;
}

static void
pending_u(unsigned int *n, const char *path, const char *what, uint64_t running,
	  uint64_t file)
{
	char a[24], b[24];

	if (running == file)
		return;
	snprintf(a, sizeof(a), "%" PRIu64, running);
	snprintf(b, sizeof(b), "%" PRIu64, file);
	pending(n, path, what, a, b);
}

static const char *
mode_name(enum mg_mode m)
{
	return m == MG_MODE_TWO_ARM ? "two-arm" : "one-arm";
}

static bool
ports_differ(const struct mg_conf *a, const struct mg_conf *b)
{
	unsigned int i;

	if (a->n_ports != b->n_ports)
		return true;
	for (i = 0; i < a->n_ports; i++)
		if (strcmp(a->ports[i].name, b->ports[i].name) != 0 ||
		    strcmp(a->ports[i].device, b->ports[i].device) != 0 ||
		    a->ports[i].role != b->ports[i].role ||
		    a->ports[i].mss_clamp != b->ports[i].mss_clamp ||
		    memcmp(&a->ports[i].profile, &b->ports[i].profile,
			   sizeof(a->ports[i].profile)) != 0)
			return true;
	return false;
}

static bool
lcores_differ(const struct mg_conf *a, const struct mg_conf *b)
{
	unsigned int i;

	if (a->n_lcores != b->n_lcores)
		return true;
	for (i = 0; i < a->n_lcores; i++)
		if (a->lcores[i].lcore != b->lcores[i].lcore ||
		    a->lcores[i].queue != b->lcores[i].queue)
			return true;
	return false;
}

unsigned int
mg_conf_restart_changes(const struct mg_conf *run, const struct mg_conf *file)
{
	const char *path = file->path;
	struct mg_flow_conf ft;
	char a[64], b[64];
	unsigned int n = 0;

	if (run->mode != file->mode)
		pending(&n, path, "mode", mode_name(run->mode),
			mode_name(file->mode));
	pending_u(&n, path, "burst", run->burst, file->burst);
	pending_u(&n, path, "mempool.mbufs", run->mbufs, file->mbufs);
	pending_u(&n, path, "mempool.cache", run->mbuf_cache, file->mbuf_cache);
	if (ports_differ(run, file))
		differ(&n, path,
		       "ports (names, devices, roles, profiles or mss_clamp)");
	if (lcores_differ(run, file))
		differ(&n, path, "lcores");
	pending_u(&n, path, "flows.max", run->flows.max_flows,
		  file->flows.max_flows);
	if (run->flows.max_half_open != file->flows.max_half_open) {
		/* 0: the default, a quarter of flows.max */
		snprintf(a, sizeof(a), "%u", run->flows.max_half_open);
		snprintf(b, sizeof(b), "%u", file->flows.max_half_open);
		pending(&n, path, "flows.max_half_open",
			run->flows.max_half_open != 0 ? a : "flows.max / 4",
			file->flows.max_half_open != 0 ? b : "flows.max / 4");
	}
	pending_u(&n, path, "limit_sources", run->limit_sources,
		  file->limit_sources);
	ft = file->flows;
	ft.max_flows = run->flows.max_flows;
	ft.max_half_open = run->flows.max_half_open;
	ft.syn_cookies = run->flows.syn_cookies; /* reloaded */
	if (memcmp(&run->flows, &ft, sizeof(ft)) != 0)
		differ(&n, path, "flows timeouts");
	pending_u(&n, path, "fragments.max", run->fragments.max,
		  file->fragments.max);
	pending_u(&n, path, "fragments.timeout_ms", run->fragments.timeout_ms,
		  file->fragments.timeout_ms);
	pending_u(&n, path, "l7.max_request_bytes", run->l7.max_request_bytes,
		  file->l7.max_request_bytes);
	pending_u(&n, path, "l7.max_pending", run->l7.max_pending,
		  file->l7.max_pending);
	format_listen(&run->telemetry, a, sizeof(a));
	format_listen(&file->telemetry, b, sizeof(b));
	if (strcmp(a, b) != 0)
		pending(&n, path, "telemetry.listen", a, b);
	pending_u(&n, path, "telemetry.max_label_sets",
		  run->telemetry.max_label_sets,
		  file->telemetry.max_label_sets);
	if (run->idle.mode != file->idle.mode)
		pending(&n, path, "idle.mode",
			mg_conf_idle_mode_name(run->idle.mode),
			mg_conf_idle_mode_name(file->idle.mode));
	pending_u(&n, path, "idle.max_sleep_us", run->idle.max_sleep_us,
		  file->idle.max_sleep_us);
	pending_u(&n, path, "hash_seed", run->hash_seed, file->hash_seed);
	pending_u(&n, path, "memory_mb", run->memory_mb, file->memory_mb);
	pending_u(&n, path, "recorder.packets", run->recorder.packets,
		  file->recorder.packets);
	if (strcmp(run->recorder.dir, file->recorder.dir) != 0)
		pending(&n, path, "recorder.dir", run->recorder.dir,
			file->recorder.dir);
	if (run->deny_log.enabled != file->deny_log.enabled ||
	    run->deny_log.syslog != file->deny_log.syslog ||
	    strcmp(run->deny_log.file, file->deny_log.file) != 0 ||
	    run->deny_log.rate != file->deny_log.rate ||
	    run->deny_log.burst != file->deny_log.burst)
		differ(&n, path, "deny_log settings");
	return n;
}

int
mg_dataplane_reload(struct mg_dataplane *dp, const struct mg_conf *conf,
		    unsigned int qsbr_id)
{
	struct mg_ruleset *fresh, *old;

	/* make before break: the new set holds the SAs that stay (and the
	 * inbound ones that linger) before the old one lets them go */
	fresh = build_ruleset(dp, conf, mg_ruleset_esp(dp->ruleset));
	if (fresh == NULL)
		return -1;
	old = __atomic_exchange_n(&dp->ruleset, fresh, __ATOMIC_ACQ_REL);
	__atomic_store_n(&dp->syn_cookies, conf->flows.syn_cookies,
			 __ATOMIC_RELAXED);
	if (dp->esp != NULL)
		mg_esp_publish(dp->esp, mg_ruleset_esp(fresh));
	/* every worker has passed a quiescent point after the swap: none
	 * can still hold the old ruleset */
	rte_rcu_qsbr_synchronize(dp->qsv, qsbr_id);
	MG_TSAN_ACQUIRE(dp->qsv); /* the workers' quiescent reports */
	mg_ruleset_free(old);
	/* no worker reports under the old versions and caps any more */
	mg_ruleset_health_sync(fresh, rte_rdtsc());
	set_backend_labels(dp, conf);
	set_limit_labels(dp, conf, fresh);
	return 0;
}
