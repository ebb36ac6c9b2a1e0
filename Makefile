# embedwatch: one non-recursive GNU Makefile.
#   make            build bin/embedwatch and bin/embedwatch-worker
#   make check      layer check, unit + integration tests, plain and under
#                   ASan+UBSan
#   make unit | integration | asan | ubsan | bench | demo | clean
#   make install | uninstall   PREFIX (/usr/local), DESTDIR, BINDIR, MANDIR,
#                   UNITDIR, BASHCOMPDIR
#   make deps       install the Debian packages the build needs (apt-get);
#                   nothing else here installs packages: a build whose
#                   libraries pkg-config cannot find stops and names them
#   make unit T=test_buf, make integration T=t_fault_hang: only the tests
#                   named (a comma list; globs such as T='t_fault_*' too)
# CC, CPPFLAGS, CFLAGS, LDFLAGS and LDLIBS may be overridden; WERROR=1 adds
# -Werror (CI sets it).

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

CC	?= cc
CFLAGS	?= -O2 -g
BUILD	?= build
BIN	?= bin
PKGS	 = libcurl jansson libbsd openssl libmicrohttpd
PYTHON	?= python3
INSTALL	?= install

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
UNITDIR	?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

# The Debian package that gives each pkg-config name in PKGS (and the unit
# tests' cmocka); a name without a row is taken to be NAME-dev.
DEB_libcurl	= libcurl4-openssl-dev
DEB_jansson	= libjansson-dev
DEB_libbsd	= libbsd-dev
DEB_openssl	= libssl-dev
DEB_cmocka	= libcmocka-dev
DEB_libmicrohttpd = libmicrohttpd-dev
DEB_libhttp_parser = libhttp-parser-dev
deb_of	 = $(or $(DEB_$(subst -,_,$(1))),$(1)-dev)

WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wcast-qual -Wformat=2
ifeq ($(WERROR),1)
WARN	+= -Werror
endif

# pkg-config runs at recipe time, after the pkgs check below.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lm
# Each tree sees only what it may include: shared/ itself; worker/ itself
# and shared/; the supervisor its own layers (as "layer/module.h"), shared/
# and the worker's entry point for fork mode. tests/check_layers.py holds
# the supervisor's layers to their order (keep its SEARCH in step). Unit
# tests see what the supervisor sees and their own helpers, as
# "support/fake_spawn.h".
INC_shared	= -Ishared
INC_worker	= -Ishared -Iworker
INC_supervisor	= -Ishared -Isupervisor -Iworker
INC_tests	= $(INC_supervisor) -Itests/unit
EW_CPPFLAGS = -D_GNU_SOURCE $(PKG_CFLAGS) $(CPPFLAGS)
EW_CFLAGS  = -std=c11 $(WARN) -MMD -MP $(CFLAGS)

SHARED_SRC	= $(wildcard shared/*.c)
WORKER_SRC	= $(filter-out worker/main.c,$(wildcard worker/*.c))
SUP_SRC		= $(wildcard supervisor/*/*.c)
LIB_SRC		= $(SHARED_SRC) $(WORKER_SRC) $(SUP_SRC)
UNIT_SRC	= $(wildcard tests/unit/test_*.c)
# The unit tests' own helpers (the fake spawner), an archive beside the
# library, so a test binary takes only what it uses.
SUPPORT_SRC	= $(wildcard tests/unit/support/*.c)

LIB_OBJ	= $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB	= $(BUILD)/libembedwatch.a
SUPPORT_OBJ = $(SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
SUPPORT_LIB = $(BUILD)/libtestsupport.a
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# libFuzzer harnesses (tests/fuzz/fuzz_*.c), built by clang into build/fuzz.
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CC	?= clang
FUZZ_FLAGS = -O1 -g -fno-omit-frame-pointer \
	     -fsanitize=fuzzer-no-link,address,undefined \
	     -fno-sanitize-recover=undefined

SAN_FLAGS = -O1 -g -fno-omit-frame-pointer
ASAN_FLAGS = $(SAN_FLAGS) -fsanitize=address,undefined \
	     -fno-sanitize-recover=undefined
UBSAN_FLAGS = $(SAN_FLAGS) -fsanitize=undefined -fno-sanitize-recover=undefined

.PHONY: all unit-bins check unit integration asan ubsan asan-build \
	ubsan-build bench demo clean deps pkgs pkgs-test install uninstall \
	fuzz fuzz-bins fuzz-build

all: $(BIN)/embedwatch $(BIN)/embedwatch-worker

# The Debian packages, and the real openai-node SDK the HTTP front's tests
# and benchmark talk to (scripts/node).
deps:
	scripts/install-deps
	scripts/install-node-deps

# A build never installs anything: without the libraries it stops here and
# says which Debian packages hold them (`make deps` installs them).
pkg_missing = $(foreach p,$(1),$(if $(shell pkg-config --exists $(p) \
	2>/dev/null && echo y),,$(p)))
define pkg_check
	@command -v pkg-config >/dev/null 2>&1 || { echo "embedwatch: \
	pkg-config is not installed; install the Debian package pkg-config \
	(or run 'make deps')" >&2; exit 1; }
	@m='$(strip $(call pkg_missing,$(1)))'; [ -z "$$m" ] || { \
	echo "embedwatch: pkg-config cannot find: $$m" >&2; \
	echo "embedwatch: install the Debian packages: $(strip \
	$(foreach p,$(call pkg_missing,$(1)),$(call deb_of,$(p)))) \
	(or run 'make deps')" >&2; exit 1; }
endef

pkgs:
	$(call pkg_check,$(PKGS))
pkgs-test:
	$(call pkg_check,$(PKGS) cmocka)

$(BUILD)/obj/%.o: %.c | pkgs
	@mkdir -p $(@D)
	$(CC) $(INC_$(firstword $(subst /, ,$<))) $(EW_CPPFLAGS) $(EW_CFLAGS) \
	    -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SUPPORT_LIB): $(SUPPORT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/embedwatch: $(BUILD)/obj/supervisor/main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BIN)/embedwatch-worker: $(BUILD)/obj/worker/main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_LIB) $(LIB) | pkgs-test
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka $(LDLIBS)

unit-bins: $(UNIT_BIN)

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) \
	    $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

# T picks tests by name; `make unit T=test_buf` builds only the binaries T
# names (make's filter understands one * per name; anything else builds
# them all and lets tests/run.py pick).
comma	:= ,
T_NAMES	 = $(subst *,%,$(subst $(comma), ,$(T)))
T_BINS	 = $(filter $(addprefix $(BUILD)/tests/,$(T_NAMES)),$(UNIT_BIN))
UNIT_PICK = $(or $(and $(T),$(T_BINS)),$(UNIT_BIN))

# The sanitizer builds live in their own directories.
asan-build: pkgs-test
	$(MAKE) BUILD=build/asan BIN=build/asan/bin CFLAGS="$(ASAN_FLAGS)" \
	    LDFLAGS="$(ASAN_FLAGS)" all unit-bins

ubsan-build: pkgs-test
	$(MAKE) BUILD=build/ubsan BIN=build/ubsan/bin CFLAGS="$(UBSAN_FLAGS)" \
	    LDFLAGS="$(UBSAN_FLAGS)" all unit-bins

# The fuzz build is skipped, with a message, where clang cannot link
# libFuzzer (tests/fuzz/run.py then says the fuzz check was skipped).
fuzz-build: pkgs
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, long n);' \
	    'int LLVMFuzzerTestOneInput(const char *d, long n)' \
	    '{ return d == 0 && n; }' | $(FUZZ_CC) -x c -fsanitize=fuzzer \
	    -o /dev/null - >/dev/null 2>&1; then \
	    $(MAKE) BUILD=build/fuzz BIN=build/fuzz/bin CC=$(FUZZ_CC) \
	    CFLAGS="$(FUZZ_FLAGS)" LDFLAGS="$(FUZZ_FLAGS)" fuzz-bins; \
	else echo "fuzz: skipped, '$(FUZZ_CC) -fsanitize=fuzzer' cannot" \
	    "link (apt-get install clang libclang-rt-14-dev)"; fi

# FUZZ_SECONDS per harness over its seed corpus (tests/fuzz/corpus/).
FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	$(PYTHON) tests/fuzz/run.py --seconds $(FUZZ_SECONDS)

RUN_TESTS = $(PYTHON) tests/run.py $(if $(T),--tests '$(T)')

check: all unit-bins asan-build fuzz-build
	$(RUN_TESTS) --suite plain:$(BIN):$(BUILD)/tests \
	    --suite asan:build/asan/bin:build/asan/tests

unit: $(UNIT_PICK)
	$(RUN_TESTS) --only unit --suite plain:$(BIN):$(BUILD)/tests

integration: all
	$(RUN_TESTS) --only integration --suite plain:$(BIN):$(BUILD)/tests

asan: asan-build
	$(RUN_TESTS) --suite asan:build/asan/bin:build/asan/tests

ubsan: ubsan-build
	$(RUN_TESTS) --suite ubsan:build/ubsan/bin:build/ubsan/tests

# The keep-alive libcurl floor the call-path benchmark compares with.
$(BUILD)/bench/floor: bench/floor.c
	@mkdir -p $(@D)
	$(CC) $(EW_CPPFLAGS) $(EW_CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS) $(LDLIBS)

bench: all $(BUILD)/bench/floor
	scripts/install-deps --bench
	scripts/install-node-deps
	scripts/bench
	$(PYTHON) scripts/bench-rtt.py --floor $(BUILD)/bench/floor
	$(PYTHON) scripts/bench-batch.py
	$(PYTHON) scripts/bench-serve.py
	$(PYTHON) scripts/bench-memory.py
	$(PYTHON) scripts/bench-resilience.py

demo: all
	scripts/demo

MAN1	= man/embedwatch.1 man/embedwatch-worker.1
MAN5	= man/embedwatch-protocol.5

# The unit with ExecStart= at the installed binary.
$(BUILD)/embedwatch.service: scripts/embedwatch.service
	@mkdir -p $(@D)
	sed 's|@BINDIR@|$(BINDIR)|g' scripts/embedwatch.service > $@

# Rebuilds the unit every time: BINDIR may differ from the last install.
install: all
	@rm -f $(BUILD)/embedwatch.service
	$(MAKE) $(BUILD)/embedwatch.service
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 755 $(BIN)/embedwatch $(BIN)/embedwatch-worker \
	    $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 644 $(BUILD)/embedwatch.service $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -m 644 scripts/embedwatch.bash-completion \
	    $(DESTDIR)$(BASHCOMPDIR)/embedwatch

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/embedwatch \
	    $(DESTDIR)$(BINDIR)/embedwatch-worker \
	    $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5))) \
	    $(DESTDIR)$(UNITDIR)/embedwatch.service \
	    $(DESTDIR)$(BASHCOMPDIR)/embedwatch

clean:
	rm -rf build bin tests/log

-include $(LIB_OBJ:.o=.d) $(SUPPORT_OBJ:.o=.d) \
	 $(UNIT_SRC:tests/unit/%.c=$(BUILD)/obj/tests/unit/%.d)
-include $(BUILD)/obj/supervisor/main.d $(BUILD)/obj/worker/main.d
-include $(FUZZ_SRC:%.c=$(BUILD)/obj/%.d)
