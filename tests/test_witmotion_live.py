"""The WitMotion live path end to end: a simulated WitMotion sensor (Bumble GATT peripheral on the
virtual radio) reached through bleak, set up by the WitMotion profile, decoded, recorded and
replayed through the same decoder."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from sitload.firmware_sim import Faults, SimulatedSensor
from sitload.sensor_ingest.devices.witmotion import SAVE, UNLOCK, rate_command
from sitload.sensor_ingest.recording import Recording, RecordingWriter
from sitload.sensor_ingest.replay import DeviceReplay
from sitload.services.bluetooth import monitor_simulated, profile
from sitload.vocab import SensorKind

FAST = 600.0  # x real time (the simulated clock slows down when the CPU cannot keep up)


def _stream(tmp_path, sim, *, link_options=None, **peripheral_options):
    path = tmp_path / "witmotion.sitload"
    with RecordingWriter(path, meta={"source": "ble"}) as rec:
        [link], [peripheral] = asyncio.run(monitor_simulated(
            [sim], rec, speed=FAST, keep_sent=True, device="witmotion",
            link_options=link_options, peripheral_options=peripheral_options))
    return path, link, peripheral


def _replayed(path):
    with Recording(path) as rec:
        replay = DeviceReplay.of(rec)
        batches = list(replay.batches())
        return replay, batches, [f for _, _, fs in rec.iter_frames(replay.device.id) for f in fs]


def test_a_dropped_link_reconnects_keeps_the_rate_and_replay_stamps_within_milliseconds(tmp_path):
    sim = SimulatedSensor("desk-day", "hip-imu", seed=1, hours=4 / 60,
                          faults=Faults(disconnects=[(90.0, 30.0)]))
    path, link, peripheral = _stream(tmp_path, sim)

    # the sensor was set to 50 Hz (from its factory 10 Hz) and saved, on both connections
    assert link.status.connects == 2
    setup = [UNLOCK, rate_command(50), SAVE]
    assert [c for c in peripheral.commands if c in setup] == setup * 2
    assert peripheral.rate_hz == 50.0 and peripheral.saved_rate_code == 0x08
    # what the sensor sent is what the recording holds, register replies beside it
    replay, batches, recorded = _replayed(path)
    assert [f for f in recorded if f[1] == 0x61] == peripheral.sent
    assert sum(f[1] == 0x71 for f in recorded) == 2  # a battery reading per connection
    assert replay.device.kind == SensorKind.HIP_IMU
    assert replay.device.info == {"family": "witmotion", "rate_hz": "50"}
    assert link.status.battery == 100
    # 4 minutes less the 30 s out of range, at 50 Hz; the silence is one gap, not filled in
    t = np.concatenate([b.t for b in batches])
    assert len(t) == len(peripheral.sample_times) == pytest.approx(210 * 50, abs=60)
    [gap] = replay.decoder.gaps
    assert gap.start == pytest.approx(sim.start_utc + 90, abs=1.0)
    assert gap.duration_s == pytest.approx(30.0, abs=2.0)
    assert replay.decoder.stats.frames_bad == 0
    # receive-time stamps against the true sample times: connection-interval batching removed
    true = np.array(peripheral.sample_times)
    with Recording(path) as rec:
        received = np.array([h for _, hs, fs in rec.iter_frames(1) for h, f in zip(hs, fs)
                             if f[1] == 0x61])
    error = (t - true) - np.median(t - true)
    raw = (received - true) - np.median(received - true)
    assert np.sqrt(np.mean(error ** 2)) < 0.004 < np.sqrt(np.mean(raw ** 2))
    assert np.all(np.diff(t) > 0)


def test_a_sensor_that_ignores_the_rate_command_is_measured_and_named(tmp_path):
    sim = SimulatedSensor("desk-day", "thigh-imu", seed=2, hours=1.5 / 60)
    _, link, peripheral = _stream(tmp_path, sim, obey_rate=False)
    assert peripheral.rate_hz == 10.0
    assert link.decoder.measured_rate_hz == pytest.approx(10.0, rel=0.02)
    assert link.status.note == "streams 10.0 Hz, not the 50 Hz asked for"


def test_a_sensor_silent_while_connected_is_a_gap_then_a_reconnect(tmp_path):
    sim = SimulatedSensor("desk-day", "hip-imu", seed=3, hours=3 / 60)
    path, link, peripheral = _stream(tmp_path, sim, silences=[(60.0, 40.0)])
    assert link.status.connects == 2
    with Recording(path) as rec:
        events = list(rec.link_events(link.device_id)["event"])
    assert events[:3] == ["connected", "silent", "disconnected"] and events.count("connected") == 2
    [gap] = link.decoder.gaps
    assert gap.duration_s == pytest.approx(40.0, abs=2.0)


def test_the_rate_asked_for_is_the_one_set(tmp_path):
    sim = SimulatedSensor("desk-day", "hip-imu", seed=1, hours=1 / 60)
    _, link, peripheral = _stream(tmp_path, sim,
                                  link_options={"profile": profile("witmotion", "hip-imu", 20.0)})
    assert peripheral.rate_hz == 20.0
    assert link.decoder.measured_rate_hz == pytest.approx(20.0, rel=0.02)
    assert len(peripheral.sample_times) == pytest.approx(60 * 20, abs=25)
    assert link.status.note == ""
