# shellcheck shell=bash
# The command line itself: make install with the man page and completion,
# bad arguments and unprivileged use (one line on stderr, no state change),
# show with nothing attached.

# complete_words FILE WORDS...: what completion FILE offers for the last
# of WORDS, as bash would call it.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));
		_pnm_tc; printf "%s\n" "${COMPREPLY[@]}"' sh "$@"
}

# make install puts the binary, the man page, the bash completion, the
# systemd unit and (once) the daemon's configuration in place; the man page
# renders without warnings; the completion offers the commands, the flags
# and the interfaces (also those of --netns); the configuration parses.
test_install_docs() {
	local dir out comp
	topo_up
	new_dir
	dir=$TEST_DIR
	make -s -C "$PNMT_ROOT" install DESTDIR="$dir/root" PREFIX=/usr >"$dir/install.log" 2>&1 ||
		fail "make install failed: $(tail -3 "$dir/install.log")"
	for f in sbin/pnm-tc share/man/man8/pnm-tc.8 share/bash-completion/completions/pnm-tc \
		lib/systemd/system/pnm-tc.service; do
		[ -s "$dir/root/usr/$f" ] || soft_fail "make install did not install /usr/$f"
	done
	grep -qx 'ExecStart=/usr/sbin/pnm-tc daemon' "$dir/root/usr/lib/systemd/system/pnm-tc.service" ||
		soft_fail "the installed unit does not start /usr/sbin/pnm-tc daemon"
	[ -s "$dir/root/etc/pnm-tc/pnm-tc.conf" ] || soft_fail "make install did not install /etc/pnm-tc/pnm-tc.conf"
	# The configuration is the admin's: a second install leaves it.
	echo '# mine' >>"$dir/root/etc/pnm-tc/pnm-tc.conf"
	make -s -C "$PNMT_ROOT" install DESTDIR="$dir/root" PREFIX=/usr >"$dir/install.log" 2>&1 ||
		fail "make install (again) failed: $(tail -3 "$dir/install.log")"
	tail -1 "$dir/root/etc/pnm-tc/pnm-tc.conf" | grep -qx '# mine' ||
		soft_fail "a second make install overwrote /etc/pnm-tc/pnm-tc.conf"
	# The default configuration is one the daemon reads.
	out=$("$dir/root/usr/sbin/pnm-tc" daemon --check --config "$dir/root/etc/pnm-tc/pnm-tc.conf" 2>&1) ||
		soft_fail "the installed configuration does not parse: $out"
	printf '%s\n' "$out" | grep -qx 'interval = 10s' ||
		soft_fail "daemon --check does not show the default interval: $out"
	out=$(groff -man -Tutf8 -ww -z "$dir/root/usr/share/man/man8/pnm-tc.8" 2>&1)
	[ -z "$out" ] || soft_fail "the man page has groff warnings: $out"
	man -l "$dir/root/usr/share/man/man8/pnm-tc.8" 2>/dev/null | grep -q -- '--children' ||
		soft_fail "the man page does not render or lacks --children"
	comp=$dir/root/usr/share/bash-completion/completions/pnm-tc
	assert_eq "completion of 'pnm-tc sh'" "$(complete_words "$comp" pnm-tc sh)" show
	complete_words "$comp" pnm-tc attach pnmt | grep -qx "$PNMT_IF0" ||
		soft_fail "completion of 'pnm-tc attach pnmt' lacks $PNMT_IF0"
	complete_words "$comp" pnm-tc attach --netns "$PNMT_NS" pnmt | grep -qx "$PNMT_IF1" ||
		soft_fail "completion of 'pnm-tc attach --netns NS pnmt' lacks $PNMT_IF1"
	complete_words "$comp" pnm-tc show --sort o | grep -qx out || soft_fail "completion of --sort"
	complete_words "$comp" pnm-tc show --chi | grep -qx -- --children ||
		soft_fail "completion of show flags"
	check_soft_failures
}

# bad_case CODE ARGS...: pnm-tc ARGS must exit CODE, one stderr line, empty
# stdout, no state change.
bad_case() {
	local code=$1 dir=$PNMT_BAD_DIR lines
	shift
	small_snapshot >"$dir/pre"
	pnm "$@"
	same_state small_snapshot "$dir/pre" "$dir/post"
	lines=$(printf '%s' "$PNM_ERR" | grep -c '')
	if [ "$PNM_RC" -ne "$code" ]; then
		soft_fail "pnm-tc $*: exit $PNM_RC, want $code (stderr: $PNM_ERR)"
	elif [ -z "$PNM_ERR" ] || [ "$lines" -ne 1 ]; then
		soft_fail "pnm-tc $*: stderr has $lines lines, want 1: $(printf '%s' "$PNM_ERR" | head -3 | tr '\n' '|')"
	elif [ -n "$PNM_OUT" ]; then
		soft_fail "pnm-tc $*: stdout not empty: $(printf '%s' "$PNM_OUT" | head -c 200)"
	elif ! cmp -s "$dir/pre" "$dir/post"; then
		soft_fail "pnm-tc $*: state changed: $(diff "$dir/pre" "$dir/post" | head -5 | tr '\n' '|')"
	else
		info "ok   pnm-tc $* -> $PNM_RC: $PNM_ERR"
	fi
}

# nobody_case ARGS...: unprivileged pnm-tc ARGS must fail and say why.
nobody_case() {
	local dir=$PNMT_BAD_DIR lines
	small_snapshot >"$dir/pre"
	pnm_as_nobody "$@"
	same_state small_snapshot "$dir/pre" "$dir/post"
	lines=$(printf '%s' "$PNM_ERR" | grep -c '')
	if [ "$PNM_RC" -eq 0 ]; then
		soft_fail "unprivileged pnm-tc $*: exit 0, want non-zero"
	elif [ "$lines" -ne 1 ]; then
		soft_fail "unprivileged pnm-tc $*: stderr has $lines lines, want 1: $(printf '%s' "$PNM_ERR" | head -3 | tr '\n' '|')"
	elif ! printf '%s' "$PNM_ERR" | grep -Eqi 'root|privileg|capabilit'; then
		soft_fail "unprivileged pnm-tc $*: stderr does not mention root/privilege/capability: $PNM_ERR"
	elif ! cmp -s "$dir/pre" "$dir/post"; then
		soft_fail "unprivileged pnm-tc $*: state changed: $(diff "$dir/pre" "$dir/post" | head -5 | tr '\n' '|')"
	else
		info "ok   unprivileged pnm-tc $* -> $PNM_RC: $PNM_ERR"
	fi
}

test_bad_inputs() {
	local dir long h n
	topo_up
	new_dir
	dir=$TEST_DIR
	PNMT_BAD_DIR=$dir
	state_snapshot >"$dir/pristine"
	pnm_attach "$PNMT_IF0"
	long=$(printf 'x%.0s' $(seq 40))

	bad_case 1 attach nosuchif0
	bad_case 2 attach "$long"
	bad_case 2 attach 'eth0;reboot'
	# Boundaries of the name rules: 15 characters of [A-Za-z0-9._@+-] are
	# valid syntax (so: no such interface, 1); 16 characters, ':' (which
	# Linux forbids) or a blank are not.
	bad_case 1 attach nosuchif0123456
	bad_case 2 attach nosuchif01234567
	bad_case 1 attach 'no.such_if@0+1-'
	bad_case 2 attach 'nosuch:if0'
	bad_case 2 attach 'nosuch if0'
	bad_case 2 show -p abc
	bad_case 2 show -p -5
	bad_case 2 show -p 1,,2
	bad_case 2 show -p 4294967296
	bad_case 2 frobnicate
	bad_case 2 show --bogus
	bad_case 2 attach --layer l4 "$PNMT_IF0"
	bad_case 2 attach --layer
	bad_case 2 attach --tc-hook bogus "$PNMT_IF0"
	bad_case 2 attach --tc-hook
	# The other place than the one it is attached at.
	bad_case 1 attach --tc-hook "$([ "${PNMT_TC_HOOK:-}" = clsact ] && echo tcx || echo clsact)" "$PNMT_IF0"
	bad_case 1 show -p 999999999
	bad_case 1 show -i nosuchif0

	bad_case 1 attach --netns nosuchns0 "$PNMT_IF1"
	bad_case 2 attach --netns
	bad_case 1 attach --netns /etc/hostname "$PNMT_IF1"
	bad_case 1 attach --netns "$PNMT_NS" nosuchif0
	bad_case 1 attach --xdp lo
	bad_case 2 detach 'ns/bad/name'
	bad_case 2 detach --netns "$PNMT_NS"
	bad_case 1 detach "$PNMT_IF1"
	bad_case 1 show -i "$PNMT_NS/$PNMT_IF1"
	nobody_case attach "$PNMT_IF0"
	nobody_case show
	nobody_case status

	# All-or-nothing attach.
	pnm_detach "$PNMT_IF0"
	pnm attach "$PNMT_IF0" nosuchif0
	if [ "$PNM_RC" -eq 0 ]; then
		soft_fail "pnm-tc attach $PNMT_IF0 nosuchif0: exit 0, want non-zero"
	else
		info "ok   pnm-tc attach $PNMT_IF0 nosuchif0 -> $PNM_RC: $PNM_ERR"
	fi
	for h in ingress egress; do
		n=$(count_our_hooks "$PNMT_IF0" "$h")
		[ "$n" -eq 0 ] || soft_fail "attach $PNMT_IF0 nosuchif0 left $n bpf filters on $PNMT_IF0 $h"
	done
	[ -e /sys/fs/bpf/pnm-tc ] && soft_fail "attach $PNMT_IF0 nosuchif0 left /sys/fs/bpf/pnm-tc"
	same_state state_snapshot "$dir/pristine" "$dir/after-partial"
	diff -u "$dir/pristine" "$dir/after-partial" >"$dir/diff" ||
		soft_fail "attach $PNMT_IF0 nosuchif0 changed state: $(grep '^[-+][^-+]' "$dir/diff" | head -5 | tr '\n' '|')"
	[ "$PNM_RC" -eq 0 ] && pnm detach
	check_soft_failures
}

# Every command's options are declared once (cli/options.h), and its help
# is made from that: every long option its help lists must be one the
# command takes, be in the command's section of the man page, and be
# offered by the bash completion; -h and -v by every command too.
test_option_docs() {
	local cmd opt opts offered section err n=0
	local man=$PNMT_ROOT/cli/pnm-tc.8 comp=$PNMT_ROOT/cli/pnm-tc.bash-completion
	for cmd in attach detach show events status daemon history; do
		opts=$("$PNM_TC" help "$cmd" | sed -n 's/^  \(-[a-zA-Z], \|    \)\(--[a-z][a-z-]*\).*/\2/p')
		[ -n "$opts" ] || fail "'pnm-tc help $cmd' lists no options"
		offered=$(complete_words "$comp" pnm-tc "$cmd" --)
		# The man page's COMMANDS entry of cmd, "\-" unescaped.
		section=$(sed 's/\\-/-/g' "$man" | awk -v c="$cmd" '
			/^\.SH / { in_cmds = ($2 == "COMMANDS"); next }
			in_cmds && prev == ".TP" && ($1 == ".B" || $1 == ".BR") &&
				$2 ~ /^(attach|detach|show|events|status|daemon|history|help)$/ { cur = $2 }
			in_cmds && cur == c { print }
			{ prev = $0 }')
		[ -n "$section" ] || fail "the man page has no COMMANDS entry for $cmd"
		for opt in $opts; do
			n=$((n + 1))
			err=$("$PNM_TC" "$cmd" "$opt" --pnmt-no-such-option 2>&1 >/dev/null)
			case $err in
			*"unknown option '$opt'"*) soft_fail "$cmd: its help lists $opt, it refuses it" ;;
			esac
			grep -qx -- "$opt" <<<"$offered" || soft_fail "the completion of '$cmd' lacks $opt"
			case $opt in --help | --verbose) continue ;; esac
			grep -q -- "$opt\\b" <<<"$section" || soft_fail "the man page's $cmd lacks $opt"
		done
		for opt in --help --verbose; do
			grep -qx -- "$opt" <<<"$opts" || soft_fail "'pnm-tc help $cmd' lacks $opt"
		done
	done
	info "ok   $n long options of 6 commands: in their help, the man page and the completion"
	check_soft_failures
}

# Options may come after the interfaces, as in other GNU tools: attach and
# detach with --netns last act on the peer namespace's interface.
test_options_after_args() {
	local dir
	topo_up
	new_dir
	dir=$TEST_DIR
	pnm attach "$PNMT_IF1" --netns "$PNMT_NS"
	[ "$PNM_RC" -eq 0 ] || fail "attach IFACE --netns NS: exit $PNM_RC: $PNM_ERR"
	pnm_json "$dir/show.json"
	json_get "$dir/show.json" "list(d['interfaces'])" | grep -q "$PNMT_NS/$PNMT_IF1" ||
		soft_fail "attach IFACE --netns NS did not attach $PNMT_NS/$PNMT_IF1"
	pnm show -i "$PNMT_NS/$PNMT_IF1" -j
	[ "$PNM_RC" -eq 0 ] || soft_fail "show -i IF -j: exit $PNM_RC: $PNM_ERR"
	pnm detach "$PNMT_IF1" --netns "$PNMT_NS" -v
	[ "$PNM_RC" -eq 0 ] || soft_fail "detach IFACE --netns NS -v: exit $PNM_RC: $PNM_ERR"
	pnm status
	[ "$PNM_OUT" = "pnm-tc: not attached (start with 'pnm-tc attach IFACE')" ] ||
		soft_fail "after detach IFACE --netns NS: $PNM_OUT"
	# "--" ends the options: what follows is an interface name.
	pnm attach -- --netns
	case $PNM_ERR in
	*"no such interface: --netns"*) info "ok   attach -- --netns: $PNM_ERR" ;;
	*) soft_fail "attach -- --netns: exit $PNM_RC: $PNM_ERR" ;;
	esac
	check_soft_failures
}

# Output that cannot be written (a full disk: /dev/full) is said, on one
# line, and fails the command; with nothing attached too.
test_write_errors() {
	local args
	topo_up
	pnm_attach "$PNMT_IF0"
	nsx ping -c 2 -i 0.2 -q "$PNMT_IP0" >/dev/null 2>&1
	for args in "show" "show --json" "show -d" "show --by proto" "status" "status --json" \
		"show -t 1s" "show -t 1s --json" "events -t 1s" "help show" "show -h" "--version"; do
		# shellcheck disable=SC2086 # words of the command line
		write_error_check $args
	done
	pnm_detach "$PNMT_IF0"
	write_error_check status
	check_soft_failures
}

# write_error_check ARGS...: pnm-tc ARGS >/dev/full exits 1 with one line
# on stderr that says so.
write_error_check() {
	local err rc
	err=$("$PNM_TC" "$@" 2>&1 >/dev/full)
	rc=$?
	if [ "$rc" -eq 1 ] && [ "$(wc -l <<<"$err")" -eq 1 ] &&
		[[ $err == "pnm-tc: cannot write the output: No space left on device" ]]; then
		info "ok   pnm-tc $* >/dev/full -> 1: $err"
	else
		soft_fail "pnm-tc $* >/dev/full: exit $rc, stderr: $(head -3 <<<"$err" | tr '\n' '|')"
	fi
}

test_no_attach_show() {
	local dir
	new_dir
	dir=$TEST_DIR
	[ -e /sys/fs/bpf/pnm-tc ] && fail "precondition: /sys/fs/bpf/pnm-tc exists (something is attached)"
	state_snapshot >"$dir/before"
	pnm show
	[ "$PNM_RC" -eq 1 ] || soft_fail "show with nothing attached: exit $PNM_RC, want 1 (stderr: $PNM_ERR)"
	printf '%s' "$PNM_ERR" | grep -qi attach ||
		soft_fail "show with nothing attached: stderr does not mention 'attach': '$PNM_ERR'"
	[ "$(printf '%s' "$PNM_ERR" | grep -c '')" -eq 1 ] ||
		soft_fail "show with nothing attached: stderr is not one line: $(printf '%s' "$PNM_ERR" | tr '\n' '|')"
	info "pnm-tc show -> $PNM_RC: $PNM_ERR"
	pnm show --json
	[ "$PNM_RC" -eq 1 ] || soft_fail "show --json with nothing attached: exit $PNM_RC, want 1"
	same_state state_snapshot "$dir/before" "$dir/after"
	diff -u "$dir/before" "$dir/after" >"$dir/diff" ||
		soft_fail "show with nothing attached changed state: $(grep '^[-+][^-+]' "$dir/diff" | head -5 | tr '\n' '|')"
	check_soft_failures
}
