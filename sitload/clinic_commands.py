"""`sitload clinic`: the therapist's live view of every patient on a broker, as a terminal table
and, with ``--http PORT``, as a web page on loopback (docs/clinic.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

from sitload.arguments import add_broker, broker_options, port, positive, time_zone
from sitload.errors import ConfigError
from sitload.vocab import ClinicSort, wire_names

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

HEADINGS = ("patient", "gateway", "sensor", "batt", "now", "bout", "sat today", "load", "last prompt",
            "answer", "acted on", "heard")


def _on_off(value: bool | None) -> str:
    return "?" if value is None else ("online" if value else "offline")


def _minutes(value: float | None) -> str:
    if value is None:
        return ""
    whole = round(value)
    return f"{whole // 60} h {whole % 60:02d} min" if whole >= 60 else f"{whole} min"


def _load(row) -> str:
    parts = [] if row.asymmetry_si is None else [f"SI {row.asymmetry_si:+.0f} %"]
    if row.lean_side not in (None, "none"):
        parts.append(f"leans {row.lean_side}")
    if row.crossed not in (None, "none"):
        parts.append(f"{row.crossed} leg crossed")
    return ", ".join(parts)


def table_lines(rows: list, now: float, tz: ZoneInfo | None) -> list[str]:
    """The board as text lines, one per patient under a heading (the page's columns)."""
    cells = [HEADINGS]
    for row in rows:
        prompt = row.last_prompt
        acted = "" if prompt is None else {None: "open", True: "yes", False: "no"}[prompt.acted_on]
        when = "" if prompt is None else datetime.fromtimestamp(prompt.created, tz).strftime("%H:%M")
        cells.append((
            row.device, _on_off(row.online), _on_off(row.sensor_online),
            "" if row.battery is None else f"{row.battery} %", row.posture or "",
            _minutes(row.bout_minutes) if row.posture == "sitting" else "", _minutes(row.sitting_today_min),
            _load(row), "" if prompt is None else f"{prompt.kind} {when}",
            (prompt.answer or "") if prompt else "", acted,
            "" if row.updated is None else f"{max(0, round(now - row.updated))} s ago"))
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADINGS))]
    return ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in cells]


def clinic(args: argparse.Namespace) -> int:
    from sitload.alerts.clinic_feed import ClinicFeed

    refusal: list[str] = []
    feed = ClinicFeed(args.broker, broker=broker_options(args), on_refused=refusal.append)
    feed.start()
    server = None
    try:
        if args.http is not None:
            from sitload.services.clinic_server import ClinicServer

            server = ClinicServer(feed, args.http)
            server.start()
            print(f"clinic page: {server.url}", file=sys.stderr, flush=True)
        connected = feed.conn.wait_connected(args.wait)
        if args.once:
            if refusal:
                raise ConfigError(refusal[0])
            if not connected:
                raise ConfigError(f"cannot reach the MQTT broker at {args.broker}")
            time.sleep(args.wait)  # the retained documents of every patient arrive meanwhile
            _show(feed, args)
            return 0
        if not connected:
            print(f"sitload: waiting for the MQTT broker at {args.broker}", file=sys.stderr)
        _watch(feed, args, refusal, draw=server is None or sys.stdout.isatty())
    finally:
        if server is not None:
            server.close()
        feed.close()
    return 0


def _show(feed, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({"patients": feed.snapshot(args.sort)[1]}))
        return
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(args.tz) if args.tz else None
    print("\n".join(table_lines(feed.rows(args.sort), time.time(), tz)), flush=True)


def _watch(feed, args: argparse.Namespace, refusal: list[str], draw: bool) -> None:
    """Until Ctrl-C (or the broker refuses the login): redraw the table when the board changed,
    at most every ``--every`` s, when ``draw`` (a page served to a log file draws nothing)."""
    clear = sys.stdout.isatty()
    seen = -1
    while not refusal:
        if not draw:
            time.sleep(1.0)
            continue
        version = feed.wait_changes(seen, args.every)[0]
        if version != seen or clear:  # a terminal redraws the ages as well
            if clear:
                print("\x1b[H\x1b[2J", end="")
            _show(feed, args)
            seen = version
            time.sleep(args.every)
    raise ConfigError(refusal[0])


def add_clinic_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `sitload clinic`."""
    p = sub.add_parser("clinic", help="live view of every patient on a broker (terminal table, web page)",
                       description="Shows every patient whose gateway publishes on the broker: online "
                       "or not, battery, posture and the sitting bout going on, sitting today, "
                       "load, the last prompt and whether it was acted on (docs/clinic.md).")
    add_broker(p, "MQTT broker (mqtt[s]://[user:password@]host:port) to read the patients from",
               required=True)
    p.add_argument("--http", type=port, metavar="PORT",
                   help="also serve the view as a live web page on http://127.0.0.1:PORT/ (0: a free port)")
    p.add_argument("--sort", choices=wire_names(ClinicSort), default=ClinicSort.DEVICE.value,
                   help="order of the table (offline, longest bout, most sat, most lopsided, "
                   "lowest battery, newest prompt, latest heard first; default: device)")
    p.add_argument("--once", action="store_true",
                   help="print the table once, after --wait seconds, and exit")
    p.add_argument("--json", action="store_true", help="with --once: the rows as one JSON object")
    p.add_argument("--wait", type=positive(float), default=2.0, metavar="S",
                   help="with --once: seconds to wait for the broker, then to collect the patients' "
                   "retained state (default 2)")
    p.add_argument("--every", type=positive(float), default=2.0, metavar="S",
                   help="seconds between redraws of the table (default 2)")
    p.add_argument("--tz", type=time_zone, help="time zone of the prompt times (default: this computer's)")
    p.set_defaults(func=clinic)
