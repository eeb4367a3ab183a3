#!/usr/bin/env bash
# One command from a fresh Debian machine: dependencies, build, the Python
# venv (.venv, with the shmring package), and a demo topology: the doubler
# (gen -> double -> sink, a million checked messages) under shmring-supervisor.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
# Python (docs/python.md): a venv at .venv with the pinned tools and the
# shmring package, built by pip through the same CMake. The interpreter is
# python3 on PATH; the venv is what runs Python kernels (exec: .venv/bin/python).
echo
echo "== Python: .venv ($(python3 --version)), python/requirements.txt, the shmring package"
python3 -m venv .venv
.venv/bin/pip install -q -r python/requirements.txt
.venv/bin/pip install -q --no-build-isolation .
.venv/bin/python -c "import shmring; print('import shmring: ok,', shmring.__file__)"
echo
echo "== demo: the doubler topology, 1,000,000 messages through three processes"
./build/supervisor/shmring-supervisor run build/examples/doubler/doubler.yaml
