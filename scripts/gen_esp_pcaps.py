#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Write the ESP captures of scripts/bench.sh (esp_encrypt, esp_decrypt).

    gen_esp_pcaps.py OUTDIR [--only esp_encrypt,esp_gen] [--flows N]
                     [--rounds R]

esp_encrypt.pcap  N UDP flows (1,024) from the bench callers to service
                  "remote" (198.19.0.20:9), whose backend sits behind the
                  peer bench-peer: one 1,400-byte frame per flow. Replayed
                  with infinite_rx: the first loop admits the flows, every
                  later one is flow hits, each packet leaving encrypted.
esp_gen.pcap      N UDP flows (1,024) of the peer's callers (10.99.0.0/16)
                  to service "local" (198.19.0.21:9): 1,400-byte frames
                  for the generator of the decrypt run (another meshgate,
                  tests/configs/bench_esp_gen.conf), which encrypts them
                  toward the measured one: a capture of tunnel packets
                  could not loop, its sequence numbers would repeat and
                  the replay window refuses them before decryption.

For scripts/profile.sh (PROFILE_CONF=tests/configs/bench_esp.conf), two
captures replayed once, --rounds R times the N flows (10):
esp_encrypt_once.pcap  esp_encrypt.pcap's frames R times: the first
                  round admits the flows, the others are flow hits.
esp_decrypt_once.pcap  esp_gen.pcap's packets R times as the peer sends
                  them, tunnelled: ESP (SPI 0x1001, the key of
                  tests/configs/keys/esp-bench-in.key, no ESN) from
                  198.18.2.20 to 198.18.2.1, sequence numbers 1 to N * R
                  in order, IV = sequence number (scapy's
                  SecurityAssociation; /usr/bin/python3). The first round
                  admits the flows.

The addresses are those of tests/configs/bench_esp.conf and
bench_esp_gen.conf: change them together. Every run writes the same
bytes.
"""

import argparse
import ipaddress
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_bench_pcaps import csum, write_pcap  # noqa: E402

GW_MAC = "02:70:63:61:70:00"        # net_pcap0
CALLER_MAC = "02:00:00:00:40:01"
CALLERS = ipaddress.IPv4Network("198.18.64.0/18")
PEER_CALLERS = ipaddress.IPv4Network("10.99.0.0/16")
REMOTE_VIP, LOCAL_VIP, PORT = "198.19.0.20", "198.19.0.21", 9
FRAME = 1400                        # inner frames, as cryptoperf's buffers
IP_LEN = FRAME - 14
PEER, GW = "198.18.2.20", "198.18.2.1"   # tunnel endpoints
IN_SPI, IN_KEY = 0x1001, "esp-bench-in.key"
KEYS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                    "tests", "configs", "keys")


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ipv4(src, dst, proto, payload_len, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, 0,
                      64, proto, 0, ipaddress.IPv4Address(src).packed,
                      ipaddress.IPv4Address(dst).packed)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]


def udp_packet(src, sport, dst, ident):
    """An IP/UDP packet of IP_LEN bytes (checksum 0: none, over IPv4)."""
    data_len = IP_LEN - 28
    body = bytes((ident + i) & 0xff for i in range(data_len))
    return ipv4(src, dst, 17, 8 + data_len, ident) + \
        struct.pack("!HHHH", sport, PORT, 8 + data_len, 0) + body


def encrypt_frames(flows):
    # from .2: .1 is the gateway's own address (bench_esp.conf)
    hosts = CALLERS.num_addresses - 3
    frames = []
    for i in range(flows):
        src = str(CALLERS.network_address + 2 + i % hosts)
        pkt = udp_packet(src, 1024 + i, REMOTE_VIP, i & 0xffff)
        frames.append(mac(GW_MAC) + mac(CALLER_MAC) + b"\x08\x00" + pkt)
        assert len(frames[-1]) == FRAME
    return frames


def gen_frames(flows):
    frames = []
    for i in range(flows):
        src = str(PEER_CALLERS.network_address + 1 + i)
        pkt = udp_packet(src, 2048 + i, LOCAL_VIP, i & 0xffff)
        frames.append(mac(GW_MAC) + mac(CALLER_MAC) + b"\x08\x00" + pkt)
        assert len(frames[-1]) == FRAME
    return frames


def decrypt_frames(flows, rounds):
    """esp_gen's inner packets, rounds times, as ESP from the peer."""
    from scapy.layers.inet import IP
    from scapy.layers.ipsec import ESP, SecurityAssociation
    with open(os.path.join(KEYS, IN_KEY)) as f:
        key = bytes.fromhex(f.read().strip())
    sa = SecurityAssociation(ESP, spi=IN_SPI, crypt_algo="AES-GCM",
                             crypt_key=key,
                             tunnel_header=IP(src=PEER, dst=GW))
    inner = [f[14:] for f in gen_frames(flows)]
    seq = 0
    for _ in range(rounds):
        for pkt in inner:
            seq += 1
            esp = sa.encrypt(IP(pkt), seq_num=seq,
                             iv=struct.pack("!Q", seq))
            yield mac(GW_MAC) + mac(CALLER_MAC) + b"\x08\x00" + bytes(esp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--only", default="esp_encrypt,esp_gen")
    ap.add_argument("--flows", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    only = set(args.only.split(","))
    if "esp_encrypt" in only:
        write_pcap(os.path.join(args.outdir, "esp_encrypt.pcap"),
                   encrypt_frames(args.flows))
    if "esp_gen" in only:
        write_pcap(os.path.join(args.outdir, "esp_gen.pcap"),
                   gen_frames(args.flows))
    if "esp_encrypt_once" in only:
        write_pcap(os.path.join(args.outdir, "esp_encrypt_once.pcap"),
                   encrypt_frames(args.flows) * args.rounds)
    if "esp_decrypt_once" in only:
        write_pcap(os.path.join(args.outdir, "esp_decrypt_once.pcap"),
                   decrypt_frames(args.flows, args.rounds))


if __name__ == "__main__":
    main()
