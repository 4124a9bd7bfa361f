#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs what is missing and builds meshgate.
#   scripts/build.sh            release build in build/
#   scripts/build.sh asan       ASan+UBSan debug build in build-asan/
#   scripts/build.sh debug      debug build in build-debug/
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

kind=${1:-release}
case "$kind" in
release) dir=build; opts=(--buildtype=release) ;;
debug) dir=build-debug; opts=(--buildtype=debug) ;;
asan) dir=build-asan
	# b_lundef=false: the sanitizer runtimes resolve symbols at run time
	opts=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false) ;;
*) echo "usage: $0 [release|debug|asan]" >&2; exit 2 ;;
esac

if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir" >/dev/null
echo "built $dir/app/meshgate"
