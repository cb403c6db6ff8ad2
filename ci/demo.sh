#!/usr/bin/env bash
# make demo: a throwaway veth/netns topology, pnm-tc attached to its root
# side, an 8 MiB HTTP download and a UDP burst, then pnm-tc's view of them.
# Everything is torn down on exit, also on failure or Ctrl-C. Needs root.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=../tests/integration/lib.sh source-path=SCRIPTDIR
. tests/integration/lib.sh

# In the demo a helper's failure ends the script (no test runner here).
PNMT_REASON_FILE=

main() {
	local dir curl_pid iperf_pid
	require_root || exit 1
	require_tools || exit 1
	[ -x "$PNM_TC" ] || { echo "no pnm-tc binary at $PNM_TC (run make)" >&2; exit 1; }
	take_lock || exit 1
	PNMT_TMP=$(mktemp -d /tmp/pnm-demo.XXXXXX)
	chmod 755 "$PNMT_TMP"
	at_cleanup "rm -rf '$PNMT_TMP'"

	echo "== topology: $PNMT_IF0 ($PNMT_IP0) <-> $PNMT_IF1 ($PNMT_IP1) in netns $PNMT_NS"
	topo_up
	dir=$(mktemp_dir) || fail "cannot make a temp dir"
	peer_nginx "$dir"
	nsx iperf3 -s -1 -B "$PNMT_IP1" -p "$PNMT_IPERF_PORT" >"$dir/iperf3-server.log" 2>&1 9>&- &
	at_cleanup "kill_wait $!"

	echo "== pnm-tc attach $PNMT_IF0"
	pnm_attach "$PNMT_IF0"

	echo "== curl: 8 MiB from http://$PNMT_IP1:$PNMT_HTTP_PORT/file"
	curl_download "http://$PNMT_IP1:$PNMT_HTTP_PORT/file"
	curl_pid=${CURL_PID:?}

	echo "== iperf3: 4 MiB UDP burst to $PNMT_IP1"
	wait_listen "$PNMT_IPERF_PORT" peer
	iperf3 -u -c "$PNMT_IP1" -p "$PNMT_IPERF_PORT" -b 20M -n 4M -l 1400 >"$dir/iperf3.log" 2>&1 &
	iperf_pid=$!
	wait "$iperf_pid" || fail "iperf3 failed: $(tail -3 "$dir/iperf3.log")"

	echo "== pnm-tc show   (curl is pid $curl_pid, iperf3 is pid $iperf_pid)"
	"$PNM_TC" show || fail "pnm-tc show failed"
	echo
	echo "== pnm-tc show -p $curl_pid,$iperf_pid -i $PNMT_IF0"
	"$PNM_TC" show -p "$curl_pid,$iperf_pid" -i "$PNMT_IF0" || fail "pnm-tc show -p failed"
	echo
	echo "== pnm-tc status"
	"$PNM_TC" status || fail "pnm-tc status failed"
	echo
	echo "== pnm-tc detach"
	pnm_detach "$PNMT_IF0"
	[ -z "$PNM_OUT" ] || printf '%s\n' "$PNM_OUT"
	echo "demo done"
}

trap run_cleanups EXIT
trap 'exit 130' INT TERM
main "$@"
