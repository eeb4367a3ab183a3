#!/usr/bin/env bash
# One command from a fresh Debian machine: dependencies, build, and a demo
# that pushes a million messages between two processes through a ring.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo
echo "== demo: 1,000,000 messages from a producer process to a consumer process"
./build/examples/ring-demo 1000000
