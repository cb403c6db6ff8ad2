#!/usr/bin/env bash
# ci/compare-output.sh OLD NEW: are two pnm-tc builds' outputs byte for
# byte the same on the same state? For a refactor: build the commit before
# it (git worktree add /tmp/old COMMIT && make -C /tmp/old), then
#   sudo bash ci/compare-output.sh /tmp/old/pnm-tc ./pnm-tc
# On the integration tests' veth pair (tests/integration/lib.sh, IPv6
# off), it attaches both ends with NEW, runs HTTP, ping and UDP traffic
# through them, waits until every generator has exited (so that nothing
# changes any more), then compares show, show --json, show -d, show --by,
# status and status --json of both builds, and the kinds of line of events
# (numbers masked) of the same workload seen by each. Prints one line per
# comparison and "N passed, N failed"; removes all it made. Holds the
# integration tests' lock.
set -u
[ $# -eq 2 ] || { echo "usage: compare-output.sh OLD NEW" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2") || exit 2
PNM_TC=$new
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=../tests/integration/lib.sh source-path=SCRIPTDIR
. tests/integration/lib.sh
# A helper's failure ends the script (no test runner here).
PNMT_REASON_FILE=
passed=0 failed=0

# traffic: HTTP fetches, pings and UDP datagrams, from processes that end.
traffic() {
	for _ in 1 2 3; do curl -s -o /dev/null "http://$PNMT_IP1:$PNMT_HTTP_PORT/file"; done
	ping -c 3 -i 0.2 -q "$PNMT_IP1" >/dev/null
	python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(5): s.sendto(b"x" * 1000, ("'"$PNMT_IP1"'", 9))'
}

compare() {
	local name=$1
	shift
	"$old" "$@" >"$dir/old" 2>&1
	echo "exit $?" >>"$dir/old"
	"$new" "$@" >"$dir/new" 2>&1
	echo "exit $?" >>"$dir/new"
	# What moves between the two runs: show --json's timestamp, and the
	# fork records (status's pnm_parent), of which each run adds its own.
	sed -i -e 's/"timestamp":"[^"]*"/"timestamp":T/' \
		-e '/pnm_parent/s/[0-9][0-9]* \/ /N \/ /' "$dir/old" "$dir/new"
	if cmp -s "$dir/old" "$dir/new"; then
		echo "PASS $name ($(wc -c <"$dir/new") B)"
		passed=$((passed + 1))
	else
		echo "FAIL $name:"
		diff "$dir/old" "$dir/new" | head -10 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
}


main() {
	local dir b bin evpid mask
	require_root || exit 1
	take_lock || exit 1
	if [ -e /sys/fs/bpf/pnm-tc ]; then
		echo "compare-output: pnm-tc is attached already; detach first" >&2
		exit 1
	fi
	topo_up
	# No IPv6: its neighbour and multicast messages would come at any time.
	sysctl -q -w "net.ipv6.conf.$PNMT_IF0.disable_ipv6=1"
	nsx sysctl -q -w "net.ipv6.conf.$PNMT_IF1.disable_ipv6=1"
	new_dir
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	pnm_attach --netns "$PNMT_NS" "$PNMT_IF1"
	nginx_conf "$dir" 1 "$PNMT_IP1:$PNMT_HTTP_PORT"
	make_payload "$dir/www/file" 1
	nginx_start "$dir" peer
	wait_http "http://$PNMT_IP1:$PNMT_HTTP_PORT/file"
	traffic
	nginx_stop "$NGINX_PID"
	sleep 1

	compare show show
	compare "show --json" show --json
	compare "show -d" show -d
	compare "show --json -d" show --json -d
	compare "show -a --sort name" show -a --sort name
	compare "show --by remote" show --by remote
	compare "show --by proto" show --by proto
	compare "show -i NS/IF" show -i "$PNMT_NS/$PNMT_IF1"
	compare "show --top 1 -j" show --top 1 -j
	compare status status
	compare "status --json" status --json

	# events: the same workload under each build. Times, PIDs, ports, byte
	# counts and how receives split vary from run to run: what is compared is
	# every kind of line, with the numbers masked.
	mask='s/[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]*/TIME/g; s/[0-9][0-9.]*/N/g'
	nginx_start "$dir" peer
	wait_http "http://$PNMT_IP1:$PNMT_HTTP_PORT/file"
	for b in old new; do
		bin=$old
		[ "$b" = new ] && bin=$new
		"$bin" events -t 3s >"$dir/ev.$b" 2>&1 &
		evpid=$!
		sleep 1
		traffic
		wait "$evpid"
		# Only the workload's processes: kernel threads come and go.
		grep -E '^[^ ]+ +[A-Z]+ +[0-9]+ +(curl|ping|python3|nginx) |^[^0-9]' "$dir/ev.$b" |
			sed "$mask" | sort -u >"$dir/ev.$b.kinds"
	done
	nginx_stop "$NGINX_PID"
	if cmp -s "$dir/ev.old.kinds" "$dir/ev.new.kinds"; then
		echo "PASS events, masked ($(wc -l <"$dir/ev.new.kinds") kinds of line)"
		passed=$((passed + 1))
	else
		echo "FAIL events, masked:"
		diff "$dir/ev.old.kinds" "$dir/ev.new.kinds" | head -10 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

trap run_cleanups EXIT
trap 'exit 130' INT TERM
main "$@"
