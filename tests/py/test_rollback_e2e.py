# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Canary auto-rollback end to end: meshgate one-arm on net_af_packet in
a namespace, a client (frontend) and two real HTTP servers, v1 and v2 of
shop (weights 50/50), v2 with

    rollback = { max_error_ratio = 0.05; min_requests = 40; window_s = 10; }

A v2 that answers 500 to every second request is rolled back: within a
few seconds of 200 requests /meshgate/canary says so and why,
meshgate_canary_rolled_back is 1, the log says it once, and every new
connection goes to v1; a SIGHUP restores v2's weight. A v2 that resets
every second connection with the request unanswered is rolled back the
same way. A v2 that answers 200 to everything is never rolled back.

The test (one-sided two-proportion z-test, z > 6): under H0 (the canary
at most max_error_ratio worse than stable) one test rolls back with
probability below 1e-9 (normal approximation); the gateway tests once a
second, so a healthy canary is rolled back by chance with probability
below 8.7e-5 a day (union bound over 86,400 tests). Here the healthy v2
has no error at all, so z < 0 and it cannot be rolled back; the faulty
one (p_c = 0.5 against 0 over about 100 requests) has z near 9: the
chance that it is not rolled back is below 1e-12 (it would need fewer
than 25 errors of 100 at p = 0.5)."""

import ast
import re
import signal
import time

import pytest

import netns
from gateway import GatewayEnv
from mgrun import mg_telemetry, wait_for
from promtext import Exposition

_why = netns.available()
if _why:
    pytest.skip(_why, allow_module_level=True)

GW_MAC = "02:6d:67:00:00:01"
CLI4, CLI_MAC = "198.18.1.10", "02:6d:67:01:00:10"
BACKENDS = {"v1": ("198.18.2.21", "02:6d:67:02:00:21"),
            "v2": ("198.18.2.22", "02:6d:67:02:00:22")}
VIP = "198.19.0.10"
METRICS = "127.0.0.1:9469"

CONF = """
mode = "one-arm";
flows = { max = 4096; tcp_established = 30; tcp_time_wait = 1; };
telemetry = { listen = "%s"; };
ports = ( { name = "gw"; device = "net_af_packet0"; profile = "af_packet";
	    addresses = ["198.18.1.1/24", "198.18.2.1/24"]; } );
identities = ( { name = "frontend"; env = "prod";
		 prefixes = ["198.18.1.0/24"]; } );
services = ( { name = "shop"; env = "prod"; protocol = "tcp";
	addresses = ["198.19.0.10"]; ports = [80];
	versions = ( { name = "v1"; weight = 50; backends = ["198.18.2.21"]; },
		     { name = "v2"; weight = 50; backends = ["198.18.2.22"];
		       rollback = { max_error_ratio = 0.05; min_requests = 40;
				    window_s = 10; }; } ); } );
policies = ( { name = "frontend-shop"; action = "allow";
	       from = ["frontend"]; to = ["shop"]; } );
""" % METRICS

SERVER = r'''
import http.server, socket, struct, sys
name, addr, every, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        n[0] += 1
        failing = every and n[0] % every == 0
        if failing and how == "reset":
            # no answer: a RST (linger 0) with the request unanswered
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        code = 500 if failing else 200
        body = name.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
s = http.server.HTTPServer((addr, 80), H)
print("ready", flush=True)
s.serve_forever()
'''

CLIENT = r'''
import collections, http.client, sys, time
n, end = int(sys.argv[2]), time.monotonic() + 60
c = collections.Counter()
for i in range(n):
    if time.monotonic() > end:
        break
    try:
        h = http.client.HTTPConnection(sys.argv[1], 80, timeout=2)
        h.request("GET", "/", headers={"Connection": "close"})
        r = h.getresponse()
        c["%s %d" % (r.read().decode().strip(), r.status)] += 1
        h.close()
    except Exception:
        c["error"] += 1
print(dict(c))
'''


class Gateway(GatewayEnv):
    def __init__(self, binary, tmp, v2_fails_every, v2_fails_how="500"):
        super().__init__(binary, tmp)
        t = self.topo
        sw, _ = self.switch(GW_MAC)
        t.attach(t.add("cli"), sw, mac=CLI_MAC, addrs=[CLI4 + "/24"],
                 routes=[("198.19.0.0/16", "198.18.1.1")])
        for name, (addr, mac) in BACKENDS.items():
            ns = t.add(name, hosts={addr: name})
            t.attach(ns, sw, mac=mac, addrs=[addr + "/24"],
                     routes=[("default", "198.18.2.1")])
            ns.serve(["/usr/bin/python3", "-u", "-c", SERVER, name, addr,
                      v2_fails_every if name == "v2" else 0, v2_fails_how],
                     self.tmp / ("http-%s.log" % name))
        self.conf = self.tmp / "rollback.conf"
        self.conf.write_text(CONF)
        # telemetry answers from EAL's start; the rollback state is
        # there once the gateway is up
        self.start_gateway(self.conf, command="/meshgate/canary",
                           key="shop/v2")

    def requests(self, n):
        proc = self.topo["cli"].run(["/usr/bin/python3", "-c", CLIENT, VIP,
                                     n], timeout=90, check=True)
        return ast.literal_eval(proc.stdout)   # the dict it printed

    def canary(self):
        reply = mg_telemetry.query(self.prefix, "/meshgate/canary")
        assert "shop/v2" in reply, (reply, self.log())
        return reply["shop/v2"]

    def check_rolled_back(self):
        """v2 rolled back within 5 s, for its error ratio against
        stable's; the metric says so; new connections go to v1 only."""
        c = wait_for(lambda: (lambda c: c if c["rolled_back"] else None)(
            self.canary()), 5, "v2 rolled back")
        assert re.match(r"errors 0\.\d+ \(\d+/\d+\) vs stable 0\.000 "
                        r"\(0/\d+\) in 10 s: z \d+\.\d > 6\.0$", c["why"]), c
        assert self.metric() == 1
        got = self.requests(40)
        assert got == {"v1 200": 40}, got

    def metric(self):
        text = self.topo["gw"].run(
            ["curl", "-sS", "--max-time", "5", "http://%s/metrics" %
             METRICS], timeout=10, check=True).stdout
        value = Exposition(text).value("meshgate_canary_rolled_back",
                                       destination_service="shop",
                                       destination_version="v2")
        assert value is not None, text[-2000:]
        return int(value)

    def close(self):
        """The clean-stop check (exit 0, no sanitizer report, no mbuf
        leaked); the topology goes in any case."""
        try:
            return self.check_shutdown()
        finally:
            super().close()


def test_failing_canary_rolled_back(meshgate_bin, tmp_path):
    g = Gateway(meshgate_bin, tmp_path, v2_fails_every=2)
    try:
        assert g.canary()["rolled_back"] == 0
        got = g.requests(200)
        assert got.get("v2 500", 0) > 20, got
        g.check_rolled_back()
        time.sleep(1.5)          # a tick or two more: logged once
        assert g.log().count("canary shop/v2 rolled back") == 1, g.log()
        # a reload restores it
        g.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: g.canary()["rolled_back"] == 0, 10,
                 "rollback undone by the reload")
        assert g.metric() == 0
        got = g.requests(40)
        assert got.get("v2 200", 0) + got.get("v2 500", 0) > 0, got
    finally:
        g.close()


def test_resetting_canary_rolled_back(meshgate_bin, tmp_path):
    """v2 resets every second connection once the request is in: each
    reset is an error outcome of v2, which is rolled back."""
    g = Gateway(meshgate_bin, tmp_path, v2_fails_every=2,
                v2_fails_how="reset")
    try:
        got = g.requests(200)
        assert got.get("error", 0) > 20 and "v2 500" not in got, got
        g.check_rolled_back()
    finally:
        g.close()


def test_healthy_canary_kept(meshgate_bin, tmp_path):
    g = Gateway(meshgate_bin, tmp_path, v2_fails_every=0)
    try:
        got = g.requests(200)
        assert got.get("v2 200", 0) >= 40 and "v2 500" not in got, got
        time.sleep(2.5)          # two ticks after the last request
        c = g.canary()
        assert c["window_requests"] >= 40, c       # it was tested
        assert c["rolled_back"] == 0 and g.metric() == 0, c
        assert "rolled back" not in g.log()
    finally:
        g.close()
