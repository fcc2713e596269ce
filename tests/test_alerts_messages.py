"""Broker URLs, topics, payload round trips, inbound validation and the outbox (no broker needed)."""

import json
import re

import numpy as np
import pytest

from sitload.alerts.messages import AckMessage, SymptomReport, alert_payload, state_payload
from sitload.alerts.broker import parse_broker_url
from sitload.alerts.topics import Topics
from sitload.alerts.outbox import Outbox, OutboxEntry
from sitload.alerts.schemas import VALIDATORS, decode_inbound, iso
from sitload.timestamps import from_iso
from sitload.analytics import Engine
from conftest import make_prompt
from sitload.samples import SampleBatch
from sitload.events import EngineState
from sitload.vocab import Posture, SensorKind, Side
from sitload.errors import ConfigError, MessageError, SitloadError
from sitload.private_files import private_dir


def test_broker_urls():
    a = parse_broker_url("mqtt://broker.local")
    assert (a.host, a.port, a.tls, a.username) == ("broker.local", 1883, False, None)
    b = parse_broker_url("mqtts://pat%40home:s3cr%2Ft@10.0.0.2:8884")
    assert (b.host, b.port, b.tls, b.username, b.password) == ("10.0.0.2", 8884, True, "pat@home", "s3cr/t")
    assert parse_broker_url("mqtts://h").port == 8883
    for bad in ("http://h:1883", "mqtt://", "h:1883", "mqtt://h:99999"):
        with pytest.raises(ConfigError):
            parse_broker_url(bad)


def test_topics_and_device_ids():
    t = Topics("sitload/v1", "hip-7f3a")
    assert (t.alert, t.ack, t.status) == ("sitload/v1/hip-7f3a/alert", "sitload/v1/hip-7f3a/ack",
                                          "sitload/v1/hip-7f3a/status")
    for bad_device in ("", "a/b", "x+", "#", "Jane Doe", "d" * 65):
        with pytest.raises(ConfigError):
            Topics("sitload/v1", bad_device)
    with pytest.raises(ConfigError):
        Topics("sitload/#", "dev")


def test_iso_round_trip_is_utc_with_z():
    assert iso(1772438400.25) == "2026-03-02T08:00:00.250Z"
    assert from_iso("2026-03-02T09:00:00+01:00") == 1772438400.0
    with pytest.raises(ValueError):
        from_iso("2026-03-02T08:00:00")


def test_alert_and_state_payloads_match_their_schemas():
    p = make_prompt("dev1", created=1772438400.0)
    doc = alert_payload(p)
    VALIDATORS["alert"].validate(doc)
    assert (doc["created"], doc["expires"]) == ("2026-03-02T08:00:00.000Z", "2026-03-02T08:15:00.000Z")

    standing = EngineState(None, Posture.STANDING, None, 0.0, None, Side.NONE, Side.NONE)
    s = state_payload(standing, 1772438400.0)
    VALIDATORS["state"].validate(s)
    assert s["bout_minutes"] is None and s["asymmetry_si"] is None


@pytest.mark.parametrize("posture", list(Posture))
def test_a_state_message_for_every_posture_validates(posture):
    """The schema's postures come from the one vocabulary (before, 'gap' and 'off_seat' failed)."""
    doc = state_payload(EngineState(1.0, posture, None, 0.0, None, Side.LEFT, None), 1772438400.0)
    VALIDATORS["state"].validate(doc)
    assert doc["posture"] == posture.wire


@pytest.mark.parametrize("kind, crossed", [("thigh-imu", "none"), ("hip-imu", None)])
def test_a_sensor_that_cannot_see_crossed_legs_sends_null_not_none(kind, crossed):
    """Three seconds of a still sensor: the thigh sees no crossed legs, the hip cannot see them."""
    t = 1772438400.0 + np.arange(150) / 50.0
    engine = Engine(SensorKind.from_cli(kind))
    engine.feed(SampleBatch(engine.kind, t, np.tile([1.0, 0.0, 0.0], (150, 1))))
    doc = state_payload(engine.state, t[-1])
    VALIDATORS["state"].validate(doc)
    assert doc["crossed"] == crossed and doc["lean_side"] == "none"


def test_inbound_round_trips():
    ack = AckMessage("p1", "snooze", 15.0, 1772438400.0)
    assert AckMessage.from_json(decode_inbound("ack", json.dumps(ack.to_json()).encode())) == ack
    rep = SymptomReport("s1", 4, 1772438400.0, "buttock", "right", False, "sat 2 h in the car")
    assert SymptomReport.from_json(decode_inbound("symptom", json.dumps(rep.to_json()).encode())) == rep


@pytest.mark.parametrize("payload, reason", [
    (b'{"schema": 1, "id": "p1", "action": "ack", "extra": 1}', "Additional properties"),
    (b'{"schema": 1, "action": "ack"}', "'id' is a required property"),
    (b'{"schema": "1", "id": "p1", "action": "ack"}', "schema version '1' is not 1"),
    (b'{"schema": 1, "id": "", "action": "ack"}', "id:"),
    (b'{"schema": 1, "id": "p1", "action": "ack", "time": "2026-03-02 08:00"}', "time:"),
    (b"null", "not a JSON object"),
])
def test_inbound_ack_rejections_name_the_problem(payload, reason):
    with pytest.raises(MessageError, match=reason.replace("(", r"\(")):
        decode_inbound("ack", payload)


def test_outbox_is_private_to_the_user(tmp_path):
    new = tmp_path / "new.outbox"
    Outbox(new).close()
    assert (new.stat().st_mode & 0o777) == 0o600
    old = tmp_path / "old.outbox"  # as an older version left it
    Outbox(old).close()
    old.chmod(0o644)
    box = Outbox(old)
    box.add(OutboxEntry("a", "{}", 10.0, 100.0))
    assert (old.stat().st_mode & 0o777) == 0o600
    wal = old.with_name("old.outbox-wal")
    assert wal.exists() and (wal.stat().st_mode & 0o777) == 0o600
    box.close()


def test_an_outbox_that_cannot_be_opened_is_one_error_naming_it(tmp_path):
    where = tmp_path / "no such folder" / "r.outbox"
    with pytest.raises(SitloadError, match=f"^{re.escape(str(where))}: cannot open the prompt outbox "
                                           r"\(No such file or directory\)$"):
        Outbox(where)


def test_private_dir_creates_and_closes_folders(tmp_path):
    made = private_dir(tmp_path / "a" / "state")
    assert (made.stat().st_mode & 0o777) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    assert (private_dir(shared).stat().st_mode & 0o777) == 0o700


def test_outbox_is_idempotent_and_durable(tmp_path):
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    e1 = OutboxEntry("a", "{}", 10.0, 100.0)
    e2 = OutboxEntry("b", "{}", 5.0, 100.0)
    assert box.add(e1) and box.add(e2) and not box.add(e1)
    assert [e.id for e in box.pending()] == ["b", "a"]  # oldest first
    box.mark("b", "delivered", 20.0)
    box.mark("b", "expired", 30.0)  # a final state is final
    box.close()
    box = Outbox(path)
    assert box.state("b") == "delivered" and [e.id for e in box.pending()] == ["a"]
    assert not box.add(e2)  # delivered ids still dedupe
    box.prune(20.0 + 8 * 86400)
    assert box.state("b") is None and box.state("a") == "pending"
    box.close()
