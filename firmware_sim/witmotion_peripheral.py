"""A simulated WitMotion BLE 5.0 IMU (WT901BLECL / BWT901BLE5.0, docs/witmotion.md) as a GATT
peripheral on the virtual radio, worn where a ``SimulatedSensor`` IMU is and moving as its body
model does.

Written from the maker's document, not from sitload's host decoder (which it must never import):

- Service ``ffe5``: notify ``ffe4`` streams one 20-byte ``0x55 0x61`` packet per sample
  (acceleration, angular rate, roll and pitch from the acceleration, yaw 0), write ``ffe9`` takes
  ``FF AA`` commands: unlock (register writes accepted for 10 s), output rate (``RATE_HZ``), save,
  read register (answered with a ``0x55 0x71`` packet; register 0x64 is the battery voltage).
- It starts at the factory rate, 10 Hz. The rate applies from the next packet and lasts until a
  power-up (the start of a wear day), which restores the saved rate. ``obey_rate=False`` plays a
  sensor that ignores the rate command.
- Packets wait for the next BLE connection event (every ``connection_interval_s``) and arrive
  together, as on a real link; ``sample_times`` (with ``keep_sent``) holds each sent packet's
  true sample time, against which the host's stamps are measured.
- Out of range (the sensor's disconnect faults) it drops the link and its packets are lost; in a
  ``silences`` period (offset from the start, seconds) it stays connected and sends nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from bumble import data_types
from bumble.core import AdvertisingData
from bumble.gatt import Characteristic, CharacteristicValue, Service

from sitload.errors import ConfigError
from sitload.firmware_sim.device import ImuSamples, SimChunk, SimulatedSensor
from sitload.firmware_sim.gatt_peripheral import GattPeripheral, VirtualRadio

log = logging.getLogger("sitload.sim.witmotion")

SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"
RATE_HZ = {0x06: 10.0, 0x07: 20.0, 0x08: 50.0, 0x09: 100.0, 0x0B: 200.0}
FACTORY_RATE = 0x06
UNLOCK_S = 10.0
CONNECTION_INTERVAL_S = 0.030
BATTERY_V = (4.10, 3.40)  # cell voltage at 100 % and at 0 %
G_RAW, DPS_RAW, DEG_RAW = 32768 / 16.0, 32768 / 2000.0, 32768 / 180.0


def data_packets(accel_g: np.ndarray, gyro_dps: np.ndarray) -> list[bytes]:
    """``0x55 0x61`` packets, one per row: roll and pitch from the acceleration, yaw 0."""
    ax, ay, az = accel_g.T
    roll = np.degrees(np.arctan2(ay, az))
    pitch = np.degrees(np.arctan2(-ax, np.hypot(ay, az)))
    raw = np.column_stack([accel_g * G_RAW, gyro_dps * DPS_RAW, roll * DEG_RAW,
                           pitch * DEG_RAW, np.zeros(len(ax))])
    fields = np.clip(np.rint(raw), -32768, 32767).astype("<i2")
    head = np.tile(np.array([0x55, 0x61], np.uint8), (len(fields), 1))
    rows = np.hstack([head, fields.view(np.uint8).reshape(len(fields), 18)])
    return [r.tobytes() for r in rows]


def register_reply(start: int, values: Sequence[int]) -> bytes:
    """``0x55 0x71``: the start register and the 8 registers from it."""
    regs = list(values)[:8] + [0] * (8 - len(values))
    return bytes((0x55, 0x71)) + struct.pack("<H8h", start, *regs)


class WitMotionPeripheral(GattPeripheral):
    """``sim`` (an IMU) played as a WitMotion sensor (see the module notes)."""

    def __init__(self, radio: VirtualRadio, sim: SimulatedSensor, *, obey_rate: bool = True,
                 silences: Sequence[tuple[float, float]] = (),
                 connection_interval_s: float = CONNECTION_INTERVAL_S, chunk_s: float = 60.0,
                 reconnect_wait_s: float = 10.0, keep_sent: bool = False):
        if sim.is_mat:
            raise ConfigError("a WitMotion sensor is an IMU: simulate hip-imu or thigh-imu")
        super().__init__(radio, sim, f"WT901BLE{sim.serial[-2:]}", chunk_s=chunk_s,
                         reconnect_wait_s=reconnect_wait_s, keep_sent=keep_sent)
        self.obey_rate = obey_rate
        self.silences = [(sim.start_utc + a, sim.start_utc + a + b) for a, b in silences]
        self.connection_interval_s = connection_interval_s
        self.rate_code = self.saved_rate_code = FACTORY_RATE
        self.commands: list[bytes] = []  # as written by hosts
        self.battery_percent = 100
        self.sample_times: list[float] | None = [] if keep_sent else None
        self._unlocked_until = -math.inf
        self._next_t: float | None = None  # true time of the next sample to send
        self._tasks: set[asyncio.Task] = set()
        self.stream_char = Characteristic(NOTIFY_UUID, Characteristic.Properties.NOTIFY,
                                          Characteristic.READABLE, b"")
        command_char = Characteristic(
            WRITE_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE, CharacteristicValue(write=self._on_command))
        self.device.add_services([Service(SERVICE_UUID, [self.stream_char, command_char])])
        self.device.advertising_data = bytes(AdvertisingData([
            data_types.Flags(AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE
                             | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED),
            data_types.CompleteLocalName(self.device.name)]))

    @property
    def rate_hz(self) -> float:
        return RATE_HZ[self.rate_code]

    @property
    def battery_v(self) -> float:
        full, empty = BATTERY_V
        return empty + (full - empty) * self.battery_percent / 100.0

    # -- commands -------------------------------------------------------------------------------
    def _on_command(self, _connection, value: bytes) -> None:
        self.commands.append(bytes(value))
        if len(value) != 5 or value[:2] != b"\xff\xaa":
            log.info("%s: command %s ignored", self.device.name, bytes(value).hex())
            return
        register, data = value[2], struct.unpack_from("<H", value, 3)[0]
        now = self.radio.clock.now()
        unlocked = now <= self._unlocked_until
        if register == 0x69 and data == 0xB588:
            self._unlocked_until = now + UNLOCK_S
        elif register == 0x27:
            self._send_soon(register_reply(data, self._registers(data)))
        elif register == 0x03 and unlocked and data in RATE_HZ and self.obey_rate:
            self.rate_code = data
        elif register == 0x00 and unlocked and data == 0:
            self.saved_rate_code = self.rate_code

    def _registers(self, start: int) -> list[int]:
        known = {0x03: self.rate_code, 0x64: int(round(self.battery_v * 100))}
        return [known.get(start + i, 0) for i in range(8)]

    def _send_soon(self, packet: bytes) -> None:
        task = asyncio.get_running_loop().create_task(
            self.device.notify_subscribers(self.stream_char, packet))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- streaming ----------------------------------------------------------------------------
    async def _link_event(self, what: str) -> None:
        if what == "started":  # powered up: the saved registers
            self.rate_code = self.saved_rate_code
        await super()._link_event(what)

    async def _play(self, chunk: SimChunk) -> None:
        """Stream one chunk: the samples at the current rate in connection events, link and
        battery events at their times."""
        events = sorted([(t, 0, name) for t, name in chunk.link_events]
                        + [(t, 1, percent) for t, percent in chunk.battery])
        samples = chunk.samples
        if samples is not None and self._next_t is None:
            self._next_t = float(samples.t[0])
        block = None
        clock = self.radio.clock
        j = 0
        while True:
            event_t = math.inf
            if samples is not None and self._next_t <= samples.t[-1]:
                ci = self.connection_interval_s
                event_t = max(self._next_t, math.ceil(self._next_t / ci) * ci)
            if j < len(events) and events[j][0] <= event_t:
                t, order, what = events[j]
                clock.hold(self, t)
                await clock.sleep_until(t)
                if order == 0:
                    await self._link_event(what)
                else:
                    self.battery_percent = int(what)
                j += 1
            elif event_t == math.inf:
                return
            else:
                clock.hold(self, event_t)
                await clock.sleep_until(event_t)
                if block is None or block.rate_code != self.rate_code:
                    block = _Block.of(samples, self._next_t, self.rate_code)
                await self._send(block, event_t)

    async def _send(self, block: _Block, until: float) -> None:
        """Send the block's packets sampled up to ``until`` (true time)."""
        times, packets = block.take(until)
        self._next_t = block.next_t
        for t, packet in zip(times, packets):
            if not self._sensor_running or any(a <= t < b for a, b in self.silences):
                continue
            if await self._deliver(packet) and self.sample_times is not None:
                self.sample_times.append(float(t))


@dataclass
class _Block:
    """A chunk's packets at one rate, from a start time on; ``take`` hands them out in order."""

    rate_code: int
    times: np.ndarray
    packets: list[bytes]
    next: int = 0

    @classmethod
    def of(cls, samples: ImuSamples, start: float, rate_code: int) -> _Block:
        period = 1.0 / RATE_HZ[rate_code]
        times = start + period * np.arange(int(math.floor((samples.t[-1] - start) / period
                                                          + 1e-9)) + 1)
        accel = np.column_stack([np.interp(times, samples.t, a) for a in samples.accel.T])
        gyro = np.column_stack([np.interp(times, samples.t, g) for g in samples.gyro.T])
        return cls(rate_code, times, data_packets(accel, gyro))

    @property
    def next_t(self) -> float:
        """The time of the next packet (past the chunk's end when all are taken)."""
        if self.next < len(self.times):
            return float(self.times[self.next])
        return float(self.times[-1]) + 1.0 / RATE_HZ[self.rate_code]

    def take(self, until: float) -> tuple[np.ndarray, list[bytes]]:
        """The packets up to ``until``, at least one (times are within float resolution)."""
        stop = max(int(np.searchsorted(self.times, until, side="right")), self.next + 1)
        out = self.times[self.next:stop], self.packets[self.next:stop]
        self.next = min(stop, len(self.times))
        return out
