"""Bluetooth use cases: finding sensors and streaming them live, from hardware (the platform's
bleak backend) or from simulated sensors on the in-process virtual radio (Bumble), through the very
same scan / connect / decode / record path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sitload.errors import BluetoothError

if TYPE_CHECKING:
    from sitload.firmware_sim import SimulatedSensor
    from sitload.firmware_sim.gatt_peripheral import SimulatedPeripheral
    from sitload.sensor_ingest.ble_ingest import SensorLink
    from sitload.sensor_ingest.recording import RecordingWriter

STATUS_EVERY_S = 1.0
SIM_KINDS = ("thigh-imu", "hip-imu", "pressure")  # order in which `scan --simulate N` makes sensors


async def scan(timeout: float, *, scanner=None, client=None, expect: int | None = None,
                radio=None) -> list[tuple[str, str, int, int | None]]:
    """(address, name, rssi, battery) of each sensor found; backends None = hardware."""
    from sitload.sensor_ingest.ble_ingest import read_battery, scan_sensors

    extra = {} if radio is None else {"radio": radio}
    adverts = await scan_sensors(timeout, expect=expect, backend=scanner, **extra)
    return [(a.address, a.name, a.rssi, await read_battery(a.device, backend=client, **extra))
            for a in adverts]


async def scan_simulated(n: int, timeout: float) -> list[tuple[str, str, int, int | None]]:
    from sitload.firmware_sim import SimulatedSensor
    from sitload.firmware_sim.gatt_peripheral import SimulatedPeripheral, VirtualRadio
    from sitload.sensor_ingest.bumble_backend import BumbleClient, BumbleScanner

    sims = [SimulatedSensor("desk-day", SIM_KINDS[i % 3], seed=1 + i // 3) for i in range(n)]
    radio = VirtualRadio(sims[0].start_utc)
    peripherals = [SimulatedPeripheral(radio, sim) for sim in sims]
    for peripheral in peripherals:
        await peripheral.start()
    try:
        return await scan(timeout, scanner=BumbleScanner, client=BumbleClient, expect=n,
                           radio=radio)
    finally:
        for peripheral in peripherals:
            await peripheral.close()


async def monitor_hardware(addresses: Sequence[str], recording: RecordingWriter | None,
                            links: list[SensorLink], on_tick: Callable, options: dict) -> None:
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
                            scan_timeout: float = 5.0, drain_s: float = 5.0
                            ) -> tuple[list[SensorLink], list[SimulatedPeripheral]]:
    """Stream ``sims`` as peripherals on a fresh virtual radio through the live ingest path until
    every run has ended and its frames have arrived; returns the links and the peripherals.
    ``link_options`` go to each ``SensorLink`` (e.g. ``on_batches``, ``on_availability``)."""
    from sitload.firmware_sim.gatt_peripheral import SimulatedPeripheral, VirtualRadio
    from sitload.sensor_ingest.ble_ingest import Ingestor, scan_sensors
    from sitload.sensor_ingest.bumble_backend import BumbleClient, BumbleScanner

    radio = VirtualRadio(min(s.start_utc for s in sims), speed)
    peripherals = [SimulatedPeripheral(radio, sim, keep_sent=keep_sent) for sim in sims]
    streams = [asyncio.create_task(p.run(), name=f"sim {p.sim.name}") for p in peripherals]
    ticker = None
    ingest = None
    try:
        adverts = await scan_sensors(scan_timeout, expect=len(sims), backend=BumbleScanner,
                                     radio=radio)
        wanted = {p.address for p in peripherals}
        ingestor = Ingestor([a.device for a in adverts if a.address in wanted], recording,
                            {"client_backend": BumbleClient, "backend_kwargs": {"radio": radio},
                             "clock": radio.clock.now, **(link_options or {})})
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
