/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Drop reasons of the flow table and connection tracking (lib/flow, SYN
 * cookies included), which the worker applies: int constants of enum
 * mg_drop_reason (lib/pkt/mg_pkt.h), numbered from where the stage before
 * ends (MG_DROP_ESP_END). Their names are in mg_flow_drop.c;
 * mg_drop_stage_add(&mg_flow_drop_stage) adds them to the table telemetry
 * exports.
 */

#ifndef MG_FLOW_DROP_H
#define MG_FLOW_DROP_H

#include "mg_esp_drop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The first of them. */
#define MG_DROP_FLOW_FIRST MG_DROP_ESP_END
/** untracked connection, not a SYN */
#define MG_DROP_TCP_NOT_SYN (MG_DROP_FLOW_FIRST + 0)
/** new connection, table full */
#define MG_DROP_FLOW_TABLE_FULL (MG_DROP_FLOW_FIRST + 1)
/** sequence or acknowledgement outside the tracked window, or a segment the
 * connection's state does not allow */
#define MG_DROP_TCP_OUT_OF_WINDOW (MG_DROP_FLOW_FIRST + 2)
/** RST not at the exact sequence, or SYN on a live connection: dropped and
 * answered by a challenge ACK */
#define MG_DROP_TCP_CHALLENGED (MG_DROP_FLOW_FIRST + 3)
/** ICMP error quoting no tracked connection (or outside its window) */
#define MG_DROP_ICMP_UNMATCHED (MG_DROP_FLOW_FIRST + 4)
/** ACK of no connection whose acknowledgement is no valid SYN cookie (forged
 * or stale) */
#define MG_DROP_SYN_COOKIE_INVALID (MG_DROP_FLOW_FIRST + 5)
/** client segment of a SYN-proxied connection before the backend answered
 * (its SYN is sent again) */
#define MG_DROP_SYN_PROXY_PENDING (MG_DROP_FLOW_FIRST + 6)
/** One past the last: where lib/limit/mg_limit_drop.h begins. */
#define MG_DROP_FLOW_END (MG_DROP_FLOW_FIRST + 7)

/** The names of these reasons, for mg_drop_stage_add(). */
extern const struct mg_drop_stage mg_flow_drop_stage;

#ifdef __cplusplus
}
#endif

#endif /* MG_FLOW_DROP_H */
