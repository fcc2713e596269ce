"""`sitload diary` and `sitload flares`: the symptom diary and flare-up linkage (docs/flares.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime

from sitload.arguments import add_config
from sitload.errors import ConfigError, UsageError
from sitload.vocab import PainLocation, PainSide, wire_names


def add_flare_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `diary add`, `diary list` and `flares`."""
    p = sub.add_parser("diary", help="the symptom diary stored with a recording")
    actions = p.add_subparsers(dest="diary_command", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="add a pain report to a recording")
    a.add_argument("recording", help="recording file")
    a.add_argument("--pain", required=True, help="pain now, 0-10 (numeric rating scale)")
    a.add_argument("--side", required=True,
                   help=f"side of the pain: {', '.join(wire_names(PainSide))}")
    a.add_argument("--location", help=f"where: {', '.join(wire_names(PainLocation))}")
    a.add_argument("--tingling", action="store_true", help="pins and needles or numbness")
    a.add_argument("--at", metavar="TIME", help="when (ISO 8601, e.g. 2026-03-02T10:30; without an "
                   "offset in the recording's time zone; default now)")
    a.add_argument("--note", help="free text (at most 500 characters)")
    a.set_defaults(func=diary_add)
    a = actions.add_parser("list", help="print the diary of a recording")
    a.add_argument("recording", help="recording file")
    a.add_argument("--json", action="store_true", help="print a JSON array")
    a.set_defaults(func=diary_list)

    p = sub.add_parser("flares", help="relate pain flares to the sitting before them; the personal "
                       "sitting tolerance")
    p.add_argument("recordings", nargs="+", metavar="RECORDING",
                   help="recordings of one sensor, one after another")
    p.add_argument("--baseline", type=float, help="usual pain (default: the median report)")
    p.add_argument("--flare-pain", type=int,
                   help="pain that is always a flare (default 7, or the --config file's)")
    p.add_argument("--json", action="store_true", help="print one JSON object (docs/flares.md)")
    add_config(p)
    p.set_defaults(func=flares)


def parse_time(text: str, tz: str) -> float:
    """ISO 8601 date-time to UTC epoch seconds; a time without an offset is in ``tz``."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at: {text!r} is not an ISO 8601 time (e.g. 2026-03-02T10:30 or "
                          f"2026-03-02T10:30:00Z)") from None
    if dt.tzinfo is None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            dt = dt.replace(tzinfo=ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"recording time zone {tz!r} is unknown; give --at with an "
                              f"offset") from None
    return dt.timestamp()


def _pain(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--pain must be a whole number from 0 to 10, not {text!r}") from None


def diary_add(args: argparse.Namespace) -> int:
    from sitload.analytics.flares import DiaryEntry
    from sitload.sensor_ingest.recording import Recording, append_diary

    with Recording(args.recording) as rec:
        tz = rec.meta.get("timezone", "UTC")
    t = time.time() if args.at is None else parse_time(args.at, tz)
    try:
        entry = DiaryEntry(t, _pain(args.pain), args.location, args.side,
                           args.tingling or None, args.note, source="cli")
    except ConfigError as exc:                    # the values given on the command line
        raise UsageError(str(exc)) from None
    entry_id = append_diary(args.recording, entry.t, entry.pain, location=entry.location,
                            side=entry.side, tingling=entry.tingling, note=entry.note,
                            source=entry.source)
    print(f"stored diary entry {entry_id} in {args.recording}")
    return 0


def diary_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from sitload.timestamps import iso_utc
    from sitload.sensor_ingest.recording import Recording

    with Recording(args.recording) as rec:
        diary = rec.diary()

    def text(value: object) -> str | None:    # SQL NULL may be read as NaN
        return None if pd.isna(value) else str(value)

    rows = [{"id": int(r.id), "time": iso_utc(r.t), "pain": int(r.pain),
             "location": text(r.location), "side": text(r.side),
             "tingling": None if pd.isna(r.tingling) else bool(r.tingling),
             "note": text(r.note), "source": text(r.source)}
            for r in diary.itertuples(index=False)]
    if args.json:
        json.dump(rows, sys.stdout)
        print()
        return 0
    for r in rows:
        extra = ", tingling" if r["tingling"] else ""
        print(f"{r['time']}  pain {r['pain']:>2}  {r['side'] or '-'} {r['location'] or ''}"
              f"{extra}  [{r['source']}] {r['note'] or ''}".rstrip())
    return 0


def flares(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sitload.commands import note
    from sitload.config_file import settings
    from sitload.progress import print_progress
    from sitload.services.flare_analysis import analyze_flares

    config = settings(args)
    given = {"baseline_pain": args.baseline, "flare_pain": args.flare_pain}
    flare_config = replace(config.flares, **{k: v for k, v in given.items() if v is not None})
    analysis, notes = analyze_flares(args.recordings, flare_config, config.analysis,
                                     print_progress)
    for text in notes:
        note(text)
    if args.json:
        json.dump({**analysis.to_json(), "recordings": list(args.recordings)}, sys.stdout)
        print()
    else:
        print(flares_text(analysis))
    return 0


def flares_text(analysis) -> str:
    """The summary and, when there are any, a table of the exposures compared (a dash and "not
    measured" for one the sensor cannot see)."""
    from sitload.analytics.flares import format_p

    lines = [analysis.summary]
    if analysis.exposures:
        lines += ["", f"{'exposure (before each report)':58s} {'flares':>7s} {'others':>7s} "
                      f"{'diff [95% CI]':>20s} {'p adj':>6s}"]
    for e in analysis.exposures:
        if not e.measured:
            lines.append(f"{e.label:58s} {'-':>7s} {'-':>7s} {'not measured':>20s} {'-':>6s}")
            continue
        ci = f"{e.diff:+.1f} [{e.diff_ci[0]:+.1f}, {e.diff_ci[1]:+.1f}]"
        p = "-" if e.p is None else format_p(e.p).lstrip("=")
        mark = " linked" if e.linked else ""
        lines.append(f"{e.label:58s} {e.flare_mean:7.1f} {e.other_mean:7.1f} {ci:>20s} "
                     f"{p:>6s}{mark}")
    return "\n".join(lines)
