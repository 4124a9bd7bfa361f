/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The DPDK memory a configuration needs, summed from the sizes each
 * library allocates (their *_memsize() functions, which their unit tests
 * hold to the heap), and the memory EAL or the machine can give: so that
 * a table too large fails at once with the figures, not after seconds of
 * allocation. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "meshgate.h"
#include "shadow.h"
#include "startup.h"

#define MIB (1024ull * 1024)
/* EAL's memory with --no-huge and no -m (MEMSIZE_IF_NO_HUGE_PAGE). */
#define NO_HUGE_DEFAULT_MB 64
/* Descriptor rings: a hardware descriptor (16 or 32 bytes) and the
 * driver's software entry (8 to 32) per slot, rounded up. */
#define RING_BYTES_PER_DESC 64
/*
 * What does not grow with the file's sizes: the neighbour cache and the
 * health table with its 4096 ejection groups (2.1 MiB with DPDK 22.11,
 * measured), rounded up. tests/py/test_cli.py holds the whole estimate
 * to what a start-up allocates.
 */
#define FIXED_BYTES (5 * MIB / 2)
/* One rte_ip_frag entry (struct ip_frag_pkt, 8 fragments): measured
 * 262,272 bytes for 512 entries with DPDK 22.11. */
#define FRAG_ENTRY_BYTES 512

uint32_t
mg_mem_pool_mbufs(const struct mg_conf *conf, unsigned int n_workers,
		  uint16_t n_queues)
{
	uint32_t n = 0;
	unsigned int i;

	if (conf->mbufs != 0)
		return conf->mbufs;
	for (i = 0; i < conf->n_ports; i++)
		n += (uint32_t)(conf->ports[i].profile.rx_desc +
				conf->ports[i].profile.tx_desc) *
		     n_queues;
	n += n_workers *
	     (MG_CONF_MAX_BURST * (conf->n_ports + 1) + conf->mbuf_cache);
	/* no rounding to 2^k - 1: that saves only ring slots (8 bytes
	 * each) and cost up to as many mbufs again (2.4 KiB each) */
	return n + 1024;
}

/*
 * Registries are sized once for the life of the process (series must
 * survive reloads): room for reloads to double the destinations and
 * rules.
 */
void
mg_mem_telemetry_slots(const struct mg_conf *conf, uint32_t *dests,
		       uint32_t *rules)
{
	uint32_t versions = 0;
	unsigned int i;

	for (i = 0; i < conf->n_services; i++)
		versions += conf->services[i].n_versions;
	*dests = RTE_MAX(2 * versions + 1, 64u);
	*rules = RTE_MAX(2 * (conf->n_policies + 1) + 1, 64u);
}

/*
 * Memory of @p n mempool objects of @p obj bytes: each object lies
 * within one page of @p page bytes unless @p page is 0, as DPDK's
 * rte_mempool_op_calc_mem_size_helper() counts it.
 */
static size_t
objects_memsize(uint32_t n, size_t obj, size_t page)
{
	size_t per_page, last;

	if (n == 0)
		return 0;
	if (page == 0)
		return n * obj;
	per_page = page / obj;
	if (per_page == 0)
		return RTE_ALIGN_CEIL(obj, page) * n;
	last = (n - 1) % per_page + 1;
	return last * obj + (n - last) / per_page * page + obj - 1;
}

/* rte_pktmbuf_pool_create(): the objects (mbufs of @p room bytes of
 * buffer, which must not cross a page: they need contiguous IOVA), the
 * ring that holds them, the header with a cache per possible lcore, the
 * pool's private data. */
static size_t
pool_memsize(uint32_t n, uint32_t cache, uint16_t room, size_t page)
{
	struct rte_mempool_objsz sz;
	size_t obj, head;

	obj = rte_mempool_calc_obj_size(sizeof(struct rte_mbuf) + room, 0, &sz);
	head = RTE_MEMPOOL_HEADER_SIZE((struct rte_mempool *)NULL, cache) +
	       sizeof(struct rte_pktmbuf_pool_private);
	return objects_memsize(n, obj, page) +
	       rte_ring_get_memsize(rte_align32pow2(n + 1)) +
	       RTE_ALIGN_CEIL(head, RTE_CACHE_LINE_SIZE);
}

static void
add(struct mg_mem_estimate *e, const char *what, size_t bytes)
{
	if (e->n < MG_MEM_PARTS) {
		e->what[e->n] = what;
		e->bytes[e->n++] = bytes;
	}
	e->total += bytes;
}

void
mg_mem_estimate(const struct mg_conf *conf, unsigned int n_workers,
		uint16_t n_queues, size_t page, struct mg_mem_estimate *e)
{
	uint32_t max_flows = conf->flows.max_flows, dests, rules;
	size_t flows, l7_flows, rings = 0;
	unsigned int i;

	memset(e, 0, sizeof(*e));
	flows = mg_flow_table_memsize(max_flows, n_workers);
	l7_flows = (size_t)max_flows * sizeof(struct mg_l7_flow);
	add(e, "flow table", flows);
	add(e, "layer-7 state",
	    l7_flows + mg_l7_pool_memsize(conf->l7.max_pending,
					  conf->l7.max_request_bytes,
					  n_workers));
	add(e, "mbufs",
	    pool_memsize(mg_mem_pool_mbufs(conf, n_workers, n_queues),
			 conf->mbuf_cache, mg_port_data_room(conf), page) +
		    pool_memsize(MG_INDIRECT_MBUFS, 0, 0, page));
	/* rte_ip_frag_table_create(): twice the datagrams' entries (see
	 * mg_worker_create()), about 512 bytes each with 8 fragments */
	add(e, "fragment tables",
	    n_workers * (2 * (size_t)rte_align32pow2(conf->fragments.max) *
				 FRAG_ENTRY_BYTES +
			 RTE_CACHE_LINE_SIZE));
	mg_mem_telemetry_slots(conf, &dests, &rules);
	/* and each worker's connect failures per label set (rollback) */
	add(e, "telemetry",
	    n_workers * (mg_telemetry_lcore_bytes_for(
				 conf->telemetry.max_label_sets, dests, rules) +
			 (size_t)conf->telemetry.max_label_sets *
				 sizeof(uint64_t)));
	for (i = 0; i < conf->n_ports; i++)
		rings += ((size_t)conf->ports[i].profile.rx_desc +
			  conf->ports[i].profile.tx_desc) *
			 n_queues * RING_BYTES_PER_DESC;
	add(e, "NIC rings", rings);
	add(e, "workers",
	    n_workers * (sizeof(struct mg_worker) +
			 conf->n_ports *
				 RTE_ETH_TX_BUFFER_SIZE(MG_CONF_MAX_BURST)) +
		    rte_rcu_qsbr_get_memsize(n_workers));
	/* a reload builds the new ruleset before it frees the old one */
	add(e, "rulesets", 2 * mg_ruleset_memsize(conf));
	add(e, "limits",
	    mg_limit_table_memsize(MG_TEL_MAX_LIMITS, mg_limit_regions(conf),
				   conf->limit_sources, n_workers));
	/* the cryptodev and its pools, made only for a file with peers (a
	 * reload cannot bring the first ones) */
	if (conf->n_peers != 0)
		add(e, "ESP", mg_esp_memsize(n_workers, MG_ESP_QP_DEPTH));
	add(e, "fixed tables", FIXED_BYTES);
	if (conf->recorder.packets != 0)
		add(e, "flight recorder",
		    n_workers * mg_recorder_memsize(conf->recorder.packets));
	/* the candidate's ruleset is taken to be the size of this one */
	if (conf->shadow[0] != '\0')
		add(e, "shadow",
		    mg_shadow_memsize(max_flows, n_workers,
				      conf->l7.max_pending,
				      conf->l7.max_request_bytes) +
			    2 * mg_ruleset_memsize(conf));
	RTE_BUILD_BUG_ON(MG_MEM_PARTS < 13);
	e->per_flow = max_flows != 0 ? (flows + l7_flows) / max_flows : 0;
}

/* Layer-7 buffers for @p flows connections when the file sets none:
 * heads split across segments are rare, one in 256 is plenty. */
static uint32_t
pending_for(uint32_t flows)
{
	return RTE_MIN(RTE_MAX(flows / 256, 16u), 1024u);
}

static size_t
estimate_with(struct mg_conf *conf, unsigned int n_workers, uint16_t n_queues,
	      size_t page, uint32_t flows, struct mg_mem_estimate *e)
{
	conf->flows.max_flows = flows;
	if (!conf->l7_pending_set)
		conf->l7.max_pending = pending_for(flows);
	mg_mem_estimate(conf, n_workers, n_queues, page, e);
	return e->total;
}

int
mg_mem_fit(struct mg_conf *conf, unsigned int n_workers, uint16_t n_queues,
	   size_t page, char *err, size_t len)
{
	size_t budget = (size_t)conf->memory_mb * MIB, parts_len = 512;
	uint32_t lo = 1, hi = (1u << 24) / 1024, mid;
	struct mg_mem_estimate e;
	char parts[512];

	if (conf->memory_mb == 0)
		return 0;
	budget = budget > MG_MEM_EAL_OWN_BYTES ? budget - MG_MEM_EAL_OWN_BYTES
					       : 0;
	if (!conf->flows_max_set && estimate_with(conf, n_workers, n_queues,
						  page, 1024, &e) <= budget) {
		/* the most connections, in steps of 1024, that fit */
		while (lo < hi) {
			mid = lo + (hi - lo + 1) / 2;
			if (estimate_with(conf, n_workers, n_queues, page,
					  mid * 1024, &e) <= budget)
				lo = mid;
			else
				hi = mid - 1;
		}
		estimate_with(conf, n_workers, n_queues, page, lo * 1024, &e);
		return 0;
	}
	if (!conf->flows_max_set)
		estimate_with(conf, n_workers, n_queues, page, 1024, &e);
	else
		estimate_with(conf, n_workers, n_queues, page,
			      conf->flows.max_flows, &e);
	if (e.total <= budget)
		return 0;
	mg_mem_describe(&e, parts, parts_len);
	snprintf(err, len,
		 "%s:%d: memory_mb = %u cannot hold what the file asks: it "
		 "needs about %zu MiB (%s; and %.1f MiB for EAL itself) with "
		 "%u worker(s); lower flows.max (%u), l7.max_pending or "
		 "mempool.mbufs, or raise memory_mb to %zu",
		 conf->path, conf->memory_line, conf->memory_mb,
		 (size_t)((e.total + MIB - 1) / MIB), parts,
		 (double)MG_MEM_EAL_OWN_BYTES / MIB, n_workers,
		 conf->flows.max_flows,
		 (size_t)((e.total + MG_MEM_EAL_OWN_BYTES + MIB - 1) / MIB));
	return -ENOMEM;
}

void
mg_mem_describe(const struct mg_mem_estimate *e, char *buf, size_t len)
{
	size_t used = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < e->n && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s %.1f MiB",
				 i ? ", " : "", e->what[i],
				 (double)e->bytes[i] / MIB);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

size_t
mg_mem_page_size(bool no_huge)
{
	uint64_t page;

	if (no_huge)
		return (size_t)sysconf(_SC_PAGESIZE);
	mg_hugepages_free(-1, NULL, &page);
	return (size_t)page;
}

uint64_t
mg_mem_available_offline(const struct mg_eal_opts *o, char *why, size_t len)
{
	uint64_t reserved, page, avail, ram;

	if (o->no_huge) {
		uint64_t mb = o->mem_mb != 0 ? o->mem_mb : NO_HUGE_DEFAULT_MB;

		snprintf(why, len, "--no-huge -m %llu", (unsigned long long)mb);
		return mb * MIB;
	}
	avail = mg_hugepages_free(-1, &reserved, &page);
	if (o->socket_limit_mb != 0 && avail > o->socket_limit_mb * MIB)
		avail = o->socket_limit_mb * MIB;
	/* legacy memory maps what -m asks at start and never grows */
	if (o->legacy_mem && o->mem_mb != 0 && avail > o->mem_mb * MIB)
		avail = o->mem_mb * MIB;
	if (reserved != 0) {
		snprintf(why, len, "free hugepages of %llu KiB%s%s",
			 (unsigned long long)(page / 1024),
			 o->socket_limit_mb != 0 ? ", --socket-limit" : "",
			 o->legacy_mem && o->mem_mb != 0 ? ", --legacy-mem -m"
							 : "");
		return avail;
	}
	/* no hugepages yet (a host that only checks files): judge by the
	 * memory the machine could reserve them from */
	ram = (uint64_t)sysconf(_SC_AVPHYS_PAGES) *
	      (uint64_t)sysconf(_SC_PAGESIZE);
	snprintf(why, len,
		 "free memory: no hugepages are reserved on this machine "
		 "yet");
	return ram;
}

uint64_t
mg_mem_available(const struct mg_eal_opts *o, char *why, size_t len)
{
	struct rte_malloc_socket_stats st = { 0 };
	int socket = (int)rte_socket_id();
	uint64_t more = 0, page;

	rte_malloc_get_socket_stats(socket, &st);
	/* dynamic memory maps more hugepages as the heap needs them */
	if (rte_eal_has_hugepages() && !o->legacy_mem) {
		more = mg_hugepages_free(socket, NULL, &page);
		if (more == 0 && socket == 0) /* no NUMA in sysfs */
			more = mg_hugepages_free(-1, NULL, &page);
		if (o->socket_limit_mb != 0) {
			uint64_t cap = o->socket_limit_mb * MIB;

			more = st.heap_totalsz_bytes >= cap
				       ? 0
				       : RTE_MIN(more,
						 cap - st.heap_totalsz_bytes);
		}
	}
	snprintf(why, len,
		 "%llu MiB free in its heap, %llu MiB of hugepages it can "
		 "still map",
		 (unsigned long long)(st.heap_freesz_bytes / MIB),
		 (unsigned long long)(more / MIB));
	return st.heap_freesz_bytes + more;
}

uint64_t
mg_mem_in_use(void)
{
	struct rte_malloc_socket_stats st;

	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &st) != 0)
		return 0;
	return st.heap_allocsz_bytes;
}

uint64_t
mg_mem_mapped(void)
{
	struct rte_malloc_socket_stats st;

	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &st) != 0)
		return 0;
	return st.heap_totalsz_bytes;
}

uint64_t
mg_mem_prealloc_mb(const struct mg_mem_estimate *e, const struct mg_eal_opts *o)
{
	uint64_t page, free_bytes, want;

	/* the operator's own sizes, or no hugepages to map at start; on
	 * more than one NUMA node EAL would spread -m over them */
	if (o->no_huge || o->legacy_mem || o->mem_mb != 0 ||
	    o->socket_limit_mb != 0 ||
	    access("/sys/devices/system/node/node1", F_OK) == 0)
		return 0;
	free_bytes = mg_hugepages_free(-1, NULL, &page);
	if (page == 0)
		return 0;
	want = RTE_ALIGN_CEIL(e->total + MG_MEM_EAL_OWN_BYTES, page);
	/* too few free: EAL would refuse -m; let it grow as it can (the
	 * check after start-up says what is missing) */
	if (want > free_bytes)
		return 0;
	return want / MIB;
}
