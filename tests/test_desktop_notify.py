"""Prompts as desktop notifications over real D-Bus: a private dbus-daemon with a notification
server on it (tests/desktop_bus.py), desktop-notifier as the client, acks over a real Mosquitto."""

import io
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
import time
from pathlib import Path

import pytest

from sitload.alerts.desktop import Answer, DesktopNotifications, open_desktop
from sitload.alerts.messages import alert_payload
from sitload.alerts.prompter import run_prompter
from sitload.alerts.publisher import AlertPublisher
from sitload.cli import main
from sitload.events import EngineState
from sitload.sensor_ingest.recording import Recording
from sitload.vocab import Posture, Side
from conftest import fast_reconnect, listening, make_prompt, require_binary, wait_until
from desktop_bus import SessionBus
from test_prompts_cli import run_prompts_until_a_break_is_shown

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bus(monkeypatch):
    """A session bus with a notification server, made this process's session bus."""
    session = SessionBus(require_binary(("dbus-daemon",), package="dbus-daemon"))
    session.serve()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session.address)
    yield session
    session.stop()


def _press(bus, shown, label: str, until) -> None:
    """Press a notification's button until ``until()`` holds. The client maps the server's id to
    its notification only after Notify returns, so a press in the same instant would be lost (no
    person is that fast); a press after the first that counted finds no notification and is ignored."""
    key = next(key for key, text in shown.actions.items() if text == label)
    for _ in range(40):
        bus.press(shown.id, key)
        try:
            return wait_until(until, timeout=0.25)
        except AssertionError:
            continue
    raise AssertionError(f"pressing {label!r} had no effect")


def test_a_prompt_arrives_with_its_title_steps_and_buttons(bus):
    desktop = DesktopNotifications(lambda answer: None)
    try:
        desktop.show(alert_payload(make_prompt("pt-1", "stretch")))
        wait_until(lambda: bus.server.shown, what="notification shown")
    finally:
        desktop.close()
    [shown] = bus.server.shown
    assert shown.app_name == "sitload"
    assert shown.title == "sitload: Time to stretch"
    assert shown.body.splitlines() == [
        "You have been sitting for 31 min — stand up (stretch)",
        "Standing hip hinge — 30 s:",
        "1. Stand with feet hip-width apart, hands on your hips.",
        "2. Push your hips back with a straight back until you feel the back of your thighs.",
        "3. Return to upright by squeezing your buttocks; repeat slowly 8 times."]
    assert [text for text in shown.actions.values() if text] == ["Done", "Snooze 10 min", "Pain..."]
    assert shown.urgency == 1  # normal
    assert bus.server.closed == [shown.id]  # closing the prompter withdraws what it showed


def test_an_expired_prompt_is_withdrawn_and_a_repeated_one_replaces_the_last(bus):
    desktop = DesktopNotifications(lambda answer: None)
    try:
        soon = alert_payload(make_prompt("pt-1", "shift", expires_in=0.3))
        desktop.show(soon)
        wait_until(lambda: bus.server.closed, what="the expired prompt closed")
        assert desktop.shown == [] and bus.server.closed == [bus.server.shown[0].id]

        first = alert_payload(make_prompt("pt-1", "break"))
        again = alert_payload(make_prompt("pt-1", "break", created=time.time() + 60))
        desktop.show(first)
        desktop.show(again)
        assert [s.title for s in bus.server.shown[1:]] == ["sitload: Time for a break"] * 2
        assert bus.server.closed[1:] == [bus.server.shown[1].id]  # the first, before the second came
        assert bus.server.open == {bus.server.shown[2].id}
        assert desktop.shown == [again["id"]]
    finally:
        desktop.close()


@contextmanager
def prompting(tmp_path, broker_url: str, device: str, out) -> Iterator[AlertPublisher]:
    """``run_prompter(notify=True)`` in a thread, and a publisher for ``device`` it is online to."""
    publisher = AlertPublisher(broker_url, device, outbox_path=tmp_path / "outbox", broker=fast_reconnect())
    stop = threading.Event()
    runner = threading.Thread(target=run_prompter, args=(broker_url, device), kwargs=dict(
        out=out, notify=True, stop_event=stop, broker=fast_reconnect()))
    runner.start()
    try:
        wait_until(lambda: publisher.prompter_online, what="prompter online")
        yield publisher
    finally:
        stop.set()
        runner.join(10)
        publisher.close()


def test_buttons_send_done_snooze_and_pain_to_the_broker(bus, tmp_path, mosquitto):
    device = "pt-desk"
    out = io.StringIO()
    with listening(mosquitto.host, mosquitto.port, f"sitload/v1/{device}/ack",
                   f"sitload/v1/{device}/symptom") as (_, got), \
            prompting(tmp_path, mosquitto.url, device, out) as publisher:
        brk, shift = make_prompt(device, "break"), make_prompt(device, "shift")
        publisher.publish_prompt(brk)
        wait_until(lambda: len(bus.server.shown) == 1, what="break prompt shown")
        _press(bus, bus.server.shown[0], "Done", until=lambda: len(got) == 1)

        publisher.publish_prompt(shift)
        wait_until(lambda: len(bus.server.shown) == 2, what="shift prompt shown")
        _press(bus, bus.server.shown[1], "Snooze 10 min", until=lambda: len(got) == 2)

        publisher.publish_prompt(make_prompt(device, "uncross"))
        wait_until(lambda: len(bus.server.shown) == 3, what="uncross prompt shown")
        _press(bus, bus.server.shown[2], "Pain...", until=lambda: len(bus.server.shown) == 4)
        question = bus.server.shown[3]
        assert question.title == "sitload: How bad is the pain now?"
        _press(bus, question, "Moderate (5)", until=lambda: len(got) == 3)
    assert len(bus.server.shown) == 4  # one press of each counted
    (_, done), (_, snooze), (topic, pain) = got
    assert (done["id"], done["action"]) == (brk.id, "done")
    assert (snooze["id"], snooze["action"], snooze["minutes"]) == (shift.id, "snooze", 10)
    assert topic == f"sitload/v1/{device}/symptom" and pain["pain"] == 5
    assert "--notify" not in out.getvalue()  # no fallback: the bus was there


def test_a_prompt_the_sensor_sees_done_is_withdrawn_and_only_that_one(bus, tmp_path, mosquitto):
    device = "pt-stand"
    with prompting(tmp_path, mosquitto.url, device, io.StringIO()) as publisher:
        publisher.publish_prompt(make_prompt(device, "break"))
        publisher.publish_prompt(make_prompt(device, "shift"))
        wait_until(lambda: len(bus.server.shown) == 2, what="both prompts shown")
        brk, shift = sorted(bus.server.shown, key=lambda s: s.title != "sitload: Time for a break")
        # sitting evenly: the weight shift is done, the break is not
        publisher.publish_state(EngineState(None, Posture.SITTING, None, 40.0, 0.02, Side.NONE, None))
        wait_until(lambda: bus.server.closed, what="the shift prompt withdrawn")
        assert bus.server.closed == [shift.id] and bus.server.open == {brk.id}
        publisher.publish_state(EngineState(None, Posture.STANDING, None, 0.0, None, Side.NONE, None))
        wait_until(lambda: len(bus.server.closed) == 2, what="the break prompt withdrawn")
        assert bus.server.closed == [shift.id, brk.id] and bus.server.open == set()


def test_without_a_session_bus_it_says_so_and_prints(monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/sitload-bus")
    out = io.StringIO()
    assert open_desktop(lambda answer: None, out) is None
    assert out.getvalue() == ("--notify: no desktop notification service (FileNotFoundError: [Errno 2] "
                              "No such file or directory); printing prompts instead\n")


def test_without_the_notify_extra_it_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "desktop_notifier", None)  # import fails as if not installed
    out = io.StringIO()
    assert open_desktop(lambda answer: None, out) is None
    assert out.getvalue() == ("--notify: desktop notifications need the notify extra "
                              "(pip install 'sitload[notify]'); printing prompts instead\n")


def test_prompts_notify_without_a_desktop_falls_back_to_printing(tmp_path, mosquitto):
    env = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY")}
    lines, err = run_prompts_until_a_break_is_shown(tmp_path, mosquitto.url, "pt-server",
                                                    "--device", "pt-server", "--notify", env=env)
    assert lines[1].startswith("--notify: no desktop notification service (") and \
        lines[1].endswith("); printing prompts instead"), err
    assert lines[2] == "! [break] You have been sitting for 31 min — stand up (break)"


def test_answers_are_the_terminal_prompters_messages():
    done = Answer("p-1", "done").message(1.8e9)
    assert done.to_json() == {"schema": 1, "id": "p-1", "action": "done", "time": "2027-01-15T08:00:00.000Z"}
    pain = Answer("p-1", "pain", pain=8).message(1.8e9)
    assert (pain.pain, pain.time) == (8, 1.8e9)


def test_demo_notify_shows_its_prompts_on_the_desktop(bus, tmp_path):
    out = tmp_path / "demo.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "sitload.cli", "demo", "--hours", "3", "--seed", "2",
                                 "-o", str(tmp_path / "demo"), "--notify"], cwd=ROOT, stdout=stdout,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: "on the desktop: answer them there" in out.read_text(), timeout=120,
                   what="the demo waiting for answers")
        on_screen = set(bus.server.open)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    stdout = out.read_text()
    sent = int(next(line for line in stdout.splitlines() if "prompts sent" in line).split()[0])
    kinds = re.findall(r"^\d\d:\d\d \S+ \[(\w+)\]", stdout, re.MULTILINE)
    assert len(kinds) == sent > 0 and len(bus.server.shown) == sent  # each prompt shown once
    assert len(on_screen) == len(set(kinds))  # one per kind: a newer prompt replaced the older
    assert bus.server.open == set()  # withdrawn when the demo ended


def test_monitor_notify_without_a_broker_answers_the_local_session(bus, tmp_path, monkeypatch):
    monkeypatch.setenv("SITLOAD_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "sitload.toml"  # at 300x a prompt lives 15 s of wall time, not 3
    config.write_text("[policy]\nexpiry_min = 75\n")
    record = tmp_path / "live.sitload"
    finished = threading.Event()

    def press_done_on_the_first_break() -> None:
        wait_until(lambda: any(s.title == "sitload: Time for a break" for s in bus.server.shown), timeout=60)
        first = next(s for s in bus.server.shown if s.title == "sitload: Time for a break")
        key = next(key for key, text in first.actions.items() if text == "Done")
        while not finished.is_set():  # presses after the one that counted find nothing and are ignored
            bus.press(first.id, key)
            finished.wait(0.25)

    helper = threading.Thread(target=press_done_on_the_first_break, daemon=True)
    helper.start()
    try:
        code = main(["monitor", "--simulate", "flare-day", "--seed", "2", "--minutes", "45", "--speed", "300",
                     "--config", str(config), "--notify", "--record", str(record)])
    finally:
        finished.set()
        helper.join(10)
    assert code == 0
    breaks = [s for s in bus.server.shown if s.title == "sitload: Time for a break"]
    assert len(breaks) == 1  # done on the desktop: no reminder 10 min later
    with Recording(record) as rec:
        prompts = rec.prompts()
        [break_id] = prompts.loc[prompts["kind"] == "break", "id"]
        acks = rec.acks()
    assert acks["prompt_id"].tolist() == [break_id] and acks["action"].tolist() == ["done"]
    assert bus.server.open == set()
