# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Network namespaces, veth pairs and a bridge for the end-to-end tests.

Every namespace is named TAG-ROLE with a per-run TAG (mgt<pid><letter>),
so parallel runs never meet, and leftovers of a run that died (its pid is
gone) are removed by the next one. Everything a Topology creates (the
namespaces, hence their veths and bridges, and the processes it started)
goes away in destroy(), which the test fixture's finalizer and an atexit
hook both call; it is idempotent and bounded in time.
"""

import atexit
import ctypes
import itertools
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import threading
import time
from pathlib import Path


IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
CLONE_NEWNET = 0x40000000
CMD_TIMEOUT = 10                # s, any one ip/ethtool/sysctl command
STOP_TIMEOUT = 3                # s, SIGTERM to exit before SIGKILL
SERVER_READY_S = 10             # s, a server to say its ready word
TAG_RE = re.compile(r"^mgt(\d+)[a-z]-")

_libc = ctypes.CDLL(None, use_errno=True)
_letters = itertools.cycle(string.ascii_lowercase)
_live = []

# A UDP echo server: python3 -u -c UDP_ECHO ADDR PORT [NAME] answers each
# datagram with NAME:datagram (the datagram alone without NAME); says
# "ready" once bound.
UDP_ECHO = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(1)
tag = sys.argv[3].encode() + b":" if len(sys.argv) > 3 else b""
print("ready", flush=True)
end = time.monotonic() + 300    # never outlives a forgotten test run
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        continue
    s.sendto(tag + data, peer)
"""


def sh(args, timeout=CMD_TIMEOUT, check=True, input=None):
    """Run a command, capture its output; raise with it on failure."""
    proc = subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, input=input,
                          stdin=None if input is not None else
                          subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError("%s: rc %d\n%s%s" % (" ".join(map(str, args)),
                                                proc.returncode, proc.stdout,
                                                proc.stderr))
    return proc


def available():
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs)"
    try:
        proc = sh([IP, "netns", "list"], check=False)
    except (OSError, subprocess.SubprocessError) as err:
        return "`ip netns` unavailable: %s" % err
    if proc.returncode != 0:
        return "`ip netns` unavailable: %s" % proc.stderr.strip()
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def list_netns():
    out = sh([IP, "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def remove_stale():
    """Delete namespaces left by earlier runs whose process is gone."""
    for name in list_netns():
        m = TAG_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and \
                not _pid_alive(int(m.group(1))):
            _kill_netns_pids(name)
            sh([IP, "netns", "del", name], check=False)
            shutil.rmtree("/etc/netns/%s" % name, ignore_errors=True)


def _kill_netns_pids(name):
    """Kill, one by one by pid, processes still inside one of our
    namespaces (they can only be ours: we made the namespace)."""
    pids = sh([IP, "netns", "pids", name], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def wait_ready(proc, word, timeout=SERVER_READY_S):
    """Wait (bounded) for a process started by Netns.popen() to write
    `word` to its log. Returns proc; AssertionError with the log when it
    exits first or stays silent `timeout` seconds."""
    from mgrun import wait_for   # not at the top: scripts/demo_live.py
                                 # imports this module without pytest
    log = Path(proc.log_path)
    wait_for(lambda: word in log.read_text(errors="replace") or
             proc.poll() is not None, timeout,
             "%r from %s" % (word, proc.args))
    assert proc.poll() is None, log.read_text(errors="replace")
    return proc


def in_netns(name, fn, timeout=10):
    """fn() called in a thread that has joined namespace `name`. A socket
    made there stays in that namespace when used from any thread."""
    result = {}

    def target():
        try:
            fd = os.open("/run/netns/%s" % name, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, "setns(%s): %s" % (
                        name, os.strerror(err)))
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as err:   # handed to the caller
            result["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError("in_netns(%s) took over %s s" % (name, timeout))
    if "error" in result:
        raise result["error"]
    return result["value"]


class Netns:
    """One namespace of a Topology."""

    def __init__(self, topo, role):
        self.topo, self.role = topo, role
        self.name = "%s-%s" % (topo.tag, role)

    def ip(self, *args, check=True):
        return sh([IP, "-n", self.name] + list(args), check=check)

    def exec_args(self, args):
        return [IP, "netns", "exec", self.name] + [str(a) for a in args]

    def run(self, args, timeout=CMD_TIMEOUT, check=False, input=None):
        """A command inside the namespace, to completion (bounded)."""
        return sh(self.exec_args(args), timeout=timeout, check=check,
                  input=input)

    def popen(self, args, log_path, **kw):
        """A background command inside the namespace, output to
        log_path; killed by Topology.destroy() at the latest. `ip netns
        exec` execs the command, so the pid is the command's own."""
        log = open(log_path, "w+")
        proc = subprocess.Popen(self.exec_args(args), stdout=log,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, **kw)
        proc.log, proc.log_path = log, log_path
        self.topo.procs.append(proc)
        return proc

    def serve(self, args, log_path, word="ready", timeout=SERVER_READY_S):
        """popen() a server and wait_ready() for its `word`."""
        return wait_ready(self.popen(args, log_path), word, timeout)

    def socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM,
               proto=0):
        return in_netns(self.name, lambda: socket.socket(family, type,
                                                         proto))

    def set_sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", "%s=%s" % (key, value)], check=True)


class Topology:
    """A set of namespaces with a common tag, and what runs in them."""

    def __init__(self, tag=None):
        remove_stale()
        self.tag = tag or "mgt%d%s" % (os.getpid(), next(_letters))
        self.spaces = {}
        self.procs = []
        self.destroyed = False
        _live.append(self)

    def __getitem__(self, role):
        return self.spaces[role]

    def add(self, role, ipv6=False, hosts=None):
        """A new namespace with lo up; IPv6 off unless asked for (no
        router solicitations or MLD reports in the gateway's counters).
        `hosts` ({address: name}) becomes the namespace's /etc/hosts (`ip
        netns exec` mounts /etc/netns/NAME/hosts over it), so that a
        reverse lookup there (python's http.server does one) is answered
        at once instead of waiting for an unreachable DNS server."""
        ns = Netns(self, role)
        sh([IP, "netns", "add", ns.name])
        self.spaces[role] = ns
        etc = self.etc_dir(ns)
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n")
            for addr, name in (hosts or {}).items():
                f.write("%s\t%s\n" % (addr, name))
        ns.ip("link", "set", "lo", "up")
        if not ipv6:
            for scope in ("all", "default"):
                ns.set_sysctl("net.ipv6.conf.%s.disable_ipv6" % scope, 1)
        return ns

    def veth(self, a, if_a, b, if_b, mac_a=None, mac_b=None,
             offloads=False):
        """A veth pair between namespaces a and b (Netns), both ends up,
        tx checksum offload off (so af_packet and the bridge see complete
        checksums, and no TSO super-frames) unless `offloads` (the
        kernel's defaults kept)."""
        sh([IP, "link", "add", "name", if_a, "netns", a.name, "type", "veth",
            "peer", "name", if_b, "netns", b.name])
        for ns, ifname, mac in ((a, if_a, mac_a), (b, if_b, mac_b)):
            if mac:
                ns.ip("link", "set", ifname, "address", mac)
            if not offloads:
                ns.run(["ethtool", "-K", ifname, "tx", "off"], check=True)
            ns.ip("link", "set", ifname, "up")

    def bridge(self, ns, name="br0"):
        ns.ip("link", "add", "name", name, "type", "bridge", "stp_state", "0",
              "forward_delay", "0")
        ns.ip("link", "set", name, "up")

    def attach(self, ns, sw, ifname="eth0", mac=None, addrs=(), routes=(),
               bridge="br0", offloads=False):
        """Connect `ns` to the bridge in `sw`: veth `ifname` in ns (with
        addresses and routes: (prefix, via) pairs), its peer sw-<role>
        enslaved to the bridge; `offloads` as for veth()."""
        port = ("sw-%s" % ns.role)[:15]
        self.veth(ns, ifname, sw, port, mac_a=mac, offloads=offloads)
        sw.ip("link", "set", port, "master", bridge)
        for addr in addrs:
            ns.ip("addr", "add", addr, "dev", ifname)
        for prefix, via in routes:
            ns.ip("route", "add", prefix, "via", via)

    def stop(self, proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal a process we started, wait (bounded), SIGKILL if needed.
        Returns (rc, log text)."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        text = ""
        if not proc.log.closed:
            proc.log.flush()
            proc.log.seek(0)
            text = proc.log.read()
            proc.log.close()
        return proc.returncode, text

    def wait_up(self, proc, prefix, timeout, command="/meshgate/stats",
                key="rx"):
        """Wait (bounded) for meshgate `proc`, started by popen() with EAL
        file prefix `prefix`, to answer telemetry `command` with `key`;
        else kill it and fail the test with its log."""
        import pytest
        from mgrun import mg_telemetry

        try:
            mg_telemetry.connect_when_ready(prefix, command, key, timeout,
                                            proc=proc).close()
        except TimeoutError as err:
            rc, log = self.stop(proc, signal.SIGKILL)
            pytest.fail("meshgate did not come up (%s, rc %s):\n%s" % (
                err, rc, log), pytrace=False)

    def destroy(self):
        """Kill what we started, delete our namespaces (and so their
        veths and bridges). Safe to call twice."""
        if self.destroyed:
            return
        self.destroyed = True
        for proc in self.procs:
            try:
                self.stop(proc)
            except Exception:      # keep cleaning up
                pass
        for ns in self.spaces.values():
            _kill_netns_pids(ns.name)
            sh([IP, "netns", "del", ns.name], check=False)
            shutil.rmtree(self.etc_dir(ns), ignore_errors=True)
        try:
            os.rmdir("/etc/netns")     # only when nobody else uses it
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and \
                set(self.spaces_names()) & set(list_netns()):
            time.sleep(0.05)
        if self in _live:
            _live.remove(self)

    @staticmethod
    def etc_dir(ns):
        return "/etc/netns/%s" % ns.name

    def spaces_names(self):
        return [ns.name for ns in self.spaces.values()]


@atexit.register
def _destroy_all():
    for topo in list(_live):
        topo.destroy()
