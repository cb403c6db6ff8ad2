# shellcheck shell=bash
# The daemon and its history: restarts that lose and repeat nothing, totals
# that reconcile per interface and hour, interfaces that come and go, the
# service's capability set, sd_notify, and the unit's hardening.

# daemon_start DB ARGS...: pnm-tc daemon on DB, sampling every second, its
# log in $TEST_DIR/daemon.log (appended), run through DAEMON_WRAP (env
# VAR=VALUE..., setpriv ...); waits until it is ready.
DAEMON_WRAP=(env)
daemon_start() {
	local db=$1 log=$TEST_DIR/daemon.log i n
	shift
	n=$(grep -c 'recording' "$log" 2>/dev/null)
	"${DAEMON_WRAP[@]}" "$PNM_TC" -v daemon --db "$db" --interval 1s "$@" 2>>"$log" 9>&- &
	DAEMON_PID=$!
	at_cleanup "kill_wait $DAEMON_PID TERM"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'recording' "$log" 2>/dev/null)" -gt "${n:-0}" ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died: $(tail -3 "$log")"
		sleep 0.1
	done
	fail "the daemon did not get ready: $(tail -3 "$log")"
}

# daemon_samples N: wait until the daemon has logged N more samples.
daemon_samples() {
	local log=$TEST_DIR/daemon.log want i
	want=$(($(grep -c '^pnm-tc: sample:' "$log") + $1))
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c '^pnm-tc: sample:' "$log")" -ge "$want" ] && return 0
		sleep 0.1
	done
	fail "the daemon took no sample in 10 s: $(tail -3 "$log")"
}

# daemon_stop SIGNAL: end the daemon; its exit code in DAEMON_RC.
daemon_stop() {
	kill "-$1" "$DAEMON_PID"
	wait "$DAEMON_PID"
	DAEMON_RC=$?
}

# history_json OUT ARGS...: pnm-tc history --json, checked to be JSON.
history_json() {
	local out=$1
	shift
	"$PNM_TC" history "$@" --json >"$out" 2>"$out.err" ||
		fail "history $* exited $?: $(cat "$out.err")"
	"$PNMT_PY" -m json.tool "$out" >/dev/null || fail "history $* is not JSON: $(head -c 300 "$out")"
}

# curl_recorded DB WHAT [DIR...]: stop the capture; curl's bytes in the
# history of DB equal it, in each DIR (in, out; default in).
curl_recorded() {
	local db=$1 what=$2 tbi tbo got d
	shift 2
	capture_stop "$TEST_DIR/cap.pcap"
	read -r tbi _ tbo _ _ _ < <(capture_sum "$TEST_DIR/cap.pcap")
	info "capture: in ${tbi}B out ${tbo}B"
	history_json "$TEST_DIR/h.json" --db "$db" --since 1h -n curl
	for d in "${@:-in}"; do
		got=$(json_get "$TEST_DIR/h.json" "d['rows'][0]['bytes_$d'] if d['rows'] else 0")
		assert_within "$PNMT_TOL" "curl bytes_$d $what" "$got" "$([ "$d" = in ] && echo "$tbi" || echo "$tbo")"
	done
}

# reconcile_hours DB FROM TO: for every hour from FROM to TO (Unix
# seconds), each interface's processes plus its unattributed bytes equal
# its total, exactly, in bytes and packets, both ways.
reconcile_hours() {
	local db=$1 h n=0
	for ((h = $2 / 3600 * 3600; h <= $3; h += 3600)); do
		history_json "$TEST_DIR/hour.json" --db "$db" --by iface --from "@$h" --to "@$((h + 3600))"
		"$PNMT_PY" - "$TEST_DIR/hour.json" <<'PYEOF' || soft_fail "hour $h does not add up"
import json, sys
d = json.load(open(sys.argv[1]))
bad = 0
for name, ifc in d["interfaces"].items():
    rows = [r for r in d["rows"] if r.get("interface") == name]
    for k in ("bytes_in", "bytes_out", "packets_in", "packets_out"):
        procs = sum(r[k] for r in rows)
        if procs + ifc["unattributed"][k] != ifc[k]:
            print("%s %s: processes %d + unattributed %d != total %d"
                  % (name, k, procs, ifc["unattributed"][k], ifc[k]), file=sys.stderr)
            bad = 1
sys.exit(bad)
PYEOF
		n=$((n + 1))
	done
	info "ok   $n hour(s) reconcile per interface"
}

# Two 8 MiB downloads; the daemon restarted by SIGTERM before the first and
# the second, and killed (-9) at the end of the second: curl's bytes in the
# history equal the capture of both, the database is intact, and each
# hour's processes plus unattributed equal the interface's total.
test_daemon_restarts() {
	local db t0 n
	peer_site
	db=$TEST_DIR/history.db
	t0=$(date +%s)
	capture_start "$TEST_DIR/cap.pcap" "tcp port $PNMT_HTTP_PORT and host $PNMT_IP1"
	daemon_start "$db" "$PNMT_IF0"
	daemon_samples 1
	curl_download "$PEER_URL"
	daemon_samples 2
	daemon_stop TERM
	assert_eq "exit status after SIGTERM" "$DAEMON_RC" 0
	grep -q "$PNMT_IF0: detached" "$TEST_DIR/daemon.log" ||
		soft_fail "the daemon did not detach what it attached: $(tail -3 "$TEST_DIR/daemon.log")"
	daemon_start "$db" "$PNMT_IF0"
	curl_download "$PEER_URL"
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	# After kill -9 the interface stays attached: the next daemon takes it
	# over and stores only what grew since the last stored sample.
	daemon_start "$db" "$PNMT_IF0"
	grep -q "$PNMT_IF0: attached by an earlier daemon, taken over" "$TEST_DIR/daemon.log" ||
		soft_fail "the daemon after kill -9 did not take the interface over"
	daemon_samples 2
	daemon_stop TERM
	curl_recorded "$db" "of both downloads in the history" in out
	[ "$(capture_sum "$TEST_DIR/cap.pcap" | cut -d' ' -f1)" -gt $((16 * 1024 * 1024)) ] ||
		fail "the capture does not hold two downloads"
	n=$(json_get "$TEST_DIR/h.json" "len(d['rows'])")
	assert_eq "history rows for curl (two PIDs, one name)" "$n" 1
	assert_eq "PRAGMA integrity_check" "$(sqlite3 "$db" 'PRAGMA integrity_check')" ok
	reconcile_hours "$db" "$t0" "$(date +%s)"
	check_soft_failures
}

# The daemon follows a pattern: an interface made after it started and
# matching it is attached and counted (ping's echoes, exactly), and when it
# goes away it is sampled and released.
test_daemon_new_iface() {
	local db ns=pnmd-ns-$$ got want i
	topo_up
	new_dir
	db=$TEST_DIR/history.db
	daemon_start "$db" 'pnmd*'
	grep -q "no interface matches yet" "$TEST_DIR/daemon.log" ||
		soft_fail "the daemon did not say that nothing matches yet"
	ip netns add "$ns" || fail "ip netns add $ns failed"
	at_cleanup "ip netns del $ns"
	ip link add name pnmd0 type veth peer name pnmd1 netns "$ns" || fail "ip link add failed"
	at_cleanup "ip link del pnmd0 2>/dev/null"
	ip addr add 10.232.0.1/24 dev pnmd0
	ip link set pnmd0 up
	ip -n "$ns" addr add 10.232.0.2/24 dev pnmd1
	ip -n "$ns" link set pnmd1 up
	ip neigh replace 10.232.0.2 lladdr "$(ip netns exec "$ns" cat /sys/class/net/pnmd1/address)" dev pnmd0
	for ((i = 0; i < 50; i++)); do
		grep -q "pnmd0: attached" "$TEST_DIR/daemon.log" && break
		sleep 0.1
	done
	grep -q "pnmd0: attached" "$TEST_DIR/daemon.log" ||
		fail "pnmd0 was not attached: $(tail -3 "$TEST_DIR/daemon.log")"
	ping -q -c 20 -i 0.05 -s 1000 10.232.0.2 >/dev/null || fail "ping failed"
	daemon_samples 2
	ip link del pnmd0
	for ((i = 0; i < 50; i++)); do
		grep -q "pnmd0: released" "$TEST_DIR/daemon.log" && break
		sleep 0.1
	done
	grep -q "pnmd0: went away" "$TEST_DIR/daemon.log" || soft_fail "the daemon did not note pnmd0 going"
	grep -q "pnmd0: released" "$TEST_DIR/daemon.log" || soft_fail "the daemon did not release pnmd0"
	daemon_stop TERM
	assert_eq "exit status after SIGTERM" "$DAEMON_RC" 0
	history_json "$TEST_DIR/h.json" --db "$db" --since 1h -n ping -i pnmd0
	# 20 echoes of 1000 B: ICMP 8 + IP 20 + Ethernet 14 each, both ways.
	want=$((20 * 1042))
	got=$(json_get "$TEST_DIR/h.json" "d['rows'][0]['bytes_out'] if d['rows'] else 0")
	assert_eq "ping's bytes out on pnmd0" "$got" "$want"
	got=$(json_get "$TEST_DIR/h.json" "d['rows'][0]['bytes_in'] if d['rows'] else 0")
	assert_eq "ping's bytes in on pnmd0" "$got" "$want"
	check_soft_failures
}

# The unit's capabilities, and no others (setpriv): the daemon attaches,
# records a download exactly, and detaches.
test_daemon_capabilities() {
	local db caps got want unit reader
	command -v setpriv >/dev/null || skip "no setpriv"
	peer_site
	db=$TEST_DIR/history.db
	unit=$PNMT_ROOT/daemon/pnm-tc.service.in
	caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g')
	[ -n "$caps" ] || fail "no AmbientCapabilities= in $unit"
	info "the unit's capabilities: $caps"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	capture_start "$TEST_DIR/cap.pcap" "tcp port $PNMT_HTTP_PORT and host $PNMT_IP1"
	DAEMON_WRAP=(setpriv "--bounding-set=-all,$caps" "--inh-caps=-all,$caps" "--ambient-caps=-all,$caps")
	daemon_start "$db" "$PNMT_IF0"
	DAEMON_WRAP=(env)
	got=$(awk '/^CapEff:/ { print $2 }' "/proc/$DAEMON_PID/status")
	want=$("$PNMT_PY" -c '
import sys
bits = {"net_admin": 12, "sys_admin": 21, "perfmon": 38, "bpf": 39}
print("%016x" % sum(1 << bits[c.lstrip("+")] for c in sys.argv[1].split(",")))' "$caps")
	assert_eq "the daemon's effective capabilities ($caps)" "$got" "$want"
	curl_download "$PEER_URL"
	daemon_samples 2
	daemon_stop TERM
	assert_eq "exit status after SIGTERM" "$DAEMON_RC" 0
	curl_recorded "$db" "recorded with the unit's capabilities"
	pnm status
	case $PNM_OUT in
	*"not attached"*) ;;
	*) soft_fail "the daemon left pnm-tc attached: $PNM_OUT" ;;
	esac
	# Without CAP_SYS_ADMIN the peer's namespace cannot be entered: said
	# once, and the daemon goes on. (Nor could it detach: finding a tcx
	# program by id needs CAP_SYS_ADMIN. So the interface is attached
	# here, and the daemon leaves it.)
	caps=${caps/,+sys_admin/}
	pnm_attach "$PNMT_IF0"
	DAEMON_WRAP=(setpriv "--bounding-set=-all,$caps" "--inh-caps=-all,$caps" "--ambient-caps=-all,$caps")
	daemon_start "$db" "$PNMT_IF0"
	DAEMON_WRAP=(env)
	daemon_samples 2
	reader=$("$PNM_TC" status --json | "$PNMT_PY" -c 'import json, sys; print(json.load(sys.stdin)["socket_reader"]["used"])')
	daemon_stop TERM
	assert_eq "exit status without CAP_SYS_ADMIN" "$DAEMON_RC" 0
	# Only the socket tables' reader enters namespaces.
	if [ "$reader" = sockets ]; then
		grep -q "cannot enter 1 other network namespace (needs CAP_SYS_ADMIN)" "$TEST_DIR/daemon.log" ||
			soft_fail "without CAP_SYS_ADMIN nothing said of the peer's namespace: $(tail -3 "$TEST_DIR/daemon.log")"
	fi
	pnm_detach "$PNMT_IF0"
	check_soft_failures
}

# A full disk: the daemon says it cannot write, keeps going while the
# kernel counts, and once there is room stores the growth since its last
# stored sample: the download made meanwhile is all there.
test_daemon_disk_full() {
	local mnt db i
	peer_site
	mnt=$TEST_DIR/small
	mkdir -p "$mnt"
	mount -t tmpfs -o size=4m tmpfs "$mnt" || skip "cannot mount a tmpfs"
	at_cleanup "umount '$mnt'"
	db=$mnt/history.db
	daemon_start "$db" "$PNMT_IF0"
	daemon_samples 1
	# Fill what is left (the database and its WAL keep what they have).
	dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
	capture_start "$TEST_DIR/cap.pcap" "tcp port $PNMT_HTTP_PORT and host $PNMT_IP1"
	curl_download "$PEER_URL"
	for ((i = 0; i < 100; i++)); do
		grep -q "counting goes on in the kernel" "$TEST_DIR/daemon.log" && break
		sleep 0.1
	done
	grep -q "counting goes on in the kernel" "$TEST_DIR/daemon.log" ||
		soft_fail "the daemon did not say it cannot write: $(tail -3 "$TEST_DIR/daemon.log")"
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon ended on a full disk"
	rm -f "$mnt/filler"
	daemon_samples 2
	daemon_stop TERM
	assert_eq "exit status after SIGTERM" "$DAEMON_RC" 0
	curl_recorded "$db" "stored after the disk had room again"
	assert_eq "PRAGMA integrity_check" "$(sqlite3 "$db" 'PRAGMA integrity_check')" ok
	check_soft_failures
}

# daemon_bad CODE WHAT ARGS...: pnm-tc daemon ARGS exits CODE with one line
# on stderr that contains WHAT.
daemon_bad() {
	local code=$1 what=$2 lines
	shift 2
	pnm daemon "$@"
	lines=$(printf '%s' "$PNM_ERR" | grep -c '')
	if [ "$PNM_RC" -ne "$code" ] || [ "$lines" -ne 1 ] || [[ $PNM_ERR != *"$what"* ]]; then
		soft_fail "daemon $*: exit $PNM_RC (want $code), $lines lines (want 1, with '$what'): $PNM_ERR"
	else
		info "ok   daemon $*: $PNM_ERR"
	fi
}

# Bad input and a busy or unusable database: one line each, the right exit
# status, and nothing changed (no state left, the files as they were).
test_daemon_errors() {
	local db d=$TEST_DIR conf
	topo_up
	new_dir
	d=$TEST_DIR
	db=$d/history.db
	daemon_bad 2 "--interval" --interval 0s --db "$db" "$PNMT_IF0"
	daemon_bad 2 "--retention" --retention hour=1h,minute=2h --db "$db" "$PNMT_IF0"
	daemon_bad 2 "--listen" --listen nowhere --db "$db" "$PNMT_IF0"
	daemon_bad 2 "name the interfaces" --db "$db" --config /dev/null
	daemon_bad 2 "cannot read" --db "$db" --config "$d/missing.conf" "$PNMT_IF0"
	conf=$d/bad.conf
	printf 'interval = 5s\n\nspeed = fast\n' >"$conf"
	daemon_bad 2 "$conf:3: unknown setting 'speed'" --config "$conf" --db "$db" "$PNMT_IF0"
	[ -e "$db" ] && soft_fail "a refused daemon made $db"
	# Not a database, and a database of a newer pnm-tc: named, untouched.
	head -c 4096 /dev/urandom >"$d/junk.db"
	cp "$d/junk.db" "$d/junk.orig"
	daemon_bad 1 "$d/junk.db" --db "$d/junk.db" "$PNMT_IF0"
	cmp -s "$d/junk.db" "$d/junk.orig" || soft_fail "the daemon changed a file that is not its database"
	sqlite3 "$d/other.sqlite" 'CREATE TABLE t(x);'
	cp "$d/other.sqlite" "$d/other.orig"
	daemon_bad 1 "$d/other.sqlite" --db "$d/other.sqlite" "$PNMT_IF0"
	cmp -s "$d/other.sqlite" "$d/other.orig" || soft_fail "the daemon changed another program's database"
	pnm status
	[[ $PNM_OUT == *"not attached"* ]] || soft_fail "a refused daemon left state: $PNM_OUT"
	# A second daemon, on the same database or another: refused with the
	# first one's PID.
	daemon_start "$db" "$PNMT_IF0"
	daemon_bad 1 "PID $DAEMON_PID" --db "$db" "$PNMT_IF0"
	daemon_bad 1 "PID $DAEMON_PID" --db "$d/other.db" "$PNMT_IF0"
	daemon_stop TERM
	assert_eq "exit status after SIGTERM" "$DAEMON_RC" 0
	# A database of a newer pnm-tc: named, said so, untouched.
	cp "$db" "$d/new.db"
	sqlite3 "$d/new.db" 'PRAGMA user_version = 9999;'
	cp "$d/new.db" "$d/new.orig"
	daemon_bad 1 "$d/new.db: schema version 9999 is newer" --db "$d/new.db" "$PNMT_IF0"
	cmp -s "$d/new.db" "$d/new.orig" || soft_fail "the daemon changed a database of a newer schema"
	check_soft_failures
}

# sd_notify: READY once attached, STATUS after samples, WATCHDOG, and on
# SIGHUP RELOADING then READY with the file read again; STOPPING at the end.
test_daemon_notify() {
	local sock msgs conf i m
	topo_up
	new_dir
	sock=$TEST_DIR/notify.sock
	msgs=$TEST_DIR/notify.txt
	"$PNMT_PY" - "$sock" "$msgs" <<'PYEOF' 9>&- &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        m = s.recv(4096).decode()
        out.write(m.replace("\n", "|") + "\n")
        if "STOPPING=1" in m:
            break
PYEOF
	local lpid=$!
	at_cleanup "kill_wait $lpid"
	wait_file "$sock" "the notification listener's socket"
	conf=$TEST_DIR/pnm-tc.conf
	printf 'interfaces = %s\n' "$PNMT_IF0" >"$conf"
	DAEMON_WRAP=(env "NOTIFY_SOCKET=$sock" WATCHDOG_USEC=400000)
	daemon_start "$TEST_DIR/h.db" --config "$conf"
	DAEMON_WRAP=(env)
	daemon_samples 2
	printf 'interfaces = %s lo\ninterval = 2s\n' "$PNMT_IF0" >"$conf"
	kill -HUP "$DAEMON_PID"
	for ((i = 0; i < 50; i++)); do
		grep -q "configuration reloaded" "$TEST_DIR/daemon.log" && break
		sleep 0.1
	done
	grep -q "configuration reloaded: 2 interfaces" "$TEST_DIR/daemon.log" ||
		soft_fail "SIGHUP did not reload the configuration: $(tail -2 "$TEST_DIR/daemon.log")"
	grep -q "lo: attached" "$TEST_DIR/daemon.log" || soft_fail "the reload did not attach lo"
	daemon_stop TERM
	wait "$lpid"
	for m in READY=1 'STATUS=recording 1 interface into' 'STATUS=[0-9]* samples' WATCHDOG=1 \
		'RELOADING=1' STOPPING=1; do
		grep -q "$m" "$msgs" || soft_fail "no '$m' among the notifications: $(tr '\n' ' ' <"$msgs" | head -c 400)"
	done
	grep -q 'RELOADING=1' "$msgs" && ! sed -n '/RELOADING=1/,$p' "$msgs" | grep -q READY=1 &&
		soft_fail "no READY=1 after the reload"
	pnm status
	[[ $PNM_OUT == *"not attached"* ]] || soft_fail "the daemon left what it attached: $PNM_OUT"
	check_soft_failures
}

# The service as make install writes it: systemd-analyze verify is clean
# and the exposure of systemd-analyze security is at most 3.0.
test_daemon_unit() {
	local unit out score
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	new_dir
	unit=$TEST_DIR/pnm-tc.service
	sed "s|@SBINDIR@/pnm-tc|$PNM_TC|" "$PNMT_ROOT/daemon/pnm-tc.service.in" >"$unit"
	out=$(systemd-analyze verify --man=no "$unit" 2>&1) ||
		soft_fail "systemd-analyze verify: $out"
	[ -z "$out" ] || soft_fail "systemd-analyze verify says: $out"
	out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for pnm-tc.service: \([0-9.]*\).*/\1/p')
	[ -n "$score" ] || fail "no exposure level: $(printf '%s' "$out" | tail -3)"
	if awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }'; then
		info "ok   exposure $score (at most 3.0)"
	else
		soft_fail "exposure $score > 3.0: $(printf '%s\n' "$out" | grep '✗' | head -10)"
	fi
	check_soft_failures
}
