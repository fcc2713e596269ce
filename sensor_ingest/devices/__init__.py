"""Device profiles, one module per family of BLE sensors (``profile.DeviceProfile``). A new
family is one new module here and one line in ``PROFILES``."""

from __future__ import annotations

import importlib

from sitload.errors import RecordingError
from sitload.sensor_ingest.devices.profile import DeviceProfile
from sitload.vocab import SensorKind

# family -> the module beside this one and its profile class, imported when a recording of that
# family is read (a recording of sitload sensors does not load the WitMotion decoder)
PROFILES: dict[str, tuple[str, str]] = {"sitload": ("sitload", "SitloadProfile"),
                                        "witmotion": ("witmotion", "WitMotionProfile")}
FAMILY_KEY = "family"  # in a recorded device's info; absent means sitload (older recordings)


def recorded_profile(kind: SensorKind, info: dict) -> DeviceProfile:
    """The profile of a device row of a recording."""
    family = info.get(FAMILY_KEY, "sitload")
    if family not in PROFILES:
        raise RecordingError(f"device family {family!r} is unknown to this sitload "
                             f"(it reads {', '.join(PROFILES)})")
    module, name = PROFILES[family]
    profile = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return profile.for_device(kind, info)
