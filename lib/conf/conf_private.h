/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* What lib/conf's conf_*.c files share: the state of one load, and the
 * helpers and name tables that more than one of them uses (each
 * defined in the file named above its declarations). Not installed:
 * mg_conf.h is lib/conf's one public header. */

#ifndef CONF_PRIVATE_H
#define CONF_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "mg_conf.h"

/* Whose key a key of the load is. */
struct key_owner {
	const char *peer;
	uint32_t spi;
	int line;
	size_t len;
};

/* State of one load: where errors go and which file is being read. */
struct loader {
	struct mg_conf_errors *errs;
	const char *path; /* file being read, for errors without a line */
	/* a section that could not be read as a whole: references into it
	 * are not checked, so one mistake does not echo as many */
	bool identities_broken;
	bool services_broken;
	bool patterns_full;    /* MG_CONF_MAX_PATTERNS reported */
	bool matchers_full;    /* MG_CONF_MAX_MATCHERS reported, this policy */
	uint32_t patterns_cap; /* entries allocated in conf->patterns */
	bool peers_broken;
	const char *dir; /* the config file's folder: paths in it are relative
			    to it */
	/* every SA key of the load, to refuse one key in two SAs: locked
	 * and kept out of core dumps, zeroised when the load ends */
	uint8_t (*keys)[MG_CONF_MAX_KEY_LEN];
	size_t keys_bytes;
	struct key_owner *key_owner;
	unsigned int n_keys;
};

/* A name from the config mapped to a value, for enums and flag lists. */
struct name_value {
	const char *name;
	uint32_t value;
};

/* Errors about a setting carry the line (and file, for @include) of it. */
#define err_at(ld, s, ...)                                                     \
	conf_report(ld, config_setting_source_file(s),                         \
		    (int)config_setting_source_line(s), __VA_ARGS__)

/* ---- conf_common.c ---- */

void __attribute__((format(printf, 4, 5)))
conf_report(struct loader *ld, const char *file, int line, const char *fmt,
	    ...);
void __attribute__((format(printf, 4, 5)))
conf_warn_setting(struct loader *ld, struct mg_conf *conf,
		  const config_setting_t *s, const char *fmt, ...);
const char *conf_type_name(int type);
void conf_check_keys(struct loader *ld, const config_setting_t *group,
		     const char *const *allowed, const char *where);
config_setting_t *conf_member(struct loader *ld, const config_setting_t *group,
			      const char *key, int type, int type2);
config_setting_t *conf_require(struct loader *ld, const config_setting_t *group,
			       const char *key, int type, int type2,
			       const char *where);
void conf_get_uint(struct loader *ld, const config_setting_t *group,
		   const char *key, long long min, long long max,
		   uint32_t *out);
void conf_get_u16(struct loader *ld, const config_setting_t *group,
		  const char *key, long long min, long long max, uint16_t *out);
bool conf_copy_string(struct loader *ld, const config_setting_t *s,
		      const char *key, char *buf, size_t len);
bool conf_path_value(struct loader *ld, const config_setting_t *s,
		     const char *key, char *out, size_t len);
bool conf_lookup_name(const struct name_value *table, const char *name,
		      uint32_t *out);
void conf_get_choice(struct loader *ld, const config_setting_t *group,
		     const char *key, const struct name_value *table,
		     uint32_t *out);
void conf_get_flags(struct loader *ld, const config_setting_t *group,
		    const char *key, const struct name_value *table,
		    uint32_t *out);
const char *conf_name_of(const struct name_value *table, uint32_t value);
int conf_hex_digit(char c);
void conf_clear_host_bits(struct mg_prefix *p);
bool conf_same_addr(const struct mg_addr *a, const struct mg_addr *b);
bool conf_parse_decimal(const char *s, size_t n, unsigned long max,
			unsigned long *out);
const char *conf_parse_prefix(const char *text, bool need_len,
			      struct mg_prefix *out);
const char *conf_elem_string(struct loader *ld, const config_setting_t *e,
			     const char *key);
const char *conf_network_elem(struct loader *ld, const config_setting_t *e,
			      const char *key, struct mg_prefix *p);
config_setting_t *conf_get_list(struct loader *ld, const config_setting_t *g,
				const char *key, bool required, int min,
				int max, const char *where);
bool conf_valid_name(const char *s);
config_setting_t *conf_get_name(struct loader *ld, const config_setting_t *g,
				const char *key, bool required,
				const char *where, char *buf, size_t len);
void conf_get_addr(struct loader *ld, const config_setting_t *g,
		   const char *key, uint8_t family, struct mg_addr *out);
bool conf_read_file(struct loader *ld, config_t *cfg, const char *path,
		    const config_setting_t *from);
bool conf_read_text(struct loader *ld, config_t *cfg, const char *name,
		    const char *text, size_t len);
config_setting_t *conf_get_section(struct loader *ld,
				   const config_setting_t *root,
				   const char *key, int max, bool *broken);
bool conf_is_group(struct loader *ld, const config_setting_t *s,
		   const char *what);

/* ---- conf_ports.c ---- */

void conf_load_ports(struct loader *ld, const config_setting_t *root,
		     const char *dir, struct mg_conf *conf);
void conf_load_lcores(struct loader *ld, const config_setting_t *root,
		      struct mg_conf *conf);
void conf_load_mempool(struct loader *ld, const config_setting_t *root,
		       struct mg_conf *conf);
void conf_load_flows(struct loader *ld, const config_setting_t *root,
		     struct mg_flow_conf *f);
void conf_load_fragments(struct loader *ld, const config_setting_t *root,
			 struct mg_frag_conf *f);
void conf_load_l7(struct loader *ld, const config_setting_t *root,
		  struct mg_l7_conf *l7);
void conf_profile_dir(struct loader *ld, const config_setting_t *root,
		      const char *def, char *out, size_t len);

/* ---- conf_services.c ---- */

void conf_load_identities(struct loader *ld, const config_setting_t *root,
			  struct mg_conf *conf);
const char *conf_parse_backend(const char *text, struct mg_backend_conf *b);
bool conf_parse_ref(const char *text, struct mg_ref *r);
bool conf_ref_resolves(const struct mg_conf *conf, const struct mg_ref *r,
		       bool from);
void conf_health_defaults(struct mg_health_conf *h);
void conf_load_health(struct loader *ld, const config_setting_t *parent,
		      const char *where, struct mg_health_conf *h);
void conf_load_services(struct loader *ld, const config_setting_t *root,
			struct mg_conf *conf);

/* ---- conf_peers.c ---- */

void conf_keys_free(struct loader *ld);
void conf_load_peers(struct loader *ld, const config_setting_t *root,
		     struct mg_conf *conf);
void conf_load_peer_services(struct loader *ld, const config_setting_t *root,
			     struct mg_conf *conf);

/* ---- conf_policies.c ---- */

extern const struct name_value conf_deny_action_names[];
void conf_load_policies(struct loader *ld, const config_setting_t *root,
			struct mg_conf *conf);

/* ---- conf_node.c ---- */

void conf_load_limits(struct loader *ld, const config_setting_t *root,
		      struct mg_conf *conf);
void conf_load_neighbours(struct loader *ld, const config_setting_t *root,
			  struct mg_conf *conf);
void conf_check_backend_loops(struct loader *ld, const config_setting_t *root,
			      const struct mg_conf *conf);
void conf_check_backend_routes(struct loader *ld, const config_setting_t *root,
			       struct mg_conf *conf);
void conf_load_shadow(struct loader *ld, const config_setting_t *root,
		      struct mg_conf *conf);
void conf_load_recorder(struct loader *ld, const config_setting_t *root,
			struct mg_conf *conf);
void conf_load_deny_log(struct loader *ld, const config_setting_t *root,
			struct mg_conf *conf);
void conf_load_telemetry(struct loader *ld, const config_setting_t *root,
			 struct mg_conf *conf);
void conf_load_appliance(struct loader *ld, const config_setting_t *root,
			 struct mg_conf *conf);

#endif /* CONF_PRIVATE_H */
