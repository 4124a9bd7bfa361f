#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The live demo (scripts/demo.sh): meshgate on net_af_packet in a
network namespace between two callers and two versions of a service,
each a real HTTP server, all joined by a bridge:

    frontend 198.18.1.10 --+                +-- v1 198.18.2.21 :80
    devbox   198.18.9.10 --+-- br0 (ns sw) -+-- v2 198.18.2.22 :80
                           +-- gw0 (ns gw): meshgate

About 10 s of curl from both callers to http://198.19.0.10/ (shop: v1
90%, v2 10%; /admin denied at layer 7; devbox denied outright), then the
canary split, the denials and p50/p99 request latency from the gateway's
own /metrics. Namespaces (tests/py/netns.py) are created and removed
here, even on failure; every loop is bounded in count and time.

usage: demo_live.py MESHGATE_BINARY WORKDIR [EAL memory options...]
"""

import json
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
sys.path.insert(0, str(REPO / "scripts"))
import mg_telemetry  # noqa: E402
import netns  # noqa: E402
import promtext  # noqa: E402

GW_MAC = "02:6d:67:00:00:01"
VIP = "198.19.0.10"
CALLERS = {"frontend": ("198.18.1.10", "198.18.1.1", "02:6d:67:01:00:10"),
           "devbox": ("198.18.9.10", "198.18.9.1", "02:6d:67:09:00:10")}
BACKENDS = {"v1": ("198.18.2.21", "02:6d:67:02:00:21"),
            "v2": ("198.18.2.22", "02:6d:67:02:00:22")}
METRICS = "127.0.0.1:9469"
TRAFFIC_S = 10              # curl traffic lasts this long at most
MAX_REQUESTS = 2000         # and no more requests than this
PREFIX = "meshgate-demo-live"

CONF = """
mode = "one-arm";
flows = { max = 4096; tcp_established = 30; };
telemetry = { listen = "%(metrics)s"; };
recorder = { packets = 64; dir = "%(dir)s"; };
deny_log = { file = "%(dir)s/deny.log"; rate = 20; };
ports = ( { name = "gw"; device = "net_af_packet0"; profile = "af_packet";
	    addresses = ["198.18.1.1/24", "198.18.9.1/24",
			 "198.18.2.1/24"]; } );
identities = (
	{ name = "frontend"; env = "prod"; prefixes = ["198.18.1.0/24"]; },
	{ name = "devbox"; env = "dev"; prefixes = ["198.18.9.0/24"]; } );
services = ( { name = "shop"; env = "prod"; protocol = "tcp";
	addresses = ["%(vip)s"]; ports = [80];
	versions = ( { name = "v1"; weight = 9000;
		       backends = ["198.18.2.21"]; },
		     { name = "v2"; weight = 1000;
		       backends = ["198.18.2.22"]; } ); } );
policies = (
	{ name = "dev-never-prod"; action = "deny"; from = ["env:dev"];
	  to = ["env:prod"]; },
	{ name = "no-admin"; action = "deny"; from = ["*"]; to = ["shop"];
	  http = { path = "^/admin(/|$)"; }; },
	{ name = "frontend-shop"; action = "allow"; from = ["frontend"];
	  to = ["shop"]; } );
"""


def build(topo, work):
    sw, gw = topo.add("sw"), topo.add("gw")
    topo.bridge(sw)
    topo.veth(gw, "gw0", sw, "sw-gw", mac_a=GW_MAC)
    sw.ip("link", "set", "sw-gw", "master", "br0")
    gw.run(["ethtool", "-K", "gw0", "rx", "off", "tx", "off"], check=True)
    for role, (addr, via, mac) in CALLERS.items():
        topo.attach(topo.add(role), sw, mac=mac, addrs=[addr + "/24"],
                    routes=[("198.19.0.0/16", via)])
    servers = {}
    for version, (addr, mac) in BACKENDS.items():
        ns = topo.add(version, hosts={addr: version})
        topo.attach(ns, sw, mac=mac, addrs=[addr + "/24"],
                    routes=[("default", "198.18.2.1")])
        root = work / ("www-" + version)
        root.mkdir(exist_ok=True)
        (root / "index.html").write_text("shop %s\n" % version)
        servers[version] = ns.popen(
            ["/usr/bin/python3", "-u", "-m", "http.server", "80", "--bind",
             addr, "--directory", root], work / ("http-%s.log" % version))
    for version, proc in servers.items():
        deadline = time.monotonic() + 10
        while "Serving HTTP" not in Path(proc.log_path).read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("HTTP server %s did not start" % version)
            time.sleep(0.1)


def curl(ns, path, max_time):
    proc = ns.run(["curl", "-sS", "--max-time", max_time, "-o", "-", "-w",
                   "\n%{http_code}", "http://%s%s" % (VIP, path)],
                  timeout=max_time + 5)
    body, _, code = proc.stdout.rpartition("\n")
    return proc.returncode, code, body.strip()


def traffic(topo):
    """Bounded: TRAFFIC_S seconds or MAX_REQUESTS requests."""
    seen = {"v1": 0, "v2": 0}
    refused = {"admin (layer 7)": 0, "devbox (layer 4)": 0}
    failed = 0
    end = time.monotonic() + TRAFFIC_S
    for i in range(MAX_REQUESTS):
        if time.monotonic() > end:
            break
        if i % 25 == 24:        # a denied request, reset by the gateway
            rc, _code, _body = curl(topo["frontend"], "/admin", 2)
            refused["admin (layer 7)"] += rc != 0
        elif i % 50 == 10:      # a caller no rule lets in: SYN dropped
            rc, _code, _body = curl(topo["devbox"], "/", 0.3)
            refused["devbox (layer 4)"] += rc != 0
        else:
            rc, code, body = curl(topo["frontend"], "/", 2)
            if rc == 0 and code == "200" and body in ("shop v1", "shop v2"):
                seen[body[5:]] += 1
            else:
                failed += 1
    return seen, refused, failed


def scrape(gw):
    proc = gw.run(["curl", "-sS", "--max-time", "5",
                   "http://%s/metrics" % METRICS], timeout=10, check=True)
    return proc.stdout


def quantile(buckets, q):
    """Prometheus's histogram_quantile over cumulative (le, count)."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return None
    rank, prev_le, prev_n = q * total, 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_n) / \
                max(n - prev_n, 1e-9)
        prev_le, prev_n = le, n
    return prev_le


def main():
    binary, work = sys.argv[1], Path(sys.argv[2]).resolve()
    eal_mem = sys.argv[3:]
    work.mkdir(parents=True, exist_ok=True)
    netns_why = netns.available()
    if netns_why:
        sys.exit("demo: %s" % netns_why)
    topo = netns.Topology()
    gateway = None
    try:
        build(topo, work)
        conf = work / "demo.conf"
        conf.write_text(CONF % {"metrics": METRICS, "dir": work, "vip": VIP})
        (work / "deny.log").write_text("")
        argv = [binary] + eal_mem + [
            "--no-pci", "-l", "0,1", "--file-prefix", PREFIX,
            "--log-level", "lib.*:error", "--vdev",
            "net_af_packet0,iface=gw0", "--", "-f", conf, "--stats-json",
            work / "stats.json"]
        gateway = topo["gw"].popen(argv, work / "meshgate.log")
        mg_telemetry.connect_when_ready(PREFIX, "/meshgate/stats", "rx", 20,
                                        proc=gateway).close()
        print("meshgate: serving http://%s/ (shop) on net_af_packet, "
              "metrics on http://%s/metrics (namespace %s)"
              % (VIP, METRICS, topo["gw"].name))
        print("meshgate: %d s of curl from frontend and devbox ..."
              % TRAFFIC_S)
        started = time.monotonic()
        seen, refused, failed = traffic(topo)
        elapsed = time.monotonic() - started
        text = scrape(topo["gw"])
        recorder = mg_telemetry.query(PREFIX, "/meshgate/recorder")
        rc, log = topo.stop(gateway, signal.SIGINT, 10)
        gateway = None
        if rc != 0:
            print(log, file=sys.stderr)
            sys.exit("demo: meshgate exited with %s" % rc)
    finally:
        if gateway is not None:
            topo.stop(gateway, signal.SIGKILL)
        topo.destroy()

    stats = json.loads((work / "stats.json").read_text())
    total = seen["v1"] + seen["v2"]
    print()
    print("  requests answered  %5d in %.1f s (failed: %d)"
          % (total, elapsed, failed))
    metrics = promtext.Exposition(text)
    sel = {lab["destination_version"]: v for lab, v in
           metrics.select("meshgate_canary_selections_total",
                          destination_service="shop")}
    print("  canary split       v1 %d, v2 %d answered (%.1f%% v2; weight "
          "10%%); the gateway picked v1 %d, v2 %d connections"
          % (seen["v1"], seen["v2"], 100.0 * seen["v2"] / max(total, 1),
             sel.get("v1", 0), sel.get("v2", 0)))
    drops = {lab["reason"]: v for lab, v in
             metrics.select("meshgate_drops_total")}
    print("  denied             %d /admin requests reset (l7_deny %d), "
          "%d devbox connections refused (policy_deny %d SYNs)"
          % (refused["admin (layer 7)"], drops.get("l7_deny", 0),
             refused["devbox (layer 4)"], drops.get("policy_deny", 0)))
    buckets = {}
    for lab, v in metrics.select(
            "meshgate_request_duration_seconds_bucket"):
        le = float("inf") if lab["le"] == "+Inf" else float(lab["le"])
        buckets[le] = buckets.get(le, 0) + v
    p50 = quantile(list(buckets.items()), 0.5) if buckets else None
    p99 = quantile(list(buckets.items()), 0.99) if buckets else None
    if p50 is not None:
        print("  latency            p50 %.2f ms, p99 %.2f ms (request to "
              "first response byte, meshgate_request_duration_seconds)"
              % (p50 * 1e3, p99 * 1e3))
    print("  deny log           %s (%d lines)"
          % (work / "deny.log",
             len((work / "deny.log").read_text().splitlines())))
    if recorder and "file" in recorder:
        print("  flight recorder    %s (%d dropped packets; tshark -r FILE "
              "-T fields -e frame.comment)" % (recorder["file"],
                                               recorder["packets"]))
    print("  mbufs in use after exit: %d of %d"
          % (stats["mempool"]["in_use"], stats["mempool"]["size"]))
    if total == 0 or stats["mempool"]["in_use"] != 0:
        sys.exit("demo: no request answered, or mbufs leaked")


if __name__ == "__main__":
    main()
