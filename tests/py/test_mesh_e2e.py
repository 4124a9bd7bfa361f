# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""End to end: meshgate one-arm on net_af_packet in a network namespace,
real clients (curl, sockets) and real servers (python http.server, a UDP
echo) in namespaces of their own, all joined by a bridge:

    cli 198.18.1.10 --+                +-- b1 198.18.2.21 :80, udp :7007
    dev 198.18.9.10 --+-- br0 (ns sw) -+-- b2 198.18.2.22 :80
                      +-- gw0 (ns gw): meshgate, 198.18.{1,9,2}.1

Service shop (198.19.0.10:80 and 8000-8099 -> b1/b2, the caller's port
kept) and echo (udp 198.19.0.11:7 -> b1:7007), and services whose
backends never answer ARP (ghost, ghosts, ghost1); callers route
198.19.0.0/16 via the gateway, backends default via 198.18.2.1. No
static neighbours: the gateway resolves backends by ARP. One gateway serves the whole module; the last test stops it and
checks its mbuf pool (every test before sent packets through it), and the
module fixture's teardown does the same (stopping it if still running),
so that any selection of the tests (-k) is checked for leaks."""

import re
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import netns
from gateway import GatewayEnv
from mgrun import CONFIGS, eal_args, mg_telemetry, unique_prefix, wait_for
from promtext import Exposition

_why = netns.available()
if _why:
    pytest.skip(_why, allow_module_level=True)

GW_MAC = "02:6d:67:00:00:01"
CLI_MAC = "02:6d:67:01:00:10"
DEV_MAC = "02:6d:67:09:00:10"
B_MACS = {"b1": "02:6d:67:02:00:21", "b2": "02:6d:67:02:00:22"}
CLI4, DEV4 = "198.18.1.10", "198.18.9.10"
BACKENDS = {"b1": "198.18.2.21", "b2": "198.18.2.22"}
GW_ADDRS = {"cli": "198.18.1.1", "dev": "198.18.9.1", "mesh": "198.18.2.1"}
SHOP_VIP, ECHO_VIP, ECHO_PORT, ECHO_BACKEND_PORT = \
    "198.19.0.10", "198.19.0.11", 7, 7007
ECHO2_VIP = "198.19.0.13"       # versions v1 -> b1, v2 -> b2
# services whose backends never answer ARP (no host there)
GHOST_VIP, GHOSTS_VIP, GHOST1_VIP = "198.19.0.14", "198.19.0.15", \
    "198.19.0.16"
GHOST_CANARY = "198.18.2.23"            # ghost v2, canary, pinned
GHOSTS = ("198.18.2.24", "198.18.2.25")  # ghosts v1, stable
GHOST1 = "198.18.2.26"                  # ghost1 v1, stable, alone
EJECTION_S = 3                  # health.base_ejection_ms
TEMPLATE = CONFIGS / "mesh_e2e.conf"
UDP_TIMEOUT_S = 1               # flows.udp of mesh_e2e.conf
TCP_ESTABLISHED_S = 2           # flows.tcp_established
READY_S = 20                    # EAL start-up, telemetry answering
SERVER_READY_S = 10
CURL_S = 3                      # --max-time of a curl expected to work
RELOAD_S = 8                    # a reload to take effect


class E2E(GatewayEnv):
    """The topology, the servers and the gateway of this module."""

    def __init__(self, binary, tmp):
        super().__init__(binary, tmp)
        self.conf = self.tmp / "mesh_e2e.conf"
        self.frames = []          # ARP frames seen on the gateway's link
        self.sniff_stop = False
        self.sniffer = None

    # ---------------------------------------------------------- set-up

    def build(self):
        t = self.topo
        sw, _ = self.switch(GW_MAC)
        vips = "198.19.0.0/16"
        t.attach(t.add("cli"), sw, mac=CLI_MAC, addrs=[CLI4 + "/24"],
                 routes=[(vips, GW_ADDRS["cli"])])
        t.attach(t.add("dev"), sw, mac=DEV_MAC, addrs=[DEV4 + "/24"],
                 routes=[(vips, GW_ADDRS["dev"])])
        for name, addr in BACKENDS.items():
            t.attach(t.add(name, hosts={addr: name}), sw, mac=B_MACS[name],
                     addrs=[addr + "/24"],
                     routes=[("default", GW_ADDRS["mesh"])])

    def start_servers(self):
        procs = []
        for name, addr in BACKENDS.items():
            root = self.tmp / ("www-" + name)
            root.mkdir()
            (root / "index.html").write_text("backend %s\n" % name)
            procs.append(self.topo[name].popen(
                ["/usr/bin/python3", "-u", "-m", "http.server", "80",
                 "--bind", addr, "--directory", root],
                self.tmp / ("http-%s.log" % name)))
        for name, addr in BACKENDS.items():
            procs.append(self.topo[name].popen(
                ["/usr/bin/python3", "-u", "-c", netns.UDP_ECHO, addr,
                 ECHO_BACKEND_PORT, name],
                self.tmp / ("udp-echo-%s.log" % name)))
        for proc, word in zip(procs, ("Serving HTTP", "Serving HTTP",
                                      "ready", "ready")):
            netns.wait_ready(proc, word, SERVER_READY_S)
        self.http_logs = {name: self.tmp / ("http-%s.log" % name)
                          for name in BACKENDS}

    def start_sniffer(self):
        """Every ARP frame on the gateway's bridge port, from now on."""
        import threading

        eth_p_all = 3

        def make():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                              socket.htons(eth_p_all))
            s.bind(("sw-gw", eth_p_all))
            s.settimeout(0.2)
            return s
        sock = netns.in_netns(self.topo["sw"].name, make)

        def loop():
            while not self.sniff_stop and len(self.frames) < 10000:
                try:
                    frame = sock.recv(2048)
                except socket.timeout:
                    continue
                if frame[12:14] == b"\x08\x06":
                    self.frames.append(frame)
            sock.close()
        self.sniffer = threading.Thread(target=loop, daemon=True)
        self.sniffer.start()

    def close(self):
        self.sniff_stop = True
        if self.sniffer:
            self.sniffer.join(2)
        super().close()

    # ----------------------------------------------------------- tools

    def drops(self, reason):
        value = self.stats()["drops"].get(reason)
        assert value is not None, "no drop reason %r in telemetry" % reason
        return value

    def flows_created(self):
        value = self.stats().get("flows_created")
        assert value is not None, "/meshgate/stats has no flows_created"
        return value

    def curl(self, role, url="http://%s/" % SHOP_VIP, max_time=CURL_S):
        """(rc, HTTP code, body) of one curl from namespace `role`."""
        proc = self.topo[role].run(
            ["curl", "-sS", "--max-time", max_time, "-o", "-", "-w",
             "\n%{http_code}", url], timeout=max_time + 5)
        body, _, code = proc.stdout.rpartition("\n")
        return proc.returncode, code, body

    def set_config(self, text):
        tmp = self.conf.with_suffix(".new")
        tmp.write_text(text)
        tmp.replace(self.conf)          # never a half-written file
        self.proc.send_signal(signal.SIGHUP)


@pytest.fixture(scope="module")
def e2e(meshgate_bin, tmp_path_factory):
    env = E2E(meshgate_bin, tmp_path_factory.mktemp("e2e"))
    try:
        env.build()
        env.start_servers()
        env.start_sniffer()
        shutil.copy(TEMPLATE, env.conf)
        env.start_gateway(env.conf, ready_s=READY_S)
        yield env
        # whichever tests ran (-k), the gateway leaked nothing
        env.check_shutdown()
    finally:
        env.close()


def curl_until(env, role, ok, attempts, max_time):
    """curl until the outcome is `ok` (success) or not; bounded."""
    for _ in range(attempts):
        rc, code, body = env.curl(role, max_time=max_time)
        if (rc == 0 and code == "200") == ok:
            return rc, code, body
    return rc, code, body


# ----------------------------------------------------------------- tests

def test_allowed_client_reaches_both_backends(e2e):
    """16 connections from the frontend: all answered, by both backends
    (hash of the 5-tuple over 2 backends: all 16 on one backend has
    probability 2^-15)."""
    seen = []
    for _ in range(16):
        rc, code, body = e2e.curl("cli")
        assert rc == 0 and code == "200", (rc, code, body, e2e.log())
        m = re.fullmatch(r"backend (b[12])", body.strip())
        assert m, body
        seen.append(m.group(1))
    assert set(seen) == {"b1", "b2"}, seen
    # The client's address reached the backend unchanged (DNAT only).
    logs = "".join(p.read_text() for p in e2e.http_logs.values())
    assert CLI4 in logs, logs


def test_backends_resolved_by_arp(e2e):
    """No static neighbours: the gateway asked for backends by ARP from
    198.18.2.1 with its own MAC, and answered the client's ARP."""
    assert not re.search(r"^\s*neighbours\s*=", e2e.conf.read_text(),
                         re.M), "the e2e config has static neighbours"
    rc, code, _ = e2e.curl("cli")
    assert rc == 0 and code == "200"
    gw_mac = bytes.fromhex(GW_MAC.replace(":", ""))
    mesh_ip = socket.inet_aton(GW_ADDRS["mesh"])
    cli_ip = socket.inet_aton(GW_ADDRS["cli"])
    backends = {socket.inet_aton(a) for a in BACKENDS.values()}

    def arp(frame):     # (op, sender MAC, sender IP, target IP)
        return (int.from_bytes(frame[20:22], "big"), frame[22:28],
                frame[28:32], frame[38:42])

    def seen():
        arps = [arp(f) for f in list(e2e.frames) if len(f) >= 42]
        asked = any(op == 1 and sha == gw_mac and spa == mesh_ip and
                    tpa in backends for op, sha, spa, tpa in arps)
        answered = any(op == 2 and spa in backends and tpa == mesh_ip
                       for op, sha, spa, tpa in arps)
        replied = any(op == 2 and sha == gw_mac and spa == cli_ip
                      for op, sha, spa, tpa in arps)
        return asked and answered and replied
    wait_for(seen, 2, "ARP request from the gateway for a backend, the "
             "backend's reply and the gateway's reply to the client; seen: "
             "%s" % [arp(f) for f in e2e.frames])


def test_denied_caller(e2e):
    """devbox (env dev) -> shop (env prod): no connection, policy_deny
    counted, nothing reaches a backend; the kernel's TCP takes the
    gateway's RST (deny_action "reset", the default): curl fails at once
    with "connection refused" (exit 7), not after its 3 s timeout (28)."""
    before = e2e.drops("policy_deny")
    replies = e2e.stats()["deny_replies"]
    rc, code, body = e2e.curl("dev", max_time=3)
    assert rc == 7, "denied caller: curl exit %d, want 7 (refused): %s %s" \
        % (rc, code, body)
    assert e2e.drops("policy_deny") > before
    assert e2e.stats()["deny_replies"] > replies
    logs = "".join(p.read_text() for p in e2e.http_logs.values())
    assert DEV4 not in logs, logs


def test_reload(e2e):
    """SIGHUP: a deny takes effect for new connections; a broken file is
    rejected with FILE:LINE and the running rules stay; restoring the
    allow brings the service back."""
    good = TEMPLATE.read_text()
    marker = 'action = "allow"; from = ["frontend"]; to = ["shop"]; },  ' \
        '# RELOAD'
    assert good.count(marker) == 1
    deny = good.replace(marker, marker.replace("allow", "deny"))
    try:
        e2e.set_config(deny)
        rc, code, _ = curl_until(e2e, "cli", ok=False, attempts=RELOAD_S,
                                 max_time=1)
        assert rc != 0, "frontend still served after the deny was loaded"

        before = e2e.log()
        e2e.set_config(good.replace("policies = (", "policies = ((", 1))
        err = re.compile(re.escape(str(e2e.conf)) + r":\d+: ")
        wait_for(lambda: err.search(e2e.log()[len(before):]), 5,
                 "a FILE:LINE error for the broken file in the log:\n" +
                 e2e.log()[len(before):])
        assert e2e.proc.poll() is None, "a bad reload stopped meshgate"
        rc, _, _ = e2e.curl("cli", max_time=2)
        assert rc != 0, "the bad file replaced the running (deny) rules"
    finally:
        e2e.set_config(good)
    rc, code, body = curl_until(e2e, "cli", ok=True, attempts=RELOAD_S,
                                max_time=1)
    assert rc == 0 and code == "200", "allow not restored: %s %s %s" % (
        rc, code, body)


def test_udp_flow_expiry(e2e):
    """A UDP exchange creates one flow; more packets within flows.udp
    reuse it; after the timeout the same 5-tuple is a new flow."""
    sock = e2e.topo["cli"].socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.bind((CLI4, 40007))
        sock.settimeout(2)

        def exchange(payload):
            sock.sendto(payload, (ECHO_VIP, ECHO_PORT))
            data, peer = sock.recvfrom(2048)
            assert data == b"b1:" + payload
            assert peer == (ECHO_VIP, ECHO_PORT), "reply not reverse-NATed"

        f0 = e2e.flows_created()
        exchange(b"one")
        f1 = e2e.flows_created()
        assert f1 == f0 + 1, (f0, f1)
        exchange(b"two")
        f2 = e2e.flows_created()
        assert f2 == f1, "a live UDP flow was created again"
        time.sleep(UDP_TIMEOUT_S + 2)
        exchange(b"three")
        f3 = e2e.flows_created()
        assert f3 == f2 + 1, "flow not expired after %d s (%d -> %d)" % (
            UDP_TIMEOUT_S + 2, f2, f3)


def test_tcp_established_expiry(e2e):
    """A connection idle past flows.tcp_established is forgotten: its
    next segment is not a SYN, so it is dropped (tcp_not_syn)."""
    sock = e2e.topo["cli"].socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(3)
        sock.connect((SHOP_VIP, 80))
        time.sleep(TCP_ESTABLISHED_S + 2)
        before = e2e.drops("tcp_not_syn")
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_for(lambda: e2e.drops("tcp_not_syn") > before, 5,
                 "tcp_not_syn after an expired connection", interval=0.1)
        sock.settimeout(1)
        with pytest.raises(socket.timeout):
            sock.recv(100)


def udp_exchange(sock, vip, payload):
    """Send to vip:7 from `sock`, return the name of the echoing backend."""
    sock.sendto(payload, (vip, ECHO_PORT))
    data, peer = sock.recvfrom(2048)
    assert peer == (vip, ECHO_PORT), "reply not reverse-NATed: %s" % (peer,)
    name, _, echoed = data.partition(b":")
    assert echoed == payload, data
    return name.decode()


def test_weight_change_keeps_established(e2e):
    """echo2 sends everything to v1 (b1). A reload that gives all the
    weight to v2 (b2) leaves live connections on b1; new ones go to b2."""
    good = e2e.conf.read_text()
    lines = [line for line in good.splitlines() if line.endswith("# WEIGHT")]
    assert len(lines) == 2, lines
    swapped = good.replace("weight = 100;", "weight = @;", 1) \
        .replace("weight = 0;", "weight = 100;", 1) \
        .replace("weight = @;", "weight = 0;", 1)
    socks = [e2e.topo["cli"].socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(8)]
    try:
        for i, sock in enumerate(socks):
            sock.bind((CLI4, 41000 + i))
            sock.settimeout(2)
            assert udp_exchange(sock, ECHO2_VIP, b"before") == "b1"
        e2e.set_config(swapped)

        def new_flow_on_b2():
            with e2e.topo["cli"].socket(socket.AF_INET,
                                        socket.SOCK_DGRAM) as s:
                s.settimeout(1)
                try:
                    return udp_exchange(s, ECHO2_VIP, b"new") == "b2"
                except socket.timeout:
                    return False
        wait_for(new_flow_on_b2, RELOAD_S, "new flows on v2 after reload",
                 interval=0.2)
        # the live flows (well inside flows.udp = 1 s) did not move
        for sock in socks:
            assert udp_exchange(sock, ECHO2_VIP, b"after") == "b1"
        for _ in range(8):
            assert new_flow_on_b2(), "a new flow went to the 0-weight v1"
    finally:
        for sock in socks:
            sock.close()
        e2e.set_config(good)


def shop_backend(e2e, max_time=CURL_S):
    rc, code, body = e2e.curl("cli", max_time=max_time)
    assert rc == 0 and code == "200", (rc, code, body, e2e.log()[-2000:])
    m = re.fullmatch(r"backend (b[12])", body.strip())
    assert m, body
    return m.group(1)


def test_health_ejection(e2e):
    """b2 stops answering (its link goes down): the first connection
    steered there is moved to b1 when the client retransmits its SYN, b2
    is ejected and logged, and every connection succeeds meanwhile (none
    hangs). When b2 answers again after its ejection, it is back."""
    b2 = e2e.topo["b2"]
    log_before = len(e2e.log())
    b2.ip("link", "set", "eth0", "down")
    try:
        # 12 connections: each would pick b2 with probability 1/2, so
        # ejection is all but certain to be exercised (2^-12 otherwise)
        seen = [shop_backend(e2e, max_time=5) for _ in range(12)]
        assert seen.count("b2") == 0, seen
        wait_for(lambda: re.search(r"backend 198\.18\.2\.22.* ejected",
                                   e2e.log()[log_before:]), 3,
                 "an ejection of b2 in the log:\n" + e2e.log()[log_before:])
    finally:
        b2.ip("link", "set", "eth0", "up")
        # the kernel dropped the route with the link
        b2.ip("route", "replace", "default", "via", GW_ADDRS["mesh"])
    # after the ejection (3 s, or 6 s if it was ejected twice) b2 is
    # eligible again and its SYN-ACK puts it back
    deadline = time.monotonic() + 2 * EJECTION_S + 6
    seen = []
    while time.monotonic() < deadline and "b2" not in seen:
        seen.append(shop_backend(e2e, max_time=5))
        time.sleep(0.2)
    assert "b2" in seen, "b2 never came back: %s\n%s" % (
        seen, e2e.log()[log_before:])


METRICS_URL = "http://127.0.0.1:9469/metrics"  # default telemetry.listen
CLOSE_S = 10            # tcp_time_wait / tcp_fin of mesh_e2e.conf, with room


def scrape_metrics(env):
    """The gateway's /metrics (a promtext.Exposition), fetched from
    inside its namespace (the endpoint is on the namespace's own
    loopback: mesh_e2e.conf leaves telemetry.listen at its default)."""
    def get():
        # the endpoint starts after the telemetry socket the fixture
        # waits for: a test that runs first may be early
        deadline = time.monotonic() + READY_S
        while True:
            try:
                with urllib.request.urlopen(METRICS_URL, timeout=5) as resp:
                    assert resp.status == 200
                    return resp.read().decode()
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    return Exposition(netns.in_netns(env.topo["gw"].name, get,
                                     timeout=READY_S + 10))


def metric(sample, name, **labels):
    """The sample of `name` with exactly `labels`; 0 when absent."""
    value = sample.value(name, **labels)
    return 0 if value is None else value


def backend_series(sample, service, version, backend):
    """(up, ejections) of one backend in a /metrics sample; both must be
    there."""
    labels = {"destination_service": service,
              "destination_version": version, "backend": backend}
    up = sample.value("meshgate_backend_up", **labels)
    ejections = sample.value("meshgate_backend_ejections_total", **labels)
    assert up is not None and ejections is not None, \
        "no series for %s/%s/%s: %s" % (service, version, backend,
                                        sample.select("meshgate_backend_up"))
    return up, ejections


def test_caller_cannot_eject(e2e):
    """shop's backends keep the caller's port, and 8000-8099 is closed
    on them: a caller connecting to ports they do not serve draws a RST
    from the backend every time (curl: connection refused). That says
    the port is closed, not that the backend is down: with eject_after
    = 1, twelve such RSTs (each backend's share: all on one has
    probability 2^-11) eject neither, /metrics shows both up with their
    ejection counts unchanged, and both still serve port 80."""
    log_before = len(e2e.log())
    before = scrape_metrics(e2e)
    for port in range(8081, 8093):
        rc, _, _ = e2e.curl("cli", url="http://%s:%d/" % (SHOP_VIP, port),
                            max_time=2)
        assert rc == 7, "curl to a closed port: rc %d, not refused" % rc
    after = scrape_metrics(e2e)
    for name, addr in BACKENDS.items():
        up, ejections = backend_series(after, "shop", "v1", addr)
        _, ejections_before = backend_series(before, "shop", "v1", addr)
        assert up == 1 and ejections == ejections_before, (name, up,
                                                           ejections)
    assert " ejected " not in e2e.log()[log_before:], \
        e2e.log()[log_before:]
    seen = {shop_backend(e2e) for _ in range(16)}
    assert seen == {"b1", "b2"}, seen


def test_dead_next_hop_ejected(e2e):
    """ghost pins the frontend to its canary v2, whose backend never
    answers ARP. The first SYN waits for it and is dropped after 1 s
    (neigh_timeout): a connect failure, so the canary's only backend is
    ejected (a canary may lose it), and the client's next SYN goes to
    v1 (b1): curl succeeds. /metrics shows the dead backend down and
    ejected, and the log names it."""
    log_before = len(e2e.log())
    timeouts = e2e.drops("neigh_timeout")
    rc, code, body = e2e.curl("cli", url="http://%s/" % GHOST_VIP,
                              max_time=8)
    assert rc == 0 and code == "200" and body.strip() == "backend b1", \
        (rc, code, body, e2e.log()[log_before:])
    assert e2e.drops("neigh_timeout") > timeouts
    up, ejections = backend_series(scrape_metrics(e2e), "ghost", "v2",
                                   GHOST_CANARY)
    assert up == 0 and ejections >= 1, (up, ejections)
    # logged by the control tick within its period
    wait_for(lambda: re.search(r"backend 198\.18\.2\.23 ejected",
                               e2e.log()[log_before:]), 5,
             "the ejection logged")


def test_dead_next_hops_capped(e2e):
    """ghosts: a stable version whose two backends never answer ARP;
    32 datagrams from distinct ports reach both (all on one: 2^-31),
    each waits and times out, a failure each. max_ejected_percent = 50
    lets one go: exactly one is ejected, the other stays in service,
    held and logged as failing. ghost1's only backend (a stable
    version's last) is never ejected. meshgate_backend_up is 0 for all
    three: ejected or failing."""
    log_before = len(e2e.log())
    cli = e2e.topo["cli"]
    socks = [cli.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(34)]
    try:
        for i, sock in enumerate(socks):
            sock.sendto(b"anyone?", (GHOSTS_VIP if i < 32 else GHOST1_VIP,
                                     9))
    finally:
        for sock in socks:
            sock.close()
    last = {}

    def all_down():
        sample = scrape_metrics(e2e)
        last["series"] = {b: backend_series(sample, svc, "v1", b)
                          for svc, b in (("ghosts", GHOSTS[0]),
                                         ("ghosts", GHOSTS[1]),
                                         ("ghost1", GHOST1))}
        return all(up == 0 for up, _ in last["series"].values())
    wait_for(all_down, 6, "every ghost backend down in /metrics",
             interval=0.2)
    series = last["series"]
    assert sorted(series[b][1] for b in GHOSTS) == [0, 1], series
    assert series[GHOST1][1] == 0, series
    held = [b for b in GHOSTS if series[b][1] == 0] + [GHOST1]
    # /metrics reads the health table at once; the control tick logs
    # what changed within its period
    for b in held:
        wait_for(lambda: re.search(r"backend %s fails .* but stays in "
                                   r"service" % re.escape(b),
                                   e2e.log()[log_before:]), 5,
                 "backend %s logged as failing" % b)


def test_traffic_metrics(e2e):
    """Per-connection telemetry of real connections: two curls from the
    frontend count exactly two requests (2xx), request durations,
    connections opened (then closed once expired), handshakes, canary
    selections and allow decisions; a denied caller counts a deny of
    dev-never-prod per SYN, as many as policy_deny drops."""
    shop = {"source_workload": "frontend", "destination_service": "shop",
            "destination_version": "v1"}
    dest = {"destination_service": "shop", "destination_version": "v1"}
    deny = {"rule": "dev-never-prod", "decision": "deny"}
    before = scrape_metrics(e2e)
    for _ in range(2):
        rc, code, body = e2e.curl("cli")
        assert rc == 0 and code == "200", (rc, code, body)
    rc, _, _ = e2e.curl("dev", max_time=2)
    assert rc != 0, "the denied caller got through"
    after = scrape_metrics(e2e)

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)
    assert delta("meshgate_requests_total", response_code_class="2xx",
                 **shop) == 2
    for cls in ("1xx", "3xx", "4xx", "5xx"):
        assert delta("meshgate_requests_total", response_code_class=cls,
                     **shop) == 0, cls
    assert delta("meshgate_request_duration_seconds_count", **shop) == 2
    assert delta("meshgate_tcp_connections_opened_total", **shop) == 2
    assert delta("meshgate_tcp_received_bytes_total", **shop) > 0
    assert delta("meshgate_tcp_sent_bytes_total", **shop) > 0
    assert delta("meshgate_handshake_duration_seconds_count", **dest) == 2
    assert delta("meshgate_canary_selections_total", **dest) == 2
    assert delta("meshgate_policy_decisions_total", rule="frontend-shop",
                 decision="allow") == 2
    denied = delta("meshgate_policy_decisions_total", **deny)
    assert denied >= 1
    assert denied == delta("meshgate_drops_total", reason="policy_deny")
    # Every connection opened is counted closed once its flow is gone
    # (earlier tests' connections may still be expiring at `before`):
    # opened - closed is what is still tracked, 0 once all expired.
    opened = metric(after, "meshgate_tcp_connections_opened_total", **shop)
    last = {}

    def all_closed():
        now = scrape_metrics(e2e)
        last["closed"] = metric(now, "meshgate_tcp_connections_closed_total",
                                **shop)
        last["flows"] = mg_telemetry.query(e2e.prefix, "/meshgate/flows")
        return last["closed"] == opened and last["flows"]["total"] == 0
    try:
        wait_for(all_closed, CLOSE_S, "every connection expired and "
                 "counted closed", interval=0.2)
    except AssertionError as err:
        pytest.fail("%s: opened %s, closed %s; flows %s" % (
            err, opened, last.get("closed"), last.get("flows")))


LOCK_DIR = Path("/run/meshgate")
QUIET_CONF = """mode = "one-arm";
ports = ( { name = "side"; device = "net_af_packet0"; profile = "af_packet"; } );
telemetry = { listen = "off"; };
"""


def gateway_argv(e2e, prefix, iface, conf):
    return [e2e.binary] + eal_args(prefix, "0,1",
                                   ["net_af_packet0,iface=%s" % iface]) + \
        ["--", "-f", conf]


def test_second_gateway_refused(e2e):
    """A second gateway on the interface the module's gateway serves,
    with a file prefix of its own (so DPDK's lock does not stop it):
    exit 1 before EAL starts, naming the device, the first gateway's pid
    and the lock; the first one forwards on."""
    prefix = unique_prefix()
    try:
        proc = e2e.topo["gw"].run(gateway_argv(e2e, prefix, "gw0", e2e.conf),
                                  timeout=30)
    finally:
        shutil.rmtree(mg_telemetry.runtime_dir(prefix), ignore_errors=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    m = re.search(r"^meshgate: port gw: device net_af_packet0 is in use by "
                  r"another gateway \(pid (\d+), lock (\S+)\); stop it, "
                  r"or give this gateway another device$", proc.stderr,
                  re.M)
    assert m, proc.stderr
    assert int(m.group(1)) == e2e.proc.pid
    assert Path(m.group(2)).parent == LOCK_DIR
    assert m.group(2).endswith("-gw0.lock"), m.group(2)
    assert "EAL:" not in proc.stderr, "EAL started:\n" + proc.stderr
    rc, code, body = e2e.curl("cli")
    assert rc == 0 and code == "200", (rc, code, body)


def test_lock_freed_by_a_crash(e2e, tmp_path):
    """A gateway killed with SIGKILL leaves its lock file (with its pid)
    but no lock: the next gateway on that interface starts, takes the
    file over, and removes it when it stops."""
    gw = e2e.topo["gw"]
    gw.ip("link", "add", "dm0", "type", "veth", "peer", "name", "dm1")
    gw.ip("link", "set", "dm0", "up")
    conf = tmp_path / "side.conf"
    conf.write_text(QUIET_CONF)
    prefixes = [unique_prefix(), unique_prefix()]
    procs = []
    try:
        for i, prefix in enumerate(prefixes):
            procs.append(gw.popen(gateway_argv(e2e, prefix, "dm0", conf),
                                  tmp_path / ("side%d.log" % i)))
            mg_telemetry.connect_when_ready(prefix, "/meshgate/stats", "rx",
                                            READY_S, proc=procs[i]).close()
            locks = list(LOCK_DIR.glob("iface-*-dm0.lock"))
            assert len(locks) == 1, locks
            assert int(locks[0].read_text()) == procs[i].pid
            if i == 0:
                e2e.topo.stop(procs[0], signal.SIGKILL)
        rc, log = e2e.topo.stop(procs[1], signal.SIGINT, 10)
        assert rc == 0, log
        assert not list(LOCK_DIR.glob("iface-*-dm0.lock"))
    finally:
        for proc in procs:
            e2e.topo.stop(proc, signal.SIGKILL)
        for prefix in prefixes:
            shutil.rmtree(mg_telemetry.runtime_dir(prefix),
                          ignore_errors=True)
        gw.ip("link", "del", "dm0", check=False)


def test_zz_clean_shutdown(e2e):
    """Last: SIGINT stops the gateway cleanly with no mbuf leaked after
    everything this module sent through it."""
    # exit 0, no sanitizer report, --stats-json written, no mbuf leaked
    stats, log = e2e.check_shutdown()
    assert stats["rx"] > 0
    assert stats["drops_total"] == sum(stats["drops"].values())
    # its device lock is gone with it
    assert not list(LOCK_DIR.glob("iface-*-gw0.lock"))
