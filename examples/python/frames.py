#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""frames: a Python source of float32 frames, written in place (zero-copy).

    frames.py [--count N] [--floats F]     (a kernel: run it with shmring-supervisor)

Frame i holds F float32 values, value j = i + j / F, written by numpy
straight into the ring (reserve: no copy). The next frame number is the
checkpoint, published after each send, so a restarted instance resumes
after the last frame it committed.
"""
import argparse
import struct
import sys

import numpy as np
import shmring

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--count", type=int, default=100)
ap.add_argument("--floats", type=int, default=262144)  # 1 MiB frames
args = ap.parse_args()
if args.count < 0 or args.floats < 1:
    sys.exit(f"frames: --count >= 0 and --floats >= 1 (got {args.count}, {args.floats})")

ramp = np.arange(args.floats, dtype=np.float32) / np.float32(args.floats)
with shmring.Kernel() as k:
    out = k.port("out")
    state = k.restore()
    first = struct.unpack("<Q", state)[0] if state else 0
    for i in range(first, args.count):
        with out.reserve(4 * args.floats) as buf:  # committed when the block ends
            np.add(ramp, np.float32(i), out=np.frombuffer(buf, np.float32))
        k.checkpoint(struct.pack("<Q", i + 1))  # no input held: published at once
        if k.should_stop:
            break
