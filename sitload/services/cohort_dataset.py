"""One recording's analysis as rows of the cohort's Parquet dataset (docs/cohort.md).

Runs where the recording is read (a Dask worker): ``analyze_into`` analyses the recording as
`sitload analyze` does and writes its epochs, bouts and daily rows under
``OUT/<table>/patient=P/date=YYYY-MM-DD/part-<key>.parquet``, one file per table, patient and
date, named after the recording, so that a re-run replaces its files instead of adding rows.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from sitload.analytics import AnalysisConfig
from sitload.analytics.daily import bouts_table, daily_metrics, days_table, local_dates
from sitload.sensor_ingest.recording import Recording
from sitload.services.analysis import analyze_recording

TABLES = ("epochs", "bouts", "daily")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``text`` as a partition value or file name: runs of characters other than letters, digits,
    '.', '_' and '-' become one '-' (no leading '.' or '-'); 'unknown' when nothing is left."""
    return _UNSAFE.sub("-", text).lstrip(".-") or "unknown"


def patient_id(rec: Recording) -> str:
    """The patient a recording belongs to: ``meta.patient`` when the recording names one, else
    its first device's name (a sensor worn by one person), else the file name without its
    suffix; made safe for a folder name (safe_name)."""
    return safe_name(rec.meta.get("patient") or rec.device().name or rec.path.stem)


def recording_key(path: str | Path) -> str:
    """The name a recording's files carry: its file name and a digest of its absolute path (two
    recordings called day1.sitload in different folders do not replace each other's rows)."""
    path = Path(path).absolute()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    return f"{safe_name(path.stem)}-{digest}"


@dataclass(frozen=True)
class RecordingRows:
    """What one recording put into the dataset, and what the cohort page shows of it."""

    path: str                  # absolute path of the recording
    patient: str
    sensor: str
    device: str                # the analysed device's address
    timezone: str
    dates: tuple[str, ...]     # local dates with data
    files: tuple[str, ...]     # written, relative to OUT
    frames_ok: int
    frames_bad: int
    missing_frames: int
    diary_reports: int
    note: str | None


def analyze_into(path: str, out: str, config: AnalysisConfig | None = None) -> RecordingRows:
    """Analyse the recording at ``path`` (its first device, as `sitload analyze`) and write its
    rows into the dataset under ``out``; raises what the analysis raises (SitloadError for a
    missing or damaged recording)."""
    config = config or AnalysisConfig()
    with Recording(path) as rec:
        patient = patient_id(rec)
        zone = rec.meta.get("timezone", "UTC")
        device = rec.device()
        diary_reports = len(rec.diary())
    found = analyze_recording(path, config)
    result, tz = found.result, ZoneInfo(zone)
    name = Path(path).name
    epochs = result.epochs.copy()
    epochs.insert(0, "time", pd.to_datetime(epochs["t"], unit="s", utc=True)
                  .astype("datetime64[us, UTC]"))
    epochs.insert(0, "recording", name)
    epochs["date"] = local_dates(epochs["t"].to_numpy(), tz)
    bouts = bouts_table(((name, result.kind, b) for b in result.bouts), tz)
    daily = days_table(daily_metrics([result], tz, config.prolonged_s))
    daily.insert(0, "recording", name)
    key = recording_key(path)
    files = [f for table, frame in zip(TABLES, (epochs, bouts, daily))
             for f in write_partitions(Path(out), table, frame, patient, key)]
    worn = epochs["date"][epochs["posture"] != "gap"]
    return RecordingRows(str(Path(path).absolute()), patient, result.kind, device.address, zone,
                         tuple(sorted(set(worn))), tuple(files), found.decode.frames_ok,
                         found.decode.frames_bad, found.decode.missing_frames, diary_reports,
                         found.note)


def write_partitions(out: Path, table: str, frame: pd.DataFrame, patient: str,
                     key: str) -> list[str]:
    """``frame``'s rows, one Parquet file per local ``date``, as
    ``table/patient=P/date=D/part-<key>.parquet`` under ``out`` (the partition columns live in
    the folder names only, as Hive, Spark and DuckDB expect); each file is written beside its
    place under a hidden name and moved there, so a reader never sees half a file. Returns the
    files' paths relative to ``out``."""
    written = []
    for date, rows in frame.groupby("date", sort=True):
        relative = Path(table, f"patient={patient}", f"date={date}", f"part-{key}.parquet")
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        hidden = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        rows.drop(columns="date").to_parquet(hidden, index=False)
        os.replace(hidden, target)
        written.append(relative.as_posix())
    return written
