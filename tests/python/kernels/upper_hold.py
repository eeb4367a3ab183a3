# SPDX-License-Identifier: MIT
"""upper.py with a hook for a deterministic kill: the first instance (no
HOLD_MARKER file yet) sends its answer to message HOLD_AT, creates the
marker and then hangs holding that message, to be killed there; its
successor finds the marker and runs normally."""
import os
import time

import shmring

marker = os.environ["HOLD_MARKER"]
hold_at = int(os.environ.get("HOLD_AT", "1000"))
first = not os.path.exists(marker)

with shmring.Kernel() as k:
    inp, out = k.port("in"), k.port("out")
    for i, msg in enumerate(inp):
        out.send(bytes(msg).upper())
        if first and i == hold_at:
            open(marker, "w").close()
            while True:  # sent, not released: killed here
                time.sleep(1)
