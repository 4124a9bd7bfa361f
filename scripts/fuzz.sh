#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs the libFuzzer targets of tests/fuzz under ASan + UBSan: builds them
# with clang in build-fuzz/ (-Dfuzz=true), generates their seed corpora
# there from the project's capture generators and configs
# (scripts/fuzz_corpus.py; the committed regression inputs of
# tests/fuzz/regress/TARGET are seeds too), then fuzzes each target for
# a time or a number of executions. What a run grows is kept in
# build-fuzz/grown/TARGET for the next one.
#
#   scripts/fuzz.sh --list                 the targets, one per line
#   scripts/fuzz.sh [TARGET...] [--seconds N | --runs N] [--junit FILE]
#                                          fuzz TARGETs (default: all) for
#                                          N seconds (default FUZZ_SECONDS
#                                          or 60) or N executions each
#   scripts/fuzz.sh --selftest [--junit FILE]
#                                          break each invariant of the
#                                          decision target on purpose: its
#                                          check must fire
#   scripts/fuzz.sh --replay TARGET FILE...
#                                          run inputs once, as a run would
#
# A finding (crash, sanitizer report, broken invariant, leak, timeout)
# exits 1 and prints the reproducer and the command that replays it;
# --junit writes one testcase per target (a finding is a failure).
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # "&" in ${v//x/y} is literal
cd "$(dirname "$0")/.."
root=$PWD

targets=(pkt decision neigh conf l7 esp)
out=$root/build-fuzz
bin=$out/tests/fuzz

usage() {
	sed -n '/^#   scripts/,/^#$/p' "$0" | sed 's/^#//' >&2
	exit 2
}

is_target() {
	local t
	for t in "${targets[@]}"; do
		[ "$t" = "$1" ] && return 0
	done
	return 1
}

# ---- build and corpora ----

build() {
	scripts/install-deps.sh
	if [ ! -f "$out/build.ninja" ]; then
		# every object instrumented for coverage and the sanitizers;
		# only the targets link libFuzzer's main()
		CC=clang meson setup "$out" -Dfuzz=true -Dtests=false \
			--buildtype=debugoptimized \
			-Db_sanitize=address,undefined -Db_lundef=false \
			"-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer" \
			>/dev/null
	fi
	if ! ninja -C "$out" >"$out/ninja.log" 2>&1; then
		grep -E -A5 'error|FAILED' "$out/ninja.log" | head -n 60 >&2
		echo "fuzz.sh: building the targets failed ($out/ninja.log)" >&2
		exit 1
	fi
}

# Regenerated when a generator, a config or a profile changed.
corpus() {
	local stamp=$out/corpus/.stamp newer
	newer=$(find scripts/gen_pcaps.py scripts/gen_mesh_pcaps.py \
		scripts/gen_l7_pcaps.py scripts/fuzz_corpus.py tests/configs \
		tests/fuzz/*.conf app/meshgate/meshgate.conf drivers-conf \
		lib/conf -newer "$stamp" -print -quit 2>/dev/null ||
		echo new)
	[ -f "$stamp" ] && [ -z "$newer" ] && return 0
	rm -rf "$out/pcaps" "$out/corpus"
	mkdir -p "$out/pcaps/base" "$out/pcaps/mesh" "$out/pcaps/l7"
	/usr/bin/python3 scripts/gen_pcaps.py "$out/pcaps/base" >/dev/null
	/usr/bin/python3 scripts/gen_mesh_pcaps.py "$out/pcaps/mesh" >/dev/null
	/usr/bin/python3 scripts/gen_l7_pcaps.py "$out/pcaps/l7" >/dev/null
	/usr/bin/python3 scripts/fuzz_corpus.py "$out/pcaps" "$out/corpus" |
		sed 's/^/fuzz: seeds: /'
	touch "$stamp"
}

# ---- one target ----

# libFuzzer flags and environment of a target, as every run and replay
# uses them: $flags and $envs.
settings() {
	local t=$1
	flags=(-timeout=25 -rss_limit_mb=4096 -print_final_stats=1)
	# no allocation stacks while fuzzing (a third of the time on
	# allocation-heavy targets); a replay prints them
	envs=("ASAN_OPTIONS=malloc_context_size=0:quarantine_size_mb=32"
	      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
	      "LSAN_OPTIONS=suppressions=$root/tests/fuzz/lsan.supp")
	case $t in
	pkt | neigh) flags+=(-max_len=2048) ;;
	decision)
		flags+=(-max_len=8192)
		envs+=("MG_FUZZ_JOURNAL=$out/run/decision/journal") ;;
	# fuzz_conf.c counts what lib/conf holds itself (see there)
	conf) flags+=(-max_len=16384 -detect_leaks=0
		      "-dict=$out/corpus/conf.dict") ;;
	l7) flags+=(-max_len=4096 "-dict=$out/corpus/l7.dict") ;;
	esp) flags+=(-max_len=2048) ;;
	esac
}

# The decision journal up to its used length (its last 8 bytes).
journal_cut() {
	local j=$out/run/decision/journal len
	[ -f "$j" ] || return 1
	len=$(tail -c 8 "$j" | od -An -t u8 | tr -d ' ')
	[ "${len:-0}" -gt 0 ] || return 1
	head -c "$len" "$j" >"$1"
}

junit_cases=()

# junit_case NAME SECONDS [FAILURE-MESSAGE [DETAIL]]
junit_case() {
	local x="<testcase classname=\"fuzz\" name=\"$1\" time=\"$2\""
	if [ $# -gt 2 ]; then
		x+="><failure message=\"$(xml "$3")\">$(xml "${4:-}")</failure></testcase>"
	else
		x+="/>"
	fi
	junit_cases+=("$x")
}

xml() {
	local s=${1//&/&amp;}
	s=${s//</&lt;}
	s=${s//>/&gt;}
	s=${s//\"/&quot;}
	printf '%s' "$s"
}

junit_write() {
	local fail=0 c
	[ -n "$junit" ] || return 0
	for c in "${junit_cases[@]}"; do
		[[ $c == *"<failure"* ]] && fail=$((fail + 1))
	done
	{
		printf '<?xml version="1.0" encoding="utf-8"?>\n'
		printf '<testsuites><testsuite name="fuzz" tests="%d" failures="%d">\n' \
			"${#junit_cases[@]}" "$fail"
		printf '%s\n' "${junit_cases[@]}"
		printf '</testsuite></testsuites>\n'
	} >"$junit"
}

# run_target TARGET: fuzz it for $budget; 0, or 1 with the finding told.
run_target() {
	local t=$1
	local run=$out/run/$t find=$out/findings/$t
	local log rc start secs execs rate seeds art report
	settings "$t"
	mkdir -p "$run" "$out/grown/$t"
	rm -rf "$find" && mkdir -p "$find"
	log=$run/fuzz.log
	seeds=("$out/grown/$t" "$out/corpus/$t")
	[ -d "tests/fuzz/regress/$t" ] && seeds+=("$root/tests/fuzz/regress/$t")
	start=$(date +%s)
	# an empty folder to run in (the config target can @include) and
	# nothing on stdin
	set +e
	(cd "$run" && env "${envs[@]}" "$bin/fuzz_$t" "${flags[@]}" \
		"${budget[@]}" "-artifact_prefix=$find/" "${seeds[@]}" \
		</dev/null >"$log" 2>&1)
	rc=$?
	set -e
	secs=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	art=$(find "$find" -maxdepth 1 -type f -name '*-*' | sort | head -1 ||
		true)
	if [ $rc -eq 0 ] && [ -z "$art" ]; then
		echo "fuzz $t: ${execs:-?} executions in ${secs} s" \
			"(${rate:-?}/s), no finding"
		junit_case "$t" "$secs"
		return 0
	fi
	report="fuzz $t: FINDING (exit $rc) after ${execs:-?} executions in ${secs} s"
	report+=$'\n'"$(grep -E -m 8 'INVARIANT|ERROR:|SUMMARY:|runtime error|Direct leak|deadly signal|timeout' "$log" || true)"
	if [ -n "$art" ]; then
		report+=$'\n'"reproducer: $art"
		report+=$'\n'"replay:     scripts/fuzz.sh --replay $t $art"
	else
		report+=$'\n'"no reproducer written; see $log"
	fi
	if [ "$t" = decision ] && journal_cut "$find/journal"; then
		report+=$'\n'"with the state of earlier inputs (if the one input alone does not reproduce):"
		report+=$'\n'"replay:     MG_FUZZ_REPLAY=1 scripts/fuzz.sh --replay decision $find/journal"
	fi
	report+=$'\n'"log:        $log"
	echo "$report"
	junit_case "$t" "$secs" "finding in $t" "$report"
	return 1
}

# ---- the self-test of the decision target's checks ----

selftest() {
	local inj log start secs fails=0
	settings decision
	mkdir -p "$out/run/selftest"
	for inj in leak double cksum flow vip; do
		log=$out/run/selftest/$inj.log
		start=$(date +%s)
		set +e
		(cd "$out/run/selftest" && env "${envs[@]}" \
			"MG_FUZZ_JOURNAL=$out/run/selftest/journal" \
			"MG_FUZZ_INJECT=$inj" "$bin/fuzz_decision" "${flags[@]}" \
			-runs=200000 -max_total_time=120 \
			"-artifact_prefix=$out/run/selftest/$inj-" \
			"$out/corpus/decision" </dev/null >"$log" 2>&1)
		set -e
		secs=$(($(date +%s) - start))
		rm -f "$out/run/selftest/$inj-"*
		if grep -q '^INVARIANT' "$log"; then
			echo "fuzz selftest $inj: the check fired:" \
				"$(grep -m 1 '^INVARIANT' "$log" | cut -c1-120)"
			junit_case "decision-selftest-$inj" "$secs"
		else
			echo "fuzz selftest $inj: NOTHING FIRED; see $log"
			junit_case "decision-selftest-$inj" "$secs" \
				"injected $inj not caught" "see $log"
			fails=$((fails + 1))
		fi
	done
	[ $fails -eq 0 ]
}

# ---- options ----

mode=fuzz
budget=()
junit=
chosen=()
while [ $# -gt 0 ]; do
	case $1 in
	--list) printf '%s\n' "${targets[@]}"; exit 0 ;;
	--seconds) [ $# -ge 2 ] || usage; budget=("-max_total_time=$2"); shift ;;
	--runs) [ $# -ge 2 ] || usage; budget=("-runs=$2"); shift ;;
	--junit) [ $# -ge 2 ] || usage; junit=$(realpath -m "$2"); shift ;;
	--selftest) mode=selftest ;;
	--replay) mode=replay ;;
	-h | --help) usage ;;
	-*) usage ;;
	*) chosen+=("$1") ;;
	esac
	shift
done
[ ${#budget[@]} -gt 0 ] || budget=("-max_total_time=${FUZZ_SECONDS:-60}")

if [ $mode = replay ]; then
	if [ ${#chosen[@]} -lt 2 ] || ! is_target "${chosen[0]}"; then
		usage
	fi
	t=${chosen[0]}
	files=()
	for f in "${chosen[@]:1}"; do files+=("$(realpath "$f")"); done
	build
	settings "$t"
	mkdir -p "$out/run/$t"
	# full allocation stacks for the report
	envs[0]="ASAN_OPTIONS="
	cd "$out/run/$t"
	if [ "$t" = decision ]; then
		# a replay must not overwrite the journal being replayed
		envs+=("MG_FUZZ_JOURNAL=" "MG_FUZZ_REPLAY=${MG_FUZZ_REPLAY:-0}")
	fi
	exec env "${envs[@]}" "$bin/fuzz_$t" "${flags[@]}" "${files[@]}" \
		</dev/null
fi

build
corpus
if [ $mode = selftest ]; then
	rc=0
	selftest || rc=1
	junit_write
	exit $rc
fi
[ ${#chosen[@]} -gt 0 ] || chosen=("${targets[@]}")
for t in "${chosen[@]}"; do
	is_target "$t" || { echo "fuzz: no target '$t' (see --list)" >&2; exit 2; }
done
rc=0
for t in "${chosen[@]}"; do
	run_target "$t" || rc=1
done
junit_write
exit $rc
