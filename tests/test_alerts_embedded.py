"""The embedded amqtt broker (MQTT 3.1.1) with sitload's own clients: fallback, delivery, expiry by field."""

import json

import paho.mqtt.client as mqtt
import pytest

from sitload.alerts.embedded_broker import start_embedded_broker
from sitload.alerts.publisher import AlertPublisher
from sitload.alerts.prompter import Prompter
from sitload.alerts.messages import alert_payload
from conftest import fast_reconnect, listening, make_prompt, wait_until


@pytest.fixture(scope="module")
def embedded():
    broker = start_embedded_broker()
    yield broker
    broker.stop()


def test_v5_client_falls_back_to_311_and_prompts_flow_both_ways(embedded, tmp_path):
    assert embedded.url.startswith("mqtt://127.0.0.1:")
    acks = []
    # 'auto': amqtt leaves a v5 CONNECT unanswered, so the publisher falls back to 3.1.1
    pub = AlertPublisher(embedded.url, "emb1", outbox_path=tmp_path / "o.db",
                         broker=fast_reconnect(connack_timeout_s=0.5), on_ack=acks.append)
    prompter = Prompter(embedded.url, "emb1", broker=fast_reconnect(protocol=embedded.protocol))
    try:
        p = make_prompt("emb1")
        pub.publish_prompt(p)
        wait_until(lambda: prompter.prompts, timeout=12, what="prompt through amqtt")
        assert pub.conn.protocol == "3.1.1"  # amqtt refused/ignored MQTT v5
        assert prompter.prompts[0]["id"] == p.id and prompter.prompts[0]["stretch"]["id"] == "standing-hip-hinge"
        wait_until(lambda: pub.outbox.state(p.id) == "delivered", what="PUBACK from amqtt")
        assert prompter.ack(p.id, "done")
        wait_until(lambda: acks, what="ack through amqtt")
        assert (acks[0].prompt_id, acks[0].action) == (p.id, "done")
    finally:
        prompter.close()
        pub.close()


def test_prompter_drops_expired_prompts_by_their_expires_field(embedded):
    """Without MQTT v5 message expiry, a stale prompt can reach the prompter; it must not be shown."""
    prompter = Prompter(embedded.url, "emb2", broker=fast_reconnect(protocol="3.1.1"))
    try:
        with listening(embedded.host, embedded.port, prompter.topics.prompter,
                       protocol=mqtt.MQTTv311) as (raw, presence):
            # the prompter announces itself after subscribing: from then on it receives what is sent
            wait_until(lambda: any(doc["online"] for _, doc in presence), what="the prompter online")
            stale = make_prompt("emb2", "shift", expires_in=-1.0)
            fresh = make_prompt("emb2", "break")
            last = make_prompt("emb2", "uncross")
            for p in (stale, fresh, fresh, last):  # fresh twice: shown once; delivered in order
                raw.publish(prompter.topics.alert, json.dumps(alert_payload(p)), qos=1).wait_for_publish(2)
            wait_until(lambda: len(prompter.prompts) == 2, what="the fresh prompts")
        assert [d["id"] for d in prompter.prompts] == [fresh.id, last.id]
        assert prompter.dropped_expired == [stale.id]
    finally:
        prompter.close()


def test_stop_is_idempotent_and_frees_the_port():
    broker = start_embedded_broker()
    broker.stop()
    broker.stop()
    again = start_embedded_broker(port=broker.port)
    again.stop()
