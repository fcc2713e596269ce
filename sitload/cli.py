"""The `sitload` command: one entry point, a subcommand per job.

Exit codes: 0 success, 2 usage error (argparse), 1 runtime error with a one-line message.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading

from sitload.arguments import add_broker, add_config, add_notify, positive, time_zone
from sitload.ble_commands import add_ble_parsers
from sitload.clinic_commands import add_clinic_parsers
from sitload.cohort_commands import add_cohort_parsers
from sitload.errors import SitloadError, UsageError
from sitload.flare_commands import add_flare_parsers
from sitload.report_commands import add_report_parsers
from sitload.vocab import ImportFormat, LabelsFormat, wire_names

SENSORS = ("thigh-imu", "hip-imu", "pressure")


def _lazy(module: str, name: str):
    """A command function imported only when its subcommand runs (keeps `--help` fast)."""
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)
    return run


class _ListScenarios(argparse.Action):
    """``simulate --list``: print each scenario and its description, then exit 0 (like --help)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from sitload.firmware_sim import SCENARIOS

        for name, scenario in SCENARIOS.items():
            print(f"{name:18s} {scenario.description}")
        parser.exit()


class _Subcommands(argparse._SubParsersAction):
    """Subcommands of which only the one named in the command line (``wanted``; None: all) is
    built. The others are known by name and help, which is all that `sitload --help` and a
    mistyped name show; their parsers and arguments (10-18 ms of every command's start) are
    not made."""

    def __init__(self, *args, wanted: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.wanted = wanted

    def add_parser(self, name: str, **kwargs):
        if self.wanted is None or name == self.wanted:
            return super().add_parser(name, **kwargs)
        if "help" in kwargs:
            self._choices_actions.append(self._ChoicesPseudoAction(name, (), kwargs["help"]))
        self._name_parser_map[name] = _Unbuilt()
        return _Unbuilt()


class _Unbuilt:
    """The parser of a subcommand not run: whatever it is given is dropped."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``argv``, only the subcommand it names is built."""
    parser = argparse.ArgumentParser(
        prog="sitload",
        description="Watch how a person sits; prompt breaks, weight shifts and stretches.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    wanted = None if argv is None else next((a for a in argv if not a.startswith("-")), None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                action=_Subcommands, wanted=wanted)

    p = sub.add_parser("simulate", help="simulate a sensor session into a recording")
    p.add_argument("scenario", help="scenario name (see `sitload simulate --list`)")
    p.add_argument("--list", action=_ListScenarios, help="list the scenarios and exit")
    p.add_argument("--sensor", choices=SENSORS, default="thigh-imu")
    p.add_argument("--hours", type=positive(float), help="limit the wear time (hours)")
    p.add_argument("--days", type=positive(int), default=1, help="wear days (default 1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--drop-rate", type=float, default=0.0, help="fraction of frames lost")
    p.add_argument("--drift-ppm", type=float, default=0.0, help="device clock error (ppm)")
    p.add_argument("--mount-rotation", type=float, help="sensor mounting error (degrees)")
    p.add_argument("-o", "--output", required=True, help="recording file to write")
    p.set_defaults(func=_lazy("sitload.commands", "simulate"))

    p = sub.add_parser("replay", help="stream a recording through decode, analytics and alerts")
    p.add_argument("file", help="recording file")
    add_broker(p, "MQTT broker (mqtt[s]://host:port) to publish prompts to")
    p.add_argument("--device-id", help="device id used in MQTT topics (default: from recording)")
    p.add_argument("--speed", type=positive(float),
                   help="pace at X times real time (default: as fast as possible)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--tolerance-from", nargs="+", metavar="RECORDING",
                   help="earlier recordings with pain reports: prompt breaks at the personal "
                   "sitting tolerance found in them (sitload flares)")
    add_config(p)
    p.set_defaults(func=_lazy("sitload.commands", "replay"))

    p = sub.add_parser("demo", help="simulate a desk day end to end: prompts over MQTT, a report")
    add_broker(p, "MQTT broker (mqtt[s]://host:port; default: an embedded broker on loopback)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hours", type=positive(float), default=8.0)
    p.add_argument("-o", "--output", default="sitload-demo",
                   help="folder for the recording and report (default: ./sitload-demo)")
    add_config(p)
    add_notify(p)
    p.set_defaults(func=_lazy("sitload.demo", "run_demo"))

    p = sub.add_parser("prompts", help="the patient's side: show prompts, answer, report pain",
                       description="Shows each prompt once as it arrives (with --notify also as a "
                       "desktop notification with Done / Snooze / Pain buttons). Type a = done it, k = ok, "
                       "s [min] = snooze, x = dismiss, p N [left|right|both] [note] = pain 0-10, "
                       "q = quit.")
    add_broker(p, "MQTT broker (mqtt[s]://[user:password@]host:port)", required=True)
    p.add_argument("--device", help="device id (default: the one sensor online at the broker)")
    p.add_argument("--no-input", action="store_true", help="only show prompts; read no commands")
    add_notify(p)
    p.set_defaults(func=_lazy("sitload.commands", "prompts"))

    p = sub.add_parser("analyze", help="batch analysis of a recording: bouts, asymmetry, metrics")
    p.add_argument("file", help="recording file")
    p.add_argument("--json", action="store_true", help="print one JSON object (docs/metrics.md)")
    p.add_argument("--epochs", metavar="FILE.csv", help="write one row per second to this CSV")
    add_config(p)
    p.set_defaults(func=_lazy("sitload.commands", "analyze"))

    p = sub.add_parser("score", help="compare a recording's analysis with its ground truth "
                       "(simulated) or with reference labels (real data)")
    p.add_argument("file", help="recording made by `sitload simulate`, or any with --labels")
    p.add_argument("--labels", metavar="FILE.csv", help="reference labels (time,label per second "
                   "or per change; 'sitting' vs anything else): score sitting per second")
    p.add_argument("--labels-format", choices=wire_names(LabelsFormat),
                   help="format of --labels: csv (time,label) or activpal-events (the PAL "
                   "software's events CSV); default: activpal-events when its header names an "
                   "activity code, else csv")
    p.add_argument("--tz", default="UTC", type=time_zone,
                   help="time zone of label times without an offset (default UTC)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    add_config(p)
    p.set_defaults(func=_lazy("sitload.commands", "score"))

    p = sub.add_parser("import", help="import a foreign accelerometer file (CSV, ActiLife, "
                       "Axivity, Sensor Logger, phyphox) into a recording")
    p.add_argument("file", help="CSV with header time,ax,ay,az[,gx,gy,gz], or a file of --format")
    p.add_argument("--format", choices=wire_names(ImportFormat), help="the file's format "
                   "(docs/import-formats.md); default: the one its header names, else csv")
    p.add_argument("--sensor", choices=SENSORS[:2], default="thigh-imu")
    p.add_argument("--units", choices=("g", "ms2"),
                   help="acceleration unit of a csv: g (default) or ms2 (m/s^2)")
    p.add_argument("--gyro-units", choices=("dps", "rads"),
                   help="gyroscope unit of a csv: dps (deg/s, default) or rads (rad/s, e.g. UCI "
                   "HAPT)")
    p.add_argument("--tz", default="UTC", type=time_zone, help="time zone of times without "
                   "an offset (ISO times, device clocks), and of the patient (default UTC)")
    p.add_argument("--start", metavar="TIME", help="start of a recording whose times count from "
                   "it (a phyphox CSV without meta/time.csv, Axivity relative seconds): ISO 8601, "
                   "in --tz without an offset")
    p.add_argument("--skip-bad", action="store_true", help="skip and count malformed rows")
    p.add_argument("-o", "--output", required=True, help="recording file to write")
    p.set_defaults(func=_lazy("sitload.commands", "import_file"))

    add_ble_parsers(sub)
    add_flare_parsers(sub)
    add_report_parsers(sub)
    add_cohort_parsers(sub)
    add_clinic_parsers(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it winds down as on Ctrl-C (a recording
    being written is closed) and exits 143."""


def _terminate(signum, frame) -> None:
    raise Terminated


def printable(text: str) -> str:
    """``text`` with control characters (from file names and file contents) escaped, so an error
    message stays one line and cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="sitload: %(levelname)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"sitload {args.command}: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except SitloadError as exc:
        print(f"sitload: error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:       # the reader of our output went away (`... --json | head`)
        sys.stdout = open(os.devnull, "w")    # nothing more reaches it, not even at exit
        print("sitload: error: the output was closed early (broken pipe)", file=sys.stderr)
        return 1
    except OSError as exc:        # a file or folder that cannot be written or read
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"sitload: error: {printable(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 1
    except Terminated:
        print("sitload: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("sitload: interrupted", file=sys.stderr)
        return 130


def run() -> int:
    """The `sitload` console script: ``main``, then the end of the process. The exit handlers
    run and the output is flushed, as at any exit; but the interpreter is not torn down (every
    object and module freed one by one: 10 % of an 8 h analysis), as nothing is left to need
    it. Where another thread runs, the ordinary exit waits for it."""
    code = main()
    if threading.active_count() > 1:
        return code
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):    # a reader gone, a stream closed
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(run())
