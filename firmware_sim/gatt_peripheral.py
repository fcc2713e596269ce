"""The simulated sensor as a real BLE GATT peripheral on an in-process Bumble virtual radio.

``VirtualRadio`` owns a Bumble ``LocalLink`` (the "air"), a simulated clock and the virtual
controllers; ``SimulatedPeripheral`` puts a ``SimulatedSensor`` on that radio with the GATT layout of
docs/protocol.md and streams its frames at ``speed`` times real time. Hosts reach it through bleak
with ``sensor_ingest.bumble_backend``, exactly as they reach hardware. Everything must be created
and run inside one running asyncio loop (Bumble's controllers need it).

    radio = VirtualRadio(start_utc=sim.start_utc, speed=600)
    peripheral = SimulatedPeripheral(radio, sim)
    task = asyncio.create_task(peripheral.run())   # advertises, streams once a host subscribes

Simulated time (``radio.clock``): advances at ``speed`` x wall time but never runs ahead of a
streaming peripheral, so an accelerated stream that the CPU cannot keep up with slows down instead
of arriving late, and a host reconnecting after an out-of-range period (which takes real wall time)
does not lose simulated minutes. Hosts on the virtual radio stamp receive times with
``radio.clock.now``.

Device behaviour on the link:
- The stream starts when a host first subscribes to the frame characteristic (before that the
  peripheral advertises and waits).
- Out of range (``Faults.disconnects``, via the sensor's 'disconnected'/'connected' link events):
  the peripheral drops the link with reason Connection Timeout and stops advertising; the frames of
  that period are lost (the sensor's seq jump). Back in range it advertises again and waits up to
  ``reconnect_wait_s`` wall seconds for a host before sending to nobody (those frames are counted in
  ``frames_lost``).
- Config writes: ``0x00``/``0x01`` (or a whole record's running byte) stop/start the stream: while
  stopped the seq does not advance and the first frame after a start carries RESYNC. A whole record
  may change the sample rate to the native rate divided by a supported factor (IMU: a divisor of
  the samples per frame, by decimating each frame; mat: any whole factor, by skipping scans); other
  fields are kept, and the next read shows what was applied.
- Battery level follows the sensor's battery events and is notified to subscribers.
- Notifications above the negotiated MTU would be truncated by the GATT server, so the peripheral
  offers an ATT MTU of 247 (244-byte values) as the protocol requires.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import struct
import time
import zlib

import numpy as np
from bumble import data_types, hci
from bumble.att import ATT_Error, ErrorCode
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService
from bumble.transport.common import AsyncPipeSink

from sitload.firmware_sim.device import SimChunk, SimulatedSensor
from sitload.firmware_sim.frame_encoder import CRC_SIZE, FLAG_RESYNC, HEADER_SIZE, crc16_rows

log = logging.getLogger("sitload.sim.gatt")

SERVICE_UUID = "5a170001-6d3b-4c8e-9f2a-51c0ad5e7001"
FRAME_UUID = "5a170002-6d3b-4c8e-9f2a-51c0ad5e7001"
CONFIG_UUID = "5a170003-6d3b-4c8e-9f2a-51c0ad5e7001"
CALIBRATION_UUID = "5a170004-6d3b-4c8e-9f2a-51c0ad5e7001"
SENSOR_MTU = 247
ADVERTISING_INTERVAL_MS = 25
CONFIG_RUNNING_OFFSET = 11
CONFIG_RATE_OFFSET = 4


class SimClock:
    """Simulated UTC: ``speed`` x wall time (``math.inf``: as fast as the streams go), never past a
    time some owner (a peripheral) still has work at. Wall time spent while held is banked, up to
    ``bank_wall_s``, so a stream that falls a little behind catches up; beyond that the simulation
    slows down rather than letting frames arrive late. Time stands at ``start_utc`` until the
    first hold (so setting up the radio takes no simulated time)."""

    def __init__(self, start_utc: float, speed: float = 1.0, *, bank_wall_s: float = 0.02):
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self.bank_wall_s = bank_wall_s
        self._base_t = self._last = float(start_utc)
        self._base_w: float | None = None
        self._holds: dict[object, float] = {}
        self._waiters: list[asyncio.Future] = []

    def now(self) -> float:
        """The current simulated UTC epoch seconds (monotonic)."""
        cap = min(self._holds.values(), default=math.inf)
        if self._base_w is None:
            t = self._last
        elif math.isinf(self.speed):
            t = cap if cap < math.inf else self._last
        else:
            wall = time.monotonic()
            t = self._base_t + (wall - self._base_w) * self.speed
            ceiling = cap + self.bank_wall_s * self.speed
            if t > ceiling:
                t = self._base_t = ceiling
                self._base_w = wall
            t = min(t, cap)
        self._last = max(t, self._last)
        return self._last

    def hold(self, owner: object, t: float) -> None:
        """Do not let time pass ``t`` until ``owner`` holds a later time or releases."""
        if self._base_w is None:
            self._base_w = time.monotonic()
        self.now()
        self._holds[owner] = t
        self._wake()

    def release(self, owner: object) -> None:
        self.now()
        self._holds.pop(owner, None)
        self._wake()

    async def sleep_until(self, t: float) -> float:
        """Wait until simulated time reaches ``t``; returns the time then."""
        loop = asyncio.get_running_loop()
        while (now := self.now()) < t:
            fut = loop.create_future()
            self._waiters.append(fut)
            timer = None if math.isinf(self.speed) else \
                loop.call_later((t - now) / self.speed, _resolve, fut)
            try:
                await fut
            finally:
                if timer is not None:
                    timer.cancel()
        return now

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            _resolve(fut)


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class SimController(Controller):
    """Bumble's virtual controller with two fixes: LE Create Connection Cancel really cancels (the
    stock one leaves the attempt pending, so a connect to a silent device hangs forever), and
    251-byte LE ACL buffers (a 244-byte notification in one packet, as on real 4.2+ controllers)."""

    le_acl_data_packet_length = 251

    def on_hci_le_create_connection_cancel_command(self, command):
        pending, self.pending_le_connection = self.pending_le_connection, None
        if pending is not None:
            asyncio.get_running_loop().call_soon(
                self.send_hci_packet,
                hci.HCI_LE_Connection_Complete_Event(
                    status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                    connection_handle=0, role=hci.Role.CENTRAL,
                    peer_address_type=pending.peer_address_type,
                    peer_address=pending.peer_address, connection_interval=0,
                    peripheral_latency=0, supervision_timeout=0, central_clock_accuracy=0))
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


class VirtualRadio:
    """The in-process 'air': one Bumble LocalLink, its simulated clock and signal strengths.

    Create inside the running event loop. Every device on the link gets a unique address (the link
    routes by address)."""

    def __init__(self, start_utc: float, speed: float = 1.0):
        asyncio.get_running_loop()  # fail early outside a loop: Bumble needs the running one
        self.link = LocalLink()
        self.clock = SimClock(start_utc, speed)
        self._rssi: dict[str, int] = {}
        self._serial = itertools.count(1)
        self._controllers: dict[Device, SimController] = {}

    def new_device(self, name: str, address: str | None = None) -> Device:
        """A Bumble device on the link (not powered on); ``address`` defaults to a fresh one."""
        if address is None:
            n = next(self._serial)
            address = f"D0:00:00:00:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}"
        controller = SimController(name, link=self.link)
        device = Device(name=name, address=hci.Address(address),
                        host=Host(controller, AsyncPipeSink(controller)))
        self._controllers[device] = controller
        return device

    def release(self, device: Device) -> None:
        """Take a device's controller off the link (after it has no connections)."""
        controller = self._controllers.pop(device, None)
        if controller is not None:
            self.link.remove_controller(controller)

    def set_rssi(self, address: str, dbm: int) -> None:
        self._rssi[address.upper()] = int(dbm)

    def rssi(self, address: str) -> int:
        """Signal strength a scanner sees for ``address``: as set, else a stable -45..-84 dBm."""
        address = address.upper()
        if address not in self._rssi:
            self._rssi[address] = -45 - zlib.crc32(address.encode()) % 40
        return self._rssi[address]


def _advertising_data(name: str) -> bytes:
    """Flags, complete local name and the sitload service UUID, all in the advertising data: the
    virtual controller sends no scan response, so a passive scan sees everything. (With a full
    sensor name this exceeds the 31-byte legacy limit, which the virtual controller allows.)"""
    return bytes(AdvertisingData([
        data_types.Flags(AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE
                         | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED),
        data_types.CompleteLocalName(name),
        data_types.CompleteListOf128BitServiceUUIDs([UUID(SERVICE_UUID)])]))


class GattPeripheral:
    """A simulated sensor on a ``VirtualRadio``: power, advertising, connections, out-of-range
    periods (the sensor's link events), waiting for a host, and notifying ``stream_char``.
    Subclasses give the GATT layout (``device``), ``stream_char`` and ``_play`` (one chunk)."""

    stream_char: Characteristic

    def __init__(self, radio: VirtualRadio, sim: SimulatedSensor, name: str, *,
                 chunk_s: float = 60.0, reconnect_wait_s: float = 10.0, keep_sent: bool = False):
        self.radio = radio
        self.sim = sim
        self.chunk_s = chunk_s
        self.reconnect_wait_s = reconnect_wait_s
        self.frames_sent = 0
        self.frames_lost = 0  # streamed while no host was subscribed (beyond the sensor's own loss)
        self.sent: list[bytes] | None = [] if keep_sent else None
        self.finished = asyncio.Event()
        self.device = radio.new_device(name, sim.address)
        self.device.gatt_server.max_mtu = SENSOR_MTU
        self._sensor_running = True  # the sensor's own stop/start (night, dead battery)
        self._out_of_range = False
        self._ever_connected = False
        self._closing = False
        self._connection: Connection | None = None
        self._readvertising: asyncio.Task | None = None
        self._subscribed = asyncio.Event()
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)
        self.device.gatt_server.on("characteristic_subscription", self._on_subscription)

    @property
    def address(self) -> str:
        return self.sim.address

    @property
    def connected(self) -> bool:
        return self._connection is not None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Power on and advertise (``run`` does this itself)."""
        if not self.device.powered_on:
            self.radio.clock.hold(self, self.sim.start_utc)
            await self.device.power_on()
            await self._advertise()

    async def run(self) -> None:
        """Advertise and stream the whole simulated run; then stay connected and idle."""
        await self.start()
        try:
            for chunk in self.sim.chunks(self.chunk_s):
                await self._play(chunk)
        finally:
            self.radio.clock.release(self)
        self.finished.set()

    async def _play(self, chunk: SimChunk) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Drop any connection and leave the air."""
        self._closing = True
        self.radio.clock.release(self)
        if self._readvertising is not None:
            await self._readvertising  # a Bumble HCI command must not be cancelled halfway
        if self._connection is not None:
            await self.device.disconnect(self._connection,
                                         hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR)
        if self.device.is_advertising:
            await self.device.stop_advertising()
        self.radio.release(self.device)

    # -- link ---------------------------------------------------------------------------------
    async def _advertise(self) -> None:
        if not self.device.is_advertising and not self._closing:
            await self.device.start_advertising(advertising_interval_min=ADVERTISING_INTERVAL_MS,
                                                advertising_interval_max=ADVERTISING_INTERVAL_MS)

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._ever_connected = True
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._subscribed.clear()
        if not self._out_of_range and not self._closing:
            self._readvertising = asyncio.get_running_loop().create_task(self._advertise())

    def _on_subscription(self, connection, characteristic, notify: bool, indicate: bool) -> None:
        if characteristic is self.stream_char:
            if notify or indicate:
                self._subscribed.set()
            else:
                self._subscribed.clear()

    async def _leave_range(self) -> None:
        self._out_of_range = True
        log.info("%s: out of range", self.sim.name)
        if self.device.is_advertising:
            await self.device.stop_advertising()
        if self._connection is not None:
            await self.device.disconnect(self._connection, hci.HCI_CONNECTION_TIMEOUT_ERROR)

    async def _enter_range(self) -> None:
        self._out_of_range = False
        log.info("%s: back in range", self.sim.name)
        await self._advertise()

    async def _link_event(self, what: str) -> None:
        if what == "disconnected":
            await self._leave_range()
        elif what == "connected":
            await self._enter_range()
        elif what in ("stopped", "started"):
            self._sensor_running = what == "started"

    async def _deliver(self, value: bytes) -> bool:
        """Notify ``value`` to the subscribed host (waiting for one as ``_wait_for_host`` says);
        False when nobody was there to receive it."""
        if not self._subscribed.is_set() and not self._out_of_range:
            await self._wait_for_host()
        if not self._subscribed.is_set():
            self.frames_lost += 1
            return False
        await self.device.notify_subscribers(self.stream_char, value)
        await asyncio.sleep(0)  # the virtual link delivers on the next loop turn
        self.frames_sent += 1
        if self.sent is not None:
            self.sent.append(value)
        return True

    async def _wait_for_host(self) -> None:
        """Hold the stream (and simulated time) until a host subscribes: forever before the first
        connection, ``reconnect_wait_s`` wall seconds after that."""
        timeout = self.reconnect_wait_s if self._ever_connected else None
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except asyncio.TimeoutError:
            log.info("%s: no host after %.1f s; streaming on", self.sim.name, timeout)


class SimulatedPeripheral(GattPeripheral):
    """One ``SimulatedSensor`` as a sitload protocol v1 peripheral (see the module notes)."""

    def __init__(self, radio: VirtualRadio, sim: SimulatedSensor, *, chunk_s: float = 60.0,
                 reconnect_wait_s: float = 10.0, keep_sent: bool = False):
        super().__init__(radio, sim, sim.name, chunk_s=chunk_s,
                         reconnect_wait_s=reconnect_wait_s, keep_sent=keep_sent)
        self.battery = 100
        self._config = bytearray(sim.config_record)
        self._native_rate_dhz = struct.unpack_from("<H", self._config, CONFIG_RATE_OFFSET)[0]
        self._factor = 1  # sample-rate divisor applied by a config write
        self._host_running = True  # cleared / set by config writes
        self._seq_skipped = 0  # frames not sampled because of config (seq renumbering)
        self._resync_next = False
        self._skipping_scan = False
        self._scan_counter = 0
        self.stream_char = Characteristic(FRAME_UUID, Characteristic.Properties.NOTIFY,
                                          Characteristic.READABLE, b"")
        self._battery_service = BatteryService(lambda _conn: self.battery)
        info = sim.device_info
        self.device.add_services([
            Service(SERVICE_UUID, [
                self.stream_char,
                Characteristic(CONFIG_UUID,
                               Characteristic.Properties.READ | Characteristic.Properties.WRITE,
                               Characteristic.READABLE | Characteristic.WRITEABLE,
                               CharacteristicValue(read=self._read_config,
                                                   write=self._write_config)),
                Characteristic(CALIBRATION_UUID, Characteristic.Properties.READ,
                               Characteristic.READABLE, sim.calibration_record)]),
            self._battery_service,
            DeviceInformationService(
                manufacturer_name=info["manufacturer"], model_number=info["model"],
                serial_number=info["serial"], firmware_revision=info["firmware"],
                hardware_revision=info["hardware"])])
        self.device.advertising_data = _advertising_data(sim.name)

    # -- GATT values --------------------------------------------------------------------------
    def _read_config(self, _connection) -> bytes:
        rec = bytearray(self._config)
        struct.pack_into("<H", rec, CONFIG_RATE_OFFSET, self._native_rate_dhz // self._factor)
        rec[CONFIG_RUNNING_OFFSET] = int(self._host_running and self._sensor_running)
        return bytes(rec)

    def _write_config(self, _connection, value: bytes) -> None:
        if len(value) == 1 and value[0] in (0, 1):
            self._set_running(bool(value[0]))
        elif len(value) == len(self._config):
            if value[0] != self._config[0] or value[1] != self._config[1]:
                raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED)
            rate = struct.unpack_from("<H", value, CONFIG_RATE_OFFSET)[0]
            if rate:
                self._factor = self._supported_factor(rate)
            self._set_running(bool(value[CONFIG_RUNNING_OFFSET]))
        else:
            raise ATT_Error(ErrorCode.INVALID_ATTRIBUTE_LENGTH)

    def _supported_factor(self, rate_dhz: int) -> int:
        """The rate divisor closest to the requested rate among those this sensor supports."""
        per_frame = self._config[10]
        factors = [k for k in range(1, self._native_rate_dhz // 10 + 1)
                   if self.sim.is_mat or per_frame % k == 0]
        return min(factors, key=lambda k: abs(self._native_rate_dhz / k - rate_dhz))

    def _set_running(self, running: bool) -> None:
        if running and not self._host_running:
            self._resync_next = True
        if running != self._host_running:
            log.info("%s: stream %s by host", self.sim.name, "started" if running else "stopped")
        self._host_running = running

    # -- streaming ----------------------------------------------------------------------------
    async def _play(self, chunk: SimChunk) -> None:
        """Stream one chunk: frames at their send times, link and battery events at theirs.

        Time is held at each item until it is done, and after each notification the loop turns
        once so the host receives it at (simulated) send time, not after later frames."""
        events = sorted([(t, 0, name) for t, name in chunk.link_events]
                        + [(t, 1, percent) for t, percent in chunk.battery])
        clock = self.radio.clock
        i = j = 0
        while i < len(chunk.frames) or j < len(events):
            t_frame = chunk.sent_at[i] if i < len(chunk.frames) else math.inf
            if j < len(events) and events[j][0] <= t_frame:
                t_event, order, what = events[j]
                clock.hold(self, t_event)
                await clock.sleep_until(t_event)
                await (self._link_event(what) if order == 0 else self._battery_event(what))
                j += 1
            else:
                clock.hold(self, t_frame)
                await clock.sleep_until(t_frame)
                await self._send(chunk.frames[i])
                i += 1

    async def _battery_event(self, percent: int) -> None:
        self.battery = int(percent)
        if self._connection is not None:
            await self.device.notify_subscribers(self._battery_service.battery_level_characteristic)

    async def _send(self, frame: bytes) -> None:
        value = self._firmware_view(frame)
        if value is not None:
            await self._deliver(value)

    def _firmware_view(self, frame: bytes) -> bytes | None:
        """The frame as this firmware sends it after host config writes: None while stopped or
        not sampled at the configured rate; else with seq renumbered, RESYNC and decimation."""
        scan_start = frame[15] >> 4 == 0
        if scan_start:
            self._scan_counter += 1
            self._skipping_scan = not self._host_running or (
                self.sim.is_mat and (self._scan_counter - 1) % self._factor != 0)
        if self._skipping_scan:
            self._seq_skipped += 1
            return None
        if not (self._seq_skipped or self._resync_next or self._factor > 1):
            return frame
        data = bytearray(frame[:-CRC_SIZE])
        seq = (struct.unpack_from("<I", data, 4)[0] - self._seq_skipped) % (1 << 32)
        struct.pack_into("<I", data, 4, seq)
        if self._resync_next and scan_start:
            data[2] |= FLAG_RESYNC
            self._resync_next = False
        if self._factor > 1 and not self.sim.is_mat:
            data = self._decimate(data)
        crc = crc16_rows(np.frombuffer(bytes(data), np.uint8)[None, :])[0]
        return bytes(data) + struct.pack("<H", int(crc))

    def _decimate(self, data: bytearray) -> bytearray:
        """Keep every ``factor``-th sample of an IMU frame (header without CRC in ``data``)."""
        count, rate = data[3], struct.unpack_from("<H", data, 12)[0]
        width = (len(data) - HEADER_SIZE) // count
        samples = [data[HEADER_SIZE + k * width:HEADER_SIZE + (k + 1) * width]
                   for k in range(0, count, self._factor)]
        data[3] = len(samples)
        struct.pack_into("<H", data, 12, rate // self._factor)
        return data[:HEADER_SIZE] + b"".join(samples)
