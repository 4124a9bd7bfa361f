#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
#
# Forwarding rate of meshgate next to dpdk-testpmd: the driver is
# scripts/bench.py (its docstring lists every group, figure and variable);
# this wrapper only runs it with Debian's Python, whose modules it needs.
#   BENCH_ONLY=established BENCH_SECONDS=2 scripts/bench.sh
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
