# SPDX-License-Identifier: MIT
"""bench/python/pybench.py runs whole (a smoke run: small counts, no timing
claims): every measurement gives a positive figure for shmring and pyzmq,
the numpy frames case checks its sums and has its C figure beside it, and
the sweep is drawn when gnuplot is there; pyprofile.py times every way of
sending and receiving."""
import csv
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

pytest.importorskip("numpy")
pytest.importorskip("zmq")


def test_pybench_smoke_run(build, tmp_path):
    out, png = tmp_path / "py.csv", tmp_path / "sweep.png"
    r = subprocess.run([sys.executable, str(REPO / "bench" / "python" / "pybench.py"), "--quick",
                        "--peers", "shmring,pyzmq", "--csv", str(out), "--plot", str(png),
                        "--build", str(build)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out)))
    got = {(x["test"], x["peer"], x["mode"], int(x["size"])): float(x["value"]) for x in rows}
    for peer in ("shmring", "pyzmq"):
        for key in (("stream", peer, "copy", 64), ("stream", peer, "zerocopy", 64),
                    ("relay", peer, "copy", 64), ("rtt-p50", peer, "copy", 64),
                    ("sweep", peer, "zerocopy", 1 << 20)):
            assert got.get(key, 0) > 0, key
    assert got[("frames", "shmring", "zerocopy", 1 << 20)] > 0
    assert got[("frames", "C", "zerocopy", 1 << 20)] > 0
    if shutil.which("gnuplot"):
        assert png.stat().st_size > 10000
    # the saved run summarised and drawn again, without measuring
    py = [sys.executable, str(REPO / "bench" / "python" / "pybench.py")]
    r = subprocess.run(py + ["--summary", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "relay" in r.stdout, r.stderr
    if shutil.which("gnuplot"):
        again = tmp_path / "again.png"
        r = subprocess.run(py + ["--replot", str(out), str(again)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and again.stat().st_size > 10000, r.stderr
    # a file that is not a run: one line, not a traceback
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    for args in (["--summary", str(bad)], ["--replot", str(tmp_path / "none.csv"), str(png)]):
        r = subprocess.run(py + args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith("pybench: "), r.stderr


def test_pyprofile_times_every_way():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "python" / "pyprofile.py"), "4096"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    figures = [float(w) for line in r.stdout.splitlines()[1:] for w in line.split()
               if w.replace(".", "", 1).isdigit()]
    assert len(figures) == 7 and all(f > 0 for f in figures), r.stdout
