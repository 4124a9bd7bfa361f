/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The names of flow's drop reasons (mg_flow_drop.h). */

#include "mg_flow_drop.h"

static const char *const names[MG_DROP_FLOW_END] = {
	[MG_DROP_TCP_NOT_SYN] = "tcp_not_syn",
	[MG_DROP_FLOW_TABLE_FULL] = "flow_table_full",
	[MG_DROP_TCP_OUT_OF_WINDOW] = "tcp_out_of_window",
	[MG_DROP_TCP_CHALLENGED] = "tcp_challenged",
	[MG_DROP_ICMP_UNMATCHED] = "icmp_unmatched",
	[MG_DROP_SYN_COOKIE_INVALID] = "syn_cookie_invalid",
	[MG_DROP_SYN_PROXY_PENDING] = "syn_proxy_pending",
};

const struct mg_drop_stage mg_flow_drop_stage = {
	.name = "flow",
	.first = MG_DROP_FLOW_FIRST,
	.end = MG_DROP_FLOW_END,
	.names = names,
};
