/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The id registry: service, identity and rule names get ids in the order
 * rulesets first name them and keep them for the life of the process
 * (append-only, as lib/telemetry's label sets), so that a connection can
 * record ids that mean the same in every later ruleset; each ruleset
 * maps the ids to its own indexes when it is built.
 *
 * Only the control plane touches the registry (building rulesets,
 * naming ids in reports); a mutex serialises the threads it runs on (the
 * reload thread, the control tick's rollback). Workers read only a
 * ruleset's maps. Not rte_hash: it would preallocate its whole capacity
 * in DPDK memory (3 x 65,535 keys of 64 bytes, some 15 MiB) for tables
 * that hold a few hundred names and are never read on the fast path;
 * this one lives in the C heap and grows with the names registered.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "mg_base.h"
#include "rs_private.h"

/* The names of one kind: name[i] has id first_id + i. */
struct names {
	char (*name)[MG_CONF_NAME_LEN];
	uint32_t n, cap;
	uint32_t *slot; /* open addressing: i + 1, 0 empty; half full at most */
	uint32_t mask;
};

/* The id of a kind's first name, and the index of a name a ruleset
 * does not have. Identities count from 1 in both: 0 is the unknown
 * identity, in every ruleset. */
static const uint32_t first_id[MG_RULESET_ID_KINDS] = {
	[MG_RULESET_ID_SERVICE] = 0,
	[MG_RULESET_ID_IDENTITY] = 1,
	[MG_RULESET_ID_RULE] = 0,
};

static const uint16_t no_index[MG_RULESET_ID_KINDS] = {
	[MG_RULESET_ID_SERVICE] = MG_RULESET_NONE,
	[MG_RULESET_ID_IDENTITY] = MG_IDENTITY_UNKNOWN,
	[MG_RULESET_ID_RULE] = MG_RULESET_NONE,
};

static const char *const kind_name[MG_RULESET_ID_KINDS] = {
	[MG_RULESET_ID_SERVICE] = "service",
	[MG_RULESET_ID_IDENTITY] = "identity",
	[MG_RULESET_ID_RULE] = "policy",
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct names reg[MG_RULESET_ID_KINDS]; /* under reg_lock */

/* FNV-1a, as lib/telemetry's registry hashes names. */
static uint32_t
hash_name(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h ^ (h >> 16);
}

/* Position of @p s in r->name, or -1. */
static int
find(const struct names *r, const char *s)
{
	uint32_t i;

	if (r->slot == NULL)
		return -1;
	for (i = hash_name(s) & r->mask; r->slot[i] != 0; i = (i + 1) & r->mask)
		if (strcmp(r->name[r->slot[i] - 1], s) == 0)
			return (int)(r->slot[i] - 1);
	return -1;
}

static void
put(uint32_t *slot, uint32_t mask, const char *s, uint32_t pos)
{
	uint32_t i;

	for (i = hash_name(s) & mask; slot[i] != 0; i = (i + 1) & mask)
		;
	slot[i] = pos + 1;
}

/* Room for @p n names in all; -ENOMEM leaves @p r as it was. */
static int
reserve(struct names *r, uint32_t n)
{
	uint32_t size = rte_align32pow2(RTE_MAX(n, 32u) * 2), i;
	char(*name)[MG_CONF_NAME_LEN];
	uint32_t *slot;

	if (n > r->cap) {
		uint32_t cap = RTE_MIN(RTE_MAX(n, 2 * r->cap),
				       (uint32_t)MG_RULESET_MAX_NAMES);

		name = realloc(r->name, (size_t)cap * sizeof(*name));
		if (name == NULL)
			return -ENOMEM;
		r->name = name;
		r->cap = cap;
	}
	if (r->slot != NULL && size <= r->mask + 1)
		return 0;
	slot = calloc(size, sizeof(*slot));
	if (slot == NULL)
		return -ENOMEM;
	for (i = 0; i < r->n; i++)
		put(slot, size - 1, r->name[i], i);
	free(r->slot);
	r->slot = slot;
	r->mask = size - 1;
	return 0;
}

/* The id of @p s, given now if it has none; room was reserved. */
static uint16_t
intern(struct names *r, enum mg_ruleset_id_kind kind, const char *s)
{
	int pos = find(r, s);

	if (pos < 0) {
		pos = (int)r->n++;
		snprintf(r->name[pos], MG_CONF_NAME_LEN, "%s", s);
		put(r->slot, r->mask, s, (uint32_t)pos);
	}
	return (uint16_t)(first_id[kind] + (uint32_t)pos);
}

/* The names of @p kind that @p conf has, and how many. */
static unsigned int
conf_names(const struct mg_conf *conf, enum mg_ruleset_id_kind kind,
	   const char **out)
{
	unsigned int i;

	switch (kind) {
	case MG_RULESET_ID_SERVICE:
		for (i = 0; i < conf->n_services; i++)
			out[i] = conf->services[i].name;
		return conf->n_services;
	case MG_RULESET_ID_IDENTITY:
		for (i = 0; i < conf->n_identities; i++)
			out[i] = conf->identities[i].name;
		return conf->n_identities;
	default:
		for (i = 0; i < conf->n_policies; i++)
			out[i] = conf->policies[i].name;
		return conf->n_policies;
	}
}

/* A constant (RTE_MAX is not one): the most names of a kind a config
 * has. */
#define MAX2(a, b) ((a) > (b) ? (a) : (b))
#define MAX_CONF_NAMES                                                         \
	MAX2(MG_CONF_MAX_SERVICES,                                             \
	     MAX2(MG_CONF_MAX_IDENTITIES, MG_CONF_MAX_POLICIES))

int
rs_ids_build(struct mg_ruleset *rs, const struct mg_conf *conf, char *err,
	     size_t errlen)
{
	const char *names[MG_RULESET_ID_KINDS][MAX_CONF_NAMES];
	uint16_t id[MG_RULESET_ID_KINDS][MAX_CONF_NAMES];
	unsigned int n[MG_RULESET_ID_KINDS], fresh, i;
	uint32_t n_ids[MG_RULESET_ID_KINDS];
	uint16_t *mem, *to_id[MG_RULESET_ID_KINDS], *index_of;
	enum mg_ruleset_id_kind k;
	uint32_t base;
	size_t total = 0;
	int ret = 0;

	for (k = 0; k < MG_RULESET_ID_KINDS; k++)
		n[k] = conf_names(conf, k, names[k]);
	pthread_mutex_lock(&reg_lock);
	/* all or nothing: check every kind before registering a name */
	for (k = 0; k < MG_RULESET_ID_KINDS && ret == 0; k++) {
		for (i = 0, fresh = 0; i < n[k]; i++)
			fresh += find(&reg[k], names[k][i]) < 0;
		if (reg[k].n + fresh > MG_RULESET_MAX_NAMES) {
			mg_set_err(err, errlen,
				   "%u new %s name(s), and %u have ids "
				   "already: the registry gives at most %u "
				   "(names are numbered afresh at a restart)",
				   fresh, kind_name[k], reg[k].n,
				   MG_RULESET_MAX_NAMES);
			ret = -ENOSPC;
		} else if (reserve(&reg[k], reg[k].n + fresh) < 0) {
			mg_set_err(err, errlen, "out of memory for %s ids",
				   kind_name[k]);
			ret = -ENOMEM;
		}
	}
	for (k = 0; k < MG_RULESET_ID_KINDS && ret == 0; k++) {
		for (i = 0; i < n[k]; i++)
			id[k][i] = intern(&reg[k], k, names[k][i]);
		n_ids[k] = first_id[k] + reg[k].n;
	}
	pthread_mutex_unlock(&reg_lock);
	if (ret < 0)
		return ret;

	/* per kind: index -> id (identities from index 1), id -> index */
	for (k = 0; k < MG_RULESET_ID_KINDS; k++)
		total += first_id[k] + n[k] + n_ids[k];
	mem = malloc(total * sizeof(*mem));
	if (mem == NULL) {
		mg_set_err(err, errlen, "out of memory for the id maps");
		return -ENOMEM;
	}
	rs->ids_mem = mem;
	for (k = 0; k < MG_RULESET_ID_KINDS; k++) {
		base = first_id[k];
		to_id[k] = mem;
		/* the unknown identity is itself in every ruleset */
		for (i = 0; i < base; i++)
			to_id[k][i] = (uint16_t)i;
		memcpy(to_id[k] + base, id[k], n[k] * sizeof(*mem));
		mem += base + n[k];
		index_of = mem;
		mem += n_ids[k];
		for (i = 0; i < n_ids[k]; i++)
			index_of[i] = i < base ? (uint16_t)i : no_index[k];
		for (i = 0; i < n[k]; i++)
			index_of[id[k][i]] = (uint16_t)(base + i);
		rs->hdr.ids.index_of[k] = index_of;
		rs->hdr.ids.n_ids[k] = n_ids[k];
	}
	rs->service_id = to_id[MG_RULESET_ID_SERVICE];
	rs->identity_id = to_id[MG_RULESET_ID_IDENTITY];
	rs->rule_id = to_id[MG_RULESET_ID_RULE];
	return 0;
}

uint16_t
mg_ruleset_rule_id(const struct mg_ruleset *rs, uint16_t rule)
{
	return rule < rs->n_rules ? rs->rule_id[rule] : MG_RULE_DEFAULT;
}

const char *
mg_ruleset_rule_name_of_id(const struct mg_ruleset *rs, uint16_t id)
{
	uint16_t rule;

	if (id == MG_RULE_DEFAULT)
		return "default-deny";
	rule = id < rs->hdr.ids.n_ids[MG_RULESET_ID_RULE]
		       ? rs->hdr.ids.index_of[MG_RULESET_ID_RULE][id]
		       : MG_RULESET_NONE;
	return rule < rs->n_rules ? rs->rule_names[rule] : NULL;
}

int
mg_ruleset_id_name(enum mg_ruleset_id_kind kind, uint32_t id, char *buf,
		   size_t len)
{
	int ret = -ENOENT;

	if (len == 0)
		return -EINVAL;
	buf[0] = '\0';
	if ((unsigned int)kind >= MG_RULESET_ID_KINDS)
		return -EINVAL;
	if (kind == MG_RULESET_ID_IDENTITY && id == MG_IDENTITY_UNKNOWN) {
		snprintf(buf, len, "unknown");
		return 0;
	}
	if (kind == MG_RULESET_ID_RULE && id == MG_RULE_DEFAULT) {
		snprintf(buf, len, "default-deny");
		return 0;
	}
	pthread_mutex_lock(&reg_lock);
	if (id >= first_id[kind] && id - first_id[kind] < reg[kind].n) {
		snprintf(buf, len, "%s", reg[kind].name[id - first_id[kind]]);
		ret = 0;
	}
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

unsigned int
mg_ruleset_ids_registered(enum mg_ruleset_id_kind kind)
{
	unsigned int n;

	if ((unsigned int)kind >= MG_RULESET_ID_KINDS)
		return 0;
	pthread_mutex_lock(&reg_lock);
	n = reg[kind].n;
	pthread_mutex_unlock(&reg_lock);
	return n;
}
