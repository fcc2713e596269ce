"""The vocabularies every stage shares, as enums with their wire names (the ground floor).

A value's wire name is what files, JSON, MQTT payloads, CSV columns and the command line carry:
a ``StrEnum``'s value, an integer enum's ``wire`` (its name in lower case); integer enums are
also the per-second codes of the analysis arrays. The JSON schemas (sitload.alerts.schemas), Home
Assistant discovery, the command line and the epoch CSV take their lists from here. Here too: the
default prolonged-sitting thresholds and how their counts are named.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from sitload.errors import ConfigError


class _Wire:
    """``wire``: the lower-case name as written outside the process (``_`` as in the name)."""

    @property
    def wire(self) -> str:
        return self.name.lower()

    @classmethod
    def wire_names(cls) -> tuple[str, ...]:
        return tuple(member.wire for member in cls)

    @classmethod
    def from_wire(cls, name: str):
        for member in cls:
            if member.wire == name:
                return member
        raise ValueError(f"unknown {cls.__name__.lower()} {name!r}; choose from "
                         f"{', '.join(cls.wire_names())}")


class SensorKind(IntEnum):
    """Sensor kind codes as on the wire (docs/protocol.md); ``cli_name`` as on the command line."""

    THIGH_IMU = 1
    HIP_IMU = 2
    PRESSURE = 3

    @property
    def cli_name(self) -> str:
        return {1: "thigh-imu", 2: "hip-imu", 3: "pressure"}[self.value]

    @classmethod
    def from_cli(cls, name: str) -> SensorKind:
        for kind in cls:
            if kind.cli_name == name:
                return kind
        raise ValueError(f"unknown sensor kind {name!r}")


class Posture(_Wire, IntEnum):
    """Posture of one second (docs/metrics.md §2). ``gap``: no data; ``unknown``: data, but the
    sensor is not yet calibrated; ``off_seat``: a mat with nobody on it."""

    GAP = 0
    SITTING = 1
    STANDING = 2
    MOVING = 3
    LYING = 4
    OFF_SEAT = 5
    UNKNOWN = 6

    @property
    def upright(self) -> bool:
        """Standing, moving or (a mat) off the seat: out of the chair on one's feet, which ends a
        sitting run with a stand-up and, held ``break_s``, is a break."""
        return self in UPRIGHT


UPRIGHT = frozenset({Posture.STANDING, Posture.MOVING, Posture.OFF_SEAT})
NOT_MEASURED = frozenset({Posture.GAP, Posture.UNKNOWN})     # no posture known for the second


class Side(_Wire, IntEnum):
    """A side of the body (lean, load, crossed leg on top)."""

    NONE = 0
    LEFT = 1
    RIGHT = 2


class Seat(_Wire, IntEnum):
    """What a pressure mat's seat carries."""

    EMPTY = 0
    PERSON = 1
    OBJECT = 2


class BoutEnd(StrEnum):
    """How a sitting bout ended (docs/metrics.md §3)."""

    BREAK = "break"
    GAP = "gap"
    END_OF_DATA = "end_of_data"


class PromptKind(StrEnum):
    """What a prompt asks of the patient (docs/mqtt-api.md)."""

    BREAK = "break"
    SHIFT = "shift"
    UNCROSS = "uncross"
    STRETCH = "stretch"
    CHECKIN = "checkin"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class AckAction(StrEnum):
    """The patient's answer to a prompt."""

    ACK = "ack"
    SNOOZE = "snooze"
    DISMISS = "dismiss"
    DONE = "done"


class ClinicSort(StrEnum):
    """The orders of the clinic's table (``sitload clinic --sort``, the page's column headings)."""

    DEVICE = "device"
    ONLINE = "online"  # offline first
    POSTURE = "posture"
    BOUT = "bout"  # longest sitting bout first
    TODAY = "today"  # most sat today first
    ASYMMETRY = "asymmetry"  # most lopsided first
    BATTERY = "battery"  # lowest first
    PROMPT = "prompt"  # newest prompt first
    UPDATED = "updated"  # latest heard first


class PainLocation(StrEnum):
    """Where a pain report says it hurts."""

    BUTTOCK = "buttock"
    HIP = "hip"
    THIGH = "thigh"
    CALF = "calf"
    FOOT = "foot"
    LOW_BACK = "low-back"
    OTHER = "other"


class PainSide(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    BOTH = "both"
    NONE = "none"


class ImportFormat(StrEnum):
    """Formats of foreign files `sitload import` reads (docs/import-formats.md)."""

    CSV = "csv"
    ACTIGRAPH_CSV = "actigraph-csv"
    AXIVITY_CSV = "axivity-csv"
    SENSOR_LOGGER = "sensor-logger"
    PHYPHOX = "phyphox"


class LabelsFormat(StrEnum):
    """Formats of reference labels `sitload score --labels` reads."""

    CSV = "csv"
    ACTIVPAL_EVENTS = "activpal-events"


PROLONGED_S: tuple[float, ...] = (1800.0, 3600.0)
"""The default thresholds of prolonged sitting in seconds (``AnalysisConfig.prolonged_s``)."""


def prolonged_minutes(threshold_s: float) -> int:
    """A prolonged-sitting threshold in whole minutes: what names its counts outside the process
    (``bouts_30``, ``prolonged_bouts_30``, ``prolonged-sitting-bouts-30`` for 1800 s;
    docs/metrics.md §3). ConfigError for a threshold that is not whole minutes."""
    minutes, rest = divmod(threshold_s, 60)
    if rest:
        raise ConfigError(f"prolonged-sitting thresholds must be whole minutes (multiples of "
                          f"60 s), not {threshold_s:g} s")
    return int(minutes)


def wire_names(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The values of a string vocabulary, in order (for schemas, help texts and CSV columns)."""
    return tuple(member.value for member in vocabulary)
