# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Two workers, the two directions of every connection on different
queues: what a NIC's RSS does once DNAT has changed the tuple. The
client's frames (SYN, ACK, data to the VIP) arrive on queue 0, polled by
lcore 1; the backend's (SYN-ACK, data to the client) on queue 1, polled
by lcore 2. Nothing may be lost or misclassified: every frame forwarded
once, on its own worker's queue, translated for its own connection.

A capture replayed from a file runs as fast as it can, so two files would
race: a SYN-ACK could reach its worker before the SYN had made the flow.
Each queue reads a FIFO instead (net_pcap reads it as a pcap file), which
the test feeds in phases: the SYNs, then the SYN-ACKs, then the ACKs, each
once the previous phase is received and handled (telemetry); then ROUNDS
rounds of one data segment each way per connection, both queues fed at
once, so the two workers work on the same connections at the same time.
A segment acknowledges only what its peer sent in earlier phases (the
gateway drops ACKs of bytes it has not seen), so within a round the two
directions do not depend on each other's timing."""

import random
import shutil
import signal
import subprocess
import sys
import threading

from scapy.all import IP, TCP, Ether, Raw, raw

from pcapfifo import Fifo
from mgrun import (CONFIGS, REPO, check_clean_stop, check_stats, eal_args,
                   load_stats, mg_telemetry, read_frames, unique_prefix,
                   wait_for)

sys.path.insert(0, str(REPO / "scripts"))
import gen_bench_pcaps as gen  # noqa: E402

CONNS = 256
ROUNDS = 4
PHASE_TIMEOUT = 20          # s for a phase to be received and handled
VIP = int.from_bytes(bytes(map(int, gen.VIP.split("."))), "big")
BACKEND = int.from_bytes(bytes(map(int, gen.L7_BACKEND.split("."))), "big")
SYN, ACK, PSH = gen.SYN, gen.ACK, gen.PSH
RST = 0x04
# net_pcap0's MAC (what the gateway sends from), the callers' router and
# the backend (what it sends to)
GW_MAC, CALLER_MAC, BACKEND_MAC = gen.GW_MAC, gen.CALLER_MAC, gen.BACKEND_MAC


class Conn:
    """One connection's frames, built with the bench generator's frame
    writer; each side's sequence number and what it acknowledges are
    set by the phase, not by the other side's latest segment."""

    def __init__(self, tf, i):
        self.tf, self.i = tf, i
        self.src, self.sport = gen.tuple_of(i)
        self.cseq, self.sseq = gen.isn(i), gen.isn(i + 0x10000000)
        # (seq, ack, payload) of each side's segments, in order
        self.sent = {"c": [], "s": []}

    def client(self, flags, ack, payload=b""):
        f = self.tf.build(CALLER_MAC, self.src, VIP, self.sport,
                          gen.VIP_PORT, flags, self.cseq, ack, payload,
                          self.i & 0xFFFF)
        self.sent["c"].append((self.cseq, ack, payload))
        self.cseq += len(payload) + (1 if flags & SYN else 0)
        return f

    def server(self, flags, ack, payload=b""):
        f = self.tf.build(BACKEND_MAC, BACKEND, self.src,
                          gen.L7_BACKEND_PORT, self.sport, flags, self.sseq,
                          ack, payload, self.i & 0xFFFF)
        self.sent["s"].append((self.sseq, ack, payload))
        self.sseq += len(payload) + (1 if flags & SYN else 0)
        return f


def phases(conns):
    """[(queue-0 frames, queue-1 frames)], fed one after the other."""
    rng = random.Random(15)
    out = [([c.client(SYN, 0) for c in conns], []),
           ([], [c.server(SYN | ACK, c.cseq) for c in conns]),
           ([c.client(ACK, c.sseq) for c in conns], [])]
    for r in range(ROUNDS):
        # what each side has sent before the round: all it may ack
        acks = {c.i: (c.cseq, c.sseq) for c in conns}
        up, down = list(conns), list(conns)
        rng.shuffle(up)
        rng.shuffle(down)
        out.append((
            [c.client(PSH | ACK, acks[c.i][1], b"up%04d" % (r * 1000 + c.i
                                                             % 1000))
             for c in up],
            [c.server(PSH | ACK, acks[c.i][0], b"dn%04d" % (r * 1000 + c.i
                                                             % 1000))
             for c in down]))
    return out


def worker_rx(tel):
    lc = tel.query("/meshgate/lcores")
    return lc["1"]["rx"], lc["2"]["rx"], lc


def handled(tel, want0, want1):
    """Both workers received what was fed and handled all of it."""
    rx0, rx1, lc = worker_rx(tel)
    done = all(lc[k]["tx"] + lc[k]["drops_total"] == lc[k]["rx"]
               for k in ("1", "2"))
    return rx0 >= want0 and rx1 >= want1 and done and (rx0, rx1)


def run_plan(meshgate_bin, tmp_path, plan):
    """Feeds plan's phases to the two queues (each phase once the last is
    received and handled); returns the stop's --stats-json, /meshgate/flows
    and /meshgate/policies at the end, and the two outputs."""
    conf = tmp_path / "two_way.conf"
    conf.write_text((CONFIGS / "bench_mesh_2way.conf").read_text() +
                    'telemetry = { listen = "off"; };\n'
                    "lcores = ( { lcore = 1; queue = 0; },\n"
                    "           { lcore = 2; queue = 1; } );\n")
    fifos = [Fifo(str(tmp_path / ("q%d.pcap" % q))) for q in (0, 1)]
    outs = [tmp_path / ("out%d.pcap" % q) for q in (0, 1)]
    vdev = ",".join(["net_pcap0"] + ["rx_pcap=%s" % f.path for f in fifos] +
                    ["tx_pcap=%s" % o for o in outs])
    prefix = unique_prefix()
    stats_path = tmp_path / "stats.json"
    argv = [str(meshgate_bin)] + eal_args(prefix, vdevs=[vdev], mem=512)
    # two workers sharing the second core, as test_overload's rate test
    argv[argv.index("-l"):argv.index("-l") + 2] = ["--lcores", "0@0,1@1,2@1"]
    argv += ["--", "-f", str(conf), "--stats-json", str(stats_path)]
    log = open(tmp_path / "meshgate.log", "w+")
    proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        with mg_telemetry.connect_when_ready(prefix, "/meshgate/lcores",
                                             "2", 20, proc=proc) as tel:
            want = [0, 0]
            for q0, q1 in plan:
                want[0] += len(q0)
                want[1] += len(q1)
                feeders = [threading.Thread(target=fifos[q].write,
                                            args=(frames,))
                           for q, frames in ((0, q0), (1, q1)) if frames]
                for t in feeders:
                    t.start()
                for t in feeders:
                    t.join(PHASE_TIMEOUT)
                wait_for(lambda: handled(tel, *want), PHASE_TIMEOUT,
                         "both workers handling %r" % want)
            flows = tel.query("/meshgate/flows")
            policies = tel.query("/meshgate/policies")
    finally:
        for f in fifos:
            f.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.seek(0)
        text = log.read()
        log.close()
        shutil.rmtree(mg_telemetry.runtime_dir(prefix), ignore_errors=True)
    stats = check_clean_stop(proc.returncode, text, load_stats(stats_path))
    check_stats(stats)
    return stats, flows, policies, outs


def test_two_way_on_two_queues(meshgate_bin, tmp_path):
    """256 connections, handshakes and 4 rounds of data each way, the two
    directions on two queues and two workers: every frame forwarded once
    (--stats-json: rx = tx, no drop, 256 connections made, each lcore's
    counts those of its queue), on its own queue's output, translated for
    its own connection (client to backend: destination 198.18.2.21:8080,
    to the backend's MAC; backend to client: source the VIP and port 80,
    to the caller's MAC; sequence numbers and payloads untouched, in each
    connection's order, checksums valid); all 256 connections end
    established and allowed by callers-to-bench; no mbuf leaked."""
    tf = gen.TcpFrames()
    conns = [Conn(tf, i) for i in range(CONNS)]
    plan = phases(conns)
    stats, flows, policies, outs = run_plan(meshgate_bin, tmp_path, plan)
    n0 = sum(len(p[0]) for p in plan)
    n1 = sum(len(p[1]) for p in plan)
    assert stats["rx"] == stats["tx"] == n0 + n1, {k: v for k, v in
                                                   stats["drops"].items() if v}
    assert stats["drops_total"] == 0, {k: v for k, v in
                                       stats["drops"].items() if v}
    assert stats["flows_created"] == CONNS
    assert stats["lcores"]["1"]["rx"] == stats["lcores"]["1"]["tx"] == n0
    assert stats["lcores"]["2"]["rx"] == stats["lcores"]["2"]["tx"] == n1
    assert flows["states"]["established"] == CONNS, flows
    assert flows["half_open"] == 0, flows
    assert flows["total"] == CONNS, flows
    allowed = sum(e.get("allow", 0) for e in policies.values()
                  if e.get("rule") == "callers-to-bench")
    assert allowed == CONNS, policies

    by_conn = {(c.src, c.sport): c for c in conns}
    for q, out in enumerate(outs):
        frames = read_frames(out)
        assert len(frames) == (n0, n1)[q]
        seen = {}
        for data in frames:
            pkt = Ether(data)
            check_checksums(pkt)
            ip, tcp = pkt[IP], pkt[TCP]
            assert pkt.src == GW_MAC, pkt.summary()
            if q == 0:      # client to backend, DNATed
                assert (ip.dst, tcp.dport) == (gen.L7_BACKEND,
                                               gen.L7_BACKEND_PORT), \
                    pkt.summary()
                assert pkt.dst == BACKEND_MAC
                key = (int.from_bytes(bytes(map(int, ip.src.split("."))),
                                      "big"), tcp.sport)
            else:           # backend to client, back from the VIP
                assert (ip.src, tcp.sport) == (gen.VIP, gen.VIP_PORT), \
                    pkt.summary()
                assert pkt.dst == CALLER_MAC
                key = (int.from_bytes(bytes(map(int, ip.dst.split("."))),
                                      "big"), tcp.dport)
            assert key in by_conn, "a frame of no connection: %s" % \
                pkt.summary()
            seen.setdefault(key, []).append(
                (tcp.seq, tcp.ack, pkt[Raw].load if Raw in pkt else b""))
        side = "cs"[q]
        for key, c in by_conn.items():
            assert seen.get(key) == c.sent[side], \
                (c.i, side, seen.get(key), c.sent[side])


def check_checksums(pkt):
    """The IPv4 and TCP checksums of a forwarded frame are right (the
    gateway rewrote addresses and ports)."""
    want = (pkt[IP].chksum, pkt[TCP].chksum)
    again = pkt.copy()
    del again[IP].chksum
    del again[TCP].chksum
    again = Ether(raw(again))
    assert (again[IP].chksum, again[TCP].chksum) == want, pkt.summary()


def test_reuse_on_the_other_queue(meshgate_bin, tmp_path):
    """A connection admitted by one worker, reset, and opened again on the
    same tuple through the other worker: each worker admits into its own
    shard of the flow table, so the second worker removes the first's
    connection by handing it over (its owner unlinks it at the start of
    its next round) and admits the new one into its own. 128 connections:
    SYN on queue 1 (lcore 2), SYN-ACK on queue 0, ACK and then the
    client's RST on queue 1; then a SYN with a new ISN on queue 0 (lcore
    1: the old connection is closed, so this one starts afresh), its
    SYN-ACK on queue 1 (lcore 2, whose shard still held the old
    connection's keys: it must find the new one), the ACK on queue 0.
    Every frame is forwarded, none dropped, 256 connections made and 128
    left, all established; no mbuf leaked."""
    n = 128
    tf = gen.TcpFrames()
    conns = [Conn(tf, i) for i in range(n)]
    plan = [([], [c.client(SYN, 0) for c in conns]),
            ([c.server(SYN | ACK, c.cseq) for c in conns], []),
            ([], [c.client(ACK, c.sseq) for c in conns]),
            ([], [c.client(RST | ACK, c.sseq) for c in conns])]
    for c in conns:
        c.cseq = gen.isn(c.i + 0x20000000)
        c.sseq = gen.isn(c.i + 0x30000000)
    plan += [([c.client(SYN, 0) for c in conns], []),
             ([], [c.server(SYN | ACK, c.cseq) for c in conns]),
             ([c.client(ACK, c.sseq) for c in conns], [])]
    stats, flows, _, outs = run_plan(meshgate_bin, tmp_path, plan)
    frames = sum(len(q0) + len(q1) for q0, q1 in plan)
    assert stats["rx"] == stats["tx"] == frames, {
        k: v for k, v in stats["drops"].items() if v}
    assert stats["drops_total"] == 0
    assert stats["flows_created"] == 2 * n
    assert flows["total"] == n, flows
    assert flows["states"]["established"] == n, flows
    assert flows["half_open"] == 0, flows
    # the new handshake's SYN-ACKs left for the client, from the VIP
    last = [Ether(d) for d in read_frames(outs[1])][-n:]
    assert all(p[IP].src == gen.VIP and p[TCP].flags == "SA"
               for p in last), last[0].summary()
    for p in last:
        check_checksums(p)
