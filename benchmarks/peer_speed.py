"""`sitload analyze` against acti-motus (the Acti4 successor) and against the floor, whole
processes on the same thigh accelerometer samples.

    .venv/bin/python benchmarks/peer_speed.py [--days-too] [--runs 5]

acti-motus 2.4.0 is a peer, not a dependency: the script installs it in a virtual environment of
its own under ~/.cache/sitload-bench (or $SITLOAD_BENCH_CACHE) the first time. The samples: a
simulated desk day (8 h of 50 Hz thigh accelerometer, no gyro) written as the CSV that
`sitload import` reads and as the Parquet table acti-motus reads (a DatetimeIndex and three
accelerometer columns); `--days-too` adds 7 simulated desk days. Each command runs as its own
process, the tools alternated, median of ``--runs``; printed as ratios. The floor is a process that
reads the recording's frame bytes once (Python start-up, sqlite3, every block of frames read).
sitload's sources are compiled to bytecode first, as pip does on installing a package (the
peer's were when it was installed): an editable install run with PYTHONDONTWRITEBYTECODE set
would otherwise compile them anew in every process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay

PEER = "acti-motus==2.4.0"
CACHE = Path(os.environ.get("SITLOAD_BENCH_CACHE", Path.home() / ".cache" / "sitload-bench"))
SITLOAD = [str(Path(sys.executable).with_name("sitload"))]
PEER_RUN = """
import sys
import pandas as pd
from actimotus import Activities, Features
samples = pd.read_parquet(sys.argv[1])
activities, _ = Activities().compute(Features().compute(samples))
print(int((activities["activity"] == "sit").sum()), "s sitting")
"""
FLOOR_RUN = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(sum(len(d) for (d,) in db.execute("SELECT data FROM frame_blocks ORDER BY id")), "bytes")
"""


def peer_python() -> Path:
    """The peer's interpreter, in its own virtual environment (made on first use)."""
    env = CACHE / PEER.replace("==", "-")
    python = env / "bin" / "python"
    if not python.exists():
        print(f"installing {PEER} into {env} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PEER], check=True)
    return python


def compile_sitload() -> None:
    """Bytecode of sitload's modules, as an installed package has it."""
    root = Path(__file__).resolve().parents[1]
    folders = [str(root / name) for name in ("sitload", "analytics", "alerts", "sensor_ingest",
                                             "firmware_sim")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)


def samples_of(recording: Path) -> tuple[np.ndarray, np.ndarray]:
    """UTC times and accelerations (g) of a recording's first device, as sitload decodes them."""
    with Recording(recording) as rec:
        batches = list(DeviceReplay.of(rec).batches())
    return (np.concatenate([b.t for b in batches]), np.concatenate([b.accel for b in batches]))


def write_inputs(t: np.ndarray, accel: np.ndarray, folder: Path) -> tuple[Path, Path]:
    """The same samples as sitload's CSV import input and as acti-motus's Parquet input."""
    csv, parquet = folder / "thigh.csv", folder / "thigh.parquet"
    table = pd.DataFrame({"time": t, "ax": accel[:, 0], "ay": accel[:, 1], "az": accel[:, 2]})
    table.to_csv(csv, index=False, float_format="%.6f")
    frame = pd.DataFrame(accel, columns=["acc_x", "acc_y", "acc_z"],
                         index=pd.DatetimeIndex(pd.to_datetime(t, unit="s", utc=True),
                                                name="datetime"))
    frame.to_parquet(parquet)
    return csv, parquet


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def compare(label: str, commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command over ``runs`` alternated rounds."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(wall(cmd))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"\n{label} (median of {runs}, whole processes)")
    for name, median in medians.items():
        print(f"  {name:24s} {median:7.2f} s")
    return medians


def bench(days: int, runs: int, peer: Path, folder: Path) -> None:
    sim = folder / f"sim-{days}d.sitload"
    args = ["--hours", "8"] if days == 1 else ["--days", str(days)]
    subprocess.run([*SITLOAD, "simulate", "desk-day", "--sensor", "thigh-imu", *args,
                    "-o", str(sim)], check=True, stdout=subprocess.DEVNULL)
    t, accel = samples_of(sim)
    csv, parquet = write_inputs(t, accel, folder)
    rec = folder / f"imported-{days}d.sitload"
    subprocess.run([*SITLOAD, "import", str(csv), "--sensor", "thigh-imu", "-o", str(rec)],
                   check=True, stdout=subprocess.DEVNULL)
    hours = len(t) / 50 / 3600
    m = compare(f"{hours:.0f} h of 50 Hz thigh accelerometer ({len(t)} samples)", {
        "acti-motus 2.4.0": [str(peer), "-c", PEER_RUN, str(parquet)],
        "sitload analyze --json": [*SITLOAD, "analyze", str(rec), "--json"],
        "floor (read frames)": [sys.executable, "-c", FLOOR_RUN, str(rec)]}, runs)
    sitload = m["sitload analyze --json"]
    print(f"  sitload / acti-motus     {sitload / m['acti-motus 2.4.0']:7.3f}  (target <= 0.10)")
    print(f"  sitload / floor          {sitload / m['floor (read frames)']:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days-too", action="store_true", help="also 7 simulated desk days")
    args = parser.parse_args()
    peer = peer_python()
    compile_sitload()
    with tempfile.TemporaryDirectory() as tmp:
        bench(1, args.runs, peer, Path(tmp))
        if args.days_too:
            bench(7, args.runs, peer, Path(tmp))


if __name__ == "__main__":
    main()
