/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Per-lcore counter blocks and arrays, the label-set registry's public
 * face, histogram layouts and the readers' sums.
 */

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include "mg_http.h"
#include "tel_private.h"

RTE_LOG_REGISTER(mg_telemetry_logtype, mg.telemetry, INFO);

#define MAX_SLOTS (1u << 24)

static struct mg_lcore_stats lcore_stats[RTE_MAX_LCORE];
static uint8_t lcore_role[RTE_MAX_LCORE];

/*
 * Everything below is guarded by @c lock: writers are the control plane
 * (configure, fini, claim, registrations, callbacks); readers are the
 * renderers (telemetry socket, Prometheus). Workers never take it.
 */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct tel_registry *registry;
static void *lcore_arrays[RTE_MAX_LCORE];
static unsigned int claimed[RTE_MAX_LCORE]; /* lcores with arrays */
static unsigned int n_claimed;
static size_t arrays_bytes; /* per lcore, 0 when not configured */
static size_t off_dests, off_rules;
static mg_telemetry_flows_fn flows_fn;
static void *flows_arg;
static mg_telemetry_backends_fn backends_fn;
static mg_telemetry_limits_fn limits_fn;
static void *limits_arg;
static mg_telemetry_shadow_fn shadow_fn;
static void *shadow_arg;
static mg_telemetry_canary_fn canary_fn;
static void *canary_arg;
static void *backends_arg;
static mg_telemetry_ports_fn ports_fn;
static void *ports_arg;
static mg_telemetry_esp_fn esp_fn;
static void *esp_arg;
static struct mg_telemetry_config config;
static bool config_set;

/* telemetry.naming, and the namespace of each caller [0] and service
 * [1] name: written under the write lock, read by the renderers under
 * the read lock */
static enum mg_tel_naming naming;
static struct tel_names {
	unsigned int n;
	char **name;
	char **ns;
} ns_of[2];

static void names_free(struct tel_names *t);

/* Bucket bounds in cycles; read by workers, written only while none
 * runs (the first time the TSC rate is known). */
static struct mg_tel_bounds bounds[2]; /* duration, latency */
static uint64_t bounds_hz;
static bool bounds_done;

static const uint64_t duration_ns[] = {
	50000,	   100000,     250000,	   500000,     1000000,	    2500000,
	5000000,   10000000,   25000000,   50000000,   100000000,   250000000,
	500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
static const char *const duration_le[] = {
	"0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
	"0.005",   "0.01",   "0.025",	"0.05",	  "0.1",   "0.25",
	"0.5",	   "1",	     "2.5",	"5",	  "10",	   "+Inf",
};
static const char *const duration_key[] = {
	"le_50us",   "le_100us", "le_250us", "le_500us", "le_1ms",
	"le_2500us", "le_5ms",	 "le_10ms",  "le_25ms",	 "le_50ms",
	"le_100ms",  "le_250ms", "le_500ms", "le_1s",	 "le_2500ms",
	"le_5s",     "le_10s",	 "le_inf",
};
static const uint64_t latency_ns[] = {
	1000,	2500,	5000,	 10000,	  25000,   50000,    100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const latency_le[] = {
	"0.000001", "0.0000025", "0.000005", "0.00001", "0.000025",
	"0.00005",  "0.0001",	 "0.00025",  "0.0005",	"0.001",
	"0.0025",   "0.005",	 "0.01",     "+Inf",
};
static const char *const latency_key[] = {
	"le_1us",    "le_2500ns", "le_5us",   "le_10us",  "le_25us",
	"le_50us",   "le_100us",  "le_250us", "le_500us", "le_1ms",
	"le_2500us", "le_5ms",	  "le_10ms",  "le_inf",
};

static_assert(RTE_DIM(duration_ns) + 1 == MG_TEL_DURATION_BUCKETS &&
		      RTE_DIM(duration_le) == MG_TEL_DURATION_BUCKETS &&
		      RTE_DIM(duration_key) == MG_TEL_DURATION_BUCKETS,
	      "duration buckets");
static_assert(RTE_DIM(latency_ns) + 1 == MG_TEL_LATENCY_BUCKETS &&
		      RTE_DIM(latency_le) == MG_TEL_LATENCY_BUCKETS &&
		      RTE_DIM(latency_key) == MG_TEL_LATENCY_BUCKETS,
	      "latency buckets");

static const struct tel_hist_def hist_defs[TEL_HIST_MAX] = {
	[TEL_HIST_REQUEST] = { "request_duration", MG_TEL_DURATION_BUCKETS,
			       duration_ns, duration_le, duration_key },
	[TEL_HIST_HANDSHAKE] = { "handshake_duration", MG_TEL_DURATION_BUCKETS,
				 duration_ns, duration_le, duration_key },
	[TEL_HIST_LATENCY] = { "processing_latency", MG_TEL_LATENCY_BUCKETS,
			       latency_ns, latency_le, latency_key },
};

static const char *const role_names[] = {
	[MG_LCORE_UNUSED] = "unused",
	[MG_LCORE_WORKER] = "worker",
	[MG_LCORE_MAIN_WORKER] = "main-worker",
};

const char *
mg_lcore_role_name(enum mg_lcore_role role)
{
	if ((unsigned int)role >= RTE_DIM(role_names))
		return "invalid";
	return role_names[role];
}

const struct tel_hist_def *
tel_hist_def(enum tel_hist h)
{
	return &hist_defs[h];
}

int
tel_hist_by_name(const char *name)
{
	int h;

	for (h = 0; h < TEL_HIST_MAX; h++)
		if (name != NULL && strcmp(name, hist_defs[h].name) == 0)
			return h;
	return -1;
}

/* le[i] = floor(bound * hz): c cycles are <= bound seconds exactly when
 * c <= le[i]. Without a TSC rate every bound is UINT64_MAX. */
static void
bounds_fill(struct mg_tel_bounds *b, const uint64_t *ns, unsigned int n,
	    uint64_t hz)
{
	unsigned int i, len;

	for (i = 0; i < RTE_DIM(b->le); i++)
		b->le[i] = i < n && hz != 0
				   ? (uint64_t)((unsigned __int128)ns[i] * hz /
						NS_PER_S)
				   : UINT64_MAX;
	/* an observation of bit length len is >= 2^(len - 1): no bucket
	 * below that can hold it (len 0 and 1 start from 0) */
	for (len = 0; len < RTE_DIM(b->first); len++) {
		uint64_t lo = len <= 1 ? 0 : UINT64_C(1) << (len - 1);

		for (i = 0; b->le[i] < lo; i++)
			;
		b->first[len] = (uint8_t)i;
	}
}

/* Write lock held. */
static void
bounds_setup(void)
{
	uint64_t hz = rte_get_tsc_hz();

	if (bounds_done && (hz == 0 || hz == bounds_hz))
		return;
	bounds_fill(&bounds[0], duration_ns, RTE_DIM(duration_ns), hz);
	bounds_fill(&bounds[1], latency_ns, RTE_DIM(latency_ns), hz);
	bounds_hz = hz;
	bounds_done = true;
}

uint64_t
tel_tsc_hz(void)
{
	return bounds_hz;
}

void
tel_read_lock(void)
{
	pthread_rwlock_rdlock(&lock);
}

void
tel_read_unlock(void)
{
	pthread_rwlock_unlock(&lock);
}

const struct tel_registry *
tel_registry(void)
{
	return registry;
}

static bool
sizes_ok(uint32_t max_label_sets, uint32_t max_dests, uint32_t max_rules)
{
	return max_label_sets >= 2 && max_label_sets <= MAX_SLOTS &&
	       max_dests >= 2 && max_dests <= MAX_SLOTS && max_rules >= 2 &&
	       max_rules <= MAX_SLOTS;
}

/* The per-lcore arrays: label sets, then destinations, then rules, each
 * starting on a cache line. */
static size_t
arrays_layout(uint32_t max_label_sets, uint32_t max_dests, uint32_t max_rules,
	      size_t *dests_at, size_t *rules_at)
{
	*dests_at = RTE_ALIGN_CEIL(max_label_sets * sizeof(struct mg_tel_set),
				   RTE_CACHE_LINE_SIZE);
	*rules_at = *dests_at +
		    RTE_ALIGN_CEIL(max_dests * sizeof(struct mg_tel_dest),
				   RTE_CACHE_LINE_SIZE);
	return *rules_at +
	       RTE_ALIGN_CEIL(max_rules * sizeof(struct mg_tel_rule),
			      RTE_CACHE_LINE_SIZE);
}

size_t
mg_telemetry_lcore_bytes_for(uint32_t max_label_sets, uint32_t max_dests,
			     uint32_t max_rules)
{
	size_t d, r;

	if (!sizes_ok(max_label_sets, max_dests, max_rules))
		return 0;
	return arrays_layout(max_label_sets, max_dests, max_rules, &d, &r);
}

int
mg_telemetry_configure(uint32_t max_label_sets, uint32_t max_dests,
		       uint32_t max_rules)
{
	struct tel_registry *r;

	if (!sizes_ok(max_label_sets, max_dests, max_rules))
		return -EINVAL;
	pthread_rwlock_wrlock(&lock);
	if (registry != NULL) {
		pthread_rwlock_unlock(&lock);
		return -EALREADY;
	}
	r = tel_registry_create(max_label_sets, max_dests, max_rules);
	if (r == NULL) {
		pthread_rwlock_unlock(&lock);
		return -ENOMEM;
	}
	arrays_bytes = arrays_layout(max_label_sets, max_dests, max_rules,
				     &off_dests, &off_rules);
	registry = r;
	bounds_setup();
	pthread_rwlock_unlock(&lock);
	TEL_LOG(INFO,
		"%u label sets, %u destinations, %u rules: %zu bytes per "
		"lcore",
		max_label_sets, max_dests, max_rules, arrays_bytes);
	return 0;
}

void
mg_telemetry_fini(void)
{
	unsigned int i;

	pthread_rwlock_wrlock(&lock);
	for (i = 0; i < RTE_MAX_LCORE; i++) {
		__atomic_store_n(&lcore_role[i], MG_LCORE_UNUSED,
				 __ATOMIC_RELEASE);
		memset(&lcore_stats[i], 0, sizeof(lcore_stats[i]));
		rte_free(lcore_arrays[i]);
		lcore_arrays[i] = NULL;
	}
	n_claimed = 0;
	config_set = false;
	names_free(&ns_of[0]);
	names_free(&ns_of[1]);
	naming = MG_TEL_NAMING_MESHGATE;
	tel_registry_free(registry);
	registry = NULL;
	arrays_bytes = 0;
	off_dests = 0;
	off_rules = 0;
	pthread_rwlock_unlock(&lock);
}

static bool
name_ok(const char *s)
{
	return s != NULL && *s != '\0';
}

int
mg_telemetry_labelset(const char *identity, const char *service,
		      const char *version)
{
	int slot;

	if (!name_ok(identity) || !name_ok(service) || !name_ok(version))
		return -EINVAL;
	pthread_rwlock_wrlock(&lock);
	slot = registry == NULL ? -ENODEV
				: tel_registry_labelset(registry, identity,
							service, version);
	pthread_rwlock_unlock(&lock);
	return slot;
}

int
mg_telemetry_rule(const char *name)
{
	int slot;

	if (!name_ok(name))
		return -EINVAL;
	pthread_rwlock_wrlock(&lock);
	slot = registry == NULL ? -ENODEV : tel_registry_rule(registry, name);
	pthread_rwlock_unlock(&lock);
	return slot;
}

size_t
tel_memory_locked(void)
{
	size_t bytes = sizeof(lcore_stats) + sizeof(lcore_role);

	if (registry != NULL)
		bytes += registry->bytes + n_claimed * arrays_bytes;
	return bytes;
}

size_t
mg_telemetry_memory(void)
{
	size_t bytes;

	tel_read_lock();
	bytes = tel_memory_locked();
	tel_read_unlock();
	return bytes;
}

size_t
mg_telemetry_lcore_bytes(void)
{
	size_t bytes;

	tel_read_lock();
	bytes = arrays_bytes;
	tel_read_unlock();
	return bytes;
}

/* Write lock held: the lcore's arrays, allocated or zeroed. */
static void *
claim_arrays(unsigned int lcore_id)
{
	void *a = lcore_arrays[lcore_id];
	int socket;

	if (a != NULL) {
		memset(a, 0, arrays_bytes);
		return a;
	}
	socket = (int)rte_lcore_to_socket_id(lcore_id);
	a = rte_zmalloc_socket("mg_telemetry", arrays_bytes,
			       RTE_CACHE_LINE_SIZE, socket);
	if (a == NULL) /* no memory on that socket: anywhere is better */
		a = rte_zmalloc_socket("mg_telemetry", arrays_bytes,
				       RTE_CACHE_LINE_SIZE, SOCKET_ID_ANY);
	if (a == NULL)
		return NULL;
	lcore_arrays[lcore_id] = a;
	claimed[n_claimed++] = lcore_id;
	return a;
}

struct mg_lcore_stats *
mg_telemetry_lcore_claim(unsigned int lcore_id, enum mg_lcore_role role)
{
	struct mg_lcore_stats *s;
	uint8_t *a = NULL;

	if (lcore_id >= RTE_MAX_LCORE || role == MG_LCORE_UNUSED ||
	    (unsigned int)role >= RTE_DIM(role_names)) {
		rte_errno = EINVAL;
		return NULL;
	}
	pthread_rwlock_wrlock(&lock);
	bounds_setup();
	if (registry != NULL) {
		a = claim_arrays(lcore_id);
		if (a == NULL) {
			pthread_rwlock_unlock(&lock);
			TEL_LOG(ERR, "lcore %u: no memory for %zu bytes",
				lcore_id, arrays_bytes);
			rte_errno = ENOMEM;
			return NULL;
		}
	}
	s = &lcore_stats[lcore_id];
	memset(s, 0, sizeof(*s));
	s->dur = &bounds[0];
	s->lat = &bounds[1];
	if (a != NULL) {
		s->sets = (struct mg_tel_set *)a;
		s->dests = (struct mg_tel_dest *)(a + off_dests);
		s->rules = (struct mg_tel_rule *)(a + off_rules);
		s->dest_of = registry->dest_of;
		s->n_sets = registry->max[TEL_KIND_SET];
		s->n_rules = registry->max[TEL_KIND_RULE];
	}
	s->claim_tsc = rte_rdtsc();
	__atomic_store_n(&lcore_role[lcore_id], role, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&lock);
	return s;
}

enum mg_lcore_role
mg_telemetry_lcore_role(unsigned int lcore_id)
{
	if (lcore_id >= RTE_MAX_LCORE)
		return MG_LCORE_UNUSED;
	return __atomic_load_n(&lcore_role[lcore_id], __ATOMIC_ACQUIRE);
}

const struct mg_lcore_stats *
tel_lcore(unsigned int lcore_id)
{
	if (mg_telemetry_lcore_role(lcore_id) == MG_LCORE_UNUSED)
		return NULL;
	return &lcore_stats[lcore_id];
}

/* Adds one lcore's block into @p out. */
static void
accumulate(unsigned int lcore_id, struct mg_stats_sum *out)
{
	const struct mg_lcore_stats *s = &lcore_stats[lcore_id];
	unsigned int r;

	out->rx += tel_load(&s->rx);
	out->tx += tel_load(&s->tx);
	out->busy_polls += tel_load(&s->busy_polls);
	out->idle_polls += tel_load(&s->idle_polls);
	out->busy_cycles += tel_load(&s->busy_cycles);
	out->local += tel_load(&s->local);
	out->flows_created += tel_load(&s->flows_created);
	out->dry_run_denied += tel_load(&s->dry_run_denied);
	out->neigh_conflicts += tel_load(&s->neigh_conflicts);
	out->idle_wait_cycles += tel_load(&s->idle_wait_cycles);
	out->stall_max_cycles =
		RTE_MAX(out->stall_max_cycles, tel_load(&s->stall_max_cycles));
	out->reload_stall_max_cycles =
		RTE_MAX(out->reload_stall_max_cycles,
			tel_load(&s->reload_stall_max_cycles));
	out->deny_replies += tel_load(&s->deny_replies);
	out->deny_replies_suppressed += tel_load(&s->deny_replies_suppressed);
	out->syn_cookies_sent += tel_load(&s->syn_cookies_sent);
	out->syn_cookies_valid += tel_load(&s->syn_cookies_valid);
	for (r = 1; r < MG_DROP_CAPACITY; r++) {
		uint64_t d = tel_load(&s->drops[r]);

		out->drops[r] += d;
		out->drops_total += d;
	}
}

/* Readers take the read lock: mg_telemetry_fini() clears the blocks
 * under the write lock while a telemetry query may still come in. */
void
mg_telemetry_lcore_read(unsigned int lcore_id, struct mg_stats_sum *out)
{
	memset(out, 0, sizeof(*out));
	tel_read_lock();
	if (mg_telemetry_lcore_role(lcore_id) != MG_LCORE_UNUSED)
		accumulate(lcore_id, out);
	tel_read_unlock();
}

void
mg_telemetry_sum(struct mg_stats_sum *out)
{
	unsigned int i;

	memset(out, 0, sizeof(*out));
	tel_read_lock();
	for (i = 0; i < RTE_MAX_LCORE; i++)
		if (mg_telemetry_lcore_role(i) != MG_LCORE_UNUSED)
			accumulate(i, out);
	tel_read_unlock();
}

static uint64_t
hist_add(uint64_t *dst, const uint64_t *bucket, unsigned int n)
{
	uint64_t count = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t v = tel_load(&bucket[i]);

		dst[i] += v;
		count += v;
	}
	return count;
}

void
tel_set_sum(uint32_t slot, struct mg_tel_set_sum *out)
{
	unsigned int c, i;

	memset(out, 0, sizeof(*out));
	for (c = 0; c < n_claimed; c++) {
		const struct mg_tel_set *x =
			&lcore_stats[claimed[c]].sets[slot];

		for (i = 0; i < MG_TEL_DIR_MAX; i++)
			out->bytes[i] += tel_load(&x->bytes[i]);
		for (i = 0; i < MG_TEL_L4_MAX; i++)
			out->opened[i] += tel_load(&x->opened[i]);
		out->closed += tel_load(&x->closed);
		for (i = 0; i < MG_TEL_CLASS_MAX; i++)
			out->requests[i] += tel_load(&x->requests[i]);
		for (i = 0; i < MG_TEL_CODE_MAX; i++)
			out->codes[i] += tel_load(&x->codes[i]);
		out->duration_count += hist_add(out->duration_bucket,
						x->request_duration.bucket,
						MG_TEL_DURATION_BUCKETS);
		out->duration_sum += tel_load(&x->request_duration.sum);
		for (i = 0; i < MG_TEL_DIR_MAX; i++) {
			out->size_count[i] +=
				hist_add(out->size_bucket[i], x->size[i].bucket,
					 MG_TEL_SIZE_BUCKETS);
			out->size_sum[i] += tel_load(&x->size[i].sum);
		}
	}
}

void
tel_set_add(struct mg_tel_set_sum *a, const struct mg_tel_set_sum *b)
{
	unsigned int d, i;

	for (i = 0; i < MG_TEL_DIR_MAX; i++)
		a->bytes[i] += b->bytes[i];
	for (i = 0; i < MG_TEL_L4_MAX; i++)
		a->opened[i] += b->opened[i];
	a->closed += b->closed;
	for (i = 0; i < MG_TEL_CLASS_MAX; i++)
		a->requests[i] += b->requests[i];
	for (i = 0; i < MG_TEL_CODE_MAX; i++)
		a->codes[i] += b->codes[i];
	for (i = 0; i < MG_TEL_DURATION_BUCKETS; i++)
		a->duration_bucket[i] += b->duration_bucket[i];
	a->duration_sum += b->duration_sum;
	a->duration_count += b->duration_count;
	for (d = 0; d < MG_TEL_DIR_MAX; d++) {
		for (i = 0; i < MG_TEL_SIZE_BUCKETS; i++)
			a->size_bucket[d][i] += b->size_bucket[d][i];
		a->size_sum[d] += b->size_sum[d];
		a->size_count[d] += b->size_count[d];
	}
}

bool
tel_set_active(const struct mg_tel_set_sum *s)
{
	unsigned int i;

	for (i = 0; i < MG_TEL_L4_MAX; i++)
		if (s->opened[i] != 0)
			return true;
	for (i = 0; i < MG_TEL_CLASS_MAX; i++)
		if (s->requests[i] != 0)
			return true;
	return s->bytes[0] != 0 || s->bytes[1] != 0;
}

void
tel_dest_sum(uint32_t dest, uint64_t *bucket, uint64_t *sum)
{
	unsigned int c;

	memset(bucket, 0, MG_TEL_DURATION_BUCKETS * sizeof(*bucket));
	*sum = 0;
	for (c = 0; c < n_claimed; c++) {
		const struct mg_tel_duration *h =
			&lcore_stats[claimed[c]].dests[dest].handshake;

		hist_add(bucket, h->bucket, MG_TEL_DURATION_BUCKETS);
		*sum += tel_load(&h->sum);
	}
}

void
tel_rule_sum(uint32_t rule, uint64_t *decisions)
{
	unsigned int c, i;

	memset(decisions, 0, MG_TEL_DECISION_MAX * sizeof(*decisions));
	for (c = 0; c < n_claimed; c++)
		for (i = 0; i < MG_TEL_DECISION_MAX; i++)
			decisions[i] += tel_load(&lcore_stats[claimed[c]]
							  .rules[rule]
							  .decisions[i]);
}

void
tel_latency_sum(const struct mg_lcore_stats *s, uint64_t *bucket, uint64_t *sum)
{
	hist_add(bucket, s->latency.bucket, MG_TEL_LATENCY_BUCKETS);
	*sum += tel_load(&s->latency.sum);
}

void
tel_hist_total(enum tel_hist h, uint64_t *bucket, uint64_t *sum)
{
	uint64_t b[MG_TEL_DURATION_BUCKETS], s;
	struct mg_tel_set_sum set;
	unsigned int i, n;
	uint32_t slot;

	memset(bucket, 0, MG_TEL_DURATION_BUCKETS * sizeof(*bucket));
	*sum = 0;
	switch (h) {
	case TEL_HIST_REQUEST:
		n = registry != NULL ? registry->n[TEL_KIND_SET] : 0;
		for (slot = 0; slot < n; slot++) {
			tel_set_sum(slot, &set);
			for (i = 0; i < MG_TEL_DURATION_BUCKETS; i++)
				bucket[i] += set.duration_bucket[i];
			*sum += set.duration_sum;
		}
		break;
	case TEL_HIST_HANDSHAKE:
		n = registry != NULL ? registry->n[TEL_KIND_DEST] : 0;
		for (slot = 0; slot < n; slot++) {
			tel_dest_sum(slot, b, &s);
			for (i = 0; i < MG_TEL_DURATION_BUCKETS; i++)
				bucket[i] += b[i];
			*sum += s;
		}
		break;
	default:
		for (i = 0; i < RTE_MAX_LCORE; i++)
			if (tel_lcore(i) != NULL)
				tel_latency_sum(&lcore_stats[i], bucket, sum);
		break;
	}
}

int
mg_telemetry_set_read(uint32_t slot, struct mg_tel_set_sum *out)
{
	int rc = 0;

	tel_read_lock();
	if (registry == NULL || slot >= registry->n[TEL_KIND_SET])
		rc = -ENOENT;
	else
		tel_set_sum(slot, out);
	tel_read_unlock();
	return rc;
}

int
mg_telemetry_hist_read(const char *which, uint64_t *bucket, uint64_t *sum)
{
	int h = tel_hist_by_name(which);

	if (h < 0 || bucket == NULL || sum == NULL)
		return -EINVAL;
	tel_read_lock();
	tel_hist_total(h, bucket, sum);
	tel_read_unlock();
	return (int)hist_defs[h].n_bucket;
}

int
mg_telemetry_hist_bound(const char *which, unsigned int i, double *seconds,
			uint64_t *cycles)
{
	int h = tel_hist_by_name(which);
	unsigned int last;

	if (h < 0 || i >= hist_defs[h].n_bucket)
		return -EINVAL;
	last = hist_defs[h].n_bucket - 1;
	if (seconds != NULL)
		*seconds = i == last ? INFINITY
				     : (double)hist_defs[h].bound_ns[i] / 1e9;
	if (cycles != NULL)
		*cycles = bounds[h == TEL_HIST_LATENCY].le[i];
	return 0;
}

void
mg_telemetry_set_flows_fn(mg_telemetry_flows_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lock);
	flows_fn = fn;
	flows_arg = arg;
	pthread_rwlock_unlock(&lock);
}

void
mg_telemetry_set_backends_fn(mg_telemetry_backends_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lock);
	backends_fn = fn;
	backends_arg = arg;
	pthread_rwlock_unlock(&lock);
}

int
tel_flows(struct mg_telemetry_flows *out)
{
	int rc;

	if (flows_fn == NULL)
		return -ENOTSUP;
	memset(out, 0, sizeof(*out));
	rc = flows_fn(flows_arg, out);
	if (rc == 0 && out->n_states > MG_TELEMETRY_MAX_STATES)
		out->n_states = MG_TELEMETRY_MAX_STATES;
	if (rc == 0) {
		struct mg_stats_sum s;

		out->half_open_peak = mg_telemetry_half_open_peak();
		mg_telemetry_sum(&s);
		out->syn_cookies_sent = s.syn_cookies_sent;
		out->syn_cookies_valid = s.syn_cookies_valid;
	}
	return rc;
}

void
mg_telemetry_set_limits_fn(mg_telemetry_limits_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lock);
	limits_fn = fn;
	limits_arg = arg;
	pthread_rwlock_unlock(&lock);
}

int
tel_limits(mg_telemetry_limit_emit emit, void *ctx)
{
	if (limits_fn == NULL)
		return -ENOTSUP;
	return limits_fn(limits_arg, emit, ctx);
}

void
mg_telemetry_set_shadow_fn(mg_telemetry_shadow_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lock);
	shadow_fn = fn;
	shadow_arg = arg;
	pthread_rwlock_unlock(&lock);
}

void
mg_telemetry_set_canary_fn(mg_telemetry_canary_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lock);
	canary_fn = fn;
	canary_arg = arg;
	pthread_rwlock_unlock(&lock);
}

int
tel_canary(mg_telemetry_canary_emit emit, void *ctx)
{
	if (canary_fn == NULL)
		return -ENOTSUP;
	return canary_fn(canary_arg, emit, ctx);
}

int
tel_shadow(mg_telemetry_shadow_emit emit, void *ctx)
{
	if (shadow_fn == NULL)
		return -ENOTSUP;
	return shadow_fn(shadow_arg, emit, ctx);
}

uint64_t
mg_telemetry_half_open_peak(void)
{
	uint64_t peak = 0;
	unsigned int c;

	for (c = 0; c < RTE_MAX_LCORE; c++) {
		const struct mg_lcore_stats *s = tel_lcore(c);

		if (s != NULL)
			peak = RTE_MAX(peak, tel_load(&s->half_open_peak));
	}
	return peak;
}

void
mg_telemetry_limit_drops(uint32_t id, uint64_t *drops)
{
	unsigned int c, r;

	memset(drops, 0, MG_TEL_LIMIT_MAX * sizeof(*drops));
	if (id >= MG_TEL_MAX_LIMITS)
		return;
	for (c = 0; c < RTE_MAX_LCORE; c++) {
		const struct mg_lcore_stats *s = tel_lcore(c);

		for (r = 0; s != NULL && r < MG_TEL_LIMIT_MAX; r++)
			drops[r] += tel_load(&s->limit_drops[id][r]);
	}
}

const char *
mg_tel_limit_reason_name(enum mg_tel_limit_reason r)
{
	static const char *const names[MG_TEL_LIMIT_MAX] = {
		[MG_TEL_LIMIT_CONN_RATE] = "rate_limited_conn",
		[MG_TEL_LIMIT_CONNS] = "conn_limit",
		[MG_TEL_LIMIT_PKT_RATE] = "rate_limited_pps",
	};

	return (unsigned int)r < MG_TEL_LIMIT_MAX ? names[r] : "invalid";
}

int
tel_backends(mg_telemetry_backend_emit emit, void *ctx)
{
	if (backends_fn == NULL)
		return -ENOTSUP;
	return backends_fn(backends_arg, emit, ctx);
}

void
mg_telemetry_set_ports_fn(mg_telemetry_ports_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lock);
	ports_fn = fn;
	ports_arg = arg;
	pthread_rwlock_unlock(&lock);
}

void
mg_telemetry_set_esp_fn(mg_telemetry_esp_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lock);
	esp_fn = fn;
	esp_arg = arg;
	pthread_rwlock_unlock(&lock);
}

int
tel_esp(mg_telemetry_esp_emit emit, void *ctx)
{
	if (esp_fn == NULL)
		return -ENOTSUP;
	return esp_fn(esp_arg, emit, ctx);
}

int
tel_ports(struct mg_telemetry_port *out, unsigned int max)
{
	int n;

	if (ports_fn == NULL)
		return -ENOTSUP;
	memset(out, 0, max * sizeof(*out));
	n = ports_fn(ports_arg, out, max);
	return n > (int)max ? (int)max : n;
}

void
mg_telemetry_set_config(const struct mg_telemetry_config *c)
{
	pthread_rwlock_wrlock(&lock);
	config = *c;
	config_set = true;
	pthread_rwlock_unlock(&lock);
}

const struct mg_telemetry_config *
tel_config(void)
{
	return config_set ? &config : NULL;
}

static void
names_free(struct tel_names *t)
{
	unsigned int i;

	for (i = 0; t->name != NULL && t->ns != NULL && i < t->n; i++) {
		free(t->name[i]);
		free(t->ns[i]);
	}
	free(t->name);
	free(t->ns);
	memset(t, 0, sizeof(*t));
}

static int
names_copy(struct tel_names *t, const struct mg_tel_namespace *v,
	   unsigned int n)
{
	unsigned int i;

	t->n = n;
	t->name = calloc(n + 1, sizeof(*t->name));
	t->ns = calloc(n + 1, sizeof(*t->ns));
	if (t->name == NULL || t->ns == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		t->name[i] = strdup(v[i].name);
		t->ns[i] = strdup(v[i].ns);
		if (t->name[i] == NULL || t->ns[i] == NULL)
			goto fail;
	}
	return 0;
fail:
	names_free(t);
	return -ENOMEM;
}

int
mg_telemetry_set_naming(enum mg_tel_naming how,
			const struct mg_tel_namespace *callers,
			unsigned int n_callers,
			const struct mg_tel_namespace *services,
			unsigned int n_services)
{
	struct tel_names fresh[2] = { { 0 }, { 0 } }, old[2];

	if (names_copy(&fresh[0], callers, n_callers) < 0 ||
	    names_copy(&fresh[1], services, n_services) < 0) {
		names_free(&fresh[0]);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&lock);
	memcpy(old, ns_of, sizeof(old));
	memcpy(ns_of, fresh, sizeof(ns_of));
	naming = how;
	pthread_rwlock_unlock(&lock);
	names_free(&old[0]);
	names_free(&old[1]);
	return 0;
}

enum mg_tel_naming
tel_naming(void)
{
	return naming;
}

const char *
tel_namespace(unsigned int kind, const char *name)
{
	const struct tel_names *t = &ns_of[kind & 1];
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->name[i], name) == 0)
			return t->ns[i];
	return "unknown";
}

/* Names ethdev gives every port's first xstats: the basic counters. */
static const char *const generic_xstats[] = {
	"rx_good_packets", "tx_good_packets",		"rx_good_bytes",
	"tx_good_bytes",   "rx_missed_errors",		"rx_errors",
	"tx_errors",	   "rx_mbuf_allocation_errors",
};

/* Parts of a name that say something was lost or went wrong. */
static const char *const interesting_words[] = {
	"error",   "missed", "drop",	      "discard",
	"no_mbuf", "nombuf", "out_of_buffer", "no_dma",
};

/* "rx_q<digits>_" or "tx_q<digits>_": ethdev's per-queue copies. */
static bool
per_queue(const char *name)
{
	const char *p = name + 4;

	if ((strncmp(name, "rx_q", 4) != 0 && strncmp(name, "tx_q", 4) != 0) ||
	    *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '_';
}

bool
mg_telemetry_xstat_of_interest(const char *name)
{
	unsigned int i;

	if (name == NULL || per_queue(name))
		return false;
	for (i = 0; i < RTE_DIM(generic_xstats); i++)
		if (strcmp(name, generic_xstats[i]) == 0)
			return false;
	for (i = 0; i < RTE_DIM(interesting_words); i++)
		if (strstr(name, interesting_words[i]) != NULL)
			return true;
	return false;
}

int
mg_telemetry_prometheus(char **buf, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f;
	int rc;

	if (buf == NULL || len == NULL)
		return -EINVAL;
	f = open_memstream(&text, &size);
	if (f == NULL)
		return -ENOMEM;
	tel_read_lock();
	rc = tel_prometheus_render(f);
	tel_read_unlock();
	if (fclose(f) != 0 || rc < 0 || text == NULL) {
		free(text);
		return -ENOMEM;
	}
	*buf = text;
	*len = size;
	return 0;
}

int
mg_telemetry_http_status(const void *data, uint32_t len)
{
	return mg_http_status(data, len);
}

int
mg_telemetry_http_status_class(const void *data, uint32_t len)
{
	int code = mg_http_status(data, len);

	return code < 0 ? -1 : code / 100 - 1;
}

bool
mg_telemetry_http_is_request(const void *data, uint32_t len)
{
	return mg_http_is_request(data, len);
}

/* head + Content-Length, -1 when their sum overflows. */
static int64_t
head_plus_body(const struct mg_http_head_info *h)
{
	if (h->length > INT64_MAX - (int64_t)h->head)
		return -1;
	return (int64_t)h->head + h->length;
}

int64_t
mg_telemetry_http_request_size(const void *data, uint32_t len)
{
	struct mg_http_head_info h;

	if (!mg_telemetry_http_is_request(data, len) ||
	    mg_http_head_scan(data, len, &h) < 0 || h.chunked)
		return -1;
	if (h.length < 0)
		return h.head; /* no body */
	return head_plus_body(&h);
}

int64_t
mg_telemetry_http_response_size(const void *data, uint32_t len)
{
	int code = mg_telemetry_http_status(data, len);
	struct mg_http_head_info h;

	if (code < 0 || mg_http_head_scan(data, len, &h) < 0)
		return -1;
	if (code < 200 || code == 204 || code == 304)
		return h.head; /* never a body */
	if (h.chunked || h.length < 0)
		return -1;
	return head_plus_body(&h);
}
