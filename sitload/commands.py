"""The subcommands that read or write recordings."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from sitload.errors import ConfigError


def simulate(args: argparse.Namespace) -> int:
    from firmware_sim import SCENARIOS, Faults
    from sitload.simulation import print_progress, simulate_to_recording

    if args.scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {args.scenario!r}; choose from "
                          f"{', '.join(sorted(SCENARIOS))}")
    if not 0 <= args.drop_rate < 1:
        raise ConfigError(f"--drop-rate must be in [0, 1), got {args.drop_rate}")
    out = Path(args.output)
    faults = Faults(drop_rate=args.drop_rate, drift_ppm=args.drift_ppm)
    simulate_to_recording(out, scenario=args.scenario, sensor=args.sensor, seed=args.seed,
                          hours=args.hours, days=args.days, faults=faults,
                          mount_rotation_deg=args.mount_rotation, progress=print_progress)
    print(f"wrote {out}")
    return 0


def import_file(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from sitload.importers import import_csv

    try:
        ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--tz: unknown time zone {args.tz!r}") from None
    summary = import_csv(args.file, args.output, sensor=args.sensor, units=args.units,
                         tz=args.tz, skip_bad=args.skip_bad)
    skipped = f", {summary.rows_skipped} bad rows skipped" if summary.rows_skipped else ""
    print(f"wrote {summary.path}: {summary.samples_read} samples at {summary.rate_hz:g} Hz in "
          f"{summary.segments} segment(s){skipped}")
    return 0


def replay(args: argparse.Namespace) -> int:
    from sensor_ingest.replay import open_recording
    from sitload.pipeline import run_session

    with open_recording(args.file) as rec:
        if args.broker:
            from alerts import AlertPublisher
            device_id = args.device_id or rec.device().name or "sensor"
            publisher = AlertPublisher(args.broker, device_id,
                                       outbox_path=Path(args.file).with_suffix(".outbox"))
            try:
                result = run_session(rec, speed=args.speed, on_prompt=publisher.publish_prompt,
                                     on_state=publisher.publish_state)
            finally:
                publisher.close()
        else:
            result = run_session(rec, speed=args.speed)
    if result.note:
        print(f"sitload: note: {result.note}", file=sys.stderr)
    if args.json:
        out = result.analysis.to_json()
        out["decode"] = {k: v for k, v in asdict(result.decode).items()}
        out["prompts"] = [p.to_json() for p in result.prompts]
        if result.note:
            out["note"] = result.note
        json.dump(out, sys.stdout)
        print()
    else:
        print(summary_text(result))
    return 0


def summary_text(result) -> str:
    a = result.analysis
    m = a.metrics
    lines = [f"sitting {a.sitting_s / 3600:.2f} h in {len(a.bouts)} bouts; "
             f"{m.bouts_30} of >= 30 min, {m.bouts_60} of >= 60 min; W50 {m.w50_s / 60:.1f} min",
             f"frames: {result.decode.frames_ok} ok, {result.decode.frames_bad} bad, "
             f"{result.decode.missing_frames} missing in {len(result.gaps)} gaps",
             f"prompts: {len(result.prompts)}"]
    return "\n".join(lines)
