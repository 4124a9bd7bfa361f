#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Minimal client for the DPDK telemetry socket (v2), for tests and bench.

    mg_telemetry.py PREFIX /meshgate/stats           print the reply's JSON
    mg_telemetry.py PREFIX /ethdev/stats,0 --rate ipackets \\
        [--wait S] [--warmup S] [--window S]          print the rate in Mpps
    mg_telemetry.py PREFIX /meshgate/stats --rate rx --per busy_cycles
                                      print the rate and busy cycles per rx

PREFIX is the --file-prefix of the DPDK process. --rate waits for the
socket and for a reply that holds the field, lets the process warm up, then
samples the counter at the start and end of the window and divides by the
time between the two samples: the one measurement method of bench.sh.
--per FIELD2 reads FIELD2 from the same two replies and also prints
delta(FIELD2) / delta(FIELD): both figures cover the same packets.
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
                       pid=None, proc=None):
    """Connect once the socket accepts and, when given, `command` answers
    non-null (with `field` present when given). Raises TimeoutError after
    `wait` seconds, at once if process `pid` (when given) has gone or
    `proc` (a subprocess.Popen, when given) has exited. Prefer `proc` for
    a child of the caller: an exited child that is not reaped yet still
    exists for `pid`'s check (os.kill(pid, 0))."""
    deadline = time.monotonic() + wait
    last = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise TimeoutError("process %d exited (rc %s) before telemetry "
                               "of %s answered" % (proc.pid, proc.returncode,
                                                  prefix))
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
    """Whether process `pid` exists (a zombie does: see proc= above)."""
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
    return rate_per(prefix, command, field, None, wait, warmup, window,
                    pid)[0]


def rate_per(prefix, command, field, per, wait=20.0, warmup=2.0,
             window=5.0, pid=None):
    """(rate of `field` per second, delta(`per`) / delta(`field`)) over
    one window; both fields come from the same two replies. The second
    item is None when `per` is None or `field` did not move."""
    with connect_when_ready(prefix, command, field, wait, pid) as tel:
        time.sleep(warmup)
        t0, r0 = time.monotonic(), tel.query(command)
        time.sleep(window)
        t1, r1 = time.monotonic(), tel.query(command)
    c0, c1 = lookup(r0, field), lookup(r1, field)
    if c0 is None or c1 is None:
        raise ValueError("%s: no %s in the reply" % (command, field))
    ratio = None
    if per is not None:
        p0, p1 = lookup(r0, per), lookup(r1, per)
        if p0 is None or p1 is None:
            raise ValueError("%s: no %s in the reply" % (command, per))
        if c1 != c0:
            ratio = (p1 - p0) / (c1 - c0)
    return (c1 - c0) / (t1 - t0), ratio


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Query a DPDK process's telemetry socket.")
    ap.add_argument("prefix", help="EAL --file-prefix of the process")
    ap.add_argument("command", help="e.g. /meshgate/stats or /ethdev/stats,0")
    ap.add_argument("--rate", metavar="FIELD",
                    help="print the rate of this counter in Mpps instead")
    ap.add_argument("--per", metavar="FIELD2",
                    help="with --rate: also print delta(FIELD2) per "
                    "delta(FIELD) over the same window")
    ap.add_argument("--wait", type=float, default=20.0,
                    help="seconds to wait for the socket (default 20)")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--pid", type=int,
                    help="give up waiting as soon as this process exits")
    args = ap.parse_args(argv)
    if args.per and not args.rate:
        ap.error("--per needs --rate")
    try:
        if args.rate:
            pps, per = rate_per(args.prefix, args.command, args.rate,
                                args.per, args.wait, args.warmup,
                                args.window, args.pid)
            if args.per is None:
                print("%.3f" % (pps / 1e6))
            elif per is None:
                raise ValueError("%s did not move in the window"
                                 % args.rate)
            else:
                print("%.3f %.1f" % (pps / 1e6, per))
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
