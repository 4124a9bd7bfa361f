/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* libconfig file -> struct mg_conf, with FILE:LINE for every rejection:
 * the top level (its keys, and the order in which sections are read),
 * load and free. Each section's reader lives in a conf_*.c file of its
 * own; conf_private.h is what they share. */

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_private.h"

static const struct name_value mode_names[] = {
	{ "one-arm", MG_MODE_ONE_ARM },
	{ "two-arm", MG_MODE_TWO_ARM },
	{ NULL, 0 },
};

static const struct name_value unmatched_names[] = {
	{ "drop", MG_UNMATCHED_DROP },
	{ "forward", MG_UNMATCHED_FORWARD },
	{ NULL, 0 },
};

/* mg_conf_load() of the file @p path, or of @p len bytes at @p text
 * (when not NULL) named @p path. */
static struct mg_conf *
conf_load(const char *path, const char *text, size_t len,
	  const char *drivers_dir, struct mg_conf_errors *errs)
{
	static const char *const keys[] = {
		"mode",	     "burst",	    "mempool",
		"ports",     "lcores",	    "drivers_conf_dir",
		"flows",     "identities",  "services",
		"policies",  "neighbours",  "unmatched",
		"health",    "telemetry",   "l7",
		"fragments", "limits",	    "limit_sources",
		"peers",     "idle",	    "hash_seed",
		"memory_mb", "deny_action", "shadow",
		"recorder",  "deny_log",    NULL
	};
	struct loader ld = { .errs = errs, .path = path };
	char dir[PATH_MAX], conf_dir[PATH_MAX];
	config_setting_t *root;
	struct mg_conf *conf;
	uint32_t mode = MG_MODE_ONE_ARM, unmatched = MG_UNMATCHED_DROP;
	uint32_t deny = MG_DENY_RESET;
	config_t cfg;

	memset(errs, 0, sizeof(*errs));
	conf = calloc(1, sizeof(*conf));
	if (conf == NULL) {
		conf_report(&ld, path, 0, "out of memory");
		return NULL;
	}
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	/* paths written in the file are relative to its folder */
	snprintf(conf_dir, sizeof(conf_dir), "%s", path);
	ld.dir = dirname(conf_dir);
	conf->burst = 32;
	conf->mbuf_cache = 256;
	if (text != NULL ? !conf_read_text(&ld, &cfg, path, text, len)
			 : !conf_read_file(&ld, &cfg, path, NULL)) {
		mg_conf_free(conf);
		return NULL;
	}
	root = config_root_setting(&cfg);
	conf_check_keys(&ld, root, keys, "the config");
	conf_get_choice(&ld, root, "mode", mode_names, &mode);
	conf->mode = mode;
	conf_get_choice(&ld, root, "unmatched", unmatched_names, &unmatched);
	conf->unmatched = unmatched;
	/* before policies: it holds their default */
	conf_get_choice(&ld, root, "deny_action", conf_deny_action_names,
			&deny);
	conf->deny_action = deny;
	conf_get_u16(&ld, root, "burst", 1, MG_CONF_MAX_BURST, &conf->burst);
	conf_load_mempool(&ld, root, conf);
	conf_profile_dir(&ld, root, drivers_dir, dir, sizeof(dir));
	conf_load_ports(&ld, root, dir, conf);
	conf_load_lcores(&ld, root, conf);
	conf_load_flows(&ld, root, &conf->flows);
	conf_load_fragments(&ld, root, &conf->fragments);
	conf_load_l7(&ld, root, &conf->l7);
	conf_load_identities(&ld, root, conf);
	/* after identities (each peer is one more), before services and
	 * policies (routes and rules may name "peer:NAME") */
	conf_load_peers(&ld, root, conf);
	/* before services: it holds their defaults */
	conf_health_defaults(&conf->health);
	conf_load_health(&ld, root, "'health'", &conf->health);
	conf_load_services(&ld, root, conf);
	conf_load_peer_services(&ld, root, conf);
	/* after identities and services: rules refer to both */
	conf_load_policies(&ld, root, conf);
	conf_load_limits(&ld, root, conf);
	conf_load_neighbours(&ld, root, conf);
	conf_check_backend_loops(&ld, root, conf);
	conf_check_backend_routes(&ld, root, conf);
	/* after ports and services: it may not take their addresses */
	conf_load_telemetry(&ld, root, conf);
	conf_load_appliance(&ld, root, conf);
	conf_load_shadow(&ld, root, conf);
	conf_load_recorder(&ld, root, conf);
	conf_load_deny_log(&ld, root, conf);
	config_destroy(&cfg);
	conf_keys_free(&ld);

	if (errs->n > 0) {
		mg_conf_free(conf);
		return NULL;
	}
	return conf;
}

struct mg_conf *
mg_conf_load(const char *path, const char *drivers_dir,
	     struct mg_conf_errors *errs)
{
	return conf_load(path, NULL, 0, drivers_dir, errs);
}

struct mg_conf *
mg_conf_load_string(const char *text, size_t len, const char *name,
		    const char *drivers_dir, struct mg_conf_errors *errs)
{
	if (text == NULL)
		text = "";
	return conf_load(name, text, len, drivers_dir, errs);
}

void
mg_conf_free(struct mg_conf *conf)
{
	uint32_t i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->n_patterns; i++)
		free(conf->patterns[i].regex);
	free(conf->patterns);
	free(conf);
}
