# SPDX-License-Identifier: MIT
"""A kernel asking for a port its topology lacks: one line, exit 78."""
import shmring

with shmring.Kernel() as k:
    k.port("nonesuch")
