# pnm-tc: one entry point. make, make check, make check-kernels, make demo, make deps,
# make install, make format, make clean; V=1 shows the full commands.
.DELETE_ON_ERROR:
.SECONDARY:
.DEFAULT_GOAL := all

VERSION := 0.1.0
OUTPUT := .output
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
PREFIX ?= /usr/local
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/')

# Debian packages: to build, and to run the tests and the demo.
DEPS_BUILD := make gcc clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev \
	libnl-3-dev libnl-route-3-dev libxdp-dev libjson-c-dev libcmocka-dev pkg-config \
	libclang-rt-dev libsqlite3-dev libsystemd-dev
DEPS_TEST := iproute2 iputils-ping ethtool xdp-tools tmux tshark iperf3 nginx-light curl nethogs python3 procps util-linux \
	apache2-utils wrk liburing-dev \
	clang-format clang-tidy cppcheck shellcheck valgrind groff-base man-db sqlite3
# make bench also samples the whole machine with perf.
DEPS_BENCH := linux-perf
# make check-kernels boots Debian's other kernels under qemu (ci/kernels.sh).
DEPS_KERNELS := qemu-system-x86 busybox-static kmod xz-utils zstd bash-builtins

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS := libbpf libxdp libnl-3.0 libnl-route-3.0 json-c sqlite3 libsystemd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# The user side (docs/design.md, "The tree"): cli/ the commands, their
# options and help; report/ reading the pinned counters and printing them;
# loader/ loading, attaching and pinning; iface/ interfaces and netns;
# daemon/ the daemon's loop, samples and interfaces; store/ the history
# database (SQLite).
USER_DIRS := cli report loader iface daemon store
USER_INC := $(patsubst %,-I%,$(USER_DIRS))

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) -std=gnu11 $(WARN) -DPNM_VERSION='"$(VERSION)"' \
	-I$(OUTPUT) -Imaps $(USER_INC) $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) -pie -Wl,-z,relro,-z,now
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(OUTPUT) -Imaps -Ibpf -MMD -MP

BPF_SRCS := $(wildcard bpf/*.bpf.c)
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
APP_SRCS := $(wildcard $(patsubst %,%/*.c,$(USER_DIRS)))
APP_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(APP_SRCS))

# Unit tests: the pure user-side modules, rebuilt with sanitizers.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
UNIT_MODS := cli/parse.c report/format.c report/snapshot.c report/report.c report/json_writer.c \
	report/rates.c loader/log.c loader/grow.c $(wildcard store/*.c) report/proc.c \
	daemon/config.c daemon/ident.c daemon/series.c
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(wildcard tests/unit/test_*.c))
# libFuzzer targets (tests/fuzz/fuzz.c, one binary per parser); make check
# runs each for FUZZ_SECONDS from its corpus in tests/fuzz/corpus/.
FUZZ_TARGETS := pids duration iface options procstat time
FUZZ_BINS := $(patsubst %,$(OUTPUT)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_SECONDS ?= 20
FUZZ_MODS := cli/parse.c report/format.c
# Traffic generators with known owners, for the integration tests.
HELPERS := $(patsubst tests/helpers/%.c,$(OUTPUT)/tests/%,$(wildcard tests/helpers/*.c))
# The benchmark's own programs: the floors pnm-tc's costs are set against.
BENCH_OBJS := $(patsubst tests/bench/%.c,$(OUTPUT)/bench/%.o,$(wildcard tests/bench/*.bpf.c))

C_SRCS = $(wildcard bpf/*.c bpf/*.h maps/*.h $(patsubst %,%/*.c,$(USER_DIRS)) \
	$(patsubst %,%/*.h,$(USER_DIRS)) tests/unit/*.c tests/helpers/*.c \
	tests/helpers/traffic/*.c tests/helpers/traffic/*.h tests/fuzz/*.c tests/bench/*.c)
SH_SRCS = $(wildcard tests/integration/*.sh tests/integration/lib/*.sh \
	tests/integration/areas/*.sh ci/*.sh) .ci/run cli/pnm-tc.bash-completion

.PHONY: all deps check check-kernels lint unit fuzz bench integration demo install uninstall \
	format clean

all: pnm-tc

$(OUTPUT) $(OUTPUT)/tests $(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .skel.h,,$(notdir $@))_bpf > $@

$(OUTPUT)/%.o: %.c | $(SKELS)
	$(Q)mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HARDEN) -c $< -o $@

# libbpf, libxdp and json-c linked in (Debian's archives, from the same
# -dev packages): each command then maps four objects fewer and binds
# none of their symbols at start: 3.8-5.9 -> 3.2-4.2 ms of CPU and 122 ->
# 92 page faults for `--version` here. libnl stays shared: its archive
# leaves out the classifier modules (u32, ...) that register themselves
# from constructors, and reading a clsact with another tool's u32 filter
# then crashed in libnl. libxdp still reads its dispatcher
# (xdp-dispatcher.o, from libxdp1) from /usr/lib/<arch>/bpf. SQLite and
# libsystemd stay shared too: Debian's security updates of them then reach
# pnm-tc.
STATIC_LIBS := -Wl,-Bstatic -lxdp -lbpf -ljson-c -lelf -lz -Wl,-Bdynamic -lnl-route-3 -lnl-3 \
	-lsqlite3 -lsystemd

pnm-tc: $(APP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(STATIC_LIBS) -lpthread -o $@

$(OUTPUT)/san/%.o: %.c
	$(Q)mkdir -p $(@D)
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) -c $< -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(patsubst %.c,$(OUTPUT)/san/%.o,$(UNIT_MODS)) | $(OUTPUT)/tests
	$(call msg,TEST-CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) $^ $(PKG_LIBS) -lcmocka -o $@

# The BPF packet parsers, run by BPF_PROG_TEST_RUN on crafted frames (root;
# skipped without): the TC and XDP skeletons, libbpf, and the loader's own
# load-time constants (loader/patch.c). Listed in UNIT_TESTS like the
# others; the skeletons are named here, as -MMD does not list them for a
# linked test.
$(OUTPUT)/tests/test_bpf_parse: tests/unit/test_bpf_parse.c $(OUTPUT)/san/loader/patch.o \
		$(OUTPUT)/san/loader/log.o $(OUTPUT)/tc_count.skel.h $(OUTPUT)/xdp_count.skel.h \
		| $(OUTPUT)/tests
	$(call msg,TEST-CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) $(filter %.c %.o,$^) $(PKG_LIBS) -lcmocka -o $@

# Install what is missing from Debian's packages; nothing when all is there.
deps:
	$(Q)missing=$$(for p in $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_EXTRA); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install: $$missing" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(OUTPUT)/fuzz/fuzz_%: tests/fuzz/fuzz.c $(FUZZ_MODS) | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) -g -O1 -std=gnu11 -Wall -Wextra -Werror -Imaps -DFUZZ_$* \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(USER_INC) $^ -o $@

$(OUTPUT)/bench/%.bpf.o: tests/bench/%.bpf.c
	$(Q)mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -Wall -Werror -I/usr/include/$(shell uname -m)-linux-gnu -c $< -o $@

# The cost of pnm-tc, measured (ci/bench.sh); writes .output/bench/report.*
bench:
	$(Q)$(MAKE) --no-print-directory deps DEPS_EXTRA="$(DEPS_BENCH)"
	$(Q)$(MAKE) --no-print-directory all $(HELPERS) $(BENCH_OBJS)
	$(Q)bash ci/bench.sh

fuzz: $(FUZZ_BINS)
	$(Q)bash ci/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# pnmt_traffic: its modes in tests/helpers/traffic/; the io_uring ones need
# liburing, a test dependency (DEPS_TEST).
TRAFFIC_SRCS := tests/helpers/pnmt_traffic.c $(wildcard tests/helpers/traffic/*.c)
$(OUTPUT)/tests/pnmt_traffic: HELPER_LIBS := -luring
$(OUTPUT)/tests/pnmt_traffic: $(TRAFFIC_SRCS) tests/helpers/traffic/traffic.h | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HARDEN) $(ALL_LDFLAGS) $(TRAFFIC_SRCS) $(PKG_LIBS) $(HELPER_LIBS) -o $@

# pnmt_storefill: fills a history database through the store (make bench).
STOREFILL_SRCS := tests/helpers/pnmt_storefill.c $(wildcard store/*.c)
$(OUTPUT)/tests/pnmt_storefill: $(STOREFILL_SRCS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HARDEN) $(ALL_LDFLAGS) $(STOREFILL_SRCS) -lsqlite3 -o $@

$(OUTPUT)/tests/%: tests/helpers/%.c | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HARDEN) $(ALL_LDFLAGS) $< $(PKG_LIBS) $(HELPER_LIBS) -o $@

unit: $(UNIT_TESTS)
	$(Q)fail=0; for t in $(UNIT_TESTS); do $$t || fail=1; done; exit $$fail

integration: pnm-tc $(HELPERS)
	$(Q)bash tests/integration/run.sh

# The README's test command; .ci/run calls exactly this.
check: deps
	$(Q)$(MAKE) --no-print-directory lint all $(UNIT_TESTS) $(HELPERS) $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) bash ci/check.sh $(UNIT_TESTS) -- $(FUZZ_BINS)

# The portability tests inside Debian's 6.1, 6.12, 6.18 and newest 7.x
# kernels, booted under qemu (fetched once into /var/cache/pnm-tc/kernels).
check-kernels:
	$(Q)$(MAKE) --no-print-directory deps DEPS_EXTRA="$(DEPS_KERNELS)"
	$(Q)$(MAKE) --no-print-directory all $(HELPERS)
	$(Q)bash ci/kernels.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all $(HELPERS)
	$(Q)bash ci/demo.sh

# The service goes where systemd looks for PREFIX's units; the default
# configuration only where there is none yet (it is the admin's).
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc

install: pnm-tc
	install -D -m 0755 pnm-tc $(DESTDIR)$(PREFIX)/sbin/pnm-tc
	install -D -m 0644 cli/pnm-tc.8 $(DESTDIR)$(PREFIX)/share/man/man8/pnm-tc.8
	install -D -m 0644 cli/pnm-tc.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/pnm-tc
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' daemon/pnm-tc.service.in > $(DESTDIR)$(UNITDIR)/pnm-tc.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pnm-tc.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/pnm-tc/pnm-tc.conf ] || \
		install -D -m 0644 daemon/pnm-tc.conf $(DESTDIR)$(SYSCONFDIR)/pnm-tc/pnm-tc.conf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/pnm-tc $(DESTDIR)$(PREFIX)/share/man/man8/pnm-tc.8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/pnm-tc \
		$(DESTDIR)$(UNITDIR)/pnm-tc.service

format:
	clang-format -i $(C_SRCS)

# The C as clang-format writes it, cppcheck- and clang-tidy-clean (checks
# and the reasons for what is left out: .clang-tidy, ci/cppcheck.h; what it
# says about bpftool's generated skeletons in $(OUTPUT) is not ours), the
# shell scripts shellcheck-clean.
lint: $(SKELS)
	$(call msg,LINT,C and shell)
	$(Q)clang-format --dry-run -Werror $(C_SRCS)
	$(Q)cppcheck -q --enable=warning,portability,performance --std=c11 --error-exitcode=1 \
		--include=ci/cppcheck.h -Imaps $(USER_INC) --suppress=missingIncludeSystem \
		--suppress=missingInclude $(APP_SRCS)
	$(Q)out=$$(clang-tidy -quiet $(APP_SRCS) -- -std=gnu11 -isystem $(OUTPUT) -Imaps $(USER_INC) \
		-DPNM_VERSION='"lint"' $(PKG_CFLAGS) 2>&1); \
		if printf '%s\n' "$$out" | grep ': error:' | grep -qv '^$(OUTPUT)/'; then \
			printf '%s\n' "$$out" | grep -v 'warnings generated' >&2; exit 1; fi
	$(Q)shellcheck -x $(SH_SRCS)

clean:
	rm -rf $(OUTPUT) pnm-tc

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/*/*.d $(OUTPUT)/*/*/*.d)
