/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * ARP and IPv6 ND responder and resolver, the shared neighbour cache, the
 * per-worker queues of packets awaiting a next hop, and echo replies.
 *
 * The cache is DPDK's rte_hash (lock-free readers) from address to an
 * entry index; entries carry their own address under an rte_seqcount,
 * because least-recently-used eviction reuses an index while a reader
 * may still hold it: such a reader sees a miss, never another
 * neighbour's MAC.
 */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_arp.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_seqcount.h>
#include <rte_spinlock.h>

#include "mg_neigh.h"

/* Ethernet/IPv4 ARP body (RFC 826); the parser checked the fixed fields. */
#define ARP_OP_OFF  6
#define ARP_SHA_OFF 8
#define ARP_SPA_OFF 14
#define ARP_THA_OFF 18
#define ARP_TPA_OFF 24

#define ETH_DST_OFF 0
#define ETH_SRC_OFF 6
/* Shortest frame on the wire, without the FCS the NIC appends. */
#define ETH_FRAME_MIN (RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN)

#define IPV4_LEN    4
#define IPV6_LEN    16
#define IPV6_HDR    40
#define IPV6_VTC    (UINT32_C(6) << 28)
#define ICMP_HDR    8
#define ECHO_TTL    64
#define ND_HOPLIMIT 255

/* RFC 4861; DPDK 22.11 names neither. */
#define ND_NS 135
#define ND_NA 136

/* NS and NA: type, code, checksum, flags + reserved, target. */
#define ND_HDR	       24
#define ND_FLAGS_OFF   4
#define ND_TARGET_OFF  8
#define ND_OPT_UNIT    8
#define ND_OPT_SLLA    1
#define ND_OPT_TLLA    2
#define ND_LLA_OPT     8
#define ND_MSG	       (ND_HDR + ND_LLA_OPT)
#define NA_F_SOLICITED 0x40
#define NA_F_OVERRIDE  0x20

/* rte_hash refuses tables smaller than one bucket. */
#define HASH_MIN_ENTRIES 8u

/*
 * The hash key: family, then the address zero-padded to 16 bytes, then
 * padding to a multiple of four so that the hash reads whole words.
 */
struct neigh_key {
	uint8_t family;
	uint8_t bytes[IPV6_LEN];
	uint8_t pad[3];
};

static_assert(sizeof(struct neigh_key) == 20, "neighbour keys are 20 bytes");

/* A packed MAC with this bit set is known; without it, unanswered. */
#define MAC_KNOWN (UINT64_C(1) << 63)
#define MAC_MASK  ((UINT64_C(1) << 48) - 1)
/* A recorded conflict: the claimed MAC, what claimed it (bits 48..55). */
#define CLAIM_SHIFT 48

/* What made a claim, for the conflict log. */
enum claim_kind {
	CLAIM_NONE = 0,
	CLAIM_ARP_REQUEST,
	CLAIM_ARP_REPLY,
	CLAIM_NS,
	CLAIM_NA,
};

static const char *const claim_names[] = {
	[CLAIM_NONE] = "frame",
	[CLAIM_ARP_REQUEST] = "ARP request",
	[CLAIM_ARP_REPLY] = "ARP reply",
	[CLAIM_NS] = "neighbour solicitation",
	[CLAIM_NA] = "neighbour advertisement",
};

/* One conflict log line per entry at most this often. */
#define CONFLICT_LOG_S 60

/*
 * One neighbour, one cache line. key, mac, learned_tsc and asked_until
 * change together under seq (writers hold the table's lock), so a
 * reader never mixes two neighbours. used_tsc and conflict are hints
 * written with relaxed stores outside it: a race can only credit a use
 * or a conflict to the entry that replaced the one it was meant for.
 */
struct neigh_entry {
	rte_seqcount_t seq;
	struct neigh_key key;
	uint64_t mac;	      /* MAC_KNOWN | MAC, or 0 while unanswered */
	uint64_t learned_tsc; /* when an answer set it */
	uint64_t asked_until; /* a request is outstanding until; 0: none */
	uint64_t used_tsc;    /* last lookup or request: eviction order */
	uint64_t conflict;    /* last contradicting claim, 0: none */
} __rte_cache_aligned;

/* What the control plane alone keeps per entry for its conflict log. */
struct neigh_logged {
	uint64_t conflict; /* the claim last logged */
	uint64_t tsc;	   /* when; 0: never */
};

struct mg_neigh_table {
	struct rte_hash *hash;
	struct neigh_entry *entries; /* indexed by the hash's data */
	struct neigh_logged *logged; /* control plane */
	uint64_t reachable_tsc;
	uint64_t touch_tsc; /* a lookup refreshes used_tsc this often */
	uint64_t tsc_hz;
	uint32_t max_entries;
	uint32_t n_entries; /* entries handed out; under lock */
	/* a worker recorded a conflict; the control plane clears it */
	uint32_t conflict_seen;
	uint64_t log_next; /* control plane: a held-back conflict is due */
	/*
	 * Serialises every writer of the hash and of the seqcount-covered
	 * fields: requests, answers while a request is outstanding, and
	 * the eviction that makes room. Unsolicited claims never take it.
	 */
	rte_spinlock_t lock;
};

/* The pending queue indexes slot[] with a mask. */

/* Solicited-node groups ff02::1:ffXX:XXXX (RFC 4291 2.7.1). */
static const uint8_t snm_prefix[13] = {
	0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0xff,
};
/* All nodes, ff02::1, and its MAC (RFC 2464 7). */
static const uint8_t all_nodes[IPV6_LEN] = {
	0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
};
static const uint8_t all_nodes_mac[RTE_ETHER_ADDR_LEN] = {
	0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
};

static int neigh_logtype;

#define NEIGH_LOG(level, fmt, ...)                                             \
	rte_log(RTE_LOG_##level, neigh_logtype, "mg.neigh: " fmt "\n",         \
		##__VA_ARGS__)

RTE_INIT(neigh_log_init)
{
	neigh_logtype =
		rte_log_register_type_and_pick_level("mg.neigh", RTE_LOG_INFO);
}

/* ---- small helpers ---- */

/* Frames may start at an odd address: load and store byte-wise. */
static inline uint16_t
load_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
store_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void
addr_set(struct mg_addr *a, uint8_t family, const uint8_t *bytes)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	memcpy(a->bytes, bytes, family == 4 ? IPV4_LEN : IPV6_LEN);
}

static inline bool
addr_is_local(mg_neigh_is_local_t is_local, void *ctx, const struct mg_addr *a)
{
	return is_local != NULL && is_local(ctx, a);
}

static inline bool
ipv4_is_unspecified(const uint8_t *a)
{
	return (a[0] | a[1] | a[2] | a[3]) == 0;
}

static inline bool
ipv6_is_unspecified(const uint8_t *a)
{
	static const uint8_t zero[IPV6_LEN];

	return memcmp(a, zero, IPV6_LEN) == 0;
}

static inline bool
ipv6_is_multicast(const uint8_t *a)
{
	return a[0] == 0xff;
}

static inline bool
ipv6_is_solicited_node(const uint8_t *a)
{
	return memcmp(a, snm_prefix, sizeof(snm_prefix)) == 0;
}

/* A sender we may believe, and a station a reply may go to. */
static inline bool
mac_is_station(const uint8_t *bytes)
{
	struct rte_ether_addr mac;

	memcpy(&mac, bytes, sizeof(mac));
	return rte_is_valid_assigned_ether_addr(&mac);
}

static inline uint64_t
mac_pack(const struct rte_ether_addr *mac)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < RTE_ETHER_ADDR_LEN; i++)
		v = v << 8 | mac->addr_bytes[i];
	return v;
}

static inline void
mac_unpack(uint64_t v, struct rte_ether_addr *mac)
{
	unsigned int i;

	for (i = RTE_ETHER_ADDR_LEN; i-- > 0; v >>= 8)
		mac->addr_bytes[i] = v & 0xff;
}

/* The reply goes back to whoever sent the request, from our port. */
static inline void
eth_write(uint8_t *eth, const void *dst, const struct rte_ether_addr *src)
{
	memmove(eth + ETH_DST_OFF, dst, RTE_ETHER_ADDR_LEN);
	memcpy(eth + ETH_SRC_OFF, src, RTE_ETHER_ADDR_LEN);
}

/* Rewrite the ICMP(v6) type and patch the checksum to match. */
static inline void
icmp_set_type(uint8_t *icmp, uint8_t type)
{
	uint16_t old_word, new_word, cksum;

	memcpy(&old_word, icmp, sizeof(old_word));
	icmp[0] = type;
	memcpy(&new_word, icmp, sizeof(new_word));
	memcpy(&cksum, icmp + 2, sizeof(cksum));
	cksum = mg_cksum_adjust(cksum, &old_word, &new_word, 2);
	/* RFC 1624 eqn. 3 gives 0 where the message now sums to +0 (an
	 * all-zero echo reply): only ~0 verifies there, and it verifies
	 * wherever 0 does */
	if (cksum == 0)
		cksum = 0xffff;
	memcpy(icmp + 2, &cksum, sizeof(cksum));
}

/* Source and destination are adjacent in the IPv6 header. */
static inline uint16_t
icmp6_sum(const struct rte_ipv6_hdr *ip6, const uint8_t *icmp, uint32_t len)
{
	return mg_cksum_l4(ip6->src_addr, IPV6_LEN, IPPROTO_ICMPV6, icmp,
			   (uint16_t)len);
}

/*
 * IPv6 header and a 32-byte NS or NA carrying one link-layer address
 * option, checksum included. @l3 must have room for 72 bytes.
 */
static void
nd_write(uint8_t *l3, const uint8_t *src, const uint8_t *dst, uint8_t type,
	 uint8_t flags, const uint8_t *target, uint8_t opt,
	 const struct rte_ether_addr *lla)
{
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)l3;
	uint8_t *icmp = l3 + IPV6_HDR;
	uint16_t cksum;

	ip6->vtc_flow = rte_cpu_to_be_32(IPV6_VTC);
	ip6->payload_len = rte_cpu_to_be_16(ND_MSG);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = ND_HOPLIMIT;
	memmove(ip6->src_addr, src, IPV6_LEN);
	memmove(ip6->dst_addr, dst, IPV6_LEN);

	memset(icmp, 0, ND_MSG);
	icmp[0] = type;
	icmp[ND_FLAGS_OFF] = flags;
	memcpy(icmp + ND_TARGET_OFF, target, IPV6_LEN);
	icmp[ND_HDR] = opt;
	icmp[ND_HDR + 1] = ND_LLA_OPT / ND_OPT_UNIT;
	memcpy(icmp + ND_HDR + 2, lla, RTE_ETHER_ADDR_LEN);

	cksum = ~icmp6_sum(ip6, icmp, ND_MSG);
	memcpy(icmp + 2, &cksum, sizeof(cksum));
}

/* ---- cache ---- */

static inline bool
key_set(struct neigh_key *k, const struct mg_addr *ip)
{
	memset(k, 0, sizeof(*k));
	if (ip->family == 4)
		memcpy(k->bytes, ip->bytes, IPV4_LEN);
	else if (ip->family == 6)
		memcpy(k->bytes, ip->bytes, IPV6_LEN);
	else
		return false;
	k->family = ip->family;
	return true;
}

static inline void
key_addr(const struct neigh_key *k, struct mg_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = k->family;
	memcpy(a->bytes, k->bytes, sizeof(k->bytes));
}

/*
 * Workers read the TSC at different moments, so an entry may look learned
 * in the future: that is fresh, not a wrapped-around age.
 */
static inline bool
entry_fresh(const struct mg_neigh_table *t, uint64_t learned, uint64_t now)
{
	return now <= learned || now - learned <= t->reachable_tsc;
}

/* A request is outstanding until its deadline; 0 is none. */
static inline bool
request_open(uint64_t asked_until, uint64_t now)
{
	return asked_until != 0 && now <= asked_until;
}

/* The covered fields of an entry, read consistently. */
struct entry_view {
	struct neigh_key key;
	uint64_t mac;
	uint64_t learned;
	uint64_t asked;
};

/*
 * An entry's key, word by word with relaxed atomics: a reader copies it
 * under the seqcount while the lock's holder may be rewriting it, and
 * plain copies on both sides would be a data race (ThreadSanitizer
 * reports them; the seqcount only tells the reader to retry).
 */
typedef uint32_t __attribute__((may_alias)) key_word;
#define KEY_WORDS (sizeof(struct neigh_key) / sizeof(key_word))
static_assert(offsetof(struct neigh_entry, key) % sizeof(key_word) == 0 &&
		      sizeof(struct neigh_key) % sizeof(key_word) == 0,
	      "an entry's key is whole aligned words");

/* An entry's key (4-byte aligned after its seqcount) into @p dst. */
static inline void
key_load(struct neigh_key *dst, const struct neigh_entry *e)
{
	const key_word *s = (const key_word *)&e->key;
	key_word w[KEY_WORDS];
	unsigned int i;

	for (i = 0; i < KEY_WORDS; i++)
		w[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
	memcpy(dst, w, sizeof(*dst));
}

static inline void
key_store(struct neigh_entry *e, const struct neigh_key *src)
{
	key_word *d = (key_word *)&e->key;
	key_word w[KEY_WORDS];
	unsigned int i;

	memcpy(w, src, sizeof(w));
	for (i = 0; i < KEY_WORDS; i++)
		__atomic_store_n(&d[i], w[i], __ATOMIC_RELAXED);
}

static void
entry_read(const struct neigh_entry *e, struct entry_view *v)
{
	uint32_t sn;

	do {
		sn = rte_seqcount_read_begin(&e->seq);
		key_load(&v->key, e);
		v->mac = __atomic_load_n(&e->mac, __ATOMIC_RELAXED);
		v->learned = __atomic_load_n(&e->learned_tsc, __ATOMIC_RELAXED);
		v->asked = __atomic_load_n(&e->asked_until, __ATOMIC_RELAXED);
	} while (rte_seqcount_read_retry(&e->seq, sn));
}

/* Under the lock only. */
static void
entry_write(struct neigh_entry *e, const struct neigh_key *key, uint64_t mac,
	    uint64_t learned, uint64_t asked)
{
	rte_seqcount_write_begin(&e->seq);
	key_store(e, key);
	__atomic_store_n(&e->mac, mac, __ATOMIC_RELAXED);
	__atomic_store_n(&e->learned_tsc, learned, __ATOMIC_RELAXED);
	__atomic_store_n(&e->asked_until, asked, __ATOMIC_RELAXED);
	rte_seqcount_write_end(&e->seq);
}

/*
 * @p key's entry with its fields, or NULL. The hash may hand a racing
 * reader the index of an entry being reused for another neighbour; the
 * entry's own key, read under its seqcount, tells.
 */
static struct neigh_entry *
entry_find(const struct mg_neigh_table *t, const struct neigh_key *key,
	   struct entry_view *v)
{
	struct neigh_entry *e;
	void *data;

	if (rte_hash_lookup_data(t->hash, key, &data) < 0)
		return NULL;
	e = &t->entries[(uintptr_t)data];
	entry_read(e, v);
	return memcmp(&v->key, key, sizeof(*key)) == 0 ? e : NULL;
}

/* Least-recently-used order, written without the lock, rarely. */
static inline void
entry_touch(const struct mg_neigh_table *t, struct neigh_entry *e, uint64_t now)
{
	uint64_t used = __atomic_load_n(&e->used_tsc, __ATOMIC_RELAXED);

	if (now > used && now - used >= t->touch_tsc)
		__atomic_store_n(&e->used_tsc, now, __ATOMIC_RELAXED);
}

struct mg_neigh_table *
mg_neigh_create(const char *name, uint32_t max_entries, int socket,
		uint64_t tsc_hz, uint32_t reachable_s)
{
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = RTE_MAX(max_entries, HASH_MIN_ENTRIES),
		.key_len = sizeof(struct neigh_key),
		.socket_id = socket,
		/*
		 * The ext table lets every one of max_entries keys in,
		 * whatever the bucket collisions. Writers are serialised
		 * by the table's lock, so the hash's own multi-writer lock
		 * and per-lcore slot caches would only cost memory.
		 */
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
			      RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	struct mg_neigh_table *t;
	int err;

	if (name == NULL || max_entries == 0 ||
	    max_entries > RTE_HASH_ENTRIES_MAX || tsc_hz == 0) {
		rte_errno = EINVAL;
		return NULL;
	}

	/* Checked first: rte_hash would blame its ring's memory instead. */
	if (rte_hash_find_existing(name) != NULL) {
		err = EEXIST;
		NEIGH_LOG(ERR, "%s: name already in use", name);
		goto fail;
	}

	t = rte_zmalloc_socket("mg_neigh", sizeof(*t), RTE_CACHE_LINE_SIZE,
			       socket);
	if (t == NULL) {
		err = ENOMEM;
		NEIGH_LOG(ERR, "%s: no memory for the table", name);
		goto fail;
	}
	t->entries = rte_zmalloc_socket(
		"mg_neigh_entries", (size_t)max_entries * sizeof(*t->entries),
		RTE_CACHE_LINE_SIZE, socket);
	t->logged = rte_zmalloc_socket("mg_neigh_logged",
				       (size_t)max_entries * sizeof(*t->logged),
				       0, socket);
	if (t->entries == NULL || t->logged == NULL) {
		err = ENOMEM;
		NEIGH_LOG(ERR, "%s: no memory for %u entries", name,
			  max_entries);
		goto free_entries;
	}
	t->hash = rte_hash_create(&hp);
	if (t->hash == NULL) {
		err = rte_errno;
		NEIGH_LOG(ERR, "%s: cannot create the hash: %s", name,
			  rte_strerror(err));
		goto free_entries;
	}

	/* reachable_s * tsc_hz can exceed 64 bits: never expire then. */
	if (reachable_s > UINT64_MAX / tsc_hz)
		t->reachable_tsc = UINT64_MAX;
	else
		t->reachable_tsc = reachable_s * tsc_hz;
	/* use times finer than this do not change the eviction order */
	t->touch_tsc = RTE_MAX(tsc_hz / 8, UINT64_C(1));
	t->tsc_hz = tsc_hz;
	t->max_entries = max_entries;
	rte_spinlock_init(&t->lock);
	return t;

free_entries:
	rte_free(t->logged);
	rte_free(t->entries);
	rte_free(t);
fail:
	rte_errno = err;
	return NULL;
}

void
mg_neigh_free(struct mg_neigh_table *t)
{
	if (t == NULL)
		return;
	rte_hash_free(t->hash);
	rte_free(t->logged);
	rte_free(t->entries);
	rte_free(t);
}

bool
mg_neigh_lookup(struct mg_neigh_table *t, const struct mg_addr *ip,
		uint64_t now, struct rte_ether_addr *mac)
{
	struct neigh_entry *e;
	struct entry_view v;
	struct neigh_key key;

	if (unlikely(!key_set(&key, ip)))
		return false;
	e = entry_find(t, &key, &v);
	if (e == NULL || !(v.mac & MAC_KNOWN) ||
	    !entry_fresh(t, v.learned, now))
		return false;
	entry_touch(t, e, now);
	mac_unpack(v.mac, mac);
	return true;
}

bool
mg_neigh_lookup_stale(struct mg_neigh_table *t, const struct mg_addr *ip,
		      uint64_t now, struct rte_ether_addr *mac, bool *refresh)
{
	struct neigh_entry *e;
	struct entry_view v;
	struct neigh_key key;
	uint64_t grace = MG_NEIGH_STALE_S * t->tsc_hz;

	*refresh = false;
	if (unlikely(!key_set(&key, ip)))
		return false;
	e = entry_find(t, &key, &v);
	if (e == NULL || !(v.mac & MAC_KNOWN))
		return false;
	if (unlikely(!entry_fresh(t, v.learned, now))) {
		/* past reachable: fresh is false only for a finite one */
		if (now - v.learned - t->reachable_tsc > grace)
			return false;
		*refresh = !request_open(v.asked, now);
	}
	entry_touch(t, e, now);
	mac_unpack(v.mac, mac);
	return true;
}

/*
 * Under the lock: an entry for @p key (not in the hash), the next never
 * used or else the least recently used one, which leaves the hash first.
 * Returns 0 or a negative errno.
 */
static int
entry_take(struct mg_neigh_table *t, const struct neigh_key *key, uint64_t now,
	   uint64_t until)
{
	uint64_t used, oldest = UINT64_MAX;
	struct neigh_entry *e;
	uint32_t idx = 0, i;
	int32_t pos;
	int ret;

	if (t->n_entries < t->max_entries) {
		idx = t->n_entries;
	} else {
		/* a scan, on a request to a new next hop in a full cache:
		 * rare, and the cache holds only next hops asked for */
		for (i = 0; i < t->n_entries; i++) {
			used = __atomic_load_n(&t->entries[i].used_tsc,
					       __ATOMIC_RELAXED);
			if (used < oldest) {
				oldest = used;
				idx = i;
			}
		}
		/*
		 * RW_CONCURRENCY_LF keeps a deleted key's slot until it is
		 * freed, for readers that may still compare it. Ours need
		 * no grace period: they check the entry's own key under its
		 * seqcount, so one that raced the reuse sees a miss.
		 */
		pos = rte_hash_del_key(t->hash, &t->entries[idx].key);
		if (pos >= 0)
			(void)rte_hash_free_key_with_position(t->hash, pos);
	}
	e = &t->entries[idx];
	entry_write(e, key, 0, 0, until);
	__atomic_store_n(&e->used_tsc, now, __ATOMIC_RELAXED);
	__atomic_store_n(&e->conflict, 0, __ATOMIC_RELAXED);
	/* readers cannot reach the entry before the key is added */
	ret = rte_hash_add_key_data(t->hash, key, (void *)(uintptr_t)idx);
	if (ret < 0) {
		/* first in line for the next eviction */
		__atomic_store_n(&e->used_tsc, 0, __ATOMIC_RELAXED);
		return ret;
	}
	if (idx == t->n_entries)
		__atomic_store_n(&t->n_entries, idx + 1, __ATOMIC_RELAXED);
	return 0;
}

int
mg_neigh_solicit(struct mg_neigh_table *t, const struct mg_addr *ip,
		 uint64_t now, uint64_t until)
{
	struct neigh_entry *e;
	struct neigh_key key;
	void *data;
	int ret = 0;

	if (!key_set(&key, ip))
		return -EINVAL;
	rte_spinlock_lock(&t->lock);
	if (rte_hash_lookup_data(t->hash, &key, &data) >= 0) {
		/* the lock's holders are the only writers: plain reads */
		e = &t->entries[(uintptr_t)data];
		entry_write(e, &key, e->mac, e->learned_tsc,
			    RTE_MAX(e->asked_until, until));
		__atomic_store_n(&e->used_tsc, now, __ATOMIC_RELAXED);
	} else {
		ret = entry_take(t, &key, now, until);
	}
	rte_spinlock_unlock(&t->lock);
	return ret;
}

/* A claim that answers nothing: does it agree with what is known? */
static enum mg_neigh_claim
claim_compare(struct mg_neigh_table *t, struct neigh_entry *e, uint64_t known,
	      uint64_t packed, enum claim_kind kind)
{
	if (!(known & MAC_KNOWN))
		return MG_NEIGH_CLAIM_IGNORED;
	if (known == packed)
		return MG_NEIGH_CLAIM_SAME;
	/* plain stores: the control plane logs the latest, rate-limited */
	__atomic_store_n(&e->conflict,
			 (uint64_t)kind << CLAIM_SHIFT | (packed & MAC_MASK),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&t->conflict_seen, 1, __ATOMIC_RELAXED);
	return MG_NEIGH_CLAIM_CONFLICT;
}

/* Under the lock: an answer, unless the request closed meanwhile. */
static enum mg_neigh_claim
claim_answer(struct mg_neigh_table *t, const struct neigh_key *key,
	     uint64_t packed, bool override, enum claim_kind kind, uint64_t now)
{
	struct neigh_entry *e;
	void *data;

	if (rte_hash_lookup_data(t->hash, key, &data) < 0)
		return MG_NEIGH_CLAIM_IGNORED;
	e = &t->entries[(uintptr_t)data];
	if (!request_open(e->asked_until, now))
		return claim_compare(t, e, e->mac, packed, kind);
	/* RFC 4861 7.2.5: without the override flag an answer fills an
	 * unanswered entry but does not replace a known MAC */
	if (!override && (e->mac & MAC_KNOWN) && e->mac != packed)
		return MG_NEIGH_CLAIM_IGNORED;
	/* the first valid answer closes the request */
	entry_write(e, key, packed, now, 0);
	return MG_NEIGH_CLAIM_APPLIED;
}

/*
 * "@p ip is at @p mac". Only an @p answer (an ARP reply or solicited NA
 * to us) to an outstanding request is applied; anything else is compared
 * with the entry without the lock, so unsolicited frames, however many,
 * never make workers wait for each other.
 */
static enum mg_neigh_claim
claim(struct mg_neigh_table *t, const struct mg_addr *ip,
      const struct rte_ether_addr *mac, bool answer, bool override,
      enum claim_kind kind, uint64_t now)
{
	uint64_t packed = mac_pack(mac) | MAC_KNOWN;
	enum mg_neigh_claim ret;
	struct neigh_entry *e;
	struct entry_view v;
	struct neigh_key key;

	if (unlikely(!key_set(&key, ip)))
		return MG_NEIGH_CLAIM_IGNORED;
	e = entry_find(t, &key, &v);
	if (e == NULL)
		return MG_NEIGH_CLAIM_IGNORED;
	if (!answer || !request_open(v.asked, now))
		return claim_compare(t, e, v.mac, packed, kind);
	rte_spinlock_lock(&t->lock);
	ret = claim_answer(t, &key, packed, override, kind, now);
	rte_spinlock_unlock(&t->lock);
	return ret;
}

enum mg_neigh_claim
mg_neigh_learn(struct mg_neigh_table *t, const struct mg_addr *ip,
	       const struct rte_ether_addr *mac, uint64_t now)
{
	return claim(t, ip, mac, true, true, CLAIM_NONE, now);
}

/* Count, for the caller, a claim that contradicted the cache. */
static inline void
count_conflict(uint64_t *conflicts, enum mg_neigh_claim c)
{
	if (c == MG_NEIGH_CLAIM_CONFLICT && conflicts != NULL)
		__atomic_store_n(conflicts, *conflicts + 1, __ATOMIC_RELAXED);
}

unsigned int
mg_neigh_log_conflicts(struct mg_neigh_table *t, uint64_t now)
{
	uint64_t c, interval, next = 0;
	char ip[INET6_ADDRSTRLEN], had[RTE_ETHER_ADDR_FMT_SIZE];
	char claimed[RTE_ETHER_ADDR_FMT_SIZE];
	struct rte_ether_addr mac;
	unsigned int logged = 0;
	struct entry_view v;
	struct mg_addr a;
	uint32_t i, n;

	if (t == NULL)
		return 0;
	/* an exchange: a conflict recorded meanwhile sets it again */
	if (!__atomic_exchange_n(&t->conflict_seen, 0, __ATOMIC_RELAXED) &&
	    (t->log_next == 0 || now < t->log_next))
		return 0;
	interval = CONFLICT_LOG_S * t->tsc_hz;
	n = __atomic_load_n(&t->n_entries, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++) {
		struct neigh_logged *l = &t->logged[i];

		c = __atomic_load_n(&t->entries[i].conflict, __ATOMIC_RELAXED);
		/* logged once: the same MAC again says nothing new */
		if (c == 0 || (c & MAC_MASK) == (l->conflict & MAC_MASK))
			continue;
		if (l->tsc != 0 && now - l->tsc < interval) {
			if (next == 0 || l->tsc + interval < next)
				next = l->tsc + interval;
			continue;
		}
		entry_read(&t->entries[i], &v);
		key_addr(&v.key, &a);
		mac_unpack(v.mac, &mac);
		rte_ether_format_addr(had, sizeof(had), &mac);
		mac_unpack(c & MAC_MASK, &mac);
		rte_ether_format_addr(claimed, sizeof(claimed), &mac);
		NEIGH_LOG(WARNING,
			  "%s is at %s (the answer to our request); an "
			  "unsolicited %s claims %s: not applied (every such "
			  "frame counts in neigh_conflicts; logged at most "
			  "once a minute per neighbour)",
			  mg_addr_format(&a, ip, sizeof(ip)), had,
			  claim_names[RTE_MIN(c >> CLAIM_SHIFT,
					      (uint64_t)CLAIM_NA)],
			  claimed);
		l->conflict = c;
		l->tsc = now;
		logged++;
	}
	/* a claim held back by the minute is looked at again then */
	t->log_next = next;
	return logged;
}

/* ---- ARP ---- */

static enum mg_neigh_result
arp_input(struct mg_neigh_table *t, struct rte_mbuf *m,
	  const struct mg_pkt_info *info, const struct rte_ether_addr *port_mac,
	  mg_neigh_is_local_t is_local, void *ctx, uint64_t now,
	  uint64_t *conflicts)
{
	uint8_t *eth = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *arp = eth + info->l3_off;
	uint16_t op = load_be16(arp + ARP_OP_OFF);
	struct rte_ether_addr sha;
	struct mg_addr spa, tpa;
	bool to_us;

	if (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY)
		return MG_NEIGH_CONSUMED;
	/* Neither believed nor answered: a reply would go to a group. */
	if (!mac_is_station(arp + ARP_SHA_OFF))
		return MG_NEIGH_CONSUMED;

	memcpy(&sha, arp + ARP_SHA_OFF, sizeof(sha));
	addr_set(&spa, 4, arp + ARP_SPA_OFF);
	addr_set(&tpa, 4, arp + ARP_TPA_OFF);
	to_us = addr_is_local(is_local, ctx, &tpa);

	/*
	 * 0.0.0.0 is a probe (RFC 5227) and claims nothing; a frame
	 * claiming one of our own addresses must not divert traffic. Only
	 * a reply to one of our addresses can answer our request;
	 * requests and gratuitous ARP (target = sender) are compared.
	 */
	if (!ipv4_is_unspecified(spa.bytes) &&
	    !addr_is_local(is_local, ctx, &spa))
		count_conflict(conflicts,
			       claim(t, &spa, &sha,
				     op == RTE_ARP_OP_REPLY && to_us, true,
				     op == RTE_ARP_OP_REPLY ? CLAIM_ARP_REPLY
							    : CLAIM_ARP_REQUEST,
				     now));

	if (op != RTE_ARP_OP_REQUEST || !to_us)
		return MG_NEIGH_CONSUMED;

	store_be16(arp + ARP_OP_OFF, RTE_ARP_OP_REPLY);
	memcpy(arp + ARP_THA_OFF, &sha, sizeof(sha));
	memcpy(arp + ARP_TPA_OFF, spa.bytes, IPV4_LEN);
	memcpy(arp + ARP_SHA_OFF, port_mac, RTE_ETHER_ADDR_LEN);
	memcpy(arp + ARP_SPA_OFF, tpa.bytes, IPV4_LEN);
	eth_write(eth, &sha, port_mac);
	return MG_NEIGH_REPLY;
}

/* ---- IPv6 neighbour discovery ---- */

/* Where the link-layer address options' MACs are, if present. */
struct nd_lla {
	const uint8_t *src;
	const uint8_t *tgt;
};

/* RFC 4861 4.6: every option has a non-zero length and fits. */
static bool
nd_options(const uint8_t *opt, uint32_t len, struct nd_lla *lla)
{
	uint32_t olen;

	lla->src = NULL;
	lla->tgt = NULL;
	while (len > 0) {
		if (len < 2)
			return false;
		olen = (uint32_t)opt[1] * ND_OPT_UNIT;
		if (olen == 0 || olen > len)
			return false;
		if (opt[0] == ND_OPT_SLLA)
			lla->src = opt + 2;
		else if (opt[0] == ND_OPT_TLLA)
			lla->tgt = opt + 2;
		opt += olen;
		len -= olen;
	}
	return true;
}

/* A checksum the NIC vouched for is not summed again. */
static inline bool
icmp6_cksum_ok(const struct rte_mbuf *m, const struct rte_ipv6_hdr *ip6,
	       const uint8_t *icmp, uint32_t len)
{
	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
	    RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return true;
	return icmp6_sum(ip6, icmp, len) == 0xffff;
}

/*
 * Rewrite @m into the NA answering an NS for @target. The NA goes right
 * after the IPv6 header, dropping any extension headers the NS had, so
 * the frame may grow or shrink.
 */
static bool
na_reply(struct rte_mbuf *m, const struct mg_pkt_info *info,
	 const struct rte_ether_addr *port_mac, const uint8_t *target,
	 const uint8_t *dst, const uint8_t *dst_mac, uint8_t flags)
{
	uint32_t len = (uint32_t)info->l3_off + IPV6_HDR + ND_MSG;
	uint8_t tgt[IPV6_LEN], to[IPV6_LEN], to_mac[RTE_ETHER_ADDR_LEN];
	uint8_t *p;

	if (len > m->data_len && len - m->data_len > rte_pktmbuf_tailroom(m))
		return false;

	/* The NS being overwritten is where these live. */
	memcpy(tgt, target, sizeof(tgt));
	memcpy(to, dst, sizeof(to));
	memcpy(to_mac, dst_mac, sizeof(to_mac));

	m->data_len = len;
	m->pkt_len = len;
	m->l3_len = IPV6_HDR;
	m->l4_len = ICMP_HDR;
	p = rte_pktmbuf_mtod(m, uint8_t *);
	eth_write(p, to_mac, port_mac);
	nd_write(p + info->l3_off, tgt, to, ND_NA, flags, tgt, ND_OPT_TLLA,
		 port_mac);
	return true;
}

static enum mg_neigh_result
ns_input(struct mg_neigh_table *t, struct rte_mbuf *m,
	 const struct mg_pkt_info *info, const struct rte_ipv6_hdr *ip6,
	 const uint8_t *icmp, const struct nd_lla *lla,
	 const struct rte_ether_addr *port_mac, mg_neigh_is_local_t is_local,
	 void *ctx, uint64_t now, uint64_t *conflicts)
{
	const uint8_t *eth = rte_pktmbuf_mtod(m, const uint8_t *);
	bool dad = ipv6_is_unspecified(ip6->src_addr);
	const uint8_t *peer_mac;
	struct rte_ether_addr mac;
	struct mg_addr src, target;

	/* RFC 4861 7.1.1: a DAD probe is multicast and names no sender. */
	if (dad && (lla->src != NULL || !ipv6_is_solicited_node(ip6->dst_addr)))
		return MG_NEIGH_CONSUMED;

	/* A solicitation asks; what it says of its sender is compared. */
	addr_set(&target, 6, icmp + ND_TARGET_OFF);
	if (!dad && lla->src != NULL && mac_is_station(lla->src)) {
		addr_set(&src, 6, ip6->src_addr);
		memcpy(&mac, lla->src, sizeof(mac));
		if (!addr_is_local(is_local, ctx, &src))
			count_conflict(conflicts, claim(t, &src, &mac, false,
							false, CLAIM_NS, now));
	}

	if (!addr_is_local(is_local, ctx, &target))
		return MG_NEIGH_CONSUMED;

	/* RFC 4861 7.2.4: a DAD probe is answered to all nodes, unsolicited. */
	if (dad)
		return na_reply(m, info, port_mac, icmp + ND_TARGET_OFF,
				all_nodes, all_nodes_mac, NA_F_OVERRIDE)
			       ? MG_NEIGH_REPLY
			       : MG_NEIGH_CONSUMED;

	/* Without the option, a unicast NS (NUD) is answered to its frame. */
	peer_mac = lla->src != NULL ? lla->src : eth + ETH_SRC_OFF;
	if (!mac_is_station(peer_mac))
		return MG_NEIGH_CONSUMED;
	return na_reply(m, info, port_mac, icmp + ND_TARGET_OFF, ip6->src_addr,
			peer_mac, NA_F_SOLICITED | NA_F_OVERRIDE)
		       ? MG_NEIGH_REPLY
		       : MG_NEIGH_CONSUMED;
}

/*
 * Only a solicited NA sent to one of our addresses answers our request
 * (its override flag as RFC 4861 7.2.5 reads it); an unsolicited one,
 * override flag or not, is compared.
 */
static enum mg_neigh_result
na_input(struct mg_neigh_table *t, const struct rte_ipv6_hdr *ip6,
	 const uint8_t *icmp, const struct nd_lla *lla,
	 mg_neigh_is_local_t is_local, void *ctx, uint64_t now,
	 uint64_t *conflicts)
{
	uint8_t flags = icmp[ND_FLAGS_OFF];
	struct rte_ether_addr mac;
	struct mg_addr target, dst;
	bool answer;

	/* RFC 4861 7.1.2: a multicast NA cannot be solicited. */
	if (ipv6_is_multicast(ip6->dst_addr) && (flags & NA_F_SOLICITED))
		return MG_NEIGH_CONSUMED;
	if (lla->tgt == NULL || !mac_is_station(lla->tgt))
		return MG_NEIGH_CONSUMED;

	addr_set(&target, 6, icmp + ND_TARGET_OFF);
	addr_set(&dst, 6, ip6->dst_addr);
	memcpy(&mac, lla->tgt, sizeof(mac));
	if (addr_is_local(is_local, ctx, &target))
		return MG_NEIGH_CONSUMED;
	answer = (flags & NA_F_SOLICITED) && addr_is_local(is_local, ctx, &dst);
	count_conflict(conflicts, claim(t, &target, &mac, answer,
					flags & NA_F_OVERRIDE, CLAIM_NA, now));
	return MG_NEIGH_CONSUMED;
}

static enum mg_neigh_result
nd_input(struct mg_neigh_table *t, struct rte_mbuf *m,
	 const struct mg_pkt_info *info, const struct rte_ether_addr *port_mac,
	 mg_neigh_is_local_t is_local, void *ctx, uint64_t now,
	 uint64_t *conflicts)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	const struct rte_ipv6_hdr *ip6 =
		(const struct rte_ipv6_hdr *)(p + info->l3_off);
	const uint8_t *icmp = p + info->l4_off;
	uint32_t len =
		(uint32_t)info->payload_off - info->l4_off + info->payload_len;
	struct nd_lla lla;

	if (icmp[0] != ND_NS && icmp[0] != ND_NA)
		return MG_NEIGH_NOT_NEIGH;

	/*
	 * RFC 4861 7.1: hop limit 255 proves the sender is on the link;
	 * anything that fails a check is dropped without being looked at.
	 */
	if (ip6->hop_limits != ND_HOPLIMIT || icmp[1] != 0 || len < ND_HDR ||
	    !icmp6_cksum_ok(m, ip6, icmp, len) ||
	    !nd_options(icmp + ND_HDR, len - ND_HDR, &lla) ||
	    ipv6_is_multicast(icmp + ND_TARGET_OFF))
		return MG_NEIGH_CONSUMED;

	if (icmp[0] == ND_NS)
		return ns_input(t, m, info, ip6, icmp, &lla, port_mac, is_local,
				ctx, now, conflicts);
	return na_input(t, ip6, icmp, &lla, is_local, ctx, now, conflicts);
}

enum mg_neigh_result
mg_neigh_input(struct mg_neigh_table *t, struct rte_mbuf *m,
	       const struct mg_pkt_info *info,
	       const struct rte_ether_addr *port_mac,
	       mg_neigh_is_local_t is_local, void *ctx, uint64_t now,
	       uint64_t *conflicts)
{
	if (info->l3 == MG_L3_ARP)
		return arp_input(t, m, info, port_mac, is_local, ctx, now,
				 conflicts);
	/* RFC 6980 5: neighbour discovery in a fragment, or reassembled
	 * from fragments (a chain), is not neighbour discovery */
	if (info->l3 == MG_L3_IPV6 && info->tuple.proto == IPPROTO_ICMPV6 &&
	    info->frag == 0 && m->nb_segs == 1)
		return nd_input(t, m, info, port_mac, is_local, ctx, now,
				conflicts);
	return MG_NEIGH_NOT_NEIGH;
}

/* ---- echo ---- */

/*
 * Requests from a group, broadcast or unspecified source are not answered:
 * the gateway must not be a reflector.
 */
static bool
echo4_reply(struct rte_mbuf *m, const struct mg_pkt_info *info,
	    const struct rte_ether_addr *port_mac)
{
	uint8_t *eth = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + info->l3_off);
	uint8_t *icmp = eth + info->l4_off;
	const uint8_t *src = (const uint8_t *)&ip->src_addr;
	rte_be32_t addr;

	if (icmp[0] != RTE_IP_ICMP_ECHO_REQUEST || icmp[1] != 0)
		return false;
	/* 0.0.0.0, and 224.0.0.0 up: multicast, reserved, broadcast. */
	if (ipv4_is_unspecified(src) || src[0] >= 224 ||
	    !mac_is_station(eth + ETH_SRC_OFF))
		return false;

	eth_write(eth, eth + ETH_SRC_OFF, port_mac);
	addr = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = addr;
	ip->time_to_live = ECHO_TTL;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	/* Swapping addresses leaves every sum unchanged; only the type moves.
	 */
	icmp_set_type(icmp, RTE_IP_ICMP_ECHO_REPLY);
	return true;
}

/*
 * Requests with extension headers are not answered: a routing header's
 * reply would need rebuilding, and pings carry none in practice.
 */
static bool
echo6_reply(struct rte_mbuf *m, const struct mg_pkt_info *info,
	    const struct rte_ether_addr *port_mac)
{
	uint8_t *eth = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + info->l3_off);
	uint8_t *icmp = eth + info->l4_off;
	uint8_t addr[IPV6_LEN];

	if (info->l4_off != info->l3_off + IPV6_HDR)
		return false;
	if (icmp[0] != MG_ICMP6_ECHO_REQUEST || icmp[1] != 0)
		return false;
	if (ipv6_is_unspecified(ip6->src_addr) ||
	    ipv6_is_multicast(ip6->src_addr) ||
	    !mac_is_station(eth + ETH_SRC_OFF))
		return false;

	eth_write(eth, eth + ETH_SRC_OFF, port_mac);
	memcpy(addr, ip6->src_addr, sizeof(addr));
	memcpy(ip6->src_addr, ip6->dst_addr, sizeof(addr));
	memcpy(ip6->dst_addr, addr, sizeof(addr));
	ip6->hop_limits = ECHO_TTL;
	/*
	 * The pseudo-header sum survives the swap, so patching the type is
	 * a full recompute in O(1); a corrupt request stays corrupt.
	 */
	icmp_set_type(icmp, MG_ICMP6_ECHO_REPLY);
	return true;
}

bool
mg_neigh_echo_reply(struct rte_mbuf *m, const struct mg_pkt_info *info,
		    const struct rte_ether_addr *port_mac)
{
	/* a fragment's ICMP header may be in another one; a datagram
	 * reassembled has it in its first segment */
	if (info->frag != 0)
		return false;
	if (info->l3 == MG_L3_IPV4 && info->tuple.proto == IPPROTO_ICMP)
		return echo4_reply(m, info, port_mac);
	if (info->l3 == MG_L3_IPV6 && info->tuple.proto == IPPROTO_ICMPV6)
		return echo6_reply(m, info, port_mac);
	return false;
}

/* ---- requests ---- */

static_assert(RTE_ETHER_HDR_LEN + MG_ARP_LEN <= ETH_FRAME_MIN,
	      "an ARP request is padded, never truncated");
static_assert(RTE_ETHER_HDR_LEN + IPV6_HDR + ND_MSG >= ETH_FRAME_MIN,
	      "an NS needs no padding");

static void
arp_request_write(uint8_t *eth, const struct rte_ether_addr *port_mac,
		  const uint8_t *spa, const uint8_t *tpa)
{
	uint8_t *arp = eth + RTE_ETHER_HDR_LEN;
	struct rte_ether_addr bcast;

	memset(&bcast, 0xff, sizeof(bcast));
	eth_write(eth, &bcast, port_mac);
	store_be16(eth + 12, RTE_ETHER_TYPE_ARP);
	store_be16(arp, RTE_ARP_HRD_ETHER);
	store_be16(arp + 2, MG_ARP_PTYPE_IPV4);
	arp[4] = RTE_ETHER_ADDR_LEN;
	arp[5] = IPV4_LEN;
	store_be16(arp + ARP_OP_OFF, RTE_ARP_OP_REQUEST);
	memcpy(arp + ARP_SHA_OFF, port_mac, RTE_ETHER_ADDR_LEN);
	memcpy(arp + ARP_SPA_OFF, spa, IPV4_LEN);
	memcpy(arp + ARP_TPA_OFF, tpa, IPV4_LEN);
}

/* To the target's solicited-node group (RFC 4861 7.2.2, RFC 2464 7). */
static void
ns_request_write(uint8_t *eth, const struct rte_ether_addr *port_mac,
		 const uint8_t *src, const uint8_t *target)
{
	uint8_t dst_mac[RTE_ETHER_ADDR_LEN] = { 0x33, 0x33, 0xff };
	uint8_t dst[IPV6_LEN];

	memcpy(dst, snm_prefix, sizeof(snm_prefix));
	memcpy(dst + 13, target + 13, 3);
	memcpy(dst_mac + 3, target + 13, 3);
	eth_write(eth, dst_mac, port_mac);
	store_be16(eth + 12, RTE_ETHER_TYPE_IPV6);
	nd_write(eth + RTE_ETHER_HDR_LEN, src, dst, ND_NS, 0, target,
		 ND_OPT_SLLA, port_mac);
}

struct rte_mbuf *
mg_neigh_request(struct mg_neigh_table *t, struct rte_mempool *mp,
		 const struct rte_ether_addr *port_mac,
		 const struct mg_addr *src, const struct mg_addr *target,
		 uint64_t now, uint64_t until)
{
	struct rte_mbuf *m;
	uint16_t len, l3_len;
	uint8_t *p;
	int ret;

	if (src->family != target->family ||
	    (src->family != 4 && src->family != 6)) {
		rte_errno = EINVAL;
		return NULL;
	}
	if (src->family == 4) {
		len = ETH_FRAME_MIN;
		l3_len = MG_ARP_LEN;
	} else {
		len = RTE_ETHER_HDR_LEN + IPV6_HDR + ND_MSG;
		l3_len = IPV6_HDR;
	}

	m = rte_pktmbuf_alloc(mp);
	if (m == NULL) {
		rte_errno = ENOBUFS;
		return NULL;
	}
	p = (uint8_t *)rte_pktmbuf_append(m, len);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		rte_errno = ENOBUFS;
		return NULL;
	}
	memset(p, 0, len);
	if (src->family == 4)
		arp_request_write(p, port_mac, src->bytes, target->bytes);
	else
		ns_request_write(p, port_mac, src->bytes, target->bytes);
	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = l3_len;
	m->l4_len = src->family == 4 ? 0 : ICMP_HDR;
	/* recorded only once there is a request to send: an answer to
	 * one never sent must not be taken */
	ret = mg_neigh_solicit(t, target, now, until);
	if (ret < 0) {
		rte_pktmbuf_free(m);
		rte_errno = -ret;
		return NULL;
	}
	return m;
}

/* ---- pending queue ---- */

bool
mg_neigh_pending_has(const struct mg_neigh_pending *q,
		     const struct mg_addr *next_hop)
{
	uint32_t i;

	for (i = 0; i < q->count; i++)
		if (q->slot[i].next_hop.family == next_hop->family &&
		    memcmp(q->slot[i].next_hop.bytes, next_hop->bytes,
			   sizeof(next_hop->bytes)) == 0)
			return true;
	return false;
}

int
mg_neigh_park(struct mg_neigh_pending *q, struct rte_mbuf *m,
	      const struct mg_addr *next_hop, uint8_t port, uint64_t deadline,
	      uint64_t tag)
{
	struct mg_neigh_parked *s;

	if (q->count >= MG_NEIGH_PENDING_MAX)
		return -ENOSPC;
	s = &q->slot[q->count];
	s->m = m;
	s->next_hop = *next_hop;
	s->deadline = deadline;
	s->tag = tag;
	s->port = port;
	q->count++;
	return 0;
}

/*
 * Survivors are compacted towards the head in their original order. The
 * worker's @send may park again into @q (a packet re-routed to a next hop
 * still unknown): such packets land behind the batch being walked and are
 * moved down after it. It must not run or flush @q.
 */
unsigned int
mg_neigh_pending_run(struct mg_neigh_pending *q, struct mg_neigh_table *t,
		     uint64_t now, mg_neigh_release_t send, void *ctx)
{
	uint32_t n = q->count, kept = 0, added, i;
	struct rte_ether_addr mac;

	for (i = 0; i < n; i++) {
		struct mg_neigh_parked s = q->slot[i];

		if (mg_neigh_lookup(t, &s.next_hop, now, &mac))
			send(ctx, s.m, s.port, &mac, s.tag);
		else if (now > s.deadline)
			send(ctx, s.m, s.port, NULL, s.tag);
		else
			q->slot[kept++] = s;
	}
	added = q->count - n;
	for (i = 0; i < added; i++)
		q->slot[kept + i] = q->slot[n + i];
	q->count = kept + added;
	return n - kept;
}

void
mg_neigh_pending_flush(struct mg_neigh_pending *q)
{
	uint32_t i;

	for (i = 0; i < q->count; i++)
		rte_pktmbuf_free(q->slot[i].m);
	q->count = 0;
}
