# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""End to end, with real clients and servers in network namespaces: what
sound enforcement means for honest traffic. meshgate runs one-arm on
net_af_packet (gw0) on a bridge:

    cli 198.18.1.10 --------------+
    rtr 198.18.1.254 (router) ----+-- br0 (sw) --+-- gw0 (gw): meshgate
      |  MTU 1280                                 +-- b1 198.18.2.21
    far 198.18.5.10 (advertises MSS 1460 all the same)

(the same in IPv6: 2001:db8:{1,2,5}::/64.) Services: web (HTTP, layer-7
rules: /admin denied) at 198.19.0.10:80 and 2001:db8:100::10 -> b1:80,
and big (UDP) at 198.19.0.14:53 and 2001:db8:100::14 -> b1:5353, which
answers every query with 4,000 bytes.

- A client reusing its source port for connection after connection (the
  server closes first and holds TIME_WAIT, the client's port is free at
  once): every connection served, and inspected afresh.
- Path MTU discovery across the 1280-byte link: b1 sends 1,460-byte
  segments, the router answers "fragmentation needed" / "packet too big"
  to the virtual address, the gateway translates it to b1, which lowers
  its path MTU: a 1 MB download completes (v4 and v6).
- 4 KB UDP answers leave b1 in fragments, are reassembled (IPv6 by
  meshgate; IPv4 by the kernel under af_packet, drivers-conf/
  af_packet.conf), NATed and fragmented again on the way to the client.
- MTU 9000 end to end (its own topology): jumbo frames on every link and
  through the gateway, a 1 MB download and 8 KB datagrams.
Each gateway is stopped at the end of its test and checked: exit 0, no
sanitizer report, no mbuf leaked."""

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

import netns
from gateway import GatewayEnv
from mgrun import wait_for

_why = netns.available()
if _why:
    pytest.skip(_why, allow_module_level=True)

GW_MAC = "02:6d:67:00:00:01"
CLI = {4: "198.18.1.10", 6: "2001:db8:1::10"}
FAR = {4: "198.18.5.10", 6: "2001:db8:5::10"}
RTR = {4: "198.18.1.254", 6: "2001:db8:1::fe"}
RTR_FAR = {4: "198.18.5.1", 6: "2001:db8:5::1"}
B1 = {4: "198.18.2.21", 6: "2001:db8:2::21"}
GW = {4: ("198.18.1.1", "198.18.2.1"), 6: ("2001:db8:1::1", "2001:db8:2::1")}
WEB = {4: "198.19.0.10", 6: "2001:db8:100::10"}
BIG = {4: "198.19.0.14", 6: "2001:db8:100::14"}
VIPS = {4: "198.19.0.0/16", 6: "2001:db8:100::/64"}
BIG_ANSWER = 4000
READY_S = 20
# af_packet frames of 12 KB: see Net.write_conf()
VDEV = "net_af_packet0,iface=gw0,framesz=12288,blocksz=12288"
SERVER_READY_S = 10
CURL_S = 20

CONFIG = """
mode = "one-arm";
drivers_conf_dir = "%(drivers)s";
flows = { max = 4096; tcp_time_wait = 30; };
telemetry = { listen = "off"; };
ports = (
	{ name = "gw"; device = "net_af_packet0"; profile = "%(profile)s";
	  addresses = ["198.18.1.1/24", "198.18.2.1/24",
		       "2001:db8:1::1/64", "2001:db8:2::1/64"]; }
);
identities = (
	{ name = "clients"; env = "prod"; prefixes = ["198.18.1.0/24", "198.18.5.0/24",
					"2001:db8:1::/64", "2001:db8:5::/64"]; }
);
services = (
	{ name = "web"; env = "prod"; protocol = "tcp";
	  addresses = ["198.19.0.10", "2001:db8:100::10"]; ports = [80];
	  versions = ( { name = "v1";
			 backends = ["198.18.2.21", "2001:db8:2::21"]; } ); },
	{ name = "big"; env = "prod"; protocol = "udp";
	  addresses = ["198.19.0.14", "2001:db8:100::14"]; ports = [53];
	  versions = ( { name = "v1";
			 backends = ["198.18.2.21:5353",
				     "[2001:db8:2::21]:5353"]; } ); }
);
policies = (
	{ name = "no-admin"; action = "deny"; from = ["*"]; to = ["web"];
	  http = { path = "^/admin"; }; },
	{ name = "web"; action = "allow"; from = ["clients"]; to = ["web"];
	  http = { path = "^/"; }; },
	{ name = "big"; action = "allow"; from = ["clients"]; to = ["big"]; }
);
"""

UDP_BIG = """
import socket, sys, time
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(1)
print("ready", flush=True)
end = time.monotonic() + 300    # never outlives a forgotten test run
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(65535)
    except socket.timeout:
        continue
    n = int(sys.argv[3])
    s.sendto((data + b"|" * n)[:n], peer)
"""


class Net(GatewayEnv):
    """A topology, its servers and one gateway."""

    def __init__(self, binary, tmp, mtu=1500):
        super().__init__(binary, tmp)
        self.mtu = mtu

    def build(self, with_router=True):
        t, mtu = self.topo, self.mtu
        sw, _ = self.switch(GW_MAC, mtu=mtu)
        cli = t.add("cli", ipv6=True)
        b1 = t.add("b1", ipv6=True)
        t.attach(cli, sw, addrs=[CLI[4] + "/24", CLI[6] + "/64"],
                 routes=[(VIPS[4], GW[4][0]), (VIPS[6], GW[6][0])])
        t.attach(b1, sw, addrs=[B1[4] + "/24", B1[6] + "/64"],
                 routes=[("default", GW[4][1]), ("default", GW[6][1])])
        if with_router:
            rtr, far = t.add("rtr", ipv6=True), t.add("far", ipv6=True)
            t.attach(rtr, sw, ifname="rtr0",
                     addrs=[RTR[4] + "/24", RTR[6] + "/64"],
                     routes=[(VIPS[4], GW[4][0]), (VIPS[6], GW[6][0])])
            t.veth(rtr, "rtr1", far, "far0")
            for ns, ifname in ((rtr, "rtr1"), (far, "far0")):
                ns.ip("link", "set", ifname, "mtu", 1280)
            rtr.ip("addr", "add", RTR_FAR[4] + "/24", "dev", "rtr1")
            rtr.ip("addr", "add", RTR_FAR[6] + "/64", "dev", "rtr1")
            rtr.set_sysctl("net.ipv4.ip_forward", 1)
            rtr.set_sysctl("net.ipv6.conf.all.forwarding", 1)
            far.ip("addr", "add", FAR[4] + "/24", "dev", "far0")
            far.ip("addr", "add", FAR[6] + "/64", "dev", "far0")
            # a link of 1280 bytes, an MSS of 1460 all the same (as a
            # host two routers away from the small link would send):
            # only path MTU discovery can save the download
            far.ip("route", "add", VIPS[4], "via", RTR_FAR[4], "advmss",
                   1460)
            far.ip("-6", "route", "add", VIPS[6], "via", RTR_FAR[6],
                   "advmss", 1440)
        for ns in t.spaces.values():
            for link in ns.ip("-o", "link", "show").stdout.splitlines():
                name = link.split(":")[1].strip().split("@")[0]
                if name not in ("lo", "rtr1", "far0"):
                    ns.ip("link", "set", name, "mtu", mtu)
        # addresses usable at once (no duplicate address detection wait)
        for role in ("cli", "b1", "rtr", "far"):
            if role in t.spaces:
                wait_for(lambda: "tentative" not in t[role].ip(
                    "-6", "addr").stdout, 5, "IPv6 DAD in %s" % role)

    def start_servers(self):
        root = self.tmp / "www"
        root.mkdir(exist_ok=True)
        (root / "big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MB
        (root / "small").write_text("small\n")
        procs = []
        for fam in (4, 6):
            procs.append(self.topo["b1"].popen(
                ["/usr/bin/python3", "-u", "-m", "http.server", "80",
                 "--bind", B1[fam], "--directory", root],
                self.tmp / ("http%d.log" % fam)))
            procs.append(self.topo["b1"].popen(
                ["/usr/bin/python3", "-u", "-c", UDP_BIG, B1[fam], 5353,
                 BIG_ANSWER], self.tmp / ("udp%d.log" % fam)))
        for proc, word in zip(procs, ("Serving HTTP", "ready") * 2):
            netns.wait_ready(proc, word, SERVER_READY_S)

    def write_conf(self):
        """The gateway's config, with a profile of its own for frames of
        up to 12 KB; returns its path."""
        drivers = self.tmp / "drivers"
        drivers.mkdir(exist_ok=True)
        src = Path(__file__).resolve().parents[2] / "drivers-conf"
        for p in src.glob("*.conf"):
            shutil.copy(p, drivers)
        # frames of up to 12 KB: the kernel hands af_packet IPv4
        # datagrams it reassembled (drivers-conf/af_packet.conf); a
        # jumbo MTU is the kernel interface's (DPDK 22.11's af_packet
        # refuses frames over 1518 bytes at configuration)
        (drivers / "af_packet_big.conf").write_text(
            (src / "af_packet.conf").read_text() + "rx_frame_max = 12288;\n" +
            ("mtu = %d;\nmtu_external = true;\n" % self.mtu
             if self.mtu > 1500 else ""))
        conf = self.tmp / "gw.conf"
        conf.write_text(CONFIG % {"drivers": drivers,
                                  "profile": "af_packet_big"})
        return conf

    def start(self):
        self.start_gateway(self.write_conf(), VDEV, ready_s=READY_S)

    def curl(self, role, url, extra=(), max_time=CURL_S):
        """(rc, HTTP code, bytes received) of one curl in `role`."""
        proc = self.topo[role].run(
            ["curl", "-sS", "-g", "--max-time", max_time, "-o", "/dev/null",
             "-w", "%{http_code} %{size_download}"] + list(extra) + [url],
            timeout=max_time + 5)
        out = proc.stdout.split()
        code, size = (out + ["", "0"])[:2] if out else ("", "0")
        return proc.returncode, code, int(size), proc.stderr

    def udp_query(self, role, fam, payload, timeout=3):
        """The answer to one datagram from `role` to the big service."""
        af = socket.AF_INET6 if fam == 6 else socket.AF_INET
        s = self.topo[role].socket(af, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            s.sendto(payload, (BIG[fam], 53))
            return s.recvfrom(65535)[0]
        finally:
            s.close()


def url(fam, path):
    host = WEB[fam] if fam == 4 else "[%s]" % WEB[fam]
    return "http://%s%s" % (host, path)


@pytest.fixture(scope="module")
def net(meshgate_bin, tmp_path_factory):
    env = Net(meshgate_bin, tmp_path_factory.mktemp("enforce-e2e"))
    try:
        env.build()
        env.start_servers()
        env.start()
        yield env
        stats, _ = env.check_shutdown()
        # nothing honest was refused on the way
        for reason in ("tcp_out_of_window", "tcp_challenged",
                       "ttl_exceeded", "icmp_unmatched", "frag_timeout",
                       "ipv4_fragment", "ipv6_fragment"):
            assert stats["drops"][reason] == 0, (reason, stats["drops"])
    finally:
        env.close()


def http_get(net, role, fam, path, sport, timeout=5):
    """One HTTP/1.1 request from `role`, bound to source port `sport`
    (SO_REUSEADDR: the port may be in TIME_WAIT, which the namespace's
    tcp_tw_reuse lets a new connection take over, as busy clients do):
    the response, or None when the connection was reset."""
    af = socket.AF_INET6 if fam == 6 else socket.AF_INET
    s = net.topo[role].socket(af, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(timeout)
        s.bind((CLI[fam], sport))
        s.connect((WEB[fam], 80))
        s.sendall(b"GET %s HTTP/1.1\r\nHost: web\r\nConnection: close"
                  b"\r\n\r\n" % path.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return None
    finally:
        s.close()


def test_source_port_reuse(net):
    """40 connections from one source port, each right after the last
    (whichever side closed first holds TIME_WAIT; the client's
    tcp_tw_reuse takes the port over, as busy clients do): every one is
    a new connection to the gateway, served and inspected afresh — an
    /admin request on every fifth is refused, the rest answered."""
    cli = net.topo["cli"]
    cli.set_sysctl("net.ipv4.tcp_tw_reuse", 1)
    # Linux takes a TIME_WAIT port over only a second after its last
    # timestamp, unless told otherwise (tcp_tw_reuse_delay, Linux 6.13)
    delay = 1.05
    if cli.run(["sysctl", "-q", "-w",
                "net.ipv4.tcp_tw_reuse_delay=1"]).returncode == 0:
        delay = 0.01
    n = 40 if delay < 1 else 10
    before = net.stats()
    for i in range(n):
        time.sleep(delay)
        path = "/admin" if i % 5 == 4 else "/small"
        got = http_get(net, "cli", 4, path, 40100)
        if path == "/admin":
            assert got is None or got == b"", (i, got)
        else:
            assert got is not None and got.startswith(b"HTTP/1.0 200") \
                and got.endswith(b"small\n"), (i, got, net.log()[-2000:])
    after = net.stats()
    assert after["flows_created"] - before["flows_created"] == n
    assert after["drops"]["l7_deny"] - before["drops"]["l7_deny"] == n // 5


@pytest.mark.parametrize("fam", (4, 6))
def test_path_mtu_discovery(net, fam):
    """A 1 MB download to a host behind a 1280-byte link that advertised
    MSS 1460: the router's ICMP error reaches the backend translated, the
    backend lowers its segments, the download completes."""
    before = net.stats()
    rc, code, size, err = net.curl("far", url(fam, "/big.bin"))
    assert rc == 0 and code == "200" and size == 1 << 20, \
        (rc, code, size, err, net.log()[-2000:])
    # the router's error went through the gateway (not around it)
    after = net.stats()
    assert after["rx"] > before["rx"]


@pytest.mark.parametrize("fam", (4, 6))
def test_udp_answer_in_fragments(net, fam):
    """4,000-byte answers leave the backend in fragments: reassembled,
    NATed (from the virtual address) and fragmented again, they reach the
    client whole."""
    for i in range(3):
        answer = net.udp_query("cli", fam, b"q%d" % i)
        assert len(answer) == BIG_ANSWER
        assert answer.startswith(b"q%d|" % i)


def test_mtu_9000(meshgate_bin, tmp_path_factory):
    """Every link MTU 9000, the gateway's port too (af_packet frames of
    12 KB): a 1 MB download in jumbo segments, 8 KB queries and
    their 4 KB answers, none fragmented; a sniffer on the gateway's link
    sees frames over 8,000 bytes."""
    env = Net(meshgate_bin, tmp_path_factory.mktemp("enforce-jumbo"),
              mtu=9000)
    try:
        env.build(with_router=False)
        env.start_servers()
        env.start()
        big = []
        stop = threading.Event()

        def sniff():
            s = env.topo["sw"].socket(socket.AF_PACKET, socket.SOCK_RAW,
                                      socket.htons(3))
            s.bind(("sw-gw", 3))
            s.settimeout(0.2)
            while not stop.is_set():
                try:
                    f = s.recv(65535)
                except socket.timeout:
                    continue
                if len(f) > 8000:
                    big.append(len(f))
            s.close()
        th = threading.Thread(target=sniff, daemon=True)
        th.start()
        try:
            for fam in (4, 6):
                rc, code, size, err = env.curl("cli", url(fam, "/big.bin"))
                assert rc == 0 and code == "200" and size == 1 << 20, \
                    (fam, rc, code, size, err, env.log()[-2000:])
                answer = env.udp_query("cli", fam, b"j" * 8000)
                assert len(answer) == BIG_ANSWER
        finally:
            stop.set()
            th.join(2)
        assert big, "no frame over 8,000 bytes crossed the gateway's link"
        stats, _ = env.check_shutdown()
        assert stats["drops"]["mtu_exceeded"] == 0, stats["drops"]
    finally:
        env.close()
