/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Canary auto-rollback. Every second the control plane sums, per
 * tracked version and for its service's stable versions (weight > 0, no
 * rollback of their own), the HTTP responses (5xx are errors) of every
 * caller's label set and the connect failures the workers count, keeps
 * the running totals of the last window_s seconds in a ring, and runs a
 * one-sided two-proportion z-test of
 *
 *   H0: p_canary - p_stable <= max_error_ratio
 *
 * with z = (e_c/n_c - e_s/n_s - max_error_ratio) / se, se from the two
 * binomial variances (each proportion smoothed as (e + 0.5) / (n + 1)
 * so that a window of no errors has a variance), rejecting H0 when
 * z > MG_ROLLBACK_Z = 6 (one-sided alpha 1e-9 under the normal
 * approximation) once n_c >= min_requests. A rejection sets the
 * version's weight to 0 in the config in force, which is published as
 * a new ruleset: established connections keep their version.
 */

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_telemetry.h>

#include "meshgate.h"
#include "rollback.h"

#define MAX_SLOTS 4096 /* label sets of one version (callers) */

struct totals {
	uint64_t n_c, e_c, n_s, e_s;
};

struct tracked {
	uint16_t service;
	uint8_t version;
	uint8_t n_stable;
	uint8_t stable[MG_CONF_MAX_VERSIONS];
	char service_name[MG_CONF_NAME_LEN];
	char version_name[MG_CONF_NAME_LEN];
	struct mg_rollback_conf rb;
	struct totals *ring; /* window_s + 1 running totals */
	uint32_t head, filled;
	struct totals window; /* the last window's */
	double z;
	bool rolled_back;
	char why[RTE_TEL_MAX_STRING_LEN];
};

struct mg_rollback {
	pthread_mutex_t lock; /* the tracked list, against telemetry */
	const uint64_t *conn_errors;
	unsigned int n_workers;
	uint32_t n_sets;
	unsigned int n;
	struct tracked *t;
	uint32_t *slots;
};

static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mg_rollback *registered;

static int rolled_back_gauges(void *arg, mg_telemetry_canary_emit emit,
			      void *ctx);

struct mg_rollback *
mg_rollback_create(const uint64_t *conn_errors, unsigned int n_workers,
		   uint32_t n_sets)
{
	struct mg_rollback *rb = calloc(1, sizeof(*rb));

	if (rb == NULL ||
	    (rb->slots = calloc(MAX_SLOTS, sizeof(*rb->slots))) == NULL) {
		free(rb);
		MG_LOG(ERR, "canary rollback: out of memory");
		return NULL;
	}
	pthread_mutex_init(&rb->lock, NULL);
	rb->conn_errors = conn_errors;
	rb->n_workers = n_workers;
	rb->n_sets = n_sets;
	pthread_mutex_lock(&registered_lock);
	registered = rb;
	pthread_mutex_unlock(&registered_lock);
	mg_telemetry_set_canary_fn(rolled_back_gauges, rb);
	return rb;
}

static void
clear(struct mg_rollback *rb)
{
	unsigned int i;

	for (i = 0; i < rb->n; i++)
		free(rb->t[i].ring);
	free(rb->t);
	rb->t = NULL;
	rb->n = 0;
}

void
mg_rollback_free(struct mg_rollback *rb)
{
	if (rb == NULL)
		return;
	mg_telemetry_set_canary_fn(NULL, NULL);
	pthread_mutex_lock(&registered_lock);
	registered = NULL;
	pthread_mutex_unlock(&registered_lock);
	clear(rb);
	free(rb->slots);
	pthread_mutex_destroy(&rb->lock);
	free(rb);
}

int
mg_rollback_reset(struct mg_rollback *rb, const struct mg_conf *conf)
{
	unsigned int s, v, k, n = 0;
	struct tracked *t;

	pthread_mutex_lock(&rb->lock);
	clear(rb);
	for (s = 0; s < conf->n_services; s++)
		for (v = 0; v < conf->services[s].n_versions; v++)
			n += conf->services[s].versions[v].rollback.enabled;
	rb->t = calloc(RTE_MAX(n, 1u), sizeof(*rb->t));
	if (rb->t == NULL) {
		pthread_mutex_unlock(&rb->lock);
		return -ENOMEM;
	}
	for (s = 0; s < conf->n_services; s++) {
		const struct mg_service_conf *svc = &conf->services[s];

		for (v = 0; v < svc->n_versions; v++) {
			if (!svc->versions[v].rollback.enabled)
				continue;
			t = &rb->t[rb->n];
			t->service = (uint16_t)s;
			t->version = (uint8_t)v;
			t->rb = svc->versions[v].rollback;
			snprintf(t->service_name, sizeof(t->service_name), "%s",
				 svc->name);
			snprintf(t->version_name, sizeof(t->version_name), "%s",
				 svc->versions[v].name);
			for (k = 0; k < svc->n_versions; k++)
				if (svc->versions[k].weight > 0 &&
				    !svc->versions[k].rollback.enabled)
					t->stable[t->n_stable++] = (uint8_t)k;
			t->ring = calloc(t->rb.window_s + 1, sizeof(*t->ring));
			if (t->ring == NULL) {
				rb->n++;
				clear(rb);
				pthread_mutex_unlock(&rb->lock);
				return -ENOMEM;
			}
			rb->n++;
		}
	}
	pthread_mutex_unlock(&rb->lock);
	return 0;
}

/* Running totals of one version: responses (5xx errors) and connect
 * failures of every caller's label set. */
static void
version_totals(struct mg_rollback *rb, const struct mg_ruleset *rs,
	       uint16_t service, uint8_t version, uint64_t *n, uint64_t *e)
{
	unsigned int i, w, k, c;
	struct mg_tel_set_sum sum;
	uint64_t ce;

	k = mg_ruleset_version_labels(rs, service, version, rb->slots,
				      MAX_SLOTS);
	for (i = 0; i < k; i++) {
		if (mg_telemetry_set_read(rb->slots[i], &sum) != 0)
			continue;
		for (c = 0; c < MG_TEL_CLASS_MAX; c++)
			*n += sum.requests[c];
		*e += sum.requests[MG_TEL_5XX];
		for (w = 0; w < rb->n_workers && rb->slots[i] < rb->n_sets;
		     w++) {
			ce = __atomic_load_n(
				&rb->conn_errors[(size_t)w * rb->n_sets +
						 rb->slots[i]],
				__ATOMIC_RELAXED);
			*n += ce;
			*e += ce;
		}
	}
}

static double
variance(uint64_t e, uint64_t n)
{
	double p = ((double)e + 0.5) / ((double)n + 1.0);

	return n == 0 ? 0 : p * (1 - p) / (double)n;
}

/* The test on the last window; true to roll back. */
static bool
judge(struct tracked *t)
{
	const struct totals *w = &t->window;
	double pc, ps, se;

	if (w->n_c < t->rb.min_requests || w->n_c == 0)
		return false;
	pc = (double)w->e_c / (double)w->n_c;
	ps = w->n_s == 0 ? 0 : (double)w->e_s / (double)w->n_s;
	se = sqrt(variance(w->e_c, w->n_c) + variance(w->e_s, w->n_s));
	t->z = (pc - ps - t->rb.max_error_ratio) / se;
	if (t->z <= MG_ROLLBACK_Z)
		return false;
	snprintf(t->why, sizeof(t->why),
		 "errors %.3f (%" PRIu64 "/%" PRIu64
		 ") vs stable %.3f (%" PRIu64 "/%" PRIu64
		 ") in %u s: z %.1f > %.1f",
		 pc, w->e_c, w->n_c, ps, w->e_s, w->n_s, t->rb.window_s, t->z,
		 MG_ROLLBACK_Z);
	return true;
}

bool
mg_rollback_tick(struct mg_rollback *rb, const struct mg_ruleset *rs)
{
	struct totals now, *then;
	bool any = false;
	unsigned int i, k, back;
	struct tracked *t;

	pthread_mutex_lock(&rb->lock);
	for (i = 0; i < rb->n; i++) {
		t = &rb->t[i];
		if (t->rolled_back)
			continue;
		memset(&now, 0, sizeof(now));
		version_totals(rb, rs, t->service, t->version, &now.n_c,
			       &now.e_c);
		for (k = 0; k < t->n_stable; k++)
			version_totals(rb, rs, t->service, t->stable[k],
				       &now.n_s, &now.e_s);
		t->ring[t->head] = now;
		if (t->filled < t->rb.window_s + 1)
			t->filled++;
		back = t->filled - 1; /* at most window_s seconds back */
		then = &t->ring[(t->head + t->rb.window_s + 1 - back) %
				(t->rb.window_s + 1)];
		t->head = (t->head + 1) % (t->rb.window_s + 1);
		t->window = (struct totals){ now.n_c - then->n_c,
					     now.e_c - then->e_c,
					     now.n_s - then->n_s,
					     now.e_s - then->e_s };
		if (!judge(t))
			continue;
		t->rolled_back = true;
		any = true;
		MG_LOG(WARNING,
		       "canary %s/%s rolled back (weight 0 until a reload): %s",
		       t->service_name, t->version_name, t->why);
	}
	pthread_mutex_unlock(&rb->lock);
	return any;
}

void
mg_rollback_apply(const struct mg_rollback *rb, struct mg_conf *conf)
{
	unsigned int i;

	for (i = 0; i < rb->n; i++)
		if (rb->t[i].rolled_back &&
		    rb->t[i].service < conf->n_services &&
		    rb->t[i].version <
			    conf->services[rb->t[i].service].n_versions)
			conf->services[rb->t[i].service]
				.versions[rb->t[i].version]
				.weight = 0;
}

/* ---- telemetry: meshgate_canary_rolled_back, /meshgate/canary */

static int
rolled_back_gauges(void *arg, mg_telemetry_canary_emit emit, void *ctx)
{
	struct mg_rollback *rb = arg;
	unsigned int i;
	int rc = 0;

	pthread_mutex_lock(&rb->lock);
	for (i = 0; i < rb->n && rc == 0; i++)
		rc = emit(ctx, rb->t[i].service_name, rb->t[i].version_name,
			  rb->t[i].rolled_back);
	pthread_mutex_unlock(&rb->lock);
	return rc;
}

static int
handle_canary(const char *cmd __rte_unused, const char *params,
	      struct rte_tel_data *d)
{
	struct rte_tel_data *v;
	const struct tracked *t;
	char key[2 * MG_CONF_NAME_LEN + 2];
	unsigned int i;

	if (params != NULL && params[0] != '\0')
		return -EINVAL;
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&registered_lock);
	if (registered != NULL) {
		pthread_mutex_lock(&registered->lock);
		for (i = 0; i < registered->n; i++) {
			t = &registered->t[i];
			v = rte_tel_data_alloc();
			if (v == NULL)
				break;
			rte_tel_data_start_dict(v);
			rte_tel_data_add_dict_u64(v, "rolled_back",
						  t->rolled_back);
			rte_tel_data_add_dict_u64(v, "window_requests",
						  t->window.n_c);
			rte_tel_data_add_dict_u64(v, "window_errors",
						  t->window.e_c);
			rte_tel_data_add_dict_u64(v, "stable_requests",
						  t->window.n_s);
			rte_tel_data_add_dict_u64(v, "stable_errors",
						  t->window.e_s);
			rte_tel_data_add_dict_string(
				v, "why", t->rolled_back ? t->why : "");
			snprintf(key, sizeof(key), "%s/%s", t->service_name,
				 t->version_name);
			rte_tel_data_add_dict_container(d, key, v, 0);
		}
		pthread_mutex_unlock(&registered->lock);
	}
	pthread_mutex_unlock(&registered_lock);
	return 0;
}

/* help strings: fewer than RTE_TEL_MAX_STRING_LEN characters */
RTE_INIT(rollback_telemetry)
{
	rte_telemetry_register_cmd(
		"/meshgate/canary", handle_canary,
		"Canary rollback per service/version: rolled_back, window "
		"counts, why. No parameters.");
}
