#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Sets up a fresh Debian 12 machine (packages, builds) and runs every
# test: cmocka unit suites in the release and ASan/UBSan builds, then the
# packet-level pytest suites against the release binary and, for the
# replays, the sanitizer binary, then every libFuzzer target for
# FUZZ_SECONDS (30) and the self-test of the decision target's checks
# (scripts/fuzz.sh: one testcase each; a finding fails and prints its
# reproducer), and the formatting check (scripts/format.sh --check: one
# testcase). Ends with "N passed, N failed, N skipped".
# A skipped test fails the run (CI runs as root with everything installed,
# so a skip there is an end-to-end test that silently did not run) unless
# MG_ALLOW_SKIPS=1. A test whose fixture teardown errs (e.g. the e2e
# modules' leak checks) counts as failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

scripts/build.sh release || exit 1
scripts/build.sh asan || exit 1

out=build/test-results
rm -rf "$out" && mkdir -p "$out"
# DPDK keeps some EAL allocations until exit; leaks of our own are still
# caught by the unit suites, which free everything they create.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_meson() {
	local dir=$1 name=$2
	meson test -C "$dir" --suite unit --print-errorlogs
	cp "$dir/meson-logs/testlog.junit.xml" "$out/$name.xml"
}

run_pytest() {
	local name=$1; shift
	/usr/bin/python3 -m pytest -q -p no:cacheprovider \
		--junitxml="$out/$name.xml" "$@"
}

run_meson build unit
run_meson build-asan unit-asan
MESHGATE_BIN=$PWD/build/app/meshgate run_pytest py tests/py
MESHGATE_BIN=$PWD/build-asan/app/meshgate run_pytest py-asan \
	tests/py/test_replay.py tests/py/test_mesh_replay.py \
	tests/py/test_l7_replay.py tests/py/test_metrics.py \
	tests/py/test_enforcement.py tests/py/test_overload.py \
	tests/py/test_shadow.py tests/py/test_recorder.py \
	tests/py/test_denylog.py tests/py/test_two_way_queues.py \
	tests/py/test_syn_cookies.py

# fuzz.sh writes its testcases itself; one that stops before (a build
# that fails) must still count as a failure
run_fuzz() {
	local name=$1
	shift
	scripts/fuzz.sh "$@" --junit "$out/$name.xml" ||
		[ -f "$out/$name.xml" ] ||
		printf '<testsuite name="%s"><testcase classname="fuzz" name="%s"><failure message="scripts/fuzz.sh stopped before any target ran"/></testcase></testsuite>\n' \
			"$name" "$name" >"$out/$name.xml"
}
run_fuzz fuzz --seconds "${FUZZ_SECONDS:-30}"
run_fuzz fuzz-selftest --selftest

# the C sources as .clang-format has them (scripts/format.sh applies it)
if scripts/format.sh --check >"$out/format.log" 2>&1; then
	printf '<testsuite name="format"><testcase classname="format" name="clang-format"/></testsuite>\n' >"$out/format.xml"
else
	cat "$out/format.log"
	printf '<testsuite name="format"><testcase classname="format" name="clang-format"><failure message="scripts/format.sh --check: files differ from .clang-format (see above)"/></testcase></testsuite>\n' >"$out/format.xml"
fi

/usr/bin/python3 - "$out"/*.xml <<'PY'
import os
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
skips = []
for path in sys.argv[1:]:
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        # a teardown error is an <error> in the test's own testcase
        if tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags:
            skipped += 1
            why = case.find("skipped")
            skips.append("%s: %s::%s: %s" % (
                os.path.basename(path), case.get("classname"),
                case.get("name"), " ".join(filter(None, (
                    why.get("message"), (why.text or "").strip())))))
        else:
            passed += 1
allow = os.environ.get("MG_ALLOW_SKIPS") == "1"
if skips:
    print("skipped tests%s:" % (" (allowed: MG_ALLOW_SKIPS=1)" if allow
                                else " fail the run (MG_ALLOW_SKIPS=1 "
                                "allows them)"))
    for line in skips:
        print("  " + line)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or not passed or (skipped and not allow) else 0)
PY
