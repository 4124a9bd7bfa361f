/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * Configuration: a libconfig file (and the drivers-conf/ profiles it
 * names) parsed into validated plain structs. Every rejected value is
 * reported as "FILE:LINE: message"; nothing here touches DPDK devices, so
 * a config can be checked on any machine.
 */

#ifndef MG_CONF_H
#define MG_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MG_CONF_MAX_PORTS  4
#define MG_CONF_MAX_LCORES 128
#define MG_CONF_NAME_LEN   32
#define MG_CONF_DEVICE_LEN 64
#define MG_CONF_MAX_BURST  256
/** Errors kept per load; further ones are counted but not stored. */
#define MG_CONF_MAX_ERRORS 32
#define MG_CONF_ERROR_LEN  512

/** RSS hash types a profile can ask for (mapped to RTE_ETH_RSS_*). */
enum mg_rss_type {
	MG_RSS_IPV4 = 1u << 0,
	MG_RSS_IPV4_TCP = 1u << 1,
	MG_RSS_IPV4_UDP = 1u << 2,
	MG_RSS_IPV6 = 1u << 3,
	MG_RSS_IPV6_TCP = 1u << 4,
	MG_RSS_IPV6_UDP = 1u << 5,
};

/** Offloads a profile can ask for (mapped to RTE_ETH_{RX,TX}_OFFLOAD_*). */
enum mg_offload {
	MG_OFFLOAD_IPV4_CKSUM = 1u << 0,
	MG_OFFLOAD_TCP_CKSUM = 1u << 1,
	MG_OFFLOAD_UDP_CKSUM = 1u << 2,
	MG_OFFLOAD_VLAN_STRIP = 1u << 3,     /**< RX only */
	MG_OFFLOAD_VLAN_INSERT = 1u << 4,    /**< TX only */
	MG_OFFLOAD_MBUF_FAST_FREE = 1u << 5, /**< TX only */
};

/** A NIC family's settings, from drivers-conf/<name>.conf. */
struct mg_port_profile {
	char name[MG_CONF_NAME_LEN];
	uint16_t rx_desc;
	uint16_t tx_desc;
	uint16_t mtu;	      /**< 0: leave the device default */
	uint32_t rss;	      /**< enum mg_rss_type bits */
	bool rss_symmetric;   /**< use a symmetric Toeplitz key */
	uint32_t rx_offloads; /**< enum mg_offload bits */
	uint32_t tx_offloads; /**< enum mg_offload bits */
	bool promiscuous;
};

/** Which side of the gateway a port faces. */
enum mg_port_role {
	MG_ROLE_BOTH = 0, /**< one-arm: callers and services */
	MG_ROLE_EDGE,	  /**< two-arm: toward callers */
	MG_ROLE_MESH,	  /**< two-arm: toward services */
};

enum mg_mode {
	MG_MODE_ONE_ARM = 0,
	MG_MODE_TWO_ARM,
};

struct mg_port_conf {
	char name[MG_CONF_NAME_LEN];
	char device[MG_CONF_DEVICE_LEN]; /**< DPDK device name */
	enum mg_port_role role;
	struct mg_port_profile profile;
	int line; /**< for later diagnostics */
};

/** An explicit worker: this lcore polls queue @p queue of every port. */
struct mg_lcore_conf {
	unsigned int lcore;
	uint16_t queue;
};

/** A validated configuration. Plain data; free with mg_conf_free(). */
struct mg_conf {
	char path[PATH_MAX];
	enum mg_mode mode;
	uint16_t burst;
	uint32_t mbufs; /**< 0: sized from ports and queues */
	uint32_t mbuf_cache;
	unsigned int n_ports;
	struct mg_port_conf ports[MG_CONF_MAX_PORTS];
	unsigned int n_lcores; /**< 0: one queue per worker lcore */
	struct mg_lcore_conf lcores[MG_CONF_MAX_LCORES];
};

/** Errors of one load, each "FILE:LINE: message". */
struct mg_conf_errors {
	unsigned int n; /**< errors found (may exceed MG_CONF_MAX_ERRORS) */
	char msg[MG_CONF_MAX_ERRORS][MG_CONF_ERROR_LEN];
};

/**
 * Load and validate a configuration file.
 *
 * All errors are collected, not only the first, so that an operator can
 * fix a file in one go.
 *
 * @param path          The config file.
 * @param drivers_dir   Where profiles live unless the file sets
 *                      drivers_conf_dir (relative paths there are taken
 *                      from the config file's folder).
 * @param errs          Receives the errors; must not be NULL.
 * @return A new config, or NULL when errs->n > 0 (or on ENOMEM, which is
 *         also reported in @p errs).
 *
 * Thread safety: reentrant; call from the control plane only.
 */
struct mg_conf *mg_conf_load(const char *path, const char *drivers_dir,
			     struct mg_conf_errors *errs);

/** Free a config from mg_conf_load(). NULL is accepted. */
void mg_conf_free(struct mg_conf *conf);

/** Name of a port role as written in the config ("edge", "mesh", ...). */
const char *mg_port_role_name(enum mg_port_role role);

#ifdef __cplusplus
}
#endif

#endif /* MG_CONF_H */
