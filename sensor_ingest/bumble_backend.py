"""A bleak backend that talks over an in-process Bumble virtual radio instead of an OS stack.

bleak accepts a backend class through ``backend=``; the radio travels as an extra keyword that
bleak forwards to the backend:

    BleakScanner(backend=BumbleScanner, radio=radio)
    BleakClient(device, backend=BumbleClient, radio=radio)
    establish_connection(BleakClient, device, name, backend=BumbleClient, radio=radio)

``radio`` is any object with ``new_device(name) -> bumble.device.Device``, ``release(device)`` and
``rssi(address) -> int`` (``firmware_sim.gatt_peripheral.VirtualRadio``). Code above bleak does not
know which backend it runs on. Behaviour mirrors BlueZ where it matters to sitload: passive
scanning (the virtual controller echoes advertising data as a scan response, which would double
every AD structure), the GAP and GATT services hidden from the service collection, the ATT MTU
negotiated during connect (``mtu=`` keyword, default 517 like BlueZ), and ``disconnected_callback``
called on every disconnection. The virtual controller reports a fixed RSSI, so the radio
synthesises one per device.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Literal, Protocol

from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import core, hci
from bumble.att import ATT_Error
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer

DEFAULT_MTU = 517
HIDDEN_SERVICES = {"00001800-0000-1000-8000-00805f9b34fb", "00001801-0000-1000-8000-00805f9b34fb"}
_SERVICE_UUID_LISTS = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)


class Radio(Protocol):
    """What the backend needs from the virtual radio."""

    def new_device(self, name: str) -> Device: ...

    def release(self, device: Device) -> None: ...

    def rssi(self, address: str) -> int: ...


def bleak_uuid(u: core.UUID) -> str:
    """A Bumble UUID as bleak writes UUIDs: lowercase, full 128-bit."""
    return str(uuid.UUID(bytes=bytes(reversed(u.uuid_128_bytes))))


def advertisement_data(adv: Advertisement, rssi: int) -> AdvertisementData:
    """bleak's view of one Bumble advertisement."""
    data = adv.data
    uuids = [bleak_uuid(u) for kind in _SERVICE_UUID_LISTS for u in (data.get(kind) or [])]
    service_data = {bleak_uuid(u): bytes(value)
                    for kind in (AdvertisingData.SERVICE_DATA_16_BIT_UUID,
                                 AdvertisingData.SERVICE_DATA_128_BIT_UUID)
                    for u, value in data.get_all(kind)}
    return AdvertisementData(
        local_name=data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        or data.get(AdvertisingData.SHORTENED_LOCAL_NAME),
        manufacturer_data={cid: bytes(value) for cid, value
                           in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)},
        service_data=service_data,
        service_uuids=list(dict.fromkeys(uuids)),
        tx_power=data.get(AdvertisingData.TX_POWER_LEVEL),
        rssi=rssi,
        platform_data=(adv,))


class BumbleScanner(BaseBleakScanner):
    """Passive scanner on the virtual radio."""

    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None,
                 scanning_mode: Literal["active", "passive"] = "active", *, radio: Radio,
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = radio
        self._device: Device | None = None

    def _on_advertisement(self, adv: Advertisement) -> None:
        address = str(adv.address)
        data = advertisement_data(adv, self._radio.rssi(address))
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(
            address, address, data.local_name, {"address_type": adv.address.address_type}, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        self.seen_devices = {}
        if self._device is None:
            self._device = self._radio.new_device("bleak-scanner")
            self._device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
            await self._device.power_on()
        await self._device.start_scanning(active=False, filter_duplicates=False)

    async def stop(self) -> None:
        if self._device is not None:
            await self._device.stop_scanning()
            self._radio.release(self._device)
            self._device = None


class BumbleClient(BaseBleakClient):
    """GATT client on the virtual radio; one Bumble central device per connection."""

    def __init__(self, address_or_ble_device: BLEDevice | str, *, radio: Radio,
                 mtu: int = DEFAULT_MTU, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device,
                         disconnected_callback=kwargs.get("disconnected_callback"),
                         timeout=kwargs.get("timeout", 10.0))
        self._radio = radio
        self._mtu = mtu
        details = address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) \
            else None
        self._address_type = (details or {}).get("address_type", hci.Address.RANDOM_DEVICE_ADDRESS)
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        timeout = kwargs.get("timeout", self._timeout)
        self._device = self._radio.new_device("bleak-central")
        try:
            await self._device.power_on()
            try:
                self._connection = await self._device.connect(
                    hci.Address(self.address, self._address_type), timeout=timeout)
            except core.TimeoutError as exc:
                raise BleakDeviceNotFoundError(
                    self.address, f"Device with address {self.address} was not found") from exc
            except hci.HCI_Error as exc:
                raise BleakError(f"{self.address}: connection failed: {exc}") from exc
            self._connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            self._peer = Peer(self._connection)
            await self._peer.request_mtu(self._mtu)
            self.services = await self._discover()
        except BaseException:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """Undo a half-made connection and take the central off the air."""
        connection, self._connection, self._peer = self._connection, None, None
        if connection is not None:
            connection.remove_listener(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            try:
                await connection.disconnect()
            except (core.BaseBumbleError, ATT_Error, hci.HCI_Error):
                pass
        if self._device is not None:
            self._radio.release(self._device)
            self._device = None

    async def _discover(self) -> BleakGATTServiceCollection:
        services = BleakGATTServiceCollection()
        try:
            await self._peer.discover_services()
            for service in self._peer.services:
                if bleak_uuid(service.uuid) in HIDDEN_SERVICES:
                    continue
                bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
                services.add_service(bleak_service)
                for char in await service.discover_characteristics():
                    props = [name for bit, name in CHARACTERISTIC_PROPERTIES.items()
                             if int(char.properties) & bit]
                    bleak_char = BleakGATTCharacteristic(
                        char, char.handle, bleak_uuid(char.uuid), props,
                        lambda: self.mtu_size - 3, bleak_service)
                    services.add_characteristic(bleak_char)
                    for desc in await char.discover_descriptors():
                        services.add_descriptor(
                            BleakGATTDescriptor(desc, desc.handle, bleak_uuid(desc.type),
                                                bleak_char))
        except (core.BaseBumbleError, ATT_Error) as exc:
            raise BleakError(f"{self.address}: service discovery failed: {exc}") from exc
        return services

    def _on_disconnection(self, reason: int) -> None:
        self._connection = self._peer = None
        self.services = None
        self._subscriptions.clear()
        if self._device is not None:
            self._radio.release(self._device)
            self._device = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.disconnect()
            except hci.HCI_Error as exc:  # the link went down meanwhile
                if self._connection is not None:
                    raise BleakError(f"{self.address}: disconnect failed: {exc}") from exc

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("sitload sensors do not pair")

    async def unpair(self) -> None:
        raise NotImplementedError("sitload sensors do not pair")

    def _require_connection(self) -> None:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._require_connection()
        try:
            return bytearray(await characteristic.obj.read_value())
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"{self.address}: read failed: {exc}") from exc

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._require_connection()
        try:
            return bytearray(await descriptor.obj.read_value())
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any,
                              response: bool) -> None:
        self._require_connection()
        try:
            await characteristic.obj.write_value(bytes(data), with_response=response)
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        self._require_connection()
        try:
            await descriptor.obj.write_value(bytes(data), with_response=True)
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        self._require_connection()

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = deliver
        try:
            await characteristic.obj.subscribe(deliver, prefer_notify=True)
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require_connection()
        deliver = self._subscriptions.pop(characteristic.handle, None)
        if deliver is not None:
            await characteristic.obj.unsubscribe(deliver)
