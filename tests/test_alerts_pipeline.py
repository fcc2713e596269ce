"""The policy fed by the real analytics engine replaying a simulated recording (no mocks)."""

import pytest

from alerts import Policy, PolicyConfig
from analytics import Engine
from sensor_ingest.replay import open_recording, replay_batches
from sensor_ingest.samples import SensorKind
from sitload.simulation import simulate_to_recording

TOLERANCE_MIN = 20.0  # a personal tolerance: desk-day's longest bouts are 20-25 min


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "desk.sitload"
    return simulate_to_recording(path, scenario="desk-day", sensor="thigh-imu", seed=1, hours=3.0)


def drive(recording) -> tuple[Policy, list, list]:
    """Replay into the engine; the policy sees every event at its time and a tick every minute."""
    engine = Engine(SensorKind.THIGH_IMU)
    policy = Policy(PolicyConfig(sitting_tolerance_min=TOLERANCE_MIN), device_id="sim-thigh")
    prompts, events, clock = [], [], None

    def advance(to: float) -> None:
        nonlocal clock
        clock = to if clock is None else clock
        while clock + 60.0 <= to:
            clock += 60.0
            prompts.extend(policy.tick(clock))

    for batch in replay_batches(open_recording(recording)):
        for ev in engine.feed(batch):
            advance(ev.t)
            events.append(ev)
            prompts.extend(policy.on_event(ev, ev.t))
        advance(float(batch.t[-1]))
    for ev in engine.finish():
        events.append(ev)
        prompts.extend(policy.on_event(ev, ev.t))
    return policy, prompts, events


def test_break_prompts_follow_the_engines_bouts(recording):
    policy, prompts, events = drive(recording)
    starts = [ev.data["start"] for ev in events if ev.kind == "bout_start"]
    ends = [ev.data["duration_s"] for ev in events if ev.kind == "bout_end"]
    long_bouts = [s for s, d in zip(starts, ends) if d > TOLERANCE_MIN * 60 + 60]
    breaks = [p for p in prompts if p.kind == "break"]
    assert len(long_bouts) >= 1
    assert len(breaks) == len(long_bouts)
    for p, start in zip(breaks, long_bouts):
        assert 0 <= p.created - (start + TOLERANCE_MIN * 60) < 60.0  # at the next minute tick
        assert f"sitting for {int(TOLERANCE_MIN)} min" in p.message
        outcome = policy.outcomes[p.id]
        assert outcome.resolution == "done"  # the engine saw the break that ended the bout
        assert outcome.acted == (outcome.resolved_at - p.created <= 10 * 60)
    for p in prompts:
        if p.kind == "uncross":
            assert p.detail["minutes"] >= 10 and p.detail["crossed"] in ("left", "right")


def test_replay_gives_identical_prompts(recording):
    _, first, _ = drive(recording)
    _, again, _ = drive(recording)
    assert first and [(p.id, p.kind, p.message) for p in first] == [(p.id, p.kind, p.message) for p in again]
