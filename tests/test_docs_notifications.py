"""docs/notifications.md: the Home Assistant automations that carry prompts to a phone publish
what sitload accepts. Their templates are rendered as Home Assistant renders them (Jinja2;
variables and conditions parsed to native values, service data kept as the rendered string) with
the event data the companion app sends, and what they publish goes through sitload's own inbound
validation."""

import ast
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import jinja2
import yaml

from sitload.alerts.messages import alert_payload
from sitload.alerts.schemas import decode_inbound
from sitload.alerts.topics import DEFAULT_PREFIX, Topics
from conftest import make_prompt

DOC = Path(__file__).resolve().parent.parent / "docs" / "notifications.md"
DEVICE = "hip-7f3a"
TOPICS = Topics(DEFAULT_PREFIX, DEVICE)
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)
_ENV.globals.update(now=lambda: datetime.now(timezone.utc), utcnow=lambda: datetime.now(timezone.utc),
                    as_timestamp=lambda v: (datetime.fromisoformat(v) if isinstance(v, str) else v).timestamp())


def _render(value, ctx: dict, *, native: bool):
    """A template value as Home Assistant renders it: recursively; ``native`` parses a result
    that reads as a Python literal (variables, conditions), else the string stays (service data)."""
    if isinstance(value, dict):
        return {k: _render(v, ctx, native=native) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, ctx, native=native) for v in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    text = _ENV.from_string(value).render(**ctx)
    if not native:
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _automations() -> dict[str, dict]:
    (block,) = re.findall(r"```yaml\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    return {a["id"]: a for a in yaml.safe_load(block)}


def _notification(alert: dict) -> tuple[str, dict]:
    """What the first automation asks of the phone for one ``alert`` message."""
    auto = _automations()["sitload_prompt_on_phone"]
    [trigger] = auto["trigger"]
    assert (trigger["platform"], trigger["topic"]) == ("mqtt", TOPICS.alert)
    [call] = auto["action"]
    ctx = {"trigger": SimpleNamespace(payload_json=alert)}
    return call["service"], _render(call["data"], ctx, native=False)


def _answer(action: str, reply_text: str | None = None) -> list[tuple[str, dict]]:
    """What the second automation publishes for a button pressed on the phone: (topic, document)."""
    auto = _automations()["sitload_answer_from_phone"]
    [trigger] = auto["trigger"]
    assert (trigger["platform"], trigger["event_type"]) == ("event", "mobile_app_notification_action")
    data = {"action": action, **({} if reply_text is None else {"reply_text": reply_text})}
    ctx = {"trigger": SimpleNamespace(event=SimpleNamespace(
        data=data, context=SimpleNamespace(id="01JEK7ZQ3W8V1S2C4D6F8G0H2J")))}
    if not all(_render(c["value_template"], ctx, native=True) for c in auto["condition"]):
        return []
    published = []
    for step in auto["action"]:
        if "variables" in step:
            ctx.update(_render(step["variables"], ctx, native=True))
            continue
        for option in step["choose"]:
            if all(_render(c["value_template"], ctx, native=True) for c in option["conditions"]):
                for call in option["sequence"]:
                    assert call["service"] == "mqtt.publish"
                    sent = _render(call["data"], ctx, native=False)
                    published.append((sent["topic"], decode_inbound(sent["topic"].rsplit("/", 1)[-1],
                                                                    sent["payload"].encode())))
                break
    return published


def test_a_prompt_reaches_the_phone_with_its_text_and_three_buttons():
    alert = json.loads(json.dumps(alert_payload(make_prompt(DEVICE, "stretch"))))
    service, data = _notification(alert)
    assert service.startswith("notify.mobile_app_")
    assert data["title"] == "sitload: stretch" and data["message"] == alert["message"]
    assert data["data"]["tag"] == "sitload-stretch"  # a newer stretch prompt replaces this one
    assert 890 <= int(data["data"]["timeout"]) <= 900  # gone from the phone when it expires
    actions = data["data"]["actions"]
    assert [a["title"] for a in actions] == ["Done", "Snooze 10 min", "Pain..."]
    assert [a["action"] for a in actions] == [f"SITLOAD_{verb}_{alert['id']}" for verb in ("DONE", "SNOOZE", "PAIN")]
    assert actions[2]["behavior"] == "textInput"


def test_the_phones_buttons_publish_acks_and_pain_reports_sitload_accepts():
    pid = make_prompt(DEVICE, "break").id
    [(topic, done)] = _answer(f"SITLOAD_DONE_{pid}")
    assert topic == TOPICS.ack and done == {"schema": 1, "id": pid, "action": "done"}
    [(topic, snooze)] = _answer(f"SITLOAD_SNOOZE_{pid}")
    assert topic == TOPICS.ack and snooze == {"schema": 1, "id": pid, "action": "snooze", "minutes": 10}
    [(topic, pain)] = _answer(f"SITLOAD_PAIN_{pid}", reply_text=" 6 ")
    assert topic == TOPICS.symptom and pain["pain"] == 6 and pain["id"] == "01JEK7ZQ3W8V1S2C4D6F8G0H2J"


def test_other_actions_and_pain_that_is_not_0_to_10_publish_nothing():
    pid = make_prompt(DEVICE, "break").id
    assert _answer("ALARM") == []
    assert _answer(f"SITLOAD_PAIN_{pid}", reply_text="11") == []
    assert _answer(f"SITLOAD_PAIN_{pid}", reply_text="quite bad") == []
    assert _answer(f"SITLOAD_PAIN_{pid}") == []  # no text typed
