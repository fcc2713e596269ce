"""WitMotion BLE 5.0 IMUs (WT901BLECL, BWT901BLE5.0, WT9011DCL): GATT, commands, packets, decoder.

From WitMotion's "Bluetooth 5.0 communication protocol" (WT901BLECL datasheet, section 6):

- Service ``0000ffe5-...``; the sensor notifies packets on ``0000ffe4-...`` and takes commands on
  ``0000ffe9-...``.
- A packet is 20 bytes: ``0x55``, a flag, 18 bytes. Flag ``0x61``: acceleration x y z, angular
  velocity x y z, angle (roll, pitch, yaw), each int16 little-endian; a = raw / 32768 * 16 g,
  w = raw / 32768 * 2000 deg/s, angle = raw / 32768 * 180 deg. Flag ``0x71``: the reply to a
  register read: the start register (uint16) and the 8 registers from it (int16 each).
- A command is 5 bytes ``FF AA REG DATAL DATAH``: unlock ``FF AA 69 88 B5`` (register writes are
  accepted for 10 s after it), save ``FF AA 00 00 00``, output rate ``FF AA 03 RATE 00``, read
  ``FF AA 27 REG 00``. Register 0x64 (BLE 5.0 models) holds the battery voltage in 0.01 V.

The packets carry no time and no sequence number: samples are stamped from their receive times
(``receive_clock``) and a gap is a silence in the stream.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitload.errors import BluetoothError, ConfigError
from sitload.samples import SampleBatch
from sitload.sensor_ingest.devices.profile import (BatteryCallback, DeviceProfile, DeviceSetup,
                                                   NotifyCallback)
from sitload.sensor_ingest.receive_clock import ReceiveClock
from sitload.sensor_ingest.stream_decoder import DecodeStats, Gap
from sitload.vocab import SensorKind

log = logging.getLogger("sitload.ingest.witmotion")

SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"
NAME_PREFIXES = ("WT", "BWT")  # WT901BLE68, WT9011DCL-BT50, BWT901BLE5.0 ...

PACKET_SIZE = 20
HEADER = 0x55
FLAG_DATA = 0x61
FLAG_REGISTERS = 0x71
ACCEL_FULL_G = 16.0
GYRO_FULL_DPS = 2000.0
ANGLE_FULL_DEG = 180.0
FULL_SCALE = 32768.0

REG_SAVE = 0x00
REG_RATE = 0x03
REG_READ = 0x27
REG_UNLOCK = 0x69
REG_BATTERY = 0x64
UNLOCK_KEY = 0xB588
RATE_CODES = {10.0: 0x06, 20.0: 0x07, 50.0: 0x08, 100.0: 0x09, 200.0: 0x0B}
DEFAULT_RATE_HZ = 50.0
COMMAND_GAP_S = 0.1  # WitMotion's SDK waits this long between unlock, write and save
REPLY_TIMEOUT_S = 2.0
RATE_TOLERANCE = 0.1  # a measured rate this far off the one asked for is reported
RATE_CHECK_S = 10.0  # ... once a run has lasted this long
# battery voltage -> percent for the single Li-ion cell (approximate resting discharge curve)
BATTERY_CURVE_V = (3.40, 3.60, 3.70, 3.75, 3.80, 3.90, 4.00, 4.10)
BATTERY_CURVE_PERCENT = (0, 10, 25, 40, 55, 75, 90, 100)


def command(register: int, value: int) -> bytes:
    """``FF AA REG DATAL DATAH``."""
    return bytes((0xFF, 0xAA, register)) + struct.pack("<H", value & 0xFFFF)


UNLOCK = command(REG_UNLOCK, UNLOCK_KEY)
SAVE = command(REG_SAVE, 0)


def rate_command(rate_hz: float) -> bytes:
    if rate_hz not in RATE_CODES:
        raise ConfigError(f"a WitMotion sensor streams at {', '.join(f'{r:g}' for r in RATE_CODES)}"
                          f" Hz, not {rate_hz:g}")
    return command(REG_RATE, RATE_CODES[rate_hz])


def read_command(register: int) -> bytes:
    return command(REG_READ, register)


def battery_percent(volts: float) -> int:
    return int(round(float(np.interp(volts, BATTERY_CURVE_V, BATTERY_CURVE_PERCENT))))


@dataclass(frozen=True)
class RegisterReply:
    """A ``0x55 0x71`` packet: ``values[i]`` is register ``start + i``."""

    start: int
    values: tuple[int, ...]


@dataclass(frozen=True)
class Packets:
    """The packets of some notifications: data rows (int16 x 9: a xyz, w xyz, angle xyz) with
    the index of the notification each came in, register replies, and rejections (reason,
    notification index)."""

    data: np.ndarray
    data_from: np.ndarray
    replies: list[RegisterReply]
    rejected: list[tuple[str, int]]

    @property
    def accel_g(self) -> np.ndarray:
        return self.data[:, 0:3] * (ACCEL_FULL_G / FULL_SCALE)

    @property
    def gyro_dps(self) -> np.ndarray:
        return self.data[:, 3:6] * (GYRO_FULL_DPS / FULL_SCALE)

    @property
    def angle_deg(self) -> np.ndarray:
        return self.data[:, 6:9] * (ANGLE_FULL_DEG / FULL_SCALE)


def split_packets(notifications: Sequence[bytes]) -> Packets:
    """Parse notifications of whole 20-byte packets (one or more each). A notification that is
    not whole packets is rejected whole; a packet without the 0x55 header or of an unknown type
    is rejected alone."""
    rejected: list[tuple[str, int]] = []
    whole, owner = [], []
    for i, data in enumerate(notifications):
        if not data or len(data) % PACKET_SIZE:
            rejected.append((f"notification of {len(data)} bytes is not whole "
                             f"{PACKET_SIZE}-byte packets", i))
            continue
        whole.append(bytes(data))
        owner.extend([i] * (len(data) // PACKET_SIZE))
    rows = np.frombuffer(b"".join(whole), np.uint8).reshape(-1, PACKET_SIZE)
    owner_arr = np.asarray(owner, dtype=np.int64)
    header_ok = rows[:, 0] == HEADER
    is_data = header_ok & (rows[:, 1] == FLAG_DATA)
    is_reply = header_ok & (rows[:, 1] == FLAG_REGISTERS)
    for k in np.flatnonzero(~(is_data | is_reply)):
        reason = (f"unknown packet type 0x{rows[k, 1]:02x}" if header_ok[k]
                  else f"no 0x55 header (0x{rows[k, 0]:02x})")
        rejected.append((reason, int(owner_arr[k])))
    replies = []
    for k in np.flatnonzero(is_reply):
        start, *values = struct.unpack("<H8h", rows[k, 2:].tobytes())
        replies.append(RegisterReply(start, tuple(values)))
    data = np.ascontiguousarray(rows[is_data, 2:]).view("<i2").astype(np.int16).reshape(-1, 9)
    return Packets(data, owner_arr[is_data], replies, sorted(rejected, key=lambda r: r[1]))


class WitMotionDecoder:
    """Notifications of one WitMotion sensor -> SampleBatches of ``kind`` (accel in g, gyro in
    deg/s), stamped from receive times; register replies update ``battery``."""

    def __init__(self, kind: SensorKind, rate_hz: float = DEFAULT_RATE_HZ, *,
                 source: str = "witmotion", on_battery: BatteryCallback | None = None):
        self.kind = kind
        self.rate_hz = float(rate_hz)
        self.source = source
        self.on_battery = on_battery
        self.stats = DecodeStats()
        self.gaps: list[Gap] = []
        self.clock = ReceiveClock(1.0 / self.rate_hz)
        self.battery: int | None = None
        self.replies = 0
        self.rate_note = ""
        self._packets = 0

    @property
    def measured_rate_hz(self) -> float | None:
        period = self.clock.measured_period_s
        return None if not period or period <= 0 else 1.0 / period

    def feed(self, data: bytes, host_time: float, where: str = "") -> list[SampleBatch]:
        return self.feed_many([data], [host_time], [where] if where else None)

    def feed_many(self, frames: Sequence[bytes], host_times: Sequence[float],
                  wheres: Sequence[str] | None = None) -> list[SampleBatch]:
        packets = split_packets(frames)
        for reason, i in packets.rejected:
            self._reject(reason, wheres[i] if wheres else "")
        for reply in packets.replies:
            self._reply(reply)
        self.stats.frames_ok += len(packets.data)
        if not len(packets.data):
            return []
        received = np.asarray(host_times, dtype=np.float64)[packets.data_from]
        accel, gyro = packets.accel_g, packets.gyro_dps
        out = []
        for part in self.clock.stamp(received):
            rows = slice(part.start, part.start + len(part.t))
            gap_s, missing = 0.0, 0
            if part.gap_before is not None:
                start, end = part.gap_before
                missing = max(0, int(round((end - start) * self.rate_hz)))
                self.gaps.append(Gap(start, end, missing, "lost"))
                self.stats.missing_frames += missing
                gap_s = end - start
            out.append(SampleBatch(kind=self.kind, t=part.t, accel=accel[rows], gyro=gyro[rows],
                                   first_seq=self._packets + part.start, gap_before_s=gap_s,
                                   missing_frames=missing))
        self._packets += len(received)
        self.stats.samples += len(received)
        self._check_rate()
        return out

    def _reject(self, reason: str, where: str) -> None:
        self.stats.frames_bad += 1
        self.stats.errors_by_reason[reason] = self.stats.errors_by_reason.get(reason, 0) + 1
        log.warning("%s: packet skipped: %s%s", self.source, reason, f" at {where}" if where else "")

    def _reply(self, reply: RegisterReply) -> None:
        self.replies += 1
        if reply.start == REG_BATTERY:
            self.battery = battery_percent(reply.values[0] / 100.0)
            if self.on_battery is not None:
                self.on_battery(self.battery)

    def _check_rate(self) -> None:
        measured = self.measured_rate_hz
        if measured is None or self.clock.run_packets < RATE_CHECK_S * measured:
            return
        off = abs(measured / self.rate_hz - 1.0) > RATE_TOLERANCE
        note = f"streams {measured:.1f} Hz, not the {self.rate_hz:g} Hz asked for" if off else ""
        if off and not self.rate_note:
            log.warning("%s: sensor %s", self.source, note)
        self.rate_note = note


@dataclass(frozen=True)
class WitMotionProfile(DeviceProfile):
    """A WitMotion sensor worn as ``kind`` and asked to stream at ``rate_hz``."""

    kind: SensorKind = SensorKind.HIP_IMU
    rate_hz: float = DEFAULT_RATE_HZ

    family = "witmotion"
    scan_uuids = None  # the sensors advertise their name, not the service
    silence_s = 5.0

    def __post_init__(self) -> None:
        if self.kind == SensorKind.PRESSURE:
            raise ConfigError("a WitMotion sensor is an IMU: wear it as hip-imu or thigh-imu")
        rate_command(self.rate_hz)  # checks the rate

    @classmethod
    def for_device(cls, kind: SensorKind, info: dict) -> WitMotionProfile:
        return cls(kind, float(info.get("rate_hz", DEFAULT_RATE_HZ)))

    def matches(self, name: str, service_uuids: Sequence[str]) -> bool:
        return SERVICE_UUID in service_uuids or name.upper().startswith(NAME_PREFIXES)

    async def set_up(self, client, on_notify: NotifyCallback,
                     on_battery: BatteryCallback) -> DeviceSetup:
        """Unlock, set and save the output rate, subscribe, ask for the battery voltage (the
        reply arrives with the data). Done on every connection, so the rate survives a sensor
        that lost it."""
        import asyncio    # here, not at the top: replaying a recording needs no event loop

        for cmd in (UNLOCK, rate_command(self.rate_hz), SAVE):
            await _write(client, cmd)
            await asyncio.sleep(COMMAND_GAP_S)
        await client.start_notify(NOTIFY_UUID, on_notify)  # from here on at the rate asked for
        await _write(client, read_command(REG_BATTERY))
        return DeviceSetup(self.kind, {"family": self.family, "rate_hz": f"{self.rate_hz:g}"})

    def decoder(self, setup: DeviceSetup, source: str,
                on_battery: BatteryCallback | None = None) -> WitMotionDecoder:
        return WitMotionDecoder(setup.kind, self.rate_hz, source=source, on_battery=on_battery)

    async def read_battery(self, client) -> int | None:
        import asyncio

        reply: asyncio.Future = asyncio.get_running_loop().create_future()

        def on_notify(_char, data: bytearray) -> None:
            if len(data) % PACKET_SIZE:
                return
            for r in split_packets([bytes(data)]).replies:
                if r.start == REG_BATTERY and not reply.done():
                    reply.set_result(battery_percent(r.values[0] / 100.0))

        await client.start_notify(NOTIFY_UUID, on_notify)
        await _write(client, read_command(REG_BATTERY))
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(reply, REPLY_TIMEOUT_S)
        return None

    def note(self, decoder: WitMotionDecoder) -> str:
        return decoder.rate_note


async def _write(client, cmd: bytes) -> None:
    """One command, acknowledged when the characteristic offers that (models differ)."""
    char = client.services.get_characteristic(WRITE_UUID)
    if char is None:
        raise BluetoothError(f"{client.address}: no WitMotion command characteristic "
                             f"({WRITE_UUID}); is it a WitMotion BLE 5.0 sensor?")
    await client.write_gatt_char(char, cmd, response="write" in char.properties)
