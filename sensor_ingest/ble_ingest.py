"""Live BLE ingest on bleak: find sitload sensors, keep each one connected, decode and record.

bleak is the only BLE API used here. ``client_backend`` / ``scanner_backend`` = None means the
platform backend (hardware); the simulator passes ``sensor_ingest.bumble_backend`` classes plus
``radio=`` in ``backend_kwargs`` and the same code runs over the virtual link.

    sensors = await scan_sensors(5.0)
    with RecordingWriter("day.sitload", meta={"source": "ble"}) as rec:
        await Ingestor([s.device for s in sensors], rec).run()   # until cancelled (Ctrl-C)

Each sensor has its own ``SensorLink`` task; all of them write into one recording (one device row
each), so a session of a mat and a thigh IMU, or several patients at one gateway, is one file.
A link connects with retries and backoff (``bleak_retry_connector.establish_connection``, reasons
logged and recorded as ``reconnect_failed`` link events); its device profile (``devices``: sitload
protocol v1, WitMotion, ...) reads and configures the sensor and subscribes to its data; every
notification, with its host receive time, goes to the recording (as received) and to the
profile's decoder (gaps, bad frames, time). After a drop, or a silence of a sensor that always
streams, it reconnects by itself and carries on with the same decoder and recording device. Link
state changes and battery readings go to ``on_availability(address, online, battery)`` for the
alerts stage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from sitload.sensor_ingest.devices.profile import Decoder, DeviceProfile, DeviceSetup
from sitload.sensor_ingest.devices.sitload import SitloadProfile
from sitload.sensor_ingest.recording import RecordingWriter
from sitload.samples import SampleBatch
from sitload.vocab import SensorKind
from sitload.errors import BluetoothError, SitloadError

log = logging.getLogger("sitload.ble")

FLUSH_FRAMES = 200  # decode and record at least this often ...
FLUSH_S = 0.25  # ... and at least every this many wall seconds
RETRY_DELAY_S = (1.0, 30.0)  # wall-clock backoff between failed connection rounds: first, max


@dataclass(frozen=True)
class SensorAdvert:
    """A sensor of a known family seen while scanning."""

    address: str
    name: str
    rssi: int
    device: BLEDevice
    profile: DeviceProfile


async def scan_sensors(timeout: float = 5.0, *, expect: int | None = None,
                       profiles: Sequence[DeviceProfile] = (SitloadProfile(),),
                       backend: type[BaseBleakScanner] | None = None,
                       **backend_kwargs: Any) -> list[SensorAdvert]:
    """Sensors of the ``profiles``' families, strongest signal first. Scans for ``timeout``
    seconds, or until ``expect`` sensors have been seen."""
    seen: dict[str, SensorAdvert] = {}
    enough = asyncio.Event()
    uuids = [u for p in profiles for u in p.scan_uuids or ()]
    by_name = any(p.scan_uuids is None for p in profiles)

    def on_advert(device: BLEDevice, adv: AdvertisementData) -> None:
        name = adv.local_name or device.name or ""
        profile = next((p for p in profiles if p.matches(name, adv.service_uuids)), None)
        if profile is None:
            return
        seen[device.address] = SensorAdvert(device.address, name, adv.rssi, device, profile)
        if expect is not None and len(seen) >= expect:
            enough.set()

    try:
        async with BleakScanner(on_advert, None if by_name else uuids, backend=backend,
                                **backend_kwargs):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(enough.wait(), timeout)
    except (BleakError, OSError) as exc:
        raise BluetoothError(f"no usable Bluetooth adapter ({type(exc).__name__}: {exc}); "
                             "--simulate N uses the virtual radio instead") from None
    return sorted(seen.values(), key=lambda a: (-a.rssi, a.address))


async def find_sensor(address: str, timeout: float = 10.0, *,
                      backend: type[BaseBleakScanner] | None = None,
                      **backend_kwargs: Any) -> BLEDevice:
    """The sensor with ``address``; BluetoothError when it is not advertising."""
    try:
        device = await BleakScanner.find_device_by_address(address, timeout, backend=backend,
                                                           **backend_kwargs)
    except (BleakError, OSError) as exc:
        raise BluetoothError(f"no usable Bluetooth adapter ({type(exc).__name__}: {exc})") \
            from None
    if device is None:
        raise BluetoothError(f"sensor {address} not found within {timeout:g} s")
    return device


async def read_battery(device: BLEDevice, profile: DeviceProfile = SitloadProfile(), *,
                       backend: type[BaseBleakClient] | None = None, timeout: float = 10.0,
                       **backend_kwargs: Any) -> int | None:
    """Connect briefly and read the battery (None when the sensor has none or fails)."""
    try:
        async with BleakClient(device, timeout=timeout, backend=backend,
                               **backend_kwargs) as client:
            return await profile.read_battery(client)
    except (BleakError, asyncio.TimeoutError, OSError) as exc:
        log.info("%s: battery not read: %s", device.address, exc)
        return None


@dataclass
class LinkStatus:
    """What a link is doing, for status lines and availability."""

    address: str
    name: str
    state: str = "idle"  # idle, connecting, online, offline, stopped
    connects: int = 0
    frames: int = 0  # notifications received (good and bad)
    bad_frames: int = 0
    missing_frames: int = 0
    gaps: int = 0
    battery: int | None = None
    mtu: int | None = None
    kind: SensorKind | None = None
    last_error: str = ""
    note: str = ""  # what the profile says about the stream (e.g. a rate the sensor ignored)


AvailabilityCallback = Callable[[str, bool, int | None], None]  # address, online, battery %
BatchCallback = Callable[["SensorLink", list[SampleBatch]], None]


class SensorLink:
    """Keeps one sensor connected and every notification decoded and recorded."""

    def __init__(self, device: BLEDevice, recording: RecordingWriter | None = None, *,
                 client_backend: type[BaseBleakClient] | None = None,
                 backend_kwargs: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.time,
                 on_availability: AvailabilityCallback | None = None,
                 on_batches: BatchCallback | None = None,
                 max_attempts: int = 4, retry_delay_s: tuple[float, float] = RETRY_DELAY_S,
                 profile: DeviceProfile = SitloadProfile(),
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.device = device
        self.profile = profile
        self.sleep = sleep  # sleeps seconds of ``clock`` (the simulated clock on the virtual radio)
        self.recording = recording
        self.client_backend = client_backend
        self.backend_kwargs = backend_kwargs or {}
        self.clock = clock
        self.on_availability = on_availability
        self.on_batches = on_batches
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.status = LinkStatus(device.address, device.name or device.address)
        self.decoder: Decoder | None = None
        self.setup: DeviceSetup | None = None
        self.device_id: int | None = None  # the device's row in the recording
        self._client: BleakClient | None = None
        self._lost = asyncio.Event()
        self._frames: list[bytes] = []
        self._times: list[float] = []
        self._last_rx = 0.0  # clock time of the latest notification (or of connecting)

    @property
    def name(self) -> str:
        return self.status.name

    @property
    def received(self) -> int:
        """Notifications received so far (including those not yet decoded and recorded)."""
        return self.status.frames + len(self._frames)

    async def run(self) -> None:
        """Connect, stream, reconnect after drops; until cancelled. Leaves the link closed and
        everything received recorded."""
        delay = self.retry_delay_s[0]
        helpers = [asyncio.create_task(self._flush_periodically())]
        if self.profile.silence_s is not None:
            helpers.append(asyncio.create_task(self._watch_silence(self.profile.silence_s)))
        try:
            while True:
                try:
                    await self._connect_and_stream()
                    delay = self.retry_delay_s[0]
                except (BleakError, asyncio.TimeoutError, OSError, SitloadError) as exc:
                    self._failed(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_delay_s[1])
        finally:
            for task in helpers:
                task.cancel()
            await self._close()

    # -- one connection -------------------------------------------------------------------------
    async def _connect_and_stream(self) -> None:
        self._set_state("connecting")
        self._lost.clear()
        client = await establish_connection(
            BleakClient, self.device, self.name, disconnected_callback=self._on_disconnected,
            max_attempts=self.max_attempts, backend=self.client_backend, **self.backend_kwargs)
        self._client = client
        try:
            await self._set_up(client)
        except (BleakError, asyncio.TimeoutError, OSError, SitloadError):
            self._client = None
            with contextlib.suppress(BleakError, asyncio.TimeoutError, OSError):
                await client.disconnect()
            raise
        self.status.connects += 1
        log.info("%s: connected (MTU %d)", self.name, client.mtu_size)
        self._record_link("connected", f"mtu {client.mtu_size}")
        self._set_state("online")
        await self._lost.wait()
        self._client = None
        self._flush()
        log.info("%s: link lost; reconnecting", self.name)
        self._record_link("disconnected", "link lost")
        self._set_state("offline")

    async def _set_up(self, client: BleakClient) -> None:
        """The profile reads and configures the sensor and subscribes to its data."""
        self.status.mtu = client.mtu_size
        self._last_rx = self.clock()
        setup = await self.profile.set_up(client, self._on_frame, self._battery)
        if self.decoder is None:
            self._first_connection(setup)
        elif setup != self.setup:
            log.warning("%s: set-up changed since the first connection: %s", self.name, setup)

    def _first_connection(self, setup: DeviceSetup) -> None:
        self.setup = setup
        self.status.kind = setup.kind
        self.decoder = self.profile.decoder(setup, self.name, on_battery=self._battery)
        if self.recording is not None:
            self.device_id = self.recording.add_device(
                self.device.address, setup.kind, name=self.name, info=setup.info,
                config=setup.config, calibration=setup.calibration)
            if self.status.battery is not None:  # read while setting up, before the row existed
                self.recording.add_battery(self.device_id, self.clock(), self.status.battery)

    def _on_disconnected(self, _client: BleakClient) -> None:
        self._lost.set()

    # -- data -----------------------------------------------------------------------------------
    def _on_frame(self, _char: Any, data: bytearray) -> None:
        self._last_rx = self.clock()
        self._frames.append(bytes(data))
        self._times.append(self._last_rx)
        if len(self._frames) >= FLUSH_FRAMES:
            self._flush()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self._flush()

    async def _watch_silence(self, silence_s: float) -> None:
        """A sensor of a family that always streams, connected but silent for ``silence_s`` of
        the link's clock: drop the link; the run loop reconnects."""
        while True:
            await self.sleep(silence_s / 4)
            client = self._client
            if client is None or self.status.state != "online" \
                    or self.clock() - self._last_rx < silence_s:
                continue
            log.warning("%s: connected but silent for %.0f s; reconnecting", self.name, silence_s)
            self._record_link("silent", f"no data for {silence_s:g} s")
            self._last_rx = self.clock()
            with contextlib.suppress(BleakError, asyncio.TimeoutError, OSError):
                await asyncio.wait_for(client.disconnect(), 5.0)
            self._lost.set()

    def _flush(self) -> None:
        """Record and decode the notifications received since the last flush."""
        if not self._frames or self.decoder is None:
            return
        frames, times = self._frames, self._times
        self._frames, self._times = [], []
        if self.recording is not None:
            self.recording.add_frames(self.device_id, frames, times)
        batches = self.decoder.feed_many(frames, times)
        stats = self.decoder.stats
        self.status.frames += len(frames)
        self.status.bad_frames = stats.frames_bad
        self.status.missing_frames = stats.missing_frames
        self.status.gaps = len(self.decoder.gaps)
        self.status.note = self.profile.note(self.decoder)
        if batches and self.on_batches is not None:
            self.on_batches(self, batches)

    def _battery(self, percent: int) -> None:
        if percent != self.status.battery:
            self.status.battery = percent
            if self.recording is not None and self.device_id is not None:
                self.recording.add_battery(self.device_id, self.clock(), percent)
            if self.on_availability is not None and self.status.state == "online":
                self.on_availability(self.device.address, True, percent)

    # -- state ----------------------------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        self.status.last_error = reason
        log.warning("%s: connection failed: %s", self.name, reason)
        self._record_link("reconnect_failed", reason)
        self._set_state("offline")

    def _record_link(self, event: str, detail: str) -> None:
        if self.recording is not None and self.device_id is not None:
            self.recording.add_link_event(self.device_id, self.clock(), event, detail)

    def _set_state(self, state: str) -> None:
        was_online = self.status.state == "online"
        self.status.state = state
        if self.on_availability is not None and was_online != (state == "online"):
            self.on_availability(self.device.address, state == "online", self.status.battery)

    async def _close(self) -> None:
        client, self._client = self._client, None
        self._flush()
        if client is not None:
            with contextlib.suppress(BleakError, asyncio.TimeoutError, OSError):
                await asyncio.wait_for(client.disconnect(), 5.0)
            self._record_link("stopped", "host stopped")
        self._set_state("stopped")


@dataclass
class Ingestor:
    """Several sensors at once, one task each, all recorded into one recording."""

    devices: Sequence[BLEDevice]
    recording: RecordingWriter | None = None
    link_options: dict[str, Any] = field(default_factory=dict)
    links: list[SensorLink] = field(init=False)

    def __post_init__(self) -> None:
        self.links = [SensorLink(d, self.recording, **self.link_options) for d in self.devices]

    async def run(self) -> None:
        """Run every link until cancelled; on the way out every link is closed and flushed."""
        tasks = [asyncio.create_task(link.run(), name=f"ble {link.name}") for link in self.links]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
