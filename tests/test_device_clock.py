"""Device tick -> UTC mapping: wrap-around and drift correction."""

import numpy as np
import pytest

from sitload.sensor_ingest.device_clock import DeviceClock, TickUnwrapper


def test_ticks_unwrap_across_the_32_bit_wrap():
    unwrap = TickUnwrapper()
    assert unwrap.seconds(0xFFFF_FF00) == 0xFFFF_FF00 / 32768
    assert unwrap.seconds(0x100) == (2**32 + 0x100) / 32768


@pytest.mark.parametrize("silence_h", [10.0, 20.0, 30.0, 50.0, 80.0, 200.0])
def test_receive_times_count_the_wraps_across_a_long_silence(silence_h):
    """A device out of reach for hours or days: its ticks went round 0-5 times (36.4 h each),
    which a step alone cannot tell beyond half the range; host times are 0.2 s late (latency)."""
    unwrap = TickUnwrapper()
    start = 0xF000_0000
    assert unwrap.seconds(start, 1000.0) == start / 32768
    device_s = start / 32768 + silence_h * 3600
    ticks = round(device_s * 32768) % 2**32
    assert unwrap.seconds(ticks, 1000.2 + silence_h * 3600) == pytest.approx(device_s)
    assert unwrap.seconds(ticks + 32768, 1001.2 + silence_h * 3600) == \
        pytest.approx(device_s + 1)


def test_drift_is_estimated_and_removed_from_latency_jittered_receive_times():
    rng = np.random.default_rng(3)
    drift_ppm = 80.0
    true_t = np.arange(0, 4 * 3600, 0.2)  # 4 h of frames at 5 per second
    device_s = 1000.0 + true_t * (1 + drift_ppm * 1e-6)  # device clock runs fast
    utc0 = 1_772_438_400.0
    host = utc0 + true_t + rng.uniform(0.0075, 0.05, true_t.size)  # BLE latency is never negative
    clock = DeviceClock()
    errors = []
    for d, h, t in zip(device_s, host, true_t):
        clock.observe(d, h)
        errors.append(d + clock.offset(d) - (utc0 + t))
    errors = np.abs(np.array(errors))
    assert abs(clock.drift_ppm - drift_ppm) < 5
    # Uncorrected, the clock would be 80 ppm x 4 h = 1.15 s off by the end.
    assert errors[-1000:].max() < 0.03


def test_a_clock_without_drift_or_latency_maps_to_the_microsecond():
    """Frames whose receive times are their device times plus a UTC offset (an import from a
    file of sample times): the fit finds no drift and maps every frame to its own time. The
    offsets are about 1.8e9 s; a fit that does not centre them first loses digits (np.polyfit
    found a drift of 0.012 ppm here and mapped frames tens of microseconds off)."""
    utc0 = 1_772_438_400.0318418
    device_s = 6000.4 + np.arange(0, 3 * 3600, 0.2)
    clock = DeviceClock()
    offsets = clock.observe_many(device_s, device_s + utc0, at=device_s)
    assert abs(clock.drift_ppm) < 1e-6
    assert np.abs(device_s + offsets - (device_s + utc0)).max() < 1e-6
