#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write large topology files into a fuzz corpus folder.

The committed seeds (tests/fuzz/seeds/) stay small; these are generated so
fuzz-topology also starts from files at and past the limits: the largest
topology accepted (1024 kernels, 4096 rings), a kernel with very many ports,
long argument and environment lists, aliases that would multiply a list,
more kernels or rings than a topology may have, and long pipelines.

usage: gen-large-topology.py DIR [--max-bytes N]
Then: fuzz-topology -max_len=N DIR tests/fuzz/seeds   (N: the largest file)
"""
import argparse
import os


def largest():
    out = ["topology: largest",
           "supervision: { strategy: rest_for_one, intensity: 10, period: 1m, grace: 1s, ready: 2m }",
           "kernels:"]
    for k in range(1024):
        out.append(f"  - {{ name: k{k}, exec: ./k, inputs: [a, b, c, d], "
                   f"outputs: [a2, b2, c2, d2], cpu: {'auto' if k % 3 else k % 64} }}")
    out.append("rings:")
    caps = ["4096", "5000", "64KiB", "1M", "1GiB", "12345"]
    for i, p in enumerate("abcd"):
        for k in range(1024):
            out.append(f"  - {{ from: k{k}.{p}2, to: k{(k + 1) % 1024}.{p}, "
                       f"capacity: {caps[(k + i) % len(caps)]} }}")
    return out


def many_ports(n):
    return ["topology: ports", "kernels:", "  - name: k", "    exec: /bin/cat",
            "    inputs: [" + ", ".join(f"p{i}" for i in range(n)) + "]"]


def many_values(n):
    return ["topology: values", "kernels:", "  - name: k", "    exec: /bin/cat",
            "    args: [" + ", ".join(f'"--a{i}"' for i in range(n)) + "]",
            "    env: {" + ", ".join(f"V{i}: x{i}" for i in range(n)) + "}"]


def aliases(n, times):
    out = ["topology: aliases", "kernels:",
           "  - { name: k0, exec: e, args: &a [" + ", ".join("a" for _ in range(n)) + "] }"]
    out += [f"  - {{ name: k{k}, exec: e, args: *a, env: &e {{ X: y }} }}" if k == 1
            else f"  - {{ name: k{k}, exec: e, args: *a, env: *e }}" for k in range(1, times)]
    return out


def too_many_kernels(n):
    return ["topology: kernels", "kernels:"] + [
        f"  - {{ name: k{k}, exec: e }}" for k in range(n)]


def too_many_rings(n):
    return (["topology: rings", "kernels:",
             "  - { name: a, exec: e, outputs: [" + ", ".join(f"o{i}" for i in range(n)) + "] }",
             "  - { name: b, exec: e, inputs: [" + ", ".join(f"i{i}" for i in range(n)) + "] }",
             "rings:"] + [f"  - {{ from: a.o{i}, to: b.i{i} }}" for i in range(n)])


def chain(n):
    out = ["topology: chain", "kernels:"]
    for k in range(n):
        ins = ", inputs: [in]" if k else ""
        outs = ", outputs: [out]" if k + 1 < n else ""
        out.append(f"  - {{ name: k{k}, exec: ./k{ins}{outs} }}")
    out.append("rings:")
    out += [f"  - {{ from: k{k}.out, to: k{k + 1}.in }}" for k in range(n - 1)]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--max-bytes", type=int, default=1 << 20,
                    help="skip files larger than this (default 1 MiB)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    files = {
        "large-largest.yaml": largest(),
        "large-ports-20000.yaml": many_ports(20000),
        "large-ports-8192.yaml": many_ports(8192),
        "large-values-20000.yaml": many_values(20000),
        "large-aliases.yaml": aliases(2000, 600),
        "large-kernels-1025.yaml": too_many_kernels(1025),
        "large-rings-4097.yaml": too_many_rings(4097),
        "large-chain-1024.yaml": chain(1024),
        "large-pipeline-1024.txt": [" ! ".join(["a-kernel-with-a-thirty-one-char"] * 1024)],
    }
    for name, lines in files.items():
        text = "\n".join(lines) + "\n"
        if len(text) > a.max_bytes:
            print(f"skipped {name}: {len(text)} bytes")
            continue
        with open(os.path.join(a.dir, name), "w") as f:
            f.write(text)
        print(f"{name}: {len(text)} bytes")


if __name__ == "__main__":
    main()
