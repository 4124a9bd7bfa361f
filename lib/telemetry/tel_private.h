/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Internals shared by the files of lib/telemetry; not installed. */

#ifndef TEL_PRIVATE_H
#define TEL_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_log.h>

#include "mg_telemetry.h"

extern int mg_telemetry_logtype;

#define TEL_LOG(level, fmt, ...)                                               \
	rte_log(RTE_LOG_##level, mg_telemetry_logtype,                         \
		"mg_telemetry: " fmt "\n", ##__VA_ARGS__)

/* Name of the overflow slots' labels; a name equal to it maps there. */
#define TEL_OVERFLOW_NAME "_overflow_"

/* Registries of names, each with a shared overflow slot 0. */
enum tel_kind {
	TEL_KIND_SET = 0, /* (identity, service, version) */
	TEL_KIND_DEST,	  /* (service, version) */
	TEL_KIND_RULE,	  /* rule name */
	TEL_KIND_MAX
};

/* Open addressing, linear probing, no deletion; holds index + 1. */
struct tel_htab {
	uint32_t *v;
	uint32_t mask;
};

struct tel_set_key {
	uint32_t identity; /* name ids */
	uint32_t service;
	uint32_t version;
};

struct tel_dest_key {
	uint32_t service;
	uint32_t version;
};

/*
 * Append-only registries. Written by one control-plane thread at a time
 * under the write lock; readers hold the read lock. Every array is sized
 * at creation and never moves, so workers may hold dest_of.
 */
struct tel_registry {
	uint32_t max[TEL_KIND_MAX];
	uint32_t n[TEL_KIND_MAX];
	uint64_t overflow[TEL_KIND_MAX]; /* registrations sent to slot 0 */
	struct tel_set_key *sets;
	uint32_t *dest_of; /* [max[SET]]: label set -> destination */
	struct tel_dest_key *dests;
	uint32_t *rule_name; /* name id of each rule */
	char **names;	     /* name id -> string; 0 is the overflow name */
	uint32_t n_names;
	uint32_t max_names;
	struct tel_htab h_names;
	struct tel_htab h[TEL_KIND_MAX];
	size_t bytes; /* everything allocated for the registry */
};

/* tel_registry.c */
struct tel_registry *tel_registry_create(uint32_t max_sets, uint32_t max_dests,
					 uint32_t max_rules);
void tel_registry_free(struct tel_registry *r);
int tel_registry_labelset(struct tel_registry *r, const char *identity,
			  const char *service, const char *version);
int tel_registry_rule(struct tel_registry *r, const char *name);

/* mg_telemetry.c: reader side, for the renderers */
void tel_read_lock(void);
void tel_read_unlock(void);
/* Under the read lock: the registry, NULL when not configured. */
const struct tel_registry *tel_registry(void);
/* A claimed lcore's block, else NULL. */
const struct mg_lcore_stats *tel_lcore(unsigned int lcore_id);
uint64_t tel_tsc_hz(void);
size_t tel_memory_locked(void);
/* Sums over lcores, under the read lock. */
void tel_set_sum(uint32_t slot, struct mg_tel_set_sum *out);
/* Add @p b into @p a, every field. */
void tel_set_add(struct mg_tel_set_sum *a, const struct mg_tel_set_sum *b);
/* Whether a label set carried any traffic (connections, requests,
 * bytes): idle ones are left out of replies. */
bool tel_set_active(const struct mg_tel_set_sum *s);
void tel_dest_sum(uint32_t dest, uint64_t *bucket, uint64_t *sum);
void tel_rule_sum(uint32_t rule, uint64_t *decisions);
void tel_latency_sum(const struct mg_lcore_stats *s, uint64_t *bucket,
		     uint64_t *sum);
int tel_flows(struct mg_telemetry_flows *out);
int tel_backends(mg_telemetry_backend_emit emit, void *ctx);
int tel_limits(mg_telemetry_limit_emit emit, void *ctx);
/* The ESP peers and SAs, or -ENOTSUP when no source is registered. */
int tel_esp(mg_telemetry_esp_emit emit, void *ctx);
int tel_shadow(mg_telemetry_shadow_emit emit, void *ctx);
int tel_canary(mg_telemetry_canary_emit emit, void *ctx);
/* Up to @p max ports (zeroed first); their number, or a negative errno
 * when no source is registered. */
int tel_ports(struct mg_telemetry_port *out, unsigned int max);
/* The configuration's history, NULL until the application sets it. */
const struct mg_telemetry_config *tel_config(void);
/* Under the read lock: telemetry.naming, and the namespace of a caller
 * (kind 0) or service (kind 1) name, "unknown" when none was given. */
enum mg_tel_naming tel_naming(void);
const char *tel_namespace(unsigned int kind, const char *name);

/* Histogram layouts: bounds in seconds and their renderings. */
enum tel_hist {
	TEL_HIST_REQUEST = 0,
	TEL_HIST_HANDSHAKE,
	TEL_HIST_LATENCY,
	TEL_HIST_MAX
};

struct tel_hist_def {
	const char *name;      /* "request_duration", ... */
	unsigned int n_bucket; /* bounds + 1 (+Inf) */
	const uint64_t *bound_ns;
	const char *const *le;	/* Prometheus "le" strings */
	const char *const *key; /* DPDK telemetry keys: "le_50us" */
};

const struct tel_hist_def *tel_hist_def(enum tel_hist h);
int tel_hist_by_name(const char *name);
/* Sum of a histogram over everything it is kept for; read lock held. */
void tel_hist_total(enum tel_hist h, uint64_t *bucket, uint64_t *sum);

/* tel_prometheus.c */
int tel_prometheus_render(FILE *f);

static inline uint64_t
tel_load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

#endif /* TEL_PRIVATE_H */
