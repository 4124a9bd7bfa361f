#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the deterministic service-mesh captures of scripts/bench.sh and
scripts/profile.sh.

    gen_bench_pcaps.py OUTDIR [--only established,newflows,l7_established,
                                      l7_newflows,est_once,synflood,
                                      established2way,established2way_1m]
                       [--conns N] [--rounds R] [--new-flows N]
                       [--l7-conns N] [--l7-rounds R] [--l7-new-flows N]
                       [--2way-conns N] [--2way-rounds R]
                       [--2way-1m-conns N] [--2way-1m-rounds R]

established.pcap  N connections (10,000) from allowed callers to the bench
                  service's VIP, one-arm with its one backend: whole
                  handshakes (client SYN, backend SYN-ACK, client ACK) in
                  blocks of 64 connections, then R rounds (9) of one data
                  segment per connection, each round in its own fixed
                  order. Replayed with infinite_rx, a loop after the first
                  repeats the handshakes (a SYN on a live connection is
                  challenged) and the data as retransmissions inside the
                  window: all flow-table hits, R/(R+3) of them data.
newflows.pcap     N distinct SYNs (200,000) to the same VIP: one new
                  connection per frame, replayed once.
l7_established.pcap
                  N keep-alive HTTP connections (10,000) to the bench VIP,
                  whole handshakes (client SYN, backend SYN-ACK, client
                  ACK) first, then R rounds (30) of one GET request per
                  connection, each round in its own order. Every request
                  continues its connection's byte stream, so a replay
                  ONCE inspects every request head; replayed with
                  infinite_rx, every loop after the first would only be
                  retransmissions, forwarded without inspection.
est_once.pcap     N connections (5,000) with whole handshakes (client
                  SYN, backend SYN-ACK, client ACK; one-arm, one backend,
                  as l7_established.pcap), then R rounds (10) of one
                  6-byte data segment per connection, each continuing its
                  byte stream: replayed once, every data segment is an
                  established connection's new bytes.
synflood.pcap     est_once.pcap with a spoofed SYN after every frame once
                  the handshakes are done (half of the input from then
                  on): distinct sources of 198.18.128.0/17 ("public" of
                  bench_synflood.conf) and ports, never answered.
l7_newflows.pcap  N connections (100,000), each a handshake and one GET
                  request, in blocks of 64 (64 SYNs, their SYN-ACKs, ACKs,
                  requests): a connection set-up with its inspection.
established2way.pcap
                  N connections (10,000) through the gateway both ways,
                  one-arm as established.pcap: whole handshakes in blocks
                  of 64 (client SYN to the VIP; the backend's SYN-ACK from
                  198.18.2.21:8080 to the client, which is what the
                  gateway's DNAT sent it and so hits the connection's
                  reverse key; the client's ACK), then R rounds (50) in
                  which every connection sends one 6-byte data segment
                  each way: client to VIP and backend to client
                  alternating, the two directions in two independent
                  orders (a connection's two segments of a round are
                  seldom next to each other), each segment continuing
                  its direction's byte stream and acknowledging what the
                  other side has sent before it in the capture. Replayed
                  ONCE: every data segment is new bytes of an
                  established connection.
established2way_1m.pcap
                  the same with N = 1,000,000 connections and R = 2
                  rounds (7,000,000 frames, about 530 MB): streamed to
                  the file, a minute or two to write; generate once.

Every frame of established.pcap and newflows.pcap is 60 bytes (64 on the
wire): IPv4 + TCP, SYNs padded, data segments carrying 6 bytes. Addresses,
MACs and the service match tests/configs/bench_mesh.conf and
bench_newflows.conf: change them together. The l7_ captures are one-arm
(callers and the backend on the same port, tests/configs/bench_l7*.conf)
and have a single backend, so the capture can hold its SYN-ACKs; their
requests are realistic GET heads (about 100 bytes). Scapy builds one template frame per kind; the frames are that
template with addresses, ports, sequence numbers and checksums patched in
with struct, so 300,000 frames take seconds, not minutes. Every run writes
the same bytes (fixed timestamps, seeds and orders) and uses only
documentation addresses (198.18.0.0/15).
"""

import argparse
import ipaddress
import os
import random
import struct
import sys

from scapy.all import IP, TCP, Ether, Raw, raw

BASE_TIME = 1700000000          # first frame's timestamp, seconds
FRAME = 60                      # bytes in the pcap: 64 on the wire - FCS
DATA_LEN = 6                    # data segment payload: 14 + 20 + 20 + 6

GW_MAC = "02:70:63:61:70:00"    # net_pcap0, the gateway's edge port
CALLER_MAC = "02:00:00:00:40:01"  # the edge router in front of the callers
# Callers: the identity "bench-callers" of the bench configs. Sources are
# hosts of this /18 (16,382 of them), ports spread over the rest.
CALLERS = ipaddress.IPv4Network("198.18.64.0/18")
CALLER_HOSTS = CALLERS.num_addresses - 3     # .2 up to the last but one
VIP, VIP_PORT = "198.19.0.10", 80   # service "bench"

ETH_LEN, IP_LEN = 14, 20
IP_OFF, TCP_OFF = ETH_LEN, ETH_LEN + IP_LEN
SEED = 0x6d67               # "mg"


def tuple_of(i):
    """(source address as int, source port) of connection i: distinct for
    every i < hosts * 64,000. The callers' hosts start at .2: the first is
    the gateway's own address (bench_*.conf), a caller claiming it is
    refused as martian_source."""
    hosts = CALLER_HOSTS
    src = int(CALLERS.network_address) + 2 + i % hosts
    sport = 1024 + (i // hosts * 7919 + i * 31) % 64000
    return src, sport


def isn(i):
    return (i * 2654435761 + 12345) & 0xFFFFFFFF


def csum(data):
    """Internet checksum of an even-length byte string."""
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Template:
    """One scapy-built frame whose IPv4/TCP fields are patched per frame."""

    def __init__(self, flags, payload):
        l4 = TCP(sport=1024, dport=VIP_PORT, flags=flags, seq=0, ack=0,
                 window=64240)
        if payload:
            l4 = l4 / Raw(payload)
        pkt = Ether(src=CALLER_MAC, dst=GW_MAC) / \
            IP(src=str(CALLERS.network_address + 2), dst=VIP, ttl=64,
               flags="DF", id=0) / l4
        data = raw(pkt)
        self.ip_total = len(data) - ETH_LEN
        self.frame = bytearray(data.ljust(FRAME, b"\0"))
        assert len(self.frame) == FRAME, len(self.frame)
        self.payload = payload
        self.tcp_len = self.ip_total - IP_LEN
        self.dst = bytes(self.frame[IP_OFF + 16:IP_OFF + 20])

    def build(self, src, sport, seq, ack, ip_id):
        f = self.frame
        struct.pack_into("!H", f, IP_OFF + 4, ip_id)
        struct.pack_into("!H", f, IP_OFF + 10, 0)
        struct.pack_into("!I", f, IP_OFF + 12, src)
        struct.pack_into("!H", f, IP_OFF + 10,
                         csum(bytes(f[IP_OFF:IP_OFF + IP_LEN])))
        struct.pack_into("!HHII", f, TCP_OFF, sport, VIP_PORT, seq, ack)
        struct.pack_into("!H", f, TCP_OFF + 16, 0)
        seg = bytes(f[TCP_OFF:TCP_OFF + self.tcp_len])
        if len(seg) % 2:
            seg += b"\0"
        pseudo = struct.pack("!I4sBBH", src, self.dst, 0, 6, self.tcp_len)
        struct.pack_into("!H", f, TCP_OFF + 16, csum(pseudo + seg))
        return bytes(f)


def check(frames):
    """Let scapy recompute the checksums of a few frames: any mismatch
    means the struct patching is wrong."""
    for data in frames:
        pkt = Ether(data)
        ip_ck, tcp_ck = pkt[IP].chksum, pkt[TCP].chksum
        del pkt[IP].chksum
        del pkt[TCP].chksum
        again = Ether(raw(pkt))
        if (again[IP].chksum, again[TCP].chksum) != (ip_ck, tcp_ck):
            raise AssertionError("bad checksum in generated frame %r"
                                 % data.hex())


def established_frames(conns, rounds):
    tf = TcpFrames()
    cs = [L7Conn(tf, i) for i in range(conns)]
    frames = []
    for first in range(0, conns, L7_BLOCK):
        block = cs[first:first + L7_BLOCK]
        frames += [c.syn() for c in block] + \
            [c.syn_ack() for c in block] + [c.ack() for c in block]
    rng = random.Random(SEED)
    order = list(range(conns))
    for r in range(rounds):
        # Each round in its own order: flow entries are allocated in SYN
        # order, and a replay in that order would walk memory linearly.
        rng.shuffle(order)
        frames += [cs[i]._client(PSH | ACK, b"mgbnch"[:DATA_LEN])
                   for i in order]
    assert all(len(f) == FRAME for f in frames)
    check_l7(frames[:3] + frames[3 * conns:3 * conns + 3] + frames[-3:])
    return frames


def newflow_frames(n):
    syn = Template("S", b"")
    frames = []
    for i in range(n):
        src, sport = tuple_of(i)
        frames.append(syn.build(src, sport, isn(i), 0, i & 0xFFFF))
    check(frames[:3] + frames[-3:])
    return frames


# ------------------------------------------------ layer-7 captures

L7_BACKEND, L7_BACKEND_PORT = "198.18.2.21", 8080   # bench_l7*.conf
BACKEND_MAC = "02:00:00:00:02:21"
L7_BLOCK = 64               # l7_newflows.pcap: connections per block
SYN, ACK, PSH = 0x02, 0x10, 0x08


class TcpFrames:
    """IPv4/TCP frames of any flags and payload, patched with struct (no
    scapy per frame): header bytes from one scapy-built template."""

    def __init__(self):
        pkt = Ether(src=CALLER_MAC, dst=GW_MAC) / \
            IP(src=str(CALLERS.network_address + 2), dst=VIP, ttl=64,
               flags="DF", id=0) / TCP(sport=1024, dport=VIP_PORT,
                                       flags="S", window=64240)
        data = raw(pkt)
        self.eth_ip = bytearray(data[:TCP_OFF])
        self.tcp = bytearray(data[TCP_OFF:])
        assert len(self.tcp) == 20

    def build(self, src_mac, src, dst, sport, dport, flags, seq, ack,
              payload, ip_id):
        """src_mac: the sender's; the frame goes to the gateway. src and
        dst are addresses as ints."""
        f = bytearray(self.eth_ip)
        f[6:12] = bytes.fromhex(src_mac.replace(":", ""))
        total = IP_LEN + 20 + len(payload)
        struct.pack_into("!HH", f, IP_OFF + 2, total, ip_id)
        struct.pack_into("!H", f, IP_OFF + 10, 0)
        struct.pack_into("!II", f, IP_OFF + 12, src, dst)
        struct.pack_into("!H", f, IP_OFF + 10,
                         csum(bytes(f[IP_OFF:IP_OFF + IP_LEN])))
        t = bytearray(self.tcp)
        struct.pack_into("!HHII", t, 0, sport, dport, seq & 0xFFFFFFFF,
                         ack & 0xFFFFFFFF)
        t[13] = flags
        struct.pack_into("!H", t, 16, 0)
        seg = bytes(t) + payload
        pseudo = struct.pack("!IIBBH", src, dst, 0, 6, len(seg))
        struct.pack_into("!H", t, 16,
                         csum(pseudo + seg + b"\0" * (len(seg) % 2)))
        return bytes((f + t + payload).ljust(FRAME, b"\0"))


def l7_request(i, r):
    """The r-th request of connection i: a GET the bench_l7.conf allow
    rule matches (method, path and Host) and its deny rule does not."""
    return (b"GET /api/items/%d?page=%d HTTP/1.1\r\nHost: bench.example\r\n"
            b"User-Agent: meshgate-bench\r\nAccept: */*\r\n\r\n" % (i, r))


class L7Conn:
    """One bench connection: its frames in order, sequence numbers kept."""

    backend = int(ipaddress.IPv4Address(L7_BACKEND))
    vip = int(ipaddress.IPv4Address(VIP))

    def __init__(self, tf, i):
        self.tf, self.i = tf, i
        self.src, self.sport = tuple_of(i)
        self.cseq = isn(i)
        self.sseq = isn(i + 0x10000000)
        self.ip_id = i & 0xFFFF

    def _client(self, flags, payload=b""):
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        f = self.tf.build(CALLER_MAC, self.src, self.vip, self.sport,
                          VIP_PORT, flags, self.cseq,
                          self.sseq if flags & ACK else 0, payload,
                          self.ip_id)
        self.cseq += len(payload) + (1 if flags & SYN else 0)
        return f

    def syn(self):
        return self._client(SYN)

    def syn_ack(self):
        f = self.tf.build(BACKEND_MAC, self.backend, self.src,
                          L7_BACKEND_PORT, self.sport, SYN | ACK, self.sseq,
                          self.cseq, b"", self.i & 0xFFFF)
        self.sseq += 1
        return f

    def ack(self):
        return self._client(ACK)

    def server(self, flags, payload=b""):
        """A segment of the backend to the client, as the backend sends
        it: from its own address and port (the gateway translates it back
        to the VIP)."""
        f = self.tf.build(BACKEND_MAC, self.backend, self.src,
                          L7_BACKEND_PORT, self.sport, flags, self.sseq,
                          self.cseq, payload, self.i & 0xFFFF)
        self.sseq += len(payload)
        return f

    def request(self, r):
        return self._client(PSH | ACK, l7_request(self.i, r))


def check_l7(frames):
    """scapy recomputes every checksum of a few frames."""
    for data in frames:
        pkt = Ether(data)
        want = (pkt[IP].chksum, pkt[TCP].chksum)
        del pkt[IP].chksum
        del pkt[TCP].chksum
        again = Ether(raw(pkt))
        if (again[IP].chksum, again[TCP].chksum) != want:
            raise AssertionError("bad checksum in generated frame %r"
                                 % data.hex())


def l7_established_frames(conns, rounds):
    tf = TcpFrames()
    cs = [L7Conn(tf, i) for i in range(conns)]
    frames = [c.syn() for c in cs] + [c.syn_ack() for c in cs] + \
        [c.ack() for c in cs]
    rng = random.Random(SEED + 7)
    order = list(range(conns))
    for r in range(rounds):
        rng.shuffle(order)
        frames += [cs[i].request(r) for i in order]
    check_l7(frames[:2] + frames[conns:conns + 2] + frames[-3:])
    return frames


def l7_newflow_frames(n):
    tf = TcpFrames()
    frames = []
    for first in range(0, n, L7_BLOCK):
        cs = [L7Conn(tf, i) for i in range(first, min(n, first + L7_BLOCK))]
        frames += [c.syn() for c in cs] + [c.syn_ack() for c in cs] + \
            [c.ack() for c in cs] + [c.request(0) for c in cs]
    check_l7(frames[:3] + frames[-3:])
    return frames


PUBLIC = ipaddress.IPv4Network("198.18.128.0/17")


def est_once_frames(conns, rounds, flood=False):
    tf = TcpFrames()
    cs = [L7Conn(tf, i) for i in range(conns)]
    frames = [c.syn() for c in cs] + [c.syn_ack() for c in cs] + \
        [c.ack() for c in cs]
    rng = random.Random(SEED + 11)
    order = list(range(conns))
    vip = int(ipaddress.IPv4Address(VIP))
    hosts = PUBLIC.num_addresses - 2
    k = 0
    for r in range(rounds):
        rng.shuffle(order)
        for i in order:
            frames.append(cs[i]._client(PSH | ACK, b"mgbnch"))
            if flood:
                src = int(PUBLIC.network_address) + 1 + k % hosts
                sport = 1024 + (k // hosts * 7919 + k * 31) % 64000
                frames.append(tf.build(CALLER_MAC, src, vip, sport,
                                       VIP_PORT, SYN, isn(k + 77), 0, b"",
                                       k & 0xFFFF))
                k += 1
    check_l7(frames[:2] + frames[3 * conns:3 * conns + 2] + frames[-2:])
    return frames


def established2way_frames(conns, rounds, seed):
    """established2way.pcap's frames, yielded one by one (1,000,000
    connections do not fit in a list of frames)."""
    tf = TcpFrames()
    cs = [L7Conn(tf, i) for i in range(conns)]
    checked = []
    for first in range(0, conns, L7_BLOCK):
        block = cs[first:first + L7_BLOCK]
        for make in (L7Conn.syn, L7Conn.syn_ack, L7Conn.ack):
            for c in block:
                f = make(c)
                if len(checked) < 3 or first == 0 and make is L7Conn.syn_ack:
                    checked.append(f)
                yield f
    rng = random.Random(seed)
    up, down = list(range(conns)), list(range(conns))
    last = []
    for r in range(rounds):
        rng.shuffle(up)
        rng.shuffle(down)
        for i, j in zip(up, down):
            a = cs[i]._client(PSH | ACK, b"mgbnch")
            b = cs[j].server(PSH | ACK, b"hcnbgm")
            if len(last) < 2:
                last += [a, b]
            yield a
            yield b
    check_l7(checked[:6] + last)


def write_pcap(path, frames):
    """Classic pcap (Ethernet), frames 1 us apart; written to a temporary
    name first so a reader never sees half a file. frames may be any
    iterable (a generator is written as it goes)."""
    tmp = path + ".tmp"
    with open(tmp, "wb", buffering=1 << 20) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        rec = struct.Struct("<IIII")
        for i, data in enumerate(frames):
            f.write(rec.pack(BASE_TIME + i // 1000000, i % 1000000,
                             len(data), len(data)))
            f.write(data)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--only", default="established,newflows",
                    help="comma-separated subset of established,newflows,"
                    "l7_established,l7_newflows,est_once,synflood,"
                    "established2way,established2way_1m")
    ap.add_argument("--conns", type=int, default=10000,
                    help="connections in established.pcap (10000)")
    ap.add_argument("--rounds", type=int, default=9,
                    help="data rounds after the SYNs (9)")
    ap.add_argument("--new-flows", type=int, default=200000,
                    help="SYNs in newflows.pcap (200000)")
    ap.add_argument("--l7-conns", type=int, default=10000,
                    help="connections in l7_established.pcap (10000)")
    ap.add_argument("--l7-rounds", type=int, default=30,
                    help="requests per connection there (30)")
    ap.add_argument("--l7-new-flows", type=int, default=100000,
                    help="connections in l7_newflows.pcap (100000)")
    ap.add_argument("--once-conns", type=int, default=5000,
                    help="connections of est_once and synflood (5000)")
    ap.add_argument("--once-rounds", type=int, default=10,
                    help="data rounds of est_once and synflood (10)")
    ap.add_argument("--2way-conns", dest="way_conns", type=int,
                    default=10000,
                    help="connections in established2way.pcap (10000)")
    ap.add_argument("--2way-rounds", dest="way_rounds", type=int,
                    default=50, help="data rounds there, one segment "
                    "each way per connection (50)")
    ap.add_argument("--2way-1m-conns", dest="way_1m_conns", type=int,
                    default=1000000,
                    help="connections in established2way_1m.pcap (1000000)")
    ap.add_argument("--2way-1m-rounds", dest="way_1m_rounds", type=int,
                    default=2, help="data rounds there (2)")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    unknown = only - {"established", "newflows", "l7_established",
                      "l7_newflows", "est_once", "synflood",
                      "established2way", "established2way_1m"}
    if unknown:
        ap.error("unknown capture(s): %s" % ", ".join(sorted(unknown)))
    limit = CALLER_HOSTS * 64000
    if not all(1 <= n <= limit for n in (args.conns, args.new_flows,
                                          args.l7_conns, args.l7_new_flows,
                                          args.way_conns,
                                          args.way_1m_conns)):
        ap.error("--conns, --new-flows, --l7-conns, --l7-new-flows and "
                 "the --2way conns must be in 1..%d" % limit)
    if not 0 <= args.rounds <= 1000 or not all(
            1 <= r <= 1000 for r in (args.l7_rounds, args.way_rounds,
                                     args.way_1m_rounds)):
        ap.error("--rounds must be in 0..1000, --l7-rounds and the --2way "
                 "rounds in 1..1000")
    os.makedirs(args.outdir, exist_ok=True)

    if "established" in only:
        write_pcap(os.path.join(args.outdir, "established.pcap"),
                   established_frames(args.conns, args.rounds))
    if "newflows" in only:
        write_pcap(os.path.join(args.outdir, "newflows.pcap"),
                   newflow_frames(args.new_flows))
    if "l7_established" in only:
        write_pcap(os.path.join(args.outdir, "l7_established.pcap"),
                   l7_established_frames(args.l7_conns, args.l7_rounds))
    if "l7_newflows" in only:
        write_pcap(os.path.join(args.outdir, "l7_newflows.pcap"),
                   l7_newflow_frames(args.l7_new_flows))
    if "est_once" in only:
        write_pcap(os.path.join(args.outdir, "est_once.pcap"),
                   est_once_frames(args.once_conns, args.once_rounds))
    if "synflood" in only:
        write_pcap(os.path.join(args.outdir, "synflood.pcap"),
                   est_once_frames(args.once_conns, args.once_rounds,
                                   True))
    if "established2way" in only:
        write_pcap(os.path.join(args.outdir, "established2way.pcap"),
                   established2way_frames(args.way_conns, args.way_rounds,
                                          SEED + 13))
    if "established2way_1m" in only:
        write_pcap(os.path.join(args.outdir, "established2way_1m.pcap"),
                   established2way_frames(args.way_1m_conns,
                                          args.way_1m_rounds, SEED + 17))
    return 0


if __name__ == "__main__":
    sys.exit(main())
