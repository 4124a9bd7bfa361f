/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* ESP key files: refused unless only their owner may touch them, read
 * without stdio (whose buffers would keep a copy on the heap), parsed
 * from a stack buffer that is zeroised with explicit_bzero(), which the
 * compiler may not drop as a dead store. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_private.h"

/* "0x", 2 hex digits a byte, whitespace and a newline around. */
#define KEY_FILE_MAX (2 + 2 * MG_CONF_MAX_KEY_LEN + 64)

static const struct {
	const char *name;
	size_t key_len;
} algos[MG_ESP_ALGO_MAX] = {
	[MG_ESP_AES_GCM_128] = { "aes-gcm-128", 16 + 4 },
	[MG_ESP_AES_GCM_256] = { "aes-gcm-256", 32 + 4 },
};

const char *
mg_conf_esp_algo_name(enum mg_esp_algo algo)
{
	return (unsigned int)algo < MG_ESP_ALGO_MAX ? algos[algo].name
						    : "invalid";
}

size_t
mg_conf_esp_key_len(enum mg_esp_algo algo)
{
	return (unsigned int)algo < MG_ESP_ALGO_MAX ? algos[algo].key_len : 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Hex digits of @p text (n bytes) into @p key; never quotes the text. */
static int
parse_hex(const char *text, size_t n, uint8_t *key, size_t len, char *why,
	  size_t whylen)
{
	size_t i = 0, end = n, digits, k;

	while (i < end && is_space(text[i]))
		i++;
	while (end > i && is_space(text[end - 1]))
		end--;
	if (end - i >= 2 && text[i] == '0' && (text[i + 1] | 0x20) == 'x')
		i += 2;
	digits = end - i;
	for (k = i; k < end; k++)
		if (conf_hex_digit(text[k]) < 0) {
			snprintf(why, whylen,
				 "holds something other than hex digits "
				 "(at byte %zu)",
				 k);
			return -EINVAL;
		}
	if (digits != 2 * len) {
		snprintf(why, whylen,
			 "holds %zu hex digits; this transform takes %zu "
			 "(%zu bytes of key and salt)",
			 digits, 2 * len, len);
		return -EINVAL;
	}
	for (k = 0; k < len; k++)
		key[k] = (uint8_t)(conf_hex_digit(text[i + 2 * k]) << 4 |
				   conf_hex_digit(text[i + 2 * k + 1]));
	return 0;
}

int
mg_conf_key_read(const char *path, uint8_t *key, size_t len, char *why,
		 size_t whylen)
{
	char raw[KEY_FILE_MAX];
	size_t n = 0;
	struct stat st;
	ssize_t r;
	int fd, rc;

	memset(key, 0, len);
	if (len == 0 || len > MG_CONF_MAX_KEY_LEN) {
		snprintf(why, whylen, "has no key length");
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot be opened: %s%s", strerror(errno),
			 errno == ELOOP ? " (a symbolic link is not followed)"
					: "");
		return rc;
	}
	/* the checks are made on what was opened, not on the name */
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot be examined: %s",
			 strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "is not a regular file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, whylen,
			 "may be read or written by group or others (mode "
			 "%04o): chmod 600 it",
			 (unsigned int)(st.st_mode & 07777));
		close(fd);
		return -EACCES;
	}
	if (st.st_size > (off_t)sizeof(raw)) {
		snprintf(why, whylen, "is longer than %zu bytes", sizeof(raw));
		close(fd);
		return -EINVAL;
	}
	do {
		r = read(fd, raw + n, sizeof(raw) - n);
		if (r > 0)
			n += (size_t)r;
	} while ((r > 0 && n < sizeof(raw)) || (r < 0 && errno == EINTR));
	rc = r < 0 ? -errno : 0;
	if (rc != 0)
		snprintf(why, whylen, "cannot be read: %s", strerror(-rc));
	close(fd);
	if (rc == 0)
		rc = parse_hex(raw, n, key, len, why, whylen);
	explicit_bzero(raw, sizeof(raw));
	if (rc != 0)
		explicit_bzero(key, len);
	return rc;
}
