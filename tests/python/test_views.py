# SPDX-License-Identifier: MIT
"""The lifetime of memoryviews into ring memory, and zero-copy with numpy."""
import pytest
import shmring

np = pytest.importorskip("numpy")


def shm_ranges(name):
    """The address ranges where /dev/shm/shmring.NAME is mapped here."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith(f"/dev/shm/shmring.{name}"):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                out.append((lo, hi))
    return out


def inside(addr, ranges):
    return any(lo <= addr < hi for lo, hi in ranges)


def test_a_view_used_after_its_message_was_released_raises(pair):
    prod, cons = pair
    prod.send(b"abc")
    with cons.peek() as view:
        pass
    with pytest.raises(ValueError):  # "operation forbidden on released memoryview"
        bytes(view)
    with pytest.raises(ValueError):
        view[0]


def test_iteration_views_die_with_their_message(pair):
    prod, cons = pair
    prod.send(b"one")
    prod.send(b"two")
    prod.close()
    views = list(cons)  # each one released when the next was taken
    for v in views:
        with pytest.raises(ValueError):
            v.tobytes()


def test_reserve_view_dies_at_commit(pair):
    prod, _ = pair
    with prod.reserve(4) as buf:
        buf[:] = b"abcd"
    with pytest.raises(ValueError):
        buf[0] = 1


def test_release_is_refused_while_a_numpy_array_points_in(pair):
    prod, cons = pair
    prod.send(np.arange(4, dtype=np.float32).tobytes())
    prod.send(b"next")
    it = iter(cons)
    arr = np.frombuffer(next(it), np.float32)
    with pytest.raises(BufferError) as e:
        next(it)  # would hand the message's memory back under arr
    assert "still points into the ring" in str(e.value)
    assert arr.sum() == 6  # still readable: the message is still held
    assert cons.stats()["msgs_out"] == 0
    del arr
    assert bytes(next(it)) == b"next"
    assert cons.stats()["msgs_out"] == 1


def test_release_is_refused_while_a_slice_points_in(pair):
    prod, cons = pair
    prod.send(b"abcdef")
    p = cons.peek()
    part = p.view[2:4]
    with pytest.raises(BufferError):
        p.release()
    assert bytes(part) == b"cd"
    # its view was released by the refused release: no second view is made
    with pytest.raises(shmring.InvalidOperation):
        p.view
    del part
    p.release()
    assert cons.stats()["msgs_out"] == 1


def test_close_is_refused_while_a_view_is_used(pair):
    prod, cons = pair
    prod.send(b"abcdef")
    p = cons.peek()
    arr = np.frombuffer(p.view, np.uint8)
    with pytest.raises(BufferError):
        cons.close()
    del arr
    cons.close()


def test_peek_view_aliases_ring_memory(pair):
    prod, cons = pair
    frame = np.linspace(0, 1, 1024, dtype=np.float32)
    prod.send(frame)
    ranges = shm_ranges(cons.name)
    assert ranges, "the ring's segment is mapped"
    with cons.peek() as view:
        arr = np.frombuffer(view, np.float32)
        assert inside(arr.ctypes.data, ranges)  # no copy: numpy reads the ring
        assert not arr.flags.writeable
        assert np.array_equal(arr, frame)
        del arr


def test_reserve_writes_through_numpy_into_the_ring(pair):
    prod, cons = pair
    ranges = shm_ranges(prod.name)
    frame = np.arange(2048, dtype=np.float32)
    with prod.reserve(frame.nbytes) as buf:
        dst = np.frombuffer(buf, np.float32)
        assert inside(dst.ctypes.data, ranges)
        dst[:] = frame
        del dst
    with cons.peek() as view:
        src = np.frombuffer(view, np.float32)
        assert inside(src.ctypes.data, ranges)
        assert np.shares_memory(src, np.frombuffer(view, np.float32))
        assert src.sum() == frame.sum()
        del src


def test_a_numpy_array_cannot_be_taken_from_a_released_message(pair):
    prod, cons = pair
    prod.send(b"abcd")
    p = cons.peek()
    p.release()
    with pytest.raises((shmring.Closed, ValueError, shmring.InvalidOperation)):
        np.frombuffer(p.view, np.uint8)
    with pytest.raises(shmring.Closed):
        memoryview(p)
