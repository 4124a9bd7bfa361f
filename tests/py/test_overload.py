# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Overload protection replayed through the real binary with net_pcap and
checked frame by frame: per-caller limits (new connections per second,
concurrent connections per identity and per source address, packets per
second), the half-open budget evicting the oldest half-open connections
and never an established one, and a flow table full of established
connections. Captures and expectations come from
scripts/gen_overload_pcaps.py (its docstring says what each scenario
is); --stats-json's "overload" object is checked against them too."""

import json
import subprocess
import sys
import time

import pytest
from scapy.all import TCP, UDP, Ether

from mgrun import REPO, mg_telemetry
from test_enforcement import check, replay

GEN = REPO / "scripts" / "gen_overload_pcaps.py"


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("overload-pcaps")
    subprocess.run([sys.executable, str(GEN), str(outdir)], check=True,
                   timeout=120)
    with open(outdir / "overload.json") as f:
        return outdir, json.load(f)


def check_overload(run):
    """--stats-json's "overload" object says what the scenario says."""
    got = run.stats.get("overload")
    assert got is not None, "stats-json lacks 'overload'"
    want = run.sc["overload"]
    assert got["half_open_budget"] == want["half_open_budget"], got
    assert got["half_open_peak"] <= got["half_open_budget"], got
    if "half_open_peak" in want:
        assert got["half_open_peak"] == want["half_open_peak"], got
    for name, counts in want.get("limits", {}).items():
        assert got["limits"].get(name) == counts, (name, got["limits"])


def test_limits(mg, captures, tmp_path):
    """Each caller gets exactly its limit: 10 new connections at once
    (the rest rate_limited_conn); 5 concurrent, a reset or a close giving
    a place back (conn_limit beyond); 2 per source address and 5 for the
    identity; 20 packets at once of a connection, both directions
    (rate_limited_pps beyond); an unlimited caller is untouched."""
    run = replay(mg, captures, "limits", tmp_path)
    check(run)
    check_overload(run)
    assert run.stats["drops"]["rate_limited_conn"] == 5
    assert run.stats["drops"]["conn_limit"] == 6
    assert run.stats["drops"]["rate_limited_pps"] == 8


def test_half_open_budget(mg, captures, tmp_path):
    """200 SYNs and 80 UDP queries from spoofed sources that never answer,
    with flows.max_half_open = 64: every one is admitted, the oldest
    half-open ones are evicted in order (the backend's answer to the
    first is no_service, to the newest forwarded), the half-open count
    never passes 64, and the established connection made before the
    flood still carries data."""
    run = replay(mg, captures, "halfopen", tmp_path)
    check(run)
    check_overload(run)
    out = [Ether(f) for f in run.out["edge"]]
    assert sum(1 for p in out if TCP in p and p[TCP].flags == "S") == 201
    assert sum(1 for p in out if UDP in p and p[UDP].dport == 53) == 80


def test_table_full_of_established(mg, captures, tmp_path):
    """flows.max = 1024 connections, all established: further SYNs are
    flow_table_full (no half-open one to evict), and the first
    connection still carries data both ways."""
    run = replay(mg, captures, "tablefull", tmp_path)
    check(run)
    check_overload(run)
    assert run.stats["drops"]["flow_table_full"] == 50


RATE = 20000                    # packets a second: overload_rate.conf
WINDOW_S = 10
WARMUP_S = 2


def test_two_workers_rate(mg, captures, tmp_path):
    """One caller's packet rate (20,000/s) with its traffic on two queues,
    each polled by its own worker (lcores 1 and 2, sharing a core),
    offered far more than the rate: what is forwarded over 10 s of wall
    time is the rate within +-5% (the bound of issue 11; the error comes
    from the split between workers, re-made every 100 ms, and the
    measurement's own start and end). Both workers forward a share."""
    outdir, _manifest = captures
    vdev = ",".join(["net_pcap0", "rx_pcap=%s" % (outdir / "rate-q0.pcap"),
                     "rx_pcap=%s" % (outdir / "rate-q1.pcap"),
                     "tx_pcap=/dev/null", "tx_pcap=/dev/null",
                     "infinite_rx=1"])
    prefix = mg.new_prefix()
    argv = [mg.binary, "--no-huge", "--no-pci", "-m", "512",
            "--file-prefix", prefix, "--lcores", "0@0,1@1,2@1",
            "--log-level", "lib.*:error", "--vdev", vdev, "--",
            "-f", str(REPO / "tests" / "configs" / "overload_rate.conf")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        with mg_telemetry.connect_when_ready(prefix, "/meshgate/flows",
                                             "total", 20, proc=proc) as tel:
            time.sleep(WARMUP_S)
            t0, s0 = time.monotonic(), tel.query("/meshgate/stats")
            time.sleep(WINDOW_S)
            t1, s1 = time.monotonic(), tel.query("/meshgate/stats")
            lcores = tel.query("/meshgate/lcores")
            limits = tel.query("/meshgate/limits")
    finally:
        proc.send_signal(2)
        err = proc.communicate(timeout=20)[1].decode()
    assert proc.returncode == 0, err
    rate = (s1["tx"] - s0["tx"]) / (t1 - t0)
    print("forwarded %.0f packets/s of %d, %d dropped in the window" % (
        rate, RATE, s1["drops"]["rate_limited_pps"] -
        s0["drops"]["rate_limited_pps"]))
    assert abs(rate - RATE) <= 0.05 * RATE, rate
    # offered far more than the rate, so the meter refused most
    assert s1["drops"]["rate_limited_pps"] - \
        s0["drops"]["rate_limited_pps"] > RATE * WINDOW_S
    assert limits["bulk_pps"]["rate_limited_pps"] >= \
        s1["drops"]["rate_limited_pps"]
    workers = [lc for lc in lcores.values() if lc.get("role") == "worker"]
    assert len(workers) == 2 and all(w["tx"] > 0 for w in workers), lcores
