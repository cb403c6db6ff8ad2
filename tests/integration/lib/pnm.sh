# shellcheck shell=bash
# Variables here are used by the scripts that source lib.sh.
# shellcheck disable=SC2034
# pnm-tc under test: running it (as root and unprivileged), attach and
# detach, its hooks, reading its JSON; the number assertions; snapshots of
# the system's state that an invocation must leave as it was.
# Part of lib.sh, which sources it.

# ---------------------------------------------------------------- pnm-tc ---

# pnm ARGS...: run the tool; sets PNM_RC, PNM_OUT, PNM_ERR (file contents).
PNM_RC=0 PNM_OUT='' PNM_ERR=''
pnm() {
	local o e
	o=$(mktemp) e=$(mktemp)
	# shellcheck disable=SC2153 # PNM_TC: set in lib.sh
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
