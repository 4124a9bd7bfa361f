/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * What Hyperscan alone costs a request of the l7_established benchmark:
 * the scans lib/l7 makes of one request under tests/configs/bench_l7.conf
 * (the path against the service's path database, the deny rule's
 * "^/admin" and the allow rule's "^/api/"; the Host against its host
 * database, "^bench\.example$", caseless; HS_MODE_BLOCK and
 * HS_FLAG_SINGLEMATCH as lib/l7 compiles them; the method is looked up,
 * not scanned), on paths as scripts/gen_bench_pcaps.py writes them.
 * Change it with bench_l7.conf. Run by scripts/bench.py (group
 * l7_established) on the worker's core; prints
 *   hs_ns_per_request <ns>
 * the median of 5 rounds of 2,000,000 requests, the cost of writing the
 * paths subtracted.
 */

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <hs.h>

#define ROUNDS	 5
#define REQUESTS 2000000

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to,
	 unsigned int flags, void *ctx)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	++*(unsigned long *)ctx;
	return 0;
}

static hs_database_t *
compile(const char *const *expr, const unsigned int *flags, unsigned int n)
{
	static const unsigned int ids[] = { 0, 1 };
	hs_compile_error_t *err = NULL;
	hs_database_t *db = NULL;

	if (hs_compile_multi(expr, flags, ids, n, HS_MODE_BLOCK, NULL, &db,
			     &err) != HS_SUCCESS) {
		fprintf(stderr, "hs_cost: %s\n",
			err != NULL ? err->message : "compile failed");
		exit(1);
	}
	return db;
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(void)
{
	static const char *const path_expr[] = { "^/admin", "^/api/" };
	static const unsigned int path_flags[] = { HS_FLAG_SINGLEMATCH,
						   HS_FLAG_SINGLEMATCH };
	static const char *const host_expr[] = { "^bench\\.example$" };
	static const unsigned int host_flags[] = { HS_FLAG_CASELESS |
						   HS_FLAG_SINGLEMATCH };
	static const char host[] = "bench.example";
	hs_database_t *paths = compile(path_expr, path_flags, 2);
	hs_database_t *hosts = compile(host_expr, host_flags, 1);
	hs_scratch_t *scratch = NULL;
	double ns[ROUNDS];
	unsigned long matches = 0;
	char path[64];
	unsigned int r, i;
	int len;

	if (hs_alloc_scratch(paths, &scratch) != HS_SUCCESS ||
	    hs_alloc_scratch(hosts, &scratch) != HS_SUCCESS) {
		fprintf(stderr, "hs_cost: no scratch\n");
		return 1;
	}
	for (r = 0; r < ROUNDS; r++) {
		double t0, t1, t2;

		t0 = now_ns();
		for (i = 0; i < REQUESTS; i++)
			len = snprintf(path, sizeof(path),
				       "/api/items/%u?page=%u", i % 10000,
				       i % 30);
		t1 = now_ns();
		for (i = 0; i < REQUESTS; i++) {
			len = snprintf(path, sizeof(path),
				       "/api/items/%u?page=%u", i % 10000,
				       i % 30);
			hs_scan(paths, path, (unsigned int)len, 0, scratch,
				on_match, &matches);
			hs_scan(hosts, host, sizeof(host) - 1, 0, scratch,
				on_match, &matches);
		}
		t2 = now_ns();
		ns[r] = ((t2 - t1) - (t1 - t0)) / REQUESTS;
	}
	/* every request: "^/api/" and the host match, "^/admin" does not */
	if (matches != 2ul * ROUNDS * REQUESTS) {
		fprintf(stderr, "hs_cost: %lu matches, want %lu\n", matches,
			2ul * ROUNDS * REQUESTS);
		return 1;
	}
	qsort(ns, ROUNDS, sizeof(ns[0]), cmp);
	printf("hs_ns_per_request %.1f\n", ns[ROUNDS / 2]);
	hs_free_scratch(scratch);
	hs_free_database(paths);
	hs_free_database(hosts);
	return 0;
}
