/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Per-caller limits: buckets of connection counts (shared, atomic) and
 * rte_meter state (per worker), a set-associative table of per-source
 * buckets, and the control plane's rebalancing of each worker's share.
 * Built on rte_meter rather than a token bucket of our own (STYLE 15);
 * what is ours is only how a rate is split between workers.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include "mg_limit.h"

/* A source bucket idle this long with no connection may be taken by
 * another source. */
#define SOURCE_IDLE_S 60
/* last_use is stored only when older than this (1/16 s): a busy source
 * does not write the shared line per connection. */
#define TOUCH_SHIFT 4
/* Most tokens a worker draws from its meter at once. */
#define CHUNK_PACKETS 64
#define CHUNK_CONNS   32
#define CHUNK_BYTES   (32 * 1024)
/* A byte meter's burst is never below one jumbo frame. */
#define MIN_BYTE_BURST 9600
#define NAME_LEN       32

/* Shared by the workers. A source bucket's key (its address' hash,
 * never 0; 0: free) is in the table's keys, where a set's ways share one
 * cache line: a lookup reads one line. */
struct bucket {
	uint64_t last_use; /* TSC of the last claim or lookup (approximate:
			    * any worker stores it, relaxed) */
	uint32_t conns;	   /* concurrent connections, atomic */
	uint32_t pad;
	uint64_t pad2[2];
};

/* One worker's view of one bucket, written by that worker only: one
 * cache line, in an array of that worker's own. The credit comes first:
 * mg_limit_packet() (mg_limit.h) spends it inline. */
struct wbucket {
	struct mg_limit_credit c;
	uint32_t pad;
	struct rte_meter_srtcm conn;
	struct rte_meter_srtcm pkt;
};

/* What one worker drew from one bucket's meters or was refused by them,
 * ever: what it asked for, to a chunk. Written by that worker when it
 * draws (out of line), read by the control plane's rebalance. */
struct demand {
	uint32_t conn;
	uint32_t pkt;
};

_Static_assert(sizeof(struct wbucket) == MG_LIMIT_WBUCKET_SIZE,
	       "a worker's view of a bucket is one cache line");
_Static_assert(offsetof(struct wbucket, c) == 0,
	       "mg_limit_packet() finds the credit at the start");

/* A worker's shares of one bucket's rates, written by the control
 * plane: 1..MG_LIMIT_SHARES, 0 for an equal share. */
struct share {
	uint8_t conn;
	uint8_t pkt;
};

struct mg_limit_table {
	struct mg_limit_table_hdr hdr; /* first: read inline (mg_limit.h) */
	uint32_t max_limits;
	uint32_t max_regions; /* limits that may have per-source buckets */
	uint32_t n_regions;   /* given out so far */
	uint32_t n_src;	      /* source buckets per region */
	uint32_t n_sets;      /* n_src / MG_LIMIT_WAYS */
	uint32_t n_buckets;
	unsigned int n_workers;
	uint8_t equal_share; /* MG_LIMIT_SHARES / n_workers */
	uint64_t idle_tsc;
	uint32_t seed; /* random: senders cannot aim at one set */
	uint32_t n_limits;
	char (*names)[NAME_LEN];
	uint32_t *region; /* [limit id]: its sources' region, or NONE */
	struct bucket *buckets;
	/* [region * n_src + source bucket - the region's first]: keys */
	uint64_t *keys;
	uint32_t *gen;		/* [bucket], also hdr.gen: bumped at each
				 * claim, the meters start afresh */
	struct wbucket **wb;	/* [worker][bucket], also hdr.wb */
	struct share **share;	/* [worker][bucket] */
	struct demand **demand; /* [worker][bucket] */
	/* the control plane's: demand seen at the last rebalance */
	uint32_t *last_conn, *last_pkt; /* [worker * n_buckets + bucket] */
};

static int
meter_profile(struct rte_meter_srtcm_profile *prof, uint64_t rate,
	      uint64_t burst, unsigned int share, uint64_t min_burst)
{
	struct rte_meter_srtcm_params p = {
		.cir = RTE_MAX(rate * share / MG_LIMIT_SHARES, (uint64_t)1),
		.cbs = RTE_MAX(burst * share / MG_LIMIT_SHARES, min_burst),
		.ebs = 0,
	};

	return rte_meter_srtcm_profile_config(prof, &p);
}

int
mg_limit_params_init(struct mg_limit_params *p,
		     const struct mg_limit_rate *conn,
		     const struct mg_limit_rate *pkt, uint32_t max_conns,
		     bool bytes)
{
	unsigned int s;

	memset(p, 0, sizeof(*p));
	p->max_conns = max_conns;
	p->bytes = bytes;
	if (conn != NULL)
		p->conn = *conn;
	if (pkt != NULL)
		p->pkt = *pkt;
	for (s = 1; s <= MG_LIMIT_SHARES; s++) {
		if (p->conn.rate != 0 &&
		    meter_profile(&p->conn_prof[s], p->conn.rate, p->conn.burst,
				  s, 1) != 0)
			return -EINVAL;
		if (p->pkt.rate != 0 &&
		    meter_profile(&p->pkt_prof[s], p->pkt.rate, p->pkt.burst, s,
				  bytes ? MIN_BYTE_BURST : 1) != 0)
			return -EINVAL;
	}
	p->pkt_chunk = bytes ? CHUNK_BYTES : CHUNK_PACKETS;
	return 0;
}

/* Buckets of a table: one per limit, then each region's sources and
 * its overflow bucket. */
static size_t
n_buckets(uint32_t max_limits, uint32_t max_regions, uint32_t max_sources)
{
	uint32_t n_src = RTE_ALIGN_CEIL(max_sources, MG_LIMIT_WAYS);

	return (size_t)max_limits +
	       (n_src != 0 ? (size_t)max_regions * (n_src + 1) : 0);
}

size_t
mg_limit_table_memsize(uint32_t max_limits, uint32_t max_regions,
		       uint32_t max_sources, unsigned int n_workers)
{
	size_t n = n_buckets(max_limits, max_regions, max_sources);

	return sizeof(struct mg_limit_table) +
	       (size_t)max_limits * (NAME_LEN + sizeof(uint32_t)) +
	       (size_t)max_regions *
		       RTE_ALIGN_CEIL(max_sources, MG_LIMIT_WAYS) *
		       sizeof(uint64_t) +
	       n * (sizeof(struct bucket) + sizeof(uint32_t)) +
	       n_workers * (3 * sizeof(void *) + n * sizeof(struct wbucket) +
			    n * sizeof(struct share) +
			    n * sizeof(struct demand) + 2 * n * 4);
}

struct mg_limit_table *
mg_limit_table_create(const char *name, uint32_t max_limits,
		      uint32_t max_regions, uint32_t max_sources,
		      unsigned int n_workers, int socket, uint64_t tsc_hz)
{
	struct mg_limit_table *t;
	unsigned int w;
	uint32_t i;
	size_t n;

	if (name == NULL || max_limits == 0 || max_limits > (1u << 16) ||
	    n_workers == 0 || n_workers > MG_LIMIT_SHARES || tsc_hz == 0 ||
	    max_regions > max_limits || max_sources > (1u << 20)) {
		rte_errno = EINVAL;
		return NULL;
	}
	t = rte_zmalloc_socket(name, sizeof(*t), RTE_CACHE_LINE_SIZE, socket);
	if (t == NULL)
		goto nomem;
	t->max_limits = max_limits;
	t->n_src = RTE_ALIGN_CEIL(max_sources, MG_LIMIT_WAYS);
	t->max_regions = t->n_src != 0 ? max_regions : 0;
	t->n_sets = t->n_src / MG_LIMIT_WAYS;
	n = n_buckets(max_limits, t->max_regions, t->n_src);
	t->n_buckets = (uint32_t)n;
	t->n_workers = n_workers;
	t->equal_share = (uint8_t)(MG_LIMIT_SHARES / n_workers);
	t->idle_tsc = SOURCE_IDLE_S * tsc_hz;
	t->seed = (uint32_t)rte_rand();
	t->names = rte_zmalloc_socket(name, (size_t)max_limits * NAME_LEN, 0,
				      socket);
	t->region = rte_malloc_socket(name, max_limits * sizeof(uint32_t), 0,
				      socket);
	t->buckets = rte_zmalloc_socket(name, n * sizeof(*t->buckets),
					RTE_CACHE_LINE_SIZE, socket);
	t->keys = rte_zmalloc_socket(
		name,
		RTE_MAX((size_t)t->max_regions * t->n_src, (size_t)1) *
			sizeof(*t->keys),
		RTE_CACHE_LINE_SIZE, socket);
	t->gen = rte_zmalloc_socket(name, n * sizeof(*t->gen),
				    RTE_CACHE_LINE_SIZE, socket);
	t->wb = rte_zmalloc_socket(name, n_workers * sizeof(*t->wb), 0, socket);
	t->share = rte_zmalloc_socket(name, n_workers * sizeof(*t->share), 0,
				      socket);
	t->demand = rte_zmalloc_socket(name, n_workers * sizeof(*t->demand), 0,
				       socket);
	t->last_conn = calloc(n_workers * n, sizeof(*t->last_conn));
	t->last_pkt = calloc(n_workers * n, sizeof(*t->last_pkt));
	if (t->names == NULL || t->region == NULL || t->buckets == NULL ||
	    t->keys == NULL || t->gen == NULL || t->wb == NULL ||
	    t->share == NULL || t->demand == NULL || t->last_conn == NULL ||
	    t->last_pkt == NULL)
		goto nomem;
	for (w = 0; w < n_workers; w++) {
		/* one array per worker: no line is written by two of them */
		t->wb[w] = rte_zmalloc_socket(name, n * sizeof(struct wbucket),
					      RTE_CACHE_LINE_SIZE, socket);
		t->share[w] = rte_zmalloc_socket(name, n * sizeof(struct share),
						 0, socket);
		t->demand[w] =
			rte_zmalloc_socket(name, n * sizeof(struct demand),
					   RTE_CACHE_LINE_SIZE, socket);
		if (t->wb[w] == NULL || t->share[w] == NULL ||
		    t->demand[w] == NULL)
			goto nomem;
	}
	for (i = 0; i < max_limits; i++)
		t->region[i] = MG_LIMIT_NONE;
	t->hdr.wb = (uint8_t **)t->wb;
	t->hdr.gen = t->gen;
	return t;
nomem:
	mg_limit_table_free(t);
	rte_errno = ENOMEM;
	return NULL;
}

void
mg_limit_table_free(struct mg_limit_table *t)
{
	unsigned int w;

	if (t == NULL)
		return;
	for (w = 0; w < t->n_workers; w++) {
		if (t->wb != NULL)
			rte_free(t->wb[w]);
		if (t->share != NULL)
			rte_free(t->share[w]);
		if (t->demand != NULL)
			rte_free(t->demand[w]);
	}
	rte_free(t->wb);
	rte_free(t->share);
	rte_free(t->demand);
	rte_free(t->buckets);
	rte_free(t->keys);
	rte_free(t->gen);
	rte_free(t->names);
	rte_free(t->region);
	free(t->last_conn);
	free(t->last_pkt);
	rte_free(t);
}

int
mg_limit_register(struct mg_limit_table *t, const char *name, bool sources)
{
	uint32_t id;

	for (id = 0; id < t->n_limits; id++)
		if (strncmp(t->names[id], name, NAME_LEN) == 0)
			break;
	if (id == t->n_limits && id == t->max_limits)
		return -ENOSPC;
	if (sources && t->region[id] == MG_LIMIT_NONE &&
	    t->n_regions == t->max_regions)
		return -ENOBUFS;
	if (id == t->n_limits) {
		snprintf(t->names[id], NAME_LEN, "%s", name);
		__atomic_store_n(&t->n_limits, id + 1, __ATOMIC_RELEASE);
	}
	/* a region, once given, stays the limit's: its sources' counts
	 * must outlive a reload that drops and restores per_source */
	if (sources && t->region[id] == MG_LIMIT_NONE)
		__atomic_store_n(&t->region[id], t->n_regions++,
				 __ATOMIC_RELEASE);
	return (int)id;
}

const char *
mg_limit_name(const struct mg_limit_table *t, uint32_t id)
{
	return id < mg_limit_count(t) ? t->names[id] : "";
}

uint32_t
mg_limit_count(const struct mg_limit_table *t)
{
	return __atomic_load_n(&t->n_limits, __ATOMIC_ACQUIRE);
}

uint32_t
mg_limit_bucket(const struct mg_limit_table *t, uint32_t id)
{
	return id < t->max_limits ? id : MG_LIMIT_NONE;
}

/* First source bucket of region @p r; its overflow is at + n_src. */
static inline uint32_t
sources_base(const struct mg_limit_table *t, uint32_t r)
{
	return t->max_limits + r * (t->n_src + 1);
}

/* The region of limit @p id's sources, or MG_LIMIT_NONE. */
static inline uint32_t
region_of(const struct mg_limit_table *t, uint32_t id)
{
	return id < t->max_limits
		       ? __atomic_load_n(&t->region[id], __ATOMIC_ACQUIRE)
		       : MG_LIMIT_NONE;
}

static inline void
touch(struct bucket *b, uint64_t now)
{
	if ((now >> TOUCH_SHIFT) !=
	    (__atomic_load_n(&b->last_use, __ATOMIC_RELAXED) >> TOUCH_SHIFT))
		__atomic_store_n(&b->last_use, now, __ATOMIC_RELAXED);
}

/* The keys of region @p r's sources: [source bucket - sources_base()]. */
static inline uint64_t *
keys_of(const struct mg_limit_table *t, uint32_t r)
{
	return &t->keys[(size_t)r * t->n_src];
}

/* The key of source @p addr under limit @p id (never 0), and in *set
 * its set's first way, counted from the region's first source bucket.
 * An IPv4 address is hashed inline (what rte_hash_crc() computes for 4
 * bytes, without its call and loop). */
static inline uint64_t
source_key(const struct mg_limit_table *t, uint32_t id, const uint8_t *addr,
	   unsigned int alen, uint32_t *set)
{
	uint32_t h1, h2, a;

	if (likely(alen == 4)) {
		memcpy(&a, addr, sizeof(a));
		h1 = rte_hash_crc_4byte(a, t->seed ^ id);
		h2 = rte_hash_crc_4byte(a, h1 ^ 0x85ebca6bu);
	} else {
		h1 = rte_hash_crc(addr, alen, t->seed ^ id);
		h2 = rte_hash_crc(addr, alen, h1 ^ 0x85ebca6bu);
	}
	/* h1 scaled to the sets: a multiplication, not a division */
	*set = (uint32_t)(((uint64_t)h1 * t->n_sets) >> 32) * MG_LIMIT_WAYS;
	return ((uint64_t)h1 << 32 | h2) | 1;
}

/* Claim way @p i of a set (its keys at @p keys, its first bucket
 * @p first) for @p key, whose key was @p k (0: free): the claim
 * generation moves on, so every worker's meters of the bucket start
 * afresh. */
static inline bool
claim(struct mg_limit_table *t, uint64_t *keys, uint32_t first, unsigned int i,
      uint64_t k, uint64_t key, uint64_t now)
{
	if (!__atomic_compare_exchange_n(&keys[i], &k, key, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&t->buckets[first + i].last_use, now,
			 __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->gen[first + i], 1, __ATOMIC_RELEASE);
	return true;
}

uint32_t
mg_limit_source_bucket(struct mg_limit_table *t, uint32_t id,
		       const uint8_t *addr, unsigned int alen, uint64_t now,
		       bool *overflow)
{
	uint32_t base, set, first, i, found = MG_LIMIT_NONE;
	uint32_t r = region_of(t, id), spare = MG_LIMIT_NONE;
	uint64_t key, k, *keys;
	struct bucket *b;

	*overflow = false;
	if (r == MG_LIMIT_NONE)
		return MG_LIMIT_NONE;
	base = sources_base(t, r);
	key = source_key(t, id, addr, alen, &set);
	keys = keys_of(t, r) + set;
	first = base + set;
	/* the set's line: the source's own bucket, else the first free
	 * one (a compare a way, then the ways up to a free one) */
#pragma GCC unroll 8
	for (i = 0; i < MG_LIMIT_WAYS; i++) {
		if (__atomic_load_n(&keys[i], __ATOMIC_ACQUIRE) == key) {
			touch(&t->buckets[first + i], now);
			return first + i;
		}
	}
	for (i = 0; i < MG_LIMIT_WAYS && spare == MG_LIMIT_NONE; i++)
		if (__atomic_load_n(&keys[i], __ATOMIC_RELAXED) == 0)
			spare = i;
	if (spare != MG_LIMIT_NONE && claim(t, keys, first, spare, 0, key, now))
		found = first + spare;
	/* none free (or taken meanwhile): one held by a source gone quiet
	 * with nothing open */
	for (i = 0; i < MG_LIMIT_WAYS && found == MG_LIMIT_NONE; i++) {
		b = &t->buckets[first + i];
		k = __atomic_load_n(&keys[i], __ATOMIC_ACQUIRE);
		if (k == key) { /* claimed meanwhile by another worker */
			found = first + i;
			break;
		}
		if (k != 0 &&
		    (__atomic_load_n(&b->conns, __ATOMIC_ACQUIRE) != 0 ||
		     now - __atomic_load_n(&b->last_use, __ATOMIC_RELAXED) <
			     t->idle_tsc))
			continue;
		if (claim(t, keys, first, i, k, key, now))
			found = first + i;
	}
	if (found == MG_LIMIT_NONE) {
		*overflow = true;
		return base + t->n_src;
	}
	/* another worker may have claimed the same source at once: the
	 * first way holding it wins, the other is given back */
	for (i = 0; first + i < found; i++) {
		if (__atomic_load_n(&keys[i], __ATOMIC_ACQUIRE) == key) {
			k = key;
			__atomic_compare_exchange_n(&keys[found - first], &k, 0,
						    false, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED);
			return first + i;
		}
	}
	return found;
}

/* rte_meter takes its profiles by non-const pointer and only reads
 * them; ours live in an immutable ruleset. */
static inline struct rte_meter_srtcm_profile *
prof(const struct rte_meter_srtcm_profile *p)
{
	return (struct rte_meter_srtcm_profile *)(uintptr_t)p;
}

/* The worker's view of bucket @p i, its meters set up anew when the
 * bucket changed hands (a source bucket claimed by another source). */
static inline struct wbucket *
wbucket(struct mg_limit_table *t, unsigned int worker, uint32_t i,
	const struct mg_limit_params *p)
{
	struct wbucket *wb = &t->wb[worker][i];
	uint32_t gen = __atomic_load_n(&t->gen[i], __ATOMIC_ACQUIRE) + 1;

	if (unlikely(wb->c.gen != gen)) {
		if (p->conn.rate != 0)
			rte_meter_srtcm_config(
				&wb->conn, prof(&p->conn_prof[t->equal_share]));
		if (p->pkt.rate != 0)
			rte_meter_srtcm_config(
				&wb->pkt, prof(&p->pkt_prof[t->equal_share]));
		wb->c.credit = 0;
		wb->c.conn_credit = 0;
		wb->c.gen = gen;
	}
	return wb;
}

static inline unsigned int
share_of(const struct mg_limit_table *t, const uint8_t *share)
{
	unsigned int s = __atomic_load_n(share, __ATOMIC_RELAXED);

	return s != 0 ? s : t->equal_share;
}

/* Add @p n to one of this worker's demand counters (its only writer). */
static inline void
demand_add(uint32_t *d, uint32_t n)
{
	__atomic_store_n(d, *d + n, __ATOMIC_RELAXED);
}

/* A draw of @p need tokens on @p m: a chunk of @p max at most, and of
 * at most a quarter of this worker's burst (so that a share of it can
 * still pass in one piece), the rest kept as *credit; else @p need
 * alone. The demand is what is drawn: credit is spent without counting,
 * so each chunk counts once, here. */
static inline bool
draw(struct rte_meter_srtcm *m, struct rte_meter_srtcm_profile *mp,
     uint32_t max, uint32_t need, uint32_t *credit, uint32_t *demand,
     uint64_t now)
{
	uint32_t chunk = (uint32_t)RTE_MIN((uint64_t)max, mp->cbs / 4);

	if (chunk > need && rte_meter_srtcm_color_blind_check(
				    m, mp, now, chunk) == RTE_COLOR_GREEN) {
		demand_add(demand, chunk);
		*credit += chunk - need;
		return true;
	}
	demand_add(demand, need);
	return rte_meter_srtcm_color_blind_check(m, mp, now, need) ==
	       RTE_COLOR_GREEN;
}

/* mg_limit_admit(), inlined in both its callers. */
static __rte_always_inline enum mg_limit_verdict
admit(struct mg_limit_table *t, unsigned int worker, uint32_t b,
      const struct mg_limit_params *p, uint64_t now)
{
	struct wbucket *wb;
	uint32_t n;

	if (p->conn.rate != 0) {
		wb = wbucket(t, worker, b, p);
		if (likely(wb->c.conn_credit != 0))
			wb->c.conn_credit--;
		else if (!draw(&wb->conn,
			       prof(&p->conn_prof[share_of(
				       t, &t->share[worker][b].conn)]),
			       CHUNK_CONNS, 1, &wb->c.conn_credit,
			       &t->demand[worker][b].conn, now))
			return MG_LIMIT_CONN_RATE;
	}
	n = __atomic_add_fetch(&t->buckets[b].conns, 1, __ATOMIC_ACQ_REL);
	if (p->max_conns != 0 && n > p->max_conns) {
		__atomic_sub_fetch(&t->buckets[b].conns, 1, __ATOMIC_RELEASE);
		return MG_LIMIT_CONNS;
	}
	return MG_LIMIT_OK;
}

enum mg_limit_verdict
mg_limit_admit(struct mg_limit_table *t, unsigned int worker, uint32_t b,
	       const struct mg_limit_params *p, uint64_t now)
{
	return admit(t, worker, b, p, now);
}

enum mg_limit_verdict
mg_limit_admit_caller(struct mg_limit_table *t, unsigned int worker,
		      uint32_t src, const struct mg_limit_params *sp,
		      uint32_t all, const struct mg_limit_params *ap,
		      uint64_t now)
{
	enum mg_limit_verdict v;

	if (src != MG_LIMIT_NONE) {
		v = admit(t, worker, src, sp, now);
		if (v != MG_LIMIT_OK)
			return v;
	}
	v = admit(t, worker, all, ap, now);
	if (v != MG_LIMIT_OK && src != MG_LIMIT_NONE)
		__atomic_sub_fetch(&t->buckets[src].conns, 1, __ATOMIC_RELEASE);
	return v;
}

void
mg_limit_release(struct mg_limit_table *t, uint32_t b)
{
	if (b < t->n_buckets)
		__atomic_sub_fetch(&t->buckets[b].conns, 1, __ATOMIC_RELEASE);
}

bool
mg_limit_packet_draw(struct mg_limit_table *t, unsigned int worker, uint32_t b,
		     const struct mg_limit_params *p, uint32_t len,
		     uint64_t now)
{
	uint32_t need = p->bytes ? len : 1;
	struct wbucket *wb;

	if (p->pkt.rate == 0)
		return true;
	wb = wbucket(t, worker, b, p);
	if (likely(wb->c.credit >= need)) {
		wb->c.credit -= need;
		return true;
	}
	return draw(&wb->pkt,
		    prof(&p->pkt_prof[share_of(t, &t->share[worker][b].pkt)]),
		    p->pkt_chunk, need, &wb->c.credit,
		    &t->demand[worker][b].pkt, now);
}

/* Shares of one bucket's rate from the workers' demand since last time:
 * in proportion, at least 1 each, MG_LIMIT_SHARES in all. */
static void
rebalance_one(struct mg_limit_table *t, uint32_t b, bool conn)
{
	uint32_t d[MG_LIMIT_SHARES], total = 0, s[MG_LIMIT_SHARES], sum = 0;
	unsigned int w, top = 0;

	for (w = 0; w < t->n_workers; w++) {
		struct demand *dm = &t->demand[w][b];
		uint32_t *last = conn ? &t->last_conn[w * t->n_buckets + b]
				      : &t->last_pkt[w * t->n_buckets + b];
		uint32_t now = __atomic_load_n(conn ? &dm->conn : &dm->pkt,
					       __ATOMIC_RELAXED);

		d[w] = now - *last;
		*last = now;
		total += d[w];
	}
	if (total == 0)
		return; /* no news: the shares stay */
	for (w = 0; w < t->n_workers; w++) {
		s[w] = RTE_MAX(1u, (uint32_t)((uint64_t)d[w] * MG_LIMIT_SHARES /
					      total));
		sum += s[w];
		if (s[w] > s[top])
			top = w;
	}
	/* rounding: the busiest worker takes or gives the difference */
	if (sum > MG_LIMIT_SHARES)
		s[top] -= sum - MG_LIMIT_SHARES;
	else
		s[top] += MG_LIMIT_SHARES - sum;
	for (w = 0; w < t->n_workers; w++)
		__atomic_store_n(conn ? &t->share[w][b].conn
				      : &t->share[w][b].pkt,
				 (uint8_t)s[w], __ATOMIC_RELAXED);
}

void
mg_limit_rebalance(struct mg_limit_table *t)
{
	uint32_t n = mg_limit_count(t), id, b, base, r, i;

	if (t->n_workers < 2)
		return;
	for (id = 0; id < n; id++) {
		rebalance_one(t, id, true);
		rebalance_one(t, id, false);
	}
	for (r = 0; r < __atomic_load_n(&t->n_regions, __ATOMIC_RELAXED); r++) {
		base = sources_base(t, r);
		for (i = 0; i <= t->n_src; i++) {
			b = base + i;
			if (i < t->n_src &&
			    __atomic_load_n(&keys_of(t, r)[i],
					    __ATOMIC_RELAXED) == 0)
				continue;
			rebalance_one(t, b, true);
			rebalance_one(t, b, false);
		}
	}
}

uint32_t
mg_limit_conns(const struct mg_limit_table *t, uint32_t b)
{
	return b < t->n_buckets
		       ? __atomic_load_n(&t->buckets[b].conns, __ATOMIC_RELAXED)
		       : 0;
}

uint32_t
mg_limit_sources(const struct mg_limit_table *t, uint32_t id)
{
	uint32_t r = region_of(t, id), i, n = 0;

	if (r == MG_LIMIT_NONE)
		return 0;
	for (i = 0; i < t->n_src; i++)
		n += __atomic_load_n(&keys_of(t, r)[i], __ATOMIC_RELAXED) != 0;
	return n;
}
