"""Let a CPU training process keep the memory it frees (glibc's ``mallopt``).

A training step on CPU allocates and frees the same tensors of a few to a few tens
of MB again and again. By default glibc hands blocks that large back to the kernel
(``munmap``, heap trimming) and the next step faults every page back in: on two
cores the kernel's share of a 3-view training step was a third of its CPU time.
Raising the mmap and trim thresholds keeps those blocks in the process heap for
reuse (the repository's ``benchmarks/bench_allocator.py`` measures the difference).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["tune_cpu_allocator"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_cpu_allocator(mmap_threshold=1 << 25, trim_threshold=1 << 30):
    """Keep freed tensor memory in the process instead of returning it to the kernel.

    Process-wide and for the rest of the process's life: the applications
    (``sklearn-hallu`` commands, ``reproduce``) call it at start; call it once at the
    top of a training script. Resident memory then stays at its peak instead of
    shrinking between steps. Returns False and changes nothing where the C library
    has no ``mallopt`` (macOS, musl); with another allocator preloaded (tcmalloc,
    jemalloc) the call reaches glibc and is harmless.

    Parameters
    ----------
    mmap_threshold : int, default=32 MiB
        Blocks at least this large go straight to the kernel (glibc's maximum).
    trim_threshold : int, default=1 GiB
        Free memory at the top of the heap beyond this is returned to the kernel.

    Returns
    -------
    bool
        Whether both settings were applied.

    Examples
    --------
    >>> from sklearn_hallu.utils import tune_cpu_allocator
    >>> tune_cpu_allocator() in (True, False)
    True
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if not 0 <= int(value) < 2**31:
            raise ValueError(f"tune_cpu_allocator: {name}={value!r} must be in [0, 2**31) "
                             "bytes (a C int)")
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
                and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
