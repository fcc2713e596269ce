"""How far sitload's stamps of WitMotion samples are from the true sample times.

A simulated WitMotion sensor streams over the virtual link (Bumble, bleak, the WitMotion profile)
with packets held to BLE connection events; the recording is replayed through the decoder and
each stamp is compared with the time the simulator sampled that packet. Baseline: the raw
receive times. Both are reported after removing their median offset (the mean link latency, a
constant that does not matter to the analysis): RMS, 99th percentile and maximum of the rest.

    .venv/bin/python benchmarks/witmotion_stamp_jitter.py [--minutes 10] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import numpy as np

from sitload.firmware_sim import SimulatedSensor
from sitload.sensor_ingest.recording import Recording, RecordingWriter
from sitload.sensor_ingest.replay import DeviceReplay
from sitload.services.bluetooth import monitor_simulated, profile


def measure(minutes: float, rate_hz: float, interval_s: float, folder: Path) -> dict:
    sim = SimulatedSensor("desk-day", "hip-imu", seed=1, hours=minutes / 60)
    path = folder / f"jitter-{rate_hz:g}-{interval_s * 1000:g}.sitload"
    with RecordingWriter(path) as rec:
        [_], [peripheral] = asyncio.run(monitor_simulated(
            [sim], rec, speed=600.0, keep_sent=True, device="witmotion",
            link_options={"profile": profile("witmotion", "hip-imu", rate_hz)},
            peripheral_options={"connection_interval_s": interval_s}))
    with Recording(path) as rec:
        replay = DeviceReplay.of(rec)
        stamps = np.concatenate([b.t for b in replay.batches()])
        received = np.array([h for _, hs, fs in rec.iter_frames(replay.device.id)
                             for h, f in zip(hs, fs) if f[1] == 0x61])
    true = np.array(peripheral.sample_times)
    out = {"offset_ms": float(np.median(stamps - true)) * 1e3}
    for name, t in (("stamp", stamps), ("receive", received)):
        err = np.abs((t - true) - np.median(t - true)) * 1e3
        out[name] = (float(np.sqrt(np.mean(err ** 2))), float(np.percentile(err, 99)),
                     float(err.max()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    print(f"{args.minutes:g} min at {args.rate:g} Hz; ms: RMS / p99 / max after the median offset")
    print(f"{'interval':>9}  {'receive times':>22}  {'sitload stamps':>22}  offset")
    with tempfile.TemporaryDirectory() as folder:
        for interval in (0.0075, 0.030, 0.050):
            m = measure(args.minutes, args.rate, interval, Path(folder))
            fmt = " / ".join("{:5.2f}" for _ in range(3))
            print(f"{interval * 1000:7.1f}ms  {fmt.format(*m['receive']):>22}  "
                  f"{fmt.format(*m['stamp']):>22}  {m['offset_ms']:5.1f}")


if __name__ == "__main__":
    main()
