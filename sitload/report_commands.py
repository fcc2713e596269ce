"""`sitload report`: the therapist's report and exports."""

from __future__ import annotations

import argparse
import os

from sitload.arguments import add_config, positive, time_zone


def report(args: argparse.Namespace) -> int:
    from sitload.config_file import settings
    from sitload.services.analysis_workers import Analyses

    chosen, workers = settings(args), args.workers or os.cpu_count() or 1
    with Analyses(args.recordings, chosen.analysis, workers) as analyses:
        # the recordings are analysed on other processes while the report's libraries load
        from sitload.progress import print_progress
        from sitload.report import build_report

        files = build_report(args.recordings, args.output, timezone=args.tz, title=args.title,
                             progress=print_progress, settings=chosen, workers=workers,
                             analyses=analyses)
    print(f"wrote {files.index} and {len(files.exports)} exports beside it")
    return 0


def add_report_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `sitload report`."""
    p = sub.add_parser("report", help="therapist's report (HTML) and exports (CSV, Parquet, FHIR)")
    p.add_argument("recordings", nargs="+", metavar="RECORDING", help="recording file(s)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="folder for index.html and the exports (made if missing)")
    p.add_argument("--tz", metavar="ZONE", type=time_zone,
                   help="the patient's time zone, e.g. Europe/Berlin "
                   "(default: the recordings' own)")
    p.add_argument("--title", help="page title (default: from the recording names)")
    p.add_argument("--workers", type=positive(int), metavar="N",
                   help="processes that analyse the recordings and draw the figures "
                   "(default: one per CPU)")
    add_config(p)
    p.set_defaults(func=report)
