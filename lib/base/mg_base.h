/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/**
 * @file
 * The bottom of meshgate's libraries: what several of them share and
 * none of them owns. IPv4/IPv6 addresses and prefixes, the config's
 * bounds that libraries below lib/conf size their own tables by, and
 * the one helper that formats an error for a caller's buffer. Plain C,
 * no DPDK: lib/conf, which checks a config on any machine, sits on it.
 */

#ifndef MG_BASE_H
#define MG_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of the config that lib/canary sizes its health groups by; the
 * others are in mg_conf.h. */
#define MG_CONF_NAME_LEN     32
#define MG_CONF_MAX_BACKENDS 32 /**< per version */

/**
 * An IPv4 or IPv6 address. IPv4 uses the first four bytes, the rest is
 * zero: the same layout as struct mg_5tuple, so addresses compare as
 * bytes.
 */
struct mg_addr {
	uint8_t family; /**< 4 or 6 */
	uint8_t bytes[16];
};

struct mg_prefix {
	struct mg_addr addr; /**< host bits are zero */
	uint8_t len;	     /**< 0..32 or 0..128 */
};

/**
 * Parse an address ("198.18.0.1", "2001:db8::1").
 *
 * @return true on success.
 */
bool mg_addr_parse(const char *text, struct mg_addr *out);

/** Format an address into @p buf (at least 46 bytes). Returns @p buf. */
const char *mg_addr_format(const struct mg_addr *addr, char *buf, size_t len);

/**
 * Whether @p addr lies inside @p prefix: same family and the first
 * prefix->len bits equal. Host bits of the prefix are ignored, so this
 * also answers "is it on-link" for a port address such as 198.18.0.1/24.
 */
bool mg_prefix_contains(const struct mg_prefix *prefix,
			const struct mg_addr *addr);

/**
 * Format a message into a caller's error buffer, as snprintf() would
 * (truncated to fit, always NUL-terminated).
 *
 * @param err     The buffer; NULL is accepted (nothing is written).
 * @param errlen  Its size; 0 writes nothing.
 * @param fmt     printf() format and its arguments.
 *
 * Thread safety: reentrant.
 */
void mg_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * ThreadSanitizer annotations (scripts/build.sh tsan; nothing in other
 * builds). DPDK's libraries are not instrumented: data handed from one
 * thread to another through one of them (an entry published in an
 * rte_hash, a function launched on an lcore) looks raced to TSan, which
 * sees neither side of the library's release and acquire.
 * MG_TSAN_RELEASE(p) where the library releases and MG_TSAN_ACQUIRE(p)
 * where it acquires, on the same address, say what it guarantees.
 */
#if defined(__SANITIZE_THREAD__)
#define MG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MG_TSAN 1
#endif
#endif
#ifdef MG_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define MG_TSAN_ACQUIRE(p) __tsan_acquire((void *)(uintptr_t)(p))
#define MG_TSAN_RELEASE(p) __tsan_release((void *)(uintptr_t)(p))
#else
#define MG_TSAN_ACQUIRE(p) ((void)(p))
#define MG_TSAN_RELEASE(p) ((void)(p))
#endif

#ifdef __cplusplus
}
#endif

#endif /* MG_BASE_H */
