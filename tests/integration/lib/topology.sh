# shellcheck shell=bash
# Variables here are used by the scripts that source lib.sh.
# shellcheck disable=SC2034
# The integration tests' network and its servers: the veth pair and the
# peer netns, payloads, nginx, waiting for a listener, and the processes
# whose traffic the tests count (curl, iperf3, a UDP holder, a chosen PID).
# Part of lib.sh, which sources it.

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

# wait_ready FILE WHAT [WORD]: wait for a helper to print "ready" (or WORD)
# into FILE.
wait_ready() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q "${3:-ready}" "$1" && return 0
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

# iperf3_server: one-shot iperf3 server in the peer netns; sets IPERF_SRV_PID.
IPERF_SRV_PID=
iperf3_server() {
	local dir=$1
	nsx iperf3 -s -1 -B "$PNMT_IP1" -p "$PNMT_IPERF_PORT" >"$dir/iperf3-server.log" 2>&1 9>&- &
	IPERF_SRV_PID=$!
	at_cleanup "kill_wait $IPERF_SRV_PID"
	wait_listen "$PNMT_IPERF_PORT" peer
}
