# SPDX-License-Identifier: MIT
"""Shared fixtures: ring names, the build's programs, running a topology.

The build folder with shmring-supervisor and the standard kernels is
$SHMRING_BUILD, else build-ci/ or build/ at the repository root (the first
that has the supervisor). Tests that need it skip, saying so, without it.
"""
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import shmring

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "python"
_names = itertools.count()


def _build_dir():
    cands = [os.environ.get("SHMRING_BUILD")] if os.environ.get("SHMRING_BUILD") else []
    cands += [REPO / "build-ci", REPO / "build"]
    for c in cands:
        c = Path(c).resolve()
        if (c / "supervisor" / "shmring-supervisor").exists():
            return c
    return None


BUILD = _build_dir()


@pytest.fixture
def build():
    if BUILD is None:
        pytest.skip("no build with shmring-supervisor: set SHMRING_BUILD, or build build/ "
                    "(cmake -S . -B build && cmake --build build)")
    return BUILD


def ring_name():
    return f"pytest-{os.getpid()}-{next(_names)}"


@pytest.fixture
def pair():
    """A named ring (64 KiB) and its producer and consumer ends; all closed after."""
    name = ring_name()
    creator = shmring.Ring.create(name, capacity=65536)
    prod = shmring.Ring.attach(name, "producer")
    cons = shmring.Ring.attach(name, "consumer")
    yield prod, cons
    for r in (prod, cons, creator):
        try:
            r.close()
        except BufferError:
            pass


def kernel_env(build):
    """The environment of kernels: the standard kernels on PATH, and this
    interpreter's shmring importable (a test run may import it from a
    folder on PYTHONPATH rather than from the venv's site-packages)."""
    env = dict(os.environ)
    env["PATH"] = f"{build / 'kernels'}:{env.get('PATH', '')}"
    pkg = str(Path(shmring.__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def supervise(build, args, cwd, timeout=60, **kw):
    """Run shmring-supervisor run ARGS in cwd; the CompletedProcess."""
    return subprocess.run([str(build / "supervisor" / "shmring-supervisor"), "run", *args],
                          cwd=cwd, env=kernel_env(build), capture_output=True, text=True,
                          timeout=timeout, **kw)


PY = sys.executable
