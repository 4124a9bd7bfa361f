# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The deny log: the shadow test's capture through shadow_current.conf
with deny_log to a file gives one JSON line per denied connection (the
unknown caller's SYN, by default deny) and per denied request (the
debug query, by shop-no-debug), with time, tuple, caller, service, rule
and reason; a SYN to no service is not a denial. Forty denied SYNs with
rate = 1 and burst = 5 give the burst (and what a second refills), and
one line counting the rest as suppressed. The mbuf pool is back at zero
after each run."""

import calendar
import json
import time

from scapy.all import IP, TCP, Ether, wrpcap

from mgrun import check_clean_stop, load_stats, pcap_vdev
from test_shadow import CUR, GW_MAC, capture


def replay(mg, tmp_path, pcap, deny_log):
    conf = tmp_path / "deny.conf"
    conf.write_text(CUR.read_text() + "\ndeny_log = { %s };\n" % deny_log)
    stats_path = tmp_path / "stats.json"
    start = time.monotonic()
    rc, _out, err, stats = mg.run(
        ["-f", str(conf), "--exit-on-idle", "300"],
        [pcap_vdev(0, rx=pcap, tx=tmp_path / "out.pcap")], stats=True)
    check_clean_stop(rc, err, stats)
    return stats, time.monotonic() - start


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_line_per_denial(mg, tmp_path):
    pcap = tmp_path / "in.pcap"
    capture(pcap)
    log = tmp_path / "deny.log"
    log.write_text("")             # appended to, not truncated
    stats, _elapsed = replay(mg, tmp_path, pcap,
                             'file = "%s"; rate = 1000;' % log)
    assert stats["drops"]["policy_deny"] == 1
    assert stats["drops"]["l7_deny"] == 1
    got = lines(log)
    assert len(got) == 2, got
    for line in got:
        when = calendar.timegm(time.strptime(line.pop("time")[:19],
                                             "%Y-%m-%dT%H:%M:%S"))
        assert abs(when - time.time()) < 60, when
    assert got == [
        {"proto": "tcp", "src": "198.18.1.10", "sport": 40003,
         "dst": "198.19.0.10", "dport": 80, "identity": "frontend",
         "service": "shop", "rule": "shop-no-debug", "reason": "l7_deny"},
        {"proto": "tcp", "src": "198.18.9.10", "sport": 40008,
         "dst": "198.19.0.10", "dport": 80, "identity": "unknown",
         "service": "shop", "rule": "default-deny",
         "reason": "policy_deny"}]


def test_rate_limited(mg, tmp_path):
    pcap = tmp_path / "syns.pcap"
    wrpcap(str(pcap), [Ether(src="02:00:00:00:09:10", dst=GW_MAC) /
                       IP(src="198.18.9.10", dst="198.19.0.10") /
                       TCP(sport=41000 + i, dport=80, flags="S", seq=1)
                       for i in range(40)])
    log = tmp_path / "deny.log"
    stats, elapsed = replay(mg, tmp_path, pcap,
                            'file = "%s"; rate = 1; burst = 5;' % log)
    assert stats["drops"]["policy_deny"] == 40
    got = lines(log)
    denied = [line for line in got if "reason" in line]
    suppressed = sum(line["suppressed"] for line in got
                     if "suppressed" in line)
    # the burst, plus at most one line per second the run lasted
    assert 5 <= len(denied) <= 5 + int(elapsed) + 1, (len(denied), elapsed)
    assert len(denied) + suppressed == 40, got
    assert [line["sport"] for line in denied] == \
        list(range(41000, 41000 + len(denied)))
