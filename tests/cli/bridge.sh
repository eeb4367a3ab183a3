#!/usr/bin/env bash
# bridge: a ring carried between two supervisors over ZeroMQ, on one host
# through 127.0.0.1 (the two "hosts" are two supervisor runs). Supervisor A
# runs `gen ! shmring-zmq-sink`, supervisor B `shmring-zmq-source ! double !
# sink`; the sink checks every number arrives once, in order. Cases: a plain
# run (end of stream crosses: both supervisors exit 0); kill -9 of each
# bridge kernel mid-stream (the consumer held stopped with SIGSTOP, so the
# stream is surely in flight, with frames queued on both sides); the TCP
# connection reset under the stream with `ss -K` (libzmq reconnects by
# itself and drops what it queued: found as a gap, or by the source's IDLE
# heartbeat, and sent again; skipped, saying so, where sockets cannot be
# killed); large messages (BULK frames, sent from the sink's ring without
# a copy: a file in 64 KiB chunks, byte-exact, plain, with kill -9 of each
# bridge, and with CurveZMQ); B started 3 s after A; B's topology hash differs (A's sink refuses with one line and
# exits 78, not restarted); CurveZMQ with the right key, and a wrong client
# key refused and logged. In a sanitizer build a report in any output fails
# the check. Every wait is bounded; the whole under ctest's TIMEOUT.
set -u
sup=$(realpath "$1")   # shmring-supervisor
kern=$(realpath "$2")  # build/kernels
ex=$(realpath "$3")    # build/examples
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
show_on_fail="a.out b.out"
export SHMRING_QUIET=1

# Copies in $dir: every process of this test names $dir (lib.sh's cleanup).
cp "$ex"/doubler/{gen,double,sink} "$kern"/shmring-{zmq,file}-{sink,source} "$dir"/

# A port nobody listens on now (the kernel for it: bind to port 0).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_a COUNT PORT [EXTRA sink args]; start_b PORT [EXTRA source args]:
# the two supervisors in the background, pids in $apid / $bpid.
start_a() {
  local count=$1 port=$2; shift 2
  "$sup" run -e "$dir/gen --count $count ! $dir/shmring-zmq-sink --connect 127.0.0.1:$port \
    --edge double.in --hash 5eed --run-id 77 --from a --to b $*" > "$dir/a.out" 2>&1 &
  apid=$!
}
start_b() {
  local port=$1; shift
  "$sup" run -e "$dir/shmring-zmq-source --bind 127.0.0.1:$port --edge double.in --hash 5eed \
    --from a --to b $* ! $dir/double ! $dir/sink" > "$dir/b.out" 2>&1 &
  bpid=$!
}

# wait_exit PID SECONDS: its exit status, or 124 after killing it.
wait_exit() {
  local _
  for _ in $(seq $(( $2 * 20 ))); do
    kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
    sleep 0.05
  done
  kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 124
}

# What the last run's bridges counted, one line: how much was in flight
# when the connection went varies (it may be nothing), so these counts are
# shown, and exact delivery is what is checked.
resent() {
  echo "     counted: $(sed -n 's/.*shmring-zmq-sink *| sent [0-9]* messages (\([0-9]*\) of them again).*/\1 resent/p' \
    "$dir/a.out" | tail -1), $(sed -n 's/.*shmring-zmq-source *| delivered.* \([0-9]*\) gaps$/\1 gaps/p' "$dir/b.out" | tail -1)"
}

# check NAME COUNT: both ended 0 and the sink saw COUNT numbers once each.
check() {
  local ra rb
  wait_exit $apid 60; ra=$?
  wait_exit $bpid 20; rb=$?
  if [ $ra = 0 ] && [ $rb = 0 ] &&
     grep -q "sink *| received $2 in order, 0 duplicates (redelivered), 0 lost" "$dir/b.out"; then
    ok "$1"
  else
    fail "$1 (A exit $ra, B exit $rb)"
  fi
}

n=300000
port=$(free_port)
start_a $n "$port"; start_b "$port"
check "$n numbers from A to B: in order, 0 lost, 0 duplicates, both supervisors exit 0" $n

# Mid-stream: B's sink stopped, so the rings on both sides and the window
# fill up and stay full; then the bridge kernel is killed, the consumer
# let go, and the run must still complete exactly.
kill_bridge() { # which side (a / b), kernel name
  local side=$1 victim=$2 spid sinkpid
  port=$(free_port)
  start_a 2000000 "$port"; start_b "$port"
  spid=$([ "$side" = a ] && echo $apid || echo $bpid)
  # Connected: B is active and the stream flows; then hold its consumer.
  wait_for "connected to" "$dir/a.out" 20 || fail "$victim case: the bridge never connected"
  sinkpid=$(pgrep -P $bpid -x sink)
  kill -STOP "$sinkpid"
  sleep 1.5
  # By its path: pgrep -x sees only 15 characters of a name.
  local vpid; vpid=$(pgrep -P "$spid" -f "^$dir/$victim ")
  if [ -n "$vpid" ] && kill -9 "$vpid"; then ok "$victim killed mid-stream"
  else fail "$victim was not running mid-stream"; fi
  sleep 0.5
  kill -CONT "$sinkpid"
  check "kill -9 of $victim mid-stream: the run completes exactly" 2000000
  # SHMRING_QUIET hides the supervisor's restart count: its successor's line.
  local again="shmring-zmq-sink *| connected to .*resuming at position [1-9]"
  [ "$side" = b ] && again="shmring-zmq-source *| resumed: delivered up to position [1-9]"
  if grep -q "$again" "$dir/$side.out"; then ok "$victim was restarted and resumed mid-stream"
  else fail "$victim was not restarted, or resumed at 0"; fi
}
kill_bridge a shmring-zmq-sink
kill_bridge b shmring-zmq-source

# The TCP connection reset under the stream (ss -K, root with
# CONFIG_INET_DIAG_DESTROY): libzmq reconnects by itself and drops what it
# had queued; the source sees the gap, asks for a resend, and the run
# completes exactly.
port=$(free_port)
start_a 2000000 "$port"; start_b "$port"
wait_for "connected to" "$dir/a.out" 20 || fail "reset case: the bridge never connected"
sinkpid=$(pgrep -P $bpid -x sink)
kill -STOP "$sinkpid"; sleep 1
conn() { ss -Htn state established "( dport = :$port )" | awk '{print $3}'; }
before=$(conn)
ss -K state established "( dport = :$port )" > /dev/null 2>&1
sleep 1
after=$(conn)
kill -CONT "$sinkpid"
if [ -z "$before" ] || [ "$before" = "$after" ]; then
  check "connection reset: (not done: ss -K cannot kill sockets here) the run completes" 2000000
  echo "SKIP connection reset: ss -K did not reset the connection (needs root and CONFIG_INET_DIAG_DESTROY)"
else
  check "connection reset mid-stream (ss -K): the run completes exactly" 2000000
  resent
fi

# The same with the source stopped for 0.5 s around the reset: what was in
# flight dies with the connection, and often no later frame shows a gap
# (the window is full): the source's IDLE heartbeats tell the sink, which
# sends again from there.
if [ "$before" != "$after" ]; then
  port=$(free_port)
  start_a 2000000 "$port"; start_b "$port"
  wait_for "connected to" "$dir/a.out" 20 || fail "idle case: the bridge never connected"
  srcpid=$(pgrep -P $bpid -f "^$dir/shmring-zmq-source ")
  kill -STOP "$srcpid"; sleep 0.3
  ss -K state established "( dport = :$port )" > /dev/null 2>&1
  sleep 0.2; kill -CONT "$srcpid"
  check "connection reset with the window in flight: the run completes exactly" 2000000
  resent
fi

# Large messages: from BRIDGE_BULK_MIN (16 KiB) a message goes as a BULK
# frame, its bytes handed to libzmq where they lie in A's input ring. A file
# in 64 KiB chunks, the last one short (a DATA frame after the BULK ones),
# must arrive byte-exact: plainly, with kill -9 of each bridge while B's
# writer is held stopped from the start (so the rings and the window are
# surely full, whatever the speed), and through CurveZMQ.
head -c $((24 * 1048576 + 1234)) /dev/urandom > "$dir/big.in"
bulk_a() { # PORT [EXTRA sink args]
  local port=$1; shift
  "$sup" run -e "$dir/shmring-file-source $dir/big.in --chunk 65536 ! $dir/shmring-zmq-sink \
    --connect 127.0.0.1:$port --edge big --hash 5eed --run-id 78 --from a --to b $*" \
    > "$dir/a.out" 2>&1 &
  apid=$!
}
bulk_b() { # PORT [EXTRA source args]
  local port=$1; shift
  rm -f "$dir/big.out"
  "$sup" run -e "$dir/shmring-zmq-source --bind 127.0.0.1:$port --edge big --hash 5eed \
    --from a --to b $* ! $dir/shmring-file-sink $dir/big.out --no-sync" > "$dir/b.out" 2>&1 &
  bpid=$!
}
bulk_b_held() { # PORT: B with its writer stopped from the start ($wpid)
  local _
  bulk_b "$1"
  for _ in $(seq 100); do
    wpid=$(pgrep -P $bpid -f "^$dir/shmring-file-sink ") && break; sleep 0.05
  done
  kill -STOP "$wpid"
}
check_bulk() { # NAME
  local ra rb
  wait_exit $apid 60; ra=$?
  wait_exit $bpid 20; rb=$?
  if [ $ra = 0 ] && [ $rb = 0 ] && cmp -s "$dir/big.in" "$dir/big.out"; then ok "$1"
  else fail "$1 (A exit $ra, B exit $rb, $(cmp "$dir/big.in" "$dir/big.out" 2>&1 | head -1))"; fi
}
port=$(free_port)
bulk_b "$port"; bulk_a "$port"
check_bulk "24 MiB in 64 KiB messages (BULK frames) from A to B: byte-exact, both exit 0"

bulk_kill() { # which side (a / b), kernel name
  local side=$1 victim=$2 vpid
  port=$(free_port)
  bulk_b_held "$port"
  bulk_a "$port"
  wait_for "connected to" "$dir/a.out" 20 || fail "BULK $victim case: the bridge never connected"
  sleep 1
  vpid=$(pgrep -P "$([ "$side" = a ] && echo $apid || echo $bpid)" -f "^$dir/$victim ")
  if [ -n "$vpid" ] && kill -9 "$vpid"; then ok "BULK: $victim killed mid-stream"
  else fail "BULK: $victim was not running mid-stream"; fi
  sleep 0.5
  kill -CONT "$wpid"
  check_bulk "BULK: kill -9 of $victim mid-stream: the file arrives byte-exact"
}
bulk_kill a shmring-zmq-sink
bulk_kill b shmring-zmq-source

# The connection reset under BULK frames held by libzmq (ss -K, as above):
# A's ring keeps every byte libzmq may still read, and resends from it.
if [ "$before" != "$after" ]; then
  port=$(free_port)
  bulk_b_held "$port"
  bulk_a "$port"
  wait_for "connected to" "$dir/a.out" 20 || fail "BULK reset case: the bridge never connected"
  sleep 1
  ss -K state established "( dport = :$port )" > /dev/null 2>&1
  sleep 0.5; kill -CONT "$wpid"
  check_bulk "BULK: connection reset mid-stream (ss -K): the file arrives byte-exact"
  resent
fi

# B three seconds late: A's sink holds the stream in its ring meanwhile.
port=$(free_port)
start_a $n "$port"; sleep 3; start_b "$port"
check "B started 3 s after A: $n numbers, in order, 0 lost, 0 duplicates" $n

# Another topology file on B: refused with one line, A's sink exits 78 and
# is not restarted (A exits 2), B keeps waiting until stopped.
port=$(free_port)
start_b "$port"
"$sup" run -e "$dir/gen --count 10 ! $dir/shmring-zmq-sink --connect 127.0.0.1:$port \
  --edge double.in --hash beef --run-id 77 --from a --to b" > "$dir/a.out" 2>&1 &
apid=$!
wait_exit $apid 20; ra=$?
kill -INT $bpid; wait_exit $bpid 10 > /dev/null
if [ $ra = 2 ] && grep -q "refuses edge double.in: topology hash 0000000000005eed here is 000000000000beef there" "$dir/a.out" &&
   grep -q "refused a sink for edge double.in" "$dir/b.out"; then
  ok "a different topology hash: refused with one line on each side, the sink exits 78"
else
  fail "hash mismatch (A exit $ra)"
fi

# CurveZMQ: the right keys carry the stream; another client key is refused.
"$dir/shmring-zmq-source" --curve-keypair > "$dir/server.pair"
"$dir/shmring-zmq-source" --curve-keypair > "$dir/client.pair"
"$dir/shmring-zmq-source" --curve-keypair > "$dir/other.pair"
head -1 "$dir/server.pair" > "$dir/server.pub"
head -1 "$dir/client.pair" > "$dir/client.pub"
# Under ThreadSanitizer the encrypted streams (libsodium and libzmq, both
# uninstrumented, beside instrumented bridges) outlast the bounds: skipped
# there, and said; the refusal of a wrong key below still runs.
if ldd "$sup" 2>/dev/null | grep -q libtsan; then
  echo "skip CurveZMQ streams with the right keys: too slow under ThreadSanitizer (checked in the other builds)"
else
  port=$(free_port)
  start_a 100000 "$port" --curve-server-key "$dir/server.pub" --curve-key "$dir/client.pair"
  start_b "$port" --curve-secret "$dir/server.pair" --curve-client-key "$dir/client.pub"
  check "CurveZMQ with the right keys: 100000 numbers, exactly" 100000
  port=$(free_port)
  bulk_b "$port" --curve-secret "$dir/server.pair" --curve-client-key "$dir/client.pub"
  bulk_a "$port" --curve-server-key "$dir/server.pub" --curve-key "$dir/client.pair"
  check_bulk "CurveZMQ with the right keys: 24 MiB in BULK frames, byte-exact"
fi
port=$(free_port)
start_a 10 "$port" --curve-server-key "$dir/server.pub" --curve-key "$dir/other.pair"
start_b "$port" --curve-secret "$dir/server.pair" --curve-client-key "$dir/client.pub"
if wait_for "refused a sink whose CURVE key" "$dir/b.out" 10; then
  ok "CurveZMQ: a client with another key is refused and logged"
else
  fail "CurveZMQ: the wrong key was not refused"
fi
kill -INT $apid $bpid; wait_exit $apid 10; wait_exit $bpid 10
if [ "$(grep -c "refused a sink whose CURVE key" "$dir/b.out")" = 1 ]; then
  ok "the refused key is logged once, though the sink keeps trying"
else
  fail "the refused key is logged $(grep -c "refused a sink" "$dir/b.out") times"
fi

if [ -z "$(shm_left)" ]; then ok "no segment left in /dev/shm"
else fail "left in /dev/shm: $(shm_left)"; fi
finish
