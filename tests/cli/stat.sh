#!/usr/bin/env bash
# stat: shmring-stat against real running topologies (counters match what
# the kernels sent and received; a kernel's resumes from its checkpoint;
# text fitting 80 columns, --wide, JSON, Prometheus for one topology and for
# all; --watch in a pseudo-terminal and with stdin at end of file; interval
# parsing), against control segments that cannot be read (corrupt, another
# version, past a limit, never initialised, another user's: one line each on
# stderr, the others still listed, exit 1), and against named rings that are
# stale, of another layout version, half-initialised or corrupt (one clear
# line, non-zero exit, --clean removes what no process uses, keeps what one
# does); and the metrics and notes kernels publish (a test kernel: table,
# --wide, --json, --prometheus, rates, the count kept across a kill -9,
# corrupt journals shown as a reason, never as garbage; and, when the
# ZeroMQ bridge kernels are given, a bridge edge between two supervisors on
# 127.0.0.1).
#
# Arguments: SUPERVISOR STAT EXAMPLES [METRICS_KERNEL [KERNELS [BCAST_RING]]];
# without the last ones, the checks that need them say they are skipped.
# (BCAST_RING: tests/cli/bcast-ring.c, a named broadcast ring held open.)
#
# Other topologies and rings may exist on the machine (other tests, other
# users): every check looks only at this test's own names, and an exit
# status is checked against what the listing itself says was unreadable.
set -u
sup=$(realpath "$1"); stat=$(realpath "$2"); ex=$(realpath "$3")
mk=${4:+$(realpath "$4")}; kern=${5:+$(realpath "$5")}; bc=${6:+$(realpath "$6")}
show_on_fail="out err sup.out sup2.out"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
tag=t$$
# run by lib.sh at exit: the named rings section 6 makes, whatever failed
at_exit() { rm -f /dev/shm/shmring.$tag-*; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# The exit status a listing must have given what it printed: 1 when
# anything (this test's or not) was unreadable, else 0.
listing_rc() {
  if [ -s "$dir/err" ] || grep -q ' unreadable: ' "$dir/out"; then echo 1; else echo 0; fi
}

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
# A second one, with names as long as run -e and the standard kernels make.
long1=generator-with-a-long-name
long2=doubler-with-a-long-name-too
cat > "$dir/long.yaml" <<Y
topology: stat2-$tag
kernels:
  - { name: $long1, exec: ./gen, args: [--count, "1000", --hold], outputs: [out] }
  - { name: $long2, exec: ./double, inputs: [in], outputs: [out] }
  - { name: sink, exec: ./sink, inputs: [in] }
rings:
  - { from: $long1.out, to: $long2.in, capacity: 64KiB }
  - { from: $long2.out, to: sink.in, capacity: 64KiB }
Y
"$sup" run "$dir/held.yaml" > "$dir/sup.out" 2>&1 & spid=$!
"$sup" run "$dir/long.yaml" > "$dir/sup2.out" 2>&1 & spid2=$!
# until everything sent has been consumed (bounded: 20 s)
for _ in $(seq 200); do
  "$stat" stat-$tag --json --interval 0.05 > "$dir/j" 2>/dev/null &&
    [ "$(json "d['rings'][1]['msgs_out']" < "$dir/j")" = $N ] &&
    "$stat" stat2-$tag --json --interval 0.05 > "$dir/j2" 2>/dev/null &&
    [ "$(json "d['rings'][1]['msgs_out']" < "$dir/j2")" = 1000 ] && break
  sleep 0.1
done

# 1. counters match what the kernels sent and received
cp "$dir/j" "$dir/out"; : > "$dir/err"
kpids=$(for n in gen double sink; do pgrep -P $spid -x $n; done | tr '\n' ' ')
got=$(json "' '.join(str(x) for r in d['rings'] for x in (r['msgs_in'], r['msgs_out'], r['bytes_in'], r['bytes_out'], r['redelivered'], r['suppressed'], r['skipped'], r['dropped']))" < "$dir/j")
want="$N $N $((16 * N)) $((16 * N)) 0 0 0 0 $N $N $((16 * N)) $((16 * N)) 0 0 0 0"
resumes=$(json "' '.join(str(x) for k in d['kernels'] for x in (k['resumes'], k['resumed_gen'], k['skipped']))" < "$dir/j")
ks=$(json "' '.join(str(k['pid']) for k in d['kernels'])" < "$dir/j")
states=$(json "' '.join(k['state'] for k in d['kernels'])" < "$dir/j")
rings=$(json "'|'.join(r['ring'] for r in d['rings'])" < "$dir/j")
if [ "$got" = "$want" ] && [ "$ks " = "$kpids" ] && [ "$states" = "active active active" ] &&
   [ "$resumes" = "0 0 0 0 0 0 0 0 0" ] &&
   [ "$rings" = "gen.out -> double.in|double.out -> sink.in" ] &&
   [ "$(json "d['supervisor_pid']" < "$dir/j")" = $spid ]; then
  ok "--json: $N messages in and out of both rings, 16 B each, none redelivered, suppressed or skipped; kernel pids and states, none resumed"
else fail "--json counters (got '$got' want '$want'; pids '$ks' vs '$kpids'; states '$states'; resumes '$resumes')"; fi

"$stat" > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = "$(listing_rc)" ] && ! grep -q "$tag" "$dir/err" &&
   grep -Eq "^stat-$tag +$spid +active .* 3 +2$" "$dir/out" &&
   grep -Eq "^stat2-$tag +$spid2 +active .* 3 +2$" "$dir/out"
then ok "listing shows the topologies, their supervisor, state, kernels and rings (exit $rc)"
else fail "listing (exit $rc)"; fi

# 2. the table: 80 columns by default, long names shortened with ~, aligned;
#    --wide shows every column and names in full
"$stat" stat-$tag > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = 0 ] && grep -q "^topology stat-$tag  supervisor $spid  active" "$dir/out" &&
   grep -Eq '^gen.out -> double.in +[0-9]+% +[0-9.]+[KM]? ' "$dir/out" &&
   grep -Eq '^sink +[0-9]+ +[0-9]+ active +0 ' "$dir/out"
then ok "table: rings and kernels"
else fail "table (exit $rc)"; fi

"$stat" stat2-$tag > "$dir/out" 2> "$dir/err"; rc=$?
widest=$(awk '{ if (length($0) > w) w = length($0) } END { print w }' "$dir/out")
# every ring row (and its header) exactly as wide: the columns line up
ringw=$(awk '/^RING /,/^$/' "$dir/out" | grep -v '^$' | awk '{ print length($0) }' | sort -u | tr '\n' ' ')
nrows=$(awk '/^RING /,/^$/' "$dir/out" | grep -c '~')
if [ $rc = 0 ] && [ "$widest" -le 80 ] && [ "$(echo $ringw | wc -w)" = 1 ] && [ "$nrows" = 2 ] &&
   ! grep -q "$long1.out -> $long2.in" "$dir/out" && grep -q '^doubler-wi~-name-too ' "$dir/out" &&
   grep -q '^gen.*~.*\.out -> doub.*~.*\.in ' "$dir/out"
then ok "table fits 80 columns ($widest): long names shortened with ~, columns aligned"
else fail "80-column table (exit $rc, widest $widest, ring row widths '$ringw', $nrows shortened)"; fi

"$stat" stat2-$tag --wide > "$dir/out" 2> "$dir/err"; rc=$?
ringw=$(awk '/^RING /,/^$/' "$dir/out" | grep -v '^$' | awk '{ print length($0) }' | sort -u | tr '\n' ' ')
if [ $rc = 0 ] && grep -q "^$long1.out -> $long2.in " "$dir/out" &&
   grep -q "^$long2 " "$dir/out" && [ "$(echo $ringw | wc -w)" = 1 ] &&
   grep -Eq '^RING +PROD +CONS +CAP +FILL +HIGH\(CACHED\) +MSG/S +B/S +MSGS IN +MSGS OUT +FULL +EMPTY +SLEEPS P/C +WAKES P/C +REDELIV +SUPPR +SKIP +DROPPED$' "$dir/out" &&
   grep -Eq '^KERNEL +PID +CORE +STATE +RESTARTS +UPTIME +CPU% +RESUMES +GEN +SKIPPED$' "$dir/out" &&
   "$stat" stat2-$tag -w > "$dir/out2" 2>&1 && grep -q "^$long1.out -> $long2.in " "$dir/out2"
then ok "--wide (-w): every column, names in full, aligned"
else fail "--wide (exit $rc, ring row widths '$ringw')"; fi

# 3. Prometheus: counters end in _total, each family once; with no NAME,
#    every topology in Prometheus format
promcheck() { # FILE: a valid exposition (families once, grouped, counters _total)
  python3 - "$1" <<'P'
import re, sys
seen, cur, bad = {}, None, []
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    m = re.match(r"# (HELP|TYPE) (\S+) (.*)", line)
    if m:
        kind, name, rest = m.groups()
        if kind == "TYPE":
            if name in seen: bad.append(f"{n}: {name} typed twice")
            seen[name] = rest; cur = name
            if rest == "counter" and not name.endswith("_total"): bad.append(f"{n}: counter {name} lacks _total")
            if rest not in ("counter", "gauge"): bad.append(f"{n}: type {rest}")
        continue
    m = re.match(r'([a-z_][a-z0-9_]*)\{([a-z]+="(?:[^"\\]|\\.)*")(,[a-z]+="(?:[^"\\]|\\.)*")*\} \d+$', line) or \
        re.match(r"([a-z_][a-z0-9_]*) \d+$", line)
    if not m: bad.append(f"{n}: not a sample: {line}")
    elif m.group(1) != cur: bad.append(f"{n}: {m.group(1)} outside its family")
print("\n".join(bad) or "ok")
P
}
"$stat" stat-$tag --prometheus > "$dir/out" 2> "$dir/err"; rc=$?
pc=$(promcheck "$dir/out")
counters=$(grep -c '^# TYPE .* counter$' "$dir/out")
if [ $rc = 0 ] && [ "$pc" = ok ] && [ "$counters" = 16 ] &&
   grep -q "^shmring_ring_msgs_out_total{topology=\"stat-$tag\",ring=\"double.out -> sink.in\"} $N$" "$dir/out" &&
   grep -q "^shmring_ring_bytes_in_total{topology=\"stat-$tag\",ring=\"gen.out -> double.in\"} $((16 * N))$" "$dir/out" &&
   grep -q '^# TYPE shmring_ring_msgs_in_total counter$' "$dir/out" &&
   grep -q '^# HELP shmring_ring_full_events_total ' "$dir/out" &&
   grep -q '^# TYPE shmring_ring_fill gauge$' "$dir/out" && grep -q '^# TYPE shmring_ring_capacity gauge$' "$dir/out" &&
   grep -q '^# TYPE shmring_ring_high_fill gauge$' "$dir/out" &&
   grep -q "^shmring_kernel_up{topology=\"stat-$tag\",kernel=\"double\"} 1$" "$dir/out" &&
   grep -q "^shmring_ring_suppressed_total{topology=\"stat-$tag\",ring=\"double.out -> sink.in\"} 0$" "$dir/out" &&
   grep -q "^shmring_ring_skipped_total{topology=\"stat-$tag\",ring=\"gen.out -> double.in\"} 0$" "$dir/out" &&
   grep -q "^shmring_kernel_resumes_total{topology=\"stat-$tag\",kernel=\"sink\"} 0$" "$dir/out" &&
   grep -q '^# TYPE shmring_kernel_resumed_gen gauge$' "$dir/out" &&
   grep -q "^shmring_kernel_skipped_total{topology=\"stat-$tag\",kernel=\"double\"} 0$" "$dir/out" &&
   ! grep -Eq '^shmring_ring_(msgs|bytes)_(in|out)\{' "$dir/out"
then ok "--prometheus: counters named _total with HELP and TYPE counter, gauges stay gauges"
else fail "--prometheus (exit $rc, check: $pc, $counters counters)"; fi

"$stat" --prometheus > "$dir/out" 2> "$dir/err"; rc=$?
pc=$(promcheck "$dir/out")
if [ "$pc" = ok ] && ! grep -q "$tag" "$dir/err" &&
   grep -q "^shmring_ring_msgs_out_total{topology=\"stat-$tag\",ring=\"double.out -> sink.in\"} $N$" "$dir/out" &&
   grep -q "^shmring_ring_msgs_out_total{topology=\"stat2-$tag\",ring=\"$long2.out -> sink.in\"} 1000$" "$dir/out" &&
   grep -q "^shmring_kernel_up{topology=\"stat2-$tag\",kernel=\"$long1\"} 1$" "$dir/out" &&
   ! grep -q '^TOPOLOGY' "$dir/out" &&
   { { [ $rc = 0 ] && grep -q '^shmring_stat_unreadable 0$' "$dir/out"; } ||
     { [ $rc = 1 ] && grep -q '^shmring_stat_unreadable [1-9]' "$dir/out"; }; }
then ok "--prometheus without NAME: every topology, one exposition (exit $rc)"
else fail "--prometheus without NAME (exit $rc, check: $pc)"; fi

# 4. --watch: in a pseudo-terminal it redraws in place and q quits; with
#    stdin at end of file (cron, nohup, </dev/null) it still waits its interval
if command -v script > /dev/null; then
  (sleep 1.5; printf q) | timeout 20 script -qfec "$stat stat-$tag --watch 0.2" "$dir/typescript" > /dev/null 2>&1; rc=$?
  cp "$dir/typescript" "$dir/out"; : > "$dir/err"
  draws=$(grep -o $'\033\\[H\033\\[2J' "$dir/typescript" | wc -l)
  if [ $rc = 0 ] && [ "$draws" -ge 3 ] && grep -q 'double.out -> sink.in' "$dir/typescript" &&
     grep -q '(every 0.2 s; q quits)' "$dir/typescript"
  then ok "--watch in a pty: $draws redraws, rings shown, q quits"
  else fail "--watch (exit $rc, $draws redraws)"; fi
else echo "skip --watch in a pty: no 'script' (util-linux) to make a pseudo-terminal"; fi

timeout 2 "$stat" stat-$tag --watch 0.2 < /dev/null > "$dir/out" 2> "$dir/err"
eof=$(grep -c '(every 0.2 s; q quits)' "$dir/out")
timeout 2 "$stat" stat-$tag --watch=0.2 <&- > "$dir/out" 2> "$dir/err"
closed=$(grep -c '(every 0.2 s; q quits)' "$dir/out")
if [ "$eof" -ge 3 ] && [ "$eof" -le 11 ] && [ "$closed" -ge 3 ] && [ "$closed" -le 11 ]
then ok "--watch 0.2 for 2 s with stdin at end of file / closed: $eof / $closed redraws, no spinning"
else fail "--watch with stdin at end of file: $eof / $closed redraws in 2 s (at most 10 expected)"; fi

badarg() { # ARGS...: refused with one line naming the option, exit 100
  "$stat" "$@" > "$dir/out" 2> "$dir/err"; local rc=$?
  [ $rc = 100 ] && [ "$(wc -l < "$dir/err")" = 1 ] && [ ! -s "$dir/out" ] &&
    grep -Eq -- '--(watch|interval) takes seconds, 0.05 to 3600' "$dir/err"
}
refused=""
for args in "stat-$tag --watch 0" "--watch 0 stat-$tag" "stat-$tag --watch -1" "stat-$tag --watch 0.5s" \
            "stat-$tag --watch=0" "stat-$tag --watch=abc" "stat-$tag --watch 1e9" \
            "stat-$tag --interval 0" "stat-$tag --interval -2" "stat-$tag --interval" \
            "stat-$tag --interval 0x10"; do
  badarg $args || refused="$refused [$args]"
done
if [ -z "$refused" ]
then ok "--watch 0, -1, 0.5s, abc, 1e9 and --interval 0, -2, none, 0x10: refused, one line, exit 100"
else fail "interval parsing: not refused with one line:$refused"; fi
"$stat" --watch 0.3 stat-$tag --json < /dev/null > "$dir/out" 2> "$dir/err" & wpid=$!
sleep 1.2; kill $wpid; wait $wpid 2>/dev/null
if [ "$(grep -c "\"topology\":\"stat-$tag\"" "$dir/out")" -ge 2 ] && [ ! -s "$dir/err" ]
then ok "--watch SECONDS before NAME: SECONDS is the interval"
else fail "--watch 0.3 NAME"; fi

# 5. control segments that cannot be read: each one line on stderr naming
#    it and the reason, the others listed as usual, exit 1
cat > "$dir/ctl.py" <<'P'
# Holds memfds named like control segments, as a supervisor would, with
# contents no supervisor writes; writes "ready" to stdout, then sleeps.
import os, struct, sys, time
tag = sys.argv[1]
def seg(name, data, size=None):
    fd = os.memfd_create("shmring-ctl." + name)
    os.write(fd, data)
    if size: os.ftruncate(fd, size)
    return fd
MAGIC = 0x314c54434d524d53
def header(version, nk=0, nr=0, name=""):
    h = bytearray(256)
    struct.pack_into("<IIQQQII", h, 0, version, 256 + 128 * (nk + nr), MAGIC, os.getpid() << 32, 0, nk, nr)
    h[56:56 + len(name)] = name.encode()
    return bytes(h)
keep = [
    seg(f"stat-{tag}-bad", b"not a control segment at all " * 20),
    seg(f"stat-{tag}-v9", header(9, name=f"stat-{tag}-v9")),
    seg(f"stat-{tag}-huge", b"", size=1 << 20),
    seg(f"stat-{tag}-zero", bytes(256)),
    seg(f"stat-{tag}-" + "x" * 40, header(2, name="x")),
]
print("ready", flush=True)
time.sleep(120)
P
python3 "$dir/ctl.py" $tag > "$dir/ctl.out" & ctl=$!
wait_for ready "$dir/ctl.out" 10
unread() { # FILE: each bad segment of this test named once, with its reason
  [ "$(grep -c "topology 'stat-$tag-bad' (held by pid [0-9]*): not a shmring control segment (bad magic" "$1")" = 1 ] &&
  [ "$(grep -c "topology 'stat-$tag-v9' (held by pid [0-9]*): control segment version 9, this program reads version 2" "$1")" = 1 ] &&
  [ "$(grep -c "topology 'stat-$tag-huge' (held by pid [0-9]*): its control segment is 1048576 bytes, more than the largest topology's" "$1")" = 1 ] &&
  [ "$(grep -c "topology 'stat-$tag-zero' (held by pid [0-9]*): its control segment is still not initialised after a second" "$1")" = 1 ] &&
  [ "$(grep -c "topology 'stat-$tag-xxxxx*~*x*' (held by pid [0-9]*): .*longer than a topology name may be (31 bytes)" "$1")" = 1 ]
}
"$stat" > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = 1 ] && unread "$dir/err" && ! grep -q "stat-$tag-" "$dir/out" &&
   grep -Eq "^stat-$tag +$spid +active .* 3 +2$" "$dir/out" &&
   grep -Eq "^stat2-$tag +$spid2 +active .* 3 +2$" "$dir/out" &&
   [ "$(grep -c "^shmring-stat: topology 'stat-$tag" "$dir/err")" = 5 ]
then ok "listing with unreadable control segments (corrupt, version 9, 1 MiB, never initialised, name too long): one line each on stderr, the others listed, exit 1"
else fail "listing with unreadable control segments (exit $rc)"; fi

"$stat" --json > "$dir/out" 2> "$dir/err"; rc=$?
mine=$(json "' '.join(sorted(t['topology'] for t in d['topologies'] if t['topology'].endswith('-$tag')))" < "$dir/out" 2>&1)
bad=$(json "' '.join(sorted(u['topology'] for u in d['unreadable'] if u['topology'].startswith('stat-$tag-')))" < "$dir/out" 2>&1)
if [ $rc = 1 ] && unread "$dir/err" && [ "$mine" = "stat-$tag stat2-$tag" ] &&
   [ "$(echo $bad | wc -w)" = 5 ] && echo "$bad" | grep -q "stat-$tag-v9"
then ok "--json listing with unreadable ones: valid JSON, the others in topologies, these in unreadable, exit 1"
else fail "--json listing with unreadable ones (exit $rc, topologies '$mine', unreadable '$bad')"; fi

"$stat" --prometheus > "$dir/out" 2> "$dir/err"; rc=$?
pc=$(promcheck "$dir/out")
if [ $rc = 1 ] && unread "$dir/err" && [ "$pc" = ok ] &&
   grep -q "^shmring_ring_msgs_out_total{topology=\"stat-$tag\",ring=\"double.out -> sink.in\"} $N$" "$dir/out" &&
   grep -Eq '^shmring_stat_unreadable ([5-9]|[1-9][0-9]+)$' "$dir/out"
then ok "--prometheus listing with unreadable ones: the others exposed, shmring_stat_unreadable counts them, exit 1"
else fail "--prometheus listing with unreadable ones (exit $rc, check: $pc)"; fi

"$stat" stat-$tag-v9 > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = 1 ] && [ "$(wc -l < "$dir/err")" = 1 ] &&
   grep -q "^shmring-stat: topology 'stat-$tag-v9' (held by pid [0-9]*): control segment version 9, this program reads version 2: use the shmring tools of the same release as the supervisor$" "$dir/err"
then ok "NAME of an unreadable topology: one line with the reason, exit 1"
else fail "NAME of an unreadable topology (exit $rc)"; fi
"$stat" stat-$tag > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = 0 ] && [ ! -s "$dir/err" ] && grep -q "^topology stat-$tag " "$dir/out"
then ok "NAME of a readable topology beside unreadable ones: shown, exit 0"
else fail "NAME beside unreadable ones (exit $rc)"; fi
kill $ctl; wait $ctl 2>/dev/null

if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1 && command -v setpriv > /dev/null; then
  # A process of user nobody holding a root-owned (0600) control segment:
  # nobody sees the descriptor but cannot open it.
  # Its own file: the background job truncates a reused one only when it
  # starts, and the wait below could find the "ready" of the one before.
  python3 - $tag > "$dir/other.out" <<'P' & other=$!
import ctypes, os, sys, time
fd = os.memfd_create("shmring-ctl.stat-" + sys.argv[1] + "-other")
os.fchmod(fd, 0o600)
os.setgid(65534); os.setuid(65534)
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/PID/fd readable by nobody
print("ready", flush=True)
time.sleep(60)
P
  wait_for ready "$dir/other.out" 10
  setpriv --reuid=65534 --regid=65534 --clear-groups "$stat" > "$dir/out" 2> "$dir/err"; rc=$?
  if [ $rc = 1 ] &&
     grep -q "^shmring-stat: topology 'stat-$tag-other' (held by pid [0-9]*): cannot read its control segment: it belongs to uid 0 (mode 0600); run shmring-stat as that user, or as root$" "$dir/err"
  then ok "another user's control segment: one line naming the owner and the fix, exit 1"
  else fail "another user's control segment (exit $rc)"; fi
  kill $other; wait $other 2>/dev/null
else echo "skip another user's control segment: needs root, user nobody and setpriv"; fi

# 5b. a kernel restarted from its checkpoint: sink (it has consumed all N)
#     killed; its successor resumes from the journal. Its resume counters
#     show in --json, --prometheus and --wide; whatever was redelivered to
#     it its checkpoint covered (it had released everything), so skipped.
pkill -9 -P $spid -x sink
for _ in $(seq 100); do
  "$stat" stat-$tag --json --interval 0.05 > "$dir/j" 2>/dev/null &&
    [ "$(json "d['kernels'][2]['resumes']" < "$dir/j")" = 1 ] &&
    [ "$(json "d['kernels'][2]['state']" < "$dir/j")" = active ] && break
  sleep 0.1
done
cp "$dir/j" "$dir/out"; : > "$dir/err"
k=$(json "' '.join(str(x) for x in (d['kernels'][2]['restarts'], d['kernels'][2]['resumes'], d['kernels'][2]['resumed_gen'] > 0, d['kernels'][2]['skipped']))" < "$dir/j")
r=$(json "' '.join(str(x) for x in (d['rings'][1]['msgs_out'], d['rings'][1]['redelivered'], d['rings'][1]['skipped'], d['rings'][1]['suppressed']))" < "$dir/j")
read -r redel skipped <<<"$(json "'%d %d' % (d['rings'][1]['redelivered'], d['rings'][1]['skipped'])" < "$dir/j")"
"$stat" stat-$tag --prometheus > "$dir/prom" 2>> "$dir/err"
"$stat" stat-$tag --wide --interval 0.05 > "$dir/wide" 2>> "$dir/err"
if [ "$k" = "1 1 True $skipped" ] && [ "$r" = "$N $redel $redel 0" ] && [ ! -s "$dir/err" ] &&
   grep -q "^shmring_kernel_resumes_total{topology=\"stat-$tag\",kernel=\"sink\"} 1$" "$dir/prom" &&
   grep -Eq "^shmring_kernel_resumed_gen\{topology=\"stat-$tag\",kernel=\"sink\"\} [1-9][0-9]*$" "$dir/prom" &&
   grep -Eq "^sink +[0-9]+ +[0-9-]+ +active +1 +[0-9ms]+ +[0-9.]+ +1 +[1-9][0-9]* +$skipped$" "$dir/wide"
then ok "a kernel resumed from its checkpoint: resumes, resumed_gen, skipped in --json, --prometheus, --wide"
else fail "resumed kernel (sink restarts/resumes/gen>0/skipped '$k', ring out/redelivered/skipped/suppressed '$r')"; fi

kill -TERM $spid $spid2; wait $spid $spid2
"$stat" stat-$tag > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = 1 ] && grep -q "no running topology or named ring called 'stat-$tag'" "$dir/err"
then ok "ended topology: gone, exit 1, one line"
else fail "ended topology (exit $rc)"; fi

# 6. named rings: stale, in use, wrong version, half-initialised, corrupt
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
V=$(sed -n 's/^#define SHMRING_LAYOUT_VERSION \([0-9]*\)u$/\1/p' "$(dirname "$0")/../../libshmring/src/layout.h")
mk $tag-stale $V $M; mk $tag-used $V $M; mk $tag-v7 7 $M; mk $tag-half 0 $M; mk $tag-bad $V 1234
python3 -c "import mmap,os,time; f=os.open('/dev/shm/shmring.$tag-used', os.O_RDONLY); m=mmap.mmap(f, 8192, prot=mmap.PROT_READ); time.sleep(60) # $dir" &
holder=$!
for _ in $(seq 100); do grep -q "shmring.$tag-used" /proc/$holder/maps 2>/dev/null && break; sleep 0.05; done
"$stat" $tag-v7 > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && [ "$(wc -l < "$dir/out")" = 1 ] && grep -q "layout version 7, this library speaks $V" "$dir/out"
then ok "another layout version: one line, exit 1"; else fail "version mismatch (exit $rc)"; fi
"$stat" $tag-half > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "is not initialised yet" "$dir/out"
then ok "half-initialised ring: one line, exit 1"; else fail "half-initialised (exit $rc)"; fi
"$stat" $tag-bad > "$dir/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "is not a shmring segment (bad magic" "$dir/out"
then ok "corrupt ring: one line, exit 1"; else fail "corrupt (exit $rc)"; fi
"$stat" --wide > "$dir/out2" 2>&1
"$stat" > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = 1 ] && grep -Eq "^$tag-stale .* stale \(--clean\)$" "$dir/out" &&
   grep -Eq "^$tag-used .* in use$" "$dir/out" && grep -Eq "^$tag-v7 +unreadable: .*layout version 7" "$dir/out" &&
   grep -Eq "^$tag-stale .* stale \(no process uses it: shmring-stat --clean removes it\)$" "$dir/out2"
then ok "listing marks stale, in-use and unreadable named rings (exit 1)"
else fail "named listing (exit $rc)"; fi
# --clean NAME...: only these (a plain --clean would remove the stale rings
# of every other test running now, as this user)
"$stat" --clean $tag-stale $tag-used $tag-v7 $tag-half $tag-bad > "$dir/out" 2> "$dir/err"; rc=$?
left=$(cd /dev/shm && ls -d shmring.$tag-* 2>/dev/null | tr '\n' ' ')
if [ $rc = 0 ] && [ ! -s "$dir/err" ] && [ "$left" = "shmring.$tag-used " ] &&
   grep -q "kept    $tag-used (in use)" "$dir/out" && grep -q "^removed $tag-v7$" "$dir/out" &&
   grep -q "^4 removed" "$dir/out"
then ok "--clean NAME...: removes the unused (stale, unreadable), keeps the one in use"
else fail "--clean (exit $rc, left '$left')"; fi
"$stat" --clean $tag-used $tag-none > "$dir/out" 2> "$dir/err"; rc=$?
if [ $rc = 1 ] && [ "$(cat "$dir/err")" = "shmring-stat: no named ring '$tag-none' (/dev/shm/shmring.$tag-none)" ] &&
   [ -e /dev/shm/shmring.$tag-used ]
then ok "--clean of a ring that does not exist: one line, exit 1"
else fail "--clean of a missing ring (exit $rc)"; fi
kill $holder 2>/dev/null; wait $holder 2>/dev/null
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
  mk $tag-other 3 $M; chown nobody "/dev/shm/shmring.$tag-other"
  "$stat" --clean $tag-other > "$dir/out" 2>&1; rc=$?
  if [ $rc = 1 ] && [ -e "/dev/shm/shmring.$tag-other" ] &&
     grep -q "not removing '$tag-other': it belongs to uid" "$dir/out"
  then ok "--clean refuses another user's ring"; else fail "--clean other user (exit $rc)"; fi
else echo "skip --clean of another user's ring: needs root"; fi
# 7. what kernels publish in their journals (kernel.h: shmring_kernel_metric,
#    shmring_kernel_set_note): a note and metrics shown after the kernels
#    (80 columns; every one with --wide), in --json and --prometheus; rates
#    of counters; a count that goes on across a kill -9; a corrupt journal
#    shown as one reason, never garbage, the kernel still listed
if [ -n "$mk" ]; then
  cp "$mk" "$dir/metrics-kernel"
  note='remote b tcp://10.77.0.2:5555 "q" \x'
  cat > "$dir/mk.yaml" <<Y
topology: mk-$tag
kernels:
  - { name: bridge-ish, exec: ./metrics-kernel, args: [--note, '$note', --level, "4096"] }
  - { name: plain, exec: ./metrics-kernel, args: [--tick, "100"] }
  - { name: many, exec: ./metrics-kernel, args: [--extra, "14", --note, many] }
rings: []
Y
  "$sup" run "$dir/mk.yaml" > "$dir/sup.out" 2>&1 & mpid=$!
  for _ in $(seq 100); do
    "$stat" mk-$tag --json --interval 0.05 > "$dir/j" 2>/dev/null &&
      [ "$(json "sum(len(k['metrics']) for k in d['kernels'])" < "$dir/j")" = 21 ] && break
    sleep 0.1
  done
  "$stat" mk-$tag --json --interval 1 > "$dir/out" 2> "$dir/err"; rc=$?
  got=$(json "[d['kernels'][0]['metrics'], d['kernels'][1]['note'], len(d['kernels'][2]['metrics']), d['kernels'][2]['metrics']['extra_13'], 'metrics_error' in str(d)]" < "$dir/out")
  want="[{'starts': 1, 'in_flight_bytes': 4096}, '', 16, 13000, False]"
  gotnote=$(json "d['kernels'][0]['note']" < "$dir/out")
  rate=$(json "int(d['kernels'][1]['metrics_per_s']['ticks'])" < "$dir/out")
  nogauge=$(json "'in_flight_bytes' in d['kernels'][0]['metrics_per_s']" < "$dir/out")
  if [ $rc = 0 ] && [ "$got" = "$want" ] && [ "$gotnote" = "$note" ] && [ "$rate" -ge 300 ] && [ "$rate" -le 1500 ] &&
     [ "$nogauge" = False ]
  then ok "--json: each kernel's metrics and note, counters' rates ($rate/s for 1000/s), none for a gauge"
  else fail "--json kernel metrics (exit $rc, got $got, want $want, ticks rate $rate, gauge rated $nogauge)"; fi

  "$stat" mk-$tag > "$dir/out" 2> "$dir/err"; rc=$?
  widest=$(awk '{ if (length($0) > w) w = length($0) } END { print w }' "$dir/out")
  if [ $rc = 0 ] && [ "$widest" -le 80 ] && grep -q '^KERNEL  *NOTE AND METRICS$' "$dir/out" &&
     grep -qxF "bridge-ish           $note" "$dir/out" &&
     grep -qx ' \{21\}starts 1  in_flight_bytes 4.0K' "$dir/out" &&
     grep -Eq '^plain +starts 1  in_flight_bytes 0B  ticks [0-9.]+K? \+[0-9.]+K?/s$' "$dir/out" &&
     grep -Eq '^ {21}extra_.*  \(\+[0-9]+: --wide\)$' "$dir/out" && ! grep -q 'extra_13' "$dir/out" &&
     [ "$(grep -c '^many ' "$dir/out")" = 2 ]
  then ok "table: kernel metrics after the kernels, in 80 columns ($widest), the rest left to --wide"
  else fail "table of kernel metrics (exit $rc, widest $widest)"; fi
  "$stat" mk-$tag --wide > "$dir/out" 2> "$dir/err"; rc=$?
  if [ $rc = 0 ] && grep -q ' extra_13 13000$' "$dir/out" && ! grep -q -- '--wide)' "$dir/out" &&
     grep -qx ' \{21\}starts 1  in_flight_bytes 4096' "$dir/out"
  then ok "--wide: every kernel metric, exact values"
  else fail "--wide kernel metrics (exit $rc)"; fi

  "$stat" mk-$tag --prometheus > "$dir/out" 2> "$dir/err"; rc=$?
  pc=$(promcheck "$dir/out")
  plabels="{topology=\"mk-$tag\",kernel=\"bridge-ish\"}"
  if [ $rc = 0 ] && [ "$pc" = ok ] &&
     grep -qxF "shmring_kernel_metric_starts_total$plabels 1" "$dir/out" &&
     grep -qx '# TYPE shmring_kernel_metric_starts_total counter' "$dir/out" &&
     grep -qx '# TYPE shmring_kernel_metric_in_flight_bytes gauge' "$dir/out" &&
     grep -qxF "shmring_kernel_metric_in_flight_bytes$plabels 4096" "$dir/out" &&
     grep -qxF "shmring_kernel_metric_extra_13_total{topology=\"mk-$tag\",kernel=\"many\"} 13000" "$dir/out" &&
     grep -qxF "shmring_kernel_info{topology=\"mk-$tag\",kernel=\"bridge-ish\",note=\"remote b tcp://10.77.0.2:5555 \\\"q\\\" \\\\x\"} 1" "$dir/out" &&
     ! grep -q "shmring_kernel_info{topology=\"mk-$tag\",kernel=\"plain\"" "$dir/out" &&
     grep -qxF "shmring_kernel_metrics_unreadable$plabels 0" "$dir/out"
  then ok "--prometheus: a family per kernel metric (counters _total, in_flight a gauge), the note as an info label"
  else fail "--prometheus kernel metrics (exit $rc, check: $pc)"; fi

  # kill -9: the supervisor restarts it, its successor adds 1 to the same counter
  kpid=$(json "d['kernels'][0]['pid']" < "$dir/j")
  kill -9 "$kpid"
  for _ in $(seq 100); do
    "$stat" mk-$tag --json --interval 0.05 > "$dir/j" 2>/dev/null &&
      [ "$(json "(d['kernels'][0]['restarts'], d['kernels'][0]['state'], d['kernels'][0]['metrics'].get('starts'))" < "$dir/j")" = "(1, 'active', 2)" ] && break
    sleep 0.1
  done
  cp "$dir/j" "$dir/out"; : > "$dir/err"
  got=$(json "(d['kernels'][0]['pid'] != $kpid, d['kernels'][0]['restarts'], d['kernels'][0]['metrics'])" < "$dir/j")
  gotnote=$(json "d['kernels'][0]['note']" < "$dir/j")
  "$stat" mk-$tag --prometheus > "$dir/prom" 2>> "$dir/err"
  if [ "$got" = "(True, 1, {'starts': 2, 'in_flight_bytes': 4096})" ] && [ "$gotnote" = "$note" ] &&
     grep -qxF "shmring_kernel_metric_starts_total$plabels 2" "$dir/prom"
  then ok "a kernel killed and restarted: its counter goes on (starts 2), same slot, same note"
  else fail "restarted kernel's metrics ($got)"; fi

  # Corrupt journals, written through the supervisor's descriptors: one
  # not a journal (its magic), one metric name of bytes no name has, and a
  # note of control and non-ASCII bytes
  jfd() { # KERNEL: /proc path of the supervisor's descriptor of its journal
    local f
    for f in /proc/$mpid/fd/*; do
      case $(readlink "$f") in "/memfd:shmring-jnl.mk-$tag.$1 "*) echo "$f"; return;; esac
    done
  }
  python3 - "$(jfd bridge-ish)" "$(jfd plain)" "$(jfd many)" <<'P'
import os, sys
def poke(path, off, data):
    fd = os.open(path, os.O_RDWR); os.pwrite(fd, data, off); os.close(fd)
poke(sys.argv[1], 16, b"NOTAJRNL")            # header magic
poke(sys.argv[2], 128, b"BAD!\x01")           # metric slot 0's name
poke(sys.argv[3], 128 + 16 * 32, b"evil\x1b[2J\xff\n\x00")  # the note
P
  "$stat" mk-$tag > "$dir/out" 2> "$dir/err"; rc=$?
  if [ $rc = 0 ] && [ ! -s "$dir/err" ] && ! LC_ALL=C grep -q '[^ -~]' "$dir/out" &&
     grep -Eq '^bridge-ish +[0-9]+ ' "$dir/out" &&
     grep -qx 'bridge-ish           metrics unreadable: its journal is not a shmring journal: restart the topology' "$dir/out" &&
     grep -Eq '^plain +in_flight_bytes 0B  ticks ' "$dir/out" &&
     grep -qx " \{21\}metrics unreadable: its journal's metric slot 0 holds a corrupt name: not shown" "$dir/out" &&
     grep -qx 'many                 evil?\[2J??' "$dir/out"
  then ok "corrupt journals: the kernel without its metrics and one line why, a bad name left out, a bad note made printable"
  else fail "table with corrupt journals (exit $rc)"; fi
  "$stat" mk-$tag --json > "$dir/out" 2> "$dir/err"; rc=$?
  got=$(json "(d['kernels'][0]['metrics'], 'not a shmring journal' in d['kernels'][0]['metrics_error'], sorted(d['kernels'][1]['metrics']), d['kernels'][2]['note'])" < "$dir/out" 2>&1)
  "$stat" mk-$tag --prometheus > "$dir/prom" 2>> "$dir/err"
  if [ $rc = 0 ] && [ "$got" = "({}, True, ['in_flight_bytes', 'ticks'], 'evil?[2J??')" ] &&
     [ "$(promcheck "$dir/prom")" = ok ] &&
     grep -qxF "shmring_kernel_metrics_unreadable$plabels 1" "$dir/prom" &&
     ! grep -qF "shmring_kernel_metric_starts_total$plabels" "$dir/prom"
  then ok "--json and --prometheus with corrupt journals: metrics_error, shmring_kernel_metrics_unreadable 1"
  else fail "--json / --prometheus with corrupt journals (exit $rc, got $got)"; fi
  kill -TERM $mpid; wait $mpid
else echo "skip kernel metrics: no metrics-kernel given (4th argument)"; fi

# 8. a bridge edge between two supervisors on 127.0.0.1: each side's bridge
#    kernel shows the remote end and what it sent, acknowledged, delivered
if [ -n "$kern" ] && [ -x "$kern/shmring-zmq-sink" ] && [ -x "$kern/shmring-zmq-source" ]; then
  cp "$kern"/shmring-zmq-{sink,source} "$dir/"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  B=5000
  cat > "$dir/a.yaml" <<Y
topology: bra-$tag
kernels:
  - { name: gen, exec: ./gen, args: [--count, "$B", --hold], outputs: [out] }
  - { name: zsink, exec: ./shmring-zmq-sink, inputs: [in],
      args: [--connect, "127.0.0.1:$port", --edge, double.in, --hash, 5eed, --run-id, "77", --from, a, --to, b] }
rings:
  - { from: gen.out, to: zsink.in, capacity: 64KiB }
Y
  cat > "$dir/b.yaml" <<Y
topology: brb-$tag
kernels:
  - { name: zsource, exec: ./shmring-zmq-source, outputs: [out],
      args: [--bind, "127.0.0.1:$port", --edge, double.in, --hash, 5eed, --from, a, --to, b] }
  - { name: double, exec: ./double, inputs: [in], outputs: [out] }
  - { name: sink, exec: ./sink, inputs: [in] }
rings:
  - { from: zsource.out, to: double.in, capacity: 64KiB }
  - { from: double.out, to: sink.in, capacity: 64KiB }
Y
  "$sup" run "$dir/b.yaml" > "$dir/sup2.out" 2>&1 & bpid=$!
  "$sup" run "$dir/a.yaml" > "$dir/sup.out" 2>&1 & apid=$!
  for _ in $(seq 200); do
    "$stat" bra-$tag --json --interval 0.05 > "$dir/j" 2>/dev/null &&
      [ "$(json "d['kernels'][1]['metrics'].get('acked_msgs')" < "$dir/j")" = $B ] &&
      "$stat" brb-$tag --json --interval 0.05 > "$dir/j2" 2>/dev/null &&
      [ "$(json "d['kernels'][0]['metrics'].get('delivered_msgs')" < "$dir/j2")" = $B ] && break
    sleep 0.1
  done
  cp "$dir/j" "$dir/out"; : > "$dir/err"
  # sent counts resends too: on a loaded machine a slow first answer may
  # make the sink send again, which the source drops as duplicates
  a=$(json "(lambda m: (m['sent_msgs'] - m['resends'], m['acked_msgs'], m['in_flight_bytes']))(d['kernels'][1]['metrics'])" < "$dir/j" 2>&1)
  an=$(json "d['kernels'][1]['note']" < "$dir/j" 2>&1)
  b=$(json "d['kernels'][0]['metrics']['delivered_msgs']" < "$dir/j2" 2>&1)
  bn=$(json "d['kernels'][0]['note']" < "$dir/j2" 2>&1)
  "$stat" bra-$tag > "$dir/out" 2>> "$dir/err"
  "$stat" bra-$tag --prometheus > "$dir/prom" 2>> "$dir/err"
  if [ "$a" = "($B, $B, 0)" ] && [ "$an" = "remote b tcp://127.0.0.1:$port" ] &&
     [ "$b" = $B ] && [ "$bn" = "remote a, listening on tcp://127.0.0.1:$port" ] &&
     grep -qx "zsink                remote b tcp://127.0.0.1:$port" "$dir/out" &&
     grep -Eq "^ {21}sent_msgs [0-9.]+K  sent_bytes [0-9.]+K  acked_msgs 5.0K$" "$dir/out" &&
     grep -Eq "^ {21}in_flight_bytes 0B  reconnects " "$dir/out" &&
     grep -qxF "shmring_kernel_metric_acked_msgs_total{topology=\"bra-$tag\",kernel=\"zsink\"} $B" "$dir/prom" &&
     grep -qxF "shmring_kernel_info{topology=\"bra-$tag\",kernel=\"zsink\",note=\"remote b tcp://127.0.0.1:$port\"} 1" "$dir/prom"
  then ok "bridge edge: sink side sent (less resends) and acknowledged $B, 0 in flight, the remote end; source side delivered $B"
  else fail "bridge edge metrics (sink side $a '$an', source side $b '$bn')"; fi
  kill -TERM $apid $bpid; wait $apid $bpid
else echo "skip a bridge edge's metrics: no shmring-zmq-sink/-source given (5th argument)"; fi


# 9. a named broadcast ring (bcast.h): listed once, with how many consumers;
# by name, the slowest consumer's row and a row per consumer (its own
# messages and fill; the drop policy named).
if [ -n "$bc" ]; then
  "$bc" bc-$tag 20 > "$dir/bc.out" 2>&1 &
  bcpid=$!
  wait_for ready "$dir/bc.out" 10 || fail "bcast-ring never got ready: $(cat "$dir/bc.out")"
  "$stat" > "$dir/out" 2> "$dir/err"
  "$stat" bc-$tag > "$dir/out2" 2>> "$dir/err"
  "$stat" bc-$tag --json > "$dir/json" 2>> "$dir/err"
  if grep -Eq "^bc-$tag +$bcpid +[0-9]+ +64\.0K +[0-9.]+[KMG]?B +in use, broadcast to 3$" "$dir/out" &&
     grep -Eq "^bc-$tag \(slowest\) " "$dir/out2" &&
     grep -Eq "^bc-$tag\[0\] +[0-9]+% +[0-9.]+[KMG]? +[0-9.]+[KMG]?B +2 " "$dir/out2" &&
     grep -Eq "^bc-$tag\[1\] +[0-9]+% +[0-9.]+[KMG]? +[0-9.]+[KMG]?B +0 " "$dir/out2" &&
     grep -Eq "^bc-$tag\[2\] drop " "$dir/out2" && grep -q "\"bc-$tag\[1\]\"" "$dir/json" &&
     ! grep -q "bc-$tag" "$dir/err"
  then ok "a broadcast ring: listed as broadcast to 3; a row per consumer (consumer 0 read 2, 1 none, 2 drop)"
  else fail "broadcast ring in shmring-stat"; fi
  kill $bcpid 2>/dev/null; wait $bcpid 2>/dev/null
  rm -f "/dev/shm/shmring.bc-$tag"
else echo "skip a broadcast ring: no bcast-ring given (6th argument)"; fi

finish
