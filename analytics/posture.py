"""Epoch features -> posture, lean and crossed legs per second, one classifier per sensor kind.

Each classifier carries a small causal state from block to block (running sums, the last
hysteresis decision), so any cut of the stream into blocks gives the same labels. The thigh and mat
classifiers are vectorised over a block and compare cosines and sums, never vectorised
transcendental results; the hip's state machine steps second by second in scalar arithmetic. Both
are exact under any cut.
"""

from __future__ import annotations

import math

import numpy as np

from analytics.config import AnalysisConfig
from analytics.epochs import GYRO_COV, Columns
from analytics.records import LYING, MOVING, OFF_SEAT, SITTING, STANDING

LEFT, RIGHT = 1, 2


class WalkingReference:
    """Causal sensor-to-segment calibration of a thigh- or hip-worn IMU from walking.

    Upright axis (Skotte et al. 2014, Acti4): the mean direction of the acceleration over all
    walking epochs up to and including the current one. Lateral axis (with a gyroscope): the
    principal axis of the angular velocity over the same epochs (walking swings the segment about
    its medio-lateral axis), made orthogonal to the upright axis. No look-ahead. Before
    ``calib_min_walk_s`` walking epochs the nominal axes are used; without a gyroscope the shortest
    rotation onto the upright axis is used (a twist of the mount about the segment axis stays).
    Walking epochs for calibration: std(|a|) > ``walk_std_g`` and mean acceleration within
    ``walk_max_incl_deg`` of the nominal x axis, either way up (a sensor worn upside down walks
    near -x).
    """

    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg
        self.sum = np.zeros(3)
        self.cov = np.zeros(6)
        self.n = 0
        self.n_gyro = 0
        self.unit = np.zeros((0, 3))      # last block: unit mean acceleration, sensor frame
        self.forward = np.zeros((0, 3))   # last block: segment forward axis, sensor frame (NaN
        #                                   until the gyroscope has given the lateral axis)
        self.plain_y = np.zeros(0)        # last block: u_y after the shortest rotation alone

    def rotate(self, cols: Columns) -> np.ndarray:
        """Unit mean-acceleration vectors of the block expressed in the calibrated segment frame."""
        cfg = self.cfg
        a = np.stack((cols["ax"], cols["ay"], cols["az"]), axis=1)
        norm = np.sqrt(np.einsum("ij,ij->i", a, a))
        u = a / np.where(norm > 0, norm, 1.0)[:, None]
        self.unit, self.forward = u, np.full(u.shape, np.nan)
        self.plain_y = u[:, 1]
        if len(u) == 0:
            return u
        walking = (cols["std_mag"] > cfg.walk_std_g) & \
            (np.abs(u[:, 0]) > math.cos(math.radians(cfg.walk_max_incl_deg)))
        gcov = np.stack([cols[name] for name in GYRO_COV], axis=1)
        walking_gyro = walking & np.isfinite(gcov).all(axis=1)
        summed = _cumulative(self.sum, u * walking[:, None])
        cov = _cumulative(self.cov, np.where(walking_gyro[:, None], gcov, 0.0))
        count = self.n + np.cumsum(walking)
        count_gyro = self.n_gyro + np.cumsum(walking_gyro)
        self.sum, self.cov = summed[-1].copy(), cov[-1].copy()
        self.n, self.n_gyro = int(count[-1]), int(count_gyro[-1])
        ready = count >= cfg.calib_min_walk_s
        up = summed / np.maximum(np.sqrt(np.einsum("ij,ij->i", summed, summed)), 1e-12)[:, None]
        up = np.where(ready[:, None], up, np.array([1.0, 0.0, 0.0]))
        out = _rotate_to_x(u, up)
        self.plain_y = out[:, 1].copy()
        full = ready & (count_gyro >= cfg.calib_min_walk_s)
        if full.any():
            lateral = _principal_axis(cov[full])
            upf = up[full]
            lateral -= np.einsum("ij,ij->i", lateral, upf)[:, None] * upf
            lateral /= np.maximum(np.sqrt(np.einsum("ij,ij->i", lateral, lateral)),
                                  1e-12)[:, None]
            forward = np.cross(upf, lateral)
            self.forward[full] = forward
            uf = u[full]
            out[full] = np.stack([np.einsum("ij,ij->i", uf, axis)
                                  for axis in (upf, lateral, forward)], axis=1)
        return out


def _cumulative(start: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Running sums continuing ``start`` (sequential, so any cut of the stream sums alike)."""
    return np.cumsum(np.vstack((start[None, :], rows)), axis=0)[1:]


def _principal_axis(cov6: np.ndarray) -> np.ndarray:
    """Unit eigenvector of the largest eigenvalue of each packed covariance, signed towards +y."""
    xx, yy, zz, xy, xz, yz = cov6.T
    mats = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1),
                     np.stack([xz, yz, zz], -1)], axis=1)
    vec = np.linalg.eigh(mats)[1][:, :, 2]
    return vec * np.where(vec[:, 1] < 0, -1.0, 1.0)[:, None]


def _rotate_to_x(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Apply, row by row, the shortest rotation that takes ``ref`` onto +x to ``v``."""
    c = ref[:, 0]
    w = np.stack((np.zeros_like(c), ref[:, 2], -ref[:, 1]), axis=1)      # ref x (1, 0, 0)
    wxv = np.cross(w, v)
    wv = np.einsum("ij,ij->i", w, v)
    return v * c[:, None] + wxv + w * (wv / (1.0 + c))[:, None]


def _deg(x: np.ndarray) -> np.ndarray:
    return np.degrees(x)


def _side(value: np.ndarray, threshold: float, active: np.ndarray) -> np.ndarray:
    """LEFT where value >= threshold, RIGHT where <= -threshold, else 0 (only where active)."""
    out = np.where(value >= threshold, LEFT, np.where(value <= -threshold, RIGHT, 0))
    return np.where(active, out, 0).astype(np.int8)


def _beyond(y: np.ndarray, x: np.ndarray, deg: float) -> np.ndarray:
    """atan2(y, x) >= deg (for angles up to deg + 180), without evaluating an arctangent."""
    rad = math.radians(deg)
    return y * math.cos(rad) - x * math.sin(rad) >= 0.0


def _roll_side(y: np.ndarray, x: np.ndarray, deg: float, active: np.ndarray) -> np.ndarray:
    """LEFT where atan2(y, x) >= deg, RIGHT where <= -deg, else 0 (only where active)."""
    out = np.where(_beyond(y, x, deg), LEFT, np.where(_beyond(-y, x, deg), RIGHT, 0))
    return np.where(active, out, 0).astype(np.int8)


class ThighClassifier:
    """Thigh IMU: inclination of the femur against the walking reference (Acti4).

    sitting (sitting or lying) when the inclination exceeds ``sit_incl_deg``; otherwise moving when
    std(|a|) > ``walk_std_g``, else standing. While sitting, an inclination above
    ``cross_incl_deg`` means the sensor leg is crossed on top (the knee lifted over the other
    leg); otherwise the roll about the femur (+ = the front of the thigh turned to the wearer's
    left) is the lateral lean. The other leg crossed on top rolls the sensor thigh outwards by a
    few degrees, which a single thigh sensor cannot tell from a lean (docs/metrics.md).
    """

    measures = frozenset({"lean", "fair"})

    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg
        self.reference = WalkingReference(cfg)

    def classify(self, cols: Columns) -> Columns:
        cfg = self.cfg
        u = self.reference.rotate(cols)
        sitting = u[:, 0] < math.cos(math.radians(cfg.sit_incl_deg))
        moving = cols["std_mag"] > cfg.walk_std_g
        posture = np.where(sitting, SITTING, np.where(moving, MOVING, STANDING)).astype(np.int8)
        on_top = sitting & (u[:, 0] < math.cos(math.radians(cfg.cross_incl_deg)))
        own = LEFT if cfg.sensor_side == "left" else RIGHT
        crossed = np.where(on_top, own, 0).astype(np.int8)
        roll = _deg(np.arctan2(-u[:, 1], u[:, 2]))
        leaning = sitting & ~on_top
        lean = np.where(leaning, roll, 0.0)
        return {"posture": posture, "lean_deg": lean,
                "lean_side": _roll_side(-u[:, 1], u[:, 2], cfg.lean_deg, leaning),
                "crossed": crossed,
                "incl_deg": _deg(np.arccos(np.clip(u[:, 0], -1.0, 1.0))), "roll_deg": roll}


class HipClassifier:
    """Hip IMU (belt clip): posture decided at transitions, against the most recent walking.

    A hip cannot see the thigh: sitting differs from standing only by a pelvis tilt that varies
    between people and over a day, so a fixed tilt threshold misfires (docs/metrics.md). Per
    second, with u the unit mean acceleration in the sensor frame:

    - upright reference r: the mean of u over walking seconds (``hip_walk_run_s`` or more moving
      seconds in a row), forgetting exponentially after ``hip_ref_walk_s`` of them; walking seconds
      more than ``walk_max_incl_deg`` from r (lying, rolling) do not update it, and a walk of
      ``hip_reset_walk_s`` seconds whose mean is ``hip_reset_deg`` or more from r replaces it (the
      clip moved). Before ``calib_min_walk_s`` walking seconds the sensor's x axis stands in;
    - tilt: once the ``WalkingReference`` knows the segment's forward axis f (from the gyroscope),
      the angle of u from r towards f (+ = pelvis tilted backwards); without it, the angle
      between u and r whichever way;
    - which way is backwards: f assumes the sensor's y axis points to the wearer's left
      (docs/protocol.md); a clip worn the other way round (on the other hip, or turned) reverses
      f and the lateral axis. Still, upright-or-sitting seconds tilted ``hip_sign_tilt_deg`` or
      more count for the side they tilt to; once one side leads by ``hip_sign_evidence_s`` seconds
      it is backwards (people sit longer than they stand bent forward), and a change of side is a
      transition. The evidence starts again when the clip moved;
    - does f fit: the gyroscope's largest walking swing is the pelvis' medio-lateral axis in the
      simulator, but a real pelvis also rocks about its antero-posterior axis (obliquity) about as
      fast, and then f would lie sideways. Over the same still tilted seconds, the mean share of
      the tilt that lies along f must reach ``hip_axis_min_share``; otherwise tilt is taken
      whichever way, as without a gyroscope (a change is a transition);
    - transition: the start of the data, a moving second, or u turning by ``hip_trans_deg`` or more
      from the previous second; it opens a window of ``hip_trans_window_s`` seconds;
    - state (previous-state awareness, Capela et al. 2015): walking ends sitting; within a window
      an upright state sits at tilt >= ``hip_sit_tilt_deg`` and a sitting state stands at tilt <
      ``hip_stand_tilt_deg``, or below ``hip_sit_tilt_deg`` after falling ``hip_rise_deg`` below
      the sit's settled tilt; outside a window the state holds (slow drift of the pelvis neither
      starts nor ends a sit), except that tilt >= ``hip_drift_sit_deg`` sits anyway;
    - lying: more than ``hip_lie_deg`` from r and not walking.

    Still seconds not sitting are standing, moving ones moving. Lean = asin(-u_y) in the
    ``WalkingReference`` frame, + = left (reversed with f; in the frame of the shortest rotation
    onto r while f does not fit).
    """

    measures = frozenset({"lean"})

    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg
        self.reference = WalkingReference(cfg)
        self.walk_mean = (1.0, 0.0, 0.0)     # running / exponential mean of u while walking
        self.n_walk = 0
        self.moving_run = 0
        self.run = (0.0, 0.0, 0.0, 0)        # sum of u and seconds of the current walk
        self.since_transition = 0            # the start of the data decides like a transition
        self.prev: tuple[float, float, float] | None = None
        self.sitting = False
        self.settled = -math.inf             # tilt of the sit once settled (outside a window)
        self.backwards = 1.0                 # -1: f points backwards (clip worn the other way)
        self.evidence = 0                    # still seconds tilted along f minus against it
        self.tilted = (0, 0.0)               # still tilted seconds and their summed share along f
        self.f_fits = True

    def classify(self, cols: Columns) -> Columns:
        cfg = self.cfg
        u = self.reference.rotate(cols)
        moving = cols["std_mag"] > cfg.walk_std_g
        posture, tilt, backwards = self._decide(self.reference.unit, self.reference.forward,
                                                moving)
        sitting = posture == SITTING
        left = np.where(np.isnan(backwards), -self.reference.plain_y, -u[:, 1] * backwards)
        lean = np.where(sitting, _deg(np.arcsin(np.clip(left, -1.0, 1.0))), 0.0)
        sin_lean = math.sin(math.radians(cfg.lean_deg))
        side = np.where(left >= sin_lean, LEFT, np.where(-left >= sin_lean, RIGHT, 0))
        return {"posture": posture, "lean_deg": lean,
                "lean_side": np.where(sitting, side, 0).astype(np.int8),
                "crossed": np.zeros(len(posture), dtype=np.int8), "tilt_deg": tilt}

    def _decide(self, unit: np.ndarray, forward: np.ndarray,
                moving: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The per-second state machine: posture, tilt and the sign that turns f backwards (NaN
        while f does not fit) (sequential scalar arithmetic: its state carries across blocks, so
        every cut of the stream decides alike)."""
        cfg = self.cfg
        cos_trans = math.cos(math.radians(cfg.hip_trans_deg))
        cos_walk = math.cos(math.radians(cfg.walk_max_incl_deg))
        cos_lie = math.cos(math.radians(cfg.hip_lie_deg))
        posture = np.empty(len(unit), dtype=np.int8)
        tilt_out = np.empty(len(unit))
        backwards_out = np.empty(len(unit))
        for i, ((x, y, z), f) in enumerate(zip(unit.tolist(), forward.tolist())):
            mv = bool(moving[i])
            prev = self.prev
            turned = prev is not None and x * prev[0] + y * prev[1] + z * prev[2] < cos_trans
            self.since_transition = 0 if mv or turned else self.since_transition + 1
            self.prev = (x, y, z)
            self.moving_run = self.moving_run + 1 if mv else 0
            walking = self.moving_run >= cfg.hip_walk_run_s
            ready = self.n_walk >= cfg.calib_min_walk_s
            r = self._upright() if ready else (1.0, 0.0, 0.0)
            near = x * r[0] + y * r[1] + z * r[2]
            if walking:
                self._learn(x, y, z, ready and near < cos_walk)
            else:
                self.run = (0.0, 0.0, 0.0, 0)
            along, angle = _tilt_deg((x, y, z), r, near, f)
            if along is not None and ready and not mv and near >= cos_lie and \
                    angle >= cfg.hip_sign_tilt_deg:
                self._weigh(along, angle)
            tilt = along * self.backwards if along is not None and self.f_fits else angle
            tilt_out[i] = tilt
            backwards_out[i] = self.backwards if self.f_fits else math.nan
            if walking:
                self.sitting = False
                posture[i] = MOVING
                continue
            if near < cos_lie:
                self.sitting = False
                posture[i] = LYING
                continue
            window = self.since_transition < cfg.hip_trans_window_s
            if self.sitting:
                rose = tilt < cfg.hip_stand_tilt_deg or (
                    tilt < cfg.hip_sit_tilt_deg and tilt <= self.settled - cfg.hip_rise_deg)
                self.sitting = not (window and rose)
                if self.sitting and not window:
                    self.settled = tilt
            else:
                self.sitting = tilt >= cfg.hip_drift_sit_deg or (
                    window and tilt >= cfg.hip_sit_tilt_deg)
                self.settled = -math.inf             # known once the sit settles
            posture[i] = SITTING if self.sitting else (MOVING if mv else STANDING)
        return posture, tilt_out, backwards_out

    def _weigh(self, along: float, angle: float) -> None:
        """One still second tilted by ``angle``, ``along`` of it towards f, as evidence of which
        way is backwards and of whether f fits; a change of either opens a transition window."""
        cfg = self.cfg
        n, share = self.tilted
        self.tilted = n, share = n + 1, share + abs(along) / angle
        if abs(along) >= cfg.hip_sign_tilt_deg:
            self.evidence += 1 if along > 0 else -1
        lead = cfg.hip_sign_evidence_s
        way = 1.0 if self.evidence >= lead else -1.0 if self.evidence <= -lead else self.backwards
        fits = n < lead or share / n >= cfg.hip_axis_min_share
        if (way, fits) != (self.backwards, self.f_fits):
            self.backwards, self.f_fits = way, fits
            self.since_transition, self.settled = 0, -math.inf

    def _learn(self, x: float, y: float, z: float, far: bool) -> None:
        """One walking second into the reference; a walk away from it replaces it (class notes)."""
        cfg = self.cfg
        sx, sy, sz, n = self.run
        sx, sy, sz, n = sx + x, sy + y, sz + z, n + 1
        self.run = (sx, sy, sz, n)
        if n == cfg.hip_reset_walk_s and self.n_walk >= cfg.calib_min_walk_s:
            rx, ry, rz = self._upright()
            norm = math.sqrt(sx * sx + sy * sy + sz * sz)
            if (sx * rx + sy * ry + sz * rz) < norm * math.cos(math.radians(cfg.hip_reset_deg)):
                self.walk_mean, self.n_walk = (sx / n, sy / n, sz / n), n
                self.evidence, self.tilted, self.f_fits = 0, (0, 0.0), True
                return
        if far:
            return
        self.n_walk += 1
        w = 1.0 / min(self.n_walk, cfg.hip_ref_walk_s)
        mx, my, mz = self.walk_mean if self.n_walk > 1 else (0.0, 0.0, 0.0)
        self.walk_mean = (mx + w * (x - mx), my + w * (y - my), mz + w * (z - mz))

    def _upright(self) -> tuple[float, float, float]:
        mx, my, mz = self.walk_mean
        norm = math.sqrt(mx * mx + my * my + mz * mz)
        return mx / norm, my / norm, mz / norm


def _tilt_deg(u: tuple, r: tuple, near: float, forward: list) -> tuple[float | None, float]:
    """(angle of u from r towards ``forward``, + along it, or None when that is unknown (NaN);
    the angle of u from r whichever way). ``near`` = u . r."""
    angle = math.degrees(math.acos(max(-1.0, min(1.0, near))))
    fr = forward[0] * r[0] + forward[1] * r[1] + forward[2] * r[2]
    f = [forward[k] - fr * r[k] for k in range(3)]      # forward made orthogonal to r
    norm = math.sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2])
    if not norm > 1e-6:                                 # NaN (no forward axis yet) or degenerate
        return None, angle
    along = (u[0] * f[0] + u[1] * f[1] + u[2] * f[2]) / norm
    return math.degrees(math.atan2(along, near)), angle


class MatClassifier:
    """Pressure mat: occupancy with hysteresis, lean, crossed legs and weight shifts.

    A person turns occupancy on with total load >= ``seat_on_n`` over >= ``person_min_cells``
    loaded cells; it stays on until the load falls below ``seat_off_n`` or the loaded area below
    half of ``person_min_cells``. A load on fewer cells is an object. While occupied: a weight
    shift offloads one buttock (its share of the rear-half load < ``shift_offload_frac``); crossed
    legs lift the top leg's thigh off the front half (its share < ``cross_front_frac``) and load
    the bottom leg's buttock by ``cross_gluteal_ratio``; the gluteal symmetry index of the rear half
    (``si_gluteal``, with that crossing load taken out) at or beyond ``si_lean_pct`` is a lean to
    the loaded side.
    """

    measures = frozenset({"mat"})

    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg
        self.occupied = False

    def classify(self, cols: Columns) -> Columns:
        cfg = self.cfg
        load, area = cols["load_n"], cols["area"]
        on = (load >= cfg.seat_on_n) & (area >= cfg.person_min_cells)
        off = (load < cfg.seat_off_n) | (2 * area < cfg.person_min_cells)
        idx = np.maximum.accumulate(np.where(on | off, np.arange(len(load)), -1))
        occupied = np.where(idx >= 0, on[np.maximum(idx, 0)], self.occupied)
        if len(occupied):
            self.occupied = bool(occupied[-1])
        obj = ~occupied & (area > 0)
        rear_share = _share(cols["rear_left_n"], cols["rear_right_n"])
        front_share = _share(cols["front_left_n"], cols["front_right_n"])
        offload = np.where(rear_share < cfg.shift_offload_frac, LEFT,
                           np.where(rear_share > 1.0 - cfg.shift_offload_frac, RIGHT, 0))
        offload = np.where(occupied, offload, 0).astype(np.int8)
        crossed = np.where(front_share < cfg.cross_front_frac, LEFT,
                           np.where(front_share > 1.0 - cfg.cross_front_frac, RIGHT, 0))
        crossed = np.where(occupied & (offload == 0), crossed, 0).astype(np.int8)
        si = np.where(occupied, _symmetry_index(cols["left_n"], cols["right_n"]), np.nan)
        si_gluteal = np.where(occupied, _symmetry_index(cols["rear_left_n"], cols["rear_right_n"]),
                              np.nan)
        # crossed legs load the bottom leg's buttock: take that out before judging the lean
        ratio = cfg.cross_gluteal_ratio
        rear_left = np.where(crossed == RIGHT, cols["rear_left_n"] / ratio, cols["rear_left_n"])
        rear_right = np.where(crossed == LEFT, cols["rear_right_n"] / ratio, cols["rear_right_n"])
        leaning = occupied & (offload == 0)
        lean_si = np.nan_to_num(_symmetry_index(rear_left, rear_right))
        return {"posture": np.where(occupied, SITTING, OFF_SEAT).astype(np.int8),
                "lean_deg": np.full(len(load), np.nan),
                "lean_side": _side(lean_si, cfg.si_lean_pct, leaning),
                "crossed": crossed,
                "seat": np.where(occupied, 1, np.where(obj, 2, 0)).astype(np.int8),
                "si": si, "si_gluteal": si_gluteal, "offload": offload}


def _share(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Left share of a left/right load pair (0.5 when both are zero)."""
    total = left + right
    return np.where(total > 0, left / np.where(total > 0, total, 1.0), 0.5)


def _symmetry_index(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Robinson et al. (1987): SI = (L - R) / ((L + R) / 2) x 100 (+ = left loaded more)."""
    total = left + right
    return np.where(total > 0, (left - right) / np.where(total > 0, total, 1.0) * 200.0, np.nan)
