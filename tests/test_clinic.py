"""`sitload clinic`: the board's rules (pure), and the view of patients on a real Mosquitto as a
terminal table, as JSON and as a live page over HTTP (the page in Chromium: test_clinic_page.py)."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sitload.alerts.clinic_board import ClinicBoard
from sitload.alerts.clinic_feed import ClinicFeed
from sitload.clinic_commands import table_lines
from sitload.alerts.messages import (AckMessage, alert_payload, availability_payload, last_prompt_payload,
                                     presence_payload, state_payload)
from sitload.alerts.policy import PolicyConfig, PromptStatus
from sitload.alerts.prompter import Prompter
from sitload.alerts.publisher import AlertPublisher
from sitload.alerts.schemas import VALIDATORS
from sitload.events import EngineState
from sitload.report.model import prompt_records, session_recording
from sitload.sensor_ingest.replay import open_recording
from sitload.services.clinic_server import ClinicServer
from sitload.services.pipeline import run_session
from sitload.services.simulation import simulate_to_recording
from sitload.vocab import ClinicSort, Posture, Side
from conftest import listening, make_prompt, wait_until

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_780_000_000.0  # a fixed data time
WINDOW_S = 60.0 * PolicyConfig().adherence_window_min


def state(posture: Posture, t: float, *, bout: float | None = None, today: float | None = 100.0,
          lean: Side = Side.NONE, crossed: Side | None = Side.NONE, si: float | None = None) -> dict:
    engine = EngineState(t, posture, None, bout or 0.0, si, lean, crossed)
    return state_payload(engine, t, today)


def prompted(board: ClinicBoard, device: str, kind: str, t: float) -> str:
    prompt = make_prompt(device, kind, created=t)
    board.apply("alert", device, alert_payload(prompt), t)
    return prompt.id


# ---- the board (pure) -------------------------------------------------------------------------

def test_the_board_keeps_each_patients_latest_documents():
    board = ClinicBoard()
    board.apply("status", "pt-1", presence_payload("status", True, T0), T0)
    board.apply("availability", "pt-1", availability_payload(True, 64, T0), T0)
    board.apply("prompter", "pt-1", presence_payload("prompter", True, T0), T0)
    board.apply("state", "pt-1", state(Posture.SITTING, T0 + 5, bout=31.5, today=187.5, lean=Side.LEFT), T0 + 6)
    board.apply("status", "pt-2", presence_payload("status", False, T0), T0 + 7)
    one, two = board.rows()
    assert (one.device, one.online, one.sensor_online, one.battery, one.prompter_online) == ("pt-1", True, True, 64,
                                                                                           True)
    assert (one.posture, one.bout_minutes, one.sitting_today_min, one.lean_side) == ("sitting", 31.5, 187.5, "left")
    assert (one.state_time, one.updated) == (pytest.approx(T0 + 5, abs=1e-3), T0 + 6)
    assert (two.device, two.online, two.posture, two.battery) == ("pt-2", False, None, None)
    assert board.version == 5 and [r.device for r in board.changed_since(4)] == ["pt-2"]
    board.apply("availability", "pt-1", availability_payload(False, None, T0 + 8), T0 + 8)
    assert board.rows()[0].battery is None and board.rows()[0].sensor_online is False


def test_the_sensors_presence_carries_its_battery_charge_in_percent():
    assert VALIDATORS["availability"].is_valid(availability_payload(True, 64, T0))
    assert VALIDATORS["availability"].is_valid(availability_payload(False, None, T0))
    assert not VALIDATORS["availability"].is_valid(availability_payload(True, 101, T0))
    assert not VALIDATORS["status"].is_valid(availability_payload(True, 64, T0) | {"kind": "status"})


def test_a_break_prompt_is_acted_on_by_a_state_in_its_window_that_shows_standing():
    board = ClinicBoard()
    board.apply("state", "pt-1", state(Posture.STANDING, T0 - 5), T0 - 5)  # before the prompt: no
    prompted(board, "pt-1", "break", T0)
    board.apply("state", "pt-1", state(Posture.SITTING, T0 + 5, bout=31), T0 + 5)
    assert board.rows()[0].last_prompt.acted_on is None  # the window is open
    board.apply("state", "pt-1", state(Posture.STANDING, T0 + 120), T0 + 120)
    assert board.rows()[0].last_prompt.acted_on is True


def test_a_window_that_passes_without_the_change_is_not_acted_on_and_stays_so():
    board = ClinicBoard()
    prompted(board, "pt-1", "shift", T0)
    board.apply("state", "pt-1", state(Posture.SITTING, T0 + WINDOW_S - 5, bout=40, lean=Side.LEFT), T0)
    assert board.rows()[0].last_prompt.acted_on is None
    board.apply("state", "pt-1", state(Posture.SITTING, T0 + WINDOW_S, bout=41, lean=Side.LEFT), T0)
    assert board.rows()[0].last_prompt.acted_on is False
    board.apply("state", "pt-1", state(Posture.SITTING, T0 + WINDOW_S + 5, bout=41), T0)  # too late
    assert board.rows()[0].last_prompt.acted_on is False


def test_a_done_answer_is_acted_on_and_other_answers_and_older_prompts_are_only_shown():
    board = ClinicBoard()
    old = prompted(board, "pt-1", "stretch", T0)
    new = prompted(board, "pt-1", "stretch", T0 + 60)
    board.apply("ack", "pt-1", AckMessage(old, "done", time=T0 + 61).to_json(), T0 + 61)
    assert board.rows()[0].last_prompt.answer is None  # an answer to the earlier prompt
    board.apply("ack", "pt-1", AckMessage(new, "snooze", 10, T0 + 62).to_json(), T0 + 62)
    assert (board.rows()[0].last_prompt.answer, board.rows()[0].last_prompt.acted_on) == ("snooze", None)
    board.apply("ack", "pt-1", AckMessage(new, "done", time=T0 + 90).to_json(), T0 + 90)
    assert (board.rows()[0].last_prompt.answer, board.rows()[0].last_prompt.acted_on) == ("snooze", True)
    for resent in (old, new):  # QoS 1: a prompt may come again (e.g. resent after a broker restart)
        board.apply("alert", "pt-1", alert_payload(make_prompt("pt-1", "stretch", created=T0 + (resent == new) * 60)),
                    T0 + 95)
    assert (board.rows()[0].last_prompt.id, board.rows()[0].last_prompt.answer) == (new, "snooze")


def test_the_gateways_judgement_in_its_state_is_taken_and_a_newer_prompt_is_judged_from_traffic():
    board = ClinicBoard()
    first = make_prompt("pt-1", "break", created=T0)
    stood = EngineState(T0 + 60, Posture.STANDING, None, 0.0, None, Side.NONE, None)
    board.apply("state", "pt-1", state_payload(stood, T0 + 60, 50.0,
                                               last_prompt_payload(first, PromptStatus(first.id, None, True))), T0 + 60)
    last = board.rows()[0].last_prompt  # a board started after the prompt knows it from the state
    assert (last.id, last.kind, last.created, last.urgency, last.answer, last.acted_on) == (
        first.id, "break", pytest.approx(T0, abs=1e-3), "normal", None, True)
    newer = prompted(board, "pt-1", "shift", T0 + 700)
    sat = EngineState(T0 + 702, Posture.SITTING, None, 1.0, None, Side.NONE, Side.NONE)  # no lean: shifted
    board.apply("state", "pt-1", state_payload(sat, T0 + 702, 50.0,
                                               last_prompt_payload(first, PromptStatus(first.id, None, True))), T0 + 702)
    last = board.rows()[0].last_prompt  # the state was made before the newer prompt reached it
    assert (last.id, last.acted_on) == (newer, True)


def test_sorting_puts_the_most_telling_first_and_patients_not_heard_of_last():
    board = ClinicBoard()
    for device, bout, battery in (("a", 12.0, 80), ("b", None, 15), ("c", 55.0, None), ("d", 31.0, 50)):
        board.apply("state", device, state(Posture.SITTING if bout else Posture.STANDING, T0, bout=bout), T0)
        if battery is not None:
            board.apply("availability", device, availability_payload(True, battery, T0), T0)
    board.apply("status", "e", presence_payload("status", False, T0), T0)
    board.apply("status", "a", presence_payload("status", True, T0), T0)
    order = {sort: [row.device for row in board.rows(sort)] for sort in ClinicSort}
    assert order[ClinicSort.DEVICE] == ["a", "b", "c", "d", "e"]
    assert order[ClinicSort.BOUT] == ["c", "d", "a", "b", "e"]
    assert order[ClinicSort.BATTERY] == ["b", "d", "a", "c", "e"]
    assert order[ClinicSort.ONLINE] == ["e", "a", "b", "c", "d"]  # offline first


@pytest.mark.parametrize("scenario, seed", [("flare-day", 3), ("desk-day", 2)])
def test_the_board_judges_prompts_as_the_report_does(tmp_path, scenario, seed):
    """Every prompt of a simulated day, fed to a board with the states a gateway publishes after
    it (one per 5 s of data): acted on exactly when the report (per second of data) says so."""
    path = simulate_to_recording(tmp_path / "day.sitload", scenario=scenario, sensor="thigh-imu", seed=seed)
    states: list[tuple[float, dict]] = []
    judged: dict[str, bool | None] = {}  # the gateway's policy, at every step: the newest prompt's fate

    def step(engine: EngineState, prompt: PromptStatus | None) -> None:
        states.append((engine.t, state_payload(engine, engine.t)))  # without the gateway's judgement
        if prompt is not None:
            judged[prompt.prompt_id] = prompt.acted_on

    with open_recording(path) as rec:
        session = run_session(rec, on_state=step)
        report = {r.id: r.acted for r in prompt_records(session_recording(rec, session))}
    assert len(session.prompts) >= 5 and set(report.values()) == {True, False}
    # a prompt followed by another within its window is left undecided in the states (the newest
    # is what they carry); every one decided there is decided as the report does
    decided = {pid: acted for pid, acted in judged.items() if acted is not None}
    assert set(decided.values()) == {True, False} and all(report[pid] == acted for pid, acted in decided.items())
    assert set(report) == {p.id for p in session.prompts}
    for prompt in session.prompts:
        board = ClinicBoard()
        board.apply("alert", "pt", alert_payload(prompt), prompt.created)
        for t, doc in states:
            if t >= prompt.created:
                board.apply("state", "pt", doc, t)
        assert board.rows()[0].last_prompt.acted_on == report[prompt.id], prompt


# ---- on a real Mosquitto ----------------------------------------------------------------------

@pytest.fixture
def broker(own_mosquitto):
    """A Mosquitto of this test's own: no retained state of other tests' patients."""
    return own_mosquitto


def clinic(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sitload.cli", "clinic", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def feed(broker):
    """The clinic's subscription, in this process."""
    feed = ClinicFeed(broker.url)
    feed.start()
    wait_until(lambda: feed.conn.connected, what="the clinic connected")
    yield feed
    feed.close()


@pytest.fixture
def patient(broker, feed, tmp_path):
    """A gateway (the real publisher) of a patient sitting 42 min who answered 'done' to a break
    prompt from their prompter, while the clinic ``feed`` watched; and a gateway that went away."""
    gateway = AlertPublisher(broker.url, "pt-0042", outbox_path=tmp_path / "outbox")
    prompter = Prompter(broker.url, "pt-0042")
    gone = AlertPublisher(broker.url, "pt-0007", outbox_path=tmp_path / "outbox-2")
    try:
        wait_until(lambda: gateway.prompter_online and gone.conn.connected, what="connected")
        gateway.publish_availability(True, 71)
        gateway.publish_state(EngineState(time.time(), Posture.SITTING, time.time() - 2520, 42.0, None, Side.LEFT,
                                          Side.NONE))
        prompt = make_prompt("pt-0042", "break")
        gateway.publish_prompt(prompt)
        wait_until(lambda: prompter.prompts, what="the prompt shown")
        prompter.ack(prompt.id, "done")
        gone.close()
        wait_until(lambda: (rows := feed.rows()) and rows[0].online is False and rows[1].last_prompt
                   and rows[1].last_prompt.answer, what="the clinic saw it all")
        yield prompt
    finally:
        prompter.close()
        gateway.close()


def test_the_clinic_follows_presence_state_prompts_and_answers(feed, patient):
    gone, here = feed.rows()
    assert (here.device, here.online, here.sensor_online, here.battery, here.prompter_online) == (
        "pt-0042", True, True, 71, True)
    assert (here.posture, here.bout_minutes, here.lean_side, here.crossed) == ("sitting", 42.0, "left", "none")
    last = here.last_prompt
    assert (last.id, last.kind, last.urgency, last.answer, last.acted_on) == (patient.id, "break", "normal", "done",
                                                                              True)
    assert (gone.device, gone.online, gone.posture, gone.last_prompt) == ("pt-0007", False, None, None)
    assert feed.conn.rejected == []


def test_the_clinic_refuses_documents_of_a_topic_that_names_no_device(broker, feed):
    # Mosquitto refuses control characters in topics; a right-to-left override it passes on
    with listening(broker.host, broker.port) as (client, _):
        client.publish("sitload/v1/pt\u202e1000/status", json.dumps(presence_payload("status", True, T0)),
                       qos=1).wait_for_publish(5)
    wait_until(lambda: feed.conn.rejected, what="the document refused")
    assert feed.rows() == [] and "not a device id" in feed.conn.rejected[0][1]


def test_the_table_shows_each_column_as_a_person_reads_it(feed, patient):
    heading, gone, here = table_lines(feed.rows(), time.time(), ZoneInfo("UTC"))
    assert heading.split()[:4] == ["patient", "gateway", "sensor", "batt"]
    assert gone.startswith("pt-0007") and " offline " in gone
    when = time.strftime("%H:%M", time.gmtime(patient.created))
    for shown in ("pt-0042", "online", "71 %", "sitting", "42 min", "leans left", f"break {when}", "done", "yes",
                  "0 s ago"):
        assert shown in here, (shown, here)


def test_clinic_once_shows_what_the_broker_retains(broker, patient):
    """A clinic started later sees presence and state (retained); prompts sent before it started
    are not retained, so it has no last prompt yet."""
    proc = clinic("--broker", broker.url, "--once", "--json", "--sort", "bout")
    assert proc.returncode == 0, proc.stderr
    here, gone = json.loads(proc.stdout)["patients"]  # the sitting bout first
    assert (here["device"], here["online"], here["battery"], here["bout_minutes"]) == ("pt-0042", True, 71, 42.0)
    assert here["last_prompt"] is None
    assert (gone["device"], gone["online"]) == ("pt-0007", False)
    proc = clinic("--broker", broker.url, "--once", "--sort", "online")
    assert proc.returncode == 0, proc.stderr
    heading, first, second = proc.stdout.splitlines()
    assert heading.startswith("patient ") and first.startswith("pt-0007 ") and second.startswith("pt-0042 ")


def test_a_clinic_started_after_a_replay_shows_its_last_prompt_as_the_gateway_judged_it(broker, tmp_path):
    """Prompts are not retained, but the gateway's retained state names the newest and its fate."""
    path = simulate_to_recording(tmp_path / "flare.sitload", scenario="flare-day", sensor="thigh-imu", seed=1, hours=1)
    replay = subprocess.run([sys.executable, "-m", "sitload.cli", "replay", str(path), "--broker", broker.url, "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    prompts = json.loads(replay.stdout)["prompts"]
    with open_recording(path) as rec:
        report = {r.id: r.acted for r in prompt_records(session_recording(rec, run_session(rec)))}
    proc = clinic("--broker", broker.url, "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["patients"]
    assert row["online"] is False and row["posture"] is not None  # the replay ended; its last state stays
    last = row["last_prompt"]
    assert (last["id"], last["kind"]) == (prompts[-1]["id"], prompts[-1]["kind"])  # sent re-enacted: created now
    assert last["acted_on"] is report[last["id"]] is False  # its window closed within the data


def test_a_running_clinic_prints_the_table_again_when_something_changed(broker, tmp_path):
    gateway = AlertPublisher(broker.url, "pt-0300", outbox_path=tmp_path / "outbox")
    out = tmp_path / "clinic.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "sitload.cli", "clinic", "--broker", broker.url, "--every", "0.2"],
                                cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "pt-0300  online" in out.read_text(), timeout=20, what="the first table")
        gateway.publish_state(EngineState(time.time(), Posture.SITTING, None, 12.0, None, Side.NONE, None))
        wait_until(lambda: "12 min" in out.read_text(), timeout=20, what="the table with the change")
        tables = out.read_text().split("patient ")[1:]
        assert len(tables) >= 2 and "sitting" not in tables[0] and "12 min" in tables[-1]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        gateway.close()
    assert proc.returncode == 143 and err.strip() == "sitload: terminated"


def test_clinic_without_a_reachable_broker_says_so_in_one_line():
    proc = clinic("--broker", "mqtt://127.0.0.1:1", "--once", "--wait", "1")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "sitload: error: cannot reach the MQTT broker at mqtt://127.0.0.1:1"


def test_a_bad_port_for_the_page_is_a_usage_error():
    proc = clinic("--broker", "mqtt://127.0.0.1:1883", "--http", "70000")
    assert proc.returncode == 2 and "not a port (0-65535): '70000'" in proc.stderr


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def served(feed):
    server = ClinicServer(feed, 0)
    server.start()
    yield server
    server.close()


def test_the_page_api_gives_the_rows_and_only_to_requests_for_loopback(served, patient):
    wait_until(lambda: served.feed.snapshot()[0] >= 8, what="the patients' documents")
    status, body = _get(served.url + "api/patients?sort=online")
    assert status == 200
    doc = json.loads(body)
    assert [r["device"] for r in doc["patients"]] == ["pt-0007", "pt-0042"] and doc["version"] >= 8
    assert _get(served.url + "api/patients", host=f"sitload.example:{served.port}")[0] == 403  # DNS rebinding
    status, body = _get(served.url + "api/patients?sort=mood")
    assert status == 400 and body.startswith("sort must be one of device, online,")
    status, page = _get(served.url)
    assert status == 200 and '<script src="clinic.js"></script>' in page and "http" not in page.split("<body>")[1]


def test_the_event_stream_sends_every_row_then_each_change(served, broker, tmp_path):
    gateway = AlertPublisher(broker.url, "pt-0100", outbox_path=tmp_path / "outbox")
    try:
        wait_until(lambda: served.feed.snapshot()[1], what="the gateway's status at the clinic")
        with urllib.request.urlopen(served.url + "api/events", timeout=10) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            first = _next_event(stream)
            assert [r["device"] for r in first["patients"]] == ["pt-0100"]
            for minutes in (3.0, 4.0):
                gateway.publish_state(EngineState(time.time(), Posture.SITTING, None, minutes, None, Side.NONE, None))
                while (event := _next_event(stream)) and event["patients"][0]["bout_minutes"] != minutes:
                    pass
                assert event["version"] > first["version"]
    finally:
        gateway.close()


def _next_event(stream) -> dict:
    for line in stream:
        if line.startswith(b"data: "):
            return json.loads(line[6:])
    raise AssertionError("the stream ended")
