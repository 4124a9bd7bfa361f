/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * libFuzzer target `conf`: lib/conf's loader on arbitrary text, through
 * mg_conf_load_string() (the bytes as a file would hold them): libconfig
 * syntax, then every semantic check, driver profiles included.
 *
 * Checked besides memory safety and leaks: the loader either returns a
 * config and no error, or NULL and at least one error; every error names
 * where it is — "NAME:LINE: " with a line of the text, or "NAME: " for
 * what has no line (a missing top-level key), or a file the loader read
 * (a driver profile, an @include) — and says something after it; a
 * loaded config stays inside the bounds the loader promises.
 *
 * @include and drivers_conf_dir reach the file system: scripts/fuzz.sh
 * runs this target in an empty folder with stdin from /dev/null.
 *
 * Speed and leaks, by link-time wrapping (--wrap, so only calls made by
 * lib/conf's own code are seen, never libconfig's or libc's inside):
 * - struct mg_conf is 1.9 MB, and ASan maps, poisons and unmaps an
 *   allocation that size on every load (5 ms on a VM): the loader's
 *   large blocks (the config, a table of claims) come from a cache, each
 *   allocated once by ASan (its redzones stay), zeroed when handed out
 *   and poisoned while free (a use after free is still a report);
 * - libconfig 1.5 leaks a token string on many syntax errors (see
 *   lsan.supp), so libFuzzer's per-input LeakSanitizer pass would run on
 *   most inputs and take 80% of the time: scripts/fuzz.sh turns it off
 *   for this target, and the harness counts instead what lib/conf
 *   allocates and frees (malloc family, config_t, FILE) — every one must
 *   be given back by the end of each input.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>
#include <sanitizer/asan_interface.h>

#include "fuzz_common.h"
#include "mg_conf.h"

#define NAME "fuzz.conf"

/* ---- what lib/conf allocates ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void __real_free(void *p);
void __real_config_init(config_t *c);
void __real_config_destroy(config_t *c);
FILE *__real_fmemopen(void *buf, size_t size, const char *mode);
FILE *__real_fopen(const char *path, const char *mode);
int __real_fclose(FILE *f);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);
void __wrap_config_init(config_t *c);
void __wrap_config_destroy(config_t *c);
FILE *__wrap_fmemopen(void *buf, size_t size, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);
int __wrap_fclose(FILE *f);

/* Live blocks, by address: an open-addressing set. A block lib/conf
 * frees but did not allocate (Hyperscan's expression info) is not in
 * it and goes straight to free(). */
#define LIVE_SLOTS (1u << 16)

static struct {
	void *slot[LIVE_SLOTS];
	unsigned int n;
} live;

static unsigned int configs, files;

static uint32_t
live_hash(const void *p)
{
	return (uint32_t)(((uintptr_t)p >> 4) * 2654435761u) & (LIVE_SLOTS - 1);
}

static void
live_add(void *p)
{
	uint32_t i = live_hash(p);

	if (p == NULL)
		return;
	FZ_CHECK(live.n < LIVE_SLOTS / 2, "lib/conf holds %u blocks", live.n);
	while (live.slot[i] != NULL)
		i = (i + 1) & (LIVE_SLOTS - 1);
	live.slot[i] = p;
	live.n++;
}

/* Removes @p p if present (backward-shift deletion keeps probes whole). */
static bool
live_del(void *p)
{
	uint32_t i = live_hash(p), j, k;

	for (; live.slot[i] != p; i = (i + 1) & (LIVE_SLOTS - 1))
		if (live.slot[i] == NULL)
			return false;
	live.slot[i] = NULL;
	live.n--;
	for (j = (i + 1) & (LIVE_SLOTS - 1); live.slot[j] != NULL;
	     j = (j + 1) & (LIVE_SLOTS - 1)) {
		k = live_hash(live.slot[j]);
		/* move it back unless its home lies in (i, j] */
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && k <= i && k > j)) {
			live.slot[i] = live.slot[j];
			live.slot[j] = NULL;
			i = j;
		}
	}
	return true;
}

/* Blocks past ASan's size classes (128 KiB) that the loader callocs on
 * every load: struct mg_conf and check_claims()'s table. */
#define LARGE_MIN    (128u << 10)
#define LARGE_BLOCKS 4

static struct {
	void *p;
	size_t size;
	bool taken;
} large[LARGE_BLOCKS];

static void *
large_get(size_t total)
{
	unsigned int i;

	for (i = 0; i < LARGE_BLOCKS; i++) {
		if (large[i].p == NULL) {
			large[i].p = __real_calloc(1, total);
			large[i].size = total;
		}
		if (large[i].p != NULL && large[i].size == total &&
		    !large[i].taken) {
			ASAN_UNPOISON_MEMORY_REGION(large[i].p, total);
			memset(large[i].p, 0, total);
			large[i].taken = true;
			return large[i].p;
		}
	}
	return __real_calloc(1, total);
}

static bool
large_put(void *p)
{
	unsigned int i;

	for (i = 0; i < LARGE_BLOCKS; i++)
		if (large[i].p == p && large[i].taken) {
			large[i].taken = false;
			ASAN_POISON_MEMORY_REGION(p, large[i].size);
			return true;
		}
	return false;
}

void *
__wrap_malloc(size_t size)
{
	void *p = __real_malloc(size);

	live_add(p);
	return p;
}

void *
__wrap_calloc(size_t n, size_t size)
{
	size_t total = n * size;
	void *p;

	if (size != 0 && total / size == n && total >= LARGE_MIN)
		p = large_get(total);
	else
		p = __real_calloc(n, size);
	live_add(p);
	return p;
}

void *
__wrap_realloc(void *p, size_t size)
{
	void *q;

	FZ_CHECK(p == NULL || live_del(p), "realloc of a block lib/conf does "
					   "not hold");
	FZ_CHECK(!large_put(p), "realloc of a cached block");
	q = __real_realloc(p, size);
	live_add(q != NULL || size == 0 ? q : p);
	return q;
}

char *
__wrap_strdup(const char *s)
{
	char *p = __real_strdup(s);

	live_add(p);
	return p;
}

void
__wrap_free(void *p)
{
	bool held = p != NULL && live_del(p);

	if (held && large_put(p))
		return;
	__real_free(p);
}

void
__wrap_config_init(config_t *c)
{
	configs++;
	__real_config_init(c);
}

void
__wrap_config_destroy(config_t *c)
{
	FZ_CHECK(configs > 0, "config_destroy() without config_init()");
	configs--;
	__real_config_destroy(c);
}

FILE *
__wrap_fmemopen(void *buf, size_t size, const char *mode)
{
	FILE *f = __real_fmemopen(buf, size, mode);

	files += f != NULL;
	return f;
}

FILE *
__wrap_fopen(const char *path, const char *mode)
{
	FILE *f = __real_fopen(path, mode);

	files += f != NULL;
	return f;
}

int
__wrap_fclose(FILE *f)
{
	FZ_CHECK(files > 0, "fclose() of a file lib/conf did not open");
	files--;
	return __real_fclose(f);
}

/* ---- the checks ---- */

static void
check_error(const char *msg, unsigned int lines)
{
	const char *colon = strchr(msg, ':'), *p;
	unsigned long line;
	char file[PATH_MAX];
	char *end;

	FZ_CHECK(colon != NULL && colon != msg &&
			 (size_t)(colon - msg) < sizeof(file),
		 "error names no file: '%s'", msg);
	memcpy(file, msg, (size_t)(colon - msg));
	file[colon - msg] = '\0';
	p = colon + 1;
	if (*p >= '0' && *p <= '9') {
		line = strtoul(p, &end, 10);
		FZ_CHECK(*end == ':' && end[1] == ' ',
			 "error's line is not followed by ': ': '%s'", msg);
		FZ_CHECK(line >= 1, "line 0: '%s'", msg);
		if (strcmp(file, NAME) == 0)
			FZ_CHECK(line <= lines,
				 "line %lu of a text of %u lines: '%s'", line,
				 lines, msg);
		p = end + 2;
	} else {
		FZ_CHECK(*p == ' ',
			 "error's file is not followed by ': ': "
			 "'%s'",
			 msg);
		p++;
	}
	FZ_CHECK(*p != '\0' && *p != ' ', "error says nothing: '%s'", msg);
	if (strcmp(file, NAME) != 0)
		FZ_CHECK(access(file, R_OK) == 0,
			 "error names '%s', neither the text nor a file "
			 "read: '%s'",
			 file, msg);
}

static void
check_conf(const struct mg_conf *c)
{
	unsigned int i;

	FZ_CHECK(c->n_ports >= 1 && c->n_ports <= MG_CONF_MAX_PORTS, "%u ports",
		 c->n_ports);
	FZ_CHECK(c->burst >= 1 && c->burst <= MG_CONF_MAX_BURST, "burst %u",
		 c->burst);
	FZ_CHECK(c->n_identities <= MG_CONF_MAX_IDENTITIES &&
			 c->n_services <= MG_CONF_MAX_SERVICES &&
			 c->n_policies <= MG_CONF_MAX_POLICIES &&
			 c->n_neighbours <= MG_CONF_MAX_NEIGHBOURS &&
			 c->n_lcores <= MG_CONF_MAX_LCORES &&
			 c->n_patterns <= MG_CONF_MAX_PATTERNS,
		 "a table past its bound");
	for (i = 0; i < c->n_ports; i++)
		FZ_CHECK(c->ports[i].n_addrs <= MG_CONF_MAX_ADDRS &&
				 memchr(c->ports[i].name, '\0',
					sizeof(c->ports[i].name)) != NULL,
			 "port %u", i);
	for (i = 0; i < c->n_services; i++)
		FZ_CHECK(c->services[i].n_versions >= 1 &&
				 c->services[i].n_versions <=
					 MG_CONF_MAX_VERSIONS &&
				 c->services[i].n_vips <= MG_CONF_MAX_VIPS,
			 "service %u", i);
	for (i = 0; i < c->n_patterns; i++)
		FZ_CHECK(c->patterns[i].regex != NULL &&
				 strlen(c->patterns[i].regex) <
					 MG_CONF_PATTERN_LEN,
			 "pattern %u", i);
}

/* Everything lib/conf took during the input is back (@p blocks: what
 * the set held before, should anything else in the binary use it). */
static void
check_returned(unsigned int blocks)
{
	FZ_CHECK(live.n == blocks, "lib/conf leaked %u blocks",
		 live.n - blocks);
	FZ_CHECK(configs == 0, "lib/conf left %u config_t undestroyed",
		 configs);
	FZ_CHECK(files == 0, "lib/conf left %u files open", files);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mg_conf_errors errs;
	unsigned int lines = 1, blocks = live.n, i;
	struct mg_conf *c;
	size_t k;

	for (k = 0; k < size; k++)
		lines += data[k] == '\n';
	c = mg_conf_load_string((const char *)data, size, NAME,
				MG_DRIVERS_CONF_DIR, &errs);
	if (c != NULL) {
		FZ_CHECK(errs.n == 0, "loaded with %u errors", errs.n);
		check_conf(c);
		mg_conf_free(c);
		check_returned(blocks);
		return 0;
	}
	FZ_CHECK(errs.n > 0, "refused without an error");
	for (i = 0; i < errs.n && i < MG_CONF_MAX_ERRORS; i++)
		check_error(errs.msg[i], lines);
	check_returned(blocks);
	return 0;
}
