#!/usr/bin/env bash
# make check: the unit tests (cmocka, ASan/UBSan) given as arguments, the
# fuzz targets after "--" (a smoke run of FUZZ_SECONDS each), then the netns
# integration tests; ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1

units=() fuzzers=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	units+=("$1")
	shift
done
[ $# -gt 0 ] && shift
fuzzers=("$@")

passed=0 failed=0
for t in "${units[@]}"; do
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out")
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	# A crash (sanitizer abort) counts as a failure even without a summary.
	if [ "$rc" -ne 0 ] && [ -z "$f" ]; then failed=$((failed + 1)); fi
done
echo "unit: $passed passed, $failed failed"

if [ ${#fuzzers[@]} -gt 0 ]; then
	out=$(bash ci/fuzz.sh "${FUZZ_SECONDS:-20}" "${fuzzers[@]}")
	printf '%s\n' "$out"
	line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -n 1)
	if [ -z "$line" ]; then
		failed=$((failed + 1))
	else
		line=${line#fuzz: }
		passed=$((passed + ${line%% passed*}))
		f=${line#*passed, }
		failed=$((failed + ${f%% failed*}))
	fi
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "integration tests need root (network namespaces, BPF)" >&2
	failed=$((failed + 1))
else
	bash tests/integration/run.sh 2>&1 | tee .output/integration.log
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' .output/integration.log | tail -n 1)
	if [ -z "$line" ]; then
		echo "integration: the runner printed no summary" >&2
		failed=$((failed + 1))
	else
		passed=$((passed + ${line%% passed*}))
		f=${line#*passed, }
		failed=$((failed + ${f%% failed*}))
	fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
