"""The therapist's report: `sitload report RECORDING... -o DIR` (docs/report.md).

``DIR/index.html`` is one self-contained page (plots and styles inline, nothing fetched); beside it
the exports: bouts, per-minute series and daily metrics as CSV and Parquet, and a FHIR R4 Bundle.
The package: ``model`` gathers the recordings into what the report shows (the pure daily parts
are analytics.daily), ``plots`` draws the figures, ``page`` writes the HTML, ``exports`` the CSV,
Parquet and FHIR files; this module reads the recordings and writes them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitload.sensor_ingest.replay import open_recording
from sitload.config_file import Settings
from sitload.errors import ConfigError
from sitload.progress import Progress, part
from sitload.services.analysis_workers import Analyses
from sitload.report.model import RecordingData, build_model, recording_data
from sitload.report.exports import EXPORTS, write_exports
from sitload.report.figures import Figures
from sitload.report.page import render_page

LOAD_SHARE = 0.8          # of the progress bar: reading and analysing the recordings


@dataclass(frozen=True)
class ReportFiles:
    index: Path                       # DIR/index.html
    exports: dict[str, Path]          # file name -> path of every export


def build_report(paths: Sequence[str | Path], out_dir: str | Path, *,
                 timezone: str | None = None, title: str | None = None,
                 progress: Progress | None = None, settings: Settings | None = None,
                 workers: int = 1, analyses: Analyses | None = None) -> ReportFiles:
    """Analyse the recordings and write the report; ``timezone`` defaults to the recordings'.
    ``settings`` (default: the defaults) are the analysis, flare and adherence settings;
    ``workers`` processes analyse the recordings and draw the figures. ``analyses``: the
    recordings' analyses already started (with ``settings.analysis``), e.g. before the caller
    imported this package."""
    settings = settings or Settings()
    if not paths:
        raise ConfigError("no recording given")
    if timezone is not None:
        _check_zone(timezone)
    with analyses or Analyses(paths, settings.analysis, workers) as started:
        found = started.collect(part(progress, 0.0, LOAD_SHARE))
    recordings = []
    for path, devices in zip(paths, found):
        with open_recording(path) as rec:
            recordings.append(recording_data(rec, devices))
    zone = timezone or _recorded_timezone(recordings)
    if title is None:
        names = ", ".join(Path(p).name for p in paths)
        title = f"Sitting load report: {names}"
    return write_report(recordings, out_dir, title=title, timezone=zone,
                        progress=part(progress, LOAD_SHARE, 1.0), settings=settings,
                        workers=workers)


def write_report(recordings: Sequence[RecordingData], out_dir: str | Path, *, title: str,
                 timezone: str = "UTC", progress: Progress | None = None,
                 settings: Settings | None = None, workers: int = 1) -> ReportFiles:
    """Write ``out_dir/index.html`` and the exports for recordings already loaded (``settings``:
    the flare and adherence settings; ``workers``: processes that draw the figures)."""
    _check_zone(timezone)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(recordings, title=title, timezone=timezone,
                        progress=part(progress, 0.0, 0.2), settings=settings)
    figures = Figures()
    page = render_page(model, EXPORTS, figures)
    with figures.drawing(workers) as fill:      # the exports are written while figures draw
        exports = write_exports(model, out)
        page = fill(page, part(progress, 0.2, 1.0))
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return ReportFiles(index, exports)


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}") from None


def _recorded_timezone(recordings: Sequence[RecordingData]) -> str:
    zones = {r.timezone for r in recordings}
    if len(zones) > 1:
        raise ConfigError(f"the recordings are in different time zones ({', '.join(sorted(zones))})"
                          "; choose one with --tz")
    return zones.pop()
