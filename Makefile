# The commands users type. CMake does the building; this file is the front.
#   make          build (release with debug info) -> build/wsjwt
#   make run      build, then serve on :8080 with a development secret
#   make test     build release + ASan/UBSan/libFuzzer builds, run every test
#   make fuzz     run every fuzz target for FUZZ_SECONDS (default 60)
#   make bench    run the benchmarks and write bench/RESULTS.md
#   make install  install library, headers, CLI, pkg-config and CMake files (PREFIX=/usr/local)
BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
WERROR     ?= $(if $(CI),ON,OFF)

.PHONY: all build asan deps node-deps run test test-release test-asan fuzz bench install format format-check clean

all: build

deps:
	@scripts/deps.sh

node-deps:
	@scripts/deps.sh --node

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSJWT_WERROR=$(WERROR) -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWSJWT_WERROR=$(WERROR) \
		-DWSJWT_SANITIZE=ON -DWSJWT_FUZZ=ON

asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# run builds only the CLI: the tests are not needed to serve.
run: deps node-deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target wsjwt_cli
	@scripts/run.sh $(BUILD)/wsjwt

# Release build: every test. ASan+UBSan build: unit tests, fuzz targets briefly,
# and the integration tests against the sanitized server.
test: deps node-deps format-check
	$(MAKE) test-release
	$(MAKE) test-asan

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@scripts/abuse-summary.sh $(BUILD)

test-asan: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz|integration|abuse'

fuzz: deps asan
	@scripts/fuzz.sh $(ASAN_BUILD) $(FUZZ_SECONDS)

bench: deps node-deps build
	@scripts/bench.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@scripts/format-check.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
