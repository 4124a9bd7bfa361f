/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Rulesets from config text, for the unit suites that build them
 * (ruleset, ids). Include after mg_test.h and mg_ruleset.h.
 */

#ifndef MG_TEST_RULESET_H
#define MG_TEST_RULESET_H

#include <rte_errno.h>

#include "mg_ruleset.h"

#include "mg_test_conf.h"

/* A ruleset of @p c (no telemetry, one worker); fails the test when
 * it cannot be built. */
static struct mg_ruleset *
build_conf(const struct mg_conf *c)
{
	char err[256] = "";
	struct mg_ruleset *rs;

	rs = mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err));
	if (rs == NULL)
		print_error("build: %s (%s)\n", err, rte_strerror(rte_errno));
	assert_non_null(rs);
	return rs;
}

/* conf_text() then build_conf(). */
static struct mg_ruleset *
build_text(const char *text)
{
	struct mg_conf *c = conf_text(text);
	struct mg_ruleset *rs = build_conf(c);

	mg_conf_free(c);
	return rs;
}

#endif /* MG_TEST_RULESET_H */
