/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Unit tests for lib/limit: connection rates, concurrent connections and
 * packet or byte rates per bucket (rte_meter underneath), per-source
 * buckets and their overflow, names kept across reloads, the split of a
 * rate between two workers, and the connection cap under two threads.
 *
 * rte_meter measures time in TSC cycles at the real TSC rate, so time
 * here is rte_rdtsc() at the start plus simulated cycles: nothing waits
 * and nothing depends on how fast the machine runs.
 */

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mg_test.h"

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "mg_limit.h"

static struct mg_limit_table *tbl;
static uint64_t hz;

static struct mg_limit_table *
table_new(uint32_t max_limits, uint32_t max_regions, uint32_t max_sources,
	  unsigned int n_workers)
{
	tbl = mg_limit_table_create("test_limit", max_limits, max_regions,
				    max_sources, n_workers, SOCKET_ID_ANY, hz);
	assert_non_null(tbl);
	return tbl;
}

static void
params(struct mg_limit_params *p, uint64_t conn_rate, uint64_t conn_burst,
       uint32_t max_conns, uint64_t pkt_rate, uint64_t pkt_burst, bool bytes)
{
	const struct mg_limit_rate conn = { conn_rate, conn_burst };
	const struct mg_limit_rate pkt = { pkt_rate, pkt_burst };

	assert_int_equal(mg_limit_params_init(p, &conn, &pkt, max_conns, bytes),
			 0);
}

/* Admit @p n connections at @p now; how many passed (each passed one is
 * released at once, so only the rate refuses). */
static unsigned int
admit_n(unsigned int worker, uint32_t b, const struct mg_limit_params *p,
	unsigned int n, uint64_t now)
{
	unsigned int i, ok = 0;

	for (i = 0; i < n; i++) {
		enum mg_limit_verdict v =
			mg_limit_admit(tbl, worker, b, p, now);

		if (v == MG_LIMIT_OK) {
			ok++;
			mg_limit_release(tbl, b);
		} else {
			assert_int_equal(v, MG_LIMIT_CONN_RATE);
		}
	}
	return ok;
}

static unsigned int
packets_n(unsigned int worker, uint32_t b, const struct mg_limit_params *p,
	  unsigned int n, uint32_t len, uint64_t now)
{
	unsigned int i, ok = 0;

	for (i = 0; i < n; i++)
		ok += mg_limit_packet(tbl, worker, b, p, len, now);
	return ok;
}

/* ---- tests ---- */

static void
test_create_errors(void **state)
{
	(void)state;
	assert_null(mg_limit_table_create(NULL, 4, 1, 8, 1, SOCKET_ID_ANY, hz));
	assert_null(mg_limit_table_create("t", 0, 0, 8, 1, SOCKET_ID_ANY, hz));
	assert_null(mg_limit_table_create("t", 4, 1, 8, 0, SOCKET_ID_ANY, hz));
	assert_null(mg_limit_table_create("t", 4, 1, 8, MG_LIMIT_SHARES + 1,
					  SOCKET_ID_ANY, hz));
	assert_null(mg_limit_table_create("t", 4, 5, 8, 1, SOCKET_ID_ANY, hz));
	assert_null(mg_limit_table_create("t", 4, 1, 8, 1, SOCKET_ID_ANY, 0));
	mg_limit_table_free(NULL);
}

/* A name keeps its id; per-source regions are given once and kept. */
static void
test_register(void **state)
{
	(void)state;
	table_new(2, 1, 8, 1);
	assert_int_equal(mg_limit_register(tbl, "a", false), 0);
	assert_int_equal(mg_limit_register(tbl, "b", false), 1);
	assert_int_equal(mg_limit_register(tbl, "a", false), 0);
	assert_int_equal(mg_limit_register(tbl, "c", false), -ENOSPC);
	assert_int_equal(mg_limit_count(tbl), 2);
	assert_string_equal(mg_limit_name(tbl, 1), "b");
	assert_string_equal(mg_limit_name(tbl, 7), "");
	assert_int_equal(mg_limit_bucket(tbl, 1), 1);
	assert_int_equal(mg_limit_bucket(tbl, 2), MG_LIMIT_NONE);

	/* "a" has no sources yet: none to find */
	{
		const uint8_t addr[4] = { 198, 18, 0, 1 };
		bool overflow;

		assert_int_equal(
			mg_limit_source_bucket(tbl, 0, addr, 4, 1, &overflow),
			MG_LIMIT_NONE);
		assert_int_equal(mg_limit_register(tbl, "a", true), 0);
		assert_int_not_equal(
			mg_limit_source_bucket(tbl, 0, addr, 4, 1, &overflow),
			MG_LIMIT_NONE);
		assert_false(overflow);
		/* the only region is taken */
		assert_int_equal(mg_limit_register(tbl, "b", true), -ENOBUFS);
		/* asked again, "a" keeps its region */
		assert_int_equal(mg_limit_register(tbl, "a", true), 0);
		assert_int_equal(mg_limit_register(tbl, "a", false), 0);
		assert_int_equal(mg_limit_sources(tbl, 0), 1);
	}
}

/* New connections: the burst at once, then the rate. */
static void
test_conn_rate(void **state)
{
	struct mg_limit_params p;
	uint64_t now = rte_rdtsc();
	unsigned int ok;

	(void)state;
	table_new(4, 0, 0, 1);
	assert_int_equal(mg_limit_register(tbl, "r", false), 0);
	params(&p, 100, 10, 0, 0, 0, false);
	assert_int_equal(admit_n(0, 0, &p, 50, now), 10);
	/* 100 ms: 10 more, give or take the meter's rounding */
	ok = admit_n(0, 0, &p, 50, now + hz / 10);
	assert_in_range(ok, 9, 10);
	/* an idle minute fills no more than the burst */
	assert_int_equal(admit_n(0, 0, &p, 50, now + 60 * hz), 10);
	assert_int_equal(mg_limit_conns(tbl, 0), 0);
}

/* Concurrent connections: held until released. */
static void
test_max_conns(void **state)
{
	struct mg_limit_params p;
	uint64_t now = rte_rdtsc();
	unsigned int i;

	(void)state;
	table_new(4, 0, 0, 1);
	assert_int_equal(mg_limit_register(tbl, "m", false), 0);
	params(&p, 0, 0, 3, 0, 0, false);
	for (i = 0; i < 3; i++)
		assert_int_equal(mg_limit_admit(tbl, 0, 0, &p, now),
				 MG_LIMIT_OK);
	assert_int_equal(mg_limit_admit(tbl, 0, 0, &p, now), MG_LIMIT_CONNS);
	assert_int_equal(mg_limit_conns(tbl, 0), 3);
	mg_limit_release(tbl, 0);
	assert_int_equal(mg_limit_admit(tbl, 0, 0, &p, now), MG_LIMIT_OK);
	assert_int_equal(mg_limit_admit(tbl, 0, 0, &p, now), MG_LIMIT_CONNS);
	/* the rate refuses first and takes no count */
	params(&p, 1, 1, 3, 0, 0, false);
	mg_limit_release(tbl, 0);
	assert_int_equal(mg_limit_admit(tbl, 0, 0, &p, now), MG_LIMIT_OK);
	assert_int_equal(mg_limit_admit(tbl, 0, 0, &p, now),
			 MG_LIMIT_CONN_RATE);
	assert_int_equal(mg_limit_conns(tbl, 0), 3);
	/* releasing no bucket is harmless */
	mg_limit_release(tbl, MG_LIMIT_NONE);
}

/* Packets: the burst, drawn in chunks, never more. */
static void
test_packet_rate(void **state)
{
	struct mg_limit_params p;
	uint64_t now = rte_rdtsc();

	(void)state;
	table_new(4, 0, 0, 1);
	assert_int_equal(mg_limit_register(tbl, "p", false), 0);
	params(&p, 0, 0, 0, 1000, 100, false);
	assert_int_equal(packets_n(0, 0, &p, 300, 64, now), 100);
	/* 50 ms: 50 more (rounding aside) */
	assert_in_range(packets_n(0, 0, &p, 300, 64, now + hz / 20), 49, 50);
	assert_int_equal(packets_n(0, 0, &p, 300, 64, now + 60 * hz), 100);
	/* no packet rate: everything passes */
	params(&p, 10, 10, 0, 0, 0, false);
	assert_int_equal(packets_n(0, 1, &p, 1000, 64, now), 1000);
}

/* Bytes: the burst is never below one jumbo frame. */
static void
test_byte_rate(void **state)
{
	struct mg_limit_params p;
	uint64_t now = rte_rdtsc();
	unsigned int ok;

	(void)state;
	table_new(4, 0, 0, 1);
	assert_int_equal(mg_limit_register(tbl, "b", false), 0);
	params(&p, 0, 0, 0, 100000, 1000, true);
	assert_int_equal(packets_n(0, 0, &p, 1, 9000, now), 1);
	assert_int_equal(packets_n(0, 0, &p, 1, 1500, now), 0);
	/* 100 ms: 10,000 bytes, six full frames */
	ok = packets_n(0, 0, &p, 20, 1500, now + hz / 10);
	assert_int_equal(ok, 6);
}

/* Per-source buckets: one per address while there is room, then the
 * overflow bucket; a bucket idle for a minute with nothing open goes to
 * a newcomer. */
static void
test_sources(void **state)
{
	uint32_t b[10], again;
	uint8_t addr[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct mg_limit_params p;
	uint64_t now = rte_rdtsc();
	bool overflow;
	unsigned int i, j;

	(void)state;
	table_new(4, 1, 8, 1); /* one set of 8 ways */
	assert_int_equal(mg_limit_register(tbl, "s", true), 0);
	for (i = 0; i < 8; i++) {
		addr[15] = (uint8_t)i;
		b[i] = mg_limit_source_bucket(tbl, 0, addr, 16, now, &overflow);
		assert_false(overflow);
		assert_int_not_equal(b[i], MG_LIMIT_NONE);
		assert_int_not_equal(b[i], mg_limit_bucket(tbl, 0));
		for (j = 0; j < i; j++)
			assert_int_not_equal(b[i], b[j]);
	}
	assert_int_equal(mg_limit_sources(tbl, 0), 8);
	addr[15] = 3;
	again = mg_limit_source_bucket(tbl, 0, addr, 16, now, &overflow);
	assert_int_equal(again, b[3]);
	/* no room: the overflow bucket, shared */
	addr[15] = 8;
	b[8] = mg_limit_source_bucket(tbl, 0, addr, 16, now, &overflow);
	assert_true(overflow);
	addr[15] = 9;
	b[9] = mg_limit_source_bucket(tbl, 0, addr, 16, now, &overflow);
	assert_true(overflow);
	assert_int_equal(b[8], b[9]);

	/* every source but 5 holds a connection: after a quiet minute a
	 * newcomer may take only 5's bucket */
	params(&p, 0, 0, 0, 0, 0, false);
	for (i = 0; i < 8; i++)
		if (i != 5)
			assert_int_equal(mg_limit_admit(tbl, 0, b[i], &p, now),
					 MG_LIMIT_OK);
	addr[15] = 8;
	again = mg_limit_source_bucket(tbl, 0, addr, 16, now + 61 * hz,
				       &overflow);
	assert_false(overflow);
	assert_int_equal(again, b[5]);
	/* and the budget restarts with the new holder */
	assert_int_equal(mg_limit_conns(tbl, again), 0);
	addr[15] = 9;
	mg_limit_source_bucket(tbl, 0, addr, 16, now + 61 * hz, &overflow);
	assert_true(overflow);
}

/* A caller's two buckets in one call: the source's first, then the
 * identity's; a refusal by the identity gives the source's count back,
 * a refusal by the source takes nothing from the identity. */
static void
test_admit_caller(void **state)
{
	const uint8_t a[4] = { 198, 18, 0, 1 }, c[4] = { 198, 18, 0, 2 };
	struct mg_limit_params all, src;
	uint64_t now = rte_rdtsc();
	uint32_t ba, bc, b = 0;
	bool overflow;

	(void)state;
	table_new(4, 1, 64, 1);
	assert_int_equal(mg_limit_register(tbl, "c", true), 0);
	params(&all, 0, 0, 2, 0, 0, false);
	params(&src, 0, 0, 1, 0, 0, false);
	ba = mg_limit_source_bucket(tbl, 0, a, 4, now, &overflow);
	bc = mg_limit_source_bucket(tbl, 0, c, 4, now, &overflow);
	assert_int_equal(mg_limit_admit_caller(tbl, 0, ba, &src, b, &all, now),
			 MG_LIMIT_OK);
	/* a's one connection is taken: refused, the identity untouched */
	assert_int_equal(mg_limit_admit_caller(tbl, 0, ba, &src, b, &all, now),
			 MG_LIMIT_CONNS);
	assert_int_equal(mg_limit_conns(tbl, b), 1);
	assert_int_equal(mg_limit_admit_caller(tbl, 0, bc, &src, b, &all, now),
			 MG_LIMIT_OK);
	assert_int_equal(mg_limit_conns(tbl, b), 2);
	/* no source bucket: the identity's alone, now full */
	assert_int_equal(mg_limit_admit_caller(tbl, 0, MG_LIMIT_NONE, &src, b,
					       &all, now),
			 MG_LIMIT_CONNS);
	/* c may open more, but the identity is full: c's count of the
	 * refused connection is given back */
	params(&src, 0, 0, 5, 0, 0, false);
	assert_int_equal(mg_limit_admit_caller(tbl, 0, bc, &src, b, &all, now),
			 MG_LIMIT_CONNS);
	assert_int_equal(mg_limit_conns(tbl, bc), 1);
	assert_int_equal(mg_limit_conns(tbl, ba), 1);
	assert_int_equal(mg_limit_conns(tbl, b), 2);
}

/* Credit spent inline: none before the first draw, then what the draw
 * left; a source bucket claimed by another source starts afresh, the
 * credit its former holder drew not spent. */
static void
test_credit(void **state)
{
	uint8_t addr[4] = { 198, 18, 0, 1 };
	struct mg_limit_params p, none;
	uint64_t now = rte_rdtsc();
	struct mg_limit_view *v;
	uint32_t b, other;
	unsigned int ok, i;
	bool overflow;

	(void)state;
	table_new(4, 1, 8, 1); /* one set of 8 ways */
	assert_int_equal(mg_limit_register(tbl, "s", true), 0);
	v = mg_limit_view(tbl, 0);
	/* burst 400: a worker draws 64 packets at once */
	params(&p, 0, 0, 0, 1000, 400, false);
	assert_false(mg_limit_spend(v, 0, 1));
	assert_true(mg_limit_packet(tbl, 0, 0, &p, 64, now));
	for (i = 0; i < 63; i++)
		assert_true(mg_limit_spend(v, 0, 1));
	assert_false(mg_limit_spend(v, 0, 1));

	/* eight sources fill the set: the first draws (63 left), each
	 * other holds a connection */
	params(&none, 0, 0, 0, 0, 0, false);
	b = mg_limit_source_bucket(tbl, 0, addr, 4, now, &overflow);
	assert_true(mg_limit_source_packet(tbl, 0, b, &p, 64, now));
	for (i = 1; i < 8; i++) {
		addr[3] = (uint8_t)(i + 1);
		other = mg_limit_source_bucket(tbl, 0, addr, 4, now, &overflow);
		assert_false(overflow);
		assert_int_not_equal(other, b);
		assert_int_equal(mg_limit_admit(tbl, 0, other, &none, now),
				 MG_LIMIT_OK);
	}
	/* a quiet minute later a ninth takes the first's bucket, the only
	 * one with nothing open: the whole burst, not a packet more */
	addr[3] = 9;
	assert_int_equal(mg_limit_source_bucket(tbl, 0, addr, 4, now + 61 * hz,
						&overflow),
			 b);
	assert_false(overflow);
	ok = 0;
	for (i = 0; i < 1000; i++)
		ok += mg_limit_source_packet(tbl, 0, b, &p, 64, now + 61 * hz);
	assert_int_equal(ok, 400);
}

/* Each source's budget is its own: one host at its limit leaves the
 * others theirs. */
static void
test_source_rates_apart(void **state)
{
	const uint8_t a[4] = { 198, 18, 0, 1 }, c[4] = { 198, 18, 0, 2 };
	struct mg_limit_params p;
	uint64_t now = rte_rdtsc();
	uint32_t ba, bc;
	bool overflow;

	(void)state;
	table_new(4, 1, 64, 1);
	assert_int_equal(mg_limit_register(tbl, "s", true), 0);
	params(&p, 10, 5, 0, 0, 0, false);
	ba = mg_limit_source_bucket(tbl, 0, a, 4, now, &overflow);
	bc = mg_limit_source_bucket(tbl, 0, c, 4, now, &overflow);
	assert_int_not_equal(ba, bc);
	assert_int_equal(admit_n(0, ba, &p, 20, now), 5);
	assert_int_equal(admit_n(0, bc, &p, 20, now), 5);
}

/*
 * Two workers, one rate: with demand split unevenly, and with all of it
 * on one worker, the sum over 10 simulated seconds is the configured
 * rate within 5% (plus the burst), as each worker's share follows its
 * demand at every rebalance (100 ms).
 */
static uint64_t
simulate(const struct mg_limit_params *p, bool conns, unsigned int offer0,
	 unsigned int offer1)
{
	uint64_t start = rte_rdtsc(), now, passed = 0;
	unsigned int ms;

	for (ms = 0; ms < 10000; ms++) {
		now = start + ms * hz / 1000;
		if (conns) {
			passed += admit_n(0, 0, p, offer0, now);
			passed += admit_n(1, 0, p, offer1, now);
		} else {
			passed += packets_n(0, 0, p, offer0, 64, now);
			passed += packets_n(1, 0, p, offer1, 64, now);
		}
		if (ms % 100 == 99)
			mg_limit_rebalance(tbl);
	}
	return passed;
}

static void
test_two_workers_share(void **state)
{
	struct mg_limit_params p;
	uint64_t n;

	(void)state;
	table_new(4, 0, 0, 2);
	assert_int_equal(mg_limit_register(tbl, "two", false), 0);
	/* 1,000 new connections a second, 4,000 offered: 3 to 1 */
	params(&p, 1000, 50, 0, 0, 0, false);
	n = simulate(&p, true, 3, 1);
	print_message("# connections passed in 10 s, 3:1 = %" PRIu64 "\n", n);
	assert_in_range(n, 9500, 10500 + 50);
	/* all on worker 1 */
	mg_limit_table_free(tbl);
	table_new(4, 0, 0, 2);
	assert_int_equal(mg_limit_register(tbl, "two", false), 0);
	n = simulate(&p, true, 0, 4);
	print_message("# connections passed in 10 s, 0:1 = %" PRIu64 "\n", n);
	assert_in_range(n, 9500, 10500 + 50);
	/* 100,000 packets a second, 200,000 offered: 150 to 50 per ms */
	mg_limit_table_free(tbl);
	table_new(4, 0, 0, 2);
	assert_int_equal(mg_limit_register(tbl, "two", false), 0);
	params(&p, 0, 0, 0, 100000, 1000, false);
	n = simulate(&p, false, 150, 50);
	print_message("# packets passed in 10 s, 3:1 = %" PRIu64 "\n", n);
	assert_in_range(n, 950000, 1050000 + 1000);
	/* offered less than the rate: nothing is dropped */
	mg_limit_table_free(tbl);
	table_new(4, 0, 0, 2);
	assert_int_equal(mg_limit_register(tbl, "two", false), 0);
	n = simulate(&p, false, 40, 40);
	assert_int_equal(n, 800000);
}

/* Two threads admitting and releasing against a cap of 2: never more
 * than 2 held at once. */
struct race {
	struct mg_limit_params p;
	uint32_t held;
	uint32_t over;
	uint32_t admitted[2];
};

static struct race race;

static int
race_worker(void *arg)
{
	unsigned int worker = (unsigned int)(uintptr_t)arg, i;
	uint64_t now = rte_rdtsc();

	for (i = 0; i < 200000; i++) {
		if (mg_limit_admit(tbl, worker, 0, &race.p, now) != MG_LIMIT_OK)
			continue;
		race.admitted[worker]++;
		if (__atomic_add_fetch(&race.held, 1, __ATOMIC_ACQ_REL) > 2)
			__atomic_store_n(&race.over, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&race.held, 1, __ATOMIC_ACQ_REL);
		mg_limit_release(tbl, 0);
	}
	return 0;
}

static void
test_concurrent_cap(void **state)
{
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);

	(void)state;
	if (lcore >= RTE_MAX_LCORE)
		fail_msg("the suite needs a second lcore");
	table_new(4, 0, 0, 2);
	assert_int_equal(mg_limit_register(tbl, "race", false), 0);
	memset(&race, 0, sizeof(race));
	params(&race.p, 0, 0, 2, 0, 0, false);
	assert_int_equal(mg_test_remote_launch(race_worker, (void *)1, lcore),
			 0);
	race_worker((void *)0);
	assert_int_equal(mg_test_wait_lcore(lcore), 0);
	assert_int_equal(race.over, 0);
	assert_int_equal(mg_limit_conns(tbl, 0), 0);
	assert_true(race.admitted[0] > 0 && race.admitted[1] > 0);
}

static void
test_memsize(void **state)
{
	size_t none, with;

	(void)state;
	none = mg_limit_table_memsize(128, 0, 0, 2);
	with = mg_limit_table_memsize(128, 2, 1024, 2);
	/* 2 regions of 1,025 buckets: a cache line per worker each */
	assert_true(with - none >= 2 * 1025 * 2 * 64);
	assert_true(none < 64 * 1024);
	table_new(128, 2, 1024, 2);
}

static int
test_teardown(void **state)
{
	(void)state;
	mg_limit_table_free(tbl);
	tbl = NULL;
	return 0;
}

static int
group_setup(void **state)
{
	(void)state;
	if (mg_test_eal_init("test_limit", "64", "0,1", true) < 0)
		return -1;
	hz = rte_get_tsc_hz();
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	rte_eal_cleanup();
	return 0;
}

#define LIMIT_TEST(fn) cmocka_unit_test_teardown(fn, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		LIMIT_TEST(test_create_errors),
		LIMIT_TEST(test_register),
		LIMIT_TEST(test_conn_rate),
		LIMIT_TEST(test_max_conns),
		LIMIT_TEST(test_packet_rate),
		LIMIT_TEST(test_byte_rate),
		LIMIT_TEST(test_sources),
		LIMIT_TEST(test_source_rates_apart),
		LIMIT_TEST(test_admit_caller),
		LIMIT_TEST(test_credit),
		LIMIT_TEST(test_two_workers_share),
		LIMIT_TEST(test_concurrent_cap),
		LIMIT_TEST(test_memsize),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
