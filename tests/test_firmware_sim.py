"""firmware_sim: scenarios, signals, device behaviour and faults (decoded with the host decoder)."""

import re

import numpy as np
import pandas as pd
import pytest

from sitload.firmware_sim import SCENARIOS, Faults, SimulatedSensor
from sitload.firmware_sim.body_model import plan_day
from sitload.firmware_sim.frame_encoder import FLAG_LOW_BATTERY, FLAG_RESYNC
from sitload.sensor_ingest.frame_codec import decode_frame
from sitload.errors import ConfigError, FrameError

START = 1772438400.0


def run(**kw):
    """All chunks of a run joined: frames, sent_at, host_times, truth, battery, link events."""
    chunk_s = kw.pop("chunk_s", 600.0)
    chunks = list(SimulatedSensor(**kw).chunks(chunk_s=chunk_s))
    return dict(
        frames=[f for c in chunks for f in c.frames],
        sent_at=np.concatenate([c.sent_at for c in chunks]),
        host_times=np.concatenate([c.host_times for c in chunks]),
        truth=pd.concat([c.truth for c in chunks], ignore_index=True),
        battery=[e for c in chunks for e in c.battery],
        link=[e for c in chunks for e in c.link_events],
    )


HEADER = np.dtype([("version", "u1"), ("kind", "u1"), ("flags", "u1"), ("count", "u1"),
                   ("seq", "<u4"), ("ticks", "<u4"), ("rate_dhz", "<u2"), ("ranges", "u1"),
                   ("fragment", "u1")])


def headers(frames):
    """Header fields of equal-length frames, read in bulk (the decoder is checked elsewhere)."""
    raw = np.frombuffer(b"".join(frames), np.uint8).reshape(len(frames), -1)
    return np.ascontiguousarray(raw[:, :16]).view(HEADER).ravel(), raw


def imu_per_second(frames, start_utc=START):
    """Per-second mean and std of decoded accel/gyro, indexed by seconds since start_utc."""
    decoded = [decode_frame(f) for f in frames]
    ticks = np.array([d.header.ticks for d in decoded], dtype=np.float64)
    n = decoded[0].header.count
    t = (ticks[:, None] + np.rint(np.arange(n) * 32768 / 50)).ravel() / 32768
    data = np.concatenate([np.hstack([d.accel, d.gyro]) for d in decoded])
    df = pd.DataFrame(data, columns=["ax", "ay", "az", "gx", "gy", "gz"])
    df["sec"] = t.astype(int)
    return df.groupby("sec").mean(), df.groupby("sec").std()


@pytest.fixture(scope="module")
def thigh():
    return run(sensor="thigh-imu", seed=1, hours=3, mount_rotation_deg=0)


@pytest.fixture(scope="module")
def thigh_seconds(thigh):
    mean, std = imu_per_second(thigh["frames"])
    truth = thigh["truth"].assign(sec=np.arange(len(thigh["truth"])))
    # keep seconds well inside a posture (no transition in the 2 s around)
    p = truth.posture
    steady = (p == p.shift(2)) & (p == p.shift(-2)) & (truth.crossed == truth.crossed.shift(3)) \
        & (truth.crossed == truth.crossed.shift(-3))
    return truth[steady].merge(mean, on="sec").merge(std, on="sec", suffixes=("", "_sd"))


# ------------------------------------------------------------------ scenarios and truth

def test_truth_has_one_row_per_wear_second_with_the_brief_columns(thigh):
    truth = thigh["truth"]
    assert list(truth.columns) == ["t", "posture", "lean_deg", "lean_side", "crossed",
                                   "shifting", "occupied", "object_on_seat"]
    assert len(truth) == 3 * 3600
    np.testing.assert_array_equal(truth.t.to_numpy(), START + np.arange(3 * 3600))
    assert set(truth.posture) <= {"sitting", "standing", "moving", "lying"}
    assert set(truth.lean_side) <= {"left", "right", "none"}
    assert (truth.occupied == (truth.posture == "sitting")).all()
    assert not (truth.occupied & truth.object_on_seat).any()
    lean = truth.lean_deg
    assert ((lean >= 5) == (truth.lean_side == "left")).all()
    assert ((lean <= -5) == (truth.lean_side == "right")).all()
    assert (truth.crossed[~truth.occupied] == "none").all()


def test_desk_day_mixes_postures_leans_and_crossing_to_both_sides():
    states = plan_day(SCENARIOS["desk-day"], 1, 0, START)
    truth = states.truth(0, len(states))
    assert len(truth) == 8 * 3600
    assert {"sitting", "standing", "moving"} <= set(truth.posture)
    sitting = truth[truth.occupied]
    assert 0.35 < len(sitting) / len(truth) < 0.8
    assert {"left", "right"} <= set(sitting.lean_side)
    assert {"left", "right"} <= set(sitting.crossed)
    assert sitting.shifting.any() and truth.object_on_seat.any()
    bouts = bout_lengths_min(truth)
    assert bouts.min() < 10 and bouts.max() > 30  # short and long bouts


def bout_lengths_min(truth):
    sit = np.r_[0, (truth.posture == "sitting").astype(int).to_numpy(), 0]
    edges = np.diff(sit)
    return (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)) / 60.0


def test_flare_day_has_long_bouts_a_sustained_left_lean_and_left_over_right_crossing():
    truth = plan_day(SCENARIOS["flare-day"], 3, 0, START).truth(0, 8 * 3600)
    sitting = truth[truth.occupied]
    assert sitting.lean_deg.mean() > 5
    assert (sitting.lean_side == "left").mean() > 0.6
    assert (sitting.crossed == "left").sum() > 2 * (sitting.crossed == "right").sum()
    assert np.sort(bout_lengths_min(truth))[-3:].min() > 45


def test_active_day_has_short_bouts_and_lots_of_walking():
    truth = plan_day(SCENARIOS["active-day"], 1, 0, START).truth(0, 8 * 3600)
    assert bout_lengths_min(truth).max() <= 25.01
    assert (truth.posture == "moving").mean() > 0.3


def test_day_plan_is_seeded_by_seed_and_day_and_shared_by_all_sensors():
    a = run(sensor="thigh-imu", seed=4, hours=0.5)["truth"]
    b = run(sensor="pressure", seed=4, hours=0.5)["truth"]
    pd.testing.assert_frame_equal(a, b)
    c = plan_day(SCENARIOS["desk-day"], 4, 1, START).truth(0, 1800)
    assert not np.array_equal(a.posture.to_numpy(), c.posture.to_numpy())


# ------------------------------------------------------------------ determinism

def test_runs_are_deterministic_and_independent_of_chunk_size():
    kw = dict(sensor="thigh-imu", seed=7, hours=0.4, faults=Faults(drop_rate=0.05))
    a, b = run(**kw), run(**kw, chunk_s=137.0)
    assert a["frames"] == b["frames"]
    np.testing.assert_array_equal(a["sent_at"], b["sent_at"])
    np.testing.assert_array_equal(a["host_times"], b["host_times"])
    pd.testing.assert_frame_equal(a["truth"], b["truth"])
    assert a["battery"] == b["battery"] and a["link"] == b["link"]
    assert run(**{**kw, "seed": 8})["frames"] != a["frames"]


# ------------------------------------------------------------------ signals

def test_thigh_imu_reads_gravity_per_posture_without_mount_rotation(thigh_seconds):
    s = thigh_seconds
    standing = s[s.posture == "standing"]
    np.testing.assert_allclose(standing[["ax", "ay", "az"]].mean(), [1.0, 0.0, 0.05], atol=0.05)
    calm = s[(s.posture == "sitting") & (s.crossed == "none") & (s.lean_deg.abs() < 3)
             & ~s.shifting]
    np.testing.assert_allclose(calm[["ax", "ay", "az"]].mean(), [0.0, 0.0, 1.0], atol=0.06)
    magnitude = np.linalg.norm(s[s.posture != "moving"][["ax", "ay", "az"]], axis=1)
    assert np.abs(magnitude - 1).max() < 0.1


def test_thigh_imu_sees_lean_crossing_and_walking(thigh_seconds):
    s = thigh_seconds
    sitting = s[(s.posture == "sitting") & (s.crossed == "none")]
    # leaning left tips the sensor's y (left) axis down: ay ≈ -sin(lean)
    assert np.corrcoef(sitting.lean_deg, sitting.ay)[0, 1] < -0.8
    on_top = s[(s.posture == "sitting") & (s.crossed == "right")]  # the sensor leg on top
    assert on_top.ax.mean() < -0.25 and on_top.ay.mean() < -0.25
    walking = s[s.posture == "moving"]
    assert walking.az_sd.mean() > 0.2 and walking.gy_sd.mean() > 40
    assert s[s.posture == "standing"].gy_sd.mean() < 2


def test_hip_imu_separates_sitting_only_by_pelvic_tilt():
    r = run(sensor="hip-imu", seed=1, hours=2, mount_rotation_deg=0)
    mean, _ = imu_per_second(r["frames"])
    s = r["truth"].assign(sec=np.arange(len(r["truth"]))).merge(mean, on="sec")
    sitting, standing = s[s.posture == "sitting"], s[s.posture == "standing"]
    # sitting 18-35 deg behind upright, standing -2..7 deg (signals.py, as real waist data)
    assert 0.80 < sitting.ax.mean() < 0.96 and 0.30 < sitting.az.mean() < 0.58
    assert standing.ax.mean() > 0.98 and abs(standing.az.mean()) < 0.13


def test_mount_rotation_turns_the_gravity_vector():
    a, b = (imu_per_second(run(sensor="thigh-imu", seed=2, hours=0.2,
                               mount_rotation_deg=deg)["frames"])[0] for deg in (0, 25))
    va, vb = a[["ax", "ay", "az"]].to_numpy(), b[["ax", "ay", "az"]].to_numpy()
    cos = np.sum(va * vb, axis=1) / np.linalg.norm(va, axis=1) / np.linalg.norm(vb, axis=1)
    stationary = a.gy.abs() < 5
    np.testing.assert_allclose(np.degrees(np.arccos(np.clip(cos[stationary], -1, 1))).max(),
                               25, atol=3)


@pytest.fixture(scope="module")
def mat():
    sim = SimulatedSensor(sensor="pressure", seed=1, hours=3)
    chunks = list(sim.chunks())
    gain = np.frombuffer(sim.calibration_record[4:], "<u2").reshape(16, 16) / 10000.0
    frames = [f for c in chunks for f in c.frames]
    for f in frames[:200]:  # the bulk reading below agrees with the host decoder
        d = decode_frame(f)
        assert (d.rows, d.cols, d.first, d.cells) == (16, 16, 128 * (d.header.seq % 2),
                                                                 f[20:-2])
    head, raw = headers(frames)
    assert (head["fragment"][0::2] == 0x02).all() and (head["fragment"][1::2] == 0x12).all()
    assert (head["ticks"][0::2] == head["ticks"][1::2]).all()
    kpa = np.hstack([raw[0::2, 20:-2], raw[1::2, 20:-2]]).reshape(-1, 16, 16) * gain
    sec = (head["ticks"][0::2] / 32768).astype(int)
    per_s = pd.DataFrame({"sec": sec, "left": kpa[:, :, :8].sum((1, 2)),
                          "right": kpa[:, :, 8:].sum((1, 2)), "peak": kpa.max((1, 2)),
                          "loaded": (kpa > 2).sum((1, 2))}).groupby("sec").mean()
    truth = pd.concat([c.truth for c in chunks], ignore_index=True)
    return truth.assign(sec=np.arange(len(truth))).merge(per_s, on="sec"), sim


def test_mat_scans_show_seat_load_asymmetry_and_objects(mat):
    s, sim = mat
    assert len(sim.calibration_record) == 516
    sitting = s[s.occupied]
    assert 18 < sitting.peak.median() < 35
    away = ~s.occupied & ~s.object_on_seat
    steady = away & away.shift(2, fill_value=True) & away.shift(-2, fill_value=True)
    empty = s[steady]  # seconds at least 2 s from a sit-down or stand-up
    assert len(empty) and empty.peak.max() < 2.5 and (empty.loaded == 0).all()
    obj = s[s.object_on_seat & s.object_on_seat.shift(2) & s.object_on_seat.shift(-2)]
    assert len(obj) and obj.peak.min() > 3 and obj.loaded.max() <= 12
    calm = sitting[(sitting.crossed == "none") & ~sitting.shifting]
    si = (calm.left - calm.right) / (calm.left + calm.right)
    assert np.corrcoef(calm.lean_deg, si)[0, 1] > 0.8
    crossed_right = sitting[(sitting.crossed == "right") & ~sitting.shifting]
    assert (crossed_right.left > crossed_right.right).mean() > 0.95  # bottom (left) leg loaded


# ------------------------------------------------------------------ device and faults

def test_clean_run_has_contiguous_seq_ticks_and_latency():
    r = run(sensor="thigh-imu", seed=1, hours=0.25)
    decoded = [decode_frame(f) for f in r["frames"]]
    assert len(decoded) == 900 * 5
    assert [d.header.seq for d in decoded] == list(range(4500))
    assert decoded[0].header.flags & FLAG_RESYNC and not decoded[1].header.flags & FLAG_RESYNC
    ticks = np.array([d.header.ticks for d in decoded])
    assert set(np.diff(ticks)) <= {6553, 6554}  # 10 samples at 50 Hz = 6553.6 ticks
    np.testing.assert_allclose(r["sent_at"] - START, ticks / 32768 + 10 / 50, atol=1 / 32768)
    latency = r["host_times"] - r["sent_at"]
    assert latency.min() >= 0.0075 and latency.max() <= 0.050 + 1e-9
    assert np.all(np.diff(r["host_times"]) >= 0)
    assert r["link"] == [(START, "started"), (START + 900, "stopped")]
    assert r["battery"][0] == (START, 100)


def test_drops_remove_frames_and_leave_exact_seq_jumps():
    clean = run(sensor="thigh-imu", seed=3, hours=0.5)
    lossy = run(sensor="thigh-imu", seed=3, hours=0.5, faults=Faults(drop_rate=0.1))
    seqs = [decode_frame(f).header.seq for f in lossy["frames"]]
    assert 0.08 < 1 - len(seqs) / len(clean["frames"]) < 0.12
    by_seq = dict(zip(range(len(clean["frames"])), clean["frames"]))
    assert all(by_seq[s] == f for s, f in zip(seqs, lossy["frames"]))
    assert np.all(np.diff(seqs) >= 1) and max(np.diff(seqs)) >= 2


def test_disconnect_advances_seq_and_reports_link_events():
    faults = Faults(disconnects=[(600.0, 120.0)])
    r = run(sensor="thigh-imu", seed=1, hours=0.5, faults=faults)
    decoded = [decode_frame(f) for f in r["frames"]]
    seqs = np.array([d.header.seq for d in decoded])
    gap = np.flatnonzero(np.diff(seqs) > 1)
    assert gap.size == 1
    assert seqs[gap[0] + 1] - seqs[gap[0]] - 1 == 120 * 5  # 5 frames/s lost for 120 s
    after = r["sent_at"][gap[0] + 1]
    assert START + 720 <= after < START + 720.2 and r["sent_at"][gap[0]] < START + 600
    assert decoded[gap[0] + 1].header.flags & FLAG_RESYNC
    assert not any(d.header.flags & FLAG_RESYNC for d in decoded[1:gap[0] + 1])
    assert [e for e in r["link"] if e[1] in ("disconnected", "connected")] == [
        (START + 600, "disconnected"), (START + 720, "connected")]
    assert len(r["truth"]) == 1800  # the body goes on


def test_malformed_frames_fail_crc_and_keep_good_seqs():
    r = run(sensor="pressure", seed=1, hours=0.1, faults=Faults(malformed_every=25))
    good, bad = [], []
    for f in r["frames"]:
        try:
            good.append(decode_frame(f).header.seq)
        except FrameError as exc:
            assert "CRC" in str(exc)
            bad.append(int.from_bytes(f[4:8], "little"))
    assert bad and all((s + 1) % 25 == 0 for s in bad)
    assert sorted(good + bad) == list(range(len(r["frames"])))


def test_drift_scales_ticks_and_sampling():
    r = run(sensor="thigh-imu", seed=1, hours=1, faults=Faults(drift_ppm=200.0))
    decoded = [decode_frame(f) for f in r["frames"]]
    ticks = np.array([d.header.ticks for d in decoded], dtype=np.float64)
    first_sample = r["sent_at"] - 10 / (50 * (1 + 200e-6))
    np.testing.assert_allclose(ticks, np.rint((first_sample - START) * (1 + 200e-6) * 32768),
                               atol=1)
    assert len(decoded) == int(3600 * 5 * (1 + 200e-6))


def test_multi_day_stops_overnight_without_advancing_seq():
    r = run(sensor="thigh-imu", seed=1, days=2, hours=9)
    head, _ = headers(r["frames"])
    np.testing.assert_array_equal(head["seq"], np.arange(len(head)))
    first_day2 = np.flatnonzero(r["sent_at"] >= START + 86400)[0]
    assert first_day2 == 8 * 3600 * 5
    resync = np.flatnonzero(head["flags"] & FLAG_RESYNC)
    assert resync.tolist() == [0, first_day2]
    day2 = decode_frame(r["frames"][first_day2]).header
    assert day2.ticks == round(86400 * 32768) % 2**32 and day2.seq == first_day2
    assert [e[1] for e in r["link"]] == ["started", "stopped", "started", "stopped"]
    assert r["link"][2] == (START + 86400, "started")
    assert r["link"][3] == (START + 86400 + 3600, "stopped")
    assert len(r["truth"]) == 9 * 3600
    assert r["truth"].t.iloc[8 * 3600] == START + 86400


def test_low_battery_flags_and_dies():
    r = run(sensor="thigh-imu", seed=1, hours=5, faults=Faults(low_battery=True))
    low = (headers(r["frames"])[0]["flags"] & FLAG_LOW_BATTERY) != 0
    offsets = r["sent_at"] - START
    assert not low[offsets < 2.4 * 3600].any() and low[offsets > 2.6 * 3600].all()
    assert 4 * 3600 - 1 < offsets.max() <= 4 * 3600 + 1e-6  # 40 % at 10 %/h
    assert r["link"][-1] == (START + 4 * 3600, "stopped")
    levels = [p for _, p in r["battery"]]
    assert levels[0] == 40 and levels[-1] == 0 and levels == sorted(levels, reverse=True)
    assert len(r["truth"]) == 5 * 3600


def test_identity_and_config():
    sim = SimulatedSensor(sensor="thigh-imu", seed=5)
    assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", sim.address)
    assert int(sim.address[:2], 16) >= 0xC0
    assert sim.name == "sitload-thigh-" + sim.device_info["serial"][-4:]
    assert sim.device_info["model"] == "sitload-thigh"
    assert set(sim.device_info) == {"manufacturer", "model", "serial", "firmware", "hardware"}
    assert SimulatedSensor(sensor="thigh-imu", seed=5).address == sim.address
    assert SimulatedSensor(sensor="thigh-imu", seed=6).address != sim.address
    assert sim.config_record == bytes([1, 1, 1, 2, 0xF4, 0x01, 2, 3, 0, 0, 10, 1])
    assert sim.calibration_record == b""
    mat = SimulatedSensor(sensor="pressure", seed=5)
    assert mat.config_record == bytes([1, 3, 3, 0, 100, 0, 0, 0xFF, 16, 16, 1, 1])
    assert mat.name.startswith("sitload-mat-")


@pytest.mark.parametrize("kw", [dict(scenario="nap-day"), dict(sensor="wrist"), dict(days=0),
                                dict(hours=-1)])
def test_bad_arguments_raise_config_error(kw):
    with pytest.raises(ConfigError):
        SimulatedSensor(**kw)


def test_bad_faults_raise_config_error():
    with pytest.raises(ConfigError):
        Faults(drop_rate=1.5)
    with pytest.raises(ConfigError):
        Faults(disconnects=[(10.0, 0.0)])
