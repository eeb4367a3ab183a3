#!/usr/bin/env bash
# supervisor-check: `shmring-supervisor check` on good and bad files, as a
# user runs it: exit codes, the plan, and one FILE:LINE error line.
set -u
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
expect() { # name, wanted exit, wanted text, command...
  local name=$1 code=$2 text=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL $name: exit $rc (wanted $code), output:"; echo "$out" | sed 's/^/  /'
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
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
echo "$((9 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
