# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The SYN proxy (flows.syn_cookies) through the real binary, frame by
frame: SYNs answered with cookies and nothing kept, the connection made
on the ACK that echoes a valid cookie, the backend's handshake done by
the gateway, and every later segment translated between the cookie's
sequence space (the client's) and the backend's.

A cookie depends on a secret drawn at start, so the exchange is live:
each queue of net_pcap0 reads a FIFO (as test_two_way_queues does) that
the test feeds one step at a time, reading what the gateway sent from
its tx_pcap as it grows (net_pcap flushes it every burst). net_pcap
reads a burst's frames one by one, waiting for each, so the gateway runs
with burst = 1: a worker handles each frame as it comes. The client's
frames arrive on queue 0 (lcore 1), the backend's on queue 1 (lcore 2):
the two directions of a connection on two workers. Stale cookies come
from the test hook MESHGATE_TEST_SYN_COOKIE_AGE (cookies made that many
time slots in the past)."""

import os
import random
import signal
import shutil
import struct
import subprocess

from scapy.all import ICMP, IP, TCP, Ether, IPv6, Raw, raw

from pcapfifo import Fifo, frames_of
from mgrun import (REPO, check_clean_stop,
                   eal_args, load_stats, mg_telemetry, unique_prefix,
                   wait_for)

GW_MAC, CALLER_MAC = "02:70:63:61:70:00", "02:00:00:00:40:01"
BACKEND_MAC = "02:00:00:00:02:21"
VIP, VIP_PORT = "198.19.0.10", 80
BACKEND, BACKEND_PORT = "198.18.2.21", 8080
CLIENT = "198.18.64.10"
STEP_TIMEOUT = 20
S, A, F, R, P = "S", "A", "F", "R", "P"

CONFIG = """
mode = "one-arm";
burst = 1;
flows = { max = 1024; max_half_open = %(half_open)d;
          syn_cookies = "%(mode)s"; };
telemetry = { listen = "off"; };
ports = (
	{ name = "edge"; device = "net_pcap0"; profile = "pcap";
	  addresses = ["198.18.64.1/18", "198.18.2.1/24", "2001:db8:64::1/64",
		       "2001:db8:2::1/64"]; }
);
identities = (
	{ name = "callers"; prefixes = ["198.18.64.0/18", "2001:db8:64::/64"]; }
);
services = (
	{ name = "web"; protocol = "tcp"; addresses = ["198.19.0.10"];
	  ports = [80];
	  versions = ( { name = "v1"; backends = ["198.18.2.21:8080"]; } ); },
	{ name = "web6"; protocol = "tcp"; addresses = ["2001:db8:100::10"];
	  ports = [80];
	  versions = ( { name = "v1"; backends = ["2001:db8:2::21"]; } ); }
);
policies = (
	{ name = "callers-to-web"; action = "allow"; from = ["callers"];
	  to = ["web", "web6"]; }
);
neighbours = (
	{ address = "198.18.2.21"; mac = "02:00:00:00:02:21"; },
	{ address = "2001:db8:2::21"; mac = "02:00:00:00:02:21"; }
);
lcores = ( { lcore = 1; queue = 0; }, { lcore = 2; queue = 1; } );
"""


def checksums_ok(pkt):
    """The IPv4 header and TCP (or ICMP) checksums are right."""
    if IPv6 in pkt:
        again = pkt.copy()
        del again[TCP].chksum
        return Ether(raw(again))[TCP].chksum == pkt[TCP].chksum
    again = pkt.copy()
    del again[IP].chksum
    if TCP in again and ICMP not in again:
        del again[TCP].chksum
    if ICMP in again:
        del again[ICMP].chksum
    again = Ether(raw(again))
    if again[IP].chksum != pkt[IP].chksum:
        return False
    if ICMP in pkt:
        return again[ICMP].chksum == pkt[ICMP].chksum
    return again[TCP].chksum == pkt[TCP].chksum


class Gateway:
    """meshgate on net_pcap0 with two FIFO-fed queues, one worker each."""

    def __init__(self, binary, tmp, mode="on", half_open=256, env=None):
        self.tmp = tmp
        conf = tmp / "gw.conf"
        conf.write_text(CONFIG % {"mode": mode, "half_open": half_open})
        self.fifos = [Fifo(str(tmp / ("q%d.pcap" % q))) for q in (0, 1)]
        self.outs = [tmp / ("out%d.pcap" % q) for q in (0, 1)]
        vdev = ",".join(["net_pcap0"] +
                        ["rx_pcap=%s" % f.path for f in self.fifos] +
                        ["tx_pcap=%s" % o for o in self.outs])
        self.prefix = unique_prefix()
        self.stats_path = tmp / "stats.json"
        argv = [str(binary)] + eal_args(self.prefix, vdevs=[vdev], mem=512)
        argv[argv.index("-l"):argv.index("-l") + 2] = ["--lcores",
                                                       "0@0,1@1,2@1"]
        argv += ["--", "-f", str(conf), "--stats-json", str(self.stats_path)]
        self.log = open(tmp / "meshgate.log", "w+")
        self.proc = subprocess.Popen(argv, cwd=REPO,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        self.tel = None
        self.sent = [0, 0]
        self.seen = [0, 0]
        self.stopped = None
        self.tel_ctx = mg_telemetry.connect_when_ready(
            self.prefix, "/meshgate/lcores", "2", 20, proc=self.proc)
        self.tel = self.tel_ctx.__enter__()

    def query(self, cmd):
        return self.tel.query(cmd)

    def send(self, frames, queue=0):
        """Feed `frames` to a queue, wait until its worker received them
        all (a worker counts a round's frames after handling them and
        flushing what they made), and return what the gateway sent since
        the last call, as scapy packets by output queue."""
        self.fifos[queue].write([raw(f) for f in frames])
        self.sent[queue] += len(frames)
        lcore = str(queue + 1)
        wait_for(lambda: self.query("/meshgate/lcores")[lcore]["rx"] >=
                 self.sent[queue], STEP_TIMEOUT,
                 "lcore %s receiving %d frames" % (lcore, self.sent[queue]))
        return self.new_frames()

    def new_frames(self):
        out = []
        for q in (0, 1):
            frames = frames_of(self.outs[q])
            out += [Ether(f) for f in frames[self.seen[q]:]]
            self.seen[q] = len(frames)
        return out

    def drops(self):
        return self.query("/meshgate/stats")["drops"]

    def stop(self):
        """SIGINT, then the clean-stop checks (exit 0, no sanitizer
        report, no mbuf leaked). Returns --stats-json."""
        self.close()
        rc, log = self.stopped
        return check_clean_stop(rc, log, load_stats(self.stats_path))

    def close(self):
        if self.stopped is not None:
            return
        if self.tel is not None:
            self.tel_ctx.__exit__(None, None, None)
            self.tel = None
        for f in self.fifos:
            f.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.seek(0)
        self.stopped = (self.proc.returncode, self.log.read())
        self.log.close()
        shutil.rmtree(mg_telemetry.runtime_dir(self.prefix),
                      ignore_errors=True)


def client(flags, seq, ack=0, payload=b"", sport=40000, src=CLIENT,
           options=None, window=29200):
    pkt = Ether(src=CALLER_MAC, dst=GW_MAC) / IP(src=src, dst=VIP) / TCP(
        sport=sport, dport=VIP_PORT, flags=flags, seq=seq, ack=ack,
        window=window, options=options or [])
    return pkt / Raw(payload) if payload else pkt


def backend(flags, seq, ack, payload=b"", dport=40000, dst=CLIENT,
            options=None, window=64000):
    pkt = Ether(src=BACKEND_MAC, dst=GW_MAC) / IP(src=BACKEND, dst=dst) / \
        TCP(sport=BACKEND_PORT, dport=dport, flags=flags, seq=seq, ack=ack,
            window=window, options=options or [])
    return pkt / Raw(payload) if payload else pkt


SYN_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)),
               ("NOP", None), ("WScale", 7)]


def one(frames, what):
    assert len(frames) == 1, "%s: %s" % (what, [f.summary()
                                                for f in frames])
    pkt = frames[0]
    assert checksums_ok(pkt), "%s: bad checksum %s" % (what, pkt.summary())
    return pkt


def cookie_of(gw, isn, sport=40000, src=CLIENT):
    """Send a SYN; check the SYN-ACK the gateway answers with; return
    its cookie."""
    ans = one(gw.send([client(S, isn, sport=sport, src=src,
                              options=SYN_OPTIONS)]), "SYN-ACK")
    assert (ans.src, ans.dst) == (GW_MAC, CALLER_MAC)
    assert (ans[IP].src, ans[IP].dst) == (VIP, src)
    assert (ans[TCP].sport, ans[TCP].dport) == (VIP_PORT, sport)
    assert ans[TCP].flags == "SA"
    assert ans[TCP].ack == (isn + 1) & 0xFFFFFFFF
    # the MSS alone (the port's MTU less 40 bytes): no window scale,
    # SACK or timestamps
    assert ans[TCP].options == [("MSS", 1460)]
    assert ans[TCP].window == 65535
    return ans[TCP].seq


def flow_counts(gw):
    f = gw.query("/meshgate/flows")
    return f["total"], f["half_open"], f["syn_cookies_sent"], \
        f["syn_cookies_valid"]


def test_proxied_connection(meshgate_bin, tmp_path):
    """syn_cookies = "on", the client's frames on queue 0 and the
    backend's on queue 1: the SYN is answered with a SYN-ACK from the
    virtual address (ack = ISN + 1, the MSS option alone, window
    65,535) and no connection is kept; the ACK echoing the cookie makes
    the connection (syn_sent, half open) and becomes the backend's SYN
    (sequence number the client's ISN, the client's MSS, the client's
    window, no other option); client data before the backend answers is
    dropped (syn_proxy_pending) and the SYN sent again; the backend's
    SYN-ACK is answered with the handshake's last ACK (the client hears
    nothing) and the connection is established; then data, ACKs, FINs
    and an ICMP error about the backend's data go both ways translated:
    backend -> client seq - delta, client -> backend ack + delta (delta
    = backend ISN - cookie), every checksum valid; no mbuf leaked."""
    gw = Gateway(meshgate_bin, tmp_path)
    try:
        isn, bisn = 0xFFFFFF00, 0x10000000   # the client's wraps
        cookie = cookie_of(gw, isn)
        assert flow_counts(gw) == (0, 0, 1, 0)

        syn = one(gw.send([client(A, isn + 1, cookie + 1, window=29000)]),
                  "the backend's SYN")
        assert (syn.src, syn.dst) == (GW_MAC, BACKEND_MAC)
        assert (syn[IP].src, syn[IP].dst) == (CLIENT, BACKEND)
        assert (syn[TCP].sport, syn[TCP].dport) == (40000, BACKEND_PORT)
        assert syn[TCP].flags == "S" and syn[TCP].seq == isn
        assert syn[TCP].options == [("MSS", 1460)]
        assert syn[TCP].window == 29000
        assert syn[IP].ttl == 63
        assert flow_counts(gw) == (1, 1, 1, 1)
        assert gw.query("/meshgate/flows")["states"]["syn_sent"] == 1

        # data before the backend answered: dropped, the SYN again
        again = one(gw.send([client(P + A, isn + 1, cookie + 1,
                                    b"early")]), "the SYN again")
        assert again[TCP].flags == "S" and again[TCP].seq == isn
        assert Raw not in again
        assert gw.drops()["syn_proxy_pending"] == 1

        ack = one(gw.send([backend(S + A, bisn, isn + 1,
                                   options=[("MSS", 1400), ("WScale", 7)])],
                          queue=1), "the handshake's last ACK")
        assert (ack.src, ack.dst) == (GW_MAC, BACKEND_MAC)
        assert (ack[IP].src, ack[IP].dst) == (CLIENT, BACKEND)
        assert (ack[TCP].sport, ack[TCP].dport) == (40000, BACKEND_PORT)
        assert ack[TCP].flags == "A"
        assert (ack[TCP].seq, ack[TCP].ack) == ((isn + 1) & 0xFFFFFFFF,
                                                bisn + 1)
        assert ack[TCP].window == 29000
        flows = gw.query("/meshgate/flows")
        assert flows["states"]["established"] == 1, flows
        assert flows["half_open"] == 0

        delta = (bisn - cookie) & 0xFFFFFFFF
        c1 = (isn + 1) & 0xFFFFFFFF
        req = b"GET / HTTP/1.1\r\nHost: web\r\n\r\n"
        up = one(gw.send([client(P + A, c1, cookie + 1, req)]), "request")
        assert (up[IP].dst, up[TCP].dport) == (BACKEND, BACKEND_PORT)
        assert (up[TCP].seq, up[TCP].ack) == (c1, bisn + 1)
        assert up[Raw].load == req
        c2 = (c1 + len(req)) & 0xFFFFFFFF

        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        down = one(gw.send([backend(P + A, bisn + 1, c2, resp)], queue=1),
                   "response")
        assert (down[IP].src, down[TCP].sport) == (VIP, VIP_PORT)
        assert down.dst == CALLER_MAC
        assert (down[TCP].seq, down[TCP].ack) == (
            (bisn + 1 - delta) & 0xFFFFFFFF, c2)
        assert down[TCP].seq == (cookie + 1) & 0xFFFFFFFF
        assert down[Raw].load == resp
        b2 = bisn + 1 + len(resp)

        # a router on the client's side cannot take the response's size:
        # the backend hears of its own packet, its own numbers quoted
        quoted = raw(down[IP])[:28]
        err = Ether(src=CALLER_MAC, dst=GW_MAC) / IP(
            src="198.18.64.254", dst=CLIENT) / ICMP(
            type=3, code=4, nexthopmtu=1280) / quoted
        icmp = one(gw.send([err]), "ICMP about the backend's packet")
        inner = IP(raw(icmp[ICMP].payload))
        assert (icmp[IP].dst, inner.src, inner.dst) == (BACKEND, BACKEND,
                                                        CLIENT)
        assert struct.unpack("!I", raw(inner)[24:28])[0] == bisn + 1

        acks = one(gw.send([client(A, c2, (cookie + 1 + len(resp)) &
                                   0xFFFFFFFF)]), "client ACK")
        assert (acks[TCP].seq, acks[TCP].ack) == (c2, b2)

        fin = one(gw.send([backend(F + A, b2, c2)], queue=1), "backend FIN")
        assert fin[TCP].flags == "FA"
        assert fin[TCP].seq == (b2 - delta) & 0xFFFFFFFF
        last = gw.send([client(F + A, c2, (b2 - delta + 1) & 0xFFFFFFFF)])
        last = one(last, "client FIN")
        assert (last[TCP].seq, last[TCP].ack) == (c2, b2 + 1)
        assert one(gw.send([backend(A, b2 + 1, c2 + 1)], queue=1),
                   "last ACK")[TCP].seq == (b2 + 1 - delta) & 0xFFFFFFFF
        assert gw.query("/meshgate/flows")["states"]["time_wait"] == 1
        lcores = gw.query("/meshgate/lcores")
    finally:
        gw.close()
    stats = gw.stop()
    assert stats["syn_cookies_sent"] == 1 and stats["syn_cookies_valid"] == 1
    assert stats["flows_created"] == 1
    # each direction on its own worker
    assert lcores["1"]["rx"] == 7 and lcores["2"]["rx"] == 4, lcores
    for reason in ("syn_cookie_invalid", "syn_proxy_pending"):
        assert reason in stats["drops"]
    assert stats["drops_total"] == 1, {k: v for k, v in
                                       stats["drops"].items() if v}


def test_invalid_cookies(meshgate_bin, tmp_path):
    """syn_cookies = "on": an ACK from a source that never sent a SYN
    (random acknowledgement), a forged echo (cookie + 2), the right
    echo with another sequence number (not the SYN's ISN + 1) and the
    right echo from another port are all dropped as syn_cookie_invalid:
    nothing sent, no connection. The right one still works after."""
    gw = Gateway(meshgate_bin, tmp_path)
    try:
        rnd = random.Random(11)
        stray = [client(A, rnd.getrandbits(32), rnd.getrandbits(32),
                        sport=41000 + i, src="198.18.65.%d" % (i + 2))
                 for i in range(20)]
        assert gw.send(stray) == []
        cookie = cookie_of(gw, 5000)
        forged = [client(A, 5001, cookie + 2),
                  client(A, 5002, cookie + 1),
                  client(A, 5001, cookie + 1, sport=40001)]
        assert gw.send(forged) == []
        assert gw.drops()["syn_cookie_invalid"] == 23
        assert flow_counts(gw) == (0, 0, 1, 0)
        syn = one(gw.send([client(A, 5001, cookie + 1)]), "backend SYN")
        assert syn[TCP].flags == "S"
        assert flow_counts(gw)[0] == 1
    finally:
        gw.close()
    stats = gw.stop()
    assert stats["drops"]["syn_cookie_invalid"] == 23
    assert stats["drops"]["tcp_not_syn"] == 0


def test_stale_cookie(meshgate_bin, tmp_path):
    """Cookies made two time slots in the past (test hook
    MESHGATE_TEST_SYN_COOKIE_AGE=2) are stale: their echo is dropped as
    syn_cookie_invalid. Made one slot in the past, still valid: the
    connection is made."""
    for age, valid in ((2, False), (1, True)):
        tmp = tmp_path / ("age%d" % age)
        tmp.mkdir()
        gw = Gateway(meshgate_bin, tmp,
                     env={"MESHGATE_TEST_SYN_COOKIE_AGE": str(age)})
        try:
            cookie = cookie_of(gw, 77)
            out = gw.send([client(A, 78, cookie + 1)])
            total = gw.query("/meshgate/flows")["total"]
            invalid = gw.drops()["syn_cookie_invalid"]
        finally:
            gw.close()
        stats = gw.stop()
        if valid:
            assert one(out, "backend SYN")[TCP].flags == "S"
            assert (total, invalid) == (1, 0)
        else:
            assert out == []
            assert (total, invalid) == (0, 1)
        assert stats["syn_cookies_sent"] == 1


def test_off_mode(meshgate_bin, tmp_path):
    """syn_cookies = "off" behaves as before: the SYN goes to the backend
    as it came (its options kept, a connection made), an ACK of no
    connection is tcp_not_syn, and no cookie is ever sent."""
    gw = Gateway(meshgate_bin, tmp_path, mode="off")
    try:
        syn = one(gw.send([client(S, 1000, options=SYN_OPTIONS)]),
                  "forwarded SYN")
        assert syn[IP].dst == BACKEND and syn[TCP].seq == 1000
        assert dict(syn[TCP].options)["WScale"] == 7
        assert gw.send([client(A, 9, 9, sport=40001)]) == []
        assert gw.drops()["tcp_not_syn"] == 1
        assert flow_counts(gw) == (1, 1, 0, 0)
    finally:
        gw.close()
    stats = gw.stop()
    assert stats["drops"]["syn_cookie_invalid"] == 0


def test_auto_threshold(meshgate_bin, tmp_path):
    """syn_cookies = "auto", max_half_open = 64: the threshold is half
    of it, 32. Before any cookie was sent an ACK of no connection is
    tcp_not_syn, as before; 32 SYNs from distinct sources are forwarded
    (32 half-open connections); the 33rd is answered with a cookie and
    makes none; from then on a stray ACK is syn_cookie_invalid; once
    the half-open count is below 32 again (a handshake completes), SYNs
    are forwarded again."""
    gw = Gateway(meshgate_bin, tmp_path, mode="auto", half_open=64)
    try:
        assert gw.send([client(A, 9, 9, sport=39999)]) == []
        assert gw.drops()["tcp_not_syn"] == 1
        syns = [client(S, 100 + i, sport=42000 + i,
                       src="198.18.66.%d" % (i + 2)) for i in range(32)]
        out = gw.send(syns)
        assert len(out) == 32 and all(p[IP].dst == BACKEND and
                                      p[TCP].flags == "S" for p in out)
        assert flow_counts(gw) == (32, 32, 0, 0)
        cookie_of(gw, 555, sport=43000)
        assert flow_counts(gw) == (32, 32, 1, 0)
        assert gw.send([client(A, 9, 9, sport=39998)]) == []
        assert gw.drops()["syn_cookie_invalid"] == 1
        # one handshake completes: 31 half open, below the threshold
        assert len(gw.send([backend(S + A, 7000, 101, dport=42000,
                                    dst="198.18.66.2")], queue=1)) == 1
        assert len(gw.send([client(A, 101, 7001, sport=42000,
                                   src="198.18.66.2")])) == 1
        assert flow_counts(gw)[1] == 31
        fwd = one(gw.send([client(S, 9000, sport=43001)]), "plain SYN")
        assert fwd[IP].dst == BACKEND
        assert flow_counts(gw) == (33, 32, 1, 0)
    finally:
        gw.close()
    stats = gw.stop()
    assert stats["syn_cookies_sent"] == 1
    assert stats["flows_created"] == 33


VIP6, CLIENT6, BACKEND6 = "2001:db8:100::10", "2001:db8:64::10", \
    "2001:db8:2::21"


def test_proxied_connection_ipv6(meshgate_bin, tmp_path):
    """The same over IPv6 (the gateway's MSS for IPv6 is the MTU less 60
    bytes): the SYN answered with a cookie, the ACK made the backend's
    SYN, its SYN-ACK answered, data translated both ways, checksums
    valid."""
    gw = Gateway(meshgate_bin, tmp_path)
    try:
        def c6(flags, seq, ack=0, payload=b"", options=None):
            p = Ether(src=CALLER_MAC, dst=GW_MAC) / IPv6(
                src=CLIENT6, dst=VIP6) / TCP(
                sport=40000, dport=80, flags=flags, seq=seq, ack=ack,
                window=29200, options=options or [])
            return p / Raw(payload) if payload else p

        def b6(flags, seq, ack, payload=b""):
            p = Ether(src=BACKEND_MAC, dst=GW_MAC) / IPv6(
                src=BACKEND6, dst=CLIENT6) / TCP(
                sport=80, dport=40000, flags=flags, seq=seq, ack=ack,
                window=64000)
            return p / Raw(payload) if payload else p

        ans = one(gw.send([c6(S, 7000, options=SYN_OPTIONS)]), "SYN-ACK")
        assert (ans[IPv6].src, ans[IPv6].dst) == (VIP6, CLIENT6)
        assert ans[TCP].flags == "SA" and ans[TCP].ack == 7001
        assert ans[TCP].options == [("MSS", 1440)]
        cookie = ans[TCP].seq
        syn = one(gw.send([c6(A, 7001, cookie + 1)]), "backend SYN")
        assert (syn[IPv6].src, syn[IPv6].dst) == (CLIENT6, BACKEND6)
        assert syn[TCP].flags == "S" and syn[TCP].seq == 7000
        assert syn[TCP].options == [("MSS", 1460)]
        ack = one(gw.send([b6(S + A, 900, 7001)], queue=1), "last ACK")
        assert (ack[TCP].seq, ack[TCP].ack) == (7001, 901)
        up = one(gw.send([c6(P + A, 7001, cookie + 1, b"hello")]), "up")
        assert (up[TCP].seq, up[TCP].ack) == (7001, 901)
        down = one(gw.send([b6(P + A, 901, 7006, b"world")], queue=1),
                   "down")
        assert (down[IPv6].src, down[TCP].sport) == (VIP6, 80)
        assert (down[TCP].seq, down[TCP].ack) == ((cookie + 1) & 0xFFFFFFFF,
                                                  7006)
    finally:
        gw.close()
    stats = gw.stop()
    assert stats["syn_cookies_valid"] == 1
