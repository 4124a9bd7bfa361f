/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Shadow evaluation: a candidate config decides every new connection and
 * every request beside the one in force, never enforced; where the two
 * disagree, a record and a count. */

#ifndef MESHGATE_SHADOW_H
#define MESHGATE_SHADOW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_mbuf.h>

#include "mg_conf.h"
#include "mg_flow.h"
#include "mg_pkt.h"
#include "mg_l7.h"
#include "mg_ruleset.h"

/** How the candidate decides differently (a record may have several). */
enum mg_shadow_kind {
	MG_SHADOW_ALLOW_TO_DENY = 0, /**< connection allowed, would be denied */
	MG_SHADOW_DENY_TO_ALLOW,     /**< connection denied, would be allowed */
	MG_SHADOW_L7_ALLOW_TO_DENY,  /**< a request (ClientHello) likewise */
	MG_SHADOW_L7_DENY_TO_ALLOW,
	MG_SHADOW_VERSION_CHANGED, /**< both allow, other version */
	MG_SHADOW_BACKEND_CHANGED, /**< both allow, same version, other
				    *   backend */
	MG_SHADOW_SERVICE_CHANGED, /**< another service (or none) */
	MG_SHADOW_KINDS
};

/** One side's decision, by name (names outlive a reload). */
struct mg_shadow_side {
	char service[MG_CONF_NAME_LEN]; /**< "" for none */
	char version[MG_CONF_NAME_LEN];
	char rule[MG_CONF_NAME_LEN];
	char reason[MG_CONF_NAME_LEN]; /**< drop reason of a denial */
	struct mg_addr backend;	       /**< family 0: none */
	uint16_t backend_port;	       /**< host order */
	uint8_t allow;
};

/** A disagreement: a connection's, or one request's (request > 0). */
struct mg_shadow_rec {
	uint64_t tsc;
	struct mg_5tuple tuple;
	uint32_t request; /**< 1-based request of the connection; 0: L4 */
	uint16_t kinds;	  /**< 1 << enum mg_shadow_kind */
	char identity[MG_CONF_NAME_LEN];
	struct mg_shadow_side cur, cand;
};

struct mg_shadow;
struct mg_worker;

/** The part of the shadow state the forwarding loop reads per packet
 * (the rest is shadow.c's): the first member of struct mg_shadow. */
struct mg_shadow_head {
	struct mg_ruleset *rs; /**< the candidate, or NULL; atomic */
	uint8_t any_l7;	       /**< the candidate has layer-7 rules */
};

/**
 * Whether the candidate has layer-7 rules at all: without any, segments
 * of connections the current config does not inspect need no shadow
 * work (the established fast path stays as it is).
 *
 * Thread safety: any thread; a relaxed load.
 */
static inline bool
mg_shadow_l7_any(const struct mg_shadow *sh)
{
	return __atomic_load_n(&((const struct mg_shadow_head *)sh)->any_l7,
			       __ATOMIC_RELAXED) != 0;
}
struct mg_dataplane;

/** The candidate's view of a connection being admitted. */
struct mg_shadow_pick {
	const struct mg_ruleset *rs; /**< the candidate, or NULL: none */
	bool service;		     /**< the candidate has a service for it */
	struct mg_decision d;
};

/** What one side's layer-7 rules made of a client segment. */
struct mg_shadow_l7 {
	struct mg_l7_trace trace;
	uint8_t act; /**< enum mg_l7_action */
	uint8_t why; /**< enum mg_drop_reason, for a drop or reset */
};

/**
 * Create the shadow state for a flow table of @p max_flows entries and
 * @p n_workers workers, each keeping its last @p records disagreements
 * (a replay's report lists them all: make it large there).
 *
 * @return The state, or NULL with the reason logged.
 *
 * Thread safety: control plane, before the workers start.
 */
struct mg_shadow *mg_shadow_create(uint32_t max_flows, unsigned int n_workers,
				   uint32_t records, uint32_t l7_pending,
				   uint32_t l7_bytes, struct rte_rcu_qsbr *qsv);

/**
 * DPDK memory mg_shadow_create() takes with these arguments (not the
 * candidate's ruleset, nor the records, which live in the C heap).
 *
 * @return Bytes. Thread safety: pure; needs no EAL.
 */
size_t mg_shadow_memsize(uint32_t max_flows, unsigned int n_workers,
			 uint32_t l7_pending, uint32_t l7_bytes);

/** Free it (and its ruleset); workers must have stopped. NULL accepted. */
void mg_shadow_free(struct mg_shadow *sh);

/**
 * Build the candidate's ruleset from @p conf (no health table: every
 * backend counts as up; no limits) and put it in force for new
 * connections, freeing the one before after an RCU grace period.
 * @p conf NULL stops the evaluation.
 *
 * @return 0, or -1 with the reason logged (the running one stays).
 *
 * Thread safety: control plane.
 */
int mg_shadow_set(struct mg_shadow *sh, const struct mg_conf *conf,
		  struct rte_rcu_qsbr *qsv, unsigned int qsbr_id);

/**
 * Make @p sh the state /meshgate/shadow and
 * meshgate_shadow_disagreements_total read; NULL withdraws it (waiting
 * for a reader in progress). mg_shadow_free() withdraws it too.
 *
 * Thread safety: control plane.
 */
void mg_shadow_publish(struct mg_shadow *sh);

/** Path of the candidate in force ("" for none). Control plane. */
const char *mg_shadow_path(const struct mg_shadow *sh);

/**
 * At admission, before the verdict is acted on: the candidate's decision
 * on tuple @p t (same hash as the current one). Fills @p p.
 *
 * Thread safety: the admitting worker.
 */
void mg_shadow_classify(struct mg_worker *w, const struct mg_5tuple *t,
			uint32_t hash, struct mg_shadow_pick *p);

/**
 * Compare and record: the current decision @p d (NULL: no service) with
 * the candidate's @p p, for a connection now admitted (@p f) or denied
 * (@p f NULL). For an admitted one, prepares the candidate's layer-7
 * state of entry @p f from its first packet @p m.
 *
 * Thread safety: the admitting worker, before @p f is published.
 */
void mg_shadow_admitted(struct mg_worker *w, const struct mg_ruleset *rs,
			const struct mg_5tuple *t, const struct mg_decision *d,
			const struct mg_shadow_pick *p, struct mg_flow *f,
			const struct rte_mbuf *m,
			const struct mg_pkt_info *info);

/** The flow entry's candidate layer-7 buffer goes back (expiry). */
void mg_shadow_flow_gone(struct mg_worker *w, const struct mg_flow *f);

/**
 * A TCP segment of tracked connection @p f: the candidate's layer-7
 * rules see it first (never acting), then the current ones
 * (@p inspect, as the caller would call it without a shadow, with its
 * decisions traced); a request they decide differently is recorded.
 *
 * @return What @p inspect returned (true: @p m was consumed).
 */
typedef bool (*mg_shadow_inspect_fn)(struct mg_worker *w,
				     const struct mg_ruleset *rs,
				     struct rte_mbuf *m,
				     const struct mg_pkt_info *info,
				     struct mg_flow *f, uint8_t dir,
				     struct mg_shadow_l7 *out);
bool mg_shadow_segment(struct mg_worker *w, const struct mg_ruleset *rs,
		       struct rte_mbuf *m, const struct mg_pkt_info *info,
		       struct mg_flow *f, uint8_t dir, bool cur_needs,
		       mg_shadow_inspect_fn inspect);

/** Write record @p r as one JSON object (no newline). */
void mg_shadow_rec_json(FILE *o, const struct mg_shadow *sh,
			const struct mg_shadow_rec *r);

/** Stable name of a kind ("allow_to_deny", ...). */
const char *mg_shadow_kind_name(enum mg_shadow_kind k);

/** Totals over all workers: connections compared, and per kind. */
void mg_shadow_totals(const struct mg_shadow *sh, uint64_t *connections,
		      uint64_t kinds[MG_SHADOW_KINDS]);

/**
 * Write the report of a replay: every disagreement kept (oldest first),
 * how many were not kept, and the summary. Only once workers stopped.
 *
 * @return 0, or -errno.
 */
int mg_shadow_report(const struct mg_shadow *sh, const char *path);

#endif /* MESHGATE_SHADOW_H */
