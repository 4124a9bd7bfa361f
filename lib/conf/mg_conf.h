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
#include <stddef.h>
#include <stdint.h>

#include "mg_base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MG_CONF_MAX_PORTS  4
#define MG_CONF_MAX_LCORES 128
/* MG_CONF_NAME_LEN: in mg_base.h */
#define MG_CONF_DEVICE_LEN 64
#define MG_CONF_MAX_BURST  256
/** Errors kept per load; further ones are counted but not stored. */
#define MG_CONF_MAX_ERRORS 32
#define MG_CONF_ERROR_LEN  512

/* Bounds of the service-mesh sections; every table built from them is
 * sized by these, so a config cannot make the gateway allocate without
 * limit. */
#define MG_CONF_MAX_IDENTITIES	256
#define MG_CONF_MAX_PREFIXES	32 /**< per identity */
#define MG_CONF_MAX_SERVICES	128
#define MG_CONF_MAX_VIPS	8 /**< per service */
#define MG_CONF_MAX_PORT_RANGES 8 /**< per service */
#define MG_CONF_MAX_VERSIONS	8 /**< per service */
/* MG_CONF_MAX_BACKENDS (per version): in mg_base.h */
#define MG_CONF_MAX_POLICIES   256
#define MG_CONF_MAX_REFS       16 /**< sources or targets per policy */
#define MG_CONF_MAX_NEIGHBOURS 256
#define MG_CONF_MAX_ADDRS      4  /**< gateway addresses per port */
#define MG_CONF_MAX_ROUTES     8  /**< pinned-version routes per service */
#define MG_CONF_MAX_LIMITS     64 /**< limits per file */
/** Total of all version weights of one service may not exceed this. */
#define MG_CONF_MAX_WEIGHT_TOTAL 1000000
/* Layer-7 rules: matchers per policy (method, path, query, host,
 * headers, upgrade or sni), patterns in the whole config, and the length
 * of one pattern. */
#define MG_CONF_MAX_MATCHERS 8
#define MG_CONF_MAX_PATTERNS 65536
#define MG_CONF_PATTERN_LEN  1024
/* ESP peers: edge nodes reached through SAs, each also an identity
 * "peer:NAME" (so its name leaves room for the prefix). */
#define MG_CONF_MAX_PEERS	  64
#define MG_CONF_MAX_PEER_INBOUND  4  /**< inbound SAs at once, per peer */
#define MG_CONF_MAX_PEER_PREFIXES 32 /**< per peer */
#define MG_CONF_MAX_PEER_SERVICES 16 /**< per peer */
#define MG_CONF_PEER_PREFIX	  "peer:"
#define MG_CONF_PEER_NAME_LEN	  (MG_CONF_NAME_LEN - 5)
#define MG_CONF_KEY_PATH_LEN	  512
/** Longest key file content: AES-256 key and 4-byte salt. */
#define MG_CONF_MAX_KEY_LEN 36

/**
 * A caller: traffic from its prefixes is attributed to it. Every peer
 * adds one more, "peer:NAME", after those of the file: it has no
 * prefixes (clear traffic never is it); traffic decapsulated from the
 * peer's SAs is it, whatever its inner address.
 */
struct mg_identity_conf {
	char name[MG_CONF_NAME_LEN];
	char env[MG_CONF_NAME_LEN]; /**< label such as "prod"; may be empty */
	unsigned int n_prefixes;
	struct mg_prefix prefixes[MG_CONF_MAX_PREFIXES];
	uint16_t peer; /**< 1 + index into peers of "peer:NAME"; 0 else */
	int line;
};

struct mg_port_range {
	uint16_t lo; /**< host order */
	uint16_t hi; /**< inclusive; lo == hi for a single port */
};

struct mg_backend_conf {
	struct mg_addr addr;
	uint16_t port; /**< host order; 0 keeps the port the caller used */
};

/**
 * Automatic rollback of a version ("rollback"): when its error ratio
 * over the last window_s seconds exceeds the stable versions' by more
 * than max_error_ratio, with statistical confidence, its weight drops
 * to 0 on the box until the next reload.
 */
struct mg_rollback_conf {
	bool enabled;		/**< the version has a rollback group */
	double max_error_ratio; /**< tolerated excess, (0, 1) */
	uint32_t min_requests;	/**< outcomes in the window before any test */
	uint32_t window_s;	/**< sliding window, seconds */
	int line;
};

/** One version of a service and its share of new connections. */
struct mg_version_conf {
	char name[MG_CONF_NAME_LEN];
	uint32_t weight; /**< 0 gets no new connections */
	/** The service's canary (at most one): callers that are backends
	 * of a canary version of any service reach it (canary chains). */
	bool canary;
	unsigned int n_backends;
	struct mg_backend_conf backends[MG_CONF_MAX_BACKENDS];
	struct mg_rollback_conf rollback;
	int line;
};

/**
 * Passive health: when a backend stops taking new connections, and for
 * how long. The top-level `health` group sets the defaults; a service's
 * own group overrides them key by key.
 */
struct mg_health_conf {
	bool enabled;		     /**< false: backends are never ejected */
	uint32_t connect_timeout_ms; /**< SYN without SYN-ACK: a failure */
	uint32_t eject_after;	     /**< consecutive failures that eject */
	uint32_t base_ejection_ms;   /**< first ejection; doubles after */
	uint32_t max_ejection_ms;    /**< longest ejection */
	/** Share of a version's backends (of one address family) out at
	 * once, 0..100, rounded down; a canary version may always lose
	 * one (if not 0), a stable version never its last. */
	uint32_t max_ejected_percent;
};

/** A source or target of a policy: a name, an env label or anything. */
enum mg_ref_kind {
	MG_REF_NAME = 0, /**< identity or service name ("unknown" allowed) */
	MG_REF_ENV,	 /**< written "env:prod" */
	MG_REF_ANY,	 /**< written "*" */
};

struct mg_ref {
	enum mg_ref_kind kind;
	char name[MG_CONF_NAME_LEN]; /**< name or env label; empty for ANY */
};

/** Callers (refs as in policies' `from`) pinned to one version. */
struct mg_route_conf {
	unsigned int n_from;
	struct mg_ref from[MG_CONF_MAX_REFS];
	uint8_t version; /**< index into the service's versions */
	int line;
};

/** A service: virtual addresses and ports, and the versions behind them. */
struct mg_service_conf {
	char name[MG_CONF_NAME_LEN];
	char env[MG_CONF_NAME_LEN];
	uint8_t proto; /**< IPPROTO_TCP or IPPROTO_UDP */
	unsigned int n_vips;
	struct mg_addr vips[MG_CONF_MAX_VIPS];
	unsigned int n_ports;
	struct mg_port_range ports[MG_CONF_MAX_PORT_RANGES];
	unsigned int n_versions;
	struct mg_version_conf versions[MG_CONF_MAX_VERSIONS];
	/** Pinned versions by caller; the first route that matches wins. */
	unsigned int n_routes;
	struct mg_route_conf routes[MG_CONF_MAX_ROUTES];
	/** Effective settings: the top-level defaults with this service's
	 * overrides applied. */
	struct mg_health_conf health;
	int line;
};

enum mg_policy_action {
	MG_POLICY_ALLOW = 0,
	MG_POLICY_DENY,
};

/** What a refused new connection gets besides being dropped
 * (`deny_action`, globally and per deny rule). */
enum mg_deny_action {
	MG_DENY_RESET = 0, /**< a TCP SYN a RST, a UDP datagram an ICMP
			    * administratively prohibited (rate-limited) */
	MG_DENY_DROP,	   /**< nothing: the caller times out */
};

/** The application protocol a policy's layer-7 matchers read. */
enum mg_l7_proto {
	MG_L7_NONE = 0, /**< an L4 rule: no matchers */
	MG_L7_HTTP,	/**< HTTP/1.x requests (`http` group) */
	MG_L7_TLS,	/**< TLS ClientHello (`tls` group) */
};

/** The part of a request (or ClientHello) a matcher reads, in its
 * normal form (README, "Layer-7 rules"). */
enum mg_l7_field {
	MG_L7_METHOD = 0, /**< request method token */
	MG_L7_PATH,	  /**< target up to '?' (also without ";params") */
	MG_L7_HOST,	  /**< Host without port, trailing dot; caseless */
	MG_L7_HEADER,	  /**< value of a named header */
	MG_L7_SNI,	  /**< TLS server_name, no trailing dot; caseless */
	MG_L7_QUERY,	  /**< target after the '?', as sent */
	MG_L7_UPGRADE,	  /**< each protocol Upgrade offers; caseless */
	MG_L7_FIELD_MAX
};

/** One regular expression of a matcher (Hyperscan syntax). */
struct mg_l7_pattern {
	char *regex; /**< NUL-terminated; owned by the config */
	int line;
};

/**
 * One matcher of a rule: the field matches when any of its patterns
 * matches it. A rule with matchers matches a request when all of them
 * do. Patterns are conf->patterns[first .. first + n - 1].
 */
struct mg_matcher_conf {
	uint8_t field;		       /**< enum mg_l7_field */
	char header[MG_CONF_NAME_LEN]; /**< MG_L7_HEADER: lowercase name */
	uint32_t first;
	uint32_t n;
	int line;
};

/** Limits of layer-7 inspection (the top-level `l7` group). */
struct mg_l7_conf {
	/** Most bytes of one request head (request line and headers) or
	 * ClientHello held to decide; a longer one is denied. */
	uint32_t max_request_bytes;
	/** Connections whose request head or ClientHello spans segments,
	 * held at once; one more is denied. */
	uint32_t max_pending;
};

/**
 * A rule: sources may (or may not) reach targets. Default deny; an
 * enforced deny beats any allow; a dry-run rule is evaluated and counted
 * but never changes what is forwarded.
 */
struct mg_policy_conf {
	char name[MG_CONF_NAME_LEN];
	enum mg_policy_action action;
	/** MG_POLICY_DENY without matchers: its deny_action, else the
	 * config's */
	enum mg_deny_action deny_action;
	bool dry_run;
	unsigned int n_from;
	struct mg_ref from[MG_CONF_MAX_REFS]; /**< identities */
	unsigned int n_to;
	struct mg_ref to[MG_CONF_MAX_REFS]; /**< services */
	/** MG_L7_NONE: the rule decides at the connection's first packet;
	 * else per request, when all of its matchers match. */
	uint8_t l7; /**< enum mg_l7_proto */
	/** MG_L7_TLS allow rules (tls.allow_no_sni): a ClientHello without
	 * a server name matches this rule, whose sni matcher it cannot
	 * meet; without such a rule it is denied (MG_DROP_L7_NO_SNI) */
	bool allow_no_sni;
	unsigned int n_matchers;
	struct mg_matcher_conf matchers[MG_CONF_MAX_MATCHERS];
	int line;
};

/** A static neighbour (appliances, replay tests): never expires. */
struct mg_neighbour_conf {
	struct mg_addr addr;
	uint8_t mac[6];
	int line;
};

/** Connection-tracking limits, timeouts in seconds. */
struct mg_flow_conf {
	uint32_t max_flows; /**< connections tracked at once */
	uint32_t tcp_syn_s; /**< handshake not completed */
	uint32_t tcp_established_s;
	uint32_t tcp_fin_s;	  /**< one side closed */
	uint32_t tcp_time_wait_s; /**< both sides closed */
	uint32_t tcp_rst_s;	  /**< after a reset */
	uint32_t udp_s;
	/** connections not yet established at once: past it, the oldest
	 * is evicted for a new one; 0: a quarter of max_flows (lib/flow's
	 * default) */
	uint32_t max_half_open;
	/** enum mg_syn_cookies: when the gateway answers SYNs itself */
	uint32_t syn_cookies;
};

/** flows.syn_cookies: "auto" (while half-open connections are at half
 * of max_half_open or more), "on", "off". */
enum mg_syn_cookies {
	MG_SYN_COOKIES_AUTO = 0,
	MG_SYN_COOKIES_ON,
	MG_SYN_COOKIES_OFF
};

/** The management endpoint (Prometheus) and metric bounds. */
struct mg_telemetry_conf {
	bool enabled;		 /**< false: listen = "off" */
	bool explicit_listen;	 /**< the file names the address */
	struct mg_addr addr;	 /**< where /metrics is served */
	uint16_t port;		 /**< host order */
	uint32_t max_label_sets; /**< (caller, service, version) series */
	/** naming = "istio": traffic series under Istio's names, labels
	 * and units; else meshgate's ("meshgate", the default) */
	bool istio;
};

/** Default management endpoint: loopback only. */
#define MG_CONF_TELEMETRY_LISTEN "127.0.0.1:9469"

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
	uint16_t mtu; /**< 0: leave the device default */
	/** The MTU is set outside DPDK (the kernel interface behind
	 * af_packet; DPDK 22.11's virtual PMDs refuse frames over 1518
	 * bytes at configuration): take @ref mtu as given */
	bool mtu_external;
	/** Largest frame the device may hand over whatever the MTU (0:
	 * MTU-sized): af_packet reassembles IPv4 fragments in the kernel */
	uint16_t rx_frame_max;
	uint32_t rss;	      /**< enum mg_rss_type bits */
	bool rss_symmetric;   /**< use a symmetric Toeplitz key */
	uint32_t rx_offloads; /**< enum mg_offload bits */
	uint32_t tx_offloads; /**< enum mg_offload bits */
	bool promiscuous;
	/** ESP on this port through the NIC's inline crypto (rte_security,
	 * "ipsec = inline-crypto") where it offers it; else, and by
	 * default, through the crypto_aesni_mb cryptodev */
	bool ipsec_inline;
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

/** What happens to IP traffic addressed to no service and not local. */
enum mg_unmatched {
	MG_UNMATCHED_DROP = 0, /**< "drop": a gateway, not a router */
	MG_UNMATCHED_FORWARD,  /**< "forward": wire mode, leaves unchanged */
};

struct mg_port_conf {
	char name[MG_CONF_NAME_LEN];
	char device[MG_CONF_DEVICE_LEN]; /**< DPDK device name */
	enum mg_port_role role;
	struct mg_port_profile profile;
	int line; /**< for later diagnostics */
	/** The gateway's own addresses on this port with their on-link
	 * prefix length ("198.18.0.1/24"): host bits are kept. */
	unsigned int n_addrs;
	struct mg_prefix addrs[MG_CONF_MAX_ADDRS];
	struct mg_addr gateway4; /**< family 0: no IPv4 default route */
	struct mg_addr gateway6; /**< family 0: no IPv6 default route */
	/** Largest MSS a SYN or SYN-ACK leaving this port may announce;
	 * larger ones are lowered ("mss_clamp"); 0: left alone */
	uint16_t mss_clamp;
};

/** A rate of a limit: per second, with a burst; rate 0: none. */
struct mg_rate_conf {
	uint64_t rate;
	uint64_t burst;
};

/** What a limit allows the identity, or each of its sources. */
struct mg_limit_bucket_conf {
	struct mg_rate_conf conn; /**< "new_connections" */
	uint32_t max_conns;	  /**< "max_connections"; 0: none */
	struct mg_rate_conf pkt;  /**< "packets" or "bytes" */
	bool bytes;		  /**< pkt is "bytes" */
};

/** A limit on a caller identity's traffic ("limits"). */
struct mg_limit_conf {
	char name[MG_CONF_NAME_LEN];
	int line;
	uint16_t identity; /**< 1 + index into identities; 0 = unknown */
	int service;	   /**< index into services, or -1: every service */
	struct mg_limit_bucket_conf all; /**< the identity as a whole */
	bool per_source;
	struct mg_limit_bucket_conf source; /**< each source address */
};

/** IP fragments: reassembled per worker before classification. */
struct mg_frag_conf {
	uint32_t max;	     /**< datagrams being reassembled, per worker */
	uint32_t timeout_ms; /**< a datagram not complete by then is dropped */
};

/** The flight recorder: the last dropped or denied packets, per lcore
 * ("recorder"). */
struct mg_recorder_conf {
	uint32_t packets;   /**< kept per lcore; 0: off */
	char dir[PATH_MAX]; /**< where dumps are written */
};

/** One JSON line per denied connection or request ("deny_log"). */
struct mg_deny_log_conf {
	bool enabled;
	bool syslog;	     /**< to syslog (LOG_AUTHPRIV) instead of a file */
	char file[PATH_MAX]; /**< appended to; reopened on SIGHUP */
	uint32_t rate;	     /**< lines per second, the whole gateway */
	uint32_t burst;	     /**< lines at once */
};

/** An explicit worker: this lcore polls queue @p queue of every port. */
struct mg_lcore_conf {
	unsigned int lcore;
	uint16_t queue;
};

/** ESP transforms (RFC 4106 AES-GCM with a 16-byte ICV). */
enum mg_esp_algo {
	MG_ESP_AES_GCM_128 = 0, /**< "aes-gcm-128": 16-byte key, 4-byte salt */
	MG_ESP_AES_GCM_256,	/**< "aes-gcm-256": 32-byte key, 4-byte salt */
	MG_ESP_ALGO_MAX
};

/** One SA of a peer: its SPI, transform and key file. */
struct mg_sa_conf {
	uint32_t spi;
	uint8_t algo; /**< enum mg_esp_algo */
	/** The key file, relative paths taken from the config file's
	 * folder: hex digits of key then salt (the key material `ip xfrm`
	 * takes for rfc4106(gcm(aes))). Only the name is kept here; the key
	 * is read where it is used, into locked memory. */
	char key_file[MG_CONF_KEY_PATH_LEN];
	/** Outbound: the first sequence number sent (default 1) */
	uint64_t initial_seq;
	int line;     /**< the SA's group */
	int key_line; /**< its key_file setting */
};

/**
 * A peer: another edge node, reached through ESP in tunnel mode.
 * Traffic to its prefixes and to the backends of its services leaves
 * encrypted through its outbound SA; traffic from them must arrive
 * through one of its inbound SAs (in clear it is dropped, esp_required).
 */
struct mg_peer_conf {
	char name[MG_CONF_PEER_NAME_LEN];
	char env[MG_CONF_NAME_LEN]; /**< env label of its identity */
	struct mg_addr local;	    /**< our tunnel endpoint: a port address */
	struct mg_addr remote;	    /**< the peer's, same family */
	bool udp_encap;		    /**< ESP in UDP, port 4500 (RFC 3948) */
	uint16_t remote_port;	    /**< the peer's UDP port, host order */
	bool esn;		    /**< 64-bit sequence numbers */
	uint32_t replay_window;	    /**< packets, 64..4096 */
	/** Seconds an inbound SA a reload removed keeps being accepted */
	uint32_t rekey_linger_s;
	unsigned int n_inbound;
	struct mg_sa_conf inbound[MG_CONF_MAX_PEER_INBOUND];
	struct mg_sa_conf outbound;
	unsigned int n_prefixes;
	struct mg_prefix prefixes[MG_CONF_MAX_PEER_PREFIXES];
	/** Services whose backends sit behind the peer: indexes into
	 * services */
	unsigned int n_services;
	uint16_t services[MG_CONF_MAX_PEER_SERVICES];
	uint16_t identity; /**< 1 + index into identities ("peer:NAME") */
	int line;
};
/** How a worker waits when a poll round received nothing (`idle`). */
enum mg_idle_mode {
	/** Keep polling after a short spin, then pause and sleep, each
	 * sleep longer, up to max_sleep_us; DPDK's power management
	 * (rte_power_pmd_mgmt monitor) where the CPU and driver have it */
	MG_IDLE_ADAPTIVE = 0,
	/** Wait for the queues' RX interrupts (rte_epoll_wait) where the
	 * driver has them, at most max_sleep_us; else as adaptive */
	MG_IDLE_INTERRUPT,
	/** Busy-poll: a whole core, the least latency */
	MG_IDLE_POLL,
};

/** Longest idle wait: /healthz and the systemd watchdog want a poll
 * round from every worker within 250 ms. */
#define MG_CONF_MAX_SLEEP_US 200000

struct mg_idle_conf {
	uint32_t mode;	       /**< enum mg_idle_mode */
	uint32_t max_sleep_us; /**< longest wait without a poll round */
};

/** Default `hash_seed`: the same on every gateway, so HA peers with the
 * same config choose the same backends (README: set your own). */
#define MG_CONF_HASH_SEED_DEFAULT 0x6d657368u

/** Errors (or warnings) of one load, each "FILE:LINE: message". */
struct mg_conf_errors {
	unsigned int n; /**< errors found (may exceed MG_CONF_MAX_ERRORS) */
	char msg[MG_CONF_MAX_ERRORS][MG_CONF_ERROR_LEN];
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
	struct mg_flow_conf flows;
	struct mg_frag_conf fragments;
	unsigned int n_limits;
	struct mg_limit_conf limits[MG_CONF_MAX_LIMITS];
	uint32_t limit_sources;	      /**< source addresses tracked per limit */
	struct mg_health_conf health; /**< defaults for every service */
	struct mg_telemetry_conf telemetry;
	unsigned int n_identities;
	struct mg_identity_conf identities[MG_CONF_MAX_IDENTITIES];
	unsigned int n_services;
	struct mg_service_conf services[MG_CONF_MAX_SERVICES];
	unsigned int n_policies;
	struct mg_policy_conf policies[MG_CONF_MAX_POLICIES];
	unsigned int n_neighbours;
	struct mg_neighbour_conf neighbours[MG_CONF_MAX_NEIGHBOURS];
	/** ESP peers; each adds an identity after those of the file */
	unsigned int n_peers;
	struct mg_peer_conf peers[MG_CONF_MAX_PEERS];
	enum mg_unmatched unmatched;
	/** For the default deny and deny rules that do not set theirs */
	enum mg_deny_action deny_action;
	struct mg_l7_conf l7;
	/** Every layer-7 pattern, in config order; matchers index it. */
	uint32_t n_patterns;
	struct mg_l7_pattern *patterns;
	/** A candidate config evaluated beside this one, never enforced
	 * ("shadow", relative to this file's folder); "" for none */
	char shadow[PATH_MAX];
	int shadow_line;
	struct mg_recorder_conf recorder;
	struct mg_deny_log_conf deny_log;
	/** "FILE:LINE: warning: ..." about a valid config that will not
	 * work as written: backends no port can reach (no_route). */
	struct mg_conf_errors warnings;
	struct mg_idle_conf idle;
	/** Seed of the hash that picks a new connection's version and
	 * backend (`hash_seed`): the same on HA peers */
	uint32_t hash_seed;
	/** The memory budget, MiB (`memory_mb`; 0: none): sizes what the
	 * file leaves out (flows.max, l7.max_pending, mempool.mbufs) and
	 * refuses what cannot fit; at @ref memory_line */
	uint32_t memory_mb;
	int memory_line;
	/** Which of the budget's sizes the file wrote itself */
	bool flows_max_set;
	bool l7_pending_set;
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

/**
 * Load and validate a configuration held in memory, exactly as
 * mg_conf_load() would load a file holding the same bytes (a NUL byte
 * is a syntax error there too). For callers that have the text already
 * and for the config fuzzer, which loads millions of them.
 *
 * @param text          The config text; need not end with a NUL. NULL
 *                      with @p len 0 is an empty config.
 * @param len           Its length in bytes.
 * @param name          The name errors carry ("NAME:LINE: message") and
 *                      the config's path: a relative drivers_conf_dir
 *                      is taken from its folder. @include names are
 *                      taken as a file's would be (from the process's
 *                      working directory).
 * @param drivers_dir   As for mg_conf_load().
 * @param errs          Receives the errors; must not be NULL.
 * @return As mg_conf_load().
 *
 * Thread safety: reentrant; call from the control plane only.
 */
struct mg_conf *mg_conf_load_string(const char *text, size_t len,
				    const char *name, const char *drivers_dir,
				    struct mg_conf_errors *errs);

/**
 * Hyperscan compile flags for patterns of @p field (HS_FLAG_CASELESS for
 * host and SNI, as DNS names are, and for upgrade protocols, which
 * servers compare caselessly), without HS_FLAG_SINGLEMATCH. The
 * loader validates every pattern with these; the ruleset compiles with
 * them.
 */
unsigned int mg_conf_pattern_flags(enum mg_l7_field field);

/** Name of a field as written in the config ("method", "sni", ...). */
const char *mg_conf_field_name(enum mg_l7_field field);

/** Free a config from mg_conf_load() and the patterns it owns. NULL is
 * accepted. A config is never copied by value: it owns memory. */
void mg_conf_free(struct mg_conf *conf);

/** Profile name of one enum mg_rss_type bit ("ipv4-tcp", ...). */
const char *mg_conf_rss_name(uint32_t bit);

/** Profile name of one enum mg_offload bit ("tcp-cksum", ...). */
const char *mg_conf_offload_name(uint32_t bit);

/**
 * Whether a policy reference (`from` side) covers an identity.
 *
 * @param identity  1 + index into conf->identities, or 0 for the
 *                  unknown caller (MG_IDENTITY_UNKNOWN in mg_ruleset.h).
 */
bool mg_conf_ref_covers_identity(const struct mg_conf *conf,
				 const struct mg_ref *r, unsigned int identity);

/** Whether a policy reference (`to` side) covers a service. */
bool mg_conf_ref_covers_service(const struct mg_ref *r,
				const struct mg_service_conf *s);

/** Whether any of a policy's `to` references covers a service. */
bool mg_conf_policy_covers_service(const struct mg_policy_conf *p,
				   const struct mg_service_conf *s);

/** Whether any of a policy's `from` references covers an identity (as in
 * mg_conf_ref_covers_identity()). */
bool mg_conf_policy_covers_identity(const struct mg_conf *conf,
				    const struct mg_policy_conf *p,
				    unsigned int identity);

/** Name of an ESP transform as written in the config ("aes-gcm-128"). */
const char *mg_conf_esp_algo_name(enum mg_esp_algo algo);

/** Bytes of key material of an ESP transform (key and salt), or 0. */
size_t mg_conf_esp_key_len(enum mg_esp_algo algo);

/**
 * Read an ESP key file: hex digits of exactly @p len bytes (an optional
 * "0x", whitespace around). Refused: a file that is not a regular one
 * (symbolic links are not followed), or that group or others may read
 * or write (like ssh's keys: chmod 600). The file is read with read(2)
 * into a stack buffer that is zeroised before returning, so the only
 * copy left is @p key: give locked memory.
 *
 * @param path    The file.
 * @param key     Receives @p len bytes; zeroised on failure.
 * @param len     mg_conf_esp_key_len() of the SA's transform.
 * @param why     Receives the reason of a refusal, never key material.
 * @param whylen  Its size.
 * @return 0, or a negative errno (EACCES for the permissions, EINVAL for
 *         the content, the open or read error otherwise).
 *
 * Thread safety: reentrant.
 */
int mg_conf_key_read(const char *path, uint8_t *key, size_t len, char *why,
		     size_t whylen);
/** Name of an idle mode as written in the config ("adaptive", ...). */
const char *mg_conf_idle_mode_name(enum mg_idle_mode mode);

/** Name of a port role as written in the config ("edge", "mesh", ...). */
const char *mg_port_role_name(enum mg_port_role role);

#ifdef __cplusplus
}
#endif

#endif /* MG_CONF_H */
