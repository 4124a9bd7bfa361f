#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Applies .clang-format to every C file; with --check, lists the files
# that differ and fails instead of rewriting them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--check" ]; then
	clang-format --dry-run --Werror "${files[@]}"
else
	clang-format -i "${files[@]}"
fi
