# shellcheck shell=bash
# Variables here are used by the scripts that source lib.sh.
# shellcheck disable=SC2034
# The ground truth: tshark captures of the test traffic and their sums in
# wire bytes and packets (super-packets expanded by MSS, retransmissions).
# Part of lib.sh, which sources it.

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

# UDP wire bytes of PAYLOAD bytes in DGRAMS datagrams over IPv4/Ethernet.
udp_wire() { echo $(($1 + $2 * 42)); }
