"""End to end through `sitload replay --broker --speed X` (a subprocess) and a real Mosquitto:
prompts raised while the broker is down for 30 s, and while sitload itself is killed."""

import json
import signal
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitload.alerts.prompter import Prompter
from sitload.timestamps import from_iso
from conftest import MosquittoBroker, fast_reconnect, require_mosquitto, wait_until
from sitload.simulation import simulate_to_recording

OUTAGE_S = 30.0


@pytest.fixture(scope="module")
def flare_recording(tmp_path_factory) -> Path:
    """1.5 h of a simulated flare day (prompts at about 14, 24, 36, 74, 84 min)."""
    return simulate_to_recording(tmp_path_factory.mktemp("flare") / "flare.sitrec", scenario="flare-day",
                                 sensor="thigh-imu", seed=1, hours=1.5)


@pytest.fixture
def broker(tmp_path):
    broker = MosquittoBroker(require_mosquitto(), tmp_path)
    broker.start()
    yield broker
    broker.stop()


class ShownPrompts:
    """A real prompter for the device, with the wall time each prompt was shown."""

    def __init__(self, broker: MosquittoBroker, device: str):
        self.at: dict[str, float] = {}
        self.prompter = Prompter(broker.url, device, broker=fast_reconnect(),
                                 on_prompt=lambda doc: self.at.setdefault(doc["id"], time.time()))

    @property
    def ids(self) -> list[str]:
        return [doc["id"] for doc in self.prompter.prompts]


def _replay(recording: Path, broker: MosquittoBroker, speed: float, device: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sitload.cli", "replay", str(recording), "--broker", broker.url,
                             "--speed", str(speed), "--device-id", device],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outbox(recording: Path) -> dict[str, tuple[float, float, str]]:
    """Prompt id -> (wall created, wall expires, state) from the replay's outbox beside the recording."""
    with sqlite3.connect(f"file:{recording.with_suffix('.outbox')}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id, payload, state FROM outbox").fetchall()
    return {pid: (from_iso(json.loads(p)["created"]), from_iso(json.loads(p)["expires"]), state)
            for pid, p, state in rows}


def _copy(recording: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(recording, tmp_path / recording.name))


def test_broker_down_30_s_in_a_paced_replay(flare_recording, broker, tmp_path):
    recording, device = _copy(flare_recording, tmp_path), "flare-e2e"
    shown = ShownPrompts(broker, device)
    replay = _replay(recording, broker, 120, device)  # 1.5 h in 45 s; a prompt lives 900 / 120 = 7.5 s
    try:
        wait_until(lambda: shown.ids, timeout=30, what="the first prompt (before the outage)")
        time.sleep(1.0)
        broker.stop()
        stopped = time.time()
        time.sleep(OUTAGE_S)
        broker.start()
        restarted = time.time()
        _, stderr = replay.communicate(timeout=120)
    finally:
        replay.kill()
        shown.prompter.close()
    assert replay.returncode == 0, stderr
    box = _outbox(recording)
    during = {pid: row for pid, row in box.items() if stopped < row[0] < restarted}
    lapsed = [pid for pid, (_, expires, _) in during.items() if expires < restarted]
    kept = [pid for pid, (_, expires, _) in during.items() if expires > restarted + 3.0]
    assert lapsed and kept, f"the outage must see prompts expire and survive; outbox {box}, stopped {stopped}"
    for pid in lapsed:  # expired while the broker was away: dropped and logged, never shown
        assert box[pid][2] == "expired" and pid not in shown.at
        assert f"prompt {pid} expired before the broker could take it; dropped" in stderr
    for pid in kept:  # not expired at the restart: shown after it
        assert box[pid][2] == "delivered" and restarted < shown.at[pid] < box[pid][1]
    assert len(shown.ids) == len(set(shown.ids))  # none shown twice
    assert set(shown.ids) == {pid for pid, row in box.items() if row[2] == "delivered"}
    assert {row[2] for row in box.values()} <= {"delivered", "expired"}  # nothing left behind


def test_sitload_killed_during_an_outage_delivers_its_queue_after_a_restart(flare_recording, broker, tmp_path):
    recording, device = _copy(flare_recording, tmp_path), "flare-kill"
    shown = ShownPrompts(broker, device)
    first = _replay(recording, broker, 60, device)  # a prompt lives 900 / 60 = 15 s
    second = None
    try:
        wait_until(lambda: shown.ids, timeout=40, what="the first prompt (before the outage)")
        broker.stop()
        wait_until(lambda: any(state == "pending" for *_, state in _outbox(recording).values()), timeout=30,
                   what="a prompt queued during the outage")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        queued = [pid for pid, (_, expires, state) in _outbox(recording).items() if state == "pending"]
        assert queued and first.returncode == -signal.SIGKILL
        broker.start()
        second = _replay(recording, broker, 60, device)  # a new sitload process, the same outbox
        wait_until(lambda: set(queued) <= set(shown.at), timeout=15, what="the queued prompts after the restart")
        wait_until(lambda: all(_outbox(recording)[pid][2] == "delivered" for pid in queued), what="their PUBACKs")
        box = _outbox(recording)
        assert all(shown.at[pid] < box[pid][1] for pid in queued)
        assert len(shown.ids) == len(set(shown.ids))
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        shown.prompter.close()
