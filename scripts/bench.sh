#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
#
# Forwarding rate of meshgate next to dpdk-testpmd: same capture, same
# single worker core, same vdevs, same measurement. Prints one line per
# figure, `BENCH <name> <value>`; the ratios are what compare across boxes.
#
# Every run: -l 0,1 so lcore 1 forwards, --vdev net_pcap0 (a capture) and
# net_null0 (no-rx, the sink). Rate runs replay their capture with
# infinite_rx; after BENCH_WARMUP seconds the rx counter is read twice
# through the telemetry socket, BENCH_SECONDS apart (testpmd:
# /ethdev/stats,0 ipackets; meshgate: /meshgate/stats rx).
#
# Figures (BENCH_ONLY names in brackets):
#   testpmd_io_mpps, testpmd_5tswap_mpps, meshgate_fwd_mpps
#       [testpmd_io, testpmd_5tswap, meshgate_fwd]: bench.pcap (one
#       60-byte frame per UDP/TCP flow), meshgate in wire mode
#       (tests/configs/bench.conf); the two meshgate_vs_* ratios.
#   testpmd_5tswap_established_mpps, meshgate_established_mpps,
#   meshgate_established_cycles_per_pkt [established]: established.pcap
#       (10,000 SYNs to a service VIP, then 9 rounds of one 60-byte data
#       segment per connection: all flow-table hits after the first loop)
#       through testpmd 5tswap and through the service-mesh fast path
#       (tests/configs/bench_mesh.conf: lookup, DNAT, MAC rewrite, count).
#       cycles_per_pkt is meshgate's busy_cycles delta over its rx delta,
#       from the same two telemetry replies as the rate (busy_cycles
#       covers whole poll rounds, TX flush and expiry included).
#       meshgate_established_vs_5tswap_ratio divides by testpmd 5tswap on
#       the same capture (a 100,000-frame preload can cost the rx side
#       more than bench.pcap's 1,024 frames; both sides pay it);
#       meshgate_established_vs_5tswap_bench_pcap_ratio divides by
#       testpmd_5tswap_mpps (bench.pcap) instead.
#   meshgate_new_flows_per_s [newflows]: newflows.pcap (200,000 distinct
#       SYNs) replayed once (no infinite_rx) with --exit-on-idle through
#       tests/configs/bench_newflows.conf; flows_created / busy_s from
#       meshgate's --stats-json, both counted by meshgate (busy_s: the
#       worker's time in poll rounds that received packets, pcap file
#       reading included).
#   meshgate_canary_established_mpps [established],
#   meshgate_canary_new_flows_per_s [newflows]: the same two runs with the
#       service split 99/1 between two versions (bench_canary*.conf), and
#       meshgate_canary_vs_single_established_ratio.
#   meshgate_established_mpps_scraped [established]: the established run
#       while curl scrapes /metrics (gzip) every second;
#       meshgate_scraped_vs_unscraped_ratio (issue target: >= 0.98).
#   meshgate_l7_established_mpps [l7_established]: HTTP authorization of
#       every request. l7_established.pcap: 10,000 keep-alive connections
#       (whole handshakes, the backend's SYN-ACK included), then 30 rounds
#       of one GET head (~100 bytes) per connection, each continuing its
#       connection's byte stream. infinite_rx would repeat the same
#       sequence numbers, and meshgate forwards bytes it has already seen
#       without inspecting them again, so a loop would measure the
#       retransmission path: the capture is replayed ONCE instead
#       (--exit-on-idle), and every request head is parsed and matched.
#       Rate = rx / busy_s from the run's --stats-json (busy_s: the
#       worker's time in poll rounds that received packets; it includes
#       reading the pcap file, one copy per frame, which both runs pay;
#       30,000 of the 330,000 frames are handshake frames, in both runs).
#       tests/configs/bench_l7.conf (a deny rule on the path, an allow rule
#       on method, path and Host) next to the same capture through
#       bench_l7_off.conf (the same service with one L4 allow rule, so
#       nothing is inspected): meshgate_l7_established_l4_only_mpps and
#       meshgate_l7_vs_l4_established_ratio.
#   meshgate_l7_new_flows_per_s [l7_newflows]: l7_newflows.pcap, 100,000
#       connections, each a handshake and one GET request (inspected),
#       replayed once; flows_created / busy_s, next to
#       meshgate_l7_new_flows_l4_only_per_s (bench_l7_off.conf) and
#       meshgate_l7_vs_l4_new_flows_ratio.
#       Both l7 groups alternate the two configs BENCH_L7_RUNS times (3)
#       and print each figure's median; the L7 runs must show one allow of
#       the rule bench-api per request (read from /meshgate/policies once
#       the capture is handled), or the script says so.
#
#   meshgate_idle_cpu_percent [idle]: the bundled config (default idle
#       mode, adaptive) on -l 0,1 after its capture (sample.pcap, replayed
#       once) is over: the whole process's CPU time (utime + stime of
#       /proc/PID/stat) over BENCH_IDLE_SECONDS (10), in % of one core;
#       also meshgate_idle_cpu_percent_single_lcore (-l 0: the main lcore
#       forwards) and meshgate_idle_cpu_percent_poll (idle mode poll, for
#       scale: a whole core).
#   meshgate_adaptive_vs_poll_ratio [adaptive]: established.pcap through
#       bench_mesh.conf in the default idle mode over the same with
#       idle = { mode = "poll"; }: BENCH_PAIRS (3) pairs, the two configs
#       alternating, each pair's rates printed; the figure is the median
#       of the pairs' ratios (target >= 0.98: under load a worker never
#       idles).
#   meshgate_footprint_mb [footprint]: etc/meshgate.conf (memory_mb =
#       64, 65,536 connections; its port swapped for net_pcap0) on
#       hugepages of its own (a private hugetlbfs; pages reserved for the
#       run if too few are free, then given back), -l 0,1: the hugepages
#       the process maps (Shared_Hugetlb + Private_Hugetlb of
#       /proc/PID/smaps) plus its VmRSS, in MiB, once it forwards (target
#       <= 64); meshgate_footprint_hugepages_mb and meshgate_footprint_rss_mb
#       are the two parts.
#   meshgate_reload_max_gap_us [reload]: single lcore (-l 0, the main
#       lcore forwards; the control thread compiles), idle mode poll,
#       tests/configs/l7_many_patterns.conf (10,000 patterns), bench.pcap
#       replayed with infinite_rx: the worker's longest stall between two
#       poll rounds (stall_max_us of /meshgate/stats) after a SIGHUP
#       reload of the same file has put the new ruleset in force (target
#       <= 1000); the same figure before the reload is logged (it bounds
#       what start-up and the machine's own noise cost).
#
# Environment:
#   BENCH_SECONDS  measurement window, s (5)     BENCH_WARMUP  warm-up, s (2)
#   BENCH_FLOWS    flows in bench.pcap (1024)    BENCH_PCAP    capture to use
#                                                  for the first three runs
#   BENCH_ONLY     runs, comma-separated (names above); default all
#   BENCH_L7_RUNS  runs of each l7 config, alternating (3)
#   BENCH_HUGE     1 use hugepages, 0 --no-huge, auto (default): hugepages
#                  when hugetlbfs has the run's memory (>= 1 GiB) free
#   BENCH_PAIRS    adaptive/poll pairs (3)      BENCH_IDLE_SECONDS (10)
#   MESHGATE_BIN   (build/app/meshgate)          TESTPMD (dpdk-testpmd)
#
# Captures are generated on first use into build/bench/ (gen_pcaps.py,
# gen_bench_pcaps.py) and again whenever their generator is newer.
# To add a figure, add a run below (run_testpmd or run_meshgate for a rate,
# run_newflows for a replay once), then a ratio line if it compares.

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
benchdir=$root/build/bench
est_pcap=$benchdir/established.pcap
new_pcap=$benchdir/newflows.pcap
l7_est_pcap=$benchdir/l7_established.pcap
l7_new_pcap=$benchdir/l7_newflows.pcap
# What gen_bench_pcaps.py writes by default; the configs are sized for it.
est_conns=10000
est_frames=100000
new_syns=200000
l7_est_conns=10000
l7_est_requests=300000
l7_new_conns=100000
l7_runs=${BENCH_L7_RUNS:-3}

ready_wait=20                     # s for EAL start-up and the first reply
stop_wait=10                      # s between SIGINT and SIGKILL
idle_ms=500                       # --exit-on-idle of the replay-once run
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

forget_pid() {
	local keep=() p
	for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	pids=("${keep[@]}")
}

# SIGINT, then SIGKILL after stop_wait seconds; reaps the process.
stop_process() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || {
		wait "$pid" 2>/dev/null || true
		forget_pid "$pid"
		return 0
	}
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
	forget_pid "$pid"
}

# eal_mem MBUFS: memory options for a pool of MBUFS mbufs (~2.4 KiB each)
# plus 256 MiB for the rest, at least 512 MiB.
eal_mem() {
	local huge=${BENCH_HUGE:-auto} free_kb
	local mb=$(((256 + ($1 * 2560 + 1048575) / 1048576 + 127) / 128))
	mb=$((mb * 128))
	((mb >= 512)) || mb=512
	if [[ $huge == auto ]]; then
		huge=0
		if grep -q hugetlbfs /proc/mounts; then
			free_kb=$(awk '/^HugePages_Free/ {f=$2}
				/^Hugepagesize/ {s=$2} END {print f*s}' /proc/meminfo)
			((free_kb >= 1048576 && free_kb >= mb * 1024)) && huge=1
		fi
	fi
	if [[ $huge == 1 ]]; then
		echo "-m $mb"
	else
		echo "--no-huge -m $mb"
	fi
}

# eal_args PREFIX PCAP INFINITE MBUFS: EAL options shared by every run.
eal_args() {
	local rx="net_pcap0,rx_pcap=$2"
	[[ $3 == 1 ]] && rx+=",infinite_rx=1"
	# shellcheck disable=SC2046
	echo -l 0,1 --no-pci $(eal_mem "$4") --file-prefix "$1" \
		--log-level 'lib.*:error' --vdev "$rx" --vdev net_null0,no-rx=1
}

# Pool size a meshgate config asks for (mempool.mbufs), 16383 if none.
conf_mbufs() {
	local n
	n=$(awk '$1 == "mbufs" && $2 == "=" {
		sub(/;.*/, "", $3); print $3; exit }' "$1")
	echo "${n:-16383}"
}

# Frames in a classic pcap file (every record's length read from it).
pcap_frames() {
	"$py" - "$1" <<-'EOF'
	import struct, sys
	data = open(sys.argv[1], "rb").read()
	off, n = 24, 0
	while off + 16 <= len(data):
	    off += 16 + struct.unpack_from("<I", data, off + 8)[0]
	    n += 1
	print(n)
	EOF
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

# measure NAME PID PREFIX COMMAND FIELD [PER]: prints Mpps (and, with PER,
# delta(PER) per delta(FIELD) over the same window), or fails.
measure() {
	local name=$1 pid=$2 prefix=$3 cmd=$4 field=$5 per=${6:-}
	if ! "$py" "$telemetry" "$prefix" "$cmd" --rate "$field" --pid "$pid" \
		--wait "$ready_wait" --warmup "$warmup" --window "$window" \
		${per:+--per "$per"}; then
		log "$name: no rate; last lines of its log:"
		tail -n 20 "$work/$name.log" >&2
		return 1
	fi
}

record() {
	local name=$1 value=$2
	ran=$((ran + 1))
	mpps[$name]=$value
	# a name that already says its unit (..._mpps_scraped) keeps it
	if [[ $name == *_mpps* ]]; then
		echo "BENCH $name $value"
	else
		echo "BENCH ${name}_mpps $value"
	fi
}

ratio() {
	local name=$1 num=$2 den=$3
	[[ -n ${mpps[$num]:-} && -n ${mpps[$den]:-} ]] || return 0
	awk -v n="${mpps[$num]}" -v d="${mpps[$den]}" -v name="$name" \
		'BEGIN { printf "BENCH %s %.3f\n", name, (d > 0 ? n / d : 0) }'
}

# check_stats NAME JSON [FLOWS]: a benchmark is not a test, but drops or
# a wrong number of admitted connections under load are worth a shout
# (the figure is still printed); a leak (mempool in_use != 0 after the
# stop) or an unreadable stats file fails the run.
check_stats() {
	local name=$1 stats=$2 flows_expected=${3:-} rc=0
	if [[ ! -s $stats ]]; then
		log "$name: no --stats-json written"
		return 0
	fi
	"$py" - "$stats" "$name" "$flows_expected" <<-'EOF' >&2 || rc=$?
	import json, sys
	s = json.load(open(sys.argv[1]))
	name, want = sys.argv[2], sys.argv[3]
	if s["mempool"]["in_use"] != 0 or s["drops_total"] != 0:
	    print("bench: %s: mempool in_use %d, drops %s" % (name,
	          s["mempool"]["in_use"],
	          {k: v for k, v in s["drops"].items() if v}))
	if want and s.get("flows_created") != int(want):
	    print("bench: %s: %s flows created, expected %s"
	          % (name, s.get("flows_created"), want))
	sys.exit(3 if s["mempool"]["in_use"] != 0 else 0)
	EOF
	if ((rc == 3)); then
		log "$name: mbufs leaked"
		failed=1
	elif ((rc != 0)); then
		log "$name: $stats unreadable (exit status $rc)"
		failed=1
	fi
}

# run_testpmd MODE NAME PCAP [GROUP]: testpmd --forward-mode=MODE on lcore
# 1; GROUP is its BENCH_ONLY name (default NAME).
run_testpmd() {
	local mode=$1 name=$2 capture=$3 group=${4:-$2}
	local prefix="mgb-$2-$$" value
	want "$group" || return 0
	prefixes+=("$prefix")
	# infinite_rx preloads the whole capture into mbufs of the rx pool.
	local mbufs=$(($(pcap_frames "$capture") + 16384))
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$testpmd" \
		$(eal_args "$prefix" "$capture" 1 "$mbufs") -- \
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

have_meshgate() {
	[[ -x $meshgate ]] && return 0
	log "$1: $meshgate not built"
	failed=1
	return 1
}

# run_meshgate CONFIG NAME PCAP [GROUP [FLOWS]]: meshgate with CONFIG
# replaying PCAP forever; its worker is lcore 1. With FLOWS, also prints
# NAME_cycles_per_pkt and checks that FLOWS connections were admitted.
run_meshgate() {
	local conf=$1 name=$2 capture=$3 group=${4:-$2} flows_expected=${5:-}
	local prefix="mgb-$2-$$" value stats="$work/$2.json" per=
	want "$group" || return 0
	have_meshgate "$name" || return 0
	prefixes+=("$prefix")
	[[ -z $flows_expected ]] || per=busy_cycles
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$meshgate" \
		$(eal_args "$prefix" "$capture" 1 "$(conf_mbufs "$conf")") -- \
		-f "$conf" --stats-json "$stats"
	local pid=$bg_pid scraper=
	if [[ -n ${SCRAPE_URL:-} ]]; then
		# a Prometheus-like scraper: /metrics (gzip) once a second
		# for as long as meshgate runs, bounded by its lifetime
		(for ((i = 0; i < lifetime; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			curl -s --compressed --max-time 1 -o /dev/null \
				"$SCRAPE_URL" || true
			sleep 1
		done) &
		scraper=$!
		pids+=("$scraper")
	fi
	if value=$(measure "$name" "$pid" "$prefix" /meshgate/stats rx $per)
	then
		record "$name" "${value%% *}"
		[[ -z $per ]] ||
			echo "BENCH ${name}_cycles_per_pkt ${value##* }"
	else
		failed=1
	fi
	stop_process "$pid"
	[[ -z $scraper ]] || stop_process "$scraper"
	check_stats "$name" "$stats" "$flows_expected"
}

# run_newflows CONFIG NAME PCAP FLOWS: meshgate replays PCAP once and stops
# on its own (--exit-on-idle); prints NAME_per_s = flows_created / busy_s.
run_newflows() {
	local conf=$1 name=$2 capture=$3 flows_expected=$4
	local prefix="mgb-$2-$$" stats="$work/$2.json" rc=0 value
	want newflows || return 0
	have_meshgate "$name" || return 0
	prefixes+=("$prefix")
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$meshgate" \
		$(eal_args "$prefix" "$capture" 0 "$(conf_mbufs "$conf")") -- \
		-f "$conf" --exit-on-idle "$idle_ms" --stats-json "$stats"
	local pid=$bg_pid
	wait "$pid" || rc=$?
	forget_pid "$pid"
	if ((rc != 0)) || [[ ! -s $stats ]]; then
		log "$name: exit status $rc; last lines of its log:"
		tail -n 20 "$work/$name.log" >&2
		failed=1
		return 0
	fi
	ran=$((ran + 1))
	value=$("$py" - "$stats" <<-'EOF'
	import json, sys
	s = json.load(open(sys.argv[1]))
	print("%.0f" % (s["flows_created"] / s["busy_s"] if s["busy_s"] else 0))
	EOF
	)
	echo "BENCH ${name}_per_s $value"
	check_stats "$name" "$stats" "$flows_expected"
}

# l7_once CONF NAME PCAP JSON: meshgate replays PCAP once (--exit-on-idle)
# and writes JSON (--stats-json); meanwhile a watcher waits until every
# frame is handled and then reads /meshgate/policies into JSON.policies
# (the decisions are not in the stats file). Fails on a bad exit.
l7_once() {
	local conf=$1 name=$2 capture=$3 stats=$4
	local prefix="mgb-$2-$$-$RANDOM" rc=0 frames
	prefixes+=("$prefix")
	frames=$(pcap_frames "$capture")
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$meshgate" \
		$(eal_args "$prefix" "$capture" 0 "$(conf_mbufs "$conf")") -- \
		-f "$conf" --exit-on-idle "$idle_ms" --stats-json "$stats"
	local pid=$bg_pid
	"$py" - "$root/scripts" "$prefix" "$pid" "$frames" "$ready_wait" \
		>"$stats.policies" 2>>"$work/$name.log" <<-'EOF' || true
	import json, sys, time
	sys.path.insert(0, sys.argv[1])
	import mg_telemetry
	prefix, pid, frames, wait = sys.argv[2], int(sys.argv[3]), \
	    int(sys.argv[4]), float(sys.argv[5])
	with mg_telemetry.connect_when_ready(prefix, "/meshgate/stats", "rx",
	                                     wait, pid=pid) as tel:
	    deadline = time.monotonic() + wait
	    while time.monotonic() < deadline:
	        s = tel.query("/meshgate/stats")
	        if s["rx"] >= frames and s["tx"] + s["drops_total"] >= frames:
	            break
	        time.sleep(0.02)
	    print(json.dumps(tel.query("/meshgate/policies")))
	EOF
	wait "$pid" || rc=$?
	forget_pid "$pid"
	if ((rc != 0)) || [[ ! -s $stats ]]; then
		log "$name: exit status $rc; last lines of its log:"
		tail -n 20 "$work/$name.log" >&2
		return 1
	fi
}

# l7_value JSON KIND: mpps (rx / busy_s) or flows (flows_created / busy_s)
# of one run.
l7_value() {
	"$py" - "$1" "$2" <<-'EOF'
	import json, sys
	s = json.load(open(sys.argv[1]))
	n = s["rx"] / 1e6 if sys.argv[2] == "mpps" else s["flows_created"]
	fmt = "%.3f" if sys.argv[2] == "mpps" else "%.0f"
	print(fmt % (n / s["busy_s"]) if s["busy_s"] else "0")
	EOF
}

# l7_inspected JSON NAME REQUESTS: shout unless the L7 run decided every
# request (allows of bench-api: one per request, plus one per connection
# if the SYN's admission is counted too).
l7_inspected() {
	"$py" - "$1.policies" "$2" "$3" <<-'EOF' >&2 || true
	import json, sys
	name, want = sys.argv[2], int(sys.argv[3])
	try:
	    reply = json.load(open(sys.argv[1]))
	except (OSError, ValueError):
	    reply = None
	allow = sum(e.get("allow", 0) for e in (reply or {}).values()
	            if e.get("rule") == "bench-api")
	denied = sum(e.get("deny", 0) for e in (reply or {}).values())
	if allow < want or denied:
	    print("bench: %s: bench-api allowed %d (want >= %d requests), "
	          "%d denied: not every request was inspected" % (name, allow,
	                                                           want, denied))
	EOF
}

# run_l7 GROUP NAME PCAP KIND FLOWS REQUESTS: PCAP through bench_l7.conf
# and bench_l7_off.conf, alternating, l7_runs times each; prints the
# median of each and their ratio. KIND: mpps or flows (see l7_value).
run_l7() {
	local group=$1 name=$2 capture=$3 kind=$4 conns=$5 requests=$6
	local r conf tag stats v unit ratio_name
	local -a on=() off=()
	want "$group" || return 0
	have_meshgate "$name" || return 0
	for ((r = 1; r <= l7_runs; r++)); do
		for tag in on off; do
			conf=$root/tests/configs/bench_l7.conf
			[[ $tag == on ]] || conf=$root/tests/configs/bench_l7_off.conf
			stats="$work/$name-$tag-$r.json"
			if ! l7_once "$conf" "$name-$tag" "$capture" "$stats"; then
				failed=1
				return 0
			fi
			v=$(l7_value "$stats" "$kind")
			check_stats "$name-$tag-$r" "$stats" "$conns"
			if [[ $tag == on ]]; then
				l7_inspected "$stats" "$name-$r" "$requests"
				on+=("$v")
			else
				off+=("$v")
			fi
		done
	done
	ran=$((ran + 1))
	unit=_mpps
	[[ $kind == mpps ]] || unit=_per_s
	mpps[$name]=$(printf '%s\n' "${on[@]}" | sort -g |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	mpps[${name}_l4_only]=$(printf '%s\n' "${off[@]}" | sort -g |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	log "$name$unit runs: L7 ${on[*]}; L4 only ${off[*]}"
	echo "BENCH $name$unit ${mpps[$name]}"
	echo "BENCH ${name}_l4_only$unit ${mpps[${name}_l4_only]}"
	ratio_name=meshgate_l7_vs_l4_${name#meshgate_l7_}_ratio
	ratio "$ratio_name" "$name" "${name}_l4_only"
}

# gen_if_stale CAPTURE GENERATOR ARGS...: (re)writes CAPTURE when missing
# or older than its generator.
gen_if_stale() {
	local capture=$1 gen=$2
	shift 2
	[[ -s $capture && ! $gen -nt $capture ]] && return 0
	log "generating $capture"
	"$py" "$gen" "$@" >&2
}

if want testpmd_io || want testpmd_5tswap || want meshgate_fwd ||
	want idle || want footprint || want reload; then
	if [[ ! -s $pcap ]]; then
		log "generating $pcap ($flows flows)"
		"$py" "$root/scripts/gen_pcaps.py" "$(dirname "$pcap")" \
			--only bench --flows "$flows" >&2
	fi
fi
if want established; then
	gen_if_stale "$est_pcap" "$root/scripts/gen_bench_pcaps.py" \
		"$benchdir" --only established
	n=$(pcap_frames "$est_pcap")
	((n == est_frames)) ||
		log "established.pcap: $n frames; bench_mesh.conf is" \
			"sized for $est_frames"
fi
if want newflows; then
	gen_if_stale "$new_pcap" "$root/scripts/gen_bench_pcaps.py" \
		"$benchdir" --only newflows
fi
if want l7_established; then
	gen_if_stale "$l7_est_pcap" "$root/scripts/gen_bench_pcaps.py" \
		"$benchdir" --only l7_established
fi
if want l7_newflows; then
	gen_if_stale "$l7_new_pcap" "$root/scripts/gen_bench_pcaps.py" \
		"$benchdir" --only l7_newflows
fi

run_testpmd io testpmd_io "$pcap"
run_testpmd 5tswap testpmd_5tswap "$pcap"
run_meshgate "$root/tests/configs/bench.conf" meshgate_fwd "$pcap"
run_testpmd 5tswap testpmd_5tswap_established "$est_pcap" established
run_meshgate "$root/tests/configs/bench_mesh.conf" meshgate_established \
	"$est_pcap" established "$est_conns"
run_newflows "$root/tests/configs/bench_newflows.conf" meshgate_new_flows \
	"$new_pcap" "$new_syns"
# the established run again while /metrics is scraped every second (the
# configs serve it on the default 127.0.0.1:9469)
SCRAPE_URL=http://127.0.0.1:9469/metrics run_meshgate \
	"$root/tests/configs/bench_mesh.conf" meshgate_established_mpps_scraped \
	"$est_pcap" established "$est_conns"
# the same with a two-version (99/1) service: Maglev and the weighted
# pick only cost on the first packet of a connection
run_meshgate "$root/tests/configs/bench_canary.conf" \
	meshgate_canary_established "$est_pcap" established "$est_conns"
run_newflows "$root/tests/configs/bench_canary_newflows.conf" \
	meshgate_canary_new_flows "$new_pcap" "$new_syns"

# layer-7 inspection next to the same captures without L7 rules
run_l7 l7_established meshgate_l7_established "$l7_est_pcap" mpps \
	"$l7_est_conns" "$l7_est_requests"
run_l7 l7_newflows meshgate_l7_new_flows "$l7_new_pcap" flows \
	"$l7_new_conns" "$l7_new_conns"

# ---- the appliance: idle CPU, adaptive vs poll, footprint, reloads

# idle_conf MODE OUT: the bundled config with idle.mode MODE, its
# management endpoint off (runs may overlap a scraper's port)
idle_conf() {
	{
		echo "drivers_conf_dir = \"$root/drivers-conf\";"
		cat "$root/app/meshgate/meshgate.conf"
		echo "idle = { mode = \"$1\"; };"
		echo 'telemetry = { listen = "off"; };'
	} >"$2"
}

# cpu_ticks PID: utime + stime of the whole process, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# idle_cpu NAME LCORES MODE: % of one core the process used while idle
idle_cpu() {
	local name=$1 lcores=$2 mode=$3 prefix="mgb-$1-$$" conf t0 t1 hz mpid
	local secs=${BENCH_IDLE_SECONDS:-10}
	conf=$work/$name.conf
	idle_conf "$mode" "$conf"
	prefixes+=("$prefix")
	start_bg "$work/$name.log" "$meshgate" -l "$lcores" --no-pci \
		--no-huge -m 256 --file-prefix "$prefix" \
		--log-level 'lib.*:error' \
		--vdev "net_pcap0,rx_pcap=$pcap" -- -f "$conf"
	local pid=$bg_pid
	# start-up, and the capture's few frames, are over well before
	sleep 3
	if ! kill -0 "$pid" 2>/dev/null; then
		log "$name: meshgate exited; last lines of its log:"
		tail -n 20 "$work/$name.log" >&2
		failed=1
		return 0
	fi
	hz=$(getconf CLK_TCK)
	# start_bg's pid is timeout(1)'s: the gateway is its child
	mpid=$(pgrep -P "$pid" | head -n 1)
	t0=$(cpu_ticks "$mpid")
	sleep "$secs"
	t1=$(cpu_ticks "$mpid")
	stop_process "$pid"
	ran=$((ran + 1))
	awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" -v n="$name" \
		'BEGIN { printf "BENCH %s %.2f\n", n, 100 * d / hz / s }'
}

if want idle; then
	have_meshgate idle && {
		idle_cpu meshgate_idle_cpu_percent 0,1 adaptive
		idle_cpu meshgate_idle_cpu_percent_single_lcore 0 adaptive
		idle_cpu meshgate_idle_cpu_percent_poll 0,1 poll
	}
fi

# rate_once CONF NAME PCAP: meshgate's rx rate (Mpps) on PCAP replayed
# for ever, printed; the run is otherwise run_meshgate's
rate_once() {
	local conf=$1 name=$2 capture=$3 prefix="mgb-$2-$$-$RANDOM" value
	prefixes+=("$prefix")
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$meshgate" \
		$(eal_args "$prefix" "$capture" 1 "$(conf_mbufs "$conf")") -- \
		-f "$conf"
	local pid=$bg_pid
	if value=$(measure "$name" "$pid" "$prefix" /meshgate/stats rx); then
		echo "${value%% *}"
	fi
	stop_process "$pid"
}

if want adaptive && have_meshgate adaptive; then
	gen_if_stale "$est_pcap" "$root/scripts/gen_bench_pcaps.py" \
		"$benchdir" --only established
	poll_conf=$work/bench_mesh_poll.conf
	{ cat "$root/tests/configs/bench_mesh.conf"
	  echo 'idle = { mode = "poll"; };'; } >"$poll_conf"
	ratios=()
	for ((r = 1; r <= ${BENCH_PAIRS:-3}; r++)); do
		a=$(rate_once "$root/tests/configs/bench_mesh.conf" \
			"adaptive-$r" "$est_pcap") || a=
		p=$(rate_once "$poll_conf" "poll-$r" "$est_pcap") || p=
		if [[ -z $a || -z $p ]]; then
			log "adaptive pair $r: no rate"
			failed=1
			continue
		fi
		ratios+=("$(awk -v a="$a" -v p="$p" \
			'BEGIN { printf "%.4f", (p > 0 ? a / p : 0) }')")
		log "adaptive pair $r: adaptive $a Mpps, poll $p Mpps," \
			"ratio ${ratios[-1]}"
	done
	if ((${#ratios[@]} > 0)); then
		ran=$((ran + 1))
		printf '%s\n' "${ratios[@]}" | sort -g |
			awk '{ v[NR] = $1 } END { printf \
			"BENCH meshgate_adaptive_vs_poll_ratio %.3f\n", \
			v[int((NR + 1) / 2)] }'
	fi
fi

# The footprint run: in a private mount namespace, a hugetlbfs of its
# own; prints "hugepages_kb rss_kb" of the gateway once it forwards.
FOOTPRINT_RUN='
dir=$1; shift
mount -t hugetlbfs -o size=256M nodev "$dir" || exit 90
"$@" >"$FOOT_LOG" 2>&1 & pid=$!
i=0
while ! grep -q "forwarding on queue" "$FOOT_LOG" && [ $i -lt 300 ]; do
	kill -0 $pid 2>/dev/null || break; sleep 0.1; i=$((i + 1)); done
sleep 2
awk "/^(Shared|Private)_Hugetlb:/ { h += \$2 } END { printf \"%d \", h }" \
	/proc/$pid/smaps
awk "/^VmRSS:/ { print \$2 }" /proc/$pid/status
kill -INT $pid; wait $pid
'

if want footprint && have_meshgate footprint; then
	fconf=$work/footprint.conf
	sed -e 's/device = "0000:03:00.0";/device = "net_pcap0";/' \
		-e 's/profile = "ixgbe";/profile = "pcap";/' \
		-e 's/listen = "127.0.0.1:9469";/listen = "off";/' \
		"$root/etc/meshgate.conf" >"$fconf"
	echo "drivers_conf_dir = \"$root/drivers-conf\";" >>"$fconf"
	nr=/proc/sys/vm/nr_hugepages
	before=$(cat $nr)
	free=$(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo)
	((free >= 64)) || echo $((before + 64 - free)) >$nr
	mkdir -p "$work/huge"
	prefix="mgb-footprint-$$"
	prefixes+=("$prefix")
	if out=$(FOOT_LOG=$work/footprint.log timeout 120 unshare --mount \
		--propagation private sh -c "$FOOTPRINT_RUN" sh "$work/huge" \
		"$meshgate" -l 0,1 --no-pci --file-prefix "$prefix" \
		--huge-dir "$work/huge" --log-level 'lib.*:error' \
		--vdev "net_pcap0,rx_pcap=$pcap" -- -f "$fconf") && [[ $out =~ ^([0-9]+)\ ([0-9]+)$ ]]; then
		ran=$((ran + 1))
		h=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]}
		awk -v h="$h" -v r="$r" 'BEGIN {
			printf "BENCH meshgate_footprint_mb %.1f\n", (h + r) / 1024
			printf "BENCH meshgate_footprint_hugepages_mb %.1f\n", h / 1024
			printf "BENCH meshgate_footprint_rss_mb %.1f\n", r / 1024 }'
		grep -h "memory:" "$work/footprint.log" | sed 's/^/bench: /' >&2
	else
		log "footprint: no figure ($out); last lines of its log:"
		tail -n 20 "$work/footprint.log" >&2
		failed=1
	fi
	[[ $(cat $nr) != "$before" ]] && echo "$before" >$nr
fi

if want reload && have_meshgate reload; then
	rconf=$work/reload.conf
	{ cat "$root/tests/configs/l7_many_patterns.conf"
	  echo 'idle = { mode = "poll"; };'
	  echo 'telemetry = { listen = "off"; };'; } >"$rconf"
	prefix="mgb-reload-$$"
	prefixes+=("$prefix")
	rlog=$work/reload.log
	# two compiles of 10,000 patterns (start-up, reload): seconds each
	lifetime_saved=$lifetime
	lifetime=600
	start_bg "$rlog" "$meshgate" -l 0 --no-pci --no-huge -m 512 \
		--file-prefix "$prefix" --log-level 'lib.*:error' \
		--vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" -- -f "$rconf"
	pid=$bg_pid
	lifetime=$lifetime_saved
	stall() {
		"$py" - "$root/scripts" "$prefix" "$pid" "$ready_wait" <<-'EOF'
		import sys
		sys.path.insert(0, sys.argv[1])
		import mg_telemetry
		with mg_telemetry.connect_when_ready(sys.argv[2], "/meshgate/stats",
		        "rx", float(sys.argv[4]), pid=int(sys.argv[3])) as tel:
		    print(tel.query("/meshgate/stats")["stall_max_us"])
		EOF
	}
	# the first load compiles for seconds before the worker starts
	for ((i = 0; i < 600; i++)); do
		grep -q "forwarding on queue" "$rlog" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep "$warmup"
	if base=$(stall); then
		# to the gateway itself: timeout(1) would pass a SIGHUP on
		# and then kill its child after --kill-after
		kill -HUP "$(pgrep -P "$pid" | head -n 1)"
		for ((i = 0; i < 3000; i++)); do
			grep -q "new ruleset in force" "$rlog" && break
			sleep 0.1
		done
		if grep -q "new ruleset in force" "$rlog" && after=$(stall); then
			ran=$((ran + 1))
			log "reload: longest stall ${base} us before the reload," \
				"${after} us with it"
			echo "BENCH meshgate_reload_max_gap_us $after"
		else
			log "reload: the reload never ended; last lines of its log:"
			tail -n 20 "$rlog" >&2
			failed=1
		fi
	else
		log "reload: no telemetry; last lines of its log:"
		tail -n 20 "$rlog" >&2
		failed=1
	fi
	stop_process "$pid"
fi

ratio meshgate_vs_io_ratio meshgate_fwd testpmd_io
ratio meshgate_vs_5tswap_ratio meshgate_fwd testpmd_5tswap
ratio meshgate_established_vs_5tswap_ratio meshgate_established \
	testpmd_5tswap_established
ratio meshgate_established_vs_5tswap_bench_pcap_ratio meshgate_established \
	testpmd_5tswap
ratio meshgate_scraped_vs_unscraped_ratio \
	meshgate_established_mpps_scraped meshgate_established
ratio meshgate_canary_vs_single_established_ratio \
	meshgate_canary_established meshgate_established

if ((ran == 0 && failed == 0)); then
	log "BENCH_ONLY='$only' matched no run"
	failed=1
fi

exit "$failed"
