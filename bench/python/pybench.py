#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python against Python, same run, same cores: shmring's binding vs pyzmq
(PUSH/PULL, PAIR) vs iceoryx2's Python binding.

    pybench.py [--quick] [--csv FILE] [--cores A,B] [--plot PNG] [--build DIR]
    pybench.py --summary CSV...   (the docs' tables from several runs)
    pybench.py --replot CSV PNG   (a saved run's sweep drawn again)

Five measurements, between processes pinned to the two cores:
  stream   one process sends N messages of a size, the other receives them
           (msg/s at the receiver, first to last message);
  relay    a Python relay between them: source (core A) -> relay (core B)
           -> sink (core A), 64 B, each hop its transport's own way;
  rtt      64-byte ping-pong (p50/p99 of the round trip, after a warm-up);
  frames   1 MiB float32 frames, shmring only: numpy writes each frame into
           the ring (reserve) and sums it where it lies (peek), against the
           same work in C (DIR/bench/frames-bench) in the same run;
  sweep    stream by size, copy (bytes objects) against zero-copy
           (memoryviews of the transport's memory), pyzmq's copy=False;
           --plot draws it (gnuplot), msg/s by size.
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


# ---- relays: receive a message and send it on, as a relay kernel does ----

def shm_relay(a, b, n):
    for _, m in zip(range(n), a):  # the message is a view into ring a
        b.send(m)  # one copy, into ring b
    a.release()
    b.flush()


def zmq_relay(a, b, n):
    for _ in range(n):
        b.send(a.recv())


def iox_relay(a, b, n):
    for _ in range(n):
        s = iox_recv(a[3], a[4])
        sl = s.payload()
        out = b[3].loan_slice_uninit(sl.number_of_elements)
        ctypes.memmove(out.payload_ptr, sl.data_ptr, sl.number_of_elements)
        out.assume_init().send()
        if b[4]:
            b[4].notify()
        del s


RELAY = {"shmring": shm_relay, "pyzmq": zmq_relay, "iceoryx2-event": iox_relay,
         "iceoryx2-poll": iox_relay}


def open_relay(peer, name, size):
    """The relay's two ends: (input from the source, output to the sink)."""
    if peer == "shmring":
        import shmring
        return (shmring.Ring.attach(name + "-a", "consumer"),
                shmring.Ring.attach(name + "-b", "producer"))
    if peer == "pyzmq":
        d = tempfile.gettempdir()
        return (zmq_sock("stream", "rx", f"ipc://{d}/{name}-a.ipc"),
                zmq_sock("stream", "tx", f"ipc://{d}/{name}-b.ipc"))
    ev = peer == "iceoryx2-event"
    return iox_ports(name + "-a", "rx", size, ev), iox_ports(name + "-b", "tx", size, ev)


# ---- numpy frames, zero-copy both ways ----

def frame_of(size):
    import numpy as np
    return (np.arange(size // 4) % 7).astype(np.float32)  # as frames-bench.c


def frames_tx(r, size, n):
    import numpy as np
    frame = frame_of(size)
    for _ in range(n):
        with r.reserve(size) as buf:
            np.frombuffer(buf, np.float32)[:] = frame
    r.flush()


def frames_rx(r, size, n):
    import numpy as np
    want = float(frame_of(size).sum())
    bad = 0
    for i in range(n):
        with r.peek() as view:
            if i == 0:
                t0 = time.perf_counter()
            bad += float(np.frombuffer(view, np.float32).sum()) != want
    if bad:
        raise SystemExit(f"pybench: {bad} frames summed wrong")
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
    if kind == "relay":
        a, b = open_relay(peer, name, size)
        print("ready", flush=True)
        RELAY[peer](a, b, n)
        if peer.startswith("iceoryx2"):
            time.sleep(0.5)  # its sink takes the last samples before the publisher goes
        return
    if kind == "frames":
        import shmring
        side = shmring.Ring.attach(name, "consumer")
        print("ready", flush=True)
        t0, t1 = frames_rx(side, size, n)
    else:
        side = open_side(peer, "stream", "rx", name + ("-b" if kind == "relay-rx" else ""), size)
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
    if kind == "relay":
        return [shmring.Ring.create(name + "-a", capacity=cap),
                shmring.Ring.create(name + "-b", capacity=cap)]
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


def run_relay(peer, n, cores):
    """source (cores[0]) -> Python relay (cores[1]) -> sink (cores[0]), 64 B."""
    name = f"pybench-{os.getpid()}-{peer}-relay"
    owned = shm_rings(name, "relay", 64) if peer == "shmring" else []
    sink = spawn(peer, "relay-rx", "copy", 64, n, name, cores[0])
    kids = [sink]
    try:
        assert sink.stdout.readline().strip() == "ready"
        kids.append(spawn(peer, "relay", "copy", 64, n, name, cores[1]))
        assert kids[1].stdout.readline().strip() == "ready"
        pin(cores[0])
        side = open_side(peer, "stream", "tx", name + "-a", 64)
        if peer.startswith("iceoryx2"):
            time.sleep(0.2)
        TX[peer](side, "copy", 64, n)
        rate = float(sink.stdout.readline())
        for k in kids:
            k.wait(timeout=60)
        if peer == "shmring":
            side.close()
        return rate
    finally:
        for k in kids:
            finish(k, [])
        for r in owned:
            r.close()


def run_frames(n, cores, build):
    """1 MiB numpy frames through shmring from Python, and the same in C."""
    size = 1 << 20
    name = f"pybench-{os.getpid()}-frames"
    owned = shm_rings(name, "stream", size)
    c = spawn("shmring", "frames", "zerocopy", size, n, name, cores[1])
    try:
        assert c.stdout.readline().strip() == "ready"
        pin(cores[0])
        import shmring
        side = shmring.Ring.attach(name, "producer")
        frames_tx(side, size, n)
        py = float(c.stdout.readline())
        c.wait(timeout=60)
        side.close()
    finally:
        finish(c, owned)
    exe = os.path.join(build, "bench", "frames-bench")
    if not os.access(exe, os.X_OK):
        print(f"pybench: {exe} is missing (build the project): no C figure", file=sys.stderr)
        return py, None
    out = subprocess.run([exe, str(size), str(n), str(cores[0]), str(cores[1])],
                         capture_output=True, text=True, timeout=120)
    if out.returncode:
        raise SystemExit(f"pybench: frames-bench failed: {out.stderr.strip()}")
    return py, float(out.stdout)


def floor_ns(build, cores):
    """The raw cache-line round trip between the two cores (zmq-pushpull
    floor): this VM's vCPUs land close (~150 ns) or far (~550 ns) apart, and
    shared memory feels it; None without the build's tool."""
    exe = os.path.join(build, "bench", "zmq-pushpull")
    try:
        out = subprocess.run([exe, "floor", str(cores[0]), str(cores[1])], capture_output=True,
                             text=True, timeout=60)
        return float(out.stdout.split()[0]) if out.returncode == 0 else None
    except (OSError, ValueError, IndexError):
        return None


def plot(rows, png):
    """The sweep, msg/s by size, copy against zero-copy (gnuplot)."""
    series = {}
    for test, peer, mode, size, value, _ in rows:
        if test == "sweep" or (test == "stream" and size == 64):
            series.setdefault((peer, mode), []).append((size, value))
    if not series:
        return
    data, plots = [], []
    for i, ((peer, mode), pts) in enumerate(sorted(series.items())):
        data.append("\n".join(f"{s} {v}" for s, v in sorted(pts)) + "\ne")
        title = f"{peer} {'bytes (copy)' if mode == 'copy' else 'memoryview (zero-copy)'}"
        plots.append(f"'-' using 1:2 with linespoints dt {1 if mode == 'copy' else 2} "
                     f"lc {i // 2 + 1} title '{title}'")
    gp = ["set terminal pngcairo size 800,480 noenhanced font ',10'", f"set output '{png}'",
          "set logscale xy", "set grid", "set key bottom left font ',9'",
          "set title 'Python to Python, one way: copy (every byte) against zero-copy "
          "(one byte written and read in place)' font ',10'",
          "set xlabel 'message size (bytes)'", "set ylabel 'messages/s at the receiver'",
          "plot " + ", ".join(plots)] + data
    try:
        subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True, check=True)
        print(f"pybench: plot written to {png}", file=sys.stderr)
    except FileNotFoundError:
        print("pybench: gnuplot is not installed (apt-get install gnuplot-nox): no plot",
              file=sys.stderr)


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


def load_csv(path):
    """A run's rows as (test, peer, mode, size, value, unit), or exit with
    one line naming the file and the problem."""
    try:
        with open(path) as f:
            return [(r["test"], r["peer"], r["mode"], int(r["size"]), float(r["value"]),
                     r["unit"]) for r in csv.DictReader(f)]
    except OSError as e:
        sys.exit(f"pybench: cannot read {path}: {e.strerror}")
    except (KeyError, ValueError, TypeError) as e:
        sys.exit(f"pybench: {path} is not a pybench CSV ({e!r}): give a file written by --csv")


def summary(paths):
    """Markdown tables of several runs' CSV files: medians, and each ratio
    taken within a run (shmring against the peer of the same run), then its
    median. Runs of different placements go in different tables."""
    import statistics
    runs = {}
    for p in paths:
        rows = {(test, peer, mode, size): value
                for test, peer, mode, size, value, _ in load_csv(p)}
        f0, f1 = rows.get(("floor-first", "-", "-", 64)), rows.get(("floor-last", "-", "-", 64))
        place = "unknown" if not (f0 and f1) else "close" if f0 < 300 and f1 < 300 else (
            "far" if f0 >= 300 and f1 >= 300 else "mixed")
        runs.setdefault(place, []).append(rows)
    peers = ("shmring", "pyzmq", "iceoryx2-event", "iceoryx2-poll")
    cases = (("stream", "copy", "stream, copy (`bytes`), msg/s", 1),
             ("stream", "zerocopy", "stream, zero-copy (memoryview), msg/s", 1),
             ("relay", "copy", "relay (source -> Python relay -> sink), msg/s", 1),
             ("rtt-p50", "copy", "round trip p50, us", -1),
             ("rtt-p99", "copy", "round trip p99, us", -1))
    for place, rs in runs.items():
        print(f"\n{place} placement, {len(rs)} runs (median; ratio: shmring / peer, or for round "
              "trips peer / shmring, taken in each run)\n")
        print("| 64 B | " + " | ".join(peers) + " | vs pyzmq | vs iceoryx2 (event) | vs iceoryx2 (poll) |")
        print("| --- |" + " ---: |" * (len(peers) + 3))
        for test, mode, label, sense in cases:
            cells, ratios = [], []
            for peer in peers:
                v = [r[(test, peer, mode, 64)] for r in rs if (test, peer, mode, 64) in r]
                m = statistics.median(v) if v else None
                cells.append("-" if m is None else f"{m:.2f}" if sense < 0 else f"{m / 1e6:.3f} M")
            for peer in peers[1:]:
                q = [(r[(test, "shmring", mode, 64)] / r[(test, peer, mode, 64)]) ** sense for r in rs
                     if (test, peer, mode, 64) in r and (test, "shmring", mode, 64) in r]
                ratios.append(f"{statistics.median(q):.1f}x" if q else "-")
            print(f"| {label} | " + " | ".join(cells + ratios) + " |")
        q = [r[("frames", "shmring", "zerocopy", 1 << 20)] / r[("frames", "C", "zerocopy", 1 << 20)]
             for r in rs if ("frames", "C", "zerocopy", 1 << 20) in r]
        if q:
            py = statistics.median(r[("frames", "shmring", "zerocopy", 1 << 20)] for r in rs)
            c = statistics.median(r[("frames", "C", "zerocopy", 1 << 20)] for r in rs
                                  if ("frames", "C", "zerocopy", 1 << 20) in r)
            print(f"\n1 MiB float32 frames, numpy zero-copy (write in place, sum in place): "
                  f"Python {py:.0f} frames/s, C {c:.0f} frames/s, Python / C {statistics.median(q):.2f}x "
                  "(median of the runs' ratios)")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--replot":
        # --replot CSV PNG: draw a saved run's sweep again (no measuring)
        if len(sys.argv) != 4:
            sys.exit("usage: pybench.py --replot CSV PNG")
        return plot(load_csv(sys.argv[2]), sys.argv[3])
    if len(sys.argv) > 1 and sys.argv[1] == "--summary":
        return summary(sys.argv[2:])
    ap = argparse.ArgumentParser(description="shmring vs pyzmq vs iceoryx2, from Python")
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the message counts")
    ap.add_argument("--csv", help="write the results here too")
    ap.add_argument("--cores", default="0,1", help="the two cores (default 0,1)")
    ap.add_argument("--peers", default="shmring,pyzmq,iceoryx2-event,iceoryx2-poll")
    ap.add_argument("--no-sweep", action="store_true", help="no sweep by size")
    ap.add_argument("--plot", help="draw the sweep into this PNG (gnuplot)")
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "..", "..", "build"),
                    help="the build folder with bench/frames-bench (default ./build)")
    a = ap.parse_args()
    cores = [int(x) for x in a.cores.split(",")]
    peers = a.peers.split(",")
    scale = 0.05 if a.quick else a.scale
    rows = []

    def row(*r):
        rows.append(r)
        print(",".join(str(x) for x in r), flush=True)

    print("test,peer,mode,size,value,unit", flush=True)
    f0 = floor_ns(a.build, cores)
    for peer in peers:
        for mode in ("copy", "zerocopy"):
            n = int(300_000 * scale) or 1000
            row("stream", peer, mode, 64, round(run_stream(peer, mode, 64, n, cores)), "msg/s")
    for peer in peers:
        n = int(300_000 * scale) or 1000
        row("relay", peer, "copy", 64, round(run_relay(peer, n, cores)), "msg/s")
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
    if "shmring" in peers:
        py, c = run_frames(max(100, int(4000 * scale)), cores, a.build)
        row("frames", "shmring", "zerocopy", 1 << 20, round(py), "msg/s")
        if c:
            row("frames", "C", "zerocopy", 1 << 20, round(c), "msg/s")
            print(f"# frames: Python {py / c:.2f}x C", flush=True)
    f1 = floor_ns(a.build, cores)
    if f0 and f1:
        row("floor-first", "-", "-", 64, f0, "ns")
        row("floor-last", "-", "-", 64, f1, "ns")
        place = "close" if f0 < 300 and f1 < 300 else "far" if f0 >= 300 and f1 >= 300 else "mixed"
        print(f"# placement: {place} (raw cache-line round trip {f0:.0f} / {f1:.0f} ns, before "
              "and after; keep rounds of different placements apart)", flush=True)
    if a.plot:
        plot(rows, a.plot)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["test", "peer", "mode", "size", "value", "unit"])
            w.writerows(rows)


if __name__ == "__main__":
    main()
