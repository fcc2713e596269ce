"""Frames kept as one bytes object with the offset and length of each: how a recording's block of
frames is read, with no Python object a frame until one is asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JoinedFrames(Sequence[bytes]):
    """A sequence of frames in ``data``: frame i is ``data[starts[i]:starts[i] + lengths[i]]``.
    Slices and boolean masks give JoinedFrames over the same bytes."""

    data: bytes
    starts: np.ndarray      # int64
    lengths: np.ndarray     # int64

    @classmethod
    def of(cls, data: bytes, lengths: np.ndarray) -> JoinedFrames:
        """Frames of ``lengths`` bytes one after another in ``data``."""
        lengths = np.asarray(lengths, dtype=np.int64)
        return cls(data, np.cumsum(lengths) - lengths, lengths)

    @classmethod
    def joined(cls, frames: Sequence[bytes]) -> JoinedFrames:
        """``frames`` as JoinedFrames (as they are, when they already are)."""
        if isinstance(frames, JoinedFrames):
            return frames
        return cls.of(b"".join(frames), np.fromiter(map(len, frames), dtype=np.int64,
                                                     count=len(frames)))

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index):
        if isinstance(index, (slice, np.ndarray)):
            return JoinedFrames(self.data, self.starts[index], self.lengths[index])
        start = int(self.starts[index])
        return self.data[start:start + int(self.lengths[index])]

    def rows(self, length: int) -> np.ndarray:
        """The frames, each ``length`` bytes long, as the rows of a uint8 array: a view of
        ``data`` where they lie at even steps (one after another, or a mat's fragments of one
        place in its scans), else gathered."""
        buffer = np.frombuffer(self.data, dtype=np.uint8)
        n = len(self)
        step = int(self.starts[1] - self.starts[0]) if n > 1 else length
        if n and step >= length and (n < 3 or (np.diff(self.starts) == step).all()):
            return np.lib.stride_tricks.as_strided(buffer[int(self.starts[0]):], (n, length),
                                                   (step, 1), writeable=False)
        return buffer[self.starts[:, None] + np.arange(length)]
