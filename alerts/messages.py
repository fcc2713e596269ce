"""MQTT payloads as records: outbound alert/state/presence documents, inbound acks and pain reports."""

import uuid
from dataclasses import dataclass

from sitload.alerts.policy import Prompt
from sitload.alerts.schemas import SCHEMA_VERSION, iso
from sitload.alerts.stretches import STRETCHES
from sitload.events import EngineState
from sitload.timestamps import from_iso
from sitload.vocab import Posture


@dataclass(frozen=True)
class AckMessage:
    """The patient's answer to a prompt (inbound on ``ack``)."""

    prompt_id: str
    action: str  # 'ack' | 'snooze' | 'dismiss' | 'done'
    minutes: float | None = None  # snooze length
    time: float | None = None

    def to_json(self) -> dict:
        doc = {"schema": SCHEMA_VERSION, "id": self.prompt_id, "action": self.action}
        if self.minutes is not None:
            doc["minutes"] = self.minutes
        if self.time is not None:
            doc["time"] = iso(self.time)
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> "AckMessage":
        return cls(doc["id"], doc["action"], doc.get("minutes"), from_iso(doc["time"]) if "time" in doc else None)


@dataclass(frozen=True)
class SymptomReport:
    """A pain report from the patient's side (inbound on ``symptom``)."""

    id: str
    pain: int  # 0-10
    time: float
    location: str | None = None
    side: str | None = None
    tingling: bool | None = None
    note: str | None = None

    def to_json(self) -> dict:
        doc = {"schema": SCHEMA_VERSION, "id": self.id, "pain": self.pain, "time": iso(self.time)}
        for key in ("location", "side", "tingling", "note"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> "SymptomReport":
        return cls(doc["id"], doc["pain"], from_iso(doc["time"]), doc.get("location"), doc.get("side"),
                   doc.get("tingling"), doc.get("note"))

    @classmethod
    def new(cls, pain: int, time: float, **fields) -> "SymptomReport":
        return cls(str(uuid.uuid4()), pain, time, **fields)


def alert_payload(prompt: Prompt) -> dict:
    """The ``alert`` document of a prompt."""
    return {
        "schema": SCHEMA_VERSION, "id": prompt.id, "kind": prompt.kind, "created": iso(prompt.created),
        "expires": iso(prompt.expires), "message": prompt.message, "urgency": prompt.urgency,
        "stretch": STRETCHES[prompt.stretch].to_json() if prompt.stretch else None,
        "follows": prompt.follows, "detail": dict(prompt.detail),
    }


def state_payload(state: EngineState, now: float, sitting_today_min: float | None = None) -> dict:
    """The retained ``state`` document of the engine's current state (and the minutes sat today);
    ``crossed`` is null for a sensor that cannot see crossed legs."""
    si = getattr(state, "asymmetry_si", None)
    return {
        "schema": SCHEMA_VERSION, "id": str(uuid.uuid4()), "kind": "state", "created": iso(now),
        "posture": state.posture.wire,
        "bout_minutes": round(float(state.bout_minutes), 2)
        if state.posture == Posture.SITTING and state.bout_minutes is not None else None,
        "asymmetry_si": None if si is None else round(float(si), 4),
        "lean_side": state.lean_side.wire,
        "crossed": None if state.crossed is None else state.crossed.wire,
        "sitting_today_min": sitting_today_min,
    }


def presence_payload(kind: str, online: bool, now: float) -> dict:
    """A ``status`` (publisher) or ``prompter`` presence document; the offline one is the last will."""
    return {"schema": SCHEMA_VERSION, "id": str(uuid.uuid4()), "kind": kind, "created": iso(now), "online": online}


def availability_payload(online: bool, battery: int | None, now: float) -> dict:
    """The sensor's presence (its BLE link) with its battery charge in percent (None: not known)."""
    return {**presence_payload("availability", online, now), "battery": battery}
