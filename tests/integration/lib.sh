# shellcheck shell=bash
# Variables here are used by the scripts that source this file.
# shellcheck disable=SC2034
# Helpers for the pnm-tc network-namespace integration tests.
#
# Sourced by tests/integration/run.sh and ci/demo.sh. Needs root, iproute2,
# ethtool, tshark, curl, nginx, iperf3, bpftool and python3.
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

# ------------------------------------------------------------- topology ---

# topo_up: build the veth pair and the peer namespace, offloads off.
topo_up() {
	# A pnmt0 left by a crashed earlier run (run.sh holds a lock, so it is not
	# a concurrent one) would make "ip link add" fail: remove it.
	if ip link show dev "$PNMT_IF0" >/dev/null 2>&1; then
		info "warning: removing stale $PNMT_IF0"
		ip link del dev "$PNMT_IF0" 2>/dev/null
	fi
	# Likewise a peer namespace of a run that was killed (its PID is gone).
	local ns p
	for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^pnmt-peer-[0-9]+$/ { print $1 }'); do
		kill -0 "${ns##*-}" 2>/dev/null && continue
		info "warning: removing stale netns $ns"
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	ip netns add "$PNMT_NS" || fail "ip netns add $PNMT_NS failed"
	at_cleanup topo_down
	ip link add "$PNMT_IF0" type veth peer name "$PNMT_IF1" netns "$PNMT_NS" ||
		fail "ip link add veth failed"
	ip addr add "$PNMT_IP0/24" dev "$PNMT_IF0" || fail "addr add failed"
	ip -6 addr add "$PNMT_IP6_0/64" dev "$PNMT_IF0" nodad || fail "addr6 add failed"
	ip link set "$PNMT_IF0" up || fail "link up failed"
	nsx ip link set lo up
	nsx ip addr add "$PNMT_IP1/24" dev "$PNMT_IF1" || fail "peer addr add failed"
	nsx ip -6 addr add "$PNMT_IP6_1/64" dev "$PNMT_IF1" nodad || fail "peer addr6 add failed"
	nsx ip link set "$PNMT_IF1" up || fail "peer link up failed"
	offloads off
	# Wait for carrier on both ends and for the v6 addresses to be usable.
	local i
	for ((i = 0; i < 50; i++)); do
		if [ "$(cat "/sys/class/net/$PNMT_IF0/operstate" 2>/dev/null)" = up ] &&
			! ip -6 addr show dev "$PNMT_IF0" | grep -q tentative &&
			! nsx ip -6 addr show dev "$PNMT_IF1" | grep -q tentative; then
			break
		fi
		sleep 0.1
	done
	if have_ping; then
		ping -c1 -W2 "$PNMT_IP1" >/dev/null 2>&1 || fail "peer $PNMT_IP1 not reachable"
	fi
}

# ping (iputils-ping) is optional: without it the ICMP part of the mixed
# traffic is left out.
have_ping() { command -v ping >/dev/null 2>&1; }

# topo_down: stop whatever still runs in the peer namespace (all of it was
# started by this test), delete the namespace and the veth.
topo_down() {
	local pids p
	if ip netns list 2>/dev/null | grep -qw -- "$PNMT_NS"; then
		pids=$(ip netns pids "$PNMT_NS" 2>/dev/null)
		for p in $pids; do kill -TERM "$p" 2>/dev/null; done
		for p in $pids; do kill_wait "$p"; done
		ip netns del "$PNMT_NS" 2>/dev/null
	fi
	ip link del dev "$PNMT_IF0" 2>/dev/null
	return 0
}

# nsx CMD...: run CMD in the peer namespace.
nsx() { ip netns exec "$PNMT_NS" "$@"; }

# offloads on|off: TSO/GSO/GRO and checksum offloads on both veth ends.
offloads() {
	local st=$1
	ethtool -K "$PNMT_IF0" tx "$st" rx "$st" sg "$st" tso "$st" gso "$st" gro "$st" >/dev/null 2>&1 ||
		ethtool -K "$PNMT_IF0" tso "$st" gso "$st" gro "$st" >/dev/null 2>&1 ||
		fail "ethtool -K $PNMT_IF0 ... $st failed"
	nsx ethtool -K "$PNMT_IF1" tx "$st" rx "$st" sg "$st" tso "$st" gso "$st" gro "$st" >/dev/null 2>&1 ||
		nsx ethtool -K "$PNMT_IF1" tso "$st" gso "$st" gro "$st" >/dev/null 2>&1 ||
		fail "ethtool -K $PNMT_IF1 ... $st failed"
	# Verify the ones that matter. With an XDP program on pnmt0 the kernel
	# keeps its veth peer from sending super-packets (segmentation off).
	local f v xdp=0
	ip -d link show dev "$PNMT_IF0" | grep -q 'prog/xdp' && xdp=1
	for f in tcp-segmentation-offload generic-segmentation-offload generic-receive-offload; do
		v=$(ethtool -k "$PNMT_IF0" | awk -v f="$f:" '$1 == f { print $2 }')
		[ "$v" = "$st" ] || fail "$PNMT_IF0 $f is '$v', wanted $st"
		v=$(nsx ethtool -k "$PNMT_IF1" | awk -v f="$f:" '$1 == f { print $2 }')
		if [ "$xdp" = 1 ] && [ "$st" = on ] && [ "$v" = off ] && [ "$f" != generic-receive-offload ]; then
			info "note: XDP on $PNMT_IF0, so $PNMT_IF1 $f stays off (a kernel rule)"
			continue
		fi
		[ "$v" = "$st" ] || fail "$PNMT_IF1 $f is '$v', wanted $st"
	done
}

if_mac() { cat "/sys/class/net/$1/address"; }

# ------------------------------------------------------------- payloads ---

# make_payload FILE [MiB]: random file (default 8 MiB).
make_payload() {
	head -c "$((${2:-8} * 1024 * 1024))" /dev/urandom >"$1" || fail "cannot write $1"
}

# --------------------------------------------------------------- nginx ---

# nginx_conf DIR WORKERS LISTEN...: write DIR/nginx.conf serving DIR/www.
nginx_conf() {
	local dir=$1 workers=$2 l
	shift 2
	mkdir -p "$dir/www" "$dir/tmp" "$dir/logs"
	{
		echo "user root;"
		echo "worker_processes $workers;"
		echo "master_process on;"
		echo "pid $dir/nginx.pid;"
		echo "error_log $dir/logs/error.log warn;"
		echo "events { worker_connections 64; accept_mutex off; }"
		echo "http {"
		echo "  access_log $dir/logs/access.log;"
		echo "  sendfile on;"
		echo "  keepalive_timeout 5;"
		echo "  default_type application/octet-stream;"
		echo "  client_body_temp_path $dir/tmp/body;"
		echo "  proxy_temp_path $dir/tmp/proxy;"
		echo "  fastcgi_temp_path $dir/tmp/fastcgi;"
		echo "  uwsgi_temp_path $dir/tmp/uwsgi;"
		echo "  scgi_temp_path $dir/tmp/scgi;"
		echo "  server {"
		for l in "$@"; do echo "    listen $l;"; done
		echo "    root $dir/www;"
		echo "  }"
		echo "}"
	} >"$dir/nginx.conf"
}

# nginx_start DIR [root|peer] [daemon|fg]: start nginx with DIR/nginx.conf
# in the root or the peer netns; sets NGINX_PID to the master's PID.
# "daemon" (default) lets nginx fork away from the process that opened the
# listening sockets; "fg" (daemon off, run in the background here) keeps the
# master the listeners' creator, so their owner is a live process.
NGINX_PID=
nginx_start() {
	local dir=$1 where=${2:-root} mode=${3:-daemon} i out
	local pre=()
	[ "$where" = peer ] && pre=(ip netns exec "$PNMT_NS")
	rm -f "$dir/nginx.pid"
	if [ "$mode" = fg ]; then
		"${pre[@]}" nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/logs/error.log" \
			-g 'daemon off;' >>"$dir/logs/stderr.log" 2>&1 9>&- &
		at_cleanup "kill_wait $! QUIT"
	else
		out=$("${pre[@]}" nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/logs/error.log" \
			-g 'daemon on;' 2>&1 9>&-) ||
			fail "nginx failed to start: $out $(tail -3 "$dir/logs/error.log" 2>/dev/null)"
	fi
	for ((i = 0; i < 50; i++)); do
		[ -s "$dir/nginx.pid" ] && break
		sleep 0.1
	done
	NGINX_PID=$(cat "$dir/nginx.pid" 2>/dev/null)
	[ -n "$NGINX_PID" ] ||
		fail "nginx wrote no pid file: $(tail -3 "$dir/logs/error.log" "$dir/logs/stderr.log" 2>/dev/null | tr '\n' ' ')"
	at_cleanup "nginx_stop $NGINX_PID"
}

# nginx_stop MASTER_PID: graceful stop (workers exit with the master).
nginx_stop() {
	local m=$1 w
	w=$(pgrep -P "$m" 2>/dev/null)
	kill_wait "$m" QUIT
	for m in $w; do kill_wait "$m"; done
}

# nginx_workers MASTER_PID: the worker PIDs, one per line.
nginx_workers() { pgrep -P "$1"; }

# wait_http URL [peer]: wait until URL answers (the check's own traffic is
# made before any capture starts).
wait_http() {
	local url=$1 where=${2:-root} i
	for ((i = 0; i < 50; i++)); do
		if [ "$where" = peer ]; then
			nsx curl -s -g -o /dev/null --max-time 2 -r 0-0 "$url" && return 0
		else
			curl -s -g -o /dev/null --max-time 2 -r 0-0 "$url" && return 0
		fi
		sleep 0.1
	done
	fail "$url does not answer"
}

# wait_listen PORT [peer] [tcp|udp]: wait (without traffic) for a listener.
wait_listen() {
	local port=$1 where=${2:-root} proto=${3:-tcp} i pre=()
	[ "$where" = peer ] && pre=(ip netns exec "$PNMT_NS")
	for ((i = 0; i < 50; i++)); do
		if [ "$proto" = tcp ]; then
			"${pre[@]}" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
		else
			"${pre[@]}" ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && return 0
		fi
		sleep 0.1
	done
	fail "nothing listens on $proto port $port ($where netns)"
}

# wait_ready FILE WHAT: wait for a helper to print "ready" into FILE.
wait_ready() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q ready "$1" && return 0
		sleep 0.1
	done
	fail "$2 did not get ready"
}

# wait_file FILE WHAT: wait (5 s at most) for FILE to exist.
wait_file() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	fail "$2 did not happen"
}

# --------------------------------------------------------------- capture ---

# capture_start FILE [FILTER]: tshark on pnmt0 (root netns) writing FILE.
# Sets CAP_PID; waits until tshark really captures.
CAP_PID=
capture_start() {
	local file=$1 filter=${2:-} i
	local fargs=() pre=()
	[ -n "$filter" ] && fargs=(-f "$filter")
	# PNMT_CAP_NS: capture inside that netns (ip netns exec execs tshark, so
	# CAP_PID is tshark's).
	[ -n "${PNMT_CAP_NS:-}" ] && pre=(ip netns exec "$PNMT_CAP_NS")
	rm -f "$file" "$file.err"
	"${pre[@]}" tshark -B 256 -i "${PNMT_CAP_IF:-$PNMT_IF0}" -s 128 "${fargs[@]}" -w "$file" >/dev/null \
		2>"$file.err" 9>&- &
	CAP_PID=$!
	at_cleanup "kill_wait $CAP_PID INT"
	# tshark prints "Capturing on" before dumpcap has opened the interface;
	# "Capture started" (and the output file) come once it really captures.
	for ((i = 0; i < 150; i++)); do
		grep -q "Capture started" "$file.err" 2>/dev/null && [ -s "$file" ] && break
		kill -0 "$CAP_PID" 2>/dev/null || fail "tshark died: $(tr '\n' ' ' <"$file.err")"
		sleep 0.1
	done
	{ grep -q "Capture started" "$file.err" && [ -s "$file" ]; } ||
		fail "tshark did not start capturing: $(tr '\n' ' ' <"$file.err")"
	sleep 0.2
}

# capture_stop FILE: SIGINT the capture, wait, and check nothing was dropped.
capture_stop() {
	local file=$1 i
	[ -n "$CAP_PID" ] || return 0
	# Let the last packets of a flow (FIN/ACK) be seen.
	sleep 0.3
	kill -INT "$CAP_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$CAP_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$CAP_PID" 2>/dev/null
	CAP_PID=
	local dropped
	dropped=$(grep -Eo '[0-9]+ packets? dropped' "$file.err" | awk '{ s += $1 } END { print s + 0 }')
	[ "${dropped:-0}" -eq 0 ] || fail "tshark dropped $dropped packets: $(tr '\n' ' ' <"$file.err")"
	local captured
	captured=$(grep -Eo '^[0-9]+ packets? captured' "$file.err" | awk '{ s += $1 } END { print s + 0 }')
	[ "$captured" -gt 0 ] || fail "capture $file is empty: $(tr '\n' ' ' <"$file.err")"
}

# capture_sum FILE [MSS_IN MSS_OUT]: wire bytes and packets per direction
# seen from pnmt0. Prints "bytes_in packets_in bytes_out packets_out
# frames_in frames_out". Out = frames whose source MAC is pnmt0's.
# With MSS_* > 0, a TCP super-packet (tcp.len > MSS) counts as
# ceil(tcp.len/MSS) wire segments, each with its own copy of the headers.
# An optional fourth argument is a display filter: only matching frames.
# PNMT_LAYER=l1|l3 converts frame bytes the way pnm-tc --layer does.
capture_sum() {
	local file=$1 mss_in=${2:-0} mss_out=${3:-0} dfilter=${4:-} mac
	local yargs=()
	[ -n "$dfilter" ] && yargs=(-Y "$dfilter")
	mac=$(if_mac "$PNMT_IF0")
	tshark -r "$file" "${yargs[@]}" -T fields -E separator=/t -E occurrence=f \
		-e eth.src -e frame.len -e tcp.len 2>/dev/null |
		awk -F'\t' -v mac="$mac" -v mi="$mss_in" -v mo="$mss_out" -v layer="${PNMT_LAYER:-l2}" '
		{
			d = ($1 == mac) ? "out" : "in"
			len = $2 + 0; segs = 1
			mss = (d == "in") ? mi : mo
			if ($3 != "" && mss > 0 && $3 + 0 > mss) {
				segs = int(($3 + mss - 1) / mss)
				len = len + (segs - 1) * ($2 - $3)
			}
			if (layer == "l3")
				len -= 14 * segs
			else if (layer == "l1")
				len = (segs == 1 && len < 60 ? 60 : len) + 24 * segs
			b[d] += len; p[d] += segs; f[d] += 1
		}
		END { printf "%d %d %d %d %d %d\n", b["in"], p["in"], b["out"], p["out"], f["in"], f["out"] }'
}

# own_bytes_out FILE "PID EXPECTED_BYTES"...: of the bytes each process
# sent itself, how many pnm-tc gave to that very PID (at most its own count,
# whatever else it got). Prints "attributed expected".
own_bytes_out() {
	"$PNMT_PY" - "$@" <<'EOF'
import json, sys
procs = json.load(open(sys.argv[1])).get("processes", {})
got = want = 0
for arg in sys.argv[2:]:
    pid, exp = arg.split()
    b = procs.get(pid, {}).get("current", {}).get("bytes_out", 0)
    got += min(int(b), int(exp))
    want += int(exp)
print(got, want)
EOF
}

# capture_sum_port FILE PORT: on an interface where both ends are local
# (lo), "bytes packets" of the frames from PORT, then of the frames to it.
capture_sum_port() {
	tshark -r "$1" -T fields -E separator=/t -e tcp.srcport -e frame.len 2>/dev/null |
		awk -F'\t' -v port="$2" '
		{ d = ($1 == port) ? "from" : "to"; b[d] += $2; p[d] += 1 }
		END { printf "%d %d %d %d\n", b["from"], p["from"], b["to"], p["to"] }'
}

# capture_mss FILE DIR: the segment size the sender uses for data going in
# direction DIR (in|out) seen from pnmt0: the MSS option of the SYN going the
# other way, minus the TCP option bytes of that direction's data segments.
capture_mss() {
	local file=$1 dir=$2 mac
	mac=$(if_mac "$PNMT_IF0")
	tshark -r "$file" -T fields -E separator=/t -E occurrence=f \
		-e eth.src -e tcp.flags.syn -e tcp.options.mss_val -e tcp.hdr_len -e tcp.len 2>/dev/null |
		awk -F'\t' -v mac="$mac" -v want="$dir" '
		{
			d = ($1 == mac) ? "out" : "in"
			if ($2 == "1" || $2 == "True") {
				if (d != want && $3 != "" && !mss) mss = $3 + 0
			} else if (d == want && $5 + 0 > 0 && !opt) {
				opt = $4 - 20
			}
		}
		END { if (mss) print mss - opt; else print 0 }'
}

# capture_max_tcp_len FILE DIR: largest TCP payload going in DIR.
capture_max_tcp_len() {
	local file=$1 dir=$2 mac
	mac=$(if_mac "$PNMT_IF0")
	tshark -r "$file" -T fields -E separator=/t -E occurrence=f -e eth.src -e tcp.len 2>/dev/null |
		awk -F'\t' -v mac="$mac" -v want="$dir" '
		{ d = ($1 == mac) ? "out" : "in"; if (d == want && $2 + 0 > m) m = $2 + 0 }
		END { print m + 0 }'
}

# capture_dup_wire FILE DIR [MSS]: wire bytes in direction DIR (in|out) that
# carried TCP payload already seen before (retransmissions): per TCP stream,
# payload bytes whose relative sequence numbers were already covered by an
# earlier frame (reordered frames are not duplicates). A frame's headers are
# shared out per MSS-sized segment. Prints "dup_wire_bytes dup_payload_bytes".
capture_dup_wire() {
	local file=$1 dir=$2 mss=${3:-0} mac
	mac=$(if_mac "$PNMT_IF0")
	tshark -r "$file" -Y tcp -T fields -E separator=/t -E occurrence=f \
		-e eth.src -e frame.len -e tcp.len -e tcp.stream -e tcp.seq 2>/dev/null |
		"$PNMT_PY" -c '
import sys
mac, want, mss = sys.argv[1], sys.argv[2], int(sys.argv[3])
def segs(n):
    return -(-n // mss) if mss > 0 and n > mss else 1
seen = {}
dw = dp = 0
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    if len(f) < 5 or not f[2] or not f[4]:
        continue
    d = "out" if f[0] == mac else "in"
    n = int(f[2])
    if d != want or n == 0:
        continue
    hdr = int(f[1]) - n
    a = int(f[4])
    cov = seen.setdefault(f[3], bytearray())
    if len(cov) < a + n:
        cov.extend(bytes(a + n - len(cov)))
    new = cov[a:a + n].count(0)
    cov[a:a + n] = b"\x01" * n
    if new < n:
        w = n + segs(n) * hdr
        nw = new + segs(new) * hdr if new > 0 else 0
        dw += w - nw
        dp += n - new
print(dw, dp)
' "$mac" "$dir" "$mss"
}

# ---------------------------------------------------------------- pnm-tc ---

# pnm ARGS...: run the tool; sets PNM_RC, PNM_OUT, PNM_ERR (file contents).
PNM_RC=0 PNM_OUT='' PNM_ERR=''
pnm() {
	local o e
	o=$(mktemp) e=$(mktemp)
	"$PNM_TC" "$@" >"$o" 2>"$e"
	PNM_RC=$?
	PNM_OUT=$(cat "$o") PNM_ERR=$(cat "$e")
	rm -f "$o" "$e"
	return "$PNM_RC"
}

# pnm_as_nobody ARGS...: same, unprivileged (uid/gid 65534, no groups).
pnm_as_nobody() {
	local o e bin=$PNM_TC
	if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$bin"; then
		# The nobody user cannot reach the binary here: use a copy it can run.
		local d
		d=$(mktemp_dir)
		at_cleanup "rm -rf '$d'"
		cp "$PNM_TC" "$d/pnm-tc" && chmod 755 "$d/pnm-tc"
		bin=$d/pnm-tc
	fi
	o=$(mktemp) e=$(mktemp)
	chmod 666 "$o" "$e"
	(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" "$@") >"$o" 2>"$e"
	PNM_RC=$?
	PNM_OUT=$(cat "$o") PNM_ERR=$(cat "$e")
	rm -f "$o" "$e"
	return "$PNM_RC"
}

# pnm_attach IFACE...: attach and register a detach of those interfaces for
# cleanup (by name, so nobody else's attachment is touched).
# PNMT_XDP=1 counts pnmt0's ingress at XDP in every test (attach --xdp);
# PNMT_TC_HOOK=clsact|tcx puts the TC programs there (attach --tc-hook).
pnm_attach() {
	local args=("$@")
	if [ "${PNMT_XDP:-0}" = 1 ] && [ "${args[-1]}" = "$PNMT_IF0" ]; then
		args=(--xdp "${args[@]}")
	fi
	if [ -n "${PNMT_TC_HOOK:-}" ]; then
		args=(--tc-hook "$PNMT_TC_HOOK" "${args[@]}")
	fi
	at_cleanup "'$PNM_TC' detach $*"
	if ! pnm attach "${args[@]}"; then
		skip_if_forced_refused "$PNM_ERR"
		fail "pnm-tc attach ${args[*]} exited $PNM_RC: $PNM_ERR"
	fi
}

# skip_if_forced_refused ERR: after a failed attach, when a reader or
# seeder was forced (make check's runs of each) and the kernel refused it:
# that run does not apply here.
skip_if_forced_refused() {
	case $1 in
	*"forced by PNM_READER"* | *"forced by PNM_SEEDER"*)
		skip "PNM_READER=${PNM_READER:-} PNM_SEEDER=${PNM_SEEDER:-}: $1"
		;;
	esac
}

# hook_state PROG: the state status gives program PROG (a hook, a reader's
# or a seeder's program): active, refused, absent, disabled, unused, missing.
hook_state() {
	"$PNM_TC" status --json | "$PNMT_PY" -c '
import json, sys
d, p = json.load(sys.stdin), sys.argv[1]
for h in d["hooks"]:
    if h["program"] == p:
        print(h["state"]); sys.exit(0)
for g in ("socket_reader", "seeder"):
    for r in d[g]["readers"]:
        if r.get("program") == p:
            print(r["state"]); sys.exit(0)
print("unknown")' "$1"
}

# require_hooks PROG...: skip the test unless each hook is active (call it
# after the first attach).
require_hooks() {
	local p st
	for p in "$@"; do
		st=$(hook_state "$p")
		[ "$st" = active ] || skip "$p is $st on this kernel ($(uname -r))"
	done
}

# used_group_progs socket_reader|seeder: the programs of the reader or
# seeder in use.
used_group_progs() {
	"$PNM_TC" status --json | "$PNMT_PY" -c '
import json, sys
g = json.load(sys.stdin)[sys.argv[1]]
for r in g["readers"]:
    if r["name"] == g["used"]:
        print(" ".join(r["programs"]))' "$1"
}

# require_seeder: skip unless a seeder of pre-existing sockets is in use.
require_seeder() {
	local used
	used=$("$PNM_TC" status --json | "$PNMT_PY" -c 'import json,sys; print(json.load(sys.stdin)["seeder"]["used"])')
	[ "$used" != None ] || skip "no seeder of pre-existing sockets loads on this kernel ($(uname -r))"
}

pnm_detach() {
	pnm detach "$@" || fail "pnm-tc detach $* exited $PNM_RC: $PNM_ERR"
}

# pnm_json FILE ARGS...: pnm-tc show ARGS --json into FILE.
pnm_json() {
	local file=$1
	shift
	pnm show "$@" --json || fail "pnm-tc show $* --json exited $PNM_RC: $PNM_ERR"
	printf '%s\n' "$PNM_OUT" >"$file"
	"$PNMT_PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$file" 2>/dev/null ||
		fail "pnm-tc show $* --json: not JSON: $(head -c 300 "$file")"
}

# json_get FILE EXPR: evaluate a python expression over the document d.
json_get() {
	"$PNMT_PY" - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
EOF
}

# json_procs FILE IFACE PID...: the PIDs' figures on IFACE, summed.
# Prints "bytes_in packets_in bytes_out packets_out found missing" where
# found/missing count PIDs present/absent in "processes".
json_procs() {
	"$PNMT_PY" - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ifn = sys.argv[2]
s = {"bytes_in": 0, "packets_in": 0, "bytes_out": 0, "packets_out": 0}
found = missing = 0
procs = d.get("processes", {})
for pid in sys.argv[3:]:
    p = procs.get(str(pid))
    if p is None:
        missing += 1
        continue
    found += 1
    c = p.get("interfaces", {}).get(ifn, {})
    for k in s:
        s[k] += int(c.get(k, 0))
print(s["bytes_in"], s["packets_in"], s["bytes_out"], s["packets_out"], found, missing)
EOF
}

# assert_counts LABEL "BI PI BO PO" "TBI TPI TBO TPO": each of bytes and
# packets in and out within PNMT_TOL percent of its ground truth.
assert_counts() {
	local label=$1 k i=0 figures truth
	read -r -a figures <<<"$2"
	read -r -a truth <<<"$3"
	for k in bytes_in packets_in bytes_out packets_out; do
		assert_within "$PNMT_TOL" "$label$k" "${figures[$i]}" "${truth[$i]}"
		i=$((i + 1))
	done
}

# assert_pids_counts LABEL FILE IFACE "PID..." "TBI TPI TBO TPO": the PIDs'
# figures on IFACE in show --json FILE, summed, against the truth; fails
# when none of the PIDs is there. Leaves the figures in PIDS_BI/PI/BO/PO.
assert_pids_counts() {
	local label=$1 file=$2 ifn=$3 found
	# shellcheck disable=SC2086
	read -r PIDS_BI PIDS_PI PIDS_BO PIDS_PO found _ < <(json_procs "$file" "$ifn" $4)
	[ "$found" -gt 0 ] || fail "pids $4 not in $file: $(head -c 400 "$file")"
	assert_counts "$label" "$PIDS_BI $PIDS_PI $PIDS_BO $PIDS_PO" "$5"
}

# json_iface FILE IFACE: "bytes_in packets_in bytes_out packets_out" total.
json_iface() {
	json_get "$1" "' '.join(str(d['interfaces']['$2'][k]) for k in ('bytes_in','packets_in','bytes_out','packets_out'))"
}

# json_unattr FILE: "bytes_in packets_in bytes_out packets_out".
json_unattr() {
	json_get "$1" "' '.join(str(d['unattributed'][k]) for k in ('bytes_in','packets_in','bytes_out','packets_out'))"
}

# ------------------------------------------------------------- assertions ---

# pct_err A B: |A-B|/B in percent (B = truth), 4 decimals.
pct_err() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (b == 0) { print (a == 0) ? "0.0000" : "inf"; exit }
		e = (a - b) / b * 100; if (e < 0) e = -e; printf "%.4f\n", e }'
}

# assert_within PCT WHAT PNM TRUTH: soft-fails when |PNM-TRUTH|/TRUTH > PCT%.
# Always logs the comparison.
assert_within() {
	local pct=$1 what=$2 a=$3 b=$4 e
	e=$(pct_err "$a" "$b")
	if awk -v e="$e" -v p="$pct" 'BEGIN { exit !(e != "inf" && e + 0 <= p + 0) }'; then
		info "ok   $what: pnm=$a truth=$b err=$e% (tol $pct%)"
		return 0
	fi
	soft_fail "$what: pnm=$a truth=$b err=$e% > $pct%"
	return 1
}

# assert_eq WHAT A B
assert_eq() {
	if [ "$2" = "$3" ]; then
		info "ok   $1: $2"
		return 0
	fi
	soft_fail "$1: got '$2', want '$3'"
	return 1
}

# ---------------------------------------------------------------- state ---

# state_snapshot: everything pnm-tc may touch, as text on stdout.
state_snapshot() {
	local dev h
	echo "== mount"
	mountpoint -q /sys/fs/bpf && echo "bpffs mounted" || echo "bpffs not mounted"
	for dev in "$PNMT_IF0" lo; do
		echo "== tc qdisc $dev"
		tc qdisc show dev "$dev" 2>&1
		for h in ingress egress; do
			echo "== tc filter $dev $h"
			tc filter show dev "$dev" "$h" 2>&1
			echo "== tcx $dev $h"
			"$PNMT_TCX" list "$dev" "$h" 2>&1
		done
	done
	echo "== bpf progs"
	bpftool prog show 2>/dev/null | awk -F: '/^[0-9]+:/ { print $1 }' | sort -n
	echo "== bpf links"
	bpftool link show 2>/dev/null | awk -F: '/^[0-9]+:/ { print $1 }' | sort -n
	echo "== bpffs"
	find /sys/fs/bpf 2>/dev/null | sort
}

# small_snapshot: what test_bad_inputs compares around each bad call.
small_snapshot() {
	local h
	for h in ingress egress; do
		echo "== tc filter $PNMT_IF0 $h"
		tc filter show dev "$PNMT_IF0" "$h" 2>&1
		echo "== tcx $PNMT_IF0 $h"
		"$PNMT_TCX" list "$PNMT_IF0" "$h" 2>&1
	done
	echo "== tc qdisc"
	tc qdisc show dev "$PNMT_IF0" 2>&1
	echo "== pins"
	find /sys/fs/bpf/pnm-tc 2>/dev/null | sort
	echo "== bpf progs"
	bpftool prog show 2>/dev/null | awk -F: '/^[0-9]+:/ { print $1 }' | sort -n
}

# same_state SNAPSHOT_FN BEFORE_FILE AFTER_FILE: take SNAPSHOT_FN into
# AFTER_FILE until it equals BEFORE_FILE, for up to 3 s: the kernel frees
# detached BPF programs (and their ids) after an RCU grace period / from a
# work queue, so they may linger for a moment after detach returned.
same_state() {
	local fn=$1 before=$2 after=$3 i
	for ((i = 0; i < 30; i++)); do
		"$fn" >"$after"
		cmp -s "$before" "$after" && return 0
		sleep 0.1
	done
	return 1
}

# count_our_hooks DEV HOOK [NETNS]: pnm-tc's programs on a TC hook, as
# clsact filters or tcx entries (of a device in network namespace NETNS).
count_our_hooks() {
	local in=()
	[ -n "${3:-}" ] && in=(ip netns exec "$3")
	{
		"${in[@]}" tc filter show dev "$1" "$2" 2>/dev/null | grep ' bpf .* pnm_tc_'
		"${in[@]}" "$PNMT_TCX" list "$1" "$2" 2>/dev/null | grep ' pnm_tc_'
	} | grep -c .
}

# The place status shows for a TC hook of ours.
PNMT_HOOK_RE='(tcx|prio [0-9]+)'


has_clsact() { tc qdisc show dev "$1" 2>/dev/null | grep -q '^qdisc clsact'; }

# -------------------------------------------------------- common flows ---

# peer_nginx DIR: nginx with one worker in the peer netns, listening on
# both peer addresses, serving DIR/www/file (8 MiB).
peer_nginx() {
	local dir=$1
	nginx_conf "$dir" 1 "$PNMT_IP1:$PNMT_HTTP_PORT" "[$PNMT_IP6_1]:$PNMT_HTTP_PORT"
	make_payload "$dir/www/file"
	nginx_start "$dir" peer
	wait_http "http://$PNMT_IP1:$PNMT_HTTP_PORT/file"
}

# udp_hold ADDR PORT SECONDS [NETNS]: a UDP socket bound to ADDR:PORT (in
# NETNS, default the root netns) that stays open SECONDS without reading;
# sets HOLD_PID (the socket's owner).
HOLD_PID=''
udp_hold() {
	local pre=()
	[ -n "${4:-}" ] && pre=(ip netns exec "$4")
	"${pre[@]}" "$PNMT_PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
time.sleep(float(sys.argv[3]))
' "$1" "$2" "$3" 9>&- &
	HOLD_PID=$!
	at_cleanup "kill_wait $HOLD_PID"
}

# curl_download URL: curl in the root netns; sets CURL_PID, fails on error.
CURL_PID=
curl_download() {
	curl -s -g -o /dev/null --max-time 60 "$1" &
	CURL_PID=$!
	wait "$CURL_PID" || fail "curl $1 exited $?"
}

# run_as_pid PID CMD...: run CMD (and wait for it) as process PID, by setting
# the kernel's last PID just before forking; retried while another process
# races for it. Fails when the PID cannot be had.
run_as_pid() {
	local want=$1 got try
	shift
	for try in 1 2 3 4 5 6 7 8 9 10; do
		got=$("$PNMT_PY" -c '
import os, sys
want = int(sys.argv[1])
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(want - 1))
pid = os.fork()
if pid == 0:
    if os.getpid() != want:
        os._exit(99)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execvp(sys.argv[2], sys.argv[2:])
_, status = os.waitpid(pid, 0)
print(pid if os.waitstatus_to_exitcode(status) == 0 else -pid)
' "$want" "$@")
		[ "$got" = "$want" ] && return 0
		info "run_as_pid: try $try got pid $got, want $want"
	done
	fail "could not run $* as pid $want"
}
