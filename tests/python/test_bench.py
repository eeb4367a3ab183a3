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


def _placement():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import placement
    finally:
        sys.path.pop(0)
    return placement


def _round(floor, b1, batched, zmq, spin=None):
    rows = [{"kind": "latency", "case": "raw cache line (floor)", "size": "64", "a": str(floor[0])},
            {"kind": "latency", "case": "raw cache line, again at the end", "size": "64",
             "a": str(floor[1])},
            {"kind": "throughput", "case": "shmring copy batch 1", "size": "64", "a": str(b1)},
            {"kind": "throughput", "case": "shmring copy batched", "size": "64", "a": str(batched)},
            {"kind": "throughput", "case": "ZeroMQ ipc", "size": "64", "a": str(zmq)},
            {"kind": "throughput", "case": "ZeroMQ ipc tuned", "size": "64", "a": str(zmq / 2)}]
    if spin:
        rows.append({"kind": "latency", "case": "shmring spin", "size": "64", "a": str(spin)})
    return rows


def test_rounds_are_summarised_by_placement():
    """run-all never takes one median over rounds of both placements: a
    round's raw cache line says where it ran, the rounds split at the largest
    step between floors, and a round that moved while it ran is in neither."""
    pl = _placement()
    labels, thr = pl.classify([[120, 130], [540, 551], [110, 125], [125, 560], []])
    assert labels == ["close", "far", "close", "mixed", "mixed"]
    assert 130 < thr < 540
    assert pl.groups(labels) == {"close": [0, 2], "far": [1], "mixed": [3, 4]}
    assert pl.main_group(pl.groups(labels)) == "close"
    assert pl.main_group({"close": [0], "far": [1, 2]}) == "far"
    assert pl.main_group({"mixed": [0]}) == "mixed"
    # one placement: no step of GAP (noise within a placement is below it)
    labels, thr = pl.classify([[290, 320], [270, 300], [300, 330]])
    assert labels == ["one placement"] * 3 and thr is None


def test_day_one_ratios_are_taken_inside_a_round():
    pl = _placement()
    rounds = [_round((120, 130), 100e6, 110e6, 5e6, spin=150),
              _round((540, 550), 30e6, 30e6, 5e6),
              _round((125, 128), 90e6, 100e6, 4e6, spin=140)]
    ratios = [pl.round_ratios(r) for r in rounds]
    assert abs(ratios[0]["default_batched"] - 100 / 110) < 1e-9
    assert ratios[0]["default_zmq"] == 20.0  # the better ZeroMQ row of that round
    assert ratios[2]["default_zmq"] == 22.5
    assert abs(ratios[0]["spin_floor"] - 150 / 120) < 1e-9
    assert "big_unix" not in ratios[0] and "spin_floor" not in ratios[1]  # not measured
    close = "\n".join(pl.round_table("close", [0, 2], ratios))
    far = "\n".join(pl.round_table("far", [1], ratios))
    assert "| 21.25x | 20.00 22.50 | >= 20x | met |" in close  # median of the two rounds
    assert "| 6.00x | 6.00 | >= 8x | **missed** |" in far  # the far target for far rounds
    assert "4 MiB copying, no option set / a Unix socket | not measured" in far
    assert "not judged" in "\n".join(pl.round_table("far", [1], ratios, judged=False))
    assert pl.verdict(10.0, "one placement", 20.0, 8.0).startswith("met for far only")


def test_script_targets_are_read_from_their_tables():
    pl = _placement()
    sup = """| pipeline, 4000000 messages of 16 B | shmring M msg/s | ZeroMQ ipc:// M msg/s | shmring / ZeroMQ | a | b |
| --- | ---: | ---: | ---: | --- | --- |
| 8 stages (1 MiB rings; ZeroMQ stages alternate cores) | 12.76 | 1.74 | 7.33x | 1 | 2 |

| chain of N kernels | M msg/s | M hops/s | hops/s vs 2 kernels |
| ---: | ---: | ---: | ---: |
| 2 | 56.96 | 56.96 | 1.00x |
| 8 | 10.50 | 73.50 | 1.29x |
| 32 | 2.40 | 74.40 | 0.31x |
| 64 | 1.11 | 69.93 | 1.23x |
"""
    got = {w: (r, t) for w, r, t in pl.script_ratios("supervisor-bench.sh", sup)}
    assert got["8-stage pipeline / ZeroMQ's"] == (7.33, 5.0)
    assert got["chain of 32 kernels on 2 cores, hops/s / a chain of 2"] == (0.31, 0.5)
    assert len(got) == 4
    io = """| 512 MiB | MB/s | runs |
| --- | ---: | --- |
| shmring-file-source ! shmring-file-sink (256 KiB chunks, 1 MiB ring) | 3000 | 1 2 |
| cp | 3000 | 1 2 |
| file-source ! tcp-sink → tcp-source ! file-sink /dev/null (loopback, 64 KiB) | 1500 | 1 |
| blocking read+send / recv+write loop (bench/tcp-baseline, 64 KiB) | 2000 | 1 |
"""
    rows = pl.script_ratios("io-bench.sh", io)
    assert [(r, t) for _, r, t in rows] == [(1.0, 0.9), (0.75, 0.9)]
    table = "\n".join(pl.script_table([("io-bench.sh", "close") + x for x in rows]))
    assert table.count("| met |") == 1 and table.count("| **missed** |") == 1
    assert pl.script_ratios("io-bench.sh", "io-bench: skipped\n") == []
