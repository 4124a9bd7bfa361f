/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The names of limit's drop reasons (mg_limit_drop.h). */

#include "mg_limit_drop.h"

static const char *const names[MG_DROP_LIMIT_END] = {
	[MG_DROP_RATE_LIMITED_CONN] = "rate_limited_conn",
	[MG_DROP_CONN_LIMIT] = "conn_limit",
	[MG_DROP_RATE_LIMITED_PPS] = "rate_limited_pps",
};

const struct mg_drop_stage mg_limit_drop_stage = {
	.name = "limit",
	.first = MG_DROP_LIMIT_FIRST,
	.end = MG_DROP_LIMIT_END,
	.names = names,
};
