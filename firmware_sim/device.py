"""The simulated sensor: body model -> signals -> protocol v1 frames, with faults and ground truth.

Device behaviour (docs/protocol.md and the shared brief):

- Clock: ticks = round(true_elapsed * (1 + drift_ppm * 1e-6) * 32768) mod 2^32, elapsed from
  ``start_utc``; the device samples on its own clock, so a fast clock also samples faster.
- Seq starts at 0 and advances by one per notification, also while out of range (the lost frames are
  the seq jump); it does not advance while the stream is stopped (overnight, dead battery).
- RESYNC is set on the first frame after a start and on the first frame after a reconnect.
- A frame is sent when the sampling window it covers ends (first sample + count / rate); the
  fragments of a mat scan follow one BLE connection interval (7.5 ms) apart. Host times add a seeded
  BLE latency of 7.5-50 ms and keep the send order.
- Battery: starts each day at 100 % and drains 5 %/h; with ``Faults.low_battery`` it starts at 40 %
  and drains 10 %/h: LOW_BATTERY is flagged below 15 % and at 0 % the device stops for the day.
  Ground truth still covers the whole wear day (it describes the body, not the link).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sitload.firmware_sim import signals
from sitload.firmware_sim.body_model import DayStates, plan_day
from sitload.firmware_sim.frame_encoder import (ACCEL_RANGE_G, FLAG_LOW_BATTERY, FLAG_RESYNC,
                                        GYRO_RANGE_DPS, HEADER_SIZE, NO_GYRO, TICKS_PER_S,
                                        ConfigRecord, encode_calibration_record,
                                        encode_imu_frames, encode_mat_scans)
from sitload.firmware_sim.scenarios import SCENARIOS
from sitload.firmware_sim.seeding import block_stream, rng_for
from sitload.errors import ConfigError

DAY_S = 86400.0
IMU_RATE_HZ = 50.0
IMU_PER_FRAME = 10
ACCEL_RANGE = 2  # ±8 g
GYRO_RANGE = 3  # ±2000 deg/s
MAT_RATE_HZ = 10.0
FRAGMENT_SPACING_S = 0.0075
LATENCY_S = (0.0075, 0.050)
LOW_BATTERY_PERCENT = 15
DEFAULT_START_UTC = 1772438400.0  # 2026-03-02 08:00 UTC


@dataclass(frozen=True)
class _SensorSpec:
    kind: int
    placement: int
    side: int
    model: str
    short: str


SENSORS = {
    "thigh-imu": _SensorSpec(1, 1, 2, "sitload-thigh", "thigh"),
    "hip-imu": _SensorSpec(2, 2, 2, "sitload-hip", "hip"),
    "pressure": _SensorSpec(3, 3, 0, "sitload-mat", "mat"),
}


@dataclass(frozen=True)
class Faults:
    """Link and device faults to inject.

    ``drop_rate``: probability a notification is lost. ``disconnects``: (start_offset_s,
    duration_s) out-of-range periods, offsets from ``start_utc``. ``drift_ppm``: device clock error
    (+ = fast). ``low_battery``: a worn-out battery (see the module notes). ``malformed_every``:
    every Nth notification (by seq) has its first payload byte flipped, so its CRC fails; 0 = none.
    """

    drop_rate: float = 0.0
    disconnects: Sequence[tuple[float, float]] = ()
    drift_ppm: float = 0.0
    low_battery: bool = False
    malformed_every: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1), got {self.drop_rate}")
        if abs(self.drift_ppm) > 1000:
            raise ConfigError(f"drift_ppm must be within ±1000, got {self.drift_ppm}")
        if self.malformed_every < 0:
            raise ConfigError(f"malformed_every must be >= 0, got {self.malformed_every}")
        periods = tuple((float(a), float(b)) for a, b in self.disconnects)
        if any(b <= 0 for _, b in periods):
            raise ConfigError("disconnect durations must be > 0")
        object.__setattr__(self, "disconnects", periods)


@dataclass(frozen=True)
class ImuSamples:
    """The IMU samples a chunk's frames carry: true UTC sample times, accel (g), gyro (deg/s)."""

    t: np.ndarray
    accel: np.ndarray
    gyro: np.ndarray


@dataclass
class SimChunk:
    """One slice of a simulated run (see the shared brief for each field); ``samples`` holds an
    IMU's samples of the chunk (all of them, also those of frames lost on the link)."""

    frames: list[bytes]
    sent_at: np.ndarray
    host_times: np.ndarray
    truth: pd.DataFrame
    battery: list[tuple[float, int]] = field(default_factory=list)
    link_events: list[tuple[float, str]] = field(default_factory=list)
    samples: ImuSamples | None = None


@dataclass(frozen=True)
class _Day:
    index: int
    start: float  # UTC
    wear_s: float
    active_s: float  # streaming time (less than wear_s if the battery dies)
    units: int  # IMU frames or mat scans
    seq_base: int
    battery_start: float
    drain_per_s: float


class SimulatedSensor:
    """A seeded, deterministic sitload sensor worn through one or more scenario days.

    ``sensor`` is 'thigh-imu' (right anterior mid-thigh), 'hip-imu' (right lateral hip) or
    'pressure' (16 x 16 seat mat). Wear day *d* starts at ``start_utc + d * 86400`` and lasts the
    scenario's ``wear_hours``; ``hours`` caps the total wear time over all days. IMUs stream 50 Hz,
    ±8 g, ±2000 deg/s, 10 samples a frame; the mat streams 10 scans/s in two fragments each.
    ``mount_rotation_deg`` (None: seeded in [0, 15]) tilts the IMU in its mount. The body (and so
    the truth) depends on (scenario, seed, day) only; signals, faults and identity on the sensor too.
    """

    def __init__(self, scenario: str = "desk-day", sensor: str = "thigh-imu", seed: int = 1,
                 start_utc: float = DEFAULT_START_UTC, hours: float | None = None, days: int = 1,
                 faults: Faults = Faults(), mount_rotation_deg: float | None = None):
        if scenario not in SCENARIOS:
            raise ConfigError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
        if sensor not in SENSORS:
            raise ConfigError(f"unknown sensor {sensor!r}; choose from {sorted(SENSORS)}")
        if days < 1:
            raise ConfigError(f"days must be >= 1, got {days}")
        if hours is not None and hours <= 0:
            raise ConfigError(f"hours must be > 0, got {hours}")
        if mount_rotation_deg is not None and not 0 <= mount_rotation_deg <= 90:
            raise ConfigError(f"mount_rotation_deg must be in [0, 90], got {mount_rotation_deg}")
        self.scenario = SCENARIOS[scenario]
        self.sensor = sensor
        self.seed = int(seed)
        self.start_utc = float(start_utc)
        self.hours = hours
        self.days = int(days)
        self.faults = faults
        self.spec = SENSORS[sensor]
        self.is_mat = self.spec.kind == 3
        self.rate_hz = MAT_RATE_HZ if self.is_mat else IMU_RATE_HZ
        self.per_frame = 1 if self.is_mat else IMU_PER_FRAME
        self.rate_dhz = int(round(self.rate_hz * 10))
        self._rate_eff = self.rate_hz * (1 + faults.drift_ppm * 1e-6)  # true samples per second
        if mount_rotation_deg is None:
            mount_rotation_deg = float(rng_for("mount-angle", self.seed, sensor).uniform(0, 15))
        self.mount_rotation_deg = mount_rotation_deg
        self._mount = signals.mount_rotation(mount_rotation_deg, self.seed, sensor)
        self._gyro_bias = rng_for("gyro-bias", self.seed, sensor).uniform(-1.5, 1.5, 3)
        self._gain = signals.mat_gain(self.seed, sensor) if self.is_mat else None
        if self._gain is not None:
            self._counts_per_kpa = (10000.0 / self._gain).astype(np.float32)
        self._digest = hashlib.sha256(f"{sensor}:{self.seed}".encode()).digest()

    # ------------------------------------------------------------------ identity

    @property
    def address(self) -> str:
        raw = bytearray(self._digest[:6])
        raw[0] |= 0xC0  # static random address
        return ":".join(f"{b:02X}" for b in raw)

    @property
    def serial(self) -> str:
        return f"SL{self.spec.kind}-{self._digest[6:9].hex().upper()}"

    @property
    def name(self) -> str:
        return f"sitload-{self.spec.short}-{self.serial[-4:]}"

    @property
    def device_info(self) -> dict[str, str]:
        return {"manufacturer": "sitload project", "model": self.spec.model,
                "serial": self.serial, "firmware": "1.0.0-sim", "hardware": "sim-1"}

    @property
    def config(self) -> ConfigRecord:
        if self.is_mat:
            rows, cols = signals.MAT_SHAPE
            return ConfigRecord(self.spec.kind, self.spec.placement, self.spec.side,
                                self.rate_dhz, 0, NO_GYRO, rows, cols, 1)
        return ConfigRecord(self.spec.kind, self.spec.placement, self.spec.side, self.rate_dhz,
                            ACCEL_RANGE, GYRO_RANGE, 0, 0, self.per_frame)

    @property
    def config_record(self) -> bytes:
        return self.config.encode()

    @property
    def calibration_record(self) -> bytes:
        return b"" if self._gain is None else encode_calibration_record(self._gain)

    @property
    def wear_s(self) -> float:
        """Seconds of wear the whole simulation covers (one truth row each)."""
        return sum(day.wear_s for day in self._days())

    # ------------------------------------------------------------------ plan

    def _days(self) -> Iterator[_Day]:
        remaining = math.inf if self.hours is None else self.hours * 3600.0
        seq = 0
        level, drain = (40.0, 10.0) if self.faults.low_battery else (100.0, 5.0)
        for d in range(self.days):
            wear = min(self.scenario.wear_hours * 3600.0, remaining)
            if wear < 1.0:
                return
            remaining -= wear
            active = min(wear, level / drain * 3600.0)
            units = int(math.floor(active * self._rate_eff / self.per_frame + 1e-9))
            yield _Day(d, self.start_utc + d * DAY_S, wear, active, units, seq, level,
                       drain / 3600.0)
            seq += units * (2 if self.is_mat else 1)

    # ------------------------------------------------------------------ chunks

    def chunks(self, chunk_s: float = 600.0) -> Iterator[SimChunk]:
        """Frames, times, truth and events in wear-time order, ``chunk_s`` seconds at a time."""
        if chunk_s <= 0:
            raise ConfigError(f"chunk_s must be > 0, got {chunk_s}")
        last_host = -math.inf
        for day in self._days():
            states = plan_day(self.scenario, self.seed, day.index, day.start, day.wear_s)
            model = self._day_model(states, day.index)
            n_chunks = math.ceil(day.wear_s / chunk_s)
            for c in range(n_chunks):
                w0, w1 = c * chunk_s, min(day.wear_s, (c + 1) * chunk_s)
                chunk = self._chunk(day, states, model, w0, w1, last=c == n_chunks - 1)
                if chunk.host_times.size:
                    chunk.host_times = np.maximum.accumulate(
                        np.maximum(chunk.host_times, last_host))
                    last_host = float(chunk.host_times[-1])
                yield chunk

    def _day_model(self, states: DayStates, day: int) -> signals.ImuPose | np.ndarray:
        if self.is_mat:
            return signals.mat_loads(states, self.seed, day)
        if self.spec.kind == 1:
            return signals.thigh_pose(states, self.seed, day)
        return signals.hip_pose(states, self.seed, day)

    def _first_unit(self, w: float) -> int:
        """Index of the first frame (IMU) or scan (mat) starting at or after ``w`` s of the day."""
        return int(math.ceil(w * self._rate_eff / self.per_frame - 1e-9))

    def _chunk(self, day: _Day, states: DayStates, model: signals.ImuPose | np.ndarray,
               w0: float, w1: float, last: bool) -> SimChunk:
        u0 = min(day.units, self._first_unit(w0))
        u1 = day.units if last else min(day.units, self._first_unit(w1))
        units = np.arange(u0, u1)
        first_tau = units * self.per_frame / self._rate_eff
        unit_sent = first_tau + self.per_frame / self._rate_eff  # when its sampling window ends
        sent_off = unit_sent
        if self.is_mat:
            sent_off = (unit_sent[:, None] + FRAGMENT_SPACING_S * np.arange(2)).ravel()
        flags = self._flags(day, units, unit_sent)
        frames, samples = self._encode(day, states, model, units, first_tau, flags)
        per_unit = 2 if self.is_mat else 1
        index = np.arange(u0 * per_unit, u1 * per_unit)  # frame index within the day
        seq = day.seq_base + index
        sent_at = day.start + sent_off
        keep = ~self._out_of_range(sent_at)
        if self.faults.drop_rate > 0 and index.size:
            draws = block_stream(("drop", self.seed, self.sensor, day.index),
                                 int(index[0]), int(index[-1]) + 1, 1, "uniform")[:, 0]
            keep &= draws >= self.faults.drop_rate
        if self.faults.malformed_every:
            for i in np.flatnonzero(((seq + 1) % self.faults.malformed_every == 0) & keep):
                bad = bytearray(frames[i])
                bad[HEADER_SIZE] ^= 0xFF
                frames[i] = bytes(bad)
        latency = np.empty(0, dtype=np.float64)
        if index.size:
            latency = LATENCY_S[0] + (LATENCY_S[1] - LATENCY_S[0]) * block_stream(
                ("latency", self.seed, self.sensor, day.index),
                int(index[0]), int(index[-1]) + 1, 1, "uniform")[:, 0].astype(np.float64)
        s0, s1 = int(math.ceil(w0 - 1e-9)), int(min(day.wear_s, math.ceil(w1 - 1e-9)))
        return SimChunk(
            frames=[f for f, k in zip(frames, keep) if k],
            sent_at=sent_at[keep],
            host_times=(sent_at + latency)[keep],
            truth=states.truth(s0, s1),
            battery=self._battery_events(day, w0, w1, last),
            link_events=self._link_events(day, w0, w1, last),
            samples=samples,
        )

    def _level(self, day: _Day, tau: np.ndarray) -> np.ndarray:
        return np.ceil(day.battery_start - day.drain_per_s * tau - 1e-9)

    def _flags(self, day: _Day, units: np.ndarray, unit_sent: np.ndarray) -> np.ndarray:
        flags = np.where(self._level(day, unit_sent) < LOW_BATTERY_PERCENT, FLAG_LOW_BATTERY, 0)
        resync = units == 0
        prev_sent = unit_sent - self.per_frame / self._rate_eff
        for _, end in self._disconnects(day):
            end_off = end - day.start
            resync |= (unit_sent >= end_off) & (prev_sent < end_off)
        return flags | np.where(resync, FLAG_RESYNC, 0)

    def _disconnects(self, day: _Day) -> list[tuple[float, float]]:
        """Out-of-range periods (UTC start, end) overlapping this day's streaming time."""
        lo, hi = day.start, day.start + day.active_s
        out = []
        for offset, duration in self.faults.disconnects:
            a, b = self.start_utc + offset, self.start_utc + offset + duration
            if b > lo and a < hi:
                out.append((max(a, lo), b))
        return out

    def _out_of_range(self, sent_at: np.ndarray) -> np.ndarray:
        out = np.zeros(sent_at.shape, dtype=bool)
        for offset, duration in self.faults.disconnects:
            a = self.start_utc + offset
            out |= (sent_at >= a) & (sent_at < a + duration)
        return out

    def _encode(self, day: _Day, states: DayStates, model: signals.ImuPose | np.ndarray,
                units: np.ndarray, first_tau: np.ndarray, flags: np.ndarray
               ) -> tuple[list[bytes], ImuSamples | None]:
        if units.size == 0:
            return [], None
        k0, k1 = int(units[0]) * self.per_frame, (int(units[-1]) + 1) * self.per_frame
        tau = np.arange(k0, k1) / self._rate_eff
        ticks = np.rint((day.start - self.start_utc + first_tau)
                        * (1 + self.faults.drift_ppm * 1e-6) * TICKS_PER_S).astype(np.int64)
        key = ("noise", self.seed, self.sensor, day.index)
        if self.is_mat:
            cells = self._gain.size
            noise = (block_stream(key, k0, k1, cells, "uniform") - 0.5) * np.sqrt(12.0)
            kpa = signals.mat_pressure(states, model, _MAT_BASIS, tau, noise)
            counts = np.clip(np.rint(kpa * self._counts_per_kpa), 0, 255).astype(np.uint8)
            return encode_mat_scans(day.seq_base + 2 * units, ticks, flags, counts,
                                    self.rate_dhz), None
        noise = block_stream(key, k0, k1, 6)
        accel, gyro = signals.imu_samples(model, tau, noise, self._mount, self._gyro_bias)
        shape = (units.size, self.per_frame, 3)
        accel = np.clip(accel, -ACCEL_RANGE_G[ACCEL_RANGE], ACCEL_RANGE_G[ACCEL_RANGE])
        gyro = np.clip(gyro, -GYRO_RANGE_DPS[GYRO_RANGE], GYRO_RANGE_DPS[GYRO_RANGE])
        frames = encode_imu_frames(self.spec.kind, day.seq_base + units, ticks, flags,
                                   accel.reshape(shape), gyro.reshape(shape), self.rate_dhz,
                                   ACCEL_RANGE, GYRO_RANGE)
        return frames, ImuSamples(day.start + tau, accel, gyro)

    def _battery_events(self, day: _Day, w0: float, w1: float,
                        last: bool) -> list[tuple[float, int]]:
        start = int(math.ceil(day.battery_start - 1e-9))
        events = [(0.0, start)] if w0 == 0 else []
        for p in range(start - 1, -1, -1):
            tau = (day.battery_start - p) / day.drain_per_s
            if tau > day.active_s + 1e-6:
                break
            if w0 <= tau < w1 or (last and tau >= w1):
                events.append((tau, p))
        return [(day.start + tau, p) for tau, p in events]

    def _link_events(self, day: _Day, w0: float, w1: float,
                     last: bool) -> list[tuple[float, str]]:
        events = [(day.start, "started")] if w0 == 0 else []
        for a, b in self._disconnects(day):
            events += [(t, name) for t, name in ((a, "disconnected"), (b, "connected"))
                       if w0 <= t - day.start < w1 and t - day.start < day.active_s]
        if w0 <= day.active_s < w1 or (last and day.active_s >= w1):
            events.append((day.start + day.active_s, "stopped"))
        return sorted(events, key=lambda e: e[0])


_MAT_BASIS = signals.mat_basis()
