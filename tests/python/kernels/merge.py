# SPDX-License-Identifier: MIT
"""merge: every message of inputs "a" and "b" to "out", waiting on both
with Kernel.wait; at the end one line with what it saw and its API facts."""
import shmring

with shmring.Kernel() as k:
    a, b, out = k.port("a"), k.port("b"), k.port("out")
    assert k.inputs == (a, b) and k.outputs == (out,)
    open_inputs, n, waits = {a, b}, 0, 0
    while open_inputs and not k.should_stop:
        ready = k.wait(timeout=5)
        waits += 1
        for port in ready:
            try:
                m = port.recv(timeout=0)
            except shmring.Timeout:
                continue
            if m is None:
                open_inputs.discard(port)
            else:
                out.send(m)
                n += 1
    print(f"merge {k.name}: {n} messages, ports {a.stats()['msgs_out']}+{b.stats()['msgs_out']}")
