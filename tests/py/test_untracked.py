# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""A ruleset without services skips the connection lookup (wire mode's
bridge: worker.c's nothing_tracked()) only while the table is empty: a
connection admitted under an earlier config keeps being translated after
a reload takes every service away, and other traffic is bridged
unchanged next to it. Live, frame by frame, on test_syn_cookies'
FIFO-fed gateway (two queues, one worker each)."""

import signal

from scapy.all import IP, TCP, UDP, Ether, Raw, raw

from mgrun import wait_for
from test_syn_cookies import (BACKEND, BACKEND_PORT, CLIENT, VIP, VIP_PORT,
                              A, S, Gateway, backend, client, one)

# the same restart-only settings as test_syn_cookies' CONFIG (ports,
# lcores, flows, telemetry), no identity, service or policy
NO_SERVICES = """
mode = "one-arm";
burst = 1;
unmatched = "forward";
flows = { max = 1024; max_half_open = 256; syn_cookies = "off"; };
telemetry = { listen = "off"; };
ports = (
	{ name = "edge"; device = "net_pcap0"; profile = "pcap";
	  addresses = ["198.18.64.1/18", "198.18.2.1/24", "2001:db8:64::1/64",
		       "2001:db8:2::1/64"]; }
);
neighbours = (
	{ address = "198.18.2.21"; mac = "02:00:00:00:02:21"; },
	{ address = "2001:db8:2::21"; mac = "02:00:00:00:02:21"; }
);
lcores = ( { lcore = 1; queue = 0; }, { lcore = 2; queue = 1; } );
"""


def reload(gw, text):
    """SIGHUP with `text` as the file. A worker blocked on its FIFO
    reports no RCU quiescence, so the reload's grace period waits for a
    frame on each queue: an unknown EtherType, dropped under any config,
    until the log says the new ruleset is in force."""
    log = gw.tmp / "meshgate.log"
    before = log.read_text().count("new ruleset in force")
    new = gw.tmp / "gw.conf.new"
    new.write_text(text)
    new.replace(gw.tmp / "gw.conf")
    gw.proc.send_signal(signal.SIGHUP)

    def in_force():
        text = log.read_text()
        if text.count("new ruleset in force") > before or \
                "rejected" in text:
            return True
        for q in (0, 1):
            assert gw.send([JUNK], queue=q) == []
        return False

    wait_for(in_force, 20, "the reload")
    assert "rejected" not in log.read_text(), log.read_text()


JUNK = Ether(src="02:00:00:00:40:01", dst="02:70:63:61:70:00",
             type=0x88B5) / Raw(b"x" * 46)


def stray_udp():
    """A datagram for no service and not for the gateway."""
    return Ether(src="02:00:00:00:40:01", dst="02:70:63:61:70:00") / \
        IP(src=CLIENT, dst="198.18.2.99", ttl=9) / \
        UDP(sport=5000, dport=6000) / Raw(b"bridged as it came")


def bridged(gw, frame):
    """`frame` comes out once, byte for byte as it went in."""
    out = gw.send([frame])
    assert [raw(f) for f in out] == [raw(frame)], [f.summary() for f in out]
    return True


def test_live_connection_outlives_its_services(meshgate_bin, tmp_path):
    gw = Gateway(meshgate_bin, tmp_path, mode="off")
    try:
        syn = one(gw.send([client(S, 1000)]), "SYN to the backend")
        assert (syn[IP].dst, syn[TCP].dport) == (BACKEND, BACKEND_PORT)

        reload(gw, NO_SERVICES)
        # the table still holds the connection: its answer is looked up
        # and translated back to the virtual address
        ans = one(gw.send([backend("SA", 5000, 1001)], queue=1),
                  "SYN-ACK to the client")
        assert (ans[IP].src, ans[IP].dst) == (VIP, CLIENT)
        assert (ans[TCP].sport, ans[TCP].dport) == (VIP_PORT, 40000)
        ack = one(gw.send([client(A, 1001, 5001)]), "ACK to the backend")
        assert (ack[IP].dst, ack[TCP].dport) == (BACKEND, BACKEND_PORT)

        # traffic of no connection is bridged unchanged (TTL included)
        udp = stray_udp()
        assert bridged(gw, udp)
        assert gw.query("/meshgate/flows")["total"] == 1
    finally:
        gw.stop()


def test_no_services_from_the_start(meshgate_bin, tmp_path):
    """Nothing tracked at all: a SYN to the old virtual address is just
    another frame to bridge, and no connection is made."""
    gw = Gateway(meshgate_bin, tmp_path, mode="off")
    try:
        reload(gw, NO_SERVICES)
        assert bridged(gw, client(S, 1000))
        assert bridged(gw, stray_udp())
        assert gw.query("/meshgate/flows")["total"] == 0
        assert gw.drops().get("no_service", 0) == 0
    finally:
        gw.stop()
