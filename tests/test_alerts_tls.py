"""mqtts:// with a password against a real Mosquitto TLS listener (certificates made for the test),
from the API and from every command that takes --broker, with the private CA given by --ca-file."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sitload.alerts.broker import TlsOptions
from sitload.alerts.prompter import Prompter
from sitload.alerts.publisher import AlertPublisher
from conftest import (MosquittoBroker, fast_reconnect, make_prompt, require_mosquitto, wait_until,
                      write_ca_and_server_cert)
from sitload.firmware_sim import SimulatedSensor
from sitload.cli import main
from sitload.errors import ConfigError
from sitload.services.simulation import simulate_to_recording

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    exe = require_mosquitto()
    d = tmp_path_factory.mktemp("mosquitto-tls")
    ca, cert, key = write_ca_and_server_cert(d)
    passwd = d / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "patient", "correct horse"], check=True,
                   capture_output=True)
    passwd.chmod(0o600)
    broker = MosquittoBroker(exe, d, tls=True, settings=(
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\nallow_anonymous false\npassword_file {passwd}"))
    broker.start()
    yield broker, str(ca)
    broker.stop()


def test_prompt_over_tls_with_password(tls_broker, tmp_path):
    broker, ca = tls_broker
    url = f"mqtts://patient:correct%20horse@{broker.host}:{broker.port}"
    pub = AlertPublisher(url, "tls1", outbox_path=tmp_path / "o.db",
                         broker=fast_reconnect(tls=TlsOptions(ca_certs=ca)))
    prompter = Prompter(broker.url, "tls1", broker=fast_reconnect(username="patient", password="correct horse",
                                                                  tls=TlsOptions(ca_certs=ca)))
    try:
        p = make_prompt("tls1")
        pub.publish_prompt(p)
        wait_until(lambda: prompter.prompts, what="prompt over TLS")
        assert prompter.prompts[0]["id"] == p.id and pub.conn.protocol == "5"
    finally:
        prompter.close()
        pub.close()


def test_wrong_password_never_connects(tls_broker, tmp_path, caplog):
    broker, ca = tls_broker
    pub = AlertPublisher(broker.url, "tls2", outbox_path=tmp_path / "o.db",
                         broker=fast_reconnect(username="patient", password="nope", tls=TlsOptions(ca_certs=ca)))
    try:
        wait_until(lambda: pub.conn.refused, what="refusal seen")
        assert not pub.conn.connected
        assert pub.conn.refused.startswith(f"the MQTT broker at {broker.host}:{broker.port} refused the login of "
                                           "'patient': ")
        assert pub.conn.refused.endswith(("Not authorized (check the user name and password)",
                                          "Bad user name or password (check the user name and password)"))
        assert pub.conn.refused in caplog.text
    finally:
        pub.close()


# -- --ca-file on the commands ---------------------------------------------------------------------
def _login_url(broker) -> str:
    return f"mqtts://patient:correct%20horse@{broker.host}:{broker.port}"


@pytest.fixture
def no_ssl_cert_file(monkeypatch):
    """The CA reaches the commands only by --ca-file."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)


def _expiry_config(tmp_path, speed: float) -> str:
    """A --config under which a prompt paced at ``speed`` X lives 15 s of wall time: enough for a
    TLS connection on a loaded machine, however fast the data run."""
    path = tmp_path / "sitload.toml"
    path.write_text(f"[policy]\nexpiry_min = {15 * speed / 60:g}\n")
    return str(path)


def _tls_prompter(broker, ca: str, device: str, **options) -> Prompter:
    prompter = Prompter(broker.url, device, broker=fast_reconnect(username="patient", password="correct horse",
                                                                  tls=TlsOptions(ca_certs=ca)), **options)
    wait_until(lambda: prompter.conn.connected, what="prompter connected")
    return prompter


def test_prompts_cli_finds_the_device_and_shows_its_prompts_with_ca_file(tls_broker, tmp_path,
                                                                           no_ssl_cert_file):
    broker, ca = tls_broker
    pub = AlertPublisher(broker.url, "tls-cli", outbox_path=tmp_path / "o.db",
                         broker=fast_reconnect(username="patient", password="correct horse",
                                               tls=TlsOptions(ca_certs=ca)))
    out = tmp_path / "prompts.out"
    wait_until(lambda: pub.conn.connected, what="publisher connected")
    with out.open("w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "sitload.cli", "prompts", "--broker", _login_url(broker),
                                 "--ca-file", ca, "--no-input"], cwd=ROOT, stdout=stdout,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: pub.prompter_online, timeout=20, what="the CLI prompter online over TLS")
        pub.publish_prompt(make_prompt("tls-cli"))
        wait_until(lambda: "[break]" in out.read_text(), what="the prompt shown")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        pub.close()
    assert out.read_text().splitlines()[0] == f"prompts for tls-cli from mqtts://{broker.host}:{broker.port}", err


def test_replay_cli_publishes_over_tls_with_ca_file(tls_broker, tmp_path, capsys, no_ssl_cert_file):
    broker, ca = tls_broker
    recording = simulate_to_recording(tmp_path / "flare.sitload", scenario="flare-day", sensor="thigh-imu",
                                      seed=1, hours=0.5)  # prompts at about 14 and 24 min
    prompter = _tls_prompter(broker, ca, "tls-replay")
    try:
        assert main(["replay", str(recording), "--broker", _login_url(broker), "--ca-file", ca,
                     "--device-id", "tls-replay", "--speed", "600", "--config", _expiry_config(tmp_path, 600),
                     "--json"]) == 0
        sent = [doc["id"] for doc in json.loads(capsys.readouterr().out)["prompts"]]
        wait_until(lambda: len(prompter.prompts) == len(sent), what="every replayed prompt")
    finally:
        prompter.close()
    assert sent and [doc["id"] for doc in prompter.prompts] == sent


def test_monitor_cli_publishes_over_tls_with_ca_file(tls_broker, tmp_path, capsys, monkeypatch,
                                                      no_ssl_cert_file):
    broker, ca = tls_broker
    monkeypatch.setenv("SITLOAD_STATE_DIR", str(tmp_path / "state"))
    device = SimulatedSensor("flare-day", "thigh-imu", seed=1).name
    prompter = _tls_prompter(broker, ca, device)
    try:
        assert main(["monitor", "--simulate", "flare-day", "--seed", "1", "--minutes", "20",
                     "--speed", "240", "--config", _expiry_config(tmp_path, 240),
                     "--broker", _login_url(broker), "--ca-file", ca]) == 0
        wait_until(lambda: prompter.prompts, what="a live prompt over TLS")
    finally:
        prompter.close()
    assert f"  prompt [{prompter.prompts[0]['kind']}] {prompter.prompts[0]['message']}" in capsys.readouterr().out


def test_demo_cli_runs_over_tls_with_ca_file(tls_broker, tmp_path, capsys, no_ssl_cert_file):
    broker, ca = tls_broker
    assert main(["demo", "--hours", "1", "--seed", "3", "-o", str(tmp_path / "demo"),
                 "--broker", _login_url(broker), "--ca-file", ca]) == 0
    sent, shown = map(int, re.search(r"(\d+) prompts sent, (\d+) shown", capsys.readouterr().out).groups())
    assert sent == shown > 0  # the demo's prompter and publisher both took the CA file


COMMANDS = {
    "prompts": ["prompts", "--device", "tls1"],
    "replay": ["replay", "day.sitload"],
    "demo": ["demo", "-o", "demo-out"],
    "monitor": ["monitor", "--simulate", "desk-day"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("content, why", [(None, "No such file or directory"),
                                          ("not a certificate\n", "no PEM certificate in it")])
def test_a_ca_file_that_cannot_be_used_stops_every_broker_command_with_one_line(
        command, content, why, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    code = main([*COMMANDS[command], "--broker", "mqtts://127.0.0.1:8883", "--ca-file", str(ca)])
    assert code == 1
    assert capsys.readouterr().err == f"sitload: error: cannot use the CA file {ca}: {why}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == (["ca.pem"] if content else [])  # nothing done


@pytest.mark.parametrize("command", COMMANDS)
def test_ca_file_needs_an_mqtts_broker(command, tls_broker, tmp_path, monkeypatch, capsys):
    _, ca = tls_broker
    monkeypatch.chdir(tmp_path)
    broker = [] if command in ("demo", "monitor") else ["--broker", "mqtt://127.0.0.1:1883"]
    assert main([*COMMANDS[command], *broker, "--ca-file", ca]) == 1
    assert capsys.readouterr().err == "sitload: error: --ca-file needs an mqtts:// --broker\n"


def test_tls_options_check_the_ca_file_at_once(tmp_path):
    with pytest.raises(ConfigError, match=f"^cannot use the CA file {tmp_path}: Is a directory$"):
        TlsOptions(ca_certs=str(tmp_path))


# -- a private CA not given ------------------------------------------------------------------------
@pytest.mark.parametrize("device", [["--device", "tls1"], []])  # without: the device is looked up first
def test_prompts_cli_without_the_ca_file_is_one_line_naming_the_broker_and_the_fix(tls_broker, device):
    broker, _ = tls_broker
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    proc = subprocess.run([sys.executable, "-m", "sitload.cli", "prompts", "--broker", _login_url(broker),
                           *device, "--no-input"], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 1
    # OpenSSL's words for why (here "self-signed certificate in certificate chain") vary by version
    assert re.fullmatch(f"sitload: error: cannot verify the TLS certificate of the MQTT broker at "
                        f"{broker.host}:{broker.port}: [^\n]+ \\(give the CA that signed it with --ca-file\\)\n",
                        proc.stderr), proc.stderr


def test_replay_without_the_ca_file_ends_with_the_reason_not_a_silent_retry(tls_broker, tmp_path, capsys,
                                                                            no_ssl_cert_file):
    broker, _ = tls_broker
    recording = simulate_to_recording(tmp_path / "desk.sitload", scenario="flare-day", sensor="thigh-imu",
                                      seed=1, hours=0.5)
    assert main(["replay", str(recording), "--broker", _login_url(broker), "--device-id", "tls-noca"]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"sitload: error: cannot verify the TLS certificate of the MQTT broker at "
                           f"{broker.host}:{broker.port}: ")
    assert last.endswith("(give the CA that signed it with --ca-file); "
                         f"2 prompt(s) left undelivered in {recording.with_suffix('.outbox')}")


def test_a_certificate_for_another_host_names_that_fix(tls_broker):
    broker, ca = tls_broker
    refusals = []
    prompter = Prompter(f"mqtts://localhost:{broker.port}", "tls1", on_refused=refusals.append,
                        broker=fast_reconnect(username="patient", password="correct horse",
                                              tls=TlsOptions(ca_certs=ca)))
    try:
        wait_until(lambda: refusals, what="the refusal")
    finally:
        prompter.close()
    assert refusals == [f"cannot verify the TLS certificate of the MQTT broker at localhost:{broker.port}: "
                        "Hostname mismatch, certificate is not valid for 'localhost'. (its certificate is not "
                        "issued to localhost; connect by the name it is issued to)"]
