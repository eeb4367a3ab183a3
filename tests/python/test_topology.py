# SPDX-License-Identifier: MIT
"""Python kernels in real topologies under shmring-supervisor, next to C
kernels: output checked byte for byte, kill -9 mid-stream, examples."""
import os
import re
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, PY, kernel_env, supervise

UPPER = EXAMPLES / "upper.py"


def text_file(path, size):
    """Mixed-case ASCII text in lines, deterministic (base64 of seeded bytes)."""
    import base64
    import random
    raw = random.Random(size).randbytes(size * 3 // 4 + 3)
    path.write_bytes(base64.encodebytes(raw)[:size])


def tr_upper(data):
    """What `tr a-z A-Z` does: ASCII letters only."""
    return data.translate(bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz",
                                          b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def pipeline(src_args, sink):
    return (f"shmring-file-source {src_args} ! {PY} {UPPER} ! shmring-file-sink {sink}")


def test_file_source_python_upper_file_sink_matches_tr(build, tmp_path):
    text_file(tmp_path / "in.txt", 3_000_000)
    r = supervise(build, ["-e", pipeline("in.txt --chunk 4K", "out.txt")], tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    tr = subprocess.run(["tr", "a-z", "A-Z"], stdin=open(tmp_path / "in.txt", "rb"),
                        capture_output=True, check=True).stdout
    assert tr == tr_upper((tmp_path / "in.txt").read_bytes())
    assert (tmp_path / "out.txt").read_bytes() == tr


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except FileNotFoundError:
        return []


def find_python_kernel(sup_pid, deadline):
    while time.monotonic() < deadline:
        for c in children(sup_pid):
            if str(UPPER).encode() in cmdline(c):
                return c
        time.sleep(0.01)
    return None


def test_kill_9_of_the_python_kernel_loses_nothing(build, tmp_path):
    size = 24_000_000  # 375000 messages of 64 bytes: seconds through Python
    text_file(tmp_path / "in.txt", size)
    sup = subprocess.Popen(
        [str(build / "supervisor" / "shmring-supervisor"), "run", "--intensity", "5", "-e",
         pipeline("in.txt --chunk 64", "out.txt")],
        cwd=tmp_path, env=kernel_env(build), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        pid = find_python_kernel(sup.pid, time.monotonic() + 20)
        assert pid, "the Python kernel started"
        out_file, deadline = tmp_path / "out.txt", time.monotonic() + 30
        while time.monotonic() < deadline:  # mid-stream: part of the output written
            if out_file.exists() and out_file.stat().st_size > size // 20:
                break
            time.sleep(0.005)
        assert out_file.stat().st_size < size, "killed before the end of the stream"
        os.kill(pid, signal.SIGKILL)
        out, _ = sup.communicate(timeout=120)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
    assert sup.returncode == 0, out
    assert re.search(r"kernel 'python'.*signal 9", out) or "SIGKILL" in out, out
    assert re.search(r"\b[1-9]\d* restarts?\b", out), out  # the file source may restart
    # too: its reserve fails with EOWNERDEAD when its consumer dies, and it resumes
    # Nothing lost, nothing doubled, wherever the kill fell (whether a
    # message was held then is chance: the next test makes it certain).
    assert (tmp_path / "out.txt").read_bytes() == tr_upper((tmp_path / "in.txt").read_bytes())


def test_kill_9_while_holding_a_message_redelivers_it_and_drops_the_resend(build, tmp_path):
    text_file(tmp_path / "in.txt", 1_000_000)
    env = kernel_env(build)
    env["HOLD_MARKER"] = str(tmp_path / "holding")
    hold = Path(__file__).parent / "kernels" / "upper_hold.py"
    sup = subprocess.Popen(
        [str(build / "supervisor" / "shmring-supervisor"), "run", "-e",
         f"shmring-file-source in.txt --chunk 64 ! {PY} {hold} ! shmring-file-sink out.txt"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "holding").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        pid = next(c for c in children(sup.pid) if str(hold).encode() in cmdline(c))
        os.kill(pid, signal.SIGKILL)
        out, _ = sup.communicate(timeout=120)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
    assert sup.returncode == 0, out
    assert (tmp_path / "out.txt").read_bytes() == tr_upper((tmp_path / "in.txt").read_bytes())
    # message 1000 was held: handed again to the successor, counted ...
    m = re.search(r"-> python\.in: \d+ messages, (\d+) redelivered", out)
    assert m and int(m.group(1)) == 1, out
    # ... and its answer, already sent, was dropped rather than doubled
    m = re.search(r"python\.out -> .*?(\d+) suppressed", out)
    assert m and int(m.group(1)) == 1, out


def test_sigterm_stops_a_python_kernel_cleanly(build, tmp_path):
    # A source that never ends, stopped by SIGTERM sent to the Python kernel
    # itself: it leaves its with block (no traceback), exit 0, and is
    # restarted by policy (it did not finish its stream).
    text_file(tmp_path / "in.txt", 1000)
    script = tmp_path / "forever.py"
    script.write_text(
        "import shmring\n"
        "with shmring.Kernel() as k:\n"
        "    out = k.port('out')\n"
        "    i = 0\n"
        "    while not k.should_stop:\n"
        "        out.send(b'%d\\n' % i)\n"
        "        i += 1\n"
        "print('left cleanly after', i > 0)\n")
    sup = subprocess.Popen(
        [str(build / "supervisor" / "shmring-supervisor"), "run", "--restart", "transient",
         "-e", f"{PY} {script} ! shmring-file-sink out.txt"],
        cwd=tmp_path, env=kernel_env(build), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + 20
        pid = None
        while not pid and time.monotonic() < deadline:
            pid = next((c for c in children(sup.pid) if str(script).encode() in cmdline(c)),
                       None)
            time.sleep(0.01)
        time.sleep(0.5)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid in children(sup.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pid not in children(sup.pid), "the kernel left after SIGTERM"
        sup.send_signal(signal.SIGINT)  # then stop the topology
        out, _ = sup.communicate(timeout=60)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
    assert "left cleanly after True" in out, out
    assert "Traceback" not in out, out


def run_example(build, tmp_path, yaml, extra=()):
    """An example topology, with its exec of ../../.venv/bin/python replaced
    by this interpreter and its scripts named by absolute path."""
    text = (EXAMPLES / yaml).read_text().replace("../../.venv/bin/python", PY)
    text = re.sub(r"args: \[(\w+\.py)", lambda m: f"args: [{EXAMPLES / m.group(1)}", text)
    (tmp_path / yaml).write_text(text)
    return supervise(build, [yaml, *extra], tmp_path)


def test_example_upper(build, tmp_path):
    text_file(tmp_path / "in.txt", 100_000)
    r = run_example(build, tmp_path, "upper.yaml")
    assert r.returncode == 0, r.stderr + r.stdout
    assert (tmp_path / "out.txt").read_bytes() == tr_upper((tmp_path / "in.txt").read_bytes())


def test_example_framestats(build, tmp_path):
    np = pytest.importorskip("numpy")
    r = run_example(build, tmp_path, "framestats.yaml")
    assert r.returncode == 0, r.stderr + r.stdout
    rec = np.dtype([("frame", "<u8"), ("count", "<u4"), ("pad", "<u4"), ("mean", "<f4"),
                    ("min", "<f4"), ("max", "<f4"), ("pad2", "<u4")])
    stats = np.fromfile(tmp_path / "stats.bin", rec)
    assert len(stats) == 200
    assert list(stats["frame"]) == list(range(200))
    assert (stats["count"] == 262144).all()
    assert np.allclose(stats["min"], np.arange(200))
    assert np.allclose(stats["mean"], np.arange(200) + 0.5, atol=1e-3)


def test_example_python_source_into_c_kernels(build, tmp_path):
    r = run_example(build, tmp_path, "lines.yaml")
    assert r.returncode == 0, r.stderr + r.stdout
    want = b"".join(b"line %d\n" % i for i in range(100000))
    assert (tmp_path / "lines.txt").read_bytes() == want


def test_shebang_script_as_exec_and_shown_by_shmring_stat(build, tmp_path):
    # `exec: ./upper.py` works when the venv's bin/ is first on PATH (the
    # shebang's `env python3` finds the venv's interpreter), and a running
    # Python kernel is listed by shmring-stat like any other.
    text_file(tmp_path / "in.txt", 50_000)
    env = kernel_env(build)
    env["PATH"] = f"{Path(PY).parent}:{env['PATH']}"
    (tmp_path / "upper.py").write_bytes(UPPER.read_bytes())
    (tmp_path / "upper.py").chmod(0o755)
    count = Path(__file__).parent / "kernels" / "count.py"
    sup = subprocess.Popen(
        [str(build / "supervisor" / "shmring-supervisor"), "run", "--grace", "5s", "-e",
         f"{PY} {count} 100000000 ! ./upper.py ! shmring-file-sink out.bin"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen, deadline = "", time.monotonic() + 20
        while time.monotonic() < deadline and "counting to" not in seen:
            seen = subprocess.run([str(build / "tools" / "shmring-stat"), f"pipeline-{sup.pid}",
                                   "--json", "--interval", "0.1"], capture_output=True,
                                  text=True, timeout=30).stdout
            time.sleep(0.1)
        sup.send_signal(signal.SIGINT)
        out, _ = sup.communicate(timeout=60)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
    assert '"upper-py"' in seen and '"python"' in seen, seen[:2000]
    assert "counting to 100000000" in seen, seen  # the kernel's note
    assert "Traceback" not in out, out
    # What the sink says it wrote (stopped mid-stream, the file may run on
    # past that with zeros the sink did not write).
    wrote = re.search(r"wrote (\d+) bytes", out)
    assert wrote, out
    data = (tmp_path / "out.bin").read_bytes()[:int(wrote.group(1))]
    n = len(data) // 8
    assert n > 0 and len(data) == 8 * n
    # in order, none lost, none doubled (upper.py upper-cased their bytes)
    want = tr_upper(b"".join(struct.pack("<Q", i) for i in range(n)))
    if data != want:
        i = next(k for k in range(n) if data[8 * k:8 * k + 8] != want[8 * k:8 * k + 8])
        got = [struct.unpack("<Q", data[8 * k:8 * k + 8])[0] for k in range(i - 2, min(n, i + 3))]
        raise AssertionError(f"message {i} of {n}: around it {got}\n{out}")
