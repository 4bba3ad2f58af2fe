# Vigil — one top-level Makefile. `make` builds bin/; `make run` runs the
# main job with embedded defaults; `make test` builds and runs every suite.
# Both install missing Debian packages first (as root). Switches:
#   SANITIZE=1   build everything with ASan + UBSan
#   O=dir        object directory (default build, or build-san with SANITIZE)

# Debian packages the build and the tests need. `make deps` installs the
# missing ones (apt-get update once, then apt-get install -y).
DEB_PACKAGES = gcc make pkg-config liblz4-dev libpcre2-dev libxxhash-dev \
               libcmocka-dev libuv1-dev libyaml-dev libhttp-parser-dev \
               libcurl4-openssl-dev libjansson-dev
# The real peers the integration tests start: Prometheus (API comparison),
# node_exporter (scraping), Alertmanager and python3 (notifications), openssl
# (self-signed HTTPS), curl.
DEB_PACKAGES_TEST = prometheus prometheus-node-exporter prometheus-alertmanager python3 \
                    openssl curl
DEB_PACKAGES_BENCH = prometheus time curl
DEB_PACKAGES_FUZZ  = clang libclang-rt-14-dev

CC      ?= cc
PKGS     = liblz4 libpcre2-8 libxxhash libuv yaml-0.1 libcurl jansson
CSTD     = -std=c11 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wswitch-enum \
           -Wno-sign-compare -Wno-missing-field-initializers
OPT     ?= -O2 -g
ifeq ($(SANITIZE),1)
O       ?= build-san
BIN     ?= bin-san
OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=undefined
LDSAN    = -fsanitize=address,undefined
else
O       ?= build
BIN     ?= bin
endif
CPPFLAGS += -Itsdb -Iquery -Iagent -MMD -MP
CFLAGS  += $(CSTD) $(WARN) $(OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lpthread -lm
LDFLAGS += $(LDSAN)

TSDB_SRC  = $(wildcard tsdb/*.c)
QUERY_SRC = $(filter-out query/tsq.c,$(wildcard query/*.c))
AGENT_SRC = $(filter-out agent/main.c,$(wildcard agent/*.c))
LIB_OBJ   = $(patsubst %.c,$(O)/%.o,$(TSDB_SRC) $(QUERY_SRC) $(AGENT_SRC))
# One static archive: a program links only the objects it uses.
LIB       = $(O)/libvigil.a

UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(UNIT_SRC))
BENCH_SRC = $(wildcard tests/bench/*.c)
BENCH_BIN = $(patsubst tests/bench/%.c,$(BIN)/bench/%,$(BENCH_SRC))
FUZZ_SRC  = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  = $(patsubst tests/fuzz/%.c,$(BIN)/fuzz/%,$(FUZZ_SRC))
# The same targets linked with tests/fuzz/replay.c: run by `make test` over
# tests/fuzz/corpus/<target>/ plus deterministic mutations.
REPLAY_BIN = $(patsubst tests/fuzz/%.c,$(BIN)/fuzz-replay/%,$(FUZZ_SRC))

PROGRAMS  = $(BIN)/tsq $(BIN)/promqltest $(if $(wildcard agent/main.c),$(BIN)/vigild)

.PHONY: all deps deps-test deps-bench deps-fuzz run demo test bench fuzz clean
all: $(PROGRAMS) $(UNIT_BIN) $(BENCH_BIN) $(REPLAY_BIN)

.SECONDARY:

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/tsq: $(O)/query/tsq.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/vigild: $(O)/agent/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/promqltest: $(O)/tests/promqltest.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/tests/%: $(O)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BIN)/fuzz-replay/%: $(O)/tests/fuzz/%.o $(O)/tests/fuzz/replay.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/bench/%: $(O)/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# libFuzzer targets (clang). Each target links the libraries rebuilt with
# -fsanitize=fuzzer-no-link so coverage reaches into the parsers and codecs.
FUZZ_O ?= build-fuzz
FUZZ_FLAGS = $(WARN) -g -O1 -fsanitize=fuzzer-no-link,address,undefined
$(FUZZ_O)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(CSTD) $(FUZZ_FLAGS) $(shell pkg-config --cflags $(PKGS)) -c $< -o $@
$(BIN)/fuzz/%: $(FUZZ_O)/tests/fuzz/%.o $(FUZZ_O)/libvigil.a
	@mkdir -p $(dir $@)
	clang -fsanitize=fuzzer,address,undefined $^ $(LDLIBS) -o $@
$(FUZZ_O)/libvigil.a: $(patsubst $(O)/%,$(FUZZ_O)/%,$(LIB_OBJ))
	@rm -f $@
	ar rcs $@ $^
fuzz: deps-fuzz
	$(MAKE) $(FUZZ_BIN)

deps:
	@sh tests/deps.sh $(DEB_PACKAGES)

deps-test:
	@sh tests/deps.sh $(DEB_PACKAGES) $(DEB_PACKAGES_TEST)

deps-bench:
	@sh tests/deps.sh $(DEB_PACKAGES) $(DEB_PACKAGES_BENCH)

deps-fuzz:
	@sh tests/deps.sh $(DEB_PACKAGES) $(DEB_PACKAGES_FUZZ)

# The agent in the foreground with its embedded defaults (Ctrl-C stops it).
run: deps
	$(MAKE) all
	$(BIN)/vigild

# The store demo: backfill, queries, analysis (tests/demo.sh).
demo: deps
	$(MAKE) all
	sh tests/demo.sh $(BIN)

test: deps-test
	$(MAKE) all
	sh tests/run-all.sh $(BIN)

bench: deps-bench
	$(MAKE) all
	sh tests/bench/storage.sh $(BIN)

clean:
	rm -rf build build-san build-fuzz bin bin-san

-include $(shell find $(O) $(FUZZ_O) -name '*.d' 2>/dev/null)
