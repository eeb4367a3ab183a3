#!/usr/bin/env bash
# gpu: the GPU doubler (examples/gpu-doubler) under shmring-supervisor.
#   With a GPU: a million messages through the persistent GPU kernel, every
#   result checked in order by the CPU sink; a stop while the GPU kernel is
#   busy ends it cleanly (exit 4: stopped on request, nothing killed) within
#   the grace, and no process is left.
#   Without one: the topology fails at once with the "no CUDA device" line
#   and a non-zero exit, nothing left behind; then the test skips (77).
set -u
sup=$(realpath "$1")     # shmring-supervisor
probe=$(realpath "$2")   # cuda-test (its "probe" mode)
ex=$(realpath "$3")      # build/examples
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$dir/doubler" "$dir/gpu-doubler"
cp "$ex"/doubler/{gen,sink} "$dir/doubler/"
cp "$ex"/gpu-doubler/{gpu-double,gpu-doubler.yaml} "$dir/gpu-doubler/"
sed -e 's/1000000/2000000000/g' -e 's/topology: gpu-doubler/topology: gpu-busy/' \
    "$dir/gpu-doubler/gpu-doubler.yaml" > "$dir/gpu-doubler/busy.yaml"

reason=$("$probe" probe 2>&1); prc=$?
if [ $prc = 77 ]; then
  # No GPU: the failure must be immediate, clear and leave nothing.
  timeout 60 "$sup" run "$dir/gpu-doubler/gpu-doubler.yaml" > "$dir/out" 2>&1; rc=$?
  if [ $rc != 0 ] && grep -q 'gpu-double *| gpu-double: no CUDA device' "$dir/out"
  then ok "without a GPU: exit $rc, one line says no CUDA device"
  else fail "without a GPU (exit $rc)"; fi
  if ! pgrep -f "$dir" > /dev/null && [ -z "$(shm_left)" ]
  then ok "without a GPU: no process, no shared memory left"
  else fail "without a GPU: leftovers"; fi
  skip_all "$reason"
fi
[ $prc = 0 ] || { echo "probe failed: $reason"; exit 1; }
echo "$reason"

# 1. A million messages, in order, every value checked by the sink.
timeout 120 "$sup" run "$dir/gpu-doubler/gpu-doubler.yaml" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q 'sink *| received 1000000 in order, 0 duplicates' "$dir/out" &&
   grep -q 'gpu-double: finished after 1000000 messages' "$dir/out"
then ok "1,000,000 messages through the persistent GPU kernel, in order, exit 0"
     grep -E 'sink *\| received' "$dir/out" | sed 's/^/     /'
else fail "gpu-doubler (exit $rc)"; fi

# 2. Stop while the GPU kernel is busy.
"$sup" run "$dir/gpu-doubler/busy.yaml" > "$dir/out" 2>&1 &
sv=$!
sleep 2
t0=$(date +%s%N)
"$sup" stop gpu-busy > /dev/null 2>&1
wait $sv; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ $rc = 4 ] && grep -qE 'gpu-double: stopped after [1-9][0-9]* messages' "$dir/out" && [ $ms -lt 3000 ]
then ok "stop while busy: exit 4, the GPU kernel stopped by itself in $ms ms"
else fail "stop while busy (exit $rc, $ms ms)"; fi
sleep 0.2
if ! pgrep -f "$dir" > /dev/null && [ -z "$(shm_left)" ]
then ok "no process, no shared memory left"
else fail "leftovers after stop"; fi

finish
