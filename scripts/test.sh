#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit and multi-process tests in a
# normal build, under AddressSanitizer+UBSan and under ThreadSanitizer; the
# Python package installed into .venv by pip and its pytest suite; the
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
# The Python package as a user installs it (pip, into .venv: the pinned
# requirements, then the extension built by scikit-build-core), its tests
# running Python kernels under build-ci's supervisor. pip's cache keeps
# this to the build of the extension after the first run.
python_tests() {
  { [ -x .venv/bin/python ] || python3 -m venv .venv; } &&
    .venv/bin/pip install -q -r python/requirements.txt &&
    .venv/bin/pip install -q --no-build-isolation --no-deps --force-reinstall . &&
    SHMRING_BUILD="$PWD/build-ci" timeout 600 .venv/bin/python -m pytest -q -p no:cacheprovider \
      tests/python
}
step "python: pytest" python_tests
step "build (address,undefined)" build build-asan -DSHMRING_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=Debug
step "tests under ASan+UBSan" ctest_in build-asan
step "build (thread)" build build-tsan -DSHMRING_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
# libzmq is not instrumented: its handoff between threads is invisible to
# TSan (tests/tsan.supp says why); everything else is checked.
tsan_ctest() {
  TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}" ctest_in build-tsan
}
step "tests under TSan" tsan_ctest

install_check() {
  local prefix rc=0; prefix=$(mktemp -d)
  cmake --install build-ci --prefix "$prefix" >/dev/null || return 1
  installed_builds_check "$prefix" && ring_only_check "$prefix" &&
    io_kernel_check "$prefix" && installed_tools_check "$prefix" || rc=1
  rm -rf "$prefix"
  return $rc
}

# Out of tree, as a user builds: the CMake package, pkg-config (shared) and
# the static archives, each program run.
installed_builds_check() { # prefix
  local prefix=$1
  local -a pc=(env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config)
  cmake -S tests/install -B build-install -DCMAKE_PREFIX_PATH="$prefix" >/dev/null &&
    cmake --build build-install >/dev/null &&
    LD_LIBRARY_PATH="$prefix/lib" ./build-install/consumer || return 1
  if [ -x build-install/cuda-consumer ]; then
    LD_LIBRARY_PATH="$prefix/lib" ./build-install/cuda-consumer || return 1
  fi
  cc -std=c11 -o build-install/consumer-pc tests/install/consumer.c \
    $("${pc[@]}" --cflags --libs shmring) &&
    LD_LIBRARY_PATH="$prefix/lib" ./build-install/consumer-pc || return 1
  cc -std=c11 -o build-install/io-consumer-pc tests/install/io-consumer.c \
    $("${pc[@]}" --cflags --libs shmring-io) || return 1
  # Static: the ring archive alone needs nothing; the io one, liburing.
  cc -std=c11 -o build-install/consumer-static tests/install/consumer.c -I"$prefix/include" \
    "$prefix/lib/libshmring.a" -pthread && ./build-install/consumer-static || return 1
  cc -std=c11 -o build-install/io-consumer-static tests/install/io-consumer.c \
    -I"$prefix/include" "$prefix/lib/libshmring-io.a" "$prefix/lib/libshmring.a" \
    $("${pc[@]}" --libs liburing) -pthread
}

# A program that uses only ring.h loads no liburing, built either way: ldd
# lists every library the loader would map for it.
ring_only_check() { # prefix
  local p
  for p in build-install/consumer build-install/consumer-pc; do
    if LD_LIBRARY_PATH="$1/lib" ldd "$p" | grep liburing; then
      echo "$p uses only ring.h but loads liburing: libshmring must not link it"
      return 1
    fi
  done
}

# The io.h kernels built above, each run by the installed supervisor.
io_kernel_check() { # prefix
  local p out
  for p in io-consumer io-consumer-pc io-consumer-static; do
    out=$(LD_LIBRARY_PATH="$1/lib" timeout 60 "$1/bin/shmring-supervisor" run \
      -e "$PWD/build-install/$p" 2>&1)
    grep -q 'installed libshmring-io works' <<<"$out" || { echo "$p: $out"; return 1; }
  done
}

# The installed programs as a user runs them: no LD_LIBRARY_PATH, only the
# prefix's bin/ on PATH (their RPATH finds the installed libshmring.so).
installed_tools_check() { # prefix
  local prefix=$1 work rc=0; work=$(mktemp -d)
  local -a run=(env -u LD_LIBRARY_PATH PATH="$prefix/bin:/usr/bin:/bin")
  # The I/O example with its kernels found on PATH, and a file to copy.
  sed 's#\.\./\.\./kernels/##' build-ci/examples/io/copy.yaml >"$work/copy.yaml"
  head -c 3000001 /dev/urandom >"$work/input.bin"
  {
    "${run[@]}" shmring-supervisor --help && "${run[@]}" shmring-stat --help &&
      "${run[@]}" shmring-bench --help &&
      "${run[@]}" shmring-supervisor check build-ci/examples/doubler/doubler.yaml &&
      "${run[@]}" shmring-supervisor check "$work/copy.yaml" &&
      (cd "$work" && "${run[@]}" timeout 60 shmring-supervisor run copy.yaml) &&
      cmp "$work/input.bin" "$work/output.bin" &&
      (cd "$work" && "${run[@]}" timeout 60 shmring-supervisor run \
        -e 'shmring-file-source input.bin --chunk 64K ! shmring-checksum ! shmring-file-sink copy.bin') &&
      cmp "$work/input.bin" "$work/copy.bin" &&
      # A one-shot listing: exit 1 only says some segment in /dev/shm (maybe
      # not ours) could not be read; a program that cannot start prints nothing.
      { "${run[@]}" shmring-stat --interval 0.1; [ $? -le 1 ]; } &&
      "${run[@]}" shmring-stat --json --interval 0.1 | grep -q '^{"topologies":'
  } >"$work/log" 2>&1 || { rc=1; cat "$work/log"; }
  rm -rf "$work"
  return $rc
}
step "install, build against it out of tree, run the installed tools" install_check

fuzz() {
  CC=clang build build-fuzz -DSHMRING_BUILD_FUZZ=ON -DSHMRING_BUILD_TESTS=OFF \
    -DSHMRING_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo || return 1
  local target rc=0
  for target in attach control topology bridge; do
    mkdir -p "build-fuzz/corpus-$target"
    [ "$target" = control ] && cp tests/fuzz/seeds/*.bin "build-fuzz/corpus-$target/"
    [ "$target" = bridge ] && cp tests/fuzz/seeds/bridge/* "build-fuzz/corpus-$target/"
    [ "$target" = topology ] && cp examples/*/*.yaml tests/fuzz/seeds/*.yaml \
      "build-fuzz/corpus-$target/" 2>/dev/null
    echo "--- fuzz-$target, ${fuzz_seconds}s"
    ./build-fuzz/tests/fuzz/fuzz-$target -max_total_time="$fuzz_seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 "build-fuzz/corpus-$target" 2>&1 | tail -4
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  done
  # Large inputs apart (a few runs a second, they would starve the small
  # ones): the largest topology accepted, files just past each limit.
  rm -rf build-fuzz/corpus-topology-large
  python3 tests/fuzz/gen-large-topology.py build-fuzz/corpus-topology-large >/dev/null || return 1
  echo "--- fuzz-topology on large generated files, ${fuzz_seconds}s"
  ./build-fuzz/tests/fuzz/fuzz-topology -max_total_time="$fuzz_seconds" -timeout=30 \
    -max_len=1048576 -rss_limit_mb=4096 -print_final_stats=1 \
    build-fuzz/corpus-topology-large 2>&1 | tail -4
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  return $rc
}
step "fuzz ring attach, control-segment attach, topology parsing and the bridge wire format (${fuzz_seconds}s each)" fuzz

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
