"""The MQTT side against a real Mosquitto: schema, exactly-once, outages, restarts, bad input, acks."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from sitload.alerts.connection import MqttConnection
from sitload.alerts.policy import Policy, PolicyConfig
from sitload.alerts.prompter import Prompter, run_prompter
from sitload.alerts.publisher import AlertPublisher, PublisherOptions
from sitload.alerts.schemas import VALIDATORS
from sitload.timestamps import from_iso
from sitload.events import BoutStarted, EngineState
from sitload.vocab import Posture, Side

from conftest import ShiftedClock, fast_reconnect, listening, make_prompt, wait_until


@pytest.fixture
def device():
    return "dev-" + uuid.uuid4().hex[:8]


def sub_process(broker, topics: list[str], count: int, timeout_s: int = 10) -> subprocess.Popen:
    """mosquitto_sub (MQTT v5) printing 'topic expiry qos retain payload' per message."""
    return subprocess.Popen(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-q", "1",
                             *[a for t in topics for a in ("-t", t)], "-C", str(count), "-W", str(timeout_s),
                             "-F", "%t %E %q %r %p"], stdout=subprocess.PIPE, text=True)


def test_prompts_published_once_each_matching_schema_with_expiry(mosquitto, device, tmp_path):
    pub = AlertPublisher(mosquitto.url, device, outbox_path=tmp_path / "outbox.db", broker=fast_reconnect(),
                         options=PublisherOptions(await_prompter=False))
    try:
        wait_until(lambda: pub.conn.connected, what="publisher connected")
        assert pub.conn.protocol == "5"
        # the retained status comes right after the SUBACK: from then on the alerts reach it
        sub = sub_process(mosquitto, [pub.topics.status, pub.topics.alert], 5)
        assert sub.stdout.readline().startswith(pub.topics.status + " ")
        now = time.time()
        prompts = [make_prompt(device, kind, expires_in=600 + 60 * i, created=now + i)
                   for i, kind in enumerate(("break", "shift", "uncross", "stretch"))]
        assert [pub.publish_prompt(p) for p in prompts[:3]] == [True, True, True]
        assert pub.publish_prompt(prompts[0]) is False  # the same id again: not re-sent
        assert pub.publish_prompt(prompts[3])  # a re-sent first prompt would arrive before this one
        sent_at = time.time()
        out, _ = sub.communicate(timeout=15)  # -C 5: ends with the 4th alert
        lines = out.splitlines()
        assert len(lines) == 4
        docs = []
        for line, p in zip(lines, prompts):
            topic, expiry, qos, retain, payload = line.split(" ", 4)
            assert topic == pub.topics.alert
            doc = json.loads(payload)
            VALIDATORS["alert"].validate(doc)
            assert (qos, retain) == ("1", "0")
            assert abs(int(expiry) - (p.expires - sent_at)) <= 1.5
            docs.append(doc)
        assert [d["id"] for d in docs] == [p.id for p in prompts]
        assert docs[0]["stretch"]["id"] == "standing-hip-hinge" and docs[0]["kind"] == "break"
        assert from_iso(docs[1]["expires"]) == pytest.approx(prompts[1].expires, abs=0.001)
        wait_until(lambda: all(pub.outbox.state(p.id) == "delivered" for p in prompts), what="PUBACKs")
    finally:
        pub.close()


def test_status_and_state_are_retained_and_will_says_offline(mosquitto, device, tmp_path):
    state = EngineState(t=751.0, posture=Posture.SITTING, bout_start=1.0, bout_minutes=12.5,
                        asymmetry_si=31.0, lean_side=Side.LEFT, crossed=Side.NONE)
    pub = AlertPublisher(mosquitto.url, device, outbox_path=tmp_path / "o.db", broker=fast_reconnect(),
                         options=PublisherOptions(timezone="UTC"))
    wait_until(lambda: pub.conn.connected, what="publisher connected")
    with listening(mosquitto.host, mosquitto.port, pub.topics.state) as (_, seen):
        pub.publish_state(state)
        wait_until(lambda: seen, what="the state at the broker")  # live, or retained if it was first
    out = subprocess.run(["mosquitto_sub", "-h", mosquitto.host, "-p", str(mosquitto.port), "-t",
                          f"sitload/v1/{device}/+", "-C", "2", "-W", "3", "-F", "%t %r %p"],
                         capture_output=True, text=True, timeout=10).stdout.splitlines()
    got = {line.split(" ")[0].rsplit("/", 1)[1]: (line.split(" ", 2)[1], json.loads(line.split(" ", 2)[2]))
           for line in out}
    assert got["status"][0] == "1" and got["status"][1]["online"] is True
    VALIDATORS["status"].validate(got["status"][1])
    assert got["state"][0] == "1"
    VALIDATORS["state"].validate(got["state"][1])
    assert got["state"][1]["bout_minutes"] == 12.5 and got["state"][1]["asymmetry_si"] == 31.0
    assert got["state"][1]["sitting_today_min"] == 12.5
    pub.close()
    assert json.loads(_retained(mosquitto, f"sitload/v1/{device}/status"))["online"] is False
    # a process killed outright leaves its last will, retained: offline
    crashed = device + "-crash"
    proc = _run_killed_publisher(mosquitto.url, crashed, tmp_path / "crash.db", wait_connected=True)
    assert proc.returncode == -9, proc.stderr
    will = json.loads(_retained(mosquitto, f"sitload/v1/{crashed}/status"))
    VALIDATORS["status"].validate(will)
    assert will["online"] is False


def _retained(broker, topic: str) -> str:
    return subprocess.run(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", topic, "-C", "1",
                           "-W", "3"], capture_output=True, text=True, timeout=10).stdout


def test_broker_outage_delivers_queued_prompts_and_drops_expired(mosquitto, device, tmp_path):
    clock = ShiftedClock()
    pub = AlertPublisher(mosquitto.url, device, outbox_path=tmp_path / "outbox.db", broker=fast_reconnect(),
                         clock=clock)
    prompter = Prompter(mosquitto.url, device, broker=fast_reconnect())
    try:
        wait_until(lambda: pub.prompter_online, what="prompter seen online")
        mosquitto.stop()
        wait_until(lambda: not pub.conn.connected and not prompter.conn.connected, what="clients see the outage")
        keep = make_prompt(device, "break", expires_in=120)
        lapse = make_prompt(device, "shift", expires_in=1.5)
        pub.publish_prompt(keep)
        pub.publish_prompt(lapse)
        assert pub.outbox.state(keep.id) == pub.outbox.state(lapse.id) == "pending"
        clock.advance(2.0)  # the broker stays away while the publisher's time passes lapse's expiry
        mosquitto.start()
        wait_until(lambda: pub.outbox.state(keep.id) == "delivered" and pub.outbox.state(lapse.id) == "expired",
                   timeout=10, what="the queue sent and the lapsed prompt dropped")
        wait_until(lambda: prompter.prompts, what="queued prompt shown")
        assert [d["id"] for d in prompter.prompts] == [keep.id]  # lapse was never sent
    finally:
        if mosquitto.proc is None:
            mosquitto.start()
        prompter.close()
        pub.close()


def test_prompts_wait_for_a_prompter(mosquitto, device, tmp_path):
    pub = AlertPublisher(mosquitto.url, device, outbox_path=tmp_path / "outbox.db", broker=fast_reconnect())
    try:
        wait_until(lambda: pub.conn.connected, what="publisher connected")
        p = make_prompt(device)
        pub.publish_prompt(p)
        assert pub.outbox.state(p.id) == "pending"  # nobody to show it to yet
        prompter = Prompter(mosquitto.url, device, broker=fast_reconnect())
        wait_until(lambda: prompter.prompts, what="prompt after the prompter arrived")
        assert prompter.prompts[0]["id"] == p.id
        prompter.close()
    finally:
        pub.close()


_KILLED_PUBLISHER = """
import os, sys, time
sys.path.insert(0, {root!r})
from sitload.alerts.publisher import AlertPublisher
from sitload.alerts.policy import Prompt
from sitload.alerts.policy import prompt_id
pub = AlertPublisher({url!r}, {device!r}, outbox_path={outbox!r})
deadline = time.monotonic() + 5
while {wait_connected!r} and not pub.conn.connected and time.monotonic() < deadline:
    time.sleep(0.02)
now = time.time()
pub.publish_prompt(Prompt(prompt_id({device!r}, "break", now), "break", now, now + 600, "Stand up now"))
print(prompt_id({device!r}, "break", now), flush=True)
os.kill(os.getpid(), 9)
"""


def _run_killed_publisher(url: str, device: str, outbox: Path, wait_connected: bool) -> subprocess.CompletedProcess:
    """A publisher process that queues one break prompt, prints its id and is killed (SIGKILL)."""
    script = _KILLED_PUBLISHER.format(root=str(Path(__file__).resolve().parents[1]), url=url, device=device,
                                      outbox=str(outbox), wait_connected=wait_connected)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)


def test_publisher_process_killed_then_restarted_delivers_its_outbox(mosquitto, device, tmp_path):
    outbox = tmp_path / "outbox.db"
    proc = _run_killed_publisher(f"mqtt://127.0.0.1:{_closed_port()}", device, outbox, wait_connected=False)
    assert proc.returncode == -9, proc.stderr
    pid = proc.stdout.strip()
    prompter = Prompter(mosquitto.url, device, broker=fast_reconnect())
    pub = AlertPublisher(mosquitto.url, device, outbox_path=outbox, broker=fast_reconnect())
    try:
        wait_until(lambda: prompter.prompts, what="outbox of the killed process delivered")
        assert [d["id"] for d in prompter.prompts] == [pid]
        # the broker's PUBACK may reach the publisher after the prompter got the message
        wait_until(lambda: pub.outbox.state(pid) == "delivered", what="outbox marked delivered")
    finally:
        prompter.close()
        pub.close()


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_inbound_messages_are_rejected_and_the_loop_keeps_running(mosquitto, device, tmp_path):
    acks, symptoms = [], []

    def on_ack(msg):
        if msg.prompt_id == "boom":
            raise RuntimeError("callback bug")
        acks.append(msg)

    pub = AlertPublisher(mosquitto.url, device, outbox_path=tmp_path / "o.db", broker=fast_reconnect(),
                         on_ack=on_ack, on_symptom=symptoms.append)
    try:
        with listening(mosquitto.host, mosquitto.port, pub.topics.status) as (raw, status):
            # the publisher announces itself after subscribing to ack and symptom
            wait_until(lambda: any(doc["online"] for _, doc in status), what="publisher online")
            t = pub.topics
            ok = {"schema": 1, "id": "p1", "action": "ack"}
            bad = [
                (t.ack, b"x" * 5000, "over the 4096-byte limit"),
                (t.ack, b"{not json", "not UTF-8 JSON"),
                (t.ack, b"\xff\xfe", "not UTF-8 JSON"),
                (t.ack, b"[1, 2]", "not a JSON object"),
                (t.ack, json.dumps({**ok, "schema": 2}).encode(), "schema version 2 is not 1"),
                (t.ack, json.dumps({**ok, "action": "explode"}).encode(), "action"),
                (t.ack, json.dumps({**ok, "action": "snooze", "minutes": 999}).encode(), "minutes"),
                (t.ack, json.dumps({**ok, "time": "yesterday"}).encode(), "time"),
                (t.symptom, json.dumps({"schema": 1, "id": "s1", "pain": 11, "time": "2026-03-02T09:00:00Z"}).encode(),
                 "pain"),
                (t.symptom, json.dumps({"schema": 1, "id": "s1", "pain": "6", "time": "2026-03-02T09:00:00Z"}).encode(),
                 "pain"),
                # the date range of `diary add` (sitload.timestamps.plausible)
                (t.symptom, json.dumps({"schema": 1, "id": "s1", "pain": 6, "time": "9999-12-31T10:00:00Z"}).encode(),
                 "time: 9999-12-31T10:00:00Z is not from 1970 to before 2100"),
                (t.symptom, json.dumps({"schema": 1, "id": "s1", "pain": 6, "time": "1969-12-31T23:59:59Z"}).encode(),
                 "time: 1969-12-31T23:59:59Z is not from 1970 to before 2100"),
            ]
            for topic, payload, _ in bad:
                raw.publish(topic, payload, qos=1).wait_for_publish(2)
            raw.publish(t.ack, json.dumps({**ok, "id": "boom"}), qos=1).wait_for_publish(2)
            raw.publish(t.ack, json.dumps({**ok, "action": "snooze", "minutes": 15}), qos=1).wait_for_publish(2)
            raw.publish(t.symptom, json.dumps({"schema": 1, "id": "s2", "pain": 6, "side": "left", "tingling": True,
                                               "time": "2026-03-02T09:00:00Z"}), qos=1).wait_for_publish(2)
            wait_until(lambda: acks and symptoms, what="valid messages after the bad ones")
            assert len(pub.rejected) == len(bad)
            for (topic, reason), (want_topic, _, want) in zip(pub.rejected, bad):
                assert topic == want_topic and want in reason, (reason, want)
            assert (acks[0].prompt_id, acks[0].action, acks[0].minutes) == ("p1", "snooze", 15)
            s = symptoms[0]
            assert (s.pain, s.side, s.tingling, s.time) == (6, "left", True, 1772442000.0)
    finally:
        pub.close()


def test_snooze_and_pain_report_typed_at_the_prompter_reach_the_policy(mosquitto, device, tmp_path):
    policy = Policy(PolicyConfig(), device_id=device)
    t0 = time.time() - 31 * 60  # sat down 31 min ago
    clock = {"now": time.time()}
    lock = threading.Lock()
    symptoms = []

    def on_ack(msg):
        with lock:
            policy.on_ack(msg.prompt_id, msg.action, clock["now"], msg.minutes)

    pub = AlertPublisher(mosquitto.url, device, outbox_path=tmp_path / "o.db", broker=fast_reconnect(),
                         on_ack=on_ack, on_symptom=symptoms.append)
    read_fd, write_fd = os.pipe()
    typed = os.fdopen(write_fd, "w", buffering=1)
    shown = []

    class Out:
        text = ""

        def write(self, s):
            Out.text += s

        def flush(self):
            pass

    runner = threading.Thread(target=lambda: shown.extend(run_prompter(
        mosquitto.url, device, out=Out(), interactive=True, input=os.fdopen(read_fd), notify=False, timeout_s=20,
        broker=fast_reconnect())))
    runner.start()
    try:
        with lock:
            policy.on_event(BoutStarted(t0 + 10, t0), t0 + 10)
            [prompt] = policy.tick(clock["now"])
        wait_until(lambda: pub.prompter_online, what="prompter online")
        pub.publish_prompt(prompt)
        wait_until(lambda: "You have been sitting for 31 min" in Out.text, what="prompt shown")
        typed.write("s 5\n")
        wait_until(lambda: policy.outcomes[prompt.id].resolution == "snooze", what="snooze applied")
        typed.write("p 6 left after the meeting\n")
        wait_until(lambda: symptoms, what="pain report")
        typed.write("q\n")
        runner.join(10)
        assert not runner.is_alive()
        assert [d["id"] for d in shown] == [prompt.id]
        assert (symptoms[0].pain, symptoms[0].side, symptoms[0].note) == (6, "left", "after the meeting")
        assert "snooze sent" in Out.text and "pain 6 reported" in Out.text
        # the snooze holds the next break prompt for 5 min instead of the 30-min cooldown
        now = clock["now"]
        assert policy.tick(now + 4 * 60) == []
        [again] = policy.tick(now + 5 * 60)
        assert again.kind == "break" and "36 min" in again.message
    finally:
        typed.close()
        runner.join(10)
        pub.close()


def test_a_broker_that_once_spoke_v5_is_not_taken_for_a_311_one_when_it_answers_slowly(own_mosquitto):
    """After a broker restart thousands of clients reconnect at once and CONNACKs come late: a
    connection that had MQTT v5 keeps it (the 3 s probe is for a first connection only)."""
    conn = MqttConnection(own_mosquitto.url, "slow-connack", fast_reconnect(connack_timeout_s=0.3))
    conn.start()
    try:
        wait_until(lambda: conn.connected, what="connected")
        assert conn.protocol == "5"
        own_mosquitto.stop()
        with socket.create_server((own_mosquitto.host, own_mosquitto.port)) as silent:  # takes a CONNECT, answers none
            silent.settimeout(10)
            held, _ = silent.accept()
            time.sleep(1.5)  # five times the CONNACK timeout
            held.close()
        own_mosquitto.start()
        wait_until(lambda: conn.connected, timeout=15, what="reconnected")
        assert conn.protocol == "5"
    finally:
        conn.close()
