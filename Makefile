# Thin wrapper around CMake. `make test` and `make mnist` work on a fresh Debian
# machine: each installs what is missing first.
#
#   make test            install, build, run every test (ctest)
#   make mnist ARGS=...  train the MNIST example (flags: build/examples/mnist --help)
#   make mnist-mpi NP=2  the same, data-parallel over NP local MPI processes
#   make install PREFIX=/opt/tapeflow
#   make NATIVE=1 ...    build the library for this CPU only (faster; not portable)
#   make WERROR=1 ...    warnings are errors (CI)
#   make sanitize / tsan / fuzz   the suite under ASan+UBSan / two threads under TSan / libFuzzer
#   make test-portable   the unit tests built without oneDNN (im2col + BLAS convolutions)
#   make compare         tapeflow beside LibTorch and PyTorch, one run
BUILD ?= build
JOBS ?= $(shell nproc)
NATIVE ?= 0
WERROR ?= 0
PREFIX ?= /usr/local
onoff = $(if $(filter 1 ON on yes,$(1)),ON,OFF)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DTAPEFLOW_NATIVE=$(call onoff,$(NATIVE)) \
               -DTAPEFLOW_WERROR=$(call onoff,$(WERROR))
PYTHON := /usr/bin/python3

.PHONY: all deps configure build test test-portable bench compare bench-distributed mnist mnist-mpi data plot install \
        format format-check sanitize tsan fuzz tidy clean

all: build

deps:
	scripts/install-deps.sh build

configure:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

test:
	scripts/install-deps.sh test
	scripts/fetch-data.sh mnist
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The unit tests on the portable kernels only (a build without oneDNN), as a
# user without libdnnl-dev gets them.
test-portable:
	scripts/install-deps.sh test
	scripts/fetch-data.sh mnist
	cmake -S . -B $(BUILD)-portable $(CMAKE_FLAGS) -DTAPEFLOW_ONEDNN=OFF -DTAPEFLOW_BUILD_EXAMPLES=OFF
	cmake --build $(BUILD)-portable -j $(JOBS) --target tapeflow_tests
	$(BUILD)-portable/tests/tapeflow_tests --warn NoTests

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer, in its
# own build tree (the package test is left out: it installs and builds a
# second project, which the sanitizers do not cover).
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
          LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
sanitize:
	scripts/install-deps.sh test
	scripts/fetch-data.sh mnist
	cmake -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=Release -DTAPEFLOW_SANITIZE=ON \
	      -DTAPEFLOW_WERROR=OFF
	cmake --build $(BUILD)-sanitize -j $(JOBS)
	$(SAN_ENV) ctest --test-dir $(BUILD)-sanitize --output-on-failure -j $(JOBS) -E package_consumer

# (Warnings are not errors here: make test checks them; GCC's flow analysis
# reports false "maybe uninitialized" values inside ASan-instrumented code.)

# Two threads training two models, under ThreadSanitizer.
tsan:
	scripts/install-deps.sh build
	cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=Release -DTAPEFLOW_TSAN=ON \
	      -DTAPEFLOW_BUILD_EXAMPLES=OFF
	cmake --build $(BUILD)-tsan -j $(JOBS) --target two_threads
	TSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/tsan.supp:halt_on_error=1 \
	      OMP_NUM_THREADS=1 $(BUILD)-tsan/tests/two_threads

# The libFuzzer targets (clang), FUZZ_SECONDS each (default 5 minutes). New
# coverage goes to $(BUILD)-fuzz/corpus-<target>; a crash input is written to
# tests/fuzz/corpus/<target>/ so that it is committed and replayed by make test.
FUZZ_SECONDS ?= 300
fuzz:
	scripts/install-deps.sh build fuzz
	CXX=clang++ cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEFLOW_FUZZ=ON
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzz_idx fuzz_npz fuzz_checkpoint
	for t in idx npz checkpoint; do \
	  mkdir -p $(BUILD)-fuzz/corpus-$$t && \
	  $(BUILD)-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=512 \
	      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=tests/fuzz/corpus/$$t/crash- \
	      $(BUILD)-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

bench:
	scripts/install-deps.sh bench
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DTAPEFLOW_BUILD_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS)
	bench/run.sh $(BUILD)

# tapeflow beside LibTorch and PyTorch: whole training steps at 1 and 2
# threads, interleaved in one run, then the micro-benchmarks (a few minutes).
compare:
	scripts/install-deps.sh bench
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DTAPEFLOW_BUILD_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS) --target step_bench libtorch_step tapeflow_bench libtorch_bench
	bench/compare.sh $(BUILD)

# Allreduce bandwidth, and steps/s of the MNIST models on 1 and 2 processes.
bench-distributed:
	scripts/install-deps.sh build mpi
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DTAPEFLOW_BUILD_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS) --target distributed_bench
	bench/distributed.sh $(BUILD)

data:
	scripts/install-deps.sh test
	scripts/fetch-data.sh all

mnist:
	scripts/install-deps.sh mnist
	scripts/fetch-data.sh all
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS) --target mnist
	$(BUILD)/examples/mnist --threads $(JOBS) --metrics $(BUILD)/mnist-metrics.csv \
	    --checkpoint-dir $(BUILD)/mnist-ckpt $(ARGS)
	$(PYTHON) scripts/plot_metrics.py $(BUILD)/mnist-metrics.csv $(BUILD)/mnist-metrics.png

# Data-parallel: NP processes on this machine (mpirun; as root it needs
# --allow-run-as-root), each with JOBS / NP threads and batch-size / NP examples.
NP ?= 2
MPIRUN = OMPI_MCA_plm_rsh_agent=$${OMPI_MCA_plm_rsh_agent-false} mpirun -np $(NP) --oversubscribe \
         $(if $(filter 0,$(shell id -u)),--allow-run-as-root)
mnist-mpi:
	scripts/install-deps.sh mnist mpi
	scripts/fetch-data.sh all
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS) --target mnist
	$(MPIRUN) --mca coll_libnbc_iallreduce_algorithm 1 $(BUILD)/examples/mnist --distributed --threads $(shell echo $$(( $(JOBS) / $(NP) > 0 ? $(JOBS) / $(NP) : 1 ))) \
	    --metrics $(BUILD)/mnist-mpi-metrics.csv --checkpoint-dir $(BUILD)/mnist-mpi-ckpt $(ARGS)
	$(PYTHON) scripts/plot_metrics.py $(BUILD)/mnist-mpi-metrics.csv $(BUILD)/mnist-mpi-metrics.png

plot:
	scripts/install-deps.sh mnist
	$(PYTHON) scripts/plot_metrics.py $(BUILD)/mnist-metrics.csv $(BUILD)/mnist-metrics.png

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')

# clang-tidy over the library's sources with the checks in .clang-tidy (not in CI).
tidy: configure
	clang-tidy -p $(BUILD) --quiet $$(git ls-files 'core/*.cpp' 'autograd/*.cpp' 'nn/*.cpp' \
	    'clip/*.cpp' 'optim/*.cpp')

clean:
	rm -rf $(BUILD) $(BUILD)-sanitize $(BUILD)-tsan $(BUILD)-fuzz
