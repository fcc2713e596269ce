"""`sitload prompts` against a real Mosquitto: finds the one online device, shows its prompts."""

import os
import subprocess
import sys
from pathlib import Path

from sitload.alerts.publisher import AlertPublisher
from conftest import make_prompt, wait_until

ROOT = Path(__file__).resolve().parent.parent


def run_prompts_until_a_break_is_shown(tmp_path, broker_url: str, device: str, *options: str,
                                       env: dict | None = None) -> tuple[list[str], str]:
    """`sitload prompts --broker URL --no-input OPTIONS` until a break prompt published for
    ``device`` is printed: its output lines and stderr."""
    publisher = AlertPublisher(broker_url, device, outbox_path=tmp_path / "outbox")
    wait_until(lambda: publisher.conn.connected, what="publisher connected")
    out = tmp_path / "prompts.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "sitload.cli", "prompts", "--broker",
                                 broker_url, "--no-input", *options], cwd=ROOT, stdout=stdout,
                                stderr=subprocess.PIPE, text=True,
                                env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: publisher.prompter_online, timeout=15, what="prompter online")
        publisher.publish_prompt(make_prompt(device, "break"))
        wait_until(lambda: "[break]" in out.read_text(), what="the prompt shown")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        publisher.close()
    return out.read_text().splitlines(), err


def test_prompts_finds_the_online_device_and_shows_its_prompts(tmp_path, mosquitto):
    lines, err = run_prompts_until_a_break_is_shown(tmp_path, mosquitto.url, "pt-0042")
    assert lines[0] == f"prompts for pt-0042 from {mosquitto.url}", err


def test_prompts_without_a_reachable_broker_says_so_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "sitload.cli", "prompts", "--broker",
                           "mqtt://127.0.0.1:1", "--no-input"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "sitload: error: cannot reach the MQTT broker at mqtt://127.0.0.1:1"
