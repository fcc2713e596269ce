"""Recorded frames decoded as arrays give what decoding them one notification at a time gives,
bit for bit: samples, times, gaps, decode stats and the device clock, on random frame streams with
faults (drops, duplicates, reorders, truncation, bad CRC, garbage, tick and sequence wraps, long
silences, resyncs, a change of layout), of IMUs and of mats."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sitload.firmware_sim.frame_encoder import encode_imu_frames, encode_mat_scans
from sitload.sensor_ingest.frame_codec import crc16_ccitt_false, crc16_rows
from sitload.sensor_ingest.joined_frames import JoinedFrames
from sitload.sensor_ingest.stream_decoder import DeviceDecoder

RATE_DHZ = 500
PER_FRAME = 10
FRAME_S = PER_FRAME / 50
WRAP = 1 << 32
T0 = 1_772_438_400.0
FAULTS = ("drop", "duplicate", "swap", "truncate", "flip", "garbage")


@st.composite
def frame_streams(draw):
    """(frames, host times) of one IMU device with faults; runs between faults are long enough
    for the decoder to take them as arrays."""
    n = draw(st.integers(20, 260))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    device_s = np.arange(n) * FRAME_S
    flags = np.zeros(n, dtype=np.int64)
    silence_at = draw(st.none() | st.integers(1, n - 1))
    if silence_at is not None:    # the device stops, or goes out of reach, for a while
        device_s[silence_at:] += draw(st.sampled_from([0.3, 5.0, 600.0, 20 * 3600.0, 40 * 3600.0]))
        if draw(st.booleans()):
            flags[silence_at] |= 0x04     # RESYNC
    if draw(st.booleans()):
        flags[draw(st.integers(0, n - 1)):] |= 0x02    # LOW_BATTERY from some frame on
    first_tick = draw(st.sampled_from([0, WRAP - 3 * 32768, WRAP - 40 * 32768]))
    ticks = np.round(first_tick + device_s * 32768).astype(np.int64) % WRAP
    first_seq = draw(st.sampled_from([0, WRAP - 30]))
    seq = (first_seq + np.arange(n)) % WRAP
    accel = rng.normal(0, 0.7, (n, PER_FRAME, 3))
    gyro = rng.normal(0, 40, (n, PER_FRAME, 3))
    switch = draw(st.none() | st.integers(1, n - 1))    # the gyro is switched off from here
    frames = encode_imu_frames(1, seq, ticks, flags, accel, gyro, RATE_DHZ)
    if switch is not None:
        frames[switch:] = encode_imu_frames(1, seq[switch:], ticks[switch:], flags[switch:],
                                            accel[switch:], None, RATE_DHZ)
    drift = draw(st.sampled_from([0.0, 80e-6, -150e-6]))
    latency = rng.exponential(0.02, n)
    host = list(T0 + (device_s + FRAME_S) * (1 + drift) + latency)
    faults = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(FAULTS)),
                           max_size=8))
    return with_faults(frames, host, faults, rng)


def with_faults(frames: list[bytes], host: list[float], faults, rng) -> tuple[list, list]:
    """``frames`` and their receive times with each (index, fault) of ``faults`` done."""
    for i, fault in sorted(faults, reverse=True):
        if i >= len(frames):
            continue
        if fault == "drop":
            del frames[i], host[i]
        elif fault == "duplicate":
            frames.insert(i + 1, frames[i])
            host.insert(i + 1, host[i] + 0.001)
        elif fault == "swap" and i + 1 < len(frames):
            frames[i], frames[i + 1] = frames[i + 1], frames[i]
        elif fault in ("truncate", "flip") and not frames[i]:   # already truncated to nothing
            continue
        elif fault == "truncate":
            frames[i] = frames[i][:int(rng.integers(0, len(frames[i])))]
        elif fault == "flip":
            data = bytearray(frames[i])
            data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
            frames[i] = bytes(data)
        elif fault == "garbage":
            frames[i] = rng.integers(0, 256, len(frames[i]), dtype=np.uint8).tobytes()
    return frames, host


def outcome(dec: DeviceDecoder, batches) -> dict:
    """Everything a decoder gave and holds, in a form that compares exactly (batch boundaries
    aside: the per-frame path makes a batch of every frame)."""
    def column(name):
        parts = [np.full((len(b), 3), np.nan) if getattr(b, name) is None else getattr(b, name)
                 for b in batches]
        return np.concatenate(parts).tobytes() if parts else b""

    marks, at = [], 0
    for b in batches:
        if b.gap_before_s or b.missing_frames:
            marks.append((at, b.gap_before_s, b.missing_frames))
        at += len(b)
    clock = dec.clock
    return {"t": np.concatenate([b.t for b in batches]).tobytes() if batches else b"",
            "accel": column("accel"), "gyro": column("gyro"), "marks": marks,
            "scans": [(b.pressure[k].shape, b.pressure[k].tobytes()) for b in batches
                      if b.pressure is not None for k in range(len(b))],
            "stats": dec.stats, "gaps": dec.gaps,
            "clock": (list(clock._minima), clock._window, clock._window_min, clock._slope,
                      clock._intercept),
            "ticks": repr(vars(dec._ticks)), "next_seq": dec._next_seq}


def assert_decoded_alike(stream: tuple[list, list], chunk: int, joined: bool) -> None:
    """The stream fed ``chunk`` frames at a time, as a list or ``joined`` as a recording's
    blocks are read, decodes as it does one notification at a time."""
    frames, host = stream
    if joined:
        frames = JoinedFrames.of(b"".join(frames), [len(f) for f in frames])
    bulk = DeviceDecoder()
    batches = [b for i in range(0, len(frames), chunk)
               for b in bulk.feed_many(frames[i:i + chunk], host[i:i + chunk])]
    single = DeviceDecoder()
    one_by_one = [b for f, h in zip(frames, host) for b in single.feed(f, h)]
    assert outcome(bulk, batches) == outcome(single, one_by_one)


@settings(max_examples=150, deadline=None)
@given(stream=frame_streams(), chunk=st.integers(1, 300), joined=st.booleans())
def test_array_decoding_equals_decoding_one_notification_at_a_time(stream, chunk, joined):
    assert_decoded_alike(stream, chunk, joined)


@st.composite
def mat_streams(draw):
    """(frames, host times) of one mat with faults (and fragments with ticks not of their scan):
    scans of one or two shapes, each sent in one to three fragments of (not always) equal
    size."""
    n = draw(st.integers(10, 160))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    device_s = np.arange(n) * 0.1
    flags = np.zeros(n, dtype=np.int64)
    flags[0] = 0x04
    silence_at = draw(st.none() | st.integers(1, n - 1))
    if silence_at is not None:
        device_s[silence_at:] += draw(st.sampled_from([0.7, 600.0, 40 * 3600.0]))
        if draw(st.booleans()):
            flags[silence_at] |= 0x04
    if draw(st.booleans()):
        flags[draw(st.integers(0, n - 1)):] |= 0x02
    ticks = np.round(draw(st.sampled_from([0, WRAP - 32768])) + device_s * 32768).astype(np.int64) % WRAP
    switch = draw(st.integers(1, n))      # a second shape from this scan on (n: none)
    frames = []
    for a, b, shape in ((0, switch, (4, 4)), (switch, n, (3, 5))):
        if a < b:
            per = draw(st.sampled_from([None, 6, 8, 16]))
            cells = rng.integers(0, 256, (b - a, *shape), dtype=np.uint8)
            fragments = -(-cells[0].size // per) if per else 1
            frames += encode_mat_scans(len(frames) + np.arange(b - a) * fragments, ticks[a:b],
                                       flags[a:b], cells, 100, per)
    host = list(T0 + np.interp(np.arange(len(frames)), np.linspace(0, len(frames) - 1, n),
                               device_s + 0.1) + rng.exponential(0.02, len(frames)))
    for i in draw(st.lists(st.integers(0, len(frames) - 1), max_size=2)):
        # a whole frame, but with ticks of its own: not a fragment of its scan
        data = bytearray(frames[i][:-2])
        data[8:12] = ((int.from_bytes(data[8:12], "little") + 1) % WRAP).to_bytes(4, "little")
        frames[i] = bytes(data) + crc16_ccitt_false(bytes(data)).to_bytes(2, "little")
    faults = draw(st.lists(st.tuples(st.integers(0, len(frames) - 1), st.sampled_from(FAULTS)),
                           max_size=8))
    return with_faults(frames, host, faults, rng)


@settings(max_examples=150, deadline=None)
@given(stream=mat_streams(), chunk=st.integers(1, 300), joined=st.booleans())
def test_mat_scans_decoded_as_arrays_equal_decoding_one_notification_at_a_time(stream, chunk,
                                                                              joined):
    assert_decoded_alike(stream, chunk, joined)


def test_a_run_with_faults_inside_is_taken_as_arrays_around_them():
    """The array path is really taken (the stream is long and steady) and still finds the one
    corrupted and the one repeated frame in it."""
    n = 400
    accel = np.random.default_rng(3).normal(0, 0.5, (n, PER_FRAME, 3))
    frames = encode_imu_frames(1, np.arange(n), np.round(np.arange(n) * 6553.6).astype(np.int64),
                               0, accel, accel * 50, RATE_DHZ)
    host = list(T0 + (np.arange(n) + 1) * FRAME_S + 0.01)
    frames[150] = frames[150][:-1] + bytes([frames[150][-1] ^ 0x01])     # bad CRC
    frames.insert(300, frames[299])
    host.insert(300, host[299])
    dec = DeviceDecoder()
    batches = dec.feed_many(frames, host)
    assert (dec.stats.frames_ok, dec.stats.frames_bad, dec.stats.duplicates,
            dec.stats.missing_frames) == (n - 1, 1, 1, 1)
    assert dec.stats.errors_by_reason == {"bad CRC": 1}
    assert sum(len(b) for b in batches) == (n - 1) * PER_FRAME
    assert [b.missing_frames for b in batches if b.missing_frames] == [1]


@given(rows=st.lists(st.binary(min_size=0, max_size=250), min_size=1, max_size=20))
def test_crc_over_byte_columns_equals_the_crc_of_each_frame(rows):
    length = len(rows[0])
    same = [r[:length].ljust(length, b"\x5a") for r in rows]
    table = np.frombuffer(b"".join(same), dtype=np.uint8).reshape(len(same), length)
    assert crc16_rows(table).tolist() == [crc16_ccitt_false(r) for r in same]


def test_joined_frames_are_the_frames_and_their_rows():
    """A recording's block of frames read as one bytes object: each frame, slices, masks, and
    frames of one length as rows: a view where they lie at even steps (one after another, or
    with frames of one size between them, as a mat's fragments of one place in the scan),
    gathered where they do not."""
    frames = [bytes([k]) * (4 if k % 2 == 0 else 3) for k in range(8)]
    joined = JoinedFrames.of(b"".join(frames), [len(f) for f in frames])
    assert list(joined) == frames and len(joined) == 8 and joined[-1] == frames[-1]
    assert list(joined[2:7]) == frames[2:7]
    assert list(joined[np.arange(8) % 3 == 0]) == [frames[0], frames[3], frames[6]]
    even = joined[0::2]
    alone = JoinedFrames.of(b"".join(frames[0::2]), [4] * 4)[1:3]
    uneven = joined[np.array([0, 2, 6])]
    for picked, rows in ((even, even.rows(4)), (alone, alone.rows(4)),
                         (uneven, uneven.rows(4)), (joined[:0], joined[:0].rows(4))):
        assert rows.shape == (len(picked), 4) and rows.tolist() == [list(f) for f in picked]
    assert not even.rows(4).flags.owndata and not alone.rows(4).flags.owndata    # views
    assert uneven.rows(4).flags.owndata
