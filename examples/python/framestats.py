#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""framestats: per float32 frame from "in", one statistics record to "out".

The frame is read in place (peek: no copy); the record, 32 bytes, is
written in place too: RECORD below (frame number, count, mean, min, max).
"""
import numpy as np
import shmring

RECORD = np.dtype([("frame", "<u8"), ("count", "<u4"), ("pad", "<u4"),
                   ("mean", "<f4"), ("min", "<f4"), ("max", "<f4"), ("pad2", "<u4")])

with shmring.Kernel() as k:
    inp, out = k.port("in"), k.port("out")
    n = 0
    for msg in inp:
        frame = np.frombuffer(msg, np.float32)
        with out.reserve(RECORD.itemsize) as buf:
            rec = np.frombuffer(buf, RECORD)
            rec["frame"], rec["count"] = n, frame.size
            rec["mean"], rec["min"], rec["max"] = frame.mean(), frame.min(), frame.max()
            del rec  # no view of the ring may outlive its block
        del frame  # nor of the input message: the loop releases it next
        n += 1
