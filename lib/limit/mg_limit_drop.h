/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Drop reasons of per-caller limits ("limits", lib/limit): int constants
 * of enum mg_drop_reason (lib/pkt/mg_pkt.h), numbered from where the stage
 * before ends (MG_DROP_FLOW_END). Their names are in mg_limit_drop.c;
 * mg_drop_stage_add(&mg_limit_drop_stage) adds them to the table telemetry
 * exports.
 */

#ifndef MG_LIMIT_DROP_H
#define MG_LIMIT_DROP_H

#include "mg_flow_drop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The first of them. */
#define MG_DROP_LIMIT_FIRST MG_DROP_FLOW_END
/** new connection over a limit's new_connections rate */
#define MG_DROP_RATE_LIMITED_CONN (MG_DROP_LIMIT_FIRST + 0)
/** new connection over a limit's max_connections */
#define MG_DROP_CONN_LIMIT (MG_DROP_LIMIT_FIRST + 1)
/** packet over a limit's packets or bytes rate */
#define MG_DROP_RATE_LIMITED_PPS (MG_DROP_LIMIT_FIRST + 2)
/** One past the last: where lib/l7/mg_l7_drop.h begins. */
#define MG_DROP_LIMIT_END (MG_DROP_LIMIT_FIRST + 3)

/** The names of these reasons, for mg_drop_stage_add(). */
extern const struct mg_drop_stage mg_limit_drop_stage;

#ifdef __cplusplus
}
#endif

#endif /* MG_LIMIT_DROP_H */
