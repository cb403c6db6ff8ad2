# shellcheck shell=bash
# pnm-tc history's command line, on databases filled by the store itself
# (tests/helpers/pnmt_storefill.c) or broken on purpose: exit codes, one
# line naming the file, empty periods, JSON that parses and adds up.

PNMT_STOREFILL=${PNMT_STOREFILL:-$PNMT_ROOT/.output/tests/pnmt_storefill}

# hist_case CODE TEXT ARGS...: pnm-tc history ARGS exits CODE with one
# stderr line holding TEXT, and prints nothing.
hist_case() {
	local code=$1 text=$2 lines
	shift 2
	pnm history "$@"
	lines=$(printf '%s' "$PNM_ERR" | grep -c '')
	if [ "$PNM_RC" -ne "$code" ]; then
		soft_fail "history $*: exit $PNM_RC, want $code (stderr: $PNM_ERR)"
	elif [ "$lines" -ne 1 ] || [[ $PNM_ERR != *"$text"* ]]; then
		soft_fail "history $*: stderr '$PNM_ERR', want one line with '$text'"
	elif [ -n "$PNM_OUT" ]; then
		soft_fail "history $*: stdout not empty: $(printf '%s' "$PNM_OUT" | head -c 200)"
	else
		info "ok   history $* -> $PNM_RC: $PNM_ERR"
	fi
}

# fill_db PATH: 3 days of 6 processes ending now (a second or two).
fill_db() {
	[ -x "$PNMT_STOREFILL" ] || fail "no $PNMT_STOREFILL: run make"
	"$PNMT_STOREFILL" "$1" 6 3 >/dev/null || fail "pnmt_storefill $1 failed"
}

# Bad arguments exit 2, bad databases 1, each with one line; none of them
# creates or changes a file.
test_history_errors() {
	local dir
	new_dir
	dir=$TEST_DIR
	hist_case 1 "$dir/none.db" --db "$dir/none.db"
	[ -e "$dir/none.db" ] && soft_fail "history created $dir/none.db"
	hist_case 2 "invalid time '2026-13-01'" --db "$dir/none.db" --from 2026-13-01
	hist_case 2 "invalid time" --db "$dir/none.db" --from today --to 'next week'
	hist_case 2 "invalid duration" --db "$dir/none.db" --since 3weeks
	hist_case 2 "--since goes without --from" --db "$dir/none.db" --since 1h --from today
	hist_case 2 "the period is empty" --db "$dir/none.db" --from today --to yesterday
	hist_case 2 "--by: use" --db "$dir/none.db" --by week
	printf 'not a database\n%.0s' $(seq 100) >"$dir/text.db"
	cp "$dir/text.db" "$dir/text.orig"
	hist_case 1 "$dir/text.db: not an SQLite database" --db "$dir/text.db"
	cmp -s "$dir/text.db" "$dir/text.orig" || soft_fail "history changed $dir/text.db"
	fill_db "$dir/new.db"
	sqlite3 "$dir/new.db" 'PRAGMA journal_mode = DELETE; PRAGMA user_version = 9' >/dev/null
	cp "$dir/new.db" "$dir/new.orig"
	hist_case 1 "$dir/new.db: schema version 9 is newer" --db "$dir/new.db"
	cmp -s "$dir/new.db" "$dir/new.orig" || soft_fail "history changed $dir/new.db"
	check_soft_failures
}

# A filled database: the table, JSON that parses, processes + unattributed
# = total per interface, per-day rows, an empty period (exit 0).
test_history_json() {
	local dir db
	new_dir
	dir=$TEST_DIR
	db=$dir/h.db
	fill_db "$db"
	assert_eq "integrity_check" "$(sqlite3 "$db" 'PRAGMA integrity_check')" ok
	pnm history --db "$db" --top 3
	[ "$PNM_RC" -eq 0 ] || fail "history: exit $PNM_RC: $PNM_ERR"
	assert_eq "table rows" "$(printf '%s\n' "$PNM_OUT" | grep -c '^proc[0-9] ')" 3
	printf '%s\n' "$PNM_OUT" | grep -q '^(iface total) *eth0 ' || soft_fail "no eth0 total: $PNM_OUT"
	pnm history --db "$db" --by iface --json
	[ "$PNM_RC" -eq 0 ] || fail "history --json: exit $PNM_RC: $PNM_ERR"
	printf '%s' "$PNM_OUT" >"$dir/iface.json"
	"$PNMT_PY" -m json.tool "$dir/iface.json" >/dev/null || fail "history --json: not JSON"
	json_get "$dir/iface.json" "sorted(d['interfaces'])" | grep -q "eth0" ||
		soft_fail "no eth0 in $(head -c 300 "$dir/iface.json")"
	assert_eq "processes + unattributed - total, per interface" "$(json_get "$dir/iface.json" \
		"[r['bytes_in'] + d['interfaces'][r['interface']]['unattributed']['bytes_in'] - d['interfaces'][r['interface']]['bytes_in'] for r in d['rows']]")" "[0, 0]"
	pnm history --db "$db" --by day --since 2d --json
	printf '%s' "$PNM_OUT" >"$dir/day.json"
	assert_eq "by day: keys of a row" "$(json_get "$dir/day.json" "sorted(d['rows'][0])")" \
		'["bytes_in", "bytes_out", "packets_in", "packets_out", "period"]'
	pnm history --db "$db" -n proc1 --json
	printf '%s' "$PNM_OUT" >"$dir/one.json"
	assert_eq "-n proc1" "$(json_get "$dir/one.json" "[(r['name'], r['unit'], r['uid']) for r in d['rows']]")" \
		'[["proc1", "app.service", 1001]]'
	pnm history --db "$db" --from 2020-01-01 --to 2020-01-02
	assert_eq "an empty period: exit" "$PNM_RC" 0
	[[ $PNM_OUT == "no traffic recorded from 2020-01-"* ]] || soft_fail "empty period: '$PNM_OUT'"
	pnm history --db "$db" --from 2020-01-01 --to 2020-01-02 --json
	printf '%s' "$PNM_OUT" >"$dir/empty.json"
	assert_eq "an empty period in JSON" "$(json_get "$dir/empty.json" "d['rows']")" "[]"
	check_soft_failures
}
