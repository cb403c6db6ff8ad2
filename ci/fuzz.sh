#!/usr/bin/env bash
# Fuzz smoke run: each libFuzzer binary for SECONDS from its seed corpus
# (tests/fuzz/corpus/NAME, read only: new inputs go to a scratch copy).
# Prints "PASS fuzz_NAME: N runs" or "FAIL fuzz_NAME: ..." per target, then
# "fuzz: N passed, N failed"; exits 1 if any failed. A crashing input is
# kept under .output/fuzz/crash-NAME-* for a reproduction.
set -u
cd "$(dirname "$0")/.." || exit 1
secs=$1
shift
passed=0 failed=0
for bin in "$@"; do
	name=${bin##*/fuzz_}
	work=$(mktemp -d)
	log=.output/fuzz/$name.log
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix=".output/fuzz/crash-$name-" "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rm -rf "$work"
	if [ "$rc" -eq 0 ] && [ "${runs:-0}" -gt 0 ]; then
		echo "PASS fuzz_$name: ${runs} runs in ${secs}s"
		passed=$((passed + 1))
	else
		echo "FAIL fuzz_$name: exit $rc after ${runs:-0} runs; see $log"
		grep -m 3 -E 'ERROR|SUMMARY|Test unit written' "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
