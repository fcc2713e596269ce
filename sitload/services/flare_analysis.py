"""The flare analysis of a person's recordings (their diaries pooled) and the prompt policy a
personal sitting tolerance gives (docs/flares.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sitload.alerts.policy_config import PolicyConfig
from sitload.analytics import AnalysisConfig
from sitload.analytics.flares import (FlareAnalysis, FlareConfig, Timeline, break_prompt_min,
                                      diary_entries, flare_analysis)
from sitload.progress import Progress, part
from sitload.sensor_ingest.recording import Recording
from sitload.services.analysis import analyze_recording


def analyze_flares(paths: Sequence[str], config: FlareConfig | None = None,
                   analysis_config: AnalysisConfig | None = None,
                   progress: Progress | None = None) -> tuple[FlareAnalysis, list[str]]:
    """The flare analysis of recordings of one sensor, one after another (their diaries pooled),
    and the notes of recordings that end early."""
    timelines, entries, notes = [], [], []
    for i, path in enumerate(paths):
        with Recording(path) as rec:
            entries += diary_entries(rec.diary_rows())
        analysis = analyze_recording(path, analysis_config,
                                     part(progress, i / len(paths), (i + 1) / len(paths)))
        notes += [analysis.note] if analysis.note else []
        timelines.append(Timeline.from_analysis(analysis.result))
    return flare_analysis(entries, Timeline.join(timelines), config or FlareConfig()), notes


@dataclass(frozen=True)
class PersonalPolicy:
    """The prompt policy with the break threshold a personal sitting tolerance gives, and what
    was found (for the user: the tolerance, or why there is none)."""

    policy: PolicyConfig
    message: str


def personal_policy(history: Sequence[str], policy: PolicyConfig,
                    flares: FlareConfig | None = None,
                    analysis_config: AnalysisConfig | None = None) -> PersonalPolicy:
    """``policy`` with the break prompt at the personal sitting tolerance of the ``history``
    recordings (docs/flares.md), when their flare analysis finds one."""
    analysis, _ = analyze_flares(history, flares, analysis_config)
    minutes = break_prompt_min(analysis)
    if minutes is None:
        return PersonalPolicy(policy, f"no personal sitting tolerance yet ({analysis.summary}); "
                                      f"prompting at the usual threshold "
                                      f"({policy.break_threshold_min:g} min)")
    return PersonalPolicy(replace(policy, sitting_tolerance_min=minutes),
                          f"personal sitting tolerance {analysis.tolerance_min:.0f} min: break "
                          f"prompts after {minutes:.0f} min")
