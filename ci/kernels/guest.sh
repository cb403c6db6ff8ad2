#!/bin/bash
# Runs as PID 1 inside each guest of ci/kernels.sh (make check-kernels),
# from the job share, on the host's / (read-only, under a tmpfs overlay).
# Mounts what a booted system has, records `uname -r`, attaches pnm-tc to a
# veth and keeps `pnm-tc status`, runs the integration tests of the job,
# writes everything to the results share and powers off.
#
# job.env (written by ci/kernels.sh) sets PNMK_ROOT (the checkout) and
# PNMK_TESTS (the tests, space-separated); the job's bin/ holds the
# snapshot of pnm-tc and of the test helpers this run tests.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LC_ALL=C.UTF-8
J=/run/pnm-kernels/job
R=/run/pnm-kernels/results
PNMK_ROOT='' PNMK_TESTS=''
# shellcheck source=/dev/null
. "$J/job.env"

say() { printf 'pnm-kernels: %s\n' "$*"; }

setup() {
	mkdir -p /dev/pts /dev/shm
	mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
	ln -sf pts/ptmx /dev/ptmx
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	# Bash's process substitution and many tools want these.
	ln -sf /proc/self/fd /dev/fd
	ln -sf /proc/self/fd/0 /dev/stdin
	ln -sf /proc/self/fd/1 /dev/stdout
	ln -sf /proc/self/fd/2 /dev/stderr
	# /tmp stays the host's, under the overlay (writes go to its tmpfs):
	# the checkout under test may live there (a CI clone in /tmp).
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	mount -t bpf bpf /sys/fs/bpf
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	echo pnm-kernel >/proc/sys/kernel/hostname
	ip link set lo up
	# Under emulation every tshark start cost ~5 s more for asking each of
	# Wireshark's extcap helpers (sshdump, androiddump, ...) for its
	# interfaces; the tests capture on veths. Hidden in this guest only.
	for d in /usr/lib/*/wireshark/extcap; do
		[ -d "$d" ] && mount -t tmpfs -o ro,mode=0755 tmpfs "$d"
	done
}

# status_check: a plain attach on a veth made here, `pnm-tc status` (and
# -v) kept in the results, then detach. Writes status.result: "ok" or
# what failed.
status_check() {
	local pnm=$J/bin/pnm-tc rc
	ip link add name pnmk0 type veth peer name pnmk1 || {
		echo "cannot create a veth" >"$R/status.result"
		return 1
	}
	ip link set pnmk0 up
	ip link set pnmk1 up
	"$pnm" attach pnmk0 >"$R/attach.log" 2>&1
	rc=$?
	"$pnm" status >"$R/status.txt" 2>&1
	"$pnm" status -v >"$R/status-v.txt" 2>&1
	if [ "$rc" -ne 0 ]; then
		echo "pnm-tc attach failed (exit $rc): $(grep -v '^$' "$R/attach.log" | head -n 1)" >"$R/status.result"
		"$pnm" detach >/dev/null 2>&1
		ip link del pnmk0
		return 1
	fi
	"$pnm" detach >"$R/detach.log" 2>&1
	rc=$?
	ip link del pnmk0
	if [ "$rc" -ne 0 ]; then
		echo "pnm-tc detach failed (exit $rc): $(head -n 1 "$R/detach.log")" >"$R/status.result"
	elif [ -e /sys/fs/bpf/pnm-tc ]; then
		echo "/sys/fs/bpf/pnm-tc is still there after detach" >"$R/status.result"
	else
		echo ok >"$R/status.result"
	fi
}

work() {
	local rc tests
	read -ra tests <<<"$PNMK_TESTS"
	uname -r >"$R/uname.txt"
	say "uname -r: $(uname -r)"
	status_check
	say "pnm-tc attach + status: $(cat "$R/status.result")"
	sed 's/^/  /' "$R/status.txt"
	# The runner's watchdog and the tests' waits poll with `sleep 0.1`: under
	# emulation each /usr/bin/sleep cost ~40 ms of CPU, a third of the guest
	# taken from the tests. bash's loadable sleep (bash-builtins) does the
	# same without a fork and exec, in every bash the runner starts.
	# PNMT_TEST_TIMEOUT: everything is slower here; ci/kernels.sh's timeout
	# bounds the whole guest anyway.
	: >/run/pnm-kernels/bash_env
	[ -f /usr/lib/bash/sleep ] && echo 'enable -f /usr/lib/bash/sleep sleep' >/run/pnm-kernels/bash_env
	BASH_ENV=/run/pnm-kernels/bash_env \
		PNM_TC=$J/bin/pnm-tc PNMT_TRAFFIC=$J/bin/pnmt_traffic PNMT_TCX=$J/bin/pnmt_tcx \
		PNMT_TEST_TIMEOUT=${PNMT_TEST_TIMEOUT:-300} bash "$PNMK_ROOT/tests/integration/run.sh" "${tests[@]}" 2>&1 | tee "$R/tests.log"
	rc=${PIPESTATUS[0]}
	echo "$rc" >"$R/tests.rc"
	say "integration tests: exit $rc"
}

setup
# As PID 1 this shell inherits every orphan: waiting here reaps them (a
# zombie still answers kill -0, which the tests use to see a process end).
work &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
	wait "$pid"
done
echo finished >"$R/done"
sync
say "powering off"
echo o >/proc/sysrq-trigger
sleep 30
