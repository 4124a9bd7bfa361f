/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The table of drop reasons as the binary assembles it (mg_drops_init(),
 * app/meshgate/drops.c): every reason named once, each stage where its
 * header says, and the same reasons under the same names as before the
 * stages declared their own (the list of fa0c96c, whose one enum
 * numbered them in this order, is below).
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rte_common.h>

#include "drops.h"
#include "mg_esp.h"
#include "mg_flow.h"
#include "mg_l7.h"
#include "mg_limit.h"
#include "mg_pkt.h"

/* `meshgate --list-drop-reasons` at fa0c96c, each name with the
 * constant that names it. */
static const struct {
	unsigned int reason;
	const char *name;
} before[] = {
	{ MG_DROP_MULTI_SEG, "multi_seg" },
	{ MG_DROP_RUNT, "runt" },
	{ MG_DROP_VLAN_TRUNCATED, "vlan_truncated" },
	{ MG_DROP_VLAN_TOO_MANY, "vlan_too_many" },
	{ MG_DROP_ETHERTYPE_UNKNOWN, "ethertype_unknown" },
	{ MG_DROP_ARP_MALFORMED, "arp_malformed" },
	{ MG_DROP_IPV4_TRUNCATED, "ipv4_truncated" },
	{ MG_DROP_IPV4_BAD_VERSION, "ipv4_bad_version" },
	{ MG_DROP_IPV4_BAD_IHL, "ipv4_bad_ihl" },
	{ MG_DROP_IPV4_BAD_OPTIONS, "ipv4_bad_options" },
	{ MG_DROP_IPV4_BAD_LENGTH, "ipv4_bad_length" },
	{ MG_DROP_IPV4_FRAGMENT, "ipv4_fragment" },
	{ MG_DROP_IPV4_BAD_CKSUM, "ipv4_bad_cksum" },
	{ MG_DROP_IPV6_TRUNCATED, "ipv6_truncated" },
	{ MG_DROP_IPV6_BAD_VERSION, "ipv6_bad_version" },
	{ MG_DROP_IPV6_BAD_LENGTH, "ipv6_bad_length" },
	{ MG_DROP_IPV6_EXT_TRUNCATED, "ipv6_ext_truncated" },
	{ MG_DROP_IPV6_EXT_CHAIN, "ipv6_ext_chain" },
	{ MG_DROP_IPV6_FRAGMENT, "ipv6_fragment" },
	{ MG_DROP_TCP_TRUNCATED, "tcp_truncated" },
	{ MG_DROP_TCP_BAD_DOFF, "tcp_bad_doff" },
	{ MG_DROP_UDP_TRUNCATED, "udp_truncated" },
	{ MG_DROP_UDP_BAD_LENGTH, "udp_bad_length" },
	{ MG_DROP_ICMP_TRUNCATED, "icmp_truncated" },
	{ MG_DROP_L4_BAD_CKSUM, "l4_bad_cksum" },
	{ MG_DROP_L4_PROTO_UNKNOWN, "l4_proto_unknown" },
	{ MG_DROP_TX_FULL, "tx_full" },
	{ MG_DROP_NO_SERVICE, "no_service" },
	{ MG_DROP_LOCAL_UNHANDLED, "local_unhandled" },
	{ MG_DROP_POLICY_DENY, "policy_deny" },
	{ MG_DROP_TCP_NOT_SYN, "tcp_not_syn" },
	{ MG_DROP_FLOW_TABLE_FULL, "flow_table_full" },
	{ MG_DROP_NO_ROUTE, "no_route" },
	{ MG_DROP_NEIGH_QUEUE_FULL, "neigh_queue_full" },
	{ MG_DROP_NEIGH_TIMEOUT, "neigh_timeout" },
	{ MG_DROP_L7_DENY, "l7_deny" },
	{ MG_DROP_L7_NOT_HTTP, "l7_not_http" },
	{ MG_DROP_L7_BAD_REQUEST, "l7_bad_request" },
	{ MG_DROP_L7_NOT_TLS, "l7_not_tls" },
	{ MG_DROP_L7_BAD_HELLO, "l7_bad_hello" },
	{ MG_DROP_L7_TOO_LARGE, "l7_too_large" },
	{ MG_DROP_L7_PENDING_FULL, "l7_pending_full" },
	{ MG_DROP_L7_OUT_OF_ORDER, "l7_out_of_order" },
	{ MG_DROP_L7_RESET, "l7_reset" },
	{ MG_DROP_L7_AMBIGUOUS, "l7_ambiguous" },
	{ MG_DROP_L7_STALE_TIMESTAMP, "l7_stale_timestamp" },
	{ MG_DROP_L7_NO_SNI, "l7_no_sni" },
	{ MG_DROP_L7_UPGRADE_DENY, "l7_upgrade_deny" },
	{ MG_DROP_TTL_EXCEEDED, "ttl_exceeded" },
	{ MG_DROP_TCP_OUT_OF_WINDOW, "tcp_out_of_window" },
	{ MG_DROP_TCP_CHALLENGED, "tcp_challenged" },
	{ MG_DROP_ICMP_UNMATCHED, "icmp_unmatched" },
	{ MG_DROP_FRAG_TOO_BIG, "frag_too_big" },
	{ MG_DROP_FRAG_FIRST_SHORT, "frag_first_short" },
	{ MG_DROP_FRAG_TIMEOUT, "frag_timeout" },
	{ MG_DROP_FRAG_TABLE_FULL, "frag_table_full" },
	{ MG_DROP_MTU_EXCEEDED, "mtu_exceeded" },
	{ MG_DROP_RATE_LIMITED_CONN, "rate_limited_conn" },
	{ MG_DROP_CONN_LIMIT, "conn_limit" },
	{ MG_DROP_RATE_LIMITED_PPS, "rate_limited_pps" },
	{ MG_DROP_ESP_REQUIRED, "esp_required" },
	{ MG_DROP_ESP_UNKNOWN_SPI, "esp_unknown_spi" },
	{ MG_DROP_ESP_MALFORMED, "esp_malformed" },
	{ MG_DROP_ESP_REPLAY, "esp_replay" },
	{ MG_DROP_ESP_OUT_OF_WINDOW, "esp_out_of_window" },
	{ MG_DROP_ESP_BAD_ICV, "esp_bad_icv" },
	{ MG_DROP_ESP_SEQ_EXHAUSTED, "esp_seq_exhausted" },
	{ MG_DROP_ESP_CRYPTO_FULL, "esp_crypto_full" },
	{ MG_DROP_ESP_WRONG_PEER, "esp_wrong_peer" },
	{ MG_DROP_ESP_WRONG_QUEUE, "esp_wrong_queue" },
	{ MG_DROP_MARTIAN_SOURCE, "martian_source" },
	{ MG_DROP_SYN_COOKIE_INVALID, "syn_cookie_invalid" },
	{ MG_DROP_SYN_PROXY_PENDING, "syn_proxy_pending" },
};

static void
test_init(void **state)
{
	(void)state;
	assert_int_equal(mg_drop_reason_end(), MG_DROP_PKT_END);
	assert_int_equal(mg_drops_init(), 0);
	assert_int_equal(mg_drop_reason_end(), MG_DROP_END);
	/* again, as a second caller would: nothing changes */
	assert_int_equal(mg_drops_init(), 0);
	assert_int_equal(mg_drop_reason_end(), MG_DROP_END);
}

/* Every reason below the end has a name, none twice; none above. */
static void
test_complete(void **state)
{
	unsigned int r, q;
	const char *name;

	(void)state;
	assert_string_equal(mg_drop_reason_name(MG_DROP_NONE), "none");
	for (r = 1; r < MG_DROP_END; r++) {
		name = mg_drop_reason_name(r);
		assert_non_null(name);
		assert_string_not_equal(name, "invalid");
		assert_string_not_equal(name, "none");
		assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz0123"
					      "456789_"),
				 strlen(name));
		for (q = 1; q < r; q++)
			assert_string_not_equal(name, mg_drop_reason_name(q));
	}
	for (r = MG_DROP_END; r <= MG_DROP_CAPACITY; r++)
		assert_string_equal(mg_drop_reason_name(r), "invalid");
}

/* Each stage starts where the one before ends, as the headers chain,
 * and its names are the table's at its reasons. */
static void
test_stages(void **state)
{
	static const struct {
		const struct mg_drop_stage *stage;
		unsigned int first, end;
	} want[] = {
		{ &mg_esp_drop_stage, MG_DROP_PKT_END, MG_DROP_ESP_END },
		{ &mg_flow_drop_stage, MG_DROP_ESP_END, MG_DROP_FLOW_END },
		{ &mg_limit_drop_stage, MG_DROP_FLOW_END, MG_DROP_LIMIT_END },
		{ &mg_l7_drop_stage, MG_DROP_LIMIT_END, MG_DROP_L7_END },
		{ &mg_app_drop_stage, MG_DROP_L7_END, MG_DROP_END },
	};
	unsigned int i, r, prev = MG_DROP_PKT_END;

	(void)state;
	for (i = 0; i < RTE_DIM(want); i++) {
		const struct mg_drop_stage *s = want[i].stage;

		assert_int_equal(s->first, want[i].first);
		assert_int_equal(s->end, want[i].end);
		assert_int_equal(s->first, prev);
		assert_true(s->end > s->first);
		for (r = s->first; r < s->end; r++)
			assert_string_equal(mg_drop_reason_name(r),
					    s->names[r]);
		prev = s->end;
	}
	assert_int_equal(prev, MG_DROP_END);
	assert_true(MG_DROP_END <= MG_DROP_CAPACITY);
}

/* The same reasons under the same names as at fa0c96c, no more. */
static void
test_same_as_before(void **state)
{
	unsigned int i, r, seen;

	(void)state;
	assert_int_equal(RTE_DIM(before), MG_DROP_END - 1);
	for (i = 0; i < RTE_DIM(before); i++) {
		assert_string_equal(mg_drop_reason_name(before[i].reason),
				    before[i].name);
		for (seen = 0, r = 1; r < MG_DROP_END; r++)
			seen += strcmp(mg_drop_reason_name(r),
				       before[i].name) == 0;
		assert_int_equal(seen, 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_stages),
		cmocka_unit_test(test_same_as_before),
	};

	return cmocka_run_group_tests_name("drops", tests, NULL, NULL);
}
