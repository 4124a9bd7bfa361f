/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* What the unit suites share: the EAL started without hugepages or PCI
 * under the suite's own file prefix, and a private temporary folder for
 * the config files a suite writes. Header-only; include after cmocka. */

#ifndef MG_TEST_H
#define MG_TEST_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_launch.h>

#include "mg_base.h"

/**
 * rte_eal_init() for suite @p name: --no-huge, --no-pci, @p mem MB,
 * lcores @p lcores ("0", "0,1"), file prefix @p name-PID (two runs of a
 * suite at once, release and sanitizer builds, never share one), library
 * logs at error only (and meshgate's too when @p quiet).
 */
/* EAL's runtime folder of this process, removed at exit. */
static char mg_test_runtime_dir[PATH_MAX];

static inline void
mg_test_runtime_dir_remove(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mg_test_runtime_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", mg_test_runtime_dir);
}

static inline int
mg_test_eal_init(const char *name, const char *mem, const char *lcores,
		 bool quiet)
{
	static char prefix[64];
	int ret;
	char *argv[] = {
		(char *)name,	"--no-huge",	 "--no-pci",	"-m",
		(char *)mem,	"--file-prefix", prefix,	"-l",
		(char *)lcores, "--log-level",	 "lib.*:error", "--log-level",
		"mg.*:error",
	};

	snprintf(prefix, sizeof(prefix), "%s-%d", name, (int)getpid());

	ret = rte_eal_init(quiet ? (int)RTE_DIM(argv) : (int)RTE_DIM(argv) - 2,
			   argv);
	if (ret >= 0) {
		snprintf(mg_test_runtime_dir, sizeof(mg_test_runtime_dir), "%s",
			 rte_eal_get_runtime_dir());
		atexit(mg_test_runtime_dir_remove);
	}
	return ret;
}

/* The suite's temporary folder, made by mg_test_tmpdir_make(). */
static char mg_test_tmpdir[64];

static inline int
mg_test_tmpdir_make(const char *name)
{
	snprintf(mg_test_tmpdir, sizeof(mg_test_tmpdir), "/tmp/mg_%s.XXXXXX",
		 name);
	return mkdtemp(mg_test_tmpdir) == NULL ? -1 : 0;
}

static inline int
mg_test_tmpdir_remove(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mg_test_tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write @p text to @p name in the folder; returns its path (static,
 * valid until the next call). */
static inline const char *
mg_test_write_file(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", mg_test_tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* The example configs' test keys (tests/configs/keys) readable by their
 * owner only, as meshgate demands of a key file: git keeps no such mode.
 * Run from tests/ (the suites' working folder). */
static inline void
mg_test_key_modes(void)
{
	assert_int_equal(system("chmod 600 configs/keys/*.key"), 0);
}

/*
 * rte_eal_remote_launch() and rte_eal_wait_lcore() for a test's worker
 * lcore: EAL hands the argument over and the results back with a
 * release and an acquire in its own (uninstrumented) code, which these
 * tell ThreadSanitizer about (mg_base.h's MG_TSAN_*); the same calls in
 * other builds.
 */
struct mg_test_launch {
	int (*fn)(void *);
	void *arg;
};

static struct mg_test_launch mg_test_launches[RTE_MAX_LCORE];

static inline int
mg_test_launched(void *p)
{
	struct mg_test_launch *l = p;
	int rc;

	MG_TSAN_ACQUIRE(l);
	rc = l->fn(l->arg);
	MG_TSAN_RELEASE(l);
	return rc;
}

static inline int
mg_test_remote_launch(int (*fn)(void *), void *arg, unsigned int lcore)
{
	struct mg_test_launch *l = &mg_test_launches[lcore];

	l->fn = fn;
	l->arg = arg;
	MG_TSAN_RELEASE(l);
	return rte_eal_remote_launch(mg_test_launched, l, lcore);
}

static inline int
mg_test_wait_lcore(unsigned int lcore)
{
	int rc = rte_eal_wait_lcore(lcore);

	MG_TSAN_ACQUIRE(&mg_test_launches[lcore]);
	return rc;
}

#endif /* MG_TEST_H */
