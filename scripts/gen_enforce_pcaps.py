#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the captures of the enforcement tests (tests/py/test_enforcement.py)
and, for every frame, what meshgate must do with it: the ways a caller or a
spoofer could walk around a verdict, each one closed.

    gen_enforce_pcaps.py OUTDIR

reuse.pcap    a new connection on the 5-tuple of one the gateway still
              tracks: after a RST, after FINs (TIME_WAIT), after one FIN,
              with a lower and a higher ISN, for HTTP and TLS: each is a
              new connection (a new SYN toward the backend, fresh
              inspection), so the denied path or server name of the second
              is refused. A client that started over before any answer.
window.pcap   a second SYN on a live connection, spoofed RSTs and FINs
              inside and outside the window, data past the window and an
              ACK of bytes never sent: challenge ACKs (RFC 5961) or drops,
              and the connection goes on untouched.
martian.pcap  callers claiming a gateway address as their source (a
              service's virtual address, the gateway's own on either
              side, v4 and v6, TCP and UDP): dropped, never a connection;
              a real caller's connection goes on.
ttl.pcap      TTL / hop limit 1 and 0: dropped, answered with time
              exceeded from the gateway's address, never tracked or
              inspected (the same bytes with a sane TTL are inspected as
              new); everything forwarded has its TTL decremented.
icmp.pcap     ICMP errors quoting tracked connections from both sides, v4
              and v6 (a router's fragmentation needed, the backend's port
              unreachable, the client's, a packet too big), translated;
              errors quoting nothing tracked or outside the window dropped.
frag.pcap     fragmented datagrams (in order, out of order, IPv6, a TCP
              request whose denied path lies in the second fragment) and
              the refused kinds: overlap, duplicate, more than 8, past
              65,535 bytes, a first fragment without its L4 header, one
              never completed.
fragfull.pcap more datagrams at once than the table holds.
mtu-edge.pcap, mtu-mesh.pcap
              (two-arm, enforce_mtu.conf: edge MTU 9000, mesh 1500) jumbo
              datagrams whole where they fit, fragmented where IPv4
              allows, answered with fragmentation needed / packet too big
              where not.
jumbo.pcap    (one-arm, enforce_jumbo.conf: MTU 9000) jumbo datagrams and
              HTTP requests forwarded whole, inspected whole (a denied
              request 5 KB into a segment refused).
enforce.json  per scenario: the frames meshgate must send on each port, in
              order, with their bytes (kind "fwd": exactly; "ctl": a
              gateway-made TCP segment, IP id/TTL/flags/TOS not part of the
              contract; "icmp": exactly; "frags": fragments that must
              reassemble to the given datagram), the drop counters and the
              connections created.

Addresses and MACs are those of tests/configs/enforce*.conf; only
documentation addresses (198.18.0.0/15, 2001:db8::/32). Every run writes
the same bytes.
"""

import argparse
import json
import os
import struct
import sys
from collections import Counter

from scapy.all import (ICMP, IP, TCP, UDP, Ether, ICMPv6DestUnreach,
                       ICMPv6PacketTooBig, ICMPv6TimeExceeded, IPv6,
                       IPv6ExtHdrFragment, Raw, raw)
from scapy.utils import checksum

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_l7_pcaps import client_hello, http_request  # noqa: E402
from gen_mesh_pcaps import write_pcap  # noqa: E402

M32 = 0xFFFFFFFF
GW_MAC, GW_MAC1 = "02:70:63:61:70:00", "02:70:63:61:70:01"
GW = {4: {"cli": "198.18.1.1", "mesh": "198.18.2.1"},
      6: {"cli": "2001:db8:1::1", "mesh": "2001:db8:2::1"}}

CLI_MAC = "02:00:00:00:01:10"
CLI = {4: "198.18.1.10", 6: "2001:db8:1::10"}
UNK_MAC, UNK4 = "02:00:00:00:05:05", "198.18.5.5"
ROUTER_MAC = "02:00:00:00:02:fe"
ROUTER = {4: "198.18.2.254", 6: "2001:db8:2::fe"}

BE_MAC = "02:00:00:00:02:21"
SEC_MAC = "02:00:00:00:02:23"
DNS_MAC = "02:00:00:00:02:53"
# service: (vip by family, port, backend by family, backend port, MAC)
SHOP = ({4: "198.19.0.10", 6: "2001:db8:100::10"}, 80,
        {4: "198.18.2.21", 6: "2001:db8:2::21"}, 8080, BE_MAC)
SECURE = ({4: "198.19.0.60", 6: "2001:db8:100::60"}, 443,
          {4: "198.18.2.23", 6: "2001:db8:2::23"}, 8443, SEC_MAC)
PLAIN = ({4: "198.19.0.70", 6: "2001:db8:100::70"}, 80,
         {4: "198.18.2.21", 6: "2001:db8:2::21"}, 8081, BE_MAC)
DNS = ({4: "198.19.0.53", 6: "2001:db8:100::53"}, 53,
       {4: "198.18.2.53", 6: "2001:db8:2::53"}, 53, DNS_MAC)

FRAGS_MAX = 16                  # fragments.max of enforce.conf
WIN = 64240

ENFORCE = "tests/configs/enforce.conf"
MTU_CONF = "tests/configs/enforce_mtu.conf"
JUMBO_CONF = "tests/configs/enforce_jumbo.conf"


def ip(src, dst, ttl=64, **kw):
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=ttl, **kw)
    return IP(src=src, dst=dst, ttl=ttl, **kw)


def dec_ttl(frame):
    """The frame as a router forwards it: TTL / hop limit one less."""
    f = Ether(raw(frame))
    if IP in f:
        f[IP].ttl -= 1
        del f[IP].chksum
    else:
        f[IPv6].hlim -= 1
    return f


class Scenario:
    """Frames in per port and what must come out of each, in order."""

    def __init__(self, name, config, ports=("edge",)):
        self.name, self.config = name, config
        self.frames = {p: [] for p in ports}
        self.out = {p: [] for p in ports}
        self.drops = Counter()
        self.flows = 0

    def add(self, frame, port="edge"):
        self.frames[port].append(raw(frame))
        return len(self.frames[port]) - 1

    def expect(self, frame, what, kind="fwd", port="edge", **extra):
        entry = {"kind": kind, "what": what, "out": raw(frame).hex()}
        entry.update(extra)
        self.out[port].append(entry)

    def drop(self, frame, reason, port="edge"):
        self.add(frame, port)
        self.drops[reason] += 1

    def manifest(self):
        return {"config": self.config,
                "pcaps": {p: "%s-%s.pcap" % (self.name, p)
                          for p in self.frames},
                "frames": {p: len(f) for p, f in self.frames.items()},
                "out": self.out, "drops": dict(sorted(self.drops.items())),
                "flows_created": self.flows}

    def write(self, outdir):
        m = self.manifest()
        for port, frames in self.frames.items():
            write_pcap(os.path.join(outdir, m["pcaps"][port]), frames)
        return m


class Conn:
    """A TCP connection from the client through a service's VIP to its
    backend; keeps each side's next sequence number and acknowledgement
    so segments are what real stacks send. The gateway's MAC is the one
    of the port each side is on (one-arm: the same)."""

    def __init__(self, sc, svc, fam, sport, isn=1000, sisn=0x50000000,
                 edge_mac=GW_MAC, mesh_mac=GW_MAC, edge="edge",
                 mesh="edge"):
        self.sc = sc
        vip, vport, be, bport, be_mac = svc
        self.fam = fam
        self.cli, self.vip, self.be = (CLI[fam], sport), (vip[fam], vport), \
            (be[fam], bport)
        self.be_mac = be_mac
        self.edge_mac, self.mesh_mac = edge_mac, mesh_mac
        self.edge, self.mesh = edge, mesh
        self.cseq, self.sseq = isn, sisn
        self.ipid = 0x200
        self.df = True

    def _tcp(self, sport, dport, flags, seq, ack, payload, opts):
        t = TCP(sport=sport, dport=dport, flags=flags, seq=seq & M32,
                ack=ack & M32 if "A" in flags else 0, window=WIN,
                options=opts if opts is not None else
                ([("MSS", 1460)] if "S" in flags else []))
        return t / Raw(payload) if payload else t

    def _ipkw(self, ttl):
        if self.fam == 6:
            return {"ttl": ttl}
        self.ipid += 1
        return {"ttl": ttl, "id": self.ipid, "flags": "DF" if self.df else 0}

    def client(self, flags, payload=b"", seq=None, ack=None, ttl=64,
               opts=None, advance=True):
        """(in, out): the client's frame and the DNATed frame the backend
        gets (TTL one less)."""
        seq = self.cseq if seq is None else seq
        ack = self.sseq if ack is None else ack
        kw = self._ipkw(ttl)
        fin = (Ether(src=CLI_MAC, dst=self.edge_mac) /
               ip(self.cli[0], self.vip[0], **kw) /
               self._tcp(self.cli[1], self.vip[1], flags, seq, ack, payload,
                         opts))
        kw["ttl"] = ttl - 1
        fout = (Ether(src=self.mesh_mac, dst=self.be_mac) /
                ip(self.cli[0], self.be[0], **kw) /
                self._tcp(self.cli[1], self.be[1], flags, seq, ack, payload,
                          opts))
        if advance:
            self.cseq = (seq + len(payload) + ("S" in flags) +
                         ("F" in flags)) & M32
        return fin, fout

    def server(self, flags, payload=b"", seq=None, ack=None, ttl=64,
               advance=True):
        seq = self.sseq if seq is None else seq
        ack = self.cseq if ack is None else ack
        kw = self._ipkw(ttl)
        fin = (Ether(src=self.be_mac, dst=self.mesh_mac) /
               ip(self.be[0], self.cli[0], **kw) /
               self._tcp(self.be[1], self.cli[1], flags, seq, ack, payload,
                         None))
        kw["ttl"] = ttl - 1
        fout = (Ether(src=self.edge_mac, dst=CLI_MAC) /
                ip(self.vip[0], self.cli[0], **kw) /
                self._tcp(self.vip[1], self.cli[1], flags, seq, ack,
                          payload, None))
        if advance:
            self.sseq = (seq + len(payload) + ("S" in flags) +
                         ("F" in flags)) & M32
        return fin, fout

    # what the scenario says happens

    def c(self, flags, payload=b"", what="", **kw):
        fin, fout = self.client(flags, payload, **kw)
        self.sc.add(fin, self.edge)
        self.sc.expect(fout, what or "client %s" % flags, port=self.mesh)
        return fin

    def s(self, flags, payload=b"", what="", **kw):
        fin, fout = self.server(flags, payload, **kw)
        self.sc.add(fin, self.mesh)
        self.sc.expect(fout, what or "backend %s" % flags, port=self.edge)
        return fin

    def handshake(self):
        self.c("S", what="SYN")
        self.s("SA", what="SYN-ACK")
        self.c("A", what="ACK")
        self.sc.flows += 1

    def challenge_to_client(self, what):
        """The ACK the backend would send, from the VIP: its next byte,
        its acknowledgement of the client (RFC 5961)."""
        self.sc.expect(
            Ether(src=self.edge_mac, dst=CLI_MAC) /
            ip(self.vip[0], self.cli[0]) /
            TCP(sport=self.vip[1], dport=self.cli[1], flags="A",
                seq=self.sseq, ack=self.cseq, window=0),
            what, kind="ctl", port=self.edge)

    def challenge_to_backend(self, what):
        self.sc.expect(
            Ether(src=self.mesh_mac, dst=self.be_mac) /
            ip(self.cli[0], self.be[0]) /
            TCP(sport=self.cli[1], dport=self.be[1], flags="A",
                seq=self.cseq, ack=self.sseq, window=0),
            what, kind="ctl", port=self.mesh)

    def refused(self, payload, what, reason="l7_deny", **kw):
        """A client segment layer-7 rules refuse: dropped, and a reset
        each way (to the client from the VIP at its ACK; to the backend
        from the client at the first byte it lacks)."""
        seq = self.cseq
        fin, _ = self.client("PA", payload, advance=False, **kw)
        self.sc.add(fin, self.edge)
        self.sc.drops[reason] += 1
        self.sc.expect(Ether(src=self.edge_mac, dst=CLI_MAC) /
                       ip(self.vip[0], self.cli[0]) /
                       TCP(sport=self.vip[1], dport=self.cli[1], flags="RA",
                           seq=self.sseq, ack=(seq + len(payload)) & M32,
                           window=0),
                       what + ": reset to the client", kind="ctl",
                       port=self.edge)
        self.sc.expect(Ether(src=self.mesh_mac, dst=self.be_mac) /
                       ip(self.cli[0], self.be[0]) /
                       TCP(sport=self.cli[1], dport=self.be[1], flags="RA",
                           seq=seq, ack=self.sseq, window=0),
                       what + ": reset to the backend", kind="ctl",
                       port=self.mesh)


def icmp_error(orig, gw, kind, mtu=0, mac=GW_MAC):
    """The ICMP / ICMPv6 error the gateway sends about frame `orig` (as
    received) to its source, from address `gw`: TTL 64, IPv4 id 0, as
    much of the offending packet as RFC 1812 / 4443 allow."""
    o = Ether(raw(orig))
    if IP in o:
        quote = raw(o[IP])[:o[IP].len][:548]
        types = {"ttl": (11, 0), "frag": (3, 4), "admin": (3, 13)}
        t, code = types[kind]
        hdr = struct.pack("!BBHHH", t, code, 0, 0, mtu if kind == "frag"
                          else 0)
        body = hdr + quote
        body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
        return (Ether(src=mac, dst=o.src) /
                IP(src=gw, dst=o[IP].src, ttl=64, id=0, flags=0, proto=1) /
                Raw(body))
    quote = raw(o[IPv6])[:40 + o[IPv6].plen][:1232]
    layer = {"ttl": ICMPv6TimeExceeded(code=0),
             "frag": ICMPv6PacketTooBig(mtu=mtu),
             "admin": ICMPv6DestUnreach(code=1)}[kind]
    return (Ether(src=mac, dst=o.src) /
            IPv6(src=gw, dst=o[IPv6].src, hlim=64) / layer / Raw(quote))


# ------------------------------------------------------------- scenarios

def reuse_scenario():
    """A new connection on a tracked tuple is decided afresh."""
    sc = Scenario("reuse", ENFORCE)
    api, admin = http_request(b"/api/items"), http_request(b"/admin/users")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    # after the client's RST, a lower ISN
    for fam, port in ((4, 41001), (6, 41002)):
        c = Conn(sc, SHOP, fam, port, isn=90000)
        c.handshake()
        c.c("PA", api, what="GET /api/items")
        c.s("PA", ok, what="200")
        c.c("A")
        c.c("R", what="client RST at its next byte")
        c.cseq, c.sseq = 1000, 0x60000000        # below the old ISN
        c.handshake()
        c.refused(admin, "GET /admin/users on the new connection")
    # after FINs both ways (TIME_WAIT), a higher ISN
    c = Conn(sc, SHOP, 4, 41003, isn=1000)
    c.handshake()
    c.c("PA", api)
    c.s("PA", ok)
    c.c("FA", what="client FIN")
    c.s("FA", what="backend FIN")
    c.c("A", what="last ACK")
    c.cseq, c.sseq = 5000000, 0x70000000
    c.handshake()
    c.refused(admin, "GET /admin/users after TIME_WAIT")
    # after one FIN (the client half-closed)
    c = Conn(sc, SHOP, 4, 41004, isn=1000)
    c.handshake()
    c.c("FA", what="client FIN")
    c.s("A", what="backend ACK")
    c.cseq, c.sseq = 777, 0x71000000
    c.handshake()
    c.refused(admin, "GET /admin/users after a FIN")
    # TLS: an allowed server name, closed; the same tuple, a denied one
    c = Conn(sc, SECURE, 4, 41005, isn=3000)
    c.handshake()
    c.c("PA", client_hello("api.example"), what="hello api.example")
    c.c("FA")
    c.s("FA")
    c.c("A")
    c.cseq, c.sseq = 2000, 0x72000000            # lower again
    c.handshake()
    c.refused(client_hello("admin.example"), "hello admin.example")
    c = Conn(sc, SECURE, 6, 41006, isn=3000)
    c.handshake()
    c.c("PA", client_hello("api.example"))
    c.c("R", what="client RST")
    c.cseq, c.sseq = 9000000, 0x73000000         # higher
    c.handshake()
    c.refused(client_hello("admin.example"), "hello admin.example, v6")
    # a client that starts over (new ISN) before the backend answered:
    # the first SYN's flow is replaced, the second SYN goes out
    c = Conn(sc, PLAIN, 4, 41007, isn=100)
    c.c("S", what="SYN, never answered")
    c.cseq = 55555
    c.c("S", what="SYN with another ISN: a new connection")
    c.s("SA")
    c.c("A")
    sc.flows += 2
    return sc


def window_scenario():
    """Segments outside what each side sent and acknowledged."""
    sc = Scenario("window", ENFORCE)
    api = http_request(b"/api/items")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    for fam, port in ((4, 42001), (6, 42002)):
        c = Conn(sc, SHOP, fam, port, isn=10000)
        c.handshake()
        c.c("PA", api)
        c.s("PA", ok)
        c.c("A")
        # a second SYN, another ISN: dropped, the sender challenged
        sc.drop(c.client("S", seq=c.cseq + 99999, advance=False)[0],
                "tcp_challenged")
        c.challenge_to_client("challenge ACK for a SYN")
        # the same ISN again once established: challenged too
        sc.drop(c.client("S", seq=10000, advance=False)[0],
                "tcp_challenged")
        c.challenge_to_client("challenge ACK for an old SYN")
        # RSTs: one past the exact number, in the window: challenged
        sc.drop(c.client("R", seq=c.cseq + 1, advance=False)[0],
                "tcp_challenged")
        c.challenge_to_client("challenge ACK for a RST off by one")
        sc.drop(c.server("R", seq=c.sseq + 5, advance=False)[0],
                "tcp_challenged")
        c.challenge_to_backend("challenge ACK for a backend RST")
        # far outside: dropped
        sc.drop(c.client("RA", seq=c.cseq + 3000000, advance=False)[0],
                "tcp_out_of_window")
        sc.drop(c.client("FA", seq=c.cseq + 3000000, advance=False)[0],
                "tcp_out_of_window")
        # data past the backend's window, and an ACK of bytes never sent
        sc.drop(c.client("PA", b"x" * 10, seq=c.cseq + WIN + 1,
                         advance=False)[0], "tcp_out_of_window")
        sc.drop(c.client("PA", api, ack=c.sseq + 1, advance=False)[0],
                "tcp_out_of_window")
        # data older than the window
        sc.drop(c.client("PA", b"y" * 10, seq=c.cseq - 3 * WIN,
                         advance=False)[0], "tcp_out_of_window")
        # the connection goes on, inspected as before
        c.c("PA", api, what="GET /api/items after the attempts")
        c.refused(http_request(b"/admin"), "GET /admin still refused")
    # an L4-only connection: the same rules, without inspection
    c = Conn(sc, PLAIN, 4, 42003, isn=5)
    c.handshake()
    c.c("PA", b"hello")
    c.s("A")
    # below the receiver's next byte: outside, dropped; above: challenged
    sc.drop(c.client("R", seq=c.cseq - 1, advance=False)[0],
            "tcp_out_of_window")
    sc.drop(c.client("R", seq=c.cseq + 100, advance=False)[0],
            "tcp_challenged")
    c.challenge_to_client("challenge ACK, plain")
    c.c("PA", b"still here")
    c.s("PA", b"yes")
    c.c("R", what="an exact RST")
    # nothing before the SYN-ACK but the handshake
    c = Conn(sc, PLAIN, 4, 42004, isn=5)
    c.c("S")
    sc.flows += 1
    sc.drop(c.client("PA", b"early", advance=False)[0], "tcp_out_of_window")
    sc.drop(c.server("SA", ack=c.cseq + 1, advance=False)[0],
            "tcp_out_of_window")
    return sc


def ttl_scenario():
    sc = Scenario("ttl", ENFORCE)
    # a SYN that would die behind the gateway: no connection
    for fam, ttl, port in ((4, 1, 43001), (4, 0, 43002), (6, 1, 43003)):
        c = Conn(sc, PLAIN, fam, port)
        fin, _ = c.client("S", ttl=ttl, advance=False)
        sc.drop(fin, "ttl_exceeded")
        sc.expect(icmp_error(fin, GW[fam]["cli"], "ttl"),
                  "time exceeded, TTL %d" % ttl, kind="icmp")
    # on an inspected connection: a TTL-1 segment is not seen, so other
    # bytes at its sequence number are inspected (and the denied ones
    # refused), whichever came first
    for fam, port in ((4, 43004), (6, 43005)):
        c = Conn(sc, SHOP, fam, port, isn=400)
        c.handshake()
        fin, _ = c.client("PA", http_request(b"/admin"), ttl=1,
                          advance=False)
        sc.drop(fin, "ttl_exceeded")
        sc.expect(icmp_error(fin, GW[fam]["cli"], "ttl"),
                  "time exceeded for GET /admin", kind="icmp")
        c.c("PA", http_request(b"/api/a"), what="GET /api/a, same seq")
        fin, _ = c.client("PA", http_request(b"/api/b"), ttl=1,
                          advance=False)
        sc.drop(fin, "ttl_exceeded")
        sc.expect(icmp_error(fin, GW[fam]["cli"], "ttl"),
                  "time exceeded for GET /api/b", kind="icmp")
        c.refused(http_request(b"/admin/b"), "GET /admin/b, same seq")
    # TTL 2 leaves with 1
    c = Conn(sc, PLAIN, 4, 43006)
    c.c("S", ttl=2, what="SYN with TTL 2 leaves with 1")
    sc.flows += 1
    return sc


def martian_scenario():
    """No caller has the gateway's address or a service's: refused, or
    the backend's answers would come back to the gateway itself."""
    sc = Scenario("martian", ENFORCE)
    for fam in (4, 6):
        for src, sport in ((SHOP[0][fam], 80), (GW[fam]["cli"], 43100),
                           (GW[fam]["mesh"], 43101), (DNS[0][fam], 53)):
            sc.drop(Ether(src=CLI_MAC, dst=GW_MAC) /
                    ip(src, PLAIN[0][fam]) /
                    TCP(sport=sport, dport=80, flags="S", seq=7,
                        window=WIN, options=[("MSS", 1460)]),
                    "martian_source")
        sc.drop(Ether(src=CLI_MAC, dst=GW_MAC) /
                ip(SECURE[0][fam], DNS[0][fam]) /
                UDP(sport=443, dport=53) / Raw(b"query"), "martian_source")
    # a caller's own connection is untouched
    Conn(sc, PLAIN, 4, 43102).handshake()
    return sc


def quoted(frame, n=None, **change):
    """The IP packet of `frame` as a translated ICMP error quotes it:
    fields changed as the NAT changes them, checksums valid, the first
    `n` bytes."""
    p = Ether(raw(frame))
    l3 = p[IP] if IP in p else p[IPv6]
    for field, value in change.items():
        if field in ("sport", "dport"):
            setattr(l3.payload, field, value)
        else:
            setattr(l3, field, value)
    if IP in p:
        del l3.chksum
    del l3.payload.chksum
    data = raw(l3)
    return Raw(data[:n] if n else data)


def icmp_scenario():
    sc = Scenario("icmp", ENFORCE)
    vip4, vip6 = PLAIN[0][4], PLAIN[0][6]
    # TCP v4: a router on the backend's side says fragmentation needed
    # about the client's (DNATed) segment: to the client, the VIP and its
    # port quoted, the router's address kept
    c = Conn(sc, PLAIN, 4, 44001, isn=100)
    c.handshake()
    big, big_out = c.client("PA", b"z" * 1200)
    sc.add(big)
    sc.expect(big_out, "1200 bytes")
    for n, ident in ((28, 5), (None, 6)):
        sc.add(Ether(src=ROUTER_MAC, dst=GW_MAC) /
               IP(src=ROUTER[4], dst=CLI[4], ttl=64, id=ident) /
               ICMP(type=3, code=4, nexthopmtu=1000) /
               quoted(big_out, n))
        sc.expect(Ether(src=GW_MAC, dst=CLI_MAC) /
                  IP(src=ROUTER[4], dst=CLI[4], ttl=63, id=ident) /
                  ICMP(type=3, code=4, nexthopmtu=1000) /
                  quoted(big_out, n, dst=vip4, dport=80),
                  "frag needed, %s quote, to the client" %
                  ("28-byte" if n else "whole"), kind="icmp")
    # UDP v4: the backend itself says port unreachable: from the VIP
    qin = (Ether(src=CLI_MAC, dst=GW_MAC) / IP(src=CLI[4], dst=DNS[0][4],
                                                ttl=64, id=9) /
           UDP(sport=44002, dport=53) / Raw(b"query"))
    qout = (Ether(src=GW_MAC, dst=DNS_MAC) / IP(src=CLI[4], dst=DNS[2][4],
                                                 ttl=63, id=9) /
            UDP(sport=44002, dport=53) / Raw(b"query"))
    sc.add(qin)
    sc.expect(qout, "query")
    sc.flows += 1
    sc.add(Ether(src=DNS_MAC, dst=GW_MAC) /
           IP(src=DNS[2][4], dst=CLI[4], ttl=64, id=11) /
           ICMP(type=3, code=3) / quoted(qout))
    sc.expect(Ether(src=GW_MAC, dst=CLI_MAC) /
              IP(src=DNS[0][4], dst=CLI[4], ttl=63, id=11) /
              ICMP(type=3, code=3) / quoted(qout, dst=DNS[0][4]),
              "port unreachable from the backend: from the VIP",
              kind="icmp")
    # the client says port unreachable about the reply: to the backend
    rin = (Ether(src=DNS_MAC, dst=GW_MAC) / IP(src=DNS[2][4], dst=CLI[4],
                                                ttl=64, id=12) /
           UDP(sport=53, dport=44002) / Raw(b"answer"))
    rout = (Ether(src=GW_MAC, dst=CLI_MAC) / IP(src=DNS[0][4], dst=CLI[4],
                                                 ttl=63, id=12) /
            UDP(sport=53, dport=44002) / Raw(b"answer"))
    sc.add(rin)
    sc.expect(rout, "answer")
    sc.add(Ether(src=CLI_MAC, dst=GW_MAC) /
           IP(src=CLI[4], dst=DNS[0][4], ttl=64, id=13) /
           ICMP(type=3, code=3) / quoted(rout))
    sc.expect(Ether(src=GW_MAC, dst=DNS_MAC) /
              IP(src=CLI[4], dst=DNS[2][4], ttl=63, id=13) /
              ICMP(type=3, code=3) / quoted(rout, src=DNS[2][4]),
              "port unreachable from the client: to the backend",
              kind="icmp")
    # v6: packet too big from a router about the client's segment
    c6 = Conn(sc, PLAIN, 6, 44003, isn=200)
    c6.handshake()
    big6, big6_out = c6.client("PA", b"w" * 1100)
    sc.add(big6)
    sc.expect(big6_out, "1100 bytes v6")
    sc.add(Ether(src=ROUTER_MAC, dst=GW_MAC) /
           IPv6(src=ROUTER[6], dst=CLI[6], hlim=64) /
           ICMPv6PacketTooBig(mtu=1280) / quoted(big6_out))
    sc.expect(Ether(src=GW_MAC, dst=CLI_MAC) /
              IPv6(src=ROUTER[6], dst=CLI[6], hlim=63) /
              ICMPv6PacketTooBig(mtu=1280) /
              quoted(big6_out, dst=vip6, dport=80),
              "packet too big, translated", kind="icmp")
    # v6: the client says unreachable about the backend's segment
    data6, data6_out = c6.server("PA", b"v6 data")
    sc.add(data6)
    sc.expect(data6_out, "v6 data")
    sc.add(Ether(src=CLI_MAC, dst=GW_MAC) /
           IPv6(src=CLI[6], dst=vip6, hlim=64) /
           ICMPv6DestUnreach(code=4) / quoted(data6_out))
    sc.expect(Ether(src=GW_MAC, dst=BE_MAC) /
              IPv6(src=CLI[6], dst=PLAIN[2][6], hlim=63) /
              ICMPv6DestUnreach(code=4) /
              quoted(data6_out, src=PLAIN[2][6], sport=8081),
              "unreachable from the client, v6: to the backend",
              kind="icmp")
    # quoting nothing tracked, or a sequence number far off
    stray = (IP(src=CLI[4], dst=PLAIN[2][4]) /
             TCP(sport=44999, dport=8081, seq=1))
    sc.drop(Ether(src=ROUTER_MAC, dst=GW_MAC) /
            IP(src=ROUTER[4], dst=CLI[4]) / ICMP(type=3, code=4) /
            Raw(raw(stray)[:28]), "icmp_unmatched")
    far = Ether(raw(big_out))
    far[TCP].seq = (far[TCP].seq + 5000000) & M32
    sc.drop(Ether(src=ROUTER_MAC, dst=GW_MAC) /
            IP(src=ROUTER[4], dst=CLI[4]) / ICMP(type=3, code=4) /
            quoted(far, 28), "icmp_unmatched")
    return sc


def fragments(pkt, size, order=None):
    """IPv4 or IPv6 fragments of `pkt` (an IP layer) carrying `size` bytes
    of data each, Ethernet from the client, in `order`."""
    pkt = pkt.__class__(raw(pkt))     # every field as on the wire
    if IP in pkt:
        parts = []
        data = raw(pkt[IP].payload)
        hdr = pkt[IP]
        for off in range(0, len(data), size):
            f = hdr.copy()
            f.remove_payload()
            f.flags = "MF" if off + size < len(data) else 0
            f.frag = off // 8
            del f.len, f.chksum
            parts.append(f / Raw(data[off:off + size]))
    else:
        h = pkt[IPv6]
        data = raw(h.payload)
        parts = []
        for off in range(0, len(data), size):
            f = IPv6(src=h.src, dst=h.dst, hlim=h.hlim, nh=44)
            parts.append(f / IPv6ExtHdrFragment(
                nh=h.nh, offset=off // 8, m=int(off + size < len(data)),
                id=0x1234) / Raw(data[off:off + size]))
    frames = [Ether(src=CLI_MAC, dst=GW_MAC) / p for p in parts]
    return [frames[i] for i in (order or range(len(frames)))]


def udp_datagram(fam, sport, size, payload_char=b"d", ident=77):
    """A DNS-service datagram, as sent (to the VIP) and as the backend
    must get it (DNATed, TTL one less)."""
    body = (payload_char * size)
    kw = {"id": ident} if fam == 4 else {}
    sent = ip(CLI[fam], DNS[0][fam], **kw) / UDP(sport=sport, dport=53) / \
        Raw(body)
    kw["ttl"] = 63
    got = ip(CLI[fam], DNS[2][fam], **kw) / UDP(sport=sport, dport=53) / \
        Raw(body)
    return sent, got


def frag_scenario():
    sc = Scenario("frag", ENFORCE)
    # v4, in order and out of order; v6: reassembled, DNATed, fragmented
    # again no larger than they came
    cases = ((4, 45001, None), (4, 45002, [2, 0, 1]), (6, 45003, [1, 2, 0]))
    for fam, sport, order in cases:
        sent, got = udp_datagram(fam, sport, 3000, ident=sport & 0xFFFF)
        for f in fragments(sent, 1232, order):
            sc.add(f)
        sc.expect(Ether(src=GW_MAC, dst=DNS_MAC) / got,
                  "datagram of 3 fragments (IPv%d)" % fam, kind="frags",
                  max_ip_len=1232 + (20 if fam == 4 else 48))
        sc.flows += 1
    # a TCP request whose denied path is in the second fragment
    c = Conn(sc, SHOP, 4, 45004, isn=1000)
    c.handshake()
    seq = c.cseq
    fin, _ = c.client("PA", http_request(b"/admin/hidden-in-fragment-two"),
                      advance=False)
    fin[IP].flags = 0
    del fin[IP].chksum
    # 24 bytes a fragment: the first holds the TCP header and "GET "
    for f in fragments(Ether(raw(fin)), 24):
        sc.add(f)
    sc.drops["l7_deny"] += 1
    plen = len(fin[TCP].payload)
    sc.expect(Ether(src=GW_MAC, dst=CLI_MAC) /
              ip(c.vip[0], c.cli[0]) /
              TCP(sport=80, dport=45004, flags="RA", seq=c.sseq,
                  ack=seq + plen, window=0),
              "reset to the client", kind="ctl")
    sc.expect(Ether(src=GW_MAC, dst=BE_MAC) /
              ip(c.cli[0], c.be[0]) /
              TCP(sport=45004, dport=8080, flags="RA", seq=seq,
                  ack=c.sseq, window=0),
              "reset to the backend", kind="ctl")
    # refused: overlapping, duplicated, more than 8 (each: every
    # fragment of the datagram), past 65,535, a short first fragment
    sent, _ = udp_datagram(4, 45010, 3000, ident=10)
    parts = fragments(sent, 1008)
    assert len(parts) == 3
    over = Ether(raw(parts[1]))
    over[IP].frag -= 1
    del over[IP].chksum
    for f in (parts[0], over, parts[1], parts[2]):
        sc.drop(f, "ipv4_fragment")
    # a repeated first fragment: the datagram so far goes; the rest start
    # a new one that never completes
    sent, _ = udp_datagram(4, 45011, 3000, ident=11)
    parts = fragments(sent, 1008)
    for f in (parts[0], parts[0]):
        sc.drop(f, "ipv4_fragment")
    for f in (parts[1], parts[2]):
        sc.drop(f, "frag_timeout")
    # ten fragments: the eighth stored one overflows (one first, six in
    # between, this one), the last two never complete
    sent, _ = udp_datagram(4, 45012, 1000, ident=12)
    parts = fragments(sent, 104)
    assert len(parts) == 10
    for f in parts[:8]:
        sc.drop(f, "ipv4_fragment")
    for f in parts[8:]:
        sc.drop(f, "frag_timeout")
    # a fragment of a datagram never completed
    sent, _ = udp_datagram(6, 45013, 3000)
    sc.drop(fragments(sent, 1000)[1], "frag_timeout")
    sc.drop(Ether(src=CLI_MAC, dst=GW_MAC) /
            IP(src=CLI[4], dst=DNS[0][4], id=13, frag=8189, proto=17) /
            Raw(b"b" * 64), "frag_too_big")
    sc.drop(Ether(src=CLI_MAC, dst=GW_MAC) /
            IP(src=CLI[4], dst=PLAIN[0][4], id=14, flags="MF", proto=6) /
            Raw(raw(TCP(sport=45014, dport=80))[:16]), "frag_first_short")
    return sc


def fragfull_scenario():
    """More datagrams at once than the table holds (fragments.max): the
    ones that found no room are counted as such, the rest time out."""
    sc = Scenario("fragfull", ENFORCE)
    for i in range(FRAGS_MAX + 4):
        sent, _ = udp_datagram(4, 45100 + i, 1000, ident=100 + i)
        sc.add(fragments(sent, 504)[0])
    sc.drops["frag_table_full+frag_timeout"] = FRAGS_MAX + 4
    return sc


def mtu_scenario():
    """Two-arm, edge MTU 9000, mesh 1500."""
    sc = Scenario("mtu", MTU_CONF, ports=("edge", "mesh"))
    kw = dict(edge_mac=GW_MAC, mesh_mac=GW_MAC1, edge="edge", mesh="mesh")
    # a jumbo frame toward the mesh: IPv4 without DF is fragmented
    sent, got = udp_datagram(4, 46001, 8000, ident=1)
    sc.add(Ether(src=CLI_MAC, dst=GW_MAC) / sent, "edge")
    sc.expect(Ether(src=GW_MAC1, dst=DNS_MAC) / got, "8000 bytes, no DF",
              kind="frags", port="mesh", max_ip_len=1500)
    sc.flows += 1
    # with DF: fragmentation needed, from the edge address, MTU 1500
    sent, _ = udp_datagram(4, 46002, 8000, ident=2)
    sent[IP].flags = "DF"
    f = Ether(src=CLI_MAC, dst=GW_MAC) / sent
    sc.drop(f, "mtu_exceeded", "edge")
    sc.flows += 1
    sc.expect(icmp_error(f, GW[4]["cli"], "frag", 1500), "frag needed",
              kind="icmp", port="edge")
    # IPv6: packet too big
    sent, _ = udp_datagram(6, 46003, 8000)
    f = Ether(src=CLI_MAC, dst=GW_MAC) / sent
    sc.drop(f, "mtu_exceeded", "edge")
    sc.flows += 1
    sc.expect(icmp_error(f, GW[6]["cli"], "frag", 1500), "packet too big",
              kind="icmp", port="edge")
    # what fits goes whole: a 1400-byte datagram, and the backend's
    # replies to the edge, jumbo or not
    sent, got = udp_datagram(4, 46004, 1400, ident=4)
    sc.add(Ether(src=CLI_MAC, dst=GW_MAC) / sent, "edge")
    sc.expect(Ether(src=GW_MAC1, dst=DNS_MAC) / got, "1400 bytes",
              port="mesh")
    sc.flows += 1
    return sc


def jumbo_scenario():
    """One-arm, MTU 9000: jumbo frames go whole, inspected whole."""
    sc = Scenario("jumbo", JUMBO_CONF)
    sent, got = udp_datagram(4, 47001, 8900, ident=1)
    sc.add(Ether(src=CLI_MAC, dst=GW_MAC) / sent)
    sc.expect(Ether(src=GW_MAC, dst=DNS_MAC) / got, "8900-byte datagram")
    sc.flows += 1
    sent, got = udp_datagram(6, 47002, 8900)
    sc.add(Ether(src=CLI_MAC, dst=GW_MAC) / sent)
    sc.expect(Ether(src=GW_MAC, dst=DNS_MAC) / got, "8900-byte v6 datagram")
    sc.flows += 1
    # a 2.5 KB request head, allowed; pipelined requests where the
    # denied one starts past 5 KB of the segment
    pad = b"X-Pad: " + b"p" * 2400 + b"\r\n"
    c = Conn(sc, SHOP, 4, 47003, isn=1)
    c.handshake()
    c.c("PA", http_request(b"/api/jumbo", headers=pad),
        what="2.5 KB request, allowed")
    c.s("A", what="backend ACK")
    c.refused(http_request(b"/api/x", headers=pad) +
              http_request(b"/api/y", headers=pad) +
              http_request(b"/admin/after-5kb"),
              "pipelined: GET /admin past 5 KB")
    c6 = Conn(sc, SHOP, 6, 47004, isn=1)
    c6.handshake()
    c6.c("PA", http_request(b"/api/a", method=b"POST",
                            headers=b"Content-Length: 5000\r\n",
                            body=b"q" * 5000),
         what="a request with a 5 KB body")
    c6.s("PA", b"HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n" +
         b"b" * 6000, what="6 KB response")
    return sc


SCENARIOS = (reuse_scenario, window_scenario, martian_scenario,
             ttl_scenario, icmp_scenario,
             frag_scenario, fragfull_scenario, mtu_scenario, jumbo_scenario)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    manifest = {}
    for make in SCENARIOS:
        sc = make()
        manifest[sc.name] = sc.write(args.outdir)
    with open(os.path.join(args.outdir, "enforce.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
