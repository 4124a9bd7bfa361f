# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""End to end with the kernel's offload settings left at their defaults:
meshgate one-arm on net_af_packet over veths whose tx checksum offload
and TSO are on (no ethtool anywhere; the other e2e modules turn them off).
A socket's TCP and UDP segments then reach af_packet with the checksum
field holding only the pseudo-header's sum (CHECKSUM_PARTIAL), which DPDK
22.11's PMD does not flag; meshgate completes them on input, so the NAT's
incremental update starts from a correct sum and the backend (which
verifies: a veth does not vouch for what it did not checksum) takes
them. Without that, every SYN through the NAT is dropped by the backend
and these tests fail.

    cli 198.18.1.10 --+-- br0 (ns sw) --+-- b1 198.18.2.21 :8080, udp :7007
                      +-- gw0 (ns gw): meshgate, 198.18.{1,2}.1

Service shop (198.19.0.10:80 -> b1:8080) and echo (udp 198.19.0.11:7 ->
b1:7007): address and port both rewritten. One gateway serves the
module; the last test stops it and checks its mbuf pool."""

import pytest

import netns
from gateway import GatewayEnv
from mgrun import CONFIGS, wait_for

_why = netns.available()
if _why:
    pytest.skip(_why, allow_module_level=True)

GW_MAC = "02:6d:67:00:00:01"
CLI_MAC = "02:6d:67:01:00:10"
B1_MAC = "02:6d:67:02:00:21"
CLI4, B1 = "198.18.1.10", "198.18.2.21"
SHOP_VIP, ECHO_VIP = "198.19.0.10", "198.19.0.11"
READY_S = 20                    # EAL start-up, telemetry answering
CURL_S = 3
BIG = 2 << 20                   # bytes of the download that brings TSO

UDP_ASK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for k in range(3):          # bounded: 3 tries of 1 s
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recvfrom(2048)[0].decode())
        break
    except socket.timeout:
        continue
"""


class Env(GatewayEnv):
    def build(self):
        t = self.topo
        sw, _ = self.switch(GW_MAC, offloads=True)
        t.attach(t.add("cli"), sw, mac=CLI_MAC, addrs=[CLI4 + "/24"],
                 routes=[("198.19.0.0/16", "198.18.1.1")], offloads=True)
        t.attach(t.add("b1", hosts={B1: "b1"}), sw, mac=B1_MAC,
                 addrs=[B1 + "/24"], routes=[("default", "198.18.2.1")],
                 offloads=True)

    def start(self):
        root = self.tmp / "www"
        root.mkdir()
        (root / "index.html").write_text("backend b1\n")
        (root / "big.bin").write_bytes(b"x" * BIG)
        b1 = self.topo["b1"]
        procs = [(b1.popen(["/usr/bin/python3", "-u", "-m", "http.server",
                            "8080", "--bind", B1, "--directory", root],
                           self.tmp / "http.log"), "Serving HTTP"),
                 (b1.popen(["/usr/bin/python3", "-u", "-c", netns.UDP_ECHO,
                            B1, "7007", "echo"], self.tmp / "udp.log"),
                  "ready")]
        for proc, word in procs:
            netns.wait_ready(proc, word)
        self.start_gateway(CONFIGS / "offload_e2e.conf", ready_s=READY_S)

    def curl(self, path="/", max_time=CURL_S, out="-"):
        proc = self.topo["cli"].run(
            ["curl", "-sS", "--max-time", str(max_time), "-o", out, "-w",
             "\n%{http_code}", "http://%s%s" % (SHOP_VIP, path)],
            timeout=max_time + 5)
        body, _, code = proc.stdout.rpartition("\n")
        return proc.returncode, code, body


@pytest.fixture(scope="module")
def env(meshgate_bin, tmp_path_factory):
    e = Env(meshgate_bin, tmp_path_factory.mktemp("offload"))
    try:
        e.build()
        e.start()
        yield e
    finally:
        e.close()


def feature(ns, ifname, name):
    out = ns.run(["ethtool", "-k", ifname], check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith(name + ":"):
            return line.split(":")[1].split()[0]
    raise AssertionError("ethtool -k %s: no %s\n%s" % (ifname, name, out))


def test_offloads_are_the_defaults(env):
    """The premise: the callers' and backends' veths checksum and segment
    nothing themselves (tx checksum offload and TSO on, as created)."""
    for role, ifname in (("cli", "eth0"), ("b1", "eth0"), ("gw", "gw0")):
        ns = env.topo[role]
        assert feature(ns, ifname, "tx-checksumming") == "on", role
        assert feature(ns, ifname, "tcp-segmentation-offload") == "on", role
    # said when the port starts, which may follow telemetry's first
    # answer (its commands are registered before the ports start)
    wait_for(lambda: "checksums the kernel left to offload are completed "
             "in software" in env.log(), READY_S,
             "the checksum completion said in the log")


def test_tcp_through_nat(env):
    """Five HTTP requests through the NAT (address and port rewritten):
    every SYN, request and response reaches the other side with a
    checksum its kernel accepts; nothing is dropped for a checksum."""
    for _ in range(5):
        rc, code, body = env.curl()
        assert (rc, code, body) == (0, "200", "backend b1\n"), \
            (rc, code, body)
    s = env.stats()
    assert s["drops"]["l4_bad_cksum"] == 0
    assert s["flows_created"] >= 5


def test_udp_through_nat(env):
    """UDP datagrams both ways (the client's and the echo's checksums
    both left to offload): the answer comes back through the reverse
    NAT."""
    for k in range(3):
        proc = env.topo["cli"].run(["/usr/bin/python3", "-c", UDP_ASK,
                                    ECHO_VIP, "7", "ping%d" % k],
                                   timeout=10)
        assert proc.stdout.strip() == "echo:ping%d" % k, \
            (proc.stdout, proc.stderr)


def test_super_frames_are_named(env):
    """TSO left on makes the backend's kernel hand over TCP segments
    larger than the MTU (GSO super-frames), which af_packet's ring cuts
    to its frame size and a gateway cannot send on: they are dropped
    under their own reason and the log names the ethtool command once
    (the README says to turn TSO/GSO off on the peer). Whether the
    download completes (the sender falls back to MSS-sized
    retransmissions) is not asserted."""
    before = env.stats()["drops"]["ipv4_bad_length"]
    env.curl("/big.bin", max_time=5, out="/dev/null")
    after = env.stats()["drops"]["ipv4_bad_length"]
    assert after > before, "no super-frame seen: is TSO really on?"
    log = env.log()
    assert "TSO/GSO or GRO super-frame" in log, log[-2000:]
    assert "ethtool -K" in log
    assert log.count("TSO/GSO or GRO super-frame") == 1, \
        "the warning is not rate-limited"


def test_zz_clean_stop(env):
    """SIGINT: exit 0, no sanitizer report, no mbuf leaked."""
    stats, _ = env.check_shutdown()
    assert stats["drops"]["l4_bad_cksum"] == 0
