# embedwatch: one non-recursive GNU Makefile.
#   make            build bin/embedwatch and bin/embedwatch-worker
#   make check      layer check, unit + integration tests, plain and under
#                   ASan+UBSan
#   make unit | integration | asan | ubsan | bench | demo | clean
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

WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wcast-qual -Wformat=2
ifeq ($(WERROR),1)
WARN	+= -Werror
endif

# pkg-config runs at recipe time, after install-deps had its chance.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lm
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
DEPS_STAMP = build/.deps-installed
# The real openai-node SDK, for the HTTP front's tests and benchmark.
NODE_STAMP = scripts/node/node_modules/.embedwatch-lock

SAN_FLAGS = -O1 -g -fno-omit-frame-pointer
ASAN_FLAGS = $(SAN_FLAGS) -fsanitize=address,undefined \
	     -fno-sanitize-recover=undefined
UBSAN_FLAGS = $(SAN_FLAGS) -fsanitize=undefined -fno-sanitize-recover=undefined

.PHONY: all unit-bins check unit integration asan ubsan asan-build \
	ubsan-build bench demo clean deps node-deps

all: $(BIN)/embedwatch $(BIN)/embedwatch-worker

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps
	@mkdir -p $(@D)
	scripts/install-deps
	@touch $@

node-deps: $(NODE_STAMP)
$(NODE_STAMP): scripts/node/package-lock.json scripts/install-node-deps
	scripts/install-node-deps

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
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

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka $(LDLIBS)

unit-bins: $(UNIT_BIN)

# T picks tests by name; `make unit T=test_buf` builds only the binaries T
# names (make's filter understands one * per name; anything else builds
# them all and lets tests/run.py pick).
comma	:= ,
T_NAMES	 = $(subst *,%,$(subst $(comma), ,$(T)))
T_BINS	 = $(filter $(addprefix $(BUILD)/tests/,$(T_NAMES)),$(UNIT_BIN))
UNIT_PICK = $(or $(and $(T),$(T_BINS)),$(UNIT_BIN))

# The sanitizer builds live in their own directories. The sub-make waits
# for the deps stamp, so that under -j it never runs install-deps beside
# the top make (two apt-gets at once fail on apt's lock).
asan-build: $(DEPS_STAMP)
	$(MAKE) BUILD=build/asan BIN=build/asan/bin CFLAGS="$(ASAN_FLAGS)" \
	    LDFLAGS="$(ASAN_FLAGS)" all unit-bins

ubsan-build: $(DEPS_STAMP)
	$(MAKE) BUILD=build/ubsan BIN=build/ubsan/bin CFLAGS="$(UBSAN_FLAGS)" \
	    LDFLAGS="$(UBSAN_FLAGS)" all unit-bins

RUN_TESTS = $(PYTHON) tests/run.py $(if $(T),--tests '$(T)')

check: all unit-bins asan-build $(NODE_STAMP)
	$(RUN_TESTS) --suite plain:$(BIN):$(BUILD)/tests \
	    --suite asan:build/asan/bin:build/asan/tests

unit: $(UNIT_PICK)
	$(RUN_TESTS) --only unit --suite plain:$(BIN):$(BUILD)/tests

integration: all $(NODE_STAMP)
	$(RUN_TESTS) --only integration --suite plain:$(BIN):$(BUILD)/tests

asan: asan-build $(NODE_STAMP)
	$(RUN_TESTS) --suite asan:build/asan/bin:build/asan/tests

ubsan: ubsan-build $(NODE_STAMP)
	$(RUN_TESTS) --suite ubsan:build/ubsan/bin:build/ubsan/tests

bench: all $(NODE_STAMP)
	scripts/install-deps --bench
	scripts/bench
	$(PYTHON) scripts/bench-batch.py
	$(PYTHON) scripts/bench-serve.py

demo: all
	scripts/demo

clean:
	rm -rf build bin tests/log

-include $(LIB_OBJ:.o=.d) $(SUPPORT_OBJ:.o=.d) \
	 $(UNIT_SRC:tests/unit/%.c=$(BUILD)/obj/tests/unit/%.d)
-include $(BUILD)/obj/supervisor/main.d $(BUILD)/obj/worker/main.d
