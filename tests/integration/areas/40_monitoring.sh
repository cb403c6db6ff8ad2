# shellcheck shell=bash
# Watching: show -t rates and its ends (signals, -t), the live view under
# tmux, --children, --details, and the events stream.

# ndjson_check FILE: every line of FILE is a JSON object; prints the count.
ndjson_check() {
	"$PNMT_PY" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    assert isinstance(json.loads(line), dict)
    n += 1
print(n)
' "$1"
}

# Rates: an iperf3 UDP sender limited to 20 Mbit/s, sampled by show -t with
# one-second intervals (NDJSON): its current rate matches iperf3's own
# report (payload converted to frames: 1400-byte datagrams are 1442-byte
# frames) within 5%, and the peak is never below the current rate. -t
# ends with the summary and exit 0.
test_watch_rates() {
	local dir pid rc lines want got bad sumout
	topo_up
	new_dir
	dir=$TEST_DIR
	iperf3_server "$dir"
	pnm_attach "$PNMT_IF0"
	iperf3 -u -c "$PNMT_IP1" -p "$PNMT_IPERF_PORT" -b 20M -l 1400 -t 7 -J >"$dir/iperf3.json" 2>&1 &
	pid=$!
	at_cleanup "kill_wait $pid"
	sleep 1.5
	"$PNM_TC" show -p "$pid" -t 4s -c 1 --json >"$dir/watch.ndjson" 2>"$dir/watch.err"
	rc=$?
	assert_eq "show -t 4s -c 1: exit" "$rc" 0
	wait "$pid" || fail "iperf3 failed: $(tail -3 "$dir/iperf3.json")"
	lines=$(ndjson_check "$dir/watch.ndjson") ||
		fail "show --json -t: not NDJSON: $(head -c 300 "$dir/watch.ndjson")"
	info "show -t 4s -c 1 --json: $lines lines"
	[ "$lines" -ge 4 ] || soft_fail "show -t 4s -c 1: $lines lines, want at least 3 samples and a summary"
	"$PNMT_PY" -c '
import json, sys
bps = json.load(open(sys.argv[1]))["end"]["sum"]["bits_per_second"]
want = bps / 8 * 1442 / 1400
lines = [json.loads(l) for l in open(sys.argv[2])]
samples = [l["processes"][sys.argv[3]] for l in lines if "processes" in l]
# The steady middle: not the first sample (iperf3 may start mid-interval).
cur = sorted(p["current"]["rate_out"] for p in samples[1:])
bad = [p for p in samples if p["peak"]["rate_out"] + 1e-6 < p["current"]["rate_out"]]
summary = lines[-1].get("summary", {}).get("processes", {}).get(sys.argv[3], {})
print(int(want), int(cur[len(cur) // 2]), len(bad), summary.get("bytes_out", 0))
' "$dir/iperf3.json" "$dir/watch.ndjson" "$pid" >"$dir/rates" 2>&1 ||
		fail "cannot read the rates: $(tail -2 "$dir/rates")"
	read -r want got bad sumout <"$dir/rates"
	info "iperf3: $(awk -v w="$want" 'BEGIN { printf "%.3f", w * 8 / 1e6 }') Mbit/s of frames; pnm-tc current rate_out (median): $(awk -v g="$got" 'BEGIN { printf "%.3f", g * 8 / 1e6 }') Mbit/s"
	assert_within 5 "current rate_out vs iperf3's own rate" "$got" "$want"
	assert_eq "samples whose peak is below the current rate" "$bad" 0
	[ "$sumout" -gt 0 ] || soft_fail "the -t summary has no bytes_out for iperf3 ($pid)"
	check_soft_failures
}

# Ctrl-C and SIGTERM end sampling with the summary and exit 0; -t too.
# show changes nothing.
test_watch_stop() {
	local dir p rc
	topo_up
	new_dir
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	small_snapshot >"$dir/pre"
	"$PNM_TC" show -c 0.5 >"$dir/int.out" 2>&1 &
	p=$!
	sleep 1.7
	kill -INT "$p"
	wait "$p"
	rc=$?
	assert_eq "show -c after SIGINT: exit" "$rc" 0
	grep -q '^summary over' "$dir/int.out" || soft_fail "no summary after SIGINT: $(tail -3 "$dir/int.out")"
	[ "$(grep -c '^PID ' "$dir/int.out")" -ge 3 ] ||
		soft_fail "show -c 0.5 for 1.7 s printed fewer than 2 snapshots: $(head -5 "$dir/int.out")"
	"$PNM_TC" show -c 0.5 --json >"$dir/term.out" 2>"$dir/term.err" &
	p=$!
	sleep 1.7
	kill -TERM "$p"
	wait "$p"
	rc=$?
	assert_eq "show -c --json after SIGTERM: exit" "$rc" 0
	ndjson_check "$dir/term.out" >/dev/null || soft_fail "show -c --json: not NDJSON"
	tail -1 "$dir/term.out" | grep -q '"summary"' || soft_fail "no JSON summary after SIGTERM"
	"$PNM_TC" show -t 1s >"$dir/t.out" 2>&1
	rc=$?
	assert_eq "show -t 1s: exit" "$rc" 0
	grep -q '^summary over' "$dir/t.out" || soft_fail "no summary after -t 1s"
	same_state small_snapshot "$dir/pre" "$dir/post"
	cmp -s "$dir/pre" "$dir/post" ||
		soft_fail "sampling changed the state: $(diff "$dir/pre" "$dir/post" | head -3 | tr '\n' '|')"
	check_soft_failures
}

# tmux_pane SESSION: the visible screen of a tmux session.
tmux_pane() { tmux capture-pane -p -t "$1" 2>/dev/null; }

# tmux_wait SESSION REGEX: wait up to 10 s for the screen to match.
tmux_wait() {
	local i
	for ((i = 0; i < 40; i++)); do
		tmux_pane "$1" | grep -q -- "$2" && return 0
		sleep 0.25
	done
	return 1
}

# The live view under tmux: rows, a sort change with 's', colour only
# without NO_COLOR, q ends with the summary and exit 0.
test_watch_live() {
	local dir srv cli s1 first
	topo_up
	new_dir
	dir=$TEST_DIR
	iperf3_server "$dir"
	# A second flow the other way: the peer sends to an iperf3 server here.
	iperf3 -s -1 -B "$PNMT_IP0" -p $((PNMT_IPERF_PORT + 1)) >"$dir/srv.log" 2>&1 9>&- &
	srv=$!
	at_cleanup "kill_wait $srv"
	wait_listen $((PNMT_IPERF_PORT + 1))
	pnm_attach "$PNMT_IF0"
	iperf3 -u -c "$PNMT_IP1" -p "$PNMT_IPERF_PORT" -b 10M -t 12 >/dev/null 2>&1 9>&- &
	cli=$!
	at_cleanup "kill_wait $cli"
	ip netns exec "$PNMT_NS" iperf3 -u -c "$PNMT_IP0" -p $((PNMT_IPERF_PORT + 1)) -b 3M -t 12 \
		>/dev/null 2>&1 9>&- &
	at_cleanup "kill_wait $!"
	s1=pnmt-live-$$
	at_cleanup "tmux kill-session -t $s1"
	tmux new-session -d -s "$s1" -x 160 -y 30 \
		"env -u NO_COLOR '$PNM_TC' show --watch 0.5 -i $PNMT_IF0; echo EXIT=\$?; sleep 30" ||
		fail "tmux failed"
	if ! tmux_wait "$s1" "^$srv " || ! tmux_wait "$s1" "^$cli "; then
		fail "the live view does not show both iperf3 processes: $(tmux_pane "$s1" | head -6 | tr '\n' '|')"
	fi
	sleep 1
	tmux_pane "$s1" >"$dir/screen1"
	info "live view: $(sed -n 3,5p "$dir/screen1" | tr -s ' ' | tr '\n' '|')"
	grep -q 'sort: total' "$dir/screen1" || soft_fail "header does not say 'sort: total': $(head -1 "$dir/screen1")"
	first=$(awk '/^PID /{getline; print $1; exit}' "$dir/screen1")
	assert_eq "first row sorted by total rate (the iperf3 client, 10M out)" "$first" "$cli"
	tmux capture-pane -e -p -t "$s1" | head -1 | grep -q $'\e\\[1;7m' ||
		soft_fail "no colour in the header on a terminal without NO_COLOR"
	tmux send-keys -t "$s1" s
	tmux_wait "$s1" 'sort: in ' || soft_fail "'s' did not change the sort: $(tmux_pane "$s1" | head -1)"
	sleep 1
	tmux_pane "$s1" >"$dir/screen2"
	first=$(awk '/^PID /{getline; print $1; exit}' "$dir/screen2")
	assert_eq "first row after 's' (sort: in): the iperf3 server receiving 3M" "$first" "$srv"
	tmux send-keys -t "$s1" q
	tmux_wait "$s1" '^EXIT=' || soft_fail "q did not end the live view"
	tmux_pane "$s1" >"$dir/screen3"
	grep -q '^summary over' "$dir/screen3" || soft_fail "no summary after q: $(tail -5 "$dir/screen3" | tr '\n' '|')"
	grep -q '^EXIT=0' "$dir/screen3" || soft_fail "live view exit after q: $(grep EXIT "$dir/screen3")"
	tmux kill-session -t "$s1"
	# NO_COLOR: the same view without any colour.
	tmux new-session -d -s "$s1" -x 160 -y 30 "NO_COLOR=1 '$PNM_TC' show --watch 0.5; sleep 30"
	tmux_wait "$s1" '^PID ' || soft_fail "NO_COLOR=1: no live view"
	if tmux capture-pane -e -p -t "$s1" | grep -q $'\e\\['; then
		soft_fail "NO_COLOR=1: escape sequences in the live view"
	else
		info "ok   NO_COLOR=1: no colour"
	fi
	check_soft_failures
}

# --children: a shell that forks curl twice; -p SHELL --children adds up
# to the capture of both downloads, after they all ended; -a sums them.
test_children() {
	local dir sh tbi tpi tbo tpo bi pi bo po
	peer_site
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	require_hooks pnm_fork
	capture_start "$dir/cap.pcap" "tcp port $PNMT_HTTP_PORT and host $PNMT_IP1"
	bash -c 'for i in 1 2; do (curl -s -g -o /dev/null --max-time 60 "$1"); done' sh "$PEER_URL" &
	sh=$!
	wait "$sh" || fail "the shell's downloads failed"
	capture_stop "$dir/cap.pcap"
	read -r tbi tpi tbo tpo _ _ < <(capture_sum "$dir/cap.pcap")
	pnm_json "$dir/show.json" -p "$sh" --children -a
	info "shell $sh, family: $(json_get "$dir/show.json" "' '.join(p['name'] + ' ' + k for k, p in d['processes'].items())")"
	read -r bi pi bo po < <(json_get "$dir/show.json" \
		"' '.join(str(d['aggregated'][k]) for k in ('bytes_in','packets_in','bytes_out','packets_out'))")
	assert_counts "shell and its children (aggregated): " "$bi $pi $bo $po" "$tbi $tpi $tbo $tpo"
	assert_eq "processes with traffic in the family" "$(json_get "$dir/show.json" "len(d['processes'])")" 2
	pnm show -p "$sh"
	[ "$PNM_RC" -eq 1 ] || soft_fail "show -p ENDED-SHELL without --children: exit $PNM_RC, want 1"
	check_soft_failures
}

# --details: one curl, two connections (IPv4 and IPv6) to the peer: each
# connection's tuple and bytes equal the capture of that flow; --by remote
# and --by proto add them up; tcp_connections/udp_connections count a live
# process's open sockets, and drop to 0 once it ended.
test_details() {
	local dir pid lport remote tbi tpi tbo tpo n hold
	peer_site
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	capture_start "$dir/cap.pcap" "tcp port $PNMT_HTTP_PORT"
	curl -s -g -o /dev/null "http://$PNMT_IP1:$PNMT_HTTP_PORT/file" \
		-o /dev/null "http://[$PNMT_IP6_1]:$PNMT_HTTP_PORT/file" &
	pid=$!
	wait "$pid" || fail "curl failed"
	capture_stop "$dir/cap.pcap"
	pnm_json "$dir/show.json" -p "$pid" --details
	json_get "$dir/show.json" "'\n'.join('%s %s %s %s %s %s %s %s' % (c['local'].rsplit(':', 1)[1], c['remote'], c['proto'], c['interface'], c['bytes_in'], c['packets_in'], c['bytes_out'], c['packets_out']) for c in d['processes']['$pid']['connections'])" >"$dir/conns"
	n=$(grep -c . "$dir/conns")
	assert_eq "connections of curl" "$n" 2
	while read -r lport remote proto ifn bi pi bo po; do
		info "connection :$lport -> $remote ($proto on $ifn): in ${bi}B/${pi}p out ${bo}B/${po}p"
		case $remote in
		"$PNMT_IP1:$PNMT_HTTP_PORT" | "[$PNMT_IP6_1]:$PNMT_HTTP_PORT") ;;
		*) soft_fail "unexpected remote end $remote" ;;
		esac
		assert_eq "protocol and interface of :$lport" "$proto $ifn" "tcp $PNMT_IF0"
		read -r tbi tpi tbo tpo _ _ < <(capture_sum "$dir/cap.pcap" 0 0 "tcp.port == $lport")
		assert_counts "connection :$lport vs its flow in the capture: " "$bi $pi $bo $po" \
			"$tbi $tpi $tbo $tpo"
	done <"$dir/conns"
	pnm_json "$dir/by.json" -p "$pid" --by remote
	read -r tbi _ tbo _ _ _ < <(capture_sum "$dir/cap.pcap" 0 0 "ip.addr == $PNMT_IP1")
	assert_within "$PNMT_TOL" "--by remote $PNMT_IP1: bytes_in" \
		"$(json_get "$dir/by.json" "d['by_remote']['$PNMT_IP1']['bytes_in']")" "$tbi"
	assert_within "$PNMT_TOL" "--by remote $PNMT_IP1: bytes_out" \
		"$(json_get "$dir/by.json" "d['by_remote']['$PNMT_IP1']['bytes_out']")" "$tbo"
	pnm_json "$dir/proto.json" -p "$pid" --by proto
	read -r tbi _ tbo _ _ _ < <(capture_sum "$dir/cap.pcap")
	assert_within "$PNMT_TOL" "--by proto tcp: bytes_in" \
		"$(json_get "$dir/proto.json" "d['by_proto']['tcp']['bytes_in']")" "$tbi"
	assert_eq "closed connections counted as open" \
		"$(json_get "$dir/show.json" "d['processes']['$pid']['current']['tcp_connections']")" 0

	# A live process with one TCP connection and one UDP socket in use.
	"$PNMT_PY" -c '
import socket, sys, time
t = socket.create_connection((sys.argv[1], int(sys.argv[2])))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x" * 10, (sys.argv[1], 9))
print("ready", flush=True)
time.sleep(4)
' "$PNMT_IP1" "$PNMT_HTTP_PORT" >"$dir/hold.out" 9>&- &
	hold=$!
	at_cleanup "kill_wait $hold"
	wait_ready "$dir/hold.out" "the holding process"
	sleep 0.3
	pnm_json "$dir/hold.json" -p "$hold"
	assert_eq "tcp_connections and udp_connections of a live process" \
		"$(json_get "$dir/hold.json" "'%d %d' % (d['processes']['$hold']['current']['tcp_connections'], d['processes']['$hold']['current']['udp_connections'])")" "1 1"
	kill_wait "$hold"
	sleep 0.3
	pnm_json "$dir/hold2.json" -p "$hold"
	assert_eq "connections after the process ended" \
		"$(json_get "$dir/hold2.json" "'%d %d' % (d['processes']['$hold']['current']['tcp_connections'], d['processes']['$hold']['current']['udp_connections'])")" "0 0"
	check_soft_failures
}

# events_start FILE ARGS...: pnm-tc events ARGS into FILE in the background,
# once it runs; sets EV_PID.
EV_PID=''
events_start() {
	local file=$1
	shift
	"$PNM_TC" events "$@" >"$file" 2>"$file.err" 9>&- &
	EV_PID=$!
	at_cleanup "kill_wait $EV_PID INT"
	# The producers are on once the reader holds its lock.
	sleep 1
	kill -0 "$EV_PID" 2>/dev/null || fail "pnm-tc events $* died: $(cat "$file.err")"
}

# events_stop: Ctrl-C the reader; its exit status in EV_RC.
EV_RC=''
events_stop() {
	sleep 0.3
	kill -INT "$EV_PID"
	wait "$EV_PID"
	EV_RC=$?
}

# pnm-tc events: the SEND events of a test program equal its own count of
# send() calls and bytes; EXEC and EXIT come with it; -p --children follows
# a shell's children and leaves out everybody else; the text lines have
# the documented shape; Ctrl-C prints the summary and exits 0.
test_events() {
	local dir pid own sh other
	peer_site
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	require_hooks pnm_send pnm_recv pnm_exec pnm_exit pnm_fork

	events_start "$dir/ev.ndjson" --json -n pnmt_traffic
	own=$("$PNMT_TRAFFIC" burst "$PNMT_IP1" 9 25 700) || fail "burst failed"
	read -r pid _ _ <<<"$own"
	events_stop
	assert_eq "events --json after Ctrl-C: exit" "$EV_RC" 0
	info "the program's own count: pid $pid sent $(echo "$own" | awk '{ print $3 " datagrams, " $2 " bytes" }')"
	"$PNMT_PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
pid = int(sys.argv[2])
sends = [e for e in ev if e.get("type") == "SEND" and e["pid"] == pid]
execs = [e for e in ev if e.get("type") == "EXEC" and e["pid"] == pid and e["comm"] == "pnmt_traffic"]
exits = [e for e in ev if e.get("type") == "EXIT" and e["pid"] == pid and e.get("exit_code") == 0]
summ = ev[-1]["summary"]
conn = [c for c in summ["connections"] if c["pid"] == pid]
print(len(sends), sum(e["bytes"] for e in sends), len(execs), len(exits), summ["lost"],
      conn[0]["sends"] if conn else -1, conn[0]["bytes_sent"] if conn else -1,
      len([e for e in ev if "type" in e and e["comm"] != "pnmt_traffic"]))
' "$dir/ev.ndjson" "$pid" >"$dir/ev.sum" 2>&1 || fail "cannot read the events: $(tail -2 "$dir/ev.sum")"
	read -r n bytes execs exits lost csends cbytes foreign <"$dir/ev.sum"
	assert_eq "SEND events and bytes vs the program's own sends" "$n $bytes" \
		"$(echo "$own" | awk '{ print $3, $2 }')"
	assert_eq "EXEC and EXIT (code 0) events of the program" "$execs $exits" "1 1"
	assert_eq "summary: sends and bytes of its connection" "$csends $cbytes" "$n $bytes"
	assert_eq "events lost" "$lost" 0
	assert_eq "events of other names with -n pnmt_traffic" "$foreign" 0

	# -p SHELL --children: the shell's burst, not an outsider's.
	bash -c 'sleep 1.5; "$1" burst "$2" 9 10 300; true' sh "$PNMT_TRAFFIC" "$PNMT_IP1" >"$dir/sh.out" &
	sh=$!
	events_start "$dir/ev2.ndjson" --json -p "$sh" --children
	other=$("$PNMT_TRAFFIC" burst "$PNMT_IP1" 9 7 100) || fail "burst failed"
	wait "$sh" || fail "the shell's burst failed"
	events_stop
	read -r pid _ _ <"$dir/sh.out"
	info "shell $sh ran burst as $pid; outsider $(echo "$other" | cut -d' ' -f1)"
	assert_eq "events -p SHELL --children: SEND events of the shell's program" \
		"$(json_sum_events "$dir/ev2.ndjson" SEND "$pid")" "10 3000"
	assert_eq "events -p SHELL --children: SEND events of the outsider" \
		"$(json_sum_events "$dir/ev2.ndjson" SEND "$(echo "$other" | cut -d' ' -f1)")" "0 0"

	# The text form.
	"$PNM_TC" events -n pnmt_traffic -t 2s >"$dir/ev.txt" 2>&1 9>&- &
	pid=$!
	sleep 1
	own=$("$PNMT_TRAFFIC" burst "$PNMT_IP1" 9 3 200)
	wait "$pid"
	assert_eq "events -t 2s: exit" "$?" 0
	n=$(grep -cE "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} SEND ${own%% *} pnmt_traffic 200 [0-9.]+:[0-9]+ -> 10\.231\.0\.2:9$" "$dir/ev.txt")
	assert_eq "text SEND lines 'TIME SEND PID COMM BYTES LOCAL -> REMOTE'" "$n" 3
	grep -q '^summary: ' "$dir/ev.txt" || soft_fail "no summary after -t: $(tail -3 "$dir/ev.txt")"

	# -i: a curl download routes through pnmt0, not through lo.
	pnm_attach lo
	events_start "$dir/ev3.ndjson" --json -n curl -i "$PNMT_IF0"
	pnm events -t 1s
	assert_eq "a second events reader: exit and message" \
		"$PNM_RC $(printf '%s' "$PNM_ERR" | grep -c "another 'pnm-tc events' (pid $EV_PID) is running")" "1 1"
	curl_download "$PEER_URL"
	events_stop
	read -r n bytes < <(json_sum_events "$dir/ev3.ndjson" RECV "$CURL_PID")
	info "events -i $PNMT_IF0: curl $CURL_PID received $bytes B in $n calls"
	assert_eq "events -i $PNMT_IF0: curl's received bytes (the 8 MiB file and headers) at least" \
		"$((bytes >= 8388608))" 1
	events_start "$dir/ev4.ndjson" --json -n curl -i lo
	curl_download "$PEER_URL"
	events_stop
	assert_eq "events -i lo (curl does not route through lo): curl's events" \
		"$(json_sum_events "$dir/ev4.ndjson" RECV "$CURL_PID")" "0 0"
	assert_eq "events -i lo: exit" "$EV_RC" 0
	check_soft_failures
}

# json_sum_events FILE TYPE PID: "count bytes" of PID's TYPE (SEND, RECV)
# events in an events --json FILE.
json_sum_events() {
	"$PNMT_PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
s = [e for e in ev if e.get("type") == sys.argv[2] and e["pid"] == int(sys.argv[3])]
print(len(s), sum(e["bytes"] for e in s))
' "$1" "$2" "$3"
}
