# SPDX-License-Identifier: MIT
"""count: a source of N numbered 8-byte messages ("out"), resuming from its
checkpoint; a metric and a note for shmring-stat."""
import struct
import sys

import shmring

n = int(sys.argv[1])
with shmring.Kernel() as k:
    out = k.port("out")
    sent = k.metric("sent")
    k.set_note(f"counting to {n}")
    state = k.restore()
    for i in range(struct.unpack("<Q", state)[0] if state else 0, n):
        out.send(struct.pack("<Q", i))
        k.checkpoint(struct.pack("<Q", i + 1))
        k.metric_add(sent)
