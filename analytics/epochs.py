"""Samples -> one row of features per UTC second (the epoch), vectorised with numpy.

An epoch is the second ``floor(t)``. The features of an epoch depend on that second's samples only
(segment sums with ``np.add.reduceat``), so cutting the stream anywhere gives the same features.
Epoch columns are plain dicts of equal-length numpy arrays keyed by column name.
"""

from __future__ import annotations

import numpy as np

from sitload.vocab import Posture

Columns = dict[str, np.ndarray]
GYRO_COV = {"gxx": (0, 0), "gyy": (1, 1), "gzz": (2, 2), "gxy": (0, 1), "gxz": (0, 2),
            "gyz": (1, 2)}


def epoch_segments(sec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epoch seconds, segment starts, sample counts) of a non-decreasing int second array."""
    starts = np.flatnonzero(sec[1:] != sec[:-1]) + 1
    starts = np.concatenate(([0], starts)) if sec.size else starts
    counts = np.diff(np.concatenate((starts, [sec.size])))
    return sec[starts], starts, counts


def row_norms(v: np.ndarray) -> np.ndarray:
    """The length of each row of an (n, 3) array, the squares added x + z first, then y: the
    order in which numpy's ``einsum("ij,ij->i")`` adds them here, with which the features and
    the posture's unit vectors were made before (the same bits), in half its time."""
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    return np.sqrt((x * x + z * z) + y * y)


def imu_epochs(sec: np.ndarray, accel: np.ndarray, gyro: np.ndarray | None) -> Columns:
    """Per-second mean acceleration (g), std of |a| (g), mean |gyro| (deg/s) and the gyro
    covariance (deg/s)^2 (``GYRO_COV`` columns); gyro columns are NaN without a gyro."""
    secs, starts, counts = epoch_segments(sec)
    if secs.size == 0:
        return _empty(("ax", "ay", "az", "std_mag", "gyro_mag", *GYRO_COV))
    n = counts.astype(float)
    mean = np.add.reduceat(accel, starts, axis=0) / n[:, None]
    mag = row_norms(accel)
    m1 = np.add.reduceat(mag, starts) / n
    m2 = np.add.reduceat(mag * mag, starts) / n
    std_mag = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    out = {"sec": secs, "n": counts, "ax": mean[:, 0], "ay": mean[:, 1], "az": mean[:, 2],
           "std_mag": std_mag}
    if gyro is None:
        out["gyro_mag"] = np.full(secs.size, np.nan)
        out.update({name: np.full(secs.size, np.nan) for name in GYRO_COV})
        return out
    out["gyro_mag"] = np.add.reduceat(row_norms(gyro), starts) / n
    g_mean = np.add.reduceat(gyro, starts, axis=0) / n[:, None]
    for name, (i, j) in GYRO_COV.items():
        second = np.add.reduceat(gyro[:, i] * gyro[:, j], starts) / n
        out[name] = second - g_mean[:, i] * g_mean[:, j]
    return out


def mat_epochs(sec: np.ndarray, pressure: np.ndarray, cell_area_cm2: float,
               loaded_kpa: float) -> Columns:
    """Per-second features of the mean pressure map (row 0 = front edge, column 0 = sitter's left).

    Loads are in newtons (kPa x cell area): whole seat, and its rear (ischial) and front (thigh)
    halves split left / right (a middle column of an odd mat is left out of the halves). ``cop_x`` is the lateral centre of pressure in cells from
    the mat's centre line, + towards the sitter's left; ``cop_y`` in cells from the front edge.
    Peaks are the highest cell pressure in each half (the ischial tuberosities carry the peaks).
    """
    secs, starts, counts = epoch_segments(sec)
    if secs.size == 0:
        return _empty(("load_n", "left_n", "right_n", "rear_left_n", "rear_right_n",
                       "front_left_n", "front_right_n", "cop_x", "cop_y", "area",
                       "peak_left_kpa", "peak_right_kpa"))
    _, rows, cols = pressure.shape
    maps = np.add.reduceat(pressure.reshape(len(pressure), rows * cols), starts, axis=0)
    maps = (maps / counts[:, None]).reshape(len(secs), rows, cols)
    newton_per_kpa = cell_area_cm2 * 1e-4 * 1e3
    half = cols // 2
    col_sum = maps.sum(axis=1)                      # (E, cols) kPa summed over rows
    row_sum = maps.sum(axis=2)                      # (E, rows)
    total_kpa = col_sum.sum(axis=1)
    left = col_sum[:, :half].sum(axis=1) + (col_sum[:, half] / 2 if cols % 2 else 0.0)
    right = total_kpa - left
    rear = maps[:, rows // 2:, :]                   # the ischial (buttock) half of the seat
    front = maps[:, :rows // 2, :]                  # the thigh half
    rear_left = rear[:, :, :half].sum(axis=(1, 2))
    rear_right = rear[:, :, cols - half:].sum(axis=(1, 2))
    front_left = front[:, :, :half].sum(axis=(1, 2))
    front_right = front[:, :, cols - half:].sum(axis=(1, 2))
    safe = np.where(total_kpa > 0, total_kpa, 1.0)
    centre = (cols - 1) / 2.0
    # elementwise products and numpy sums, not BLAS, so every cut of the stream sums alike
    cop_x = np.where(total_kpa > 0, centre - (col_sum * np.arange(cols)).sum(axis=1) / safe, 0.0)
    cop_y = np.where(total_kpa > 0, (row_sum * np.arange(rows)).sum(axis=1) / safe, 0.0)
    return {"sec": secs, "n": counts, "load_n": total_kpa * newton_per_kpa,
            "left_n": left * newton_per_kpa, "right_n": right * newton_per_kpa,
            "rear_left_n": rear_left * newton_per_kpa, "rear_right_n": rear_right * newton_per_kpa,
            "front_left_n": front_left * newton_per_kpa,
            "front_right_n": front_right * newton_per_kpa,
            "cop_x": cop_x, "cop_y": cop_y,
            "area": (maps > loaded_kpa).sum(axis=(1, 2)),
            "peak_left_kpa": maps[:, :, :half].max(axis=(1, 2)),
            "peak_right_kpa": maps[:, :, cols - half:].max(axis=(1, 2))}


def _empty(names) -> Columns:
    cols = {"sec": np.zeros(0, dtype=np.int64), "n": np.zeros(0, dtype=np.int64)}
    cols.update({name: np.zeros(0) for name in names})
    return cols


def concat(parts: list[Columns]) -> Columns:
    """Row-wise concatenation of column dicts with the same keys."""
    if len(parts) == 1:
        return parts[0]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def with_gap_rows(cols: Columns, first: int) -> Columns:
    """Insert a GAP row for every second from ``first`` to the block's end that has no samples."""
    sec = cols["sec"]
    n = int(sec[-1]) - first + 1
    if n == len(sec):
        return cols
    pos = sec - first
    out: Columns = {"sec": np.arange(first, first + n, dtype=np.int64)}
    for key, values in cols.items():
        if key == "sec":
            continue
        fill = np.nan if values.dtype.kind == "f" else (Posture.GAP if key == "posture" else 0)
        full = np.full(n, fill, dtype=values.dtype)
        full[pos] = values
        out[key] = full
    return out
