# shellcheck shell=bash
# Attribution by other paths into the stack: raw, ping and packet sockets,
# sendfile, splice, sendmmsg and the like, io_uring, and SCTP.

# Sockets that are neither TCP nor UDP, each a generator of our own that
# counts what it sent and received (above IP): echo requests on raw ICMP
# sockets and on ping sockets, IPv4 and IPv6; raw IP (protocol 253) echoed
# by the peer; frames injected on an AF_PACKET socket. Each process's
# figures equal its own count plus the headers, and the capture's for its
# protocol. The first send of a packet socket names its owner (no hook
# runs at its creation): its frames go to the unattributed bucket, l2.
test_other_sockets() {
	local dir out pkt pid sent ns got ng hdr bi pi bo po tbi tpi tbo tpo proto filter g f a b
	topo_up
	new_dir
	dir=$TEST_DIR
	local ping_range
	ping_range=$(sysctl -n net.ipv4.ping_group_range)
	at_cleanup "sysctl -qw net.ipv4.ping_group_range='$ping_range'"
	sysctl -qw net.ipv4.ping_group_range="0 0" || fail "cannot allow ping sockets"
	nsx "$PNMT_TRAFFIC" rawecho 253 300 >"$dir/echo" 9>&- &
	at_cleanup "kill_wait $!"
	wait_ready "$dir/echo" "the raw IP echo"
	pnm_attach "$PNMT_IF0"
	capture_start "$dir/cap.pcap" "not tcp and not udp"
	: >"$dir/gens"
	local icmp6="icmpv6.type == 128 or icmpv6.type == 129"
	# Generator|header bytes per packet (IP + Ethernet)|its capture filter.
	for g in "icmp $PNMT_IP1 raw 200 1000|34|icmp" "icmp $PNMT_IP6_1 raw 200 1000|54|$icmp6" \
		"icmp $PNMT_IP1 ping 200 1200|34|icmp" "icmp $PNMT_IP6_1 ping 200 1200|54|$icmp6" \
		"rawip $PNMT_IP1 253 200 900|34|ip.proto == 253"; do
		# shellcheck disable=SC2086
		out=$("$PNMT_TRAFFIC" ${g%%|*} 9>&-) || fail "pnmt_traffic ${g%%|*} failed"
		echo "$out|$g" >>"$dir/gens"
	done
	pkt=$("$PNMT_TRAFFIC" packet "$PNMT_IF0" 200 1000 9>&-) || fail "pnmt_traffic packet failed"
	capture_stop "$dir/cap.pcap"
	pnm_json "$dir/show.json"
	while IFS='|' read -r out g hdr filter; do
		read -r pid sent ns got ng <<<"$out"
		read -r bi pi bo po _ _ < <(json_procs "$dir/show.json" "$PNMT_IF0" "$pid")
		info "$g: pid $pid sent ${sent}B/$ns received ${got}B/$ng"
		assert_eq "$g: bytes out = its own count + headers" "$bo" $((sent + ns * hdr))
		assert_eq "$g: bytes in = its own count + headers" "$bi" $((got + ng * hdr))
		assert_eq "$g: packets in, out" "$pi $po" "$ng $ns"
	done <"$dir/gens"
	# Per protocol, its generators against the capture.
	for proto in "icmp|ICMP" "$icmp6|ICMPv6 echo" "ip.proto == 253|raw IP"; do
		filter=${proto%|*}
		read -r tbi tpi tbo tpo _ _ < <(capture_sum "$dir/cap.pcap" 0 0 "$filter")
		bi=0 bo=0
		while IFS='|' read -r out g hdr f; do
			[ "$f" = "$filter" ] || continue
			read -r pid _ _ _ _ <<<"$out"
			read -r a _ b _ _ _ < <(json_procs "$dir/show.json" "$PNMT_IF0" "$pid")
			bi=$((bi + a)) bo=$((bo + b))
		done <"$dir/gens"
		assert_eq "${proto#*|}: its processes vs the capture (in, out)" "$bi $bo" "$tbi $tbo"
	done
	# The packet socket: all but its first frame.
	read -r pid sent ns <<<"$pkt"
	read -r _ _ bo po _ _ < <(json_procs "$dir/show.json" "$PNMT_IF0" "$pid")
	# Their source address is not pnmt0's: the capture sees them "in".
	read -r tbi tpi _ _ _ _ < <(capture_sum "$dir/cap.pcap" 0 0 "eth.type == 0x88b5")
	assert_eq "AF_PACKET frames in the capture" "$tbi $tpi" "$sent $ns"
	if [ "$(hook_state pnm_send)" = active ]; then
		assert_eq "AF_PACKET sender: all frames after its first send" "$bo $po" "$((sent - sent / ns)) $((ns - 1))"
	else
		info "pnm_send is off here: the packet socket's frames stay unattributed"
	fi
	read -r a b < <(json_get "$dir/show.json" "d['unattributed']['by_proto']['l2']['bytes_out'], d['unattributed']['by_proto']['l2']['packets_out']" | tr -d '(),')
	assert_eq "AF_PACKET: the sender's and the unattributed l2 frames add up" "$((a + bo)) $((b + po))" "$sent $ns"
	# by_proto and overflow add up to the unattributed counters.
	json_get "$dir/show.json" "all(d['unattributed'][k] == d['overflow'][k] + sum(v[k] for v in d['unattributed']['by_proto'].values()) for k in ('bytes_in','bytes_out','packets_in','packets_out'))" >"$dir/sum"
	assert_eq "unattributed = overflow + by_proto" "$(cat "$dir/sum")" true
	check_soft_failures
}

# syscall_paths on|off "GENERATOR|SINK"...: traffic through other system
# calls and shapes of traffic, each generator of pnmt_traffic against its
# sink in the peer netns, both ends attached. Each generator's figures on
# pnmt0 and its sink's on the peer's interface equal the capture of its
# port, the capture's payload the generator's own count and the sink's, and
# both processes keep their own name.
syscall_paths() {
	local dir port mss_in=0 mss_out=0 i g ports=() gens=() sinks=() off=$1
	shift
	for g in "$@"; do
		gens+=("${g%|*}")
		sinks+=("${g#*|}")
	done
	topo_up
	new_dir
	dir=$TEST_DIR
	offloads "$off"
	pnm_attach "$PNMT_IF0"
	pnm_attach --netns "$PNMT_NS" "$PNMT_IF1"
	capture_start "$dir/cap.pcap" "host $PNMT_IP1"
	for i in "${!gens[@]}"; do
		port=$((PNMT_IPERF_PORT + i))
		ports+=("$port")
		# shellcheck disable=SC2086
		ip netns exec "$PNMT_NS" "$PNMT_TRAFFIC" ${sinks[$i]%% *} "$PNMT_IP1" "$port" \
			${sinks[$i]#* } >"$dir/sink$i" 9>&- &
		at_cleanup "kill_wait $!"
		wait_ready "$dir/sink$i" "the sink of ${gens[$i]}"
		g=${gens[$i]}
		# shellcheck disable=SC2086
		"$PNMT_TRAFFIC" ${g%% *} "$PNMT_IP1" "$port" ${g#* } >"$dir/gen$i" 9>&- ||
			fail "pnmt_traffic $g failed"
	done
	wait_file_lines "$dir" "${#gens[@]}"
	capture_stop "$dir/cap.pcap"
	if [ "$off" = on ]; then
		mss_in=$(capture_mss "$dir/cap.pcap" in)
		mss_out=$(capture_mss "$dir/cap.pcap" out)
	fi
	pnm_json "$dir/show.json"
	local gpid gb spid sb tbi tpi tbo tpo bi pi bo po payload proto
	for i in "${!gens[@]}"; do
		port=${ports[$i]}
		proto=tcp
		[ "${gens[$i]%% *}" = mmsg ] && proto=udp
		read -r gpid gb _ <"$dir/gen$i"
		read -r spid _ _ sb _ < <(grep -v '^ready' "$dir/sink$i")
		read -r tbi tpi tbo tpo _ _ < <(capture_sum "$dir/cap.pcap" "$mss_in" "$mss_out" "$proto.port == $port")
		# The payload once (a retransmission is on the wire, not in the
		# programs' counts): each TCP stream's sequence space past the
		# SYN (tshark's retransmission flag missed some on a busy host),
		# or UDP's lengths less their header.
		if [ $proto = tcp ]; then
			payload=$(tshark -r "$dir/cap.pcap" -Y "tcp.dstport == $port && tcp.len > 0" \
				-T fields -E separator=/t -e tcp.stream -e tcp.seq -e tcp.len 2>/dev/null |
				awk -F'\t' '{ e = $2 + $3; if (e > m[$1]) m[$1] = e }
					END { for (k in m) s += m[k] - 1; print s + 0 }')
		else
			payload=$(tshark -r "$dir/cap.pcap" -Y "udp.dstport == $port" -T fields \
				-e udp.length 2>/dev/null | awk '{ s += $1 - 8 } END { print s + 0 }')
		fi
		info "${gens[$i]}: pid $gpid sent ${gb}B; sink $spid got ${sb}B; capture in ${tbi}B/$tpi out ${tbo}B/$tpo, payload $payload"
		assert_eq "${gens[$i]}: payload in the capture = the generator's count = the sink's" "$payload $sb" "$gb $gb"
		read -r bi pi bo po _ _ < <(json_procs "$dir/show.json" "$PNMT_IF0" "$gpid")
		assert_eq "${gens[$i]}: the generator on $PNMT_IF0 = the capture" "$bi $pi $bo $po" "$tbi $tpi $tbo $tpo"
		read -r bi pi bo po _ _ < <(json_procs "$dir/show.json" "$PNMT_NS/$PNMT_IF1" "$spid")
		assert_eq "${gens[$i]}: its sink on $PNMT_NS/$PNMT_IF1 = the capture" "$bi $pi $bo $po" "$tbo $tpo $tbi $tpi"
		assert_eq "${gens[$i]}: the names of the generator and its sink" \
			"$(json_get "$dir/show.json" "d['processes']['$gpid']['name'] + ' ' + d['processes']['$spid']['name']")" \
			"pnmt_traffic pnmt_traffic"
	done
	check_soft_failures
}

# wait_file_lines DIR N: every sinkI of DIR has its result line (N sinks).
wait_file_lines() {
	local i t
	for ((i = 0; i < $2; i++)); do
		for ((t = 0; t < 100; t++)); do
			[ "$(grep -vc '^ready' "$1/sink$i")" -ge 1 ] && break
			sleep 0.1
		done
	done
}

# sendfile and splice of 2 MiB, 60 short connections one after another, 30
# at once, a slow drip, 2000 datagrams by sendmmsg read by recvmmsg.
SYSCALL_CASES=("sendfile 2097152|sink 1" "splice 2097152|sink 1" "conns 60 1 20000|sink 60"
	"conns 30 30 20000|sink 30" "drip 20 1000 50|sink 1" "mmsg 2000 1000|mrecv 2000")
test_syscall_paths() { syscall_paths off "${SYSCALL_CASES[@]}"; }
test_syscall_paths_offloads() { syscall_paths on "${SYSCALL_CASES[@]}"; }

# io_uring (liburing) each way, as the syscall paths above: 2 MiB by
# IORING_OP_SEND and IORING_OP_SENDMSG to a sink that reads; 4 connections
# of 500000 B, 2 at once, by send to a receiver by IORING_OP_ACCEPT and
# IORING_OP_RECV; 2 MiB from an SQPOLL ring to that receiver. Some of each
# side's sends and receives run in io-wq's worker threads (IOSQE_ASYNC) or
# the SQPOLL thread, threads of the same process (pnmt_traffic checks that
# they were there). SKIP where the kernel gives no io_uring.
io_uring_paths() {
	local out rc
	out=$("$PNMT_TRAFFIC" uprobe 2>&1 9>&-)
	rc=$?
	[ "$rc" -eq 4 ] && skip "${out#pnmt_traffic: }"
	[ "$rc" -eq 0 ] || fail "pnmt_traffic uprobe exited $rc: $out"
	syscall_paths "$1" "usend 2097152|sink 1" "conns 4 2 500000|urecv 4" \
		"usend 2097152 sqpoll|urecv 1"
}

test_io_uring() { io_uring_paths off; }
test_io_uring_offloads() { io_uring_paths on; }

# SCTP, on kernels that have it: a client here sends 300000 B to a server
# in the peer netns and reads 500000 B back on one association. No socket
# lookup exists for SCTP: the client's packets name it in pnm_rawflow, and
# the server's answers find it there. Its bytes both ways = the capture,
# exactly: its sent GSO packets too (each segment repeats the SCTP header,
# which the kernel's wire_len leaves out).
test_sctp() {
	local dir out pid sent got tbi tpi tbo tpo bi pi bo po
	topo_up
	new_dir
	dir=$TEST_DIR
	"$PNMT_PY" -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)' \
		2>/dev/null || skip "no SCTP in this kernel"
	nsx "$PNMT_PY" -c '
import socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
n = 0
while n < 300000:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
for _ in range(50):  # SCTP sends messages: 10000 B each
    c.sendall(b"s" * 10000)
c.close()
' "$PNMT_IP1" "$PNMT_IPERF_PORT" >"$dir/server" 9>&- &
	at_cleanup "kill_wait $!"
	wait_ready "$dir/server" "the SCTP server"
	pnm_attach "$PNMT_IF0"
	capture_start "$dir/cap.pcap" sctp
	out=$("$PNMT_PY" -c '
import os, socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
c.connect((sys.argv[1], int(sys.argv[2])))
for _ in range(30):
    c.sendall(b"c" * 10000)
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
c.close()
print(os.getpid(), 300000, n)
' "$PNMT_IP1" "$PNMT_IPERF_PORT" 9>&-) || fail "the SCTP client failed"
	sleep 0.5 # the association's shutdown
	capture_stop "$dir/cap.pcap"
	read -r pid sent got <<<"$out"
	[ "$got" = 500000 ] || fail "the SCTP client read $got of 500000 B"
	read -r tbi tpi tbo tpo _ _ < <(capture_sum "$dir/cap.pcap")
	pnm_json "$dir/show.json"
	read -r bi pi bo po _ _ < <(json_procs "$dir/show.json" "$PNMT_IF0" "$pid")
	info "SCTP client $pid sent $sent B, read $got B; capture in ${tbi}B/$tpi out ${tbo}B/$tpo"
	assert_eq "SCTP client: in and out = the capture" "$bi $pi $bo $po" "$tbi $tpi $tbo $tpo"
	check_soft_failures
}
