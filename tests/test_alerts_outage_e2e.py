"""End to end through `sitload replay --broker --speed X` (a subprocess) and a real Mosquitto:
prompts raised while the broker is down, and while sitload itself is killed.

The broker is really stopped and started again; how long it stays down is set by what the outbox
shows (a prompt lapsed, another still alive), not by a fixed wait.
"""

import json
import signal
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitload.alerts.broker import Backoff, BrokerOptions
from sitload.alerts.prompter import Prompter
from sitload.timestamps import from_iso
from conftest import MosquittoBroker, fast_reconnect, listening, wait_until
from sitload.services.simulation import simulate_to_recording

DELIVERY_MARGIN_S = 3.0  # a prompt alive this long after the restart must still be shown


@pytest.fixture(scope="module")
def flare_recording(tmp_path_factory) -> Path:
    """42 min of a simulated flare day (prompts at about 14, 24 and 36 min)."""
    return simulate_to_recording(tmp_path_factory.mktemp("flare") / "flare.sitrec", scenario="flare-day",
                                 sensor="thigh-imu", seed=1, hours=0.7)


@pytest.fixture
def broker(own_mosquitto):
    return own_mosquitto


class ShownPrompts:
    """A real prompter for the device, with the wall time each prompt was shown."""

    def __init__(self, broker: MosquittoBroker, device: str, options: BrokerOptions | None = None):
        self.at: dict[str, float] = {}
        self.prompter = Prompter(broker.url, device, broker=options or fast_reconnect(),
                                 on_prompt=lambda doc: self.at.setdefault(doc["id"], time.time()))

    @property
    def ids(self) -> list[str]:
        return [doc["id"] for doc in self.prompter.prompts]


def _replay(recording: Path, broker: MosquittoBroker, speed: float, device: str,
            *config: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sitload.cli", "replay", str(recording), "--broker", broker.url,
                             "--speed", str(speed), "--device-id", device, *config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outbox(recording: Path) -> dict[str, tuple[float, float, str]]:
    """Prompt id -> (wall created, wall expires, state) from the replay's outbox beside the recording."""
    with sqlite3.connect(f"file:{recording.with_suffix('.outbox')}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id, payload, state FROM outbox").fetchall()
    return {pid: (from_iso(json.loads(p)["created"]), from_iso(json.loads(p)["expires"]), state)
            for pid, p, state in rows}


def _copy(recording: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(recording, tmp_path / recording.name))


def _outage_can_end(recording: Path, stopped: float) -> bool:
    """Whether the outbox holds a prompt of the outage that has lapsed and another that will
    live on for DELIVERY_MARGIN_S after a restart now."""
    now = time.time()
    waiting = [expires for created, expires, state in _outbox(recording).values()
               if state == "pending" and created > stopped]
    return any(e < now for e in waiting) and any(e > now + DELIVERY_MARGIN_S + 1.0 for e in waiting)


def test_broker_down_in_a_paced_replay(flare_recording, broker, tmp_path):
    recording, device = _copy(flare_recording, tmp_path), "flare-e2e"
    shown = ShownPrompts(broker, device)
    replay = _replay(recording, broker, 120, device)  # 42 min in 21 s; a prompt lives 900 / 120 = 7.5 s
    try:
        wait_until(lambda: shown.ids, timeout=30, what="the first prompt (before the outage)")
        wait_until(lambda: all(state == "delivered" for *_, state in _outbox(recording).values()),
                   what="its PUBACK")
        broker.stop()
        stopped = time.time()
        wait_until(lambda: _outage_can_end(recording, stopped), timeout=40,
                   what="a prompt lapsed and another alive in the outage")
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
    kept = [pid for pid, (_, expires, _) in during.items() if expires > restarted + DELIVERY_MARGIN_S]
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
    config = tmp_path / "sitload.toml"
    config.write_text("[policy]\nexpiry_min = 60\n")
    shown = ShownPrompts(broker, device)
    # 42 min in 10.5 s; a prompt lives 3600 / 240 = 15 s, time for a kill and a restart
    first = _replay(recording, broker, 240, device, "--config", str(config))
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
        second = _replay(recording, broker, 240, device, "--config", str(config))  # a new process, the same outbox
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


def test_a_broker_restart_with_another_subscriber_loses_no_prompt(flare_recording, broker, tmp_path):
    """Another client subscribed to every device's alerts is back before the prompter after the
    restart: its PUBACKs must not count as the prompter's. The prompter gets every prompt."""
    recording, device = _copy(flare_recording, tmp_path), "flare-other"
    config = tmp_path / "sitload.toml"
    config.write_text("[policy]\nexpiry_min = 600\n")  # at 120x a prompt lives 5 min: none expires
    # the prompter tries again 10 s after the loss (the outage lasts about 5 s); the other
    # subscriber within 0.5 s of the restart, the replay within 1 s
    shown = ShownPrompts(broker, device, BrokerOptions(backoff=Backoff(min_s=10.0, max_s=10.0)))
    with listening(broker.host, broker.port, "sitload/v1/+/alert") as (other, seen):
        other.reconnect_delay_set(0.1, 0.5)
        replay = _replay(recording, broker, 120, device, "--config", str(config), "--json")
        try:
            wait_until(lambda: shown.ids, timeout=30, what="the first prompt (before the outage)")
            broker.stop()
            stopped = time.time()
            wait_until(lambda: any(state == "pending" and created > stopped
                                   for created, _, state in _outbox(recording).values()),
                       timeout=30, what="a prompt raised in the outage")
            broker.start()
            out, stderr = replay.communicate(timeout=120)
        finally:
            replay.kill()
            shown.prompter.close()
    assert replay.returncode == 0, stderr
    result = json.loads(out)
    sent = [doc["id"] for doc in result["prompts"]]
    assert len(sent) >= 3 and sorted(shown.ids) == sorted(sent)  # none lost, none shown twice
    assert {state for *_, state in _outbox(recording).values()} == {"delivered"}
    assert result["delivery"] == {"sent_now": len(sent), "delivered_before": 0, "expired": 0, "waiting": 0}
    assert {doc["id"] for _, doc in seen} <= set(sent)


def test_replaying_again_with_a_used_outbox_says_what_was_sent(flare_recording, broker, tmp_path):
    recording = _copy(flare_recording, tmp_path)
    args = ["replay", str(recording), "--broker", broker.url, "--device-id", "flare-again"]
    with listening(broker.host, broker.port, "sitload/v1/flare-again/alert") as (_, seen):
        first = subprocess.run([sys.executable, "-m", "sitload.cli", *args], capture_output=True, text=True,
                               timeout=120, check=True)
        n = len({doc["id"] for _, doc in seen})
        again = subprocess.run([sys.executable, "-m", "sitload.cli", *args], capture_output=True, text=True,
                               timeout=120, check=True)
        assert len(seen) == n  # the second replay published none of them again
    assert n >= 3
    assert f"prompts: {n} ({n} sent now)" in first.stdout.splitlines()
    assert f"prompts: {n} (0 sent now, {n} delivered before)" in again.stdout.splitlines()
