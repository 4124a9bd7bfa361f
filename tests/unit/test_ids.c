/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Unit tests of lib/ruleset's id registry: service, identity and rule
 * names keep their ids across builds (reloads), each ruleset maps the
 * ids to its own indexes, a connection admitted under one ruleset is
 * read under the next by them, and the registry's bound refuses a build
 * whole. The registry is process-wide: a suite of its own, whose last
 * test fills it. */

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
#include <pthread.h>
#include <sched.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "mg_flow.h"
#include "mg_ruleset.h"
#include "mg_test_ruleset.h"

#define P1                                                                     \
	"ports = ( { name = \"edge\"; device = \"net_pcap0\"; "                \
	"profile = \"pcap\"; } );\n"

/* A one-line service at 198.19.0.@p vip:80 with one backend. */
#define SVC(name, vip)                                                         \
	"{ name = \"" name "\"; protocol = \"tcp\"; addresses = "              \
	"[\"198.19.0." vip "\"]; ports = [80]; versions = ( { name = "         \
	"\"v1\"; backends = [\"198.19.1." vip "\"]; } ); }"

#define ID_A "{ name = \"a\"; prefixes = [\"10.0.1.0/24\"]; }"
#define ID_B "{ name = \"b\"; prefixes = [\"10.0.2.0/24\"]; }"
#define ID_C "{ name = \"c\"; prefixes = [\"10.0.3.0/24\"]; }"

/* A: callers a and b; services web (index 0) and api (1). */
static const char conf_a[] = P1
	"identities = ( " ID_A ", " ID_B " );\n"
	"services = ( " SVC("web", "1") ", " SVC(
		"api",
		"2") " );\n"
		     "policies = (\n"
		     "{ name = \"p-web\"; action = \"allow\"; from = [\"a\"]; "
		     "to = [\"web\"]; },\n"
		     "{ name = \"p-api\"; action = \"allow\"; from = [\"b\"]; "
		     "to = [\"api\"]; } );\n";

/* B, a reload of A: web and caller a removed, the rest renumbered (api
 * 0, db 1; b 1, c 2), api inspected by a layer-7 rule. */
static const char conf_b[] = P1
	"identities = ( " ID_B ", " ID_C " );\n"
	"services = ( " SVC("api", "2") ", " SVC(
		"db",
		"3") " );\n"
		     "policies = (\n"
		     "{ name = \"p-db\"; action = \"allow\"; from = [\"c\"]; "
		     "to = [\"db\"]; },\n"
		     "{ name = \"p-api\"; action = \"allow\"; from = [\"b\"]; "
		     "to = [\"api\"]; http = { path = \"^/api\"; }; } );\n";

/* C, a reload of B: web and caller a back, in other places. */
static const char conf_c[] = P1
	"identities = ( " ID_B ", " ID_C ", " ID_A " );\n"
	"services = ( " SVC("api", "2") ", " SVC("db", "3") ", " SVC(
		"web",
		"1") " );\n"
		     "policies = (\n"
		     "{ name = \"p-api\"; action = \"allow\"; from = [\"b\"]; "
		     "to = [\"api\"]; },\n"
		     "{ name = \"p-web\"; action = \"allow\"; from = [\"a\"]; "
		     "to = [\"web\"]; } );\n";

/* Classify 10.0.@p caller.9 -> 198.19.0.@p vip:80/tcp; asserts a
 * service matched. */
static struct mg_decision
classify(const struct mg_ruleset *rs, unsigned int caller, unsigned int vip)
{
	struct mg_5tuple t;
	struct mg_decision d;

	memset(&t, 0, sizeof(t));
	t.family = 4;
	t.src[0] = 10;
	t.src[2] = (uint8_t)caller;
	t.src[3] = 9;
	t.dst[0] = 198;
	t.dst[1] = 19;
	t.dst[3] = (uint8_t)vip;
	t.sport = rte_cpu_to_be_16(40000);
	t.dport = rte_cpu_to_be_16(80);
	t.proto = IPPROTO_TCP;
	memset(&d, 0xa5, sizeof(d));
	assert_true(mg_ruleset_classify(rs, &t, 0, 0, &d));
	return d;
}

static const char *
id_name(enum mg_ruleset_id_kind kind, uint32_t id)
{
	static char buf[4][MG_CONF_NAME_LEN];
	static unsigned int next;
	char *b = buf[next++ % 4];

	assert_int_equal(mg_ruleset_id_name(kind, id, b, MG_CONF_NAME_LEN), 0);
	return b;
}

/* Names keep their ids across builds; a removed one keeps its id and
 * maps to none; added back, it gets its old id. */
static void
test_ids_stable(void **state)
{
	unsigned int ns = mg_ruleset_ids_registered(MG_RULESET_ID_SERVICE);
	unsigned int ni = mg_ruleset_ids_registered(MG_RULESET_ID_IDENTITY);
	unsigned int nr = mg_ruleset_ids_registered(MG_RULESET_ID_RULE);
	struct mg_decision web, api, d;
	struct mg_ruleset *a, *b, *c;
	uint16_t p_web;
	char buf[MG_CONF_NAME_LEN];

	(void)state;
	a = build_text(conf_a);
	web = classify(a, 1, 1);
	api = classify(a, 2, 2);
	assert_int_equal(web.service, 0);
	assert_int_equal(api.service, 1);
	/* ids in the order names are first seen; identities from 1 */
	assert_int_equal(web.service_id, ns);
	assert_int_equal(api.service_id, ns + 1);
	assert_int_equal(web.identity_id, ni + 1);
	assert_int_equal(api.identity_id, ni + 2);
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_SERVICE),
			 ns + 2);
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_IDENTITY),
			 ni + 2);
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_RULE), nr + 2);
	assert_string_equal(id_name(MG_RULESET_ID_SERVICE, web.service_id),
			    "web");
	assert_string_equal(id_name(MG_RULESET_ID_IDENTITY, api.identity_id),
			    "b");
	assert_string_equal(id_name(MG_RULESET_ID_IDENTITY, 0), "unknown");
	p_web = mg_ruleset_rule_id(a, web.rule);
	assert_int_equal(p_web, nr);
	assert_string_equal(id_name(MG_RULESET_ID_RULE, p_web), "p-web");
	assert_string_equal(mg_ruleset_rule_name_of_id(a, p_web), "p-web");
	assert_int_equal(mg_ruleset_rule_id(a, MG_RULE_DEFAULT),
			 MG_RULE_DEFAULT);
	assert_string_equal(mg_ruleset_rule_name_of_id(a, MG_RULE_DEFAULT),
			    "default-deny");
	assert_int_equal(mg_ruleset_id_name(MG_RULESET_ID_SERVICE, ns + 2, buf,
					    sizeof(buf)),
			 -ENOENT);
	assert_string_equal(buf, "");

	/* web and a removed, api renumbered: same ids */
	b = build_text(conf_b);
	d = classify(b, 2, 2);
	assert_int_equal(d.service, 0);
	assert_int_equal(d.identity, 1);
	assert_int_equal(d.service_id, api.service_id);
	assert_int_equal(d.identity_id, api.identity_id);
	assert_int_equal(mg_ruleset_service_of_id(b, api.service_id), 0);
	assert_int_equal(mg_ruleset_identity_of_id(b, api.identity_id), 1);
	assert_int_equal(mg_ruleset_service_of_id(b, web.service_id),
			 MG_RULESET_NONE);
	assert_int_equal(mg_ruleset_identity_of_id(b, web.identity_id),
			 MG_IDENTITY_UNKNOWN);
	assert_null(mg_ruleset_rule_name_of_id(b, p_web));
	/* removed, still named */
	assert_string_equal(id_name(MG_RULESET_ID_SERVICE, web.service_id),
			    "web");
	/* db and c are new: the next ids */
	d = classify(b, 3, 3);
	assert_int_equal(d.service, 1);
	assert_int_equal(d.service_id, ns + 2);
	assert_int_equal(d.identity_id, ni + 3);
	/* A was built before db had an id: none there */
	assert_int_equal(mg_ruleset_service_of_id(a, d.service_id),
			 MG_RULESET_NONE);
	assert_int_equal(mg_ruleset_identity_of_id(a, d.identity_id),
			 MG_IDENTITY_UNKNOWN);

	/* web and a back: their old ids, at new indexes */
	c = build_text(conf_c);
	d = classify(c, 1, 1);
	assert_int_equal(d.service, 2);
	assert_int_equal(d.identity, 3);
	assert_int_equal(d.service_id, web.service_id);
	assert_int_equal(d.identity_id, web.identity_id);
	assert_int_equal(mg_ruleset_service_of_id(c, web.service_id), 2);
	assert_int_equal(mg_ruleset_identity_of_id(c, web.identity_id), 3);
	assert_int_equal(mg_ruleset_rule_id(c, d.rule), p_web);
	assert_string_equal(mg_ruleset_rule_name_of_id(c, p_web), "p-web");
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_SERVICE),
			 ns + 3);
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_IDENTITY),
			 ni + 3);
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_RULE), nr + 3);
	mg_ruleset_free(a);
	mg_ruleset_free(b);
	mg_ruleset_free(c);
}

/* A connection admitted under A, as the worker records it, read under B
 * that renumbered the services: B's index and rules of the same
 * service; a service B removed is none (no health, no layer-7 rules),
 * a caller it removed the unknown one. */
static void
test_flow_across_reload(void **state)
{
	struct mg_ruleset *a = build_text(conf_a), *b;
	struct mg_flow to_api, to_web, to_db;
	struct mg_decision d;
	uint16_t s;

	(void)state;
	memset(&to_api, 0, sizeof(to_api));
	memset(&to_web, 0, sizeof(to_web));
	d = classify(a, 2, 2);
	to_api.service_id = d.service_id;
	to_api.identity_id = d.identity_id;
	assert_int_equal(mg_l7_service_proto(mg_ruleset_l7(a), d.service),
			 MG_L7_NONE);
	d = classify(a, 1, 1);
	to_web.service_id = d.service_id;
	to_web.identity_id = d.identity_id;

	b = build_text(conf_b);
	/* api was 1 in A; B's 1 is db, and B's api is 0 */
	s = mg_ruleset_service_of_id(b, to_api.service_id);
	assert_int_equal(s, 0);
	assert_string_equal(mg_ruleset_service_name(b, s), "api");
	/* its next request meets B's layer-7 rules for api */
	assert_int_equal(mg_l7_service_proto(mg_ruleset_l7(b), s), MG_L7_HTTP);
	assert_ptr_equal(
		mg_ruleset_health_params(b, s),
		mg_ruleset_health_params(b, classify(b, 2, 2).service));
	assert_string_equal(
		mg_ruleset_identity_name(
			b, mg_ruleset_identity_of_id(b, to_api.identity_id)),
		"b");
	/* web is gone: the connection flows on with no service */
	s = mg_ruleset_service_of_id(b, to_web.service_id);
	assert_int_equal(s, MG_RULESET_NONE);
	assert_null(mg_ruleset_health_params(b, s));
	assert_int_equal(mg_l7_service_proto(mg_ruleset_l7(b), s), MG_L7_NONE);
	assert_int_equal(mg_ruleset_identity_of_id(b, to_web.identity_id),
			 MG_IDENTITY_UNKNOWN);

	/* admitted under B, read by a worker still on A: none there */
	memset(&to_db, 0, sizeof(to_db));
	d = classify(b, 3, 3);
	to_db.service_id = d.service_id;
	to_db.identity_id = d.identity_id;
	assert_int_equal(mg_ruleset_service_of_id(a, to_db.service_id),
			 MG_RULESET_NONE);
	assert_int_equal(mg_ruleset_service_of_id(b, to_db.service_id), 1);
	mg_ruleset_free(a);
	mg_ruleset_free(b);
}

/* A reader of the ruleset in force, as a worker: maps a connection's
 * ids and checks the names, while the main thread reloads. */
struct reader {
	struct mg_ruleset *rs; /* in force: exchanged, loaded acquire */
	uint16_t api, caller;  /* the connection's ids */
	uint64_t rounds;       /* quiescent reports, stored release */
	uint64_t wrong;	       /* maps that named something else */
	bool stop;
};

static void *
reader_loop(void *arg)
{
	struct reader *r = arg;
	const struct mg_ruleset *rs;
	uint16_t s, i;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		rs = __atomic_load_n(&r->rs, __ATOMIC_ACQUIRE);
		s = mg_ruleset_service_of_id(rs, r->api);
		i = mg_ruleset_identity_of_id(rs, r->caller);
		if (s == MG_RULESET_NONE ||
		    strcmp(mg_ruleset_service_name(rs, s), "api") != 0 ||
		    strcmp(mg_ruleset_identity_name(rs, i), "b") != 0)
			r->wrong++;
		/* done with rs: the main thread may free it after this */
		__atomic_store_n(&r->rounds, r->rounds + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Rulesets built and published while a worker maps ids through the one
 * in force (the registry written, new maps made, old ones freed after
 * the reader has moved on): every map names the same service and
 * caller. Under ThreadSanitizer (scripts/build.sh tsan), no race. */
static void
test_concurrent_reload(void **state)
{
	struct reader r = { 0 };
	struct mg_ruleset *old;
	struct mg_decision d;
	pthread_t tid;
	uint64_t seen;
	unsigned int k;

	(void)state;
	r.rs = build_text(conf_a);
	d = classify(r.rs, 2, 2);
	r.api = d.service_id;
	r.caller = d.identity_id;
	assert_int_equal(pthread_create(&tid, NULL, reader_loop, &r), 0);
	for (k = 0; k < 40; k++) {
		old = __atomic_exchange_n(
			&r.rs, build_text(k % 2 == 0 ? conf_c : conf_a),
			__ATOMIC_ACQ_REL);
		/* a grace period: two reports, so the one in flight when
		 * the pointer moved is over */
		seen = __atomic_load_n(&r.rounds, __ATOMIC_ACQUIRE);
		while (__atomic_load_n(&r.rounds, __ATOMIC_ACQUIRE) < seen + 2)
			sched_yield();
		mg_ruleset_free(old);
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_true(r.rounds >= 80);
	assert_int_equal(r.wrong, 0);
	mg_ruleset_free(r.rs);
}

/* 128 services on 198.19.0.1, ports 80..207; one caller. */
static struct mg_conf *
conf_128(void)
{
	static char text[32768];
	size_t n = 0;
	unsigned int i;

	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      P1 "identities = ( " ID_A " );\nservices = (\n");
	for (i = 1; i <= MG_CONF_MAX_SERVICES; i++)
		n += (size_t)snprintf(
			text + n, sizeof(text) - n,
			"{ name = \"t%u\"; protocol = \"tcp\"; addresses = "
			"[\"198.19.0.1\"]; ports = [%u]; versions = ( { name "
			"= \"v1\"; backends = [\"198.19.1.1\"]; } ); }%s\n",
			i, 79 + i, i < MG_CONF_MAX_SERVICES ? "," : "");
	snprintf(text + n, sizeof(text) - n, ");\n");
	assert_true(n < sizeof(text) - 8);
	return conf_text(text);
}

static void
name_services(struct mg_conf *c, unsigned int first)
{
	unsigned int i;

	for (i = 0; i < c->n_services; i++)
		snprintf(c->services[i].name, sizeof(c->services[i].name),
			 "s%u", first + i);
}

/* A build that would give a 65,536th service name fails whole (ENOSPC,
 * nothing registered, not even its new caller), and the rulesets built
 * before and builds of known names still work. Fills the registry:
 * the suite's last test. */
static void
test_bound_refused(void **state)
{
	struct mg_conf *c = conf_128();
	unsigned int n, ni, left;
	struct mg_ruleset *rs, *first;
	struct mg_decision d;
	uint16_t first_id;
	char err[256] = "";

	(void)state;
	assert_int_equal(c->n_services, MG_CONF_MAX_SERVICES);
	n = mg_ruleset_ids_registered(MG_RULESET_ID_SERVICE);
	name_services(c, n);
	first = build_conf(c);
	d = classify(first, 1, 1);
	first_id = d.service_id;
	n += c->n_services;
	/* full batches of new names, then what is left beside old ones */
	while ((left = MG_RULESET_MAX_NAMES - n) != 0) {
		left = RTE_MIN(left, c->n_services);
		name_services(c, n + left - c->n_services);
		rs = build_conf(c);
		mg_ruleset_free(rs);
		n += left;
		assert_int_equal(
			mg_ruleset_ids_registered(MG_RULESET_ID_SERVICE), n);
	}
	assert_int_equal(n, MG_RULESET_MAX_NAMES);
	assert_string_equal(id_name(MG_RULESET_ID_SERVICE, n - 1), "s65534");

	/* one name more, and a new caller: refused, nothing registered */
	ni = mg_ruleset_ids_registered(MG_RULESET_ID_IDENTITY);
	snprintf(c->identities[0].name, sizeof(c->identities[0].name),
		 "newcomer");
	snprintf(c->services[5].name, sizeof(c->services[5].name), "s65535");
	rte_errno = 0;
	assert_null(
		mg_ruleset_build(c, SOCKET_ID_ANY, NULL, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, ENOSPC);
	assert_non_null(strstr(err, "1 new service name(s), and 65535 have "
				    "ids already: the registry gives at most "
				    "65535"));
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_SERVICE),
			 MG_RULESET_MAX_NAMES);
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_IDENTITY), ni);

	/* the running ruleset is untouched; known names still build */
	assert_int_equal(mg_ruleset_service_of_id(first, first_id), 0);
	name_services(c, n - c->n_services);
	rs = build_conf(c);
	d = classify(rs, 1, 1);
	assert_int_equal(d.service_id, n - c->n_services);
	assert_int_equal(mg_ruleset_ids_registered(MG_RULESET_ID_IDENTITY),
			 ni + 1); /* newcomer, now that it fits */
	mg_ruleset_free(rs);
	mg_ruleset_free(first);
	mg_conf_free(c);
}

static int
setup(void **state)
{
	(void)state;
	if (mg_test_eal_init("test_ids", "256", "0", true) < 0)
		return -1;
	return mg_test_tmpdir_make("test_ids");
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
		cmocka_unit_test(test_ids_stable),
		cmocka_unit_test(test_flow_across_reload),
		cmocka_unit_test(test_concurrent_reload),
		cmocka_unit_test(test_bound_refused), /* last: fills it */
	};

	return cmocka_run_group_tests_name("ids", tests, setup, teardown);
}
