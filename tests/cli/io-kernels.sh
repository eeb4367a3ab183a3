#!/usr/bin/env bash
# io-kernels: the standard I/O kernels under the supervisor. Copy files of
# 0, 1, 4095, 4096 bytes, an odd size, and a large sparse one through
# shmring-file-source ! shmring-checksum ! shmring-file-sink, buffered and
# with O_DIRECT, with the io_uring futex wait and with the fallback forced;
# compare bytes and checksums. Configuration errors: each kernel exits
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
  ls /dev/shm | sort > "$dir/shm.before"
  timeout 60 "$sup" run -e "$pipeline" > "$dir/out" 2>&1; local rc=$?
  ls /dev/shm | sort > "$dir/shm.after"
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
