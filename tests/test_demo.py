"""`sitload demo`, the main job, as a user runs it: simulated day -> analytics -> prompts over MQTT
-> the prompter -> the report. Once with the embedded broker, once with a real Mosquitto."""

import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent


def run_demo(tmp_path, *extra):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "sitload.cli", "demo", "--hours", "3",
                           "--seed", "2", "-o", str(out), *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, out


def _summary(stdout: str) -> tuple[int, int]:
    line = next(l for l in stdout.splitlines() if "prompts sent" in l)
    sent, shown = line.split(" prompts sent, ")
    return int(sent), int(shown.split()[0])


def test_demo_with_the_embedded_broker_prints_every_prompt_and_the_report(tmp_path):
    stdout, out = run_demo(tmp_path)
    assert "no --broker given: started an embedded MQTT broker" in stdout
    sent, shown = _summary(stdout)
    assert sent > 0 and shown == sent
    assert stdout.count("[break]") + stdout.count("[shift]") + stdout.count("[uncross]") \
        + stdout.count("[stretch]") + stdout.count("[checkin]") == sent
    report = Path(stdout.strip().splitlines()[-1].removeprefix("report: "))
    assert report.is_file() and report.is_relative_to(out.resolve())
    assert "<img" in report.read_text(encoding="utf-8")


def test_demo_against_mosquitto(tmp_path, mosquitto):
    stdout, _ = run_demo(tmp_path, "--broker", mosquitto.url)
    assert "embedded" not in stdout
    sent, shown = _summary(stdout)
    assert sent > 0 and shown == sent
