#!/usr/bin/env bash
# supervisor-run: real topologies under `shmring-supervisor run`, as a user
# runs them: normal end, Ctrl-C, stop from another shell, kernels killed with
# SIGKILL under load (restart, nothing lost, redelivery counted), a crash loop
# (intensity trips), a kernel that ignores stop (killed after grace), the
# supervisor killed with SIGKILL (kernels die, nothing left behind).
# Every wait is bounded; the whole script under ctest's TIMEOUT.
set -u
sup=$(realpath "$1")   # shmring-supervisor
ex=$(realpath "$2")    # build/examples
dir=$(mktemp -d)
fails=0
cleanup() { pkill -9 -f "$dir" 2>/dev/null; rm -rf "$dir"; }
# Background supervisors run without `timeout` (so $! is the supervisor);
# the trap kills whatever is left and ctest's TIMEOUT bounds the whole.
trap cleanup EXIT
ok()   { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -f "$dir/out" ] && sed 's/^/  /' "$dir/out"; fails=$((fails + 1)); }
shm_before=$(ls /dev/shm | sort)
# wait_for TEXT FILE SECONDS: until TEXT appears in FILE
wait_for() { for _ in $(seq $(( $3 * 20 ))); do grep -qF -- "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# gone PID... : every pid has exited (zombies count as gone) within 5 s
gone() {
  for _ in $(seq 100); do
    local alive=0
    for p in "$@"; do
      st=$(awk '{print $3}' /proc/$p/stat 2>/dev/null) && [ "$st" != Z ] && alive=1
    done
    [ $alive = 0 ] && return 0; sleep 0.05
  done; return 1
}
# kernels of this test's topologies: children of a supervisor pid
kids() { pgrep -P "$1" | tr '\n' ' '; }

cp "$ex"/doubler/{gen,double,sink} "$ex"/fanout/{split,merge} "$dir"/
sed 's|\.\./doubler/double|./double|' "$ex/fanout/fanout.yaml" > "$dir/fanout.yaml"
cp "$ex/doubler/doubler.yaml" "$dir/doubler.yaml"
# A long doubler, 1000x the count, to kill things under load.
sed -e 's/1000000/1000000000/g' -e 's/topology: doubler/topology: long-doubler/' \
    "$ex/doubler/doubler.yaml" > "$dir/long.yaml"

# 1. Normal end: exit 0, every result checked by the sink.
timeout 120 "$sup" run "$dir/doubler.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q 'sink *| received 1000000 in order, 0 duplicates' "$dir/out" &&
   grep -q "'doubler' finished (exit 0)" "$dir/out"; then ok "doubler ends by itself, exit 0"
else fail "doubler ends by itself (exit $rc)"; fi

timeout 120 "$sup" run "$dir/fanout.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q 'merge *| merged 300000 from 3 inputs, in order per input' "$dir/out"
then ok "fan-out / fan-in ends by itself, in order, exit 0"
else fail "fan-out / fan-in (exit $rc)"; fi

cd "$dir"
PATH="$dir:$PATH" timeout 60 "$sup" run -e 'gen --count 5000 ! double ! sink --expect 5000' > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q 'received 5000 in order' "$dir/out"; then ok "run -e pipeline"
else fail "run -e pipeline (exit $rc)"; fi
cd - > /dev/null

# 2. Ctrl-C: SIGINT to the supervisor (the terminal sends it to the
# foreground group; kernels have their own groups). Exit 4, kernels gone.
"$sup" run "$dir/long.yaml" > "$dir/out" 2>&1 & spid=$!
wait_for "active" "$dir/out" 10; sleep 0.3; k=$(kids $spid)
kill -INT $spid; wait $spid; rc=$?
if [ $rc = 4 ] && [ -n "$k" ] && gone $k && grep -q 'SIGINT: stopping' "$dir/out" &&
   grep -q "stopped on request (exit 4)" "$dir/out"; then ok "Ctrl-C stops cleanly, exit 4"
else fail "Ctrl-C (exit $rc, kernels '$k')"; fi

# 3. Kernels killed with SIGKILL under load, then `stop` from another shell.
sed -e 's/intensity: 5/intensity: 20/' "$dir/long.yaml" > "$dir/long20.yaml"
"$sup" run "$dir/long20.yaml" > "$dir/out" 2>&1 & spid=$!
wait_for "active" "$dir/out" 10
for i in 1 2 3 4 5; do
  # kill the running double (once it has exec'd), then wait for its restart
  sleep 0.3
  for _ in $(seq 100); do pkill -9 -P $spid -x double && break; sleep 0.05; done
  for _ in $(seq 100); do
    [ "$(grep -c "kernel 'double' was killed by SIGKILL: restarting" "$dir/out")" -ge $i ] && break
    sleep 0.05
  done
done
sleep 0.5
"$sup" stop long-doubler > "$dir/stop.out" 2>&1; src=$?
wait $spid; rc=$?
restarts=$(grep -c "kernel 'double' was killed by SIGKILL: restarting" "$dir/out")
dups=$(sed -n 's/.*received [0-9]* in order, \([0-9]*\) duplicates.*/\1/p' "$dir/out")
redel=$(sed -n 's/.*ring gen.out -> double.in: [0-9]* messages, \([0-9]*\) redelivered.*/\1/p' "$dir/out")
if [ $src = 0 ] && [ $rc = 4 ] && [ "$restarts" = 5 ] && grep -q ', 0 lost' "$dir/out" &&
   [ -n "$dups" ] && [ "${redel:-0}" -ge "$dups" ]; then
  ok "SIGKILL x5 under load: restarted, nothing lost, $redel redelivered, $dups duplicates at the sink; stop NAME"
else fail "SIGKILL under load (stop $src, exit $rc, restarts $restarts, dups '$dups', redelivered '$redel')"; fi

"$sup" stop long-doubler > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "no topology named 'long-doubler' is running" "$dir/out"
then ok "stop of a topology that is not running: exit 1, one line"
else fail "stop not running (exit $rc)"; fi

# 3b. Strategies: kill double; rest_for_one restarts it and the sink after
# it (graph order), not gen; one_for_all restarts all three.
for strategy in rest_for_one one_for_all; do
  sed -e "s/one_for_one/$strategy/" -e 's/--expect, "1000000000"/--from-any/' \
      "$dir/long.yaml" > "$dir/$strategy.yaml"
  "$sup" run "$dir/$strategy.yaml" > "$dir/out" 2>&1 & spid=$!
  wait_for "active" "$dir/out" 10; sleep 0.3
  before=$(for n in gen double sink; do pgrep -P $spid -x $n; done | tr '\n' ' ')
  pkill -9 -P $spid -x double
  wait_for "restarting ($strategy" "$dir/out" 10; sleep 0.5
  after=$(for n in gen double sink; do pgrep -P $spid -x $n; done | tr '\n' ' ')
  kill -TERM $spid; wait $spid; rc=$?
  read -r g0 d0 s0 <<<"$before"; read -r g1 d1 s1 <<<"$after"
  if [ "$strategy" = rest_for_one ]; then want_gen_same=yes; else want_gen_same=no; fi
  gen_same=no; [ "$g0" = "$g1" ] && gen_same=yes
  if [ $rc = 4 ] && [ -n "$s1" ] && [ -n "$d1" ] && [ "$d0" != "$d1" ] && [ "$s0" != "$s1" ] &&
     [ $gen_same = $want_gen_same ] && ! grep -q ' lost messages' "$dir/out"; then
    ok "$strategy: double killed; restarted double and sink, gen kept: $want_gen_same"
  else fail "$strategy (exit $rc, pids before '$before' after '$after')"; fi
done

# 4. A kernel that crashes in a loop: intensity trips, exit 3, clear message.
cat > "$dir/crash.yaml" <<Y
topology: crashloop
supervision: { intensity: 3, period: 10s }
kernels:
  - { name: gen, exec: ./gen, outputs: [out] }
  - { name: broken, exec: /bin/false, inputs: [in], restart: permanent }
rings:
  - { from: gen.out, to: broken.in }
Y
timeout 60 "$sup" run "$dir/crash.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 3 ] && grep -q "kernel 'broken' exited with status 1: restart intensity reached (more than 3 restarts within 10000 ms)" "$dir/out"
then ok "crash loop trips restart intensity, exit 3"
else fail "crash loop (exit $rc)"; fi

# 5. A kernel that ignores the stop flag is killed after the grace period.
cat > "$dir/deaf.yaml" <<Y
topology: deaf
supervision: { grace: 200ms }
kernels:
  - { name: deaf, exec: /bin/sleep, args: ["60"] }
rings: []
Y
"$sup" run "$dir/deaf.yaml" > "$dir/out" 2>&1 & spid=$!
sleep 0.5; k=$(kids $spid); kill -TERM $spid; wait $spid; rc=$?
if [ $rc = 5 ] && gone $k && grep -q "kernel 'deaf' did not stop within the grace period (200 ms): killed" "$dir/out"
then ok "kernel ignoring stop killed after grace, exit 5"
else fail "deaf kernel (exit $rc)"; fi

# 6. Supervisor killed with SIGKILL: kernels die with it, nothing is left.
"$sup" run "$dir/long.yaml" > "$dir/out" 2>&1 & spid=$!
wait_for "active" "$dir/out" 10; k=$(kids $spid)
kill -9 $spid; wait $spid 2>/dev/null
"$sup" stop long-doubler > /dev/null 2>&1; left=$?
if [ -n "$k" ] && gone $k && [ "$(ls /dev/shm | sort)" = "$shm_before" ] && [ $left = 1 ]
then ok "supervisor SIGKILLed: kernels gone, no segment left"
else fail "supervisor SIGKILLed (kernels '$k', stop says $left)"; fi

# 7. Bad input: a missing executable is refused before anything starts.
cat > "$dir/missing.yaml" <<Y
topology: missing
kernels:
  - { name: gen, exec: ./no-such-kernel }
Y
"$sup" run "$dir/missing.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && [ "$(wc -l < "$dir/out")" = 1 ] && grep -q "missing.yaml:3:" "$dir/out"
then ok "missing executable: exit 1, one FILE:LINE line"
else fail "missing executable (exit $rc)"; fi

# 8. The same topology twice at once is refused.
"$sup" run "$dir/long.yaml" > "$dir/out" 2>&1 & spid=$!
wait_for "active" "$dir/out" 10
"$sup" run "$dir/long.yaml" > "$dir/out2" 2>&1; rc=$?
kill -TERM $spid; wait $spid
if [ $rc = 1 ] && grep -q "topology 'long-doubler' is already running (supervisor pid $spid)" "$dir/out2"
then ok "second run of a running topology refused, exit 1"
else fail "second run (exit $rc)"; sed 's/^/  /' "$dir/out2"; fi

if [ "$(ls /dev/shm | sort)" != "$shm_before" ]; then
  echo "FAIL segments left in /dev/shm"; fails=$((fails + 1)); fi
echo "$fails failed"
[ $fails = 0 ]
