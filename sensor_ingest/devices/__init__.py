"""Device profiles, one module per family of BLE sensors (``profile.DeviceProfile``). A new
family is one new module here and one line in ``PROFILES``."""

from __future__ import annotations

from sitload.errors import RecordingError
from sitload.sensor_ingest.devices.profile import DeviceProfile
from sitload.sensor_ingest.devices.sitload import SitloadProfile
from sitload.sensor_ingest.devices.witmotion import WitMotionProfile
from sitload.vocab import SensorKind

PROFILES: dict[str, type[DeviceProfile]] = {p.family: p for p in (SitloadProfile, WitMotionProfile)}
FAMILY_KEY = "family"  # in a recorded device's info; absent means sitload (older recordings)


def recorded_profile(kind: SensorKind, info: dict) -> DeviceProfile:
    """The profile of a device row of a recording."""
    family = info.get(FAMILY_KEY, SitloadProfile.family)
    if family not in PROFILES:
        raise RecordingError(f"device family {family!r} is unknown to this sitload "
                             f"(it reads {', '.join(PROFILES)})")
    return PROFILES[family].for_device(kind, info)
