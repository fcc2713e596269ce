"""Resident memory of the live path over simulated days, against its own first day: a soak run.

    .venv/bin/python benchmarks/live_memory.py [--days 7] [--sensor thigh-imu] [--keep-all]

Simulated desk days (8 h of wear each, nights without data) are decoded and fed as fast as the
machine goes through what `sitload monitor` runs for each sensor: LiveSessions -> SessionPipeline
(analytics Engine, prompt policy) -> AlertPublisher (outbox, MQTT) -> a real Mosquitto started
here -> a Prompter. The Bluetooth link itself is left out (it keeps one notification batch at a
time). Prompts are re-timed to the wall clock as a replay does (created when raised, 15 min to
live), so none expires while the days run.

After each day it prints the resident set size (VmRSS); at the end the ratio of the last day's to
the first day's, and the prompts raised (the outbox), taken by the broker and shown by the
prompter: ``lost`` is raised minus shown. ``--keep-all`` runs the pipeline as a replay does
(every per-second row and all history kept) to show what the bound saves.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from sitload.alerts.prompter import Prompter
from sitload.firmware_sim import SimulatedSensor
from sitload.services.live import KEEP_S, LiveSessions
from sitload.services.pipeline import ReplayTimeline
from sitload.sensor_ingest.stream_decoder import DeviceDecoder
from sitload.vocab import SensorKind

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import MosquittoBroker, require_mosquitto, wait_until  # the test suite's broker runner

DAY_S = 86400.0


def rss_mib() -> float:
    """This process's resident set size (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def soak(days: int, sensor: str, keep_all: bool, workdir: Path) -> dict:
    """Run the live path over ``days`` simulated days; returns the RSS per day and prompt counts."""
    broker = MosquittoBroker(require_mosquitto(), workdir)
    broker.start()
    sim = SimulatedSensor("desk-day", sensor, seed=1, days=days)
    kind = SensorKind.from_cli(sensor)
    prompter = Prompter(broker.url, sim.name)
    sessions = LiveSessions(broker_url=broker.url, outbox_dir=workdir / "state", timeline=ReplayTimeline(),
                            keep_s=None if keep_all else KEEP_S)
    decoder = DeviceDecoder()
    rss: list[float] = []
    try:
        wait_until(lambda: prompter.conn.connected, what="prompter connected")
        day = 0
        for chunk in sim.chunks():
            if chunk.host_times.size and chunk.host_times[0] >= sim.start_utc + (day + 1) * DAY_S:
                gc.collect()
                rss.append(rss_mib())
                print(f"day {day + 1}: RSS {rss[-1]:.1f} MiB", flush=True)
                day += 1
            sessions.feed(sim.address, sim.name, kind, decoder.feed_many(chunk.frames, chunk.host_times))
        gc.collect()
        rss.append(rss_mib())
        print(f"day {day + 1}: RSS {rss[-1]:.1f} MiB", flush=True)
        outbox = workdir / "state" / f"{sim.name}.outbox"

        def states() -> list[str]:
            with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as db:
                return [row[0] for row in db.execute("SELECT state FROM outbox")]

        wait_until(lambda: len(prompter.prompts) >= len(states()), timeout=60, what="every prompt shown")
        raised = states()
    finally:
        sessions.close()
        prompter.close()
        broker.stop()
    return {"rss": rss, "raised": len(raised), "delivered": raised.count("delivered"),
            "shown": len(prompter.prompts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--sensor", default="thigh-imu", choices=["thigh-imu", "hip-imu", "pressure"])
    parser.add_argument("--keep-all", action="store_true", help="keep all history, as a replay does")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sitload-soak-"))
    started = time.monotonic()
    try:
        found = soak(args.days, args.sensor, args.keep_all, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rss = found["rss"]
    print(f"RSS after day 1: {rss[0]:.1f} MiB; after day {len(rss)}: {rss[-1]:.1f} MiB; "
          f"ratio {rss[-1] / rss[0]:.3f}")
    print(f"prompts: {found['raised']} raised, {found['delivered']} taken by the broker, "
          f"{found['shown']} shown; lost {found['raised'] - found['shown']}")
    print(f"({len(rss)} days in {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
