#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Where a Python message's time goes: each way of sending and receiving
through shmring's binding, timed in one process on a warm ring (no other
process, no waiting), so what is left is the binding's and CPython's own
cost per message (docs/python.md, "Benchmark").

    pyprofile.py [SIZE]      (default 1024 bytes)

Each pair of loops (a producer's N messages, then a consumer's N) runs 200
times; the figure is the fastest of the 200, in ns a message.
"""
import os
import sys
import time

import shmring

SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
N = max(1, (1 << 19) // (SIZE + 64))  # half the 1 MiB ring: no wait
REPS = 200


def main():
    name = f"pyprofile-{os.getpid()}"
    c = shmring.Ring.create(name, capacity=1 << 20)
    p, q = shmring.Ring.attach(name, "producer"), shmring.Ring.attach(name, "consumer")
    pay = b"x" * SIZE

    def send():
        for _ in range(N):
            p.send(pay)

    def recv():
        for _ in range(N):
            q.recv()

    def with_reserve():
        for i in range(N):
            with p.reserve(SIZE) as buf:
                buf[0] = i & 255

    def iterate():
        it = iter(q)
        for _ in range(N):
            m = next(it)
            m[0]
        q.release()

    def reserve_commit():
        for _ in range(N):
            p.reserve(SIZE).commit()

    def with_peek():
        for _ in range(N):
            with q.peek() as v:
                v[0]

    def memoryview_only():
        b = bytearray(SIZE)
        for _ in range(N):
            memoryview(b).release()

    print(f"{SIZE} bytes, ns a message (fastest of {REPS} loops of {N})")
    for (a, na), (b, nb) in (((send, "send(bytes)"), (recv, "recv() -> bytes")),
                             ((with_reserve, "with reserve() as buf: buf[0] = x"),
                              (iterate, "for m in ring: m[0]")),
                             ((reserve_commit, "reserve().commit()"),
                              (with_peek, "with peek() as v: v[0]"))):
        ta = tb = float("inf")
        for _ in range(REPS):
            t0 = time.perf_counter_ns()
            a()
            t1 = time.perf_counter_ns()
            b()
            ta, tb = min(ta, t1 - t0), min(tb, time.perf_counter_ns() - t1)
        print(f"  {na:36s} {ta / N:7.1f}    {nb:26s} {tb / N:7.1f}")
    t = min(_timed(memoryview_only) for _ in range(REPS))
    print(f"  {'memoryview(bytearray).release()':36s} {t / N:7.1f}")
    for r in (p, q, c):
        r.close()


def _timed(f):
    t0 = time.perf_counter_ns()
    f()
    return time.perf_counter_ns() - t0


if __name__ == "__main__":
    main()
