/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* What start-up needs besides DPDK: the EAL options meshgate reads (it
 * never parses them for EAL), one-line explanations of EAL failures, the
 * memory a configuration needs, device locks and the log stream. */

#ifndef MESHGATE_STARTUP_H
#define MESHGATE_STARTUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_conf.h"

#define MG_EAL_MAX_DEVS 32

/** The EAL options that bear on diagnostics, memory and device locks. */
struct mg_eal_opts {
	const char *file_prefix; /**< "rte" unless given */
	const char *huge_dir;	 /**< NULL: any hugetlbfs mount */
	bool no_huge;
	bool in_memory;
	bool no_shconf;
	bool legacy_mem;
	bool single_file_segments;
	bool huge_unlink; /**< --huge-unlink[=...] given */
	uint64_t mem_mb;  /**< -m, or the sum of --socket-mem; 0: none */
	uint64_t socket_limit_mb; /**< sum of --socket-limit; 0: none */
	const char *corelist;	  /**< -l */
	const char *coremask;	  /**< -c */
	const char *lcores;	  /**< --lcores */
	unsigned int n_vdevs;
	const char *vdevs[MG_EAL_MAX_DEVS]; /**< --vdev values */
	unsigned int n_allow;
	const char *allow[MG_EAL_MAX_DEVS]; /**< -a values */
};

/** Reads @p argv[1 .. argc-1] (the options before "--"); never fails. */
void mg_eal_opts_scan(int argc, char **argv, struct mg_eal_opts *o);

/**
 * The argument vector to give rte_eal_init(): @p argv's first @p argc
 * entries, plus --huge-unlink when hugepage files would otherwise stay
 * in hugetlbfs after exit (not with --no-huge, --in-memory,
 * --single-file-segments or an explicit --huge-unlink=...), and
 * "-m @p prealloc_mb" unless it is 0 (see mg_mem_prealloc_mb()). The array
 * is malloc'ed (free it after EAL is done with it); its count goes in
 * @p out_argc.
 */
char **mg_eal_argv(int argc, char **argv, const struct mg_eal_opts *o,
		   uint64_t prealloc_mb, int *out_argc);

/**
 * After rte_eal_init() of the primary: registers, as empty lists, the
 * tail queues of DPDK 22.11's libraries that this binary does not link
 * (a static link takes only the libraries meshgate uses). A secondary
 * process built on the whole shared DPDK, the stock dpdk-dumpcap, has
 * every library's and EAL refuses it unless the primary registered
 * each ("Cannot initialize tailq"). Main lcore, once.
 *
 * @return 0, or -1 when EAL had no room for one (logged).
 */
int mg_eal_register_tailqs(void);

/** Lcores EAL will run (-l, -c or --lcores; else every CPU online). */
unsigned int mg_eal_lcore_count(const struct mg_eal_opts *o);

/**
 * After rte_eal_init() failed: one line on stderr with the likely cause
 * and its fix (another process on the file prefix, hugetlbfs not
 * mounted, too few hugepages, an lcore the machine lacks, not root).
 *
 * @param err  rte_errno after the failure.
 * @return The exit status: 2 when EAL refused its options (a usage
 *         error), else 1.
 */
int mg_eal_explain(const struct mg_eal_opts *o, int err);

/**
 * Hugepage memory not yet taken (free minus reserved pages, every page
 * size) on NUMA node @p node, or on the whole machine when @p node < 0.
 *
 * @param reserved   Out (may be NULL): bytes of hugepages reserved at all.
 * @param page_size  Out (may be NULL): the default hugepage size.
 * @return Bytes.
 */
uint64_t mg_hugepages_free(int node, uint64_t *reserved, uint64_t *page_size);

/** DPDK memory a configuration needs, by the parts the code allocates. */
#define MG_MEM_PARTS 13
struct mg_mem_estimate {
	const char *what[MG_MEM_PARTS];
	size_t bytes[MG_MEM_PARTS];
	unsigned int n;
	size_t total;
	size_t per_flow; /**< flow table and layer-7 state, per connection */
};

/**
 * Mbufs in the pool: the config's mempool.mbufs, else enough to fill
 * every ring and buffer at once.
 */
uint32_t mg_mem_pool_mbufs(const struct mg_conf *conf, unsigned int n_workers,
			   uint16_t n_queues);

/** Destination and rule slots of the telemetry registries for @p conf. */
void mg_mem_telemetry_slots(const struct mg_conf *conf, uint32_t *dests,
			    uint32_t *rules);

/**
 * The DPDK memory @p conf takes with @p n_workers workers polling
 * @p n_queues queues per port, in pages of @p page bytes: flow table,
 * layer-7 state, mbufs, telemetry, NIC rings, workers, two rulesets and
 * the fixed tables, each from the sizes the code allocates.
 */
void mg_mem_estimate(const struct mg_conf *conf, unsigned int n_workers,
		     uint16_t n_queues, size_t page, struct mg_mem_estimate *e);

/** What DPDK holds in the heap before meshgate allocates anything, on
 * top of what the estimate counts: measured 4.5 MiB with DPDK 22.11
 * (the "memory:" log line prints it), rte_pdump's statistics 4 MiB of it
 * (RTE_MAX_ETHPORTS x RTE_MAX_QUEUES_PER_PORT, whatever the ports), then
 * ethdev's port data, EAL's memzones, the heap's element headers. A
 * budget keeps this much aside; the hugepages mapped at start hold it. */
#define MG_MEM_EAL_OWN_BYTES (9u << 19)

/**
 * The hugepages to have EAL map at start (its -m, in MiB), so that the
 * tables of estimate @p e fill one run of pages end to end: grown page
 * by page, each large table would leave most of a page unused behind it
 * (5 MiB of 2 MiB pages for the production example). 0 when the
 * operator gave -m, --socket-mem, --socket-limit, --legacy-mem or
 * --no-huge, on more than one NUMA node, or when fewer hugepages are
 * free than that (EAL then grows the heap as it can).
 */
uint64_t mg_mem_prealloc_mb(const struct mg_mem_estimate *e,
			    const struct mg_eal_opts *o);

/**
 * Apply the memory budget (memory_mb) to @p conf: what the file leaves
 * out is sized to fit — flows.max to the most connections the budget
 * holds (a multiple of 1024), l7.max_pending to one buffer per 256 of
 * them (16..1024) — and a file whose sizes cannot fit is refused. The
 * mbuf pool is sized from the ports' rings, as without a budget (it is
 * what the NIC needs, not a choice). Nothing happens without memory_mb.
 *
 * @param err  Receives "FILE:LINE: memory_mb = N ..." when refused.
 * @return 0, or -ENOMEM when it cannot fit.
 */
int mg_mem_fit(struct mg_conf *conf, unsigned int n_workers, uint16_t n_queues,
	       size_t page, char *err, size_t len);

/** The pages DPDK memory comes in: the system's with --no-huge, else
 * the default hugepage size. Mbufs never cross one. */
size_t mg_mem_page_size(bool no_huge);

/** "flow table 20.8 MiB, layer-7 state 6.1 MiB, ..." into @p buf. */
void mg_mem_describe(const struct mg_mem_estimate *e, char *buf, size_t len);

/**
 * What DPDK memory can be had: without EAL (--check-config), from the
 * EAL options and the machine; @p why receives how it was judged
 * ("-m 256", "1024 free hugepages of 2 MiB", ...).
 *
 * @return Bytes.
 */
uint64_t mg_mem_available_offline(const struct mg_eal_opts *o, char *why,
				  size_t len);

/**
 * The same once EAL runs: free heap on the main lcore's socket, plus
 * the free hugepages dynamic memory can still map.
 */
uint64_t mg_mem_available(const struct mg_eal_opts *o, char *why, size_t len);

/** DPDK heap bytes in use on the main lcore's socket. */
uint64_t mg_mem_in_use(void);

/** Bytes of the heap's memory on the main lcore's socket: the pages EAL
 * mapped, used or not. */
uint64_t mg_mem_mapped(void);

/** Locks held on the devices of the config's ports. */
struct mg_dev_locks {
	unsigned int n;
	int fd[MG_CONF_MAX_PORTS];
	char path[MG_CONF_MAX_PORTS][PATH_MAX];
};

/**
 * Take an exclusive lock per device the config's ports use (a PCI
 * address, or a network interface given to a vdev with iface=), so that
 * a second gateway on the same device refuses to start. The locks are
 * flock()s on files under /run/meshgate (MESHGATE_LOCK_DIR overrides):
 * the kernel drops them when the process dies, so a crash leaves no
 * stale lock. Devices without such a resource (pcap files, null, ring)
 * are not locked. A directory that cannot be written (not root) is
 * warned about and the gateway starts unguarded.
 *
 * @return 0; -EBUSY with the holder named on stderr; another negative
 *         errno with the reason on stderr.
 */
int mg_dev_lock(const struct mg_conf *conf, const struct mg_eal_opts *o,
		struct mg_dev_locks *locks);

/** Release what mg_dev_lock() took and remove its files. */
void mg_dev_unlock(struct mg_dev_locks *locks);

/**
 * Route DPDK's log (and meshgate's) to stderr with an RFC 3339
 * timestamp on each line, or, when stderr is the systemd journal
 * (JOURNAL_STREAM names it), with a "<N>" syslog priority prefix and no
 * timestamp: journald stamps the time and records the priority.
 *
 * @return 0, or -1 when the stream cannot be made (the log then stays
 *         on plain stderr).
 */
int mg_log_setup(void);

#endif /* MESHGATE_STARTUP_H */
