"""`sitload scan` and `sitload monitor`: the BLE side of the command line (the use cases are in
sitload.services.bluetooth). The BLE stack is imported when a command runs, not when the parser
is built (keeps `--help` fast).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sitload.arguments import add_broker, add_config, add_notify, broker_options, positive, time_zone
from sitload.errors import ConfigError, UsageError
from sitload.services.bluetooth import DEVICES, profile
from sitload.vocab import Posture, SensorKind

if TYPE_CHECKING:
    from sitload.sensor_ingest.ble_ingest import LinkStatus, SensorLink



def add_ble_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `scan` and `monitor`."""
    p = sub.add_parser("scan", help="list nearby sensors (sitload, WitMotion) with signal "
                       "strength and battery")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to scan (default 5)")
    p.add_argument("--simulate", type=int, metavar="N",
                   help="scan N simulated sensors on the virtual radio instead of hardware")
    p.add_argument("--device", choices=DEVICES,
                   help="only this sensor family (default: every family; simulated: sitload)")
    p.set_defaults(func=scan_command)

    p = sub.add_parser("monitor", help="stream sensors live: decode, record, show status",
                       description="Connect to sensors (reconnecting after drops), decode and "
                       "record every frame until Ctrl-C, or until a simulated run ends.")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--address", action="append", metavar="ADDR",
                        help="sensor address (repeat for several sensors)")
    target.add_argument("--simulate", metavar="SCENARIO",
                        help="stream a simulated sensor over the virtual radio")
    p.add_argument("--device", choices=DEVICES, default="sitload",
                   help="sensor family: sitload (protocol v1) or witmotion (WT901BLECL, "
                   "BWT901BLE5.0, WT9011; needs --sensor) (default sitload)")
    p.add_argument("--sensor", choices=[k.cli_name for k in SensorKind],
                   help="where the sensor is worn (a WitMotion IMU: hip-imu or thigh-imu); "
                   "with --simulate the simulated sensor (default thigh-imu)")
    p.add_argument("--rate", type=positive(float), metavar="HZ",
                   help="WitMotion output rate: 10, 20, 50, 100 or 200 Hz (default 50)")
    p.add_argument("--record", metavar="FILE", help="write a recording (a new file)")
    add_broker(p, "MQTT broker (mqtt[s]://host:port) for prompts and state")
    p.add_argument("--tz", type=time_zone, default="UTC",
                   help="the wearer's time zone, for 'sitting today', the prompt policy's "
                   "hours and reports (default UTC)")
    p.add_argument("--tolerance-from", nargs="+", metavar="RECORDING",
                   help="earlier recordings with pain reports: prompt breaks at the personal "
                   "sitting tolerance found in them (sitload flares)")
    p.add_argument("--ha-discovery", action="store_true",
                   help="publish Home Assistant MQTT discovery for each sensor (with --broker)")
    add_notify(p)
    add_config(p)
    sim = p.add_argument_group("simulation (with --simulate)")
    sim.add_argument("--seed", type=int, help="simulation seed (default 1)")
    sim.add_argument("--speed", type=positive(float), help="X times real time (default 1)")
    sim.add_argument("--minutes", type=positive(float),
                     help="wear minutes to stream (default: whole day)")
    p.set_defaults(func=monitor_command)


# -- scan ---------------------------------------------------------------------------------------
def scan_command(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be > 0, got {args.timeout}")
    if args.simulate is not None and not 1 <= args.simulate <= 32:
        raise ConfigError(f"--simulate takes 1..32 sensors, got {args.simulate}")
    import asyncio    # here, not at the top: the batch commands load no event loop

    from sitload.services.bluetooth import scan, scan_simulated

    devices = [args.device] if args.device else list(DEVICES)
    rows = asyncio.run(scan_simulated(args.simulate, args.timeout, args.device or "sitload")
                       if args.simulate else scan(args.timeout, devices=devices))
    if not rows:
        print(f"no {' or '.join(devices)} sensors found", file=sys.stderr)
        return 0
    print(f"{'address':17}  {'kind':9}  {'name':22} {'rssi':>5}  battery")
    for address, family, name, rssi, battery in rows:
        level = "?" if battery is None else f"{battery}%"
        print(f"{address:17}  {family:9}  {name:22} {rssi:>5}  {level}")
    return 0


# -- monitor ------------------------------------------------------------------------------------
def monitor_command(args: argparse.Namespace) -> int:
    import asyncio

    from sitload.sensor_ingest.recording import RecordingWriter
    from sitload.config_file import settings

    sim_only = {"--seed": args.seed, "--speed": args.speed, "--minutes": args.minutes}
    witmotion = args.device == "witmotion"
    if args.address:
        given = [flag for flag, value in sim_only.items() if value is not None]
        if args.sensor is not None and not witmotion:
            given.insert(0, "--sensor")
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --simulate")
        if witmotion and args.sensor is None:
            raise UsageError("--device witmotion needs --sensor hip-imu or thigh-imu "
                             "(where the sensor is worn)")
    if args.rate is not None and not witmotion:
        raise UsageError("--rate only applies with --device witmotion")
    try:
        link_profile = profile(args.device, args.sensor or "thigh-imu", args.rate)
    except ConfigError as exc:  # a rate or placement this family does not have
        raise UsageError(str(exc)) from None
    if args.ha_discovery and not args.broker:
        raise ConfigError("--ha-discovery needs --broker")
    broker = broker_options(args)
    config = settings(args)
    from sitload.commands import personal_policy
    from sitload.services.live import LiveSessions
    from sitload.services.pipeline import ReplayTimeline
    from sitload.services.bluetooth import monitor_hardware, monitor_simulated

    meta = {"source": "ble", "timezone": args.tz}
    sims = []
    if args.simulate:
        from sitload.firmware_sim import SimulatedSensor

        sensor, seed = args.sensor or "thigh-imu", 1 if args.seed is None else args.seed
        sims = [SimulatedSensor(args.simulate, sensor, seed=seed,
                                hours=None if args.minutes is None else args.minutes / 60)]
        meta.update(transport="virtual radio", scenario=args.simulate, seed=str(seed),
                    sensor=sensor, device=args.device)
    recording = RecordingWriter(args.record, meta=meta) if args.record else None
    sessions = LiveSessions(broker_url=args.broker, recording=recording,
                            timeline=ReplayTimeline(args.speed or 1.0) if sims else None,
                            ha_discovery=args.ha_discovery, timezone=args.tz, broker=broker,
                            policy_config=personal_policy(args.tolerance_from, config),
                            analysis_config=config.analysis)
    if args.notify:
        from sitload.alerts.desktop import open_desktop

        sessions.desktop = open_desktop(sessions.answer, sys.stdout)
    status = StatusLine(sys.stderr, sessions.posture)
    options = {"on_batches": lambda link, batches: sessions.feed(
        link.device.address, link.status.name, link.status.kind, batches),
        "on_availability": sessions.availability,
        "profile": link_profile}
    links: list[SensorLink] = []
    try:
        if sims:
            links, _ = asyncio.run(monitor_simulated(
                sims, recording, speed=args.speed or 1.0, on_tick=status.show,
                link_options=options, device=args.device))
        else:
            asyncio.run(monitor_hardware(args.address, recording, links, status.show, options))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live monitor ends; the links have closed and flushed
    finally:
        status.end()
        sessions.close()
        if recording is not None:
            recording.close()
    for link in links:
        print(summary(link.status))
        for prompt in sessions.prompts(link.device.address):
            print(f"  prompt [{prompt.kind}] {prompt.message}")
    if args.record:
        print(f"recording: {args.record}")
    return 0


# -- output -------------------------------------------------------------------------------------
def status_text(status: LinkStatus, frames_per_s: float, posture: Posture | None = None) -> str:
    battery = "?" if status.battery is None else f"{status.battery}%"
    return (f"{status.name} {status.state} {frames_per_s:.0f} fr/s gaps {status.gaps} "
            f"({status.missing_frames} lost) bad {status.bad_frames} batt {battery}"
            + (f" {posture.wire}" if posture is not None else ""))


def summary(status: LinkStatus) -> str:
    battery = "?" if status.battery is None else f"{status.battery}%"
    return (f"{status.name} ({status.address}): {status.frames} frames, {status.bad_frames} bad, "
            f"{status.gaps} gaps ({status.missing_frames} frames lost), "
            f"{status.connects} connections, battery {battery}"
            + (f"; {status.note}" if status.note else ""))


@dataclass
class StatusLine:
    """One live line on a terminal (nothing when the stream is not a terminal)."""

    stream: object
    posture: Callable[[str], str | None]
    _width: int = 0

    def show(self, rows: list[tuple[LinkStatus, float]]) -> None:
        if not self.stream.isatty():
            return
        text = " | ".join(status_text(s, r if math.isfinite(r) else 0.0, self.posture(s.address))
                          for s, r in rows)
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def end(self) -> None:
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
