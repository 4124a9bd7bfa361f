# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The lean appliance's memory (issue 13, item 2): ESP's cryptodev, queue
pairs and pools exist only for a file with peers (a reload cannot bring
the first peers: refused, the running config stays; a restart takes
them), and the estimate counts ESP only then; EAL maps at start the
hugepages the estimate says, which the tables fill; a statically linked
binary (meson option dpdk_link=static, the default) loads no PMD
plugin."""

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, wrpcap

from mgrun import (CONFIGS, REPO, check_clean_stop, load_stats,
                   mg_telemetry, pcap_vdev, wait_for)

KEYS = CONFIGS / "keys"
GW_MAC = "02:70:63:61:70:00"        # net_pcap0

BASE = """mode = "one-arm";
ports = (
	{ name = "edge"; device = "net_pcap0"; profile = "pcap";
	  addresses = ["198.18.0.1/22"]; }
);
identities = (
	{ name = "frontend"; env = "prod"; prefixes = ["198.18.1.0/24"]; }
);
services = (
	{ name = "admin"; protocol = "tcp"; addresses = ["198.19.0.11"];
	  ports = [80];
	  versions = ( { name = "v1"; backends = ["198.18.2.21:9090"]; } ); }
);
policies = (
	{ name = "frontend-admin"; action = "allow";
	  from = ["frontend"]; to = ["admin"]; }
);
neighbours = (
	{ address = "198.18.2.21"; mac = "02:00:00:00:02:21"; },
	{ address = "198.18.0.20"; mac = "02:00:00:00:00:20"; },
	{ address = "198.18.1.5"; mac = "02:00:00:00:01:05"; }
);
"""

PEER = """peers = (
	{ name = "b4"; env = "prod"; local = "198.18.0.1";
	  remote = "198.18.0.20";
	  inbound = ( { spi = 0x1004; algorithm = "aes-gcm-128";
			key_file = "%s/esp-b4-in.key"; } );
	  outbound = { spi = 0x2004; algorithm = "aes-gcm-128";
		       key_file = "%s/esp-b4-out.key"; };
	  prefixes = ["198.18.50.0/24"]; }
);
""" % (KEYS, KEYS)


def cryptodevs(tel):
    """The cryptodev ids; DPDK answers null (-EINVAL) when there is
    none."""
    return tel.query("/cryptodev/list") or []


def start(mg, tmp_path, conf, name):
    """The gateway on `conf`, one SYN to forward; returns (proc, stats
    path, telemetry)."""
    rx = tmp_path / ("%s.pcap" % name)
    wrpcap(str(rx), [Ether(src="02:00:00:00:01:05", dst=GW_MAC) /
                     IP(src="198.18.1.5", dst="198.19.0.11") /
                     TCP(sport=40000, dport=80, flags="S")])
    stats = tmp_path / ("%s.json" % name)
    mg.prefix = mg.new_prefix()
    proc = mg.start(["-f", str(conf), "--stats-json", str(stats)],
                    [pcap_vdev(0, rx=rx, tx=tmp_path / ("%s-out.pcap" %
                                                       name))])
    tel = mg_telemetry.connect_when_ready(mg.prefix, "/meshgate/stats",
                                          "rx", 20, proc=proc)
    wait_for(lambda: tel.query("/meshgate/stats")["rx"] == 1, 20,
             "the SYN received")
    return proc, stats, tel


def test_no_peers_no_cryptodev_and_first_peers_need_a_restart(mg,
                                                              tmp_path):
    """Without peers no cryptodev exists (DPDK's own /cryptodev/list);
    a reload that brings the first peer is refused with "peers need a
    restart" and the running config stays (still no cryptodev, no peer);
    the same file at start-up makes the device and the peer."""
    conf = tmp_path / "lean.conf"
    conf.write_text(BASE)
    proc, stats, tel = start(mg, tmp_path, conf, "nopeers")
    with tel:
        assert cryptodevs(tel) == [], "a cryptodev without peers"
        assert not tel.query("/meshgate/peers")
        conf.write_text(BASE + PEER)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "rejected; the running config stays" in
                 Path(proc.log.name).read_text(), 20, "the reload refused")
        assert cryptodevs(tel) == []
        assert not tel.query("/meshgate/peers")
    rc, log = mg.stop(proc)
    check_clean_stop(rc, log, load_stats(stats))
    assert re.search(r"lean\.conf: peers need a restart: ESP is set up at "
                     r"start-up, and only when the file has peers", log), log
    assert not re.search(r"lean\.conf:\d+: peers need", log), \
        "a file line for what is no line's fault"

    proc, stats, tel = start(mg, tmp_path, conf, "peers")
    with tel:
        devs = cryptodevs(tel)
        assert len(devs) == 1, devs
        assert list(tel.query("/meshgate/peers")) == ["b4"]
    rc, log = mg.stop(proc)
    check_clean_stop(rc, log, load_stats(stats))


def test_estimate_counts_esp_only_with_peers(mg, tmp_path):
    """--check-config's estimate has an ESP part (the device's pools and
    queue pairs) only for a file with peers, and it adds up."""
    conf = tmp_path / "lean.conf"
    out = {}
    for name, text in (("without", BASE), ("with", BASE + PEER)):
        conf.write_text(text)
        r = mg.run(["-f", str(conf), "--check-config"])
        assert r.rc == 0, r.stderr + r.stdout
        m = re.search(r"needs about (\d+) MiB of DPDK memory \(([^;]*);",
                      r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        out[name] = dict((w.rsplit(" ", 2)[0],
                          float(w.rsplit(" ", 2)[1]))
                         for w in m.group(2).split(", "))
    assert "ESP" not in out["without"], out
    assert 2.0 < out["with"]["ESP"] < 4.0, out
    rest = dict(out["with"])
    del rest["ESP"]
    assert rest == out["without"]


def dpdk_link(binary):
    """The dpdk_link option of the build that made `binary` (meson
    introspection of its build directory), or None when it cannot be
    told."""
    opts = Path(binary).resolve().parents[1] / "meson-info" / \
        "intro-buildoptions.json"
    if not opts.exists():
        return None
    for o in json.loads(opts.read_text()):
        if o["name"] == "dpdk_link":
            return o["value"]
    return None


def test_static_binary_loads_no_plugin(meshgate_bin, mg, tmp_path):
    """dpdk_link=static (the default): no librte_* shared object is
    linked, and none is mapped at run time (EAL loaded no PMD plugin: its
    default plugin directory is a property of a shared DPDK only), DPDK's
    bpf_validate() is not exported over libpcap's; the
    mempool ops a shared secondary may use by index are the ring's. A
    dpdk_link=shared build is checked to be what it says."""
    link = dpdk_link(meshgate_bin)
    ldd = subprocess.run(["ldd", str(meshgate_bin)], capture_output=True,
                         text=True, check=True).stdout
    if link == "shared":
        assert "librte_eal.so" in ldd, ldd
        return
    assert link == "static", "no dpdk_link option in the build: %s" % link
    assert "librte_" not in ldd, ldd
    # librte_bpf.a's bpf_validate() not exported over libpcap's
    dyn = subprocess.run(["nm", "-D", "--defined-only", str(meshgate_bin)],
                         capture_output=True, text=True, check=True).stdout
    assert not re.search(r" bpf_validate$", dyn, re.M), dyn
    conf = tmp_path / "lean.conf"
    conf.write_text(BASE)
    proc, stats, tel = start(mg, tmp_path, conf, "static")
    with tel:
        maps = Path("/proc/%d/maps" % proc.pid).read_text()
        # ring_mp_mc after the eight stand-ins (app/meshgate/dpdk_static.c)
        # that a shared dpdk-dumpcap's pool may name instead
        ops = tel.query("/mempool/info,mg_mbufs")["ops_index"]
    assert ops == 8, ops
    rc, log = mg.stop(proc)
    check_clean_stop(rc, log, load_stats(stats))
    assert "librte_" not in maps and "pmds-" not in maps, \
        [m for m in maps.splitlines() if "rte" in m][:5]


HUGEPAGES = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")
# In a private mount namespace: a hugetlbfs of its own, the gateway
# logging to $2, and once it logs its memory line the hugetlb KiB its
# mappings hold (smaps); then SIGINT.
HUGE_RUN = r"""
dir=$1 log=$2; shift 2
mount -t hugetlbfs -o size=256M nodev "$dir" || exit 90
"$@" >"$log" 2>&1 & pid=$!
for _ in $(seq 300); do grep -q "memory: .* allocated" "$log" && break
	sleep 0.1; done
sleep 0.5
echo "hugetlb $(awk '/^(Shared|Private)_Hugetlb:/ {s += $2} END {print s}' \
	/proc/$pid/smaps)"
kill -INT "$pid"; wait "$pid"; echo "rc $?"
"""
MEM = re.compile(r"memory: ([\d.]+) MiB estimated \(.*\), ([\d.]+) MiB "
                 r"allocated; DPDK's own before them ([\d.]+) MiB; "
                 r"hugepages mapped ([\d.]+) MiB")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (hugetlbfs)")
def test_hugepages_mapped_are_the_estimate(meshgate_bin, mg, captures,
                                           tmp_path):
    """The production example on 2 MiB hugepages: EAL maps at start what
    the estimate and DPDK's own allocations need (meshgate passes -m),
    the tables fill those pages end to end (less than a page unused,
    where growing the heap page by page left 5 MiB), and the process
    holds no other hugepage."""
    nr = HUGEPAGES / "nr_hugepages"
    free = int((HUGEPAGES / "free_hugepages").read_text())
    before = int(nr.read_text())
    if free < 64:
        nr.write_text(str(before + 64 - free))
    text = (REPO / "etc" / "meshgate.conf").read_text()
    for a, b in (('device = "0000:03:00.0";', 'device = "net_pcap0";'),
                 ('profile = "ixgbe";', 'profile = "pcap";'),
                 ('listen = "127.0.0.1:9469";', 'listen = "off";')):
        assert a in text
        text = text.replace(a, b)
    conf = tmp_path / "example.conf"
    conf.write_text(text)
    mnt, log = tmp_path / "huge", tmp_path / "gw.log"
    mnt.mkdir()
    argv = [meshgate_bin, "--no-pci", "-l", "0,1", "--huge-dir", mnt,
            "--file-prefix", mg.new_prefix(), "--log-level", "lib.*:error",
            "--vdev", pcap_vdev(0, rx=captures.sample, infinite=True),
            "--", "-f", conf]
    try:
        out = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             HUGE_RUN, "sh", str(mnt), str(log)] + [str(a) for a in argv],
            capture_output=True, text=True, timeout=60, cwd=REPO).stdout
    finally:
        if int(nr.read_text()) != before:
            nr.write_text(str(before))
    text = log.read_text()
    assert re.search(r"^rc 0$", out, re.M), out + text
    m = MEM.search(text)
    assert m, text
    est, alloc, own, mapped = (float(x) for x in m.groups())
    want = -(-(est + 4.5) // 2) * 2     # MG_MEM_EAL_OWN_BYTES, pages
    assert mapped == want, m.group(0)
    # unused: less than the page the estimate was rounded up to, plus
    # what the estimate counts that the tables did not take (figures to
    # 0.1 MiB)
    assert 0 <= mapped - (alloc + own) < 2 + (est - alloc) + 0.1, \
        m.group(0)
    assert est - alloc < 1, m.group(0)
    held = int(re.search(r"^hugetlb (\d+)$", out, re.M).group(1))
    assert held == mapped * 1024, (held, m.group(0))
