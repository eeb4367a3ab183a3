# SPDX-License-Identifier: MIT
"""The Kernel API under a real supervisor: ports, wait over inputs,
checkpoints and metrics, configuration errors."""
import struct
from pathlib import Path

from conftest import PY, supervise

KERNELS = Path(__file__).parent / "kernels"


def test_wait_over_two_inputs_merges_both_streams(build, tmp_path):
    (tmp_path / "t.yaml").write_text(f"""
topology: merge
kernels:
  - {{ name: c1, exec: {PY}, args: [{KERNELS / 'count.py'}, "3000"], outputs: [out] }}
  - {{ name: c2, exec: {PY}, args: [{KERNELS / 'count.py'}, "2000"], outputs: [out] }}
  - {{ name: m, exec: {PY}, args: [{KERNELS / 'merge.py'}], inputs: [a, b], outputs: [out] }}
  - {{ name: w, exec: shmring-file-sink, args: [out.bin], inputs: [in] }}
rings:
  - {{ from: c1.out, to: m.a, capacity: 4KiB }}
  - {{ from: c2.out, to: m.b, capacity: 4KiB }}
  - {{ from: m.out, to: w.in }}
""")
    r = supervise(build, ["t.yaml"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "merge m: 5000 messages, ports 3000+2000" in r.stdout + r.stderr
    data = (tmp_path / "out.bin").read_bytes()
    got = sorted(v for (v,) in struct.iter_unpack("<Q", data))
    assert got == sorted(list(range(3000)) + list(range(2000)))


def test_unknown_port_is_a_configuration_error_exit_78(build, tmp_path):
    r = supervise(build, ["-e", f"{PY} {KERNELS / 'bad_port.py'}"], tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out  # a kernel exited 78: not restarted, topology stopped
    assert "78" in out and "nonesuch" in out, out
    assert "Traceback" not in out, out
