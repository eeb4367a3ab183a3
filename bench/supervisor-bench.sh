#!/usr/bin/env bash
# supervisor-bench: what shmring-supervisor costs and what a topology moves.
#   1. launch time (supervisor start -> every kernel ready and activated, as
#      the supervisor reports it) and teardown time (SIGTERM -> supervisor
#      exited, every kernel reaped) of a 2-kernel and a 32-kernel chain
#      (gen -> double --factor 1 x N-2 -> sink), median of ROUNDS;
#   2. the 3-stage doubler (examples/doubler, 1 MiB rings) in messages/s,
#      beside the same pipeline over ZeroMQ ipc:// (bench/zmq-pipeline),
#      alternating runs, median of ROUNDS; the sink of each measures from
#      its first message to its last.
# Usage: bench/supervisor-bench.sh [BUILD_DIR] [ROUNDS] [MESSAGES]
set -euo pipefail
build=$(realpath "${1:-build}")
rounds=${2:-5}
msgs=${3:-10000000}
sup=$build/supervisor/shmring-supervisor
dir=$(mktemp -d)
trap 'pkill -9 -f "$dir" 2>/dev/null || true; rm -rf "$dir"' EXIT
cp "$build"/examples/doubler/{gen,double,sink} "$dir/"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

chain() { # N -> topology file with N kernels
  local n=$1 f=$dir/chain$1.yaml
  { echo "topology: chain$n"
    echo "kernels:"
    echo "  - { name: gen, exec: ./gen, args: [--count, \"1000000000000\"], outputs: [out] }"
    for ((i = 1; i <= n - 2; i++)); do
      echo "  - { name: d$i, exec: ./double, args: [--factor, \"1\"], inputs: [in], outputs: [out] }"
    done
    echo "  - { name: sink, exec: ./sink, args: [--factor, \"1\"], inputs: [in] }"
    echo "rings:"
    local prev=gen
    for ((i = 1; i <= n - 2; i++)); do
      echo "  - { from: $prev.out, to: d$i.in, capacity: 64KiB }"; prev=d$i
    done
    echo "  - { from: $prev.out, to: sink.in, capacity: 64KiB }"
  } > "$f"
  echo "$f"
}

lifecycle() { # N -> "launch_ms teardown_ms" medians
  local f; f=$(chain "$1")
  local l=() t=()
  for ((r = 0; r < rounds; r++)); do
    "$sup" run "$f" > "$dir/out" 2>&1 & local pid=$!
    for _ in $(seq 400); do grep -q ' active: ' "$dir/out" && break; sleep 0.025; done
    l+=("$(sed -n 's/.*(\([0-9.]*\) ms to launch).*/\1/p' "$dir/out")")
    sleep 0.2
    local t0; t0=$(date +%s%N)
    kill -TERM "$pid"; wait "$pid" || true
    t+=("$(( ($(date +%s%N) - t0) / 1000 ))")
  done
  printf '%s %s\n' "$(printf '%s\n' "${l[@]}" | median)" \
    "$(printf '%s\n' "${t[@]}" | median | awk '{printf "%.1f", $1 / 1000}')"
}

echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo
echo "| topology | launch (ms) | teardown (ms) |"
echo "| --- | ---: | ---: |"
for n in 2 32; do
  read -r l t < <(lifecycle $n)
  echo "| $n kernels (chain) | $l | $t |"
done

sed -e "s/1000000/$msgs/g" "$build/examples/doubler/doubler.yaml" > "$dir/doubler.yaml"
s=() z=()
for ((r = 0; r < rounds; r++)); do
  s+=("$("$sup" run "$dir/doubler.yaml" 2>&1 | sed -n 's/.*; \([0-9.]*\) M msg\/s/\1/p')")
  z+=("$("$build/bench/zmq-pipeline" "$msgs" 0 1 | sed -n 's/.*; \([0-9.]*\) M msg\/s/\1/p')")
done
sm=$(printf '%s\n' "${s[@]}" | median); zm=$(printf '%s\n' "${z[@]}" | median)
echo
echo "| 3-stage doubler, $msgs messages of 16 B | M msg/s (median of $rounds) | runs |"
echo "| --- | ---: | --- |"
echo "| shmring (examples/doubler, supervisor placement, 1 MiB rings) | $sm | ${s[*]} |"
echo "| ZeroMQ ipc:// (bench/zmq-pipeline, same cores) | $zm | ${z[*]} |"
echo "| ratio shmring / ZeroMQ | $(awk -v a="$sm" -v b="$zm" 'BEGIN {printf "%.2fx", a / b}') | |"
