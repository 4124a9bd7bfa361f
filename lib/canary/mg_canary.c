/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Maglev table population and the passive health table: the parts of
 * canary forwarding that are not specific to one ruleset.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include "mg_canary.h"

static int canary_logtype;

#define CANARY_LOG(level, fmt, ...)                                            \
	rte_log(RTE_LOG_##level, canary_logtype, "mg.canary: " fmt "\n",       \
		##__VA_ARGS__)

RTE_INIT(canary_log_init)
{
	canary_logtype =
		rte_log_register_type_and_pick_level("mg.canary", RTE_LOG_INFO);
}

/* splitmix64's finalizer: every input bit flips about half the output
 * bits, which is all Maglev asks of h1 and h2. */
static inline uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* ---- Maglev ---- */

/* Each at least about twice the one before, so 100 x n never overshoots
 * by much more than a factor of two. */
static const uint32_t maglev_primes[] = {
	251, 509, 1021, 2053, 4099, 8191, 16381, 32749, 65521,
};

uint32_t
mg_maglev_size(uint32_t n)
{
	unsigned int i;

	if (n == 0 || n > MG_MAGLEV_MAX_BACKENDS)
		return 0;
	for (i = 0; i < RTE_DIM(maglev_primes); i++)
		if (maglev_primes[i] >= 100 * n)
			return maglev_primes[i];
	return 0;
}

uint64_t
mg_maglev_key(const struct mg_addr *addr, uint16_t port)
{
	uint64_t lo, hi, h;

	memcpy(&lo, addr->bytes, sizeof(lo));
	memcpy(&hi, addr->bytes + 8, sizeof(hi));
	h = mix64((uint64_t)addr->family << 16 | port);
	h = mix64(h ^ lo);
	return mix64(h ^ hi);
}

static bool
is_prime(uint32_t m)
{
	uint32_t d;

	if (m < 2)
		return false;
	for (d = 2; (uint64_t)d * d <= m; d++)
		if (m % d == 0)
			return false;
	return true;
}

/* A backend's walk through its preference list. */
struct maglev_pref {
	uint64_t key;
	uint64_t pos;  /* next preferred slot */
	uint64_t skip; /* 1..m-1: with m prime, the walk visits every slot */
	uint16_t idx;  /* into the caller's keys */
};

static int
cmp_pref(const void *a, const void *b)
{
	const struct maglev_pref *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

#define MAGLEV_EMPTY 0xffff

int
mg_maglev_build(uint16_t *table, uint32_t m, const uint64_t *keys, uint32_t n)
{
	struct maglev_pref *pr;
	uint32_t i, filled = 0;

	/* a prime m is at least 2: h2 % (m - 1) is defined */
	if (table == NULL || keys == NULL || n == 0 ||
	    n > MG_MAGLEV_MAX_BACKENDS || m < n || !is_prime(m))
		return -EINVAL;
	pr = malloc(n * sizeof(*pr));
	if (pr == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		pr[i].key = keys[i];
		pr[i].idx = (uint16_t)i;
	}
	qsort(pr, n, sizeof(*pr), cmp_pref);
	for (i = 0; i < n; i++) {
		if (i > 0 && pr[i].key == pr[i - 1].key) {
			free(pr);
			return -EINVAL;
		}
		/* two independent hashes of the key (paper: h1, h2) */
		pr[i].pos = mix64(pr[i].key ^ 0x9e3779b97f4a7c15ULL) % m;
		pr[i].skip =
			mix64(pr[i].key ^ 0xc2b2ae3d27d4eb4fULL) % (m - 1) + 1;
	}
	for (i = 0; i < m; i++)
		table[i] = MAGLEV_EMPTY;
	/* one slot per backend per round: counts differ by at most one */
	for (;;) {
		for (i = 0; i < n; i++) {
			struct maglev_pref *p = &pr[i];

			while (table[p->pos] != MAGLEV_EMPTY)
				p->pos = (p->pos + p->skip) % m;
			table[p->pos] = p->idx;
			p->pos = (p->pos + p->skip) % m;
			if (++filled == m) {
				free(pr);
				return 0;
			}
		}
	}
}

/* ---- passive health ---- */

/*
 * A backend's state is one 64-bit word, so that every transition is a
 * single compare-and-swap and a reader needs a single load:
 *   bits  0..47  ejected until, in units of 2^16 TSC cycles (rounded
 *                up): 48 + 16 bits cover the whole 64-bit TSC, and a
 *                unit is at most 66 us on a 1 GHz TSC, far below any
 *                ejection time;
 *   bits 48..53  level: ejections since the last success (capped);
 *   bits 54..63  consecutive failures (saturating).
 * The all-zero word is a healthy backend never ejected.
 */
#define UNIT_SHIFT  16
#define UNTIL_MASK  ((UINT64_C(1) << 48) - 1)
#define LEVEL_SHIFT 48
#define LEVEL_MAX   63u
#define FAIL_SHIFT  54

static inline uint64_t
st_until(uint64_t w)
{
	return w & UNTIL_MASK;
}

static inline uint32_t
st_level(uint64_t w)
{
	return (uint32_t)(w >> LEVEL_SHIFT) & LEVEL_MAX;
}

static inline uint32_t
st_failures(uint64_t w)
{
	return (uint32_t)(w >> FAIL_SHIFT);
}

static inline uint64_t
st_pack(uint32_t failures, uint32_t level, uint64_t until)
{
	return (uint64_t)failures << FAIL_SHIFT |
	       (uint64_t)level << LEVEL_SHIFT | until;
}

/* What the control plane alone knows about a backend. */
struct health_backend {
	struct mg_addr addr;
	uint16_t port;
	uint64_t seen_ejections; /* as of the last mg_health_log_changes */
	uint64_t seen_returns;
};

struct mg_health {
	/* read by workers, written on events */
	uint64_t *state;     /* [max] state words */
	uint64_t *ejections; /* [max] */
	uint64_t *returns;   /* [max] */
	uint32_t max;
	uint32_t n; /* registered; store-release by the control plane */
	uint64_t tsc_hz;
	uint64_t generation __rte_cache_aligned;
	/* control plane only */
	uint64_t seen_generation __rte_cache_aligned;
	struct health_backend *be; /* [max] */
	uint32_t *slots;	   /* open addressing: index + 1, 0 empty */
	uint32_t slot_mask;
	char name[32];
};

#define HEALTH_MAX_BACKENDS (1u << 24)

struct mg_health *
mg_health_create(const char *name, uint32_t max_backends, int socket,
		 uint64_t tsc_hz)
{
	size_t off_state, off_ej, off_ret, off_be, off_slots, size;
	uint32_t n_slots;
	struct mg_health *h;

	if (name == NULL || max_backends == 0 ||
	    max_backends > HEALTH_MAX_BACKENDS || tsc_hz == 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	/* at most half full: probes stay short */
	n_slots = rte_align32pow2(2 * max_backends);
	size = RTE_ALIGN_CEIL(sizeof(*h), RTE_CACHE_LINE_SIZE);
	off_state = size;
	size += RTE_ALIGN_CEIL((size_t)max_backends * sizeof(uint64_t),
			       RTE_CACHE_LINE_SIZE);
	off_ej = size;
	size += RTE_ALIGN_CEIL((size_t)max_backends * sizeof(uint64_t),
			       RTE_CACHE_LINE_SIZE);
	off_ret = size;
	size += RTE_ALIGN_CEIL((size_t)max_backends * sizeof(uint64_t),
			       RTE_CACHE_LINE_SIZE);
	off_be = size;
	size += RTE_ALIGN_CEIL((size_t)max_backends *
				       sizeof(struct health_backend),
			       RTE_CACHE_LINE_SIZE);
	off_slots = size;
	size += (size_t)n_slots * sizeof(uint32_t);

	h = rte_zmalloc_socket(name, size, RTE_CACHE_LINE_SIZE, socket);
	if (h == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	h->state = (uint64_t *)((char *)h + off_state);
	h->ejections = (uint64_t *)((char *)h + off_ej);
	h->returns = (uint64_t *)((char *)h + off_ret);
	h->be = (struct health_backend *)((char *)h + off_be);
	h->slots = (uint32_t *)((char *)h + off_slots);
	h->slot_mask = n_slots - 1;
	h->max = max_backends;
	h->tsc_hz = tsc_hz;
	snprintf(h->name, sizeof(h->name), "%s", name);
	return h;
}

void
mg_health_free(struct mg_health *h)
{
	rte_free(h);
}

int
mg_health_register(struct mg_health *h, const struct mg_addr *addr,
		   uint16_t port)
{
	uint32_t slot, idx, n;

	if (h == NULL || addr == NULL ||
	    (addr->family != 4 && addr->family != 6))
		return -EINVAL;
	n = h->n; /* only this thread writes it */
	slot = (uint32_t)mg_maglev_key(addr, port) & h->slot_mask;
	for (;; slot = (slot + 1) & h->slot_mask) {
		idx = h->slots[slot];
		if (idx == 0)
			break;
		idx--;
		if (h->be[idx].port == port &&
		    memcmp(&h->be[idx].addr, addr, sizeof(*addr)) == 0)
			return (int)idx;
	}
	if (n == h->max)
		return -ENOSPC;
	h->be[n].addr = *addr;
	h->be[n].port = port;
	h->slots[slot] = n + 1;
	/* a reader that sees the new count sees the entry */
	__atomic_store_n(&h->n, n + 1, __ATOMIC_RELEASE);
	return (int)n;
}

uint32_t
mg_health_count(const struct mg_health *h)
{
	return h == NULL ? 0 : __atomic_load_n(&h->n, __ATOMIC_ACQUIRE);
}

uint64_t
mg_health_tsc_hz(const struct mg_health *h)
{
	return h == NULL ? 0 : h->tsc_hz;
}

bool
mg_health_up(const struct mg_health *h, uint32_t idx, uint64_t now)
{
	uint64_t w;

	/* unregistered words are zero: up */
	if (h == NULL || idx >= h->max)
		return true;
	w = __atomic_load_n(&h->state[idx], __ATOMIC_RELAXED);
	return (now >> UNIT_SHIFT) >= st_until(w);
}

/* base x 2^level, at most max (and never an overflow). */
static uint64_t
ejection_time(const struct mg_health_params *p, uint32_t level)
{
	uint64_t d = p->base_ejection_tsc;
	uint32_t i;

	for (i = 0; i < level && d < p->max_ejection_tsc; i++)
		d = d > p->max_ejection_tsc / 2 ? p->max_ejection_tsc : d * 2;
	return RTE_MIN(d, p->max_ejection_tsc);
}

/* The first unit at or after now + d, saturating. */
static uint64_t
until_units(uint64_t now, uint64_t d)
{
	uint64_t t = now > UINT64_MAX - d ? UINT64_MAX : now + d;
	uint64_t u = (t >> UNIT_SHIFT) + ((t & ((1u << UNIT_SHIFT) - 1)) != 0);

	return RTE_MIN(u, UNTIL_MASK);
}

enum mg_health_event
mg_health_report(struct mg_health *h, uint32_t idx, bool ok, uint64_t now,
		 const struct mg_health_params *p)
{
	enum mg_health_event ev;
	uint32_t fails, level, need;
	uint64_t old, nw, until;

	if (h == NULL || p == NULL || !p->enabled ||
	    idx >= __atomic_load_n(&h->n, __ATOMIC_ACQUIRE))
		return MG_HEALTH_NO_CHANGE;
	need = RTE_MAX(p->eject_after, 1u);
	old = __atomic_load_n(&h->state[idx], __ATOMIC_RELAXED);
	do {
		fails = st_failures(old);
		level = st_level(old);
		until = st_until(old);
		ev = MG_HEALTH_NO_CHANGE;
		if (ok) {
			if (old == 0)
				return MG_HEALTH_NO_CHANGE;
			/* level > 0: ejected at least once since the last
			 * success, so this is a return */
			if (level > 0)
				ev = MG_HEALTH_RETURNED;
			nw = 0;
		} else {
			if (fails < MG_HEALTH_MAX_FAILURES)
				fails++;
			if ((now >> UNIT_SHIFT) >= until && fails >= need) {
				until = until_units(now,
						    ejection_time(p, level));
				level = RTE_MIN(level + 1, LEVEL_MAX);
				ev = MG_HEALTH_EJECTED;
			}
			nw = st_pack(fails, level, until);
			if (nw == old)
				return MG_HEALTH_NO_CHANGE;
		}
	} while (!__atomic_compare_exchange_n(&h->state[idx], &old, nw, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	/* only the winning CAS gets here with an event: counted once */
	if (ev == MG_HEALTH_EJECTED)
		__atomic_fetch_add(&h->ejections[idx], 1, __ATOMIC_RELAXED);
	else if (ev == MG_HEALTH_RETURNED)
		__atomic_fetch_add(&h->returns[idx], 1, __ATOMIC_RELAXED);
	if (ev != MG_HEALTH_NO_CHANGE)
		__atomic_fetch_add(&h->generation, 1, __ATOMIC_RELEASE);
	return ev;
}

uint64_t
mg_health_ejections(const struct mg_health *h, uint32_t idx)
{
	if (h == NULL || idx >= h->max)
		return 0;
	return __atomic_load_n(&h->ejections[idx], __ATOMIC_RELAXED);
}

uint64_t
mg_health_generation(const struct mg_health *h)
{
	return h == NULL ? 0
			 : __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
}

int
mg_health_state(const struct mg_health *h, uint32_t idx, uint64_t now,
		struct mg_health_info *out)
{
	uint64_t w;

	if (h == NULL || out == NULL || idx >= mg_health_count(h))
		return -EINVAL;
	w = __atomic_load_n(&h->state[idx], __ATOMIC_RELAXED);
	memset(out, 0, sizeof(*out));
	out->addr = h->be[idx].addr;
	out->port = h->be[idx].port;
	out->up = (now >> UNIT_SHIFT) >= st_until(w);
	out->failures = st_failures(w);
	out->level = st_level(w);
	out->ejected_until = st_until(w) << UNIT_SHIFT;
	out->ejections_total =
		__atomic_load_n(&h->ejections[idx], __ATOMIC_RELAXED);
	out->returns_total =
		__atomic_load_n(&h->returns[idx], __ATOMIC_RELAXED);
	return 0;
}

const char *
mg_health_name(const struct mg_health_info *s, char *buf, size_t len)
{
	char a[64];

	mg_addr_format(&s->addr, a, sizeof(a));
	if (s->port == 0)
		snprintf(buf, len, "%s", a);
	else if (s->addr.family == 6)
		snprintf(buf, len, "[%s]:%u", a, s->port);
	else
		snprintf(buf, len, "%s:%u", a, s->port);
	return buf;
}

unsigned int
mg_health_log_changes(struct mg_health *h, uint64_t now)
{
	struct mg_health_info s;
	unsigned int logged = 0;
	uint64_t gen, left_ms;
	uint32_t i, n;
	char name[80];

	if (h == NULL)
		return 0;
	gen = mg_health_generation(h);
	if (gen == h->seen_generation)
		return 0;
	h->seen_generation = gen;
	n = mg_health_count(h);
	for (i = 0; i < n; i++) {
		struct health_backend *b = &h->be[i];
		bool changed = false;

		if (mg_health_state(h, i, now, &s) < 0)
			continue;
		if (s.ejections_total != b->seen_ejections) {
			left_ms = s.up ? 0
				       : (s.ejected_until - now) * 1000 /
						  h->tsc_hz;
			CANARY_LOG(WARNING,
				   "%s: backend %s ejected for new connections "
				   "(%u consecutive failures, ejection %u in a "
				   "row, %llu ms left, %llu in total)",
				   h->name,
				   mg_health_name(&s, name, sizeof(name)),
				   s.failures, s.level,
				   (unsigned long long)left_ms,
				   (unsigned long long)s.ejections_total);
			b->seen_ejections = s.ejections_total;
			changed = true;
		}
		if (s.returns_total != b->seen_returns) {
			CANARY_LOG(NOTICE,
				   "%s: backend %s answers again: back in "
				   "service",
				   h->name,
				   mg_health_name(&s, name, sizeof(name)));
			b->seen_returns = s.returns_total;
			changed = true;
		}
		logged += changed;
	}
	return logged;
}
