# shellcheck shell=bash
# The ingress flow cache (bpf/flows.bpf.h): connected and unconnected UDP
# receivers whose cached entries must end whenever the owner may change.

# The ingress flow cache (bpf/flows.bpf.h) against the receivers' own
# counts, UDP datagrams of 100 bytes (142 on the wire), each received once:
#  - a local port used by one process, closed, then bound again by another
#    for the same peer: each gets its own datagrams, none of the other's;
#  - a socket that connects to a second peer port: datagrams from the first
#    one after that are not its (the kernel drops them);
#  - 2000 connected sockets of one process, more flows than a CPU's 1024
#    entries, twice with a pause between (idle entries are taken for other
#    flows, their bytes moved to the maps): every byte on the process, and
#    its connections add up to its total.
test_flow_cache() {
	local dir srv pa=$((PNMT_IPERF_PORT + 2)) pb=$((PNMT_IPERF_PORT + 3))
	local lp=$((PNMT_IPERF_PORT + 4)) lp2=$((PNMT_IPERF_PORT + 5)) pid n got want
	topo_up
	new_dir
	dir=$TEST_DIR
	# The peer: "N" on a port answers N datagrams from that port; "N K"
	# on the second also sends K from the first.
	nsx "$PNMT_PY" -c '
import select, socket, sys
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind((sys.argv[1], int(sys.argv[2])))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.bind((sys.argv[1], int(sys.argv[3])))
print("ready", flush=True)
while True:
    for s in select.select([a, b], [], [])[0]:
        d, peer = s.recvfrom(64)
        f = d.split()
        for _ in range(int(f[0])):
            s.sendto(b"y" * 100, peer)
        for _ in range(int(f[1]) if len(f) > 1 else 0):
            a.sendto(b"z" * 100, peer)
' "$PNMT_IP1" "$pa" "$pb" >"$dir/srv.out" 9>&- &
	srv=$!
	at_cleanup "kill_wait $srv"
	wait_ready "$dir/srv.out" "the peer"
	pnm_attach "$PNMT_IF0"
	cat >"$dir/client.py" <<'EOF2'
import os, socket, sys, time
ip0, ip1, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def sock(lport=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if lport:  # (on ephemeral ports it would let two sockets share one)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip0, lport))
    s.settimeout(5)
    return s
def ask(s, port, req, n):
    s.connect((ip1, port))
    s.send(req)
    for _ in range(n):
        s.recv(256)
    return n
got = 0
if mode == "reuse":
    s = sock(int(sys.argv[4]))
    got = ask(s, int(sys.argv[5]), b"50", 50)
    s.close()
elif mode == "reconnect":
    s = sock(int(sys.argv[4]))
    got = ask(s, int(sys.argv[5]), b"50", 50)
    got += ask(s, int(sys.argv[6]), b"50 30", 50)
    time.sleep(0.5)  # the 30 from the first port arrive, and are dropped
elif mode == "many":
    socks = [sock() for _ in range(int(sys.argv[4]))]
    for s in socks:
        s.connect((ip1, int(sys.argv[5])))
    for rnd in range(2):
        for s in socks:
            s.send(b"3")
            for _ in range(3):
                s.recv(256)
            got += 3
        time.sleep(0.3)
print(os.getpid(), got, flush=True)
EOF2
	"$PNMT_PY" "$dir/client.py" "$PNMT_IP0" "$PNMT_IP1" reuse "$lp" "$pa" >"$dir/a.out" || fail "client a failed"
	"$PNMT_PY" "$dir/client.py" "$PNMT_IP0" "$PNMT_IP1" reuse "$lp" "$pa" >"$dir/b.out" || fail "client b failed"
	"$PNMT_PY" "$dir/client.py" "$PNMT_IP0" "$PNMT_IP1" reconnect "$lp2" "$pa" "$pb" >"$dir/c.out" ||
		fail "client c failed"
	"$PNMT_PY" "$dir/client.py" "$PNMT_IP0" "$PNMT_IP1" many 2000 "$pa" >"$dir/d.out" ||
		fail "client d failed"
	for c in a b c d; do
		read -r pid n <"$dir/$c.out"
		pnm_json "$dir/$c.json" -p "$pid" --details
		read -r got _ _ _ _ _ < <(json_procs "$dir/$c.json" "$PNMT_IF0" "$pid")
		want=$((n * 142))
		assert_eq "client $c (pid $pid, $n datagrams received): bytes_in" "$got" "$want"
		assert_eq "client $c: its connections' bytes_in add up to it" \
			"$(json_get "$dir/$c.json" "sum(c['bytes_in'] for c in d['processes']['$pid'].get('connections', []))")" \
			"$want"
	done
	check_soft_failures
}

# The receiver of test_udp_unconnected_cache: binds, counts what it gets,
# connects when told, and says its PID and count in files.
unconnected_receiver_py() {
	cat <<'EOF2'
import os, socket, sys
name, d, ip, port, reuse, sip, sport = sys.argv[1:8]
s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
if reuse == "1":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((ip, int(port)))
s.settimeout(0.05)
n, said, connected = 0, -1, False
def say(what, v):
    with open(f"{d}/{name}.{what}.tmp", "w") as f:
        f.write(f"{os.getpid()} {v}\n")
    os.rename(f"{d}/{name}.{what}.tmp", f"{d}/{name}.{what}")
say("ready", 0)
while not os.path.exists(f"{d}/{name}.stop"):
    if not connected and os.path.exists(f"{d}/{name}.connect"):
        s.connect((sip, int(sport)))
        connected = True
        say("connected", n)
    try:
        s.recv(2048)
        n += 1
    except socket.timeout:
        if n != said:
            say("n", n)
            said = n
say("n", n)
EOF2
}

# test_udp_unconnected_cache's check of one family (its dir, fam, port,
# sport, src, dst, any): each receiver's bytes, and its closed connection
# in --details.
unconnected_cache_check() {
	local r pid n got ends
	for r in r0 r1 r2 r3; do
		read -r pid n <"$dir/$fam$r.n"
		read -r got _ _ _ _ _ < <(json_procs "$dir/show$fam.json" "$PNMT_IF0" "$pid")
		# 100 B and the UDP, IP and Ethernet headers.
		assert_eq "IPv$fam: $r (pid $pid) received $n datagrams: bytes_in" "$got" \
			"$((n * (fam == 4 ? 142 : 162)))"
		# Closed, its connection is the socket's own: bound to the
		# wildcard address, r0 connected to the sender later.
		# Entries keyed by the sender once gave it the datagrams'
		# destination as its address.
		if [ $r = r0 ]; then ends="$dst $port $src $sport"; else ends="$any $port $any 0"; fi
		# shellcheck disable=SC2086
		read -r got ends < <("$PNMT_PY" - "$dir/details$fam.json" "$pid" $ends <<'EOF2'
import ipaddress, json, sys
f, pid, la, lp, ra, rp = sys.argv[1:]
p = json.load(open(f))["processes"].get(pid, {})
def ep(a, port):
    a = ipaddress.ip_address(a.strip("[]"))
    return "%s:%s" % (a if a.version == 4 else "[%s]" % a, port)
def conn(s):
    return ep(*s.rsplit(":", 1))
got = sorted({"%s>%s" % (conn(c["local"]), conn(c["remote"])) for c in p.get("connections", [])})
print(",".join(got) or "none", "%s>%s" % (ep(la, lp), ep(ra, rp)))
EOF2
)
		assert_eq "IPv$fam: $r's closed connection in --details" "$got" "$ends"
	done
}

# Unconnected UDP receivers get flow-cache entries by sender (after
# PNM_UNCONN_MIN packets); every change that may send a sender's packets to
# another socket ends them. One sender tuple throughout; each receiver
# counts what it got, and pnm-tc must give each exactly that. The receivers
# share the port (SO_REUSEADDR), the newest one taking what is sent:
#  r0 then r1 bind: r1 gets the packets, from the cache after 16;
#  r2 binds: r2 gets them (the bind ends r1's entries);
#  r0, which never received, connects to the sender: r0 gets them (the
#  connect ends r2's); r0 closes: r2 gets them again;
#  r1 and r2 close, r3 binds (no SO_REUSEADDR): r3 gets them (r2's close
#  ends its entries).
# Closed, each one's connection in --details is its socket's: the wildcard
# address and its port (r0: the sender, whom it connected to).
# Over IPv4, then IPv6 (receivers bound to ::, the peer's address v6).
test_udp_unconnected_cache() {
	local dir port sport want r n pid got fam any src dst ends
	local -A rpids=()
	topo_up
	new_dir
	dir=$TEST_DIR
	pnm_attach "$PNMT_IF0"
	unconnected_receiver_py >"$dir/recv.py"
	# recv_start NAME REUSE: a receiver on the port; its PID in rpids.
	recv_start() {
		local any=0.0.0.0 sip=$PNMT_IP1
		[ "$fam" = 6 ] && any=:: sip=$PNMT_IP6_1
		"$PNMT_PY" "$dir/recv.py" "$fam$1" "$dir" "$any" "$port" "$2" "$sip" "$sport" 9>&- &
		at_cleanup "kill_wait $!"
		rpids[$1]=$!
		wait_file "$dir/$fam$1.ready" "receiver $1 (IPv$fam)"
	}
	# batch N: N datagrams of 100 B from the peer's fixed port, then wait
	# until the receivers have counted them all. Always from CPU 0: each
	# CPU has its own entries, and a stale one is only met on its CPU. No
	# SO_REUSEADDR: its bind would end every entry itself.
	batch() {
		local i t src=$PNMT_IP1 dst=$PNMT_IP0
		[ "$fam" = 6 ] && src=$PNMT_IP6_1 dst=$PNMT_IP6_0
		nsx taskset -c 0 "$PNMT_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
for _ in range(int(sys.argv[5])):
    s.sendto(b"u" * 100, (sys.argv[3], int(sys.argv[4])))
' "$src" "$sport" "$dst" "$port" "$1" 9>&- || fail "sender failed"
		want=$((want + $1))
		for ((i = 0; i < 100; i++)); do
			t=$(cat "$dir/$fam"r*.n 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
			[ "$t" -ge "$want" ] && return 0
			sleep 0.05
		done
		fail "receivers counted $t of $want datagrams (IPv$fam)"
	}
	for fam in 4 6; do
		port=$((PNMT_IPERF_PORT + 6 + fam)) sport=$((PNMT_IPERF_PORT + 16 + fam)) want=0
		any=0.0.0.0 src=$PNMT_IP1 dst=$PNMT_IP0
		[ "$fam" = 6 ] && any=:: src=$PNMT_IP6_1 dst=$PNMT_IP6_0
		recv_start r0 1
		recv_start r1 1
		batch 100
		# The cache took the flow: a live entry by the sender's tuple.
		n=$(bpftool map dump pinned /sys/fs/bpf/pnm-tc/pnm_flows -j 2>/dev/null |
			"$PNMT_PY" -c '
import json, sys
fam = {"4": 2, "6": 10}[sys.argv[1]]
n = 0
for e in json.load(sys.stdin):
    v = e.get("formatted", e).get("value", {})
    n += bool(v.get("ugen") and v.get("live") and v.get("t", {}).get("family") == fam)
print(n)' "$fam")
		[ "${n:-0}" -ge 1 ] || fail "no live flow-cache entry for the unconnected receiver (IPv$fam)"
		info "ok   IPv$fam: live flow-cache entries of unconnected sockets after 100 datagrams: $n"
		recv_start r2 1
		batch 100
		touch "$dir/${fam}r0.connect"
		wait_file "$dir/${fam}r0.connected" "r0's connect (IPv$fam)"
		batch 100
		touch "$dir/${fam}r0.stop"
		wait "${rpids[r0]}" 2>/dev/null
		batch 100
		touch "$dir/${fam}r1.stop" "$dir/${fam}r2.stop"
		for r in r1 r2; do
			wait "${rpids[$r]}" 2>/dev/null
		done
		recv_start r3 0
		batch 100
		touch "$dir/${fam}r3.stop"
		wait "${rpids[r3]}" 2>/dev/null
		pnm_json "$dir/show$fam.json"
		pnm_json "$dir/details$fam.json" -d
		unconnected_cache_check
	done
	check_soft_failures
}
