/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* ESP peers: their SAs and keys (locked, kept out of core dumps,
 * zeroised), prefixes, endpoints and the services reached through
 * them. */

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "conf_private.h"

/* ---- ESP peers ---- */

static const struct name_value esp_algo_names[] = {
	{ "aes-gcm-128", MG_ESP_AES_GCM_128 },
	{ "aes-gcm-256", MG_ESP_AES_GCM_256 },
	{ NULL, 0 },
};

/* The room for every SA key a file may hold, locked (best effort: the
 * load is short) and kept out of core dumps. */
static bool
keys_alloc(struct loader *ld)
{
	size_t n = (size_t)MG_CONF_MAX_PEERS * (MG_CONF_MAX_PEER_INBOUND + 1);
	size_t bytes = n * MG_CONF_MAX_KEY_LEN;
	void *p;

	if (ld->keys != NULL)
		return true;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ld->key_owner = calloc(n, sizeof(*ld->key_owner));
	if (p == MAP_FAILED || ld->key_owner == NULL) {
		if (p != MAP_FAILED)
			munmap(p, bytes);
		free(ld->key_owner);
		ld->key_owner = NULL;
		conf_report(ld, NULL, 0, "out of memory");
		return false;
	}
	(void)madvise(p, bytes, MADV_DONTDUMP);
	(void)mlock(p, bytes);
	ld->keys = p;
	ld->keys_bytes = bytes;
	return true;
}

void
conf_keys_free(struct loader *ld)
{
	if (ld->keys == NULL)
		return;
	explicit_bzero(ld->keys, ld->keys_bytes);
	munlock(ld->keys, ld->keys_bytes);
	munmap(ld->keys, ld->keys_bytes);
	free(ld->key_owner);
	ld->keys = NULL;
	ld->key_owner = NULL;
}

/* An SPI: an integer or a string ("0x10001"); 0-255 are reserved (RFC
 * 4303 2.1). */
static bool
get_spi(struct loader *ld, const config_setting_t *g, uint32_t *spi)
{
	config_setting_t *s = config_setting_get_member(g, "spi");
	unsigned long long v;
	const char *text;
	char *end;

	if (s == NULL) {
		err_at(ld, g, "an SA needs 'spi'");
		return false;
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		/* libconfig reads 0x80000000 and above as negative ints */
		if (config_setting_get_int64(s) < 0) {
			err_at(ld, s,
			       "'spi' is negative; write an SPI above "
			       "0x7fffffff with an L (0xc0000001L) or as a "
			       "string (\"0xc0000001\")");
			return false;
		}
		v = (unsigned long long)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_STRING:
		text = config_setting_get_string(s);
		errno = 0;
		v = strtoull(text, &end, 0);
		if (errno != 0 || *text == '\0' || *end != '\0' ||
		    *text == '-') {
			err_at(ld, s, "'spi' value '%s' is not a number", text);
			return false;
		}
		break;
	default:
		err_at(ld, s, "'spi' must be an integer or a string, not %s",
		       conf_type_name(config_setting_type(s)));
		return false;
	}
	if (v < 256 || v > UINT32_MAX) {
		err_at(ld, s,
		       "'spi' is %llu; it must be between 256 and 4294967295 "
		       "(0-255 are reserved)",
		       v);
		return false;
	}
	*spi = (uint32_t)v;
	return true;
}

/* The key file of an SA, read and checked now so that --check-config
 * and a reload refuse a bad one at its line; kept (locked) until the
 * end of the load only to refuse one key in two SAs. */
static void
load_key(struct loader *ld, const config_setting_t *v,
	 const struct mg_peer_conf *peer, struct mg_sa_conf *sa)
{
	const char *file = config_setting_get_string(v);
	size_t len = mg_conf_esp_key_len(sa->algo);
	struct key_owner *o;
	char why[160];
	unsigned int i;
	uint8_t *key;

	if (!conf_path_value(ld, v, "key_file", sa->key_file,
			     sizeof(sa->key_file)))
		return;
	if (len == 0 || !keys_alloc(ld))
		return;
	key = ld->keys[ld->n_keys];
	if (mg_conf_key_read(sa->key_file, key, len, why, sizeof(why)) != 0) {
		err_at(ld, v, "key file '%s' %s", file, why);
		return;
	}
	/* GCM under one key in two SAs repeats nonces: both count their
	 * sequence numbers (the IV) from 1 */
	for (i = 0; i < ld->n_keys; i++) {
		o = &ld->key_owner[i];
		if (o->len == len && memcmp(ld->keys[i], key, len) == 0) {
			err_at(ld, v,
			       "key file '%s' holds the key of SA 0x%x of "
			       "peer '%s' (line %d): every SA needs a key of "
			       "its own",
			       file, o->spi, o->peer, o->line);
			explicit_bzero(key, len);
			return;
		}
	}
	o = &ld->key_owner[ld->n_keys++];
	o->peer = peer->name;
	o->spi = sa->spi;
	o->line = sa->line;
	o->len = len;
}

/* One SA group: spi, algorithm, key_file (and, outbound, initial_seq). */
static void
load_sa(struct loader *ld, const config_setting_t *g, bool outbound,
	const struct mg_peer_conf *peer, struct mg_sa_conf *sa)
{
	static const char *const in_keys[] = { "spi", "algorithm", "key_file",
					       NULL };
	static const char *const out_keys[] = { "spi", "algorithm", "key_file",
						"initial_seq", NULL };
	config_setting_t *v;
	uint32_t algo = MG_ESP_AES_GCM_128;

	if (!conf_is_group(ld, g, "SA"))
		return;
	sa->line = (int)config_setting_source_line(g);
	conf_check_keys(ld, g, outbound ? out_keys : in_keys,
			outbound ? "an outbound SA" : "an inbound SA");
	get_spi(ld, g, &sa->spi);
	if (conf_require(ld, g, "algorithm", CONFIG_TYPE_STRING, 0, "an SA") !=
	    NULL)
		conf_get_choice(ld, g, "algorithm", esp_algo_names, &algo);
	sa->algo = (uint8_t)algo;
	sa->initial_seq = 1;
	v = conf_member(ld, g, "initial_seq", CONFIG_TYPE_INT,
			CONFIG_TYPE_INT64);
	if (v != NULL) {
		long long seq = config_setting_get_int64(v);
		/* the last number before the wrap stops the SA at once */
		long long max =
			peer->esn ? INT64_MAX : (long long)UINT32_MAX - 1;

		if (seq < 1 || seq > max)
			err_at(ld, v,
			       "'initial_seq' is %lld; it must be between 1 "
			       "and %lld",
			       seq, max);
		else
			sa->initial_seq = (uint64_t)seq;
	}
	v = conf_require(ld, g, "key_file", CONFIG_TYPE_STRING, 0, "an SA");
	if (v == NULL)
		return;
	sa->key_line = (int)config_setting_source_line(v);
	load_key(ld, v, peer, sa);
}

/* Prefixes routed through the peer: host bits clear, as identities'. */
static void
load_peer_prefixes(struct loader *ld, const config_setting_t *s,
		   struct mg_peer_conf *peer)
{
	config_setting_t *list =
		conf_get_list(ld, s, "prefixes", false, 0,
			      MG_CONF_MAX_PEER_PREFIXES, "a peer");
	int i, j, n = list != NULL ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		struct mg_prefix *p = &peer->prefixes[i];
		const char *text = conf_network_elem(ld, e, "prefixes", p);

		if (text == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (memcmp(p, &peer->prefixes[j], sizeof(*p)) == 0) {
				err_at(ld, e,
				       "prefix '%s' is listed twice in peer "
				       "'%s'",
				       text, peer->name);
				break;
			}
	}
	peer->n_prefixes = (unsigned int)n;
}

/* Whether @p a is one of the gateway's port addresses. */
static bool
is_port_addr(const struct mg_conf *conf, const struct mg_addr *a)
{
	unsigned int i, j;

	for (i = 0; i < conf->n_ports; i++)
		for (j = 0; j < conf->ports[i].n_addrs; j++)
			if (conf_same_addr(a, &conf->ports[i].addrs[j].addr))
				return true;
	return false;
}

static void
load_peer_endpoints(struct loader *ld, const config_setting_t *s,
		    const struct mg_conf *conf, struct mg_peer_conf *peer)
{
	config_setting_t *l, *r;
	char buf[INET6_ADDRSTRLEN];

	l = conf_require(ld, s, "local", CONFIG_TYPE_STRING, 0, "a peer");
	r = conf_require(ld, s, "remote", CONFIG_TYPE_STRING, 0, "a peer");
	if (l != NULL &&
	    !mg_addr_parse(config_setting_get_string(l), &peer->local))
		err_at(ld, l, "'local' value '%s' is not an IP address",
		       config_setting_get_string(l));
	else if (l != NULL && conf->n_ports != 0 &&
		 !is_port_addr(conf, &peer->local))
		err_at(ld, l,
		       "'local' %s is not an address of a port: the tunnel "
		       "ends at one of the gateway's own addresses",
		       mg_addr_format(&peer->local, buf, sizeof(buf)));
	if (r != NULL &&
	    !mg_addr_parse(config_setting_get_string(r), &peer->remote)) {
		err_at(ld, r, "'remote' value '%s' is not an IP address",
		       config_setting_get_string(r));
		return;
	}
	if (r == NULL || l == NULL || peer->local.family == 0)
		return;
	if (peer->remote.family != peer->local.family)
		err_at(ld, r, "'remote' is IPv%u but 'local' is IPv%u",
		       peer->remote.family, peer->local.family);
	else if (is_port_addr(conf, &peer->remote))
		err_at(ld, r, "'remote' %s is an address of the gateway itself",
		       mg_addr_format(&peer->remote, buf, sizeof(buf)));
}

static void
load_peer(struct loader *ld, const config_setting_t *s,
	  const struct mg_conf *conf, struct mg_peer_conf *peer)
{
	static const char *const keys[] = {
		"name",		"env",	       "local",	   "remote",
		"udp_encap",	"remote_port", "esn",	   "replay_window",
		"rekey_linger", "inbound",     "outbound", "prefixes",
		"services",	NULL
	};
	config_setting_t *v, *list;
	char where[64];
	int i, n;

	if (!conf_is_group(ld, s, "peer"))
		return;
	peer->line = (int)config_setting_source_line(s);
	conf_check_keys(ld, s, keys, "a peer");
	conf_get_name(ld, s, "name", true, "a peer", peer->name,
		      sizeof(peer->name));
	conf_get_name(ld, s, "env", false, "a peer", peer->env,
		      sizeof(peer->env));
	load_peer_endpoints(ld, s, conf, peer);
	v = conf_member(ld, s, "udp_encap", CONFIG_TYPE_BOOL, 0);
	peer->udp_encap = v != NULL && config_setting_get_bool(v);
	peer->remote_port = 4500;
	v = config_setting_get_member(s, "remote_port");
	if (v != NULL && !peer->udp_encap)
		err_at(ld, v, "'remote_port' needs 'udp_encap = true'");
	conf_get_u16(ld, s, "remote_port", 1, 65535, &peer->remote_port);
	v = conf_member(ld, s, "esn", CONFIG_TYPE_BOOL, 0);
	peer->esn = v != NULL && config_setting_get_bool(v);
	/* RFC 4303 3.4.3: 32 at least, 64 recommended */
	peer->replay_window = 1024;
	conf_get_uint(ld, s, "replay_window", 64, 4096, &peer->replay_window);
	peer->rekey_linger_s = 60;
	conf_get_uint(ld, s, "rekey_linger", 0, 3600, &peer->rekey_linger_s);
	snprintf(where, sizeof(where), "peer '%s'", peer->name);
	list = conf_get_list(ld, s, "inbound", true, 1,
			     MG_CONF_MAX_PEER_INBOUND, where);
	n = list != NULL ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++)
		load_sa(ld, config_setting_get_elem(list, i), false, peer,
			&peer->inbound[i]);
	peer->n_inbound = (unsigned int)n;
	v = conf_require(ld, s, "outbound", CONFIG_TYPE_GROUP, 0, where);
	if (v != NULL)
		load_sa(ld, v, true, peer, &peer->outbound);
	load_peer_prefixes(ld, s, peer);
}

/* The element @p j of list @p key of peer @p i, for errors. */
static config_setting_t *
peer_elem(const config_setting_t *list, unsigned int i, const char *key,
	  unsigned int j)
{
	config_setting_t *p = config_setting_get_elem(list, i);

	return config_setting_get_elem(config_setting_get_member(p, key), j);
}

/* The inbound SA before (peer @p i, SA @p j) with SPI @p spi, or NULL. */
static const struct mg_sa_conf *
earlier_spi(const struct mg_conf *conf, unsigned int i, unsigned int j,
	    uint32_t spi, const struct mg_peer_conf **peer)
{
	unsigned int k, l, n;

	for (k = 0; k <= i; k++) {
		n = k == i ? j : conf->peers[k].n_inbound;
		for (l = 0; l < n; l++)
			if (conf->peers[k].inbound[l].spi == spi) {
				*peer = &conf->peers[k];
				return &conf->peers[k].inbound[l];
			}
	}
	return NULL;
}

/* An inbound SPI names one SA, whatever the peer: the SA is looked up
 * by it alone before anything is authenticated. */
static void
check_peer_spis(struct loader *ld, const config_setting_t *list,
		const struct mg_conf *conf)
{
	const struct mg_peer_conf *other;
	const struct mg_sa_conf *sa;
	unsigned int i, j;
	uint32_t spi;

	for (i = 0; i < conf->n_peers; i++)
		for (j = 0; j < conf->peers[i].n_inbound; j++) {
			spi = conf->peers[i].inbound[j].spi;
			sa = spi != 0 ? earlier_spi(conf, i, j, spi, &other)
				      : NULL;
			if (sa != NULL)
				err_at(ld, peer_elem(list, i, "inbound", j),
				       "inbound SPI 0x%x is also that of peer "
				       "'%s' (line %d)",
				       spi, other->name, sa->line);
		}
}

/* The peer before @p i that lists prefix @p p, or NULL. */
static const struct mg_peer_conf *
earlier_prefix(const struct mg_conf *conf, unsigned int i,
	       const struct mg_prefix *p)
{
	unsigned int k, l;

	for (k = 0; k < i; k++)
		for (l = 0; l < conf->peers[k].n_prefixes; l++)
			if (memcmp(p, &conf->peers[k].prefixes[l],
				   sizeof(*p)) == 0)
				return &conf->peers[k];
	return NULL;
}

/* A prefix behind two peers would leave the route to table order. */
static void
check_peer_prefixes(struct loader *ld, const config_setting_t *list,
		    const struct mg_conf *conf)
{
	const struct mg_peer_conf *other;
	const struct mg_prefix *p;
	char buf[INET6_ADDRSTRLEN];
	unsigned int i, j;

	for (i = 0; i < conf->n_peers; i++)
		for (j = 0; j < conf->peers[i].n_prefixes; j++) {
			p = &conf->peers[i].prefixes[j];
			other = p->addr.family != 0 ? earlier_prefix(conf, i, p)
						    : NULL;
			if (other != NULL)
				err_at(ld, peer_elem(list, i, "prefixes", j),
				       "prefix %s/%u is behind two peers: "
				       "'%s' and '%s'",
				       mg_addr_format(&p->addr, buf,
						      sizeof(buf)),
				       p->len, other->name,
				       conf->peers[i].name);
		}
}

/* peers = ( { name = ...; ... } ): each also becomes the identity
 * "peer:NAME" (after the file's), which policies and routes may name,
 * so this runs after identities and before services and policies. */
void
conf_load_peers(struct loader *ld, const config_setting_t *root,
		struct mg_conf *conf)
{
	config_setting_t *list = conf_get_section(
		ld, root, "peers", MG_CONF_MAX_PEERS, &ld->peers_broken);
	unsigned int i, j;

	if (list == NULL)
		return;
	conf->n_peers = (unsigned int)config_setting_length(list);
	if (!ld->identities_broken &&
	    conf->n_identities + conf->n_peers > MG_CONF_MAX_IDENTITIES) {
		err_at(ld, list,
		       "%u identities and %u peers (each an identity): at "
		       "most %d in all",
		       conf->n_identities, conf->n_peers,
		       MG_CONF_MAX_IDENTITIES);
		ld->peers_broken = true;
		conf->n_peers = 0;
		return;
	}
	for (i = 0; i < conf->n_peers; i++) {
		config_setting_t *s = config_setting_get_elem(list, i);
		struct mg_peer_conf *p = &conf->peers[i];

		load_peer(ld, s, conf, p);
		for (j = 0; j < i && p->name[0] != '\0'; j++)
			if (strcmp(p->name, conf->peers[j].name) == 0) {
				err_at(ld, config_setting_get_member(s, "name"),
				       "peer name '%s' is used twice (first "
				       "at line %d)",
				       p->name, conf->peers[j].line);
				break;
			}
	}
	check_peer_spis(ld, list, conf);
	check_peer_prefixes(ld, list, conf);
	if (ld->identities_broken)
		return;
	for (i = 0; i < conf->n_peers; i++) {
		struct mg_identity_conf *id =
			&conf->identities[conf->n_identities + i];

		snprintf(id->name, sizeof(id->name), "%s%s",
			 MG_CONF_PEER_PREFIX, conf->peers[i].name);
		memcpy(id->env, conf->peers[i].env, sizeof(id->env));
		id->peer = (uint16_t)(i + 1);
		id->line = conf->peers[i].line;
		conf->peers[i].identity =
			(uint16_t)(conf->n_identities + i + 1);
	}
	conf->n_identities += conf->n_peers;
}

/* A peer's `services`: their backends sit behind it. After services. */
void
conf_load_peer_services(struct loader *ld, const config_setting_t *root,
			struct mg_conf *conf)
{
	config_setting_t *list = config_setting_get_member(root, "peers");
	unsigned int i, k, l;
	int j, n;

	if (list == NULL || ld->peers_broken)
		return;
	for (i = 0; i < conf->n_peers; i++) {
		struct mg_peer_conf *p = &conf->peers[i];
		config_setting_t *s = config_setting_get_elem(list, i);
		config_setting_t *sl;

		if (s == NULL || config_setting_type(s) != CONFIG_TYPE_GROUP)
			continue;
		sl = conf_get_list(ld, s, "services", false, 0,
				   MG_CONF_MAX_PEER_SERVICES, "a peer");
		n = sl != NULL ? config_setting_length(sl) : 0;
		for (j = 0; j < n; j++) {
			config_setting_t *e = config_setting_get_elem(sl, j);
			const char *name = conf_elem_string(ld, e, "services");
			bool found = false;

			if (name == NULL || ld->services_broken)
				continue;
			for (k = 0; k < conf->n_services && !found; k++)
				if (strcmp(name, conf->services[k].name) == 0) {
					p->services[p->n_services++] =
						(uint16_t)k;
					found = true;
				}
			if (!found) {
				err_at(ld, e,
				       "peer '%s': 'services' names '%s', "
				       "which is not a service",
				       p->name, name);
				continue;
			}
			/* one route to a backend */
			for (k = 0; k < i; k++)
				for (l = 0; l < conf->peers[k].n_services; l++)
					if (conf->peers[k].services[l] ==
					    p->services[p->n_services - 1])
						err_at(ld, e,
						       "service '%s' is behind "
						       "two peers: '%s' and "
						       "'%s'",
						       name,
						       conf->peers[k].name,
						       p->name);
		}
	}
}
