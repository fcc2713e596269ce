"""`sitload demo`: a simulated desk day through every stage, end to end."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sitload.alerts.desktop import open_desktop
from sitload.alerts.embedded_broker import start_embedded_broker
from sitload.alerts.prompter import Prompter, format_prompt
from sitload.alerts.publisher import AlertPublisher, PublisherOptions
from sitload.sensor_ingest.replay import open_recording
from sitload.arguments import broker_options
from sitload.config_file import settings
from sitload.services.pipeline import ReplayTimeline, run_session
from sitload.progress import print_progress
from sitload.report import write_report
from sitload.report.model import session_recording
from sitload.services.simulation import simulate_to_recording

DELIVERY_TIMEOUT_S = 15.0


def run_demo(args: argparse.Namespace) -> int:
    config = settings(args)
    connection = broker_options(args)
    out = Path(args.output)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    recording = out / "desk-day.sitload"
    print(f"simulating {args.hours:g} h of a desk day (thigh IMU, seed {args.seed}) ...")
    simulate_to_recording(recording, scenario="desk-day", sensor="thigh-imu", seed=args.seed,
                          hours=args.hours, progress=print_progress)

    broker = None
    url = args.broker
    if url is None:
        broker = start_embedded_broker()
        url, connection = broker.url, replace(connection, protocol=broker.protocol)
        print(f"no --broker given: started an embedded MQTT broker (amqtt, MQTT {broker.protocol}) "
              f"at {url}")
    try:
        with open_recording(recording) as rec:
            device_id = rec.device().name or "sensor"
            timezone = rec.meta.get("timezone", "UTC")
            zone = ZoneInfo(timezone)
            raised_at: dict[str, float] = {}  # prompt id -> the simulated time that raised it

            def show(doc: dict) -> None:
                when = datetime.fromtimestamp(raised_at.get(doc["id"], time.time()), zone)
                print(f"{when:%H:%M} {format_prompt(doc)}", flush=True)
                if desktop is not None:
                    desktop.show(doc)

            def publish(prompt) -> None:
                raised_at[prompt.id] = prompt.created
                publisher.publish_prompt(timeline.to_wall(prompt))

            desktop = open_desktop(lambda answer: prompter.answer(answer.message(time.time())),
                                   sys.stdout) if args.notify else None
            prompter = Prompter(url, device_id, broker=connection, on_prompt=show)
            publisher = AlertPublisher(url, device_id, outbox_path=out / "outbox.sqlite", broker=connection,
                                       options=PublisherOptions(timezone=timezone))
            timeline = ReplayTimeline()
            try:
                print(f"replaying through analytics and the prompt policy; prompts for "
                      f"{device_id} arrive over MQTT:")
                result = run_session(
                    rec, timeline=timeline, device_id=device_id,
                    policy_config=config.policy, analysis_config=config.analysis,
                    on_prompt=publish,
                    on_state=publisher.publish_state)
                deadline = time.monotonic() + DELIVERY_TIMEOUT_S
                while len(prompter.prompts) < len(result.prompts) and time.monotonic() < deadline:
                    publisher.flush()
                    time.sleep(0.1)
                if desktop is not None and desktop.shown:
                    print(f"{len(desktop.shown)} prompt(s) on the desktop: answer them there "
                          f"(Ctrl-C goes on to the report)", flush=True)
                    try:
                        desktop.wait_answered()
                    except KeyboardInterrupt:
                        pass
            finally:
                publisher.close()
                prompter.close()
                if desktop is not None:
                    desktop.close()
            report = write_report([session_recording(rec, result)], out / "report",
                                  title="sitload demo: a desk day",
                                  timezone=timezone, settings=config)
    finally:
        if broker is not None:
            broker.stop()
    print(f"{len(result.prompts)} prompts sent, {len(prompter.prompts)} shown by the prompter")
    print(f"report: {report.index.resolve()}")
    return 0
