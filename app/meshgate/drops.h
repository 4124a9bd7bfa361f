/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Drop reasons of the gateway itself (app/meshgate/worker.c): forwarding,
 * admission and reassembly: int constants of enum mg_drop_reason
 * (lib/pkt/mg_pkt.h), numbered from where the stage before ends
 * (MG_DROP_L7_END). Their names are in drops.c;
 * mg_drop_stage_add(&mg_app_drop_stage) adds them to the table telemetry
 * exports.
 */

#ifndef MESHGATE_DROPS_H
#define MESHGATE_DROPS_H

#include <assert.h>

#include "mg_l7_drop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The first of them. */
#define MG_DROP_APP_FIRST MG_DROP_L7_END
/** not for a service or the gateway */
#define MG_DROP_NO_SERVICE (MG_DROP_APP_FIRST + 0)
/** for the gateway, not ARP/ND/echo */
#define MG_DROP_LOCAL_UNHANDLED (MG_DROP_APP_FIRST + 1)
/** caller may not reach the service */
#define MG_DROP_POLICY_DENY (MG_DROP_APP_FIRST + 2)
/** too many packets awaiting ARP/ND */
#define MG_DROP_NEIGH_QUEUE_FULL (MG_DROP_APP_FIRST + 3)
/** next hop never answered */
#define MG_DROP_NEIGH_TIMEOUT (MG_DROP_APP_FIRST + 4)
/** TTL / hop limit would reach 0 */
#define MG_DROP_TTL_EXCEEDED (MG_DROP_APP_FIRST + 5)
/** new connection from one of the gateway's own or virtual addresses */
#define MG_DROP_MARTIAN_SOURCE (MG_DROP_APP_FIRST + 6)
/** datagram not complete in time */
#define MG_DROP_FRAG_TIMEOUT (MG_DROP_APP_FIRST + 7)
/** no room for another datagram */
#define MG_DROP_FRAG_TABLE_FULL (MG_DROP_APP_FIRST + 8)
/** One past the last drop reason of every stage. */
#define MG_DROP_APP_END (MG_DROP_APP_FIRST + 9)

/** All of them; what to count reasons by is MG_DROP_CAPACITY. */
#define MG_DROP_END MG_DROP_APP_END
static_assert(
	MG_DROP_END <= MG_DROP_CAPACITY,
	"raise MG_DROP_CAPACITY (lib/pkt/mg_pkt.h) for more drop reasons");

/** The names of these reasons, for mg_drop_stage_add(). */
extern const struct mg_drop_stage mg_app_drop_stage;

/**
 * Add the names of every stage above lib/pkt to the table of drop
 * reasons (mg_drop_stage_add()), in their order, and check that every
 * reason below MG_DROP_END has one.
 *
 * @return 0, or the first stage's error (-EINVAL, -EEXIST).
 *
 * Thread safety: the main thread at start-up, before other threads.
 */
int mg_drops_init(void);

#ifdef __cplusplus
}
#endif

#endif /* MESHGATE_DROPS_H */
