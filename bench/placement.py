# SPDX-License-Identifier: MIT
"""Which placement each benchmark round ran in, and the day-one targets of
docs/benchmarks.md ("Fast by default") computed round by round.

A VM's two vCPUs may land close together or far apart from one run to the
next (on the machine of docs/benchmarks.md, a raw cache-line round trip of
~150 or ~550 ns). Shared memory feels it and sockets do not, so a median
over rounds of both placements describes neither: run-all summarises each
placement apart. The placement of a round is read from its raw cache-line
round trip (`zmq-pushpull floor`, the "raw cache line" rows of
shmring-bench), measured at its start and at its end; the lower of the two
stands for the round (the first can be slow while a vCPU settles, and a
loaded moment only ever makes it slower):

* the rounds' floors, sorted, are split at their largest step when that
  step is a factor GAP or more: below it is "close", above it "far";
* without such a step every round ran in one placement ("one placement":
  which one cannot be told from these rounds alone);
* a round without a floor is "not measured", summarised apart and judged
  against no target.
"""
import math
import re
import statistics

GAP = 1.6  # close ~110-150 ns, far ~490-560 ns: a step of 3x; noise is < 1.3x
ORDER = ("close", "one placement", "far", "not measured")

# name, what it compares, target close (or one placement), target far
ROUND_TARGETS = (
    ("default_batched", "64 B `shmring_send`/`recv`, no option set / the batched path (32)", 0.9, 0.9),
    ("default_zmq", "64 B, no option set / the better ZeroMQ row (ipc, ipc tuned)", 20.0, 8.0),
    ("batched_zmq", "64 B batched (32) / the better ZeroMQ row", 12.0, 12.0),
    ("big_unix", "4 MiB copying, no option set / a Unix socket", 2.0, 2.0),
    ("spin_floor", "64 B spin round trip p50 / the raw cache line (no target: latency kept)",
     None, None),
)


def floors_of(rows):
    """A round's raw cache-line round trips (ns), in the order measured."""
    return [float(x["a"]) for x in rows
            if x["kind"] == "latency" and x["case"].startswith("raw cache line")]


def round_floor(floors):
    """The figure that stands for a round: its lowest floor, None if none."""
    return min(floors) if floors else None


def threshold(round_floors):
    """The boundary between the two placements, or None if one came up."""
    vals = sorted(v for v in round_floors if v)
    if len(vals) < 2:
        return None
    step, k = max((vals[i + 1] / vals[i], i) for i in range(len(vals) - 1))
    return math.sqrt(vals[k] * vals[k + 1]) if step >= GAP else None


def label(floor, thr):
    """close or far against the boundary; one placement without one."""
    if not floor:
        return "not measured"
    if thr is None:
        return "one placement"
    return "close" if floor < thr else "far"


def classify(round_floors):
    """Per round (its floors), its label; and the boundary (None when one
    placement)."""
    lows = [round_floor(fl) for fl in round_floors]
    thr = threshold(lows)
    return [label(v, thr) for v in lows], thr


def groups(labels):
    """label -> round indexes, in ORDER."""
    out = {}
    for i, lab in enumerate(labels):
        out.setdefault(lab, []).append(i)
    return {lab: out[lab] for lab in ORDER if lab in out}


def main_group(grouped):
    """The placement the plots show: the one with the most rounds (one not
    measured only when nothing else ran); ties go to the first in ORDER."""
    clean = {k: v for k, v in grouped.items() if k != "not measured"} or grouped
    return max(clean, key=lambda k: (len(clean[k]), -ORDER.index(k)))


def script_words(floors, thr, round_lows):
    """Where a topology-level script ran, from the floors around it, said
    against the rounds'."""
    if not floors:
        return "placement not measured"
    low = round_floor(floors)
    seen = "raw cache line %s ns before/after" % "/".join("%.0f" % v for v in floors)
    if thr is not None:
        return "%s placement, %s" % (label(low, thr), seen)
    lows = [v for v in round_lows if v]
    if lows and max(low / min(lows), max(lows) / low) >= GAP:
        return "another placement than the rounds' (%.0f-%.0f ns), %s" % (min(lows), max(lows), seen)
    return "the rounds' placement, %s" % seen


def round_ratios(rows):
    """The day-one ratios of one round (both sides of each measured in it):
    name -> ratio, for those whose figures the round has (INPUTS)."""
    fig = {(x["kind"], x["case"], int(x["size"])): float(x["a"]) for x in rows
           if x["kind"] in ("throughput", "latency")}

    def t(case, size):
        return fig.get(("throughput", case, size), 0.0)

    out = {}
    b1, bat = t("shmring copy batch 1", 64), t("shmring copy batched", 64)
    zmq = max(t("ZeroMQ ipc", 64), t("ZeroMQ ipc tuned", 64))
    for name, num, den in (("default_batched", b1, bat), ("default_zmq", b1, zmq),
                           ("batched_zmq", bat, zmq),
                           ("big_unix", t("shmring copy batch 1", 4194304),
                            t("unix socket", 4194304)),
                           ("spin_floor", fig.get(("latency", "shmring spin", 64), 0.0),
                            round_floor(floors_of(rows)) or 0.0)):
        if num > 0 and den > 0:
            out[name] = num / den
    return out


# The figures each ratio is made of: a ratio is not judged when one of them
# is too noisy in that placement (run-all refuses it).
T64 = ("throughput", "shmring copy batch 1", 64)
B64 = ("throughput", "shmring copy batched", 64)
Z64 = (("throughput", "ZeroMQ ipc", 64), ("throughput", "ZeroMQ ipc tuned", 64))
INPUTS = {
    "default_batched": (T64, B64),
    "default_zmq": (T64,) + Z64,
    "batched_zmq": (B64,) + Z64,
    "big_unix": (("throughput", "shmring copy batch 1", 4194304),
                 ("throughput", "unix socket", 4194304)),
    "spin_floor": (("latency", "shmring spin", 64), ("latency", "raw cache line (floor)", 64)),
}


def verdict(value, lab, close, far):
    """met or missed against the target of LAB's placement; VALUE as shown
    (two decimals), so that 0.899 shown as 0.90 is not called missed."""
    value = round(value, 2)
    if close is None:
        return ""
    if lab == "close":
        return "met" if value >= close else "**missed**"
    if lab == "far":
        return "met" if value >= far else "**missed**"
    if value >= max(close, far):
        return "met"
    return ("met for far only (%gx close)" % close) if value >= min(close, far) else "**missed**"


def target_for(lab, close, far):
    if close is None:
        return ""
    if close == far:
        return ">= %gx" % close
    if lab in ("close", "far"):
        return ">= %gx" % (close if lab == "close" else far)
    return ">= %gx close, >= %gx far" % (close, far)


def round_table(lab, rounds, ratios, judged=True, refused=()):
    """Markdown: each ratio's median over a placement's rounds, every round's
    value ("-" where not measured), the target for that placement and the
    verdict; none when not judged (run-all --quick, a placement not
    measured) or when a figure it is made of was refused (REFUSED: (kind,
    case, size) keys)."""
    judged = judged and lab != "not measured"
    md = ["| %s: %s | median | per round | target | |" % (
        lab, "round " + ", ".join(str(i + 1) for i in rounds)), "| --- | ---: | --- | --- | --- |"]
    for name, what, close, far in ROUND_TARGETS:
        vals = [ratios[i].get(name) for i in rounds]
        got = [v for v in vals if v is not None]
        target = target_for(lab, close, far)
        if not got:
            md.append("| %s | not measured | | %s | |" % (what, target))
            continue
        med = statistics.median(got)
        per = " ".join("-" if v is None else "%.2f" % v for v in vals)
        if close is None:
            say = ""
        elif any(k in refused for k in INPUTS[name]):
            say = "refused: a figure it is made of is too noisy"
        else:
            say = verdict(med, lab, close, far) if judged else "not judged"
        md.append("| %s | %.2fx | %s | %s | %s |" % (what, med, per, target, say))
    return md


def _cells(text, first, exact=False):
    """The cells of the first table row of TEXT whose first cell starts with
    FIRST (is FIRST, when exact)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and (cells[0] == first if exact else cells[0].startswith(first)):
            return cells
    return None


def _num(cell):
    m = re.match(r"^([0-9.]+)x?$", cell or "")
    return float(m.group(1)) if m else None


def script_ratios(name, text):
    """(what, ratio, target) from a topology-level script's tables."""
    out = []
    if name == "supervisor-bench.sh":
        for n in (8, 32, 64):
            c = _cells(text, str(n), exact=True)
            if c and len(c) >= 4:
                out.append(("chain of %d kernels on 2 cores, hops/s / a chain of 2" % n,
                            _num(c[3]), 0.5))
        c = _cells(text, "8 stages")
        if c and len(c) >= 4:
            out.append(("8-stage pipeline / ZeroMQ's", _num(c[3]), 5.0))
    elif name == "io-bench.sh":
        pairs = (("`file-source ! file-sink` / `cp`", "shmring-file-source ! shmring-file-sink",
                  "cp", 0.9),
                 ("`file-source ! tcp-sink -> tcp-source ! file-sink` / a read+send loop",
                  "file-source ! tcp-sink", "blocking read+send", 0.9))
        for what, a, b, target in pairs:
            ca, cb = _cells(text, a), _cells(text, b)
            if ca and cb and _num(ca[1]) and _num(cb[1]):
                out.append((what, _num(ca[1]) / _num(cb[1]), target))
    return [x for x in out if x[1] is not None]


def script_table(rows):
    """Markdown for the scripts' targets: (script, floors label, what, ratio, target)."""
    md = ["| topology-level case (script, placement) | ratio | target | |",
          "| --- | ---: | --- | --- |"]
    for script, where, what, ratio, target in rows:
        md.append("| %s (%s, %s) | %.2fx | >= %gx | %s |" % (
            what, script, where, ratio, target, "met" if ratio >= target else "**missed**"))
    return md
