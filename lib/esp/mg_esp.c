/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The control plane of lib/esp: the crypto_aesni_mb cryptodev, the key
 * store, the registry of SAs and peers, sets built from configs, SA
 * retirement and telemetry. SAs are librte_ipsec's (rte_ipsec_sa_init,
 * rte_ipsec_session_prepare) over cryptodev sessions; nothing of ESP is
 * written by hand here.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_memory.h>
#include <rte_udp.h>

#include "esp_private.h"
#include "mg_base.h"

RTE_LOG_REGISTER(mg_logtype_esp, mg.esp, INFO);

/* Sessions: every SA slot, one scratch. */
#define SESS_POOL (MG_ESP_MAX_SAS + 1)
/* For the memory estimate, without a device: a session's header
 * (struct rte_cryptodev_sym_session, two cache lines), crypto_aesni_mb's
 * private data and the pool's private data, as DPDK 22.11 has them;
 * what the PMD allocates per queue pair besides its ring, its IMB_MGR
 * mostly (about 450 KiB measured with DPDK 22.11 and IPsec-MB 1.3,
 * tests/unit/test_esp.c holds the estimate to it). */
#define SESS_HEADER_BYTES    64
#define SESS_PRIV_BYTES	     1408
#define SESS_POOL_PRIV_BYTES 64
#define QP_PMD_BYTES	     (464 * 1024)
/* Operations a worker may hold at once: its queue pair full, both
 * staging areas and a dequeued burst; and the pool's per-lcore cache. */
#define OPS_PER_WORKER(depth) ((depth) + 2 * ESP_STAGE + ESP_DEQ_BURST)
#define OP_CACHE	      64

static const enum mg_drop_reason drop_reasons[ESP_D_MAX] = {
	[ESP_D_REQUIRED] = MG_DROP_ESP_REQUIRED,
	[ESP_D_UNKNOWN_SPI] = MG_DROP_ESP_UNKNOWN_SPI,
	[ESP_D_MALFORMED] = MG_DROP_ESP_MALFORMED,
	[ESP_D_REPLAY] = MG_DROP_ESP_REPLAY,
	[ESP_D_OUT_OF_WINDOW] = MG_DROP_ESP_OUT_OF_WINDOW,
	[ESP_D_BAD_ICV] = MG_DROP_ESP_BAD_ICV,
	[ESP_D_SEQ_EXHAUSTED] = MG_DROP_ESP_SEQ_EXHAUSTED,
	[ESP_D_CRYPTO_FULL] = MG_DROP_ESP_CRYPTO_FULL,
	[ESP_D_WRONG_PEER] = MG_DROP_ESP_WRONG_PEER,
	[ESP_D_WRONG_QUEUE] = MG_DROP_ESP_WRONG_QUEUE,
	[ESP_D_NO_ROUTE] = MG_DROP_NO_ROUTE,
	[ESP_D_MTU_EXCEEDED] = MG_DROP_MTU_EXCEEDED,
};

enum esp_drop
esp_drop_index(enum mg_drop_reason why)
{
	unsigned int d;

	for (d = 0; d < ESP_D_MAX; d++)
		if (drop_reasons[d] == why)
			return (enum esp_drop)d;
	return ESP_D_MAX;
}

enum mg_drop_reason
esp_drop_reason(enum esp_drop d)
{
	return d < ESP_D_MAX ? drop_reasons[d] : MG_DROP_NONE;
}

/* ---- marks ---- */

static int
register_marks(struct mg_esp_marks *k)
{
	static const struct rte_mbuf_dynfield field = {
		.name = "mg_esp_peer",
		.size = sizeof(struct mg_esp_mbuf),
		.align = __alignof__(struct mg_esp_mbuf),
	};
	int off, decap, encap;

	off = rte_mbuf_dynfield_register(&field);
	decap = rte_mbuf_dynflag_register(
		&(const struct rte_mbuf_dynflag){ .name = "mg_esp_decap" });
	encap = rte_mbuf_dynflag_register(
		&(const struct rte_mbuf_dynflag){ .name = "mg_esp_encap" });
	if (off < 0 || decap < 0 || encap < 0)
		return -rte_errno;
	k->offset = off;
	k->decap = UINT64_C(1) << decap;
	k->encap = UINT64_C(1) << encap;
	return 0;
}

struct mg_esp_marks
mg_esp_marks(const struct mg_esp *esp)
{
	struct mg_esp_marks none = { 0 };

	return esp != NULL ? esp->marks : none;
}

/* ---- memory that holds keys ---- */

/* Keys live in pages of their own: locked (never swapped), left out of
 * core dumps. */
static int
keys_alloc(struct mg_esp *esp)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = (MG_ESP_MAX_SAS + 1) * (size_t)MG_CONF_MAX_KEY_LEN;
	void *p;

	bytes = RTE_ALIGN_CEIL(bytes, page);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	if (madvise(p, bytes, MADV_DONTDUMP) != 0 || mlock(p, bytes) != 0) {
		int e = errno;

		ESP_LOG(ERR,
			"cannot lock the key store (%zu bytes) in memory: %s "
			"(raise RLIMIT_MEMLOCK, ulimit -l)",
			bytes, strerror(e));
		munmap(p, bytes);
		return -EPERM;
	}
	esp->keys = p;
	esp->keys_bytes = bytes;
	return 0;
}

static void
keys_free(struct mg_esp *esp)
{
	if (esp->keys == NULL)
		return;
	explicit_bzero(esp->keys, esp->keys_bytes);
	munlock(esp->keys, esp->keys_bytes);
	munmap(esp->keys, esp->keys_bytes);
	esp->keys = NULL;
}

static uint8_t *
key_of(const struct mg_esp *esp, unsigned int slot)
{
	return esp->keys + (size_t)slot * MG_CONF_MAX_KEY_LEN;
}

/* The session pool holds expanded keys: lock its memory and leave it
 * out of core dumps too, in whole pages of its memory segment. */
static void
protect_chunk(struct rte_mempool *mp __rte_unused, void *opaque,
	      struct rte_mempool_memhdr *memhdr, unsigned int idx __rte_unused)
{
	const struct rte_memseg_list *msl =
		rte_mem_virt2memseg_list(memhdr->addr);
	size_t page =
		msl != NULL ? msl->page_sz : (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = RTE_ALIGN_FLOOR((uintptr_t)memhdr->addr, page);
	uintptr_t hi =
		RTE_ALIGN_CEIL((uintptr_t)memhdr->addr + memhdr->len, page);
	int *failed = opaque;

	if (madvise((void *)lo, hi - lo, MADV_DONTDUMP) != 0 ||
	    mlock((void *)lo, hi - lo) != 0)
		*failed = errno;
}

/* ---- the device ---- */

static int
device_create(struct mg_esp *esp, uint32_t depth, bool queue_pairs_only)
{
	const struct rte_cryptodev_sym_capability_idx cap = {
		.type = RTE_CRYPTO_SYM_XFORM_AEAD,
		.algo.aead = RTE_CRYPTO_AEAD_AES_GCM,
	};
	struct rte_cryptodev_config cfg = {
		.socket_id = esp->socket,
		.nb_queue_pairs = (uint16_t)esp->n_workers,
		.ff_disable = RTE_CRYPTODEV_FF_ASYMMETRIC_CRYPTO |
			      RTE_CRYPTODEV_FF_SECURITY,
	};
	struct rte_cryptodev_qp_conf qp = { .nb_descriptors = depth };
	const struct rte_cryptodev_symmetric_capability *c;
	struct rte_cryptodev_info info;
	char args[64];
	unsigned int q;
	int id, rc, failed = 0;

	snprintf(args, sizeof(args), "max_nb_queue_pairs=%u,socket_id=%d",
		 esp->n_workers, esp->socket < 0 ? 0 : esp->socket);
	rc = rte_vdev_init(ESP_DEV_NAME, args);
	if (rc != 0) {
		ESP_LOG(ERR,
			"cannot create the %s cryptodev (Intel IPsec-MB): %s",
			ESP_DEV_NAME, rte_strerror(-rc));
		return rc < 0 ? rc : -ENODEV;
	}
	id = rte_cryptodev_get_dev_id(ESP_DEV_NAME);
	if (id < 0)
		return -ENODEV;
	esp->dev_id = (uint8_t)id;
	c = rte_cryptodev_sym_capability_get(esp->dev_id, &cap);
	if (c == NULL ||
	    rte_cryptodev_sym_capability_check_aead(c, 16, ESP_ICV_LEN, 8,
						    ESP_GCM_IV_LEN) != 0 ||
	    rte_cryptodev_sym_capability_check_aead(c, 32, ESP_ICV_LEN, 12,
						    ESP_GCM_IV_LEN) != 0) {
		ESP_LOG(ERR, "%s lacks AES-GCM with 128- and 256-bit keys",
			ESP_DEV_NAME);
		return -ENOTSUP;
	}
	/* where the PMD can work on the caller's core, no queue pair round
	 * trip: the worker encrypts and decrypts its bursts itself */
	rte_cryptodev_info_get(esp->dev_id, &info);
	esp->cpu_crypto =
		!queue_pairs_only &&
		(info.feature_flags & RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO);
	rc = rte_cryptodev_configure(esp->dev_id, &cfg);
	if (rc < 0)
		return rc;
	esp->sess_pool = rte_cryptodev_sym_session_pool_create(
		"mg_esp_sess", SESS_POOL,
		rte_cryptodev_sym_get_private_session_size(esp->dev_id), 0, 0,
		esp->socket);
	if (esp->sess_pool == NULL)
		return -ENOMEM;
	rte_mempool_mem_iter(esp->sess_pool, protect_chunk, &failed);
	if (failed != 0) {
		ESP_LOG(ERR,
			"cannot lock the crypto session pool in memory: %s "
			"(raise RLIMIT_MEMLOCK, ulimit -l)",
			strerror(failed));
		return -EPERM;
	}
	qp.mp_session = esp->sess_pool;
	for (q = 0; q < esp->n_workers; q++) {
		rc = rte_cryptodev_queue_pair_setup(esp->dev_id, (uint16_t)q,
						    &qp, esp->socket);
		if (rc < 0)
			return rc;
	}
	rc = rte_cryptodev_start(esp->dev_id);
	if (rc < 0)
		return rc;
	esp->dev_started = true;
	return 0;
}

/* rte_mempool_create(): objects (each within a page unless they are
 * small), the ring, the header with a cache per possible lcore. */
static size_t
mempool_bytes(uint32_t n, size_t elt, uint32_t cache, size_t priv)
{
	struct rte_mempool_objsz sz;
	size_t obj = rte_mempool_calc_obj_size((uint32_t)elt, 0, &sz);

	return n * obj + rte_ring_get_memsize(rte_align32pow2(n + 1)) +
	       RTE_ALIGN_CEIL(RTE_MEMPOOL_HEADER_SIZE(
				      (struct rte_mempool *)NULL, cache) +
				      priv,
			      RTE_CACHE_LINE_SIZE);
}

size_t
mg_esp_memsize(unsigned int n_workers, uint32_t qp_depth)
{
	size_t ops = mempool_bytes(n_workers * OPS_PER_WORKER(qp_depth),
				   ESP_IV_OFFSET + sizeof(struct esp_op_priv),
				   OP_CACHE,
				   sizeof(struct rte_crypto_op_pool_private));
	size_t sessions =
		mempool_bytes(SESS_POOL, SESS_HEADER_BYTES + SESS_PRIV_BYTES, 0,
			      SESS_POOL_PRIV_BYTES);

	return sizeof(struct mg_esp) + ops + sessions +
	       n_workers * (sizeof(struct mg_esp_worker) +
			    rte_ring_get_memsize(rte_align32pow2(qp_depth)) +
			    QP_PMD_BYTES);
}

struct mg_esp *
mg_esp_create(const struct mg_esp_params *p)
{
	struct mg_esp *esp;
	char name[RTE_MEMPOOL_NAMESIZE];
	int rc;

	if (p->n_workers == 0 || p->n_workers > RTE_MAX_LCORE ||
	    p->qp_depth == 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	esp = rte_zmalloc_socket("mg_esp", sizeof(*esp), RTE_CACHE_LINE_SIZE,
				 p->socket);
	if (esp == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&esp->lock, NULL);
	esp->n_workers = p->n_workers;
	esp->socket = p->socket;
	esp->qsv = p->qsv;
	esp->tsc_hz = p->tsc_hz;
	rc = register_marks(&esp->marks);
	if (rc == 0)
		rc = keys_alloc(esp);
	if (rc == 0)
		rc = device_create(esp, p->qp_depth, p->queue_pairs_only);
	if (rc == 0) {
		snprintf(name, sizeof(name), "mg_esp_ops");
		esp->op_pool = rte_crypto_op_pool_create(
			name, RTE_CRYPTO_OP_TYPE_SYMMETRIC,
			p->n_workers * OPS_PER_WORKER(p->qp_depth), OP_CACHE,
			sizeof(struct esp_op_priv), p->socket);
		if (esp->op_pool == NULL)
			rc = -ENOMEM;
	}
	if (rc != 0) {
		ESP_LOG(ERR, "cannot set up ESP: %s", rte_strerror(-rc));
		mg_esp_free(esp);
		rte_errno = -rc;
		return NULL;
	}
	ESP_LOG(INFO,
		"cryptodev %s (Intel IPsec-MB), %s; keys locked in memory",
		ESP_DEV_NAME,
		esp->cpu_crypto ? "synchronous CPU crypto on each worker"
				: "a queue pair per worker");
	return esp;
}

/* ---- SAs ---- */

/* Free an SA's session and zeroise its key; the object stays until no
 * set holds it. */
static void
sa_clear(struct mg_esp *esp, struct mg_esp_sa *sa)
{
	if (sa->state == ESP_DEAD)
		return;
	/* rte_cryptodev_sym_session_free() zeroes the session's private
	 * data (the expanded key) before the pool takes it back */
	if (sa->ses != NULL)
		rte_cryptodev_sym_session_free(esp->dev_id, sa->ses);
	sa->ses = NULL;
	explicit_bzero(key_of(esp, sa->slot), MG_CONF_MAX_KEY_LEN);
	if (sa->sa != NULL) {
		rte_ipsec_sa_fini(sa->sa);
		rte_free(sa->sa);
	}
	sa->sa = NULL;
	rte_free(sa->seen);
	sa->seen = NULL;
	memset(&sa->ss, 0, sizeof(sa->ss));
	free(sa->drain);
	sa->drain = NULL;
	/* workers check it too, against a TSC that lags the control
	 * plane's (mg_esp_tick()) */
	__atomic_store_n(&sa->state, ESP_DEAD, __ATOMIC_RELEASE);
	esp->sas[sa->slot] = NULL;
}

static void
sa_destroy(struct mg_esp *esp, struct mg_esp_sa *sa)
{
	sa_clear(esp, sa);
	rte_free(sa);
}

/* An SA no set holds (or that a linger let go) starts retiring: workers
 * may still read it until the grace period ends, and operations may
 * still be in flight until they are dequeued. */
static void
sa_retire(struct mg_esp *esp, struct mg_esp_sa *sa)
{
	if (sa->state != ESP_LIVE)
		return;
	sa->state = ESP_RETIRING;
	sa->grace_done = false;
	sa->token = esp->qsv != NULL ? rte_rcu_qsbr_start(esp->qsv) : 0;
}

static int
sa_slot(const struct mg_esp *esp)
{
	unsigned int i;

	for (i = 0; i < MG_ESP_MAX_SAS; i++)
		if (esp->sas[i] == NULL)
			return (int)i;
	return -1;
}

static struct mg_esp_sa *
sa_find(const struct mg_esp *esp, const char *peer, bool inbound, uint32_t spi)
{
	unsigned int i;

	for (i = 0; i < MG_ESP_MAX_SAS; i++) {
		const struct mg_esp_sa *sa = esp->sas[i];

		if (sa != NULL && sa->state == ESP_LIVE && sa->spi == spi &&
		    sa->inbound == inbound && strcmp(sa->peer_name, peer) == 0)
			return esp->sas[i];
	}
	return NULL;
}

/* The counters a slot holds already, so that a new SA in it starts at 0. */
static void
slot_base(const struct mg_esp *esp, unsigned int slot, struct esp_sa_stats *b)
{
	unsigned int w, d;

	memset(b, 0, sizeof(*b));
	for (w = 0; w < esp->n_workers; w++) {
		const struct esp_sa_stats *s;

		if (esp->workers[w] == NULL)
			continue;
		s = &esp->workers[w]->sa[slot];
		b->packets += __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
		b->bytes += __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
		b->requested +=
			__atomic_load_n(&s->requested, __ATOMIC_RELAXED);
		for (d = 0; d < ESP_D_MAX; d++)
			b->drops[d] +=
				__atomic_load_n(&s->drops[d], __ATOMIC_RELAXED);
	}
}

/* The outer header of an outbound SA: IPv4 (DF clear, so that routers
 * may fragment a tunnel packet a path cannot carry) or IPv6, then UDP
 * when encapsulated (librte_ipsec appends it). */
static unsigned int
tunnel_header(const struct mg_peer_conf *pc, uint8_t *hdr)
{
	if (pc->local.family == 4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)hdr;

		memset(ip, 0, sizeof(*ip));
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->time_to_live = 64;
		ip->next_proto_id = pc->udp_encap ? IPPROTO_UDP : IPPROTO_ESP;
		memcpy(&ip->src_addr, pc->local.bytes, 4);
		memcpy(&ip->dst_addr, pc->remote.bytes, 4);
		return sizeof(*ip);
	} else {
		struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)hdr;

		memset(ip6, 0, sizeof(*ip6));
		ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip6->hop_limits = 64;
		ip6->proto = pc->udp_encap ? IPPROTO_UDP : IPPROTO_ESP;
		memcpy(ip6->src_addr, pc->local.bytes, 16);
		memcpy(ip6->dst_addr, pc->remote.bytes, 16);
		return sizeof(*ip6);
	}
}

/* "FILE:" then the message, into the caller's error buffer. */
#define esp_err(err, errlen, conf, fmt, ...)                                   \
	mg_set_err(err, errlen, "%s:" fmt, (conf)->path, ##__VA_ARGS__)

/* The window librte_ipsec keeps for a replay window of @p w: @p w, or
 * just above it where its blocks of 64 (the window's rounded up to a
 * power of two, two at least) are fewer than the window's numbers span,
 * top included; with fewer, a number in the window shares its bit with
 * one right of the top, and fresh packets are refused. Ours is checked
 * besides (esp_data.c), at @p w exactly. */
static uint32_t
lib_window(uint32_t w)
{
	for (;; w++) {
		uint32_t blocks = rte_align32pow2(RTE_MAX((w + 63) / 64, 2u));

		if ((w - 1) / 64 + 2 <= blocks)
			return w;
	}
}

/* Create an SA of peer @p pc from @p sc: key read into the locked
 * store, librte_ipsec SA, cryptodev session. */
static struct mg_esp_sa *
sa_create(struct mg_esp *esp, const struct mg_conf *conf,
	  const struct mg_peer_conf *pc, const struct mg_sa_conf *sc,
	  bool inbound, uint16_t peer_id, char *err, size_t errlen)
{
	struct rte_crypto_sym_xform xf = { .type = RTE_CRYPTO_SYM_XFORM_AEAD };
	struct rte_ipsec_sa_prm prm = { 0 };
	uint8_t hdr[sizeof(struct rte_ipv6_hdr)];
	size_t key_len = mg_conf_esp_key_len(sc->algo);
	struct mg_esp_sa *sa;
	char why[160];
	uint8_t *key;
	int slot, size, rc;

	slot = sa_slot(esp);
	if (slot < 0 || key_len == 0) {
		esp_err(err, errlen, conf,
			"%d: peer '%s': no room for SA 0x%x (%d SAs at once, "
			"lingering and retiring ones included)",
			sc->line, pc->name, sc->spi, MG_ESP_MAX_SAS);
		rte_errno = ENOSPC;
		return NULL;
	}
	sa = rte_zmalloc_socket("mg_esp_sa", sizeof(*sa), RTE_CACHE_LINE_SIZE,
				esp->socket);
	if (sa == NULL) {
		esp_err(err, errlen, conf, "%d: out of memory", sc->line);
		rte_errno = ENOMEM;
		return NULL;
	}
	sa->slot = (uint16_t)slot;
	esp->sas[slot] = sa; /* from here, sa_destroy() undoes all */
	key = key_of(esp, (unsigned int)slot);
	if (mg_conf_key_read(sc->key_file, key, key_len, why, sizeof(why)) !=
	    0) {
		esp_err(err, errlen, conf, "%d: key file '%s' %s", sc->key_line,
			sc->key_file, why);
		goto fail;
	}
	sa->spi = sc->spi;
	sa->peer = peer_id;
	sa->inbound = inbound;
	sa->esn = pc->esn;
	sa->udp_encap = pc->udp_encap;
	sa->family = pc->local.family;
	sa->remote_port = pc->remote_port;
	sa->window = pc->replay_window;
	sa->lib_window = lib_window(pc->replay_window);
	sa->owner = UINT32_MAX;
	sa->algo = sc->algo;
	sa->key_len = (uint8_t)key_len;
	sa->local = pc->local;
	sa->remote = pc->remote;
	snprintf(sa->peer_name, sizeof(sa->peer_name), "%s", pc->name);

	/* RFC 4106: the key material is the key, then a 4-byte salt */
	xf.aead.op = inbound ? RTE_CRYPTO_AEAD_OP_DECRYPT
			     : RTE_CRYPTO_AEAD_OP_ENCRYPT;
	xf.aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
	xf.aead.key.data = key;
	xf.aead.key.length = (uint16_t)(key_len - 4);
	xf.aead.iv.offset = ESP_IV_OFFSET;
	xf.aead.iv.length = ESP_GCM_IV_LEN;
	xf.aead.digest_length = ESP_ICV_LEN;
	xf.aead.aad_length = pc->esn ? 12 : 8;

	prm.userdata = (uintptr_t)sa;
	/* one window, one writer (its owner worker); outbound sequence
	 * numbers are shared by every worker that sends to the peer */
	prm.flags =
		!inbound && esp->n_workers > 1 ? RTE_IPSEC_SAFLAG_SQN_ATOM : 0;
	prm.ipsec_xform.spi = sc->spi;
	memcpy(&prm.ipsec_xform.salt, key + key_len - 4, 4);
	prm.ipsec_xform.proto = RTE_SECURITY_IPSEC_SA_PROTO_ESP;
	prm.ipsec_xform.mode = RTE_SECURITY_IPSEC_SA_MODE_TUNNEL;
	prm.ipsec_xform.direction = inbound ? RTE_SECURITY_IPSEC_SA_DIR_INGRESS
					    : RTE_SECURITY_IPSEC_SA_DIR_EGRESS;
	prm.ipsec_xform.tunnel.type = pc->local.family == 4
					      ? RTE_SECURITY_IPSEC_TUNNEL_IPV4
					      : RTE_SECURITY_IPSEC_TUNNEL_IPV6;
	/* no other option: librte_ipsec writes nothing of the outer
	 * header but its length (and IPv4 id), esp_data.c's checksum
	 * relies on it (copy_dscp, copy_df, dec_ttl and ecn would) */
	prm.ipsec_xform.options.esn = pc->esn;
	prm.ipsec_xform.options.udp_encap = pc->udp_encap && !inbound;
	prm.ipsec_xform.udp.sport = MG_ESP_NATT_PORT;
	prm.ipsec_xform.udp.dport = pc->remote_port;
	prm.ipsec_xform.replay_win_sz = inbound ? sa->lib_window : 0;
	prm.ipsec_xform.esn.value = inbound ? 0 : sc->initial_seq;
	prm.crypto_xform = &xf;
	/* The ESP trailer's next header says the inner family; librte_ipsec
	 * binds an SA to one (tun.next_proto). Every SA here says IPv4, and
	 * esp_data.c writes IPPROTO_IPV6 into the trailer of an IPv6 inner
	 * packet before encryption, and reads it back (after the ICV was
	 * checked) before rte_ipsec_pkt_process() checks it: one SA carries
	 * both families, as Linux's do. */
	prm.tun.next_proto = IPPROTO_IPIP;
	prm.tun.hdr_l3_off = 0;
	prm.tun.hdr_len = (uint8_t)tunnel_header(pc, hdr);
	if (pc->local.family == 4) {
		unsigned int i;

		/* length, id and checksum are 0 in the template */
		for (i = 0; i < sizeof(struct rte_ipv4_hdr); i += 2)
			sa->cksum_base +=
				*(const unaligned_uint16_t *)(hdr + i);
	}
	prm.tun.hdr = hdr;
	size = rte_ipsec_sa_size(&prm);
	if (size < 0) {
		esp_err(err, errlen, conf, "%d: SA 0x%x refused: %s", sc->line,
			sc->spi, rte_strerror(-size));
		goto fail;
	}
	if (inbound) {
		/* esp_data.c's own window: enough blocks of 64 for any W
		 * consecutive numbers, a power of two */
		uint32_t blocks = rte_align32pow2(
			(uint32_t)(RTE_ALIGN_CEIL(pc->replay_window, 64) / 64 +
				   1));

		sa->seen = rte_zmalloc_socket("mg_esp_window",
					      blocks * sizeof(uint64_t),
					      RTE_CACHE_LINE_SIZE, esp->socket);
		if (sa->seen == NULL) {
			esp_err(err, errlen, conf, "%d: out of memory",
				sc->line);
			goto fail;
		}
		sa->seen_mask = blocks - 1;
	}
	sa->sa = rte_zmalloc_socket("mg_ipsec_sa", (size_t)size,
				    RTE_CACHE_LINE_SIZE, esp->socket);
	if (sa->sa == NULL ||
	    (rc = rte_ipsec_sa_init(sa->sa, &prm, (uint32_t)size)) < 0) {
		esp_err(err, errlen, conf, "%d: cannot set up SA 0x%x: %s",
			sc->line, sc->spi,
			sa->sa == NULL ? "out of memory" : rte_strerror(-rc));
		goto fail;
	}
	sa->ses = rte_cryptodev_sym_session_create(esp->dev_id, &xf,
						   esp->sess_pool);
	if (sa->ses == NULL) {
		esp_err(err, errlen, conf,
			"%d: cannot create the crypto session of SA 0x%x: %s",
			sc->line, sc->spi, rte_strerror(rte_errno));
		goto fail;
	}
	rte_cryptodev_sym_session_opaque_data_set(sa->ses, (uintptr_t)sa);
	sa->ss.sa = sa->sa;
	sa->ss.type = RTE_SECURITY_ACTION_TYPE_NONE;
	sa->ss.crypto.ses = sa->ses;
	sa->ss.crypto.dev_id = esp->dev_id;
	rc = rte_ipsec_session_prepare(&sa->ss);
	if (rc != 0) {
		esp_err(err, errlen, conf, "%d: SA 0x%x: %s", sc->line, sc->spi,
			rte_strerror(-rc));
		goto fail;
	}
	/* outbound: IVs are the sequence number XOR this (as Linux's
	 * seqiv), so a restart that reuses a key never reuses an IV */
	if (!inbound && getrandom(&sa->iv_mask, sizeof(sa->iv_mask), 0) !=
				sizeof(sa->iv_mask)) {
		esp_err(err, errlen, conf, "%d: no random bytes: %s", sc->line,
			strerror(errno));
		goto fail;
	}
	sa->seq_start = sc->initial_seq;
	sa->seq_max = pc->esn ? UINT64_MAX - 1 : UINT32_MAX - 1;
	sa->overhead =
		(uint16_t)(prm.tun.hdr_len +
			   (pc->udp_encap ? sizeof(struct rte_udp_hdr) : 0) +
			   MG_ESP_HDR_LEN + ESP_IV_LEN + 3 + 2 + ESP_ICV_LEN);
	slot_base(esp, (unsigned int)slot, &sa->base);
	sa->state = ESP_LIVE;
	return sa;
fail:
	sa_destroy(esp, sa);
	rte_errno = EINVAL;
	return NULL;
}

/* Whether an SA that keeps its SPI may stay the same object: the same
 * key (read now, into the store's scratch slot, then zeroised), and for
 * an outbound one the same tunnel. */
static bool
sa_compatible(struct mg_esp *esp, const struct mg_conf *conf,
	      const struct mg_peer_conf *pc, const struct mg_sa_conf *sc,
	      const struct mg_esp_sa *sa, char *err, size_t errlen)
{
	uint8_t *scratch = key_of(esp, MG_ESP_MAX_SAS);
	size_t key_len = mg_conf_esp_key_len(sc->algo);
	const char *what = NULL;
	char why[160];
	bool same_key;

	if (mg_conf_key_read(sc->key_file, scratch, key_len, why,
			     sizeof(why)) != 0) {
		esp_err(err, errlen, conf, "%d: key file '%s' %s", sc->key_line,
			sc->key_file, why);
		return false;
	}
	same_key = key_len == sa->key_len &&
		   memcmp(scratch, key_of(esp, sa->slot), key_len) == 0;
	explicit_bzero(scratch, MG_CONF_MAX_KEY_LEN);
	if (sc->algo != sa->algo)
		what = "its algorithm";
	else if (!same_key)
		what = "its key";
	else if (pc->esn != sa->esn)
		what = "esn";
	else if (sa->inbound && pc->replay_window != sa->window)
		what = "replay_window";
	else if (!sa->inbound &&
		 (memcmp(&pc->local, &sa->local, sizeof(sa->local)) != 0 ||
		  memcmp(&pc->remote, &sa->remote, sizeof(sa->remote)) != 0 ||
		  pc->udp_encap != sa->udp_encap ||
		  pc->remote_port != sa->remote_port))
		what = "its tunnel (local, remote, udp_encap, remote_port)";
	if (what == NULL)
		return true;
	/* a replay window must never start afresh under the same key, nor
	 * sequence numbers (GCM's IVs) again from the start */
	esp_err(err, errlen, conf,
		"%d: peer '%s': %s SA 0x%x keeps its SPI but changes %s; an "
		"SA that changes needs a new SPI (the running one stays)",
		sc->line, pc->name, sa->inbound ? "inbound" : "outbound",
		sc->spi, what);
	return false;
}

/* ---- peers ---- */

static int
peer_id(struct mg_esp *esp, const char *name)
{
	unsigned int i;

	for (i = 0; i < esp->n_peer_ids; i++)
		if (strcmp(esp->peer_names[i], name) == 0)
			return (int)i + 1;
	if (esp->n_peer_ids == MG_ESP_MAX_PEER_IDS)
		return -ENOSPC;
	snprintf(esp->peer_names[esp->n_peer_ids], sizeof(esp->peer_names[0]),
		 "%s", name);
	return (int)++esp->n_peer_ids;
}

/* ---- sets ---- */

static int
set_hold(struct mg_esp_set *set, struct mg_esp_sa *sa)
{
	unsigned int i;

	for (i = 0; i < set->n_sas; i++)
		if (set->sas[i] == sa)
			return 0;
	if (set->n_sas == MG_ESP_MAX_SAS)
		return -ENOSPC;
	set->sas[set->n_sas++] = sa;
	sa->refs++;
	return 0;
}

static uint32_t
spi_hash(uint32_t spi)
{
	/* murmur3's finalizer: SPIs are often consecutive */
	spi ^= spi >> 16;
	spi *= 0x85ebca6b;
	spi ^= spi >> 13;
	spi *= 0xc2b2ae35;
	spi ^= spi >> 16;
	return spi;
}

const struct esp_in *
esp_in_lookup(const struct mg_esp_set *set, uint32_t spi)
{
	uint32_t i = spi_hash(spi) & set->in_mask;

	/* the table is at most half full: a probe ends at an empty slot */
	while (set->in[i].spi != 0) {
		if (set->in[i].spi == spi)
			return &set->in[i];
		i = (i + 1) & set->in_mask;
	}
	return NULL;
}

static bool
in_add(struct mg_esp_set *set, uint32_t spi, uint16_t peer,
       struct mg_esp_sa *sa, uint64_t until)
{
	uint32_t i = spi_hash(spi) & set->in_mask;

	while (set->in[i].spi != 0) {
		if (set->in[i].spi == spi)
			return false;
		i = (i + 1) & set->in_mask;
	}
	set->in[i] = (struct esp_in){ spi, peer, sa, until };
	return true;
}

static bool
same_addr(const struct mg_addr *a, const struct mg_addr *b)
{
	return a->family == b->family &&
	       memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Routes: every peer's prefixes, and its services' backends as hosts. */
static unsigned int
count_routes(const struct mg_conf *conf, uint8_t family)
{
	unsigned int i, j, k, b, n = 0;

	for (i = 0; i < conf->n_peers; i++) {
		const struct mg_peer_conf *p = &conf->peers[i];

		for (j = 0; j < p->n_prefixes; j++)
			n += p->prefixes[j].addr.family == family;
		for (j = 0; j < p->n_services; j++) {
			const struct mg_service_conf *s =
				&conf->services[p->services[j]];

			for (k = 0; k < s->n_versions; k++)
				for (b = 0; b < s->versions[k].n_backends; b++)
					n += s->versions[k]
						     .backends[b]
						     .addr.family == family;
		}
	}
	return n;
}

static int
route_add(struct mg_esp_set *set, const struct mg_prefix *p, uint16_t peer)
{
	if (p->addr.family == 4) {
		uint32_t a;
		uint32_t mask = p->len == 0 ? 0 : ~UINT32_C(0) << (32 - p->len);
		struct rte_rib_node *n;

		memcpy(&a, p->addr.bytes, sizeof(a));
		a = rte_be_to_cpu_32(a);

		if (set->rib4 == NULL) {
			set->r4[set->n4++] =
				(struct esp_route4){ a & mask, mask, p->len,
						     peer };
			return 0;
		}
		n = rte_rib_insert(set->rib4, a, p->len);
		if (n == NULL)
			/* a backend inside a peer's prefix: one route */
			return rte_errno == EEXIST ? 0 : -rte_errno;
		return rte_rib_set_nh(n, peer);
	}
	if (set->rib6 == NULL) {
		struct esp_route6 *r = &set->r6[set->n6++];

		memcpy(r->net, p->addr.bytes, 16);
		r->len = p->len;
		r->peer = peer;
		return 0;
	} else {
		struct rte_rib6_node *n =
			rte_rib6_insert(set->rib6, p->addr.bytes, p->len);

		if (n == NULL)
			return rte_errno == EEXIST ? 0 : -rte_errno;
		return rte_rib6_set_nh(n, peer);
	}
}

static int
build_routes(struct mg_esp_set *set, const struct mg_conf *conf)
{
	static uint32_t seq;
	unsigned int n4 = count_routes(conf, 4), n6 = count_routes(conf, 6);
	unsigned int i, j, k, b;
	char name[32];
	int rc;

	if (n4 > ESP_LINEAR_MAX) {
		struct rte_rib_conf cfg = { .max_nodes = (int)(2 * n4) };

		snprintf(name, sizeof(name), "mg_esp4_%u",
			 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
		set->rib4 = rte_rib_create(name, SOCKET_ID_ANY, &cfg);
		if (set->rib4 == NULL)
			return -rte_errno;
	} else if (n4 != 0) {
		set->r4 = calloc(n4, sizeof(*set->r4));
		if (set->r4 == NULL)
			return -ENOMEM;
	}
	if (n6 > ESP_LINEAR_MAX) {
		struct rte_rib6_conf cfg = { .max_nodes = (int)(2 * n6) };

		snprintf(name, sizeof(name), "mg_esp6_%u",
			 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
		set->rib6 = rte_rib6_create(name, SOCKET_ID_ANY, &cfg);
		if (set->rib6 == NULL)
			return -rte_errno;
	} else if (n6 != 0) {
		set->r6 = calloc(n6, sizeof(*set->r6));
		if (set->r6 == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < conf->n_peers; i++) {
		const struct mg_peer_conf *p = &conf->peers[i];

		for (j = 0; j < p->n_prefixes; j++) {
			rc = route_add(set, &p->prefixes[j], (uint16_t)(i + 1));
			if (rc < 0)
				return rc;
		}
		for (j = 0; j < p->n_services; j++) {
			const struct mg_service_conf *s =
				&conf->services[p->services[j]];

			for (k = 0; k < s->n_versions; k++)
				for (b = 0; b < s->versions[k].n_backends;
				     b++) {
					struct mg_prefix h = {
						.addr = s->versions[k]
								.backends[b]
								.addr,
					};

					h.len = h.addr.family == 4 ? 32 : 128;
					rc = route_add(set, &h,
						       (uint16_t)(i + 1));
					if (rc < 0)
						return rc;
				}
		}
	}
	return 0;
}

/* Whether @p conf keeps inbound SPI @p spi of peer @p name. */
static bool
conf_has_inbound(const struct mg_conf *conf, const char *name, uint32_t spi)
{
	unsigned int i, j;

	for (i = 0; i < conf->n_peers; i++)
		if (strcmp(conf->peers[i].name, name) == 0)
			for (j = 0; j < conf->peers[i].n_inbound; j++)
				if (conf->peers[i].inbound[j].spi == spi)
					return true;
	return false;
}

static int
conf_peer(const struct mg_conf *conf, const char *name)
{
	unsigned int i;

	for (i = 0; i < conf->n_peers; i++)
		if (strcmp(conf->peers[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The SA for @p sc: the running one if it keeps its SPI (and may),
 * else a new one. */
static struct mg_esp_sa *
sa_get(struct mg_esp *esp, const struct mg_conf *conf,
       const struct mg_peer_conf *pc, const struct mg_sa_conf *sc, bool inbound,
       uint16_t id, char *err, size_t errlen)
{
	struct mg_esp_sa *sa = sa_find(esp, pc->name, inbound, sc->spi);

	if (sa == NULL)
		return sa_create(esp, conf, pc, sc, inbound, id, err, errlen);
	if (!sa_compatible(esp, conf, pc, sc, sa, err, errlen)) {
		rte_errno = EINVAL;
		return NULL;
	}
	return sa;
}

/* Inbound SAs of @p running that @p conf drops, of peers it keeps: they
 * stay accepted until their linger runs out. */
static int
carry_lingering(struct mg_esp_set *set, const struct mg_conf *conf,
		const struct mg_esp_set *running, uint64_t now)
{
	uint32_t i;
	int p;

	for (i = 0; running != NULL && i <= running->in_mask; i++) {
		const struct esp_in *e = &running->in[i];
		const char *name;
		uint64_t until;

		if (e->spi == 0)
			continue;
		name = running->peers[e->peer].name;
		p = conf_peer(conf, name);
		if (p < 0 || conf_has_inbound(conf, name, e->spi))
			continue;
		until = e->until != UINT64_MAX
				? e->until
				: now + conf->peers[p].rekey_linger_s *
						  set->esp->tsc_hz;
		if (until <= now || e->sa->state != ESP_LIVE)
			continue;
		/* another peer's new SA took the SPI: it wins */
		if (!in_add(set, e->spi, (uint16_t)p, e->sa, until)) {
			ESP_LOG(WARNING,
				"peer '%s': SPI 0x%x, lingering after a "
				"reload, is now another SA's: no longer "
				"accepted",
				name, e->spi);
			continue;
		}
		if (set_hold(set, e->sa) < 0)
			return -ENOSPC;
		if (e->until == UINT64_MAX)
			ESP_LOG(INFO,
				"peer '%s': inbound SA 0x%x left the config; "
				"accepted for %u s more",
				name, e->spi, conf->peers[p].rekey_linger_s);
	}
	return 0;
}

struct mg_esp_set *
mg_esp_set_build(struct mg_esp *esp, const struct mg_conf *conf,
		 const struct mg_esp_set *running, uint64_t now, char *err,
		 size_t errlen)
{
	struct mg_esp_set *set;
	unsigned int i, j, k, n_in = 0, cap = 16;
	struct mg_esp_sa *sa;
	int rc, id;

	err[0] = '\0';
	set = rte_zmalloc("mg_esp_set", sizeof(*set), RTE_CACHE_LINE_SIZE);
	if (set == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	set->esp = esp;
	memset(set->peer_index, 0xff, sizeof(set->peer_index));
	for (i = 0; i < conf->n_peers; i++)
		n_in += conf->peers[i].n_inbound;
	if (running != NULL)
		n_in += running->in_mask + 1;
	while (cap < 2 * n_in)
		cap *= 2;
	set->in = rte_zmalloc("mg_esp_in", cap * sizeof(*set->in),
			      RTE_CACHE_LINE_SIZE);
	if (set->in == NULL) {
		rte_errno = ENOMEM;
		goto fail;
	}
	set->in_mask = cap - 1;
	pthread_mutex_lock(&esp->lock);
	for (i = 0; i < conf->n_peers; i++) {
		const struct mg_peer_conf *pc = &conf->peers[i];
		struct esp_peer *p = &set->peers[i];

		id = peer_id(esp, pc->name);
		if (id < 0) {
			esp_err(err, errlen, conf,
				"%d: peer '%s': no room for another peer "
				"(%d distinct names over the life of the "
				"process; restart)",
				pc->line, pc->name, MG_ESP_MAX_PEER_IDS);
			rte_errno = ENOSPC;
			goto unlock_fail;
		}
		p->id = (uint16_t)id;
		p->identity = pc->identity;
		p->udp_encap = pc->udp_encap;
		p->remote_port = pc->remote_port;
		p->local = pc->local;
		p->remote = pc->remote;
		snprintf(p->name, sizeof(p->name), "%s", pc->name);
		set->peer_index[id] = (int16_t)i;
		set->n_peers = i + 1;
		sa = sa_get(esp, conf, pc, &pc->outbound, false, p->id, err,
			    errlen);
		if (sa == NULL || set_hold(set, sa) < 0)
			goto unlock_fail;
		p->out = sa;
		for (j = 0; j < pc->n_inbound; j++) {
			sa = sa_get(esp, conf, pc, &pc->inbound[j], true, p->id,
				    err, errlen);
			if (sa == NULL || set_hold(set, sa) < 0)
				goto unlock_fail;
			if (!in_add(set, sa->spi, (uint16_t)i, sa,
				    UINT64_MAX)) {
				esp_err(err, errlen, conf,
					"%d: inbound SPI 0x%x given twice",
					pc->inbound[j].line, sa->spi);
				rte_errno = EINVAL;
				goto unlock_fail;
			}
		}
		for (k = 0; k < set->n_local; k++)
			if (same_addr(&set->local[k], &pc->local))
				break;
		if (k == set->n_local)
			set->local[set->n_local++] = pc->local;
	}
	rc = carry_lingering(set, conf, running, now);
	pthread_mutex_unlock(&esp->lock);
	if (rc == 0)
		rc = build_routes(set, conf);
	if (rc < 0) {
		esp_err(err, errlen, conf,
			" cannot build the peers' routes: %s",
			rte_strerror(-rc));
		rte_errno = -rc;
		goto fail;
	}
	return set;
unlock_fail:
	pthread_mutex_unlock(&esp->lock);
fail:
	rc = rte_errno;
	if (err[0] == '\0')
		esp_err(err, errlen, conf, " cannot build the ESP SAs: %s",
			rte_strerror(rc));
	mg_esp_set_free(set);
	rte_errno = rc;
	return NULL;
}

void
mg_esp_set_free(struct mg_esp_set *set)
{
	struct mg_esp *esp;
	unsigned int i;

	if (set == NULL)
		return;
	esp = set->esp;
	pthread_mutex_lock(&esp->lock);
	if (esp->current == set)
		esp->current = NULL;
	for (i = 0; i < set->n_sas; i++) {
		struct mg_esp_sa *sa = set->sas[i];

		if (--sa->refs > 0)
			continue;
		if (sa->state == ESP_DEAD)
			rte_free(sa); /* retired already (its linger ran out) */
		else
			sa_retire(esp, sa);
	}
	pthread_mutex_unlock(&esp->lock);
	if (set->rib6 != NULL)
		rte_rib6_free(set->rib6);
	rte_rib_free(set->rib4);
	free(set->r4);
	free(set->r6);
	rte_free(set->in);
	rte_free(set);
}

bool
mg_esp_set_active(const struct mg_esp_set *set)
{
	return set != NULL && set->n_peers != 0;
}

void
mg_esp_publish(struct mg_esp *esp, const struct mg_esp_set *set)
{
	pthread_mutex_lock(&esp->lock);
	esp->current = set;
	pthread_mutex_unlock(&esp->lock);
}

int
mg_esp_identity(const struct mg_esp_set *set, uint16_t peer)
{
	int16_t i;

	if (set == NULL || peer == 0 || peer > MG_ESP_MAX_PEER_IDS)
		return -1;
	i = set->peer_index[peer];
	return i < 0 ? -1 : set->peers[i].identity;
}

uint16_t
mg_esp_route(const struct mg_esp_set *set, const struct mg_addr *addr)
{
	uint16_t p;

	if (set == NULL || set->n_peers == 0)
		return 0;
	p = esp_route_lookup(set, addr->family, addr->bytes);
	return p != 0 ? set->peers[p - 1].id : 0;
}

bool
mg_esp_peer_endpoint(const struct mg_esp_set *set, uint16_t peer,
		     struct mg_addr *remote)
{
	int16_t i;

	if (set == NULL || peer == 0 || peer > MG_ESP_MAX_PEER_IDS)
		return false;
	i = set->peer_index[peer];
	if (i < 0)
		return false;
	*remote = set->peers[i].remote;
	return true;
}

uint16_t
mg_esp_inner_mtu(const struct mg_esp_set *set, uint16_t peer, uint16_t mtu)
{
	const struct mg_esp_sa *sa;
	int16_t i;

	if (set == NULL || peer == 0 || peer > MG_ESP_MAX_PEER_IDS)
		return mtu;
	i = set->peer_index[peer];
	if (i < 0)
		return mtu;
	sa = set->peers[i].out;
	return mtu > sa->overhead ? (uint16_t)(mtu - sa->overhead) : 0;
}

uint16_t
mg_esp_egress_of(const struct mg_esp_marks *k, const struct mg_esp_set *set,
		 const struct rte_mbuf *m, uint8_t family, const uint8_t *dst)
{
	const struct mg_esp_mbuf *mb =
		RTE_MBUF_DYNFIELD(m, k->offset, const struct mg_esp_mbuf *);
	uint16_t p;

	if (set == NULL || set->n_peers == 0)
		return 0;
	if (m->ol_flags & k->encap)
		return mb->egress;
	if (m->ol_flags & k->decap)
		return mb->origin;
	p = esp_route_lookup(set, family, dst);
	return p != 0 ? set->peers[p - 1].id : 0;
}

/* ---- housekeeping ---- */

static bool
drained(const struct mg_esp *esp, const struct mg_esp_sa *sa)
{
	unsigned int w;

	for (w = 0; w < esp->n_workers; w++)
		if (esp->workers[w] != NULL &&
		    __atomic_load_n(&esp->workers[w]->dequeued,
				    __ATOMIC_RELAXED) < sa->drain[w])
			return false;
	return true;
}

/* A retiring SA is cleared once no worker can start using it (grace
 * period) and every operation enqueued by then is back. */
static bool
retire_step(struct mg_esp *esp, struct mg_esp_sa *sa)
{
	unsigned int w;

	if (!sa->grace_done) {
		if (esp->qsv != NULL &&
		    rte_rcu_qsbr_check(esp->qsv, sa->token, false) != 1)
			return false;
		sa->drain = calloc(esp->n_workers, sizeof(*sa->drain));
		if (sa->drain == NULL)
			return false;
		for (w = 0; w < esp->n_workers; w++)
			if (esp->workers[w] != NULL)
				sa->drain[w] = __atomic_load_n(
					&esp->workers[w]->enqueued,
					__ATOMIC_RELAXED);
		sa->grace_done = true;
	}
	if (!drained(esp, sa))
		return false;
	ESP_LOG(INFO,
		"peer '%s': %s SA 0x%x retired: crypto session freed, key "
		"zeroised",
		sa->peer_name, sa->inbound ? "inbound" : "outbound", sa->spi);
	if (sa->refs == 0)
		sa_destroy(esp, sa);
	else
		sa_clear(esp, sa);
	return true;
}

unsigned int
mg_esp_tick(struct mg_esp *esp, uint64_t now)
{
	const struct mg_esp_set *set;
	unsigned int i, n = 0;

	if (esp == NULL)
		return 0;
	pthread_mutex_lock(&esp->lock);
	set = esp->current;
	/* inbound SAs whose linger ran out: workers no longer take them */
	for (i = 0; set != NULL && i <= set->in_mask; i++) {
		const struct esp_in *e = &set->in[i];

		if (e->spi != 0 && e->until <= now)
			sa_retire(esp, e->sa);
	}
	for (i = 0; i < MG_ESP_MAX_SAS; i++) {
		struct mg_esp_sa *sa = esp->sas[i];

		if (sa == NULL)
			continue;
		if (!sa->inbound && !sa->stop_logged &&
		    __atomic_load_n(&sa->stopped, __ATOMIC_RELAXED)) {
			ESP_LOG(ERR,
				"peer '%s': outbound SA 0x%x stopped: its "
				"sequence numbers are exhausted (the next "
				"would wrap); packets to the peer are dropped "
				"(esp_seq_exhausted) until a reload brings a "
				"new SA",
				sa->peer_name, sa->spi);
			sa->stop_logged = true;
		}
		if (sa->state == ESP_RETIRING && retire_step(esp, sa))
			n++;
	}
	pthread_mutex_unlock(&esp->lock);
	return n;
}

void
mg_esp_free(struct mg_esp *esp)
{
	unsigned int i;

	if (esp == NULL)
		return;
	/* workers are gone: nothing is in flight */
	for (i = 0; i < MG_ESP_MAX_SAS; i++)
		if (esp->sas[i] != NULL)
			sa_destroy(esp, esp->sas[i]);
	if (esp->dev_started)
		rte_cryptodev_stop(esp->dev_id);
	if (rte_cryptodev_get_dev_id(ESP_DEV_NAME) >= 0) {
		rte_cryptodev_close(esp->dev_id);
		rte_vdev_uninit(ESP_DEV_NAME);
	}
	rte_mempool_free(esp->op_pool);
	rte_mempool_free(esp->sess_pool);
	keys_free(esp);
	pthread_mutex_destroy(&esp->lock);
	rte_free(esp);
}

/* ---- telemetry ---- */

static void
sa_sum(const struct mg_esp *esp, const struct mg_esp_sa *sa,
       struct mg_telemetry_esp_sa *t)
{
	uint64_t requested = 0;
	unsigned int w, d;

	memset(t, 0, sizeof(*t));
	for (w = 0; w < esp->n_workers; w++) {
		const struct esp_sa_stats *s;

		if (esp->workers[w] == NULL)
			continue;
		s = &esp->workers[w]->sa[sa->slot];
		t->packets += __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
		t->bytes += __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
		requested += __atomic_load_n(&s->requested, __ATOMIC_RELAXED);
		for (d = 0; d < ESP_D_MAX; d++)
			t->drops[esp_drop_reason(d)] +=
				__atomic_load_n(&s->drops[d], __ATOMIC_RELAXED);
	}
	t->packets -= sa->base.packets;
	t->bytes -= sa->base.bytes;
	for (d = 0; d < ESP_D_MAX; d++)
		t->drops[esp_drop_reason(d)] -= sa->base.drops[d];
	requested -= sa->base.requested;
	t->spi = sa->spi;
	t->inbound = sa->inbound;
	t->esn = sa->esn;
	t->algorithm = mg_conf_esp_algo_name(sa->algo);
	t->replay_window = sa->inbound ? sa->window : 0;
	if (sa->inbound)
		t->seq = __atomic_load_n(&sa->top, __ATOMIC_RELAXED);
	else if (requested != 0)
		t->seq = RTE_MIN(sa->seq_start + requested - 1, sa->seq_max);
	t->state = "active";
	if (!sa->inbound && __atomic_load_n(&sa->stopped, __ATOMIC_RELAXED))
		t->state = "stopped";
	if (sa->state != ESP_LIVE)
		t->state = "retired";
}

int
mg_esp_telemetry(void *arg, mg_telemetry_esp_emit emit, void *ctx)
{
	struct mg_esp *esp = arg;
	const struct mg_esp_set *set;
	struct mg_telemetry_esp_peer *tp;
	struct mg_telemetry_esp_sa *ts;
	char local[64], remote[72];
	unsigned int i, w, d;
	uint32_t k;
	int rc = 0;

	tp = malloc(sizeof(*tp));
	ts = malloc(sizeof(*ts));
	if (tp == NULL || ts == NULL) {
		free(tp);
		free(ts);
		return -ENOMEM;
	}
	pthread_mutex_lock(&esp->lock);
	set = esp->current;
	for (i = 0; set != NULL && i < set->n_peers && rc == 0; i++) {
		const struct esp_peer *p = &set->peers[i];
		char identity[MG_CONF_NAME_LEN];

		memset(tp, 0, sizeof(*tp));
		for (w = 0; w < esp->n_workers; w++)
			for (d = 0; esp->workers[w] != NULL && d < ESP_D_MAX;
			     d++)
				tp->drops[esp_drop_reason(d)] +=
					__atomic_load_n(&esp->workers[w]
								 ->peer[p->id]
								 .drops[d],
							__ATOMIC_RELAXED);
		snprintf(identity, sizeof(identity), "%s%s",
			 MG_CONF_PEER_PREFIX, p->name);
		mg_addr_format(&p->local, local, sizeof(local));
		mg_addr_format(&p->remote, remote, sizeof(remote));
		if (p->udp_encap)
			snprintf(remote + strlen(remote),
				 sizeof(remote) - strlen(remote), ":%u",
				 p->remote_port);
		tp->name = p->name;
		tp->identity = identity;
		tp->local = local;
		tp->remote = remote;
		tp->udp_encap = p->udp_encap;
		rc = emit(ctx, tp, NULL);
		if (rc == 0 && p->out != NULL && p->out->state != ESP_DEAD) {
			sa_sum(esp, p->out, ts);
			rc = emit(ctx, tp, ts);
		}
		for (k = 0; rc == 0 && k <= set->in_mask; k++) {
			const struct esp_in *e = &set->in[k];

			/* a lingering SA's slot may hold another's counters
			 * once it is retired */
			if (e->spi == 0 || e->peer != i ||
			    e->sa->state == ESP_DEAD)
				continue;
			sa_sum(esp, e->sa, ts);
			if (e->until != UINT64_MAX && e->sa->state == ESP_LIVE)
				ts->state = "lingering";
			rc = emit(ctx, tp, ts);
		}
	}
	pthread_mutex_unlock(&esp->lock);
	free(tp);
	free(ts);
	return rc;
}
