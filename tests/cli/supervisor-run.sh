#!/usr/bin/env bash
# supervisor-run: real topologies under `shmring-supervisor run`, as a user
# runs them: normal end, Ctrl-C, stop from another shell, kernels killed with
# SIGKILL under load (restart, nothing lost, nothing doubled: resumed from
# checkpoints, duplicates suppressed, each kernel holding only its own
# journal), a crash loop (intensity trips), a kernel that ignores stop
# (killed after grace), the supervisor killed with SIGKILL (kernels die,
# nothing left behind); a configuration error (exit 78) is not restarted;
# run -e options; a launch that fails or a stop before active lets no kernel
# run; the ready deadline and its one line; `ulimit -f` (rings, journals);
# the end-of-run summary never wraps and spots a scribbled ring; the working
# directory; 500 kernels under `ulimit -Sn 1024`; a restart group whose
# member ignores its stop; a restart that cannot start. Every wait is
# bounded; the whole script under ctest's TIMEOUT.
set -u
sup=$(realpath "$1")   # shmring-supervisor
ex=$(realpath "$2")    # build/examples
prio=$(realpath "$3")  # prio-print: prints the priority of each of its inputs
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# Topology names are per run: two runs of this script at once (several build
# trees, ctest -j) must not find, stop or refuse each other's topologies.
sfx=$$
long=long-doubler-$sfx

cp "$ex"/doubler/{gen,double,sink} "$ex"/fanout/{split,merge} "$dir"/
sed -e 's|\.\./doubler/double|./double|' -e "s/^topology: \(.*\)/topology: \1-$sfx/" \
    "$ex/fanout/fanout.yaml" > "$dir/fanout.yaml"
sed "s/topology: doubler/topology: doubler-$sfx/" "$ex/doubler/doubler.yaml" > "$dir/doubler.yaml"
# A long doubler, 1000x the count, to kill things under load.
sed -e 's/1000000/1000000000/g' -e "s/topology: doubler-$sfx/topology: $long/" \
    "$dir/doubler.yaml" > "$dir/long.yaml"

# The shmring-jnl memfds (kernel journals) process PID holds or maps, one
# name per line, sorted.
journals() {
  { for f in /proc/"$1"/fd/*; do readlink "$f"; done; cat /proc/"$1"/maps; } 2>/dev/null |
    grep -o 'shmring-jnl\.[^ ]*' | sort -u
}
# Every journal of topology NAME, each checked against who holds it: the
# supervisor SPID all of them, each kernel (child of SPID) its own only.
# Prints what is wrong, nothing when all is right.
journals_wrong() { # SPID NAME KERNEL...
  local spid=$1 name=$2 n p want
  shift 2
  want=$(for n in "$@"; do echo "shmring-jnl.$name.$n"; done | sort)
  [ "$(journals "$spid")" = "$want" ] || echo "supervisor holds: $(journals "$spid" | tr '\n' ' ')"
  for n in "$@"; do
    p=$(pgrep -P "$spid" -x "$n")
    [ -n "$p" ] && [ "$(journals "$p")" = "shmring-jnl.$name.$n" ] ||
      echo "kernel $n (pid '$p') holds: $(journals "$p" | tr '\n' ' ')"
  done
}

# 1. Normal end: exit 0, every result checked by the sink.
timeout 120 "$sup" run "$dir/doubler.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q 'sink *| received 1000000 in order, 0 duplicates' "$dir/out" &&
   grep -q "'doubler-$sfx' finished (exit 0)" "$dir/out"; then ok "doubler ends by itself, exit 0"
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
"$sup" stop $long > "$dir/stop.out" 2>&1; src=$?
wait $spid; rc=$?
restarts=$(grep -c "kernel 'double' was killed by SIGKILL: restarting" "$dir/out")
dups=$(sed -n 's/.*received [0-9]* in order, \([0-9]*\) duplicates.*/\1/p' "$dir/out")
redel=$(sed -n 's/.*ring gen.out -> double.in: [0-9]* messages, \([0-9]*\) redelivered.*/\1/p' "$dir/out")
# What double sends again for a redelivered message it had answered is
# suppressed (exactly once): never more than was redelivered to it (one
# answer a message), and nothing reaches the sink twice. How many a kill
# leaves is timing; that none is doubled is not.
suppr=$(sed -n "s/.*ring double.out -> sink.in: .* \([0-9]*\) suppressed (restarted producer's duplicates).*/\1/p" "$dir/out")
if [ $src = 0 ] && [ $rc = 4 ] && [ "$restarts" = 5 ] && grep -q ', 0 lost' "$dir/out" &&
   [ "$dups" = 0 ] && [ "${suppr:-0}" -le "${redel:-0}" ]; then
  ok "SIGKILL x5 under load: restarted, nothing lost, nothing doubled (${redel:-0} redelivered to double, ${suppr:-0} of its sends suppressed); stop NAME"
else fail "SIGKILL under load (stop $src, exit $rc, restarts $restarts, dups '$dups', redelivered '$redel', suppressed '$suppr')"; fi

# 3a. Every kernel killed once (a source, a transform, a sink): each comes
# back where its journal says, so the sink sees every number once; the
# summary says which resumed from a checkpoint. Each kernel holds its own
# journal and no other, before and after its restart (a journal is a
# kernel's private state: another must not read or scribble on it), the
# supervisor holds them all, and nothing holds one after the run.
"$sup" run "$dir/long20.yaml" > "$dir/out" 2>&1 & spid=$!
wait_for "active" "$dir/out" 10; sleep 0.3
wrong=$(journals_wrong $spid $long gen double sink)
for n in gen double sink; do
  for _ in $(seq 100); do pkill -9 -P $spid -x $n && break; sleep 0.05; done
  wait_for "kernel '$n' was killed by SIGKILL: restarting" "$dir/out" 10; sleep 0.5
done
wrong="$wrong$(journals_wrong $spid $long gen double sink)"
kill -TERM $spid; wait $spid; rc=$?
held=$( { ls -l /proc/[0-9]*/fd/ 2>/dev/null; cat /proc/[0-9]*/maps 2>/dev/null; } | grep -c "shmring-jnl\.$long\.")
dups=$(sed -n 's/.*received [0-9]* in order, \([0-9]*\) duplicates.*/\1/p' "$dir/out")
if [ $rc = 4 ] && [ -z "$wrong" ] && [ "$held" = 0 ] && [ "$dups" = 0 ] && grep -q ', 0 lost' "$dir/out" &&
   grep -Eq "kernel 'gen': resumed from checkpoint 1 time \(last generation [1-9][0-9]*\), 0 input messages skipped$" "$dir/out" &&
   grep -Eq "kernel 'sink': resumed from checkpoint 1 time \(last generation [1-9][0-9]*\), [0-9]+ input messages? skipped$" "$dir/out"
then ok "gen, double, sink killed once each: nothing doubled or lost, resumes in the summary, each kernel holds its own journal only"
else fail "each kernel killed once (exit $rc, dups '$dups', journals: '$wrong', held after the run: $held)"; fi

"$sup" stop $long > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "no topology named '$long' is running" "$dir/out"
then ok "stop of a topology that is not running: exit 1, one line"
else fail "stop not running (exit $rc)"; fi

# 3c. Fan-out / fan-in under kills: split (a source with three outputs),
# one worker and merge (three inputs) killed once each: merge still finds
# each number once and in order, split and merge resume from their
# checkpoints.
sed -e 's/"300000"/"1000000000"/g' -e 's/intensity: 5/intensity: 20/' \
    -e "s/^topology: \(.*\)/topology: \1-kill/" "$dir/fanout.yaml" > "$dir/fanout-kill.yaml"
"$sup" run "$dir/fanout-kill.yaml" > "$dir/out" 2>&1 & spid=$!
wait_for "active" "$dir/out" 10
i=0
for n in split double merge; do
  sleep 0.3; i=$((i + 1))
  for _ in $(seq 100); do pkill -9 -o -P $spid -x $n && break; sleep 0.05; done
  for _ in $(seq 100); do
    [ "$(grep -c "was killed by SIGKILL: restarting" "$dir/out")" -ge $i ] && break; sleep 0.05
  done
done
sleep 0.5
kill -TERM $spid; wait $spid; rc=$?
if [ $rc = 4 ] && [ "$(grep -c "was killed by SIGKILL: restarting" "$dir/out")" = 3 ] &&
   grep -Eq '^merge *\| merged [1-9][0-9]* from 3 inputs, in order per input, 0 duplicates' "$dir/out" &&
   grep -Eq '^split *\| resumed at seq [1-9]' "$dir/out" && grep -Eq '^merge *\| resumed after [1-9]' "$dir/out" &&
   ! grep -q 'out of order or lost\|unexpected pair' "$dir/out"
then ok "fan-out / fan-in: split, a worker and merge killed once each: resumed, nothing doubled or lost"
else fail "fan-out / fan-in under kills (exit $rc)"; cat "$dir/out" | tail -30; fi

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
topology: crashloop-$sfx
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
topology: deaf-$sfx
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
"$sup" stop $long > /dev/null 2>&1; left=$?
if [ -n "$k" ] && gone $k && [ -z "$(shm_left)" ] && [ $left = 1 ]
then ok "supervisor SIGKILLed: kernels gone, no segment left"
else fail "supervisor SIGKILLed (kernels '$k', stop says $left)"; fi

# 7. Bad input: a missing executable is refused before anything starts.
cat > "$dir/missing.yaml" <<Y
topology: missing-$sfx
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
# ... and another topology is planned around its kernels (gen and sink on
# cpu 0, double on cpu 1 on a 2-cpu machine: the least used cpu is 1).
cat > "$dir/one.yaml" <<Y
topology: one-$sfx
kernels:
  - { name: solo, exec: ./gen }
Y
"$sup" check "$dir/one.yaml" > "$dir/out3" 2>&1; crc=$?
kill -TERM $spid; wait $spid
if [ $rc = 1 ] && grep -q "topology '$long' is already running (supervisor pid $spid)" "$dir/out2"
then ok "second run of a running topology refused, exit 1"
else fail "second run (exit $rc)"; sed 's/^/  /' "$dir/out2"; fi
if [ $crc = 0 ] && grep -q "^cpus used by [0-9]* kernels of [0-9]* other running topolog" "$dir/out3" &&
   grep -q "(cpu: auto kernels go to the cpus no other topology uses first)" "$dir/out3" &&
   { ! grep -q "topology: 0 (2), 1 (1)$" "$dir/out3" || grep -q "^solo  *1  *auto" "$dir/out3"; }
then ok "check plans around a running topology's kernels: $(grep -o 'used by .*' "$dir/out3")"
else fail "check beside a running topology (exit $crc)"; sed 's/^/  /' "$dir/out3"; fi

# 9. A configuration error (exit 78, SHMRING_EXIT_CONFIG) is never restarted,
# whatever the policy: one line naming the kernel, the topology stops, exit 2.
# gen exits 78 on an unknown argument, before it attaches (so before ready).
sed -e 's/args: \[--count, "1000000"\]/args: [--count, "10", --bogus]/' \
    -e 's/restart: transient/restart: permanent/' \
    -e "s/topology: doubler-$sfx/topology: config-early-$sfx/" "$dir/doubler.yaml" > "$dir/config.yaml"
timeout 60 "$sup" run "$dir/config.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 2 ] && [ "$(grep -c "kernel 'gen' exited 78 (configuration error): not restarted; fix its args or the topology ($dir/config.yaml:" "$dir/out")" = 1 ] &&
   ! grep -q 'restarting\|intensity' "$dir/out"; then
  ok "kernel exiting 78 before ready: not restarted, one line, exit 2"
else fail "config error before ready (exit $rc)"; fi
# double with its input misnamed: it attaches (ready, active), then finds no
# port "in" and exits 78.
sed -e "s/topology: doubler-$sfx/topology: config-late-$sfx/" -e 's/to: double.in/to: double.input/' \
    "$dir/doubler.yaml" |
  awk '/name: double/ {d=1} d && /inputs: \[in\]/ {sub(/\[in\]/, "[input]"); d=0} {print}' > "$dir/config2.yaml"
timeout 60 "$sup" run "$dir/config2.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 2 ] && [ "$(grep -c "kernel 'double' exited 78 (configuration error): not restarted" "$dir/out")" = 1 ] &&
   grep -q "active" "$dir/out" && ! grep -q 'restarting\|intensity' "$dir/out"; then
  ok "kernel exiting 78 after ready (permanent): not restarted, one line, exit 2"
else fail "config error after ready (exit $rc)"; fi

# 10. run -e options, validated like the file.
cd "$dir"
PATH="$dir:$PATH" timeout 60 "$sup" run --restart permanent -e 'gen --count 10 --bogus ! sink' > "$dir/out" 2>&1; rc=$?
if [ $rc = 2 ] && [ "$(grep -c "exited 78 (configuration error): not restarted" "$dir/out")" = 1 ]
then ok "run -e: a kernel exiting 78 is not restarted either"
else fail "run -e config error (exit $rc)"; fi
PATH="$dir:$PATH" timeout 60 "$sup" run --strategy rest_for_one --intensity 1 --period 10s --restart permanent \
  --grace 1s --ready 5s -e 'gen --count 100 ! sink --expect 100' > "$dir/out" 2>&1; rc=$?
# sink expects doubled values: it fails, is restarted once, then intensity 1 trips
if [ $rc = 3 ] && grep -q "restarting (rest_for_one; 1 of at most 1 restarts within 10000 ms)" "$dir/out" &&
   grep -q "more than 1 restarts within 10000 ms): fix the crash, or raise --intensity / --period" "$dir/out"
then ok "run --strategy --intensity --period --restart -e: applied"
else fail "run -e options (exit $rc)"; fi
bad=0
for args in "--period 0s" "--period 10" "--intensity -1" "--intensity 1000001" "--strategy one_for_none" \
            "--restart sometimes" "--grace 0ms" "--ready 0s" "--ready 1441m" "--bogus 1"; do
  # shellcheck disable=SC2086
  "$sup" run $args -e 'gen ! sink' > "$dir/out" 2>&1; rc=$?
  if [ $rc != 100 ] || [ "$(wc -l < "$dir/out")" != 1 ]; then bad=1; echo "  '$args': exit $rc"; sed 's/^/    /' "$dir/out"; fi
done
"$sup" run --intensity 2 "$dir/doubler.yaml" > "$dir/out" 2>&1; rc=$?
[ $rc = 100 ] && grep -q "supervision:" "$dir/out" || { bad=1; echo "  options with FILE: exit $rc"; }
if [ $bad = 0 ]; then ok "run -e options: bad values refused with one line, exit 100"
else fail "run -e option validation"; fi
cd - > /dev/null

# 11. The attach protocol: when the launch fails, or a stop comes before the
# topology is active, no kernel runs: shmring_kernel_attach fails
# (-ECANCELED) instead of returning, so gen never sends (it would print
# "sent N"). Needs the kernel side (libshmring/src/kernel.c) too.
printf 'not a program\n' > "$dir/noexec"; chmod +x "$dir/noexec"
cat > "$dir/launchfail.yaml" <<Y
topology: launchfail-$sfx
kernels:
  - { name: gen, exec: ./gen, args: [--count, "1000"], outputs: [out] }
  - { name: sink, exec: ./sink, inputs: [in] }
  - { name: broken, exec: ./noexec }
rings:
  - { from: gen.out, to: sink.in }
Y
timeout 60 "$sup" run "$dir/launchfail.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 2 ] && grep -q "kernel 'broken': cannot execute .*noexec: Exec format error" "$dir/out" &&
   ! grep -q 'gen *| sent\|messages' "$dir/out"
then ok "exec fails at launch: the topology stops, gen never sends, exit 2"
else fail "launch failure (exit $rc)"; fi
cat > "$dir/early.yaml" <<Y
topology: early-stop-$sfx
supervision: { grace: 300ms }
kernels:
  - { name: gen, exec: ./gen, args: [--count, "1000"], outputs: [out] }
  - { name: sink, exec: ./sink, inputs: [in] }
  - { name: sleeper, exec: /bin/sleep, args: ["60"], restart: temporary }
rings:
  - { from: gen.out, to: sink.in }
Y
"$sup" run "$dir/early.yaml" > "$dir/out" 2>&1 & spid=$!
sleep 1; k=$(kids $spid); kill -TERM $spid; wait $spid; rc=$?
if [ $rc = 5 ] && [ -n "$k" ] && gone $k && ! grep -q 'active\|gen *| sent\|messages' "$dir/out"
then ok "stop before active: gen never sends, sleeper killed after grace, exit 5"
else fail "stop before active (exit $rc, kernels '$k')"; fi

# 12. The ready deadline: supervision.ready, one line however many kernels
# miss it, and none of the others runs.
sed -e 's/grace: 300ms/grace: 300ms, ready: 1s/' -e "s/early-stop-$sfx/ready1-$sfx/" "$dir/early.yaml" > "$dir/ready.yaml"
start=$(date +%s%N)
timeout 60 "$sup" run "$dir/ready.yaml" > "$dir/out" 2>&1; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $rc = 2 ] && [ $ms -lt 5000 ] &&
   grep -q "kernel 'sleeper' did not report ready within 1000 ms: does it call shmring_kernel_attach()? (supervision.ready in $dir/ready.yaml sets the deadline)" "$dir/out" &&
   ! grep -q 'gen *| sent\|messages' "$dir/out"
then ok "supervision.ready: 1 s deadline kept (${ms} ms), one line, gen never sends, exit 2"
else fail "ready deadline (exit $rc, ${ms} ms)"; fi
{ echo "topology: many-late-$sfx"; echo "supervision: { grace: 300ms, ready: 1s }"; echo "kernels:"
  for i in $(seq 0 11); do echo "  - { name: late$i, exec: /bin/sleep, args: [\"60\"] }"; done
  echo "  - { name: gen, exec: ./gen, args: [--count, \"1000\"], outputs: [out] }"
  echo "  - { name: sink, exec: ./sink, inputs: [in] }"
  echo "rings: [ { from: gen.out, to: sink.in } ]"; } > "$dir/late.yaml"
timeout 60 "$sup" run "$dir/late.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 2 ] && [ "$(grep -c 'did not report ready' "$dir/out")" = 1 ] &&
   grep -q "12 of 14 kernels did not report ready within 1000 ms: 'late0', 'late1', 'late2', 'late3', 'late4' and 7 more" "$dir/out" &&
   [ "$(grep -c "'late[0-9]" "$dir/out")" = 2 ]
then ok "12 kernels late: one line naming the first 5 and the count"
else fail "many kernels late (exit $rc)"; fi

# 13. `ulimit -f`: sizing a ring past it is reported (one line naming the
# ring by its ends and the fix), not a SIGXFSZ death (rc 153); kernels get
# SIGXFSZ back (its default), not the supervisor's SIG_IGN.
cat > "$dir/fsize.yaml" <<Y
topology: fsize-$sfx
kernels:
  - { name: gen, exec: ./gen, args: [--count, "10"], outputs: [out] }
  - { name: sink, exec: ./sink, args: [--expect, "10"], inputs: [in] }
rings:
  - { from: gen.out, to: sink.in, capacity: 1MiB }
Y
(ulimit -f 512; timeout 60 "$sup" run "$dir/fsize.yaml" > "$dir/out" 2>&1); rc=$?
if [ $rc = 111 ] && [ "$(wc -l < "$dir/out")" = 1 ] &&
   grep -q "ring gen.out -> sink.in ($dir/fsize.yaml:6): cannot size its 1 MiB of memory: larger than the file size limit (ulimit -f: 512 KiB); raise \`ulimit -f\`, or lower its capacity" "$dir/out" &&
   ! grep -q "ring ''\|shmring_unlink\|/dev/shm" "$dir/out"
then ok "ulimit -f below a ring's size: one line naming the ring and the fix, exit 111"
else fail "ulimit -f (exit $rc)"; fi
# A ring that fits under the limit but a kernel's journal (about 128 KiB)
# that does not: one line naming the kernel and the fix.
sed -e 's/capacity: 1MiB/capacity: 4KiB/' -e "s/fsize-$sfx/fsize2-$sfx/" "$dir/fsize.yaml" > "$dir/fsize2.yaml"
(ulimit -f 64; timeout 60 "$sup" run "$dir/fsize2.yaml" > "$dir/out" 2>&1); rc=$?
if [ $rc = 111 ] && [ "$(wc -l < "$dir/out")" = 1 ] &&
   grep -Eq "kernel 'gen' \($dir/fsize2.yaml:3\): cannot size its journal \([0-9]+ bytes\): larger than the file size limit \(ulimit -f: 64 KiB\); raise \`ulimit -f\`$" "$dir/out"
then ok "ulimit -f below a journal's size: one line naming the kernel and the fix, exit 111"
else fail "ulimit -f below a journal (exit $rc)"; fi
cat > "$dir/xfsz.yaml" <<Y
topology: xfsz-$sfx
kernels:
  - { name: writer, exec: /bin/sh, args: [-c, 'head -c 1048576 /dev/zero > big.out; echo "status \$?"'], restart: temporary }
Y
(ulimit -f 512; timeout 60 "$sup" run "$dir/xfsz.yaml" > "$dir/out" 2>&1); rc=$?
rm -f "$dir/big.out"
if [ $rc = 0 ] && grep -q 'writer | status 153' "$dir/out"
then ok "kernels get SIGXFSZ's default back (a writer past ulimit -f dies of it)"
else fail "SIGXFSZ in kernels (exit $rc)"; fi

# 14. The end-of-run summary: a producer's count that lags (a kill between
# its commit and its count) never prints as a wrapped-around number; a
# scribbled counter is not printed as if true. The counters are scribbled
# through the supervisor's own descriptors of the two rings (memfds, in
# creation order): offsets 384 (producer messages) of smr_header, layout.h.
sed -e 's/"1000000"\]/"10", --hold]/' -e 's/--expect, "10", --hold\]/--expect, "10"]/' \
    -e "s/topology: doubler-$sfx/topology: scribble-$sfx/" "$dir/doubler.yaml" > "$dir/scribble.yaml"
"$sup" run "$dir/scribble.yaml" > "$dir/out" 2>&1 & spid=$!
wait_for "active" "$dir/out" 10
rfds=$(for f in /proc/$spid/fd/*; do
         [ "$(readlink "$f")" = "/memfd:shmring (deleted)" ] && basename "$f"; done | sort -n)
r0=$(echo "$rfds" | sed -n 1p); r1=$(echo "$rfds" | sed -n 2p)
# until both consumers have released all 10 (offset 768: consumer messages):
# then every count is final, and nobody writes one again before the stop
u64() { od -An -t u8 -j "$2" -N 8 "/proc/$spid/fd/$1" 2>/dev/null | tr -d ' '; }
for _ in $(seq 200); do [ "$(u64 "$r0" 768)" = 10 ] && [ "$(u64 "$r1" 768)" = 10 ] && break; sleep 0.05; done
printf '\004\000\000\000\000\000\000\000' |
  dd of="/proc/$spid/fd/$r0" bs=1 seek=384 conv=notrunc status=none   # 10 committed, 4 counted
printf '\377\377\377\377\377\377\377\377' |
  dd of="/proc/$spid/fd/$r1" bs=1 seek=384 conv=notrunc status=none   # garbage
kill -TERM $spid; wait $spid; rc=$?
if [ $rc = 4 ] && [ -n "$r1" ] &&
   grep -q "ring gen.out -> double.in: 10 messages, 0 redelivered (consumer taken over); the producer's count lags by 6" "$dir/out" &&
   grep -q "ring double.out -> sink.in: counters unreadable (ring corrupt?)" "$dir/out" &&
   ! grep -q '1844674407\|never consumed' "$dir/out"
then ok "summary: a lagging count is said so, a scribbled one is unreadable, nothing wraps"
else fail "summary of scribbled rings (exit $rc, ring fds '$r0' '$r1')"; fi

# 15. A second Ctrl-C kills at once: the kernels were not given the grace
# period, so none is said to have overrun it.
sed -e 's/grace: 200ms/grace: 10m/' "$dir/deaf.yaml" > "$dir/deaf2.yaml"
"$sup" run "$dir/deaf2.yaml" > "$dir/out" 2>&1 & spid=$!
sleep 0.5; k=$(kids $spid); kill -INT $spid; sleep 0.3; kill -INT $spid; wait $spid; rc=$?
if [ $rc = 5 ] && gone $k && grep -q "SIGINT again: killing every kernel now" "$dir/out" &&
   ! grep -q "grace period" "$dir/out"
then ok "second Ctrl-C: killed at once, no grace-period line"
else fail "second Ctrl-C (exit $rc)"; fi

# 16. Bare shmring-supervisor: the usage, exit 100.
"$sup" > "$dir/out" 2>&1; rc=$?
if [ $rc = 100 ] && head -1 "$dir/out" | grep -q '^usage: shmring-supervisor' && ! grep -q 'takes one' "$dir/out"
then ok "no arguments: usage only, exit 100"
else fail "no arguments (exit $rc)"; fi

# 17. Kernels run in the topology file's folder (relative args mean what
# exec: means), whatever the supervisor's; with -e, in the supervisor's.
mkdir -p "$dir/wd"; echo "data in wd" > "$dir/wd/data.txt"
cat > "$dir/wd/wd.yaml" <<Y
topology: workdir-$sfx
kernels:
  - { name: where, exec: /bin/sh, args: [-c, 'pwd; cat ./data.txt'], restart: temporary }
Y
(cd / && timeout 60 "$sup" run "$dir/wd/wd.yaml") > "$dir/out" 2>&1; rc=$?
(cd "$dir/wd" && timeout 60 "$sup" run wd.yaml) > "$dir/out2" 2>&1; rc2=$?
(cd "$dir" && timeout 60 "$sup" run --restart temporary -e 'pwd') > "$dir/out3" 2>&1; rc3=$?
real=$(cd "$dir" && pwd -P)
if [ $rc = 0 ] && [ $rc2 = 0 ] && [ $rc3 = 0 ] && grep -q "where | $real/wd$" "$dir/out" &&
   grep -q "where | data in wd" "$dir/out" && grep -q "where | $real/wd$" "$dir/out2" &&
   grep -q "pwd *| $real$" "$dir/out3"
then ok "working directory: the topology file's folder; -e: the supervisor's"
else fail "working directory (exit $rc $rc2 $rc3)"; cat "$dir/out2" "$dir/out3" | sed 's/^/  /'; fi

# 18. 500 kernels under the usual `ulimit -Sn 1024` (they need about 2300
# descriptors: the supervisor raises its soft limit, kernels get 1024 back),
# all active within the default ready deadline (20 s for 500), all finishing.
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 2400 ]; then
  { echo "topology: many-$sfx"; echo "kernels:"
    for i in $(seq 0 249); do
      echo "  - { name: g$i, exec: ./gen, args: [--count, \"100\"], outputs: [out] }"
      echo "  - { name: s$i, exec: ./sink, args: [--expect, \"100\", --factor, \"1\"], inputs: [in] }"
    done
    echo "rings:"
    for i in $(seq 0 249); do echo "  - { from: g$i.out, to: s$i.in, capacity: 64KiB }"; done; } > "$dir/many.yaml"
  (ulimit -Sn 1024; timeout 120 "$sup" run "$dir/many.yaml") > "$dir/out" 2>&1; rc=$?
  launch=$(sed -n "s/.*'many-$sfx' active: 500 kernels, 250 rings (\([0-9.]*\) ms to launch).*/\1/p" "$dir/out")
  if [ $rc = 0 ] && [ -n "$launch" ] && [ "$(grep -c 'received 100 in order' "$dir/out")" = 250 ]
  then ok "500 kernels under ulimit -Sn 1024: active in $launch ms, all finished"
  else fail "500 kernels (exit $rc)"; fi
else echo "skip 500 kernels: ulimit -Hn is $(ulimit -Hn)"; fi

# 19. A restart group with a kernel that ignores its stop (the lifecycle
# table's RESTARTING -> RESTART_KILLED -> RESTART_PENDING): crash fails,
# one_for_all asks deaf to stop, kills it after the grace period and says so
# at once (not at the end), starts both again; crash fails again and trips
# intensity 1 (exit 3). Neither kernel attaches: the ready deadline is far
# off so that a slow machine cannot hit it first.
cat > "$dir/regroup.yaml" <<Y
topology: regroup-$sfx
supervision: { strategy: one_for_all, intensity: 1, period: 10s, grace: 200ms, ready: 1m }
kernels:
  - { name: crash, exec: /bin/sh, args: [-c, 'sleep 0.3; exit 1'] }
  - { name: deaf, exec: /bin/sleep, args: ["60"] }
rings: []
Y
timeout 60 "$sup" run "$dir/regroup.yaml" > "$dir/out" 2>&1; rc=$?
said=$(grep -n "kernel 'deaf' did not stop within the grace period (200 ms): killed" "$dir/out" | head -1 | cut -d: -f1)
tripped=$(grep -n "kernel 'crash' exited with status 1: restart intensity reached" "$dir/out" | cut -d: -f1)
if [ $rc = 3 ] && grep -q "kernel 'crash' exited with status 1: restarting (one_for_all; 1 of at most 1" "$dir/out" &&
   [ -n "$said" ] && [ -n "$tripped" ] && [ "$said" -lt "$tripped" ]
then ok "one_for_all: a sibling ignoring its stop is killed after grace, said at once, restarted"
else fail "restart group with a deaf sibling (exit $rc, grace line at '$said', intensity at '$tripped')"; fi

# 20. A restart that cannot start (RESTART_PENDING -> GONE, its ends closed):
# flaky deletes itself and fails; its restart cannot exec, so it is gone for
# good and the supervisor closes its output: sink reads end of stream and
# finishes instead of waiting for a producer that will never come. Exit 2.
printf '#!/bin/sh\nrm -f "$0"\nexit 1\n' > "$dir/flaky"; chmod +x "$dir/flaky"
cat > "$dir/flaky.yaml" <<Y
topology: flaky-$sfx
kernels:
  - { name: flaky, exec: ./flaky, outputs: [out], restart: permanent }
  - { name: sink, exec: ./sink, inputs: [in] }
rings:
  - { from: flaky.out, to: sink.in }
Y
timeout 20 "$sup" run "$dir/flaky.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 2 ] && grep -q "kernel 'flaky' exited with status 1: restarting" "$dir/out" &&
   grep -q "kernel 'flaky': cannot execute .*flaky: No such file or directory" "$dir/out" &&
   grep -q 'sink *| received 0' "$dir/out" && grep -q "ended with a failed kernel (exit 2) after .*, 1 restarts" "$dir/out"
then ok "a restart that cannot exec: gone for good, its ring closed, sink finishes, exit 2"
else fail "restart that cannot start (exit $rc)"; fi


# 21. Input priorities reach the kernels: the supervisor writes each ring's
# consumer priority into the control segment; prio-print reads it back.
cat > "$dir/prio.yaml" <<Y
topology: prio-$sfx
kernels:
  - { name: src, exec: $prio, outputs: [a, b, c] }
  - name: mix
    exec: $prio
    inputs: [data, { name: control, priority: high }, { name: bulk, priority: low }]
rings:
  - { from: src.a, to: mix.data }
  - { from: src.b, to: mix.control }
  - { from: src.c, to: mix.bulk }
Y
timeout 20 "$sup" run "$dir/prio.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q 'mix *| input 0 priority 0$' "$dir/out" &&
   grep -q 'mix *| input 1 priority 1$' "$dir/out" && grep -q 'mix *| input 2 priority -1$' "$dir/out"
then ok "input priorities from the topology reach the kernel"
else fail "input priorities (exit $rc)"; fi

# 22. A dead kernel's output pipe still held by a process it started: the
# restart must stop watching the old pipe (it used to stay in epoll under
# the successor's tag, and once readable made the loop spin a core).
cat > "$dir/orphan" <<'S'
#!/bin/sh
if [ -e "$0.ran" ]; then sleep 4; exit 1; fi
touch "$0.ran"; (sleep 0.3; echo late) & exit 1
S
chmod +x "$dir/orphan"
cat > "$dir/orphan.yaml" <<Y
topology: orphan-$sfx
supervision: { intensity: 1, period: 60s, ready: 30s }
kernels:
  - { name: orphan, exec: ./orphan }
Y
TIMEFORMAT='%U %S'
{ time timeout 30 "$sup" run "$dir/orphan.yaml" > "$dir/out" 2>&1; } 2> "$dir/cpu"; rc=$?
cpu=$(awk '{ printf "%d", ($1 + $2) * 1000 }' "$dir/cpu")
if [ "$cpu" -lt 1500 ] && grep -q "restart intensity reached" "$dir/out"
then ok "a restart stops watching the dead kernel's pipe (supervisor CPU ${cpu} ms over ~4 s)"
else fail "supervisor spun after a restart: ${cpu} ms of CPU (exit $rc)"; fi

[ -z "$(shm_left)" ] || fail "segments left in /dev/shm: $(shm_left | tr '\n' ' ')"
finish
