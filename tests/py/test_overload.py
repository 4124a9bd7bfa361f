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

import pytest
from scapy.all import TCP, UDP, Ether

from mgrun import REPO
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
