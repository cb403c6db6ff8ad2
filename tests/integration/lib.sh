# shellcheck shell=bash
# Variables here are used by the scripts that source this file.
# shellcheck disable=SC2034
# Helpers for the pnm-tc network-namespace integration tests.
#
# Sourced by tests/integration/run.sh, ci/demo.sh and ci/bench.sh. Needs
# root, iproute2, ethtool, tshark, curl, nginx, iperf3, bpftool and python3.
# This file holds the settings, messages, cleanups and preflight checks and
# sources the rest: lib/topology.sh (netns, nginx, traffic processes),
# lib/capture.sh (captures, the ground truth) and lib/pnm.sh (pnm-tc
# wrappers, JSON, assertions, state snapshots).
#
# Topology (see topo_up):
#   root netns:  pnmt0  10.231.0.1/24  fd00:231::1/64
#   peer netns:  pnmt-peer-$$  holding  pnmt1  10.231.0.2/24  fd00:231::2/64
#
# Every helper that starts something registers its undo with at_cleanup; a
# test (or the demo) runs run_cleanups from an EXIT trap, so everything is
# torn down in reverse order even when a test fails half-way.

PNMT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PNMT_ROOT=$(cd "$PNMT_LIB_DIR/../.." && pwd)

# The binary under test; override with PNM_TC=/path/to/pnm-tc.
PNM_TC=${PNM_TC:-$PNMT_ROOT/pnm-tc}
# Traffic with known owners (tests/helpers/pnmt_traffic.c, built by make).
PNMT_TRAFFIC=${PNMT_TRAFFIC:-$PNMT_ROOT/.output/tests/pnmt_traffic}
# Programs on tcx hooks, listed and added (tests/helpers/pnmt_tcx.c).
PNMT_TCX=${PNMT_TCX:-$PNMT_ROOT/.output/tests/pnmt_tcx}

PNMT_IF0=pnmt0
PNMT_IF1=pnmt1
PNMT_NS=pnmt-peer-$$
PNMT_IP0=10.231.0.1
PNMT_IP1=10.231.0.2
PNMT_IP6_0=fd00:231::1
PNMT_IP6_1=fd00:231::2
# Ports chosen per run so a leftover from another run cannot answer for us.
PNMT_HTTP_PORT=$((20000 + $$ % 10000))
PNMT_IPERF_PORT=$((30000 + $$ % 10000))
# Tolerance for byte comparisons, percent.
PNMT_TOL=${PNMT_TOL:-0.5}
PNMT_PY=${PNMT_PY:-$(command -v python3 || echo /usr/bin/python3)}

# Scratch directory of the current run (run.sh / demo set it; fallback here).
PNMT_TMP=${PNMT_TMP:-}

# ---------------------------------------------------------------- messages ---

# info MSG...: a detail line, shown under the test's PASS/FAIL line.
info() { printf '%s\n' "$*" >&2; }

# fail MSG...: end the current test (a subshell) with a reason; the EXIT trap
# runs the cleanups.
fail() {
	if [ -n "${PNMT_REASON_FILE:-}" ]; then
		printf '%s\n' "$*" >"$PNMT_REASON_FILE"
	fi
	info "FAIL: $*"
	exit 1
}

# skip MSG...: the test does not apply on this kernel (a feature it needs is
# off): it ends as SKIP with the reason, neither passed nor failed.
PNMT_SKIP_RC=77
skip() {
	if [ -n "${PNMT_REASON_FILE:-}" ]; then
		printf '%s\n' "$*" >"$PNMT_REASON_FILE"
	fi
	info "SKIP: $*"
	exit "$PNMT_SKIP_RC"
}

# soft_fail MSG...: record a failure but go on, so that later checks of the
# same test still report their numbers. check_soft_failures ends the test.
PNMT_SOFT_FAILS=()
soft_fail() {
	PNMT_SOFT_FAILS+=("$*")
	info "FAIL: $*"
}
check_soft_failures() {
	local n=${#PNMT_SOFT_FAILS[@]}
	[ "$n" -eq 0 ] && return 0
	local msg=${PNMT_SOFT_FAILS[0]}
	[ "$n" -gt 1 ] && msg="$msg (+$((n - 1)) more)"
	fail "$msg"
}

# -------------------------------------------------------------- cleanups ---

PNMT_CLEANUPS=()

# at_cleanup CMD: eval CMD at cleanup time (reverse order of registration).
at_cleanup() { PNMT_CLEANUPS+=("$1"); }

run_cleanups() {
	local i
	for ((i = ${#PNMT_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${PNMT_CLEANUPS[$i]}" >/dev/null 2>&1 || true
	done
	PNMT_CLEANUPS=()
}

# kill_wait PID [SIG]: signal PID (one we started) and wait until it is gone,
# escalating to SIGKILL after ~5 s.
kill_wait() {
	local pid=$1 sig=${2:-TERM} i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -"$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	sleep 0.1
	return 0
}

mktemp_dir() {
	local d
	d=$(mktemp -d "${PNMT_TMP:-/tmp}/pnmt.XXXXXX") || fail "mktemp failed"
	chmod 755 "$d"
	printf '%s\n' "$d"
}

# peer_site [URL]: the topology, a scratch directory (TEST_DIR) and nginx
# in the peer netns serving the 8 MiB file, answering at URL (default: over
# IPv4), which PEER_URL then holds.
PEER_URL=
peer_site() {
	PEER_URL=${1:-http://$PNMT_IP1:$PNMT_HTTP_PORT/file}
	topo_up
	new_dir
	peer_nginx "$TEST_DIR"
	wait_http "$PEER_URL"
}

# new_dir: a scratch directory for this test in TEST_DIR, removed at the end.
TEST_DIR=
new_dir() {
	TEST_DIR=$(mktemp_dir) || fail "cannot make a temp dir"
	at_cleanup "rm -rf '$TEST_DIR'"
}

# ------------------------------------------------------------- preflight ---

require_root() {
	[ "$(id -u)" -eq 0 ] || { echo "integration tests need root" >&2; return 1; }
}

require_tools() {
	local t missing=()
	for t in ip ethtool tshark curl nginx iperf3 bpftool tc setpriv ss pgrep flock tmux "$PNMT_PY" \
		"$PNMT_TRAFFIC"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "missing tools: ${missing[*]}" >&2
		return 1
	fi
}

# take_lock: the interface names are fixed, so only one user of this
# library (test run or demo) at a time. Holds fd 9 until the process exits;
# long-lived children are started with fd 9 closed, so that a leftover of a
# killed run cannot keep the lock.
take_lock() {
	exec 9>/run/pnmt-integration.lock
	flock -n 9 || {
		echo "another pnm-tc test run or demo holds /run/pnmt-integration.lock" >&2
		return 1
	}
}

# shellcheck source=lib/topology.sh source-path=SCRIPTDIR
. "$PNMT_LIB_DIR/lib/topology.sh"
# shellcheck source=lib/capture.sh source-path=SCRIPTDIR
. "$PNMT_LIB_DIR/lib/capture.sh"
# shellcheck source=lib/pnm.sh source-path=SCRIPTDIR
. "$PNMT_LIB_DIR/lib/pnm.sh"
