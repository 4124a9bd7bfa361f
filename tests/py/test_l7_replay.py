# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Layer-7 authorization, replayed through the real binary with net_pcap
and checked packet by packet. Full TCP conversations to an HTTP and a TLS
service (tests/configs/l7_replay.conf): allowed requests and ClientHellos
leave DNATed with valid checksums; a refused segment is absent and
answered by exactly two RST|ACKs, one toward the client from the service's
virtual address (seq = the segment's ack, ack = its seq + length) and one
toward the backend from the client (seq = the first byte the backend has
not received, ack = the segment's ack), with valid checksums and the right
MACs. Keep-alive, pipelined and split heads, bodies skipped by
Content-Length and chunked framing, non-HTTP and malformed requests,
out-of-order segments and retransmissions, packets (with and without
data) after a reset, heads and ClientHellos over l7.max_request_bytes
(split and whole), SNI allow/deny/absent/GREASE/split, and
(l7_replay_pending.conf) a third split head with max_pending = 2.
Drop counters by reason, per-rule decisions (DPDK telemetry
/meshgate/policies, read once the capture is handled) and the mbuf pool
back at zero. Captures and expectations come from scripts/gen_l7_pcaps.py.
"""

import json
import subprocess
import sys

import pytest
from scapy.all import IP, TCP, Ether, IPv6, conf as scapy_conf

from mgrun import (CONFIGS, REPO, load_stats, mg_telemetry, pcap_vdev,
                   read_frames, wait_for)
from test_mesh_replay import (assert_drops, assert_no_sanitizer_report,
                              bad_checksums, check_mesh_stats, describe,
                              norm_forwarded)

scapy_conf.verb = 0

GEN = REPO / "scripts" / "gen_l7_pcaps.py"
L7_CONFIGS = sorted(CONFIGS.glob("l7_replay*.conf"))
L7_REASONS = ("l7_deny", "l7_not_http", "l7_bad_request", "l7_not_tls",
              "l7_bad_hello", "l7_too_large", "l7_pending_full",
              "l7_out_of_order", "l7_reset")
DECISIONS = ("allow", "deny", "dry_run")
READY_S = 20            # EAL start-up to the first telemetry reply
HANDLED_S = 20          # every frame of a capture received and handled
IDLE_MS = 1000          # --exit-on-idle: room to read telemetry first
EXIT_S = 30


class L7Captures:
    def __init__(self, outdir):
        self.dir = outdir
        with open(outdir / "l7.json") as f:
            self.manifest = json.load(f)

    def __getitem__(self, name):
        return self.manifest["scenarios"][name]

    def pcap(self, name):
        return self.dir / self[name]["pcap"]


@pytest.fixture(scope="module")
def l7(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("l7-pcaps")
    subprocess.run([sys.executable, str(GEN), str(outdir)], check=True,
                   timeout=120)
    return L7Captures(outdir)


class Run:
    """One replay: the stats JSON, the last /meshgate/stats and
    /meshgate/policies replies (read after every frame was handled) and
    the frames written."""

    def __init__(self, sc, stats, tel, policies, flows, out):
        self.sc, self.stats, self.tel, self.policies, self.out = \
            sc, stats, tel, policies, out
        self.flows = flows


def replay(mg, l7, name, tmp_path):
    sc = l7[name]
    out = tmp_path / ("%s-out.pcap" % name)
    stats_path = tmp_path / ("%s-stats.json" % name)
    proc = mg.start(["-f", str(REPO / sc["config"]), "--exit-on-idle",
                     str(IDLE_MS), "--stats-json", str(stats_path)],
                    [pcap_vdev(0, rx=l7.pcap(name), tx=out)])
    tel = policies = flows = None
    try:
        with mg_telemetry.connect_when_ready(
                mg.prefix, "/meshgate/stats", "rx", READY_S,
                pid=proc.pid) as conn:
            last = [None]

            def settled():
                """Every frame received, and the counters the same on two
                replies 50 ms apart (the last burst handled)."""
                s = conn.query("/meshgate/stats")
                figures = (s["rx"], s["tx"], s["drops_total"])
                done = s["rx"] >= sc["frames"] and figures == last[0]
                last[0] = figures
                return s if done else None
            tel = wait_for(settled, HANDLED_S, "%d frames received and "
                           "handled" % sc["frames"])
            policies = conn.query("/meshgate/policies")
            flows = conn.query("/meshgate/flows")
    except (TimeoutError, AssertionError, OSError) as err:
        rc, log = mg.stop(proc)
        pytest.fail("telemetry: %s (rc %s)\n%s" % (err, rc, log))
    try:
        proc.wait(EXIT_S)
    except subprocess.TimeoutExpired:
        pass
    rc, log = mg.stop(proc)
    assert rc == 0, log
    assert_no_sanitizer_report(log)
    stats = check_mesh_stats(load_stats(stats_path))
    assert stats["rx"] == sc["frames"], (stats["rx"], sc["frames"])
    return Run(sc, stats, tel, policies, flows, read_frames(out))


# ------------------------------------------------------------- checks

def is_reset(data):
    pkt = Ether(data)
    return TCP in pkt and "R" in pkt[TCP].flags


def norm_reset(got, want_hex):
    """The expected reset with the IP fields the contract leaves to the
    gateway (TTL / hop limit, IPv4 id, flags and TOS, IPv6 traffic class
    and flow label) taken from `got`."""
    want = Ether(bytes.fromhex(want_hex))
    g = Ether(got)
    if IP in want and IP in g:
        for f in ("ttl", "id", "flags", "tos"):
            setattr(want[IP], f, getattr(g[IP], f))
        del want[IP].chksum
    elif IPv6 in want and IPv6 in g:
        for f in ("hlim", "tc", "fl"):
            setattr(want[IPv6], f, getattr(g[IPv6], f))
    return bytes(want)


def reset_matches(got, want_hex):
    want = norm_reset(got, want_hex)
    # a 54-byte IPv4 reset may leave padded to 60
    return got[:len(want)] == want and not any(got[len(want):])


def forwarded_matches(got, exp):
    try:
        return got == norm_forwarded(got, exp["out"])
    except AssertionError:      # a TTL that is neither kept nor -1
        return False


def assert_forwarded(got_frames, expected):
    """Forwarded frames in order, byte for byte (modulo norm_forwarded),
    with valid checksums; nothing more, nothing less. A mismatch lists
    every expected frame missing and every frame not expected."""
    left = list(got_frames)
    missing = []
    for exp in expected:
        hit = next((g for g in left if forwarded_matches(g, exp)), None)
        if hit is None:
            missing.append(exp)
        else:
            left.remove(hit)
    assert not missing and not left, \
        "%d expected frames not forwarded:\n  %s\n%d frames forwarded " \
        "that should not be:\n  %s" % (
            len(missing), "\n  ".join("input %d: %s" % (e["in"], e["what"])
                                      for e in missing),
            len(left), "\n  ".join(describe(g) for g in left))
    for i, (got, exp) in enumerate(zip(got_frames, expected)):
        bad = bad_checksums(got)
        assert not bad, "forwarded frame %d (%s): bad checksums %s\n%s" % (
            i, exp["what"], bad, describe(got))
        want = norm_forwarded(got, exp["out"])
        assert got == want, "forwarded frame %d is not input %d (%s): " \
            "order changed\n got %s\nwant %s" % (
                i, exp["in"], exp["what"], describe(got), describe(want))


def assert_resets(got_frames, expected):
    """Exactly the two resets of every refused segment, each once, with
    valid checksums. A mismatch lists every reset missing and every one
    not expected."""
    left = list(got_frames)
    missing = []
    for exp in expected:
        for side in ("to_client", "to_backend"):
            hit = next((g for g in left if reset_matches(g, exp[side])),
                       None)
            if hit is None:
                missing.append("input %d (%s, %s) %s: want\n    %s" % (
                    exp["in"], exp["what"], exp["reason"], side,
                    describe(bytes.fromhex(exp[side]))))
                continue
            bad = bad_checksums(hit)
            assert not bad, "%s %s: bad checksums %s" % (exp["what"], side,
                                                        bad)
            left.remove(hit)
    assert not missing and not left, \
        "%d resets missing:\n  %s\n%d resets not expected:\n  %s" % (
            len(missing), "\n  ".join(missing), len(left),
            "\n  ".join(describe(g) for g in left))


def policy_figures(reply):
    """{rule: {decision: n}} from a /meshgate/policies reply."""
    assert isinstance(reply, dict), reply
    out = {}
    for entry in reply.values():
        rule = entry.get("rule")
        assert rule is not None and rule not in out, reply
        out[rule] = {d: entry.get(d, 0) for d in DECISIONS}
    return out


def expected_decisions(sc):
    """Per rule: one decision per request head or ClientHello decided
    (rules 1-4 of the spec), plus the SYNs the L4 rules deny (counted as
    before). An admitted connection to a service with layer-7 rules is
    counted per request only, not at its SYN."""
    want = {}
    for rule, per_request in sc["request_decisions"].items():
        at_syn = sc["syn_decisions"][rule]
        want[rule] = {d: per_request[d] + at_syn[d] for d in DECISIONS}
    return want


def check_run(run):
    sc, stats = run.sc, run.stats
    resets = [f for f in run.out if is_reset(f)]
    forwarded = [f for f in run.out if not is_reset(f)]
    assert_forwarded(forwarded, sc["forwarded"])
    assert_resets(resets, sc["resets"])
    missing = set(L7_REASONS) - set(stats["drops"])
    assert not missing, "drop reasons missing from stats-json: %s" % \
        sorted(missing)
    assert_drops(stats, sc["drops"])
    assert stats["tx"] == len(run.out) == \
        len(sc["forwarded"]) + 2 * len(sc["resets"]), \
        "tx %d, %d frames written" % (stats["tx"], len(run.out))
    assert stats["flows_created"] == sc["flows_created"], stats
    got = policy_figures(run.policies)
    want = expected_decisions(sc)
    wrong = {r: (got.get(r), w) for r, w in want.items() if got.get(r) != w}
    assert not wrong, "per-rule decisions (got, want):\n%s" % "\n".join(
        "  %s: %s" % kv for kv in sorted(wrong.items()))
    extra = {r: g for r, g in got.items() if r not in want and any(
        g.values())}
    assert not extra, "decisions of unexpected rules: %s" % extra


# -------------------------------------------------------------- tests

@pytest.mark.parametrize("path", L7_CONFIGS, ids=lambda p: p.name)
def test_check_config_l7(run, path):
    rc, _, err, _ = run(["-f", str(path), "--check-config"])
    assert rc == 0, err
    assert str(path) + ":" not in err, err


def test_l7_conversations(mg, l7, tmp_path):
    """Every conversation of main.pcap, frame by frame (the generator's
    docstrings say what each one is), the drop counters, the per-rule
    decisions and no mbuf leaked."""
    check_run(replay(mg, l7, "main", tmp_path))


def test_l7_pending_full(mg, l7, tmp_path):
    """max_pending = 2: two split heads are held, the third connection's
    first segment is refused (l7_pending_full, both resets); once the two
    complete, a fourth split head is held again."""
    run = replay(mg, l7, "pending", tmp_path)
    assert run.sc["drops"] == {"l7_pending_full": 1}
    # every head completed: the buffers are back
    assert run.flows["l7_capacity"] == 2, run.flows
    assert run.flows["l7_held"] == 0, run.flows
    check_run(run)


def test_l7_empty_segment_after_reset(mg, l7, tmp_path):
    """After a deny, a client ACK without data is refused as l7_reset and
    answered with the pair of resets, like any later packet (IPv4, IPv6)."""
    check_run(replay(mg, l7, "after_reset", tmp_path))


def test_l7_too_large_in_one_segment(mg, l7, tmp_path):
    """A request head and a ClientHello over l7.max_request_bytes, each
    whole in one segment, are refused as l7_too_large like split ones."""
    check_run(replay(mg, l7, "too_large", tmp_path))


def test_l7_spot_checks(l7):
    """The expectations say what the spec says for a few cases, spelt out
    (so a generator bug cannot make the test agree with a data-path bug):
    the keep-alive deny's resets, a split head's reset toward the backend
    at the start of the refused half, and an out-of-order drop without a
    reset."""
    sc = l7["main"]
    frames = read_frames(l7.pcap("main"))
    by_what = {r["what"]: r for r in sc["resets"]}
    deny = by_what["keepalive GET /admin/users (denied)"]
    seg = Ether(frames[deny["in"]])
    to_client = Ether(bytes.fromhex(deny["to_client"]))
    to_backend = Ether(bytes.fromhex(deny["to_backend"]))
    plen = len(seg[TCP].payload)
    assert (to_client[IP].src, to_client[TCP].sport) == \
        (seg[IP].dst, seg[TCP].dport)
    assert to_client[TCP].seq == seg[TCP].ack
    assert to_client[TCP].ack == (seg[TCP].seq + plen) & 0xFFFFFFFF
    assert (to_backend[IP].src, to_backend[TCP].sport) == \
        (seg[IP].src, seg[TCP].sport)
    assert to_backend[TCP].seq == seg[TCP].seq
    assert to_backend[TCP].ack == seg[TCP].ack
    assert to_client[TCP].flags == to_backend[TCP].flags == "RA"
    after = by_what["keepalive GET after the reset"]
    assert Ether(bytes.fromhex(after["to_backend"]))[TCP].seq == \
        seg[TCP].seq, "the backend still lacks the denied bytes"
    split = by_what["split GET /admin, the rest (denied)"]
    first_half = Ether(frames[split["in"] - 1])
    assert Ether(bytes.fromhex(split["to_backend"]))[TCP].seq == \
        first_half[TCP].seq + 8
    assert sc["drops"]["l7_out_of_order"] == 1
    assert not any("before /api/one" in r["what"] for r in sc["resets"])


def test_captures_are_deterministic(l7, tmp_path):
    subprocess.run([sys.executable, str(GEN), str(tmp_path)], check=True,
                   timeout=120)
    for path in sorted(l7.dir.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), \
            path.name
