/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* lib/esp internals shared by the control plane (mg_esp.c) and the data
 * path (esp_data.c). */

#ifndef ESP_PRIVATE_H
#define ESP_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_crypto.h>
#include <rte_ether.h>
#include <rte_log.h>
#include <rte_rib.h>
#include <rte_rib6.h>
/* rte_ipsec.h brings rte_ipsec_group.h, whose rte_ipsec_pkt_crypto_group()
 * has a variable-length array; lib/esp does not call it (it groups
 * completed operations itself, with fixed arrays). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvla"
#include <rte_ipsec.h>
#pragma GCC diagnostic pop

#include "mg_esp.h"

extern int mg_logtype_esp;
#define ESP_LOG(level, fmt, ...)                                               \
	rte_log(RTE_LOG_##level, mg_logtype_esp, "mg.esp: " fmt "\n",          \
		##__VA_ARGS__)

#define ESP_DEV_NAME "crypto_aesni_mb_mg"
/* The GCM nonce librte_ipsec fills sits in each operation's private
 * area, right after the symmetric operation (as ipsec-secgw has it). */
#define ESP_IV_OFFSET                                                          \
	(sizeof(struct rte_crypto_op) + sizeof(struct rte_crypto_sym_op))
#define ESP_ICV_LEN    16 /* RFC 4106: 16-byte ICV */
#define ESP_GCM_IV_LEN 12 /* salt and the 8-byte IV */
#define ESP_IV_LEN     8
/* Packets a worker stages per direction before it must flush. */
#define ESP_STAGE 256
/* Operations dequeued per poll. */
#define ESP_DEQ_BURST 64
/* With CPU crypto: operations finished synchronously that a poll has
 * yet to complete (what the queue pair holds otherwise). */
#define ESP_DONE   2048
#define ESP_L2_MAX (RTE_ETHER_HDR_LEN + MG_PKT_MAX_VLANS * RTE_VLAN_HLEN)
/* Peers' routes of one family looked up by a scan up to this many; a
 * trie beyond. */
#define ESP_LINEAR_MAX 16
/* Minimum ESP payload: header, IV, the smallest padded inner packet (an
 * IPv4 header and the trailer, 4-byte aligned) and the ICV. */
#define ESP_MIN_LEN (MG_ESP_HDR_LEN + ESP_IV_LEN + 24 + ESP_ICV_LEN)

/* What lib/esp counts per SA and per peer, a compact index of the drop
 * reasons that can be told apart there. */
enum esp_drop {
	ESP_D_REQUIRED = 0,
	ESP_D_UNKNOWN_SPI,
	ESP_D_MALFORMED,
	ESP_D_REPLAY,
	ESP_D_OUT_OF_WINDOW,
	ESP_D_BAD_ICV,
	ESP_D_SEQ_EXHAUSTED,
	ESP_D_CRYPTO_FULL,
	ESP_D_WRONG_PEER,
	ESP_D_WRONG_QUEUE,
	ESP_D_NO_ROUTE,
	ESP_D_MTU_EXCEEDED,
	ESP_D_MAX
};

/* The private area of an operation. */
struct esp_op_priv {
	uint8_t iv[16]; /* at ESP_IV_OFFSET, for librte_ipsec */
};

enum esp_state {
	ESP_LIVE = 0, /* in a set, or lingering */
	ESP_RETIRING, /* waiting for the grace period and the drain */
	ESP_DEAD,     /* session freed, key zeroised */
};

/* Counters of one SA slot on one worker (single writer). */
struct esp_sa_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t requested; /* outbound: sequence numbers reserved */
	uint64_t drops[ESP_D_MAX];
};

struct esp_peer_stats {
	uint64_t drops[ESP_D_MAX];
};

/* One SA. The registry owns it; sets hold references. Workers read the
 * first part; the control plane alone writes the rest. */
struct mg_esp_sa {
	struct rte_ipsec_session ss; /* ss.sa, the crypto session */
	uint32_t spi;		     /* host order */
	uint16_t slot;		     /* counters, key store */
	uint16_t peer;		     /* peer id */
	bool inbound;
	bool esn;
	bool udp_encap;
	uint8_t family;	   /* outer */
	uint16_t overhead; /* outbound: most bytes ESP adds to a packet */
	uint16_t remote_port;
	uint32_t window;
	uint32_t lib_window;  /* inbound: librte_ipsec's (sa_create()),
			       * what ESN high bits are reconstructed by */
	uint64_t iv_mask;     /* outbound: IV = sequence number ^ this */
	uint32_t cksum_base;  /* outbound IPv4: the tunnel header's 16-bit
			       * words summed, but for its length and id
			       * (the fields librte_ipsec writes) */
	uint64_t seq_start;   /* outbound: the first sequence number */
	uint64_t seq_max;     /* outbound: the last one usable */
	uint32_t owner;	      /* inbound: worker owning its window */
	uint64_t top;	      /* inbound: highest authenticated sequence
			       * number, written by the owner only (our
			       * window's top, esp_data.c) */
	uint64_t *seen;	      /* inbound: the numbers taken, one bit each
			       * (RFC 6479 blocks of 64), by the owner */
	uint32_t seen_mask;   /* blocks - 1 */
	bool stopped;	      /* outbound: sequence numbers exhausted */
	uint8_t algo;	      /* enum mg_esp_algo */
	uint8_t key_len;      /* key and salt */
	enum esp_state state; /* control plane */
	unsigned int refs;    /* sets holding it */
	bool stop_logged;
	bool grace_done;
	uint64_t token;	 /* RCU token when it began retiring */
	uint64_t *drain; /* per worker: operations enqueued then */
	char peer_name[MG_CONF_PEER_NAME_LEN];
	struct mg_addr local, remote;
	struct esp_sa_stats base; /* the slot's counters when created */
	struct rte_ipsec_sa *sa;
	void *ses;
} __rte_cache_aligned;

/* A peer in a set. */
struct esp_peer {
	uint16_t id;	   /* stable */
	uint16_t identity; /* in the config it was built from */
	bool udp_encap;
	uint16_t remote_port;
	struct mg_addr local, remote;
	struct mg_esp_sa *out;
	char name[MG_CONF_PEER_NAME_LEN];
};

/* An accepted inbound SPI. */
struct esp_in {
	uint32_t spi;  /* 0: empty slot */
	uint16_t peer; /* index into the set's peers */
	struct mg_esp_sa *sa;
	uint64_t until; /* TSC it stops being accepted; UINT64_MAX: never */
};

struct esp_route4 {
	uint32_t net, mask; /* host order */
	uint8_t len;
	uint16_t peer; /* index + 1 */
};

struct esp_route6 {
	uint8_t net[16];
	uint8_t len;
	uint16_t peer; /* index + 1 */
};

struct mg_esp_set {
	struct mg_esp *esp;
	unsigned int n_peers;
	struct esp_peer peers[MG_CONF_MAX_PEERS];
	int16_t peer_index[MG_ESP_MAX_PEER_IDS + 1]; /* id -> index, -1 */
	uint32_t in_mask;			     /* in[] size - 1 */
	struct esp_in *in;
	unsigned int n_local; /* tunnel endpoints, distinct */
	struct mg_addr local[MG_CONF_MAX_PEERS];
	/* routes: a scan of n4/n6 entries, or a trie (next hop = peer
	 * index + 1) beyond ESP_LINEAR_MAX */
	unsigned int n4, n6;
	struct esp_route4 *r4;
	struct esp_route6 *r6;
	struct rte_rib *rib4;
	struct rte_rib6 *rib6;
	unsigned int n_sas; /* references held */
	struct mg_esp_sa *sas[MG_ESP_MAX_SAS];
};

struct mg_esp {
	uint8_t dev_id;
	bool dev_started;
	bool cpu_crypto; /* rte_cryptodev_sym_cpu_crypto_process() */
	unsigned int n_workers;
	int socket;
	uint64_t tsc_hz;
	struct rte_rcu_qsbr *qsv;
	struct rte_mempool *op_pool;
	struct rte_mempool *sess_pool;
	struct mg_esp_marks marks;
	/* keys: MG_ESP_MAX_SAS slots of MG_CONF_MAX_KEY_LEN, locked */
	uint8_t *keys;
	size_t keys_bytes;
	struct mg_esp_sa *sas[MG_ESP_MAX_SAS]; /* by slot */
	char peer_names[MG_ESP_MAX_PEER_IDS][MG_CONF_PEER_NAME_LEN];
	unsigned int n_peer_ids;
	/* the set in force, for telemetry and expiry; guarded by lock
	 * against the telemetry threads */
	const struct mg_esp_set *current;
	pthread_mutex_t lock;
	struct mg_esp_worker *workers[RTE_MAX_LCORE]; /* by rank */
};

/* A packet staged for encryption or decryption. */
struct esp_staged {
	struct rte_mbuf *m;
	struct mg_esp_sa *sa;
};

struct mg_esp_worker {
	struct mg_esp *esp;
	unsigned int rank; /* queue pair */
	uint8_t dev_id;
	struct mg_esp_marks marks;
	struct rte_mempool *op_pool;
	struct mg_lcore_stats *stats;
	bool cpu_crypto;
	uint16_t n_in, n_out;
	struct esp_staged in[ESP_STAGE];
	struct esp_staged out[ESP_STAGE];
	uint8_t l2[ESP_STAGE][ESP_L2_MAX]; /* outbound L2 headers, staged */
	/* drain: operations enqueued and dequeued, ever (single writer) */
	uint64_t enqueued;
	uint64_t dequeued;
	/* CPU crypto: operations finished at enqueue, in order; the ring's
	 * positions are enqueued and dequeued (mod ESP_DONE) */
	struct rte_crypto_op *done[ESP_DONE];
	struct esp_sa_stats sa[MG_ESP_MAX_SAS];
	struct esp_peer_stats peer[MG_ESP_MAX_PEER_IDS + 1];
} __rte_cache_aligned;

static inline struct mg_esp_mbuf *
esp_mbuf(const struct mg_esp_marks *k, struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, k->offset, struct mg_esp_mbuf *);
}

static inline struct esp_op_priv *
esp_op_priv(struct rte_crypto_op *op)
{
	return (struct esp_op_priv *)((uint8_t *)op + ESP_IV_OFFSET);
}

/* mg_drop_reason -> enum esp_drop, or ESP_D_MAX. */
enum esp_drop esp_drop_index(enum mg_drop_reason why);
enum mg_drop_reason esp_drop_reason(enum esp_drop d);

/* The SA of an inbound SPI in @p set, or NULL. */
const struct esp_in *esp_in_lookup(const struct mg_esp_set *set, uint32_t spi);

/* The peer index + 1 whose routes hold @p addr (family, bytes), or 0. */
uint16_t esp_route_lookup(const struct mg_esp_set *set, uint8_t family,
			  const uint8_t *addr);

#endif /* ESP_PRIVATE_H */
