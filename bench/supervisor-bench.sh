#!/usr/bin/env bash
# supervisor-bench: what shmring-supervisor costs and what a topology moves.
#   1. launch time (supervisor start -> every kernel ready and activated, as
#      the supervisor reports it) and teardown time (SIGTERM -> supervisor
#      exited, every kernel reaped) of a 2-kernel and a 32-kernel chain
#      (gen -> double --factor 1 x N-2 -> sink), median of ROUNDS;
#   2. pipelines: the 3-stage doubler (examples/doubler, 1 MiB rings) and an
#      8-stage chain (gen, 6 doublers, sink) in messages/s, beside the same
#      pipelines over ZeroMQ ipc:// (bench/zmq-pipeline), alternating runs,
#      median of ROUNDS; the sink of each measures from its first message to
#      its last and checks every value;
#   3. scaling: a chain of 2 to 64 kernels sharing the machine's cores
#      (messages/s end to end, and hops/s = messages/s x rings), and the
#      3-stage doubler with rings of 4 KiB to 16 MiB.
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

chain() { # N [COUNT [CAPACITY]] -> topology file with N kernels; COUNT 0 = endless
  local n=$1 count=${2:-0} cap=${3:-64KiB} f=$dir/chain$1-${2:-0}-${3:-64KiB}.yaml
  local gen_args='[--count, "1000000000000"]' sink_args='[--factor, "1"]'
  if [ "$count" != 0 ]; then
    gen_args="[--count, \"$count\"]"; sink_args="[--factor, \"1\", --expect, \"$count\"]"
  fi
  { echo "topology: chain$n"
    echo "kernels:"
    echo "  - { name: gen, exec: ./gen, args: $gen_args, outputs: [out] }"
    for ((i = 1; i <= n - 2; i++)); do
      echo "  - { name: d$i, exec: ./double, args: [--factor, \"1\"], inputs: [in], outputs: [out] }"
    done
    echo "  - { name: sink, exec: ./sink, args: $sink_args, inputs: [in] }"
    echo "rings:"
    local prev=gen
    for ((i = 1; i <= n - 2; i++)); do
      echo "  - { from: $prev.out, to: d$i.in, capacity: $cap }"; prev=d$i
    done
    echo "  - { from: $prev.out, to: sink.in, capacity: $cap }"
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
for n in 2 8 32 64; do
  read -r l t < <(lifecycle $n)
  echo "| $n kernels (chain) | $l | $t |"
done

rate() { sed -n 's/.*; \([0-9.]*\) M msg\/s/\1/p'; }
# The 8-stage chain: gen, 6 doublers (each x2), sink checking value = 64 x seq.
pipeline8() {
  local f=$dir/pipe8.yaml
  { echo "topology: pipe8"
    echo "kernels:"
    echo "  - { name: gen, exec: ./gen, args: [--count, \"$msgs\"], outputs: [out] }"
    for i in 1 2 3 4 5 6; do
      echo "  - { name: d$i, exec: ./double, inputs: [in], outputs: [out] }"
    done
    echo "  - { name: sink, exec: ./sink, args: [--factor, \"64\", --expect, \"$msgs\"], inputs: [in] }"
    echo "rings:"
    local prev=gen
    for i in 1 2 3 4 5 6; do echo "  - { from: $prev.out, to: d$i.in, capacity: 1MiB }"; prev=d$i; done
    echo "  - { from: $prev.out, to: sink.in, capacity: 1MiB }"
  } > "$f"
  echo "$f"
}
sed -e "s/1000000/$msgs/g" "$build/examples/doubler/doubler.yaml" > "$dir/doubler.yaml"
p8=$(pipeline8)
echo
echo "| pipeline, $msgs messages of 16 B | shmring M msg/s | ZeroMQ ipc:// M msg/s | shmring / ZeroMQ | shmring runs | ZeroMQ runs |"
echo "| --- | ---: | ---: | ---: | --- | --- |"
for stages in 3 8; do
  s=() z=()
  f=$dir/doubler.yaml; [ $stages = 8 ] && f=$p8
  for ((r = 0; r < rounds; r++)); do
    s+=("$("$sup" run "$f" 2>&1 | rate)")
    z+=("$("$build/bench/zmq-pipeline" "$msgs" 0 1 $stages | rate)")
  done
  sm=$(printf '%s\n' "${s[@]}" | median); zm=$(printf '%s\n' "${z[@]}" | median)
  echo "| $stages stages (1 MiB rings; ZeroMQ stages alternate cores) | $sm | $zm |" \
       "$(awk -v a="$sm" -v b="$zm" 'BEGIN {printf "%.2fx", a / b}') | ${s[*]} | ${z[*]} |"
done

# Scaling with the number of kernels: a chain of N sharing the cores.
echo
# Past 2 kernels they share the cpus (docs/supervisor.md, "Kernels sharing a
# cpu"); the last column is hops/s against the 2-kernel chain's, same run.
echo "| chain of N kernels, 64 KiB rings, 16 B messages | M msg/s end to end (median of $rounds) | M hops/s (x N-1 rings) | hops/s vs 2 kernels |"
echo "| ---: | ---: | ---: | ---: |"
hops2=
for n in 2 4 8 16 32 64; do
  count=$(( msgs / (n > 8 ? 10 : 2) ))
  f=$(chain $n $count)
  v=()
  for ((r = 0; r < rounds; r++)); do v+=("$("$sup" run "$f" 2>&1 | rate)"); done
  m=$(printf '%s\n' "${v[@]}" | median)
  hops=$(awk -v a="$m" -v k=$((n - 1)) 'BEGIN {printf "%.2f", a * k}')
  [ -z "$hops2" ] && hops2=$hops
  echo "| $n | $m | $hops | $(awk -v a="$hops" -v b="$hops2" 'BEGIN {printf "%.2fx", a / b}') |"
done

# Scaling with ring capacity: the 3-stage doubler.
echo
echo "| 3-stage doubler, ring capacity | M msg/s (median of $rounds) |"
echo "| ---: | ---: |"
for cap in 4KiB 64KiB 1MiB 16MiB; do
  sed -e "s/capacity: 1MiB/capacity: $cap/g" "$dir/doubler.yaml" > "$dir/cap.yaml"
  v=()
  for ((r = 0; r < rounds; r++)); do v+=("$("$sup" run "$dir/cap.yaml" 2>&1 | rate)"); done
  echo "| $cap | $(printf '%s\n' "${v[@]}" | median) |"
done
