"""Physically plausible sensor signals from per-second body states.

Model choices (cited by the docs):

Frames. Segment axes follow docs/protocol.md: thigh IMU on the anterior mid-thigh (x along the femur
towards the hip, y to the wearer's left, z out of the front of the thigh); hip IMU on a belt clip at
the lateral hip (x up the trunk, y left, z forward). The accelerometer reports specific force: at
rest the unit "up" vector (+1 g) seen in the sensor frame.

Thigh IMU (right leg by default). The femur's pitch θ from vertical (0 standing, ~88 deg sitting, 90
supine) and its roll φ about its own axis give up = (cos θ, -sin θ sin φ, sin θ cos φ), so standing
reads x ≈ +1 g and sitting z ≈ +1 g; φ > 0 tips the sensor's y (left) axis down. Leaning left by λ
rolls pelvis and both thighs by λ (φ += λ). Crossing legs: the leg on top is flexed more and
adducted/internally rotated (θ += 20-30 deg, φ += 20-30 deg towards the midline); the bottom leg
rolls outward 5-10 deg. A weight shift rolls the pelvis ~6 deg towards the loaded side. Lying supine
reads like sitting (a known limit of thigh-worn sensors); side lying rolls 90 deg.

Hip IMU. Pelvic tilt α (walking 2 deg anterior, standing 0-9 deg behind the walking posture,
sitting 18-35 deg posterior, supine 90; per day) and roll λ give up = (cos α cos λ, -sin λ,
sin α cos λ): sitting differs from standing only by the tilt. Real waist-worn recordings (42
sessions, docs/metrics.md "Real bodies") sit 12-33 deg from their walking posture (10-90 %) and
stand 2-11 deg from it; the simulator draws standing alike but sitting only from 18-35 deg: the
third of real sitters below ~17 deg cannot be told from standing by tilt, which the real-data
validation measures and the simulator does not pretend to.
Crossing rolls the pelvis ~3 deg towards the bottom leg.

Dynamics. Angles are smoothed over 3 s (posture transitions take 2-3 s) and interpolated linearly
per sample. Walking (step frequency 1.8-2.0 Hz) adds a vertical specific-force oscillation of
0.3-0.6 g at the step frequency, a fore-aft component, and a thigh swing of ±22 deg at the stride
frequency (half the step frequency). Fidgets add a few degrees of slow rocking and a small 4 Hz
acceleration transient. Gyro = rate of change of the modelled angles (small-angle form: thigh ω =
(-dφ/dt, dθ/dt, 0); hip ω = (-sin α dλ/dt, dα/dt, cos α dλ/dt)) plus noise and a per-device bias. A
fixed mounting rotation (random axis, up to 25 deg) turns segment axes into sensor axes. Noise:
accel 0.012 g, gyro 0.35 deg/s (rms, white).

Pressure mat (16 x 16, row 0 at the front edge, column 0 at the sitter's left). A sitter loads two
ischial-tuberosity peaks (rows ~11-12, columns ~4.5 and 10.5, peak 20-30 kPa) and two thigh regions
(rows ~2-8, 6-9 kPa). Leaning left by λ scales the left/right tuberosity loads by 1 ± 0.025 λ and
the thigh loads by 1 ± 0.01 λ. Crossed legs lift the top leg's thigh (x0.15) and load the bottom-leg
side (x1.3 tuberosity). A weight shift offloads one side (x0.15) for 5-30 s. Fidgets jitter the
loads by ~15 %, breathing modulates them by 3 % at 0.25 Hz. An empty seat reads near zero (uniform
noise of 0.25 kPa rms, clipped at 0); an object left on the seat is a compact blob of 4-10 kPa.
Counts are kPa divided by a per-cell calibration gain (~0.2 kPa per count, ±10 % per cell).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sitload.firmware_sim.body_model import LYING, MOVING, SITTING, STANDING, DayStates, smooth
from sitload.firmware_sim.seeding import rng_for

ACCEL_NOISE_G = 0.012
GYRO_NOISE_DPS = 0.35
THIGH_SWING_DEG = 22.0
MAT_SHAPE = (16, 16)
MAT_NOISE_KPA = 0.25
MAT_GAIN_NOMINAL = 2000  # kPa per count x 10000


@dataclass(frozen=True)
class ImuPose:
    """Per-second segment angles and movement intensities of one day at one placement."""

    placement: str  # 'thigh' | 'hip'
    pitch_deg: np.ndarray
    roll_deg: np.ndarray
    walk: np.ndarray
    step_hz: np.ndarray
    step_g: np.ndarray
    fidget: np.ndarray


def _slow_noise(rng: np.random.Generator, n: int, sd: float, width: int = 61) -> np.ndarray:
    return smooth(rng.normal(0.0, sd * np.sqrt(width), n), width)


def thigh_pose(states: DayStates, seed: int, day: int, side: str = "right") -> ImuPose:
    """Thigh angles per second for the leg on ``side`` (see the module notes)."""
    rng = rng_for("thigh-pose", seed, day, side)
    n = len(states)
    posture = states.posture
    pitch = np.select([posture == SITTING, posture == STANDING, posture == MOVING],
                      [88.0, 3.0, 12.0], 90.0) + _slow_noise(rng, n, 3.0)
    medial = 1.0 if side == "right" else -1.0  # roll sign that turns the thigh's front inwards
    own, other = (2, 1) if side == "right" else (1, 2)
    on_top = states.crossed == own
    under = states.crossed == other
    pitch = pitch + on_top * rng.uniform(20.0, 30.0)
    roll = (states.lean_deg + 6.0 * states.shift_side + on_top * medial * rng.uniform(20.0, 30.0)
            - under * medial * rng.uniform(5.0, 10.0))
    roll = np.where(posture == LYING, states.lying_roll_deg, roll)
    return ImuPose("thigh", smooth(pitch, 3), smooth(roll, 3),
                   smooth((posture == MOVING).astype(float), 3), states.step_hz, states.step_g,
                   smooth(states.fidget.astype(float), 3))


def hip_pose(states: DayStates, seed: int, day: int) -> ImuPose:
    """Pelvis tilt (pitch) and roll per second (see the module notes)."""
    rng = rng_for("hip-pose", seed, day)
    n = len(states)
    posture = states.posture
    walking_tilt = -2.0
    tilt = np.select([posture == SITTING, posture == STANDING, posture == MOVING],
                     [rng.uniform(18.0, 35.0), walking_tilt + rng.uniform(0.0, 9.0), walking_tilt],
                     90.0) + _slow_noise(rng, n, 2.0)
    roll = (states.lean_deg + 6.0 * states.shift_side
            + 3.0 * ((states.crossed == 2).astype(float) - (states.crossed == 1)))
    roll = np.where(posture == LYING, states.lying_roll_deg, roll)
    return ImuPose("hip", smooth(tilt, 3), smooth(roll, 3),
                   smooth((posture == MOVING).astype(float), 3), states.step_hz, states.step_g,
                   smooth(states.fidget.astype(float), 3))


def mount_rotation(angle_deg: float, seed: int, sensor: str) -> np.ndarray:
    """Fixed mounting rotation: ``angle_deg`` about a seeded random axis (3 x 3 matrix)."""
    axis = rng_for("mount-axis", seed, sensor).normal(size=3)
    axis /= np.linalg.norm(axis)
    a = np.radians(angle_deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


def _interp(tau: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of per-second values (at second centres) and its slope per second."""
    centres = np.arange(values.shape[0]) + 0.5
    slope = np.diff(values, append=values[-1])
    idx = np.clip(np.floor(tau - 0.5).astype(np.int64), 0, values.shape[0] - 1)
    inside = (tau >= 0.5) & (tau <= values.shape[0] - 0.5)
    return np.interp(tau, centres, values), np.where(inside, slope[idx], 0.0)


def _wave(amp: np.ndarray | float, hz: np.ndarray | float, tau: np.ndarray,
          phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``amp * sin(2π hz τ + phase)`` and its time derivative (amplitude taken as constant)."""
    arg = 2 * np.pi * hz * tau + phase
    return amp * np.sin(arg), amp * 2 * np.pi * hz * np.cos(arg)


def imu_samples(pose: ImuPose, tau: np.ndarray, noise: np.ndarray, mount: np.ndarray,
                gyro_bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accelerometer (g) and gyroscope (deg/s) samples at ``tau`` (s since the day's start).

    ``noise`` is (n, 6) standard normal; returns sensor-frame arrays (n, 3) each.
    """
    sec = np.clip(tau.astype(np.int64), 0, pose.pitch_deg.shape[0] - 1)
    centres = np.arange(pose.walk.shape[0]) + 0.5
    pitch, dpitch = _interp(tau, pose.pitch_deg)
    roll, droll = _interp(tau, pose.roll_deg)
    walk = np.interp(tau, centres, pose.walk)
    fid = np.interp(tau, centres, pose.fidget)
    step_hz = pose.step_hz[sec].astype(np.float64)
    amp = walk * pose.step_g[sec]
    lin = np.zeros((tau.shape[0], 3))
    lin[:, 0] = _wave(amp, step_hz, tau)[0]
    lin[:, 2] = _wave(0.08 * fid, 4.0, tau)[0]
    if pose.placement == "thigh":
        swings = [_wave(walk * THIGH_SWING_DEG, step_hz / 2, tau), _wave(5.0 * fid, 1.3, tau)]
        rolls = [_wave(4.0 * fid, 0.9, tau, 1.0)]
        lin[:, 2] += _wave(0.5 * amp, step_hz / 2, tau, 0.5)[0]
    else:
        swings = [_wave(3.0 * walk, step_hz, tau), _wave(3.0 * fid, 1.3, tau)]
        rolls = [_wave(4.0 * walk, step_hz / 2, tau), _wave(2.0 * fid, 0.9, tau, 1.0)]
        lin[:, 1] += _wave(0.25 * amp, step_hz / 2, tau)[0]
        lin[:, 2] += _wave(0.4 * amp, step_hz, tau, 1.2)[0]
    for value, rate in swings:
        pitch, dpitch = pitch + value, dpitch + rate
    for value, rate in rolls:
        roll, droll = roll + value, droll + rate
    p, r = np.radians(pitch), np.radians(roll)
    if pose.placement == "thigh":
        up = np.stack([np.cos(p), -np.sin(p) * np.sin(r), np.sin(p) * np.cos(r)], axis=1)
        omega = np.stack([-droll, dpitch, np.zeros_like(dpitch)], axis=1)
    else:
        up = np.stack([np.cos(p) * np.cos(r), -np.sin(r), np.sin(p) * np.cos(r)], axis=1)
        omega = np.stack([-np.sin(p) * droll, dpitch, np.cos(p) * droll], axis=1)
    accel = (up + lin) @ mount.T + ACCEL_NOISE_G * noise[:, :3]
    gyro = omega @ mount.T + gyro_bias + GYRO_NOISE_DPS * noise[:, 3:]
    return accel, gyro


# ---------------------------------------------------------------- pressure mat

def _blob(rows: int, cols: int, r: float, c: float, sr: float, sc: float) -> np.ndarray:
    rr, cc = np.mgrid[0:rows, 0:cols]
    return np.exp(-0.5 * (((rr - r) / sr) ** 2 + ((cc - c) / sc) ** 2)).ravel()


def mat_basis(rows: int = MAT_SHAPE[0], cols: int = MAT_SHAPE[1]) -> np.ndarray:
    """Unit-peak load maps (4, rows*cols): left/right ischial tuberosity, left/right thigh."""
    sr, sc = rows / 16.0, cols / 16.0
    return np.stack([
        _blob(rows, cols, 11.5 * sr, 4.5 * sc, 1.3 * sr, 1.3 * sc),
        _blob(rows, cols, 11.5 * sr, 10.5 * sc, 1.3 * sr, 1.3 * sc),
        _blob(rows, cols, 5.0 * sr, 4.0 * sc, 3.0 * sr, 1.5 * sc),
        _blob(rows, cols, 5.0 * sr, 11.0 * sc, 3.0 * sr, 1.5 * sc),
    ])


def mat_loads(states: DayStates, seed: int, day: int) -> np.ndarray:
    """Per-second peak loads in kPa (n, 4) for the maps of ``mat_basis``."""
    rng = rng_for("mat-loads", seed, day)
    n = len(states)
    it_kpa, thigh_kpa = rng.uniform(20.0, 30.0), rng.uniform(6.0, 9.0)
    lean = states.lean_deg.astype(np.float64)
    w = np.ones((n, 4))
    w[:, 0] = np.clip(1 + 0.025 * lean, 0.1, 2.0)
    w[:, 1] = np.clip(1 - 0.025 * lean, 0.1, 2.0)
    w[:, 2], w[:, 3] = 1 + 0.01 * lean, 1 - 0.01 * lean
    left_top, right_top = states.crossed == 1, states.crossed == 2
    w[left_top] *= (0.8, 1.3, 0.15, 1.25)
    w[right_top] *= (1.3, 0.8, 1.25, 0.15)
    w[states.shift_side > 0] *= (1.6, 0.15, 1.2, 0.6)
    w[states.shift_side < 0] *= (0.15, 1.6, 0.6, 1.2)
    w[states.fidget] *= 1 + 0.15 * rng.standard_normal((int(states.fidget.sum()), 4))
    w *= (it_kpa, it_kpa, thigh_kpa, thigh_kpa)
    w[states.posture != SITTING] = 0.0
    return np.stack([smooth(w[:, i], 3) for i in range(4)], axis=1)


def _object_map(object_id: int, rows: int, cols: int) -> np.ndarray:
    rng = rng_for("object", object_id)
    size = rng.uniform(0.6, 1.2)
    return rng.uniform(4.0, 10.0) * _blob(rows, cols, rng.uniform(3, rows - 4),
                                          rng.uniform(3, cols - 4), size, size)


def mat_pressure(states: DayStates, loads: np.ndarray, basis: np.ndarray, tau: np.ndarray,
                 noise: np.ndarray, shape: tuple[int, int] = MAT_SHAPE) -> np.ndarray:
    """Scans in kPa (n, rows, cols) at ``tau`` (s since the day's start).

    ``noise`` (n, cells) has unit variance (the device uses uniform noise: cheap, and close to the
    quantisation-dominated noise of a resistive mat)."""
    centres = np.arange(loads.shape[0]) + 0.5
    w = np.stack([np.interp(tau, centres, loads[:, i]) for i in range(loads.shape[1])], axis=1)
    w *= (1 + 0.03 * np.sin(2 * np.pi * 0.25 * tau))[:, None]
    kpa = (w @ basis).astype(np.float32)
    kpa += MAT_NOISE_KPA * noise
    obj = states.object_id[np.clip(tau.astype(np.int64), 0, len(states) - 1)]
    for oid in np.unique(obj[obj >= 0]):
        kpa[obj == oid] += _object_map(int(oid), *shape).astype(np.float32)
    np.maximum(kpa, 0.0, out=kpa)
    return kpa.reshape(-1, *shape)


def mat_gain(seed: int, sensor: str, shape: tuple[int, int] = MAT_SHAPE) -> np.ndarray:
    """Per-cell calibration gains (kPa per count x 10000), nominal 0.2 kPa/count ±10 %."""
    rng = rng_for("mat-gain", seed, sensor)
    return np.rint(MAT_GAIN_NOMINAL * rng.uniform(0.9, 1.1, shape)).astype(np.uint16)
