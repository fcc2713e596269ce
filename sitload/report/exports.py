"""The report's exports: bouts, per-minute series and daily metrics as CSV and Parquet, and the
daily metrics as a FHIR R4 Bundle of Observations. Formats and codes: docs/report.md."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from sitload.analytics.accumulation import bouts_name
from sitload.analytics.daily import bouts_table, days_table
from sitload import __version__
from sitload.report.model import ReportModel, source_date_epoch
from sitload.vocab import prolonged_minutes

TABLES = ("bouts", "minutes", "daily")          # each as .csv and .parquet
FHIR_FILE = "observations.fhir.json"
EXPORTS = (*(f"{table}.{kind}" for table in TABLES for kind in ("csv", "parquet")), FHIR_FILE)
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# No LOINC code exists for these measures (docs/report.md#fhir): a local code system, shipped as
# a CodeSystem resource in every bundle. '.example' marks a placeholder a deployment replaces.
LOCAL_SYSTEM = "https://sitload.example/fhir/CodeSystem/sitting-load"


@dataclass(frozen=True)
class LocalCode:
    """A measure of the local code system: what it is, and the daily value it carries."""

    display: str
    definition: str
    metric: str           # the DayMetrics value, as DayMetrics.to_json() names it
    unit: str             # UCUM
    scale: float          # from the metric to the unit


SITTING_TIME = LocalCode("Sitting time", "Seconds classified as sitting by a worn sensor during "
                         "the local calendar day, in minutes (sitting bouts and blips).",
                         "sitting_s", "min", 1 / 60)
SITTING_BREAKS = LocalCode("Breaks in sitting", "Number of sitting bouts that started on the "
                           "local day and were ended by an observed break (standing up for at "
                           "least the break time, 60 s by default).", "breaks", "{breaks}", 1)
_IDS = uuid.UUID("5a170002-7e1f-4d3a-8c55-0f1e2d3c4b5a")


def bouts_frame(model: ReportModel) -> pd.DataFrame:
    """One row per bout: recording, sensor, local date, ISO times and every Bout field."""
    return bouts_table(((recording, section.sensor, bout) for section in model.sections
                        for recording, bout in section.bouts), ZoneInfo(model.timezone))


def daily_frame(model: ReportModel) -> pd.DataFrame:
    return days_table(d for s in model.sections for d in s.days)


def minutes_frame(model: ReportModel) -> pd.DataFrame:
    frames = [s.minutes.assign(sensor=s.sensor) for s in model.sections]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_exports(model: ReportModel, out: Path) -> dict[str, Path]:
    """Write every export (``EXPORTS``) into ``out``: bouts, minutes and daily as .csv and
    .parquet, and the FHIR bundle; returns {file name: path}."""
    written = {}
    for name, frame in zip(TABLES, (bouts_frame(model), minutes_frame(model),
                                    daily_frame(model))):
        csv, parquet = out / f"{name}.csv", out / f"{name}.parquet"
        frame.to_csv(csv, index=False)
        frame.to_parquet(parquet, index=False)
        written[csv.name], written[parquet.name] = csv, parquet
    fhir = out / FHIR_FILE
    fhir.write_text(json.dumps(fhir_bundle(model), indent=1), encoding="utf-8")
    written[fhir.name] = fhir
    return written


def local_codes(prolonged_s: Sequence[float]) -> dict[str, LocalCode]:
    """The local code system by code: the sitting time, a count of bouts per prolonged-sitting
    threshold (``prolonged-sitting-bouts-30`` for 30 min), the breaks."""
    codes = {"sitting-time": SITTING_TIME}
    for threshold in prolonged_s:
        minutes = prolonged_minutes(threshold)
        codes[f"prolonged-sitting-bouts-{minutes}"] = LocalCode(
            f"Prolonged sitting bouts >= {minutes} min", f"Number of sitting bouts of at least "
            f"{minutes} minutes that started on the local day.", bouts_name(threshold),
            "{bouts}", 1)
    return {**codes, "sitting-breaks": SITTING_BREAKS}


def fhir_bundle(model: ReportModel, *, now: float | None = None) -> dict:
    """A FHIR R4 'collection' Bundle: the local CodeSystem, one Device per sensor device, and per
    local day and sensor one Observation per code of ``local_codes``. ``timestamp`` is ``now``,
    else SOURCE_DATE_EPOCH, else left out (optional in FHIR), so that the same data give the same
    bytes."""
    tz = ZoneInfo(model.timezone)
    now = source_date_epoch() if now is None else now
    codes = local_codes(model.prolonged_s)
    entries = [_entry(_code_system(codes))]
    for section in model.sections:
        addresses = sorted({d.address for d in section.devices})
        devices = [_device(a, section.sensor) for a in addresses]
        entries += [_entry(d) for d in devices]
        for day in section.days:
            start = datetime.fromisoformat(day.date).replace(tzinfo=tz)
            end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
            values = day.to_json()
            for code, c in codes.items():
                obs = {
                    "resourceType": "Observation",
                    "id": _id("obs", section.sensor, day.date, code),
                    "status": "final",
                    "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "activity",
                                              "display": "Activity"}]}],
                    "code": {"coding": [{"system": LOCAL_SYSTEM, "code": code,
                                         "display": c.display}], "text": c.display},
                    "effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()},
                    "valueQuantity": {"value": round(values[c.metric] * c.scale, 2),
                                      "unit": c.unit.strip("{}"), "system": UCUM,
                                      "code": c.unit},
                }
                if len(devices) == 1:
                    obs["device"] = {"reference": f"urn:uuid:{devices[0]['id']}"}
                entries.append(_entry(obs))
    bundle = {"resourceType": "Bundle", "id": _id("bundle", *model.recordings, *model.dates),
              "type": "collection"}
    if now is not None:
        stamp = datetime.fromtimestamp(now, timezone.utc)
        bundle["timestamp"] = stamp.isoformat(timespec="seconds")
    return {**bundle, "entry": entries}


def _code_system(codes: dict[str, LocalCode]) -> dict:
    return {"resourceType": "CodeSystem", "id": _id("codesystem", LOCAL_SYSTEM),
            "url": LOCAL_SYSTEM, "version": __version__, "name": "SitloadSittingLoad",
            "title": "sitload sitting-load measures", "status": "draft",
            "content": "complete", "caseSensitive": True,
            "description": "Daily sitting-load measures from a worn posture sensor, for which no "
                           "LOINC code exists (see sitload docs/report.md).",
            "concept": [{"code": code, "display": c.display, "definition": c.definition}
                        for code, c in codes.items()]}


def _device(address: str, sensor: str) -> dict:
    return {"resourceType": "Device", "id": _id("device", address),
            "identifier": [{"type": {"text": "Bluetooth device address"}, "value": address}],
            "deviceName": [{"name": f"sitload {sensor}", "type": "model-name"}]}


def _entry(resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_IDS, "|".join(parts)))
