"""The bleak internals `sensor_ingest.bumble_backend` relies on. A bleak upgrade that changes any of
them fails here first, with the name of what changed."""

from __future__ import annotations

import asyncio
import inspect
import time

import bleak
import bleak_retry_connector
import pytest
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService
from bleak.exc import BleakDeviceNotFoundError

from sitload.firmware_sim import SimulatedSensor
from sitload.firmware_sim.gatt_peripheral import (CONFIG_UUID, FRAME_UUID, SERVICE_UUID,
                                          SimulatedPeripheral, VirtualRadio)
from sitload.sensor_ingest.bumble_backend import BumbleClient, BumbleScanner


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_abstract_client_methods_are_the_ones_the_backend_implements():
    assert BaseBleakClient.__abstractmethods__ == {
        "mtu_size", "connect", "disconnect", "pair", "unpair", "is_connected", "read_gatt_char",
        "read_gatt_descriptor", "write_gatt_char", "write_gatt_descriptor", "start_notify",
        "stop_notify"}
    assert not BumbleClient.__abstractmethods__
    for name in BaseBleakClient.__abstractmethods__ - {"mtu_size", "is_connected"}:
        base = _params(getattr(BaseBleakClient, name))
        ours = _params(getattr(BumbleClient, name))
        assert [p for p in base if p not in ("args", "kwargs")] == \
            [p for p in ours if p not in ("args", "kwargs")], name
    assert _params(BaseBleakClient.__init__)[:2] == ["self", "address_or_ble_device"]
    assert {"disconnected_callback", "timeout"} <= set(_params(BaseBleakClient.__init__))


def test_abstract_scanner_methods_and_helpers():
    assert BaseBleakScanner.__abstractmethods__ == {"start", "stop"}
    assert not BumbleScanner.__abstractmethods__
    assert _params(BaseBleakScanner.__init__) == ["self", "detection_callback", "service_uuids"]
    assert _params(BaseBleakScanner.create_or_update_device) == [
        "self", "key", "address", "name", "details", "adv"]
    assert _params(BaseBleakScanner.call_detection_callbacks) == ["self", "device", "advertisement_data"]
    assert _params(BaseBleakScanner.is_allowed_uuid) == ["self", "service_uuids"]


def test_gatt_object_and_advertisement_constructors():
    assert AdvertisementData._fields == ("local_name", "manufacturer_data", "service_data",
                                         "service_uuids", "tx_power", "rssi", "platform_data")
    assert _params(BLEDevice.__init__)[:4] == ["self", "address", "name", "details"]
    assert _params(BleakGATTService.__init__) == ["self", "obj", "handle", "uuid"]
    assert _params(BleakGATTCharacteristic.__init__) == [
        "self", "obj", "handle", "uuid", "properties", "max_write_without_response_size",
        "service"]
    assert _params(BleakGATTDescriptor.__init__) == [
        "self", "obj", "handle", "uuid", "characteristic"]


def test_backend_classes_and_radio_keyword_pass_through_bleak_and_the_retry_connector():
    """BleakScanner, BleakScanner.find_device_by_address, BleakClient and establish_connection
    hand ``backend=`` and unknown keywords (``radio=``) on to our classes."""
    assert "backend" in _params(bleak.BleakScanner.__init__)
    assert "backend" in _params(bleak.BleakClient.__init__)

    sim = SimulatedSensor("desk-day", "hip-imu", seed=3, hours=0.01)

    async def main():
        radio = VirtualRadio(sim.start_utc)
        peripheral = SimulatedPeripheral(radio, sim)
        await peripheral.start()
        try:
            device = await bleak.BleakScanner.find_device_by_address(
                sim.address, 5.0, backend=BumbleScanner, radio=radio)
            client = await bleak_retry_connector.establish_connection(
                bleak.BleakClient, device, sim.name, backend=BumbleClient, radio=radio)
            try:
                assert client.backend_id == "BumbleClient"
                service = client.services.get_service(SERVICE_UUID)
                props = {c.uuid: c.properties for c in service.characteristics}
                config = await client.read_gatt_char(CONFIG_UUID)
                return device, client.mtu_size, props, bytes(config)
            finally:
                await client.disconnect()
        finally:
            await peripheral.close()

    device, mtu, props, config = asyncio.run(main())
    assert (device.address, device.name) == (sim.address, sim.name)
    assert mtu == 247
    assert props[FRAME_UUID] == ["notify"] and props[CONFIG_UUID] == ["read", "write"]
    assert config == sim.config_record


def test_connecting_to_a_silent_address_times_out_instead_of_hanging():
    """Needs the virtual controller's LE Create Connection Cancel fix (SimController)."""

    async def main():
        radio = VirtualRadio(0.0)
        client = bleak.BleakClient("C0:00:00:00:00:01", timeout=0.3, backend=BumbleClient,
                                   radio=radio)
        started = time.monotonic()
        with pytest.raises(BleakDeviceNotFoundError):
            await asyncio.wait_for(client.connect(), 5.0)
        return time.monotonic() - started, len(radio.link.controllers)

    waited, controllers = asyncio.run(main())
    assert 0.3 <= waited < 2.0
    assert controllers == 0  # the failed central left the air
