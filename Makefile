# contactgate - build, test, demo.
#
#   make          build the daemon, the CLI and the plugins (no installs)
#   make test     install missing Debian packages (and unpack a private
#                 Sendmail for its tests), build, run every test
#   make demo     install missing Debian packages, build, run the demo
#   make asan     build and run the unit tests under ASan/UBSan
#   make fuzz     libFuzzer targets (clang, ASan/UBSan) for a while each;
#                 make tsan: the decider's test under ThreadSanitizer
#   make layering check the source layering rules (run by make test)
#   make bench    the benchmark (bench/): Postfix alone, a pass-through
#                 milter and contactgate side by side, and the engine alone
#   make install  PREFIX=/usr/local DESTDIR= (see README "Where files go")
#   make uninstall  removes what make install installed; leaves the
#                 configuration and the history, and says what remains
#   make deb      the Debian package, with debhelper, into build/deb/
#   make deps     install the Debian packages building needs (as root);
#                 make deps-test: and what the tests need (make test does it)
#
# Everything is built under build/ (override with BUILD=dir).
#
# The tree (README "Source map"):
#   core/        what the daemon and contactgatectl share; no libmilter
#   core/store/  the store interface and its backends (the only SQL)
#   milter/      the daemon alone: libmilter callbacks, decider, start-up
#   ctl/         contactgatectl
#   plugins/     one folder per policy plugin; sees only include/contactgate/plugin.h
# Libraries: libcgcore.a (core/ + core/store/), libcgd.a (the daemon's
# decider and its metrics, which contactgatectl does not link).

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
LIBDIR  ?= $(PREFIX)/lib/contactgate
LIBEXECDIR ?= $(PREFIX)/libexec/contactgate
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SHAREDIR ?= $(PREFIX)/share/contactgate
UNITDIR ?= $(PREFIX)/lib/systemd/system

CC      ?= gcc
BUILD   ?= build
PKG     := sqlite3 jansson icu-i18n libpq
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror
# what the environment gives (dpkg-buildflags: -D_FORTIFY_SOURCE=2) also
# reaches the plugins, which see none of our own include paths
CPPFLAGS_ENV := $(CPPFLAGS)
CPPFLAGS += -Iinclude -Icore -Icore/store -D_GNU_SOURCE -DCG_WITH_LIBPQ -DCG_PLUGIN_DIR='"$(LIBDIR)/plugins"'
CFLAGS  += -std=c11 $(OPT) $(WARN) -fPIC $(shell pkg-config --cflags $(PKG))
DEPFLAGS = -MMD -MP
LDLIBS_CORE := $(shell pkg-config --libs $(PKG)) -ldl -lpthread -lm
LDLIBS_MILTER := $(shell pkg-config --libs milter 2>/dev/null || echo -lmilter)
# Libraries a plugin links beyond libc/libm: LIBS_<plugin name>.
LIBS_spf := -lspf2

CORE_SRC := $(wildcard core/*.c core/store/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
LIBCG    := $(BUILD)/libcgcore.a
DAEMON_LIB_SRC := milter/cg_decider.c milter/cg_metrics.c milter/cg_metrics_prom.c
DAEMON_LIB_OBJ := $(DAEMON_LIB_SRC:%.c=$(BUILD)/%.o)
LIBCGD   := $(BUILD)/libcgd.a
MILTER_SRC := $(filter-out $(DAEMON_LIB_SRC),$(wildcard milter/*.c))
CTL_SRC  := $(wildcard ctl/*.c)

PLUGIN_DIRS := $(sort $(dir $(wildcard plugins/*/*.c)))
PLUGIN_NAMES := $(notdir $(patsubst %/,%,$(PLUGIN_DIRS)))
PLUGINS := $(PLUGIN_NAMES:%=$(BUILD)/plugins/%.so)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_PLUGIN_SRC := $(wildcard tests/plugins/*.c)
TEST_PLUGINS := $(TEST_PLUGIN_SRC:tests/plugins/%.c=$(BUILD)/tests/plugins/%.so)

# A plugin links against nothing of ours: -z defs makes any symbol it
# would take from the daemon a link error.
PLUGIN_LDFLAGS := -shared -Wl,-z,defs

.PHONY: all deps deps-test deps-deb test unit e2e demo asan clean install uninstall deb bench layering
all: $(BUILD)/contactgate $(BUILD)/contactgatectl $(PLUGINS)

# scripts/deps.sh: one list of Debian packages per purpose
deps:
	@sh scripts/deps.sh build
deps-test:
	@sh scripts/deps.sh build test
deps-deb:
	@sh scripts/deps.sh build deb

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(LIBCG): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBCGD): $(DAEMON_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# the daemon exports nothing: plugins get the host table through init()
$(BUILD)/contactgate: $(MILTER_SRC:%.c=$(BUILD)/%.o) $(LIBCGD) $(LIBCG)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_MILTER) $(LDLIBS_CORE)

$(BUILD)/contactgatectl: $(CTL_SRC:%.c=$(BUILD)/%.o) $(LIBCG)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_CORE)

# A plugin sees only include/contactgate/plugin.h and exports one symbol.
$(BUILD)/plugins/%.so: plugins/%/*.c include/contactgate/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ENV) -Iinclude $(CFLAGS) -fvisibility=hidden $(PLUGIN_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) \
		$(LIBS_$*) -lm
	@chmod 755 $@

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c include/contactgate/plugin.h
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CFLAGS) -fvisibility=hidden $(PLUGIN_LDFLAGS) -o $@ $<
	@chmod 755 $@

$(BUILD)/tests/%: tests/unit/%.c $(LIBCGD) $(LIBCG)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Imilter -Itests/unit $(CFLAGS) $(DEPFLAGS) -o $@ $< $(LIBCGD) $(LIBCG) \
		$(LDLIBS_CORE)

layering:
	@sh scripts/layering.sh

unit: all $(UNIT_BIN) $(TEST_PLUGINS)
	@sh tests/run-unit.sh $(BUILD)

test: deps-test layering
	@sh scripts/sendmail-private.sh >/dev/null
	@# the benchmarks are built too (not run): make bench must not rot
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(TEST_PLUGINS) $(BUILD)/bench/passthrough \
	    $(BUILD)/bench/engine_bench
	@sh tests/run-all.sh $(BUILD)

# the end-to-end suites alone
e2e: deps-test
	@$(MAKE) --no-print-directory all $(TEST_PLUGINS)
	@sh scripts/sendmail-private.sh >/dev/null
	@sh tests/run-all.sh $(BUILD) e2e

demo: deps-test
	@$(MAKE) --no-print-directory all
	@bash tests/e2e/demo.sh $(BUILD)

$(BUILD)/bench/passthrough: bench/passthrough.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS_MILTER) -lpthread

$(BUILD)/bench/engine_bench: bench/engine_bench.c $(LIBCGD) $(LIBCG)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Imilter $(CFLAGS) $(DEPFLAGS) -o $@ $< $(LIBCGD) $(LIBCG) $(LDLIBS_CORE)

bench: deps-test
	@$(MAKE) --no-print-directory all $(BUILD)/bench/passthrough $(BUILD)/bench/engine_bench
	@if [ -f bench/engine.sh ]; then bash bench/engine.sh $(BUILD); fi
	@bash bench/engine_pg.sh $(BUILD)
	@bash bench/mta.sh $(BUILD)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
		OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" unit

# make install [PREFIX=/usr/local] [DESTDIR=staging]: binaries, plugins,
# the socket-directory helper, the plugin header, man pages, example
# policies, the MTA snippets, the systemd unit, and the configuration and
# /etc/default/contactgate, each only where none exists (an existing one
# keeps its content and mode). make uninstall removes exactly what install
# puts under PREFIX (INSTALLED below) and nothing under /etc or /var.
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
	-e 's|@SHAREDIR@|$(SHAREDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
INSTALLED = $(SBINDIR)/contactgate $(SBINDIR)/contactgatectl \
	$(PLUGIN_NAMES:%=$(LIBDIR)/plugins/%.so) $(LIBEXECDIR)/socket-dir \
	$(INCDIR)/contactgate/plugin.h \
	$(patsubst man/%,$(MANDIR)/man5/%,$(wildcard man/*.5)) \
	$(patsubst man/%,$(MANDIR)/man8/%,$(wildcard man/*.8)) \
	$(patsubst policies/%,$(SHAREDIR)/policies/%,$(wildcard policies/*.json)) \
	$(SHAREDIR)/examples/require_header.c $(SHAREDIR)/examples/contactgate.minimal.json \
	$(SHAREDIR)/contactgate.m4 $(SHAREDIR)/postfix-main.cf \
	$(UNITDIR)/contactgate.service
# our own directories, removed by uninstall when empty (deepest first)
INSTALLED_DIRS = $(LIBDIR)/plugins $(LIBDIR) $(LIBEXECDIR) $(INCDIR)/contactgate \
	$(SHAREDIR)/policies $(SHAREDIR)/examples $(SHAREDIR)
# kept by uninstall: the admin's files and the data
KEPT = $(SYSCONFDIR)/contactgate $(SYSCONFDIR)/default/contactgate /var/lib/contactgate \
	/var/spool/postfix/contactgate

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/plugins $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(INCDIR)/contactgate $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SHAREDIR)/policies $(DESTDIR)$(SHAREDIR)/examples $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/contactgate $(DESTDIR)$(SYSCONFDIR)/default
	install -m 755 $(BUILD)/contactgate $(BUILD)/contactgatectl $(DESTDIR)$(SBINDIR)/
	install -m 755 $(PLUGINS) $(DESTDIR)$(LIBDIR)/plugins/
	$(SUBST) sendmail-conf/socket-dir.sh > $(DESTDIR)$(LIBEXECDIR)/socket-dir
	chmod 755 $(DESTDIR)$(LIBEXECDIR)/socket-dir
	install -m 644 include/contactgate/plugin.h $(DESTDIR)$(INCDIR)/contactgate/
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 policies/*.json $(DESTDIR)$(SHAREDIR)/policies/
	install -m 644 examples/plugin/require_header.c $(DESTDIR)$(SHAREDIR)/examples/
	install -m 644 sendmail-conf/contactgate.m4 sendmail-conf/postfix-main.cf $(DESTDIR)$(SHAREDIR)/
	$(SUBST) sendmail-conf/contactgate.service > $(DESTDIR)$(UNITDIR)/contactgate.service
	install -m 644 examples/contactgate.minimal.json $(DESTDIR)$(SHAREDIR)/examples/
	chmod 644 $(DESTDIR)$(UNITDIR)/contactgate.service
	@for f in contactgate.json:$(SYSCONFDIR)/contactgate/contactgate.json \
	          contactgate.default:$(SYSCONFDIR)/default/contactgate; do \
	    src=sendmail-conf/$${f%%:*}; dst=$(DESTDIR)$${f#*:}; \
	    if [ -e "$$dst" ]; then echo "install: kept $$dst (yours: content and mode unchanged)"; \
	    else echo "$(SUBST) $$src > $$dst"; $(SUBST) "$$src" > "$$dst.tmp" && chmod 644 "$$dst.tmp" && \
	        mv "$$dst.tmp" "$$dst" || exit 1; fi; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@for d in $(addprefix $(DESTDIR),$(INSTALLED_DIRS)); do \
	    [ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || \
	        echo "uninstall: kept $$d: it holds files make install did not put there"; \
	done
	@echo "uninstall: left in place (remove them yourself if you no longer need them):"
	@for k in $(addprefix $(DESTDIR),$(KEPT)) $(DESTDIR)/run/contactgate; do \
	    [ ! -e "$$k" ] || echo "  $$k"; \
	done
	@if getent passwd contactgate >/dev/null 2>&1; then \
	    echo "  the user contactgate (deluser --system contactgate)"; fi
	@echo "uninstall: take contactgate out of the MTA's milters first, and stop the service:"
	@echo "  systemctl disable --now contactgate (then systemctl daemon-reload)"

# make deb: the Debian package (debian/), built with dpkg-buildpackage from a
# copy of the tree in $(BUILD)/deb/src, so the package never sees or cleans
# this tree's build directories; lintian must report no errors.
DEB_DIR = $(BUILD)/deb
deb: deps-deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar --exclude-vcs --exclude='./build*' --exclude='./$(BUILD)' --exclude=./tmp -cf - . | \
		tar -C $(DEB_DIR)/src -xf -
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc -J
	lintian --fail-on error $(DEB_DIR)/*.deb
	@ls -1 $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD) build-asan $(FUZZ_BUILD) $(TSAN_BUILD) $(FUZZ_COV_BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- fuzzing and ThreadSanitizer (README "Fuzzing") ----------------------
#   make fuzz        build the libFuzzer targets tests/fuzz/fuzz_*.c with
#                    clang, ASan and UBSan into build-fuzz/ (the core, the
#                    decider, cg_milter.o and the plugins too) and run each
#                    for FUZZ_SECS seconds, or FUZZ_RUNS executions when
#                    set; FUZZ_TARGETS picks some, FUZZ_JOBS runs them
#                    side by side (tests/fuzz/run.sh)
#   make fuzz-build  only build them (make test's smoke test runs them)
#   make fuzz-cov    line and branch coverage of what each target is about,
#                    reached by its seeds and what make fuzz found (clang
#                    source-based coverage, build-fuzz-cov/; coverage.sh)
#   make tsan        the decider's unit test under ThreadSanitizer (build-tsan/)
FUZZ_CC    ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SECS  ?= 120
FUZZ_RUNS  ?= 0
FUZZ_JOBS  ?= 1
FUZZ_WORKERS ?= 1
FUZZ_TARGETS ?=
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
TSAN_BUILD ?= build-tsan
FUZZ_COV_BUILD ?= build-fuzz-cov

# the flags of WARN clang knows: a gcc-only warning flag would fail every
# clang compile under -Werror (probed when fuzz-build runs)
FUZZ_WARN = $(strip $(foreach f,$(WARN),$(shell $(FUZZ_CC) -Werror $(f) -fsyntax-only -x c /dev/null \
	>/dev/null 2>&1 && echo '$(f)')))

.PHONY: fuzz fuzz-build fuzz-bins fuzz-cov tsan
fuzz-build:
	@$(MAKE) --no-print-directory CC=$(FUZZ_CC) BUILD=$(FUZZ_BUILD) WARN="$(FUZZ_WARN)" \
		OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		PLUGIN_LDFLAGS=-shared fuzz-bins

fuzz: deps-test fuzz-build
	@FUZZ_SECS=$(FUZZ_SECS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_WORKERS=$(FUZZ_WORKERS) \
		sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

# (with BUILD=$(FUZZ_BUILD), from fuzz-build) the ASan runtime is in the
# fuzz binary, so the plugins link without -z defs
fuzz-bins: $(FUZZ_BIN) $(PLUGINS)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fz_common.h $(LIBCGD) $(LIBCG)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Imilter -Itests/fuzz $(CFLAGS) -fsanitize=fuzzer $(DEPFLAGS) \
		-DCG_FUZZ_SRCDIR='"$(CURDIR)"' -DCG_FUZZ_BUILDDIR='"$(abspath $(BUILD))"' \
		-o $@ $< $(filter %.o,$^) $(LIBCGD) $(LIBCG) $(LDLIBS_CORE)

# the milter harness links the daemon's callbacks and a libmilter of its own
$(BUILD)/fuzz/fuzz_milter: $(BUILD)/milter/cg_milter.o $(BUILD)/milter/cg_gate.o \
	$(BUILD)/tests/fuzz/fz_libmilter.o

tsan:
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) OPT="-O1 -g -fsanitize=thread" \
		$(TSAN_BUILD)/tests/test_decider $(PLUGIN_NAMES:%=$(TSAN_BUILD)/plugins/%.so) \
		$(TEST_PLUGINS:$(BUILD)/%=$(TSAN_BUILD)/%)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" CG_BUILD_DIR=$(TSAN_BUILD) \
		$(TSAN_BUILD)/tests/test_decider

fuzz-cov:
	@$(MAKE) --no-print-directory CC=$(FUZZ_CC) BUILD=$(FUZZ_COV_BUILD) WARN="$(FUZZ_WARN)" \
		OPT="-O0 -g -fprofile-instr-generate -fcoverage-mapping" PLUGIN_LDFLAGS=-shared fuzz-bins
	@sh tests/fuzz/coverage.sh $(FUZZ_COV_BUILD) $(FUZZ_BUILD) $(FUZZ_TARGETS)
