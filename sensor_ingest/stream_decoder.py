"""Turn one device's notifications into SampleBatches: the single decode path for live BLE,
recordings and simulated data.

Checks every frame (length, CRC, version, fields), counts and skips bad ones, detects sequence gaps
and records them as gaps (samples are never filled in), reassembles fragmented mat scans (a scan
with a lost fragment is dropped whole), unwraps device ticks and maps them to UTC with drift
correction (``DeviceClock``).

A long run of frames that repeat the last accepted IMU frame in all but seq and ticks (the steady
stream of a recording) is checked (CRC over byte columns, ``crc16_rows``) and decoded as arrays,
and so is a long run of mat scans whose fragments repeat those of the last complete scan;
what it yields (samples, times, gaps, stats, the clock) is what feeding the frames one
notification at a time yields, bit for bit (tests/test_decode_vectorised.py). A jump of the device
time inside a run is a gap wherever the run was cut, as it is for a frame fed alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sitload.sensor_ingest.device_clock import DeviceClock, TickUnwrapper
from sitload.sensor_ingest.frame_codec import (
    CRC_SIZE, FLAG_LOW_BATTERY, FLAG_RESYNC, HEADER_SIZE, MAT_PREFIX, FrameHeader, ImuLayout,
    MatFragment, crc16_rows, decode_mat_payload, imu_layout, imu_values, parse_header)
from sitload.sensor_ingest.joined_frames import JoinedFrames
from sitload.samples import SampleBatch
from sitload.vocab import SensorKind
from sitload.errors import FrameError

log = logging.getLogger("sitload.ingest")

SEQ_WRAP = 1 << 32
DEFAULT_MAT_GAIN = 0.2  # kPa per count when a mat recording carries no calibration
MIN_GAP_S = 0.5  # a time jump of more than this (beyond one sample period) between frames is a gap
_MIN_REPEATS = 16  # frames like the last accepted one are taken together from this many on,
_MAX_REPEATS = 4096  # and at most this many at a time (the CRC's columns stay in cache)
_FIXED = np.r_[0:4, 12:16]  # header bytes that repeat from frame to frame: all but seq and ticks
_MAT_FIXED = np.r_[0:4, 12:16 + MAT_PREFIX.size]  # and of a mat fragment, its place in the scan


@dataclass(frozen=True)
class Gap:
    """A stretch with no samples: frames lost in transit ('lost') or the device stopped ('stopped')."""

    start: float
    end: float
    missing_frames: int
    reason: str

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass
class DecodeStats:
    """What became of a device's frames and samples so far."""

    frames_ok: int = 0
    frames_bad: int = 0
    duplicates: int = 0
    missing_frames: int = 0
    scans_dropped: int = 0
    samples: int = 0
    low_battery: bool = False
    errors_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class _ImuFrames:
    """Accepted consecutive IMU frames: the header fields that vary, their receive times and
    their payloads end to end."""

    first_seq: int
    ticks: np.ndarray
    counts: np.ndarray
    rate_dhz: np.ndarray
    host: np.ndarray
    payload: bytes

    @classmethod
    def one(cls, header: FrameHeader, payload: bytes, host: float) -> _ImuFrames:
        return cls(header.seq, np.array([header.ticks]), np.array([header.count]),
                   np.array([header.rate_dhz]), np.array([host]), payload)

    @classmethod
    def repeated(cls, rows: np.ndarray, host: Sequence[float]) -> _ImuFrames:
        """Frames of one length as rows of bytes (header, payload, CRC)."""
        return cls(int(_u32(rows[:1, 4:8])[0]), _u32(rows[:, 8:12]), rows[:, 3].astype(np.int64),
                   np.ascontiguousarray(rows[:, 12:14]).view("<u2").ravel(),
                   np.asarray(host, dtype=np.float64), rows[:, HEADER_SIZE:-CRC_SIZE].tobytes())


def _sample_times(starts: np.ndarray, counts: np.ndarray, rates: np.ndarray,
                  offsets: np.ndarray) -> np.ndarray:
    """UTC of every sample of frames that start at ``starts`` (device s) with ``counts`` samples
    at ``rates`` Hz and clock offsets ``offsets``: sample k of frame j is at device time
    ``starts[j] + k / rates[j]``."""
    if (counts == counts[0]).all() and (rates == rates[0]).all():    # a steady run: as a grid
        device_s = starts[:, None] + np.arange(counts[0]) / rates[0]
        return (device_s + offsets[:, None]).ravel()
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    device_s = np.repeat(starts, counts) + within / np.repeat(rates, counts)
    return device_s + np.repeat(offsets, counts)


def _alike(frames: JoinedFrames, length: int, columns: np.ndarray, fixed: np.ndarray,
           first_seq: int, seq_step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` (all ``length`` bytes) as rows of bytes, and which of them, up to the first
    that fails, have the ``fixed`` bytes at ``columns``, the seqs first_seq, first_seq + seq_step,
    ... and a good CRC. Every caller takes only the rows before the first that fails, so the rest
    are not checked: the first _MIN_REPEATS rows are checked alone before the others (after a
    lost frame on a lossy link, a run is short), and the CRCs, the costly check, only up to the
    first row whose other checks fail."""
    rows = frames.rows(length)
    n = 0
    for stop in (min(len(rows), _MIN_REPEATS), len(rows)):
        part = rows[n:stop]
        ok = (part[:, columns] == fixed).all(axis=1)
        ok &= _u32(part[:, 4:8]) == (first_seq + seq_step * np.arange(n, stop)) % SEQ_WRAP
        n += _leading(ok)
        if n < stop:
            break
    ok = np.zeros(len(rows), dtype=bool)
    ok[:n] = crc16_rows(rows[:n, :-CRC_SIZE]) == rows[:n, -CRC_SIZE:].view("<u2").ravel()
    return rows, ok


def _leading(ok: np.ndarray) -> int:
    """How many of ``ok`` are true before the first false."""
    return len(ok) if ok.all() else int(np.argmin(ok))


def _u32(columns: np.ndarray) -> np.ndarray:
    """Little-endian uint32 from four byte columns."""
    return np.ascontiguousarray(columns).view("<u4").ravel().astype(np.int64)


@dataclass
class _Scan:
    """A mat scan being reassembled from its fragments (docs/protocol.md)."""

    header: FrameHeader  # of fragment 0
    shape: tuple[int, int]
    parts: list[bytes] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)  # its fragments' frames, as they came
    filled: int = 0

    def takes(self, frag: MatFragment) -> bool:
        """Is ``frag`` the next fragment of this scan?"""
        return (frag.header.ticks == self.header.ticks and frag.header.frag_index == len(self.parts)
                and frag.first == self.filled and (frag.rows, frag.cols) == self.shape)


@dataclass
class _Scans:
    """Complete consecutive mat scans of one shape: the header fields that vary, when each
    scan's last fragment arrived, and their cells end to end."""

    shape: tuple[int, int]
    ticks: np.ndarray
    rate_dhz: np.ndarray
    host: np.ndarray
    cells: bytes
    device_s: float | None = None  # of the first, set when it starts a batch (ticks unwrapped then)

    @classmethod
    def one(cls, scan: _Scan, host: float) -> _Scans:
        return cls(scan.shape, np.array([scan.header.ticks]), np.array([scan.header.rate_dhz]),
                   np.array([host]), b"".join(scan.parts))


@dataclass(frozen=True)
class _ScanTemplate:
    """The last complete mat scan: its sample rate, its shape, and each fragment's length and
    _MAT_FIXED bytes."""

    rate_dhz: int
    shape: tuple[int, int]
    sizes: list[int]
    fixed: list[np.ndarray]


class DeviceDecoder:
    """Decoder state for one device. Feed notifications in arrival order."""

    def __init__(self, *, calibration: np.ndarray | None = None, source: str = "device"):
        self.source = source
        self.calibration = calibration
        self.stats = DecodeStats()
        self.gaps: list[Gap] = []
        self.clock = DeviceClock()
        self.kind: SensorKind | None = None
        self._ticks = TickUnwrapper()
        self._next_seq: int | None = None
        self._last_sample_s: float | None = None  # device seconds of the last emitted sample + 1/rate
        self._last_utc = -np.inf  # UTC of the last emitted sample (see _emit)
        self._pending_gap: tuple[int, str] | None = None
        self._run: list[_ImuFrames] = []  # consecutive IMU frames, one layout
        self._run_layout: ImuLayout | None = None
        self._template: tuple[int, np.ndarray] | None = None  # last IMU frame: length, _FIXED bytes
        self._scan: _Scan | None = None  # the scan whose fragments are arriving
        self._scan_template: _ScanTemplate | None = None  # the last complete scan
        self._scans: list[_Scans] = []  # complete scans not yet emitted
        self._gap_now: Gap | None = None

    # -- public -----------------------------------------------------------------------------
    def feed(self, data: bytes, host_time: float, where: str = "") -> list[SampleBatch]:
        return self.feed_many([data], [host_time], [where] if where else None)

    def feed_many(self, frames: Sequence[bytes], host_times: Sequence[float],
                  wheres: Sequence[str] | None = None) -> list[SampleBatch]:
        """Decode notifications in arrival order; ``wheres`` names each frame's place for errors."""
        out: list[SampleBatch] = []
        frames = JoinedFrames.joined(frames)    # steady runs are checked as rows of its bytes
        i = 0
        while i < len(frames):
            rows = self._repeats(frames, i)
            if len(rows) >= _MIN_REPEATS:
                if self._run and self._pending_gap:
                    out.extend(self._flush())
                self._run.append(_ImuFrames.repeated(rows, host_times[i:i + len(rows)]))
                self.stats.frames_ok += len(rows)
                self._next_seq = (self._next_seq + len(rows)) % SEQ_WRAP
                i += len(rows)
                continue
            taken = self._scans_like_last(frames, host_times, i, out)
            if taken:
                i += taken
                continue
            for j in range(i, min(len(frames), i + len(rows) + 1)):  # up to the first that differs
                self._feed_one(frames[j], float(host_times[j]), wheres[j] if wheres else "", out)
                i = j + 1
        out.extend(self._flush())
        return out

    def _feed_one(self, data: bytes, host: float, where: str, out: list[SampleBatch]) -> None:
        try:
            header = parse_header(data)
            self._check_kind(header)
            payload = data[HEADER_SIZE:-CRC_SIZE]
            if header.kind == SensorKind.PRESSURE:
                layout, fragment = None, decode_mat_payload(header, payload)
            else:
                layout, fragment = imu_layout(header, len(payload)), None
        except FrameError as exc:
            self._reject(exc, where)
            return
        if not self._sequence_ok(header, out):
            return
        self.stats.frames_ok += 1
        if header.flags & FLAG_LOW_BATTERY:
            self.stats.low_battery = True
        if layout is None:
            out.extend(self._add_fragment(fragment, host, data))
            return
        if self._run and (layout != self._run_layout or self._pending_gap):
            out.extend(self._flush())
        self._run_layout = layout
        self._run.append(_ImuFrames.one(header, payload, host))
        self._template = None if header.flags & FLAG_RESYNC else (
            len(data), np.frombuffer(data, dtype=np.uint8)[_FIXED])

    def _repeats(self, frames: JoinedFrames, start: int) -> np.ndarray:
        """The frames from ``start`` on, as rows of bytes, that repeat the last accepted IMU frame
        in all but seq and ticks, with the next seqs and good CRCs: they pass every check that
        frame passed, so they need no check of their own (at most _MAX_REPEATS; none when fewer
        than _MIN_REPEATS frames of its length follow)."""
        none = np.empty((0, 0), dtype=np.uint8)
        if self._template is None:
            return none
        length, fixed = self._template
        ahead = frames.lengths[start:start + _MAX_REPEATS]
        other = np.flatnonzero(ahead != length)
        stop = start + (int(other[0]) if other.size else len(ahead))
        if stop - start < _MIN_REPEATS:
            return none
        rows, ok = _alike(frames[start:stop], length, _FIXED, fixed, self._next_seq)
        return rows[:_leading(ok)]

    # -- checks -----------------------------------------------------------------------------
    def _check_kind(self, header: FrameHeader) -> None:
        if self.kind is None:
            self.kind = header.kind
        elif header.kind != self.kind:
            raise FrameError(f"sensor kind changed from {self.kind.cli_name} to "
                             f"{header.kind.cli_name}", seq=header.seq, offset=1)

    def _reject(self, exc: FrameError, where: str) -> None:
        self.stats.frames_bad += 1
        reason = str(exc).split(" (")[0]
        self.stats.errors_by_reason[reason] = self.stats.errors_by_reason.get(reason, 0) + 1
        log.warning("%s: frame skipped: %s%s", self.source, exc, f" at {where}" if where else "")

    def _sequence_ok(self, header: FrameHeader, out: list[SampleBatch]) -> bool:
        """Track the sequence number; False for a duplicate or out-of-order frame."""
        if self._next_seq is not None:
            ahead = (header.seq - self._next_seq) % SEQ_WRAP
            if ahead >= SEQ_WRAP // 2:
                self.stats.duplicates += 1
                log.warning("%s: duplicate or late frame seq %d skipped", self.source, header.seq)
                return False
            if ahead or header.flags & FLAG_RESYNC:
                out.extend(self._flush())
                self._drop_partial_scan()
                self.stats.missing_frames += ahead
                self._pending_gap = (ahead, "lost" if ahead else "stopped")
        self._next_seq = (header.seq + 1) % SEQ_WRAP
        return True

    # -- IMU ----------------------------------------------------------------------------------
    def _flush(self) -> list[SampleBatch]:
        if self._run:
            batches = self._imu_batches()
            self._run = []
            return batches
        if self._scans:
            batches = self._mat_batches()
            self._scans = []
            return batches
        return []

    def _imu_batches(self) -> list[SampleBatch]:
        """The run's samples: one batch, or one after each jump of the device time that a frame
        fed alone would have found (``_note_gap``)."""
        layout, run = self._run_layout, self._run
        raw = np.frombuffer(b"".join(f.payload for f in run), dtype="<i2")
        accel, gyro = imu_values(raw.reshape(-1, layout.channels), layout)
        counts = np.concatenate([f.counts for f in run]).astype(np.int64)
        rates = np.concatenate([f.rate_dhz for f in run]) / 10.0
        host = np.concatenate([f.host for f in run])
        starts = self._ticks.seconds_many(np.concatenate([f.ticks for f in run]), host)
        after = (starts + (counts - 1) / rates) + 1.0 / rates    # device s after each frame
        cuts = np.flatnonzero(starts[1:] - after[:-1] > MIN_GAP_S) + 1
        bounds = [0, *cuts.tolist(), len(starts)]
        first_sample = np.concatenate(([0], np.cumsum(counts)))
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            self._note_gap(float(starts[a]))
            offsets = self.clock.observe_many(starts[a:b] + counts[a:b] / rates[a:b], host[a:b],
                                              at=starts[a:b])
            utc = _sample_times(starts[a:b], counts[a:b], rates[a:b], offsets)
            samples = slice(first_sample[a], first_sample[b])
            out.append(self._emit(SampleBatch(
                kind=self.kind, t=utc, accel=accel[samples],
                gyro=None if gyro is None else gyro[samples],
                first_seq=(run[0].first_seq + a) % SEQ_WRAP), float(after[b - 1])))
        return out

    # -- mat ----------------------------------------------------------------------------------
    def _add_fragment(self, frag: MatFragment, host: float, data: bytes) -> list[SampleBatch]:
        h = frag.header
        if h.frag_index == 0:
            self._drop_partial_scan()
            self._scan = _Scan(h, (frag.rows, frag.cols))
        scan = self._scan
        if scan is None or not scan.takes(frag):
            self._drop_partial_scan()
            return []
        scan.parts.append(frag.cells)
        scan.filled += len(frag.cells)
        scan.frames.append(data)
        if len(scan.parts) < h.frag_count:
            return []
        self._scan = None
        if scan.filled != scan.shape[0] * scan.shape[1]:
            self.stats.scans_dropped += 1
            return []
        frames = scan.frames
        self._scan_template = None if any(f[2] & FLAG_RESYNC for f in frames) else _ScanTemplate(
            h.rate_dhz, scan.shape, [len(f) for f in frames],
            [np.frombuffer(f, dtype=np.uint8)[_MAT_FIXED] for f in frames])
        return self._complete_scans(_Scans.one(scan, host))

    def _scans_like_last(self, frames: JoinedFrames, host_times: Sequence[float], start: int,
                         out: list[SampleBatch]) -> int:
        """Take the whole scans from ``start`` on whose fragments repeat those of the last
        complete scan in all but seq and ticks, with the next seqs, one ticks value a scan and
        good CRCs: each passes every check its fragments passed, so they are taken as they would
        be one by one (at most _MAX_REPEATS frames; none when they make fewer than
        _MIN_REPEATS). Returns how many frames were taken."""
        last = self._scan_template
        if last is None or self._scan is not None or self._next_seq is None:
            return 0
        per = len(last.sizes)
        n = min(len(frames) - start, _MAX_REPEATS) // per    # whole scans ahead
        alike = (frames.lengths[start:start + n * per].reshape(n, per) == last.sizes).all(axis=1)
        ok, ticks, fragments = alike, None, []
        for j, (size, fixed) in enumerate(zip(last.sizes, last.fixed)):
            n = _leading(ok)
            if n * per < _MIN_REPEATS:
                return 0
            rows, same = _alike(frames[start + j:start + n * per:per], size, _MAT_FIXED, fixed,
                                self._next_seq + j, per)
            ok = ok[:n] & same
            frame_ticks = _u32(rows[:, 8:12])
            ticks = frame_ticks if ticks is None else ticks[:n]
            ok &= frame_ticks == ticks
            fragments.append(rows)
        n = _leading(ok)
        if n * per < _MIN_REPEATS:
            return 0
        cells = np.concatenate([rows[:n, HEADER_SIZE + MAT_PREFIX.size:-CRC_SIZE]
                                for rows in fragments], axis=1)
        out.extend(self._complete_scans(_Scans(
            last.shape, ticks[:n], np.full(n, last.rate_dhz),
            np.asarray(host_times[start + per - 1:start + n * per:per], dtype=np.float64),
            cells.tobytes())))
        self.stats.frames_ok += n * per
        self._next_seq = (self._next_seq + n * per) % SEQ_WRAP
        return n * per

    def _complete_scans(self, scans: _Scans) -> list[SampleBatch]:
        """Scans with all their cells, the first after any gap: into the batch being made (the
        batch before them out first, after a gap or a change of shape)."""
        out: list[SampleBatch] = []
        if self._pending_gap or (self._scans and self._scans[-1].shape != scans.shape):
            out.extend(self._flush())
        if not self._scans:  # the first of a batch: the clock has seen every scan before it
            scans.device_s = self._ticks.seconds(int(scans.ticks[0]), float(scans.host[0]))
            self._note_gap(scans.device_s)
        self._scans.append(scans)
        return out

    def _drop_partial_scan(self) -> None:
        if self._scan is not None:
            self.stats.scans_dropped += 1
            self._scan = None

    def _mat_batches(self) -> list[SampleBatch]:
        """The scans' samples: one batch, or one after each jump of the device time that a scan
        fed alone would have found (``_note_gap``; the first scan's was noted as it came)."""
        blocks = self._scans
        host = np.concatenate([b.host for b in blocks])
        later = self._ticks.seconds_many(np.concatenate([b.ticks for b in blocks])[1:], host[1:])
        starts = np.concatenate(([blocks[0].device_s], later))
        after = starts + 1.0 / (np.concatenate([b.rate_dhz for b in blocks]) / 10.0)
        raw = np.frombuffer(b"".join(b.cells for b in blocks), dtype=np.uint8)
        gain = self.calibration if self.calibration is not None else DEFAULT_MAT_GAIN
        pressure = np.multiply(raw.reshape(len(host), *blocks[-1].shape), gain, dtype=np.float64)
        cuts = np.flatnonzero(starts[1:] - after[:-1] > MIN_GAP_S) + 1
        bounds = [0, *cuts.tolist(), len(host)]
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            if a:
                self._note_gap(float(starts[a]))
            utc = starts[a:b] + self.clock.observe_many(after[a:b], host[a:b], at=starts[a:b])
            out.append(self._emit(SampleBatch(kind=SensorKind.PRESSURE, t=utc,
                                              pressure=pressure[a:b]), float(after[b - 1])))
        return out

    # -- shared -------------------------------------------------------------------------------
    def _note_gap(self, first_device_s: float) -> None:
        """Record a gap before a run that starts at ``first_device_s`` when one is pending or the
        device time jumped."""
        self._gap_now = None
        if self._last_sample_s is None:
            self._pending_gap = None
            return
        missing, reason = self._pending_gap or (0, "lost")
        jump = first_device_s - self._last_sample_s
        if missing or reason == "stopped" or jump > MIN_GAP_S:
            gap = Gap(self._last_sample_s + self.clock.offset(self._last_sample_s),
                      first_device_s + self.clock.offset(first_device_s), missing, reason)
            self.gaps.append(gap)
            self._gap_now = gap
        self._pending_gap = None

    def _emit(self, batch: SampleBatch, next_sample_s: float) -> SampleBatch:
        """``batch`` with its gap, and its times held from stepping back: the clock learns from
        every frame how far at most the device is behind (a frame received early, or frames
        queued at a connection and received at once, lower the offset), and samples mapped with
        the lower offset would land before samples already given. Such samples take the time of
        the last one given instead (a running maximum: exact, so alike fed alone or as a run)."""
        gap, self._gap_now = self._gap_now, None
        self._last_sample_s = next_sample_s
        self.stats.samples += len(batch)
        if len(batch) == 0:
            return batch
        t = batch.t
        if not (t[0] >= self._last_utc and (t[1:] >= t[:-1]).all()):  # rising: nothing to hold
            t = np.maximum.accumulate(np.concatenate(([self._last_utc], t)))[1:]
        self._last_utc = float(t[-1])
        if gap is None and t is batch.t:
            return batch
        return SampleBatch(kind=batch.kind, t=t, accel=batch.accel, gyro=batch.gyro,
                           pressure=batch.pressure, first_seq=batch.first_seq,
                           gap_before_s=0.0 if gap is None else gap.duration_s,
                           missing_frames=0 if gap is None else gap.missing_frames)
