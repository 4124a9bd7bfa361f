/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Maglev table population and the passive health table: the parts of
 * canary forwarding that are not specific to one ruleset.
 */

#include <assert.h>
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
 *   bits 48..52  level: ejections since the last success (capped);
 *   bit  53      held: due for ejection, kept in service by a cap;
 *   bits 54..63  consecutive failures (saturating).
 * The all-zero word is a healthy backend never ejected.
 */
#define UNIT_SHIFT  16
#define UNTIL_MASK  ((UINT64_C(1) << 48) - 1)
#define LEVEL_SHIFT 48
#define LEVEL_MAX   31u
#define HELD_BIT    (UINT64_C(1) << 53)
#define FAIL_SHIFT  54

/*
 * A group slot is one 64-bit word too: 0 free, else
 *   bits  0..47  the claim's token (one per claim, never repeated);
 *   bit  48      pending: taken by a report whose state CAS is not done;
 *   bits 49..63  backend index + 1.
 * The report that wins the state CAS records its token as the backend's
 * ejection (eject_id), then clears pending. A slot is held while
 * pending, or while its token is its backend's ejection and that
 * ejection still runs: one that runs out, ends with an answer or is
 * replaced frees its slots without anyone writing them, and since
 * tokens never repeat, a freed slot can never come back to life.
 */
#define SLOT_PENDING   (UINT64_C(1) << 48)
#define SLOT_IDX_SHIFT 49

static_assert(MG_HEALTH_MAX_BACKENDS < (1u << (64 - SLOT_IDX_SHIFT)),
	      "a backend index + 1 fits a slot");

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

static inline bool
st_held(uint64_t w)
{
	return (w & HELD_BIT) != 0;
}

static inline uint64_t
st_pack(uint32_t failures, uint32_t level, bool held, uint64_t until)
{
	return (uint64_t)failures << FAIL_SHIFT |
	       (uint64_t)level << LEVEL_SHIFT | (held ? HELD_BIT : 0) | until;
}

#define TOKEN_MASK UNTIL_MASK

static inline uint64_t
slot_word(uint32_t idx, uint64_t token, bool pending)
{
	return (uint64_t)(idx + 1) << SLOT_IDX_SHIFT |
	       (pending ? SLOT_PENDING : 0) | (token & TOKEN_MASK);
}

static inline uint32_t
slot_backend(uint64_t w)
{
	return (uint32_t)(w >> SLOT_IDX_SHIFT) - 1;
}

/* What the control plane alone knows about a backend (and, written once
 * before its index is published, its port, which reporters read). */
struct health_backend {
	struct mg_addr addr;
	uint16_t port;
	bool seen_held;		 /* as of the last mg_health_log_changes */
	uint64_t seen_ejections; /* ditto */
	uint64_t seen_returns;
};

struct health_group {
	char key[MG_HEALTH_KEY_LEN];
};

struct mg_health {
	/* read by workers, written on events */
	uint64_t *state;     /* [max] state words */
	uint64_t *ejections; /* [max] */
	uint64_t *returns;   /* [max] */
	uint64_t *eject_id;  /* [max] token of the current ejection */
	uint64_t *slots;     /* [max_groups][MG_HEALTH_GROUP_SLOTS] */
	uint32_t max;
	uint32_t n; /* registered; store-release by the control plane */
	uint32_t max_groups;
	uint64_t tsc_hz;
	uint64_t generation __rte_cache_aligned;
	uint64_t claims; /* tokens of pending slots: one per claim */
	/* control plane only */
	uint64_t seen_generation __rte_cache_aligned;
	struct health_backend *be; /* [max] */
	uint32_t *index;	   /* open addressing: index + 1, 0 empty */
	uint32_t index_mask;
	struct health_group *groups; /* [max_groups] */
	uint32_t *group_index;	     /* as index, for group keys */
	uint32_t group_index_mask;
	uint32_t n_groups;
	char name[32];
};

#define HEALTH_MAX_GROUPS (1u << 20)

/* Cache-line aligned offset of the next @p size bytes. */
static size_t
carve(size_t *size, size_t bytes)
{
	size_t at = RTE_ALIGN_CEIL(*size, RTE_CACHE_LINE_SIZE);

	*size = at + bytes;
	return at;
}

struct mg_health *
mg_health_create(const char *name, uint32_t max_backends, uint32_t max_groups,
		 int socket, uint64_t tsc_hz)
{
	size_t off_state, off_ej, off_ret, off_id, off_slots, off_be, off_index;
	size_t off_groups, off_gindex, size = sizeof(struct mg_health);
	uint32_t n_index, n_gindex;
	struct mg_health *h;

	if (name == NULL || max_backends == 0 ||
	    max_backends > MG_HEALTH_MAX_BACKENDS || max_groups == 0 ||
	    max_groups > HEALTH_MAX_GROUPS || tsc_hz == 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	/* at most half full: probes stay short */
	n_index = rte_align32pow2(2 * max_backends);
	n_gindex = rte_align32pow2(2 * max_groups);
	off_state = carve(&size, (size_t)max_backends * sizeof(uint64_t));
	off_ej = carve(&size, (size_t)max_backends * sizeof(uint64_t));
	off_ret = carve(&size, (size_t)max_backends * sizeof(uint64_t));
	off_id = carve(&size, (size_t)max_backends * sizeof(uint64_t));
	off_slots = carve(&size, (size_t)max_groups * MG_HEALTH_GROUP_SLOTS *
					 sizeof(uint64_t));
	off_be = carve(&size,
		       (size_t)max_backends * sizeof(struct health_backend));
	off_index = carve(&size, (size_t)n_index * sizeof(uint32_t));
	off_groups =
		carve(&size, (size_t)max_groups * sizeof(struct health_group));
	off_gindex = carve(&size, (size_t)n_gindex * sizeof(uint32_t));

	h = rte_zmalloc_socket(name, size, RTE_CACHE_LINE_SIZE, socket);
	if (h == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	h->state = (uint64_t *)((char *)h + off_state);
	h->ejections = (uint64_t *)((char *)h + off_ej);
	h->returns = (uint64_t *)((char *)h + off_ret);
	h->eject_id = (uint64_t *)((char *)h + off_id);
	h->slots = (uint64_t *)((char *)h + off_slots);
	h->be = (struct health_backend *)((char *)h + off_be);
	h->index = (uint32_t *)((char *)h + off_index);
	h->index_mask = n_index - 1;
	h->groups = (struct health_group *)((char *)h + off_groups);
	h->group_index = (uint32_t *)((char *)h + off_gindex);
	h->group_index_mask = n_gindex - 1;
	h->max = max_backends;
	h->max_groups = max_groups;
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
	slot = (uint32_t)mg_maglev_key(addr, port) & h->index_mask;
	for (;; slot = (slot + 1) & h->index_mask) {
		idx = h->index[slot];
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
	h->index[slot] = n + 1;
	/* a reader that sees the new count sees the entry */
	__atomic_store_n(&h->n, n + 1, __ATOMIC_RELEASE);
	return (int)n;
}

/* FNV-1a: group keys are short names, registered on the control plane. */
static uint64_t
key_hash(const char *key)
{
	uint64_t x = 0xcbf29ce484222325ULL;

	for (; *key != '\0'; key++)
		x = (x ^ (uint8_t)*key) * 0x100000001b3ULL;
	return mix64(x);
}

int
mg_health_group(struct mg_health *h, const char *key)
{
	uint32_t slot, idx;

	if (h == NULL || key == NULL || strlen(key) >= MG_HEALTH_KEY_LEN)
		return -EINVAL;
	slot = (uint32_t)key_hash(key) & h->group_index_mask;
	for (;; slot = (slot + 1) & h->group_index_mask) {
		idx = h->group_index[slot];
		if (idx == 0)
			break;
		if (strcmp(h->groups[idx - 1].key, key) == 0)
			return (int)idx - 1;
	}
	if (h->n_groups == h->max_groups)
		return -ENOSPC;
	idx = h->n_groups++;
	snprintf(h->groups[idx].key, sizeof(h->groups[idx].key), "%s", key);
	h->group_index[slot] = idx + 1;
	return (int)idx;
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

static inline uint64_t *
group_slots(const struct mg_health *h, uint32_t group)
{
	return &h->slots[(size_t)group * MG_HEALTH_GROUP_SLOTS];
}

/* Whether slot word @p w still counts against its group at @p now_u. */
static bool
slot_held(const struct mg_health *h, uint64_t w, uint64_t now_u)
{
	uint32_t b;

	if (w == 0)
		return false;
	if (w & SLOT_PENDING)
		return true;
	b = slot_backend(w);
	return __atomic_load_n(&h->eject_id[b], __ATOMIC_ACQUIRE) ==
		       (w & TOKEN_MASK) &&
	       now_u < st_until(
			       __atomic_load_n(&h->state[b], __ATOMIC_RELAXED));
}

/*
 * Take a slot below @p cap of @p group for @p w; false when all held. A
 * word seen not held can never be held again (its token is no ejection
 * any more, and tokens never repeat), so replacing it loses nothing.
 */
static bool
slot_take(struct mg_health *h, uint32_t group, uint32_t cap, uint64_t w,
	  uint64_t now_u)
{
	uint64_t *s = group_slots(h, group), old;
	uint32_t j;

	for (j = 0; j < RTE_MIN(cap, (uint32_t)MG_HEALTH_GROUP_SLOTS); j++) {
		old = __atomic_load_n(&s[j], __ATOMIC_ACQUIRE);
		/* a failed CAS reloads old: look at what is there now */
		while (!slot_held(h, old, now_u))
			if (__atomic_compare_exchange_n(&s[j], &old, w, false,
							__ATOMIC_ACQ_REL,
							__ATOMIC_RELAXED))
				return true;
	}
	return false;
}

/* Turn every slot holding @p from into @p to (0: free it). */
static void
slots_swap(struct mg_health *h, const struct mg_health_limit *limits,
	   unsigned int n_limits, uint64_t from, uint64_t to)
{
	unsigned int i, j;
	uint64_t *s, old;

	for (i = 0; i < n_limits; i++) {
		if (limits[i].group >= h->max_groups)
			continue;
		s = group_slots(h, limits[i].group);
		for (j = 0; j < MG_HEALTH_GROUP_SLOTS; j++) {
			old = from;
			__atomic_compare_exchange_n(&s[j], &old, to, false,
						    __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
		}
	}
}

/*
 * A pending slot, all with word @p w, in every group of @p limits, or
 * none at all. A group the table does not know is no group (it cannot
 * be full).
 */
static bool
slots_claim(struct mg_health *h, uint64_t w, uint64_t now_u,
	    const struct mg_health_limit *limits, unsigned int n_limits)
{
	unsigned int i;

	for (i = 0; i < n_limits; i++) {
		if (limits[i].group >= h->max_groups)
			continue;
		if (!slot_take(h, limits[i].group, limits[i].cap, w, now_u)) {
			slots_swap(h, limits, i, w, 0);
			return false;
		}
	}
	return true;
}

enum mg_health_event
mg_health_report(struct mg_health *h, uint32_t idx, enum mg_health_evidence ev,
		 uint64_t now, const struct mg_health_params *p,
		 const struct mg_health_limit *limits, unsigned int n_limits)
{
	uint64_t old, nw, until, due, claim = 0, now_u = now >> UNIT_SHIFT;
	enum mg_health_event event;
	uint32_t fails, level, need;
	bool held, claimed;

	if (h == NULL || p == NULL || !p->enabled ||
	    idx >= __atomic_load_n(&h->n, __ATOMIC_ACQUIRE))
		return MG_HEALTH_NO_CHANGE;
	/* the caller chose the port of a port-keeping backend: its RST
	 * says the port is closed, not that the backend is down */
	if (ev == MG_HEALTH_RST && h->be[idx].port == 0)
		return MG_HEALTH_NO_CHANGE;
	if (limits == NULL)
		n_limits = 0;
	need = RTE_MAX(p->eject_after, 1u);
	old = __atomic_load_n(&h->state[idx], __ATOMIC_RELAXED);
	for (;;) {
		fails = st_failures(old);
		level = st_level(old);
		until = st_until(old);
		held = st_held(old);
		event = MG_HEALTH_NO_CHANGE;
		claimed = false;
		due = 0;
		if (ev == MG_HEALTH_SYN_ACK) {
			if (old == 0)
				return MG_HEALTH_NO_CHANGE;
			/* level > 0: ejected at least once since the last
			 * success, so this is a return */
			if (level > 0)
				event = MG_HEALTH_RETURNED;
			nw = 0;
		} else {
			if (fails < MG_HEALTH_MAX_FAILURES)
				fails++;
			if (now_u >= until && fails >= need) {
				due = until_units(now, ejection_time(p, level));
				/* rare: only when an ejection is due */
				claim = slot_word(
					idx,
					__atomic_fetch_add(&h->claims, 1,
							   __ATOMIC_RELAXED),
					true);
				claimed = slots_claim(h, claim, now_u, limits,
						      n_limits);
				if (claimed) {
					until = due;
					level = RTE_MIN(level + 1, LEVEL_MAX);
					held = false;
					event = MG_HEALTH_EJECTED;
				} else if (!held) {
					held = true;
					event = MG_HEALTH_HELD;
				}
			}
			nw = st_pack(fails, level, held, until);
			if (nw == old) {
				if (claimed)
					slots_swap(h, limits, n_limits, claim,
						   0);
				return MG_HEALTH_NO_CHANGE;
			}
		}
		if (__atomic_compare_exchange_n(&h->state[idx], &old, nw, true,
						__ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			break;
		/* lost the race: give back what this attempt took */
		if (claimed)
			slots_swap(h, limits, n_limits, claim, 0);
	}
	/* the slots are this ejection's from now on */
	if (claimed) {
		__atomic_store_n(&h->eject_id[idx], claim & TOKEN_MASK,
				 __ATOMIC_RELEASE);
		slots_swap(h, limits, n_limits, claim, claim & ~SLOT_PENDING);
	}
	/* only the winning CAS gets here with an event: counted once */
	if (event == MG_HEALTH_EJECTED)
		__atomic_fetch_add(&h->ejections[idx], 1, __ATOMIC_RELAXED);
	else if (event == MG_HEALTH_RETURNED)
		__atomic_fetch_add(&h->returns[idx], 1, __ATOMIC_RELAXED);
	/* a held mark set or cleared is news for the log too */
	if (event != MG_HEALTH_NO_CHANGE || st_held(old) != st_held(nw))
		__atomic_fetch_add(&h->generation, 1, __ATOMIC_RELEASE);
	return event;
}

unsigned int
mg_health_group_ejected(const struct mg_health *h, uint32_t group, uint64_t now)
{
	unsigned int j, n = 0;
	const uint64_t *s;

	if (h == NULL || group >= h->max_groups)
		return 0;
	s = group_slots(h, group);
	for (j = 0; j < MG_HEALTH_GROUP_SLOTS; j++)
		n += slot_held(h, __atomic_load_n(&s[j], __ATOMIC_RELAXED),
			       now >> UNIT_SHIFT);
	return n;
}

static bool
is_member(const uint32_t *members, unsigned int n, uint32_t b)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (members[i] == b)
			return true;
	return false;
}

/* Whether ejected backend @p b holds a slot below @p cap (or a report
 * is finalising one). */
static bool
has_slot(const struct mg_health *h, const uint64_t *s, uint32_t cap, uint32_t b,
	 uint64_t now_u)
{
	uint64_t w;
	uint32_t j;

	for (j = 0; j < cap; j++) {
		w = __atomic_load_n(&s[j], __ATOMIC_ACQUIRE);
		if (w != 0 && slot_backend(w) == b && slot_held(h, w, now_u))
			return true;
	}
	return false;
}

/* End @p b's ejection (until @p until) for lack of a slot: held. */
static bool
cap_return(struct mg_health *h, uint32_t b, uint64_t until)
{
	uint64_t old = __atomic_load_n(&h->state[b], __ATOMIC_RELAXED), nw;

	do {
		/* a report changed it since: that one decided */
		if (st_until(old) != until)
			return false;
		nw = st_pack(st_failures(old), st_level(old), true, 0);
	} while (!__atomic_compare_exchange_n(&h->state[b], &old, nw, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	__atomic_fetch_add(&h->generation, 1, __ATOMIC_RELEASE);
	return true;
}

unsigned int
mg_health_group_sync(struct mg_health *h, uint32_t group, uint32_t cap,
		     const uint32_t *members, unsigned int n, uint64_t now)
{
	uint64_t *s, w, until, now_u = now >> UNIT_SHIFT;
	struct mg_health_info info;
	unsigned int i, returned = 0;
	char name[80];
	uint32_t j, b;

	if (h == NULL || group >= h->max_groups)
		return 0;
	s = group_slots(h, group);
	cap = RTE_MIN(cap, (uint32_t)MG_HEALTH_GROUP_SLOTS);
	/* past the cap, or of a backend that left: no longer this group's
	 * (pending slots belong to reports under this ruleset: members,
	 * below the cap) */
	for (j = 0; j < MG_HEALTH_GROUP_SLOTS; j++) {
		w = __atomic_load_n(&s[j], __ATOMIC_RELAXED);
		if (w == 0 || (w & SLOT_PENDING))
			continue;
		if (j >= cap || !slot_held(h, w, now_u) ||
		    !is_member(members, n, slot_backend(w)))
			__atomic_compare_exchange_n(&s[j], &w, 0, false,
						    __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
	}
	/* every member out holds a slot below the cap, or comes back */
	for (i = 0; i < n; i++) {
		b = members[i];
		if (b >= mg_health_count(h))
			continue;
		until = st_until(
			__atomic_load_n(&h->state[b], __ATOMIC_RELAXED));
		if (now_u >= until || has_slot(h, s, cap, b, now_u) ||
		    slot_take(h, group, cap,
			      slot_word(b,
					__atomic_load_n(&h->eject_id[b],
							__ATOMIC_ACQUIRE),
					false),
			      now_u))
			continue;
		if (!cap_return(h, b, until))
			continue;
		returned++;
		mg_health_state(h, b, now, &info);
		CANARY_LOG(WARNING,
			   "%s: backend %s back in service: the new config "
			   "leaves no room for its ejection in %s "
			   "(max_ejected_percent, or a stable version's last "
			   "backend)",
			   h->name, mg_health_name(&info, name, sizeof(name)),
			   h->groups[group].key);
	}
	return returned;
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
	out->held = st_held(w);
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
		if (s.held && !b->seen_held) {
			CANARY_LOG(
				WARNING,
				"%s: backend %s fails (%u consecutive "
				"failures) but stays in service: its version "
				"has as many backends out as "
				"max_ejected_percent allows (a stable "
				"version keeps its last one)",
				h->name, mg_health_name(&s, name, sizeof(name)),
				s.failures);
			changed = true;
		}
		if (s.returns_total != b->seen_returns ||
		    (b->seen_held && !s.held && s.failures == 0)) {
			CANARY_LOG(NOTICE,
				   "%s: backend %s answers again: back in "
				   "service",
				   h->name,
				   mg_health_name(&s, name, sizeof(name)));
			b->seen_returns = s.returns_total;
			changed = true;
		}
		b->seen_held = s.held;
		logged += changed;
	}
	return logged;
}

/* ---- weighted version pick ---- */

/*
 * Fills the slots of @p table with version numbers in proportion to the
 * weights: largest-remainder counts, at least one slot
 * for every non-zero weight (a 1-in-a-million canary gets 1/16384 rather
 * than nothing), then interleaved by smooth weighted round robin so that
 * a hash weak in its low bits still spreads.
 */
void
mg_canary_pick_build(const uint32_t *weights, unsigned int n, uint8_t *table)
{
	int64_t rem[MG_CANARY_PICK_MAX], cur[MG_CANARY_PICK_MAX] = { 0 };
	uint32_t count[MG_CANARY_PICK_MAX];
	unsigned int v, best, slot, given = 0;
	uint64_t total = 0;

	for (v = 0; v < n; v++)
		total += weights[v];
	for (v = 0; v < n; v++) {
		uint64_t q = (uint64_t)weights[v] * MG_CANARY_PICK_SLOTS;

		count[v] = (uint32_t)(q / total);
		rem[v] = (int64_t)(q % total);
		given += count[v];
	}
	while (given < MG_CANARY_PICK_SLOTS) {
		for (best = 0, v = 1; v < n; v++)
			if (rem[v] > rem[best])
				best = v;
		count[best]++;
		rem[best] = -1;
		given++;
	}
	for (v = 0; v < n; v++) {
		if (weights[v] == 0 || count[v] > 0)
			continue;
		for (best = 0, slot = 1; slot < n; slot++)
			if (count[slot] > count[best])
				best = slot;
		count[best]--;
		count[v]++;
	}
	for (slot = 0; slot < MG_CANARY_PICK_SLOTS; slot++) {
		for (v = 0; v < n; v++)
			cur[v] += count[v];
		for (best = 0, v = 1; v < n; v++)
			if (cur[v] > cur[best])
				best = v;
		table[slot] = (uint8_t)best;
		cur[best] -= MG_CANARY_PICK_SLOTS;
	}
}
