/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* meshgate entry point: options, staged start-up and teardown, and the
 * control plane that runs on the main lcore. */

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pdump.h>
#include <systemd/sd-daemon.h>

#include "meshgate.h"
#include "prometheus.h"
#include "denylog.h"
#include "recorder.h"
#include "rollback.h"
#include "shadow.h"
#include "startup.h"
#include "mg_conf.h"
#include "mg_pkt.h"
#include "mg_telemetry.h"

#define MG_VERSION "0.1.0"
#define EXIT_USAGE 2
#define MIB	   (1024.0 * 1024.0)
/* How often the control tick looks at the counters: each wake-up of an
 * idle box costs CPU, 50 a second about 0.1% of a core. */
#define TICK_US 20000
/* Ticks between two splits of the limits' rates among workers (100 ms). */
#define REBALANCE_TICKS 5
/* /healthz: how long every worker has to show a new poll round. An idle
 * worker makes millions a second, a busy one one per burst. */
#define HEALTH_WINDOW_MS 250
/* What EAL allocates for itself (memzones, telemetry, drivers) besides
 * the estimate, for the -m or hugepages --check-config suggests. */
#define EAL_OWN_BYTES (8u << 20)

struct options {
	const char *conf_path;
	const char *stats_json;
	const char *shadow;	   /* --shadow: candidate config */
	const char *shadow_report; /* --shadow-report: JSON at exit */
	bool check_config;
	uint64_t exit_on_idle_ms; /* 0: run until signalled */
};

/* Everything the gateway holds between start-up and teardown. */
struct gateway {
	struct mg_conf *conf;
	struct rte_mempool *pool;
	struct mg_port ports[MG_CONF_MAX_PORTS];
	struct mg_worker *workers[RTE_MAX_LCORE];
	unsigned int lcore[RTE_MAX_LCORE]; /* worker i runs on lcore[i] */
	uint16_t queue[RTE_MAX_LCORE];	   /* ... and polls queue[i] */
	unsigned int n_workers;
	uint16_t n_queues;  /* per port */
	bool main_forwards; /* single-core mode */
	uint64_t start_tsc;
	uint64_t stop_tsc;
	struct mg_dataplane dp;
	struct mg_prom *prom;		    /* /metrics endpoint, or NULL */
	struct mg_telemetry_config history; /* loads and reloads */
	bool running; /* workers launched and not told to quit */
	/* control tick state */
	uint64_t next_tick_tsc;
	unsigned int ticks;
	uint64_t last_rx;
	uint64_t last_rx_change_tsc;
	uint64_t idle_limit_tsc;
	/* the "overload" object of --stats-json, taken before the data
	 * plane is freed */
	char *overload_json;
	/* systemd watchdog (0: not asked for): fed every interval while
	 * every worker's poll counter moved since the last feed */
	uint64_t wd_interval_tsc;
	uint64_t wd_next_tsc;
	uint64_t wd_polls[RTE_MAX_LCORE];
	bool wd_starved; /* logged once per stall */
	/* a reload runs on a thread of its own, so that the control tick
	 * (the watchdog above all) goes on while it compiles */
	pthread_t reloader;
	bool reloading;		/* control tick only */
	bool reload_done;	/* set by the reload thread */
	const char *shadow_cli; /* --shadow: wins over the config's */
	/* the config in force (conf until the first reload), which a
	 * canary rollback edits and publishes again */
	struct mg_conf *live;
	struct mg_rollback *rollback;
	uint64_t next_rollback_tsc;
};

static bool quit;
static bool reload_requested;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		mg_idle_test_stall_arm();
	else if (sig == SIGHUP)
		__atomic_store_n(&reload_requested, true, __ATOMIC_RELAXED);
	else if (sig == SIGUSR2)
		mg_recorder_request();
	else
		__atomic_store_n(&quit, true, __ATOMIC_RELAXED);
}

static void
usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [EAL options] -- -f FILE [options]\n"
		"  -f, --config FILE       configuration file (libconfig)\n"
		"      --check-config      validate FILE and exit: 0 when "
		"valid\n"
		"      --exit-on-idle MS   stop after MS ms without a packet\n"
		"      --stats-json FILE   write final counters as JSON at "
		"exit\n"
		"      --shadow FILE       evaluate candidate config FILE "
		"beside -f, never\n"
		"                          enforced (overrides the config's "
		"'shadow')\n"
		"      --shadow-report FILE  write every connection and "
		"request the\n"
		"                          candidate decides differently, as "
		"JSON at exit\n"
		"      --list-drop-reasons  print every drop reason, one "
		"a line, and exit\n"
		"  -h, --help              show this help\n"
		"  -v, --version           show the version\n",
		prog);
}

/* --list-drop-reasons: the names telemetry exports (/meshgate/drops,
 * meshgate_drops_total), in its order, from the same table (every
 * stage's, added by mg_drops_init()). */
static void
list_drop_reasons(void)
{
	unsigned int r;

	for (r = 1; r < mg_drop_reason_end(); r++)
		printf("%s\n", mg_drop_reason_name(r));
}

/* Returns 0 to go on, 1 when done (help, version or drop reasons shown),
 * or EXIT_USAGE. */
static int
parse_options(int argc, char **argv, const char *prog, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'c' },
		{ "exit-on-idle", required_argument, NULL, 'i' },
		{ "stats-json", required_argument, NULL, 's' },
		{ "shadow", required_argument, NULL, 'S' },
		{ "shadow-report", required_argument, NULL, 'R' },
		{ "list-drop-reasons", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:hv", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->conf_path = optarg; break;
		case 'c': o->check_config = true; break;
		case 'i':
			errno = 0;
			o->exit_on_idle_ms = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || *optarg == '-' ||
			    o->exit_on_idle_ms == 0 ||
			    o->exit_on_idle_ms > 86400000) {
				fprintf(stderr,
					"%s: --exit-on-idle needs a "
					"number of milliseconds (1..86400000), "
					"not '%s'\n",
					prog, optarg);
				return EXIT_USAGE;
			}
			break;
		case 's': o->stats_json = optarg; break;
		case 'S': o->shadow = optarg; break;
		case 'R': o->shadow_report = optarg; break;
		case 'h': usage(stdout, prog); return 1;
		case 'v': printf("meshgate %s\n", MG_VERSION); return 1;
		case 'D': list_drop_reasons(); return 1;
		case ':':
			fprintf(stderr, "%s: option '%s' needs a value\n", prog,
				argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "%s: unknown option '%s'\n", prog,
				argv[optind - 1]);
			usage(stderr, prog);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
			argv[optind]);
		return EXIT_USAGE;
	}
	if (o->conf_path == NULL) {
		fprintf(stderr, "%s: no configuration: give -f FILE\n", prog);
		usage(stderr, prog);
		return EXIT_USAGE;
	}
	return 0;
}

/* Where the profiles are unless the config names a folder: installed
 * beside the binary (bindir/../share/meshgate/drivers-conf, so a DESTDIR
 * or a moved prefix works), else the source tree's (the build tree's
 * binary, tests). */
static const char *
profiles_dir(void)
{
	static char dir[PATH_MAX];
	char exe[PATH_MAX], rel[PATH_MAX + 64];
	ssize_t n;

	if (dir[0] != '\0')
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(rel, sizeof(rel), "%s/%s", dirname(exe),
			 MG_DRIVERS_CONF_REL);
		/* the real path: errors name the file an operator edits */
		if (realpath(rel, dir) != NULL && access(dir, R_OK | X_OK) == 0)
			return dir;
	}
	snprintf(dir, sizeof(dir), "%s", MG_DRIVERS_CONF_DIR);
	return dir;
}

/* Loads @p path; its errors go to stderr as FILE:LINE: lines, through
 * the log (timestamped) when @p log, as they are for a running gateway. */
static struct mg_conf *
load_conf(const char *path, bool log)
{
	struct mg_conf_errors *errs = malloc(sizeof(*errs));
	struct mg_conf *conf;
	unsigned int i;

	if (errs == NULL) {
		fprintf(stderr, "meshgate: out of memory\n");
		return NULL;
	}
	conf = mg_conf_load(path, profiles_dir(), errs);
	for (i = 0; i < errs->n && i < MG_CONF_MAX_ERRORS; i++) {
		if (log)
			rte_log(RTE_LOG_ERR, mg_logtype_app, "%s\n",
				errs->msg[i]);
		else
			fprintf(stderr, "%s\n", errs->msg[i]);
	}
	if (errs->n > MG_CONF_MAX_ERRORS)
		fprintf(stderr, "%s: %u more errors not shown\n", path,
			errs->n - MG_CONF_MAX_ERRORS);
	free(errs);
	/* valid, but not working as written: start-up, --check-config
	 * and reloads all say so */
	for (i = 0;
	     conf != NULL && i < conf->warnings.n && i < MG_CONF_MAX_ERRORS;
	     i++)
		fprintf(stderr, "%s\n", conf->warnings.msg[i]);
	if (conf != NULL && conf->warnings.n > MG_CONF_MAX_ERRORS)
		fprintf(stderr, "%s: %u more warnings not shown\n", path,
			conf->warnings.n - MG_CONF_MAX_ERRORS);
	return conf;
}

/* Worker lcores and their queues: the config's list, or every EAL worker
 * lcore with queue = its rank. No worker lcore: the main lcore forwards. */
static int
plan_workers(struct gateway *gw)
{
	const struct mg_conf *conf = gw->conf;
	unsigned int lcore, i, n = 0;

	if (conf->n_lcores > 0) {
		for (i = 0; i < conf->n_lcores; i++) {
			lcore = conf->lcores[i].lcore;
			if (!rte_lcore_is_enabled(lcore) ||
			    lcore == rte_get_main_lcore()) {
				MG_LOG(ERR,
				       "%s: lcore %u is not a worker lcore "
				       "of this process (see EAL -l)",
				       conf->path, lcore);
				return -EINVAL;
			}
			gw->lcore[n] = lcore;
			gw->queue[n++] = conf->lcores[i].queue;
		}
	} else {
		RTE_LCORE_FOREACH_WORKER(lcore)
		{
			gw->lcore[n] = lcore;
			gw->queue[n] = (uint16_t)n;
			n++;
		}
	}
	if (n == 0) {
		gw->main_forwards = true;
		gw->lcore[n] = rte_get_main_lcore();
		gw->queue[n++] = 0;
	}
	gw->n_workers = n;
	for (i = 0; i < n; i++)
		if (gw->queue[i] >= gw->n_queues)
			gw->n_queues = (uint16_t)(gw->queue[i] + 1);
	return 0;
}

static int
create_workers(struct gateway *gw)
{
	enum mg_lcore_role role =
		gw->main_forwards ? MG_LCORE_MAIN_WORKER : MG_LCORE_WORKER;
	unsigned int i;

	for (i = 0; i < gw->n_workers; i++) {
		gw->workers[i] = mg_worker_create(gw->lcore[i], i, gw->queue[i],
						  gw->conf, gw->ports, &gw->dp,
						  role, &quit);
		if (gw->workers[i] == NULL) {
			MG_LOG(ERR, "lcore %u: cannot create worker: %s",
			       gw->lcore[i], rte_strerror(rte_errno));
			return -rte_errno;
		}
		mg_idle_prepare(gw->workers[i], gw->conf);
	}
	return 0;
}

static void
free_workers(struct gateway *gw)
{
	unsigned int i;

	for (i = 0; i < gw->n_workers; i++) {
		mg_worker_free(gw->workers[i]);
		gw->workers[i] = NULL;
	}
}

/* telemetry.naming, and the env of every caller and service, which
 * Istio's labels carry as namespaces ("unknown" when it has none). */
static int
telemetry_naming(const struct mg_conf *conf)
{
	struct mg_tel_namespace callers[MG_CONF_MAX_IDENTITIES];
	struct mg_tel_namespace services[MG_CONF_MAX_SERVICES];
	unsigned int i;

	for (i = 0; i < conf->n_identities; i++)
		callers[i] = (struct mg_tel_namespace){
			conf->identities[i].name,
			conf->identities[i].env[0] != '\0'
				? conf->identities[i].env
				: "unknown",
		};
	for (i = 0; i < conf->n_services; i++)
		services[i] = (struct mg_tel_namespace){
			conf->services[i].name,
			conf->services[i].env[0] != '\0' ? conf->services[i].env
							 : "unknown",
		};
	return mg_telemetry_set_naming(
		conf->telemetry.istio ? MG_TEL_NAMING_ISTIO
				      : MG_TEL_NAMING_MESHGATE,
		callers, conf->n_identities, services, conf->n_services);
}

/* Metric registries are sized once for the life of the process (series
 * must survive reloads); logs what the series cost per lcore. */
static int
configure_telemetry(const struct mg_conf *conf)
{
	uint32_t dests, rules;
	int rc;

	mg_mem_telemetry_slots(conf, &dests, &rules);
	rc = mg_telemetry_configure(conf->telemetry.max_label_sets, dests,
				    rules);
	return rc < 0 ? rc : telemetry_naming(conf);
}

/* Disagreements each worker keeps: a replay's report lists them all
 * (the C heap; pages are touched only as records are written), a
 * running gateway shows the last few. */
#define SHADOW_REPORT_RECORDS (1u << 18)
#define SHADOW_LIVE_RECORDS   64

/* Candidate config @p path loaded and handed to the shadow (which builds
 * its ruleset); -1 when the file or its ruleset is not valid (their
 * errors logged). */
static int
shadow_load(struct gateway *gw, const char *path, unsigned int qsbr_id)
{
	struct mg_conf *cand = load_conf(path, true);
	int rc = cand == NULL ? -1
			      : mg_shadow_set(gw->dp.shadow, cand, gw->dp.qsv,
					      qsbr_id);

	mg_conf_free(cand);
	return rc;
}

/* The candidate of --shadow, else of the config's `shadow`: loaded and
 * built beside the ruleset in force, before the workers start. Without
 * one, no shadow state is allocated (a reload that adds one waits for a
 * restart). */
static int
start_shadow(struct gateway *gw, const struct options *o)
{
	const char *path = gw->conf->shadow; /* --shadow's, if given */

	gw->shadow_cli = o->shadow;
	if (path[0] == '\0')
		return 0;
	gw->dp.shadow = mg_shadow_create(
		gw->conf->flows.max_flows, gw->n_workers,
		o->shadow_report != NULL ? SHADOW_REPORT_RECORDS
					 : SHADOW_LIVE_RECORDS,
		gw->conf->l7.max_pending, gw->conf->l7.max_request_bytes,
		gw->dp.qsv);
	if (gw->dp.shadow == NULL)
		return -1;
	if (shadow_load(gw, path, RTE_QSBR_THRID_INVALID) != 0) {
		MG_LOG(ERR, "%s: the shadow config is not valid", path);
		return -1;
	}
	MG_LOG(INFO, "%s: evaluated as a shadow of %s, not enforced", path,
	       gw->conf->path);
	mg_shadow_publish(gw->dp.shadow);
	return 0;
}

/* On reload: the candidate named now (--shadow wins) is loaded again; a
 * bad one leaves the running candidate, an empty name stops the
 * evaluation. Returns true when a setting waits for a restart. */
static bool
reload_shadow(struct gateway *gw, const struct mg_conf *conf,
	      unsigned int qsbr_id)
{
	const char *path =
		gw->shadow_cli != NULL ? gw->shadow_cli : conf->shadow;

	if (gw->dp.shadow == NULL) {
		if (path[0] != '\0')
			MG_LOG(WARNING,
			       "%s: shadow \"%s\" takes effect after a "
			       "restart (started without one)",
			       conf->path, path);
		return path[0] != '\0';
	}
	if (path[0] == '\0') {
		if (mg_shadow_path(gw->dp.shadow)[0] != '\0')
			MG_LOG(INFO, "shadow evaluation stopped");
		mg_shadow_set(gw->dp.shadow, NULL, gw->dp.qsv, qsbr_id);
		return false;
	}
	if (shadow_load(gw, path, qsbr_id) != 0)
		MG_LOG(ERR, "%s: shadow rejected; the running one stays", path);
	else
		MG_LOG(INFO, "%s: shadow reloaded", path);
	return false;
}

static uint64_t
polls_of(unsigned int lcore)
{
	struct mg_stats_sum s;

	mg_telemetry_lcore_read(lcore, &s);
	return s.busy_polls + s.idle_polls;
}

/* ---- systemd: Type=notify, and a watchdog fed on workers' progress ---- */

/* The longest an idle worker goes without a poll round is
 * idle.max_sleep_us (at most 200 ms): a watchdog interval of 250 ms or
 * more always sees a live worker's counter move. */
#define WATCHDOG_MIN_INTERVAL_MS 250

static void
watchdog_setup(struct gateway *gw)
{
	uint64_t usec = 0, ms;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	/* fed three times a watchdog period, as sd_watchdog_enabled(3)
	 * advises twice */
	ms = RTE_MAX(usec / 3000, (uint64_t)WATCHDOG_MIN_INTERVAL_MS);
	if (ms * 2 > usec / 1000)
		MG_LOG(WARNING,
		       "systemd watchdog: WatchdogSec=%" PRIu64 " ms is short "
		       "for feeds every %" PRIu64 " ms; give it 1 s or more",
		       usec / 1000, ms);
	gw->wd_interval_tsc = rte_get_timer_hz() * ms / 1000;
	MG_LOG(INFO,
	       "systemd watchdog: fed every %" PRIu64
	       " ms while every worker makes poll rounds",
	       ms);
}

static void
watchdog_tick(struct gateway *gw, uint64_t now)
{
	unsigned int i, stuck = RTE_MAX_LCORE;
	uint64_t p;

	if (gw->wd_interval_tsc == 0 || now < gw->wd_next_tsc)
		return;
	gw->wd_next_tsc = now + gw->wd_interval_tsc;
	for (i = 0; i < gw->n_workers; i++) {
		p = polls_of(gw->lcore[i]);
		if (p == gw->wd_polls[i] && stuck == RTE_MAX_LCORE)
			stuck = gw->lcore[i];
		gw->wd_polls[i] = p;
	}
	if (stuck == RTE_MAX_LCORE) {
		sd_notify(0, "WATCHDOG=1");
		gw->wd_starved = false;
	} else if (!gw->wd_starved) {
		gw->wd_starved = true;
		MG_LOG(ERR,
		       "lcore %u made no poll round in %" PRIu64
		       " ms: the systemd watchdog is not fed",
		       stuck, gw->wd_interval_tsc * 1000 / rte_get_timer_hz());
	}
}

/* /healthz: every worker completes poll rounds. Their poll counters
 * (each worker bumps one per round anyway) are the heartbeat: each must
 * move within HEALTH_WINDOW_MS of the request. Runs on the endpoint's
 * thread and only reads the counters. */
static bool
gateway_healthy(void *arg, char *why, size_t len)
{
	const struct gateway *gw = arg;
	uint64_t start[RTE_MAX_LCORE], deadline;
	bool moved[RTE_MAX_LCORE] = { false };
	unsigned int i, left = gw->n_workers, stuck = 0;

	if (!__atomic_load_n(&gw->running, __ATOMIC_ACQUIRE)) {
		snprintf(why, len,
			 "workers not running (starting or stopping)");
		return false;
	}
	for (i = 0; i < gw->n_workers; i++)
		start[i] = polls_of(gw->lcore[i]);
	deadline = rte_get_timer_cycles() +
		   rte_get_timer_hz() * HEALTH_WINDOW_MS / 1000;
	do {
		rte_delay_us_sleep(100);
		for (i = 0; i < gw->n_workers; i++)
			if (!moved[i] && polls_of(gw->lcore[i]) != start[i]) {
				moved[i] = true;
				left--;
			}
	} while (left > 0 && rte_get_timer_cycles() < deadline);
	if (left == 0)
		return true;
	for (i = 0; i < gw->n_workers; i++)
		if (!moved[i] && stuck++ == 0)
			snprintf(why, len,
				 "lcore %u made no poll round in %u ms%s",
				 gw->lcore[i], HEALTH_WINDOW_MS,
				 left > 1 ? " (and other lcores)" : "");
	return false;
}

/* /ready: workers running, a ruleset in force, every port's link up. */
static bool
gateway_ready(void *arg, char *why, size_t len)
{
	const struct gateway *gw = arg;
	unsigned int i;

	if (!__atomic_load_n(&gw->running, __ATOMIC_ACQUIRE)) {
		snprintf(why, len,
			 "workers not running (starting or stopping)");
		return false;
	}
	if (__atomic_load_n(&gw->dp.ruleset, __ATOMIC_ACQUIRE) == NULL) {
		snprintf(why, len, "no ruleset loaded");
		return false;
	}
	for (i = 0; i < gw->conf->n_ports; i++)
		if (!mg_port_link_up(&gw->ports[i])) {
			snprintf(why, len, "port %s: link down",
				 gw->ports[i].name);
			return false;
		}
	return true;
}

/* The /metrics endpoint on the management address. A bind failure of
 * the implicit default only warns — the data plane never depends on it —
 * but an address the operator wrote must work. */
static int
start_prometheus(struct gateway *gw)
{
	const struct mg_telemetry_conf *t = &gw->conf->telemetry;
	const struct mg_prom_checks checks = { gateway_healthy, gateway_ready,
					       gw };
	char err[256] = "";

	if (!t->enabled)
		return 0;
	gw->prom = mg_prom_start(&t->addr, t->port, &checks, err, sizeof(err));
	if (gw->prom != NULL)
		return 0;
	if (t->explicit_listen) {
		MG_LOG(ERR, "%s: telemetry listen: %s", gw->conf->path, err);
		return -1;
	}
	MG_LOG(WARNING, "no /metrics endpoint: %s (set telemetry.listen)", err);
	return 0;
}

/* NIC counters for /metrics and /meshgate/ports (telemetry threads). */
static int
ports_counters(void *arg, struct mg_telemetry_port *out, unsigned int max)
{
	const struct gateway *gw = arg;
	unsigned int i, n = 0;

	for (i = 0; i < gw->conf->n_ports && n < max; i++)
		if (gw->ports[i].started &&
		    mg_port_read(&gw->ports[i], &out[n]) == 0)
			n++;
	return (int)n;
}

static double
wall_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SIGHUP: the file is read again; a config that fails validation or
 * cannot be built leaves the running ruleset in place. Settings that
 * need a restart keep their running values, and say so. */
static void
reload(struct gateway *gw)
{
	struct mg_telemetry_config *h = &gw->history;
	struct mg_conf *conf;
	char err[1024];
	unsigned int n;
	bool ok;

	MG_LOG(INFO, "%s: reloading", gw->conf->path);
	mg_dataplane_reload_begin(&gw->dp);
	sd_notify(0, "RELOADING=1\nSTATUS=reloading the config");
	conf = load_conf(gw->conf->path, true);
	/* sized by the same budget as the running one, so that an
	 * unchanged file changes no restart-only size */
	if (conf != NULL &&
	    mg_mem_fit(conf, gw->n_workers, gw->n_queues,
		       mg_mem_page_size(!rte_eal_has_hugepages()), err,
		       sizeof(err)) < 0) {
		rte_log(RTE_LOG_ERR, mg_logtype_app, "%s\n", err);
		mg_conf_free(conf);
		conf = NULL;
	}
	ok = conf != NULL &&
	     mg_dataplane_reload(&gw->dp, conf, RTE_QSBR_THRID_INVALID) == 0;
	if (!ok) {
		MG_LOG(ERR, "%s: rejected; the running config stays",
		       gw->conf->path);
		h->reloads_failure++;
	} else {
		n = mg_conf_restart_changes(gw->conf, conf);
		n += reload_shadow(gw, conf, RTE_QSBR_THRID_INVALID);
		/* a reload restores every rolled-back weight */
		if (gw->rollback != NULL &&
		    mg_rollback_reset(gw->rollback, conf) != 0)
			MG_LOG(ERR, "canary rollback: out of memory; no "
				    "version is tracked");
		if (telemetry_naming(conf) < 0)
			MG_LOG(WARNING, "telemetry: out of memory for the new "
					"naming; the old one stays");
		if (gw->live != gw->conf)
			mg_conf_free(gw->live);
		gw->live = conf;
		conf = NULL;
		h->restart_pending = n > 0;
		h->reloads_success++;
		h->last_success_s = wall_clock();
		if (n == 0)
			MG_LOG(INFO, "%s: new ruleset in force",
			       gw->live->path);
		else
			MG_LOG(INFO,
			       "%s: new ruleset in force; %u setting(s) wait "
			       "for a restart (meshgate_config_restart_pending "
			       "1)",
			       gw->live->path, n);
	}
	mg_conf_free(conf);
	mg_telemetry_set_config(h);
	mg_denylog_reopen(gw->dp.denylog);
	sd_notify(0, ok ? "READY=1\nSTATUS=forwarding; the reloaded config "
			  "is in force"
			: "READY=1\nSTATUS=forwarding; a reload was rejected, "
			  "the running config stays");
}

/* SIGUSR2 or /meshgate/recorder: every worker's ring to a pcapng file
 * in recorder.dir. From the control tick while no reload runs: the
 * ruleset that names the entries cannot be freed meanwhile. */
static void
dump_recorder(struct gateway *gw)
{
	struct mg_recorder *rings[RTE_MAX_LCORE];
	char path[PATH_MAX] = "";
	unsigned int i, count = 0;
	int rc = -ENODEV;

	for (i = 0; i < gw->n_workers; i++)
		rings[i] = gw->workers[i]->recorder;
	if (gw->conf->recorder.packets != 0)
		rc = mg_recorder_dump(
			rings, gw->n_workers,
			__atomic_load_n(&gw->dp.ruleset, __ATOMIC_ACQUIRE),
			gw->conf->recorder.dir, path, sizeof(path), &count);
	if (rc == 0)
		MG_LOG(INFO, "flight recorder: %u packet(s) written to %s",
		       count, path);
	else
		MG_LOG(ERR, "flight recorder: cannot write %s: %s",
		       path[0] != '\0' ? path : "(off: recorder.packets = 0)",
		       strerror(-rc));
	mg_recorder_done(rc, path, count);
}

static void *
reload_thread(void *arg)
{
	struct gateway *gw = arg;

	reload(gw);
	__atomic_store_n(&gw->reload_done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* A finished reload's thread is joined; with @p wait, a running one is
 * waited for (at exit: its compile cannot be cut short). */
static void
reload_reap(struct gateway *gw, bool wait)
{
	if (!gw->reloading ||
	    (!wait && !__atomic_load_n(&gw->reload_done, __ATOMIC_ACQUIRE)))
		return;
	pthread_join(gw->reloader, NULL);
	gw->reloading = false;
}

/* SIGHUP: one reload at a time, on its own thread (a request during a
 * reload waits for the next tick after it). */
static void
reload_start(struct gateway *gw)
{
	int rc;

	reload_reap(gw, false);
	if (gw->reloading ||
	    !__atomic_exchange_n(&reload_requested, false, __ATOMIC_RELAXED))
		return;
	gw->reload_done = false;
	rc = rte_ctrl_thread_create(&gw->reloader, "mg-reload", NULL,
				    reload_thread, gw);
	if (rc == 0) {
		gw->reloading = true;
		return;
	}
	MG_LOG(WARNING, "no reload thread (%s): reloading in the control tick",
	       strerror(rc));
	reload(gw);
}

/* Once a second: a canary worse than its stable versions is rolled back
 * (its weight 0 in the config in force, published as a reload is; a
 * Hyperscan compile here delays the control tick, not forwarding). */
static void
rollback_tick(struct gateway *gw, uint64_t now)
{
	if (gw->rollback == NULL || now < gw->next_rollback_tsc)
		return;
	gw->next_rollback_tsc = now + rte_get_timer_hz();
	if (!mg_rollback_tick(gw->rollback, __atomic_load_n(&gw->dp.ruleset,
							    __ATOMIC_ACQUIRE)))
		return;
	/* the weights of the config in force, with the canary's 0: new
	 * connections only */
	mg_rollback_apply(gw->rollback, gw->live);
	mg_dataplane_reload_begin(&gw->dp);
	if (mg_dataplane_reload(&gw->dp, gw->live, RTE_QSBR_THRID_INVALID) != 0)
		MG_LOG(ERR, "canary rollback: cannot publish the ruleset; the "
			    "weights stay");
}

/* Control plane work, every TICK_US: the systemd watchdog, reloads on
 * SIGHUP (on their own thread), logs of health and neighbour changes,
 * the idle stop. Runs on the main lcore, or in single-core mode (where
 * the main lcore forwards) on a control thread of its own: a reload's
 * parse and Hyperscan compile never stall forwarding, only the ruleset
 * pointer swap reaches the loop (under RCU, as with worker lcores). */
static void
control_tick(struct gateway *gw)
{
	uint64_t now = rte_get_timer_cycles();
	struct mg_stats_sum s;

	if (now < gw->next_tick_tsc)
		return;
	gw->next_tick_tsc = now + rte_get_timer_hz() * TICK_US / 1000000;
	watchdog_tick(gw, now);
	reload_start(gw);
	/* the control-plane side of the health table, the cache, the limits
	 * and ESP's SAs is the reload's while it runs (it syncs health to
	 * the new ruleset, registers limits, builds the new set of SAs) */
	if (!gw->reloading) {
		mg_health_log_changes(gw->dp.health, rte_rdtsc());
		mg_neigh_log_conflicts(gw->dp.neigh, rte_rdtsc());
		if (++gw->ticks % REBALANCE_TICKS == 0)
			mg_limit_rebalance(gw->dp.limits);
		/* retire SAs once safe; lingering ones expire; stops are
		 * logged */
		mg_esp_tick(gw->dp.esp, rte_rdtsc());
		/* the ruleset that names their entries stays valid: only
		 * this thread publishes one while no reload runs */
		if (gw->dp.denylog != NULL)
			mg_denylog_flush(gw->dp.denylog,
					 __atomic_load_n(&gw->dp.ruleset,
							 __ATOMIC_ACQUIRE));
		if (mg_recorder_pending())
			dump_recorder(gw);
		rollback_tick(gw, now);
	}
	if (gw->idle_limit_tsc == 0)
		return;
	mg_telemetry_sum(&s);
	if (s.rx != gw->last_rx) {
		gw->last_rx = s.rx;
		gw->last_rx_change_tsc = now;
	} else if (now - gw->last_rx_change_tsc > gw->idle_limit_tsc) {
		MG_LOG(INFO, "no packet for %" PRIu64 " ms: stopping",
		       gw->idle_limit_tsc * 1000 / rte_get_timer_hz());
		__atomic_store_n(&quit, true, __ATOMIC_RELAXED);
	}
}

static void
control_loop(struct gateway *gw)
{
	while (!__atomic_load_n(&quit, __ATOMIC_RELAXED)) {
		usleep(TICK_US);
		control_tick(gw);
	}
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	reload_reap(gw, true);
}

/* Workers launched: systemd may start what depends on the gateway. */
static void
notify_ready(struct gateway *gw)
{
	sd_notifyf(0, "READY=1\nSTATUS=forwarding: %u worker(s), %u port(s)",
		   gw->n_workers, gw->conf->n_ports);
}

static void *
control_thread(void *arg)
{
	control_loop(arg);
	return NULL;
}

static int
run(struct gateway *gw, const struct options *o)
{
	pthread_t control;
	unsigned int i;
	int rc;

	gw->start_tsc = rte_get_timer_cycles();
	gw->last_rx_change_tsc = gw->start_tsc;
	gw->idle_limit_tsc = o->exit_on_idle_ms * rte_get_timer_hz() / 1000;
	watchdog_setup(gw);
	if (gw->main_forwards) {
		/* EAL puts control threads on the CPUs no lcore uses */
		rc = rte_ctrl_thread_create(&control, "mg-control", NULL,
					    control_thread, gw);
		if (rc != 0) {
			MG_LOG(ERR, "cannot start the control thread: %s",
			       strerror(rc));
			return -rc;
		}
		__atomic_store_n(&gw->running, true, __ATOMIC_RELEASE);
		notify_ready(gw);
		mg_worker_main(gw->workers[0]);
		/* the loop stopped on quit, and so does the thread */
		pthread_join(control, NULL);
	} else {
		for (i = 0; i < gw->n_workers; i++)
			rte_eal_remote_launch(mg_worker_main, gw->workers[i],
					      gw->lcore[i]);
		__atomic_store_n(&gw->running, true, __ATOMIC_RELEASE);
		notify_ready(gw);
		control_loop(gw);
		__atomic_store_n(&gw->running, false, __ATOMIC_RELEASE);
		rte_eal_mp_wait_lcore();
	}
	__atomic_store_n(&gw->running, false, __ATOMIC_RELEASE);
	gw->stop_tsc = rte_get_timer_cycles();
	return 0;
}

static void
json_counters(FILE *f, const struct mg_stats_sum *s)
{
	fprintf(f,
		"\"rx\": %" PRIu64 ", \"tx\": %" PRIu64
		", \"drops_total\": %" PRIu64 ", \"busy_polls\": %" PRIu64
		", \"idle_polls\": %" PRIu64 ", \"busy_s\": %.6f"
		", \"local\": %" PRIu64 ", \"flows_created\": %" PRIu64
		", \"dry_run_denied\": %" PRIu64
		", \"neigh_conflicts\": %" PRIu64
		", \"idle_wait_s\": %.6f, \"stall_max_us\": %" PRIu64
		", \"reload_stall_max_us\": %" PRIu64
		", \"deny_replies\": %" PRIu64
		", \"deny_replies_suppressed\": %" PRIu64
		", \"syn_cookies_sent\": %" PRIu64
		", \"syn_cookies_valid\": %" PRIu64,
		s->rx, s->tx, s->drops_total, s->busy_polls, s->idle_polls,
		(double)s->busy_cycles / (double)rte_get_tsc_hz(), s->local,
		s->flows_created, s->dry_run_denied, s->neigh_conflicts,
		(double)s->idle_wait_cycles / (double)rte_get_tsc_hz(),
		s->stall_max_cycles * 1000000 / rte_get_tsc_hz(),
		s->reload_stall_max_cycles * 1000000 / rte_get_tsc_hz(),
		s->deny_replies, s->deny_replies_suppressed,
		s->syn_cookies_sent, s->syn_cookies_valid);
}

static int
write_stats_json(const struct gateway *gw, const char *path,
		 unsigned int pool_n, unsigned int pool_in_use)
{
	double elapsed = (double)(gw->stop_tsc - gw->start_tsc) /
			 (double)rte_get_timer_hz();
	struct mg_stats_sum s;
	const char *sep = "";
	unsigned int i;
	FILE *f;

	f = fopen(path, "w");
	if (f == NULL) {
		MG_LOG(ERR, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	mg_telemetry_sum(&s);
	fprintf(f, "{\"elapsed_s\": %.6f, ", elapsed);
	json_counters(f, &s);
	fprintf(f, ",\n \"drops\": {");
	for (i = 1; i < mg_drop_reason_end(); i++)
		fprintf(f, "%s\"%s\": %" PRIu64, i == 1 ? "" : ", ",
			mg_drop_reason_name(i), s.drops[i]);
	fprintf(f, "},\n \"lcores\": {");
	for (i = 0; i < gw->n_workers; i++) {
		mg_telemetry_lcore_read(gw->lcore[i], &s);
		fprintf(f, "%s\"%u\": {", sep, gw->lcore[i]);
		json_counters(f, &s);
		fprintf(f, "}");
		sep = ", ";
	}
	fprintf(f, "}");
	if (gw->overload_json != NULL)
		fprintf(f, ",\n \"overload\": %s", gw->overload_json);
	fprintf(f, ",\n \"mempool\": {\"size\": %u, \"in_use\": %u}}\n", pool_n,
		pool_in_use);
	if (fclose(f) != 0) {
		MG_LOG(ERR, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Workers and queues per port the gateway would run with, without EAL:
 * the config's lcores, else one per EAL lcore besides the main one (at
 * least one: the main lcore forwards alone). As plan_workers(). */
static void
expected_workers(const struct mg_conf *conf, const struct mg_eal_opts *eo,
		 unsigned int *n_workers, uint16_t *n_queues)
{
	unsigned int i, n = mg_eal_lcore_count(eo);

	*n_queues = 0;
	if (conf->n_lcores > 0) {
		*n_workers = conf->n_lcores;
		for (i = 0; i < conf->n_lcores; i++)
			if (conf->lcores[i].queue >= *n_queues)
				*n_queues =
					(uint16_t)(conf->lcores[i].queue + 1);
		return;
	}
	*n_workers = n > 1 ? n - 1 : 1;
	*n_queues = (uint16_t)*n_workers;
}

/* EAL's -m for @p conf (mg_mem_prealloc_mb()): the estimate with the
 * workers EAL's options give, as start-up will size it again. */
static uint64_t
prealloc_mb(struct mg_conf *conf, const struct mg_eal_opts *eo)
{
	struct mg_mem_estimate e;
	unsigned int n_workers;
	uint16_t n_queues;
	char err[1024];
	size_t page;

	if (eo->no_huge)
		return 0;
	expected_workers(conf, eo, &n_workers, &n_queues);
	page = mg_mem_page_size(false);
	/* a file that cannot fit is refused after EAL starts */
	if (mg_mem_fit(conf, n_workers, n_queues, page, err, sizeof(err)) < 0)
		return 0;
	mg_mem_estimate(conf, n_workers, n_queues, page, &e);
	return mg_mem_prealloc_mb(&e, eo);
}

/* "needs about X MiB of DPDK memory (parts; B bytes per connection of
 * flows.max = N)" for the messages below. */
static void
describe_need(const struct mg_conf *conf, const struct mg_mem_estimate *e,
	      char *buf, size_t len)
{
	char parts[512];

	mg_mem_describe(e, parts, sizeof(parts));
	snprintf(buf, len,
		 "needs about %.0f MiB of DPDK memory (%s; %zu bytes per "
		 "connection of flows.max = %u)",
		 (double)e->total / MIB, parts, e->per_flow,
		 conf->flows.max_flows);
}

/* --check-config: the loader validated every value and pattern; also
 * compile the layer-7 rules, as a reload would, and check that the
 * memory the file needs fits in what the EAL options before "--" (or
 * this machine's hugepages) can give. */
static int
check_config(struct mg_conf *conf, const char *path,
	     const struct mg_eal_opts *eo)
{
	uint32_t *slots = calloc(conf->n_policies + 1, sizeof(*slots));
	char err[1024] = "", need[768], why[256];
	struct mg_mem_estimate e;
	struct mg_l7 *l7 = NULL;
	int status = EXIT_SUCCESS;
	unsigned int n_workers;
	uint16_t n_queues;
	uint64_t avail;

	if (slots != NULL)
		l7 = mg_l7_build(conf, slots, 1, err, sizeof(err));
	free(slots);
	if (l7 == NULL) {
		fprintf(stderr, "%s\n", err[0] != '\0' ? err : "out of memory");
		status = EXIT_FAILURE;
	}
	mg_l7_free(l7);
	if (conf->shadow[0] != '\0') {
		struct mg_conf *cand = load_conf(conf->shadow, false);

		if (cand == NULL) {
			fprintf(stderr, "%s: its shadow %s is not valid\n",
				path, conf->shadow);
			status = EXIT_FAILURE;
		}
		mg_conf_free(cand);
	}
	expected_workers(conf, eo, &n_workers, &n_queues);
	if (mg_mem_fit(conf, n_workers, n_queues, mg_mem_page_size(eo->no_huge),
		       err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		status = EXIT_FAILURE;
	}
	mg_mem_estimate(conf, n_workers, n_queues,
			mg_mem_page_size(eo->no_huge), &e);
	describe_need(conf, &e, need, sizeof(need));
	avail = mg_mem_available_offline(eo, why, sizeof(why));
	if (e.total > avail) {
		/* what to ask for: the estimate and room for EAL's own */
		size_t want = e.total + EAL_OWN_BYTES;
		size_t page = mg_mem_page_size(false);
		char fix[96];

		if (eo->no_huge)
			snprintf(fix, sizeof(fix), "-m %zu or more",
				 (want + (1 << 20) - 1) >> 20);
		else
			snprintf(fix, sizeof(fix),
				 "%zu hugepages of %zu KiB: "
				 "scripts/hugepages.sh %zu",
				 (want + page - 1) / page, page >> 10,
				 (want + page - 1) / page);
		fprintf(stderr,
			"%s: %s with %u worker(s), but only %.0f MiB can be "
			"had (%s): lower flows.max (or the other sizes), or "
			"give DPDK more memory (%s)\n",
			path, need, n_workers, (double)avail / MIB, why, fix);
		status = EXIT_FAILURE;
	}
	if (status == EXIT_SUCCESS) {
		printf("%s: configuration is valid\n", path);
		printf("%s: %s with %u worker(s); %.0f MiB available (%s)\n",
		       path, need, n_workers, (double)avail / MIB, why);
		if (conf->memory_mb != 0)
			printf("%s: memory_mb = %u: flows.max %u%s, "
			       "l7.max_pending %u%s, %u mbufs\n",
			       path, conf->memory_mb, conf->flows.max_flows,
			       conf->flows_max_set ? "" : " (sized by it)",
			       conf->l7.max_pending,
			       conf->l7_pending_set ? "" : " (sized by it)",
			       mg_mem_pool_mbufs(conf, n_workers, n_queues));
	}
	mg_conf_free(conf);
	return status;
}

/* Fails fast, before any table is allocated, when the config cannot fit
 * in what EAL can give. Fills @p e for the log line after start-up. */
static int
check_memory(const struct gateway *gw, const struct mg_eal_opts *eo,
	     struct mg_mem_estimate *e)
{
	char need[768], why[256];
	uint64_t avail;

	mg_mem_estimate(gw->conf, gw->n_workers, gw->n_queues,
			mg_mem_page_size(!rte_eal_has_hugepages()), e);
	avail = mg_mem_available(eo, why, sizeof(why));
	if (e->total <= avail)
		return 0;
	describe_need(gw->conf, e, need, sizeof(need));
	MG_LOG(ERR,
	       "%s: %s with %u worker(s), but EAL can give only %.0f MiB "
	       "(%s): lower flows.max (or the other sizes), or give DPDK "
	       "more memory (%s)",
	       gw->conf->path, need, gw->n_workers, (double)avail / MIB, why,
	       rte_eal_has_hugepages() ? "reserve more hugepages"
				       : "a larger -m");
	return -ENOMEM;
}

/* Finds "--": EAL options before it, ours after. Without it, everything
 * is ours, so "meshgate -f x --check-config" needs no EAL at all. */
static int
split_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct gateway gw = { 0 };
	struct mg_dev_locks locks = { 0 };
	struct mg_mem_estimate mem;
	char **eal_argv = NULL;
	struct mg_eal_opts eo;
	int eal_argc;
	unsigned int i, pool_n = 0, in_use = 0;
	uint64_t heap_base;
	char parts[1024];
	int sep, rc, status = EXIT_FAILURE;

	if (mg_log_setup() < 0)
		rte_openlog_stream(stderr);
	/* every stage's drop reasons named before anything lists or
	 * counts them */
	rc = mg_drops_init();
	if (rc < 0) {
		fprintf(stderr, "%s: drop reasons: %s\n", argv[0],
			strerror(-rc));
		return EXIT_FAILURE;
	}
	sep = split_args(argc, argv);
	rc = parse_options(sep ? argc - sep : argc, sep ? argv + sep : argv,
			   argv[0], &o);
	if (rc != 0)
		return rc == 1 ? EXIT_SUCCESS : rc;

	/* EAL sees only the options before "--"; meshgate reads some */
	mg_eal_opts_scan(sep ? sep : 1, argv, &eo);
	gw.conf = load_conf(o.conf_path, !o.check_config);
	if (gw.conf == NULL)
		return EXIT_FAILURE;
	/* --shadow stands for the config's `shadow` (the memory estimate
	 * counts it); a reload keeps it */
	if (o.shadow != NULL)
		snprintf(gw.conf->shadow, sizeof(gw.conf->shadow), "%s",
			 o.shadow);
	if (o.check_config)
		return check_config(gw.conf, o.conf_path, &eo);
	if (o.shadow_report != NULL && o.shadow == NULL &&
	    gw.conf->shadow[0] == '\0') {
		fprintf(stderr,
			"%s: --shadow-report needs a candidate: --shadow FILE "
			"or 'shadow' in %s\n",
			argv[0], o.conf_path);
		mg_conf_free(gw.conf);
		return EXIT_USAGE;
	}
	/* before EAL probes anything: a refused gateway touches no device */
	if (mg_dev_lock(gw.conf, &eo, &locks) < 0)
		goto out_conf;
	eal_argv = mg_eal_argv(sep ? sep : 1, argv, &eo,
			       prealloc_mb(gw.conf, &eo), &eal_argc);
	if (eal_argv == NULL) {
		fprintf(stderr, "meshgate: out of memory\n");
		goto out_conf;
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		status = mg_eal_explain(&eo, rte_errno);
		goto out_conf;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	/* test hook: SIGUSR1 stalls every worker once (see idle.c) */
	if (getenv("MESHGATE_TEST_STALL_MS") != NULL)
		signal(SIGUSR1, on_signal);
	signal(SIGUSR2, on_signal);

	/* the stock dpdk-dumpcap (a secondary process) captures from the
	 * ports through it, once it finds every tail queue it knows */
	if (mg_eal_register_tailqs() < 0)
		MG_LOG(WARNING, "dpdk-dumpcap cannot attach: EAL has no room "
				"for its tail queues");
	if (rte_pdump_init() != 0)
		MG_LOG(WARNING, "no packet capture (rte_pdump_init: %s)",
		       rte_strerror(rte_errno));
	rc = mg_telemetry_init();
	if (rc == 0)
		rc = configure_telemetry(gw.conf);
	if (rc < 0) {
		MG_LOG(ERR, "telemetry: %s", rte_strerror(-rc));
		goto out_eal;
	}
	if (plan_workers(&gw) < 0)
		goto out_eal;
	if (mg_mem_fit(gw.conf, gw.n_workers, gw.n_queues,
		       mg_mem_page_size(!rte_eal_has_hugepages()), parts,
		       sizeof(parts)) < 0) {
		rte_log(RTE_LOG_ERR, mg_logtype_app, "%s\n", parts);
		goto out_eal;
	}
	if (check_memory(&gw, &eo, &mem) < 0)
		goto out_eal;
	heap_base = mg_mem_in_use();
	pool_n = mg_mem_pool_mbufs(gw.conf, gw.n_workers, gw.n_queues);
	gw.pool = rte_pktmbuf_pool_create(
		"mg_mbufs", pool_n, gw.conf->mbuf_cache, 0,
		mg_port_data_room(gw.conf), (int)rte_socket_id());
	if (gw.pool == NULL) {
		MG_LOG(ERR, "cannot create a pool of %u mbufs: %s", pool_n,
		       rte_strerror(rte_errno));
		goto out_eal;
	}
	for (i = 0; i < gw.conf->n_ports; i++)
		if (mg_port_start(&gw.conf->ports[i], gw.n_queues, gw.pool,
				  gw.conf->idle.mode == MG_IDLE_INTERRUPT,
				  &gw.ports[i]) < 0)
			goto out_ports;
	mg_telemetry_set_ports_fn(ports_counters, &gw);
	if (mg_dataplane_init(&gw.dp, gw.conf, gw.ports, gw.n_workers,
			      gw.pool) < 0)
		goto out_ports;
	if (gw.conf->deny_log.enabled) {
		gw.dp.denylog =
			mg_denylog_create(&gw.conf->deny_log, gw.n_workers);
		if (gw.dp.denylog == NULL)
			goto out_workers;
	}
	gw.live = gw.conf;
	gw.rollback = mg_rollback_create(gw.dp.conn_errors, gw.n_workers,
					 gw.dp.n_label_sets);
	if (gw.rollback == NULL || mg_rollback_reset(gw.rollback, gw.conf) < 0)
		goto out_workers;
	if (start_shadow(&gw, &o) < 0 || create_workers(&gw) < 0)
		goto out_workers;
	mg_mem_describe(&mem, parts, sizeof(parts));
	MG_LOG(INFO,
	       "memory: %.1f MiB estimated (%s), %.1f MiB allocated; DPDK's "
	       "own before them %.1f MiB; hugepages mapped %.1f MiB",
	       (double)mem.total / MIB, parts,
	       (double)(mg_mem_in_use() - heap_base) / MIB,
	       (double)heap_base / MIB, (double)mg_mem_mapped() / MIB);
	if (gw.conf->memory_mb != 0)
		MG_LOG(INFO,
		       "memory: budget memory_mb = %u: flows.max %u, "
		       "l7.max_pending %u, %u mbufs",
		       gw.conf->memory_mb, gw.conf->flows.max_flows,
		       gw.conf->l7.max_pending, pool_n);
	if (start_prometheus(&gw) < 0)
		goto out_workers;
	gw.history.last_success_s = wall_clock();
	mg_telemetry_set_config(&gw.history);

	if (run(&gw, &o) == 0)
		status = EXIT_SUCCESS;
	if (o.stats_json != NULL)
		gw.overload_json = mg_dataplane_overload_json(&gw.dp);
	mg_prom_stop(gw.prom);

out_workers:
	free_workers(&gw);
	if (gw.dp.denylog != NULL) {
		/* what the workers logged last */
		mg_denylog_flush(gw.dp.denylog, gw.dp.ruleset);
		mg_denylog_free(gw.dp.denylog);
		gw.dp.denylog = NULL;
	}
	if (status == EXIT_SUCCESS && o.shadow_report != NULL &&
	    mg_shadow_report(gw.dp.shadow, o.shadow_report) < 0)
		status = EXIT_FAILURE;
	mg_shadow_free(gw.dp.shadow);
	gw.dp.shadow = NULL;
	mg_rollback_free(gw.rollback);
	gw.rollback = NULL;
	mg_dataplane_fini(&gw.dp);
out_ports:
	mg_telemetry_set_ports_fn(NULL, NULL);
	for (i = 0; i < gw.conf->n_ports; i++)
		mg_port_close(&gw.ports[i]);
	/* after close, rings and PMD-held buffers are back in the pool:
	 * anything still in use is a leak */
	in_use = rte_mempool_in_use_count(gw.pool);
	if (in_use != 0)
		MG_LOG(WARNING, "%u mbufs still in use at exit", in_use);
	if (status == EXIT_SUCCESS && o.stats_json != NULL &&
	    write_stats_json(&gw, o.stats_json, pool_n, in_use) < 0)
		status = EXIT_FAILURE;
	rte_mempool_free(gw.pool);
out_eal:
	mg_telemetry_fini();
	rte_pdump_uninit();
	rte_eal_cleanup();
out_conf:
	mg_dev_unlock(&locks);
	free(eal_argv);
	if (gw.live != gw.conf)
		mg_conf_free(gw.live);
	mg_conf_free(gw.conf);
	free(gw.overload_json);
	return status;
}
