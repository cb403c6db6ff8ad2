# shellcheck shell=bash
# Faults and hardening: attach killed half-way, interfaces deleted or
# detached while in use, 500 attach/detach cycles, concurrent invocations,
# the binary's and pins' hardening, valgrind, hostile process names, full
# maps, and leaving other tools' TC, tcx and bpffs state as it was.

# kill -9 of attach at several points of its work: the next attach and
# detach recover, and nothing of pnm-tc is left (programs, links, maps,
# pins, filters, the bpffs mount it made).
test_fault_kill_attach() {
	local dir d p
	topo_up
	new_dir
	dir=$TEST_DIR
	state_snapshot >"$dir/pristine"
	for d in 0.002 0.01 0.02 0.03 0.04 0.06 0.08 0.1 0.15 0.25; do
		"$PNM_TC" attach "$PNMT_IF0" >/dev/null 2>&1 &
		p=$!
		sleep "$d"
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		pnm attach "$PNMT_IF0"
		[ "$PNM_RC" -eq 0 ] || soft_fail "attach after kill -9 at ${d}s: exit $PNM_RC: $PNM_ERR"
		[ "$(count_our_hooks "$PNMT_IF0" ingress)" -eq 1 ] ||
			soft_fail "after kill -9 at ${d}s and attach: not one filter on ingress"
		pnm detach
		[ "$PNM_RC" -eq 0 ] || soft_fail "detach after kill -9 at ${d}s: exit $PNM_RC: $PNM_ERR"
		if same_state state_snapshot "$dir/pristine" "$dir/after"; then
			info "ok   kill -9 after ${d}s: attach + detach recovered, nothing left"
		else
			soft_fail "kill -9 after ${d}s: state differs after recovery: $(diff "$dir/pristine" "$dir/after" | grep '^[<>]' | head -4 | tr '\n' '|')"
		fi
	done
	check_soft_failures
}

# The interface is deleted while attached: status says so, detach cleans
# up; re-created, it can be attached again and counts.
# One interface detached while another stays attached, then attached again
# (it gets the same slot back): a socket that lives through it starts from
# zero there. Its bytes of before the detach were dropped from its own
# counters too, and do not come back.
test_detach_slot_reuse() {
	local dir sender fifo n
	topo_up
	new_dir
	dir=$TEST_DIR
	pnm_attach lo
	pnm_attach "$PNMT_IF0"
	fifo=$dir/fifo
	mkfifo "$fifo"
	# One UDP socket sending N 100-byte datagrams per line read (unconnected:
	# the peer's port unreachable replies do not fail the sends); "c N"
	# sends them on a socket of its own and closes it.
	"$PNMT_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in sys.stdin:
    f = line.split()
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if f[0] == "c" else s
    for _ in range(int(f[-1])):
        t.sendto(b"x" * 100, (sys.argv[1], 9))
    if t is not s:
        t.close()
    print("sent", flush=True)
' "$PNMT_IP1" <"$fifo" >"$dir/out" 9>&- &
	sender=$!
	at_cleanup "kill_wait $sender"
	exec 7>"$fifo"
	at_cleanup "exec 7>&-"
	# sent_wait N: the sender reported N batches.
	sent_wait() {
		for ((n = 0; n < 50; n++)); do
			[ "$(grep -c sent "$dir/out")" -ge "$1" ] && return 0
			sleep 0.1
		done
		fail "the sender did not send batch $1"
	}
	echo 30 >&7
	sent_wait 1
	# A closed connection too: its counters are in pnm_conn.
	echo c 10 >&7
	sent_wait 2
	pnm_json "$dir/a.json" -p "$sender" -i "$PNMT_IF0"
	assert_eq "bytes_out of 30 + 10 datagrams" \
		"$(json_get "$dir/a.json" "d['processes']['$sender']['current']['bytes_out']")" \
		$((40 * 142))
	pnm_detach "$PNMT_IF0"
	pnm_attach "$PNMT_IF0"
	echo 20 >&7
	sent_wait 3
	pnm_json "$dir/b.json" -p "$sender" -i "$PNMT_IF0" -d
	assert_eq "bytes_out after detach and attach again: the 20 datagrams since" \
		"$(json_get "$dir/b.json" "d['processes']['$sender']['current']['bytes_out']")" \
		$((20 * 142))
	assert_eq "its connection's bytes_out, one row" \
		"$(json_get "$dir/b.json" "' '.join(str(c['bytes_out']) for c in d['processes']['$sender']['connections'])")" \
		$((20 * 142))
	check_soft_failures
}

test_fault_iface_deleted() {
	local dir bi
	topo_up
	new_dir
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	ip link del dev "$PNMT_IF0" || fail "ip link del failed"
	pnm status
	assert_eq "status after the interface was deleted: exit" "$PNM_RC" 0
	printf '%s\n' "$PNM_OUT" | grep -q "^  $PNMT_IF0 .*GONE" ||
		soft_fail "status does not say $PNMT_IF0 is gone: $PNM_OUT"
	pnm show
	printf '%s' "$PNM_ERR" | grep -q "$PNMT_IF0 no longer exists" ||
		soft_fail "show does not warn about the deleted interface: $PNM_ERR"
	pnm detach
	assert_eq "detach of the deleted interface: exit" "$PNM_RC" 0
	[ -e /sys/fs/bpf/pnm-tc ] && soft_fail "detach left /sys/fs/bpf/pnm-tc"
	if ! { ip link add "$PNMT_IF0" type veth peer name "$PNMT_IF1" netns "$PNMT_NS" &&
		ip addr add "$PNMT_IP0/24" dev "$PNMT_IF0" && ip link set "$PNMT_IF0" up &&
		nsx ip addr add "$PNMT_IP1/24" dev "$PNMT_IF1" && nsx ip link set "$PNMT_IF1" up; }; then
		fail "cannot re-create $PNMT_IF0"
	fi
	pnm_attach "$PNMT_IF0"
	udp_hold 0.0.0.0 "$PNMT_IPERF_PORT" 3
	wait_listen "$PNMT_IPERF_PORT" root udp
	nsx "$PNMT_TRAFFIC" burst "$PNMT_IP0" "$PNMT_IPERF_PORT" 10 500 >/dev/null 9>&- || fail "burst failed"
	pnm_json "$dir/show.json" -p "$HOLD_PID"
	read -r bi _ _ _ _ _ < <(json_procs "$dir/show.json" "$PNMT_IF0" "$HOLD_PID")
	assert_eq "the re-created interface counts: bytes_in of the receiver" "$bi" "$(udp_wire 5000 10)"
	check_soft_failures
}

# bpf_census: pnm-tc's programs, maps and links in the kernel, its pins,
# and the kernel's unreclaimable slab (kB).
bpf_census() {
	printf '%s %s %s %s %s\n' \
		"$(bpftool prog show 2>/dev/null | grep -c ' name pnm_')" \
		"$(bpftool map show 2>/dev/null | grep -c ' name pnm_')" \
		"$(bpftool link show 2>/dev/null | grep -c 'prog ')" \
		"$(find /sys/fs/bpf -mindepth 1 2>/dev/null | grep -c pnm)" \
		"$(awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo)"
}

# 500 attach/detach cycles leave no growth: programs, maps, links, pins
# and kernel memory (unreclaimable slab within 8 MiB: a leak of even
# 16 KiB per cycle would show) as before. Small maps: making the default
# ones (three LRU maps of 65536 entries filled at creation) was a quarter
# of each cycle, and the same code runs at any size.
test_fault_cycles() {
	local dir i before after fds0 fds1 t0
	topo_up
	new_dir
	dir=$TEST_DIR
	read -r -a before < <(bpf_census)
	fds0=$(awk '{ print $1 }' /proc/sys/fs/file-nr)
	t0=$(date +%s%N)
	for ((i = 1; i <= 500; i++)); do
		"$PNM_TC" attach --max-processes 1024 --max-sockets 1024 "$PNMT_IF0" >/dev/null 2>"$dir/err" ||
			fail "cycle $i: attach: $(cat "$dir/err")"
		"$PNM_TC" detach >/dev/null 2>"$dir/err" || fail "cycle $i: detach: $(cat "$dir/err")"
	done
	info "500 cycles in $((($(date +%s%N) - t0) / 1000000)) ms"
	# Programs and maps go after an RCU grace period.
	for ((i = 0; i < 50; i++)); do
		read -r -a after < <(bpf_census)
		[ "${after[*]:0:4}" = "${before[*]:0:4}" ] && break
		sleep 0.2
	done
	fds1=$(awk '{ print $1 }' /proc/sys/fs/file-nr)
	info "before: progs ${before[0]} maps ${before[1]} links ${before[2]} pins ${before[3]} slab ${before[4]} kB, files $fds0"
	info "after:  progs ${after[0]} maps ${after[1]} links ${after[2]} pins ${after[3]} slab ${after[4]} kB, files $fds1"
	assert_eq "programs, maps, links, pins after 500 cycles" "${after[*]:0:4}" "${before[*]:0:4}"
	[ $((after[4] - before[4])) -lt 8192 ] ||
		soft_fail "unreclaimable slab grew by $((after[4] - before[4])) kB over 500 cycles"
	[ $((fds1 - fds0)) -lt 256 ] || soft_fail "open files grew by $((fds1 - fds0)) over 500 cycles"
	check_soft_failures
}

# Concurrent invocations wait for the lock and say who holds it; both
# complete, and the state is consistent.
test_lock_concurrent() {
	local dir p rc
	topo_up
	new_dir
	dir=$TEST_DIR
	mkdir -p /run/pnm-tc
	exec 8>>/run/pnm-tc/lock
	flock 8 || fail "cannot take the lock"
	echo "$BASHPID" >/run/pnm-tc/lock
	at_cleanup "'$PNM_TC' detach $PNMT_IF0 lo"
	# 8>&-: the waiting commands must not share the held lock's file.
	"$PNM_TC" attach "$PNMT_IF0" >"$dir/a.out" 2>"$dir/a.err" 8>&- &
	p=$!
	"$PNM_TC" attach lo >"$dir/b.out" 2>"$dir/b.err" 8>&- &
	sleep 1
	kill -0 "$p" 2>/dev/null || soft_fail "attach did not wait for the held lock: $(cat "$dir/a.err")"
	grep -q "waiting for another pnm-tc (pid $BASHPID) that holds /run/pnm-tc/lock" "$dir/a.err" ||
		soft_fail "the waiting attach does not name the holder: $(cat "$dir/a.err")"
	exec 8>&-
	wait "$p"
	rc=$?
	assert_eq "the waiting attach, once the lock is free: exit" "$rc" 0
	wait
	pnm status
	for h in "$PNMT_IF0" lo; do
		printf '%s\n' "$PNM_OUT" | grep -Eq "^  $h .*ingress $PNMT_HOOK_RE ok, egress $PNMT_HOOK_RE ok" ||
			soft_fail "$h should be attached: $PNM_OUT"
	done
	for h in ingress egress; do
		[ "$(count_our_hooks "$PNMT_IF0" "$h")" -eq 1 ] || soft_fail "$PNMT_IF0 $h: not exactly one filter"
	done
	pnm detach
	assert_eq "detach after concurrent attaches: exit" "$PNM_RC" 0
	check_soft_failures
}

# Hardening: the binary (PIE, full RELRO, stack protector, FORTIFY, no
# shell), root-only pins by default and group-readable with --group, and a
# pin directory that is a symlink or somebody else's is refused.
test_hardening() {
	local dir bin mounted=0 syms modes
	topo_up
	new_dir
	dir=$TEST_DIR
	bin=$PNM_TC
	readelf -h "$bin" | grep -q 'Type:.*DYN' || soft_fail "not a PIE: $(readelf -h "$bin" | grep Type:)"
	readelf -l "$bin" | grep -q GNU_RELRO || soft_fail "no RELRO segment"
	readelf -d "$bin" | grep -Eq 'BIND_NOW|FLAGS_1.*NOW' || soft_fail "RELRO is not full (no BIND_NOW)"
	syms=$(nm -D --undefined-only "$bin")
	grep -q '__stack_chk_fail' <<<"$syms" || soft_fail "no stack protector"
	grep -Eq '__[a-z]+_chk' <<<"$syms" || soft_fail "no _FORTIFY_SOURCE checks"
	if grep -Ew 'system|popen|execv|execve|execvp|execl|execlp|posix_spawn|posix_spawnp' <<<"$syms"; then
		soft_fail "the binary can run other programs: $(grep -Ew 'system|popen|exec[a-z]*|posix_spawnp?' <<<"$syms" | tr '\n' ' ')"
	else
		info "ok   PIE, full RELRO, stack protector, FORTIFY; no system/popen/exec"
	fi
	# Default modes.
	pnm_attach "$PNMT_IF0"
	modes=$(stat -c '%a %U' /sys/fs/bpf/pnm-tc /sys/fs/bpf/pnm-tc/* | sort -u | tr '\n' ' ')
	assert_eq "modes of the pin directory and pins" "$modes" "600 root 700 root "
	pnm_detach "$PNMT_IF0"
	pnm_attach --group adm "$PNMT_IF0"
	modes=$(stat -c '%a %G' /sys/fs/bpf/pnm-tc /sys/fs/bpf/pnm-tc/* | sort -u | tr '\n' ' ')
	assert_eq "modes with --group adm" "$modes" "640 adm 750 adm "
	pnm_detach "$PNMT_IF0"
	# A pin directory that is a symlink, or somebody else's.
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf || fail "cannot mount bpffs"
		mounted=1
	fi
	mkdir -p /sys/fs/bpf/pnmt-victim-$$
	at_cleanup "rm -rf /sys/fs/bpf/pnm-tc /sys/fs/bpf/pnmt-victim-$$; [ $mounted = 1 ] && umount /sys/fs/bpf"
	ln -s /sys/fs/bpf/pnmt-victim-$$ /sys/fs/bpf/pnm-tc
	mkdir /sys/fs/bpf/pnmt-victim-$$/keep
	for c in attach detach; do
		if [ $c = attach ]; then pnm attach "$PNMT_IF0"; else pnm detach; fi
		if [ "$PNM_RC" -eq 1 ] && printf '%s' "$PNM_ERR" | grep -q 'refusing /sys/fs/bpf/pnm-tc: it is a symbolic link'; then
			info "ok   $c with a symlinked pin directory -> 1: $PNM_ERR"
		else
			soft_fail "$c with a symlinked pin directory: exit $PNM_RC: $PNM_ERR"
		fi
	done
	[ -d /sys/fs/bpf/pnmt-victim-$$/keep ] || soft_fail "the symlink's target was emptied"
	[ "$(count_our_hooks "$PNMT_IF0" ingress)" -eq 0 ] || soft_fail "a refused attach left a filter"
	rm /sys/fs/bpf/pnm-tc
	mkdir /sys/fs/bpf/pnm-tc && chown 65534 /sys/fs/bpf/pnm-tc
	pnm attach "$PNMT_IF0"
	if [ "$PNM_RC" -eq 1 ] && printf '%s' "$PNM_ERR" | grep -q 'it is not owned by root'; then
		info "ok   attach with a pin directory owned by nobody -> 1: $PNM_ERR"
	else
		soft_fail "attach with a pin directory owned by nobody: exit $PNM_RC: $PNM_ERR"
	fi
	rmdir /sys/fs/bpf/pnm-tc
	check_soft_failures
}

# show, status and events run clean under valgrind (errors and definite
# or indirect leaks; valgrind.supp: valgrind's own model of bpf(2)).
test_valgrind() {
	local dir c
	peer_site
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	curl_download "$PEER_URL"
	for c in "show" "show -d --json" "show --by remote" "status" "show -c 0.3 -t 1s --json" \
		"events -t 1s"; do
		# shellcheck disable=SC2086
		if valgrind -q --suppressions="$PNMT_TESTS_DIR/valgrind.supp" --error-exitcode=99 \
			--leak-check=full --errors-for-leak-kinds=definite,indirect \
			"$PNM_TC" $c >/dev/null 2>"$dir/vg.err"; then
			info "ok   valgrind pnm-tc $c: clean"
		else
			soft_fail "valgrind pnm-tc $c: $(grep -E '==[0-9]+==' "$dir/vg.err" | head -4 | tr '\n' '|')"
		fi
	done
	check_soft_failures
}

# A process named with an escape sequence and a quote: escaped in the
# table, itself (valid) in the JSON.
test_escaped_name() {
	local dir pid
	topo_up
	new_dir
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	"$PNMT_PY" -c '
import ctypes, os, socket, sys
ctypes.CDLL(None).prctl(15, b"\x1b[31mev\"il\n", 0, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x" * 100, (sys.argv[1], 9))
print(os.getpid())
' "$PNMT_IP1" >"$dir/pid" || fail "the named sender failed"
	pid=$(cat "$dir/pid")
	pnm show -p "$pid"
	printf '%s\n' "$PNM_OUT" >"$dir/table"
	if grep -q $'\e' "$dir/table"; then
		soft_fail "raw escape in the table: $(cat -v "$dir/table")"
	fi
	grep -qF '\x1b[31mev"il\n' "$dir/table" || soft_fail "name not shown escaped: $(cat "$dir/table")"
	info "table: $(grep "^$pid " "$dir/table")"
	pnm_json "$dir/show.json" -p "$pid"
	assert_eq "name in the JSON" "$(json_get "$dir/show.json" "d['processes']['$pid']['name'] == '\x1b[31mev\"il\n'")" true
	check_soft_failures
}

# Map pressure: 10000 processes holding 100000 sockets at once each get
# their own bytes, exactly; with room for only 16 processes the rest counts
# as overflow, visibly, and all of it is still counted.
test_map_pressure() {
	local dir port=$PNMT_IPERF_PORT pid bytes n args=() got want tbo obo
	topo_up
	new_dir
	dir=$TEST_DIR

	# A known neighbour: no datagram waits for (or is dropped behind) ARP.
	ip neigh replace "$PNMT_IP1" lladdr "$(nsx cat "/sys/class/net/$PNMT_IF1/address")" \
		dev "$PNMT_IF0" || fail "cannot set the neighbour entry"
	pnm_attach "$PNMT_IF0"
	"$PNMT_TRAFFIC" many "$PNMT_IP1" "$port" 10000 10 100 >"$dir/many" 9>&- ||
		fail "10000 x 10 sockets failed"
	[ "$(grep -c . "$dir/many")" -eq 10000 ] || fail "not all 10000 processes reported"
	while read -r pid bytes n; do args+=("$pid $(udp_wire "$bytes" "$n")"); done <"$dir/many"
	pnm_json "$dir/show.json"
	read -r got want < <(own_bytes_out "$dir/show.json" "${args[@]}")
	assert_eq "100000 sockets open in 10000 processes: bytes_out on their own PIDs" "$got" "$want"
	assert_eq "no overflow" "$(json_get "$dir/show.json" "d['overflow']['bytes_out']")" 0
	pnm_detach "$PNMT_IF0"

	pnm_attach --max-processes 16 "$PNMT_IF0"
	capture_start "$dir/cap.pcap" "udp and dst port $port and host $PNMT_IP1"
	"$PNMT_TRAFFIC" many "$PNMT_IP1" "$port" 40 2 100 >"$dir/few" 9>&- || fail "40 x 2 sockets failed"
	capture_stop "$dir/cap.pcap"
	read -r _ _ tbo _ _ _ < <(capture_sum "$dir/cap.pcap")
	args=()
	while read -r pid bytes n; do args+=("$pid $(udp_wire "$bytes" "$n")"); done <"$dir/few"
	pnm_json "$dir/few.json" -i "$PNMT_IF0"
	read -r got want < <(own_bytes_out "$dir/few.json" "${args[@]}")
	obo=$(json_get "$dir/few.json" "d['overflow']['bytes_out']")
	[ "$obo" -gt 0 ] || soft_fail "16 slots for 40 senders, yet no overflow"
	assert_eq "senders' bytes: on their PIDs + overflow" "$((got + obo))" "$want"
	assert_eq "senders' own count vs capture" "$want" "$tbo"
	pnm status
	printf '%s\n' "$PNM_OUT" | grep -q OVERFLOW || soft_fail "status does not report the overflow"
	pnm show -i "$PNMT_IF0"
	printf '%s\n' "$PNM_ERR" | grep -q "map full" || soft_fail "show does not warn about the overflow"
	check_soft_failures
}

# attach_detach_round TAG HOW DIR [ATTACH_ARGS...]: attach twice, check one
# program of ours per hook (tcx: first in line), detach ("all" or "named"),
# and compare every snapshot with the one before.
attach_detach_round() {
	local tag=$1 how=$2 dir=$3 h n
	shift 3
	state_snapshot >"$dir/before-$tag"
	pnm_attach "$@" "$PNMT_IF0"
	pnm attach "$@" "$PNMT_IF0" || soft_fail "[$tag] second attach exited $PNM_RC: $PNM_ERR"
	for h in ingress egress; do
		n=$(count_our_hooks "$PNMT_IF0" "$h")
		[ "$n" -eq 1 ] || soft_fail "[$tag] $n programs of ours on $PNMT_IF0 $h after 2 attaches, want 1: $(tc filter show dev "$PNMT_IF0" "$h" | tr '\n' ' ') $("$PNMT_TCX" list "$PNMT_IF0" "$h" | tr '\n' ' ')"
		if [ "$*" = "--tc-hook clsact" ] || [ "${PNMT_TC_HOOK:-}" = clsact ]; then
			has_clsact "$PNMT_IF0" || soft_fail "[$tag] no clsact on $PNMT_IF0 while attached"
		else
			"$PNMT_TCX" list "$PNMT_IF0" "$h" | head -1 | grep -q " pnm_tc_$h\$" ||
				soft_fail "[$tag] pnm-tc is not first on $PNMT_IF0's tcx $h: $("$PNMT_TCX" list "$PNMT_IF0" "$h" | tr '\n' ' ')"
		fi
	done
	if [ "$tag" = foreign ]; then
		tc filter show dev "$PNMT_IF0" ingress | grep -q u32 ||
			soft_fail "[$tag] foreign ingress u32 filter gone while attached"
	fi
	if [ "$how" = all ]; then
		pnm detach || soft_fail "[$tag] detach exited $PNM_RC: $PNM_ERR"
	else
		pnm detach "$PNMT_IF0" || soft_fail "[$tag] detach $PNMT_IF0 exited $PNM_RC: $PNM_ERR"
	fi
	same_state state_snapshot "$dir/before-$tag" "$dir/after-$tag"
	if ! diff -u "$dir/before-$tag" "$dir/after-$tag" >"$dir/diff-$tag"; then
		info "[$tag] state differs after detach:"
		info "$(cat "$dir/diff-$tag")"
		soft_fail "[$tag] state after detach differs from before attach ($(grep -c '^[-+][^-+]' "$dir/diff-$tag") lines)"
	else
		info "ok   [$tag] all snapshots identical after detach ($(grep -c . "$dir/before-$tag") lines compared)"
	fi
}

# Our attach and detach leave everything else as it was: a clsact and its
# filters, another tool's tcx programs (which keep counting), bpffs.
test_attach_detach_no_trace() {
	local dir we_mounted=0 h n0 n1
	local -A foreign
	# shellcheck disable=SC2034 # read by pnm_attach (lib/pnm.sh)
	local PNMT_XDP=0 # TC's hooks, one per place (test_xdp_ingress: XDP's)
	topo_up
	new_dir
	dir=$TEST_DIR

	# 1. Pre-existing clsact with foreign u32 filters on both hooks: our
	# filters join it (clsact), or our programs go on tcx beside it.
	tc qdisc add dev "$PNMT_IF0" clsact || fail "tc qdisc add clsact failed"
	# u32 with a classid and no action (act_gact may be missing); on an
	# unused ethertype so it never matches and never hides a packet.
	tc filter add dev "$PNMT_IF0" ingress prio 7 protocol 0x88b5 u32 match u32 0 0 classid 1:1 ||
		fail "adding foreign ingress filter failed"
	tc filter add dev "$PNMT_IF0" egress prio 7 protocol 0x88b5 u32 match u32 0 0 classid 1:1 ||
		fail "adding foreign egress filter failed"
	attach_detach_round foreign all "$dir" --tc-hook clsact
	attach_detach_round foreign-tcx all "$dir"
	has_clsact "$PNMT_IF0" || soft_fail "[foreign] pre-existing clsact removed by detach"
	tc filter show dev "$PNMT_IF0" ingress | grep -q u32 || soft_fail "[foreign] foreign ingress filter removed"
	tc filter show dev "$PNMT_IF0" egress | grep -q u32 || soft_fail "[foreign] foreign egress filter removed"

	# 2. No clsact before: none after, nor while on tcx.
	tc qdisc del dev "$PNMT_IF0" clsact || fail "tc qdisc del clsact failed"
	attach_detach_round bare named "$dir" --tc-hook clsact
	has_clsact "$PNMT_IF0" && soft_fail "[bare] clsact left on $PNMT_IF0 after detach"
	PNMT_TC_HOOK='' pnm_attach "$PNMT_IF0"
	pnm status
	if printf '%s\n' "$PNM_OUT" | grep -q "^  $PNMT_IF0 .*ingress tcx ok"; then
		has_clsact "$PNMT_IF0" && soft_fail "[tcx] a clsact appeared on $PNMT_IF0 with the programs on tcx"
	fi
	pnm_detach "$PNMT_IF0"

	# 2b. A filter another tool adds to the clsact pnm-tc created keeps it
	# (and the filter) alive after detach.
	pnm_attach --tc-hook clsact "$PNMT_IF0"
	tc filter add dev "$PNMT_IF0" egress prio 3 protocol 0x88b5 u32 match u32 0 0 classid 1:1 ||
		fail "adding foreign egress filter failed"
	pnm_detach "$PNMT_IF0"
	has_clsact "$PNMT_IF0" || soft_fail "[shared] clsact holding a foreign filter was removed"
	tc filter show dev "$PNMT_IF0" egress | grep -q u32 || soft_fail "[shared] foreign filter removed"
	[ "$(count_our_hooks "$PNMT_IF0" egress)" -eq 0 ] || soft_fail "[shared] our filter left behind"
	tc qdisc del dev "$PNMT_IF0" clsact || fail "tc qdisc del clsact failed"

	# 2c. Another tool's tcx programs (one per hook, counting packets):
	# ours goes in front of them, they keep running through our attach
	# and detach, and stay where they were.
	for h in ingress egress; do
		foreign[$h]=$("$PNMT_TCX" add "$PNMT_IF0" "$h") || fail "cannot add a foreign tcx $h program"
	done
	attach_detach_round tcx-foreign named "$dir"
	for h in ingress egress; do
		"$PNMT_TCX" list "$PNMT_IF0" "$h" | grep -q "^${foreign[$h]} pnmt_foreign$" ||
			soft_fail "[tcx-foreign] the foreign $h program is gone"
	done
	pnm_attach "$PNMT_IF0"
	n0=$("$PNMT_TCX" count "${foreign[ingress]}")
	n1=$("$PNMT_TCX" count "${foreign[egress]}")
	"$PNMT_TRAFFIC" burst "$PNMT_IP1" $((PNMT_IPERF_PORT + 11)) 20 100 >/dev/null 2>&1
	nsx "$PNMT_TRAFFIC" burst "$PNMT_IP0" $((PNMT_IPERF_PORT + 11)) 20 100 >/dev/null 2>&1 9>&-
	pnm_detach "$PNMT_IF0"
	[ "$("$PNMT_TCX" count "${foreign[ingress]}")" -gt "$n0" ] ||
		soft_fail "[tcx-foreign] the foreign ingress program stopped counting while attached"
	[ "$("$PNMT_TCX" count "${foreign[egress]}")" -gt "$n1" ] ||
		soft_fail "[tcx-foreign] the foreign egress program stopped counting while attached"
	for h in ingress egress; do
		"$PNMT_TCX" del "$PNMT_IF0" "$h" "${foreign[$h]}" || soft_fail "cannot remove the foreign $h program"
	done

	# 3. bpffs mounted by someone else beforehand: stays mounted.
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf || fail "cannot mount bpffs"
		we_mounted=1
		at_cleanup "mountpoint -q /sys/fs/bpf && umount /sys/fs/bpf"
	fi
	attach_detach_round premounted all "$dir"
	mountpoint -q /sys/fs/bpf || soft_fail "[premounted] bpffs mounted before attach was unmounted by detach"
	if [ "$we_mounted" -eq 1 ]; then
		umount /sys/fs/bpf || soft_fail "cannot unmount the bpffs we mounted (busy?)"
	fi
	check_soft_failures
}
