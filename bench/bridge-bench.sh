#!/usr/bin/env bash
# bridge-bench: bridge edges (shmring-zmq-sink -> shmring-zmq-source,
# docs/hosts.md) beside raw libzmq PUSH/PULL, across the same veth link
# between two network namespaces (hosts a 10.78.0.1 and b 10.78.0.2), in the
# same run, rounds interleaved:
#   1. one stream of COUNT messages of 64 B, 4 KiB and 64 KiB from a to b:
#      bridge: zmq-pushpull gen (a kernel on a) ==bridge edge==> zmq-pushpull
#      count (a kernel on b), one supervisor per namespace, 1 MiB rings;
#      raw: bench/zmq-pushpull push (a) -> pull (b), the same count and size;
#      and the same two kernels on one host, one ring, no bridge (what the
#      kernels themselves cost). Each is timed from launching both sides to
#      the consumer side's exit (launch and teardown included, ~0.1 s
#      against seconds of transfer); every message is checked (size, order).
#      Pinned: everything of host a on cpu 0 and of host b on cpu 1 (user
#      kernels by cpu:, the supervisor, the bridge kernels and every libzmq
#      I/O thread by taskset, the bridges re-pinned as soon as the topology
#      is active, since the supervisor places them itself); raw: the pusher
#      and its I/O thread on cpu 0, the puller and its own on cpu 1.
#   2. the doubler (examples/doubler, gen ! double ! sink, 10 M messages):
#      gen and double on a, sink on b (a bridge edge), beside the same file
#      without hosts: on one host; the supervisors' own placement (cpu:
#      auto); the sink's rate, first to last message.
# Each round starts and ends with the raw cache-line round trip on cpus 0
# and 1 (zmq-pushpull floor), which says in which of this VM's two vCPU
# placements the round ran (docs/benchmarks.md, Noise): a round is "near"
# when both are under 300 ns, "far" when both are above, else "mixed", and
# medians are taken within one placement only.
# Needs root (namespaces); otherwise exit 77 (skipped) with the reason.
# Usage: bench/bridge-bench.sh [--quick] [BUILD_DIR] [ROUNDS]   (~25 s a round)
#   --quick: small counts, 1 round, a smoke run that judges nothing.
#   Environment: BRIDGE_BENCH_CSV=FILE keeps every round's figures;
#   BRIDGE_BENCH_COUNTS="SIZE:COUNT ..." other sizes or counts;
#   BRIDGE_BENCH_PIN=0 pins nothing (see below).
set -euo pipefail
quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
build=$(realpath "${1:-build}")
rounds=${2:-5}
if [ $quick = 1 ]; then
  rounds=1; counts="64:20000 4096:5000 65536:500"; dcount=100000
else
  counts="64:4000000 4096:400000 65536:30000"; dcount=10000000
fi
counts=${BRIDGE_BENCH_COUNTS:-$counts} # SIZE:COUNT ..., to try other sizes
[ "$(id -u)" = 0 ] || { echo "bridge-bench: skipped: network namespaces need root (run it as root)"; exit 77; }
command -v ip > /dev/null || { echo "bridge-bench: skipped: no ip command (apt-get install iproute2)"; exit 77; }
unset SHMRING_QUIET # the supervisors' active/finished lines and the sinks' rates

dir=$(mktemp -d "${TMPDIR:-/var/tmp}/shmring-bridgebench.XXXXXX")
ns_a=shmbb$$a ns_b=shmbb$$b

tree() { local c; echo "$1"; for c in $(pgrep -P "$1" || true); do tree "$c"; done; }
cleanup() {
  # Every process this script started, the $(...) subshells that run a case
  # included (they outlive an interrupted script), with their descendants.
  set +e # a pid gone already must not end the cleanup
  local p all=""
  for p in $(pgrep -P $$); do all="$all $(tree "$p")"; done
  # shellcheck disable=SC2086 # word splitting wanted
  [ -n "${all// /}" ] && { kill -TERM $all 2>/dev/null; sleep 1; kill -9 $all 2>/dev/null; }
  ip netns del "$ns_a" 2>/dev/null; ip netns del "$ns_b" 2>/dev/null
  rm -rf "$dir"
  return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

why=$(ip netns add "$ns_a" 2>&1) || { echo "bridge-bench: skipped: cannot make network namespaces (ip netns add: $why)"; exit 77; }
ip netns add "$ns_b"
ip link add "bba$$" netns "$ns_a" type veth peer name "bbb$$" netns "$ns_b"
ip -n "$ns_a" addr add 10.78.0.1/24 dev "bba$$"
ip -n "$ns_b" addr add 10.78.0.2/24 dev "bbb$$"
for n in $ns_a $ns_b; do ip -n "$n" link set lo up; done
ip -n "$ns_a" link set "bba$$" up; ip -n "$ns_b" link set "bbb$$" up
# Up means carrier on both ends (ping may not be installed).
for _ in $(seq 50); do
  ip -n "$ns_a" -o link show "bba$$" | grep -q LOWER_UP &&
    ip -n "$ns_b" -o link show "bbb$$" | grep -q LOWER_UP && break
  sleep 0.1
done

# The installed layout: bridges beside the supervisor, kernels beside the files.
cp "$build/supervisor/shmring-supervisor" "$build"/kernels/shmring-zmq-{sink,source} \
   "$build"/examples/doubler/{gen,double,sink} "$build/bench/zmq-pushpull" "$dir/"
sup=$dir/shmring-supervisor pp=$dir/zmq-pushpull

hosts_yaml() {
  echo "hosts:"
  echo "  a: { address: 10.78.0.1 }"
  echo "  b: { address: 10.78.0.2 }"
}
# BRIDGE_BENCH_PIN=0: nothing pinned by this script (the supervisors' own
# placement, cpu: auto; the scheduler's for raw), to see what pinning costs.
pin=${BRIDGE_BENCH_PIN:-1} cpu_a="cpu: 0," cpu_b="cpu: 1,"
[ "$pin" = 0 ] && cpu_a="" cpu_b=""
for c in $counts; do
  size=${c%%:*} n=${c##*:}
  { echo "topology: bb$size"; hosts_yaml
    echo "kernels:"
    echo "  - { name: src, host: a, $cpu_a exec: ./zmq-pushpull, args: [gen, \"$n\", \"$size\"], outputs: [out] }"
    echo "  - { name: dst, host: b, $cpu_b exec: ./zmq-pushpull, args: [count, \"$n\", \"$size\"], inputs: [in] }"
    echo "rings:"
    echo "  - { from: src.out, to: dst.in, capacity: 1MiB }"
  } > "$dir/bridge-$size.yaml"
  # The same two kernels on one host, one ring: what they cost without a bridge.
  sed -e '/^hosts:/,/^kernels:/{/^kernels:/!d}' -e 's/host: [ab], //' "$dir/bridge-$size.yaml" > "$dir/local-$size.yaml"
done
sed -e "s/1000000/$dcount/g" "$build/examples/doubler/doubler.yaml" > "$dir/local.yaml"
{ echo "topology: dbl2"; hosts_yaml
  echo "kernels:"
  echo "  - { name: gen, host: a, exec: ./gen, args: [--count, \"$dcount\"], outputs: [out] }"
  echo "  - { name: double, host: a, exec: ./double, inputs: [in], outputs: [out] }"
  echo "  - { name: sink, host: b, exec: ./sink, args: [--expect, \"$dcount\"], inputs: [in] }"
  echo "rings:"
  echo "  - { from: gen.out, to: double.in, capacity: 1MiB }"
  echo "  - { from: double.out, to: sink.in, capacity: 1MiB }"
} > "$dir/cross.yaml"

now() { date +%s%N; }
# Every run is bounded: a side that never ends (its peer failed) is stopped.
limit=(timeout 120)
# pin_tree CPU PID: the process, its descendants and all their threads.
pin_tree() { local p; for p in $(tree "$2"); do taskset -a -p -c "$1" "$p" > /dev/null 2>&1 || true; done; }
# wait_active OUT PID: until the supervisor says its share is active (or exits).
wait_active() {
  local _
  for _ in $(seq 2000); do
    grep -q ' active: ' "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.005
  done
  return 1
}
fail() { echo "bridge-bench: $1; its output:" >&2; cat "${@:2}" >&2; exit 1; }

# bridge FILE [pin]: run both hosts' shares; the seconds from launch to host
# b's exit. With pin: a on cpu 0, b on cpu 1.
bridge() {
  local f=$1 pin=${2:-} t0 pa pb t
  local ta=() tb=()
  [ -n "$pin" ] && ta=(taskset -c 0) tb=(taskset -c 1)
  t0=$(now)
  "${tb[@]}" "${limit[@]}" ip netns exec "$ns_b" "$sup" run "$f" --host b > "$dir/b.out" 2>&1 & pb=$!
  "${ta[@]}" "${limit[@]}" ip netns exec "$ns_a" "$sup" run "$f" --host a > "$dir/a.out" 2>&1 & pa=$!
  if [ -n "$pin" ]; then
    wait_active "$dir/a.out" $pa && pin_tree 0 $pa
    wait_active "$dir/b.out" $pb && pin_tree 1 $pb
  fi
  wait $pb || fail "host b's supervisor failed on $f" "$dir/a.out" "$dir/b.out"
  t=$(now)
  wait $pa || fail "host a's supervisor failed on $f" "$dir/a.out" "$dir/b.out"
  awk -v a="$t0" -v b="$t" 'BEGIN {printf "%.4f", (b - a) / 1e9}'
}

# raw SIZE COUNT: zmq-pushpull across the link; seconds from launch to the puller's exit.
raw() {
  local t0 pa pb t port=7790 ta=() tb=()
  [ "$pin" = 0 ] || ta=(taskset -c 0) tb=(taskset -c 1)
  t0=$(now)
  "${tb[@]}" "${limit[@]}" ip netns exec "$ns_b" "$pp" pull "tcp://10.78.0.2:$port" "$2" "$1" > "$dir/b.out" 2>&1 & pb=$!
  "${ta[@]}" "${limit[@]}" ip netns exec "$ns_a" "$pp" push "tcp://10.78.0.2:$port" "$2" "$1" > "$dir/a.out" 2>&1 & pa=$!
  wait $pb || fail "zmq-pushpull pull failed" "$dir/a.out" "$dir/b.out"
  t=$(now)
  wait $pa || fail "zmq-pushpull push failed" "$dir/a.out" "$dir/b.out"
  awk -v a="$t0" -v b="$t" 'BEGIN {printf "%.4f", (b - a) / 1e9}'
}

# local_run FILE: one supervisor, no bridge; seconds from launch to its exit.
local_run() {
  local t0 t
  t0=$(now)
  "${limit[@]}" "$sup" run "$1" > "$dir/l.out" 2>&1 || fail "the one-host run of $1 failed" "$dir/l.out"
  t=$(now)
  awk -v a="$t0" -v b="$t" 'BEGIN {printf "%.4f", (b - a) / 1e9}'
}

sink_rate() { sed -n 's/.*sink *| received .*; \([0-9.]*\) M msg\/s/\1/p' "$1" | tail -1; }

csv=$dir/rounds.csv
echo "round,floor_first,floor_last,case,size,count,seconds,msgs_per_s,mb_per_s" > "$csv"
echo "bridge-bench: $rounds round(s); load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
for ((r = 1; r <= rounds; r++)); do
  f0=$("$pp" floor 0 1)
  rows=()
  for c in $counts; do
    size=${c%%:*} n=${c##*:}
    s=$(bridge "$dir/bridge-$size.yaml" "${pin#0}")
    rows+=("bridge,$size,$n,$s")
    s=$(raw "$size" "$n")
    rows+=("raw,$size,$n,$s")
    s=$(local_run "$dir/local-$size.yaml")
    rows+=("kernels on one host,$size,$n,$s")
  done
  bridge "$dir/cross.yaml" > /dev/null
  rows+=("doubler across hosts,16,$dcount,$(sink_rate "$dir/b.out")")
  "${limit[@]}" ip netns exec "$ns_a" "$sup" run "$dir/local.yaml" > "$dir/l.out" 2>&1 || fail "the local doubler failed" "$dir/l.out"
  rows+=("doubler one host,16,$dcount,$(sed 's/^/sink | /' "$dir/l.out" | sink_rate /dev/stdin)")
  f1=$("$pp" floor 0 1)
  for row in "${rows[@]}"; do
    IFS=, read -r case size n s <<< "$row"
    if [ "${case#doubler}" != "$case" ]; then # the sink's M msg/s, first to last
      echo "$r,$f0,$f1,$case,$size,$n,,$(awk -v m="$s" 'BEGIN {printf "%.0f", m * 1e6}'),"
    else
      echo "$r,$f0,$f1,$case,$size,$n,$s,$(awk -v n="$n" -v s="$s" -v z="$size" \
        'BEGIN {printf "%.0f,%.1f", n / s, n * z / s / 1e6}')"
    fi
  done >> "$csv"
  echo "bridge-bench: round $r done (raw cache line $f0/$f1 ns; load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "bridge-bench: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
[ -n "${BRIDGE_BENCH_CSV:-}" ] && cp "$csv" "$BRIDGE_BENCH_CSV"

echo
echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), libzmq $(pkg-config --modversion libzmq 2>/dev/null || echo '?')"
python3 - "$csv" "$quick" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
quick = sys.argv[2] == "1"
def placement(r):
    a, b = float(r["floor_first"]), float(r["floor_last"])
    return "near" if a < 300 and b < 300 else "far" if a >= 300 and b >= 300 else "mixed"
def spread(v):  # as bench/run-all: IQR over the median; under 4 rounds the full range
    if len(v) < 4:
        return (max(v) - min(v)) / statistics.median(v) * 100
    q = statistics.quantiles(v, n=4, method="inclusive")
    return (q[2] - q[0]) / statistics.median(v) * 100
def judged(sp):
    return "%.0f %%%s" % (sp, " noisy" if sp > 25 and not quick else "")
def rate(here, case, size, rnd):
    return next(float(r["msgs_per_s"]) for r in here
                if r["case"] == case and int(r["size"]) == size and r["round"] == rnd)
print("\nRounds (raw cache-line round trip first/last, ns): " + ", ".join(
    "%s: %s/%s %s" % (r["round"], r["floor_first"], r["floor_last"], placement(r))
    for r in rows if r["case"] == "bridge" and r["size"] == "64"))
for pl in ("near", "far", "mixed"):
    here = [r for r in rows if placement(r) == pl]
    if not here:
        continue
    rounds = sorted({r["round"] for r in here}, key=int)
    note = " (the placement changed within these rounds: no figure to quote)" if pl == "mixed" else ""
    print("\nPlacement %s, %d round(s)%s; spread: the interquartile range over the median (the full "
          "range under 4 rounds), above 25 %% marked noisy%s.\n" % (
              pl, len(rounds), note, ", --quick: nothing judged" if quick else ""))
    print("| case | size | msg/s (median) | MB/s | spread | runs (msg/s) |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for case in ("bridge", "raw", "kernels on one host", "doubler across hosts", "doubler one host"):
        for size in sorted({int(r["size"]) for r in here if r["case"] == case}):
            v = [rate(here, case, size, rnd) for rnd in rounds]
            m = statistics.median(v)
            mb = "" if case.startswith("doubler") else "%.0f" % (m * size / 1e6)
            print("| %s | %d B | %.0f | %s | %s | %s |" % (
                case, size, m, mb, judged(spread(v)), " ".join("%.0f" % x for x in v)))
    # Side by side in each round: the ratio of the two runs of that round.
    print("\n| ratio, same round | size | median | spread | per round |")
    print("| --- | ---: | ---: | ---: | --- |")
    for a, b, sizes in (("bridge", "raw", sorted({int(r["size"]) for r in here if r["case"] == "bridge"})),
                        ("doubler across hosts", "doubler one host", [16])):
        for size in sizes:
            v = [rate(here, a, size, rnd) / rate(here, b, size, rnd) for rnd in rounds]
            print("| %s / %s | %d B | %.2fx | %s | %s |" % (
                a, b, size, statistics.median(v), judged(spread(v)), " ".join("%.2f" % x for x in v)))
EOF
