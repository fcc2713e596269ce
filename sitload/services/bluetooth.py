"""Bluetooth use cases: finding sensors and streaming them live, from hardware (the platform's
bleak backend) or from simulated sensors on the in-process virtual radio (Bumble), through the very
same scan / connect / decode / record path. ``device`` names the sensor family (sitload protocol
v1 or WitMotion); a simulated WitMotion sensor is a ``WitMotionPeripheral``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sitload.errors import BluetoothError

if TYPE_CHECKING:
    from sitload.firmware_sim import SimulatedSensor
    from sitload.firmware_sim.gatt_peripheral import GattPeripheral
    from sitload.sensor_ingest.ble_ingest import SensorLink
    from sitload.sensor_ingest.devices.profile import DeviceProfile
    from sitload.sensor_ingest.recording import RecordingWriter

STATUS_EVERY_S = 1.0
SIM_KINDS = {"sitload": ("thigh-imu", "hip-imu", "pressure"),  # order in which
             "witmotion": ("hip-imu", "thigh-imu")}  # `scan --simulate N` makes sensors
DEVICES = ("sitload", "witmotion")


def profile(device: str, sensor: str | None = None, rate_hz: float | None = None) -> DeviceProfile:
    """The device profile for ``--device`` (WitMotion: worn as ``sensor``, at ``rate_hz``)."""
    from sitload.sensor_ingest.devices.sitload import SitloadProfile
    from sitload.sensor_ingest.devices.witmotion import DEFAULT_RATE_HZ, WitMotionProfile
    from sitload.vocab import SensorKind

    if device == "sitload":
        return SitloadProfile()
    return WitMotionProfile(SensorKind.from_cli(sensor or "hip-imu"), rate_hz or DEFAULT_RATE_HZ)


async def scan(timeout: float, *, devices: Sequence[str] = DEVICES, scanner=None, client=None,
               expect: int | None = None, radio=None) -> list[tuple[str, str, str, int, int | None]]:
    """(address, family, name, rssi, battery) of each sensor found; backends None = hardware."""
    from sitload.sensor_ingest.ble_ingest import read_battery, scan_sensors

    extra = {} if radio is None else {"radio": radio}
    adverts = await scan_sensors(timeout, expect=expect, profiles=[profile(d) for d in devices],
                                 backend=scanner, **extra)
    return [(a.address, a.profile.family, a.name, a.rssi,
             await read_battery(a.device, a.profile, backend=client, **extra)) for a in adverts]


async def scan_simulated(n: int, timeout: float, device: str = "sitload"
                         ) -> list[tuple[str, str, str, int, int | None]]:
    from sitload.firmware_sim import SimulatedSensor
    from sitload.firmware_sim.gatt_peripheral import VirtualRadio
    from sitload.sensor_ingest.bumble_backend import BumbleClient, BumbleScanner

    kinds = SIM_KINDS[device]
    sims = [SimulatedSensor("desk-day", kinds[i % len(kinds)], seed=1 + i // len(kinds))
            for i in range(n)]
    radio = VirtualRadio(sims[0].start_utc)
    peripherals = [_peripheral(device)(radio, sim) for sim in sims]
    for peripheral in peripherals:
        await peripheral.start()
    try:
        return await scan(timeout, devices=[device], scanner=BumbleScanner, client=BumbleClient,
                          expect=n, radio=radio)
    finally:
        for peripheral in peripherals:
            await peripheral.close()


def _peripheral(device: str) -> type[GattPeripheral]:
    if device == "witmotion":
        from sitload.firmware_sim.witmotion_peripheral import WitMotionPeripheral
        return WitMotionPeripheral
    from sitload.firmware_sim.gatt_peripheral import SimulatedPeripheral
    return SimulatedPeripheral


async def monitor_hardware(addresses: Sequence[str], recording: RecordingWriter | None,
                            links: list[SensorLink], on_tick: Callable, options: dict) -> None:
    """``options`` go to each ``SensorLink`` (``profile``: the sensors' family)."""
    import asyncio    # here, not at the top: the batch commands load no event loop

    from sitload.sensor_ingest.ble_ingest import Ingestor, find_sensor

    devices = [await find_sensor(address) for address in addresses]
    ingestor = Ingestor(devices, recording, options)
    links.extend(ingestor.links)
    ticker = asyncio.create_task(_tick(ingestor.links, on_tick))
    try:
        await ingestor.run()
    finally:
        ticker.cancel()


async def monitor_simulated(sims: Sequence[SimulatedSensor], recording: RecordingWriter | None,
                            *, speed: float = 1.0, keep_sent: bool = False,
                            on_tick: Callable | None = None, link_options: dict | None = None,
                            scan_timeout: float = 5.0, drain_s: float = 5.0,
                            device: str = "sitload", peripheral_options: dict | None = None
                            ) -> tuple[list[SensorLink], list[GattPeripheral]]:
    """Stream ``sims`` as peripherals of the ``device`` family on a fresh virtual radio through
    the live ingest path until every run has ended and its frames have arrived; returns the links
    and the peripherals. ``link_options`` go to each ``SensorLink`` (e.g. ``on_batches``,
    ``on_availability``, ``profile``), ``peripheral_options`` to each peripheral."""
    import asyncio

    from sitload.firmware_sim.gatt_peripheral import VirtualRadio
    from sitload.sensor_ingest.ble_ingest import Ingestor, scan_sensors
    from sitload.sensor_ingest.bumble_backend import BumbleClient, BumbleScanner

    radio = VirtualRadio(min(s.start_utc for s in sims), speed)
    peripherals = [_peripheral(device)(radio, sim, keep_sent=keep_sent, **(peripheral_options or {}))
                   for sim in sims]
    link_options = {"profile": profile(device, sims[0].sensor), **(link_options or {})}
    streams = [asyncio.create_task(p.run(), name=f"sim {p.sim.name}") for p in peripherals]
    ticker = None
    ingest = None
    try:
        adverts = await scan_sensors(scan_timeout, expect=len(sims),
                                     profiles=[link_options["profile"]], backend=BumbleScanner,
                                     radio=radio)
        wanted = {p.address for p in peripherals}
        ingestor = Ingestor([a.device for a in adverts if a.address in wanted], recording,
                            {"client_backend": BumbleClient, "backend_kwargs": {"radio": radio},
                             "clock": radio.clock.now,
                             "sleep": lambda s: radio.clock.sleep_until(radio.clock.now() + s),
                             **link_options})
        if len(ingestor.links) < len(sims):
            raise BluetoothError(f"only {len(ingestor.links)} of {len(sims)} simulated sensors "
                                 f"advertised within {scan_timeout:g} s")
        ingest = asyncio.create_task(ingestor.run())
        if on_tick is not None:
            ticker = asyncio.create_task(_tick(ingestor.links, on_tick))
        await asyncio.gather(*streams)
        by_address = {link.device.address: link for link in ingestor.links}
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and any(
                by_address[p.address].received < p.frames_sent for p in peripherals):
            await asyncio.sleep(0.02)
        return ingestor.links, peripherals
    finally:
        for task in (ticker, ingest, *streams):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (ticker, ingest, *streams) if t is not None),
                             return_exceptions=True)
        for peripheral in peripherals:
            await peripheral.close()


async def _tick(links: Sequence[SensorLink], on_tick: Callable) -> None:
    import asyncio

    previous = [0] * len(links)
    last = time.monotonic()
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        now = time.monotonic()
        rates = [(link.status.frames - before) / (now - last)
                 for link, before in zip(links, previous)]
        previous = [link.status.frames for link in links]
        last = now
        on_tick([(link.status, rate) for link, rate in zip(links, rates)])
