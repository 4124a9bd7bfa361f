# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""DPDK telemetry of a running gateway, read with the stock
dpdk-telemetry.py and with scripts/mg_telemetry.py, then a graceful stop
by signal."""

import json
import signal
import subprocess
import sys
import time

import pytest

from mgrun import (CONFIGS, COUNTERS, DROP_REASONS, check_stats, load_stats,
                   mg_telemetry, pcap_vdev)

STOCK_TOOL = "/usr/bin/dpdk-telemetry.py"
READY_S = 20            # EAL start-up and first reply
STOP_S = 10             # SIGINT to exit


def stock_query(prefix, commands):
    """Commands piped to the stock tool; returns {command: reply value}."""
    proc = subprocess.run([sys.executable, STOCK_TOOL, "-f", prefix],
                          input="\n".join(commands) + "\n",
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    replies = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            replies.update(json.loads(line))
    return replies


@pytest.fixture
def running(mg, captures, tmp_path):
    """meshgate two-arm: an endless sample.pcap on the edge, a null mesh
    port. Yields (proc, stats-json path) once telemetry answers."""
    stats_path = tmp_path / "stats.json"
    proc = mg.start(["-f", str(CONFIGS / "two_arm_null.conf"),
                     "--stats-json", str(stats_path)],
                    [pcap_vdev(0, rx=captures.sample, infinite=True),
                     "net_null0,no-rx=1"])
    try:
        tel = mg_telemetry.connect_when_ready(mg.prefix, "/meshgate/stats",
                                              "rx", wait=READY_S, proc=proc)
    except TimeoutError:
        rc, log = mg.stop(proc, signal.SIGKILL)
        pytest.fail("telemetry never answered (rc %s):\n%s" % (rc, log))
    tel.close()
    yield proc, stats_path


def wait_rx_above(prefix, floor, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        stats = mg_telemetry.query(prefix, "/meshgate/stats")
        if stats["rx"] > floor or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def test_telemetry_and_sigint(mg, running):
    proc, stats_path = running
    prefix = mg.prefix

    # scripts/mg_telemetry.py, as a library
    with mg_telemetry.Telemetry(prefix) as tel:
        first = tel.query("/meshgate/stats")
        for key in COUNTERS + ("drops",):
            assert key in first, "/meshgate/stats lacks %r" % key
        assert set(DROP_REASONS) <= set(first["drops"])
        second = wait_rx_above(prefix, first["rx"])
        assert second["rx"] > first["rx"], "rx did not grow"
        lcores = tel.query("/meshgate/lcores")
        assert "1" in lcores, lcores
        assert lcores["1"]["role"] == "worker"
        assert lcores["1"]["rx"] > 0
        drops = tel.query("/meshgate/drops")
        assert set(DROP_REASONS) <= set(drops)
        assert sum(drops.values()) == 0, drops      # sample.pcap is clean
        assert tel.query("/ethdev/list") == [0, 1]

    # ... and as a command
    cli = subprocess.run([sys.executable, str(mg_telemetry.__file__), prefix,
                          "/meshgate/stats"], capture_output=True, text=True,
                         timeout=10)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["rx"] >= second["rx"]

    # the stock tool, commands on stdin
    cmds = ["/meshgate/stats", "/meshgate/lcores", "/meshgate/drops",
            "/ethdev/list", "/ethdev/stats,0"]
    replies = stock_query(prefix, cmds)
    assert replies["/meshgate/stats"]["rx"] >= second["rx"]
    assert replies["/meshgate/lcores"]["1"]["role"] == "worker"
    assert set(DROP_REASONS) <= set(replies["/meshgate/drops"])
    assert replies["/ethdev/list"] == [0, 1]
    assert replies["/ethdev/stats"]["ipackets"] > 0

    rc, log = mg.stop(proc, signal.SIGINT, STOP_S)
    assert rc == 0, log
    stats = load_stats(stats_path)
    check_stats(stats)
    assert stats["rx"] >= replies["/meshgate/stats"]["rx"]
    assert stats["drops_total"] == 0


def test_sigterm(mg, running):
    proc, stats_path = running
    wait_rx_above(mg.prefix, 0)
    rc, log = mg.stop(proc, signal.SIGTERM, STOP_S)
    assert rc == 0, log
    stats = load_stats(stats_path)
    check_stats(stats)
    assert stats["rx"] > 0
