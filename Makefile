# Thin wrapper around CMake. `make demo` and `make test` install what is
# missing (scripts/bootstrap.sh), configure, build, then run.
BUILD     ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
TYPE      ?= RelWithDebInfo
WERROR    ?= $(if $(CI),ON,OFF)
CMAKE_ARGS ?=
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)

MAKEFLAGS += --no-print-directory

.PHONY: all bootstrap configure build demo test test-sanitize test-tsan tidy clean format test-fuzz man

all: build

bootstrap:
	@sh scripts/bootstrap.sh

configure: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) -DSYNFIN_WERROR=$(WERROR) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

demo: build
	@echo "== synfin --summary -o $(BUILD)/demo.csv samples/busy_server.pcap"
	@./$(BUILD)/synfin --summary -o $(BUILD)/demo.csv samples/busy_server.pcap
	@echo "== the first rows of $(BUILD)/demo.csv (one row per connection)"
	@head -4 $(BUILD)/demo.csv

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-sanitize: bootstrap
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSYNFIN_SANITIZE=ON -DSYNFIN_WERROR=$(WERROR) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS)

# ThreadSanitizer on the tests that run threads (the pipeline's reader and
# worker, the decompressing reader): not the valgrind one, not the single-threaded
# module tests. TSan maps its shadow memory at fixed addresses, which the
# randomised mmap layout of recent kernels (vm.mmap_rnd_bits > 28) breaks
# ("FATAL: ThreadSanitizer: unexpected memory mapping"): ctest runs under
# `setarch -R` (no address randomisation) when the system allows it.
# Reports go to $(TSAN_BUILD)/tsan.<pid> (a test that runs synfin may keep
# its stderr to itself); any report fails the target.
TSAN_TESTS ?= ^test_(pipeline|ring|e2e|input|damaged|live|archive)$$
TSAN_NORAND = $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)

test-tsan: bootstrap
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNFIN_TSAN=ON -DSYNFIN_WERROR=$(WERROR) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS)
	@rm -f $(TSAN_BUILD)/tsan.*
	@[ -n "$(TSAN_NORAND)" ] || echo "test-tsan: setarch -R is not available; if TSan stops with" \
		"'unexpected memory mapping', lower the randomisation: sysctl -w vm.mmap_rnd_bits=28" >&2
	@cd $(TSAN_BUILD) && TSAN_OPTIONS="log_path=$(abspath $(TSAN_BUILD))/tsan second_deadlock_stack=1 $(TSAN_OPTIONS)" \
		$(TSAN_NORAND) ctest --output-on-failure -j$(JOBS) -R '$(TSAN_TESTS)'; rc=$$?; \
		if ls tsan.* >/dev/null 2>&1; then cat tsan.*; echo "test-tsan: ThreadSanitizer reports above" >&2; exit 1; fi; \
		exit $$rc

# The fuzz targets built with the replay engine (any compiler, ASan + UBSan)
# and run on every regression input and seed: the targets keep building, and
# every crash ever found stays fixed (fuzz/README.md).
FUZZ_BUILD ?= build-fuzz
test-fuzz: bootstrap
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSYNFIN_FUZZ=ON -DSYNFIN_FUZZ_ENGINE=replay -DSYNFIN_WERROR=$(WERROR) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_dissect fuzz_flows fuzz_pipeline
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -j$(JOBS) -R '^fuzz_.*_replay$$'

tidy:
	@sh scripts/bootstrap.sh --tidy
	@bash scripts/tidy.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-tidy

# synfin.1's COLUMNS from README's "The CSV" table (ctest `columns` checks it).
man:
	@sh scripts/columns.sh update README.md synfin.1
