"""Event-to-publish latency of prompts in a paced replay, received by `mosquitto_sub` (another
process) from a real Mosquitto started here, against a baseline measured in the same run: bare paho
QoS 1 messages of the same size, publish -> receive, through the same broker and subscriber.

    .venv/bin/python benchmarks/alert_latency.py [--hours 4] [--seconds 60]

A simulated flare-day recording is replayed through decode -> analytics -> policy -> outbox ->
MQTT at (hours * 3600 / seconds) X real time. Two latencies per prompt, both to the moment
mosquitto_sub printed it:
- from the event: the data time the policy was called at, mapped to wall time by ReplayTimeline
  (includes waiting for the batch that holds the event to be replayed);
- from the policy: the moment the policy returned the prompt (outbox write + MQTT + broker).
The policy is tuned to prompt often (short thresholds and cooldowns) to get enough samples; the
transport does not care which prompt it carries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from sitload.alerts.publisher import AlertPublisher, PublisherOptions
from sitload.alerts.policy import PolicyConfig
from sitload.alerts.messages import alert_payload
from sitload.vocab import PromptKind
from sitload.sensor_ingest.replay import open_recording
from sitload.services.pipeline import ReplayTimeline, run_session
from sitload.services.simulation import simulate_to_recording

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import MosquittoBroker, wait_until  # the test suite's broker runner

DENSE = PolicyConfig(break_after_min=5.0, shift_after_min=1.0, uncross_after_min=2.0, stretch_after_bout_min=5.0,
                     cooldown_min={kind: 2.0 for kind in PromptKind}, max_prompts_per_hour=60, escalate_after_min=3.0)
BASELINE_N = 300


class Subscriber:
    """mosquitto_sub on ``topics``; ``received`` maps a message key to its receive time (epoch s)."""

    def __init__(self, broker: MosquittoBroker, topics: list[str], key) -> None:
        self.received: dict[str, float] = {}
        self._proc = subprocess.Popen(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                                       "-F", "%U %p", *[a for t in topics for a in ("-t", t)]],
                                      stdout=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, args=(key,), daemon=True)
        self._thread.start()

    def _read(self, key) -> None:
        for line in self._proc.stdout:
            at, payload = line.rstrip("\n").split(" ", 1)
            self.received[key(json.loads(payload))] = float(at)

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def replay_latencies(broker: MosquittoBroker, recording: Path, speed: float, workdir: Path
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """(from-event, from-policy latencies in s, payload bytes) of every prompt of a paced replay."""
    device = "bench"
    sub = Subscriber(broker, [f"sitload/v1/{device}/alert"], key=lambda doc: doc["id"])
    publisher = AlertPublisher(broker.url, device, outbox_path=workdir / "bench.outbox",
                               options=PublisherOptions(await_prompter=False))
    timeline = ReplayTimeline(speed)
    raised: dict[str, tuple[float, float]] = {}  # id -> (event mapped to wall, policy returned)
    sizes = []

    def on_prompt(prompt) -> None:
        returned = time.time()
        wall = timeline.to_wall(prompt)
        raised[prompt.id] = (wall.created, returned)
        sizes.append(len(json.dumps(alert_payload(wall), ensure_ascii=False).encode()))
        publisher.publish_prompt(wall)

    try:
        wait_until(lambda: publisher.conn.connected, what="publisher connected")
        time.sleep(0.5)  # mosquitto_sub subscribed
        with open_recording(recording) as rec:
            run_session(rec, speed=speed, policy_config=DENSE, timeline=timeline, device_id=device,
                        on_prompt=on_prompt, on_state=publisher.publish_state)
        wait_until(lambda: set(raised) <= set(sub.received), timeout=10, what="every prompt received")
    finally:
        publisher.close()
        sub.close()
    got = [(sub.received[pid] - event, sub.received[pid] - returned) for pid, (event, returned) in raised.items()]
    return np.array([g[0] for g in got]), np.array([g[1] for g in got]), int(np.median(sizes))


def baseline_latencies(broker: MosquittoBroker, size: int, n: int = BASELINE_N) -> np.ndarray:
    """Publish -> receive of bare paho QoS 1 messages of ``size`` bytes, one every 20 ms."""
    sub = Subscriber(broker, ["bench/raw"], key=lambda doc: doc["n"])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    sent: dict[str, float] = {}
    try:
        wait_until(client.is_connected, what="raw client connected")
        time.sleep(0.5)
        for i in range(n):
            doc = {"n": str(i), "pad": ""}
            doc["pad"] = "x" * max(0, size - len(json.dumps(doc)))
            sent[str(i)] = time.time()
            client.publish("bench/raw", json.dumps(doc), qos=1)
            time.sleep(0.02)
        wait_until(lambda: len(sub.received) == n, timeout=10, what="every raw message received")
    finally:
        client.disconnect()
        client.loop_stop()
        sub.close()
    return np.array([sub.received[k] - t for k, t in sent.items()])


def _ms(values: np.ndarray) -> str:
    p50, p99 = np.percentile(values, [50, 99]) * 1000
    return f"p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0, help="hours of data replayed (default 4)")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall seconds the replay takes (default 60)")
    args = parser.parse_args()
    speed = args.hours * 3600 / args.seconds
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        recording = simulate_to_recording(work / "flare.sitrec", scenario="flare-day", sensor="thigh-imu", seed=1,
                                          hours=args.hours)
        broker = MosquittoBroker(exe, work)
        broker.start()
        try:
            from_event, from_policy, size = replay_latencies(broker, recording, speed, work)
            raw = baseline_latencies(broker, size)
        finally:
            broker.stop()
    print(f"paced replay of {args.hours:g} h flare-day at {speed:g}x; prompts of ~{size} bytes, QoS 1, Mosquitto")
    print(f"event (data time -> wall) -> received : {_ms(from_event)}")
    print(f"policy returned -> received           : {_ms(from_policy)}")
    print(f"baseline: bare paho QoS 1 -> received : {_ms(raw)}")
    ratio = np.percentile(from_policy, [50, 99]) / np.percentile(raw, [50, 99])
    print(f"policy -> received vs baseline        : p50 x{ratio[0]:.1f}   p99 x{ratio[1]:.1f}")


if __name__ == "__main__":
    main()
