/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The names of l7's drop reasons (mg_l7_drop.h). */

#include "mg_l7_drop.h"

static const char *const names[MG_DROP_L7_END] = {
	[MG_DROP_L7_DENY] = "l7_deny",
	[MG_DROP_L7_NOT_HTTP] = "l7_not_http",
	[MG_DROP_L7_BAD_REQUEST] = "l7_bad_request",
	[MG_DROP_L7_NOT_TLS] = "l7_not_tls",
	[MG_DROP_L7_BAD_HELLO] = "l7_bad_hello",
	[MG_DROP_L7_TOO_LARGE] = "l7_too_large",
	[MG_DROP_L7_PENDING_FULL] = "l7_pending_full",
	[MG_DROP_L7_OUT_OF_ORDER] = "l7_out_of_order",
	[MG_DROP_L7_RESET] = "l7_reset",
	[MG_DROP_L7_STALE_TIMESTAMP] = "l7_stale_timestamp",
	[MG_DROP_L7_NO_SNI] = "l7_no_sni",
	[MG_DROP_L7_UPGRADE_DENY] = "l7_upgrade_deny",
};

const struct mg_drop_stage mg_l7_drop_stage = {
	.name = "l7",
	.first = MG_DROP_L7_FIRST,
	.end = MG_DROP_L7_END,
	.names = names,
};
