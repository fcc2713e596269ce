"""Sustained BLE ingest throughput: simulated peripheral -> Bumble virtual link -> bleak (virtual-
radio backend) -> DeviceDecoder -> RecordingWriter, as fast as the path goes (simulated time at
infinite speed), against a baseline measured in the same run: the same frames pushed straight into
decode + record (no BLE), in the same flush-sized batches.

    .venv/bin/python benchmarks/ble_ingest_throughput.py [--sensor pressure] [--minutes 30]

CPU seconds are process CPU time; the BLE figure includes the peripheral side (frame generation
and Bumble's GATT server) because both ends run in this one process, so the generation cost is
printed on its own too.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

from sitload.firmware_sim import SimulatedSensor
from sitload.sensor_ingest.ble_ingest import FLUSH_FRAMES
from sitload.sensor_ingest.frame_codec import parse_calibration
from sitload.sensor_ingest.recording import RecordingWriter
from sitload.vocab import SensorKind
from sitload.sensor_ingest.stream_decoder import DeviceDecoder
from sitload.services.bluetooth import monitor_simulated


def measure(fn) -> tuple[float, float]:
    """(wall s, CPU s) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensor", default="thigh-imu", choices=[k.cli_name for k in SensorKind])
    parser.add_argument("--minutes", type=float, default=30.0)
    args = parser.parse_args()

    def make() -> SimulatedSensor:
        return SimulatedSensor("desk-day", args.sensor, seed=1, hours=args.minutes / 60)

    folder = Path(tempfile.mkdtemp(prefix="sitload-bench-"))

    chunks = []
    gen_wall, gen_cpu = measure(lambda: chunks.extend(make().chunks()))
    frames = [f for c in chunks for f in c.frames]
    times = [t for c in chunks for t in c.host_times]
    sim = make()
    gain = parse_calibration(sim.calibration_record) if sim.calibration_record else None

    def direct() -> None:
        decoder = DeviceDecoder(calibration=gain)
        with RecordingWriter(folder / "direct.sitload") as rec:
            device = rec.add_device(sim.address, SensorKind.from_cli(args.sensor))
            for i in range(0, len(frames), FLUSH_FRAMES):
                rec.add_frames(device, frames[i:i + FLUSH_FRAMES], times[i:i + FLUSH_FRAMES])
                decoder.feed_many(frames[i:i + FLUSH_FRAMES], times[i:i + FLUSH_FRAMES])

    links = []

    def over_ble() -> None:
        with RecordingWriter(folder / "ble.sitload") as rec:
            found, _ = asyncio.run(monitor_simulated([make()], rec, speed=math.inf))
            links.extend(found)

    base_wall, base_cpu = measure(direct)
    ble_wall, ble_cpu = measure(over_ble)
    [link] = links
    assert link.status.frames == len(frames), (link.status.frames, len(frames))
    n = len(frames)
    print(f"{n} frames of {args.sensor}, {args.minutes:g} simulated minutes")
    print(f"frame generation (simulator):  {n / gen_wall:10.0f} frames/s "
          f"{gen_cpu / n * 1000:8.3f} CPU s/1000 frames")
    print(f"baseline decode + record:      {n / base_wall:10.0f} frames/s "
          f"{base_cpu / n * 1000:8.3f} CPU s/1000 frames")
    print("virtual link + bleak + decode + record (incl. scan/connect, sim side):")
    print(f"                               {n / ble_wall:10.0f} frames/s "
          f"{ble_cpu / n * 1000:8.3f} CPU s/1000 frames")
    print(f"ratio BLE path / baseline:     {base_wall / ble_wall:10.3f} x throughput "
          f"{ble_cpu / base_cpu:8.1f} x CPU per frame")
    print(f"simulated real-time factor sustained: {args.minutes * 60 / ble_wall:.0f} x")


if __name__ == "__main__":
    main()
