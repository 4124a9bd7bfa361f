/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Connection table: a lock-free rte_hash over a preallocated entry array,
 * the TCP/UDP state machine, incremental expiry and RCU reclamation.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#if defined(RTE_ARCH_X86) && defined(__SSE4_2__)
#include <nmmintrin.h>
#endif
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring_elem.h>
#include <rte_spinlock.h>
#include <rte_tcp.h>

#include "mg_base.h"

#include "mg_flow.h"

RTE_LOG_REGISTER(mg_flow_logtype, mg.flow, INFO);

#define FLOW_LOG(level, fmt, ...)                                              \
	rte_log(RTE_LOG_##level, mg_flow_logtype, "mg_flow: " fmt "\n",        \
		##__VA_ARGS__)

/*
 * rte_hash names its bucket ring "HT_EXT_<name>" and silently truncates
 * it to a ring name; two tables whose names differ only past that point
 * would collide, so longer names are refused.
 */
#define FLOW_NAME_MAX (RTE_RING_NAMESIZE - sizeof("HT_EXT_"))
/* Two keys per flow, and rte_hash wants at least one bucket (8 keys). */
#define FLOW_MAX_FLOWS	   (RTE_HASH_ENTRIES_MAX / 2)
#define FLOW_HASH_MIN_KEYS 8
/* Retired entries looked at when the free ring runs dry. */
#define FLOW_RECLAIM_BURST 64u
/* struct rte_rcu_qsbr_dq, private to DPDK: a few words */
#define FLOW_DQ_HEADER_BYTES 128
#define FLOW_NO_SPARE	     UINT32_MAX
/*
 * The hash stores the entry pointer with the direction in bit 0: entries
 * are cache aligned, so a hit learns its side without comparing keys.
 */
#define FLOW_DIR_MASK ((uintptr_t)1)

static const uint32_t default_timeout_s[MG_FLOW_STATE_MAX] = {
	[MG_FLOW_SYN_SENT] = 10,      [MG_FLOW_SYN_RECV] = 10,
	[MG_FLOW_ESTABLISHED] = 3600, [MG_FLOW_FIN_WAIT] = 30,
	[MG_FLOW_TIME_WAIT] = 10,     [MG_FLOW_CLOSED] = 2,
	[MG_FLOW_UDP] = 30,
};

static const char *const state_names[MG_FLOW_STATE_MAX] = {
	[MG_FLOW_SYN_SENT] = "syn_sent",
	[MG_FLOW_SYN_RECV] = "syn_recv",
	[MG_FLOW_ESTABLISHED] = "established",
	[MG_FLOW_FIN_WAIT] = "fin_wait",
	[MG_FLOW_TIME_WAIT] = "time_wait",
	[MG_FLOW_CLOSED] = "closed",
	[MG_FLOW_UDP] = "udp",
};

/* Book-keeping of one entry that readers never need. */
struct flow_meta {
	/*
	 * Key slots to hand back to rte_hash once no reader can hold them
	 * (the hash is lock-free, so deleting a key does not free its slot);
	 * -1 when none. Always -1 while the entry is in the free ring.
	 */
	int32_t pos[2];
};

struct mg_flow_table {
	struct mg_flow_table_hdr hdr; /* first: mg_flow_half() reads it */
	/* read-mostly, used by every lookup */
	struct rte_hash *hash;
	uint32_t hash_seed; /**< the hash's init value (random per table) */
	struct mg_flow *flows;
	struct rte_ring *free_ring; /* indices, multi-producer/consumer */
	struct flow_meta *meta;
	uint8_t *live; /* [entry]: published and not yet removed (apart from
			* meta: 8 bytes an entry there, not 12) */
	struct rte_rcu_qsbr *qsv;
	uint32_t max_flows;
	uint64_t timeout[MG_FLOW_STATE_MAX];  /* TSC cycles */
	uint32_t idle_max[MG_FLOW_STATE_MAX]; /* in last_seen units */

	/*
	 * Writers. rte_hash adds replace the data of a key that is already
	 * there, so "add unless present" for two keys has to be one step:
	 * this lock serialises every change to the hash (the hash then runs
	 * single-writer and needs no lock or per-lcore slot caches of its
	 * own) and the defer queue. Lookups never take it.
	 */
	rte_spinlock_t lock __rte_cache_aligned;
	uint32_t count;
	/* half-open connections: how many, the budget, and the order they
	 * came in ((alloc_gen << 32 | index) entries; stale ones are
	 * skipped when popped) */
	uint32_t half_open __rte_cache_aligned;
	uint32_t max_half_open;
	struct rte_ring *half_ring;
	/* removed entries (their index) waiting for their grace period:
	 * DPDK's defer queue, the scheme lib/l7's buffers use too; used
	 * under the lock (created MT-unsafe), its callback recycles */
	struct rte_rcu_qsbr_dq *dq;
	/* the one entry the queue has no room for (it holds one fewer
	 * than the table, which keeps its ring at max_flows slots when
	 * that is a power of two), with its rte_rcu_qsbr_start() token;
	 * FLOW_NO_SPARE when none. Under the lock. */
	uint32_t spare;
	uint64_t spare_token;
	uint32_t retired_n; /* entries in dq and spare: under the lock */
};

/*
 * CRC32-C over the tuple (rte_hash_crc's value), loading through memcpy:
 * tuples inside parser results are only 2-byte aligned. Unrolled, with
 * the SSE4.2 instruction where the build targets it (rte_hash_crc_8byte
 * checks which algorithm to use at every call), and called directly by
 * the lookup rather than through rte_hash's function pointer.
 */
static inline uint32_t
tuple_hash(const struct mg_5tuple *key, uint32_t init)
{
	const uint8_t *p = (const uint8_t *)key;
	uint64_t w;
	uint32_t i;

	RTE_BUILD_BUG_ON(sizeof(*key) % sizeof(w) != 0);
#pragma GCC unroll 8
	for (i = 0; i < sizeof(*key); i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
#if defined(RTE_ARCH_X86) && defined(__SSE4_2__)
		init = (uint32_t)_mm_crc32_u64(init, w);
#else
		init = rte_hash_crc_8byte(w, init);
#endif
	}
	return init;
}

/* The same, as rte_hash calls it (adds and deletes: always a tuple). */
static uint32_t
flow_hash(const void *key, uint32_t len, uint32_t init)
{
	/* two lines per connection: keep it so when adding fields */
	RTE_BUILD_BUG_ON(sizeof(struct mg_flow) != 2 * RTE_CACHE_LINE_SIZE);
	RTE_VERIFY(len == sizeof(struct mg_5tuple));
	return tuple_hash(key, init);
}

static uint32_t
conf_seconds(const struct mg_flow_conf *c, enum mg_flow_state s)
{
	uint32_t v = 0;

	if (c != NULL) {
		switch (s) {
		case MG_FLOW_SYN_SENT:
		case MG_FLOW_SYN_RECV: v = c->tcp_syn_s; break;
		case MG_FLOW_ESTABLISHED: v = c->tcp_established_s; break;
		case MG_FLOW_FIN_WAIT: v = c->tcp_fin_s; break;
		case MG_FLOW_TIME_WAIT: v = c->tcp_time_wait_s; break;
		case MG_FLOW_CLOSED: v = c->tcp_rst_s; break;
		case MG_FLOW_UDP: v = c->udp_s; break;
		default: break;
		}
	}
	return v != 0 ? v : default_timeout_s[s];
}

static void flow_recycle(struct mg_flow_table *t, uint32_t index);

/* rte_rcu_qsbr_dq's callback: entry @p e's grace period is over. Runs
 * inside rte_rcu_qsbr_dq_enqueue()/_reclaim(), so with the lock held. */
static void
flow_dq_free(void *p, void *e, unsigned int n)
{
	struct mg_flow_table *t = p;
	uint32_t *index = e;
	unsigned int i;

	/* DPDK checked the grace period in code TSan does not see: what
	 * the readers released with their quiescent reports (their
	 * MG_TSAN_RELEASE(qsv)) is acquired here */
	MG_TSAN_ACQUIRE(t->qsv);
	for (i = 0; i < n; i++)
		flow_recycle(t, index[i]);
	__atomic_store_n(&t->retired_n, t->retired_n - n, __ATOMIC_RELAXED);
}

/* Entries the defer queue of a table of @p max_flows holds: all but
 * one, which the table's spare slot takes (an entry is retired at most
 * once before it is recycled, so the two never overflow). */
static inline uint32_t
dq_size(uint32_t max_flows)
{
	return RTE_MAX(max_flows - 1, 1u);
}

/* The defer queue of table @p name (dq_size() entries). */
static int
flow_dq_create(struct mg_flow_table *t, const char *name)
{
	struct rte_rcu_qsbr_dq_parameters dp = { 0 };
	char dq_name[RTE_RING_NAMESIZE];

	snprintf(dq_name, sizeof(dq_name), "MGFQ_%s", name);
	dp.name = dq_name;
	dp.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE; /* the table's lock */
	dp.size = dq_size(t->max_flows);
	dp.esize = sizeof(uint32_t);
	/* each removal recycles what is past its grace period, a burst
	 * at most, so the free ring refills as connections churn */
	dp.trigger_reclaim_limit = 0;
	dp.max_reclaim_size = FLOW_RECLAIM_BURST;
	dp.free_fn = flow_dq_free;
	dp.p = t;
	dp.v = t->qsv;
	t->dq = rte_rcu_qsbr_dq_create(&dp);
	return t->dq != NULL ? 0 : -1;
}

struct mg_flow_table *
mg_flow_table_create(const struct mg_flow_params *p)
{
	struct rte_hash_parameters hp = { 0 };
	char ring_name[RTE_RING_NAMESIZE];
	struct mg_flow_table *t;
	uint32_t i, n;
	size_t len;
	int err;

	if (p == NULL || p->name == NULL || p->max_flows == 0 ||
	    p->max_flows > FLOW_MAX_FLOWS || p->tsc_hz == 0)
		goto invalid;
	len = strlen(p->name);
	if (len == 0 || len > FLOW_NAME_MAX)
		goto invalid;
	n = p->max_flows;

	err = ENOMEM;
	t = rte_zmalloc_socket("mg_flow_table", sizeof(*t), RTE_CACHE_LINE_SIZE,
			       p->socket);
	if (t == NULL)
		goto fail;
	rte_spinlock_init(&t->lock);
	t->max_flows = n;
	t->qsv = p->qsv;
	/* last_seen in units of about a millisecond: 32 bits then span
	 * seven weeks, far beyond the longest timeout (7 days) twice */
	while ((p->tsc_hz >> (t->hdr.time_shift + 1)) >= 1000)
		t->hdr.time_shift++;
	for (i = 0; i < MG_FLOW_STATE_MAX; i++) {
		uint64_t s = conf_seconds(p->timeouts, i);

		t->timeout[i] =
			s > UINT64_MAX / p->tsc_hz ? UINT64_MAX : s * p->tsc_hz;
		t->idle_max[i] =
			(uint32_t)RTE_MIN(t->timeout[i] >> t->hdr.time_shift,
					  (uint64_t)INT32_MAX);
	}

	t->flows = rte_zmalloc_socket("mg_flow", (size_t)n * sizeof(*t->flows),
				      RTE_CACHE_LINE_SIZE, p->socket);
	if (t->flows == NULL)
		goto free_table;
	/* one array per direction: the workers of the two directions of a
	 * connection never write the same cache line */
	for (i = 0; i < 2; i++) {
		t->hdr.half[i] = rte_zmalloc_socket(
			"mg_flow_half", (size_t)n * sizeof(struct mg_flow_half),
			RTE_CACHE_LINE_SIZE, p->socket);
		if (t->hdr.half[i] == NULL)
			goto free_halves;
	}
	t->hdr.proxy = rte_zmalloc_socket("mg_flow_proxy",
					  (size_t)n * sizeof(*t->hdr.proxy),
					  RTE_CACHE_LINE_SIZE, p->socket);
	if (t->hdr.proxy == NULL)
		goto free_halves;
	t->meta = rte_malloc_socket("mg_flow_meta",
				    (size_t)n * sizeof(*t->meta), 0, p->socket);
	if (t->meta == NULL)
		goto free_halves;
	for (i = 0; i < n; i++) {
		t->meta[i].pos[0] = -1;
		t->meta[i].pos[1] = -1;
	}
	t->live = rte_zmalloc_socket("mg_flow_live", n, 0, p->socket);
	if (t->live == NULL)
		goto free_meta;

	snprintf(ring_name, sizeof(ring_name), "MGF_%s", p->name);
	rte_errno = 0;
	t->free_ring = rte_ring_create_elem(ring_name, sizeof(uint32_t), n,
					    p->socket, RING_F_EXACT_SZ);
	if (t->free_ring == NULL) {
		err = rte_errno == EEXIST ? EEXIST : ENOMEM;
		goto free_meta;
	}
	for (i = 0; i < n; i++)
		rte_ring_enqueue_elem(t->free_ring, &i, sizeof(i));
	t->max_half_open = p->max_half_open != 0 ? RTE_MIN(p->max_half_open, n)
						 : RTE_MAX(n / 4, 1u);
	snprintf(ring_name, sizeof(ring_name), "MGH_%s", p->name);
	/* twice the table: when it fills, its oldest entry is stale or
	 * the oldest half-open connection, fair to evict either way */
	t->half_ring =
		rte_ring_create_elem(ring_name, sizeof(uint64_t),
				     rte_align32pow2(2 * n), p->socket, 0);
	if (t->half_ring == NULL) {
		err = rte_errno == EEXIST ? EEXIST : ENOMEM;
		goto free_ring;
	}

	hp.name = p->name;
	hp.entries = RTE_MAX(2 * n, (uint32_t)FLOW_HASH_MIN_KEYS);
	hp.key_len = sizeof(struct mg_5tuple);
	hp.hash_func = flow_hash;
	/* Random per table, so that senders cannot aim tuples at a bucket. */
	t->hash_seed = (uint32_t)rte_rand();
	hp.hash_func_init_val = t->hash_seed;
	hp.socket_id = p->socket;
	/* EXT_TABLE: every key fits even when cuckoo displacement fails,
	 * so only mg_flow_alloc() decides that the table is full. */
	hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
			RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
	rte_errno = 0;
	t->hash = rte_hash_create(&hp);
	if (t->hash == NULL) {
		err = rte_errno == EEXIST ? EEXIST : ENOMEM;
		goto free_ring;
	}
	t->spare = FLOW_NO_SPARE;
	if (t->qsv != NULL && flow_dq_create(t, p->name) != 0) {
		err = rte_errno == EEXIST ? EEXIST : ENOMEM;
		goto free_hash;
	}
	return t;

free_hash:
	rte_hash_free(t->hash);
free_ring:
	rte_ring_free(t->half_ring);
	rte_ring_free(t->free_ring);
free_meta:
	rte_free(t->live);
	rte_free(t->meta);
free_halves:
	rte_free(t->hdr.proxy);
	rte_free(t->hdr.half[0]);
	rte_free(t->hdr.half[1]);
	rte_free(t->flows);
free_table:
	rte_free(t);
fail:
	FLOW_LOG(ERR, "cannot create table %s of %u flows: %s", p->name,
		 p->max_flows, rte_strerror(err));
	rte_errno = err;
	return NULL;
invalid:
	FLOW_LOG(ERR, "invalid table parameters");
	rte_errno = EINVAL;
	return NULL;
}

/*
 * What rte_hash_create() allocates for @p entries keys of @p key_len
 * bytes with RW_CONCURRENCY_LF and EXT_TABLE and no multi-writer cache,
 * as DPDK 22.11's rte_cuckoo_hash.c does: a free-slot ring and an
 * extendable-bucket ring, main and extendable buckets of 8 entries (one
 * cache line each), the key store (one dummy slot besides), the list of
 * buckets to free under LF, and the small control structures.
 */
#define HASH_BUCKET_BYTES 64
#define HASH_BUCKET_KEYS  8
#define HASH_KEY_ALIGN	  16
#define HASH_KEY_HEADER	  8    /* the data pointer stored with each key */
#define HASH_SMALL_BYTES  1024 /* struct rte_hash, tailq entry, counter */

static size_t
hash_memsize(uint32_t entries, uint32_t key_len)
{
	size_t slots = (size_t)entries + 1;
	size_t buckets = rte_align32pow2(entries) / HASH_BUCKET_KEYS;

	return rte_ring_get_memsize_elem(sizeof(uint32_t),
					 rte_align32pow2(slots)) +
	       rte_ring_get_memsize_elem(sizeof(uint32_t),
					 rte_align32pow2(buckets + 1)) +
	       2 * buckets * HASH_BUCKET_BYTES + slots * sizeof(uint32_t) +
	       slots * RTE_ALIGN(HASH_KEY_HEADER + key_len, HASH_KEY_ALIGN) +
	       HASH_SMALL_BYTES;
}

size_t
mg_flow_table_memsize(uint32_t max_flows)
{
	size_t n = max_flows;

	if (max_flows == 0 || max_flows > FLOW_MAX_FLOWS)
		return 0;
	return sizeof(struct mg_flow_table) + n * sizeof(struct mg_flow) +
	       2 * n * sizeof(struct mg_flow_half) +
	       n * sizeof(struct mg_flow_proxy) + n * sizeof(struct flow_meta) +
	       n + FLOW_DQ_HEADER_BYTES +
	       rte_ring_get_memsize_elem(
		       __RTE_QSBR_TOKEN_SIZE + sizeof(uint32_t),
		       rte_align32pow2(dq_size(max_flows) + 1)) +
	       rte_ring_get_memsize_elem(sizeof(uint32_t),
					 rte_align32pow2(max_flows + 1)) +
	       rte_ring_get_memsize_elem(sizeof(uint64_t),
					 rte_align32pow2(2 * max_flows)) +
	       hash_memsize(
		       RTE_MAX(2 * max_flows, (uint32_t)FLOW_HASH_MIN_KEYS),
		       sizeof(struct mg_5tuple));
}

void
mg_flow_table_free(struct mg_flow_table *t)
{
	if (t == NULL)
		return;
	/* recycles what it holds: every reader is offline by now */
	if (t->dq != NULL && rte_rcu_qsbr_dq_delete(t->dq) != 0)
		FLOW_LOG(ERR,
			 "table freed while a worker was online: %u "
			 "retired entries and their queue are lost",
			 t->retired_n);
	rte_hash_free(t->hash);
	rte_ring_free(t->free_ring);
	rte_ring_free(t->half_ring);
	rte_free(t->live);
	rte_free(t->meta);
	rte_free(t->hdr.proxy);
	rte_free(t->hdr.half[0]);
	rte_free(t->hdr.half[1]);
	rte_free(t->flows);
	rte_free(t);
}

uint64_t
mg_flow_lookup_bulk(struct mg_flow_table *t, const struct mg_5tuple **keys,
		    uint32_t n, struct mg_flow **flows, uint8_t *dir)
{
	void *data[RTE_HASH_LOOKUP_BULK_MAX];
	hash_sig_t sig[RTE_HASH_LOOKUP_BULK_MAX];
	uint64_t hits = 0;
	uint32_t i;

	if (unlikely(n == 0))
		return 0;
	if (unlikely(n > RTE_HASH_LOOKUP_BULK_MAX))
		n = RTE_HASH_LOOKUP_BULK_MAX;
	for (i = 0; i < n; i++)
		sig[i] = tuple_hash(keys[i], t->hash_seed);
	if (unlikely(rte_hash_lookup_with_hash_bulk_data(
			     t->hash, (const void **)keys, sig, n, &hits,
			     data) < 0))
		hits = 0;

	for (i = 0; i < n; i++) {
		uintptr_t v;
		struct mg_flow *f;

		if (!(hits & (UINT64_C(1) << i))) {
			flows[i] = NULL;
			dir[i] = MG_FLOW_DIR_FWD;
			continue;
		}
		v = (uintptr_t)data[i];
		f = (struct mg_flow *)(v & ~FLOW_DIR_MASK);
		/* the hash's acquire of what mg_flow_publish() released */
		MG_TSAN_ACQUIRE(f);
		/* The caller reads the keys (NAT addresses) and the
		 * decision, then both halves and writes its own. */
		rte_prefetch0(f);
		rte_prefetch0(RTE_PTR_ADD(f, RTE_CACHE_LINE_SIZE));
		rte_prefetch0(&t->hdr.half[0][f->index]);
		rte_prefetch0(&t->hdr.half[1][f->index]);
		flows[i] = f;
		dir[i] = (uint8_t)(v & FLOW_DIR_MASK);
	}
	return hits;
}

/* Hands an entry and its key slots back. Lock held. */
static void
flow_recycle(struct mg_flow_table *t, uint32_t index)
{
	struct flow_meta *m = &t->meta[index];
	unsigned int k;

	for (k = 0; k < RTE_DIM(m->pos); k++) {
		if (m->pos[k] >= 0)
			rte_hash_free_key_with_position(t->hash, m->pos[k]);
		m->pos[k] = -1;
	}
	/* Cannot fail: the ring holds every index. */
	rte_ring_enqueue_elem(t->free_ring, &index, sizeof(index));
}

/* Queues an unreachable entry for its grace period. Lock held. */
static void
flow_retire(struct mg_flow_table *t, uint32_t index)
{
	if (t->dq == NULL) {
		flow_recycle(t, index);
		return;
	}
	__atomic_store_n(&t->retired_n, t->retired_n + 1, __ATOMIC_RELAXED);
	if (likely(rte_rcu_qsbr_dq_enqueue(t->dq, &index) == 0))
		return;
	/* every other entry waits in the queue: the last one waits here
	 * (the spare cannot be taken: it would be one entry too many) */
	RTE_ASSERT(t->spare == FLOW_NO_SPARE);
	t->spare = index;
	t->spare_token = rte_rcu_qsbr_start(t->qsv);
}

/*
 * Recycles up to @p max retired entries whose grace period is over,
 * oldest first (the queue is in token order: the first entry still in
 * its grace period ends the walk). Lock held.
 */
static void
flow_reclaim(struct mg_flow_table *t, unsigned int max)
{
	rte_rcu_qsbr_dq_reclaim(t->dq, max, NULL, NULL, NULL);
	if (unlikely(t->spare != FLOW_NO_SPARE) &&
	    rte_rcu_qsbr_check(t->qsv, t->spare_token, false) == 1) {
		flow_recycle(t, t->spare);
		t->spare = FLOW_NO_SPARE;
		__atomic_store_n(&t->retired_n, t->retired_n - 1,
				 __ATOMIC_RELAXED);
	}
}

struct mg_flow *
mg_flow_alloc(struct mg_flow_table *t)
{
	struct mg_flow *f;
	uint32_t index, gen;

	if (rte_ring_dequeue_elem(t->free_ring, &index, sizeof(index)) != 0) {
		/* Retired entries are the only reserve left; if the lock is
		 * busy another writer is already reclaiming, and a SYN flood
		 * against a full table should not queue on it. */
		if (t->dq == NULL || !rte_spinlock_trylock(&t->lock))
			goto full;
		flow_reclaim(t, FLOW_RECLAIM_BURST);
		rte_spinlock_unlock(&t->lock);
		if (rte_ring_dequeue_elem(t->free_ring, &index,
					  sizeof(index)) != 0)
			goto full;
	}
	f = &t->flows[index];
	gen = f->alloc_gen + 1;
	memset(f, 0, sizeof(*f));
	memset(&t->hdr.half[0][index], 0, sizeof(struct mg_flow_half));
	memset(&t->hdr.half[1][index], 0, sizeof(struct mg_flow_half));
	f->index = index;
	f->alloc_gen = gen;
	f->limit = UINT16_MAX;
	f->limit_src = UINT32_MAX;
	return f;
full:
	rte_errno = ENOSPC;
	return NULL;
}

void
mg_flow_release(struct mg_flow_table *t, struct mg_flow *f)
{
	uint32_t index;
	struct flow_meta *m;

	if (f == NULL)
		return;
	index = (uint32_t)(f - t->flows);
	m = &t->meta[index];
	if (m->pos[0] < 0 && m->pos[1] < 0) {
		rte_ring_enqueue_elem(t->free_ring, &index, sizeof(index));
		return;
	}
	/* A failed publish showed a key for a moment: a reader may hold
	 * the entry, so it waits a grace period like a removed flow. */
	rte_spinlock_lock(&t->lock);
	flow_retire(t, index);
	rte_spinlock_unlock(&t->lock);
}

static inline void *
flow_tag(struct mg_flow *f, enum mg_flow_dir dir)
{
	return (void *)((uintptr_t)f | (uintptr_t)dir);
}

int
mg_flow_publish(struct mg_flow_table *t, struct mg_flow *f, uint64_t now)
{
	uint32_t index = (uint32_t)(f - t->flows);
	struct flow_meta *m = &t->meta[index];
	hash_sig_t sig[2];
	int ret;

	/* Both keys equal would make one flow its own reverse. */
	if (memcmp(&f->key[0], &f->key[1], sizeof(f->key[0])) == 0)
		return -EEXIST;
	f->index = index;
	t->hdr.half[0][index].last_seen = (uint32_t)(now >> t->hdr.time_shift);
	t->hdr.half[1][index].last_seen = t->hdr.half[0][index].last_seen;
	sig[0] = rte_hash_hash(t->hash, &f->key[0]);
	sig[1] = rte_hash_hash(t->hash, &f->key[1]);

	rte_spinlock_lock(&t->lock);
	if (rte_hash_lookup_with_hash(t->hash, &f->key[0], sig[0]) >= 0 ||
	    rte_hash_lookup_with_hash(t->hash, &f->key[1], sig[1]) >= 0) {
		ret = -EEXIST;
		goto out;
	}
	/* The hash publishes the data pointer with release semantics, so
	 * readers see the entry as filled in above. */
	MG_TSAN_RELEASE(f);
	ret = rte_hash_add_key_with_hash_data(t->hash, &f->key[0], sig[0],
					      flow_tag(f, MG_FLOW_DIR_FWD));
	if (ret < 0) {
		ret = -ENOSPC;
		goto out;
	}
	ret = rte_hash_add_key_with_hash_data(t->hash, &f->key[1], sig[1],
					      flow_tag(f, MG_FLOW_DIR_REV));
	if (ret < 0) {
		m->pos[0] =
			rte_hash_del_key_with_hash(t->hash, &f->key[0], sig[0]);
		ret = -ENOSPC;
		goto out;
	}
	__atomic_store_n(&t->live[index], 1, __ATOMIC_RELEASE);
	__atomic_store_n(&t->count, t->count + 1, __ATOMIC_RELAXED);
out:
	rte_spinlock_unlock(&t->lock);
	return ret;
}

/* ---- TCP tracking ---- */

/* The connection is no longer half open: give its place back, once. */
static inline void
half_open_end(struct mg_flow_table *t, struct mg_flow *f)
{
	if (__atomic_load_n(&f->half_open, __ATOMIC_RELAXED) != 0 &&
	    __atomic_exchange_n(&f->half_open, 0, __ATOMIC_ACQ_REL) != 0)
		__atomic_sub_fetch(&t->half_open, 1, __ATOMIC_RELEASE);
}

static inline bool
seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline uint32_t
ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Fields the other direction's worker reads are stored atomically (a
 * plain mov on x86) so that the two workers never race in C's sense. */
static inline void
st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Acks may lag what the receiver sent by the sender's largest window,
 * never less than this (nf_conntrack's MAXACKWINCONST). */
#define FLOW_MIN_ACK_WINDOW 66000u

uint64_t
mg_flow_idle_cycles(const struct mg_flow_table *t, const struct mg_flow *f,
		    unsigned int dir, uint64_t now)
{
	uint32_t last = ld32(&mg_flow_half(t, f, dir)->last_seen);
	uint32_t d = (uint32_t)(now >> t->hdr.time_shift) - last;

	return (int32_t)d < 0 ? 0 : (uint64_t)d << t->hdr.time_shift;
}

void
mg_flow_tcp_syn(struct mg_flow_table *t, struct mg_flow *f,
		const struct mg_pkt_tcp_seg *syn)
{
	struct mg_flow_half *h = mg_flow_half(t, f, MG_FLOW_DIR_FWD);

	h->isn = syn->seq;
	h->end = syn->seq + 1 + syn->len;
	/* a SYN's window is never scaled (RFC 7323 2.2) */
	h->maxwin = RTE_MAX((uint32_t)syn->win, 1u);
	h->flags = MG_HALF_SYN;
	if (syn->wscale != MG_PKT_NO_WSCALE) {
		h->flags |= MG_HALF_WSCALE;
		h->wscale = syn->wscale;
	}
}

void
mg_flow_tcp_proxy(struct mg_flow_table *t, struct mg_flow *f,
		  const struct mg_pkt_tcp_seg *ack, uint32_t cookie,
		  uint16_t mss)
{
	struct mg_flow_half *h = mg_flow_half(t, f, MG_FLOW_DIR_FWD);
	struct mg_flow_half *p = mg_flow_half(t, f, MG_FLOW_DIR_REV);
	struct mg_flow_proxy *x = mg_flow_proxy(t, f);

	f->syn_proxy = 1;
	h->isn = ack->seq - 1;
	h->end = ack->seq;
	/* the gateway's SYN-ACK offered no scaling: windows as they are */
	h->maxwin = RTE_MAX((uint32_t)ack->win, 1u);
	h->ack = cookie + 1;
	h->allow_end = cookie + 1 + ack->win;
	h->flags = MG_HALF_SYN | MG_HALF_ACK | MG_HALF_SYNACKED;
	/* where the client's view of the backend starts; its flags stay
	 * clear until the backend's SYN-ACK */
	p->isn = cookie;
	p->end = cookie + 1;
	x->delta = 0;
	x->mss = mss;
	x->win = ack->win;
}

/* The backend's SYN-ACK, first of its kind. */
static enum mg_flow_verdict
track_syn_ack(struct mg_flow_half *h, const struct mg_pkt_tcp_seg *seg)
{
	uint8_t flags = MG_HALF_SYN | MG_HALF_ACK | MG_HALF_SYNACKED;

	st32(&h->isn, seg->seq);
	st32(&h->end, seg->seq + 1 + seg->len);
	st32(&h->ack, seg->ack);
	st32(&h->maxwin, RTE_MAX((uint32_t)seg->win, 1u));
	st32(&h->allow_end, seg->ack + seg->win);
	if (seg->wscale != MG_PKT_NO_WSCALE) {
		__atomic_store_n(&h->wscale, seg->wscale, __ATOMIC_RELAXED);
		flags |= MG_HALF_WSCALE;
	}
	__atomic_store_n(&h->flags, flags, __ATOMIC_RELEASE);
	return MG_FLOW_ACCEPT;
}

static enum mg_flow_verdict
track_syn(struct mg_flow_half *h, const struct mg_flow_half *p, uint8_t hf,
	  uint8_t pf, enum mg_flow_dir dir, const struct mg_pkt_tcp_seg *seg)
{
	uint8_t fl = seg->flags;

	if (fl & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG))
		return MG_FLOW_OUT_OF_WINDOW;
	if (dir == MG_FLOW_DIR_FWD) {
		if (fl & RTE_TCP_ACK_FLAG)
			return MG_FLOW_OUT_OF_WINDOW; /* no simultaneous open */
		if (mg_flow_tcp_state_of(hf, pf) >= MG_FLOW_FIN_WAIT)
			return MG_FLOW_NEW;
		if (!(hf & MG_HALF_SYNACKED)) {
			if (seg->seq == h->isn)
				return MG_FLOW_ACCEPT; /* retransmitted */
			if (!(pf & MG_HALF_SYN))
				return MG_FLOW_NEW; /* started over */
		}
		return MG_FLOW_CHALLENGE;
	}
	if (!(fl & RTE_TCP_ACK_FLAG) || seg->ack != ld32(&p->isn) + 1)
		return MG_FLOW_OUT_OF_WINDOW;
	if (hf & MG_HALF_SYN)
		return seg->seq == h->isn ? MG_FLOW_ACCEPT
					  : MG_FLOW_OUT_OF_WINDOW;
	return track_syn_ack(h, seg);
}

static enum mg_flow_verdict
track_rst(struct mg_flow_half *h, const struct mg_flow_half *p, uint8_t hf,
	  uint8_t pf, const struct mg_pkt_tcp_seg *seg)
{
	bool ok;

	if (!(pf & MG_HALF_SYN)) {
		/* the client gives up before any answer */
		ok = seg->seq == h->end;
	} else if (!(hf & MG_HALF_SYN)) {
		/* the backend refuses the SYN: RST|ACK of the SYN */
		ok = (seg->flags & RTE_TCP_ACK_FLAG) &&
		     seg->ack == ld32(&p->end);
	} else {
		ok = seg->seq == h->end ||
		     ((pf & MG_HALF_ACK) && seg->seq == ld32(&p->ack));
		if (!ok && (pf & MG_HALF_ACK) &&
		    !seq_lt(seg->seq, ld32(&p->ack)) &&
		    !seq_lt(ld32(&p->allow_end), seg->seq))
			return MG_FLOW_CHALLENGE;
	}
	if (!ok)
		return MG_FLOW_OUT_OF_WINDOW;
	__atomic_store_n(&h->flags, hf | MG_HALF_RST, __ATOMIC_RELEASE);
	return MG_FLOW_ACCEPT;
}

enum mg_flow_verdict
mg_flow_tcp_track(struct mg_flow_table *t, struct mg_flow *f,
		  enum mg_flow_dir dir, const struct mg_pkt_tcp_seg *seg,
		  bool whole)
{
	struct mg_flow_half *h = mg_flow_half(t, f, dir);
	const struct mg_flow_half *p = mg_flow_half(t, f, !dir);
	uint8_t hf = h->flags;
	uint8_t pf = __atomic_load_n(&p->flags, __ATOMIC_ACQUIRE);
	uint32_t data_end = seg->seq + seg->len;
	uint32_t end = data_end + !!(seg->flags & RTE_TCP_FIN_FLAG);
	uint32_t limit, p_end, win, ackwin, flags;

	if (unlikely(seg->flags & RTE_TCP_SYN_FLAG))
		return track_syn(h, p, hf, pf, dir, seg);
	if (unlikely(seg->flags & RTE_TCP_RST_FLAG))
		return track_rst(h, p, hf, pf, seg);
	/* after the handshake every segment acknowledges something */
	if (unlikely(!(seg->flags & RTE_TCP_ACK_FLAG) ||
		     !(hf & pf & MG_HALF_SYN)))
		return MG_FLOW_OUT_OF_WINDOW;

	/* where the receiver's window ends: its last ack + window, or
	 * before it acknowledged anything, its SYN's window */
	limit = (pf & MG_HALF_ACK) ? ld32(&p->allow_end)
				   : h->isn + 1 + ld32(&p->maxwin);
	if (unlikely(seq_lt(limit, whole ? data_end : seg->seq)))
		return MG_FLOW_OUT_OF_WINDOW;
	/* older than anything the receiver could still take */
	if (unlikely(seq_lt(end, h->end - ld32(&p->maxwin))))
		return MG_FLOW_OUT_OF_WINDOW;
	p_end = ld32(&p->end);
	ackwin = RTE_MAX(h->maxwin, FLOW_MIN_ACK_WINDOW);
	if (unlikely(seq_lt(p_end, seg->ack) ||
		     seq_lt(seg->ack, p_end - ackwin)))
		return MG_FLOW_OUT_OF_WINDOW;

	if (seq_lt(h->end, end))
		st32(&h->end, end);
	win = (uint32_t)seg->win
	      << ((hf & pf & MG_HALF_WSCALE) ? h->wscale : 0);
	if (win > h->maxwin)
		st32(&h->maxwin, win);
	flags = hf | MG_HALF_ACK;
	if (!(hf & MG_HALF_ACK) || seq_lt(h->ack, seg->ack))
		st32(&h->ack, seg->ack);
	if (!(hf & MG_HALF_ACK) || seq_lt(h->allow_end, seg->ack + win))
		st32(&h->allow_end, seg->ack + win);
	if (!seq_lt(seg->ack, ld32(&p->isn) + 1)) {
		flags |= MG_HALF_SYNACKED;
		if (dir == MG_FLOW_DIR_FWD)
			half_open_end(t, f);
	}
	if (seg->flags & RTE_TCP_FIN_FLAG)
		flags |= MG_HALF_FIN;
	if (flags != hf)
		__atomic_store_n(&h->flags, (uint8_t)flags, __ATOMIC_RELEASE);
	return MG_FLOW_ACCEPT;
}

void
mg_flow_challenge(const struct mg_flow_table *t, const struct mg_flow *f,
		  enum mg_flow_dir dir, uint32_t *seq, uint32_t *ack)
{
	const struct mg_flow_half *p = mg_flow_half(t, f, !dir);
	const struct mg_flow_half *h = mg_flow_half(t, f, dir);

	*seq = ld32(&p->end);
	/* before the receiver acknowledged anything, its ack would be the
	 * sender's SYN + 1 */
	*ack = (__atomic_load_n(&p->flags, __ATOMIC_ACQUIRE) & MG_HALF_ACK)
		       ? ld32(&p->ack)
		       : h->isn + 1;
}

void
mg_flow_tcp_reset(struct mg_flow_table *t, struct mg_flow *f,
		  enum mg_flow_dir dir)
{
	struct mg_flow_half *h = mg_flow_half(t, f, dir);

	__atomic_store_n(&h->flags, h->flags | MG_HALF_RST, __ATOMIC_RELEASE);
}

static inline bool
flow_idle(const struct mg_flow_table *t, const struct mg_flow *f, uint64_t now)
{
	uint32_t a = ld32(&t->hdr.half[0][f->index].last_seen);
	uint32_t b = ld32(&t->hdr.half[1][f->index].last_seen);
	uint32_t last = seq_lt(a, b) ? b : a;
	int32_t idle = (int32_t)((uint32_t)(now >> t->hdr.time_shift) - last);

	/* Another worker's clock may be ahead of ours: then not idle. */
	return idle > 0 && (uint32_t)idle > t->idle_max[mg_flow_state(t, f)];
}

/* Makes a flow unreachable and retires it. Lock held. */
static void
flow_remove(struct mg_flow_table *t, uint32_t index)
{
	struct mg_flow *f = &t->flows[index];
	struct flow_meta *m = &t->meta[index];

	half_open_end(t, f);
	m->pos[0] = rte_hash_del_key(t->hash, &f->key[0]);
	m->pos[1] = rte_hash_del_key(t->hash, &f->key[1]);
	__atomic_store_n(&t->live[index], 0, __ATOMIC_RELEASE);
	__atomic_store_n(&t->count, t->count - 1, __ATOMIC_RELAXED);
	flow_retire(t, index);
}

unsigned int
mg_flow_expire(struct mg_flow_table *t, struct mg_flow_cursor *c, uint64_t now,
	       unsigned int budget)
{
	/* A zeroed cursor is a valid one for a single expiring thread. */
	uint32_t stride = c->stride != 0 ? c->stride : 1;
	uint32_t first = c->first;
	unsigned int removed = 0;
	uint32_t idx, span;

	if (first >= stride || first >= t->max_flows)
		return 0;
	/* Looking at an entry twice in one call would only waste time. */
	span = (t->max_flows - first - 1) / stride + 1;
	if (budget > span)
		budget = span;
	idx = c->next;
	if (idx >= t->max_flows || idx % stride != first)
		idx = first;

	/* every round while connections churn: never wait for the lock
	 * here, another writer holding it reclaims as well */
	if (t->dq != NULL &&
	    __atomic_load_n(&t->retired_n, __ATOMIC_RELAXED) != 0 &&
	    rte_spinlock_trylock(&t->lock)) {
		flow_reclaim(t, RTE_MAX(budget, FLOW_RECLAIM_BURST));
		rte_spinlock_unlock(&t->lock);
	}

	while (budget-- > 0) {
		/* mg_flow_remove() may take the entry between our look and
		 * the lock: look at live again under it. */
		if (__atomic_load_n(&t->live[idx], __ATOMIC_ACQUIRE) &&
		    flow_idle(t, &t->flows[idx], now)) {
			bool gone = false;

			rte_spinlock_lock(&t->lock);
			if (t->live[idx]) {
				flow_remove(t, idx);
				gone = true;
			}
			rte_spinlock_unlock(&t->lock);
			/* retired, not recycled: still ours to read */
			if (gone && c->removed != NULL)
				c->removed(c->ctx, &t->flows[idx]);
			removed += gone;
		}
		if (stride >= t->max_flows - idx)
			idx = first;
		else
			idx += stride;
	}
	c->next = idx;
	return removed;
}

bool
mg_flow_half_open_take(struct mg_flow_table *t)
{
	uint32_t n = __atomic_load_n(&t->half_open, __ATOMIC_RELAXED);

	do {
		if (n >= t->max_half_open)
			return false;
	} while (!__atomic_compare_exchange_n(&t->half_open, &n, n + 1, true,
					      __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	return true;
}

void
mg_flow_answered(struct mg_flow_table *t, struct mg_flow *f)
{
	half_open_end(t, f);
}

void
mg_flow_half_open_cancel(struct mg_flow_table *t)
{
	__atomic_sub_fetch(&t->half_open, 1, __ATOMIC_RELEASE);
}

static inline uint64_t
half_entry(const struct mg_flow *f)
{
	return (uint64_t)f->alloc_gen << 32 | f->index;
}

/* Remove the connection of ring entry @p e if it is still half open
 * (entries of connections established, removed or reused are stale). */
static bool
evict_entry(struct mg_flow_table *t, uint64_t e,
	    void (*removed)(void *ctx, const struct mg_flow *f), void *ctx)
{
	uint32_t index = (uint32_t)e;
	struct mg_flow *f;
	bool gone = false;

	if (index >= t->max_flows)
		return false;
	f = &t->flows[index];
	if (!__atomic_load_n(&t->live[index], __ATOMIC_ACQUIRE) ||
	    f->alloc_gen != (uint32_t)(e >> 32) ||
	    !__atomic_load_n(&f->half_open, __ATOMIC_ACQUIRE))
		return false;
	rte_spinlock_lock(&t->lock);
	if (t->live[index] && f->alloc_gen == (uint32_t)(e >> 32) &&
	    __atomic_load_n(&f->half_open, __ATOMIC_ACQUIRE)) {
		flow_remove(t, index);
		gone = true;
	}
	rte_spinlock_unlock(&t->lock);
	if (gone && removed != NULL)
		removed(ctx, f);
	return gone;
}

/* Entries popped at most per eviction: stale ones are skipped. */
#define EVICT_TRIES 16

bool
mg_flow_evict_oldest(struct mg_flow_table *t,
		     void (*removed)(void *ctx, const struct mg_flow *f),
		     void *ctx)
{
	unsigned int i;
	uint64_t e;

	for (i = 0; i < EVICT_TRIES; i++) {
		if (rte_ring_dequeue_elem(t->half_ring, &e, sizeof(e)) != 0)
			return false;
		if (evict_entry(t, e, removed, ctx))
			return true;
	}
	return false;
}

void
mg_flow_half_open_push(struct mg_flow_table *t, const struct mg_flow *f)
{
	uint64_t e = half_entry(f), old;

	/* full: the oldest entry leaves the ring — stale, or a half-open
	 * connection that then waits for its timeout instead of eviction */
	while (rte_ring_enqueue_elem(t->half_ring, &e, sizeof(e)) != 0) {
		if (rte_ring_dequeue_elem(t->half_ring, &old, sizeof(old)) != 0)
			return;
	}
}

uint32_t
mg_flow_half_open(const struct mg_flow_table *t)
{
	return __atomic_load_n(&t->half_open, __ATOMIC_RELAXED);
}

uint32_t
mg_flow_half_open_budget(const struct mg_flow_table *t)
{
	return t->max_half_open;
}

int
mg_flow_remove(struct mg_flow_table *t, struct mg_flow *f)
{
	int rc = -ENOENT;

	rte_spinlock_lock(&t->lock);
	if (t->live[f->index]) {
		flow_remove(t, f->index);
		rc = 0;
	}
	rte_spinlock_unlock(&t->lock);
	return rc;
}

uint32_t
mg_flow_count(const struct mg_flow_table *t)
{
	return __atomic_load_n(&t->count, __ATOMIC_RELAXED);
}

void
mg_flow_count_states(const struct mg_flow_table *t, uint32_t *counts)
{
	uint32_t i;
	uint8_t s;

	memset(counts, 0, MG_FLOW_STATE_MAX * sizeof(*counts));
	for (i = 0; i < t->max_flows; i++) {
		if (!__atomic_load_n(&t->live[i], __ATOMIC_ACQUIRE))
			continue;
		s = (uint8_t)mg_flow_state(t, &t->flows[i]);
		counts[s]++;
	}
}

const char *
mg_flow_state_name(enum mg_flow_state s)
{
	if ((unsigned int)s >= MG_FLOW_STATE_MAX)
		return "invalid";
	return state_names[s];
}
