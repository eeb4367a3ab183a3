#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit and multi-process tests in a
# normal build, under AddressSanitizer+UBSan and under ThreadSanitizer; the
# installed library used from an out-of-tree project; the fuzz targets for a
# bounded time; the benchmark in smoke mode (no timing claims).
#
#   scripts/test.sh            everything
#   FUZZ_SECONDS=N             time per fuzz target (default 30)
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh || exit 111
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-30}
passed=0 failed=0 failures=()

step() { # name, command...
  local name=$1; shift
  echo
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1)); echo "=== $name: ok"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED"
  fi
}

build() { # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DSHMRING_WERROR=ON -DSHMRING_STRESS_MESSAGES=10000000 "$@" >/dev/null &&
    cmake --build "$dir" -j"$jobs" >/dev/null
}

ctest_in() { # dir
  rm -f "$1"/Testing/*.xml
  (cd "$1" && ctest --output-on-failure --timeout 400)
}

step "build (RelWithDebInfo)" build build-ci
step "tests" ctest_in build-ci
step "build (address,undefined)" build build-asan -DSHMRING_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=Debug
step "tests under ASan+UBSan" ctest_in build-asan
step "build (thread)" build build-tsan -DSHMRING_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
step "tests under TSan" ctest_in build-tsan

install_check() {
  local prefix; prefix=$(mktemp -d)
  cmake --install build-ci --prefix "$prefix" >/dev/null || return 1
  # CMake package
  cmake -S tests/install -B build-install -DCMAKE_PREFIX_PATH="$prefix" >/dev/null &&
    cmake --build build-install >/dev/null &&
    LD_LIBRARY_PATH="$prefix/lib" ./build-install/consumer || return 1
  if [ -x build-install/cuda-consumer ]; then
    LD_LIBRARY_PATH="$prefix/lib" ./build-install/cuda-consumer || return 1
  fi
  # pkg-config, static and shared
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c11 -o build-install/consumer-pc \
    tests/install/consumer.c $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs shmring) &&
    LD_LIBRARY_PATH="$prefix/lib" ./build-install/consumer-pc || return 1
  cc -std=c11 -o build-install/consumer-static tests/install/consumer.c -I"$prefix/include" \
    "$prefix/lib/libshmring.a" -pthread && ./build-install/consumer-static || return 1
  rm -rf "$prefix"
}
step "install, then build against it out of tree" install_check

fuzz() {
  CC=clang build build-fuzz -DSHMRING_BUILD_FUZZ=ON -DSHMRING_BUILD_TESTS=OFF \
    -DSHMRING_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo || return 1
  local target rc=0
  for target in attach control topology; do
    mkdir -p "build-fuzz/corpus-$target"
    [ "$target" = control ] && cp tests/fuzz/seeds/*.bin "build-fuzz/corpus-$target/"
    [ "$target" = topology ] && cp examples/*/*.yaml tests/fuzz/seeds/*.yaml \
      "build-fuzz/corpus-$target/" 2>/dev/null
    echo "--- fuzz-$target, ${fuzz_seconds}s"
    ./build-fuzz/tests/fuzz/fuzz-$target -max_total_time="$fuzz_seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 "build-fuzz/corpus-$target" 2>&1 | tail -4
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  done
  return $rc
}
step "fuzz ring attach, control-segment attach and topology parsing (${fuzz_seconds}s each)" fuzz

step "benchmark smoke run: bench/run-all --quick, CSV and plots (no timing claims)" \
  ./bench/run-all --quick --build build-ci --out build-ci/bench-results

echo
leftover=$(ls /dev/shm | grep -c '^shmring\.' || true)
if [ "$leftover" -ne 0 ]; then
  echo "=== leaked segments: $(ls /dev/shm | grep '^shmring\.' | tr '\n' ' ')"
  failed=$((failed + 1)); failures+=("no segment left behind")
else
  passed=$((passed + 1))
fi
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
