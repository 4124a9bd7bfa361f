/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Canary auto-rollback: the control plane compares each version with a
 * `rollback` group against its service's stable versions once a second
 * and takes its weight away when it fails worse, with confidence. */

#ifndef MESHGATE_ROLLBACK_H
#define MESHGATE_ROLLBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "mg_conf.h"
#include "mg_ruleset.h"

/** z above which a canary is rolled back: one-sided alpha 1e-9. */
#define MG_ROLLBACK_Z 6.0

struct mg_rollback;

/**
 * The rollback state, reading connection failures from @p conn_errors
 * (per worker, @p n_sets label-set slots each: what workers count).
 *
 * @return The state, or NULL (ENOMEM, logged).
 *
 * Thread safety: control plane.
 */
struct mg_rollback *mg_rollback_create(const uint64_t *conn_errors,
				       unsigned int n_workers, uint32_t n_sets);

/** Free it. NULL accepted. Control plane. */
void mg_rollback_free(struct mg_rollback *rb);

/**
 * Track the versions of @p conf with `rollback`, from scratch: after
 * start-up and after every reload (which restores a rolled-back
 * version's weight).
 *
 * @return 0, or -ENOMEM (nothing tracked then).
 */
int mg_rollback_reset(struct mg_rollback *rb, const struct mg_conf *conf);

/**
 * Once a second: take each tracked version's outcomes (HTTP responses,
 * 5xx as errors, and connect failures: a backend's RST or no SYN-ACK
 * in time) and its stable versions', over the window, and test.
 *
 * @return true when a version was rolled back now: the caller applies
 *         mg_rollback_apply() to the config in force and publishes it.
 */
bool mg_rollback_tick(struct mg_rollback *rb, const struct mg_ruleset *rs);

/** Set the weight of every rolled-back version to 0 in @p conf. */
void mg_rollback_apply(const struct mg_rollback *rb, struct mg_conf *conf);

#endif /* MESHGATE_ROLLBACK_H */
