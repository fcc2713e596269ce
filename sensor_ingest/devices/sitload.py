"""sitload's own sensors (protocol v1, docs/protocol.md): GATT layout, set-up and decoder."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sitload.sensor_ingest.devices.profile import (BatteryCallback, DeviceProfile, DeviceSetup,
                                                   NotifyCallback)
from sitload.sensor_ingest.frame_codec import parse_calibration, parse_config
from sitload.sensor_ingest.stream_decoder import DeviceDecoder
from sitload.vocab import SensorKind

log = logging.getLogger("sitload.ble")

SERVICE_UUID = "5a170001-6d3b-4c8e-9f2a-51c0ad5e7001"
FRAME_UUID = "5a170002-6d3b-4c8e-9f2a-51c0ad5e7001"
CONFIG_UUID = "5a170003-6d3b-4c8e-9f2a-51c0ad5e7001"
CALIBRATION_UUID = "5a170004-6d3b-4c8e-9f2a-51c0ad5e7001"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFO_UUIDS = {
    "manufacturer": "00002a29-0000-1000-8000-00805f9b34fb",
    "model": "00002a24-0000-1000-8000-00805f9b34fb",
    "serial": "00002a25-0000-1000-8000-00805f9b34fb",
    "firmware": "00002a26-0000-1000-8000-00805f9b34fb",
    "hardware": "00002a27-0000-1000-8000-00805f9b34fb",
}
WANTED_MTU = 247  # 244-byte notifications: every protocol v1 frame fits


class SitloadProfile(DeviceProfile):
    """A sensor speaking sitload protocol v1: it says what it is in its config record."""

    family = "sitload"
    scan_uuids = [SERVICE_UUID]

    @classmethod
    def for_device(cls, kind: SensorKind, info: dict) -> SitloadProfile:
        return cls()

    def matches(self, name: str, service_uuids: Sequence[str]) -> bool:
        return SERVICE_UUID in service_uuids

    async def set_up(self, client, on_notify: NotifyCallback,
                     on_battery: BatteryCallback) -> DeviceSetup:
        """Check the MTU, read the identity, config and calibration, subscribe to battery and
        frames."""
        if client.mtu_size < WANTED_MTU:
            log.warning("%s: ATT MTU %d < %d; long frames will be cut", client.address,
                        client.mtu_size, WANTED_MTU)
        info = {}
        for key, uuid in DEVICE_INFO_UUIDS.items():
            if client.services.get_characteristic(uuid) is not None:
                info[key] = (await client.read_gatt_char(uuid)).decode("utf-8", "replace")
        config = bytes(await client.read_gatt_char(CONFIG_UUID))
        calibration = bytes(await client.read_gatt_char(CALIBRATION_UUID))
        battery = client.services.get_characteristic(BATTERY_LEVEL_UUID)
        if battery is not None:
            on_battery((await client.read_gatt_char(battery))[0])
            await client.start_notify(battery, lambda _c, data: on_battery(data[0]))
        await client.start_notify(FRAME_UUID, on_notify)
        return DeviceSetup(parse_config(config).kind, info, config, calibration or None)

    def decoder(self, setup: DeviceSetup, source: str,
                on_battery: BatteryCallback | None = None) -> DeviceDecoder:
        gain = parse_calibration(setup.calibration) if setup.calibration else None
        return DeviceDecoder(calibration=gain, source=source)

    async def read_battery(self, client) -> int | None:
        return (await client.read_gatt_char(BATTERY_LEVEL_UUID))[0]
