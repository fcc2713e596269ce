"""`sitload demo`: a simulated desk day through every stage, end to end."""

from __future__ import annotations

import argparse
import io
import shutil
import threading
import time
from pathlib import Path

from alerts import AlertPublisher, run_prompter, start_embedded_broker
from sensor_ingest.replay import open_recording
from sitload.pipeline import ReplayTimeline, run_session
from sitload.report import write_report
from sitload.simulation import print_progress, simulate_to_recording

DELIVERY_TIMEOUT_S = 15.0


class _PromptPrinter(io.TextIOBase):
    """The prompter's output: printed as it comes, lines counted."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        print(text, end="", flush=True)
        self.lines += text.count("\n")
        return len(text)


def run_demo(args: argparse.Namespace) -> int:
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
        url = broker.url
        print(f"no --broker given: started an embedded MQTT broker at {url}")
    try:
        with open_recording(recording) as rec:
            device_id = rec.device().name or "sensor"
            printer = _PromptPrinter()
            stop = threading.Event()
            prompter = threading.Thread(
                target=run_prompter, args=(url, device_id),
                kwargs={"out": printer, "interactive": False, "stop_event": stop}, daemon=True)
            prompter.start()
            publisher = AlertPublisher(url, device_id, outbox_path=out / "outbox.sqlite")
            timeline = ReplayTimeline()
            try:
                print(f"replaying through analytics and the prompt policy; prompts for "
                      f"{device_id} arrive over MQTT:")
                result = run_session(
                    rec, timeline=timeline,
                    on_prompt=lambda p: publisher.publish_prompt(timeline.to_wall(p)),
                    on_state=publisher.publish_state)
                deadline = time.monotonic() + DELIVERY_TIMEOUT_S
                while printer.lines < len(result.prompts) and time.monotonic() < deadline:
                    publisher.flush()
                    time.sleep(0.1)
            finally:
                publisher.close()
                stop.set()
                prompter.join(timeout=5)
            report = write_report(result, out / "report", title="sitload demo: a desk day",
                                  timezone=rec.meta.get("timezone", "UTC"))
    finally:
        if broker is not None:
            broker.stop()
    print(f"{len(result.prompts)} prompts sent, {printer.lines} shown by the prompter")
    print(f"report: {report.resolve()}")
    return 0
