/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Unit tests of lib/telemetry: per-lcore blocks, sums, concurrent reads. */

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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
	pthread_t ta, tb;
	struct mg_stats_sum s;
	uint64_t last = 0;

	(void)state;
	a = mg_telemetry_lcore_claim(10, MG_LCORE_WORKER);
	b = mg_telemetry_lcore_claim(11, MG_LCORE_WORKER);
	mg_telemetry_lcore_claim(1, MG_LCORE_WORKER);
	mg_telemetry_lcore_claim(3, MG_LCORE_WORKER);
	mg_telemetry_lcore_claim(5, MG_LCORE_WORKER);
	assert_int_equal(pthread_create(&ta, NULL, writer, a), 0);
	assert_int_equal(pthread_create(&tb, NULL, writer, b), 0);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_rejects_bad_lcore),
		cmocka_unit_test(test_sum_over_lcores),
		cmocka_unit_test(test_claim_resets_block),
		cmocka_unit_test(test_concurrent_readers),
	};

	return cmocka_run_group_tests_name("telemetry", tests, NULL, NULL);
}
