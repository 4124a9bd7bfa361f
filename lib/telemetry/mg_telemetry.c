/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Per-lcore counter blocks and the /meshgate/ DPDK telemetry commands. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_telemetry.h>

#include "mg_telemetry.h"

static struct mg_lcore_stats lcore_stats[RTE_MAX_LCORE];
static uint8_t lcore_role[RTE_MAX_LCORE];

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

struct mg_lcore_stats *
mg_telemetry_lcore_claim(unsigned int lcore_id, enum mg_lcore_role role)
{
	if (lcore_id >= RTE_MAX_LCORE || role == MG_LCORE_UNUSED ||
	    (unsigned int)role >= RTE_DIM(role_names)) {
		rte_errno = EINVAL;
		return NULL;
	}
	memset(&lcore_stats[lcore_id], 0, sizeof(lcore_stats[lcore_id]));
	__atomic_store_n(&lcore_role[lcore_id], role, __ATOMIC_RELEASE);
	return &lcore_stats[lcore_id];
}

enum mg_lcore_role
mg_telemetry_lcore_role(unsigned int lcore_id)
{
	if (lcore_id >= RTE_MAX_LCORE)
		return MG_LCORE_UNUSED;
	return __atomic_load_n(&lcore_role[lcore_id], __ATOMIC_ACQUIRE);
}

static inline uint64_t
load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Adds one lcore's block into @p out. */
static void
accumulate(unsigned int lcore_id, struct mg_stats_sum *out)
{
	const struct mg_lcore_stats *s = &lcore_stats[lcore_id];
	unsigned int r;

	out->rx += load(&s->rx);
	out->tx += load(&s->tx);
	out->busy_polls += load(&s->busy_polls);
	out->idle_polls += load(&s->idle_polls);
	out->busy_cycles += load(&s->busy_cycles);
	out->local += load(&s->local);
	out->flows_created += load(&s->flows_created);
	out->dry_run_denied += load(&s->dry_run_denied);
	for (r = 1; r < MG_DROP_MAX; r++) {
		uint64_t d = load(&s->drops[r]);

		out->drops[r] += d;
		out->drops_total += d;
	}
}

void
mg_telemetry_lcore_read(unsigned int lcore_id, struct mg_stats_sum *out)
{
	memset(out, 0, sizeof(*out));
	if (mg_telemetry_lcore_role(lcore_id) != MG_LCORE_UNUSED)
		accumulate(lcore_id, out);
}

void
mg_telemetry_sum(struct mg_stats_sum *out)
{
	unsigned int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < RTE_MAX_LCORE; i++)
		if (mg_telemetry_lcore_role(i) != MG_LCORE_UNUSED)
			accumulate(i, out);
}

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
}

static void
add_drops(struct rte_tel_data *d, const struct mg_stats_sum *s)
{
	unsigned int r;

	for (r = 1; r < MG_DROP_MAX; r++)
		rte_tel_data_add_dict_u64(d, mg_drop_reason_name(r),
					  s->drops[r]);
}

static int
handle_drops(const char *cmd __rte_unused, const char *params,
	     struct rte_tel_data *d)
{
	struct mg_stats_sum s;

	if (params != NULL && *params != '\0')
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

	if (params != NULL && *params != '\0')
		return -EINVAL;
	drops = rte_tel_data_alloc();
	if (drops == NULL)
		return -ENOMEM;
	mg_telemetry_sum(&s);
	rte_tel_data_start_dict(d);
	add_totals(d, &s);
	rte_tel_data_start_dict(drops);
	add_drops(drops, &s);
	rte_tel_data_add_dict_container(d, "drops", drops, 0);
	return 0;
}

static int
handle_lcores(const char *cmd __rte_unused, const char *params,
	      struct rte_tel_data *d)
{
	unsigned int i;

	if (params != NULL && *params != '\0')
		return -EINVAL;
	rte_tel_data_start_dict(d);
	for (i = 0; i < RTE_MAX_LCORE; i++) {
		enum mg_lcore_role role = mg_telemetry_lcore_role(i);
		struct rte_tel_data *l;
		struct mg_stats_sum s;
		char name[16];

		if (role == MG_LCORE_UNUSED)
			continue;
		l = rte_tel_data_alloc();
		if (l == NULL)
			return -ENOMEM;
		mg_telemetry_lcore_read(i, &s);
		rte_tel_data_start_dict(l);
		rte_tel_data_add_dict_string(l, "role",
					     mg_lcore_role_name(role));
		add_totals(l, &s);
		snprintf(name, sizeof(name), "%u", i);
		rte_tel_data_add_dict_container(d, name, l, 0);
	}
	return 0;
}

int
mg_telemetry_init(void)
{
	int rc;

	rc = rte_telemetry_register_cmd("/meshgate/stats", handle_stats,
					"Totals over all lcores: rx, tx, drops "
					"by reason, polls. No parameters.");
	if (rc == 0)
		rc = rte_telemetry_register_cmd(
			"/meshgate/lcores", handle_lcores,
			"Per-lcore role and counters. No parameters.");
	if (rc == 0)
		rc = rte_telemetry_register_cmd(
			"/meshgate/drops", handle_drops,
			"Dropped packets by reason. No parameters.");
	return rc;
}
