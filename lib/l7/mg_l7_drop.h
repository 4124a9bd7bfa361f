/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Drop reasons of the layer-7 stage (lib/l7): int constants of enum
 * mg_drop_reason (lib/pkt/mg_pkt.h), numbered from where the stage
 * before ends (MG_DROP_LIMIT_END). l7_ambiguous is lib/pkt's, whose
 * mg_pkt_tcp_strict() decides it too. Their names are in mg_l7_drop.c;
 * mg_drop_stage_add(&mg_l7_drop_stage) adds them to the table telemetry
 * exports.
 */

#ifndef MG_L7_DROP_H
#define MG_L7_DROP_H

#include "mg_limit_drop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The first of them. */
#define MG_DROP_L7_FIRST MG_DROP_LIMIT_END
/** request or ClientHello denied by policy */
#define MG_DROP_L7_DENY (MG_DROP_L7_FIRST + 0)
/** not HTTP/1.x on a service with HTTP rules */
#define MG_DROP_L7_NOT_HTTP (MG_DROP_L7_FIRST + 1)
/** malformed or ambiguous HTTP request */
#define MG_DROP_L7_BAD_REQUEST (MG_DROP_L7_FIRST + 2)
/** not TLS on a service with TLS rules */
#define MG_DROP_L7_NOT_TLS (MG_DROP_L7_FIRST + 3)
/** malformed TLS ClientHello */
#define MG_DROP_L7_BAD_HELLO (MG_DROP_L7_FIRST + 4)
/** head over l7.max_request_bytes */
#define MG_DROP_L7_TOO_LARGE (MG_DROP_L7_FIRST + 5)
/** no reassembly buffer free */
#define MG_DROP_L7_PENDING_FULL (MG_DROP_L7_FIRST + 6)
/** client segment past the next byte */
#define MG_DROP_L7_OUT_OF_ORDER (MG_DROP_L7_FIRST + 7)
/** connection already reset by a verdict */
#define MG_DROP_L7_RESET (MG_DROP_L7_FIRST + 8)
/** TSval older than the newest (PAWS) */
#define MG_DROP_L7_STALE_TIMESTAMP (MG_DROP_L7_FIRST + 9)
/** ClientHello without SNI, not allowed */
#define MG_DROP_L7_NO_SNI (MG_DROP_L7_FIRST + 10)
/** Upgrade no rule's http.upgrade allows */
#define MG_DROP_L7_UPGRADE_DENY (MG_DROP_L7_FIRST + 11)
/** One past the last: where app/meshgate/drops.h begins. */
#define MG_DROP_L7_END (MG_DROP_L7_FIRST + 12)

/** The names of these reasons, for mg_drop_stage_add(). */
extern const struct mg_drop_stage mg_l7_drop_stage;

#ifdef __cplusplus
}
#endif

#endif /* MG_L7_DROP_H */
