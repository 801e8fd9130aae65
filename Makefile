# ragd - one Makefile.  Targets: all test asan bench fuzz demo clean.
#
# Sources are found by wildcard: src/<module>/*.c goes into libragd.a,
# src/cli/*.c into the ragd binary, tests/*.c into build/test_ragd.
# Files named *_avx2.c / *_avx512.c are compiled with those ISA flags and
# must only be entered after run-time CPU dispatch (core/cpu.h).

CC       ?= cc
BUILD    ?= build
PKGS     := libmicrohttpd jansson sqlite3 libcurl libutf8proc libpcre2-8 opencc \
            poppler-glib libxml-2.0 libcmark-gfm libcrypto openblas friso
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lcmark-gfm-extensions -lstemmer -lm -lpthread

OPT      ?= -O2
WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow=local -Wvla
ifeq ($(CI),true)
WARN     += -Werror
endif
ifneq ($(WERROR),)
WARN     += -Werror
endif
CFLAGS   += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -fno-strict-aliasing -Isrc -Iinclude $(PKG_CFLAGS) $(XCFLAGS)
LDFLAGS  += $(XLDFLAGS)
LDLIBS   += $(PKG_LIBS)

ifneq ($(SAN),)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16

LIB_SRCS  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRCS  := $(wildcard src/cli/*.c)
TEST_SRCS := $(wildcard tests/*.c)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
BENCH_SRCS:= $(wildcard bench/bench_*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libragd.a
RAGD      := ragd$(if $(SAN),-asan,)
FUZZ_REPLAY := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/replay_%)
BENCH_BINS  := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test unit asan bench fuzz demo clean deps
all: $(RAGD)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@echo "CC $< (avx2)"
	@$(CC) $(CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@echo "CC $< (avx512)"
	@$(CC) $(CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(RAGD): $(CLI_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/test_ragd: $(TEST_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJS) $(LIB) $(LDLIBS)

# Fuzz targets replayed over their seed corpus by a plain driver (no clang needed).
$(BUILD)/fuzz/replay_%: fuzz/%.c fuzz/replay_main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< fuzz/replay_main.c $(LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

unit: $(BUILD)/test_ragd $(RAGD) $(FUZZ_REPLAY)
	RAGD_BIN=$(CURDIR)/$(RAGD) RAGD_BUILD=$(BUILD) ./$(BUILD)/test_ragd $(T)

test: unit

asan:
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 XCFLAGS="-Wno-error=format-truncation" test

# libFuzzer builds (clang); run one with: build-fuzz/fuzz_md fuzz/corpus/fuzz_md
fuzz:
	@mkdir -p build-fuzz
	$(MAKE) BUILD=build-fuzz CC=clang XCFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	    XLDFLAGS="-fsanitize=address,undefined" build-fuzz/libragd.a
	for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	    clang $(CFLAGS) -fsanitize=fuzzer,address,undefined -o build-fuzz/$$n $$f build-fuzz/libragd.a $(LDLIBS) || exit 1; done

bench: $(RAGD) $(BENCH_BINS)
	bash bench/run.sh

demo:
	bash scripts/install-deps.sh
	$(MAKE) all
	bash scripts/demo.sh

clean:
	rm -rf build build-asan build-fuzz ragd ragd-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
