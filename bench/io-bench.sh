#!/usr/bin/env bash
# io-bench: the standard I/O kernels beside what a user would use instead,
# measured in the same run on the same file (page cache warm, no fsync on
# any side, outputs removed between runs), median of ROUNDS, runs alternating:
#   copy:  shmring-file-source FILE ! shmring-file-sink OUT   vs  cp FILE OUT  vs  cat FILE > OUT
#   TCP:   shmring-file-source FILE ! shmring-tcp-sink  ->  shmring-tcp-source ! shmring-file-sink /dev/null
#          vs  bench/tcp-baseline (read+send / recv+write loops, 64 KiB)
# Usage: bench/io-bench.sh [BUILD_DIR] [ROUNDS] [MiB]
set -euo pipefail
build=$(realpath "${1:-build}"); rounds=${2:-5}; mib=${3:-512}
sup=$build/supervisor/shmring-supervisor
export PATH="$build/kernels:$PATH" SHMRING_QUIET=1
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/shmring-iobench.XXXXXX")
trap 'pkill -9 -f "$dir" 2>/dev/null || true; rm -rf "$dir"' EXIT
f=$dir/data; bytes=$((mib << 20))
head -c "$bytes" /dev/urandom > "$f"; cat "$f" > /dev/null
# Every copy starts right after the previous one's output was removed, the
# first one too (this copy): a guest that hands freed memory back to its
# host (free page reporting) makes page cache allocated from long-freed
# memory fault on the host, 3-10x slower, which a run placed after the TCP
# runs would pay alone (docs/benchmarks.md, I/O kernels).
cat "$f" > "$dir/out"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mbps() { awk -v b="$bytes" -v ns="$1" 'BEGIN {printf "%.0f", b / (ns / 1e9) / 1e6}'; }
timed() { local t0; t0=$(date +%s%N); "$@" > /dev/null 2>&1; echo $(( $(date +%s%N) - t0 )); }
s=() c=() k=() t=() b=()
for ((r = 0; r < rounds; r++)); do
  rm -f "$dir/out"; s+=("$(mbps "$(timed "$sup" run -e "shmring-file-source $f --chunk 256K ! shmring-file-sink $dir/out --no-sync")")")
  cmp -s "$f" "$dir/out" || { echo "io-bench: shmring copy differs" >&2; exit 1; }
  rm -f "$dir/out"; c+=("$(mbps "$(timed cp "$f" "$dir/out")")")
  rm -f "$dir/out"; k+=("$(mbps "$(timed sh -c "cat '$f' > '$dir/out'")")")
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  t0=$(date +%s%N)
  "$sup" run -e "shmring-tcp-source --listen 127.0.0.1:$port ! shmring-file-sink /dev/null" > /dev/null 2>&1 & rx=$!
  "$sup" run -e "shmring-file-source $f --chunk 64K ! shmring-tcp-sink --connect 127.0.0.1:$port" > /dev/null 2>&1
  wait $rx
  t+=("$(mbps $(( $(date +%s%N) - t0 )))")
  b+=("$(mbps "$(timed "$build/bench/tcp-baseline" "$f" 65536)")")
done
echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), $(df -T "$dir" | awk 'NR==2 {print $2}') on ${TMPDIR:-/var/tmp}"
echo
echo "| $mib MiB, page cache warm, no fsync | MB/s (median of $rounds) | runs |"
echo "| --- | ---: | --- |"
echo "| shmring-file-source ! shmring-file-sink (256 KiB chunks, 1 MiB ring) | $(printf '%s\n' "${s[@]}" | median) | ${s[*]} |"
echo "| cp | $(printf '%s\n' "${c[@]}" | median) | ${c[*]} |"
echo "| cat > | $(printf '%s\n' "${k[@]}" | median) | ${k[*]} |"
echo "| file-source ! tcp-sink → tcp-source ! file-sink /dev/null (loopback, 64 KiB) | $(printf '%s\n' "${t[@]}" | median) | ${t[*]} |"
echo "| blocking read+send / recv+write loop (bench/tcp-baseline, 64 KiB) | $(printf '%s\n' "${b[@]}" | median) | ${b[*]} |"
