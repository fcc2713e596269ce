"""Home Assistant MQTT discovery from `sitload monitor --simulate ... --broker --ha-discovery`: the
live path over the virtual BLE radio to a real Mosquitto, and the sensor's availability."""

import json
import subprocess

import jinja2
import paho.mqtt.client as mqtt
import pytest

from sitload.alerts.schemas import VALIDATORS
from sitload.analytics import analyze
from conftest import wait_until
from sitload.firmware_sim import SimulatedSensor
from sitload.sensor_ingest.replay import open_recording, replay_batches
from sitload.vocab import SensorKind
from sitload.cli import main


def _retained(broker, topic: str, count: int) -> dict[str, dict]:
    """Topic -> JSON of the ``count`` messages a new subscriber to ``topic`` gets; all must be retained."""
    out = subprocess.run(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", topic, "-C", str(count),
                          "-W", "5", "-F", "%r %t %p"], capture_output=True, text=True, timeout=15,
                         check=False).stdout
    lines = [line.split(" ", 2) for line in out.splitlines()]
    assert len(lines) == count and all(flag == "1" for flag, _, _ in lines), out
    return {topic: json.loads(payload) for _, topic, payload in lines}


def _batches(path) -> list:
    with open_recording(path) as rec:
        return list(replay_batches(rec, rec.device().id))


def _render(template: str, doc: dict) -> str:
    """A value_template as Home Assistant renders it (Jinja2 with ``value_json``)."""
    return jinja2.Environment().from_string(template).render(value_json=doc)


def test_discovery_configs_are_retained_and_availability_follows_the_sensor_link(tmp_path, mosquitto, monkeypatch):
    monkeypatch.setenv("SITLOAD_STATE_DIR", str(tmp_path / "state"))
    device = SimulatedSensor("desk-day", "thigh-imu", seed=1).name
    docs: list[dict] = []
    availability = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def seen(client, userdata, message):
        docs.append(json.loads(message.payload))
        availability.append(docs[-1]["online"])

    watcher.on_message = seen
    watcher.on_connect = lambda c, u, f, rc, p: c.subscribe(f"sitload/v1/{device}/availability", qos=1)
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.loop_start()
    try:
        wait_until(watcher.is_connected, what="watcher connected")
        code = main(["monitor", "--simulate", "desk-day", "--minutes", "20", "--speed", "300", "--broker",
                     mosquitto.url, "--ha-discovery", "--record", str(tmp_path / "live.sitload")])
        assert code == 0
        wait_until(lambda: availability[-1:] == [False], what="availability offline at the end")
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    assert availability[0] is True  # online while the link streamed, offline when it stopped
    for doc in docs:
        VALIDATORS["availability"].validate(doc)
    charges = [doc["battery"] for doc in docs if doc["online"]]
    assert charges and all(0 < c <= 100 for c in charges)  # the simulated sensor's battery service

    configs = _retained(mosquitto, "homeassistant/sensor/#", 4)
    node = "sitload_" + device.replace(".", "_")
    assert sorted(configs) == [f"homeassistant/sensor/{node}/{obj}/config"
                               for obj in ("asymmetry", "bout_minutes", "posture", "sitting_today")]
    assert len({c["unique_id"] for c in configs.values()}) == 4
    state = _retained(mosquitto, f"sitload/v1/{device}/state", 1)[f"sitload/v1/{device}/state"]
    VALIDATORS["state"].validate(state)
    bouts = analyze(SensorKind.THIGH_IMU, _batches(tmp_path / "live.sitload")).bouts
    assert bouts and state["sitting_today_min"] == pytest.approx(sum(b.duration_s for b in bouts) / 60, abs=0.2)
    status = {}
    for config in configs.values():
        assert config["state_topic"] == f"sitload/v1/{device}/state"
        assert config["availability_mode"] == "all"
        assert [a["topic"] for a in config["availability"]] == [f"sitload/v1/{device}/status",
                                                                f"sitload/v1/{device}/availability"]
        assert config["device"]["identifiers"] == [node] and config["device"]["model"] == "thigh-imu"
        for a in config["availability"]:
            doc = _retained(mosquitto, a["topic"], 1)[a["topic"]]
            VALIDATORS[a["topic"].rsplit("/", 1)[1]].validate(doc)
            status[a["topic"]] = _render(a["value_template"], doc)
    assert set(status.values()) == {"offline"}  # gateway closed and sensor stopped: unavailable
    values = {obj: _render(configs[f"homeassistant/sensor/{node}/{obj}/config"]["value_template"], state)
              for obj in ("posture", "bout_minutes", "asymmetry", "sitting_today")}
    assert values["posture"] == state["posture"] and values["asymmetry"] == state["lean_side"]
    assert float(values["sitting_today"]) == state["sitting_today_min"]
    assert float(values["bout_minutes"]) == (state["bout_minutes"] or 0)
