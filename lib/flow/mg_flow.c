/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Connection table: per-worker shards, each a single-writer lock-free
 * rte_hash over its own part of a preallocated entry array; the TCP/UDP
 * state machine, incremental expiry and RCU reclamation.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_atomic.h>
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
#include <rte_tcp.h>

#include "mg_base.h"

#include "mg_flow.h"

RTE_LOG_REGISTER(mg_flow_logtype, mg.flow, INFO);

#define FLOW_LOG(level, fmt, ...)                                              \
	rte_log(RTE_LOG_##level, mg_flow_logtype, "mg_flow: " fmt "\n",        \
		##__VA_ARGS__)

/*
 * Each shard's names are the table's plus ":<shard>" (two digits at
 * most), and DPDK prefixes them: rte_hash names a ring "HT_EXT_<name>",
 * the defer queue "RCU_RB_<name>". A ring name that does not fit is
 * silently truncated by rte_hash, so longer names are refused.
 */
#define FLOW_SHARD_SUFFIX_MAX (sizeof(":63") - 1)
#define FLOW_NAME_MAX                                                          \
	(RTE_RING_NAMESIZE - sizeof("HT_EXT_") - FLOW_SHARD_SUFFIX_MAX)
#define FLOW_MAX_SHARDS 64
/* Two keys per flow, and rte_hash wants at least one bucket (8 keys). */
#define FLOW_MAX_FLOWS	   (RTE_HASH_ENTRIES_MAX / 2)
#define FLOW_HASH_MIN_KEYS 8
/* Retired entries looked at when the free list runs dry; entries other
 * workers removed taken from the kill ring at once. */
#define FLOW_RECLAIM_BURST 64u
/* struct rte_rcu_qsbr_dq, private to DPDK: a few words */
#define FLOW_DQ_HEADER_BYTES 128
#define FLOW_NO_SPARE	     UINT32_MAX
/*
 * The hash stores the entry pointer with the direction in bit 0: entries
 * are cache aligned, so a hit learns its side without comparing keys.
 */
#define FLOW_DIR_MASK ((uintptr_t)1)

/* mg_flow_table.live[entry] */
enum {
	FLOW_DEAD = 0,	     /* free, removed, or its publication failed */
	FLOW_LIVE = 1,	     /* published: removable, expirable, counted */
	FLOW_PUBLISHING = 2, /* its keys are going in: see mg_flow_publish() */
};

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

/* Book-keeping of one entry that readers never need. Its shard's owner
 * writes it. */
struct flow_meta {
	/*
	 * Key slots to hand back to rte_hash once no reader can hold them
	 * (the hash is lock-free, so deleting a key does not free its slot);
	 * -1 when none. Always -1 while the entry is free.
	 */
	int32_t pos[2];
	/* bumped each time the entry is allocated; other workers read it
	 * (half-open eviction) while the entry is live, when it cannot
	 * change */
	uint32_t gen;
};

/*
 * One writer's part of the table: the entries [first, first + n) it
 * admits connections into, the rte_hash that reaches them, and their
 * recycling. Only that writer (the shard's owner, one worker) changes
 * any of it, so nothing here needs a lock; every worker reads the hash
 * (lock-free readers) and may hand the owner an entry to unlink through
 * the kill ring.
 */
struct flow_shard {
	/* read by every worker */
	struct rte_hash *hash;
	struct rte_ring *kill; /* entries other workers removed: they are
				* dead (live[] cleared) but their keys are
				* still in the hash. Multi-producer, the
				* owner consumes. */
	struct mg_flow_table *t;
	uint32_t first;
	uint32_t n;
	/* the owner's alone */
	uint32_t *free; /* free entries, a stack of n_free */
	uint32_t n_free;
	/* removed entries (their index) waiting for their grace period:
	 * DPDK's defer queue, the scheme lib/l7's buffers use too
	 * (created MT-unsafe: the owner's), its callback recycles */
	struct rte_rcu_qsbr_dq *dq;
	/* the one entry the queue has no room for (it holds one fewer
	 * than the shard, which keeps its ring at n slots when that is a
	 * power of two), with its rte_rcu_qsbr_start() token;
	 * FLOW_NO_SPARE when none */
	uint32_t spare;
	uint64_t spare_token;
	uint32_t retired_n; /* entries in dq and spare */
	uint32_t count;	    /* published and not unlinked: any may read */
} __rte_cache_aligned;

struct mg_flow_table {
	struct mg_flow_table_hdr hdr; /* first: mg_flow_half() reads it */
	/* read-mostly, used by every lookup */
	struct flow_shard *shard;
	uint32_t n_shards;
	uint32_t shard_size; /* entries of each shard but the last */
	uint32_t hash_seed;  /**< every shard's hash init value (random) */
	struct mg_flow *flows;
	struct flow_meta *meta;
	uint8_t *live; /* [entry]: FLOW_* (apart from meta: 8 bytes an
			* entry there, not 12) */
	struct rte_rcu_qsbr *qsv;
	uint32_t max_flows;
	uint64_t timeout[MG_FLOW_STATE_MAX];  /* TSC cycles */
	uint32_t idle_max[MG_FLOW_STATE_MAX]; /* in last_seen units */

	/* half-open connections: how many, the budget, and the order they
	 * came in ((meta gen << 32 | index) entries; stale ones are
	 * skipped when popped), across shards: the oldest goes first,
	 * whichever worker admitted it */
	uint32_t half_open __rte_cache_aligned;
	uint32_t max_half_open;
	struct rte_ring *half_ring;
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

/* The shard entry @p index belongs to. */
static inline struct flow_shard *
shard_of(const struct mg_flow_table *t, uint32_t index)
{
	return &t->shard[RTE_MIN(index / t->shard_size, t->n_shards - 1)];
}

static void flow_recycle(struct flow_shard *sh, uint32_t index);

/* rte_rcu_qsbr_dq's callback: entry @p e's grace period is over. Runs
 * inside rte_rcu_qsbr_dq_enqueue()/_reclaim(), on the shard's owner. */
static void
flow_dq_free(void *p, void *e, unsigned int n)
{
	struct flow_shard *sh = p;
	uint32_t *index = e;
	unsigned int i;

	/* DPDK checked the grace period in code TSan does not see: what
	 * the readers released with their quiescent reports (their
	 * MG_TSAN_RELEASE(qsv)) is acquired here */
	MG_TSAN_ACQUIRE(sh->t->qsv);
	for (i = 0; i < n; i++)
		flow_recycle(sh, index[i]);
	sh->retired_n -= n;
}

/* Entries the defer queue of a shard of @p n entries holds: all but
 * one, which the shard's spare slot takes (an entry is retired at most
 * once before it is recycled, so the two never overflow). */
static inline uint32_t
dq_size(uint32_t n)
{
	return RTE_MAX(n - 1, 1u);
}

/* Entries of shard @p s of a table of @p max_flows with @p n_shards. */
static inline uint32_t
shard_entries(uint32_t max_flows, uint32_t n_shards, uint32_t s)
{
	uint32_t size = max_flows / n_shards;

	return s + 1 < n_shards ? size : max_flows - s * size;
}

/* Shard @p s of table @p name: its hash, rings, free list and defer
 * queue. */
static int
shard_create(struct mg_flow_table *t, struct flow_shard *sh, const char *name,
	     uint32_t s, int socket)
{
	struct rte_hash_parameters hp = { 0 };
	/* the name was checked: every derived one fits */
	char sname[RTE_RING_NAMESIZE], rname[RTE_RING_NAMESIZE + 4];
	uint32_t i;

	snprintf(sname, sizeof(sname), "%s:%u", name, s);
	sh->t = t;
	sh->n = shard_entries(t->max_flows, t->n_shards, s);
	sh->first = s * t->shard_size;
	sh->spare = FLOW_NO_SPARE;
	sh->free = rte_malloc_socket(
		"mg_flow_free", (size_t)sh->n * sizeof(*sh->free), 0, socket);
	if (sh->free == NULL)
		return ENOMEM;
	/* lowest index on top: a table fills from its start */
	for (i = 0; i < sh->n; i++)
		sh->free[i] = sh->first + sh->n - 1 - i;
	sh->n_free = sh->n;

	snprintf(rname, sizeof(rname), "MGK%s", sname);
	rte_errno = 0;
	sh->kill = rte_ring_create_elem(rname, sizeof(uint32_t), sh->n, socket,
					RING_F_EXACT_SZ | RING_F_SC_DEQ);
	if (sh->kill == NULL)
		return rte_errno == EEXIST ? EEXIST : ENOMEM;

	hp.name = sname;
	hp.entries = RTE_MAX(2 * sh->n, (uint32_t)FLOW_HASH_MIN_KEYS);
	hp.key_len = sizeof(struct mg_5tuple);
	hp.hash_func = flow_hash;
	hp.hash_func_init_val = t->hash_seed;
	hp.socket_id = socket;
	/* RW_CONCURRENCY_LF: lock-free readers, and a single writer (the
	 * owner), so no writer lock or per-lcore slot caches. EXT_TABLE:
	 * every key fits even when cuckoo displacement fails, so only
	 * mg_flow_alloc() decides that the shard is full. */
	hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
			RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
	rte_errno = 0;
	sh->hash = rte_hash_create(&hp);
	if (sh->hash == NULL)
		return rte_errno == EEXIST ? EEXIST : ENOMEM;

	if (t->qsv != NULL) {
		struct rte_rcu_qsbr_dq_parameters dp = { 0 };

		dp.name = sname;
		dp.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE; /* the owner's */
		dp.size = dq_size(sh->n);
		dp.esize = sizeof(uint32_t);
		/* each removal recycles what is past its grace period, a
		 * burst at most, so the free list refills as connections
		 * churn */
		dp.trigger_reclaim_limit = 0;
		dp.max_reclaim_size = FLOW_RECLAIM_BURST;
		dp.free_fn = flow_dq_free;
		dp.p = sh;
		dp.v = t->qsv;
		rte_errno = 0;
		sh->dq = rte_rcu_qsbr_dq_create(&dp);
		if (sh->dq == NULL)
			return rte_errno == EEXIST ? EEXIST : ENOMEM;
	}
	return 0;
}

static void
shard_free(struct flow_shard *sh)
{
	/* recycles what it holds: every reader is offline by now */
	if (sh->dq != NULL && rte_rcu_qsbr_dq_delete(sh->dq) != 0)
		FLOW_LOG(ERR,
			 "table freed while a worker was online: %u "
			 "retired entries and their queue are lost",
			 sh->retired_n);
	rte_hash_free(sh->hash);
	rte_ring_free(sh->kill);
	rte_free(sh->free);
}

static void
table_free(struct mg_flow_table *t)
{
	uint32_t s;

	if (t->shard != NULL)
		for (s = 0; s < t->n_shards; s++)
			shard_free(&t->shard[s]);
	rte_free(t->shard);
	rte_ring_free(t->half_ring);
	rte_free(t->live);
	rte_free(t->meta);
	rte_free(t->hdr.proxy);
	rte_free(t->hdr.half[0]);
	rte_free(t->hdr.half[1]);
	rte_free(t->flows);
	rte_free(t);
}

struct mg_flow_table *
mg_flow_table_create(const struct mg_flow_params *p)
{
	char ring_name[RTE_RING_NAMESIZE];
	struct mg_flow_table *t;
	uint32_t i, n, shards;
	size_t len;
	int err;

	if (p == NULL || p->name == NULL || p->max_flows == 0 ||
	    p->max_flows > FLOW_MAX_FLOWS || p->tsc_hz == 0)
		goto invalid;
	shards = p->writers != 0 ? p->writers : 1;
	if (shards > FLOW_MAX_SHARDS || shards > p->max_flows)
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
	t->max_flows = n;
	t->n_shards = shards;
	t->shard_size = n / shards;
	t->qsv = p->qsv;
	/* Random per table, so that senders cannot aim tuples at a bucket. */
	t->hash_seed = (uint32_t)rte_rand();
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
	/* one array per direction: the workers of the two directions of a
	 * connection never write the same cache line */
	for (i = 0; i < 2; i++)
		t->hdr.half[i] = rte_zmalloc_socket(
			"mg_flow_half", (size_t)n * sizeof(struct mg_flow_half),
			RTE_CACHE_LINE_SIZE, p->socket);
	t->hdr.proxy = rte_zmalloc_socket("mg_flow_proxy",
					  (size_t)n * sizeof(*t->hdr.proxy),
					  RTE_CACHE_LINE_SIZE, p->socket);
	t->meta = rte_malloc_socket("mg_flow_meta",
				    (size_t)n * sizeof(*t->meta), 0, p->socket);
	t->live = rte_zmalloc_socket("mg_flow_live", n, 0, p->socket);
	t->shard =
		rte_zmalloc_socket("mg_flow_shard", shards * sizeof(*t->shard),
				   RTE_CACHE_LINE_SIZE, p->socket);
	if (t->flows == NULL || t->hdr.half[0] == NULL ||
	    t->hdr.half[1] == NULL || t->hdr.proxy == NULL || t->meta == NULL ||
	    t->live == NULL || t->shard == NULL)
		goto free_table;
	for (i = 0; i < n; i++) {
		t->meta[i].pos[0] = -1;
		t->meta[i].pos[1] = -1;
	}

	t->max_half_open = p->max_half_open != 0 ? RTE_MIN(p->max_half_open, n)
						 : RTE_MAX(n / 4, 1u);
	snprintf(ring_name, sizeof(ring_name), "MGH_%s", p->name);
	/* twice the table: when it fills, its oldest entry is stale or
	 * the oldest half-open connection, fair to evict either way */
	rte_errno = 0;
	t->half_ring =
		rte_ring_create_elem(ring_name, sizeof(uint64_t),
				     rte_align32pow2(2 * n), p->socket, 0);
	if (t->half_ring == NULL) {
		err = rte_errno == EEXIST ? EEXIST : ENOMEM;
		goto free_table;
	}
	for (i = 0; i < shards; i++) {
		err = shard_create(t, &t->shard[i], p->name, i, p->socket);
		if (err != 0)
			goto free_table;
	}
	return t;

free_table:
	table_free(t);
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

/* What a shard of @p n entries takes besides the entry arrays: its
 * hash, kill ring, free list and defer queue. */
static size_t
shard_memsize(uint32_t n)
{
	return (size_t)n * sizeof(uint32_t) + FLOW_DQ_HEADER_BYTES +
	       rte_ring_get_memsize_elem(__RTE_QSBR_TOKEN_SIZE +
						 sizeof(uint32_t),
					 rte_align32pow2(dq_size(n) + 1)) +
	       rte_ring_get_memsize_elem(sizeof(uint32_t),
					 rte_align32pow2(n + 1)) +
	       hash_memsize(RTE_MAX(2 * n, (uint32_t)FLOW_HASH_MIN_KEYS),
			    sizeof(struct mg_5tuple));
}

size_t
mg_flow_table_memsize(uint32_t max_flows, uint32_t writers)
{
	uint32_t shards = writers != 0 ? writers : 1, s;
	size_t n = max_flows, bytes;

	if (max_flows == 0 || max_flows > FLOW_MAX_FLOWS ||
	    shards > FLOW_MAX_SHARDS || shards > max_flows)
		return 0;
	bytes = sizeof(struct mg_flow_table) +
		shards * sizeof(struct flow_shard) +
		n * sizeof(struct mg_flow) +
		2 * n * sizeof(struct mg_flow_half) +
		n * sizeof(struct mg_flow_proxy) +
		n * sizeof(struct flow_meta) + n +
		rte_ring_get_memsize_elem(sizeof(uint64_t),
					  rte_align32pow2(2 * max_flows));
	for (s = 0; s < shards; s++)
		bytes += shard_memsize(shard_entries(max_flows, shards, s));
	return bytes;
}

void
mg_flow_table_free(struct mg_flow_table *t)
{
	if (t != NULL)
		table_free(t);
}

/* The connection is no longer half open: give its place back, once. */
static inline void
half_open_end(struct mg_flow_table *t, struct mg_flow *f)
{
	if (__atomic_load_n(&f->half_open, __ATOMIC_RELAXED) != 0 &&
	    __atomic_exchange_n(&f->half_open, 0, __ATOMIC_ACQ_REL) != 0)
		__atomic_sub_fetch(&t->half_open, 1, __ATOMIC_RELEASE);
}

/* Hits of @p keys (with their signatures) in one shard's hash, their
 * data in @p data. */
static inline uint64_t
hash_lookup(const struct flow_shard *sh, const struct mg_5tuple **keys,
	    hash_sig_t *sig, uint32_t n, void **data)
{
	uint64_t hits = 0;

	if (unlikely(rte_hash_lookup_with_hash_bulk_data(
			     sh->hash, (const void **)keys, sig, n, &hits,
			     data) < 0))
		return 0;
	return hits;
}

/* Clears in @p found the hits of @p data that are dead: removed by
 * another worker, not yet unlinked by their owner (which finds the tuple's
 * live connection in another shard, if any). The entries are prefetched
 * first, so their loads overlap. */
static inline uint64_t
drop_dead(void *const *data, uint32_t n, uint64_t found)
{
	const struct mg_flow *f;
	uint32_t i;

	for (i = 0; i < n; i++)
		if (found & (UINT64_C(1) << i))
			rte_prefetch0((const void *)((uintptr_t)data[i] &
						     ~FLOW_DIR_MASK));
	for (i = 0; i < n; i++) {
		if (!(found & (UINT64_C(1) << i)))
			continue;
		f = (const struct mg_flow *)((uintptr_t)data[i] &
					     ~FLOW_DIR_MASK);
		if (unlikely(__atomic_load_n(&f->dead, __ATOMIC_RELAXED)))
			found &= ~(UINT64_C(1) << i);
	}
	return found;
}

/* Looks up, in the shards other than @p self, the keys whose bit is
 * clear in @p hits (misses in the caller's own shard). */
static uint64_t
lookup_others(struct mg_flow_table *t, unsigned int self,
	      const struct mg_5tuple **keys, hash_sig_t *sig, uint32_t n,
	      uint64_t hits, void **data)
{
	const struct mg_5tuple *mk[RTE_HASH_LOOKUP_BULK_MAX];
	hash_sig_t ms[RTE_HASH_LOOKUP_BULK_MAX];
	void *md[RTE_HASH_LOOKUP_BULK_MAX];
	uint8_t at[RTE_HASH_LOOKUP_BULK_MAX];
	uint32_t i, m, k, s;
	uint64_t found;

	for (s = 1; s < t->n_shards; s++) {
		m = 0;
		for (i = 0; i < n; i++) {
			if (hits & (UINT64_C(1) << i))
				continue;
			mk[m] = keys[i];
			ms[m] = sig[i];
			at[m++] = (uint8_t)i;
		}
		if (m == 0)
			break;
		found = drop_dead(
			md, m,
			hash_lookup(&t->shard[(self + s) % t->n_shards], mk, ms,
				    m, md));
		for (k = 0; k < m; k++) {
			if (!(found & (UINT64_C(1) << k)))
				continue;
			data[at[k]] = md[k];
			hits |= UINT64_C(1) << at[k];
		}
	}
	return hits;
}

uint64_t
mg_flow_lookup_bulk(struct mg_flow_table *t, unsigned int self,
		    const struct mg_5tuple **keys, uint32_t n,
		    struct mg_flow **flows, uint8_t *dir)
{
	void *data[RTE_HASH_LOOKUP_BULK_MAX];
	hash_sig_t sig[RTE_HASH_LOOKUP_BULK_MAX];
	uint64_t hits, all;
	uint32_t i;

	if (unlikely(n == 0))
		return 0;
	if (unlikely(n > RTE_HASH_LOOKUP_BULK_MAX))
		n = RTE_HASH_LOOKUP_BULK_MAX;
	if (unlikely(self >= t->n_shards))
		self = 0;
	for (i = 0; i < n; i++)
		sig[i] = tuple_hash(keys[i], t->hash_seed);
	/* the caller's own shard first: a connection's first direction
	 * arrives where it was admitted */
	hits = hash_lookup(&t->shard[self], keys, sig, n, data);
	/* with one shard every removal is its owner's, unlinked at once:
	 * nothing dead is ever found */
	if (t->n_shards > 1) {
		all = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
		hits = drop_dead(data, n, hits);
		if (hits != all)
			hits = lookup_others(t, self, keys, sig, n, hits, data);
	}

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

/* Hands an entry and its key slots back. The owner. */
static void
flow_recycle(struct flow_shard *sh, uint32_t index)
{
	struct flow_meta *m = &sh->t->meta[index];
	unsigned int k;

	for (k = 0; k < RTE_DIM(m->pos); k++) {
		if (m->pos[k] >= 0)
			rte_hash_free_key_with_position(sh->hash, m->pos[k]);
		m->pos[k] = -1;
	}
	/* Cannot overflow: the list has room for every entry. */
	sh->free[sh->n_free++] = index;
}

/* Queues an unreachable entry for its grace period. The owner. */
static void
flow_retire(struct flow_shard *sh, uint32_t index)
{
	if (sh->dq == NULL) {
		flow_recycle(sh, index);
		return;
	}
	sh->retired_n++;
	if (likely(rte_rcu_qsbr_dq_enqueue(sh->dq, &index) == 0))
		return;
	/* every other entry waits in the queue: the last one waits here
	 * (the spare cannot be taken: it would be one entry too many) */
	RTE_ASSERT(sh->spare == FLOW_NO_SPARE);
	sh->spare = index;
	sh->spare_token = rte_rcu_qsbr_start(sh->t->qsv);
}

/*
 * Recycles up to @p max retired entries whose grace period is over,
 * oldest first (the queue is in token order: the first entry still in
 * its grace period ends the walk). The owner.
 */
static void
flow_reclaim(struct flow_shard *sh, unsigned int max)
{
	if (sh->retired_n == 0)
		return;
	rte_rcu_qsbr_dq_reclaim(sh->dq, max, NULL, NULL, NULL);
	if (unlikely(sh->spare != FLOW_NO_SPARE) &&
	    rte_rcu_qsbr_check(sh->t->qsv, sh->spare_token, false) == 1) {
		flow_recycle(sh, sh->spare);
		sh->spare = FLOW_NO_SPARE;
		sh->retired_n--;
	}
}

/* Makes a dead entry of the owner's shard unreachable and retires it. */
static void
flow_unlink(struct flow_shard *sh, uint32_t index)
{
	struct mg_flow *f = &sh->t->flows[index];
	struct flow_meta *m = &sh->t->meta[index];

	m->pos[0] = rte_hash_del_key(sh->hash, &f->key[0]);
	m->pos[1] = rte_hash_del_key(sh->hash, &f->key[1]);
	__atomic_store_n(&sh->count, sh->count - 1, __ATOMIC_RELAXED);
	flow_retire(sh, index);
}

/* Unlinks what other workers removed from the owner's shard: at most
 * @p max entries. */
static void
shard_drain(struct flow_shard *sh, unsigned int max)
{
	uint32_t idx[FLOW_RECLAIM_BURST];
	unsigned int n, i;

	while (max > 0 &&
	       (n = rte_ring_sc_dequeue_burst_elem(
			sh->kill, idx, sizeof(idx[0]),
			RTE_MIN(max, FLOW_RECLAIM_BURST), NULL)) != 0) {
		/* what flow_kill() released before its enqueue */
		MG_TSAN_ACQUIRE(sh->kill);
		for (i = 0; i < n; i++)
			flow_unlink(sh, idx[i]);
		max -= n;
	}
}

/* All that other workers removed from the owner's shard (the ring never
 * holds more than the shard); every round, mostly nothing, told by two
 * loads. */
static inline void
shard_handover(struct flow_shard *sh)
{
	if (!rte_ring_empty(sh->kill))
		shard_drain(sh, sh->n);
}

/*
 * Makes a published connection dead: exactly one caller wins (it then
 * calls flow_bury()). Any worker: a dead entry is no longer removable,
 * expirable or counted by state, though its keys stay in the hash until
 * its owner unlinks it.
 */
static bool
flow_kill(struct mg_flow_table *t, uint32_t index)
{
	uint8_t v = FLOW_LIVE;

	if (!__atomic_compare_exchange_n(&t->live[index], &v, FLOW_DEAD, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return false;
	half_open_end(t, &t->flows[index]);
	return true;
}

/* A dead entry of another shard: lookups pass over it until its owner
 * unlinks it. */
static inline void
flow_mark_dead(struct mg_flow *f)
{
	__atomic_store_n(&f->dead, 1, __ATOMIC_RELAXED);
}

/* The owner unlinks a killed entry now; another worker hands it to the
 * owner's kill ring, which has room for every entry of the shard (an
 * entry is killed once before it is recycled). */
static void
flow_bury(struct mg_flow_table *t, unsigned int self, uint32_t index)
{
	struct flow_shard *sh = shard_of(t, index);

	if (sh == &t->shard[self]) {
		flow_unlink(sh, index);
		return;
	}
	flow_mark_dead(&t->flows[index]);
	MG_TSAN_RELEASE(sh->kill);
	if (unlikely(rte_ring_mp_enqueue_elem(sh->kill, &index,
					      sizeof(index)) != 0))
		RTE_VERIFY(!"flow kill ring overflow");
}

struct mg_flow *
mg_flow_alloc(struct mg_flow_table *t, unsigned int self)
{
	struct flow_shard *sh;
	struct mg_flow *f;
	uint32_t index, gen;

	if (unlikely(self >= t->n_shards)) {
		rte_errno = EINVAL;
		return NULL;
	}
	sh = &t->shard[self];
	if (unlikely(sh->n_free == 0)) {
		/* what others removed, then retired entries past their
		 * grace period: the only reserve left */
		shard_drain(sh, FLOW_RECLAIM_BURST);
		if (sh->dq != NULL)
			flow_reclaim(sh, FLOW_RECLAIM_BURST);
		if (sh->n_free == 0) {
			rte_errno = ENOSPC;
			return NULL;
		}
	}
	index = sh->free[--sh->n_free];
	f = &t->flows[index];
	gen = t->meta[index].gen + 1;
	__atomic_store_n(&t->meta[index].gen, gen, __ATOMIC_RELAXED);
	memset(f, 0, sizeof(*f));
	memset(&t->hdr.half[0][index], 0, sizeof(struct mg_flow_half));
	memset(&t->hdr.half[1][index], 0, sizeof(struct mg_flow_half));
	f->index = index;
	f->limit = UINT16_MAX;
	f->limit_src = UINT32_MAX;
	return f;
}

void
mg_flow_release(struct mg_flow_table *t, struct mg_flow *f)
{
	struct flow_shard *sh;
	struct flow_meta *m;
	uint32_t index;

	if (f == NULL)
		return;
	index = (uint32_t)(f - t->flows);
	sh = shard_of(t, index);
	m = &t->meta[index];
	if (m->pos[0] < 0 && m->pos[1] < 0) {
		sh->free[sh->n_free++] = index;
		return;
	}
	/* A failed publish showed a key for a moment: a reader may hold
	 * the entry, so it waits a grace period like a removed flow. */
	flow_retire(sh, index);
}

static inline void *
flow_tag(struct mg_flow *f, enum mg_flow_dir dir)
{
	return (void *)((uintptr_t)f | (uintptr_t)dir);
}

/*
 * Whether another shard than @p sh holds key @p k for a connection that
 * keeps it: one live, or one being published from a lower-ranked shard.
 * One being published from a higher-ranked shard is vetoed: it is made
 * dead before it can go live (it then gives up), unless it went live
 * first. So of several workers publishing one tuple at once exactly one
 * wins, with no waiting: the lowest-ranked, or whoever went live.
 */
static bool
claimed_elsewhere(struct mg_flow_table *t, const struct flow_shard *sh,
		  const struct mg_5tuple *k, hash_sig_t sig)
{
	const struct mg_flow *g;
	uint8_t *live;
	uint8_t v;
	void *data;
	uint32_t s;

	for (s = 0; s < t->n_shards; s++) {
		if (&t->shard[s] == sh ||
		    rte_hash_lookup_with_hash_data(t->shard[s].hash, k, sig,
						   &data) < 0)
			continue;
		g = (const struct mg_flow *)((uintptr_t)data & ~FLOW_DIR_MASK);
		live = &t->live[g - t->flows];
		v = __atomic_load_n(live, __ATOMIC_ACQUIRE);
		if (v == FLOW_PUBLISHING && &t->shard[s] > sh &&
		    __atomic_compare_exchange_n(live, &v, FLOW_DEAD, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			continue;
		/* live, ours to yield to, or live since we looked */
		if (v != FLOW_DEAD)
			return true;
	}
	return false;
}

int
mg_flow_publish(struct mg_flow_table *t, struct mg_flow *f, uint64_t now)
{
	uint32_t index = (uint32_t)(f - t->flows);
	struct flow_shard *sh = shard_of(t, index);
	struct flow_meta *m = &t->meta[index];
	hash_sig_t sig[2];
	unsigned int k;
	int ret;

	/* Both keys equal would make one flow its own reverse. */
	if (memcmp(&f->key[0], &f->key[1], sizeof(f->key[0])) == 0)
		return -EEXIST;
	f->index = index;
	/* the address a packet of each direction arrives with, and the
	 * one it leaves with */
	f->nat_ck[MG_FLOW_DIR_FWD] = mg_cksum_addr_diff(
		f->key[MG_FLOW_DIR_FWD].dst, f->key[MG_FLOW_DIR_REV].src,
		f->key[MG_FLOW_DIR_FWD].family);
	f->nat_ck[MG_FLOW_DIR_REV] = mg_cksum_addr_diff(
		f->key[MG_FLOW_DIR_REV].src, f->key[MG_FLOW_DIR_FWD].dst,
		f->key[MG_FLOW_DIR_FWD].family);
	t->hdr.half[0][index].last_seen = (uint32_t)(now >> t->hdr.time_shift);
	t->hdr.half[1][index].last_seen = t->hdr.half[0][index].last_seen;
	for (k = 0; k < 2; k++) {
		sig[k] = tuple_hash(&f->key[k], t->hash_seed);
		/* in its own shard only the owner adds: no race */
		if (rte_hash_lookup_with_hash(sh->hash, &f->key[k], sig[k]) >=
		    0)
			return -EEXIST;
	}
	/* Marked before its keys go in, so that a publisher in another
	 * shard who finds a key also finds the mark. */
	__atomic_store_n(&t->live[index], FLOW_PUBLISHING, __ATOMIC_RELAXED);
	/* The hash publishes the data pointer with release semantics, so
	 * readers see the entry as filled in above. */
	MG_TSAN_RELEASE(f);
	ret = rte_hash_add_key_with_hash_data(sh->hash, &f->key[0], sig[0],
					      flow_tag(f, MG_FLOW_DIR_FWD));
	if (ret < 0) {
		ret = -ENOSPC;
		goto fail;
	}
	ret = rte_hash_add_key_with_hash_data(sh->hash, &f->key[1], sig[1],
					      flow_tag(f, MG_FLOW_DIR_REV));
	if (ret < 0) {
		m->pos[0] = rte_hash_del_key_with_hash(sh->hash, &f->key[0],
						       sig[0]);
		ret = -ENOSPC;
		goto fail;
	}
	/*
	 * Another worker may be publishing the same key in its shard. Each
	 * of us stored its mark and keys before this fence and looks at
	 * the other's shards after it, so at least one sees the other;
	 * claimed_elsewhere() settles who keeps the tuple, and a veto shows
	 * here as the mark gone. Dead entries other workers have not
	 * unlinked yet do not count.
	 */
	if (t->n_shards > 1) {
		uint8_t v = FLOW_PUBLISHING;

		rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (claimed_elsewhere(t, sh, &f->key[0], sig[0]) ||
		    claimed_elsewhere(t, sh, &f->key[1], sig[1]) ||
		    !__atomic_compare_exchange_n(&t->live[index], &v, FLOW_LIVE,
						 false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED)) {
			m->pos[0] = rte_hash_del_key_with_hash(
				sh->hash, &f->key[0], sig[0]);
			m->pos[1] = rte_hash_del_key_with_hash(
				sh->hash, &f->key[1], sig[1]);
			ret = -EEXIST;
			goto fail;
		}
	} else {
		__atomic_store_n(&t->live[index], FLOW_LIVE, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&sh->count, sh->count + 1, __ATOMIC_RELAXED);
	return 0;
fail:
	__atomic_store_n(&t->live[index], FLOW_DEAD, __ATOMIC_RELEASE);
	return ret;
}

/* ---- TCP tracking ---- */

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

unsigned int
mg_flow_expire(struct mg_flow_table *t, struct mg_flow_cursor *c, uint64_t now,
	       unsigned int budget)
{
	unsigned int removed = 0;
	struct flow_shard *sh;
	uint32_t idx, end;

	/* A zeroed cursor is shard 0's. */
	if (c->first >= t->n_shards)
		return 0;
	sh = &t->shard[c->first];
	/* every round: what other workers removed, and what is past its
	 * grace period while connections churn */
	shard_handover(sh);
	if (sh->dq != NULL)
		flow_reclaim(sh, RTE_MAX(budget, FLOW_RECLAIM_BURST));

	/* Looking at an entry twice in one call would only waste time. */
	if (budget > sh->n)
		budget = sh->n;
	end = sh->first + sh->n;
	idx = c->next;
	if (idx < sh->first || idx >= end)
		idx = sh->first;
	while (budget-- > 0) {
		if (__atomic_load_n(&t->live[idx], __ATOMIC_ACQUIRE) ==
			    FLOW_LIVE &&
		    flow_idle(t, &t->flows[idx], now) && flow_kill(t, idx)) {
			flow_unlink(sh, idx);
			/* retired, not recycled: still ours to read */
			if (c->removed != NULL)
				c->removed(c->ctx, &t->flows[idx]);
			removed++;
		}
		if (++idx == end)
			idx = sh->first;
	}
	c->next = idx;
	return removed;
}

void
mg_flow_handover(struct mg_flow_table *t, unsigned int self)
{
	if (likely(self < t->n_shards))
		shard_handover(&t->shard[self]);
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
half_entry(const struct mg_flow_table *t, const struct mg_flow *f)
{
	return (uint64_t)t->meta[f->index].gen << 32 | f->index;
}

/* Remove the connection of ring entry @p e if it is still half open
 * (entries of connections established, removed or reused are stale). */
static bool
evict_entry(struct mg_flow_table *t, unsigned int self, uint64_t e,
	    void (*removed)(void *ctx, const struct mg_flow *f), void *ctx)
{
	uint32_t index = (uint32_t)e;
	struct mg_flow *f;

	if (index >= t->max_flows)
		return false;
	f = &t->flows[index];
	/* an entry live now cannot be recycled before our next quiescent
	 * report, so the generation read here is the one killed below */
	if (__atomic_load_n(&t->live[index], __ATOMIC_ACQUIRE) != FLOW_LIVE ||
	    __atomic_load_n(&t->meta[index].gen, __ATOMIC_RELAXED) !=
		    (uint32_t)(e >> 32) ||
	    !__atomic_load_n(&f->half_open, __ATOMIC_ACQUIRE) ||
	    !flow_kill(t, index))
		return false;
	flow_bury(t, self, index);
	if (removed != NULL)
		removed(ctx, f);
	return true;
}

/* Entries popped at most per eviction: stale ones are skipped. */
#define EVICT_TRIES 16

bool
mg_flow_evict_oldest(struct mg_flow_table *t, unsigned int self,
		     void (*removed)(void *ctx, const struct mg_flow *f),
		     void *ctx)
{
	unsigned int i;
	uint64_t e;

	if (unlikely(self >= t->n_shards))
		return false;
	for (i = 0; i < EVICT_TRIES; i++) {
		if (rte_ring_dequeue_elem(t->half_ring, &e, sizeof(e)) != 0)
			return false;
		if (evict_entry(t, self, e, removed, ctx))
			return true;
	}
	return false;
}

void
mg_flow_half_open_push(struct mg_flow_table *t, const struct mg_flow *f)
{
	uint64_t e = half_entry(t, f), old;

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
mg_flow_remove(struct mg_flow_table *t, unsigned int self, struct mg_flow *f)
{
	if (unlikely(self >= t->n_shards) || !flow_kill(t, f->index))
		return -ENOENT;
	flow_bury(t, self, f->index);
	return 0;
}

uint32_t
mg_flow_count(const struct mg_flow_table *t)
{
	uint32_t s, n = 0;

	for (s = 0; s < t->n_shards; s++)
		n += __atomic_load_n(&t->shard[s].count, __ATOMIC_RELAXED);
	return n;
}

void
mg_flow_count_states(const struct mg_flow_table *t, uint32_t *counts)
{
	uint32_t i;
	uint8_t s;

	memset(counts, 0, MG_FLOW_STATE_MAX * sizeof(*counts));
	for (i = 0; i < t->max_flows; i++) {
		if (__atomic_load_n(&t->live[i], __ATOMIC_ACQUIRE) != FLOW_LIVE)
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
