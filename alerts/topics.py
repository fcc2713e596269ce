"""The MQTT topics of one device under a prefix (docs/mqtt-api.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sitload.errors import ConfigError

DEFAULT_PREFIX = "sitload/v1"
_DEVICE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def valid_device_id(device: str) -> bool:
    """A device id (pseudonym) is 1-64 of A-Z a-z 0-9 _ . -"""
    return bool(_DEVICE_RE.match(device))


@dataclass(frozen=True)
class Topics:
    """The topics of one device under a prefix (see docs/mqtt-api.md)."""

    prefix: str
    device_id: str

    def __post_init__(self) -> None:
        if not valid_device_id(self.device_id):
            raise ConfigError(f"device id {self.device_id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
        if not self.prefix or any(c in self.prefix for c in "+#") or self.prefix.endswith("/"):
            raise ConfigError(f"topic prefix {self.prefix!r} must be non-empty, without + # or a trailing /")

    def _topic(self, name: str) -> str:
        return f"{self.prefix}/{self.device_id}/{name}"

    @property
    def status(self) -> str:
        return self._topic("status")

    @property
    def state(self) -> str:
        return self._topic("state")

    @property
    def alert(self) -> str:
        return self._topic("alert")

    @property
    def ack(self) -> str:
        return self._topic("ack")

    @property
    def symptom(self) -> str:
        return self._topic("symptom")

    @property
    def prompter(self) -> str:
        return self._topic("prompter")

    @property
    def availability(self) -> str:
        return self._topic("availability")
