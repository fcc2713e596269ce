"""The C heap of a process that works through a recording a page of frames at a time.

glibc's malloc gives a block above its mmap threshold pages of its own, and raises the threshold
as such blocks are freed; but it hands the top of the heap back to the kernel whenever more than
twice the threshold lies free there. Each page of frames makes and frees tens of MB of numpy
temporaries, so each would fault its memory in afresh. ``keep_freed_memory`` raises both
thresholds above a page's working set, so memory freed is reused: the decoding process of 8 h of
frames (services.read_ahead) takes 7,500 page faults instead of 12,800, and `sitload analyze`
is 5 % faster (docs/performance.md); the process's peak stays what it was.
"""

from __future__ import annotations

import ctypes
import sys

KEEP_BYTES = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3     # mallopt's parameters (malloc.h)


def keep_freed_memory() -> None:
    """Keep freed memory in this process's heap for its next allocations (glibc; elsewhere
    nothing changes)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):     # a C library without mallopt
        return
    mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES)
