/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Unit tests of lib/l7's layer-7 rules: Hyperscan databases built
 * from config text, decisions per request, and the walk of a client's
 * byte stream across segments, bodies and requests. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mg_test.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "mg_l7.h"
#include "mg_test_conf.h"

static struct mg_lcore_stats *stats;
static struct rte_rcu_qsbr *qsv;

/* Identities: 0 unknown, 1 frontend, 2 admin, 3 devbox. Services: 0
 * shop (HTTP rules), 1 secure (TLS rules), 2 plain (none). */
#define ID_UNKNOWN  0
#define ID_FRONTEND 1
#define ID_ADMIN    2
#define ID_DEVBOX   3
#define SVC_SHOP    0
#define SVC_SECURE  1
#define SVC_PLAIN   2
/* Rule slots: policy index + 1; default deny after them. */
#define N_POLICIES   12
#define SLOT(policy) ((policy) + 1)
#define SLOT_DEFAULT (N_POLICIES + 1)

static const char base_conf[] =
	"ports = ( { name = \"edge\"; device = \"net_pcap0\"; "
	"profile = \"pcap\"; } );\n"
	"identities = (\n"
	" { name = \"frontend\"; env = \"prod\"; prefixes = "
	"[\"198.18.1.0/24\"]; },\n"
	" { name = \"admin\"; env = \"prod\"; prefixes = [\"198.18.2.0/24\"]; "
	"},\n"
	" { name = \"devbox\"; env = \"dev\"; prefixes = [\"198.18.9.0/24\"]; "
	"} );\n"
	"services = (\n"
	" { name = \"shop\"; protocol = \"tcp\"; addresses = [\"198.19.0.1\"]; "
	"ports = [80]; versions = ( { name = \"v1\"; backends = "
	"[\"198.19.1.1\"]; } ); },\n"
	" { name = \"secure\"; protocol = \"tcp\"; addresses = "
	"[\"198.19.0.2\"]; ports = [443]; versions = ( { name = \"v1\"; "
	"backends = [\"198.19.1.2\"]; } ); },\n"
	" { name = \"plain\"; protocol = \"tcp\"; addresses = "
	"[\"198.19.0.3\"]; "
	"ports = [80]; versions = ( { name = \"v1\"; backends = "
	"[\"198.19.1.3\"]; } ); } );\n";

/* Policy 0..11, in this order (see SLOT()). */
static const char policies[] =
	"policies = (\n"
	/* 0 */
	" { name = \"shop-api\"; action = \"allow\"; from = [\"frontend\"]; "
	"to = [\"shop\"]; http = { method = [\"^GET$\", \"^HEAD$\"]; "
	"path = \"^/api/\"; }; },\n"
	/* 1 */
	" { name = \"no-admin\"; action = \"deny\"; from = [\"*\"]; "
	"to = [\"shop\"]; http = { path = \"^/admin(/|$)\"; }; },\n"
	/* 2: an L4 allow: admin may ask anything not denied */
	" { name = \"admin-all\"; action = \"allow\"; from = [\"admin\"]; "
	"to = [\"shop\", \"plain\"]; },\n"
	/* 3: a header and a host matcher together */
	" { name = \"dev-debug\"; action = \"allow\"; from = [\"devbox\"]; "
	"to = [\"shop\"]; http = { host = \"^shop\\\\.example$\"; "
	"headers = ( { name = \"X-Debug\"; value = \"^on$\"; } ); }; },\n"
	/* 4: dry run */
	" { name = \"dry-no-post\"; action = \"deny\"; dry_run = true; "
	"from = [\"*\"]; to = [\"shop\"]; http = { method = [\"^POST$\", "
	"\"^PURGE$\"]; }; "
	"},\n"
	/* 5, 6: TLS */
	" { name = \"api-sni\"; action = \"allow\"; from = [\"*\"]; "
	"to = [\"secure\"]; tls = { sni = \"^api\\\\.example$\"; }; },\n"
	" { name = \"no-evil\"; action = \"deny\"; from = [\"*\"]; "
	"to = [\"secure\"]; tls = { sni = \"evil\"; }; },\n"
	/* 7: websockets for frontend on one path */
	" { name = \"ws\"; action = \"allow\"; from = [\"frontend\"]; "
	"to = [\"shop\"]; http = { path = \"^/api/ws$\"; "
	"upgrade = \"^websocket$\"; }; },\n"
	/* 8: a query parameter */
	" { name = \"no-debug\"; action = \"deny\"; from = [\"*\"]; "
	"to = [\"shop\"]; http = { query = \"(^|&)debug=1(&|$)\"; }; },\n"
	/* 9: admin may send a ClientHello without SNI */
	" { name = \"admin-no-sni\"; action = \"allow\"; "
	"from = [\"admin\"]; to = [\"secure\"]; "
	"tls = { allow_no_sni = true; }; },\n"
	/* 10: a pattern on the parameters themselves */
	" { name = \"no-session-id\"; action = \"deny\"; from = [\"*\"]; "
	"to = [\"shop\"]; http = { path = \";jsessionid=\"; }; },\n"
	/* 11: a host */
	" { name = \"no-admin-host\"; action = \"deny\"; from = [\"*\"]; "
	"to = [\"shop\"]; http = { host = \"^admin\\\\.example$\"; }; } "
	");\n";

static struct mg_conf *
load(const char *extra)
{
	char text[8192];

	snprintf(text, sizeof(text), "%s%s%s", base_conf, policies, extra);
	return conf_text(text);
}

static struct mg_l7 *
build(const struct mg_conf *c)
{
	uint32_t slots[N_POLICIES + 1];
	char err[512] = "";
	struct mg_l7 *l7;
	unsigned int i;

	assert_int_equal(c->n_policies, N_POLICIES);
	for (i = 0; i <= N_POLICIES; i++)
		slots[i] = SLOT(i);
	l7 = mg_l7_build(c, slots, 2, err, sizeof(err));
	if (l7 == NULL)
		print_error("build: %s\n", err);
	assert_non_null(l7);
	return l7;
}

/* A built ruleset, a pool and a flow, reset per test. */
struct fixture {
	struct mg_conf *conf;
	struct mg_l7 *l7;
	struct mg_l7_pool *pool;
	struct mg_l7_ctx ctx;
	struct mg_l7_flow st;
	uint32_t seq; /* next client sequence number */
};

static struct fixture *
fixture(const char *extra, uint32_t max_pending, uint32_t bytes)
{
	static unsigned int n;
	struct fixture *fx = calloc(1, sizeof(*fx));
	char name[32];

	assert_non_null(fx);
	fx->conf = load(extra);
	fx->l7 = build(fx->conf);
	snprintf(name, sizeof(name), "tp%u", n++);
	fx->pool = mg_l7_pool_create(name, max_pending, bytes, 2, SOCKET_ID_ANY,
				     qsv);
	assert_non_null(fx->pool);
	fx->ctx = (struct mg_l7_ctx){ fx->l7, fx->pool, stats, 1 };
	return fx;
}

/* Every test gives back the buffers it holds: none may leak. */
static void
fixture_free(struct fixture *fx)
{
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 0);
	mg_l7_pool_free(fx->pool);
	mg_l7_free(fx->l7);
	mg_conf_free(fx->conf);
	free(fx);
}

/* Open a connection of @p id to @p svc: SYN at sequence 999. */
static void
open_flow(struct fixture *fx, struct mg_l7_flow *st, uint16_t svc)
{
	mg_l7_flow_init(fx->pool, st, mg_l7_service_proto(fx->l7, svc), 999);
	fx->seq = 1000;
}

/* Send @p text as the next in-order segment. */
static enum mg_l7_action
send_seg(struct fixture *fx, struct mg_l7_flow *st, uint16_t svc, uint16_t id,
	 const void *bytes, uint32_t len, enum mg_drop_reason *why)
{
	const uint8_t *data = bytes;
	enum mg_l7_action a;

	*why = MG_DROP_NONE;
	a = mg_l7_input(&fx->ctx, st, svc, id, fx->seq, data, len, why);
	if (a == MG_L7_FORWARD)
		fx->seq += len;
	return a;
}

static enum mg_l7_action
send_text(struct fixture *fx, uint16_t svc, uint16_t id, const char *text,
	  enum mg_drop_reason *why)
{
	return send_seg(fx, &fx->st, svc, id, text, (uint32_t)strlen(text),
			why);
}

static uint64_t
decisions(uint32_t slot, enum mg_tel_decision kind)
{
	return stats->rules[slot].decisions[kind];
}

/* One request on a fresh connection: the action, and the decision it
 * counted against @p slot as @p kind. */
static void
expect_request(struct fixture *fx, uint16_t id, const char *req,
	       enum mg_l7_action want, uint32_t slot, enum mg_tel_decision kind)
{
	uint64_t before = decisions(slot, kind);
	enum mg_drop_reason why;

	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(send_text(fx, SVC_SHOP, id, req, &why), want);
	assert_int_equal(decisions(slot, kind), before + 1);
	if (want == MG_L7_RESET)
		assert_int_equal(why, MG_DROP_L7_DENY);
}

/* One request on a fresh connection to @p svc that is refused: reset
 * for @p why, counted as a deny against @p slot. */
static void
expect_refused(struct fixture *fx, uint16_t svc, uint16_t id, const void *req,
	       uint32_t len, uint32_t slot, enum mg_drop_reason want_why)
{
	uint64_t before = decisions(slot, MG_TEL_DENY);
	enum mg_drop_reason why;

	open_flow(fx, &fx->st, svc);
	assert_int_equal(send_seg(fx, &fx->st, svc, id, req, len, &why),
			 MG_L7_RESET);
	assert_int_equal(why, want_why);
	assert_int_equal(decisions(slot, MG_TEL_DENY), before + 1);
}

#define GET(path)	     "GET " path " HTTP/1.1\r\nHost: shop.example\r\n\r\n"
#define GET_HOST(path, host) "GET " path " HTTP/1.1\r\nHost: " host "\r\n\r\n"

static void
test_build(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	struct mg_l7_stats s;

	(void)state;
	assert_int_equal(mg_l7_service_proto(fx->l7, SVC_SHOP), MG_L7_HTTP);
	assert_int_equal(mg_l7_service_proto(fx->l7, SVC_SECURE), MG_L7_TLS);
	assert_int_equal(mg_l7_service_proto(fx->l7, SVC_PLAIN), MG_L7_NONE);
	assert_int_equal(mg_l7_service_proto(fx->l7, 99), MG_L7_NONE);
	mg_l7_get_stats(fx->l7, &s);
	assert_int_equal(s.n_services, 2);
	/* shop: method (4), path (4), host (2), x-debug (1), query (1),
	 * upgrade (1); secure: sni (2) */
	assert_int_equal(s.n_patterns, 15);
	assert_int_equal(s.n_databases, 7);
	assert_true(s.database_bytes > 0);
	assert_true(s.scratch_bytes > 0);
	fixture_free(fx);
}

static void
test_decisions(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);

	(void)state;
	/* rule with two matchers: both must match */
	expect_request(fx, ID_FRONTEND, GET("/api/items"), MG_L7_FORWARD,
		       SLOT(0), MG_TEL_ALLOW);
	expect_request(fx, ID_FRONTEND,
		       "HEAD /api/x HTTP/1.1\r\nHost: a\r\n\r\n", MG_L7_FORWARD,
		       SLOT(0), MG_TEL_ALLOW);
	expect_request(fx, ID_FRONTEND,
		       "DELETE /api/x HTTP/1.1\r\nHost: a\r\n\r\n", MG_L7_RESET,
		       SLOT_DEFAULT, MG_TEL_DENY);
	expect_request(fx, ID_FRONTEND, GET("/web/x"), MG_L7_RESET,
		       SLOT_DEFAULT, MG_TEL_DENY);
	/* anchored: "/x/api/" is not under /api/ */
	expect_request(fx, ID_FRONTEND, GET("/x/api/"), MG_L7_RESET,
		       SLOT_DEFAULT, MG_TEL_DENY);
	/* the deny rule beats the L4 allow and the L7 allow */
	expect_request(fx, ID_ADMIN, GET("/admin/users"), MG_L7_RESET, SLOT(1),
		       MG_TEL_DENY);
	expect_request(fx, ID_FRONTEND, GET("/admin"), MG_L7_RESET, SLOT(1),
		       MG_TEL_DENY);
	/* an L4 allow lets anything else through, counted against it */
	expect_request(fx, ID_ADMIN, GET("/anything"), MG_L7_FORWARD, SLOT(2),
		       MG_TEL_ALLOW);
	/* host is caseless, the header name too; the value is not */
	expect_request(fx, ID_DEVBOX,
		       "GET /x HTTP/1.1\r\nHost: SHOP.Example\r\n"
		       "x-debug: on\r\n\r\n",
		       MG_L7_FORWARD, SLOT(3), MG_TEL_ALLOW);
	expect_request(fx, ID_DEVBOX,
		       "GET /x HTTP/1.1\r\nHost: shop.example\r\n"
		       "X-Debug: ON\r\n\r\n",
		       MG_L7_RESET, SLOT_DEFAULT, MG_TEL_DENY);
	expect_request(fx, ID_DEVBOX, GET("/x"), MG_L7_RESET, SLOT_DEFAULT,
		       MG_TEL_DENY);
	/* the unknown caller is covered by "*" rules only */
	expect_request(fx, ID_UNKNOWN, GET("/api/x"), MG_L7_RESET, SLOT_DEFAULT,
		       MG_TEL_DENY);
	/* dry run: counted, forwarded */
	expect_request(fx, ID_ADMIN,
		       "POST /orders HTTP/1.1\r\nHost: a\r\n"
		       "Content-Length: 0\r\n\r\n",
		       MG_L7_FORWARD, SLOT(4), MG_TEL_DRY_RUN);
	/* a method outside the table of common ones is scanned */
	expect_request(fx, ID_ADMIN, "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n",
		       MG_L7_FORWARD, SLOT(4), MG_TEL_DRY_RUN);
	expect_request(fx, ID_FRONTEND,
		       "PURGE /api/x HTTP/1.1\r\nHost: a\r\n\r\n", MG_L7_RESET,
		       SLOT_DEFAULT, MG_TEL_DENY);
	fixture_free(fx);
}

/*
 * Rules see each field in its normal form: the path without the query
 * (http.query has it), a path with ";params" read with and without them,
 * the Host without port and trailing dot. admin has an L4 allow, so
 * only a deny rule stops its requests; frontend only the allow rules'
 * matches let through.
 */
static void
test_normal_forms(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	enum mg_drop_reason why;

	(void)state;
	/* the query is not part of the path */
	expect_request(fx, ID_ADMIN, GET("/admin?x"), MG_L7_RESET, SLOT(1),
		       MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET("/admin?"), MG_L7_RESET, SLOT(1),
		       MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET("/administrator?x"), MG_L7_FORWARD,
		       SLOT(2), MG_TEL_ALLOW);
	expect_request(fx, ID_FRONTEND, GET("/api/x?page=2"), MG_L7_FORWARD,
		       SLOT(0), MG_TEL_ALLOW);
	/* and http.query has it, without the '?' */
	expect_request(fx, ID_ADMIN, GET("/api/x?debug=1"), MG_L7_RESET,
		       SLOT(8), MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET("/api/x?a=b&debug=1"), MG_L7_RESET,
		       SLOT(8), MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET("/api/x?debug=10"), MG_L7_FORWARD,
		       SLOT(2), MG_TEL_ALLOW);
	expect_request(fx, ID_ADMIN, GET("/debug=1"), MG_L7_FORWARD, SLOT(2),
		       MG_TEL_ALLOW);
	/* ";params" hide no segment: read without them, /admin */
	expect_request(fx, ID_ADMIN, GET("/admin;x"), MG_L7_RESET, SLOT(1),
		       MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET("/admin;x/y"), MG_L7_RESET, SLOT(1),
		       MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET("/admin;a=1;b=2?q"), MG_L7_RESET,
		       SLOT(1), MG_TEL_DENY);
	expect_request(fx, ID_FRONTEND, GET("/admin;x"), MG_L7_RESET, SLOT(1),
		       MG_TEL_DENY);
	/* ... and read as sent, the parameters are seen too */
	expect_request(fx, ID_ADMIN, GET("/x;jsessionid=1"), MG_L7_RESET,
		       SLOT(10), MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET("/x;v=1/y"), MG_L7_FORWARD, SLOT(2),
		       MG_TEL_ALLOW);
	/* an allow must hold for both readings: "/api;v=2/items" is
	 * /api/items to Tomcat, but not under /api/ to nginx */
	expect_request(fx, ID_FRONTEND, GET("/api/items;v=2"), MG_L7_FORWARD,
		       SLOT(0), MG_TEL_ALLOW);
	expect_request(fx, ID_FRONTEND, GET("/api;v=2/items"), MG_L7_RESET,
		       SLOT_DEFAULT, MG_TEL_DENY);
	/* Host: no port, no trailing dot, any case */
	expect_request(fx, ID_ADMIN, GET_HOST("/x", "Admin.Example:80"),
		       MG_L7_RESET, SLOT(11), MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET_HOST("/x", "ADMIN.EXAMPLE.:8080"),
		       MG_L7_RESET, SLOT(11), MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET_HOST("/x", "admin.example."),
		       MG_L7_RESET, SLOT(11), MG_TEL_DENY);
	expect_request(fx, ID_ADMIN, GET_HOST("/x", "admin.example.org"),
		       MG_L7_FORWARD, SLOT(2), MG_TEL_ALLOW);
	expect_request(fx, ID_ADMIN, GET_HOST("/x", "[2001:db8::1]:80"),
		       MG_L7_FORWARD, SLOT(2), MG_TEL_ALLOW);
	expect_request(fx, ID_DEVBOX,
		       "GET /x HTTP/1.1\r\nHost: Shop.Example.:8080\r\n"
		       "X-Debug: on\r\n\r\n",
		       MG_L7_FORWARD, SLOT(3), MG_TEL_ALLOW);
	/* no Host (HTTP/1.0), or an empty one: no host rule matches */
	expect_request(fx, ID_ADMIN, "GET /x HTTP/1.0\r\n\r\n", MG_L7_FORWARD,
		       SLOT(2), MG_TEL_ALLOW);
	expect_request(fx, ID_DEVBOX, "GET /x HTTP/1.0\r\nX-Debug: on\r\n\r\n",
		       MG_L7_RESET, SLOT_DEFAULT, MG_TEL_DENY);
	expect_request(fx, ID_DEVBOX,
		       "GET /x HTTP/1.1\r\nHost:\r\nX-Debug: on\r\n\r\n",
		       MG_L7_RESET, SLOT_DEFAULT, MG_TEL_DENY);
	/* forms the parser refuses, whatever the rules (no decision) */
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_ADMIN, GET("/admin%3bx"), &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_BAD_REQUEST);
	fixture_free(fx);
}

static void
test_keep_alive_and_pipelining(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	enum mg_drop_reason why;
	uint32_t seq;

	(void)state;
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, GET("/api/1"), &why),
		MG_L7_FORWARD);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, GET("/api/2"), &why),
		MG_L7_FORWARD);
	/* the third request on the connection is denied: reset at the
	 * first byte of its segment */
	seq = fx->seq;
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, GET("/admin"), &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_DENY);
	assert_int_equal(fx->st.next_seq, seq);
	/* whatever comes next is refused as a reset connection */
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, GET("/api/3"), &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_RESET);
	/* a bare ACK or FIN too */
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_FRONTEND, "", 0, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_RESET);

	/* two allowed heads in one segment, then one with a denied one */
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND,
				   GET("/api/1") GET("/api/2"), &why),
			 MG_L7_FORWARD);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND,
				   GET("/api/3") GET("/admin"), &why),
			 MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_DENY);
	fixture_free(fx);
}

/*
 * A trace (shadow mode) sees every decision of a call: how many heads,
 * the last one's rule slot and verdict; none for an incomplete head or
 * a parse error. It changes no counting.
 */
static void
test_trace(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	struct mg_l7_trace t;
	enum mg_drop_reason why;
	uint64_t allowed = decisions(SLOT(0), MG_TEL_ALLOW);

	(void)state;
	fx->ctx.trace = &t;
	open_flow(fx, &fx->st, SVC_SHOP);
	memset(&t, 0, sizeof(t));
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND,
				   GET("/api/1") GET("/api/2"), &why),
			 MG_L7_FORWARD);
	assert_int_equal(t.decided, 2);
	assert_int_equal(t.slot, SLOT(0));
	assert_int_equal(t.denied, 0);
	assert_int_equal(decisions(SLOT(0), MG_TEL_ALLOW), allowed + 2);
	/* half a head: nothing decided yet */
	memset(&t, 0, sizeof(t));
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND,
				   "GET /admin HTTP/1.1\r\n", &why),
			 MG_L7_FORWARD);
	assert_int_equal(t.decided, 0);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, "Host: a\r\n\r\n", &why),
		MG_L7_RESET);
	assert_int_equal(t.decided, 1);
	assert_int_equal(t.slot, SLOT(1));
	assert_int_equal(t.denied, 1);
	/* not HTTP: refused without a decision */
	open_flow(fx, &fx->st, SVC_SHOP);
	memset(&t, 0, sizeof(t));
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND,
				   "\x16\x03\x01 not http\r\n\r\n", &why),
			 MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_NOT_HTTP);
	assert_int_equal(t.decided, 0);
	fx->ctx.trace = NULL;
	fixture_free(fx);
}

static void
test_bodies_are_skipped(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	static const char post[] = "POST /api/o HTTP/1.1\r\nHost: a\r\n"
				   "Content-Length: 38\r\n\r\n";
	static const char body[] = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
				   "abcdef";
	static const char chunked[] = "POST /api/o HTTP/1.1\r\nHost: a\r\n"
				      "Transfer-Encoding: chunked\r\n\r\n"
				      "14\r\nGET /admin HTTP/1.1\r\r\n"
				      "0\r\n\r\n";
	enum mg_drop_reason why;

	(void)state;
	assert_int_equal(strlen(body), 38);
	/* the admin post has a body that looks like a denied request */
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_ADMIN, post, &why),
			 MG_L7_FORWARD);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_BODY);
	/* in two segments */
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_ADMIN, body, 10, &why),
		MG_L7_FORWARD);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_ADMIN, body + 10, 28, &why),
		MG_L7_FORWARD);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_HEAD);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_ADMIN, GET("/admin"), &why),
			 MG_L7_RESET);

	/* chunked: the chunk data is skipped, the request after it not */
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_ADMIN, chunked, &why),
			 MG_L7_FORWARD);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_HEAD);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_ADMIN,
				   GET("/x") GET("/admin/y"), &why),
			 MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_DENY);
	fixture_free(fx);
}

static void
test_split_heads(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	static const char denied[] = GET("/admin");
	static const char allowed[] = GET("/api/split");
	enum mg_drop_reason why;
	uint32_t cut, len = (uint32_t)strlen(denied);

	(void)state;
	/* every cut of a denied head: forwarded up to the cut, reset on
	 * the segment that completes it, no buffer left behind */
	for (cut = 1; cut < len; cut++) {
		open_flow(fx, &fx->st, SVC_SHOP);
		assert_int_equal(send_seg(fx, &fx->st, SVC_SHOP, ID_FRONTEND,
					  denied, cut, &why),
				 MG_L7_FORWARD);
		assert_int_equal(mg_l7_pool_in_use(fx->pool), 1);
		assert_int_equal(send_seg(fx, &fx->st, SVC_SHOP, ID_FRONTEND,
					  denied + cut, len - cut, &why),
				 MG_L7_RESET);
		assert_int_equal(why, MG_DROP_L7_DENY);
		assert_int_equal(fx->st.next_seq, 1000 + cut);
		assert_int_equal(mg_l7_pool_in_use(fx->pool), 0);
	}
	/* an allowed head byte by byte, then a request after it */
	len = (uint32_t)strlen(allowed);
	open_flow(fx, &fx->st, SVC_SHOP);
	for (cut = 0; cut < len; cut++)
		assert_int_equal(send_seg(fx, &fx->st, SVC_SHOP, ID_FRONTEND,
					  allowed + cut, 1, &why),
				 MG_L7_FORWARD);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 0);
	assert_int_equal(fx->st.buf, 0);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, GET("/admin"), &why),
		MG_L7_RESET);
	fixture_free(fx);
}

static void
test_sequence_numbers(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	static const char req[] = GET("/api/1");
	uint32_t len = (uint32_t)strlen(req);
	enum mg_drop_reason why;
	enum mg_l7_action a;

	(void)state;
	open_flow(fx, &fx->st, SVC_SHOP);
	/* a gap: dropped, state untouched */
	a = mg_l7_input(&fx->ctx, &fx->st, SVC_SHOP, ID_FRONTEND, 1001,
			(const uint8_t *)req, len, &why);
	assert_int_equal(a, MG_L7_DROP);
	assert_int_equal(why, MG_DROP_L7_OUT_OF_ORDER);
	assert_int_equal(fx->st.next_seq, 1000);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND, req, &why),
			 MG_L7_FORWARD);
	/* a retransmission is not looked at again, even if it changed */
	a = mg_l7_input(&fx->ctx, &fx->st, SVC_SHOP, ID_FRONTEND, 1000,
			(const uint8_t *)GET("/admin"), len, &why);
	assert_int_equal(a, MG_L7_FORWARD);
	/* a segment overlapping old and new bytes: only the new ones */
	a = mg_l7_input(
		&fx->ctx, &fx->st, SVC_SHOP, ID_FRONTEND, 1000 + len - 4,
		(const uint8_t *)"\r\n\r\nGET /admin HTTP/1.1\r\n", 25, &why);
	assert_int_equal(a, MG_L7_FORWARD);
	assert_int_equal(fx->st.next_seq, 1000 + len + 21);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 1);
	/* sequence numbers wrap */
	mg_l7_flow_init(fx->pool, &fx->st, MG_L7_HTTP, 0xfffffff0u);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 0);
	a = mg_l7_input(&fx->ctx, &fx->st, SVC_SHOP, ID_FRONTEND, 0xfffffff1u,
			(const uint8_t *)req, len, &why);
	assert_int_equal(a, MG_L7_FORWARD);
	assert_int_equal(fx->st.next_seq, 0xfffffff1u + len);
	a = mg_l7_input(&fx->ctx, &fx->st, SVC_SHOP, ID_FRONTEND,
			0xfffffff1u + len, (const uint8_t *)GET("/admin"), len,
			&why);
	assert_int_equal(a, MG_L7_RESET);
	fixture_free(fx);
}

static void
test_refusals(void **state)
{
	struct fixture *fx =
		fixture("l7 = { max_request_bytes = 256; };", 2, 256);
	struct mg_l7_flow other[3];
	enum mg_drop_reason why;
	char big[400];

	(void)state;
	memset(other, 0, sizeof(other));
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_ADMIN, "SSH-2.0-x\r\n", &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_NOT_HTTP);
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_ADMIN,
			  "GET /a/../admin HTTP/1.1\r\nHost: a\r\n\r\n", &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_BAD_REQUEST);
	/* a head that never ends within max_request_bytes */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /api/x HTTP/1.1\r\nX-Pad: ", 28);
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_ADMIN, big, 200, &why),
		MG_L7_FORWARD);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_ADMIN, big + 200, 200, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_TOO_LARGE);
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(send_seg(fx, &fx->st, SVC_SHOP, ID_ADMIN, big,
				  sizeof(big), &why),
			 MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_TOO_LARGE);
	/* a complete head over the limit, in one segment */
	memcpy(big + 300, "\r\n\r\n", 4);
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_ADMIN, big, 304, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_TOO_LARGE);
	/* two buffers: the third split head is refused */
	open_flow(fx, &other[0], SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &other[0], SVC_SHOP, ID_ADMIN, "GET /", 5, &why),
		MG_L7_FORWARD);
	open_flow(fx, &other[1], SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &other[1], SVC_SHOP, ID_ADMIN, "GET /", 5, &why),
		MG_L7_FORWARD);
	open_flow(fx, &other[2], SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &other[2], SVC_SHOP, ID_ADMIN, "GET /", 5, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_PENDING_FULL);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 2);
	/* expiry gives a buffer back after a grace period, not before:
	 * a worker may still be writing to it */
	mg_l7_flow_release(fx->pool, &other[0]);
	assert_int_equal(other[0].buf, 0);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 2);
	open_flow(fx, &other[2], SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &other[2], SVC_SHOP, ID_ADMIN, "GET /", 5, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_PENDING_FULL);
	rte_rcu_qsbr_quiescent(qsv, 0);
	open_flow(fx, &other[2], SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &other[2], SVC_SHOP, ID_ADMIN, "GET /", 5, &why),
		MG_L7_FORWARD);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 2);
	mg_l7_flow_release(fx->pool, &other[1]);
	mg_l7_flow_release(fx->pool, &other[2]);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 2);
	/* both come back after the next grace period, for two new split
	 * heads; those are then reset, which gives them back at once */
	rte_rcu_qsbr_quiescent(qsv, 0);
	open_flow(fx, &other[0], SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &other[0], SVC_SHOP, ID_ADMIN, "GET /", 5, &why),
		MG_L7_FORWARD);
	open_flow(fx, &other[1], SVC_SHOP);
	assert_int_equal(
		send_seg(fx, &other[1], SVC_SHOP, ID_ADMIN, "GET /", 5, &why),
		MG_L7_FORWARD);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 2);
	mg_l7_flow_reset(fx->pool, &other[0]);
	mg_l7_flow_reset(fx->pool, &other[1]);
	fixture_free(fx);
}

static void
test_timestamps_and_reset(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	enum mg_drop_reason why;

	(void)state;
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_true(mg_l7_inspecting(&fx->st));
	/* nothing seen yet: any TSval will do */
	assert_false(mg_l7_timestamp_stale(&fx->st, 0x80000000u));
	mg_l7_timestamp_seen(&fx->st, 1000);
	assert_true(mg_l7_timestamp_stale(&fx->st, 999));
	assert_false(mg_l7_timestamp_stale(&fx->st, 1000));
	/* an older one seen later does not move the newest back */
	mg_l7_timestamp_seen(&fx->st, 900);
	assert_true(mg_l7_timestamp_stale(&fx->st, 999));
	/* serial arithmetic, up to and across the wrap */
	mg_l7_timestamp_seen(&fx->st, 0x70000000u);
	mg_l7_timestamp_seen(&fx->st, 0xe0000000u);
	assert_true(mg_l7_timestamp_stale(&fx->st, 0x70000000u));
	mg_l7_timestamp_seen(&fx->st, 0xfffffff0u);
	assert_false(mg_l7_timestamp_stale(&fx->st, 5));
	assert_true(mg_l7_timestamp_stale(&fx->st, 0xffffffe0u));
	/* acknowledgements of what the backend sent, and no further */
	assert_true(mg_l7_ack_sent(&fx->st, 12345)); /* nothing known yet */
	mg_l7_backend_sent(&fx->st, 5001);	     /* SYN-ACK at 5000 */
	assert_true(mg_l7_ack_sent(&fx->st, 5001));
	assert_false(mg_l7_ack_sent(&fx->st, 5002));
	mg_l7_backend_sent(&fx->st, 5101); /* 100 bytes of response */
	mg_l7_backend_sent(&fx->st, 5051); /* a retransmission */
	assert_true(mg_l7_ack_sent(&fx->st, 5101));
	assert_true(mg_l7_ack_sent(&fx->st, 5050));
	assert_false(mg_l7_ack_sent(&fx->st, 5102));
	assert_false(mg_l7_ack_sent(&fx->st, 5101 + 0x40000000u));
	/* a reset from outside: buffer back, everything refused after */
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_FRONTEND, "GET /", 5, &why),
		MG_L7_FORWARD);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 1);
	mg_l7_flow_reset(fx->pool, &fx->st);
	assert_int_equal(mg_l7_pool_in_use(fx->pool), 0);
	assert_false(mg_l7_inspecting(&fx->st));
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND, "api/", &why),
			 MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_RESET);
	fixture_free(fx);
}

#define UPGRADE(path, protocols)                                               \
	"GET " path " HTTP/1.1\r\nHost: a\r\nUpgrade: " protocols              \
	"\r\nConnection: Upgrade\r\n\r\n"

static void
test_upgrade(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	static const char ws[] = UPGRADE("/api/ws", "websocket");
	static const char frame[] = "\x81\x05hello";
	enum mg_drop_reason why;

	(void)state;
	/* allowed by the rule that names the protocol: opaque after 101 */
	expect_request(fx, ID_FRONTEND, ws, MG_L7_FORWARD, SLOT(7),
		       MG_TEL_ALLOW);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_UPGRADE);
	mg_l7_response(&fx->st, (const uint8_t *)"HTTP/1.1 101 Switching", 22);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_PASS);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_FRONTEND, frame, 7, &why),
		MG_L7_FORWARD);
	/* refused upgrade: back to HTTP, still inspected */
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND, ws, &why),
			 MG_L7_FORWARD);
	mg_l7_response(&fx->st, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_HEAD);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, GET("/admin"), &why),
		MG_L7_RESET);
	/* bytes before the answer are refused */
	open_flow(fx, &fx->st, SVC_SHOP);
	assert_int_equal(send_text(fx, SVC_SHOP, ID_FRONTEND, ws, &why),
			 MG_L7_FORWARD);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SHOP, ID_FRONTEND, frame, 7, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_BAD_REQUEST);
	/* protocols compare caselessly */
	expect_request(fx, ID_FRONTEND, UPGRADE("/api/ws", "WebSocket"),
		       MG_L7_FORWARD, SLOT(7), MG_TEL_ALLOW);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_UPGRADE);
	mg_l7_flow_reset(fx->pool, &fx->st);

	/* h2c, an unknown protocol, or one of several not allowed: denied
	 * by default, whatever allows the request as plain HTTP */
	expect_refused(fx, SVC_SHOP, ID_FRONTEND, UPGRADE("/api/x", "h2c"),
		       sizeof(UPGRADE("/api/x", "h2c")) - 1, SLOT_DEFAULT,
		       MG_DROP_L7_UPGRADE_DENY);
	expect_refused(fx, SVC_SHOP, ID_FRONTEND, UPGRADE("/api/ws", "h2c"),
		       sizeof(UPGRADE("/api/ws", "h2c")) - 1, SLOT_DEFAULT,
		       MG_DROP_L7_UPGRADE_DENY);
	expect_refused(fx, SVC_SHOP, ID_FRONTEND,
		       UPGRADE("/api/ws", "websocket, h2c"),
		       sizeof(UPGRADE("/api/ws", "websocket, h2c")) - 1,
		       SLOT_DEFAULT, MG_DROP_L7_UPGRADE_DENY);
	expect_refused(fx, SVC_SHOP, ID_FRONTEND,
		       UPGRADE("/api/ws", "websocket/13"),
		       sizeof(UPGRADE("/api/ws", "websocket/13")) - 1,
		       SLOT_DEFAULT, MG_DROP_L7_UPGRADE_DENY);
	expect_refused(fx, SVC_SHOP, ID_FRONTEND,
		       UPGRADE("/api/other", "websocket"),
		       sizeof(UPGRADE("/api/other", "websocket")) - 1,
		       SLOT_DEFAULT, MG_DROP_L7_UPGRADE_DENY);
	/* an L4 allow does not open a connection either */
	expect_refused(fx, SVC_SHOP, ID_ADMIN, ws, sizeof(ws) - 1, SLOT_DEFAULT,
		       MG_DROP_L7_UPGRADE_DENY);
	/* a deny rule still comes first */
	expect_refused(fx, SVC_SHOP, ID_FRONTEND,
		       UPGRADE("/admin", "websocket"),
		       sizeof(UPGRADE("/admin", "websocket")) - 1, SLOT(1),
		       MG_DROP_L7_DENY);
	/* Connection: Upgrade without Upgrade is plain HTTP: allowed, and
	 * the connection stays inspected */
	expect_request(fx, ID_FRONTEND,
		       "GET /api/x HTTP/1.1\r\nHost: a\r\n"
		       "Connection: Upgrade\r\n\r\n",
		       MG_L7_FORWARD, SLOT(0), MG_TEL_ALLOW);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_HEAD);
	assert_int_equal(
		send_text(fx, SVC_SHOP, ID_FRONTEND, GET("/admin"), &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_DENY);
	fixture_free(fx);
}

/* A minimal TLS 1.2-style ClientHello record, with or without SNI. */
static uint32_t
client_hello(uint8_t *out, const char *sni)
{
	uint8_t *p = out + 9; /* after record and handshake headers */
	uint32_t n, sni_len = sni ? (uint32_t)strlen(sni) : 0, ext;

	*p++ = 3; /* legacy_version 3.3 */
	*p++ = 3;
	memset(p, 0x11, 32); /* random */
	p += 32;
	*p++ = 0; /* session id */
	*p++ = 0; /* cipher suites: one */
	*p++ = 2;
	*p++ = 0x13;
	*p++ = 0x01;
	*p++ = 1; /* compression: null */
	*p++ = 0;
	ext = sni ? sni_len + 9 : 0;
	*p++ = (uint8_t)(ext >> 8);
	*p++ = (uint8_t)ext;
	if (sni) {
		*p++ = 0; /* server_name */
		*p++ = 0;
		*p++ = (uint8_t)((sni_len + 5) >> 8);
		*p++ = (uint8_t)(sni_len + 5);
		*p++ = (uint8_t)((sni_len + 3) >> 8);
		*p++ = (uint8_t)(sni_len + 3);
		*p++ = 0; /* host_name */
		*p++ = (uint8_t)(sni_len >> 8);
		*p++ = (uint8_t)sni_len;
		memcpy(p, sni, sni_len);
		p += sni_len;
	}
	n = (uint32_t)(p - out);
	out[0] = 22;
	out[1] = 3;
	out[2] = 1;
	out[3] = (uint8_t)((n - 5) >> 8);
	out[4] = (uint8_t)(n - 5);
	out[5] = 1; /* client_hello */
	out[6] = 0;
	out[7] = (uint8_t)((n - 9) >> 8);
	out[8] = (uint8_t)(n - 9);
	return n;
}

/* A ClientHello on a fresh connection, allowed and counted against
 * @p slot; the rest of the connection passes. */
static void
expect_tls(struct fixture *fx, uint16_t id, const uint8_t *hello, uint32_t n,
	   uint32_t slot)
{
	uint64_t before = decisions(slot, MG_TEL_ALLOW);
	enum mg_drop_reason why;

	open_flow(fx, &fx->st, SVC_SECURE);
	assert_int_equal(send_seg(fx, &fx->st, SVC_SECURE, id, hello, n, &why),
			 MG_L7_FORWARD);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_PASS);
	assert_int_equal(decisions(slot, MG_TEL_ALLOW), before + 1);
}

static void
test_tls(void **state)
{
	struct fixture *fx = fixture("", 4, 1024);
	enum mg_drop_reason why;
	uint64_t evil, dflt;
	uint8_t hello[512];
	uint32_t n;

	(void)state;
	n = client_hello(hello, "API.example");
	open_flow(fx, &fx->st, SVC_SECURE);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SECURE, ID_UNKNOWN, hello, n, &why),
		MG_L7_FORWARD);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_PASS);
	/* after the hello, bytes pass unread */
	assert_int_equal(
		send_text(fx, SVC_SECURE, ID_UNKNOWN, "GET /admin", &why),
		MG_L7_FORWARD);
	/* split in two segments */
	open_flow(fx, &fx->st, SVC_SECURE);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SECURE, ID_UNKNOWN, hello, 20, &why),
		MG_L7_FORWARD);
	assert_int_equal(send_seg(fx, &fx->st, SVC_SECURE, ID_UNKNOWN,
				  hello + 20, n - 20, &why),
			 MG_L7_FORWARD);
	assert_int_equal(fx->st.phase, MG_L7_PHASE_PASS);
	/* denied names: the deny rule, and default deny */
	evil = decisions(SLOT(6), MG_TEL_DENY);
	dflt = decisions(SLOT_DEFAULT, MG_TEL_DENY);
	n = client_hello(hello, "evil.example");
	open_flow(fx, &fx->st, SVC_SECURE);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SECURE, ID_UNKNOWN, hello, n, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_DENY);
	assert_int_equal(decisions(SLOT(6), MG_TEL_DENY), evil + 1);
	assert_int_equal(decisions(SLOT_DEFAULT, MG_TEL_DENY), dflt);
	n = client_hello(hello, "www.example");
	open_flow(fx, &fx->st, SVC_SECURE);
	assert_int_equal(
		send_seg(fx, &fx->st, SVC_SECURE, ID_UNKNOWN, hello, n, &why),
		MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_DENY);
	assert_int_equal(decisions(SLOT(6), MG_TEL_DENY), evil + 1);
	assert_int_equal(decisions(SLOT_DEFAULT, MG_TEL_DENY), dflt + 1);
	/* the normal form of the name: lowercase, no trailing dot */
	n = client_hello(hello, "API.Example.");
	expect_tls(fx, ID_FRONTEND, hello, n, SLOT(5));
	/* a rule with allow_no_sni alone does not match a name */
	n = client_hello(hello, "www.example");
	expect_refused(fx, SVC_SECURE, ID_ADMIN, hello, n, SLOT_DEFAULT,
		       MG_DROP_L7_DENY);
	/* no SNI: no sni rule could see it, so denied unless a rule says
	 * so (admin-no-sni), counted against the default */
	n = client_hello(hello, NULL);
	expect_refused(fx, SVC_SECURE, ID_UNKNOWN, hello, n, SLOT_DEFAULT,
		       MG_DROP_L7_NO_SNI);
	expect_refused(fx, SVC_SECURE, ID_FRONTEND, hello, n, SLOT_DEFAULT,
		       MG_DROP_L7_NO_SNI);
	expect_tls(fx, ID_ADMIN, hello, n, SLOT(9));
	assert_int_equal(fx->st.phase, MG_L7_PHASE_PASS);
	/* plain HTTP on the TLS service */
	open_flow(fx, &fx->st, SVC_SECURE);
	assert_int_equal(send_text(fx, SVC_SECURE, ID_UNKNOWN, GET("/"), &why),
			 MG_L7_RESET);
	assert_int_equal(why, MG_DROP_L7_NOT_TLS);
	fixture_free(fx);
}

static void
test_compile_error_names_line(void **state)
{
	struct mg_conf *c = load("");
	uint32_t slots[N_POLICIES + 1] = { 0 };
	char err[512] = "";
	unsigned int i;

	(void)state;
	/* a pattern the loader would have refused, slipped in afterwards:
	 * the compile error still names its file and line */
	for (i = 0; i < c->n_patterns; i++)
		if (strcmp(c->patterns[i].regex, "^/admin(/|$)") == 0)
			break;
	assert_true(i < c->n_patterns);
	free(c->patterns[i].regex);
	c->patterns[i].regex = strdup("^/admin(");
	assert_null(mg_l7_build(c, slots, 1, err, sizeof(err)));
	assert_int_equal(rte_errno, EINVAL);
	assert_non_null(strstr(err, "t.conf:"));
	assert_non_null(strstr(err, "policy 'no-admin': http.path pattern "
				    "'^/admin('"));
	assert_int_equal(c->patterns[i].line,
			 atoi(strstr(err, "t.conf:") + strlen("t.conf:")));
	assert_null(mg_l7_build(c, NULL, 1, err, sizeof(err)));
	mg_conf_free(c);
}

static size_t
heap_allocated(void)
{
	struct rte_malloc_socket_stats st;

	assert_int_equal(rte_malloc_get_socket_stats(0, &st), 0);
	return st.heap_allocsz_bytes;
}

/* mg_l7_pool_memsize() is what create takes (the memory estimate rests
 * on it), to within heap element headers: 4 KiB + 0.5%. */
static void
test_pool_memsize(void **state)
{
	static const uint32_t shapes[][3] = {
		{ 1, 256, 1 },
		{ 1024, 4096, 2 },
		{ 5000, 1500, 4 },
	};
	struct mg_l7_pool *pool;
	size_t before, used, est, slack;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(shapes); i++) {
		before = heap_allocated();
		pool = mg_l7_pool_create("tpm", shapes[i][0], shapes[i][1],
					 shapes[i][2], SOCKET_ID_ANY, qsv);
		assert_non_null(pool);
		used = heap_allocated() - before;
		est = mg_l7_pool_memsize(shapes[i][0], shapes[i][1],
					 shapes[i][2]);
		slack = 4096 + est / 200;
		print_message("# pool %u x %u: %zu bytes estimated, %zu "
			      "allocated\n",
			      shapes[i][0], shapes[i][1], est, used);
		assert_true(est + slack >= used && used + slack >= est);
		mg_l7_pool_free(pool);
		assert_int_equal(heap_allocated(), before);
	}
}

static int
setup(void **state)
{
	size_t sz = rte_rcu_qsbr_get_memsize(1);

	(void)state;
	if (mg_test_eal_init("test_policy", "256", "0", false) < 0)
		return -1;
	if (mg_telemetry_configure(64, 64, 64) < 0)
		return -1;
	stats = mg_telemetry_lcore_claim(0, MG_LCORE_WORKER);
	qsv = rte_zmalloc("qsv", sz, RTE_CACHE_LINE_SIZE);
	if (stats == NULL || qsv == NULL || rte_rcu_qsbr_init(qsv, 1) != 0)
		return -1;
	rte_rcu_qsbr_thread_register(qsv, 0);
	rte_rcu_qsbr_thread_online(qsv, 0);
	return mg_test_tmpdir_make("test_policy");
}

static int
teardown(void **state)
{
	(void)state;
	rte_rcu_qsbr_thread_offline(qsv, 0);
	rte_free(qsv);
	mg_telemetry_fini();
	rte_eal_cleanup();
	return mg_test_tmpdir_remove();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_normal_forms),
		cmocka_unit_test(test_keep_alive_and_pipelining),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_bodies_are_skipped),
		cmocka_unit_test(test_split_heads),
		cmocka_unit_test(test_sequence_numbers),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_timestamps_and_reset),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_compile_error_names_line),
		cmocka_unit_test(test_pool_memsize),
	};

	return cmocka_run_group_tests_name("policy", tests, setup, teardown);
}
