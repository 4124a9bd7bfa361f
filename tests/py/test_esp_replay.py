# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""ESP between edge nodes, replayed through the real binary (net_pcap) and
checked frame by frame against implementations we did not write: scapy's
SecurityAssociation (python3-cryptography underneath) plays the peers,
encrypting what meshgate must take and decrypting what meshgate sends;
tshark, given the keys, decodes meshgate's ESP on its own. Tunnel mode,
AES-GCM-128 and -256, IPv4 and IPv6 outside, with and without UDP (RFC
3948), ESN; both inner families on one SA; identities bound to peers (a
peer's packet is peer:NAME whatever its inner address, clear traffic
from a peer's prefix or on a peer's connection is dropped); replays, the
window, tampering, unknown SPIs; /meshgate/peers and /metrics. Config:
tests/configs/esp_replay.conf; keys: tests/configs/keys/esp-*.key."""

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from scapy.all import IP, TCP, UDP, Ether, IPv6, Raw, wrpcap
from scapy.all import conf as scapy_conf
from scapy.layers.ipsec import ESP, SecurityAssociation

from mgrun import (CONFIGS, IDLE_MS, drop_reasons,
                   assert_no_sanitizer_report, mg_telemetry, pcap_vdev,
                   read_frames, wait_for)
from promtext import Exposition

scapy_conf.verb = 0

CONF = CONFIGS / "esp_replay.conf"
KEYS = CONFIGS / "keys"
GW_MAC = "02:70:63:61:70:00"        # net_pcap0
BACKEND_MAC = "02:00:00:00:02:21"
FRONT_MAC, FRONT4 = "02:00:00:00:01:05", "198.18.1.5"
SHOP4, SHOP6, ADMIN4, REMOTE4 = ("198.19.0.10", "2001:db8:100::10",
                                 "198.19.0.11", "198.19.0.12")
BACKEND4, BACKEND6 = "198.18.2.21", "2001:db8:2::21"
INNER4, INNER6 = "10.99.0.5", "2001:db8:99::5"   # the peers' callers
# Frames meshgate drops (ethertype_unknown) between a packet and one
# that depends on it, so that they never share a burst (32): a tunnel
# packet's inner packet goes on in a later round than it arrived.
GAP = 40


def key(name):
    return bytes.fromhex((KEYS / ("%s.key" % name)).read_text().strip())


class Peer:
    def __init__(self, name, family, local, remote, mac, udp, port, esn,
                 in_spi, out_spi, prefix):
        self.name, self.family, self.local, self.remote = \
            name, family, local, remote
        self.mac, self.udp, self.port, self.esn = mac, udp, port, esn
        self.in_spi, self.out_spi, self.prefix = in_spi, out_spi, prefix

    def ip(self, src, dst):
        return (IP if self.family == 4 else IPv6)(src=src, dst=dst)

    def sa_to_gw(self, seq=1):
        """The peer's SA toward meshgate (meshgate's inbound)."""
        return SecurityAssociation(
            ESP, spi=self.in_spi, seq_num=seq, crypt_algo="AES-GCM",
            crypt_key=key("esp-%s-in" % self.name),
            tunnel_header=self.ip(self.remote, self.local),
            nat_t_header=UDP(sport=self.port, dport=4500) if self.udp
            else None, esn_en=self.esn)

    def sa_from_gw(self):
        """meshgate's outbound SA, to decrypt what it sends."""
        return SecurityAssociation(
            ESP, spi=self.out_spi, crypt_algo="AES-GCM",
            crypt_key=key("esp-%s-out" % self.name),
            tunnel_header=self.ip(self.local, self.remote),
            nat_t_header=UDP(sport=4500, dport=self.port) if self.udp
            else None, esn_en=self.esn)

    def frame(self, inner, seq=1, sa=None):
        """Ether / the tunnel packet of `inner` with sequence `seq`."""
        e = (sa or self.sa_to_gw(seq)).encrypt(inner)
        if self.udp:
            # scapy 2.5 writes the NAT-T header with length 8: rebuild
            # it around the ESP bytes (checksum 0 over IPv4, RFC 3948)
            raw = bytes(e)
            hl = 20 if self.family == 4 else 40
            e = self.ip(self.remote, self.local) / \
                UDP(sport=self.port, dport=4500,
                    chksum=0 if self.family == 4 else None) / \
                Raw(raw[hl + 8:])
        return Ether(src=self.mac, dst=GW_MAC) / e

    def tshark_uat(self):
        k = key("esp-%s-out" % self.name)
        return ('"IPv%d","%s","%s","0x%08x","AES-GCM with 16 octet ICV '
                '[RFC4106]","0x%s","NULL",""' % (
                    self.family, self.local, self.remote, self.out_spi,
                    k.hex()))


PEERS = {
    "b4": Peer("b4", 4, "198.18.0.1", "198.18.0.20", "02:00:00:00:00:20",
               False, None, False, 0x1004, 0x2004, "198.18.50"),
    "b4u": Peer("b4u", 4, "198.18.0.1", "198.18.0.21", "02:00:00:00:00:21",
                True, 4500, False, 0x1005, 0x2005, "198.18.51"),
    "b6": Peer("b6", 6, "2001:db8::1", "2001:db8::20", "02:00:00:00:00:20",
               False, None, False, 0x1006, 0x2006, "198.18.52"),
    "b6u": Peer("b6u", 6, "2001:db8::1", "2001:db8::21", "02:00:00:00:00:21",
                True, 4501, True, 0x1007, 0x2007, "198.18.53"),
}


def gap():
    return [Ether(src="02:00:00:00:09:09", dst=GW_MAC, type=0x88b5) /
            Raw(b"gap") for _ in range(GAP)]


def syn(src, dst, dport=80, sport=40000, v6=False):
    return (IPv6(src=src, dst=dst, hlim=64) if v6 else
            IP(src=src, dst=dst, ttl=64)) / \
        TCP(sport=sport, dport=dport, flags="S", seq=1000)


def synack(src, dst, sport, dport=40000, v6=False):
    return (IPv6(src=src, dst=dst, hlim=64) if v6 else
            IP(src=src, dst=dst, ttl=64)) / \
        TCP(sport=sport, dport=dport, flags="SA", seq=5000, ack=1001)


def replay(mg, tmp_path, frames, name="in"):
    """frames through meshgate (esp_replay.conf): (output frames, stats,
    stderr)."""
    rx, tx = tmp_path / ("%s.pcap" % name), tmp_path / ("%s-out.pcap" % name)
    wrpcap(str(rx), frames)
    r = mg.run(["-f", str(CONF), "--exit-on-idle", str(IDLE_MS)],
               [pcap_vdev(0, rx=rx, tx=tx)], stats=True)
    assert r.rc == 0, r
    assert_no_sanitizer_report(r.stderr)
    assert r.stats["mempool"]["in_use"] == 0, "mbufs leaked"
    return [Ether(f) for f in read_frames(tx)], r.stats, r.stderr


def drops(stats):
    missing = set(drop_reasons("esp_")) - set(stats["drops"])
    assert not missing, "ESP drop reasons missing: %s" % sorted(missing)
    return {k: v for k, v in stats["drops"].items() if v}


def esp_frames(out, peer):
    """meshgate's tunnel frames toward `peer`."""
    got = []
    for f in out:
        ip = f.getlayer(IP if peer.family == 4 else IPv6)
        if ip is None or ip.dst != peer.remote:
            continue
        got.append(f)
    return got


def decrypt(peer, frame):
    """The inner packet of meshgate's frame, with scapy; its outer
    header checked on the way."""
    frame = frame.copy()   # scapy decrypts in place
    outer = frame[IP] if peer.family == 4 else frame[IPv6]
    assert frame.src == GW_MAC and frame.dst == peer.mac, frame.summary()
    assert outer.src == peer.local
    if peer.udp:
        u = frame[UDP]
        assert (u.sport, u.dport) == (4500, peer.port), u.summary()
        if peer.family == 6:
            # IPv6 has no UDP without a checksum: scapy recomputes it
            ref = IPv6(bytes(outer))
            del ref[UDP].chksum
            assert IPv6(bytes(ref))[UDP].chksum == u.chksum
        esp = ESP(bytes(u.payload))
        pkt = outer.copy()
        pkt.remove_payload()
        pkt = pkt / esp
    else:
        pkt = outer
    if peer.family == 4:
        ref = IP(bytes(outer))
        del ref.chksum
        assert IP(bytes(ref)).chksum == outer.chksum, "outer checksum"
    return peer.sa_from_gw().decrypt(pkt)


@pytest.fixture
def mg(meshgate_bin, tmp_path):
    from mgrun import Meshgate
    m = Meshgate(meshgate_bin, tmp_path)
    yield m
    m.close()


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("name", sorted(PEERS))
def test_tunnel_both_ways(mg, tmp_path, name):
    """A peer's caller (an inner address of its own) reaches a service:
    meshgate decapsulates, admits it as peer:NAME, forwards in clear to
    the backend; the backend's answer goes back through the peer's SA,
    and scapy decrypts it. tshark decodes meshgate's ESP with the keys."""
    p = PEERS[name]
    frames = ([p.frame(syn(INNER4, SHOP4))] + gap() +
              [Ether(src=BACKEND_MAC, dst=GW_MAC) /
               synack(BACKEND4, INNER4, 8080)])
    out, stats, _ = replay(mg, tmp_path, frames)
    assert drops(stats) == {"ethertype_unknown": GAP}, drops(stats)
    assert stats["flows_created"] == 1
    clear = [f for f in out if f.haslayer(TCP) and f[IP].dst == BACKEND4]
    assert len(clear) == 1, [f.summary() for f in out]
    f = clear[0]
    assert (f.src, f.dst) == (GW_MAC, BACKEND_MAC)
    assert (f[IP].src, f[TCP].sport, f[TCP].dport, f[TCP].flags) == \
        (INNER4, 40000, 8080, "S")
    assert f[IP].ttl == 63
    tunnel = esp_frames(out, p)
    assert len(tunnel) == 1, [f.summary() for f in out]
    inner = decrypt(p, tunnel[0])
    assert (inner[IP].src, inner[IP].dst) == (SHOP4, INNER4)
    assert (inner[TCP].sport, inner[TCP].dport, inner[TCP].flags) == \
        (80, 40000, "SA")
    # the sequence number and an IV that is not the bare number
    esp = tunnel[0][ESP] if not p.udp else ESP(bytes(tunnel[0][UDP].payload))
    assert esp.spi == p.out_spi and esp.seq == 1
    assert esp.data[:8] != (1).to_bytes(8, "big")
    # tshark on its own, with the test's keys
    tshark = shutil.which("tshark")
    assert tshark, "tshark is required"
    r = subprocess.run(
        [tshark, "-r", str(tmp_path / "in-out.pcap"), "-o",
         "esp.enable_encryption_decode:TRUE", "-o",
         "uat:esp_sa:" + p.tshark_uat(), "-Y", "esp", "-T", "fields",
         "-e", "esp.spi", "-e", "ip.src", "-e", "ip.dst", "-e",
         "tcp.srcport", "-e", "tcp.dstport"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines() if line]
    assert len(rows) == 1, r.stdout
    assert rows[0][1].split(",")[-1] == SHOP4, rows
    assert rows[0][2].split(",")[-1] == INNER4, rows
    assert rows[0][3:] == ["80", "40000"], rows


def test_both_inner_families_one_sa(mg, tmp_path):
    """IPv6 inside an SA whose outer header is IPv4, both ways."""
    p = PEERS["b4"]
    frames = ([p.frame(syn(INNER6, SHOP6, v6=True))] + gap() +
              [Ether(src=BACKEND_MAC, dst=GW_MAC) /
               synack(BACKEND6, INNER6, 8080, v6=True)])
    out, stats, _ = replay(mg, tmp_path, frames)
    assert drops(stats) == {"ethertype_unknown": GAP}, drops(stats)
    clear = [f for f in out if f.haslayer(IPv6)]
    assert len(clear) == 1 and clear[0][IPv6].dst == BACKEND6
    assert clear[0][IPv6].src == INNER6 and clear[0][IPv6].hlim == 63
    inner = decrypt(p, esp_frames(out, p)[0])
    assert (inner[IPv6].src, inner[IPv6].dst) == (SHOP6, INNER6)
    assert inner[TCP].flags == "SA"


def test_identity_is_the_peer(mg, tmp_path):
    """peer:b4 is whoever comes through b4's SA: with a frontend address
    inside, it still reaches shop (peers only) and not admin (frontend
    only); the same address in clear is frontend. Clear traffic from
    b4's prefix, or on b4's connection, is dropped (esp_required);
    another peer's packet on b4's connection too (esp_wrong_peer)."""
    b4, b4u = PEERS["b4"], PEERS["b4u"]
    frames = [
        b4.frame(syn(FRONT4, ADMIN4, sport=41001), seq=1),   # denied
        b4.frame(syn(FRONT4, SHOP4, sport=41002), seq=2),    # allowed
        Ether(src=FRONT_MAC, dst=GW_MAC) / syn(FRONT4, ADMIN4, sport=41003),
        Ether(src=FRONT_MAC, dst=GW_MAC) / syn(FRONT4, SHOP4, sport=41004),
        Ether(src=b4.mac, dst=GW_MAC) / syn("198.18.50.7", SHOP4),
    ] + gap() + [
        # in clear, on b4's connection (its tuple), and from b4u
        Ether(src=FRONT_MAC, dst=GW_MAC) / syn(FRONT4, SHOP4, sport=41002),
        b4u.frame(syn(FRONT4, SHOP4, sport=41002), seq=1),
        # b4 again on its own connection: a retransmitted SYN, forwarded
        b4.frame(syn(FRONT4, SHOP4, sport=41002), seq=3),
    ]
    out, stats, _ = replay(mg, tmp_path, frames)
    assert drops(stats) == {
        "ethertype_unknown": GAP, "policy_deny": 2, "esp_required": 2,
        "esp_wrong_peer": 1}, drops(stats)
    fwd = sorted((f[TCP].sport, f[TCP].dport) for f in out
                 if f.haslayer(TCP) and f[IP].dst == BACKEND4)
    assert fwd == [(41002, 8080), (41002, 8080), (41003, 9090)], fwd
    assert stats["flows_created"] == 2
    # each refusal is answered the way its SYN came (deny_action reset):
    # b4's caller through b4's SA, never in clear; the clear one in clear
    resets = [decrypt(b4, f) for f in esp_frames(out, b4)]
    resets = [(i[IP].src, i[TCP].sport, i[TCP].dport) for i in resets
              if i.haslayer(TCP) and i[TCP].flags == "RA"]
    assert resets == [(ADMIN4, 80, 41001)], resets
    clear = [(f[TCP].sport, f[TCP].dport) for f in out
             if f.haslayer(TCP) and f[TCP].flags == "RA"]
    assert clear == [(80, 41004)], clear
    assert stats["deny_replies"] == 2


def test_remote_backend_behind_peer(mg, tmp_path):
    """A frontend caller to a service whose backend sits behind b4: the
    SYN leaves through b4's SA; b4's encrypted answer comes back to the
    caller in clear; the backend's answer in clear is refused."""
    b4 = PEERS["b4"]
    frames = ([Ether(src=FRONT_MAC, dst=GW_MAC) / syn(FRONT4, REMOTE4)] +
              gap() +
              [b4.frame(synack("198.18.50.80", FRONT4, 80), seq=1),
               Ether(src=b4.mac, dst=GW_MAC) /
               synack("198.18.50.80", FRONT4, 80)])
    out, stats, _ = replay(mg, tmp_path, frames)
    assert drops(stats) == {"ethertype_unknown": GAP, "esp_required": 1}, \
        drops(stats)
    inner = decrypt(b4, esp_frames(out, b4)[0])
    assert (inner[IP].src, inner[IP].dst, inner[TCP].dport) == \
        (FRONT4, "198.18.50.80", 80)
    back = [f for f in out if f.haslayer(TCP) and f[IP].dst == FRONT4]
    assert len(back) == 1
    assert (back[0][IP].src, back[0][TCP].sport, back[0][TCP].flags) == \
        (REMOTE4, 80, "SA")
    assert back[0].dst == FRONT_MAC


def test_replay_window_tamper(mg, tmp_path):
    """Replays, a sequence number below the window, a flipped bit, an
    SPI nobody has, a cut packet, and ESP-in-UDP that is no ESP (a NAT
    keepalive, IKE's non-ESP marker): each dropped under its reason and
    counted for its peer and SA (/meshgate/peers), nothing forwarded."""
    b4, b4u = PEERS["b4"], PEERS["b4u"]
    first = b4.frame(syn(INNER4, SHOP4), seq=1)
    bad = b4.frame(syn(INNER4, SHOP4), seq=2001)
    raw = bytearray(bytes(bad))
    raw[-5] ^= 0x20
    wrong_spi = SecurityAssociation(
        ESP, spi=0x7777, crypt_algo="AES-GCM", crypt_key=key("esp-b4-in"),
        tunnel_header=IP(src=b4.remote, dst=b4.local))
    cut = bytearray(bytes(b4.frame(syn(INNER4, SHOP4), seq=2002)))
    cut = cut[:14 + 20 + 8 + 8 + 10]
    cut[16:18] = (len(cut) - 14).to_bytes(2, "big")
    cut[24:26] = b"\0\0"
    cut = Ether(bytes(cut))
    del cut[IP].chksum
    frames = [first] + gap() + [
        first] + gap() + [                              # replay
        b4.frame(syn(INNER4, SHOP4), seq=2000)] + gap() + [
        b4.frame(syn(INNER4, SHOP4), seq=5),            # out of window
        Ether(bytes(raw)),                              # bad ICV
        b4.frame(syn(INNER4, SHOP4), seq=6, sa=wrong_spi),
        cut,                                            # malformed
        Ether(src=b4u.mac, dst=GW_MAC) /
        IP(src=b4u.remote, dst=b4u.local) / UDP(sport=4500, dport=4500) /
        Raw(b"\xff"),                                   # keepalive
        Ether(src=b4u.mac, dst=GW_MAC) /
        IP(src=b4u.remote, dst=b4u.local) / UDP(sport=4500, dport=4500) /
        Raw(b"\0\0\0\0" + b"ike" * 10),                 # non-ESP marker
    ]
    out, stats, _ = replay(mg, tmp_path, frames)
    assert drops(stats) == {
        "esp_replay": 1, "esp_out_of_window": 1, "esp_bad_icv": 1,
        "esp_unknown_spi": 1, "esp_malformed": 3,
        "ethertype_unknown": 3 * GAP}, drops(stats)
    # the SYN, then its retransmission (seq 2000): one connection
    assert len([f for f in out if f.haslayer(TCP)]) == 2


def conf_copy(tmp_path, extra=""):
    """esp_replay.conf in tmp_path, keys by absolute path, `extra`
    appended."""
    text = CONF.read_text().replace('"keys/', '"%s/' % KEYS)
    path = tmp_path / "esp.conf"
    path.write_text(text + extra)
    return path


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_peers_telemetry(mg, tmp_path):
    """/meshgate/peers (through the telemetry socket) and /metrics show,
    per peer and SA, packets, bytes, drops by reason, the sequence
    numbers and the replay window's top, and never a key."""
    b4 = PEERS["b4"]
    port = free_port()
    conf = conf_copy(tmp_path,
                     'telemetry = { listen = "127.0.0.1:%d"; };\n' % port)
    first = b4.frame(syn(INNER4, SHOP4), seq=7)
    frames = [first, first] + gap() + [
        Ether(src=BACKEND_MAC, dst=GW_MAC) / synack(BACKEND4, INNER4, 8080)]
    rx, tx = tmp_path / "t.pcap", tmp_path / "t-out.pcap"
    wrpcap(str(rx), frames)
    proc = mg.start(["-f", str(conf)], [pcap_vdev(0, rx=rx, tx=tx)])
    try:
        with mg_telemetry.connect_when_ready(mg.prefix, "/meshgate/stats",
                                             "rx", 20, pid=proc.pid) as tel:
            wait_for(lambda: tel.query("/meshgate/stats")["rx"] ==
                     len(frames), 20, "every frame received")
            peers = wait_for(
                lambda: (lambda p: p if p["b4"]["sas"]["out_0x00002004"]
                         ["packets"] == 1 else None)(
                    tel.query("/meshgate/peers")), 20, "the answer sent")
            one = tel.query("/meshgate/peers,b4")
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    finally:
        rc, log = mg.stop(proc)
    assert rc == 0, log
    b = peers["b4"]
    assert b["identity"] == "peer:b4" and b["remote"] == "198.18.0.20"
    assert b["encap"] == "esp"
    sin, sout = b["sas"]["in_0x00001004"], b["sas"]["out_0x00002004"]
    assert sin["packets"] == 1 and sin["seq"] == 7
    assert sin["replay_window"] == 1024 and sin["state"] == "active"
    assert sin["drops"] == {"esp_replay": 1}
    assert sout["packets"] == 1 and sout["seq"] == 1
    assert sout["bytes"] == 40 and sout["algorithm"] == "aes-gcm-128"
    assert list(one) == ["b4"]
    assert peers["b6u"]["remote"] == "2001:db8::21:4501"
    assert peers["b6u"]["sas"]["in_0x00001007"]["esn"] == 1
    m = Exposition(body)
    sa_in = {"peer": "b4", "spi": "0x00001004", "direction": "in"}
    assert m.value("meshgate_esp_sa_packets_total", **sa_in) == 1, body
    assert m.value("meshgate_esp_sa_drops_total", reason="esp_replay",
                   **sa_in) == 1, body
    assert m.value("meshgate_esp_sa_sequence_number", peer="b4",
                   spi="0x00002004", direction="out", state="active") == 1
    assert m.value("meshgate_esp_sa_replay_window", **sa_in) == 1024
    # no key anywhere: not in the reply, not in /metrics, not in the log
    for name in ("esp-b4-in", "esp-b4-out", "esp-b6u-out"):
        k = key(name).hex()
        for text in (json.dumps(peers), body, log):
            assert k[:16] not in text and k[-16:] not in text


def test_inline_crypto_profile_falls_back(mg, tmp_path):
    """A driver profile that asks for inline IPsec crypto (rte_security)
    on a device without it (net_pcap): said at start-up, and ESP works
    through the cryptodev all the same."""
    prof = tmp_path / "drivers"
    prof.mkdir()
    (prof / "pcap-inline.conf").write_text(
        (Path(CONFIGS).parent.parent / "drivers-conf" /
         "pcap.conf").read_text() + 'ipsec = "inline-crypto";\n')
    conf = conf_copy(tmp_path, 'drivers_conf_dir = "%s";\n' % prof)
    conf.write_text(conf.read_text().replace('profile = "pcap"',
                                             'profile = "pcap-inline"'))
    p = PEERS["b4"]
    frames = ([p.frame(syn(INNER4, SHOP4))] + gap() +
              [Ether(src=BACKEND_MAC, dst=GW_MAC) /
               synack(BACKEND4, INNER4, 8080)])
    rx, tx = tmp_path / "i.pcap", tmp_path / "i-out.pcap"
    wrpcap(str(rx), frames)
    r = mg.run(["-f", str(conf), "--exit-on-idle", str(IDLE_MS)],
               [pcap_vdev(0, rx=rx, tx=tx)], stats=True)
    assert r.rc == 0, r
    assert "profile pcap-inline asks for inline IPsec crypto, which " \
        "net_pcap0 does not offer" in r.stderr, r.stderr
    out = [Ether(f) for f in read_frames(tx)]
    assert len(esp_frames(out, p)) == 1
    assert r.stats["mempool"]["in_use"] == 0
