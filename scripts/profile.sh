#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
#
# Where the instructions of meshgate's service-mesh fast path go: callgrind
# on a finite replay of build/bench/established.pcap (10,000 connections
# to a service VIP, whole handshakes, then 9 rounds of data segments: 92%
# flow-table hits) through
# tests/configs/bench_mesh.conf, single core (-l 0: everything on one
# thread), --no-huge, --exit-on-idle. Prints `PROFILE <stage> <instructions
# per packet>`, then a table with shares on stderr. Not part of bench.sh.
#
# Only the forwarding loop is counted (--toggle-collect=mg_worker_main):
# not start-up, not shut-down. The loop also runs idle rounds until
# --exit-on-idle fires (flow expiry examines 64 entries per idle round,
# 8 per busy one), so the replay runs twice, with a short and a long idle
# tail; the packets' work is identical in both, so per stage
#   busy = A - idle_A * (B - A) / (idle_B - idle_A)
# with idle_* the idle_polls of each run's --stats-json. Per packet is
# busy / rx.
#
# Stages: each instruction goes to the innermost stage on its call stack,
# inlined frames included (addr2line -i on the debug build): e.g.
# rte_eth_tx_buffer inside tx() inside forward_flow() inside dispatch() is
# "rte_eth_tx_buffer". Code of DPDK and libc (no debug info) goes to the
# stage that called it; PMD burst functions are split out by driver
# ("rte_eth_rx_burst:net_pcap"). A function reached from several stages
# is shared among them in proportion to their calls' inclusive costs.
# "admit" is the first packet of each connection only (classification,
# backend choice, flow insert; 8% of this capture's packets), and
# "total_hits" is the total without it. The rx side here is a pcap *file*
# read (pcap_next_ex, one copy per frame); bench.sh's infinite_rx replays
# from memory instead.
#
# Environment:
#   MESHGATE_BIN   binary to profile; default: build-prof/app/meshgate,
#                  configured here (--buildtype=debugoptimized: -O2 -g)
#   PROFILE_IDLE_MS  short and long idle tails, ms ("200 1000")
#   PROFILE_CONF, PROFILE_PCAP  another config and capture (a replay once:
#                  sequence numbers that move on, e.g. est_once.pcap)
#   PROFILE_OUT    keep the callgrind files and stats JSON in this folder
#                  (for callgrind_annotate)

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
conf=${PROFILE_CONF:-$root/tests/configs/bench_mesh.conf}
capture=${PROFILE_PCAP:-$root/build/bench/established.pcap}
builddir=$root/build-prof
read -r idle_short idle_long <<<"${PROFILE_IDLE_MS:-200 1000}"
run_limit=900                   # s, bound on one valgrind run
build_tries=5                   # others edit the C code: a broken build
build_pause=30                  #   is retried after a pause (s)
main_pid=$BASHPID

work=$(mktemp -d /tmp/mg-profile.XXXXXX)
pids=()
prefixes=()

cleanup() {
	local pid p
	[[ $BASHPID == "$main_pid" ]] || return 0
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -INT "$pid" 2>/dev/null || true
			sleep 2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	for p in "${prefixes[@]}"; do
		rm -rf "/var/run/dpdk/$p"
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "profile: $*" >&2; }

for tool in valgrind addr2line; do
	command -v "$tool" >/dev/null || { log "$tool not installed"; exit 1; }
done

if [[ -n ${MESHGATE_BIN:-} ]]; then
	bin=$MESHGATE_BIN
else
	bin=$builddir/app/meshgate
	if [[ ! -f $builddir/build.ninja ]]; then
		log "configuring $builddir (debugoptimized)"
		meson setup "$builddir" "$root" --buildtype=debugoptimized \
			-Dtests=false >"$work/setup.log" 2>&1 ||
			{ cat "$work/setup.log" >&2; exit 1; }
	fi
	for ((try = 1; ; try++)); do
		ninja -C "$builddir" app/meshgate >"$work/build.log" 2>&1 &&
			break
		if ((try >= build_tries)); then
			tail -n 30 "$work/build.log" >&2
			log "build failed $try times"
			exit 1
		fi
		log "build failed (try $try), retrying in ${build_pause}s"
		sleep "$build_pause"
	done
fi
[[ -x $bin ]] || { log "$bin not built"; exit 1; }

if [[ ! -s $capture || $root/scripts/gen_bench_pcaps.py -nt $capture ]]; then
	log "generating $capture"
	"$py" "$root/scripts/gen_bench_pcaps.py" "$(dirname "$capture")" \
		--only established >&2
fi

# profile_run NAME IDLE_MS: one callgrind run; writes NAME.cg, NAME.json.
profile_run() {
	local name=$1 idle=$2 prefix="mgp-$1-$$" rc=0
	prefixes+=("$prefix")
	timeout --signal=INT --kill-after=10 "$run_limit" \
		valgrind --tool=callgrind --toggle-collect=mg_worker_main \
		--dump-instr=yes --callgrind-out-file="$work/$name.cg" \
		"$bin" -l 0 --no-pci --no-huge -m 640 --file-prefix "$prefix" \
		--log-level 'lib.*:error' \
		--vdev "net_pcap0,rx_pcap=$capture" --vdev net_null0,no-rx=1 \
		-- -f "$conf" --exit-on-idle "$idle" \
		--stats-json "$work/$name.json" \
		</dev/null >"$work/$name.log" 2>&1 &
	pids+=("$!")
	wait "$!" || rc=$?
	if ((rc != 0)) || [[ ! -s $work/$name.json ]]; then
		tail -n 30 "$work/$name.log" >&2
		log "$name: valgrind run failed (status $rc)"
		exit 1
	fi
}

log "callgrind, idle tail ${idle_short} ms"
profile_run short "$idle_short"
log "callgrind, idle tail ${idle_long} ms"
profile_run long "$idle_long"

if [[ -n ${PROFILE_OUT:-} ]]; then
	mkdir -p "$PROFILE_OUT"
	cp "$work"/short.cg "$work"/long.cg "$work"/short.json \
		"$work"/long.json "$PROFILE_OUT"/
fi

"$py" - "$bin" "$work/short.cg" "$work/short.json" \
	"$work/long.cg" "$work/long.json" <<'EOF'
import json
import os
import re
import subprocess
import sys
from collections import defaultdict

BIN = os.path.realpath(sys.argv[1])

# Stages named after meshgate functions, inlined or not.
MARKERS = {
    "mg_worker_main": "mg_worker_main",
    "rte_eth_rx_burst": "rte_eth_rx_burst",
    "process_burst": "process_burst",
    "mg_pkt_parse_burst": "mg_pkt_parse_burst",
    "dispatch": "dispatch",
    "mg_flow_lookup_bulk": "mg_flow_lookup_bulk",
    "forward_flow": "forward_flow",
    "set_macs": "set_macs",
    "tx": "rte_eth_tx_buffer",
    "rte_eth_tx_buffer": "rte_eth_tx_buffer",
    "rte_eth_tx_buffer_flush": "rte_eth_tx_buffer_flush",
    "mg_pkt_nat": "mg_pkt_nat",
    "mg_flow_update": "mg_flow_update",
    "admit": "admit",
    "handle_other": "handle_other",
    "drop": "drop",
    "mg_flow_expire": "mg_flow_expire",
    "control_tick": "control_tick",
}
# Stages named after library functions.
EXTERNAL = {"rte_hash_lookup_bulk_data": "rte_hash_lookup_bulk_data"}
PMD = re.compile(r"librte_net_(\w+?)\.so")
ORDER = ["rte_eth_rx_burst:pcap", "rte_eth_rx_burst:null", "rte_eth_rx_burst",
         "mg_pkt_parse_burst", "mg_flow_lookup_bulk",
         "rte_hash_lookup_bulk_data", "dispatch", "forward_flow", "set_macs",
         "mg_flow_update", "mg_pkt_nat", "rte_eth_tx_buffer",
         "rte_eth_tx_buffer:null", "rte_eth_tx_buffer_flush",
         "rte_eth_tx_buffer_flush:null", "admit", "handle_other", "drop",
         "process_burst", "mg_flow_expire", "control_tick", "mg_worker_main"]


def parse(path):
    """Functions of a callgrind file (positions: instr line; events: Ir):
    {(object, name): {"self": [(addr, cost)], "calls": [(addr, callee,
    inclusive cost)]}}."""
    names = defaultdict(dict)           # kind -> id -> name
    funcs = defaultdict(lambda: {"self": [], "calls": []})

    def name(kind, value):
        m = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not m:
            return value
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind][m.group(1)]

    ob = cob = fn = cfn = None
    addr = 0
    pending = None                      # the callee after a calls= line
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line[0] == "#":
                continue
            if line[0] in "0123456789+-*":
                fields = line.split()
                pos = fields[0]
                if pos.startswith("0x"):
                    addr = int(pos, 16)
                elif pos[0] in "+-":
                    addr += int(pos)
                # two position columns (instr line), then Ir if not 0
                cost = int(fields[2]) if len(fields) > 2 else 0
                if pending is not None:
                    funcs[fn]["calls"].append((addr, pending, cost))
                    pending = None
                else:
                    funcs[fn]["self"].append((addr, cost))
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                ob = name("ob", value)
                cob = None
            elif key == "fn":
                fn = (ob, name("fn", value))
                funcs[fn]
                cob = None
            elif key == "cob":
                cob = name("ob", value)
            elif key == "cfn":
                cfn = name("fn", value)
            elif key == "calls":
                pending = (cob or ob, cfn)
                cob = None
            elif key in ("fl", "fi", "fe", "cfi", "cfl"):
                name("fl", value)
    return funcs


def inline_chains(addrs):
    """addr -> [function names, innermost first] from the debug info."""
    addrs = sorted(addrs)
    out = subprocess.run(["addr2line", "-a", "-f", "-i", "-e", BIN] +
                         ["0x%x" % a for a in addrs], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    chains, cur = {}, None
    i = 0
    while i < len(out):
        if re.match(r"0x[0-9a-f]+$", out[i]):
            cur = int(out[i], 16)
            chains[cur] = []
            i += 1
            continue
        chains[cur].append(out[i])
        i += 2                          # function, then file:line
    return chains


def stages(path):
    funcs = parse(path)
    mine = [k for k in funcs if k[0] and os.path.realpath(k[0]) == BIN]
    chains = inline_chains({a for k in mine for a, _ in funcs[k]["self"]} |
                           {a for k in mine for a, _, _ in funcs[k]["calls"]})

    def marker(fn_key, addr, ctx):
        if fn_key[0] and os.path.realpath(fn_key[0]) == BIN:
            for f in chains.get(addr, []):
                if f in MARKERS:
                    return MARKERS[f]
        return ctx

    incl_in = defaultdict(int)
    for k, d in funcs.items():
        for _, callee, c in d["calls"]:
            incl_in[callee] += c
    out = defaultdict(float)

    def walk(k, ctx, weight, depth):
        if weight * (incl_in.get(k) or 1) < 0.5 or depth > 60:
            return
        d = funcs.get(k)
        if d is None:
            return
        for addr, c in d["self"]:
            out[marker(k, addr, ctx)] += weight * c
        for addr, callee, c in d["calls"]:
            site = marker(k, addr, ctx)
            m = PMD.search(callee[0] or "")
            if m and ":" not in site:
                site = "%s:%s" % (site, m.group(1))
            elif callee[1] in EXTERNAL:
                site = EXTERNAL[callee[1]]
            if incl_in[callee]:
                walk(callee, site, weight * c / incl_in[callee], depth + 1)

    roots = [k for k in mine if k[1] == "mg_worker_main"]
    if len(roots) != 1:
        sys.exit("profile: mg_worker_main not found in %s" % path)
    walk(roots[0], "mg_worker_main", 1.0, 0)
    return out


a_cg, a_js, b_cg, b_js = sys.argv[2:6]
a_s, b_s = json.load(open(a_js)), json.load(open(b_js))
for key in ("rx", "busy_polls", "flows_created", "drops_total"):
    if a_s[key] != b_s[key]:
        sys.exit("profile: %s differs between the runs: %s, %s"
                 % (key, a_s[key], b_s[key]))
if a_s["drops_total"] or a_s["rx"] == 0:
    print("profile: drops %s, rx %s" % (a_s["drops_total"], a_s["rx"]),
          file=sys.stderr)
idle_a, idle_b = a_s["idle_polls"], b_s["idle_polls"]
if idle_b <= idle_a:
    sys.exit("profile: the long run had no more idle rounds (%d, %d)"
             % (idle_a, idle_b))
a, b = stages(a_cg), stages(b_cg)
rx = a_s["rx"]
busy = {}
for s in set(a) | set(b):
    per_idle = (b.get(s, 0) - a.get(s, 0)) / (idle_b - idle_a)
    busy[s] = a.get(s, 0) - idle_a * per_idle
# Stages that run only in busy rounds must come out of both runs alike, or
# the two-run correction does not hold.
for s in ("mg_pkt_parse_burst", "mg_pkt_nat", "mg_flow_update", "dispatch"):
    if abs(a.get(s, 0) - b.get(s, 0)) > 0.005 * max(a.get(s, 0), 1):
        print("profile: warning: %s differs between the runs: %.0f, %.0f"
              % (s, a.get(s, 0), b.get(s, 0)), file=sys.stderr)
total = sum(busy.values())
hits = total - busy.get("admit", 0)
names = [s for s in ORDER if s in busy] + \
    sorted(s for s in busy if s not in ORDER)
for s in names:
    if abs(busy[s]) / rx >= 0.05:
        print("PROFILE %s %.1f" % (s, busy[s] / rx))
print("PROFILE total %.1f" % (total / rx))
print("PROFILE total_hits %.1f" % (hits / rx))

err = sys.stderr
print("profile: %d packets (%d flows created), %d busy rounds; idle rounds "
      "%d and %d; an idle round costs %.0f instructions"
      % (rx, a_s["flows_created"], a_s["busy_polls"], idle_a, idle_b,
         (sum(b.values()) - sum(a.values())) / (idle_b - idle_a)), file=err)
print("%-32s %10s %7s" % ("stage", "instr/pkt", "share"), file=err)
for s in sorted(names, key=lambda s: -busy[s]):
    if abs(busy[s]) / rx >= 0.05:
        print("%-32s %10.1f %6.1f%%" % (s, busy[s] / rx,
                                        100.0 * busy[s] / total), file=err)
print("%-32s %10.1f %6.1f%%" % ("total", total / rx, 100.0), file=err)
EOF
