"""Whole commands on long recordings against the floor, and the peak memory of `sitload analyze`
by length of recording.

    .venv/bin/python benchmarks/command_speed.py [--runs 3]

Recordings: 14 simulated days of flare-fortnight on a hip IMU (with its diary) and 7 simulated
desk days on a thigh IMU (plus 1 desk day for memory). Times: `sitload flares` over the 14 days
and `sitload report` over the 7, each against the floor of the same run, a process that reads and
decodes the same recording once (no analysis). Memory: the peak resident set of `sitload analyze
--json` over 1 and 7 days, and what each hour of data adds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from peer_speed import SITLOAD, compare, compile_sitload

FLOOR_DECODE = """
import sys
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay
with Recording(sys.argv[1]) as rec:
    print(sum(len(b) for b in DeviceReplay.of(rec).batches()), "samples")
"""


def simulate(scenario: str, sensor: str, days: int, out: Path) -> Path:
    subprocess.run([*SITLOAD, "simulate", scenario, "--sensor", sensor, "--days", str(days),
                    "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


# Runs a command and prints its peak resident memory (KiB), from a small fresh process: Linux
# keeps the peak of the process that forks across the exec, so a command forked from this script
# (by then holding a week's JSON) would report this script's own peak.
PEAK = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_mib(cmd: list[str]) -> float:
    """Peak resident memory (MiB) of one run of ``cmd`` (its processes' largest: the analysis's
    own, or the one that decodes for it)."""
    out = subprocess.run([sys.executable, "-S", "-c", PEAK, *cmd], check=True,
                         capture_output=True, text=True).stdout
    code, kib = map(int, out.split())
    if code:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return kib / 1024


def hours_of(recording: Path) -> float:
    out = subprocess.run([*SITLOAD, "analyze", str(recording), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["decode"]["samples"] / 50 / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    compile_sitload()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hip = simulate("flare-fortnight", "hip-imu", 14, folder / "hip-14d.sitload")
        desk7 = simulate("desk-day", "thigh-imu", 7, folder / "thigh-7d.sitload")
        desk1 = simulate("desk-day", "thigh-imu", 1, folder / "thigh-1d.sitload")
        floor = [sys.executable, "-c", FLOOR_DECODE]
        m = compare("sitload flares over 14 days of hip IMU", {
            "sitload flares --json": [*SITLOAD, "flares", str(hip), "--json"],
            "floor (read + decode)": [*floor, str(hip)]}, args.runs)
        print(f"  flares / floor           {m['sitload flares --json'] / m['floor (read + decode)']:7.2f}"
              "  (target <= 3)")
        m = compare("sitload report over 7 desk days of thigh IMU", {
            "sitload report": [*SITLOAD, "report", str(desk7), "-o", str(folder / "report")],
            "floor (read + decode)": [*floor, str(desk7)]}, args.runs)
        print(f"  report / floor           {m['sitload report'] / m['floor (read + decode)']:7.2f}"
              "  (target <= 3)")
        h1, h7 = hours_of(desk1), hours_of(desk7)
        p1 = peak_mib([*SITLOAD, "analyze", str(desk1), "--json"])
        p7 = peak_mib([*SITLOAD, "analyze", str(desk7), "--json"])
        base = peak_mib([sys.executable, "-c", "import sitload.services.analysis, "
                         "sitload.config_file"])
        print("\npeak memory of sitload analyze --json")
        print(f"  imports alone            {base:7.0f} MiB")
        print(f"  1 desk day  ({h1:5.1f} h)    {p1:7.0f} MiB")
        print(f"  7 desk days ({h7:5.1f} h)    {p7:7.0f} MiB  (target < 300)")
        print(f"  per hour of data         {(p7 - p1) / (h7 - h1):7.2f} MiB "
              f"(each hour with samples: the per-second results it adds)")


if __name__ == "__main__":
    main()
