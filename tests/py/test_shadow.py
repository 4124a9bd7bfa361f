# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Shadow evaluation. Replay: `--shadow CANDIDATE --shadow-report FILE` beside
tests/configs/shadow_current.conf. A capture of eight connections, each
made so that shadow_candidate.conf decides it differently in one way (or
not at all), gives exactly one record of each kind, with its tuple,
caller, both decisions and rule names; the summary counts them and the
connections. The output and counters are those of a run without a
shadow (frame for frame), and the mbuf pool is back at zero. Live:
`shadow = "path"` in the config, the same counts in /metrics and
/meshgate/shadow, and the candidate reloaded with the config."""

import signal
import urllib.request

from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap

from mgrun import (CONFIGS, check_clean_stop, load_stats, mg_telemetry,
                   pcap_vdev, read_frames, wait_for)
from promtext import Exposition
from test_metrics import free_port

GW_MAC = "02:70:63:61:70:00"      # net_pcap0's MAC
CUR = CONFIGS / "shadow_current.conf"
CAND = CONFIGS / "shadow_candidate.conf"
SHOP = ("198.19.0.10", 80)
SHOP_V1 = ("198.18.2.21", 8080, "02:00:00:00:02:21")
SHOP_V2 = ("198.18.2.22", 8080, "02:00:00:00:02:22")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
KINDS = ("allow_to_deny", "deny_to_allow", "l7_allow_to_deny",
         "l7_deny_to_allow", "version_changed", "backend_changed",
         "service_changed")


def get(path):
    return b"GET %s HTTP/1.1\r\nHost: shop.example\r\n\r\n" % path


class Conn:
    """One TCP conversation through the gateway (as the current config
    routes it): frames in, as a client and backend would send them."""

    def __init__(self, frames, cli, sport, mac, vip, be):
        self.frames, self.cli, self.sport, self.mac = frames, cli, sport, mac
        self.vip, self.be = vip, be
        self.cseq, self.sseq = 1000, 50000

    def client(self, flags, data=b""):
        p = (Ether(src=self.mac, dst=GW_MAC) /
             IP(src=self.cli, dst=self.vip[0]) /
             TCP(sport=self.sport, dport=self.vip[1], flags=flags,
                 seq=self.cseq, ack=self.sseq if "A" in flags else 0,
                 window=65535))
        self.frames.append(p / Raw(data) if data else p)
        self.cseq += len(data) + ("S" in flags)

    def server(self, flags, data=b""):
        p = (Ether(src=self.be[2], dst=GW_MAC) /
             IP(src=self.be[0], dst=self.cli) /
             TCP(sport=self.be[1], dport=self.sport, flags=flags,
                 seq=self.sseq, ack=self.cseq, window=65535))
        self.frames.append(p / Raw(data) if data else p)
        self.sseq += len(data) + ("S" in flags)

    def open(self):
        self.client("S")
        self.server("SA")
        self.client("A")

    def request(self, path, answered=True):
        self.client("PA", get(path))
        if answered:
            self.server("PA", OK)


def capture(path):
    f = []
    # 1. frontend, an /api/v2/ request: both allow, no record
    c = Conn(f, "198.18.1.10", 40001, "02:00:00:00:01:10", SHOP, SHOP_V1)
    c.open()
    c.request(b"/api/v2/items")
    # 2. frontend, /api/items: the candidate keeps only /api/v2/; its
    # connection is over then, so the second request is not compared
    c = Conn(f, "198.18.1.10", 40002, "02:00:00:00:01:10", SHOP, SHOP_V1)
    c.open()
    c.request(b"/api/items")
    c.request(b"/api/v2/more")
    # 3. frontend, a debug query: denied now (a reset), allowed then
    c = Conn(f, "198.18.1.10", 40003, "02:00:00:00:01:10", SHOP, SHOP_V1)
    c.open()
    c.request(b"/api/v2/items?debug=1", answered=False)
    # 4. batch: allowed by an L4 rule now, by nothing then
    c = Conn(f, "198.18.4.10", 40004, "02:00:00:00:04:10", SHOP, SHOP_V1)
    c.open()
    c.request(b"/report")
    # 5. ops: v1 by weight now, pinned to v2 then
    c = Conn(f, "198.18.5.10", 40005, "02:00:00:00:05:10", SHOP, SHOP_V1)
    c.open()
    c.request(b"/status")
    # 6. frontend to dns: another backend then
    f.append(Ether(src="02:00:00:00:01:10", dst=GW_MAC) /
             IP(src="198.18.1.10", dst="198.19.0.53") /
             UDP(sport=40006, dport=53) / Raw(b"\x12\x34" + b"\0" * 10))
    # 7. a SYN to an address only the candidate serves
    f.append(Ether(src="02:00:00:00:01:10", dst=GW_MAC) /
             IP(src="198.18.1.10", dst="198.19.0.70") /
             TCP(sport=40007, dport=9100, flags="S", seq=1))
    # 8. an unknown caller: denied by both, no record
    f.append(Ether(src="02:00:00:00:09:10", dst=GW_MAC) /
             IP(src="198.18.9.10", dst="198.19.0.10") /
             TCP(sport=40008, dport=80, flags="S", seq=1))
    wrpcap(str(path), f)


def replay(mg, tmp_path, name, pcap, extra=()):
    out = tmp_path / ("%s-out.pcap" % name)
    rc, _out, err, stats = mg.run(
        ["-f", str(CUR), "--exit-on-idle", "300"] + list(extra),
        [pcap_vdev(0, rx=pcap, tx=out)], stats=True)
    check_clean_stop(rc, err, stats)
    # the one refused request is counted as a drop and answered by two
    # resets; a refused SYN is a drop answered by one (deny_action)
    assert stats["deny_replies"] == 1, stats
    assert stats["rx"] + 2 + stats["deny_replies"] == \
        stats["tx"] + stats["drops_total"], stats
    return read_frames(out), stats


def by_port(report):
    return {r["src"].split(":")[1]: r for r in report["disagreements"]}


def test_shadow_report(mg, tmp_path):
    pcap = tmp_path / "in.pcap"
    capture(pcap)
    report_path = tmp_path / "report.json"
    frames, stats = replay(mg, tmp_path, "shadow", pcap,
                           ["--shadow", str(CAND),
                            "--shadow-report", str(report_path)])
    plain, plain_stats = replay(mg, tmp_path, "plain", pcap)

    # output and counters follow the current config
    assert frames == plain
    for key in ("rx", "tx", "drops_total", "flows_created",
                "dry_run_denied", "drops"):
        assert stats[key] == plain_stats[key], key
    assert stats["drops"]["policy_deny"] == 1       # the unknown caller
    assert stats["drops"]["no_service"] == 1        # the metrics SYN
    assert stats["drops"]["l7_deny"] == 1           # the debug query

    report = load_stats(report_path)
    assert report["candidate"] == str(CAND)
    assert report["omitted"] == 0
    summary = report["summary"]
    assert summary["connections"] == 8, summary
    want = dict.fromkeys(KINDS, 1)
    want["connections"] = 8
    assert summary == want, summary
    recs = by_port(report)
    assert sorted(recs) == ["40002", "40003", "40004", "40005", "40006",
                            "40007"], report

    r = recs["40002"]
    assert r["kinds"] == ["l7_allow_to_deny"] and r["request"] == 1
    assert r["identity"] == "frontend" and r["proto"] == "tcp"
    assert r["src"] == "198.18.1.10:40002" and r["dst"] == "198.19.0.10:80"
    assert r["current"]["verdict"] == "allow"
    assert r["current"]["rule"] == "shop-api"
    assert r["candidate"] == {"verdict": "deny", "rule": "default-deny",
                              "reason": "l7_deny", "service": "shop"}

    r = recs["40003"]
    assert r["kinds"] == ["l7_deny_to_allow"] and r["request"] == 1
    assert r["current"] == {"verdict": "deny", "rule": "shop-no-debug",
                            "reason": "l7_deny", "service": "shop"}
    assert r["candidate"]["verdict"] == "allow"
    assert r["candidate"]["rule"] == "shop-api-v2"

    r = recs["40004"]
    assert r["kinds"] == ["allow_to_deny"] and "request" not in r
    assert r["identity"] == "batch"
    assert r["current"] == {"verdict": "allow", "rule": "batch-shop",
                            "service": "shop", "version": "v1",
                            "backend": "198.18.2.21:8080"}
    assert r["candidate"] == {"verdict": "deny", "rule": "default-deny",
                              "reason": "policy_deny", "service": "shop"}

    r = recs["40005"]
    assert r["kinds"] == ["version_changed"] and r["identity"] == "ops"
    assert r["current"]["version"] == "v1"
    assert r["current"]["backend"] == "198.18.2.21:8080"
    assert r["candidate"]["version"] == "v2"
    assert r["candidate"]["backend"] == "198.18.2.22:8080"
    assert r["current"]["rule"] == r["candidate"]["rule"] == "ops-shop"

    r = recs["40006"]
    assert r["kinds"] == ["backend_changed"] and r["proto"] == "udp"
    assert r["current"]["backend"] == "198.18.2.31:53"
    assert r["candidate"]["backend"] == "198.18.2.32:53"
    assert r["current"]["version"] == r["candidate"]["version"] == "main"

    r = recs["40007"]
    assert r["kinds"] == ["deny_to_allow", "service_changed"]
    assert r["current"] == {"verdict": "deny", "reason": "no_service",
                            "service": None}
    assert r["candidate"]["service"] == "metrics"
    assert r["candidate"]["rule"] == "everyone-metrics"


def test_same_candidate_agrees(mg, tmp_path):
    """The current config as its own candidate: every connection
    compared (not the SYN to an address neither serves), none
    reported."""
    pcap = tmp_path / "in.pcap"
    capture(pcap)
    report_path = tmp_path / "report.json"
    replay(mg, tmp_path, "same", pcap,
           ["--shadow", str(CUR), "--shadow-report", str(report_path)])
    report = load_stats(report_path)
    assert report["disagreements"] == []
    assert report["summary"] == dict(dict.fromkeys(KINDS, 0),
                                     connections=7)


def test_report_needs_candidate(mg, tmp_path):
    rc, _out, err, _stats = mg.run(
        ["-f", str(CUR), "--shadow-report", str(tmp_path / "r.json")])
    assert rc == 2
    assert "--shadow-report needs a candidate" in err


# ------------------------------------------------------------- live

READY_S = 20
HANDLED_S = 20


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_live_shadow(mg, tmp_path):
    """`shadow = "path"` in a running gateway: the same disagreements
    counted in meshgate_shadow_disagreements_total and listed by
    /meshgate/shadow; a SIGHUP loads the candidate named then, a bad
    one leaves the running one, none stops the evaluation."""
    pcap = tmp_path / "in.pcap"
    capture(pcap)
    frames = len(read_frames(pcap))
    port = free_port()
    base = CUR.read_text().replace('listen = "off"',
                                   'listen = "127.0.0.1:%d"' % port)
    conf = tmp_path / "live.conf"
    conf.write_text(base + '\nshadow = "%s";\n' % CAND)
    stats_path = tmp_path / "stats.json"
    proc = mg.start(["-f", str(conf), "--stats-json", str(stats_path)],
                    [pcap_vdev(0, rx=pcap, tx=tmp_path / "out.pcap")])
    try:
        with mg_telemetry.connect_when_ready(
                mg.prefix, "/meshgate/stats", "rx", READY_S,
                proc=proc) as tel:
            wait_for(lambda: tel.query("/meshgate/stats")["rx"] == frames,
                     HANDLED_S, "%d frames received" % frames)
            sh = wait_for(lambda: (lambda s: s if s["connections"] == 8
                                   else None)(tel.query("/meshgate/shadow")),
                          HANDLED_S, "8 connections compared")
            assert sh["candidate"] == str(CAND)
            for kind in KINDS:
                assert sh[kind] == 1, (kind, sh)
            recent = [sh["recent_%d" % i] for i in range(6)]
            assert "recent_6" not in sh
            by_src = {r["src"]: r for r in recent}
            r = by_src["198.18.4.10:40004"]
            assert r["kinds"] == "allow_to_deny"
            assert r["identity"] == "batch" and r["request"] == 0
            assert r["current"] == ("allow rule=batch-shop service=shop "
                                    "version=v1 backend=198.18.2.21")
            assert r["candidate"] == ("deny rule=default-deny "
                                      "reason=policy_deny service=shop")
            r = by_src["198.18.1.10:40002"]
            assert r["kinds"] == "l7_allow_to_deny" and r["request"] == 1

            text = scrape("http://127.0.0.1:%d/metrics" % port)
            # the candidate adds no series of its own
            assert 'rule="shop-api-v2"' not in text
            assert 'destination_service="metrics",' not in text
            series = sorted(
                (sorted(lab.items()), v) for lab, v in Exposition(text).select(
                    "meshgate_shadow_disagreements_total"))
            assert series == sorted(
                (sorted({"kind": k, "source_workload": i,
                         "destination_service": svc}.items()), 1.0)
                for k, i, svc in (
                    ("allow_to_deny", "batch", "shop"),
                    ("deny_to_allow", "frontend", "metrics"),
                    ("service_changed", "frontend", "metrics"),
                    ("l7_allow_to_deny", "frontend", "shop"),
                    ("l7_deny_to_allow", "frontend", "shop"),
                    ("version_changed", "ops", "shop"),
                    ("backend_changed", "frontend", "dns"))), series

            # reload: a bad candidate leaves the running one
            bad = tmp_path / "bad.conf"
            bad.write_text("mode = \"sideways\";\n")
            conf.write_text(base + '\nshadow = "%s";\n' % bad)
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "shadow rejected" in mg_log(proc), 10,
                     "the bad candidate rejected")
            assert tel.query("/meshgate/shadow")["candidate"] == str(CAND)
            # another candidate: in force; the counts stay
            conf.write_text(base + '\nshadow = "%s";\n' % CUR)
            proc.send_signal(signal.SIGHUP)
            sh = wait_for(lambda: (lambda s: s if s["candidate"] == str(CUR)
                                   else None)(tel.query("/meshgate/shadow")),
                          10, "the new candidate in force")
            assert sh["connections"] == 8
            # none: the evaluation stops
            conf.write_text(base)
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: tel.query("/meshgate/shadow")["candidate"]
                     == "", 10, "the evaluation stopped")
    finally:
        rc, log = mg.stop(proc)
    check_clean_stop(rc, log, load_stats(stats_path))
    assert "%s:1" % bad in log, log      # its error, FILE:LINE


def mg_log(proc):
    proc.log.flush()
    proc.log.seek(0)
    return proc.log.read()
