#!/usr/bin/env bash
# make bench: what pnm-tc costs, measured side by side in one run on a veth
# pair (offloads on), each figure repeated BENCH_REPS times (default 5):
#  - the kernel's own ns per run of every attached program
#    (kernel.bpf_stats_enabled) under a TCP stream and a 64-byte UDP flood,
#    each sent and received (egress and ingress each get the data packets),
#    and a TCP stream received with offloads off (one run per 1500-byte
#    packet, as in the comparison with nethogs), next to an empty TC
#    program attached at the same time (the floor);
#  - iperf3 TCP throughput, attached vs detached, alternated (twice as
#    many pairs as the rest);
#  - 64-byte UDP packets per second, attached vs detached, alternated;
#  - 1-byte UDP ping-pong round trips per second (the send/receive hooks);
#  - against nethogs: both watch the same download; CPU seconds per GB
#    (nethogs: its process; pnm-tc: the kernel's run time of its programs
#    plus one show) and each one's error on the process's bytes against the
#    interface counters (nothing else crosses the veth); then each tool's
#    CPU per GB from perf samples of the whole machine, its kernel-side
#    work included (offloads off, then on), beside programs that do nothing
#    on pnm-tc's hooks (the hooks' own cost); then the whole machine's CPU
#    per GB with neither, nethogs alone, pnm-tc alone;
#  - map memory at defaults, and show's latency with 10000 processes;
#  - per connection and per spawn, the socket and process hooks' ns next to
#    programs that do nothing on the same hooks (and one that creates the
#    socket storage), and connections per second with wrk (Connection:
#    close): detached, with the floor's programs alone, attached;
#  - the history store: the time to write 30 days of 1000 processes as the
#    daemon would (tests/helpers/pnmt_storefill.c), the file's size, and
#    `history --top 10 --since 24h` on it;
#  - the daemon's CPU as a share of one core with 1000 active processes
#    and a 10 s interval, and its samples' duration.
# BENCH_ONLY=conn,scale runs only those parts (conn cost ratios nethogs
# scale store daemon).
# Writes .output/bench/report.{json,md} and prints the summary.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

BENCH_T0=$(date +%s)
REPS=${BENCH_REPS:-5}
SECS=${BENCH_SECONDS:-3}
OUT=.output/bench
EMPTY=$OUT/empty_tc.bpf.o
HOOKS_FLOOR=$OUT/hooks_floor.bpf.o
PNMT_FLOOR=${PNMT_FLOOR:-.output/tests/pnmt_floor}
mkdir -p "$OUT"
PNMT_TMP=$(mktemp -d)
trap 'run_cleanups; rm -rf "$PNMT_TMP"' EXIT
require_root || exit 1
require_tools || exit 1
command -v nethogs >/dev/null || { echo "missing nethogs: run make deps" >&2; exit 1; }
command -v perf >/dev/null || { echo "missing perf: run make bench (it installs linux-perf)" >&2; exit 1; }
take_lock || exit 1
[ -e /sys/fs/bpf/pnm-tc ] && { echo "pnm-tc is attached already: detach first" >&2; exit 1; }
# Leave bpffs as found: mounted by us (for tc's loader) means unmounted after.
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf || exit 1
	at_cleanup "umount /sys/fs/bpf"
fi
# part NAME: is that part of the run wanted? BENCH_ONLY=conn,scale runs
# only those (conn cost ratios nethogs scale store); all by default.
part() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
# section TITLE: where the run is, and since when.
section() { echo "== $* (at $(($(date +%s) - BENCH_T0)) s)"; }
R=$OUT/raw
: >"$R"
# raw KEY VALUE: one measurement.
raw() { echo "$1 $2" >>"$R"; }

# report: the summary of every raw measurement, to report.{json,md}.
report() {
"$PNMT_PY" - "$R" "$OUT" "$REPS" <<'EOF'
import json, statistics, sys
raw, out, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = {}
for line in open(raw):
    k, v = line.split()
    vals.setdefault(k, []).append(float(v))
def agg(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
res = {k: agg(v) for k, v in sorted(vals.items())}
ratios = {}
for base in ("tcp_bps", "udp64_pps", "pingpong_rtps", "conn_rps"):
    a, d = vals.get(base + ".attached"), vals.get(base + ".detached")
    if a and d:
        ratios[base] = statistics.median(a) / statistics.median(d)
        # Each attached run over the detached one just before it.
        ratios[base + "_pairs"] = statistics.median(x / y for x, y in zip(a, d) if y)
# The floor's programs alone over detached (conn_rps_floor: the most any
# tool on these hooks could reach), and what pnm-tc adds per connection
# above the floor with storage, over that floor (target: at most 1).
for mode in ("floor", "floor_storage"):
    a, d = vals.get("conn_rps." + mode), vals.get("conn_rps.detached")
    if a and d:
        ratios["conn_rps_" + mode] = statistics.median(a) / statistics.median(d)
        ratios["conn_rps_" + mode + "_pairs"] = statistics.median(x / y for x, y in zip(a, d) if y)
a, f = vals.get("conn_ns.above_floor_with_storage"), vals.get("conn_ns.floor_with_storage")
if a and f:
    ratios["conn_ns_above_floor_over_floor"] = statistics.median(a) / statistics.median(f)
a, b = vals.get("nethogs.cpu_s_per_gb"), vals.get("pnm.cpu_s_per_gb")
if a and b and statistics.median(b) > 0:
    ratios["cpu_per_gb_nethogs_over_pnm"] = statistics.median(a) / statistics.median(b)
b = vals.get("pnm.cpu_s_per_gb_above_floor")
if a and b and statistics.median(b) > 0:
    ratios["cpu_per_gb_nethogs_over_pnm_above_floor"] = statistics.median(a) / statistics.median(b)
# nethogs (a) over t less what t's hooks cost in the peer's own system
# calls (p), run by run: as with a remote peer. None when not known.
def over_local(a, t, p):
    if not (a and t and p and len(p) == len(t)):
        return None
    local = statistics.median(x - y for x, y in zip(t, p))
    return statistics.median(a) / local if local > 0 else None
for sfx in ("", ".offloads_on"):
    a, b = vals.get("perf_cpu_s_per_gb.nethogs" + sfx), vals.get("perf_cpu_s_per_gb.pnm" + sfx)
    key = "perf_cpu_per_gb_nethogs_over_pnm" + sfx.replace(".", "_")
    if a and b and statistics.median(b) > 0:
        ratios[key] = statistics.median(a) / statistics.median(b)
        ratios[key + "_pairs"] = statistics.median(x / y for x, y in zip(a, b) if y)
    r = over_local(a, b, vals.get("perf_cpu_s_per_gb.pnm_peer_hooks" + sfx))
    if r is not None:
        ratios[key + "_remote_peer"] = r
    # The hooks alone (empty programs): the most any tool on them reaches,
    # and nethogs against what pnm-tc's programs and show add to them.
    f = vals.get("perf_cpu_s_per_gb.floor" + sfx)
    fkey = "perf_cpu_per_gb_nethogs_over_hooks_floor" + sfx.replace(".", "_")
    if a and f and statistics.median(f) > 0:
        ratios[fkey] = statistics.median(a) / statistics.median(f)
        r = over_local(a, f, vals.get("perf_cpu_s_per_gb.floor_peer_hooks" + sfx))
        if r is not None:
            ratios[fkey + "_remote_peer"] = r
    if a and b and f and statistics.median(b) > statistics.median(f):
        ratios[key + "_above_hooks_floor"] = statistics.median(a) / (statistics.median(b) - statistics.median(f))
m = {k: vals.get("machine_cpu_s_per_gb." + k) for k in ("none", "nethogs", "pnm")}
if all(m.values()):
    base = statistics.median(m["none"])
    extra = {k: statistics.median(m[k]) - base for k in ("nethogs", "pnm")}
    ratios["machine_cpu_extra_per_gb_nethogs"] = extra["nethogs"]
    ratios["machine_cpu_extra_per_gb_pnm"] = extra["pnm"]
    if extra["pnm"] > 0:
        ratios["machine_cpu_extra_nethogs_over_pnm"] = extra["nethogs"] / extra["pnm"]
    # Each round: none, nethogs, pnm-tc; a tool's run against that round's none.
    pairs = {k: statistics.median(x - n for x, n in zip(m[k], m["none"])) for k in ("nethogs", "pnm")}
    ratios["machine_cpu_extra_per_gb_nethogs_pairs"] = pairs["nethogs"]
    ratios["machine_cpu_extra_per_gb_pnm_pairs"] = pairs["pnm"]
    if pairs["pnm"] > 0:
        ratios["machine_cpu_extra_nethogs_over_pnm_pairs"] = pairs["nethogs"] / pairs["pnm"]
json.dump({"reps": reps, "results": res, "ratios_attached_vs_detached": ratios},
          open(out + "/report.json", "w"), indent=1)
lines = ["# pnm-tc benchmark", "", "Medians of %d runs (min-max); ratios attached/detached." % reps, "",
         "| measurement | median | min | max |", "| --- | --- | --- | --- |"]
for k, r in res.items():
    lines.append("| %s | %.4g | %.4g | %.4g |" % (k, r["median"], r["min"], r["max"]))
lines += ["", "| ratio (attached / detached; nethogs / pnm-tc) | value |", "| --- | --- |"]
for k, v in ratios.items():
    lines.append("| %s | %.3f |" % (k, v))
open(out + "/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "report: $OUT/report.md, $OUT/report.json ($(($(date +%s) - BENCH_T0)) s)"
}


topo_up
offloads on
nsx iperf3 -s -B "$PNMT_IP1" -p "$PNMT_IPERF_PORT" >/dev/null 2>&1 9>&- &
at_cleanup "kill_wait $!"
wait_listen "$PNMT_IPERF_PORT" peer
# Fixed neighbours both ways: no ARP on the veth, whose counters are the
# truth in the nethogs comparison.
ip neigh replace "$PNMT_IP1" lladdr "$(nsx cat "/sys/class/net/$PNMT_IF1/address")" dev "$PNMT_IF0"
nsx ip neigh replace "$PNMT_IP0" lladdr "$(cat "/sys/class/net/$PNMT_IF0/address")" dev "$PNMT_IF1"

# iperf_tcp/iperf_udp64 [-R]: client here, sending (or receiving, -R).
iperf_tcp() { iperf3 -c "$PNMT_IP1" -p "$PNMT_IPERF_PORT" -t "$SECS" "$@" -J 2>/dev/null |
	"$PNMT_PY" -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])'; }
iperf_udp64() { iperf3 -u -c "$PNMT_IP1" -p "$PNMT_IPERF_PORT" -b 0 -l 64 -t "$SECS" "$@" -J 2>/dev/null |
	"$PNMT_PY" -c 'import json,sys; s=json.load(sys.stdin)["end"]["sum"]; print((s["packets"]-s["lost_packets"])/s["seconds"])'; }

# udp64_unconn: the peer floods 64-byte datagrams for SECS seconds into a
# socket here bound to the wildcard address and never connected (as a DNS
# or QUIC server's), which reads them.
udp64_unconn() {
	local port=$((PNMT_IPERF_PORT + 2)) rpid
	"$PNMT_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(1)
try:
    while True:
        s.recv(2048)
except OSError:
    pass
' "$port" 9>&- &
	rpid=$!
	sleep 0.3
	nsx "$PNMT_PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d, b, end = (sys.argv[1], int(sys.argv[2])), b"u" * 64, time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    for _ in range(1000):
        try:
            s.sendto(b, d)
        except OSError:
            pass
' "$PNMT_IP0" "$port" "$SECS" 9>&-
	wait "$rpid"
}

# The peer echoes 1-byte datagrams; pingpong prints round trips per second.
nsx "$PNMT_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(16)
    s.sendto(d, a)
' "$PNMT_IP1" $((PNMT_IPERF_PORT + 1)) 9>&- &
at_cleanup "kill_wait $!"
sleep 0.5
pingpong() { "$PNMT_PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
n = 20000
t = time.monotonic()
for _ in range(n):
    s.send(b"x")
    s.recv(16)
print(n / (time.monotonic() - t))
' "$PNMT_IP1" $((PNMT_IPERF_PORT + 1)); }

# prog_stats: "name run_time_ns run_cnt" of pnm-tc's, the empty program and
# the floors' programs, summed by name (the empty program runs on both
# hooks), sorted for join.
prog_stats() { bpftool prog show -j | "$PNMT_PY" -c '
import json, sys
t = {}
for p in json.load(sys.stdin):
    n = p.get("name", "")
    if n.startswith("pnm_") or n.startswith("floor_"):
        a = t.setdefault(n, [0, 0])
        a[0] += p.get("run_time_ns", 0)
        a[1] += p.get("run_cnt", 0)
for n in sorted(t):
    print(n, t[n][0], t[n][1])'; }

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
at_cleanup "sysctl -qw kernel.bpf_stats_enabled=$old_stats"

# stats_delta UNITS PREFIX: from $OUT/s0 and $OUT/s1 (prog_stats before and
# after a load of UNITS connections or spawns), "PREFIX.NAME ns_per_run" and
# "PREFIX_runs.NAME runs_per_unit" for each program that ran.
stats_delta() {
	LC_ALL=C join "$OUT/s0" "$OUT/s1" | awk -v u="$1" -v p="$2" '$5 > $3 {
		printf "%s.%s %.1f\n%s_runs.%s %.3f\n", p, $1, ($4 - $2) / ($5 - $3), p, $1, ($5 - $3) / u }' >>"$R"
}

# per_unit UNITS KEY [-]PROG...: the PROGs' ns per unit summed, from
# s0/s1; a PROG written -PROG is taken off (a floor's program that another
# stands in for, a floor taken off pnm-tc's sum).
per_unit() {
	local k=$2
	raw "$k" "$(unit_ns "$1" "${@:3}")"
}
# unit_ns UNITS [-]PROG...: that sum alone.
unit_ns() {
	local u=$1
	shift
	LC_ALL=C join "$OUT/s0" "$OUT/s1" | awk -v u="$u" -v progs="$*" '
		BEGIN { n = split(progs, a, " "); for (i = 1; i <= n; i++)
			if (sub(/^-/, "", a[i])) w[a[i]]--; else w[a[i]]++ }
		$1 in w { t += w[$1] * ($4 - $2) } END { printf "%.1f\n", t / u }'
}

if part conn; then
# Per connection and per process: pnm-tc's socket and process hooks, each
# beside a program that does nothing on the same hook (and one that only
# creates a socket's storage), over CONNS short TCP connections (both ends
# on this host, one request of 100 B each) and SPAWNS runs of /bin/true.
# The floor (issue 18): programs that do nothing on every hook pnm-tc runs
# per connection (tests/bench/conn_floor.bpf.c for the socket hooks,
# hooks_floor.bpf.c for TC and the send and receive tracepoints), plus one
# that only creates the socket storage (storage_floor.bpf.c), which stands
# in for the empty creation program in floor_with_storage: one program per
# hook. The sums before 2 December (pnm_old, floor_old: no connect4, no
# floor on the send and receive tracepoints) are kept to compare.
# The storage-creating program is measured alone first (storage_only):
# beside pnm-tc it ran second on each socket and found the socket's
# storage container made already by pnm-tc's, for half the cost
# (storage_beside_pnm, kept to compare).
CONNS=${BENCH_CONNS:-1000} SPAWNS=${BENCH_SPAWNS:-300}
section "per connection and per process: $REPS x ($CONNS connections, $SPAWNS spawns), over the floor"
sysctl -qw kernel.bpf_stats_enabled=1
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CONN_FLOOR=$OUT/conn_floor.bpf.o,$HOOKS_FLOOR
cport=$((PNMT_IPERF_PORT + 3))
# conns_run: CONNS connections to a sink in the peer, between two
# prog_stats (s0, s1).
conns_run() {
	nsx "$PNMT_TRAFFIC" sink "$PNMT_IP1" "$cport" "$CONNS" >"$OUT/sink" 9>&- &
	sink_pid=$!
	wait_ready "$OUT/sink" "the sink"
	prog_stats >"$OUT/s0"
	"$PNMT_TRAFFIC" conns "$PNMT_IP1" "$cport" "$CONNS" 1 100 >/dev/null 9>&-
	wait "$sink_pid"
	prog_stats >"$OUT/s1"
}
"$PNMT_FLOOR" "$OUT/storage_floor.bpf.o" - "$CGROOT" >"$OUT/storage_floor.out" 9>&- &
floor_pid=$!
at_cleanup "kill_wait $floor_pid INT"
wait_ready "$OUT/storage_floor.out" "the storage floor"
storage=()
for ((i = 0; i < REPS; i++)); do
	conns_run
	storage[i]=$(unit_ns "$CONNS" pnm_fl_storage)
	raw conn_ns.storage_only "${storage[i]}"
done
kill_wait "$floor_pid" INT
"$PNM_TC" attach "$PNMT_IF0" >/dev/null || { echo "attach failed" >&2; exit 1; }
"$PNMT_FLOOR" "$CONN_FLOOR,$OUT/storage_floor.bpf.o" "$PNMT_IF0" "$CGROOT" >"$OUT/conn_floor.out" 9>&- &
floor_pid=$!
at_cleanup "kill_wait $floor_pid INT"
wait_ready "$OUT/conn_floor.out" "the connection floor"
conn_old="pnm_sock_create pnm_sock_releas pnm_sockops pnm_tcp_state pnm_tcp_send pnm_send pnm_recv"
conn_hooks="$conn_old pnm_connect4"
floor_old="pnm_fl_create pnm_fl_release pnm_fl_sockops pnm_fl_state"
conn_floor="$floor_old pnm_fl_connect floor_tcp_send floor_send floor_recv"
for ((i = 0; i < REPS; i++)); do
	conns_run
	stats_delta "$CONNS" conn
	# shellcheck disable=SC2086
	{
		pnm=$(unit_ns "$CONNS" $conn_hooks)
		fws=$(unit_ns "$CONNS" $conn_floor -pnm_fl_create)
		fws=$(awk -v a="$fws" -v b="${storage[i]}" 'BEGIN { printf "%.1f\n", a + b }')
		raw conn_ns.pnm "$pnm"
		per_unit "$CONNS" conn_ns.floor $conn_floor
		raw conn_ns.floor_with_storage "$fws"
		raw conn_ns.above_floor_with_storage \
			"$(awk -v a="$pnm" -v b="$fws" 'BEGIN { printf "%.1f\n", a - b }')"
		per_unit "$CONNS" conn_ns.storage_beside_pnm pnm_fl_storage
		per_unit "$CONNS" conn_ns.pnm_old $conn_old
		per_unit "$CONNS" conn_ns.floor_old $floor_old
		# TC on the client's interface (pnmt0): both directions.
		per_unit "$CONNS" conn_ns.tc_pnm pnm_tc_ingress pnm_tc_egress
		per_unit "$CONNS" conn_ns.tc_floor floor_tc_in floor_tc_out
	}
	prog_stats >"$OUT/s0"
	for ((j = 0; j < SPAWNS; j++)); do /bin/true; done
	prog_stats >"$OUT/s1"
	stats_delta "$SPAWNS" spawn
	per_unit "$SPAWNS" spawn_ns.pnm pnm_fork pnm_exec pnm_exit
	per_unit "$SPAWNS" spawn_ns.floor pnm_fl_fork pnm_fl_exec pnm_fl_exit
done
kill_wait "$floor_pid" INT
"$PNM_TC" detach >/dev/null
sysctl -qw kernel.bpf_stats_enabled="$old_stats"

# Connections per second with wrk (one request each, Connection: close)
# against nginx in the peer namespace, 1 KiB responses: detached, with the
# floor's programs alone on every hook pnm-tc uses per connection (floor:
# the empty ones; floor_storage: the creation one making a socket's
# storage; one program per hook, none of pnm-tc's), and attached.
# floor over detached is the most any tool on these hooks could reach.
section "connections per second (wrk, Connection: close): detached, floor, floor_storage, attached, alternated $REPS times"
ndir=$(mktemp_dir)
at_cleanup "rm -rf '$ndir'"
nginx_conf "$ndir" 2 "$PNMT_IP1:$((PNMT_IPERF_PORT + 4))"
head -c 1024 /dev/urandom >"$ndir/www/small"
# wrk's ends wait in TIME-WAIT for 60 s: after about 90000 connections
# (30000 TIME-WAIT sockets, more than the 28232 ephemeral ports) its new
# ones failed and retried, and both modes fell to about 285 a second,
# whichever ran then. For the run, connect may reuse a port in TIME-WAIT
# (timestamps keep it safe).
old_tw_reuse=$(sysctl -n net.ipv4.tcp_tw_reuse)
sysctl -qw net.ipv4.tcp_tw_reuse=1
at_cleanup "sysctl -qw net.ipv4.tcp_tw_reuse=$old_tw_reuse"
nginx_start "$ndir" peer fg
wait_listen $((PNMT_IPERF_PORT + 4)) peer
wrk_rps() { wrk -t2 -c16 -d"${SECS}s" -H 'Connection: close' \
	"http://$PNMT_IP1:$((PNMT_IPERF_PORT + 4))/small" 2>/dev/null | awk '/^Requests\/sec/ { print $2 }'; }
# wrk_floor [-x PROG]: the floor's programs held while wrk runs.
wrk_floor() {
	local fl
	"$PNMT_FLOOR" "$@" "$CONN_FLOOR,$OUT/storage_floor.bpf.o" "$PNMT_IF0" "$CGROOT" \
		>"$OUT/wrk_floor.out" 9>&- &
	fl=$!
	wait_ready "$OUT/wrk_floor.out" "the wrk floor"
	wrk_rps
	kill_wait "$fl" INT
}
# Each round starts with the next mode: whichever runs first after the
# last round's TIME-WAIT sockets is not always the same one.
modes=(detached floor floor_storage attached)
for ((i = 0; i < REPS; i++)); do
	for ((k = 0; k < ${#modes[@]}; k++)); do
		mode=${modes[(i + k) % ${#modes[@]}]}
		case $mode in
		detached) raw "conn_rps.$mode" "$(wrk_rps)" ;;
		floor) raw "conn_rps.$mode" "$(wrk_floor -x pnm_fl_storage)" ;;
		floor_storage) raw "conn_rps.$mode" "$(wrk_floor -x pnm_fl_create)" ;;
		attached)
			"$PNM_TC" attach "$PNMT_IF0" >/dev/null
			raw "conn_rps.$mode" "$(wrk_rps)"
			"$PNM_TC" detach >/dev/null
			;;
		esac
	done
done
fi # conn

if part cost; then
section "per-program cost (kernel.bpf_stats_enabled), $REPS x ${SECS}s per load"
sysctl -qw kernel.bpf_stats_enabled=1
"$PNM_TC" attach "$PNMT_IF0" >/dev/null || { echo "attach failed" >&2; exit 1; }
at_cleanup "'$PNM_TC' detach"
# The floor beside it: an empty TC program after pnm-tc's (a clsact filter,
# in a clsact of its own when pnm-tc is on tcx). tc's object loader adds
# tc/, ip and xdp to bpffs: removed after, if new.
for e in tc ip xdp; do
	[ -e "/sys/fs/bpf/$e" ] || [ -L "/sys/fs/bpf/$e" ] || at_cleanup "rm -rf /sys/fs/bpf/$e"
done
if ! tc qdisc show dev "$PNMT_IF0" | grep -q '^qdisc clsact'; then
	tc qdisc add dev "$PNMT_IF0" clsact || { echo "cannot add clsact for the empty program" >&2; exit 1; }
	empty_clsact=1
fi
for h in ingress egress; do
	tc filter add dev "$PNMT_IF0" "$h" prio 60000 bpf da obj "$EMPTY" sec tc ||
		{ echo "cannot attach the empty program" >&2; exit 1; }
done
for load in tcp tcp_recv tcp_recv_off udp64 udp64_recv udp64_unconn; do
	[ $load = tcp_recv_off ] && offloads off
	for ((i = 0; i < REPS; i++)); do
		prog_stats >"$OUT/s0"
		case $load in
		tcp) iperf_tcp >/dev/null ;;
		tcp_recv | tcp_recv_off) iperf_tcp -R >/dev/null ;;
		udp64) iperf_udp64 >/dev/null ;;
		udp64_recv) iperf_udp64 -R >/dev/null ;;
		udp64_unconn) udp64_unconn ;;
		esac
		prog_stats >"$OUT/s1"
		LC_ALL=C join "$OUT/s0" "$OUT/s1" | awk -v l=$load '$5 > $3 { printf "cost.%s.%s %.1f\n", l, $1, ($4 - $2) / ($5 - $3) }' >>"$R"
	done
	[ $load = tcp_recv_off ] && offloads on
done
for h in ingress egress; do tc filter del dev "$PNMT_IF0" "$h" prio 60000; done
[ -n "${empty_clsact:-}" ] && tc qdisc del dev "$PNMT_IF0" clsact
"$PNM_TC" detach >/dev/null
# Statistics cost time of their own: off for the ratios.
sysctl -qw kernel.bpf_stats_enabled="$old_stats"
fi # cost

if part ratios; then
# Single TCP runs on this kind of VM spread by 10% either way, more than
# what is measured: TCP gets twice the pairs, and each ratio is also
# reported as the median of its back-to-back pairs.
section "throughput, packets, ping-pong: detached vs attached, alternated $REPS times (TCP $((2 * REPS)))"
for ((i = 0; i < 2 * REPS; i++)); do
	for mode in detached attached; do
		[ $mode = attached ] && "$PNM_TC" attach "$PNMT_IF0" >/dev/null
		raw "tcp_bps.$mode" "$(iperf_tcp)"
		if ((i < REPS)); then
			raw "udp64_pps.$mode" "$(iperf_udp64)"
			raw "pingpong_rtps.$mode" "$(pingpong)"
		fi
		[ $mode = attached ] && "$PNM_TC" detach >/dev/null
	done
done
fi # ratios

if part nethogs; then
section "against nethogs: one ${NH_BYTES:=1G} download watched by both, $REPS times"
# Offloads off: one frame per packet, so that the interface counters are
# the wire truth (a GRO super-packet counts its headers once there).
offloads off
# ifbytes: rx tx of our end of the veth; cpu_ticks PID: its user + system.
ifbytes() { echo "$(cat "/sys/class/net/$PNMT_IF0/statistics/rx_bytes")" \
	"$(cat "/sys/class/net/$PNMT_IF0/statistics/tx_bytes")"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# cpu_ns OUT CMD...: CMD's own CPU time in ns (user + system, from its
# rusage), its standard output to OUT. Not its wall time: `date` around it
# added its own start. A difference: children's times survive exec (a
# python launcher's).
cpu_ns() {
	"$PNMT_PY" -c '
import resource, subprocess, sys
cpu = lambda r: r.ru_utime + r.ru_stime
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL)
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
print(int((cpu(r1) - cpu(r0)) * 1e9))' "$@"
}
# bpf_ns: "run_time_ns run_cnt" of pnm-tc's programs, summed.
bpf_ns() { prog_stats | awk '$1 != "pnm_bench_empty" { t += $2; n += $3 } END { printf "%d %d\n", t, n }'; }
# The floor per program run, measured above under the same load (a TCP
# download, offloads off): the empty program's median. A cold run (a
# super-packet, a flood's packet after each system call) costs it more.
floor_ns=$(awk '$1 == "cost.tcp_recv_off.pnm_bench_empty" { print $2 }' "$R" | sort -n |
	awk '{ v[NR] = $1 } END { print NR ? (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) : 0 }')
sysctl -qw kernel.bpf_stats_enabled=1
"$PNM_TC" attach "$PNMT_IF0" >/dev/null
hz=$(getconf CLK_TCK)
for ((i = 0; i < REPS; i++)); do
	nethogs -t -v 2 -d 1 "$PNMT_IF0" >"$OUT/nethogs" 2>/dev/null 9>&- &
	nh=$!
	sleep 2 # nethogs reads /proc and opens its capture
	read -r rx0 tx0 < <(ifbytes)
	read -r b0 n0 < <(bpf_ns)
	t0=$(cpu_ticks "$nh")
	iperf3 -c "$PNMT_IP1" -p "$PNMT_IPERF_PORT" -R -n "$NH_BYTES" >/dev/null 2>&1 9>&- &
	ip=$!
	wait "$ip"
	read -r rx1 tx1 < <(ifbytes)
	read -r b1 n1 < <(bpf_ns)
	sleep 2.5 # nethogs' next refresh
	t1=$(cpu_ticks "$nh")
	kill_wait "$nh"
	show_ns=$(cpu_ns "$OUT/pnm.json" "$PNM_TC" show -p "$ip" --json)
	"$PNMT_PY" - "$OUT/nethogs" "$OUT/pnm.json" "$ip" $((rx1 - rx0)) $((tx1 - tx0)) \
		$((b1 - b0 + show_ns)) $((t1 - t0)) "$hz" $((n1 - n0)) "$floor_ns" >>"$R" <<'EOF'
import json, sys
nh, pj, pid, rx, tx, pnm_ns, ticks, hz, runs, floor = sys.argv[1:]
rx, tx, gb = int(rx), int(tx), (int(rx) + int(tx)) / 1e9
sent = recv = 0
for line in open(nh):
    f = line.rstrip("\n").split("\t")
    if len(f) == 3 and f[0].split("/")[-2:-1] == [pid]:
        sent, recv = float(f[1]), float(f[2])  # the last refresh wins
p = json.load(open(pj))["processes"].get(pid, {}).get("current", {})
err = lambda got, want: 100.0 * (got - want) / want if want else 0.0
print("nethogs.cpu_s_per_gb", int(ticks) / int(hz) / gb)
print("pnm.cpu_s_per_gb", int(pnm_ns) / 1e9 / gb)
# Less what every run of even an empty program costs with bpf_stats on
# (its clock reads, mostly): pnm-tc's own work.
print("pnm.cpu_s_per_gb_above_floor", (int(pnm_ns) - int(runs) * float(floor)) / 1e9 / gb)
print("nethogs.err_in_pct", err(recv, rx))
print("nethogs.err_out_pct", err(sent, tx))
print("pnm.err_in_pct", err(p.get("bytes_in", 0), rx))
print("pnm.err_out_pct", err(p.get("bytes_out", 0), tx))
EOF
done
"$PNM_TC" detach >/dev/null
sysctl -qw kernel.bpf_stats_enabled="$old_stats"

# tool_start/tool_stop none|nethogs|pnm: one tool alone watches pnmt0.
tool_start() {
	case $1 in
	nethogs)
		nethogs -t -v 2 -d 1 "$PNMT_IF0" >/dev/null 2>&1 9>&- &
		nh=$!
		sleep 2 # nethogs reads /proc and opens its capture
		;;
	pnm)
		# As deployed: attached once, shown many times. The first show
		# after an attach is the first to read some 2 MB of the maps'
		# memory, which this VM charges per page (11 to 14 ms of CPU
		# against about 5 for a later one): a cost per attach, not per
		# GB, kept apart as nethogs' start is.
		"$PNM_TC" attach "$PNMT_IF0" >/dev/null
		raw show_cpu_ms.first_after_attach \
			"$(cpu_ns /dev/null "$PNM_TC" show --json | awk '{ print $1 / 1e6 }')"
		;;
	floor)
		"$PNMT_FLOOR" "$HOOKS_FLOOR" "$PNMT_IF0" >"$OUT/floor" 2>&1 9>&- &
		fl=$!
		for ((w = 0; w < 50; w++)); do
			grep -q '^ready$' "$OUT/floor" && break
			kill -0 "$fl" 2>/dev/null || break
			sleep 0.1
		done
		grep -q '^ready$' "$OUT/floor" || { cat "$OUT/floor" >&2; exit 1; }
		;;
	esac
}
tool_stop() {
	case $1 in
	nethogs) kill_wait "$nh" ;;
	pnm) "$PNM_TC" detach >/dev/null ;;
	floor) kill_wait "$fl" ;;
	esac
}

# The same download sampled by perf on every CPU (cpu-clock, with call
# chains), each tool charged what runs for it wherever it runs:
#  - nethogs: its own process, and the AF_PACKET tap that copies every
#    packet to its capture socket in the sender's and receiver's softirq
#    (tpacket_rcv, packet_rcv, dev_queue_xmit_nit);
#  - pnm-tc: its BPF programs, the hook code that runs them (the TC hooks
#    sch_handle_ingress/egress with tcx or the classifier, the tracepoint
#    and cgroup runners) and its own process (one show).
# Samples, not a difference of two noisy totals: about as precise as the
# sample count (PERF_HZ per CPU). With offloads off (every frame a packet
# for both tools: the figure above), then on (GSO super-packets cross the
# veth; as deployed on most hosts), keys with ".offloads_on".
# pnm-tc's send and receive hooks fire for every process of the host, the
# peer's sender in its namespace too: what they cost in the peer's
# processes, outside the TC hooks, is also given apart (pnm_peer_hooks).
# A remote peer would not cost this host that; nethogs' tap sees each
# packet once on the interface either way.
# The same for programs that do nothing on each of those hooks
# (tests/bench/hooks_floor.bpf.c: the tcx ingress and egress hooks, the
# send, receive and TCP send tracepoints): the hooks' own cost, which any
# program there pays before it does any work. nethogs over it is the most
# any tool on these hooks could reach on this machine.
PERF_HZ=${PERF_HZ:-2999}
peer_pids=$(ip netns pids "$PNMT_NS" | paste -sd, -)
for offl in off on; do
	offloads "$offl"
	sfx=
	[ "$offl" = on ] && sfx=.offloads_on
	section "against nethogs, perf-sampled (each tool with its kernel work), offloads $offl, $REPS times"
	for ((i = 0; i < REPS; i++)); do
		for mode in nethogs pnm floor; do
			tool_start $mode
			read -r rx0 tx0 < <(ifbytes)
			show=true
			[ $mode = pnm ] && show="$PNM_TC show --json"
			perf record -q -a -g -F "$PERF_HZ" -e cpu-clock -o "$OUT/perf.data" -- sh -c \
				"iperf3 -c $PNMT_IP1 -p $PNMT_IPERF_PORT -R -n $NH_BYTES >/dev/null 2>&1 && $show >/dev/null" \
				>/dev/null 2>&1 9>&-
			read -r rx1 tx1 < <(ifbytes)
			tool_stop $mode
			perf script -i "$OUT/perf.data" -F comm,pid,ip,sym 2>/dev/null |
				"$PNMT_PY" -c '
import re, sys
mode, hz, b = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
peer = {int(p) for p in sys.argv[5].split(",") if p}
hooks = lambda progs: re.compile(r"(bpf_prog_[0-9a-f]+_%s_.*|sch_handle_(ingress|egress)|tcx_run|"
                                 r"tc_run|tcf_classify|bpf_trace_run[0-9]+|__bpf_trace_.*|"
                                 r"__cgroup_bpf_run_filter_.*)$" % progs)
own = {"nethogs": ("nethogs", re.compile(r"(tpacket_rcv|packet_rcv|dev_queue_xmit_nit)$")),
       "pnm": ("pnm-tc", hooks("pnm")), "floor": (None, hooks("floor"))}[mode]
tc = re.compile(r"(bpf_prog_[0-9a-f]+_(pnm_tc|floor_tc)_.*|sch_handle_(ingress|egress)|tcx_run|tc_run|"
                r"tcf_classify)$")
n = n_peer = 0
for block in sys.stdin.read().split("\n\n"):
    lines = block.strip().split("\n")
    if not lines[0]:
        continue
    head = lines[0].split()
    syms = [l.split()[1].split("+")[0] for l in lines[1:] if len(l.split()) > 1]
    if head[0] == own[0] or any(own[1].match(x) for x in syms):
        n += 1
        if mode != "nethogs" and int(head[-1]) in peer and not any(tc.match(x) for x in syms):
            n_peer += 1
gb = b / 1e9
print("perf_cpu_s_per_gb.%s%s %.5f" % (mode, sys.argv[4], n / hz / gb))
if mode != "nethogs":
    print("perf_cpu_s_per_gb.%s_peer_hooks%s %.5f" % (mode, sys.argv[4], n_peer / hz / gb))
' "$mode" "$PERF_HZ" $((rx1 - rx0 + tx1 - tx0)) "$sfx" "$peer_pids" >>"$R"
		done
	done
done
offloads off
rm -f "$OUT/perf.data" "$OUT/perf.data.old"

# The whole machine's CPU time (/proc/stat, all CPUs, busy) for the same
# download with neither tool, nethogs alone, pnm-tc alone, alternated: what
# each costs the host, including the kernel's work for it (nethogs' packet
# copies in softirq, pnm-tc's programs) and one read of its result.
# Its noise on a small VM is as large as the tools' shares (the sampled
# comparison above is the precise one): each tool's share is also taken
# against the run with neither just before it (the median of those
# differences).
section "whole-machine CPU per GB: none, nethogs alone, pnm-tc alone, $REPS times"
busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
for ((i = 0; i < REPS; i++)); do
	for mode in none nethogs pnm; do
		tool_start $mode
		read -r rx0 tx0 < <(ifbytes)
		c0=$(busy)
		iperf3 -c "$PNMT_IP1" -p "$PNMT_IPERF_PORT" -R -n "$NH_BYTES" >/dev/null 2>&1 9>&-
		read -r rx1 tx1 < <(ifbytes)
		sleep 1.2 # past nethogs' next refresh (every second), in every mode
		[ $mode = pnm ] && "$PNM_TC" show --json >/dev/null
		c1=$(busy)
		tool_stop $mode
		raw "machine_cpu_s_per_gb.$mode" "$(awk -v t=$((c1 - c0)) -v hz="$hz" \
			-v b=$((rx1 - rx0 + tx1 - tx0)) 'BEGIN { printf "%.4f\n", t / hz / (b / 1e9) }')"
	done
done
offloads on
fi # nethogs

if part scale; then
section "scale: map memory, show with 10000 processes"
"$PNM_TC" attach "$PNMT_IF0" >/dev/null
raw maps_bytes.default "$("$PNM_TC" status | "$PNMT_PY" -c '
import re, sys
m = re.search(r"memory of all maps: ([0-9.]+) (KiB|MiB|GiB)", sys.stdin.read())
print(int(float(m.group(1)) * {"KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]))')"
"$PNMT_TRAFFIC" many "$PNMT_IP1" 9 10000 1 100 >"$OUT/many" 9>&- || echo "many failed" >&2
raw processes "$("$PNM_TC" show --json | "$PNMT_PY" -c 'import json,sys; print(len(json.load(sys.stdin)["processes"]))')"
# From start to exit, timed by the caller: `date` around the command adds
# its own start (about 15 ms on a VM with dear page faults).
"$PNMT_PY" - "$PNM_TC" "$REPS" >>"$R" <<'EOF'
import subprocess, sys, time
tool, reps = sys.argv[1], int(sys.argv[2])
for _ in range(reps):
    for what, args in (("json", ["show", "--json"]), ("table", ["show"])):
        t0 = time.perf_counter()
        subprocess.run([tool] + args, stdout=subprocess.DEVNULL, check=True)
        print("show_ms.%s %.3f" % (what, (time.perf_counter() - t0) * 1e3))
EOF
"$PNM_TC" detach >/dev/null
fi # scale

if part store; then
# Days 1..28 one sample an hour, the last 48 h one a minute, each with
# every process's growth (the minute level's worst case): under 200 MB and
# a query under 200 ms are the targets. The size is after a checkpoint
# (the WAL folded in), as the file stays when the daemon stops.
section "store: 30 days of 1000 processes, then history --top 10 --since 24h"
PNMT_STOREFILL=${PNMT_STOREFILL:-.output/tests/pnmt_storefill}
store_dir=$(mktemp -d)
at_cleanup "rm -rf '$store_dir'"
"$PNMT_STOREFILL" "$store_dir/h.db" 1000 30 >"$OUT/storefill" 9>&- || echo "pnmt_storefill failed" >&2
raw store_fill_s "$(awk '$1 == "fill_s" { print $2 }' "$OUT/storefill")"
sqlite3 "$store_dir/h.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
raw store_db_bytes "$(stat -c %s "$store_dir/h.db")"
"$PNMT_PY" - "$PNM_TC" "$REPS" "$store_dir/h.db" >>"$R" <<'EOF'
import subprocess, sys, time
tool, reps, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(reps):
    t0 = time.perf_counter()
    subprocess.run([tool, "history", "--db", db, "--top", "10", "--since", "24h"],
                   stdout=subprocess.DEVNULL, check=True)
    print("store_query_ms.top10_24h %.3f" % ((time.perf_counter() - t0) * 1e3))
EOF
fi # store

if part daemon; then
# The daemon's own CPU, as a share of one core, while 1000 processes each
# send a datagram a second and it samples every 10 s (6 samples), and its
# samples' duration (its -v log).
section "daemon: CPU with 1000 active processes, 10 s interval"
ddir=$(mktemp_dir)
at_cleanup "rm -rf '$ddir'"
"$PNM_TC" -v daemon --db "$ddir/history.db" --interval 10s "$PNMT_IF0" 2>"$ddir/daemon.log" 9>&- &
dpid=$!
at_cleanup "kill_wait $dpid TERM"
wait_ready "$ddir/daemon.log" "the daemon" recording
"$PNMT_TRAFFIC" active "$PNMT_IP1" 9 1000 75 100 >/dev/null 9>&- &
apid=$!
sleep 8 # every process started and sending, and one sample of them
cpu() { awk '{ print $14 + $15 }' "/proc/$dpid/stat"; }
c0=$(cpu) t0=$(date +%s.%N)
sleep 60
c1=$(cpu) t1=$(date +%s.%N)
raw daemon_cpu_pct "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$(getconf CLK_TCK)" \
	'BEGIN { printf "%.4f", (b - a) / hz / (e - s) * 100 }')"
wait "$apid"
kill_wait "$dpid" TERM
sed -n 's/^pnm-tc: sample: \([0-9]*\) processes.* \([0-9.]*\) ms$/\1 \2/p' "$ddir/daemon.log" |
	awk '$1 >= 1000 { print "daemon_sample_ms", $2 }' >>"$R"
raw daemon_db_bytes "$(stat -c %s "$ddir/history.db")"
fi # daemon

report
