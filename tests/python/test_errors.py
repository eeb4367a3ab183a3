# SPDX-License-Identifier: MIT
"""Every bad input is an exception: a shmring.Error subclass carrying errno
and one line that names the problem, never a crash."""
import errno
import os
import subprocess

import pytest
import shmring
from conftest import PY, kernel_env, ring_name


def test_errors_are_oserrors_with_errno_and_the_library_line():
    with pytest.raises(shmring.NotFound) as e:
        shmring.Ring.attach("pytest-no-such-ring", "consumer")
    assert isinstance(e.value, shmring.Error) and isinstance(e.value, OSError)
    assert e.value.errno == errno.ENOENT
    assert "pytest-no-such-ring" in e.value.strerror  # the library's line names it
    assert "\n" not in e.value.strerror


def test_bad_ring_name():
    with pytest.raises(shmring.InvalidOperation) as e:
        shmring.Ring.create("bad/name")
    assert e.value.errno == errno.EINVAL


def test_existing_name():
    name = ring_name()
    with shmring.Ring.create(name, capacity=4096):
        with pytest.raises(shmring.Error) as e:
            shmring.Ring.create(name, capacity=4096)
        assert e.value.errno == errno.EEXIST


def test_role_taken_by_another_handle(pair):
    prod, _ = pair
    with pytest.raises(shmring.Busy) as e:
        shmring.Ring.attach(prod.name, "producer")
    assert e.value.errno == errno.EBUSY


def test_bad_arguments_are_value_errors(pair):
    prod, cons = pair
    with pytest.raises(ValueError):
        shmring.Ring.attach(prod.name, "writer")
    with pytest.raises(ValueError):
        cons.recv(timeout=-1)
    with pytest.raises(ValueError):
        prod.send(b"")
    with pytest.raises(ValueError):
        prod.reserve(0)
    with pytest.raises(ValueError):
        shmring.Ring.create(wait="sometimes")
    with pytest.raises(TypeError):
        prod.send("text is not bytes")


def test_arguments_by_position_and_by_name(pair):
    """The data path parses its own arguments (shm_args): every form Python
    allows works, and every wrong one is a TypeError naming the method."""
    prod, cons = pair
    prod.send(b"a")
    prod.send(data=b"b", timeout=1)
    prod.send(memoryview(b"c"), None)
    with prod.reserve(size=1, timeout=1) as buf:
        buf[0] = ord("d")
    r = prod.reserve(3)
    r.view[:] = b"efg"
    r.commit(length=2)
    prod.reserve(1).commit(None)  # all of it, as commit()
    assert cons.recv() == b"a" and cons.recv(timeout=1) == b"b"
    assert cons.recv(None) == b"c" and cons.recv() == b"d"
    with cons.peek(timeout=1) as v:
        assert bytes(v) == b"ef"
    with cons.peek() as v:
        assert len(v) == 1
    for call, words in [
        (lambda: prod.send(), "send() missing required argument 'data'"),
        (lambda: prod.send(b"x", 1, 2), "send() takes at most 2 arguments (3 given)"),
        (lambda: prod.send(b"x", tmeout=1), "send() got an unexpected keyword argument 'tmeout'"),
        (lambda: prod.send(b"x", data=b"y"), "send() got multiple values for argument 'data'"),
        (lambda: prod.send(12), "bytes-like"),
        (lambda: prod.reserve("4"), "integer"),
        (lambda: cons.recv(1, 2), "recv() takes at most 1 argument (2 given)"),
        (lambda: cons.peek(wait=1), "peek() got an unexpected keyword argument 'wait'"),
    ]:
        with pytest.raises(TypeError) as e:
            call()
        assert words in str(e.value)
    with pytest.raises(OverflowError):
        prod.reserve(1 << 80)
    r = prod.reserve(4)
    with pytest.raises(TypeError):
        r.commit(1, 2)
    with pytest.raises(ValueError):
        r.commit(5)  # more than reserved
    r.abandon()


def test_message_larger_than_the_ring(pair):
    prod, _ = pair
    with pytest.raises(shmring.MessageTooLarge) as e:
        prod.reserve(prod.capacity + 1)
    assert e.value.errno == errno.EMSGSIZE
    assert "capacity" in str(e.value)
    # send of such a message goes in pieces: with nobody reading, it times out
    with pytest.raises(shmring.Timeout):
        prod.send(b"x" * (prod.capacity * 2), timeout=0.05)


def test_wrong_role(pair):
    prod, cons = pair
    with pytest.raises(shmring.InvalidOperation) as e:
        cons.send(b"x")
    assert e.value.errno == errno.EBADF
    with pytest.raises(shmring.InvalidOperation):
        prod.recv(timeout=0)
    with pytest.raises(shmring.InvalidOperation):
        iter(prod)


def test_use_after_close(pair):
    prod, cons = pair
    prod.close()
    cons.close()
    for call in (lambda: prod.send(b"x"), lambda: cons.recv(), lambda: cons.peek(),
                 lambda: prod.reserve(1), prod.flush, prod.stats, lambda: next(iter(cons)),
                 lambda: prod.capacity):
        with pytest.raises(shmring.Closed):
            call()
    prod.close()  # idempotent


def test_send_after_the_consumer_closed(pair):
    prod, cons = pair
    cons.close()
    with pytest.raises(shmring.Closed) as e:
        for _ in range(10000):
            prod.send(b"x" * 100, timeout=1)
    assert e.value.errno == errno.EPIPE


def test_reserve_without_commit(pair):
    prod, cons = pair
    r = prod.reserve(8)
    with pytest.raises(shmring.InvalidOperation) as e:
        prod.reserve(8)
    assert "reservation is open" in str(e.value)
    with pytest.raises(shmring.InvalidOperation):
        prod.send(b"x")
    r.abandon()
    with pytest.raises(shmring.InvalidOperation):
        r.commit()  # already abandoned
    prod.send(b"ok")
    assert cons.recv() == b"ok"


def test_an_abandoned_reservation_gives_its_room_back(pair):
    prod, cons = pair
    prod.reserve(16).abandon()
    with prod.reserve(32) as buf:  # larger than the abandoned one: fine
        buf[:] = b"y" * 32
    prod.send(b"small")
    assert cons.recv() == b"y" * 32 and cons.recv() == b"small"
    with pytest.raises(shmring.Timeout):
        cons.recv(timeout=0)  # the abandoned one never arrives


def test_commit_length_out_of_range(pair):
    prod, _ = pair
    r = prod.reserve(8)
    with pytest.raises(ValueError):
        r.commit(9)
    with pytest.raises(ValueError):
        r.commit(0)
    r.abandon()


def test_peek_while_a_message_is_held(pair):
    prod, cons = pair
    prod.send(b"a")
    prod.send(b"b")
    with cons.peek():
        with pytest.raises(shmring.InvalidOperation):
            cons.peek()
        with pytest.raises(shmring.InvalidOperation):
            cons.recv()


def test_peek_at_end_of_stream(pair):
    prod, cons = pair
    prod.close()
    with pytest.raises(shmring.EndOfStream):
        cons.peek()
    with pytest.raises(EOFError):
        cons.peek()


def test_peer_dead(pair):
    prod, cons = pair
    # a producer in another process that dies without closing
    code = ("import os, shmring; p = shmring.Ring.attach(%r, 'producer'); p.send(b'x'); "
            "os._exit(0)" % prod.name)
    prod.detach()
    subprocess.run([PY, "-c", code], check=True, timeout=30, env=kernel_env_or_os())
    assert cons.recv(timeout=1) == b"x"
    with pytest.raises(shmring.PeerDead) as e:
        cons.recv(timeout=1)
    assert e.value.errno == errno.EOWNERDEAD


def kernel_env_or_os():
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(shmring.__file__))
    env["PYTHONPATH"] = pkg + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def test_kernel_outside_a_supervisor():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHMRING_")}
    with pytest.raises(shmring.NotFound) as e:
        old = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            shmring.Kernel()
        finally:
            os.environ.clear()
            os.environ.update(old)
    assert "supervisor" in str(e.value)


def test_a_dropped_reservation_is_abandoned_with_a_resource_warning(pair):
    prod, cons = pair
    prod.reserve(8)  # dropped at once: nobody can commit it
    with pytest.warns(ResourceWarning):
        prod.send(b"ok")
    assert cons.recv() == b"ok"
    assert cons.stats()["msgs_in"] == 1
    # the same once its view was made (the view is made at first use)
    r = prod.reserve(8)
    r.view[0] = 1
    del r
    with pytest.warns(ResourceWarning):
        prod.send(b"ok2")
    assert cons.recv() == b"ok2"
    # ... and once the user released its view first
    r = prod.reserve(8)
    r.view.release()
    del r
    with pytest.warns(ResourceWarning):
        prod.send(b"ok3")
    assert cons.recv() == b"ok3"
    # a reservation still referenced is not abandoned behind the user's back
    r = prod.reserve(8)
    with pytest.raises(shmring.InvalidOperation):
        prod.send(b"no")
    r.commit(1)
