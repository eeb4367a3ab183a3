#!/usr/bin/env bash
# One command from a fresh Debian machine: dependencies, build, and a demo
# topology: the doubler (gen -> double -> sink, a million checked messages)
# under shmring-supervisor.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo
echo "== demo: the doubler topology, 1,000,000 messages through three processes"
./build/supervisor/shmring-supervisor run build/examples/doubler/doubler.yaml
