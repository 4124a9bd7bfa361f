/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* Built only when DPDK is linked statically (meson option dpdk_link):
 * what a secondary process on Debian's shared DPDK, the stock
 * dpdk-dumpcap, needs to find in meshgate's mempool ops table.
 *
 * rte_pdump runs in the primary: it copies each captured packet into
 * the secondary's pool (ring_mp_mc), through ops the pool names by its
 * index in the *secondary's* table. A shared secondary registers the
 * ops of every mempool driver in its plugin directory, in the order it
 * reads the directory: Debian's 22.11 has eight besides the six ring
 * ones (octeontx_fpavf, dpaa, dpaa2, cn9k, cn10k, stack, lf_stack,
 * bucket), so its ring_mp_mc sits at index 0 to 8. A static meshgate
 * links only mempool_ring (ring_mp_mc at 0, single-consumer variants
 * after it): a copy would dequeue from the secondary's pool as a single
 * consumer, racing between workers. So, before mempool_ring registers
 * its ops, eight stand-ins take indexes 0 to 7, each the multi-producer
 * multi-consumer ring of an existing pool; ring_mp_mc comes at 8.
 * meshgate's own pools still find theirs by name. */

#include <errno.h>

#include <rte_common.h>
#include <rte_mempool.h>
#include <rte_ring.h>

/* Pools are created by their own process's drivers: a stand-in only
 * works on the ring a secondary's ring_mp_mc made. */
static int
standin_alloc(struct rte_mempool *mp __rte_unused)
{
	return -ENOTSUP;
}

static void
standin_free(struct rte_mempool *mp __rte_unused)
{
}

static int
standin_enqueue(struct rte_mempool *mp, void *const *objs, unsigned int n)
{
	return rte_ring_mp_enqueue_bulk(mp->pool_data, objs, n, NULL) == 0
		       ? -ENOBUFS
		       : 0;
}

static int
standin_dequeue(struct rte_mempool *mp, void **objs, unsigned int n)
{
	return rte_ring_mc_dequeue_bulk(mp->pool_data, objs, n, NULL) == 0
		       ? -ENOBUFS
		       : 0;
}

static unsigned int
standin_get_count(const struct rte_mempool *mp)
{
	return rte_ring_count(mp->pool_data);
}

#define STANDIN(i)                                                             \
	{                                                                      \
		.name = "mg_ring_mp_mc_standin_" #i, .alloc = standin_alloc,   \
		.free = standin_free, .enqueue = standin_enqueue,              \
		.dequeue = standin_dequeue, .get_count = standin_get_count,    \
	}

static const struct rte_mempool_ops standins[] = {
	STANDIN(0), STANDIN(1), STANDIN(2), STANDIN(3),
	STANDIN(4), STANDIN(5), STANDIN(6), STANDIN(7),
};

/* before every RTE_INIT (priority LAST), mempool_ring's among them */
RTE_INIT_PRIO(mg_mempool_standins, CLASS)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(standins); i++)
		rte_mempool_register_ops(&standins[i]);
}
