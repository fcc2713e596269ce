"""`sitload monitor --simulate ... --broker`: the live path end to end — simulated sensor over the
Bumble virtual link, bleak, decode, analytics, policy, a real Mosquitto, a real prompter and a
`mosquitto_sub` client — and the patient's ack and pain report back into the recording."""

import json
import subprocess
import threading
import time

from sitload.alerts.messages import SymptomReport
from sitload.alerts.prompter import Prompter
from sitload.firmware_sim import SimulatedSensor
from conftest import wait_until
from sitload.sensor_ingest.recording import Recording
from sitload.cli import main


def test_live_prompts_reach_the_prompter_and_answers_are_stored(tmp_path, mosquitto, monkeypatch):
    monkeypatch.setenv("SITLOAD_STATE_DIR", str(tmp_path / "state"))
    sub = subprocess.Popen(["mosquitto_sub", "-h", mosquitto.host, "-p", str(mosquitto.port),
                            "-t", "sitload/v1/+/alert", "-v"], stdout=subprocess.PIPE, text=True)
    record = tmp_path / "live.sitload"
    config = tmp_path / "sitload.toml"  # at 300x a prompt lives 15 s of wall time, not 3
    config.write_text("[policy]\nexpiry_min = 75\n")
    shown: list[dict] = []
    device = SimulatedSensor("flare-day", "thigh-imu", seed=2).name
    prompter = Prompter(mosquitto.url, device, on_prompt=shown.append)

    def answer():
        wait_until(lambda: shown, timeout=60, what="a prompt at the prompter")
        prompter.ack(shown[0]["id"], "snooze", minutes=5)
        prompter.report(SymptomReport.new(6, time.time(), side="left"))

    helper = threading.Thread(target=answer, daemon=True)
    helper.start()
    try:
        code = main(["monitor", "--simulate", "flare-day", "--seed", "2", "--minutes", "45",
                     "--speed", "300", "--config", str(config), "--broker", mosquitto.url,
                     "--record", str(record)])
        helper.join(timeout=30)
    finally:
        prompter.close()
        sub.terminate()
    assert code == 0
    lines = sub.communicate(timeout=10)[0].splitlines()
    seen = [json.loads(line.split(" ", 1)[1]) for line in lines]
    breaks = [doc for doc in seen if doc["kind"] == "break"]
    assert breaks and breaks[0]["schema"] == 1 and "sitting for 30 min" in breaks[0]["message"]
    assert shown[0]["id"] == seen[0]["id"]
    with Recording(record) as rec:
        stored = rec.prompts()
        assert seen[0]["id"] in set(stored["id"])
        acks = rec.acks()
        assert acks["action"].tolist() == ["snooze"] and acks["detail"].tolist() == ["5 min"]
        diary = rec.diary()
        assert diary["pain"].tolist() == [6] and diary["source"].tolist() == ["mqtt"]
    # the state directory and the outbox in it hold health data: private to the user
    state = tmp_path / "state"
    assert (state.stat().st_mode & 0o777) == 0o700
    assert ((state / f"{device}.outbox").stat().st_mode & 0o777) == 0o600
