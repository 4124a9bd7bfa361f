/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* How a worker idles: an idle box must not burn a core. After a round
 * that received nothing the worker spins briefly (a burst's gap), then
 * waits: on its queues' RX interrupts where every port's driver has
 * them (rte_epoll_wait, as DPDK's l3fwd-power does), else in sleeps that
 * double up to idle.max_sleep_us. DPDK's PMD power management
 * (rte_power_pmd_mgmt, monitor mode) is added where the CPU and driver
 * have it: it parks the core on the descriptor ring during the spin.
 * Its pause and scale modes are not used: both keep the thread running,
 * so the core stays busy for the kernel and for the power budget alike;
 * only a sleep or a blocking wait gives the core back. */

#include <errno.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_cpuflags.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_power_intrinsics.h>
#include <rte_power_pmd_mgmt.h>

#include "meshgate.h"

/* After the last packet, poll this long before waiting: packets of a
 * flow come in trains, and a wait costs a wake-up of 1-60 us. */
#define SPIN_US 50
/* The back-off's first sleep; each later one doubles. */
#define FIRST_SLEEP_US 8
/* Timer slack of a sleeping worker: the kernel's default (50 us) would
 * add that much to every sleep, and to the first packet's wait. */
#define TIMER_SLACK_NS 1000

static uint32_t stall_gen; /* bumped by SIGUSR1 (test hook) */
static uint32_t stall_ms;  /* MESHGATE_TEST_STALL_MS, 0: no hook */

void
mg_idle_test_stall_arm(void)
{
	__atomic_fetch_add(&stall_gen, 1, __ATOMIC_RELAXED);
}

/* The hook: this worker stops making rounds for stall_ms, once per
 * SIGUSR1, still online for RCU as a stuck worker would be; the stall
 * counts in stall_max_cycles. Returns whether it stalled. */
static bool
test_stall(struct mg_worker *w)
{
	uint32_t gen = __atomic_load_n(&stall_gen, __ATOMIC_RELAXED);

	if (likely(gen == w->seen_stall))
		return false;
	w->seen_stall = gen;
	rte_delay_us_sleep(stall_ms * 1000u);
	return true;
}

/* Every port's driver delivers RX interrupts for this worker's queue:
 * asked at configure time (intr_conf.rxq, ports.c) and wired to an
 * interrupt vector. Probed without the epoll set (mg_idle_start() adds
 * the queues on the worker's thread). */
static bool
ports_have_rx_intr(const struct mg_worker *w, const char **which)
{
	uint16_t p;

	for (p = 0; p < w->n_ports; p++)
		if (rte_eth_dev_rx_intr_ctl_q_get_fd(w->port_id[p], w->queue) <
		    0) {
			*which = w->port_name[p];
			return false;
		}
	return true;
}

/* Monitor mode of DPDK's PMD power management on each of the worker's
 * queues: the queue must be stopped while its callback is installed. */
static int
enable_monitor(struct mg_worker *w)
{
	uint16_t p;
	int rc = 0;

	for (p = 0; p < w->n_ports && rc == 0; p++) {
		rc = rte_eth_dev_rx_queue_stop(w->port_id[p], w->queue);
		if (rc != 0)
			break;
		rc = rte_power_ethdev_pmgmt_queue_enable(
			w->lcore_id, w->port_id[p], w->queue,
			RTE_POWER_MGMT_TYPE_MONITOR);
		if (rte_eth_dev_rx_queue_start(w->port_id[p], w->queue) != 0 &&
		    rc == 0)
			rc = -EIO;
	}
	return rc;
}

void
mg_idle_prepare(struct mg_worker *w, const struct mg_conf *conf)
{
	struct rte_cpu_intrinsics cpu;
	const char *port = NULL;
	const char *env;

	env = getenv("MESHGATE_TEST_STALL_MS");
	if (env != NULL)
		stall_ms = (uint32_t)strtoul(env, NULL, 10);
	w->idle_mode = (uint8_t)conf->idle.mode;
	w->max_sleep_us = conf->idle.max_sleep_us;
	w->spin_tsc = rte_get_tsc_hz() * SPIN_US / 1000000;
	w->seen_stall = __atomic_load_n(&stall_gen, __ATOMIC_RELAXED);
	if (w->idle_mode == MG_IDLE_POLL) {
		MG_LOG(INFO, "lcore %u: idle mode poll: busy-polls",
		       w->lcore_id);
		return;
	}
	if (w->idle_mode == MG_IDLE_INTERRUPT) {
		if (ports_have_rx_intr(w, &port)) {
			w->intr = true;
			MG_LOG(INFO,
			       "lcore %u: idle mode interrupt: waits for RX "
			       "interrupts, at most %u us",
			       w->lcore_id, w->max_sleep_us);
			return;
		}
		MG_LOG(NOTICE,
		       "lcore %u: port %s has no RX interrupts; idling as "
		       "adaptive",
		       w->lcore_id, port);
		w->idle_mode = MG_IDLE_ADAPTIVE;
	}
	rte_cpu_get_intrinsics_support(&cpu);
	if (!cpu.power_monitor) {
		MG_LOG(INFO,
		       "lcore %u: idle mode adaptive: sleeps of %u..%u us "
		       "(this CPU has no MONITORX/WAITPKG for DPDK's monitor "
		       "mode)",
		       w->lcore_id, FIRST_SLEEP_US, w->max_sleep_us);
		return;
	}
	if (enable_monitor(w) != 0) {
		MG_LOG(INFO,
		       "lcore %u: idle mode adaptive: sleeps of %u..%u us "
		       "(a driver has no monitor address, or cannot stop a "
		       "queue, for DPDK's monitor mode)",
		       w->lcore_id, FIRST_SLEEP_US, w->max_sleep_us);
		return;
	}
	MG_LOG(INFO,
	       "lcore %u: idle mode adaptive: DPDK monitor mode on the rings, "
	       "then sleeps of %u..%u us",
	       w->lcore_id, FIRST_SLEEP_US, w->max_sleep_us);
}

void
mg_idle_start(struct mg_worker *w)
{
	uint16_t p;
	int rc;

	w->round_ref = rte_rdtsc();
	if (w->idle_mode == MG_IDLE_POLL)
		return;
	prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
	if (!w->intr)
		return;
	for (p = 0; p < w->n_ports; p++) {
		rc = rte_eth_dev_rx_intr_ctl_q(
			w->port_id[p], w->queue, RTE_EPOLL_PER_THREAD,
			RTE_INTR_EVENT_ADD, (void *)(uintptr_t)p);
		if (rc != 0) {
			MG_LOG(NOTICE,
			       "lcore %u: port %s: cannot wait for its RX "
			       "interrupt (%s); idling as adaptive",
			       w->lcore_id, w->port_name[p], rte_strerror(-rc));
			w->intr = false;
			w->idle_mode = MG_IDLE_ADAPTIVE;
			return;
		}
	}
}

void
mg_idle_stop(struct mg_worker *w)
{
	uint16_t p;

	if (!w->intr)
		return;
	for (p = 0; p < w->n_ports; p++)
		rte_eth_dev_rx_intr_ctl_q(w->port_id[p], w->queue,
					  RTE_EPOLL_PER_THREAD,
					  RTE_INTR_EVENT_DEL, NULL);
}

/* Waits for any port's RX interrupt, at most max_sleep_us (epoll's
 * milliseconds, rounded up); returns whether one came. A driver without
 * an enable call (net_tap: the interrupt is its file descriptor becoming
 * readable, edge triggered and registered for good) loses no wake-up;
 * one that arms per call (virtio) may miss a packet that came just
 * before the arming, which then waits out the timeout. */
static bool
wait_interrupt(struct mg_worker *w)
{
	struct rte_epoll_event ev[MG_CONF_MAX_PORTS];
	int timeout_ms = (int)((w->max_sleep_us + 999) / 1000);
	uint16_t p;
	int n;

	for (p = 0; p < w->n_ports; p++)
		rte_eth_dev_rx_intr_enable(w->port_id[p], w->queue);
	n = rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, w->n_ports, timeout_ms);
	for (p = 0; p < w->n_ports; p++)
		rte_eth_dev_rx_intr_disable(w->port_id[p], w->queue);
	return n > 0;
}

void
mg_idle_wait(struct mg_worker *w)
{
	struct mg_dataplane *dp = w->dp;
	uint64_t busy = w->stats->busy_polls, t0, t1;
	struct timespec ts;

	if (unlikely(stall_ms != 0) && test_stall(w))
		return;
	if (w->idle_mode == MG_IDLE_POLL)
		return;
	/* a new idle period: spin first */
	if (busy != w->seen_busy) {
		w->seen_busy = busy;
		w->idle_start = w->now;
		w->sleep_us = 0;
	}
	if (w->now - w->idle_start < w->spin_tsc) {
		rte_pause();
		return;
	}
	w->sleep_us = w->sleep_us == 0
			      ? FIRST_SLEEP_US
			      : RTE_MIN(2 * w->sleep_us, w->max_sleep_us);
	/* a waiting worker holds nothing: reclamation need not wait */
	MG_TSAN_RELEASE(dp->qsv);
	rte_rcu_qsbr_thread_offline(dp->qsv, w->rank);
	t0 = rte_rdtsc();
	if (w->intr) {
		/* an interrupt may come before the driver shows the packet
		 * (net_tap reads only once its SIGIO reached some thread):
		 * spin again rather than wait for the next one */
		if (wait_interrupt(w))
			w->idle_start = rte_rdtsc();
	} else {
		ts.tv_sec = w->sleep_us / 1000000;
		ts.tv_nsec = (long)(w->sleep_us % 1000000) * 1000;
		nanosleep(&ts, NULL);
	}
	t1 = rte_rdtsc();
	rte_rcu_qsbr_thread_online(dp->qsv, w->rank);
	mg_counter_add(&w->stats->idle_wait_cycles, t1 - t0);
	w->round_ref = t1;
}
