"""BLE ingest end to end: simulated sensors as GATT peripherals on the Bumble virtual radio, reached
through bleak's public API (virtual-radio backend), decoded and recorded by the live ingest path."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from sitload.analytics import AnalysisConfig, analyze
from sitload.firmware_sim import Faults, SimulatedSensor
from sitload.sensor_ingest.recording import Recording, RecordingWriter
from sitload.sensor_ingest.replay import replay_batches
from sitload.vocab import SensorKind
from sitload.services.bluetooth import monitor_simulated

FAST = 1200.0  # x real time


def _stream(tmp_path, sims, speed=FAST):
    path = tmp_path / "ble.sitload"
    with RecordingWriter(path, meta={"source": "ble"}) as rec:
        links, peripherals = asyncio.run(
            monitor_simulated(sims, rec, speed=speed, keep_sent=True))
    return path, links, peripherals


def _recorded(path, device_id):
    with Recording(path) as rec:
        return [f for _, _, frames in rec.iter_frames(device_id) for f in frames]


def _sim(sensor="thigh-imu", minutes=10.0, seed=1, **faults):
    return SimulatedSensor("desk-day", sensor, seed=seed, hours=minutes / 60,
                           faults=Faults(**faults))


def test_ten_minutes_of_desk_day_arrive_complete_and_recorded_as_sent(tmp_path):
    sim = _sim()
    expected = [f for chunk in sim.chunks() for f in chunk.frames]
    path, [link], [peripheral] = _stream(tmp_path, [sim])

    assert len(expected) == 10 * 60 * 5  # 50 Hz, 10 samples a frame
    assert peripheral.sent == expected and peripheral.frames_lost == 0
    assert _recorded(path, link.device_id) == expected
    stats = link.decoder.stats
    assert (stats.frames_ok, stats.frames_bad, stats.missing_frames) == (3000, 0, 0)
    assert link.decoder.gaps == []
    assert link.status.mtu == 247 and link.status.connects == 1
    with Recording(path) as rec:
        device = rec.device(link.device_id)
        assert (device.address, device.name, device.kind) == (
            sim.address, sim.name, SensorKind.THIGH_IMU)
        assert device.info == sim.device_info
        assert device.config == sim.config_record
        assert list(rec.battery(device.id)["percent"]) == [100]
        assert list(rec.link_events(device.id)["event"]) == ["connected", "stopped"]
        # host times come from the simulated clock: never before the frame was sent
        times = np.concatenate([t for _, t, _ in rec.iter_frames(device.id)])
    sent_at = np.concatenate([c.sent_at for c in sim.chunks()])
    assert np.all(times >= sent_at - 1e-6) and np.all(np.diff(times) >= 0)


def test_out_of_range_reconnects_and_records_the_exact_gap(tmp_path):
    sim = _sim(disconnects=[(300.0, 5.0)])
    whole = sum(len(c.frames) for c in _sim().chunks())
    path, [link], [peripheral] = _stream(tmp_path, [sim], speed=600.0)

    lost_in_range = whole - len(peripheral.sent)
    assert lost_in_range == 25  # 5 s at 5 frames/s, all lost by the device being away
    assert peripheral.frames_lost == 0
    assert link.status.connects == 2
    [gap] = link.decoder.gaps
    assert gap.missing_frames == 25 and gap.reason == "lost"
    assert gap.duration_s == pytest.approx(5.0, abs=0.25)
    assert link.decoder.stats.duplicates == 0
    assert _recorded(path, link.device_id) == peripheral.sent
    with Recording(path) as rec:
        events = rec.link_events(link.device_id)
        assert list(events["event"]) == ["connected", "disconnected", "connected", "stopped"]
        batches = list(replay_batches(rec, link.device_id))
    t = np.concatenate([b.t for b in batches])
    assert np.all(np.diff(t) > 0)  # no sample twice, none out of order
    assert len(t) == (whole - 25) * 10
    [marked] = [b for b in batches if b.missing_frames]
    assert marked.missing_frames == 25 and marked.gap_before_s == pytest.approx(5.0, abs=0.25)
    [(start, end)] = analyze(SensorKind.THIGH_IMU, batches, AnalysisConfig()).gaps
    assert start == pytest.approx(gap.start, abs=1.0) and end - start == pytest.approx(5.0, abs=1.0)


def test_three_devices_at_once_each_recorded_as_sent(tmp_path):
    sims = [_sim("thigh-imu", 4.0), _sim("hip-imu", 4.0), _sim("pressure", 4.0)]
    path, links, peripherals = _stream(tmp_path, sims)

    with Recording(path) as rec:
        kinds = sorted(d.kind for d in rec.devices)
    assert kinds == [SensorKind.THIGH_IMU, SensorKind.HIP_IMU, SensorKind.PRESSURE]
    by_address = {link.device.address: link for link in links}
    for sim, peripheral in zip(sims, peripherals):
        link = by_address[sim.address]
        expected = [f for chunk in sim.chunks() for f in chunk.frames]
        assert peripheral.sent == expected
        assert _recorded(path, link.device_id) == expected
        assert link.decoder.stats.frames_bad == 0 and link.decoder.gaps == []
    assert by_address[sims[2].address].decoder.stats.samples == 4 * 60 * 10  # 10 Hz scans


def test_malformed_frame_is_counted_logged_with_its_seq_and_skipped(tmp_path, caplog):
    sim = _sim(minutes=2.0, malformed_every=250)
    with caplog.at_level(logging.WARNING, logger="sitload.ingest"):
        path, [link], [peripheral] = _stream(tmp_path, [sim])

    assert link.decoder.stats.frames_bad == 2  # seq 249 and 499 of 599
    assert link.decoder.stats.errors_by_reason == {"bad CRC": 2}
    skipped = [r.getMessage() for r in caplog.records if "frame skipped" in r.getMessage()]
    assert len(skipped) == 2 and "seq 249" in skipped[0] and "seq 499" in skipped[1]
    assert _recorded(path, link.device_id) == peripheral.sent  # recorded as received
    assert link.decoder.stats.frames_ok == len(peripheral.sent) - 2
