"""The deployed Mosquitto configuration (deploy/mosquitto: TLS, two listeners with their password
files, ACL) against a real Mosquitto: wrong passwords are refused with a clear message, one patient
cannot read or write another patient's topics, nor knock another's prompter offline by taking its
client id."""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from sitload.alerts.broker import BrokerOptions, TlsOptions, parse_broker_url
from sitload.alerts.clinic_feed import ClinicFeed
from sitload.alerts.connection import MqttConnection
from sitload.alerts.messages import SymptomReport, alert_payload
from sitload.alerts.publisher import AlertPublisher
from sitload.alerts.prompter import Prompter
from conftest import (MosquittoBroker, fast_reconnect, make_prompt, require_mosquitto, wait_until,
                      write_ca_and_server_cert)

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
INSTALLED = "/etc/mosquitto/sitload/"
PATIENTS = {"pat-a1": "a secret", "pat-b2": "b secret"}
SERVICES = {"sitload-gateway": "gw secret", "sitload-clinic": "clinic secret"}
USERS = {**PATIENTS, **SERVICES}
PORTS = {"8883": "patients", "8884": "services"}  # the deployed listeners


def _deployed_settings(d: Path, ports: dict[str, int]) -> str:
    """deploy/mosquitto/sitload.conf with its files in ``d`` (the ACL read in place) and each
    listener on the free loopback port ``ports`` gives its role."""
    conf = (DEPLOY / "sitload.conf").read_text()
    conf = conf.replace(f"acl_file {INSTALLED}acl", f"acl_file {DEPLOY / 'acl'}").replace(INSTALLED, f"{d}/")
    assert INSTALLED not in conf and "acl_file " + str(DEPLOY / "acl") in conf
    for deployed, role in PORTS.items():
        assert f"\nlistener {deployed}\n" in conf
        conf = conf.replace(f"\nlistener {deployed}\n", f"\nlistener {ports[role]} 127.0.0.1\n")
    return conf


def _passwords(path: Path, users: dict[str, str]) -> None:
    for i, (user, password) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(path), user, password],
                       check=True, capture_output=True)
    path.chmod(0o600)


@dataclass(frozen=True)
class Deployed:
    """The broker of the deployed config: ``patients`` (its URL and port are the patients'
    listener's), the services' listener URL, the CA."""

    patients: MosquittoBroker
    services_url: str
    ca: str


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A Mosquitto with the deployed config; yields (broker of the patients' listener, CA path)."""
    exe = require_mosquitto()
    d = tmp_path_factory.mktemp("mosquitto-acl")
    ca, cert, key = write_ca_and_server_cert(d)
    for suffix, path in zip(("ca.pem", "server.pem", "server.key"), (ca, cert, key)):
        assert path.name == suffix  # the names sitload.conf expects
    _passwords(d / "passwd", PATIENTS)
    _passwords(d / "passwd.services", SERVICES)
    services = MosquittoBroker(exe, d, tls=True)  # for its free port only
    broker = MosquittoBroker(exe, d, tls=True, own_listener=False)
    broker.settings = _deployed_settings(d, {"patients": broker.port, "services": services.port})
    broker.start()
    yield Deployed(broker, services.url, str(ca))
    broker.stop()


def _login(ca: str, user: str) -> BrokerOptions:
    """TLS against the test CA, logged in as ``user``."""
    return fast_reconnect(username=user, password=USERS[user], tls=TlsOptions(ca_certs=ca))


@pytest.fixture
def closing():
    """Closes every client a test hands it, last first, whether the test passed or failed: a
    client left running would hold its id at the module's broker and knock the next test's off."""
    with contextlib.ExitStack() as stack:
        yield stack


def _gateway_and_prompter_of_b(secured: Deployed, tmp_path: Path, closing: contextlib.ExitStack,
                               **on_inbound) -> tuple[AlertPublisher, Prompter]:
    """Patient B's gateway (on the services' listener; ``on_inbound``: its on_ack / on_symptom)
    and B's own prompter (on the patients' listener), both closed at the test's end."""
    ca = secured.ca
    gateway = closing.enter_context(contextlib.closing(
        AlertPublisher(secured.services_url, "pat-b2", outbox_path=tmp_path / "b.outbox",
                       broker=_login(ca, "sitload-gateway"), **on_inbound)))
    b = closing.enter_context(contextlib.closing(
        Prompter(secured.patients.url, "pat-b2", broker=_login(ca, "pat-b2"))))
    return gateway, b


def _raw_client(broker, ca: str, user: str, closing: contextlib.ExitStack,
                client_id: str | None = None) -> tuple[mqtt.Client, list, dict]:
    """A bare paho v5 client logged in as ``user`` at ``broker`` (its ``host`` and ``port``),
    returned once the broker accepted it and disconnected at the test's end: (client, messages
    received, reason codes by mid)."""
    got: list[mqtt.MQTTMessage] = []
    acks: dict[int, object] = {}
    accepted = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"raw-{user}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(user, USERS[user])
    client.tls_set(ca_certs=ca)
    client.on_connect = lambda c, u, flags, code, p: code == 0 and accepted.set()
    client.on_message = lambda c, u, m: got.append(m)
    client.on_subscribe = lambda c, u, mid, codes, p: acks.__setitem__(mid, codes[0])
    client.on_publish = lambda c, u, mid, code, p: acks.__setitem__(mid, code)
    client.connect(broker.host, broker.port)
    client.loop_start()
    closing.callback(client.loop_stop)
    closing.callback(client.disconnect)
    wait_until(accepted.is_set, what=f"{user} connected")
    return client, got, acks


def _caught_up(client: mqtt.Client, got: list, acks: dict, user: str) -> None:
    """Return once everything the broker had queued for ``client`` has arrived: a message sent now
    to the user's own ``prompter`` topic comes back after it (and is taken out of ``got``)."""
    topic = f"sitload/v1/{user}/prompter"
    _, mid = client.subscribe(topic, qos=1)
    wait_until(lambda: mid in acks, what="SUBACK")
    client.publish(topic, "marker", qos=1)
    wait_until(lambda: any(m.topic == topic for m in got), what="the marker back")
    got[:] = [m for m in got if m.topic != topic]


def test_wrong_password_fails_the_prompter_cli_with_one_clear_line(secured):
    broker, ca = secured.patients, secured.ca
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "sitload.cli", "prompts", "--broker",
         f"mqtts://pat-a1:wrong@{broker.host}:{broker.port}", "--device", "pat-a1", "--no-input"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "SSL_CERT_FILE": ca}, check=False)
    assert proc.returncode == 1, proc.stderr
    # Mosquitto 2.0 answers a wrong password to MQTT v5 with "Not authorized", later ones with
    # "Bad user name or password"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0] in [
        f"sitload: error: the MQTT broker at {broker.host}:{broker.port} refused the login of 'pat-a1': {why} "
        "(check the user name and password)" for why in ("Not authorized", "Bad user name or password")]
    assert time.monotonic() - started < 30  # no silent retrying


def test_a_patient_cannot_read_another_patients_prompts(secured, tmp_path, closing):
    broker, ca = secured.patients, secured.ca
    gateway, b = _gateway_and_prompter_of_b(secured, tmp_path, closing)
    spy, spied, acks = _raw_client(broker, ca, "pat-a1", closing)
    # Mosquitto 2.0 grants the subscriptions and checks the ACL on every message it would deliver
    _, mid = spy.subscribe("sitload/v1/pat-b2/alert", qos=1)
    _, mid_all = spy.subscribe("sitload/v1/+/alert", qos=1)
    wait_until(lambda: mid in acks and mid_all in acks, what="SUBACKs")
    wait_until(lambda: gateway.prompter_online, what="B's prompter online")
    prompt = make_prompt("pat-b2")
    gateway.publish_prompt(prompt)
    wait_until(lambda: b.prompts, what="B's prompt at B's prompter")
    _caught_up(spy, spied, acks, "pat-a1")  # a copy for the spy would have arrived by now
    assert [d["id"] for d in b.prompts] == [prompt.id]
    assert spied == []  # neither the exact topic nor a wildcard reaches B's prompt


def test_a_patient_cannot_inject_acks_into_another_patients_topic(secured, tmp_path, closing):
    broker, ca = secured.patients, secured.ca
    acks_at_b = []
    gateway, b = _gateway_and_prompter_of_b(secured, tmp_path, closing, on_ack=acks_at_b.append)
    intruder, _, codes = _raw_client(broker, ca, "pat-a1", closing)
    wait_until(lambda: gateway.prompter_online, what="B's prompter online")
    forged = '{"schema": 1, "id": "forged-by-a", "action": "done"}'
    info = intruder.publish("sitload/v1/pat-b2/ack", forged, qos=1)
    wait_until(lambda: info.mid in codes, what="PUBACK to the forged ack")
    assert str(codes[info.mid]) == "Not authorized"
    assert b.ack("real-from-b", "ack")
    # the broker refused the forged ack before B's was sent: had it passed it on, it would
    # have reached the gateway first
    wait_until(lambda: acks_at_b, what="B's own ack at the gateway")
    assert [a.prompt_id for a in acks_at_b] == ["real-from-b"]


def test_a_patient_cannot_knock_another_patients_prompter_offline(secured, tmp_path, closing):
    """Issue 13, item 2: A runs a prompter for B's device next to B's own, and tries B's client id
    (as sitload 0.x named it, and as the broker names B's connection) on both listeners. B's
    prompter stays connected and shows every prompt."""
    broker, ca = secured.patients, secured.ca
    gateway, b = _gateway_and_prompter_of_b(secured, tmp_path, closing)
    wait_until(lambda: gateway.prompter_online, what="B's prompter online")
    drops = []
    handle = b.conn.client.on_disconnect
    b.conn.client.on_disconnect = lambda *args: (drops.append(args[3]), handle(*args))
    # B's id as sitload 0.x named it, as B's sitload named it, as the broker names it
    b_ids = ("sitload-prompter-pat-b2", b.conn.client_id, "pat-b2")
    for taken in b_ids:
        # one at a time: the broker names every connection of A's 'pat-a1', so each would knock
        # the one before it off, and their reconnecting would go on knocking each other off
        with contextlib.ExitStack() as taker:
            _raw_client(broker, ca, "pat-a1", taker, client_id=taken)
        refused = MqttConnection(secured.services_url, taken, _login(ca, "pat-a1"))  # A is no user there
        refused.start()
        wait_until(lambda: refused.refused, what="A refused on the services' listener")
        refused.close()
    a = closing.enter_context(contextlib.closing(  # `sitload prompts --device pat-b2` as A
        Prompter(broker.url, "pat-b2", broker=_login(ca, "pat-a1"))))
    wait_until(lambda: a.conn.connected, what="A's prompter connected")
    sent = [make_prompt("pat-b2", created=time.time() + i) for i in range(11)]
    for prompt in sent:
        gateway.publish_prompt(prompt)
    wait_until(lambda: len(b.prompts) == len(sent), what="every prompt at B's prompter")
    assert [d["id"] for d in b.prompts] == [p.id for p in sent]
    assert drops == [] and b.conn.connected
    assert a.prompts == []  # the ACL: A reads nothing of B's


def test_the_clinic_reads_every_patient_but_writes_nothing_and_reads_no_pain(secured, tmp_path, closing):
    broker, ca = secured.patients, secured.ca
    symptoms_at_gateway = []
    gateway, b = _gateway_and_prompter_of_b(secured, tmp_path, closing, on_symptom=symptoms_at_gateway.append)
    feed = closing.enter_context(contextlib.closing(
        ClinicFeed(secured.services_url, broker=_login(ca, "sitload-clinic"))))
    feed.start()
    spy, spied, codes = _raw_client(parse_broker_url(secured.services_url), ca, "sitload-clinic", closing)
    _, mid = spy.subscribe("sitload/v1/+/symptom", qos=1)
    _, mid_alerts = spy.subscribe("sitload/v1/+/alert", qos=1)
    wait_until(lambda: mid in codes and mid_alerts in codes and feed.conn.connected, what="the clinic subscribed")
    wait_until(lambda: gateway.prompter_online, what="B's prompter online")
    first = make_prompt("pat-b2")
    gateway.publish_prompt(first)
    wait_until(lambda: b.prompts, what="B's prompt at B's prompter")
    b.ack(first.id, "done")
    wait_until(lambda: (rows := feed.rows()) and rows[0].last_prompt and rows[0].last_prompt.answer == "done",
               what="the clinic saw the prompt answered")
    assert feed.rows()[0].prompter_online is True
    b.report(SymptomReport.new(6, time.time()))
    wait_until(lambda: symptoms_at_gateway, what="the pain report at the gateway")
    second = make_prompt("pat-b2", created=time.time() + 1)
    gateway.publish_prompt(second)  # routed after the pain report, which the gateway had
    wait_until(lambda: any(m.topic.endswith("/alert") and second.id.encode() in m.payload for m in spied),
               what="the later prompt at the clinic")
    assert not [m for m in spied if m.topic.endswith("/symptom")]
    info = spy.publish("sitload/v1/pat-b2/alert", json.dumps(alert_payload(make_prompt("pat-b2"))), qos=1)
    wait_until(lambda: info.mid in codes, what="PUBACK to the clinic's forged prompt")
    assert str(codes[info.mid]) == "Not authorized"
