"""Home Assistant MQTT discovery: retained sensor configs for one device (opt-in).

Each sensor reads the retained ``state`` topic and is available only while both the sitload
gateway (``status``) and the sensor's BLE link (``availability``) say online.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from sitload.alerts.topics import Topics
from sitload.vocab import Posture, Side

DISCOVERY_PREFIX = "homeassistant"
_ONLINE = "{{ 'online' if value_json.online else 'offline' }}"


@dataclass(frozen=True)
class HaDevice:
    """What Home Assistant shows about the sensor; ``mat`` = a seat mat (it has a symmetry index)."""

    model: str
    mat: bool = False
    manufacturer: str = "sitload"
    sw_version: str | None = None


def discovery_configs(topics: Topics, device: HaDevice,
                      prefix: str = DISCOVERY_PREFIX) -> dict[str, dict]:
    """Config topic -> config document of the four sensors (posture, bout minutes, asymmetry,
    sitting today)."""
    node = "sitload_" + re.sub(r"[^A-Za-z0-9_-]", "_", topics.device_id)
    block = {"identifiers": [node], "name": f"sitload {topics.device_id}", "model": device.model,
             "manufacturer": device.manufacturer}
    if device.sw_version:
        block["sw_version"] = device.sw_version
    minutes = {"unit_of_measurement": "min", "device_class": "duration"}
    if device.mat:
        asymmetry = {"name": "Asymmetry", "value_template": "{{ value_json.asymmetry_si }}",
                     "unit_of_measurement": "%", "state_class": "measurement",
                     "icon": "mdi:scale-unbalanced"}
    else:  # an IMU sees which side is loaded, not how much
        asymmetry = {"name": "Loaded side", "value_template": "{{ value_json.lean_side }}",
                     "device_class": "enum", "options": list(Side.wire_names()),
                     "icon": "mdi:scale-unbalanced"}
    sensors = {
        "posture": {"name": "Posture", "value_template": "{{ value_json.posture }}",
                    "device_class": "enum", "options": list(Posture.wire_names()),
                    "icon": "mdi:seat"},
        "bout_minutes": {"name": "Current sitting bout", **minutes, "state_class": "measurement",
                         "value_template": "{{ value_json.bout_minutes | default(0, true) }}"},
        "asymmetry": asymmetry,
        "sitting_today": {"name": "Sitting today", **minutes, "state_class": "total_increasing",
                          "value_template": "{{ value_json.sitting_today_min }}"},
    }
    availability = [{"topic": t, "value_template": _ONLINE} for t in (topics.status, topics.availability)]
    return {f"{prefix}/sensor/{node}/{obj}/config": {
        **fields, "unique_id": f"{node}_{obj}", "object_id": f"{node}_{obj}", "state_topic": topics.state,
        "availability": availability, "availability_mode": "all", "device": block}
        for obj, fields in sensors.items()}
