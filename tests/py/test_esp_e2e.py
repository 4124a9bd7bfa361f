# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""ESP end to end: meshgate on net_af_packet in a namespace; a peer edge
node in another, built from a TUN device and tests/py/esp_peer.py
(scapy's SecurityAssociation does the ESP: the test kernels have none);
real curl and a UDP stream from the peer's side through the tunnel to a
backend in clear behind meshgate:

    peer 198.18.0.20 / 2001:db8::20 --+              +-- b1 198.18.0.30 :80
      tun0 10.99.0.5, 2001:db8:99::5  +-- br0 (sw) --+   udp :7007
    cli 198.18.0.40 ------------------+              +-- gw0 (gw): meshgate
                                                         198.18.0.1, ::1

The policy lets only peer:p reach the services ("prod only from peers"):
the clear caller cli is refused. The rekey test reloads meshgate twice
under a UDP stream (a new inbound SA first, then the new outbound one,
the old inbound lingering) while the peer switches too: not one datagram
may be lost either way. Namespaces and processes go away even on
failure."""

import json
import signal
import time
from pathlib import Path

import pytest

import netns
from gateway import GatewayEnv
from mgrun import CONFIGS, wait_for

_why = netns.available()
if _why:
    pytest.skip(_why, allow_module_level=True)

KEYS = CONFIGS / "keys"
PEER_SCRIPT = Path(__file__).resolve().parent / "esp_peer.py"
GW_MAC = "02:6d:67:00:00:01"
GW4, GW6 = "198.18.0.1", "2001:db8::1"
PEER4, PEER6 = "198.18.0.20", "2001:db8::20"
INNER4, INNER6 = "10.99.0.5", "2001:db8:99::5"
B1 = "198.18.0.30"
CLI = "198.18.0.40"
SHOP, ECHO = "198.19.0.10", "198.19.0.11"
READY_S = 20
CURL_S = 5
# The rekey test's UDP stream: as fast as the peer (scapy, one packet at
# a time in Python, on a machine whose other core the gateway polls) is
# sure to keep up with; the tunnel's own packets are counted at both ends.
STREAM = 900
STREAM_PPS = 150

# N datagrams at a steady rate to HOST:PORT, each numbered; the echoes
# counted as they come; waits (bounded) for the last ones; JSON result.
UDP_STREAM = """
import json, socket, sys, time
host, port, n, pps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
got = set()
start = time.monotonic()
for i in range(n):
    s.sendto(b"seq %d" % i, (host, port))
    while time.monotonic() < start + (i + 1) / pps:
        try:
            got.add(int(s.recv(2048).split()[1]))
        except BlockingIOError:
            time.sleep(0.0005)
end = time.monotonic() + 5
while len(got) < n and time.monotonic() < end:
    try:
        got.add(int(s.recv(2048).split()[1]))
    except BlockingIOError:
        time.sleep(0.001)
print(json.dumps({"sent": n, "got": len(got),
                  "missing": sorted(set(range(n)) - got)[:20]}))
"""


def key(name):
    return (KEYS / ("%s.key" % name)).read_text().strip()


def gw_conf(family, udp, inbound, outbound):
    """meshgate's config: peer p with `inbound` [(spi, key)] and
    `outbound` (spi, key)."""
    local, remote = (GW4, PEER4) if family == 4 else (GW6, PEER6)
    ins = ", ".join('{ spi = 0x%x; algorithm = "aes-gcm-128"; '
                    'key_file = "%s/%s.key"; }' % (spi, KEYS, k)
                    for spi, k in inbound)
    return """
ports = ( { name = "edge"; device = "net_af_packet0"; profile = "af_packet";
	    addresses = ["198.18.0.1/24", "2001:db8::1/64"]; } );
identities = ( { name = "lan"; env = "dev"; prefixes = ["198.18.0.0/24"]; } );
peers = ( { name = "p"; env = "prod"; local = "%s"; remote = "%s";
	    udp_encap = %s;
	    inbound = ( %s );
	    outbound = { spi = 0x%x; algorithm = "aes-gcm-128";
			 key_file = "%s/%s.key"; };
	    prefixes = ["10.99.0.0/24", "2001:db8:99::/64"]; } );
services = (
	{ name = "shop"; env = "prod"; protocol = "tcp";
	  addresses = ["198.19.0.10"]; ports = [80];
	  versions = ( { name = "v1"; backends = ["198.18.0.30"]; } ); },
	{ name = "echo"; env = "prod"; protocol = "udp";
	  addresses = ["198.19.0.11"]; ports = [7];
	  versions = ( { name = "v1"; backends = ["198.18.0.30:7007"]; } ); }
);
policies = ( { name = "peers-only"; action = "allow";
	       from = ["peer:p"]; to = ["env:prod"]; } );
telemetry = { listen = "off"; };
""" % (local, remote, "true" if udp else "false", ins, outbound[0], KEYS,
       outbound[1])


class E2E(GatewayEnv):
    def __init__(self, binary, tmp, family, udp):
        super().__init__(binary, tmp)
        self.family, self.udp = family, udp
        self.conf = self.tmp / "esp_e2e.conf"
        self.peer_conf = self.tmp / "peer.json"
        self.peer = None

    def build(self):
        t = self.topo
        sw, _ = self.switch(GW_MAC, ipv6=True)
        peer = t.add("peer", ipv6=True)
        t.attach(peer, sw, addrs=[PEER4 + "/24", PEER6 + "/64"])
        peer.set_sysctl("net.ipv6.conf.eth0.accept_dad", 0)
        # the address was added before: wait out its duplicate address
        # detection, or binding to it fails (EADDRNOTAVAIL)
        wait_for(lambda: "tentative" not in peer.run(
            ["ip", "-6", "addr", "show", "dev", "eth0"]).stdout, 10,
            "the peer's IPv6 address past DAD")
        peer.ip("tuntap", "add", "dev", "tun0", "mode", "tun")
        peer.ip("link", "set", "tun0", "mtu", "1400", "txqueuelen",
                "10000", "up")
        peer.ip("addr", "add", INNER4 + "/32", "dev", "tun0")
        peer.ip("addr", "add", INNER6 + "/128", "dev", "tun0", "nodad")
        peer.ip("route", "add", "198.19.0.0/16", "dev", "tun0", "src",
                INNER4)
        t.attach(t.add("b1", hosts={B1: "b1"}), sw, addrs=[B1 + "/24"],
                 routes=[("10.99.0.0/24", GW4)])
        t.attach(t.add("cli"), sw, addrs=[CLI + "/24"],
                 routes=[("198.19.0.0/16", GW4)])

    def start_servers(self):
        root = self.tmp / "www"
        root.mkdir()
        (root / "index.html").write_text("backend b1 behind meshgate\n")
        http = self.topo["b1"].popen(
            ["/usr/bin/python3", "-u", "-m", "http.server", "80", "--bind",
             B1, "--directory", root], self.tmp / "http.log")
        echo = self.topo["b1"].popen(
            ["/usr/bin/python3", "-u", "-c", netns.UDP_ECHO, B1, 7007],
            self.tmp / "echo.log")
        for proc, word in ((http, "Serving HTTP"), (echo, "ready")):
            netns.wait_ready(proc, word)

    def set_peer(self, out, inbound):
        """The peer's SAs: `out` (spi, key name), `inbound` [(spi, key
        name)]; a running peer reads them again on SIGUSR1."""
        local, remote = (PEER4, GW4) if self.family == 4 else (PEER6, GW6)
        cfg = {"tun": "tun0", "family": self.family, "local": local,
               "remote": remote, "udp": self.udp,
               "out": [{"spi": out[0], "key": key(out[1])}],
               "in": [{"spi": s, "key": key(k)} for s, k in inbound]}
        tmp = self.peer_conf.with_suffix(".new")
        tmp.write_text(json.dumps(cfg))
        tmp.replace(self.peer_conf)
        if self.peer is not None:
            before = self.peer_log().count("reloaded")
            self.peer.send_signal(signal.SIGUSR1)
            wait_for(lambda: self.peer_log().count("reloaded") > before, 5,
                     "the peer took its new SAs")

    def peer_log(self):
        return Path(self.peer.log_path).read_text()

    def start_peer(self):
        self.set_peer((0x5001, "esp-e2e-in"), [(0x6001, "esp-e2e-out")])
        self.peer = self.topo["peer"].popen(
            ["/usr/bin/python3", "-u", PEER_SCRIPT, self.peer_conf],
            self.tmp / "peer.log")
        wait_for(lambda: "ready" in self.peer_log() or
                 self.peer.poll() is not None, 10, "the ESP peer")
        assert self.peer.poll() is None, self.peer_log()

    def set_config(self, inbound, outbound):
        before = self.log().count("new ruleset in force") \
            if self.proc else 0
        text = gw_conf(self.family, self.udp, inbound, outbound)
        tmp = self.conf.with_suffix(".new")
        tmp.write_text(text)
        tmp.replace(self.conf)
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: self.log().count("new ruleset in force") >
                     before or "rejected" in self.log(), 10,
                     "the reload")
            assert "rejected" not in self.log(), self.log()

    def curl(self, ns, url, max_time=CURL_S):
        proc = self.topo[ns].run(
            ["curl", "-s", "--max-time", str(max_time), "-w",
             "\n%{http_code}", url], timeout=max_time + 5)
        body, _, code = proc.stdout.rpartition("\n")
        return proc.returncode, code, body


def make_env(meshgate_bin, tmp, family, udp):
    env = E2E(meshgate_bin, tmp, family, udp)
    env.build()
    env.start_servers()
    env.set_config([(0x5001, "esp-e2e-in")], (0x6001, "esp-e2e-out"))
    env.start_gateway(env.conf, ready_s=READY_S)
    env.start_peer()
    return env


@pytest.mark.parametrize("family,udp", [(4, False), (6, True)],
                         ids=["ipv4-esp", "ipv6-udp"])
def test_curl_through_the_tunnel(meshgate_bin, tmp_path, family, udp):
    """curl on the peer's side gets the page of a backend that only
    peer:p may reach; the backend sees the peer's inner address; the
    same request in clear from the link is refused; the peer sent and
    received through the tunnel; meshgate leaks nothing."""
    env = make_env(meshgate_bin, tmp_path, family, udp)
    try:
        rc, code, body = env.curl("peer", "http://%s/" % SHOP)
        assert (rc, code) == (0, "200"), (rc, code, body, env.peer_log())
        assert body.strip() == "backend b1 behind meshgate"
        assert INNER4 in (tmp_path / "http.log").read_text()
        rc, code, _ = env.curl("cli", "http://%s/" % SHOP, max_time=2)
        assert rc != 0 and code == "000"
        stats = env.query("/meshgate/stats")
        assert stats["drops"]["policy_deny"] >= 1, stats["drops"]
        esp = {k: v for k, v in stats["drops"].items()
               if k.startswith("esp_") and v}
        assert not esp, esp
        peers = env.query("/meshgate/peers")["p"]
        sas = peers["sas"]
        assert sas["in_0x00005001"]["packets"] > 0
        assert sas["out_0x00006001"]["packets"] > 0
        assert peers["encap"] == ("udp" if udp else "esp")
        env.peer.send_signal(signal.SIGUSR2)
        wait_for(lambda: '"received"' in env.peer_log(), 5, "peer counts")
    finally:
        env.close()
    env.check_shutdown()


def test_rekey_under_load(meshgate_bin, tmp_path):
    """Make before break under a UDP stream through the tunnel: reload 1
    adds inbound SA 0x5002 (0x5001 stays, its window and 0x6001's
    sequence numbers go on); the peer sends with 0x5002 from then on and
    accepts 0x6002 too; reload 2 makes 0x6002 the outbound SA and drops
    0x5001 from the file (it lingers). Every datagram comes back: no
    loss either way; no ESP drop at the gateway."""
    env = make_env(meshgate_bin, tmp_path, 4, False)
    try:
        rc, code, _ = env.curl("peer", "http://%s/" % SHOP)
        assert (rc, code) == (0, "200"), env.peer_log()
        stream = env.topo["peer"].popen(
            ["/usr/bin/python3", "-u", "-c", UDP_STREAM, ECHO, 7,
             STREAM, STREAM_PPS], tmp_path / "stream.log")
        period = STREAM / STREAM_PPS
        time.sleep(period * 0.25)
        seq_before = env.query("/meshgate/peers")["p"]["sas"][
            "out_0x00006001"]["seq"]
        # 1: the new inbound SA beside the old one
        env.set_config([(0x5001, "esp-e2e-in"), (0x5002, "esp-e2e-in2")],
                       (0x6001, "esp-e2e-out"))
        sas = env.query("/meshgate/peers")["p"]["sas"]
        assert sas["out_0x00006001"]["seq"] >= seq_before
        env.set_peer((0x5002, "esp-e2e-in2"),
                     [(0x6001, "esp-e2e-out"), (0x6002, "esp-e2e-out2")])
        time.sleep(period * 0.25)
        # 2: the new outbound SA; the old inbound one leaves the file
        env.set_config([(0x5002, "esp-e2e-in2")], (0x6002, "esp-e2e-out2"))
        wait_for(lambda: stream.poll() is not None, period + 15,
                 "the stream to end")
        result = json.loads(Path(stream.log_path).read_text())
        stats = env.query("/meshgate/stats")
        env.peer.send_signal(signal.SIGUSR2)
        wait_for(lambda: '"received"' in env.peer_log(), 5, "peer counts")
        peer_counts = json.loads(env.peer_log().splitlines()[-1])
        assert result["got"] == result["sent"] == STREAM, (
            result, {k: v for k, v in stats["drops"].items() if v},
            peer_counts)
        esp = {k: v for k, v in stats["drops"].items()
               if k.startswith("esp_") and v}
        assert not esp, esp
        sas = env.query("/meshgate/peers")["p"]["sas"]
        assert sas["in_0x00005001"]["state"] == "lingering", sas
        assert sas["in_0x00005001"]["packets"] > 0
        assert sas["in_0x00005002"]["packets"] > 0
        assert sas["out_0x00006002"]["packets"] > 0
        assert "out_0x00006001" not in sas
        # every tunnel packet the peer sent was taken, under both SAs
        assert sas["in_0x00005001"]["packets"] + \
            sas["in_0x00005002"]["packets"] == peer_counts["sent"]
        assert peer_counts["bad"] == peer_counts["unknown_spi"] == 0
        assert "inbound SA 0x5001 left the config" in env.log()
    finally:
        env.close()
    stats, log = env.check_shutdown()
    assert "retired: crypto session freed, key zeroised" in log
