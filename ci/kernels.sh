#!/usr/bin/env bash
# make check-kernels: pnm-tc's portability tests on other Linux kernels.
# Boots each kernel of KERNELS (Debian's own, with BTF) under qemu (TCG: no
# KVM), 1 vCPU and 1 GiB, on the host's / shared read-only over virtio-9p
# under a tmpfs overlay, and runs in it: `uname -r`, `pnm-tc attach` on a
# veth with `pnm-tc status` kept, then tests/integration/run.sh with
# KERNEL_TESTS. Prints one line per kernel, then "kernels: N passed, N
# failed"; exits 1 if any kernel failed, could not be fetched or did not
# boot. Each guest's console log, pnm-tc status and test log are kept in
# .output/kernels/<version>/.
#
# Host packages (Debian) this needs besides make deps' (the guests run the
# host's own pnm-tc, iproute2, curl, tshark, nginx, iperf3, python3, ...):
#   qemu-system-x86 busybox-static kmod xz-utils zstd bash-builtins
# (and apt, dpkg, coreutils, which every Debian system has). Run as root.
#
# Kernels: fetched with `apt-get download` through a private apt
# configuration (the machine's apt sources stay as they are) from the
# Debian mirror the machine's /etc/apt/sources.list* name, unpacked with
# `dpkg-deb -x` (nothing is installed) and cached, with the initramfs
# built for each, in KERNEL_CACHE. Series, the newest of each is taken:
#   6.1   bookworm(-security): what linux-image-amd64 6.1.* depends on
#   6.12  bookworm-security: linux-image-6.12.*+deb12-amd64
#   6.18  trixie-backports: linux-image-6.18.*+deb13-amd64
#   7     trixie-backports: linux-binary-7.*+deb13-amd64, with its
#         linux-modules- and linux-base- packages
# (any other X.Y is looked up the same way: linux-binary-/linux-image-X.Y.*
# +debNN-amd64, else what linux-image-amd64 X.Y.* depends on).
#
# Environment:
#   KERNELS             series to test (default "6.1 6.12 6.18 7")
#   KERNEL_TESTS        integration tests run in each guest (default below)
#   KERNEL_CACHE        cache directory (default /var/cache/pnm-tc/kernels)
#   KERNEL_JOBS         guests run at once (default: 2, at most the CPUs)
#   KERNEL_TIMEOUT      seconds one guest may take, boot to power-off (600)
#   KERNEL_APT_MAX_AGE  seconds the package lists are used before they are
#                       fetched again (default 86400; 0: every run)
#   KERNEL_MIRROR       Debian archive URI instead of the machine's
#   KERNEL_CPU          qemu's -cpu (default qemu64: a little faster under
#                       TCG than max here)
#   KERNEL_APPEND       more of the guest's command line (default norandmaps:
#                       without ASLR a binary maps where it did before and
#                       TCG reuses its translated code: a small process cost
#                       a third as much)
#
# Time (this 2-core VM, 3 tests, 2 guests at once): about 6 minutes for the
# four kernels once cached; a guest is 150-190 s, all emulated CPU.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

KERNELS=${KERNELS:-6.1 6.12 6.18 7}
KERNEL_TESTS=${KERNEL_TESTS:-test_tcp_client_download test_udp_iperf3 test_preexisting_sockets test_short_connections test_other_sockets test_sctp test_timewait_packets}
KERNEL_CACHE=${KERNEL_CACHE:-/var/cache/pnm-tc/kernels}
KERNEL_TIMEOUT=${KERNEL_TIMEOUT:-600}
KERNEL_APT_MAX_AGE=${KERNEL_APT_MAX_AGE:-86400}
KERNEL_CPU=${KERNEL_CPU:-qemu64}
KERNEL_APPEND=${KERNEL_APPEND-norandmaps}
ncpu=$(nproc 2>/dev/null || echo 1)
KERNEL_JOBS=${KERNEL_JOBS:-$((ncpu < 2 ? ncpu : 2))}
OUT=$ROOT/.output/kernels
HOST_PKGS=(qemu-system-x86 busybox-static kmod xz-utils zstd bash-builtins)
# Loaded by the initramfs (with their dependencies) when not built in.
INITRD_MODS=(virtio_pci 9pnet_virtio 9p overlay)

T0=$SECONDS
TMP=''
die() {
	echo "kernels: $*" >&2
	exit 1
}

# ------------------------------------------------------------ preflight ---

preflight() {
	local p missing=() t h
	[ "$(id -u)" -eq 0 ] || die "needs root (the cache, the 9p shares of /, the tests in the guests)"
	[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] || die "runs amd64 kernels on an amd64 host only"
	for p in "${HOST_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] || die "missing Debian packages: ${missing[*]} (apt-get install --no-install-recommends ${missing[*]})"
	[ -x "$ROOT/pnm-tc" ] || die "$ROOT/pnm-tc is not built (make all)"
	for h in "$ROOT"/tests/helpers/*.c; do
		h=${h##*/}
		[ -x "$ROOT/.output/tests/${h%.c}" ] || die "$ROOT/.output/tests/${h%.c} is not built (make .output/tests/${h%.c})"
	done
	for t in $KERNEL_TESTS; do
		grep -qs "^$t() {" "$ROOT"/tests/integration/areas/*.sh || die "unknown test in KERNEL_TESTS: $t"
	done
	[ -n "$KERNEL_TESTS" ] || die "KERNEL_TESTS is empty"
	case $KERNEL_JOBS in '' | *[!0-9]* | 0) die "KERNEL_JOBS must be a positive number" ;; esac
}

# ------------------------------------------------------------------ apt ---

# debian_uris: the URIs of the machine's enabled "deb" sources, one a line.
debian_uris() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2 }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			deb = 0; on = 1; uris = ""
			for (i = 1; i <= NF; i++) {
				l = $i
				if (l ~ /^#/) continue
				k = tolower(l)
				if (k ~ /^types:/ && (" " l " ") ~ /[ \t]deb[ \t]/) deb = 1
				if (k ~ /^enabled:[ \t]*no/) on = 0
				if (k ~ /^uris:/) { sub(/^[^:]*:[ \t]*/, "", l); uris = uris " " l }
			}
			if (deb && on) { n = split(uris, u, /[ \t]+/); for (j = 1; j <= n; j++) if (u[j] != "") print u[j] }
		}' "$f"
	done
}

APTDIR='' APT_OPTS=() APT_FAILED=''

# apt_setup: a private apt configuration in KERNEL_CACHE/apt for bookworm,
# bookworm-security and trixie-backports on the machine's own mirror; its
# package lists are fetched when missing, older than KERNEL_APT_MAX_AGE or
# when the sources changed.
apt_setup() {
	local main sec age kr=/usr/share/keyrings/debian-archive-keyring.gpg s
	main=${KERNEL_MIRROR:-$(debian_uris | grep -E '^[a-z+]+://[^/]+(/.*)?/debian/?$' | head -n 1)}
	sec=$(debian_uris | grep -E '^[a-z+]+://[^/]+(/.*)?/debian-security/?$' | head -n 1)
	[ -n "$main" ] || die "no Debian archive (a URI ending in /debian) in /etc/apt/sources.list*; set KERNEL_MIRROR"
	main=${main%/}
	sec=${sec%/}
	[ -n "$sec" ] || sec=${main%/debian}/debian-security
	APTDIR=$KERNEL_CACHE/apt
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/sources.list.d" \
		"$APTDIR/preferences.d" || die "cannot create $APTDIR"
	: >"$APTDIR/status"
	{
		for s in bookworm bookworm-updates trixie-backports; do
			echo "deb [signed-by=$kr] $main $s main"
		done
		echo "deb [signed-by=$kr] $sec bookworm-security main"
	} >"$APTDIR/sources.list.new"
	APT_OPTS=(-o "Dir::State=$APTDIR" -o "Dir::State::Lists=$APTDIR/lists"
		-o "Dir::State::status=$APTDIR/status" -o "Dir::Cache=$APTDIR"
		-o "Dir::Cache::archives=$APTDIR/archives" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
		-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
		-o "Dir::Etc::Preferences=$APTDIR/preferences" -o "Dir::Etc::PreferencesParts=$APTDIR/preferences.d"
		-o APT::Architecture=amd64 -o APT::Architectures=amd64 -o Acquire::Languages=none
		-o APT::Sandbox::User=root)
	age=$KERNEL_APT_MAX_AGE
	if cmp -s "$APTDIR/sources.list.new" "$APTDIR/sources.list" && [ -e "$APTDIR/updated" ] &&
		[ $(($(date +%s) - $(stat -c %Y "$APTDIR/updated"))) -lt "$age" ]; then
		rm -f "$APTDIR/sources.list.new"
		return 0
	fi
	mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
	echo "kernels: apt-get update ($main, $sec: bookworm, bookworm-security, trixie-backports)"
	if apt-get "${APT_OPTS[@]}" -q update >"$APTDIR/update.log" 2>&1 &&
		! grep -q '^E: ' "$APTDIR/update.log"; then
		touch "$APTDIR/updated"
	elif compgen -G "$APTDIR/lists/*_Packages*" >/dev/null; then
		echo "kernels: apt-get update failed, using the package lists of an earlier run:" >&2
		grep '^[WE]: ' "$APTDIR/update.log" | head -n 3 >&2
	else
		echo "kernels: apt-get update failed:" >&2
		tail -n 5 "$APTDIR/update.log" >&2
		APT_FAILED="; apt-get update failed, see $APTDIR/update.log"
	fi
}

acache() { apt-cache "${APT_OPTS[@]}" "$@" 2>/dev/null; }

# resolve SERIES: "VERSION PACKAGE..." of the newest amd64 kernel of SERIES
# (6.1, 6.12, 7, ...), or nothing.
resolve() {
	local s=$1 re v meta dep
	re="^linux-(binary|image)-${s//./\\.}(\\.[0-9]+)+\\+deb[0-9.]+-amd64\$"
	v=$(acache search --names-only "$re" | awk '{ print $1 }' | grep -E "$re" |
		sed -E 's/^linux-(binary|image)-//' | sort -uV | tail -n 1)
	if [ -z "$v" ]; then
		# 6.1 and older: linux-image-6.1.0-N-amd64, the metapackage's dependency.
		meta=$(acache madison linux-image-amd64 | awk -F'|' '{ gsub(/[ \t]/, "", $2); print $2 }' |
			grep -E "^${s//./\\.}\\." | sort -V | tail -n 1)
		[ -n "$meta" ] || return 0
		dep=$(acache show "linux-image-amd64=$meta" | sed -n 's/^Depends: //p' | head -n 1 |
			tr ',' '\n' | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -n 1)
		[ -n "$dep" ] && echo "${dep#linux-image-} $dep"
		return 0
	fi
	if acache show "linux-binary-$v" | grep -q '^Package:'; then
		echo "$v linux-binary-$v linux-modules-$v linux-base-$v"
	else
		echo "$v linux-image-$v"
	fi
}

# ---------------------------------------------------------------- fetch ---

# extract_vmlinux BZIMAGE OUT: the uncompressed ELF kernel inside a bzImage
# (the logic of the kernel tree's scripts/extract-vmlinux): try each
# compressor's magic, at every place it occurs, until an ELF comes out.
extract_vmlinux() {
	local img=$1 out=$2 magic dec off
	for magic in '\x1f\x8b\x08:gzip -dc' '\xfd7zXZ\x00:xz -dc' '\x28\xb5\x2f\xfd:zstd -dcq' \
		'BZh:bzip2 -dc' '\x5d\x00\x00\x00:xz -dc --format=lzma' '\x89LZO:lzop -dc' '\x02\x21\x4c\x18:lz4 -dc'; do
		dec=${magic#*:}
		magic=${magic%%:*}
		while read -r off; do
			# shellcheck disable=SC2086 # dec is a command and its options
			tail -c "+$((off + 1))" "$img" | $dec >"$out" 2>/dev/null
			[ "$(head -c 4 "$out" | od -An -c | tr -d ' ')" = '177ELF' ] && return 0
		done < <(LC_ALL=C grep -obUaP "$magic" "$img" 2>/dev/null | cut -d: -f1)
	done
	rm -f "$out"
	return 1
}

# fetch SERIES VERSION PACKAGE...: KERNEL_CACHE/VERSION/ with vmlinux,
# config and lib/modules/VERSION (depmod run), unless it is there already.
# Prints why on failure.
fetch() {
	local s=$1 v=$2 kd=$KERNEL_CACHE/$2 d m f
	shift 2
	[ -e "$kd/ready" ] && return 0
	rm -rf "$kd" "$kd.tmp"
	mkdir -p "$kd.tmp/debs" "$kd.tmp/x" "$kd.tmp/lib/modules" || {
		echo "cannot create $kd.tmp"
		return 1
	}
	echo "kernels: fetching $*" >&2
	if ! (cd "$kd.tmp/debs" && apt-get "${APT_OPTS[@]}" -q download "$@") >"$kd.tmp/download.log" 2>&1; then
		echo "apt-get download $* failed: $(grep -E '^(E|W): ' "$kd.tmp/download.log" | head -n 1)"
		return 1
	fi
	for d in "$kd.tmp"/debs/*.deb; do
		dpkg-deb -x "$d" "$kd.tmp/x" || {
			echo "dpkg-deb -x $d failed"
			return 1
		}
	done
	for m in "$kd.tmp/x/lib/modules/$v" "$kd.tmp/x/usr/lib/modules/$v"; do
		[ -d "$m/kernel" ] && mv "$m" "$kd.tmp/lib/modules/$v" && break
	done
	m=$kd.tmp/lib/modules/$v
	[ -d "$m" ] || {
		echo "no lib/modules/$v in $*"
		return 1
	}
	for f in "$kd.tmp/x/boot/vmlinuz-$v" "$m/vmlinuz"; do
		[ -f "$f" ] && mv "$f" "$kd.tmp/vmlinuz" && break
	done
	for f in "$kd.tmp/x/boot/config-$v" "$m/config"; do
		[ -f "$f" ] && mv "$f" "$kd.tmp/config" && break
	done
	rm -rf "$kd.tmp/x" "$kd.tmp/debs" "$m/System.map"
	[ -f "$kd.tmp/vmlinuz" ] || {
		echo "no vmlinuz in $*"
		return 1
	}
	grep -q '^CONFIG_DEBUG_INFO_BTF=y' "$kd.tmp/config" 2>/dev/null || {
		echo "$v has no BTF (CONFIG_DEBUG_INFO_BTF)"
		return 1
	}
	depmod -b "$kd.tmp" "$v" || {
		echo "depmod $v failed"
		return 1
	}
	extract_vmlinux "$kd.tmp/vmlinuz" "$kd.tmp/vmlinux" || {
		echo "no ELF kernel found in the vmlinuz of $v"
		return 1
	}
	echo "$s" >"$kd.tmp/series"
	mv "$kd.tmp" "$kd" && touch "$kd/ready"
}

# prune SERIES VERSION: the cached kernels of SERIES other than VERSION.
prune() {
	local d
	for d in "$KERNEL_CACHE"/*/; do
		d=${d%/}
		[ -f "$d/series" ] && [ "$(cat "$d/series")" = "$1" ] && [ "${d##*/}" != "$2" ] && rm -rf "$d"
	done
	rm -rf "$KERNEL_CACHE/$2.tmp"
}

# initrd VERSION: KERNEL_CACHE/VERSION/initrd.img, busybox-static and the
# guest kernel's own modules (uncompressed, dependencies first), rebuilt
# when ci/kernels/init, this script or busybox changed.
initrd() {
	local v=$1 kd=$KERNEL_CACHE/$1 key d p a
	key=$(cat "$ROOT/ci/kernels/init" "$ROOT/ci/kernels.sh" /bin/busybox | sha256sum | cut -d' ' -f1)
	[ -f "$kd/initrd.img" ] && [ "$(cat "$kd/initrd.key" 2>/dev/null)" = "$key" ] && return 0
	d=$TMP/initrd-$v
	rm -rf "$d"
	mkdir -p "$d/bin" "$d/dev" "$d/proc" "$d/sys" "$d/modules"
	cp /bin/busybox "$d/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$d/bin/$a"
	done
	install -m 0755 "$ROOT/ci/kernels/init" "$d/init"
	: >"$d/modules.list"
	for a in "${INITRD_MODS[@]}"; do
		modprobe -d "$kd" -S "$v" --show-depends "$a" >>"$d/deps" 2>&1 || {
			echo "modprobe --show-depends $a: $(head -n 1 "$d/deps")"
			return 1
		}
	done
	while read -r p; do
		a=${p##*/}
		a=${a%.ko*}.ko
		case $p in
		*.ko.xz) xz -dc "$p" >"$d/modules/$a" ;;
		*.ko.zst) zstd -dcq "$p" >"$d/modules/$a" ;;
		*.ko.gz) gzip -dc "$p" >"$d/modules/$a" ;;
		*) cp "$p" "$d/modules/$a" ;;
		esac || {
			echo "cannot unpack $p"
			return 1
		}
		echo "$a" >>"$d/modules.list"
	done < <(awk '$1 == "insmod" && !seen[$2]++ { print $2 }' "$d/deps")
	rm -f "$d/deps"
	(cd "$d" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) >"$kd/initrd.img.tmp" || {
		echo "cannot write the initramfs"
		return 1
	}
	mv "$kd/initrd.img.tmp" "$kd/initrd.img" && echo "$key" >"$kd/initrd.key"
	rm -rf "$d"
}

# ---------------------------------------------------------------- guest ---

# run_guest VERSION: boots it with the job; the console log and the results
# land in OUT/VERSION; then prints the kernel's line (evaluate).
run_guest() {
	local v=$1 kd=$KERNEL_CACHE/$1 od=$OUT/$1 jd=$TMP/job-$1 t0=$SECONDS rc cpu
	rm -rf "$od"
	mkdir -p "$od" "$jd"
	cp -al "$TMP/bin" "$jd/bin"
	cp "$ROOT/ci/kernels/guest.sh" "$jd/guest.sh"
	printf 'PNMK_ROOT=%q\nPNMK_TESTS=%q\n' "$ROOT" "$KERNEL_TESTS" >"$jd/job.env"
	timeout -k 10 "$KERNEL_TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -nographic \
		-serial stdio -monitor none -no-reboot -pidfile "$TMP/qemu-$v.pid" \
		-machine pc -cpu "$KERNEL_CPU" -smp 1 -m 1024 \
		-kernel "$kd/vmlinux" -initrd "$kd/initrd.img" \
		-append "console=ttyS0 panic=-1 rdinit=/init loglevel=4 $KERNEL_APPEND" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$kd/lib/modules/$v,mount_tag=kmods,security_model=none,readonly=on" \
		-virtfs "local,path=$jd,mount_tag=job,security_model=none,readonly=on" \
		-virtfs "local,path=$od,mount_tag=results,security_model=none" \
		</dev/null >"$od/console.log" 2>&1 &
	echo $! >"$TMP/timeout-$v.pid"
	wait $!
	rc=$?
	# CPU seconds of qemu (this subshell's reaped children), to size the matrix.
	times >"$TMP/times-$v"
	cpu=$(sed -n 2p "$TMP/times-$v" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } printf "%d\n", n }')
	echo "exit $rc, $((SECONDS - t0)) s, qemu cpu $cpu s" >"$od/qemu.rc"
	evaluate "$v" "$rc" "$((SECONDS - t0))" >"$od/result"
	cat "$od/result"
}

# evaluate VERSION QEMU_RC SECONDS: "kernel V: ..." and, below it, what
# pnm-tc attach said is off on this kernel and the tests that failed.
evaluate() {
	local v=$1 rc=$2 secs=$3 od=$OUT/$1 line p f s st why
	if [ ! -e "$od/done" ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			why="timed out after ${KERNEL_TIMEOUT} s"
		elif why=$(grep -a -m 1 -o 'PNMK-INIT-FAILED: .*' "$od/console.log"); then
			why="did not boot: ${why#PNMK-INIT-FAILED: }"
		elif why=$(grep -a -m 1 -o 'Kernel panic - .*' "$od/console.log"); then
			why=$(printf '%s' "$why" | tr -d '\r')
		elif [ ! -s "$od/uname.txt" ]; then
			why="did not boot (qemu exit $rc)"
		else
			why="the guest stopped before the tests ended (qemu exit $rc)"
		fi
		echo "kernel $v: FAIL ($why; $secs s; see .output/kernels/$v/console.log)"
		return 0
	fi
	if [ "$(cat "$od/uname.txt" 2>/dev/null)" != "$v" ]; then
		echo "kernel $v: FAIL (the guest ran $(cat "$od/uname.txt" 2>/dev/null), not $v)"
		return 0
	fi
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$od/tests.log" 2>/dev/null | tail -n 1)
	if [ -z "$line" ]; then
		echo "kernel $v: FAIL (the integration runner printed no summary, exit $(cat "$od/tests.rc" 2>/dev/null); see .output/kernels/$v/tests.log)"
		return 0
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	s=0
	case $line in *skipped) s=${line##*failed, } s=${s%% skipped} ;; esac
	st=$(cat "$od/status.result" 2>/dev/null || echo "no status check result")
	line="$p passed, $f failed"
	[ "$s" -gt 0 ] && line="$line, $s skipped"
	if [ "$f" -eq 0 ] && [ "$p" -gt 0 ] && [ "$st" = ok ] && [ "$(cat "$od/tests.rc")" = 0 ]; then
		echo "kernel $v: $line (PASS, $secs s)"
	elif [ "$st" != ok ]; then
		echo "kernel $v: $line (FAIL: $st, $secs s)"
	else
		echo "kernel $v: $line (FAIL, $secs s)"
	fi
	grep -v '^$' "$od/attach.log" 2>/dev/null | sed 's/^/    /'
	grep -E '^(FAIL|SKIP) ' "$od/tests.log" | sed 's/^/    /'
	return 0
}

cleanup() {
	local f p
	trap - EXIT INT TERM
	for f in "$TMP"/timeout-*.pid "$TMP"/qemu-*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f" 2>/dev/null)
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	for p in "${RUNNERS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "$TMP" ] && rm -rf "$TMP"
}

# ----------------------------------------------------------------- main ---

RUNNERS=()
main() {
	local s res v why passed=0 failed=0 vs=() lines=() i h
	preflight
	# .output/kernels holds the last run only.
	rm -rf "$OUT"
	mkdir -p "$KERNEL_CACHE" "$OUT" || die "cannot create $KERNEL_CACHE or $OUT"
	TMP=$(mktemp -d /tmp/pnm-kernels.XXXXXX) || die "mktemp failed"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	exec 8>"$KERNEL_CACHE/.lock"
	flock -n 8 || {
		echo "kernels: waiting for another run that holds $KERNEL_CACHE/.lock"
		flock 8
	}
	# One snapshot of what is tested, for every guest: a rebuild while the
	# guests run does not mix two builds.
	mkdir -p "$TMP/bin"
	cp "$ROOT/pnm-tc" "$TMP/bin/pnm-tc" || die "cannot copy pnm-tc"
	"$TMP/bin/pnm-tc" --version >/dev/null 2>&1 || die "$ROOT/pnm-tc --version fails (being rebuilt?)"
	for h in "$ROOT"/tests/helpers/*.c; do
		h=${h##*/}
		cp "$ROOT/.output/tests/${h%.c}" "$TMP/bin/" || die "cannot copy ${h%.c}"
	done
	apt_setup
	for s in $KERNELS; do
		res=$(resolve "$s")
		if [ -z "$res" ]; then
			lines+=("kernel $s: FAIL (no amd64 kernel of series $s in bookworm, bookworm-security or trixie-backports$APT_FAILED)")
			continue
		fi
		read -r v _ <<<"$res"
		# shellcheck disable=SC2086 # res is a version and package names
		if ! why=$(fetch "$s" $res) || ! why=$(initrd "$v"); then
			lines+=("kernel $v: FAIL (cannot fetch or prepare: $why)")
			continue
		fi
		prune "$s" "$v"
		vs+=("$v")
	done
	for i in "${lines[@]}"; do
		echo "$i"
		failed=$((failed + 1))
	done
	echo "kernels: ${vs[*]} (tests: $KERNEL_TESTS; $KERNEL_JOBS at once)"
	for v in "${vs[@]}"; do
		while [ "$(jobs -rp | wc -l)" -ge "$KERNEL_JOBS" ]; do
			wait -n
		done
		run_guest "$v" &
		RUNNERS+=($!)
	done
	wait
	for v in "${vs[@]}"; do
		if head -n 1 "$OUT/$v/result" 2>/dev/null | grep -q '(PASS'; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	echo "kernels: took $((SECONDS - T0)) s; logs in .output/kernels/"
	echo "kernels: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main "$@"
