#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python against Python, same run, same cores: shmring's binding vs pyzmq
(PUSH/PULL, PAIR) vs iceoryx2's Python binding.

    pybench.py [--quick] [--csv FILE] [--cores A,B]

Three measurements, each between two processes pinned to two cores:
  stream   one process sends N messages of a size, the other receives them
           (msg/s at the receiver, first to last message);
  rtt      64-byte ping-pong (p50/p99 of the round trip, after a warm-up);
  sweep    stream by size, copy (bytes objects) against zero-copy
           (memoryviews of the transport's memory), pyzmq's copy=False.
Each peer is used the way its own examples use it: shmring's blocking
send/recv (adaptive wait) and reserve/iteration; pyzmq over ipc://,
send/recv and copy=False; iceoryx2 publish-subscribe of Slice[c_uint8]
with loans, woken through its event service (notify after each send, as
its event-based example does), and, as its best case, the same polling
without the event service.
"""
import argparse
import csv
import ctypes
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)


def pin(core):
    if core is not None:
        os.sched_setaffinity(0, {core})


# ---- shmring ----

def shm_side(role, name, mode, size, n):
    import shmring
    r = shmring.Ring.attach(name, "producer" if role == "tx" else "consumer")
    return r


def shm_tx(r, mode, size, n):
    payload = b"x" * size
    if mode == "copy":
        for _ in range(n):
            r.send(payload)
    else:
        for i in range(n):
            with r.reserve(size) as buf:
                buf[0] = i & 255  # the data is made in place
    r.flush()


def shm_rx(r, mode, size, n):
    if mode == "copy":
        m = r.recv()
        t0 = time.perf_counter()
        for _ in range(n - 1):
            m = r.recv()
    else:
        it = iter(r)
        m = next(it)
        t0 = time.perf_counter()
        for _ in range(n - 1):
            m = next(it)
            m[0]  # read in place
        r.release()
    return t0, time.perf_counter()


# ---- pyzmq ----

def zmq_sock(kind, role, addr):
    import zmq
    ctx = zmq.Context.instance()
    t = {"stream": (zmq.PUSH, zmq.PULL), "rtt": (zmq.PAIR, zmq.PAIR)}[kind]
    s = ctx.socket(t[0] if role == "tx" else t[1])
    s.setsockopt(zmq.SNDHWM, 0 if kind == "stream" else 1000)
    s.setsockopt(zmq.RCVHWM, 0 if kind == "stream" else 1000)
    (s.bind if role == "rx" else s.connect)(addr)
    return s


def zmq_tx(s, mode, size, n):
    payload = b"x" * size
    copy = mode == "copy"
    for _ in range(n):
        s.send(payload, copy=copy)


def zmq_rx(s, mode, size, n):
    copy = mode == "copy"
    m = s.recv(copy=copy)
    t0 = time.perf_counter()
    for _ in range(n - 1):
        m = s.recv(copy=copy)
        if not copy:
            m.buffer[0]
    return t0, time.perf_counter()


# ---- iceoryx2 ----

def iox_ports(name, role, size, events):
    import iceoryx2 as iox2
    iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    svc = (node.service_builder(iox2.ServiceName.new(name))
           .publish_subscribe(iox2.Slice[ctypes.c_uint8])
           .enable_safe_overflow(False).subscriber_max_buffer_size(256)
           .open_or_create())
    ev = node.service_builder(iox2.ServiceName.new(name + "/ev")).event().open_or_create()
    if role == "tx":
        port = (svc.publisher_builder().initial_max_slice_len(size)
                .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered).create())
        side = ev.notifier_builder().create() if events else None
    else:
        port = svc.subscriber_builder().buffer_size(256).create()
        side = ev.listener_builder().create() if events else None
    return (node, svc, ev, port, side)


def iox_send(pub, notifier, size, i):
    s = pub.loan_slice_uninit(size)
    ctypes.memset(s.payload_ptr, i & 255, 1)  # the data is made in place
    s.assume_init().send()
    if notifier:
        notifier.notify()


def iox_recv(sub, listener):
    import iceoryx2 as iox2
    while True:
        s = sub.receive()
        if s is not None:
            return s
        if listener:
            listener.timed_wait(iox2.Duration.from_millis(100))


def iox_tx(p, mode, size, n):
    for i in range(n):
        iox_send(p[3], p[4], size, i)


def iox_rx(p, mode, size, n):
    s = iox_recv(p[3], p[4])
    del s
    t0 = time.perf_counter()
    for _ in range(n - 1):
        s = iox_recv(p[3], p[4])
        sl = s.payload()  # a Slice: pointer and length into the shared memory
        if mode == "copy":
            ctypes.string_at(sl.data_ptr, sl.number_of_elements)
        else:
            sl[0]  # read in place
        del s
    return t0, time.perf_counter()


# ---- the two sides of each run ----

def open_side(peer, kind, role, name, size):
    if peer == "shmring":
        return shm_side(role, name, None, size, None)
    if peer == "pyzmq":
        return zmq_sock(kind, role, f"ipc://{tempfile.gettempdir()}/{name}.ipc")
    return iox_ports(name, role, size, events=peer == "iceoryx2-event")


TX = {"shmring": shm_tx, "pyzmq": zmq_tx, "iceoryx2-event": iox_tx, "iceoryx2-poll": iox_tx}
RX = {"shmring": shm_rx, "pyzmq": zmq_rx, "iceoryx2-event": iox_rx, "iceoryx2-poll": iox_rx}


def rtt_loop(peer, side, role, n, warm):
    """Ping-pong of 64 bytes; the pinger returns the round trips in ns."""
    payload = b"p" * 64
    if peer == "shmring":
        tx, rx = side
        send, recv = (lambda: tx.send(payload)), rx.recv
    elif peer == "pyzmq":
        send, recv = (lambda: side.send(payload)), side.recv
    else:
        (tx, rx) = side
        send = lambda: iox_send(tx[3], tx[4], 64, 1)  # noqa: E731
        recv = lambda: iox_recv(rx[3], rx[4])  # noqa: E731
    out = []
    for i in range(n + warm):
        if role == "ping":
            t = time.perf_counter_ns()
            send()
            recv()
            if i >= warm:
                out.append(time.perf_counter_ns() - t)
        else:
            recv()
            send()
    return out


def open_rtt(peer, role, name):
    if peer == "shmring":
        import shmring
        a = shmring.Ring.attach(name + "-a", "producer" if role == "ping" else "consumer")
        b = shmring.Ring.attach(name + "-b", "consumer" if role == "ping" else "producer")
        return (a, b) if role == "ping" else (b, a)  # (send, receive)
    if peer == "pyzmq":
        import zmq
        s = zmq.Context.instance().socket(zmq.PAIR)
        addr = f"ipc://{tempfile.gettempdir()}/{name}.ipc"
        (s.bind if role == "pong" else s.connect)(addr)
        return s
    ev = peer == "iceoryx2-event"
    ab = (name + "-a", name + "-b") if role == "ping" else (name + "-b", name + "-a")
    return (iox_ports(ab[0], "tx", 64, ev), iox_ports(ab[1], "rx", 64, ev))


# ---- child process entry ----

def child(argv):
    peer, kind, mode, size, n, name, core = argv
    size, n = int(size), int(n)
    pin(None if core == "-" else int(core))
    if kind == "rtt":
        side = open_rtt(peer, "pong", name)
        print("ready", flush=True)
        sys.stdin.readline()
        rtt_loop(peer, side, "pong", n, 1000)
        return
    side = open_side(peer, kind, "rx", name, size)
    print("ready", flush=True)
    t0, t1 = RX[peer](side, mode, size, n)
    print(f"{(n - 1) / (t1 - t0):.1f}", flush=True)


def spawn(peer, kind, mode, size, n, name, core):
    return subprocess.Popen([sys.executable, HERE, "--child", peer, kind, mode, str(size),
                             str(n), name, "-" if core is None else str(core)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def shm_rings(name, kind, size):
    import shmring
    cap = max(1 << 20, 4 * size + 4096)
    if kind == "rtt":
        return [shmring.Ring.create(name + "-a", capacity=1 << 16),
                shmring.Ring.create(name + "-b", capacity=1 << 16)]
    return [shmring.Ring.create(name, capacity=cap)]


def finish(c, owned):
    """Reap the child (killed if still there) and remove the rings made here."""
    if c.poll() is None:
        c.kill()
    c.wait()
    for r in owned:
        r.close()


def run_stream(peer, mode, size, n, cores):
    name = f"pybench-{os.getpid()}-{peer}-{size}-{mode}"
    owned = shm_rings(name, "stream", size) if peer == "shmring" else []
    c = spawn(peer, "stream", mode, size, n, name, cores[1])
    try:
        assert c.stdout.readline().strip() == "ready"
        pin(cores[0])
        side = open_side(peer, "stream", "tx", name, size)
        if peer.startswith("iceoryx2"):
            time.sleep(0.2)  # the subscriber is connected on the publisher's next send
        TX[peer](side, mode, size, n)
        rate = float(c.stdout.readline())
        c.wait(timeout=60)
        if peer == "shmring":
            side.close()
        return rate
    finally:
        finish(c, owned)


def run_rtt(peer, n, cores):
    name = f"pybench-{os.getpid()}-{peer}-rtt"
    owned = shm_rings(name, "rtt", 64) if peer == "shmring" else []
    c = spawn(peer, "rtt", "copy", 64, n, name, cores[1])
    try:
        assert c.stdout.readline().strip() == "ready"
        pin(cores[0])
        side = open_rtt(peer, "ping", name)
        if peer.startswith("iceoryx2"):
            time.sleep(0.2)
        c.stdin.write("go\n")
        c.stdin.flush()
        rtts = sorted(rtt_loop(peer, side, "ping", n, 1000))
        c.wait(timeout=60)
    finally:
        finish(c, owned)
    return rtts[len(rtts) // 2] / 1000, rtts[len(rtts) * 99 // 100] / 1000


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    ap = argparse.ArgumentParser(description="shmring vs pyzmq vs iceoryx2, from Python")
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the message counts")
    ap.add_argument("--csv", help="write the results here too")
    ap.add_argument("--cores", default="0,1", help="the two cores (default 0,1)")
    ap.add_argument("--peers", default="shmring,pyzmq,iceoryx2-event,iceoryx2-poll")
    ap.add_argument("--no-sweep", action="store_true", help="only the 64-byte stream and rtt")
    a = ap.parse_args()
    cores = [int(x) for x in a.cores.split(",")]
    peers = a.peers.split(",")
    scale = 0.05 if a.quick else a.scale
    rows = []

    def row(*r):
        rows.append(r)
        print(",".join(str(x) for x in r), flush=True)

    print("test,peer,mode,size,value,unit", flush=True)
    for peer in peers:
        for mode in ("copy", "zerocopy"):
            n = int(300_000 * scale) or 1000
            row("stream", peer, mode, 64, round(run_stream(peer, mode, 64, n, cores)), "msg/s")
    for peer in peers:
        p50, p99 = run_rtt(peer, int(20_000 * scale) or 500, cores)
        row("rtt-p50", peer, "copy", 64, round(p50, 2), "us")
        row("rtt-p99", peer, "copy", 64, round(p99, 2), "us")
    for size in () if a.no_sweep else (256, 1024, 4096, 16384, 65536, 262144, 1048576):
        for peer in peers:
            for mode in ("copy", "zerocopy"):
                n = max(200, int(min(200_000, 2e9 / size / 4) * scale))
                rate = run_stream(peer, mode, size, n, cores)
                row("sweep", peer, mode, size, round(rate), "msg/s")
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["test", "peer", "mode", "size", "value", "unit"])
            w.writerows(rows)


if __name__ == "__main__":
    main()
