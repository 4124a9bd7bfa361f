#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the deterministic service-mesh captures of scripts/bench.sh and
scripts/profile.sh.

    gen_bench_pcaps.py OUTDIR [--only established,newflows]
                       [--conns N] [--rounds R] [--new-flows N]

established.pcap  N connections (10,000) from allowed callers to the bench
                  service's VIP: first the N SYNs, then R rounds (9) of one
                  data segment per connection, each round in its own fixed
                  order. Replayed with infinite_rx, every loop after the
                  first is all flow-table hits; the first is R/(R+1) hits.
newflows.pcap     N distinct SYNs (200,000) to the same VIP: one new
                  connection per frame, replayed once.

Every frame is 60 bytes (64 on the wire): IPv4 + TCP, SYNs padded, data
segments carrying 6 bytes. Addresses, MACs and the service match
tests/configs/bench_mesh.conf and bench_newflows.conf: change them
together. Scapy builds one template frame per kind; the frames are that
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
VIP, VIP_PORT = "198.19.0.10", 80   # service "bench"

ETH_LEN, IP_LEN = 14, 20
IP_OFF, TCP_OFF = ETH_LEN, ETH_LEN + IP_LEN
SEED = 0x6d67               # "mg"


def tuple_of(i):
    """(source address as int, source port) of connection i: distinct for
    every i < hosts * 64,000."""
    hosts = CALLERS.num_addresses - 2
    src = int(CALLERS.network_address) + 1 + i % hosts
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
            IP(src=str(CALLERS.network_address + 1), dst=VIP, ttl=64,
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
    syn = Template("S", b"")
    data = Template("PA", b"mgbnch"[:DATA_LEN])
    tuples = [tuple_of(i) for i in range(conns)]
    frames = []
    for i, (src, sport) in enumerate(tuples):
        frames.append(syn.build(src, sport, isn(i), 0, len(frames) & 0xFFFF))
    rng = random.Random(SEED)
    order = list(range(conns))
    for r in range(rounds):
        # Each round in its own order: flow entries are allocated in SYN
        # order, and a replay in that order would walk memory linearly.
        rng.shuffle(order)
        for i in order:
            src, sport = tuples[i]
            seq = (isn(i) + 1 + r * DATA_LEN) & 0xFFFFFFFF
            frames.append(data.build(src, sport, seq, 1,
                                     len(frames) & 0xFFFF))
    check(frames[:3] + frames[conns:conns + 3] + frames[-3:])
    return frames


def newflow_frames(n):
    syn = Template("S", b"")
    frames = []
    for i in range(n):
        src, sport = tuple_of(i)
        frames.append(syn.build(src, sport, isn(i), 0, i & 0xFFFF))
    check(frames[:3] + frames[-3:])
    return frames


def write_pcap(path, frames):
    """Classic pcap (Ethernet), frames 1 us apart; written to a temporary
    name first so a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
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
                    help="comma-separated subset of established,newflows")
    ap.add_argument("--conns", type=int, default=10000,
                    help="connections in established.pcap (10000)")
    ap.add_argument("--rounds", type=int, default=9,
                    help="data rounds after the SYNs (9)")
    ap.add_argument("--new-flows", type=int, default=200000,
                    help="SYNs in newflows.pcap (200000)")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    unknown = only - {"established", "newflows"}
    if unknown:
        ap.error("unknown capture(s): %s" % ", ".join(sorted(unknown)))
    limit = (CALLERS.num_addresses - 2) * 64000
    if not 1 <= args.conns <= limit or not 1 <= args.new_flows <= limit:
        ap.error("--conns and --new-flows must be in 1..%d" % limit)
    if not 0 <= args.rounds <= 1000:
        ap.error("--rounds must be in 0..1000")
    os.makedirs(args.outdir, exist_ok=True)

    if "established" in only:
        write_pcap(os.path.join(args.outdir, "established.pcap"),
                   established_frames(args.conns, args.rounds))
    if "newflows" in only:
        write_pcap(os.path.join(args.outdir, "newflows.pcap"),
                   newflow_frames(args.new_flows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
