/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The box's ports and cores: drivers-conf profiles, ports and their
 * addresses, lcores, the mempool, flow-table timeouts, fragments and
 * the layer-7 buffer bounds. */

#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "conf_private.h"

static const struct name_value rss_names[] = {
	{ "ipv4", MG_RSS_IPV4 },
	{ "ipv4-tcp", MG_RSS_IPV4_TCP },
	{ "ipv4-udp", MG_RSS_IPV4_UDP },
	{ "ipv6", MG_RSS_IPV6 },
	{ "ipv6-tcp", MG_RSS_IPV6_TCP },
	{ "ipv6-udp", MG_RSS_IPV6_UDP },
	{ NULL, 0 },
};

static const struct name_value rx_offload_names[] = {
	{ "ipv4-cksum", MG_OFFLOAD_IPV4_CKSUM },
	{ "tcp-cksum", MG_OFFLOAD_TCP_CKSUM },
	{ "udp-cksum", MG_OFFLOAD_UDP_CKSUM },
	{ "vlan-strip", MG_OFFLOAD_VLAN_STRIP },
	{ NULL, 0 },
};

static const struct name_value tx_offload_names[] = {
	{ "ipv4-cksum", MG_OFFLOAD_IPV4_CKSUM },
	{ "tcp-cksum", MG_OFFLOAD_TCP_CKSUM },
	{ "udp-cksum", MG_OFFLOAD_UDP_CKSUM },
	{ "vlan-insert", MG_OFFLOAD_VLAN_INSERT },
	{ "mbuf-fast-free", MG_OFFLOAD_MBUF_FAST_FREE },
	{ NULL, 0 },
};

static const struct name_value rss_key_names[] = {
	{ "default", 0 },
	{ "symmetric", 1 },
	{ NULL, 0 },
};

static const struct name_value role_names[] = {
	{ "edge", MG_ROLE_EDGE },
	{ "mesh", MG_ROLE_MESH },
	{ NULL, 0 },
};

const char *
mg_conf_rss_name(uint32_t bit)
{
	return conf_name_of(rss_names, bit);
}

const char *
mg_conf_offload_name(uint32_t bit)
{
	/* rx and tx share names; their own bits are distinct */
	return bit == MG_OFFLOAD_VLAN_INSERT || bit == MG_OFFLOAD_MBUF_FAST_FREE
		       ? conf_name_of(tx_offload_names, bit)
		       : conf_name_of(rx_offload_names, bit);
}

const char *
mg_port_role_name(enum mg_port_role role)
{
	const struct name_value *r;

	for (r = role_names; r->name != NULL; r++)
		if (r->value == (uint32_t)role)
			return r->name;
	return "both";
}

/* Profile names become file names: keep them to [a-z0-9_-]. */
static bool
valid_profile_name(const char *name)
{
	if (*name == '\0')
		return false;
	for (; *name != '\0'; name++)
		if (!((*name >= 'a' && *name <= 'z') ||
		      (*name >= '0' && *name <= '9') || *name == '_' ||
		      *name == '-'))
			return false;
	return true;
}

static void
load_profile(struct loader *ld, const char *dir, const config_setting_t *ref,
	     struct mg_port_profile *p)
{
	static const char *const keys[] = {
		"description", "rx_desc",      "tx_desc",
		"mtu",	       "mtu_external", "rx_frame_max",
		"rss",	       "rss_key",      "rx_offloads",
		"tx_offloads", "promiscuous",  "ipsec",
		NULL
	};
	static const struct name_value ipsec_names[] = {
		{ "lookaside", 0 },
		{ "inline-crypto", 1 },
		{ NULL, 0 },
	};
	const char *name = config_setting_get_string(ref);
	uint32_t ipsec = 0;
	char path[PATH_MAX];
	struct loader pl;
	config_setting_t *root, *s;
	uint32_t sym = 0;
	config_t cfg;

	if (!valid_profile_name(name)) {
		err_at(ld, ref,
		       "profile '%s' is not a valid profile name "
		       "(letters, digits, '-' and '_')",
		       name);
		return;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.conf", dir, name) >=
	    sizeof(path)) {
		err_at(ld, ref, "profile path too long");
		return;
	}
	if (!conf_read_file(ld, &cfg, path, ref))
		return;

	pl = *ld;
	pl.path = path;
	memcpy(p->name, name, strlen(name) + 1);
	p->rx_desc = 1024;
	p->tx_desc = 1024;
	p->promiscuous = true;
	root = config_root_setting(&cfg);
	conf_check_keys(&pl, root, keys, "a driver profile");
	conf_member(&pl, root, "description", CONFIG_TYPE_STRING, 0);
	conf_get_u16(&pl, root, "rx_desc", 64, 32768, &p->rx_desc);
	conf_get_u16(&pl, root, "tx_desc", 64, 32768, &p->tx_desc);
	conf_get_u16(&pl, root, "mtu", 68, 9600, &p->mtu);
	/* an mbuf's buffer (this and its headroom) is at most 64 KiB */
	conf_get_u16(&pl, root, "rx_frame_max", 64, 65280, &p->rx_frame_max);
	conf_get_flags(&pl, root, "rss", rss_names, &p->rss);
	conf_get_choice(&pl, root, "rss_key", rss_key_names, &sym);
	p->rss_symmetric = sym != 0;
	conf_get_flags(&pl, root, "rx_offloads", rx_offload_names,
		       &p->rx_offloads);
	conf_get_flags(&pl, root, "tx_offloads", tx_offload_names,
		       &p->tx_offloads);
	s = conf_member(&pl, root, "promiscuous", CONFIG_TYPE_BOOL, 0);
	if (s != NULL)
		p->promiscuous = config_setting_get_bool(s);
	conf_get_choice(&pl, root, "ipsec", ipsec_names, &ipsec);
	p->ipsec_inline = ipsec != 0;
	s = conf_member(&pl, root, "mtu_external", CONFIG_TYPE_BOOL, 0);
	if (s != NULL) {
		p->mtu_external = config_setting_get_bool(s);
		if (p->mtu_external && p->mtu == 0)
			err_at(&pl, s, "'mtu_external' needs an 'mtu'");
	}
	config_destroy(&cfg);
}

/* Replies to ARP/ND for a gateway need an address of its family to
 * come from, and a gateway that is not on-link can never be resolved. */
static void
check_gateway(struct loader *ld, const config_setting_t *s, const char *key,
	      const struct mg_port_conf *port, const struct mg_addr *gw)
{
	bool has_family = false, on_link = false;
	char buf[INET6_ADDRSTRLEN];
	unsigned int i;

	if (gw->family == 0)
		return;
	for (i = 0; i < port->n_addrs; i++) {
		has_family |= port->addrs[i].addr.family == gw->family;
		on_link |= mg_prefix_contains(&port->addrs[i], gw);
	}
	/* fe80::/10: IPv6 routers are commonly known by link-local only */
	if (gw->family == 6 && gw->bytes[0] == 0xfe &&
	    (gw->bytes[1] & 0xc0) == 0x80)
		on_link = true;
	s = config_setting_get_member(s, key);
	if (!has_family)
		err_at(ld, s,
		       "'%s' %s needs an IPv%u address in the port's "
		       "'addresses' to be reached from",
		       key, mg_addr_format(gw, buf, sizeof(buf)), gw->family);
	else if (!on_link)
		err_at(ld, s,
		       "'%s' %s is not inside any address prefix of the "
		       "port (a gateway must be on-link)",
		       key, mg_addr_format(gw, buf, sizeof(buf)));
}

/* The port's own addresses (with their on-link length) and gateways. */
static void
load_port_addrs(struct loader *ld, const config_setting_t *s,
		struct mg_port_conf *port)
{
	config_setting_t *list = conf_get_list(ld, s, "addresses", false, 0,
					       MG_CONF_MAX_ADDRS, "a port");
	int i, n = list != NULL ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_prefix *p = &port->addrs[i], net;
		const char *text = conf_elem_string(ld, e, "addresses");
		const char *why;

		if (text == NULL)
			continue;
		why = conf_parse_prefix(text, true, p);
		if (why != NULL) {
			err_at(ld, e, "address '%s' %s", text, why);
			continue;
		}
		net = *p;
		conf_clear_host_bits(&net);
		/* host bits are expected here, but none at all on an IPv4
		 * subnet with hosts means the network's own address */
		if (p->addr.family == 4 && p->len < 31 &&
		    conf_same_addr(&net.addr, &p->addr)) {
			err_at(ld, e,
			       "address '%s' is the network address of its "
			       "prefix; give the gateway's own address, "
			       "e.g. 198.18.0.1/24",
			       text);
			p->addr.family = 0;
		}
	}
	port->n_addrs = (unsigned int)n;
	conf_get_addr(ld, s, "gateway4", 4, &port->gateway4);
	conf_get_addr(ld, s, "gateway6", 6, &port->gateway6);
	check_gateway(ld, s, "gateway4", port, &port->gateway4);
	check_gateway(ld, s, "gateway6", port, &port->gateway6);
}

static void
load_port(struct loader *ld, const config_setting_t *s, const char *dir,
	  struct mg_port_conf *port)
{
	static const char *const keys[] = { "name",	"device",    "profile",
					    "role",	"addresses", "gateway4",
					    "gateway6", "mss_clamp", NULL };
	config_setting_t *v;
	uint32_t role = MG_ROLE_BOTH;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		err_at(ld, s, "each port must be a group { name = ...; }");
		return;
	}
	port->line = (int)config_setting_source_line(s);
	conf_check_keys(ld, s, keys, "a port");
	v = conf_require(ld, s, "name", CONFIG_TYPE_STRING, 0, "a port");
	if (v != NULL)
		conf_copy_string(ld, v, "name", port->name, sizeof(port->name));
	v = conf_require(ld, s, "device", CONFIG_TYPE_STRING, 0, "a port");
	if (v != NULL)
		conf_copy_string(ld, v, "device", port->device,
				 sizeof(port->device));
	v = conf_require(ld, s, "profile", CONFIG_TYPE_STRING, 0, "a port");
	if (v != NULL)
		load_profile(ld, dir, v, &port->profile);
	conf_get_choice(ld, s, "role", role_names, &role);
	port->role = role;
	load_port_addrs(ld, s, port);
	/* 536: the IPv4 default MSS (RFC 9293 3.7.1); no MTU needs more
	 * than 9600 - 40 */
	conf_get_u16(ld, s, "mss_clamp", 536, 9560, &port->mss_clamp);
}

/* The port (index) holding the address ports[i].addrs[k] before it in
 * config order, or -1. */
static int
earlier_port_addr(const struct mg_conf *conf, unsigned int i, unsigned int k)
{
	const struct mg_addr *a = &conf->ports[i].addrs[k].addr;
	unsigned int j, l, n;

	for (j = 0; j <= i; j++) {
		n = j == i ? k : conf->ports[j].n_addrs;
		for (l = 0; l < n; l++)
			if (conf_same_addr(a, &conf->ports[j].addrs[l].addr))
				return (int)j;
	}
	return -1;
}

/* One address of the gateway on two ports (or twice on one) would make
 * ARP answers and next hops ambiguous. */
static void
check_port_addrs(struct loader *ld, const config_setting_t *list,
		 const struct mg_conf *conf)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned int i, k;
	int j;

	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *p = &conf->ports[i];
		config_setting_t *addrs = config_setting_get_member(
			config_setting_get_elem(list, i), "addresses");

		for (k = 0; k < p->n_addrs; k++) {
			if (p->addrs[k].addr.family == 0)
				continue;
			j = earlier_port_addr(conf, i, k);
			if (j < 0)
				continue;
			err_at(ld, config_setting_get_elem(addrs, k),
			       "address %s is given to the gateway twice "
			       "(port '%s' and port '%s')",
			       mg_addr_format(&p->addrs[k].addr, buf,
					      sizeof(buf)),
			       conf->ports[j].name, p->name);
		}
	}
}

/* Cross-port rules: unique names and devices, roles matching the mode. */
static void
check_ports(struct loader *ld, const config_setting_t *list,
	    struct mg_conf *conf)
{
	unsigned int i, j, edge = 0, mesh = 0;

	for (i = 0; i < conf->n_ports; i++) {
		const struct mg_port_conf *p = &conf->ports[i];
		config_setting_t *s = config_setting_get_elem(list, i);

		for (j = 0; j < i; j++) {
			if (p->name[0] != '\0' &&
			    strcmp(p->name, conf->ports[j].name) == 0)
				err_at(ld, s, "port name '%s' is used twice",
				       p->name);
			if (p->device[0] != '\0' &&
			    strcmp(p->device, conf->ports[j].device) == 0)
				err_at(ld, s,
				       "device '%s' is used by two ports",
				       p->device);
		}
		if (conf->mode == MG_MODE_ONE_ARM && p->role != MG_ROLE_BOTH)
			err_at(ld, s,
			       "port '%s': role is only meaningful in "
			       "two-arm mode",
			       p->name);
		edge += p->role == MG_ROLE_EDGE;
		mesh += p->role == MG_ROLE_MESH;
	}
	if (conf->mode == MG_MODE_TWO_ARM &&
	    (conf->n_ports != 2 || edge != 1 || mesh != 1))
		err_at(ld, list,
		       "two-arm mode needs exactly two ports, one "
		       "with role = \"edge\" and one with role = \"mesh\"");
	check_port_addrs(ld, list, conf);
}

void
conf_load_ports(struct loader *ld, const config_setting_t *root,
		const char *dir, struct mg_conf *conf)
{
	config_setting_t *list =
		conf_require(ld, root, "ports", CONFIG_TYPE_LIST,
			     CONFIG_TYPE_ARRAY, "the config");
	int i, n;

	if (list == NULL)
		return;
	n = config_setting_length(list);
	if (n == 0 || n > MG_CONF_MAX_PORTS) {
		err_at(ld, list,
		       "'ports' lists %d ports; between 1 and %d "
		       "are supported",
		       n, MG_CONF_MAX_PORTS);
		return;
	}
	conf->n_ports = (unsigned int)n;
	for (i = 0; i < n; i++)
		load_port(ld, config_setting_get_elem(list, i), dir,
			  &conf->ports[i]);
	check_ports(ld, list, conf);
}

void
conf_load_lcores(struct loader *ld, const config_setting_t *root,
		 struct mg_conf *conf)
{
	static const char *const keys[] = { "lcore", "queue", NULL };
	config_setting_t *list =
		conf_member(ld, root, "lcores", CONFIG_TYPE_LIST, 0);
	int i, n;

	if (list == NULL)
		return;
	n = config_setting_length(list);
	if (n > MG_CONF_MAX_LCORES) {
		err_at(ld, list, "'lcores' lists %d entries; at most %d", n,
		       MG_CONF_MAX_LCORES);
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(list, i);
		struct mg_lcore_conf *l = &conf->lcores[i];
		uint32_t lcore = UINT32_MAX, queue = 0;
		int j;

		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			err_at(ld, s,
			       "each lcore must be a group "
			       "{ lcore = N; queue = N; }");
			continue;
		}
		conf_check_keys(ld, s, keys, "an lcore");
		if (conf_require(ld, s, "lcore", CONFIG_TYPE_INT, 0,
				 "an lcore"))
			conf_get_uint(ld, s, "lcore", 0, MG_CONF_MAX_LCORES - 1,
				      &lcore);
		conf_get_uint(ld, s, "queue", 0, 1023, &queue);
		l->lcore = lcore;
		l->queue = (uint16_t)queue;
		for (j = 0; j < i; j++) {
			if (lcore != UINT32_MAX &&
			    conf->lcores[j].lcore == lcore)
				err_at(ld, s, "lcore %u is listed twice",
				       lcore);
			if (conf->lcores[j].queue == queue)
				err_at(ld, s, "queue %u is given to two lcores",
				       queue);
		}
	}
	conf->n_lcores = (unsigned int)n;
}

void
conf_load_mempool(struct loader *ld, const config_setting_t *root,
		  struct mg_conf *conf)
{
	static const char *const keys[] = { "mbufs", "cache", NULL };
	config_setting_t *g =
		conf_member(ld, root, "mempool", CONFIG_TYPE_GROUP, 0);

	if (g == NULL)
		return;
	conf_check_keys(ld, g, keys, "'mempool'");
	conf_get_uint(ld, g, "mbufs", 1023, 1 << 24, &conf->mbufs);
	/* 512 is RTE_MEMPOOL_CACHE_MAX_SIZE; with at least 1023 mbufs it
	 * also stays under rte_mempool's size / 1.5 limit */
	conf_get_uint(ld, g, "cache", 0, 512, &conf->mbuf_cache);
}

/* Longest accepted timeout: a week. Anything longer is a leak, not a
 * timeout, on a box with a bounded flow table. */
#define MAX_TIMEOUT_S (7 * 24 * 3600)

void
conf_load_flows(struct loader *ld, const config_setting_t *root,
		struct mg_flow_conf *f)
{
	static const char *const keys[] = { "max",	   "max_half_open",
					    "tcp_syn",	   "tcp_established",
					    "tcp_fin",	   "tcp_time_wait",
					    "tcp_rst",	   "udp",
					    "syn_cookies", NULL };
	static const struct name_value cookie_names[] = {
		{ "auto", MG_SYN_COOKIES_AUTO },
		{ "on", MG_SYN_COOKIES_ON },
		{ "off", MG_SYN_COOKIES_OFF },
		{ NULL, 0 },
	};
	config_setting_t *g = conf_member(ld, root, "flows", CONFIG_TYPE_GROUP,
					  0),
			 *h;

	/* written even without the group: the flow table never has to
	 * guess what a 0 means */
	f->max_flows = 65536;
	f->tcp_syn_s = 10;
	f->tcp_established_s = 3600;
	f->tcp_fin_s = 30;
	f->tcp_time_wait_s = 10;
	f->tcp_rst_s = 2;
	f->udp_s = 30;
	f->max_half_open = 0;
	f->syn_cookies = MG_SYN_COOKIES_AUTO;
	if (g != NULL) {
		conf_check_keys(ld, g, keys, "'flows'");
		conf_get_uint(ld, g, "max", 1024, 1 << 24, &f->max_flows);
		conf_get_uint(ld, g, "max_half_open", 64, 1 << 24,
			      &f->max_half_open);
		h = config_setting_get_member(g, "max_half_open");
		if (h != NULL && f->max_half_open > f->max_flows)
			err_at(ld, h,
			       "'max_half_open' is %u, more than flows.max "
			       "(%u)",
			       f->max_half_open, f->max_flows);
	}
	if (g == NULL)
		return;
	conf_get_uint(ld, g, "tcp_syn", 1, MAX_TIMEOUT_S, &f->tcp_syn_s);
	conf_get_uint(ld, g, "tcp_established", 1, MAX_TIMEOUT_S,
		      &f->tcp_established_s);
	conf_get_uint(ld, g, "tcp_fin", 1, MAX_TIMEOUT_S, &f->tcp_fin_s);
	conf_get_uint(ld, g, "tcp_time_wait", 1, MAX_TIMEOUT_S,
		      &f->tcp_time_wait_s);
	conf_get_uint(ld, g, "tcp_rst", 1, MAX_TIMEOUT_S, &f->tcp_rst_s);
	conf_get_uint(ld, g, "udp", 1, MAX_TIMEOUT_S, &f->udp_s);
	conf_get_choice(ld, g, "syn_cookies", cookie_names, &f->syn_cookies);
}

void
conf_load_fragments(struct loader *ld, const config_setting_t *root,
		    struct mg_frag_conf *f)
{
	static const char *const keys[] = { "max", "timeout_ms", NULL };
	config_setting_t *g =
		conf_member(ld, root, "fragments", CONFIG_TYPE_GROUP, 0);

	f->max = 256;
	f->timeout_ms = 3000;
	if (g == NULL)
		return;
	conf_check_keys(ld, g, keys, "'fragments'");
	conf_get_uint(ld, g, "max", 16, 65536, &f->max);
	/* RFC 791 suggests 15 s; a short wait frees a flood's fragments
	 * sooner, and fragments of one datagram travel together */
	conf_get_uint(ld, g, "timeout_ms", 100, 60000, &f->timeout_ms);
}

void
conf_load_l7(struct loader *ld, const config_setting_t *root,
	     struct mg_l7_conf *l7)
{
	static const char *const keys[] = { "max_request_bytes", "max_pending",
					    NULL };
	config_setting_t *g = conf_member(ld, root, "l7", CONFIG_TYPE_GROUP, 0);

	/* written even without the group, as flows are */
	l7->max_request_bytes = 4096;
	l7->max_pending = 1024;
	if (g == NULL)
		return;
	conf_check_keys(ld, g, keys, "'l7'");
	/* a request line with a Host header fits in 256 bytes; 64 KiB is
	 * more than any server accepts as a head */
	conf_get_uint(ld, g, "max_request_bytes", 256, 65536,
		      &l7->max_request_bytes);
	conf_get_uint(ld, g, "max_pending", 1, 1 << 20, &l7->max_pending);
}

/* The profile folder: drivers_conf_dir from the file (relative to the
 * file's folder) or the built-in default. */
void
conf_profile_dir(struct loader *ld, const config_setting_t *root,
		 const char *def, char *out, size_t len)
{
	config_setting_t *s = conf_member(ld, root, "drivers_conf_dir",
					  CONFIG_TYPE_STRING, 0);

	if (s == NULL || !conf_path_value(ld, s, "drivers_conf_dir", out, len))
		snprintf(out, len, "%s", def);
}
