/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Unit tests of lib/telemetry: per-lcore blocks and sums, the label-set
 * registry, histograms, the Prometheus text (checked by promtool) and the
 * /meshgate/ DPDK telemetry commands (queried through the socket).
 */

#define _GNU_SOURCE /* CPU sets and thread affinity */

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "mg_test.h"

#include <rte_cycles.h>
#include <rte_eal.h>

#include "mg_telemetry.h"

static void
test_claim_rejects_bad_lcore(void **state)
{
	(void)state;
	assert_null(mg_telemetry_lcore_claim(RTE_MAX_LCORE, MG_LCORE_WORKER));
	assert_null(mg_telemetry_lcore_claim(0, MG_LCORE_UNUSED));
	assert_int_equal(mg_telemetry_lcore_role(RTE_MAX_LCORE),
			 MG_LCORE_UNUSED);
}

static void
test_sum_over_lcores(void **state)
{
	struct mg_lcore_stats *a, *b;
	struct mg_stats_sum s;

	(void)state;
	a = mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	b = mg_telemetry_lcore_claim(3, MG_LCORE_WORKER);
	assert_non_null(a);
	assert_non_null(b);
	mg_counter_add(&a->rx, 10);
	mg_counter_add(&b->rx, 32);
	mg_counter_add(&a->tx, 7);
	mg_counter_add(&a->drops[MG_DROP_RUNT], 2);
	mg_counter_add(&b->drops[MG_DROP_RUNT], 1);
	mg_counter_add(&b->drops[MG_DROP_TX_FULL], 4);
	mg_counter_add(&b->idle_polls, 5);

	mg_telemetry_sum(&s);
	assert_int_equal(s.rx, 42);
	assert_int_equal(s.tx, 7);
	assert_int_equal(s.drops[MG_DROP_RUNT], 3);
	assert_int_equal(s.drops[MG_DROP_TX_FULL], 4);
	assert_int_equal(s.drops_total, 7);
	assert_int_equal(s.idle_polls, 5);

	mg_telemetry_lcore_read(3, &s);
	assert_int_equal(s.rx, 32);
	assert_int_equal(s.drops_total, 5);
	mg_telemetry_lcore_read(2, &s); /* never claimed */
	assert_int_equal(s.rx, 0);
	assert_string_equal(mg_lcore_role_name(mg_telemetry_lcore_role(3)),
			    "worker");
}

static void
test_claim_resets_block(void **state)
{
	struct mg_lcore_stats *a;
	struct mg_stats_sum s;

	(void)state;
	a = mg_telemetry_lcore_claim(5, MG_LCORE_MAIN_WORKER);
	mg_counter_add(&a->rx, 9);
	a = mg_telemetry_lcore_claim(5, MG_LCORE_MAIN_WORKER);
	mg_telemetry_lcore_read(5, &s);
	assert_int_equal(s.rx, 0);
	assert_string_equal(mg_lcore_role_name(MG_LCORE_MAIN_WORKER),
			    "main-worker");
}

/* CPUs this process may run on, saved before rte_eal_init pins the
 * main thread (-l 0): threads it creates would inherit that pin, and
 * "concurrent" writers would take turns on one CPU. */
static cpu_set_t startup_cpus;

/* Thread attributes that undo the inherited pin. */
static void
pinned_attr(pthread_attr_t *attr)
{
	assert_int_equal(pthread_attr_init(attr), 0);
	assert_int_equal(pthread_attr_setaffinity_np(attr, sizeof(startup_cpus),
						     &startup_cpus),
			 0);
}

#define WRITES 2000000

static void *
writer(void *arg)
{
	struct mg_lcore_stats *st = arg;
	unsigned int i;

	for (i = 0; i < WRITES; i++)
		mg_counter_add(&st->rx, 1);
	return NULL;
}

/* A reader racing one writer per block sees monotonic, untorn sums and
 * the exact total once the writers are done. */
static void
test_concurrent_readers(void **state)
{
	struct mg_lcore_stats *a, *b;
	pthread_attr_t attr;
	pthread_t ta, tb;
	struct mg_stats_sum s;
	uint64_t last = 0;

	(void)state;
	a = mg_telemetry_lcore_claim(10, MG_LCORE_WORKER);
	b = mg_telemetry_lcore_claim(11, MG_LCORE_WORKER);
	mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	mg_telemetry_lcore_claim(3, MG_LCORE_WORKER);
	mg_telemetry_lcore_claim(5, MG_LCORE_WORKER);
	pinned_attr(&attr);
	assert_int_equal(pthread_create(&ta, &attr, writer, a), 0);
	assert_int_equal(pthread_create(&tb, &attr, writer, b), 0);
	pthread_attr_destroy(&attr);
	do {
		mg_telemetry_sum(&s);
		assert_true(s.rx >= last);
		assert_true(s.rx <= 2ull * WRITES);
		last = s.rx;
	} while (s.rx < 2ull * WRITES);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	mg_telemetry_sum(&s);
	assert_int_equal(s.rx, 2ull * WRITES);
}

/* ---- helpers ---- */

static char *
render(void)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(mg_telemetry_prometheus(&text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* Whether @p text holds @p line as a whole line. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
		p++;
	}
	return false;
}

static void
assert_line(const char *text, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!has_line(text, line))
		fail_msg("missing line: %s", line);
}

/* The value of the sample whose series is exactly @p series. */
static double
sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p++;
	}
	fail_msg("no sample %s", series);
	return NAN;
}

/* Runs `promtool check metrics` on @p text: the test fails, not skips,
 * when promtool is missing (Debian package "prometheus"). */
static void
promtool_check(const char *text)
{
	char path[] = "/tmp/test_telemetry_XXXXXX";
	char cmd[128];
	size_t len = strlen(text);
	int fd, rc;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		fail_msg("promtool not found: install the prometheus package");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	rc = system(cmd);
	if (rc != 0) {
		fprintf(stderr, "# rejected exposition kept in %s\n", path);
		fail_msg("promtool check metrics failed (%d)", rc);
	}
	unlink(path);
}

static unsigned int
count_of(const char *text, const char *part)
{
	unsigned int n = 0;

	for (; (text = strstr(text, part)) != NULL; text++)
		n++;
	return n;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every "# TYPE" once, every sample of a family right after its header,
 * every sample named meshgate_, no series twice. */
static void
check_families(const char *text)
{
	char family[128] = "", line[1024], pat[160];
	const char *p = text, *nl;
	unsigned int types = 0, n_series = 0, i;
	char **series = calloc(count_of(text, "\n"), sizeof(*series));

	assert_non_null(series);
	while ((nl = strchr(p, '\n')) != NULL) {
		size_t n = (size_t)(nl - p);

		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", family), 1);
			snprintf(pat, sizeof(pat), "# TYPE %s ", family);
			assert_int_equal(count_of(text, pat), 1);
			types++;
		} else if (line[0] != '#') {
			assert_int_equal(strncmp(line, "meshgate_", 9), 0);
			assert_int_equal(strncmp(line, family, strlen(family)),
					 0);
			*strrchr(line, ' ') = '\0';
			series[n_series++] = strdup(line);
		}
	}
	assert_true(types > 20);
	qsort(series, n_series, sizeof(*series), cmp_str);
	for (i = 1; i < n_series; i++)
		if (strcmp(series[i - 1], series[i]) == 0)
			fail_msg("series twice: %s", series[i]);
	for (i = 0; i < n_series; i++)
		free(series[i]);
	free(series);
}

static int
configure_teardown(void **state)
{
	(void)state;
	mg_telemetry_fini();
	return 0;
}

/* ---- registry ---- */

static void
test_not_configured(void **state)
{
	struct mg_tel_set_sum s;
	char *text;

	(void)state;
	mg_telemetry_fini();
	assert_int_equal(mg_telemetry_labelset("a", "b", "c"), -ENODEV);
	assert_int_equal(mg_telemetry_rule("r"), -ENODEV);
	assert_int_equal(mg_telemetry_lcore_bytes(), 0);
	assert_int_equal(mg_telemetry_set_read(0, &s), -ENOENT);
	/* claim without configuration: no arrays, slot calls count nothing */
	struct mg_lcore_stats *b = mg_telemetry_lcore_claim(2, MG_LCORE_WORKER);
	assert_non_null(b);
	assert_null(b->sets);
	mg_tel_conn_open(b, 1, MG_TEL_TCP);
	mg_tel_handshake(b, 1, 10);
	mg_tel_decision(b, 1, MG_TEL_ALLOW);
	text = render();
	promtool_check(text);
	free(text);
	assert_int_equal(mg_telemetry_configure(1, 2, 2), -EINVAL);
	assert_int_equal(mg_telemetry_configure(2, 1, 2), -EINVAL);
	assert_int_equal(mg_telemetry_configure(2, 2, 1), -EINVAL);
	assert_int_equal(mg_telemetry_configure((1u << 24) + 1, 2, 2), -EINVAL);
	assert_int_equal(mg_telemetry_configure(2, 2, 2), 0);
	assert_int_equal(mg_telemetry_configure(2, 2, 2), -EALREADY);
}

static void
test_registry_stable(void **state)
{
	int a, b, c, d;

	(void)state;
	assert_int_equal(mg_telemetry_configure(64, 16, 8), 0);
	a = mg_telemetry_labelset("frontend", "shop", "v1");
	b = mg_telemetry_labelset("frontend", "shop", "v2");
	c = mg_telemetry_labelset("unknown", "shop", "v1");
	d = mg_telemetry_labelset("shop", "frontend", "v1"); /* names swap */
	assert_int_equal(a, 1);
	assert_int_equal(b, 2);
	assert_int_equal(c, 3);
	assert_int_equal(d, 4);
	/* a reload registers the same names again, in any order */
	assert_int_equal(mg_telemetry_labelset("unknown", "shop", "v1"), c);
	assert_int_equal(mg_telemetry_labelset("frontend", "shop", "v2"), b);
	assert_int_equal(mg_telemetry_labelset("frontend", "shop", "v1"), a);
	assert_int_equal(mg_telemetry_labelset("shop", "frontend", "v1"), d);
	assert_int_equal(mg_telemetry_rule("frontend-shop"), 1);
	assert_int_equal(mg_telemetry_rule("default-deny"), 2);
	assert_int_equal(mg_telemetry_rule("frontend-shop"), 1);
	/* a rule may share its name with an identity */
	assert_int_equal(mg_telemetry_rule("frontend"), 3);

	assert_int_equal(mg_telemetry_labelset(NULL, "s", "v"), -EINVAL);
	assert_int_equal(mg_telemetry_labelset("i", "", "v"), -EINVAL);
	assert_int_equal(mg_telemetry_labelset("i", "s", NULL), -EINVAL);
	assert_int_equal(mg_telemetry_rule(""), -EINVAL);
	/* the overflow's own name can never be a real slot */
	assert_int_equal(mg_telemetry_labelset("_overflow_", "shop", "v1"), 0);
	assert_int_equal(mg_telemetry_rule("_overflow_"), 0);
}

static void
test_registry_overflow(void **state)
{
	struct mg_lcore_stats *s;
	char *text;
	int i, slot;

	(void)state;
	/* 3 label sets, 2 destinations, 2 rules besides the overflow */
	assert_int_equal(mg_telemetry_configure(4, 3, 3), 0);
	assert_int_equal(mg_telemetry_labelset("fe", "shop", "v1"), 1);
	assert_int_equal(mg_telemetry_labelset("fe", "shop", "v2"), 2);
	/* a third destination overflows, the label set does not */
	assert_int_equal(mg_telemetry_labelset("fe", "shop", "v3"), 3);
	for (i = 0; i < 5; i++)
		assert_int_equal(mg_telemetry_labelset("be", "cart", "v1"), 0);
	/* known ones keep their slots when full */
	assert_int_equal(mg_telemetry_labelset("fe", "shop", "v2"), 2);
	assert_int_equal(mg_telemetry_rule("a"), 1);
	assert_int_equal(mg_telemetry_rule("b"), 2);
	assert_int_equal(mg_telemetry_rule("c"), 0);

	s = mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	assert_non_null(s);
	slot = mg_telemetry_labelset("be", "cart", "v1");
	mg_tel_conn_open(s, (uint32_t)slot, MG_TEL_TCP);
	mg_tel_bytes(s, (uint32_t)slot, MG_TEL_DIR_REQUEST, 60);
	mg_tel_handshake(s, 3, rte_get_tsc_hz() / 1000); /* to dest 0 */
	mg_tel_conn_open(s, 3, MG_TEL_UDP);
	mg_tel_decision(s, 0, MG_TEL_DENY);
	/* slots past the configured size are ignored, not written */
	mg_tel_conn_open(s, 4, MG_TEL_TCP);
	mg_tel_decision(s, 3, MG_TEL_DENY);
	mg_tel_request(s, 1, MG_TEL_CLASS_MAX);
	mg_tel_request(s, 1, -1);

	text = render();
	promtool_check(text);
	check_families(text);
	assert_line(text,
		    "meshgate_telemetry_label_set_overflow_total{kind=\"label_"
		    "set\"} 6");
	assert_line(text, "meshgate_telemetry_label_set_overflow_total{kind="
			  "\"destination\"} 1");
	assert_line(text, "meshgate_telemetry_label_set_overflow_total{kind="
			  "\"rule\"} 1");
	assert_line(text,
		    "meshgate_telemetry_label_sets{kind=\"label_set\"} 3");
	assert_line(text, "meshgate_telemetry_label_sets_capacity{kind="
			  "\"destination\"} 2");
	assert_line(text,
		    "meshgate_tcp_connections_opened_total{source_workload=\"_"
		    "overflow_\",destination_service=\"_overflow_\","
		    "destination_version=\"_overflow_\"} 1");
	assert_line(text,
		    "meshgate_tcp_received_bytes_total{source_workload=\"_"
		    "overflow_\",destination_service=\"_overflow_\","
		    "destination_version=\"_overflow_\"} 60");
	assert_line(text, "meshgate_handshake_duration_seconds_count{"
			  "destination_service=\"_overflow_\","
			  "destination_version=\"_overflow_\"} 1");
	/* canary selections of the overflow destination: the overflow
	 * label set's TCP connection and fe/shop/v3's UDP one */
	assert_line(text, "meshgate_canary_selections_total{destination_"
			  "service=\"_overflow_\",destination_version=\"_"
			  "overflow_\"} 2");
	assert_line(text, "meshgate_canary_selections_total{destination_"
			  "service=\"shop\",destination_version=\"v1\"} 0");
	assert_line(text, "meshgate_policy_decisions_total{rule=\"_overflow_\","
			  "decision=\"deny\"} 1");
	assert_line(text, "meshgate_policy_decisions_total{rule=\"b\","
			  "decision=\"deny\"} 0");
	/* inactive label sets are not rendered */
	assert_null(strstr(text, "source_workload=\"fe\",destination_service="
				 "\"shop\",destination_version=\"v2\""));
	free(text);
}

/* ---- sums over lcores ---- */

#define N_OPS 300000

struct tel_writer {
	struct mg_lcore_stats *s;
	uint32_t set, other, rule;
};

static void *
tel_writer_main(void *arg)
{
	const struct tel_writer *w = arg;
	uint32_t i;

	for (i = 0; i < N_OPS; i++) {
		mg_tel_conn_open(w->s, w->set, MG_TEL_TCP);
		mg_tel_bytes(w->s, w->set, MG_TEL_DIR_REQUEST, 100);
		mg_tel_bytes(w->s, w->set, MG_TEL_DIR_RESPONSE, 1000);
		mg_tel_request(w->s, w->set, MG_TEL_2XX);
		mg_tel_request_duration(w->s, w->set, i);
		mg_tel_handshake(w->s, w->other, 12345);
		mg_tel_conn_close(w->s, w->set);
		mg_tel_decision(w->s, w->rule, MG_TEL_ALLOW);
		mg_tel_latency(w->s, 100, 32);
	}
	return NULL;
}

/* Two lcores write the same label set, a reader sums as they go: every
 * sum it sees is monotonic and bounded, the last one exact. */
static void
test_two_lcores_exact(void **state)
{
	struct tel_writer w[2];
	struct mg_tel_set_sum s;
	uint64_t bucket[MG_TEL_DURATION_BUCKETS], sum, last = 0;
	const uint64_t total = 2ull * N_OPS;
	uint64_t dsum = (uint64_t)N_OPS * (N_OPS - 1); /* 2 * sum(0..N-1) */
	pthread_attr_t attr;
	pthread_t t[2];
	char *text;
	int i, n;

	(void)state;
	assert_int_equal(mg_telemetry_configure(16, 8, 4), 0);
	for (i = 0; i < 2; i++) {
		w[i].s = mg_telemetry_lcore_claim(i + 1, MG_LCORE_WORKER);
		assert_non_null(w[i].s);
		w[i].set = mg_telemetry_labelset("fe", "shop", "v1");
		w[i].other = mg_telemetry_labelset("be", "shop", "v2");
		w[i].rule = mg_telemetry_rule("fe-shop");
	}
	pinned_attr(&attr);
	for (i = 0; i < 2; i++)
		assert_int_equal(
			pthread_create(&t[i], &attr, tel_writer_main, &w[i]),
			0);
	pthread_attr_destroy(&attr);
	do {
		assert_int_equal(mg_telemetry_set_read(w[0].set, &s), 0);
		assert_true(s.opened[MG_TEL_TCP] >= last);
		assert_true(s.opened[MG_TEL_TCP] <= total);
		assert_true(s.bytes[MG_TEL_DIR_RESPONSE] <= 1000 * total);
		last = s.opened[MG_TEL_TCP];
	} while (last < total);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	assert_int_equal(mg_telemetry_set_read(w[0].set, &s), 0);
	assert_int_equal(s.opened[MG_TEL_TCP], total);
	assert_int_equal(s.opened[MG_TEL_UDP], 0);
	assert_int_equal(s.closed, total);
	assert_int_equal(s.bytes[MG_TEL_DIR_REQUEST], 100 * total);
	assert_int_equal(s.bytes[MG_TEL_DIR_RESPONSE], 1000 * total);
	assert_int_equal(s.requests[MG_TEL_2XX], total);
	assert_int_equal(s.requests[MG_TEL_5XX], 0);
	assert_int_equal(s.duration_count, total);
	assert_int_equal(s.duration_sum, dsum);
	/* the handshakes went to the other label set's destination */
	n = mg_telemetry_hist_read("handshake_duration", bucket, &sum);
	assert_int_equal(n, MG_TEL_DURATION_BUCKETS);
	assert_int_equal(sum, 12345 * total);
	assert_int_equal(mg_telemetry_set_read(w[0].other, &s), 0);
	assert_int_equal(s.duration_count, 0);
	n = mg_telemetry_hist_read("processing_latency", bucket, &sum);
	assert_int_equal(n, MG_TEL_LATENCY_BUCKETS);
	assert_int_equal(sum, 100 * 32 * total);
	assert_int_equal(mg_telemetry_set_read(99, &s), -ENOENT);
	assert_int_equal(mg_telemetry_hist_read("nope", bucket, &sum), -EINVAL);

	text = render();
	promtool_check(text);
	check_families(text);
	assert_line(text,
		    "meshgate_requests_total{source_workload=\"fe\","
		    "destination_service=\"shop\",destination_version=\"v1\","
		    "response_code_class=\"2xx\"} %" PRIu64,
		    total);
	assert_line(text,
		    "meshgate_requests_total{source_workload=\"fe\","
		    "destination_service=\"shop\",destination_version=\"v1\","
		    "response_code_class=\"4xx\"} 0");
	assert_line(text,
		    "meshgate_tcp_sent_bytes_total{source_workload=\"fe\","
		    "destination_service=\"shop\",destination_version=\"v1\"} "
		    "%" PRIu64,
		    1000 * total);
	assert_line(text,
		    "meshgate_tcp_connections_closed_total{source_workload="
		    "\"fe\",destination_service=\"shop\",destination_version="
		    "\"v1\"} %" PRIu64,
		    total);
	assert_line(text,
		    "meshgate_policy_decisions_total{rule=\"fe-shop\","
		    "decision=\"allow\"} %" PRIu64,
		    total);
	assert_line(text,
		    "meshgate_canary_selections_total{destination_service="
		    "\"shop\",destination_version=\"v1\"} %" PRIu64,
		    total);
	assert_line(text,
		    "meshgate_handshake_duration_seconds_count{destination_"
		    "service=\"shop\",destination_version=\"v2\"} %" PRIu64,
		    total);
	assert_line(text,
		    "meshgate_processing_latency_seconds_count{lcore=\"1\"} "
		    "%" PRIu64,
		    32ull * N_OPS);
	free(text);
}

/* ---- histograms ---- */

static uint64_t
ref_bucket(const struct mg_tel_bounds *b, uint64_t c)
{
	unsigned int i = 0;

	while (c > b->le[i])
		i++;
	return i;
}

static void
check_bounds(const char *which, const struct mg_tel_bounds *b, int n)
{
	uint64_t hz = rte_get_tsc_hz(), x = 88172645463325252ull;
	double sec, prev = 0;
	uint64_t cyc, ns;
	int i;

	for (i = 0; i < n; i++) {
		assert_int_equal(mg_telemetry_hist_bound(which, i, &sec, &cyc),
				 0);
		/* @p b is the lcore block's pointer, the table the writers
		 * bucket with; hist_bound reads the library's own. They
		 * must be one table: the floor() check below ties cyc to
		 * the seconds only, and the last bound is checked nowhere
		 * else. */
		assert_int_equal(cyc, b->le[i]);
		if (i == n - 1) {
			assert_true(isinf(sec));
			assert_int_equal(cyc, UINT64_MAX);
			break;
		}
		/* floor(bound * hz), from the bound in whole ns */
		ns = (uint64_t)llround(sec * 1e9);
		assert_int_equal(cyc, (uint64_t)((unsigned __int128)ns * hz /
						 1000000000u));
		assert_true(sec > prev);
		prev = sec;
		/* Prometheus "le": the bound itself is in, one cycle more
		 * is out */
		assert_int_equal(mg_tel_bucket(b, cyc), i);
		assert_int_equal(mg_tel_bucket(b, cyc + 1), i + 1);
		if (cyc > 0)
			assert_int_equal(mg_tel_bucket(b, cyc - 1),
					 ref_bucket(b, cyc - 1));
	}
	assert_int_equal(mg_telemetry_hist_bound(which, n, NULL, NULL),
			 -EINVAL);
	assert_int_equal(mg_tel_bucket(b, 0), 0);
	assert_int_equal(mg_tel_bucket(b, UINT64_MAX), n - 1);
	/* every bit length, against a linear scan */
	for (i = 0; i < 200000; i++) {
		uint64_t v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = x >> (x % 64);
		assert_int_equal(mg_tel_bucket(b, v), ref_bucket(b, v));
	}
}

static void
test_histogram_bounds(void **state)
{
	uint64_t bucket[MG_TEL_DURATION_BUCKETS], sum, cyc, expect_sum = 0;
	struct mg_lcore_stats *s;
	struct mg_tel_set_sum ss;
	char *text, series[256];
	uint32_t slot;
	int i;

	(void)state;
	assert_true(rte_get_tsc_hz() > 0);
	assert_int_equal(mg_telemetry_configure(8, 8, 4), 0);
	s = mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	assert_non_null(s);
	check_bounds("request_duration", s->dur, MG_TEL_DURATION_BUCKETS);
	check_bounds("handshake_duration", s->dur, MG_TEL_DURATION_BUCKETS);
	check_bounds("processing_latency", s->lat, MG_TEL_LATENCY_BUCKETS);

	/* one request exactly at each bound, one just past the last */
	slot = (uint32_t)mg_telemetry_labelset("a", "b", "c");
	for (i = 0; i < MG_TEL_DURATION_BUCKETS - 1; i++) {
		mg_telemetry_hist_bound("request_duration", i, NULL, &cyc);
		mg_tel_request_duration(s, slot, cyc);
		mg_tel_request(s, slot, MG_TEL_2XX);
		expect_sum += cyc;
	}
	mg_tel_request_duration(s, slot, cyc + 1);
	expect_sum += cyc + 1;
	assert_int_equal(mg_telemetry_set_read(slot, &ss), 0);
	for (i = 0; i < MG_TEL_DURATION_BUCKETS; i++)
		assert_int_equal(ss.duration_bucket[i], 1);
	assert_int_equal(ss.duration_sum, expect_sum);

	/* latency: two packets exactly at each bound */
	for (i = 0; i < MG_TEL_LATENCY_BUCKETS - 1; i++) {
		mg_telemetry_hist_bound("processing_latency", i, NULL, &cyc);
		mg_tel_latency(s, cyc, 2);
	}
	assert_int_equal(
		mg_telemetry_hist_read("processing_latency", bucket, &sum),
		MG_TEL_LATENCY_BUCKETS);
	for (i = 0; i < MG_TEL_LATENCY_BUCKETS - 1; i++)
		assert_int_equal(bucket[i], 2);
	assert_int_equal(bucket[MG_TEL_LATENCY_BUCKETS - 1], 0);

	text = render();
	promtool_check(text);
	static const char *const le[] = {
		"0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
		"0.005",   "0.01",   "0.025",	"0.05",	  "0.1",   "0.25",
		"0.5",	   "1",	     "2.5",	"5",	  "10",	   "+Inf",
	};
	for (i = 0; i < MG_TEL_DURATION_BUCKETS; i++)
		assert_line(text,
			    "meshgate_request_duration_seconds_bucket{source_"
			    "workload=\"a\",destination_service=\"b\","
			    "destination_version=\"c\",le=\"%s\"} %d",
			    le[i], i + 1);
	assert_line(text,
		    "meshgate_request_duration_seconds_count{source_workload="
		    "\"a\",destination_service=\"b\",destination_version="
		    "\"c\"} %d",
		    MG_TEL_DURATION_BUCKETS);
	snprintf(series, sizeof(series),
		 "meshgate_request_duration_seconds_sum{source_workload=\"a\","
		 "destination_service=\"b\",destination_version=\"c\"}");
	assert_float_equal(sample(text, series),
			   (double)expect_sum / (double)rte_get_tsc_hz(), 1e-6);
	assert_line(text, "meshgate_processing_latency_seconds_bucket{lcore="
			  "\"1\",le=\"0.000001\"} 2");
	assert_line(text, "meshgate_processing_latency_seconds_bucket{lcore="
			  "\"1\",le=\"0.0000025\"} 4");
	assert_line(text, "meshgate_processing_latency_seconds_bucket{lcore="
			  "\"1\",le=\"0.01\"} 26");
	assert_line(text, "meshgate_processing_latency_seconds_bucket{lcore="
			  "\"1\",le=\"+Inf\"} 26");
	free(text);
}

/* ---- Prometheus text ---- */

static int
flows_cb(void *arg, struct mg_telemetry_flows *out)
{
	(void)arg;
	out->total = 10;
	out->capacity = 1024;
	out->l7_held = 2;
	out->l7_capacity = 64;
	out->half_open = 3;
	out->half_open_budget = 256;
	out->n_states = 2;
	out->state_name[0] = "syn_sent";
	out->by_state[0] = 3;
	out->state_name[1] = "established";
	out->by_state[1] = 7;
	return 0;
}

/* Two limits: one on a whole identity, one narrowed to a service. */
static int
limits_cb(void *arg, mg_telemetry_limit_emit emit, void *ctx)
{
	(void)arg;
	emit(ctx, &(struct mg_telemetry_limit){ .id = 0,
						.name = "partners",
						.identity = "partner",
						.service = "",
						.conns = 12,
						.sources = 3 });
	emit(ctx, &(struct mg_telemetry_limit){ .id = 5,
						.name = "qa-shop",
						.identity = "qa",
						.service = "shop",
						.conns = 0,
						.sources = 0 });
	return 0;
}

static int
backends_cb(void *arg, mg_telemetry_backend_emit emit, void *ctx)
{
	struct mg_telemetry_backend b = { "shop", "v1", "198.18.2.21:8080",
					  true, 0 };

	(void)arg;
	emit(ctx, &b);
	b.backend = "[2001:db8:2::21]:8080";
	b.up = false;
	b.ejections = 3;
	emit(ctx, &b);
	return 0;
}

static void
test_prometheus_text(void **state)
{
	struct mg_lcore_stats *a, *b;
	uint32_t s1, s2, s3, weird, r1, rd;
	uint64_t ms = rte_get_tsc_hz() / 1000;
	double ratio;
	char *text;

	(void)state;
	assert_int_equal(mg_telemetry_configure(32, 16, 8), 0);
	mg_telemetry_set_flows_fn(flows_cb, NULL);
	mg_telemetry_set_backends_fn(backends_cb, NULL);
	mg_telemetry_set_limits_fn(limits_cb, NULL);
	a = mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	b = mg_telemetry_lcore_claim(2, MG_LCORE_WORKER);
	assert_non_null(a);
	assert_non_null(b);
	s1 = (uint32_t)mg_telemetry_labelset("frontend", "shop", "v1");
	s2 = (uint32_t)mg_telemetry_labelset("frontend", "shop", "v2");
	s3 = (uint32_t)mg_telemetry_labelset("qa", "shop", "v2");
	weird = (uint32_t)mg_telemetry_labelset("we\"ird\\id\nx", "shop", "v1");
	r1 = (uint32_t)mg_telemetry_rule("frontend-shop");
	rd = (uint32_t)mg_telemetry_rule("default-deny");

	mg_tel_conn_open(a, s1, MG_TEL_TCP);
	mg_tel_conn_open(b, s1, MG_TEL_TCP);
	mg_tel_conn_open(a, s2, MG_TEL_TCP);
	mg_tel_conn_open(b, s3, MG_TEL_UDP);
	mg_tel_conn_open(a, weird, MG_TEL_TCP);
	mg_tel_bytes(a, s1, MG_TEL_DIR_REQUEST, 1000);
	mg_tel_bytes(b, s1, MG_TEL_DIR_REQUEST, 500);
	mg_tel_bytes(b, s1, MG_TEL_DIR_RESPONSE, 9000);
	mg_tel_request(
		a, s1,
		mg_telemetry_http_status_class("HTTP/1.1 200 OK\r\n", 17));
	mg_tel_request(b, s1, MG_TEL_2XX);
	mg_tel_request(b, s1, MG_TEL_2XX);
	mg_tel_request(a, s1, MG_TEL_5XX);
	mg_tel_request_duration(a, s1, 3 * ms); /* le 0.005 */
	mg_tel_handshake(a, s1, ms / 2);	/* le 0.0005 */
	mg_tel_handshake(b, s3, 20 * ms);	/* shop/v2, le 0.025 */
	mg_tel_decision(a, r1, MG_TEL_ALLOW);
	mg_tel_decision(b, r1, MG_TEL_ALLOW);
	mg_tel_decision(b, r1, MG_TEL_DRY_RUN);
	mg_tel_decision(a, rd, MG_TEL_DENY);
	mg_counter_add(&a->drops[MG_DROP_RUNT], 2);
	mg_counter_add(&a->rx, 64);
	mg_counter_add(&a->busy_polls, 4);
	mg_counter_add(&a->idle_polls, 9);
	mg_counter_add(&a->busy_cycles, 1);
	mg_counter_add(&a->flows_created, 5);
	mg_tel_limit_drop(a, 0, MG_TEL_LIMIT_CONN_RATE);
	mg_tel_limit_drop(b, 0, MG_TEL_LIMIT_CONN_RATE);
	mg_tel_limit_drop(b, 5, MG_TEL_LIMIT_PKT_RATE);
	mg_tel_limit_drop(b, MG_TEL_MAX_LIMITS, MG_TEL_LIMIT_CONNS); /* none */
	mg_tel_half_open(a, 40);
	mg_tel_half_open(b, 70);
	mg_tel_half_open(b, 20); /* a peak stays */

	text = render();
	promtool_check(text);
	check_families(text);
	assert_line(text, "# TYPE meshgate_requests_total counter");
	assert_line(text, "# TYPE meshgate_request_duration_seconds histogram");
	assert_line(text, "# TYPE meshgate_flows gauge");
	assert_line(text,
		    "meshgate_requests_total{source_workload=\"frontend\","
		    "destination_service=\"shop\",destination_version=\"v1\","
		    "response_code_class=\"2xx\"} 3");
	assert_line(text,
		    "meshgate_requests_total{source_workload=\"frontend\","
		    "destination_service=\"shop\",destination_version=\"v1\","
		    "response_code_class=\"5xx\"} 1");
	assert_line(text, "meshgate_request_duration_seconds_bucket{source_"
			  "workload=\"frontend\",destination_service=\"shop\","
			  "destination_version=\"v1\",le=\"0.0025\"} 0");
	assert_line(text, "meshgate_request_duration_seconds_bucket{source_"
			  "workload=\"frontend\",destination_service=\"shop\","
			  "destination_version=\"v1\",le=\"0.005\"} 1");
	assert_line(text,
		    "meshgate_tcp_connections_opened_total{source_workload="
		    "\"frontend\",destination_service=\"shop\","
		    "destination_version=\"v1\"} 2");
	/* Istio's direction: received = from the caller */
	assert_line(text, "meshgate_tcp_received_bytes_total{source_workload="
			  "\"frontend\",destination_service=\"shop\","
			  "destination_version=\"v1\"} 1500");
	assert_line(text, "meshgate_tcp_sent_bytes_total{source_workload="
			  "\"frontend\",destination_service=\"shop\","
			  "destination_version=\"v1\"} 9000");
	/* a UDP-only label set: listed, with no TCP connection */
	assert_line(text,
		    "meshgate_tcp_connections_opened_total{source_workload="
		    "\"qa\",destination_service=\"shop\","
		    "destination_version=\"v2\"} 0");
	/* label values escaped */
	assert_line(text,
		    "meshgate_tcp_connections_opened_total{source_workload="
		    "\"we\\\"ird\\\\id\\nx\",destination_service=\"shop\","
		    "destination_version=\"v1\"} 1");
	assert_line(text,
		    "meshgate_handshake_duration_seconds_bucket{destination_"
		    "service=\"shop\",destination_version=\"v1\",le="
		    "\"0.0005\"} 1");
	assert_line(text,
		    "meshgate_handshake_duration_seconds_bucket{destination_"
		    "service=\"shop\",destination_version=\"v2\",le="
		    "\"0.01\"} 0");
	assert_line(text,
		    "meshgate_handshake_duration_seconds_bucket{destination_"
		    "service=\"shop\",destination_version=\"v2\",le="
		    "\"0.025\"} 1");
	/* canary selections: TCP and UDP, summed over callers */
	assert_line(text, "meshgate_canary_selections_total{destination_"
			  "service=\"shop\",destination_version=\"v1\"} 3");
	assert_line(text, "meshgate_canary_selections_total{destination_"
			  "service=\"shop\",destination_version=\"v2\"} 2");
	assert_line(text, "meshgate_policy_decisions_total{rule=\"frontend-"
			  "shop\",decision=\"allow\"} 2");
	assert_line(text, "meshgate_policy_decisions_total{rule=\"frontend-"
			  "shop\",decision=\"dry_run\"} 1");
	assert_line(text, "meshgate_policy_decisions_total{rule=\"default-"
			  "deny\",decision=\"deny\"} 1");
	assert_line(text, "meshgate_drops_total{reason=\"runt\"} 2");
	assert_line(text, "meshgate_drops_total{reason=\"tx_full\"} 0");
	assert_line(text, "meshgate_flows_created_total 5");
	assert_line(text, "meshgate_flows{state=\"syn_sent\"} 3");
	assert_line(text, "meshgate_flows{state=\"established\"} 7");
	assert_line(text, "meshgate_flow_table_entries 10");
	assert_line(text, "meshgate_flow_table_capacity 1024");
	assert_line(text, "meshgate_l7_held_heads 2");
	assert_line(text, "meshgate_l7_held_heads_capacity 64");
	assert_line(text, "meshgate_flows_half_open 3");
	assert_line(text, "meshgate_flows_half_open_budget 256");
	assert_line(text, "meshgate_flows_half_open_peak 70");
	assert_line(text, "meshgate_limit_drops_total{limit=\"partners\","
			  "source_workload=\"partner\",destination_service="
			  "\"*\",reason=\"rate_limited_conn\"} 2");
	assert_line(text, "meshgate_limit_drops_total{limit=\"partners\","
			  "source_workload=\"partner\",destination_service="
			  "\"*\",reason=\"conn_limit\"} 0");
	assert_line(text, "meshgate_limit_drops_total{limit=\"qa-shop\","
			  "source_workload=\"qa\",destination_service="
			  "\"shop\",reason=\"rate_limited_pps\"} 1");
	assert_line(text, "meshgate_limit_connections{limit=\"partners\","
			  "source_workload=\"partner\",destination_service="
			  "\"*\"} 12");
	assert_line(text, "meshgate_limit_sources{limit=\"partners\","
			  "source_workload=\"partner\",destination_service="
			  "\"*\"} 3");
	assert_line(text,
		    "meshgate_backend_up{destination_service=\"shop\","
		    "destination_version=\"v1\",backend=\"198.18.2.21:8080\"} "
		    "1");
	assert_line(text,
		    "meshgate_backend_ejections_total{destination_service="
		    "\"shop\",destination_version=\"v1\",backend=\"[2001:db8:"
		    "2::21]:8080\"} 3");
	assert_line(text, "meshgate_packets_received_total{lcore=\"1\"} 64");
	assert_line(text, "meshgate_packets_received_total{lcore=\"2\"} 0");
	assert_line(text,
		    "meshgate_polls_total{lcore=\"1\",result=\"idle\"} 9");
	assert_line(text, "meshgate_packets_per_burst{lcore=\"1\"} 16");
	assert_line(text, "meshgate_packets_per_burst{lcore=\"2\"} 0");
	ratio = sample(text, "meshgate_busy_ratio{lcore=\"1\"}");
	assert_true(ratio > 0 && ratio < 1);
	assert_line(text,
		    "meshgate_telemetry_label_sets{kind=\"label_set\"} 4");
	assert_line(text, "meshgate_telemetry_memory_bytes %zu",
		    mg_telemetry_memory());
	free(text);

	/* telemetry.naming = "istio": the same series under Istio's
	 * names, labels and milliseconds, as both reporters; exact codes
	 * where counted, the rest of a class as "2xx" */
	mg_tel_response_code(b, s1, 200);
	mg_tel_response_code(b, s1, 200);
	mg_tel_response_code(a, s1, 503);
	{
		static const struct mg_tel_namespace callers[] = {
			{ "frontend", "prod" },
		};
		static const struct mg_tel_namespace services[] = {
			{ "shop", "shop-ns" },
		};

		assert_int_equal(mg_telemetry_set_naming(MG_TEL_NAMING_ISTIO,
							 callers, 1, services,
							 1),
				 0);
	}
#define ISTIO_S1(rep, csp)                                                     \
	"{reporter=\"" rep "\",source_workload=\"frontend\","                  \
	"source_workload_namespace=\"prod\",source_app=\"frontend\","          \
	"destination_service=\"shop\",destination_service_name=\"shop\","      \
	"destination_service_namespace=\"shop-ns\","                           \
	"destination_workload=\"shop-v1\","                                    \
	"destination_workload_namespace=\"shop-ns\","                          \
	"destination_version=\"v1\",destination_app=\"shop\","                 \
	"request_protocol=\"%s\",response_flags=\"-\","                        \
	"connection_security_policy=\"" csp "\""
	/* (not promtool's lint: it wants seconds, Istio's name says
	 * milliseconds; the e2e test's Prometheus scrapes it) */
	text = render();
	assert_null(strstr(text, "meshgate_requests_total"));
	assert_null(strstr(text, "meshgate_tcp_sent_bytes_total"));
	assert_line(text, "# TYPE istio_requests_total counter");
	assert_line(text,
		    "# TYPE istio_request_duration_milliseconds histogram");
	assert_line(text,
		    "istio_requests_total" ISTIO_S1(
			    "destination", "none") ",response_code=\"200\"} 2",
		    "http");
	assert_line(text,
		    "istio_requests_total" ISTIO_S1(
			    "destination", "none") ",response_code=\"2xx\"} 1",
		    "http");
	assert_line(text,
		    "istio_requests_total" ISTIO_S1(
			    "destination", "none") ",response_code=\"503\"} 1",
		    "http");
	assert_null(strstr(text, "response_code=\"5xx\""));
	assert_line(text,
		    "istio_requests_total" ISTIO_S1(
			    "source", "unknown") ",response_code=\"200\"} 2",
		    "http");
	/* 3 ms: in le 5, not in le 2.5 (milliseconds) */
	assert_line(text,
		    "istio_request_duration_milliseconds_bucket" ISTIO_S1(
			    "destination", "none") ",le=\"2.5\"} 0",
		    "http");
	assert_line(text,
		    "istio_request_duration_milliseconds_bucket" ISTIO_S1(
			    "destination", "none") ",le=\"5\"} 1",
		    "http");
	assert_line(text,
		    "istio_tcp_received_bytes_total" ISTIO_S1(
			    "source", "unknown") "} 1500",
		    "tcp");
	assert_line(text,
		    "istio_tcp_sent_bytes_total" ISTIO_S1("destination",
							  "none") "} 9000",
		    "tcp");
	assert_line(text,
		    "istio_tcp_connections_opened_total" ISTIO_S1("destination",
								  "none") "} 2",
		    "tcp");
	/* a caller the naming does not know: namespace "unknown" */
	assert_non_null(strstr(text, "source_workload=\"qa\","
				     "source_workload_namespace=\"unknown\""));
	/* the rest keeps meshgate's names */
	assert_line(text, "meshgate_drops_total{reason=\"runt\"} 2");
#undef ISTIO_S1
	free(text);
	assert_int_equal(mg_telemetry_set_naming(MG_TEL_NAMING_MESHGATE, NULL,
						 0, NULL, 0),
			 0);
	mg_telemetry_set_flows_fn(NULL, NULL);
	mg_telemetry_set_backends_fn(NULL, NULL);
	mg_telemetry_set_limits_fn(NULL, NULL);
	text = render();
	assert_null(strstr(text, "meshgate_flows{"));
	assert_null(strstr(text, "meshgate_limit_"));
	assert_null(strstr(text, "meshgate_flow_table_capacity"));
	assert_null(strstr(text, "meshgate_backend_up"));
	promtool_check(text);
	free(text);
}

/* ---- memory ---- */

static void
test_memory(void **state)
{
	const size_t line = RTE_CACHE_LINE_SIZE;
	size_t base, per_lcore;

	(void)state;
	assert_int_equal(sizeof(struct mg_tel_set), 584);
	assert_int_equal(sizeof(struct mg_tel_dest), 152);
	assert_int_equal(sizeof(struct mg_tel_rule), 24);
	assert_int_equal(mg_telemetry_configure(1000, 100, 50), 0);
	per_lcore = RTE_ALIGN_CEIL(1000 * sizeof(struct mg_tel_set), line) +
		    RTE_ALIGN_CEIL(100 * sizeof(struct mg_tel_dest), line) +
		    RTE_ALIGN_CEIL(50 * sizeof(struct mg_tel_rule), line);
	assert_int_equal(mg_telemetry_lcore_bytes(), per_lcore);
	assert_int_equal(mg_telemetry_lcore_bytes_for(1000, 100, 50),
			 per_lcore);
	assert_int_equal(mg_telemetry_lcore_bytes_for(1, 100, 50), 0);
	base = mg_telemetry_memory();
	/* the static blocks and the registry, which holds at least its
	 * per-slot arrays */
	assert_true(base > RTE_MAX_LCORE * sizeof(struct mg_lcore_stats) +
				   1000 * 16 + 100 * 8 + 50 * 4);
	assert_true(base < RTE_MAX_LCORE * sizeof(struct mg_lcore_stats) +
				   (1000 + 100 + 50) * 64 + 4096);

	assert_non_null(mg_telemetry_lcore_claim(1, MG_LCORE_WORKER));
	assert_int_equal(mg_telemetry_memory(), base + per_lcore);
	assert_non_null(mg_telemetry_lcore_claim(2, MG_LCORE_WORKER));
	assert_int_equal(mg_telemetry_memory(), base + 2 * per_lcore);
	/* a second claim reuses the arrays */
	assert_non_null(mg_telemetry_lcore_claim(2, MG_LCORE_WORKER));
	assert_int_equal(mg_telemetry_memory(), base + 2 * per_lcore);
	/* new names cost their bytes, known ones nothing */
	mg_telemetry_labelset("idA", "svcB", "verC");
	assert_int_equal(mg_telemetry_memory(),
			 base + 2 * per_lcore + 4 + 5 + 5);
	mg_telemetry_labelset("idA", "svcB", "verC");
	mg_telemetry_labelset("svcB", "idA", "verC");
	mg_telemetry_rule("idA");
	assert_int_equal(mg_telemetry_memory(),
			 base + 2 * per_lcore + 4 + 5 + 5);
	mg_telemetry_fini();
	assert_int_equal(mg_telemetry_lcore_bytes(), 0);
	assert_int_equal(mg_telemetry_memory(),
			 RTE_MAX_LCORE * (sizeof(struct mg_lcore_stats) + 1));
}

/* ---- HTTP ---- */

static void
test_http_parsers(void **state)
{
	static const struct {
		const char *text;
		int cls;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\n", MG_TEL_2XX },
		{ "HTTP/1.0 503 Service Unavailable\r\n", MG_TEL_5XX },
		{ "HTTP/1.1 101 Switching Protocols\r\n", MG_TEL_1XX },
		{ "HTTP/1.1 404\r\n", MG_TEL_4XX },
		{ "HTTP/1.1 301 \r\n", MG_TEL_3XX },
		{ "HTTP/1.1 600 Nope\r\n", -1 },
		{ "HTTP/1.1 099 Nope\r\n", -1 },
		{ "HTTP/1.1 20 OK\r\n", -1 },
		{ "HTTP/1.1 2000 OK\r\n", -1 },
		{ "HTTP/1.1  200 OK\r\n", -1 },
		{ "HTTP/11 200 OK\r\n", -1 },
		{ "http/1.1 200 OK\r\n", -1 },
		{ "GET / HTTP/1.1\r\n", -1 },
		{ "HTTP/1.1 200", -1 },
		{ "", -1 },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(cases); i++)
		assert_int_equal(mg_telemetry_http_status_class(
					 cases[i].text, strlen(cases[i].text)),
				 cases[i].cls);
	/* the length bounds the parse */
	assert_int_equal(mg_telemetry_http_status("HTTP/1.1 404 Not Found", 22),
			 404);
	assert_int_equal(mg_telemetry_http_status("HTTP/1.0 599\r\n", 14), 599);
	assert_int_equal(mg_telemetry_http_status("HTTP/1.1 600 X\r\n", 16),
			 -1);
	assert_int_equal(mg_tel_code_slot(418), -1);
	{
		/* the slot of each counted code is its place in the list */
		static const int codes[] = { MG_TEL_CODES };
		unsigned int k;

		assert_int_equal(RTE_DIM(codes), MG_TEL_CODE_MAX);
		for (k = 0; k < RTE_DIM(codes); k++)
			assert_int_equal(mg_tel_code_slot(codes[k]), (int)k);
	}
	assert_int_equal(mg_telemetry_http_status_class("HTTP/1.1 200 OK", 12),
			 -1);
	assert_int_equal(mg_telemetry_http_status_class(NULL, 20), -1);
	assert_true(mg_telemetry_http_is_request("GET / HTTP/1.1\r\n", 16));
	assert_true(mg_telemetry_http_is_request("DELETE /x", 9));
	assert_true(mg_telemetry_http_is_request("PATCH ", 6));
	assert_false(mg_telemetry_http_is_request("PATCH", 5));
	assert_false(mg_telemetry_http_is_request("GETX / HTTP/1.1", 15));
	assert_false(mg_telemetry_http_is_request("get / HTTP/1.1", 14));
	assert_false(mg_telemetry_http_is_request("HTTP/1.1 200 OK", 15));
	assert_false(mg_telemetry_http_is_request(NULL, 10));
}

typedef int64_t (*size_fn)(const void *data, uint32_t len);

/* @p fn on exactly the @p n bytes at @p bytes, in a buffer of that size
 * (so that ASan sees any read past it). */
static int64_t
size_of(size_fn fn, const void *bytes, size_t n)
{
	uint8_t *b = malloc(n + (n == 0));
	int64_t v;

	assert_non_null(b);
	memcpy(b, bytes, n);
	v = fn(b, (uint32_t)n);
	free(b);
	return v;
}

static int64_t
req_size(const char *text)
{
	return size_of(mg_telemetry_http_request_size, text, strlen(text));
}

static int64_t
resp_size(const char *text)
{
	return size_of(mg_telemetry_http_response_size, text, strlen(text));
}

static void
test_http_sizes(void **state)
{
	static const char get[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char post[] = "POST /p HTTP/1.1\r\nHost: x\r\n"
				   "content-length: 11\r\n\r\nhello world";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
				 "Server: s\r\n\r\nhello";
	const struct {
		size_fn fn;
		const char *text;
		size_t head;
	} split[] = {
		{ mg_telemetry_http_request_size, post, sizeof(post) - 1 - 11 },
		{ mg_telemetry_http_response_size, ok, sizeof(ok) - 1 - 5 },
	};
	size_t j;
	uint64_t x = 88172645463325252ull;
	unsigned int answered = 0;
	uint8_t *buf;
	size_t n;
	int i;

	(void)state;
	/* no body: the head; with a length: head + length, body or not */
	assert_int_equal(req_size(get), (int64_t)strlen(get));
	assert_int_equal(req_size(post), (int64_t)strlen(post));
	assert_int_equal(req_size("POST / HTTP/1.1\r\nCONTENT-LENGTH:"
				  " \t1000000 \t\r\n\r\n"),
			 47 + 1000000);
	assert_int_equal(req_size("PUT / HTTP/1.1\r\nContent-Length: 0\r\n"
				  "\r\n"),
			 37);
	assert_int_equal(resp_size(ok), (int64_t)strlen(ok));
	assert_int_equal(resp_size("HTTP/1.0 404 Not Found\r\ncontent-length:"
				   "2\r\n\r\n"),
			 44 + 2);
	/* responses that never have a body, Content-Length or not */
	assert_int_equal(resp_size("HTTP/1.1 204 No Content\r\n\r\n"), 27);
	assert_int_equal(resp_size("HTTP/1.1 304 Not Modified\r\n"
				   "Content-Length: 500\r\n\r\n"),
			 50);
	assert_int_equal(resp_size("HTTP/1.1 100 Continue\r\n\r\n"), 25);
	/* unknown: chunked, read to close, either with both */
	assert_int_equal(req_size("POST / HTTP/1.1\r\nTransfer-Encoding: "
				  "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
				  "transfer-encoding: chunked\r\n\r\n"),
			 -1);
	assert_int_equal(resp_size("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
				   "chunked\r\n\r\n"),
			 -1);
	assert_int_equal(resp_size("HTTP/1.1 200 OK\r\nServer: s\r\n\r\nab"),
			 -1);
	/* duplicate or conflicting lengths, bad values, overflow */
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
				  "Content-Length: 5\r\n\r\n"),
			 -1);
	assert_int_equal(resp_size("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
				   "content-length: 6\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: 5, 5"
				  "\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: -1"
				  "\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: +1"
				  "\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: 0x10"
				  "\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: "
				  "\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: 1 2"
				  "\r\n\r\n"),
			 -1);
	/* INT64_MAX is a length, but not once the head is added */
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: "
				  "9223372036854775807\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: "
				  "9223372036854775700\r\n\r\n"),
			 INT64_C(9223372036854775700) + 56);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: "
				  "9223372036854775808\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length: "
				  "99999999999999999999999999\r\n\r\n"),
			 -1);
	/* malformed heads: bare LF, bare CR, space before the colon, a
	 * folded line, no colon, an empty name */
	assert_int_equal(req_size("GET / HTTP/1.1\nHost: x\r\n\r\n"), -1);
	assert_int_equal(req_size("GET / HTTP/1.1\r\nHost: x\n\r\n"), -1);
	assert_int_equal(req_size("GET / HTTP/1.1\r\nHost: x\n\n"), -1);
	assert_int_equal(req_size("GET / HTTP/1.1\r\nX: a\rContent-Length: "
				  "5\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("POST / HTTP/1.1\r\nContent-Length : 5"
				  "\r\n\r\n"),
			 -1);
	assert_int_equal(req_size("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), -1);
	assert_int_equal(req_size("GET / HTTP/1.1\r\nHost\r\n\r\n"), -1);
	assert_int_equal(req_size("GET / HTTP/1.1\r\n: x\r\n\r\n"), -1);
	/* not a request or response at all */
	assert_int_equal(req_size("HTTP/1.1 200 OK\r\n\r\n"), -1);
	assert_int_equal(resp_size(get), -1);
	assert_int_equal(req_size(""), -1);
	assert_int_equal(mg_telemetry_http_request_size(NULL, 100), -1);
	assert_int_equal(mg_telemetry_http_response_size(NULL, 100), -1);

	/* a head split across segments is unknown in every first part;
	 * past the head, the body's bytes change nothing */
	for (j = 0; j < RTE_DIM(split); j++) {
		int64_t whole = (int64_t)strlen(split[j].text);

		for (n = 0; n <= strlen(split[j].text); n++)
			assert_int_equal(size_of(split[j].fn, split[j].text, n),
					 n < split[j].head ? -1 : whole);
	}

	/* a one-byte field name: a name exactly when RFC 9110's tchar */
	for (i = 0; i < 256; i++) {
		char one[] = "GET / HTTP/1.1\r\n?: v\r\n\r\n";
		bool t = (i >= '0' && i <= '9') || (i >= 'A' && i <= 'Z') ||
			 (i >= 'a' && i <= 'z') ||
			 (i != 0 && strchr("!#$%&'*+-.^_`|~", i) != NULL);

		one[16] = (char)i;
		assert_int_equal(size_of(mg_telemetry_http_request_size, one,
					 sizeof(one) - 1),
				 t ? (int64_t)sizeof(one) - 1 : -1);
	}

	/* garbage of every length up to 300 bytes, after a real start
	 * line or not, in buffers of exactly that length (ASan checks the
	 * reads); any answer must be -1 or at least the bytes up to the
	 * first empty line (which ends the head: no bare CR or LF) */
	for (i = 0; i < 20000; i++) {
		const uint8_t *end;
		int64_t v, head;
		size_t k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = x % 300;
		buf = malloc(n + (n == 0));
		assert_non_null(buf);
		for (k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* mostly the bytes a head is made of */
			buf[k] = (uint8_t)("\r\n: 0123Content-Length"
					   "\t"[x % 24]);
			if (x % 97 == 0)
				buf[k] = (uint8_t)(x >> 8);
		}
		if (i % 2 == 0 && n >= 16)
			memcpy(buf,
			       i % 4 ? "GET / HTTP/1.1\r\n"
				     : "HTTP/1.1 200 OK\r",
			       16);
		end = memmem(buf, n, "\r\n\r\n", 4);
		head = end == NULL ? -1 : (int64_t)(end - buf) + 4;
		v = mg_telemetry_http_request_size(buf, (uint32_t)n);
		assert_true(v == -1 || (head > 0 && v >= head));
		answered += v >= 0;
		v = mg_telemetry_http_response_size(buf, (uint32_t)n);
		assert_true(v == -1 || (head > 0 && v >= head));
		answered += v >= 0;
		free(buf);
	}
	/* the generator does reach sizes: the check above is not vacuous */
	assert_true(answered > 0);
}

/* Request and response sizes: Istio's byte buckets, exact at each
 * bound, summed over lcores, under both namings. */
static void
test_size_histograms(void **state)
{
	static const char *const le[] = {
		"1",	  "10",	     "100",	 "1000", "10000",
		"100000", "1000000", "10000000", "+Inf",
	};
	static const struct mg_tel_namespace callers[] = {
		{ "a", "ns-a" },
	};
	struct mg_lcore_stats *s1, *s2;
	uint64_t bound = 1, expect = 0;
	struct mg_tel_set_sum ss;
	char *text;
	uint32_t slot;
	int i;

	(void)state;
	assert_int_equal(mg_tel_size_bucket(0), 0);
	assert_int_equal(mg_tel_size_bucket(1), 0);
	assert_int_equal(mg_tel_size_bucket(2), 1);
	assert_int_equal(mg_tel_size_bucket(10000000), 7);
	assert_int_equal(mg_tel_size_bucket(10000001), 8);
	assert_int_equal(mg_tel_size_bucket(UINT64_MAX), 8);
	assert_int_equal(mg_telemetry_configure(8, 8, 4), 0);
	s1 = mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	s2 = mg_telemetry_lcore_claim(2, MG_LCORE_WORKER);
	assert_non_null(s1);
	assert_non_null(s2);
	slot = (uint32_t)mg_telemetry_labelset("a", "b", "c");

	/* requests exactly at each bound on lcore 1, just past it on
	 * lcore 2 (so bucket i + 1); responses only on lcore 2, 3 of 200 */
	for (i = 0; i < MG_TEL_SIZE_BUCKETS - 1; i++, bound *= 10) {
		mg_tel_message_size(s1, slot, MG_TEL_DIR_REQUEST, bound);
		mg_tel_message_size(s2, slot, MG_TEL_DIR_REQUEST, bound + 1);
		expect += 2 * bound + 1;
	}
	for (i = 0; i < 3; i++)
		mg_tel_message_size(s2, slot, MG_TEL_DIR_RESPONSE, 200);
	mg_tel_request(s2, slot, MG_TEL_2XX);
	/* a slot out of range counts nothing */
	mg_tel_message_size(s1, 8, MG_TEL_DIR_REQUEST, 5);
	assert_int_equal(mg_telemetry_set_read(slot, &ss), 0);
	assert_int_equal(ss.size_bucket[MG_TEL_DIR_REQUEST][0], 1);
	for (i = 1; i < MG_TEL_SIZE_BUCKETS - 1; i++)
		assert_int_equal(ss.size_bucket[MG_TEL_DIR_REQUEST][i], 2);
	assert_int_equal(ss.size_bucket[MG_TEL_DIR_REQUEST][i], 1);
	assert_int_equal(ss.size_count[MG_TEL_DIR_REQUEST],
			 2 * (MG_TEL_SIZE_BUCKETS - 1));
	assert_int_equal(ss.size_sum[MG_TEL_DIR_REQUEST], expect);
	assert_int_equal(ss.size_bucket[MG_TEL_DIR_RESPONSE][3], 3);
	assert_int_equal(ss.size_count[MG_TEL_DIR_RESPONSE], 3);
	assert_int_equal(ss.size_sum[MG_TEL_DIR_RESPONSE], 600);

	text = render();
	promtool_check(text);
	check_families(text);
	assert_line(text, "# TYPE meshgate_request_bytes histogram");
	assert_line(text, "# TYPE meshgate_response_bytes histogram");
	for (i = 0; i < MG_TEL_SIZE_BUCKETS; i++)
		assert_line(text,
			    "meshgate_request_bytes_bucket{source_workload="
			    "\"a\",destination_service=\"b\","
			    "destination_version=\"c\",le=\"%s\"} %d",
			    le[i],
			    i + 1 < MG_TEL_SIZE_BUCKETS ? 2 * i + 1 : 16);
	assert_line(text,
		    "meshgate_request_bytes_sum{source_workload=\"a\","
		    "destination_service=\"b\",destination_version=\"c\"} "
		    "%" PRIu64,
		    expect);
	assert_line(text,
		    "meshgate_response_bytes_bucket{source_workload=\"a\","
		    "destination_service=\"b\",destination_version=\"c\","
		    "le=\"100\"} 0");
	assert_line(text,
		    "meshgate_response_bytes_bucket{source_workload=\"a\","
		    "destination_service=\"b\",destination_version=\"c\","
		    "le=\"1000\"} 3");
	assert_line(text,
		    "meshgate_response_bytes_count{source_workload=\"a\","
		    "destination_service=\"b\",destination_version=\"c\"} 3");
	assert_line(text,
		    "meshgate_response_bytes_sum{source_workload=\"a\","
		    "destination_service=\"b\",destination_version=\"c\"} "
		    "600");
	free(text);

	assert_int_equal(mg_telemetry_set_naming(MG_TEL_NAMING_ISTIO, callers,
						 1, NULL, 0),
			 0);
	text = render();
	/* bytes: promtool's lint has nothing against Istio's name here */
	promtool_check(text);
	assert_null(strstr(text, "meshgate_request_bytes"));
	assert_line(text, "# TYPE istio_request_bytes histogram");
	assert_line(text, "# TYPE istio_response_bytes histogram");
#define ISTIO_A(rep, csp)                                                      \
	"{reporter=\"" rep "\",source_workload=\"a\","                         \
	"source_workload_namespace=\"ns-a\",source_app=\"a\","                 \
	"destination_service=\"b\",destination_service_name=\"b\","            \
	"destination_service_namespace=\"unknown\","                           \
	"destination_workload=\"b-c\","                                        \
	"destination_workload_namespace=\"unknown\","                          \
	"destination_version=\"c\",destination_app=\"b\","                     \
	"request_protocol=\"http\",response_flags=\"-\","                      \
	"connection_security_policy=\"" csp "\""
	assert_line(text,
		    "istio_request_bytes_bucket" ISTIO_A(
			    "destination", "none") ",le=\"10000000\"} 15");
	assert_line(text, "istio_request_bytes_bucket" ISTIO_A(
				  "source", "unknown") ",le=\"+Inf\"} 16");
	assert_line(text,
		    "istio_request_bytes_sum" ISTIO_A("source",
						      "unknown") "} %" PRIu64,
		    expect);
	assert_line(text, "istio_response_bytes_count" ISTIO_A("destination",
							       "none") "} 3");
	assert_line(text, "istio_response_bytes_sum" ISTIO_A(
				  "source", "unknown") "} 600");
#undef ISTIO_A
	free(text);
	assert_int_equal(mg_telemetry_set_naming(MG_TEL_NAMING_MESHGATE, NULL,
						 0, NULL, 0),
			 0);

	/* a declared size is the sender's word: two claiming 2^64 - 1
	 * bytes count in +Inf and add MG_TEL_SIZE_SUM_MAX each to the sum,
	 * which does not wrap */
	slot = (uint32_t)mg_telemetry_labelset("a", "b", "huge");
	mg_tel_message_size(s1, slot, MG_TEL_DIR_RESPONSE, UINT64_MAX);
	mg_tel_message_size(s2, slot, MG_TEL_DIR_RESPONSE, UINT64_MAX);
	assert_int_equal(mg_telemetry_set_read(slot, &ss), 0);
	assert_int_equal(
		ss.size_bucket[MG_TEL_DIR_RESPONSE][MG_TEL_SIZE_BUCKETS - 1],
		2);
	assert_int_equal(ss.size_count[MG_TEL_DIR_RESPONSE], 2);
	assert_int_equal(ss.size_sum[MG_TEL_DIR_RESPONSE],
			 2 * MG_TEL_SIZE_SUM_MAX);
}

/* ---- DPDK telemetry commands, through the socket ---- */

/* The reply to @p cmd (malloc'ed), as dpdk-telemetry.py would get it. */
static char *
tel_query(const char *cmd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const size_t size = 64 * 1024;
	char *buf = malloc(size);
	ssize_t n;
	int fd;

	assert_non_null(buf);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/dpdk_telemetry.v2",
		 rte_eal_get_runtime_dir());
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		fail_msg("connect %s: %s", sun.sun_path, strerror(errno));
	n = recv(fd, buf, size - 1, 0); /* the greeting */
	assert_true(n > 0);
	assert_int_equal(send(fd, cmd, strlen(cmd), 0), (ssize_t)strlen(cmd));
	n = recv(fd, buf, size - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static void
assert_has(const char *text, const char *part)
{
	if (strstr(text, part) == NULL)
		fail_msg("%s lacks %s", text, part);
}

static void
test_dpdk_commands(void **state)
{
	struct mg_lcore_stats *a;
	uint32_t s1, s2, s3, r1;
	uint64_t hs;
	char *r;

	(void)state;
	assert_int_equal(mg_telemetry_configure(32, 16, 8), 0);
	a = mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	assert_non_null(a);
	s1 = (uint32_t)mg_telemetry_labelset("frontend", "shop", "v1");
	s2 = (uint32_t)mg_telemetry_labelset("dev-box", "shop", "v1.2");
	s3 = (uint32_t)mg_telemetry_labelset("frontend", "cart", "v1");
	r1 = (uint32_t)mg_telemetry_rule("frontend-shop");
	mg_tel_conn_open(a, s1, MG_TEL_TCP);
	mg_tel_conn_open(a, s1, MG_TEL_TCP);
	mg_tel_conn_open(a, s2, MG_TEL_UDP);
	mg_tel_conn_open(a, s3, MG_TEL_TCP);
	mg_tel_bytes(a, s1, MG_TEL_DIR_REQUEST, 700);
	mg_tel_request(a, s1, MG_TEL_2XX);
	mg_tel_request(a, s3, MG_TEL_4XX);
	hs = rte_get_tsc_hz() / 1000; /* 1 ms */
	mg_tel_handshake(a, s1, hs);
	mg_tel_decision(a, r1, MG_TEL_ALLOW);
	mg_tel_decision(a, r1, MG_TEL_DRY_RUN);
	mg_tel_latency(a, rte_get_tsc_hz() / 1000000 * 3, 5); /* 3 us */
	mg_counter_add(&a->rx, 5);

	r = tel_query("/meshgate/services");
	assert_has(r, "\"shop/v1\":{\"service\":\"shop\",\"version\":\"v1\","
		      "\"connections\":2,\"tcp_opened\":2,\"tcp_closed\":0,"
		      "\"requests_1xx\":0,\"requests_2xx\":1,");
	assert_has(r, "\"received_bytes\":700,\"sent_bytes\":0,"
		      "\"handshakes\":1,\"handshake_sum_ns\":");
	/* keys hold only [A-Za-z0-9_/]: the name is carried beside */
	assert_has(r, "\"shop/v1_2\":{\"service\":\"shop\",\"version\":"
		      "\"v1.2\",\"connections\":1,\"tcp_opened\":0,");
	assert_has(r, "\"cart/v1\":{");
	free(r);
	r = tel_query("/meshgate/services,cart");
	assert_has(r, "{\"/meshgate/services\":{\"v1\":{\"service\":\"cart\","
		      "\"version\":\"v1\",\"connections\":1,");
	assert_has(r, "\"requests_4xx\":1");
	assert_null(strstr(r, "shop"));
	free(r);
	r = tel_query("/meshgate/services,nosuch");
	assert_has(r, "{\"/meshgate/services\":null}");
	free(r);
	r = tel_query("/meshgate/identities");
	assert_has(r, "\"frontend\":{\"identity\":\"frontend\","
		      "\"connections\":3,\"tcp_opened\":3,");
	assert_has(r,
		   "\"dev_box\":{\"identity\":\"dev-box\",\"connections\":1");
	free(r);
	r = tel_query("/meshgate/identities,frontend");
	assert_has(r, "\"shop/v1\":{\"service\":\"shop\"");
	assert_has(r, "\"cart/v1\":{\"service\":\"cart\"");
	free(r);
	r = tel_query("/meshgate/policies");
	assert_has(r, "{\"/meshgate/policies\":{\"frontend_shop\":{\"rule\":"
		      "\"frontend-shop\",\"allow\":1,\"deny\":0,"
		      "\"dry_run\":1}}}");
	free(r);
	r = tel_query("/meshgate/flows"); /* no callback registered */
	assert_has(r, "{\"/meshgate/flows\":null}");
	free(r);
	mg_telemetry_set_flows_fn(flows_cb, NULL);
	r = tel_query("/meshgate/flows");
	assert_has(r, "{\"/meshgate/flows\":{\"total\":10,\"capacity\":1024,"
		      "\"l7_held\":2,\"l7_capacity\":64,\"half_open\":3,"
		      "\"half_open_budget\":256,\"half_open_peak\":");
	assert_has(r, "\"states\":{\"syn_sent\":3,\"established\":7}}}");
	free(r);
	mg_telemetry_set_flows_fn(NULL, NULL);
	r = tel_query("/meshgate/limits"); /* no callback: no limits */
	assert_has(r, "{\"/meshgate/limits\":{}}");
	free(r);
	mg_telemetry_set_limits_fn(limits_cb, NULL);
	r = tel_query("/meshgate/limits");
	assert_has(r, "{\"/meshgate/limits\":{\"partners\":{\"limit\":"
		      "\"partners\",\"identity\":\"partner\",\"service\":\"*\","
		      "\"connections\":12,"
		      "\"sources\":3,\"rate_limited_conn\":");
	/* keys are made safe; the name is kept */
	assert_has(r, "\"qa_shop\":{\"limit\":\"qa-shop\",\"identity\":"
		      "\"qa\",\"service\":\"shop\",");
	free(r);
	mg_telemetry_set_limits_fn(NULL, NULL);
	r = tel_query("/meshgate/histograms");
	assert_has(r, "\"handshake_duration\":{\"le_50us\":0,");
	assert_has(r, "\"le_500us\":0,\"le_1ms\":1,");
	assert_has(r, "\"le_inf\":1,\"count\":1,\"sum_ns\":");
	assert_has(r, "\"processing_latency\":{\"le_1us\":0,\"le_2500ns\":0,"
		      "\"le_5us\":5,");
	free(r);
	r = tel_query("/meshgate/histograms,request_duration");
	assert_has(r, "{\"/meshgate/histograms\":{\"le_50us\":0,");
	free(r);
	r = tel_query("/meshgate/lcores");
	assert_has(r, "\"1\":{\"role\":\"worker\",\"rx\":5,");
	assert_has(r, "\"elapsed_cycles\":");
	free(r);
	r = tel_query("/meshgate/stats");
	assert_has(r, "\"rx\":5,");
	assert_has(r, "\"drops\":{\"multi_seg\":0,");
	free(r);
}

/* ---- NIC counters and the configuration's history ---- */

static int
ports_cb(void *arg, struct mg_telemetry_port *out, unsigned int max)
{
	(void)arg;
	assert_true(max >= 2);
	out[0] = (struct mg_telemetry_port){
		.name = "edge",
		.port_id = 0,
		.ipackets = 100,
		.opackets = 90,
		.ibytes = 6400,
		.obytes = 5760,
		.imissed = 7,
		.ierrors = 1,
		.oerrors = 2,
		.rx_nombuf = 3,
		.n_xstats = 2,
		.xstat_name = { "rx_crc_errors", "rx-odd name" },
		.xstat_value = { 4, 5 },
	};
	out[1] = (struct mg_telemetry_port){ .name = "mesh", .port_id = 1 };
	return 2;
}

static void
test_xstat_filter(void **state)
{
	/* names real PMDs report (ixgbe, i40e, ice, mlx5, virtio, vhost)
	 * and the generic ones ethdev prepends to each list */
	static const char *const keep[] = {
		"rx_crc_errors",       "rx_illegal_byte_errors",
		"rx_length_errors",    "mac_local_errors",
		"rx_dropped_packets",  "tx_dropped_packets",
		"rx_out_of_buffer",    "rx_discards_phy",
		"tx_errors_phy",       "rx_missed_pkts",
		"rx_no_dma_resources", "rx_qx_errors",
	};
	static const char *const skip[] = {
		"rx_good_packets",
		"tx_good_bytes",
		"rx_missed_errors",
		"rx_errors",
		"tx_errors",
		"rx_mbuf_allocation_errors",
		"rx_q0_errors",
		"tx_q15_packets",
		"rx_q3_mbuf_allocation_errors",
		"rx_unicast_packets",
		"rx_size_64_packets",
		"rx_xon_packets",
		"",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(keep); i++)
		if (!mg_telemetry_xstat_of_interest(keep[i]))
			fail_msg("%s left out", keep[i]);
	for (i = 0; i < RTE_DIM(skip); i++)
		if (mg_telemetry_xstat_of_interest(skip[i]))
			fail_msg("%s kept", skip[i]);
	assert_false(mg_telemetry_xstat_of_interest(NULL));
}

static void
test_ports_and_config(void **state)
{
	struct mg_telemetry_config c = {
		.reloads_success = 2,
		.reloads_failure = 1,
		.last_success_s = 1767225600.25,
		.restart_pending = true,
	};
	char *text, *r;

	(void)state;
	text = render();
	assert_null(strstr(text, "meshgate_port_"));
	assert_null(strstr(text, "meshgate_config_"));
	free(text);
	r = tel_query("/meshgate/ports");
	assert_has(r, "{\"/meshgate/ports\":null}");
	free(r);

	mg_telemetry_set_ports_fn(ports_cb, NULL);
	mg_telemetry_set_config(&c);
	text = render();
	promtool_check(text);
	check_families(text);
	assert_line(text, "# TYPE meshgate_port_imissed_total counter");
	assert_line(text, "meshgate_port_ipackets_total{port=\"edge\"} 100");
	assert_line(text, "meshgate_port_opackets_total{port=\"edge\"} 90");
	assert_line(text, "meshgate_port_ibytes_total{port=\"edge\"} 6400");
	assert_line(text, "meshgate_port_obytes_total{port=\"edge\"} 5760");
	assert_line(text, "meshgate_port_imissed_total{port=\"edge\"} 7");
	assert_line(text, "meshgate_port_ierrors_total{port=\"edge\"} 1");
	assert_line(text, "meshgate_port_oerrors_total{port=\"edge\"} 2");
	assert_line(text, "meshgate_port_rx_nombuf_total{port=\"edge\"} 3");
	assert_line(text, "meshgate_port_imissed_total{port=\"mesh\"} 0");
	assert_line(text, "meshgate_port_xstats_total{port=\"edge\","
			  "xstat=\"rx_crc_errors\"} 4");
	assert_line(text, "meshgate_port_xstats_total{port=\"edge\","
			  "xstat=\"rx-odd name\"} 5");
	assert_line(text,
		    "meshgate_config_reloads_total{result=\"success\"} 2");
	assert_line(text,
		    "meshgate_config_reloads_total{result=\"failure\"} 1");
	assert_line(text, "meshgate_config_last_reload_success_timestamp_"
			  "seconds 1767225600.25");
	assert_line(text, "meshgate_config_restart_pending 1");
	free(text);

	r = tel_query("/meshgate/ports");
	assert_has(r, "{\"/meshgate/ports\":{\"edge\":{\"port\":\"edge\","
		      "\"port_id\":0,\"ipackets\":100,\"opackets\":90,"
		      "\"ibytes\":6400,\"obytes\":5760,\"imissed\":7,"
		      "\"ierrors\":1,\"oerrors\":2,\"rx_nombuf\":3,"
		      "\"xstat_rx_crc_errors\":4,\"xstat_rx_odd_name\":5},"
		      "\"mesh\":{\"port\":\"mesh\",\"port_id\":1,");
	free(r);
	r = tel_query("/meshgate/ports,edge");
	assert_has(r, "{\"/meshgate/ports\":null}");
	free(r);

	c.restart_pending = false;
	mg_telemetry_set_config(&c);
	mg_telemetry_set_ports_fn(NULL, NULL);
	text = render();
	assert_line(text, "meshgate_config_restart_pending 0");
	assert_null(strstr(text, "meshgate_port_"));
	free(text);
}

/* ---- fixtures ---- */

static int
group_setup(void **state)
{

	(void)state;
	if (sched_getaffinity(0, sizeof(startup_cpus), &startup_cpus) != 0)
		return -1;
	if (mg_test_eal_init("test_telemetry", "128", "0", false) < 0)
		return -1;
	return mg_telemetry_init() == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	mg_telemetry_fini();
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

#define TEL_TEST(fn) cmocka_unit_test_teardown(fn, configure_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_rejects_bad_lcore),
		cmocka_unit_test(test_sum_over_lcores),
		cmocka_unit_test(test_claim_resets_block),
		cmocka_unit_test(test_concurrent_readers),
		TEL_TEST(test_not_configured),
		TEL_TEST(test_registry_stable),
		TEL_TEST(test_registry_overflow),
		TEL_TEST(test_two_lcores_exact),
		TEL_TEST(test_histogram_bounds),
		TEL_TEST(test_prometheus_text),
		TEL_TEST(test_memory),
		TEL_TEST(test_http_parsers),
		TEL_TEST(test_http_sizes),
		TEL_TEST(test_size_histograms),
		TEL_TEST(test_dpdk_commands),
		cmocka_unit_test(test_xstat_filter),
		TEL_TEST(test_ports_and_config),
	};

	return cmocka_run_group_tests_name("telemetry", tests, group_setup,
					   group_teardown);
}
