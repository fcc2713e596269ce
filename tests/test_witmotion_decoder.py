"""The WitMotion decoder against the maker's definition (golden packets of docs/witmotion.md), its
bad-input handling, and receive-time stamping."""

from __future__ import annotations

import importlib
import struct

import numpy as np
import pytest

from golden import DOCS, golden
from sitload.sensor_ingest.devices import PROFILES, recorded_profile
from sitload.sensor_ingest.devices.witmotion import (
    SAVE, UNLOCK, WitMotionDecoder, WitMotionProfile, battery_percent, rate_command, read_command,
    split_packets)
from sitload.sensor_ingest.receive_clock import ReceiveClock
from sitload.errors import ConfigError
from sitload.vocab import SensorKind

GOLDEN = golden("witmotion", DOCS / "witmotion.md")
DATA = [g for g in GOLDEN if "accel_g" in g["decoded"]]
REPLIES = [g for g in GOLDEN if "registers" in g["decoded"]]


def _packet(ax=0, ay=0, az=2048, wx=0, wy=0, wz=0) -> bytes:
    return bytes((0x55, 0x61)) + struct.pack("<9h", ax, ay, az, wx, wy, wz, 0, 0, 0)


@pytest.mark.parametrize("vector", DATA, ids=lambda v: v["hex"][:12])
def test_data_packets_decode_to_the_makers_values(vector):
    packets = split_packets([bytes.fromhex(vector["hex"])])
    want = vector["decoded"]
    assert packets.rejected == [] and packets.replies == []
    np.testing.assert_allclose(packets.accel_g[0], want["accel_g"], atol=1e-12)
    np.testing.assert_allclose(packets.gyro_dps[0], want["gyro_dps"], atol=1e-12)
    np.testing.assert_allclose(packets.angle_deg[0], want["angle_deg"], atol=1e-12)


@pytest.mark.parametrize("vector", REPLIES, ids=lambda v: v["hex"][:12])
def test_register_replies_decode_to_the_makers_values(vector):
    [reply] = split_packets([bytes.fromhex(vector["hex"])]).replies
    assert reply.start == vector["decoded"]["start"]
    assert list(reply.values) == vector["decoded"]["registers"]


def test_the_decoder_gives_the_golden_values_as_a_sample_batch_of_the_worn_kind():
    decoder = WitMotionDecoder(SensorKind.THIGH_IMU)
    [batch] = decoder.feed_many([bytes.fromhex(v["hex"]) for v in DATA], [100.0, 100.02])
    assert batch.kind == SensorKind.THIGH_IMU and len(batch) == 2
    np.testing.assert_allclose(batch.accel, [v["decoded"]["accel_g"] for v in DATA], atol=1e-12)
    np.testing.assert_allclose(batch.gyro, [v["decoded"]["gyro_dps"] for v in DATA], atol=1e-12)
    assert (decoder.stats.frames_ok, decoder.stats.frames_bad) == (2, 0)


def test_commands_are_the_documented_bytes():
    assert UNLOCK.hex() == "ffaa6988b5"
    assert SAVE.hex() == "ffaa000000"
    assert [rate_command(r).hex() for r in (10, 20, 50, 100, 200)] == [
        "ffaa030600", "ffaa030700", "ffaa030800", "ffaa030900", "ffaa030b00"]
    assert read_command(0x64).hex() == "ffaa276400"
    with pytest.raises(ConfigError, match="not 30"):
        rate_command(30)


def test_bad_packets_are_counted_and_skipped_with_their_reason_and_place():
    good = _packet()
    decoder = WitMotionDecoder(SensorKind.HIP_IMU)
    frames = [good, good[:13], bytes((0x55, 0x62)) + good[2:], bytes((0x54,)) + good[1:],
              good + good[:7], good + good]
    batches = decoder.feed_many(frames, [1.0, 1.02, 1.04, 1.06, 1.08, 1.1],
                                [f"frame {i}" for i in range(6)])
    assert sum(len(b) for b in batches) == 3
    assert decoder.stats.frames_ok == 3 and decoder.stats.frames_bad == 4
    assert decoder.stats.errors_by_reason == {
        "notification of 13 bytes is not whole 20-byte packets": 1,
        "notification of 27 bytes is not whole 20-byte packets": 1,
        "unknown packet type 0x62": 1, "no 0x55 header (0x54)": 1}


def test_a_battery_register_reply_sets_the_battery_and_is_not_a_sample():
    seen = []
    decoder = WitMotionDecoder(SensorKind.HIP_IMU, on_battery=seen.append)
    reply = bytes((0x55, 0x71)) + struct.pack("<H8h", 0x64, 390, 0, 0, 0, 0, 0, 0, 0)
    assert decoder.feed(reply, 5.0) == []
    assert decoder.battery == seen[0] == battery_percent(3.9) == 75
    assert decoder.replies == 1 and decoder.stats.frames_bad == 0


def _received(true_s: np.ndarray, interval_s=0.03, seed=1) -> np.ndarray:
    """Receive times of packets taken at ``true_s``: delivered at the next connection event,
    plus up to 5 ms of host latency."""
    rng = np.random.default_rng(seed)
    return np.ceil(true_s / interval_s) * interval_s + rng.uniform(0, 0.005, true_s.size)


def test_receive_stamping_removes_connection_interval_batching_and_marks_silences_as_gaps():
    true = 1000.0 + np.arange(20000) * 0.02
    true[10000:] += 60.0  # a minute of silence
    received = _received(true)
    decoder = WitMotionDecoder(SensorKind.HIP_IMU, 50.0)
    packets = [_packet()] * true.size
    batches = decoder.feed_many(packets[:777], received[:777]) + \
        decoder.feed_many(packets[777:], received[777:])
    t = np.concatenate([b.t for b in batches])
    error = t - true - np.median(t - true)
    raw = received - true - np.median(received - true)
    assert np.sqrt(np.mean(error ** 2)) < 0.003 < np.sqrt(np.mean(raw ** 2))
    assert np.all(np.diff(t) > 0)
    [gap] = decoder.gaps
    assert gap.duration_s == pytest.approx(60.0, abs=0.05)
    assert gap.missing_frames == pytest.approx(3000, abs=3)
    assert [b.gap_before_s > 0 for b in batches].count(True) == 1
    assert decoder.measured_rate_hz == pytest.approx(50.0, rel=1e-3)


def test_stamps_do_not_depend_on_how_the_packets_are_chunked():
    received = _received(500.0 + np.arange(3000) * 0.05)
    whole = np.concatenate([s.t for s in ReceiveClock(0.05).stamp(received)])
    clock = ReceiveClock(0.05)
    parts = [s.t for lo, hi in ((0, 1), (1, 250), (250, 2999), (2999, 3000))
             for s in clock.stamp(received[lo:hi])]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-9)  # 1 ns


def test_a_sensor_that_ignores_the_rate_asked_for_is_measured_and_named():
    decoder = WitMotionDecoder(SensorKind.HIP_IMU, 50.0)
    received = _received(10.0 + np.arange(300) * 0.1)  # 10 Hz, the factory default
    batches = decoder.feed_many([_packet()] * 300, received)
    assert decoder.measured_rate_hz == pytest.approx(10.0, rel=0.01)
    assert decoder.rate_note == "streams 10.0 Hz, not the 50 Hz asked for"
    assert decoder.gaps == [] and sum(len(b) for b in batches) == 300
    assert WitMotionProfile().note(decoder) == decoder.rate_note


def test_a_recorded_device_finds_its_profile_and_older_recordings_are_sitload():
    assert set(PROFILES) == {"sitload", "witmotion"}
    for family, (module, name) in PROFILES.items():    # each named where it is imported from
        assert getattr(importlib.import_module(f"sitload.sensor_ingest.devices.{module}"),
                       name).family == family
    profile = recorded_profile(SensorKind.THIGH_IMU, {"family": "witmotion", "rate_hz": "20"})
    assert profile == WitMotionProfile(SensorKind.THIGH_IMU, 20.0)
    assert recorded_profile(SensorKind.HIP_IMU, {"model": "sitload-hip"}).family == "sitload"
    with pytest.raises(Exception, match="device family 'acme' is unknown"):
        recorded_profile(SensorKind.HIP_IMU, {"family": "acme"})
    with pytest.raises(ConfigError, match="IMU"):
        WitMotionProfile(SensorKind.PRESSURE)
