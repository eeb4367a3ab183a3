#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lines: a Python source of numbered text lines, one message each.

    lines.py [--count N]     (a kernel: run it with shmring-supervisor)

Line i is "line i\\n". The next line number is the checkpoint, so a
restarted source resumes after the last line it sent.
"""
import argparse
import struct

import shmring

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--count", type=int, default=1000)
args = ap.parse_args()

with shmring.Kernel() as k:
    out = k.port("out")
    state = k.restore()
    for i in range(struct.unpack("<Q", state)[0] if state else 0, args.count):
        out.send(b"line %d\n" % i)
        k.checkpoint(struct.pack("<Q", i + 1))
        if k.should_stop:
            break
