"""What the therapist's report shows, gathered from recordings and reduced to tables (no rendering).

``recording_data`` gathers what a recording holds beside its devices' analyses (the same batch
analysis as `sitload analyze`, done by services.analysis_workers);
``build_model`` pools the analyses per sensor kind into days, per-minute series and the prompt,
diary and data-quality tables the page and the exports are made of.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sitload.alerts.adherence import answered_done, in_window, shows_change
from sitload.alerts.policy import PolicyConfig, Prompt
from sitload.analytics import AnalysisResult
from sitload.analytics.coverage import measured
from sitload.analytics.daily import (DayMetrics, cop_histogram, daily_metrics, local_dates,
                             minute_series, period_metrics)
from sitload.analytics.flares import (DiaryEntry, FlareAnalysis, FlareConfig, Timeline, diary_entries,
                              flare_analysis)
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.stream_decoder import DecodeStats, Gap
from sitload.config_file import Settings
from sitload.services.analysis import RecordingAnalysis
from sitload.errors import ConfigError, SitloadError
from sitload.events import Bout
from sitload.timestamps import from_iso
from sitload.vocab import PromptKind

if TYPE_CHECKING:   # the live pipeline (and its message schemas) only for a session's type
    from sitload.services.pipeline import SessionResult

ADHERENCE_WINDOW_S = 60.0 * PolicyConfig().adherence_window_min


@dataclass(frozen=True)
class PromptRecord:
    """A prompt that was sent, the patient's answers, and whether it was acted on in time."""

    id: str
    kind: str
    t: float
    message: str
    acks: tuple[tuple[float, str], ...]   # (UTC time, action) in time order
    acted: bool                           # see prompt_records()

    @property
    def acknowledged(self) -> bool:
        return bool(self.acks)


@dataclass
class DeviceData:
    """One device of one recording: its analysis and how well its data arrived."""

    recording: str                       # file name of the recording
    address: str
    name: str
    analysis: AnalysisResult
    decode: DecodeStats
    gaps: list[Gap]
    battery: pd.DataFrame                # host_time, percent
    link_events: pd.DataFrame            # host_time, event, detail
    note: str | None = None

    @property
    def sensor(self) -> str:
        return self.analysis.kind


@dataclass
class RecordingData:
    """Everything the report uses from one recording."""

    path: str
    timezone: str
    devices: list[DeviceData]
    prompts: list[Prompt]
    acks: pd.DataFrame                   # prompt_id, t, action, detail
    diary: pd.DataFrame                  # t, pain, location, side, tingling, note, source


@dataclass
class SensorSection:
    """All devices of one sensor kind, pooled."""

    sensor: str
    devices: list[DeviceData]
    days: list[DayMetrics]
    total: DayMetrics
    minutes: pd.DataFrame
    bouts: list[tuple[str, Bout]]        # (recording file name, bout) in time order
    cop: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    flares: FlareAnalysis | None = None  # None without pain reports


@dataclass
class ReportModel:
    title: str
    timezone: str
    recordings: list[str]                # file names, not paths
    sections: list[SensorSection]
    prompts: list[PromptRecord]
    diary: pd.DataFrame
    prolonged_s: tuple[float, ...]       # the thresholds of prolonged sitting (AnalysisConfig)
    adherence_window_s: float = ADHERENCE_WINDOW_S
    notes: list[str] = field(default_factory=list)

    @property
    def dates(self) -> list[str]:
        return sorted({d.date for s in self.sections for d in s.days})


def source_date_epoch() -> float | None:
    """The build time the reproducible-builds convention asks for (``SOURCE_DATE_EPOCH``, UTC
    epoch seconds), or None when it is not set: the report then states no build time at all."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ConfigError(f"SOURCE_DATE_EPOCH={value!r}: expected whole seconds since 1970")
    return float(value)


def recording_data(rec: Recording, analyses: Sequence[RecordingAnalysis]) -> RecordingData:
    """What the report uses from an open recording whose devices are analysed (``analyses``:
    services.analysis_workers)."""
    devices = []
    for found in analyses:
        dev = rec.device(found.device_id)
        devices.append(DeviceData(rec.path.name, dev.address, dev.name, found.result,
                                  found.decode, list(found.gaps), rec.battery(dev.id),
                                  rec.link_events(dev.id), found.note))
    return _recording_data(rec, devices, [_stored_prompt(row)
                                          for row in rec.prompts().itertuples(index=False)])


def _stored_prompt(row) -> Prompt:
    """A prompt as a recording keeps it (docs/recording-format.md): id, time and kind in columns,
    the rest in its alert document, which may be partial."""
    doc = json.loads(row.payload) if row.payload else {}
    expires = from_iso(doc["expires"]) if "expires" in doc else float(row.t)
    return Prompt(str(row.id), PromptKind(row.kind), float(row.t), expires,
                  str(doc.get("message", "")))


def session_recording(rec: Recording, session: SessionResult) -> RecordingData:
    """The report's view of a session just replayed by ``run_session`` (e.g. in `sitload demo`):
    its first device's streaming analysis and the prompts the policy raised."""
    dev = rec.device()
    device = DeviceData(rec.path.name, dev.address, dev.name, session.analysis, session.decode,
                        list(session.gaps), rec.battery(dev.id), rec.link_events(dev.id),
                        session.note)
    return _recording_data(rec, [device], list(session.prompts))


def _recording_data(rec: Recording, devices: list[DeviceData], prompts: list) -> RecordingData:
    return RecordingData(str(rec.path), rec.meta.get("timezone", "UTC"), devices, prompts,
                         rec.acks(), rec.diary())


def build_model(recordings: Sequence[RecordingData], *, title: str, timezone: str,
                progress: Callable[[float], None] | None = None,
                settings: Settings | None = None) -> ReportModel:
    """Pool the recordings per sensor kind and work out days, prompts and diary in ``timezone``
    (prolonged bouts, flares and prompt adherence by ``settings``, default: the defaults; the
    recordings' analyses should use the same). ConfigError when recordings of one sensor kind
    overlap in time."""
    settings = settings or Settings()
    window_s = 60.0 * settings.policy.adherence_window_min
    prolonged_s = settings.analysis.prolonged_s
    tz = ZoneInfo(timezone)
    by_kind: dict[str, list[DeviceData]] = {}
    firsts: dict[str, dict[int, DeviceData]] = {}    # kind -> recording -> its first such device
    for i, rec in enumerate(recordings):
        for dev in rec.devices:
            by_kind.setdefault(dev.sensor, []).append(dev)
            firsts.setdefault(dev.sensor, {}).setdefault(i, dev)
    for first in firsts.values():    # the check `sitload flares` makes: no time counted twice
        if len(first) > 1:           # (one recording cannot overlap itself)
            Timeline.join([Timeline.from_analysis(d.analysis) for d in first.values()])
    diary = pd.concat([r.diary for r in recordings], ignore_index=True) if recordings else None
    notes, entries = [], []
    try:
        entries = diary_entries(diary.itertuples(index=False)) \
            if diary is not None and len(diary) else []
    except SitloadError as exc:
        notes.append(f"pain diary not analysed for flares: {exc}")
    sections = []
    for i, (sensor, devices) in enumerate(sorted(by_kind.items())):
        results = [d.analysis for d in devices]
        bouts = sorted(((d.recording, b) for d in devices for b in d.analysis.bouts),
                       key=lambda rb: rb[1].start)
        days = daily_metrics(results, tz, prolonged_s)
        flares, note = _flares(entries, results, settings.flares)
        notes += [note] if note else []
        sections.append(SensorSection(sensor, devices, days,
                                      period_metrics(results, days, prolonged_s),
                                      minute_series(results, tz), bouts, cop_histogram(results),
                                      flares))
        if progress is not None:
            progress((i + 1) / len(by_kind))
    prompts = [p for rec in recordings for p in prompt_records(rec, window_s)]
    if diary is not None and len(diary):
        diary = diary.sort_values("t", ignore_index=True)
        diary["date"] = local_dates(diary["t"].to_numpy(), tz)
    notes += [d.note for s in sections for d in s.devices if d.note]
    return ReportModel(title, timezone, [Path(r.path).name for r in recordings], sections,
                       sorted(prompts, key=lambda p: p.t), diary, prolonged_s,
                       adherence_window_s=window_s, notes=notes)


def _flares(entries: list[DiaryEntry], results: list[AnalysisResult], config: FlareConfig
            ) -> tuple[FlareAnalysis | None, str | None]:
    """The flare analysis of the pain reports against one sensor's analyses (docs/flares.md),
    or a note saying why there is none."""
    if not entries:
        return None, None
    try:
        timeline = Timeline.join([Timeline.from_analysis(r) for r in results])
        return flare_analysis(entries, timeline, config), None
    except SitloadError as exc:
        return None, f"flare analysis ({results[0].kind}): {exc}"


def prompt_records(rec: RecordingData, window_s: float = ADHERENCE_WINDOW_S
                   ) -> list[PromptRecord]:
    """The recording's prompts with their answers, and whether each was acted on within
    ``window_s`` (the rule of sitload.alerts.adherence, which the prompt policy applies too),
    judged on the recording's first device: the one its prompts come from."""
    answers: dict[str, list[tuple[float, str]]] = {}
    for row in rec.acks.itertuples(index=False):
        answers.setdefault(row.prompt_id, []).append((float(row.t), row.action))
    seconds = rec.devices[0].analysis.seconds_with_data if rec.devices else {
        "sec": np.zeros(0, dtype=np.int64)}
    t, none = seconds["sec"], np.zeros(seconds["sec"].size, dtype=np.int8)  # codes; 0: NONE
    posture, lean = seconds.get("posture", none), seconds.get("lean_side", none)
    seen_crossed = bool(rec.devices) and "crossed" in measured(rec.devices[0].analysis.kind)
    crossed = seconds.get("crossed", none) if seen_crossed else None
    out = []
    for p in rec.prompts:
        acks = tuple(sorted(answers.get(p.id, [])))
        inside = in_window(p.created, t, window_s)
        seen = shows_change(p.kind, posture[inside], lean[inside],
                            None if crossed is None else crossed[inside]).any()
        out.append(PromptRecord(p.id, p.kind, p.created, p.message, acks,
                                answered_done(p.created, list(acks), window_s) or bool(seen)))
    return out
