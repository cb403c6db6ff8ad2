#!/usr/bin/env bash
# make check: the unit tests (cmocka, ASan/UBSan) given as arguments, the
# fuzz targets after "--" (a smoke run of FUZZ_SECONDS each), then the netns
# integration tests (then a subset with each socket reader); ends with one
# line "N passed, N failed, N skipped".
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

# integration LOG [VAR=VALUE...] -- [TESTS...]: one run of the runner (with
# those variables), its counts added.
skipped=0
integration() {
	local log=$1 line
	shift
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	env "${envs[@]}" bash tests/integration/run.sh "$@" 2>&1 | tee "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "integration: the runner printed no summary" >&2
		failed=$((failed + 1))
		return
	fi
	read -r p _ f _ s _ <<<"${line//,/}"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

# The attribution tests that each socket reader runs too: the best reader
# the kernel loads runs everything; these make the others run where they
# load (a reader the kernel refuses gives SKIP), so that the fallbacks are
# tested on every machine and not only where they are needed.
READER_TESTS=(test_tcp_client_download test_udp_iperf3 test_preexisting_sockets
	test_container_netns test_details test_detach_slot_reuse test_shared_sockets
	test_tcp_accept_adopt test_short_connections)

if [ "$(id -u)" -ne 0 ]; then
	echo "integration tests need root (network namespaces, BPF)" >&2
	failed=$((failed + 1))
else
	integration .output/integration.log --
	for rs in storage:files sockets:sockets files:files; do
		echo "== the attribution tests with PNM_READER=${rs%%:*} PNM_SEEDER=${rs#*:}"
		integration ".output/integration-${rs%%:*}.log" PNM_READER="${rs%%:*}" \
			PNM_SEEDER="${rs#*:}" -- "${READER_TESTS[@]}"
	done
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
