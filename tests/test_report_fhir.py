"""The FHIR R4 export validates against a documented subset of the official FHIR R4 JSON schema.

FHIR_R4_SUBSET is taken from fhir.schema.json of FHIR R4 (4.0.1): the primitive patterns, the
Bundle.type, Observation.status, CodeSystem.status / content and Device.deviceName.type code lists,
and ``additionalProperties: false`` on every object, for just the elements sitload writes
(Bundle, Observation, Device, CodeSystem and the data types they use). It is stricter than the
official schema in one way: ``Observation.status`` is required here, as FHIR requires it (1..1); the
official JSON schema leaves primitives out of ``required``. docs/report.md describes the subset.
"""

import json
import math

import jsonschema
import numpy as np
import pandas as pd
import pytest

from sitload.analytics import AnalysisResult, accumulation_metrics
from sitload.events import Bout
from sitload.sensor_ingest.stream_decoder import DecodeStats
from sitload.report.model import DeviceData, RecordingData, build_model
from sitload.report.exports import LOCAL_SYSTEM, fhir_bundle, local_codes

_DATE = (r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)")
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"


def _obj(properties: dict, required: tuple = ()) -> dict:
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "required": list(required)}


def _array(item: dict) -> dict:
    return {"type": "array", "items": item, "minItems": 1}


ID = {"type": "string", "pattern": r"^[A-Za-z0-9\-\.]{1,64}$"}
URI = {"type": "string", "pattern": r"^\S*$"}
CODE = {"type": "string", "pattern": r"^[^\s]+(\s[^\s]+)*$"}
STRING = {"type": "string", "pattern": r"^[ \r\n\t\S]+$"}
BOOLEAN = {"type": "boolean"}
DECIMAL = {"type": "number"}
DATETIME = {"type": "string", "pattern": rf"^{_DATE}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
                                         rf"(T{_TIME}{_ZONE})?)?)?$"}
INSTANT = {"type": "string", "pattern": rf"^{_DATE}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
                                        rf"T{_TIME}{_ZONE}$"}
CODING = _obj({"system": URI, "version": STRING, "code": CODE, "display": STRING,
               "userSelected": BOOLEAN})
CODEABLE_CONCEPT = _obj({"coding": _array(CODING), "text": STRING})
QUANTITY = _obj({"value": DECIMAL, "comparator": {"enum": ["<", "<=", ">=", ">"]},
                 "unit": STRING, "system": URI, "code": CODE})
PERIOD = _obj({"start": DATETIME, "end": DATETIME})
REFERENCE = _obj({"reference": STRING, "type": URI, "display": STRING})
IDENTIFIER = _obj({"use": {"enum": ["usual", "official", "temp", "secondary", "old"]},
                   "type": CODEABLE_CONCEPT, "system": URI, "value": STRING, "period": PERIOD})
OBSERVATION = _obj({
    "resourceType": {"const": "Observation"}, "id": ID,
    "status": {"enum": ["registered", "preliminary", "final", "amended", "corrected",
                        "cancelled", "entered-in-error", "unknown"]},
    "category": _array(CODEABLE_CONCEPT), "code": CODEABLE_CONCEPT, "subject": REFERENCE,
    "effectiveDateTime": DATETIME, "effectivePeriod": PERIOD, "issued": INSTANT,
    "valueQuantity": QUANTITY, "valueInteger": {"type": "integer"}, "device": REFERENCE,
}, ("resourceType", "status", "code"))
DEVICE = _obj({
    "resourceType": {"const": "Device"}, "id": ID, "identifier": _array(IDENTIFIER),
    "deviceName": _array(_obj({"name": STRING, "type": {"enum": [
        "udi-label-name", "user-friendly-name", "patient-reported-name", "manufacturer-name",
        "model-name", "other"]}}, ("name", "type"))),
}, ("resourceType",))
CODE_SYSTEM = _obj({
    "resourceType": {"const": "CodeSystem"}, "id": ID, "url": URI, "version": STRING,
    "name": STRING, "title": STRING, "status": {"enum": ["draft", "active", "retired", "unknown"]},
    "description": STRING, "caseSensitive": BOOLEAN,
    "content": {"enum": ["not-present", "example", "fragment", "complete", "supplement"]},
    "concept": _array(_obj({"code": CODE, "display": STRING, "definition": STRING}, ("code",))),
}, ("resourceType", "status", "content"))
FHIR_R4_SUBSET = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    **_obj({
        "resourceType": {"const": "Bundle"}, "id": ID,
        "type": {"enum": ["document", "message", "transaction", "transaction-response", "batch",
                          "batch-response", "history", "searchset", "collection"]},
        "timestamp": INSTANT,
        "entry": _array(_obj({"fullUrl": URI,
                              "resource": {"oneOf": [OBSERVATION, DEVICE, CODE_SYSTEM]}})),
    }, ("resourceType", "type")),
}


def check_fhir_json(doc) -> None:
    """FHIR JSON rules beyond the schema: no empty strings, arrays or objects; finite numbers."""
    if isinstance(doc, dict):
        assert doc, "empty object"
        for value in doc.values():
            check_fhir_json(value)
    elif isinstance(doc, list):
        assert doc, "empty array"
        for value in doc:
            check_fhir_json(value)
    elif isinstance(doc, str):
        assert doc.strip(), "empty string"
    elif isinstance(doc, float):
        assert math.isfinite(doc)


def validate_bundle(bundle: dict) -> None:
    jsonschema.validate(bundle, FHIR_R4_SUBSET, cls=jsonschema.Draft7Validator)
    check_fhir_json(bundle)
    assert json.loads(json.dumps(bundle, allow_nan=False)) == bundle


def _bout(start: float, minutes: float, ended_by: str = "break") -> Bout:
    return Bout(start, start + 60 * minutes, 60 * minutes, 60 * minutes, 1, "none", 0.0, 0.0,
                "none", 0.0, None, None, None, None, None, None, None, ended_by)


MONDAY = 1772438400.0                          # 2026-03-02 09:00 in Berlin (08:00 UTC)
DST_DAY = MONDAY + 27 * 86400                   # 2026-03-29 10:00 in Berlin, clocks went forward


def make_model(start: float):
    """Two local days in Europe/Berlin: 40 + 10 min sitting, then 65 min the next day."""
    bouts = [_bout(start, 40), _bout(start + 3000, 10, "end_of_data"), _bout(start + 86400, 65)]
    t = np.arange(start, start + 86400 + 3900)
    sitting = np.zeros(t.size, dtype=bool)
    for b in bouts:
        sitting |= (t >= b.start) & (t < b.end)
    posture = np.where(sitting, "sitting", np.where((t > start + 3600) & (t < start + 86400),
                                                    "gap", "standing"))
    epochs = pd.DataFrame({"t": t, "posture": posture.astype(object)})
    analysis = AnalysisResult("thigh-imu", epochs, bouts, float(sitting.sum()),
                              accumulation_metrics([b.duration_s for b in bouts]), [], 2, 3)
    device = DeviceData("a.sitload", "AA:BB:CC:DD:EE:FF", "thigh", analysis, DecodeStats(), [],
                        pd.DataFrame({"host_time": [], "percent": []}),
                        pd.DataFrame({"host_time": [], "event": [], "detail": []}))
    rec = RecordingData("a.sitload", "Europe/Berlin", [device], [],
                        pd.DataFrame({"prompt_id": [], "t": [], "action": []}),
                        pd.DataFrame({"t": [], "pain": []}))
    return build_model([rec], title="t", timezone="Europe/Berlin")


@pytest.fixture
def model():
    return make_model(MONDAY)


def test_bundle_of_two_days_validates_and_holds_the_daily_values(model):
    bundle = fhir_bundle(model, now=1772600000.0)
    validate_bundle(bundle)
    assert bundle["timestamp"] == "2026-03-04T04:53:20+00:00"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    local = local_codes(model.prolonged_s)
    assert kinds == ["CodeSystem", "Device"] + ["Observation"] * 2 * len(local)
    values = {(o["effectivePeriod"]["start"], o["code"]["coding"][0]["code"]):
              o["valueQuantity"]["value"] for o in (e["resource"] for e in bundle["entry"][2:])}
    day1, day2 = "2026-03-02T00:00:00+01:00", "2026-03-03T00:00:00+01:00"
    assert values[(day1, "sitting-time")] == 50.0 and values[(day2, "sitting-time")] == 65.0
    assert values[(day1, "prolonged-sitting-bouts-30")] == 1
    assert values[(day2, "prolonged-sitting-bouts-60")] == 1
    assert values[(day1, "sitting-breaks")] == 1          # the second bout ended with the data
    codes = {c["code"] for c in bundle["entry"][0]["resource"]["concept"]}
    assert codes == set(local)
    assert all(e["resource"]["code"]["coding"][0]["system"] == LOCAL_SYSTEM
               for e in bundle["entry"][2:])
    # every reference resolves inside the bundle
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(e["resource"]["device"]["reference"] in urls for e in bundle["entry"][2:])


def test_the_day_period_follows_daylight_saving_time():
    """The Observation's day is the local calendar day: 23 hours on the day clocks go forward."""
    bundle = fhir_bundle(make_model(DST_DAY))
    validate_bundle(bundle)
    periods = {tuple(e["resource"]["effectivePeriod"].values()) for e in bundle["entry"][2:]}
    assert periods == {("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
                       ("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00")}


@pytest.mark.parametrize("breakage", [
    lambda b: b["entry"][2]["resource"].pop("code"),
    lambda b: b["entry"][2]["resource"].update(status="done"),
    lambda b: b["entry"][2]["resource"]["effectivePeriod"].update(start="2026-03-02 00:00"),
    lambda b: b["entry"][2]["resource"].update(valueString="50 min"),
    lambda b: b.update(type="bag"),
])
def test_the_schema_subset_rejects_broken_bundles(model, breakage):
    bundle = fhir_bundle(model)
    breakage(bundle)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bundle, FHIR_R4_SUBSET, cls=jsonschema.Draft7Validator)
