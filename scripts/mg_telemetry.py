#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Minimal client for the DPDK telemetry socket (v2), for tests and bench.

    mg_telemetry.py PREFIX /meshgate/stats           print the reply's JSON
    mg_telemetry.py PREFIX /ethdev/stats,0 --rate ipackets \\
        [--wait S] [--warmup S] [--window S]          print the rate in Mpps

PREFIX is the --file-prefix of the DPDK process. --rate waits for the
socket and for a reply that holds the field, lets the process warm up, then
samples the counter at the start and end of the window and divides by the
time between the two samples: the one measurement method of bench.sh.
"""

import argparse
import json
import os
import socket
import sys
import time

SOCKET_NAME = "dpdk_telemetry.v2"


def runtime_dir(prefix):
    """DPDK's runtime directory for `prefix`, by the same rule as EAL."""
    base = os.environ.get("RUNTIME_DIRECTORY")
    if not base:
        base = "/var/run" if os.getuid() == 0 else \
            os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(base, "dpdk", prefix)


def socket_path(prefix):
    return os.path.join(runtime_dir(prefix), SOCKET_NAME)


class Telemetry:
    """One connection to a DPDK process's telemetry socket.

    Usable as a context manager. query() returns the reply's value for the
    command (None when DPDK answers null, e.g. for an unknown command)."""

    def __init__(self, prefix, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(socket_path(prefix))
            self.info = json.loads(self.sock.recv(1024).decode())
        except BaseException:
            self.sock.close()
            raise
        self.max_len = int(self.info.get("max_output_len", 16384))

    def query(self, command):
        self.sock.send(command.encode())
        reply = json.loads(self.sock.recv(self.max_len).decode())
        # DPDK keys the reply by the command without its parameters.
        return reply.get(command.split(",", 1)[0])

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def query(prefix, command, timeout=5.0):
    """One command on a fresh connection; returns the reply's value."""
    with Telemetry(prefix, timeout) as tel:
        return tel.query(command)


def connect_when_ready(prefix, command=None, field=None, wait=20.0,
                       pid=None):
    """Connect once the socket accepts and, when given, `command` answers
    non-null (with `field` present when given). Raises TimeoutError after
    `wait` seconds, at once if process `pid` (when given) has gone."""
    deadline = time.monotonic() + wait
    last = None
    while True:
        if pid is not None and not alive(pid):
            raise TimeoutError("process %d exited before telemetry of %s "
                               "answered" % (pid, prefix))
        try:
            tel = Telemetry(prefix)
            if command is None:
                return tel
            value = tel.query(command)
            if value is not None and (field is None or
                                      lookup(value, field) is not None):
                return tel
            tel.close()
            last = "reply %r" % (value,)
        except (OSError, ValueError) as err:
            last = str(err)
        if time.monotonic() >= deadline:
            raise TimeoutError("telemetry %s %s not ready after %.0f s: %s"
                               % (prefix, command, wait, last))
        time.sleep(0.1)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def lookup(value, field):
    """value[field], where field may be a dotted path (e.g. drops.runt)."""
    for key in field.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def rate(prefix, command, field, wait=20.0, warmup=2.0, window=5.0,
         pid=None):
    """Packets per second of counter `field` of `command` over `window`
    seconds, sampled after `warmup` seconds."""
    with connect_when_ready(prefix, command, field, wait, pid) as tel:
        time.sleep(warmup)
        t0, c0 = time.monotonic(), lookup(tel.query(command), field)
        time.sleep(window)
        t1, c1 = time.monotonic(), lookup(tel.query(command), field)
    return (c1 - c0) / (t1 - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Query a DPDK process's telemetry socket.")
    ap.add_argument("prefix", help="EAL --file-prefix of the process")
    ap.add_argument("command", help="e.g. /meshgate/stats or /ethdev/stats,0")
    ap.add_argument("--rate", metavar="FIELD",
                    help="print the rate of this counter in Mpps instead")
    ap.add_argument("--wait", type=float, default=20.0,
                    help="seconds to wait for the socket (default 20)")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--pid", type=int,
                    help="give up waiting as soon as this process exits")
    args = ap.parse_args(argv)
    try:
        if args.rate:
            pps = rate(args.prefix, args.command, args.rate, args.wait,
                       args.warmup, args.window, args.pid)
            print("%.3f" % (pps / 1e6))
        else:
            with connect_when_ready(args.prefix, wait=args.wait,
                                    pid=args.pid) as tel:
                print(json.dumps(tel.query(args.command), sort_keys=True))
    except (OSError, TimeoutError, ValueError) as err:
        print("mg_telemetry: %s" % err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
