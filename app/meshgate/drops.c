/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The names of the gateway's own drop reasons (drops.h), and the one
 * place that adds every stage's to lib/pkt's table, at start-up: code
 * main() calls, so no linker can leave a stage out, as it would an
 * RTE_INIT constructor in an object nothing else references.
 */

#include <errno.h>

#include <rte_common.h>

#include "drops.h"

static const char *const names[MG_DROP_APP_END] = {
	[MG_DROP_NO_SERVICE] = "no_service",
	[MG_DROP_LOCAL_UNHANDLED] = "local_unhandled",
	[MG_DROP_POLICY_DENY] = "policy_deny",
	[MG_DROP_NEIGH_QUEUE_FULL] = "neigh_queue_full",
	[MG_DROP_NEIGH_TIMEOUT] = "neigh_timeout",
	[MG_DROP_TTL_EXCEEDED] = "ttl_exceeded",
	[MG_DROP_MARTIAN_SOURCE] = "martian_source",
	[MG_DROP_FRAG_TIMEOUT] = "frag_timeout",
	[MG_DROP_FRAG_TABLE_FULL] = "frag_table_full",
};

const struct mg_drop_stage mg_app_drop_stage = {
	.name = "forwarding",
	.first = MG_DROP_APP_FIRST,
	.end = MG_DROP_APP_END,
	.names = names,
};

/* In the order they are numbered: each starts where the one before
 * ends. */
static const struct mg_drop_stage *const stages[] = {
	&mg_esp_drop_stage, &mg_flow_drop_stage, &mg_limit_drop_stage,
	&mg_l7_drop_stage,  &mg_app_drop_stage,
};

int
mg_drops_init(void)
{
	unsigned int i;
	int rc;

	for (i = 0; i < RTE_DIM(stages); i++) {
		rc = mg_drop_stage_add(stages[i]);
		if (rc < 0)
			return rc;
	}
	return mg_drop_reason_end() == MG_DROP_END ? 0 : -EINVAL;
}
