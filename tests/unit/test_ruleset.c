/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Unit tests of lib/ruleset: rulesets built from config text, queried
 * the way a worker does. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mg_test.h"

#include <netinet/in.h>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "mg_ruleset.h"
#include "mg_test_ruleset.h"

static struct mg_5tuple
tuple(const char *src, const char *dst, uint8_t proto, uint16_t dport)
{
	struct mg_5tuple t;
	struct mg_addr a;

	memset(&t, 0, sizeof(t));
	assert_true(mg_addr_parse(src, &a));
	memcpy(t.src, a.bytes, sizeof(t.src));
	t.family = a.family;
	assert_true(mg_addr_parse(dst, &a));
	assert_int_equal(a.family, t.family);
	memcpy(t.dst, a.bytes, sizeof(t.dst));
	t.sport = rte_cpu_to_be_16(40000);
	t.dport = rte_cpu_to_be_16(dport);
	t.proto = proto;
	return t;
}

/* Classifies and asserts a service matched. */
static struct mg_decision
classify(const struct mg_ruleset *rs, const char *src, const char *dst,
	 uint8_t proto, uint16_t dport, uint32_t hash)
{
	struct mg_5tuple t = tuple(src, dst, proto, dport);
	struct mg_decision d;

	memset(&d, 0xa5, sizeof(d));
	if (!mg_ruleset_classify(rs, &t, hash, 0, &d))
		print_error("no service for %s -> %s:%u/%u\n", src, dst, dport,
			    proto);
	assert_true(mg_ruleset_classify(rs, &t, hash, 0, &d));
	return d;
}

static bool
matches(const struct mg_ruleset *rs, const char *src, const char *dst,
	uint8_t proto, uint16_t dport)
{
	struct mg_5tuple t = tuple(src, dst, proto, dport);
	struct mg_decision d;

	return mg_ruleset_classify(rs, &t, 0, 0, &d);
}

static struct mg_addr
addr(const char *text)
{
	struct mg_addr a;

	assert_true(mg_addr_parse(text, &a));
	return a;
}

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP

#define P1                                                                     \
	"ports = ( { name = \"edge\"; device = \"net_pcap0\"; "                \
	"profile = \"pcap\"; } );\n"

/* printf into one of a few rotating buffers: config text for one call,
 * with nothing to free. */
static const char *__attribute__((format(printf, 1, 2)))
fmt(const char *format, ...)
{
	static char bufs[16][4096];
	static unsigned int next;
	char *b = bufs[next++ % 16];
	va_list ap;

	va_start(ap, format);
	vsnprintf(b, sizeof(bufs[0]), format, ap);
	va_end(ap);
	return b;
}

/* svc()'s backend text for a dual-stack service: one of each family. */
#define DUAL_BACKENDS "198.19.1.1\", \"2001:db8:101::1"

/* A one-line service with one version and one backend. @p vips and
 * @p ports are config text; an empty @p env leaves the key out. */
static const char *
svc(const char *name, const char *env, const char *proto, const char *vips,
    const char *ports, const char *backend)
{
	return fmt("{ name = \"%s\"; %s%s%sprotocol = \"%s\"; addresses = %s; "
		   "ports = %s; versions = ( { name = \"v1\"; "
		   "backends = [\"%s\"]; } ); }",
		   name, env[0] != '\0' ? "env = \"" : "", env,
		   env[0] != '\0' ? "\"; " : "", proto, vips, ports, backend);
}

static void
test_identity_lookup(void **state)
{
	const char *vip4 = "198.19.0.1", *vip6 = "2001:db8:100::1";
	const char *service =
		svc("s", "", "tcp", "[\"198.19.0.1\", \"2001:db8:100::1\"]",
		    "[80]", DUAL_BACKENDS);
	struct mg_ruleset *rs;

	(void)state;
	rs = build_text(fmt(
		P1 "identities = (\n"
		   "{ name = \"a\"; prefixes = [\"10.0.0.0/8\"]; },\n"
		   "{ name = \"b\"; prefixes = [\"10.1.0.0/16\", "
		   "\"2001:db8::/32\"]; },\n"
		   "{ name = \"c\"; prefixes = [\"10.1.2.3/32\", "
		   "\"10.1.2.128/25\"]; },\n"
		   "{ name = \"d\"; prefixes = [\"2001:db8:1::/48\"]; },\n"
		   "{ name = \"e\"; prefixes = [\"2001:db8:1:2::5/128\"]; }\n"
		   ");\n"
		   "services = ( %s );\n",
		service));
	assert_int_equal(mg_ruleset_n_identities(rs), 5);
	assert_int_equal(classify(rs, "10.200.0.1", vip4, TCP, 80, 0).identity,
			 1);
	assert_int_equal(classify(rs, "10.1.0.1", vip4, TCP, 80, 0).identity,
			 2);
	/* /32 and /25 nested inside b's /16 */
	assert_int_equal(classify(rs, "10.1.2.3", vip4, TCP, 80, 0).identity,
			 3);
	assert_int_equal(classify(rs, "10.1.2.4", vip4, TCP, 80, 0).identity,
			 2);
	assert_int_equal(classify(rs, "10.1.2.200", vip4, TCP, 80, 0).identity,
			 3);
	assert_int_equal(classify(rs, "11.0.0.1", vip4, TCP, 80, 0).identity,
			 MG_IDENTITY_UNKNOWN);
	assert_int_equal(
		classify(rs, "2001:db8:9::1", vip6, TCP, 80, 0).identity, 2);
	assert_int_equal(
		classify(rs, "2001:db8:1:7::1", vip6, TCP, 80, 0).identity, 4);
	assert_int_equal(
		classify(rs, "2001:db8:1:2::5", vip6, TCP, 80, 0).identity, 5);
	assert_int_equal(
		classify(rs, "2001:db8:1:2::6", vip6, TCP, 80, 0).identity, 4);
	assert_int_equal(classify(rs, "2001:db9::1", vip6, TCP, 80, 0).identity,
			 MG_IDENTITY_UNKNOWN);
	assert_string_equal(mg_ruleset_identity_name(rs, 0), "unknown");
	assert_string_equal(mg_ruleset_identity_name(rs, 3), "c");
	assert_string_equal(mg_ruleset_identity_name(rs, 6), "invalid");
	mg_ruleset_free(rs);

	/* a /0 is an ordinary prefix: the fallback of its family only */
	rs = build_text(
		fmt(P1 "identities = (\n"
		       "{ name = \"all4\"; prefixes = [\"0.0.0.0/0\"]; },\n"
		       "{ name = \"a\"; prefixes = [\"10.0.0.0/8\"]; }\n"
		       ");\n"
		       "services = ( %s );\n",
		    service));
	assert_int_equal(classify(rs, "11.0.0.1", vip4, TCP, 80, 0).identity,
			 1);
	assert_int_equal(classify(rs, "0.0.0.0", vip4, TCP, 80, 0).identity, 1);
	assert_int_equal(
		classify(rs, "255.255.255.255", vip4, TCP, 80, 0).identity, 1);
	assert_int_equal(classify(rs, "10.0.0.1", vip4, TCP, 80, 0).identity,
			 2);
	assert_int_equal(classify(rs, "2001:db9::1", vip6, TCP, 80, 0).identity,
			 MG_IDENTITY_UNKNOWN);
	mg_ruleset_free(rs);

	/* the same for IPv6, a /0 alone in its trie, and a /0 sharing an
	 * identity with deeper prefixes */
	rs = build_text(fmt(P1
			    "identities = (\n"
			    "{ name = \"a\"; prefixes = [\"10.0.0.0/8\", "
			    "\"2001:db8::/32\"]; },\n"
			    "{ name = \"all6\"; prefixes = [\"::/0\", "
			    "\"2001:db8:5::/48\"]; },\n"
			    "{ name = \"all4\"; prefixes = [\"0.0.0.0/0\"]; }\n"
			    ");\n"
			    "services = ( %s );\n",
			    service));
	assert_int_equal(
		classify(rs, "2001:db8:9::1", vip6, TCP, 80, 0).identity, 1);
	assert_int_equal(
		classify(rs, "2001:db8:5::1", vip6, TCP, 80, 0).identity, 2);
	assert_int_equal(classify(rs, "::", vip6, TCP, 80, 0).identity, 2);
	assert_int_equal(classify(rs, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
				  vip6, TCP, 80, 0)
				 .identity,
			 2);
	assert_int_equal(classify(rs, "10.0.0.1", vip4, TCP, 80, 0).identity,
			 1);
	assert_int_equal(classify(rs, "11.0.0.1", vip4, TCP, 80, 0).identity,
			 3);
	mg_ruleset_free(rs);

	/* nothing but a /0 in each family */
	rs = build_text(fmt(P1 "identities = (\n"
			       "{ name = \"all\"; prefixes = [\"0.0.0.0/0\", "
			       "\"::/0\"]; }\n"
			       ");\n"
			       "services = ( %s );\n",
			    service));
	assert_int_equal(classify(rs, "192.0.2.1", vip4, TCP, 80, 0).identity,
			 1);
	assert_int_equal(classify(rs, "2001:db9::1", vip6, TCP, 80, 0).identity,
			 1);
	mg_ruleset_free(rs);
}

/* xorshift64*: a fixed sequence, so a failure replays. */
static uint64_t
next_rand(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

/* Sets the bits of @p a after the first @p len to random values, or
 * clears them. */
static void
set_host_bits(struct mg_addr *a, unsigned int len, bool random, uint64_t *x)
{
	unsigned int bits = a->family == 4 ? 32 : 128, b;

	for (b = len; b < bits; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));

		if (random && (next_rand(x) & 1))
			a->bytes[b / 8] |= m;
		else
			a->bytes[b / 8] &= (uint8_t)~m;
	}
}

/* The longest prefix of @p c covering @p a, the slow way. */
static uint16_t
reference_identity(const struct mg_conf *c, const struct mg_addr *a)
{
	unsigned int i, j, best_len = 0;
	uint16_t best = MG_IDENTITY_UNKNOWN;

	for (i = 0; i < c->n_identities; i++)
		for (j = 0; j < c->identities[i].n_prefixes; j++) {
			const struct mg_prefix *p =
				&c->identities[i].prefixes[j];

			if (mg_prefix_contains(p, a) &&
			    (best == MG_IDENTITY_UNKNOWN ||
			     p->len > best_len)) {
				best = (uint16_t)(i + 1);
				best_len = p->len;
			}
		}
	return best;
}

/* The @p k-th prefix of the generated config. */
static struct mg_prefix *
nth_prefix(struct mg_conf *c, unsigned int k)
{
	return &c->identities[k / MG_CONF_MAX_PREFIXES]
			.prefixes[k % MG_CONF_MAX_PREFIXES];
}

/* A prefix none of the first @p n has: an earlier one made longer, or
 * a fresh one of /16 or longer (IPv6 misses need the space). */
static struct mg_prefix
random_prefix(struct mg_conf *c, unsigned int n, uint64_t *x)
{
	unsigned int bits, min, k;
	struct mg_prefix p;
	bool taken;

	do {
		memset(&p, 0, sizeof(p));
		if (n > 0 && (next_rand(x) & 1)) {
			p = *nth_prefix(c, (unsigned int)(next_rand(x) % n));
			min = p.len;
		} else {
			p.addr.family = (next_rand(x) & 1) ? 4 : 6;
			min = 16;
		}
		bits = p.addr.family == 4 ? 32 : 128;
		/* random past the earlier prefix (all of a fresh one) */
		set_host_bits(&p.addr, p.len, true, x);
		p.len = (uint8_t)(min + next_rand(x) % (bits + 1 - min));
		set_host_bits(&p.addr, p.len, false, x);
		taken = false;
		for (k = 0; k < n && !taken; k++)
			taken = memcmp(nth_prefix(c, k), &p, sizeof(p)) == 0;
	} while (taken);
	return p;
}

/*
 * The identity tries against a linear scan, on a config at the bounds:
 * MG_CONF_MAX_IDENTITIES x MG_CONF_MAX_PREFIXES prefixes of both
 * families, 0.0.0.0/0 and host prefixes among them. Half the prefixes
 * extend an earlier one, so they nest deeply; half the probes fall
 * inside a prefix, the others anywhere. A trie sized too small fails
 * the build.
 */
static void
test_identity_random(void **state)
{
	const uint8_t vip4[4] = { 198, 19, 0, 1 };
	const uint8_t vip6[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, [15] = 1
	};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned int i, j, n = 0, probe, hits = 0;
	struct mg_ruleset *rs;
	struct mg_decision d;
	struct mg_5tuple t;
	struct mg_conf *c;
	struct mg_addr a;

	(void)state;
	c = conf_text(
		fmt(P1 "services = ( %s );\n",
		    svc("s", "", "tcp", "[\"198.19.0.1\", \"2001:db8:100::1\"]",
			"[80]", DUAL_BACKENDS)));
	c->n_identities = MG_CONF_MAX_IDENTITIES;
	for (i = 0; i < MG_CONF_MAX_IDENTITIES; i++) {
		memset(&c->identities[i], 0, sizeof(c->identities[i]));
		snprintf(c->identities[i].name, MG_CONF_NAME_LEN, "id%u", i);
		for (j = 0; j < MG_CONF_MAX_PREFIXES; j++, n++) {
			if (n == 0) {
				assert_true(mg_addr_parse("0.0.0.0", &a));
				*nth_prefix(c, n) =
					(struct mg_prefix){ .addr = a,
							    .len = 0 };
			} else {
				*nth_prefix(c, n) = random_prefix(c, n, &x);
			}
			c->identities[i].n_prefixes = j + 1;
		}
	}
	rs = build_conf(c);

	memset(&t, 0, sizeof(t));
	t.proto = TCP;
	t.dport = rte_cpu_to_be_16(80);
	for (probe = 0; probe < 20000; probe++) {
		const struct mg_prefix *q =
			nth_prefix(c, (unsigned int)(next_rand(&x) % n));
		uint16_t want;
		char buf[64];

		a = q->addr;
		set_host_bits(&a, probe % 2 == 0 ? q->len : 0, true, &x);
		want = reference_identity(c, &a);
		hits += want != MG_IDENTITY_UNKNOWN;
		t.family = a.family;
		memcpy(t.src, a.bytes, sizeof(t.src));
		memset(t.dst, 0, sizeof(t.dst));
		memcpy(t.dst, a.family == 4 ? vip4 : vip6,
		       a.family == 4 ? sizeof(vip4) : sizeof(vip6));
		assert_true(mg_ruleset_classify(rs, &t, 0, 0, &d));
		if (d.identity != want)
			print_error("probe %u: %s -> identity %u, want %u\n",
				    probe, mg_addr_format(&a, buf, sizeof(buf)),
				    d.identity, want);
		assert_int_equal(d.identity, want);
	}
	/* both outcomes were exercised: IPv6 has no /0 */
	print_message("# %u of 20000 probes matched a prefix\n", hits);
	assert_true(hits > 10000 && hits < 20000);
	mg_ruleset_free(rs);
	mg_conf_free(c);
}

static void
test_service_lookup(void **state)
{
	const char *c = "10.0.0.1", *v = "198.19.0.1";
	struct mg_ruleset *rs;

	(void)state;
	rs = build_text(fmt(
		P1 "services = (\n%s,\n%s,\n%s,\n%s\n);\n",
		svc("web", "", "tcp", "[\"198.19.0.1\"]", "(80, \"8000-8099\")",
		    "198.19.1.1"),
		svc("dns", "", "udp", "[\"198.19.0.1\"]", "[53]", "198.19.1.1"),
		svc("web2", "", "tcp", "[\"198.19.0.1\", \"198.19.0.2\"]",
		    "(\"8100-8199\", 443)", "198.19.1.1"),
		svc("web6", "", "tcp", "[\"2001:db8:100::1\"]", "[80]",
		    "2001:db8:101::1")));
	assert_int_equal(mg_ruleset_n_services(rs), 4);
	assert_int_equal(classify(rs, c, v, TCP, 80, 0).service, 0);
	assert_int_equal(classify(rs, c, v, TCP, 8000, 0).service, 0);
	assert_int_equal(classify(rs, c, v, TCP, 8050, 0).service, 0);
	assert_int_equal(classify(rs, c, v, TCP, 8099, 0).service, 0);
	assert_int_equal(classify(rs, c, v, TCP, 8100, 0).service, 2);
	assert_int_equal(classify(rs, c, v, TCP, 8199, 0).service, 2);
	assert_int_equal(classify(rs, c, v, TCP, 443, 0).service, 2);
	assert_int_equal(classify(rs, c, "198.19.0.2", TCP, 443, 0).service, 2);
	assert_int_equal(classify(rs, c, v, UDP, 53, 0).service, 1);
	assert_int_equal(
		classify(rs, "2001:db8::1", "2001:db8:100::1", TCP, 80, 0)
			.service,
		3);
	/* misses: port outside every range, wrong protocol, other VIP */
	assert_false(matches(rs, c, v, TCP, 7999));
	assert_false(matches(rs, c, v, TCP, 8200));
	assert_false(matches(rs, c, v, TCP, 81));
	assert_false(matches(rs, c, v, TCP, 1));
	assert_false(matches(rs, c, v, TCP, 65535));
	assert_false(matches(rs, c, v, UDP, 80));
	assert_false(matches(rs, c, v, TCP, 53));
	assert_false(matches(rs, c, "198.19.0.2", TCP, 80));
	assert_false(matches(rs, c, "198.19.0.3", TCP, 80));
	assert_false(matches(rs, "2001:db8::1", "2001:db8:100::1", UDP, 80));
	assert_string_equal(mg_ruleset_service_name(rs, 2), "web2");
	assert_string_equal(mg_ruleset_service_name(rs, 4), "invalid");
	assert_string_equal(mg_ruleset_version_name(rs, 1, 0), "v1");
	assert_string_equal(mg_ruleset_version_name(rs, 1, 1), "invalid");
	mg_ruleset_free(rs);
}

/* A connection admitted under one ruleset finds its service and caller
 * again in the next, whose indexes differ, by their ids. */
static void
test_ids_after_reload(void **state)
{
	static const char ids[] =
		"identities = ( { name = \"a\"; prefixes = [\"10.0.1.0/24\"]; "
		"}, { name = \"b\"; prefixes = [\"10.0.2.0/24\"]; } );\n";
	static const char ids_swapped[] =
		"identities = ( { name = \"b\"; prefixes = [\"10.0.2.0/24\"]; "
		"}, { name = \"a\"; prefixes = [\"10.0.1.0/24\"]; } );\n";
	const char *web =
		svc("web", "", "tcp", "[\"198.19.0.1\"]", "[80]", "198.19.1.1");
	const char *api =
		svc("api", "", "tcp", "[\"198.19.0.2\"]", "[80]", "198.19.1.2");
	struct mg_5tuple t = tuple("10.0.2.9", "198.19.0.2", TCP, 80);
	struct mg_ruleset *old, *new;
	struct mg_decision d;
	uint16_t service, identity;

	(void)state;
	old = build_text(
		fmt(P1 "%sservices = (\n%s,\n%s\n);\n", ids, web, api));
	new = build_text(fmt(P1 "unmatched = \"forward\";\n%sservices = "
				"(\n%s,\n%s\n);\n",
			     ids_swapped, api, web));
	/* wire mode travels with the ruleset, swapped with the services */
	assert_false(mg_ruleset_forward_unmatched(old));
	assert_true(mg_ruleset_forward_unmatched(new));
	assert_true(mg_ruleset_is_service(old, &t));
	d = classify(old, "10.0.2.9", "198.19.0.2", TCP, 80, 0);
	assert_string_equal(mg_ruleset_service_name(old, d.service), "api");
	assert_int_equal(d.service, 1);
	assert_int_equal(d.identity, 2);
	assert_string_equal(mg_ruleset_identity_name(old, d.identity), "b");
	assert_int_equal(mg_ruleset_service_of_id(old, d.service_id), 1);
	assert_int_equal(mg_ruleset_identity_of_id(old, d.identity_id), 2);
	/* the ids of the old decision, read under the new ruleset */
	service = mg_ruleset_service_of_id(new, d.service_id);
	identity = mg_ruleset_identity_of_id(new, d.identity_id);
	assert_int_equal(service, 0);
	assert_string_equal(mg_ruleset_service_name(new, service), "api");
	assert_int_equal(identity, 1);
	assert_string_equal(mg_ruleset_identity_name(new, identity), "b");
	/* and the new ruleset's own decision carries the same ids */
	d = classify(new, "10.0.2.9", "198.19.0.2", TCP, 80, 0);
	assert_int_equal(d.service, 0);
	assert_int_equal(mg_ruleset_service_of_id(old, d.service_id), 1);
	assert_int_equal(mg_ruleset_identity_of_id(old, d.identity_id), 2);
	t = tuple("10.0.2.9", "198.19.0.3", TCP, 80);
	assert_false(mg_ruleset_is_service(new, &t));
	mg_ruleset_free(old);
	mg_ruleset_free(new);
}

/* Caller limits compiled into a ruleset: the one naming the service
 * beats the identity's own; ids are the table's and survive a reload
 * that reorders or drops limits. */
static void
test_limits(void **state)
{
	static const char ids[] =
		"identities = ( { name = \"a\"; prefixes = [\"10.0.1.0/24\"]; "
		"}, { name = \"b\"; prefixes = [\"10.0.2.0/24\"]; } );\n";
	const char *web =
		svc("web", "", "tcp", "[\"198.19.0.1\"]", "[80]", "198.19.1.1");
	const char *api =
		svc("api", "", "tcp", "[\"198.19.0.2\"]", "[80]", "198.19.1.2");
	const char *lims =
		"limits = (\n"
		"{ name = \"a-api\"; identity = \"a\"; service = \"api\"; "
		"max_connections = 5; packets = { rate = 100; }; },\n"
		"{ name = \"a-all\"; identity = \"a\"; max_connections = 9;\n"
		"  bytes = { rate = 100000; };\n"
		"  per_source = { new_connections = { rate = 3; };\n"
		"                 packets = { rate = 50; }; }; },\n"
		"{ name = \"strangers\"; identity = \"unknown\"; "
		"new_connections = { rate = 10; }; }\n);\n";
	const char *lims2 =
		"limits = (\n"
		"{ name = \"strangers\"; identity = \"unknown\"; "
		"max_connections = 1; },\n"
		"{ name = \"b-all\"; identity = \"b\"; max_connections = 2; "
		"},\n"
		"{ name = \"b-web\"; identity = \"b\"; service = \"web\";\n"
		"  per_source = { max_connections = 1; }; }\n);\n";
	const struct mg_ruleset_limit *l, *l2;
	struct mg_limit_table *t;
	struct mg_ruleset *rs, *rs2;
	struct mg_conf *c;
	char err[256] = "";
	uint32_t strangers;

	(void)state;
	t = mg_limit_table_create("test_rs_limits", 8, 2, 64, 1, SOCKET_ID_ANY,
				  rte_get_tsc_hz());
	assert_non_null(t);
	c = conf_text(
		fmt(P1 "%sservices = (\n%s,\n%s\n);\n%s", ids, web, api, lims));
	rs = build_conf(c);
	/* not yet compiled: no limits */
	assert_null(mg_ruleset_limit(rs, 1, 0));
	assert_int_equal(mg_ruleset_set_limits(rs, c, t, err, sizeof(err)), 0);
	mg_conf_free(c);
	/* a -> web: the identity's; a -> api: the service's own */
	l = mg_ruleset_limit(rs, 1, 0);
	assert_non_null(l);
	assert_string_equal(mg_limit_name(t, l->id), "a-all");
	assert_true(l->per_source);
	assert_int_equal(l->all.max_conns, 9);
	assert_int_equal(l->source.conn.rate, 3);
	/* how a packet is metered, read inline per packet */
	assert_int_equal(mg_ruleset_limit_meter(rs, l->id),
			 MG_RULESET_METER_ALL | MG_RULESET_METER_BYTES |
				 MG_RULESET_METER_SOURCE);
	l = mg_ruleset_limit(rs, 1, 1);
	assert_non_null(l);
	assert_string_equal(mg_limit_name(t, l->id), "a-api");
	assert_false(l->per_source);
	assert_ptr_equal(mg_ruleset_limit_by_id(rs, l->id), l);
	assert_int_equal(mg_ruleset_limit_meter(rs, l->id),
			 MG_RULESET_METER_ALL);
	assert_ptr_equal(mg_ruleset_limit_of(rs, 0), l);
	assert_null(mg_ruleset_limit_of(rs, 3));
	/* b: none; unknown callers: theirs */
	assert_null(mg_ruleset_limit(rs, 2, 0));
	assert_null(mg_ruleset_limit(rs, 2, 1));
	l = mg_ruleset_limit(rs, MG_IDENTITY_UNKNOWN, 1);
	assert_non_null(l);
	strangers = l->id;
	assert_string_equal(mg_limit_name(t, strangers), "strangers");
	/* no packet rate: nothing to meter */
	assert_int_equal(mg_ruleset_limit_meter(rs, strangers), 0);
	/* out of range asks get nothing */
	assert_null(mg_ruleset_limit(rs, 99, 0));
	assert_null(mg_ruleset_limit(rs, 1, 99));
	assert_null(mg_ruleset_limit_by_id(rs, 99));
	assert_int_equal(mg_ruleset_limit_meter(rs, 99), 0);

	/* the reload: "strangers" keeps its id; "a-*" are gone from the
	 * new ruleset but keep theirs in the table */
	c = conf_text(fmt(P1 "%sservices = (\n%s,\n%s\n);\n%s", ids, web, api,
			  lims2));
	rs2 = build_conf(c);
	assert_int_equal(mg_ruleset_set_limits(rs2, c, t, err, sizeof(err)), 0);
	mg_conf_free(c);
	l2 = mg_ruleset_limit(rs2, MG_IDENTITY_UNKNOWN, 0);
	assert_non_null(l2);
	assert_int_equal(l2->id, strangers);
	assert_int_equal(l2->all.max_conns, 1);
	assert_null(
		mg_ruleset_limit_by_id(rs2, mg_ruleset_limit(rs, 1, 0)->id));
	/* nor metered there */
	assert_int_equal(
		mg_ruleset_limit_meter(rs2, mg_ruleset_limit(rs, 1, 0)->id), 0);
	assert_string_equal(mg_limit_name(t, mg_ruleset_limit(rs2, 2, 0)->id),
			    "b-web");
	assert_string_equal(mg_limit_name(t, mg_ruleset_limit(rs2, 2, 1)->id),
			    "b-all");
	assert_int_equal(mg_limit_count(t), 5);
	mg_ruleset_free(rs2);

	/* a third per_source limit finds no region left: refused, with
	 * the line */
	c = conf_text(fmt(P1 "%sservices = (\n%s,\n%s\n);\n"
			     "limits = (\n{ name = \"b-api\"; identity = "
			     "\"b\"; service = \"api\";\n"
			     "  per_source = { max_connections = 1; }; }\n);\n",
			  ids, web, api));
	rs2 = build_conf(c);
	assert_int_equal(mg_ruleset_set_limits(rs2, c, t, err, sizeof(err)),
			 -ENOSPC);
	assert_non_null(strstr(err, "t.conf:8: limit 'b-api': no room for "
				    "another per_source limit until a "
				    "restart"));
	mg_conf_free(c);
	mg_ruleset_free(rs2);
	mg_ruleset_free(rs);
	mg_limit_table_free(t);
}

/* fe (prod), ci (dev), ops (no env); shop (prod), ledger (dev),
 * dns (infra). */
static const char *
policy_base(void)
{
	return fmt(P1 "identities = (\n"
		      "{ name = \"fe\"; env = \"prod\"; "
		      "prefixes = [\"10.1.0.0/16\"]; },\n"
		      "{ name = \"ci\"; env = \"dev\"; "
		      "prefixes = [\"10.2.0.0/16\"]; },\n"
		      "{ name = \"ops\"; prefixes = [\"10.3.0.0/16\"]; }\n"
		      ");\n"
		      "services = (\n%s,\n%s,\n%s\n);\n",
		   svc("shop", "prod", "tcp", "[\"198.19.0.1\"]", "[80]",
		       "198.19.1.1"),
		   svc("ledger", "dev", "tcp", "[\"198.19.0.2\"]", "[80]",
		       "198.19.1.1"),
		   svc("dns", "infra", "udp", "[\"198.19.0.3\"]", "[53]",
		       "198.19.1.1"));
}

#define FE     "10.1.0.1"
#define CI     "10.2.0.1"
#define OPS    "10.3.0.1"
#define NOBODY "10.9.0.1"
#define SHOP   "198.19.0.1", TCP, 80
#define LEDGER "198.19.0.2", TCP, 80
#define DNS    "198.19.0.3", UDP, 53
#define DEF    MG_RULE_DEFAULT

static void
check(const struct mg_ruleset *rs, const char *src, const char *dst,
      uint8_t proto, uint16_t port, enum mg_verdict verdict, uint16_t rule,
      uint16_t dry_rule)
{
	struct mg_decision d = classify(rs, src, dst, proto, port, 0);

	if (d.verdict != verdict || d.rule != rule || d.dry_rule != dry_rule)
		print_error("%s -> %s: verdict %u rule %u dry %u\n", src, dst,
			    d.verdict, d.rule, d.dry_rule);
	assert_int_equal(d.verdict, verdict);
	assert_int_equal(d.rule, rule);
	assert_int_equal(d.dry_rule, dry_rule);
}

/* Builds policy_base() with these rules, given as rule() texts. */
static struct mg_ruleset *
with_policies(unsigned int n, ...)
{
	char text[8192];
	size_t off;
	va_list ap;
	unsigned int i;

	off = (size_t)snprintf(text, sizeof(text), "%spolicies = (\n",
			       policy_base());
	va_start(ap, n);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"%s%s\n", va_arg(ap, const char *),
					i + 1 < n ? "," : "");
	va_end(ap);
	snprintf(text + off, sizeof(text) - off, ");\n");
	return build_text(text);
}

/* One policy; @p from and @p to are config text ("[\"fe\"]"). */
static const char *
rule(const char *name, const char *action, const char *from, const char *to)
{
	return fmt("{ name = \"%s\"; action = \"%s\"; from = %s; to = %s; }",
		   name, action, from, to);
}

static const char *
dry(const char *name, const char *action, const char *from, const char *to)
{
	return fmt("{ name = \"%s\"; action = \"%s\"; from = %s; to = %s; "
		   "dry_run = true; }",
		   name, action, from, to);
}

static void
test_policy_default_and_allow(void **state)
{
	struct mg_ruleset *rs;

	(void)state;
	rs = build_text(policy_base());
	check(rs, FE, SHOP, MG_VERDICT_DENY, DEF, DEF);
	check(rs, NOBODY, DNS, MG_VERDICT_DENY, DEF, DEF);
	assert_string_equal(mg_ruleset_rule_name(rs, DEF), "default-deny");
	mg_ruleset_free(rs);

	rs = with_policies(1,
			   rule("fe-shop", "allow", "[\"fe\"]", "[\"shop\"]"));
	check(rs, FE, SHOP, MG_VERDICT_ALLOW, 0, DEF);
	check(rs, FE, LEDGER, MG_VERDICT_DENY, DEF, DEF);
	check(rs, CI, SHOP, MG_VERDICT_DENY, DEF, DEF);
	check(rs, NOBODY, SHOP, MG_VERDICT_DENY, DEF, DEF);
	assert_int_equal(mg_ruleset_n_rules(rs), 1);
	assert_string_equal(mg_ruleset_rule_name(rs, 0), "fe-shop");
	assert_string_equal(mg_ruleset_rule_name(rs, 1), "invalid");
	mg_ruleset_free(rs);
}

/* An enforced deny wins wherever it stands; the first matching rule of
 * the winning kind is the one named. */
static void
test_policy_deny_beats_allow(void **state)
{
	struct mg_ruleset *rs;

	(void)state;
	rs = with_policies(
		3, rule("all", "allow", "[\"*\"]", "[\"*\"]"),
		rule("fe-too", "allow", "[\"fe\"]", "[\"shop\"]"),
		rule("no-fe-shop", "deny", "[\"fe\"]", "[\"shop\"]"));
	check(rs, FE, SHOP, MG_VERDICT_DENY, 2, DEF);
	check(rs, CI, SHOP, MG_VERDICT_ALLOW, 0, DEF);
	check(rs, FE, LEDGER, MG_VERDICT_ALLOW, 0, DEF);
	mg_ruleset_free(rs);

	rs = with_policies(2,
			   rule("no-fe-shop", "deny", "[\"fe\"]", "[\"shop\"]"),
			   rule("all", "allow", "[\"*\"]", "[\"*\"]"));
	check(rs, FE, SHOP, MG_VERDICT_DENY, 0, DEF);
	check(rs, CI, SHOP, MG_VERDICT_ALLOW, 1, DEF);
	mg_ruleset_free(rs);
}

/* A denial answers as its rule says, else as the config says. */
static void
test_policy_deny_action(void **state)
{
	char text[8192];
	struct mg_ruleset *rs;

	(void)state;
	rs = with_policies(2,
			   fmt("{ name = \"quiet\"; action = \"deny\"; "
			       "from = [\"ci\"]; to = [\"shop\"]; "
			       "deny_action = \"drop\"; }"),
			   rule("loud", "deny", "[\"fe\"]", "[\"shop\"]"));
	check(rs, CI, SHOP, MG_VERDICT_DENY, 0, DEF);
	assert_int_equal(classify(rs, CI, SHOP, 0).deny_action, MG_DENY_DROP);
	assert_int_equal(classify(rs, FE, SHOP, 0).deny_action, MG_DENY_RESET);
	/* no rule: the default deny answers */
	assert_int_equal(classify(rs, NOBODY, SHOP, 0).deny_action,
			 MG_DENY_RESET);
	mg_ruleset_free(rs);

	snprintf(text, sizeof(text),
		 "%sdeny_action = \"drop\";\npolicies = (\n%s\n);\n",
		 policy_base(),
		 fmt("{ name = \"loud\"; action = \"deny\"; "
		     "from = [\"fe\"]; to = [\"shop\"]; "
		     "deny_action = \"reset\"; }"));
	rs = build_text(text);
	assert_int_equal(classify(rs, FE, SHOP, 0).deny_action, MG_DENY_RESET);
	assert_int_equal(classify(rs, NOBODY, SHOP, 0).deny_action,
			 MG_DENY_DROP);
	assert_int_equal(classify(rs, CI, SHOP, 0).deny_action, MG_DENY_DROP);
	mg_ruleset_free(rs);
}

static void
test_policy_env_and_any(void **state)
{
	struct mg_ruleset *rs;

	(void)state;
	/* dev never reaches prod, as one rule, whatever else allows */
	rs = with_policies(2, rule("all", "allow", "[\"*\"]", "[\"*\"]"),
			   rule("dev-never-prod", "deny", "[\"env:dev\"]",
				"[\"env:prod\"]"));
	check(rs, CI, SHOP, MG_VERDICT_DENY, 1, DEF);
	check(rs, CI, LEDGER, MG_VERDICT_ALLOW, 0, DEF);
	check(rs, CI, DNS, MG_VERDICT_ALLOW, 0, DEF);
	check(rs, FE, SHOP, MG_VERDICT_ALLOW, 0, DEF);
	check(rs, OPS, SHOP, MG_VERDICT_ALLOW, 0, DEF);
	/* the unknown caller has no env: an env rule never covers it */
	check(rs, NOBODY, SHOP, MG_VERDICT_ALLOW, 0, DEF);
	mg_ruleset_free(rs);

	/* "*" covers the unknown caller too; "unknown" names it alone */
	rs = with_policies(
		3, rule("dns-for-all", "allow", "[\"*\"]", "[\"dns\"]"),
		rule("no-strangers", "deny", "[\"unknown\"]", "[\"*\"]"),
		rule("prod", "allow", "[\"env:prod\"]", "[\"*\"]"));
	check(rs, FE, DNS, MG_VERDICT_ALLOW, 0, DEF);
	check(rs, OPS, DNS, MG_VERDICT_ALLOW, 0, DEF);
	check(rs, NOBODY, DNS, MG_VERDICT_DENY, 1, DEF);
	check(rs, FE, LEDGER, MG_VERDICT_ALLOW, 2, DEF);
	check(rs, OPS, LEDGER, MG_VERDICT_DENY, DEF, DEF);
	mg_ruleset_free(rs);
}

static void
test_policy_dry_run(void **state)
{
	struct mg_ruleset *rs;

	(void)state;
	/* a dry-run deny marks what it would drop, and only that */
	rs = with_policies(
		4, rule("all", "allow", "[\"*\"]", "[\"*\"]"),
		dry("try-no-ops", "deny", "[\"ops\"]", "[\"*\"]"),
		dry("try-no-shop", "deny", "[\"ops\", \"fe\"]", "[\"shop\"]"),
		rule("no-ci-shop", "deny", "[\"ci\"]", "[\"shop\"]"));
	check(rs, OPS, SHOP, MG_VERDICT_ALLOW_DRY_DENY, 0, 1);
	check(rs, OPS, DNS, MG_VERDICT_ALLOW_DRY_DENY, 0, 1);
	check(rs, FE, SHOP, MG_VERDICT_ALLOW_DRY_DENY, 0, 2);
	check(rs, FE, DNS, MG_VERDICT_ALLOW, 0, DEF);
	/* already denied: the dry-run deny has nothing to add */
	check(rs, CI, SHOP, MG_VERDICT_DENY, 3, DEF);
	mg_ruleset_free(rs);

	/* a dry-run deny on a default-denied pair changes nothing */
	rs = with_policies(1, dry("try", "deny", "[\"fe\"]", "[\"shop\"]"));
	check(rs, FE, SHOP, MG_VERDICT_DENY, DEF, DEF);
	mg_ruleset_free(rs);

	/* a dry-run allow changes nothing: not on a default deny, not on an
	 * enforced deny, not on an allow, and it does not cancel a dry-run
	 * deny */
	rs = with_policies(
		6, dry("try-ci", "allow", "[\"ci\"]", "[\"*\"]"),
		rule("fe", "allow", "[\"fe\"]", "[\"*\"]"),
		dry("try-fe", "allow", "[\"fe\"]", "[\"*\"]"),
		rule("no-ops", "deny", "[\"ops\"]", "[\"*\"]"),
		dry("try-ops", "allow", "[\"ops\"]", "[\"*\"]"),
		dry("try-no-fe-dns", "deny", "[\"fe\"]", "[\"dns\"]"));
	check(rs, CI, SHOP, MG_VERDICT_DENY, DEF, DEF);
	check(rs, FE, SHOP, MG_VERDICT_ALLOW, 1, DEF);
	check(rs, OPS, SHOP, MG_VERDICT_DENY, 3, DEF);
	check(rs, FE, DNS, MG_VERDICT_ALLOW_DRY_DENY, 1, 5);
	assert_string_equal(mg_ruleset_rule_name(rs, 5), "try-no-fe-dns");
	mg_ruleset_free(rs);
}

#define N_HASHES 100000

/*
 * Each of N distinct hashes (CRC32-C of a counter) picks version v with
 * probability p = weight_v / total. The count of v is binomial(N, p): we
 * accept |count - N p| <= 4 sqrt(N p (1 - p)), which a correct table
 * fails with probability below 1e-4 (normal tail at 4 sigma: 6.3e-5). The
 * table's own rounding (1/16384 slots) is below 1 count here. Compared
 * squared to stay in integer-exact doubles without libm.
 */
static void
assert_share(unsigned int count, uint32_t weight, uint32_t total)
{
	double p = (double)weight / total, dev = count - N_HASHES * p;
	double var = N_HASHES * p * (1 - p);

	if (dev * dev > 16 * var)
		print_error("count %u, expected %.0f +- %.0f (4 sd^2)\n", count,
			    N_HASHES * p, 16 * var);
	assert_true(dev * dev <= 16 * var);
}

/*
 * The inverse of the remix mg_ruleset_classify() applies to the hash
 * first (murmur3's finalizer): unremix(k) is the hash the ruleset sees
 * as k.
 */
static uint32_t
unremix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7ed1b41du; /* 0xc2b2ae35^-1 mod 2^32 */
	h ^= h >> 13 ^ h >> 26;
	h *= 0xa5cb9243u; /* 0x85ebca6b^-1 mod 2^32 */
	h ^= h >> 16;
	return h;
}

/*
 * Exact shares: version choice indexes a table with the (remixed)
 * hash's low bits, so 2^16 consecutive remixed hashes visit every slot
 * equally often and the shares they give are the table's own. Each must
 * be within the promised resolution, 1/10,000, of weight / total.
 */
static void
assert_exact_shares(const struct mg_ruleset *rs, const char *vip,
		    const uint32_t *weights, unsigned int n)
{
	unsigned int count[MG_CONF_MAX_VERSIONS] = { 0 }, v;
	uint32_t h, total = 0;

	for (h = 0; h < 65536; h++)
		count[classify(rs, "10.0.0.1", vip, TCP, 80, unremix(h))
			      .version]++;
	for (v = 0; v < n; v++)
		total += weights[v];
	for (v = 0; v < n; v++) {
		double err =
			(double)count[v] / 65536 - (double)weights[v] / total;

		if (err * err > 1e-8)
			print_error(
				"version %u: share %u/65536, weight %u/%u\n", v,
				count[v], weights[v], total);
		assert_true(err * err <= 1e-8);
		if (weights[v] == 0)
			assert_int_equal(count[v], 0);
	}
}

static void
test_weighted_pick(void **state)
{
	static const uint32_t split[] = { 9900, 100 };
	static const uint32_t three[] = { 500000, 300000, 0, 200000 };
	unsigned int ver[4] = { 0 }, be[3] = { 0 }, i;
	struct mg_ruleset *rs;
	struct mg_decision d, again;

	(void)state;
	rs = build_text(
		P1
		"services = (\n"
		"{ name = \"canary\"; protocol = \"tcp\"; "
		"addresses = [\"198.19.0.1\"]; ports = [80]; versions = (\n"
		"{ name = \"v1\"; weight = 9900; backends = [\"198.19.1.1\", "
		"\"198.19.1.2\", \"198.19.1.3\"]; },\n"
		"{ name = \"v2\"; weight = 100; backends = [\"198.19.2.1\"]; }"
		"); },\n"
		"{ name = \"three\"; protocol = \"tcp\"; "
		"addresses = [\"198.19.0.2\"]; ports = [80]; versions = (\n"
		"{ name = \"a\"; weight = 500000; backends = [\"198.19.3.1\"]; "
		"},\n"
		"{ name = \"b\"; weight = 300000; backends = [\"198.19.3.2\"]; "
		"},\n"
		"{ name = \"off\"; weight = 0; backends = [\"198.19.3.3\"]; "
		"},\n"
		"{ name = \"c\"; weight = 200000; backends = [\"198.19.3.4\"]; "
		"}"
		"); }\n);\n");
	for (i = 0; i < N_HASHES; i++) {
		d = classify(rs, "10.0.0.1", "198.19.0.1", TCP, 80,
			     rte_hash_crc_4byte(i, 0));
		ver[d.version]++;
		if (d.version == 0)
			be[d.backend]++;
	}
	assert_int_equal(ver[0] + ver[1], N_HASHES);
	assert_share(ver[1], 100, 10000);
	assert_share(ver[0], 9900, 10000);
	/* backends within a version: uniform over three */
	for (i = 0; i < 3; i++)
		assert_true(be[i] > 0);
	for (i = 0; i < 3; i++) {
		double p = 1.0 / 3, dev = be[i] - ver[0] * p;

		assert_true(dev * dev <= 16 * ver[0] * p * (1 - p));
	}

	memset(ver, 0, sizeof(ver));
	for (i = 0; i < N_HASHES; i++) {
		d = classify(rs, "10.0.0.1", "198.19.0.2", TCP, 80,
			     rte_hash_crc_4byte(i, 0x5eed));
		ver[d.version]++;
	}
	assert_share(ver[0], 500000, 1000000);
	assert_share(ver[1], 300000, 1000000);
	assert_int_equal(ver[2], 0); /* weight 0: nothing */
	assert_share(ver[3], 200000, 1000000);
	assert_string_equal(mg_ruleset_version_name(rs, 1, 2), "off");
	assert_exact_shares(rs, "198.19.0.1", split, 2);
	assert_exact_shares(rs, "198.19.0.2", three, 4);

	/* a choice depends on the hash alone: stable for a connection */
	for (i = 0; i < 1000; i++) {
		uint32_t h = rte_hash_crc_4byte(i, 7);

		d = classify(rs, "10.0.0.1", "198.19.0.1", TCP, 80, h);
		again = classify(rs, "10.9.9.9", "198.19.0.1", TCP, 80, h);
		assert_int_equal(d.version, again.version);
		assert_int_equal(d.backend, again.backend);
		assert_memory_equal(&d.backend_addr, &again.backend_addr,
				    sizeof(d.backend_addr));
	}
	mg_ruleset_free(rs);
}

static void
test_backend_port(void **state)
{
	struct mg_ruleset *rs;
	struct mg_decision d;
	char buf[64];
	uint32_t h;
	bool seen[3] = { false };

	(void)state;
	rs = build_text(P1 "services = (\n"
			   "{ name = \"s\"; protocol = \"tcp\"; "
			   "addresses = [\"198.19.0.1\", \"2001:db8:100::1\"]; "
			   "ports = (80, \"8000-8099\"); versions = (\n"
			   "{ name = \"v\"; backends = [\"198.19.1.1\", "
			   "\"[2001:db8:101::7]:8080\", "
			   "\"198.19.1.2:8080\"]; }); },\n"
			   "{ name = \"s6\"; protocol = \"tcp\"; "
			   "addresses = [\"2001:db8:100::2\"]; ports = [443]; "
			   "versions = ( { name = \"v\"; backends = "
			   "[\"[2001:db8:101::1]:8443\"]; }); }\n);\n");
	for (h = 0; h < 64; h++) {
		d = classify(rs, "10.0.0.1", "198.19.0.1", TCP, 8042, h << 16);
		mg_addr_format(&d.backend_addr, buf, sizeof(buf));
		if (d.backend == 0) {
			/* port 0 in the config: the client's port stays */
			assert_string_equal(buf, "198.19.1.1");
			assert_int_equal(d.backend_port,
					 rte_cpu_to_be_16(8042));
		} else {
			assert_string_equal(buf, "198.19.1.2");
			assert_int_equal(d.backend_port,
					 rte_cpu_to_be_16(8080));
		}
		seen[d.backend] = true;
	}
	assert_true(seen[0] && seen[1]);
	/* an IPv6 caller only ever gets the IPv6 backend (no NAT64) */
	for (h = 0; h < 64; h++) {
		d = classify(rs, "2001:db8::1", "2001:db8:100::1", TCP, 80,
			     h << 16);
		assert_string_equal(
			mg_addr_format(&d.backend_addr, buf, sizeof(buf)),
			"2001:db8:101::7");
		assert_int_equal(d.backend_port, rte_cpu_to_be_16(8080));
	}
	d = classify(rs, "2001:db8::1", "2001:db8:100::2", TCP, 443, 99);
	assert_string_equal(mg_addr_format(&d.backend_addr, buf, sizeof(buf)),
			    "2001:db8:101::1");
	assert_int_equal(d.backend_port, rte_cpu_to_be_16(8443));
	assert_int_equal(d.version, 0);
	mg_ruleset_free(rs);
}

/* The bundled example: gateway addresses, routes, neighbours, verdicts. */
static void
test_mesh_example(void **state)
{
	static const char *const locals[] = { "198.18.0.1", "2001:db8:101::fe",
					      "198.19.0.10",
					      "2001:db8:100::53" };
	struct mg_ruleset *rs;
	struct mg_conf *c;
	struct mg_addr a, nh;
	uint8_t mac[6];
	char buf[64];
	unsigned int n;
	uint32_t h;

	(void)state;
	mg_test_key_modes();
	c = mg_conf_load("configs/mesh-example.conf", MG_DRIVERS_CONF_DIR,
			 &errs);
	assert_non_null(c);
	rs = build_conf(c);
	mg_conf_free(c);

	a = addr("198.18.0.1");
	assert_true(mg_ruleset_is_local(rs, 0, &a));
	a = addr("2001:db8:101::fe");
	assert_true(mg_ruleset_is_local(rs, 0, &a));
	a = addr("198.18.0.2");
	assert_false(mg_ruleset_is_local(rs, 0, &a));
	a = addr("198.19.0.10"); /* a VIP, any port */
	assert_true(mg_ruleset_is_local(rs, 0, &a));
	a = addr("2001:db8:100::53");
	assert_true(mg_ruleset_is_local(rs, 0, &a));
	a = addr("198.19.0.11");
	assert_false(mg_ruleset_is_local(rs, 0, &a));
	a = addr("198.18.0.1");
	assert_false(mg_ruleset_is_local(rs, 1, &a)); /* no such port */
	/* the inline filter lets every local address through and rules
	 * most others out: 203.0.113.x falls on bit x, and the example has
	 * far fewer than 64 local addresses */
	for (h = 0; h < RTE_DIM(locals); h++) {
		a = addr(locals[h]);
		assert_true(mg_ruleset_maybe_local(rs, a.bytes));
	}
	n = 0;
	for (h = 0; h < 256; h++) {
		snprintf(buf, sizeof(buf), "203.0.113.%u", h);
		a = addr(buf);
		assert_false(mg_ruleset_is_local(rs, 0, &a));
		n += mg_ruleset_maybe_local(rs, a.bytes);
	}
	assert_in_range(n, 1, 63);

	a = addr("198.18.0.77");
	assert_true(mg_ruleset_next_hop(rs, 0, &a, &nh));
	assert_string_equal(mg_addr_format(&nh, buf, sizeof(buf)),
			    "198.18.0.77");
	a = addr("198.19.1.1");
	assert_true(mg_ruleset_next_hop(rs, 0, &a, &nh));
	assert_string_equal(mg_addr_format(&nh, buf, sizeof(buf)),
			    "198.19.1.1");
	a = addr("8.8.8.8");
	assert_true(mg_ruleset_next_hop(rs, 0, &a, &nh));
	assert_string_equal(mg_addr_format(&nh, buf, sizeof(buf)),
			    "198.18.0.254");
	a = addr("2001:db8::5");
	assert_true(mg_ruleset_next_hop(rs, 0, &a, &nh));
	assert_string_equal(mg_addr_format(&nh, buf, sizeof(buf)),
			    "2001:db8::5");
	a = addr("2001:db8:ffff::1");
	assert_true(mg_ruleset_next_hop(rs, 0, &a, &nh));
	assert_string_equal(mg_addr_format(&nh, buf, sizeof(buf)),
			    "2001:db8::ff");
	assert_false(mg_ruleset_next_hop(rs, 1, &a, &nh));

	a = addr("198.18.0.77");
	assert_true(mg_ruleset_local_addr(rs, 0, &a, &a));
	assert_string_equal(mg_addr_format(&a, buf, sizeof(buf)), "198.18.0.1");
	/* the address on the peer's subnet, not merely the first one */
	a = addr("198.19.1.7");
	assert_true(mg_ruleset_local_addr(rs, 0, &a, &a));
	assert_string_equal(mg_addr_format(&a, buf, sizeof(buf)),
			    "198.19.1.254");
	a = addr("2001:db8::77");
	assert_true(mg_ruleset_local_addr(rs, 0, &a, &a));
	assert_string_equal(mg_addr_format(&a, buf, sizeof(buf)),
			    "2001:db8::1");
	a = addr("198.18.0.77");
	assert_false(mg_ruleset_local_addr(rs, 1, &a, &a));

	a = addr("198.19.1.1");
	assert_true(mg_ruleset_static_neigh(rs, &a, mac));
	assert_int_equal(mac[0], 0x02);
	assert_int_equal(mac[4], 0x01);
	assert_int_equal(mac[5], 0x01);
	a = addr("2001:db8::ff");
	assert_true(mg_ruleset_static_neigh(rs, &a, mac));
	assert_int_equal(mac[5], 0xff);
	a = addr("198.19.1.2");
	assert_false(mg_ruleset_static_neigh(rs, &a, mac));

	/* the example's policies as written in its comments */
	check(rs, "198.18.1.1", "198.19.0.10", TCP, 80, MG_VERDICT_ALLOW, 1,
	      DEF);
	check(rs, "198.18.1.200", "198.19.0.10", TCP, 8080, MG_VERDICT_ALLOW, 1,
	      DEF); /* frontend-canary */
	check(rs, "198.18.2.1", "198.19.0.10", TCP, 80, MG_VERDICT_DENY, 0,
	      DEF);
	check(rs, "2001:db8:2::9", "2001:db8:100::10", TCP, 80, MG_VERDICT_DENY,
	      0, DEF);
	check(rs, "198.18.1.1", "198.19.0.10", TCP, 9443,
	      MG_VERDICT_ALLOW_DRY_DENY, 4, 5);
	check(rs, "203.0.113.1", "198.19.0.53", UDP, 53, MG_VERDICT_ALLOW, 2,
	      DEF);
	check(rs, "198.18.2.1", "198.19.0.20", TCP, 443, MG_VERDICT_ALLOW, 3,
	      DEF);
	check(rs, "198.18.3.10", "198.19.0.20", TCP, 443, MG_VERDICT_DENY, DEF,
	      DEF);
	/* its canary: frontend-canary is pinned to shop's v2, and v2's
	 * own backends, calling shop, are canaries of the chain */
	for (h = 0; h < 100; h++) {
		struct mg_decision d =
			classify(rs, "198.18.1.200", "198.19.0.10", TCP, 80, h);

		assert_int_equal(d.version, 1);
		assert_int_equal(d.pick, MG_PICK_PINNED);
		d = classify(rs, "198.19.1.3", "198.19.0.10", TCP, 80, h);
		assert_int_equal(d.version, 1);
		assert_int_equal(d.pick, MG_PICK_CHAIN);
		d = classify(rs, "2001:db8:101::2", "2001:db8:100::10", TCP, 80,
			     h);
		assert_int_equal(d.pick, MG_PICK_CHAIN);
		assert_string_equal(
			mg_addr_format(&d.backend_addr, buf, sizeof(buf)),
			"2001:db8:101::2");
	}
	mg_ruleset_free(rs);

	/* without gateways, off-link is no route */
	rs = build_text("ports = ( { name = \"e\"; device = \"net_pcap0\"; "
			"profile = \"pcap\"; addresses = [\"198.18.0.1/24\"]; "
			"} );\n");
	a = addr("198.18.0.9");
	assert_true(mg_ruleset_next_hop(rs, 0, &a, &nh));
	a = addr("198.18.1.9");
	assert_false(mg_ruleset_next_hop(rs, 0, &a, &nh));
	a = addr("2001:db8::1");
	assert_false(mg_ruleset_next_hop(rs, 0, &a, &nh));
	assert_false(mg_ruleset_local_addr(rs, 0, &a, &a));
	assert_false(mg_ruleset_static_neigh(rs, &a, mac));
	assert_int_equal(mg_ruleset_n_services(rs), 0);
	assert_false(matches(rs, "10.0.0.1", "198.18.0.1", TCP, 80));
	mg_ruleset_free(rs);
}

/* DPDK heap in use, all sockets. */
static size_t
heap_in_use(void)
{
	struct rte_malloc_socket_stats st;
	unsigned int i;
	size_t sum = 0;

	for (i = 0; i < rte_socket_count(); i++) {
		assert_int_equal(rte_malloc_get_socket_stats(
					 rte_socket_id_by_idx(i), &st),
				 0);
		sum += st.heap_allocsz_bytes;
	}
	return sum;
}

#define RULESET_MAX_BYTES (1u << 20)

/* mg_ruleset_memsize() is what a build takes (the start-up memory check
 * rests on it), to within heap element headers: 8 KiB + 1%. */
static void
check_memsize(const struct mg_conf *c, size_t used)
{
	size_t est = mg_ruleset_memsize(c), slack = 8192 + est / 100;

	assert_true(est + slack >= used);
	assert_true(used + slack >= est);
}

/*
 * An edge box holds two rulesets during a reload: the bundled example,
 * dual-stack, must cost under 1 MiB of DPDK memory (the rte_lpm/rte_lpm6
 * tables it replaced took 128 MiB), and give all of it back.
 */
static void
test_mesh_example_memory(void **state)
{
	struct mg_ruleset *rs;
	struct mg_conf *c;
	size_t before, used;

	(void)state;
	mg_test_key_modes();
	c = mg_conf_load("configs/mesh-example.conf", MG_DRIVERS_CONF_DIR,
			 &errs);
	assert_non_null(c);
	before = heap_in_use();
	rs = build_conf(c);
	used = heap_in_use() - before;
	print_message("# mesh-example ruleset: %zu bytes of DPDK heap, "
		      "%zu estimated\n",
		      used, mg_ruleset_memsize(c));
	assert_true(used < RULESET_MAX_BYTES);
	check_memsize(c, used);
	mg_ruleset_free(rs);
	assert_int_equal(heap_in_use(), before);
	mg_conf_free(c);
}

/* Many prefixes of both families: the tries' node pools dominate. */
static void
test_memsize_many_prefixes(void **state)
{
	char *text = malloc(1 << 20), *p;
	struct mg_ruleset *rs;
	struct mg_conf *c;
	size_t before, used;
	unsigned int i, j;

	(void)state;
	assert_non_null(text);
	p = text + sprintf(text, "ports = ({ name = \"e\"; device = "
				 "\"net_null0\"; profile = \"null\"; });\n"
				 "identities = (\n");
	for (i = 0; i < 64; i++) {
		p += sprintf(p, "{ name = \"id%u\"; prefixes = [", i);
		for (j = 0; j < 16; j++)
			p += sprintf(
				p,
				"%s\"10.%u.%u.0/24\", \"2001:db8:%x:%x::/64\"",
				j ? ", " : "", i, j, i, j);
		p += sprintf(p, "]; }%s\n", i < 63 ? "," : "");
	}
	sprintf(p, ");\n");
	c = conf_text(text);
	free(text);
	before = heap_in_use();
	rs = build_conf(c);
	used = heap_in_use() - before;
	print_message("# 2048 prefixes: %zu bytes of DPDK heap, %zu "
		      "estimated\n",
		      used, mg_ruleset_memsize(c));
	check_memsize(c, used);
	mg_ruleset_free(rs);
	mg_conf_free(c);
}

/* Two dual-stack rulesets live at once (a reload), each with its own
 * tries: the same sources map to each one's own identities. */
static void
test_two_rulesets(void **state)
{
	struct mg_ruleset *a, *b;
	struct mg_conf *c;
	size_t before;

	(void)state;
	before = heap_in_use();
	mg_test_key_modes();
	c = mg_conf_load("configs/mesh-example.conf", MG_DRIVERS_CONF_DIR,
			 &errs);
	assert_non_null(c);
	a = build_conf(c);
	mg_conf_free(c);
	b = build_text(fmt(P1 "identities = (\n"
			      "{ name = \"x\"; prefixes = [\"198.18.1.0/24\", "
			      "\"2001:db8:2::/64\"]; },\n"
			      "{ name = \"y\"; prefixes = [\"198.18.2.0/23\", "
			      "\"2001:db8:1::/48\"]; }\n"
			      ");\n"
			      "services = ( %s );\n",
			   svc("s", "", "tcp",
			       "[\"198.19.0.10\", \"2001:db8:100::10\"]",
			       "[80]", DUAL_BACKENDS)));
	assert_true(heap_in_use() - before < 2 * RULESET_MAX_BYTES);
	assert_int_equal(mg_ruleset_n_identities(a), 5); /* and peer:edge-b */
	assert_int_equal(mg_ruleset_n_identities(b), 2);
	assert_string_equal(mg_ruleset_identity_name(a, 1), "frontend");
	assert_string_equal(mg_ruleset_identity_name(b, 1), "x");
	assert_int_equal(
		classify(a, "198.18.1.1", "198.19.0.10", TCP, 80, 0).identity,
		1);
	assert_int_equal(
		classify(b, "198.18.1.1", "198.19.0.10", TCP, 80, 0).identity,
		1);
	assert_int_equal(
		classify(a, "198.18.3.1", "198.19.0.10", TCP, 80, 0).identity,
		MG_IDENTITY_UNKNOWN);
	assert_int_equal(
		classify(b, "198.18.3.1", "198.19.0.10", TCP, 80, 0).identity,
		2);
	/* frontend in a, y in b */
	assert_int_equal(
		classify(a, "2001:db8:1::7", "2001:db8:100::10", TCP, 80, 0)
			.identity,
		1);
	assert_int_equal(
		classify(b, "2001:db8:1::7", "2001:db8:100::10", TCP, 80, 0)
			.identity,
		2);
	/* batch in a (3), x in b */
	assert_int_equal(
		classify(a, "2001:db8:2::7", "2001:db8:100::10", TCP, 80, 0)
			.identity,
		3);
	assert_int_equal(
		classify(b, "2001:db8:2::7", "2001:db8:100::10", TCP, 80, 0)
			.identity,
		1);
	/* the first freed leaves the second intact */
	mg_ruleset_free(a);
	assert_int_equal(
		classify(b, "2001:db8:1::7", "2001:db8:100::10", TCP, 80, 0)
			.identity,
		2);
	mg_ruleset_free(b);
	mg_ruleset_free(NULL);
	assert_int_equal(heap_in_use(), before);
}

/* The library does not trust its input beyond what its tables need. */
static void
test_build_errors(void **state)
{
	struct mg_conf *c;
	size_t before;
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_null(mg_ruleset_build(NULL, SOCKET_ID_ANY, NULL, 1, err,
				     sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	assert_true(err[0] != '\0');

	c = conf_text(fmt(
		P1 "services = (\n%s,\n%s\n);\n",
		svc("a", "", "tcp", "[\"198.19.0.1\"]", "[80]", "198.19.1.1"),
		svc("b", "", "tcp", "[\"198.19.0.1\"]", "[81]", "198.19.1.1")));
	c->services[1].ports[0].lo = 70; /* now overlaps a's port 80 */
	c->services[1].ports[0].hi = 90;
	err[0] = '\0';
	assert_null(
		mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	/* named in port order: b's 70-90 sorts first */
	assert_non_null(strstr(err, "services 'b' and 'a' share an address"));

	c->services[1].ports[0].lo = c->services[1].ports[0].hi = 81;
	c->services[1].versions[0].weight = 0;
	assert_null(
		mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	assert_non_null(strstr(err, "weights of service 'b'"));
	mg_conf_free(c);

	/* prefixes the tries refuse; nothing is left behind */
	before = heap_in_use();
	c = conf_text(fmt(
		P1 "identities = (\n"
		   "{ name = \"a\"; prefixes = [\"10.0.0.0/8\", "
		   "\"2001:db8::/32\"]; },\n"
		   "{ name = \"b\"; prefixes = [\"10.1.0.0/16\", "
		   "\"2001:db8:1::/48\"]; }\n"
		   ");\n"
		   "services = ( %s );\n",
		svc("s", "", "tcp", "[\"198.19.0.1\"]", "[80]", "198.19.1.1")));
	c->identities[1].prefixes[1] = c->identities[0].prefixes[1];
	assert_null(
		mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	assert_non_null(strstr(err, "prefix 2001:db8::/32 of identity 'b' "
				    "is given twice"));
	/* two /0s of a family (the fallback they once were took the last) */
	assert_true(
		mg_addr_parse("0.0.0.0", &c->identities[0].prefixes[0].addr));
	c->identities[0].prefixes[0].len = 0;
	c->identities[1].prefixes[1] = c->identities[0].prefixes[0];
	assert_null(
		mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	assert_non_null(strstr(err, "prefix 0.0.0.0/0 of identity 'b' "
				    "is given twice"));
	assert_true(
		mg_addr_parse("10.0.0.0", &c->identities[1].prefixes[1].addr));
	c->identities[1].prefixes[1].len = 33;
	assert_null(
		mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	assert_non_null(strstr(err, "cannot add prefix 10.0.0.0/33"));
	assert_int_equal(heap_in_use(), before);
	mg_conf_free(c);
}

/* ---- canary: weights, routes, chains, stickiness, health ---- */

#define CANARY_SEED 0x6d67u /* fixed: the flows and so the test repeat */

/* The i-th of up to 2^24 distinct connections from 10.0.0.0/8 (or
 * @p src6 with the counter in its last bytes) to @p vip:80. */
static struct mg_5tuple
flow(uint32_t i, const char *vip)
{
	struct mg_5tuple t;
	struct mg_addr a;

	memset(&t, 0, sizeof(t));
	assert_true(mg_addr_parse(vip, &a));
	memcpy(t.dst, a.bytes, sizeof(t.dst));
	t.family = a.family;
	if (a.family == 4) {
		t.src[0] = 10;
	} else {
		t.src[0] = 0x20;
		t.src[1] = 0x01;
		t.src[2] = 0x0d;
		t.src[3] = 0xb8;
		t.src[4] = 0x0f;
	}
	t.src[t.family == 4 ? 1 : 13] = (uint8_t)(i >> 16);
	t.src[t.family == 4 ? 2 : 14] = (uint8_t)(i >> 8);
	t.src[t.family == 4 ? 3 : 15] = (uint8_t)i;
	t.sport = rte_cpu_to_be_16((uint16_t)(1024 + i % 50000));
	t.dport = rte_cpu_to_be_16(80);
	t.proto = TCP;
	return t;
}

static uint32_t
flow_hash(const struct mg_5tuple *t)
{
	return rte_hash_crc(t, sizeof(*t), CANARY_SEED);
}

static struct mg_decision
classify_flow(const struct mg_ruleset *rs, uint32_t i, const char *vip,
	      uint64_t now)
{
	struct mg_5tuple t = flow(i, vip);
	struct mg_decision d;

	memset(&d, 0xa5, sizeof(d));
	assert_true(mg_ruleset_classify(rs, &t, flow_hash(&t), now, &d));
	return d;
}

static struct mg_ruleset *
build_health(const char *text, struct mg_health *h)
{
	struct mg_conf *c = conf_text(text);
	struct mg_ruleset *rs;
	char err[256] = "";

	rs = mg_ruleset_build(c, SOCKET_ID_ANY, h, 1, err, sizeof(err));
	if (rs == NULL)
		print_error("build: %s (%s)\n", err, rte_strerror(rte_errno));
	assert_non_null(rs);
	mg_conf_free(c);
	return rs;
}

/* A TCP service on @p vip:80 with these versions (config text). */
static const char *
weighted(const char *name, const char *vip, const char *versions)
{
	return fmt("{ name = \"%s\"; protocol = \"tcp\"; addresses = "
		   "[\"%s\"]; ports = [80]; versions = ( %s ); }",
		   name, vip, versions);
}

/*
 * 100,000 distinct connections (5-tuples hashed with CRC32-C and a fixed
 * seed, as the worker does) through mg_ruleset_classify(). Each picks
 * version v with probability p = weight_v / total, so its count is
 * binomial(N, p) and assert_share() accepts |count - N p| <= 4 sigma,
 * sigma = sqrt(N p (1 - p)): a correct ruleset fails one check with
 * probability 6.3e-5 (two-sided normal tail at 4 sigma). The table's
 * rounding to 1/16384 shifts the mean by at most N / 16384 / 2 = 3
 * connections (2.3 for the 0.1% version, whose sigma is 10), which
 * raises that to about 1.2e-4 for it. The flows are fixed, so a pass
 * stays a pass.
 */
static void
test_canary_shares(void **state)
{
	static const struct {
		const char *vip;
		unsigned int n;
		uint32_t weight[4];
	} cases[] = {
		{ "198.19.0.1", 2, { 9900, 100 } },
		{ "198.19.0.2", 2, { 9990, 10 } },
		{ "198.19.0.3", 4, { 50, 30, 0, 20 } },
	};
	unsigned int count[4], c, v, i;
	struct mg_ruleset *rs;
	struct mg_decision d;
	uint32_t total;

	(void)state;
	rs = build_text(
		fmt(P1 "services = (\n%s,\n%s,\n%s\n);\n",
		    weighted("s99", "198.19.0.1",
			     "{ name = \"a\"; weight = 9900; backends = "
			     "[\"198.19.1.1\", \"198.19.1.2\"]; },"
			     "{ name = \"b\"; weight = 100; backends = "
			     "[\"198.19.1.3\"]; }"),
		    weighted("s999", "198.19.0.2",
			     "{ name = \"a\"; weight = 9990; backends = "
			     "[\"198.19.2.1\"]; },"
			     "{ name = \"b\"; weight = 10; backends = "
			     "[\"198.19.2.2\", \"198.19.2.3\"]; }"),
		    weighted("three", "198.19.0.3",
			     "{ name = \"a\"; weight = 50; backends = "
			     "[\"198.19.3.1\"]; },"
			     "{ name = \"b\"; weight = 30; backends = "
			     "[\"198.19.3.2\"]; },"
			     "{ name = \"off\"; weight = 0; backends = "
			     "[\"198.19.3.3\"]; },"
			     "{ name = \"c\"; weight = 20; backends = "
			     "[\"198.19.3.4\"]; }")));
	for (c = 0; c < RTE_DIM(cases); c++) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < N_HASHES; i++) {
			d = classify_flow(rs, i, cases[c].vip, 0);
			assert_int_equal(d.pick, MG_PICK_WEIGHT);
			assert_int_equal(d.health_idx, MG_HEALTH_NONE);
			count[d.version]++;
		}
		for (v = 0, total = 0; v < cases[c].n; v++)
			total += cases[c].weight[v];
		for (v = 0; v < cases[c].n; v++) {
			print_message("# %s version %u: %u of %u (weight "
				      "%u/%u)\n",
				      cases[c].vip, v, count[v], N_HASHES,
				      cases[c].weight[v], total);
			assert_share(count[v], cases[c].weight[v], total);
			if (cases[c].weight[v] == 0)
				assert_int_equal(count[v], 0);
		}
	}
	mg_ruleset_free(rs);
}

/* Two identities (line 2); services follow. */
#define CANARY_IDS                                                             \
	"identities = ( { name = \"qa\"; env = \"dev\"; "                      \
	"prefixes = [\"10.1.0.0/16\"]; }, { name = \"fe\"; env = \"prod\"; "   \
	"prefixes = [\"10.2.0.0/16\", \"198.19.9.9/32\"]; } );\n"

static void
test_canary_pinned(void **state)
{
	struct mg_ruleset *rs;
	struct mg_decision d;
	uint32_t h;

	(void)state;
	rs = build_text(fmt(
		P1 CANARY_IDS "services = (\n%s,\n%s\n);\n",
		/* qa always reaches v2, whose weight is 0 */
		fmt("{ name = \"shop\"; protocol = \"tcp\"; addresses = "
		    "[\"198.19.0.1\"]; ports = [80]; versions = ( "
		    "{ name = \"v1\"; weight = 100; backends = "
		    "[\"198.19.1.1\"]; }, { name = \"v2\"; weight = 0; "
		    "backends = [\"198.19.1.2\", \"198.19.1.3\"]; } ); "
		    "routes = ( { from = [\"qa\"]; version = \"v2\"; } ); }"),
		/* first match wins: env:dev before "*" */
		fmt("{ name = \"cart\"; protocol = \"tcp\"; addresses = "
		    "[\"198.19.0.2\"]; ports = [80]; versions = ( "
		    "{ name = \"a\"; weight = 1; backends = [\"198.19.2.1\"]; "
		    "}, { name = \"b\"; weight = 1; backends = "
		    "[\"198.19.2.2\"]; }, { name = \"c\"; weight = 1; "
		    "backends = [\"198.19.2.3\"]; } ); routes = ( "
		    "{ from = [\"env:dev\"]; version = \"b\"; }, "
		    "{ from = [\"*\"]; version = \"c\"; } ); }")));
	for (h = 0; h < 2000; h++) {
		uint32_t hash = rte_hash_crc_4byte(h, 1);

		d = classify(rs, "10.1.2.3", "198.19.0.1", TCP, 80, hash);
		assert_int_equal(d.version, 1);
		assert_int_equal(d.pick, MG_PICK_PINNED);
		d = classify(rs, "10.2.2.3", "198.19.0.1", TCP, 80, hash);
		assert_int_equal(d.version, 0);
		assert_int_equal(d.pick, MG_PICK_WEIGHT);
		d = classify(rs, "192.0.2.1", "198.19.0.1", TCP, 80, hash);
		assert_int_equal(d.version, 0);
		d = classify(rs, "10.1.2.3", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.version, 1);
		assert_int_equal(d.pick, MG_PICK_PINNED);
		d = classify(rs, "10.2.2.3", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.version, 2);
		d = classify(rs, "192.0.2.1", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.version, 2); /* "*" covers unknown too */
		assert_int_equal(d.pick, MG_PICK_PINNED);
	}
	mg_ruleset_free(rs);
}

/*
 * Canary chains: shop's canary backends (198.19.1.2, 2001:db8:101::2)
 * calling cart reach cart's canary; its other backends do not; a
 * service without a canary is unaffected; a pin beats the chain.
 */
static void
test_canary_chain(void **state)
{
	struct mg_ruleset *rs;
	struct mg_decision d;
	uint32_t h, hash, ledger[2] = { 0, 0 };

	(void)state;
	rs = build_text(fmt(
		P1 CANARY_IDS "services = (\n%s,\n%s,\n%s\n);\n",
		fmt("{ name = \"shop\"; protocol = \"tcp\"; addresses = "
		    "[\"198.19.0.1\", \"2001:db8:100::1\"]; ports = [80]; "
		    "versions = ( { name = \"v1\"; weight = 1; backends = "
		    "[\"198.19.1.1\", \"2001:db8:101::1\"]; }, { name = "
		    "\"v2\"; weight = 0; canary = true; backends = "
		    "[\"198.19.1.2\", \"2001:db8:101::2\"]; } ); }"),
		fmt("{ name = \"cart\"; protocol = \"tcp\"; addresses = "
		    "[\"198.19.0.2\", \"2001:db8:100::2\"]; ports = [80]; "
		    "versions = ( { name = \"c1\"; weight = 1; backends = "
		    "[\"198.19.2.1\", \"2001:db8:102::1\"]; }, { name = "
		    "\"c2\"; weight = 0; canary = true; backends = "
		    "[\"198.19.9.9\", \"2001:db8:102::2\"]; } ); routes = ( "
		    "{ from = [\"qa\"]; version = \"c1\"; } ); }"),
		fmt("{ name = \"ledger\"; protocol = \"tcp\"; addresses = "
		    "[\"198.19.0.3\"]; ports = [80]; versions = ( "
		    "{ name = \"l1\"; weight = 1; backends = [\"198.19.3.1\"]; "
		    "}, { name = \"l2\"; weight = 1; backends = "
		    "[\"198.19.3.2\"]; } ); }")));
	for (h = 0; h < 2000; h++) {
		hash = rte_hash_crc_4byte(h, 2);
		d = classify(rs, "198.19.1.2", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.version, 1);
		assert_int_equal(d.pick, MG_PICK_CHAIN);
		d = classify(rs, "2001:db8:101::2", "2001:db8:100::2", TCP, 80,
			     hash);
		assert_int_equal(d.version, 1);
		assert_int_equal(d.pick, MG_PICK_CHAIN);
		/* a canary calling its own service stays on the canary */
		d = classify(rs, "198.19.1.2", "198.19.0.1", TCP, 80, hash);
		assert_int_equal(d.version, 1);
		/* a stable backend and an outside caller: by weight */
		d = classify(rs, "198.19.1.1", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.version, 0);
		assert_int_equal(d.pick, MG_PICK_WEIGHT);
		d = classify(rs, "198.19.1.22", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.version, 0);
		/* no canary in ledger: the weights decide, both seen */
		d = classify(rs, "198.19.1.2", "198.19.0.3", TCP, 80, hash);
		assert_int_equal(d.pick, MG_PICK_WEIGHT);
		assert_in_range(d.version, 0, 1);
		ledger[d.version]++;
		/* cart's canary 198.19.9.9 is also identity fe, which no
		 * route of shop names: the chain decides */
		d = classify(rs, "198.19.9.9", "198.19.0.1", TCP, 80, hash);
		assert_int_equal(d.version, 1);
		assert_int_equal(d.pick, MG_PICK_CHAIN);
	}
	assert_true(ledger[0] > 0 && ledger[1] > 0);
	mg_ruleset_free(rs);

	/* the pin beats the chain: qa's prefix holds a canary backend */
	rs = build_text(fmt(
		P1 CANARY_IDS "services = (\n%s,\n%s\n);\n",
		fmt("{ name = \"shop\"; protocol = \"tcp\"; addresses = "
		    "[\"198.19.0.1\"]; ports = [80]; versions = ( { name = "
		    "\"v1\"; weight = 1; backends = [\"198.19.1.1\"]; }, "
		    "{ name = \"v2\"; weight = 0; canary = true; backends = "
		    "[\"10.1.0.7\"]; } ); }"),
		fmt("{ name = \"cart\"; protocol = \"tcp\"; addresses = "
		    "[\"198.19.0.2\"]; ports = [80]; versions = ( { name = "
		    "\"c1\"; weight = 1; backends = [\"198.19.2.1\"]; }, "
		    "{ name = \"c2\"; weight = 0; canary = true; backends = "
		    "[\"198.19.2.2\"]; } ); routes = ( { from = [\"qa\"]; "
		    "version = \"c1\"; } ); }")));
	for (h = 0; h < 200; h++) {
		hash = rte_hash_crc_4byte(h, 3);
		d = classify(rs, "10.1.0.7", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.version, 0);
		assert_int_equal(d.pick, MG_PICK_PINNED);
		d = classify(rs, "10.1.0.8", "198.19.0.2", TCP, 80, hash);
		assert_int_equal(d.pick, MG_PICK_PINNED);
	}
	mg_ruleset_free(rs);
}

/*
 * What a reload promises new connections of the same tuple (established
 * ones never re-classify: the flow table keeps their decision). With
 * other weights, a tuple whose version stays the same keeps its backend:
 * the version's Maglev table depends on its backends alone. With a
 * backend added, a tuple either keeps its backend or moves to the new
 * one, but for the near-minimal churn test_canary states (at most 25%
 * of the table for one set).
 */
static void
test_canary_sticky(void **state)
{
	const char *v1 = "{ name = \"v1\"; weight = %u; backends = "
			 "[\"198.19.1.1\", \"198.19.1.2:8080\", "
			 "\"198.19.1.3\"%s]; }, { name = \"v2\"; weight = %u; "
			 "backends = [\"198.19.2.1\", \"198.19.2.2\"]; }";
	struct mg_ruleset *a, *b, *c;
	struct mg_decision da, db;
	unsigned int i, same = 0, kept = 0, to_new = 0, other = 0;

	(void)state;
	a = build_text(fmt(P1 "services = (\n%s\n);\n",
			   weighted("s", "198.19.0.1", fmt(v1, 90, "", 10))));
	b = build_text(fmt(P1 "services = (\n%s\n);\n",
			   weighted("s", "198.19.0.1", fmt(v1, 50, "", 50))));
	c = build_text(fmt(P1 "services = (\n%s\n);\n",
			   weighted("s", "198.19.0.1",
				    fmt(v1, 90, ", \"198.19.1.4\"", 10))));
	for (i = 0; i < 20000; i++) {
		da = classify_flow(a, i, "198.19.0.1", 0);
		db = classify_flow(b, i, "198.19.0.1", 0);
		if (da.version == db.version) {
			same++;
			assert_int_equal(da.backend, db.backend);
			assert_memory_equal(&da.backend_addr, &db.backend_addr,
					    sizeof(da.backend_addr));
		}
		db = classify_flow(c, i, "198.19.0.1", 0);
		assert_int_equal(da.version, db.version); /* same weights */
		if (da.version != 0)
			continue;
		if (memcmp(&da.backend_addr, &db.backend_addr,
			   sizeof(da.backend_addr)) == 0)
			kept++;
		else if (db.backend == 3)
			to_new++;
		else
			other++;
	}
	print_message("# sticky: %u of 20000 same version; v1 with a "
		      "backend added: %u kept, %u to it, %u elsewhere\n",
		      same, kept, to_new, other);
	/* 90/10 against 50/50: about half keep their version */
	assert_true(same > 20000 * 2 / 5);
	/* the newcomer takes about a quarter */
	assert_true(to_new > (kept + to_new + other) / 5);
	assert_true(to_new < (kept + to_new + other) * 3 / 10);
	assert_true(other <= (kept + to_new + other) / 4);
	mg_ruleset_free(a);
	mg_ruleset_free(b);
	mg_ruleset_free(c);
}

#define HEALTH_NOW (UINT64_C(1) << 40)

/* Index of @p text ("a.b.c.d") in @p h, registering it if new. */
static uint32_t
health_idx(struct mg_health *h, const char *text, uint16_t port)
{
	struct mg_addr a = addr(text);
	int idx = mg_health_register(h, &a, port);

	assert_true(idx >= 0);
	return (uint32_t)idx;
}

/* Classify given a health state: ejected straight in the table, without
 * the caps of mg_ruleset_health_report() (test_health_caps has those). */
static void
eject(struct mg_health *h, const struct mg_ruleset *rs, const char *text)
{
	const struct mg_health_params *p = mg_ruleset_health_params(rs, 0);

	/* eject_after = 1 by default */
	assert_int_equal(mg_health_report(h, health_idx(h, text, 0),
					  MG_HEALTH_TIMEOUT, HEALTH_NOW, p,
					  NULL, 0),
			 MG_HEALTH_EJECTED);
}

#define FAILOVER_FLOWS N_HASHES

/*
 * Health, through classify: an ejected backend's connections go to the
 * other backends of its version, and no other connection moves; a
 * version with every backend out hands its share to the others in
 * proportion to their weights (binomial, 4 sigma as above); with
 * nothing up the first choice stands; an answer or the end of the
 * ejection brings a backend back.
 */
static void
test_health_failover(void **state)
{
	static struct mg_decision base[FAILOVER_FLOWS];
	unsigned int i, moved = 0, to[3] = { 0 }, ver[4] = { 0 };
	const struct mg_health_params *p;
	uint64_t hz = rte_get_tsc_hz(), later;
	struct mg_ruleset *rs;
	struct mg_health *h;
	struct mg_decision d;
	size_t before;

	(void)state;
	before = heap_in_use();
	h = mg_health_create("t_rs_health", 64, 64, SOCKET_ID_ANY, hz);
	assert_non_null(h);
	rs = build_health(
		fmt(P1 "services = (\n%s,\n%s\n);\n",
		    weighted("three", "198.19.0.3",
			     "{ name = \"a\"; weight = 50; backends = "
			     "[\"198.19.3.1\", \"198.19.3.2\", "
			     "\"198.19.3.3\"]; },"
			     "{ name = \"b\"; weight = 30; backends = "
			     "[\"198.19.4.1\", \"198.19.4.2\"]; },"
			     "{ name = \"off\"; weight = 0; backends = "
			     "[\"198.19.6.1\"]; },"
			     "{ name = \"c\"; weight = 20; backends = "
			     "[\"198.19.5.1\"]; }"),
		    /* shares 198.19.3.1 but never ejects */
		    fmt("{ name = \"noh\"; protocol = \"tcp\"; addresses = "
			"[\"198.19.0.4\"]; ports = [80]; versions = ( { name "
			"= \"v\"; backends = [\"198.19.3.1\"]; } ); health = "
			"{ enabled = false; }; }")),
		h);
	p = mg_ruleset_health_params(rs, 0);
	assert_non_null(p);
	assert_true(p->enabled);
	assert_int_equal(p->eject_after, 1);
	assert_int_equal(p->connect_timeout_tsc, hz);
	assert_int_equal(p->base_ejection_tsc, 5 * hz);
	assert_int_equal(p->max_ejection_tsc, 60 * hz);
	assert_false(mg_ruleset_health_params(rs, 1)->enabled);
	assert_null(mg_ruleset_health_params(rs, 2));

	for (i = 0; i < FAILOVER_FLOWS; i++) {
		base[i] = classify_flow(rs, i, "198.19.0.3", HEALTH_NOW);
		assert_int_equal(base[i].pick, MG_PICK_WEIGHT);
		assert_true(base[i].health_idx < mg_health_count(h));
	}
	d = classify_flow(rs, 0, "198.19.0.4", HEALTH_NOW);
	assert_int_equal(d.health_idx, health_idx(h, "198.19.3.1", 0));

	/* one backend of a out: only its connections move, within a */
	eject(h, rs, "198.19.3.1");
	for (i = 0; i < FAILOVER_FLOWS; i++) {
		d = classify_flow(rs, i, "198.19.0.3", HEALTH_NOW);
		assert_int_equal(d.version, base[i].version);
		assert_int_equal(d.pick, MG_PICK_WEIGHT);
		if (base[i].health_idx != health_idx(h, "198.19.3.1", 0)) {
			assert_int_equal(d.backend, base[i].backend);
			continue;
		}
		assert_int_not_equal(d.backend, base[i].backend);
		assert_int_equal(
			d.health_idx,
			health_idx(h,
				   d.backend == 1 ? "198.19.3.2" : "198.19.3.3",
				   0));
		moved++;
		to[d.backend]++;
	}
	/* a third of a's half; spread over both others */
	print_message("# one of a's three out: %u moved, %u / %u\n", moved,
		      to[1], to[2]);
	assert_true(moved > FAILOVER_FLOWS / 8 && moved < FAILOVER_FLOWS / 4);
	assert_true(to[1] > moved / 3 && to[2] > moved / 3);
	/* health off for noh: its one backend still gets everything */
	d = classify_flow(rs, 0, "198.19.0.4", HEALTH_NOW);
	assert_int_equal(d.pick, MG_PICK_WEIGHT);
	assert_int_equal(d.health_idx, health_idx(h, "198.19.3.1", 0));

	/* all of a out: its 50% goes to b and c as 30:20, so b has 60% */
	eject(h, rs, "198.19.3.2");
	eject(h, rs, "198.19.3.3");
	for (i = 0; i < FAILOVER_FLOWS; i++) {
		d = classify_flow(rs, i, "198.19.0.3", HEALTH_NOW);
		ver[d.version]++;
		if (base[i].version != 0) {
			assert_int_equal(d.version, base[i].version);
			assert_int_equal(d.backend, base[i].backend);
			assert_int_equal(d.pick, MG_PICK_WEIGHT);
		} else {
			assert_int_equal(d.pick, MG_PICK_FAILOVER);
		}
	}
	print_message("# a out: b %u, c %u, off %u\n", ver[1], ver[3], ver[2]);
	assert_int_equal(ver[0], 0);
	assert_int_equal(ver[2], 0); /* weight 0 takes no failover */
	assert_share(ver[1], 60, 100);
	assert_share(ver[3], 40, 100);

	/* nothing up: every connection goes where it would have */
	eject(h, rs, "198.19.4.1");
	eject(h, rs, "198.19.4.2");
	eject(h, rs, "198.19.5.1");
	for (i = 0; i < FAILOVER_FLOWS; i += 7) {
		d = classify_flow(rs, i, "198.19.0.3", HEALTH_NOW);
		assert_int_equal(d.version, base[i].version);
		assert_int_equal(d.backend, base[i].backend);
		assert_int_equal(d.pick, MG_PICK_ALL_DOWN);
	}
	/* only off (weight 0) is up: still nothing takes the share */
	d = classify_flow(rs, 1, "198.19.0.3", HEALTH_NOW);
	assert_int_equal(d.pick, MG_PICK_ALL_DOWN);

	/* c answers again: everything lands on c */
	assert_int_equal(mg_health_report(h, health_idx(h, "198.19.5.1", 0),
					  MG_HEALTH_SYN_ACK, HEALTH_NOW, p,
					  NULL, 0),
			 MG_HEALTH_RETURNED);
	for (i = 0; i < FAILOVER_FLOWS; i += 7) {
		d = classify_flow(rs, i, "198.19.0.3", HEALTH_NOW);
		assert_int_equal(d.version, 3);
		assert_int_equal(d.pick, base[i].version == 3
						 ? MG_PICK_WEIGHT
						 : MG_PICK_FAILOVER);
	}
	/* the ejections run out after base_ejection_ms (rounded up to the
	 * table's grain of 2^16 cycles): all back */
	later = HEALTH_NOW + p->base_ejection_tsc + (1u << 16);
	for (i = 0; i < FAILOVER_FLOWS; i += 7) {
		d = classify_flow(rs, i, "198.19.0.3", later);
		assert_int_equal(d.version, base[i].version);
		assert_int_equal(d.backend, base[i].backend);
		assert_int_equal(d.pick, MG_PICK_WEIGHT);
	}
	assert_string_equal(mg_ruleset_pick_name(MG_PICK_FAILOVER), "failover");
	assert_string_equal(mg_ruleset_pick_name(MG_PICK_MAX), "invalid");
	mg_ruleset_free(rs);
	mg_health_free(h);
	assert_int_equal(heap_in_use(), before);
}

/* Health indices survive a reload; a full health table fails a build
 * cleanly. */
static void
test_health_reload(void **state)
{
	struct mg_ruleset *a, *b;
	struct mg_health *h;
	struct mg_decision da, db;
	struct mg_conf *c;
	size_t before;
	char err[256] = "";

	(void)state;
	h = mg_health_create("t_rs_reload", 3, 8, SOCKET_ID_ANY,
			     rte_get_tsc_hz());
	assert_non_null(h);
	a = build_health(fmt(P1 "services = (\n%s\n);\n",
			     weighted("s", "198.19.0.1",
				      "{ name = \"v\"; backends = "
				      "[\"198.19.1.1\", \"198.19.1.2\"]; }")),
			 h);
	/* the reload reorders the backends and renames the version */
	b = build_health(fmt(P1 "services = (\n%s\n);\n",
			     weighted("s", "198.19.0.1",
				      "{ name = \"w\"; backends = "
				      "[\"198.19.1.2\", \"198.19.1.1\"]; }")),
			 h);
	assert_int_equal(mg_health_count(h), 2);
	for (unsigned int i = 0; i < 1000; i++) {
		da = classify_flow(a, i, "198.19.0.1", HEALTH_NOW);
		db = classify_flow(b, i, "198.19.0.1", HEALTH_NOW);
		assert_int_equal(da.health_idx, db.health_idx);
		assert_memory_equal(&da.backend_addr, &db.backend_addr,
				    sizeof(da.backend_addr));
	}
	mg_ruleset_free(b);

	c = conf_text(
		fmt(P1 "services = (\n%s\n);\n",
		    weighted("s", "198.19.0.1",
			     "{ name = \"v\"; backends = [\"198.19.1.1\", "
			     "\"198.19.1.2\", \"198.19.1.3\", "
			     "\"198.19.1.4\"]; }")));
	before = heap_in_use();
	assert_null(mg_ruleset_build(c, SOCKET_ID_ANY, h, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, ENOSPC);
	assert_non_null(strstr(err, "cannot track the health of backend "
				    "198.19.1.4 of version 'v'"));
	assert_int_equal(heap_in_use(), before);
	mg_conf_free(c);
	mg_ruleset_free(a);
	mg_health_free(h);
}

/* Report a failure of backend @p text (port @p port) of service 0. */
static enum mg_health_event
report_fail(const struct mg_ruleset *rs, struct mg_health *h, const char *text,
	    uint16_t port, enum mg_health_evidence ev)
{
	return mg_ruleset_health_report(rs, 0, health_idx(h, text, port), ev,
					HEALTH_NOW);
}

static unsigned int
out_of(const struct mg_health *h, const char *const *texts, unsigned int n)
{
	unsigned int i, out = 0;

	for (i = 0; i < n; i++)
		out += !mg_health_up(
			h, health_idx((struct mg_health *)h, texts[i], 0),
			HEALTH_NOW);
	return out;
}

/*
 * max_ejected_percent per version and family, through the ruleset: the
 * caps (rounded down; a canary may always lose one, a stable version
 * never its last), held backends, a backend shared by two services
 * limited by both, the settings of the first service for reports that
 * name none, and a port-keeping backend's RST that counts for nothing.
 */
static void
test_health_caps(void **state)
{
	static const char *const v1[] = { "198.19.3.1", "198.19.3.2",
					  "198.19.3.3", "198.19.3.4",
					  "198.19.3.5" };
	struct mg_health_info info;
	struct mg_ruleset *rs;
	struct mg_health *h;
	unsigned int i;

	(void)state;
	h = mg_health_create("t_rs_caps", 64, 64, SOCKET_ID_ANY,
			     rte_get_tsc_hz());
	assert_non_null(h);
	rs = build_health(
		fmt(P1 "services = (\n%s,\n%s,\n%s\n);\n",
		    /* five stable, one canary; 50 % */
		    weighted("web", "198.19.0.3",
			     "{ name = \"v1\"; weight = 90; backends = "
			     "[\"198.19.3.1\", \"198.19.3.2\", \"198.19.3.3\", "
			     "\"198.19.3.4\", \"198.19.3.5\"]; },"
			     "{ name = \"v2\"; weight = 10; canary = true; "
			     "backends = [\"198.19.4.1:8080\"]; }"),
		    /* 100 %, and 198.19.3.1 shared with web */
		    fmt("{ name = \"all\"; protocol = \"tcp\"; addresses = "
			"[\"198.19.0.4\"]; ports = [80]; versions = ( { name "
			"= \"v\"; backends = [\"198.19.3.1\", \"198.19.5.1\", "
			"\"198.19.5.2\"]; } ); health = { "
			"max_ejected_percent = 100; }; }"),
		    /* 0 %: a canary too keeps its backend */
		    fmt("{ name = \"none\"; protocol = \"tcp\"; addresses = "
			"[\"198.19.0.5\"]; ports = [80]; versions = ( { name "
			"= \"v1\"; weight = 1; backends = [\"198.19.6.1\"]; }, "
			"{ name = \"v2\"; weight = 1; canary = true; backends "
			"= [\"198.19.6.2\"]; } ); health = { "
			"max_ejected_percent = 0; }; }")),
		h);
	assert_int_equal(mg_ruleset_health_cap(rs, 0, 0, 4), 2); /* 5/2 */
	assert_int_equal(mg_ruleset_health_cap(rs, 0, 0, 6), 0);
	assert_int_equal(mg_ruleset_health_cap(rs, 0, 1, 4), 1); /* 1/2 */
	assert_int_equal(mg_ruleset_health_cap(rs, 1, 0, 4), 2); /* 3-1 */
	assert_int_equal(mg_ruleset_health_cap(rs, 2, 0, 4), 0);
	assert_int_equal(mg_ruleset_health_cap(rs, 2, 1, 4), 0);
	assert_int_equal(mg_ruleset_health_cap(rs, 0, 2, 4), -EINVAL);
	assert_int_equal(mg_ruleset_health_cap(rs, 3, 0, 4), -EINVAL);
	assert_int_equal(mg_ruleset_health_cap(rs, 0, 0, 5), -EINVAL);

	/* a port-keeping backend's RST: the caller chose the port */
	for (i = 0; i < 5; i++)
		assert_int_equal(report_fail(rs, h, v1[i], 0, MG_HEALTH_RST),
				 MG_HEALTH_NO_CHANGE);
	assert_int_equal(out_of(h, v1, 5), 0);
	assert_int_equal(
		mg_health_state(h, health_idx(h, v1[4], 0), HEALTH_NOW, &info),
		0);
	assert_int_equal(info.failures, 0);
	/* the canary's fixed port: its RST counts, and it may go */
	assert_int_equal(report_fail(rs, h, "198.19.4.1", 8080, MG_HEALTH_RST),
			 MG_HEALTH_EJECTED);

	/* every stable backend times out: two out, the rest held (up, and
	 * failing); the stable version's share stays with it */
	for (i = 5; i-- > 0;)
		assert_int_equal(
			report_fail(rs, h, v1[i], 0, MG_HEALTH_TIMEOUT),
			i >= 3 ? MG_HEALTH_EJECTED : MG_HEALTH_HELD);
	assert_int_equal(out_of(h, v1, 5), 2);
	for (i = 0; i < 5; i++) {
		assert_int_equal(mg_health_state(h, health_idx(h, v1[i], 0),
						 HEALTH_NOW, &info),
				 0);
		assert_true(info.held == info.up);
	}
	for (i = 0; i < FAILOVER_FLOWS; i += 11)
		assert_int_not_equal(
			classify_flow(rs, i, "198.19.0.3", HEALTH_NOW).pick,
			MG_PICK_ALL_DOWN);

	/* all (100 %, stable): two of its three may go */
	assert_int_equal(
		mg_ruleset_health_report(rs, 1, health_idx(h, "198.19.5.1", 0),
					 MG_HEALTH_UNRESOLVED, HEALTH_NOW),
		MG_HEALTH_EJECTED);
	assert_int_equal(
		mg_ruleset_health_report(rs, 1, health_idx(h, "198.19.5.2", 0),
					 MG_HEALTH_UNRESOLVED, HEALTH_NOW),
		MG_HEALTH_EJECTED);
	/* 198.19.3.1 is in web's v1 and all's v: with room in web (v1[4]
	 * answers) but none in all, it stays; with room in both, it goes.
	 * MG_RULESET_ANY_SERVICE reports under web's (the first) settings */
	assert_int_equal(report_fail(rs, h, v1[4], 0, MG_HEALTH_SYN_ACK),
			 MG_HEALTH_RETURNED);
	assert_int_equal(mg_ruleset_health_report(rs, MG_RULESET_ANY_SERVICE,
						  health_idx(h, v1[0], 0),
						  MG_HEALTH_UNRESOLVED,
						  HEALTH_NOW),
			 MG_HEALTH_NO_CHANGE); /* held already */
	assert_true(mg_health_up(h, health_idx(h, v1[0], 0), HEALTH_NOW));
	assert_int_equal(
		mg_ruleset_health_report(rs, 1, health_idx(h, "198.19.5.1", 0),
					 MG_HEALTH_SYN_ACK, HEALTH_NOW),
		MG_HEALTH_RETURNED);
	assert_int_equal(mg_ruleset_health_report(rs, MG_RULESET_ANY_SERVICE,
						  health_idx(h, v1[0], 0),
						  MG_HEALTH_UNRESOLVED,
						  HEALTH_NOW),
			 MG_HEALTH_EJECTED);
	assert_int_equal(out_of(h, v1, 5), 2);

	/* 0 %: nothing goes, canary or not */
	assert_int_equal(
		mg_ruleset_health_report(rs, 2, health_idx(h, "198.19.6.2", 0),
					 MG_HEALTH_TIMEOUT, HEALTH_NOW),
		MG_HEALTH_HELD);
	/* unknown backends and services report nothing */
	assert_int_equal(mg_ruleset_health_report(
				 rs, 0, 1000, MG_HEALTH_TIMEOUT, HEALTH_NOW),
			 MG_HEALTH_NO_CHANGE);
	assert_int_equal(mg_ruleset_health_report(rs, 9, 0, MG_HEALTH_TIMEOUT,
						  HEALTH_NOW),
			 MG_HEALTH_NO_CHANGE);
	mg_ruleset_free(rs);
	mg_health_free(h);
}

/*
 * A reload that lowers the cap or moves an ejected backend into a full
 * version: once the new ruleset is synced, the cap holds again.
 */
static void
test_health_caps_reload(void **state)
{
	static const char *const v1[] = { "198.19.3.1", "198.19.3.2",
					  "198.19.3.3", "198.19.3.4" };
	struct mg_ruleset *a, *b;
	struct mg_health *h;
	unsigned int i;

	(void)state;
	h = mg_health_create("t_rs_capre", 64, 64, SOCKET_ID_ANY,
			     rte_get_tsc_hz());
	assert_non_null(h);
	a = build_health(
		fmt(P1 "services = (\n%s\n);\n",
		    weighted("web", "198.19.0.3",
			     "{ name = \"v1\"; weight = 90; backends = "
			     "[\"198.19.3.1\", \"198.19.3.2\", \"198.19.3.3\", "
			     "\"198.19.3.4\"]; },"
			     "{ name = \"v2\"; weight = 10; canary = true; "
			     "backends = [\"198.19.4.1\"]; }")),
		h);
	/* 4 x 50 % = 2 out, and the canary's one */
	for (i = 0; i < 4; i++)
		report_fail(a, h, v1[i], 0, MG_HEALTH_TIMEOUT);
	assert_int_equal(report_fail(a, h, "198.19.4.1", 0, MG_HEALTH_TIMEOUT),
			 MG_HEALTH_EJECTED);
	assert_int_equal(out_of(h, v1, 4), 2);
	assert_int_equal(mg_ruleset_health_sync(a, HEALTH_NOW), 0);

	/* 25 %, and the canary's backend joins v1: one of v1's five may be
	 * out; two of the three out come back */
	b = build_health(
		fmt(P1 "services = (\n%s\n);\n",
		    weighted("web", "198.19.0.3",
			     "{ name = \"v1\"; weight = 100; backends = "
			     "[\"198.19.3.1\", \"198.19.3.2\", \"198.19.3.3\", "
			     "\"198.19.3.4\", \"198.19.4.1\"]; }")),
		h);
	assert_int_equal(mg_ruleset_health_cap(b, 0, 0, 4), 2);
	mg_ruleset_free(b);
	b = build_health(
		fmt(P1 "health = { max_ejected_percent = 25; };\n"
		       "services = (\n%s\n);\n",
		    weighted("web", "198.19.0.3",
			     "{ name = \"v1\"; weight = 100; backends = "
			     "[\"198.19.3.1\", \"198.19.3.2\", \"198.19.3.3\", "
			     "\"198.19.3.4\", \"198.19.4.1\"]; }")),
		h);
	assert_int_equal(mg_ruleset_health_cap(b, 0, 0, 4), 1);
	assert_int_equal(mg_ruleset_health_sync(b, HEALTH_NOW), 2);
	assert_int_equal(out_of(h, v1, 4) +
				 !mg_health_up(h,
					       health_idx(h, "198.19.4.1", 0),
					       HEALTH_NOW),
			 1);
	/* and reports under it keep to it */
	for (i = 0; i < 4; i++)
		report_fail(b, h, v1[i], 0, MG_HEALTH_TIMEOUT);
	report_fail(b, h, "198.19.4.1", 0, MG_HEALTH_TIMEOUT);
	assert_int_equal(out_of(h, v1, 4) +
				 !mg_health_up(h,
					       health_idx(h, "198.19.4.1", 0),
					       HEALTH_NOW),
			 1);
	mg_ruleset_free(a);
	mg_ruleset_free(b);
	mg_health_free(h);
}

/* What the config loader forbids, the ruleset still survives: a pin to
 * a version without a backend of the caller's family falls back to the
 * weights, and a route to a version that does not exist is refused. */
static void
test_canary_defensive(void **state)
{
	struct mg_ruleset *rs;
	struct mg_decision d;
	struct mg_conf *c;
	char err[256] = "";

	(void)state;
	c = conf_text(
		fmt(P1 "services = (\n%s\n);\n",
		    fmt("{ name = \"s\"; protocol = \"tcp\"; addresses = "
			"[\"198.19.0.1\", \"2001:db8:100::1\"]; ports = [80]; "
			"versions = ( { name = \"v1\"; weight = 1; backends = "
			"[\"198.19.1.1\", \"2001:db8:101::1\"]; }, { name = "
			"\"v2\"; weight = 0; backends = [\"198.19.1.2\"]; } ); "
			"}")));
	c->services[0].n_routes = 1;
	c->services[0].routes[0].n_from = 1;
	c->services[0].routes[0].from[0].kind = MG_REF_ANY;
	c->services[0].routes[0].version = 1;
	rs = build_conf(c);
	d = classify(rs, "10.0.0.1", "198.19.0.1", TCP, 80, 5);
	assert_int_equal(d.version, 1);
	assert_int_equal(d.pick, MG_PICK_PINNED);
	d = classify(rs, "2001:db8::1", "2001:db8:100::1", TCP, 80, 5);
	assert_int_equal(d.version, 0);
	assert_int_equal(d.pick, MG_PICK_WEIGHT);
	mg_ruleset_free(rs);

	c->services[0].routes[0].version = 2;
	assert_null(
		mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	assert_non_null(strstr(err, "route 0 of service 's' is malformed"));
	mg_conf_free(c);
}

static int
setup(void **state)
{

	(void)state;
	if (mg_test_eal_init("test_ruleset", "256", "0", false) < 0)
		return -1;
	return mg_test_tmpdir_make("test_ruleset");
}

static int
teardown(void **state)
{
	(void)state;
	rte_eal_cleanup();
	return mg_test_tmpdir_remove();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_lookup),
		cmocka_unit_test(test_identity_random),
		cmocka_unit_test(test_service_lookup),
		cmocka_unit_test(test_ids_after_reload),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_policy_default_and_allow),
		cmocka_unit_test(test_policy_deny_beats_allow),
		cmocka_unit_test(test_policy_deny_action),
		cmocka_unit_test(test_policy_env_and_any),
		cmocka_unit_test(test_policy_dry_run),
		cmocka_unit_test(test_weighted_pick),
		cmocka_unit_test(test_backend_port),
		cmocka_unit_test(test_mesh_example),
		cmocka_unit_test(test_mesh_example_memory),
		cmocka_unit_test(test_memsize_many_prefixes),
		cmocka_unit_test(test_two_rulesets),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_canary_shares),
		cmocka_unit_test(test_canary_pinned),
		cmocka_unit_test(test_canary_chain),
		cmocka_unit_test(test_canary_sticky),
		cmocka_unit_test(test_canary_defensive),
		cmocka_unit_test(test_health_failover),
		cmocka_unit_test(test_health_reload),
		cmocka_unit_test(test_health_caps),
		cmocka_unit_test(test_health_caps_reload),
	};

	return cmocka_run_group_tests_name("ruleset", tests, setup, teardown);
}
