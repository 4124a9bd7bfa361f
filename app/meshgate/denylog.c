/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The deny log. A worker never does I/O: it puts a small record on its
 * own single-producer/single-consumer rte_ring, if its rte_meter (srTCM
 * with no excess bucket, its share of the gateway's rate) allows, and
 * counts what it does not log. The control plane drains the rings every
 * tick, names the caller, service and rule, and writes one JSON line
 * each.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_meter.h>
#include <rte_ring.h>

#include "denylog.h"
#include "meshgate.h"

/* Records a worker may have waiting: a tick (10 ms) of a high rate. */
#define RING_SIZE 1024

struct deny_rec {
	uint64_t tsc;
	struct mg_5tuple tuple;
	struct mg_recorder_ctx ctx;
	uint8_t why;
	uint8_t lcore_rank;
};

struct mg_denylog_worker {
	struct rte_ring *ring;	      /* struct deny_rec, by value */
	struct rte_meter_srtcm meter; /* lines: green passes */
	struct rte_meter_srtcm_profile prof;
	uint64_t suppressed; /* the worker's; read relaxed */
	unsigned int rank;
} __rte_cache_aligned;

struct mg_denylog {
	FILE *f; /* NULL: syslog */
	char path[PATH_MAX];
	unsigned int n_workers;
	uint64_t hz;
	uint64_t reported; /* suppressed already reported */
	uint64_t next_report;
	struct mg_denylog_worker *w;
};

struct mg_denylog *
mg_denylog_create(const struct mg_deny_log_conf *c, unsigned int n_workers)
{
	struct mg_denylog *dl = calloc(1, sizeof(*dl));
	/* each worker's share: lines a second, and a burst (no excess) */
	struct rte_meter_srtcm_params share = {
		.cir = RTE_MAX((uint64_t)c->rate / n_workers, (uint64_t)1),
		.cbs = RTE_MAX((uint64_t)c->burst / n_workers, (uint64_t)1),
	};
	char name[RTE_RING_NAMESIZE];
	unsigned int i;

	/* rte_ring's elements are multiples of 4 bytes */
	RTE_BUILD_BUG_ON(sizeof(struct deny_rec) % 4 != 0);
	if (dl == NULL)
		goto fail;
	dl->n_workers = n_workers;
	dl->hz = rte_get_tsc_hz();
	if (c->syslog) {
		openlog("meshgate", LOG_PID, LOG_AUTHPRIV);
	} else {
		snprintf(dl->path, sizeof(dl->path), "%s", c->file);
		dl->f = fopen(dl->path, "ae");
		if (dl->f == NULL) {
			MG_LOG(ERR, "deny_log: cannot open %s: %s", dl->path,
			       strerror(errno));
			free(dl);
			return NULL;
		}
	}
	dl->w = rte_zmalloc("mg_denylog", n_workers * sizeof(*dl->w),
			    RTE_CACHE_LINE_SIZE);
	if (dl->w == NULL)
		goto fail;
	for (i = 0; i < n_workers; i++) {
		struct mg_denylog_worker *w = &dl->w[i];

		w->rank = i;
		if (rte_meter_srtcm_profile_config(&w->prof, &share) != 0 ||
		    rte_meter_srtcm_config(&w->meter, &w->prof) != 0)
			goto fail;
		snprintf(name, sizeof(name), "mg_deny%u", i);
		w->ring = rte_ring_create_elem(name, sizeof(struct deny_rec),
					       RING_SIZE, SOCKET_ID_ANY,
					       RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (w->ring == NULL)
			goto fail;
	}
	return dl;
fail:
	MG_LOG(ERR, "deny_log: out of memory");
	mg_denylog_free(dl);
	return NULL;
}

void
mg_denylog_free(struct mg_denylog *dl)
{
	unsigned int i;

	if (dl == NULL)
		return;
	for (i = 0; dl->w != NULL && i < dl->n_workers; i++)
		rte_ring_free(dl->w[i].ring);
	rte_free(dl->w);
	if (dl->f != NULL)
		fclose(dl->f);
	else
		closelog();
	free(dl);
}

struct mg_denylog_worker *
mg_denylog_worker(struct mg_denylog *dl, unsigned int rank)
{
	return dl != NULL && rank < dl->n_workers ? &dl->w[rank] : NULL;
}

void
mg_denylog_add(struct mg_denylog_worker *w, const struct mg_5tuple *t,
	       uint8_t why, const struct mg_recorder_ctx *c, uint64_t tsc)
{
	struct deny_rec r;

	if (rte_meter_srtcm_color_blind_check(&w->meter, &w->prof, tsc, 1) !=
	    RTE_COLOR_GREEN)
		goto suppressed;
	r.tsc = tsc;
	r.tuple = *t;
	r.why = why;
	r.lcore_rank = (uint8_t)w->rank;
	if (c != NULL && c->valid)
		r.ctx = *c;
	else
		r.ctx.valid = 0;
	if (rte_ring_enqueue_elem(w->ring, &r, sizeof(r)) == 0)
		return;
suppressed:
	__atomic_store_n(&w->suppressed, w->suppressed + 1, __ATOMIC_RELAXED);
}

static void
addr_text(const uint8_t *a, uint8_t family, char *buf, size_t len)
{
	inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len);
}

static void
emit(struct mg_denylog *dl, const char *line)
{
	if (dl->f != NULL) {
		fputs(line, dl->f);
		fputc('\n', dl->f);
	} else {
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
	}
}

static void
now_text(char *buf, size_t len, uint64_t tsc, uint64_t hz)
{
	uint64_t now = rte_rdtsc(), back_ns;
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	back_ns = (now - RTE_MIN(tsc, now)) * 1000000000ull / hz;
	if ((uint64_t)ts.tv_nsec >= back_ns % 1000000000ull) {
		ts.tv_nsec -= (long)(back_ns % 1000000000ull);
	} else {
		ts.tv_nsec += 1000000000l - (long)(back_ns % 1000000000ull);
		ts.tv_sec--;
	}
	ts.tv_sec -= (time_t)(back_ns / 1000000000ull);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%06uZ", s,
		 (unsigned int)(ts.tv_nsec / 1000) % 1000000u);
}

static void
write_rec(struct mg_denylog *dl, const struct mg_ruleset *rs,
	  const struct deny_rec *r)
{
	const struct mg_recorder_ctx *c = &r->ctx;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], when[48];
	char id[48] = "null", svc[48] = "null", rule[48] = "null";
	char name[MG_CONF_NAME_LEN];
	char line[512];

	addr_text(r->tuple.src, r->tuple.family, src, sizeof(src));
	addr_text(r->tuple.dst, r->tuple.family, dst, sizeof(dst));
	now_text(when, sizeof(when), r->tsc, dl->hz);
	if (c->valid) {
		/* ids name what they named when taken, reloads or not */
		mg_ruleset_id_name(MG_RULESET_ID_IDENTITY, c->identity, name,
				   sizeof(name));
		snprintf(id, sizeof(id), "\"%s\"", name);
		if (c->service != MG_RULESET_NONE) {
			mg_ruleset_id_name(MG_RULESET_ID_SERVICE, c->service,
					   name, sizeof(name));
			snprintf(svc, sizeof(svc), "\"%s\"", name);
		}
		if (c->rule != UINT32_MAX && !c->rule_is_slot) {
			mg_ruleset_id_name(MG_RULESET_ID_RULE, c->rule, name,
					   sizeof(name));
			snprintf(rule, sizeof(rule), "\"%s\"", name);
		} else if (c->rule != UINT32_MAX && rs != NULL) {
			snprintf(rule, sizeof(rule), "\"%s\"",
				 mg_ruleset_rule_name_of_slot(rs, c->rule));
		}
	}
	snprintf(line, sizeof(line),
		 "{\"time\": \"%s\", \"proto\": \"%s\", \"src\": \"%s\", "
		 "\"sport\": %u, \"dst\": \"%s\", \"dport\": %u, "
		 "\"identity\": %s, \"service\": %s, \"rule\": %s, "
		 "\"reason\": \"%s\"}",
		 when, r->tuple.proto == IPPROTO_TCP ? "tcp" : "udp", src,
		 rte_be_to_cpu_16(r->tuple.sport), dst,
		 rte_be_to_cpu_16(r->tuple.dport), id, svc, rule,
		 mg_drop_reason_name(r->why));
	emit(dl, line);
}

void
mg_denylog_flush(struct mg_denylog *dl, const struct mg_ruleset *rs)
{
	uint64_t suppressed = 0, now = rte_rdtsc();
	struct deny_rec recs[64];
	unsigned int i, k, n;
	char line[160], when[48];
	bool wrote = false;

	for (i = 0; i < dl->n_workers; i++) {
		struct mg_denylog_worker *w = &dl->w[i];

		while ((n = rte_ring_dequeue_burst_elem(
				w->ring, recs, sizeof(recs[0]), RTE_DIM(recs),
				NULL)) != 0) {
			for (k = 0; k < n; k++)
				write_rec(dl, rs, &recs[k]);
			wrote = true;
		}
		suppressed += __atomic_load_n(&w->suppressed, __ATOMIC_RELAXED);
	}
	if (suppressed != dl->reported && now >= dl->next_report) {
		now_text(when, sizeof(when), now, dl->hz);
		snprintf(line, sizeof(line),
			 "{\"time\": \"%s\", \"suppressed\": %" PRIu64 "}",
			 when, suppressed - dl->reported);
		emit(dl, line);
		dl->reported = suppressed;
		dl->next_report = now + dl->hz;
		wrote = true;
	}
	if (wrote && dl->f != NULL)
		fflush(dl->f);
}

void
mg_denylog_reopen(struct mg_denylog *dl)
{
	FILE *f;

	if (dl == NULL || dl->f == NULL)
		return;
	f = fopen(dl->path, "ae");
	if (f == NULL) {
		MG_LOG(ERR,
		       "deny_log: cannot reopen %s: %s; still writing "
		       "to the file opened before",
		       dl->path, strerror(errno));
		return;
	}
	fclose(dl->f);
	dl->f = f;
}
