#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Reserves 2 MiB hugepages when possible and prints the EAL memory
# options to use: hugepage-backed, or --no-huge when none can be had.
# Usage: eal_mem=$(scripts/hugepages.sh [PAGES])
pages=${1:-512}
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

if [ "$(id -u)" -eq 0 ]; then
	if [ "$(meminfo HugePages_Total)" -lt "$pages" ] 2>/dev/null; then
		echo "$pages" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
	if ! awk '$3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
	fi
fi
if [ "$(meminfo HugePages_Free)" -ge 128 ] 2>/dev/null &&
	awk '$3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
	echo "-m 256"
else
	echo "--no-huge -m 256"
fi
