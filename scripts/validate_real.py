"""Sitting detection on real labelled waist-worn recordings, scored leave-one-subject-out.

Every ``subjectNN-sessionK.csv.gz`` of the data folder (with ``...-labels.csv`` beside it) is
imported as a hip IMU recording the way a user would (``sitload import F --sensor hip-imu
--gyro-units rads``; once as it is and once with the gyroscope columns left out), decoded and
analysed as ``sitload analyze`` does, and scored per second, sitting vs not, on the seconds that
lie wholly inside one label (``sitload score --labels``: transitions and ``unlabelled`` are not
scored).

The hip thresholds ``hip_sit_tilt_deg``, ``hip_stand_tilt_deg`` and ``hip_lie_deg`` are chosen
from the data: for every subject, the thresholds of the grid with the best pooled kappa on the
*other* subjects score that subject (leave-one-subject-out), so no one is scored on thresholds
fitted to them. The thresholds chosen on all subjects are what ``AnalysisConfig`` ships; the
script says whether they agree.

    .venv/bin/python scripts/validate_real.py [--data DIR] [--subjects 1 3 5]
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sitload.analytics import AnalysisConfig, analyze
from sitload.analytics.scoring import kappa_of_table
from sitload.sensor_ingest.replay import DeviceReplay, open_recording
from sitload.services.importers import import_csv, read_labels

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "waist-imu-dev"
SIT_GRID = (11.0, 13.0, 14.0, 15.0, 16.0, 17.0, 19.0)
STAND_GRID = (4.0, 6.0, 8.0, 10.0)
LIE_GRID = (60.0, 75.0)
FITTED = ("hip_sit_tilt_deg", "hip_stand_tilt_deg", "hip_lie_deg")


@dataclass(frozen=True)
class Counts:
    """Scored seconds of one subject: sitting found / labelled, as a 2 x 2 table."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
                      self.tn + other.tn)

    @property
    def kappa(self) -> float:
        return kappa_of_table(self.tp, self.fp, self.fn, self.tn)

    @property
    def recall(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)

    @property
    def precision(self) -> float:
        return self.tp / max(self.tp + self.fp, 1)


def sessions(data: Path, subjects: list[int] | None) -> list[tuple[int, Path, Path]]:
    found = []
    for src in sorted(data.glob("subject*-session*.csv.gz")):
        subject = int(re.search(r"subject(\d+)", src.name).group(1))
        labels = src.with_name(src.name.replace(".csv.gz", "-labels.csv"))
        if labels.exists() and (not subjects or subject in subjects):
            found.append((subject, src, labels))
    if not found:
        sys.exit(f"validate_real: no subjectNN-sessionK.csv.gz with labels in {data}")
    return found


def decoded(src: Path, work: Path, gyro: bool) -> list:
    """The session imported as a hip IMU recording (gyro columns dropped unless ``gyro``) and
    decoded as `sitload analyze` decodes it."""
    if not gyro:
        plain = work / src.name.replace(".csv.gz", "-accel.csv.gz")
        pd.read_csv(src, usecols=["time", "ax", "ay", "az"], dtype=str).to_csv(plain, index=False)
        src = plain
    rec_path = work / (src.name.removesuffix(".csv.gz") + ".sitload")
    import_csv(src, rec_path, sensor="hip-imu", gyro_units="rads")
    with open_recording(rec_path) as rec:
        return list(DeviceReplay.of(rec).batches())


def counts(batches: list, labels: pd.DataFrame, config: AnalysisConfig) -> Counts:
    epochs = analyze(batches[0].kind, batches, config).epochs
    epochs = epochs[epochs["posture"] != "gap"]
    both = labels.merge(epochs.assign(sec=epochs["t"].astype("int64")), on="sec")
    found, truth = (both["posture"] == "sitting").to_numpy(), both["sitting"].to_numpy()
    return Counts(int((found & truth).sum()), int((found & ~truth).sum()),
                  int((~found & truth).sum()), int((~found & ~truth).sum()))


def grid_counts(found: list[tuple[int, Path, Path]], gyro: bool, work: Path
                ) -> dict[tuple[float, ...], dict[int, Counts]]:
    """Per grid point (the FITTED thresholds), per subject: the scored seconds over the subject's
    sessions."""
    grid = [point for point in itertools.product(SIT_GRID, STAND_GRID, LIE_GRID)
            if point[1] <= point[0]]
    table = {point: {} for point in grid}
    for n, (subject, src, labels_csv) in enumerate(found, 1):
        print(f"\r{'gyro' if gyro else 'accel only'}: session {n}/{len(found)}", end="",
              file=sys.stderr, flush=True)
        batches = decoded(src, work, gyro)
        labels = read_labels(labels_csv).seconds
        for point in grid:
            config = replace(AnalysisConfig(), **dict(zip(FITTED, point)),
                             hip_drift_sit_deg=max(point[0], AnalysisConfig().hip_drift_sit_deg))
            table[point][subject] = (table[point].get(subject, Counts())
                                     + counts(batches, labels, config))
    print(file=sys.stderr)
    return table


def pooled(per_subject: dict[int, Counts], leave_out: int | None = None) -> Counts:
    return sum((c for s, c in per_subject.items() if s != leave_out), Counts())


def report(table: dict[tuple[float, ...], dict[int, Counts]], name: str) -> None:
    subjects = sorted(next(iter(table.values())))
    best_all = max(table, key=lambda point: pooled(table[point]).kappa)
    shipped = tuple(getattr(AnalysisConfig(), field) for field in FITTED)
    rows, total = [], Counts()
    for subject in subjects:
        point = max(table, key=lambda p: pooled(table[p], leave_out=subject).kappa)
        c = table[point][subject]
        total += c
        rows.append((subject, point, c))
    print(f"\n## {name}: leave-one-subject-out\n")
    print("| subject | sit / stand / lying tilt (fitted on the others) | seconds | kappa "
          "| sitting recall | sitting precision |")
    print("|---|---|---|---|---|---|")
    for subject, point, c in rows:
        print(f"| {subject:02d} | {_degrees(point)} | {c.tp + c.fp + c.fn + c.tn} | "
              f"{c.kappa:.3f} | {c.recall:.3f} | {c.precision:.3f} |")
    print(f"| **pooled** | | {total.tp + total.fp + total.fn + total.tn} | **{total.kappa:.3f}** "
          f"| {total.recall:.3f} | {total.precision:.3f} |")
    agree = "the shipped defaults" if best_all == shipped else f"shipped: {_degrees(shipped)}"
    print(f"\nFitted on all subjects: {_degrees(best_all)} "
          f"(pooled kappa {pooled(table[best_all]).kappa:.3f}; {agree}).")


def _degrees(point: tuple[float, ...]) -> str:
    return " / ".join(f"{v:g}°" for v in point)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--subjects", type=int, nargs="+", help="only these subjects")
    args = p.parse_args()
    found = sessions(args.data, args.subjects)
    print(f"{len(found)} sessions of {len({s for s, _, _ in found})} subjects in {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        for gyro in (True, False):
            report(grid_counts(found, gyro, Path(tmp)),
                   "with the gyroscope" if gyro else "accelerometer only")


if __name__ == "__main__":
    main()
