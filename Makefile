# Thin wrapper around CMake. `make test` and `make mnist` work on a fresh Debian
# machine: each installs what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DTAPEFLOW_NATIVE=ON
PYTHON := /usr/bin/python3

.PHONY: all deps build test bench mnist data plot format clean

all: build

deps:
	scripts/install-deps.sh build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test:
	scripts/install-deps.sh test
	scripts/fetch-data.sh mnist
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

bench:
	scripts/install-deps.sh bench
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DTAPEFLOW_BUILD_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS)
	bench/run.sh $(BUILD)

data:
	scripts/install-deps.sh test
	scripts/fetch-data.sh all

mnist:
	scripts/install-deps.sh mnist
	scripts/fetch-data.sh all
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS) --target mnist
	$(BUILD)/examples/mnist --metrics $(BUILD)/mnist-metrics.csv --checkpoint-dir $(BUILD)/mnist-ckpt $(ARGS)
	$(PYTHON) scripts/plot_metrics.py $(BUILD)/mnist-metrics.csv $(BUILD)/mnist-metrics.png

plot:
	scripts/install-deps.sh mnist
	$(PYTHON) scripts/plot_metrics.py $(BUILD)/mnist-metrics.csv $(BUILD)/mnist-metrics.png

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD)
