#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the captures of the overload tests (tests/py/test_overload.py)
and, for every frame, what meshgate must do with it: per-caller limits,
the half-open budget and a flow table full of established connections.

    gen_overload_pcaps.py OUTDIR

limits.pcap   (overload.conf) the limits of each caller, at the start of
              the capture so no token comes back during the replay:
              partner: 15 SYNs against 10 new connections at once
              (rate_limited_conn); batch: 8 SYNs against 5 concurrent
              connections (conn_limit), one reset and one closed by FINs
              give their places back, the next SYN beyond is refused;
              branch: 5 connections for the identity, 2 for each source
              address (conn_limit, per source and for the identity);
              bulk: 20 packets at once of its connection, both ways,
              then rate_limited_pps; frontend: no limit.
halfopen.pcap (overload.conf, flows.max_half_open = 64) an established
              connection, then 200 SYNs and 80 UDP queries from spoofed
              sources that never answer: each is forwarded and the
              oldest half-open ones are evicted (the backend's answers
              to evicted ones are no_service, to the newest forwarded);
              the established connection is never evicted.
tablefull.pcap (overload.conf) 1,024 connections established one after
              another fill flows.max; further SYNs are flow_table_full
              (no half-open one to evict), and the established
              connections go on.
rate-q0.pcap, rate-q1.pcap
              (overload_rate.conf) UDP queries of 40 flows of "bulk" to
              dns, 30 in the first capture and 10 in the second: the two
              queues of a port, replayed forever, each polled by its own
              worker (test_two_workers_rate).
overload.json per scenario: the frames meshgate must send, in order,
              with their bytes, the drop counters, the connections
              created and what --stats-json's "overload" object must say.

Addresses and MACs are those of tests/configs/overload.conf; only
documentation addresses (198.18.0.0/15). Every run writes the same
bytes.
"""

import argparse
import json
import os
import sys

from scapy.all import IP, UDP, Ether, Raw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_enforce_pcaps import CLI_MAC, GW_MAC, Conn, Scenario  # noqa: E402

CONFIG = "tests/configs/overload.conf"
BE_MAC, DNS_MAC = "02:00:00:00:02:21", "02:00:00:00:02:53"
PLAIN = ({4: "198.19.0.70"}, 80, {4: "198.18.2.21"}, 8081, BE_MAC)
DNS_VIP, DNS_BE = "198.19.0.53", "198.18.2.53"
HALF_OPEN = 64                  # flows.max_half_open of overload.conf
TABLE_MAX = 1024                # flows.max


class OverloadScenario(Scenario):
    def __init__(self, name):
        super().__init__(name, CONFIG)
        self.overload = {}

    def manifest(self):
        m = super().manifest()
        m["overload"] = self.overload
        return m


def conn(sc, src, sport):
    """A TCP connection from `src` to plain."""
    c = Conn(sc, PLAIN, 4, sport, isn=sport * 1000)
    c.cli = (src, sport)
    return c


def syn_dropped(c, reason):
    fin, _ = c.client("S", advance=False)
    c.sc.drop(fin, reason)


def syn_ok(c, what):
    c.c("S", what=what)
    c.sc.flows += 1


def limits_scenario():
    sc = OverloadScenario("limits")
    # partner: 10 new connections at once, then refused
    for k in range(15):
        c = conn(sc, "198.18.3.10", 20000 + k)
        if k < 10:
            syn_ok(c, "partner SYN %d" % k)
        else:
            syn_dropped(c, "rate_limited_conn")
    # batch: 5 at once; a reset and a close give places back
    held = []
    for k in range(8):
        c = conn(sc, "198.18.4.10", 21000 + k)
        if k < 5:
            syn_ok(c, "batch SYN %d" % k)
            held.append(c)
        else:
            syn_dropped(c, "conn_limit")
    held[0].c("R", what="batch 0 reset by the client")
    c = conn(sc, "198.18.4.10", 21100)
    syn_ok(c, "batch SYN after a reset")
    b = held[1]
    b.s("SA", what="batch 1 SYN-ACK")
    b.c("A", what="batch 1 ACK")
    b.c("FA", what="batch 1 client FIN")
    b.s("FA", what="batch 1 backend FIN")
    b.c("A", what="batch 1 last ACK")
    c = conn(sc, "198.18.4.10", 21101)
    syn_ok(c, "batch SYN after a close")
    syn_dropped(conn(sc, "198.18.4.10", 21102), "conn_limit")
    # branch: 2 per source, 5 in all
    for src, n, ok in (("198.18.6.10", 3, 2), ("198.18.6.11", 2, 2),
                       ("198.18.6.12", 2, 1)):
        for k in range(n):
            c = conn(sc, src, 22000 + k)
            if k < ok:
                syn_ok(c, "branch %s SYN %d" % (src, k))
            else:
                syn_dropped(c, "conn_limit")
    # bulk: 20 packets, both directions counted
    c = conn(sc, "198.18.7.10", 23000)
    syn_ok(c, "bulk SYN")
    c.s("SA", what="bulk SYN-ACK")
    c.c("A", what="bulk ACK")
    for k in range(25):
        if k < 17:
            c.c("PA", b"x" * 100, what="bulk data %d" % k)
        else:
            fin, _ = c.client("PA", b"x" * 100, advance=False)
            sc.drop(fin, "rate_limited_pps")
    # frontend: no limit
    for k in range(20):
        syn_ok(conn(sc, "198.18.1.10", 24000 + k), "frontend SYN %d" % k)
    sc.overload = {
        "half_open_budget": HALF_OPEN,
        "limits": {
            "partner-rate": {"connections": 10, "rate_limited_conn": 5,
                             "conn_limit": 0, "rate_limited_pps": 0},
            "batch-conns": {"connections": 5, "rate_limited_conn": 0,
                            "conn_limit": 4, "rate_limited_pps": 0},
            "branch": {"connections": 5, "rate_limited_conn": 0,
                       "conn_limit": 2, "rate_limited_pps": 0},
            "bulk-pps": {"connections": 1, "rate_limited_conn": 0,
                         "conn_limit": 0, "rate_limited_pps": 8},
        },
    }
    return sc


def public(k):
    """The k-th spoofed source of the public /17."""
    return "198.18.%d.%d" % (128 + k // 250, 1 + k % 250)


def udp_pair(src, sport, payload):
    """(in, out): a query to the dns VIP and what its backend gets."""
    q = (Ether(src=CLI_MAC, dst=GW_MAC) / IP(src=src, dst=DNS_VIP, id=7) /
         UDP(sport=sport, dport=53) / Raw(payload))
    fwd = (Ether(src=GW_MAC, dst=DNS_MAC) /
           IP(src=src, dst=DNS_BE, id=7, ttl=63) /
           UDP(sport=sport, dport=53) / Raw(payload))
    return q, fwd


def udp_answer(dst, sport, payload):
    a = (Ether(src=DNS_MAC, dst=GW_MAC) / IP(src=DNS_BE, dst=dst, id=9) /
         UDP(sport=53, dport=sport) / Raw(payload))
    back = (Ether(src=GW_MAC, dst=CLI_MAC) /
            IP(src=DNS_VIP, dst=dst, id=9, ttl=63) /
            UDP(sport=53, dport=sport) / Raw(payload))
    return a, back


def halfopen_scenario():
    sc = OverloadScenario("halfopen")
    est = conn(sc, "198.18.1.10", 30000)
    est.handshake()
    syns = []
    for k in range(200):
        c = conn(sc, public(k), 31000 + k)
        syn_ok(c, "spoofed SYN %d" % k)
        syns.append(c)
    # the oldest were evicted: the backend's answer matches nothing
    fin, _ = syns[0].server("SA")
    sc.drop(fin, "no_service")
    syns[-1].s("SA", what="SYN-ACK of the newest")
    syns[-1].c("A", what="ACK of the newest: established")
    for k in range(80):
        q, fwd = udp_pair(public(1000 + k), 32000 + k, b"q%d" % k)
        sc.add(q)
        sc.expect(fwd, "spoofed UDP query %d" % k)
        sc.flows += 1
    a, _ = udp_answer(public(1000), 32000, b"a0")
    sc.drop(a, "no_service")
    a, back = udp_answer(public(1079), 32079, b"a79")
    sc.add(a)
    sc.expect(back, "answer to the newest UDP query")
    est.c("PA", b"GET / HTTP/1.1\r\n\r\n", what="established: request")
    est.s("PA", b"HTTP/1.1 204 No Content\r\n\r\n",
          what="established: response")
    sc.overload = {"half_open_budget": HALF_OPEN,
                   "half_open_peak": HALF_OPEN}
    return sc


def tablefull_scenario():
    sc = OverloadScenario("tablefull")
    first = None
    for k in range(TABLE_MAX):
        c = conn(sc, "198.18.%d.%d" % (128 + k // 250, 1 + k % 250),
                 40000 + k % 20000)
        c.handshake()
        first = first or c
    for k in range(50):
        syn_dropped(conn(sc, "198.18.1.10", 50000 + k), "flow_table_full")
    first.c("PA", b"GET / HTTP/1.1\r\n\r\n", what="first: request")
    first.s("PA", b"HTTP/1.1 204 No Content\r\n\r\n", what="first: response")
    sc.overload = {"half_open_budget": HALF_OPEN, "half_open_peak": 1}
    return sc


SCENARIOS = (limits_scenario, halfopen_scenario, tablefull_scenario)


def rate_captures(outdir):
    """Two captures of UDP queries from "bulk", 3 flows to 1."""
    from gen_mesh_pcaps import write_pcap
    for name, first, n in (("rate-q0.pcap", 0, 30), ("rate-q1.pcap", 30, 10)):
        frames = [bytes(udp_pair("198.18.7.%d" % (10 + k), 33000 + k,
                                 b"rate%d" % k)[0])
                  for k in range(first, first + n)]
        write_pcap(os.path.join(outdir, name), frames)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    manifest = {}
    for make in SCENARIOS:
        sc = make()
        manifest[sc.name] = sc.write(args.outdir)
    rate_captures(args.outdir)
    with open(os.path.join(args.outdir, "overload.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
