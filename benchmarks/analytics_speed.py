"""Analytics and decode speed on 8 h of data, as ratios against a numpy baseline of the same run
(CPU times, best of 5).

    .venv/bin/python benchmarks/analytics_speed.py
"""

from __future__ import annotations

import binascii
import time
import tracemalloc

import numpy as np

from sitload.analytics import Engine, analyze
from sitload.firmware_sim import SimulatedSensor
from sitload.samples import SampleBatch
from sitload.vocab import SensorKind
from sitload.sensor_ingest.joined_frames import JoinedFrames
from sitload.sensor_ingest.stream_decoder import DeviceDecoder
from sitload.sensor_ingest.frame_codec import FLAG_RESYNC, TICKS_PER_S, parse_calibration
from sitload.firmware_sim.frame_encoder import encode_imu_frames
from sitload.heap import keep_freed_memory
from sitload.sensor_ingest.replay import READ_FRAMES


def best_of(fn, repeat: int = 5) -> float:
    """The least CPU time of ``repeat`` runs of ``fn`` (one core: numpy here runs one thread;
    CPU time, not wall time, so that other jobs on a shared machine count less)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def simulate(sensor: str, hours: float):
    sim = SimulatedSensor("desk-day", sensor, seed=1, hours=hours)
    frames, host = [], []
    for chunk in sim.chunks():
        frames += chunk.frames
        host.append(chunk.host_times)
    calibration = parse_calibration(sim.calibration_record) if sim.calibration_record else None
    return frames, np.concatenate(host), calibration


def accelerometer_only(frames, host, calibration):
    """The same 8 h as frames of the accelerometer alone, 10 samples each, on one clock: the
    frames `sitload import` makes of a CSV of accelerometer samples."""
    samples = decode(frames, host, calibration)
    t = np.concatenate([b.t for b in samples])
    accel = np.concatenate([b.accel for b in samples])
    n = len(t) // 10
    t, accel = t[:n * 10].reshape(n, 10), accel[:n * 10].reshape(n, 10, 3)
    ticks = np.rint((t[:, 0] - t[0, 0]) * TICKS_PER_S).astype(np.int64)
    flags = np.where(np.arange(n) == 0, FLAG_RESYNC, 0)
    return (encode_imu_frames(int(SensorKind.THIGH_IMU), np.arange(n), ticks, flags, accel, None,
                              500), t[:, -1] + 0.02, None)


def decode(frames, host, calibration, page: int = READ_FRAMES) -> list[SampleBatch]:
    """The frames decoded a page at a time, as a recording is read (Recording.iter_frames)."""
    decoder, out = DeviceDecoder(calibration=calibration), []
    for i in range(0, len(frames), page):
        out += decoder.feed_many(frames[i:i + page], host[i:i + page])
    return out


def decode_streaming(frames: JoinedFrames, host, calibration, page: int = READ_FRAMES) -> int:
    """Samples decoded a page at a time, each page's batches let go once counted, as a command
    reads a recording (its frames joined as a block is read; the analysis takes each page's
    batches and keeps no samples): the decoder's time without holding all of 8 h of samples in
    memory."""
    decoder, samples = DeviceDecoder(calibration=calibration), 0
    for i in range(0, len(frames), page):
        samples += sum(len(b) for b in decoder.feed_many(frames[i:i + page], host[i:i + page]))
    return samples


def baseline_windows(batches: list[SampleBatch]) -> None:
    """The least any analysis does: mean and std of every sample channel per 1-s window."""
    for b in batches:
        values = b.accel if b.accel is not None else b.pressure.reshape(len(b), -1)
        sec = np.floor(b.t).astype(np.int64)
        edges = np.flatnonzero(np.diff(sec)) + 1
        np.add.reduceat(values, np.r_[0, edges], axis=0)
        np.add.reduceat(values * values, np.r_[0, edges], axis=0)


def live_batches(frames, host, calibration, per_feed: int = 50) -> list[SampleBatch]:
    """Batches as the live path makes them: a few frames (about 10 s of IMU data) at a time."""
    dec = DeviceDecoder(calibration=calibration)
    out: list[SampleBatch] = []
    for i in range(0, len(frames), per_feed):
        out += dec.feed_many(frames[i:i + per_feed], host[i:i + per_feed])
    return out


def run_stream(kind: SensorKind, batches: list[SampleBatch]) -> None:
    engine = Engine(kind, keep_epochs=False)
    for b in batches:
        engine.feed(b)
    engine.finish()


def main() -> None:
    print("sitload analytics benchmark (8 h of data; lower ratio is better)")
    keep_freed_memory()     # the heap as a command's decoding process sets it (sitload.heap)
    thigh = simulate("thigh-imu", 8.0)
    for sensor, kind, (frames, host, calibration) in (
            ("thigh-imu", SensorKind.THIGH_IMU, thigh),
            ("thigh-imu, accelerometer only", SensorKind.THIGH_IMU, accelerometer_only(*thigh)),
            ("pressure", SensorKind.PRESSURE, simulate("pressure", 8.0))):
        crc = best_of(lambda: [binascii.crc_hqx(f, 0xFFFF) for f in frames])
        joined = JoinedFrames.of(b"".join(frames), [len(f) for f in frames])
        t_decode = best_of(lambda: decode_streaming(joined, host, calibration))
        batches = decode(frames, host, calibration)
        base = best_of(lambda: baseline_windows(batches))
        t_batch = best_of(lambda: analyze(kind, batches))
        small = live_batches(frames, host, calibration)
        t_stream = best_of(lambda: run_stream(kind, small), repeat=1)
        tracemalloc.start()
        run_stream(kind, small)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"\n{sensor}: {len(frames)} frames, {sum(len(b) for b in batches)} samples")
        print(f"  decode            {t_decode:7.3f} s  {len(frames) / t_decode:9.0f} frames/s  "
              f"x{t_decode / crc:5.1f} of CRC alone ({crc:.3f} s)")
        print(f"  batch analysis    {t_batch:7.3f} s  x{t_batch / base:5.1f} of the numpy "
              f"baseline ({base:.3f} s)")
        print(f"  streaming engine  {t_stream:7.3f} s  {t_stream / 8 * 1000:6.1f} ms per hour "
              f"of data, peak memory {peak / 2**20:.1f} MiB (feeding {len(small)} batches)")


if __name__ == "__main__":
    main()
