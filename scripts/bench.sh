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
#       (10,000 connections to a service VIP with whole handshakes, the
#       backend's SYN-ACKs included, then 9 rounds of one 60-byte data
#       segment per connection: all flow-table hits after the first
#       loop, which repeats the handshakes as challenged SYNs and
#       duplicates, and the data as retransmissions inside the window)
#       through testpmd 5tswap and through the service-mesh fast path
#       (tests/configs/bench_mesh.conf, one-arm: lookup, connection
#       tracking, DNAT, MAC rewrite, count).
#       cycles_per_pkt is meshgate's busy_cycles delta over its rx delta,
#       from the same two telemetry replies as the rate (busy_cycles
#       covers whole poll rounds, TX flush and expiry included).
#       meshgate_established_vs_5tswap_ratio divides by testpmd 5tswap on
#       the same capture (a 120,000-frame preload can cost the rx side
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
#   meshgate_synflood_established_ratio,
#   meshgate_synflood_half_open_peak, meshgate_half_open_budget [synflood]:
#       est_once.pcap (5,000 connections, whole handshakes, then 10
#       rounds of one data segment each: 65,000 frames) and
#       synflood.pcap (the same with a spoofed SYN after every data
#       segment: 115,000 frames, half of them SYNs once the handshakes
#       are done), each replayed forever (infinite_rx; a loop repeats
#       the data as retransmissions, and the flood's tuples, evicted long
#       since, as new connections) through tests/configs/
#       bench_synflood.conf (half-open budget 16,384), in BENCH_PAIRS
#       alternating pairs (3). The established frames' rate of the flood
#       run is its rx rate times their share of synflood.pcap (13/23);
#       the ratio is the median of the pairs' (printed on stderr). The
#       peak is the highest half-open count of the flood runs
#       (--stats-json overload.half_open_peak), checked against the
#       budget. Both runs keep the worker saturated, so the ratio is the
#       share of the core the flood's SYNs leave to the established
#       connections (README, Benchmarks).
#   meshgate_ratelimit_cost_ratio [ratelimit]: est_once.pcap replayed
#       forever through bench_ratelimit.conf (a limit on the callers'
#       identity and on each source that the capture never reaches:
#       every connection and packet metered, none refused) over
#       bench_synflood.conf (no limit), rx rates, median of BENCH_PAIRS
#       alternating pairs.
#   meshgate_esp_encrypt_gbps, cryptoperf_aes_gcm128_gbps,
#   meshgate_esp_vs_cryptoperf_ratio [esp_encrypt]: ESP through one worker
#       against the bare cipher on the same lcore. esp_encrypt.pcap
#       (scripts/gen_esp_pcaps.py: 1,024 UDP flows of 1,400-byte frames)
#       replayed with infinite_rx through tests/configs/bench_esp.conf,
#       whose service's backend sits behind a peer: every packet a flow
#       hit, DNATed and encrypted (AES-GCM-128, librte_ipsec over
#       crypto_aesni_mb) to net_null0. Next to dpdk-test-crypto-perf
#       (throughput, crypto_aesni_mb, aead aes-gcm 128-bit key, 12-byte IV,
#       8-byte AAD, 16-byte ICV, 1,400-byte buffers, bursts of 32, a pool
#       of 1,024 buffers like the capture's 1,024 frames) on lcore 1.
#       Gbps counts 1,400 bytes a packet (the frame the cipher's buffer
#       stands for; what GCM covers is its IP packet and the trailer).
#       meshgate's rate is rx over its BUSY cycles (rounds that received
#       something) in the window, so that a worker fed slower than it can
#       go is not counted idle; its raw rate and busy ratio are logged.
#   meshgate_esp_decrypt_gbps, meshgate_esp_decrypt_vs_cryptoperf_ratio
#   [esp_decrypt]: the same the other way. A capture of tunnel packets
#       cannot loop (its sequence numbers would repeat and the replay
#       window refuses them before any decryption), so another meshgate,
#       single-core on lcore 0 (tests/configs/bench_esp_gen.conf),
#       encrypts esp_gen.pcap (infinite_rx) toward the measured one over
#       net_memif0; the measured one decrypts, admits (peer:bench-peer)
#       and forwards in clear to net_null0. cryptoperf with --aead-op
#       decrypt next to it.
#       Both esp groups alternate meshgate and cryptoperf BENCH_ESP_RUNS
#       times (3), print every pair, and report the medians (the ratio
#       is the median of the pairs' ratios).
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
#   BENCH_PAIRS    alternating pairs of the synflood and ratelimit runs (3)
#   BENCH_ESP_RUNS pairs of each esp group, alternating (3)
#   CRYPTOPERF     (dpdk-test-crypto-perf)
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
cryptoperf=${CRYPTOPERF:-dpdk-test-crypto-perf}
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
once_pcap=$benchdir/est_once.pcap
flood_pcap=$benchdir/synflood.pcap
# What gen_bench_pcaps.py writes by default; the configs are sized for it.
est_conns=10000
est_frames=120000
new_syns=200000
l7_est_conns=10000
l7_est_requests=300000
l7_new_conns=100000
l7_runs=${BENCH_L7_RUNS:-3}
pairs=${BENCH_PAIRS:-3}
once_conns=5000
once_rounds=10
esp_runs=${BENCH_ESP_RUNS:-3}
esp_enc_pcap=$benchdir/esp_encrypt.pcap
esp_gen_pcap=$benchdir/esp_gen.pcap
esp_frame=1400                    # bytes a packet counts for, as cryptoperf's
esp_ops=4000000                   # cryptoperf operations a run

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

# eal_mem MBUFS: memory options for a pool of MBUFS mbufs (~4.2 KiB each)
# plus 256 MiB for the rest, at least 512 MiB.
eal_mem() {
	local huge=${BENCH_HUGE:-auto} free_kb
	local mb=$(((256 + ($1 * 4352 + 1048575) / 1048576 + 127) / 128))
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

# rate_run CONF NAME PCAP JSON: meshgate replays PCAP forever; prints the
# rx rate (Mpps) over the window, writes JSON (--stats-json) at the stop.
rate_run() {
	local conf=$1 name=$2 capture=$3 stats=$4
	local prefix="mgb-$2-$$-$RANDOM" value
	prefixes+=("$prefix")
	# shellcheck disable=SC2046
	start_bg "$work/$name.log" "$meshgate" \
		$(eal_args "$prefix" "$capture" 1 "$(conf_mbufs "$conf")") -- \
		-f "$conf" --stats-json "$stats"
	local pid=$bg_pid
	value=$(measure "$name" "$pid" "$prefix" /meshgate/stats rx) || {
		stop_process "$pid"
		return 1
	}
	stop_process "$pid"
	echo "${value%% *}"
}

# run_pairs GROUP NAME CONF_A PCAP_A CONF_B PCAP_B SHARE_B: BENCH_PAIRS
# alternating pairs of rate runs (A then B, same core, same window); each
# pair's ratio is (B's rate x SHARE_B) / A's rate, SHARE_B the part of
# B's input that counts (the established frames of synflood.pcap). Prints
# the pairs on stderr and their median as NAME; the B runs' --stats-json
# files are left in $work/NAME-b-*.json.
run_pairs() {
	local group=$1 name=$2 conf_a=$3 pcap_a=$4 conf_b=$5 pcap_b=$6
	local share=$7 r a b
	local -a rows=()
	want "$group" || return 0
	have_meshgate "$name" || return 0
	for ((r = 1; r <= pairs; r++)); do
		a=$(rate_run "$conf_a" "$name-a" "$pcap_a" \
			"$work/$name-a-$r.json") &&
			b=$(rate_run "$conf_b" "$name-b" "$pcap_b" \
				"$work/$name-b-$r.json") || {
			failed=1
			return 0
		}
		check_stats "$name-a-$r" "$work/$name-a-$r.json"
		rows+=("$a $b")
	done
	ran=$((ran + 1))
	printf '%s\n' "${rows[@]}" | "$py" -c '
import statistics, sys
name, share = sys.argv[1], float(sys.argv[2])
pairs = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
ratios = [b * share / a for a, b in pairs]
print("bench: %s pairs (B x %.3f / A): %s" % (name, share, "; ".join(
    "%.3f x %.3f / %.3f = %.3f" % (b, share, a, r)
    for (a, b), r in zip(pairs, ratios))), file=sys.stderr)
print("BENCH %s %.3f" % (name, statistics.median(ratios)))
' "$name" "$share"
}

# synflood_peak: the half-open peak of the flood runs (--stats-json), next
# to the budget; fails when the peak passed it.
synflood_peak() {
	want synflood || return 0
	"$py" - "$work"/meshgate_synflood_established_ratio-b-*.json <<-'PY' ||
	import json, sys
	runs = [json.load(open(p)) for p in sys.argv[1:]]
	peak = max(s["overload"]["half_open_peak"] for s in runs)
	budget = runs[0]["overload"]["half_open_budget"]
	print("BENCH meshgate_synflood_half_open_peak %d" % peak)
	print("BENCH meshgate_half_open_budget %d" % budget)
	sys.exit(peak > budget)
	PY
		failed=1
}

# esp_busy_rate NAME PREFIX PID: meshgate's lcore 1 over the window: rx
# per second of its busy cycles (Mpps), its raw rate and busy ratio;
# prints "MPPS RAW_MPPS BUSY_RATIO".
esp_busy_rate() {
	local name=$1 prefix=$2 pid=$3
	if ! "$py" - "$root/scripts" "$prefix" "$pid" "$ready_wait" "$warmup" \
		"$window" <<-'EOF'
	import sys, time
	sys.path.insert(0, sys.argv[1])
	import mg_telemetry
	prefix, pid = sys.argv[2], int(sys.argv[3])
	wait, warmup, window = map(float, sys.argv[4:7])
	with mg_telemetry.connect_when_ready(prefix, "/meshgate/lcores", "1",
	                                     wait, pid=pid) as tel:
	    time.sleep(warmup)
	    t0, a = time.monotonic(), tel.query("/meshgate/lcores")["1"]
	    time.sleep(window)
	    t1, b = time.monotonic(), tel.query("/meshgate/lcores")["1"]
	rx = b["rx"] - a["rx"]
	busy = b["busy_cycles"] - a["busy_cycles"]
	hz = (b["elapsed_cycles"] - a["elapsed_cycles"]) / (t1 - t0)
	if rx <= 0 or busy <= 0:
	    sys.exit("no packets in the window")
	print("%.3f %.3f %.3f" % (rx * hz / busy / 1e6, rx / (t1 - t0) / 1e6,
	                          busy / (hz * (t1 - t0))))
	EOF
	then
		log "$name: no rate; last lines of its log:"
		tail -n 20 "$work/$name.log" >&2
		return 1
	fi
}

# esp_meshgate DIRECTION NAME: one meshgate ESP run (encrypt or decrypt);
# prints its Gbps.
esp_meshgate() {
	local dir=$1 name=$2 prefix="mgb-$2-$$-$RANDOM" value
	local conf=$root/tests/configs/bench_esp.conf stats="$work/$name.json"
	local gen_pid='' gen_prefix sock
	prefixes+=("$prefix")
	if [[ $dir == decrypt ]]; then
		# the generator: another gateway on lcore 0 that encrypts
		gen_prefix="mgb-$2-gen-$$-$RANDOM"
		prefixes+=("$gen_prefix")
		sock=$work/memif-$RANDOM.sock
		sed 's|"keys/|"'"$root"'/tests/configs/keys/|;
		     s|device = "net_pcap0"; profile = "pcap"; role = "edge"|device = "net_memif0"; profile = "null"; role = "edge"|' \
			"$conf" >"$work/$name.conf"
		echo "drivers_conf_dir = \"$root/drivers-conf\";" \
			>>"$work/$name.conf"
		conf=$work/$name.conf
		# shellcheck disable=SC2046
		start_bg "$work/$name-gen.log" "$meshgate" -l 0 --no-pci \
			$(eal_mem "$(conf_mbufs "$conf")") \
			--file-prefix "$gen_prefix" --log-level 'lib.*:error' \
			--vdev "net_pcap0,rx_pcap=$esp_gen_pcap,infinite_rx=1" \
			--vdev "net_memif0,role=server,socket=$sock,rsize=12" \
			-- -f "$root/tests/configs/bench_esp_gen.conf"
		gen_pid=$bg_pid
		# shellcheck disable=SC2046
		start_bg "$work/$name.log" "$meshgate" -l 0,1 --no-pci \
			$(eal_mem "$(conf_mbufs "$conf")") \
			--file-prefix "$prefix" --log-level 'lib.*:error' \
			--vdev "net_memif0,role=client,socket=$sock,rsize=12" \
			--vdev net_null0,no-rx=1 -- -f "$conf" \
			--stats-json "$stats"
	else
		# shellcheck disable=SC2046
		start_bg "$work/$name.log" "$meshgate" \
			$(eal_args "$prefix" "$esp_enc_pcap" 1 \
				"$(conf_mbufs "$conf")") -- \
			-f "$conf" --stats-json "$stats"
	fi
	local pid=$bg_pid rc=0
	if value=$(esp_busy_rate "$name" "$prefix" "$pid"); then
		log "$name: ${value%% *} Mpps busy, raw and busy ratio:" \
			"${value#* }"
	else
		rc=1
	fi
	stop_process "$pid"
	[[ -z $gen_pid ]] || stop_process "$gen_pid"
	check_stats "$name" "$stats"
	((rc == 0)) || return 1
	awk -v m="${value%% *}" -v b="$esp_frame" \
		'BEGIN { printf "%.3f\n", m * b * 8 / 1000 }'
}

# esp_cryptoperf OP NAME: dpdk-test-crypto-perf, AES-GCM-128 OP (encrypt,
# decrypt) of 1,400-byte buffers on lcore 1; prints its Gbps.
esp_cryptoperf() {
	local op=$1 name=$2 prefix="mgb-$2-$$-$RANDOM"
	prefixes+=("$prefix")
	# shellcheck disable=SC2046
	timeout --signal=INT --kill-after="$stop_wait" "$lifetime" \
		"$cryptoperf" -l 0,1 --no-pci $(eal_mem 16384) \
		--file-prefix "$prefix" --log-level 'lib.*:error' \
		--vdev crypto_aesni_mb_bench -- --ptest throughput \
		--devtype crypto_aesni_mb --optype aead --aead-algo aes-gcm \
		--aead-op "$op" --aead-key-sz 16 --aead-iv-sz 12 \
		--aead-aad-sz 8 --digest-sz 16 --buffer-sz "$esp_frame" \
		--burst-sz 32 --pool-sz 1024 --total-ops "$esp_ops" --silent \
		</dev/null >"$work/$name.log" 2>&1 || {
		log "$name: $cryptoperf failed; last lines of its log:"
		tail -n 20 "$work/$name.log" >&2
		return 1
	}
	# the result row: lcore, buffer size, burst, enqueued, dequeued,
	# failed enqueues, failed dequeues, MOps, Gbps, cycles a buffer
	awk '$1 == 1 && $2 == '"$esp_frame"' { g = $9 } END {
		if (g == "") exit 1; print g }' "$work/$name.log"
}

# run_esp GROUP DIRECTION OP NAME RATIO: BENCH_ESP_RUNS pairs of meshgate
# and cryptoperf, alternating; prints every pair, the medians and the
# median of the pairs' ratios.
run_esp() {
	local group=$1 dir=$2 op=$3 name=$4 ratio_name=$5 r m c
	local -a mg=() cp=() ratios=()
	want "$group" || return 0
	have_meshgate "$name" || return 0
	command -v "$cryptoperf" >/dev/null || {
		log "$group: $cryptoperf not found"
		failed=1
		return 0
	}
	for ((r = 1; r <= esp_runs; r++)); do
		if ! m=$(esp_meshgate "$dir" "$name-$r") ||
			! c=$(esp_cryptoperf "$op" "cryptoperf-$op-$r"); then
			failed=1
			return 0
		fi
		mg+=("$m")
		cp+=("$c")
		ratios+=("$(awk -v a="$m" -v b="$c" \
			'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')")
		log "$group pair $r: meshgate $m Gbps, cryptoperf $c Gbps," \
			"ratio ${ratios[-1]}"
		echo "BENCH_PAIR $group $r meshgate $m cryptoperf $c ratio" \
			"${ratios[-1]}"
	done
	ran=$((ran + 1))
	median() { printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
	echo "BENCH ${name}_gbps $(median "${mg[@]}")"
	[[ $op == decrypt ]] ||
		echo "BENCH cryptoperf_aes_gcm128_gbps $(median "${cp[@]}")"
	[[ $op == encrypt ]] ||
		echo "BENCH cryptoperf_aes_gcm128_decrypt_gbps $(median "${cp[@]}")"
	echo "BENCH $ratio_name $(median "${ratios[@]}")"
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
if want synflood || want ratelimit; then
	gen_if_stale "$once_pcap" "$root/scripts/gen_bench_pcaps.py" \
		"$benchdir" --only est_once
fi
if want synflood; then
	gen_if_stale "$flood_pcap" "$root/scripts/gen_bench_pcaps.py" \
		"$benchdir" --only synflood
fi
if want esp_encrypt || want esp_decrypt; then
	gen_if_stale "$esp_enc_pcap" "$root/scripts/gen_esp_pcaps.py" \
		"$benchdir"
	gen_if_stale "$esp_gen_pcap" "$root/scripts/gen_esp_pcaps.py" \
		"$benchdir"
	# the configs name the test keys, which must be the owner's alone
	chmod 600 "$root"/tests/configs/keys/*.key
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

# overload protection: a SYN flood, and the cost of metering
run_pairs synflood meshgate_synflood_established_ratio \
	"$root/tests/configs/bench_synflood.conf" "$once_pcap" \
	"$root/tests/configs/bench_synflood.conf" "$flood_pcap" \
	"$(awk -v c="$once_conns" -v r="$once_rounds" \
		'BEGIN { printf "%.6f", (3 + r) / (3 + 2 * r) }')"
synflood_peak
run_pairs ratelimit meshgate_ratelimit_cost_ratio \
	"$root/tests/configs/bench_synflood.conf" "$once_pcap" \
	"$root/tests/configs/bench_ratelimit.conf" "$once_pcap" 1
# ESP through one worker next to the bare cipher on the same lcore
run_esp esp_encrypt encrypt encrypt meshgate_esp_encrypt \
	meshgate_esp_vs_cryptoperf_ratio
run_esp esp_decrypt decrypt decrypt meshgate_esp_decrypt \
	meshgate_esp_decrypt_vs_cryptoperf_ratio
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
