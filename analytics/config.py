"""Settings of the analysis. Every default is explained in docs/metrics.md."""

from __future__ import annotations

from dataclasses import dataclass

from sitload.errors import ConfigError
from sitload.vocab import PROLONGED_S, prolonged_minutes


@dataclass(frozen=True)
class AnalysisConfig:
    """Thresholds and rules of posture, bout and asymmetry detection (times in seconds)."""

    # bouts and breaks
    break_s: float = 60.0            # upright/unknown time that ends a bout
    min_sit_s: float = 10.0          # shorter sitting runs are blips, not bouts
    prolonged_s: tuple[float, ...] = PROLONGED_S  # prolonged bouts: at least each, whole minutes
    # thigh / hip IMU
    sit_incl_deg: float = 45.0       # thigh inclination above which the thigh is sitting-or-lying
    walk_std_g: float = 0.10         # std of |a| in an epoch above which an upright body is moving
    walk_run_s: int = 3              # moving seconds in a row that are walking
    walk_max_incl_deg: float = 60.0  # once calibrated, walking this far from the reference is not
    calib_min_walk_s: int = 10       # walking seconds that calibrate the sensor ...
    calib_spread_deg: float = 20.0   # ... pointing alike (mean of their unit vectors this long)
    calib_hold_s: float = 3600.0     # seconds wait this long for the calibration, then are unknown
    sensor_side: str = "right"       # leg / hip the IMU is worn on ('left' | 'right')
    cross_incl_deg: float = 91.0     # thigh inclination above which the sensor leg is on top
    hip_sit_tilt_deg: float = 17.0   # hip, after a transition: tilt from the reference that sits
    hip_stand_tilt_deg: float = 6.0  # hip, after a transition: tilt below which sitting ends,
    hip_rise_deg: float = 8.0        # ... or below hip_sit_tilt_deg, this far under the settled sit
    hip_drift_sit_deg: float = 20.0  # hip: a still pelvis this far from the reference sits anyway
    hip_trans_deg: float = 3.0       # hip: orientation change within one second = a transition
    hip_trans_window_s: int = 5      # hip: seconds after a transition when posture may change
    hip_ref_walk_s: int = 120        # hip: walking seconds the upright reference averages over
    reset_walk_s: int = 20           # a walk this long ...
    hip_reset_deg: float = 6.0       # ... this far from the hip's reference replaces it,
    walk_reset_deg: float = 30.0     # ... this far from a segment's walking axis replaces it
    hip_lie_deg: float = 75.0        # pelvis inclination above which the hip sensor says lying
    hip_sign_tilt_deg: float = 8.0   # hip: still seconds tilted this far count for "backwards" ...
    hip_sign_evidence_s: int = 120   # ... and one side leading by this many seconds is backwards
    hip_axis_min_share: float = 0.6  # hip: mean share of that tilt along f for f to be used
    # lateral lean / asymmetry
    lean_deg: float = 5.0            # |lean| below this is no lean (matches the truth definition)
    si_lean_pct: float = 25.0        # mat: |gluteal SI| at or above this is a lean to that side
    # pressure mat
    mat_cell_area_cm2: float = 6.25  # area of one mat cell (2.5 cm x 2.5 cm)
    seat_on_n: float = 260.0         # total load that turns occupancy on (a person)
    seat_off_n: float = 240.0        # total load below which occupancy turns off (hysteresis)
    person_min_cells: int = 20       # loaded cells a person covers (fewer = an object)
    cell_loaded_kpa: float = 1.0     # a cell is loaded above this pressure
    shift_offload_frac: float = 0.15  # weight shift: one buttock carries less than this share ...
    shift_min_s: float = 3.0          # ... for at least this long
    cross_front_frac: float = 0.25    # crossed legs: one thigh carries less than this front share
    cross_gluteal_ratio: float = 1.6  # crossed legs: bottom-leg / top-leg buttock load, no lean
    # sustained-state events
    asym_sustain_s: float = 120.0
    bout_side_min_s: float = 60.0   # a bout has a lean / crossed side with at least this many s
    crossed_sustain_s: float = 60.0

    def __post_init__(self) -> None:
        if self.break_s <= 0 or self.min_sit_s < 1:
            raise ConfigError("break_s must be > 0 and min_sit_s >= 1")
        if not self.prolonged_s or any(b <= a for a, b in zip((0.0, *self.prolonged_s),
                                                               self.prolonged_s)):
            raise ConfigError(f"prolonged_s must be positive and ascending, not {self.prolonged_s}")
        for threshold in self.prolonged_s:    # whole minutes, which name the counts
            prolonged_minutes(threshold)
        negative = [name for name in ("lean_deg", "si_lean_pct", "walk_std_g", "shift_min_s",
                                      "asym_sustain_s", "bout_side_min_s", "crossed_sustain_s")
                    if getattr(self, name) < 0]
        if negative:
            raise ConfigError(f"{', '.join(negative)} must not be negative")
        if self.sensor_side not in ("left", "right"):
            raise ConfigError(f"sensor_side must be 'left' or 'right', not {self.sensor_side!r}")
        if self.seat_off_n > self.seat_on_n:
            raise ConfigError("seat_off_n must not exceed seat_on_n")
        if not 0 < self.sit_incl_deg < 90:
            raise ConfigError("sit_incl_deg must be between 0 and 90")
        if not 0 <= self.hip_stand_tilt_deg <= self.hip_sit_tilt_deg <= self.hip_drift_sit_deg:
            raise ConfigError("hip tilts must satisfy 0 <= hip_stand_tilt_deg <= hip_sit_tilt_deg"
                              " <= hip_drift_sit_deg")
        if min(self.hip_trans_window_s, self.walk_run_s, self.hip_ref_walk_s,
               self.reset_walk_s, self.hip_sign_evidence_s, self.calib_min_walk_s) < 1:
            raise ConfigError("hip_trans_window_s, walk_run_s, hip_ref_walk_s, reset_walk_s,"
                              " hip_sign_evidence_s and calib_min_walk_s must be >= 1")
        if self.calib_min_walk_s > self.hip_ref_walk_s:
            raise ConfigError("calib_min_walk_s must not exceed hip_ref_walk_s")
        if not 0 < self.calib_spread_deg < 90:
            raise ConfigError("calib_spread_deg must be between 0 and 90")
        if not 0 < self.walk_reset_deg < 180:
            raise ConfigError("walk_reset_deg must be between 0 and 180")
        if self.calib_hold_s < self.calib_min_walk_s:
            raise ConfigError("calib_hold_s must be at least calib_min_walk_s")
