"""Engine (streaming) and analyze (batch) on synthetic sensor data: labels, bouts, identity."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitload.analytics import AnalysisConfig, Engine, analyze
from conftest import rotation
from sitload.samples import SampleBatch
from sitload.vocab import Posture, SensorKind, Side

T0 = 1_772_438_400.0
RATE = 50.0


def thigh_day(segments, mount_deg=20.0, seed=0):
    """Synthetic thigh IMU: (posture, seconds[, roll_deg, pitch_extra]) segments -> (t, accel, gyro).

    Thigh frame as in docs/protocol.md; walking swings the thigh +-20 deg about y at 0.95 Hz.
    """
    rng = np.random.default_rng(seed)
    pitch, roll, walk = [], [], []
    for seg in segments:
        name, n = seg[0], int(seg[1] * RATE)
        base = {"sit": 88.0, "stand": 3.0, "walk": 12.0}[name]
        pitch.append(np.full(n, base + (seg[3] if len(seg) > 3 else 0.0)))
        roll.append(np.full(n, seg[2] if len(seg) > 2 else 0.0))
        walk.append(np.full(n, name == "walk"))
    pitch, roll, walk = map(np.concatenate, (pitch, roll, walk))
    t = np.arange(pitch.size) / RATE
    pitch = pitch + walk * 20.0 * np.sin(2 * np.pi * 0.95 * t)
    th, ph = np.radians(pitch), np.radians(roll)
    up = np.stack([np.cos(th), -np.sin(th) * np.sin(ph), np.sin(th) * np.cos(ph)], axis=1)
    up[:, 0] += walk * 0.4 * np.sin(2 * np.pi * 1.9 * t)
    gyro = np.zeros_like(up)
    gyro[:, 1] = walk * 20.0 * 2 * np.pi * 0.95 * np.cos(2 * np.pi * 0.95 * t)
    mount = rotation([0.3, 0.5, 0.8], mount_deg)
    accel = up @ mount.T + 0.01 * rng.standard_normal(up.shape)
    gyro = gyro @ mount.T + 0.3 * rng.standard_normal(up.shape)
    return T0 + t, accel, gyro


def batches_of(t, accel, gyro, size, drop=()):
    keep = np.ones(t.size, bool)
    for a, b in drop:
        keep &= ~((t >= T0 + a) & (t < T0 + b))
    t, accel, gyro = t[keep], accel[keep], gyro[keep]
    return [SampleBatch(SensorKind.THIGH_IMU, t[i:i + size], accel[i:i + size], gyro[i:i + size])
            for i in range(0, t.size, size)]


DAY = [("walk", 120), ("stand", 60), ("sit", 700, 12.0), ("stand", 30), ("sit", 400, 0.0, 25.0),
       ("walk", 90), ("sit", 1900, -10.0), ("stand", 100)]


def stream(kind, batches, config=AnalysisConfig()):
    engine = Engine(kind, config)
    events = []
    for batch in batches:
        events += engine.feed(batch)
    events += engine.finish()
    return engine, events


def test_thigh_postures_bouts_and_sides_with_a_rotated_mount():
    t, accel, gyro = thigh_day(DAY, mount_deg=25.0)
    result = analyze(SensorKind.THIGH_IMU, batches_of(t, accel, gyro, 500, drop=[(1000, 1020)]))
    ep = result.epochs
    assert len(ep) == 3400 and (ep["posture"] == "gap").sum() == 20
    assert result.gaps == [(T0 + 1000, T0 + 1020)]
    # away from transitions every second is right
    assert (ep["posture"].iloc[5:115] == "moving").all()
    assert (ep["posture"].iloc[125:175] == "standing").all()
    assert (ep["posture"].iloc[185:875] == "sitting").all()
    assert (ep["posture"].iloc[1315:1395] == "moving").all()
    b1, b2 = result.bouts
    assert (b1.start - T0, b1.end - T0) == (180, 1310)     # 30 s stand-up and 20 s gap inside
    assert (b2.start - T0, b2.end - T0) == (1400, 3300)
    assert b1.lean_side == "left" and b1.crossed_side == "right" and b1.fair_s == 380
    assert b1.sit_to_stand == 2 and b1.ended_by == "break"
    assert b2.lean_side == "right" and b2.lean_deg_mean == pytest.approx(-10.0, abs=1.0)
    assert result.sitting_s == 700 + 400 - 20 + 1900
    assert result.metrics.prolonged[0].count == 1 and result.metrics.n_bouts == 2
    assert result.breaks == 2
    assert result.breaks_per_sitting_hour == pytest.approx(2 / ((1130 + 1900) / 3600))


def test_streaming_equals_batch_for_any_batch_size():
    t, accel, gyro = thigh_day(DAY, mount_deg=15.0, seed=3)
    batch = analyze(SensorKind.THIGH_IMU, batches_of(t, accel, gyro, 10_000, drop=[(500, 590)]))
    for size in (23, 1777):
        engine, events = stream(SensorKind.THIGH_IMU,
                                batches_of(t, accel, gyro, size, drop=[(500, 590)]))
        live = engine.result()
        pd.testing.assert_frame_equal(live.epochs, batch.epochs, check_exact=True)
        assert live.bouts == batch.bouts and live.metrics == batch.metrics
        assert live.gaps == batch.gaps and live.to_json() == batch.to_json()
    kinds = [e.kind for e in events]
    assert kinds.count("bout_start") == kinds.count("bout_end") == len(batch.bouts) == 3
    assert kinds.count("prolonged_sitting") == 1 and kinds.count("gap") == 1
    assert "crossed_legs" in kinds and "asymmetry" in kinds


def test_engine_state_and_constant_buffer():
    t, accel, gyro = thigh_day(DAY[:3])
    engine = Engine(SensorKind.THIGH_IMU, keep_epochs=False)
    for batch in batches_of(t, accel, gyro, 10):
        engine.feed(batch)
        assert sum(len(b) for b in engine._seconds._pending) <= RATE
    state = engine.state
    assert (state.posture, state.lean_side, state.crossed) == (Posture.SITTING, Side.LEFT, Side.NONE)
    assert state.bout_start == T0 + 180 and state.bout_minutes == pytest.approx(699 / 60)
    assert engine.result().epochs.empty


def test_out_of_order_samples_are_dropped_alike():
    t, accel, gyro = thigh_day([("stand", 20), ("sit", 40)])
    batches = batches_of(t, accel, gyro, 100)
    late = SampleBatch(SensorKind.THIGH_IMU, np.array([T0 + 5.5]), np.array([[0.0, 0.0, 1.0]]),
                       np.zeros((1, 3)))
    batches.insert(10, late)
    engine, _ = stream(SensorKind.THIGH_IMU, batches)
    assert engine.dropped_samples == 1
    pd.testing.assert_frame_equal(engine.result().epochs,
                                  analyze(SensorKind.THIGH_IMU, batches).epochs)


def test_wrong_kind_is_refused():
    engine = Engine(SensorKind.HIP_IMU)
    with pytest.raises(ValueError):
        engine.feed(SampleBatch(SensorKind.THIGH_IMU, np.array([T0]), np.zeros((1, 3))))


def mat_scans(seconds, kind="person", lean=0.0, rate=10):
    """16 x 16 scans: a person (two buttock peaks + thighs) or a small object."""
    rr, cc = np.mgrid[0:16, 0:16]

    def blob(r, c, s):
        return np.exp(-0.5 * (((rr - r) / s) ** 2 + ((cc - c) / s) ** 2))

    if kind in ("person", "shift"):
        left, right = (0.1, 1.6) if kind == "shift" else (1 + 0.025 * lean, 1 - 0.025 * lean)
        m = 25 * left * blob(11.5, 4.5, 1.3) + 25 * right * blob(11.5, 10.5, 1.3) + \
            7 * blob(3, 4, 1.2) + 7 * blob(3, 11, 1.2)
    elif kind == "object":
        m = 8 * blob(6, 8, 0.9)
    else:
        m = np.zeros((16, 16))
    return np.repeat(m[None], seconds * rate, axis=0)


def test_mat_occupancy_object_and_symmetry_index():
    parts = [mat_scans(30, "empty"), mat_scans(600, lean=12.0), mat_scans(120, "object"),
             mat_scans(150), mat_scans(10, "shift"), mat_scans(140)]
    pressure = np.concatenate(parts)
    t = T0 + np.arange(len(pressure)) / 10.0
    batches = [SampleBatch(SensorKind.PRESSURE, t[i:i + 50], pressure=pressure[i:i + 50])
               for i in range(0, len(t), 50)]
    result = analyze(SensorKind.PRESSURE, batches)
    ep = result.epochs
    assert (ep["seat"].iloc[:30] == "empty").all() and (ep["seat"].iloc[630:750] == "object").all()
    assert [(b.start - T0, b.end - T0) for b in result.bouts] == [(30, 630), (750, 1050)]
    first, second = result.bouts
    assert first.lean_side == "left" and second.lean_side == "none"
    # gluteal SI from the rear half's left and right cell sums (peaks 1.3 : 0.7 -> about 60 %)
    rear = mat_scans(1, lean=12.0)[0, 8:]
    left, right = rear[:, :8].sum(), rear[:, 8:].sum()
    assert ep["si_gluteal"].iloc[100] == pytest.approx((left - right) / ((left + right) / 2) * 100)
    assert 55.0 < ep["si_gluteal"].iloc[100] < 60.0
    # the bout's mean SI is the mean over its seconds; the 10 s shift to the right pulls it below 0
    assert first.si_mean == pytest.approx(ep["si"].iloc[30:630].mean())
    assert second.si_mean == pytest.approx(ep["si"].iloc[750:1050].mean()) and second.si_mean < 0
    assert first.left_dose_ns > first.right_dose_ns
    assert first.peak_left_kpa > first.peak_right_kpa
    assert (first.weight_shifts, second.weight_shifts) == (0, 1)
    live, events = stream(SensorKind.PRESSURE, batches)
    assert live.result().bouts == result.bouts
    shifts = [e for e in events if e.kind == "weight_shift"]
    assert [(e.t - T0, e.offloaded) for e in shifts] == [(903, Side.LEFT)]
    assert live.state.posture == Posture.SITTING and live.state.asymmetry_si == pytest.approx(0.0)


def test_to_json_schema():
    t, accel, gyro = thigh_day(DAY)
    doc = analyze(SensorKind.THIGH_IMU, batches_of(t, accel, gyro, 1000)).to_json()
    json.dumps(doc)
    assert doc["schema"] == "sitload.analysis/1" and doc["sensor"] == "thigh-imu"
    assert doc["bouts"][0]["start"] == "2026-03-02T08:03:00Z"
    assert doc["bouts"][0]["end"] == "2026-03-02T08:21:50Z"
    assert doc["prolonged_bouts_30"] == 1 and doc["prolonged_bouts_60"] == 0
    for key in ("sitting_s", "breaks_per_sitting_hour", "w50_s", "alpha", "gini", "gaps"):
        assert key in doc


def test_batches_without_gyro_calibrate_alike_in_both_paths():
    t, accel, gyro = thigh_day(DAY[:4], mount_deg=20.0, seed=5)
    batches = batches_of(t, accel, gyro, 400)
    batches = [SampleBatch(b.kind, b.t, b.accel, None if i % 3 == 0 else b.gyro)
               for i, b in enumerate(batches)]
    batch = analyze(SensorKind.THIGH_IMU, batches)
    engine, _ = stream(SensorKind.THIGH_IMU, batches)
    pd.testing.assert_frame_equal(engine.result().epochs, batch.epochs, check_exact=True)
    assert (batch.epochs["posture"].iloc[185:875] == "sitting").all()
    assert batch.bouts[0].lean_side == "left"


def test_quaternion_matrix_is_scipys_bit_for_bit():
    from scipy.spatial.transform import Rotation
    from sitload.analytics.posture import quaternion_matrix

    rng = np.random.default_rng(7)
    ref = rng.normal(size=(20000, 3))
    ref /= np.linalg.norm(ref, axis=1)[:, None]
    ref[:100] = (-1.0, 0.0, 0.0) + rng.normal(scale=1e-9, size=(100, 3))   # near a half turn
    q = np.stack((np.zeros(len(ref)), ref[:, 2], -ref[:, 1], 1.0 + ref[:, 0]), axis=1)
    q = np.concatenate((q, rng.normal(size=(1000, 4)), [(0.0, 0.0, 1.0, 0.0)]))
    expected = Rotation.from_quat(q).as_matrix()
    assert quaternion_matrix(q).tobytes() == expected.tobytes()


def _near(rng, axis: np.ndarray, deg: float) -> np.ndarray:
    """A unit vector at ``deg`` from the unit ``axis``, give or take a few last bits."""
    other = np.cross(axis, rng.normal(size=3))
    other /= np.linalg.norm(other)
    angle = np.radians(deg) + rng.choice([0.0, 1e-15, -1e-15, 1e-10, -1e-10, 1e-3, -1e-3])
    return np.cos(angle) * axis + np.sin(angle) * other


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(1.0, 5000.0))
def test_walking_calibration_decides_as_numpy_does_even_at_its_thresholds(seed, length):
    """The walking reference takes its two decisions in float arithmetic, and in numpy's (which
    defines them) where the sides come close: either way, numpy's answer, on directions at the
    thresholds to the last bits, and on walk sums off by the rounding of running sums."""
    from sitload.analytics.posture import WalkingReference

    cfg = AnalysisConfig()
    ref = WalkingReference(cfg)
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ref.sum = tuple((axis * length).tolist())
    total = np.array(ref.sum)
    cos_max, cos_reset = (np.cos(np.radians(d)) for d in (cfg.walk_max_incl_deg, cfg.walk_reset_deg))
    ui = _near(rng, axis, cfg.walk_max_incl_deg)
    assert ref._counts(ui.tolist(), cos_max) == bool(ui @ total >= cos_max * np.sqrt(total @ total))
    walk = np.array([_near(rng, axis, cfg.walk_reset_deg) for _ in range(cfg.reset_walk_s)])
    exact = walk.sum(axis=0)
    close = exact * (1.0 + rng.normal(scale=1e-13, size=3))
    assert ref._resets(close.tolist(), walk, cos_reset) == bool(
        exact @ total < cos_reset * np.sqrt((exact @ exact) * (total @ total)))


@st.composite
def walks(draw):
    """Walking seconds of a sensor that is turned over now and then (seconds far from the
    reference, then a reset), some with a gyroscope, cut into blocks at random."""
    n = draw(st.integers(1, 600))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    axes = rng.normal(size=(draw(st.integers(1, 4)), 3))
    turns = np.sort(rng.integers(0, n, len(axes) - 1))
    u = axes[np.searchsorted(turns, np.arange(n), side="right")] + rng.normal(0, 0.3, (n, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    walking = rng.random(n) < draw(st.sampled_from([0.3, 0.9, 1.0]))
    gcov = np.abs(rng.normal(size=(n, 6)))
    gcov[rng.random(n) < 0.2] = np.nan
    cuts = sorted(draw(st.lists(st.integers(1, max(1, n - 1)), max_size=6)))
    return u, walking, gcov, [0, *cuts, n]


@settings(max_examples=150, deadline=None)
@given(walks())
def test_walking_calibration_sums_alike_in_runs_and_second_by_second(walk):
    """Runs of walking seconds that all count and reset nothing are summed at once; the sums,
    covariances, counts and the row each second takes are those of stepping every second."""
    from sitload.analytics import posture

    u, walking, gcov, bounds = walk
    runs, steps = posture.WalkingReference(AnalysisConfig()), posture.WalkingReference(AnalysisConfig())
    steps._bulk = lambda *args: 0
    for a, b in zip(bounds, bounds[1:]):
        if a == b:
            continue
        got = runs._learn(u[a:b], walking[a:b], gcov[a:b])
        want = steps._learn(u[a:b], walking[a:b], gcov[a:b])
        for g, w in zip(got, want):
            assert g.tobytes() == w.tobytes()
        assert list(runs.run) == list(steps.run) and runs.n == steps.n
