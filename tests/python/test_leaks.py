# SPDX-License-Identifier: MIT
"""A million messages through every path leave no references behind:
resident memory does not grow (bounded in time: a few seconds)."""
import time

import shmring

N = 1_000_000


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4  # resident pages of 4 KiB


def run(prod, cons, n):
    payload = b"0123456789abcdef" * 4
    it = iter(cons)
    for i in range(n):
        k = i & 3
        if k == 0:
            prod.send(payload)
            assert cons.recv() == payload
        elif k == 1:
            with prod.reserve(64) as buf:
                buf[:] = payload
            with cons.peek() as view:
                assert view[0] == 48
        elif k == 2:
            prod.send(payload)
            assert len(next(it)) == 64
            cons.release()  # the loop's message, before the next recv
        else:
            try:
                cons.recv(timeout=0)  # an exception every time: no leak either
            except shmring.Timeout:
                pass
    cons.stats()


def test_a_million_messages_do_not_grow_rss(pair):
    prod, cons = pair
    run(prod, cons, 50_000)  # warm up: allocator pools, code paths
    before = rss_kib()
    t0 = time.monotonic()
    run(prod, cons, N)
    elapsed = time.monotonic() - t0
    grown = rss_kib() - before
    # A leaked object per message would be >= 32 MB; allow allocator noise.
    assert grown < 4096, f"RSS grew by {grown} KiB over {N} messages"
    assert elapsed < 20, f"{N} messages took {elapsed:.1f} s"
