/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The ESP data path of a worker: take ESP for the gateway's tunnel
 * endpoints out of a parsed burst, stage packets per SA, prepare them
 * with librte_ipsec and hand them to the cryptodev in bursts, then
 * complete them. Where the device offers synchronous CPU crypto
 * (RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO: crypto_aesni_mb does), a burst is
 * encrypted or decrypted at once on the worker's core
 * (rte_cryptodev_sym_cpu_crypto_process()) and its operations wait in
 * the worker's own ring for the next poll; else they are enqueued to
 * the worker's queue pair and dequeued. Either way the operations come
 * back in the same order and the rest of the path is the same. Two
 * things are done here that librte_ipsec does not do:
 * - an SA carries both inner families (its trailer's next header is
 *   rewritten before encryption and after authentication, see
 *   sa_create() in mg_esp.c);
 * - outbound IVs are the sequence number XOR a random value of the SA
 *   (librte_ipsec uses the bare sequence number), patched in the packet
 *   and in the operation's nonce before encryption.
 * Everything else (sequence numbers, replay windows, padding, headers)
 * is librte_ipsec's.
 */

#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_memcpy.h>
#include <rte_udp.h>

#include "esp_private.h"

static inline uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Whether two 16-byte addresses are equal, without a call to memcmp() */
static inline bool
addr_eq(const uint8_t *a, const uint8_t *b)
{
	uint64_t x[2], y[2];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
}

static inline void
count(uint64_t *c)
{
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

static inline void
add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/* Drop @p m under @p d: the worker's counter, the SA's or the peer's. */
static void
drop_pkt(struct mg_esp_worker *ew, struct rte_mbuf *m, enum esp_drop d,
	 const struct mg_esp_sa *sa, uint16_t peer)
{
	mg_counter_add(&ew->stats->drops[esp_drop_reason(d)], 1);
	if (sa != NULL)
		count(&ew->sa[sa->slot].drops[d]);
	else if (peer != 0 && peer <= MG_ESP_MAX_PEER_IDS)
		count(&ew->peer[peer].drops[d]);
	rte_pktmbuf_free(m);
}

void
mg_esp_drop(struct mg_esp_worker *ew, uint16_t peer, struct rte_mbuf *m,
	    enum mg_drop_reason why)
{
	enum esp_drop d = esp_drop_index(why);

	if (d == ESP_D_MAX) {
		mg_counter_add(&ew->stats->drops[why], 1);
		rte_pktmbuf_free(m);
		return;
	}
	drop_pkt(ew, m, d, NULL, peer);
}

/* ---- routes ---- */

uint16_t
esp_route_lookup(const struct mg_esp_set *set, uint8_t family,
		 const uint8_t *addr)
{
	uint16_t best = 0;
	unsigned int i, len = 0;
	uint64_t nh;

	if (family == 4) {
		uint32_t a = load_be32(addr);

		if (set->rib4 != NULL) {
			struct rte_rib_node *n = rte_rib_lookup(set->rib4, a);

			if (n == NULL || rte_rib_get_nh(n, &nh) != 0)
				return 0;
			return (uint16_t)nh;
		}
		for (i = 0; i < set->n4; i++)
			if ((a & set->r4[i].mask) == set->r4[i].net &&
			    (best == 0 || set->r4[i].len > len)) {
				best = set->r4[i].peer;
				len = set->r4[i].len;
			}
		return best;
	}
	if (set->rib6 != NULL) {
		struct rte_rib6_node *n = rte_rib6_lookup(set->rib6, addr);

		if (n == NULL || rte_rib6_get_nh(n, &nh) != 0)
			return 0;
		return (uint16_t)nh;
	}
	for (i = 0; i < set->n6; i++) {
		const struct esp_route6 *r = &set->r6[i];
		unsigned int full = r->len / 8, bits = r->len % 8;

		if (memcmp(addr, r->net, full) != 0)
			continue;
		if (bits != 0 &&
		    ((addr[full] ^ r->net[full]) & (0xff00 >> bits)) != 0)
			continue;
		if (best == 0 || r->len > len) {
			best = r->peer;
			len = r->len;
		}
	}
	return best;
}

static inline bool
is_endpoint(const struct mg_esp_set *set, uint8_t family, const uint8_t *dst)
{
	unsigned int i;

	if (family == 4) {
		for (i = 0; i < set->n_local; i++)
			if (set->local[i].family == 4 &&
			    memcmp(set->local[i].bytes, dst, 4) == 0)
				return true;
		return false;
	}
	for (i = 0; i < set->n_local; i++)
		if (set->local[i].family == 6 &&
		    addr_eq(set->local[i].bytes, dst))
			return true;
	return false;
}

/* The peer id whose endpoint sent from @p src, or 0: unknown SPIs are
 * counted against it. */
static uint16_t
peer_by_remote(const struct mg_esp_set *set, uint8_t family, const uint8_t *src)
{
	unsigned int i;

	for (i = 0; i < set->n_peers; i++)
		if (set->peers[i].remote.family == family &&
		    memcmp(set->peers[i].remote.bytes, src,
			   family == 4 ? 4 : 16) == 0)
			return set->peers[i].id;
	return 0;
}

/* ---- input ---- */

/* RFC 4303 A2.1: the high half of a 64-bit sequence number, from the
 * window's top (as librte_ipsec reconstructs it). */
static inline uint64_t
esn_of(uint64_t top, uint32_t seq, uint32_t window)
{
	uint32_t th = (uint32_t)(top >> 32), tl = (uint32_t)top;
	uint32_t bl = tl - window + 1;

	if (tl >= window - 1)
		th += seq < bl;
	else if (th != 0)
		th -= seq >= bl;
	return (uint64_t)th << 32 | seq;
}

static inline uint64_t
full_seq(const struct mg_esp_sa *sa, uint64_t top, uint32_t seq)
{
	return sa->esn ? esn_of(top, seq, sa->lib_window) : seq;
}

/*
 * The replay window, kept here as well as in librte_ipsec, whose own
 * record (DPDK 22.11) cannot be trusted: it sets a sequence number's bit
 * through a 32-bit variable, so numbers whose low 6 bits are 32 or more
 * are never recorded and their replays are taken; and its blocks (the
 * window's size rounded up to a power of two) are too few for a window
 * of 128, 1024 (our default) or any other 64 * 2^k beyond 64: a number
 * left in the window shares its bit with one right of the top, whose
 * bit is then cleared (a replay taken) or set (a fresh number refused;
 * sa_create() gives it a window just larger for that). librte_ipsec
 * also takes the number W below the top (W + 1 numbers). This window is
 * RFC 4303's (the top and the W - 1 below it) in RFC 6479's blocks of
 * 64 bits, enough that W consecutive numbers never share one (a power
 * of two, sa_create()); the owner worker alone writes it.
 * Returns ESP_D_MAX if @p sqn may be taken.
 */
static enum esp_drop
window_check(const struct mg_esp_sa *sa, uint64_t sqn)
{
	uint64_t top = sa->top;

	if (sqn > top)
		return ESP_D_MAX;
	if (sqn == 0 || top - sqn >= sa->window)
		return ESP_D_OUT_OF_WINDOW;
	if (sa->seen[(sqn >> 6) & sa->seen_mask] >> (sqn & 63) & 1)
		return ESP_D_REPLAY;
	return ESP_D_MAX;
}

/* Record @p sqn (authenticated) as taken, moving the window. */
static void
window_take(struct mg_esp_sa *sa, uint64_t sqn)
{
	uint64_t top = sa->top, i, n;

	if (sqn > top) {
		/* the blocks the window enters start empty */
		n = (sqn >> 6) - (top >> 6);
		if (n > (uint64_t)sa->seen_mask + 1)
			n = (uint64_t)sa->seen_mask + 1;
		for (i = 1; i <= n; i++)
			sa->seen[((top >> 6) + i) & sa->seen_mask] = 0;
		__atomic_store_n(&sa->top, sqn, __ATOMIC_RELAXED);
	}
	sa->seen[(sqn >> 6) & sa->seen_mask] |= UINT64_C(1) << (sqn & 63);
}

/* Why an inbound packet's sequence number is refused (or, when the
 * window would take it, the packet was malformed). */
static enum esp_drop
seq_refusal(const struct mg_esp_sa *sa, uint32_t seq)
{
	enum esp_drop d = window_check(sa, full_seq(sa, sa->top, seq));

	return d != ESP_D_MAX ? d : ESP_D_MALFORMED;
}

/* ---- the device: a queue pair, or synchronous CPU crypto ---- */

/* Encrypt or decrypt @p n operations (prepared by librte_ipsec, runs of
 * one session) on this core, a session's run in bursts; the status of
 * each is set as the queue pair would. */
static void
cpu_crypto(struct mg_esp_worker *ew, struct rte_crypto_op **ops, uint16_t n)
{
	struct rte_crypto_vec data[ESP_DEQ_BURST];
	struct rte_crypto_sgl sgl[ESP_DEQ_BURST];
	struct rte_crypto_va_iova_ptr iv[ESP_DEQ_BURST], aad[ESP_DEQ_BURST],
		dgst[ESP_DEQ_BURST];
	int32_t st[ESP_DEQ_BURST];
	struct rte_crypto_sym_vec vec = {
		.src_sgl = sgl,
		.iv = iv,
		.aad = aad,
		.digest = dgst,
		.status = st,
	};
	/* the operations' offsets are the whole story: nothing to skip */
	const union rte_crypto_sym_ofs ofs = { .raw = 0 };
	uint16_t i = 0, j, x;

	while (i < n) {
		void *ses = ops[i]->sym->session;

		for (j = i; j < n && j - i < ESP_DEQ_BURST &&
			    ops[j]->sym->session == ses;
		     j++) {
			struct rte_crypto_sym_op *sop = ops[j]->sym;

			x = j - i;
			/* one segment (flush_in() made it so; outbound
			 * packets are one already): what GCM covers */
			data[x].base = rte_pktmbuf_mtod_offset(
				sop->m_src, void *, sop->aead.data.offset);
			data[x].len = sop->aead.data.length;
			sgl[x].vec = &data[x];
			sgl[x].num = 1;
			iv[x].va = esp_op_priv(ops[j])->iv;
			aad[x].va = sop->aead.aad.data;
			dgst[x].va = sop->aead.digest.data;
		}
		vec.num = j - i;
		rte_cryptodev_sym_cpu_crypto_process(ew->dev_id, ses, ofs,
						     &vec);
		for (x = 0; x < vec.num; x++)
			ops[i + x]->status =
				st[x] == 0 ? RTE_CRYPTO_OP_STATUS_SUCCESS
				: st[x] == EBADMSG
					? RTE_CRYPTO_OP_STATUS_AUTH_FAILED
					: RTE_CRYPTO_OP_STATUS_ERROR;
		i = j;
	}
}

/* Hand @p n prepared operations to the device. Returns how many it took
 * (the rest are the caller's): all with CPU crypto, done already and
 * waiting in the worker's ring, unless that is full. */
static uint16_t
esp_enqueue(struct mg_esp_worker *ew, struct rte_crypto_op **ops, uint16_t n)
{
	uint64_t pos = ew->enqueued;
	uint16_t room, x;

	if (!ew->cpu_crypto) {
		n = rte_cryptodev_enqueue_burst(ew->dev_id, (uint16_t)ew->rank,
						ops, n);
	} else {
		room = (uint16_t)(ESP_DONE - (pos - ew->dequeued));
		n = RTE_MIN(n, room);
		cpu_crypto(ew, ops, n);
		for (x = 0; x < n; x++)
			ew->done[(pos + x) % ESP_DONE] = ops[x];
	}
	add(&ew->enqueued, n);
	return n;
}

/* Up to @p max operations the device finished, in order. */
static uint16_t
esp_dequeue(struct mg_esp_worker *ew, struct rte_crypto_op **ops, uint16_t max)
{
	uint64_t pos = ew->dequeued;
	uint16_t n, x;

	if (!ew->cpu_crypto)
		return rte_cryptodev_dequeue_burst(
			ew->dev_id, (uint16_t)ew->rank, ops, max);
	n = (uint16_t)RTE_MIN((uint64_t)max, ew->enqueued - pos);
	for (x = 0; x < n; x++)
		ops[x] = ew->done[(pos + x) % ESP_DONE];
	return n;
}

static void flush_in(struct mg_esp_worker *ew);
static void flush_out(struct mg_esp_worker *ew);

/* ESP for one of @p set's endpoints: staged, or dropped. Returns false
 * when @p m is no such packet. */
static bool
take_esp(struct mg_esp_worker *ew, const struct mg_esp_set *set, uint16_t port,
	 struct rte_mbuf *m, const struct mg_pkt_info *pi, uint64_t now)
{
	const struct mg_5tuple *t = &pi->tuple;
	const struct esp_peer *peer;
	const struct esp_in *e;
	struct mg_esp_mbuf *mb;
	struct mg_esp_sa *sa;
	uint32_t esp_off, esp_len, owner, want;
	const uint8_t *esp;
	enum esp_drop d;
	bool udp;

	if (t->proto == IPPROTO_ESP)
		udp = false;
	else if (t->proto == IPPROTO_UDP &&
		 t->dport == RTE_BE16(MG_ESP_NATT_PORT))
		udp = true;
	else
		return false;
	if (!is_endpoint(set, t->family, t->dst))
		return false;
	esp_off = pi->payload_off;
	esp_len = pi->payload_len;
	/* RFC 3948: a NAT keepalive is one 0xff byte, IKE starts with a
	 * zero "non-ESP marker": neither is ESP, and there is no IKE here */
	if (esp_len < MG_ESP_HDR_LEN ||
	    m->data_len < esp_off + MG_ESP_HDR_LEN ||
	    esp_off - pi->l3_off + 0u >
		    RTE_LEN2MASK(RTE_MBUF_L3_LEN_BITS, uint32_t)) {
		drop_pkt(ew, m, ESP_D_MALFORMED, NULL,
			 peer_by_remote(set, t->family, t->src));
		return true;
	}
	esp = rte_pktmbuf_mtod_offset(m, const uint8_t *, esp_off);
	if (udp && load_be32(esp) == 0) {
		drop_pkt(ew, m, ESP_D_MALFORMED, NULL,
			 peer_by_remote(set, t->family, t->src));
		return true;
	}
	e = esp_in_lookup(set, load_be32(esp));
	peer = e != NULL ? &set->peers[e->peer] : NULL;
	/* the SPI, and the tunnel it belongs to: outer addresses, UDP or
	 * not, the peer's port */
	if (e == NULL || now >= e->until ||
	    __atomic_load_n(&e->sa->state, __ATOMIC_ACQUIRE) == ESP_DEAD ||
	    peer->udp_encap != udp || peer->local.family != t->family ||
	    !addr_eq(peer->local.bytes, t->dst) ||
	    !addr_eq(peer->remote.bytes, t->src) ||
	    (udp && t->sport != rte_cpu_to_be_16(peer->remote_port))) {
		drop_pkt(ew, m, ESP_D_UNKNOWN_SPI, NULL,
			 peer_by_remote(set, t->family, t->src));
		return true;
	}
	sa = e->sa;
	/* one writer per replay window: the worker RSS gives the peer's
	 * tunnel to (its outer addresses and ports are fixed above) */
	owner = __atomic_load_n(&sa->owner, __ATOMIC_RELAXED);
	if (unlikely(owner != ew->rank)) {
		uint32_t none = UINT32_MAX;

		if (owner != UINT32_MAX ||
		    !__atomic_compare_exchange_n(&sa->owner, &none, ew->rank,
						 false, __ATOMIC_RELAXED,
						 __ATOMIC_RELAXED)) {
			drop_pkt(ew, m, ESP_D_WRONG_QUEUE, sa, 0);
			return true;
		}
	}
	/* header, IV, ICV and a padded inner header at least; what GCM
	 * encrypts is a multiple of 4 bytes (RFC 4106 3) */
	if (esp_len < ESP_MIN_LEN ||
	    (esp_len - MG_ESP_HDR_LEN - ESP_IV_LEN - ESP_ICV_LEN) % 4 != 0) {
		drop_pkt(ew, m, ESP_D_MALFORMED, sa, 0);
		return true;
	}
	/* a replay or a number left of the window costs no decryption
	 * (checked again once authenticated: the window may move first) */
	d = window_check(sa, full_seq(sa, sa->top, load_be32(esp + 4)));
	if (d != ESP_D_MAX) {
		drop_pkt(ew, m, d, sa, 0);
		return true;
	}
	/* Ethernet padding is no part of the packet the ICV covers */
	want = esp_off + esp_len;
	if (m->pkt_len > want && rte_pktmbuf_trim(m, m->pkt_len - want) != 0) {
		drop_pkt(ew, m, ESP_D_MALFORMED, sa, 0);
		return true;
	}
	m->l2_len = pi->l3_off;
	m->l3_len = esp_off - pi->l3_off;
	mb = esp_mbuf(&ew->marks, m);
	mb->seq = load_be32(esp + 4);
	mb->data_off = m->data_off;
	mb->port = (uint8_t)port;
	mb->l2_len = (uint8_t)pi->l3_off;
	ew->in[ew->n_in].m = m;
	ew->in[ew->n_in].sa = sa;
	if (++ew->n_in == ESP_STAGE)
		flush_in(ew);
	return true;
}

uint16_t
mg_esp_input(struct mg_esp_worker *ew, const struct mg_esp_set *set,
	     uint16_t port, struct rte_mbuf **pkts, struct mg_pkt_info *info,
	     uint8_t *reasons, uint16_t n, uint64_t now)
{
	uint16_t i, j = 0, peer;

	if (set == NULL || set->n_peers == 0)
		return n;
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const struct mg_pkt_info *pi = &info[i];
		const struct mg_5tuple *t = &pi->tuple;

		if (reasons[i] == MG_DROP_NONE && pi->l3 != MG_L3_ARP &&
		    !(m->ol_flags & ew->marks.decap)) {
			if (pi->frag == 0 &&
			    take_esp(ew, set, port, m, pi, now))
				continue;
			/* a tunnel's fragments are reassembled first */
			peer = esp_route_lookup(set, t->family, t->src);
			if (peer != 0 &&
			    !(pi->frag != 0 &&
			      (t->proto == IPPROTO_ESP ||
			       t->proto == IPPROTO_UDP) &&
			      is_endpoint(set, t->family, t->dst))) {
				reasons[i] = MG_DROP_ESP_REQUIRED;
				count(&ew->peer[set->peers[peer - 1].id]
					       .drops[ESP_D_REQUIRED]);
			}
		}
		if (j != i) {
			pkts[j] = m;
			info[j] = info[i];
			reasons[j] = reasons[i];
		}
		j++;
	}
	return j;
}

/* Prepare and enqueue what is staged for decryption. */
static void
flush_in(struct mg_esp_worker *ew)
{
	struct rte_crypto_op *ops[ESP_STAGE], *enq[ESP_STAGE];
	struct rte_mbuf *mbufs[ESP_STAGE];
	uint16_t i = 0, j, k, x, cnt, n_enq = 0, sent;
	struct mg_esp_sa *sa;

	while (i < ew->n_in) {
		sa = ew->in[i].sa;
		for (j = i, cnt = 0; j < ew->n_in && ew->in[j].sa == sa; j++) {
			struct rte_mbuf *m = ew->in[j].m;

			/* CPU crypto takes one segment (crypto_aesni_mb's:
			 * no chains); the headers are in the first already */
			if (unlikely(m->nb_segs != 1) && ew->cpu_crypto &&
			    rte_pktmbuf_linearize(m) != 0) {
				drop_pkt(ew, m, ESP_D_CRYPTO_FULL, sa, 0);
				continue;
			}
			mbufs[cnt++] = m;
		}
		i = j;
		if (cnt == 0)
			continue;
		if (rte_crypto_op_bulk_alloc(ew->op_pool,
					     RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops,
					     cnt) == 0) {
			for (x = 0; x < cnt; x++)
				drop_pkt(ew, mbufs[x], ESP_D_CRYPTO_FULL, sa,
					 0);
			continue;
		}
		/* sequence numbers are checked against the window here, and
		 * again once authenticated (rte_ipsec_pkt_process) */
		k = rte_ipsec_pkt_crypto_prepare(&sa->ss, mbufs, ops, cnt);
		for (x = k; x < cnt; x++)
			drop_pkt(ew, mbufs[x],
				 seq_refusal(
					 sa,
					 esp_mbuf(&ew->marks, mbufs[x])->seq),
				 sa, 0);
		if (k < cnt)
			rte_mempool_put_bulk(ew->op_pool, (void **)&ops[k],
					     cnt - k);
		for (x = 0; x < k; x++)
			enq[n_enq++] = ops[x];
	}
	ew->n_in = 0;
	if (n_enq == 0)
		return;
	sent = esp_enqueue(ew, enq, n_enq);
	for (x = sent; x < n_enq; x++) {
		struct rte_mbuf *m = enq[x]->sym->m_src;

		sa = (struct mg_esp_sa *)(uintptr_t)
			rte_cryptodev_sym_session_opaque_data_get(
				enq[x]->sym->session);
		drop_pkt(ew, m, ESP_D_CRYPTO_FULL, sa, 0);
		rte_crypto_op_free(enq[x]);
	}
}

/* ---- output ---- */

static inline bool
never_tunnelled(uint8_t family, const uint8_t *ip)
{
	if (family == 4)
		/* multicast, limited broadcast */
		return (ip[16] & 0xf0) == 0xe0 ||
		       load_be32(ip + 16) == UINT32_MAX;
	/* multicast, link-local, and neighbour discovery */
	return ip[24] == 0xff || (ip[24] == 0xfe && (ip[25] & 0xc0) == 0x80) ||
	       (ip[6] == IPPROTO_ICMPV6 && ip[40] >= 133 && ip[40] <= 137);
}

enum mg_esp_out
mg_esp_output(struct mg_esp_worker *ew, const struct mg_esp_set *set,
	      uint16_t port, struct rte_mbuf *m, uint16_t mtu,
	      uint16_t *inner_mtu)
{
	struct mg_esp_mbuf *mb = esp_mbuf(&ew->marks, m);
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t l2 = RTE_ETHER_HDR_LEN, ip_len, i;
	const struct esp_peer *peer;
	struct mg_esp_sa *sa;
	uint16_t id = 0, type;
	uint8_t family;
	int16_t idx;

	if (set == NULL || set->n_peers == 0)
		return MG_ESP_CLEAR;
	if (m->ol_flags & ew->marks.encap) {
		id = mb->egress;
		if (id == 0)
			return MG_ESP_CLEAR;
	} else if (m->ol_flags & ew->marks.decap) {
		id = mb->origin; /* an answer to its sender */
	}
	if (m->data_len < RTE_ETHER_HDR_LEN)
		return MG_ESP_CLEAR;
	type = (uint16_t)(p[12] << 8 | p[13]);
	for (i = 0;
	     i < MG_PKT_MAX_VLANS &&
	     (type == RTE_ETHER_TYPE_VLAN || type == RTE_ETHER_TYPE_QINQ) &&
	     m->data_len >= l2 + 4;
	     i++) {
		type = (uint16_t)(p[l2 + 2] << 8 | p[l2 + 3]);
		l2 += 4;
	}
	if (type == RTE_ETHER_TYPE_IPV4 && m->data_len >= l2 + 20) {
		family = 4;
		ip_len = (uint32_t)(p[l2 + 2] << 8 | p[l2 + 3]);
	} else if (type == RTE_ETHER_TYPE_IPV6 && m->data_len >= l2 + 41) {
		family = 6;
		ip_len = 40 + (uint32_t)(p[l2 + 4] << 8 | p[l2 + 5]);
	} else {
		return MG_ESP_CLEAR; /* ARP */
	}
	if (never_tunnelled(family, p + l2))
		return MG_ESP_CLEAR;
	if (id == 0) {
		uint16_t r = esp_route_lookup(set, family,
					      p + l2 + (family == 4 ? 16 : 24));

		if (r == 0)
			return MG_ESP_CLEAR;
		peer = &set->peers[r - 1];
	} else {
		idx = id <= MG_ESP_MAX_PEER_IDS ? set->peer_index[id] : -1;
		if (idx < 0) {
			/* its peer is gone (a reload): never in clear */
			drop_pkt(ew, m, ESP_D_NO_ROUTE, NULL, id);
			return MG_ESP_TAKEN;
		}
		peer = &set->peers[idx];
	}
	sa = peer->out;
	if (unlikely(__atomic_load_n(&sa->stopped, __ATOMIC_RELAXED))) {
		drop_pkt(ew, m, ESP_D_SEQ_EXHAUSTED, sa, 0);
		return MG_ESP_TAKEN;
	}
	if (ip_len + sa->overhead > mtu) {
		*inner_mtu =
			(uint16_t)(mtu > sa->overhead ? mtu - sa->overhead : 0);
		return MG_ESP_TOO_BIG;
	}
	if (m->pkt_len < l2 + ip_len) {
		drop_pkt(ew, m, ESP_D_MALFORMED, sa, 0);
		return MG_ESP_TAKEN;
	}
	/* encrypted in place: one segment of its own, with room for the
	 * outer header before and the trailer, ICV and AAD after (a
	 * fragment shares its datagram's buffer) */
	if (m->nb_segs != 1 || !RTE_MBUF_DIRECT(m) ||
	    rte_mbuf_refcnt_read(m) != 1 ||
	    rte_pktmbuf_tailroom(m) < m->pkt_len - (l2 + ip_len) + 40) {
		struct rte_mbuf *c =
			rte_pktmbuf_copy(m, m->pool, 0, l2 + ip_len);

		if (c == NULL || c->nb_segs != 1 ||
		    rte_pktmbuf_tailroom(c) < 40) {
			rte_pktmbuf_free(c);
			drop_pkt(ew, m, ESP_D_CRYPTO_FULL, sa, 0);
			return MG_ESP_TAKEN;
		}
		rte_pktmbuf_free(m);
		m = c;
		mb = esp_mbuf(&ew->marks, m);
		p = rte_pktmbuf_mtod(m, const uint8_t *);
	} else if (m->pkt_len > l2 + ip_len) {
		rte_pktmbuf_trim(m, m->pkt_len - (l2 + ip_len));
	}
	mb->l2_len = (uint8_t)l2;
	mb->port = (uint8_t)port;
	mb->seq = ip_len;
	mb->aux = ew->n_out;
	rte_memcpy(ew->l2[ew->n_out], p, l2);
	ew->out[ew->n_out].m = m;
	ew->out[ew->n_out].sa = sa;
	if (++ew->n_out == ESP_STAGE)
		flush_out(ew);
	return MG_ESP_TAKEN;
}

/* Bytes of outer header (IP and UDP) before the ESP header. */
static inline uint32_t
outer_len(const struct mg_esp_sa *sa)
{
	return (sa->family == 4 ? sizeof(struct rte_ipv4_hdr)
				: sizeof(struct rte_ipv6_hdr)) +
	       (sa->udp_encap ? sizeof(struct rte_udp_hdr) : 0);
}

/* After rte_ipsec_pkt_crypto_prepare(), before encryption: the IV made
 * unique across restarts, the trailer naming an IPv6 inner packet, an
 * outer IPv4 header's checksum (prepare wrote its last field, nothing
 * after it changes the header) and the L2 header in the headroom before
 * it (saved in @p l2, @p l2_len bytes: the outer header took its place),
 * for complete_out() to prepend. Returns false if no room is left. */
static inline bool
patch_outbound(const struct mg_esp_sa *sa, struct rte_crypto_op *op,
	       const uint8_t *l2, uint8_t l2_len)
{
	struct rte_mbuf *m = op->sym->m_src;
	uint8_t *ip = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *esp = ip + outer_len(sa);
	uint8_t *nonce = esp_op_priv(op)->iv + 4; /* after the salt */
	uint64_t iv;

	if (unlikely(rte_pktmbuf_headroom(m) < l2_len))
		return false;
	rte_memcpy(ip - l2_len, l2, l2_len);
	ip[-2] = sa->family == 4 ? 0x08 : 0x86;
	ip[-1] = sa->family == 4 ? 0x00 : 0xdd;
	if (sa->family == 4) {
		/* what rte_ipv4_cksum() would make of it, from the two
		 * fields prepare wrote: a load across its narrow stores
		 * would wait for them */
		struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)ip;
		uint32_t sum = sa->cksum_base + h->total_length + h->packet_id;

		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		h->hdr_checksum = (rte_be16_t)~sum;
	}

	memcpy(&iv, esp + MG_ESP_HDR_LEN, sizeof(iv));
	iv ^= sa->iv_mask;
	memcpy(esp + MG_ESP_HDR_LEN, &iv, sizeof(iv));
	memcpy(nonce, &iv, sizeof(iv));
	/* the inner packet follows the IV */
	if ((esp[MG_ESP_HDR_LEN + ESP_IV_LEN] >> 4) == 6)
		op->sym->aead.digest.data[-(sa->esn ? 4 : 0) - 1] =
			IPPROTO_IPV6;
	return true;
}

static void
flush_out(struct mg_esp_worker *ew)
{
	struct rte_crypto_op *ops[ESP_STAGE], *enq[ESP_STAGE];
	struct rte_mbuf *mbufs[ESP_STAGE];
	uint16_t i = 0, j, k, x, cnt, n_enq = 0, sent;
	struct mg_esp_sa *sa;

	while (i < ew->n_out) {
		sa = ew->out[i].sa;
		for (j = i; j < ew->n_out && ew->out[j].sa == sa; j++) {
			struct rte_mbuf *m = ew->out[j].m;

			mbufs[j - i] = m;
			rte_pktmbuf_adj(m, esp_mbuf(&ew->marks, m)->l2_len);
			m->l2_len = 0;
		}
		cnt = j - i;
		i = j;
		if (rte_crypto_op_bulk_alloc(ew->op_pool,
					     RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops,
					     cnt) == 0) {
			for (x = 0; x < cnt; x++)
				drop_pkt(ew, mbufs[x], ESP_D_CRYPTO_FULL, sa,
					 0);
			continue;
		}
		k = rte_ipsec_pkt_crypto_prepare(&sa->ss, mbufs, ops, cnt);
		/* librte_ipsec reserves the burst's sequence numbers even
		 * when the last ones would wrap */
		add(&ew->sa[sa->slot].requested, cnt);
		if (k < cnt) {
			/* room was checked: only the end of the sequence
			 * numbers refuses; the SA stops there */
			__atomic_store_n(&sa->stopped, true, __ATOMIC_RELAXED);
			for (x = k; x < cnt; x++)
				drop_pkt(ew, mbufs[x], ESP_D_SEQ_EXHAUSTED, sa,
					 0);
			rte_mempool_put_bulk(ew->op_pool, (void **)&ops[k],
					     cnt - k);
		}
		for (x = 0; x < k; x++) {
			struct rte_mbuf *m = ops[x]->sym->m_src;
			struct mg_esp_mbuf *mb = esp_mbuf(&ew->marks, m);

			if (unlikely(!patch_outbound(
				    sa, ops[x], ew->l2[mb->aux], mb->l2_len))) {
				drop_pkt(ew, m, ESP_D_CRYPTO_FULL, sa, 0);
				rte_crypto_op_free(ops[x]);
				continue;
			}
			enq[n_enq++] = ops[x];
		}
	}
	ew->n_out = 0;
	if (n_enq == 0)
		return;
	sent = esp_enqueue(ew, enq, n_enq);
	for (x = sent; x < n_enq; x++) {
		struct rte_mbuf *m = enq[x]->sym->m_src;

		sa = (struct mg_esp_sa *)(uintptr_t)
			rte_cryptodev_sym_session_opaque_data_get(
				enq[x]->sym->session);
		drop_pkt(ew, m, ESP_D_CRYPTO_FULL, sa, 0);
		rte_crypto_op_free(enq[x]);
	}
}

void
mg_esp_flush(struct mg_esp_worker *ew)
{
	if (ew->n_in != 0)
		flush_in(ew);
	if (ew->n_out != 0)
		flush_out(ew);
}

bool
mg_esp_busy(const struct mg_esp_worker *ew)
{
	return ew->n_in != 0 || ew->n_out != 0 || ew->enqueued != ew->dequeued;
}

/* ---- completion ---- */

/* The inner packet's trailer says IPv6: librte_ipsec checks it against
 * the SA's (IPv4) before it strips it. Only after the ICV was checked:
 * the byte was authenticated. */
static inline void
unpatch_inbound(const struct mg_esp_sa *sa, struct rte_mbuf *m)
{
	uint32_t off = m->pkt_len - ESP_ICV_LEN - (sa->esn ? 4 : 0) - 1;
	struct rte_mbuf *seg = m;
	uint8_t *np;

	while (seg != NULL && off >= seg->data_len) {
		off -= seg->data_len;
		seg = seg->next;
	}
	if (seg == NULL)
		return;
	np = rte_pktmbuf_mtod_offset(seg, uint8_t *, off);
	if (*np == IPPROTO_IPV6)
		*np = IPPROTO_IPIP;
}

/* The inner packet as a frame again: the outer L2 header (whoever sent
 * the tunnel packet is who answers go back to), its ethertype the inner
 * family's, the peer's mark, no NIC verdicts about the outer packet. */
static bool
reframe(struct mg_esp_worker *ew, const struct mg_esp_sa *sa,
	struct rte_mbuf *m)
{
	struct mg_esp_mbuf *mb = esp_mbuf(&ew->marks, m);
	const uint8_t *old = (const uint8_t *)m->buf_addr + mb->data_off;
	uint8_t version = *rte_pktmbuf_mtod(m, const uint8_t *) >> 4;
	uint8_t *p;

	if (version != 4 && version != 6)
		return false;
	p = (uint8_t *)rte_pktmbuf_prepend(m, mb->l2_len);
	if (p == NULL)
		return false;
	/* no overlap: the outer IP header, ESP header and IV that went are
	 * more than ESP_L2_MAX bytes */
	RTE_BUILD_BUG_ON(sizeof(struct rte_ipv4_hdr) + MG_ESP_HDR_LEN +
				 ESP_IV_LEN <
			 ESP_L2_MAX);
	rte_memcpy(p, old, mb->l2_len);
	p[mb->l2_len - 2] = version == 4 ? 0x08 : 0x86;
	p[mb->l2_len - 1] = version == 4 ? 0x00 : 0xdd;
	m->ol_flags = (m->ol_flags &
		       (RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED |
			RTE_MBUF_F_RX_QINQ | RTE_MBUF_F_RX_QINQ_STRIPPED)) |
		      ew->marks.decap;
	m->packet_type = 0;
	mb->origin = sa->peer;
	return true;
}

static void
complete_in(struct mg_esp_worker *ew, struct mg_esp_sa *sa,
	    struct rte_crypto_op **ops, uint16_t n,
	    const struct mg_esp_sink *sink)
{
	struct rte_mbuf *good[ESP_DEQ_BURST];
	struct esp_sa_stats *st = &ew->sa[sa->slot];
	uint64_t packets = 0, bytes = 0;
	uint16_t g = 0, k, x, start;

	for (x = 0; x < n; x++) {
		struct rte_mbuf *m = ops[x]->sym->m_src;

		if (ops[x]->status != RTE_CRYPTO_OP_STATUS_SUCCESS) {
			drop_pkt(ew, m, ESP_D_BAD_ICV, sa, 0);
			continue;
		}
		unpatch_inbound(sa, m);
		esp_mbuf(&ew->marks, m)->aux = m->pkt_len;
		good[g++] = m;
	}
	rte_mempool_put_bulk(ew->op_pool, (void **)ops, n);
	/* the window moves, the headers go */
	k = g != 0 ? rte_ipsec_pkt_process(&sa->ss, good, g) : 0;
	/* what librte_ipsec took, our window takes too, or refuses: a
	 * replay it missed, or a duplicate of the same burst */
	for (x = 0; x < k; x++) {
		struct rte_mbuf *m = good[x];
		uint64_t sqn =
			full_seq(sa, sa->top, esp_mbuf(&ew->marks, m)->seq);
		enum esp_drop d = window_check(sa, sqn);

		if (d != ESP_D_MAX) {
			drop_pkt(ew, m, d, sa, 0);
			good[x] = NULL;
			continue;
		}
		window_take(sa, sqn);
	}
	for (x = k; x < g; x++) {
		struct rte_mbuf *m = good[x];
		struct mg_esp_mbuf *mb = esp_mbuf(&ew->marks, m);

		/* refused before the headers went: padding or next header
		 * wrong; after: its sequence number (a duplicate authenticated
		 * in the same burst, or one the window left behind; a
		 * duplicate the burst's later packets also left behind counts
		 * as out of window) */
		drop_pkt(ew, m,
			 m->pkt_len == mb->aux ? ESP_D_MALFORMED
					       : seq_refusal(sa, mb->seq),
			 sa, 0);
	}
	for (x = 0; x < k; x++) {
		if (good[x] == NULL)
			continue;
		if (!reframe(ew, sa, good[x])) {
			drop_pkt(ew, good[x], ESP_D_MALFORMED, sa, 0);
			good[x] = NULL;
			continue;
		}
		packets++;
		bytes += good[x]->pkt_len;
	}
	add(&st->packets, packets);
	add(&st->bytes, bytes);
	/* handed on in runs of one port, order kept */
	for (x = 0; x < k;) {
		uint8_t port;

		while (x < k && good[x] == NULL)
			x++;
		if (x == k)
			break;
		start = x;
		port = esp_mbuf(&ew->marks, good[x])->port;
		while (x < k && good[x] != NULL &&
		       esp_mbuf(&ew->marks, good[x])->port == port)
			x++;
		sink->decapsulated(sink->ctx, port, &good[start], x - start);
	}
}

static void
complete_out(struct mg_esp_worker *ew, struct mg_esp_sa *sa,
	     struct rte_crypto_op **ops, uint16_t n,
	     const struct mg_esp_sink *sink)
{
	struct rte_mbuf *good[ESP_DEQ_BURST];
	struct esp_sa_stats *st = &ew->sa[sa->slot];
	uint64_t packets = 0, bytes = 0;
	uint16_t g = 0, k, x;

	for (x = 0; x < n; x++) {
		struct rte_mbuf *m = ops[x]->sym->m_src;

		if (ops[x]->status != RTE_CRYPTO_OP_STATUS_SUCCESS) {
			drop_pkt(ew, m, ESP_D_CRYPTO_FULL, sa, 0);
			continue;
		}
		good[g++] = m;
	}
	rte_mempool_put_bulk(ew->op_pool, (void **)ops, n);
	k = g != 0 ? rte_ipsec_pkt_process(&sa->ss, good, g) : 0;
	for (x = k; x < g; x++)
		drop_pkt(ew, good[x], ESP_D_CRYPTO_FULL, sa, 0);
	for (x = 0; x < k; x++) {
		struct rte_mbuf *m = good[x];
		struct mg_esp_mbuf *mb = esp_mbuf(&ew->marks, m);

		if (sa->family == 6 && sa->udp_encap) {
			/* IPv6 has no UDP without a checksum (RFC 8200) */
			struct rte_ipv6_hdr *h =
				rte_pktmbuf_mtod(m, struct rte_ipv6_hdr *);
			struct rte_udp_hdr *u = (struct rte_udp_hdr *)(h + 1);

			u->dgram_cksum = 0;
			u->dgram_cksum = rte_ipv6_udptcp_cksum(h, u);
		}
		/* the L2 header is in place (patch_outbound()) */
		if (rte_pktmbuf_prepend(m, mb->l2_len) == NULL) {
			drop_pkt(ew, m, ESP_D_CRYPTO_FULL, sa, 0);
			continue;
		}
		m->l2_len = mb->l2_len;
		m->ol_flags &= ~(ew->marks.decap | ew->marks.encap);
		packets++;
		bytes += mb->seq;
		sink->encapsulated(sink->ctx, mb->port, m);
	}
	add(&st->packets, packets);
	add(&st->bytes, bytes);
}

unsigned int
mg_esp_poll(struct mg_esp_worker *ew, const struct mg_esp_sink *sink)
{
	struct rte_crypto_op *ops[ESP_DEQ_BURST];
	struct mg_esp_sa *sa;
	uint16_t n, i = 0, j;

	if (ew->enqueued == ew->dequeued)
		return 0;
	n = esp_dequeue(ew, ops, ESP_DEQ_BURST);
	while (i < n) {
		sa = (struct mg_esp_sa *)(uintptr_t)
			rte_cryptodev_sym_session_opaque_data_get(
				ops[i]->sym->session);
		for (j = i + 1;
		     j < n && ops[j]->sym->session == ops[i]->sym->session; j++)
			;
		if (sa->inbound)
			complete_in(ew, sa, &ops[i], j - i, sink);
		else
			complete_out(ew, sa, &ops[i], j - i, sink);
		i = j;
	}
	/* after completion: the SAs may be retired from here on */
	add(&ew->dequeued, n);
	return n;
}

/* ---- workers ---- */

struct mg_esp_worker *
mg_esp_worker_create(struct mg_esp *esp, unsigned int rank,
		     struct mg_lcore_stats *stats, int socket)
{
	struct mg_esp_worker *ew;

	if (esp == NULL || rank >= esp->n_workers || stats == NULL) {
		rte_errno = EINVAL;
		return NULL;
	}
	ew = rte_zmalloc_socket("mg_esp_worker", sizeof(*ew),
				RTE_CACHE_LINE_SIZE, socket);
	if (ew == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	ew->esp = esp;
	ew->rank = rank;
	ew->dev_id = esp->dev_id;
	ew->marks = esp->marks;
	ew->op_pool = esp->op_pool;
	ew->cpu_crypto = esp->cpu_crypto;
	ew->stats = stats;
	pthread_mutex_lock(&esp->lock);
	esp->workers[rank] = ew;
	pthread_mutex_unlock(&esp->lock);
	return ew;
}

/* What comes back when nobody handles it any more. */
static void
sink_free_burst(void *ctx __rte_unused, uint16_t port __rte_unused,
		struct rte_mbuf **pkts, uint16_t n)
{
	rte_pktmbuf_free_bulk(pkts, n);
}

static void
sink_free(void *ctx __rte_unused, uint16_t port __rte_unused,
	  struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void
mg_esp_worker_free(struct mg_esp_worker *ew)
{
	const struct mg_esp_sink drain = { sink_free_burst, sink_free, NULL };
	unsigned int tries;
	uint16_t i;

	if (ew == NULL)
		return;
	for (i = 0; i < ew->n_in; i++)
		rte_pktmbuf_free(ew->in[i].m);
	for (i = 0; i < ew->n_out; i++)
		rte_pktmbuf_free(ew->out[i].m);
	ew->n_in = ew->n_out = 0;
	/* the software PMD finishes what it holds at dequeue: bounded */
	for (tries = 0; ew->enqueued != ew->dequeued && tries < 100000; tries++)
		mg_esp_poll(ew, &drain);
	pthread_mutex_lock(&ew->esp->lock);
	ew->esp->workers[ew->rank] = NULL;
	pthread_mutex_unlock(&ew->esp->lock);
	rte_free(ew);
}

/* ---- one frame at a time (fuzzing, tests) ---- */

struct one_ctx {
	struct rte_mbuf *out;
};

static void
one_decap(void *arg, uint16_t port __rte_unused, struct rte_mbuf **pkts,
	  uint16_t n)
{
	struct one_ctx *c = arg;
	uint16_t i;

	for (i = 0; i < n; i++) {
		if (c->out == NULL)
			c->out = pkts[i];
		else
			rte_pktmbuf_free(pkts[i]);
	}
}

int
mg_esp_decap_one(struct mg_esp_worker *ew, const struct mg_esp_set *set,
		 struct rte_mbuf *m, uint64_t now, struct rte_mbuf **out,
		 enum mg_drop_reason *why)
{
	struct one_ctx c = { NULL };
	const struct mg_esp_sink sink = { one_decap, sink_free, &c };
	uint64_t before[MG_DROP_CAPACITY];
	struct mg_pkt_info info;
	unsigned int tries, r;
	uint8_t reason;

	*out = NULL;
	*why = MG_DROP_NONE;
	reason = (uint8_t)mg_pkt_parse(m, &info);
	if (reason != MG_DROP_NONE) {
		*out = m;
		return 0;
	}
	memcpy(before, ew->stats->drops, sizeof(before));
	if (mg_esp_input(ew, set, 0, &m, &info, &reason, 1, now) == 1) {
		*out = m;
		*why = reason;
		return 0;
	}
	mg_esp_flush(ew);
	for (tries = 0; mg_esp_busy(ew) && tries < 1000; tries++)
		mg_esp_poll(ew, &sink);
	if (c.out != NULL) {
		*out = c.out;
		return 1;
	}
	for (r = 1; r < MG_DROP_CAPACITY; r++)
		if (ew->stats->drops[r] != before[r])
			*why = (enum mg_drop_reason)r;
	return -1;
}
