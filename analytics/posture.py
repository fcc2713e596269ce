"""Epoch features -> posture, lean and crossed legs per second, one classifier per sensor kind.

Each classifier carries a small causal state from block to block (running sums, the last
hysteresis decision), so any cut of the stream into blocks gives the same labels. The IMU
classifiers calibrate from the wearer's walking and hold the seconds before that calibration
until it comes (``HeldUntilCalibrated``): ``classify`` returns the rows decided so far, which may
be fewer than it was given, and ``flush`` the rest at the end of the data. The thigh and mat
classifiers are vectorised over a block and compare cosines and sums, never vectorised
transcendental results; the hip's state machine steps second by second in scalar arithmetic. All
are exact under any cut.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from sitload.analytics.config import AnalysisConfig
from sitload.analytics.epochs import GYRO_COV, Columns, concat, row_norms
from sitload.vocab import Posture, Side

class HeldUntilCalibrated:
    """Base of the IMU classifiers: the walking calibration, and the seconds that wait for it.

    A walking second is one of ``walk_run_s`` or more moving seconds in a row (std |a| >
    ``walk_std_g``). The classifier is calibrated by the first ``calib_min_walk_s`` walking
    seconds in a row (of walking seconds) that point alike (``_calibration``); the seconds before
    are held, then decided with the calibration made then (in the stream and in the batch
    analysis alike). A second still held ``calib_hold_s`` after it was measured is given up: its
    posture is ``unknown`` (``moving`` when it moved). Subclasses give ``LABELS`` (label columns and the value of a
    second given up) and ``_label(cols, walking, calibrated_at)``.
    """

    LABELS: dict[str, float] = {}
    measures: frozenset[str] = frozenset()

    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg
        self.calibrated = False
        self.held: Columns | None = None     # feature rows waiting for the calibration
        self.held_walking = np.zeros(0, dtype=bool)
        self.moving_run = 0

    def classify(self, cols: Columns) -> Columns:
        """Feature and label columns of the seconds decided by this block (held ones first)."""
        walking = self._walking(cols["std_mag"])
        if self.calibrated:
            return {**cols, **self._label(cols, walking, 0)}
        if self.held is not None:
            cols, walking = concat([self.held, cols]), np.concatenate((self.held_walking, walking))
        sec = cols["sec"]
        # the seconds still held when each second arrives start at ``oldest``
        oldest = np.searchsorted(sec, sec - self.cfg.calib_hold_s, side="right")
        found = self._calibration(cols, walking, oldest)
        if found is not None:
            start, at = found
            first = int(oldest[at])
            self.calibrated, self.held = True, None
            kept = _rows(cols, slice(first, None))
            learn = walking[first:].copy()
            learn[:start - first] = False        # walking before the calibration's own
            return concat([self._given_up(_rows(cols, slice(0, first))),
                           {**kept, **self._label(kept, learn, at - first)}])
        first = int(oldest[-1])
        self.held, self.held_walking = _rows(cols, slice(first, None)), walking[first:]
        return self._given_up(_rows(cols, slice(0, first)))

    def _calibration(self, cols: Columns, walking: np.ndarray, oldest: np.ndarray
                     ) -> tuple[int, int] | None:
        """(first, last) row of the first ``calib_min_walk_s`` walking seconds in a row of
        walking that point alike (their unit vectors' mean length is at least
        cos ``calib_spread_deg``) and are all still held at the last; None before. A phone
        being put into a pocket moves, but every which way: it does not calibrate. Each window
        is summed on its own, so every cut of the stream decides alike."""
        n = self.cfg.calib_min_walk_s
        walks = np.flatnonzero(walking)
        if walks.size < n:
            return None
        a = np.stack((cols["ax"], cols["ay"], cols["az"]), axis=1)[walks]
        u = a / row_norms(a)[:, None]
        total = np.lib.stride_tricks.sliding_window_view(u, n, axis=0).sum(axis=-1)
        length = row_norms(total) / n
        starts, ends = walks[:walks.size - n + 1], walks[n - 1:]
        ok = (length >= math.cos(math.radians(self.cfg.calib_spread_deg))) & \
            (starts >= oldest[ends])
        if not ok.any():
            return None
        k = int(np.argmax(ok))
        return int(starts[k]), int(ends[k])

    def flush(self) -> Columns | None:
        """End of data: the seconds still held, given up (None when none are)."""
        held, self.held = self.held, None
        return None if held is None else self._given_up(held)

    def _walking(self, std_mag: np.ndarray) -> np.ndarray:
        """Seconds whose moving run, carried across blocks, has lasted ``walk_run_s`` so far:
        counted as the seconds arrive (``scipy.ndimage.label`` would measure whole runs, which
        needs each run's end), with a running maximum of the last still second."""
        moving = std_mag > self.cfg.walk_std_g
        idx = np.arange(moving.size)
        last_still = np.maximum.accumulate(np.where(moving, -1, idx))
        run = np.where(moving, idx - last_still + np.where(last_still < 0, self.moving_run, 0), 0)
        if moving.size:
            self.moving_run = int(run[-1])
        return run >= self.cfg.walk_run_s

    def _given_up(self, cols: Columns) -> Columns:
        n = len(cols["sec"])
        out = {name: np.full(n, fill, dtype=np.int8 if isinstance(fill, int) else float)
               for name, fill in self.LABELS.items()}
        out["posture"] = np.where(cols["std_mag"] > self.cfg.walk_std_g, Posture.MOVING,
                                  Posture.UNKNOWN).astype(np.int8)
        return {**cols, **out}

    def _label(self, cols: Columns, walking: np.ndarray, calibrated_at: int) -> Columns:
        raise NotImplementedError


def _rows(cols: Columns, rows: slice) -> Columns:
    return {key: values[rows] for key, values in cols.items()}


class WalkingReference:
    """Sensor-to-segment calibration of a thigh- or hip-worn IMU from walking, in any orientation.

    Upright axis (Skotte et al. 2014, Acti4): the mean direction of the acceleration over the
    walking seconds so far; once calibrated, a walking second more than ``walk_max_incl_deg``
    from it (rolling in bed, a bike) does not count. Lateral axis (with a gyroscope): the
    principal axis of the angular velocity about the horizontal over the same seconds (walking
    swings the segment about its medio-lateral axis), made orthogonal to the upright axis.
    Without a gyroscope the shortest rotation onto the upright axis is used (a twist of the mount
    about the segment axis stays). Seconds before ``calibrated_at`` take the calibration made
    then; no other look-ahead.
    """

    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg
        self.sum = (0.0, 0.0, 0.0)        # sum of the unit vectors that count
        self.cov = (0.0,) * 6             # sum of their gyro covariances (packed)
        self.n = 0
        self.n_gyro = 0
        self._before = (self.sum, self.cov, 0)   # sums as the next block starts
        self.run: deque = deque(maxlen=cfg.reset_walk_s)     # the walk's latest seconds
        self.run_open = False             # the last block ended walking
        self.unit = np.zeros((0, 3))      # last block: unit mean acceleration, sensor frame
        self.forward = np.zeros((0, 3))   # last block: segment forward axis, sensor frame (NaN
        #                                   until the gyroscope has given the lateral axis)
        self.plain_y = np.zeros(0)        # last block: u_y after the shortest rotation alone

    def rotate(self, cols: Columns, walking: np.ndarray, calibrated_at: int) -> np.ndarray:
        """Unit mean-acceleration vectors of the block expressed in the calibrated segment frame."""
        a = np.stack((cols["ax"], cols["ay"], cols["az"]), axis=1)
        norm = row_norms(a)
        u = a / np.where(norm > 0, norm, 1.0)[:, None]
        self.unit, self.forward = u, np.full(u.shape, np.nan)
        self.plain_y = u[:, 1]
        if len(u) == 0:
            return u
        gcov = np.stack([cols[name] for name in GYRO_COV], axis=1)
        sums, covs, counts_gyro, which = self._learn(u, walking, gcov)
        which[:calibrated_at] = which[calibrated_at]
        summed, count_gyro = sums[which], counts_gyro[which]
        up = summed / row_norms(summed)[:, None]
        out = _rotate_to_x(u, up)
        self.plain_y = out[:, 1].copy()
        full = count_gyro >= self.cfg.calib_min_walk_s
        if full.any():
            upf = up[full]
            # the lateral axis of each sums' row once (the seconds share a few), then of each second
            _, first, each = np.unique(which[full], return_index=True, return_inverse=True)
            lateral = _horizontal_axis(covs[which[full][first]], upf[first])[each]
            forward = np.cross(upf, lateral)
            self.forward[full] = forward
            uf = u[full]
            out[full] = np.stack([np.einsum("ij,ij->i", uf, axis)
                                  for axis in (upf, lateral, forward)], axis=1)
        return out

    def _learn(self, u: np.ndarray, walking: np.ndarray, gcov: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sums of u and of the gyro covariance over the walking seconds that count, and the
        count of those with a gyro, as rows that change at walking seconds, with the row each
        second takes (walking seconds in order, so every cut of the stream sums alike). When the
        latest ``reset_walk_s`` seconds of a walk point ``walk_reset_deg`` or more away from the
        reference they replace it (the sensor moved, or the first walk was with the phone in the
        hand).

        The sums are float additions in order (numpy's running sums add in order too). The two
        decisions compare dot products: taken in float arithmetic, and where the two sides come
        within ``_CLOSE`` of each other, in numpy's (``_counts``, ``_resets``), which defines
        them. Runs of seconds that all count and reset nothing are taken at once (``_bulk``),
        the others one by one (``_step``)."""
        rows = np.flatnonzero(walking)
        gyro = np.isfinite(gcov[rows]).all(axis=1)
        walk = _Walk(self.cfg, rows, u[rows], np.where(gyro[:, None], gcov[rows], 0.0),
                     gyro.astype(int), self.run_open, len(self.run))
        out = (np.empty((len(rows), 3)), np.empty((len(rows), 6)),
               np.empty(len(rows), dtype=np.int64))    # sums, covariances, gyro counts
        k = 0
        while k < len(rows):
            taken = self._bulk(walk, k, out) if self.n >= self.cfg.calib_min_walk_s else 0
            if not taken:
                self._step(walk, k)
                for column, value in zip(out, (self.sum, self.cov, self.n_gyro)):
                    column[k] = value
                taken = 1
            k += taken
        self.run_open = bool(len(walking)) and bool(walking[-1])
        at = np.full(len(u), -1)                    # the last walking row up to each row
        at[rows] = np.arange(len(rows))
        before = self._before
        self._before = (self.sum, self.cov, self.n_gyro)
        # each second takes the sums of the last walking second up to it
        return (*(np.concatenate(([first], column)) for first, column in zip(before, out)),
                np.maximum.accumulate(at) + 1)

    def _step(self, walk: _Walk, k: int) -> None:
        """Walking row ``k``, on its own."""
        cfg = self.cfg
        if walk.starts[k]:
            self.run.clear()
        ui, g, gy = walk.u[k].tolist(), walk.g[k].tolist(), int(walk.gyro[k])
        self.run.append((ui, g, gy))
        if self.n < cfg.calib_min_walk_s or self._counts(ui, walk.cos_max):
            self.sum = tuple(map(float.__add__, self.sum, ui))
            self.cov = tuple(map(float.__add__, self.cov, g))
            self.n, self.n_gyro = self.n + 1, self.n_gyro + gy
        if len(self.run) == cfg.reset_walk_s and self.n >= cfg.calib_min_walk_s:
            inside = walk.in_block[k]    # the walk's latest seconds, summed where they are
            rows = (walk.u[k + 1 - cfg.reset_walk_s:k + 1] if inside
                    else np.array([r[0] for r in self.run]))
            close = (walk.windows(k, k + 1)[0] if inside else rows.sum(axis=0)).tolist()
            if self._resets(close, rows, walk.cos_reset):
                self.sum = tuple(rows.sum(axis=0).tolist())
                self.cov = tuple(np.sum([r[1] for r in self.run], axis=0).tolist())
                self.n, self.n_gyro = len(self.run), sum(r[2] for r in self.run)

    def _bulk(self, walk: _Walk, k: int, out: tuple[np.ndarray, ...]) -> int:
        """How many walking rows from ``k`` on all count and reset nothing, decided far from
        either threshold; those are summed at once (running sums: the same additions in the
        same order) into ``out`` (sums, covariances, gyro counts) from row ``k``."""
        stop = min(len(walk.rows), k + _BULK)
        uu, gg = walk.u[k:stop], walk.g[k:stop]
        sums = np.cumsum(np.concatenate(([self.sum], uu)), axis=0)
        before, after = sums[:-1], sums[1:]
        dot = np.einsum("ij,ij->i", uu, before)
        length = row_norms(before)
        ok = dot - walk.cos_max * length > _margin(length)
        full = walk.length[k:stop] == self.cfg.reset_walk_s
        inside = walk.in_block[k:stop]
        if full.any():
            w = walk.windows(k, stop)
            wdot = np.einsum("ij,ij->i", w, after)
            scale = np.sqrt(np.einsum("ij,ij->i", w, w) * np.einsum("ij,ij->i", after, after))
            ok &= ~full | (inside & (wdot - walk.cos_reset * scale > _margin(scale)))
        taken = len(ok) if ok.all() else int(np.argmin(ok))
        if taken == 0:
            return 0
        covs = np.cumsum(np.concatenate(([self.cov], gg[:taken])), axis=0)[1:]
        counts = self.n_gyro + np.cumsum(walk.gyro[k:k + taken])
        for column, values in zip(out, (after[:taken], covs, counts)):
            column[k:k + taken] = values
        self.sum, self.cov = tuple(after[taken - 1].tolist()), tuple(covs[-1].tolist())
        self.n, self.n_gyro = self.n + taken, int(counts[-1])
        last = k + taken - 1
        begun = np.flatnonzero(walk.starts[k:last + 1])
        if begun.size:
            self.run.clear()
        first = max(k + int(begun[-1]) if begun.size else k, last + 1 - self.cfg.reset_walk_s)
        self.run.extend(zip(walk.u[first:last + 1].tolist(), walk.g[first:last + 1].tolist(),
                            walk.gyro[first:last + 1].tolist()))
        return taken

    def _counts(self, ui: list[float], cos_max: float) -> bool:
        """Does the walking second ``ui`` point within ``walk_max_incl_deg`` of the sums?"""
        s = self.sum
        dot, length = _dot(ui, s), math.sqrt(_dot(s, s))
        if abs(dot - cos_max * length) > _margin(length):
            return dot >= cos_max * length
        total = np.array(s)
        return bool(np.array(ui) @ total >= cos_max * math.sqrt(total @ total))

    def _resets(self, close: list[float], walk: np.ndarray, cos_reset: float) -> bool:
        """Does the walk (its rows ``walk``; ``close``: their sum, nearly) point
        ``walk_reset_deg`` or more away from the sums?"""
        s = self.sum
        dot, scale = _dot(close, s), math.sqrt(_dot(close, close) * _dot(s, s))
        if abs(dot - cos_reset * scale) > _margin(scale):
            return dot < cos_reset * scale
        w, total = walk.sum(axis=0), np.array(s)
        return bool(w @ total < cos_reset * math.sqrt((w @ w) * (total @ total)))


# Two sides of a comparison closer than this (relative to their scale) are compared in numpy's
# arithmetic; farther apart, float arithmetic (last-bit differences) cannot change the answer.
_CLOSE = 1e-9
_BULK = 512     # walking rows tried at once


def _margin(scale: float | np.ndarray) -> float | np.ndarray:
    """How far apart two sides of about ``scale`` must be to be compared in float arithmetic."""
    return _CLOSE * (scale + 1.0)


class _Walk:
    """A block's walking rows (``rows``: their places in the block): unit vectors, gyro
    covariances (zero without a gyro), whether each starts a walk, each one's walk length so far
    (up to ``reset_walk_s``, the walk carried over from the last block counted) and whether that
    many latest seconds all lie in this block."""

    def __init__(self, cfg: AnalysisConfig, rows: np.ndarray, u: np.ndarray, g: np.ndarray,
                 gyro: np.ndarray, run_open: bool, carried: int):
        self.rows, self.u, self.g, self.gyro = rows, u, g, gyro
        self.cos_max = math.cos(math.radians(cfg.walk_max_incl_deg))
        self.cos_reset = math.cos(math.radians(cfg.walk_reset_deg))
        reset_walk_s = cfg.reset_walk_s
        self.starts = np.ones(len(rows), dtype=bool)
        self.starts[1:] = rows[1:] != rows[:-1] + 1
        continues = len(rows) > 0 and run_open and rows[0] == 0
        self.starts[:1] = not continues
        begin = np.maximum.accumulate(np.where(self.starts, np.arange(len(rows)), 0))
        since = np.arange(len(rows)) - begin + 1
        self.in_block = since >= reset_walk_s
        self.length = np.minimum(since + np.where(begin == 0, carried if continues else 0, 0),
                                 reset_walk_s)
        # a walk's latest seconds summed: differences of running sums (close; _resets decides)
        self._ahead = np.concatenate((np.zeros((1, 3)), np.cumsum(u, axis=0)))
        self._span = reset_walk_s

    def windows(self, k: int, stop: int) -> np.ndarray:
        """The latest ``reset_walk_s`` seconds of rows k..stop-1 summed, nearly (rows with
        fewer before them in the block get a meaningless value)."""
        top = np.arange(k + 1, stop + 1)
        return self._ahead[top] - self._ahead[np.maximum(top - self._span, 0)]


def _dot(a, b) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _horizontal_axis(cov6: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Unit principal axis of each packed covariance restricted to the plane orthogonal to
    ``up`` (a rotation about the vertical, such as the pelvis' while walking, does not count),
    signed towards +y."""
    xx, yy, zz, xy, xz, yz = cov6.T
    mats = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1),
                     np.stack([xz, yz, zz], -1)], axis=1)
    flat = np.eye(3)[None, :, :] - up[:, :, None] * up[:, None, :]
    vec = np.linalg.eigh(flat @ mats @ flat)[1][:, :, 2]
    return vec * np.where(vec[:, 1] < 0, -1.0, 1.0)[:, None]


def _rotate_to_x(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Apply, row by row, the shortest rotation that takes the unit vector ``ref`` onto +x to
    ``v``: the rotation of the shortest-arc quaternion (ref x e_x, 1 + ref . e_x), normalised,
    so the result is a proper rotation however close ``ref`` comes to -x (there, exactly: a half
    turn about z).

    The matrix is applied elementwise, not as a matrix product: a product sums a block of one
    rotation differently from a longer block (last-bit differences), and every cut of the stream
    must give the same row."""
    q = np.stack((np.zeros(len(ref)), ref[:, 2], -ref[:, 1], 1.0 + ref[:, 0]), axis=1)
    q[~q.any(axis=1)] = (0.0, 0.0, 1.0, 0.0)
    m = quaternion_matrix(q)
    return m[:, :, 0] * v[:, :1] + m[:, :, 1] * v[:, 1:2] + m[:, :, 2] * v[:, 2:]


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices of quaternions (x, y, z, w), each normalised first: the arithmetic of
    ``scipy.spatial.transform.Rotation.from_quat(q).as_matrix()``, operation for operation, so
    bit for bit the same (tests/test_analytics_engine.py), without importing scipy.spatial
    (a third of a second of start-up)."""
    x, y, z, w = q.T
    norm = np.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    x2, y2, z2, w2 = x * x, y * y, z * z, w * w
    xy, zw, xz, yw, yz, xw = x * y, z * w, x * z, y * w, y * z, x * w
    m = np.empty((len(q), 3, 3))
    m[:, 0, 0] = x2 - y2 - z2 + w2
    m[:, 1, 0] = 2 * (xy + zw)
    m[:, 2, 0] = 2 * (xz - yw)
    m[:, 0, 1] = 2 * (xy - zw)
    m[:, 1, 1] = -x2 + y2 - z2 + w2
    m[:, 2, 1] = 2 * (yz + xw)
    m[:, 0, 2] = 2 * (xz + yw)
    m[:, 1, 2] = 2 * (yz - xw)
    m[:, 2, 2] = -x2 - y2 + z2 + w2
    return m


def _deg(x: np.ndarray) -> np.ndarray:
    return np.degrees(x)


def _side(value: np.ndarray, threshold: float, active: np.ndarray) -> np.ndarray:
    """LEFT where value >= threshold, RIGHT where <= -threshold, else NONE (only where active)."""
    out = np.where(value >= threshold, Side.LEFT, np.where(value <= -threshold, Side.RIGHT, 0))
    return np.where(active, out, 0).astype(np.int8)


def _beyond(y: np.ndarray, x: np.ndarray, deg: float) -> np.ndarray:
    """atan2(y, x) >= deg (for angles up to deg + 180), without evaluating an arctangent."""
    rad = math.radians(deg)
    return y * math.cos(rad) - x * math.sin(rad) >= 0.0


def _roll_side(y: np.ndarray, x: np.ndarray, deg: float, active: np.ndarray) -> np.ndarray:
    """LEFT where atan2(y, x) >= deg, RIGHT where <= -deg, else NONE (only where active)."""
    out = np.where(_beyond(y, x, deg), Side.LEFT, np.where(_beyond(-y, x, deg), Side.RIGHT, 0))
    return np.where(active, out, 0).astype(np.int8)


class ThighClassifier(HeldUntilCalibrated):
    """Thigh IMU: inclination of the femur against the walking reference (Acti4).

    sitting (sitting or lying) when the inclination exceeds ``sit_incl_deg``; otherwise moving when
    std(|a|) > ``walk_std_g``, else standing. While sitting, an inclination above
    ``cross_incl_deg`` means the sensor leg is crossed on top (the knee lifted over the other
    leg); otherwise the roll about the femur (+ = the front of the thigh turned to the wearer's
    left) is the lateral lean. The other leg crossed on top rolls the sensor thigh outwards by a
    few degrees, which a single thigh sensor cannot tell from a lean (docs/metrics.md).
    """

    LABELS = {"posture": Posture.UNKNOWN, "lean_deg": 0.0, "lean_side": 0, "crossed": 0,
              "incl_deg": math.nan, "roll_deg": math.nan}
    measures = frozenset({"lean", "fair"})

    def __init__(self, cfg: AnalysisConfig):
        super().__init__(cfg)
        self.reference = WalkingReference(cfg)

    def _label(self, cols: Columns, walking: np.ndarray, calibrated_at: int) -> Columns:
        cfg = self.cfg
        u = self.reference.rotate(cols, walking, calibrated_at)
        sitting = u[:, 0] < math.cos(math.radians(cfg.sit_incl_deg))
        moving = cols["std_mag"] > cfg.walk_std_g
        posture = np.where(sitting, Posture.SITTING,
                           np.where(moving, Posture.MOVING, Posture.STANDING)).astype(np.int8)
        on_top = sitting & (u[:, 0] < math.cos(math.radians(cfg.cross_incl_deg)))
        own = Side.LEFT if cfg.sensor_side == "left" else Side.RIGHT
        crossed = np.where(on_top, own, 0).astype(np.int8)
        roll = _deg(np.arctan2(-u[:, 1], u[:, 2]))
        leaning = sitting & ~on_top
        lean = np.where(leaning, roll, 0.0)
        return {"posture": posture, "lean_deg": lean,
                "lean_side": _roll_side(-u[:, 1], u[:, 2], cfg.lean_deg, leaning),
                "crossed": crossed,
                "incl_deg": _deg(np.arccos(np.clip(u[:, 0], -1.0, 1.0))), "roll_deg": roll}


class HipClassifier(HeldUntilCalibrated):
    """Hip IMU (belt clip): posture decided at transitions, against the most recent walking.

    A hip cannot see the thigh: sitting differs from standing only by a pelvis tilt that varies
    between people and over a day, so the decision is taken at transitions (docs/metrics.md). Per
    second, with u the unit mean acceleration in the sensor frame:

    - upright reference r: the mean of u over walking seconds, forgetting exponentially after
      ``hip_ref_walk_s`` of them; walking seconds more than ``walk_max_incl_deg`` from r (lying,
      rolling) do not update it, and a walk of ``reset_walk_s`` seconds whose mean is
      ``hip_reset_deg`` or more from r replaces it (the clip moved). Seconds before the
      calibration take r as it is then (``HeldUntilCalibrated``);
    - tilt: the angle between u and r, whichever way (on real pelvises the gyroscope's walking
      swing does not tell front from side reliably, docs/metrics.md);
    - transition: the start of the data, a moving second, or u turning by ``hip_trans_deg`` or more
      from the previous second; it opens a window of ``hip_trans_window_s`` seconds;
    - state (previous-state awareness, Capela et al. 2015): walking ends sitting; within a window
      an upright state sits at tilt >= ``hip_sit_tilt_deg`` and a sitting state stands at tilt <
      ``hip_stand_tilt_deg``, or below ``hip_sit_tilt_deg`` after falling ``hip_rise_deg`` below
      the sit's settled tilt; outside a window the state holds (slow drift of the pelvis neither
      starts nor ends a sit), except that tilt >= ``hip_drift_sit_deg`` sits anyway;
    - lying: more than ``hip_lie_deg`` from r and not walking.

    Still seconds not sitting are standing, moving ones moving. Lean = asin(-u_y) in the frame of
    the lateral axis, + = left. The lateral axis is the ``WalkingReference``'s (from the gyroscope)
    while it fits the sitting tilts, with its sign learnt from them (``_weigh``); otherwise the
    sensor's y axis after the shortest rotation onto r (the documented mounting).
    """

    LABELS = {"posture": Posture.UNKNOWN, "lean_deg": 0.0, "lean_side": 0, "crossed": 0,
              "tilt_deg": math.nan}
    measures = frozenset({"lean"})

    def __init__(self, cfg: AnalysisConfig):
        super().__init__(cfg)
        self.reference = WalkingReference(cfg)
        self.walk_mean = (1.0, 0.0, 0.0)     # running / exponential mean of u while walking
        self.n_walk = 0
        self.run = (0.0, 0.0, 0.0, 0)        # sum of u and seconds of the current walk
        self.since_transition = 0            # the start of the data decides like a transition
        self.prev: tuple[float, float, float] | None = None
        self.sitting = False
        self.settled = -math.inf             # tilt of the sit once settled (outside a window)
        self.backwards = 1.0                 # -1: f points backwards (clip worn the other way)
        self.evidence = 0                    # still seconds tilted along f minus against it
        self.tilted = (0, 0.0)               # still tilted seconds and their summed share along f
        self.f_fits = True

    def _label(self, cols: Columns, walking: np.ndarray, calibrated_at: int) -> Columns:
        cfg = self.cfg
        u = self.reference.rotate(cols, walking, calibrated_at)
        unit = self.reference.unit
        moving = cols["std_mag"] > cfg.walk_std_g
        posture, tilt, backwards = self._decide(unit, self.reference.forward, moving, walking,
                                                calibrated_at)
        sitting = posture == Posture.SITTING
        left = np.where(np.isnan(backwards), -self.reference.plain_y, -u[:, 1] * backwards)
        lean = np.where(sitting, _deg(np.arcsin(np.clip(left, -1.0, 1.0))), 0.0)
        sin_lean = math.sin(math.radians(cfg.lean_deg))
        side = np.where(left >= sin_lean, Side.LEFT, np.where(-left >= sin_lean, Side.RIGHT, 0))
        return {"posture": posture, "lean_deg": lean,
                "lean_side": np.where(sitting, side, 0).astype(np.int8),
                "crossed": np.zeros(len(posture), dtype=np.int8), "tilt_deg": tilt}

    def _decide(self, unit: np.ndarray, forward: np.ndarray, moving: np.ndarray,
                walking: np.ndarray, calibrated_at: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The per-second state machine: posture, tilt and the sign that turns f backwards (NaN
        while f does not fit). Its state carries across blocks, so every cut of the stream
        decides alike. Seconds up to ``calibrated_at`` take r as the calibration leaves it: the
        mean of their walking (``calib_min_walk_s`` <= ``hip_ref_walk_s``, so no forgetting yet).

        r changes only at walking seconds, so those are walked first, one by one; the angles of
        every second then follow as arrays (their trigonometry in ``math``, as one scalar at a
        time would give), and the sitting state is the only loop over every second."""
        cfg = self.cfg
        if not len(unit):
            return np.zeros(0, dtype=np.int8), np.zeros(0), np.zeros(0)
        first_walk = unit[:calibrated_at + 1][walking[:calibrated_at + 1]].sum(axis=0)
        calibration = first_walk / np.linalg.norm(first_walk) if calibrated_at else None
        reference, moved = self._references(unit, walking, calibrated_at, calibration)
        near = _row_dots(unit, reference)
        angle = np.array(list(map(math.degrees, map(math.acos, _clip_unit(near).tolist()))))
        along = _along_deg(unit, reference, near, forward)
        cos_lie = math.cos(math.radians(cfg.hip_lie_deg))
        tilted = ~np.isnan(along) & ~moving & (near >= cos_lie) & (angle >= cfg.hip_sign_tilt_deg)
        backwards = self._weigh(np.flatnonzero(tilted), along[tilted], angle[tilted], moved,
                                len(unit))
        lying = near < cos_lie
        window = self._since_transition(unit, moving) < cfg.hip_trans_window_s
        sitting = self._sitting(walking | lying, window, angle)
        posture = np.where(walking, Posture.MOVING, np.where(
            lying, Posture.LYING, np.where(sitting, Posture.SITTING, np.where(
                moving, Posture.MOVING, Posture.STANDING)))).astype(np.int8)
        return posture, angle, backwards

    def _references(self, unit: np.ndarray, walking: np.ndarray, calibrated_at: int,
                    calibration: np.ndarray | None) -> tuple[np.ndarray, list[int]]:
        """r of every second (the upright before its own walking is learnt) and the walking
        seconds at which the clip moved; learns the block's walking seconds."""
        cfg = self.cfg
        cos_walk = math.cos(math.radians(cfg.walk_max_incl_deg))
        steps = np.flatnonzero(walking)
        after_pause = np.ones(len(steps), dtype=bool)     # the walk starts anew: its run resets
        after_pause[1:] = np.diff(steps) > 1
        if len(steps) and steps[0] == 0:
            after_pause[0] = False                        # a walk going on from the last block
        uprights = [self._upright()]
        calibrated = None if calibration is None else calibration.tolist()
        moved = []
        for i, (x, y, z), pause in zip(steps.tolist(), unit[steps].tolist(), after_pause.tolist()):
            if pause:
                self.run = (0.0, 0.0, 0.0, 0)
            r = calibrated if calibrated is not None and i <= calibrated_at else uprights[-1]
            if self._learn(x, y, z, self.n_walk >= cfg.calib_min_walk_s
                           and x * r[0] + y * r[1] + z * r[2] < cos_walk):
                moved.append(i)
            uprights.append(self._upright())
        if len(walking) and not walking[-1]:
            self.run = (0.0, 0.0, 0.0, 0)
        reference = np.array(uprights)[np.searchsorted(steps, np.arange(len(unit)))]
        if calibration is not None:
            reference[:calibrated_at + 1] = calibration
        return reference, moved

    def _since_transition(self, unit: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """Seconds since the last transition: a moving second, or u turning by
        ``hip_trans_deg`` or more from the previous second."""
        previous = np.empty_like(unit)
        previous[0] = math.nan if self.prev is None else self.prev
        previous[1:] = unit[:-1]
        turned = _row_dots(unit, previous) < math.cos(math.radians(self.cfg.hip_trans_deg))
        index = np.arange(len(unit))
        last = np.maximum.accumulate(np.where(moving | turned, index, -1))
        since = np.where(last >= 0, index - last, self.since_transition + index + 1)
        self.prev = tuple(unit[-1].tolist())
        self.since_transition = int(since[-1])
        return since

    def _sitting(self, out_of_seat: np.ndarray, window: np.ndarray,
                 angle: np.ndarray) -> np.ndarray:
        """Whether each second sits (class notes): walking or lying ends a sit; within a window
        an upright state sits at ``hip_sit_tilt_deg`` and a sitting one rises; outside, the
        state holds unless the tilt reaches ``hip_drift_sit_deg``."""
        cfg = self.cfg
        sit_deg, stand_deg, rise_deg = cfg.hip_sit_tilt_deg, cfg.hip_stand_tilt_deg, \
            cfg.hip_rise_deg
        drift_deg = cfg.hip_drift_sit_deg
        sitting, settled = self.sitting, self.settled
        out = []
        for away, open_, a in zip(out_of_seat.tolist(), window.tolist(), angle.tolist()):
            if away:
                sitting = False
            elif sitting:
                if open_ and (a < stand_deg or (a < sit_deg and a <= settled - rise_deg)):
                    sitting = False
                elif not open_:
                    settled = a
            else:
                sitting = a >= drift_deg or (open_ and a >= sit_deg)
                settled = -math.inf                      # known once the sit settles
            out.append(sitting)
        self.sitting, self.settled = sitting, settled
        return np.array(out, dtype=bool)

    def _weigh(self, seconds: np.ndarray, along: np.ndarray, angle: np.ndarray,
               moved: list[int], n: int) -> np.ndarray:
        """The still tilted ``seconds`` (tilted by ``angle``, ``along`` of it towards f) as
        evidence of which way is backwards and of whether f fits the tilts (then the lateral
        axis is f's); a moved clip starts the evidence anew. Returns each second's sign that
        turns f backwards, NaN while f does not fit."""
        cfg = self.cfg
        lead = cfg.hip_sign_evidence_s
        out = np.empty(n)
        starts = [0, *moved]
        for start, end in zip(starts, [*moved, n]):
            if start in moved:
                self.evidence, self.tilted, self.f_fits = 0, (0, 0.0), True
            lo, hi = np.searchsorted(seconds, [start, end])
            if hi == lo:
                out[start:end] = self.backwards if self.f_fits else math.nan
                continue
            a, g = along[lo:hi], angle[lo:hi]
            count0, share0 = self.tilted
            count = count0 + np.arange(1, hi - lo + 1)
            share = np.add.accumulate(np.concatenate(([share0], np.abs(a) / g)))[1:]
            vote = np.where(np.abs(a) >= cfg.hip_sign_tilt_deg, np.where(a > 0, 1, -1), 0)
            evidence = self.evidence + np.cumsum(vote)
            decided = np.abs(evidence) >= lead
            last = np.maximum.accumulate(np.where(decided, np.arange(hi - lo), -1))
            backwards = np.where(last >= 0, np.where(evidence[last] > 0, 1.0, -1.0),
                                 self.backwards)
            fits = (count < lead) | (share / count >= cfg.hip_axis_min_share)
            state = np.where(fits, backwards, math.nan)
            # each second takes the state after the last weighed second up to it
            taken = np.searchsorted(seconds[lo:hi], np.arange(start, end), side="right") - 1
            out[start:end] = np.where(taken >= 0, state[np.maximum(taken, 0)],
                                      self.backwards if self.f_fits else math.nan)
            self.tilted = (int(count[-1]), float(share[-1]))
            self.evidence, self.backwards = int(evidence[-1]), float(backwards[-1])
            self.f_fits = bool(fits[-1])
        return out

    def _learn(self, x: float, y: float, z: float, far: bool) -> bool:
        """One walking second into the reference; a walk away from it replaces it (class
        notes): then returns True (the clip moved)."""
        cfg = self.cfg
        sx, sy, sz, n = self.run
        sx, sy, sz, n = sx + x, sy + y, sz + z, n + 1
        self.run = (sx, sy, sz, n)
        if n == cfg.reset_walk_s and self.n_walk >= cfg.calib_min_walk_s:
            rx, ry, rz = self._upright()
            norm = math.sqrt(sx * sx + sy * sy + sz * sz)
            if (sx * rx + sy * ry + sz * rz) < norm * math.cos(math.radians(cfg.hip_reset_deg)):
                self.walk_mean, self.n_walk = (sx / n, sy / n, sz / n), n
                return True
        if far:
            return False
        self.n_walk += 1
        w = 1.0 / min(self.n_walk, cfg.hip_ref_walk_s)
        mx, my, mz = self.walk_mean if self.n_walk > 1 else (0.0, 0.0, 0.0)
        self.walk_mean = (mx + w * (x - mx), my + w * (y - my), mz + w * (z - mz))
        return False

    def _upright(self) -> tuple[float, float, float]:
        mx, my, mz = self.walk_mean
        norm = math.sqrt(mx * mx + my * my + mz * mz)
        return mx / norm, my / norm, mz / norm


def _row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of (n, 3) arrays, summed left to right."""
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


def _clip_unit(x: np.ndarray) -> np.ndarray:
    """``max(-1, min(1, x))`` as Python takes it (NaN: 1)."""
    x = np.where(x < 1.0, x, 1.0)
    return np.where(x > -1.0, x, -1.0)


def _along_deg(u: np.ndarray, r: np.ndarray, near: np.ndarray, forward: np.ndarray
               ) -> np.ndarray:
    """Angle of each u from its r towards ``forward`` (+ along it), NaN where that is unknown
    (no forward axis yet, or one along r). ``near`` = u . r."""
    f = forward - _row_dots(forward, r)[:, None] * r       # forward made orthogonal to r
    norm = np.sqrt(_row_dots(f, f))
    known = norm > 1e-6
    along = _row_dots(u[known], f[known]) / norm[known]
    out = np.full(len(u), math.nan)
    out[known] = list(map(math.degrees, map(math.atan2, along.tolist(), near[known].tolist())))
    return out


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

    def flush(self) -> None:
        """End of data: a mat holds no seconds back."""
        return None

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
        offload = np.where(rear_share < cfg.shift_offload_frac, Side.LEFT,
                           np.where(rear_share > 1.0 - cfg.shift_offload_frac, Side.RIGHT, 0))
        offload = np.where(occupied, offload, 0).astype(np.int8)
        crossed = np.where(front_share < cfg.cross_front_frac, Side.LEFT,
                           np.where(front_share > 1.0 - cfg.cross_front_frac, Side.RIGHT, 0))
        crossed = np.where(occupied & (offload == 0), crossed, 0).astype(np.int8)
        si = np.where(occupied, _symmetry_index(cols["left_n"], cols["right_n"]), np.nan)
        si_gluteal = np.where(occupied, _symmetry_index(cols["rear_left_n"], cols["rear_right_n"]),
                              np.nan)
        # crossed legs load the bottom leg's buttock: take that out before judging the lean
        ratio = cfg.cross_gluteal_ratio
        rear_left = np.where(crossed == Side.RIGHT, cols["rear_left_n"] / ratio,
                             cols["rear_left_n"])
        rear_right = np.where(crossed == Side.LEFT, cols["rear_right_n"] / ratio,
                              cols["rear_right_n"])
        leaning = occupied & (offload == 0)
        lean_si = np.nan_to_num(_symmetry_index(rear_left, rear_right))
        return {**cols,
                "posture": np.where(occupied, Posture.SITTING, Posture.OFF_SEAT).astype(np.int8),
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
