#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the deterministic capture of the traffic-telemetry test and every
figure meshgate must count for it.

    gen_metrics_pcaps.py OUTDIR

writes OUTDIR/metrics.pcap (one arm, for tests/configs/metrics_one_arm.conf)
and OUTDIR/metrics.json: per label set (caller, service, version) the TCP
connections opened and closed, UDP connections, HTTP requests by response
class, request-duration observations, L3 bytes each way; per destination
(service, version) the canary selections and handshakes; per policy rule
the allow / deny / dry_run decisions; the drop counters; and the frames
meshgate must send (in order).

What is in it, in this order:
  - 40 HTTP/1.1 exchanges frontend -> shop (pinned to v2), one connection
    each: SYN, SYN-ACK, ACK, "GET /i HTTP/1.1", a response ("HTTP/1.1 200
    OK" for 37, "HTTP/1.1 503 Service Unavailable" for i = 10, 20, 30),
    the client's ACK, FIN both ways, last ACK. 36 over IPv4, 4 over IPv6;
    the IPv4 ones two at a time, interleaved frame by frame (each
    connection keeps its own pending request).
  - batch -> shop (pinned to v1): 4 connections answered "HTTP/1.1 404
    Not Found"; one keep-alive connection with 3 request/response pairs,
    the first response followed by a body segment that itself starts with
    "HTTP/1.1 200 OK" (only the first response after a request counts);
    one connection whose client speaks no HTTP ("GETTER /x", not a
    method) although the server answers with a status line (no request
    is pending: nothing counted); a POST with "Expect: 100-continue"
    (the interim "100 Continue" is the first response: 1xx; the final
    201 follows no request: not counted); one request the server answers
    with a RST (nothing counted; closed after flows.tcp_rst). A dry-run
    deny covers batch -> shop.
  - frontend -> dns (UDP, v1): 2 flows, a query and an answer each.
  - denied: devbox (env dev) -> shop 3 SYNs and -> dns 1 datagram
    (rule dev-never-prod); an unknown caller -> shop, 1 SYN over IPv4
    and 1 over IPv6 (default-deny).
  - a SYN to an address no service has (no_service) and an ACK from the
    frontend without a connection (tcp_not_syn): drops, no decision.

Bytes are IP total lengths (IPv6: 40 + payload length) of every frame of
a TCP connection the gateway forwards, the SYN and SYN-ACK included;
frames are padded to 60 bytes like on a wire, so that counting frame
lengths instead would show. Same bytes on every run: fixed sequence
numbers and timestamps, documentation addresses only.
"""

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_mesh_pcaps import (GW_MAC, Conn, Scenario, tcp_syn,  # noqa: E402
                            udp_frame, write_pcap)

CONFIG = "tests/configs/metrics_one_arm.conf"
MIN_FRAME = 60          # Ethernet minimum without FCS

FRONT_MAC, FRONT4, FRONT6 = "02:00:00:00:01:10", "198.18.1.10", \
    "2001:db8:1::10"
BATCH_MAC, BATCH4 = "02:00:00:00:03:10", "198.18.3.10"
DEV_MAC, DEV4 = "02:00:00:00:09:10", "198.18.9.10"
UNK_MAC, UNK4, UNK6 = "02:00:00:00:05:05", "198.18.5.5", "2001:db8:5::5"
V1_MAC, V1_4, V1_6 = "02:00:00:00:02:21", "198.18.2.21", "2001:db8:2::21"
V2_MAC, V2_4, V2_6 = "02:00:00:00:02:22", "198.18.2.22", "2001:db8:2::22"
DNS_MAC, DNS4 = "02:00:00:00:02:53", "198.18.2.53"
SHOP4, SHOP6, DNS_VIP = "198.19.0.10", "2001:db8:100::10", "198.19.0.53"
NOWHERE4 = "198.18.7.7"
BACKEND_PORT = 8080

FRONT_EXCHANGES = 40
FRONT_V6 = (36, 37, 38, 39)         # these exchanges go over IPv6
FRONT_5XX = (10, 20, 30)
BATCH_404 = 4

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
DECISIONS = ("allow", "deny", "dry_run")
RULES = ("dev-never-prod", "frontend-shop", "frontend-dns", "batch-shop",
         "audit-batch", "default-deny")


def pad(frame):
    data = bytes(frame)
    return data + b"\0" * max(0, MIN_FRAME - len(data))


def ip_len(data):
    """L3 length from the IP header (no VLAN tags in this capture)."""
    ethertype = int.from_bytes(data[12:14], "big")
    if ethertype == 0x0800:
        return int.from_bytes(data[16:18], "big")
    if ethertype == 0x86DD:
        return 40 + int.from_bytes(data[18:20], "big")
    raise ValueError("not IP: %s" % data[:16].hex())


def request(i):
    return b"GET /%d HTTP/1.1\r\nHost: shop\r\nUser-Agent: gen\r\n\r\n" % i


def response(code, reason, body=b""):
    return b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n%s" % (
        code, reason, len(body), body)


OK = response(200, b"OK", b"shop!")
UNAVAILABLE = response(503, b"Service Unavailable")
NOT_FOUND = response(404, b"Not Found")


class LabelSet:
    def __init__(self, identity, service, version):
        self.labels = {"source_workload": identity,
                       "destination_service": service,
                       "destination_version": version}
        self.tcp_opened = self.udp_opened = self.tcp_closed = 0
        self.requests = Counter()
        self.request_durations = 0
        self.received_bytes = self.sent_bytes = 0
        # sizes (head + body) the gateway can tell from a first segment
        self.sizes = {"request": [], "response": []}

    def sized(self, request=None, response=None):
        """Note the size of a request and / or response message."""
        if request is not None:
            self.sizes["request"].append(len(request))
        if response is not None:
            self.sizes["response"].append(len(response))

    def manifest(self):
        m = dict(self.labels)
        m.update({"tcp_opened": self.tcp_opened,
                  "udp_opened": self.udp_opened,
                  "tcp_closed": self.tcp_closed,
                  "requests": {c: self.requests[c] for c in CLASSES},
                  "request_durations": self.request_durations,
                  "received_bytes": self.received_bytes,
                  "sent_bytes": self.sent_bytes})
        for msg, sizes in self.sizes.items():
            m[msg + "_bytes"] = {"count": len(sizes), "sum": sum(sizes)}
        return m


class Metrics:
    """The scenario and the figures it must produce."""

    def __init__(self):
        self.sc = Scenario("metrics", CONFIG)
        self.sets = {}
        self.handshakes = Counter()     # (service, version)
        self.decisions = {r: Counter() for r in RULES}
        self.dry_run_denied = 0

    def labelset(self, identity, service, version):
        key = (identity, service, version)
        if key not in self.sets:
            self.sets[key] = LabelSet(*key)
        return self.sets[key]

    def fwd(self, ls, side, frames, what):
        fin, fout = frames
        fin, fout = pad(fin), pad(fout)
        self.sc.fwd(fin, fout, what)
        if ls is not None:
            if side == "c":
                ls.received_bytes += ip_len(fin)
            else:
                ls.sent_bytes += ip_len(fin)

    def drop(self, frame, reason, what, rule=None):
        self.sc.drop(pad(frame), reason, what)
        if rule is not None:
            self.decisions[rule]["deny"] += 1


def http_steps(pairs, extra_after_first=None):
    """(side, flags, payload) of one connection: handshake, each request
    and its response with the client's ACK, FIN both ways, last ACK."""
    steps = [("c", "S", b""), ("s", "SA", b""), ("c", "A", b"")]
    for k, (req, resp) in enumerate(pairs):
        steps += [("c", "PA", req), ("s", "PA", resp)]
        if k == 0 and extra_after_first is not None:
            steps.append(("s", "PA", extra_after_first))
        steps.append(("c", "A", b""))
    steps += [("c", "FA", b""), ("s", "FA", b""), ("c", "A", b"")]
    return steps


def run_conns(m, conns):
    """Frames of several connections, interleaved step by step.
    conns: [(LabelSet, Conn, steps, what)]."""
    longest = max(len(steps) for _, _, steps, _ in conns)
    for k in range(longest):
        for ls, conn, steps, what in conns:
            if k >= len(steps):
                continue
            side, flags, payload = steps[k]
            make = conn.client if side == "c" else conn.server
            m.fwd(ls, side, make(flags, payload),
                  "%s %s %s" % (what, side, flags))


def tcp_admitted(m, ls, rule, dry_rule=None, n=1):
    ls.tcp_opened += n
    ls.tcp_closed += n      # every connection here ends with FIN/FIN/ACK
    m.handshakes[(ls.labels["destination_service"],
                  ls.labels["destination_version"])] += n
    m.decisions[rule]["allow"] += n
    if dry_rule is not None:
        m.decisions[dry_rule]["dry_run"] += n
        m.dry_run_denied += n
    m.sc.flows += n


def frontend(m):
    ls = m.labelset("frontend", "shop", "v2")
    batch = []
    for i in range(FRONT_EXCHANGES):
        if i in FRONT_5XX:
            resp, cls = UNAVAILABLE, "5xx"
        else:
            resp, cls = OK, "2xx"
        if i in FRONT_V6:
            conn = Conn("tcp", (FRONT6, 31000 + i), (SHOP6, 80),
                        (V2_6, BACKEND_PORT), cli_mac=FRONT_MAC,
                        be_mac=V2_MAC)
        else:
            conn = Conn("tcp", (FRONT4, 30000 + i), (SHOP4, 80),
                        (V2_4, BACKEND_PORT), cli_mac=FRONT_MAC,
                        be_mac=V2_MAC)
        batch.append((ls, conn, http_steps([(request(i), resp)]),
                      "frontend->shop #%d" % i))
        ls.requests[cls] += 1
        ls.request_durations += 1
        ls.sized(request(i), resp)
        tcp_admitted(m, ls, "frontend-shop")
        # IPv4 two at a time, interleaved; IPv6 one by one
        if len(batch) == 2 or i in FRONT_V6:
            run_conns(m, batch)
            batch = []
    if batch:
        run_conns(m, batch)


def batch_callers(m):
    ls = m.labelset("batch", "shop", "v1")

    def conn(port):
        return Conn("tcp", (BATCH4, port), (SHOP4, 80),
                    (V1_4, BACKEND_PORT), cli_mac=BATCH_MAC, be_mac=V1_MAC)
    for i in range(BATCH_404):
        run_conns(m, [(ls, conn(32000 + i),
                       http_steps([(request(100 + i), NOT_FOUND)]),
                       "batch->shop 404 #%d" % i)])
        ls.requests["4xx"] += 1
        ls.request_durations += 1
        ls.sized(request(100 + i), NOT_FOUND)
        tcp_admitted(m, ls, "batch-shop", "audit-batch")
    # keep-alive: 3 requests, each answered once; the first response's
    # body segment starts like a status line and must not count
    pairs = [(request(200 + k), OK) for k in range(3)]
    run_conns(m, [(ls, conn(32100), http_steps(pairs, extra_after_first=(
        b"HTTP/1.1 200 OK\r\n(a body that quotes a response)\r\n")),
        "batch->shop keep-alive")])
    ls.requests["2xx"] += 3
    ls.request_durations += 3
    for req, resp in pairs:
        ls.sized(req, resp)
    tcp_admitted(m, ls, "batch-shop", "audit-batch")
    # no HTTP request from the client: the status line counts nothing
    run_conns(m, [(ls, conn(32200), http_steps(
        [(b"GETTER /x\r\n\r\n", response(200, b"OK"))]),
        "batch->shop not HTTP")])
    tcp_admitted(m, ls, "batch-shop", "audit-batch")
    # Expect: 100-continue: the interim response is the first one after
    # the request, so it is the one counted (1xx); the body that follows
    # is no request, so the final 201 counts nothing
    post = (b"POST /upload HTTP/1.1\r\nHost: shop\r\n"
            b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    cont = b"HTTP/1.1 100 Continue\r\n\r\n"
    steps = http_steps([(post, cont), (b"data", response(201, b"Created"))])
    run_conns(m, [(ls, conn(32300), steps, "batch->shop 100-continue")])
    ls.requests["1xx"] += 1
    ls.request_durations += 1
    # the request's size is its head and the 4 bytes its length
    # announces (sent later); the interim response has no body
    ls.sized(post + b"data", cont)
    tcp_admitted(m, ls, "batch-shop", "audit-batch")
    # reset by the server instead of an answer: no request counted; the
    # connection is closed once removed (flows.tcp_rst)
    c = conn(32400)
    run_conns(m, [(ls, c, [("c", "S", b""), ("s", "SA", b""),
                           ("c", "A", b""), ("c", "PA", request(400)),
                           ("s", "R", b"")], "batch->shop reset")])
    ls.sized(request(400))      # a request, never answered
    tcp_admitted(m, ls, "batch-shop", "audit-batch")


def udp_flows(m):
    ls = m.labelset("frontend", "dns", "v1")
    for k in range(2):
        c = Conn("udp", (FRONT4, 5300 + k), (DNS_VIP, 53), (DNS4, 53),
                 cli_mac=FRONT_MAC, be_mac=DNS_MAC)
        m.fwd(None, "c", c.client(payload=b"\x12\x34query%d" % k),
              "frontend->dns #%d query" % k)
        m.fwd(None, "s", c.server(payload=b"\x12\x34answer%d" % k),
              "frontend->dns #%d answer" % k)
        ls.udp_opened += 1
        m.decisions["frontend-dns"]["allow"] += 1
        m.sc.flows += 1


def denied(m):
    for k in range(3):
        m.drop(tcp_syn(DEV_MAC, DEV4, SHOP4, 41000 + k, 80), "policy_deny",
               "devbox->shop SYN %d" % k, rule="dev-never-prod")
    m.drop(udp_frame(DEV_MAC, DEV4, DNS_VIP, 41100, 53), "policy_deny",
           "devbox->dns", rule="dev-never-prod")
    m.drop(tcp_syn(UNK_MAC, UNK4, SHOP4, 42000, 80), "policy_deny",
           "unknown->shop v4", rule="default-deny")
    m.drop(tcp_syn(UNK_MAC, UNK6, SHOP6, 42001, 80), "policy_deny",
           "unknown->shop v6", rule="default-deny")
    m.drop(tcp_syn(FRONT_MAC, FRONT4, NOWHERE4, 43000, 80), "no_service",
           "SYN to no service")
    m.drop(tcp_syn(FRONT_MAC, "198.18.1.99", SHOP4, 43001, 80, flags="A"),
           "tcp_not_syn", "ACK without a connection")


def build():
    m = Metrics()
    frontend(m)
    batch_callers(m)
    udp_flows(m)
    denied(m)
    sc = m.sc
    sets = [ls.manifest() for ls in m.sets.values()]
    dests = Counter()
    for ls in m.sets.values():
        dests[(ls.labels["destination_service"],
               ls.labels["destination_version"])] += \
            ls.tcp_opened + ls.udp_opened
    manifest = {
        "config": CONFIG,
        "pcap": "metrics.pcap",
        "gw_mac": GW_MAC,
        "frames": len(sc.frames["edge"]),
        "forwarded": len(sc.forwarded),
        "tx_frames": [f["out"] for f in sc.forwarded],
        "drops": dict(sorted(sc.drops.items())),
        "flows_created": sc.flows,
        "dry_run_denied": m.dry_run_denied,
        "label_sets": sets,
        "destinations": [
            {"destination_service": s, "destination_version": v,
             "selections": n, "handshakes": m.handshakes[(s, v)]}
            for (s, v), n in sorted(dests.items())],
        "policies": {r: {d: m.decisions[r][d] for d in DECISIONS}
                     for r in RULES},
    }
    return sc, manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    sc, manifest = build()
    write_pcap(os.path.join(args.outdir, manifest["pcap"]),
               sc.frames["edge"])
    with open(os.path.join(args.outdir, "metrics.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
