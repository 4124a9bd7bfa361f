#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs every Debian package meshgate needs to build, test and
# benchmark. Idempotent: does nothing when all are present.
set -euo pipefail

packages=(
	# build
	build-essential pkg-config meson ninja-build
	libdpdk-dev dpdk dpdk-dev libhyperscan-dev libipsec-mb-dev
	libconfig-dev libpcap-dev libmicrohttpd-dev zlib1g-dev libsystemd-dev
	# tests (end-to-end ones build namespaces and use real clients)
	libcmocka-dev python3 python3-scapy python3-pytest tshark iproute2
	ethtool curl procps openssl systemd iputils-ping
	# the /metrics tests: promtool and a real server, started on loopback
	# by the tests themselves (Debian also enables a system service)
	prometheus
	# fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer
	# runtimes, llvm-symbolizer for readable reports
	clang libclang-rt-14-dev llvm
	# tooling and profiling
	clang-format valgrind
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# No package may start a system service here (prometheus would listen on
# every address): policy-rc.d refuses for the length of the install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
# tshark asks whether non-root users may capture; the default (no) is fine
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	debconf-set-selections
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
