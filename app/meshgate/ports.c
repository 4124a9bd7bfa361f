/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Port bring-up from a drivers-conf profile, degrading for what the NIC
 * lacks instead of failing; the NIC's counters for the control plane. */

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_security.h>

#include "meshgate.h"
#include "mg_pkt.h"

/* Same 16-bit pattern throughout: Toeplitz then hashes (a,b) and (b,a)
 * alike, so both directions of a connection land on one queue. */
#define SYMMETRIC_KEY_BYTE_0 0x6d
#define SYMMETRIC_KEY_BYTE_1 0x5a
#define RSS_KEY_MAX	     64

/* Profile bits (lib/conf) to ethdev bits; names come from lib/conf. */
struct bit_map {
	uint32_t mg;
	uint64_t eth;
};

static const struct bit_map rss_map[] = {
	{ MG_RSS_IPV4, RTE_ETH_RSS_IPV4 },
	{ MG_RSS_IPV4_TCP, RTE_ETH_RSS_NONFRAG_IPV4_TCP },
	{ MG_RSS_IPV4_UDP, RTE_ETH_RSS_NONFRAG_IPV4_UDP },
	{ MG_RSS_IPV6, RTE_ETH_RSS_IPV6 },
	{ MG_RSS_IPV6_TCP, RTE_ETH_RSS_NONFRAG_IPV6_TCP },
	{ MG_RSS_IPV6_UDP, RTE_ETH_RSS_NONFRAG_IPV6_UDP },
};

static const struct bit_map rx_offload_map[] = {
	{ MG_OFFLOAD_IPV4_CKSUM, RTE_ETH_RX_OFFLOAD_IPV4_CKSUM },
	{ MG_OFFLOAD_TCP_CKSUM, RTE_ETH_RX_OFFLOAD_TCP_CKSUM },
	{ MG_OFFLOAD_UDP_CKSUM, RTE_ETH_RX_OFFLOAD_UDP_CKSUM },
	{ MG_OFFLOAD_VLAN_STRIP, RTE_ETH_RX_OFFLOAD_VLAN_STRIP },
};

static const struct bit_map tx_offload_map[] = {
	{ MG_OFFLOAD_IPV4_CKSUM, RTE_ETH_TX_OFFLOAD_IPV4_CKSUM },
	{ MG_OFFLOAD_TCP_CKSUM, RTE_ETH_TX_OFFLOAD_TCP_CKSUM },
	{ MG_OFFLOAD_UDP_CKSUM, RTE_ETH_TX_OFFLOAD_UDP_CKSUM },
	{ MG_OFFLOAD_VLAN_INSERT, RTE_ETH_TX_OFFLOAD_VLAN_INSERT },
	{ MG_OFFLOAD_MBUF_FAST_FREE, RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE },
};

/* Maps profile bits to ethdev bits the device supports (@p capa); each
 * wanted but unsupported bit is logged once so the operator knows what
 * runs in software or not at all. */
static uint64_t
map_supported(const struct bit_map *map, unsigned int n, uint32_t wanted,
	      uint64_t capa, const char *port, const char *what,
	      const char *(*name)(uint32_t bit))
{
	uint64_t out = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!(wanted & map[i].mg))
			continue;
		if (capa & map[i].eth)
			out |= map[i].eth;
		else
			MG_LOG(NOTICE,
			       "port %s: device lacks %s %s; continuing "
			       "without it",
			       port, what, name(map[i].mg));
	}
	return out;
}

/* Serialises every read of a NIC's counters and link (see mg_port_read). */
static pthread_mutex_t nic_lock = PTHREAD_MUTEX_INITIALIZER;

/* The xstats of interest of a started port, by id; names kept for the
 * exporters. A PMD without xstats has none, which is no error. */
static void
find_xstats(const char *name, struct mg_port *port)
{
	struct rte_eth_xstat_name *names;
	unsigned int i, skipped = 0;
	int n;

	port->n_xstats = 0;
	n = rte_eth_xstats_get_names(port->port_id, NULL, 0);
	if (n <= 0)
		return;
	names = calloc((size_t)n, sizeof(*names));
	if (names == NULL)
		return;
	n = rte_eth_xstats_get_names(port->port_id, names, (unsigned int)n);
	for (i = 0; n > 0 && i < (unsigned int)n; i++) {
		if (!mg_telemetry_xstat_of_interest(names[i].name))
			continue;
		if (port->n_xstats == MG_TELEMETRY_MAX_XSTATS) {
			skipped++;
			continue;
		}
		port->xstat_id[port->n_xstats] = i;
		snprintf(port->xstat_name[port->n_xstats],
			 sizeof(port->xstat_name[0]), "%s", names[i].name);
		port->n_xstats++;
	}
	free(names);
	if (skipped > 0)
		MG_LOG(NOTICE,
		       "port %s: %u more driver error counters than the %u "
		       "exported",
		       name, skipped, MG_TELEMETRY_MAX_XSTATS);
}

int
mg_port_read(const struct mg_port *port, struct mg_telemetry_port *out)
{
	struct rte_eth_stats st;
	unsigned int i;
	int rc, x = 0;

	memset(out, 0, sizeof(*out));
	out->name = port->name;
	out->port_id = port->port_id;
	pthread_mutex_lock(&nic_lock);
	rc = rte_eth_stats_get(port->port_id, &st);
	if (rc == 0 && port->n_xstats > 0)
		x = rte_eth_xstats_get_by_id(port->port_id, port->xstat_id,
					     out->xstat_value, port->n_xstats);
	pthread_mutex_unlock(&nic_lock);
	if (rc != 0)
		return rc;
	out->ipackets = st.ipackets;
	out->opackets = st.opackets;
	out->ibytes = st.ibytes;
	out->obytes = st.obytes;
	out->imissed = st.imissed;
	out->ierrors = st.ierrors;
	out->oerrors = st.oerrors;
	out->rx_nombuf = st.rx_nombuf;
	/* a failed xstats read leaves them out rather than report zeros */
	if (x == (int)port->n_xstats) {
		out->n_xstats = port->n_xstats;
		for (i = 0; i < port->n_xstats; i++)
			out->xstat_name[i] = port->xstat_name[i];
	}
	return 0;
}

bool
mg_port_link_up(const struct mg_port *port)
{
	struct rte_eth_link link;
	int rc;

	if (!port->started)
		return false;
	pthread_mutex_lock(&nic_lock);
	rc = rte_eth_link_get_nowait(port->port_id, &link);
	pthread_mutex_unlock(&nic_lock);
	return rc == 0 && link.link_status == RTE_ETH_LINK_UP;
}

/* Seconds between two warnings about super-frames on one port. */
#define SUPER_FRAME_WARN_S 60

/*
 * A frame the ring cut (its IP length is more than arrived) or a TCP
 * segment larger than the MTU that no router may have fragmented (DF,
 * or IPv6, which the kernel does not reassemble for af_packet): a
 * TSO/GSO or GRO super-frame, which the gateway cannot send on. Said at
 * most once a minute per port, from whichever worker sees one first.
 */
static void
super_frame(struct mg_port_kernel *k, const struct rte_mbuf *m,
	    const struct mg_pkt_info *info, enum mg_drop_reason r)
{
	const uint8_t *l3 =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->l3_off);
	uint32_t arrived = rte_pktmbuf_pkt_len(m) - info->l3_off;
	uint64_t now, last;
	uint32_t claimed;
	bool v4;

	if (r == MG_DROP_IPV4_BAD_LENGTH || r == MG_DROP_IPV6_BAD_LENGTH) {
		v4 = r == MG_DROP_IPV4_BAD_LENGTH;
		if (rte_pktmbuf_data_len(m) < info->l3_off + (v4 ? 4 : 6))
			return;
		claimed = v4 ? (uint32_t)(l3[2] << 8 | l3[3])
			     : 40u + (uint32_t)(l3[4] << 8 | l3[5]);
		if (claimed <= arrived)
			return;
	} else if (r == MG_DROP_NONE && info->tuple.proto == IPPROTO_TCP &&
		   info->frag == 0 && mg_pkt_l3_len(info) > k->mtu &&
		   (info->l3 == MG_L3_IPV6 ||
		    (l3[6] & (RTE_IPV4_HDR_DF_FLAG >> 8)))) {
		claimed = mg_pkt_l3_len(info);
	} else {
		return;
	}
	now = rte_rdtsc();
	last = __atomic_load_n(&k->warned, __ATOMIC_RELAXED);
	if ((last != 0 && now - last < SUPER_FRAME_WARN_S * rte_get_tsc_hz()) ||
	    !__atomic_compare_exchange_n(&k->warned, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	MG_LOG(WARNING,
	       "port %s: %s handed over an IP packet of %u bytes (MTU %u; "
	       "%u arrived): a TSO/GSO or GRO super-frame, which cannot be "
	       "sent on; it is dropped (%s). Turn segmentation offload off "
	       "where it comes from: on the interface that sends to %s "
	       "(a veth's peer: ethtool -K PEER tso off gso off) and on %s "
	       "itself (ethtool -K %s gro off)",
	       k->name, k->ifname, claimed, k->mtu, arrived,
	       r != MG_DROP_NONE ? mg_drop_reason_name(r) : "mtu_exceeded",
	       k->ifname, k->ifname, k->ifname);
}

/*
 * net_af_packet receives from the Linux stack, which hands over packets
 * whose TCP or UDP checksum a NIC was to compute (CHECKSUM_PARTIAL: a
 * veth whose peer has tx checksum offload on, its default; GRO on a
 * NIC). DPDK 22.11's PMD drops the ring's TP_STATUS_CSUMNOTREADY flag,
 * so each such packet is recognised by its content and completed here,
 * in the RX burst, before the worker parses it: connection tracking,
 * the SYN check at admission, layer-7 inspection and the NAT's
 * incremental update then all see a correct checksum. The worker parses
 * each frame again; af_packet copies every frame anyway.
 */
static uint16_t
complete_cksums(uint16_t port_id, uint16_t queue, struct rte_mbuf **pkts,
		uint16_t n, uint16_t max, void *arg)
{
	struct mg_pkt_info info;
	enum mg_drop_reason r;
	uint16_t i;

	RTE_SET_USED(port_id);
	RTE_SET_USED(queue);
	RTE_SET_USED(max);
	for (i = 0; i < n; i++) {
		r = mg_pkt_parse(pkts[i], &info);
		if (likely(r == MG_DROP_NONE))
			mg_pkt_l4_cksum_complete(pkts[i], &info);
		super_frame(arg, pkts[i], &info, r);
	}
	return n;
}

/* Whether the device hands over what the kernel's stack received. */
static bool
from_kernel(const struct rte_eth_dev_info *info)
{
	return info->driver_name != NULL &&
	       strcmp(info->driver_name, "net_af_packet") == 0;
}

static int
configure(const struct mg_port_conf *pc, struct mg_port *port,
	  const struct rte_eth_dev_info *info, bool rx_intr, uint8_t *key)
{
	const struct mg_port_profile *p = &pc->profile;
	struct rte_eth_conf eth = { 0 };
	uint8_t key_len;
	int rc;

	port->rx_offloads =
		map_supported(rx_offload_map, RTE_DIM(rx_offload_map),
			      p->rx_offloads, info->rx_offload_capa, pc->name,
			      "rx offload", mg_conf_offload_name);
	port->tx_offloads =
		map_supported(tx_offload_map, RTE_DIM(tx_offload_map),
			      p->tx_offloads, info->tx_offload_capa, pc->name,
			      "tx offload", mg_conf_offload_name);
	/* Jumbo frames, reassembled datagrams and fragments leave as mbuf
	 * chains; fragments refer to shared data through indirect mbufs
	 * from a second pool, which fast free cannot handle. */
	if (port->tx_offloads & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) {
		port->tx_offloads &= ~RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
		MG_LOG(NOTICE,
		       "port %s: not using tx offload mbuf-fast-free: "
		       "fragments share mbufs across pools",
		       pc->name);
	}
	if (info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		port->tx_offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	eth.rxmode.offloads = port->rx_offloads;
	eth.txmode.offloads = port->tx_offloads;

	if (port->n_queues > 1 && p->rss != 0) {
		port->rss_hf =
			map_supported(rss_map, RTE_DIM(rss_map), p->rss,
				      info->flow_type_rss_offloads, pc->name,
				      "rss type", mg_conf_rss_name);
		eth.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		eth.rx_adv_conf.rss_conf.rss_hf = port->rss_hf;
		key_len = info->hash_key_size != 0 ? info->hash_key_size : 40;
		if (p->rss_symmetric && key_len <= RSS_KEY_MAX) {
			for (unsigned int i = 0; i < key_len; i++)
				key[i] = i % 2 ? SYMMETRIC_KEY_BYTE_1
					       : SYMMETRIC_KEY_BYTE_0;
			eth.rx_adv_conf.rss_conf.rss_key = key;
			eth.rx_adv_conf.rss_conf.rss_key_len = key_len;
		}
	}

	/* RX interrupts for idle.mode "interrupt": only devices with an
	 * interrupt vector per queue deliver them (mg_idle_prepare()) */
	eth.intr_conf.rxq = rx_intr;
	rc = rte_eth_dev_configure(port->port_id, port->n_queues,
				   port->n_queues, &eth);
	if (rc < 0 && rx_intr) {
		MG_LOG(NOTICE, "port %s: refuses RX interrupts (%s)", pc->name,
		       rte_strerror(-rc));
		eth.intr_conf.rxq = 0;
		rc = rte_eth_dev_configure(port->port_id, port->n_queues,
					   port->n_queues, &eth);
	}
	if (rc < 0) {
		MG_LOG(ERR, "port %s (%s): configure failed: %s", pc->name,
		       pc->device, rte_strerror(-rc));
		return rc;
	}
	port->mtu = RTE_ETHER_MTU;
	rte_eth_dev_get_mtu(port->port_id, &port->mtu);
	if (p->mtu_external) {
		port->mtu = p->mtu;
	} else if (p->mtu != 0) {
		rc = rte_eth_dev_set_mtu(port->port_id, p->mtu);
		if (rc == 0 || (rc == -ENOTSUP && p->mtu <= info->max_mtu)) {
			/* a device without an MTU to set (pcap, ring, null)
			 * carries whatever it is given */
			port->mtu = p->mtu;
		} else {
			MG_LOG(NOTICE,
			       "port %s: cannot set MTU %u (%s); "
			       "keeping the device's %u",
			       pc->name, p->mtu, rte_strerror(-rc), port->mtu);
		}
	}
	return 0;
}

uint16_t
mg_port_data_room(const struct mg_conf *conf)
{
	uint32_t mtu = RTE_ETHER_MTU, room;
	unsigned int i;

	for (i = 0; i < conf->n_ports; i++)
		mtu = RTE_MAX(mtu, conf->ports[i].profile.mtu);
	/* Ethernet, two VLAN tags and the CRC some PMDs keep, in whole
	 * KiB: af_packet takes frames up to its framesz less 32 bytes */
	room = RTE_ALIGN_CEIL(mtu + RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN +
				      RTE_ETHER_CRC_LEN,
			      1024);
	room = RTE_MAX(room, (uint32_t)RTE_MBUF_DEFAULT_DATAROOM);
	for (i = 0; i < conf->n_ports; i++)
		room = RTE_MAX(room, conf->ports[i].profile.rx_frame_max);
	return (uint16_t)(room + RTE_PKTMBUF_HEADROOM);
}

static int
setup_queues(const struct mg_port_conf *pc, struct mg_port *port,
	     const struct rte_eth_dev_info *info, struct rte_mempool *pool)
{
	uint16_t rx_desc = pc->profile.rx_desc, tx_desc = pc->profile.tx_desc;
	int socket = rte_eth_dev_socket_id(port->port_id);
	struct rte_eth_rxconf rxconf = info->default_rxconf;
	struct rte_eth_txconf txconf = info->default_txconf;
	uint16_t q;
	int rc;

	if (socket < 0)
		socket = (int)rte_socket_id();
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port->port_id, &rx_desc,
					      &tx_desc);
	if (rc < 0)
		return rc;
	rxconf.offloads = port->rx_offloads;
	txconf.offloads = port->tx_offloads;
	if (from_kernel(info)) {
		char ifname[IF_NAMESIZE];

		port->kernel.name = port->name;
		port->kernel.mtu = port->mtu;
		if (if_indextoname(info->if_index, ifname) != NULL)
			snprintf(port->kernel.ifname,
				 sizeof(port->kernel.ifname), "%s", ifname);
		else
			snprintf(port->kernel.ifname,
				 sizeof(port->kernel.ifname), "%s", pc->device);
	}
	for (q = 0; q < port->n_queues; q++) {
		rc = rte_eth_rx_queue_setup(port->port_id, q, rx_desc,
					    (unsigned int)socket, &rxconf,
					    pool);
		if (rc < 0) {
			MG_LOG(ERR, "port %s: rx queue %u setup failed: %s",
			       pc->name, q, rte_strerror(-rc));
			return rc;
		}
		rc = rte_eth_tx_queue_setup(port->port_id, q, tx_desc,
					    (unsigned int)socket, &txconf);
		if (rc < 0) {
			MG_LOG(ERR, "port %s: tx queue %u setup failed: %s",
			       pc->name, q, rte_strerror(-rc));
			return rc;
		}
		if (!from_kernel(info))
			continue;
		port->rx_cb[q] = rte_eth_add_rx_callback(
			port->port_id, q, complete_cksums, &port->kernel);
		if (port->rx_cb[q] == NULL) {
			MG_LOG(ERR,
			       "port %s: cannot add the checksum completion "
			       "to rx queue %u: %s",
			       pc->name, q, rte_strerror(rte_errno));
			return -rte_errno;
		}
	}
	if (from_kernel(info))
		MG_LOG(INFO,
		       "port %s: TCP and UDP checksums the kernel left to "
		       "offload are completed in software",
		       pc->name);
	return 0;
}

/*
 * A profile that asks for inline IPsec crypto (rte_security): whether
 * the device offers it is probed and said. SAs are processed through the
 * crypto_aesni_mb cryptodev either way in this version (README, "ESP
 * between edge nodes"): inline sessions and the flow rules inbound SAs
 * need are for a NIC that has them to test on.
 */
static void
check_inline_ipsec(const struct mg_port_conf *pc, const struct mg_port *port,
		   const struct rte_eth_dev_info *info)
{
	bool offered = rte_eth_dev_get_sec_ctx(port->port_id) != NULL &&
		       (info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_SECURITY) &&
		       (info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_SECURITY);

	if (offered)
		MG_LOG(NOTICE,
		       "port %s: profile %s asks for inline IPsec crypto, "
		       "which %s offers (rte_security); this version uses "
		       "the crypto_aesni_mb cryptodev for ESP all the same",
		       pc->name, pc->profile.name, pc->device);
	else
		MG_LOG(WARNING,
		       "port %s: profile %s asks for inline IPsec crypto, "
		       "which %s does not offer (no rte_security context or "
		       "security offloads): ESP goes through the "
		       "crypto_aesni_mb cryptodev",
		       pc->name, pc->profile.name, pc->device);
}

/* Remove and free the RX callbacks of a stopped port. */
static void
remove_callbacks(struct mg_port *port)
{
	uint16_t q;

	for (q = 0; q < MG_CONF_MAX_LCORES; q++) {
		if (port->rx_cb[q] == NULL)
			continue;
		/* the port is stopped: no worker runs the callback now */
		if (rte_eth_remove_rx_callback(port->port_id, q,
					       port->rx_cb[q]) == 0)
			rte_free((void *)(uintptr_t)port->rx_cb[q]);
		port->rx_cb[q] = NULL;
	}
}

int
mg_port_start(const struct mg_port_conf *pc, uint16_t n_queues,
	      struct rte_mempool *pool, bool rx_intr, struct mg_port *port)
{
	uint8_t key[RSS_KEY_MAX];
	struct rte_eth_dev_info info;
	int rc;

	memset(port, 0, sizeof(*port));
	snprintf(port->name, sizeof(port->name), "%s", pc->name);
	port->n_queues = n_queues;
	if (rte_eth_dev_get_port_by_name(pc->device, &port->port_id) != 0) {
		MG_LOG(ERR,
		       "port %s: no DPDK device '%s' (give it to EAL "
		       "with --vdev or -a, and check the name with "
		       "dpdk-devbind.py --status)",
		       pc->name, pc->device);
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(port->port_id, &info);
	if (rc != 0) {
		MG_LOG(ERR, "port %s: cannot query device '%s': %s", pc->name,
		       pc->device, rte_strerror(-rc));
		return rc;
	}
	if (n_queues > info.max_rx_queues || n_queues > info.max_tx_queues) {
		MG_LOG(ERR,
		       "port %s: device '%s' has %u rx / %u tx queues but "
		       "%u workers need %u each; run fewer worker lcores",
		       pc->name, pc->device, info.max_rx_queues,
		       info.max_tx_queues, n_queues, n_queues);
		return -ENOTSUP;
	}

	rc = configure(pc, port, &info, rx_intr, key);
	if (rc == 0)
		rc = setup_queues(pc, port, &info, pool);
	if (rc == 0 && pc->profile.promiscuous) {
		int prc = rte_eth_promiscuous_enable(port->port_id);

		if (prc != 0 && prc != -ENOTSUP)
			MG_LOG(NOTICE, "port %s: promiscuous mode refused: %s",
			       pc->name, rte_strerror(-prc));
	}
	if (rc == 0)
		rc = rte_eth_dev_start(port->port_id);
	if (rc < 0) {
		MG_LOG(ERR, "port %s (%s): start failed: %s", pc->name,
		       pc->device, rte_strerror(-rc));
		remove_callbacks(port);
		rte_eth_dev_close(port->port_id);
		return rc;
	}
	port->started = true;
	find_xstats(pc->name, port);
	if (pc->profile.ipsec_inline)
		check_inline_ipsec(pc, port, &info);
	MG_LOG(INFO,
	       "port %s: %s is port %u, %u queue(s), rx offloads "
	       "0x%" PRIx64 ", tx offloads 0x%" PRIx64 ", rss 0x%" PRIx64,
	       pc->name, pc->device, port->port_id, n_queues, port->rx_offloads,
	       port->tx_offloads, port->rss_hf);
	return 0;
}

void
mg_port_close(struct mg_port *port)
{
	if (!port->started)
		return;
	rte_eth_dev_stop(port->port_id);
	remove_callbacks(port);
	rte_eth_dev_close(port->port_id);
	port->started = false;
}
