"""Replay a recording through the same decoder the live path uses.

    from sitload.sensor_ingest.replay import open_recording, replay_batches
    with open_recording("day.sitload") as rec:
        for batch in replay_batches(rec):
            ...  # SampleBatch: t (UTC), accel / pressure, gap_before_s

``speed=None`` replays as fast as possible; ``speed=X`` paces the frames at X times real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sitload.errors import RecordingError
from sitload.sensor_ingest.devices import recorded_profile
from sitload.sensor_ingest.devices.profile import Decoder, DeviceSetup
from sitload.sensor_ingest.recording import DeviceRecord, Recording
from sitload.samples import SampleBatch

# frames read and decoded at a time: batches of about 10^5 samples, which the analysis takes
# whole (a batch of fewer samples than analytics.seconds.BATCH_BLOCK_VALUES is joined with the next)
READ_FRAMES = 16384


def open_recording(path: str | Path) -> Recording:
    return Recording(path)


@dataclass
class DeviceReplay:
    """One device of an open recording replayed through the one decoder: its batches, then what
    the decoder saw (``decoder.stats``, ``decoder.gaps``) and where the recording ended."""

    rec: Recording
    device: DeviceRecord
    decoder: Decoder

    @classmethod
    def of(cls, rec: Recording, device_id: int | None = None) -> DeviceReplay:
        device = rec.device(device_id)
        return cls(rec, device, decoder_for(rec, device.id))

    def batches(self, *, speed: float | None = None,
                progress: Callable[[float], None] | None = None) -> Iterator[SampleBatch]:
        return replay_batches(self.rec, self.device.id, speed=speed, decoder=self.decoder,
                              progress=progress)

    @property
    def note(self) -> str | None:
        """Where the recording ended early, and what of it was damaged and left out (read after
        ``batches``)."""
        parts = [describe_end(self.rec, self.device.id), describe_damage(self.rec, self.decoder)]
        return "; ".join(p for p in parts if p) or None


def decoder_for(rec: Recording, device_id: int | None = None) -> Decoder:
    """A fresh decoder of the device's family, set up as the device was when recorded."""
    dev = rec.device(device_id)
    setup = DeviceSetup(dev.kind, dev.info, dev.config, dev.calibration)
    try:
        profile = recorded_profile(dev.kind, dev.info)
    except RecordingError as exc:
        raise RecordingError(f"{rec.path}: device {dev.id}: {exc}") from None
    return profile.decoder(setup, f"{rec.path.name} device {dev.id}")


def replay_batches(rec: Recording, device_id: int | None = None, *, speed: float | None = None,
                   decoder: Decoder | None = None,
                   sleep: Callable[[float], None] = time.sleep,
                   progress: Callable[[float], None] | None = None) -> Iterator[SampleBatch]:
    """Decoded batches of one device in arrival order; pass ``decoder`` to read its stats after.
    ``progress`` gets the share of the device's frames read so far."""
    dev = rec.device(device_id)
    decoder = decoder or decoder_for(rec, dev.id)
    pace = _Pacer(speed, sleep) if speed else None
    total = max(1, rec.frame_rows(dev.id)) if progress is not None else 1
    read = 0
    for ids, host_times, frames in rec.iter_frames(dev.id, READ_FRAMES):
        wheres = _FrameNames(rec.path.name, ids)
        if pace is None:
            yield from decoder.feed_many(frames, host_times, wheres)
        else:
            for start, stop in _second_slices(np.asarray(host_times)):
                pace.wait_until(host_times[start])
                yield from decoder.feed_many(frames[start:stop], host_times[start:stop],
                                             wheres[start:stop])
        read += len(ids)
        if progress is not None:
            progress(min(1.0, read / total))


@dataclass(frozen=True)
class _FrameNames(Sequence[str]):
    """``FILE frame ID`` of each frame, made only when a message names one."""

    file: str
    ids: Sequence[int]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return _FrameNames(self.file, self.ids[index])
        return f"{self.file} frame {self.ids[index]}"


@dataclass
class _Pacer:
    """Waits so that frames are fed ``speed`` times as fast as they were received."""

    speed: float
    sleep: Callable[[float], None]
    _t0: float | None = None
    _wall0: float = 0.0

    def wait_until(self, host_time: float) -> None:
        if self._t0 is None:
            self._t0, self._wall0 = host_time, time.monotonic()
            return
        delay = (host_time - self._t0) / self.speed - (time.monotonic() - self._wall0)
        if delay > 0:
            self.sleep(delay)


def _second_slices(host_times: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges of frames received within the same wall-clock second."""
    seconds = np.floor(host_times)
    edges = np.flatnonzero(np.diff(seconds)) + 1
    bounds = [0, *edges.tolist(), len(host_times)]
    return list(zip(bounds[:-1], bounds[1:]))


def describe_end(rec: Recording, device_id: int | None = None) -> str | None:
    """A note when the recording was not closed cleanly or is damaged: where reading stopped."""
    if rec.closed_cleanly and rec.damage is None:
        return None
    dev = rec.device(device_id)
    count, last = rec.frame_summary(dev.id)
    when = datetime.fromtimestamp(last, timezone.utc).isoformat() if last else "the start"
    why = rec.damage or "the writer stopped before closing it"
    return (f"{rec.path}: recording ends early ({why}); read {count} whole frames, up to the frame "
            f"received at {when}")


def describe_damage(rec: Recording, decoder: Decoder) -> str | None:
    """A note when frames were left out as damaged: frames that read back without bytes or with a
    receive time outside 1970-2099, and frames that failed their checks (CRC, header)."""
    found = []
    if rec.damaged_frames:
        found.append(f"{rec.damaged_frames} unreadable frame(s) from frame "
                     f"{rec.first_damaged_frame} (no bytes, a receive time outside 1970-2099, a "
                     "broken seal, a malformed block, or read twice)")
    stray = rec.stray_frames()
    if stray:
        found.append(f"{stray} frame(s) of no device in the recording")
    if decoder.stats.frames_bad:
        reasons = ", ".join(f"{why}: {n}" for why, n in sorted(decoder.stats.errors_by_reason.items()))
        found.append(f"{decoder.stats.frames_bad} frame(s) that failed their checks ({reasons})")
    return f"{rec.path}: damaged data left out: {'; '.join(found)}" if found else None
