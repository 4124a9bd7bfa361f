# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Running meshgate from the packet-level tests: EAL arguments for pcap and
null vdevs, bounded runs, the --stats-json contract and capture reading."""

import functools
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
import sys
from pathlib import Path

from scapy.utils import RawPcapReader

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "tests" / "configs"
sys.path.insert(0, str(REPO / "scripts"))
import mg_telemetry  # noqa: E402  (scripts/ is not a package)

def default_binary():
    """The meshgate under test: MESHGATE_BIN, else build/app/meshgate."""
    return Path(os.environ.get("MESHGATE_BIN",
                               REPO / "build" / "app" / "meshgate"))


@functools.lru_cache(maxsize=None)
def drop_reasons(prefix="", binary=None):
    """Every drop reason the binary counts (`meshgate --list-drop-reasons`:
    the table telemetry exports), in its order; with `prefix`, those of
    one stage ("l7_", "esp_"). Never retyped here, so a reason added to
    a stage needs no test edit to be checked everywhere."""
    proc = subprocess.run([str(binary or default_binary()),
                           "--list-drop-reasons"], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc
    names = tuple(proc.stdout.split())
    assert names and len(set(names)) == len(names), proc.stdout
    return tuple(n for n in names if n.startswith(prefix))


def parser_drop_reasons():
    """The reasons of lib/pkt's parser and of reassembly: the first
    block of the table (lib/pkt's reasons come first: the parser's up to
    tx_full, then those it shares with later stages) and the frag_*
    reasons."""
    every = drop_reasons()
    return every[:every.index("tx_full") + 1] + drop_reasons("frag_")


COUNTERS = ("rx", "tx", "drops_total", "busy_polls", "idle_polls")
# What ASan/UBSan builds print on a finding (UBSan does not fail the run).
SANITIZER = re.compile(r"runtime error:|Sanitizer")

RUN_TIMEOUT = 30        # s, any single meshgate run
IDLE_MS = 300           # --exit-on-idle for pcap replays

_prefix_seq = itertools.count()


def unique_prefix():
    """An EAL --file-prefix no other test (or run of the suite) uses."""
    return "mgt-%d-%d" % (os.getpid(), next(_prefix_seq))


def pcap_vdev(index, rx=None, tx=None, infinite=False):
    args = ["net_pcap%d" % index]
    if rx:
        args.append("rx_pcap=%s" % rx)
    if tx:
        args.append("tx_pcap=%s" % tx)
    if infinite:
        args.append("infinite_rx=1")
    return ",".join(args)


def eal_args(prefix, lcores="0,1", vdevs=(), mem=256):
    args = ["--no-huge", "--no-pci", "-m", str(mem), "--file-prefix", prefix,
            "-l", lcores, "--log-level", "lib.*:error"]
    for vdev in vdevs:
        args += ["--vdev", vdev]
    return args


def read_frames(path):
    """Raw frame bytes of a pcap, in order."""
    return [data for data, _meta in RawPcapReader(str(path))]


class Result:
    def __init__(self, rc, stdout, stderr, stats):
        self.rc, self.stdout, self.stderr, self.stats = \
            rc, stdout, stderr, stats

    def __iter__(self):         # rc, stdout, stderr, stats = run(...)
        return iter((self.rc, self.stdout, self.stderr, self.stats))

    def __repr__(self):
        return "rc=%s\n--- stdout\n%s--- stderr\n%s" % (
            self.rc, self.stdout, self.stderr)


class Meshgate:
    """meshgate runs for one test: own tmp dir, own file prefixes; every
    process it starts is killed and every runtime dir removed by close()."""

    def __init__(self, binary, tmp_path):
        self.binary = str(binary)
        self.tmp = Path(tmp_path)
        self.prefixes = []
        self.procs = []
        self.prefix = self.new_prefix()

    def new_prefix(self):
        prefix = unique_prefix()
        self.prefixes.append(prefix)
        return prefix

    def argv(self, app_args, vdevs=(), lcores="0,1", prefix=None, mem=256):
        return [self.binary] + eal_args(prefix or self.prefix, lcores,
                                        vdevs, mem) + ["--"] + list(app_args)

    def run(self, app_args, vdevs=(), lcores="0,1", stats=False,
            timeout=RUN_TIMEOUT, cwd=None, mem=256):
        """Run to completion. With stats=True, --stats-json is added and
        the parsed file returned (None when not written). `mem`: EAL's
        -m, in MiB."""
        app_args = list(app_args)
        prefix = self.new_prefix()
        stats_path = None
        if stats:
            stats_path = self.tmp / ("stats-%s.json" % prefix)
            app_args += ["--stats-json", str(stats_path)]
        proc = subprocess.run(
            self.argv(app_args, vdevs, lcores, prefix, mem),
            cwd=cwd or REPO, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL)
        return Result(proc.returncode, proc.stdout, proc.stderr,
                      load_stats(stats_path))

    def replay(self, config, vdevs, lcores="0,1"):
        """A pcap replay that ends by itself (--exit-on-idle)."""
        return self.run(["-f", str(config), "--exit-on-idle", str(IDLE_MS)],
                        vdevs, lcores, stats=True)

    def start(self, app_args, vdevs=(), lcores="0,1", env=None):
        """Start in the background on self.prefix; see stop(). `env`:
        variables added to the environment."""
        out = open(self.tmp / ("%s.log" % self.prefix), "w+")
        proc = subprocess.Popen(self.argv(app_args, vdevs, lcores),
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True,
                                env=dict(os.environ, **(env or {})))
        proc.log = out
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGINT, timeout=10):
        """Signal, wait (bounded), kill if needed. Returns (rc, log)."""
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.log.seek(0)
        return proc.returncode, proc.log.read()

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            proc.log.close()
        for prefix in self.prefixes:
            shutil.rmtree(mg_telemetry.runtime_dir(prefix),
                          ignore_errors=True)


def load_stats(path):
    if path is None or not Path(path).exists():
        return None
    with open(path) as f:
        return json.load(f)


def check_stats(stats):
    """The --stats-json contract, conservation of packets and the leak
    check every packet-processing test makes."""
    assert stats is not None, "--stats-json not written"
    for key in COUNTERS + ("elapsed_s", "drops", "lcores", "mempool"):
        assert key in stats, "stats-json lacks %r" % key
    # exactly the reasons the binary counts
    missing = set(drop_reasons()) - set(stats["drops"])
    assert not missing, "drop reasons missing: %s" % sorted(missing)
    assert len(stats["drops"]) == len(drop_reasons()), stats["drops"]
    assert stats["drops_total"] == sum(stats["drops"].values())
    assert stats["rx"] == stats["tx"] + stats["drops_total"], stats
    assert stats["lcores"], "no lcore in stats-json"
    for counter in COUNTERS:
        assert sum(lc[counter] for lc in stats["lcores"].values()) == \
            stats[counter], "lcores do not sum to %s" % counter
    assert stats["mempool"]["size"] > 0
    assert stats["mempool"]["in_use"] == 0, "mbufs leaked"


def sanitizer_hits(log):
    """The lines of `log` that report a sanitizer finding."""
    return [line for line in log.splitlines() if SANITIZER.search(line)]


def assert_no_sanitizer_report(log):
    hits = sanitizer_hits(log)
    assert not hits, "sanitizer report:\n" + "\n".join(hits)


def check_clean_stop(rc, log, stats):
    """A gateway stopped by SIGINT: exit 0, no sanitizer report,
    --stats-json written (`stats`, parsed) and no mbuf leaked. Returns
    stats."""
    assert rc == 0, "exit status %s:\n%s" % (rc, log)
    assert_no_sanitizer_report(log)
    assert stats is not None, "--stats-json not written:\n" + log
    assert stats["mempool"]["in_use"] == 0, "mbufs leaked: %s" % \
        stats["mempool"]
    return stats


def wait_for(predicate, timeout, what, interval=0.05):
    """The first true value of predicate(); AssertionError after
    `timeout` seconds. Every wait in the tests is bounded this way."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s: %s" % (timeout,
                                                                 what))
        time.sleep(interval)
