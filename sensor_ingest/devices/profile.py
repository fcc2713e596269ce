"""What sitload needs to know about one family of BLE sensors: the device profile interface.

A profile says how to recognise the family's adverts, how to set a connected sensor up (identity,
configuration, subscriptions) and how to turn its notifications into ``SampleBatch``es. The live
link (``ble_ingest.SensorLink``) and replay (``replay.decoder_for``) only talk to this interface;
the families are the modules beside it, listed in ``devices.PROFILES``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from sitload.samples import SampleBatch
from sitload.sensor_ingest.stream_decoder import DecodeStats, Gap
from sitload.vocab import SensorKind

NotifyCallback = Callable[[Any, bytearray], None]
BatteryCallback = Callable[[int], None]


class Decoder(Protocol):
    """One device's decoder: notifications in arrival order in, batches out."""

    stats: DecodeStats
    gaps: list[Gap]

    def feed_many(self, frames: Sequence[bytes], host_times: Sequence[float],
                  wheres: Sequence[str] | None = None) -> list[SampleBatch]: ...


@dataclass(frozen=True)
class DeviceSetup:
    """What a connected sensor told about itself (stored in the recording's device row)."""

    kind: SensorKind
    info: dict[str, str] = field(default_factory=dict)
    config: bytes | None = None
    calibration: bytes | None = None


class DeviceProfile(ABC):
    """One device family (see the module notes)."""

    family: ClassVar[str]
    scan_uuids: ClassVar[list[str] | None]  # scanner filter; None: match adverts by name
    silence_s: ClassVar[float | None] = None  # connected but silent this long: reconnect

    @classmethod
    @abstractmethod
    def for_device(cls, kind: SensorKind, info: dict) -> DeviceProfile:
        """The profile of a recorded device (from its device row)."""

    @abstractmethod
    def matches(self, name: str, service_uuids: Sequence[str]) -> bool:
        """Is an advert with this name and these service UUIDs one of this family's sensors?"""

    @abstractmethod
    async def set_up(self, client: Any, on_notify: NotifyCallback,
                     on_battery: BatteryCallback) -> DeviceSetup:
        """Read and configure a connected sensor (bleak client) and subscribe to its data."""

    @abstractmethod
    def decoder(self, setup: DeviceSetup, source: str,
                on_battery: BatteryCallback | None = None) -> Decoder:
        """A fresh decoder for the device ``setup`` describes."""

    @abstractmethod
    async def read_battery(self, client: Any) -> int | None:
        """Battery percent of a connected sensor, None when it cannot be read."""

    def note(self, decoder: Decoder) -> str:
        """Something about the stream the user should know (e.g. a rate the sensor ignored)."""
        return ""
