/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Unit tests of lib/conf: valid files, and every rejection as FILE:LINE. */

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mg_test.h"
#include <hs/hs.h>

#include "mg_conf.h"

static struct mg_conf_errors errs;

/* Writes @p text to @p name in the temp dir; returns the path. */
static struct mg_conf *
load_text(const char *text)
{
	return mg_conf_load(mg_test_write_file("t.conf", text),
			    MG_DRIVERS_CONF_DIR, &errs);
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
	snprintf(prefix, sizeof(prefix), "%s/t.conf:%d: ", mg_test_tmpdir,
		 line);
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
	/* the names the port bring-up logs are the names profiles use */
	assert_string_equal(mg_conf_rss_name(MG_RSS_IPV6_UDP), "ipv6-udp");
	assert_string_equal(mg_conf_offload_name(MG_OFFLOAD_VLAN_STRIP),
			    "vlan-strip");
	assert_string_equal(mg_conf_offload_name(MG_OFFLOAD_MBUF_FAST_FREE),
			    "mbuf-fast-free");
	assert_string_equal(mg_conf_offload_name(MG_OFFLOAD_TCP_CKSUM),
			    "tcp-cksum");
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

	snprintf(path, sizeof(path), "%s/absent.conf", mg_test_tmpdir);
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
	mkdir(strcat(strcpy(expect, mg_test_tmpdir), "/prof"), 0700);
	mg_test_write_file("prof/broken.conf",
			   "rx_desc = 512;\ntx_desc = 5;\n");
	assert_null(load_text("drivers_conf_dir = \"prof\";\nports = (\n"
			      "{ name = \"a\"; device = \"d\"; "
			      "profile = \"broken\"; }\n);\n"));
	assert_int_equal(errs.n, 1);
	snprintf(expect, sizeof(expect),
		 "%s/prof/broken.conf:2: ", mg_test_tmpdir);
	assert_memory_equal(errs.msg[0], expect, strlen(expect));
}

/* Reads @p path whole into a malloc'd buffer; *len gets its size. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Two loads of one config are equal: patterns by text, the rest byte
 * for byte. */
static void
assert_same_conf(struct mg_conf *a, struct mg_conf *b)
{
	struct mg_l7_pattern *pa = a->patterns, *pb = b->patterns;
	uint32_t i;

	assert_int_equal(a->n_patterns, b->n_patterns);
	for (i = 0; i < a->n_patterns; i++) {
		assert_string_equal(pa[i].regex, pb[i].regex);
		assert_int_equal(pa[i].line, pb[i].line);
	}
	a->patterns = NULL;
	b->patterns = NULL;
	assert_memory_equal(a, b, sizeof(*a));
	a->patterns = pa;
	b->patterns = pb;
}

/* Text in memory loads as the file holding it would, under its name. */
static void
test_load_string(void **state)
{
	static const char nul[] = "mode = \"one-arm\";\n\0ports = ();\n";
	const char *path = "configs/mesh-example.conf";
	struct mg_conf *file, *mem;
	char expect[PATH_MAX + 32], msg[MG_CONF_ERROR_LEN];
	const char *lit;
	size_t len;
	char *text;
	FILE *f;

	(void)state;
	text = slurp(path, &len);
	file = mg_conf_load(path, MG_DRIVERS_CONF_DIR, &errs);
	assert_non_null(file);
	/* not NUL-terminated: the length alone bounds it */
	mem = mg_conf_load_string(text, len, path, MG_DRIVERS_CONF_DIR, &errs);
	assert_non_null(mem);
	assert_int_equal(errs.n, 0);
	assert_same_conf(file, mem);
	mg_conf_free(file);
	mg_conf_free(mem);
	free(text);

	/* errors carry the name and the line */
	lit = "ports = (\n { name = \"a\"; profile = \"pcap\"; }\n);\n";
	assert_null(mg_conf_load_string(lit, strlen(lit), "mem.conf",
					MG_DRIVERS_CONF_DIR, &errs));
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], "mem.conf:2: a port needs 'device'");

	/* a NUL is a syntax error where it stands, as in a file */
	assert_null(mg_conf_load_string(nul, sizeof(nul) - 1, "nul.conf",
					MG_DRIVERS_CONF_DIR, &errs));
	assert_int_equal(errs.n, 1);
	assert_memory_equal(errs.msg[0], "nul.conf:2: syntax error",
			    strlen("nul.conf:2: syntax error"));
	/* ... and the same bytes in a file say the same */
	snprintf(msg, sizeof(msg), "%s", errs.msg[0]);
	snprintf(expect, sizeof(expect), "%s/nul.conf", mg_test_tmpdir);
	f = fopen(expect, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
	fclose(f);
	assert_null(mg_conf_load(expect, MG_DRIVERS_CONF_DIR, &errs));
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0] + strlen(expect),
			    msg + strlen("nul.conf"));

	/* empty text is an empty file; NULL with no length too */
	assert_null(mg_conf_load_string(NULL, 0, "empty.conf",
					MG_DRIVERS_CONF_DIR, &errs));
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0],
			    "empty.conf: the config needs 'ports'");

	/* a relative drivers_conf_dir is taken from the name's folder */
	snprintf(expect, sizeof(expect), "%s/memprof", mg_test_tmpdir);
	assert_int_equal(mkdir(expect, 0700), 0);
	mg_test_write_file("memprof/p.conf", "rx_desc = 256;\n");
	snprintf(expect, sizeof(expect), "%s/any.conf", mg_test_tmpdir);
	lit = "drivers_conf_dir = \"memprof\";\nports = ({ name = \"a\"; "
	      "device = \"d\"; profile = \"p\"; });\n";
	mem = mg_conf_load_string(lit, strlen(lit), expect, MG_DRIVERS_CONF_DIR,
				  &errs);
	assert_non_null(mem);
	assert_int_equal(mem->ports[0].profile.rx_desc, 256);
	assert_string_equal(mem->path, expect);
	mg_conf_free(mem);
}

/* A profile may ask for inline IPsec crypto; anything else is refused
 * at its line. */
static void
test_profile_ipsec(void **state)
{
	char prof[PATH_MAX];
	struct mg_conf *c;

	(void)state;
	mkdir(strcat(strcpy(prof, mg_test_tmpdir), "/prof2"), 0700);
	mg_test_write_file("prof2/inl.conf", "ipsec = \"inline-crypto\";\n");
	mg_test_write_file("prof2/look.conf", "ipsec = \"lookaside\";\n");
	mg_test_write_file("prof2/bad.conf",
			   "rx_desc = 512;\nipsec = \"yes\";\n");
	c = load_text("drivers_conf_dir = \"prof2\";\nports = (\n"
		      "{ name = \"a\"; device = \"d\"; profile = \"inl\"; },\n"
		      "{ name = \"b\"; device = \"e\"; profile = \"look\"; }\n"
		      ");\n");
	assert_non_null(c);
	assert_true(c->ports[0].profile.ipsec_inline);
	assert_false(c->ports[1].profile.ipsec_inline);
	mg_conf_free(c);
	assert_null(load_text("drivers_conf_dir = \"prof2\";\nports = (\n"
			      "{ name = \"a\"; device = \"d\"; "
			      "profile = \"bad\"; }\n);\n"));
	snprintf(prof, sizeof(prof),
		 "%s/prof2/bad.conf:2: 'ipsec' has "
		 "unknown value 'yes' (expected one of: lookaside, "
		 "inline-crypto)",
		 mg_test_tmpdir);
	assert_string_equal(errs.msg[0], prof);
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
test_telemetry(void **state)
{
	struct mg_conf *c;
	char buf[64];

	(void)state;
	c = load_text("ports = ( " PORT_PCAP " );\n");
	assert_non_null(c);
	assert_true(c->telemetry.enabled);
	assert_string_equal(
		mg_addr_format(&c->telemetry.addr, buf, sizeof(buf)),
		"127.0.0.1");
	assert_int_equal(c->telemetry.port, 9469);
	assert_int_equal(c->telemetry.max_label_sets, 1024);
	assert_false(c->telemetry.istio);
	mg_conf_free(c);
	c = load_text("ports = ( " PORT_PCAP " );\ntelemetry = { listen = "
		      "\"[::1]:9470\"; max_label_sets = 64; "
		      "naming = \"istio\"; };\n");
	assert_non_null(c);
	assert_int_equal(c->telemetry.addr.family, 6);
	assert_int_equal(c->telemetry.port, 9470);
	assert_int_equal(c->telemetry.max_label_sets, 64);
	assert_true(c->telemetry.istio);
	mg_conf_free(c);
	expect_error("ports = ( " PORT_PCAP " );\ntelemetry = {\n"
		     "naming = \"prometheus\"; };\n",
		     3,
		     "'naming' has unknown value 'prometheus' (expected one "
		     "of: meshgate, istio)");
	c = load_text("ports = ( " PORT_PCAP " );\n"
		      "telemetry = { listen = \"off\"; };\n");
	assert_non_null(c);
	assert_false(c->telemetry.enabled);
	mg_conf_free(c);

	expect_error("ports = ( " PORT_PCAP " );\ntelemetry = {\n"
		     "listen = \"127.0.0.1\"; };\n",
		     3, "needs a port");
	expect_error("ports = ( " PORT_PCAP " );\ntelemetry = {\n"
		     "listen = \"localhost:80\"; };\n",
		     3, "is not address");
	expect_error("ports = ( { name = \"e\"; device = \"d\"; "
		     "profile = \"pcap\"; addresses = [\"198.18.0.1/24\"]; }"
		     " );\ntelemetry = {\nlisten = \"198.18.0.1:9469\"; };\n",
		     3, "data-plane address");
	expect_error("ports = ( " PORT_PCAP " );\ntelemetry = {\n"
		     "max_label_sets = 1; };\n",
		     3, "between 16 and 65536");
}

/* idle, hash_seed and memory_mb: defaults, values, refusals. */
static void
test_appliance(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = load_text("ports = ( " PORT_PCAP " );\n");
	assert_non_null(c);
	assert_int_equal(c->idle.mode, MG_IDLE_ADAPTIVE);
	assert_int_equal(c->idle.max_sleep_us, 3000);
	assert_int_equal(c->hash_seed, MG_CONF_HASH_SEED_DEFAULT);
	assert_int_equal(c->memory_mb, 0);
	assert_false(c->flows_max_set);
	assert_false(c->l7_pending_set);
	mg_conf_free(c);
	c = load_text("ports = ( " PORT_PCAP " );\n"
		      "idle = { mode = \"interrupt\"; max_sleep_us = 200000; };"
		      "\nhash_seed = 12345;\nflows = { max = 4096; };\n"
		      "memory_mb = 64;\nl7 = { max_pending = 16; };\n");
	assert_non_null(c);
	assert_int_equal(c->idle.mode, MG_IDLE_INTERRUPT);
	assert_int_equal(c->idle.max_sleep_us, 200000);
	assert_int_equal(c->hash_seed, 12345);
	assert_int_equal(c->memory_mb, 64);
	assert_int_equal(c->memory_line, 5);
	assert_true(c->flows_max_set);
	assert_true(c->l7_pending_set);
	mg_conf_free(c);
	c = load_text("ports = ( " PORT_PCAP " );\nidle = { mode = \"poll\"; "
		      "};\nhash_seed = 0;\n");
	assert_non_null(c);
	assert_int_equal(c->idle.mode, MG_IDLE_POLL);
	assert_int_equal(c->hash_seed, 0);
	mg_conf_free(c);

	expect_error("ports = ( " PORT_PCAP " );\n"
		     "idle = {\n mode = \"sleepy\";\n};\n",
		     3, "expected one of: adaptive, interrupt, poll");
	expect_error("ports = ( " PORT_PCAP " );\n"
		     "idle = {\n max_sleep_us = 0;\n};\n",
		     3, "between 1 and 200000");
	expect_error("ports = ( " PORT_PCAP " );\n"
		     "idle = {\n max_sleep_us = 250000;\n};\n",
		     3, "between 1 and 200000");
	expect_error("ports = ( " PORT_PCAP " );\n"
		     "idle = {\n sleep = 5;\n};\n",
		     3, "unknown key 'sleep' in 'idle'");
	/* 0xFFFFFFFF is a negative int to libconfig */
	expect_error("ports = ( " PORT_PCAP " );\n"
		     "\nhash_seed = 0xFFFFFFFF;\n",
		     3, "between 0 and 2147483647");
	expect_error("ports = ( " PORT_PCAP " );\n"
		     "\nhash_seed = \"abc\";\n",
		     3, "must be an integer");
	expect_error("ports = ( " PORT_PCAP " );\n"
		     "\nmemory_mb = 8;\n",
		     3, "between 16 and 1048576");
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

/* ---- service-mesh sections ---- */

/* Line 1 of most mesh cases: a minimal valid port. */
#define P1 "ports = ( " PORT_PCAP " );\n"

/* printf into one of a few rotating buffers: config text for one call,
 * with nothing to free. */
static const char *__attribute__((format(printf, 1, 2)))
fmt(const char *format, ...)
{
	static char bufs[8][4096];
	static unsigned int next;
	char *b = bufs[next++ % 8];
	va_list ap;

	va_start(ap, format);
	vsnprintf(b, sizeof(bufs[0]), format, ap);
	va_end(ap);
	return b;
}

/* A one-line service with one version and one backend; @p ports is the
 * config text of its ports (newlines in it shift later lines). */
static const char *
svc(const char *name, const char *proto, const char *addr, const char *ports)
{
	return fmt("{ name = \"%s\"; protocol = \"%s\"; "
		   "addresses = [\"%s\"]; ports = %s; versions = ( "
		   "{ name = \"v1\"; backends = [\"198.19.1.1\"]; } ); }",
		   name, proto, addr, ports);
}

static void
test_addr_parse_format(void **state)
{
	struct mg_addr a;
	struct mg_prefix p;
	char buf[64];

	(void)state;
	assert_true(mg_addr_parse("198.18.0.1", &a));
	assert_int_equal(a.family, 4);
	assert_int_equal(a.bytes[0], 198);
	assert_int_equal(a.bytes[3], 1);
	assert_int_equal(a.bytes[4], 0);
	assert_string_equal(mg_addr_format(&a, buf, sizeof(buf)), "198.18.0.1");
	assert_true(mg_addr_parse("2001:db8::1", &a));
	assert_int_equal(a.family, 6);
	assert_int_equal(a.bytes[0], 0x20);
	assert_int_equal(a.bytes[15], 1);
	assert_string_equal(mg_addr_format(&a, buf, sizeof(buf)),
			    "2001:db8::1");
	assert_true(mg_addr_parse("::ffff:1.2.3.4", &a));
	assert_int_equal(a.family, 6);
	assert_false(mg_addr_parse("198.18.0", &a));
	assert_int_equal(a.family, 0);
	assert_false(mg_addr_parse("198.18.0.01", &a));
	assert_false(mg_addr_parse("198.18.0.256", &a));
	assert_false(mg_addr_parse("fe80::1%eth0", &a));
	assert_false(mg_addr_parse("", &a));
	assert_false(mg_addr_parse(NULL, &a));
	a.family = 0;
	assert_string_equal(mg_addr_format(&a, buf, sizeof(buf)), "?");

	/* host bits of the prefix are ignored: on-link test */
	assert_true(mg_addr_parse("198.18.0.1", &p.addr));
	p.len = 23;
	assert_true(mg_addr_parse("198.18.1.200", &a));
	assert_true(mg_prefix_contains(&p, &a));
	assert_true(mg_addr_parse("198.18.2.1", &a));
	assert_false(mg_prefix_contains(&p, &a));
	p.len = 0;
	assert_true(mg_prefix_contains(&p, &a));
	assert_true(mg_addr_parse("::1", &a));
	assert_false(mg_prefix_contains(&p, &a)); /* other family */
	assert_true(mg_addr_parse("2001:db8:1::", &p.addr));
	p.len = 63;
	assert_true(mg_addr_parse("2001:db8:1:1::5", &a));
	assert_true(mg_prefix_contains(&p, &a));
	assert_true(mg_addr_parse("2001:db8:1:2::5", &a));
	assert_false(mg_prefix_contains(&p, &a));
}

/* fragments, mss_clamp and the profile keys of jumbo frames. */
static void
test_fragments_mss_mtu(void **state)
{
	char expect[PATH_MAX + 32];
	struct mg_conf *c;

	(void)state;
	c = load_text(P1);
	assert_non_null(c);
	assert_int_equal(c->fragments.max, 256);
	assert_int_equal(c->fragments.timeout_ms, 3000);
	assert_int_equal(c->ports[0].mss_clamp, 0);
	assert_int_equal(c->ports[0].profile.rx_frame_max, 0);
	assert_false(c->ports[0].profile.mtu_external);
	mg_conf_free(c);
	c = load_text("fragments = { max = 16; timeout_ms = 100; };\n"
		      "ports = ( { name = \"edge\"; device = \"net_pcap0\"; "
		      "profile = \"pcap-jumbo\"; mss_clamp = 1400; } );\n");
	assert_non_null(c);
	assert_int_equal(c->fragments.max, 16);
	assert_int_equal(c->fragments.timeout_ms, 100);
	assert_int_equal(c->ports[0].mss_clamp, 1400);
	assert_int_equal(c->ports[0].profile.mtu, 9000);
	mg_conf_free(c);
	expect_error(P1 "fragments = {\n max = 8;\n};\n", 3,
		     "'max' is 8; it must be between 16 and 65536");
	expect_error(P1 "fragments = {\n timeout_ms = 60001;\n};\n", 3,
		     "between 100 and 60000");
	expect_error(P1 "fragments = {\n maximum = 9;\n};\n", 3, "maximum");
	expect_error("ports = (\n{ name = \"edge\"; device = \"d\";\n"
		     "profile = \"pcap\";\n mss_clamp = 100; }\n);\n",
		     4, "'mss_clamp' is 100; it must be between 536 and 9560");
	/* mtu_external without an mtu; rx_frame_max bounds */
	mkdir(strcat(strcpy(expect, mg_test_tmpdir), "/prof2"), 0700);
	mg_test_write_file("prof2/ext.conf", "rx_desc = 512;\n"
					     "mtu_external = true;\n");
	assert_null(load_text("drivers_conf_dir = \"prof2\";\nports = (\n"
			      "{ name = \"a\"; device = \"d\"; "
			      "profile = \"ext\"; }\n);\n"));
	snprintf(expect, sizeof(expect),
		 "%s/prof2/ext.conf:2: ", mg_test_tmpdir);
	assert_memory_equal(errs.msg[0], expect, strlen(expect));
	assert_non_null(strstr(errs.msg[0], "'mtu_external' needs an 'mtu'"));
	mg_test_write_file("prof2/big.conf", "rx_frame_max = 70000;\n");
	assert_null(load_text("drivers_conf_dir = \"prof2\";\nports = (\n"
			      "{ name = \"a\"; device = \"d\"; "
			      "profile = \"big\"; }\n);\n"));
	assert_non_null(strstr(errs.msg[0], "between 64 and 65280"));
	mg_test_write_file("prof2/ok.conf", "mtu = 9000;\nmtu_external = "
					    "true;\nrx_frame_max = 12288;\n");
	c = load_text("drivers_conf_dir = \"prof2\";\nports = (\n"
		      "{ name = \"a\"; device = \"d\"; "
		      "profile = \"ok\"; }\n);\n");
	assert_non_null(c);
	assert_true(c->ports[0].profile.mtu_external);
	assert_int_equal(c->ports[0].profile.rx_frame_max, 12288);
	mg_conf_free(c);
}

static void
test_flows(void **state)
{
	struct mg_conf *c;

	(void)state;
	/* without the group: defaults, never a 0 */
	c = load_text(P1);
	assert_non_null(c);
	assert_int_equal(c->flows.max_flows, 65536);
	assert_int_equal(c->flows.tcp_syn_s, 10);
	assert_int_equal(c->flows.tcp_established_s, 3600);
	assert_int_equal(c->flows.tcp_fin_s, 30);
	assert_int_equal(c->flows.tcp_time_wait_s, 10);
	assert_int_equal(c->flows.tcp_rst_s, 2);
	assert_int_equal(c->flows.udp_s, 30);
	assert_int_equal(c->n_identities + c->n_services + c->n_policies +
				 c->n_neighbours + c->ports[0].n_addrs,
			 0);
	assert_int_equal(c->ports[0].gateway4.family, 0);
	mg_conf_free(c);

	c = load_text(P1 "flows = { max = 1024; udp = 5; };\n");
	assert_non_null(c);
	assert_int_equal(c->flows.max_flows, 1024);
	assert_int_equal(c->flows.udp_s, 5);
	assert_int_equal(c->flows.tcp_established_s, 3600);

	assert_int_equal(c->unmatched, MG_UNMATCHED_DROP);
	mg_conf_free(c);
	c = load_text(P1 "unmatched = \"forward\";\n");
	assert_non_null(c);
	assert_int_equal(c->unmatched, MG_UNMATCHED_FORWARD);
	mg_conf_free(c);
	expect_error(P1 "unmatched = \"sometimes\";\n", 2,
		     "'unmatched' has unknown value 'sometimes' (expected one "
		     "of: drop, forward)");

	expect_error(P1 "flows = {\n max = 100;\n};\n", 3,
		     "between 1024 and 16777216");
	expect_error(P1 "flows = {\n tcp_syn = 0;\n};\n", 3,
		     "'tcp_syn' is 0; it must be between 1");
	expect_error(P1 "flows = {\n udp_idle = 5;\n};\n", 3,
		     "unknown key 'udp_idle' in 'flows'");
}

/* The bundled example: every section, every key. */
static void
test_mesh_example(void **state)
{
	const struct mg_service_conf *s;
	const struct mg_port_conf *p;
	struct mg_conf *c;
	char buf[64];

	(void)state;
	mg_test_key_modes();
	c = mg_conf_load("configs/mesh-example.conf", MG_DRIVERS_CONF_DIR,
			 &errs);
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	assert_int_equal(c->flows.max_flows, 65536);
	assert_int_equal(c->flows.tcp_established_s, 3600);
	assert_int_equal(c->unmatched, MG_UNMATCHED_DROP);

	p = &c->ports[0];
	assert_int_equal(p->n_addrs, 4);
	assert_int_equal(p->addrs[0].len, 24);
	assert_string_equal(mg_addr_format(&p->addrs[0].addr, buf, sizeof(buf)),
			    "198.18.0.1"); /* host bits kept */
	assert_int_equal(p->addrs[2].addr.family, 6);
	assert_int_equal(p->addrs[2].len, 64);
	assert_string_equal(mg_addr_format(&p->gateway4, buf, sizeof(buf)),
			    "198.18.0.254");
	assert_string_equal(mg_addr_format(&p->gateway6, buf, sizeof(buf)),
			    "2001:db8::ff");

	/* four of the file's and the peer's */
	assert_int_equal(c->n_identities, 5);
	assert_string_equal(c->identities[4].name, "peer:edge-b");
	assert_int_equal(c->n_peers, 1);
	assert_true(c->peers[0].udp_encap);
	assert_int_equal(c->peers[0].outbound.algo, MG_ESP_AES_GCM_256);
	assert_int_equal(c->peers[0].n_services, 1);
	assert_int_equal(c->peers[0].services[0], 4);
	assert_string_equal(c->identities[0].name, "frontend");
	assert_string_equal(c->identities[0].env, "prod");
	assert_int_equal(c->identities[0].n_prefixes, 2);
	assert_int_equal(c->identities[0].prefixes[0].len, 24);
	assert_int_equal(c->identities[0].prefixes[1].addr.family, 6);
	assert_int_equal(c->identities[1].prefixes[0].len, 25);
	assert_string_equal(c->identities[3].env, "");
	assert_int_equal(c->identities[3].prefixes[0].len, 32);

	assert_int_equal(c->n_services, 5);
	s = &c->services[0];
	assert_string_equal(s->name, "shop");
	assert_int_equal(s->proto, 6);
	assert_int_equal(s->n_vips, 2);
	assert_int_equal(s->vips[1].family, 6);
	assert_int_equal(s->n_ports, 2);
	assert_int_equal(s->ports[0].lo, 80);
	assert_int_equal(s->ports[0].hi, 80);
	assert_int_equal(s->ports[1].lo, 8000);
	assert_int_equal(s->ports[1].hi, 8099);
	assert_int_equal(s->n_versions, 2);
	assert_int_equal(s->versions[0].weight, 9900);
	assert_int_equal(s->versions[1].weight, 100);
	assert_int_equal(s->versions[0].n_backends, 3);
	assert_int_equal(s->versions[0].backends[0].port, 0);
	assert_int_equal(s->versions[0].backends[1].port, 8080);
	assert_int_equal(s->versions[0].backends[2].addr.family, 6);
	assert_int_equal(s->versions[0].backends[2].port, 8080);
	assert_string_equal(mg_addr_format(&s->versions[0].backends[2].addr,
					   buf, sizeof(buf)),
			    "2001:db8:101::1");
	assert_int_equal(c->services[1].versions[0].weight, 1); /* lone */
	assert_int_equal(c->services[2].proto, 17);
	assert_int_equal(c->services[3].versions[1].weight, 0);
	assert_false(s->versions[0].canary);
	assert_true(s->versions[1].canary);
	assert_int_equal(s->n_routes, 1);
	assert_int_equal(s->routes[0].version, 1);
	assert_int_equal(s->routes[0].n_from, 1);
	assert_string_equal(s->routes[0].from[0].name, "frontend-canary");
	assert_true(c->health.enabled);
	assert_int_equal(c->health.connect_timeout_ms, 1000);
	assert_int_equal(c->health.eject_after, 1);
	assert_int_equal(c->health.base_ejection_ms, 5000);
	assert_int_equal(c->health.max_ejection_ms, 60000);
	assert_memory_equal(&s->health, &c->health, sizeof(c->health));
	assert_false(c->services[2].health.enabled); /* dns: UDP */
	assert_int_equal(c->services[2].health.connect_timeout_ms, 1000);
	assert_true(c->services[3].health.enabled);
	assert_int_equal(c->services[3].health.eject_after, 3);
	assert_int_equal(c->services[3].health.max_ejection_ms, 30000);
	assert_int_equal(c->services[3].health.base_ejection_ms, 5000);
	assert_int_equal(c->health.max_ejected_percent, 50);
	assert_int_equal(c->services[3].health.max_ejected_percent, 100);
	assert_int_equal(c->warnings.n, 0);

	assert_int_equal(c->n_policies, 13);
	assert_int_equal(c->policies[0].action, MG_POLICY_DENY);
	assert_int_equal(c->policies[0].from[0].kind, MG_REF_ENV);
	assert_string_equal(c->policies[0].from[0].name, "dev");
	assert_int_equal(c->policies[1].action, MG_POLICY_ALLOW);
	assert_int_equal(c->policies[1].n_from, 2);
	assert_int_equal(c->policies[1].from[1].kind, MG_REF_NAME);
	assert_false(c->policies[1].dry_run);
	assert_int_equal(c->policies[2].from[0].kind, MG_REF_ANY);
	assert_true(c->policies[5].dry_run);
	assert_int_equal(c->policies[5].l7, MG_L7_NONE);

	/* its layer-7 rules and limits */
	assert_int_equal(c->l7.max_request_bytes, 4096);
	assert_int_equal(c->l7.max_pending, 1024);
	assert_int_equal(c->n_patterns, 11);
	assert_int_equal(c->policies[6].l7, MG_L7_HTTP);
	assert_int_equal(c->policies[6].action, MG_POLICY_DENY);
	assert_int_equal(c->policies[6].n_matchers, 1);
	assert_int_equal(c->policies[7].l7, MG_L7_HTTP);
	assert_int_equal(c->policies[7].n_matchers, 4);
	assert_int_equal(c->policies[7].matchers[0].field, MG_L7_METHOD);
	assert_int_equal(c->policies[7].matchers[0].n, 2);
	assert_int_equal(c->policies[7].matchers[2].field, MG_L7_HOST);
	assert_int_equal(c->policies[7].matchers[3].field, MG_L7_HEADER);
	assert_string_equal(c->policies[7].matchers[3].header, "x-probe");
	assert_int_equal(c->policies[7].matchers[3].first, 5);
	assert_int_equal(c->policies[7].matchers[3].n, 2);
	assert_false(c->policies[7].allow_no_sni);
	assert_int_equal(c->policies[8].l7, MG_L7_TLS);
	assert_int_equal(c->policies[8].matchers[0].field, MG_L7_SNI);
	assert_true(c->policies[8].allow_no_sni);
	assert_string_equal(c->patterns[7].regex, "^admin\\.shop\\.example$");
	assert_int_equal(c->policies[9].matchers[0].field, MG_L7_QUERY);
	assert_string_equal(c->patterns[8].regex, "(^|&)debug=");
	assert_int_equal(c->policies[10].n_matchers, 2);
	assert_int_equal(c->policies[10].matchers[1].field, MG_L7_UPGRADE);
	assert_string_equal(c->patterns[10].regex, "^websocket$");

	assert_int_equal(c->n_neighbours, 3);
	assert_int_equal(c->neighbours[1].mac[5], 0x01);
	assert_int_equal(c->neighbours[2].addr.family, 6);
	assert_string_equal(c->shadow, "configs/mesh-example-candidate.conf");
	assert_true(s->versions[1].rollback.enabled);
	assert_int_equal(s->versions[1].rollback.min_requests, 200);
	assert_int_equal(s->versions[1].rollback.window_s, 60);
	assert_false(s->versions[0].rollback.enabled);
	assert_int_equal(c->recorder.packets, 256);
	assert_string_equal(c->recorder.dir, "/var/tmp");
	assert_true(c->deny_log.enabled);
	assert_string_equal(c->deny_log.file, "/var/log/meshgate/deny.log");
	assert_int_equal(c->deny_log.rate, 100);
	assert_int_equal(c->deny_log.burst, 200);
	mg_conf_free(c);

	/* the candidate it names loads, and has no shadow of its own */
	c = mg_conf_load("configs/mesh-example-candidate.conf",
			 MG_DRIVERS_CONF_DIR, &errs);
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	assert_string_equal(c->shadow, "");
	mg_conf_free(c);
}

static void
test_identity_rules(void **state)
{
	(void)state;
	expect_error(P1
		     "identities = (\n"
		     "{ name = \"a\"; prefixes = [\"10.0.0.0/8\"]; },\n"
		     "{ name = \"front end\"; prefixes = [\"11.0.0.0/8\"]; }\n"
		     ");\n",
		     4, "may only hold letters, digits");
	expect_error(P1 "identities = (\n"
			"{ name = \"a\"; prefixes = [\"10.0.0.0/8\"]; },\n"
			"{ name = \"a\"; prefixes = [\"11.0.0.0/8\"]; }\n"
			");\n",
		     4, "identity name 'a' is used twice (first at line 3)");
	expect_error(P1 "identities = (\n"
			"{ name = \"unknown\"; prefixes = [\"10.0.0.0/8\"]; }\n"
			");\n",
		     3, "'unknown' is reserved");
	expect_error(P1
		     "identities = (\n{ name = \"a\";\n"
		     "prefixes = [\"10.0.0.0/8\",\n\"10.0.0.300/32\"]; }\n);\n",
		     5, "prefix '10.0.0.300/32' is not an IPv4 or IPv6");
	expect_error(P1 "identities = (\n{ name = \"a\";\n"
			"prefixes = [\"10.0.0.0/33\"]; }\n);\n",
		     4, "prefix length between 0 and 32");
	expect_error(P1 "identities = (\n{ name = \"a\";\n"
			"prefixes = [\"2001:db8::/129\"]; }\n);\n",
		     4, "between 0 and 128");
	expect_error(P1 "identities = (\n{ name = \"a\";\n"
			"prefixes = [\"198.18.1.7/24\"]; }\n);\n",
		     4, "has host bits set (did you mean 198.18.1.0/24?)");
	expect_error(P1 "identities = (\n{ name = \"a\";\n"
			"prefixes = [\"2001:db8::1/64\"]; }\n);\n",
		     4, "did you mean 2001:db8::/64?");
	expect_error(P1 "identities = (\n"
			"{ name = \"a\"; prefixes = [\"10.1.0.0/16\"]; },\n"
			"{ name = \"b\"; prefixes = [\"10.2.0.0/16\"]; },\n"
			"{ name = \"c\"; prefixes = [\"10.1.0.0/16\"]; }\n"
			");\n",
		     5, "claimed by two identities: 'a' (line 3) and 'c'");
	expect_error(P1 "identities = (\n{ name = \"a\"; prefixes = [\n"
			"\"10.1.0.0/16\",\n\"10.1.0.0/16\"]; }\n);\n",
		     5, "listed twice in identity 'a'");
	expect_error(P1 "identities = (\n{ name = \"a\";\n"
			"prefixes = []; }\n);\n",
		     4, "'prefixes' of an identity must not be empty");
	expect_error(P1 "identities = (\n{ name = \"a\";\n"
			"prefix = [\"10.0.0.0/8\"]; }\n);\n",
		     4, "unknown key 'prefix' in an identity");
	expect_error(P1 "identities = (\n{ prefixes = [\"10.0.0.0/8\"]; }\n"
			");\n",
		     3, "an identity needs 'name'");
}

static void
test_service_rules(void **state)
{
	const char *one = P1 "services = (\n%s\n);\n";
	const char *two = P1 "services = (\n%s,\n%s\n);\n";

	(void)state;
	expect_error(fmt(one, svc("s", "sctp", "198.19.0.1", "[80]")), 3,
		     "'protocol' has unknown value 'sctp'");
	expect_error(P1
		     "services = (\n"
		     "{ name = \"s\"; protocol = \"tcp\"; ports = [80];\n"
		     "versions = ( { name = \"v\"; backends = [\"1.2.3.4\"]; }"
		     " ); }\n);\n",
		     3, "a service needs 'addresses'");
	expect_error(fmt(one, svc("s", "tcp", "198.19.0.1", "[]")), 3,
		     "'ports' of a service must not be empty");
	expect_error(
		P1
		"services = (\n{ name = \"s\"; protocol = \"tcp\";\n"
		"addresses = [\"198.19.0.1\",\n\"198.19.0.x\"]; ports = [80];\n"
		"versions = ( { name = \"v\"; backends = [\"1.2.3.4\"]; }"
		" ); }\n);\n",
		5, "address '198.19.0.x' is not an IPv4 or IPv6");
	expect_error(
		fmt(one, svc("s", "tcp", "198.19.0.1", "(80,\n\"9000-8000\")")),
		4, "'9000-8000' has its low end above its high end");
	expect_error(fmt(one, svc("s", "tcp", "198.19.0.1", "(80,\n70000)")), 4,
		     "port 70000 is outside 1..65535");
	expect_error(fmt(one, svc("s", "tcp", "198.19.0.1", "(\n\"0-10\")")), 4,
		     "outside 1..65535");
	expect_error(fmt(one, svc("s", "tcp", "198.19.0.1", "(\n\"80-\")")), 4,
		     "'80-' is not a port or a range");
	expect_error(
		fmt(one, svc("s", "tcp", "198.19.0.1", "(80,\n\"1-100\")")), 4,
		"ports 1-100 overlap 80-80 of the same service");
	/* the same address, protocol and an overlapping range */
	expect_error(fmt(two,
			 svc("a", "tcp", "198.19.0.1", "(80, \"8000-8099\")"),
			 svc("b", "tcp", "198.19.0.1", "(\"8050-8200\")")),
		     4,
		     "services 'a' (line 3) and 'b' both claim 198.19.0.1 "
		     "tcp port 8050");
	expect_error(fmt(two, svc("a", "udp", "198.19.0.1", "[53]"),
			 svc("a", "tcp", "198.19.0.2", "[53]")),
		     4, "service name 'a' is used twice (first at line 3)");
	expect_error(P1 "services = (\n{ name = \"s\"; protocol = \"tcp\";\n"
			"addresses = [\"198.19.0.1\"]; ports = [80];\n"
			"versions = (); }\n);\n",
		     5, "'versions' of a service must not be empty");
}

/* Sharing an address is fine with another protocol or disjoint ports. */
static void
test_service_sharing(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = load_text(fmt(P1 "services = (\n%s,\n%s,\n%s,\n%s\n);\n",
			  svc("a", "tcp", "198.19.0.1", "[53]"),
			  svc("b", "udp", "198.19.0.1", "[53]"),
			  svc("c", "tcp", "198.19.0.1", "(\"54-60\")"),
			  svc("d", "tcp", "198.19.0.2", "[53]")));
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	assert_int_equal(c->n_services, 4);
	assert_int_equal(c->services[2].ports[0].lo, 54);
	assert_int_equal(c->services[2].ports[0].hi, 60);
	mg_conf_free(c);
}

#define SVC_HEAD                                                               \
	"services = (\n{ name = \"s\"; protocol = \"tcp\"; "                   \
	"addresses = [\"198.19.0.1\"]; ports = [80];\nversions = (\n"

static void
test_version_rules(void **state)
{
	(void)state;
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; weight = 1000001;\n"
				 "backends = [\"1.2.3.4\"]; }\n); }\n);\n",
		     5, "between 0 and 1000000");
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; weight = 600000; backends = "
				 "[\"1.2.3.4\"]; },\n"
				 "{ name = \"v2\"; weight = 500000; backends = "
				 "[\"1.2.3.5\"]; }\n"
				 "); }\n);\n",
		     4,
		     "weights of service 's' add up to 1100000; at most "
		     "1000000");
	expect_error(
		P1 SVC_HEAD
		"{ name = \"v1\"; weight = 0; backends = [\"1.2.3.4\"]; },\n"
		"{ name = \"v2\"; weight = 0; backends = [\"1.2.3.5\"]; }\n"
		"); }\n);\n",
		4, "all versions of service 's' have weight 0");
	expect_error(
		P1 SVC_HEAD
		"{ name = \"v1\"; weight = 1; backends = [\"1.2.3.4\"]; },\n"
		"{ name = \"v2\"; backends = [\"1.2.3.5\"]; }\n"
		"); }\n);\n",
		6, "version 'v2' of service 's' needs 'weight'");
	expect_error(
		P1 SVC_HEAD
		"{ name = \"v1\"; weight = 1; backends = [\"1.2.3.4\"]; },\n"
		"{ name = \"v1\"; weight = 1; backends = [\"1.2.3.5\"]; }\n"
		"); }\n);\n",
		6, "version name 'v1' is used twice in service 's'");
	expect_error(P1 SVC_HEAD
		     "{ name = \"v1\";\nbackends = []; }\n); }\n);\n",
		     6, "'backends' of a version must not be empty");
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; backends = [\n\"1.2.3.4\",\n"
				 "\"1.2.3.4:0\"]; }\n); }\n);\n",
		     7, "backend '1.2.3.4:0' has a port outside 1..65535");
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; backends = [\n"
				 "\"1.2.3.4:http\"]; }\n); }\n);\n",
		     6, "has a port outside");
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; backends = [\n"
				 "\"[1.2.3.4]:80\"]; }\n); }\n);\n",
		     6, "which are for IPv6");
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; backends = [\n"
				 "\"[2001:db8::1:80\"]; }\n); }\n);\n",
		     6, "is not address, address:port or [IPv6]:port");
	expect_error(P1 SVC_HEAD
		     "{ name = \"v1\"; backends = [\n"
		     "\"1.2.3.4:80\",\n\"1.2.3.4:80\"]; }\n); }\n);\n",
		     7, "backend '1.2.3.4:80' is listed twice in version 'v1'");
	/* the rewrite keeps the family: an IPv4-only service, v6 backend */
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; backends = [\n"
				 "\"[2001:db8::1]:80\"]; }\n); }\n);\n",
		     6,
		     "is IPv6 but service 's' has no IPv6 address (NAT64 "
		     "is not supported)");
	/* a dual-stack service: each version needs backends of both */
	expect_error(P1 "services = (\n{ name = \"s\"; protocol = \"tcp\"; "
			"addresses = [\"198.19.0.1\", \"2001:db8::5\"]; "
			"ports = [80];\nversions = (\n"
			"{ name = \"v1\"; backends = [\n"
			"\"1.2.3.4\"]; }\n); }\n);\n",
		     5,
		     "version 'v1' has no IPv6 backend, but service 's' "
		     "has an IPv6 address");
	/* a backend that is a VIP would loop through the gateway */
	expect_error(P1 SVC_HEAD "{ name = \"v1\"; backends = [\n"
				 "\"198.19.0.1:8080\"]; }\n); }\n);\n",
		     6,
		     "backend 198.19.0.1 of service 's' is an address of "
		     "the gateway itself");
}

/* Line 2: identities fe (prod) and ci (dev); line 3: services shop and
 * ledger, no env. */
#define TWO_SERVICES                                                           \
	"identities = ( { name = \"fe\"; env = \"prod\"; "                     \
	"prefixes = [\"10.1.0.0/16\"]; }, { name = \"ci\"; env = \"dev\"; "    \
	"prefixes = [\"10.2.0.0/16\"]; } );\n"                                 \
	"services = ( { name = \"shop\"; protocol = \"tcp\"; "                 \
	"addresses = [\"198.19.0.1\"]; ports = [80]; versions = ( "            \
	"{ name = \"v1\"; backends = [\"198.19.1.1\"]; } ); }, "               \
	"{ name = \"ledger\"; protocol = \"tcp\"; "                            \
	"addresses = [\"198.19.0.2\"]; ports = [80]; versions = ( "            \
	"{ name = \"v1\"; backends = [\"198.19.1.1\"]; } ); } );\n"

static void
test_policy_rules(void **state)
{
	struct mg_conf *c;

	(void)state;
	/* lines 1-3: port, identities, services */
	c = load_text(
		P1 TWO_SERVICES
		"policies = (\n"
		"{ name = \"a\"; action = \"allow\"; from = [\"unknown\", "
		"\"env:dev\", \"fe\"]; to = [\"*\"]; dry_run = true; }\n"
		");\n");
	assert_non_null(c);
	assert_int_equal(c->policies[0].n_from, 3);
	assert_int_equal(c->policies[0].from[0].kind, MG_REF_NAME);
	assert_string_equal(c->policies[0].from[0].name, "unknown");
	assert_int_equal(c->policies[0].to[0].kind, MG_REF_ANY);
	assert_string_equal(c->policies[0].to[0].name, "");
	assert_true(c->policies[0].dry_run);
	assert_int_equal(c->policies[0].line, 5);
	mg_conf_free(c);

	expect_error(P1 TWO_SERVICES "policies = (\n"
				     "{ name = \"a\"; action = \"permit\";\n"
				     "from = [\"*\"]; to = [\"*\"]; }\n);\n",
		     5,
		     "'action' has unknown value 'permit' (expected one "
		     "of: allow, deny)");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"allow\"; dry_run = \"yes\";\n"
		     "from = [\"*\"]; to = [\"*\"]; }\n);\n",
		     5, "'dry_run' must be true or false");
	expect_error(P1 TWO_SERVICES "policies = (\n"
				     "{ name = \"a\"; action = \"allow\";\n"
				     "from = []; to = [\"*\"]; }\n);\n",
		     6, "'from' of a policy must not be empty");
	expect_error(P1 TWO_SERVICES "policies = (\n"
				     "{ name = \"a\"; action = \"allow\";\n"
				     "from = [\"*\"]; }\n);\n",
		     5, "a policy needs 'to'");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"allow\"; from = [\"*\"];\n"
		     "to = [\"shop\",\n\"env:\"]; }\n);\n",
		     7, "'to' entry 'env:' is not a name, \"env:label\" or");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"allow\"; to = [\"*\"];\n"
		     "from = [\"fe\",\n\"frontend\"]; }\n);\n",
		     7,
		     "policy 'a': 'from' names 'frontend', which is not an "
		     "identity (nor \"unknown\")");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"allow\"; from = [\"*\"];\n"
		     "to = [\"fe\"]; }\n);\n",
		     6, "'to' names 'fe', which is not a service");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"deny\"; to = [\"*\"];\n"
		     "from = [\"env:prd\"]; }\n);\n",
		     6, "policy 'a': no identity has env 'prd' (in 'from')");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"deny\"; from = [\"*\"];\n"
		     "to = [\"env:ci\"]; }\n);\n",
		     6, "no service has env 'ci' (in 'to')");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"deny\"; from = [\"*\"]; "
		     "to = [\"*\"]; },\n"
		     "{ name = \"a\"; action = \"allow\"; from = [\"*\"]; "
		     "to = [\"*\"]; }\n);\n",
		     6, "policy name 'a' is used twice (first at line 5)");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"deny\"; from = [\"*\"];\n"
		     "to = [\"*\"]; priority = 1; }\n);\n",
		     6, "unknown key 'priority' in a policy");
}

/* deny_action: global default "reset", overridden per L4 deny rule. */
static void
test_deny_action(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = load_text(P1 TWO_SERVICES
		      "policies = (\n"
		      "{ name = \"a\"; action = \"deny\"; from = [\"*\"]; "
		      "to = [\"*\"]; },\n"
		      "{ name = \"b\"; action = \"deny\"; from = [\"*\"]; "
		      "to = [\"*\"]; deny_action = \"drop\"; }\n);\n");
	assert_non_null(c);
	assert_int_equal(c->deny_action, MG_DENY_RESET);
	assert_int_equal(c->policies[0].deny_action, MG_DENY_RESET);
	assert_int_equal(c->policies[1].deny_action, MG_DENY_DROP);
	mg_conf_free(c);

	c = load_text(P1 TWO_SERVICES
		      "deny_action = \"drop\";\n"
		      "policies = (\n"
		      "{ name = \"a\"; action = \"deny\"; from = [\"*\"]; "
		      "to = [\"*\"]; },\n"
		      "{ name = \"b\"; action = \"deny\"; from = [\"*\"]; "
		      "to = [\"*\"]; deny_action = \"reset\"; }\n);\n");
	assert_non_null(c);
	assert_int_equal(c->deny_action, MG_DENY_DROP);
	assert_int_equal(c->policies[0].deny_action, MG_DENY_DROP);
	assert_int_equal(c->policies[1].deny_action, MG_DENY_RESET);
	mg_conf_free(c);

	expect_error(P1 TWO_SERVICES "deny_action = \"reject\";\n", 4,
		     "'deny_action' has unknown value 'reject' (expected one "
		     "of: reset, drop)");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"deny\"; from = [\"*\"];\n"
		     "to = [\"*\"]; deny_action = 1; }\n);\n",
		     6, "'deny_action' must be a string");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"allow\"; from = [\"*\"];\n"
		     "to = [\"*\"]; deny_action = \"drop\"; }\n);\n",
		     6,
		     "policy 'a': deny_action is for deny rules without "
		     "'http' or 'tls' matchers");
	expect_error(P1 TWO_SERVICES
		     "policies = (\n"
		     "{ name = \"a\"; action = \"deny\"; from = [\"*\"];\n"
		     "to = [\"shop\"]; deny_action = \"drop\";\n"
		     "http = { path = [\"^/admin\"]; }; }\n);\n",
		     6,
		     "policy 'a': deny_action is for deny rules without "
		     "'http' or 'tls' matchers");
}

static void
test_neighbour_rules(void **state)
{
	(void)state;
	expect_error(
		P1 "neighbours = (\n"
		   "{ address = \"198.19.1.1\";\nmac = \"02:00:00:00:01\"; }\n"
		   ");\n",
		4, "mac '02:00:00:00:01' is not of the form");
	expect_error(
		P1
		"neighbours = (\n"
		"{ address = \"198.19.1.1\";\nmac = \"01:00:5e:00:00:01\"; }\n"
		");\n",
		4, "is not a unicast address");
	expect_error(
		P1
		"neighbours = (\n"
		"{ address = \"198.19.1.1\";\nmac = \"00:00:00:00:00:00\"; }\n"
		");\n",
		4, "is not a unicast address");
	expect_error(
		P1 "neighbours = (\n"
		   "{ address = \"198.19.1\"; mac = \"02:00:00:00:00:01\"; }\n"
		   ");\n",
		3, "neighbour address '198.19.1' is not an IPv4 or IPv6");
	expect_error(
		P1
		"neighbours = (\n"
		"{ address = \"2001:db8::1\"; mac = \"02:00:00:00:00:01\"; },\n"
		"{ address = \"2001:db8::1\"; mac = \"02:00:00:00:00:02\"; }\n"
		");\n",
		4, "neighbour 2001:db8::1 is listed twice (first at line 3)");
	expect_error(P1
		     "neighbours = (\n{ mac = \"02:00:00:00:00:01\"; }\n);\n",
		     3, "a neighbour needs 'address'");
}

#define PORT_HEAD                                                              \
	"ports = (\n{ name = \"edge\"; device = \"net_pcap0\"; "               \
	"profile = \"pcap\";\n"

static void
test_port_addr_rules(void **state)
{
	(void)state;
	expect_error(PORT_HEAD "addresses = [\"198.18.0.1/24\",\n"
			       "\"198.18.9.1\"]; }\n);\n",
		     4, "address '198.18.9.1' needs a prefix length");
	expect_error(PORT_HEAD "addresses = [\n\"198.18.0.1/40\"]; }\n);\n", 4,
		     "between 0 and 32");
	expect_error(PORT_HEAD "addresses = [\n\"198.18.0.0/24\"]; }\n);\n", 4,
		     "is the network address of its prefix");
	expect_error(PORT_HEAD "addresses = [\"198.18.0.1/24\"];\n"
			       "gateway4 = \"2001:db8::1\"; }\n);\n",
		     4,
		     "'gateway4' value '2001:db8::1' is not an IPv4 address");
	expect_error(PORT_HEAD "addresses = [\"2001:db8::1/64\"];\n"
			       "gateway6 = \"198.18.0.254\"; }\n);\n",
		     4, "is not an IPv6 address");
	expect_error(PORT_HEAD "addresses = [\"198.18.0.1/24\"];\n"
			       "gateway4 = \"198.18.1.254\"; }\n);\n",
		     4,
		     "'gateway4' 198.18.1.254 is not inside any address "
		     "prefix of the port (a gateway must be on-link)");
	expect_error(PORT_HEAD "addresses = [\"198.18.0.1/24\"];\n"
			       "gateway6 = \"fe80::1\"; }\n);\n",
		     4, "needs an IPv6 address in the port's 'addresses'");
	expect_error("mode = \"two-arm\";\nports = (\n"
		     "{ name = \"e\"; device = \"d0\"; profile = \"pcap\"; "
		     "role = \"edge\"; addresses = [\"198.18.0.1/24\"]; },\n"
		     "{ name = \"m\"; device = \"d1\"; profile = \"pcap\"; "
		     "role = \"mesh\"; addresses = [\n\"198.18.0.1/16\"]; }\n"
		     ");\n",
		     5,
		     "address 198.18.0.1 is given to the gateway twice "
		     "(port 'e' and port 'm')");
	expect_error(PORT_HEAD "addresses = [\"1.0.0.1/8\", \"2.0.0.1/8\", "
			       "\"3.0.0.1/8\", \"4.0.0.1/8\",\n"
			       "\"5.0.0.1/8\"]; }\n);\n",
		     3, "'addresses' lists 5 entries; at most 4");
}

/* Link-local IPv6 gateways are on-link by definition. */
static void
test_port_addr_valid(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = load_text(PORT_HEAD "addresses = [\"198.18.0.1/24\", "
				"\"2001:db8::1/64\"];\n"
				"gateway4 = \"198.18.0.254\"; "
				"gateway6 = \"fe80::1\"; }\n);\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	assert_int_equal(c->ports[0].gateway6.family, 6);
	assert_int_equal(c->ports[0].gateway6.bytes[0], 0xfe);
	mg_conf_free(c);
}

/* Line 2: identities qa (dev), fe (prod); line 3 opens the services. */
#define CANARY_HEAD                                                            \
	P1 "identities = ( { name = \"qa\"; env = \"dev\"; "                   \
	   "prefixes = [\"10.1.0.0/16\"]; }, "                                 \
	   "{ name = \"fe\"; env = \"prod\"; "                                 \
	   "prefixes = [\"10.2.0.0/16\"]; } );\n"                              \
	   "services = ( { name = \"shop\"; protocol = \"tcp\"; "              \
	   "addresses = [\"198.19.0.1\"]; ports = [80];\n"

/* Lines 4-5: two versions, v2 a canary at weight 0. */
#define CANARY_VERSIONS                                                        \
	"versions = ( { name = \"v1\"; weight = 1; "                           \
	"backends = [\"198.19.1.1\"]; },\n"                                    \
	"{ name = \"v2\"; weight = 0; canary = true; "                         \
	"backends = [\"198.19.1.2\"]; } );\n"

static void
test_canary_valid(void **state)
{
	const struct mg_service_conf *s;
	struct mg_conf *c;

	(void)state;
	/* no health anywhere: the defaults, in every service */
	c = load_text(CANARY_HEAD CANARY_VERSIONS "} );\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	s = &c->services[0];
	assert_false(s->versions[0].canary);
	assert_true(s->versions[1].canary);
	assert_int_equal(s->n_routes, 0);
	assert_true(c->health.enabled);
	assert_int_equal(c->health.connect_timeout_ms, 1000);
	assert_int_equal(c->health.eject_after, 1);
	assert_int_equal(c->health.base_ejection_ms, 5000);
	assert_int_equal(c->health.max_ejection_ms, 60000);
	assert_memory_equal(&s->health, &c->health, sizeof(c->health));
	mg_conf_free(c);

	c = load_text("health = { connect_timeout_ms = 200; eject_after = 5; "
		      "base_ejection_ms = 1000; max_ejection_ms = 8000; "
		      "};\n" CANARY_HEAD CANARY_VERSIONS
		      "routes = ( { from = [\"qa\", \"env:dev\"]; "
		      "version = \"v2\"; },\n"
		      "{ from = [\"*\"]; version = \"v1\"; } );\n"
		      "health = { max_ejection_ms = 2000; enabled = false; };\n"
		      "} );\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	s = &c->services[0];
	assert_int_equal(c->health.connect_timeout_ms, 200);
	assert_int_equal(c->health.eject_after, 5);
	assert_int_equal(c->health.base_ejection_ms, 1000);
	assert_int_equal(c->health.max_ejection_ms, 8000);
	assert_true(c->health.enabled);
	/* overridden key by key */
	assert_false(s->health.enabled);
	assert_int_equal(s->health.connect_timeout_ms, 200);
	assert_int_equal(s->health.eject_after, 5);
	assert_int_equal(s->health.base_ejection_ms, 1000);
	assert_int_equal(s->health.max_ejection_ms, 2000);
	assert_int_equal(s->n_routes, 2);
	assert_int_equal(s->routes[0].n_from, 2);
	assert_int_equal(s->routes[0].from[0].kind, MG_REF_NAME);
	assert_string_equal(s->routes[0].from[0].name, "qa");
	assert_int_equal(s->routes[0].from[1].kind, MG_REF_ENV);
	assert_string_equal(s->routes[0].from[1].name, "dev");
	assert_int_equal(s->routes[0].version, 1);
	assert_int_equal(s->routes[0].line, 7);
	assert_int_equal(s->routes[1].from[0].kind, MG_REF_ANY);
	assert_int_equal(s->routes[1].version, 0);
	mg_conf_free(c);
}

static void
test_canary_rules(void **state)
{
	struct mg_conf *c;

	(void)state;
	expect_error(CANARY_HEAD
		     "versions = ( { name = \"v1\"; weight = 1; canary = true; "
		     "backends = [\"198.19.1.1\"]; },\n"
		     "{ name = \"v2\"; weight = 1; canary = true; "
		     "backends = [\"198.19.1.2\"]; } ); } );\n",
		     5,
		     "service 'shop' has two canary versions: 'v1' (line 4) "
		     "and 'v2'");
	expect_error(CANARY_HEAD
		     "versions = ( { name = \"v1\"; canary = \"yes\"; "
		     "backends = [\"198.19.1.1\"]; } ); } );\n",
		     4, "'canary' must be true or false, not a string");
	expect_error(
		CANARY_HEAD CANARY_VERSIONS
		"routes = ( { from = [\"qa\"];\nversion = \"v3\"; } ); } );\n",
		7,
		"route of service 'shop': version 'v3' is not a version "
		"of the service");
	expect_error(
		CANARY_HEAD CANARY_VERSIONS
		"routes = ( { from = [\"qa\",\n\"ops\"]; version = \"v2\"; "
		"} ); } );\n",
		7,
		"route of service 'shop': 'from' names 'ops', which is not "
		"an identity");
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "routes = ( { from = [\"env:stage\"]; version = \"v2\"; "
		     "} ); } );\n",
		     6, "no identity has env 'stage'");
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "routes = ( { from = [\"qa:x\"]; version = \"v2\"; "
		     "} ); } );\n",
		     6, "'from' entry 'qa:x' is not a name");
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "routes = ( { from = [\"qa\"]; } ); } );\n",
		     6, "a route needs 'version'");
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "routes = ( { version = \"v1\"; } ); } );\n",
		     6, "a route needs 'from'");
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "routes = ( { from = [\"qa\"]; version = \"v1\"; "
		     "weight = 1; } ); } );\n",
		     6, "unknown key 'weight' in a route");
	expect_error(CANARY_HEAD CANARY_VERSIONS "routes = ( \"qa\" ); } );\n",
		     6, "each route must be a group");
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "routes = ( {from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";}, "
		     "{from=[\"*\"];version=\"v1\";} ); } );\n",
		     6, "'routes' lists 9 entries; at most 8");
	/* a canary or routed version takes connections at weight 0: it
	 * needs every family the service answers on */
	expect_error(P1 "services = ( { name = \"s\"; protocol = \"tcp\"; "
			"addresses = [\"198.19.0.1\", \"2001:db8::5\"]; "
			"ports = [80];\n"
			"versions = ( { name = \"v1\"; weight = 1; backends = "
			"[\"198.19.1.1\", \"2001:db8:1::1\"]; },\n"
			"{ name = \"v2\"; weight = 0; canary = true;\n"
			"backends = [\"198.19.1.2\"]; } ); } );\n",
		     5,
		     "version 'v2' has no IPv6 backend, but service 's' has an "
		     "IPv6 address (a canary or routed version");
	expect_error(P1 "identities = ( { name = \"qa\"; "
			"prefixes = [\"10.1.0.0/16\"]; } );\n"
			"services = ( { name = \"s\"; protocol = \"tcp\"; "
			"addresses = [\"198.19.0.1\", \"2001:db8::5\"]; "
			"ports = [80];\n"
			"versions = ( { name = \"v1\"; weight = 1; backends = "
			"[\"198.19.1.1\", \"2001:db8:1::1\"]; },\n"
			"{ name = \"v2\"; weight = 0;\n"
			"backends = [\"198.19.1.2\"]; } );\n"
			"routes = ( { from = [\"qa\"]; version = \"v2\"; } ); "
			"} );\n",
		     6, "version 'v2' has no IPv6 backend");
	/* unrouted, not a canary, weight 0: may lack a family */
	c = load_text(P1 "services = ( { name = \"s\"; protocol = \"tcp\"; "
			 "addresses = [\"198.19.0.1\", \"2001:db8::5\"]; "
			 "ports = [80];\n"
			 "versions = ( { name = \"v1\"; weight = 1; backends = "
			 "[\"198.19.1.1\", \"2001:db8:1::1\"]; },\n"
			 "{ name = \"v2\"; weight = 0;\n"
			 "backends = [\"198.19.1.2\"]; } ); } );\n");
	assert_non_null(c);
	mg_conf_free(c);
}

static void
test_health_rules(void **state)
{
	struct mg_conf *c;

	(void)state;
	expect_error(P1 "health = {\nconnect_timeout_ms = 5; };\n", 3,
		     "'connect_timeout_ms' is 5; it must be between 10 and "
		     "60000");
	expect_error(P1 "health = {\neject_after = 0; };\n", 3,
		     "'eject_after' is 0; it must be between 1 and 1000");
	expect_error(P1 "health = {\nbase_ejection_ms = 99; };\n", 3,
		     "between 100 and 3600000");
	expect_error(P1 "health = {\nmax_ejection_ms = 86400001; };\n", 3,
		     "between 100 and 86400000");
	expect_error(P1 "health = {\nenabled = 1; };\n", 3,
		     "'enabled' must be true or false");
	expect_error(P1 "health = {\ntimeout_ms = 5; };\n", 3,
		     "unknown key 'timeout_ms' in 'health'");
	expect_error(P1 "health = 5;\n", 2, "'health' must be a group");
	expect_error(P1 "health = { base_ejection_ms = 10000;\n"
			"max_ejection_ms = 5000; };\n",
		     3,
		     "'max_ejection_ms' (5000) is below 'base_ejection_ms' "
		     "(10000)");
	/* a service's own group, merged with the defaults */
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "health = { base_ejection_ms = 90000;\n"
		     "connect_timeout_ms = 50; }; } );\n",
		     6,
		     "'max_ejection_ms' (60000) is below 'base_ejection_ms' "
		     "(90000)");
	expect_error(CANARY_HEAD CANARY_VERSIONS
		     "health = { enable = false; }; } );\n",
		     6, "unknown key 'enable' in a service's 'health'");
	/* an inherited mistake is reported where it was made, once */
	assert_null(
		load_text("health = { max_ejection_ms = 1000; };\n" CANARY_HEAD
				  CANARY_VERSIONS
			  "health = { eject_after = 2; }; } );\n"));
	assert_int_equal(errs.n, 1);
	/* the extremes are accepted */
	c = load_text(P1 "health = { connect_timeout_ms = 60000; "
			 "eject_after = 1000; base_ejection_ms = 3600000; "
			 "max_ejection_ms = 86400000; max_ejected_percent = "
			 "100; };\n");
	assert_non_null(c);
	assert_int_equal(c->health.eject_after, 1000);
	assert_int_equal(c->health.max_ejected_percent, 100);
	mg_conf_free(c);

	/* max_ejected_percent: 0..100, 50 by default, per service too */
	expect_error(P1 "health = {\nmax_ejected_percent = 101; };\n", 3,
		     "'max_ejected_percent' is 101; it must be between 0 and "
		     "100");
	expect_error(P1 "health = {\nmax_ejected_percent = -1; };\n", 3,
		     "max_ejected_percent");
	c = load_text("health = { max_ejected_percent = 0; };\n" CANARY_HEAD
			      CANARY_VERSIONS
		      "health = { max_ejected_percent = 30; }; } );\n");
	assert_non_null(c);
	assert_int_equal(c->health.max_ejected_percent, 0);
	assert_int_equal(c->services[0].health.max_ejected_percent, 30);
	mg_conf_free(c);
	c = load_text(CANARY_HEAD CANARY_VERSIONS "} );\n");
	assert_non_null(c);
	assert_int_equal(c->health.max_ejected_percent, 50);
	assert_int_equal(c->services[0].health.max_ejected_percent, 50);
	mg_conf_free(c);
}

/* The warning of @p c that names @p file at @p line, or fails. */
static const char *
warning_at(const struct mg_conf *c, const char *file, int line)
{
	char prefix[PATH_MAX + 32];
	unsigned int i;

	snprintf(prefix, sizeof(prefix), "%s:%d: warning: ", file, line);
	for (i = 0; i < c->warnings.n && i < MG_CONF_MAX_ERRORS; i++)
		if (strncmp(c->warnings.msg[i], prefix, strlen(prefix)) == 0)
			return c->warnings.msg[i];
	for (i = 0; i < c->warnings.n && i < MG_CONF_MAX_ERRORS; i++)
		print_error("warning: %s\n", c->warnings.msg[i]);
	fail_msg("no warning at %s:%d", file, line);
	return NULL;
}

/*
 * A backend that no port's prefix holds and no port's gateway of its
 * family reaches is valid, but its connections would be dropped as
 * no_route: the load says so, naming the backend, its service and
 * version, at its FILE:LINE.
 */
static void
test_backend_routes(void **state)
{
	char file[PATH_MAX + 8];
	const char *w;
	struct mg_conf *c;

	(void)state;
	snprintf(file, sizeof(file), "%s/t.conf", mg_test_tmpdir);
	c = load_text("ports = ( { name = \"edge\"; device = \"net_pcap0\"; "
		      "profile = \"pcap\"; addresses = [\"198.18.2.1/24\", "
		      "\"2001:db8:2::1/64\"]; } );\n"
		      "services = ( { name = \"web\"; protocol = \"tcp\"; "
		      "addresses = [\"198.19.0.1\", \"2001:db8:100::1\"]; "
		      "ports = [80];\n"
		      "versions = ( { name = \"v1\"; weight = 1; backends = [\n"
		      "\"198.18.2.21\",\n"
		      "\"198.18.30.5:8080\",\n"
		      "\"[2001:db8:2::21]:80\",\n"
		      "\"2001:db8:30::5\" ]; } ); } );\n");
	assert_non_null(c);
	assert_int_equal(c->warnings.n, 2);
	w = warning_at(c, file, 5);
	assert_non_null(strstr(w, "backend 198.18.30.5 of service 'web' "
				  "(version 'v1') is in no port's prefix and "
				  "no port has a gateway4"));
	assert_non_null(strstr(w, "no_route"));
	w = warning_at(c, file, 7);
	assert_non_null(strstr(w, "backend 2001:db8:30::5 of service 'web'"));
	assert_non_null(strstr(w, "gateway6"));
	mg_conf_free(c);

	/* a gateway of the family reaches everything off-link */
	c = load_text("ports = ( { name = \"edge\"; device = \"net_pcap0\"; "
		      "profile = \"pcap\"; addresses = [\"198.18.2.1/24\"]; "
		      "gateway4 = \"198.18.2.254\"; } );\n"
		      "services = ( { name = \"web\"; protocol = \"tcp\"; "
		      "addresses = [\"198.19.0.1\"]; ports = [80]; versions "
		      "= ( { name = \"v1\"; backends = [\"198.18.30.5\"]; } "
		      "); } );\n");
	assert_non_null(c);
	assert_int_equal(c->warnings.n, 0);
	mg_conf_free(c);

	/* the bundled config's service faraway is that case, on purpose */
	c = mg_conf_load("../app/meshgate/meshgate.conf", MG_DRIVERS_CONF_DIR,
			 &errs);
	assert_non_null(c);
	assert_int_equal(c->warnings.n, 1);
	assert_non_null(strstr(c->warnings.msg[0],
			       "backend 198.18.30.5 of service 'faraway'"));
	mg_conf_free(c);
}

/* Every MG_CONF_MAX_* bound on the length of a list is refused with the
 * number and the limit. The others are checked where their key is:
 * MAX_BURST (test at "between 1 and 256"), MAX_ADDRS and MAX_ROUTES
 * (their "lists ... at most" errors), MAX_WEIGHT_TOTAL, MAX_MATCHERS
 * and MAX_PATTERNS; MAX_ERRORS is the size of the error list. */
static void
test_bounds(void **state)
{
	size_t cap = 256 * 1024, off;
	char *text = malloc(cap);
	int i;

	(void)state;
	assert_non_null(text);
	off = (size_t)snprintf(text, cap, P1 "identities = (\n");
	for (i = 0; i <= MG_CONF_MAX_IDENTITIES; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s{ name = \"i%d\"; prefixes = "
					"[\"10.%d.%d.0/24\"]; }",
					i > 0 ? ", " : "", i, i / 256, i % 256);
	snprintf(text + off, cap - off, "\n);\n");
	expect_error(text, 2, "'identities' lists 257 entries; at most 256");

	off = (size_t)snprintf(text, cap,
			       P1 "identities = ( { name = \"a\";\n"
				  "prefixes = [");
	for (i = 0; i <= MG_CONF_MAX_PREFIXES; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s\"10.%d.0.0/16\"", i > 0 ? ", " : "",
					i);
	snprintf(text + off, cap - off, "]; } );\n");
	expect_error(text, 3, "'prefixes' lists 33 entries; at most 32");

	off = (size_t)snprintf(text, cap, P1 "services = (\n");
	for (i = 0; i <= MG_CONF_MAX_SERVICES; i++)
		off += (size_t)snprintf(
			text + off, cap - off,
			"%s{ name = \"s%d\"; protocol = \"tcp\"; "
			"addresses = [\"198.19.0.1\"]; ports = [%d]; "
			"versions = ( { name = \"v\"; "
			"backends = [\"198.19.1.1\"]; } ); }",
			i > 0 ? ", " : "", i, i + 1);
	snprintf(text + off, cap - off, "\n);\n");
	expect_error(text, 2, "'services' lists 129 entries; at most 128");

	off = (size_t)snprintf(text, cap,
			       P1 "services = ( { name = \"s\"; "
				  "protocol = \"tcp\"; ports = [80]; "
				  "versions = ( { name = \"v\"; "
				  "backends = [\"198.19.1.1\"]; } );\n"
				  "addresses = [");
	for (i = 0; i <= MG_CONF_MAX_VIPS; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s\"198.19.0.%d\"", i > 0 ? ", " : "",
					i + 1);
	snprintf(text + off, cap - off, "]; } );\n");
	expect_error(text, 3, "'addresses' lists 9 entries; at most 8");

	off = (size_t)snprintf(text, cap,
			       P1 "services = ( { name = \"s\"; "
				  "protocol = \"tcp\"; ports = [80]; "
				  "addresses = [\"198.19.0.1\"];\n"
				  "versions = ( { name = \"v\"; "
				  "backends = [");
	for (i = 0; i <= MG_CONF_MAX_BACKENDS; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s\"198.19.1.%d\"", i > 0 ? ", " : "",
					i + 1);
	snprintf(text + off, cap - off, "]; } ); } );\n");
	expect_error(text, 3, "'backends' lists 33 entries; at most 32");

	off = (size_t)snprintf(text, cap,
			       P1 "policies = ( { name = \"p\"; "
				  "action = \"deny\"; to = [\"*\"];\n"
				  "from = [");
	for (i = 0; i <= MG_CONF_MAX_REFS; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s\"*\"",
					i > 0 ? ", " : "");
	snprintf(text + off, cap - off, "]; } );\n");
	expect_error(text, 3, "'from' lists 17 entries; at most 16");

	off = (size_t)snprintf(text, cap,
			       P1 "services = ( { name = \"s\"; "
				  "protocol = \"tcp\"; "
				  "addresses = [\"198.19.0.1\"];\nports = [");
	for (i = 0; i <= MG_CONF_MAX_PORT_RANGES; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s%d",
					i > 0 ? ", " : "", i + 1);
	snprintf(text + off, cap - off,
		 "]; versions = ( { name = \"v\"; "
		 "backends = [\"198.19.1.1\"]; } ); } );\n");
	expect_error(text, 3, "'ports' lists 9 entries; at most 8");

	off = (size_t)snprintf(text, cap,
			       P1
			       "services = ( { name = \"s\"; "
			       "protocol = \"tcp\"; ports = [80]; "
			       "addresses = [\"198.19.0.1\"];\nversions = (");
	for (i = 0; i <= MG_CONF_MAX_VERSIONS; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s{ name = \"v%d\"; weight = 1; "
					"backends = [\"198.19.1.1\"]; }",
					i > 0 ? ", " : "", i);
	snprintf(text + off, cap - off, "); } );\n");
	expect_error(text, 3, "'versions' lists 9 entries; at most 8");

	off = (size_t)snprintf(text, cap, P1 "policies = (\n");
	for (i = 0; i <= MG_CONF_MAX_POLICIES; i++)
		off += (size_t)snprintf(
			text + off, cap - off,
			"%s{ name = \"p%d\"; action = \"deny\"; "
			"from = [\"*\"]; to = [\"*\"]; }",
			i > 0 ? ", " : "", i);
	snprintf(text + off, cap - off, "\n);\n");
	expect_error(text, 2, "'policies' lists 257 entries; at most 256");

	off = (size_t)snprintf(text, cap, P1 "neighbours = (\n");
	for (i = 0; i <= MG_CONF_MAX_NEIGHBOURS; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s{ address = \"10.0.%d.%d\"; "
					"mac = \"02:00:00:00:00:01\"; }",
					i > 0 ? ", " : "", i / 256, i % 256);
	snprintf(text + off, cap - off, "\n);\n");
	expect_error(text, 2, "'neighbours' lists 257 entries; at most 256");

	off = (size_t)snprintf(text, cap, "ports = (\n");
	for (i = 0; i <= MG_CONF_MAX_PORTS; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s{ name = \"p%d\"; device = "
					"\"net_pcap%d\"; profile = \"pcap\"; }",
					i > 0 ? ", " : "", i, i);
	snprintf(text + off, cap - off, "\n);\n");
	expect_error(text, 1,
		     "'ports' lists 5 ports; between 1 and 4 are supported");

	off = (size_t)snprintf(text, cap, P1 "lcores = (\n");
	for (i = 0; i <= MG_CONF_MAX_LCORES; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"%s{ lcore = %d; queue = %d; }",
					i > 0 ? ", " : "", i, i);
	snprintf(text + off, cap - off, "\n);\n");
	expect_error(text, 2, "'lcores' lists 129 entries; at most 128");
	free(text);
}

/* ---- layer-7 rules ---- */

/* Lines 2-3 of the layer-7 cases: two identities; TCP services shop
 * (env prod) and secure, UDP service dns. Policies start on line 4. */
#define L7_BASE                                                                \
	"identities = ( { name = \"fe\"; env = \"prod\"; "                     \
	"prefixes = [\"10.1.0.0/16\"]; }, { name = \"ci\"; env = \"dev\"; "    \
	"prefixes = [\"10.2.0.0/16\"]; } );\n"                                 \
	"services = ( { name = \"shop\"; env = \"prod\"; protocol = \"tcp\"; " \
	"addresses = [\"198.19.0.1\"]; ports = [80]; versions = ( "            \
	"{ name = \"v1\"; backends = [\"198.19.1.1\"]; } ); }, "               \
	"{ name = \"secure\"; protocol = \"tcp\"; "                            \
	"addresses = [\"198.19.0.2\"]; ports = [443]; versions = ( "           \
	"{ name = \"v1\"; backends = [\"198.19.1.2\"]; } ); }, "               \
	"{ name = \"dns\"; protocol = \"udp\"; "                               \
	"addresses = [\"198.19.0.3\"]; ports = [53]; versions = ( "            \
	"{ name = \"v1\"; backends = [\"198.19.1.3\"]; } ); } );\n"

/* A policy (line 5) of "a" to "shop" holding @p rest, which starts on
 * line 6; a trailing "\n});\n" is added. */
static const char *
l7_policy(const char *rest)
{
	return fmt(P1 L7_BASE "policies = (\n"
			      "{ name = \"a\"; action = \"allow\"; "
			      "from = [\"*\"]; to = [\"shop\"];\n"
			      "%s\n});\n",
		   rest);
}

static void
check_matcher(const struct mg_conf *c, const struct mg_matcher_conf *m,
	      enum mg_l7_field field, int line, uint32_t first, uint32_t n)
{
	assert_int_equal(m->field, field);
	assert_int_equal(m->line, line);
	assert_int_equal(m->first, first);
	assert_int_equal(m->n, n);
	assert_true(m->first + m->n <= c->n_patterns);
}

static void
test_l7_valid(void **state)
{
	const struct mg_policy_conf *p;
	const struct mg_l7_pattern *pat;
	struct mg_conf *c;

	(void)state;
	c = load_text(
		P1 L7_BASE
		"policies = (\n"
		"{ name = \"shop-api\"; action = \"allow\"; from = [\"fe\"]; "
		"to = [\"shop\"];\n"
		"  http = {\n"
		"    method = [\"^GET$\",\n"
		"              \"^HEAD$\"];\n"
		"    path = \"^/api/\";\n"
		"    host = \"^shop\\\\.example$\";\n"
		"    headers = ( { name = \"X-Env\"; value = \"^prod$\"; },\n"
		"                { name = \"accept\";\n"
		"                  value = [\"json\", \"xml\"]; } );\n"
		"  }; },\n"
		"{ name = \"no-admin\"; action = \"deny\"; from = [\"*\"]; "
		"to = [\"env:prod\"];\n"
		"  http = { path = \"^/admin\"; }; },\n"
		"{ name = \"api-sni\"; action = \"allow\"; from = [\"*\"]; "
		"to = [\"secure\"];\n"
		"  tls = { sni = [\"^api\\\\.example$\"]; }; },\n"
		"{ name = \"l4\"; action = \"allow\"; from = [\"*\"]; "
		"to = [\"*\"]; }\n"
		");\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	assert_int_equal(c->n_policies, 4);
	assert_int_equal(c->n_patterns, 9);

	p = &c->policies[0];
	assert_int_equal(p->l7, MG_L7_HTTP);
	assert_int_equal(p->n_matchers, 5);
	check_matcher(c, &p->matchers[0], MG_L7_METHOD, 7, 0, 2);
	check_matcher(c, &p->matchers[1], MG_L7_PATH, 9, 2, 1);
	check_matcher(c, &p->matchers[2], MG_L7_HOST, 10, 3, 1);
	check_matcher(c, &p->matchers[3], MG_L7_HEADER, 11, 4, 1);
	check_matcher(c, &p->matchers[4], MG_L7_HEADER, 13, 5, 2);
	assert_string_equal(p->matchers[3].header, "x-env"); /* lowercase */
	assert_string_equal(p->matchers[4].header, "accept");
	assert_string_equal(p->matchers[0].header, "");
	pat = c->patterns;
	assert_string_equal(pat[0].regex, "^GET$");
	assert_int_equal(pat[0].line, 7);
	assert_string_equal(pat[1].regex, "^HEAD$");
	assert_int_equal(pat[1].line, 8); /* each element its own line */
	assert_string_equal(pat[2].regex, "^/api/");
	assert_string_equal(pat[3].regex, "^shop\\.example$");
	assert_string_equal(pat[4].regex, "^prod$");
	assert_string_equal(pat[6].regex, "xml");
	assert_int_equal(pat[6].line, 13);

	p = &c->policies[1];
	assert_int_equal(p->l7, MG_L7_HTTP);
	assert_int_equal(p->action, MG_POLICY_DENY);
	assert_int_equal(p->n_matchers, 1);
	check_matcher(c, &p->matchers[0], MG_L7_PATH, 16, 7, 1);
	assert_string_equal(pat[7].regex, "^/admin");

	p = &c->policies[2];
	assert_int_equal(p->l7, MG_L7_TLS);
	assert_int_equal(p->n_matchers, 1);
	check_matcher(c, &p->matchers[0], MG_L7_SNI, 18, 8, 1);
	assert_string_equal(pat[8].regex, "^api\\.example$");
	assert_int_equal(pat[8].line, 18);

	p = &c->policies[3];
	assert_int_equal(p->l7, MG_L7_NONE); /* an L4 rule, even to dns */
	assert_int_equal(p->n_matchers, 0);
	mg_conf_free(c);
}

static void
test_l7_helpers(void **state)
{
	struct mg_service_conf s = { .name = "shop", .env = "prod" };
	struct mg_service_conf bare = { .name = "x" };
	struct mg_ref r;
	struct mg_conf *c;

	(void)state;
	assert_int_equal(mg_conf_pattern_flags(MG_L7_HOST), HS_FLAG_CASELESS);
	assert_int_equal(mg_conf_pattern_flags(MG_L7_SNI), HS_FLAG_CASELESS);
	assert_int_equal(mg_conf_pattern_flags(MG_L7_METHOD), 0);
	assert_int_equal(mg_conf_pattern_flags(MG_L7_PATH), 0);
	assert_int_equal(mg_conf_pattern_flags(MG_L7_HEADER), 0);
	assert_int_equal(mg_conf_pattern_flags(MG_L7_QUERY), 0);
	assert_int_equal(mg_conf_pattern_flags(MG_L7_UPGRADE),
			 HS_FLAG_CASELESS);
	assert_string_equal(mg_conf_field_name(MG_L7_METHOD), "method");
	assert_string_equal(mg_conf_field_name(MG_L7_PATH), "path");
	assert_string_equal(mg_conf_field_name(MG_L7_HOST), "host");
	assert_string_equal(mg_conf_field_name(MG_L7_HEADER), "header");
	assert_string_equal(mg_conf_field_name(MG_L7_SNI), "sni");
	assert_string_equal(mg_conf_field_name(MG_L7_QUERY), "query");
	assert_string_equal(mg_conf_field_name(MG_L7_UPGRADE), "upgrade");
	assert_string_equal(mg_conf_field_name(MG_L7_FIELD_MAX), "unknown");

	/* identities: 1 = fe (prod), 2 = ci (dev), 0 = unknown */
	c = load_text(P1 L7_BASE);
	assert_non_null(c);
	memset(&r, 0, sizeof(r));
	r.kind = MG_REF_ANY;
	assert_true(mg_conf_ref_covers_identity(c, &r, 0));
	assert_true(mg_conf_ref_covers_identity(c, &r, 2));
	assert_true(mg_conf_ref_covers_service(&r, &bare));
	r.kind = MG_REF_NAME;
	strcpy(r.name, "unknown");
	assert_true(mg_conf_ref_covers_identity(c, &r, 0));
	assert_false(mg_conf_ref_covers_identity(c, &r, 1));
	strcpy(r.name, "fe");
	assert_true(mg_conf_ref_covers_identity(c, &r, 1));
	assert_false(mg_conf_ref_covers_identity(c, &r, 2));
	assert_false(mg_conf_ref_covers_identity(c, &r, 0));
	strcpy(r.name, "shop");
	assert_true(mg_conf_ref_covers_service(&r, &s));
	assert_false(mg_conf_ref_covers_service(&r, &bare));
	r.kind = MG_REF_ENV;
	strcpy(r.name, "prod");
	assert_true(mg_conf_ref_covers_identity(c, &r, 1));
	assert_false(mg_conf_ref_covers_identity(c, &r, 2));
	/* the unknown caller has no env */
	assert_false(mg_conf_ref_covers_identity(c, &r, 0));
	assert_true(mg_conf_ref_covers_service(&r, &s));
	assert_false(mg_conf_ref_covers_service(&r, &bare));
	r.name[0] = '\0'; /* an empty label never covers an unlabelled one */
	assert_false(mg_conf_ref_covers_service(&r, &bare));
	mg_conf_free(c);
}

/* Caller limits: what each key sets, defaults, and every error with its
 * line. */
#define LIM_HEAD                                                               \
	P1 "identities = ( { name = \"partner\"; prefixes = "                  \
	   "[\"198.18.64.0/18\"]; } );\n"                                      \
	   "services = ( { name = \"shop\"; protocol = \"tcp\"; "              \
	   "addresses = [\"198.19.0.1\"]; ports = [80]; versions = ( { "       \
	   "name = \"v1\"; backends = [\"198.19.1.1\"]; } ); } );\n"

static void
test_limits(void **state)
{
	const struct mg_limit_conf *l;
	struct mg_conf *c;

	(void)state;
	c = load_text(P1);
	assert_non_null(c);
	assert_int_equal(c->n_limits, 0);
	assert_int_equal(c->limit_sources, 1024);
	assert_int_equal(c->flows.max_half_open, 0); /* lib/flow: max / 4 */
	mg_conf_free(c);

	c = load_text(LIM_HEAD
		      "limit_sources = 4096;\n"
		      "flows = { max = 10000; max_half_open = 2000; };\n"
		      "limits = (\n"
		      "{ name = \"partners\"; identity = \"partner\";\n"
		      "  new_connections = { rate = 100; burst = 20; };\n"
		      "  max_connections = 500;\n"
		      "  packets = { rate = 10000; };\n"
		      "  per_source = { new_connections = { rate = 10; };\n"
		      "                 bytes = { rate = 1000000; "
		      "burst = 50000; }; }; },\n"
		      "{ name = \"strangers-shop\"; identity = \"unknown\";\n"
		      "  service = \"shop\"; max_connections = 10; }\n"
		      ");\n");
	assert_non_null(c);
	assert_int_equal(c->limit_sources, 4096);
	assert_int_equal(c->flows.max_half_open, 2000);
	assert_int_equal(c->n_limits, 2);
	l = &c->limits[0];
	assert_string_equal(l->name, "partners");
	assert_int_equal(l->line, 7);
	assert_int_equal(l->identity, 1);
	assert_int_equal(l->service, -1);
	assert_int_equal(l->all.conn.rate, 100);
	assert_int_equal(l->all.conn.burst, 20);
	assert_int_equal(l->all.max_conns, 500);
	assert_false(l->all.bytes);
	assert_int_equal(l->all.pkt.rate, 10000);
	assert_int_equal(l->all.pkt.burst, 10000); /* a second's worth */
	assert_true(l->per_source);
	assert_int_equal(l->source.conn.rate, 10);
	assert_int_equal(l->source.conn.burst, 10);
	assert_true(l->source.bytes);
	assert_int_equal(l->source.pkt.rate, 1000000);
	assert_int_equal(l->source.pkt.burst, 50000);
	l = &c->limits[1];
	assert_int_equal(l->identity, 0); /* unknown */
	assert_int_equal(l->service, 0);
	assert_int_equal(l->all.max_conns, 10);
	assert_false(l->per_source);
	mg_conf_free(c);

	expect_error(LIM_HEAD "limits = (\n{ name = \"x\"; identity = "
			      "\"nobody\"; max_connections = 1; }\n);\n",
		     5, "limit 'x': no identity 'nobody'");
	expect_error(LIM_HEAD "limits = (\n{ name = \"x\"; identity = "
			      "\"partner\";\n service = \"cart\"; "
			      "max_connections = 1; }\n);\n",
		     6, "limit 'x': no service 'cart'");
	expect_error(LIM_HEAD "limits = (\n{ name = \"x\"; identity = "
			      "\"partner\"; }\n);\n",
		     5, "limit 'x' limits nothing");
	expect_error(LIM_HEAD "limits = (\n{ name = \"x\"; identity = "
			      "\"partner\";\n per_source = { }; }\n);\n",
		     6, "limit 'x': 'per_source' limits nothing");
	expect_error(LIM_HEAD "limits = (\n{ name = \"x\"; identity = "
			      "\"partner\";\n new_connections = { rate = 0; "
			      "}; }\n);\n",
		     6, "'rate' is 0; it must be between 1 and");
	expect_error(LIM_HEAD
		     "limits = (\n{ name = \"x\"; identity = "
		     "\"partner\";\n packets = { burst = 5; }; }\n);\n",
		     6, "rate");
	expect_error(LIM_HEAD "limits = (\n{ name = \"x\"; identity = "
			      "\"partner\";\n packets = { rate = 5; };\n"
			      " bytes = { rate = 5; }; }\n);\n",
		     7, "has both 'packets' and 'bytes'");
	expect_error(LIM_HEAD "limits = (\n{ name = \"x\"; identity = "
			      "\"partner\";\n max_connections = 1;\n"
			      " rate = 5; }\n);\n",
		     7, "rate");
	expect_error(LIM_HEAD
		     "limits = (\n{ name = \"x\"; identity = "
		     "\"partner\"; max_connections = 1; },\n"
		     "{ name = \"x\"; identity = \"partner\"; "
		     "service = \"shop\"; max_connections = 2; }\n);\n",
		     6, "limit 'x' is defined twice (first at line 5)");
	expect_error(LIM_HEAD "limits = (\n{ name = \"a\"; identity = "
			      "\"partner\"; max_connections = 1; },\n"
			      "{ name = \"b\"; identity = \"partner\"; "
			      "max_connections = 2; }\n);\n",
		     6,
		     "limit 'b' covers the same caller and service as 'a' "
		     "(line 5)");
	expect_error(LIM_HEAD "limit_sources = 4;\n", 4,
		     "'limit_sources' is 4; it must be between 8 and");
	expect_error(P1 "flows = {\n max = 2000;\n max_half_open = 4000;\n};\n",
		     4, "'max_half_open' is 4000, more than flows.max");
}

static void
test_l7_limits(void **state)
{
	struct mg_conf *c;

	(void)state;
	c = load_text(P1);
	assert_non_null(c);
	/* defaults, without the group */
	assert_int_equal(c->l7.max_request_bytes, 4096);
	assert_int_equal(c->l7.max_pending, 1024);
	assert_int_equal(c->n_patterns, 0);
	assert_null(c->patterns);
	mg_conf_free(c);
	c = load_text(P1 "l7 = { max_request_bytes = 65536; "
			 "max_pending = 1048576; };\n");
	assert_non_null(c);
	assert_int_equal(c->l7.max_request_bytes, 65536);
	assert_int_equal(c->l7.max_pending, 1048576);
	mg_conf_free(c);
	c = load_text(P1 "l7 = { max_request_bytes = 256; };\n");
	assert_non_null(c);
	assert_int_equal(c->l7.max_request_bytes, 256);
	assert_int_equal(c->l7.max_pending, 1024);
	mg_conf_free(c);

	expect_error(P1 "l7 = {\n max_request_bytes = 255;\n};\n", 3,
		     "'max_request_bytes' is 255; it must be between 256 and "
		     "65536");
	expect_error(P1 "l7 = {\n max_request_bytes = 65537;\n};\n", 3,
		     "between 256 and 65536");
	expect_error(P1 "l7 = {\n max_pending = 0;\n};\n", 3,
		     "'max_pending' is 0; it must be between 1 and 1048576");
	expect_error(P1 "l7 = {\n max_pending = 1048577;\n};\n", 3,
		     "between 1 and 1048576");
	expect_error(P1 "l7 = {\n max_pending = \"8\";\n};\n", 3,
		     "'max_pending' must be an integer, not a string");
	expect_error(P1 "l7 = {\n max_requests = 1;\n};\n", 3,
		     "unknown key 'max_requests' in 'l7'");
	expect_error(P1 "\nl7 = 4096;\n", 3,
		     "'l7' must be a group { }, not an integer");
}

static void
test_l7_rules(void **state)
{
	char longer[MG_CONF_PATTERN_LEN + 1];
	struct mg_conf *c;

	(void)state;
	/* the longest pattern is fine, one more character is not */
	memset(longer, 'a', sizeof(longer));
	longer[MG_CONF_PATTERN_LEN - 1] = '\0';
	c = load_text(l7_policy(fmt("http = { path = \"%s\"; };", longer)));
	assert_non_null(c);
	assert_int_equal(strlen(c->patterns[0].regex), MG_CONF_PATTERN_LEN - 1);
	mg_conf_free(c);
	longer[MG_CONF_PATTERN_LEN - 1] = 'a';
	longer[MG_CONF_PATTERN_LEN] = '\0';
	expect_error(l7_policy(fmt("http = {\npath = \"%s\"; };", longer)), 7,
		     "policy 'a': http.path pattern is longer than 1023 "
		     "characters");

	expect_error(l7_policy("http = { path = \"^/\"; };\n"
			       "tls = { sni = \"x\"; };"),
		     7, "policy 'a' has both 'http' (line 6) and 'tls'");
	expect_error(l7_policy("http = { };"), 6,
		     "policy 'a': 'http' is empty; give at least one of "
		     "method, path, query, host, headers or upgrade");
	expect_error(l7_policy("tls = { };"), 6,
		     "policy 'a': 'tls' is empty; give at least one of sni or "
		     "allow_no_sni");
	expect_error(l7_policy("http = \"^/\";"), 6,
		     "'http' must be a group { }, not a string");
	expect_error(l7_policy("tls = ( \"x\" );"), 6,
		     "'tls' must be a group { }, not a list ( )");
	expect_error(l7_policy("http = { path = \"^/\";\npth = \"^/\"; };"), 7,
		     "unknown key 'pth' in 'http' of policy 'a'");
	expect_error(l7_policy("tls = { sni = \"x\";\nhost = \"x\"; };"), 7,
		     "policy 'a': 'host' is a key of 'http', not of 'tls' "
		     "(which takes sni or allow_no_sni)");
	expect_error(l7_policy("tls = { sni = \"x\";\nhots = \"x\"; };"), 7,
		     "unknown key 'hots' in 'tls' of policy 'a'");
	expect_error(l7_policy("http = {\npath = 80; };"), 7,
		     "policy 'a': http.path must be a string or a list of "
		     "strings, not an integer");
	expect_error(l7_policy("http = { path = ( \"^/a\",\n1 ); };"), 7,
		     "policy 'a': http.path must be a string or a list of "
		     "strings, not an integer");
	expect_error(l7_policy("http = { method = ( \"^GET$\",\n"
			       "( \"x\" ) ); };"),
		     7,
		     "http.method must be a string or a list of strings, "
		     "not a list ( )");
	expect_error(l7_policy("tls = {\nsni = { x = \"y\"; }; };"), 7,
		     "policy 'a': tls.sni must be a string or a list of "
		     "strings, not a group { }");
	expect_error(l7_policy("http = {\nhost = []; };"), 7,
		     "policy 'a': http.host must not be an empty list");
	expect_error(l7_policy("http = { host = [\"x\",\n\"\"]; };"), 7,
		     "policy 'a': http.host has an empty pattern");
	/* Hyperscan's own words, at the element's line */
	expect_error(l7_policy("http = { path = [ \"^/ok\",\n\"^/a(\" ]; };"),
		     7,
		     "policy 'a': http.path pattern '^/a(': Missing close "
		     "parenthesis for group started at index 3.");
	expect_error(l7_policy("http = {\nmethod = \"^(?=G)GET\"; };"), 7,
		     "http.method pattern '^(?=G)GET': Zero-width assertions "
		     "are not supported");
	expect_error(l7_policy("tls = {\nsni = \"[z-a]\"; };"), 7,
		     "tls.sni pattern '[z-a]': Range out of order");
	expect_error(l7_policy("http = {\npath = \"\\\\1\"; };"), 7,
		     "http.path pattern '\\1': Invalid back reference");
	expect_error(l7_policy("http = {\npath = \"^/?\"; };"), 7,
		     "policy 'a': http.path pattern '^/?' matches the empty "
		     "string");
	expect_error(l7_policy("http = {\nmethod = \"G*\"; };"), 7,
		     "http.method pattern 'G*' matches the empty string");
	expect_error(l7_policy("tls = {\nsni = [\"x\", \"$\"]; };"), 7,
		     "tls.sni pattern '$' matches the empty string");
}

/* http.query, http.upgrade and tls.allow_no_sni: what they load, and
 * every way to get them wrong, at the line of the key. */
static void
test_l7_normal_form_keys(void **state)
{
	const struct mg_policy_conf *p;
	struct mg_conf *c;

	(void)state;
	c = load_text(P1 L7_BASE
		      "policies = (\n"
		      "{ name = \"ws\"; action = \"allow\"; from = [\"fe\"]; "
		      "to = [\"shop\"];\n"
		      "  http = { query = [\"^page=[0-9]+$\", \"(^|&)id=\"];\n"
		      "           upgrade = \"^websocket$\"; }; },\n"
		      "{ name = \"nosni\"; action = \"allow\"; "
		      "from = [\"fe\"]; to = [\"secure\"];\n"
		      "  tls = { allow_no_sni = true; }; },\n"
		      "{ name = \"sni\"; action = \"allow\"; from = [\"ci\"]; "
		      "to = [\"secure\"];\n"
		      "  tls = { allow_no_sni = false; sni = \"^a$\"; }; },\n"
		      "{ name = \"dry\"; action = \"allow\"; dry_run = true; "
		      "from = [\"ci\"]; to = [\"secure\"];\n"
		      "  tls = { sni = \"^b$\"; allow_no_sni = true; }; }\n"
		      ");\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	p = &c->policies[0];
	assert_int_equal(p->l7, MG_L7_HTTP);
	assert_int_equal(p->n_matchers, 2);
	check_matcher(c, &p->matchers[0], MG_L7_QUERY, 6, 0, 2);
	check_matcher(c, &p->matchers[1], MG_L7_UPGRADE, 7, 2, 1);
	assert_false(p->allow_no_sni);
	p = &c->policies[1];
	assert_int_equal(p->l7, MG_L7_TLS);
	assert_int_equal(p->n_matchers, 0); /* allow_no_sni alone */
	assert_true(p->allow_no_sni);
	p = &c->policies[2];
	assert_int_equal(p->n_matchers, 1);
	assert_false(p->allow_no_sni);
	assert_true(c->policies[3].allow_no_sni); /* a dry-run allow: inert */
	mg_conf_free(c);

	/* types and patterns */
	expect_error(l7_policy("http = {\nquery = 5; };"), 7,
		     "policy 'a': http.query must be a string or a list of "
		     "strings, not an integer");
	expect_error(l7_policy("http = {\nupgrade = ( \"websocket\", 1 ); };"),
		     7,
		     "policy 'a': http.upgrade must be a string or a list of "
		     "strings, not an integer");
	expect_error(l7_policy("http = {\nquery = \"a(\"; };"), 7,
		     "policy 'a': http.query pattern 'a(': Missing close "
		     "parenthesis");
	expect_error(l7_policy("http = {\nupgrade = \"[z-a]\"; };"), 7,
		     "policy 'a': http.upgrade pattern '[z-a]': Range out of "
		     "order");
	expect_error(l7_policy("http = {\nquery = \"x?\"; };"), 7,
		     "policy 'a': http.query pattern 'x?' matches the empty "
		     "string");
	expect_error(l7_policy("http = {\nupgrade = []; };"), 7,
		     "policy 'a': http.upgrade must not be an empty list");
	expect_error(l7_policy("tls = {\nallow_no_sni = \"yes\"; };"), 7,
		     "policy 'a': tls.allow_no_sni must be true or false, not "
		     "a string");
	expect_error(l7_policy("tls = {\nallow_no_sni = 1; };"), 7,
		     "tls.allow_no_sni must be true or false, not an integer");
	expect_error(l7_policy("tls = {\nallow_no_sni = false; };"), 7,
		     "policy 'a': tls.allow_no_sni is false and there is no "
		     "tls.sni: the rule would match nothing");
	/* keys of the other group */
	expect_error(l7_policy("tls = { sni = \"x\";\nquery = \"y\"; };"), 7,
		     "policy 'a': 'query' is a key of 'http', not of 'tls' "
		     "(which takes sni or allow_no_sni)");
	expect_error(l7_policy("tls = {\nupgrade = \"websocket\"; };"), 7,
		     "policy 'a': 'upgrade' is a key of 'http', not of 'tls'");
	expect_error(l7_policy("http = { path = \"^/\";\n"
			       "allow_no_sni = true; };"),
		     7,
		     "policy 'a': 'allow_no_sni' is a key of 'tls', not of "
		     "'http' (which takes method, path, query, host, headers "
		     "or upgrade)");
	expect_error(l7_policy("tls = { sni = \"x\";\nheaders = (); };"), 7,
		     "policy 'a': 'headers' is a key of 'http', not of 'tls'");
	/* allow_no_sni on a deny rule, dry run or not */
	expect_error(P1 L7_BASE
		     "policies = (\n"
		     "{ name = \"d\"; action = \"deny\"; "
		     "from = [\"*\"]; to = [\"secure\"];\n"
		     "tls = { sni = \"x\";\nallow_no_sni = true; }; }"
		     "\n);\n",
		     7,
		     "policy 'd': tls.allow_no_sni is for allow rules; a deny "
		     "rule never matches a ClientHello without SNI");
	expect_error(P1 L7_BASE "policies = (\n"
				"{ name = \"d\"; action = \"deny\"; "
				"dry_run = true; from = [\"*\"]; "
				"to = [\"secure\"];\ntls = { sni = \"x\"; "
				"allow_no_sni = false; }; }\n);\n",
		     6, "policy 'd': tls.allow_no_sni is for allow rules");
	/* each error once, at its own line */
	expect_error(l7_policy("http = { path = \"^/\";\nquery = 1;\n"
			       "upgrade = \"(\"; };"),
		     8, "http.upgrade pattern '(':");
	assert_int_equal(errs.n, 2);
}

static void
test_l7_headers(void **state)
{
	(void)state;
	expect_error(l7_policy("http = {\nheaders = \"x-env\"; };"), 7,
		     "policy 'a': http.headers must be a list ( { name = ...; "
		     "value = ...; }, ... ), not a string");
	expect_error(l7_policy("http = {\nheaders = (); };"), 7,
		     "policy 'a': http.headers must not be an empty list");
	expect_error(l7_policy("http = { headers = (\n\"x-env\" ); };"), 7,
		     "policy 'a': each of http.headers must be a group");
	expect_error(l7_policy("http = { headers = (\n{ name = \"x\"; } ); };"),
		     7, "an entry of http.headers of policy 'a' needs 'value'");
	expect_error(
		l7_policy("http = { headers = (\n{ value = \"x\"; } ); };"), 7,
		"an entry of http.headers of policy 'a' needs 'name'");
	expect_error(l7_policy("http = { headers = ( { name = \"x\";\n"
			       "value = \"y\"; vaule = \"z\"; } ); };"),
		     7,
		     "unknown key 'vaule' in an entry of http.headers of "
		     "policy 'a'");
	expect_error(l7_policy("http = { headers = ( {\nname = \"x env\"; "
			       "value = \"y\"; } ); };"),
		     7, "policy 'a': header name 'x env' is not a field name");
	expect_error(l7_policy("http = { headers = ( {\nname = \"x:y\"; "
			       "value = \"y\"; } ); };"),
		     7, "header name 'x:y' is not a field name");
	expect_error(l7_policy("http = { headers = ( {\nname = \"\"; "
			       "value = \"y\"; } ); };"),
		     7, "header name '' is not a field name");
	expect_error(l7_policy("http = { headers = ( {\nname = "
			       "\"x-0123456789012345678901234567890\"; "
			       "value = \"y\"; } ); };"),
		     7, "of 1 to 31 letters, digits and");
	expect_error(l7_policy("http = { headers = ( {\nname = 5; "
			       "value = \"y\"; } ); };"),
		     7, "'name' must be a string, not an integer");
	expect_error(l7_policy("http = { headers = ( { name = \"x\";\n"
			       "value = 5; } ); };"),
		     7,
		     "policy 'a': http.headers 'x' must be a string or a list "
		     "of strings, not an integer");
	expect_error(l7_policy("http = { headers = ( { name = \"X-Env\";\n"
			       "value = \"(\"; } ); };"),
		     7,
		     "policy 'a': http.headers 'x-env' pattern '(': Missing");
}

static void
test_l7_bounds(void **state)
{
	size_t cap = 2u << 20, off;
	char *text = malloc(cap);
	struct mg_conf *c;
	int i;

	(void)state;
	assert_non_null(text);
	/* 8 matchers are fine, the 9th (on line 12) is not */
	c = load_text(
		l7_policy("http = { method = \"^GET$\"; path = \"^/\"; "
			  "host = \"x\";\n"
			  "headers = ( { name = \"h1\"; value = \"x\"; },\n"
			  "{ name = \"h2\"; value = \"x\"; },\n"
			  "{ name = \"h3\"; value = \"x\"; },\n"
			  "{ name = \"h4\"; value = \"x\"; },\n"
			  "{ name = \"h5\"; value = \"x\"; } ); };"));
	assert_non_null(c);
	assert_int_equal(c->policies[0].n_matchers, MG_CONF_MAX_MATCHERS);
	assert_string_equal(c->policies[0].matchers[7].header, "h5");
	mg_conf_free(c);
	expect_error(
		l7_policy("http = { method = \"^GET$\"; path = \"^/\"; "
			  "host = \"x\";\n"
			  "headers = ( { name = \"h1\"; value = \"x\"; },\n"
			  "{ name = \"h2\"; value = \"x\"; },\n"
			  "{ name = \"h3\"; value = \"x\"; },\n"
			  "{ name = \"h4\"; value = \"x\"; },\n"
			  "{ name = \"h5\"; value = \"x\"; },\n"
			  "{ name = \"h6\"; value = \"x\"; },\n"
			  "{ name = \"h7\"; value = \"x\"; } ); };"),
		12, "policy 'a': more than 8 matchers");
	/* once per rule, not once per extra matcher */
	assert_int_equal(errs.n, 1);

	/* MG_CONF_MAX_PATTERNS in the config: the next one (line 8) is
	 * refused, once */
	off = (size_t)snprintf(text, cap,
			       P1 L7_BASE "policies = (\n"
					  "{ name = \"a\"; action = \"allow\"; "
					  "from = [\"*\"]; to = [\"shop\"];\n"
					  "http = { path = [\n");
	for (i = 0; i < MG_CONF_MAX_PATTERNS; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s\"^/%x\"",
					i > 0 ? ", " : "", i);
	snprintf(text + off, cap - off, ",\n\"^/x\", \"^/y\" ]; }; }\n);\n");
	expect_error(text, 8, "policy 'a': more than 65536 patterns");
	assert_int_equal(errs.n, 1);
	free(text);
}

static void
test_l7_services(void **state)
{
	(void)state;
	/* layer-7 rules need TCP */
	expect_error(P1 L7_BASE "policies = (\n"
				"{ name = \"a\"; action = \"allow\"; "
				"from = [\"*\"]; to = [\"shop\", \"dns\"];\n"
				"http = { path = \"^/\"; }; }\n);\n",
		     6,
		     "policy 'a' has 'http' rules but covers UDP service "
		     "'dns'; layer-7 rules need TCP");
	expect_error(P1 L7_BASE "policies = (\n"
				"{ name = \"a\"; action = \"deny\"; "
				"from = [\"*\"]; to = [\"*\"];\n"
				"tls = { sni = \"x\"; }; }\n);\n",
		     6,
		     "policy 'a' has 'tls' rules but covers UDP service 'dns'");
	/* a service is HTTP or TLS: the later rule is blamed, whichever
	 * way round and however the service is named */
	expect_error(P1 L7_BASE "policies = (\n"
				"{ name = \"a\"; action = \"allow\"; "
				"from = [\"*\"]; to = [\"shop\"];\n"
				"http = { path = \"^/\"; }; },\n"
				"{ name = \"l4\"; action = \"allow\"; "
				"from = [\"*\"]; to = [\"*\"]; },\n"
				"{ name = \"b\"; action = \"deny\"; "
				"from = [\"fe\"]; to = [\"env:prod\"];\n"
				"tls = { sni = \"x\"; }; }\n);\n",
		     9,
		     "policy 'b' has 'tls' rules for service 'shop', which "
		     "policy 'a' (line 5) gives 'http' rules; a service is "
		     "HTTP or TLS, not both");
	assert_int_equal(errs.n, 1);
	expect_error(P1 L7_BASE "policies = (\n"
				"{ name = \"b\"; action = \"allow\"; "
				"from = [\"*\"]; to = [\"secure\"];\n"
				"tls = { sni = \"x\"; }; },\n"
				"{ name = \"a\"; action = \"allow\"; "
				"from = [\"*\"]; to = [\"shop\", \"secure\"];\n"
				"http = { path = \"^/\"; }; }\n);\n",
		     8,
		     "policy 'a' has 'http' rules for service 'secure', which "
		     "policy 'b' (line 5) gives 'tls' rules");
}

/* The bundled 10,000-pattern file loads, every pattern checked by
 * Hyperscan, each at its line. How long it takes is printed, not
 * asserted: speed is scripts/bench.sh's to measure (a timed test fails
 * on a busy machine for nothing it tests). */

static void
test_l7_many_patterns(void **state)
{
	const struct mg_policy_conf *p;
	struct timespec t0, t1;
	struct mg_conf *c;
	double s;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = mg_conf_load("configs/l7_many_patterns.conf", MG_DRIVERS_CONF_DIR,
			 &errs);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("# l7_many_patterns.conf: %u patterns in %.3f s\n",
		      c->n_patterns, s);
	assert_int_equal(c->n_patterns, 10004);
	assert_int_equal(c->n_policies, 2);
	p = &c->policies[1];
	assert_int_equal(p->l7, MG_L7_HTTP);
	check_matcher(c, &p->matchers[0], MG_L7_METHOD, 5035, 5002, 2);
	check_matcher(c, &p->matchers[1], MG_L7_PATH, 5036, 5004, 5000);
	assert_string_equal(c->patterns[5004].regex,
			    "^/api/v1/item-05000(/|$)");
	assert_int_equal(c->patterns[5004].line, 5037);
	assert_string_equal(c->patterns[10003].regex,
			    "^/api/v1/item-09999(/|$)");
	/* not the last one's: libconfig 1.5 gives the last element of a
	 * [ ] array the line of whatever follows it, here the ']' */
	assert_int_equal(c->patterns[10002].line, 10035);
	mg_conf_free(c);
}

/* ---- ESP peers ---- */

/* A key file @p name in the temp folder with @p text and @p mode. */
static void
write_key(const char *name, const char *text, mode_t mode)
{
	const char *path = mg_test_write_file(name, text);

	assert_int_equal(chmod(path, mode), 0);
}

#define KEY_B_IN  "0x000102030405060708090a0b0c0d0e0f10111213\n"
#define KEY_B_OUT "1112131415161718191a1b1c1d1e1f2021222324"
#define KEY_C_IN                                                               \
	"  202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"   \
	"40414243\n"
#define KEY_C_OUT                                                              \
	"505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f"     \
	"70717273"

static void
write_peer_keys(void)
{
	write_key("b-in.key", KEY_B_IN, 0600);
	write_key("b-out.key", KEY_B_OUT, 0400);
	write_key("c-in.key", KEY_C_IN, 0600);
	write_key("c-out.key", KEY_C_OUT, 0600);
}

#define PEER_BASE                                                              \
	"ports = ( { name = \"edge\"; device = \"net_pcap0\"; "                \
	"profile = \"pcap\"; addresses = [\"198.18.0.1/24\", "                 \
	"\"2001:db8::1/64\"]; } );\n"                                          \
	"identities = ( { name = \"fe\"; env = \"prod\"; "                     \
	"prefixes = [\"10.1.0.0/16\"]; } );\n"                                 \
	"services = ( { name = \"shop\"; protocol = \"tcp\"; "                 \
	"addresses = [\"198.19.0.1\"]; ports = [80]; versions = ( "            \
	"{ name = \"v1\"; backends = [\"198.19.1.1\"]; } ); routes = ( "       \
	"{ from = [\"peer:b\"]; version = \"v1\"; } ); } );\n"

/* line 4: "peers = (", line 5 the peer's group opens */
#define PEER_B(extra, in, out)                                                 \
	"peers = (\n"                                                          \
	"{ name = \"b\"; env = \"prod\"; local = \"198.18.0.1\"; "             \
	"remote = \"198.18.0.9\";" extra "\n"                                  \
	"  inbound = ( " in " );\n"                                            \
	"  outbound = " out ";\n"                                              \
	"  prefixes = [\"198.18.50.0/24\"]; services = [\"shop\"]; }\n"        \
	");\n"
#define IN_B                                                                   \
	"{ spi = 0x1001; algorithm = \"aes-gcm-128\"; key_file = "             \
	"\"b-in.key\"; }"
#define OUT_B                                                                  \
	"{ spi = 0x2001; algorithm = \"aes-gcm-128\"; key_file = "             \
	"\"b-out.key\"; }"

static void
test_peers_valid(void **state)
{
	const struct mg_peer_conf *b, *c6;
	struct mg_conf *c;
	char buf[64];

	(void)state;
	write_peer_keys();
	/* the second inbound SA's key file is not there yet */
	expect_error(PEER_BASE
		     "peers = (\n"
		     "{ name = \"c6\"; local = \"2001:db8::1\"; remote = "
		     "\"2001:db8:9::9\";\n"
		     "  inbound = ( { spi = 300; algorithm = \"aes-gcm-128\";\n"
		     "  key_file = \"b-in2.key\"; } );\n"
		     "  outbound = " OUT_B "; }\n);\n",
		     7, "key file 'b-in2.key' cannot be opened: No such file");
	write_key("b-in2.key", "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3",
		  0600);
	c = load_text(
		PEER_BASE
		"peers = (\n"
		"{ name = \"b\"; env = \"prod\"; local = \"198.18.0.1\"; "
		"remote = \"198.18.0.9\";\n"
		"  inbound = ( " IN_B " );\n"
		"  outbound = " OUT_B ";\n"
		"  prefixes = [\"198.18.50.0/24\"]; services = [\"shop\"]; },\n"
		"{ name = \"c6\"; local = \"2001:db8::1\"; remote = "
		"\"2001:db8:9::9\"; udp_encap = true; remote_port = 4501; "
		"esn = true; replay_window = 4096; rekey_linger = 5;\n"
		"  inbound = ( { spi = \"0xc0000001\"; algorithm = "
		"\"aes-gcm-256\"; key_file = \"c-in.key\"; }, { spi = 300; "
		"algorithm = \"aes-gcm-128\"; key_file = \"b-in2.key\"; } );\n"
		"  outbound = { spi = 0xc0000002L; algorithm = "
		"\"aes-gcm-256\"; "
		"key_file = \"c-out.key\"; initial_seq = 5000000000L; }; }\n"
		");\n"
		"policies = ( { name = \"p\"; action = \"allow\"; "
		"from = [\"peer:b\", \"env:prod\"]; to = [\"shop\"]; } );\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	assert_int_equal(c->n_peers, 2);
	b = &c->peers[0];
	assert_string_equal(b->name, "b");
	assert_string_equal(mg_addr_format(&b->remote, buf, sizeof(buf)),
			    "198.18.0.9");
	assert_false(b->udp_encap);
	assert_false(b->esn);
	assert_int_equal(b->replay_window, 1024);
	assert_int_equal(b->rekey_linger_s, 60);
	assert_int_equal(b->n_inbound, 1);
	assert_int_equal(b->inbound[0].spi, 0x1001);
	assert_int_equal(b->inbound[0].algo, MG_ESP_AES_GCM_128);
	assert_int_equal(b->inbound[0].line, 6);
	assert_int_equal(b->outbound.spi, 0x2001);
	assert_int_equal(b->outbound.initial_seq, 1);
	/* key files are taken from the config's folder; the keys stay out */
	assert_non_null(strstr(b->outbound.key_file, mg_test_tmpdir));
	assert_int_equal(b->n_prefixes, 1);
	assert_int_equal(b->n_services, 1);
	assert_int_equal(b->services[0], 0);
	c6 = &c->peers[1];
	assert_true(c6->udp_encap);
	assert_int_equal(c6->remote_port, 4501);
	assert_true(c6->esn);
	assert_int_equal(c6->replay_window, 4096);
	assert_int_equal(c6->rekey_linger_s, 5);
	assert_int_equal(c6->n_inbound, 2);
	assert_int_equal(c6->inbound[0].spi, 0xc0000001u);
	assert_int_equal(c6->inbound[0].algo, MG_ESP_AES_GCM_256);
	assert_int_equal(c6->outbound.spi, 0xc0000002u);
	assert_int_equal(c6->outbound.initial_seq, 5000000000ull);
	/* each peer is an identity after the file's, without prefixes */
	assert_int_equal(c->n_identities, 3);
	assert_string_equal(c->identities[1].name, "peer:b");
	assert_string_equal(c->identities[1].env, "prod");
	assert_int_equal(c->identities[1].n_prefixes, 0);
	assert_int_equal(c->identities[1].peer, 1);
	assert_int_equal(b->identity, 2);
	assert_string_equal(c->identities[2].name, "peer:c6");
	assert_int_equal(c6->identity, 3);
	assert_int_equal(c->policies[0].from[0].kind, MG_REF_NAME);
	assert_string_equal(c->policies[0].from[0].name, "peer:b");
	assert_true(mg_conf_ref_covers_identity(c, &c->policies[0].from[0],
						b->identity));
	assert_false(mg_conf_ref_covers_identity(c, &c->policies[0].from[0],
						 c6->identity));
	assert_true(mg_conf_ref_covers_identity(c, &c->policies[0].from[1],
						b->identity));
	assert_false(mg_conf_ref_covers_identity(c, &c->policies[0].from[1],
						 c6->identity));
	assert_string_equal(mg_conf_esp_algo_name(MG_ESP_AES_GCM_256),
			    "aes-gcm-256");
	assert_int_equal(mg_conf_esp_key_len(MG_ESP_AES_GCM_128), 20);
	assert_int_equal(mg_conf_esp_key_len(MG_ESP_AES_GCM_256), 36);
	mg_conf_free(c);
}

static void
test_peer_rules(void **state)
{
	(void)state;
	write_peer_keys();
	/* keys like keys: group or others may not read them */
	write_key("loose.key", KEY_B_OUT, 0640);
	expect_error(PEER_BASE PEER_B("", IN_B,
				      "{ spi = 0x2001; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"loose.key\"; }"),
		     7,
		     "key file 'loose.key' may be read or written by group "
		     "or others (mode 0640): chmod 600 it");
	write_key("world.key", KEY_B_OUT, 0604);
	expect_error(PEER_BASE PEER_B("", IN_B,
				      "{ spi = 0x2001; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"world.key\"; }"),
		     7, "(mode 0604): chmod 600 it");
	expect_error(PEER_BASE PEER_B("", IN_B,
				      "{ spi = 0x2001; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"nothing.key\"; }"),
		     7, "key file 'nothing.key' cannot be opened");
	/* a 256-bit key where 128 bits are due, and not hex */
	expect_error(PEER_BASE PEER_B("", IN_B,
				      "{ spi = 0x2001; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"c-out.key\"; }"),
		     7, "holds 72 hex digits; this transform takes 40");
	write_key("bad.key", "zz1112131415161718191a1b1c1d1e1f20212223", 0600);
	expect_error(PEER_BASE PEER_B("", IN_B,
				      "{ spi = 0x2001; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"bad.key\"; }"),
		     7, "holds something other than hex digits (at byte 0)");
	/* no error ever quotes a key */
	assert_null(strstr(errs.msg[0], "1112131415"));
	/* one key in two SAs repeats GCM nonces */
	expect_error(PEER_BASE PEER_B("", IN_B,
				      "{ spi = 0x2001; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"b-in.key\"; }"),
		     7, "holds the key of SA 0x1001 of peer 'b' (line 6)");
	expect_error(PEER_BASE PEER_B("",
				      "{ spi = 255; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"b-in.key\"; }",
				      OUT_B),
		     6, "it must be between 256 and 4294967295");
	expect_error(PEER_BASE PEER_B("",
				      "{ spi = 0x1001; algorithm = "
				      "\"aes-cbc\"; key_file = "
				      "\"b-in.key\"; }",
				      OUT_B),
		     6, "'algorithm' has unknown value 'aes-cbc'");
	expect_error(PEER_BASE PEER_B("", IN_B ", " IN_B, OUT_B), 6,
		     "inbound SPI 0x1001 is also that of peer 'b'");
	expect_error(PEER_BASE PEER_B("", "", OUT_B), 6,
		     "'inbound' of peer 'b' must not be empty");
	expect_error(PEER_BASE
		     "peers = ( { name = \"b\"; local = \"198.18.0.1\"; "
		     "remote = \"198.18.0.9\"; inbound = ( " IN_B " ); } );\n",
		     4, "peer 'b' needs 'outbound'");
	expect_error(PEER_BASE
		     "peers = ( { name = \"b\"; local = \"198.18.0.2\"; "
		     "remote = \"198.18.0.9\"; inbound = ( " IN_B " ); "
		     "outbound = " OUT_B "; } );\n",
		     4, "'local' 198.18.0.2 is not an address of a port");
	expect_error(PEER_BASE
		     "peers = ( { name = \"b\"; local = \"198.18.0.1\"; "
		     "remote = \"2001:db8::9\"; inbound = ( " IN_B " ); "
		     "outbound = " OUT_B "; } );\n",
		     4, "'remote' is IPv6 but 'local' is IPv4");
	expect_error(PEER_BASE PEER_B(" remote_port = 4501;", IN_B, OUT_B), 5,
		     "'remote_port' needs 'udp_encap = true'");
	expect_error(PEER_BASE PEER_B(" replay_window = 32;", IN_B, OUT_B), 5,
		     "'replay_window' is 32; it must be between 64 and 4096");
	expect_error(PEER_BASE PEER_B("", IN_B,
				      "{ spi = 0x2001; algorithm = "
				      "\"aes-gcm-128\"; key_file = "
				      "\"b-out.key\"; initial_seq = "
				      "4294967295L; }"),
		     7,
		     "'initial_seq' is 4294967295; it must be between 1 "
		     "and 4294967294");
	expect_error(PEER_BASE PEER_B(" secret = 1;", IN_B, OUT_B), 5,
		     "unknown key 'secret' in a peer");
	expect_error(PEER_BASE
		     "peers = ( { name = \"b\"; local = \"198.18.0.1\"; "
		     "remote = \"198.18.0.9\"; inbound = ( " IN_B " ); "
		     "outbound = " OUT_B "; services = [\"none\"]; } );\n",
		     4,
		     "peer 'b': 'services' names 'none', which is not a "
		     "service");
	expect_error(PEER_BASE
		     "peers = ( { name = \"b\"; local = \"198.18.0.1\"; "
		     "remote = \"198.18.0.9\"; inbound = ( " IN_B " ); "
		     "outbound = " OUT_B
		     "; prefixes = [\"198.18.50.1/24\"]; } );\n",
		     4, "prefix '198.18.50.1/24' has host bits set");
	/* two peers: one name, one prefix, one service */
	expect_error(PEER_BASE
		     "peers = (\n"
		     "{ name = \"b\"; local = \"198.18.0.1\"; remote = "
		     "\"198.18.0.9\"; inbound = ( " IN_B " ); outbound = " OUT_B
		     "; prefixes = [\"198.18.50.0/24\"]; services = "
		     "[\"shop\"]; },\n"
		     "{ name = \"b\"; local = \"198.18.0.1\"; remote = "
		     "\"198.18.0.8\"; inbound = ( { spi = 0x1002; algorithm = "
		     "\"aes-gcm-128\"; key_file = \"c-in.key\"; } ); outbound "
		     "= { spi = 0x2002; algorithm = \"aes-gcm-256\"; key_file "
		     "= \"c-out.key\"; }; prefixes = [\"198.18.50.0/24\"]; "
		     "services = [\"shop\"]; }\n);\n",
		     6, "peer name 'b' is used twice (first at line 5)");
	assert_true(errs.n >= 4);
	expect_error(PEER_BASE
		     "peers = (\n"
		     "{ name = \"b\"; local = \"198.18.0.1\"; remote = "
		     "\"198.18.0.9\"; inbound = ( " IN_B " ); outbound = " OUT_B
		     "; prefixes = [\"198.18.50.0/24\"]; },\n"
		     "{ name = \"c\"; local = \"198.18.0.1\"; remote = "
		     "\"198.18.0.8\"; inbound = ( { spi = 0x1002; algorithm = "
		     "\"aes-gcm-256\"; key_file = \"c-in.key\"; } ); outbound "
		     "= { spi = 0x2002; algorithm = \"aes-gcm-256\"; key_file "
		     "= \"c-out.key\"; }; prefixes = [\"198.18.50.0/24\"]; }\n"
		     ");\n",
		     6,
		     "prefix 198.18.50.0/24 is behind two peers: 'b' and "
		     "'c'");
	/* a policy may name only peers that exist */
	expect_error(
		PEER_BASE PEER_B(
			"", IN_B,
			OUT_B) "policies = ( { name = \"p\"; action = "
			       "\"allow\"; "
			       "from = [\"peer:x\"]; to = [\"shop\"]; } );\n",
		10, "'from' names 'peer:x', which is not an identity");
	expect_error(
		PEER_BASE PEER_B(
			"", IN_B,
			OUT_B) "policies = ( { name = \"p\"; action = "
			       "\"allow\"; "
			       "from = [\"peer:x y\"]; to = [\"shop\"]; } );\n",
		10, "is not a name, \"peer:name\", \"env:label\" or");
	/* the name leaves room for "peer:" in an identity name */
	expect_error(PEER_BASE
		     "peers = ( { name = \"abcdefghijklmnopqrstuvwxyz0\"; "
		     "local = \"198.18.0.1\"; remote = \"198.18.0.9\"; "
		     "inbound = ( " IN_B " ); outbound = " OUT_B "; } );\n",
		     4, "'name' is longer than 26 characters");
}

/* The key reader on its own: what it accepts, what it refuses, and that
 * a refused key leaves nothing behind. */
static void
test_key_read(void **state)
{
	uint8_t key[MG_CONF_MAX_KEY_LEN], zero[MG_CONF_MAX_KEY_LEN] = { 0 };
	char why[160], path[PATH_MAX], link[PATH_MAX + 8];

	(void)state;
	write_key("k1", " 0X000102030405060708090A0B0C0D0E0F10111213 \n", 0600);
	snprintf(path, sizeof(path), "%s/k1", mg_test_tmpdir);
	assert_int_equal(mg_conf_key_read(path, key, 20, why, sizeof(why)), 0);
	assert_int_equal(key[0], 0);
	assert_int_equal(key[15], 0x0f);
	assert_int_equal(key[19], 0x13);
	memset(key, 0xee, sizeof(key));
	assert_int_equal(mg_conf_key_read(path, key, 36, why, sizeof(why)),
			 -EINVAL);
	assert_memory_equal(key, zero, 36);
	/* symbolic links are not followed, folders are not keys */
	snprintf(link, sizeof(link), "%s/k1.link", mg_test_tmpdir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(mg_conf_key_read(link, key, 20, why, sizeof(why)),
			 -ELOOP);
	assert_non_null(strstr(why, "symbolic link"));
	assert_int_equal(
		mg_conf_key_read(mg_test_tmpdir, key, 20, why, sizeof(why)),
		-EINVAL);
	assert_string_equal(why, "is not a regular file");
	assert_int_equal(chmod(path, 0660), 0);
	assert_int_equal(mg_conf_key_read(path, key, 20, why, sizeof(why)),
			 -EACCES);
	assert_memory_equal(key, zero, 20);
}

/* Lines 2-5: a service whose v2 (line 4) may carry a rollback group. */
#define ROLLBACK_HEAD                                                          \
	P1 "services = ( { name = \"shop\"; protocol = \"tcp\"; "              \
	   "addresses = [\"198.19.0.1\"]; ports = [80];\n"                     \
	   "versions = ( { name = \"v1\"; weight = 90; "                       \
	   "backends = [\"198.19.1.1\"]; },\n"                                 \
	   "{ name = \"v2\"; weight = 10; backends = [\"198.19.1.2\"];\n"

/*
 * A version's rollback group: every key required, each in range, and
 * only in a service with a stable version to compare with; absent, the
 * version has none.
 */
static void
test_rollback(void **state)
{
	const struct mg_rollback_conf *r;
	struct mg_conf *c;

	(void)state;
	c = load_text(ROLLBACK_HEAD
		      "rollback = { max_error_ratio = 0.05; min_requests = "
		      "200; window_s = 60; }; } ); } );\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	assert_false(c->services[0].versions[0].rollback.enabled);
	r = &c->services[0].versions[1].rollback;
	assert_true(r->enabled);
	assert_true(r->max_error_ratio > 0.0499 && r->max_error_ratio < 0.0501);
	assert_int_equal(r->min_requests, 200);
	assert_int_equal(r->window_s, 60);
	assert_int_equal(r->line, 5);
	mg_conf_free(c);
	/* an integer ratio is a number too (but 1 is out of range) */
	expect_error(ROLLBACK_HEAD
		     "rollback = { max_error_ratio = 1; min_requests = 200;\n"
		     "window_s = 60; }; } ); } );\n",
		     5,
		     "'max_error_ratio' is 1; it must be above 0 and below 1");
	expect_error(ROLLBACK_HEAD
		     "rollback = { max_error_ratio = 0.0; min_requests = 200;\n"
		     "window_s = 60; }; } ); } );\n",
		     5, "'max_error_ratio' is 0; it must be above 0");
	expect_error(ROLLBACK_HEAD
		     "rollback = { max_error_ratio = \"5%\"; min_requests = "
		     "200;\nwindow_s = 60; }; } ); } );\n",
		     5, "'max_error_ratio' must be a number, not a string");
	expect_error(ROLLBACK_HEAD
		     "rollback = { max_error_ratio = 0.1;\nmin_requests = 9; "
		     "window_s = 60; }; } ); } );\n",
		     6, "'min_requests' is 9; it must be between 10 and");
	expect_error(ROLLBACK_HEAD
		     "rollback = { max_error_ratio = 0.1; min_requests = 10;\n"
		     "window_s = 86401; }; } ); } );\n",
		     6, "'window_s' is 86401; it must be between 10 and 86400");
	expect_error(ROLLBACK_HEAD
		     "rollback = { max_error_ratio = 0.1; min_requests = 10; "
		     "window_s = 60;\nwindow = 5; }; } ); } );\n",
		     6, "unknown key 'window' in 'rollback'");
	expect_error(ROLLBACK_HEAD "rollback = { max_error_ratio = 0.1;\n"
				   "window_s = 60; }; } ); } );\n",
		     5, "'rollback' of version 'v2' needs 'min_requests'");
	expect_error(ROLLBACK_HEAD "rollback = true; } ); } );\n", 5,
		     "'rollback' must be a group { }");
	/* nothing stable to compare with: v1 has weight 0, or a rollback */
	expect_error(P1 "services = ( { name = \"shop\"; protocol = \"tcp\"; "
			"addresses = [\"198.19.0.1\"]; ports = [80];\n"
			"versions = ( { name = \"v1\"; weight = 0; "
			"backends = [\"198.19.1.1\"]; },\n"
			"{ name = \"v2\"; weight = 10; backends = "
			"[\"198.19.1.2\"];\nrollback = { max_error_ratio = "
			"0.1; min_requests = 10; window_s = 60; }; } ); } );\n",
		     5,
		     "version 'v2' of service 'shop' has 'rollback' but the "
		     "service has no stable version");
	expect_error(P1 "services = ( { name = \"shop\"; protocol = \"tcp\"; "
			"addresses = [\"198.19.0.1\"]; ports = [80];\n"
			"versions = ( { name = \"v1\"; backends = "
			"[\"198.19.1.1\"];\nrollback = { max_error_ratio = "
			"0.1; min_requests = 10; window_s = 60; }; } ); } );\n",
		     4, "has no stable version");
}

/* shadow, recorder and deny_log: defaults, paths relative to the file's folder
 * or absolute, and each error at its line. */
static void
test_operate_keys(void **state)
{
	char want[PATH_MAX + 32];
	struct mg_conf *c;

	(void)state;
	c = load_text(P1);
	assert_non_null(c);
	assert_string_equal(c->shadow, "");
	mg_conf_free(c);

	c = load_text(P1 "shadow = \"cand.conf\";\n");
	if (c == NULL)
		print_error("%s\n", errs.msg[0]);
	assert_non_null(c);
	snprintf(want, sizeof(want), "%s/cand.conf", mg_test_tmpdir);
	assert_string_equal(c->shadow, want);
	assert_int_equal(c->shadow_line, 2);
	mg_conf_free(c);

	c = load_text(P1 "shadow = \"/etc/x.conf\";\n");
	assert_non_null(c);
	assert_string_equal(c->shadow, "/etc/x.conf");
	mg_conf_free(c);

	/* recorder: defaults, a relative dir, each error at its line */
	c = load_text(P1);
	assert_non_null(c);
	assert_int_equal(c->recorder.packets, 256);
	assert_string_equal(c->recorder.dir, "/var/tmp");
	mg_conf_free(c);
	c = load_text(P1 "recorder = { packets = 0; dir = \"dumps\"; };\n");
	assert_non_null(c);
	assert_int_equal(c->recorder.packets, 0);
	snprintf(want, sizeof(want), "%s/dumps", mg_test_tmpdir);
	assert_string_equal(c->recorder.dir, want);
	mg_conf_free(c);
	expect_error(P1 "recorder = {\npackets = 65537; };\n", 3,
		     "'packets' is 65537; it must be between 0 and 65536");
	expect_error(P1 "recorder = {\ndir = \"\"; };\n", 3,
		     "'dir' must not be empty");
	expect_error(P1 "recorder = {\nsize = 1; };\n", 3,
		     "unknown key 'size' in 'recorder'");
	expect_error(P1 "recorder = 5;\n", 2, "'recorder' must be a group");

	/* deny_log: off by default; a file or syslog, rate and burst */
	c = load_text(P1);
	assert_non_null(c);
	assert_false(c->deny_log.enabled);
	mg_conf_free(c);
	c = load_text(P1
		      "deny_log = { file = \"/tmp/deny.log\"; rate = 5; };\n");
	assert_non_null(c);
	assert_true(c->deny_log.enabled);
	assert_false(c->deny_log.syslog);
	assert_string_equal(c->deny_log.file, "/tmp/deny.log");
	assert_int_equal(c->deny_log.rate, 5);
	assert_int_equal(c->deny_log.burst, 5);
	mg_conf_free(c);
	c = load_text(P1 "deny_log = { syslog = true; burst = 7; };\n");
	assert_non_null(c);
	assert_true(c->deny_log.enabled && c->deny_log.syslog);
	assert_int_equal(c->deny_log.rate, 100);
	assert_int_equal(c->deny_log.burst, 7);
	mg_conf_free(c);
	expect_error(P1 "deny_log = {\nrate = 5; };\n", 2,
		     "'deny_log' needs 'file' or 'syslog = true'");
	expect_error(P1 "deny_log = { syslog = false; };\n", 2,
		     "'deny_log' needs 'file' or 'syslog = true'");
	expect_error(P1 "deny_log = { syslog = true;\nfile = \"x\"; };\n", 3,
		     "'deny_log' has 'file' and 'syslog = true': choose one");
	expect_error(P1 "deny_log = { syslog = true;\nrate = 0; };\n", 3,
		     "'rate' is 0; it must be between 1 and 1000000");
	expect_error(P1 "deny_log = { syslog = true;\nburst = 0; };\n", 3,
		     "'burst' is 0; it must be between 1 and 10000000");
	expect_error(P1 "deny_log = { syslog = \"yes\"; };\n", 2,
		     "'syslog' must be true or false");
	expect_error(P1 "deny_log = { syslog = true;\nfacility = 1; };\n", 3,
		     "unknown key 'facility' in 'deny_log'");

	expect_error(P1 "shadow = 5;\n", 2,
		     "'shadow' must be a string, not an integer");
	expect_error(P1 "shadow = \"\";\n", 2, "'shadow' must not be empty");
	{
		/* a relative path that does not fit once the config's folder
		 * is put in front: refused at its line, never cut short */
		static char text[PATH_MAX + 256];
		char name[PATH_MAX];

		memset(name, 'a', PATH_MAX - 8);
		name[PATH_MAX - 8] = '\0';
		snprintf(text, sizeof(text), P1 "shadow = \"%s\";\n", name);
		expect_error(text, 2, "'shadow': the path 'aaaa");
		snprintf(text, sizeof(text),
			 P1 "deny_log = { file = \"%s\"; };\n", name);
		expect_error(text, 2, "'file': the path 'aaaa");
	}
}

static int
setup(void **state)
{
	glob_t keys;
	size_t i;

	(void)state;
	/* the example configs' test keys readable by their owner only, as
	 * meshgate demands of key files: git keeps no such mode */
	if (glob("configs/keys/*.key", 0, NULL, &keys) == 0) {
		for (i = 0; i < keys.gl_pathc; i++)
			if (chmod(keys.gl_pathv[i], 0600) != 0)
				return -1;
		globfree(&keys);
	}
	return mg_test_tmpdir_make("test_conf");
}

static int
teardown(void **state)
{
	(void)state;
	return mg_test_tmpdir_remove();
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
		cmocka_unit_test(test_load_string),
		cmocka_unit_test(test_bundled_profiles),
		cmocka_unit_test(test_profile_ipsec),
		cmocka_unit_test(test_fragments_mss_mtu),
		cmocka_unit_test(test_telemetry),
		cmocka_unit_test(test_bundled_default),
		cmocka_unit_test(test_appliance),
		cmocka_unit_test(test_addr_parse_format),
		cmocka_unit_test(test_flows),
		cmocka_unit_test(test_mesh_example),
		cmocka_unit_test(test_identity_rules),
		cmocka_unit_test(test_service_rules),
		cmocka_unit_test(test_service_sharing),
		cmocka_unit_test(test_version_rules),
		cmocka_unit_test(test_policy_rules),
		cmocka_unit_test(test_deny_action),
		cmocka_unit_test(test_neighbour_rules),
		cmocka_unit_test(test_port_addr_rules),
		cmocka_unit_test(test_port_addr_valid),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_canary_valid),
		cmocka_unit_test(test_canary_rules),
		cmocka_unit_test(test_health_rules),
		cmocka_unit_test(test_backend_routes),
		cmocka_unit_test(test_l7_valid),
		cmocka_unit_test(test_l7_helpers),
		cmocka_unit_test(test_l7_limits),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_l7_rules),
		cmocka_unit_test(test_l7_normal_form_keys),
		cmocka_unit_test(test_l7_headers),
		cmocka_unit_test(test_l7_bounds),
		cmocka_unit_test(test_l7_services),
		cmocka_unit_test(test_l7_many_patterns),
		cmocka_unit_test(test_peers_valid),
		cmocka_unit_test(test_peer_rules),
		cmocka_unit_test(test_key_read),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_operate_keys),
	};

	return cmocka_run_group_tests_name("conf", tests, setup, teardown);
}
