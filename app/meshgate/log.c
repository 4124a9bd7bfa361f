/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The log stream DPDK's rte_log() (and so meshgate's) writes to: stderr,
 * each line stamped with RFC 3339 local time and milliseconds; or, when
 * stderr is the systemd journal, each line with the "<N>" syslog
 * priority prefix journald turns into PRIORITY= and no timestamp, since
 * the journal stamps every line itself (as systemd services do).
 */

#define _GNU_SOURCE /* fopencookie */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_log.h>

#include "startup.h"

/* Longest message written whole; longer ones are cut. */
#define LOG_MAX 4096

struct log_sink {
	bool journal;	 /* stderr is the journal */
	bool line_start; /* the next byte begins a line */
};

static struct log_sink sink = { false, true };

/* Whether stderr is the journal stream systemd named in JOURNAL_STREAM
 * ("device:inode"): a service's stderr may be redirected elsewhere. */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

/* "2026-03-01T12:00:00.123+01:00 " */
static size_t
stamp(char *buf, size_t len)
{
	struct timespec ts;
	char zone[8];
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (strftime(zone, sizeof(zone), "%z", &tm) != 5)
		snprintf(zone, sizeof(zone), "+0000");
	/* RFC 3339 wants the offset as +hh:mm, strftime gives +hhmm */
	n += (size_t)snprintf(buf + n, len - n, ".%03ld%.3s:%.2s ",
			      ts.tv_nsec / 1000000, zone, zone + 3);
	return n < len ? n : len - 1;
}

/*
 * One message of rte_vlog(): the stream is unbuffered, so stdio hands
 * each formatted message over whole, under the stream's lock, from the
 * thread that logs it (whose level rte_log_cur_msg_loglevel() knows).
 * Written with one write(2), so lines of different threads never mix.
 */
static ssize_t
sink_write(void *cookie, const char *buf, size_t size)
{
	struct log_sink *s = cookie;
	char out[LOG_MAX + 256];
	size_t n = 0, i;
	int level;

	/* the stream's lock, taken by stdio (glibc's, which TSan does not
	 * see), orders the threads' messages and their line_start */
	MG_TSAN_ACQUIRE(s);

	for (i = 0; i < size && n < LOG_MAX; i++) {
		if (s->line_start) {
			if (s->journal) {
				level = rte_log_cur_msg_loglevel();
				/* EMERG 1 .. DEBUG 8: syslog's 0 .. 7 */
				if (level < 1 || level > 8)
					level = RTE_LOG_INFO;
				n += (size_t)snprintf(out + n, sizeof(out) - n,
						      "<%d>", level - 1);
			} else {
				n += stamp(out + n, sizeof(out) - n);
			}
			s->line_start = false;
		}
		out[n++] = buf[i];
		if (buf[i] == '\n')
			s->line_start = true;
	}
	MG_TSAN_RELEASE(s);
	if (write(STDERR_FILENO, out, n) < 0)
		return -1;
	return (ssize_t)size;
}

int
mg_log_setup(void)
{
	cookie_io_functions_t io = { .write = sink_write };
	FILE *f;

	sink.journal = stderr_is_journal();
	f = fopencookie(&sink, "w", io);
	if (f == NULL)
		return -1;
	setvbuf(f, NULL, _IONBF, 0);
	return rte_openlog_stream(f);
}
