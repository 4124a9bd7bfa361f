/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The flight recorder: per lcore, the last dropped or denied packets,
 * written out as pcapng with why as each packet's comment. */

#ifndef MESHGATE_RECORDER_H
#define MESHGATE_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "mg_ruleset.h"

/** Bytes of each packet kept. */
#define MG_RECORDER_SNAP 256

struct mg_recorder;

/** Who and what a drop was about, when the worker knows: by ids that
 * mean the same whatever reloads come before the entry is named. */
struct mg_recorder_ctx {
	uint8_t valid;	      /**< the rest is set */
	uint8_t rule_is_slot; /**< rule is a telemetry rule slot (layer 7) */
	uint16_t identity;    /**< identity id (mg_decision.identity_id) */
	uint16_t service;     /**< service id; MG_RULESET_NONE: none */
	uint32_t rule;	      /**< rule id (mg_ruleset_rule_id()), a slot,
			       *   or UINT32_MAX: none */
};

/**
 * A ring of the last @p n dropped packets of one lcore.
 *
 * @return The ring, or NULL with rte_errno set (ENOMEM).
 *
 * Thread safety: control plane, before the worker starts.
 */
struct mg_recorder *mg_recorder_create(uint32_t n, unsigned int lcore,
				       int socket);

/** DPDK memory of one ring of @p n packets (0 when off). Pure. */
size_t mg_recorder_memsize(uint32_t n);

/** Free a ring; its worker must have stopped. NULL accepted. */
void mg_recorder_free(struct mg_recorder *r);

/**
 * Keep @p m (its first MG_RECORDER_SNAP bytes), dropped for @p why at
 * TSC @p tsc, overwriting the oldest entry.
 *
 * Thread safety: one writer, the ring's worker. Each entry carries a
 * sequence number, odd while the worker writes it: a reader copies an
 * entry and keeps the copy only when the number was even and the same
 * before and after (see mg_recorder_dump()).
 */
void mg_recorder_add(struct mg_recorder *r, const struct rte_mbuf *m,
		     uint8_t why, const struct mg_recorder_ctx *c,
		     uint64_t tsc);

/**
 * Write every ring's entries, oldest first, to a new pcapng file in
 * @p dir (meshgate-drops-PID-SECONDS-N.pcapng, N counting dumps): DPDK's
 * rte_pcapng writes the section and one interface per port; each packet is an
 * enhanced packet block with an opt_comment "reason=... rule=... identity=...
 * service=... lcore=N" (rte_pcapng_copy() of DPDK 22.11 has no
 * per-packet comment). The caller, service and layer-4 rule are named
 * as they were when they got their ids (mg_ruleset_id_name()), however
 * many reloads came since; a layer-7 rule (a telemetry slot) by @p rs
 * ("unknown" for one it no longer has).
 *
 * @param path   Out: the file written.
 * @param count  Out: packets written.
 * @return 0, or -errno (the file is removed).
 *
 * Thread safety: control plane; concurrent with the writers (entries
 * rewritten during the copy are skipped). @p rs must stay valid.
 */
int mg_recorder_dump(struct mg_recorder *const *rings, unsigned int n,
		     const struct mg_ruleset *rs, const char *dir, char *path,
		     size_t len, unsigned int *count);

/**
 * Ask the control plane for a dump and wait (at most @p timeout_ms) for
 * its result: SIGUSR2 and /meshgate/recorder both come here (the
 * latter waits, the former does not).
 *
 * Thread safety: any thread.
 */
void mg_recorder_request(void);

/**
 * The control plane's side: true once per request made since the last
 * call (then dump and mg_recorder_done()).
 */
bool mg_recorder_pending(void);

/** Publish a dump's result (rc, path, count) to the waiting requester. */
void mg_recorder_done(int rc, const char *path, unsigned int count);

#endif /* MESHGATE_RECORDER_H */
