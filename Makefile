# Thin wrapper around CMake. `make demo` and `make test` install what is
# missing (scripts/bootstrap.sh), configure, build, then run.
BUILD     ?= build
ASAN_BUILD ?= build-asan
TYPE      ?= RelWithDebInfo
WERROR    ?= $(if $(CI),ON,OFF)
CMAKE_ARGS ?=
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)

MAKEFLAGS += --no-print-directory

.PHONY: all bootstrap configure build demo test test-sanitize clean format

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

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
