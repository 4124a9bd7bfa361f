/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The management endpoint: a libmicrohttpd daemon on the control plane
 * that renders /metrics on demand (gzip-compressed when asked) and
 * answers /healthz and /ready from the gateway's checks. */

#define _GNU_SOURCE /* pthread_{get,set}affinity_np */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <rte_lcore.h>
#include <zlib.h>

#include "meshgate.h"
#include "mg_base.h"
#include "prometheus.h"

#define PROM_PATH	  "/metrics"
#define HEALTH_PATH	  "/healthz"
#define READY_PATH	  "/ready"
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Scrapes are small and frequent: spend little CPU on them. */
#define PROM_GZIP_LEVEL Z_BEST_SPEED
/* A scraper or two and an operator's curl; more is someone probing. */
#define PROM_MAX_CONNECTIONS 16
/* Longer than a usual scrape interval keeps Prometheus' connection. */
#define PROM_IDLE_TIMEOUT_S 30
/* At most this many libmicrohttpd messages per window reach the log. */
#define PROM_LOG_BURST	  10
#define PROM_LOG_WINDOW_S 60
#define PROM_LISTEN_MAX	  80
#define PROM_MSG_MAX	  256

struct mg_prom {
	struct MHD_Daemon *daemon;
	struct mg_prom_checks checks;
	char listen[PROM_LISTEN_MAX];
	/* set while MHD_start_daemon() runs: its messages explain a failure */
	bool starting;
	char start_err[PROM_MSG_MAX];
	/* log rate limit, touched by the daemon thread only after start */
	time_t log_window;
	unsigned int log_count;
	unsigned int log_suppressed;
};

/* Bodies of the answers that carry no metrics. */
static const char not_found[] =
	"not found: metrics are at " PROM_PATH ", health at " HEALTH_PATH
	" and " READY_PATH "\n";
static const char not_allowed[] = "method not allowed: use GET\n";
static const char failed[] = "metrics unavailable, see the gateway log\n";

/*
 * Whether one more message may reach the log: clients decide how often
 * things go wrong here, so at most PROM_LOG_BURST per window. Called on
 * the daemon thread only.
 */
static bool
log_allowed(struct mg_prom *prom)
{
	time_t now = time(NULL);

	if (now - prom->log_window >= PROM_LOG_WINDOW_S) {
		if (prom->log_suppressed > 0)
			MG_LOG(WARNING,
			       "prometheus %s: %u more messages suppressed",
			       prom->listen, prom->log_suppressed);
		prom->log_window = now;
		prom->log_count = 0;
		prom->log_suppressed = 0;
	}
	if (prom->log_count >= PROM_LOG_BURST) {
		prom->log_suppressed++;
		return false;
	}
	prom->log_count++;
	return true;
}

/* libmicrohttpd's messages: while starting, the reason for the caller;
 * afterwards, into the app's log. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct mg_prom *prom = cls;
	char msg[PROM_MSG_MAX];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (__atomic_load_n(&prom->starting, __ATOMIC_ACQUIRE))
		snprintf(prom->start_err, sizeof(prom->start_err), "%s", msg);
	else if (log_allowed(prom))
		MG_LOG(WARNING, "prometheus %s: %s", prom->listen, msg);
}

/* Does the value of q= in [p, end) say "not acceptable"? */
static bool
q_is_zero(const char *p, const char *end)
{
	while (p < end) {
		const char *param = p;
		const char *next = memchr(p, ';', (size_t)(end - p));

		if (next == NULL)
			next = end;
		param += strspn(param, " \t");
		if (next - param >= 2 && (param[0] == 'q' || param[0] == 'Q') &&
		    param[1] == '=') {
			const char *v = param + 2;

			if (v >= next || *v != '0')
				return false;
			v++;
			if (v < next && *v == '.')
				v++;
			while (v < next && *v == '0')
				v++;
			while (v < next && (*v == ' ' || *v == '\t'))
				v++;
			return v == next;
		}
		p = next + 1;
	}
	return false;
}

/*
 * Whether an Accept-Encoding value admits gzip (RFC 9110 12.5.3): an
 * explicit gzip or x-gzip entry decides; otherwise "*" does; q=0 refuses.
 */
static bool
accepts_gzip(const char *value)
{
	int gzip = -1, any = -1;
	const char *p = value;

	while (*p != '\0') {
		const char *tok, *end;
		size_t n;
		bool ok;

		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		tok = p;
		n = strcspn(tok, " \t;,");
		end = tok + strcspn(tok, ",");
		ok = !q_is_zero(tok + n, end);
		if ((n == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
		    (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
			gzip = ok;
		else if (n == 1 && *tok == '*')
			any = ok;
		p = end;
	}
	return gzip >= 0 ? gzip == 1 : any == 1;
}

/* A gzip member of @p in, malloc'ed; NULL when zlib fails. */
static char *
gzip_buffer(const char *in, size_t len, size_t *out_len)
{
	z_stream zs;
	char *out;
	uLong bound;
	int rc;

	if (len > UINT_MAX)
		return NULL;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: a gzip header and trailer, not zlib's */
	if (deflateInit2(&zs, PROM_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	bound = deflateBound(&zs, len);
	out = malloc(bound);
	if (out == NULL) {
		deflateEnd(&zs);
		return NULL;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)bound;
	rc = deflate(&zs, Z_FINISH);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

static enum MHD_Result
reply_static(struct MHD_Connection *conn, unsigned int status, const char *body,
	     size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
					       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					"GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
reply_metrics(struct mg_prom *prom, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	const char *ae;
	enum MHD_Result ret;
	bool gzipped = false;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = mg_telemetry_prometheus(&buf, &len);
	if (rc >= 0 && buf == NULL)
		rc = -EIO;
	if (rc < 0) {
		free(buf);
		if (log_allowed(prom))
			MG_LOG(ERR,
			       "prometheus %s: rendering metrics failed: %s",
			       prom->listen, strerror(-rc));
		return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    failed, sizeof(failed) - 1);
	}
	ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (ae != NULL && accepts_gzip(ae)) {
		size_t zlen = 0;
		char *z = gzip_buffer(buf, len, &zlen);

		if (z != NULL) {
			free(buf);
			buf = z;
			len = zlen;
			gzipped = true;
		} else {
			/* still an answer: the body goes out uncompressed */
			if (log_allowed(prom))
				MG_LOG(WARNING,
				       "prometheus %s: gzip failed, sent plain",
				       prom->listen);
		}
	}
	resp = MHD_create_response_from_buffer_with_free_callback(len, buf,
								  free);
	if (resp == NULL) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				PROM_CONTENT_TYPE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
				MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (gzipped)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
					"gzip");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* /healthz or /ready: 200 "ok", or 503 and the reason. */
static enum MHD_Result
reply_check(struct mg_prom *prom, struct MHD_Connection *conn,
	    bool (*check)(void *arg, char *why, size_t len))
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char why[240] = "no check configured";
	bool ok = false;
	size_t len;
	char *body;

	if (check != NULL)
		ok = check(prom->checks.arg, why, sizeof(why));
	body = malloc(sizeof(why) + 2);
	if (body == NULL)
		return MHD_NO;
	len = (size_t)snprintf(body, sizeof(why) + 2, "%s\n", ok ? "ok" : why);
	resp = MHD_create_response_from_buffer_with_free_callback(len, body,
								  free);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	/* a probe wants the state now, never a cached one */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	ret = MHD_queue_response(
		conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * One request; libmicrohttpd calls this once the headers are in, then
 * with any body, then once more with none. Answering on the first call
 * would cost the keep-alive connection Prometheus reuses, so GET waits
 * for the last one (dropping a body nobody should send); any other
 * method is refused at once and its connection closed.
 */
static enum MHD_Result
handle_request(void *cls, struct MHD_Connection *conn, const char *url,
	       const char *method, const char *version __rte_unused,
	       const char *upload_data __rte_unused, size_t *upload_size,
	       void **req_cls)
{
	static int headers_seen;
	struct mg_prom *prom = cls;

	if (*req_cls == NULL) {
		*req_cls = &headers_seen;
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					    not_allowed,
					    sizeof(not_allowed) - 1);
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	/* libmicrohttpd has already cut the query string off the path */
	if (strcmp(url, PROM_PATH) == 0)
		return reply_metrics(prom, conn);
	if (strcmp(url, HEALTH_PATH) == 0)
		return reply_check(prom, conn, prom->checks.healthy);
	if (strcmp(url, READY_PATH) == 0)
		return reply_check(prom, conn, prom->checks.ready);
	return reply_static(conn, MHD_HTTP_NOT_FOUND, not_found,
			    sizeof(not_found) - 1);
}

/* The management address as a socket address; the listen text for
 * logs. */
static void
sock_addr(const struct mg_addr *addr, uint16_t port,
	  struct sockaddr_storage *ss, char *text, size_t len)
{
	char a[48];

	memset(ss, 0, sizeof(*ss));
	mg_addr_format(addr, a, sizeof(a));
	if (addr->family == 6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr->bytes, 16);
		snprintf(text, len, "[%s]:%u", a, port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr->bytes, 4);
		snprintf(text, len, "%s:%u", a, port);
	}
}

/* A control thread reports the CPUs EAL gives such threads: those no
 * lcore uses (or the main lcore's when every CPU has one). */
static void *
report_affinity(void *arg)
{
	pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t), arg);
	return NULL;
}

static bool
control_cpus(cpu_set_t *set)
{
	pthread_t t;

	CPU_ZERO(set);
	if (rte_ctrl_thread_create(&t, "mg-affinity", NULL, report_affinity,
				   set) != 0)
		return false;
	pthread_join(t, NULL);
	return CPU_COUNT(set) > 0;
}

struct mg_prom *
mg_prom_start(const struct mg_addr *addr, uint16_t port,
	      const struct mg_prom_checks *checks, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_SOCK_ADDR, 0, &ss },
		{ MHD_OPTION_CONNECTION_LIMIT, PROM_MAX_CONNECTIONS, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, PROM_IDLE_TIMEOUT_S, NULL },
		/* hostile clients get 400, not a lenient guess */
		{ MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	bool v6 = addr->family == 6;
	sigset_t block, old;
	cpu_set_t saved, cpus;
	bool have_cpus;
	struct mg_prom *prom;
	unsigned int flags;

	prom = calloc(1, sizeof(*prom));
	if (prom == NULL) {
		mg_set_err(err, errlen, "prometheus: out of memory");
		return NULL;
	}
	if (checks != NULL)
		prom->checks = *checks;
	sock_addr(addr, port, &ss, prom->listen, sizeof(prom->listen));
	if (v6 && MHD_is_feature_supported(MHD_FEATURE_IPv6) != MHD_YES) {
		mg_set_err(err, errlen,
			   "prometheus listen %s: libmicrohttpd lacks IPv6",
			   prom->listen);
		free(prom);
		return NULL;
	}

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
		MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	/*
	 * The daemon's thread inherits this mask: the gateway's signals
	 * (stop, reload) and SIGPIPE stay with the control plane.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	/* and this CPU set: the control threads', never a worker's (EAL
	 * pins the main thread to its lcore, which forwards when it is the
	 * only one: a scrape must not preempt it) */
	have_cpus = pthread_getaffinity_np(pthread_self(), sizeof(saved),
					   &saved) == 0 &&
		    control_cpus(&cpus) &&
		    pthread_setaffinity_np(pthread_self(), sizeof(cpus),
					   &cpus) == 0;
	__atomic_store_n(&prom->starting, true, __ATOMIC_RELEASE);
	/* the port argument is ignored: MHD_OPTION_SOCK_ADDR has it */
	prom->daemon =
		MHD_start_daemon(flags, port, NULL, NULL, handle_request, prom,
				 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, prom,
				 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	__atomic_store_n(&prom->starting, false, __ATOMIC_RELEASE);
	if (have_cpus)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (prom->daemon == NULL) {
		mg_set_err(err, errlen, "prometheus: cannot listen on %s: %s",
			   prom->listen,
			   prom->start_err[0] != '\0'
				   ? prom->start_err
				   : "libmicrohttpd refused to start");
		free(prom);
		return NULL;
	}
	MG_LOG(INFO, "prometheus: serving http://%s%s (and %s, %s)",
	       prom->listen, PROM_PATH, HEALTH_PATH, READY_PATH);
	return prom;
}

void
mg_prom_stop(struct mg_prom *prom)
{
	if (prom == NULL)
		return;
	MHD_stop_daemon(prom->daemon);
	/* the daemon thread has been joined: its counters are ours now */
	if (prom->log_suppressed > 0)
		MG_LOG(WARNING, "prometheus %s: %u more messages suppressed",
		       prom->listen, prom->log_suppressed);
	free(prom);
}
