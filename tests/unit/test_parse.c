/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Unit tests of the layer-7 parsers in lib/l7 (l7_parse.h): one case
 * per refusal rule of a request head, chunked framing and a ClientHello;
 * the shapes they must accept, real ClientHellos from curl and openssl,
 * every prefix and split point of valid inputs, and a seeded mutation
 * loop.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_scan.h"
#include "l7_parse.h"

#define DIM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- HTTP request heads ---- */

static struct mg_http_head head;

static int
http(const char *s)
{
	return mg_http_parse_head((const uint8_t *)s, strlen(s), &head);
}

static void
assert_str(const struct mg_http_str *s, const char *want)
{
	char got[512];

	assert_true(s->len < sizeof(got));
	memcpy(got, s->p, s->len);
	got[s->len] = '\0';
	assert_string_equal(got, want);
}

/*
 * Every prefix of @p s parses to 0 or to the whole's negative result, and
 * a negative prefix stays so: a refusal is final, and a valid prefix is
 * never refused. Fails naming @p s unless the whole parses to @p want
 * (> 0: its length; 0: strlen(s)). Leaves @p head filled from the whole.
 */
static void
http_check(const char *s, int want)
{
	uint32_t len = strlen(s), k;
	int whole, r, prev = 0;

	if (want == 0)
		want = (int)len;
	for (k = 0; k < len; k++) {
		r = mg_http_parse_head((const uint8_t *)s, k, &head);
		if (want > 0 ? r != (k < (uint32_t)want ? 0 : want)
			     : (r != 0 && r != want) || (prev && r != prev))
			fail_msg("\"%s\": prefix %u gives %d", s, k, r);
		prev = r;
	}
	whole = mg_http_parse_head((const uint8_t *)s, len, &head);
	if (whole != want)
		fail_msg("\"%s\": %d, not %d", s, whole, want);
}

#define GET_200                                                                \
	"GET /api/v1/items?id=42&sort=desc HTTP/1.1\r\n"                       \
	"Host: shop.example\r\n"                                               \
	"User-Agent: curl/7.88.1\r\n"                                          \
	"Accept: */*\r\n"                                                      \
	"X-Env:   prod \t\r\n"                                                 \
	"Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789\r\n"       \
	"\r\n"

static void
test_http_get(void **state)
{
	(void)state;
	http_check(GET_200, 0);
	assert_str(&head.method, "GET");
	assert_str(&head.target, "/api/v1/items?id=42&sort=desc");
	assert_str(&head.path, "/api/v1/items");
	assert_str(&head.query, "id=42&sort=desc");
	assert_false(head.path_params);
	assert_str(&head.host, "shop.example");
	assert_int_equal(head.minor, 1);
	assert_int_equal(head.body, MG_HTTP_BODY_NONE);
	assert_null(head.upgrade.p);
	assert_int_equal(head.n_headers, 5);
	assert_str(&head.headers[0].name, "Host");
	assert_str(&head.headers[3].name, "X-Env");
	assert_str(&head.headers[3].value, "prod");
	assert_str(&head.headers[4].value,
		   "Bearer abcdefghijklmnopqrstuvwxyz0123456789");
	/* Strings point into the buffer, not into a copy. */
	assert_ptr_equal(head.method.p, (const uint8_t *)GET_200);
}

static void
test_http_post_length(void **state)
{
	static const char req[] = "POST /orders HTTP/1.1\r\n"
				  "host: shop.example\r\n"
				  "content-LENGTH: 00000000000000011\r\n"
				  "\r\n"
				  "{\"id\": 42}\n";
	static const char cl18[] = "PUT / HTTP/1.1\r\nHost: a\r\n"
				   "Content-Length: 999999999999999999\r\n\r\n";

	(void)state;
	http_check(req, strlen(req) - 11);
	assert_str(&head.method, "POST");
	assert_str(&head.host, "shop.example");
	assert_int_equal(head.body, MG_HTTP_BODY_LENGTH);
	assert_int_equal(head.content_length, 11);
	http_check(cl18, 0);
	assert_int_equal(head.content_length, 999999999999999999ULL);
}

static void
test_http_chunked_head(void **state)
{
	static const char req[] = "POST /upload HTTP/1.1\r\n"
				  "Host: a\r\n"
				  "Transfer-Encoding: \tChunKed \r\n"
				  "\r\n";

	(void)state;
	http_check(req, 0);
	assert_int_equal(head.body, MG_HTTP_BODY_CHUNKED);
	assert_str(&head.headers[1].value, "ChunKed");
}

static void
test_http_10_no_host(void **state)
{
	static const char req[] = "GET /index.html HTTP/1.0\r\n"
				  "Accept: text/html\r\n"
				  "\r\n";

	(void)state;
	http_check(req, 0);
	assert_int_equal(head.minor, 0);
	assert_int_equal(head.host.len, 0);
	assert_ptr_equal(head.host.p, NULL);
	assert_int_equal(head.n_headers, 1);
	/* No header at all. */
	http_check("GET / HTTP/1.0\r\n\r\n", 0);
	assert_int_equal(head.n_headers, 0);
}

static void
test_http_options_star(void **state)
{
	static const char req[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";

	(void)state;
	http_check(req, 0);
	assert_str(&head.method, "OPTIONS");
	assert_str(&head.target, "*");
	assert_str(&head.path, "*");
	assert_null(head.query.p);
}

/* Methods are case-sensitive tokens, not a list. */
static void
test_http_methods(void **state)
{
	static const char *const ok[] = {
		"get / HTTP/1.1\r\nHost: a\r\n\r\n",
		"PROPFIND /dav/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"M-SEARCH! / HTTP/1.1\r\nHost: a\r\n\r\n",
		/* 20 bytes: the longest method taken for HTTP */
		"ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\nHost: a\r\n\r\n",
		/* "connect" is not CONNECT */
		"connect /x HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < DIM(ok); i++)
		http_check(ok[i], 0);
	http(ok[0]);
	assert_str(&head.method, "get");
}

static void
test_http_fields(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\n"
				  "hOsT:x.example:8080\r\n"
				  "Empty:\r\n"
				  "Spaces: \t \r\n"
				  "Inner:  a  b\tc \r\n"
				  "Obs-Text: caf\xc3\xa9\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: Upgrade\r\n"
				  "\r\n";

	(void)state;
	http_check(req, 0);
	assert_int_equal(head.n_headers, 7);
	assert_str(&head.headers[0].name, "hOsT");
	assert_str(&head.headers[0].value, "x.example:8080");
	assert_str(&head.host, "x.example"); /* without the port */
	assert_int_equal(head.headers[1].value.len, 0);
	assert_int_equal(head.headers[2].value.len, 0);
	assert_str(&head.headers[3].value, "a  b\tc");
	assert_str(&head.headers[4].value, "caf\xc3\xa9");
	assert_str(&head.upgrade, "websocket");
}

/* Targets that look odd but read one way only. */
static void
test_http_targets_ok(void **state)
{
	static const char *const ok[] = {
		"/",
		"/a/",
		"/.well-known/acme",
		"/a.b/c..d/...",
		"/a..",
		"/a%20b",
		"/caf%C3%A9",
		"/a?x=//../%2e%2f\\%zz",
		"/a?",
		"/a;v=1/b",
		"/a/.x/b",
		"/p%25",
		"/%3F%23",
		"/a/;jsessionid=1",
		"/;x",
		"/a%2C%3d%40",
		"/a%80",
	};
	char req[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < DIM(ok); i++) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n",
			 ok[i]);
		http_check(req, 0);
		assert_str(&head.target, ok[i]);
	}
}

/* The path and query policy reads: split at the first '?', the path's
 * ";params" noted (mg_l7.c reads the path with and without them). */
static void
test_http_path_query(void **state)
{
	static const struct {
		const char *target, *path, *query; /* query NULL: none */
		bool params;
	} cases[] = {
		{ "/admin", "/admin", NULL, false },
		{ "/admin?x", "/admin", "x", false },
		{ "/admin?", "/admin", "", false },
		{ "/a?x=1?y=/../%2e", "/a", "x=1?y=/../%2e", false },
		{ "/admin;x", "/admin;x", NULL, true },
		{ "/admin;x/y?q", "/admin;x/y", "q", true },
		{ "/a;b;c/d;e", "/a;b;c/d;e", NULL, true },
		{ "/app/;jsessionid=1", "/app/;jsessionid=1", NULL, true },
		{ "/;jsessionid=1", "/;jsessionid=1", NULL, true },
		{ "/a?b;c", "/a", "b;c", false },
		{ "/%3F%23", "/%3F%23", NULL, false },
	};
	char req[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < DIM(cases); i++) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n",
			 cases[i].target);
		http_check(req, 0);
		assert_str(&head.target, cases[i].target);
		assert_str(&head.path, cases[i].path);
		if (cases[i].query == NULL) {
			assert_null(head.query.p);
			assert_int_equal(head.query.len, 0);
		} else {
			assert_str(&head.query, cases[i].query);
		}
		if (head.path_params != cases[i].params)
			fail_msg("%s: path_params %d", cases[i].target,
				 head.path_params);
	}
}

/* Host in its normal form: no port, no trailing dot; case is kept for
 * caseless patterns. A request without Host has none (p NULL). */
static void
test_http_host_forms(void **state)
{
	static const char *const ok[][2] = {
		{ "admin.example", "admin.example" },
		{ "Admin.Example.:80", "Admin.Example" },
		{ "ADMIN.EXAMPLE:8080", "ADMIN.EXAMPLE" },
		{ "admin.example.", "admin.example" },
		{ "admin.example:", "admin.example" },
		{ "a:65535", "a" },
		{ "x_y-1.example", "x_y-1.example" },
		{ "198.18.0.1:80", "198.18.0.1" },
		{ "[2001:db8::1]:80", "[2001:db8::1]" },
		{ "[2001:DB8::1]", "[2001:DB8::1]" },
		{ "[::ffff:198.18.0.1]:8080", "[::ffff:198.18.0.1]" },
		{ "[::]", "[::]" },
		{ "", "" },
	};
	static const char *const bad[] = {
		".",
		".example",
		"a..b",
		"a.b..",
		":80",
		"a:80:80",
		"a:123456",
		"a:8x",
		"a b",
		"a@b",
		"a/b",
		"a%2eb",
		"a;b",
		"a,b",
		"[2001:db8::1",
		"[2001:db8::1]x",
		"[2001:db8::1]:x",
		"[v1.x]",
		"[fe80::1%25e0]",
		"[1.2.3.4]",
		"[]",
		"caf\xc3\xa9",
	};
	char req[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < DIM(ok); i++) {
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
			 ok[i][0]);
		http_check(req, 0);
		assert_str(&head.host, ok[i][1]);
		assert_non_null(head.host.p);
		assert_str(&head.headers[0].value, ok[i][0]);
	}
	for (i = 0; i < DIM(bad); i++) {
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
			 bad[i]);
		http_check(req, -MG_L7_ERR_BAD_REQUEST);
	}
	/* HTTP/1.0 without Host: none at all, not an empty one */
	http_check("GET /admin HTTP/1.0\r\n\r\n", 0);
	assert_null(head.host.p);
	assert_int_equal(head.host.len, 0);
	/* a Host that is checked only once its line ends */
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: a..b"), 0);
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: a..b\r\n"),
			 -MG_L7_ERR_BAD_REQUEST);
}

static void
test_http_upgrade(void **state)
{
	static const char *const ok[] = {
		"websocket",   "WebSocket",	  "h2c",       "h2c, websocket",
		"foo/1.1,bar", "a,b,c,d,e,f,g,h", "x/y \t, z",
	};
	static const char *const bad[] = {
		",websocket",
		"websocket,",
		"websocket,,h2c",
		"a b",
		"a/",
		"/a",
		"a/b/c",
		"a,b,c,d,e,f,g,h,i",
		"web\"socket",
		"a=b",
	};
	char req[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < DIM(ok); i++) {
		snprintf(req, sizeof(req),
			 "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: %s\r\n"
			 "Connection: Upgrade\r\n\r\n",
			 ok[i]);
		http_check(req, 0);
		assert_str(&head.upgrade, ok[i]);
	}
	for (i = 0; i < DIM(bad); i++) {
		snprintf(req, sizeof(req),
			 "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: %s\r\n\r\n",
			 bad[i]);
		http_check(req, -MG_L7_ERR_BAD_REQUEST);
	}
	/* empty, or twice */
	http_check("GET / HTTP/1.1\r\nHost: a\r\nUpgrade:\r\n\r\n",
		   -MG_L7_ERR_BAD_REQUEST);
	http_check("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n"
		   "upgrade: h2c\r\n\r\n",
		   -MG_L7_ERR_BAD_REQUEST);
	/* Connection: Upgrade alone is no upgrade */
	http_check("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n",
		   0);
	assert_null(head.upgrade.p);
}

static void
test_http_pipelined(void **state)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
				  "GET /b HTTP/1.1\r\nHost: b\r\n\r\n"
				  "GET /c HTTP/1.1\r\nHo";
	const uint8_t *p = (const uint8_t *)two;
	uint32_t len = strlen(two);
	int r;

	(void)state;
	r = mg_http_parse_head(p, len, &head);
	assert_int_equal(r, 28);
	assert_str(&head.target, "/a");
	r = mg_http_parse_head(p + 28, len - 28, &head);
	assert_int_equal(r, 28);
	assert_str(&head.target, "/b");
	assert_str(&head.host, "b");
	assert_int_equal(mg_http_parse_head(p + 56, len - 56, &head), 0);
	/* The first head is decided whatever follows it, even garbage. */
	assert_int_equal(http("GET /a HTTP/1.1\r\nHost: a\r\n\r\n\x16\x03"),
			 28);
}

static void
test_http_empty_prefixes(void **state)
{
	(void)state;
	assert_int_equal(mg_http_parse_head((const uint8_t *)"", 0, &head), 0);
	assert_int_equal(http("G"), 0);
	assert_int_equal(http("GET /ad"), 0);
	assert_int_equal(http("GET / HTTP/1.1\r"), 0);
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0);
}

/* Inputs that are not HTTP/1.x at all. */
static void
test_http_not_http(void **state)
{
	static const char *const bad[] = {
		"\x16\x03\x01",
		"\x16",
		"GET /a HTTP/2.0\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n",
		" / HTTP/1.1\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET  / HTTP/1.1\r\n",
		"GET\t/ HTTP/1.1\r\n",
		"GET / HTTP/1.1 \r\n",
		"GET / HTTP/1.10\r\n",
		"GET / HTTP/1.2\r\n",
		"GET / http/1.1\r\n",
		"GET / HTTP/1.\r\n",
		"GET /\r\n",
		"GET / \r\n",
		"GET /a\x01 HTTP/1.1\r\n",
		"GET /caf\xc3\xa9 HTTP/1.1\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"SET key value\r\n",
		"HELO mail.example\r\n",
		/* The shape decides before a bad target does. */
		"GET /../x HTTP/2.0\r\n",
		"GET http://x/ SIP/2.0\r\n",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < DIM(bad); i++)
		http_check(bad[i], -MG_L7_ERR_NOT_HTTP);
	/* Refused at once, not after a line's worth of bytes. */
	assert_int_equal(http("\x16"), -MG_L7_ERR_NOT_HTTP);
	assert_int_equal(http("ABCDEFGHIJKLMNOPQRSTU"), -MG_L7_ERR_NOT_HTTP);
	assert_int_equal(http("GET / HTTP/2"), -MG_L7_ERR_NOT_HTTP);
}

/* HTTP, but refused: one line per rule of l7_parse.h. */
static void
test_http_bad_request(void **state)
{
	static const char *const bad[] = {
		/* line ends */
		"GET / HTTP/1.1\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\rHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\rX",
		/* obs-fold, field names */
		"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n",
		/* field values */
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\001b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
		/* non-canonical paths */
		"GET // HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET //a HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a//b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/../admin HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /.. HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /. HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/.. HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/..?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x/..;/admin HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x/.;a HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /%2e%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/%2E HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%5cb HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%5C HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /%61dmin HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%7e HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a% HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n",
		/* escapes a server could decode into a shorter path or new
		 * parameters */
		"GET /admin%3Bx HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /admin%3b/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /admin%00.html HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%1f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%7F HTTP/1.1\r\nHost: a\r\n\r\n",
		/* a segment empty without its parameters */
		"GET /;x/admin HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/;x/b HTTP/1.1\r\nHost: a\r\n\r\n",
		/* a fragment, in the path or the query */
		"GET /admin#x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a?b#c HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /# HTTP/1.1\r\nHost: a\r\n\r\n",
		/* other target forms */
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
		"options * HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS *a HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n",
		/* body framing */
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"
		"\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
		"\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
		"1000000000000000000\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		"content-length: 5\r\n\r\n",
		/* Host */
		"GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < DIM(bad); i++)
		http_check(bad[i], -MG_L7_ERR_BAD_REQUEST);
	/* Refused as soon as it cannot become valid. */
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: a\r\nHost"), 0);
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: a\r\nHost:"), 0);
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n"),
			 -MG_L7_ERR_BAD_REQUEST);
	assert_int_equal(http("GET / HTTP/1.1\n"), -MG_L7_ERR_BAD_REQUEST);
	assert_int_equal(http("GET /%2e HTTP/1.1"), 0);
	assert_int_equal(http("GET /%2e HTTP/1.1\r"), -MG_L7_ERR_BAD_REQUEST);
}

static void
test_http_max_headers(void **state)
{
	char req[4096];
	int n, k;

	(void)state;
	n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (k = 1; k < MG_HTTP_MAX_HEADERS; k++)
		n += snprintf(req + n, sizeof(req) - n, "X-%d: %d\r\n", k, k);
	strcpy(req + n, "\r\n");
	assert_int_equal(http(req), n + 2);
	assert_int_equal(head.n_headers, MG_HTTP_MAX_HEADERS);
	assert_str(&head.headers[MG_HTTP_MAX_HEADERS - 1].value, "63");
	snprintf(req + n, sizeof(req) - n, "X-64: 64\r\n\r\n");
	http_check(req, -MG_L7_ERR_BAD_REQUEST);
}

/* ---- chunked framing ---- */

struct chunked_case {
	const char *body; /* framing, then maybe bytes of the next request */
	int used;	  /* bytes of framing; -1: bad */
};

static const struct chunked_case chunked_ok[] = {
	{ "0\r\n\r\n", 5 },
	{ "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 15 },
	{ "4;name=val\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks."
	  "\r\n0\r\n\r\n",
	  52 },
	{ "a; x=\"q\"\t;y\r\n0123456789\r\n0;last\r\nX-Trailer: v\r\n"
	  "Y:\r\n\r\n",
	  53 },
	{ "00000000000000A\r\n0123456789\r\n000\r\n\r\n", 36 },
	{ "1\r\n\x80\r\n0\r\n\r\n", 11 },
};

static const char *const chunked_bad[] = {
	"x\r\n",
	"\r\n",
	"5 \r\nhello\r\n",
	"5\nhello\r\n",
	"5\r\rhello\r\n",
	"5\r\nhelloX\r\n",
	"5\r\nhello\n",
	"5\r\nhello\r\r",
	"-5\r\n",
	"0x5\r\n",
	"0000000000000005\r\n",
	"5;a\x01\r\n",
	"5;a\nhello\r\n",
	"0\r\nX\r\n\r\n",
	"0\r\n X: v\r\n\r\n",
	"0\r\nX : v\r\n\r\n",
	"0\r\nX: \x01\r\n\r\n",
	"0\r\nX: v\n\r\n",
	"0\r\n\n",
	"0\r\n\rX",
};

/* Feed @p s in pieces cut at @p cuts; return the framing bytes used and
 * whether the body ended, or the error. */
static int
chunked_feed(const char *s, uint32_t len, const uint32_t *cuts,
	     unsigned int n_cuts, bool *done)
{
	uint64_t left = 0;
	uint8_t st = 0;
	uint32_t from = 0, to, used = 0;
	unsigned int k;
	int r;

	*done = false;
	for (k = 0; k <= n_cuts; k++) {
		to = k < n_cuts ? cuts[k] : len;
		r = mg_http_chunked(&left, &st, (const uint8_t *)s + from,
				    to - from, done);
		if (r < 0)
			return r;
		used += r;
		if (*done)
			return used;
		assert_int_equal(r, to - from);
		from = to;
	}
	return used;
}

static void
test_chunked(void **state)
{
	uint32_t len, a, b, cuts[2];
	unsigned int i;
	bool done;
	int r;

	(void)state;
	for (i = 0; i < DIM(chunked_ok); i++) {
		len = strlen(chunked_ok[i].body);
		r = chunked_feed(chunked_ok[i].body, len, NULL, 0, &done);
		assert_int_equal(r, chunked_ok[i].used);
		assert_true(done);
		/* Every single and every pair of split points. */
		for (a = 0; a <= len; a++) {
			for (b = a; b <= len; b++) {
				cuts[0] = a;
				cuts[1] = b;
				r = chunked_feed(chunked_ok[i].body, len, cuts,
						 2, &done);
				assert_int_equal(r, chunked_ok[i].used);
				assert_true(done);
			}
		}
		/* Short of the end: all taken, not done. */
		r = chunked_feed(chunked_ok[i].body, chunked_ok[i].used - 1,
				 NULL, 0, &done);
		assert_int_equal(r, chunked_ok[i].used - 1);
		assert_false(done);
	}
}

static void
test_chunked_byte_by_byte(void **state)
{
	const char *s = chunked_ok[3].body;
	uint32_t len = strlen(s), i;
	uint64_t left = 0;
	uint8_t st = 0;
	bool done = false;
	int r;

	(void)state;
	for (i = 0; i < len && !done; i++) {
		r = mg_http_chunked(&left, &st, (const uint8_t *)s + i, 1,
				    &done);
		assert_int_equal(r, 1);
	}
	assert_true(done);
	assert_int_equal(i, chunked_ok[3].used);
	/* Once done, the walker stays done until the caller resets it. */
	r = mg_http_chunked(&left, &st, (const uint8_t *)"x", 1, &done);
	assert_int_equal(r, 0);
	assert_true(done);
}

static void
test_chunked_sizes(void **state)
{
	uint64_t left = 0;
	uint8_t st = 0;
	bool done;
	int r;

	(void)state;
	/* 15 digits: the size is kept whole across calls. */
	r = mg_http_chunked(&left, &st, (const uint8_t *)"fffffff", 7, &done);
	assert_int_equal(r, 7);
	r = mg_http_chunked(&left, &st, (const uint8_t *)"FFFFFFFF\r\nab", 12,
			    &done);
	assert_int_equal(r, 12);
	assert_false(done);
	assert_int_equal(left, 0xfffffffffffffffULL - 2);
}

static void
test_chunked_bad(void **state)
{
	uint32_t len, a, cut;
	unsigned int i;
	uint64_t left;
	uint8_t st;
	bool done;
	int r;

	(void)state;
	for (i = 0; i < DIM(chunked_bad); i++) {
		len = strlen(chunked_bad[i]);
		for (a = 0; a <= len; a++) {
			cut = a;
			r = chunked_feed(chunked_bad[i], len, &cut, 1, &done);
			if (r != -MG_L7_ERR_BAD_REQUEST)
				fail_msg("case %u cut at %u: %d", i, a, r);
		}
	}
	/* An error sticks. */
	left = 0;
	st = 0;
	r = mg_http_chunked(&left, &st, (const uint8_t *)"x", 1, &done);
	assert_int_equal(r, -MG_L7_ERR_BAD_REQUEST);
	r = mg_http_chunked(&left, &st, (const uint8_t *)"0\r\n\r\n", 5, &done);
	assert_int_equal(r, -MG_L7_ERR_BAD_REQUEST);
	assert_false(done);
}

/* ---- TLS ClientHello ---- */

/* curl 7.88.1 (OpenSSL 3.0.19): --resolve api.example:PORT:127.0.0.1 -k
 * https://api.example:PORT/ -- SNI api.example, padding extension. */
static const uint8_t hello_curl[517] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x75,
	0x4e, 0xe8, 0x27, 0x2c, 0x80, 0x06, 0x81, 0x22, 0x77, 0xcc, 0x45, 0x61,
	0x5d, 0x81, 0xb5, 0x5f, 0xe9, 0xf8, 0x02, 0x45, 0xd4, 0xe5, 0xfe, 0x16,
	0xe0, 0x8b, 0x7a, 0x00, 0x6e, 0x3c, 0xd0, 0x20, 0x28, 0x69, 0x02, 0xd6,
	0x44, 0x51, 0x9f, 0xcd, 0x69, 0xf5, 0x36, 0x55, 0xd7, 0x06, 0x71, 0xbc,
	0x74, 0x1b, 0x1d, 0xc4, 0xf5, 0xf6, 0xfc, 0x9e, 0x24, 0xd0, 0x31, 0x2b,
	0x90, 0xd1, 0x14, 0xcf, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
	0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b, 0x61, 0x70, 0x69,
	0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04,
	0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
	0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01,
	0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c,
	0x02, 0x68, 0x32, 0x08, 0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31,
	0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x31, 0x00, 0x00,
	0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03,
	0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04,
	0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03,
	0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b,
	0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00,
	0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00,
	0x1d, 0x00, 0x20, 0x38, 0x61, 0x4a, 0xad, 0x08, 0x19, 0xc4, 0xbd, 0xb6,
	0xcb, 0x97, 0x6d, 0xdd, 0x84, 0x09, 0x43, 0x20, 0xf0, 0x92, 0x64, 0xe8,
	0xe9, 0x9e, 0x8c, 0x98, 0x75, 0xf1, 0x44, 0x8d, 0xe8, 0x8b, 0x2b, 0x00,
	0x15, 0x00, 0xb2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00,
};

/* openssl s_client 3.0.19 -noservername: no server_name extension. */
static const uint8_t hello_openssl[297] = {
	0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x3a,
	0x76, 0x8c, 0xf4, 0x3a, 0x88, 0x74, 0xc1, 0xfa, 0xaa, 0x53, 0x88, 0x34,
	0xb6, 0x89, 0x68, 0xc6, 0xc9, 0x3a, 0xf4, 0xfd, 0x24, 0x1c, 0x90, 0x0d,
	0x26, 0x0a, 0x91, 0xeb, 0xd1, 0xef, 0x95, 0x20, 0xdf, 0x84, 0x01, 0xec,
	0xb0, 0xb6, 0x5f, 0xf8, 0x60, 0x22, 0xfd, 0xc6, 0x87, 0x63, 0xb8, 0xd3,
	0x76, 0xfc, 0x91, 0x20, 0x23, 0x3c, 0xb6, 0x15, 0x38, 0x15, 0x95, 0x8a,
	0x87, 0xab, 0xab, 0xcd, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
	0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
	0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
	0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0x76, 0x85, 0xd3, 0xc5, 0xe5, 0x63, 0x20, 0x63, 0x4c, 0x23, 0x57,
	0xcb, 0xe7, 0x13, 0xb1, 0x47, 0x4a, 0x12, 0xb5, 0x38, 0xb2, 0xc4, 0xc6,
	0x6f, 0x3a, 0xf8, 0x36, 0x6d, 0xe4, 0x56, 0xc5, 0x7c,
};

static uint8_t tmp[1 << 16];
static struct mg_tls_hello hello;

static int
tls(const uint8_t *p, uint32_t len)
{
	return mg_tls_parse_client_hello(p, len, tmp, &hello);
}

/* Every prefix of a whole hello is 0; the whole is its length, and bytes
 * after it do not change that. */
static void
tls_prefixes(const uint8_t *p, uint32_t len)
{
	static uint8_t more[1 << 15];
	uint32_t k;

	for (k = 0; k < len; k++)
		assert_int_equal(tls(p, k), 0);
	assert_true(len + 6 <= sizeof(more));
	memcpy(more, p, len);
	memcpy(more + len, "\x14\x03\x03\x00\x01\x01", 6);
	assert_int_equal(tls(more, len + 6), len);
	assert_int_equal(tls(p, len), len);
}

static void
test_tls_curl(void **state)
{
	(void)state;
	tls_prefixes(hello_curl, sizeof(hello_curl));
	assert_true(hello.has_sni);
	assert_int_equal(hello.sni_len, 11);
	assert_string_equal(hello.sni, "api.example");
}

static void
test_tls_openssl_no_sni(void **state)
{
	(void)state;
	tls_prefixes(hello_openssl, sizeof(hello_openssl));
	assert_false(hello.has_sni);
	assert_int_equal(hello.sni_len, 0);
	assert_string_equal(hello.sni, "");
}

/* Byte writer for hand-built hellos. */
struct wr {
	uint8_t b[1 << 15];
	uint32_t n;
};

static void
put8(struct wr *w, uint32_t v)
{
	assert_true(w->n < sizeof(w->b));
	w->b[w->n++] = (uint8_t)v;
}

static void
put16(struct wr *w, uint32_t v)
{
	put8(w, v >> 8);
	put8(w, v);
}

static void
putn(struct wr *w, const void *p, uint32_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

/* Write 16-bit length @p len at @p at. */
static void
patch16(struct wr *w, uint32_t at, uint32_t len)
{
	w->b[at] = (uint8_t)(len >> 8);
	w->b[at + 1] = (uint8_t)len;
}

struct ext {
	uint16_t type;
	const char *data; /* NULL: a server_name holding @p sni */
	uint16_t len;
};

/* A ClientHello handshake message (no record header). */
static void
build_hello(struct wr *w, const uint16_t *suites, unsigned int n_suites,
	    const struct ext *exts, unsigned int n_exts, const char *sni)
{
	uint32_t mlen_at, ext_at, at, k;

	w->n = 0;
	put8(w, 1);
	mlen_at = w->n;
	put8(w, 0);
	put16(w, 0);
	put16(w, 0x0303);
	for (k = 0; k < 32; k++)
		put8(w, k * 7);
	put8(w, 32);
	for (k = 0; k < 32; k++)
		put8(w, 0xe0 + k);
	put16(w, 2 * n_suites);
	for (k = 0; k < n_suites; k++)
		put16(w, suites[k]);
	put8(w, 1);
	put8(w, 0);
	ext_at = w->n;
	put16(w, 0);
	for (k = 0; k < n_exts; k++) {
		put16(w, exts[k].type);
		at = w->n;
		put16(w, 0);
		if (exts[k].data != NULL) {
			putn(w, exts[k].data, exts[k].len);
		} else {
			put16(w, 3 + strlen(sni));
			put8(w, 0);
			put16(w, strlen(sni));
			putn(w, sni, strlen(sni));
		}
		patch16(w, at, w->n - at - 2);
	}
	patch16(w, ext_at, w->n - ext_at - 2);
	w->b[mlen_at] = (uint8_t)((w->n - 4) >> 16);
	patch16(w, mlen_at + 1, w->n - 4);
}

/* Wrap handshake bytes in records cut at @p cuts (offsets into @p m). */
static uint32_t
records(uint8_t *out, const uint8_t *m, uint32_t n, const uint32_t *cuts,
	unsigned int n_cuts)
{
	uint32_t from = 0, to, len = 0;
	unsigned int k;

	for (k = 0; k <= n_cuts; k++) {
		to = k < n_cuts ? cuts[k] : n;
		out[len++] = 22;
		out[len++] = 3;
		out[len++] = 1;
		out[len++] = (uint8_t)((to - from) >> 8);
		out[len++] = (uint8_t)(to - from);
		memcpy(out + len, m + from, to - from);
		len += to - from;
		from = to;
	}
	return len;
}

static const uint16_t suites_grease[] = { 0x3a3a, 0x1301, 0x1302,
					  0x1303, 0xc02b, 0xc02f };
static const struct ext exts_grease[] = {
	{ 0x9a9a, "", 0 },
	{ 0, NULL, 0 },
	{ 0x0017, "", 0 },
	{ 0x000a, "\x00\x04\x2a\x2a\x00\x1d", 6 },
	{ 0x002b, "\x04\x6a\x6a\x03\x04", 5 },
	{ 0x4469, "\x00\x03\x02h2", 5 },
	{ 0xfafa, "\x00", 1 },
};

static void
test_tls_grease(void **state)
{
	static struct wr w;
	static uint8_t rec[1 << 15];
	uint32_t n;

	(void)state;
	build_hello(&w, suites_grease, DIM(suites_grease), exts_grease,
		    DIM(exts_grease), "Shop-1_a.Example");
	n = records(rec, w.b, w.n, NULL, 0);
	tls_prefixes(rec, n);
	assert_true(hello.has_sni);
	/* the normal form is lowercase */
	assert_string_equal(hello.sni, "shop-1_a.example");
	assert_int_equal(hello.sni_len, 16);
}

static void
test_tls_split_records(void **state)
{
	static uint8_t rec[4096];
	const uint8_t *m = hello_curl + 5;
	uint32_t mlen = sizeof(hello_curl) - 5, n, k, cuts[3];

	(void)state;
	/* Two records, cut anywhere, the handshake header included. */
	for (k = 1; k < mlen; k++) {
		cuts[0] = k;
		n = records(rec, m, mlen, cuts, 1);
		memset(&hello, 0xa5, sizeof(hello));
		assert_int_equal(tls(rec, n), n);
		assert_string_equal(hello.sni, "api.example");
	}
	/* One whole record of a hello split in two is a valid prefix. */
	cuts[0] = 200;
	n = records(rec, m, mlen, cuts, 1);
	assert_int_equal(tls(rec, 5 + 200), 0);
	tls_prefixes(rec, n);
	/* Three records, with tiny ones. */
	cuts[0] = 1;
	cuts[1] = 3;
	cuts[2] = 300;
	n = records(rec, m, mlen, cuts, 3);
	tls_prefixes(rec, n);
	assert_true(hello.has_sni);
}

/* A hello with one thing broken: -BAD_HELLO, and every prefix is 0 or
 * the same refusal, which stays once given. @p what names the case. */
static void
assert_bad_hello(const uint8_t *rec, uint32_t n, const char *what,
		 unsigned int i)
{
	uint32_t k;
	int r, prev = 0;

	for (k = 0; k <= n; k++) {
		r = tls(rec, k);
		if ((r != 0 && r != -MG_L7_ERR_BAD_HELLO) ||
		    (prev != 0 && r != prev) ||
		    (k == n && r != -MG_L7_ERR_BAD_HELLO))
			fail_msg("%s %u: prefix %u of %u gives %d", what, i, k,
				 n, r);
		prev = r;
	}
}

static const char *const bad_names[] = {
	"", "a b", "a/b", "a..b", ".a", ".", "a..", "a\x80", "a:443", "a\x01",
};

/* server_name bodies; octal escapes, since a letter after one ends it. */
static const struct {
	const char *data;
	uint16_t len;
} bad_server_names[] = {
	{ "\000\010\000\000\001a\000\000\001b", 10 }, /* two host_names */
	{ "\000\004\001\000\001a", 6 },		      /* name type 1 */
	{ "\000\005\000\000\001a", 6 },		      /* list past the end */
	{ "\000\004\000\000\002a", 6 },		      /* name past the end */
	{ "\000\004\000\000\001ab", 7 },	      /* bytes after it */
	{ "\000\000", 2 },			      /* empty list */
	{ "", 0 },				      /* empty extension */
};

static void
test_tls_duplicate_ext(void **state)
{
	static struct wr w;
	static uint8_t rec[1 << 15];
	struct ext e[DIM(exts_grease) + 1];
	uint32_t cut;
	unsigned int i;
	/* supported_groups, server_name, a GREASE type */
	static const unsigned int twice[] = { 3, 1, 0 };

	(void)state;
	memcpy(e, exts_grease, sizeof(exts_grease));
	for (i = 0; i < DIM(twice); i++) {
		e[DIM(exts_grease)] = exts_grease[twice[i]];
		build_hello(&w, suites_grease, DIM(suites_grease), e, DIM(e),
			    "a.b");
		assert_bad_hello(rec, records(rec, w.b, w.n, NULL, 0), "dup",
				 i);
		/* ... also when the copies sit in different records */
		cut = w.n - 20;
		assert_bad_hello(rec, records(rec, w.b, w.n, &cut, 1), "dup",
				 i);
	}
}

/* The normal form of a server name: lowercase, one trailing dot left
 * out (a 255-byte name with it is 254 bytes). */
static void
test_tls_sni_normal_form(void **state)
{
	static const char *const names[][2] = {
		{ "API.Example.", "api.example" },
		{ "api.example.", "api.example" },
		{ "a.", "a" },
		{ "Shop-1_A", "shop-1_a" },
	};
	static struct wr w;
	static uint8_t rec[1 << 15];
	char name[MG_TLS_MAX_SNI + 1];
	unsigned int i;
	uint32_t n;

	(void)state;
	for (i = 0; i < DIM(names); i++) {
		build_hello(&w, suites_grease, DIM(suites_grease), exts_grease,
			    DIM(exts_grease), names[i][0]);
		n = records(rec, w.b, w.n, NULL, 0);
		tls_prefixes(rec, n);
		assert_true(hello.has_sni);
		assert_string_equal(hello.sni, names[i][1]);
		assert_int_equal(hello.sni_len, strlen(names[i][1]));
	}
	memset(name, 'a', sizeof(name));
	name[MG_TLS_MAX_SNI - 1] = '.';
	name[MG_TLS_MAX_SNI] = '\0';
	build_hello(&w, suites_grease, DIM(suites_grease), exts_grease,
		    DIM(exts_grease), name);
	n = records(rec, w.b, w.n, NULL, 0);
	assert_int_equal(tls(rec, n), n);
	assert_int_equal(hello.sni_len, MG_TLS_MAX_SNI - 1);
}

static void
test_tls_bad_sni(void **state)
{
	static struct wr w;
	static uint8_t rec[1 << 15];
	struct ext e[DIM(exts_grease)];
	char name[MG_TLS_MAX_SNI + 2];
	unsigned int i;
	uint32_t n;

	(void)state;
	for (i = 0; i < DIM(bad_names); i++) {
		build_hello(&w, suites_grease, DIM(suites_grease), exts_grease,
			    DIM(exts_grease), bad_names[i]);
		assert_bad_hello(rec, records(rec, w.b, w.n, NULL, 0), "name",
				 i);
	}
	/* 255 bytes is the most. */
	memset(name, 'a', sizeof(name));
	name[MG_TLS_MAX_SNI] = '\0';
	build_hello(&w, suites_grease, DIM(suites_grease), exts_grease,
		    DIM(exts_grease), name);
	n = records(rec, w.b, w.n, NULL, 0);
	assert_int_equal(tls(rec, n), n);
	assert_int_equal(hello.sni_len, MG_TLS_MAX_SNI);
	name[MG_TLS_MAX_SNI] = 'a';
	name[MG_TLS_MAX_SNI + 1] = '\0';
	build_hello(&w, suites_grease, DIM(suites_grease), exts_grease,
		    DIM(exts_grease), name);
	assert_bad_hello(rec, records(rec, w.b, w.n, NULL, 0), "name", 256);

	for (i = 0; i < DIM(bad_server_names); i++) {
		memcpy(e, exts_grease, sizeof(exts_grease));
		e[1].data = bad_server_names[i].data;
		e[1].len = bad_server_names[i].len;
		build_hello(&w, suites_grease, DIM(suites_grease), e, DIM(e),
			    NULL);
		assert_bad_hello(rec, records(rec, w.b, w.n, NULL, 0),
				 "server_name", i);
	}
}

/* Length and version faults, each in a copy of the openssl hello. */
static void
test_tls_bad_lengths(void **state)
{
	static uint8_t b[1024];
	const uint32_t n = sizeof(hello_openssl);
	/* Offsets in hello_openssl: record 0, handshake 5, version 9,
	 * session id length 43, suites length 76, then compression. */
	const uint32_t sid = 43, cs = 44 + hello_openssl[43];
	const uint32_t comp =
		cs + 2 + (hello_openssl[cs] << 8 | hello_openssl[cs + 1]);
	const uint32_t ext = comp + 1 + hello_openssl[comp];

	(void)state;
	assert_int_equal(
		ext + 2 + (hello_openssl[ext] << 8 | hello_openssl[ext + 1]),
		n);

#define MUTATE(stmt)                                                           \
	do {                                                                   \
		memcpy(b, hello_openssl, n);                                   \
		stmt;                                                          \
		assert_bad_hello(b, n, #stmt, __LINE__);                       \
	} while (0)

	MUTATE(b[4]--);	     /* record shorter than the hello */
	MUTATE(b[8]--);	     /* hello shorter than its fields */
	MUTATE(b[8]++);	     /* hello longer than its fields */
	MUTATE(b[5] = 2);    /* ServerHello */
	MUTATE(b[9] = 2);    /* legacy_version 2.x */
	MUTATE(b[10] = 0);   /* legacy_version 3.0 */
	MUTATE(b[sid] = 33); /* session id too long */
	MUTATE(b[sid] = 31);
	MUTATE(b[cs + 1]++); /* odd suites length */
	MUTATE(b[cs + 1] += 2);
	MUTATE(b[cs] = 0; b[cs + 1] = 0);
	MUTATE(b[comp] = 0);  /* no compression method */
	MUTATE(b[ext + 1]++); /* extensions past the message */
	MUTATE(b[ext + 1]--);
	MUTATE(b[ext + 5]++); /* first extension's length */
	MUTATE(b[ext + 5]--);

	/* A record length that no record may have. */
	memcpy(b, hello_openssl, n);
	b[3] = 0x40;
	b[4] = 0x01;
	assert_int_equal(tls(b, 4), 0);
	assert_int_equal(tls(b, 5), -MG_L7_ERR_BAD_HELLO);
	b[3] = 0x41;
	assert_int_equal(tls(b, 4), -MG_L7_ERR_BAD_HELLO);
	b[3] = 0;
	b[4] = 0;
	assert_int_equal(tls(b, 5), -MG_L7_ERR_BAD_HELLO);

	/* A hello that ends inside its record, another message after it. */
	memcpy(b, hello_openssl, n);
	b[4] += 4;
	memcpy(b + n, "\x10\x00\x00\x00", 4);
	assert_int_equal(tls(b, n + 4), -MG_L7_ERR_BAD_HELLO);
	assert_int_equal(tls(b, 9), -MG_L7_ERR_BAD_HELLO);
#undef MUTATE
}

static void
test_tls_not_tls(void **state)
{
	static uint8_t rec[1024];
	uint32_t n, cut = 100;

	(void)state;
	assert_int_equal(tls((const uint8_t *)"", 0), 0);
	assert_int_equal(tls((const uint8_t *)"\x16", 1), 0);
	assert_int_equal(tls((const uint8_t *)"\x16\x03", 2), 0);
	assert_int_equal(tls((const uint8_t *)"G", 1), -MG_L7_ERR_NOT_TLS);
	assert_int_equal(tls((const uint8_t *)"GET / HTTP/1.1\r\n", 16),
			 -MG_L7_ERR_NOT_TLS);
	/* Application data, alert, SSLv2-style header, version 2.x. */
	assert_int_equal(tls((const uint8_t *)"\x17\x03\x03", 3),
			 -MG_L7_ERR_NOT_TLS);
	assert_int_equal(tls((const uint8_t *)"\x15\x03\x01\x00\x02", 5),
			 -MG_L7_ERR_NOT_TLS);
	assert_int_equal(tls((const uint8_t *)"\x80\x2e\x01", 3),
			 -MG_L7_ERR_NOT_TLS);
	assert_int_equal(tls((const uint8_t *)"\x16\x02", 2),
			 -MG_L7_ERR_NOT_TLS);
	/* Another record type between the hello's records is a bad hello. */
	n = records(rec, hello_curl + 5, sizeof(hello_curl) - 5, &cut, 1);
	rec[5 + cut] = 0x14;
	assert_bad_hello(rec, n, "record type", 0);
	rec[5 + cut] = 22;
	rec[5 + cut + 1] = 2;
	assert_bad_hello(rec, n, "record version", 0);
}

/* ---- seeded mutations ---- */

/* Deterministic: the same seed gives the same inputs on every run. */
#define MUTATION_SEED 0x5eed1e57u
#define MUTATIONS     20000
#define MUT_MAX	      1024

static uint32_t
xorshift32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Flip 1..3 bytes, sometimes to a byte the grammar cares about, and
 * sometimes truncate. */
static uint32_t
mutate(uint8_t *b, const uint8_t *src, uint32_t len, uint32_t *seed)
{
	static const uint8_t special[] = { '\r', '\n', ' ', ':',  '/', '.',
					   '%',	 '\t', 0,   0xff, ';', '0' };
	unsigned int k, n;
	uint32_t at;

	memcpy(b, src, len);
	n = 1 + xorshift32(seed) % 3;
	for (k = 0; k < n; k++) {
		at = xorshift32(seed) % len;
		if (xorshift32(seed) % 2)
			b[at] = special[xorshift32(seed) % sizeof(special)];
		else
			b[at] = (uint8_t)xorshift32(seed);
	}
	if (xorshift32(seed) % 4 == 0)
		len = xorshift32(seed) % (len + 1);
	return len;
}

static void
check_head(const struct mg_http_head *h, const uint8_t *b, int r)
{
	uint32_t i;

	assert_true(h->method.p == b && h->method.len > 0);
	assert_true(h->target.p > b && h->target.p + h->target.len <= b + r);
	assert_true(h->minor <= 1);
	assert_true(h->body <= MG_HTTP_BODY_CHUNKED);
	assert_true(h->n_headers <= MG_HTTP_MAX_HEADERS);
	for (i = 0; i < h->n_headers; i++) {
		assert_true(h->headers[i].name.p > b);
		assert_true(h->headers[i].value.p + h->headers[i].value.len <=
			    b + r);
	}
	if (h->host.p != NULL)
		assert_true(h->host.p + h->host.len <= b + r);
	/* the normal forms are slices of the target */
	assert_ptr_equal(h->path.p, h->target.p);
	if (h->query.p == NULL)
		assert_int_equal(h->path.len, h->target.len);
	else
		assert_true(h->query.p == h->path.p + h->path.len + 1 &&
			    h->query.p[-1] == '?' &&
			    h->query.p + h->query.len ==
				    h->target.p + h->target.len);
	assert_true(memchr(h->path.p, '?', h->path.len) == NULL);
	assert_true(h->path_params ==
		    (memchr(h->path.p, ';', h->path.len) != NULL));
	if (h->host.len != 0)
		assert_true(
			h->host.p[h->host.len - 1] != '.' &&
			memchr(h->host.p, ':', h->host.len) ==
				(h->host.p[0] == '['
					 ? memchr(h->host.p, ':', h->host.len)
					 : NULL));
}

/* A copy in a heap block of exactly @p n bytes, so ASan reports any
 * read past the end (the mutation buffers are larger static arrays).
 * Zero bytes still get a block: malloc(0) may give NULL. */
static uint8_t *
dup_exact(const uint8_t *b, uint32_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	memcpy(c, b, n);
	return c;
}

static void
test_mutations_http(void **state)
{
	static const char *const src[] = {
		GET_200,
		"POST /a/b;c?d=%2e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		"\r\nhello",
		"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		"\r\n",
		"OPTIONS * HTTP/1.0\r\n\r\n",
	};
	static uint8_t b[MUT_MAX];
	static struct mg_http_head h2;
	uint32_t seed = MUTATION_SEED, len, cut, i;
	/* [0]: incomplete, [1..2]: -MG_L7_ERR_*, [3]: complete */
	unsigned int counts[4] = { 0 };
	uint8_t *exact;
	int r, r2;

	(void)state;
	for (i = 0; i < MUTATIONS; i++) {
		const char *s = src[i % DIM(src)];

		len = mutate(b, (const uint8_t *)s, strlen(s), &seed);
		r = mg_http_parse_head(b, len, &head);
		assert_true(r >= -MG_L7_ERR_BAD_REQUEST && r <= (int)len);
		assert_true(r != -MG_L7_ERR_NOT_TLS &&
			    r != -MG_L7_ERR_BAD_HELLO);
		/* the same bytes, where reading past them is caught */
		exact = dup_exact(b, len);
		r2 = mg_http_parse_head(exact, len, &h2);
		assert_int_equal(r, r2);
		if (r > 0) {
			check_head(&head, b, r);
			check_head(&h2, exact, r2);
			assert_int_equal(head.n_headers, h2.n_headers);
			assert_int_equal(head.content_length,
					 h2.content_length);
			assert_int_equal(head.target.p - b,
					 h2.target.p - exact);
			assert_int_equal(head.target.len, h2.target.len);
		}
		free(exact);
		counts[r > 0 ? 3 : -r]++;
		/* A refusal is final; a complete head stays complete; a
		 * prefix that is complete is the whole's head. */
		cut = len ? xorshift32(&seed) % len : 0;
		exact = dup_exact(b, cut);
		r2 = mg_http_parse_head(exact, cut, &h2);
		free(exact);
		if (r2 < 0)
			assert_int_equal(r, r2);
		if (r2 > 0)
			assert_int_equal(r, r2);
		if (r > 0 && cut >= (uint32_t)r)
			assert_int_equal(r2, r);
		if (r > 0 && cut < (uint32_t)r)
			assert_int_equal(r2, 0);
	}
	print_message("# http: complete %u incomplete %u not_http %u "
		      "bad_request %u\n",
		      counts[3], counts[0], counts[1], counts[2]);
	/* The flips land everywhere: every outcome shows up. */
	assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0 &&
		    counts[3] > 0);
}

static void
test_mutations_chunked(void **state)
{
	static uint8_t b[MUT_MAX];
	uint32_t seed = MUTATION_SEED, len, cut, i;
	unsigned int n_done = 0, n_bad = 0;
	bool done, done2;
	int r, r2;

	(void)state;
	for (i = 0; i < MUTATIONS; i++) {
		const char *s = chunked_ok[i % DIM(chunked_ok)].body;

		len = mutate(b, (const uint8_t *)s, strlen(s), &seed);
		r = chunked_feed((const char *)b, len, NULL, 0, &done);
		assert_true(r == -MG_L7_ERR_BAD_REQUEST ||
			    (r >= 0 && r <= (int)len));
		if (r >= 0 && !done)
			assert_int_equal(r, len);
		cut = xorshift32(&seed) % (len + 1);
		r2 = chunked_feed((const char *)b, len, &cut, 1, &done2);
		assert_int_equal(r, r2);
		assert_true(done == done2);
		n_done += done;
		n_bad += r < 0;
	}
	print_message("# chunked: done %u bad %u\n", n_done, n_bad);
	assert_true(n_done > 0 && n_bad > 0);
}

static void
test_mutations_tls(void **state)
{
	static uint8_t src[3][1024], b[1024], tmp2[1024];
	static struct wr w;
	static struct mg_tls_hello h2;
	uint32_t src_len[3], seed = MUTATION_SEED, len, cut, i, c;
	/* [0]: incomplete, [3..4]: -MG_L7_ERR_*, [1]: complete */
	unsigned int counts[5] = { 0 };
	uint8_t *exact;
	int r, r2;

	(void)state;
	memcpy(src[0], hello_curl, sizeof(hello_curl));
	src_len[0] = sizeof(hello_curl);
	memcpy(src[1], hello_openssl, sizeof(hello_openssl));
	src_len[1] = sizeof(hello_openssl);
	build_hello(&w, suites_grease, DIM(suites_grease), exts_grease,
		    DIM(exts_grease), "api.example");
	c = w.n / 2;
	src_len[2] = records(src[2], w.b, w.n, &c, 1);

	for (i = 0; i < MUTATIONS; i++) {
		unsigned int s = i % 3;

		len = mutate(b, src[s], src_len[s], &seed);
		r = mg_tls_parse_client_hello(b, len, tmp, &hello);
		assert_true(r == 0 || r == -MG_L7_ERR_NOT_TLS ||
			    r == -MG_L7_ERR_BAD_HELLO ||
			    (r > 0 && r <= (int)len));
		/* the same bytes, where reading past them is caught */
		exact = dup_exact(b, len);
		r2 = mg_tls_parse_client_hello(exact, len, tmp2, &h2);
		free(exact);
		assert_int_equal(r, r2);
		if (r > 0) {
			assert_true(hello.sni_len <= MG_TLS_MAX_SNI);
			assert_int_equal(strlen(hello.sni), hello.sni_len);
			assert_true(hello.has_sni == h2.has_sni);
			assert_string_equal(hello.sni, h2.sni);
		}
		counts[r > 0 ? 1 : -r]++;
		/* as for HTTP: refusals final, complete prefixes whole */
		cut = len ? xorshift32(&seed) % len : 0;
		exact = dup_exact(b, cut);
		r2 = mg_tls_parse_client_hello(exact, cut, tmp2, &h2);
		free(exact);
		if (r2 < 0)
			assert_int_equal(r, r2);
		if (r2 > 0)
			assert_int_equal(r, r2);
		if (r > 0)
			assert_int_equal(r2, cut >= (uint32_t)r ? r : 0);
	}
	print_message("# tls: complete %u incomplete %u not_tls %u "
		      "bad_hello %u\n",
		      counts[1], counts[0], counts[MG_L7_ERR_NOT_TLS],
		      counts[MG_L7_ERR_BAD_HELLO]);
	assert_true(counts[0] > 0 && counts[1] > 0 &&
		    counts[MG_L7_ERR_NOT_TLS] > 0 &&
		    counts[MG_L7_ERR_BAD_HELLO] > 0);
}

static void test_http_get(void **state);
static void test_http_post_length(void **state);
static void test_http_fields(void **state);
static void test_http_targets_ok(void **state);
static void test_http_path_query(void **state);
static void test_http_not_http(void **state);
static void test_http_bad_request(void **state);
static void test_http_max_headers(void **state);
static void test_mutations_http(void **state);

/* The HTTP cases again byte by byte, where the others ran on the
 * AVX-512 scanner (the mutation counts it prints must not change). */
static void
test_http_byte_by_byte(void **state)
{
	bool was = http_scan_avx512;

	http_scan_avx512 = false;
	test_http_get(state);
	test_http_post_length(state);
	test_http_fields(state);
	test_http_targets_ok(state);
	test_http_path_query(state);
	test_http_not_http(state);
	test_http_bad_request(state);
	test_http_max_headers(state);
	test_mutations_http(state);
	http_scan_avx512 = was;
}

#define SCAN_IN(name, r)                                                       \
	static bool name(uint8_t c)                                            \
	{                                                                      \
		return http_run_in(r, c);                                      \
	}
SCAN_IN(scan_in_tchar, HTTP_RUN_TCHAR)
SCAN_IN(scan_in_field, HTTP_RUN_FIELD)
SCAN_IN(scan_in_path, HTTP_RUN_PATH)
SCAN_IN(scan_in_query, HTTP_RUN_QUERY)

/* The nibble tables say what the byte table says, for every byte of
 * every run class (the AVX-512 scanner reads only the tables). */
static void
test_scan_tables(void **state)
{
	struct http_run_lut lut;
	unsigned int r, c;

	(void)state;
	for (r = 0; r < HTTP_RUNS; r++) {
		bool (*in)(uint8_t) = NULL;

		switch (r) {
		case HTTP_RUN_TCHAR: in = scan_in_tchar; break;
		case HTTP_RUN_FIELD: in = scan_in_field; break;
		case HTTP_RUN_PATH: in = scan_in_path; break;
		case HTTP_RUN_QUERY: in = scan_in_query; break;
		}
		assert_true(http_run_lut_build(&lut, in));
		for (c = 0; c < 256; c++) {
			bool by_lut = c >= 0x80 ? lut.high_in
						: (lut.lo[c & 15] &
						   lut.hi[c >> 4]) != 0;

			assert_int_equal(by_lut, http_run_in(r, (uint8_t)c));
		}
	}
}

/* Where the CPU has AVX-512BW: the vector scanner ends every run where
 * the byte loop does, for runs of every length to 200 from every
 * offset, with a stray byte at a random place (or none), 0x80-0xff
 * included; the buffer ends at a page's end, so a read past len would
 * fault. Without AVX-512BW, what the scans use is the byte loop. */
static void
test_scan_avx512_agrees(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map, *end;
	struct http_run_lut lut[HTTP_RUNS];
	bool (*const in[HTTP_RUNS])(uint8_t) = {
		scan_in_tchar,
		scan_in_field,
		scan_in_path,
		scan_in_query,
	};
	unsigned int r, len, off, k, n = 0;

	(void)state;
	if (!__builtin_cpu_supports("avx512f") ||
	    !__builtin_cpu_supports("avx512bw")) {
		assert_false(http_scan_avx512);
		return;
	}
	assert_true(http_scan_avx512);
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
	end = map + page;
	srand(7230);
	for (r = 0; r < HTTP_RUNS; r++) {
		uint8_t members[256], others[256];
		unsigned int nm = 0, no = 0, c;

		assert_true(http_run_lut_build(&lut[r], in[r]));
		for (c = 0; c < 256; c++) {
			if (in[r]((uint8_t)c))
				members[nm++] = (uint8_t)c;
			else
				others[no++] = (uint8_t)c;
		}
		for (len = 0; len <= 200; len++) {
			for (off = 0; off <= len && off < 70; off++) {
				uint8_t *p = end - len;
				uint32_t want;

				for (k = 0; k < len; k++)
					p[k] = members[rand() % nm];
				if (len > off && rand() % 4 != 0)
					p[off + rand() % (len - off)] =
						others[rand() % no];
				for (want = off; want < len && in[r](p[want]);
				     want++)
					;
				assert_int_equal(http_run_end_avx512(&lut[r], p,
								     off, len),
						 want);
				n++;
			}
		}
	}
	assert_true(n > 10000);
	munmap(map, 2 * page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_get),
		cmocka_unit_test(test_http_post_length),
		cmocka_unit_test(test_http_chunked_head),
		cmocka_unit_test(test_http_10_no_host),
		cmocka_unit_test(test_http_options_star),
		cmocka_unit_test(test_http_methods),
		cmocka_unit_test(test_http_fields),
		cmocka_unit_test(test_http_targets_ok),
		cmocka_unit_test(test_http_path_query),
		cmocka_unit_test(test_http_host_forms),
		cmocka_unit_test(test_http_upgrade),
		cmocka_unit_test(test_http_pipelined),
		cmocka_unit_test(test_http_empty_prefixes),
		cmocka_unit_test(test_http_not_http),
		cmocka_unit_test(test_http_bad_request),
		cmocka_unit_test(test_http_max_headers),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_byte_by_byte),
		cmocka_unit_test(test_chunked_sizes),
		cmocka_unit_test(test_chunked_bad),
		cmocka_unit_test(test_tls_curl),
		cmocka_unit_test(test_tls_openssl_no_sni),
		cmocka_unit_test(test_tls_grease),
		cmocka_unit_test(test_tls_split_records),
		cmocka_unit_test(test_tls_duplicate_ext),
		cmocka_unit_test(test_tls_sni_normal_form),
		cmocka_unit_test(test_tls_bad_sni),
		cmocka_unit_test(test_tls_bad_lengths),
		cmocka_unit_test(test_tls_not_tls),
		cmocka_unit_test(test_mutations_http),
		cmocka_unit_test(test_mutations_chunked),
		cmocka_unit_test(test_mutations_tls),
		cmocka_unit_test(test_scan_tables),
		cmocka_unit_test(test_scan_avx512_agrees),
		cmocka_unit_test(test_http_byte_by_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
