#!/usr/bin/env bash
# broadcast: topologies whose ring has several consumers (to: as a list),
# run by the supervisor with real kernels, checked whole:
#   1. the example (gen to detect, record and a slow preview with slow:
#      drop): the two blocking readers get every pair once, in order; the
#      preview's skips are counted in the summary, not lost elsewhere
#   2. 16 consumers, each gets every pair once
#   3. kill -9 of a blocking consumer, again and again, under load: it is
#      restarted and resumes where it released last (what it held is
#      delivered again), every consumer ends with every pair once;
#      3b. killed while it holds a pair (a slow reader): the summary
#      counts the pairs delivered again, 1 to 3 for 3 kills
#   4. kill -9 of the drop consumer: the blocking ones are not disturbed
#   5. file-source to three file-sinks with kills of a sink and of the
#      source: three byte-identical copies
#   6. shmring-stat shows the ring once with a row per consumer
#   7. check refuses 17 consumers with one line; nothing left in /dev/shm
# COUNT (the 5th argument, default 4000000) pairs a run; the sanitizers'
# builds pass less.
set -u
sup=$(realpath "$1")   # shmring-supervisor
ex=$(realpath "$2")    # build/examples
kbin=$(realpath "$3")  # build/kernels
stat=$(realpath "$4")  # shmring-stat
count=${5:-4000000}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
sfx=$$
cp "$ex"/doubler/{gen,sink} "$kbin"/shmring-{file-source,file-sink} "$dir"/
cd "$dir" || exit 1

# topo NAME CONSUMER-LINES... : gen --count $count to the sinks named in the
# kernel lines given (each "name args..."; an arg "drop" makes it slow: drop).
# gen sleeps 1 ms every count/2000 pairs: a run lasts 2 s at least, time to
# kill kernels in.
pace=$((count / 2000 > 0 ? count / 2000 : 1))
topo() {
  local name=$1 line k args to=()
  shift
  {
    echo "topology: $name-$sfx"
    echo "supervision: { strategy: one_for_one, intensity: 100000, period: 1s, grace: 2s }"
    echo "kernels:"
    echo "  - { name: gen, exec: ./gen, args: [--count, \"$count\", --pace, \"$pace\"], outputs: [out], restart: transient }"
    for line in "$@"; do
      read -r k args <<< "$line"
      echo "  - { name: $k, exec: ./sink, args: [--factor, \"1\"${args:+, ${args// /, }}], inputs: [in], restart: transient }" | sed 's/, drop//'
      case " $args " in *" drop "*) to+=("{ to: $k.in, slow: drop }") ;; *) to+=("$k.in") ;; esac
    done
    echo "rings:"
    local IFS=,
    echo "  - { from: gen.out, to: [${to[*]}], capacity: 256KiB }"
  } > "$name.yaml"
}

# all_once FILE KERNEL...: each kernel's summary says every pair once.
all_once() {
  local f=$1 k; shift
  for k in "$@"; do
    grep -qE "^$k +\| received $count in order, 0 duplicates \(redelivered\), 0 lost" "$f" || return 1
  done
}

alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]; }

# kill_loop SUPERVISOR-PID PATTERN TIMES: kill -9 the kernel whose command
# line matches PATTERN at once, then every 100-200 ms, TIMES times or until
# the run ends.
# Sets kills.
kill_loop() {
  local spid=$1 pat=$2 n=$3 p
  kills=0
  while alive "$spid" && [ $kills -lt "$n" ]; do
    [ $kills = 0 ] || sleep "0.$((RANDOM % 100 + 100))"
    p=$(pgrep -P "$spid" -f -- "$pat" | head -1)
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null && kills=$((kills + 1))
  done
}

# 1. The example, as shipped (its own count), from its folder.
mkdir -p example/broadcast example/doubler
cp "$ex"/doubler/{gen,sink} example/doubler/
sed "s/^topology: .*/topology: broadcast-$sfx/" "$ex/broadcast/broadcast.yaml" > example/broadcast/b.yaml
timeout 120 "$sup" run example/broadcast/b.yaml > out 2>&1; rc=$?
n=$(sed -n 's/.*--count, "\([0-9]*\)".*/\1/p' "$ex/broadcast/broadcast.yaml")
if [ $rc = 0 ] && count=$n all_once out detect record &&
   grep -qE "^preview +\| received [0-9]+ in order, 0 duplicates" out &&
   grep -qE "ring gen.out -> preview.in: $n messages, 0 redelivered .*, [1-9][0-9]* dropped \(slow: drop" out &&
   ! grep -q "ring gen.out -> detect.in" out
then ok "example: blocking readers get all $n pairs once, the drop reader's skips are counted"
else fail "example (exit $rc)"; fi

# 2. Sixteen consumers.
lines=(); for i in $(seq 0 15); do lines+=("c$i --expect $count"); done
topo sixteen "${lines[@]}"
timeout 300 "$sup" run sixteen.yaml > out 2>&1; rc=$?
names=(); for i in $(seq 0 15); do names+=("c$i"); done
if [ $rc = 0 ] && all_once out "${names[@]}"
then ok "16 consumers: each gets all $count pairs once, in order"
else fail "16 consumers (exit $rc)"; fi

# 3. kill -9 of a blocking consumer under load.
topo killb "a --expect $count" "b --expect $count" "c --expect $count"
cp sink bsink  # b's own executable, so that its kills find it alone
sed -i 's|name: b, exec: ./sink|name: b, exec: ./bsink|' killb.yaml
"$sup" run killb.yaml > out 2>&1 & spid=$!
wait_for "active" out 30
kill_loop $spid "bsink" 5
timeout 120 tail --pid=$spid -f /dev/null || kill -TERM $spid; wait $spid; rc=$?
restarts=$(grep -c "was killed by SIGKILL: restarting" out)
if [ $rc = 0 ] && [ "$kills" -ge 1 ] && [ "$restarts" = "$kills" ] && all_once out a b c &&
   [ "$(grep -c "^b  *| resumed at seq" out)" = "$kills" ] && ! grep -qE "ring gen.out -> [ac].in" out
then ok "kill -9 of a blocking consumer ($kills kills): each restart resumes, 0 lost and 0 doubled on every consumer"
else fail "kill -9 of a blocking consumer ($kills kills, $restarts restarts, exit $rc)"; fi

# 4. kill -9 of the drop consumer: the blocking ones go on undisturbed.
topo killd "a --expect $count" "b --expect $count" "p --lossy --slow-us 50 drop"
"$sup" run killd.yaml > out 2>&1 & spid=$!
wait_for "active" out 30
kill_loop $spid "sink --factor 1 --lossy" 3
timeout 120 tail --pid=$spid -f /dev/null || kill -TERM $spid; wait $spid; rc=$?
if [ $rc = 0 ] && [ "$kills" -ge 1 ] && all_once out a b &&
   grep -qE "ring gen.out -> p.in: $count messages, .* dropped \(slow: drop" out &&
   ! grep -qE "ring gen.out -> [ab].in" out
then ok "kill -9 of the drop consumer ($kills kills): its skips counted, the others get all $count pairs once"
else fail "kill -9 of the drop consumer ($kills kills, exit $rc)"; fi

# 3b. Redelivery: a blocking consumer that holds each pair 300 us before
# releasing it is killed mid-pair nearly every time (each kill lands in a
# hold with probability > 0.9); the pair it held is delivered again to its
# restart (counted in the summary, 1 at most per kill) and its checkpoint
# keeps it from being counted twice.
count_all=$count; count=10000
topo redeliver "a --expect $count" "b --expect $count --slow-us 300"
sed -i 's|name: b, exec: ./sink|name: b, exec: ./bsink|' redeliver.yaml
"$sup" run redeliver.yaml > out 2>&1 & spid=$!
wait_for "active" out 30
sleep 0.3
kill_loop $spid "bsink" 3
timeout 120 tail --pid=$spid -f /dev/null || kill -TERM $spid; wait $spid; rc=$?
red=$(sed -n 's/.*ring gen.out -> b.in: [0-9]* messages, \([0-9]*\) redelivered.*/\1/p' out)
if [ $rc = 0 ] && [ "$kills" = 3 ] && all_once out a b && [ "${red:-0}" -ge 1 ] && [ "$red" -le "$kills" ] &&
   [ "$(grep -c "^b  *| resumed at seq" out)" = 3 ] && ! grep -qE "ring gen.out -> a.in" out
then ok "kill -9 of a blocking consumer holding a pair (3 kills): $red redelivered to its restarts, 0 lost and 0 doubled"
else fail "redelivery to a killed blocking consumer ($kills kills, redelivered '${red:-none}', exit $rc)"; grep "gen.out\|^b " out | head >&2; fi
count=$count_all

# 5. Files: one source, three sinks, kills of a sink and of the source.
head -c $((count * 64)) /dev/urandom > in.bin
cat > files.yaml <<EOF
topology: files-$sfx
supervision: { strategy: one_for_one, intensity: 100000, period: 1s, grace: 2s }
kernels:
  - { name: src, exec: ./shmring-file-source, args: [in.bin, --chunk, 64KiB], outputs: [out] }
  - { name: x, exec: ./shmring-file-sink, args: [x.bin], inputs: [in] }
  - { name: y, exec: ./shmring-file-sink, args: [y.bin], inputs: [in] }
  - { name: z, exec: ./shmring-file-sink, args: [z.bin], inputs: [in] }
rings:
  - { from: src.out, to: [x.in, y.in, z.in], capacity: 1MiB }
EOF
"$sup" run files.yaml > out 2>&1 & spid=$!
wait_for "active" out 30
kill_loop $spid "file-sink y.bin" 2; k1=$kills
kill_loop $spid "file-source" 1; k2=$kills
timeout 120 tail --pid=$spid -f /dev/null || kill -TERM $spid; wait $spid; rc=$?
if [ $rc = 0 ] && cmp -s in.bin x.bin && cmp -s in.bin y.bin && cmp -s in.bin z.bin
then ok "file copy to 3 sinks ($k1 sink kills, $k2 source kills): three identical copies ($(grep -o '[0-9]* redelivered' out | head -1))"
else fail "file copy to 3 sinks ($k1 + $k2 kills, exit $rc)"; fi

# 6. shmring-stat while it runs: the ring once, a row per consumer.
topo stat "a" "b" "p --lossy --slow-us 1000 drop"
sed -i "s/--count, \"$count\"/--count, \"100000000000\"/" stat.yaml
"$sup" run stat.yaml > out 2>&1 & spid=$!
wait_for "active" out 30
sleep 0.3
"$stat" "stat-$sfx" > st 2>&1; src=$?
"$stat" "stat-$sfx" --json > st.json 2>&1
"$sup" stop "stat-$sfx" > /dev/null 2>&1
timeout 30 tail --pid=$spid -f /dev/null
if [ $src = 0 ] && [ "$(grep -c "gen.out -> broadcast to 3 (slowest)" st)" = 1 ] &&
   grep -q "gen.out -> a.in \[0\]" st && grep -q "gen.out -> b.in \[1\]" st &&
   grep -qE "gen.out -> p.in \[2\] drop +[0-9]+% .* [1-9][0-9.]*[KMG]?$" st &&
   grep -q '"gen.out -> p.in \[2\] drop"' st.json
then ok "shmring-stat: the ring once, a row per consumer, the drop reader's skips in DROPPED"
else show_on_fail="st out" fail "shmring-stat of a broadcast ring (exit $src)"; show_on_fail=out; fi

# 7. 17 consumers: check says why, exit 1.
lines=(); for i in $(seq 0 16); do lines+=("c$i"); done
topo seventeen "${lines[@]}"
"$sup" check seventeen.yaml > out 2>&1; rc=$?
if [ $rc = 1 ] && [ "$(wc -l < out)" = 1 ] &&
   grep -q "seventeen.yaml:23: to: lists 17 consumers, more than the 16 a broadcast ring has" out
then ok "check refuses 17 consumers in one line (exit 1)"
else fail "check of 17 consumers (exit $rc)"; fi

left=$(shm_left)
if [ -z "$left" ]; then ok "nothing left in /dev/shm"; else fail "left in /dev/shm: $left"; fi
finish
