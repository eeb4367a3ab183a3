# SPDX-License-Identifier: MIT
"""bench/python/pybench.py runs whole (a smoke run: small counts, no timing
claims): every measurement gives a positive figure for shmring and pyzmq,
the numpy frames case checks its sums and has its C figure beside it, and
the sweep is drawn when gnuplot is there; pyprofile.py times every way of
sending and receiving."""
import csv
import importlib
import importlib.machinery
import importlib.util
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


def _from_bench(load):
    """LOAD() with bench/ on the module path (run-all imports placement)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        return load()
    finally:
        sys.path.pop(0)


def _placement():
    return _from_bench(lambda: importlib.import_module("placement"))


def _run_all():
    """bench/run-all as a module (its file name has no .py)."""
    def load():
        loader = importlib.machinery.SourceFileLoader("run_all", str(REPO / "bench" / "run-all"))
        mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("run_all", loader))
        loader.exec_module(mod)
        return mod
    return _from_bench(load)


def _round(floor, b1, batched, zmq, spin=None, tuned=None):
    rows = [{"kind": "latency", "case": "raw cache line (floor)", "size": "64", "a": str(floor[0])},
            {"kind": "latency", "case": "raw cache line, again at the end", "size": "64",
             "a": str(floor[1])},
            {"kind": "throughput", "case": "shmring copy batch 1", "size": "64", "a": str(b1)},
            {"kind": "throughput", "case": "shmring copy batched", "size": "64", "a": str(batched)},
            {"kind": "throughput", "case": "ZeroMQ ipc", "size": "64", "a": str(zmq)},
            {"kind": "throughput", "case": "ZeroMQ ipc tuned", "size": "64",
             "a": str(tuned if tuned else zmq / 2)}]
    if spin:
        rows.append({"kind": "latency", "case": "shmring spin", "size": "64", "a": str(spin)})
    return rows


def test_rounds_are_summarised_by_placement():
    """run-all never takes one median over rounds of both placements: a
    round's raw cache line (the lower of its two) says where it ran, and the
    rounds split at the largest step between them, if it is one of GAP."""
    pl = _placement()
    labels, thr = pl.classify([[120, 130], [540, 551], [110, 125], [125, 560], []])
    assert labels == ["close", "far", "close", "close", "not measured"]
    assert 130 < thr < 540
    assert pl.groups(labels) == {"close": [0, 2, 3], "far": [1], "not measured": [4]}
    assert pl.main_group(pl.groups(labels)) == "close"
    assert pl.main_group({"close": [0], "far": [1, 2]}) == "far"
    assert pl.main_group({"not measured": [0]}) == "not measured"
    # one slow floor (a vCPU settling, a loaded moment) moves no round
    labels, thr = pl.classify([[550, 560], [545, 551], [900, 560]])
    assert labels == ["one placement"] * 3 and thr is None
    labels, thr = pl.classify([[290, 320], [270, 300], [300, 330]])
    assert labels == ["one placement"] * 3 and thr is None
    # a script is said against the rounds
    assert pl.script_words([130, 140], 300.0, []).startswith("close placement")
    assert pl.script_words([550, 560], None, [120, 125]).startswith("another placement")
    assert pl.script_words([125, 140], None, [120, 125]).startswith("the rounds' placement")
    assert pl.script_words([], None, [120]) == "placement not measured"


def test_day_one_ratios_are_taken_inside_a_round():
    pl = _placement()
    rounds = [_round((120, 130), 100e6, 110e6, 5e6, spin=150),
              _round((540, 550), 50e6, 50e6, 5e6),
              _round((125, 128), 90e6, 100e6, 3e6, spin=140, tuned=4e6)]
    ratios = [pl.round_ratios(r) for r in rounds]
    assert abs(ratios[0]["default_batched"] - 100 / 110) < 1e-9
    assert ratios[0]["default_zmq"] == 20.0
    assert ratios[2]["default_zmq"] == 22.5  # the tuned row, the better of the round
    assert abs(ratios[0]["spin_floor"] - 150 / 120) < 1e-9
    assert "big_unix" not in ratios[0] and "spin_floor" not in ratios[1]  # not measured
    close = "\n".join(pl.round_table("close", [0, 2], ratios))
    far = "\n".join(pl.round_table("far", [1], ratios))
    assert "| 21.25x | 20.00 22.50 | >= 20x | met |" in close  # median of the two rounds
    assert "| 10.00x | 10.00 | >= 8x | met |" in far  # the far target for far rounds
    assert "4 MiB copying, no option set / a Unix socket | not measured" in far
    both = "\n".join(pl.round_table("close", [0, 1], ratios))
    assert "| 1.25x | 1.25 - |" in both  # a round without the figure keeps its place
    assert "not judged" in "\n".join(pl.round_table("far", [1], ratios, judged=False))
    noisy = "\n".join(pl.round_table("close", [0, 2], ratios,
                                     refused={("throughput", "ZeroMQ ipc tuned", 64)}))
    assert noisy.count("refused: a figure") == 2  # both ZeroMQ ratios, nothing else
    assert pl.verdict(10.0, "one placement", 20.0, 8.0).startswith("met for far only")
    assert pl.verdict(0.899, "close", 0.9, 0.9) == "met"  # judged as shown: 0.90


def test_run_all_summarises_each_placement_apart(tmp_path):
    """run-all --resummarise over three saved rounds, two close and one far:
    one set of tables per placement, the plots of the close one (the tables
    --replot-docs reads back), summary.csv rows per placement."""
    import csv as csv_
    runs = tmp_path / "runs"
    runs.mkdir()
    fields = ["kind", "case", "size", "a", "b", "c"]
    for i, (fl, b1) in enumerate((((120, 130), 100e6), ((540, 550), 40e6), ((125, 130), 90e6))):
        with open(runs / ("shmring-bench-%d.csv" % i), "w", newline="") as f:
            w = csv_.DictWriter(f, fieldnames=fields, restval="0")
            w.writeheader()
            for row in _round(fl, b1, 100e6, 5e6):
                w.writerow(dict(row, b="1", c="1"))  # GB/s; p99, p99.9
    for script in ("supervisor-bench", "io-bench", "bridge-bench", "bcast-bench"):
        (tmp_path / (script + ".md")).write_text("saved\n")
    (tmp_path / "io-bench.md.floor").write_text("520 530\n")
    r = subprocess.run([sys.executable, str(REPO / "bench" / "run-all"), "--resummarise",
                        "--rounds", "3", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    md = (tmp_path / "summary.md").read_text()
    assert "#### Close placement: rounds 1, 3 (0 refused); the plots show these rounds" in md
    assert "#### Far placement: round 2 (0 refused)" in md
    assert "| close: round 1, 3 | median |" in md and "| far: round 2 | median |" in md
    assert "`bench/io-bench.sh build 5 512` (far placement, raw cache line 520/530 ns" in md
    assert "| shmring copy batch 1 | 64 | 9.5e+07 |" in md  # close rounds only: 100 and 90 M
    assert "| shmring copy batch 1 | 64 | 4e+07 | n/a (1 round) |" in md
    got = {(x["placement"], x["case"]) for x in csv_.DictReader(open(tmp_path / "summary.csv"))}
    assert ("close", "shmring copy batch 1") in got and ("far", "shmring copy batch 1") in got
    ra = _run_all()
    back = ra.summary_from_tables(md)
    mine = [x["median"] for x in back if x["case"] == "shmring copy batch 1"]
    assert mine == [95e6]  # the plotted placement's row only


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


def test_refused_points_keep_every_series_in_its_own_data_block(tmp_path):
    """A refused figure breaks its line with an undefined point: blank lines
    would end gnuplot's data block at two in a row, and every later series
    would be drawn under the wrong name."""
    ra = _run_all()
    summary = []
    for case in ("a peer", "b peer", "c peer"):
        for size, refused in ((64, False), (1024, case == "a peer"), (4096, case == "a peer")):
            summary.append({"kind": "throughput", "case": case, "size": size, "median": 1e6,
                            "gbps": 1.0, "spread_pct": 40.0 if refused else 1.0,
                            "refused": refused, "runs": 5})
    ra.plot(str(tmp_path), summary, {}, None, 25.0)
    blocks = (tmp_path / "throughput.dat").read_text().split("\n\n\n")
    named = [b.strip().splitlines() for b in blocks if b.strip()]
    assert [b[0] for b in named] == ['"a peer"', '"b peer"', '"c peer"']
    assert all(len(b) == 4 for b in named)  # the name, then one line per size
    assert named[0][2:] == ["1024 NaN NaN", "4096 NaN NaN"]
