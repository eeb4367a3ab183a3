#!/usr/bin/env bash
# stat: shmring-stat against a real running topology (counters match what
# the kernels sent and received; text, JSON, Prometheus; --watch in a
# pseudo-terminal), and against named rings that are stale, of another
# layout version, half-initialised or corrupt (one clear line, non-zero exit,
# --clean removes what no process uses, keeps what one does).
set -u
sup=$(realpath "$1"); stat=$(realpath "$2"); ex=$(realpath "$3")
dir=$(mktemp -d)
fails=0
tag=t$$
cleanup() {
  pkill -9 -f "$dir" 2>/dev/null
  rm -rf "$dir" /dev/shm/shmring.$tag-* 2>/dev/null
}
trap cleanup EXIT
ok()   { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -f "$dir/out" ] && sed 's/^/  /' "$dir/out" | head -30; fails=$((fails + 1)); }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

N=200000
cp "$ex"/doubler/{gen,double,sink} "$dir/"
cat > "$dir/held.yaml" <<Y
topology: stat-$tag
kernels:
  - { name: gen, exec: ./gen, args: [--count, "$N", --hold], outputs: [out] }
  - { name: double, exec: ./double, inputs: [in], outputs: [out] }
  - { name: sink, exec: ./sink, inputs: [in] }
rings:
  - { from: gen.out, to: double.in, capacity: 64KiB }
  - { from: double.out, to: sink.in, capacity: 64KiB }
Y
"$sup" run "$dir/held.yaml" > "$dir/sup.out" 2>&1 & spid=$!
# until everything sent has been consumed (bounded: 20 s)
for _ in $(seq 200); do
  "$stat" stat-$tag --json --interval 0.05 > "$dir/j" 2>/dev/null &&
    [ "$(json "d['rings'][1]['msgs_out']" < "$dir/j")" = $N ] && break
  sleep 0.1
done

# 1. counters match what the kernels sent and received
cp "$dir/j" "$dir/out"
kpids=$(for n in gen double sink; do pgrep -P $spid -x $n; done | tr '\n' ' ')
got=$(json "' '.join(str(x) for r in d['rings'] for x in (r['msgs_in'], r['msgs_out'], r['bytes_in'], r['bytes_out'], r['redelivered'], r['dropped']))" < "$dir/j")
want="$N $N $((16 * N)) $((16 * N)) 0 0 $N $N $((16 * N)) $((16 * N)) 0 0"
ks=$(json "' '.join(str(k['pid']) for k in d['kernels'])" < "$dir/j")
states=$(json "' '.join(k['state'] for k in d['kernels'])" < "$dir/j")
rings=$(json "'|'.join(r['ring'] for r in d['rings'])" < "$dir/j")
if [ "$got" = "$want" ] && [ "$ks " = "$kpids" ] && [ "$states" = "active active active" ] &&
   [ "$rings" = "gen.out -> double.in|double.out -> sink.in" ] &&
   [ "$(json "d['supervisor_pid']" < "$dir/j")" = $spid ]; then
  ok "--json: $N messages in and out of both rings, 16 B each, kernel pids and states"
else fail "--json counters (got '$got' want '$want'; pids '$ks' vs '$kpids'; states '$states')"; fi

"$stat" > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -Eq "^stat-$tag +$spid +active .* 3 +2$" "$dir/out"
then ok "listing shows the topology, its supervisor, state, kernels and rings"
else fail "listing (exit $rc)"; fi

"$stat" stat-$tag > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q "^topology stat-$tag  supervisor $spid  active" "$dir/out" &&
   grep -Eq '^gen.out -> double.in +[0-9]+ +[0-9]+ +64.0K' "$dir/out" &&
   grep -Eq '^sink +[0-9]+ +[0-9]+ active +0 ' "$dir/out"
then ok "table: rings and kernels"
else fail "table (exit $rc)"; fi

"$stat" stat-$tag --prometheus > "$dir/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q "^shmring_ring_msgs_out{topology=\"stat-$tag\",ring=\"double.out -> sink.in\"} $N$" "$dir/out" &&
   grep -q '^# TYPE shmring_ring_msgs_in counter' "$dir/out" &&
   grep -q "^shmring_kernel_up{topology=\"stat-$tag\",kernel=\"double\"} 1$" "$dir/out"
then ok "--prometheus exposition"
else fail "--prometheus (exit $rc)"; fi

# 2. --watch in a pseudo-terminal: redraws in place, q quits
if command -v script > /dev/null; then
  (sleep 1.5; printf q) | timeout 20 script -qfec "$stat stat-$tag --watch 0.2" "$dir/typescript" > /dev/null 2>&1; rc=$?
  cp "$dir/typescript" "$dir/out"
  draws=$(grep -o $'\033\\[H\033\\[2J' "$dir/typescript" | wc -l)
  if [ $rc = 0 ] && [ "$draws" -ge 3 ] && grep -q 'double.out -> sink.in' "$dir/typescript" &&
     grep -q '(every 0.2 s; q quits)' "$dir/typescript"
  then ok "--watch in a pty: $draws redraws, rings shown, q quits"
  else fail "--watch (exit $rc, $draws redraws)"; fi
else echo "skip --watch: no 'script' (util-linux) to make a pseudo-terminal"; fi

kill -TERM $spid; wait $spid
"$stat" stat-$tag > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "no running topology or named ring called 'stat-$tag'" "$dir/out"
then ok "ended topology: gone, exit 1, one line"
else fail "ended topology (exit $rc)"; fi

# 3. named rings: stale, in use, wrong version, half-initialised, corrupt
mk() { # name version magic
  python3 - "$1" "$2" "$3" <<'P'
import os, struct, sys
name, version, magic = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 16)
cap = 4096
fd = os.open("/dev/shm/shmring." + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
h = bytearray(4096 + cap)
struct.pack_into("<IIQQQQII", h, 0, version, 4096, magic, cap, cap // 2 - 8, 0, 1, 0)
h[48:48 + len(name)] = name.encode()
os.write(fd, bytes(h)); os.close(fd)
P
}
M=31474e4952524d53
mk $tag-stale 2 $M; mk $tag-used 2 $M; mk $tag-v7 7 $M; mk $tag-half 0 $M; mk $tag-bad 2 1234
python3 -c "import mmap,os,time; f=os.open('/dev/shm/shmring.$tag-used', os.O_RDONLY); m=mmap.mmap(f, 8192, prot=mmap.PROT_READ); time.sleep(60) # $dir" &
holder=$!
for _ in $(seq 100); do grep -q "shmring.$tag-used" /proc/$holder/maps 2>/dev/null && break; sleep 0.05; done
"$stat" $tag-v7 > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && [ "$(wc -l < "$dir/out")" = 1 ] && grep -q "layout version 7, this library speaks 2" "$dir/out"
then ok "another layout version: one line, exit 1"; else fail "version mismatch (exit $rc)"; fi
"$stat" $tag-half > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "is not initialised yet" "$dir/out"
then ok "half-initialised ring: one line, exit 1"; else fail "half-initialised (exit $rc)"; fi
"$stat" $tag-bad > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "is not a shmring segment (bad magic" "$dir/out"
then ok "corrupt ring: one line, exit 1"; else fail "corrupt (exit $rc)"; fi
"$stat" > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -Eq "^$tag-stale .* stale \(no process uses it" "$dir/out" &&
   grep -Eq "^$tag-used .* in use$" "$dir/out" && grep -Eq "^$tag-v7 +unreadable: .*layout version 7" "$dir/out"
then ok "listing marks stale, in-use and unreadable named rings (exit 1)"
else fail "named listing (exit $rc)"; fi
"$stat" --clean > "$dir/out" 2>&1; rc=$?
left=$(cd /dev/shm && ls -d shmring.$tag-* 2>/dev/null | tr '\n' ' ')
if [ $rc = 0 ] && [ "$left" = "shmring.$tag-used " ] && grep -q "kept    $tag-used (in use)" "$dir/out"
then ok "--clean removes the unused (stale, unreadable), keeps the one in use"
else fail "--clean (exit $rc, left '$left')"; fi
kill $holder 2>/dev/null; wait $holder 2>/dev/null
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
  mk $tag-other 2 $M; chown nobody "/dev/shm/shmring.$tag-other"
  "$stat" --clean > "$dir/out" 2>&1; rc=$?
  if [ $rc = 1 ] && [ -e "/dev/shm/shmring.$tag-other" ] &&
     grep -q "not removing '$tag-other': it belongs to uid" "$dir/out"
  then ok "--clean refuses another user's ring"; else fail "--clean other user (exit $rc)"; fi
else echo "skip --clean of another user's ring: needs root"; fi
rm -f /dev/shm/shmring.$tag-*
echo "$fails failed"
[ $fails = 0 ]
