#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Fuzzes lib/policy's HTTP and ClientHello parsers with libFuzzer under
# ASan/UBSan (tests/fuzz/fuzz_l7_parse.c). Needs clang (apt-get install
# clang). Bounded: FUZZ_SECONDS (default 60). Seeds: the requests and
# hellos of tests/unit/test_parse.c are not files, so it starts from a
# few written here; the corpus it grows stays in build-fuzz/corpus.
#   scripts/fuzz.sh            run for FUZZ_SECONDS
#   scripts/fuzz.sh CRASHFILE  replay one input
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-fuzz
mkdir -p "$out/corpus"
clang -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Ilib/policy \
	tests/fuzz/fuzz_l7_parse.c lib/policy/mg_http.c lib/policy/mg_tls.c \
	-o "$out/fuzz_l7_parse"
if [ $# -gt 0 ]; then
	exec "$out/fuzz_l7_parse" "$@"
fi
printf '\x07GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n' >"$out/corpus/get"
printf '\x05GET /a;b/c?d HTTP/1.1\r\nHost: A.b.:80\r\nUpgrade: websocket, h2c\r\n\r\n' \
	>"$out/corpus/normal"
printf '\x11POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n' \
	>"$out/corpus/chunked"
printf '\x03\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03%s\x00\x00\x02\x13\x01\x01\x00\x00\x00' \
	"$(head -c 32 /dev/zero | tr '\0' 'r')" >"$out/corpus/hello"
"$out/fuzz_l7_parse" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=4096 \
	-print_final_stats=1 "$out/corpus"
