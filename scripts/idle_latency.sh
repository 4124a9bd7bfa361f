#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
#
# What each idle mode adds to latency: ping the gateway's own address
# (answered by its worker: RX, wake-up, echo, TX) in network namespaces,
# at 1 packet/s and at 10,000 packets/s, and print p50 and p99 of the
# round trip per mode, next to poll (which never waits).
#
#   scripts/idle_latency.sh            # af_packet (veth) and tap
#   IDLE_DEVS=tap SLOW_COUNT=10 scripts/idle_latency.sh
#
# af_packet has no RX interrupts ("interrupt" idles as adaptive there);
# tap has them. Before the pings, the whole process's CPU while nothing
# arrives (utime + stime over IDLE_CPU_SECONDS, 10). Output, per device,
# lcore set (IDLE_LCORES, "0,1"; "0 0,1" for both) and mode:
#   IDLECPU <dev> <lcores> <mode> <percent of one core>
#   LATENCY <dev> <lcores> <mode> <rate>pps p50_us <x> p99_us <y> (n=<count>)
# Needs root (namespaces). Every ping is bounded in count and time; the
# namespaces and the gateway are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
meshgate=${MESHGATE_BIN:-$root/build/app/meshgate}
devs=${IDLE_DEVS:-af_packet tap}
modes=${IDLE_MODES:-poll adaptive interrupt}
slow=${SLOW_COUNT:-30}         # pings at 1/s
fast=${FAST_COUNT:-10000}      # pings at 10,000/s
lcore_sets=${IDLE_LCORES:-0,1}
cpu_secs=${IDLE_CPU_SECONDS:-10}
tag=mgl$$
work=$(mktemp -d /tmp/mg-latency.XXXXXX)
gw_pid=

cleanup() {
	[[ -z $gw_pid ]] || { kill -INT "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null || true; }
	ip netns del "$tag-gw" 2>/dev/null || true
	ip netns del "$tag-cli" 2>/dev/null || true
	rm -rf "$work" "/var/run/dpdk/$tag"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# p50 and p99 (nearest rank) of ping's per-packet times, in us
quantiles() {
	sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$1" | sort -g |
		awk '{ v[NR] = $1 * 1000 }
		END { if (NR == 0) { print "no replies"; exit }
		      p50 = v[int(NR * 0.50 + 0.999)]; p99 = v[int(NR * 0.99 + 0.999)]
		      printf "p50_us %.0f p99_us %.0f (n=%d)\n", p50, p99, NR }'
}

run_mode() {
	local dev=$1 lcores=$2 mode=$3 vdev t0 t1 conf=$work/$dev-$mode.conf pinger target
	cat >"$conf" <<-EOF
	drivers_conf_dir = "$root/drivers-conf";
	ports = ( { name = "p"; device = "net_${dev}0";
	            profile = "$dev"; addresses = ["198.18.7.1/24"]; } );
	idle = { mode = "$mode"; };
	telemetry = { listen = "off"; };
	EOF
	if [[ $dev == af_packet ]]; then
		vdev="net_af_packet0,iface=gw0"
		pinger=$tag-cli
	else
		vdev="net_tap0,iface=mgtap"
		pinger=$tag-gw
	fi
	# exec: the pid is the gateway's own (its CPU is read below)
	ip netns exec "$tag-gw" "$meshgate" --no-huge -m 256 \
		--no-pci -l "$lcores" --file-prefix "$tag" --log-level 'lib.*:error' \
		--vdev "$vdev" -- -f "$conf" >"$work/gw.log" 2>&1 &
	gw_pid=$!
	for _ in $(seq 100); do
		[[ -S /var/run/dpdk/$tag/dpdk_telemetry.v2 ]] && break
		sleep 0.1
	done
	if [[ $dev == tap ]]; then
		ip -n "$tag-gw" addr add 198.18.7.10/24 dev mgtap
		ip -n "$tag-gw" link set mgtap up
	fi
	target=198.18.7.1
	sleep 2
	t0=$(awk '{ print $14 + $15 }' "/proc/$gw_pid/stat")
	sleep "$cpu_secs"
	t1=$(awk '{ print $14 + $15 }' "/proc/$gw_pid/stat")
	awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$cpu_secs" \
		-v l="IDLECPU $dev $lcores $mode" \
		'BEGIN { printf "%s %.2f\n", l, 100 * d / hz / s }'
	# ARP resolved before anything is timed
	ip netns exec "$pinger" ping -c 2 -W 2 "$target" >/dev/null || true
	sleep 1
	ip netns exec "$pinger" timeout $((slow + 10)) \
		ping -c "$slow" -i 1 -W 2 "$target" >"$work/slow" || true
	echo "LATENCY $dev $lcores $mode 1pps $(quantiles "$work/slow")"
	ip netns exec "$pinger" timeout 60 \
		ping -c "$fast" -i 0.0001 -W 2 "$target" >"$work/fast" || true
	echo "LATENCY $dev $lcores $mode 10000pps $(quantiles "$work/fast")"
	kill -INT "$gw_pid"
	wait "$gw_pid" || true
	gw_pid=
	grep -h "idle mode" "$work/gw.log" | sed 's/^.*meshgate: /  # /' >&2 || true
}

ip netns add "$tag-gw"
ip netns add "$tag-cli"
ip -n "$tag-gw" link set lo up
ip -n "$tag-cli" link set lo up
ip link add gw0 netns "$tag-gw" type veth peer name cli0 netns "$tag-cli"
ip netns exec "$tag-gw" ethtool -K gw0 tx off >/dev/null
ip netns exec "$tag-cli" ethtool -K cli0 tx off >/dev/null
ip -n "$tag-gw" link set gw0 up
ip -n "$tag-cli" link set cli0 up
ip -n "$tag-cli" addr add 198.18.7.10/24 dev cli0

for dev in $devs; do
	for lcores in $lcore_sets; do
		for mode in $modes; do
			run_mode "$dev" "$lcores" "$mode"
		done
	done
done
