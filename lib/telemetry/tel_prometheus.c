/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Prometheus text exposition (format 0.0.4) of every metric. Names follow
 * Istio's standard metrics with the prefix meshgate_ and base units:
 * seconds, bytes. Called with the read lock held.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>

#include "tel_private.h"

#define MAX_LABELS 14 /* Istio's standard labels */

static const char *const class_name[MG_TEL_CLASS_MAX] = {
	"1xx", "2xx", "3xx", "4xx", "5xx",
};

static const char *const decision_name[MG_TEL_DECISION_MAX] = {
	[MG_TEL_ALLOW] = "allow",
	[MG_TEL_DENY] = "deny",
	[MG_TEL_DRY_RUN] = "dry_run",
};

static const char *const kind_label[TEL_KIND_MAX] = {
	[TEL_KIND_SET] = "label_set",
	[TEL_KIND_DEST] = "destination",
	[TEL_KIND_RULE] = "rule",
};

/* Label names and values of one series. */
struct labels {
	const char *k[MAX_LABELS];
	const char *v[MAX_LABELS];
	unsigned int n;
};

/* # HELP and # TYPE of family PREFIXNAME */
static void
family_in(FILE *f, const char *prefix, const char *name, const char *type,
	  const char *help)
{
	fprintf(f, "# HELP %s%s %s\n# TYPE %s%s %s\n", prefix, name, help,
		prefix, name, type);
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	family_in(f, "meshgate_", name, type, help);
}

/* A label value: backslash, double quote and line feed escaped. */
static void
put_value(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '\\': fputs("\\\\", f); break;
		case '"': fputs("\\\"", f); break;
		case '\n': fputs("\\n", f); break;
		default: fputc(*v, f); break;
		}
	}
}

/* "PREFIXNAME{k="v",...,extra="v"}", PREFIX "meshgate_" or "istio_" */
static void
series_in(FILE *f, const char *prefix, const char *name, const struct labels *l,
	  const char *extra_k, const char *extra_v)
{
	unsigned int i;

	fprintf(f, "%s%s", prefix, name);
	if ((l == NULL || l->n == 0) && extra_k == NULL)
		return;
	fputc('{', f);
	for (i = 0; l != NULL && i < l->n; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", l->k[i]);
		put_value(f, l->v[i]);
		fputc('"', f);
	}
	if (extra_k != NULL) {
		fprintf(f, "%s%s=\"", l != NULL && l->n ? "," : "", extra_k);
		put_value(f, extra_v);
		fputc('"', f);
	}
	fputc('}', f);
}

/* "meshgate_NAME{k="v",...,extra="v"}" */
static void
series(FILE *f, const char *name, const struct labels *l, const char *extra_k,
       const char *extra_v)
{
	series_in(f, "meshgate_", name, l, extra_k, extra_v);
}

static void
sample_in(FILE *f, const char *prefix, const char *name, const struct labels *l,
	  const char *extra_k, const char *extra_v, uint64_t v)
{
	series_in(f, prefix, name, l, extra_k, extra_v);
	fprintf(f, " %" PRIu64 "\n", v);
}

static void
sample_u64(FILE *f, const char *name, const struct labels *l,
	   const char *extra_k, const char *extra_v, uint64_t v)
{
	sample_in(f, "meshgate_", name, l, extra_k, extra_v, v);
}

static void
sample_double(FILE *f, const char *name, const struct labels *l, double v)
{
	series(f, name, l, NULL, NULL);
	fprintf(f, " %.12g\n", v);
}

/*
 * Every histogram of both namings: PREFIXNAME_bucket{...,le} of the
 * @p n non-cumulative @p bucket under the "le" strings @p le,
 * PREFIXNAME_sum (@p sum, already written in the family's unit) and
 * PREFIXNAME_count.
 */
static void
histogram_in(FILE *f, const char *prefix, const char *name,
	     const struct labels *l, const char *const *le, unsigned int n,
	     const uint64_t *bucket, const char *sum)
{
	char metric[96];
	uint64_t cum = 0;
	unsigned int i;

	snprintf(metric, sizeof(metric), "%s_bucket", name);
	for (i = 0; i < n; i++) {
		cum += bucket[i];
		sample_in(f, prefix, metric, l, "le", le[i], cum);
	}
	snprintf(metric, sizeof(metric), "%s_sum", name);
	series_in(f, prefix, metric, l, NULL, NULL);
	fprintf(f, " %s\n", sum);
	snprintf(metric, sizeof(metric), "%s_count", name);
	sample_in(f, prefix, metric, l, NULL, NULL, cum);
}

/* A duration histogram, its sum in seconds ("%.12g" as sample_double). */
static void
histogram(FILE *f, const char *name, const struct labels *l,
	  const struct tel_hist_def *def, const uint64_t *bucket,
	  uint64_t sum_cycles, uint64_t hz)
{
	char sum[32];

	snprintf(sum, sizeof(sum), "%.12g", (double)sum_cycles / (double)hz);
	histogram_in(f, "meshgate_", name, l, def->le, def->n_bucket, bucket,
		     sum);
}

/* "le" of the size buckets, in bytes (Istio's). */
static const char *const size_le[MG_TEL_SIZE_BUCKETS] = {
	"1",	  "10",	     "100",	 "1000", "10000",
	"100000", "1000000", "10000000", "+Inf",
};

/* Names of the size families (after meshgate_ or istio_). */
static const char *const size_name[MG_TEL_DIR_MAX] = {
	[MG_TEL_DIR_REQUEST] = "request_bytes",
	[MG_TEL_DIR_RESPONSE] = "response_bytes",
};

/* Help of the size families, by direction. */
static const char *const size_help[MG_TEL_DIR_MAX] = {
	[MG_TEL_DIR_REQUEST] = "Size of HTTP requests (head and body), "
			       "when their first segment tells it.",
	[MG_TEL_DIR_RESPONSE] = "Size of HTTP responses (head and body), "
				"when their first segment tells it.",
};

/* PREFIXrequest_bytes (@p d MG_TEL_DIR_REQUEST) or PREFIXresponse_bytes
 * of one label set, in bytes, under either naming. */
static void
size_histogram(FILE *f, const char *prefix, const struct labels *l,
	       const struct mg_tel_set_sum *s, unsigned int d)
{
	char sum[24];

	snprintf(sum, sizeof(sum), "%" PRIu64, s->size_sum[d]);
	histogram_in(f, prefix, size_name[d], l, size_le, MG_TEL_SIZE_BUCKETS,
		     s->size_bucket[d], sum);
}

static void
set_labels(const struct tel_registry *r, uint32_t slot, struct labels *l)
{
	const struct tel_set_key *k = &r->sets[slot];

	l->k[0] = "source_workload";
	l->v[0] = r->names[k->identity];
	l->k[1] = "destination_service";
	l->v[1] = r->names[k->service];
	l->k[2] = "destination_version";
	l->v[2] = r->names[k->version];
	l->n = 3;
}

static void
dest_labels(const struct tel_registry *r, uint32_t dest, struct labels *l)
{
	l->k[0] = "destination_service";
	l->v[0] = r->names[r->dests[dest].service];
	l->k[1] = "destination_version";
	l->v[1] = r->names[r->dests[dest].version];
	l->n = 2;
}

/* One counter per active label set; @p field picks the value. */
static void
set_counter(FILE *f, const struct tel_registry *r,
	    const struct mg_tel_set_sum *sum, const char *name,
	    const char *help, size_t field)
{
	uint32_t i;

	family(f, name, "counter", help);
	for (i = 0; i < r->n[TEL_KIND_SET]; i++) {
		struct labels l;

		if (!tel_set_active(&sum[i]))
			continue;
		set_labels(r, i, &l);
		sample_u64(f, name, &l, NULL, NULL,
			   *(const uint64_t *)((const char *)&sum[i] + field));
	}
}

/* ---- telemetry.naming = "istio" ---- */

static const int istio_code[MG_TEL_CODE_MAX] = { MG_TEL_CODES };

/* Istio's standard labels of one label set, as one reporter sees it. */
struct istio_labels {
	struct labels l;
	char workload[2 * 64 + 2];
};

/* Where istio_fill() leaves the reporter's labels to istio_reporter(). */
enum { ISTIO_REPORTER = 0, ISTIO_SECURITY = MAX_LABELS - 1 };

/* The gateway stands for both of Istio's sidecars: reporter 0 is the
 * service's ("destination"), 1 the caller's ("source"). */
static const char *const reporters[] = { "destination", "source" };

/* Istio's labels of label set @p slot but the reporter's (see
 * istio_reporter()). */
static void
istio_fill(const struct tel_registry *r, uint32_t slot, const char *protocol,
	   struct istio_labels *il)
{
	static const char *const keys[MAX_LABELS] = {
		"reporter",
		"source_workload",
		"source_workload_namespace",
		"source_app",
		"destination_service",
		"destination_service_name",
		"destination_service_namespace",
		"destination_workload",
		"destination_workload_namespace",
		"destination_version",
		"destination_app",
		"request_protocol",
		"response_flags",
		"connection_security_policy",
	};
	const struct tel_set_key *k = &r->sets[slot];
	const char *source = r->names[k->identity];
	const char *service = r->names[k->service];
	const char *version = r->names[k->version];
	const char *source_ns = tel_namespace(0, source);
	const char *service_ns = tel_namespace(1, service);
	const char *const values[MAX_LABELS] = {
		NULL,	 source,     source_ns,	   source,     service,
		service, service_ns, il->workload, service_ns, version,
		service, protocol,   "-",	   NULL,
	};

	/* a version of a service is what Istio calls a workload: the
	 * Deployment reviews-v1 of service reviews */
	snprintf(il->workload, sizeof(il->workload), "%s-%s", service, version);
	memcpy(il->l.k, keys, sizeof(keys));
	memcpy(il->l.v, values, sizeof(values));
	il->l.n = MAX_LABELS;
}

/* The labels of reporter @p p (an index of reporters[]). */
static void
istio_reporter(struct istio_labels *il, unsigned int p)
{
	il->l.v[ISTIO_REPORTER] = reporters[p];
	/* what a sidecar reports without mTLS; a client's side cannot
	 * tell */
	il->l.v[ISTIO_SECURITY] = p == 0 ? "none" : "unknown";
}

static void
istio_family(FILE *f, const char *name, const char *type, const char *help)
{
	family_in(f, "istio_", name, type, help);
}

static void
istio_u64(FILE *f, const char *name, const struct istio_labels *il,
	  const char *extra_k, const char *extra_v, uint64_t v)
{
	sample_in(f, "istio_", name, &il->l, extra_k, extra_v, v);
}

/* istio_requests_total by response_code: each counted code, and what
 * else of its class as "2xx" and so on. */
static void
istio_requests(FILE *f, const struct istio_labels *l,
	       const struct mg_tel_set_sum *s)
{
	uint64_t known[MG_TEL_CLASS_MAX] = { 0 };
	char code[8];
	unsigned int k, c;

	for (k = 0; k < MG_TEL_CODE_MAX; k++) {
		if (s->codes[k] == 0)
			continue;
		known[istio_code[k] / 100 - 1] += s->codes[k];
		snprintf(code, sizeof(code), "%d", istio_code[k]);
		istio_u64(f, "requests_total", l, "response_code", code,
			  s->codes[k]);
	}
	for (c = 0; c < MG_TEL_CLASS_MAX; c++)
		if (s->requests[c] > known[c])
			istio_u64(f, "requests_total", l, "response_code",
				  class_name[c], s->requests[c] - known[c]);
}

/* istio_request_duration_milliseconds: bounds and sum in milliseconds;
 * @p le the bounds' strings. */
static void
istio_histogram(FILE *f, const struct istio_labels *il,
		const struct mg_tel_set_sum *s, const char *const *le,
		uint64_t hz)
{
	char sum[32];

	snprintf(sum, sizeof(sum), "%.12g",
		 (double)s->duration_sum * 1e3 / (double)hz);
	histogram_in(f, "istio_", "request_duration_milliseconds", &il->l, le,
		     tel_hist_def(TEL_HIST_REQUEST)->n_bucket,
		     s->duration_bucket, sum);
}

/*
 * The traffic series under Istio's standard metric names, labels and
 * units, so that Istio's dashboards and Kiali read them unchanged. The
 * gateway stands where both of Istio's sidecars would (the caller's and
 * the service's): every series is reported once as reporter "source"
 * and once as "destination", as a pair of sidecars would; Istio's
 * queries always select one reporter.
 */
static void
istio_traffic(FILE *f, const struct tel_registry *r,
	      const struct mg_tel_set_sum *sum, uint32_t n, uint64_t hz)
{
	static const struct {
		const char *name;
		const char *help;
		size_t field;
	} tcp[] = {
		{ "tcp_connections_opened_total", "TCP connections opened.",
		  offsetof(struct mg_tel_set_sum, opened[MG_TEL_TCP]) },
		{ "tcp_connections_closed_total", "TCP connections closed.",
		  offsetof(struct mg_tel_set_sum, closed) },
		{ "tcp_received_bytes_total",
		  "Bytes (IP) a service received on TCP connections.",
		  offsetof(struct mg_tel_set_sum, bytes[MG_TEL_DIR_REQUEST]) },
		{ "tcp_sent_bytes_total",
		  "Bytes (IP) a service sent on TCP connections.",
		  offsetof(struct mg_tel_set_sum, bytes[MG_TEL_DIR_RESPONSE]) },
	};
	const struct tel_hist_def *def = tel_hist_def(TEL_HIST_REQUEST);
	char le_ms[MG_TEL_DURATION_BUCKETS][32];
	const char *le[MG_TEL_DURATION_BUCKETS];
	struct istio_labels l;
	unsigned int k, p;
	uint32_t i;

	/* the request duration's bounds in milliseconds */
	for (k = 0; k + 1 < def->n_bucket; k++) {
		snprintf(le_ms[k], sizeof(le_ms[k]), "%.12g",
			 (double)def->bound_ns[k] / 1e6);
		le[k] = le_ms[k];
	}
	le[k] = "+Inf";

	istio_family(f, "requests_total", "counter",
		     "HTTP requests, by response code.");
	for (i = 0; i < n; i++) {
		if (!tel_set_active(&sum[i]))
			continue;
		istio_fill(r, i, "http", &l);
		for (p = 0; p < RTE_DIM(reporters); p++) {
			istio_reporter(&l, p);
			istio_requests(f, &l, &sum[i]);
		}
	}
	if (hz != 0) {
		istio_family(f, "request_duration_milliseconds", "histogram",
			     "Time from a request's first byte to the first "
			     "byte of its response, in milliseconds.");
		for (i = 0; i < n; i++) {
			if (sum[i].duration_count == 0)
				continue;
			istio_fill(r, i, "http", &l);
			for (p = 0; p < RTE_DIM(reporters); p++) {
				istio_reporter(&l, p);
				istio_histogram(f, &l, &sum[i], le, hz);
			}
		}
	}
	for (k = 0; k < MG_TEL_DIR_MAX; k++) {
		istio_family(f, size_name[k], "histogram", size_help[k]);
		for (i = 0; i < n; i++) {
			if (sum[i].size_count[k] == 0)
				continue;
			istio_fill(r, i, "http", &l);
			for (p = 0; p < RTE_DIM(reporters); p++) {
				istio_reporter(&l, p);
				size_histogram(f, "istio_", &l.l, &sum[i], k);
			}
		}
	}
	for (k = 0; k < RTE_DIM(tcp); k++) {
		istio_family(f, tcp[k].name, "counter", tcp[k].help);
		for (i = 0; i < n; i++) {
			const uint64_t *v =
				(const uint64_t *)((const char *)&sum[i] +
						   tcp[k].field);

			if (!tel_set_active(&sum[i]))
				continue;
			istio_fill(r, i, "tcp", &l);
			for (p = 0; p < RTE_DIM(reporters); p++) {
				istio_reporter(&l, p);
				istio_u64(f, tcp[k].name, &l, NULL, NULL, *v);
			}
		}
	}
}

static int
render_sets(FILE *f, const struct tel_registry *r, uint64_t hz)
{
	uint32_t n = r->n[TEL_KIND_SET], n_dests = r->n[TEL_KIND_DEST], i;
	uint64_t bucket[MG_TEL_DURATION_BUCKETS], hs_sum;
	struct mg_tel_set_sum *sum;
	uint64_t *selections;
	unsigned int c;

	/* one snapshot, so that every family agrees */
	sum = malloc(n * sizeof(*sum));
	selections = calloc(n_dests, sizeof(*selections));
	if (sum == NULL || selections == NULL) {
		free(sum);
		free(selections);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		tel_set_sum(i, &sum[i]);
		selections[r->dest_of[i]] +=
			sum[i].opened[MG_TEL_TCP] + sum[i].opened[MG_TEL_UDP];
	}

	if (tel_naming() == MG_TEL_NAMING_ISTIO) {
		istio_traffic(f, r, sum, n, hz);
		goto rest;
	}
	family(f, "requests_total", "counter",
	       "HTTP requests, by caller, destination and class of the "
	       "response's status code.");
	for (i = 0; i < n; i++) {
		struct labels l;

		if (!tel_set_active(&sum[i]))
			continue;
		set_labels(r, i, &l);
		for (c = 0; c < MG_TEL_CLASS_MAX; c++)
			sample_u64(f, "requests_total", &l,
				   "response_code_class", class_name[c],
				   sum[i].requests[c]);
	}
	if (hz != 0) {
		family(f, "request_duration_seconds", "histogram",
		       "Time from a request's first byte to the first byte "
		       "of its response, as seen by the gateway.");
		for (i = 0; i < n; i++) {
			struct labels l;

			if (sum[i].duration_count == 0)
				continue;
			set_labels(r, i, &l);
			histogram(f, "request_duration_seconds", &l,
				  tel_hist_def(TEL_HIST_REQUEST),
				  sum[i].duration_bucket, sum[i].duration_sum,
				  hz);
		}
	}
	for (c = 0; c < MG_TEL_DIR_MAX; c++) {
		family(f, size_name[c], "histogram", size_help[c]);
		for (i = 0; i < n; i++) {
			struct labels l;

			if (sum[i].size_count[c] == 0)
				continue;
			set_labels(r, i, &l);
			size_histogram(f, "meshgate_", &l, &sum[i], c);
		}
	}
	set_counter(f, r, sum, "tcp_connections_opened_total",
		    "TCP connections opened.",
		    offsetof(struct mg_tel_set_sum, opened[MG_TEL_TCP]));
	set_counter(f, r, sum, "tcp_connections_closed_total",
		    "TCP connections closed.",
		    offsetof(struct mg_tel_set_sum, closed));
	set_counter(f, r, sum, "tcp_received_bytes_total",
		    "Bytes (IP) of TCP connections from the caller to the "
		    "service.",
		    offsetof(struct mg_tel_set_sum, bytes[MG_TEL_DIR_REQUEST]));
	set_counter(
		f, r, sum, "tcp_sent_bytes_total",
		"Bytes (IP) of TCP connections from the service back to "
		"the caller.",
		offsetof(struct mg_tel_set_sum, bytes[MG_TEL_DIR_RESPONSE]));
rest:
	if (hz != 0) {
		family(f, "handshake_duration_seconds", "histogram",
		       "Time from forwarding a client's SYN to the backend's "
		       "SYN-ACK.");
		for (i = 0; i < n_dests; i++) {
			struct labels l;
			uint64_t count = 0;

			tel_dest_sum(i, bucket, &hs_sum);
			for (c = 0; c < MG_TEL_DURATION_BUCKETS; c++)
				count += bucket[c];
			if (count == 0)
				continue;
			dest_labels(r, i, &l);
			histogram(f, "handshake_duration_seconds", &l,
				  tel_hist_def(TEL_HIST_HANDSHAKE), bucket,
				  hs_sum, hz);
		}
	}
	family(f, "canary_selections_total", "counter",
	       "New connections (TCP and UDP) sent to each version of a "
	       "service.");
	for (i = 0; i < n_dests; i++) {
		struct labels l;

		if (i == 0 && selections[0] == 0)
			continue;
		dest_labels(r, i, &l);
		sample_u64(f, "canary_selections_total", &l, NULL, NULL,
			   selections[i]);
	}
	free(selections);
	free(sum);
	return 0;
}

static void
render_rules(FILE *f, const struct tel_registry *r)
{
	uint64_t dec[MG_TEL_DECISION_MAX];
	unsigned int d;
	uint32_t i;

	family(f, "policy_decisions_total", "counter",
	       "Policy decisions on new connections, by rule; dry_run: a "
	       "dry-run rule would have denied.");
	for (i = 0; i < r->n[TEL_KIND_RULE]; i++) {
		struct labels l = { { "rule" },
				    { r->names[r->rule_name[i]] },
				    1 };

		tel_rule_sum(i, dec);
		if (i == 0 && dec[0] + dec[1] + dec[2] == 0)
			continue;
		for (d = 0; d < MG_TEL_DECISION_MAX; d++)
			sample_u64(f, "policy_decisions_total", &l, "decision",
				   decision_name[d], dec[d]);
	}
}

static void
render_registry(FILE *f, const struct tel_registry *r)
{
	unsigned int k;

	family(f, "telemetry_label_sets", "gauge",
	       "Label sets, destinations and rules registered, besides the "
	       "shared overflow slot.");
	for (k = 0; k < TEL_KIND_MAX; k++)
		sample_u64(f, "telemetry_label_sets", NULL, "kind",
			   kind_label[k], r->n[k] - 1);
	family(f, "telemetry_label_sets_capacity", "gauge",
	       "Label sets, destinations and rules that can be registered, "
	       "from the configuration.");
	for (k = 0; k < TEL_KIND_MAX; k++)
		sample_u64(f, "telemetry_label_sets_capacity", NULL, "kind",
			   kind_label[k], r->max[k] - 1);
	family(f, "telemetry_label_set_overflow_total", "counter",
	       "Registrations that found their registry full; their "
	       "traffic is counted under the labels _overflow_.");
	for (k = 0; k < TEL_KIND_MAX; k++)
		sample_u64(f, "telemetry_label_set_overflow_total", NULL,
			   "kind", kind_label[k], r->overflow[k]);
}

static void
render_drops(FILE *f)
{
	struct mg_stats_sum s;
	unsigned int d;

	mg_telemetry_sum(&s);
	family(f, "drops_total", "counter", "Dropped packets, by reason.");
	for (d = 1; d < mg_drop_reason_end(); d++)
		sample_u64(f, "drops_total", NULL, "reason",
			   mg_drop_reason_name(d), s.drops[d]);
	family(f, "flows_created_total", "counter", "Connections admitted.");
	sample_u64(f, "flows_created_total", NULL, NULL, NULL, s.flows_created);
	family(f, "local_packets_total", "counter",
	       "ARP and ND packets absorbed by the gateway.");
	sample_u64(f, "local_packets_total", NULL, NULL, NULL, s.local);
	family(f, "neigh_conflicts_total", "counter",
	       "ARP and ND frames that contradicted a resolved neighbour "
	       "unasked (not applied).");
	sample_u64(f, "neigh_conflicts_total", NULL, NULL, NULL,
		   s.neigh_conflicts);
	family(f, "deny_replies_total", "counter",
	       "Refused connections answered with a RST or an ICMP "
	       "administratively prohibited (deny_action reset).");
	sample_u64(f, "deny_replies_total", NULL, NULL, NULL, s.deny_replies);
	family(f, "deny_replies_suppressed_total", "counter",
	       "Refused connections left unanswered because the worker's "
	       "reply rate was spent.");
	sample_u64(f, "deny_replies_suppressed_total", NULL, NULL, NULL,
		   s.deny_replies_suppressed);
}

static void
render_flows(FILE *f)
{
	struct mg_telemetry_flows fl;
	unsigned int i;

	if (tel_flows(&fl) != 0)
		return;
	family(f, "flows", "gauge", "Connections tracked, by state.");
	for (i = 0; i < fl.n_states; i++)
		if (fl.state_name[i] != NULL)
			sample_u64(f, "flows", NULL, "state", fl.state_name[i],
				   fl.by_state[i]);
	family(f, "flow_table_entries", "gauge", "Connections tracked.");
	sample_u64(f, "flow_table_entries", NULL, NULL, NULL, fl.total);
	family(f, "flow_table_capacity", "gauge",
	       "Connections the flow table can track.");
	sample_u64(f, "flow_table_capacity", NULL, NULL, NULL, fl.capacity);
	family(f, "l7_held_heads", "gauge",
	       "Connections whose request head or ClientHello is held "
	       "across segments for layer-7 inspection.");
	sample_u64(f, "l7_held_heads", NULL, NULL, NULL, fl.l7_held);
	family(f, "l7_held_heads_capacity", "gauge",
	       "Request heads that can be held at once (l7.max_pending).");
	sample_u64(f, "l7_held_heads_capacity", NULL, NULL, NULL,
		   fl.l7_capacity);
	family(f, "flows_half_open", "gauge",
	       "Connections not yet established (they count against "
	       "flows.max_half_open).");
	sample_u64(f, "flows_half_open", NULL, NULL, NULL, fl.half_open);
	family(f, "flows_half_open_budget", "gauge",
	       "Half-open connections at most (flows.max_half_open); the "
	       "oldest is evicted for a new one.");
	sample_u64(f, "flows_half_open_budget", NULL, NULL, NULL,
		   fl.half_open_budget);
	family(f, "flows_half_open_peak", "gauge",
	       "Most half-open connections seen since start.");
	sample_u64(f, "flows_half_open_peak", NULL, NULL, NULL,
		   fl.half_open_peak);
	family(f, "syn_cookies_sent_total", "counter",
	       "SYNs the gateway answered itself with a SYN cookie "
	       "(flows.syn_cookies).");
	sample_u64(f, "syn_cookies_sent_total", NULL, NULL, NULL,
		   fl.syn_cookies_sent);
	family(f, "syn_cookies_valid_total", "counter",
	       "ACKs that echoed a valid SYN cookie, each then admitted as a "
	       "SYN is.");
	sample_u64(f, "syn_cookies_valid_total", NULL, NULL, NULL,
		   fl.syn_cookies_valid);
}

struct limit_ctx {
	FILE *f;
	int which; /* 0 drops, 1 connections, 2 sources */
	bool started;
};

static int
emit_limit(void *arg, const struct mg_telemetry_limit *lim)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "limit_drops_total", "counter",
		  "Packets and new connections a caller limit dropped, by "
		  "reason." },
		{ "limit_connections", "gauge",
		  "Concurrent connections a caller limit counts (the whole "
		  "identity)." },
		{ "limit_sources", "gauge",
		  "Source addresses with a budget of their own under a "
		  "limit." },
	};
	struct limit_ctx *ctx = arg;
	struct labels l = { { "limit", "source_workload",
			      "destination_service" },
			    { lim->name, lim->identity,
			      lim->service[0] != '\0' ? lim->service : "*" },
			    3 };
	uint64_t drops[MG_TEL_LIMIT_MAX];
	unsigned int r;

	if (!ctx->started) {
		family(ctx->f, fam[ctx->which].name, fam[ctx->which].type,
		       fam[ctx->which].help);
		ctx->started = true;
	}
	switch (ctx->which) {
	case 0:
		mg_telemetry_limit_drops(lim->id, drops);
		for (r = 0; r < MG_TEL_LIMIT_MAX; r++)
			sample_u64(ctx->f, "limit_drops_total", &l, "reason",
				   mg_tel_limit_reason_name(r), drops[r]);
		break;
	case 1:
		sample_u64(ctx->f, "limit_connections", &l, NULL, NULL,
			   lim->conns);
		break;
	default:
		sample_u64(ctx->f, "limit_sources", &l, NULL, NULL,
			   lim->sources);
		break;
	}
	return 0;
}

static void
render_limits(FILE *f)
{
	int which;

	for (which = 0; which < 3; which++) {
		struct limit_ctx ctx = { f, which, false };

		if (tel_limits(emit_limit, &ctx) != 0)
			return;
	}
}

struct shadow_ctx {
	FILE *f;
	bool started;
};

static int
emit_shadow(void *arg, const struct mg_telemetry_shadow *s)
{
	struct shadow_ctx *ctx = arg;
	struct labels l = { { "kind", "source_workload",
			      "destination_service" },
			    { s->kind, s->identity, s->service },
			    3 };

	if (!ctx->started) {
		family(ctx->f, "shadow_disagreements_total", "counter",
		       "Connections and requests the shadow (candidate) "
		       "config decides differently from the one in force, "
		       "by kind.");
		ctx->started = true;
	}
	sample_u64(ctx->f, "shadow_disagreements_total", &l, NULL, NULL,
		   s->count);
	return 0;
}

static void
render_shadow(FILE *f)
{
	struct shadow_ctx ctx = { f, false };

	tel_shadow(emit_shadow, &ctx);
}

static int
emit_canary(void *arg, const char *service, const char *version,
	    bool rolled_back)
{
	struct shadow_ctx *ctx = arg;
	struct labels l = { { "destination_service", "destination_version" },
			    { service, version },
			    2 };

	if (!ctx->started) {
		family(ctx->f, "canary_rolled_back", "gauge",
		       "1 once a version with automatic rollback has been "
		       "rolled back (weight 0 until a reload).");
		ctx->started = true;
	}
	sample_u64(ctx->f, "canary_rolled_back", &l, NULL, NULL,
		   rolled_back ? 1 : 0);
	return 0;
}

static void
render_canary(FILE *f)
{
	struct shadow_ctx ctx = { f, false };

	tel_canary(emit_canary, &ctx);
}

struct backend_ctx {
	FILE *f;
	bool ejections; /* which family is being written */
	bool started;
};

static int
emit_backend(void *arg, const struct mg_telemetry_backend *b)
{
	struct backend_ctx *ctx = arg;
	struct labels l = { { "destination_service", "destination_version",
			      "backend" },
			    { b->service, b->version, b->backend },
			    3 };

	if (b->service == NULL || b->version == NULL || b->backend == NULL)
		return 0;
	if (!ctx->started) {
		if (ctx->ejections)
			family(ctx->f, "backend_ejections_total", "counter",
			       "Times passive health ejected a backend.");
		else
			family(ctx->f, "backend_up", "gauge",
			       "1 when a backend is healthy; 0 while "
			       "ejected, or failing but kept in service "
			       "by max_ejected_percent.");
		ctx->started = true;
	}
	if (ctx->ejections)
		sample_u64(ctx->f, "backend_ejections_total", &l, NULL, NULL,
			   b->ejections);
	else
		sample_u64(ctx->f, "backend_up", &l, NULL, NULL, b->up ? 1 : 0);
	return 0;
}

static void
render_backends(FILE *f)
{
	struct backend_ctx up = { f, false, false };
	struct backend_ctx ej = { f, true, false };

	if (tel_backends(emit_backend, &up) == 0)
		tel_backends(emit_backend, &ej);
}

/* ---- ESP peers and SAs ---- */

enum esp_family {
	ESP_SA_PACKETS = 0,
	ESP_SA_BYTES,
	ESP_SA_SEQ,
	ESP_SA_WINDOW,
	ESP_SA_DROPS,
	ESP_PEER_DROPS,
	ESP_FAMILY_MAX
};

static const struct {
	const char *name, *type, *help;
} esp_families[ESP_FAMILY_MAX] = {
	[ESP_SA_PACKETS] = { "esp_sa_packets_total", "counter",
			     "Packets an SA decapsulated (inbound) or "
			     "encapsulated (outbound)." },
	[ESP_SA_BYTES] = { "esp_sa_bytes_total", "counter",
			   "Bytes of inner packets an SA carried." },
	[ESP_SA_SEQ] = { "esp_sa_sequence_number", "gauge",
			 "Outbound: the last sequence number sent; inbound: "
			 "the highest authenticated (top of the replay "
			 "window)." },
	[ESP_SA_WINDOW] = { "esp_sa_replay_window", "gauge",
			    "Inbound: the anti-replay window, in packets." },
	[ESP_SA_DROPS] = { "esp_sa_drops_total", "counter",
			   "Packets of an SA dropped, by reason (replay, "
			   "window, authentication, sequence numbers "
			   "exhausted, ...)." },
	[ESP_PEER_DROPS] = { "esp_peer_drops_total", "counter",
			     "A peer's packets dropped before an SA was "
			     "found (unknown SPI from its address), or for "
			     "arriving in clear or from the wrong peer." },
};

struct esp_ctx {
	FILE *f;
	enum esp_family fam;
	bool started;
};

static int
emit_esp(void *arg, const struct mg_telemetry_esp_peer *p,
	 const struct mg_telemetry_esp_sa *sa)
{
	struct esp_ctx *c = arg;
	const uint64_t *drops;
	char spi[16];
	struct labels l = { { "peer", "spi", "direction", "state" },
			    { p->name, spi, NULL, NULL },
			    3 };
	unsigned int r;

	if ((c->fam == ESP_PEER_DROPS) != (sa == NULL))
		return 0;
	if (c->fam == ESP_SA_WINDOW && !sa->inbound)
		return 0;
	if (!c->started) {
		family(c->f, esp_families[c->fam].name,
		       esp_families[c->fam].type, esp_families[c->fam].help);
		c->started = true;
	}
	if (sa == NULL) {
		l.n = 1;
		drops = p->drops;
	} else {
		snprintf(spi, sizeof(spi), "0x%08x", sa->spi);
		l.v[2] = sa->inbound ? "in" : "out";
		drops = sa->drops;
	}
	switch (c->fam) {
	case ESP_SA_PACKETS:
		sample_u64(c->f, esp_families[c->fam].name, &l, NULL, NULL,
			   sa->packets);
		break;
	case ESP_SA_BYTES:
		sample_u64(c->f, esp_families[c->fam].name, &l, NULL, NULL,
			   sa->bytes);
		break;
	case ESP_SA_SEQ:
		l.v[3] = sa->state;
		l.n = 4;
		sample_u64(c->f, esp_families[c->fam].name, &l, NULL, NULL,
			   sa->seq);
		break;
	case ESP_SA_WINDOW:
		sample_u64(c->f, esp_families[c->fam].name, &l, NULL, NULL,
			   sa->replay_window);
		break;
	default:
		for (r = 1; r < mg_drop_reason_end(); r++)
			if (drops[r] != 0)
				sample_u64(c->f, esp_families[c->fam].name, &l,
					   "reason", mg_drop_reason_name(r),
					   drops[r]);
		break;
	}
	return 0;
}

/* meshgate_esp_*: one walk per family, so each family's samples stay
 * together as the format wants. */
static void
render_esp(FILE *f)
{
	struct esp_ctx c = { f, ESP_SA_PACKETS, false };

	for (c.fam = 0; c.fam < ESP_FAMILY_MAX; c.fam++) {
		c.started = false;
		if (tel_esp(emit_esp, &c) != 0)
			return;
	}
}

/* The basic counters of a port, each a family of its own. */
static const struct {
	const char *name, *help;
	size_t field;
} port_counters[] = {
	{ "port_ipackets_total", "Frames the NIC received.",
	  offsetof(struct mg_telemetry_port, ipackets) },
	{ "port_opackets_total", "Frames the NIC sent.",
	  offsetof(struct mg_telemetry_port, opackets) },
	{ "port_ibytes_total", "Bytes the NIC received.",
	  offsetof(struct mg_telemetry_port, ibytes) },
	{ "port_obytes_total", "Bytes the NIC sent.",
	  offsetof(struct mg_telemetry_port, obytes) },
	{ "port_imissed_total",
	  "Frames the NIC dropped because its RX queue was full (the "
	  "gateway polled too slowly).",
	  offsetof(struct mg_telemetry_port, imissed) },
	{ "port_ierrors_total", "Erroneous frames the NIC received.",
	  offsetof(struct mg_telemetry_port, ierrors) },
	{ "port_oerrors_total", "Frames the NIC failed to send.",
	  offsetof(struct mg_telemetry_port, oerrors) },
	{ "port_rx_nombuf_total",
	  "Times the NIC found no mbuf to receive into (pool exhausted).",
	  offsetof(struct mg_telemetry_port, rx_nombuf) },
};

/* meshgate_port_*{port}: read once, so that every family agrees. */
static void
render_ports(FILE *f)
{
	struct mg_telemetry_port p[MG_TELEMETRY_MAX_PORTS];
	unsigned int k, i, x;
	bool any_xstat = false;
	int n;

	n = tel_ports(p, RTE_DIM(p));
	if (n <= 0)
		return;
	for (k = 0; k < RTE_DIM(port_counters); k++) {
		family(f, port_counters[k].name, "counter",
		       port_counters[k].help);
		for (i = 0; i < (unsigned int)n; i++)
			sample_u64(f, port_counters[k].name, NULL, "port",
				   p[i].name,
				   *(const uint64_t *)((const char *)&p[i] +
						       port_counters[k].field));
	}
	for (i = 0; i < (unsigned int)n; i++)
		any_xstat |= p[i].n_xstats > 0;
	if (!any_xstat)
		return;
	family(f, "port_xstats_total", "counter",
	       "The NIC driver's own error, miss and drop counters "
	       "(extended statistics), by name.");
	for (i = 0; i < (unsigned int)n; i++) {
		struct labels l = { { "port" }, { p[i].name }, 1 };

		for (x = 0; x < p[i].n_xstats; x++)
			sample_u64(f, "port_xstats_total", &l, "xstat",
				   p[i].xstat_name[x], p[i].xstat_value[x]);
	}
}

/* meshgate_config_*: reloads and what waits for a restart. */
static void
render_config(FILE *f)
{
	const struct mg_telemetry_config *c = tel_config();

	if (c == NULL)
		return;
	family(f, "config_reloads_total", "counter",
	       "Configuration reloads (SIGHUP), by result; a failure keeps "
	       "the running configuration.");
	sample_u64(f, "config_reloads_total", NULL, "result", "success",
		   c->reloads_success);
	sample_u64(f, "config_reloads_total", NULL, "result", "failure",
		   c->reloads_failure);
	family(f, "config_last_reload_success_timestamp_seconds", "gauge",
	       "Unix time of the last successful configuration load, "
	       "start-up included.");
	sample_double(f, "config_last_reload_success_timestamp_seconds", NULL,
		      c->last_success_s);
	family(f, "config_restart_pending", "gauge",
	       "1 when the configuration file changes a setting that takes "
	       "effect only after a restart; the running value stays.");
	sample_u64(f, "config_restart_pending", NULL, NULL, NULL,
		   c->restart_pending ? 1 : 0);
}

/* Per-lcore families, each over every claimed lcore. */
enum lcore_metric {
	LC_RX,
	LC_TX,
	LC_POLLS,
	LC_BUSY_SECONDS,
	LC_BUSY_RATIO,
	LC_BURST,
	LC_LATENCY,
	LC_MAX
};

static void
render_lcores(FILE *f, uint64_t hz)
{
	static const struct {
		const char *name, *type, *help;
	} m[LC_MAX] = {
		[LC_RX] = { "packets_received_total", "counter",
			    "Frames received." },
		[LC_TX] = { "packets_transmitted_total", "counter",
			    "Frames handed to the NIC." },
		[LC_POLLS] = { "polls_total", "counter",
			       "Poll rounds; busy: something was received." },
		[LC_BUSY_SECONDS] = { "busy_seconds_total", "counter",
				      "Time spent in busy poll rounds." },
		[LC_BUSY_RATIO] = { "busy_ratio", "gauge",
				    "Share of the time since the lcore "
				    "started spent in busy poll rounds." },
		[LC_BURST] = { "packets_per_burst", "gauge",
			       "Frames received per busy poll round, since "
			       "the lcore started." },
		[LC_LATENCY] = { "processing_latency_seconds", "histogram",
				 "Time from a packet's RX burst to the TX "
				 "flush of the same poll round." },
	};
	uint64_t now = rte_rdtsc();
	unsigned int k, i;

	for (k = 0; k < LC_MAX; k++) {
		if (hz == 0 && (k == LC_BUSY_SECONDS || k == LC_LATENCY))
			continue;
		family(f, m[k].name, m[k].type, m[k].help);
		for (i = 0; i < RTE_MAX_LCORE; i++) {
			const struct mg_lcore_stats *s = tel_lcore(i);
			uint64_t bucket[MG_TEL_DURATION_BUCKETS] = { 0 }, sum;
			struct labels l = { { "lcore" }, { NULL }, 1 };
			uint64_t busy, polls, elapsed;
			char id[16];

			if (s == NULL)
				continue;
			snprintf(id, sizeof(id), "%u", i);
			l.v[0] = id;
			busy = tel_load(&s->busy_polls);
			switch (k) {
			case LC_RX:
				sample_u64(f, m[k].name, &l, NULL, NULL,
					   tel_load(&s->rx));
				break;
			case LC_TX:
				sample_u64(f, m[k].name, &l, NULL, NULL,
					   tel_load(&s->tx));
				break;
			case LC_POLLS:
				sample_u64(f, m[k].name, &l, "result", "busy",
					   busy);
				sample_u64(f, m[k].name, &l, "result", "idle",
					   tel_load(&s->idle_polls));
				break;
			case LC_BUSY_SECONDS:
				sample_double(
					f, m[k].name, &l,
					(double)tel_load(&s->busy_cycles) /
						(double)hz);
				break;
			case LC_BUSY_RATIO:
				elapsed = now - s->claim_tsc;
				sample_double(
					f, m[k].name, &l,
					elapsed == 0
						? 0
						: (double)tel_load(
							  &s->busy_cycles) /
							  (double)elapsed);
				break;
			case LC_BURST:
				polls = busy;
				sample_double(
					f, m[k].name, &l,
					polls == 0 ? 0
						   : (double)tel_load(&s->rx) /
							     (double)polls);
				break;
			default:
				sum = 0;
				tel_latency_sum(s, bucket, &sum);
				histogram(f, m[k].name, &l,
					  tel_hist_def(TEL_HIST_LATENCY),
					  bucket, sum, hz);
				break;
			}
		}
	}
}

int
tel_prometheus_render(FILE *f)
{
	const struct tel_registry *r = tel_registry();
	uint64_t hz = tel_tsc_hz();
	int rc = 0;

	if (r != NULL) {
		rc = render_sets(f, r, hz);
		if (rc < 0)
			return rc;
		render_rules(f, r);
	}
	render_drops(f);
	render_flows(f);
	render_backends(f);
	render_limits(f);
	render_esp(f);
	render_shadow(f);
	render_canary(f);
	render_ports(f);
	render_lcores(f, hz);
	render_config(f);
	if (r != NULL)
		render_registry(f, r);
	family(f, "telemetry_memory_bytes", "gauge",
	       "Memory held by the telemetry library: per-lcore blocks, "
	       "registries and per-lcore label-set arrays.");
	sample_u64(f, "telemetry_memory_bytes", NULL, NULL, NULL,
		   tel_memory_locked());
	return ferror(f) ? -ENOMEM : 0;
}
