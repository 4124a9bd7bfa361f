#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Seed corpora and dictionaries for the libFuzzer targets of tests/fuzz,
from the project's own captures and configs.

    fuzz_corpus.py PCAPDIR OUTDIR

PCAPDIR holds the captures of scripts/gen_pcaps.py, gen_mesh_pcaps.py and
gen_l7_pcaps.py, each in a folder of its own (base/, mesh/, l7/: two of
them write a main.pcap). OUTDIR gets one folder of seeds per target, in
the input format its harness documents:

pkt/       every distinct frame behind a 28-byte header (no NIC flags;
           NAT to a backend address and port of the frame's family), and
           a few with NIC checksum verdicts and a stripped VLAN tag
neigh/     the ARP, ICMP and ICMPv6 frames behind a 1-byte header, with
           and without tailroom
decision/  frames as records (4-byte header each): every TCP or UDP
           conversation of a capture in order, and every capture in
           windows of consecutive frames (ARP, ND, replies, resets)
l7/        the client byte streams of the layer-7 captures (each segment
           alone and a connection's segments joined), behind the cut byte
conf/      every config of the repository and every driver profile
esp/       ESP of tests/fuzz/fuzz_esp.c's peers and keys, encrypted by
           scapy's SecurityAssociation (raw mode: IPv4, IPv6 with ESN,
           UDP encapsulation, VLAN tags, sequence numbers across a block
           of 64), frames that are not ESP for it, and encrypt-mode
           headers (every SA, sequence-number kind, plaintext built or
           given, mutations)

and the dictionaries conf.dict (every quoted word of lib/conf's .c files,
libconfig's syntax) and l7.dict (HTTP and TLS tokens). Frames come from
the pcaps' bytes: scapy only for ESP.
"""

import hashlib
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PKT_HDR = 28
DECISION_MAX = 8192     # bytes per decision seed (its -max_len)
WINDOW = 16             # frames per window of a capture
PER_PCAP = 400          # pkt seeds taken from one capture at most

ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
VLANS = (0x8100, 0x88A8, 0x9100)
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
EXT6 = (0, 43, 60, 51)

# NIC byte of pkt and decision inputs: IP verdict bits 0-1, L4 2-3 (0
# unknown, 1 bad, 2 good, 3 none), 4 VLAN stripped.
NIC_GOOD = 2 | 2 << 2
NIC_BAD_L4 = 1 << 2
NIC_VLAN = 0x10


def read_pcap(path):
    """Frames of a classic pcap file (either byte order)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("%s: not a pcap file" % path)
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def l3(frame):
    """(ethertype, offset of the L3 header) after any VLAN tags."""
    if len(frame) < 14:
        return None, 0
    off, etype = 14, struct.unpack("!H", frame[12:14])[0]
    while etype in VLANS and len(frame) >= off + 4:
        etype = struct.unpack("!H", frame[off + 2:off + 4])[0]
        off += 4
    return etype, off


def flow(frame):
    """(family, proto, conversation key) of a TCP/UDP/ICMP frame, else
    None; the key is the same both ways."""
    etype, off = l3(frame)
    if etype == ETH_IPV4 and len(frame) >= off + 20:
        ihl = (frame[off] & 15) * 4
        proto = frame[off + 9]
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        l4 = off + ihl
    elif etype == ETH_IPV6 and len(frame) >= off + 40:
        proto, l4 = frame[off + 6], off + 40
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        while proto in EXT6 and len(frame) >= l4 + 2:
            n = (frame[l4 + 1] + 2) * 4 if proto == 51 else \
                (frame[l4 + 1] + 1) * 8
            proto, l4 = frame[l4], l4 + n
    else:
        return None
    family = 4 if etype == ETH_IPV4 else 6
    ports = frame[l4:l4 + 4] if proto in (TCP, UDP) else b""
    a, b = (src, ports[:2]), (dst, ports[2:])
    return family, proto, (proto,) + tuple(sorted((a, b))), l4


def tcp_payload(frame):
    """(key, dport, seq, payload) of a TCP segment with data, else None."""
    f = flow(frame)
    if f is None or f[1] != TCP:
        return None
    l4 = f[3]
    if len(frame) < l4 + 20:
        return None
    etype, off = l3(frame)
    if etype == ETH_IPV4:
        end = off + struct.unpack("!H", frame[off + 2:off + 4])[0]
    else:
        end = off + 40 + struct.unpack("!H", frame[off + 4:off + 6])[0]
    doff = (frame[l4 + 12] >> 4) * 4
    dport = struct.unpack("!H", frame[l4 + 2:l4 + 4])[0]
    seq = struct.unpack("!I", frame[l4 + 4:l4 + 8])[0]
    return f[2], dport, seq, frame[l4 + doff:end]


class Out:
    """One folder of seeds, named by their hash, duplicates dropped."""

    def __init__(self, outdir, target):
        self.dir = os.path.join(outdir, target)
        os.makedirs(self.dir, exist_ok=True)
        self.seen = set()

    def add(self, data):
        h = hashlib.sha1(data).hexdigest()
        if h in self.seen:
            return
        self.seen.add(h)
        with open(os.path.join(self.dir, h), "wb") as f:
            f.write(data)

    def __len__(self):
        return len(self.seen)


def pkt_header(nic, family, nat_dst=True, reply=True):
    addr = bytes([198, 18, 2, 21]) + bytes(12) if family != 6 else \
        bytes.fromhex("20010db8000200000000000000000021")
    flags = (1 if nat_dst else 0) | (2 if reply else 0)
    return bytes([nic, flags]) + struct.pack("!H", 8080) + addr + \
        struct.pack("!II", 1000, 2000)


def record(frame, nic=0, ctl=0):
    return struct.pack("!HBB", len(frame), nic, ctl) + frame


def decision_seed(out, frames):
    """Frames as records; cut where DECISION_MAX would be passed."""
    data = b""
    for fr in frames:
        rec = record(fr)
        if data and len(data) + len(rec) > DECISION_MAX:
            out.add(data)
            data = b""
        data += rec[:DECISION_MAX]
    if data:
        out.add(data)


def pcaps(pcapdir):
    for sub in sorted(os.listdir(pcapdir)):
        folder = os.path.join(pcapdir, sub)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith(".pcap"):
                yield sub, name, read_pcap(os.path.join(folder, name))


def conf_dict(paths):
    words = {"=", ";", ":", ",", "{", "}", "(", ")", "[", "]", "@include",
             "true", "false", "0x", "L", "#", "//", "/*", "*/", "1e9",
             "-1", "4294967296", "65536", "/", "::",
             "[::1]:", "255.255.255.255", "0.0.0.0/0", "::/0"}
    for path in paths:
        with open(path) as f:
            for w in re.findall(r'"([A-Za-z0-9_:./-]{1,40})"', f.read()):
                words.add(w)
    return "".join('"%s"\n' % w for w in sorted(words))


L7_TOKENS = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", " ",
    "HTTP/1.1", "HTTP/1.0", "HTTP/2", "\r\n", "\r\n\r\n", "Host:",
    "Content-Length:", "Transfer-Encoding:", "chunked", "Upgrade:",
    "Connection:", "x-env:", "/api/", "/admin", "/v2/", "%2f", "%2e",
    "..", "//", "?", "#", "0\r\n\r\n", "\x16\x03\x01", "\x16\x03\x03",
    "\x01\x00", "\x00\x00", "\x0a\x0a", "api.example", "admin.example",
    "shop.example",
]


def l7_dict():
    def esc(t):
        return "".join(c if 32 <= ord(c) < 127 and c not in '"\\'
                       else "\\x%02x" % ord(c) for c in t)
    return "".join('"%s"\n' % esc(t) for t in L7_TOKENS)


# fuzz_esp.c's SAs: SPI, key and salt (hex), outer source and
# destination, UDP-encapsulated, ESN, peer MAC, an inner source behind it.
ESP_SAS = [
    (0x1001, "000102030405060708090a0b0c0d0e0f10111213",
     "198.18.0.2", "198.18.0.1", False, False, "02:00:00:00:00:02",
     "198.18.50.7", "2001:db8:50::7"),
    (0x1011, "101112131415161718191a1b1c1d1e1f20212223",
     "198.18.0.2", "198.18.0.1", False, False, "02:00:00:00:00:02",
     "198.18.50.7", "2001:db8:50::7"),
    (0x1002, "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d"
     "3e3f40414243", "198.18.0.3", "198.18.0.1", True, False,
     "02:00:00:00:00:03", "198.18.51.7", "2001:db8:51::7"),
    (0x1003, "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d"
     "7e7f80818283", "2001:db8::3", "2001:db8::1", False, True,
     "02:00:00:00:00:04", "198.18.52.7", "2001:db8:52::7"),
]
ESP_GW_MAC = "02:70:63:61:70:00"


def esp_seeds(out):
    """fuzz_esp.c's seeds (its header comment has the format)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.ipsec import ESP, SecurityAssociation
    from scapy.layers.l2 import Dot1Q, Ether

    for i, (spi, key, src, dst, udp, esn, mac, in4, in6) in \
            enumerate(ESP_SAS):
        v6 = ":" in src
        tun = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
        nat = UDP(sport=4500, dport=4500) if udp else None
        for high in ((0, 1) if esn else (0,)):
            sa = SecurityAssociation(
                ESP, spi=spi, crypt_algo="AES-GCM",
                crypt_key=bytes.fromhex(key), tunnel_header=tun,
                nat_t_header=nat, esn_en=esn, esn=high)
            for n, seq in enumerate((1, 2, 31, 32, 33, 63, 64, 65, 100,
                                     129, 1000)):
                inner = (IPv6(src=in6, dst="2001:db8:ff::10")
                         if n % 3 == 2 else
                         IP(src=in4, dst="198.19.0.10")) / \
                    UDP(sport=40000, dport=80) / (b"seed %d" % seq)
                l2 = Ether(src=mac, dst=ESP_GW_MAC)
                if n % 4 == 3:
                    l2 = l2 / Dot1Q(vlan=100)
                enc = sa.encrypt(inner, seq_num=seq)
                if udp:
                    # scapy sized the UDP header before the ESP went in;
                    # over IPv4 no checksum (RFC 3948)
                    enc[UDP].len = 8 + len(enc[UDP].payload)
                    enc[UDP].chksum = 0
                fr = bytes(l2 / enc)
                out.add(b"\x00" + fr)
                if n % 2 == 0:
                    out.add(b"\x20" + fr)
                if n == 0:
                    out.add(b"\x00" + fr + bytes(6))  # Ethernet padding
    # not ESP for the set: a NAT keepalive, IKE's non-ESP marker, clear
    # traffic from a peer's prefix, ESP to another address, an unknown
    # SPI, a fragment
    eth = Ether(src="02:00:00:00:00:03", dst=ESP_GW_MAC)
    for fr in (
            eth / IP(src="198.18.0.3", dst="198.18.0.1") /
            UDP(sport=4500, dport=4500) / b"\xff",
            eth / IP(src="198.18.0.3", dst="198.18.0.1") /
            UDP(sport=4500, dport=4500) / (bytes(4) + b"ike" * 10),
            eth / IP(src="198.18.50.7", dst="198.19.0.10") /
            UDP(sport=40000, dport=80) / b"clear",
            eth / IP(src="198.18.0.2", dst="198.18.0.9", proto=50) /
            (struct.pack("!II", 0x1001, 1) + bytes(48)),
            eth / IP(src="198.18.0.2", dst="198.18.0.1", proto=50) /
            (struct.pack("!II", 0x7777, 1) + bytes(48)),
            eth / IP(src="198.18.0.2", dst="198.18.0.1", proto=50,
                     flags="MF") / (struct.pack("!II", 0x1001, 1) +
                                    bytes(48))):
        out.add(b"\x00" + bytes(fr))
    # encrypt mode: [0] mode, SA, kind, flags; [1..8] value; [9] layout
    values = {0: (1, 100, 0xffffffff, 0x100000005), 1: (1, 0xffff, 0xffc1,
                                                       64),
              2: (0,), 3: (0, 1, 0xff)}
    for sa in range(4):
        for kind, vals in values.items():
            for v in vals:
                for flags, layout in ((0x00, 0x00), (0x20, 0x01),
                                      (0x20, 0x06), (0x00, 0x1a),
                                      (0x00, 0xe0)):
                    out.add(bytes([0x80 | flags | kind << 2 | sa]) +
                            struct.pack("!Q", v) + bytes([layout]) +
                            b"payload %d" % v)
        # a plaintext of its own: IPv4/UDP padded right, pad wrong,
        # next header IPv6, not IP, too short, not a multiple of 4
        ip = bytes(IP(src=ESP_SAS[sa][7], dst="198.19.0.10") /
                   UDP(sport=40000, dport=80) / b"own")
        pad = (4 - (len(ip) + 2) % 4) % 4
        good = ip + bytes(range(1, pad + 1)) + bytes([pad, 4])
        for pt in (good, ip + bytes([2] * pad) + bytes([pad, 4])
                   if pad else ip + b"\x02\x01\x01\x04",
                   good[:-1] + b"\x29", b"\x00" + good[1:],
                   good[:20], good + b"\x00"):
            out.add(bytes([0x90 | sa]) + struct.pack("!Q", 7) + b"\x00" +
                    pt)
        # mutated: in the SPI, the sequence number, the IV, the ICV
        for at in (1, 6, 12, 0xffff):
            out.add(bytes([0xc0 | sa]) + struct.pack("!Q", 9) + b"\x00" +
                    bytes([1]) + struct.pack("!HB", at, 0x40) + b"mut")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    pcapdir, outdir = argv[1], argv[2]
    pkt, neigh, dec, l7, conf, esp = (
        Out(outdir, t) for t in
        ("pkt", "neigh", "decision", "l7", "conf", "esp"))

    for sub, name, frames in pcaps(pcapdir):
        taken = 0
        for i, fr in enumerate(frames):
            f = flow(fr)
            etype, _ = l3(fr)
            if taken < PER_PCAP:
                n = len(pkt)
                pkt.add(pkt_header(0, f[0] if f else 4) + fr)
                if len(pkt) != n:
                    taken += 1
                    if taken % 16 == 1:
                        fam = f[0] if f else 4
                        for nic in (NIC_GOOD, NIC_BAD_L4, NIC_VLAN):
                            pkt.add(pkt_header(nic, fam, i & 1 == 0,
                                               i & 2 == 0) + fr)
            if etype == ETH_ARP or (f and f[1] in (ICMP, ICMP6)):
                neigh.add(b"\x00" + fr)
                neigh.add(b"\x10" + fr)
        # decision: conversations, then windows (a full-table capture
        # only in part: its 1100 SYNs say one thing)
        if name == "table_full.pcap":
            frames = frames[:WINDOW * 4]
        convs = {}
        for fr in frames:
            f = flow(fr)
            if f is not None and f[1] in (TCP, UDP):
                convs.setdefault(f[2], []).append(fr)
        for conv in convs.values():
            decision_seed(dec, conv)
        for i in range(0, len(frames), WINDOW):
            decision_seed(dec, frames[i:i + WINDOW])
        # l7: what clients send to port 80 or 443, by connection
        if sub == "l7":
            streams = {}
            for fr in frames:
                t = tcp_payload(fr)
                if t is None or t[1] not in (80, 443) or not t[3]:
                    continue
                l7.add(b"\x00" + t[3])
                streams.setdefault(t[0], {})[t[2]] = t[3]
            for segs in streams.values():
                data = b"".join(segs[k] for k in sorted(segs))
                l7.add(bytes([len(data) & 0xff]) + data[:4095])

    # l7: the hand-written seeds scripts/fuzz.sh always had
    l7.add(b"\x07GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
    l7.add(b"\x11POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
           b"\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")
    l7.add(b"\x03\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03" + b"r" * 32 +
           b"\x00\x00\x02\x13\x01\x01\x00\x00\x00")

    for folder in ("tests/configs", "tests/fuzz", "app/meshgate",
                   "drivers-conf"):
        d = os.path.join(ROOT, folder)
        for name in sorted(os.listdir(d)):
            if name.endswith(".conf"):
                with open(os.path.join(d, name), "rb") as f:
                    conf.add(f.read())

    esp_seeds(esp)

    with open(os.path.join(outdir, "conf.dict"), "w") as f:
        d = os.path.join(ROOT, "lib/conf")
        f.write(conf_dict([os.path.join(d, name)
                           for name in sorted(os.listdir(d))
                           if name.endswith(".c")]))
    with open(os.path.join(outdir, "l7.dict"), "w") as f:
        f.write(l7_dict())
    for o in (pkt, neigh, dec, l7, conf, esp):
        print("%s: %d seeds" % (os.path.basename(o.dir), len(o)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
