#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""An ESP peer in user space for the end-to-end tests (the test kernels
have no ESP): it reads IP packets from a TUN device, encrypts them with
scapy's SecurityAssociation (tunnel mode, AES-GCM) and sends them to the
gateway's endpoint (a raw IPPROTO_ESP socket, or UDP port 4500); what
comes back is decrypted and written to the TUN device. So a real curl in
this namespace talks to services behind meshgate through the tunnel.

    esp_peer.py CONFIG.json

CONFIG: {"tun": "tun0", "family": 4|6, "local": ..., "remote": ...,
"udp": bool, "out": [{"spi": N, "key": HEX}], "in": [...]} — `out`'s
first SA is the one it sends with; every `in` SA is accepted. SIGUSR1
reads CONFIG again (a rekey); SIGTERM stops it. Counts go to stdout as
JSON lines on SIGUSR2 and at the end."""

import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time

from scapy.all import IP, UDP, IPv6
from scapy.all import conf as scapy_conf
from scapy.layers.ipsec import ESP, SecurityAssociation

scapy_conf.verb = 0

TUNSETIFF = 0x400454ca
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
IPPROTO_ESP = 50
LIFETIME_S = 600        # never outlives a forgotten test run

state = {"reload": False, "stop": False, "report": False}
counts = {"sent": 0, "received": 0, "bad": 0, "unknown_spi": 0}


def on_signal(sig, frame):
    if sig == signal.SIGUSR1:
        state["reload"] = True
    elif sig == signal.SIGUSR2:
        state["report"] = True
    else:
        state["stop"] = True


def load(path):
    with open(path) as f:
        cfg = json.load(f)
    ip = IP if cfg["family"] == 4 else IPv6

    def sa(entry, src, dst, nat):
        return SecurityAssociation(
            ESP, spi=entry["spi"], crypt_algo="AES-GCM",
            crypt_key=bytes.fromhex(entry["key"]),
            tunnel_header=ip(src=src, dst=dst),
            nat_t_header=nat, seq_num=entry.get("seq", 1))
    out = sa(cfg["out"][0], cfg["local"], cfg["remote"],
             UDP(sport=4500, dport=4500) if cfg["udp"] else None)
    ins = {e["spi"]: sa(e, cfg["remote"], cfg["local"],
                        UDP(sport=4500, dport=4500) if cfg["udp"] else None)
           for e in cfg["in"]}
    return cfg, out, ins


def main():
    path = sys.argv[1]
    cfg, out, ins = load(path)
    fam = socket.AF_INET if cfg["family"] == 4 else socket.AF_INET6
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", cfg["tun"].encode(),
                                            IFF_TUN | IFF_NO_PI))
    if cfg["udp"]:
        sock = socket.socket(fam, socket.SOCK_DGRAM)
        sock.bind((cfg["local"], 4500))
    else:
        sock = socket.socket(fam, socket.SOCK_RAW, IPPROTO_ESP)
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM,
                signal.SIGINT):
        signal.signal(sig, on_signal)
    print(json.dumps({"ready": True}), flush=True)
    end = time.monotonic() + LIFETIME_S
    ip = IP if cfg["family"] == 4 else IPv6
    while not state["stop"] and time.monotonic() < end:
        if state["reload"]:
            state["reload"] = False
            # the outbound SA goes on from where it was, unless its SPI
            # changed; inbound SAs are replaced by the file's
            old = out
            cfg, out, ins = load(path)
            if out.spi == old.spi:
                out.seq_num = old.seq_num
            print(json.dumps({"reloaded": out.spi}), flush=True)
        if state["report"]:
            state["report"] = False
            print(json.dumps(counts), flush=True)
        try:
            ready, _, _ = select.select([tun, sock], [], [], 0.2)
        except InterruptedError:
            continue
        if tun in ready:
            data = os.read(tun, 65535)
            version = data[0] >> 4
            if version in (4, 6):
                inner = (IP if version == 4 else IPv6)(data)
                enc = out.encrypt(inner)
                esp = bytes(enc[ESP])
                dst = (cfg["remote"], 4500) if cfg["udp"] else \
                    (cfg["remote"], 0)
                sock.sendto(esp, dst)
                counts["sent"] += 1
        if sock in ready:
            data, _src = sock.recvfrom(65535)
            if not cfg["udp"] and cfg["family"] == 4:
                data = data[(data[0] & 0x0f) * 4:]   # raw v4: IP header
            if len(data) < 8:
                counts["bad"] += 1
                continue
            spi = struct.unpack("!I", data[:4])[0]
            sa = ins.get(spi)
            if sa is None:
                counts["unknown_spi"] += 1
                continue
            # scapy decrypts IP / ESP, with or without a NAT-T header
            pkt = ip(src=cfg["remote"], dst=cfg["local"]) / ESP(data)
            try:
                inner = sa.decrypt(pkt)
            except Exception:               # authentication failed
                counts["bad"] += 1
                continue
            os.write(tun, bytes(inner))
            counts["received"] += 1
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
