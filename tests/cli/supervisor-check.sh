#!/usr/bin/env bash
# supervisor-check: `shmring-supervisor check` on good and bad files, as a
# user runs it: exit codes, the plan, and one FILE:LINE error line.
set -u
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
expect() { # name, wanted exit, wanted text, command...
  local name=$1 code=$2 text=$3; shift 3
  "$@" > "$dir/out" 2>&1; local rc=$?
  if [ "$rc" -eq "$code" ] && grep -qF -- "$text" "$dir/out"; then ok "$name"
  else fail "$name: exit $rc (wanted $code), output:"; fi
}
cat > "$dir/good.yaml" <<'Y'
topology: pipe
kernels:
  - { name: gen, exec: /bin/cat, outputs: [out] }
  - { name: sink, exec: /bin/cat, inputs: [in] }
rings:
  - { from: gen.out, to: sink.in, capacity: 64KiB, wait: spin }
Y
cat > "$dir/bad.yaml" <<'Y'
topology: pipe
kernels:
  - { name: gen, exec: /bin/cat, outputs: [out] }
  - { name: sink, exec: /bin/cat, inputs: [in] }
rings:
  - { from: gen.out, to: sink.inn }
Y
cat > "$dir/noexec.yaml" <<'Y'
topology: pipe
kernels:
  - { name: gen, exec: ./missing-kernel }
Y
expect "valid topology prints the plan" 0 "gen.out -> sink.in" "$bin" check "$dir/good.yaml"
expect "unknown port names file:line" 1 "bad.yaml:6: kernel 'sink' has no input port 'inn' (its inputs: in)" \
  "$bin" check "$dir/bad.yaml"
expect "missing executable names file:line" 1 "noexec.yaml:3: kernel 'gen': executable './missing-kernel' not found" \
  "$bin" check "$dir/noexec.yaml"
expect "missing file" 111 "cannot open" "$bin" check "$dir/none.yaml"
expect "bad usage" 100 "usage: shmring-supervisor check FILE" "$bin" frobnicate
expect "help" 0 "usage:" "$bin" --help
expect "placement on a bigger (synthetic) machine" 0 "L3" \
  env HWLOC_SYNTHETIC="pack:2 [numa] l3:2 core:4 pu:2" "$bin" check "$dir/good.yaml"
expect "one-line pipeline" 0 "cat.out -> cat-2.in" "$bin" check -e 'cat ! cat ! sort -n'
expect "one-line pipeline, unknown executable" 1 "-e:1: kernel 'no-such-kernel-x': executable 'no-such-kernel-x' not found on PATH" \
  "$bin" check -e 'cat ! no-such-kernel-x'
# Refused before anything starts (issue 14): each once exited 0 and failed
# (or overflowed the heap) at run, or was silently cut short.
cat > "$dir/self.yaml" <<'Y'
topology: loop
kernels:
  - { name: d, exec: /bin/cat, inputs: [in], outputs: [out] }
rings:
  - { from: d.out, to: d.in }
Y
expect "ring from a kernel to itself" 1 \
  "self.yaml:5: ring d.out -> d.in connects kernel d to itself: a ring joins two kernels" \
  "$bin" check "$dir/self.yaml"
cat > "$dir/cycle.yaml" <<'Y'
topology: loop
kernels:
  - { name: a, exec: /bin/cat, inputs: [in], outputs: [out] }
  - { name: b, exec: /bin/cat, inputs: [in], outputs: [out] }
rings:
  - { from: a.out, to: b.in }
  - { from: b.out, to: a.in }
Y
expect "a cycle through two kernels is fine" 0 "b.out -> a.in" "$bin" check "$dir/cycle.yaml"
sed 's/capacity: 64KiB/capacity: 5000/' "$dir/good.yaml" > "$dir/odd.yaml"
expect "capacity printed as made (5000 -> 8KiB)" 0 "8KiB*" "$bin" check "$dir/odd.yaml"
expect "capacity: the note says what was asked" 0 "gen.out -> sink.in asked for 5000 bytes" \
  "$bin" check "$dir/odd.yaml"
expect "default capacity printed" 0 "1MiB" "$bin" check -e 'cat ! cat'
{ cat "$dir/good.yaml"; printf -- '---\nrings: [\n'; } > "$dir/two.yaml"
expect "a second YAML document" 1 "two.yaml:7: a second YAML document starts here" \
  "$bin" check "$dir/two.yaml"
printf 'topology: x\nkernels:\n  - { name: k, exec: /bin/cat, args: ["10\\0 junk"] }\n' > "$dir/nul.yaml"
expect "NUL byte in an argument" 1 "nul.yaml:3: the value '10\\0...' holds a NUL byte" \
  "$bin" check "$dir/nul.yaml"
printf 'topology: x\nkernels:\n  - name: k\n    exec: /bin/cat\n    env: { A: "1", B: "2", A: "3" }\n' > "$dir/env.yaml"
expect "an environment variable set twice" 1 "env.yaml:5: environment variable A is set twice" \
  "$bin" check "$dir/env.yaml"
printf 'topology: x\nkernels:\n  - { name: k, exec: /bin/\xffcat }\n' > "$dir/utf8.yaml"
expect "bad UTF-8 reported on its line" 1 "utf8.yaml:3: not valid YAML: invalid leading UTF-8 octet" \
  "$bin" check "$dir/utf8.yaml"
truncate -s 17M "$dir/huge.yaml"
expect "a file over 16 MiB is invalid (exit 1)" 1 \
  "huge.yaml: 17.0 MiB, more than the 16 MiB a topology file may be" "$bin" check "$dir/huge.yaml"
for sup in "period: 0s|period 0s would turn the restart limit off" \
           "ready: 0s|ready 0s leaves kernels no time to start" \
           "grace: 0ms|grace 0ms would kill every kernel" \
           "intensity: 1000001|intensity must be a whole number of restarts, 0 to 1000000"; do
  printf 'topology: x\nsupervision: { %s }\nkernels:\n  - { name: k, exec: /bin/cat }\n' \
    "${sup%%|*}" > "$dir/sup.yaml"
  expect "supervision ${sup%%|*}" 1 "sup.yaml:2: ${sup#*|}" "$bin" check "$dir/sup.yaml"
done
printf 'topology: x\nsupervision: { ready: 90s, intensity: 0 }\nkernels:\n  - { name: k, exec: /bin/cat }\n' > "$dir/sup.yaml"
expect "supervision ready: 90s, intensity: 0" 0 "1 kernels" "$bin" check "$dir/sup.yaml"

# Input priorities: check lists the inputs that are not normal, and only those.
cat > "$dir/prio.yaml" <<'Y'
topology: prio
kernels:
  - { name: src, exec: /bin/cat, outputs: [o1, o2, o3] }
  - name: mix
    exec: /bin/cat
    inputs: [data, { name: control, priority: high }, { name: bulk, priority: low }]
rings:
  - { from: src.o1, to: mix.data }
  - { from: src.o2, to: mix.control }
  - { from: src.o3, to: mix.bulk }
Y
"$bin" check "$dir/prio.yaml" > "$dir/out" 2>&1
if grep -qE '^mix\.control +high$' "$dir/out" && grep -qE '^mix\.bulk +low$' "$dir/out" &&
   ! grep -q '^mix\.data ' "$dir/out"; then ok "check shows the inputs that are not normal"
else fail "check shows the inputs that are not normal, output:"; fi
"$bin" check "$dir/good.yaml" > "$dir/out" 2>&1
if grep -q priority "$dir/out"; then fail "no priority section when all are normal, output:"
else ok "no priority section when all are normal"; fi
sed 's/priority: high/priority: urgent/' "$dir/prio.yaml" > "$dir/prio-bad.yaml"
expect "unknown priority names file:line" 1 \
  "prio-bad.yaml:6: input priority 'urgent' is unknown: use one of low, normal, high" \
  "$bin" check "$dir/prio-bad.yaml"

# Size: the control segment's limits, and every check linear in the file.
# One kernel with 1.5 million ports (14 MB) did not finish in a minute.
{ printf 'topology: big\nkernels:\n  - name: k\n    exec: /bin/cat\n    inputs: ['
  seq -f 'p%.0f' -s ', ' 0 1499999; printf ']\n'; } > "$dir/ports.yaml"
expect "1.5 million ports: refused in time" 1 \
  "ports.yaml:5: kernel 'k' brings the topology to 1500000 ports, more than the 8192 ends" \
  timeout 30 "$bin" check "$dir/ports.yaml"
{ printf 'topology: big\nkernels:\n'
  seq -f '  - { name: k%.0f, exec: /bin/cat }' 0 1999; } > "$dir/k2000.yaml"
expect "2000 kernels: refused" 1 \
  "k2000.yaml:3: 2000 kernels, more than the 1024 one topology may have: split it into several topologies" \
  timeout 30 "$bin" check "$dir/k2000.yaml"
# The largest accepted: 1024 kernels, 4096 rings (4 per kernel), planned.
{ printf 'topology: big\nkernels:\n'
  seq -f '  - { name: k%.0f, exec: /bin/cat, inputs: [a, b, c, d], outputs: [a2, b2, c2, d2] }' 0 1023
  printf 'rings:\n'
  for p in a b c d; do
    for ((i = 0; i < 1024; i++)); do
      echo "  - { from: k$i.${p}2, to: k$(((i + 1) % 1024)).$p }"
    done
  done; } > "$dir/max.yaml"
expect "1024 kernels, 4096 rings: planned in time" 0 "1024 kernels, 4096 rings" \
  timeout 30 "$bin" check "$dir/max.yaml"
expect "2000 stages: refused" 1 "-e:1: 2000 stages, more than the 1024 kernels" \
  "$bin" check -e "$(printf 'cat ! %.0s' $(seq 1999))cat"

# Hosts (docs/hosts.md): check --host prints the host's share and its
# bridge edges; the default host is found by name or address, else one line
# asks for --host.
cat > "$dir/hosts.yaml" <<'Y'
topology: two
hosts:
  a: { address: 203.0.113.1 }
  b: { address: 203.0.113.2, port: 9000 }
kernels:
  - { name: gen, host: a, exec: /bin/cat, outputs: [out] }
  - { name: sink, host: b, exec: /bin/cat, inputs: [in] }
rings:
  - { from: gen.out, to: sink.in }
Y
expect "check --host a: the share, with a bridge kernel" 0 "gen.out -> gen-out-tx.in" \
  "$bin" check "$dir/hosts.yaml" --host a
expect "check --host a: the bridge edge, its remote host and address" 0 \
  "gen.out>sink.in                      out  b            203.0.113.2:9000       gen-out-tx (shmring-zmq-sink)" \
  "$bin" check "$dir/hosts.yaml" --host a
expect "check --host=b: the receiving end" 0 \
  "gen.out>sink.in                      in   a            203.0.113.2:9000       sink-in-rx (shmring-zmq-source)" \
  "$bin" check --host=b "$dir/hosts.yaml"
expect "check --host: the share is named TOPOLOGY-HOST" 0 "topology two-b (" \
  "$bin" check "$dir/hosts.yaml" --host b
expect "unknown --host: one line" 100 \
  "--host c: $dir/hosts.yaml has no such host (its hosts: a, b): name one of them" \
  "$bin" check "$dir/hosts.yaml" --host c
expect "no host is this machine: one line asking for --host" 100 \
  "no host is named like this machine or has one of its addresses: say which this is with --host NAME (one of a, b)" \
  "$bin" check "$dir/hosts.yaml"
sed 's/203.0.113.2/127.0.0.1/' "$dir/hosts.yaml" > "$dir/local.yaml"
expect "the default host: the one with this machine's address" 0 "host b (127.0.0.1) of 2" \
  "$bin" check "$dir/local.yaml"
sed 's/203.0.113.1/127.0.0.1/' "$dir/local.yaml" > "$dir/both.yaml"
expect "two hosts with this machine's address: one line asking for --host" 100 \
  "several hosts match this machine's name or addresses: say which this is with --host NAME" \
  "$bin" check "$dir/both.yaml"
sed 's/^  b: .*/&\n  idle: { address: 203.0.113.9 }/' "$dir/hosts.yaml" > "$dir/idle.yaml"
expect "a host without kernels: one line" 1 \
  "idle.yaml:5: host 'idle' runs no kernel: nothing to do here" \
  "$bin" check "$dir/idle.yaml" --host idle
mkdir "$dir/alone" && cp "$bin" "$dir/alone/"
alone=$(realpath "$dir/alone") # what /proc/self/exe says
expect "bridge kernels not beside the supervisor: one line" 1 \
  "the bridge kernel shmring-zmq-sink is not beside this program (looked in $alone and $alone/../kernels)" \
  "$dir/alone/$(basename "$bin")" check "$dir/hosts.yaml" --host a
expect "--host on a file without hosts: one line" 100 \
  "--host a: $dir/good.yaml has no hosts: (it runs on one machine): drop --host" \
  "$bin" check "$dir/good.yaml" --host a
expect "--host without a name" 100 "--host needs a value" "$bin" check "$dir/hosts.yaml" --host
expect "host: without hosts:" 1 "kernel 'gen' names host 'a' but the file has no hosts:" \
  "$bin" check <(sed '2,4d' "$dir/hosts.yaml")
cat > "$dir/curve.yaml" <<'Y'
topology: two
hosts:
  a: { address: 203.0.113.1, curve: { public: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", secret_file: a.key } }
  b: { address: 203.0.113.2, curve: { public: b.pub, secret_file: b.key } }
kernels:
  - { name: gen, host: a, exec: /bin/cat, outputs: [out] }
  - { name: sink, host: b, exec: /bin/cat, inputs: [in] }
rings:
  - { from: gen.out, to: sink.in }
Y
expect "CURVE: this host's secret key file is read here, and must be there" 1 \
  "curve.yaml:3: host 'a': curve secret_file $dir/a.key cannot be read: No such file or directory" \
  "$bin" check "$dir/curve.yaml" --host a

finish
