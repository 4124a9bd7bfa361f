/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * The flight recorder. Each worker keeps its last dropped packets in a
 * ring of its own (one writer; readers use each entry's sequence
 * number). A dump writes them as pcapng: rte_pcapng for the section
 * header and the interface blocks, and the enhanced packet blocks here,
 * since DPDK 22.11's rte_pcapng_copy() cannot carry a per-packet comment
 * (opt_comment) and the comment is the point: why the packet was
 * dropped.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_pcapng.h>
#include <rte_telemetry.h>

#include "meshgate.h"
#include "recorder.h"

struct rec_entry {
	uint32_t seq; /* odd while written */
	uint16_t caplen;
	uint16_t port;
	uint32_t len; /* the packet's whole length */
	uint8_t why;
	struct mg_recorder_ctx ctx;
	uint64_t tsc;
	uint64_t serial; /* r->written when added: orders one burst's */
	uint8_t data[MG_RECORDER_SNAP];
};

struct mg_recorder {
	uint64_t written; /* entries ever added; the worker's alone,
			   * stored atomically (a dump reads it) */
	uint32_t n;
	unsigned int lcore;
	struct rec_entry e[];
};

struct mg_recorder *
mg_recorder_create(uint32_t n, unsigned int lcore, int socket)
{
	struct mg_recorder *r;

	r = rte_zmalloc_socket("mg_recorder",
			       sizeof(*r) + (size_t)n * sizeof(r->e[0]),
			       RTE_CACHE_LINE_SIZE, socket);
	if (r == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	r->n = n;
	r->lcore = lcore;
	return r;
}

size_t
mg_recorder_memsize(uint32_t n)
{
	return n == 0 ? 0
		      : sizeof(struct mg_recorder) +
				(size_t)n * sizeof(struct rec_entry);
}

void
mg_recorder_free(struct mg_recorder *r)
{
	rte_free(r);
}

void
mg_recorder_add(struct mg_recorder *r, const struct rte_mbuf *m, uint8_t why,
		const struct mg_recorder_ctx *c, uint64_t tsc)
{
	struct rec_entry *e = &r->e[r->written % r->n];
	uint32_t seq = e->seq;
	const void *p;

	__atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	e->len = rte_pktmbuf_pkt_len(m);
	e->caplen = (uint16_t)RTE_MIN(e->len, (uint32_t)MG_RECORDER_SNAP);
	e->port = m->port;
	e->why = why;
	e->tsc = tsc;
	e->serial = r->written;
	if (c != NULL && c->valid)
		e->ctx = *c;
	else
		e->ctx.valid = 0;
	p = rte_pktmbuf_read(m, 0, e->caplen, e->data);
	if (p != NULL && p != e->data)
		memcpy(e->data, p, e->caplen);
	__atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
	/* take() reads it meanwhile */
	__atomic_store_n(&r->written, r->written + 1, __ATOMIC_RELAXED);
}

/* ---- pcapng */

#define EPB_TYPE    6
#define OPT_COMMENT 1

static size_t
pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* One enhanced packet block with a comment, written whole. */
static int
write_epb(int fd, uint32_t ifid, uint64_t ns, const struct rec_entry *e,
	  const char *comment)
{
	uint8_t buf[64 + MG_RECORDER_SNAP + 256];
	size_t clen = strlen(comment), off = 0, total;
	uint32_t v;
	uint16_t h;

	clen = RTE_MIN(clen, (size_t)255);
	total = 28 + pad4(e->caplen) + 4 + pad4(clen) + 4 + 4;
	memset(buf, 0, total);
#define PUT32(x) (v = (x), memcpy(buf + off, &v, 4), off += 4)
#define PUT16(x) (h = (x), memcpy(buf + off, &h, 2), off += 2)
	PUT32(EPB_TYPE);
	PUT32((uint32_t)total);
	PUT32(ifid);
	PUT32((uint32_t)(ns >> 32));
	PUT32((uint32_t)ns);
	PUT32(e->caplen);
	PUT32(e->len);
	memcpy(buf + off, e->data, e->caplen);
	off += pad4(e->caplen);
	PUT16(OPT_COMMENT);
	PUT16((uint16_t)clen);
	memcpy(buf + off, comment, clen);
	off += pad4(clen);
	PUT32(0); /* opt_endofopt */
	PUT32((uint32_t)total);
#undef PUT32
#undef PUT16
	return write(fd, buf, total) == (ssize_t)total ? 0 : -EIO;
}

/* "identity=NAME": names of the ids, whatever was reloaded since. */
static void
comment_of(const struct rec_entry *e, const struct mg_ruleset *rs,
	   unsigned int lcore, char *buf, size_t len)
{
	const struct mg_recorder_ctx *c = &e->ctx;
	char id[48] = "", svc[48] = "", rule[48] = "";
	char name[MG_CONF_NAME_LEN];
	int n;

	if (c->valid) {
		mg_ruleset_id_name(MG_RULESET_ID_IDENTITY, c->identity, name,
				   sizeof(name));
		snprintf(id, sizeof(id), " identity=%s", name);
		if (c->service != MG_RULESET_NONE) {
			mg_ruleset_id_name(MG_RULESET_ID_SERVICE, c->service,
					   name, sizeof(name));
			snprintf(svc, sizeof(svc), " service=%s", name);
		}
		if (c->rule != UINT32_MAX && !c->rule_is_slot) {
			mg_ruleset_id_name(MG_RULESET_ID_RULE, c->rule, name,
					   sizeof(name));
			snprintf(rule, sizeof(rule), " rule=%s", name);
		} else if (c->rule != UINT32_MAX && rs != NULL) {
			snprintf(rule, sizeof(rule), " rule=%s",
				 mg_ruleset_rule_name_of_slot(rs, c->rule));
		}
	}
	n = snprintf(buf, len, "reason=%s%s%s%s lcore=%u",
		     mg_drop_reason_name(e->why), rule, id, svc, lcore);
	if (n < 0 || (size_t)n >= len)
		buf[len - 1] = '\0';
}

struct taken {
	struct rec_entry e;
	unsigned int lcore;
};

static int
by_tsc(const void *a, const void *b)
{
	const struct taken *x = a, *y = b;

	if (x->e.tsc != y->e.tsc)
		return x->e.tsc < y->e.tsc ? -1 : 1;
	if (x->lcore != y->lcore)
		return x->lcore < y->lcore ? -1 : 1;
	return x->e.serial < y->e.serial ? -1 : x->e.serial > y->e.serial;
}

/* Copy ring @p r's entries that were not being rewritten. */
static unsigned int
take(const struct mg_recorder *r, struct taken *out)
{
	uint64_t w = __atomic_load_n(&r->written, __ATOMIC_ACQUIRE);
	unsigned int i, n = 0, k = (unsigned int)RTE_MIN(w, (uint64_t)r->n);
	const struct rec_entry *e;
	uint32_t s1, s2;

	for (i = 0; i < k; i++) {
		e = &r->e[i];
		s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		if (s1 == 0 || (s1 & 1))
			continue;
		memcpy(&out[n].e, e, sizeof(*e));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
		if (s1 != s2)
			continue;
		out[n++].lcore = r->lcore;
	}
	return n;
}

int
mg_recorder_dump(struct mg_recorder *const *rings, unsigned int n,
		 const struct mg_ruleset *rs, const char *dir, char *path,
		 size_t len, unsigned int *count)
{
	static unsigned int dumps; /* the control plane's alone */
	uint64_t tsc0 = rte_rdtsc(), hz = rte_get_tsc_hz(), ns0, ns;
	unsigned int i, total = 0, got = 0;
	struct taken *all;
	struct timespec now;
	char comment[256];
	rte_pcapng_t *pc;
	int fd, rc = 0;

	*count = 0;
	clock_gettime(CLOCK_REALTIME, &now);
	ns0 = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	snprintf(path, len, "%s/meshgate-drops-%d-%lld-%u.pcapng", dir,
		 (int)getpid(), (long long)now.tv_sec, ++dumps);
	for (i = 0; i < n; i++)
		if (rings[i] != NULL)
			total += rings[i]->n;
	all = malloc(RTE_MAX(total, 1u) * sizeof(*all));
	if (all == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (rings[i] != NULL)
			got += take(rings[i], all + got);
	qsort(all, got, sizeof(*all), by_tsc);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		free(all);
		return rc;
	}
	pc = rte_pcapng_fdopen(fd, NULL, NULL, "meshgate",
			       "meshgate flight recorder: dropped and "
			       "denied packets");
	if (pc == NULL) {
		close(fd);
		unlink(path);
		free(all);
		return -EIO;
	}
	for (i = 0; i < got && rc == 0; i++) {
		/* TSC to wall clock, from one reading of both now */
		ns = ns0 -
		     (tsc0 - RTE_MIN(all[i].e.tsc, tsc0)) * 1000000000ull / hz;
		comment_of(&all[i].e, rs, all[i].lcore, comment,
			   sizeof(comment));
		rc = write_epb(fd, all[i].e.port, ns, &all[i].e, comment);
	}
	rte_pcapng_close(pc); /* closes fd */
	free(all);
	if (rc != 0) {
		unlink(path);
		return rc;
	}
	*count = got;
	return 0;
}

/* ---- requests: SIGUSR2 and /meshgate/recorder */

static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t requested, completed;
static int last_rc = -ENODATA;
static unsigned int last_count;
static char last_path[PATH_MAX];

void
mg_recorder_request(void)
{
	/* async-signal-safe: one atomic add, no lock */
	__atomic_fetch_add(&requested, 1, __ATOMIC_RELEASE);
}

bool
mg_recorder_pending(void)
{
	return __atomic_load_n(&requested, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&completed, __ATOMIC_ACQUIRE);
}

void
mg_recorder_done(int rc, const char *path, unsigned int count)
{
	uint64_t upto = __atomic_load_n(&requested, __ATOMIC_ACQUIRE);

	pthread_mutex_lock(&req_lock);
	last_rc = rc;
	last_count = count;
	snprintf(last_path, sizeof(last_path), "%s", path);
	pthread_mutex_unlock(&req_lock);
	__atomic_store_n(&completed, upto, __ATOMIC_RELEASE);
}

#define DUMP_WAIT_MS 5000

static int
handle_recorder(const char *cmd __rte_unused, const char *params,
		struct rte_tel_data *d)
{
	uint64_t ticket, deadline;
	char buf[RTE_TEL_MAX_STRING_LEN];

	if (params != NULL && params[0] != '\0')
		return -EINVAL;
	ticket = __atomic_add_fetch(&requested, 1, __ATOMIC_ACQ_REL);
	deadline = rte_get_timer_cycles() +
		   rte_get_timer_hz() * DUMP_WAIT_MS / 1000;
	while (__atomic_load_n(&completed, __ATOMIC_ACQUIRE) < ticket) {
		if (rte_get_timer_cycles() > deadline)
			return -ETIMEDOUT;
		rte_delay_us_sleep(1000);
	}
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&req_lock);
	if (last_rc == 0) {
		if (snprintf(buf, sizeof(buf), "%s", last_path) >=
		    (int)sizeof(buf))
			buf[sizeof(buf) - 1] = '\0';
		rte_tel_data_add_dict_string(d, "file", buf);
		rte_tel_data_add_dict_u64(d, "packets", last_count);
	} else {
		rte_tel_data_add_dict_string(d, "error", strerror(-last_rc));
	}
	pthread_mutex_unlock(&req_lock);
	return 0;
}

/* help strings: fewer than RTE_TEL_MAX_STRING_LEN characters */
RTE_INIT(recorder_telemetry)
{
	rte_telemetry_register_cmd(
		"/meshgate/recorder", handle_recorder,
		"Write the flight recorder (dropped and denied packets) as "
		"pcapng: file, packets. No parameters.");
}
