#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the deterministic captures of the layer-7 replay tests and what
meshgate must do with every frame of them.

    gen_l7_pcaps.py OUTDIR

main.pcap     full TCP conversations (client SYN, backend SYN-ACK, client
              ACK, requests, responses) to an HTTP and a TLS service, as a
              one-arm gateway sees them on its one port, for
              tests/configs/l7_replay.conf;
pending.pcap  three connections whose request heads span segments at
              once, for tests/configs/l7_replay_pending.conf
              (l7.max_pending = 2);
after_reset.pcap, too_large.pcap
              segments without data after a deny, and a head and a
              ClientHello over l7.max_request_bytes in one segment (the
              same config as main);
normal_forms.pcap
              the forms a request or ClientHello is matched in (the same
              config): a query or ";params" after a denied path, a Host
              with port, trailing dot and capitals, no Host, a denied
              query, an h2c upgrade and an unknown one denied, a websocket
              upgrade allowed and opaque after its 101, Connection:
              Upgrade alone (never opaque, even after a 101), SNI with a
              trailing dot and capitals, a ClientHello without SNI denied
              and explicitly allowed;
strict.pcap   strict client segments on inspected connections (the same
              config): insertion attempts with a bad TCP or IPv4 header
              checksum or a stale TCP timestamp followed by other bytes at
              the same sequence number, IPv4 options, IPv6 extension
              headers, URG, TCP options outside the accepted set, no
              ACK or an ACK of bytes the backend never sent on client
              data, and what is still allowed (timestamps, SACK, NOPs,
              an older ACK; anything once a ClientHello has passed);
l7.json       per capture: the frames meshgate must forward (in order,
              with their bytes), the pair of resets it must send for each
              refused segment, the drop counters, the per-rule decisions
              and the connections it must admit.

The addresses, MACs, services and policies are those of
tests/configs/l7_replay*.conf: change both together. A capture cannot
react to meshgate's output, so the backend's answers sit in the capture
after the client's segments (meshgate handles a capture in order) and no
backend answers a request the gateway refuses.

Every run writes the same bytes: fixed timestamps, sequence numbers and
TLS randoms, and only documentation addresses (198.18.0.0/15,
2001:db8::/32). Before writing, every frame is parsed back with scapy
(lengths, checksums: wrong only where a scenario makes them so, on
purpose) and every conversation's sequence and acknowledgement numbers
are checked against a model of its byte streams.
"""

import argparse
import json
import os
import socket
import struct
import sys
from collections import Counter

from scapy.all import (IP, TCP, Ether, IPOption, IPOption_NOP,
                       IPOption_RR, IPv6, IPv6ExtHdrDestOpt, PadN, Raw, raw)
from scapy.layers.tls.all import TLS, TLSClientHello

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_mesh_pcaps import GW_MAC, deny_reset, ipl, write_pcap  # noqa: E402

# Callers: identity frontend (an allow rule with matchers) and batch (an
# L4 allow rule); UNK4 is covered by no identity.
CLI_MAC = "02:00:00:00:01:10"
FRONT4, FRONT6 = "198.18.1.10", "2001:db8:1::10"
BATCH_MAC = "02:00:00:00:04:10"
BATCH4, BATCH6 = "198.18.4.10", "2001:db8:4::10"
UNK_MAC, UNK4 = "02:00:00:00:05:05", "198.18.5.5"

# Services: shop (HTTP rules), secure (TLS rules), one backend per family
# with a static neighbour.
SHOP4, SHOP6, SHOP_PORT = "198.19.0.10", "2001:db8:100::10", 80
SHOP_MAC, SHOP_BE4, SHOP_BE6, SHOP_BE_PORT = \
    "02:00:00:00:02:21", "198.18.2.21", "2001:db8:2::21", 8080
SEC4, SEC6, SEC_PORT = "198.19.0.60", "2001:db8:100::60", 443
SEC_MAC, SEC_BE4, SEC_BE6, SEC_BE_PORT = \
    "02:00:00:00:02:23", "198.18.2.23", "2001:db8:2::23", 8443

MAX_REQUEST_BYTES = 1024        # l7.max_request_bytes of both configs
MAX_PENDING = 2                 # l7.max_pending of l7_replay_pending.conf

RULES = ("shop-no-admin", "shop-no-admin-host", "shop-no-debug", "shop-ws",
         "shop-api", "batch-shop", "audit-debug", "secure-no-admin",
         "secure-api", "batch-secure", "batch-no-sni", "default-deny")
DECISIONS = ("allow", "deny", "dry_run")

# a header that makes a head longer than l7.max_request_bytes
BIG_PAD = b"X-Pad: " + b"p" * (MAX_REQUEST_BYTES + 60) + b"\r\n"
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
M32 = 0xFFFFFFFF


# ------------------------------------------------------------- payloads

def http_request(path, method=b"GET", host=b"shop.example", headers=b"",
                 body=b""):
    return (b"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: l7-replay\r\n"
            b"Accept: */*\r\n%s\r\n%s" % (method, path, host, headers, body))


def chunked(*chunks):
    """A chunked body: the chunks, the last chunk and an empty trailer."""
    out = b""
    for c in chunks:
        out += b"%x\r\n%s\r\n" % (len(c), c)
    return out + b"0\r\n\r\n"


def u16(v):
    return struct.pack("!H", v)


def vec16(data):
    return u16(len(data)) + data


def client_hello(sni=None, grease=False, sni_list_extra=0, pad=0):
    """A TLS 1.3 ClientHello in one handshake record. sni: the host_name
    (None: no server_name extension); grease: GREASE values in the cipher
    suites, groups, versions and two GREASE extensions (RFC 8701);
    sni_list_extra: added to the server_name list length (a malformed
    hello when not 0); pad: bytes of a padding extension (RFC 7685)."""
    ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F]
    groups = [0x001D, 0x0017]
    versions = [0x0304, 0x0303]
    if grease:
        ciphers.insert(0, 0x2A2A)
        groups.insert(0, 0x3A3A)
        versions.insert(0, 0x4A4A)
    exts = []
    if grease:
        exts.append((0x0A0A, b""))
    if sni is not None:
        name = sni.encode()
        entry = b"\x00" + vec16(name)
        exts.append((0x0000, u16(len(entry) + sni_list_extra) + entry))
    exts += [
        (0x000A, vec16(b"".join(u16(g) for g in groups))),
        (0x000D, vec16(u16(0x0403) + u16(0x0804))),
        (0x0010, vec16(b"\x08http/1.1")),
        (0x002B, bytes([2 * len(versions)]) +
         b"".join(u16(v) for v in versions)),
        (0x0033, vec16(u16(0x001D) + vec16(bytes(range(0x40, 0x60))))),
    ]
    if grease:
        exts.append((0x1A1A, b"\x00"))
    if pad:
        exts.append((0x0015, bytes(pad)))
    ext_bytes = b"".join(u16(t) + vec16(d) for t, d in exts)
    body = (u16(0x0303) + bytes(range(32)) + b"\x20" + bytes(range(32, 64)) +
            vec16(b"".join(u16(c) for c in ciphers)) + b"\x01\x00" +
            vec16(ext_bytes))
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + vec16(hs)


def check_hello(record, sni):
    """scapy's TLS dissector must read the hello we built (sni None: no
    server_name)."""
    msg = TLS(record).msg[0]
    assert isinstance(msg, TLSClientHello), msg.summary()
    names = [n.servername.decode() for e in (msg.ext or [])
             if e.type == 0 for n in e.servernames]
    assert names == ([sni] if sni else []), (names, sni)


SERVER_HELLO = b"\x16\x03\x03\x00\x08" + b"\x02\x00\x00\x04\x03\x03\x00\x00"
APP_DATA = b"\x17\x03\x03\x00\x10" + bytes(range(16))


# ------------------------------------------------------------ scenarios

class Scenario:
    """Frames in, and what meshgate must do with each, in input order."""

    def __init__(self, name, config):
        self.name, self.config = name, config
        self.frames = []
        self.notes = []         # per frame: (flow, side, kind) for check()
        self.forwarded = []     # {"in", "out", "what"} in order
        self.resets = []        # {"in", "reason", "to_client", ...}
        self.deny_replies = []  # RSTs answering SYNs the L4 rules deny
        self.drops = Counter()
        self.requests = {r: Counter() for r in RULES}
        self.syns = {r: Counter() for r in RULES}
        self.flows = 0
        self.bad = []           # frames with a checksum wrong on purpose
        self.odd_ack = set()    # client frames not acking the next byte

    def add(self, frame, note, bad=None):
        self.frames.append(bytes(frame))
        self.notes.append(note)
        if bad:
            self.bad.append(len(self.frames) - 1)
        return len(self.frames) - 1

    def refuse(self, i, reason, what, pair, kept):
        """Frame i refused with `reason` and the resets `pair`. When the
        segment had IPv4 options or an IPv6 extension header, `kept` is
        the pair that carries them: the spec leaves open whether the
        gateway's resets keep the refused segment's network-layer extras
        (they are built from it), so either pair is right."""
        entry = {"in": i, "reason": reason, "what": what,
                 "to_client": raw(pair[0]).hex(),
                 "to_backend": raw(pair[1]).hex()}
        if raw(kept[0]) != raw(pair[0]):
            entry["to_client_kept"] = raw(kept[0]).hex()
            entry["to_backend_kept"] = raw(kept[1]).hex()
        self.resets.append(entry)
        self.drops[reason] += 1

    def manifest(self):
        def table(d):
            return {r: {k: d[r][k] for k in DECISIONS} for r in RULES}
        return {"config": self.config, "pcap": "%s.pcap" % self.name,
                "frames": len(self.frames), "forwarded": self.forwarded,
                "resets": self.resets, "bad_cksum": self.bad,
                "deny_replies": self.deny_replies,
                "drops": dict(sorted(self.drops.items())),
                "request_decisions": table(self.requests),
                "syn_decisions": table(self.syns),
                "flows_created": self.flows}

    def write(self, outdir):
        check_frames(self)
        write_pcap(os.path.join(outdir, "%s.pcap" % self.name), self.frames)
        return self.manifest()


class Flow:
    """One TCP connection from a caller through a VIP to its backend: the
    client's and the backend's frames, and what the gateway must send for
    each (DNAT toward the backend, reverse NAT toward the client, or a
    pair of resets).

    A client segment may be shaped (send's keywords): opts, its TCP
    options (a scapy list); urg, an urgent pointer (sets URG); ip_opts,
    IPv4 options (a scapy list); ext, an IPv6 extension header put
    between the IPv6 header and TCP; ack, an acknowledgement number other
    than the backend's next byte; bad, "tcp" or "ip": that checksum made
    wrong after the frame is built."""

    def __init__(self, sc, name, cli, vip, be, cli_mac, be_mac, isn,
                 server_isn=0x50000000):
        self.sc, self.name = sc, name
        self.cli, self.vip, self.be = cli, vip, be      # (addr, port)
        self.cli_mac, self.be_mac = cli_mac, be_mac
        self.cseq, self.sseq = isn, server_isn
        self.be_next = None     # first client byte the backend lacks
        self.ipid = 0x100
        self.v6 = ":" in cli[0]

    def _l3(self, src, dst, ip_opts=None, ext=None, **kw):
        if self.v6:
            assert not ip_opts, "IPv4 options on IPv6"
            ip = ipl(src, dst, **kw)
            return ip / ext.copy() if ext is not None else ip
        assert ext is None, "an IPv6 extension header on IPv4"
        return ipl(src, dst, options=list(ip_opts or []), **kw)

    def _ip(self, src, dst, ip_opts=None, ext=None):
        if self.v6:
            return self._l3(src, dst, ext=ext)
        self.ipid += 1
        return self._l3(src, dst, ip_opts, id=self.ipid, flags="DF")

    def _tcp(self, sport, dport, flags, seq, ack, payload, opts=None,
             urg=0):
        if opts is None:
            opts = [("MSS", 1460)] if "S" in flags else []
        l4 = TCP(sport=sport, dport=dport, flags=flags, seq=seq & M32,
                 ack=ack & M32 if "A" in flags else 0, window=65535,
                 urgptr=urg, options=opts)
        return l4 / Raw(payload) if payload else l4

    def client_frame(self, flags, payload, seq, opts=None, urg=0,
                     ip_opts=None, ext=None, ack=None):
        if ack is None:
            ack = self.sseq
        ip = self._ip(self.cli[0], self.vip[0], ip_opts, ext)
        fin = (Ether(src=self.cli_mac, dst=GW_MAC) / ip /
               self._tcp(self.cli[1], self.vip[1], flags, seq, ack,
                         payload, opts, urg))
        out = ip.copy()
        out.dst = self.be[0]
        fout = (Ether(src=GW_MAC, dst=self.be_mac) / out /
                self._tcp(self.cli[1], self.be[1], flags, seq, ack,
                          payload, opts, urg))
        return fin, fout

    def resets(self, fin, ip_opts=None, ext=None):
        """The pair of RST|ACKs a refused client segment `fin` gets; with
        ip_opts / ext, the pair that keeps the segment's IPv4 options or
        IPv6 extension header (see Scenario.refuse)."""
        t = fin[TCP]
        plen = len(t.payload)
        to_client = (Ether(src=GW_MAC, dst=self.cli_mac) /
                     self._l3(self.vip[0], self.cli[0], ip_opts, ext) /
                     TCP(sport=self.vip[1], dport=self.cli[1], flags="RA",
                         seq=t.ack, ack=(t.seq + plen) & M32, window=0))
        to_backend = (Ether(src=GW_MAC, dst=self.be_mac) /
                      self._l3(self.cli[0], self.be[0], ip_opts, ext) /
                      TCP(sport=self.cli[1], dport=self.be[1], flags="RA",
                          seq=self.be_next & M32, ack=t.ack, window=0))
        return to_client, to_backend

    # ---- what the scenario says happens

    def handshake(self, ts=None):
        """SYN, SYN-ACK, ACK, all forwarded. An allow rule admits the
        connection, but on a service with layer-7 rules decisions are
        counted per request, not at the SYN. ts: negotiate TCP timestamps
        (RFC 7323), the client's TSval on the SYN and ACK."""
        syn = synack = ack = None
        if ts is not None:
            syn = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (ts, 0)),
                   ("NOP", None), ("WScale", 7)]
            synack = [("MSS", 1460), ("SAckOK", b""),
                      ("Timestamp", (SERVER_TSVAL, ts)), ("NOP", None),
                      ("WScale", 7)]
            ack = ts_opts(ts)
        fin, fout = self.client_frame("S", b"", self.cseq, syn)
        self._fwd(fin, fout, "SYN", "c", "new")
        self.cseq += 1
        self.be_next = self.cseq
        self.server("SA", b"", "SYN-ACK", synack)
        self.send(b"", "ACK", opts=ack)
        self.sc.flows += 1

    def syn_denied(self, rule):
        """A SYN the L4 rules deny: counted against `rule` as before, and
        answered with a RST (deny_action "reset", the default)."""
        fin, _ = self.client_frame("S", b"", self.cseq)
        self.sc.add(fin, (self.name, "c", "new"))
        self.sc.deny_replies.append(raw(deny_reset(fin)).hex())
        self.sc.drops["policy_deny"] += 1
        self.sc.syns[rule]["deny"] += 1

    def send(self, payload, what, seq=None, kind="new", flags=None,
             reset=None, drop=None, bad=None, **shape):
        """A client segment at seq (default: the next byte), shaped by
        `shape` and `bad` (see the class). Forwarded unless reset=REASON
        (dropped, resets both ways) or drop=REASON (dropped silently).
        kind tells check() what the segment is: "new" bytes, a
        "retrans"mission, an "ooo" segment past a gap, or an "insert"ion
        at the next byte that the backend would discard (a bad checksum,
        a stale timestamp), so not part of the stream."""
        if seq is None:
            seq = self.cseq
        flags = flags or ("PA" if payload else "A")
        if shape.get("urg"):
            flags += "U"
        fin, fout = self.client_frame(flags, payload, seq, **shape)
        data = spoil(fin, bad) if bad else raw(fin)
        if kind == "new":
            self.cseq = seq + len(payload)
        what = "%s %s" % (self.name, what)
        note = (self.name, "c", kind)
        if shape.get("ack") is not None:
            self.sc.odd_ack.add(len(self.sc.frames))
        if reset:
            i = self.sc.add(data, note, bad)
            self.sc.refuse(i, reset, what, self.resets(fin),
                           self.resets(fin, shape.get("ip_opts"),
                                       shape.get("ext")))
        elif drop:
            self.sc.add(data, note, bad)
            self.sc.drops[drop] += 1
        else:
            assert bad in (None, "tcp"), "forwarded with a bad IPv4 header"
            out = raw(fout)
            if bad:
                out = self._nat_bad_cksum(data, out)
            self._fwd(data, out, what, "c", kind, bad)
            end = seq + len(payload)
            if not bad and (end - self.be_next) & M32 < 0x80000000:
                self.be_next = end

    def _nat_bad_cksum(self, data, out):
        """`out` with the TCP checksum meshgate's NAT makes of the wrong
        one in `data`: it adjusts what it does not verify (RFC 1624
        eqn. 3), so the error travels on unchanged."""
        fam = socket.AF_INET6 if self.v6 else socket.AF_INET
        at = l4_offset(data) + 16
        ck = struct.unpack_from("!H", data, at)[0]
        ck = cksum_adjust(ck, socket.inet_pton(fam, self.vip[0]),
                          socket.inet_pton(fam, self.be[0]))
        ck = cksum_adjust(ck, u16(self.vip[1]), u16(self.be[1]))
        assert l4_offset(out) + 16 == at
        return out[:at] + u16(ck) + out[at + 2:]

    def server(self, flags, payload, what, opts=None):
        ip = self._ip(self.be[0], self.cli[0])
        l4 = self._tcp(self.be[1], self.cli[1], flags, self.sseq,
                       self.cseq, payload, opts)
        fin = Ether(src=self.be_mac, dst=GW_MAC) / ip / l4
        out = ip.copy()
        out.src = self.vip[0]
        l4 = self._tcp(self.vip[1], self.cli[1], flags, self.sseq,
                       self.cseq, payload, opts)
        fout = Ether(src=GW_MAC, dst=self.cli_mac) / out / l4
        self._fwd(fin, fout, "%s %s" % (self.name, what), "s", "new")
        self.sseq += len(payload) + ("S" in flags)

    def respond(self, what="response", payload=OK_RESPONSE):
        self.server("PA", payload, what)

    def _fwd(self, fin, fout, what, side, kind, bad=None):
        i = self.sc.add(fin, (self.name, side, kind), bad)
        entry = {"in": i, "out": raw(fout).hex(), "what": what}
        if bad:
            entry["bad_cksum"] = True
        self.sc.forwarded.append(entry)

    def decide(self, rule, decision="allow"):
        self.sc.requests[rule][decision] += 1


SERVER_TSVAL = 0x00BEEF00


def ts_opts(tsval, ecr=SERVER_TSVAL, more=()):
    """TCP options of a segment with timestamps, NOP-aligned as stacks
    send them, then `more`."""
    return [("NOP", None), ("NOP", None), ("Timestamp", (tsval, ecr))] + \
        list(more)


def l4_offset(data):
    """Where the TCP header of an Ethernet frame starts (IPv4 options and
    IPv6 extension headers skipped)."""
    if data[12:14] == b"\x86\xdd":
        nh, at = data[14 + 6], 14 + 40
        while nh in (0, 43, 60):        # hop-by-hop, routing, destination
            nh, at = data[at], at + (data[at + 1] + 1) * 8
        assert nh == 6, nh
        return at
    return 14 + (data[14] & 15) * 4


def spoil(pkt, which):
    """The frame with its TCP ("tcp") or IPv4 header ("ip") checksum
    wrong: what a path that verifies it must drop."""
    data = bytearray(raw(pkt))
    at = 14 + 10 if which == "ip" else l4_offset(data) + 16
    assert which in ("ip", "tcp") and (which == "tcp" or data[12] == 8)
    data[at] ^= 0x5A
    data[at + 1] ^= 0xA5
    return bytes(data)


def cksum_adjust(cksum, old, new):
    """RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), as meshgate's
    mg_cksum_adjust computes it."""
    s = ~cksum & 0xFFFF
    for k in range(0, len(old), 2):
        s += ~struct.unpack_from("!H", old, k)[0] & 0xFFFF
        s += struct.unpack_from("!H", new, k)[0]
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def shop(sc, name, cli, sport, cli_mac=CLI_MAC, isn=1000):
    vip, be = (SHOP6, SHOP_BE6) if ":" in cli else (SHOP4, SHOP_BE4)
    return Flow(sc, name, (cli, sport), (vip, SHOP_PORT), (be, SHOP_BE_PORT),
                cli_mac, SHOP_MAC, isn)


def secure(sc, name, cli, sport, cli_mac=CLI_MAC, isn=7000):
    vip, be = (SEC6, SEC_BE6) if ":" in cli else (SEC4, SEC_BE4)
    return Flow(sc, name, (cli, sport), (vip, SEC_PORT), (be, SEC_BE_PORT),
                cli_mac, SEC_MAC, isn)


def http_conversations(sc):
    # Keep-alive: two allowed requests (the second also matches the
    # dry-run deny), then a denied one. The ISN sits just below 2^32, so
    # the stream wraps inside the first request. Afterwards a request is
    # refused as l7_reset with the same pair of resets (segments without
    # data: after_reset_scenario).
    c = shop(sc, "keepalive", FRONT4, 41001, isn=0xFFFFFFC0)
    c.handshake()
    c.send(http_request(b"/api/items"), "GET /api/items")
    c.decide("shop-api")
    c.respond()
    c.send(http_request(b"/api/debug?verbose=1"), "GET /api/debug")
    c.decide("shop-api")
    c.decide("audit-debug", "dry_run")
    c.respond()
    c.send(http_request(b"/admin/users"), "GET /admin/users (denied)",
           reset="l7_deny")
    c.decide("shop-no-admin", "deny")
    c.send(http_request(b"/api/after"), "GET after the reset",
           reset="l7_reset")

    # IPv6, HEAD allowed, then two pipelined requests in one segment: the
    # first allowed, the second denied, so the segment is refused whole.
    c = shop(sc, "pipelined-v6", FRONT6, 41002)
    c.handshake()
    c.send(http_request(b"/api/v6", method=b"HEAD"), "HEAD /api/v6")
    c.decide("shop-api")
    c.respond(payload=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    c.send(http_request(b"/api/a") + http_request(b"/admin/x"),
           "GET /api/a + GET /admin/x pipelined", reset="l7_deny")
    c.decide("shop-api")
    c.decide("shop-no-admin", "deny")

    # A request line split over two segments: an allowed head (both
    # halves forwarded), then a denied one (the first half forwarded, the
    # half that completes it refused).
    c = shop(sc, "split", FRONT4, 41003)
    c.handshake()
    head = http_request(b"/api/split")
    c.send(head[:9], "GET /api/split, first 9 bytes")
    c.send(head[9:], "GET /api/split, the rest")
    c.decide("shop-api")
    c.respond()
    head = http_request(b"/admin")
    c.send(head[:8], "GET /admin, first 8 bytes")
    c.send(head[8:], "GET /admin, the rest (denied)", reset="l7_deny")
    c.decide("shop-no-admin", "deny")

    # Bodies are skipped, not parsed as requests: a Content-Length body
    # and a chunked body whose segments start with "GET /admin ...", then
    # a real GET /admin on the same connection. batch is allowed by an L4
    # rule; the deny rule with matchers still applies to it.
    fake = b"GET /admin HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    c = shop(sc, "bodies", BATCH4, 41004, cli_mac=BATCH_MAC)
    c.handshake()
    body = b"x" * 10 + fake + b"y" * 7
    req = http_request(b"/upload", method=b"POST",
                       headers=b"Content-Length: %d\r\n" % len(body),
                       body=body)
    cut = len(req) - len(body) + 10
    c.send(req[:cut], "POST /upload, head + 10 body bytes")
    c.decide("batch-shop")
    c.send(req[cut:], "POST /upload, body from 'GET /admin'")
    c.respond()
    body = chunked(b"a" * 5, fake, b"tail")
    req = http_request(b"/upload", method=b"POST",
                       headers=b"Transfer-Encoding: chunked\r\n", body=body)
    head_len = len(req) - len(body)
    second = head_len + len(b"5\r\naaaaa\r\n%x\r\n" % len(fake))
    c.send(req[:head_len + 3], "POST /upload chunked, head + '5\\r\\n'")
    c.decide("batch-shop")
    c.send(req[head_len + 3:second], "chunk data, next chunk-size line")
    c.send(req[second:], "chunk data 'GET /admin ...', last chunk")
    c.respond()
    c.send(http_request(b"/admin/stats"), "GET /admin/stats (denied)",
           reset="l7_deny")
    c.decide("shop-no-admin", "deny")

    # IPv6 batch: a POST with a body in one segment, allowed.
    c = shop(sc, "body-v6", BATCH6, 41005, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(http_request(b"/upload", method=b"POST",
                        headers=b"Content-Length: 5\r\n", body=b"hello"),
           "POST /upload with body")
    c.decide("batch-shop")
    c.respond()

    # Allowed method and path, but the wrong Host: no rule matches.
    c = shop(sc, "wrong-host", FRONT4, 41006)
    c.handshake()
    c.send(http_request(b"/api/items", host=b"other.example"),
           "GET /api/items, Host other.example", reset="l7_deny")
    c.decide("default-deny", "deny")

    # Not HTTP at all (a TLS record on the HTTP service).
    c = shop(sc, "not-http", FRONT4, 41007)
    c.handshake()
    c.send(client_hello("shop.example"), "TLS on the HTTP port",
           reset="l7_not_http")

    # Malformed or ambiguous requests.
    c = shop(sc, "cl-te", BATCH4, 41008, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(http_request(b"/upload", method=b"POST",
                        headers=b"Content-Length: 5\r\n"
                                b"Transfer-Encoding: chunked\r\n",
                        body=b"0\r\n\r\n"),
           "POST with Content-Length and Transfer-Encoding",
           reset="l7_bad_request")
    for port, path in ((41009, b"/a/../admin"), (41010, b"/api/%2e%2e/admin")):
        c = shop(sc, "bad-path-%d" % port, FRONT4, port)
        c.handshake()
        c.send(http_request(path), "GET %s" % path.decode(),
               reset="l7_bad_request")

    # Out of order: the second request arrives first (dropped, no reset),
    # then the first, then the second again (both inspected and allowed);
    # later the first is retransmitted (forwarded, not inspected again).
    c = shop(sc, "reorder", FRONT4, 41011)
    c.handshake()
    one, two = http_request(b"/api/one"), http_request(b"/api/two")
    c.send(two, "GET /api/two before /api/one", seq=c.cseq + len(one),
           kind="ooo", drop="l7_out_of_order")
    start = c.cseq
    c.send(one, "GET /api/one")
    c.send(two, "GET /api/two, in order now")
    c.decide("shop-api")
    c.decide("shop-api")
    c.respond()
    c.respond()
    c.send(one, "GET /api/one retransmitted", seq=start, kind="retrans")

    # A head longer than l7.max_request_bytes, split: the first part
    # forwarded, the one that crosses the limit refused. (Whole in one
    # segment: too_large_scenario.)
    c = shop(sc, "too-large-split", FRONT6, 41013)
    c.handshake()
    head = http_request(b"/api/big", headers=BIG_PAD)
    c.send(head[:MAX_REQUEST_BYTES - 200], "GET /api/big, first part")
    c.send(head[MAX_REQUEST_BYTES - 200:MAX_REQUEST_BYTES + 40],
           "GET /api/big, past the limit", reset="l7_too_large")

    # Default deny at the SYN for a caller no rule covers.
    c = shop(sc, "unknown", UNK4, 41014, cli_mac=UNK_MAC)
    c.syn_denied("default-deny")


def tls_conversations(sc):
    # Allowed SNI (caseless); afterwards everything passes, even a
    # second ClientHello naming a denied server.
    c = secure(sc, "tls-allowed", FRONT4, 42001)
    c.handshake()
    c.send(client_hello("API.Example"), "ClientHello SNI API.Example")
    c.decide("secure-api")
    c.server("PA", SERVER_HELLO, "ServerHello")
    c.send(APP_DATA, "application data")
    c.send(client_hello("admin.example"), "a second hello: not inspected")

    c = secure(sc, "tls-denied", FRONT4, 42002)
    c.handshake()
    c.send(client_hello("admin.example"), "ClientHello SNI admin.example",
           reset="l7_deny")
    c.decide("secure-no-admin", "deny")

    # A hello split over two TCP segments (IPv6), GREASE included.
    c = secure(sc, "tls-split-v6", FRONT6, 42003)
    c.handshake()
    hello = client_hello("api.example", grease=True)
    c.send(hello[:70], "ClientHello, first 70 bytes")
    c.send(hello[70:], "ClientHello, the rest")
    c.decide("secure-api")
    c.server("PA", SERVER_HELLO, "ServerHello")

    c = secure(sc, "tls-grease", FRONT4, 42004)
    c.handshake()
    c.send(client_hello("api.example", grease=True),
           "ClientHello with GREASE values")
    c.decide("secure-api")
    c.server("PA", SERVER_HELLO, "ServerHello")

    # No SNI: no rule lets frontend without one, so l7_no_sni against
    # the default; batch-no-sni (allow_no_sni) lets batch, whose L4 rule
    # alone would not.
    c = secure(sc, "tls-no-sni", FRONT4, 42005)
    c.handshake()
    c.send(client_hello(None), "ClientHello without SNI", reset="l7_no_sni")
    c.decide("default-deny", "deny")
    c = secure(sc, "tls-no-sni-l4", BATCH4, 42006, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(client_hello(None), "ClientHello without SNI (allow_no_sni)")
    c.decide("batch-no-sni")
    c.server("PA", SERVER_HELLO, "ServerHello")

    c = secure(sc, "tls-other-sni", FRONT4, 42007)
    c.handshake()
    c.send(client_hello("www.example"), "ClientHello SNI www.example",
           reset="l7_deny")
    c.decide("default-deny", "deny")

    c = secure(sc, "tls-not-tls", FRONT4, 42008)
    c.handshake()
    c.send(http_request(b"/", host=b"secure.example"), "HTTP on the TLS port",
           reset="l7_not_tls")

    c = secure(sc, "tls-bad-hello", FRONT4, 42009)
    c.handshake()
    c.send(client_hello("api.example", sni_list_extra=3),
           "ClientHello with a server_name list overrunning its extension",
           reset="l7_bad_hello")


def main_scenario():
    sc = Scenario("main", "tests/configs/l7_replay.conf")
    http_conversations(sc)
    tls_conversations(sc)
    return sc


def pending_scenario():
    """Three connections with a split head at once; max_pending = 2, so
    the third's first part is refused. Once the first two complete, a
    fourth connection's split head finds a buffer again."""
    sc = Scenario("pending", "tests/configs/l7_replay_pending.conf")
    conns = [shop(sc, "pending-%d" % k, FRONT4, 43000 + k) for k in range(4)]
    heads = [http_request(b"/api/pending/%d" % k) for k in range(4)]
    for c in conns[:3]:
        c.handshake()
    for k, c in enumerate(conns[:MAX_PENDING + 1]):
        if k < MAX_PENDING:
            c.send(heads[k][:20], "first 20 bytes of its head")
        else:
            c.send(heads[k][:20], "first 20 bytes: no buffer left",
                   reset="l7_pending_full")
    for k, c in enumerate(conns[:MAX_PENDING]):
        c.send(heads[k][20:], "the rest of its head")
        c.decide("shop-api")
        c.respond()
    c = conns[3]
    c.handshake()
    c.send(heads[3][:20], "first 20 bytes, a buffer free again")
    c.send(heads[3][20:], "the rest")
    c.decide("shop-api")
    c.respond()
    return sc


def after_reset_scenario():
    """Segments without data after a deny: "any later packet of that
    connection from the client is dropped as l7_reset and answered with
    the same pair of resets" (an ACK of the backend's last byte, IPv4 and
    IPv6)."""
    sc = Scenario("after_reset", "tests/configs/l7_replay.conf")
    for cli, port in ((FRONT4, 44001), (FRONT6, 44002)):
        c = shop(sc, "after-reset-%d" % port, cli, port)
        c.handshake()
        c.send(http_request(b"/api/items"), "GET /api/items")
        c.decide("shop-api")
        c.respond()
        c.send(http_request(b"/admin"), "GET /admin (denied)",
               reset="l7_deny")
        c.decide("shop-no-admin", "deny")
        c.send(b"", "ACK after the reset", reset="l7_reset")
    return sc


def too_large_scenario():
    """A request head and a ClientHello longer than l7.max_request_bytes
    (1024), each whole in one segment: "a longer one is denied
    (l7_too_large)", whether or not it had to be held."""
    sc = Scenario("too_large", "tests/configs/l7_replay.conf")
    c = shop(sc, "too-large", FRONT4, 45001)
    c.handshake()
    head = http_request(b"/api/big", headers=BIG_PAD)
    c.send(head, "GET /api/big, a %d-byte head" % len(head),
           reset="l7_too_large")
    c = secure(sc, "tls-too-large", FRONT4, 45002)
    c.handshake()
    hello = client_hello("api.example", pad=MAX_REQUEST_BYTES)
    c.send(hello, "ClientHello SNI api.example, %d bytes" % len(hello),
           reset="l7_too_large")
    return sc


def raw_request(line, headers=b""):
    """A request head written out whole: `line`, then `headers`."""
    return line + b"\r\n" + headers + b"\r\n"


SWITCHING = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\n\r\n")
WS_HEADERS = (b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n")
# an unmasked frame whose bytes read as a denied request: what passes
# once a connection is opaque, and only then
_WS_TEXT = b"GET /admin HTTP/1.1\r\nHost: shop.example\r\n\r\n"
WS_FRAME = b"\x81" + bytes([len(_WS_TEXT)]) + _WS_TEXT


def normal_forms_conversations(sc):
    """Each field matched in its normal form, however the request or
    ClientHello writes it. batch has an L4 allow on both services, so
    only a deny rule (or the upgrade and no-SNI rules) refuse its
    requests: every refusal below is a form that would pass if read as
    sent."""
    # The path ends at '?', and ";params" do not hide a segment from
    # ^/admin(/|$) (IPv4 and IPv6).
    for port, cli, path in ((47001, BATCH4, b"/admin?x"),
                            (47002, BATCH4, b"/admin;x"),
                            (47003, BATCH6, b"/admin;x/y"),
                            (47004, BATCH4, b"/admin;jsessionid=1?y=2")):
        c = shop(sc, "nf-path-%d" % port, cli, port, cli_mac=BATCH_MAC)
        c.handshake()
        c.send(http_request(b"/api/items"), "GET /api/items")
        c.decide("batch-shop")
        c.respond()
        c.send(http_request(path), "GET %s (denied)" % path.decode(),
               reset="l7_deny")
        c.decide("shop-no-admin", "deny")

    # The query: a parameter denied by http.query; the path of the same
    # request is allowed.
    c = shop(sc, "nf-query", BATCH4, 47005, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(http_request(b"/api/items?debug=10"), "GET /api/items?debug=10")
    c.decide("batch-shop")
    c.respond()
    c.send(http_request(b"/api/items?page=2&debug=1"),
           "GET /api/items?page=2&debug=1 (denied)", reset="l7_deny")
    c.decide("shop-no-debug", "deny")

    # Host without port or trailing dot, in any case: denied by a host
    # rule (IPv4, IPv6), allowed by one (frontend's shop-api).
    for port, cli, host in ((47006, BATCH4, b"Admin.Example:80"),
                            (47007, BATCH6, b"ADMIN.EXAMPLE.:8080")):
        c = shop(sc, "nf-host-%d" % port, cli, port, cli_mac=BATCH_MAC)
        c.handshake()
        c.send(http_request(b"/api/items", host=host),
               "GET /api/items, Host %s (denied)" % host.decode(),
               reset="l7_deny")
        c.decide("shop-no-admin-host", "deny")
    c = shop(sc, "nf-host-allowed", FRONT4, 47008)
    c.handshake()
    c.send(http_request(b"/api/items", host=b"Shop.Example.:80"),
           "GET /api/items, Host Shop.Example.:80")
    c.decide("shop-api")
    c.respond()
    c.send(http_request(b"/api/items", host=b"[2001:db8:100::10]:80"),
           "GET /api/items, Host [2001:db8:100::10]:80 (no rule)",
           reset="l7_deny")
    c.decide("default-deny", "deny")

    # No Host (HTTP/1.0): no host rule matches it, the deny as little as
    # frontend's allow.
    c = shop(sc, "nf-no-host", BATCH4, 47009, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(raw_request(b"GET /api/items HTTP/1.0"), "GET, HTTP/1.0, no Host")
    c.decide("batch-shop")
    c.respond()
    c = shop(sc, "nf-no-host-front", FRONT4, 47010)
    c.handshake()
    c.send(raw_request(b"GET /api/items HTTP/1.0", b"Accept: */*\r\n"),
           "GET, HTTP/1.0, no Host (denied)", reset="l7_deny")
    c.decide("default-deny", "deny")

    # Upgrades: h2c and an unknown protocol denied although the request
    # is one shop-api allows; websocket from batch denied although its L4
    # rule allows everything else.
    c = shop(sc, "nf-h2c", FRONT4, 47011)
    c.handshake()
    c.send(http_request(b"/api/items",
                        headers=b"Connection: Upgrade, HTTP2-Settings\r\n"
                                b"Upgrade: h2c\r\n"
                                b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"
                                b"\r\n"),
           "GET /api/items, Upgrade: h2c (denied)",
           reset="l7_upgrade_deny")
    c.decide("default-deny", "deny")
    c = shop(sc, "nf-upgrade-unknown-v6", FRONT6, 47012)
    c.handshake()
    c.send(http_request(b"/api/ws", headers=b"Upgrade: websocket, x-tunnel"
                        b"\r\nConnection: Upgrade\r\n"),
           "GET /api/ws, Upgrade: websocket, x-tunnel (denied)",
           reset="l7_upgrade_deny")
    c.decide("default-deny", "deny")
    c = shop(sc, "nf-ws-batch", BATCH4, 47013, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(http_request(b"/api/ws", headers=WS_HEADERS),
           "GET /api/ws, Upgrade: websocket, from batch (denied)",
           reset="l7_upgrade_deny")
    c.decide("default-deny", "deny")

    # websocket where shop-ws allows it: after the backend's 101 the
    # connection is opaque, so bytes that read as a denied request pass.
    c = shop(sc, "nf-ws", FRONT4, 47014)
    c.handshake()
    c.send(http_request(b"/api/ws", headers=WS_HEADERS),
           "GET /api/ws, Upgrade: websocket")
    c.decide("shop-ws")
    c.server("PA", SWITCHING, "101 Switching Protocols")
    c.send(WS_FRAME, "a frame reading 'GET /admin ...', after the 101")

    # Connection: Upgrade without Upgrade is plain HTTP; a 101 from the
    # backend after it opens nothing: the next request is inspected.
    c = shop(sc, "nf-connection-upgrade", FRONT4, 47015)
    c.handshake()
    c.send(http_request(b"/api/items", headers=b"Connection: Upgrade\r\n"),
           "GET /api/items, Connection: Upgrade, no Upgrade")
    c.decide("shop-api")
    c.server("PA", SWITCHING, "a 101 nobody asked for")
    c.send(http_request(b"/admin"), "GET /admin after it (denied)",
           reset="l7_deny")
    c.decide("shop-no-admin", "deny")

    # SNI: a trailing dot and capitals are the same name.
    c = secure(sc, "nf-sni-dot", FRONT4, 47016)
    c.handshake()
    c.send(client_hello("API.Example."), "ClientHello SNI API.Example.")
    c.decide("secure-api")
    c.server("PA", SERVER_HELLO, "ServerHello")
    c = secure(sc, "nf-sni-admin-dot-v6", BATCH6, 47017, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(client_hello("Admin.Example."),
           "ClientHello SNI Admin.Example. (denied)", reset="l7_deny")
    c.decide("secure-no-admin", "deny")

    # No SNI: denied unless a rule allows it (IPv6 both ways).
    c = secure(sc, "nf-no-sni-v6", FRONT6, 47018)
    c.handshake()
    c.send(client_hello(None), "ClientHello without SNI (denied)",
           reset="l7_no_sni")
    c.decide("default-deny", "deny")
    c = secure(sc, "nf-no-sni-allowed-v6", BATCH6, 47019, cli_mac=BATCH_MAC)
    c.handshake()
    c.send(client_hello(None, grease=True),
           "ClientHello without SNI (allow_no_sni)")
    c.decide("batch-no-sni")
    c.server("PA", SERVER_HELLO, "ServerHello")
    c.send(APP_DATA, "application data")


def normal_forms_scenario():
    sc = Scenario("normal_forms", "tests/configs/l7_replay.conf")
    normal_forms_conversations(sc)
    return sc


# a Record Route option with one free slot (RFC 791), then EOL
RECORD_ROUTE = [IPOption_RR(pointer=4, routers=["0.0.0.0"]),
                IPOption(b"\x00")]
NOP4 = [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption(b"\x00")]
MD5_SIG = [("NOP", None), ("NOP", None), ("MD5", bytes(range(16)))]


def strict_conversations(sc):
    """Strict client segments while a connection's bytes are inspected:
    checksums verified, then no IPv4 options, IPv6 extension headers, URG
    or TCP options outside EOL/NOP/MSS/WS/SACK-permitted/SACK/timestamps,
    then no TSval older than the newest one on inspected client data."""
    # The insertion attack: an allowed request with a bad TCP checksum
    # (the backend would discard it) is dropped, no reset, and does not
    # count as seen, so a denied request at the same sequence number is
    # inspected as new. Before it, a good allowed request passes.
    for port, cli, bad in ((46001, FRONT4, "tcp"), (46002, FRONT4, "ip"),
                           (46003, FRONT6, "tcp")):
        reason = "l4_bad_cksum" if bad == "tcp" else "ipv4_bad_cksum"
        c = shop(sc, "insert-%s-%d" % (bad, port), cli, port)
        c.handshake()
        c.send(http_request(b"/api/items"), "GET /api/items")
        c.decide("shop-api")
        c.respond()
        c.send(http_request(b"/api/items?page=2"),
               "GET /api/items?page=2, bad %s checksum" % bad,
               kind="insert", bad=bad, drop=reason)
        c.send(http_request(b"/admin/users"),
               "GET /admin/users at the same sequence number",
               reset="l7_deny")
        c.decide("shop-no-admin", "deny")

    # The same bytes again with a good checksum: inspected (one decision)
    # and forwarded. A retransmission of them with a bad checksum is
    # still dropped (HTTP: every client segment with data is checked).
    c = shop(sc, "recheck", FRONT4, 46004)
    c.handshake()
    req = http_request(b"/api/again")
    start = c.cseq
    c.send(req, "GET /api/again, bad TCP checksum", kind="insert",
           bad="tcp", drop="l4_bad_cksum")
    c.send(req, "GET /api/again, good checksum")
    c.decide("shop-api")
    c.respond()
    c.send(req, "GET /api/again retransmitted, bad TCP checksum",
           seq=start, kind="retrans", bad="tcp", drop="l4_bad_cksum")
    c.send(req, "GET /api/again retransmitted", seq=start, kind="retrans")

    # A held split head: the rest with a bad checksum leaves it held as
    # it was; a rest that makes it GET /admin is denied, and the backend's
    # reset starts at that rest (IPv6).
    c = shop(sc, "split-insert-v6", FRONT6, 46005)
    c.handshake()
    c.send(b"GET /", "'GET /', held")
    c.send(http_request(b"/api/x")[5:], "'api/x ...', bad TCP checksum",
           kind="insert", bad="tcp", drop="l4_bad_cksum")
    c.send(http_request(b"/admin")[5:], "'admin ...' (denied)",
           reset="l7_deny")
    c.decide("shop-no-admin", "deny")

    # TLS, while the ClientHello is undecided: the same insertion.
    for port, cli in ((46006, FRONT4), (46007, FRONT6)):
        c = secure(sc, "tls-insert-%d" % port, cli, port)
        c.handshake()
        c.send(client_hello("api.example"),
               "ClientHello SNI api.example, bad TCP checksum",
               kind="insert", bad="tcp", drop="l4_bad_cksum")
        c.send(client_hello("admin.example"),
               "ClientHello SNI admin.example at the same sequence number",
               reset="l7_deny")
        c.decide("secure-no-admin", "deny")

    # Once the ClientHello is allowed nothing is checked: a bad checksum
    # leaves NATed with the error carried over (then the client's good
    # retransmission), an MD5 option and a stale TSval pass too.
    c = secure(sc, "tls-passed", FRONT4, 46008)
    c.handshake(ts=900)
    c.send(client_hello("api.example"), "ClientHello SNI api.example",
           opts=ts_opts(1000))
    c.decide("secure-api")
    c.server("PA", SERVER_HELLO, "ServerHello")
    c.send(APP_DATA, "application data, bad TCP checksum", kind="insert",
           bad="tcp", opts=ts_opts(1010))
    c.send(APP_DATA, "application data, good checksum", opts=ts_opts(1020))
    c.send(APP_DATA, "application data with an MD5 option and TSval 10",
           opts=ts_opts(10, more=MD5_SIG), kind="insert")

    # IPv4 options, an IPv6 extension header, URG, and TCP options
    # outside the accepted set on client data: ambiguous, reset.
    c = shop(sc, "ip-record-route", FRONT4, 46009)
    c.handshake()
    c.send(http_request(b"/api/items"), "GET /api/items, Record Route",
           ip_opts=RECORD_ROUTE, reset="l7_ambiguous")
    c = shop(sc, "ip-nop-options", FRONT4, 46010)
    c.handshake()
    c.send(http_request(b"/api/items"), "GET /api/items",
           opts=ts_opts(7))
    c.decide("shop-api")
    c.respond()
    c.send(http_request(b"/api/items"), "GET /api/items, IPv4 NOP options",
           ip_opts=NOP4, reset="l7_ambiguous")
    c = shop(sc, "ipv6-dest-options", FRONT6, 46011)
    c.handshake()
    c.send(http_request(b"/api/items"),
           "GET /api/items, Destination Options header",
           ext=IPv6ExtHdrDestOpt(options=[PadN(optdata=bytes(4))]),
           reset="l7_ambiguous")
    for port, cli in ((46012, FRONT4), (46013, FRONT6)):
        c = shop(sc, "urgent-%d" % port, cli, port)
        c.handshake()
        c.send(http_request(b"/api/items"), "GET /api/items, URG, pointer 4",
               urg=4, reset="l7_ambiguous")
    c = shop(sc, "tcp-md5", FRONT4, 46014)
    c.handshake()
    c.send(http_request(b"/api/items"),
           "GET /api/items, MD5 signature option (kind 19, length 18)",
           opts=MD5_SIG, reset="l7_ambiguous")
    c = shop(sc, "tcp-unknown-v6", FRONT6, 46015)
    c.handshake(ts=500)
    c.send(http_request(b"/api/items"),
           "GET /api/items, timestamps and an experimental option (253)",
           opts=ts_opts(600, more=[(253, b"\x12\x34")]),
           reset="l7_ambiguous")

    # The accepted options on client data: timestamps, SACK, NOPs, EOL,
    # even MSS, window scale and SACK-permitted (IPv4 and IPv6).
    for port, cli in ((46016, FRONT4), (46017, FRONT6)):
        c = shop(sc, "tcp-options-ok-%d" % port, cli, port)
        c.handshake(ts=100)
        c.send(http_request(b"/api/ts"), "GET /api/ts, timestamps",
               opts=ts_opts(110))
        c.decide("shop-api")
        c.respond()
        block = (c.sseq - 10, c.sseq)
        c.send(http_request(b"/api/sack"), "GET /api/sack, TS + SACK",
               opts=ts_opts(120, more=[("NOP", None), ("NOP", None),
                                       ("SAck", block)]))
        c.decide("shop-api")
        c.respond()
        c.send(http_request(b"/api/odd"),
               "GET /api/odd, MSS, WS, SACK-permitted, TS, EOL",
               opts=[("MSS", 1400), ("WScale", 7), ("SAckOK", b""),
                     ("Timestamp", (130, SERVER_TSVAL)), ("EOL", None)])
        c.decide("shop-api")
        c.respond()

    # PAWS: TSval 900 after 1000 is stale (dropped, no reset, nothing
    # recorded); a bad checksum with TSval 5000 records nothing either;
    # the same bytes with 1100 are inspected and allowed once. An ACK
    # without data is not checked, whatever its TSval.
    c = shop(sc, "paws", FRONT4, 46018)
    c.handshake(ts=990)
    c.send(http_request(b"/api/one"), "GET /api/one, TSval 1000",
           opts=ts_opts(1000))
    c.decide("shop-api")
    c.respond()
    c.send(b"", "ACK without data, TSval 500", opts=ts_opts(500))
    two = http_request(b"/api/two")
    c.send(two, "GET /api/two, TSval 900 (stale)", opts=ts_opts(900),
           kind="insert", drop="l7_stale_timestamp")
    c.send(two, "GET /api/two, TSval 5000, bad TCP checksum",
           opts=ts_opts(5000), kind="insert", bad="tcp",
           drop="l4_bad_cksum")
    c.send(two, "GET /api/two, TSval 1100", opts=ts_opts(1100))
    c.decide("shop-api")
    c.respond()

    # PAWS as an insertion (IPv6): the stale segment's bytes are not
    # seen, so a denied request at its sequence number is inspected.
    c = shop(sc, "paws-insert-v6", FRONT6, 46019)
    c.handshake(ts=990)
    c.send(http_request(b"/api/one"), "GET /api/one, TSval 1000",
           opts=ts_opts(1000))
    c.decide("shop-api")
    c.respond()
    c.send(http_request(b"/api/two"), "GET /api/two, TSval 900 (stale)",
           opts=ts_opts(900), kind="insert", drop="l7_stale_timestamp")
    c.send(http_request(b"/admin"), "GET /admin, TSval 1100",
           opts=ts_opts(1100), reset="l7_deny")
    c.decide("shop-no-admin", "deny")

    # A bare ACK, or the SYN, moves the backend's PAWS reference too: a
    # request with an older TSval after them is stale (the backend would
    # discard it), so a denied one at its place is inspected.
    c = shop(sc, "paws-bare-ack", FRONT4, 46025)
    c.handshake(ts=990)
    c.send(http_request(b"/api/one"), "GET /api/one, TSval 1000",
           opts=ts_opts(1000))
    c.decide("shop-api")
    c.respond()
    c.send(b"", "ACK without data, TSval 5000", opts=ts_opts(5000))
    c.send(http_request(b"/api/two"), "GET /api/two, TSval 1100 (stale)",
           opts=ts_opts(1100), kind="insert", drop="l7_stale_timestamp")
    c.send(http_request(b"/admin/x"), "GET /admin/x, TSval 6000",
           opts=ts_opts(6000), reset="l7_deny")
    c.decide("shop-no-admin", "deny")
    c = shop(sc, "paws-syn", FRONT4, 46026)
    c.handshake(ts=5000)
    c.send(http_request(b"/api/two"), "GET /api/two, TSval 1100 (stale)",
           opts=ts_opts(1100), kind="insert", drop="l7_stale_timestamp")
    c.send(http_request(b"/admin/x"), "GET /admin/x, TSval 6000",
           opts=ts_opts(6000), reset="l7_deny")
    c.decide("shop-no-admin", "deny")

    # Serial arithmetic (RFC 1982) across the TSval wrap: 0x10 is newer
    # than 0xfffffff0, 0xfffffff8 older than 0x10.
    c = shop(sc, "paws-wrap", FRONT4, 46020)
    c.handshake(ts=0xFFFFFF00)
    c.send(http_request(b"/api/one"), "GET /api/one, TSval 0xfffffff0",
           opts=ts_opts(0xFFFFFFF0))
    c.decide("shop-api")
    c.respond()
    c.send(http_request(b"/api/two"), "GET /api/two, TSval 0x10",
           opts=ts_opts(0x10))
    c.decide("shop-api")
    c.respond()
    three = http_request(b"/api/three")
    c.send(three, "GET /api/three, TSval 0xfffffff8 (stale)",
           opts=ts_opts(0xFFFFFFF8), kind="insert",
           drop="l7_stale_timestamp")
    c.send(three, "GET /api/three, TSval 0x20", opts=ts_opts(0x20))
    c.decide("shop-api")
    c.respond()

    # The order of the checks: a bad checksum before an MD5 option (no
    # reset), an option before a stale TSval (reset).
    c = shop(sc, "check-order", FRONT4, 46021)
    c.handshake(ts=990)
    c.send(http_request(b"/api/one"), "GET /api/one, TSval 1000",
           opts=ts_opts(1000))
    c.decide("shop-api")
    c.respond()
    two = http_request(b"/api/two")
    c.send(two, "GET /api/two, MD5 option, bad TCP checksum",
           opts=ts_opts(1100, more=MD5_SIG), kind="insert", bad="tcp",
           drop="l4_bad_cksum")
    c.send(two, "GET /api/two, URG and TSval 900", opts=ts_opts(900),
           urg=1, reset="l7_ambiguous")

    # The acknowledgement (a receiver discards data without an acceptable
    # ACK): no ACK flag, or an ACK of bytes the backend never sent, is
    # outside what TCP tracking accepts and dropped before inspection; an
    # ACK of less than the backend sent (a request crossing a response)
    # is fine.
    c = shop(sc, "no-ack", FRONT4, 46022)
    c.handshake()
    c.send(http_request(b"/api/items"), "GET /api/items without ACK",
           flags="P", kind="insert", drop="tcp_out_of_window")
    for port, cli in ((46023, FRONT4), (46024, FRONT6)):
        c = shop(sc, "ack-%d" % port, cli, port)
        c.handshake()
        before = c.sseq
        c.send(http_request(b"/api/one"), "GET /api/one")
        c.decide("shop-api")
        c.respond()
        c.send(http_request(b"/api/two"),
               "GET /api/two, acking less than the response",
               ack=before + 10)
        c.decide("shop-api")
        c.respond()
        c.send(http_request(b"/api/three"),
               "GET /api/three, acking 1 byte the backend never sent",
               ack=c.sseq + 1, kind="insert", drop="tcp_out_of_window")


def strict_scenario():
    """The addendum: strict client segments on inspected connections."""
    sc = Scenario("strict", "tests/configs/l7_replay.conf")
    strict_conversations(sc)
    return sc


SCENARIOS = (main_scenario, pending_scenario, after_reset_scenario,
             too_large_scenario, strict_scenario, normal_forms_scenario)


# ----------------------------------------------------------- self-check

def tcp_payload(data):
    """The TCP payload of a frame as sent (scapy would dissect port 443 as
    TLS and rebuild it)."""
    l4 = l4_offset(data)
    if data[12:14] == b"\x86\xdd":
        end = 14 + 40 + struct.unpack_from("!H", data, 18)[0]
    else:
        end = 14 + struct.unpack_from("!H", data, 16)[0]
    return data[l4 + (data[l4 + 12] >> 4) * 4:end]


def rebuilt(data):
    """The frame with its lengths and checksums computed by scapy."""
    fresh = Ether(data)
    if IP in fresh:
        del fresh[IP].chksum, fresh[IP].len, fresh[IP].ihl
    else:
        del fresh[IPv6].plen
    del fresh[TCP].chksum, fresh[TCP].dataofs
    return raw(Ether(raw(fresh)))


def cksum_error(data):
    """How far (one's complement) the TCP checksum of `data` is from the
    right one."""
    at = l4_offset(data) + 16
    got = struct.unpack_from("!H", data, at)[0]
    want = struct.unpack_from("!H", rebuilt(data), at)[0]
    return cksum_adjust(0xFFFF, u16(want), u16(got))


def check_frames(sc):
    """Every frame well-formed (scapy recomputes the same lengths and
    checksums) and every conversation consistent: a client segment marked
    new starts at the next byte of its stream, a retransmission repeats
    bytes already sent, an out-of-order one starts past a gap and is
    sent again in order later; every ACK acknowledges what the other side
    has sent, and the backend acknowledges only what reached it. An
    insertion (a segment the backend would discard) starts at the next
    byte and leaves the streams alone; the frames meant to carry a wrong
    checksum do, and only they."""
    streams = {}    # flow -> {"c": [next, {offset: byte}], "s": [...]}
    reached = {}    # flow -> next client byte the backend has received
    forwarded = {f["in"] for f in sc.forwarded}
    for i, (data, (flow, side, kind)) in enumerate(zip(sc.frames,
                                                       sc.notes)):
        pkt = Ether(data)
        assert raw(pkt) == data, "frame %d does not survive scapy" % i
        if i in sc.bad:
            assert rebuilt(data) != data, \
                "frame %d: its checksum should be wrong" % i
        else:
            assert rebuilt(data) == data, \
                "frame %d: bad length or checksum" % i
        assert len(data) <= 1514, "frame %d: %d bytes" % (i, len(data))
        t = pkt[TCP]
        payload = tcp_payload(data)
        st = streams.setdefault(flow, {})
        me, peer = st.get(side), st.get("s" if side == "c" else "c")
        if "S" in t.flags:
            assert me is None, "frame %d: second SYN" % i
            st[side] = me = [(t.seq + 1) & M32, {}]
            if side == "s":
                assert t.ack == st["c"][0], "frame %d: SYN-ACK ack" % i
            else:
                reached[flow] = me[0]
            continue
        assert me is not None, "frame %d: data before the SYN" % i
        if "A" in t.flags and peer is not None and i not in sc.odd_ack:
            want = peer[0] if side == "c" else reached[flow]
            assert t.ack == want, "frame %d (%s %s): ack %d, want %d" % (
                i, flow, side, t.ack, want)
        nxt, sent = me
        off = (t.seq - nxt) & M32
        if kind == "insert":
            assert off == 0 and payload, "frame %d: not an insertion" % i
            continue
        if kind == "new":
            assert off == 0, "frame %d (%s): seq %d, next %d" % (
                i, flow, t.seq, nxt)
        elif kind == "retrans":
            back = (nxt - t.seq) & M32
            assert 0 < back < 0x80000000 and len(payload) <= back, \
                "frame %d: not a retransmission" % i
        else:
            assert 0 < off < 0x80000000, "frame %d: not past a gap" % i
        for k, b in enumerate(payload):
            pos = (t.seq + k) & M32
            assert sent.setdefault(pos, b) == b, \
                "frame %d: byte %d differs from the first send" % (i, pos)
        if kind == "new":
            me[0] = (nxt + len(payload)) & M32
        end = (t.seq + len(payload)) & M32
        if side == "c" and i in forwarded and \
                0 < (end - reached[flow]) & M32 < 0x80000000:
            assert off == 0 or kind != "new", "frame %d: gap" % i
            reached[flow] = end
    for f in sc.forwarded:
        out = bytes.fromhex(f["out"])
        assert (rebuilt(out) != out) == bool(f.get("bad_cksum")), \
            "%s: the checksums it leaves with" % f["what"]
        if f.get("bad_cksum"):
            # the error it came with, carried over by the NAT
            assert cksum_error(sc.frames[f["in"]]) == cksum_error(out)
    for r in sc.resets:
        for side in ("to_client", "to_backend", "to_client_kept",
                     "to_backend_kept"):
            if side in r:
                out = bytes.fromhex(r[side])
                assert rebuilt(out) == out, "%s %s" % (r["what"], side)
    # every gap was filled
    for flow, st in streams.items():
        nxt, sent = st["c"]
        beyond = [p for p in sent if 0 < (p - nxt) & M32 < 0x80000000]
        assert not beyond, "%s: bytes past a gap never sent in order" % flow
    for hello, sni in ((client_hello("api.example"), "api.example"),
                       (client_hello("api.example", grease=True),
                        "api.example"),
                       (client_hello(None), None),
                       (client_hello(None, grease=True), None),
                       (client_hello("API.Example."), "API.Example."),
                       (client_hello("api.example", pad=MAX_REQUEST_BYTES),
                        "api.example")):
        check_hello(hello, sni)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    manifest = {"gw_mac": GW_MAC, "rules": list(RULES), "scenarios": {}}
    for build in SCENARIOS:
        sc = build()
        manifest["scenarios"][sc.name] = sc.write(args.outdir)
    with open(os.path.join(args.outdir, "l7.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
