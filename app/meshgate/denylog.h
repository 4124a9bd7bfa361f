/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The deny log: one JSON line per denied connection or request, to a
 * file or syslog, rate-limited. Workers hand records to the control
 * plane through a ring each; only the control plane writes. */

#ifndef MESHGATE_DENYLOG_H
#define MESHGATE_DENYLOG_H

#include <stdint.h>

#include "mg_conf.h"
#include "mg_pkt.h"
#include "mg_ruleset.h"
#include "recorder.h"

struct mg_denylog;
struct mg_denylog_worker;

/**
 * Open the log (the file, appended to, or syslog) and one ring and
 * token bucket per worker: each worker may log rate / n_workers lines a
 * second, bursts of burst / n_workers (at least one).
 *
 * @return The log, or NULL with the reason logged.
 *
 * Thread safety: control plane, before the workers start.
 */
struct mg_denylog *mg_denylog_create(const struct mg_deny_log_conf *c,
				     unsigned int n_workers);

/** Close it; workers must have stopped. NULL accepted. */
void mg_denylog_free(struct mg_denylog *dl);

/** Worker @p rank's part (its ring and bucket). */
struct mg_denylog_worker *mg_denylog_worker(struct mg_denylog *dl,
					    unsigned int rank);

/**
 * A denied connection or request: a record for the control plane when
 * the worker's bucket has a token and its ring room, else counted as
 * suppressed. No allocation, no I/O.
 *
 * Thread safety: the worker that owns @p w.
 */
void mg_denylog_add(struct mg_denylog_worker *w, const struct mg_5tuple *t,
		    uint8_t why, const struct mg_recorder_ctx *c, uint64_t tsc);

/**
 * Write the records waiting (callers, services and layer-4 rules named
 * by their ids, as they were named when taken; layer-7 rules by @p rs),
 * and once a second a line with how many were
 * suppressed since the last one.
 *
 * Thread safety: control plane; @p rs must stay valid during the call.
 */
void mg_denylog_flush(struct mg_denylog *dl, const struct mg_ruleset *rs);

/** Reopen the file (after logrotate moved it); SIGHUP. Control plane. */
void mg_denylog_reopen(struct mg_denylog *dl);

#endif /* MESHGATE_DENYLOG_H */
