# Thin wrappers over cmake/ctest. `make test` and `make demo` install what they need first.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_DIR ?= $(HOME)/.cache/ccache
export CCACHE_MAXSIZE ?= 5G

DEB_PACKAGES := g++ cmake pkg-config ninja-build ccache openssl curl ca-certificates git \
  libboost1.81-dev libssl-dev nlohmann-json3-dev libpq-dev prometheus-cpp-dev libabsl-dev \
  libgtest-dev libgmock-dev libspdlog-dev libyaml-cpp-dev libbenchmark-dev \
  postgresql-15 prometheus python3-kubernetes python3-yaml clang-format clang-tidy clang wrk skopeo

.PHONY: all deps build test test-asan test-asan-quick test-tsan unit e2e demo bench images fuzz fuzz-save format lint manifests \
  clean help

all: build

help:
	@echo "make demo   run hub + agent + edge stand-in locally and show kubectl through the hub"
	@echo "make test   install dependencies, build, run every test (unit, integration, e2e)"
	@echo "make test-asan  every test but the image archives' under ASan + UBSan (build-asan/)"
	@echo "make test-asan-quick  unit and integration tests under ASan + UBSan (build-asan/)"
	@echo "make test-tsan  unit and integration tests under ThreadSanitizer (build-tsan/)"
	@echo "make build  configure and build into $(BUILD_DIR)/ (binaries in $(BUILD_DIR)/bin)"
	@echo "make deps   install the Debian packages the build and tests need (idempotent)"
	@echo "make bench  run the benchmarks, results in bench/results/"
	@echo "make images build OCI image archives of hub, agent, metaserver in $(BUILD_DIR)/images/ (offline)"
	@echo "make fuzz   build fuzz targets with libFuzzer (clang) and run each for a while"
	@echo "make fuzz-save  keep the grown fuzz corpora in tests/fuzz/campaign/ (make fuzz resumes from them)"
	@echo "make lint   clang-format, then clang-tidy (.clang-tidy; unchanged files remembered)"
	@echo "make manifests  render the Helm charts into deploy/manifests/ (plain YAML)"

deps:
	@missing=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(DEB_PACKAGES) 2>/dev/null | \
	  awk '$$4 != "installed" {print $$1}'; \
	  for p in $(DEB_PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$(echo $$missing | tr '\n' ' ')"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends $(DEB_PACKAGES) >/dev/null; \
	else echo "deps: all packages present"; fi
	@scripts/install-helm.sh || echo "deps: WARNING: helm could not be installed; the chart" \
	  "tests (ctest -R deploy.charts) will fail until scripts/install-helm.sh succeeds"

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

# TARGETS: build only these (default: everything).
build: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) $(if $(TARGETS),--target $(TARGETS))

test: deps
	@$(MAKE) --no-print-directory build
	@scripts/run-tests.sh $(BUILD_DIR)

# Sanitizer runs (CI runs test-tsan and test-asan after `make test`). Leak detection is on; undefined behaviour
# aborts (-fno-sanitize-recover=all at compile time); the e2e tests fail when any of the binaries
# they start writes a report (scripts/sanitizer-reports.sh). Suppressions, third-party only, are
# in tests/sanitizers/. The image test checks release packaging, which an ASan build is not.
SANITIZER_DIR := $(CURDIR)/tests/sanitizers
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1 \
  LSAN_OPTIONS=suppressions=$(SANITIZER_DIR)/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(SANITIZER_DIR)/ubsan.supp
TSAN_ENV := TSAN_OPTIONS=second_deadlock_stack=1:suppressions=$(SANITIZER_DIR)/tsan.supp
# The test binaries of the unit and integration labels (ctest -L), nothing else, for TSan and
# the quick ASan run.
TSAN_TARGETS := kubehub_unit_tests kubehub_component_tests kubehub_standin_tests \
  kubehub_metaserver_tests kubehub_integration_tests kubehub_metaserver_integration_tests \
  kubehub_metaserver_store_tests

test-asan: deps
	@$(MAKE) --no-print-directory build BUILD_DIR=build-asan CMAKE_ARGS=-DKUBEHUB_SANITIZE=ON
	@$(ASAN_ENV) scripts/run-tests.sh build-asan -LE images

# The unit and integration labels only, and only their binaries built (same directory as
# test-asan): the quick check by hand; CI runs the whole suite (`make test-asan`).
test-asan-quick: deps
	@$(MAKE) --no-print-directory build BUILD_DIR=build-asan CMAKE_ARGS=-DKUBEHUB_SANITIZE=ON \
	  TARGETS="$(TSAN_TARGETS)"
	@$(ASAN_ENV) scripts/run-tests.sh build-asan -L '^(unit|integration)$$'

test-tsan: deps
	@$(MAKE) --no-print-directory build BUILD_DIR=build-tsan CMAKE_ARGS=-DKUBEHUB_TSAN=ON \
	  TARGETS="$(TSAN_TARGETS)"
	@$(TSAN_ENV) scripts/run-tests.sh build-tsan -L '^(unit|integration)$$'

unit: build
	cd $(BUILD_DIR) && ctest -L unit --output-on-failure -j $(JOBS)

demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh $(BUILD_DIR)

# The runner is bench/kubehub_bench/ (Python), its C++ tools bench/tools/; see bench/README.md.
bench: deps
	@$(MAKE) --no-print-directory build BUILD_DIR=build-release BUILD_TYPE=Release
	@scripts/bench.sh build-release

# OCI archives (podman load -i, skopeo copy oci-archive:...) from the local build, no registry.
images: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kubehub-hub kubehub-agent kubehub-metaserver kubehubctl
	scripts/images.py --bin-dir $(BUILD_DIR)/bin --out-dir $(BUILD_DIR)/images

# Every target listed by CMake (build-fuzz/fuzz_targets.txt: "target corpus-dir" lines), each for
# FUZZ_SECONDS, or for FUZZ_RUNS executions when set (make fuzz FUZZ_RUNS=10000000), new inputs
# kept in build-fuzz/corpus/<target>; FUZZ_TARGETS="a b" runs only those; stops at the first
# failure. FUZZ_RSS_MB is libFuzzer's memory limit: ASan's quarantine of freed chunks (256 MB of
# payload) holds the commands file parsers' many small allocations with their redzones, so
# commands_config_fuzz passes libFuzzer's default 2 GB after a few million runs without leaking
# anything (1,000 runs of the same ten inputs: 1.17 GB peak; 54 MB with
# ASAN_OPTIONS=quarantine_size_mb=0).
FUZZ_SECONDS ?= 60
FUZZ_RSS_MB ?= 4096
FUZZ_RUNS ?=
FUZZ_TARGETS ?=
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKUBEHUB_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	while read -r t seeds; do \
	  if [ -n "$(FUZZ_TARGETS)" ] && ! echo " $(FUZZ_TARGETS) " | grep -q " $$t "; then continue; fi; \
	  if [ -n "$(FUZZ_RUNS)" ]; then limit="-runs=$(FUZZ_RUNS)"; else limit="-max_total_time=$(FUZZ_SECONDS)"; fi; \
	  echo "fuzz: $$t ($$limit)"; \
	  mkdir -p build-fuzz/corpus/$$t; \
	  if [ -z "$$(ls -A build-fuzz/corpus/$$t)" ] && [ -f tests/fuzz/campaign/$$t.tar.gz ]; then \
	    echo "fuzz: $$t resumes from tests/fuzz/campaign/$$t.tar.gz"; \
	    tar -xzf tests/fuzz/campaign/$$t.tar.gz -C build-fuzz/corpus/$$t; \
	  fi; \
	  build-fuzz/bin/$$t $$limit -print_final_stats=1 -rss_limit_mb=$(FUZZ_RSS_MB) \
	    -artifact_prefix=build-fuzz/$$t- build-fuzz/corpus/$$t $$seeds || exit 1; \
	done < build-fuzz/fuzz_targets.txt

# Keeps a fuzzing campaign across machines: each target's corpus in build-fuzz/corpus/<target>
# (FUZZ_TARGETS: only those), reduced by libFuzzer's merge to the inputs that add coverage, is
# packed into tests/fuzz/campaign/<target>.tar.gz (reproducibly: sorted names, no times, no
# owners), which `make fuzz` unpacks into an empty corpus directory before it runs.
fuzz-save:
	@test -f build-fuzz/fuzz_targets.txt || { echo "fuzz-save: run make fuzz first"; exit 1; }
	@mkdir -p tests/fuzz/campaign
	@while read -r t seeds; do \
	  if [ -n "$(FUZZ_TARGETS)" ] && ! echo " $(FUZZ_TARGETS) " | grep -q " $$t "; then continue; fi; \
	  [ -n "$$(ls -A build-fuzz/corpus/$$t 2>/dev/null)" ] || continue; \
	  rm -rf build-fuzz/merged/$$t && mkdir -p build-fuzz/merged/$$t; \
	  build-fuzz/bin/$$t -merge=1 -rss_limit_mb=$(FUZZ_RSS_MB) build-fuzz/merged/$$t build-fuzz/corpus/$$t \
	    > build-fuzz/merged/$$t.log 2>&1 || { echo "fuzz-save: merge of $$t failed (build-fuzz/merged/$$t.log)"; exit 1; }; \
	  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C build-fuzz/merged/$$t -cf - . \
	    | gzip -n -9 > tests/fuzz/campaign/$$t.tar.gz; \
	  echo "fuzz-save: $$t: $$(ls build-fuzz/merged/$$t | wc -l) inputs of $$(ls build-fuzz/corpus/$$t | wc -l)," \
	    "$$(du -k tests/fuzz/campaign/$$t.tar.gz | cut -f1) KiB"; \
	done < build-fuzz/fuzz_targets.txt

# Plain YAML for those who do not use Helm; tests/deploy fails when it is out of date.
manifests:
	@scripts/install-helm.sh >/dev/null
	@/usr/bin/python3 scripts/manifests.py

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

# clang-tidy needs the compile commands (a configured build); a whole-tree run from cold is
# about 6 CPU-seconds a file, later runs check only what changed (scripts/tidy.py).
lint: $(BUILD_DIR)/build.ninja
	git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror
	scripts/tidy.py $(BUILD_DIR) --jobs $(JOBS)

clean:
	rm -rf $(BUILD_DIR) build-release build-fuzz build-asan build-tsan
