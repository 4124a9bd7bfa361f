# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""DPDK telemetry of a running gateway, read with the stock
dpdk-telemetry.py and with scripts/mg_telemetry.py, then a graceful stop
by signal; and the NIC's own drop counter, provoked for real in a network
namespace."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import netns
from gateway import GatewayEnv
from mgrun import (CONFIGS, COUNTERS, check_stats, drop_reasons, load_stats,
                   mg_telemetry, pcap_vdev, wait_for)
from promtext import Exposition

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
        assert set(drop_reasons()) <= set(first["drops"])
        second = wait_rx_above(prefix, first["rx"])
        assert second["rx"] > first["rx"], "rx did not grow"
        lcores = tel.query("/meshgate/lcores")
        assert "1" in lcores, lcores
        assert lcores["1"]["role"] == "worker"
        assert lcores["1"]["rx"] > 0
        drops = tel.query("/meshgate/drops")
        assert set(drop_reasons()) <= set(drops)
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
            "/ethdev/list", "/ethdev/stats,0", "/meshgate/ports"]
    replies = stock_query(prefix, cmds)
    assert replies["/meshgate/stats"]["rx"] >= second["rx"]
    assert replies["/meshgate/lcores"]["1"]["role"] == "worker"
    assert set(drop_reasons()) <= set(replies["/meshgate/drops"])
    assert replies["/ethdev/list"] == [0, 1]
    assert replies["/ethdev/stats"]["ipackets"] > 0
    # the ports by their config names; the NIC's counters only grow
    ports = replies["/meshgate/ports"]
    assert sorted(ports) == ["edge", "mesh"], ports
    assert ports["edge"]["port_id"] == 0 and ports["mesh"]["port_id"] == 1
    assert ports["edge"]["ipackets"] >= \
        replies["/ethdev/stats"]["ipackets"] > 0

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


# ------------------------------------------- the NIC's drop counter

NETNS_WHY = netns.available()
FLOOD = 50000           # frames sent while the gateway is stopped
# Broadcast, an ethertype nobody uses (IEEE local experimental): the
# gateway drops each one (ethertype_unknown) and sends nothing.
FLOOD_FRAME = bytes.fromhex("ffffffffffff" "026d67000099" "88b5") + \
    bytes(50)
NIC_CONF = """mode = "one-arm";
ports = ( { name = "wire"; device = "net_pcap0"; profile = "pcap"; } );
telemetry = { listen = "127.0.0.1:9469"; };
"""


def flood(sock, frame, count):
    sent = 0
    for _ in range(count):
        try:
            sock.send(frame)
            sent += 1
        except BlockingIOError:
            pass
    return sent


@pytest.mark.skipif(NETNS_WHY is not None, reason=str(NETNS_WHY))
def test_nic_missed_counted(meshgate_bin, tmp_path):
    """imissed is the NIC's: a gateway capturing live on a veth
    (net_pcap,iface=) is stopped (SIGSTOP) while FLOOD frames arrive, so
    the kernel's capture ring overflows and the driver counts what it
    lost. After SIGCONT every frame sent is either received or missed,
    imissed > 0, meshgate's rx equals the driver's ipackets, and /metrics
    (scraped inside the namespace) shows the same imissed."""
    env = GatewayEnv(meshgate_bin, tmp_path)
    topo, prefix = env.topo, env.prefix
    try:
        gw, peer = topo.add("gw"), topo.add("peer")
        topo.veth(gw, "nic0", peer, "nic1")
        conf = tmp_path / "nic.conf"
        conf.write_text(NIC_CONF)
        env.start_gateway(conf, "net_pcap0,iface=nic0")
        proc = env.proc
        sock = netns.in_netns(peer.name, lambda: socket.socket(
            socket.AF_PACKET, socket.SOCK_RAW))
        sock.bind(("nic1", 0))
        sock.setblocking(False)
        # the ports answer once started, after the telemetry socket
        before = wait_for(lambda: (mg_telemetry.query(
            prefix, "/meshgate/ports") or {}).get("wire"), 10,
            "/meshgate/ports answering")
        proc.send_signal(signal.SIGSTOP)
        try:
            sent = flood(sock, FLOOD_FRAME, FLOOD)
        finally:
            proc.send_signal(signal.SIGCONT)
            sock.close()
        assert sent == FLOOD

        def settled():
            p = mg_telemetry.query(prefix, "/meshgate/ports")["wire"]
            return p if p["ipackets"] + p["imissed"] >= \
                before["ipackets"] + before["imissed"] + FLOOD else None
        port = wait_for(settled, 10, "every flooded frame received or "
                        "missed")
        stats = wait_for(
            lambda: (lambda s: s if s["rx"] == port["ipackets"] else None)(
                mg_telemetry.query(prefix, "/meshgate/stats")), 10,
            "meshgate's rx reaching the driver's ipackets")
        assert port["imissed"] > before["imissed"], port
        assert stats["drops"]["ethertype_unknown"] >= \
            port["ipackets"] - before["ipackets"]
        assert stats["tx"] == 0 and port["opackets"] == 0

        def scrape():
            with urllib.request.urlopen("http://127.0.0.1:9469/metrics",
                                        timeout=5) as resp:
                return resp.read().decode()
        text = netns.in_netns(gw.name, scrape)
        assert Exposition(text).value("meshgate_port_imissed_total",
                                      port="wire") == port["imissed"], \
            text[-2000:]
        env.check_shutdown()
    finally:
        env.close()
