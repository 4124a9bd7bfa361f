/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * Append-only registries that give names (label sets, destinations,
 * rules) stable slots. Control plane only; the caller serialises writers.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_jhash.h>

#include "tel_private.h"

static const char *const kind_name[TEL_KIND_MAX] = {
	[TEL_KIND_SET] = "label set",
	[TEL_KIND_DEST] = "destination",
	[TEL_KIND_RULE] = "rule",
};

typedef bool (*htab_eq)(const struct tel_registry *r, uint32_t idx,
			const void *key);

static void *
reg_calloc(struct tel_registry *r, size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p != NULL)
		r->bytes += n * size;
	return p;
}

/* Load factor at most one half: probes stay short and the table never
 * fills. */
static int
htab_init(struct tel_registry *r, struct tel_htab *h, uint32_t max)
{
	uint32_t size = rte_align32pow2(max * 2);

	h->v = reg_calloc(r, size, sizeof(*h->v));
	if (h->v == NULL)
		return -ENOMEM;
	h->mask = size - 1;
	return 0;
}

static int
htab_find(const struct tel_registry *r, const struct tel_htab *h, uint32_t hash,
	  htab_eq eq, const void *key)
{
	uint32_t i;

	for (i = hash & h->mask; h->v[i] != 0; i = (i + 1) & h->mask)
		if (eq(r, h->v[i] - 1, key))
			return (int)(h->v[i] - 1);
	return -1;
}

static void
htab_insert(struct tel_htab *h, uint32_t hash, uint32_t idx)
{
	uint32_t i;

	for (i = hash & h->mask; h->v[i] != 0; i = (i + 1) & h->mask)
		;
	h->v[i] = idx + 1;
}

/* FNV-1a: rte_jhash() reads whole words past the end of a string. */
static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h ^ (h >> 16);
}

static bool
name_eq(const struct tel_registry *r, uint32_t idx, const void *key)
{
	return strcmp(r->names[idx], key) == 0;
}

static bool
set_eq(const struct tel_registry *r, uint32_t idx, const void *key)
{
	return memcmp(&r->sets[idx], key, sizeof(r->sets[idx])) == 0;
}

static bool
dest_eq(const struct tel_registry *r, uint32_t idx, const void *key)
{
	return memcmp(&r->dests[idx], key, sizeof(r->dests[idx])) == 0;
}

static bool
rule_eq(const struct tel_registry *r, uint32_t idx, const void *key)
{
	return r->rule_name[idx] == *(const uint32_t *)key;
}

static uint32_t
hash_set(const struct tel_set_key *k)
{
	return rte_jhash_3words(k->identity, k->service, k->version, 1);
}

static uint32_t
hash_dest(const struct tel_dest_key *k)
{
	return rte_jhash_2words(k->service, k->version, 2);
}

static int
name_find(const struct tel_registry *r, const char *s)
{
	return htab_find(r, &r->h_names, hash_str(s), name_eq, s);
}

/* Interns @p s; -1 when the name table is full or out of memory. */
static int
name_intern(struct tel_registry *r, const char *s)
{
	int id = name_find(r, s);
	size_t len;
	char *copy;

	if (id >= 0)
		return id;
	if (r->n_names >= r->max_names)
		return -1;
	len = strlen(s) + 1;
	copy = malloc(len);
	if (copy == NULL)
		return -1;
	memcpy(copy, s, len);
	r->bytes += len;
	r->names[r->n_names] = copy;
	htab_insert(&r->h_names, hash_str(s), r->n_names);
	return (int)r->n_names++;
}

static int
overflow(struct tel_registry *r, enum tel_kind k)
{
	if (r->overflow[k]++ == 0)
		TEL_LOG(WARNING,
			"%s registry full (%u slots): further ones are "
			"counted under \"" TEL_OVERFLOW_NAME "\"",
			kind_name[k], r->max[k]);
	return 0;
}

/* A name equal to the overflow's: it gets the overflow slot, so that no
 * two series share their labels. */
static int
reserved(struct tel_registry *r, enum tel_kind k)
{
	r->overflow[k]++;
	TEL_LOG(WARNING,
		"%s named \"" TEL_OVERFLOW_NAME "\": a reserved name, "
		"counted as the overflow",
		kind_name[k]);
	return 0;
}

struct tel_registry *
tel_registry_create(uint32_t max_sets, uint32_t max_dests, uint32_t max_rules)
{
	struct tel_registry *r = calloc(1, sizeof(*r));
	enum tel_kind k;

	if (r == NULL)
		return NULL;
	r->bytes = sizeof(*r);
	r->max[TEL_KIND_SET] = max_sets;
	r->max[TEL_KIND_DEST] = max_dests;
	r->max[TEL_KIND_RULE] = max_rules;
	/* each label set brings at most one new identity, each destination
	 * a service and a version, each rule its name; past that, a name
	 * overflows */
	r->max_names = max_sets + 2 * max_dests + max_rules + 1;
	r->sets = reg_calloc(r, max_sets, sizeof(*r->sets));
	r->dest_of = reg_calloc(r, max_sets, sizeof(*r->dest_of));
	r->dests = reg_calloc(r, max_dests, sizeof(*r->dests));
	r->rule_name = reg_calloc(r, max_rules, sizeof(*r->rule_name));
	r->names = reg_calloc(r, r->max_names, sizeof(*r->names));
	if (r->sets == NULL || r->dest_of == NULL || r->dests == NULL ||
	    r->rule_name == NULL || r->names == NULL ||
	    htab_init(r, &r->h_names, r->max_names) < 0)
		goto fail;
	for (k = 0; k < TEL_KIND_MAX; k++)
		if (htab_init(r, &r->h[k], r->max[k]) < 0)
			goto fail;
	/* slot 0 of everything: the overflow, whose names are all name
	 * id 0 (TEL_OVERFLOW_NAME); it is in no slot table, and a lookup
	 * of that name is caught before it reaches them */
	if (name_intern(r, TEL_OVERFLOW_NAME) != 0)
		goto fail;
	r->n[TEL_KIND_SET] = 1;
	r->n[TEL_KIND_DEST] = 1;
	r->n[TEL_KIND_RULE] = 1;
	return r;
fail:
	tel_registry_free(r);
	return NULL;
}

void
tel_registry_free(struct tel_registry *r)
{
	enum tel_kind k;
	uint32_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_names; i++)
		free(r->names[i]);
	for (k = 0; k < TEL_KIND_MAX; k++)
		free(r->h[k].v);
	free(r->h_names.v);
	free(r->names);
	free(r->rule_name);
	free(r->dests);
	free(r->dest_of);
	free(r->sets);
	free(r);
}

/* Destination slot of (service, version) name ids; 0 when full. */
static uint32_t
dest_slot(struct tel_registry *r, uint32_t service, uint32_t version)
{
	struct tel_dest_key k = { service, version };
	uint32_t hash = hash_dest(&k);
	int slot = htab_find(r, &r->h[TEL_KIND_DEST], hash, dest_eq, &k);

	if (slot >= 0)
		return (uint32_t)slot;
	if (r->n[TEL_KIND_DEST] >= r->max[TEL_KIND_DEST])
		return (uint32_t)overflow(r, TEL_KIND_DEST);
	slot = (int)r->n[TEL_KIND_DEST];
	r->dests[slot] = k;
	htab_insert(&r->h[TEL_KIND_DEST], hash, (uint32_t)slot);
	__atomic_store_n(&r->n[TEL_KIND_DEST], slot + 1, __ATOMIC_RELEASE);
	return (uint32_t)slot;
}

int
tel_registry_labelset(struct tel_registry *r, const char *identity,
		      const char *service, const char *version)
{
	const char *const nm[3] = { identity, service, version };
	struct tel_set_key k;
	uint32_t id[3], hash;
	bool known = true;
	int slot, i;

	for (i = 0; i < 3; i++) {
		int n = name_find(r, nm[i]);

		if (n == 0) /* the overflow's own name */
			return reserved(r, TEL_KIND_SET);
		known &= n > 0;
		id[i] = n > 0 ? (uint32_t)n : 0;
	}
	k = (struct tel_set_key){ id[0], id[1], id[2] };
	hash = hash_set(&k);
	if (known) {
		slot = htab_find(r, &r->h[TEL_KIND_SET], hash, set_eq, &k);
		if (slot >= 0)
			return slot;
	}
	if (r->n[TEL_KIND_SET] >= r->max[TEL_KIND_SET])
		return overflow(r, TEL_KIND_SET);
	for (i = 0; i < 3; i++) {
		int n = name_intern(r, nm[i]);

		if (n < 0)
			return overflow(r, TEL_KIND_SET);
		id[i] = (uint32_t)n;
	}
	k = (struct tel_set_key){ id[0], id[1], id[2] };
	hash = hash_set(&k);
	slot = (int)r->n[TEL_KIND_SET];
	r->sets[slot] = k;
	r->dest_of[slot] = dest_slot(r, id[1], id[2]);
	htab_insert(&r->h[TEL_KIND_SET], hash, (uint32_t)slot);
	__atomic_store_n(&r->n[TEL_KIND_SET], slot + 1, __ATOMIC_RELEASE);
	return slot;
}

int
tel_registry_rule(struct tel_registry *r, const char *name)
{
	int n = name_find(r, name);
	uint32_t id;
	int slot;

	if (n == 0)
		return reserved(r, TEL_KIND_RULE);
	if (n > 0) {
		id = (uint32_t)n;
		slot = htab_find(r, &r->h[TEL_KIND_RULE],
				 rte_jhash_1word(id, 3), rule_eq, &id);
		if (slot >= 0)
			return slot;
	}
	if (r->n[TEL_KIND_RULE] >= r->max[TEL_KIND_RULE])
		return overflow(r, TEL_KIND_RULE);
	n = name_intern(r, name);
	if (n < 0)
		return overflow(r, TEL_KIND_RULE);
	id = (uint32_t)n;
	slot = (int)r->n[TEL_KIND_RULE];
	r->rule_name[slot] = id;
	htab_insert(&r->h[TEL_KIND_RULE], rte_jhash_1word(id, 3),
		    (uint32_t)slot);
	__atomic_store_n(&r->n[TEL_KIND_RULE], slot + 1, __ATOMIC_RELEASE);
	return slot;
}
