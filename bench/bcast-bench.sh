#!/usr/bin/env bash
# bcast-bench.sh BUILD [ROUNDS] [CSV]: one producer to four readers, side by
# side in each round, at 64 B and 64 KiB:
#   bcast   a broadcast ring: src -> [r0.in, r1.in, r2.in, r3.in]
#   fanout  what a user writes without one: src -> copy, a kernel copying
#           each message into four SPSC rings, -> r0..r3
#   zmq     ZeroMQ PUB/SUB, one publisher and four subscribers over ipc://
#   iox     iceoryx publish/subscribe (Debian's package, C binding), one
#           publisher and four subscribers, zero-copy loans, lossless, each
#           subscriber waiting in a WaitSet; when bcast-bench was built with
#           iceoryx and iox-roudi is installed (the script starts RouDi with
#           bench/iceoryx-roudi.toml if none runs, and stops it after)
# The two shmring cases are topologies run by shmring-supervisor with no
# option set (default capacity and waits, automatic placement: 5 or 6
# kernels on this machine's 2 cpus, so kernels share cpus and the
# supervisor's shared-cpu waits apply); the ZeroMQ processes are pinned as
# the supervisor places the broadcast topology (publisher on cpu 0, readers
# on 1, 0, 1, 0). Every reader reads each message (a word per cache line).
# Rate: messages each reader got per second, from the source's first
# message to the last reader's end. Each round starts and ends with the raw
# cache-line round trip between cpus 0 and 1 (zmq-pushpull floor), which
# tells the placement this VM's vCPUs had; the summary keeps the two
# placements apart. CSV (default BUILD/bcast-bench.csv) keeps every run.
set -u
build=$(realpath "${1:?usage: bcast-bench.sh BUILD [ROUNDS] [CSV]}")
rounds=${2:-3}
csv=${3:-$build/bcast-bench.csv}
bin=$build/bench/bcast-bench
sup=$build/supervisor/shmring-supervisor
pp=$build/bench/zmq-pushpull
for f in "$bin" "$sup" "$pp"; do
  [ -x "$f" ] || { echo "bcast-bench.sh: $f is missing: build the project first" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/shmring-bcast-bench.XXXXXX) || exit 1
roudi=
trap '[ -n "$roudi" ] && kill "$roudi" 2>/dev/null && wait "$roudi"; rm -rf "$dir"' EXIT

# iceoryx: its case runs when bcast-bench has it and a RouDi is up (ours, with
# the pools of bench/iceoryx-roudi.toml, unless one runs already). -m off:
# RouDi's keep-alive would drop a client starved for 1.5 s on 2 busy cpus.
cases="bcast fanout zmq"
here=$(dirname "$(realpath "$0")")
if ldd "$bin" | grep -q iceoryx && command -v iox-roudi >/dev/null; then
  if pgrep -x iox-roudi >/dev/null; then
    cases="$cases iox"
  else
    iox-roudi -m off -c "$here/iceoryx-roudi.toml" > "$dir/roudi.log" 2>&1 &
    roudi=$!
    for _ in $(seq 100); do
      grep -q "RouDi is ready for clients" "$dir/roudi.log" && { cases="$cases iox"; break; }
      sleep 0.1
    done
    [ "${cases% iox}" = "$cases" ] && echo "bcast-bench.sh: iox-roudi did not start: iceoryx not measured" &&
      cat "$dir/roudi.log"
  fi
else
  echo "bcast-bench.sh: iceoryx not measured (needs libiceoryx-binding-c-dev at build time and iox-roudi)"
fi

# count SIZE CASE: messages a run sends (each run takes 0.2-2 s)
count() {
  case "$1:$2" in
    64:zmq) echo 1000000 ;; 64:iox) echo 200000 ;; 64:*) echo 8000000 ;;
    *:zmq) echo 10000 ;; *) echo 40000 ;;
  esac
}

topo() { # CASE SIZE COUNT: the topology file of a shmring case
  local r
  {
    echo "topology: bcast-bench-$$"
    echo "kernels:"
    echo "  - { name: src, exec: $bin, args: [src, \"$2\", \"$3\"], outputs: [out] }"
    [ "$1" = fanout ] && echo "  - { name: copy, exec: $bin, args: [copy], inputs: [in], outputs: [o0, o1, o2, o3] }"
    for r in 0 1 2 3; do echo "  - { name: r$r, exec: $bin, args: [sink], inputs: [in] }"; done
    echo "rings:"
    if [ "$1" = bcast ]; then
      echo "  - { from: src.out, to: [r0.in, r1.in, r2.in, r3.in] }"
    else
      echo "  - { from: src.out, to: copy.in }"
      for r in 0 1 2 3; do echo "  - { from: copy.o$r, to: r$r.in }"; done
    fi
  } > "$dir/t.yaml"
}

# rate OUT COUNT: messages per second each reader got, from the lines
# "start NS" and "end NS N SUM" (with or without the supervisor's "name | ").
rate() {
  awk -v want="$2" '
    { sub(/^[^|]*\| /, "") }
    $1 == "start" { s = $2 }
    $1 == "end" { n++; if ($3 != want) bad = 1; if ($2 > e) e = $2 }
    END { if (!s || n != 4 || bad || e <= s) { print "FAIL"; exit 1 }
          printf "%.0f\n", want / ((e - s) / 1e9) }' "$1"
}

run_case() { # CASE SIZE: one run; prints its rate, or FAIL
  local n; n=$(count "$2" "$1")
  if [ "$1" = zmq ] || [ "$1" = iox ]; then
    timeout 120 "$bin" "$1" "$2" "$n" > "$dir/out" 2>&1
  else
    topo "$1" "$2" "$n"
    timeout 120 "$sup" run -q "$dir/t.yaml" > "$dir/out" 2>&1 ||
      timeout 120 "$sup" run "$dir/t.yaml" > "$dir/out" 2>&1
  fi || { echo FAIL; cat "$dir/out" >&2; return; }
  rate "$dir/out" "$n" || cat "$dir/out" >&2
}

[ -s "$csv" ] || echo "round,floor_first,floor_last,size,case,msgs_per_s" > "$csv"
results=()
for round in $(seq "$rounds"); do
  f0=$("$pp" floor 0 1)
  lines=()
  for size in 64 65536; do
    for c in $cases; do
      lines+=("$size,$c,$(run_case $c $size)")
    done
  done
  f1=$("$pp" floor 0 1)
  for l in "${lines[@]}"; do
    echo "$round,$f0,$f1,$l" >> "$csv"
    results+=("$round,$f0,$f1,$l")
  done
  echo "round $round (raw cache line $f0 / $f1 ns): ${lines[*]}"
done

printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
rows = [l.strip().split(",") for l in sys.stdin if l.strip()]
rounds = {}
for r, f0, f1, size, case, v in rows:
    # this VM: close ~150 ns, far ~550 ns; a round whose two ends disagree
    # moved during the round and is summarised on its own, as mixed
    a, b = float(f0) < 300, float(f1) < 300
    place = "close" if a and b else "far" if not a and not b else "mixed"
    rounds.setdefault(r, {"place": place})[(size, case)] = v
groups = {}
for r, d in rounds.items():
    groups.setdefault(d["place"], []).append(d)
print()
iox = any(case == "iox" for *_, case, v in rows)
cases = ("bcast", "fanout", "zmq") + (("iox",) if iox else ())
print("| placement | size | broadcast ring (msg/s each reader) | fan-out kernel | ZeroMQ PUB/SUB |"
      + (" iceoryx |" if iox else "") + " broadcast / fan-out | broadcast / ZeroMQ |"
      + (" broadcast / iceoryx |" if iox else "") + " rounds |")
print("| --- | --- |" + " ---: |" * (len(cases) * 2))
for place, ds in sorted(groups.items()):
    for size in ("64", "65536"):
        ok = [d for d in ds if all(d.get((size, c), "FAIL") != "FAIL" for c in cases)]
        if not ok:
            print(f"| {place} | {size} | FAIL |" + " |" * (len(cases) * 2 - 2) + f" {len(ds)} |")
            continue
        med = {c: statistics.median(float(d[(size, c)]) for d in ok) for c in cases}
        ratio = {c: statistics.median(float(d[(size, "bcast")]) / float(d[(size, c)]) for d in ok)
                 for c in cases[1:]}
        name = "64 B" if size == "64" else "64 KiB"
        rates = " | ".join(f"{med[c] / 1e6:.3f} M" for c in cases)
        ratios = " | ".join(f"{ratio[c]:.2f}x" if c == "fanout" else f"{ratio[c]:.1f}x" for c in cases[1:])
        print(f"| {place} | {name} | {rates} | {ratios} | {len(ok)} |")
'
