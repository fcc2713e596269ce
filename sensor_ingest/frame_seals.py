"""The seals and checks that tell whether a recording's frame rows (version 1) and frame blocks
(version 2) read back as written (docs/recording-format.md, "Damage"). Each frame's own CRC
covers its bytes; a seal covers what the CRC does not: ids, device, receive times, lengths."""

from __future__ import annotations

import numpy as np

from sitload.timestamps import plausible

_SEAL_FACTORS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9],
                         dtype=np.uint64)  # odd: each term changes whenever its value does


def seals(ids: np.ndarray, device: int, host_times: np.ndarray) -> np.ndarray:
    """The seal of each frame row: binds its id, device and receive time (the frame's own CRC
    covers its bytes), so a changed byte in any of them is seen when the row is read back."""
    terms = np.stack([ids.astype(np.int64).view(np.uint64),
                      np.full(len(ids), device, dtype=np.uint64),
                      np.asarray(host_times, dtype=np.float64).view(np.uint64)])
    return (terms * _SEAL_FACTORS[:, None]).sum(axis=0, dtype=np.uint64).view(np.int64)


_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: each bit of the input turns about half the bits of the output."""
    x = (x ^ (x >> np.uint64(30))) * _MIX[0]
    x = (x ^ (x >> np.uint64(27))) * _MIX[1]
    return x ^ (x >> np.uint64(31))


def block_seals(ids: np.ndarray, device: int, counts: np.ndarray, first_times: np.ndarray,
                last_times: np.ndarray, host_times: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The seal of each block row (one device's blocks; ``host_times`` and ``lengths`` are their
    frames' in block order): binds the block's first frame id, device, frame count, time span and
    each frame's receive time and length, so a changed byte in any of them is seen when the block
    is read back. Each frame's own CRC covers its bytes."""
    counts = np.asarray(counts, dtype=np.int64)
    per_frame = _mix(frame_ids(ids, counts).view(np.uint64) * _SEAL_FACTORS[0]
                     + np.asarray(host_times, dtype=np.float64).view(np.uint64) * _SEAL_FACTORS[1]
                     + np.asarray(lengths, dtype=np.uint64) * _SEAL_FACTORS[2])
    head = _mix(seals(np.asarray(ids, dtype=np.int64), device, first_times).view(np.uint64)
                ^ _mix(seals(counts, device, last_times).view(np.uint64)))
    return (head + np.add.reduceat(per_frame, np.cumsum(counts) - counts)).view(np.int64)


def frame_ids(ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The id of every frame of blocks whose first frames are ``ids``, holding ``counts``."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.repeat(np.asarray(ids, dtype=np.int64) - starts, counts) + np.arange(counts.sum())


def rows_read_back(ids: np.ndarray, times: tuple, data: tuple, stored: tuple, device: int,
                   sealed: bool) -> np.ndarray:
    """Which frame rows (columns of ids, receive times, bytes and seals, as read with their
    casts: None where a value is missing) read back as written: bytes, a plausible receive time
    and, in a recording with seals, the row's seal."""
    t = np.array(times, dtype=np.float64)    # a missing time is NaN: not plausible
    ok = plausible(t)
    if None in data:
        ok &= np.fromiter((d is not None for d in data), dtype=bool, count=len(data))
    if sealed:
        if None in stored:
            ok &= np.fromiter((s is not None for s in stored), dtype=bool, count=len(stored))
            stored = tuple(0 if s is None else s for s in stored)
        ok &= seals(ids, device, t) == np.array(stored, dtype=np.int64)
    return ok


def block_formed(row: tuple) -> bool:
    """A block row (as read by ``Recording._block_pages``) with every column there and byte
    columns of the sizes its frame count gives."""
    _, count, first, last, times, lengths, data, seal = row
    return (isinstance(count, int) and count > 0 and None not in (first, last, data, seal)
            and times is not None and len(times) == 8 * count
            and lengths is not None and len(lengths) == 4 * count)
