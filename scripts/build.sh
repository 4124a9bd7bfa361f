#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs what is missing and builds meshgate.
#   scripts/build.sh            release build in build/
#   scripts/build.sh asan       ASan+UBSan debug build in build-asan/
#   scripts/build.sh debug      debug build in build-debug/
#   scripts/build.sh tsan       ThreadSanitizer debug build in build-tsan/
#                               (its unit suites: meson test -C build-tsan
#                               --suite unit)
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
tsan) dir=build-tsan
	# DPDK's inline spinlocks and rings as __atomic builtins, which TSan
	# sees (on x86 they are inline asm and compiler barriers); DPDK's
	# libraries themselves stay uninstrumented (scripts/tsan.supp).
	# -Wno-tsan: GCC warns that TSan ignores atomic_thread_fence, which
	# DPDK's headers use.
	opts=(--buildtype=debug -Db_sanitize=thread -Db_lundef=false
		"-Dc_args=-Wno-tsan -DRTE_FORCE_INTRINSICS -DRTE_USE_C11_MEM_MODEL") ;;
*) echo "usage: $0 [release|debug|asan|tsan]" >&2; exit 2 ;;
esac

if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir" >/dev/null
echo "built $dir/app/meshgate"
