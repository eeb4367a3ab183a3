#!/usr/bin/env bash
# io-kernels: the standard I/O kernels under the supervisor. Copy files of
# 0, 1, 4095, 4096 bytes, an odd size, and a large sparse one through
# shmring-file-source ! shmring-checksum ! shmring-file-sink, buffered and
# with O_DIRECT, with the io_uring futex wait and with the fallback forced;
# compare bytes and checksums. Short reads (a FIFO) make whole chunks.
# Restarts leave no trace: each kernel killed with SIGKILL mid-copy, then
# all three in one run, and the copy and its checksum are exact; a killed
# tcp-source says what was delivered and takes the peer's next connection.
# Configuration errors: each kernel exits
# SHMRING_EXIT_CONFIG (78) with one line, run by hand and under the
# supervisor, which does not restart it and exits 2. Then the TCP kernels
# over loopback. In a sanitizer build, a sanitizer report (LeakSanitizer on
# an error path...) in any output fails the check that produced it.
set -u
sup=$(realpath "$1"); kern=$(realpath "$2"); big=${3:-1073741824}
dir_template="${TMPDIR:-/var/tmp}/shmring-io.XXXXXX" # a disk, for O_DIRECT
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
export PATH="$kern:$PATH" SHMRING_QUIET=1

copy() { # name, source file, extra args for source and sink, env
  local name=$1 src=$2 sargs=$3 dargs=$4
  rm -f "$dir/copy"
  timeout 300 "$sup" run -e "shmring-file-source $src $sargs ! shmring-checksum ! shmring-file-sink $dir/copy $dargs" \
    > "$dir/out" 2>&1; local rc=$?
  local want got
  want=$(shmring-checksum --file "$src" | awk '{print $2}')
  got=$(sed -n 's/.*fnv1a64 \([0-9a-f]*\) bytes.*/\1/p' "$dir/out")
  if [ $rc = 0 ] && cmp -s "$src" "$dir/copy" && [ "$got" = "$want" ]; then ok "$name"
  else fail "$name (exit $rc, checksum '$got' want '$want')"; fi
}

for size in 0 1 4095 4096 1000003; do
  head -c $size /dev/urandom > "$dir/f$size"
  copy "copy $size bytes" "$dir/f$size" "" ""
  copy "copy $size bytes, O_DIRECT both ends, 4 KiB chunks" "$dir/f$size" "--direct --chunk 4K" "--direct"
  SHMRING_IO_FUTEX=0 copy "copy $size bytes, futex-wait fallback forced" "$dir/f$size" "" ""
done
# large and sparse: holes read as zeros, with data at both ends
truncate -s "$big" "$dir/sparse"
printf 'head' | dd of="$dir/sparse" conv=notrunc status=none
printf 'tail' | dd of="$dir/sparse" bs=1 seek=$((big - 4)) conv=notrunc status=none
copy "copy a $((big >> 20)) MiB sparse file, 256 KiB chunks" "$dir/sparse" "--chunk 256K" "--no-sync"
rm -f "$dir/sparse" "$dir/copy"

# file-sink cuts the file only when its size differs: truncating a file to
# 0 makes ext4 (auto_da_alloc) write all of it back at close, inside the
# sink (measured: the copy took 1.6x as long). A new file is never
# truncated (strace sees no ftruncate); an existing longer one still is.
head -c 1000000 /dev/urandom > "$dir/small"
if command -v strace > /dev/null; then
  rm -f "$dir/copy"
  # LeakSanitizer cannot run under ptrace: off for this run (ASan builds)
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -y -e trace=ftruncate -o "$dir/strace" \
    "$sup" run -e "shmring-file-source $dir/small ! shmring-file-sink $dir/copy" > "$dir/out" 2>&1; rc=$?
  if [ $rc = 0 ] && cmp -s "$dir/small" "$dir/copy" && ! grep -qF "/copy>" "$dir/strace"
  then ok "file-sink writes a new file without truncating it (no ext4 write-back at close)"
  else fail "file-sink on a new file (exit $rc): $(grep -F "/copy>" "$dir/strace" | head -2)"; fi
else
  echo "skip file-sink without truncation: strace is not installed"
fi
head -c 3000000 /dev/urandom > "$dir/copy"
timeout 60 "$sup" run -e "shmring-file-source $dir/small ! shmring-file-sink $dir/copy" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && cmp -s "$dir/small" "$dir/copy"
then ok "file-sink over a longer file: cut to the copy's size"
else fail "file-sink over a longer file (exit $rc, $(stat -c %s "$dir/copy") bytes)"; fi
rm -f "$dir/small" "$dir/copy" "$dir/strace"

# Short reads are continued into the same message, so the messages depend
# on the file and --chunk alone (a restarted file-source cuts the file as
# its predecessor did, and its repeats are recognised): a FIFO written 100
# bytes at a time still comes as whole 4 KiB chunks, then the rest.
mkfifo "$dir/fifo"
python3 - "$dir/fifo" <<'P' &
import sys, time
with open(sys.argv[1], "wb", buffering=0) as f:
    for i in range(50):
        f.write(bytes([65 + i % 26]) * 100)
        time.sleep(0.005)
P
rm -f "$dir/copy"
timeout 60 "$sup" run -e "shmring-file-source $dir/fifo --chunk 4K ! shmring-file-sink $dir/copy" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q "read 5000 bytes in 2 messages" "$dir/out" && [ "$(wc -c < "$dir/copy")" = 5000 ]
then ok "short reads continued: 50 writes of 100 bytes into a FIFO come as 2 messages (4096 + 904 bytes)"
else fail "short reads (exit $rc)"; fi
rm -f "$dir/fifo"

# Nothing lost, nothing doubled: the same copy with one kernel killed
# (SIGKILL) mid-stream and restarted by the supervisor, each kernel in
# turn, then all three in one run: the copy is byte-exact and the checksum
# that of the whole file. 20 MB in 256-byte messages, so the stream lasts
# long enough to be hit (about a second; the source runs ahead of the sink
# by at most the two rings, 2 MiB); each kill waits until the copy has
# passed a share of the file (the sink's output grows as it goes), and the
# victim's own "resumed" line proves it started again from a checkpoint,
# not from the beginning.
head -c 20000000 /dev/urandom > "$dir/chaos"
chaos_want=$(shmring-checksum --file "$dir/chaos" | awk '{print $2}')
kill_at() { # supervisor pid, kernel, percent of the file copied
  local spid=$1 victim=$2 pct=$3 size _
  size=$(stat -c %s "$dir/chaos")
  for _ in $(seq 6000); do # 30 s at most
    [ "$(stat -c %s "$dir/copy" 2>/dev/null || echo 0)" -ge $((size * pct / 100)) ] && break
    sleep 0.005
  done
  pkill -9 -P "$spid" -f "^([^ ]*/)?$victim( |\$)"
}
killed_copy() { # name, then kernel:percent... (run without timeout: $! is the supervisor)
  local name=$1 spid rc got v victims="" restarted=yes; shift
  rm -f "$dir/copy"
  SHMRING_QUIET=0 "$sup" run --intensity 10 -e "shmring-file-source $dir/chaos --chunk 256 ! shmring-checksum ! shmring-file-sink $dir/copy" \
    > "$dir/out" 2>&1 & spid=$!
  for v in "$@"; do kill_at $spid "${v%:*}" "${v#*:}"; victims="$victims ${v%:*}"; done
  wait $spid; rc=$?
  got=$(sed -n 's/.*fnv1a64 \([0-9a-f]*\) bytes.*/\1/p' "$dir/out")
  for v in $victims; do
    [ "$(grep -c "kernel '$v' was killed by SIGKILL: restarting" "$dir/out")" = 1 ] &&
      grep -qE "^$v +\| resumed (at byte|after) [1-9]" "$dir/out" || restarted="no ($v)"
  done
  local same=no; cmp -s "$dir/chaos" "$dir/copy" && same=yes
  if [ $rc = 0 ] && [ "$restarted" = yes ] && [ $same = yes ] && [ "$got" = "$chaos_want" ]
  then ok "$name: restarted from its checkpoint, copy byte-exact, checksum of the whole file"
  else fail "$name (exit $rc, restarted: $restarted, copy identical: $same, checksum '$got' want '$chaos_want')"; fi
}
killed_copy "file-source killed mid-stream" shmring-file-source:25
killed_copy "checksum killed mid-stream" shmring-checksum:25
killed_copy "file-sink killed mid-stream" shmring-file-sink:25
# Several writes in flight: the sink writes a read-ahead window of messages
# at once (up to 8) and releases the written prefix; the copy above was
# killed with writes in flight and is still byte-exact. Its successor
# starts on a full ring (the source ran on), so its window fills; it
# reports the most writes it had in flight.
if grep -qE "^shmring-file-sink +\| wrote 20000000 bytes .*\(at most [2-8] writes in flight\)" "$dir/out"
then ok "file-sink killed with several writes in flight: its successor kept several in flight too"
else fail "file-sink kept one write in flight: $(grep -E 'writes in flight' "$dir/out")"; fi
killed_copy "each kernel killed in turn, one run" \
  shmring-file-source:20 shmring-checksum:45 shmring-file-sink:70
rm -f "$dir/chaos" "$dir/copy"

# Configuration errors, the kernel run by hand: exit 78 (SHMRING_EXIT_CONFIG)
# and one line, checked before attaching.
direct() { # name, the line (fixed string), command...
  local name=$1 line=$2; shift 2
  env -u SHMRING_CONTROL -u SHMRING_KERNEL "$@" > "$dir/out" 2>&1 < /dev/null; local rc=$?
  if [ $rc = 78 ] && [ "$(wc -l < "$dir/out")" = 1 ] && grep -qF -- "$line" "$dir/out"
  then ok "by hand, $name: exit 78, one line"; else fail "by hand, $name (exit $rc)"; fi
}
direct "a missing input file" "cannot open '$dir/missing': No such file or directory: fix the path" \
  shmring-file-source "$dir/missing"
direct "--chunk 0" "--chunk 0: must be at least 1 byte" shmring-file-source "$dir/f4096" --chunk 0
direct "--chunk 12X" "--chunk '12X' is not a size" shmring-file-source "$dir/f4096" --chunk 12X
direct "a directory to read" "'$dir' is a directory" shmring-file-source "$dir"
direct "an unknown option" "unknown option '--fast'; usage: shmring-file-source FILE" \
  shmring-file-source "$dir/f4096" --fast
direct "file-sink without FILE" "no FILE to write; usage: shmring-file-sink" shmring-file-sink
direct "a path that cannot be written" "cannot open '$dir/no/x' for writing" shmring-file-sink "$dir/no/x"
direct "checksum with an argument" "unexpected argument '--fast'" shmring-checksum --fast
direct "checksum --file, no such file" "cannot open '$dir/missing'" shmring-checksum --file "$dir/missing"
direct "a port out of range" "--listen 127.0.0.1:70000: the port must be 1 to 65535" \
  shmring-tcp-source --listen 127.0.0.1:70000
direct "an address not of this machine" "--listen 192.0.2.1:9000: Cannot assign requested address" \
  shmring-tcp-source --listen 192.0.2.1:9000
direct "--connect without a port" "--connect 127.0.0.1: give HOST:PORT" shmring-tcp-sink --connect 127.0.0.1
direct "good arguments, no supervisor" "not started by shmring-supervisor" shmring-file-source "$dir/f4096"
direct "file-sink, no supervisor" "not started by shmring-supervisor" shmring-file-sink "$dir/never"
if [ ! -e "$dir/never" ]; then ok "file-sink that could not attach removes the file it created"
else fail "file-sink left '$dir/never' behind"; fi

# Configuration errors under the supervisor: a missing input file, --chunk 0,
# a chunk larger than the ring, one-stage pipelines (the port the kernel
# needs does not exist). Two checks each: the kernel exits 78 with its line
# and leaves nothing behind (any supervisor: its status line names the
# kernel and 78); the supervisor does not restart a kernel that exits 78,
# says nothing more than once, stops and exits 2.
config() { # name, pipeline, kernel, its line (fixed string)
  local name=$1 pipeline=$2 kernel=$3 line=$4
  ls /dev/shm | grep "^shmring" | sort > "$dir/shm.before"
  timeout 60 "$sup" run -e "$pipeline" > "$dir/out" 2>&1; local rc=$?
  ls /dev/shm | grep "^shmring" | sort > "$dir/shm.after"
  local said; said=$(grep -cF -- "$line" "$dir/out")
  # new entries only: other tests may create and remove their own meanwhile
  if grep -qE "^shmring-supervisor: .*$kernel.* 78\b" "$dir/out" && [ "$said" -ge 1 ] &&
     ! pgrep -f "$dir" > /dev/null && [ -z "$(comm -13 "$dir/shm.before" "$dir/shm.after")" ]
  then ok "$name: the kernel exits 78, says why, nothing left behind"
  else fail "$name: kernel (supervisor exit $rc, line said $said times, left: $(pgrep -f "$dir" |
    tr '\n' ' ')$(comm -13 "$dir/shm.before" "$dir/shm.after" | tr '\n' ' '))"; fi
  if [ $rc = 2 ] && [ "$said" = 1 ] && ! grep -q 'restarting' "$dir/out"
  then ok "$name: not restarted, said once, supervisor exit 2"
  else fail "$name: supervisor (exit $rc, line said $said times)"; fi
}
config "missing input file" "shmring-file-source $dir/missing ! shmring-file-sink $dir/copy" \
  shmring-file-source "cannot open '$dir/missing': No such file or directory: fix the path in the topology"
config "--chunk 0" "shmring-file-source $dir/f4096 --chunk 0 ! shmring-file-sink $dir/copy" \
  shmring-file-source "--chunk 0: must be at least 1 byte"
config "chunk larger than the ring" "shmring-file-source $dir/f4096 --chunk 2M ! shmring-file-sink $dir/copy" \
  shmring-file-source "--chunk 2097152 is larger than the ring's largest message"
config "one-stage file-source" "shmring-file-source $dir/f4096" \
  shmring-file-source "kernel 'shmring-file-source' has no port 'out' (it has: no ports)"
config "one-stage file-sink" "shmring-file-sink $dir/alone" \
  shmring-file-sink "kernel 'shmring-file-sink' has no port 'in' (it has: no ports)"
[ -e "$dir/alone" ] && fail "one-stage file-sink left '$dir/alone' behind"
config "one-stage checksum" "shmring-checksum" \
  shmring-checksum "kernel 'shmring-checksum' has no port 'in' (it has: no ports)"
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
config "one-stage tcp-source" "shmring-tcp-source --listen 127.0.0.1:$(freeport)" \
  shmring-tcp-source "kernel 'shmring-tcp-source' has no port 'out' (it has: no ports)"
config "one-stage tcp-sink" "shmring-tcp-sink --connect 127.0.0.1:$(freeport)" \
  shmring-tcp-sink "kernel 'shmring-tcp-sink' has no port 'in' (it has: no ports)"

# TCP: a round trip over loopback, two topologies bridged by a connection
port=$(freeport)
head -c 5000011 /dev/urandom > "$dir/net.in"
timeout 120 "$sup" run -e "shmring-tcp-source --listen 127.0.0.1:$port ! shmring-file-sink $dir/net.out" > "$dir/rx" 2>&1 & rx=$!
timeout 120 "$sup" run -e "shmring-file-source $dir/net.in --chunk 7K ! shmring-tcp-sink --connect 127.0.0.1:$port" > "$dir/out" 2>&1; txrc=$?
wait $rx; rxrc=$?
cat "$dir/rx" >> "$dir/out"
if [ $txrc = 0 ] && [ $rxrc = 0 ] && cmp -s "$dir/net.in" "$dir/net.out" &&
   grep -q 'received 698 messages, 5000011 bytes' "$dir/out"
then ok "TCP round trip over loopback: 698 frames, 5000011 bytes, identical"
else fail "TCP round trip (tx $txrc, rx $rxrc)"; fi

# The connecting side first, the listener 300 ms later: tcp-sink's connect
# is refused and tried again (after 1 ms, then twice as long each time, at
# most 100 ms apart) until the peer listens; nothing is lost meanwhile.
port=$(freeport)
rm -f "$dir/net.out"
timeout 120 "$sup" run -e "shmring-file-source $dir/net.in --chunk 7K ! shmring-tcp-sink --connect 127.0.0.1:$port" > "$dir/out" 2>&1 & tx=$!
sleep 0.3
timeout 120 "$sup" run -e "shmring-tcp-source --listen 127.0.0.1:$port ! shmring-file-sink $dir/net.out" > "$dir/rx" 2>&1; rxrc=$?
wait $tx; txrc=$?
cat "$dir/rx" >> "$dir/out"
if [ $txrc = 0 ] && [ $rxrc = 0 ] && cmp -s "$dir/net.in" "$dir/net.out"
then ok "TCP connect before the peer listens: tried again until it did, 5000011 bytes identical"
else fail "TCP connect before the peer listens (tx $txrc, rx $rxrc)"; cat "$dir/out"; fi

# A peer that closes in the middle of a frame: what was complete arrives,
# one line says what happened, the kernel fails (temporary: stays down) and
# the rest of the topology ends.
port=$(freeport)
cat > "$dir/midstream.yaml" <<Y
topology: midstream-$$
kernels:
  - { name: rx, exec: $kern/shmring-tcp-source, args: [--listen, "127.0.0.1:$port"], outputs: [out], restart: temporary }
  - { name: sink, exec: $kern/shmring-file-sink, args: ["$dir/mid.out"], inputs: [in] }
rings:
  - { from: rx.out, to: sink.in }
Y
timeout 60 "$sup" run "$dir/midstream.yaml" > "$dir/out" 2>&1 & rx=$!
python3 - "$port" <<'P'
import socket, struct, sys, time
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); break
    except OSError:
        time.sleep(0.05)
for m in (b"one", b"two", b"three"):
    s.sendall(struct.pack("<I", len(m)) + m)
s.sendall(struct.pack("<I", 100) + b"only part of it")
s.close()
P
wait $rx; rc=$?
if [ $rc = 2 ] && [ "$(cat "$dir/mid.out")" = "onetwothree" ] &&
   grep -q "rx   | the peer closed the connection in the middle of a frame after 3 messages" "$dir/out" &&
   grep -q "kernel 'rx' exited with status 1; restart: temporary, so it stays down" "$dir/out"
then ok "TCP peer closing mid-frame: 3 complete frames delivered, one line, exit 2"
else fail "TCP mid-frame close (exit $rc)"; fi

# A tcp-source killed between two connections: a TCP stream cannot be
# rewound, so the peer connects again and sends on. The restarted kernel
# says how much was delivered before it (from its checkpoint), counts on
# from there, and every frame of the new connection arrives.
port=$(freeport)
cat > "$dir/rxkill.yaml" <<Y
topology: rxkill-$$
kernels:
  - { name: rx, exec: $kern/shmring-tcp-source, args: [--listen, "127.0.0.1:$port"], outputs: [out] }
  - { name: sink, exec: $kern/shmring-file-sink, args: ["$dir/rx.out"], inputs: [in] }
rings:
  - { from: rx.out, to: sink.in }
Y
SHMRING_QUIET=0 "$sup" run "$dir/rxkill.yaml" > "$dir/out" 2>&1 & spid=$!
python3 - "$port" "$dir/go" <<'P' &
import os, socket, struct, sys, time
def connect():
    for _ in range(200):
        try:
            return socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        except OSError:
            time.sleep(0.05)
def send(s, frames):
    for m in frames:
        s.sendall(struct.pack("<I", len(m)) + m)
s = connect(); send(s, (b"one", b"two", b"three"))
for _ in range(400):  # until the test has killed rx and it listens again
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.05)
s.close()
s = connect(); send(s, (b"four", b"five", b"six")); s.close()
P
peer=$!
for _ in $(seq 200); do [ "$(stat -c %s "$dir/rx.out" 2>/dev/null)" = 11 ] && break; sleep 0.05; done
pkill -9 -P $spid -f "shmring-tcp-source --listen"
wait_for "rx   | resumed" "$dir/out" 10; touch "$dir/go"
wait $peer; wait $spid; rc=$?
if [ $rc = 0 ] && [ "$(cat "$dir/rx.out")" = "onetwothreefourfivesix" ] &&
   grep -q "kernel 'rx' was killed by SIGKILL: restarting" "$dir/out" &&
   grep -q "rx   | resumed after 11 bytes in 3 messages delivered; bytes in flight at the crash died with the connection: the peer must resend them" "$dir/out" &&
   grep -q "rx   | received 6 messages, 22 bytes" "$dir/out"
then ok "tcp-source killed between connections: says what was delivered, the new connection's frames all arrive"
else fail "tcp-source killed (exit $rc)"; fi

# A receiver that goes away: the sender says so and fails. 64 MiB, more
# than loopback socket buffers can absorb (megabytes), so the sender is
# still sending when the receiver closes.
head -c 64M /dev/zero > "$dir/zeros"
port=$(freeport)
python3 - "$port" > /dev/null <<'P' &
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(1)
c, _ = l.accept(); c.recv(1000); c.close()
P
peer=$!
cat > "$dir/gone.yaml" <<Y
topology: gone-$$
kernels:
  - { name: src, exec: $kern/shmring-file-source, args: ["$dir/zeros", --chunk, 16K], outputs: [out], restart: temporary }
  - { name: tx, exec: $kern/shmring-tcp-sink, args: [--connect, "127.0.0.1:$port"], inputs: [in], restart: temporary }
rings:
  - { from: src.out, to: tx.in, capacity: 64KiB }
Y
timeout 60 "$sup" run "$dir/gone.yaml" > "$dir/out" 2>&1; rc=$?
wait $peer
if [ $rc = 2 ] && grep -q "tx  | the peer closed the connection (.*) after [0-9]* messages" "$dir/out" &&
   grep -q "src | the consumer closed the ring after [0-9]* bytes: stopping early" "$dir/out"
then ok "TCP receiver gone: the sender reports it and stays down, its producer sees the close, exit 2"
else fail "TCP receiver gone (exit $rc)"; fi

finish
