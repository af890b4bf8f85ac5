"""Keep freed memory in the process instead of handing it back to the OS (glibc only).

glibc's malloc serves blocks above a threshold with mmap and unmaps them when freed, and trims
the heap's free top above another, so every network call on a large image faults in its
activations afresh (tens of MB per layer). On a 2-core CPU that made a 61,440-atom energy +
forces call 3× slower than the same work from reused memory, and the cost per atom grow with
the cell (benchmarks/performance.py). PyTorch's CPU tuning guide advises jemalloc or TCMalloc
for the same reason; these two malloc settings (no mmap, never trim) get the same effect
without a preload. They hold for the whole process and its memory never shrinks, so nothing
turns them on unasked: opt in with ``CNNASCalculator(keep_freed_memory=True)`` or a call here.
"""
from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc <malloc.h>


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and never trim it (-1: off, mallopt(3)); True where
    it took effect."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, -1))
