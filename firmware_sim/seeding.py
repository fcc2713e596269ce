"""Deterministic random streams keyed by names and numbers.

Every random draw in the simulator comes from a generator keyed by what it is for (seed, day,
sensor, purpose, block), so a result does not depend on the order of draws elsewhere or on how a
run is cut into chunks.
"""

from __future__ import annotations

import zlib

import numpy as np

BLOCK_VALUES = 65536  # values per independently seeded block of a per-sample / per-frame stream


def _entropy(key: tuple[object, ...]) -> list[int]:
    return [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) & 0xFFFFFFFF for k in key]


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from a key of strings and non-negative integers."""
    return np.random.default_rng(_entropy(key))


def block_stream(key: tuple[object, ...], start: int, stop: int, width: int,
                 kind: str = "normal") -> np.ndarray:
    """Items ``start..stop-1`` (each ``width`` float32 values) of an endless seeded stream.

    ``kind`` is ``'normal'`` (standard normal) or ``'uniform'`` ([0, 1)). Item *i* is the same
    whatever range it is drawn in, which keeps chunked generation chunk-size independent.
    """
    rows = max(1, BLOCK_VALUES // width)
    out = np.empty((stop - start, width), dtype=np.float32)
    for block in range(start // rows, (stop - 1) // rows + 1 if stop > start else 0):
        rng = rng_for(*key, kind, width, block)
        if kind == "normal":
            values = rng.standard_normal((rows, width), dtype=np.float32)
        else:
            values = rng.random((rows, width), dtype=np.float32)
        lo, hi = max(start, block * rows), min(stop, (block + 1) * rows)
        out[lo - start:hi - start] = values[lo - block * rows:hi - block * rows]
    return out
