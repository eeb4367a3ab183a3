# SPDX-License-Identifier: MIT
"""shmring: shared-memory rings and kernels, from Python.

A Python script is a kernel of a shmring topology like any C program:

    import shmring

    with shmring.Kernel() as k:          # attach, report ready, wait for activation
        inp, out = k.port("in"), k.port("out")
        for msg in inp:                  # memoryview into the ring, valid until the next
            out.send(bytes(msg).upper())

Zero-copy both ways (numpy through the buffer protocol):

    with out.reserve(4096) as buf:       # writable memoryview in the ring; commit on exit
        np.frombuffer(buf, np.float32)[:] = frame
    with inp.peek() as view:             # read-only memoryview; released on exit
        total = np.frombuffer(view, np.float32).sum()

See docs/python.md for the whole API and the lifetime rules of the views.
"""
from ._shmring import (  # noqa: F401
    CHECKPOINT_MAX,
    CONSUMER,
    EXIT_CONFIG,
    LIBRARY_VERSION,
    NAME_MAX,
    OBSERVER,
    PRODUCER,
    Busy,
    Closed,
    Corrupt,
    EndOfStream,
    Error,
    InvalidOperation,
    Kernel,
    MessageTooLarge,
    NotFound,
    Peek,
    PeerDead,
    Reservation,
    Ring,
    Stopped,
    Timeout,
    errmsg,
    unlink,
)

Port = Ring  # a kernel's port is a Ring end it does not own

__version__ = "0.1.0"

__all__ = [
    "Busy", "CHECKPOINT_MAX", "CONSUMER", "Closed", "Corrupt", "EXIT_CONFIG", "EndOfStream",
    "Error", "InvalidOperation", "Kernel", "LIBRARY_VERSION", "MessageTooLarge", "NAME_MAX",
    "NotFound", "OBSERVER", "PRODUCER", "Peek", "PeerDead", "Port", "Reservation", "Ring",
    "Stopped", "Timeout", "errmsg", "unlink",
]
