#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The benchmark driver (scripts/bench.sh execs it; stdlib only, run with
/usr/bin/python3).

Forwarding rate of meshgate next to dpdk-testpmd: same capture, same
single worker core, same vdevs, same measurement. Prints one line per
figure, `BENCH <name> <value>`; the ratios are what compare across boxes.
The rate runs go in BENCH_PAIRS rounds (testpmd and meshgate, or the two
configs compared, alternating on the same core): a figure is the median
of its rounds, a ratio the median of the rounds' ratios, each round's
printed as `BENCH_PAIR name round A a B b ratio r`.

Every run: -l 0,1 so lcore 1 forwards, --vdev net_pcap0 (a capture) and
net_null0 (no-rx, the sink). Rate runs replay their capture with
infinite_rx; after BENCH_WARMUP seconds the rx counter is read twice
through the telemetry socket, BENCH_SECONDS apart (testpmd:
/ethdev/stats,0 ipackets; meshgate: /meshgate/stats rx).

Figures (BENCH_ONLY names in brackets):
  testpmd_io_mpps, testpmd_5tswap_mpps, meshgate_fwd_mpps
      [testpmd_io, testpmd_5tswap, meshgate_fwd]: bench.pcap (one
      60-byte frame per UDP/TCP flow), meshgate in wire mode
      (tests/configs/bench.conf); the two meshgate_vs_* ratios.
  testpmd_5tswap_established_mpps, meshgate_established_mpps,
  meshgate_established_cycles_per_pkt [established]: established.pcap
      (10,000 connections to a service VIP with whole handshakes, the
      backend's SYN-ACKs included, then 9 rounds of one 60-byte data
      segment per connection: all flow-table hits after the first
      loop, which repeats the handshakes as challenged SYNs and
      duplicates, and the data as retransmissions inside the window)
      through testpmd 5tswap and through the service-mesh fast path
      (tests/configs/bench_mesh.conf, one-arm: lookup, connection
      tracking, DNAT, MAC rewrite, count).
      cycles_per_pkt is meshgate's busy_cycles delta over its rx delta,
      from the same two telemetry replies as the rate (busy_cycles
      covers whole poll rounds, TX flush and expiry included).
      meshgate_established_vs_5tswap_ratio divides by testpmd 5tswap on
      the same capture (a 120,000-frame preload can cost the rx side
      more than bench.pcap's 1,024 frames; both sides pay it);
      meshgate_established_vs_5tswap_bench_pcap_ratio divides by
      testpmd_5tswap_mpps (bench.pcap) instead.
  meshgate_new_flows_per_s [newflows]: newflows.pcap (200,000 distinct
      SYNs) replayed once (no infinite_rx) with --exit-on-idle through
      tests/configs/bench_newflows.conf; flows_created / busy_s from
      meshgate's --stats-json, both counted by meshgate (busy_s: the
      worker's time in poll rounds that received packets, pcap file
      reading included).
  testpmd_newflows_replay_mpps [newflows]: dpdk-testpmd io replaying
      newflows.pcap once (no infinite_rx), as the meshgate run does: its
      rx over its busy cycles (--record-core-cycles: the forwarding rounds
      that received packets, pcap file reading included, as meshgate's
      busy_s). What the replay alone costs a frame;
      meshgate_new_flows_vs_replay_ratio is meshgate_new_flows_per_s over
      it (in frames a second: each frame of newflows.pcap is a new
      connection).
  testpmd_5tswap_established2way_mpps, meshgate_established2way_mpps,
  meshgate_established2way_vs_5tswap_ratio [established2way]:
      established2way.pcap (gen_bench_pcaps.py: 10,000 connections whose
      handshakes go through the gateway, the backend's SYN-ACK from
      198.18.2.21:8080 to the client as the gateway's DNAT made it, so
      it hits the connection's reverse key; then 50 rounds of one 6-byte
      data segment each way per connection, client to VIP and backend
      to client alternating in two independent orders: 1,030,000
      frames) replayed ONCE (a loop would repeat sequence numbers: the
      retransmission path) through tests/configs/bench_mesh_2way.conf
      (one-arm), next to testpmd 5tswap replaying the same capture once.
      Both are measured over the same frames, data only: the receive
      counter (meshgate: /meshgate/lcores, lcore 1's rx; testpmd:
      /ethdev/stats,0 ipackets) polled every millisecond, sampled once
      the 30,000 handshake frames are received and again 80% of the way
      from there to the end; frames over wall time between the two
      samples (the replay keeps the worker busy between them; a second
      sample taken after the end gives no figure). Both pay the same
      pcap reading, one copy per frame. Logged besides: meshgate's busy
      cycles per frame over the same samples, testpmd's over the whole
      capture (--record-core-cycles). The run shouts unless every frame
      was forwarded, none dropped and every connection admitted once.
      BENCH_PAIRS (3) alternating pairs, each printed (BENCH_PAIR); the
      figures are the medians, the ratio the median of the pairs'
      ratios.
  testpmd_5tswap_established2way_1m_mpps, meshgate_established2way_1m_mpps,
  meshgate_established2way_1m_vs_5tswap_ratio [established2way_1m]: the
      same with 1,000,000 connections and 2 rounds
      (established2way_1m.pcap, 7,000,000 frames, 532 MB, written once
      into build/bench/ in a minute or two) through
      bench_mesh_2way_1m.conf (flows.max 1,048,576: a flow table of
      about 400 MiB, which no cache holds; the run asks EAL for 512 MiB
      more than the pool needs).
  meshgate_established_vs_before_ratio,
  meshgate_new_flows_vs_before_ratio [before, only with BENCH_BEFORE]:
      the established run (established.pcap forever) and the
      new-connection run (newflows.pcap once) through the binary of
      BENCH_BEFORE (a checkout of a8d852c, before connection tracking,
      with build/ built; its own tests/configs) and through this one,
      alternating in BENCH_PAIRS rounds; now over before.
  meshgate_canary_established_mpps [established],
  meshgate_canary_new_flows_per_s [newflows]: the same two runs with the
      service split 99/1 between two versions (bench_canary*.conf), and
      meshgate_canary_vs_single_established_ratio.
  meshgate_established_mpps_scraped [established]: the established run
      while curl scrapes /metrics (gzip) every second;
      meshgate_scraped_vs_unscraped_ratio (issue target: >= 0.98).
  meshgate_l7_budget_ns_per_request, hyperscan_ns_per_request
      [l7_established]: what layer 7 may cost a request for
      meshgate_l7_vs_l4_established_ratio 0.9 (a ninth of the L4-only
      run's busy time over its 300,000 requests; median of the runs),
      and what Hyperscan alone costs one (tests/bench/hs_cost.c, built
      as build/tests/hs_cost: the scans lib/l7 makes of a bench_l7.conf
      request, median of 5 rounds of 2,000,000, on CPU 1).
  meshgate_l7_established_mpps [l7_established]: HTTP authorization of
      every request. l7_established.pcap: 10,000 keep-alive connections
      (whole handshakes, the backend's SYN-ACK included), then 30 rounds
      of one GET head (~100 bytes) per connection, each continuing its
      connection's byte stream. infinite_rx would repeat the same
      sequence numbers, and meshgate forwards bytes it has already seen
      without inspecting them again, so a loop would measure the
      retransmission path: the capture is replayed ONCE instead
      (--exit-on-idle), and every request head is parsed and matched.
      Rate = rx / busy_s from the run's --stats-json (busy_s: the
      worker's time in poll rounds that received packets; it includes
      reading the pcap file, one copy per frame, which both runs pay;
      30,000 of the 330,000 frames are handshake frames, in both runs).
      tests/configs/bench_l7.conf (a deny rule on the path, an allow rule
      on method, path and Host) next to the same capture through
      bench_l7_off.conf (the same service with one L4 allow rule, so
      nothing is inspected): meshgate_l7_established_l4_only_mpps and
      meshgate_l7_vs_l4_established_ratio.
  meshgate_l7_new_flows_per_s [l7_newflows]: l7_newflows.pcap, 100,000
      connections, each a handshake and one GET request (inspected),
      replayed once; flows_created / busy_s, next to
      meshgate_l7_new_flows_l4_only_per_s (bench_l7_off.conf) and
      meshgate_l7_vs_l4_new_flows_ratio.
      Both l7 groups alternate the two configs BENCH_L7_RUNS times (3)
      and print each figure's median; the L7 runs must show one allow of
      the rule bench-api per request (read from /meshgate/policies once
      the capture is handled), or the script says so.
  meshgate_synflood_established_ratio,
  meshgate_synflood_half_open_peak, meshgate_half_open_budget [synflood]:
      est_once.pcap (5,000 connections, whole handshakes, then 10
      rounds of one data segment each: 65,000 frames) and
      synflood.pcap (the same with a spoofed SYN after every data
      segment: 115,000 frames, half of them SYNs once the handshakes
      are done), each replayed forever (infinite_rx; a loop repeats
      the data as retransmissions, and the flood's tuples, evicted long
      since, as new connections) through tests/configs/
      bench_synflood.conf (half-open budget 16,384), in BENCH_PAIRS
      alternating pairs (3). The established frames' rate of the flood
      run is its rx rate times their share of synflood.pcap (13/23);
      the ratio is the median of the pairs' (printed on stderr). The
      peak is the highest half-open count of the flood runs
      (--stats-json overload.half_open_peak), checked against the
      budget. Both runs keep the worker saturated, so the ratio is the
      share of the core the flood's SYNs leave to the established
      connections (README, Benchmarks).
  meshgate_ratelimit_cost_ratio [ratelimit]: est_once.pcap replayed
      forever through bench_ratelimit.conf (a limit on the callers'
      identity and on each source that the capture never reaches:
      every connection and packet metered, none refused) over
      bench_synflood.conf (no limit), rx rates, median of BENCH_PAIRS
      alternating pairs.
  meshgate_shadow_cost_ratio [shadow]: est_once.pcap replayed forever
      through bench_synflood.conf with a live shadow (build/bench/
      bench_shadow.conf: that file naming bench_shadow_candidate.conf, a
      copy whose policy admits bench-callers only) over the same
      without a shadow, rx rates, median of BENCH_PAIRS alternating
      pairs (issue target >= 0.97). The candidate is consulted on
      admissions and requests only: the established packets pay its
      branch.
  meshgate_esp_encrypt_gbps, cryptoperf_aes_gcm128_gbps,
  meshgate_esp_vs_cryptoperf_ratio [esp_encrypt]: ESP through one worker
      against the bare cipher on the same lcore. esp_encrypt.pcap
      (scripts/gen_esp_pcaps.py: 1,024 UDP flows of 1,400-byte frames)
      replayed with infinite_rx through tests/configs/bench_esp.conf,
      whose service's backend sits behind a peer: every packet a flow
      hit, DNATed and encrypted (AES-GCM-128, librte_ipsec;
      crypto_aesni_mb's synchronous CPU crypto on the worker's core) to
      net_null0. Next to dpdk-test-crypto-perf
      (throughput, crypto_aesni_mb, aead aes-gcm 128-bit key, 12-byte IV,
      8-byte AAD, 16-byte ICV, 1,400-byte buffers, bursts of 32, a pool
      of 1,024 buffers like the capture's 1,024 frames) on lcore 1.
      Gbps counts 1,400 bytes a packet (the frame the cipher's buffer
      stands for; what GCM covers is its IP packet and the trailer).
      meshgate's rate is rx over its BUSY cycles (rounds that received
      something) in the window, so that a worker fed slower than it can
      go is not counted idle; its raw rate and busy ratio are logged.
  meshgate_esp_decrypt_gbps, meshgate_esp_decrypt_vs_cryptoperf_ratio
  [esp_decrypt]: the same the other way. A capture of tunnel packets
      cannot loop (its sequence numbers would repeat and the replay
      window refuses them before any decryption), so another meshgate,
      single-core on lcore 0 (tests/configs/bench_esp_gen.conf),
      encrypts esp_gen.pcap (infinite_rx) toward the measured one over
      net_memif0; the measured one decrypts, admits (peer:bench-peer)
      and forwards in clear to net_null0. cryptoperf with --aead-op
      decrypt next to it. The generator does as much work a packet as
      the measured worker (it encrypts what the other decrypts) and
      shares the machine, so it may not keep the worker busy: the
      figure is, as for encrypt, rx over the worker's BUSY cycles (the
      rounds that received something: an idle round costs nothing
      here), and its busy share is logged. A worker fed slower than it
      can go also takes smaller bursts, whose fixed costs per round the
      figure keeps (it does not pretend full bursts): a busy share well
      under 1 means the decrypt figure is a lower bound.
      Both esp groups alternate meshgate and cryptoperf BENCH_ESP_RUNS
      times (3), print every pair, and report the medians (the ratio
      is the median of the pairs' ratios).

  meshgate_idle_cpu_percent [idle]: the bundled config (default idle
      mode, adaptive) on -l 0,1 after its capture (sample.pcap, replayed
      once) is over: the whole process's CPU time (utime + stime of
      /proc/PID/stat) over BENCH_IDLE_SECONDS (10), in % of one core;
      also meshgate_idle_cpu_percent_single_lcore (-l 0: the main lcore
      forwards) and meshgate_idle_cpu_percent_poll (idle mode poll, for
      scale: a whole core).
  meshgate_adaptive_vs_poll_ratio [adaptive]: established.pcap through
      bench_mesh.conf in the default idle mode over the same with
      idle = { mode = "poll"; }: BENCH_PAIRS (3) pairs, the two configs
      alternating, each pair's rates printed; the figure is the median
      of the pairs' ratios (target >= 0.98: under load a worker never
      idles).
  meshgate_footprint_mb [footprint]: etc/meshgate.conf (memory_mb =
      64, 65,536 connections; its port swapped for net_pcap0) on
      hugepages of its own (a private hugetlbfs; pages reserved for the
      run if too few are free, then given back), -l 0,1: the hugepages
      the process maps (Shared_Hugetlb + Private_Hugetlb of
      /proc/PID/smaps) plus its VmRSS, in MiB, once it forwards (target
      <= 64); meshgate_footprint_hugepages_mb and meshgate_footprint_rss_mb
      are the two parts.
  meshgate_reload_max_gap_us, meshgate_reload_max_gap_worst_us,
  machine_max_gap_us [reload]: single lcore (-l 0, the main lcore
      forwards on CPU 0; the control thread compiles on another),
      idle mode poll, tests/configs/l7_many_patterns.conf (10,000
      patterns), bench.pcap replayed with infinite_rx, BENCH_PAIRS (3)
      SIGHUP reloads of the same file one after another: after each
      has put the new ruleset in force, the worker's longest stall
      between two poll rounds since that reload began
      (reload_stall_max_us of /meshgate/stats), each logged with how
      long the reload took; the median (target <= 1000) and the worst.
      machine_max_gap_us: then, with the gateway stopped, the longest
      a bare Python loop on CPU 0 stood still over as long as the
      longest reload took, every other CPU kept busy by a loop as the
      compile kept it: the floor this machine puts under any poll
      loop's stall (a host that deschedules the virtual CPU shows
      there, not in the gateway's own code).

Environment:
  BENCH_SECONDS  measurement window, s (5)     BENCH_WARMUP  warm-up, s (2)
  BENCH_FLOWS    flows in bench.pcap (1024)    BENCH_PCAP    capture to use
                                                 for the first three runs
  BENCH_ONLY     runs, comma-separated (names above); default all
  BENCH_L7_RUNS  runs of each l7 config, alternating (3)
  BENCH_PAIRS    rounds of every rate run, alternating pairs (3)
  BENCH_ESP_RUNS pairs of each esp group, alternating (3)
  CRYPTOPERF     (dpdk-test-crypto-perf)
  BENCH_HUGE     1 use hugepages, 0 --no-huge, auto (default): hugepages
                 when hugetlbfs has the run's memory (>= 1 GiB) free
  BENCH_IDLE_SECONDS (10)
  BENCH_ONCE_LIFETIME  bound on a replay-once run next to testpmd
                 (established2way*, testpmd_newflows_replay), s (300)
  MESHGATE_BIN   (build/app/meshgate)          TESTPMD (dpdk-testpmd)
  BENCH_BEFORE   a built checkout of a8d852c (group before; unset: skipped)

Captures are generated on first use into build/bench/ (gen_pcaps.py,
gen_bench_pcaps.py) and again whenever their generator is newer.
One group: BENCH_ONLY=established2way BENCH_SECONDS=2 scripts/bench.sh
To add a figure, add a run to run() below (Bench.run_testpmd or
Bench.run_meshgate for a rate, Bench.run_newflows for a replay once), then
a ratio line if it compares.

Every child runs under timeout(1) (a bounded life even if this program is
killed) and is stopped with SIGINT, then SIGKILL; the EAL file prefixes
and the work directory are removed on every exit, Ctrl-C and SIGTERM
included. scripts/bench.sh execs this program.
"""

import gzip
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
CONFIGS = os.path.join(ROOT, "tests", "configs")
PY = "/usr/bin/python3"
sys.path.insert(0, SCRIPTS)
import mg_telemetry  # noqa: E402

BENCH_DIR = os.path.join(ROOT, "build", "bench")
# What gen_bench_pcaps.py writes by default; the configs are sized for it.
EST_CONNS = 10000
EST_FRAMES = 120000
NEW_SYNS = 200000
TWO_WAY_1M_CONNS = 1000000
L7_EST_CONNS = 10000
L7_EST_REQUESTS = 300000
L7_NEW_CONNS = 100000
ONCE_CONNS = 5000
ONCE_ROUNDS = 10
ESP_FRAME = 1400        # bytes a packet counts for, as cryptoperf's
ESP_OPS = 4000000       # cryptoperf operations a run

READY_WAIT = 20         # s for EAL start-up and the first reply
STOP_WAIT = 10          # s between SIGINT and SIGKILL
IDLE_MS = 500           # --exit-on-idle of the replay-once runs


def log(*words):
    print("bench:", *words, file=sys.stderr, flush=True)


def bench(name, value):
    """One figure on stdout: `BENCH name value`."""
    print("BENCH %s %s" % (name, value), flush=True)


def median(values):
    """The middle value (the lower middle of an even count, as the old
    driver's sort | awk)."""
    v = sorted(values)
    return v[(len(v) + 1) // 2 - 1]


def pcap_frames(path):
    """Frames in a classic pcap file (every record's length read)."""
    n = 0
    with open(path, "rb") as f:
        f.seek(24)
        rec = struct.Struct("<IIII")
        while True:
            head = f.read(16)
            if len(head) < 16:
                return n
            f.seek(rec.unpack(head)[2], os.SEEK_CUR)
            n += 1


def conf_mbufs(conf):
    """Pool size a meshgate config asks for (mempool.mbufs), else 16383."""
    with open(conf) as f:
        for line in f:
            w = line.split()
            if len(w) >= 3 and w[0] == "mbufs" and w[1] == "=":
                return int(w[2].split(";")[0])
    return 16383


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()[-n:]
    except OSError:
        lines = []
    sys.stderr.write("".join(lines))
    sys.stderr.flush()


def child_of(pid):
    """The first child of process pid (timeout(1)'s command), or None."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


class Failed(Exception):
    """A run gave no figure; the message says why (logged by the caller)."""


class Bench:
    """One bench run: its settings, children, EAL prefixes and figures.
    Every child goes through start(); cleanup() stops what is left and
    removes the prefixes and the work directory, on every exit path."""

    def __init__(self):
        env = os.environ
        self.meshgate = env.get("MESHGATE_BIN",
                                os.path.join(ROOT, "build/app/meshgate"))
        self.testpmd = env.get("TESTPMD", "dpdk-testpmd")
        self.cryptoperf = env.get("CRYPTOPERF", "dpdk-test-crypto-perf")
        self.window = float(env.get("BENCH_SECONDS", "5"))
        self.warmup = float(env.get("BENCH_WARMUP", "2"))
        self.flows = int(env.get("BENCH_FLOWS", "1024"))
        self.only = env.get("BENCH_ONLY", "")
        self.pcap = env.get("BENCH_PCAP",
                            os.path.join(BENCH_DIR, "bench.pcap"))
        self.l7_runs = int(env.get("BENCH_L7_RUNS", "3"))
        self.pairs = int(env.get("BENCH_PAIRS", "3"))
        self.esp_runs = int(env.get("BENCH_ESP_RUNS", "3"))
        self.idle_seconds = float(env.get("BENCH_IDLE_SECONDS", "10"))
        self.huge = env.get("BENCH_HUGE", "auto")
        # Bound on any process's life: start-up, warm-up, window, stop,
        # slack.
        self.lifetime = int(self.warmup + self.window + 0.999) + \
            READY_WAIT + STOP_WAIT + 20
        # a replay once of the largest capture (7,000,000 frames) on a
        # busy machine
        self.once_lifetime = int(env.get("BENCH_ONCE_LIFETIME", "300"))
        self.work = tempfile.mkdtemp(prefix="mg-bench.")
        self.procs = []
        self.prefixes = []
        self.values = {}        # figure -> its value in each round
        self.shown = {}         # figure -> (printed name, format)
        self.failed = False
        self.ran = 0
        self.serial = 0

    # ------------------------------------------------ processes

    def prefix(self, name):
        """A fresh EAL --file-prefix, removed at the end."""
        self.serial += 1
        p = "mgb-%s-%d-%d" % (name, os.getpid(), self.serial)
        self.prefixes.append(p)
        return p

    def path(self, name):
        return os.path.join(self.work, name)

    def start(self, logname, argv, lifetime=None):
        """argv in the background under timeout(1) (SIGINT at its
        lifetime, SIGKILL STOP_WAIT s later), output to the work dir."""
        out = open(self.path(logname), "wb")
        try:
            p = subprocess.Popen(
                ["timeout", "--signal=INT", "--kill-after=%d" % STOP_WAIT,
                 str(lifetime or self.lifetime)] + argv,
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        finally:
            out.close()
        self.procs.append(p)
        return p

    def stop(self, p):
        """SIGINT, then SIGKILL after STOP_WAIT seconds; reaps it."""
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                log("pid %d ignored SIGINT for %ds, killing it"
                    % (p.pid, STOP_WAIT))
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def wait(self, p):
        """Waits for p (bounded by its timeout(1)); its exit status."""
        rc = p.wait()
        if p in self.procs:
            self.procs.remove(p)
        return rc

    def cleanup(self):
        for p in list(self.procs):
            try:
                self.stop(p)
            except Exception as err:  # keep cleaning
                log("stopping pid %d: %s" % (p.pid, err))
        for p in self.prefixes:
            shutil.rmtree(mg_telemetry.runtime_dir(p), ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------ options

    def want(self, group):
        return not self.only or group in self.only.split(",")

    def have_meshgate(self, name):
        if os.access(self.meshgate, os.X_OK):
            return True
        log("%s: %s not built" % (name, self.meshgate))
        self.failed = True
        return False

    def eal_mem(self, mbufs, extra_mb=0):
        """Memory options for a pool of `mbufs` mbufs (~4.2 KiB each)
        plus 256 MiB (and extra_mb) for the rest, at least 512 MiB."""
        mb = (256 + extra_mb + (mbufs * 4352 + 1048575) // 1048576 + 127) \
            // 128 * 128
        mb = max(mb, 512)
        huge = self.huge
        if huge == "auto":
            huge = "0"
            with open("/proc/mounts") as f:
                mounted = "hugetlbfs" in f.read()
            if mounted:
                info = {}
                with open("/proc/meminfo") as f:
                    for line in f:
                        k, v = line.split(":", 1)
                        info[k] = int(v.split()[0])
                free_kb = info.get("HugePages_Free", 0) * \
                    info.get("Hugepagesize", 0)
                if free_kb >= 1048576 and free_kb >= mb * 1024:
                    huge = "1"
        if huge == "1":
            return ["-m", str(mb)]
        return ["--no-huge", "-m", str(mb)]

    def eal_args(self, prefix, capture, infinite, mbufs, mem_mb=0):
        """EAL options shared by every run: lcore 1 forwards, a capture
        on net_pcap0 (infinite_rx or once), net_null0 the sink; mem_mb
        more memory for what the pool does not count (flow tables)."""
        rx = "net_pcap0,rx_pcap=" + capture
        if infinite:
            rx += ",infinite_rx=1"
        return ["-l", "0,1", "--no-pci"] + self.eal_mem(mbufs, mem_mb) + \
            ["--file-prefix", prefix, "--log-level", "lib.*:error",
             "--vdev", rx, "--vdev", "net_null0,no-rx=1"]

    # ------------------------------------------------ measurement

    def measure(self, name, p, prefix, command, field, per=None):
        """(Mpps, delta(per) / delta(field)) over the window, sampled
        after the warm-up (mg_telemetry's one method); Failed if none."""
        try:
            with mg_telemetry.connect_when_ready(
                    prefix, command, field, READY_WAIT, proc=p) as tel:
                time.sleep(self.warmup)
                t0, r0 = time.monotonic(), tel.query(command)
                time.sleep(self.window)
                t1, r1 = time.monotonic(), tel.query(command)
            c0 = mg_telemetry.lookup(r0, field)
            c1 = mg_telemetry.lookup(r1, field)
            if c0 is None or c1 is None:
                raise ValueError("%s: no %s in the reply" % (command, field))
            ratio = None
            if per is not None:
                if c1 == c0:
                    raise ValueError("%s did not move in the window" % field)
                ratio = (mg_telemetry.lookup(r1, per) -
                         mg_telemetry.lookup(r0, per)) / (c1 - c0)
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            log("%s: no rate (%s); last lines of its log:" % (name, err))
            tail(self.path(name + ".log"))
            raise Failed(name)
        return float("%.3f" % ((c1 - c0) / (t1 - t0) / 1e6)), ratio

    def record(self, name, value, unit="_mpps", fmt="%.3f"):
        """One round's value of a figure (a rate in Mpps unless unit
        says otherwise; a name that already says its unit, as
        ..._mpps_scraped, keeps it), kept for the ratios; show() prints
        the median of the rounds."""
        self.ran += 1
        shown = name if not unit or unit in name else name + unit
        self.values.setdefault(name, []).append(value)
        self.shown[name] = (shown, fmt)
        log("%s round %d: %s" % (shown, len(self.values[name]),
                                 fmt % value))

    def show(self):
        """Each recorded figure: the median of its rounds."""
        for name, runs in self.values.items():
            shown, fmt = self.shown[name]
            bench(shown, fmt % median(runs))

    def ratio(self, name, num, den, scale=1.0):
        """NAME: the median of the rounds' num / den (x scale), each
        round's printed as a BENCH_PAIR line; rounds ran A and B
        alternately, on the same core."""
        a, b = self.values.get(num), self.values.get(den)
        if not a or not b or len(a) != len(b):
            return
        ratios = [x * scale / y if y > 0 else 0 for x, y in zip(a, b)]
        for r, (x, y, q) in enumerate(zip(a, b, ratios), 1):
            print("BENCH_PAIR %s %d %s %s %s %s ratio %.3f" % (
                name, r, num, self.shown[num][1] % x, den,
                self.shown[den][1] % y, q), flush=True)
        bench(name, "%.3f" % median(ratios))

    def check_stats(self, name, stats, flows_expected=None):
        """A benchmark is not a test, but drops or a wrong number of
        admitted connections under load are worth a shout (the figure is
        still printed); a leak (mempool in_use != 0 after the stop) or an
        unreadable stats file fails the run. Returns the stats or None."""
        if not os.path.exists(stats) or os.path.getsize(stats) == 0:
            log("%s: no --stats-json written" % name)
            return None
        try:
            with open(stats) as f:
                s = json.load(f)
            in_use = s["mempool"]["in_use"]
            if in_use != 0 or s["drops_total"] != 0:
                log("%s: mempool in_use %d, drops %s" % (
                    name, in_use, {k: v for k, v in s["drops"].items()
                                   if v}))
            if flows_expected is not None and \
                    s.get("flows_created") != flows_expected:
                log("%s: %s flows created, expected %s" % (
                    name, s.get("flows_created"), flows_expected))
        except (OSError, ValueError, KeyError, TypeError) as err:
            log("%s: %s unreadable (%s)" % (name, stats, err))
            self.failed = True
            return None
        if in_use != 0:
            log("%s: mbufs leaked" % name)
            self.failed = True
        return s

    # ------------------------------------------------ rate runs

    def run_testpmd(self, mode, name, capture, group=None):
        """testpmd --forward-mode=MODE on lcore 1, capture replayed with
        infinite_rx; group is its BENCH_ONLY name (default name)."""
        if not self.want(group or name):
            return
        prefix = self.prefix(name)
        # infinite_rx preloads the whole capture into mbufs of the rx pool
        mbufs = pcap_frames(capture) + 16384
        p = self.start(name + ".log", [self.testpmd] + self.eal_args(
            prefix, capture, True, mbufs) + [
            "--", "--forward-mode=" + mode, "--auto-start", "--nb-cores=1",
            "--total-num-mbufs=%d" % mbufs, "--stats-period", "3600"])
        try:
            self.record(name, self.measure(name, p, prefix, "/ethdev/stats,0",
                                           "ipackets")[0])
        except Failed:
            self.failed = True
        finally:
            self.stop(p)

    def start_meshgate(self, name, conf, capture, infinite, extra=(),
                       mem_mb=0, lifetime=None):
        prefix = self.prefix(name)
        stats = self.path(name + ".json")
        p = self.start(name + ".log", [self.meshgate] + self.eal_args(
            prefix, capture, infinite, conf_mbufs(conf), mem_mb) +
            ["--", "-f", conf, "--stats-json", stats] + list(extra),
            lifetime)
        return p, prefix, stats

    def run_meshgate(self, conf, name, capture, group=None,
                     flows_expected=None, scrape_url=None):
        """meshgate with conf replaying capture forever; its worker is
        lcore 1. With flows_expected, also prints NAME_cycles_per_pkt and
        checks that so many connections were admitted."""
        if not self.want(group or name) or not self.have_meshgate(name):
            return
        per = "busy_cycles" if flows_expected is not None else None
        p, prefix, stats = self.start_meshgate(name, conf, capture, True)
        stop_scraping = threading.Event()
        scraper = None
        if scrape_url:
            # a Prometheus-like scraper: /metrics (gzip) once a second
            # for as long as meshgate runs
            scraper = threading.Thread(target=scrape, daemon=True, args=(
                scrape_url, stop_scraping, self.lifetime))
            scraper.start()
        try:
            mpps, cycles = self.measure(name, p, prefix, "/meshgate/stats",
                                        "rx", per)
            self.record(name, mpps)
            if per:
                self.record(name + "_cycles_per_pkt", cycles, "", "%.1f")
        except Failed:
            self.failed = True
        finally:
            stop_scraping.set()
            self.stop(p)
            if scraper:
                scraper.join(5)
        self.check_stats(name, stats, flows_expected)

    def run_once(self, name, conf, capture):
        """meshgate replays capture once and stops on its own
        (--exit-on-idle); its --stats-json, or Failed."""
        p, prefix, stats = self.start_meshgate(
            name, conf, capture, False, ["--exit-on-idle", str(IDLE_MS)])
        rc = self.wait(p)
        return self.once_result(name, rc, stats)

    def once_result(self, name, rc, stats):
        if rc != 0 or not os.path.exists(stats) or \
                os.path.getsize(stats) == 0:
            log("%s: exit status %d; last lines of its log:" % (name, rc))
            tail(self.path(name + ".log"))
            raise Failed(name)
        with open(stats) as f:
            return json.load(f)

    def run_newflows(self, conf, name, capture, flows_expected):
        """NAME_per_s = flows_created / busy_s of a replay once (busy_s:
        the worker's time in rounds that received packets, pcap reading
        included)."""
        if not self.want("newflows") or not self.have_meshgate(name):
            return
        try:
            s = self.run_once(name, conf, capture)
        except Failed:
            self.failed = True
            return
        value = s["flows_created"] / s["busy_s"] if s["busy_s"] else 0
        self.record(name, value, "_per_s", "%.0f")
        self.check_stats(name, self.path(name + ".json"), flows_expected)

    # ------------------------------------------------ replays once, next
    # to testpmd: both pay the same pcap reading

    def testpmd_once(self, mode, name, capture, frames, mem_mb=0,
                     window=None):
        """testpmd --forward-mode=MODE replaying capture ONCE on lcore 1.
        Without window: its Mpps over its busy cycles for the whole
        capture (--record-core-cycles: the forwarding rounds that
        received packets, pcap reading included, as meshgate's busy_s).
        With window (first, last): its rx rate between the first sample
        past frame `first` and the first past frame `last` (data_rate)."""
        prefix = self.prefix(name)
        p = self.start(name + ".log", [self.testpmd] + self.eal_args(
            prefix, capture, False, 16384, mem_mb=mem_mb) + [
            "--", "--forward-mode=" + mode, "--auto-start", "--nb-cores=1",
            "--total-num-mbufs=16384", "--record-core-cycles",
            # without it, testpmd reads and frees what the queue holds
            # (up to a second of the capture) before forwarding starts
            "--no-flush-rx", "--stats-period", "3600"],
            lifetime=self.once_lifetime)
        rate = None
        try:
            with mg_telemetry.connect_when_ready(
                    prefix, "/ethdev/stats,0", "ipackets", READY_WAIT,
                    proc=p) as tel:
                def count():
                    return tel.query("/ethdev/stats,0")["ipackets"]
                if window:
                    rate = self.data_rate(count, *window, frames)
                deadline = time.monotonic() + self.once_lifetime
                while count() < frames:
                    if time.monotonic() > deadline or p.poll() is not None:
                        raise ValueError("not every frame received")
                    time.sleep(0.05)
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            log("%s: %s; last lines of its log:" % (name, err))
            tail(self.path(name + ".log"))
            self.stop(p)
            raise Failed(name)
        # SIGINT: testpmd stops forwarding and prints its statistics
        self.stop(p)
        with open(self.path(name + ".log"), errors="replace") as f:
            m = re.search(r"CPU cycles/packet=([0-9.]+) \(total cycles=(\d+)"
                          r" / total \S+ packets=(\d+)\) at (\d+) MHz",
                          f.read())
        if not m or int(m.group(2)) == 0 or int(m.group(3)) != frames:
            log("%s: no cycle count for %d frames; last lines of its log:"
                % (name, frames))
            tail(self.path(name + ".log"))
            raise Failed(name)
        cycles, mhz = int(m.group(2)), int(m.group(4))
        log("%s: %d frames in %.3f busy s (%s cycles a frame)%s"
            % (name, frames, cycles / mhz / 1e6, m.group(1),
               "" if rate is None else "; %.3f Mpps in the window" % rate))
        return rate if window else frames * mhz / cycles

    def data_rate(self, count, first, last, frames):
        """Mpps between two samples of count() (a receive counter polled
        every millisecond): the first at or past frame `first`, the
        second at or past frame `last`. The replay feeds the worker
        flat out between the two, so the wall time is its busy time;
        meshgate and testpmd are measured over the same frames. A second
        sample taken once all `frames` were received may include idle
        time (this poller was not scheduled in time): no figure then."""
        deadline = time.monotonic() + self.once_lifetime
        samples = []
        for mark in (first, last):
            while True:
                t, n = time.monotonic(), count()
                if n >= mark:
                    samples.append((t, n))
                    break
                if time.monotonic() > deadline:
                    raise ValueError("%d of %d frames received" % (n, mark))
                time.sleep(0.001)
        (t0, n0), (t1, n1) = samples
        if t1 <= t0 or n1 <= n0:
            raise ValueError("no frames between the samples")
        if n1 >= frames:
            raise ValueError("the replay was over at the second sample "
                             "(the machine too busy to sample in time)")
        return (n1 - n0) / (t1 - t0) / 1e6

    def meshgate_2way(self, name, conf, capture, frames, window, conns,
                      mem_mb):
        """meshgate replaying capture ONCE (--exit-on-idle); its rx rate
        over window (data_rate, /meshgate/stats rx). Logs lcore 1's busy
        cycles per frame over the same samples. Shouts unless every frame
        was forwarded, none dropped and every connection admitted once."""
        # a longer idle: the samples are read before the gateway goes
        p, prefix, stats = self.start_meshgate(
            name, conf, capture, False, ["--exit-on-idle", "3000"],
            mem_mb=mem_mb, lifetime=self.once_lifetime)
        lcores = []
        try:
            with mg_telemetry.connect_when_ready(
                    prefix, "/meshgate/lcores", "1", READY_WAIT,
                    proc=p) as tel:
                def count():
                    lcores.append(tel.query("/meshgate/lcores")["1"])
                    return lcores[-1]["rx"]
                rate = self.data_rate(count, *window, frames)
        except (OSError, TimeoutError, ValueError, KeyError,
                TypeError) as err:
            log("%s: no rate (%s); last lines of its log:" % (name, err))
            tail(self.path(name + ".log"))
            self.stop(p)
            raise Failed(name)
        rc = self.wait(p)
        s = self.once_result(name, rc, stats)
        self.check_stats(name, stats, conns)
        if s["rx"] != frames or s["tx"] != frames:
            log("%s: rx %d, tx %d of %d frames: not every frame of both "
                "directions was forwarded" % (name, s["rx"], s["tx"], frames))
        # data_rate's two samples: the first at or past window[0], and
        # the last of all
        a = next(c for c in lcores if c["rx"] >= window[0])
        b = lcores[-1]
        if b["rx"] > a["rx"]:
            log("%s: %.3f Mpps, %.0f busy cycles a frame in the window"
                % (name, rate, (b["busy_cycles"] - a["busy_cycles"]) /
                   (b["rx"] - a["rx"])))
        return rate

    def run_2way(self, group, name, conf, capture, conns, mem_mb=0):
        """BENCH_PAIRS alternating pairs of testpmd 5tswap and meshgate on
        the same capture replayed once, each measured over the same
        frames: from the first data segment (after the handshakes) to
        80% of the way to the end; prints every pair, the medians and
        the median of the pairs' ratios."""
        if not self.want(group) or not self.have_meshgate(name):
            return
        frames = pcap_frames(capture)
        first = 3 * conns       # the handshakes come first
        window = (first, first + (frames - first) * 8 // 10)
        tp, mg, ratios = [], [], []
        tp_name = "testpmd_5tswap_" + name[len("meshgate_"):]
        for r in range(1, self.pairs + 1):
            try:
                t = self.testpmd_once("5tswap", "%s-%d" % (tp_name, r),
                                      capture, frames, mem_mb, window)
                m = self.meshgate_2way("%s-%d" % (name, r), conf, capture,
                                       frames, window, conns, mem_mb)
            except Failed:
                self.failed = True
                return
            tp.append(t)
            mg.append(m)
            ratios.append(m / t if t > 0 else 0)
            print("BENCH_PAIR %s %d testpmd_5tswap %.3f meshgate %.3f ratio "
                  "%.3f" % (group, r, t, m, ratios[-1]), flush=True)
        self.ran += 1
        bench(tp_name + "_mpps", "%.3f" % median(tp))
        bench(name + "_mpps", "%.3f" % median(mg))
        bench(name + "_vs_5tswap_ratio", "%.3f" % median(ratios))

    def run_newflows_replay(self, capture):
        """testpmd io replaying newflows.pcap once: what the replay alone
        costs a frame, next to meshgate_new_flows_per_s (same reading)."""
        if not self.want("newflows"):
            return
        name = "testpmd_newflows_replay"
        try:
            v = self.testpmd_once("io", name, capture, pcap_frames(capture))
        except Failed:
            self.failed = True
            return
        self.record(name, v)

    # ------------------------------------------------ layer 7

    def l7_once(self, conf, name, capture):
        """A replay once; meanwhile, once every frame is handled, reads
        /meshgate/policies (the decisions are not in the stats file).
        Returns (stats, policies or None)."""
        frames = pcap_frames(capture)
        p, prefix, stats = self.start_meshgate(
            name, conf, capture, False, ["--exit-on-idle", str(IDLE_MS)])
        policies = None
        try:
            with mg_telemetry.connect_when_ready(
                    prefix, "/meshgate/stats", "rx", READY_WAIT,
                    proc=p) as tel:
                deadline = time.monotonic() + READY_WAIT
                while time.monotonic() < deadline:
                    s = tel.query("/meshgate/stats")
                    if s["rx"] >= frames and \
                            s["tx"] + s["drops_total"] >= frames:
                        break
                    time.sleep(0.02)
                policies = tel.query("/meshgate/policies")
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            log("%s: policies not read: %s" % (name, err))
        rc = self.wait(p)
        return self.once_result(name, rc, stats), policies

    def run_l7(self, group, name, capture, kind, conns, requests):
        """capture through bench_l7.conf and bench_l7_off.conf,
        alternating, l7_runs times each; the median of each, and the
        median of the pairs' ratios. kind: mpps (rx / busy_s) or flows
        (flows_created / busy_s)."""
        if not self.want(group) or not self.have_meshgate(name):
            return
        unit = "_mpps" if kind == "mpps" else "_per_s"
        fmt = "%.3f" if kind == "mpps" else "%.0f"
        l4_busy = []
        for r in range(1, self.l7_runs + 1):
            for tag in ("on", "off"):
                conf = os.path.join(CONFIGS, "bench_l7.conf" if tag == "on"
                                    else "bench_l7_off.conf")
                run = "%s-%s-%d" % (name, tag, r)
                try:
                    s, policies = self.l7_once(conf, run, capture)
                except Failed:
                    self.failed = True
                    return
                n = s["rx"] / 1e6 if kind == "mpps" else s["flows_created"]
                v = n / s["busy_s"] if s["busy_s"] else 0
                self.record(name if tag == "on" else name + "_l4_only",
                            float(fmt % v), unit, fmt)
                self.check_stats(run, self.path(run + ".json"), conns)
                if tag == "on":
                    self.l7_inspected(policies, "%s-%d" % (name, r),
                                      requests)
                else:
                    l4_busy.append(s["busy_s"])
        self.ratio("meshgate_l7_vs_l4_%s_ratio" % name[len("meshgate_l7_"):],
                   name, name + "_l4_only")
        if group == "l7_established":
            self.l7_floor(median(l4_busy), requests)

    def l7_floor(self, l4_busy_s, requests):
        """What layer 7 may cost a request for meshgate_l7_vs_l4 0.9 (a
        ninth of the L4-only run's busy time, over its requests), next to
        what Hyperscan alone costs one (tests/bench/hs_cost.c: the scans
        of a bench_l7.conf request, on the worker's core)."""
        tool = os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(self.meshgate))), "tests", "hs_cost")
        bench("meshgate_l7_budget_ns_per_request",
              "%.1f" % (l4_busy_s * 1e9 * (1 / 0.9 - 1) / requests))
        if not os.path.exists(tool):
            log("l7_established: no %s (ninja -C build)" % tool)
            return
        out = subprocess.run(["taskset", "-c", "1", tool],
                             capture_output=True, text=True, timeout=120)
        m = re.search(r"hs_ns_per_request ([0-9.]+)", out.stdout)
        if out.returncode != 0 or not m:
            log("l7_established: hs_cost failed: %s" % out.stderr.strip())
            self.failed = True
            return
        bench("hyperscan_ns_per_request", m.group(1))

    @staticmethod
    def l7_inspected(reply, name, want):
        """Shouts unless the L7 run decided every request (allows of
        bench-api: one per request, plus one per connection if the SYN's
        admission is counted too)."""
        entries = (reply or {}).values()
        allow = sum(e.get("allow", 0) for e in entries
                    if e.get("rule") == "bench-api")
        denied = sum(e.get("deny", 0) for e in entries)
        if allow < want or denied:
            log("%s: bench-api allowed %d (want >= %d requests), %d "
                "denied: not every request was inspected"
                % (name, allow, want, denied))

    # ------------------------------------------------ alternating pairs

    def rate_run(self, conf, name, capture, stats_name):
        """meshgate's rx rate (Mpps) on capture replayed forever; its
        --stats-json is written to the work dir as stats_name.json."""
        prefix = self.prefix(name)
        stats = self.path(stats_name + ".json")
        p = self.start(name + ".log", [self.meshgate] + self.eal_args(
            prefix, capture, True, conf_mbufs(conf)) +
            ["--", "-f", conf, "--stats-json", stats])
        try:
            return self.measure(name, p, prefix, "/meshgate/stats", "rx")[0]
        finally:
            self.stop(p)

    def run_pairs(self, group, name, conf_a, pcap_a, conf_b, pcap_b, share,
                  b_says=None):
        """BENCH_PAIRS alternating pairs of rate runs (A then B, same
        core, same window); each pair's ratio is (B's rate x share) / A's
        rate, share the part of B's input that counts. Prints the pairs
        and their median as NAME; returns the B runs' stats files. With
        b_says, each B run's log must contain it (what makes B differ)."""
        if not self.want(group) or not self.have_meshgate(name):
            return []
        rows, b_stats = [], []
        for r in range(1, self.pairs + 1):
            try:
                a = self.rate_run(conf_a, name + "-a", pcap_a,
                                  "%s-a-%d" % (name, r))
                b = self.rate_run(conf_b, name + "-b", pcap_b,
                                  "%s-b-%d" % (name, r))
                if b_says is not None:
                    with open(self.path(name + "-b.log"), "rb") as f:
                        if b_says.encode() not in f.read():
                            log("%s-b-%d: its log never says %r" %
                                (name, r, b_says))
                            raise Failed()
            except Failed:
                self.failed = True
                return []
            self.check_stats("%s-a-%d" % (name, r),
                             self.path("%s-a-%d.json" % (name, r)))
            b_stats.append(self.path("%s-b-%d.json" % (name, r)))
            rows.append((a, b))
        self.ran += 1
        ratios = [b * share / a for a, b in rows]
        for r, ((a, b), q) in enumerate(zip(rows, ratios), 1):
            print("BENCH_PAIR %s %d a %.3f b %.3f share %.3f ratio %.3f" %
                  (name, r, a, b, share, q), flush=True)
        bench(name, "%.3f" % statistics.median(ratios))
        return b_stats

    def run_before(self, before):
        """Issue 10's "no slower": the established and new-connection
        runs through a binary built from the tree before connection
        tracking (BEFORE: a checkout of a8d852c with its build/ built;
        its own tests/configs) and through this one, alternating in
        BENCH_PAIRS rounds on the same core and captures; each ratio is
        now over before, the median of the rounds'."""
        if not self.want("before") or not self.have_meshgate("before"):
            return
        old = os.path.join(before, "build/app/meshgate")
        if not os.access(old, os.X_OK):
            log("before: no %s (BENCH_BEFORE=%s)" % (old, before))
            self.failed = True
            return
        now = self.meshgate
        est, new = [], []
        try:
            for r in range(1, self.pairs + 1):
                row_est, row_new = [], []
                for tag, binary, tree in (("before", old, before),
                                          ("now", now, ROOT)):
                    def conf_of(n):
                        return os.path.join(tree, "tests/configs",
                                            n + ".conf")
                    self.meshgate = binary
                    name = "before_%s_%d" % (tag, r)
                    row_est.append(self.rate_run(
                        conf_of("bench_mesh"), name + "_est",
                        cap("established"), name + "_est"))
                    s = self.run_once(name + "_new",
                                      conf_of("bench_newflows"),
                                      cap("newflows"))
                    row_new.append(s["flows_created"] / s["busy_s"]
                                   if s["busy_s"] else 0)
                est.append(tuple(row_est))
                new.append(tuple(row_new))
        except Failed:
            self.failed = True
            return
        finally:
            self.meshgate = now
        self.ran += 1
        for name, rows, fmt in (
                ("meshgate_established_vs_before_ratio", est, "%.3f"),
                ("meshgate_new_flows_vs_before_ratio", new, "%.0f")):
            ratios = [b / a for a, b in rows]
            for r, ((a, b), q) in enumerate(zip(rows, ratios), 1):
                print(("BENCH_PAIR %s %d before " + fmt + " now " + fmt +
                       " ratio %.3f") % (name, r, a, b, q), flush=True)
            bench(name, "%.3f" % statistics.median(ratios))

    def synflood_peak(self, b_stats):
        """The half-open peak of the flood runs, next to the budget; fails
        when the peak passed it."""
        if not self.want("synflood") or not b_stats:
            return
        try:
            runs = []
            for path in b_stats:
                with open(path) as f:
                    runs.append(json.load(f))
            peak = max(s["overload"]["half_open_peak"] for s in runs)
            budget = runs[0]["overload"]["half_open_budget"]
        except (OSError, ValueError, KeyError) as err:
            log("synflood: no half-open peak (%s)" % err)
            self.failed = True
            return
        bench("meshgate_synflood_half_open_peak", "%d" % peak)
        bench("meshgate_half_open_budget", "%d" % budget)
        if peak > budget:
            self.failed = True

    # ------------------------------------------------ ESP

    def esp_busy_rate(self, name, prefix, p):
        """meshgate's lcore 1 over the window: rx per second of its busy
        cycles (Mpps: the rounds that received something, ESP decryption
        and encryption included, as the worker counts them in
        busy_cycles of /meshgate/lcores), its raw rate and busy ratio
        (busy cycles over the window's: under 1 when its feed, not the
        worker, sets the pace)."""
        try:
            with mg_telemetry.connect_when_ready(
                    prefix, "/meshgate/lcores", "1", READY_WAIT,
                    proc=p) as tel:
                time.sleep(self.warmup)
                t0, a = time.monotonic(), tel.query("/meshgate/lcores")["1"]
                time.sleep(self.window)
                t1, b = time.monotonic(), tel.query("/meshgate/lcores")["1"]
            rx = b["rx"] - a["rx"]
            busy = b["busy_cycles"] - a["busy_cycles"]
            hz = (b["elapsed_cycles"] - a["elapsed_cycles"]) / (t1 - t0)
            if rx <= 0 or busy <= 0:
                raise ValueError("no packets in the window")
        except (OSError, TimeoutError, ValueError, KeyError,
                TypeError) as err:
            log("%s: no rate (%s); last lines of its log:" % (name, err))
            tail(self.path(name + ".log"))
            raise Failed(name)
        return (rx * hz / busy / 1e6, rx / (t1 - t0) / 1e6,
                busy / (hz * (t1 - t0)))

    def esp_meshgate(self, direction, name):
        """One meshgate ESP run (encrypt or decrypt); its Gbps."""
        conf = os.path.join(CONFIGS, "bench_esp.conf")
        prefix = self.prefix(name)
        stats = self.path(name + ".json")
        gen = None
        esp_enc = os.path.join(BENCH_DIR, "esp_encrypt.pcap")
        esp_gen = os.path.join(BENCH_DIR, "esp_gen.pcap")
        if direction == "decrypt":
            # the generator: another gateway on lcore 0 that encrypts
            gen_prefix = self.prefix(name + "-gen")
            sock = self.path("memif-%d.sock" % self.serial)
            with open(conf) as f:
                text = f.read()
            text = text.replace('"keys/', '"%s/' % os.path.join(
                CONFIGS, "keys"))
            text = text.replace(
                'device = "net_pcap0"; profile = "pcap"; role = "edge"',
                'device = "net_memif0"; profile = "null"; role = "edge"')
            text += 'drivers_conf_dir = "%s";\n' % os.path.join(
                ROOT, "drivers-conf")
            conf = self.path(name + ".conf")
            with open(conf, "w") as f:
                f.write(text)
            mem = self.eal_mem(conf_mbufs(conf))
            gen = self.start(name + "-gen.log", [
                self.meshgate, "-l", "0", "--no-pci"] + mem + [
                "--file-prefix", gen_prefix, "--log-level", "lib.*:error",
                "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % esp_gen,
                "--vdev", "net_memif0,role=server,socket=%s,rsize=12" % sock,
                "--", "-f", os.path.join(CONFIGS, "bench_esp_gen.conf")])
            # the client's port fails to start without the server's socket
            deadline = time.monotonic() + READY_WAIT
            while not os.path.exists(sock) and gen.poll() is None and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            p = self.start(name + ".log", [
                self.meshgate, "-l", "0,1", "--no-pci"] + mem + [
                "--file-prefix", prefix, "--log-level", "lib.*:error",
                "--vdev", "net_memif0,role=client,socket=%s,rsize=12" % sock,
                "--vdev", "net_null0,no-rx=1", "--", "-f", conf,
                "--stats-json", stats])
        else:
            p = self.start(name + ".log", [self.meshgate] + self.eal_args(
                prefix, esp_enc, True, conf_mbufs(conf)) +
                ["--", "-f", conf, "--stats-json", stats])
        try:
            mpps, raw, busy = self.esp_busy_rate(name, prefix, p)
            log("%s: %.3f Mpps busy, raw and busy ratio: %.3f %.3f"
                % (name, mpps, raw, busy))
        finally:
            self.stop(p)
            if gen:
                self.stop(gen)
            self.check_stats(name, stats)
        return float("%.3f" % (float("%.3f" % mpps) * ESP_FRAME * 8 / 1000))

    def esp_cryptoperf(self, op, name):
        """dpdk-test-crypto-perf, AES-GCM-128 op (encrypt, decrypt) of
        1,400-byte buffers on lcore 1; its Gbps."""
        prefix = self.prefix(name)
        logpath = self.path(name + ".log")
        p = self.start(name + ".log", [
            self.cryptoperf, "-l", "0,1", "--no-pci"] + self.eal_mem(16384) +
            ["--file-prefix", prefix, "--log-level", "lib.*:error",
             "--vdev", "crypto_aesni_mb_bench", "--", "--ptest",
             "throughput", "--devtype", "crypto_aesni_mb", "--optype",
             "aead", "--aead-algo", "aes-gcm", "--aead-op", op,
             "--aead-key-sz", "16", "--aead-iv-sz", "12",
             "--aead-aad-sz", "8", "--digest-sz", "16", "--buffer-sz",
             str(ESP_FRAME), "--burst-sz", "32", "--pool-sz", "1024",
             "--total-ops", str(ESP_OPS), "--silent"])
        rc = self.wait(p)
        gbps = None
        if rc == 0:
            # the result row: lcore, buffer size, burst, enqueued,
            # dequeued, failed enqueues, failed dequeues, MOps, Gbps,
            # cycles a buffer
            with open(logpath, errors="replace") as f:
                for line in f:
                    w = line.split()
                    if len(w) >= 9 and w[0] == "1" and w[1] == str(ESP_FRAME):
                        gbps = w[8]
        if gbps is None:
            log("%s: %s failed; last lines of its log:"
                % (name, self.cryptoperf))
            tail(logpath)
            raise Failed(name)
        return gbps

    def run_esp(self, group, direction, op, name, ratio_name):
        """BENCH_ESP_RUNS pairs of meshgate and cryptoperf, alternating;
        prints every pair, the medians and the median of the pairs'
        ratios."""
        if not self.want(group) or not self.have_meshgate(name):
            return
        if shutil.which(self.cryptoperf) is None:
            log("%s: %s not found" % (group, self.cryptoperf))
            self.failed = True
            return
        mg, cp, ratios = [], [], []
        for r in range(1, self.esp_runs + 1):
            try:
                m = self.esp_meshgate(direction, "%s-%d" % (name, r))
                c = self.esp_cryptoperf(op, "cryptoperf-%s-%d" % (op, r))
            except Failed:
                self.failed = True
                return
            mg.append(m)
            cp.append(c)
            c = float(c)
            ratios.append(float("%.3f" % (m / c if c > 0 else 0)))
            log("%s pair %d: meshgate %.3f Gbps, cryptoperf %s Gbps, "
                "ratio %.3f" % (group, r, m, cp[-1], ratios[-1]))
            print("BENCH_PAIR %s %d meshgate %.3f cryptoperf %s ratio %.3f"
                  % (group, r, m, cp[-1], ratios[-1]), flush=True)
        self.ran += 1
        bench(name + "_gbps", "%.3f" % median(mg))
        bench("cryptoperf_aes_gcm128_gbps" if op == "encrypt" else
              "cryptoperf_aes_gcm128_decrypt_gbps",
              sorted(cp, key=float)[(len(cp) + 1) // 2 - 1])
        bench(ratio_name, "%.3f" % median(ratios))

    # ------------------------------------------------ the appliance

    def idle_conf(self, mode, out):
        """The bundled config with idle.mode MODE, its management endpoint
        off (runs may overlap a scraper's port)."""
        with open(os.path.join(ROOT, "app/meshgate/meshgate.conf")) as f:
            bundled = f.read()
        with open(out, "w") as f:
            f.write('drivers_conf_dir = "%s";\n' % os.path.join(
                ROOT, "drivers-conf"))
            f.write(bundled)
            if not bundled.endswith("\n"):
                f.write("\n")
            f.write('idle = { mode = "%s"; };\n' % mode)
            f.write('telemetry = { listen = "off"; };\n')

    def idle_cpu(self, name, lcores, mode):
        """% of one core the whole process used while idle."""
        conf = self.path(name + ".conf")
        self.idle_conf(mode, conf)
        p = self.start(name + ".log", [
            self.meshgate, "-l", lcores, "--no-pci", "--no-huge", "-m",
            "256", "--file-prefix", self.prefix(name), "--log-level",
            "lib.*:error", "--vdev", "net_pcap0,rx_pcap=" + self.pcap,
            "--", "-f", conf])
        try:
            # start-up, and the capture's few frames, are over well before
            time.sleep(3)
            mpid = child_of(p.pid)
            if p.poll() is not None or mpid is None:
                log("%s: meshgate exited; last lines of its log:" % name)
                tail(self.path(name + ".log"))
                self.failed = True
                return
            hz = os.sysconf("SC_CLK_TCK")
            t0 = cpu_ticks(mpid)
            time.sleep(self.idle_seconds)
            t1 = cpu_ticks(mpid)
        finally:
            self.stop(p)
        self.ran += 1
        bench(name, "%.2f" % (100 * (t1 - t0) / hz / self.idle_seconds))

    def run_adaptive(self, est_pcap):
        """The established rate in the default idle mode over idle mode
        poll: BENCH_PAIRS alternating pairs, the median of their
        ratios."""
        conf = os.path.join(CONFIGS, "bench_mesh.conf")
        poll_conf = self.path("bench_mesh_poll.conf")
        with open(conf) as f, open(poll_conf, "w") as out:
            out.write(f.read() + 'idle = { mode = "poll"; };\n')
        ratios = []
        for r in range(1, self.pairs + 1):
            try:
                a = self.rate_run(conf, "adaptive-%d" % r, est_pcap,
                                  "adaptive-%d" % r)
                q = self.rate_run(poll_conf, "poll-%d" % r, est_pcap,
                                  "poll-%d" % r)
            except Failed:
                log("adaptive pair %d: no rate" % r)
                self.failed = True
                continue
            ratios.append(float("%.4f" % (a / q if q > 0 else 0)))
            log("adaptive pair %d: adaptive %.3f Mpps, poll %.3f Mpps, "
                "ratio %.4f" % (r, a, q, ratios[-1]))
        if ratios:
            self.ran += 1
            bench("meshgate_adaptive_vs_poll_ratio", "%.3f" % median(ratios))

    def run_footprint(self):
        """etc/meshgate.conf on a hugetlbfs of its own (a private mount
        namespace: this program again, as `footprint-child`): the
        hugepages it maps plus its RSS, once it forwards."""
        with open(os.path.join(ROOT, "etc/meshgate.conf")) as f:
            text = f.read()
        for a, b in (('device = "0000:03:00.0";', 'device = "net_pcap0";'),
                     ('profile = "ixgbe";', 'profile = "pcap";'),
                     ('listen = "127.0.0.1:9469";', 'listen = "off";')):
            text = text.replace(a, b)
        fconf = self.path("footprint.conf")
        with open(fconf, "w") as f:
            f.write(text + 'drivers_conf_dir = "%s";\n'
                    % os.path.join(ROOT, "drivers-conf"))
        nr = "/proc/sys/vm/nr_hugepages"
        with open(nr) as f:
            before = int(f.read())
        free = meminfo("HugePages_Free")
        if free < 64:
            write_file(nr, str(before + 64 - free))
        huge = self.path("huge")
        os.makedirs(huge, exist_ok=True)
        flog = self.path("footprint.log")
        try:
            p = self.start("footprint-out.log", [
                "unshare", "--mount", "--propagation", "private", PY,
                os.path.abspath(__file__), "footprint-child", huge, flog,
                self.meshgate, "-l", "0,1", "--no-pci", "--file-prefix",
                self.prefix("footprint"), "--huge-dir", huge, "--log-level",
                "lib.*:error", "--vdev", "net_pcap0,rx_pcap=" + self.pcap,
                "--", "-f", fconf], lifetime=120)
            self.wait(p)
            with open(self.path("footprint-out.log"), errors="replace") as f:
                out = f.read().strip()
            m = re.fullmatch(r"(\d+) (\d+)", out)
            if m:
                self.ran += 1
                h, r = int(m.group(1)), int(m.group(2))
                bench("meshgate_footprint_mb", "%.1f" % ((h + r) / 1024))
                bench("meshgate_footprint_hugepages_mb", "%.1f" % (h / 1024))
                bench("meshgate_footprint_rss_mb", "%.1f" % (r / 1024))
                with open(flog, errors="replace") as f:
                    for line in f:
                        if "memory:" in line:
                            log(line.rstrip("\n"))
            else:
                log("footprint: no figure (%s); last lines of its log:"
                    % out)
                tail(flog)
                self.failed = True
        finally:
            with open(nr) as f:
                if int(f.read()) != before:
                    write_file(nr, str(before))

    def run_reload(self):
        """The worker's longest stall between poll rounds during each of
        BENCH_PAIRS SIGHUP reloads of 10,000 patterns, and the machine's
        own longest stall on that core over as long."""
        rconf = self.path("reload.conf")
        with open(os.path.join(CONFIGS, "l7_many_patterns.conf")) as f, \
                open(rconf, "w") as out:
            out.write(f.read() + 'idle = { mode = "poll"; };\n'
                      'telemetry = { listen = "off"; };\n')
        prefix = self.prefix("reload")
        rlog = self.path("reload.log")
        done = "new ruleset in force"
        # 1 + BENCH_PAIRS compiles of 10,000 patterns: seconds each
        p = self.start("reload.log", [
            self.meshgate, "-l", "0", "--no-pci", "--no-huge", "-m", "512",
            "--file-prefix", prefix, "--log-level", "lib.*:error",
            "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % self.pcap,
            "--", "-f", rconf], lifetime=600)
        gaps, took = [], []
        try:
            # the first load compiles for seconds before the worker starts
            wait_for_line(rlog, "forwarding on queue", 60, p)
            time.sleep(self.warmup)
            with mg_telemetry.connect_when_ready(
                    prefix, "/meshgate/stats", "rx", READY_WAIT,
                    proc=p) as tel:
                log("reload: longest stall %s us since start-up" %
                    tel.query("/meshgate/stats")["stall_max_us"])
                # to the gateway itself: timeout(1) would pass a SIGHUP
                # on and then kill its child after --kill-after
                mpid = child_of(p.pid)
                for k in range(1, self.pairs + 1):
                    t0 = time.monotonic()
                    if mpid is not None:
                        os.kill(mpid, signal.SIGHUP)
                    if not wait_for_line(rlog, done, 300, p, count=k):
                        break
                    took.append(time.monotonic() - t0)
                    gaps.append(tel.query("/meshgate/stats")
                                ["reload_stall_max_us"])
                    log("reload %d: %.2f s, longest stall %s us" %
                        (k, took[-1], gaps[-1]))
        except (OSError, TimeoutError, ValueError, KeyError) as err:
            log("reload: no telemetry (%s)" % err)
        finally:
            self.stop(p)
        if len(gaps) < self.pairs:
            log("reload: %d of %d reloads ended; last lines of its log:" %
                (len(gaps), self.pairs))
            tail(rlog)
            self.failed = True
            return
        self.ran += 1
        bench("meshgate_reload_max_gap_us", median(gaps))
        bench("meshgate_reload_max_gap_worst_us", max(gaps))
        bench("machine_max_gap_us", machine_max_gap_us(0, max(took)))


def machine_max_gap_us(cpu, seconds):
    """The longest a bare loop on CPU cpu stood still over seconds (s,
    at most 60), in us, while a loop keeps every other CPU busy as a
    reload's compile does: what this machine alone costs a poll loop
    there (a virtual CPU the host deschedules shows it; a busy wait's
    stall can be no shorter)."""
    seconds = min(seconds, 60.0)
    others = os.sched_getaffinity(0) - {cpu}
    spin = ("import os, sys, time\n"
            "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
            "t = time.perf_counter_ns\n"
            "prev = t(); end = prev + int(float(sys.argv[2]) * 1e9)\n"
            "worst = 0\n"
            "while prev < end:\n"
            "    now = t()\n"
            "    if now - prev > worst:\n"
            "        worst = now - prev\n"
            "    prev = now\n"
            "print(worst // 1000)\n")
    load = [subprocess.Popen([sys.executable, "-c", spin, str(c),
                              str(seconds + 1)], stdout=subprocess.DEVNULL)
            for c in sorted(others)]
    try:
        out = subprocess.run([sys.executable, "-c", spin, str(cpu),
                              str(seconds)], capture_output=True, text=True,
                             timeout=seconds + 30, check=True).stdout
    finally:
        for q in load:
            q.wait(timeout=seconds + 30)
    return int(out)

def scrape(url, stop, lifetime):
    """GETs url (gzip) once a second until stop is set, at most lifetime
    times; errors ignored (curl -s --compressed --max-time 1)."""
    for _ in range(lifetime):
        if stop.is_set():
            return
        try:
            req = urllib.request.Request(url,
                                         headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(req, timeout=1) as r:
                body = r.read()
                if r.headers.get("Content-Encoding") == "gzip":
                    gzip.decompress(body)
        except Exception:
            pass
        stop.wait(1)


def cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k == key:
                return int(v.split()[0])
    return 0


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def wait_for_line(path, text, seconds, p, count=1):
    """Whether text shows (count times) in file path within seconds
    (while p lives)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                if f.read().count(text) >= count:
                    return True
        except OSError:
            pass
        if p.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def footprint_child(argv):
    """In its own mount namespace: a hugetlbfs on argv[0], the gateway
    (argv[2:]) logging to argv[1]; prints "hugepages_kb rss_kb" once it
    forwards, then stops it."""
    huge, flog, cmd = argv[0], argv[1], argv[2:]
    if subprocess.call(["mount", "-t", "hugetlbfs", "-o", "size=256M",
                        "nodev", huge]) != 0:
        return 90
    with open(flog, "wb") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT)
    try:
        wait_for_line(flog, "forwarding on queue", 30, p)
        time.sleep(2)
        h = rss = 0
        with open("/proc/%d/smaps" % p.pid) as f:
            for line in f:
                if line.startswith(("Shared_Hugetlb:", "Private_Hugetlb:")):
                    h += int(line.split()[1])
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        print("%d %d" % (h, rss))
    except OSError as err:
        print("gone: %s" % err)
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return 0


def gen_if_stale(capture, gen, *args):
    """(Re)writes capture when missing or older than its generator."""
    if os.path.exists(capture) and os.path.getsize(capture) > 0 and \
            os.path.getmtime(gen) <= os.path.getmtime(capture):
        return
    log("generating %s" % capture)
    subprocess.run([PY, gen] + list(args), check=True,
                   stdout=sys.stderr)


def generate(b):
    """The captures the chosen groups need, into build/bench/."""
    gen = os.path.join(SCRIPTS, "gen_bench_pcaps.py")
    if any(b.want(g) for g in ("testpmd_io", "testpmd_5tswap",
                               "meshgate_fwd", "idle", "footprint",
                               "reload")):
        if not os.path.exists(b.pcap) or os.path.getsize(b.pcap) == 0:
            log("generating %s (%d flows)" % (b.pcap, b.flows))
            subprocess.run([PY, os.path.join(SCRIPTS, "gen_pcaps.py"),
                            os.path.dirname(b.pcap), "--only", "bench",
                            "--flows", str(b.flows)], check=True,
                           stdout=sys.stderr)
    if b.want("established") or b.want("adaptive"):
        gen_if_stale(cap("established"), gen, BENCH_DIR, "--only",
                     "established")
        n = pcap_frames(cap("established"))
        if n != EST_FRAMES:
            log("established.pcap: %d frames; bench_mesh.conf is sized "
                "for %d" % (n, EST_FRAMES))
    if b.want("newflows"):
        gen_if_stale(cap("newflows"), gen, BENCH_DIR, "--only", "newflows")
    # established2way_1m.pcap takes a minute or two: written once, kept
    for group in ("established2way", "established2way_1m"):
        if b.want(group):
            gen_if_stale(cap(group), gen, BENCH_DIR, "--only", group)
    for group in ("l7_established", "l7_newflows"):
        if b.want(group):
            gen_if_stale(cap(group), gen, BENCH_DIR, "--only", group)
    if b.want("synflood") or b.want("ratelimit") or b.want("shadow"):
        gen_if_stale(cap("est_once"), gen, BENCH_DIR, "--only", "est_once")
    if b.want("shadow"):
        shadow_confs()
    if b.want("synflood"):
        gen_if_stale(cap("synflood"), gen, BENCH_DIR, "--only", "synflood")
    if b.want("esp_encrypt") or b.want("esp_decrypt"):
        esp = os.path.join(SCRIPTS, "gen_esp_pcaps.py")
        gen_if_stale(cap("esp_encrypt"), esp, BENCH_DIR)
        gen_if_stale(cap("esp_gen"), esp, BENCH_DIR)
        # the configs name the test keys, which must be the owner's alone
        keys = os.path.join(CONFIGS, "keys")
        for k in os.listdir(keys):
            if k.endswith(".key"):
                os.chmod(os.path.join(keys, k), 0o600)


def shadow_confs():
    """build/bench/bench_shadow.conf: bench_synflood.conf with a live
    shadow, a candidate that differs in its policy (public refused)."""
    with open(conf("bench_synflood")) as f:
        text = f.read()
    policy = 'from = ["bench-callers", "public"];'
    if policy not in text:
        raise SystemExit("bench_synflood.conf: no %r to narrow" % policy)
    write_file(os.path.join(BENCH_DIR, "bench_shadow_candidate.conf"),
               text.replace(policy, 'from = ["bench-callers"];'))
    write_file(os.path.join(BENCH_DIR, "bench_shadow.conf"),
               text + '\nshadow = "bench_shadow_candidate.conf";\n')


def cap(name):
    return os.path.join(BENCH_DIR, name + ".pcap")


def conf(name):
    return os.path.join(CONFIGS, name + ".conf")


def run(b):
    """Every group, in the old driver's order."""
    generate(b)
    # the rate runs in BENCH_PAIRS rounds, each round every run once in
    # this order: testpmd and meshgate alternate on the same core, and
    # every ratio below is the median of the rounds' ratios
    for _ in range(b.pairs):
        b.run_testpmd("io", "testpmd_io", b.pcap)
        b.run_testpmd("5tswap", "testpmd_5tswap", b.pcap)
        b.run_meshgate(conf("bench"), "meshgate_fwd", b.pcap)
        b.run_testpmd("5tswap", "testpmd_5tswap_established",
                      cap("established"), "established")
        b.run_meshgate(conf("bench_mesh"), "meshgate_established",
                       cap("established"), "established", EST_CONNS)
        b.run_newflows_replay(cap("newflows"))
        b.run_newflows(conf("bench_newflows"), "meshgate_new_flows",
                       cap("newflows"), NEW_SYNS)
        # the established run again while /metrics is scraped every
        # second (the configs serve it on the default 127.0.0.1:9469)
        b.run_meshgate(conf("bench_mesh"),
                       "meshgate_established_mpps_scraped",
                       cap("established"), "established", EST_CONNS,
                       scrape_url="http://127.0.0.1:9469/metrics")
        # the same with a two-version (99/1) service: Maglev and the
        # weighted pick only cost on the first packet of a connection
        b.run_meshgate(conf("bench_canary"), "meshgate_canary_established",
                       cap("established"), "established", EST_CONNS)
        b.run_newflows(conf("bench_canary_newflows"),
                       "meshgate_canary_new_flows", cap("newflows"),
                       NEW_SYNS)

    # both directions of completed connections, replayed once next to
    # testpmd 5tswap on the same capture; 1,000,000 connections do not
    # fit in cache (their flow table: 452 MiB)
    b.run_2way("established2way", "meshgate_established2way",
               conf("bench_mesh_2way"), cap("established2way"), EST_CONNS)
    b.run_2way("established2way_1m", "meshgate_established2way_1m",
               conf("bench_mesh_2way_1m"), cap("established2way_1m"),
               TWO_WAY_1M_CONNS, mem_mb=512)

    # layer-7 inspection next to the same captures without L7 rules
    b.run_l7("l7_established", "meshgate_l7_established",
             cap("l7_established"), "mpps", L7_EST_CONNS, L7_EST_REQUESTS)
    b.run_l7("l7_newflows", "meshgate_l7_new_flows", cap("l7_newflows"),
             "flows", L7_NEW_CONNS, L7_NEW_CONNS)

    # overload protection: a SYN flood, and the cost of metering; the
    # established frames' share of synflood.pcap
    share = (3 + ONCE_ROUNDS) / (3 + 2 * ONCE_ROUNDS)
    b.synflood_peak(b.run_pairs(
        "synflood", "meshgate_synflood_established_ratio",
        conf("bench_synflood"), cap("est_once"), conf("bench_synflood"),
        cap("synflood"), float("%.6f" % share)))
    b.run_pairs("ratelimit", "meshgate_ratelimit_cost_ratio",
                conf("bench_synflood"), cap("est_once"),
                conf("bench_ratelimit"), cap("est_once"), 1.0)

    # a live shadow config, consulted on admissions only
    b.run_pairs("shadow", "meshgate_shadow_cost_ratio",
                conf("bench_synflood"), cap("est_once"),
                os.path.join(BENCH_DIR, "bench_shadow.conf"),
                cap("est_once"), 1.0,
                b_says="evaluated as a shadow of")

    # issue 10's "no slower", next to the tree before it (BENCH_BEFORE)
    if os.environ.get("BENCH_BEFORE"):
        b.run_before(os.environ["BENCH_BEFORE"])
    elif b.only and b.want("before"):
        log("before: set BENCH_BEFORE to a built checkout of a8d852c")
        b.failed = True

    # ESP through one worker next to the bare cipher on the same lcore
    b.run_esp("esp_encrypt", "encrypt", "encrypt", "meshgate_esp_encrypt",
              "meshgate_esp_vs_cryptoperf_ratio")
    b.run_esp("esp_decrypt", "decrypt", "decrypt", "meshgate_esp_decrypt",
              "meshgate_esp_decrypt_vs_cryptoperf_ratio")

    # the appliance: idle CPU, adaptive vs poll, footprint, reloads
    if b.want("idle") and b.have_meshgate("idle"):
        b.idle_cpu("meshgate_idle_cpu_percent", "0,1", "adaptive")
        b.idle_cpu("meshgate_idle_cpu_percent_single_lcore", "0", "adaptive")
        b.idle_cpu("meshgate_idle_cpu_percent_poll", "0,1", "poll")
    if b.want("adaptive") and b.have_meshgate("adaptive"):
        b.run_adaptive(cap("established"))
    if b.want("footprint") and b.have_meshgate("footprint"):
        b.run_footprint()
    if b.want("reload") and b.have_meshgate("reload"):
        b.run_reload()

    b.show()
    b.ratio("meshgate_vs_io_ratio", "meshgate_fwd", "testpmd_io")
    b.ratio("meshgate_vs_5tswap_ratio", "meshgate_fwd", "testpmd_5tswap")
    b.ratio("meshgate_established_vs_5tswap_ratio", "meshgate_established",
            "testpmd_5tswap_established")
    b.ratio("meshgate_established_vs_5tswap_bench_pcap_ratio",
            "meshgate_established", "testpmd_5tswap")
    b.ratio("meshgate_scraped_vs_unscraped_ratio",
            "meshgate_established_mpps_scraped", "meshgate_established")
    b.ratio("meshgate_canary_vs_single_established_ratio",
            "meshgate_canary_established", "meshgate_established")
    # connections a second over frames a second (in millions) of the
    # bare replay
    b.ratio("meshgate_new_flows_vs_replay_ratio", "meshgate_new_flows",
            "testpmd_newflows_replay", 1e-6)

    if b.ran == 0 and not b.failed:
        log("BENCH_ONLY='%s' matched no run" % b.only)
        b.failed = True


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv):
    if argv[1:2] == ["footprint-child"]:
        return footprint_child(argv[2:])
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    b = Bench()
    # SIGTERM like Ctrl-C: both unwind through the finally below (SIGINT
    # too when started in the background, which ignores it)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        run(b)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except subprocess.CalledProcessError as err:
        log("a capture generator failed: %s" % err)
        return 1
    finally:
        # a second Ctrl-C must not stop the clean-up half-way
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        b.cleanup()
    return 1 if b.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
