#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""A live, top-like view of a running meshgate, read from its DPDK
telemetry socket.

    mg_top.py PREFIX [--interval S] [--once] [--wait S]

PREFIX is the gateway's EAL --file-prefix. Every interval the view shows
packet rates (rx, tx), drops per second in all and by reason and new
flows per second, computed from /meshgate/stats deltas; per lcore the
same rates and how busy the lcore was (busy TSC cycles over elapsed
cycles, or the share of poll rounds that received something when the
gateway reports no cycle counts); then /meshgate/services, /meshgate/flows
and /meshgate/policies for those the gateway has (absent ones are left
out). --once takes two samples --interval apart, prints one plain-text
snapshot and exits: for scripts and tests. q or Ctrl-C quits the live
view.
"""

import argparse
import json
import os
import select
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mg_telemetry  # noqa: E402  (scripts/ is not a package)

STATS = "/meshgate/stats"
LCORES = "/meshgate/lcores"
# Shown when the gateway registers them, in this order.
OPTIONAL = ("/meshgate/services", "/meshgate/flows", "/meshgate/policies")
# Where a TSC rate may appear (a gateway that reports none gets the
# poll-share fallback).
HZ_KEYS = ("tsc_hz", "hz")
NAME_W = 24
MAX_ROWS = 20           # per optional section, in --once and live alike


class Sample:
    """Replies of one round, with the monotonic time they were taken."""

    def __init__(self, tel, optional):
        t0 = time.monotonic()
        self.stats = tel.query(STATS)
        self.lcores = tel.query(LCORES) or {}
        self.extra = {}
        for cmd in optional:
            value = tel.query(cmd)
            if value is not None:
                self.extra[cmd] = value
        # The replies span a few round trips: date them in the middle.
        self.t = (t0 + time.monotonic()) / 2
        if self.stats is None:
            raise ValueError("%s answered null: not a meshgate process?"
                             % STATS)


def per_s(v0, v1, dt):
    """Rate of a counter between two samples; None when it went back
    (a reset) or either value is missing."""
    if not isinstance(v0, (int, float)) or \
            not isinstance(v1, (int, float)) or v1 < v0 or dt <= 0:
        return None
    return (v1 - v0) / dt


def fmt_rate(r, width=12):
    return ("%*.1f" % (width, r)) if r is not None else "%*s" % (width, "-")


def tsc_hz(sample, lcore=None):
    for src in (lcore, sample.stats):
        if isinstance(src, dict):
            for key in HZ_KEYS:
                if isinstance(src.get(key), (int, float)) and src[key] > 0:
                    return src[key]
    return None


def busy(s0, s1, l0, l1, dt):
    """(ratio, basis) of one lcore: busy cycles over the cycles that went
    by (the lcore's elapsed_cycles, else the TSC rate times the window),
    else busy polls over all polls."""
    d_busy = per_s(l0.get("busy_cycles"), l1.get("busy_cycles"), 1)
    if d_busy is not None:
        d_all = per_s(l0.get("elapsed_cycles"), l1.get("elapsed_cycles"), 1)
        if d_all is None:
            hz = tsc_hz(s1, l1)
            d_all = hz * dt if hz is not None else None
        if d_all:
            return min(d_busy / d_all, 1.0), "cycles"
    db = per_s(l0.get("busy_polls"), l1.get("busy_polls"), 1)
    di = per_s(l0.get("idle_polls"), l1.get("idle_polls"), 1)
    if db is None or di is None or db + di == 0:
        return None, "polls"
    return db / (db + di), "polls"


def summary(s0, s1, dt):
    a, b = s0.stats, s1.stats
    lines = [
        "%-10s%s pps   %-10s%s pps" % (
            "rx", fmt_rate(per_s(a.get("rx"), b.get("rx"), dt)),
            "tx", fmt_rate(per_s(a.get("tx"), b.get("tx"), dt))),
        "%-10s%s /s    %-10s%s /s" % (
            "drops", fmt_rate(per_s(a.get("drops_total"),
                                    b.get("drops_total"), dt)),
            "new flows", fmt_rate(per_s(a.get("flows_created"),
                                        b.get("flows_created"), dt))),
    ]
    extra = []
    for key, label in (("dry_run_denied", "dry-run denied"),
                       ("local", "to the gateway")):
        if key in b:
            extra.append("%s %s /s" % (label, fmt_rate(
                per_s(a.get(key), b[key], dt), 0)))
    if extra:
        lines.append("     ".join(extra))
    d0, d1 = a.get("drops") or {}, b.get("drops") or {}
    rates = [(r, per_s(d0.get(r), n, dt)) for r, n in d1.items()]
    rates = sorted(((r, x) for r, x in rates if x), key=lambda i: -i[1])
    if rates:
        lines.append("drops/s by reason: " + ", ".join(
            "%s %.1f" % (r, x) for r, x in rates))
    else:
        lines.append("drops/s by reason: none")
    lines.append("totals: rx %s  tx %s  drops %s  flows created %s" % tuple(
        b.get(k, "-") for k in ("rx", "tx", "drops_total", "flows_created")))
    return lines


def lcore_table(s0, s1, dt):
    lines = ["%-6s %-12s %12s %12s %10s %7s" % (
        "lcore", "role", "rx pps", "tx pps", "drops/s", "busy")]
    basis = set()
    for lc in sorted(s1.lcores, key=lambda k: (len(k), k)):
        l1, l0 = s1.lcores[lc], s0.lcores.get(lc, {})
        if not isinstance(l1, dict):
            continue
        ratio, how = busy(s0, s1, l0, l1, dt)
        if ratio is not None:
            basis.add(how)
        lines.append("%-6s %-12s %s %s %s %7s" % (
            lc, str(l1.get("role", "?"))[:12],
            fmt_rate(per_s(l0.get("rx"), l1.get("rx"), dt)),
            fmt_rate(per_s(l0.get("tx"), l1.get("tx"), dt)),
            fmt_rate(per_s(l0.get("drops_total"), l1.get("drops_total"),
                           dt), 10),
            "%.1f%%" % (100 * ratio) if ratio is not None else "-"))
    if len(lines) == 1:
        lines.append("(no lcore reported)")
    lines.append("busy: %s" % (
        "busy TSC cycles / elapsed cycles" if basis == {"cycles"} else
        "share of poll rounds that received packets (no cycle counts "
        "reported)" if basis == {"polls"} else
        "no figure yet" if not basis else "mixed bases"))
    return lines


def fmt_value(v0, v1, dt):
    """A value, with its change per second when it is a number that
    moved between the samples."""
    if isinstance(v1, bool) or not isinstance(v1, (int, float)):
        text = v1 if isinstance(v1, str) else json.dumps(
            v1, sort_keys=True, separators=(",", ":"))
        return text if len(text) <= 40 else text[:37] + "..."
    text = ("%.3g" % v1) if isinstance(v1, float) else str(v1)
    if isinstance(v0, (int, float)) and not isinstance(v0, bool) and \
            v0 != v1 and dt > 0:
        text += " (%+.1f/s)" % ((v1 - v0) / dt)
    return text


def generic(cmd, v0, v1, dt):
    """Any reply shape the newer commands may have: a table for a dict of
    dicts, key: value lines for a flat dict, one line per list item."""
    lines = [cmd]
    if isinstance(v1, (dict, list)) and not v1:
        lines.append("  (none)")
    elif isinstance(v1, dict) and \
            all(isinstance(x, dict) for x in v1.values()):
        cols = []
        for row in v1.values():
            for k, x in row.items():
                if k not in cols and not isinstance(x, (dict, list)):
                    cols.append(k)
        cols = cols[:6]
        lines.append("  %-*s %s" % (NAME_W, "name", " ".join(
            "%-16s" % c[:16] for c in cols)))
        prev = v0 if isinstance(v0, dict) else {}
        for name in sorted(v1)[:MAX_ROWS]:
            r0 = prev.get(name) if isinstance(prev.get(name), dict) else {}
            lines.append("  %-*s %s" % (NAME_W, str(name)[:NAME_W], " ".join(
                "%-16s" % fmt_value(r0.get(c), v1[name].get(c, "-"), dt)
                for c in cols)))
        if len(v1) > MAX_ROWS:
            lines.append("  ... %d more" % (len(v1) - MAX_ROWS))
    elif isinstance(v1, dict):
        prev = v0 if isinstance(v0, dict) else {}
        for name in list(v1)[:MAX_ROWS]:
            x0, x1 = prev.get(name), v1[name]
            if isinstance(x1, dict):     # e.g. flows by state
                x0 = x0 if isinstance(x0, dict) else {}
                text = ", ".join("%s %s" % (k, fmt_value(x0.get(k), x, dt))
                                 for k, x in x1.items())
            else:
                text = fmt_value(x0, x1, dt)
            lines.append("  %-*s %s" % (NAME_W, str(name)[:NAME_W], text))
        if len(v1) > MAX_ROWS:
            lines.append("  ... %d more" % (len(v1) - MAX_ROWS))
    elif isinstance(v1, list):
        for item in v1[:MAX_ROWS]:
            lines.append("  " + fmt_value(None, item, dt))
        if len(v1) > MAX_ROWS:
            lines.append("  ... %d more" % (len(v1) - MAX_ROWS))
    else:
        lines.append("  " + fmt_value(v0, v1, dt))
    return lines


def render(prefix, s0, s1):
    dt = s1.t - s0.t
    lines = ["meshgate %s   window %.2f s   %s" % (
        prefix, dt, time.strftime("%Y-%m-%d %H:%M:%S"))]
    lines += summary(s0, s1, dt)
    lines.append("")
    lines += lcore_table(s0, s1, dt)
    for cmd in OPTIONAL:
        if cmd in s1.extra:
            lines.append("")
            lines += generic(cmd, s0.extra.get(cmd), s1.extra[cmd], dt)
    return lines


def available(tel):
    """The optional commands this gateway registers. "/" lists every
    command; an old DPDK without it gets each one tried."""
    listed = tel.query("/")
    if isinstance(listed, list):
        return [c for c in OPTIONAL if c in listed]
    return list(OPTIONAL)


def quit_key(timeout):
    """Wait up to `timeout` s; True when q was typed on a terminal."""
    if not sys.stdin.isatty():
        time.sleep(timeout)
        return False
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    return bool(ready) and sys.stdin.read(1) in ("q", "Q")


def live(tel, prefix, optional, interval):
    tty = sys.stdout.isatty()
    prev = Sample(tel, optional)
    old_attrs = None
    if sys.stdin.isatty():
        import termios
        import tty as tty_mod
        old_attrs = termios.tcgetattr(sys.stdin)
        tty_mod.setcbreak(sys.stdin)
    try:
        while True:
            if quit_key(interval):
                return 0
            cur = Sample(tel, optional)
            lines = render(prefix, prev, cur)
            prev = cur
            if tty:
                size = shutil.get_terminal_size()
                lines = [ln[:size.columns] for ln in lines[:size.lines - 1]]
                sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
            else:
                sys.stdout.write("\n".join(lines) + "\n\n")
            sys.stdout.flush()
    finally:
        if old_attrs is not None:
            import termios
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, old_attrs)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Live view of a meshgate from its telemetry socket.")
    ap.add_argument("prefix", help="EAL --file-prefix of the gateway")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="seconds between samples (default 1)")
    ap.add_argument("--once", action="store_true",
                    help="print one snapshot over one interval and exit")
    ap.add_argument("--wait", type=float, default=10.0,
                    help="seconds to wait for the telemetry socket "
                    "(default 10)")
    args = ap.parse_args(argv)
    if args.interval <= 0:
        ap.error("--interval must be positive")
    try:
        with mg_telemetry.connect_when_ready(args.prefix, STATS, "rx",
                                             args.wait) as tel:
            optional = available(tel)
            if args.once:
                s0 = Sample(tel, optional)
                time.sleep(args.interval)
                s1 = Sample(tel, optional)
                print("\n".join(render(args.prefix, s0, s1)))
                return 0
            return live(tel, args.prefix, optional, args.interval)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # the reader (head, less) left: not an error; keep Python's
        # exit-time flush from complaining
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, TimeoutError, ValueError) as err:
        print("mg_top: %s" % err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
