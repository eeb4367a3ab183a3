# SPDX-License-Identifier: MIT
"""The ring API from Python, without a supervisor: one process, both ends."""
import threading
import time

import pytest
import shmring
from conftest import ring_name


def test_send_recv_copies_messages_in_order(pair):
    prod, cons = pair
    for i in range(100):
        prod.send(b"msg %d" % i)
    assert [cons.recv() for _ in range(100)] == [b"msg %d" % i for i in range(100)]


def test_send_takes_any_buffer(pair):
    prod, cons = pair
    prod.send(bytearray(b"abc"))
    prod.send(memoryview(b"xyz123")[3:])
    assert cons.recv() == b"abc"
    assert cons.recv() == b"123"


def test_recv_returns_none_at_end_of_stream(pair):
    prod, cons = pair
    prod.send(b"last")
    prod.close()
    assert cons.recv() == b"last"
    assert cons.recv() is None
    assert cons.recv(timeout=0) is None


def test_iteration_yields_read_only_views_until_end_of_stream(pair):
    prod, cons = pair
    for i in range(10):
        prod.send(bytes([i]) * (i + 1))
    prod.close()
    got = []
    for msg in cons:
        assert isinstance(msg, memoryview) and msg.readonly
        got.append(bytes(msg))
    assert got == [bytes([i]) * (i + 1) for i in range(10)]
    assert cons.stats()["msgs_out"] == 10


def test_iteration_releases_each_message_when_the_next_is_taken(pair):
    prod, cons = pair
    prod.send(b"a")
    prod.send(b"b")
    it = iter(cons)
    next(it)
    assert cons.stats()["msgs_out"] == 0  # held while the loop body runs
    next(it)
    assert cons.stats()["msgs_out"] == 1


def test_release_lets_the_loop_message_go_early(pair):
    prod, cons = pair
    prod.send(b"a")
    prod.send(b"b")
    it = iter(cons)
    view = next(it)
    cons.release()
    assert cons.stats()["msgs_out"] == 1
    with pytest.raises(ValueError):
        bytes(view)
    assert cons.recv() == b"b"  # no message held any more
    cons.release()  # nothing held: nothing to do


def test_peek_holds_the_message_until_the_block_ends(pair):
    prod, cons = pair
    prod.send(b"hello")
    with cons.peek() as view:
        assert bytes(view) == b"hello" and view.readonly
        assert cons.stats()["msgs_out"] == 0
    assert cons.stats()["msgs_out"] == 1
    with pytest.raises(shmring.Timeout):
        cons.peek(timeout=0)


def test_peek_release_without_with(pair):
    prod, cons = pair
    prod.send(b"x")
    p = cons.peek()
    assert len(p) == 1 and bytes(p.view) == b"x"
    p.release()
    assert cons.stats()["msgs_out"] == 1


def test_reserve_commits_on_exit(pair):
    prod, cons = pair
    with prod.reserve(5) as buf:
        assert not buf.readonly and len(buf) == 5
        buf[:] = b"abcde"
    assert cons.recv() == b"abcde"


def test_reserve_commit_shorter(pair):
    prod, cons = pair
    r = prod.reserve(100)
    r.view[:3] = b"abc"
    r.commit(3)
    assert cons.recv() == b"abc"


def test_exception_in_reserve_block_publishes_nothing_and_room_is_reused(pair):
    prod, cons = pair
    with pytest.raises(RuntimeError):
        with prod.reserve(64) as buf:
            buf[:4] = b"half"
            raise RuntimeError("boom")
    with pytest.raises(shmring.Timeout):
        cons.recv(timeout=0)  # nothing half-written was published
    prod.send(b"next")  # the abandoned room, given back
    with prod.reserve(8) as buf:
        buf[:] = b"12345678"
    assert cons.recv() == b"next"
    assert cons.recv() == b"12345678"
    assert cons.stats()["msgs_in"] == 2


def test_timeouts_wait_about_as_long_as_asked(pair):
    _, cons = pair
    t0 = time.monotonic()
    with pytest.raises(shmring.Timeout) as e:
        cons.recv(timeout=0.2)
    assert 0.18 < time.monotonic() - t0 < 2.0
    assert isinstance(e.value, TimeoutError) and e.value.errno in (11, 110)


def test_send_blocks_when_full_and_times_out(pair):
    prod, _ = pair
    with pytest.raises(shmring.Timeout):
        for _ in range(100000):
            prod.send(b"x" * 1000, timeout=0.05)
    assert prod.stats()["full_events"] >= 1


def test_wait_releases_the_gil(pair):
    prod, cons = pair
    ticks = []
    done = threading.Event()

    def spin():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    with pytest.raises(shmring.Timeout):
        cons.recv(timeout=0.3)
    done.set()
    t.join()
    assert len(ticks) > 20  # the other thread ran while recv waited (~250 when idle)


def test_a_message_from_another_thread_wakes_a_waiting_recv(pair):
    prod, cons = pair
    t = threading.Timer(0.1, prod.send, args=(b"late",))
    t.start()
    assert cons.recv(timeout=5) == b"late"
    t.join()


def test_a_second_thread_may_not_enter_a_waiting_end(pair):
    _, cons = pair
    t = threading.Thread(target=lambda: pytest.raises(shmring.Timeout, cons.recv, timeout=0.5))
    t.start()
    time.sleep(0.1)
    with pytest.raises(shmring.Busy):
        cons.recv(timeout=0)
    t.join()


def test_flush_publishes_a_batch(monkeypatch):
    # Without offers (read at attach): a consumer in the producer's own
    # process takes an offered hold at once (docs/ring.md).
    monkeypatch.setenv("SHMRING_ADAPTIVE", "0")
    name = ring_name()
    creator = shmring.Ring.create(name, capacity=65536)
    prod = shmring.Ring.attach(name, "producer")
    cons = shmring.Ring.attach(name, "consumer")
    prod.set_batch(16)
    prod.send(b"batched")
    with pytest.raises(shmring.Timeout):
        cons.recv(timeout=0)
    prod.flush()
    assert cons.recv(timeout=0) == b"batched"
    for r in (prod, cons, creator):
        r.close()


def test_a_batch_is_taken_by_a_consumer_of_the_same_process(pair):
    prod, cons = pair
    prod.set_batch(16)
    prod.send(b"batched")
    assert cons.recv(timeout=0) == b"batched"
    assert cons.stats()["taken"] == 1
    prod.send(b"again")  # a new hold, taken again
    assert cons.recv(timeout=0) == b"again"


def test_stats_is_a_dict_of_the_shared_counters(pair):
    prod, cons = pair
    prod.send(b"abc")
    cons.recv()
    st = cons.stats()
    assert st["msgs_in"] == st["msgs_out"] == 1
    assert st["bytes_in"] == 3 and st["capacity"] == 65536
    assert st["max_message"] == prod.max_message
    assert st["producer_closed"] is False


def test_properties(pair):
    prod, cons = pair
    assert prod.role == "producer" and cons.role == "consumer"
    assert prod.capacity == 65536 and prod.name.startswith("pytest-")
    assert not prod.closed
    prod.send(b"x")
    assert prod.position > 0


def test_anonymous_ring_attached_by_fd():
    with shmring.Ring.create(capacity=4096) as c:
        with shmring.Ring.attach(f"fd:{c.fd}", shmring.PRODUCER) as p, \
                shmring.Ring.attach(f"fd:{c.fd}", shmring.CONSUMER) as q:
            p.send(b"anon")
            assert q.recv() == b"anon"
            assert c.name == ""


def test_named_ring_is_unlinked_when_its_creator_closes():
    name = ring_name()
    c = shmring.Ring.create(name, capacity=4096)
    import os
    assert os.path.exists(f"/dev/shm/shmring.{name}")
    c.close()
    assert not os.path.exists(f"/dev/shm/shmring.{name}")


def test_set_wait_strategies(pair):
    prod, cons = pair
    for w in ("spin", "yield", "futex", "adaptive"):
        cons.set_wait(w)
        prod.send(w.encode())
        assert cons.recv(timeout=1) == w.encode()


def test_message_in_pieces_larger_than_the_ring_arrives_whole():
    name = ring_name()
    big = bytes(range(256)) * 1024  # 256 KiB through a 16 KiB ring
    with shmring.Ring.create(name, capacity=16384), \
            shmring.Ring.attach(name, "producer") as p, \
            shmring.Ring.attach(name, "consumer") as q:
        got = []
        t = threading.Thread(target=lambda: got.append(q.recv(timeout=10)))
        t.start()
        p.send(big, timeout=10)
        t.join()
        assert got == [big]


def test_ctrl_c_interrupts_a_wait_without_limit(tmp_path):
    """A script blocked in recv() with no timeout gets KeyboardInterrupt at
    once on SIGINT (the wait runs in slices that let signal handlers run)."""
    import os
    import signal
    import subprocess
    import sys
    from conftest import ring_name as _name
    name = _name()
    code = ("import shmring, sys\n"
            f"c = shmring.Ring.create({name!r}, capacity=4096)\n"
            f"q = shmring.Ring.attach({name!r}, 'consumer')\n"
            "print('waiting', flush=True)\n"
            "try:\n"
            "    q.recv()\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', flush=True)\n"
            "q.close(); c.close()\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(shmring.__file__))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env=env)
    try:
        assert p.stdout.readline() == "waiting\n"
        time.sleep(0.2)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
    finally:
        if p.poll() is None:  # still waiting: the test failed; leave nothing behind
            p.kill()
            p.wait()
            shmring.unlink(name)
    assert out == "interrupted\n"
    assert time.monotonic() - t0 < 3.0  # at once: not after the 10 s of communicate
    assert p.returncode == 0


def test_the_type_stubs_name_what_the_module_has():
    import ast
    import pathlib
    pyi = pathlib.Path(shmring.__file__).with_name("__init__.pyi")
    assert pyi.with_name("py.typed").exists()
    tree = ast.parse(pyi.read_text())
    stub = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stub |= {t.id for n in tree.body if isinstance(n, (ast.AnnAssign, ast.Assign))
             for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
             if isinstance(t, ast.Name)}
    public = set(shmring.__all__) | {"__version__"}
    assert public - stub == set()
    for cls in ("Ring", "Kernel", "Peek", "Reservation"):
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        stubbed = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
        real = {a for a in dir(getattr(shmring, cls)) if not a.startswith("_")}
        assert real - stubbed == set(), cls
