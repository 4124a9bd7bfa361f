# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The gateway of an end-to-end module: GatewayEnv, the base of every
test_*_e2e.py environment (and of test_metrics.py's), so that one
meshgate in a network namespace is started, stopped and checked for a
clean shutdown (exit 0, no sanitizer report, no mbuf leaked) the same
way everywhere."""

import shutil
import signal
from pathlib import Path

import pytest

import mgrun
import netns


class GatewayEnv:
    """What every end-to-end module's environment shares: a Topology, a
    tmp dir and one meshgate in namespace "gw" with its own EAL file
    prefix and --stats-json. start_gateway() waits (bounded) until it
    answers telemetry; stop_gateway() stops it once (SIGINT) and removes
    its runtime dir; check_shutdown() also checks the stop was clean
    (exit 0, no sanitizer report, no mbuf leaked); close() stops what is
    left and destroys the topology. A module subclasses it with its own
    topology, servers and tools."""

    STOP_S = 10         # SIGINT to exit, with the mbuf pool's check

    def __init__(self, binary, tmp):
        self.binary, self.tmp = str(binary), Path(tmp)
        self.topo = netns.Topology()
        self.prefix = mgrun.unique_prefix()
        self.stats_path = self.tmp / "stats.json"
        self.log_path = self.tmp / "meshgate.log"
        self.proc = None
        self.stopped = None     # (rc, log) once the gateway has stopped

    def switch(self, gw_mac, mtu=None, offloads=False, ipv6=False):
        """Namespaces "sw", with bridge br0 (of `mtu` when given), and
        "gw", whose port gw0 (MAC `gw_mac`) is plugged into br0 as sw-gw,
        with offloads off unless `offloads`; both with IPv6 when `ipv6`.
        Returns (sw, gw)."""
        t = self.topo
        sw, gw = t.add("sw", ipv6=ipv6), t.add("gw", ipv6=ipv6)
        t.bridge(sw)
        if mtu is not None:
            sw.ip("link", "set", "br0", "mtu", mtu)
        t.veth(gw, "gw0", sw, "sw-gw", mac_a=gw_mac, offloads=offloads)
        sw.ip("link", "set", "sw-gw", "master", "br0")
        if not offloads:
            gw.run(["ethtool", "-K", "gw0", "rx", "off", "tx", "off"],
                   check=True)
        return sw, gw

    def start_gateway(self, conf, vdev="net_af_packet0,iface=gw0",
                      ready_s=20, command="/meshgate/stats", key="rx",
                      ready=None, what=None):
        """meshgate -f `conf` on lcores 0,1 and `vdev`, in "gw"; up once
        telemetry `command` answers with `key` and then `ready()`, if
        given, comes true (`what` it waits for), each within `ready_s`;
        else the test fails with its log."""
        argv = [self.binary] + mgrun.eal_args(self.prefix, "0,1", [vdev]) + \
            ["--", "-f", conf, "--stats-json", self.stats_path]
        self.proc = self.topo["gw"].popen(argv, self.log_path)
        self.topo.wait_up(self.proc, self.prefix, ready_s, command, key)
        if ready is None:
            return
        try:
            mgrun.wait_for(ready, ready_s, what or "the gateway ready")
        except (AssertionError, OSError) as err:
            rc, log = self.topo.stop(self.proc, signal.SIGKILL)
            pytest.fail("meshgate did not come up (%s, rc %s):\n%s" % (
                err, rc, log), pytrace=False)

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def query(self, command):
        return mgrun.mg_telemetry.query(self.prefix, command)

    def stats(self):
        """/meshgate/stats of the running gateway."""
        assert self.proc.poll() is None, "meshgate exited:\n" + self.log()
        return self.query("/meshgate/stats")

    def stop_gateway(self):
        """Stop the gateway (once); (rc, log)."""
        if self.stopped is None and self.proc is not None:
            self.stopped = self.topo.stop(self.proc, signal.SIGINT,
                                          self.STOP_S)
            shutil.rmtree(mgrun.mg_telemetry.runtime_dir(self.prefix),
                          ignore_errors=True)
        return self.stopped

    def check_shutdown(self):
        """Stops the gateway if still running: exit 0, no sanitizer
        report, no mbuf leaked. Returns the --stats-json and the log."""
        rc, log = self.stop_gateway()
        return mgrun.check_clean_stop(rc, log,
                                      mgrun.load_stats(self.stats_path)), log

    def close(self):
        try:
            self.stop_gateway()
        finally:
            self.topo.destroy()
