#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
#
# Forwarding rate of meshgate next to dpdk-testpmd: same capture, same
# single worker core, same vdevs, same measurement. Prints one line per
# figure, `BENCH <name> <value>`; the ratios are what compare across boxes.
#
# Every run: --vdev net_pcap0 (bench.pcap, infinite_rx) and net_null0
# (no-rx), -l 0,1 so lcore 1 forwards. After BENCH_WARMUP seconds the
# rx counter is read twice through the telemetry socket, BENCH_SECONDS
# apart (testpmd: /ethdev/stats,0 ipackets; meshgate: /meshgate/stats rx).
#
# Environment:
#   BENCH_SECONDS  measurement window, s (5)     BENCH_WARMUP  warm-up, s (2)
#   BENCH_FLOWS    flows in bench.pcap (1024)    BENCH_PCAP    capture to use
#   BENCH_ONLY     figures to run, comma-separated (testpmd_io,
#                  testpmd_5tswap, meshgate_fwd); default all
#   BENCH_HUGE     1 use hugepages, 0 --no-huge, auto (default): hugepages
#                  when hugetlbfs is mounted with >= 1 GiB free
#   MESHGATE_BIN   (build/app/meshgate)          TESTPMD (dpdk-testpmd)
#
# To add a figure, add a run below: run_testpmd MODE NAME or
# run_meshgate CONFIG NAME, then a ratio line if it compares.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
telemetry="$root/scripts/mg_telemetry.py"
meshgate=${MESHGATE_BIN:-$root/build/app/meshgate}
testpmd=${TESTPMD:-dpdk-testpmd}
window=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-2}
flows=${BENCH_FLOWS:-1024}
only=${BENCH_ONLY:-}
pcap=${BENCH_PCAP:-$root/build/bench/bench.pcap}

ready_wait=20                     # s for EAL start-up and the first reply
stop_wait=10                      # s between SIGINT and SIGKILL
# Bound on any process's life: start-up, warm-up, window, stop, slack.
lifetime=$(awk -v a="$warmup" -v b="$window" \
	'BEGIN { printf "%d", a + b + 0.999 }')
lifetime=$((lifetime + ready_wait + stop_wait + 20))
main_pid=$BASHPID

work=$(mktemp -d /tmp/mg-bench.XXXXXX)
pids=()
prefixes=()
declare -A mpps=()
failed=0
ran=0

cleanup() {
	local pid
	# Subshells ($(...), &) inherit this trap; only the script cleans up.
	[[ $BASHPID == "$main_pid" ]] || return 0
	for pid in "${pids[@]}"; do
		stop_process "$pid" || true
	done
	for p in "${prefixes[@]}"; do
		rm -rf "/var/run/dpdk/$p"
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

want() {
	[[ -z $only ]] || [[ ",$only," == *",$1,"* ]]
}

# SIGINT, then SIGKILL after stop_wait seconds; reaps the process.
stop_process() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -INT "$pid" 2>/dev/null || true
	for ((i = 0; i < stop_wait * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid ignored SIGINT for ${stop_wait}s, killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	local keep=()
	for p in "${pids[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	pids=("${keep[@]}")
}

eal_mem() {
	local huge=${BENCH_HUGE:-auto} free_kb
	if [[ $huge == auto ]]; then
		huge=0
		if grep -q hugetlbfs /proc/mounts; then
			free_kb=$(awk '/^HugePages_Free/ {f=$2}
				/^Hugepagesize/ {s=$2} END {print f*s}' /proc/meminfo)
			((free_kb >= 1048576)) && huge=1
		fi
	fi
	if [[ $huge == 1 ]]; then echo "-m 512"; else echo "--no-huge -m 512"; fi
}

# EAL options shared by every run; $1 is the file prefix.
eal_args() {
	# shellcheck disable=SC2046
	echo -l 0,1 --no-pci $(eal_mem) --file-prefix "$1" \
		--log-level 'lib.*:error' \
		--vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" \
		--vdev net_null0,no-rx=1
}

# Starts "$@" in the background with a bounded lifetime; sets $bg_pid.
start_bg() {
	local logfile=$1
	shift
	timeout --signal=INT --kill-after="$stop_wait" "$lifetime" "$@" \
		</dev/null >"$logfile" 2>&1 &
	bg_pid=$!
	pids+=("$bg_pid")
}

# measure NAME PID PREFIX COMMAND FIELD: prints Mpps, or fails.
measure() {
	local name=$1 pid=$2 prefix=$3 cmd=$4 field=$5
	if ! "$py" "$telemetry" "$prefix" "$cmd" --rate "$field" --pid "$pid" \
		--wait "$ready_wait" --warmup "$warmup" --window "$window"; then
		log "$name: no rate; last lines of its log:"
		tail -n 20 "$work/$name.log" >&2
		return 1
	fi
}

record() {
	local name=$1 value=$2
	ran=$((ran + 1))
	mpps[$name]=$value
	echo "BENCH ${name}_mpps $value"
}

ratio() {
	local name=$1 num=$2 den=$3
	[[ -n ${mpps[$num]:-} && -n ${mpps[$den]:-} ]] || return 0
	awk -v n="${mpps[$num]}" -v d="${mpps[$den]}" -v name="$name" \
		'BEGIN { printf "BENCH %s %.3f\n", name, (d > 0 ? n / d : 0) }'
}

# run_testpmd MODE NAME: testpmd --forward-mode=MODE on lcore 1.
run_testpmd() {
	local mode=$1 name=$2 prefix="mgb-$2-$$" value
	want "$name" || return 0
	prefixes+=("$prefix")
	# infinite_rx preloads the whole capture into mbufs of the rx pool.
	local mbufs=$((flows + 16384))
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$testpmd" $(eal_args "$prefix") -- \
		--forward-mode="$mode" --auto-start --nb-cores=1 \
		--total-num-mbufs="$mbufs" --stats-period 3600
	local pid=$bg_pid
	if value=$(measure "$name" "$pid" "$prefix" /ethdev/stats,0 ipackets)
	then
		record "$name" "$value"
	else
		failed=1
	fi
	stop_process "$pid"
}

# run_meshgate CONFIG NAME: meshgate with CONFIG; its worker is lcore 1.
run_meshgate() {
	local conf=$1 name=$2 prefix="mgb-$2-$$" value stats="$work/$2.json"
	want "$name" || return 0
	if [[ ! -x $meshgate ]]; then
		log "$name: $meshgate not built"
		failed=1
		return 0
	fi
	prefixes+=("$prefix")
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$meshgate" $(eal_args "$prefix") -- \
		-f "$conf" --stats-json "$stats"
	local pid=$bg_pid
	if value=$(measure "$name" "$pid" "$prefix" /meshgate/stats rx); then
		record "$name" "$value"
	else
		failed=1
	fi
	stop_process "$pid"
	# A benchmark is not a test, but a leak under load is worth a shout.
	if [[ -s $stats ]]; then
		"$py" - "$stats" "$name" <<-'EOF' >&2 || true
		import json, sys
		s = json.load(open(sys.argv[1]))
		if s["mempool"]["in_use"] != 0 or s["drops_total"] != 0:
		    print("bench: %s: mempool in_use %d, drops %s" % (sys.argv[2],
		          s["mempool"]["in_use"],
		          {k: v for k, v in s["drops"].items() if v}))
		EOF
	else
		log "$name: no --stats-json written"
	fi
}

if [[ ! -s $pcap ]]; then
	log "generating $pcap ($flows flows)"
	"$py" "$root/scripts/gen_pcaps.py" "$(dirname "$pcap")" \
		--only bench --flows "$flows" >&2
fi

run_testpmd io testpmd_io
run_testpmd 5tswap testpmd_5tswap
run_meshgate "$root/tests/configs/bench.conf" meshgate_fwd

ratio meshgate_vs_io_ratio meshgate_fwd testpmd_io
ratio meshgate_vs_5tswap_ratio meshgate_fwd testpmd_5tswap

if ((ran == 0 && failed == 0)); then
	log "BENCH_ONLY='$only' matched no run"
	failed=1
fi

exit "$failed"
