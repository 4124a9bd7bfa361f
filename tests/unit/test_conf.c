/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Unit tests of lib/conf: valid files, and every rejection as FILE:LINE. */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mg_conf.h"

static char tmpdir[] = "/tmp/mg_test_conf.XXXXXX";
static struct mg_conf_errors errs;

/* Writes @p text to @p name in the temp dir; returns the path. */
static const char *
write_file(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct mg_conf *
load_text(const char *text)
{
	return mg_conf_load(write_file("t.conf", text), MG_DRIVERS_CONF_DIR,
			    &errs);
}

/* Asserts that loading @p text fails with an error that starts with
 * "<file>:<line>:" and contains @p words. */
static void
expect_error(const char *text, int line, const char *words)
{
	char prefix[PATH_MAX + 16];
	unsigned int i;
	bool found = false;

	assert_null(load_text(text));
	assert_true(errs.n > 0);
	snprintf(prefix, sizeof(prefix), "%s/t.conf:%d: ", tmpdir, line);
	for (i = 0; i < errs.n && i < MG_CONF_MAX_ERRORS; i++)
		if (strncmp(errs.msg[i], prefix, strlen(prefix)) == 0 &&
		    strstr(errs.msg[i], words) != NULL)
			found = true;
	if (!found)
		for (i = 0; i < errs.n && i < MG_CONF_MAX_ERRORS; i++)
			print_error("got: %s\n", errs.msg[i]);
	assert_true(found);
}

#define PORT_PCAP                                                              \
	"{ name = \"edge\"; device = \"net_pcap0\"; profile = \"pcap\"; }"

static void
test_valid_one_arm(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = load_text("mode = \"one-arm\";\nburst = 64;\n"
		      "mempool = { mbufs = 4095; cache = 128; };\n"
		      "ports = ( " PORT_PCAP " );\n"
		      "lcores = ( { lcore = 1; queue = 0; } );\n");
	assert_non_null(c);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c->mode, MG_MODE_ONE_ARM);
	assert_int_equal(c->burst, 64);
	assert_int_equal(c->mbufs, 4095);
	assert_int_equal(c->mbuf_cache, 128);
	assert_int_equal(c->n_ports, 1);
	assert_string_equal(c->ports[0].name, "edge");
	assert_string_equal(c->ports[0].device, "net_pcap0");
	assert_string_equal(c->ports[0].profile.name, "pcap");
	assert_int_equal(c->ports[0].profile.rx_desc, 512);
	assert_int_equal(c->ports[0].role, MG_ROLE_BOTH);
	assert_int_equal(c->ports[0].line, 4);
	assert_int_equal(c->n_lcores, 1);
	assert_int_equal(c->lcores[0].lcore, 1);
	mg_conf_free(c);
}

static void
test_valid_two_arm_with_profile(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = load_text("mode = \"two-arm\";\nports = (\n"
		      " { name = \"edge\"; device = \"0000:03:00.0\"; "
		      "profile = \"ixgbe\"; role = \"edge\"; },\n"
		      " { name = \"mesh\"; device = \"0000:03:00.1\"; "
		      "profile = \"ixgbe\"; role = \"mesh\"; }\n);\n");
	assert_non_null(c);
	assert_int_equal(c->mode, MG_MODE_TWO_ARM);
	assert_int_equal(c->ports[0].role, MG_ROLE_EDGE);
	assert_int_equal(c->ports[1].role, MG_ROLE_MESH);
	assert_true(c->ports[0].profile.rss_symmetric);
	assert_true(c->ports[0].profile.rss & MG_RSS_IPV4_TCP);
	assert_true(c->ports[0].profile.rx_offloads & MG_OFFLOAD_TCP_CKSUM);
	assert_string_equal(mg_port_role_name(MG_ROLE_MESH), "mesh");
	mg_conf_free(c);
}

static void
test_syntax_error(void **state)
{
	(void)state;
	expect_error("mode = \"one-arm\";\n\nburst = ;\n", 3, "syntax error");
}

static void
test_unknown_key(void **state)
{
	(void)state;
	expect_error("mode = \"one-arm\";\nbrust = 32;\nports = ( " PORT_PCAP
		     " );\n",
		     2, "unknown key 'brust'");
	expect_error("ports = (\n{ name = \"edge\"; device = \"net_pcap0\";\n"
		     "  profile = \"pcap\"; speed = 10; }\n);\n",
		     3, "unknown key 'speed'");
}

static void
test_wrong_type_and_range(void **state)
{
	(void)state;
	expect_error("burst = \"many\";\nports = ( " PORT_PCAP " );\n", 1,
		     "must be an integer");
	expect_error("ports = ( " PORT_PCAP " );\nburst = 1000;\n", 2,
		     "between 1 and 256");
	expect_error("ports = ( " PORT_PCAP " );\n"
		     "mempool = { mbufs = 4095; cache = 513; };\n",
		     2, "between 0 and 512");
}

static void
test_bad_choices(void **state)
{
	(void)state;
	expect_error("mode = \"three-arm\";\nports = ( " PORT_PCAP " );\n", 1,
		     "unknown value 'three-arm'");
	expect_error("ports = (\n { name = \"a\"; device = \"net_pcap0\"; "
		     "profile = \"nosuch\"; }\n);\n",
		     2, "nosuch.conf");
	expect_error("ports = (\n { name = \"a\"; device = \"net_pcap0\"; "
		     "profile = \"../etc/x\"; }\n);\n",
		     2, "not a valid profile name");
}

static void
test_port_rules(void **state)
{
	(void)state;
	expect_error("ports = (\n" PORT_PCAP ",\n" PORT_PCAP "\n);\n", 3,
		     "port name 'edge' is used twice");
	/* both errors of one file are reported, not only the first */
	assert_true(errs.n >= 2);
	expect_error("mode = \"two-arm\";\nports = (\n" PORT_PCAP "\n);\n", 2,
		     "two-arm mode needs exactly two ports");
	expect_error("ports = (\n{ name = \"e\"; device = \"d\"; "
		     "profile = \"pcap\"; role = \"edge\"; }\n);\n",
		     2, "only meaningful in two-arm");
	expect_error("mode = \"one-arm\";\nports = ();\n", 2, "between 1 and");
	expect_error("ports = (\n { name = \"a\"; profile = \"pcap\"; }\n);\n",
		     2, "needs 'device'");
	expect_error(
		"ports = ( " PORT_PCAP " );\nlcores = (\n"
		"{ lcore = 1; queue = 0; },\n{ lcore = 1; queue = 1; }\n);\n",
		4, "lcore 1 is listed twice");
}

static void
test_missing_key_and_file(void **state)
{
	char path[PATH_MAX];

	(void)state;
	assert_null(load_text("mode = \"one-arm\";\n"));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "needs 'ports'"));

	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	assert_null(mg_conf_load(path, MG_DRIVERS_CONF_DIR, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "absent.conf"));
	assert_non_null(strstr(errs.msg[0], "cannot read"));
}

/* An error inside a profile names the profile file and its line. */
static void
test_bad_profile_names_its_file(void **state)
{
	char expect[PATH_MAX + 32];

	(void)state;
	mkdir(strcat(strcpy(expect, tmpdir), "/prof"), 0700);
	write_file("prof/broken.conf", "rx_desc = 512;\ntx_desc = 5;\n");
	assert_null(load_text("drivers_conf_dir = \"prof\";\nports = (\n"
			      "{ name = \"a\"; device = \"d\"; "
			      "profile = \"broken\"; }\n);\n"));
	assert_int_equal(errs.n, 1);
	snprintf(expect, sizeof(expect), "%s/prof/broken.conf:2: ", tmpdir);
	assert_memory_equal(errs.msg[0], expect, strlen(expect));
}

/* Every profile shipped in drivers-conf/ loads cleanly. */
static void
test_bundled_profiles(void **state)
{
	DIR *d = opendir(MG_DRIVERS_CONF_DIR);
	struct dirent *e;
	unsigned int n = 0;
	char text[512];

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct mg_conf *c;

		if (len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
			continue;
		snprintf(text, sizeof(text),
			 "ports = ( { name = \"p\"; "
			 "device = \"d\"; profile = \"%.*s\"; } );\n",
			 (int)(len - 5), e->d_name);
		c = load_text(text);
		if (c == NULL)
			print_error("%s: %s\n", e->d_name, errs.msg[0]);
		assert_non_null(c);
		mg_conf_free(c);
		n++;
	}
	closedir(d);
	assert_true(n >= 13);
}

static void
test_bundled_default(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = mg_conf_load("../app/meshgate/meshgate.conf", MG_DRIVERS_CONF_DIR,
			 &errs);
	assert_non_null(c);
	mg_conf_free(c);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_one_arm),
		cmocka_unit_test(test_valid_two_arm_with_profile),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type_and_range),
		cmocka_unit_test(test_bad_choices),
		cmocka_unit_test(test_port_rules),
		cmocka_unit_test(test_missing_key_and_file),
		cmocka_unit_test(test_bad_profile_names_its_file),
		cmocka_unit_test(test_bundled_profiles),
		cmocka_unit_test(test_bundled_default),
	};

	return cmocka_run_group_tests_name("conf", tests, setup, teardown);
}
