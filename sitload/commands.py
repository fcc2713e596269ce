"""The subcommands that read or write recordings."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from sitload.arguments import broker_options
from sitload.errors import ConfigError, SitloadError, UsageError

if TYPE_CHECKING:
    from sitload.alerts.policy_config import PolicyConfig
    from sitload.analytics import AnalysisResult
    from sitload.config_file import Settings


def simulate(args: argparse.Namespace) -> int:
    from sitload.firmware_sim import SCENARIOS, Faults
    from sitload.progress import print_progress
    from sitload.services.simulation import simulate_to_recording

    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose from "
                          f"{', '.join(sorted(SCENARIOS))}")
    if not 0 <= args.drop_rate < 1:
        raise UsageError(f"--drop-rate must be in [0, 1), got {args.drop_rate}")
    out = Path(args.output)
    faults = Faults(drop_rate=args.drop_rate, drift_ppm=args.drift_ppm)
    simulate_to_recording(out, scenario=args.scenario, sensor=args.sensor, seed=args.seed,
                          hours=args.hours, days=args.days, faults=faults,
                          mount_rotation_deg=args.mount_rotation, progress=print_progress)
    print(f"wrote {out}")
    return 0


def import_file(args: argparse.Namespace) -> int:
    from sitload.services.formats import import_file as import_foreign

    fmt, summary = import_foreign(args.file, args.output, fmt=args.format, sensor=args.sensor,
                                  units=args.units, gyro_units=args.gyro_units, tz=args.tz,
                                  start=args.start, skip_bad=args.skip_bad)
    skipped = f", {summary.rows_skipped} bad rows skipped" if summary.rows_skipped else ""
    repeated = (f", {summary.repeated_times} rows with a repeated time dropped"
                if summary.repeated_times else "")
    read = "" if fmt == "csv" else f" ({fmt})"
    print(f"wrote {summary.path}{read}: {summary.samples_read} samples at {summary.rate_hz:g} Hz "
          f"in {summary.segments} segment(s){skipped}{repeated}")
    return 0


def replay(args: argparse.Namespace) -> int:
    from sitload.alerts.messages import alert_payload
    from sitload.config_file import settings
    from sitload.progress import print_progress
    from sitload.services.replay import replay_recording

    config = settings(args)
    broker = broker_options(args)
    outcome = replay_recording(args.file, policy=personal_policy(args.tolerance_from, config),
                               analysis_config=config.analysis, device_id=args.device_id,
                               speed=args.speed, broker_url=args.broker, broker=broker,
                               progress=print_progress)
    result = outcome.session
    note(result.note)
    if args.json:
        out = result.analysis.to_json()
        out["decode"] = asdict(result.decode)
        out["prompts"] = [alert_payload(p) for p in result.prompts]
        if outcome.delivery is not None:
            out["delivery"] = asdict(outcome.delivery)
        if result.note:
            out["note"] = result.note
        json.dump(out, sys.stdout)
        print()
    else:
        print(summary_text(result, outcome.delivery))
    if outcome.unreached:
        raise SitloadError(outcome.unreached)
    return 0


def prompts(args: argparse.Namespace) -> int:
    from sitload.alerts.broker import parse_broker_url
    from sitload.alerts.prompter import discover_devices, run_prompter

    broker = broker_options(args)
    device = args.device
    if device is None:
        online = discover_devices(args.broker, broker=broker)
        if len(online) != 1:
            found = f"online: {', '.join(online)}" if online else "none is online"
            raise ConfigError(f"--device is needed ({found})")
        device = online[0]
    interactive = not args.no_input and sys.stdin.isatty()
    where = parse_broker_url(args.broker)    # shown without the login the URL may carry
    shown = f"{'mqtts' if where.tls else 'mqtt'}://{where.host}:{where.port}"
    print(f"prompts for {device} from {shown}" + (" (q to quit)" if interactive else ""))
    run_prompter(args.broker, device, interactive=interactive, broker=broker, notify=args.notify)
    return 0


def personal_policy(history: list[str] | None, config: Settings) -> PolicyConfig:
    """``config``'s policy, with the break threshold of the personal sitting tolerance of the
    ``history`` recordings when they have one (said on stderr either way)."""
    if not history:
        return config.policy
    from sitload.services.flare_analysis import personal_policy as with_tolerance

    found = with_tolerance(history, config.policy, config.flares, config.analysis)
    print(f"sitload: {found.message}", file=sys.stderr)
    return found.policy


def note(text: str | None) -> None:
    """A recording that ends early or is damaged is said on stderr, one line."""
    if text:
        print(f"sitload: note: {text}", file=sys.stderr)


def analyze(args: argparse.Namespace) -> int:
    from sitload.config_file import settings
    from sitload.progress import print_progress
    from sitload.services.analysis import analyze_recording

    found = analyze_recording(args.file, settings(args).analysis, print_progress)
    note(found.note)
    result = found.result
    if args.epochs:
        from sitload.analytics.coverage import measured
        from sitload.timestamps import iso_utc

        epochs = result.epochs.copy()
        epochs.insert(0, "time", [iso_utc(t) for t in epochs.pop("t")])
        # the shared epoch vocabulary: a mat cannot tell what a person off the seat is doing
        epochs["posture"] = epochs["posture"].replace({"off_seat": "unknown"})
        if "crossed" not in measured(result.kind):    # left empty, not 'none' (metrics.md §9)
            epochs["crossed"] = None
        epochs = epochs[["time", "posture", *(c for c in epochs.columns
                                              if c not in ("time", "posture"))]]
        try:
            epochs.to_csv(args.epochs, index=False, float_format="%.3f")
        except OSError as exc:    # a missing folder, a folder given, no permission
            raise ConfigError(f"{args.epochs}: cannot write the epochs "
                              f"({exc.strerror or exc})") from None
        print(f"wrote {len(epochs)} epochs (one per second) to {args.epochs}",
              file=sys.stderr if args.json else sys.stdout)
    if args.json:
        out = result.to_json()
        out["decode"] = asdict(found.decode)
        json.dump(out, sys.stdout)
        print()
    elif not args.epochs:
        print(sitting_line(result))
    return 0


def score(args: argparse.Namespace) -> int:
    from sitload.analytics.scoring import score as score_result
    from sitload.config_file import settings
    from sitload.progress import print_progress

    config = settings(args).analysis
    from sitload.services.analysis import analyze_recording

    found = analyze_recording(args.file, config, print_progress)
    note(found.note)
    result, truth = found.result, found.truth
    if args.labels:
        from sitload.services.analysis import score_against_labels

        scores = asdict(score_against_labels(result, args.labels, args.tz, args.labels_format))
    elif truth.empty:
        raise ConfigError(f"{args.file}: no ground truth (only simulated recordings have it); "
                          "give reference labels with --labels")
    else:
        scores = asdict(score_result(result, truth, config))
    if args.json:
        json.dump(scores, sys.stdout)
        print()
    else:
        for name, value in scores.items():
            print(f"{name:24s} {value:.4g}" if isinstance(value, float) else f"{name:24s} {value}")
    return 0


def sitting_line(a: AnalysisResult) -> str:
    """Sitting time, bouts, prolonged bouts at each threshold, W50 (a dash without bouts): one
    line."""
    prolonged = ", ".join(f"{p.count} of >= {p.minutes} min" for p in a.metrics.prolonged)
    w50 = "-" if a.metrics.w50_s is None else f"{a.metrics.w50_s / 60:.1f} min"
    return f"sitting {a.sitting_s / 3600:.2f} h in {len(a.bouts)} bouts; {prolonged}; W50 {w50}"


def summary_text(result, delivery=None) -> str:
    """The replay's summary; with a broker, what it took of the prompts (``Delivery``)."""
    sent = "" if delivery is None else f" ({delivery})"
    lines = [sitting_line(result.analysis),
             f"frames: {result.decode.frames_ok} ok, {result.decode.frames_bad} bad, "
             f"{result.decode.missing_frames} missing in {len(result.gaps)} gaps",
             f"prompts: {len(result.prompts)}{sent}"]
    return "\n".join(lines)
