"""Firmware-side encoder of wire protocol v1 (docs/protocol.md), vectorised over many frames.

Written independently of the host decoder (``sensor_ingest``): both are held to the golden vectors
in docs/protocol.md. A batch of frames is packed as one numpy byte matrix (header, payload, CRC
columns, the CRC computed for all frames at once) and only the final split into ``bytes`` runs
per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VERSION = 1
TICKS_PER_S = 32768
MAX_FRAME = 244
HEADER_SIZE = 16
CRC_SIZE = 2
MAT_PREFIX_SIZE = 4
MAX_IMU_SAMPLES = 18
MAX_MAT_CELLS = MAX_FRAME - HEADER_SIZE - MAT_PREFIX_SIZE - CRC_SIZE  # 222

FLAG_HAS_GYRO = 0x01
FLAG_LOW_BATTERY = 0x02
FLAG_RESYNC = 0x04

ACCEL_RANGE_G = (2.0, 4.0, 8.0, 16.0)
GYRO_RANGE_DPS = (250.0, 500.0, 1000.0, 2000.0)
NO_GYRO = 0xFF

_HEADER = np.dtype([("version", "u1"), ("kind", "u1"), ("flags", "u1"), ("count", "u1"),
                    ("seq", "<u4"), ("ticks", "<u4"), ("rate_dhz", "<u2"), ("ranges", "u1"),
                    ("fragment", "u1")])
_MAT_PREFIX = np.dtype([("rows", "u1"), ("cols", "u1"), ("first", "<u2")])
_CONFIG = np.dtype([("config_version", "u1"), ("kind", "u1"), ("placement", "u1"),
                    ("side", "u1"), ("rate_dhz", "<u2"), ("accel_range", "u1"),
                    ("gyro_range", "u1"), ("rows", "u1"), ("cols", "u1"), ("per_frame", "u1"),
                    ("running", "u1")])


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint16)
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
        table[byte] = crc
    return table


_CRC_TABLE = _crc_table()


def crc16_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) of each row
    of a uint8 matrix, computed column by column for all rows at once."""
    crc = np.full(rows.shape[0], 0xFFFF, dtype=np.uint16)
    for col in np.ascontiguousarray(rows.T):
        crc = (crc << 8) ^ _CRC_TABLE[(crc >> 8).astype(np.uint8) ^ col]
    return crc


def quantize(values: np.ndarray, full_scale: float) -> np.ndarray:
    """Physical values to int16 counts, full scale = 32768 LSB, saturating at the rails."""
    counts = np.rint(np.asarray(values, dtype=np.float64) * (32768.0 / full_scale))
    return np.clip(counts, -32768, 32767).astype("<i2")


def _pack(header: np.ndarray, payload: np.ndarray) -> list[bytes]:
    """Frames from a header record array (n,) and a payload byte matrix (n, p); adds the CRCs."""
    n = header.shape[0]
    size = HEADER_SIZE + payload.shape[1] + CRC_SIZE
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    buf = np.empty((n, size), dtype=np.uint8)
    buf[:, :HEADER_SIZE] = header.view(np.uint8).reshape(n, HEADER_SIZE)
    buf[:, HEADER_SIZE:-CRC_SIZE] = payload
    buf[:, -CRC_SIZE:] = crc16_rows(buf[:, :-CRC_SIZE]).astype("<u2").view(np.uint8).reshape(n, 2)
    data = buf.tobytes()
    return [data[i * size:(i + 1) * size] for i in range(n)]


def _header(n: int, kind: int, flags, count: int, seq, ticks, rate_dhz: int, ranges: int,
            fragment: int) -> np.ndarray:
    h = np.zeros(n, dtype=_HEADER)
    h["version"] = VERSION
    h["kind"] = kind
    h["flags"] = flags
    h["count"] = count
    h["seq"] = np.asarray(seq, dtype=np.int64) % 2**32
    h["ticks"] = np.asarray(ticks, dtype=np.int64) % 2**32
    h["rate_dhz"] = rate_dhz
    h["ranges"] = ranges
    h["fragment"] = fragment
    return h


def encode_imu_frames(kind: int, seq, ticks, flags, accel_g: np.ndarray,
                      gyro_dps: np.ndarray | None, rate_dhz: int, accel_range: int = 2,
                      gyro_range: int = 3) -> list[bytes]:
    """IMU frames (kind 1 or 2), one per row of ``accel_g`` (n_frames, count, 3).

    ``seq``/``ticks``/``flags`` are scalars or arrays of n_frames; HAS_GYRO is set here when
    ``gyro_dps`` (same shape as ``accel_g``) is given. Values are quantised with the range codes.
    """
    accel_g = np.asarray(accel_g)
    n, count, _ = accel_g.shape
    if not 1 <= count <= MAX_IMU_SAMPLES:
        raise ValueError(f"{count} samples per frame, protocol allows 1..{MAX_IMU_SAMPLES}")
    channels = [quantize(accel_g, ACCEL_RANGE_G[accel_range])]
    flags = np.asarray(flags, dtype=np.int64) & ~FLAG_HAS_GYRO
    if gyro_dps is not None:
        channels.append(quantize(gyro_dps, GYRO_RANGE_DPS[gyro_range]))
        flags = flags | FLAG_HAS_GYRO
    payload = np.concatenate(channels, axis=2).reshape(n, -1).view(np.uint8)
    ranges = (accel_range & 0x0F) | ((gyro_range & 0x0F) << 4 if gyro_dps is not None else 0)
    return _pack(_header(n, kind, flags, count, seq, ticks, rate_dhz, ranges, 0x01), payload)


def fragment_cells(n_cells: int, cells_per_fragment: int | None = None) -> list[tuple[int, int]]:
    """(first, stop) cell ranges of a scan's fragments.

    By default the scan is cut into the fewest fragments that fit a notification, of equal size
    (the last may be shorter): 16 x 16 = two fragments of 128 cells. ``cells_per_fragment`` forces
    a fragment size (the last fragment takes the rest).
    """
    if cells_per_fragment is None:
        n_frag = math.ceil(n_cells / MAX_MAT_CELLS)
        cells_per_fragment = math.ceil(n_cells / n_frag)
    if not 1 <= cells_per_fragment <= MAX_MAT_CELLS:
        raise ValueError(f"{cells_per_fragment} cells per fragment, at most {MAX_MAT_CELLS}")
    bounds = [(a, min(n_cells, a + cells_per_fragment))
              for a in range(0, n_cells, cells_per_fragment)]
    if len(bounds) > 15:
        raise ValueError(f"scan needs {len(bounds)} fragments, at most 15")
    return bounds


def encode_mat_scans(seq, ticks, flags, cells: np.ndarray, rate_dhz: int,
                     cells_per_fragment: int | None = None) -> list[bytes]:
    """Fragments of mat scans (kind 3) in send order: scan 0 fragment 0, 1, ..., scan 1 ...

    ``cells`` is (n_scans, rows, cols) uint8 raw counts; ``seq`` is each scan's first fragment's
    seq (the others follow consecutively); fragments of a scan share ``ticks`` and ``flags``,
    except RESYNC, which marks only the first frame (fragment 0) after a start or reconnect.
    """
    cells = np.asarray(cells, dtype=np.uint8)
    n, rows, cols = cells.shape
    flat = cells.reshape(n, rows * cols)
    bounds = fragment_cells(rows * cols, cells_per_fragment)
    seq = np.asarray(seq, dtype=np.int64)
    per_fragment = []
    for index, (a, b) in enumerate(bounds):
        prefix = np.zeros(n, dtype=_MAT_PREFIX)
        prefix["rows"], prefix["cols"], prefix["first"] = rows, cols, a
        payload = np.concatenate([prefix.view(np.uint8).reshape(n, MAT_PREFIX_SIZE),
                                  flat[:, a:b]], axis=1)
        frag_flags = flags if index == 0 else np.asarray(flags, dtype=np.int64) & ~FLAG_RESYNC
        header = _header(n, 3, frag_flags, 1, seq + index, ticks, rate_dhz, 0,
                         (index << 4) | len(bounds))
        per_fragment.append(_pack(header, payload))
    return [frame for scan in zip(*per_fragment) for frame in scan]


@dataclass(frozen=True)
class ConfigRecord:
    """The 12-byte config characteristic value (docs/protocol.md, "Config record")."""

    kind: int
    placement: int
    side: int
    rate_dhz: int
    accel_range: int = 0
    gyro_range: int = NO_GYRO
    rows: int = 0
    cols: int = 0
    per_frame: int = 1
    running: int = 1
    config_version: int = 1

    def encode(self) -> bytes:
        rec = np.zeros(1, dtype=_CONFIG)
        for name in _CONFIG.names:
            rec[name] = getattr(self, name)
        return rec.tobytes()


def encode_calibration_record(gain: np.ndarray) -> bytes:
    """Mat calibration record from per-cell gains (rows, cols) in kPa per count x 10000."""
    gain = np.asarray(gain)
    rows, cols = gain.shape
    head = np.array([1, rows, cols, 0], dtype=np.uint8).tobytes()
    return head + np.asarray(gain, dtype="<u2").tobytes()
