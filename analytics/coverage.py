"""Which sensor kind measures which metric: the one table every output asks (docs/metrics.md §9),
so that what a sensor cannot see is shown as not measured (null, a dash), never as 0.

Every sensor gives posture (so sitting time, bouts, breaks, sit-to-stand) and a lean side. The rest
follows from the features its classifier ``measures`` (analytics.posture): 'lean' a lean angle;
'fair' the sensor leg crossed on top (a thigh sees crossed legs, but only its own leg on top);
'mat' the seat's load map (crossed legs either way round, symmetry index, centre of pressure, load
doses, ischial peaks, weight shifts: the metric 'seat_load').
"""

from __future__ import annotations

from sitload.analytics.posture import HipClassifier, MatClassifier, ThighClassifier
from sitload.vocab import SensorKind

CLASSIFIERS = {SensorKind.THIGH_IMU: ThighClassifier, SensorKind.HIP_IMU: HipClassifier,
               SensorKind.PRESSURE: MatClassifier}
EVERY_SENSOR = frozenset({"sitting", "lean_side"})
FROM_FEATURE = {"lean": frozenset({"lean_deg"}), "fair": frozenset({"fair", "crossed"}),
                "mat": frozenset({"seat_load", "crossed"})}
LABELLED = EVERY_SENSOR | {"crossed"}     # what per-second labels alone give (simulator truth)
LIMITS = {
    SensorKind.THIGH_IMU: "A thigh sensor sees only its own leg crossed on top, so the time "
                          "with legs crossed counts only that; the other leg crossed on top "
                          "turns it like a lean to its own side, and it counts that as leaning.",
    SensorKind.HIP_IMU: "A hip sensor cannot see crossed legs (they barely move the pelvis): "
                        "they are not measured.",
}


def measured(kind: SensorKind | str) -> frozenset[str]:
    """The metrics a sensor kind (or its CLI name, e.g. 'hip-imu') measures."""
    kind = _kind(kind)
    return EVERY_SENSOR.union(*(FROM_FEATURE[f] for f in CLASSIFIERS[kind].measures))


def limit(kind: SensorKind | str) -> str | None:
    """What the sensor kind cannot see, as a sentence for the reader of a report; None when
    there is nothing to say (the mat)."""
    return LIMITS.get(_kind(kind))


def _kind(kind: SensorKind | str) -> SensorKind:
    return SensorKind.from_cli(kind) if isinstance(kind, str) else SensorKind(kind)
