/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Unit tests of lib/flow: lookups from both sides, a full table, TCP
 * tracking (states from both halves, the window, exact resets, SYNs that
 * start a new connection or draw a challenge ACK), expiry on a fake
 * clock, RCU reuse and a concurrent writer.
 */

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mg_test.h"

#include <netinet/in.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>
#include <rte_tcp.h>

#include "mg_flow.h"

/* One cycle per millisecond: a timeout of N seconds is N * 1000 cycles. */
#define HZ     1000
#define SEC(s) ((uint64_t)(s)*HZ)

#define SYN RTE_TCP_SYN_FLAG
#define ACK RTE_TCP_ACK_FLAG
#define FIN RTE_TCP_FIN_FLAG
#define RST RTE_TCP_RST_FLAG
#define PSH RTE_TCP_PSH_FLAG
#define FWD MG_FLOW_DIR_FWD
#define REV MG_FLOW_DIR_REV

/* What a test created; the teardown frees it even after a failed assert. */
static struct mg_flow_table *tbl;
static struct rte_rcu_qsbr *qsv;

/* A table of @p writers shards. */
static struct mg_flow_table *
table_new_shards(uint32_t max_flows, uint32_t writers,
		 const struct mg_flow_conf *timeouts, struct rte_rcu_qsbr *v)
{
	struct mg_flow_params p = {
		.name = "test_flow",
		.max_flows = max_flows,
		.writers = writers,
		.socket = SOCKET_ID_ANY,
		.timeouts = timeouts,
		.tsc_hz = HZ,
		.qsv = v,
	};

	tbl = mg_flow_table_create(&p);
	assert_non_null(tbl);
	return tbl;
}

static struct mg_flow_table *
table_new(uint32_t max_flows, const struct mg_flow_conf *timeouts,
	  struct rte_rcu_qsbr *v)
{
	return table_new_shards(max_flows, 1, timeouts, v);
}

/*
 * The two keys of connection @p id: client 10.0.x.y:(10000 + id) to
 * VIP 198.18.0.1:80, answered by backend 192.0.2.10:8080.
 */
static void
flow_keys(uint32_t id, uint8_t proto, struct mg_5tuple k[2])
{
	static const uint8_t vip[4] = { 198, 18, 0, 1 };
	static const uint8_t backend[4] = { 192, 0, 2, 10 };
	uint8_t client[4] = { 10, 0, (uint8_t)(id >> 8), (uint8_t)id };
	uint16_t cport = rte_cpu_to_be_16((uint16_t)(10000 + id));

	memset(k, 0, 2 * sizeof(*k));
	memcpy(k[0].src, client, 4);
	memcpy(k[0].dst, vip, 4);
	k[0].sport = cport;
	k[0].dport = rte_cpu_to_be_16(80);
	memcpy(k[1].src, backend, 4);
	memcpy(k[1].dst, client, 4);
	k[1].sport = rte_cpu_to_be_16(8080);
	k[1].dport = cport;
	k[0].proto = k[1].proto = proto;
	k[0].family = k[1].family = 4;
}

/* Initial sequence numbers of connection @p id's client and backend. */
#define ISN_C(id) (0xfffff000u + (uint32_t)(id)*7919u)
#define ISN_S(id) (0x7ffffff0u + (uint32_t)(id)*104729u)
#define WIN	  8192

/* Connection @p id admitted by the writer of rank @p self. */
static struct mg_flow *
flow_open_by(unsigned int self, uint32_t id, uint8_t proto, uint64_t now)
{
	struct mg_flow *f = mg_flow_alloc(tbl, self);
	const struct mg_pkt_tcp_seg syn = {
		.seq = ISN_C(id),
		.win = WIN,
		.flags = SYN,
		.wscale = MG_PKT_NO_WSCALE,
	};

	assert_non_null(f);
	flow_keys(id, proto, f->key);
	f->service_id = (uint16_t)id;
	if (proto == IPPROTO_TCP)
		mg_flow_tcp_syn(tbl, f, &syn);
	assert_int_equal(mg_flow_publish(tbl, f, now), 0);
	return f;
}

static struct mg_flow *
flow_open(uint32_t id, uint8_t proto, uint64_t now)
{
	return flow_open_by(0, id, proto, now);
}

static enum mg_flow_state
state_of(const struct mg_flow *f)
{
	return mg_flow_state(tbl, f);
}

static uint32_t
last_seen(const struct mg_flow *f, unsigned int dir)
{
	return mg_flow_half(tbl, f, dir)->last_seen;
}

/*
 * A TCP conversation as both ends see it, kept apart from what the
 * tracker stores: the next sequence number each side sends, and what
 * each acknowledges. seg() sends one segment and advances the sender
 * when the tracker accepts it.
 */
struct conv {
	struct mg_flow *f;
	uint32_t next[2];
	uint16_t win[2];
};

static struct conv
conv_open(uint32_t id, uint64_t now)
{
	struct conv c = { .f = flow_open(id, IPPROTO_TCP, now) };

	c.next[FWD] = ISN_C(id) + 1;
	c.next[REV] = ISN_S(id);
	c.win[FWD] = c.win[REV] = WIN;
	return c;
}

static enum mg_flow_verdict
seg_at(struct conv *c, unsigned int dir, uint8_t flags, uint32_t seq,
       uint32_t ack, uint16_t len, uint64_t now)
{
	const struct mg_pkt_tcp_seg s = {
		.seq = seq,
		.ack = ack,
		.win = c->win[dir],
		.flags = flags,
		.len = len,
		.wscale = MG_PKT_NO_WSCALE,
	};
	enum mg_flow_verdict v = mg_flow_tcp_track(tbl, c->f, dir, &s, false);

	if (v == MG_FLOW_ACCEPT)
		mg_flow_touch(tbl, c->f, dir, now);
	return v;
}

static enum mg_flow_verdict
seg(struct conv *c, unsigned int dir, uint8_t flags, uint16_t len, uint64_t now)
{
	enum mg_flow_verdict v =
		seg_at(c, dir, flags, c->next[dir],
		       (flags & ACK) ? c->next[!dir] : 0, len, now);

	if (v == MG_FLOW_ACCEPT && !(flags & RST))
		c->next[dir] += len + !!(flags & SYN) + !!(flags & FIN);
	return v;
}

/* Looks one tuple up as the writer of rank @p self; returns the entry or
 * NULL, and its direction. */
static struct mg_flow *
lookup_by(unsigned int self, const struct mg_5tuple *k, uint8_t *dir)
{
	const struct mg_5tuple *keys[1] = { k };
	struct mg_flow *f[1];
	uint8_t d[1];
	uint64_t hits;

	hits = mg_flow_lookup_bulk(tbl, self, keys, 1, f, d);
	assert_int_equal(hits != 0, f[0] != NULL);
	if (dir != NULL)
		*dir = d[0];
	return f[0];
}

static struct mg_flow *
lookup1(const struct mg_5tuple *k, uint8_t *dir)
{
	return lookup_by(0, k, dir);
}

/* True when connection @p id is reachable from both sides. */
static bool
flow_found(uint32_t id, uint8_t proto)
{
	struct mg_5tuple k[2];
	struct mg_flow *a, *b;

	flow_keys(id, proto, k);
	a = lookup1(&k[0], NULL);
	b = lookup1(&k[1], NULL);
	assert_ptr_equal(a, b);
	return a != NULL;
}

static void
expire_all(uint64_t now)
{
	struct mg_flow_cursor c = { 0 };

	mg_flow_expire(tbl, &c, now, UINT32_MAX);
}

/* Drives a fresh TCP conversation to @p state with packets at @p now. */
static void
drive(struct conv *c, enum mg_flow_state state, uint64_t now)
{
	if (state == MG_FLOW_SYN_SENT || state == MG_FLOW_UDP)
		return;
	assert_int_equal(seg(c, REV, SYN | ACK, 0, now), MG_FLOW_ACCEPT);
	if (state == MG_FLOW_SYN_RECV)
		return;
	assert_int_equal(seg(c, FWD, ACK, 0, now), MG_FLOW_ACCEPT);
	if (state == MG_FLOW_ESTABLISHED)
		return;
	if (state == MG_FLOW_CLOSED) {
		assert_int_equal(seg(c, REV, RST | ACK, 0, now),
				 MG_FLOW_ACCEPT);
		return;
	}
	assert_int_equal(seg(c, FWD, FIN | ACK, 0, now), MG_FLOW_ACCEPT);
	if (state == MG_FLOW_FIN_WAIT)
		return;
	assert_int_equal(seg(c, REV, FIN | ACK, 0, now), MG_FLOW_ACCEPT);
}

static struct conv
conv_in(uint32_t id, enum mg_flow_state state, uint64_t now)
{
	struct conv c = conv_open(id, now);

	drive(&c, state, now);
	assert_int_equal(state_of(c.f), state);
	return c;
}

/* ---- tests ---- */

static void
test_create_errors(void **state)
{
	struct mg_flow_params p = {
		.name = "test_flow",
		.max_flows = 16,
		.tsc_hz = HZ,
		.socket = SOCKET_ID_ANY,
	};
	struct mg_flow_params bad;
	struct mg_flow_table *t2;

	(void)state;
	assert_null(mg_flow_table_create(NULL));
	assert_int_equal(rte_errno, EINVAL);
	bad = p;
	bad.max_flows = 0;
	assert_null(mg_flow_table_create(&bad));
	assert_int_equal(rte_errno, EINVAL);
	bad = p;
	bad.tsc_hz = 0;
	assert_null(mg_flow_table_create(&bad));
	assert_int_equal(rte_errno, EINVAL);
	bad = p;
	bad.name = NULL;
	assert_null(mg_flow_table_create(&bad));
	assert_int_equal(rte_errno, EINVAL);
	bad = p;
	bad.name = "0123456789abcdefgh+"; /* 19 characters */
	assert_null(mg_flow_table_create(&bad));
	assert_int_equal(rte_errno, EINVAL);
	bad = p;
	bad.writers = 17; /* more shards than connections */
	assert_null(mg_flow_table_create(&bad));
	assert_int_equal(rte_errno, EINVAL);
	assert_int_equal(mg_flow_table_memsize(16, 17), 0);
	bad.max_flows = 1000;
	bad.writers = 65;
	assert_null(mg_flow_table_create(&bad));
	assert_int_equal(rte_errno, EINVAL);
	assert_int_equal(mg_flow_table_memsize(1000, 65), 0);

	bad = p;
	bad.name = "0123456789abcdefgh"; /* 18: the longest accepted */
	bad.max_flows = 64;
	bad.writers = 64; /* ":63": the longest suffix of a shard's names */
	tbl = mg_flow_table_create(&bad);
	assert_non_null(tbl);
	t2 = mg_flow_table_create(&bad);
	assert_null(t2);
	assert_int_equal(rte_errno, EEXIST);
	mg_flow_table_free(tbl);
	tbl = NULL;
	mg_flow_table_free(NULL);
}

static void
test_lookup_both_directions(void **state)
{
	struct mg_5tuple k[2], other[2];
	struct mg_flow *f, *g;
	uint8_t dir;

	(void)state;
	table_new(16, NULL, NULL);
	f = flow_open(7, IPPROTO_TCP, 100);
	assert_int_equal(mg_flow_count(tbl), 1);
	assert_int_equal(state_of(f), MG_FLOW_SYN_SENT);
	assert_int_equal(last_seen(f, FWD), 100);
	assert_int_equal(last_seen(f, REV), 100);

	flow_keys(7, IPPROTO_TCP, k);
	dir = 0xff;
	g = lookup1(&k[0], &dir);
	assert_ptr_equal(g, f);
	assert_int_equal(dir, FWD);
	g = lookup1(&k[1], &dir);
	assert_ptr_equal(g, f);
	assert_int_equal(dir, REV);
	assert_int_equal(g->service_id, 7);

	/* Same addresses, other protocol or port: different connections. */
	flow_keys(7, IPPROTO_UDP, other);
	assert_null(lookup1(&other[0], NULL));
	assert_null(lookup1(&other[1], NULL));
	/* only the client's port differs, in either direction's key */
	memcpy(other, k, sizeof(other));
	other[0].sport = rte_cpu_to_be_16(rte_be_to_cpu_16(k[0].sport) + 1);
	other[1].dport = other[0].sport;
	assert_null(lookup1(&other[0], NULL));
	assert_null(lookup1(&other[1], NULL));
	/* and the service port, or the backend's */
	memcpy(other, k, sizeof(other));
	other[0].dport = rte_cpu_to_be_16(81);
	other[1].sport = rte_cpu_to_be_16(8081);
	assert_null(lookup1(&other[0], NULL));
	assert_null(lookup1(&other[1], NULL));
	/* another client altogether */
	flow_keys(8, IPPROTO_TCP, other);
	assert_null(lookup1(&other[1], NULL));
	/* the keys themselves still find it */
	assert_ptr_equal(lookup1(&k[0], NULL), f);
}

/* An explicit removal: both keys gone, the entry reusable, a second
 * removal (or expiry of the same entry) refused. */
static void
test_remove(void **state)
{
	struct mg_flow *f;
	unsigned int i;

	(void)state;
	table_new(16, NULL, NULL);
	f = flow_open(3, IPPROTO_TCP, 100);
	flow_open(4, IPPROTO_TCP, 100);
	assert_int_equal(mg_flow_remove(tbl, 0, f), 0);
	assert_false(flow_found(3, IPPROTO_TCP));
	assert_true(flow_found(4, IPPROTO_TCP));
	assert_int_equal(mg_flow_count(tbl), 1);
	assert_int_equal(mg_flow_remove(tbl, 0, f), -ENOENT);
	expire_all(100 + 3600 * HZ + 1);
	assert_int_equal(mg_flow_count(tbl), 0);
	/* without a qsv the entry is back at once: the table fills again */
	for (i = 0; i < 16; i++)
		flow_open(100 + i, IPPROTO_UDP, 200);
	assert_int_equal(mg_flow_count(tbl), 16);
}

static void
test_bulk_hit_mask(void **state)
{
	struct mg_5tuple k[RTE_HASH_LOOKUP_BULK_MAX][2];
	const struct mg_5tuple *keys[RTE_HASH_LOOKUP_BULK_MAX];
	struct mg_flow *flows[RTE_HASH_LOOKUP_BULK_MAX];
	struct mg_flow *opened[20];
	uint8_t dir[RTE_HASH_LOOKUP_BULK_MAX];
	uint64_t hits, want = 0;
	unsigned int i;

	(void)state;
	table_new(32, NULL, NULL);
	for (i = 0; i < RTE_DIM(opened); i++)
		opened[i] = flow_open(i, IPPROTO_UDP, 1);

	/* Every third key is unknown; the others alternate sides. */
	for (i = 0; i < RTE_HASH_LOOKUP_BULK_MAX; i++) {
		bool hit = i % 3 != 0;

		flow_keys(hit ? i % 20 : 1000 + i, IPPROTO_UDP, k[i]);
		keys[i] = &k[i][i & 1];
		if (hit)
			want |= UINT64_C(1) << i;
	}
	hits = mg_flow_lookup_bulk(tbl, 0, keys, RTE_HASH_LOOKUP_BULK_MAX,
				   flows, dir);
	assert_int_equal(hits, want);
	for (i = 0; i < RTE_HASH_LOOKUP_BULK_MAX; i++) {
		if (i % 3 == 0) {
			assert_null(flows[i]);
			continue;
		}
		assert_ptr_equal(flows[i], opened[i % 20]);
		assert_int_equal(dir[i], i & 1);
	}
	assert_int_equal(mg_flow_lookup_bulk(tbl, 0, keys, 0, flows, dir), 0);
	/* A short burst uses only its own bits. */
	assert_int_equal(mg_flow_lookup_bulk(tbl, 0, keys + 1, 3, flows, dir),
			 0x3);
}

static void
test_table_full(void **state)
{
	unsigned int i;

	(void)state;
	table_new(8, NULL, NULL);
	for (i = 0; i < 8; i++)
		flow_open(i, IPPROTO_TCP, 1);
	assert_int_equal(mg_flow_count(tbl), 8);

	rte_errno = 0;
	assert_null(mg_flow_alloc(tbl, 0));
	assert_int_equal(rte_errno, ENOSPC);
	for (i = 0; i < 8; i++)
		assert_true(flow_found(i, IPPROTO_TCP));

	/* Flows that expire make room again. */
	expire_all(SEC(100));
	assert_int_equal(mg_flow_count(tbl), 0);
	for (i = 0; i < 8; i++) {
		assert_false(flow_found(i, IPPROTO_TCP));
		flow_open(100 + i, IPPROTO_TCP, SEC(100));
	}
	assert_null(mg_flow_alloc(tbl, 0));
}

static void
test_duplicate_publish(void **state)
{
	struct mg_5tuple k[2];
	struct mg_flow *a, *f;
	unsigned int i;

	(void)state;
	table_new(4, NULL, NULL);
	a = flow_open(1, IPPROTO_TCP, 1);

	/* The same connection from a second worker. */
	f = mg_flow_alloc(tbl, 0);
	assert_non_null(f);
	flow_keys(1, IPPROTO_TCP, f->key);
	assert_int_equal(mg_flow_publish(tbl, f, 2), -EEXIST);
	mg_flow_release(tbl, f);

	/* A new client tuple whose reverse key clashes with flow 1. */
	f = mg_flow_alloc(tbl, 0);
	assert_non_null(f);
	flow_keys(2, IPPROTO_TCP, f->key);
	flow_keys(1, IPPROTO_TCP, k);
	f->key[1] = k[1];
	assert_int_equal(mg_flow_publish(tbl, f, 2), -EEXIST);
	flow_keys(2, IPPROTO_TCP, k);
	assert_null(lookup1(&k[0], NULL));
	mg_flow_release(tbl, f);

	/* A flow that would be its own reverse. */
	f = mg_flow_alloc(tbl, 0);
	assert_non_null(f);
	flow_keys(3, IPPROTO_TCP, f->key);
	f->key[1] = f->key[0];
	assert_int_equal(mg_flow_publish(tbl, f, 2), -EEXIST);
	assert_null(lookup1(&f->key[0], NULL));
	mg_flow_release(tbl, f);

	/* Flow 1 is untouched and every released entry is free again. */
	assert_int_equal(mg_flow_count(tbl), 1);
	flow_keys(1, IPPROTO_TCP, k);
	assert_ptr_equal(lookup1(&k[1], NULL), a);
	assert_int_equal(last_seen(a, FWD), 1);
	for (i = 0; i < 3; i++)
		flow_open(10 + i, IPPROTO_TCP, 3);
	assert_null(mg_flow_alloc(tbl, 0));
}

static void
test_tcp_handshake_and_close(void **state)
{
	struct conv c;

	(void)state;
	table_new(8, NULL, NULL);
	c = conv_open(1, 1);
	assert_int_equal(state_of(c.f), MG_FLOW_SYN_SENT);

	/* The same SYN again passes; a SYN-ACK from the client's side, an
	 * ACK before anything was sent back, and a backend SYN-ACK that does
	 * not acknowledge the SYN do not. */
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(1), 0, 0, 2),
			 MG_FLOW_ACCEPT);
	assert_int_equal(seg_at(&c, FWD, SYN | ACK, ISN_C(1), 5, 0, 3),
			 MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg(&c, FWD, ACK, 0, 3), MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(
		seg_at(&c, REV, SYN | ACK, ISN_S(1), ISN_C(1) + 2, 0, 4),
		MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg_at(&c, REV, ACK, ISN_S(1), ISN_C(1) + 1, 0, 4),
			 MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(state_of(c.f), MG_FLOW_SYN_SENT);
	assert_int_equal(last_seen(c.f, FWD), 2);
	assert_int_equal(last_seen(c.f, REV), 1);

	assert_int_equal(seg(&c, REV, SYN | ACK, 0, 5), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_SYN_RECV);
	/* retransmitted SYN-ACK; another ISN is not the backend's */
	assert_int_equal(
		seg_at(&c, REV, SYN | ACK, ISN_S(1), ISN_C(1) + 1, 0, 6),
		MG_FLOW_ACCEPT);
	assert_int_equal(
		seg_at(&c, REV, SYN | ACK, ISN_S(1) + 9, ISN_C(1) + 1, 0, 6),
		MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(1), 0, 0, 7),
			 MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_SYN_RECV);
	assert_int_equal(seg(&c, FWD, ACK, 0, 8), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_ESTABLISHED);

	assert_int_equal(seg(&c, FWD, PSH | ACK, 100, 9), MG_FLOW_ACCEPT);
	assert_int_equal(seg(&c, REV, PSH | ACK, 300, 10), MG_FLOW_ACCEPT);
	assert_int_equal(seg(&c, FWD, ACK, 0, 10), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_ESTABLISHED);

	assert_int_equal(seg(&c, FWD, FIN | ACK, 0, 12), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_FIN_WAIT);
	/* retransmitted FIN */
	assert_int_equal(
		seg_at(&c, FWD, FIN | ACK, c.next[FWD] - 1, c.next[REV], 0, 13),
		MG_FLOW_ACCEPT);
	assert_int_equal(seg(&c, REV, ACK, 0, 14), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_FIN_WAIT);
	assert_int_equal(seg(&c, REV, FIN | ACK, 0, 15), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_TIME_WAIT);
	assert_int_equal(seg(&c, FWD, ACK, 0, 16), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_TIME_WAIT);
	assert_int_equal(last_seen(c.f, FWD), 16);
	assert_int_equal(last_seen(c.f, REV), 15);

	/* The server may close first, and the last ACK may carry a FIN. */
	c = conv_in(2, MG_FLOW_ESTABLISHED, 2);
	assert_int_equal(seg(&c, REV, FIN | ACK, 0, 3), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_FIN_WAIT);
	c = conv_in(3, MG_FLOW_SYN_RECV, 2);
	assert_int_equal(seg(&c, FWD, FIN | ACK, 0, 3), MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_FIN_WAIT);
}

static void
test_tcp_rst(void **state)
{
	static const enum mg_flow_state from[] = {
		MG_FLOW_SYN_SENT, MG_FLOW_SYN_RECV,  MG_FLOW_ESTABLISHED,
		MG_FLOW_FIN_WAIT, MG_FLOW_TIME_WAIT,
	};
	struct conv c;
	uint32_t seq, ack;
	unsigned int i, dir;

	(void)state;
	table_new(32, NULL, NULL);
	for (i = 0; i < RTE_DIM(from); i++) {
		/* a RST at the sender's next sequence number closes it,
		 * from either side (the backend's before its SYN-ACK: a
		 * refusal, acknowledging the SYN) */
		dir = i & 1 ? FWD : REV;
		c = conv_in(i, from[i], 2);
		assert_int_equal(seg(&c, dir, RST | ACK, 0, 3), MG_FLOW_ACCEPT);
		assert_int_equal(state_of(c.f), MG_FLOW_CLOSED);
		/* a new SYN on a reset connection starts a new one */
		assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(i) + 77, 0, 0, 4),
				 MG_FLOW_NEW);
		assert_int_equal(state_of(c.f), MG_FLOW_CLOSED);
	}

	/* Exact means exact: in the window but off by one is challenged
	 * (the receiver's ACK comes back), outside it dropped. */
	c = conv_in(10, MG_FLOW_ESTABLISHED, 2);
	assert_int_equal(seg(&c, REV, PSH | ACK, 1000, 3), MG_FLOW_ACCEPT);
	assert_int_equal(
		seg_at(&c, REV, RST | ACK, c.next[REV] + 1, c.next[FWD], 0, 4),
		MG_FLOW_CHALLENGE);
	mg_flow_challenge(tbl, c.f, REV, &seq, &ack);
	assert_int_equal(seq, c.next[FWD]);
	assert_int_equal(ack, c.next[REV] - 1000); /* client acked nothing */
	assert_int_equal(
		seg_at(&c, REV, RST, c.next[REV] + 100000, c.next[FWD], 0, 4),
		MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg_at(&c, FWD, RST, c.next[FWD] - 1, 0, 0, 4),
			 MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(state_of(c.f), MG_FLOW_ESTABLISHED);
	/* the receiver's last ACK is exact too (a reset answering a
	 * segment takes its ACK as sequence number) */
	assert_int_equal(seg(&c, FWD, ACK, 0, 5), MG_FLOW_ACCEPT);
	assert_int_equal(seg_at(&c, REV, RST, c.next[REV], 0, 0, 6),
			 MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_CLOSED);

	/* Before the SYN-ACK, a backend RST must acknowledge the SYN. */
	c = conv_open(11, 2);
	assert_int_equal(seg_at(&c, REV, RST, 0, 0, 0, 3),
			 MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg_at(&c, REV, RST | ACK, 0, ISN_C(11) + 2, 0, 3),
			 MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(state_of(c.f), MG_FLOW_SYN_SENT);
	assert_int_equal(seg_at(&c, REV, RST | ACK, 0, ISN_C(11) + 1, 0, 3),
			 MG_FLOW_ACCEPT);
	assert_int_equal(state_of(c.f), MG_FLOW_CLOSED);
}

/* What a caller may not do with a connection's sequence space. */
static void
test_tcp_window(void **state)
{
	struct conv c;
	uint32_t edge;

	(void)state;
	table_new(8, NULL, NULL);
	/* Nothing but the handshake before the backend's SYN-ACK. */
	c = conv_open(1, 1);
	assert_int_equal(seg(&c, FWD, PSH | ACK, 10, 2), MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg(&c, FWD, PSH, 10, 2), MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg(&c, FWD, FIN | ACK, 0, 2), MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(state_of(c.f), MG_FLOW_SYN_SENT);

	c = conv_in(2, MG_FLOW_ESTABLISHED, 1);
	/* data right up to the backend's window (its SYN-ACK's: WIN) */
	assert_int_equal(seg(&c, FWD, PSH | ACK, WIN, 2), MG_FLOW_ACCEPT);
	edge = c.next[FWD];
	/* starting past the window */
	assert_int_equal(
		seg_at(&c, FWD, PSH | ACK, edge + 1, c.next[REV], 1, 3),
		MG_FLOW_OUT_OF_WINDOW);
	/* starting at its edge passes (a probe), but not if inspected
	 * bytes must all lie inside */
	assert_int_equal(seg_at(&c, FWD, PSH | ACK, edge, c.next[REV], 1, 3),
			 MG_FLOW_ACCEPT);
	{
		const struct mg_pkt_tcp_seg s = {
			.seq = edge,
			.ack = c.next[REV],
			.win = WIN,
			.flags = PSH | ACK,
			.len = 1,
			.wscale = MG_PKT_NO_WSCALE,
		};

		assert_int_equal(mg_flow_tcp_track(tbl, c.f, FWD, &s, true),
				 MG_FLOW_OUT_OF_WINDOW);
	}
	/* a FIN outside the window moves nothing */
	assert_int_equal(
		seg_at(&c, FWD, FIN | ACK, edge + 5000, c.next[REV], 0, 3),
		MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(state_of(c.f), MG_FLOW_ESTABLISHED);
	/* an ACK of bytes the backend never sent, or far behind them */
	assert_int_equal(seg_at(&c, FWD, ACK, edge, c.next[REV] + 1, 0, 3),
			 MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg_at(&c, FWD, ACK, edge, c.next[REV] - 70000, 0, 3),
			 MG_FLOW_OUT_OF_WINDOW);
	/* data older than anything the backend could still take */
	assert_int_equal(seg_at(&c, FWD, PSH | ACK, edge - 2 * WIN - 10,
				c.next[REV], 10, 3),
			 MG_FLOW_OUT_OF_WINDOW);
	/* a retransmission inside the window is fine */
	assert_int_equal(
		seg_at(&c, FWD, PSH | ACK, edge - 100, c.next[REV], 100, 3),
		MG_FLOW_ACCEPT);

	/* The backend opens its window: more may come. */
	c.win[REV] = 60000;
	assert_int_equal(seg(&c, REV, ACK, 0, 4), MG_FLOW_ACCEPT);
	assert_int_equal(seg(&c, FWD, PSH | ACK, 50000, 5), MG_FLOW_ACCEPT);
}

/* RFC 7323: windows after the SYNs are scaled when both SYNs agreed. */
static void
test_tcp_window_scale(void **state)
{
	const struct mg_pkt_tcp_seg syn = {
		.seq = 1000, .win = 65535, .flags = SYN, .wscale = 7
	};
	struct mg_pkt_tcp_seg s = { .seq = 5000,
				    .ack = 1001,
				    .win = 512,
				    .flags = SYN | ACK,
				    .wscale = 9 };
	struct mg_flow *f;

	(void)state;
	table_new(8, NULL, NULL);
	f = mg_flow_alloc(tbl, 0);
	assert_non_null(f);
	flow_keys(1, IPPROTO_TCP, f->key);
	mg_flow_tcp_syn(tbl, f, &syn);
	assert_int_equal(mg_flow_publish(tbl, f, 1), 0);
	assert_int_equal(mg_flow_tcp_track(tbl, f, REV, &s, false),
			 MG_FLOW_ACCEPT);
	/* the SYN-ACK's own window is not scaled: 512 bytes */
	s = (struct mg_pkt_tcp_seg){
		.seq = 1001, .ack = 5001, .win = 512, .flags = ACK, .len = 0
	};
	assert_int_equal(mg_flow_tcp_track(tbl, f, FWD, &s, false),
			 MG_FLOW_ACCEPT);
	s.seq = 1001 + 600;
	s.len = 10;
	assert_int_equal(mg_flow_tcp_track(tbl, f, FWD, &s, false),
			 MG_FLOW_OUT_OF_WINDOW);
	/* the backend's next window of 512 is 512 << 9 bytes */
	s = (struct mg_pkt_tcp_seg){
		.seq = 5001, .ack = 1001, .win = 512, .flags = ACK
	};
	assert_int_equal(mg_flow_tcp_track(tbl, f, REV, &s, false),
			 MG_FLOW_ACCEPT);
	s = (struct mg_pkt_tcp_seg){ .seq = 1001 + 200000,
				     .ack = 5001,
				     .win = 100,
				     .flags = ACK | PSH,
				     .len = 1000 };
	assert_int_equal(mg_flow_tcp_track(tbl, f, FWD, &s, false),
			 MG_FLOW_ACCEPT);
	s.seq = 1001 + (512u << 9) + 1;
	assert_int_equal(mg_flow_tcp_track(tbl, f, FWD, &s, false),
			 MG_FLOW_OUT_OF_WINDOW);
}

/* A client SYN on a tracked tuple: a new connection when the old one is
 * closing or closed (or never answered), else a challenge ACK. */
static void
test_tcp_syn_reuse(void **state)
{
	static const enum mg_flow_state closing[] = { MG_FLOW_FIN_WAIT,
						      MG_FLOW_TIME_WAIT,
						      MG_FLOW_CLOSED };
	struct conv c;
	uint32_t seq, ack;
	unsigned int i;

	(void)state;
	table_new(16, NULL, NULL);
	for (i = 0; i < RTE_DIM(closing); i++) {
		c = conv_in(i, closing[i], 1);
		/* any ISN, below the old one too */
		assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(i) - 5000, 0, 0, 2),
				 MG_FLOW_NEW);
		assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(i) + 1, 0, 0, 2),
				 MG_FLOW_NEW);
	}
	/* Unanswered: the same ISN is a retransmission, another a new
	 * start. */
	c = conv_open(5, 1);
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(5), 0, 0, 2),
			 MG_FLOW_ACCEPT);
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(5) - 1, 0, 0, 2),
			 MG_FLOW_NEW);
	/* Answered (SYN_RECV): the same ISN passes, another is challenged */
	c = conv_in(6, MG_FLOW_SYN_RECV, 1);
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(6), 0, 0, 2),
			 MG_FLOW_ACCEPT);
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(6) + 9, 0, 0, 2),
			 MG_FLOW_CHALLENGE);
	/* Established: every SYN is challenged, with the backend's next
	 * sequence number and its acknowledgement of the client */
	c = conv_in(7, MG_FLOW_ESTABLISHED, 1);
	assert_int_equal(seg(&c, FWD, PSH | ACK, 40, 2), MG_FLOW_ACCEPT);
	assert_int_equal(seg(&c, REV, ACK, 0, 2), MG_FLOW_ACCEPT);
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(7), 0, 0, 3),
			 MG_FLOW_CHALLENGE);
	assert_int_equal(seg_at(&c, FWD, SYN, ISN_C(7) + 12345, 0, 0, 3),
			 MG_FLOW_CHALLENGE);
	mg_flow_challenge(tbl, c.f, FWD, &seq, &ack);
	assert_int_equal(seq, c.next[REV]);
	assert_int_equal(ack, c.next[FWD]);
	assert_int_equal(state_of(c.f), MG_FLOW_ESTABLISHED);
	/* SYN+RST and SYN+FIN are no segments at all */
	assert_int_equal(seg_at(&c, FWD, SYN | RST, ISN_C(7), 0, 0, 3),
			 MG_FLOW_OUT_OF_WINDOW);
	assert_int_equal(seg_at(&c, FWD, SYN | FIN, ISN_C(7), 0, 0, 3),
			 MG_FLOW_OUT_OF_WINDOW);
}

static void
test_udp_and_other_protocols(void **state)
{
	struct mg_flow *f;

	(void)state;
	table_new(4, NULL, NULL);
	f = flow_open(1, IPPROTO_UDP, 1);
	assert_int_equal(state_of(f), MG_FLOW_UDP);
	mg_flow_touch(tbl, f, REV, 9);
	assert_int_equal(state_of(f), MG_FLOW_UDP);
	assert_int_equal(last_seen(f, REV), 9);
	assert_int_equal(last_seen(f, FWD), 1);
	assert_int_equal(mg_flow_idle_cycles(tbl, f, FWD, 20), 19);

	/* Non-TCP flows are UDP-like. */
	f = flow_open(2, IPPROTO_ICMP, 1);
	assert_int_equal(state_of(f), MG_FLOW_UDP);
}

/* Opens one flow per state at @p t0; ids are the state values. */
static void
open_one_per_state(uint64_t t0)
{
	unsigned int s;

	for (s = 0; s < MG_FLOW_STATE_MAX; s++) {
		if (s == MG_FLOW_UDP)
			flow_open(s, IPPROTO_UDP, t0);
		else
			conv_in(s, s, t0);
	}
}

static bool
state_found(enum mg_flow_state s)
{
	return flow_found(s, s == MG_FLOW_UDP ? IPPROTO_UDP : IPPROTO_TCP);
}

/* Checks which of the per-state flows are still there. */
static void
assert_alive(unsigned int mask)
{
	unsigned int s;

	for (s = 0; s < MG_FLOW_STATE_MAX; s++) {
		if (state_found(s) != !!(mask & (1u << s)))
			fail_msg("state %s: expected %s", mg_flow_state_name(s),
				 mask & (1u << s) ? "alive" : "expired");
	}
}

static void
test_expire_default_timeouts(void **state)
{
	/* Zero means "default" for each timeout. */
	const struct mg_flow_conf conf = { .max_flows = 99 };
	struct mg_flow_cursor c = { 0 };
	const uint64_t t0 = SEC(1);
	unsigned int all = (1u << MG_FLOW_STATE_MAX) - 1;

	(void)state;
	table_new(16, &conf, NULL);
	open_one_per_state(t0);
	assert_int_equal(mg_flow_count(tbl), MG_FLOW_STATE_MAX);

	/* Idle for exactly the timeout is not yet past it. */
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(2), 16), 0);
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(2) + 1, 16), 1);
	all &= ~(1u << MG_FLOW_CLOSED);
	assert_alive(all);
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(10), 16), 0);
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(10) + 1, 16), 3);
	all &= ~(1u << MG_FLOW_SYN_SENT | 1u << MG_FLOW_SYN_RECV |
		 1u << MG_FLOW_TIME_WAIT);
	assert_alive(all);
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(30), 16), 0);
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(30) + 1, 16), 2);
	assert_alive(1u << MG_FLOW_ESTABLISHED);
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(3600), 16), 0);
	assert_int_equal(mg_flow_expire(tbl, &c, t0 + SEC(3600) + 1, 16), 1);
	assert_alive(0);
	assert_int_equal(mg_flow_count(tbl), 0);
}

static void
test_expire_configured_timeouts(void **state)
{
	const struct mg_flow_conf conf = {
		.tcp_syn_s = 1,
		.tcp_established_s = 50,
		.tcp_fin_s = 4,
		.tcp_time_wait_s = 3,
		.tcp_rst_s = 2,
		.udp_s = 5,
	};
	struct mg_flow_cursor c = { 0 };
	const uint64_t t0 = SEC(7);
	struct mg_5tuple k[2];
	struct mg_flow *f;
	unsigned int i;

	(void)state;
	table_new(64, &conf, NULL);
	open_one_per_state(t0);
	mg_flow_expire(tbl, &c, t0 + SEC(1) + 1, 64);
	assert_alive(~(1u << MG_FLOW_SYN_SENT | 1u << MG_FLOW_SYN_RECV));
	mg_flow_expire(tbl, &c, t0 + SEC(2) + 1, 64);
	assert_alive(1u << MG_FLOW_ESTABLISHED | 1u << MG_FLOW_FIN_WAIT |
		     1u << MG_FLOW_TIME_WAIT | 1u << MG_FLOW_UDP);
	mg_flow_expire(tbl, &c, t0 + SEC(3) + 1, 64);
	mg_flow_expire(tbl, &c, t0 + SEC(4) + 1, 64);
	assert_alive(1u << MG_FLOW_ESTABLISHED | 1u << MG_FLOW_UDP);
	mg_flow_expire(tbl, &c, t0 + SEC(5) + 1, 64);
	assert_alive(1u << MG_FLOW_ESTABLISHED);

	/* A SYN flood next to established flows: only the SYNs go. */
	for (i = 100; i < 140; i++)
		flow_open(i, IPPROTO_TCP, SEC(20));
	for (i = 200; i < 210; i++)
		conv_in(i, MG_FLOW_ESTABLISHED, SEC(20));
	assert_int_equal(mg_flow_expire(tbl, &c, SEC(22), 64), 40);
	for (i = 100; i < 140; i++)
		assert_false(flow_found(i, IPPROTO_TCP));
	for (i = 200; i < 210; i++)
		assert_true(flow_found(i, IPPROTO_TCP));
	assert_true(state_found(MG_FLOW_ESTABLISHED));
	assert_int_equal(mg_flow_count(tbl), 11);

	/* A clock behind last_seen (another worker's) is no age. */
	assert_int_equal(mg_flow_expire(tbl, &c, 0, 64), 0);
	assert_int_equal(mg_flow_count(tbl), 11);

	/* Traffic keeps a flow alive. */
	flow_keys(MG_FLOW_ESTABLISHED, IPPROTO_TCP, k);
	f = lookup1(&k[1], NULL);
	assert_non_null(f);
	mg_flow_touch(tbl, f, REV, SEC(60));
	assert_int_equal(mg_flow_expire(tbl, &c, SEC(110), 64), 10);
	assert_true(state_found(MG_FLOW_ESTABLISHED));
	assert_int_equal(mg_flow_count(tbl), 1);
}

/* An RCU variable of one reader, this thread, online from here: it
 * never reports unless the test says so (test_teardown takes it down). */
static void
reader_online(void)
{
	qsv = rte_zmalloc("test_flow_qsv", rte_rcu_qsbr_get_memsize(1),
			  RTE_CACHE_LINE_SIZE);
	assert_non_null(qsv);
	assert_int_equal(rte_rcu_qsbr_init(qsv, 1), 0);
	assert_int_equal(rte_rcu_qsbr_thread_register(qsv, 0), 0);
	rte_rcu_qsbr_thread_online(qsv, 0);
}

/* Every entry of the table removed within one grace period: the defer
 * queue holds all but one (its ring stays max_flows slots), the table's
 * spare slot the last; none comes back before the reader reports, all
 * do after. */
static void
test_rcu_all_retired(void **state)
{
	struct mg_flow_cursor c = { 0 };
	unsigned int i;

	(void)state;
	reader_online();

	table_new(4, NULL, qsv);
	for (i = 0; i < 4; i++)
		flow_open(i, IPPROTO_UDP, 0);
	assert_null(mg_flow_alloc(tbl, 0));
	/* all four idle past the UDP timeout: removed, none recycled */
	assert_int_equal(mg_flow_expire(tbl, &c, SEC(31), 4), 4);
	assert_int_equal(mg_flow_count(tbl), 0);
	rte_errno = 0;
	assert_null(mg_flow_alloc(tbl, 0));
	assert_int_equal(rte_errno, ENOSPC);
	assert_int_equal(mg_flow_expire(tbl, &c, SEC(32), 4), 0);
	assert_null(mg_flow_alloc(tbl, 0));

	rte_rcu_qsbr_quiescent(qsv, 0);
	/* the queue's three and the spare's one, keys and all */
	for (i = 0; i < 4; i++)
		flow_open(10 + i, IPPROTO_UDP, SEC(40));
	assert_int_equal(mg_flow_count(tbl), 4);
	for (i = 0; i < 4; i++)
		assert_true(flow_found(10 + i, IPPROTO_UDP));
	assert_null(mg_flow_alloc(tbl, 0));
}

static void
test_rcu_grace_period(void **state)
{
	struct mg_flow *f, *gone;
	struct mg_flow_cursor c = { 0 };
	struct mg_5tuple k[2], copy;
	unsigned int i;

	(void)state;
	reader_online();

	table_new(4, NULL, qsv);
	for (i = 0; i < 3; i++)
		flow_open(i, IPPROTO_UDP, 0);

	/* A publish that failed before showing a key needs no grace period:
	 * its entry is free again at once. */
	for (i = 0; i < 3; i++) {
		f = mg_flow_alloc(tbl, 0);
		assert_non_null(f);
		flow_keys(0, IPPROTO_UDP, f->key);
		assert_int_equal(mg_flow_publish(tbl, f, 0), -EEXIST);
		mg_flow_release(tbl, f);
	}
	flow_open(3, IPPROTO_UDP, 0);
	assert_null(mg_flow_alloc(tbl, 0));

	flow_keys(0, IPPROTO_UDP, k);
	gone = lookup1(&k[0], NULL);
	assert_non_null(gone);
	assert_int_equal(gone->index, 0);
	copy = gone->key[0];
	assert_int_equal(mg_flow_expire(tbl, &c, SEC(31), 1), 1);
	assert_int_equal(mg_flow_count(tbl), 3);
	assert_false(flow_found(0, IPPROTO_UDP));

	/* The reader has not reported since: the entry it may hold is
	 * neither handed out nor overwritten, however often we try. */
	rte_errno = 0;
	assert_null(mg_flow_alloc(tbl, 0));
	assert_int_equal(rte_errno, ENOSPC);
	assert_int_equal(mg_flow_expire(tbl, &c, SEC(1), 4), 0);
	assert_null(mg_flow_alloc(tbl, 0));
	assert_memory_equal(&gone->key[0], &copy, sizeof(copy));

	rte_rcu_qsbr_quiescent(qsv, 0);
	f = mg_flow_alloc(tbl, 0);
	assert_ptr_equal(f, gone);
	/* Its key slots came back too: the hash holds exactly 8 keys. */
	flow_keys(50, IPPROTO_UDP, f->key);
	assert_int_equal(mg_flow_publish(tbl, f, SEC(40)), 0);
	assert_true(flow_found(50, IPPROTO_UDP));
	assert_int_equal(mg_flow_count(tbl), 4);
}

/* Flow i sits at index_of[i]; exactly those at indices in @p gone are gone. */
static void
assert_gone(const uint32_t *index_of, uint32_t gone)
{
	unsigned int i;

	for (i = 0; i < 16; i++)
		assert_int_equal(flow_found(i, IPPROTO_UDP),
				 !(gone & (1u << index_of[i])));
}

static void
test_expire_budget_and_shards(void **state)
{
	struct mg_flow_cursor a = { .next = 0, .first = 0 };
	struct mg_flow_cursor b = { .next = 0, .first = 1 };
	uint32_t index_of[16];
	unsigned int i;
	uint32_t gone = 0;

	(void)state;
	/* two writers: entries 0-7 are shard 0's, 8-15 shard 1's */
	table_new_shards(16, 2, NULL, NULL);
	for (i = 0; i < 16; i++) {
		index_of[i] = flow_open_by(i / 8, i, IPPROTO_UDP, 0)->index;
		assert_int_equal(index_of[i], i);
	}

	assert_int_equal(mg_flow_expire(tbl, &a, SEC(31), 3), 3);
	assert_int_equal(a.next, 3);
	gone |= 0x7;
	assert_gone(index_of, gone);

	/* A cursor whose next is not in its shard starts at the shard's
	 * first entry. */
	assert_int_equal(mg_flow_expire(tbl, &b, SEC(31), 3), 3);
	assert_int_equal(b.next, 11);
	gone |= 0x700;
	assert_gone(index_of, gone);

	/* A budget beyond the shard looks at each entry once and wraps
	 * back to where it started. */
	assert_int_equal(mg_flow_expire(tbl, &a, SEC(31), 1000), 5);
	assert_int_equal(a.next, 3);
	gone |= 0xff;
	assert_gone(index_of, gone);
	assert_int_equal(mg_flow_expire(tbl, &b, SEC(31), 1000), 5);
	gone = 0xffff;
	assert_gone(index_of, gone);
	assert_int_equal(mg_flow_count(tbl), 0);

	/* Bad ranks look at nothing. */
	b.first = 2;
	assert_int_equal(mg_flow_expire(tbl, &b, SEC(31), 16), 0);
}

/*
 * Two writers, each with its own shard: what one admits, the other finds
 * and cannot admit again; a removal by the other is a handover (the
 * tuple is free at once, the entry unlinked on its owner's round); each
 * shard holds its half of the table.
 */
static void
test_shards(void **state)
{
	struct mg_flow_cursor c0 = { .first = 0 }, c1 = { .first = 1 };
	struct mg_5tuple k[2], other[2];
	struct mg_flow *f, *g;
	unsigned int i;
	uint8_t dir;

	(void)state;
	table_new_shards(8, 2, NULL, NULL);
	f = flow_open_by(0, 1, IPPROTO_TCP, 0);
	flow_keys(1, IPPROTO_TCP, k);
	assert_ptr_equal(lookup_by(1, &k[0], &dir), f);
	assert_int_equal(dir, FWD);
	assert_ptr_equal(lookup_by(1, &k[1], &dir), f);
	assert_int_equal(dir, REV);

	/* the same connection, or either of its keys, from the other shard */
	for (i = 0; i < 3; i++) {
		g = mg_flow_alloc(tbl, 1);
		assert_non_null(g);
		assert_true(g->index >= 4);
		flow_keys(1, IPPROTO_TCP, g->key);
		flow_keys(1 + i, IPPROTO_TCP, other);
		if (i == 1)
			g->key[1] = other[1]; /* only its forward key */
		else if (i == 2)
			g->key[0] = other[0]; /* only its reverse key */
		assert_int_equal(mg_flow_publish(tbl, g, 0), -EEXIST);
		mg_flow_release(tbl, g);
	}
	assert_int_equal(mg_flow_count(tbl), 1);

	/* removed by the other writer: gone at once for every lookup and
	 * its tuple free; the owner unlinks the dead entry on its round */
	assert_int_equal(mg_flow_remove(tbl, 1, f), 0);
	assert_int_equal(mg_flow_remove(tbl, 1, f), -ENOENT);
	assert_int_equal(mg_flow_remove(tbl, 0, f), -ENOENT);
	assert_null(lookup_by(0, &k[0], NULL));
	assert_null(lookup_by(1, &k[1], NULL));
	g = flow_open_by(1, 1, IPPROTO_TCP, 0);
	assert_ptr_equal(lookup_by(1, &k[0], NULL), g);
	assert_ptr_equal(lookup_by(0, &k[0], NULL), g);
	assert_ptr_equal(lookup_by(0, &k[1], NULL), g);
	assert_int_equal(mg_flow_count(tbl), 2);
	mg_flow_handover(tbl, 1); /* not its shard: nothing changes */
	mg_flow_handover(tbl, 2); /* no such rank */
	assert_int_equal(mg_flow_count(tbl), 2);
	mg_flow_handover(tbl, 0);
	assert_int_equal(mg_flow_count(tbl), 1);
	assert_ptr_equal(lookup_by(0, &k[0], NULL), g);
	assert_ptr_equal(lookup_by(0, &k[1], NULL), g);
	assert_int_equal(mg_flow_count(tbl), 1);

	/* each shard holds 4: shard 0 fills, shard 1 has room left */
	for (i = 0; i < 4; i++)
		flow_open_by(0, 10 + i, IPPROTO_UDP, 0);
	assert_null(mg_flow_alloc(tbl, 0));
	assert_int_equal(rte_errno, ENOSPC);
	flow_open_by(1, 20, IPPROTO_UDP, 0);
	assert_null(mg_flow_alloc(tbl, 2));
	assert_int_equal(rte_errno, EINVAL);

	/* expiry by shard: each cursor removes its own */
	assert_int_equal(mg_flow_expire(tbl, &c1, SEC(31), 4), 2);
	assert_int_equal(mg_flow_count(tbl), 4);
	assert_int_equal(mg_flow_expire(tbl, &c0, SEC(31), 4), 4);
	assert_int_equal(mg_flow_count(tbl), 0);
}

static void
test_count_states(void **state)
{
	uint32_t counts[MG_FLOW_STATE_MAX];
	unsigned int s;

	(void)state;
	table_new(64, NULL, NULL);
	mg_flow_count_states(tbl, counts);
	for (s = 0; s < MG_FLOW_STATE_MAX; s++)
		assert_int_equal(counts[s], 0);
	open_one_per_state(1);
	/* and a second established flow */
	conv_in(40, MG_FLOW_ESTABLISHED, 1);
	assert_int_equal(mg_flow_count(tbl), MG_FLOW_STATE_MAX + 1);
	mg_flow_count_states(tbl, counts);
	for (s = 0; s < MG_FLOW_STATE_MAX; s++)
		assert_int_equal(counts[s], s == MG_FLOW_ESTABLISHED ? 2 : 1);

	expire_all(SEC(11));
	mg_flow_count_states(tbl, counts);
	assert_int_equal(counts[MG_FLOW_SYN_SENT], 0);
	assert_int_equal(counts[MG_FLOW_CLOSED], 0);
	assert_int_equal(counts[MG_FLOW_ESTABLISHED], 2);
	assert_int_equal(counts[MG_FLOW_FIN_WAIT], 1);
	assert_int_equal(counts[MG_FLOW_UDP], 1);
	assert_int_equal(mg_flow_count(tbl), 4);

	assert_string_equal(mg_flow_state_name(MG_FLOW_SYN_SENT), "syn_sent");
	assert_string_equal(mg_flow_state_name(MG_FLOW_SYN_RECV), "syn_recv");
	assert_string_equal(mg_flow_state_name(MG_FLOW_ESTABLISHED),
			    "established");
	assert_string_equal(mg_flow_state_name(MG_FLOW_FIN_WAIT), "fin_wait");
	assert_string_equal(mg_flow_state_name(MG_FLOW_TIME_WAIT), "time_wait");
	assert_string_equal(mg_flow_state_name(MG_FLOW_CLOSED), "closed");
	assert_string_equal(mg_flow_state_name(MG_FLOW_UDP), "udp");
	assert_string_equal(mg_flow_state_name(MG_FLOW_STATE_MAX), "invalid");
}

/* ---- concurrency ---- */

/*
 * Connections the writer cycles through (far more than it keeps alive, so
 * its own publishes never clash) and a small table, so that a removed
 * entry comes back out of the free ring within a few rounds: reuse
 * before the grace period would land inside the reader's window.
 * Measured with flow_retire() recycling at once (no grace period): the
 * reader saw 171 to 319 mismatches, failing 5 runs of 5, on 2 CPUs
 * shared with other builds. Timing-dependent all the same: a pass is
 * evidence, not proof.
 */
#define CONC_IDS       1024
#define CONC_MAX_FLOWS 64
#define CONC_PER_ITER  4
#define CONC_SPIN      256
/* The writer stops after CONC_PUBLISHES publishes, CONC_WRITER_ITERS
 * rounds or CONC_SECONDS, whichever comes first. Publishes are the goal,
 * not rounds: a reader starved on a busy machine makes rounds without
 * room, which must not end the test before it has tested anything. */
#define CONC_PUBLISHES	  200000
#define CONC_WRITER_ITERS 10000000
#define CONC_READER_ITERS 2000000
#define CONC_BURST	  32
#define CONC_SECONDS	  3

struct conc {
	bool writer_done;
	uint32_t last_id;  /* newest connection; the reader aims near it */
	uint64_t deadline; /* timer cycles */
	uint64_t published, removed, no_room, clashes, errors;
};

/*
 * Lcore 1: opens CONC_PER_ITER connections per round on a clock that
 * advances 0.5 s a round (UDP timeout 1 s), and expires as it goes, so
 * entries are removed and reused all the time.
 */
static int
conc_writer(void *arg)
{
	struct conc *cs = arg;
	struct mg_flow_cursor c = { 0 };
	uint32_t id = 0, iter, j;
	uint64_t now = 0;
	struct mg_flow *f;
	int ret;

	for (iter = 0;
	     cs->published < CONC_PUBLISHES && iter < CONC_WRITER_ITERS &&
	     rte_get_timer_cycles() < cs->deadline;
	     iter++) {
		now += SEC(1) / 2;
		for (j = 0; j < CONC_PER_ITER; j++) {
			id = (id + 1) % CONC_IDS;
			f = mg_flow_alloc(tbl, 0);
			if (f == NULL) {
				cs->no_room++;
				continue;
			}
			flow_keys(id, IPPROTO_UDP, f->key);
			f->service_id = (uint16_t)id;
			ret = mg_flow_publish(tbl, f, now);
			if (ret == 0) {
				cs->published++;
				__atomic_store_n(&cs->last_id, id,
						 __ATOMIC_RELAXED);
				continue;
			}
			if (ret == -EEXIST)
				cs->clashes++;
			else
				cs->errors++;
			mg_flow_release(tbl, f);
		}
		cs->removed += mg_flow_expire(tbl, &c, now, 64);
	}
	__atomic_store_n(&cs->writer_done, true, __ATOMIC_RELEASE);
	return 0;
}

static void
test_concurrent_lookup(void **state)
{
	const struct mg_flow_conf conf = { .udp_s = 1 };
	struct mg_5tuple k[CONC_BURST][2];
	const struct mg_5tuple *keys[CONC_BURST];
	struct mg_flow *flows[CONC_BURST];
	uint8_t dir[CONC_BURST];
	uint64_t lookups = 0, hits = 0, mismatches = 0, hard_stop;
	struct conc cs = { 0 };
	unsigned int i, spin;
	uint32_t iter, last, id;

	(void)state;
	if (rte_lcore_count() < 2 || rte_lcore_is_enabled(1) == 0)
		skip();
	reader_online();
	table_new(CONC_MAX_FLOWS, &conf, qsv);

	cs.deadline =
		rte_get_timer_cycles() + CONC_SECONDS * rte_get_timer_hz();
	hard_stop = cs.deadline + rte_get_timer_hz();
	assert_int_equal(mg_test_remote_launch(conc_writer, &cs, 1), 0);

	for (iter = 0; iter < CONC_READER_ITERS &&
		       !__atomic_load_n(&cs.writer_done, __ATOMIC_ACQUIRE) &&
		       rte_get_timer_cycles() < hard_stop;
	     iter++) {
		/* Mostly connections the writer opened lately, which it
		 * is about to remove and reuse. */
		last = __atomic_load_n(&cs.last_id, __ATOMIC_RELAXED);
		for (i = 0; i < CONC_BURST; i++) {
			id = (last + CONC_IDS - (uint32_t)(rte_rand() % 16)) %
			     CONC_IDS;
			flow_keys(id, IPPROTO_UDP, k[i]);
			keys[i] = &k[i][i & 1];
		}
		mg_flow_lookup_bulk(tbl, 0, keys, CONC_BURST, flows, dir);
		lookups += CONC_BURST;
		/* Give the writer time to remove and (wrongly) reuse what
		 * we hold before we look at it. */
		for (spin = 0; spin < CONC_SPIN; spin++)
			rte_pause();
		for (i = 0; i < CONC_BURST; i++) {
			if (flows[i] == NULL)
				continue;
			hits++;
			if (dir[i] != (i & 1) ||
			    memcmp(&flows[i]->key[dir[i]], keys[i],
				   sizeof(*keys[i])) != 0)
				mismatches++;
		}
		/* what flow_dq_free() acquires: before the report that
		 * lets the grace period end */
		MG_TSAN_RELEASE(qsv);
		rte_rcu_qsbr_quiescent(qsv, 0);
	}
	MG_TSAN_RELEASE(qsv);
	rte_rcu_qsbr_thread_offline(qsv, 0);
	assert_int_equal(mg_test_wait_lcore(1), 0);

	print_message("# lookups %" PRIu64 " hits %" PRIu64
		      " published %" PRIu64 " removed %" PRIu64
		      " no_room %" PRIu64 " clashes %" PRIu64 "\n",
		      lookups, hits, cs.published, cs.removed, cs.no_room,
		      cs.clashes);
	assert_int_equal(mismatches, 0);
	assert_int_equal(cs.errors, 0);
	assert_int_equal(cs.clashes, 0);
	/* Both sides must have done enough for the check to mean something. */
	assert_true(hits > 1000);
	assert_true(cs.published > 1000);
	assert_true(cs.removed > 1000);
	assert_int_equal(mg_flow_count(tbl), cs.published - cs.removed);
}

/*
 * Two writers, the main lcore (rank 0) and lcore 1 (rank 1), each with its
 * own shard and no lock, admit the same new connection at the same
 * moment, round after round: exactly one must win each round (rank 0's
 * veto settles a tie), and both then find the winner's by either key.
 * The loser removes it (a removal handed over to the other shard's
 * owner): from then on neither finds it, and both run their expiry
 * round, which unlinks it. Measured: without the check across
 * shards in mg_flow_publish() both win all 10,000 rounds; without its
 * fence alone, 2 to 8 of 10,000 (so a pass is evidence, not proof);
 * without the veto, both give up in 360 to 9,400 rounds, the more the
 * busier the machine or the slower the build; without lookups passing
 * over a dead entry, the lookup after the removal finds it every round.
 */
#define RACE_ROUNDS    10000
#define RACE_IDS       4096 /* far more than a round leaves to unlink */
#define RACE_MAX_FLOWS 64
#define RACE_SECONDS   5

struct race {
	uint32_t arrived; /* barrier: arrivals so far */
	bool stop;	  /* a writer gave up waiting */
	uint64_t deadline;
	struct rte_rcu_qsbr *v;
	int ret[2];		/* [rank]: this round's publish */
	struct mg_flow *won[2]; /* [rank]: what it published, or NULL */
	/* main's tally, and what each writer saw go wrong */
	uint32_t rounds, one, none, both;
	uint32_t errors[2];
};

/* Both writers at the same point: the @p phase-th time each gets here.
 * False when the other did not come before the deadline. */
static bool
race_barrier(struct race *r, uint32_t *phase)
{
	++*phase;
	__atomic_add_fetch(&r->arrived, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&r->arrived, __ATOMIC_ACQUIRE) < 2 * *phase) {
		if (__atomic_load_n(&r->stop, __ATOMIC_RELAXED) ||
		    rte_get_timer_cycles() > r->deadline) {
			__atomic_store_n(&r->stop, true, __ATOMIC_RELAXED);
			return false;
		}
		rte_pause();
	}
	return true;
}

/* What writer @p self finds for @p k, or NULL. */
static struct mg_flow *
race_lookup(unsigned int self, const struct mg_5tuple *k)
{
	const struct mg_5tuple *keys[1] = { k };
	struct mg_flow *f[1];
	uint8_t d[1];

	mg_flow_lookup_bulk(tbl, self, keys, 1, f, d);
	return f[0];
}

static void
race_writer(struct race *r, unsigned int self)
{
	struct mg_flow_cursor c = { .first = self };
	unsigned int other = !self;
	uint32_t round, phase = 0;
	struct mg_flow *f, *winner;
	struct mg_5tuple k[2];
	int ret;

	rte_rcu_qsbr_thread_register(r->v, self);
	rte_rcu_qsbr_thread_online(r->v, self);
	for (round = 0; round < RACE_ROUNDS; round++) {
		if (!race_barrier(r, &phase))
			break;
		f = mg_flow_alloc(tbl, self);
		if (f == NULL) {
			r->errors[self]++;
			ret = -ENOSPC;
		} else {
			flow_keys(round % RACE_IDS, IPPROTO_UDP, f->key);
			ret = mg_flow_publish(tbl, f, 0);
			if (ret != 0) {
				mg_flow_release(tbl, f);
				r->errors[self] += ret != -EEXIST;
			}
		}
		r->ret[self] = ret;
		r->won[self] = ret == 0 ? f : NULL;
		if (!race_barrier(r, &phase))
			break;
		if (self == 0) {
			r->rounds++;
			if (r->won[0] != NULL && r->won[1] != NULL)
				r->both++;
			else if (r->won[0] != NULL || r->won[1] != NULL)
				r->one++;
			else
				r->none++;
		}
		/* both find the winner, by either key */
		flow_keys(round % RACE_IDS, IPPROTO_UDP, k);
		winner = r->won[0] != NULL ? r->won[0] : r->won[1];
		r->errors[self] += race_lookup(self, &k[0]) != winner;
		r->errors[self] += race_lookup(self, &k[1]) != winner;
		if (!race_barrier(r, &phase))
			break;
		/* the loser removes the winner's; a double win each its own */
		if (r->won[other] != NULL && r->won[self] == NULL)
			r->errors[self] +=
				mg_flow_remove(tbl, self, r->won[other]) != 0;
		else if (r->won[self] != NULL && r->won[other] != NULL)
			r->errors[self] +=
				mg_flow_remove(tbl, self, r->won[self]) != 0;
		if (!race_barrier(r, &phase))
			break;
		/* gone for both at once, unlinked or not by its owner yet */
		r->errors[self] += race_lookup(self, &k[0]) != NULL;
		mg_flow_expire(tbl, &c, 0, 8);
		/* what flow_dq_free() acquires: before the report */
		MG_TSAN_RELEASE(r->v);
		rte_rcu_qsbr_quiescent(r->v, self);
	}
	MG_TSAN_RELEASE(r->v);
	rte_rcu_qsbr_thread_offline(r->v, self);
	rte_rcu_qsbr_thread_unregister(r->v, self);
}

static int
race_lcore1(void *arg)
{
	race_writer(arg, 1);
	return 0;
}

static void
test_concurrent_writers(void **state)
{
	struct mg_flow_cursor c[2] = { { .first = 0 }, { .first = 1 } };
	struct mg_flow *f[RACE_MAX_FLOWS];
	struct race r = { 0 };
	unsigned int i, n;

	(void)state;
	if (rte_lcore_count() < 2 || rte_lcore_is_enabled(1) == 0)
		skip();
	r.v = rte_zmalloc("test_flow_race", rte_rcu_qsbr_get_memsize(2),
			  RTE_CACHE_LINE_SIZE);
	assert_non_null(r.v);
	assert_int_equal(rte_rcu_qsbr_init(r.v, 2), 0);
	table_new_shards(RACE_MAX_FLOWS, 2, NULL, r.v);
	r.deadline = rte_get_timer_cycles() + RACE_SECONDS * rte_get_timer_hz();
	assert_int_equal(mg_test_remote_launch(race_lcore1, &r, 1), 0);
	race_writer(&r, 0);
	assert_int_equal(mg_test_wait_lcore(1), 0);

	print_message("# rounds %u: one winner %u, none %u, both %u\n",
		      r.rounds, r.one, r.none, r.both);
	assert_int_equal(r.both, 0);
	assert_int_equal(r.none, 0);
	assert_int_equal(r.one, r.rounds);
	assert_int_equal(r.errors[0], 0);
	assert_int_equal(r.errors[1], 0);
	assert_true(r.rounds >= 1000);

	/* both offline: a last round each unlinks what is left, and every
	 * entry comes back (none lost in a handover) */
	mg_flow_expire(tbl, &c[0], 0, 8);
	mg_flow_expire(tbl, &c[1], 0, 8);
	assert_int_equal(mg_flow_count(tbl), 0);
	for (i = 0; i < 2; i++) {
		for (n = 0; n < RACE_MAX_FLOWS / 2; n++) {
			f[n] = mg_flow_alloc(tbl, i);
			assert_non_null(f[n]);
		}
		assert_null(mg_flow_alloc(tbl, i));
		for (n = 0; n < RACE_MAX_FLOWS / 2; n++)
			mg_flow_release(tbl, f[n]);
	}
	mg_flow_table_free(tbl);
	tbl = NULL;
	rte_free(r.v);
}

/* ---- memory ---- */

static size_t
heap_allocated(void)
{
	struct rte_malloc_socket_stats st;

	assert_int_equal(rte_malloc_get_socket_stats(0, &st), 0);
	return st.heap_allocsz_bytes;
}

/* mg_flow_table_memsize() is what create takes from the DPDK heap: the
 * --check-config estimate and the start-up fit check rest on it. Bound:
 * heap element headers (64 bytes and alignment per allocation, about a
 * dozen allocations) and the memzones' rounding, 16 KiB + 0.5%. */
static void
test_memsize(void **state)
{
	static const uint32_t sizes[] = { 1024, 65536, 100000, 65536 };
	static const uint32_t writers[] = { 1, 1, 1, 2 };
	struct mg_flow_conf tmo = { 0 };
	size_t before, used, est, slack;
	unsigned int i;

	(void)state;
	qsv = rte_zmalloc(NULL, rte_rcu_qsbr_get_memsize(1), 64);
	assert_non_null(qsv);
	assert_int_equal(rte_rcu_qsbr_init(qsv, 1), 0);
	assert_int_equal(mg_flow_table_memsize(0, 1), 0);
	assert_int_equal(mg_flow_table_memsize(RTE_HASH_ENTRIES_MAX, 1), 0);
	for (i = 0; i < RTE_DIM(sizes); i++) {
		before = heap_allocated();
		table_new_shards(sizes[i], writers[i], &tmo, qsv);
		used = heap_allocated() - before;
		est = mg_flow_table_memsize(sizes[i], writers[i]);
		slack = 16384 + est / 200;
		print_message("# %u flows, %u shards: %zu bytes estimated, "
			      "%zu allocated\n",
			      sizes[i], writers[i], est, used);
		assert_true(est + slack >= used);
		assert_true(used + slack >= est);
		mg_flow_table_free(tbl);
		tbl = NULL;
		assert_int_equal(heap_allocated(), before);
	}
	/* it grows with the table: two keys and one entry per flow */
	assert_true(
		mg_flow_table_memsize(2000, 1) -
			mg_flow_table_memsize(1000, 1) >
		1000 * (sizeof(struct mg_flow) + 2 * sizeof(struct mg_5tuple)));
}

/* ---- fixtures ---- */

static int
group_setup(void **state)
{

	(void)state;
	if (mg_test_eal_init("test_flow", "128", "0,1", false) < 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

/* Runs even when a test fails half-way, so names can be reused. */
/* ---- the half-open budget ---- */

/* Opens connection @p id as admission does: a place in the budget, the
 * flag, published, recorded in arrival order. */
static struct conv
half_open_conn(uint32_t id, uint64_t now)
{
	struct mg_flow *f = mg_flow_alloc(tbl, 0);
	const struct mg_pkt_tcp_seg syn = {
		.seq = ISN_C(id),
		.win = WIN,
		.flags = SYN,
		.wscale = MG_PKT_NO_WSCALE,
	};
	struct conv c;

	assert_true(mg_flow_half_open_take(tbl));
	assert_non_null(f);
	flow_keys(id, IPPROTO_TCP, f->key);
	f->half_open = 1;
	mg_flow_tcp_syn(tbl, f, &syn);
	assert_int_equal(mg_flow_publish(tbl, f, now), 0);
	mg_flow_half_open_push(tbl, f);
	c = (struct conv){ .f = f };
	c.next[FWD] = ISN_C(id) + 1;
	c.next[REV] = ISN_S(id);
	c.win[FWD] = c.win[REV] = WIN;
	return c;
}

static unsigned int n_evicted;
static uint32_t evicted_port;

static void
on_evict(void *ctx, const struct mg_flow *f)
{
	(void)ctx;
	n_evicted++;
	evicted_port = rte_be_to_cpu_16(f->key[FWD].sport);
}

static void
test_half_open_budget(void **state)
{
	const struct mg_flow_params p = {
		.name = "test_flow",
		.max_flows = 64,
		.socket = SOCKET_ID_ANY,
		.tsc_hz = HZ,
		.max_half_open = 4,
	};
	struct conv c[5];
	unsigned int i;

	(void)state;
	tbl = mg_flow_table_create(&p);
	assert_non_null(tbl);
	assert_int_equal(mg_flow_half_open_budget(tbl), 4);
	for (i = 0; i < 4; i++)
		c[i] = half_open_conn(i, 1);
	assert_int_equal(mg_flow_half_open(tbl), 4);
	/* spent: never exceeded */
	assert_false(mg_flow_half_open_take(tbl));
	assert_int_equal(mg_flow_half_open(tbl), 4);

	/* the handshake's last ACK ends half-openness, once */
	assert_int_equal(seg(&c[1], REV, SYN | ACK, 0, 2), MG_FLOW_ACCEPT);
	assert_int_equal(mg_flow_half_open(tbl), 4); /* SYN-ACK: not yet */
	assert_int_equal(seg(&c[1], FWD, ACK, 0, 2), MG_FLOW_ACCEPT);
	assert_int_equal(mg_flow_half_open(tbl), 3);
	assert_int_equal(seg(&c[1], FWD, ACK, 10, 3), MG_FLOW_ACCEPT);
	assert_int_equal(mg_flow_half_open(tbl), 3);

	/* eviction takes the oldest that is still half open: 0, then 2 —
	 * 1 is established and skipped */
	n_evicted = 0;
	assert_true(mg_flow_evict_oldest(tbl, 0, on_evict, NULL));
	assert_int_equal(n_evicted, 1);
	assert_int_equal(evicted_port, 10000);
	assert_false(flow_found(0, IPPROTO_TCP));
	assert_int_equal(mg_flow_half_open(tbl), 2);
	assert_true(mg_flow_evict_oldest(tbl, 0, on_evict, NULL));
	assert_int_equal(evicted_port, 10002);
	assert_true(flow_found(1, IPPROTO_TCP));
	assert_int_equal(state_of(c[1].f), MG_FLOW_ESTABLISHED);

	/* removal by expiry gives the place back too */
	c[4] = half_open_conn(4, 5);
	assert_int_equal(mg_flow_half_open(tbl), 2);
	assert_int_equal(mg_flow_remove(tbl, 0, c[3].f), 0);
	assert_int_equal(mg_flow_half_open(tbl), 1);
	/* a removed entry in the order is stale: skipped */
	assert_true(mg_flow_evict_oldest(tbl, 0, on_evict, NULL));
	assert_int_equal(evicted_port, 10004);
	assert_int_equal(mg_flow_half_open(tbl), 0);
	/* nothing half open left: an established connection is never
	 * evicted */
	assert_false(mg_flow_evict_oldest(tbl, 0, on_evict, NULL));
	assert_true(flow_found(1, IPPROTO_TCP));
	assert_int_equal(n_evicted, 3);

	/* a place taken but not used is given back */
	assert_true(mg_flow_half_open_take(tbl));
	mg_flow_half_open_cancel(tbl);
	assert_int_equal(mg_flow_half_open(tbl), 0);

	/* UDP: half open until the first answer */
	{
		struct mg_flow *f = mg_flow_alloc(tbl, 0);

		assert_true(mg_flow_half_open_take(tbl));
		flow_keys(5, IPPROTO_UDP, f->key);
		f->half_open = 1;
		assert_int_equal(mg_flow_publish(tbl, f, 6), 0);
		assert_int_equal(mg_flow_half_open(tbl), 1);
		mg_flow_answered(tbl, f);
		mg_flow_answered(tbl, f);
		assert_int_equal(mg_flow_half_open(tbl), 0);
	}
}

/* The default budget is a quarter of the table, and never above it. */
static void
test_half_open_default(void **state)
{
	struct mg_flow_params p = {
		.name = "test_flow",
		.max_flows = 1000,
		.socket = SOCKET_ID_ANY,
		.tsc_hz = HZ,
	};

	(void)state;
	tbl = mg_flow_table_create(&p);
	assert_non_null(tbl);
	assert_int_equal(mg_flow_half_open_budget(tbl), 250);
	mg_flow_table_free(tbl);
	p.max_half_open = 5000;
	tbl = mg_flow_table_create(&p);
	assert_non_null(tbl);
	assert_int_equal(mg_flow_half_open_budget(tbl), 1000);
}

static int
test_teardown(void **state)
{
	(void)state;
	mg_flow_table_free(tbl);
	tbl = NULL;
	if (qsv != NULL) {
		rte_rcu_qsbr_thread_offline(qsv, 0);
		rte_rcu_qsbr_thread_unregister(qsv, 0);
		rte_free(qsv);
		qsv = NULL;
	}
	return 0;
}

#define FLOW_TEST(fn) cmocka_unit_test_teardown(fn, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FLOW_TEST(test_create_errors),
		FLOW_TEST(test_lookup_both_directions),
		FLOW_TEST(test_remove),
		FLOW_TEST(test_bulk_hit_mask),
		FLOW_TEST(test_table_full),
		FLOW_TEST(test_duplicate_publish),
		FLOW_TEST(test_tcp_handshake_and_close),
		FLOW_TEST(test_tcp_rst),
		FLOW_TEST(test_tcp_window),
		FLOW_TEST(test_tcp_window_scale),
		FLOW_TEST(test_tcp_syn_reuse),
		FLOW_TEST(test_udp_and_other_protocols),
		FLOW_TEST(test_expire_default_timeouts),
		FLOW_TEST(test_expire_configured_timeouts),
		FLOW_TEST(test_rcu_grace_period),
		FLOW_TEST(test_rcu_all_retired),
		FLOW_TEST(test_expire_budget_and_shards),
		FLOW_TEST(test_shards),
		FLOW_TEST(test_count_states),
		FLOW_TEST(test_concurrent_lookup),
		FLOW_TEST(test_concurrent_writers),
		FLOW_TEST(test_memsize),
		FLOW_TEST(test_half_open_budget),
		FLOW_TEST(test_half_open_default),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
