#!/usr/bin/env bash
# io-kernels: the standard I/O kernels under the supervisor. Copy files of
# 0, 1, 4095, 4096 bytes, an odd size, and a large sparse one through
# shmring-file-source ! shmring-checksum ! shmring-file-sink, buffered and
# with O_DIRECT, with the io_uring futex wait and with the fallback forced;
# compare bytes and checksums. Then the TCP kernels over loopback.
set -u
sup=$(realpath "$1"); kern=$(realpath "$2"); big=${3:-1073741824}
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/shmring-io.XXXXXX") # a disk, for O_DIRECT
fails=0
trap 'pkill -9 -f "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
export PATH="$kern:$PATH" SHMRING_QUIET=1
ok()   { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -f "$dir/out" ] && sed 's/^/  /' "$dir/out" | head -20; fails=$((fails + 1)); }

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

# bad input: a missing file is one line and a failure, nothing hangs
timeout 60 "$sup" run -e "shmring-file-source $dir/missing ! shmring-file-sink $dir/copy" > "$dir/out" 2>&1; rc=$?
if [ $rc = 3 ] || [ $rc = 2 ] && grep -q "cannot open '$dir/missing': No such file or directory" "$dir/out"
then ok "missing input file: one line, non-zero exit ($rc)"; else fail "missing input (exit $rc)"; fi
timeout 60 "$sup" run -e "shmring-file-source $dir/f4096 --chunk 2M ! shmring-file-sink $dir/copy" > "$dir/out" 2>&1; rc=$?
if [ $rc != 0 ] && grep -q "larger than the ring's largest message" "$dir/out"
then ok "chunk larger than the ring: one line, non-zero exit ($rc)"; else fail "chunk too large (exit $rc)"; fi

echo "$fails failed"
[ $fails = 0 ]
