/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * A config from text, for the unit suites that need a loaded one
 * (ruleset, ids, policy, esp). Include after mg_test.h.
 */

#ifndef MG_TEST_CONF_H
#define MG_TEST_CONF_H

#include "mg_conf.h"

/* What the last load said (its first message names FILE:LINE). */
static struct mg_conf_errors errs;

/* @p text as a config file, loaded; fails the test when it is not. */
static inline struct mg_conf *
conf_text(const char *text)
{
	struct mg_conf *c;

	c = mg_conf_load(mg_test_write_file("t.conf", text),
			 MG_DRIVERS_CONF_DIR, &errs);
	if (c == NULL)
		print_error("config: %s\n", errs.msg[0]);
	assert_non_null(c);
	return c;
}

#endif /* MG_TEST_CONF_H */
