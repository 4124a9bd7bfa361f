#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the deterministic captures of the service-mesh replay tests and
what meshgate must do with every frame of them.

    gen_mesh_pcaps.py OUTDIR

For each scenario NAME: NAME.pcap (NAME-edge.pcap and NAME-mesh.pcap for
two-arm) and one mesh.json that lists, per scenario, the frames meshgate
must send (in order, with their bytes), the replies it must generate, the
drop counters and the number of flows it must create.

The addresses, MACs, services and policies are those of
tests/configs/mesh_*.conf: change both together. A single capture cannot
react to meshgate's output, so every service here has one backend per
address family (or a static neighbour) and the backend's replies can sit
in the capture after the client's packets: meshgate processes a capture in
order, so the flow exists when the reply comes.

Every run writes the same bytes: fixed timestamps and sequence numbers,
and only documentation addresses (198.18.0.0/15, 2001:db8::/32).
"""

import argparse
import json
import os
import sys
from collections import Counter

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, ICMPv6DestUnreach,
                       ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA,
                       ICMPv6ND_NS,
                       ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr,
                       IPOption_NOP, IPv6, Raw)
from scapy.utils6 import in6_getnsma, in6_getnsmac, inet_pton
import socket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_pcaps import write_pcap  # noqa: E402,F401  (gen_l7/metrics too)

BCAST = "ff:ff:ff:ff:ff:ff"

# The gateway: net_pcap0 and net_pcap1 MACs (DPDK's pcap PMD).
GW_MAC = "02:70:63:61:70:00"
GW_MAC1 = "02:70:63:61:70:01"
GW4 = {"cli": "198.18.1.1", "dev": "198.18.9.1", "mesh": "198.18.2.1"}
GW6 = {"cli": "2001:db8:1::1", "mesh": "2001:db8:2::1"}

# Callers.
CLI_MAC, CLI4, CLI6 = "02:00:00:00:01:10", "198.18.1.10", "2001:db8:1::10"
DEV_MAC, DEV4 = "02:00:00:00:09:10", "198.18.9.10"
UNK_MAC, UNK4, UNK6 = "02:00:00:00:05:05", "198.18.5.5", "2001:db8:5::5"

# Backends (static neighbours in the configs).
B1_MAC, B1_4, B1_6 = "02:00:00:00:02:21", "198.18.2.21", "2001:db8:2::21"
B2_MAC, B2_4 = "02:00:00:00:02:22", "198.18.2.22"
DNS_MAC, DNS4 = "02:00:00:00:02:53", "198.18.2.53"
ROUTER_MAC, ROUTER4 = "02:00:00:00:02:fe", "198.18.2.254"   # two-arm gw4
FAR4 = "198.18.30.5"            # off-link backend (no_route / via gateway4)
DYN_MAC, DYN4, DYN6 = "02:00:00:00:02:99", "198.18.2.99", "2001:db8:2::99"
ATK_MAC = "02:00:00:00:06:66"   # a spoofer on the link

# Services (VIPs).
SHOP4, SHOP6 = "198.19.0.10", "2001:db8:100::10"    # tcp 80, 8000-8099
SANDBOX4 = "198.19.0.20"                            # tcp 80, env dev
FARAWAY4 = "198.19.0.30"                            # tcp 80, off-link
DYN_VIP4, DYN_VIP6 = "198.19.0.40", "2001:db8:100::40"  # no neighbour
PAIR4 = "198.19.0.50"                               # canary 75/25
KEEP4, FIXED4 = "198.19.0.60", "198.19.0.61"        # mesh_health.conf
DNS_VIP = "198.19.0.53"                             # udp 53
NOWHERE4, NOWHERE6 = "198.18.7.7", "2001:db8:7::7"  # no service

FLOOD_SYNS = 1100               # distinct SYNs in syn_flood.pcap
DENY_FLOOD = 3000               # refused SYNs in deny_flood.pcap
DNS_VIP6 = "2001:db8:100::53"   # udp 53, mesh_deny.conf
CANARY_FLOWS = 400
CANARY_WEIGHTS = {B1_4: 75, B2_4: 25}


def ipl(src, dst, **kw):
    """An IPv4 or IPv6 header by the form of the addresses."""
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=kw.pop("ttl", 64), **kw)
    return IP(src=src, dst=dst, ttl=kw.pop("ttl", 64), id=kw.pop("id", 1),
              **kw)


class Scenario:
    """Frames in, and what meshgate must do with each, in input order."""

    def __init__(self, name, config, ports=("edge",)):
        self.name, self.config = name, config
        self.frames = {p: [] for p in ports}
        self.forwarded = []     # {"in", "port", "out", "what"} in order
        self.local = []         # replies the gateway generates
        self.drops = Counter()
        self.flows = 0
        # frames consumed with nothing sent for them (an ARP reply to
        # the gateway): "local". An answered request becomes its reply.
        self.absorbed = 0
        self.extra = {}

    def _add(self, frame, port):
        data = bytes(frame)
        self.frames[port].append(data)
        return len(self.frames[port]) - 1

    def fwd(self, frame, out, what, port="edge", out_port=None):
        i = self._add(frame, port)
        self.forwarded.append({"in": i, "in_port": port,
                               "port": out_port or port,
                               "out": bytes(out).hex(), "what": what})
        return i

    def drop(self, frame, reason, what, port="edge"):
        i = self._add(frame, port)
        self.drops[reason] += 1
        return i

    def reply(self, frame, kind, out, what, port="edge", out_port=None):
        """A frame the gateway answers itself (ARP, ND, echo)."""
        i = self._add(frame, port)
        self.local.append({"in": i, "in_port": port,
                           "port": out_port or port, "kind": kind,
                           "out": bytes(out).hex(), "what": what})
        return i

    def deny(self, frame, out, what, port="edge"):
        """Refused by the policy (policy_deny) and, when `out` is not
        None, answered with it (deny_action "reset": a RST or an ICMP
        administratively prohibited)."""
        i = self.drop(frame, "policy_deny", what, port)
        if out is not None:
            self.local.append({"in": i, "in_port": port, "port": port,
                               "kind": "deny", "out": bytes(out).hex(),
                               "what": what})
        return i

    def emit(self, kind, out, what, after, port="edge"):
        """A frame the gateway originates (ARP request, NS) after input
        frame `after`."""
        self.local.append({"in": after, "in_port": port, "port": port,
                           "kind": kind, "out": bytes(out).hex(),
                           "what": what})

    def park(self, frame, what, port="edge"):
        """Held by the gateway (waiting for a neighbour); the caller
        says what becomes of it."""
        return self._add(frame, port)

    def absorb(self, frame, what, port="edge"):
        """Consumed without output and without a drop (an ARP reply)."""
        self.absorbed += 1
        return self._add(frame, port)

    def release(self, i, out, what, port="edge"):
        """Parked input frame `i` leaves, as `out`, once its next hop
        answers (at the end of a poll round: not in input order)."""
        self.forwarded.append({"in": i, "in_port": port, "port": port,
                               "out": bytes(out).hex(), "what": what})

    def manifest(self):
        files = {p: ("%s.pcap" % self.name if len(self.frames) == 1 else
                     "%s-%s.pcap" % (self.name, p)) for p in self.frames}
        m = {"config": self.config, "pcaps": files,
             "frames": {p: len(f) for p, f in self.frames.items()},
             "forwarded": self.forwarded, "local": self.local,
             "drops": dict(sorted(self.drops.items())),
             "flows_created": self.flows,
             "local_absorbed": self.absorbed}
        m.update(self.extra)
        return m

    def write(self, outdir):
        m = self.manifest()
        for port, frames in self.frames.items():
            write_pcap(os.path.join(outdir, m["pcaps"][port]), frames)
        return m


class Conn:
    """One client connection through a VIP to a known backend: builds the
    client's and the backend's frames and the frames the gateway must send
    for each (DNAT toward the backend, reverse NAT toward the client)."""

    def __init__(self, proto, cli, vip, backend, cli_mac=CLI_MAC,
                 be_mac=B1_MAC, gw_edge=GW_MAC, gw_mesh=GW_MAC, ip_kw=None):
        self.proto = proto
        self.cli, self.vip, self.be = cli, vip, backend  # (addr, port)
        self.cli_mac, self.be_mac = cli_mac, be_mac
        self.gw_edge, self.gw_mesh = gw_edge, gw_mesh
        self.ip_kw = ip_kw or {}
        self.cseq, self.sseq = 1000, 5000
        self.ipid = 100

    def _l4(self, sport, dport, flags, payload, seq, ack, **kw):
        if self.proto == "udp":
            layer = UDP(sport=sport, dport=dport, **kw)
        else:
            opts = [("MSS", 1460)] if "S" in flags else []
            layer = TCP(sport=sport, dport=dport, flags=flags, seq=seq,
                        ack=ack, window=65535, options=opts)
        return layer / Raw(payload) if payload else layer

    def client(self, flags="", payload=b"", **kw):
        """(in, out): the client's frame and its DNATed form."""
        self.ipid += 1
        ack = self.sseq if "A" in flags else 0
        l4 = lambda dst: self._l4(self.cli[1], dst[1], flags, payload,
                                  self.cseq, ack, **kw)
        ipkw = dict(self.ip_kw)
        if ":" not in self.cli[0]:
            ipkw["id"] = self.ipid
        fin = (Ether(src=self.cli_mac, dst=self.gw_edge) /
               ipl(self.cli[0], self.vip[0], **ipkw) / l4(self.vip))
        fout = (Ether(src=self.gw_mesh, dst=self.be_mac) /
                ipl(self.cli[0], self.be[0], **ipkw) / l4(self.be))
        self.cseq += len(payload) + ("S" in flags) + ("F" in flags)
        return fin, fout

    def server(self, flags="", payload=b"", **kw):
        """(in, out): the backend's frame and its reverse-NATed form."""
        self.ipid += 1
        ack = self.cseq if "A" in flags else 0
        l4 = lambda src: self._l4(src[1], self.cli[1], flags, payload,
                                  self.sseq, ack, **kw)
        ipkw = {"id": self.ipid} if ":" not in self.cli[0] else {}
        fin = (Ether(src=self.be_mac, dst=self.gw_mesh) /
               ipl(self.be[0], self.cli[0], **ipkw) / l4(self.be))
        fout = (Ether(src=self.gw_edge, dst=self.cli_mac) /
                ipl(self.vip[0], self.cli[0], **ipkw) / l4(self.vip))
        self.sseq += len(payload) + ("S" in flags) + ("F" in flags)
        return fin, fout

    def syn(self):
        return self.client("S")


def tcp_session(sc, conn, what, request, response):
    """Handshake, request, response and FIN both ways: 8 frames, all
    forwarded."""
    steps = [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""),
             ("c", "PA", request), ("s", "PA", response),
             ("c", "FA", b""), ("s", "FA", b""), ("c", "A", b"")]
    for side, flags, payload in steps:
        fin, fout = (conn.client if side == "c" else conn.server)(
            flags, payload)
        sc.fwd(fin, fout, "%s %s %s" % (what, side, flags))
    sc.flows += 1


# ------------------------------------------------------ gateway's replies

def arp_request(src_mac, src_ip, target, dst_mac=BCAST):
    return (Ether(src=src_mac, dst=dst_mac) /
            ARP(op=1, hwsrc=src_mac, psrc=src_ip, hwdst="00:00:00:00:00:00",
                pdst=target))


def arp_reply(gw_mac, ip, to_mac, to_ip):
    return (Ether(src=gw_mac, dst=to_mac) /
            ARP(op=2, hwsrc=gw_mac, psrc=ip, hwdst=to_mac, pdst=to_ip))


def ns(src_mac, src_ip, target):
    group = in6_getnsma(inet_pton(socket.AF_INET6, target))
    return (Ether(src=src_mac, dst=in6_getnsmac(group)) /
            IPv6(src=src_ip, dst=in6_getnsma_str(target), hlim=255) /
            ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=src_mac))


def in6_getnsma_str(addr):
    return socket.inet_ntop(socket.AF_INET6, in6_getnsma(
        inet_pton(socket.AF_INET6, addr)))


def arp_claim(mac, ip, op=2, tpa=None, dst=GW_MAC):
    """An ARP frame from `mac` saying `ip` is at `mac`: a reply to the
    gateway's mesh address, or (tpa = ip) a gratuitous announcement."""
    tpa = tpa or GW4["mesh"]
    return (Ether(src=mac, dst=dst) /
            ARP(op=op, hwsrc=mac, psrc=ip,
                hwdst=GW_MAC if op == 2 and dst == GW_MAC else
                "00:00:00:00:00:00", pdst=tpa))


def na_claim(mac, target, solicited, override=True, dst=None):
    """An NA from `target` saying it is at `mac`: solicited (to the
    gateway's mesh address) or unsolicited (to all nodes)."""
    dst = dst or (GW6["mesh"] if solicited else "ff02::1")
    return (Ether(src=mac, dst=GW_MAC if solicited else "33:33:00:00:00:01") /
            IPv6(src=target, dst=dst, hlim=255) /
            ICMPv6ND_NA(tgt=target, R=0, S=int(solicited), O=int(override)) /
            ICMPv6NDOptDstLLAddr(lladdr=mac))


def na(gw_mac, target, to_mac, to_ip):
    """Solicited NA; the test ignores the R and O flags (not in the
    contract) but requires S, hop limit 255 and the target's MAC."""
    return (Ether(src=gw_mac, dst=to_mac) /
            IPv6(src=target, dst=to_ip, hlim=255) /
            ICMPv6ND_NA(tgt=target, R=0, S=1, O=1) /
            ICMPv6NDOptDstLLAddr(lladdr=gw_mac))


def echo(src_mac, src, dst, ident, seq, payload, gw_mac=GW_MAC):
    """(request, reply); the test ignores the reply's TTL, IP id and
    flags, which the contract leaves to the gateway."""
    if ":" in src:
        req = (Ether(src=src_mac, dst=gw_mac) / IPv6(src=src, dst=dst) /
               ICMPv6EchoRequest(id=ident, seq=seq, data=payload))
        rep = (Ether(src=gw_mac, dst=src_mac) / IPv6(src=dst, dst=src) /
               ICMPv6EchoReply(id=ident, seq=seq, data=payload))
    else:
        req = (Ether(src=src_mac, dst=gw_mac) / IP(src=src, dst=dst, id=7) /
               ICMP(type=8, id=ident, seq=seq) / Raw(payload))
        rep = (Ether(src=gw_mac, dst=src_mac) / IP(src=dst, dst=src, id=7) /
               ICMP(type=0, id=ident, seq=seq) / Raw(payload))
    return req, rep


def tcp_syn(src_mac, src, dst, sport, dport, gw_mac=GW_MAC, flags="S"):
    return (Ether(src=src_mac, dst=gw_mac) / ipl(src, dst) /
            TCP(sport=sport, dport=dport, flags=flags, seq=77,
                ack=0 if "A" not in flags else 1, window=1024))


def udp_frame(src_mac, src, dst, sport, dport, payload=b"ping",
              gw_mac=GW_MAC):
    return (Ether(src=src_mac, dst=gw_mac) / ipl(src, dst) /
            UDP(sport=sport, dport=dport) / Raw(payload))


def deny_reset(syn, gw_mac=GW_MAC):
    """The RST|ACK a refused SYN gets (RFC 9293 3.10.7.1): from the
    address and port it called, sequence 0, acknowledging the SYN and its
    data; IP options cut, the IP header otherwise as it came, TTL 64."""
    ip = syn[IP] if IP in syn else syn[IPv6]
    t = syn[TCP]
    l3 = (IP(src=ip.dst, dst=ip.src, id=ip.id, flags=ip.flags, tos=ip.tos,
             ttl=64) if IP in syn else
          IPv6(src=ip.dst, dst=ip.src, tc=ip.tc, fl=ip.fl, hlim=64))
    return (Ether(src=gw_mac, dst=syn[Ether].src) / l3 /
            TCP(sport=t.dport, dport=t.sport, flags="RA", seq=0,
                ack=(t.seq + 1 + len(t.payload)) & 0xffffffff, window=0))


def deny_prohibited(dgram, gw_mac=GW_MAC):
    """The ICMP administratively prohibited a refused datagram gets
    (v4 3/13, v6 1/1), from the address it called, quoting it whole
    (it is short)."""
    if IP in dgram:
        quote = bytes(dgram[IP])
        return (Ether(src=gw_mac, dst=dgram[Ether].src) /
                IP(src=dgram[IP].dst, dst=dgram[IP].src, id=0, ttl=64) /
                ICMP(type=3, code=13) / Raw(quote))
    quote = bytes(dgram[IPv6])
    return (Ether(src=gw_mac, dst=dgram[Ether].src) /
            IPv6(src=dgram[IPv6].dst, dst=dgram[IPv6].src, hlim=64) /
            ICMPv6DestUnreach(code=1) / Raw(quote))


# ------------------------------------------------------------- scenarios

HTTP_GET = b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nshop!"


def main_scenario():
    """the bundled app/meshgate/meshgate.conf: every verdict once, v4 and v6."""
    sc = Scenario("main", "app/meshgate/meshgate.conf")
    # The gateway answers for itself: ARP, ND, echo.
    sc.reply(arp_request(CLI_MAC, CLI4, GW4["cli"]), "arp",
             arp_reply(GW_MAC, GW4["cli"], CLI_MAC, CLI4),
             "ARP who-has port address")
    sc.reply(arp_request(CLI_MAC, CLI4, SHOP4), "arp",
             arp_reply(GW_MAC, SHOP4, CLI_MAC, CLI4), "ARP who-has VIP")
    req, rep = echo(CLI_MAC, CLI4, GW4["cli"], 0x4d47, 1, b"meshgate-ping")
    sc.reply(req, "echo", rep, "ICMP echo to port address")
    req, rep = echo(CLI_MAC, CLI4, SHOP4, 0x4d47, 2, b"odd-length-ping")
    sc.reply(req, "echo", rep, "ICMP echo to VIP")
    sc.reply(ns(CLI_MAC, CLI6, GW6["cli"]), "na",
             na(GW_MAC, GW6["cli"], CLI_MAC, CLI6), "NS for port address")
    sc.reply(ns(CLI_MAC, CLI6, SHOP6), "na",
             na(GW_MAC, SHOP6, CLI_MAC, CLI6), "NS for VIP6")
    req, rep = echo(CLI_MAC, CLI6, GW6["cli"], 0x4d47, 3, b"ping6")
    sc.reply(req, "echo", rep, "ICMPv6 echo to port address")

    # Allowed: frontend -> shop, v4 to a fixed backend port, v6 to the
    # port the client used (backend written without a port).
    tcp_session(sc, Conn("tcp", (CLI4, 40000), (SHOP4, 80), (B1_4, 8080)),
                "v4 frontend->shop", HTTP_GET, HTTP_OK)
    tcp_session(sc, Conn("tcp", (CLI6, 40001), (SHOP6, 8001), (B1_6, 8001)),
                "v6 frontend->shop", HTTP_GET + b"!", HTTP_OK + b"\n")
    # UDP service; the second query has no checksum (0 must stay 0 or
    # become the right sum).
    c = Conn("udp", (CLI4, 5353), (DNS_VIP, 53), (DNS4, 53), be_mac=DNS_MAC)
    for side, kw in (("c", {}), ("s", {}), ("c", {"chksum": 0}), ("s", {})):
        fin, fout = (c.client if side == "c" else c.server)(
            payload=b"\x12\x34query" if side == "c" else b"\x12\x34answer!",
            **kw)
        sc.fwd(fin, fout, "udp frontend->dns %s%s" % (
            side, " cksum 0" if kw else ""))
    sc.flows += 1
    sc.extra["udp_zero_cksum"] = [f["in"] for f in sc.forwarded
                                  if f["what"].endswith("cksum 0")]
    # IPv4 options, a port from the range 8000-8099.
    c = Conn("tcp", ("198.18.1.12", 40200), (SHOP4, 8050), (B1_4, 8080),
             ip_kw={"options": [IPOption_NOP()] * 4})
    for side, flags in (("c", "S"), ("s", "SA"), ("c", "A")):
        fin, fout = (c.client if side == "c" else c.server)(flags)
        sc.fwd(fin, fout, "v4 options, port range %s %s" % (side, flags))
    sc.flows += 1
    # devbox (env dev) may reach the dev sandbox (allow "*") ...
    c = Conn("tcp", (DEV4, 41000), (SANDBOX4, 80), (B2_4, 9000),
             cli_mac=DEV_MAC, be_mac=B2_MAC)
    for side, flags in (("c", "S"), ("s", "SA")):
        fin, fout = (c.client if side == "c" else c.server)(flags)
        sc.fwd(fin, fout, "devbox->sandbox %s %s" % (side, flags))
    sc.flows += 1
    # ... but never prod: the enforced deny beats the allow.
    # (deny_action "reset", the default: a RST from the VIP)
    syn = tcp_syn(DEV_MAC, DEV4, SHOP4, 41001, 80)
    sc.deny(syn, deny_reset(syn), "devbox->shop (dev never prod)")
    # Unknown callers: default deny.
    syn = tcp_syn(UNK_MAC, UNK4, SHOP4, 42000, 80)
    sc.deny(syn, deny_reset(syn), "unknown v4 -> shop")
    syn = tcp_syn(UNK_MAC, UNK6, SHOP6, 42001, 80)
    sc.deny(syn, deny_reset(syn), "unknown v6 -> shop")
    # A connection must start with a SYN.
    sc.drop(tcp_syn(CLI_MAC, "198.18.1.11", SHOP4, 40100, 80, flags="A"),
            "tcp_not_syn", "ACK without a flow")
    # Traffic for no service.
    sc.drop(tcp_syn(CLI_MAC, CLI4, NOWHERE4, 40300, 80), "no_service",
            "TCP to a non-service address")
    sc.drop(udp_frame(CLI_MAC, CLI4, NOWHERE4, 40301, 53), "no_service",
            "UDP to a non-service address")
    sc.drop(tcp_syn(CLI_MAC, CLI6, NOWHERE6, 40302, 80), "no_service",
            "TCPv6 to a non-service address")
    # To the gateway itself, but not ARP/ND/echo.
    sc.drop(tcp_syn(CLI_MAC, CLI4, GW4["cli"], 40400, 22), "local_unhandled",
            "TCP to the port address")
    sc.drop(udp_frame(CLI_MAC, CLI4, GW4["cli"], 40401, 161),
            "local_unhandled", "UDP to the port address")
    sc.extra["dry_run_denied"] = {"app/meshgate/meshgate.conf": 0,
                                  "tests/configs/mesh_dry_run.conf": 3}
    return sc


def forward_scenario():
    """mesh_forward.conf (unmatched = "forward"): non-service traffic
    leaves unchanged; services, policies and local traffic as before."""
    sc = Scenario("forward", "tests/configs/mesh_forward.conf")
    for f in (tcp_syn(CLI_MAC, CLI4, NOWHERE4, 40300, 80),
              udp_frame(CLI_MAC, CLI4, NOWHERE4, 40301, 53),
              tcp_syn(CLI_MAC, CLI6, NOWHERE6, 40302, 80)):
        sc.fwd(f, f, "non-service, unchanged")
    fin, fout = Conn("tcp", (CLI4, 40000), (SHOP4, 80), (B1_4, 8080)).syn()
    sc.fwd(fin, fout, "frontend->shop SYN still DNATed")
    sc.flows += 1
    syn = tcp_syn(UNK_MAC, UNK4, SHOP4, 42000, 80)
    sc.deny(syn, deny_reset(syn), "unknown -> shop still denied")
    sc.drop(tcp_syn(CLI_MAC, CLI4, GW4["cli"], 40400, 22), "local_unhandled",
            "TCP to the port address still local")
    sc.reply(arp_request(CLI_MAC, CLI4, SHOP4), "arp",
             arp_reply(GW_MAC, SHOP4, CLI_MAC, CLI4), "ARP who-has VIP")
    return sc


def no_route_scenario():
    sc = Scenario("no_route", "app/meshgate/meshgate.conf")
    sc.drop(tcp_syn(CLI_MAC, CLI4, FARAWAY4, 40500, 80), "no_route",
            "backend off-link, no gateway4")
    return sc


def resolve_scenario():
    """the bundled app/meshgate/meshgate.conf, service dyn (no static neighbour): the gateway
    asks, parks the SYN, sends it when the answer comes; without an
    answer the parked packet times out (1 s)."""
    sc = Scenario("resolve", "app/meshgate/meshgate.conf")
    c = Conn("tcp", (CLI4, 40600), (DYN_VIP4, 80), (DYN4, 80),
             be_mac=DYN_MAC)
    fin, fout = c.syn()
    i = sc.park(fin, "SYN to dyn, parked")
    sc.emit("arp_request", arp_request(GW_MAC, GW4["mesh"], DYN4), "ARP "
            "who-has backend from the gateway", after=i)
    sc.absorb(Ether(src=DYN_MAC, dst=GW_MAC) /
              ARP(op=2, hwsrc=DYN_MAC, psrc=DYN4, hwdst=GW_MAC,
                  pdst=GW4["mesh"]), "backend's ARP reply")
    sc.forwarded.append({"in": i, "in_port": "edge", "port": "edge",
                         "out": bytes(fout).hex(),
                         "what": "parked SYN released after ARP reply"})
    c6 = Conn("tcp", (CLI6, 40601), (DYN_VIP6, 80), (DYN6, 80),
              be_mac=DYN_MAC)
    fin, _ = c6.syn()
    i = sc.park(fin, "SYNv6 to dyn, parked, never answered")
    sc.emit("ns", ns(GW_MAC, GW6["mesh"], DYN6), "NS for the backend",
            after=i)
    sc.drops["neigh_timeout"] += 1
    # The contract leaves open whether a flow is made before the next
    # hop is known (both SYNs) or only once a SYN can leave (the first).
    sc.flows = [1, 2]
    sc.extra["exit_on_idle_ms"] = 2000
    return sc


def spoof_scenario():
    """the bundled app/meshgate/meshgate.conf, service dyn (resolved by
    ARP/ND) and shop (static neighbour .21): a spoofer on the link tries
    ARP and NA before and after the gateway resolves the backend. Only
    the backend's answers to the gateway's own requests are learned
    (first answer wins); later claims from the spoofer are conflicts
    (counted, not applied); a static neighbour is never moved. Every
    SYN must reach the backend's real MAC. Released SYNs leave at the
    end of a poll round, so forwarded frames are compared unordered."""
    sc = Scenario("spoof", "app/meshgate/meshgate.conf")
    conflicts = 0
    # The backend asks for the gateway: answered, the asker not learned
    # (else the SYN below would leave at once instead of being parked).
    sc.reply(arp_request(DYN_MAC, DYN4, GW4["mesh"]), "arp",
             arp_reply(GW_MAC, GW4["mesh"], DYN_MAC, DYN4),
             "backend asks for the gateway")
    # Before resolution: never learned.
    sc.absorb(arp_claim(ATK_MAC, DYN4), "unsolicited ARP reply, spoofer")
    sc.absorb(arp_claim(ATK_MAC, DYN4, op=1, tpa=DYN4, dst=BCAST),
              "gratuitous ARP request, spoofer")
    sc.absorb(arp_claim(ATK_MAC, DYN4, tpa=DYN4, dst=BCAST),
              "gratuitous ARP reply, spoofer")
    sc.absorb(na_claim(ATK_MAC, DYN6, solicited=False),
              "unsolicited NA with override, spoofer")
    sc.absorb(na_claim(ATK_MAC, DYN6, solicited=True),
              "solicited NA nobody asked for, spoofer")
    # IPv4: the SYN is parked and the gateway asks.
    c = Conn("tcp", (CLI4, 40700), (DYN_VIP4, 80), (DYN4, 80),
             be_mac=DYN_MAC)
    fin, fout = c.syn()
    i = sc.park(fin, "SYN to dyn, parked")
    sc.emit("arp_request", arp_request(GW_MAC, GW4["mesh"], DYN4),
            "ARP who-has backend from the gateway", after=i)
    sc.absorb(arp_claim(DYN_MAC, DYN4), "the backend's answer")
    sc.release(i, fout, "parked SYN, to the answer's MAC")
    sc.flows += 1
    # The answer closed the request: a second one (first wins) and a
    # gratuitous ARP from the spoofer are conflicts.
    sc.absorb(arp_claim(ATK_MAC, DYN4), "late ARP reply, spoofer")
    sc.absorb(arp_claim(ATK_MAC, DYN4, op=1, tpa=DYN4, dst=BCAST),
              "gratuitous ARP after resolution, spoofer")
    conflicts += 2
    fin, fout = Conn("tcp", (CLI4, 40701), (DYN_VIP4, 80), (DYN4, 80),
                     be_mac=DYN_MAC).syn()
    sc.fwd(fin, fout, "next SYN to dyn: still the backend's MAC")
    sc.flows += 1
    # IPv6 likewise.
    c6 = Conn("tcp", (CLI6, 40702), (DYN_VIP6, 80), (DYN6, 80),
              be_mac=DYN_MAC)
    fin, fout = c6.syn()
    i = sc.park(fin, "SYNv6 to dyn, parked")
    sc.emit("ns", ns(GW_MAC, GW6["mesh"], DYN6), "NS for the backend",
            after=i)
    sc.absorb(na_claim(DYN_MAC, DYN6, solicited=True), "the backend's NA")
    sc.release(i, fout, "parked SYNv6, to the NA's MAC")
    sc.flows += 1
    sc.absorb(na_claim(ATK_MAC, DYN6, solicited=False),
              "NA with override after resolution, spoofer")
    sc.absorb(na_claim(ATK_MAC, DYN6, solicited=True),
              "second solicited NA, spoofer")
    conflicts += 2
    fin, fout = Conn("tcp", (CLI6, 40703), (DYN_VIP6, 80), (DYN6, 80),
                     be_mac=DYN_MAC).syn()
    sc.fwd(fin, fout, "next SYNv6 to dyn: still the backend's MAC")
    sc.flows += 1
    # Static neighbours: the spoofer's claims move nothing.
    sc.absorb(arp_claim(ATK_MAC, B1_4), "ARP reply for a static one")
    sc.absorb(arp_claim(ATK_MAC, B1_4, op=1, tpa=B1_4, dst=BCAST),
              "gratuitous ARP for a static one")
    sc.absorb(na_claim(ATK_MAC, B1_6, solicited=False),
              "NA with override for a static one")
    for conn in (Conn("tcp", (CLI4, 40704), (SHOP4, 80), (B1_4, 8080)),
                 Conn("tcp", (CLI6, 40705), (SHOP6, 80), (B1_6, 80))):
        fin, fout = conn.syn()
        sc.fwd(fin, fout, "SYN to shop: the static MAC")
        sc.flows += 1
    sc.extra["unordered"] = True
    sc.extra["neigh_conflicts"] = conflicts
    # one log line per neighbour, however many conflicts
    sc.extra["conflict_logs"] = {DYN4: DYN_MAC, DYN6: DYN_MAC}
    return sc


def health_rst_scenario():
    """tests/configs/mesh_health.conf: the frontend is pinned to each
    service's canary (.22), which one failure ejects. keep's backends
    keep the caller's port: a caller connecting to ports the canary does
    not serve draws its RST each time, which says nothing of the
    backend's health, so the next connection still goes to the canary.
    fixed's canary has its own port: its RST is a failure, and the next
    connection fails over to v1 (.21:8080)."""
    sc = Scenario("health_rst", "tests/configs/mesh_health.conf")
    for k, port in enumerate((8001, 8002, 8003, 8050, 80)):
        c = Conn("tcp", (CLI4, 42000 + k), (KEEP4, port), (B2_4, port),
                 be_mac=B2_MAC)
        fin, fout = c.syn()
        sc.fwd(fin, fout, "SYN to keep:%d, the canary" % port)
        fin, fout = c.server("RA")
        sc.fwd(fin, fout, "the canary's RST: port %d closed" % port)
        sc.flows += 1
    fin, fout = Conn("tcp", (CLI4, 42010), (KEEP4, 80), (B2_4, 80),
                     be_mac=B2_MAC).syn()
    sc.fwd(fin, fout, "next SYN to keep: still the canary")
    sc.flows += 1
    c = Conn("tcp", (CLI4, 42100), (FIXED4, 80), (B2_4, 9090),
             be_mac=B2_MAC)
    fin, fout = c.syn()
    sc.fwd(fin, fout, "SYN to fixed, the canary's port 9090")
    fin, fout = c.server("RA")
    sc.fwd(fin, fout, "the canary refuses its own port: a failure")
    sc.flows += 1
    fin, fout = Conn("tcp", (CLI4, 42101), (FIXED4, 80), (B1_4, 8080)).syn()
    sc.fwd(fin, fout, "next SYN to fixed: v1, the canary is out")
    sc.flows += 1
    return sc


def syn_flood_scenario():
    """the bundled app/meshgate/meshgate.conf (flows.max = 1024, half-open
    budget 512): one established flow, then more SYNs than the table
    holds: each is admitted, the oldest half-open ones evicted for them;
    the established flow keeps working."""
    sc = Scenario("syn_flood", "app/meshgate/meshgate.conf")
    est = Conn("tcp", ("198.18.1.20", 30000), (SHOP4, 80), (B1_4, 8080))
    for side, flags in (("c", "S"), ("s", "SA"), ("c", "A")):
        fin, fout = (est.client if side == "c" else est.server)(flags)
        sc.fwd(fin, fout, "established flow %s %s" % (side, flags))
    for k in range(1, FLOOD_SYNS):
        src = "198.18.1.%d" % (21 + k // 1000)
        conn = Conn("tcp", (src, 10000 + k % 1000), (SHOP4, 80),
                    (B1_4, 8080))
        fin, fout = conn.syn()
        sc.fwd(fin, fout, "SYN %d" % k)
    sc.flows = FLOOD_SYNS
    for side, flags, payload in (("c", "PA", HTTP_GET), ("s", "PA", HTTP_OK)):
        fin, fout = (est.client if side == "c" else est.server)(flags,
                                                               payload)
        sc.fwd(fin, fout, "established flow after table full %s" % side)
    return sc


def deny_scenario():
    """mesh_deny.conf: what a refused connection gets. Default deny and
    rules without deny_action answer (the global "reset"); the rule
    dev-never-prod says "drop". Never answered: a frame sent to the
    broadcast MAC, a source that is no unicast host's, a RST, ICMP."""
    sc = Scenario("deny", "tests/configs/mesh_deny.conf")
    syn = tcp_syn(UNK_MAC, UNK4, SHOP4, 42000, 80)
    sc.deny(syn, deny_reset(syn), "unknown v4 SYN: RST")
    syn = (Ether(src=UNK_MAC, dst=GW_MAC) / IPv6(src=UNK6, dst=SHOP6) /
           TCP(sport=42001, dport=8001, flags="S", seq=0xfffffff0,
               options=[("MSS", 1400)]) / Raw(b"hello"))
    sc.deny(syn, deny_reset(syn), "unknown v6 SYN with data: RST acks it")
    syn = (Ether(src=UNK_MAC, dst=GW_MAC) /
           IP(src=UNK4, dst=SHOP4, id=9, flags="DF",
              options=[IPOption_NOP()] * 4) /
           TCP(sport=42002, dport=80, flags="S", seq=5))
    sc.deny(syn, deny_reset(syn), "unknown v4 SYN with IP options: RST")
    d = udp_frame(UNK_MAC, UNK4, DNS_VIP, 42003, 53, b"\x12\x34query")
    sc.deny(d, deny_prohibited(d), "unknown v4 UDP: ICMP 3/13")
    d = udp_frame(UNK_MAC, UNK6, DNS_VIP6, 42004, 53, b"\x12\x34query6")
    sc.deny(d, deny_prohibited(d), "unknown v6 UDP: ICMPv6 1/1")
    sc.deny(tcp_syn(DEV_MAC, DEV4, SHOP4, 41001, 80), None,
            "devbox->shop, rule deny_action drop: nothing")
    sc.deny(tcp_syn(UNK_MAC, UNK4, SHOP4, 42005, 80, gw_mac=BCAST), None,
            "SYN to the broadcast MAC: nothing")
    sc.deny(udp_frame(UNK_MAC, UNK4, DNS_VIP, 42006, 53, gw_mac=BCAST),
            None, "UDP to the broadcast MAC: nothing")
    sc.deny(tcp_syn(UNK_MAC, "224.0.0.5", SHOP4, 42007, 80), None,
            "SYN from a multicast source: nothing")
    sc.deny(udp_frame(UNK_MAC, "0.0.0.0", DNS_VIP, 42008, 53), None,
            "UDP from 0.0.0.0: nothing")
    sc.deny(udp_frame(UNK_MAC, "ff02::1", DNS_VIP6, 42009, 53), None,
            "UDP from ff02::1: nothing")
    sc.drop(tcp_syn(UNK_MAC, UNK4, SHOP4, 42010, 80, flags="R"),
            "tcp_not_syn", "RST: never answered")
    sc.drop(tcp_syn(UNK_MAC, UNK4, SHOP4, 42011, 80, flags="SA"),
            "tcp_not_syn", "SYN-ACK: not a new connection, no answer")
    return sc


def deny_flood_scenario():
    """mesh_deny.conf: DENY_FLOOD refused SYNs from one (spoofable)
    source: at most one RST each, within the worker's reply rate."""
    sc = Scenario("deny_flood", "tests/configs/mesh_deny.conf")
    for k in range(DENY_FLOOD):
        syn = tcp_syn(UNK_MAC, UNK4, SHOP4, 10000 + k, 80)
        sc.deny(syn, None, "refused SYN %d" % k)
    return sc


def canary_scenario():
    """the bundled app/meshgate/meshgate.conf, service pair: versions v1 (weight 75, backend
    .21) and v2 (weight 25, backend .22). 400 SYNs, then each again (a
    retransmission): the test counts the split and checks stickiness. The
    backend is not known here, so no expected bytes."""
    sc = Scenario("canary", "app/meshgate/meshgate.conf")
    frames = []
    for k in range(CANARY_FLOWS):
        frames.append(tcp_syn(CLI_MAC, "198.18.1.30", PAIR4, 20000 + k, 80))
    for f in frames + frames:
        sc._add(f, "edge")
    sc.flows = CANARY_FLOWS
    sc.extra["canary"] = {"flows": CANARY_FLOWS, "vip": PAIR4,
                          "weights": CANARY_WEIGHTS,
                          "macs": {B1_4: B1_MAC, B2_4: B2_MAC}}
    return sc


def two_arm_scenario():
    """mesh_two_arm.conf: clients on the edge port (net_pcap0), backends
    behind the mesh port (net_pcap1). Only client-side frames enter the
    edge (two pcap ports are polled in no fixed order)."""
    sc = Scenario("two_arm", "tests/configs/mesh_two_arm.conf", ports=("edge", "mesh"))
    conns = [Conn("tcp", (CLI4, 40000), (SHOP4, 80), (B1_4, 8080),
                  gw_mesh=GW_MAC1),
             Conn("tcp", (CLI6, 40001), (SHOP6, 8001), (B1_6, 8001),
                  gw_mesh=GW_MAC1),
             # off-link backend: next hop is gateway4 (a static neighbour)
             Conn("tcp", (CLI4, 40002), (FARAWAY4, 80), (FAR4, 80),
                  be_mac=ROUTER_MAC, gw_mesh=GW_MAC1),
             Conn("udp", (CLI4, 5353), (DNS_VIP, 53), (DNS4, 53),
                  be_mac=DNS_MAC, gw_mesh=GW_MAC1)]
    for c in conns:
        fin, fout = c.client("S" if c.proto == "tcp" else "",
                             b"" if c.proto == "tcp" else b"query")
        sc.fwd(fin, fout, "edge->mesh %s %s" % (c.proto, c.vip[0]),
               out_port="mesh")
        sc.flows += 1
    syn = tcp_syn(DEV_MAC, DEV4, SHOP4, 41001, 80)
    sc.deny(syn, deny_reset(syn), "devbox->shop")
    sc.reply(arp_request(CLI_MAC, CLI4, GW4["cli"]), "arp",
             arp_reply(GW_MAC, GW4["cli"], CLI_MAC, CLI4),
             "ARP for the edge address on the edge")
    sc.reply(arp_request(B1_MAC, B1_4, GW4["mesh"]), "arp",
             arp_reply(GW_MAC1, GW4["mesh"], B1_MAC, B1_4),
             "ARP for the mesh address on the mesh", port="mesh")
    return sc


SCENARIOS = (main_scenario, forward_scenario, no_route_scenario,
             resolve_scenario, spoof_scenario, health_rst_scenario,
             syn_flood_scenario, deny_scenario, deny_flood_scenario,
             canary_scenario, two_arm_scenario)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    manifest = {"gw_mac": [GW_MAC, GW_MAC1], "scenarios": {}}
    for build in SCENARIOS:
        sc = build()
        manifest["scenarios"][sc.name] = sc.write(args.outdir)
    with open(os.path.join(args.outdir, "mesh.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
