"""Analysing recordings: one recording's batch analysis and its agreement with reference labels
(the flare analysis of several: services.flare_analysis)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sitload.analytics.config import AnalysisConfig
from sitload.analytics.seconds import second_features
from sitload.errors import ConfigError
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay
from sitload.progress import Progress
from sitload.sensor_ingest.stream_decoder import DecodeStats, Gap
from sitload.services import read_ahead

if TYPE_CHECKING:
    import pandas as pd

    from sitload.analytics import AnalysisResult


@dataclass(frozen=True)
class RecordingAnalysis:
    """The batch analysis of one device of a recording, how its frames arrived (counts and gaps),
    its ground truth (simulated recordings) and a note when the recording ends early or is
    damaged."""

    result: AnalysisResult
    decode: DecodeStats
    note: str | None
    path: str
    device_id: int
    gaps: tuple[Gap, ...]

    @property
    def truth(self) -> pd.DataFrame:
        """The ground truth, read when asked for (a week of it is a large table)."""
        with Recording(self.path) as rec:
            return rec.truth(self.device_id)


def analyze_recording(path: str, config: AnalysisConfig | None = None,
                      progress: Progress | None = None) -> RecordingAnalysis:
    """What `sitload analyze` computes (the first device); ``progress`` gets the share of the
    frames analysed."""
    with Recording(path) as rec:
        return analyze_device(rec, None, config, progress)


def analyze_device(rec: Recording, device_id: int | None, config: AnalysisConfig | None = None,
                   progress: Progress | None = None, *,
                   ahead: bool | read_ahead.FeaturesAhead = True) -> RecordingAnalysis:
    """The batch analysis of one device (None: the first) of an open recording, decoded and its
    per-second features made on a second process (services.read_ahead): ``ahead``, one started
    earlier for this device, or True for one started now where a process may fork; False: all
    here."""
    replay, config = DeviceReplay.of(rec, device_id), config or AnalysisConfig()
    kind = replay.device.kind
    if ahead is True:
        ahead = read_ahead.may_read_ahead() and \
            read_ahead.FeaturesAhead(str(rec.path), replay.device.id, config)
    # the rest of the analysis loads while the decoding process starts on the frames
    from sitload.analytics.engine import analyze_features

    features = (ahead.take(replay, progress) if ahead
                else second_features(kind, replay.batches(progress=progress), config))
    result = analyze_features(kind, features, config)
    return RecordingAnalysis(result, replay.decoder.stats, replay.note, str(rec.path),
                             replay.device.id, tuple(replay.decoder.gaps))


@dataclass(frozen=True)
class LabelScore:
    """Sitting vs not sitting per second against reference labels: the seconds compared, the
    agreement and Cohen's kappa, the sitting seconds found and labelled, and the labelled seconds
    left out (unlabelled or a postural transition; straddling a change of label)."""

    seconds: int
    sitting_agreement: float
    sitting_kappa: float
    sitting_s_found: int
    sitting_s_labelled: int
    skipped_unlabelled_s: int
    skipped_straddling_s: int


def score_against_labels(result: AnalysisResult, labels_csv: str, tz: str = "UTC",
                         labels_format: str | None = None) -> LabelScore:
    """``result``'s sitting seconds against the labels of ``labels_csv`` (read in
    ``labels_format``, by default the one its header names: ``read_reference``; times without a
    zone in ``tz``), over the seconds both have: the recording's gap seconds are left out."""
    from sitload.analytics.scoring import kappa
    from sitload.services.formats import read_reference

    labels = read_reference(labels_csv, labels_format, tz)
    epochs = result.epochs[result.epochs["posture"] != "gap"]
    both = labels.seconds.merge(epochs.assign(sec=epochs["t"].astype("int64")), on="sec")
    if both.empty:
        raise ConfigError(f"{labels_csv}: no labelled second falls inside the recording")
    found = (both["posture"] == "sitting").to_numpy()
    truth = both["sitting"].to_numpy()
    return LabelScore(int(len(both)), float(np.mean(found == truth)), kappa(found, truth),
                      int(found.sum()), int(truth.sum()), labels.skipped_unlabelled,
                      labels.skipped_straddling)
