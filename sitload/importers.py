"""`sitload import`: foreign accelerometer CSV files into a sitload recording.

The CSV needs a header with ``time,ax,ay,az`` (optionally ``gx,gy,gz`` in deg/s); ``time`` is ISO
8601 (naive times are taken in ``tz``) or epoch seconds; acceleration in g or m/s^2; axes as in
docs/protocol.md. The samples are put on a uniform grid at the rate detected from the timestamps
(mean spacing outside holes; 10-200 Hz), so irregular sampling is tolerated; a hole longer than
``HOLE_PERIODS`` sample periods is kept as a gap, never filled in. The result is encoded as protocol
frames (as a sensor would send them), so imported data goes through the one decode path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from firmware_sim.frame_encoder import FLAG_RESYNC, TICKS_PER_S, encode_imu_frames
from sensor_ingest.recording import RecordingWriter
from sensor_ingest.samples import SensorKind
from sitload.errors import ImportDataError

G = 9.80665
MIN_RATE_HZ, MAX_RATE_HZ = 10.0, 200.0
HOLE_PERIODS = 5.0
PER_FRAME = 10
ACCEL_CODES = ((2.0, 0), (4.0, 1), (8.0, 2), (16.0, 3))


@dataclass(frozen=True)
class ImportSummary:
    path: Path
    samples_read: int
    rows_skipped: int
    rate_hz: float
    segments: int
    frames: int


def parse_times(column: pd.Series, tz: str) -> np.ndarray:
    """Epoch seconds, NaN where a value does not parse."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().mean() > 0.5:
        return numeric.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(column, errors="coerce", format="ISO8601", utc=False)
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize(tz)
    parsed = parsed.dt.tz_convert("UTC")
    seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return seconds.to_numpy(dtype=np.float64, na_value=np.nan)


def read_csv(path: Path, *, units: str = "g", tz: str = "UTC", skip_bad: bool = False
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """(times, accel in g, gyro in deg/s or None, rows skipped). Raises ImportDataError."""
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ImportDataError(f"{path}: cannot read CSV ({str(exc).splitlines()[0]})") from None
    raw.columns = [c.strip().lower() for c in raw.columns]
    missing = [c for c in ("time", "ax", "ay", "az") if c not in raw.columns]
    if missing:
        raise ImportDataError(f"{path} line 1: header lacks {', '.join(missing)} (need "
                              f"time,ax,ay,az and optionally gx,gy,gz)")
    has_gyro = all(c in raw.columns for c in ("gx", "gy", "gz"))
    axes = ["ax", "ay", "az"] + (["gx", "gy", "gz"] if has_gyro else [])
    t = parse_times(raw["time"], tz)
    values = raw[axes].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad_time = ~np.isfinite(t)
    bad_value = ~np.isfinite(values).all(axis=1)
    bad = bad_time | bad_value
    if bad.any() and not skip_bad:
        row = int(np.flatnonzero(bad)[0])
        what = (f"bad time {raw['time'].iloc[row]!r}" if bad_time[row] else
                f"bad value in {', '.join(a for a, ok in zip(axes, np.isfinite(values[row])) if not ok)}")
        raise ImportDataError(f"{path} line {row + 2}: {what} (use --skip-bad to skip such rows)")
    t, values = t[~bad], values[~bad]
    if t.size < 2:
        raise ImportDataError(f"{path}: fewer than 2 valid samples")
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        rows = np.flatnonzero(~bad)
        raise ImportDataError(f"{path} line {rows[back[0] + 1] + 2}: time does not increase")
    accel = values[:, :3] / G if units == "ms2" else values[:, :3]
    gyro = values[:, 3:] if has_gyro else None
    return t, accel, gyro, int(bad.sum())


def detect_rate(t: np.ndarray, path: Path) -> float:
    """Samples per second over the stretches without holes (robust to jitter), to 0.1 Hz."""
    diffs = np.diff(t)
    regular = diffs < HOLE_PERIODS * np.median(diffs)
    rate = regular.sum() / diffs[regular].sum()
    if not MIN_RATE_HZ * 0.95 <= rate <= MAX_RATE_HZ * 1.05:
        raise ImportDataError(f"{path}: sample rate {rate:.1f} Hz is outside "
                              f"{MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz")
    return round(rate * 10) / 10


def _segments(t: np.ndarray, rate: float) -> list[tuple[int, int]]:
    holes = np.flatnonzero(np.diff(t) > HOLE_PERIODS / rate) + 1
    bounds = [0, *holes.tolist(), t.size]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= 2]


def import_csv(source: str | Path, output: str | Path, *, sensor: str = "thigh-imu",
               units: str = "g", tz: str = "UTC", skip_bad: bool = False) -> ImportSummary:
    source = Path(source)
    kind = SensorKind.from_cli(sensor)
    if kind == SensorKind.PRESSURE:
        raise ImportDataError("CSV import reads IMU data; --sensor must be thigh-imu or hip-imu")
    t, accel, gyro, skipped = read_csv(source, units=units, tz=tz, skip_bad=skip_bad)
    rate = detect_rate(t, source)
    full_scale = float(np.abs(accel).max())
    accel_range_g, accel_code = next((g, c) for g, c in ACCEL_CODES if full_scale < g * 0.999
                                     or g == 16.0)
    t_origin = t[0]
    seq = 0
    frames: list[bytes] = []
    host_times: list[float] = []
    segments = _segments(t, rate)
    for a, b in segments:
        grid = np.arange(t[a], t[b - 1] + 1e-9, 1.0 / rate)
        acc = np.column_stack([np.interp(grid, t[a:b], accel[a:b, i]) for i in range(3)])
        gyr = (np.column_stack([np.interp(grid, t[a:b], gyro[a:b, i]) for i in range(3)])
               if gyro is not None else None)
        for start in range(0, grid.size, PER_FRAME):
            stop = min(grid.size, start + PER_FRAME)
            ticks = round((grid[start] - t_origin) * TICKS_PER_S)
            flags = FLAG_RESYNC if start == 0 else 0
            frames += encode_imu_frames(
                int(kind), seq, ticks, flags, acc[None, start:stop],
                None if gyr is None else gyr[None, start:stop], int(round(rate * 10)),
                accel_range=accel_code)
            host_times.append(grid[stop - 1] + 1.0 / rate)
            seq += 1
    meta = {"source": "import", "imported_from": source.name, "timezone": tz,
            "sensor": sensor, "accel_range_g": str(accel_range_g)}
    with RecordingWriter(output, meta=meta) as rec:
        device = rec.add_device(f"import:{source.name}", kind, name=source.stem)
        rec.add_frames(device, frames, host_times)
    return ImportSummary(Path(output), int(t.size), skipped, rate, len(segments), len(frames))


SITTING_LABELS = {"sitting", "sit", "seated", "sedentary-sitting", "1", "true"}


def read_labels(path: str | Path, *, tz: str = "UTC") -> pd.DataFrame:
    """Per-second reference labels from a CSV with ``time`` and ``label`` (or ``posture``) columns:
    one row per second, or per change (carried forward to the next row). Returns columns ``sec``
    (UTC epoch second) and ``sitting`` (bool: the label is one of SITTING_LABELS)."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ImportDataError(f"{path}: cannot read CSV ({str(exc).splitlines()[0]})") from None
    raw.columns = [c.strip().lower() for c in raw.columns]
    label = next((c for c in ("label", "posture") if c in raw.columns), None)
    if "time" not in raw.columns or label is None:
        raise ImportDataError(f"{path} line 1: need columns time and label (or posture)")
    t = parse_times(raw["time"], tz)
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise ImportDataError(f"{path} line {bad[0] + 2}: bad time {raw['time'].iloc[bad[0]]!r}")
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        raise ImportDataError(f"{path} line {back[0] + 3}: time does not increase")
    start = np.floor(t).astype(np.int64)
    stop = np.r_[start[1:], start[-1] + 1]
    sitting = raw[label].str.strip().str.lower().isin(SITTING_LABELS).to_numpy()
    return pd.DataFrame({"sec": np.concatenate([np.arange(a, b) for a, b in zip(start, stop)]),
                         "sitting": np.repeat(sitting, stop - start)})
