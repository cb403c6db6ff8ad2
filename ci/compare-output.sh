#!/usr/bin/env bash
# ci/compare-output.sh OLD NEW: are two pnm-tc builds' outputs byte for
# byte the same on the same state? For a refactor: build the commit before
# it (git worktree add /tmp/old COMMIT && make -C /tmp/old), then
#   sudo bash ci/compare-output.sh /tmp/old/pnm-tc ./pnm-tc
# It makes a veth pair into a namespace of its own, attaches both ends
# with NEW, runs HTTP, ping and UDP traffic through them, waits until every
# generator has exited (so that nothing changes any more), then compares
# show, show --json, show -d, show --by, status and status --json of both
# builds, and the kinds of line of events (numbers masked) of the same
# workload seen by each. Prints one line per comparison and "N passed, N
# failed"; removes all it made. Holds the integration tests' lock.
set -u
old=${1:?usage: compare-output.sh OLD NEW} new=${2:?usage: compare-output.sh OLD NEW}
ns=pnmcmp if0=pnmcmp0 if1=pnmcmp1 ip0=10.231.7.1 ip1=10.231.7.2 port=8931
dir=$(mktemp -d /tmp/pnmcmp.XXXXXX)
passed=0 failed=0

exec 9>/run/pnmt-integration.lock
flock -w 1800 9 || { echo "compare-output: the test lock is held" >&2; exit 1; }
if [ -e /sys/fs/bpf/pnm-tc ]; then
	echo "compare-output: pnm-tc is attached already; detach first" >&2
	exit 1
fi

cleanup() {
	"$new" detach >/dev/null 2>&1
	ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
	ip link del "$if0" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add "$if0" type veth peer name "$if1" netns "$ns"
# No IPv6: its neighbour and multicast messages would come at any time.
sysctl -q -w "net.ipv6.conf.$if0.disable_ipv6=1"
ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$if1.disable_ipv6=1"
ip addr add "$ip0/24" dev "$if0"
ip link set "$if0" up
ip -n "$ns" addr add "$ip1/24" dev "$if1"
ip -n "$ns" link set "$if1" up
ip -n "$ns" link set lo up
"$new" attach "$if0" >/dev/null && "$new" attach --netns "$ns" "$if1" >/dev/null || exit 1

# The HTTP server in the namespace (SRV its PID), ready.
server_start() {
	(cd "$dir" && exec ip netns exec "$ns" python3 -m http.server "$port" --bind "$ip1") \
		>/dev/null 2>&1 &
	SRV=$!
	for _ in $(seq 50); do
		ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	echo "compare-output: the HTTP server did not start" >&2
	exit 1
}
server_stop() {
	kill "$SRV"
	wait "$SRV" 2>/dev/null
}
# traffic: HTTP fetches, pings and UDP datagrams, from processes that end.
traffic() {
	for _ in 1 2 3; do curl -s -o /dev/null "http://$ip1:$port/file"; done
	ping -c 3 -i 0.2 -q "$ip1" >/dev/null
	python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(5): s.sendto(b"x" * 1000, ("'"$ip1"'", 9))'
}
head -c 300000 /dev/urandom >"$dir/file"
server_start
traffic
server_stop
sleep 1

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

compare show show
compare "show --json" show --json
compare "show -d" show -d
compare "show --json -d" show --json -d
compare "show -a --sort name" show -a --sort name
compare "show --by remote" show --by remote
compare "show --by proto" show --by proto
compare "show -i NS/IF" show -i "$ns/$if1"
compare "show --top 1 -j" show --top 1 -j
compare status status
compare "status --json" status --json

# events: the same workload under each build. Times, PIDs, ports, byte
# counts and how receives split vary from run to run: what is compared is
# every kind of line, with the numbers masked.
mask='s/[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]*/TIME/g; s/[0-9][0-9.]*/N/g'
server_start
for b in old new; do
	bin=$old
	[ "$b" = new ] && bin=$new
	"$bin" events -t 3s >"$dir/ev.$b" 2>&1 &
	evpid=$!
	sleep 1
	traffic
	wait "$evpid"
	# Only the workload's processes: kernel threads come and go.
	grep -E '^[^ ]+ +[A-Z]+ +[0-9]+ +(curl|ping|python3) |^[^0-9]' "$dir/ev.$b" |
		sed "$mask" | sort -u >"$dir/ev.$b.kinds"
done
server_stop
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
