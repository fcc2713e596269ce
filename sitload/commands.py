"""The subcommands that read or write recordings."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sitload.arguments import broker_options
from sitload.errors import ConfigError, SitloadError, UsageError

CONNECT_GRACE_S = 5.0     # replay --broker: how long a broker not yet connected is waited for

if TYPE_CHECKING:
    from sitload.alerts.policy import PolicyConfig
    from sitload.analytics import AnalysisResult
    from sitload.config_file import Settings


def simulate(args: argparse.Namespace) -> int:
    from sitload.firmware_sim import SCENARIOS, Faults
    from sitload.progress import print_progress
    from sitload.simulation import simulate_to_recording

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
    from sitload.importers import import_csv

    summary = import_csv(args.file, args.output, sensor=args.sensor, units=args.units,
                         gyro_units=args.gyro_units, tz=args.tz, skip_bad=args.skip_bad)
    skipped = f", {summary.rows_skipped} bad rows skipped" if summary.rows_skipped else ""
    repeated = (f", {summary.repeated_times} rows with a repeated time dropped"
                if summary.repeated_times else "")
    print(f"wrote {summary.path}: {summary.samples_read} samples at {summary.rate_hz:g} Hz in "
          f"{summary.segments} segment(s){skipped}{repeated}")
    return 0


def replay(args: argparse.Namespace) -> int:
    from sitload.alerts.messages import alert_payload
    from sitload.sensor_ingest.replay import open_recording
    from sitload.config_file import settings
    from sitload.pipeline import run_session
    from sitload.progress import print_progress

    config = settings(args)
    broker = broker_options(args)
    policy = personal_policy(args.tolerance_from, config)
    unreached = None    # the error when --broker was never connected
    delivery = None     # with --broker: what the broker took of the prompts
    with open_recording(args.file) as rec:
        device_id = args.device_id or rec.device().name or "sensor"
        if args.broker:
            from sitload.alerts.broker import Backoff
            from sitload.alerts.publisher import AlertPublisher, PublisherOptions
            from sitload.pipeline import ReplayTimeline

            # paced, time runs X-fold faster: so must the reconnect backoff, or prompts that live
            # 15 min / X would expire while the publisher waits to retry
            if args.speed:
                broker = replace(broker, backoff=Backoff(max_s=max(1.0, 30.0 / args.speed)))
            outbox = Path(args.file).with_suffix(".outbox")
            publisher = AlertPublisher(
                args.broker, device_id, outbox_path=outbox, broker=broker,
                options=PublisherOptions(await_prompter=False, timezone=rec.meta.get("timezone")))
            timeline = ReplayTimeline(args.speed)
            try:
                result = run_session(
                    rec, speed=args.speed, device_id=device_id, timeline=timeline,
                    policy_config=policy, analysis_config=config.analysis,
                    progress=print_progress,
                    on_prompt=lambda p: publisher.publish_prompt(timeline.to_wall(p)),
                    on_state=publisher.publish_state)
                if not publisher.wait_connected(CONNECT_GRACE_S):
                    where = publisher.conn.address
                    why = (publisher.conn.refused    # e.g. a TLS certificate not verified
                           or f"broker {where.host}:{where.port} could not be reached")
                    unreached = (f"{why}; {len(publisher.outbox.pending())} prompt(s) left "
                                 f"undelivered in {outbox}")
                else:
                    publisher.settle(CONNECT_GRACE_S)
                delivery = publisher.delivery([p.id for p in result.prompts])
            finally:
                publisher.close()
        else:
            result = run_session(rec, speed=args.speed, device_id=device_id,
                                 policy_config=policy, analysis_config=config.analysis,
                                 progress=print_progress)
    if result.note:
        print(f"sitload: note: {result.note}", file=sys.stderr)
    if args.json:
        out = result.analysis.to_json()
        out["decode"] = asdict(result.decode)
        out["prompts"] = [alert_payload(p) for p in result.prompts]
        if delivery is not None:
            out["delivery"] = asdict(delivery)
        if result.note:
            out["note"] = result.note
        json.dump(out, sys.stdout)
        print()
    else:
        print(summary_text(result, delivery))
    if unreached:
        raise SitloadError(unreached)
    return 0


def prompts(args: argparse.Namespace) -> int:
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
    where = urlsplit(args.broker)
    shown = f"{where.scheme}://{where.hostname}" + (f":{where.port}" if where.port else "")
    print(f"prompts for {device} from {shown}" + (" (q to quit)" if interactive else ""))
    run_prompter(args.broker, device, interactive=interactive, broker=broker)
    return 0


def personal_policy(history: list[str] | None, config: Settings) -> PolicyConfig:
    """``config``'s policy, with the break threshold of the personal sitting tolerance of the
    ``history`` recordings when they have one (said on stderr either way)."""
    if not history:
        return config.policy
    from sitload.services.analysis import personal_policy as with_tolerance

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
        scores = _score_labels(result, args.labels, args.tz)
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


def _score_labels(result, labels_csv: str, tz: str) -> dict:
    """Sitting vs not sitting per second against reference labels, over the seconds both have
    (gap seconds of the recording are left out; so are labelled seconds that are unlabelled, a
    postural transition or straddle a change of label)."""
    import numpy as np

    from sitload.analytics.scoring import kappa
    from sitload.importers import read_labels

    labels = read_labels(labels_csv, tz=tz)
    epochs = result.epochs[result.epochs["posture"] != "gap"]
    both = labels.seconds.merge(epochs.assign(sec=epochs["t"].astype("int64")), on="sec")
    if both.empty:
        raise ConfigError(f"{labels_csv}: no labelled second falls inside the recording")
    found = (both["posture"] == "sitting").to_numpy()
    truth = both["sitting"].to_numpy()
    return {"seconds": int(len(both)), "sitting_agreement": float(np.mean(found == truth)),
            "sitting_kappa": kappa(found, truth),
            "sitting_s_found": int(found.sum()), "sitting_s_labelled": int(truth.sum()),
            "skipped_unlabelled_s": labels.skipped_unlabelled,
            "skipped_straddling_s": labels.skipped_straddling}


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
