"""Turn one device's notifications into SampleBatches: the single decode path for live BLE,
recordings and simulated data.

Checks every frame (length, CRC, version, fields), counts and skips bad ones, detects sequence gaps
and records them as gaps (samples are never filled in), reassembles fragmented mat scans (a scan
with a lost fragment is dropped whole), unwraps device ticks and maps them to UTC with drift
correction (``DeviceClock``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sitload.sensor_ingest.device_clock import DeviceClock, TickUnwrapper
from sitload.sensor_ingest.frame_codec import (
    CRC_SIZE, FLAG_LOW_BATTERY, FLAG_RESYNC, HEADER_SIZE, FrameHeader, ImuLayout, MatFragment,
    decode_mat_payload, imu_layout, imu_values, parse_header)
from sitload.samples import SampleBatch
from sitload.vocab import SensorKind
from sitload.errors import FrameError

log = logging.getLogger("sitload.ingest")

SEQ_WRAP = 1 << 32
DEFAULT_MAT_GAIN = 0.2  # kPa per count when a mat recording carries no calibration
MIN_GAP_S = 0.5  # a time jump of more than this (beyond one sample period) between frames is a gap


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
    frames_ok: int = 0
    frames_bad: int = 0
    duplicates: int = 0
    missing_frames: int = 0
    scans_dropped: int = 0
    samples: int = 0
    low_battery: bool = False
    errors_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class _Scan:
    """A mat scan being reassembled from its fragments (docs/protocol.md)."""

    header: FrameHeader  # of fragment 0
    shape: tuple[int, int]
    parts: list[bytes] = field(default_factory=list)
    filled: int = 0
    device_s: float = 0.0
    utc: float = 0.0

    def takes(self, frag: MatFragment) -> bool:
        """Is ``frag`` the next fragment of this scan?"""
        return (frag.header.ticks == self.header.ticks and frag.header.frag_index == len(self.parts)
                and frag.first == self.filled and (frag.rows, frag.cols) == self.shape)


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
        self._pending_gap: tuple[int, str] | None = None
        self._run: list[tuple[FrameHeader, bytes, float]] = []  # consecutive IMU frames, one layout
        self._run_layout: ImuLayout | None = None
        self._scan: _Scan | None = None  # the scan whose fragments are arriving
        self._scans: list[_Scan] = []  # complete scans not yet emitted
        self._gap_now: Gap | None = None

    # -- public -----------------------------------------------------------------------------
    def feed(self, data: bytes, host_time: float, where: str = "") -> list[SampleBatch]:
        return self.feed_many([data], [host_time], [where] if where else None)

    def feed_many(self, frames: Sequence[bytes], host_times: Sequence[float],
                  wheres: Sequence[str] | None = None) -> list[SampleBatch]:
        """Decode notifications in arrival order; ``wheres`` names each frame's place for errors."""
        out: list[SampleBatch] = []
        for i, data in enumerate(frames):
            try:
                header = parse_header(data)
                self._check_kind(header)
                payload = data[HEADER_SIZE:-CRC_SIZE]
                if header.kind == SensorKind.PRESSURE:
                    layout, fragment = None, decode_mat_payload(header, payload)
                else:
                    layout, fragment = imu_layout(header, len(payload)), None
            except FrameError as exc:
                self._reject(exc, wheres[i] if wheres else "")
                continue
            if not self._sequence_ok(header, out):
                continue
            self.stats.frames_ok += 1
            if header.flags & FLAG_LOW_BATTERY:
                self.stats.low_battery = True
            if layout is not None:
                if self._run and (layout != self._run_layout or self._pending_gap):
                    out.extend(self._flush())
                self._run_layout = layout
                self._run.append((header, payload, float(host_times[i])))
            else:
                out.extend(self._add_fragment(fragment, float(host_times[i])))
        out.extend(self._flush())
        return out

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
            batch = self._imu_batch()
            self._run = []
            return [batch]
        if self._scans:
            batch = self._mat_batch()
            self._scans = []
            return [batch]
        return []

    def _imu_batch(self) -> SampleBatch:
        layout = self._run_layout
        headers = [h for h, _, _ in self._run]
        raw = np.frombuffer(b"".join(p for _, p, _ in self._run), dtype="<i2")
        accel, gyro = imu_values(raw.reshape(-1, layout.channels), layout)
        counts = np.array([h.count for h in headers])
        rates = np.array([h.rate_hz for h in headers])
        starts = np.empty(len(headers))
        offsets = np.empty(len(headers))
        for j, (header, _, host) in enumerate(self._run):
            d0 = self._ticks.seconds(header.ticks, host)
            if j == 0:
                self._note_gap(d0, header)
            self.clock.observe(d0 + header.count / header.rate_hz, host)
            starts[j], offsets[j] = d0, self.clock.offset(d0)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        device_s = np.repeat(starts, counts) + within / np.repeat(rates, counts)
        utc = device_s + np.repeat(offsets, counts)
        return self._emit(SampleBatch(kind=headers[0].kind, t=utc, accel=accel, gyro=gyro,
                                      first_seq=headers[0].seq),
                          device_s[-1] + 1.0 / rates[-1])

    # -- mat ----------------------------------------------------------------------------------
    def _add_fragment(self, frag: MatFragment, host: float) -> list[SampleBatch]:
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
        if len(scan.parts) < h.frag_count:
            return []
        self._scan = None
        if scan.filled != scan.shape[0] * scan.shape[1]:
            self.stats.scans_dropped += 1
            return []
        d0 = self._ticks.seconds(h.ticks, host)
        out: list[SampleBatch] = []
        if self._pending_gap or (self._scans and self._scans[-1].shape != scan.shape):
            out.extend(self._flush())
            self._note_gap(d0, scan.header)
        elif not self._scans:
            self._note_gap(d0, scan.header)
        self.clock.observe(d0 + 1.0 / h.rate_hz, host)
        scan.device_s, scan.utc = d0, d0 + self.clock.offset(d0)
        self._scans.append(scan)
        return out

    def _drop_partial_scan(self) -> None:
        if self._scan is not None:
            self.stats.scans_dropped += 1
            self._scan = None

    def _mat_batch(self) -> SampleBatch:
        last = self._scans[-1]
        raw = np.frombuffer(b"".join(c for s in self._scans for c in s.parts), dtype=np.uint8)
        pressure = raw.reshape(len(self._scans), *last.shape).astype(np.float64)
        gain = self.calibration if self.calibration is not None else DEFAULT_MAT_GAIN
        return self._emit(SampleBatch(kind=SensorKind.PRESSURE,
                                      t=np.array([s.utc for s in self._scans]),
                                      pressure=pressure * gain),
                          last.device_s + 1.0 / last.header.rate_hz)

    # -- shared -------------------------------------------------------------------------------
    def _note_gap(self, first_device_s: float, header: FrameHeader) -> None:
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
        gap, self._gap_now = self._gap_now, None
        self._last_sample_s = next_sample_s
        self.stats.samples += len(batch)
        if gap is None:
            return batch
        return SampleBatch(kind=batch.kind, t=batch.t, accel=batch.accel, gyro=batch.gyro,
                           pressure=batch.pressure, first_seq=batch.first_seq,
                           gap_before_s=gap.duration_s, missing_frames=gap.missing_frames)
