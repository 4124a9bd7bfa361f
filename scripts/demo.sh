#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Sets up a fresh Debian 12 machine and shows meshgate at work.
#   scripts/demo.sh           live: meshgate on net_af_packet in network
#                             namespaces between two callers and two
#                             versions of a service (real HTTP servers),
#                             ~10 s of curl, then the canary split, the
#                             denials and p50/p99 latency from /metrics
#                             (scripts/demo_live.py; needs root)
#   scripts/demo.sh --replay  a capture of callers talking to the bundled
#                             config's services (allowed, denied,
#                             dry-run, ARP, echo) through net_pcap
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
"") mode=live ;;
--replay) mode=replay ;;
*) echo "usage: $0 [--replay]" >&2; exit 2 ;;
esac

scripts/build.sh release
eal_mem=$(scripts/hugepages.sh)
demo=build/demo
mkdir -p "$demo"

# The gateway unlinks its hugepage files as it maps them: none may stay
# behind, pinning pages, in any hugetlbfs mount.
hugepage_files() {
	local left=0 n
	while read -r _ dir type _; do
		[ "$type" = hugetlbfs ] || continue
		n=$(find "$dir" -maxdepth 1 -name "$1map_*" | wc -l)
		left=$((left + n))
	done </proc/mounts
	echo "$left"
}

if [ "$mode" = live ]; then
	# shellcheck disable=SC2086 # eal_mem is a list of options
	timeout 120 /usr/bin/python3 scripts/demo_live.py build/app/meshgate \
		"$demo/live" $eal_mem
	left=$(hugepage_files meshgate-demo-live)
	echo "  hugepage files left behind: $left"
	[ "$left" -eq 0 ]
	exit
fi
/usr/bin/python3 scripts/gen_mesh_pcaps.py "$demo" >/dev/null

echo "meshgate: replaying $demo/main.pcap (EAL memory: $eal_mem)"
# shellcheck disable=SC2086 # eal_mem is a list of options
timeout 60 build/app/meshgate $eal_mem --no-pci -l 0,1 \
	--file-prefix meshgate-demo --log-level 'lib.*:error' \
	--vdev "net_pcap0,rx_pcap=$demo/main.pcap,tx_pcap=$demo/out.pcap" \
	-- -f app/meshgate/meshgate.conf --exit-on-idle 200 \
	--stats-json "$demo/stats.json"

left=$(hugepage_files meshgate-demo)
if [ "$left" -ne 0 ]; then
	echo "meshgate: $left hugepage files left behind" >&2
	exit 1
fi

/usr/bin/python3 - "$demo" <<'PY'
import json
import sys

demo = sys.argv[1]
s = json.load(open(f"{demo}/stats.json"))
print()
print(f"  received   {s['rx']:>8} packets")
print(f"  sent       {s['tx']:>8} packets  -> {demo}/out.pcap "
      "(forwarded and NATed, or ARP/ND/echo replies)")
print(f"  connections admitted {s['flows_created']}, of which a dry-run "
      f"rule would deny {s['dry_run_denied']}")
print(f"  absorbed   {s['local']:>8} packets (ARP/ND for the gateway)")
print(f"  dropped    {s['drops_total']:>8} packets")
for reason, n in sorted(s["drops"].items()):
    if n:
        print(f"    {reason:<20} {n:>6}")
print(f"  elapsed    {s['elapsed_s']:>8.3f} s, of which busy "
      f"{s['busy_s'] * 1e6:.0f} us")
print(f"  mbufs in use after exit: {s['mempool']['in_use']} "
      f"of {s['mempool']['size']}")
PY
echo "  hugepage files left behind: $left"
