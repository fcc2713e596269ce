"""DeviceDecoder: sequence gaps, duplicates, bad frames, mat fragments, chunk-independence, and
round trips through the simulator's (independently written) firmware encoder."""

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitload.firmware_sim.frame_encoder import encode_imu_frames, encode_mat_scans
from sitload.sensor_ingest.stream_decoder import DeviceDecoder

RATE_DHZ = 500  # 50 Hz
PER_FRAME = 10
TICKS_PER_FRAME = 32768 * PER_FRAME / 50  # 6553.6: firmware rounds each frame's start tick


def imu_frames(n: int, first_seq: int = 0, flags=0, first_tick: int = 0, accel=None):
    seq = first_seq + np.arange(n)
    ticks = np.round(first_tick + np.arange(n) * TICKS_PER_FRAME).astype(np.int64)
    if accel is None:
        accel = np.tile([0.0, 0.0, 1.0], (n, PER_FRAME, 1))
    gyro = np.zeros_like(accel)
    return encode_imu_frames(1, seq, ticks, flags, accel, gyro, RATE_DHZ)


def host_times(n: int, t0: float = 1_772_438_400.0) -> list[float]:
    return [t0 + (i + 1) * PER_FRAME / 50 + 0.01 for i in range(n)]


def test_contiguous_frames_give_evenly_spaced_samples_without_gaps():
    frames = imu_frames(50)
    dec = DeviceDecoder()
    batches = dec.feed_many(frames, host_times(50))
    t = np.concatenate([b.t for b in batches])
    assert t.size == 500 and dec.gaps == []
    np.testing.assert_allclose(np.diff(t), 0.02, atol=4e-5)  # one tick is 31 us
    np.testing.assert_allclose(np.concatenate([b.accel for b in batches]).mean(0), [0, 0, 1],
                               atol=1e-3)
    assert dec.stats.frames_ok == 50 and dec.stats.missing_frames == 0


def test_lost_frames_are_a_gap_with_the_exact_count_and_no_filled_samples():
    frames = imu_frames(100)
    times = host_times(100)
    kept = [i for i in range(100) if not 40 <= i < 47]  # 7 frames lost
    dec = DeviceDecoder()
    batches = dec.feed_many([frames[i] for i in kept], [times[i] for i in kept])
    assert [g.missing_frames for g in dec.gaps] == [7]
    assert dec.stats.missing_frames == 7
    gap = dec.gaps[0]
    assert abs(gap.duration_s - 7 * 0.2) < 0.02
    assert sum(len(b) for b in batches) == 93 * PER_FRAME
    after = next(b for b in batches if b.missing_frames)
    assert after.missing_frames == 7 and abs(after.gap_before_s - gap.duration_s) < 1e-9


def test_duplicates_are_skipped_and_bad_frames_counted_logged_and_skipped(caplog):
    frames = imu_frames(10)
    bad = bytearray(frames[5])
    bad[20] ^= 0xFF  # payload byte flipped: CRC fails
    sequence = frames[:5] + [frames[4], bytes(bad)] + frames[6:]
    dec = DeviceDecoder(source="test")
    with caplog.at_level(logging.WARNING, logger="sitload.ingest"):
        batches = dec.feed_many(sequence, host_times(len(sequence)),
                                [f"frame {i}" for i in range(len(sequence))])
    assert dec.stats.duplicates == 1 and dec.stats.frames_bad == 1
    assert dec.stats.missing_frames == 1  # the corrupt frame's samples are lost, not invented
    assert sum(len(b) for b in batches) == 9 * PER_FRAME
    assert any("bad CRC" in r.message and "frame 6" in r.message for r in caplog.records)


def test_resync_after_a_stop_is_a_stopped_gap_with_no_missing_frames():
    first = imu_frames(20)
    later = imu_frames(20, first_seq=20, flags=[0x04] + [0] * 19, first_tick=round(20 * TICKS_PER_FRAME) + 32768 * 600)
    dec = DeviceDecoder()
    dec.feed_many(first + later, host_times(20) + host_times(20, 1_772_438_400.0 + 604))
    assert [(g.reason, g.missing_frames) for g in dec.gaps] == [("stopped", 0)]
    assert abs(dec.gaps[0].duration_s - 600) < 0.1


def test_sequence_and_ticks_wrap_without_a_gap():
    frames = imu_frames(6, first_seq=2**32 - 3, first_tick=2**32 - 2 * TICKS_PER_FRAME)
    dec = DeviceDecoder()
    batches = dec.feed_many(frames, host_times(6))
    t = np.concatenate([b.t for b in batches])
    assert dec.gaps == [] and dec.stats.missing_frames == 0
    np.testing.assert_allclose(np.diff(t), 0.02, atol=4e-5)  # one tick is 31 us


def test_feeding_one_frame_at_a_time_equals_feeding_all_at_once():
    """Long runs of alike frames are decoded together: a lost, a corrupted and a repeated frame
    inside them are still found as one frame at a time finds them."""
    frames = imu_frames(300, accel=np.random.default_rng(2).normal(0, 0.5, (300, PER_FRAME, 3)))
    times = host_times(300)
    del frames[100:103], times[100:103]
    frames[150] = frames[150][:-1] + bytes([frames[150][-1] ^ 0xFF])  # bad CRC
    frames.insert(200, frames[199])  # a duplicate
    times.insert(200, times[199])
    bulk = DeviceDecoder()
    whole = bulk.feed_many(frames, times)
    single = DeviceDecoder()
    parts = [b for f, h in zip(frames, times) for b in single.feed(f, h)]
    for field in ("t", "accel", "gyro"):
        np.testing.assert_array_equal(np.concatenate([getattr(b, field) for b in whole]),
                                      np.concatenate([getattr(b, field) for b in parts]))
    assert sum(b.missing_frames for b in whole) == sum(b.missing_frames for b in parts) == 4
    assert bulk.stats == single.stats and bulk.stats.frames_bad == bulk.stats.duplicates == 1


def test_mat_fragments_reassemble_and_a_scan_missing_a_fragment_is_dropped_whole():
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 256, size=(5, 16, 16), dtype=np.uint8)
    frames = encode_mat_scans(np.arange(5) * 2, np.arange(5) * 3277, 0, cells, 100)
    assert len(frames) == 10 and all(len(f) <= 244 for f in frames)
    gain = np.full((16, 16), 0.25)
    dec = DeviceDecoder(calibration=gain)
    kept = frames[:5] + frames[6:]  # scan 2 loses its second fragment
    batches = dec.feed_many(kept, host_times(len(kept)))
    pressure = np.concatenate([b.pressure for b in batches])
    assert dec.stats.scans_dropped == 1 and dec.stats.missing_frames == 1
    np.testing.assert_allclose(pressure, cells[[0, 1, 3, 4]] * 0.25)


@settings(max_examples=60, deadline=None)
@given(accel=st.lists(st.tuples(*[st.floats(-7.99, 7.99)] * 3), min_size=1, max_size=18),
       seq=st.integers(0, 2**32 - 1), ticks=st.integers(0, 2**32 - 1),
       rate_dhz=st.integers(100, 2000))
def test_imu_encode_decode_round_trip(accel, seq, ticks, rate_dhz):
    values = np.array(accel)[None, :, :]
    frame = encode_imu_frames(2, seq, ticks, 0, values, None, rate_dhz)[0]
    (batch,) = DeviceDecoder().feed(frame, 1_772_438_400.0)
    np.testing.assert_allclose(batch.accel, values[0], atol=8 / 32768)
    assert batch.first_seq == seq and batch.gyro is None


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 24), cols=st.integers(1, 24), seed=st.integers(0, 1000))
def test_mat_encode_decode_round_trip_for_any_geometry(rows, cols, seed):
    cells = np.random.default_rng(seed).integers(0, 256, size=(2, rows, cols), dtype=np.uint8)
    frames = encode_mat_scans([0, 100], [0, 3277], 0, cells, 100)
    dec = DeviceDecoder(calibration=np.ones((rows, cols)))
    batches = dec.feed_many(frames, host_times(len(frames)))
    np.testing.assert_array_equal(np.concatenate([b.pressure for b in batches]), cells)


def test_frames_queued_at_a_connection_and_received_at_once_never_step_back():
    """Ten frames (2 s of samples) arrive in one burst, then the stream runs at its pace: each
    frame of the burst tells the clock the device is further behind than thought, and would land
    on the samples already given; they take the last time given instead, alike fed one
    notification at a time or as a run, and the stream after the burst keeps its true times."""
    n = 40
    accel = np.tile([0.0, 0.0, 1.0], (n, 10, 1))
    ticks = np.round(np.arange(n) * 0.2 * 32768).astype(np.int64)
    frames = encode_imu_frames(1, np.arange(n), ticks, 0, accel, None, RATE_DHZ)
    t0 = 1_772_438_400.0
    host = np.r_[np.full(10, t0 + 2.0), t0 + 2.0 + 0.2 * np.arange(1, n - 9)]
    alone, run = DeviceDecoder(), DeviceDecoder()
    one_by_one = np.concatenate([b.t for f, h in zip(frames, host) for b in alone.feed(f, h)])
    at_once = np.concatenate([b.t for b in run.feed_many(frames, host)])
    assert len(one_by_one) == n * 10 and (np.diff(one_by_one) >= 0).all()
    np.testing.assert_array_equal(one_by_one, at_once)
    after = one_by_one[100:]                       # the frames that came at their pace
    assert np.diff(after) == pytest.approx(0.02, abs=1e-4)
    assert after[-1] == pytest.approx(t0 + 2.0 + 0.2 * (n - 10) - 0.02, abs=1e-3)
