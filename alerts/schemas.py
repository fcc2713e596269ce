"""JSON Schemas (draft 2020-12) of every MQTT payload, and the inbound validation built on them.

docs/mqtt-api.md describes the same fields in prose; the tests hold published payloads to these.
"""

import json

from jsonschema import Draft202012Validator

from sitload.errors import MessageError
from sitload.timestamps import PLAUSIBLE_RANGE, from_iso, iso_utc, plausible
from sitload.vocab import (AckAction, PainLocation, PainSide, Posture, PromptKind, Side, Urgency,
                           wire_names)

SCHEMA_VERSION = 1
MAX_INBOUND_BYTES = 4096

_ISO = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_HEADER = {"schema": {"const": SCHEMA_VERSION}, "id": _ID, "created": _ISO}

ALERT = {
    "type": "object",
    "required": ["schema", "id", "kind", "created", "expires", "message", "urgency", "stretch", "follows",
                 "detail"],
    "additionalProperties": False,
    "properties": {
        **_HEADER,
        "kind": {"enum": wire_names(PromptKind)},
        "expires": _ISO,
        "message": {"type": "string", "minLength": 1, "maxLength": 500},
        "urgency": {"enum": wire_names(Urgency)},
        "stretch": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["id", "name", "position", "side", "steps", "duration_s"],
            "additionalProperties": False,
            "properties": {"id": _ID, "name": {"type": "string"},
                           "position": {"enum": ["supine", "seated", "standing"]},
                           "side": {"enum": ["each", "left", "right", "both"]},
                           "steps": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                           "duration_s": {"type": "integer", "minimum": 1}}}]},
        "follows": {"oneOf": [{"type": "null"}, _ID]},
        "detail": {"type": "object", "additionalProperties": {"type": ["string", "number", "null"]}},
    },
}

STATE = {
    "type": "object",
    "required": ["schema", "id", "kind", "created", "posture", "bout_minutes", "asymmetry_si", "lean_side",
                 "crossed", "sitting_today_min"],
    "additionalProperties": False,
    "properties": {
        **_HEADER,
        "kind": {"const": "state"},
        "posture": {"enum": list(Posture.wire_names())},
        "bout_minutes": {"type": ["number", "null"], "minimum": 0},
        "asymmetry_si": {"type": ["number", "null"], "minimum": -200, "maximum": 200},
        "lean_side": {"enum": list(Side.wire_names())},
        "crossed": {"enum": [*Side.wire_names(), None]},  # null: not measured (hip IMU)
        "sitting_today_min": {"type": ["number", "null"], "minimum": 0, "maximum": 1440},
        "last_prompt": {  # null, or an object of these (the keywords below apply to objects only)
            "type": ["object", "null"], "required": ["id", "kind", "created", "urgency", "answer", "acted_on"],
            "additionalProperties": False,
            "properties": {"id": _ID, "kind": {"enum": wire_names(PromptKind)}, "created": _ISO,
                           "urgency": {"enum": wire_names(Urgency)},
                           "answer": {"enum": [*wire_names(AckAction), None]},
                           "acted_on": {"type": ["boolean", "null"]}}},
    },
}

PRESENCE = {
    "type": "object",
    "required": ["schema", "id", "kind", "created", "online"],
    "additionalProperties": False,
    "properties": {**_HEADER, "kind": {"enum": ["status", "prompter", "availability"]}, "online": {"type": "boolean"}},
}

# the sensor's presence also says its battery charge, when the sensor reports one
AVAILABILITY = {**PRESENCE, "properties": {**PRESENCE["properties"],
                                           "battery": {"type": ["integer", "null"], "minimum": 0, "maximum": 100}}}

ACK = {
    "type": "object",
    "required": ["schema", "id", "action"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "id": _ID,
        "action": {"enum": wire_names(AckAction)},
        "minutes": {"type": "number", "exclusiveMinimum": 0, "maximum": 240},
        "time": _ISO,
    },
}

SYMPTOM = {
    "type": "object",
    "required": ["schema", "id", "pain", "time"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "id": _ID,
        "pain": {"type": "integer", "minimum": 0, "maximum": 10},
        "location": {"enum": wire_names(PainLocation)},
        "side": {"enum": wire_names(PainSide)},
        "tingling": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 500},
        "time": _ISO,
    },
}

VALIDATORS = {name: Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
              for name, schema in {"alert": ALERT, "state": STATE, "status": PRESENCE, "prompter": PRESENCE,
                                   "availability": AVAILABILITY,
                                   "ack": ACK, "symptom": SYMPTOM}.items()}


def iso(t: float) -> str:
    """UTC epoch seconds as ISO 8601 with a Z, millisecond precision (every MQTT time)."""
    return iso_utc(t, timespec="milliseconds")


def decode_inbound(topic_name: str, payload: bytes) -> dict:
    """Check an inbound payload (size, UTF-8 JSON, schema version, fields, a ``time`` that
    ``sitload.timestamps.plausible`` accepts); raise MessageError naming why."""
    if len(payload) > MAX_INBOUND_BYTES:
        raise MessageError(f"{len(payload)} bytes is over the {MAX_INBOUND_BYTES}-byte limit")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"not UTF-8 JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MessageError("payload is not a JSON object")
    if doc.get("schema") != SCHEMA_VERSION:
        raise MessageError(f"schema version {doc.get('schema')!r} is not {SCHEMA_VERSION}")
    error = next(iter(sorted(VALIDATORS[topic_name].iter_errors(doc), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.path) or "payload"
        raise MessageError(f"{where}: {error.message}")
    if "time" in doc:
        try:
            t = from_iso(doc["time"])
        except ValueError as exc:
            raise MessageError(f"time: {exc}") from exc
        if not plausible(t):  # the rule of `diary add`: a pain report dated 9999 is no report
            raise MessageError(f"time: {doc['time']} is not {PLAUSIBLE_RANGE}")
    return doc
