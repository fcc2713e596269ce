"""The analysis of a recording is the same whether its frames are decoded as arrays (how
`sitload analyze`, `report` and `flares` read a recording) or one notification at a time (how the
live path decodes): epochs, bouts, metrics, decode stats and the flare analysis, on simulated
scenarios of every sensor with lost, corrupted and late frames, clock drift and a disconnect."""

import numpy as np
import pandas as pd
import pytest

from sitload.analytics import analyze
from sitload.analytics.flares import FlareConfig, Timeline, diary_entries, flare_analysis
from sitload.firmware_sim import Faults
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay, decoder_for
from sitload.services.simulation import simulate_to_recording

FAULTS = Faults(drop_rate=0.02, drift_ppm=60.0, malformed_every=97, disconnects=((600, 90),))


def one_notification_at_a_time(rec: Recording):
    """The first device's frames fed to a fresh decoder one by one, as BLE notifications are."""
    device = rec.device()
    decoder = decoder_for(rec, device.id)

    def batches():
        for _, host, frames in rec.iter_frames(device.id):
            for frame, t in zip(frames, host):
                yield from decoder.feed(frame, t)
    return decoder, batches()


def both_ways(path):
    with Recording(path) as rec:
        replay = DeviceReplay.of(rec)
        as_arrays = analyze(replay.device.kind, replay.batches())
        decoder, batches = one_notification_at_a_time(rec)
        one_by_one = analyze(replay.device.kind, batches)
        assert replay.decoder.stats == decoder.stats
        assert replay.decoder.gaps == decoder.gaps
        entries = diary_entries(rec.diary_rows())
    return as_arrays, one_by_one, entries


def assert_same_analysis(a, b):
    pd.testing.assert_frame_equal(a.epochs, b.epochs, check_exact=True)
    assert a.bouts == b.bouts and a.gaps == b.gaps
    assert (a.sitting_s, a.breaks, a.sit_to_stand) == (b.sitting_s, b.breaks, b.sit_to_stand)
    assert a.to_json() == b.to_json()


@pytest.mark.parametrize("scenario, sensor, hours", [("desk-day", "thigh-imu", 1.0),
                                                     ("active-day", "hip-imu", 0.5),
                                                     ("desk-day", "pressure", 0.25)])
def test_array_and_per_notification_decoding_give_the_same_analysis(tmp_path, scenario, sensor,
                                                                    hours):
    path = simulate_to_recording(tmp_path / "r.sitload", scenario=scenario, sensor=sensor,
                                 seed=4, hours=hours, faults=FAULTS)
    as_arrays, one_by_one, _ = both_ways(path)
    assert len(as_arrays.epochs) > 0.9 * hours * 3600 and as_arrays.bouts
    assert_same_analysis(as_arrays, one_by_one)


def test_the_flare_analysis_is_the_same_either_way(tmp_path):
    path = simulate_to_recording(tmp_path / "ff.sitload", scenario="flare-fortnight",
                                 sensor="hip-imu", seed=2, days=2, hours=6,
                                 faults=Faults(drop_rate=0.01))
    as_arrays, one_by_one, entries = both_ways(path)
    assert len(entries) >= 4
    assert_same_analysis(as_arrays, one_by_one)
    flares = [flare_analysis(entries, Timeline.from_analysis(r), FlareConfig()).to_json()
              for r in (as_arrays, one_by_one)]
    assert flares[0] == flares[1]
    assert np.isfinite(as_arrays.sitting_s) and as_arrays.sitting_s > 0
