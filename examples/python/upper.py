#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""upper: a Python kernel that upper-cases every message from "in" to "out".

    shmring-supervisor run -e 'shmring-file-source in.txt ! .venv/bin/python upper.py ! shmring-file-sink out.txt'

Restarts: each message is released only when the next is taken, after its
upper-cased copy was sent, so a kill at any point redelivers what was not
answered, and the supervisor's lineage drops what a restarted instance
sends again for input already answered: the output is the input, once.
"""
import shmring

with shmring.Kernel() as k:
    inp, out = k.port("in"), k.port("out")
    for msg in inp:  # a memoryview into the ring, valid until the next message
        out.send(bytes(msg).upper())
