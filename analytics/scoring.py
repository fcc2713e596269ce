"""Score an AnalysisResult against simulator ground truth (one row per true second).

What a sensor can see decides the truth it is held to: a thigh IMU cannot tell lying from sitting
(both put the femur horizontal), so for it truth 'lying' counts as sitting; a mat sees only who is on
the seat, so for it the truth is 'occupied'. Truth bouts come from the truth labels through the same
BoutTracker and AnalysisConfig as the analysis, so the bout rules are identical on both sides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from sitload.analytics.bouts import BoutTracker
from sitload.analytics.config import AnalysisConfig
from sitload.analytics.coverage import measured
from sitload.analytics.records import AnalysisResult
from sitload.events import Bout
from sitload.vocab import Posture, Side

MIN_SCORED_BOUT_S = 300.0
BOUNDARY_TOLERANCE_S = 10.0


@dataclass(frozen=True)
class Score:
    """Agreement of one analysis with the truth (fractions in 0..1, errors in seconds or %)."""

    seconds: int                     # truth seconds that have an analysed (non-gap) second
    sitting_agreement: float         # sitting vs not sitting, per second
    posture_agreement: float         # all classes the sensor reports (mat: sitting/off seat)
    sitting_error_pct: float         # (analysed - true sitting seconds) / true sitting seconds
    truth_bouts: int                 # truth bouts >= 5 min
    bout_recall: float               # ... found with both ends within 10 s
    bout_precision: float            # analysed bouts >= 5 min with a truth bout within 10 s
    boundary_error_mean_s: float     # |start| and |end| differences of best-overlap pairs
    boundary_error_max_s: float
    lean_bouts: int                  # truth bouts >= 5 min with a lean side
    lean_side_agreement: float | None
    crossed_bouts: int               # truth bouts >= 5 min with a crossed-leg side
    crossed_side_agreement: float | None     # None also when the sensor cannot see crossed legs

    def to_json(self) -> dict:
        return asdict(self)


def truth_posture(truth: pd.DataFrame, kind: str) -> np.ndarray:
    """Truth posture codes as the sensor ``kind`` ('thigh-imu', 'hip-imu', 'pressure') sees them."""
    names = truth["posture"].to_numpy()
    if kind == "pressure":
        return np.where(truth["occupied"].to_numpy(), Posture.SITTING, Posture.OFF_SEAT)
    if kind == "thigh-imu":
        names = np.where(names == "lying", "sitting", names)
    return np.array([Posture.from_wire(n) for n in names], dtype=np.int8) if len(names) else \
        np.zeros(0, dtype=np.int8)


def truth_bouts(truth: pd.DataFrame, kind: str, config: AnalysisConfig) -> list[Bout]:
    """Bouts of the truth labels under the analysis' own bout rules (seconds missing = gap)."""
    if truth.empty:
        return []
    sec = np.floor(truth["t"].to_numpy()).astype(np.int64)
    first = int(sec[0])
    n = int(sec[-1]) - first + 1
    cols = {"sec": np.arange(first, first + n, dtype=np.int64),
            "posture": np.full(n, Posture.GAP, dtype=np.int8),
            "lean_side": np.zeros(n, dtype=np.int8), "crossed": np.zeros(n, dtype=np.int8)}
    pos = sec - first
    cols["posture"][pos] = truth_posture(truth, kind)
    cols["lean_side"][pos] = _side_codes(truth["lean_side"])
    cols["crossed"][pos] = _side_codes(truth["crossed"])
    tracker = BoutTracker(config)
    tracker.feed(cols)
    tracker.finish(first + n)
    return tracker.bouts


def score(result: AnalysisResult, truth: pd.DataFrame,
          config: AnalysisConfig = AnalysisConfig()) -> Score:
    """Per-second and per-bout agreement of ``result`` with ``truth`` (see the module notes)."""
    labels = pd.DataFrame({"t": truth["t"].to_numpy(), "_true": truth_posture(truth, result.kind)})
    merged = labels.merge(result.epochs[["t", "posture"]], on="t", how="inner")
    merged = merged[merged["posture"] != Posture.GAP.wire]
    pred = np.array([Posture.from_wire(p) for p in merged["posture"]], dtype=np.int8)
    true = merged["_true"].to_numpy()
    true_sit, pred_sit = true == Posture.SITTING, pred == Posture.SITTING
    n = len(merged)
    sit_err = 100.0 * (pred_sit.sum() - true_sit.sum()) / max(int(true_sit.sum()), 1)

    all_truth = truth_bouts(truth, result.kind, config)
    t_bouts = [b for b in all_truth if b.duration_s >= MIN_SCORED_BOUT_S]
    p_bouts = [b for b in result.bouts if b.duration_s >= MIN_SCORED_BOUT_S]
    found = sum(1 for b in t_bouts if _matches(b, result.bouts))
    precise = sum(1 for b in p_bouts if _matches(b, all_truth))
    errors, lean, crossed = [], [], []
    for tb in t_bouts:
        pb = _best_overlap(tb, result.bouts)
        if pb is None:
            continue
        errors += [abs(pb.start - tb.start), abs(pb.end - tb.end)]
        if tb.lean_side != Side.NONE.wire:
            lean.append(pb.lean_side == tb.lean_side)
        if tb.crossed_side != Side.NONE.wire:
            crossed.append(pb.crossed_side == tb.crossed_side)
    return Score(
        seconds=n,
        sitting_agreement=float(np.mean(true_sit == pred_sit)) if n else float("nan"),
        posture_agreement=float(np.mean(true == pred)) if n else float("nan"),
        sitting_error_pct=float(sit_err),
        truth_bouts=len(t_bouts),
        bout_recall=found / len(t_bouts) if t_bouts else 1.0,
        bout_precision=precise / len(p_bouts) if p_bouts else 1.0,
        boundary_error_mean_s=float(np.mean(errors)) if errors else 0.0,
        boundary_error_max_s=float(np.max(errors)) if errors else 0.0,
        lean_bouts=len(lean), lean_side_agreement=float(np.mean(lean)) if lean else None,
        crossed_bouts=len(crossed),
        crossed_side_agreement=float(np.mean(crossed))
        if crossed and "crossed" in measured(result.kind) else None)


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two boolean labellings of the same seconds (NaN when chance agreement
    is total, e.g. both all-sitting): (p_o - p_e) / (1 - p_e)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return kappa_of_table(int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()),
                          int((~a & ~b).sum()))


def kappa_of_table(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Cohen's kappa from the 2 x 2 table of two boolean labellings (see ``kappa``)."""
    n = both + only_a + only_b + neither
    if n == 0:
        return float("nan")
    observed = (both + neither) / n
    pa, pb = (both + only_a) / n, (both + only_b) / n
    chance = pa * pb + (1.0 - pa) * (1.0 - pb)
    return float("nan") if chance == 1.0 else (observed - chance) / (1.0 - chance)


def _side_codes(values: pd.Series) -> np.ndarray:
    return np.array([Side.from_wire(v) for v in values], dtype=np.int8)


def _matches(bout: Bout, others: list[Bout]) -> bool:
    return any(abs(o.start - bout.start) <= BOUNDARY_TOLERANCE_S and
               abs(o.end - bout.end) <= BOUNDARY_TOLERANCE_S for o in others)


def _best_overlap(bout: Bout, others: list[Bout]) -> Bout | None:
    best, best_overlap = None, 0.0
    for o in others:
        overlap = min(o.end, bout.end) - max(o.start, bout.start)
        if overlap > best_overlap:
            best, best_overlap = o, overlap
    return best
