#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the deterministic captures used by tests/py and scripts/bench.sh.

    gen_pcaps.py OUTDIR [--flows N] [--only sample,malformed,bench]

sample.pcap     a realistic mix of ~200 well-formed frames
malformed.pcap  one or more frames per parser drop reason, interleaved with
                good frames; malformed.json says what meshgate must do
bench.pcap      60-byte IPv4 frames, one per UDP/TCP flow

Every run writes the same bytes: fixed timestamps, fixed seeds, and only
documentation addresses (198.18.0.0/15, 2001:db8::/32).
"""

import argparse
import json
import os
import random
import sys

from scapy.all import (ARP, DNS, DNSQR, DNSRR, ICMP, IP, TCP, UDP, Dot1AD,
                       Dot1Q, Ether, ICMPv6EchoReply, ICMPv6EchoRequest,
                       IPOption_NOP, IPOption_Router_Alert, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw,
                       RawPcapWriter)

# Parser drop reasons that a pcap cannot produce: the two checksum reasons
# come only from NIC flags, tx_full only from a saturated TX queue,
# multi_seg from headers split across segments (net_pcap keeps 2 KB in
# the first), frag_table_full from more datagrams in reassembly at once
# than the table holds (tests/py/test_enforcement.py fills it).
UNREACHABLE = ("multi_seg", "ipv4_bad_cksum", "l4_bad_cksum", "tx_full",
               "frag_table_full")

BASE_TIME = 1700000000          # first frame's timestamp, seconds
MIN_FRAME = 60                  # Ethernet minimum without FCS

MAC_CLIENT = "02:00:00:00:00:01"
MAC_GW = "02:00:00:00:00:02"
MAC_SERVICE = "02:00:00:00:00:03"
BCAST = "ff:ff:ff:ff:ff:ff"

V4_CLIENT = "198.18.0.10"
V4_SERVICE = "198.19.0.20"
V4_DNS = "198.19.0.53"
V6_CLIENT = "2001:db8:1::10"
V6_SERVICE = "2001:db8:2::20"

# Ethertypes and protocol numbers used to build deliberately broken frames.
ETH_IPV4, ETH_IPV6, ETH_QINQ = 0x0800, 0x86DD, 0x88A8


# ---------------------------------------------------------------- helpers

def eth(src=MAC_CLIENT, dst=MAC_GW, vlans=(), outer=0x8100, **kw):
    """Ethernet header with VLAN tags (outer first); `outer` is the TPID of
    the first tag, inner tags are always 802.1Q."""
    layer = Ether(src=src, dst=dst, **kw)
    for i, vid in enumerate(vlans):
        tag = Dot1AD(vlan=vid) if i == 0 and outer == ETH_QINQ else \
            Dot1Q(vlan=vid)
        layer = layer / tag
    return layer


def v4(src=V4_CLIENT, dst=V4_SERVICE, **kw):
    return IP(src=src, dst=dst, ttl=64, id=kw.pop("id", 1), **kw)


def v6(src=V6_CLIENT, dst=V6_SERVICE, **kw):
    return IPv6(src=src, dst=dst, hlim=64, **kw)


def pad(frame, size=MIN_FRAME):
    """Bytes of `frame`, zero-padded to `size` as a NIC would on the wire."""
    data = bytes(frame)
    return data + b"\0" * (size - len(data)) if len(data) < size else data


def raw(frame):
    """Bytes of `frame` exactly as built: no padding (runts, truncations)."""
    return bytes(frame)


def patch(data, offset, new):
    """`data` with `new` written at `offset` (for fields scapy would fix)."""
    return data[:offset] + bytes(new) + data[offset + len(new):]


def payload(tag, size=0):
    """Distinct, printable payload so frames can be told apart."""
    text = tag.encode()
    return Raw(text + b"." * max(0, size - len(text)))


def write_pcap(path, frames):
    """Write raw frames with fixed timestamps 1 ms apart (Ethernet)."""
    writer = RawPcapWriter(path, linktype=1, sync=False)
    writer.write_header(None)
    for i, data in enumerate(frames):
        usec = i * 1000
        writer.write_packet(data, sec=BASE_TIME + usec // 1000000,
                            usec=usec % 1000000)
    writer.close()


# ------------------------------------------------------------- sample mix

def tcp_session(l2, l3, sport, dport, request, response, isn=1000):
    """A complete TCP exchange: handshake, one request, one response, FIN
    from both ends. `l2`/`l3` build the headers for a given direction:
    l2(reverse) and l3(reverse)."""
    c, s = isn, isn * 7 + 1
    req, rsp = request.encode(), response.encode()
    segs = [  # (reverse?, flags, seq, ack, data)
        (False, "S", c, 0, b""),
        (True, "SA", s, c + 1, b""),
        (False, "A", c + 1, s + 1, b""),
        (False, "PA", c + 1, s + 1, req),
        (True, "A", s + 1, c + 1 + len(req), b""),
        (True, "PA", s + 1, c + 1 + len(req), rsp),
        (False, "A", c + 1 + len(req), s + 1 + len(rsp), b""),
        (False, "FA", c + 1 + len(req), s + 1 + len(rsp), b""),
        (True, "FA", s + 1 + len(rsp), c + 2 + len(req), b""),
        (False, "A", c + 2 + len(req), s + 2 + len(rsp), b""),
    ]
    frames = []
    for rev, flags, seq, ack, data in segs:
        sp, dp = (dport, sport) if rev else (sport, dport)
        seg = TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack,
                  window=64240)
        if data:
            seg = seg / Raw(data)
        frames.append(pad(l2(rev) / l3(rev) / seg))
    return frames


def dir_v4(src, dst, **ipkw):
    return lambda rev: v4(dst, src, **ipkw) if rev else v4(src, dst, **ipkw)


def dir_v6(src, dst, *exts):
    return lambda rev: chain(v6(dst, src) if rev else v6(src, dst),
                             [ext.copy() for ext in exts])


def dir_eth(vlans=(), outer=0x8100):
    return lambda rev: eth(MAC_GW, MAC_CLIENT, vlans, outer) if rev else \
        eth(MAC_CLIENT, MAC_GW, vlans, outer)


def http(n):
    return ("GET /api/v1/item/%d HTTP/1.1\r\n"
            "Host: svc.mesh.example\r\n\r\n" % n,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def udp_pair(l2, l3, sport, dport, request, response):
    return [pad(l2(False) / l3(False) / UDP(sport=sport, dport=dport) /
                request),
            pad(l2(True) / l3(True) / UDP(sport=dport, dport=sport) /
                response)]


def dns_pair(l2, l3, sport, qid, name):
    query = DNS(id=qid, rd=1, qd=DNSQR(qname=name))
    answer = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name),
                 an=DNSRR(rrname=name, ttl=30,
                          rdata="198.19.1.%d" % (qid % 250)))
    return udp_pair(l2, l3, sport, 53, query, answer)


def echo_pair(l2, n):
    return [pad(l2(False) / v4() / ICMP(type=8, id=0x4d47, seq=n) /
                payload("ping-%d" % n, 32)),
            pad(l2(True) / v4(V4_SERVICE, V4_CLIENT) /
                ICMP(type=0, id=0x4d47, seq=n) / payload("ping-%d" % n, 32))]


def echo6_pair(l2, n):
    return [pad(l2(False) / v6() / ICMPv6EchoRequest(id=0x4d47, seq=n,
                                                       data=b"ping6-%d" % n)),
            pad(l2(True) / v6(V6_SERVICE, V6_CLIENT) /
                ICMPv6EchoReply(id=0x4d47, seq=n, data=b"ping6-%d" % n))]


def arp_pair(n):
    ip = "198.18.0.%d" % (100 + n)
    return [pad(Ether(src=MAC_CLIENT, dst=BCAST) /
                ARP(op=1, hwsrc=MAC_CLIENT, psrc=V4_CLIENT, pdst=ip)),
            pad(Ether(src=MAC_SERVICE, dst=MAC_CLIENT) /
                ARP(op=2, hwsrc=MAC_SERVICE, psrc=ip, hwdst=MAC_CLIENT,
                    pdst=V4_CLIENT))]


def ipv4_options():
    """IPv4 options that a strict TLV walk must accept."""
    return [IPOption_Router_Alert(),
            b"\x01\x01\x01\x00",                    # NOP NOP NOP EOL
            b"\x07\x07\x04" + b"\0" * 4 + b"\0"]      # record route + EOL


def chain(pkt, layers):
    """`pkt` with `layers` stacked on in order."""
    for layer in layers:
        pkt = pkt / layer
    return pkt


def v6_exts(n):
    """n IPv6 extension headers (walked kinds only), final one last."""
    kinds = [IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(),
             IPv6ExtHdrRouting(type=0, addresses=[]), IPv6ExtHdrDestOpt(),
             IPv6ExtHdrDestOpt()]
    return kinds[:n]


def sample_frames():
    rng = random.Random(20260101)
    l2 = dir_eth()
    streams = []
    for n in range(6):                                  # IPv4 HTTP-like
        req, rsp = http(n)
        streams.append(tcp_session(l2, dir_v4(V4_CLIENT, V4_SERVICE),
                                   40000 + n, 80, req, rsp, 1000 + n))
    for n in range(3):                                  # IPv6 HTTP-like
        req, rsp = http(100 + n)
        streams.append(tcp_session(l2, dir_v6(V6_CLIENT, V6_SERVICE),
                                   41000 + n, 8080, req, rsp, 5000 + n))
    req, rsp = http(200)                                # 802.1Q tagged
    streams.append(tcp_session(dir_eth((10,)), dir_v4(V4_CLIENT, V4_SERVICE),
                               42000, 80, req, rsp, 9000))
    req, rsp = http(201)                                # QinQ, two tags
    streams.append(tcp_session(dir_eth((100, 20), ETH_QINQ),
                               dir_v4(V4_CLIENT, V4_SERVICE),
                               42001, 80, req, rsp, 9100))
    req, rsp = http(202)                                # IPv6 + 2 exts
    streams.append(tcp_session(l2, dir_v6(V6_CLIENT, V6_SERVICE,
                                          *v6_exts(2)),
                               42002, 8080, req, rsp, 9200))
    for n in range(12):                                 # DNS over UDP
        streams.append(dns_pair(l2, dir_v4(V4_CLIENT, V4_DNS),
                                53000 + n, 0x100 + n,
                                "svc-%d.mesh.example." % n))
    for n in range(4):                                  # DNS over UDP/IPv6
        streams.append(dns_pair(l2, dir_v6(V6_CLIENT, "2001:db8:2::53"),
                                54000 + n, 0x200 + n,
                                "svc6-%d.mesh.example." % n))
    for n in range(3):                                  # UDP, two tags
        streams.append(udp_pair(dir_eth((30 + n,)), dir_v4(V4_CLIENT,
                                                            V4_SERVICE),
                                55000 + n, 5000, payload("vlan-%d" % n, 20),
                                payload("vlan-ack-%d" % n, 20)))
        streams.append(udp_pair(dir_eth((200, 40 + n), ETH_QINQ),
                                dir_v4(V4_CLIENT, V4_SERVICE), 55100 + n,
                                5000, payload("qinq-%d" % n, 20),
                                payload("qinq-ack-%d" % n, 20)))
    for n in range(8):
        streams.append(echo_pair(l2, n))
    for n in range(4):
        streams.append(echo6_pair(l2, n))
    for n in range(4):
        streams.append(arp_pair(n))
    for n, opts in enumerate(ipv4_options()):           # IPv4 options
        streams.append(udp_pair(l2, dir_v4(V4_CLIENT, V4_SERVICE,
                                           options=opts),
                                56000 + n, 5001, payload("opt-%d" % n, 24),
                                payload("opt-ack-%d" % n, 24)))
    for n in range(3):                                  # IPv6 + 2 exts, UDP
        streams.append(udp_pair(l2, dir_v6(V6_CLIENT, V6_SERVICE,
                                           *v6_exts(2)),
                                57000 + n, 5002, payload("ext-%d" % n, 16),
                                payload("ext-ack-%d" % n, 16)))

    # Interleave the streams as concurrent conversations would be, keeping
    # each stream's own order.
    frames = []
    while streams:
        s = streams[rng.randrange(len(streams))]
        frames.append(s.pop(0))
        if not s:
            streams.remove(s)
    return frames


# ------------------------------------------------------- malformed corpus

def udp4(tag, **ipkw):
    return eth() / v4(**ipkw) / UDP(sport=40053, dport=5000) / payload(tag, 18)


def udp6(tag):
    return eth() / v6() / UDP(sport=40053, dport=5000) / payload(tag, 18)


def arp_req():
    return pad(Ether(src=MAC_CLIENT, dst=BCAST) /
               ARP(op=1, hwsrc=MAC_CLIENT, psrc=V4_CLIENT, pdst=V4_SERVICE))


L3 = 14                          # offset of the L3 header without VLANs
L4 = L3 + 20                     # offset of L4 after a plain IPv4 header


def bad_frames():
    """(reason, what, bytes) for every drop reason a pcap can produce."""
    u4 = raw(udp4("base"))       # 60-byte IPv4/UDP, the usual victim
    return [
        ("runt", "10-byte frame", u4[:10]),
        ("runt", "13-byte frame", u4[:13]),
        ("vlan_truncated", "802.1Q tag cut after 2 bytes",
         raw(Ether(src=MAC_CLIENT, dst=MAC_GW, type=0x8100) / Raw(b"\0\x0a"))),
        ("vlan_truncated", "QinQ inner tag cut after 2 bytes",
         raw(Ether(src=MAC_CLIENT, dst=MAC_GW, type=ETH_QINQ) /
             Raw(b"\0\x64\x81\x00\0\x0a"))),
        ("vlan_too_many", "three VLAN tags",
         pad(eth(vlans=(100, 20, 30), outer=ETH_QINQ) / v4() /
             UDP(sport=1, dport=2) / payload("3tags", 8))),
        ("ethertype_unknown", "ethertype 0x88b5",
         pad(Ether(src=MAC_CLIENT, dst=MAC_GW, type=0x88B5) /
             payload("local-experimental"))),
        ("ethertype_unknown", "MPLS inside one VLAN tag",
         pad(Ether(src=MAC_CLIENT, dst=MAC_GW) / Dot1Q(vlan=7, type=0x8847) /
             Raw(b"\0\x01\x01\x40" + b"\0" * 30))),
        ("arp_malformed", "ARP cut to 20 bytes", arp_req()[:L3 + 20]),
        ("arp_malformed", "ARP for IPv6 protocol type",
         patch(arp_req(), L3 + 2, b"\x86\xdd")),
        ("arp_malformed", "ARP with hardware type 6",
         patch(arp_req(), L3, b"\x00\x06")),
        ("ipv4_truncated", "10 bytes of IPv4",
         raw(Ether(src=MAC_CLIENT, dst=MAC_GW, type=ETH_IPV4) /
             Raw(u4[L3:L3 + 10]))),
        ("ipv4_truncated", "19 bytes of IPv4",
         raw(Ether(src=MAC_CLIENT, dst=MAC_GW, type=ETH_IPV4) /
             Raw(u4[L3:L3 + 19]))),
        ("ipv4_bad_version", "version 5", patch(u4, L3, b"\x55")),
        ("ipv4_bad_version", "version 6 behind ethertype IPv4",
         patch(u4, L3, b"\x65")),
        ("ipv4_bad_ihl", "IHL 4", patch(u4, L3, b"\x44")),
        ("ipv4_bad_ihl", "IHL 0", patch(u4, L3, b"\x40")),
        ("ipv4_bad_options", "timestamp option longer than the header",
         patch(raw(udp4("opt-ts", options=[IPOption_NOP()] * 4)), L4,
               b"\x44\x08\x05\x00")),
        ("ipv4_bad_options", "option type in the last byte, no length",
         patch(raw(udp4("opt-cut", options=[IPOption_NOP()] * 4)), L4,
               b"\x01\x01\x01\x07")),
        ("ipv4_bad_length", "total length 200 in a 60-byte frame",
         raw(udp4("len200", len=200))),
        ("ipv4_fragment", "first fragment of 26 bytes, not a multiple "
         "of 8", raw(udp4("mf", flags="MF"))),
        ("frag_timeout", "later fragment (offset 185), never completed",
         raw(udp4("off", frag=185, id=2))),
        ("frag_too_big", "fragment ending past 65,535 bytes",
         raw(eth() / v4(frag=8189, id=3, proto=17) / payload("big", 48))),
        ("frag_first_short", "first fragment with 16 of 20 bytes of TCP",
         raw(eth() / v4(flags="MF", id=4, proto=6) /
             Raw(raw(TCP(sport=1, dport=2))[:16]))),
        ("ipv6_truncated", "30 bytes of IPv6",
         raw(Ether(src=MAC_CLIENT, dst=MAC_GW, type=ETH_IPV6) /
             Raw(raw(udp6("t"))[L3:L3 + 30]))),
        ("ipv6_bad_version", "version 4 behind ethertype IPv6",
         patch(raw(udp6("v4in6")), L3, b"\x40")),
        ("ipv6_bad_length", "payload length 200, 26 present",
         raw(eth() / v6(plen=200) / UDP(sport=1, dport=2) /
             payload("plen200", 18))),
        ("ipv6_ext_truncated", "hop-by-hop claims 24 bytes, payload has 8",
         raw(eth() / v6(nh=0, plen=8) /
             Raw(b"\x11\x02\x01\x04\0\0\0\0"))),
        ("ipv6_ext_truncated", "4 bytes of destination options (padded)",
         pad(eth() / v6(nh=60, plen=4) / Raw(b"\x11\x00\x01\x00"))),
        ("ipv6_ext_chain", "five extension headers",
         raw(chain(eth() / v6(), v6_exts(5)) / UDP(sport=1, dport=2) /
             payload("chain5", 8))),
        ("ipv6_fragment", "first fragment of 20 bytes, not a multiple "
         "of 8", raw(eth() / v6() / IPv6ExtHdrFragment(m=1, id=7) /
                     UDP(sport=1, dport=2) / payload("frag6", 12))),
        ("ipv6_fragment", "fragment header behind hop-by-hop",
         raw(eth() / v6() / IPv6ExtHdrHopByHop() /
             IPv6ExtHdrFragment(m=1, offset=0, id=8) /
             UDP(sport=1, dport=2) / payload("frag6hbh", 8))),
        ("frag_timeout", "IPv6 first fragment, never completed",
         raw(eth() / v6() / IPv6ExtHdrFragment(m=1, id=9) /
             UDP(sport=1, dport=2) / payload("frag6", 8))),
        ("frag_too_big", "IPv6 fragment ending past 65,535 bytes",
         raw(eth() / v6() / IPv6ExtHdrFragment(m=0, offset=8190, id=10,
                                                nh=17) /
             payload("big6", 24))),
        ("frag_first_short", "IPv6 first fragment with 4 bytes of UDP",
         raw(eth() / v6() / IPv6ExtHdrFragment(m=1, id=11, nh=17) /
             Raw(b"\x00\x01\x00\x02"))),
        ("tcp_truncated", "10 bytes of TCP in a padded IPv4 frame",
         pad(eth() / v4(proto=6) / Raw(raw(TCP(sport=1, dport=2))[:10]))),
        ("tcp_truncated", "12 bytes of TCP in IPv6",
         pad(eth() / v6(nh=6) / Raw(raw(TCP(sport=1, dport=2))[:12]))),
        ("tcp_bad_doff", "data offset 4",
         pad(eth() / v4() / TCP(sport=1, dport=2, dataofs=4))),
        ("tcp_bad_doff", "data offset 8 in a 24-byte segment",
         pad(eth() / v4() / TCP(sport=1, dport=2, dataofs=8) /
             Raw(b"abcd"))),
        ("udp_truncated", "4 bytes of UDP in a padded IPv4 frame",
         pad(eth() / v4(proto=17) / Raw(b"\x00\x01\x00\x02"))),
        ("udp_truncated", "6 bytes of UDP in IPv6",
         pad(eth() / v6(nh=17) / Raw(b"\x00\x01\x00\x02\x00\x06"))),
        ("udp_bad_length", "UDP length 20, IP payload 16",
         pad(eth() / v4() / UDP(sport=1, dport=2, len=20) / Raw(b"12345678"))),
        ("udp_bad_length", "UDP length 8, IP payload 16",
         pad(eth() / v4() / UDP(sport=1, dport=2, len=8) / Raw(b"12345678"))),
        ("udp_bad_length", "IPv6: UDP length 30, payload 16",
         pad(eth() / v6() / UDP(sport=1, dport=2, len=30) / Raw(b"12345678"))),
        ("icmp_truncated", "4 bytes of ICMP",
         pad(eth() / v4(proto=1) / Raw(b"\x08\x00\xf7\xff"))),
        ("icmp_truncated", "6 bytes of ICMPv6",
         pad(eth() / v6(nh=58) / Raw(b"\x80\x00\x7f\xff\x00\x00"))),
        ("l4_proto_unknown", "IPv4 GRE",
         pad(eth() / v4(proto=47) / Raw(b"\x00\x00\x08\x00"))),
        ("l4_proto_unknown", "IPv4 SCTP",
         pad(eth() / v4(proto=132) / Raw(b"\0" * 12))),
        ("l4_proto_unknown", "IPv6 no next header",
         pad(eth() / v6(nh=59))),
        ("l4_proto_unknown", "IPv6 hop-by-hop then no next header",
         pad(eth() / v6() / IPv6ExtHdrHopByHop(nh=59))),
    ]


def good_frames(n):
    """n distinct well-formed frames, many at an acceptance boundary."""
    kinds = [
        lambda i: pad(udp4("good-%d" % i)),
        lambda i: pad(eth() / v4() / TCP(sport=40000 + i, dport=80,
                                          flags="S", seq=i)),
        lambda i: pad(eth(vlans=(100, 20), outer=ETH_QINQ) / v4() /
                      UDP(sport=1000 + i, dport=53) / payload("qinq-%d" % i)),
        lambda i: pad(chain(eth() / v6(), v6_exts(4)) /
                      UDP(sport=1000 + i, dport=5000) /
                      payload("ext4-%d" % i)),
        lambda i: pad(eth() / v4(options=IPOption_Router_Alert()) /
                      ICMP(type=8, id=1, seq=i) / payload("ra-%d" % i)),
        lambda i: pad(eth() / v6() / ICMPv6EchoRequest(id=1, seq=i)),
        lambda i: pad(Ether(src=MAC_CLIENT, dst=BCAST) /
                      ARP(op=1, hwsrc=MAC_CLIENT, psrc=V4_CLIENT,
                          pdst="198.18.1.%d" % (i % 250))),
        lambda i: pad(eth() / v6() / TCP(sport=41000 + i, dport=443,
                                          flags="S", seq=i)),
        lambda i: raw(eth() / v4() / UDP(sport=2000 + i, dport=5000) /
                      payload("mtu-%d" % i, 1514 - 42)),   # MTU 1500
    ]
    return [kinds[i % len(kinds)](i) for i in range(n)]


def malformed_corpus():
    """Bad frames each followed by a good one; returns (frames, manifest)."""
    bad = bad_frames()
    good = iter(good_frames(len(bad) + 1))
    frames, detail, drops, good_idx = [], [], {}, []

    def add(verdict, what, data):
        detail.append({"index": len(frames), "verdict": verdict,
                       "len": len(data), "what": what})
        if verdict == "forward":
            good_idx.append(len(frames))
        else:
            drops[verdict] = drops.get(verdict, 0) + 1
        frames.append(data)

    add("forward", "good frame", next(good))
    for reason, what, data in bad:
        add(reason, what, data)
        add("forward", "good frame", next(good))
    manifest = {
        "frames": len(frames),
        "good": len(good_idx),
        "good_indices": good_idx,
        "drops": dict(sorted(drops.items())),
        "unreachable": list(UNREACHABLE),
        "detail": detail,
    }
    return frames, manifest


# ------------------------------------------------------------------ bench

def bench_frames(flows):
    """One 60-byte frame per flow, UDP and TCP alternating."""
    frames = []
    for i in range(flows):
        src = "198.18.%d.%d" % ((i >> 8) & 0xFF, i & 0xFF)
        dst = "198.19.%d.%d" % ((i >> 16) & 0xFF, 1 + (i % 200))
        sport = 1024 + (i % 60000)
        if i % 2 == 0:
            l4 = UDP(sport=sport, dport=53) / Raw(b"\0" * 18)
        else:
            l4 = TCP(sport=sport, dport=80, flags="A", seq=i, ack=1) / \
                Raw(b"\0" * 6)
        data = raw(eth() / v4(src, dst, id=i & 0xFFFF) / l4)
        assert len(data) == MIN_FRAME, len(data)
        frames.append(data)
    return frames


# ------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--flows", type=int, default=1024,
                    help="flows (= frames) in bench.pcap (default 1024)")
    ap.add_argument("--only", default="sample,malformed,bench",
                    help="comma-separated subset of sample,malformed,bench")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    unknown = only - {"sample", "malformed", "bench"}
    if unknown:
        ap.error("unknown capture(s): %s" % ", ".join(sorted(unknown)))
    if not 1 <= args.flows <= 1 << 20:
        ap.error("--flows must be in 1..%d" % (1 << 20))
    os.makedirs(args.outdir, exist_ok=True)
    out = lambda name: os.path.join(args.outdir, name)

    if "sample" in only:
        write_pcap(out("sample.pcap"), sample_frames())
    if "malformed" in only:
        frames, manifest = malformed_corpus()
        write_pcap(out("malformed.pcap"), frames)
        with open(out("malformed.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
    if "bench" in only:
        write_pcap(out("bench.pcap"), bench_frames(args.flows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
