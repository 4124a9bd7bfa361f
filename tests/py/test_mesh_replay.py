# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Service-mesh data path, replayed through the real binary with net_pcap
and checked packet by packet: DNAT toward the backend and reverse NAT
toward the client (addresses, ports, MACs, valid checksums, order),
verdicts and their drop counters, the gateway's own ARP/ND/echo replies,
neighbour resolution, the flow-table limit, canary weights and two-arm
forwarding. Captures and expectations come from scripts/gen_mesh_pcaps.py,
configs from tests/configs/mesh_*.conf."""

import json
import math
import re
import subprocess
import sys
import time
from collections import Counter

import pytest
from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, ICMPv6DestUnreach,
                       ICMPv6ND_NA, IPerror, IPerror6, IPv6, UDPerror,
                       conf as scapy_conf)
from scapy.packet import NoPayload

from mgrun import (CONFIGS, IDLE_MS, REPO, drop_reasons,
                   assert_no_sanitizer_report, load_stats, mg_telemetry,
                   pcap_vdev, read_frames)

scapy_conf.verb = 0

GEN = REPO / "scripts" / "gen_mesh_pcaps.py"
MESH_CONFIGS = sorted(CONFIGS.glob("mesh_*.conf")) + [
    REPO / "app" / "meshgate" / "meshgate.conf"]
TELEMETRY_READY_S = 20
RUN_EXIT_S = 30


# ------------------------------------------------------------ fixtures

class MeshCaptures:
    def __init__(self, outdir):
        self.dir = outdir
        with open(outdir / "mesh.json") as f:
            self.manifest = json.load(f)

    def __getitem__(self, name):
        return self.manifest["scenarios"][name]

    def pcap(self, name, port="edge"):
        return self.dir / self[name]["pcaps"][port]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("mesh-pcaps")
    subprocess.run([sys.executable, str(GEN), str(outdir)], check=True,
                   timeout=120)
    return MeshCaptures(outdir)


# ------------------------------------------------------------- helpers

def check_mesh_stats(stats):
    """The --stats-json contract as far as the mesh tests rely on it, and
    the leak check. (mgrun.check_stats also asserts that the drop reasons
    are exactly the parser's and that rx == tx + drops, which the mesh
    path's generated replies and absorbed ARP/ND frames need not keep.)"""
    assert stats is not None, "--stats-json not written"
    for key in ("rx", "tx", "drops", "drops_total", "mempool"):
        assert key in stats, "stats-json lacks %r" % key
    missing = set(drop_reasons()) - set(stats["drops"])
    assert not missing, "drop reasons missing from stats-json: %s" % missing
    assert stats["drops_total"] == sum(stats["drops"].values())
    assert stats["mempool"]["in_use"] == 0, "mbufs leaked: %s" % \
        stats["mempool"]
    return stats


def assert_drops(stats, expected):
    """Every reason's counter equals the expectation (0 when absent)."""
    wrong = {r: (n, expected.get(r, 0)) for r, n in stats["drops"].items()
             if n != expected.get(r, 0)}
    assert not wrong, "drop counters (got, expected): %s" % wrong


def check_counter(key, want, stats, tel=None):
    """`key` is in the stats JSON and, when given, in the /meshgate/stats
    telemetry reply `tel`, and equals `want` in both (`want` may be a list
    of acceptable values)."""
    ok = want if isinstance(want, list) else [want]
    for where, src in (("stats-json", stats), ("telemetry", tel)):
        if where == "telemetry" and tel is None:
            continue
        assert src is not None, "no %s" % where
        assert key in src, "%s lacks %r: %s" % (where, key, sorted(src))
        assert src[key] in ok, "%s %s = %s, expected %s" % (
            where, key, src[key], want)


CKSUM_FIELDS = ("chksum", "cksum")


def checksum_layers(pkt):
    for layer in iter_layers(pkt):
        names = {f.name for f in layer.fields_desc}
        for field in CKSUM_FIELDS:
            if field in names:
                yield layer, field


def iter_layers(pkt):
    layer = pkt
    while layer is not None and not isinstance(layer, NoPayload):
        yield layer
        layer = layer.payload


def bad_checksums(data):
    """[(layer, got, correct)] for every IP/L4/ICMP checksum of `data` that
    scapy, recomputing it from scratch, disagrees with. An IPv4 UDP
    checksum of 0 ("none") is accepted."""
    pkt = Ether(data)
    fresh = pkt.copy()
    for layer, field in checksum_layers(fresh):
        if isinstance(layer, UDP) and layer.chksum == 0 and \
                isinstance(layer.underlayer, IP):
            continue
        delattr(layer, field)
    rebuilt = Ether(bytes(fresh))
    bad = []
    for (a, f), (b, _) in zip(checksum_layers(pkt), checksum_layers(rebuilt)):
        if getattr(a, f) != getattr(b, f):
            bad.append((a.name, hex(getattr(a, f)), hex(getattr(b, f))))
    return bad


def is_local(data):
    """A frame the gateway originates rather than forwards."""
    pkt = Ether(data)
    return ARP in pkt or ICMP in pkt or (IPv6 in pkt and pkt[IPv6].nh == 58)


def describe(data):
    return "%s\n      %s" % (Ether(data).summary(), data.hex())


def norm_forwarded(got, want_hex):
    """The expected bytes, adjusted for what the contract leaves open: a
    TTL/hop limit decremented by one or not, and an IPv4 UDP checksum of 0
    kept or filled in."""
    want = Ether(bytes.fromhex(want_hex))
    g = Ether(got)
    if IP in want and IP in g:
        assert g[IP].ttl in (want[IP].ttl, want[IP].ttl - 1), \
            "TTL %d after %d" % (g[IP].ttl, want[IP].ttl)
        want[IP].ttl = g[IP].ttl
        del want[IP].chksum
    if IPv6 in want and IPv6 in g:
        assert g[IPv6].hlim in (want[IPv6].hlim, want[IPv6].hlim - 1), \
            "hop limit %d after %d" % (g[IPv6].hlim, want[IPv6].hlim)
        want[IPv6].hlim = g[IPv6].hlim
    if UDP in want and UDP in g and want[UDP].chksum == 0 and \
            g[UDP].chksum != 0:
        del want[UDP].chksum
    return bytes(want)


def assert_forwarded(got_frames, expected, port=None, ordered=True):
    """Forwarded frames, in order (or each once, in any order), byte for
    byte (modulo norm_forwarded), with valid checksums."""
    want = [e for e in expected if port is None or e["port"] == port]
    if not ordered:
        # each frame got pairs with the expectation it matches, if any
        left, paired = list(want), []
        for got in got_frames:
            hit = next((e for e in left
                        if norm_forwarded(got, e["out"]) == got), None)
            if hit is not None:
                left.remove(hit)
                paired.append(hit)
            else:
                paired.append(left[0] if left else want[0])
        want = paired
    for i, (got, exp) in enumerate(zip(got_frames, want)):
        bad = bad_checksums(got)
        assert not bad, "forwarded frame %d (%s): bad checksums %s\n%s" % (
            i, exp["what"], bad, describe(got))
        w = norm_forwarded(got, exp["out"])
        assert got == w, "forwarded frame %d (%s) differs:\n got %s\n" \
            "want %s" % (i, exp["what"], describe(got), describe(w))
    assert len(got_frames) == len(want), \
        "%d frames forwarded, %d expected:\n%s" % (
            len(got_frames), len(want),
            "\n".join(describe(f) for f in got_frames[len(want):][:5]))


def norm_local(got, exp):
    """Expected bytes of a generated frame, with the fields the contract
    leaves to the gateway taken from `got`."""
    want = Ether(bytes.fromhex(exp["out"]))
    g = Ether(got)
    kind = exp["kind"]
    if kind == "arp_request" and ARP in g and \
            g[ARP].hwdst in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"):
        want[ARP].hwdst = g[ARP].hwdst
    elif kind == "echo" and IP in want and IP in g:
        for f in ("ttl", "id", "flags"):
            setattr(want[IP], f, getattr(g[IP], f))
        del want[IP].chksum
    elif kind == "echo" and IPv6 in want and IPv6 in g:
        want[IPv6].hlim = g[IPv6].hlim
    elif kind == "na" and ICMPv6ND_NA in g:
        assert g[IPv6].hlim == 255, "NA hop limit %d" % g[IPv6].hlim
        want[ICMPv6ND_NA].R = g[ICMPv6ND_NA].R
        want[ICMPv6ND_NA].O = g[ICMPv6ND_NA].O
        del want[ICMPv6ND_NA].cksum
    return bytes(want)


def local_matches(got, exp):
    want = norm_local(got, exp)
    # ARP replies and short echo replies may be padded to 60 bytes.
    return got[:len(want)] == want and not any(got[len(want):])


def assert_local(got_frames, expected, port=None):
    """Every expected reply once, in any position; nothing else."""
    want = [e for e in expected if port is None or e["port"] == port]
    left = list(got_frames)
    for exp in want:
        hit = next((g for g in left if local_matches(g, exp)), None)
        assert hit is not None, "no %s reply for '%s'; want\n  %s\n" \
            "generated frames:\n  %s" % (
                exp["kind"], exp["what"],
                describe(bytes.fromhex(exp["out"])),
                "\n  ".join(describe(g) for g in got_frames) or "none")
        bad = bad_checksums(hit)
        assert not bad, "%s: bad checksums %s" % (exp["what"], bad)
        left.remove(hit)
        if exp["kind"] in ("arp_request", "ns"):
            # a resolver may ask again before it gives up
            left = [g for g in left if g != hit]
    assert not left, "unexpected generated frames:\n  %s" % \
        "\n  ".join(describe(g) for g in left)


def split_output(frames, expected_local=()):
    """(forwarded, generated): a RST answering a refused SYN is told from
    a forwarded one by the scenario's expectation of it."""
    deny = [e for e in expected_local if e["kind"] == "deny"]

    def local(f):
        return is_local(f) or any(local_matches(f, e) for e in deny)
    return ([f for f in frames if not local(f)],
            [f for f in frames if local(f)])


def check_scenario(sc, stats, out_frames, port="edge", tel=None):
    fwd, local = split_output(out_frames, sc["local"])
    assert_forwarded(fwd, sc["forwarded"], port,
                     ordered=not sc.get("unordered"))
    assert_local(local, sc["local"], port)
    assert_drops(stats, sc["drops"])
    assert stats["tx"] == len(out_frames), \
        "tx %d, %d frames written" % (stats["tx"], len(out_frames))
    check_counter("flows_created", sc["flows_created"], stats, tel)
    check_counter("local", sc["local_absorbed"], stats, tel)
    # every answer due is sent: the scenarios stay within the rate
    check_counter("deny_replies",
                  sum(e["kind"] == "deny" for e in sc["local"]), stats, tel)
    check_counter("deny_replies_suppressed", 0, stats, tel)


def replay(mg, sc_name, mesh, tmp_path, config=None, lcores="0,1",
           idle_ms=IDLE_MS):
    sc = mesh[sc_name]
    out = tmp_path / ("%s-out.pcap" % sc_name)
    res = mg.run(["-f", str(REPO / (config or sc["config"])),
                  "--exit-on-idle", str(idle_ms)],
                 [pcap_vdev(0, rx=mesh.pcap(sc_name), tx=out)], lcores,
                 stats=True, timeout=RUN_EXIT_S + idle_ms / 1000)
    assert res.rc == 0, res
    assert_no_sanitizer_report(res.stderr)
    check_mesh_stats(res.stats)
    assert res.stats["rx"] == sc["frames"]["edge"], res.stats
    return sc, res.stats, read_frames(out)


def replay_with_telemetry(mg, sc_name, mesh, tmp_path, config, idle_ms=3000):
    """A replay in the background that is also read over telemetry once
    every frame is in (for counters the JSON may not carry)."""
    sc = mesh[sc_name]
    out = tmp_path / ("%s-out.pcap" % sc_name)
    stats_path = tmp_path / "stats.json"
    proc = mg.start(["-f", str(REPO / config), "--exit-on-idle",
                     str(idle_ms), "--stats-json", str(stats_path)],
                    [pcap_vdev(0, rx=mesh.pcap(sc_name), tx=out)])
    tel = None
    try:
        with mg_telemetry.connect_when_ready(
                mg.prefix, "/meshgate/stats", "rx", TELEMETRY_READY_S,
                proc=proc) as conn:
            for _ in range(int(idle_ms / 50)):
                tel = conn.query("/meshgate/stats")
                if tel["rx"] >= sc["frames"]["edge"]:
                    break
                time.sleep(0.05)
    except TimeoutError as err:
        rc, log = mg.stop(proc)
        pytest.fail("telemetry: %s (rc %s)\n%s" % (err, rc, log))
    try:
        proc.wait(RUN_EXIT_S)
    except subprocess.TimeoutExpired:
        pass
    rc, log = mg.stop(proc)
    assert rc == 0, log
    assert_no_sanitizer_report(log)
    assert tel is not None and tel["rx"] == sc["frames"]["edge"], tel
    stats = check_mesh_stats(load_stats(stats_path))
    return sc, stats, tel, read_frames(out)


# ------------------------------------------------------- configuration

@pytest.mark.parametrize("path", MESH_CONFIGS, ids=lambda p: p.name)
def test_check_config_mesh(run, path):
    rc, _, err, _ = run(["-f", str(path), "--check-config"])
    assert rc == 0, err
    errors = [line for line in err.splitlines()
              if line.startswith(str(path) + ":") and
              ": warning: " not in line]
    assert not errors, err


FARAWAY_WARNING = ("warning: backend 198.18.30.5 of service 'faraway' "
                   "(version 'v1') is in no port's prefix and no port has a "
                   "gateway4: its connections will be dropped (no_route)")


def test_unreachable_backend_warned(run, mg, mesh, tmp_path):
    """The bundled config's faraway backend is on no port's prefix and
    the port has no gateway4: --check-config (still exit 0) and start-up
    both name the backend, its service and its FILE:LINE, where the
    replay then drops its SYN as no_route."""
    path = REPO / "app" / "meshgate" / "meshgate.conf"
    lines = path.read_text().splitlines()
    line = next(i + 1 for i, text in enumerate(lines)
                if '"198.18.30.5"' in text)
    want = "%s:%d: %s" % (path, line, FARAWAY_WARNING)
    rc, _, err, _ = run(["-f", str(path), "--check-config"])
    assert rc == 0, err
    assert err.splitlines().count(want) == 1, err
    out = tmp_path / "out.pcap"
    res = mg.run(["-f", str(path), "--exit-on-idle", str(IDLE_MS)],
                 [pcap_vdev(0, rx=mesh.pcap("no_route"), tx=out)],
                 stats=True)
    assert res.rc == 0, res
    assert res.stderr.splitlines().count(want) == 1, res.stderr
    check_mesh_stats(res.stats)
    assert res.stats["drops"]["no_route"] == 1


BROKEN_BASE = """\
mode = "one-arm";
ports = ( { name = "edge"; device = "net_pcap0"; profile = "pcap";
	    addresses = ["198.18.1.1/24", "198.18.2.1/24"]; } );
identities = ( { name = "frontend"; prefixes = ["198.18.1.0/24"]; } );
services = ( { name = "shop"; protocol = "tcp"; addresses = ["198.19.0.10"];
	       ports = [80];
	       versions = ( { name = "v1"; backends = ["198.18.2.21"]; } ); } );
policies = ( { name = "p"; action = "allow"; from = ["frontend"];
	       to = ["shop"]; } );
"""

# name: (text replaced, replacement, words the error must contain); the
# error must be reported on the line of the replacement.
BROKEN = {
    "unknown_identity": ('from = ["frontend"]', 'from = ["nobody"]',
                         ["nobody"]),
    "bad_backend": ('"198.18.2.21"', '"198.18.2.300"', ["198.18.2.300"]),
    "flows_max": ('mode = "one-arm";',
                  'mode = "one-arm"; flows = { max = 100; };', ["max"]),
    "mixed_array": ("ports = [80];", 'ports = [80, "8000-8099"];', []),
    "nat64": ('backends = ["198.18.2.21"]', 'backends = ["2001:db8:2::21"]',
              ["2001:db8:2::21"]),
    "unmatched": ('mode = "one-arm";',
                  'mode = "one-arm"; unmatched = "sometimes";',
                  ["unmatched"]),
}


def test_broken_base_is_valid(run, tmp_path):
    path = tmp_path / "base.conf"
    path.write_text(BROKEN_BASE)
    rc, _, err, _ = run(["-f", str(path), "--check-config"])
    assert rc == 0, err


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_check_config_mesh_broken(run, tmp_path, name):
    old, new, words = BROKEN[name]
    assert BROKEN_BASE.count(old) == 1
    text = BROKEN_BASE.replace(old, new)
    line = text[:text.index(new)].count("\n") + 1
    path = tmp_path / ("broken_%s.conf" % name)
    path.write_text(text)
    rc, _, err, _ = run(["-f", str(path), "--check-config"])
    assert rc == 1, err
    pat = re.compile(re.escape(str(path)) + ":%d: " % line)
    hits = [e for e in err.splitlines() if pat.match(e) and
            all(w.lower() in e.lower() for w in words)]
    assert hits, "no '%s:%d: ...%s...' in stderr:\n%s" % (
        path, line, " ".join(words), err)


# -------------------------------------------------------------- replays

@pytest.mark.parametrize("lcores", ["0,1", "0"], ids=["worker", "single"])
def test_main(mg, mesh, tmp_path, lcores):
    """Every verdict of the bundled meshgate.conf: allowed TCP v4/v6 sessions and a
    UDP exchange DNATed and reverse-NATed, IPv4 options and a port range,
    dev->prod denied despite an allow, unknown callers denied, no SYN,
    no service, traffic to the gateway, and its ARP/ND/echo replies."""
    sc, stats, out = replay(mg, "main", mesh, tmp_path, lcores=lcores)
    check_scenario(sc, stats, out)
    check_counter("dry_run_denied", 0, stats)


def test_dry_run(mg, mesh, tmp_path):
    """mesh_dry_run.conf adds a dry-run deny of frontend -> shop: the same
    output as without it, and one dry_run_denied per affected flow."""
    sc, stats, tel, out = replay_with_telemetry(mg, "main", mesh, tmp_path,
                                                "tests/configs/mesh_dry_run.conf")
    check_scenario(sc, stats, out, tel=tel)
    want = sc["dry_run_denied"]["tests/configs/mesh_dry_run.conf"]
    # present in both the stats JSON and /meshgate/stats, and equal
    check_counter("dry_run_denied", want, stats, tel)
    check_counter("flows_created", sc["flows_created"], stats, tel)


def test_unmatched_forward(mg, mesh, tmp_path):
    """unmatched = "forward": traffic for no service leaves unchanged."""
    sc, stats, out = replay(mg, "forward", mesh, tmp_path)
    check_scenario(sc, stats, out)


def test_no_route(mg, mesh, tmp_path):
    """A backend outside every port prefix, no gateway4: no_route."""
    sc, stats, out = replay(mg, "no_route", mesh, tmp_path)
    assert out == [], [describe(f) for f in out]
    assert_drops(stats, sc["drops"])
    assert stats["tx"] == 0


def test_neighbour_resolution(mg, mesh, tmp_path):
    """A backend without a static neighbour: the gateway sends an ARP
    request (NS for IPv6) from its port address and parks the SYN; an ARP
    reply releases it toward the learnt MAC; the unanswered one times out
    after 1 s (the run idles 2 s so that the timeout falls inside it)."""
    sc = mesh["resolve"]
    sc, stats, out = replay(mg, "resolve", mesh, tmp_path,
                            idle_ms=sc["exit_on_idle_ms"])
    check_scenario(sc, stats, out)


def test_neighbour_spoofing(mg, mesh, tmp_path):
    """A spoofer on the link: unsolicited ARP replies, gratuitous ARP,
    NA with the override flag and solicited NAs nobody asked for, before
    and after the gateway resolves a backend, and against static
    neighbours. Every SYN leaves toward the backend's real MAC (checked
    frame by frame), the request the gateway sends is answered by the
    backend's reply (first answer wins), each later claim from the
    spoofer counts in neigh_conflicts, and the log names each
    neighbour's conflict once. The ARP request the backend sends for
    the gateway is answered without its sender being learned."""
    sc = mesh["spoof"]
    out = tmp_path / "spoof-out.pcap"
    res = mg.run(["-f", str(REPO / sc["config"]), "--exit-on-idle",
                  str(IDLE_MS)],
                 [pcap_vdev(0, rx=mesh.pcap("spoof"), tx=out)], "0,1",
                 stats=True)
    assert res.rc == 0, res
    assert_no_sanitizer_report(res.stderr)
    stats = check_mesh_stats(res.stats)
    assert stats["rx"] == sc["frames"]["edge"], stats
    check_scenario(sc, stats, read_frames(out))
    check_counter("neigh_conflicts", sc["neigh_conflicts"], stats)
    for ip, mac in sc["conflict_logs"].items():
        said = [line for line in res.stderr.splitlines()
                if "%s is at %s" % (ip, mac) in line]
        assert len(said) == 1, "want one conflict line for %s:\n%s" % (
            ip, res.stderr)
        assert "02:00:00:00:06:66" in said[0] and "not applied" in said[0]


def test_health_caller_cannot_eject(mg, mesh, tmp_path):
    """mesh_health.conf pins the frontend to each service's canary, which
    one failure ejects (eject_after = 1). A caller connecting to ports
    the port-keeping canary does not serve gets its RST every time, and
    the next connection still goes to the canary: the caller chose the
    port, so the RST is no evidence. The fixed-port canary's RST is: the
    next connection fails over to v1. Frame by frame, every destination
    address, port and MAC checked."""
    sc, stats, out = replay(mg, "health_rst", mesh, tmp_path)
    check_scenario(sc, stats, out)


def test_syn_flood(mg, mesh, tmp_path):
    """flows.max = 1024, half-open budget 512: an
    established flow, then 1099 SYNs never answered; each is admitted as
    the oldest half-open one is evicted, nothing is flow_table_full, and
    the established flow still works."""
    sc, stats, out = replay(mg, "syn_flood", mesh, tmp_path)
    assert stats["drops"]["flow_table_full"] == 0
    check_scenario(sc, stats, out)


def test_canary_split_and_stickiness(mg, mesh, tmp_path):
    """Service pair: v1 (weight 75, backend .21), v2 (weight 25, .22).
    n SYNs of distinct source ports (n from the manifest, 400 today), then
    each again. Stickiness: the retransmission goes where its SYN went.
    Split: the v1 share is binomial(n, 0.75) for a fair hash, sd
    sqrt(n * 0.75 * 0.25); the bound is 0.75 n +- 5 sd (for n = 400:
    sd 8.7, 257..343) so a fair hash fails it with probability < 1e-6."""
    sc, stats, out = replay(mg, "canary", mesh, tmp_path)
    info = sc["canary"]
    n = info["flows"]
    assert_drops(stats, {})
    assert len(out) == 2 * n, "%d frames out of %d" % (len(out), 2 * n)
    assert stats["tx"] == 2 * n
    chosen = []
    for data in out:
        assert not bad_checksums(data), describe(data)
        pkt = Ether(data)
        be = pkt[IP].dst
        assert be in info["macs"], describe(data)
        assert pkt.dst == info["macs"][be] and \
            pkt.src == mesh.manifest["gw_mac"][0], describe(data)
        assert pkt[TCP].dport == 80, describe(data)  # backend port omitted
        chosen.append((pkt[TCP].sport, be))
    first, again = chosen[:n], chosen[n:]
    assert [p for p, _ in first] == [p for p, _ in again], "order changed"
    moved = [(a, b) for a, b in zip(first, again) if a != b]
    assert not moved, "retransmitted SYNs changed backend: %s" % moved[:5]
    split = Counter(be for _, be in first)
    v1 = split["198.18.2.21"]
    weights = info["weights"]
    assert weights["198.18.2.21"] / sum(weights.values()) == 0.75, weights
    # 0.75 n +- 5 sd of binomial(n, 0.75), sd = sqrt(n * 0.1875)
    sd = math.sqrt(n * 0.75 * 0.25)
    low, high = math.ceil(0.75 * n - 5 * sd), math.floor(0.75 * n + 5 * sd)
    assert low <= v1 <= high, "v1 got %d of %d, want %d..%d (weight 75%%): " \
        "%s" % (v1, n, low, high, dict(split))
    check_counter("flows_created", n, stats)


def test_two_arm(mg, mesh, tmp_path):
    """Clients on the edge port, services behind the mesh port: DNATed
    frames leave by the mesh capture with the mesh port's MAC (an off-link
    backend via gateway4's MAC); ARP is answered on the port it came in."""
    sc = mesh["two_arm"]
    edge_out, mesh_out = tmp_path / "edge-out.pcap", tmp_path / "mesh-out.pcap"
    res = mg.run(["-f", str(REPO / sc["config"]), "--exit-on-idle",
                  str(IDLE_MS)],
                 [pcap_vdev(0, rx=mesh.pcap("two_arm", "edge"), tx=edge_out),
                  pcap_vdev(1, rx=mesh.pcap("two_arm", "mesh"),
                            tx=mesh_out)], stats=True)
    assert res.rc == 0, res
    assert_no_sanitizer_report(res.stderr)
    stats = check_mesh_stats(res.stats)
    assert stats["rx"] == sum(sc["frames"].values())
    written = 0
    for port, path in (("edge", edge_out), ("mesh", mesh_out)):
        frames = read_frames(path)
        written += len(frames)
        fwd, local = split_output(frames, sc["local"])
        assert_forwarded(fwd, sc["forwarded"], port)
        assert_local(local, sc["local"], port)
    assert_drops(stats, sc["drops"])
    assert stats["tx"] == written
    check_counter("flows_created", sc["flows_created"], stats)
    check_counter("local", sc["local_absorbed"], stats)


def test_deny_answers(mg, mesh, tmp_path):
    """mesh_deny.conf: a refused SYN gets a RST|ACK from the VIP and port
    it called (sequence 0, acknowledging the SYN and its data), a refused
    UDP datagram an ICMP 3/13 (ICMPv6 1/1) from the VIP quoting it, all
    with correct checksums (byte for byte against scapy's frames);
    deny_action "drop" on a rule, a frame to the broadcast MAC, a
    non-unicast source, a RST and a SYN-ACK get nothing. Each is counted
    policy_deny (or tcp_not_syn) as before."""
    sc, stats, out = replay(mg, "deny", mesh, tmp_path)
    check_scenario(sc, stats, out)
    assert len(out) == 5, [describe(f) for f in out]
    for f in out:
        p = Ether(f)
        assert p[Ether].src == "02:70:63:61:70:00"
        assert p[Ether].dst == "02:00:00:00:05:05", describe(f)
        if TCP in p:
            ip = p[IP] if IP in p else p[IPv6]
            assert ip.src in ("198.19.0.10", "2001:db8:100::10")
            assert p[TCP].flags == "RA" and p[TCP].seq == 0
            assert p[TCP].sport in (80, 8001)
        elif IP in p:
            assert (p[IP].src, p[ICMP].type, p[ICMP].code) == \
                ("198.19.0.53", 3, 13)
            assert p[IPerror].dst == "198.19.0.53" and \
                p[UDPerror].dport == 53
        else:
            u = p[ICMPv6DestUnreach]
            assert (p[IPv6].src, u.type, u.code) == \
                ("2001:db8:100::53", 1, 1)
            assert p[IPerror6].dst == "2001:db8:100::53"
        assert not bad_checksums(f), describe(f)
    acks = sorted(Ether(f)[TCP].ack for f in out if TCP in Ether(f))
    # 77 + SYN; 0xfffffff0 + SYN + 5 bytes, wrapping; 5 + SYN
    assert acks == sorted([78, 6, (0xfffffff0 + 6) & 0xffffffff]), acks


def test_deny_flood_rate(mg, mesh, tmp_path):
    """DENY_FLOOD refused SYNs from one source, one worker: each gets at
    most one RST (no two answer the same SYN), and the answers stay within
    the worker's reply rate: at most burst 50 + 1000/s over the run's
    wall time; the rest are counted deny_replies_suppressed. Bound: the
    replay must take under (3000 - 50) / 1000 s for anything to be
    suppressed, which a pcap replay of 3000 frames does by far."""
    t0 = time.monotonic()
    sc, stats, out = replay(mg, "deny_flood", mesh, tmp_path)
    wall = time.monotonic() - t0
    n = sc["frames"]["edge"]
    assert_drops(stats, sc["drops"])
    sent = stats["deny_replies"]
    assert sent + stats["deny_replies_suppressed"] == n, stats
    assert stats["tx"] == len(out) == sent
    print("deny flood: %d answered, %d suppressed, %.2f s" % (
        sent, stats["deny_replies_suppressed"], wall))
    assert 50 <= sent <= 50 + 1000 * wall, (sent, wall)
    assert stats["deny_replies_suppressed"] > 0, (stats, wall)
    ports = [Ether(f)[TCP].dport for f in out]
    assert len(set(ports)) == len(ports), "a SYN answered twice"
    for f in out:
        p = Ether(f)
        assert p[TCP].flags == "RA" and p[TCP].ack == 78 and \
            10000 <= p[TCP].dport < 10000 + n, describe(f)
        assert not bad_checksums(f), describe(f)


def test_captures_are_deterministic(mesh, tmp_path):
    subprocess.run([sys.executable, str(GEN), str(tmp_path)], check=True,
                   timeout=120)
    for path in sorted(mesh.dir.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), \
            path.name
