"""Host-side decoder of protocol v1 frames (docs/protocol.md). Pure: bytes in, records out."""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np

from sitload.vocab import SensorKind
from sitload.errors import FrameError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBBBIIHBB")
HEADER_SIZE = HEADER.size  # 16
CRC_SIZE = 2
MAX_FRAME = 244
TICKS_PER_S = 32768

FLAG_HAS_GYRO = 0x01
FLAG_LOW_BATTERY = 0x02
FLAG_RESYNC = 0x04

ACCEL_RANGE_G = (2.0, 4.0, 8.0, 16.0)
GYRO_RANGE_DPS = (250.0, 500.0, 1000.0, 2000.0)
MAT_PREFIX = struct.Struct("<BBH")
_KINDS = {int(k): k for k in SensorKind}


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    return binascii.crc_hqx(data, 0xFFFF)


def _word_table() -> np.ndarray:
    """The CRC register after shifting each 16-bit value ``x`` through 16 zero bits: feeding
    the big-endian byte pair ``w`` to register ``r`` gives ``table[r ^ w]`` (the CRC is linear).
    Made as two shifts of 8 bits through the 256-entry table of a byte's 8 shifts."""
    byte = np.arange(256, dtype=np.uint32) << 8
    for _ in range(8):
        byte = np.where(byte & 0x8000, (byte << 1) ^ 0x1021, byte << 1) & 0xFFFF
    reg = np.arange(1 << 16, dtype=np.uint32)
    for _ in range(2):
        reg = ((reg << 8) & 0xFFFF) ^ byte[reg >> 8]
    return reg.astype(np.uint16)


_CRC_WORDS = _word_table()
_CRC_ONE_BYTE = np.array([binascii.crc_hqx(bytes([b]), 0xFFFF) for b in range(256)],
                         dtype=np.uint16)


_FEW_ROWS = 128  # fewer rows than these are checked one by one: two numpy calls a byte column
#                 cost more than a C CRC a row below about this many


def crc16_rows(rows: np.ndarray) -> np.ndarray:
    """``crc16_ccitt_false`` of every row of a 2-D uint8 array, two byte columns at a time."""
    if rows.shape[0] < _FEW_ROWS:
        return np.fromiter((crc16_ccitt_false(row.tobytes()) for row in rows), dtype=np.uint16,
                           count=rows.shape[0])
    crc = np.full(rows.shape[0], 0xFFFF, dtype=np.uint16)
    odd = rows.shape[1] % 2
    if odd:     # an odd length: the first byte alone, then pairs
        crc = _CRC_ONE_BYTE[rows[:, 0]]
    words = rows[:, odd:].view(">u2").T.astype(np.uint16, order="C")    # one copy: columns
    xor, table = np.bitwise_xor, _CRC_WORDS.take     # bound once: called twice a column
    for word in words:
        xor(crc, word, out=crc)
        table(crc, out=crc)
    return crc


@dataclass(frozen=True)
class FrameHeader:
    """The fixed header every frame starts with (docs/protocol.md)."""

    version: int
    kind: SensorKind
    flags: int
    count: int
    seq: int
    ticks: int
    rate_dhz: int
    ranges: int
    frag_index: int
    frag_count: int

    @property
    def rate_hz(self) -> float:
        return self.rate_dhz / 10.0


@dataclass(frozen=True)
class ImuFrame:
    """One decoded IMU frame."""

    header: FrameHeader
    accel: np.ndarray  # (count, 3) g
    gyro: np.ndarray | None  # (count, 3) deg/s


@dataclass(frozen=True)
class MatFragment:
    """One decoded fragment of a pressure-mat scan."""

    header: FrameHeader
    rows: int
    cols: int
    first: int
    cells: bytes  # raw counts, one byte a cell


def parse_header(data: bytes) -> FrameHeader:
    """Check length, CRC and version, then return the header. Raises FrameError."""
    n = len(data)
    if n < HEADER_SIZE + CRC_SIZE:
        raise FrameError(f"truncated frame: {n} bytes, need at least {HEADER_SIZE + CRC_SIZE}",
                         offset=n)
    if n > MAX_FRAME:
        raise FrameError(f"oversized frame: {n} bytes, at most {MAX_FRAME}", offset=MAX_FRAME)
    version, kind, flags, count, seq, ticks, rate_dhz, ranges, frag = HEADER.unpack_from(data)
    expected_crc = int.from_bytes(data[-CRC_SIZE:], "little")
    if crc16_ccitt_false(data[:-CRC_SIZE]) != expected_crc:
        raise FrameError("bad CRC", seq=seq, offset=n - CRC_SIZE)
    if version != PROTOCOL_VERSION:
        raise FrameError(f"unknown protocol version {version}", seq=seq, offset=0)
    if kind not in (1, 2, 3):
        raise FrameError(f"unknown sensor kind {kind}", seq=seq, offset=1)
    if rate_dhz == 0:
        raise FrameError("sample rate 0", seq=seq, offset=12)
    frag_index, frag_count = frag >> 4, frag & 0x0F
    if frag_count == 0 or frag_index >= frag_count:
        raise FrameError(f"bad fragment field {frag_index}/{frag_count}", seq=seq, offset=15)
    return FrameHeader(version, _KINDS[kind], flags, count, seq, ticks, rate_dhz, ranges,
                       frag_index, frag_count)


def decode_frame(data: bytes) -> ImuFrame | MatFragment:
    """Decode one notification value. Raises FrameError naming what is wrong and where."""
    header = parse_header(data)
    payload = memoryview(data)[HEADER_SIZE:-CRC_SIZE]
    if header.kind == SensorKind.PRESSURE:
        return decode_mat_payload(header, payload)
    return _decode_imu(header, payload)


@dataclass(frozen=True)
class ImuLayout:
    """How an IMU frame's payload is laid out and scaled."""

    channels: int  # 3 (accel) or 6 (accel + gyro)
    g_per_lsb: float
    dps_per_lsb: float


def imu_layout(header: FrameHeader, payload_len: int) -> ImuLayout:
    """Check an IMU frame's payload size and ranges against its header. Raises FrameError."""
    channels = 6 if header.flags & FLAG_HAS_GYRO else 3
    if header.count == 0:
        raise FrameError("IMU frame with no samples", seq=header.seq, offset=3)
    want = header.count * channels * 2
    if payload_len != want:
        raise FrameError(f"IMU payload is {payload_len} bytes, header says {want}",
                         seq=header.seq, offset=HEADER_SIZE + min(payload_len, want))
    accel_code, gyro_code = header.ranges & 0x0F, header.ranges >> 4
    if accel_code >= len(ACCEL_RANGE_G) or gyro_code >= len(GYRO_RANGE_DPS):
        raise FrameError(f"bad range codes {accel_code}/{gyro_code}", seq=header.seq, offset=14)
    return ImuLayout(channels, ACCEL_RANGE_G[accel_code] / 32768.0,
                     GYRO_RANGE_DPS[gyro_code] / 32768.0)


def imu_values(raw: np.ndarray, layout: ImuLayout) -> tuple[np.ndarray, np.ndarray | None]:
    """Scale int16 samples (n x channels) to accel in g and gyro in deg/s: each value converted
    to float64, then multiplied. With a gyroscope both are views of one (n, 6) array, scaled
    whole: numpy is slow over rows of 3 taken out of rows of 6."""
    if layout.channels != 6:
        return np.multiply(raw, layout.g_per_lsb, dtype=np.float64), None
    values = raw.astype(np.float64)
    values *= (layout.g_per_lsb,) * 3 + (layout.dps_per_lsb,) * 3
    return values[:, :3], values[:, 3:]


def _decode_imu(header: FrameHeader, payload: memoryview) -> ImuFrame:
    layout = imu_layout(header, len(payload))
    raw = np.frombuffer(payload, dtype="<i2").reshape(header.count, layout.channels)
    return ImuFrame(header, *imu_values(raw, layout))


def decode_mat_payload(header: FrameHeader, payload: bytes | memoryview) -> MatFragment:
    """The fragment in a mat frame's payload (header already checked). Raises FrameError."""
    if len(payload) < MAT_PREFIX.size:
        raise FrameError("mat payload shorter than its 4-byte prefix", seq=header.seq,
                         offset=HEADER_SIZE + len(payload))
    rows, cols, first = MAT_PREFIX.unpack_from(payload)
    cells = bytes(payload[MAT_PREFIX.size:])
    if rows == 0 or cols == 0 or first + len(cells) > rows * cols or not cells:
        raise FrameError(f"mat fragment cells {first}..{first + len(cells)} do not fit "
                         f"{rows} x {cols}", seq=header.seq, offset=HEADER_SIZE)
    return MatFragment(header, rows, cols, first, cells)


CONFIG = struct.Struct("<BBBBHBBBBBB")
CALIBRATION_PREFIX = struct.Struct("<BBBB")
PLACEMENTS = {1: "anterior mid-thigh", 2: "lateral hip", 3: "seat"}
SIDES = {0: "n/a", 1: "left", 2: "right"}


@dataclass(frozen=True)
class DeviceConfig:
    """The config characteristic's record (docs/protocol.md)."""

    kind: SensorKind
    placement: str
    side: str
    rate_hz: float
    accel_range_g: float | None
    gyro_range_dps: float | None
    rows: int
    cols: int
    per_frame: int
    running: bool


def parse_config(record: bytes) -> DeviceConfig:
    if len(record) != CONFIG.size:
        raise FrameError(f"config record is {len(record)} bytes, expected {CONFIG.size}",
                         offset=min(len(record), CONFIG.size))
    (version, kind, placement, side, rate_dhz, accel_code, gyro_code, rows, cols, per_frame,
     running) = CONFIG.unpack(record)
    if version != 1 or kind not in (1, 2, 3) or placement not in PLACEMENTS or side not in SIDES:
        raise FrameError(f"bad config record {record.hex()}", offset=0)
    is_mat = kind == SensorKind.PRESSURE
    return DeviceConfig(
        kind=SensorKind(kind), placement=PLACEMENTS[placement], side=SIDES[side],
        rate_hz=rate_dhz / 10.0,
        accel_range_g=None if is_mat else ACCEL_RANGE_G[accel_code & 3],
        gyro_range_dps=None if is_mat or gyro_code == 0xFF else GYRO_RANGE_DPS[gyro_code & 3],
        rows=rows, cols=cols, per_frame=per_frame, running=bool(running))


def parse_calibration(record: bytes) -> np.ndarray:
    """Per-cell gain in kPa per count, shape (rows, cols)."""
    if len(record) < CALIBRATION_PREFIX.size:
        raise FrameError("calibration record shorter than its header", offset=len(record))
    version, rows, cols, _ = CALIBRATION_PREFIX.unpack_from(record)
    want = CALIBRATION_PREFIX.size + 2 * rows * cols
    if version != 1 or len(record) != want:
        raise FrameError(f"calibration record v{version} of {len(record)} bytes, expected v1 of "
                         f"{want}", offset=0)
    gain = np.frombuffer(record, dtype="<u2", offset=CALIBRATION_PREFIX.size)
    return (gain.astype(np.float64) / 10000.0).reshape(rows, cols)
