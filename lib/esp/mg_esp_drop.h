/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Drop reasons of the ESP stage (tunnels between edge nodes, lib/esp): int
 * constants of enum mg_drop_reason (lib/pkt/mg_pkt.h), numbered from where
 * the stage before ends (MG_DROP_PKT_END). Their names are in
 * mg_esp_drop.c; mg_drop_stage_add(&mg_esp_drop_stage) adds them to the
 * table telemetry exports.
 */

#ifndef MG_ESP_DROP_H
#define MG_ESP_DROP_H

#include "mg_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The first of them. */
#define MG_DROP_ESP_FIRST MG_DROP_PKT_END
/** in clear from a peer's prefix, or on a connection whose sender is behind a
 * peer */
#define MG_DROP_ESP_REQUIRED (MG_DROP_ESP_FIRST + 0)
/** ESP for a tunnel endpoint with no SA for its SPI and outer addresses */
#define MG_DROP_ESP_UNKNOWN_SPI (MG_DROP_ESP_FIRST + 1)
/** a sequence number already received */
#define MG_DROP_ESP_REPLAY (MG_DROP_ESP_FIRST + 2)
/** a sequence number below the replay window */
#define MG_DROP_ESP_OUT_OF_WINDOW (MG_DROP_ESP_FIRST + 3)
/** authentication (ICV) failed */
#define MG_DROP_ESP_BAD_ICV (MG_DROP_ESP_FIRST + 4)
/** outbound SA stopped: its sequence numbers would wrap */
#define MG_DROP_ESP_SEQ_EXHAUSTED (MG_DROP_ESP_FIRST + 5)
/** crypto queue or operations full */
#define MG_DROP_ESP_CRYPTO_FULL (MG_DROP_ESP_FIRST + 6)
/** decapsulated from another peer than the connection's */
#define MG_DROP_ESP_WRONG_PEER (MG_DROP_ESP_FIRST + 7)
/** an SA's packet on a worker that does not own its replay window */
#define MG_DROP_ESP_WRONG_QUEUE (MG_DROP_ESP_FIRST + 8)
/** One past the last: where lib/flow/mg_flow_drop.h begins. */
#define MG_DROP_ESP_END (MG_DROP_ESP_FIRST + 9)

/** The names of these reasons, for mg_drop_stage_add(). */
extern const struct mg_drop_stage mg_esp_drop_stage;

#ifdef __cplusplus
}
#endif

#endif /* MG_ESP_DROP_H */
