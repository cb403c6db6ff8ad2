#!/bin/bash
# pnm-tc network-namespace integration tests.
#
#   sudo tests/integration/run.sh              # all tests
#   sudo tests/integration/run.sh test_ipv6 …  # only these
#   PNM_TC=/path/to/pnm-tc tests/integration/run.sh
#
# Each test builds its own veth/netns topology (see lib.sh), runs in a
# subshell and always tears everything down from an EXIT trap. Prints
# "PASS name", "FAIL name: reason" or "SKIP name: reason" (a feature it
# needs is off on this kernel) per test with the measured numbers indented
# below, then "N passed, N failed, N skipped"; exits 1 if any failed, 2 on
# an unknown test name.
#
# The tests live in areas/*.sh, one file per area, run in the order of
# their names and, within a file, in the order they are defined: every
# function whose line starts with "test_NAME() {" is a test; anything else
# there is a helper of that area (helpers of several areas: lib/*.sh).
# Writing a test:
#   - set up with topo_up / peer_site / new_dir and the other helpers; each
#     registers its undo with at_cleanup, which runs when the test ends,
#     however it ends, so a test does no cleanup of its own;
#   - measure the ground truth (a capture, the program's own count) and
#     compare pnm-tc's numbers with it (assert_eq, assert_within, ...);
#   - fail REASON ends the test as FAIL at once; soft_fail REASON records a
#     failure and goes on, so later checks still print their numbers, and
#     check_soft_failures at the end fails the test if any was recorded;
#   - skip REASON ends it as SKIP (counted apart) when it does not apply
#     here, e.g. a kernel feature it needs is missing; never PASS silently;
#   - info MSG prints a detail line under the result;
#   - one that needs longer than the timeout goes in PNMT_SLOW_TESTS below.
#
# Environment: PNM_TC (binary), PNMT_TOL (percent, default 0.5),
# PNMT_TEST_TIMEOUT (seconds per test, default 120), PNMT_VERBOSE=0 to hide
# the detail lines of passing tests.
set -u

PNMT_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$PNMT_TESTS_DIR/lib.sh"

# PNMT_TESTS: every test_*() of areas/*.sh, in run order (the files by
# name, the tests of each as defined); each file sourced.
PNMT_TESTS=()
add_tests() {
	local t
	while read -r t; do
		if [[ " ${PNMT_TESTS[*]} " == *" $t "* ]]; then
			echo "test $t is defined twice (the second time in $1)" >&2
			exit 2
		fi
		PNMT_TESTS+=("$t")
	done < <(sed -n 's/^\(test_[a-z0-9_]*\)() {.*/\1/p' "$1")
}
for pnmt_area in "$PNMT_TESTS_DIR"/areas/*.sh; do
	# shellcheck source=/dev/null
	. "$pnmt_area"
	add_tests "$pnmt_area"
done

# ----------------------------------------------------------------- runner ---

# Tests that need longer than PNMT_TEST_TIMEOUT: 500 attach/detach cycles
# took 105 to 140 s on a 2-vCPU VM (each tcx attach and detach waits for an
# RCU grace period), and 180 to 260 s with the default map sizes on one
# with page-table isolation on; 10000 processes of 10 sockets each took up
# to 143 s there.
declare -A PNMT_SLOW_TESTS=([test_fault_cycles]=400 [test_map_pressure]=300 [test_optional_off]=400)

# run_one NAME: the test in a subshell with its own cleanups and a timeout.
run_one() {
	local name=$1 log=$PNMT_TMP/$1.log reason=$PNMT_TMP/$1.reason rc watchdog pid
	local secs=${PNMT_TEST_TIMEOUT:-120}
	[ "${PNMT_SLOW_TESTS[$name]:-0}" -gt "$secs" ] && secs=${PNMT_SLOW_TESTS[$name]}
	local t0=$SECONDS
	: >"$reason"
	(
		PNMT_REASON_FILE=$reason
		trap 'run_cleanups' EXIT
		trap '[ -s "$PNMT_REASON_FILE" ] || echo interrupted >"$PNMT_REASON_FILE"; exit 1' INT TERM
		"$name"
	) >"$log" 2>&1 9>&- &
	pid=$!
	PNMT_CURRENT_PID=$pid
	(
		limit=$((secs * 10))
		for ((i = 0; i < limit; i++)); do
			kill -0 "$pid" 2>/dev/null || exit 0
			sleep 0.1
		done
		echo "timed out after ${secs}s" >"$reason"
		kill -TERM "$pid" 2>/dev/null
	) >/dev/null 2>&1 &
	watchdog=$!
	wait "$pid"
	rc=$?
	PNMT_CURRENT_PID=
	wait "$watchdog" 2>/dev/null
	if [ "$rc" -eq 0 ]; then
		echo "PASS $name ($((SECONDS - t0)) s)"
		[ "${PNMT_VERBOSE:-1}" = 0 ] || sed 's/^/    /' "$log"
		return 0
	fi
	if [ "$rc" -eq "$PNMT_SKIP_RC" ]; then
		echo "SKIP $name ($((SECONDS - t0)) s): $(head -1 "$reason")"
		return 2
	fi
	[ -s "$reason" ] || echo "exited $rc" >"$reason"
	echo "FAIL $name ($((SECONDS - t0)) s): $(head -1 "$reason")"
	sed 's/^/    /' "$log"
	return 1
}

# Ctrl-C / TERM: stop the running test (its EXIT trap cleans up), then quit.
PNMT_CURRENT_PID='' PNMT_CURRENT_TEST=''
PNMT_PASSED=0 PNMT_FAILED=0 PNMT_SKIPPED=0
summary() { echo "$PNMT_PASSED passed, $PNMT_FAILED failed, $PNMT_SKIPPED skipped"; }
on_interrupt() {
	if [ -n "$PNMT_CURRENT_PID" ]; then
		kill -TERM "$PNMT_CURRENT_PID" 2>/dev/null
		wait "$PNMT_CURRENT_PID" 2>/dev/null
		echo "FAIL $PNMT_CURRENT_TEST: interrupted"
		PNMT_FAILED=$((PNMT_FAILED + 1))
	fi
	summary
	exit 130
}

main() {
	local t tests=() known
	require_root || exit 1
	require_tools || exit 1
	if [ ! -x "$PNM_TC" ]; then
		echo "pnm-tc binary not found at $PNM_TC (build with make, or set PNM_TC)" >&2
		exit 1
	fi
	if [ $# -gt 0 ]; then
		for t in "$@"; do
			known=0
			for k in "${PNMT_TESTS[@]}"; do [ "$k" = "$t" ] && known=1; done
			[ "$known" -eq 1 ] || { echo "unknown test: $t (known: ${PNMT_TESTS[*]})" >&2; exit 2; }
			tests+=("$t")
		done
	else
		tests=("${PNMT_TESTS[@]}")
	fi
	take_lock || exit 1
	PNMT_TMP=$(mktemp -d /tmp/pnmt-run.XXXXXX)
	chmod 755 "$PNMT_TMP"
	trap 'rm -rf "$PNMT_TMP"' EXIT
	trap on_interrupt INT TERM
	# The tests compare whole-state snapshots and fresh counters: someone
	# else's attachment would both spoil them and be spoilt by them.
	if [ -e /sys/fs/bpf/pnm-tc ] && [ "${PNMT_FORCE:-0}" != 1 ]; then
		echo "pnm-tc is already attached somewhere (/sys/fs/bpf/pnm-tc exists):" \
			"the integration tests need a clean state; run 'pnm-tc detach' first" \
			"(PNMT_FORCE=1 runs anyway)" >&2
		"$PNM_TC" status >&2 2>&1
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	for t in "${tests[@]}"; do
		PNMT_CURRENT_TEST=$t
		run_one "$t"
		case $? in
		0) PNMT_PASSED=$((PNMT_PASSED + 1)) ;;
		2) PNMT_SKIPPED=$((PNMT_SKIPPED + 1)) ;;
		*) PNMT_FAILED=$((PNMT_FAILED + 1)) ;;
		esac
	done
	summary
	[ "$PNMT_FAILED" -eq 0 ]
}

main "$@"
