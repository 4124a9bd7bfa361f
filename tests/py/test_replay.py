# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""pcap replay through the real binary: accepted frames leave unmodified
and in order, every malformed frame is dropped under its own reason, and
no run leaks an mbuf."""

import subprocess
import sys

import pytest

from mgrun import (CONFIGS, REPO, check_stats, parser_drop_reasons, pcap_vdev,
                   read_frames)


def assert_same_frames(got, want):
    """Frame by frame, so that a failure says which frame differs."""
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, "frame %d differs:\n got %s\nwant %s" % (
            i, g[:64].hex(), w[:64].hex())
    assert len(got) == len(want), "%d frames out, %d expected" % (
        len(got), len(want))


def assert_drops(stats, expected):
    """Every reason's counter equals the manifest's (0 when absent)."""
    wrong = {r: (n, expected.get(r, 0)) for r, n in stats["drops"].items()
             if n != expected.get(r, 0)}
    assert not wrong, "drop counters (got, expected): %s" % wrong


@pytest.mark.parametrize("lcores", ["0,1", "0"], ids=["worker", "single"])
def test_one_arm_golden(mg, captures, tmp_path, lcores):
    out = tmp_path / "out.pcap"
    res = mg.replay(CONFIGS / "one_arm.conf",
                    [pcap_vdev(0, rx=captures.sample, tx=out)], lcores)
    assert res.rc == 0, res
    check_stats(res.stats)
    sample = read_frames(captures.sample)
    assert res.stats["rx"] == len(sample)
    assert res.stats["drops_total"] == 0, res.stats["drops"]
    assert_same_frames(read_frames(out), sample)
    # The forwarding lcore: lcore 1, or the main lcore 0 when alone.
    assert list(res.stats["lcores"]) == [lcores.split(",")[-1]]


def test_two_arm(mg, captures, tmp_path):
    """sample.pcap enters the edge port, malformed.pcap the mesh port: each
    side's accepted frames leave by the other port, unchanged."""
    edge_out, mesh_out = tmp_path / "edge-out.pcap", tmp_path / "mesh-out.pcap"
    res = mg.replay(CONFIGS / "two_arm.conf",
                    [pcap_vdev(0, rx=captures.sample, tx=edge_out),
                     pcap_vdev(1, rx=captures.malformed, tx=mesh_out)])
    assert res.rc == 0, res
    check_stats(res.stats)
    sample = read_frames(captures.sample)
    malformed = read_frames(captures.malformed)
    manifest = captures.manifest
    assert_same_frames(read_frames(mesh_out), sample)
    assert_same_frames(read_frames(edge_out),
                       [malformed[i] for i in manifest["good_indices"]])
    assert_drops(res.stats, manifest["drops"])
    assert res.stats["rx"] == len(sample) + len(malformed)
    assert res.stats["tx"] == len(sample) + manifest["good"]


def test_malformed(mg, captures, tmp_path):
    out = tmp_path / "out.pcap"
    res = mg.replay(CONFIGS / "one_arm.conf",
                    [pcap_vdev(0, rx=captures.malformed, tx=out)])
    assert res.rc == 0, res
    check_stats(res.stats)
    manifest = captures.manifest
    frames = read_frames(captures.malformed)
    assert len(frames) == manifest["frames"]
    assert res.stats["rx"] == manifest["frames"]
    assert_drops(res.stats, manifest["drops"])
    assert res.stats["tx"] == manifest["good"]
    assert_same_frames(read_frames(out),
                       [frames[i] for i in manifest["good_indices"]])


def test_manifest_covers_every_reachable_reason(captures):
    """The corpus has a frame for every reason a pcap can produce."""
    manifest = captures.manifest
    reachable = set(parser_drop_reasons()) - set(manifest["unreachable"])
    assert set(manifest["drops"]) == reachable
    assert all(n > 0 for n in manifest["drops"].values())
    assert manifest["good"] > len(manifest["drops"])


def test_bench_capture(mg, captures, tmp_path):
    """bench.pcap: 60-byte frames of distinct flows, all forwarded."""
    frames = read_frames(captures.bench)
    assert all(len(f) == 60 for f in frames)
    # IPv4 src, dst, proto and ports (no VLAN, no options) name the flow.
    flows = {f[23:24] + f[26:38] for f in frames}
    assert len(flows) == len(frames)
    out = tmp_path / "out.pcap"
    res = mg.replay(CONFIGS / "one_arm.conf",
                    [pcap_vdev(0, rx=captures.bench, tx=out)])
    assert res.rc == 0, res
    check_stats(res.stats)
    assert_same_frames(read_frames(out), frames)


def test_captures_are_deterministic(captures, tmp_path):
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_pcaps.py"),
                    str(tmp_path), "--flows", "64"], check=True, timeout=120)
    for name in ("sample.pcap", "malformed.pcap", "malformed.json",
                 "bench.pcap"):
        assert (tmp_path / name).read_bytes() == \
            (captures.dir / name).read_bytes(), name


def test_missing_offloads_degrade(mg, captures, tmp_path):
    """A profile asking for offloads the device lacks (ixgbe's on
    net_pcap) starts anyway: each missing one is logged by name and the
    capture still goes through unchanged."""
    conf = tmp_path / "ixgbe_on_pcap.conf"
    conf.write_text((CONFIGS / "one_arm.conf").read_text().replace(
        'profile = "pcap";', 'profile = "ixgbe";'))
    out = tmp_path / "out.pcap"
    res = mg.replay(conf, [pcap_vdev(0, rx=captures.sample, tx=out)])
    assert res.rc == 0, res
    check_stats(res.stats)
    for name in ("rx offload tcp-cksum", "tx offload mbuf-fast-free"):
        assert "device lacks %s; continuing" % name in res.stderr, \
            res.stderr
    assert_same_frames(read_frames(out), read_frames(captures.sample))
