# The README's two commands: `make demo` and `make check`.
# Everything else is CMake (see CMakeLists.txt); these targets only drive it.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo check test asan tsan bench campaign clean

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASPACE_DEBUG=ON >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# The main job: a narrated tour of what aspace does.
demo: build
	./$(BUILD)/tools/aspace/aspace demo

# Every test: the suite in a debug build (validators after every change),
# then once more under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# threaded tests under ThreadSanitizer.
check: test asan tsan

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DASPACE_DEBUG=ON \
	      -DASPACE_SANITIZE=address,undefined >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS)

TSAN_BUILD ?= build-tsan
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASPACE_DEBUG=ON \
	      -DASPACE_SANITIZE=thread >/dev/null
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target test_threads test_buddy test_slab
	TSAN_OPTIONS=halt_on_error=1 ctest --test-dir $(TSAN_BUILD) --output-on-failure \
	  -R 'test_(threads|buddy|slab)$$'

# Benchmarks: a release build without validators. The address-space figures
# (faults, TLB, mmap at scale, fork) are `aspace bench`; bench/ holds the
# component benchmarks (frames, page tables, region tree).
bench: deps
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DASPACE_TESTS=OFF >/dev/null
	cmake --build build-bench -j$(JOBS)
	@echo "== aspace bench"; ./build-bench/tools/aspace/aspace bench
	@for s in bench/bench_*.c; do b=build-bench/bench/$$(basename $$s .c); echo "== $$b"; $$b; done

# The proof on demand: a long differential campaign against this machine's
# kernel (20 seeds x 10,000 ops by default, about 6 minutes on 2 cores;
# FIRST=, SEEDS=, OPS= choose others). Logs in campaign-out/.
campaign: build
	./scripts/campaign.sh ./$(BUILD)/tools/aspace/aspace

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) build-bench campaign-out
