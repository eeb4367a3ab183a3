#!/usr/bin/env bash
# chaos: exactly once under fire. Three topologies, each run again and again
# for SECONDS (CHAOS_SECONDS, else the 4th argument, else 60) while a random
# kernel of it -- sources and sinks included -- is killed with SIGKILL every
# 100-300 ms; the supervisor, its restart intensity raised so that it never
# gives up, restarts each. A run lasts a few seconds undisturbed (SCALE, the
# 5th argument, in percent of that: 100; the sanitizers' builds, 5-20x
# slower, pass less). Every run must come out as an undisturbed one:
#   1. shmring-file-source IN ! shmring-checksum ! shmring-file-sink OUT:
#      OUT is IN byte for byte, and the checksum is `shmring-checksum --file IN`'s
#   2. the doubler, gen ! double ! sink: every number once (0 duplicates, 0 lost)
#   3. the fan-out / fan-in (fanout.yaml): merge gets every number once, in
#      order per input
# Each run prints the kills made, the supervisor's restarts and what its
# summary counted (redelivered, suppressed, skipped); a failing run prints
# its whole output and every kill. The kills are random, the checks are
# not: a correct build passes every time, whatever was killed when.
set -u
sup=$(realpath "$1")   # shmring-supervisor
ex=$(realpath "$2")    # build/examples
kbin=$(realpath "$3")  # build/kernels
secs=${CHAOS_SECONDS:-${4:-60}}
scale=${5:-100}
show_on_fail="kills"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
sfx=$$
cp "$ex"/doubler/{gen,double,sink} "$ex"/fanout/{split,merge} \
   "$kbin"/shmring-{file-source,checksum,file-sink} "$dir"/
export PATH="$dir:$PATH"
# Restarts never trip the intensity (the kills come 3 to 10 a second).
never_give_up=(--intensity 100000 --period 1s)
sed -e 's|\.\./doubler/double|./double|' -e "s/^topology: \(.*\)/topology: \1-$sfx/" \
    -e 's/^supervision: .*/supervision: { strategy: one_for_one, intensity: 100000, period: 1s, grace: 2s }/' \
    "$ex/fanout/fanout.yaml" > "$dir/fanout.yaml"
grep -q 'intensity: 100000' "$dir/fanout.yaml" || { fail "fanout.yaml: no supervision line to raise"; finish; }

alive() { # PID: running, not a zombie
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}

# chaos_run END COMMAND...: run the supervisor command (output in $dir/out),
# kill one of its kernels at random every 100-300 ms from "active" until it
# ends or the clock passes END (seconds since the epoch), then let it finish
# (at most 120 s more). Sets rc (124: it did not finish) and kills.
chaos_run() {
  local end=$1 pids p name self; shift
  : > "$dir/kills"
  kills=0
  "$@" > "$dir/out" 2>&1 & spid=$!
  wait_for "active" "$dir/out" 30
  self=$(cat "/proc/$spid/comm" 2>/dev/null)
  while alive $spid && [ "$(date +%s)" -lt "$end" ]; do
    sleep "0.$((RANDOM % 200 + 100))"
    mapfile -t pids < <(pgrep -P $spid)
    [ ${#pids[@]} -gt 0 ] || continue
    p=${pids[RANDOM % ${#pids[@]}]}
    name=$(cat "/proc/$p/comm" 2>/dev/null)
    # Kernels only: not a child still the supervisor's copy between its
    # clone and exec (a launch failure, not a crash), nor one already dead
    # and not yet reaped (that kill would count for nothing).
    [ -n "$name" ] && [ "$name" != "$self" ] || continue
    if alive "$p" && kill -9 "$p" 2>/dev/null; then
      kills=$((kills + 1)); echo "$(date +%T.%N | cut -c1-12) killed ${name:-?} ($p)" >> "$dir/kills"
    fi
  done
  for _ in $(seq 1200); do alive $spid || break; sleep 0.1; done
  if alive $spid; then kill -9 $spid; wait $spid; rc=124; else wait $spid; rc=$?; fi
}

# The whole output of a failed run, up to 400 lines (fail adds the kills).
show_run() {
  echo "  output ($(wc -l < "$dir/out") lines):"; head -400 "$dir/out" | sed 's/^/    /'
}

# A sanitizer's report in the output (a kernel that exited by itself).
clean() { # what
  grep -qE 'Sanitizer|runtime error:' "$dir/out" || return 0
  echo "FAIL $1: a sanitizer report"; show_run; return 1
}

# sum PATTERN: the numbers \1 of PATTERN (sed) over the summary lines
sum() { sed -n "s/.*$1.*/\1/p" "$dir/out" | awk '{ s += $1 } END { print s + 0 }'; }

# One line per run: what it went through.
said() {
  local restarts
  restarts=$(sed -n 's/.*(exit [0-9]*) after [0-9.]* s, \([0-9]*\) restarts.*/\1/p' "$dir/out" | tail -1)
  echo "     run $1: $kills kills, ${restarts:-?} restarts," \
       "$(sum ' \([0-9][0-9]*\) redelivered (consumer') redelivered," \
       "$(sum ' \([0-9][0-9]*\) suppressed') suppressed, $(sum ' \([0-9][0-9]*\) skipped (covered') skipped"
}

# 1. A file copy: byte-exact, checksum equal to the file's.
copy_ok() { # run number
  local want=$want_sum got
  got=$(grep -o 'fnv1a64 [0-9a-f]* bytes [0-9]*' "$dir/out" | tail -1)
  if [ "$rc" = 0 ] && cmp -s "$dir/in.bin" "$dir/out.bin" && [ "$got" = "$want" ]; then
    clean "copy run $1"; return; fi
  echo "FAIL copy run $1: exit $rc; checksum '$got', want '$want'; $(cmp "$dir/in.bin" "$dir/out.bin" 2>&1 | head -1)"
  show_run; return 1
}

# 2. The doubler: all N, in order, no duplicate, nothing lost.
doubler_ok() { # run number, N
  local line
  line=$(grep 'sink *| received' "$dir/out" | tail -1)
  case "$line" in
    *"received $2 in order, 0 duplicates"*", 0 lost"*) [ "$rc" = 0 ] && { clean "doubler run $1"; return; } ;;
  esac
  echo "FAIL doubler run $1: exit $rc; sink said '${line:-nothing}'"
  show_run; return 1
}

# 3. The fan-out: merge found all N once, in order per input.
fanout_ok() { # run number, N
  local line
  line=$(grep 'merge *| merged' "$dir/out" | tail -1)
  case "$line" in
    *"merged $2 from 3 inputs, in order per input, 0 duplicates"*) [ "$rc" = 0 ] && { clean "fan-out run $1"; return; } ;;
  esac
  echo "FAIL fan-out run $1: exit $rc; merge said '${line:-nothing}'"
  show_run; return 1
}

# topology NAME CHECK N COMMAND...: runs until SECONDS are spent (at least
# once), each run checked; one ok or fail line for all of them.
topology() {
  local name=$1 check=$2 n=$3 end runs=0 bad=0 allkills=0; shift 3
  end=$(( $(date +%s) + secs ))
  echo "---- $name, $secs s"
  while [ $runs = 0 ] || [ "$(date +%s)" -lt "$end" ]; do
    runs=$((runs + 1))
    rm -f "$dir/out.bin"
    chaos_run "$end" "$@"
    allkills=$((allkills + kills))
    said $runs
    $check $runs "$n" || { bad=1; break; }
  done
  if [ $bad = 0 ] && [ $allkills -gt 0 ]; then
    ok "$name: $runs runs, $allkills kills, every run exactly as undisturbed"
  elif [ $bad = 0 ]; then
    fail "$name: $runs runs but no kill landed (each run ended before the first)"
  else fail "$name: run $runs above"; fi
}

mib=$((512 * scale / 100))
head -c $((mib << 20)) /dev/urandom > "$dir/in.bin"
want_sum=$("$dir/shmring-checksum" --file "$dir/in.bin")
cd "$dir" || exit 1
topology "file-source ! checksum ! file-sink, $mib MiB in 4 KiB messages" copy_ok 0 \
  "$sup" run "${never_give_up[@]}" \
  -e "shmring-file-source $dir/in.bin --chunk 4KiB ! shmring-checksum ! shmring-file-sink $dir/out.bin"
rm -f "$dir/in.bin" "$dir/out.bin"
n=$((10000000 * scale / 100))
topology "gen ! double ! sink, $n pairs" doubler_ok $n \
  "$sup" run "${never_give_up[@]}" -e "gen --count $n ! double ! sink --expect $n"
n=$((6000000 * scale / 100))
sed -i "s/--count, \"[0-9]*\"/--count, \"$n\"/; s/--expect, \"[0-9]*\"/--expect, \"$n\"/" "$dir/fanout.yaml"
[ "$(grep -c "\"$n\"" "$dir/fanout.yaml")" = 2 ] || { fail "fanout.yaml: split's --count or merge's --expect not found"; finish; }
topology "fan-out / fan-in, $n pairs" fanout_ok $n "$sup" run "$dir/fanout.yaml"
cd - > /dev/null || exit 1
[ -z "$(shm_left)" ] || fail "left in /dev/shm: $(shm_left)"
finish
