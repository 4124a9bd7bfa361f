/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The table of drop-reason names: lib/pkt's own, and those each stage
 * above adds at start-up (mg_drop_stage_add()), so telemetry, the
 * Prometheus text and --list-drop-reasons read one table without
 * depending on the stages that declare the reasons.
 */

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>

#include "mg_pkt.h"

/* mg_pkt_parse_burst() and the shadow and recorder entries carry a
 * reason in a byte. */
static_assert(MG_DROP_CAPACITY <= UINT8_MAX + 1,
	      "drop reasons must fit a byte");
static_assert(MG_DROP_PKT_END <= MG_DROP_CAPACITY,
	      "lib/pkt's drop reasons fit the table");

/* Written only by mg_drop_stage_add() at start-up; read afterwards. */
static const char *names[MG_DROP_CAPACITY] = {
	[MG_DROP_NONE] = "none",
	[MG_DROP_MULTI_SEG] = "multi_seg",
	[MG_DROP_RUNT] = "runt",
	[MG_DROP_VLAN_TRUNCATED] = "vlan_truncated",
	[MG_DROP_VLAN_TOO_MANY] = "vlan_too_many",
	[MG_DROP_ETHERTYPE_UNKNOWN] = "ethertype_unknown",
	[MG_DROP_ARP_MALFORMED] = "arp_malformed",
	[MG_DROP_IPV4_TRUNCATED] = "ipv4_truncated",
	[MG_DROP_IPV4_BAD_VERSION] = "ipv4_bad_version",
	[MG_DROP_IPV4_BAD_IHL] = "ipv4_bad_ihl",
	[MG_DROP_IPV4_BAD_OPTIONS] = "ipv4_bad_options",
	[MG_DROP_IPV4_BAD_LENGTH] = "ipv4_bad_length",
	[MG_DROP_IPV4_FRAGMENT] = "ipv4_fragment",
	[MG_DROP_IPV4_BAD_CKSUM] = "ipv4_bad_cksum",
	[MG_DROP_IPV6_TRUNCATED] = "ipv6_truncated",
	[MG_DROP_IPV6_BAD_VERSION] = "ipv6_bad_version",
	[MG_DROP_IPV6_BAD_LENGTH] = "ipv6_bad_length",
	[MG_DROP_IPV6_EXT_TRUNCATED] = "ipv6_ext_truncated",
	[MG_DROP_IPV6_EXT_CHAIN] = "ipv6_ext_chain",
	[MG_DROP_IPV6_FRAGMENT] = "ipv6_fragment",
	[MG_DROP_TCP_TRUNCATED] = "tcp_truncated",
	[MG_DROP_TCP_BAD_DOFF] = "tcp_bad_doff",
	[MG_DROP_UDP_TRUNCATED] = "udp_truncated",
	[MG_DROP_UDP_BAD_LENGTH] = "udp_bad_length",
	[MG_DROP_ICMP_TRUNCATED] = "icmp_truncated",
	[MG_DROP_L4_BAD_CKSUM] = "l4_bad_cksum",
	[MG_DROP_L4_PROTO_UNKNOWN] = "l4_proto_unknown",
	[MG_DROP_TX_FULL] = "tx_full",
	[MG_DROP_FRAG_TOO_BIG] = "frag_too_big",
	[MG_DROP_FRAG_FIRST_SHORT] = "frag_first_short",
	[MG_DROP_ESP_MALFORMED] = "esp_malformed",
	[MG_DROP_L7_AMBIGUOUS] = "l7_ambiguous",
	[MG_DROP_NO_ROUTE] = "no_route",
	[MG_DROP_MTU_EXCEEDED] = "mtu_exceeded",
};
static unsigned int names_end = MG_DROP_PKT_END;

/* A telemetry key and a Prometheus label value as they are today. */
static bool
name_ok(const char *name)
{
	return name != NULL && *name != '\0' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
		       strlen(name) &&
	       strcmp(name, "invalid") != 0;
}

static bool
name_taken(const char *name, unsigned int end)
{
	unsigned int r;

	for (r = 0; r < end; r++)
		if (strcmp(names[r], name) == 0)
			return true;
	return false;
}

static bool
same_stage(const struct mg_drop_stage *s)
{
	unsigned int r;

	for (r = s->first; r < s->end; r++)
		if (s->names[r] == NULL || strcmp(names[r], s->names[r]) != 0)
			return false;
	return true;
}

int
mg_drop_stage_add(const struct mg_drop_stage *s)
{
	unsigned int r, q;

	if (s == NULL || s->names == NULL || s->first == 0 ||
	    s->end <= s->first || s->end > MG_DROP_CAPACITY)
		return -EINVAL;
	if (s->first < names_end)
		return s->end <= names_end && same_stage(s) ? 0 : -EEXIST;
	if (s->first != names_end)
		return -EINVAL;
	/* all checked before any is written: the table stays whole */
	for (r = s->first; r < s->end; r++) {
		if (!name_ok(s->names[r]) || name_taken(s->names[r], names_end))
			return -EINVAL;
		for (q = s->first; q < r; q++)
			if (strcmp(s->names[q], s->names[r]) == 0)
				return -EINVAL;
	}
	for (r = s->first; r < s->end; r++)
		names[r] = s->names[r];
	names_end = s->end;
	return 0;
}

unsigned int
mg_drop_reason_end(void)
{
	return names_end;
}

const char *
mg_drop_reason_name(enum mg_drop_reason reason)
{
	if ((unsigned int)reason >= names_end)
		return "invalid";
	return names[reason];
}
