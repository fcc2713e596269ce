"""The cohort page ``OUT/index.html``: one row per patient, read back from the cohort's Parquet
dataset and manifest (docs/cohort.md). Every number sits in a cell with ``data-patient``,
``data-metric`` and ``data-value`` (unrounded; empty when undefined), as on the report page."""

from __future__ import annotations

import html
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from sitload.analytics.accumulation import accumulation_metrics
from sitload.services.cohort_manifest import Manifest, PatientFlares

PARTITIONING = ds.partitioning(pa.schema([("patient", pa.string()), ("date", pa.string())]),
                               flavor="hive")
PROLONGED = re.compile(r"bouts_\d+$")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 90em; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { text-align: left; padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.note { background: #FFF8E0; border-left: 4px solid #E69F00; padding: 0.4em 0.8em; }
code { font-size: 0.85em; }
"""


@dataclass(frozen=True)
class PatientRow:
    """One patient over all their recordings: days with data, per-day means of wear, sitting
    and prolonged bouts, W50 of the pooled bouts, lean while sitting, data quality, flares."""

    patient: str
    sensors: str
    recordings: tuple[str, ...]        # absolute paths
    days: int
    wear_s: float                      # per day
    sitting_s: float                   # per day
    prolonged: dict[str, float]        # bouts_30 ... per day
    w50_s: float | None
    lean_left_share: float | None      # of sitting seconds
    lean_right_share: float | None
    si_mean: float | None              # mat: mean symmetry index over sitting (+ = left)
    missing_share: float | None        # of the worn span without data
    frames_bad: int
    missing_frames: int
    notes: tuple[str, ...]
    flares: PatientFlares | None


def read_rows(out: Path, table: str, files: list[str],
              columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of those ``files`` (relative to ``out``) that belong to ``table``, with the
    partition columns ``patient`` and ``date``; all columns unless ``columns`` are named."""
    mine = [str(out / f) for f in files if f.startswith(f"{table}/")]
    if not mine:
        return pd.DataFrame(columns=["patient", "date", *(columns or ())])
    data = ds.dataset(mine, format="parquet", partitioning=PARTITIONING,
                      partition_base_dir=str(out / table))
    return data.to_table(columns=None if columns is None else
                         ["patient", "date", *columns]).to_pandas()


def patient_rows(out: Path, manifest: Manifest) -> list[PatientRow]:
    """The page's rows, by patient id."""
    files = [f for r in manifest.recordings.values() for f in r.files]
    daily = read_rows(out, "daily", files)
    bouts = read_rows(out, "bouts", files, ["duration_s"])
    rows = []
    for patient in sorted({r.patient for r in manifest.recordings.values()}):
        recs = [r for r in manifest.recordings.values() if r.patient == patient]
        d = daily[daily["patient"] == patient]
        n_days = max(1, d["date"].nunique())
        sitting, worn, gaps = (_total(d, c) for c in ("sitting_s", "wear_s", "gap_s"))
        si = d.dropna(subset=["si_mean"]) if "si_mean" in d else d.iloc[:0]
        durations = bouts.loc[bouts["patient"] == patient, "duration_s"].to_numpy(float)
        rows.append(PatientRow(
            patient, ", ".join(sorted({r.sensor for r in recs})),
            tuple(sorted(r.path for r in recs)), int(d["date"].nunique()), worn / n_days,
            sitting / n_days,
            {c: float(d[c].sum()) / n_days for c in d.columns if PROLONGED.match(c)},
            accumulation_metrics(durations).w50_s if durations.size else None,
            _total(d, "lean_left_s") / sitting if sitting else None,
            _total(d, "lean_right_s") / sitting if sitting else None,
            float(np.average(si["si_mean"], weights=si["sitting_s"]))
            if len(si) and si["sitting_s"].sum() > 0 else None,
            gaps / (worn + gaps) if worn + gaps else None,
            sum(r.frames_bad for r in recs), sum(r.missing_frames for r in recs),
            tuple(r.note for r in recs if r.note), manifest.flares.get(patient)))
    return rows


def _total(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].sum()) if column in frame else 0.0


def write_page(out: Path, manifest: Manifest) -> Path:
    """Write ``out/index.html``; returns its path."""
    index = out / "index.html"
    index.write_text(render(out, patient_rows(out, manifest), manifest.failures),
                     encoding="utf-8")
    return index


def render(out: Path, rows: list[PatientRow], failures: dict[str, str]) -> str:
    thresholds = sorted({c for r in rows for c in r.prolonged},
                        key=lambda c: int(c.split("_")[1]))
    head = ["patient", "sensor", "recordings", "days", "worn / day", "sitting / day",
            *(f"bouts ≥ {c.split('_')[1]} min / day" for c in thresholds), "W50",
            "leaning left", "leaning right", "mat symmetry", "data missing", "bad frames",
            "lost frames", "flares", "report"]
    body = "".join(_row(out, r, thresholds) for r in rows)
    failed = "".join(f"<li><code>{esc(p)}</code>: {esc(e)}</li>"
                     for p, e in sorted(failures.items()))
    failed = (f'<h2>Recordings that failed</h2><ul class="note" id="failures">{failed}</ul>'
              if failed else "")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>Cohort: {len(rows)} patients</title><style>{STYLE}</style></head><body>'
            f"<h1>Cohort: {len(rows)} patients</h1>"
            "<p>Per patient over all their recordings: per-day means over the days with data; "
            "W50 of all their sitting bouts; leaning as a share of sitting time; data missing "
            "as a share of the worn span (docs/cohort.md).</p>"
            f'<table id="patients"><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in head)}'
            f"</tr></thead><tbody>{body}</tbody></table>{failed}</body></html>\n")


def _row(out: Path, r: PatientRow, thresholds: list[str]) -> str:
    cells = [f"<td>{esc(r.patient)}</td>", f"<td>{esc(r.sensors)}</td>",
             _num(r, "recordings", len(r.recordings), str(len(r.recordings))),
             _num(r, "days", r.days, str(r.days)),
             _num(r, "wear_s", r.wear_s, _hours(r.wear_s)),
             _num(r, "sitting_s", r.sitting_s, _hours(r.sitting_s)),
             *(_num(r, c, r.prolonged.get(c), _fixed(r.prolonged.get(c), "{:.1f}"))
               for c in thresholds),
             _num(r, "w50_s", r.w50_s, _fixed(r.w50_s and r.w50_s / 60, "{:.1f} min")),
             _num(r, "lean_left_share", r.lean_left_share, _pct(r.lean_left_share)),
             _num(r, "lean_right_share", r.lean_right_share, _pct(r.lean_right_share)),
             _num(r, "si_mean", r.si_mean, _fixed(r.si_mean, "{:+.1f} %")),
             _num(r, "missing_share", r.missing_share, _pct(r.missing_share)),
             _num(r, "frames_bad", r.frames_bad, str(r.frames_bad)),
             _num(r, "missing_frames", r.missing_frames, str(r.missing_frames)),
             f"<td>{_flares(r.flares)}</td>", f"<td>{_report(out, r)}</td>"]
    notes = "".join(f'<div class="note">{esc(n)}</div>' for n in r.notes)
    return f'<tr id="patient-{esc(r.patient)}">{"".join(cells)}</tr>' + (
        f'<tr><td colspan="{len(cells)}">{notes}</td></tr>' if notes else "")


def _flares(f: PatientFlares | None) -> str:
    if f is None:
        return "no pain diary"
    tolerance = "" if f.tolerance_min is None else f"; tolerance {f.tolerance_min:.0f} min"
    count = "" if f.flares is None else f"{f.flares} flares{tolerance}: "
    return esc(count + f.summary)


def _report(out: Path, r: PatientRow) -> str:
    """A link to the patient's report where `sitload report` wrote it, else the command that
    writes it there."""
    folder = Path("patients", r.patient)
    if (out / folder / "index.html").exists():
        return f'<a href="{esc((folder / "index.html").as_posix())}">report</a>'
    command = shlex.join(["sitload", "report", *r.recordings, "-o", str(out / folder)])
    return f"<code>{esc(command)}</code>"


def _num(r: PatientRow, metric: str, value, text: str) -> str:
    raw = "" if value is None else repr(float(value))
    return (f'<td class="num" data-patient="{esc(r.patient)}" data-metric="{metric}" '
            f'data-value="{raw}">{esc(text)}</td>')


def _hours(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _pct(share: float | None) -> str:
    return _fixed(share and 100 * share, "{:.0f} %")


def _fixed(value: float | None, form: str) -> str:
    return "–" if value is None else form.format(value)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)
