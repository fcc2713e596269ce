"""`sitload cohort` on a cohort of simulated patient-days against serial analysis, as whole
processes in the same run.

    .venv/bin/python benchmarks/cohort_speed.py [--patients 50] [--hours 8] [--workers 2]

Simulates one desk day (``--hours`` of thigh IMU) for each of ``--patients`` patients (not
timed; two processes at a time), then times: `sitload analyze FILE --json` for every recording,
one process after another (the baseline: serial analysis as a user runs it), `sitload cohort
--workers 1` and `sitload cohort --workers N`, each into a fresh output folder, and a re-run of
the last (everything up to date). Checks that the cohort's daily rows hold the serial sitting
time and bout counts of every recording, and prints the ratios and the cost per patient-day.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

SITLOAD = [sys.executable, "-m", "sitload.cli"]


def sitload(*args) -> str:
    proc = subprocess.run([*SITLOAD, *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sitload {' '.join(map(str, args))} -> {proc.returncode}\n"
                         f"{proc.stderr}")
    return proc.stdout


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cohort"
        folder.mkdir()
        paths = [folder / f"patient{i:03d}.sitload" for i in range(args.patients)]
        sim_s, _ = timed(lambda: list(ThreadPoolExecutor(2).map(
            lambda p: sitload("simulate", "desk-day", "--sensor", "thigh-imu", "--hours",
                              args.hours, "--seed", 100 + paths.index(p), "-o", p), paths)))
        print(f"simulated {args.patients} patient-days x {args.hours:g} h of thigh IMU in "
              f"{sim_s:.0f} s (not timed below)", flush=True)

        serial_s, found = timed(lambda: [json.loads(sitload("analyze", p, "--json"))
                                         for p in paths])
        print(f"serial `sitload analyze`, one process per recording: {serial_s:7.1f} s", flush=True)
        one_s, _ = timed(lambda: sitload("cohort", folder, "-o", Path(tmp) / "one",
                                         "--workers", 1))
        print(f"`sitload cohort --workers 1`:                        {one_s:7.1f} s", flush=True)
        out = Path(tmp) / "many"
        many_s, _ = timed(lambda: sitload("cohort", folder, "-o", out,
                                          "--workers", args.workers))
        print(f"`sitload cohort --workers {args.workers}`:                        "
              f"{many_s:7.1f} s", flush=True)
        rerun_s, _ = timed(lambda: sitload("cohort", folder, "-o", out,
                                           "--workers", args.workers))
        print(f"  its re-run, all up to date:                        {rerun_s:7.1f} s")

        daily = pd.read_parquet(out / "daily").groupby("recording")[["sitting_s", "bouts"]].sum()
        for path, serial in zip(paths, found):
            row = daily.loc[path.name]
            assert row["sitting_s"] == serial["sitting_s"], (path, row, serial["sitting_s"])
            assert row["bouts"] == len(serial["bouts"]), (path, row, len(serial["bouts"]))
        print(f"the cohort's daily rows equal serial analysis for all {len(paths)} recordings")
    per_day = many_s / args.patients
    print(f"serial / cohort --workers {args.workers}: {serial_s / many_s:.2f} x; "
          f"cohort --workers 1 / --workers {args.workers}: {one_s / many_s:.2f} x")
    print(f"cost per patient-day ({args.hours:g} h): serial {serial_s / args.patients:.2f} s, "
          f"cohort --workers 1 {one_s / args.patients:.2f} s, cohort --workers "
          f"{args.workers} {per_day:.2f} s (wall clock, startup included)")


if __name__ == "__main__":
    main()
