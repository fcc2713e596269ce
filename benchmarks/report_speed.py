"""Time to build the report of a 7-day recording, as a ratio against the analysis alone.

    .venv/bin/python benchmarks/report_speed.py [--days 7]

Simulates 7 days x 8 h of a thigh IMU (not timed), then times: the batch analysis of the recording
as `sitload analyze` does it (the baseline), the whole `sitload report` (reading, analysing,
figures, page, exports), and the report's own share (page and exports from an analysis in memory),
the figures drawn by one process a CPU as `sitload report` does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sitload.analytics import AnalysisConfig, analyze
from sitload.sensor_ingest.replay import DeviceReplay, open_recording
from sitload.report import build_report, write_report
from sitload.report.model import recording_data
from sitload.services.analysis_workers import Analyses
from sitload.services.simulation import simulate_to_recording


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def analysis_alone(path: Path) -> None:
    with open_recording(path) as rec:
        dev = rec.device()
        analyze(dev.kind, DeviceReplay.of(rec, dev.id).batches())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    days = parser.parse_args().days
    with tempfile.TemporaryDirectory() as tmp:
        rec_path = Path(tmp) / "week.sitload"
        sim_s, _ = timed(lambda: simulate_to_recording(
            rec_path, scenario="desk-day", sensor="thigh-imu", seed=1, days=days,
            timezone="Europe/Berlin"))
        print(f"simulated {days} days x 8 h of thigh IMU in {sim_s:.1f} s (not part of the report)")
        base_s, _ = timed(lambda: analysis_alone(rec_path))
        workers = os.cpu_count() or 1
        report_s, files = timed(lambda: build_report([rec_path], Path(tmp) / "report",
                                                     workers=workers))
        with Analyses([rec_path], AnalysisConfig()) as analyses, \
                open_recording(rec_path) as rec:
            loaded = recording_data(rec, analyses.collect()[0])
        own_s, _ = timed(lambda: write_report([loaded], Path(tmp) / "report2", title="bench",
                                              timezone="Europe/Berlin", workers=workers))
        size_kb = files.index.stat().st_size / 1024
    print(f"analysis alone (baseline, as `sitload analyze`): {base_s:6.1f} s")
    print(f"whole `sitload report`:                          {report_s:6.1f} s  "
          f"({report_s / base_s:.2f} x the analysis)")
    print(f"  of which page, figures and exports:            {own_s:6.1f} s  "
          f"({own_s / base_s:.2f} x the analysis); index.html {size_kb:.0f} KiB")


if __name__ == "__main__":
    main()
