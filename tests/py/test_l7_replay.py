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
(split and whole), SNI allow/deny/absent/GREASE/split, the normal
forms fields are matched in (a query or ";params" after a denied path,
Host with port, trailing dot and capitals, no Host, a query rule, h2c and
unknown upgrades denied, a websocket upgrade opaque after its 101, SNI
with a trailing dot, no SNI denied or explicitly allowed),
(l7_replay_pending.conf) a third split head with max_pending = 2, and
strict client segments (insertion defence): a bad TCP or IPv4 header
checksum or a stale TCP timestamp drops a segment without a reset and
without its bytes counting as seen, so other bytes at the same sequence
number are inspected; IPv4 options, IPv6 extension headers, URG and TCP
options outside the accepted set, data without an acceptable ACK
reset as l7_ambiguous; after an allowed ClientHello nothing is checked.
Drop counters by reason, per-rule decisions (DPDK telemetry
/meshgate/policies, read once the capture is handled) and the mbuf pool
back at zero. Captures and expectations come from scripts/gen_l7_pcaps.py.
"""

import json
import subprocess
import sys

import pytest
from scapy.all import IP, TCP, Ether, IPv6, conf as scapy_conf

from mgrun import (CONFIGS, REPO, assert_no_sanitizer_report, drop_reasons,
                   load_stats, mg_telemetry, pcap_vdev, read_frames,
                   wait_for)
from test_mesh_replay import (assert_drops, bad_checksums, check_mesh_stats,
                              describe, norm_forwarded)

scapy_conf.verb = 0

GEN = REPO / "scripts" / "gen_l7_pcaps.py"
L7_CONFIGS = sorted(CONFIGS.glob("l7_replay*.conf"))
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
                proc=proc) as conn:
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
        # one that came in with a wrong TCP checksum, no longer checked,
        # leaves with the error carried over by the NAT (the bytes below)
        assert [b[0] for b in bad] == (["TCP"] if exp.get("bad_cksum")
                                       else []), \
            "forwarded frame %d (%s): bad checksums %s\n%s" % (
                i, exp["what"], bad, describe(got))
        want = norm_forwarded(got, exp["out"])
        assert got == want, "forwarded frame %d is not input %d (%s): " \
            "order changed\n got %s\nwant %s" % (
                i, exp["in"], exp["what"], describe(got), describe(want))


def assert_resets(got_frames, expected):
    """Exactly the two resets of every refused segment, each once, with
    valid checksums. A segment with IPv4 options or an IPv6 extension
    header may have them kept in its resets or not (the spec leaves it
    open: side_kept is the expectation with them). A mismatch lists every
    reset missing and every one not expected."""
    left = list(got_frames)
    missing = []
    for exp in expected:
        for side in ("to_client", "to_backend"):
            wants = [exp[side]] + [exp[k] for k in (side + "_kept",)
                                   if k in exp]
            hit = next((g for g in left if any(reset_matches(g, w)
                                               for w in wants)), None)
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
    # the RSTs answering SYNs the L4 rules deny (deny_action "reset"),
    # byte for byte: from the VIP, sequence 0, acknowledging the SYN
    denied = [f for f in run.out if f.hex() in sc["deny_replies"]]
    assert sorted(f.hex() for f in denied) == sorted(sc["deny_replies"])
    for f in denied:
        assert not bad_checksums(f), describe(f)
    rest = [f for f in run.out if f.hex() not in sc["deny_replies"]]
    resets = [f for f in rest if is_reset(f)]
    forwarded = [f for f in rest if not is_reset(f)]
    assert_forwarded(forwarded, sc["forwarded"])
    assert_resets(resets, sc["resets"])
    missing = set(drop_reasons("l7_")) - set(stats["drops"])
    assert not missing, "drop reasons missing from stats-json: %s" % \
        sorted(missing)
    assert_drops(stats, sc["drops"])
    assert stats["tx"] == len(run.out) == \
        len(sc["forwarded"]) + 2 * len(sc["resets"]) + \
        len(sc["deny_replies"]), \
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


def test_l7_normal_forms(mg, l7, tmp_path):
    """normal_forms.pcap: every field matched in its normal form. Denied
    (both resets) for a path with a query or ";params" after /admin, a
    denied query parameter, Host Admin.Example:80 and ADMIN.EXAMPLE.:8080,
    frontend's request without Host, h2c and an unknown upgrade protocol,
    a websocket upgrade from an L4-allowed caller, GET /admin after a
    101 the request never asked for, SNI Admin.Example., a ClientHello
    without SNI (l7_no_sni); allowed for Host Shop.Example.:80, batch
    without Host, SNI API.Example., a ClientHello without SNI where
    allow_no_sni says so, and a websocket upgrade shop-ws allows, whose
    bytes after the 101 pass uninspected."""
    run = replay(mg, l7, "normal_forms", tmp_path)
    drops = run.sc["drops"]
    assert drops["l7_upgrade_deny"] == 3 and drops["l7_no_sni"] == 1, drops
    check_run(run)


def test_l7_normal_forms_spot_checks(l7):
    """The normal-forms capture says what the issue says, from the frames
    themselves: each path, query and Host refused is one a rule matches
    only in its normal form, the frame after the websocket 101 is
    forwarded though it reads as GET /admin, and the one after the
    unasked-for 101 is refused."""
    sc = l7["normal_forms"]
    frames = read_frames(l7.pcap("normal_forms"))
    by_what = {r["what"]: r for r in sc["resets"]}
    fwd = {f["what"]: f for f in sc["forwarded"]}

    def head(i):
        return bytes(Ether(frames[i])[TCP].payload).split(b"\r\n")

    for what, line in (("nf-path-47001 GET /admin?x (denied)",
                        b"GET /admin?x HTTP/1.1"),
                       ("nf-path-47002 GET /admin;x (denied)",
                        b"GET /admin;x HTTP/1.1")):
        assert head(by_what[what]["in"])[0] == line
        assert by_what[what]["reason"] == "l7_deny"
    r = by_what["nf-host-47006 GET /api/items, Host Admin.Example:80 "
                "(denied)"]
    assert b"Host: Admin.Example:80" in head(r["in"])
    r = by_what["nf-h2c GET /api/items, Upgrade: h2c (denied)"]
    assert b"Upgrade: h2c" in head(r["in"]) and \
        r["reason"] == "l7_upgrade_deny"
    ws = fwd["nf-ws a frame reading 'GET /admin ...', after the 101"]
    frame = Ether(frames[ws["in"]])
    assert b"GET /admin HTTP/1.1" in bytes(frame[TCP].payload)
    after = by_what["nf-connection-upgrade GET /admin after it (denied)"]
    assert fwd["nf-connection-upgrade a 101 nobody asked for"]["in"] < \
        after["in"]
    assert by_what["nf-no-sni-v6 ClientHello without SNI (denied)"][
        "reason"] == "l7_no_sni"


def test_l7_strict_segments(mg, l7, tmp_path):
    """Strict client segments on inspected connections (strict.pcap):
    insertions with a bad TCP or IPv4 header checksum or a stale TSval
    dropped without a reset, the bytes at their sequence number then
    inspected as new (a denied request reset, an allowed one decided
    once); IPv4 options, an IPv6 Destination Options header, URG, an MD5
    or unknown TCP option on data reset as l7_ambiguous; no ACK or an ACK
    of bytes the backend never sent dropped by TCP tracking before
    inspection (tcp_out_of_window); timestamps, SACK, NOPs and an
    ACK of less than the backend sent pass; after an allowed ClientHello
    nothing is checked (a bad checksum leaves NATed, the error carried
    over)."""
    check_run(replay(mg, l7, "strict", tmp_path))


ACCEPTED_TCP_OPTIONS = {0, 1, 2, 3, 4, 5, 8}
# the virtual addresses of tests/configs/l7_replay.conf
VIPS = ("198.19.0.10", "2001:db8:100::10", "198.19.0.60", "2001:db8:100::60")


def tcp_option_kinds(pkt):
    """The kinds of a TCP header's options, from its bytes."""
    t = pkt[TCP]
    opts = bytes(t)[20:t.dataofs * 4]
    kinds, k = [], 0
    while k < len(opts):
        kinds.append(opts[k])
        if opts[k] == 0:
            break
        k += 1 if opts[k] == 1 else opts[k + 1]
    return kinds


def tsval(pkt):
    return next((v[0] for n, v in pkt[TCP].options if n == "Timestamp"),
                None)


def ambiguous(pkt, backend_end):
    """What makes a client data segment ambiguous by the addendum's rule
    2 (and README: no ACK, or an ACK of bytes the backend never sent;
    backend_end is the end of what it sent), or None."""
    t = pkt[TCP]
    if "A" not in t.flags:
        return "no ACK"
    if 0 < (t.ack - backend_end) & 0xFFFFFFFF < 0x80000000:
        return "ACK beyond"
    if IP in pkt and pkt[IP].ihl > 5:
        return "IPv4 options"
    if IPv6 in pkt and pkt[IPv6].nh != 6:
        return "IPv6 extension header"
    if "U" in pkt[TCP].flags:
        return "URG"
    odd = set(tcp_option_kinds(pkt)) - ACCEPTED_TCP_OPTIONS
    return "TCP option %s" % sorted(odd) if odd else None


def test_l7_strict_spot_checks(l7):
    """The strict capture says what the addendum says, checked from the
    frames themselves (so a generator bug cannot make the test agree
    with a data-path bug): checksums valid except on the frames meant to
    be bad; each insertion a bad-checksum or stale-TSval segment at the
    very sequence number of a later one carrying other bytes, dropped
    without a reset; every l7_ambiguous reset for a segment that has an
    IPv4 option, an IPv6 extension header, URG or an option outside the
    accepted set; every segment with no ACK or an ACK of bytes the
    backend never sent dropped without a reset (TCP tracking); and every
    forwarded HTTP client data segment none of these."""
    sc = l7["strict"]
    frames = [Ether(f) for f in read_frames(l7.pcap("strict"))]
    bad = set(sc["bad_cksum"])
    for i, f in enumerate(read_frames(l7.pcap("strict"))):
        assert bool(bad_checksums(f)) == (i in bad), (i, bad_checksums(f))
    assert {b[0] for i in bad for b in bad_checksums(bytes(frames[i]))} \
        == {"IP", "TCP"}
    reset_in = {r["in"]: r for r in sc["resets"]}
    fwd_in = {f["in"]: f for f in sc["forwarded"]}
    client_data = [i for i, p in enumerate(frames)
                   if (p[IP].dst if IP in p else p[IPv6].dst) in VIPS and
                   len(p[TCP].payload)]

    def dropped_silently(i):
        return i not in reset_in and i not in fwd_in

    def key(p):
        return (p[TCP].sport, p[TCP].seq)

    # insertions: a bad checksum, then other bytes at the same seq that
    # are inspected (a deny or an allow); never forwarded, never reset
    deny_after_insert = 0
    for i in sorted(bad):
        p = frames[i]
        if i in fwd_in:         # a ClientHello passed: not checked
            continue
        assert dropped_silently(i), "bad checksum, input %d" % i
        later = [j for j in client_data if j > i and
                 key(frames[j]) == key(p)]
        assert later, "input %d: nothing at its sequence number" % i
        j = later[0]
        if bytes(frames[j][TCP].payload) != bytes(p[TCP].payload):
            assert reset_in[j]["reason"] == "l7_deny", reset_in.get(j)
            deny_after_insert += 1
    assert deny_after_insert >= 5
    # PAWS: a stale TSval is older than one before it on the connection,
    # on any client segment forwarded (the SYN and bare ACKs included)
    client = [i for i, p in enumerate(frames)
              if (p[IP].dst if IP in p else p[IPv6].dst) in VIPS]
    backend_end, sent_before = {}, {}
    for i, p in enumerate(frames):
        t = p[TCP]
        if t.sport in (8080, 8443):
            end = (t.seq + len(t.payload) + ("S" in t.flags) +
                   ("F" in t.flags)) & 0xFFFFFFFF
            backend_end[t.dport] = end
        elif len(t.payload):
            sent_before[i] = backend_end[t.sport]
    window = ("no ACK", "ACK beyond")
    stale = out_of_window = 0
    for i in client_data:
        p = frames[i]
        if i in bad or not dropped_silently(i):
            continue
        if ambiguous(p, sent_before[i]) in window:
            out_of_window += 1
            continue
        newest = [tsval(frames[j]) for j in client if j < i and
                  frames[j][TCP].sport == p[TCP].sport and
                  j in fwd_in and tsval(frames[j]) is not None]
        assert newest and tsval(p) is not None, i
        assert any(0 < (n - tsval(p)) & 0xFFFFFFFF < 0x80000000
                   for n in newest), "input %d: TSval not stale" % i
        stale += 1
    assert stale == sc["drops"]["l7_stale_timestamp"] == 5
    assert out_of_window == sc["drops"]["tcp_out_of_window"] == 3
    # ambiguity
    for i in client_data:
        why = ambiguous(frames[i], sent_before[i])
        r = reset_in.get(i)
        if r is not None and r["reason"] == "l7_ambiguous":
            assert why and why not in window, \
                "input %d reset as l7_ambiguous" % i
        elif why in window:
            assert dropped_silently(i), "input %d has %s" % (i, why)
        elif why and i not in bad and frames[i][TCP].dport == 80:
            assert r is not None and r["reason"] == "l7_ambiguous", \
                "input %d has %s" % (i, why)
        elif i in fwd_in and frames[i][TCP].dport == 80:
            # HTTP: every client segment with data is checked
            assert why is None, "input %d forwarded with %s" % (i, why)
    kinds = {ambiguous(frames[r["in"]], sent_before[r["in"]]).split(" [")[0]
             for r in sc["resets"] if r["reason"] == "l7_ambiguous"}
    assert kinds == {"IPv4 options", "IPv6 extension header", "URG",
                     "TCP option"}, kinds
    # accepted options on data do pass, SACK included
    assert any(5 in tcp_option_kinds(frames[i]) for i in client_data
               if i in fwd_in)


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
