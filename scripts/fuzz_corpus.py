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

and the dictionaries conf.dict (every quoted word of lib/conf/mg_conf.c,
libconfig's syntax) and l7.dict (HTTP and TLS tokens). Frames come from
the pcaps' bytes: no scapy needed here.
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


def conf_dict(path):
    words = {"=", ";", ":", ",", "{", "}", "(", ")", "[", "]", "@include",
             "true", "false", "0x", "L", "#", "//", "/*", "*/", "1e9",
             "-1", "4294967296", "65536", "/", "::",
             "[::1]:", "255.255.255.255", "0.0.0.0/0", "::/0"}
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


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    pcapdir, outdir = argv[1], argv[2]
    pkt, neigh, dec, l7, conf = (Out(outdir, t) for t in
                                 ("pkt", "neigh", "decision", "l7", "conf"))

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

    with open(os.path.join(outdir, "conf.dict"), "w") as f:
        f.write(conf_dict(os.path.join(ROOT, "lib/conf/mg_conf.c")))
    with open(os.path.join(outdir, "l7.dict"), "w") as f:
        f.write(l7_dict())
    for o in (pkt, neigh, dec, l7, conf):
        print("%s: %d seeds" % (os.path.basename(o.dir), len(o)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
