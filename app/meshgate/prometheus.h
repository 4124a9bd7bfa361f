/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The management endpoint: GET /metrics, /healthz and /ready over HTTP,
 * served by a libmicrohttpd thread of the control plane. */

#ifndef MESHGATE_PROMETHEUS_H
#define MESHGATE_PROMETHEUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_conf.h"

/** A running /metrics endpoint (opaque). */
struct mg_prom;

/**
 * What /healthz and /ready report: each returns true when fine, else
 * false with a short reason in @p why (one line, no newline). Called on
 * the endpoint's thread, concurrently with everything else; they must
 * not block for long (the endpoint serves one request at a time).
 */
struct mg_prom_checks {
	bool (*healthy)(void *arg, char *why, size_t len);
	bool (*ready)(void *arg, char *why, size_t len);
	void *arg;
};

/**
 * Serve /metrics, /healthz and /ready on exactly @p addr and @p port,
 * from a thread of its own.
 *
 * GET (and HEAD) /metrics answer 200 with the text exposition of
 * mg_telemetry_prometheus(), gzip-compressed when the client accepts it;
 * /healthz and /ready answer 200 "ok" or 503 with the reason @p checks
 * gives; other paths answer 404 and other methods 405. A failure to
 * render answers 500 and is logged; nothing a client sends stops the
 * gateway.
 *
 * @param addr    The address, as the config's telemetry.listen gave it
 *                (validated there); 0.0.0.0 or :: binds every address
 *                only because the file says so.
 * @param port    Host order.
 * @param checks  Behind /healthz and /ready (copied; may be NULL: then
 *                they answer 503).
 * @param err     Receives the reason on failure (may be NULL).
 * @param errlen  Size of @p err.
 * @return The endpoint, or NULL when the address cannot be bound (in
 *         use, not local) or memory runs out; @p err then names the
 *         address and the reason.
 *
 * Thread safety: call from the control plane. The handler runs on the
 * libmicrohttpd thread, concurrently with workers and the main lcore.
 */
struct mg_prom *mg_prom_start(const struct mg_addr *addr, uint16_t port,
			      const struct mg_prom_checks *checks, char *err,
			      size_t errlen);

/**
 * Stop serving: close the socket, finish or drop open connections and
 * join the thread. Accepts NULL.
 *
 * Thread safety: call from the thread that called mg_prom_start().
 */
void mg_prom_stop(struct mg_prom *prom);

#endif /* MESHGATE_PROMETHEUS_H */
