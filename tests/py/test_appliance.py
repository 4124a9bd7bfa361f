# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The gateway as an appliance: idle modes, the memory budget, installed
like a service (meson install, the systemd unit, sd_notify and the
watchdog), the stock dpdk-dumpcap on a running gateway, and HA peers
that choose the same backends."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap

import netns
from mgrun import (CONFIGS, REPO, check_clean_stop, check_stats, eal_args,
                   load_stats, mg_telemetry, pcap_vdev, unique_prefix,
                   wait_for)

BUNDLED = REPO / "app" / "meshgate" / "meshgate.conf"
PRODUCTION = REPO / "etc" / "meshgate.conf"
READY_S = 20            # start-up to the first telemetry answer
NOTIFY_S = 20           # a notify message expected
ROOT_WHY = None if os.geteuid() == 0 else "needs root"
NETNS_WHY = netns.available()
GW_MAC = "02:00:00:00:00:01"


def quiet(text):
    """A config with the management endpoint off (tests run in
    parallel: the default address would collide)."""
    return text + '\ntelemetry = { listen = "off"; };\n'


# ------------------------------------------------------------ idle modes

@pytest.mark.parametrize("mode,words", [
    ("adaptive", "idle mode adaptive: sleeps of 8..3000 us"),
    ("poll", "idle mode poll: busy-polls"),
    ("interrupt", "port edge has no RX interrupts; idling as adaptive")])
def test_idle_modes_on_pcap(mg, tmp_path, mode, words):
    """Each idle mode forwards the demo capture exactly as before (every
    frame accounted for, no leak); net_pcap has no RX interrupts, so
    "interrupt" says so and idles as adaptive. While the capture is
    over and --exit-on-idle waits, an idling worker spends time waiting
    (idle_wait_s > 0), a polling one none."""
    conf = tmp_path / "idle.conf"
    conf.write_text(quiet(BUNDLED.read_text()) +
                    'idle = { mode = "%s"; };\n' % mode)
    out = tmp_path / "out.pcap"
    pcap = tmp_path / "in.pcap"
    wrpcap(str(pcap), [Ether(dst=GW_MAC) / IP(src="198.18.1.%d" % i,
                                               dst="198.19.0.10") /
                       TCP(sport=40000 + i, dport=80, flags="S")
                       for i in range(2, 50)])
    res = mg.run(["-f", str(conf), "--exit-on-idle", "500"],
                 [pcap_vdev(0, rx=pcap, tx=out)], stats=True)
    assert res.rc == 0, res
    assert words in res.stderr, res.stderr
    check_stats(res.stats)
    assert res.stats["rx"] == 48 and res.stats["tx"] == 48, res.stats
    if mode == "poll":
        assert res.stats["idle_wait_s"] == 0, res.stats
    else:
        assert res.stats["idle_wait_s"] > 0, res.stats


TAP_CONF = """mode = "one-arm";
ports = ( { name = "tapside"; device = "net_tap0"; profile = "tap";
            addresses = ["198.18.5.1/24"]; } );
idle = { mode = "interrupt"; max_sleep_us = 200000; };
telemetry = { listen = "off"; };
"""


@pytest.mark.skipif(NETNS_WHY is not None, reason=str(NETNS_WHY))
def test_interrupt_mode_on_tap(meshgate_bin, tmp_path):
    """net_tap delivers RX interrupts: in mode "interrupt" the worker
    waits in rte_epoll_wait (its log says so) and every echo request
    the kernel sends through the TAP device after seconds of idling is
    answered by the gateway (the ping's replies counted)."""
    topo = netns.Topology()
    try:
        ns = topo.add("gw")
        conf = tmp_path / "tap.conf"
        conf.write_text(TAP_CONF)
        prefix = unique_prefix()
        argv = [str(meshgate_bin)] + eal_args(
            prefix, "0,1", ["net_tap0,iface=mgtap"]) + \
            ["--", "-f", str(conf), "--stats-json",
             str(tmp_path / "stats.json")]
        proc = ns.popen(argv, tmp_path / "meshgate.log")
        try:
            mg_telemetry.connect_when_ready(prefix, "/meshgate/stats", "rx",
                                            READY_S, proc=proc).close()
            ns.ip("addr", "add", "198.18.5.2/24", "dev", "mgtap")
            ns.ip("link", "set", "mgtap", "up")
            time.sleep(2)       # idle: the worker waits for interrupts
            ping = ns.run(["ping", "-c", "3", "-i", "1", "-W", "2",
                           "198.18.5.1"], timeout=20)
        finally:
            rc, log = topo.stop(proc, signal.SIGINT, 10)
            shutil.rmtree(mg_telemetry.runtime_dir(prefix),
                          ignore_errors=True)
        assert "idle mode interrupt: waits for RX interrupts" in log, log
        assert " 3 received" in ping.stdout, ping.stdout + log
        stats = check_clean_stop(rc, log, load_stats(tmp_path /
                                                     "stats.json"))
        assert stats["idle_wait_s"] > 1, stats
    finally:
        topo.destroy()


# --------------------------------------------------------- memory budget

def test_memory_budget(mg, run, tmp_path):
    """memory_mb: the production example fits its 65,536 connections in
    64 MiB; a file whose sizes cannot fit is refused at memory_mb's
    FILE:LINE with what it needs; a file without flows.max gets as many
    connections as the budget holds (a multiple of 1024), and start-up
    prints the breakdown and the sizes it chose."""
    rc, out, err, _ = run(["-f", str(PRODUCTION), "--check-config"])
    assert rc == 0, err
    assert "memory_mb = 64: flows.max 65536, l7.max_pending 256" in out, out

    big = tmp_path / "big.conf"
    big.write_text('memory_mb = 32;\nflows = { max = 200000; };\n' +
                   (CONFIGS / "one_arm.conf").read_text())
    rc, out, err, _ = run(["-f", str(big), "--check-config"])
    assert rc == 1, out + err
    assert re.search(r"^%s:1: memory_mb = 32 cannot hold what the file "
                     r"asks: it needs about \d+ MiB \(flow table "
                     % re.escape(str(big)), err, re.M), err
    assert "raise memory_mb to" in err

    fit = tmp_path / "fit.conf"
    fit.write_text(quiet('memory_mb = 48;\n' +
                         (CONFIGS / "one_arm.conf").read_text()))
    rc, out, err, _ = run(["-f", str(fit), "--check-config"])
    assert rc == 0, err
    m = re.search(r"memory_mb = 48: flows\.max (\d+) \(sized by it\), "
                  r"l7\.max_pending (\d+) \(sized by it\)", out)
    assert m, out
    flows = int(m.group(1))
    assert flows % 1024 == 0 and 16384 <= flows < 200000, flows
    pcap = tmp_path / "one.pcap"
    wrpcap(str(pcap), [Ether(dst=GW_MAC) / IP(src="198.18.1.2",
                                              dst="198.18.1.3") /
                       TCP(sport=40000, dport=80, flags="S")])
    res = mg.run(["-f", str(fit), "--exit-on-idle", "200"],
                 [pcap_vdev(0, rx=pcap)], stats=True, mem=128)
    assert res.rc == 0, res
    check_stats(res.stats)
    assert "memory: budget memory_mb = 48: flows.max %d" % flows in \
        res.stderr, res.stderr
    assert re.search(r"memory: [\d.]+ MiB estimated \(flow table [\d.]+ "
                     r"MiB, layer-7 state", res.stderr), res.stderr


# ------------------------------------------------ installed like a service

def build_dir(binary):
    return Path(binary).resolve().parents[1]


def meson_prefix(build):
    opts = json.loads(subprocess.run(
        ["meson", "introspect", "--buildoptions", str(build)],
        capture_output=True, text=True, check=True, timeout=60).stdout)
    get = {o["name"]: o["value"] for o in opts}
    return Path(get["prefix"]), get["sysconfdir"], get["bindir"]


@pytest.fixture(scope="module")
def installed(meshgate_bin, tmp_path_factory):
    """`meson install` of the build the tests run into a DESTDIR."""
    dest = tmp_path_factory.mktemp("destdir")
    build = build_dir(meshgate_bin)
    proc = subprocess.run(["meson", "install", "-C", str(build),
                           "--no-rebuild", "--quiet", "--destdir",
                           str(dest)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prefix, sysconf, bindir = meson_prefix(build)
    root = dest / prefix.relative_to("/")
    etc = Path(sysconf) if Path(sysconf).is_absolute() else prefix / sysconf
    return {"dest": dest, "prefix": prefix, "root": root,
            "bin": root / bindir / "meshgate",
            "conf": dest / etc.relative_to("/") / "meshgate" /
            "meshgate.conf",
            "profiles": root / "share" / "meshgate" / "drivers-conf",
            "unit": root / "lib" / "systemd" / "system" /
            "meshgate.service",
            "sysctl": root / "lib" / "sysctl.d" /
            "60-meshgate-hugepages.conf"}


def test_install_into_destdir(installed, tmp_path):
    """meson install puts the binary, every drivers-conf profile, the
    production config (as /etc/meshgate/meshgate.conf under a /usr
    prefix), the unit and the boot-time hugepage reservation in place;
    the installed binary finds the installed profiles — shown by
    breaking the installed ixgbe profile: --check-config then names that
    file — and accepts the installed config once it is whole again."""
    for key in ("bin", "conf", "unit", "sysctl"):
        assert installed[key].is_file(), installed[key]
    assert installed["conf"].read_text() == PRODUCTION.read_text()
    profiles = sorted(p.name for p in installed["profiles"].glob("*.conf"))
    assert profiles == sorted(p.name for p in
                              (REPO / "drivers-conf").glob("*.conf"))
    assert re.search(r"^vm\.nr_hugepages = \d+$",
                     installed["sysctl"].read_text(), re.M)
    ixgbe = installed["profiles"] / "ixgbe.conf"
    good = ixgbe.read_text()
    try:
        ixgbe.write_text(good.replace("rx_desc = 1024", "rx_desc = 5"))
        proc = subprocess.run([str(installed["bin"]), "--", "-f",
                               str(installed["conf"]), "--check-config"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert str(ixgbe) in proc.stderr, proc.stderr
    finally:
        ixgbe.write_text(good)
    proc = subprocess.run([str(installed["bin"]), "--", "-f",
                           str(installed["conf"]), "--check-config"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "configuration is valid" in proc.stdout


@pytest.mark.skipif(ROOT_WHY is not None, reason=str(ROOT_WHY))
def test_unit_verifies(installed):
    """systemd-analyze verify accepts the installed unit (its binary in
    place: the install is laid over the prefix in a private mount
    namespace), and the unit is what the appliance needs: notify type,
    a watchdog, reload by SIGHUP, the capabilities DPDK needs and no
    more, a read-only system, no new privileges, hugepages first."""
    unit = installed["unit"].read_text()
    for line in ("Type=notify", "WatchdogSec=10",
                 "ExecReload=/bin/kill -HUP $MAINPID",
                 "CapabilityBoundingSet=CAP_IPC_LOCK CAP_NET_ADMIN "
                 "CAP_NET_RAW CAP_SYS_ADMIN CAP_SYS_RAWIO "
                 "CAP_DAC_OVERRIDE",
                 "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "Requires=dev-hugepages.mount",
                 "ExecStart=%s/meshgate" % installed["bin"].parent
                 .relative_to(installed["dest"]).as_posix()
                 .join(["/", ""])):
        assert line in unit, line
    prefix = installed["prefix"]
    assert prefix != Path("/usr") and prefix != Path("/"), \
        "the test lays the install over the prefix: not over %s" % prefix
    script = ('mount -t tmpfs none "$1" && cp -a "$2"/. "$1"/ && '
              'systemd-analyze verify "$3"')
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         script, "sh", str(prefix), str(installed["root"]),
         str(prefix / installed["unit"].relative_to(installed["root"]))],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


class NotifySocket:
    """An AF_UNIX datagram socket where the gateway's sd_notify()
    messages land (NOTIFY_SOCKET), each kept with its arrival time."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop and len(self.msgs) < 100000:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.msgs.append((time.monotonic(), data.decode()))

    def seen(self, word, since=0):
        return [t for t, m in self.msgs[since:]
                if word in m.split("\n")]

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def test_sd_notify_and_watchdog(mg, tmp_path):
    """Run with NOTIFY_SOCKET (and WATCHDOG_USEC = 1 s, fed every 333
    ms): READY=1 once the workers run, WATCHDOG=1 while they make poll
    rounds, RELOADING=1 then READY=1 around a SIGHUP reload, and when a
    worker is stuck (test hook: SIGUSR1 with MESHGATE_TEST_STALL_MS =
    2500) the feeds stop — no WATCHDOG=1 for at least 1.5 s, a lower
    bound the 2.5 s sleep guarantees however slow the machine — and the
    log says why; they resume after it, and SIGINT sends STOPPING=1."""
    conf = tmp_path / "gw.conf"
    conf.write_text(quiet(BUNDLED.read_text()))
    pcap = tmp_path / "in.pcap"
    wrpcap(str(pcap), [Ether(dst=GW_MAC) / IP(src="198.18.1.2",
                                              dst="198.19.0.10") /
                       TCP(sport=40000, dport=80, flags="S")])
    note = NotifySocket(tmp_path / "notify.sock")
    try:
        proc = mg.start(["-f", str(conf), "--stats-json",
                         str(tmp_path / "stats.json")],
                        [pcap_vdev(0, rx=pcap)], "0,1",
                        env={"NOTIFY_SOCKET": note.path,
                             "WATCHDOG_USEC": "1000000",
                             "MESHGATE_TEST_STALL_MS": "2500"})
        wait_for(lambda: note.seen("READY=1"), NOTIFY_S, "READY=1")
        assert any(m.startswith("READY=1\nSTATUS=forwarding: 1 worker(s)")
                   for _, m in note.msgs), note.msgs
        wait_for(lambda: len(note.seen("WATCHDOG=1")) >= 3, NOTIFY_S,
                 "three WATCHDOG=1")
        mark = len(note.msgs)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: note.seen("READY=1", mark), NOTIFY_S,
                 "READY=1 after the reload")
        after = [m for _, m in note.msgs[mark:]
                 if "WATCHDOG=1" not in m]
        assert after[0].startswith("RELOADING=1"), after
        assert "the reloaded config is in force" in after[1], after

        mark = len(note.msgs)
        stall = time.monotonic()
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: [t for t in note.seen("WATCHDOG=1", mark)
                          if t > stall + 2.5], NOTIFY_S,
                 "WATCHDOG=1 again after the stall")
        feeds = [stall] + note.seen("WATCHDOG=1", mark)
        gap = max(b - a for a, b in zip(feeds, feeds[1:]))
        assert gap >= 1.5, "feeds during the stall: %s" % \
            [round(t - stall, 2) for t in feeds]
        mark = len(note.msgs)
        rc, log = mg.stop(proc)
        assert "made no poll round" in log and \
            "the systemd watchdog is not fed" in log, log
        wait_for(lambda: note.seen("STOPPING=1", mark), NOTIFY_S,
                 "STOPPING=1")
        check_clean_stop(rc, log, load_stats(tmp_path / "stats.json"))
    finally:
        note.close()


def test_watchdog_fed_through_a_long_reload(mg, tmp_path):
    """A reload compiles on a thread of its own, so the control tick
    goes on feeding the watchdog: single-core mode (-l 0), the 10,000
    patterns of l7_many_patterns.conf reloaded (seconds: the test
    checks it took over a second, or it would prove nothing), and
    WATCHDOG=1 keeps arriving between RELOADING=1 and READY=1."""
    conf = tmp_path / "many.conf"
    conf.write_text(quiet((CONFIGS / "l7_many_patterns.conf").read_text()))
    pcap = tmp_path / "in.pcap"
    wrpcap(str(pcap), [Ether(dst=GW_MAC) / IP(src="198.18.1.2",
                                              dst="198.19.0.10") /
                       TCP(sport=40000, dport=80, flags="S")])
    note = NotifySocket(tmp_path / "notify.sock")
    try:
        proc = mg.start(["-f", str(conf), "--stats-json",
                         str(tmp_path / "stats.json")],
                        [pcap_vdev(0, rx=pcap)], "0",
                        env={"NOTIFY_SOCKET": note.path,
                             "WATCHDOG_USEC": "1000000"})
        wait_for(lambda: note.seen("READY=1"), 120, "READY=1")
        wait_for(lambda: note.seen("WATCHDOG=1"), NOTIFY_S, "WATCHDOG=1")
        mark = len(note.msgs)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: note.seen("READY=1", mark), 120,
                 "READY=1 after the reload")
        begin = note.seen("RELOADING=1", mark)[0]
        end = note.seen("READY=1", mark)[0]
        assert end - begin > 1, "the reload took %.2f s" % (end - begin)
        fed = [t for t in note.seen("WATCHDOG=1", mark) if begin < t < end]
        assert fed, "no WATCHDOG=1 in the %.1f s reload" % (end - begin)
        rc, log = mg.stop(proc)
        assert "new ruleset in force" in log, log
        check_clean_stop(rc, log, load_stats(tmp_path / "stats.json"))
    finally:
        note.close()


# ------------------------------------------------------------ HA peers

PAIR_VIP = "198.19.0.50"       # the bundled config's 75/25 service


def ha_capture(path, n=300):
    """n first SYNs of distinct connections to the two-version service."""
    frames = [Ether(dst=GW_MAC) / IP(src="198.18.1.%d" % (2 + i % 200),
                                     dst=PAIR_VIP) /
              TCP(sport=20000 + 7 * i, dport=80, flags="S", seq=i)
              for i in range(n)]
    wrpcap(str(path), frames)


def choices(mg, conf, pcap, out):
    """(client, port) -> backend of every SYN that came out."""
    res = mg.replay(conf, [pcap_vdev(0, rx=pcap, tx=out)])
    assert res.rc == 0, res
    check_stats(res.stats)
    return {(p[IP].src, p[TCP].sport): p[IP].dst
            for p in rdpcap(str(out)) if TCP in p}


def test_ha_pairs_choose_alike(mg, tmp_path):
    """Two gateways (two processes, one after the other: a restart is
    the same) with the same config send each of 300 new connections to
    the same version and backend; a gateway with another hash_seed
    chooses otherwise for some (the seed is what decides)."""
    pcap = tmp_path / "ha.pcap"
    ha_capture(pcap)
    conf = tmp_path / "ha.conf"
    conf.write_text(quiet(BUNDLED.read_text()))
    first = choices(mg, conf, pcap, tmp_path / "a.pcap")
    second = choices(mg, conf, pcap, tmp_path / "b.pcap")
    assert len(first) == 300 and first == second
    assert set(first.values()) == {"198.18.2.21", "198.18.2.22"}
    other = tmp_path / "other.conf"
    other.write_text(conf.read_text() + "hash_seed = 7;\n")
    third = choices(mg, other, pcap, tmp_path / "c.pcap")
    assert len(third) == 300
    assert sum(first[k] != third[k] for k in first) > 0


# ------------------------------------------------------------ dpdk-dumpcap

HUGE_NEED = 32          # free 2 MiB pages the capture run needs
HUGEPAGES = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")
DUMPCAP = shutil.which("dpdk-dumpcap")

DUMPCAP_CONF = """mode = "one-arm";
flows = { max = 4096; };
mempool = { mbufs = 4095; };
ports = ( { name = "side"; device = "net_af_packet0"; profile = "af_packet";
            addresses = ["198.18.6.1/24"]; } );
telemetry = { listen = "off"; };
"""

# In a private mount namespace with a hugetlbfs of its own (dpdk-dumpcap,
# an EAL secondary process, maps the gateway's hugepage files, so they
# must stay: --huge-unlink=never), start the gateway in namespace $1,
# wait for its telemetry socket, run the stock dpdk-dumpcap for 4
# packets while the client pings the gateway, then stop the gateway.
DUMPCAP_RUN = r"""
gw=$1 cli=$2 dir=$3 prefix=$4 out=$5; shift 5
mount -t hugetlbfs -o size=80M nodev "$dir" || exit 90
ip netns exec "$gw" "$@" & pid=$!
i=0
while [ ! -S /var/run/dpdk/$prefix/dpdk_telemetry.v2 ] && [ $i -lt 200 ]
do sleep 0.1; i=$((i + 1)); done
ip netns exec "$gw" timeout 30 dpdk-dumpcap --file-prefix "$prefix" \
    -i net_af_packet0 -c 4 -w "$out" & cap=$!
sleep 3
ip netns exec "$cli" ping -c 4 -i 0.5 -W 2 198.18.6.1
wait $cap; echo "dumpcap rc $?"
kill -INT $pid; wait $pid; echo "gateway rc $?"
"""


@pytest.fixture
def free_hugepages():
    """At least HUGE_NEED free 2 MiB hugepages, reserved here when the
    machine has fewer and given back afterwards."""
    nr = HUGEPAGES / "nr_hugepages"

    def free():
        return int((HUGEPAGES / "free_hugepages").read_text()) - \
            int((HUGEPAGES / "resv_hugepages").read_text())
    before = int(nr.read_text())
    added = max(0, HUGE_NEED - free())
    if added:
        nr.write_text(str(before + added))
    try:
        assert free() >= HUGE_NEED, "cannot reserve %d hugepages" % HUGE_NEED
        yield
    finally:
        if added and int(nr.read_text()) == before + added:
            nr.write_text(str(before))


@pytest.mark.skipif(NETNS_WHY is not None, reason=str(NETNS_WHY))
@pytest.mark.skipif(DUMPCAP is None, reason="dpdk-dumpcap not installed")
def test_dumpcap_captures_a_running_gateway(meshgate_bin, tmp_path,
                                            free_hugepages):
    """The stock dpdk-dumpcap attaches to a running gateway (rte_pdump
    initialised by meshgate) and writes a pcapng of its port's traffic:
    a client's echo requests and the gateway's replies, both ways."""
    topo = netns.Topology()
    prefix = unique_prefix()
    try:
        gw, cli = topo.add("gw"), topo.add("cli")
        topo.veth(gw, "gw0", cli, "cli0")
        cli.ip("addr", "add", "198.18.6.10/24", "dev", "cli0")
        conf = tmp_path / "dumpcap.conf"
        conf.write_text(DUMPCAP_CONF)
        mnt = tmp_path / "huge"
        mnt.mkdir()
        out = tmp_path / "capture.pcapng"
        argv = [str(meshgate_bin), "--no-pci", "-l", "0,1", "-m", "64",
                "--huge-dir", str(mnt), "--huge-unlink=never",
                "--file-prefix", prefix, "--log-level", "lib.*:error",
                "--vdev", "net_af_packet0,iface=gw0", "--", "-f",
                str(conf)]
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             DUMPCAP_RUN, "sh", gw.name, cli.name, str(mnt), prefix,
             str(out)] + argv, capture_output=True, text=True,
            timeout=120)
        log = proc.stdout + proc.stderr
        assert "dumpcap rc 0" in log and "gateway rc 0" in log, log
        assert " 4 received" in proc.stdout, log
        shown = subprocess.run(["tshark", "-r", str(out), "-T", "fields",
                                "-e", "ip.src", "-e", "icmp.type"],
                               capture_output=True, text=True, timeout=60)
        rows = [line.split("\t") for line in shown.stdout.splitlines()]
        assert ["198.18.6.10", "8"] in rows and \
            ["198.18.6.1", "0"] in rows, shown.stdout + shown.stderr
        assert len(rows) == 4, rows
    finally:
        topo.destroy()
        shutil.rmtree(mg_telemetry.runtime_dir(prefix), ignore_errors=True)
