# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The flight recorder: the shadow test's capture through
shadow_current.conf drops three packets (a SYN no rule allows, a SYN to
an address no service has, a request a layer-7 rule denies).
/meshgate/recorder and SIGUSR2 each write a pcapng file that tshark
reads: the three packets as they arrived (first 256 bytes), oldest
first, each commented with its reason, rule, caller and service; a
recorder of one packet keeps only the last; recorder.packets = 0 writes
nothing. The mbuf pool is back at zero after each run."""

import signal
import subprocess
import time
from pathlib import Path

from scapy.all import raw, rdpcap

from mgrun import (check_clean_stop, load_stats, mg_telemetry, pcap_vdev,
                   read_frames, wait_for)
from test_shadow import CUR, capture

READY_S = 20
HANDLED_S = 20


def tshark_comments(path):
    """Each packet's comment, as tshark reads it; its time must be the
    last minute's and its interface port 0's."""
    proc = subprocess.run(["tshark", "-r", str(path), "-T", "fields",
                           "-E", "separator=|", "-e", "frame.time_epoch",
                           "-e", "frame.interface_id", "-e",
                           "frame.comment"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    comments = []
    for line in proc.stdout.splitlines():
        when, ifid, comment = line.split("|")
        assert abs(float(when) - time.time()) < 60, line
        assert ifid == "0", line
        comments.append(comment)
    return comments


def run(mg, tmp_path, packets, dump):
    """The capture through a gateway keeping `packets` per lcore; then
    `dump(proc, tel)`; returns what it returned, after a clean stop."""
    pcap = tmp_path / "in.pcap"
    capture(pcap)
    frames = len(read_frames(pcap))
    conf = tmp_path / "rec.conf"
    conf.write_text(CUR.read_text() + '\nrecorder = { packets = %d; '
                    'dir = "%s"; };\n' % (packets, tmp_path / "dumps"))
    (tmp_path / "dumps").mkdir()
    stats_path = tmp_path / "stats.json"
    proc = mg.start(["-f", str(conf), "--stats-json", str(stats_path)],
                    [pcap_vdev(0, rx=pcap, tx=tmp_path / "out.pcap")])
    try:
        with mg_telemetry.connect_when_ready(
                mg.prefix, "/meshgate/stats", "rx", READY_S,
                proc=proc) as tel:
            wait_for(lambda: (lambda s: s["rx"] == frames and
                              s["drops_total"] == 3)(
                                  tel.query("/meshgate/stats")),
                     HANDLED_S, "%d frames handled" % frames)
            out = dump(proc, tel)
    finally:
        rc, log = mg.stop(proc)
    check_clean_stop(rc, log, load_stats(stats_path))
    return out, log


# in capture order: the debug request, the SYN to 198.19.0.70, the
# unknown caller's SYN
WANT = [
    "reason=l7_deny rule=shop-no-debug identity=frontend service=shop "
    "lcore=1",
    "reason=no_service lcore=1",
    "reason=policy_deny rule=default-deny identity=unknown service=shop "
    "lcore=1",
]


def dropped_frames(pcap):
    """The three frames the gateway drops, in capture order."""
    return [raw(p) for p in rdpcap(str(pcap))
            if p["IP"].src == "198.18.9.10" or
            p["IP"].dst == "198.19.0.70" or b"debug=1" in raw(p)]


def test_dump_by_telemetry_and_signal(mg, tmp_path):
    def dump(proc, tel):
        reply = tel.query("/meshgate/recorder")
        proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: len(list((tmp_path / "dumps").iterdir())) == 2,
                 10, "a second file after SIGUSR2")
        return reply
    reply, log = run(mg, tmp_path, 256, dump)
    assert reply["packets"] == 3, reply
    files = sorted((tmp_path / "dumps").iterdir())
    assert Path(reply["file"]) in files
    for f in files:
        assert "3 packet(s) written to %s" % f in log, log
        assert tshark_comments(f) == WANT
        assert [raw(p) for p in rdpcap(str(f))] == \
            dropped_frames(tmp_path / "in.pcap")


def test_ring_keeps_the_last(mg, tmp_path):
    reply, _log = run(mg, tmp_path, 1,
                      lambda proc, tel: tel.query("/meshgate/recorder"))
    assert reply["packets"] == 1, reply
    assert tshark_comments(reply["file"]) == WANT[2:]
    assert [raw(p) for p in rdpcap(reply["file"])] == \
        dropped_frames(tmp_path / "in.pcap")[2:]


def test_recorder_off(mg, tmp_path):
    reply, log = run(mg, tmp_path, 0,
                     lambda proc, tel: tel.query("/meshgate/recorder"))
    assert reply == {"error": "No such device"}, reply
    assert list((tmp_path / "dumps").iterdir()) == []
