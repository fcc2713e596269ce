"""The clinic page of `sitload clinic --http` in headless Chromium, with 1,000 patients on a real
Mosquitto: it renders every patient, sorts as the table does, and follows a state change live.
(How fast it follows is measured in benchmarks/clinic_page.py, not asserted here.)"""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from sitload.alerts.messages import availability_payload, presence_payload, state_payload
from sitload.events import EngineState
from sitload.vocab import ClinicSort, Posture, Side
from browser import LivePage, require_chromium
from conftest import MosquittoBroker, require_mosquitto, wait_until

ROOT = Path(__file__).resolve().parent.parent
PATIENTS = 1000


def patient_documents(i: int, now: float) -> list[tuple[str, dict]]:
    """The retained documents of patient ``i`` as its gateway publishes them (varied values)."""
    device = f"pt-{i:04d}"
    sitting = i % 3 != 0
    state = EngineState(now, Posture.SITTING if sitting else Posture.STANDING, None, float(i % 97) if sitting else 0.0,
                        None, (Side.NONE, Side.LEFT, Side.RIGHT)[i % 3], Side.NONE)
    return [(f"sitload/v1/{device}/status", presence_payload("status", i % 10 != 0, now)),
            (f"sitload/v1/{device}/availability", availability_payload(True, (i * 7) % 101, now)),
            (f"sitload/v1/{device}/state", state_payload(state, now, float(i % 400)))]


class Gateways:
    """One paho client publishing, retained at QoS 1, as the patients' gateways do."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(100)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, documents: list[tuple[str, dict]]) -> None:
        infos = [self.client.publish(topic, json.dumps(doc), qos=1, retain=True) for topic, doc in documents]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A Mosquitto holding 1,000 patients, a `sitload clinic --http 0` on it, Chromium on its page."""
    tmp = tmp_path_factory.mktemp("clinic-page")
    broker = MosquittoBroker(require_mosquitto(), tmp)
    broker.start()
    gateways = Gateways(broker)
    now = time.time()
    gateways.publish([doc for i in range(PATIENTS) for doc in patient_documents(i, now)])
    clinic = subprocess.Popen([sys.executable, "-m", "sitload.cli", "clinic", "--broker", broker.url, "--http", "0"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    page = None
    try:
        line = clinic.stderr.readline()
        assert line.startswith("clinic page: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        page = LivePage(require_chromium(), tmp / "profile")
        page.open(url)
        yield {"page": page, "url": url, "gateways": gateways, "clinic": clinic}
    finally:
        if page is not None:
            page.close()
        clinic.terminate()
        clinic.wait(timeout=10)
        gateways.close()
        broker.stop()


def rows_shown(page: LivePage) -> int:
    return page.evaluate("document.querySelectorAll('#patients tr').length")


def loaded(page: LivePage) -> None:
    """Wait until the page shows every patient's retained documents (the broker sends each
    topic's 1,000 in turn: presence first, states last)."""
    sitting_online = sum(1 for i in range(PATIENTS) if i % 3 != 0 and i % 10 != 0)
    wait_until(lambda: rows_shown(page) == PATIENTS and page.evaluate(
        "document.getElementById('sitting').textContent") == f"{sitting_online} sitting", timeout=60,
        what="1,000 patients' documents shown")


def cell(page: LivePage, device: str, field: str) -> str | None:
    return page.evaluate(f"(document.querySelector('tr[data-device=\"{device}\"] td[data-field=\"{field}\"]')"
                         " || {}).textContent")


def test_the_page_shows_every_patient_with_their_values(fleet):
    page = fleet["page"]
    loaded(page)
    assert page.evaluate("document.getElementById('count').textContent") == "1000 patients"
    # pt-0502: online, sitting for 502 % 97 = 17 min, 502 % 400 = 102 min today, leaning left
    shown = {field: cell(page, "pt-0502", field) for field in ("online", "battery", "posture", "bout", "today", "load")}
    assert shown == {"online": "online", "battery": f"{502 * 7 % 101} %", "posture": "sitting", "bout": "17 min",
                     "today": "1 h 42 min", "load": "leans left"}
    assert cell(page, "pt-0010", "online") == "offline"
    assert page.evaluate("document.querySelector('tr[data-device=\"pt-0010\"]').className") == "offline"
    assert page.evaluate("document.getElementById('connection').textContent") == "live"


@pytest.mark.parametrize("sort", list(ClinicSort))
def test_a_click_on_a_heading_sorts_as_the_table_and_the_api_do(fleet, sort):
    page = fleet["page"]
    loaded(page)
    with urllib.request.urlopen(f"{fleet['url']}api/patients?sort={sort}", timeout=10) as answer:
        expected = [row["device"] for row in json.load(answer)["patients"]]
    page.evaluate(f"document.querySelector('th[data-sort=\"{sort}\"]').click()")
    order = "[...document.querySelectorAll('#patients tr')].map((tr) => tr.dataset.device)"
    wait_until(lambda: page.evaluate(order) == expected, timeout=10, what=f"the page sorted by {sort}")


def test_the_page_follows_a_state_change_and_says_when_the_clinic_is_gone(fleet):
    page = fleet["page"]
    loaded(page)
    now = time.time()
    state = EngineState(now, Posture.SITTING, now - 99 * 60, 99.0, None, Side.LEFT, Side.RIGHT)
    fleet["gateways"].publish([("sitload/v1/pt-0777/state", state_payload(state, now, 300.0))])
    wait_until(lambda: cell(page, "pt-0777", "bout") == "1 h 39 min", timeout=10, what="the change shown")
    assert cell(page, "pt-0777", "load") == "leans left, right leg crossed"
    assert cell(page, "pt-0777", "today") == "5 h 00 min"
    fleet["clinic"].terminate()
    wait_until(lambda: page.evaluate("document.getElementById('connection').textContent")
               == "connection to sitload lost, retrying", timeout=10, what="the loss shown")
