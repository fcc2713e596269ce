"""The policy fed by the real analytics engine through SessionPipeline, replaying a simulated
recording (no mocks): prompts follow the bouts and do not depend on how batches are cut; quiet hours
are the wearer's."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sitload.alerts.policy import PolicyConfig
from sitload.sensor_ingest.replay import open_recording, replay_batches
from sitload.services.live import LiveSessions
from sitload.services.pipeline import FORGET_EVERY_S, STEP_S, SessionPipeline, run_session
from sitload.services.simulation import DEFAULT_START_UTC, simulate_to_recording

TOLERANCE_MIN = 20.0  # a personal tolerance: desk-day's longest bouts are 20-25 min


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "desk.sitload"
    return simulate_to_recording(path, scenario="desk-day", sensor="thigh-imu", seed=1, hours=3.0)


@pytest.fixture(scope="module")
def batches(recording):
    with open_recording(recording) as rec:
        return list(replay_batches(rec))


def drive(batches, piece: int | None = None) -> SessionPipeline:
    """Replay into a pipeline; ``piece`` re-cuts the batches into that many samples each."""
    pipeline = SessionPipeline(batches[0].kind, "sim-thigh",
                               policy_config=PolicyConfig(sitting_tolerance_min=TOLERANCE_MIN))
    for batch in batches:
        step = piece or len(batch)
        for a in range(0, len(batch), step):
            pipeline.feed(batch.select(slice(a, a + step)))
    pipeline.finish()
    return pipeline


def test_a_live_pipeline_keeps_a_bounded_history_and_prompts_as_a_replay(batches):
    """What a long-running monitor keeps is bounded: with ``keep_s`` no per-second rows, and the
    bouts, prompts and outcomes older than ``keep_s`` of data are dropped (hourly); the prompts
    raised are a replay's, one for one."""
    keep_s = 1800.0
    raised = []
    pipelines = [SessionPipeline(batches[0].kind, "sim-thigh", keep_s=keep, on_prompt=on_prompt,
                                 policy_config=PolicyConfig(break_after_min=5.0))
                 for keep, on_prompt in ((keep_s, raised.append), (None, None))]
    for pipeline in pipelines:
        for batch in batches:
            pipeline.feed(batch)
        pipeline.finish()
    live, replay = pipelines
    assert [p.id for p in raised] == [p.id for p in replay.prompts]
    kept, full = live.engine.result(), replay.engine.result()
    assert kept.epochs.empty and len(full.epochs) > 3 * 3600 - 60
    horizon = float(batches[-1].t[-1]) - keep_s - FORGET_EVERY_S - STEP_S  # the last forgetting's
    assert [b.start for b in kept.bouts] == [b.start for b in full.bouts if b.end >= horizon]
    assert 0 < len(kept.bouts) < len(full.bouts)
    assert live.prompts == [p for p in replay.prompts if p.created >= horizon]
    assert 0 < len(live.prompts) < len(replay.prompts)
    assert set(live.policy.outcomes) == {p.id for p in live.prompts} | {p.id for p in live.policy.open_prompts}


def test_break_prompts_follow_the_engines_bouts(batches):
    pipeline = drive(batches)
    result = pipeline.engine.result()
    long_bouts = [b.start for b in result.bouts if b.duration_s > TOLERANCE_MIN * 60 + 60]
    breaks = [p for p in pipeline.prompts if p.kind == "break"]
    assert len(long_bouts) >= 1
    assert len(breaks) == len(long_bouts)
    for p, start in zip(breaks, long_bouts):
        assert 0 <= p.created - (start + TOLERANCE_MIN * 60) <= STEP_S  # at the next state step
        assert f"sitting for {int(TOLERANCE_MIN)} min" in p.message
        outcome = pipeline.policy.outcomes[p.id]
        assert outcome.resolution == "done"  # the engine saw the break that ended the bout
        assert outcome.acted == (outcome.resolved_at - p.created <= 10 * 60)
    for p in pipeline.prompts:
        if p.kind == "uncross":
            assert p.detail["minutes"] >= 10 and p.detail["crossed"] in ("left", "right")


def test_prompts_do_not_depend_on_how_the_data_arrives(batches):
    whole = drive(batches)
    live_like = drive(batches, piece=37)  # odd-sized pieces, as BLE notifications arrive
    assert whole.prompts
    assert [(p.id, p.kind, p.created, p.message) for p in whole.prompts] == \
        [(p.id, p.kind, p.created, p.message) for p in live_like.prompts]


# -- quiet hours in the wearer's time zone --------------------------------------------------------
# flare-day starts at 08:00 UTC, 03:00 in New York (EST): the quiet half hour 03:30-04:00 there is
# 08:30-09:00 UTC, and holds the recording's first break prompt (about 36 min in)
NEW_YORK_QUIET = PolicyConfig(quiet_hours=("03:30", "04:00"))
QUIET_UTC = (DEFAULT_START_UTC + 30 * 60, DEFAULT_START_UTC + 60 * 60)


@pytest.fixture(scope="module")
def new_york_day(tmp_path_factory):
    return simulate_to_recording(tmp_path_factory.mktemp("tz") / "ny.sitload", scenario="flare-day",
                                 sensor="thigh-imu", seed=1, hours=1.5, timezone="America/New_York")


def replayed(path, config: PolicyConfig | None = None) -> list[tuple[float, str]]:
    """(created, kind) of the prompts of `sitload replay`'s path (run_session)."""
    with open_recording(path) as rec:
        return [(p.created, p.kind) for p in run_session(rec, policy_config=config).prompts]


@pytest.fixture(scope="module")
def new_york_prompts(new_york_day):
    """The replayed prompts without quiet hours and with NEW_YORK_QUIET."""
    return replayed(new_york_day), replayed(new_york_day, NEW_YORK_QUIET)


def test_replay_keeps_quiet_hours_in_the_recordings_time_zone(new_york_day, new_york_prompts):
    assert [datetime.fromtimestamp(t, ZoneInfo("America/New_York")).strftime("%H:%M")
            for t in QUIET_UTC] == list(NEW_YORK_QUIET.quiet_hours)
    unrestricted, quiet = new_york_prompts
    a, b = QUIET_UTC
    assert any(a <= t < b for t, _ in unrestricted)
    assert not any(a <= t < b for t, _ in quiet)
    assert [p for p in quiet if p[0] < a] == [p for p in unrestricted if p[0] < a] != []
    assert quiet[len([p for p in quiet if p[0] < a])] == (b, "break")  # held until the quiet ends
    # a zone named in the policy wins: 03:30-04:00 UTC is before the recording starts
    named = PolicyConfig(timezone="UTC", quiet_hours=NEW_YORK_QUIET.quiet_hours)
    assert replayed(new_york_day, named) == unrestricted


@pytest.mark.parametrize("zone", ["America/New_York", "UTC"])
def test_live_sessions_keep_quiet_hours_in_the_wearers_time_zone(new_york_day, new_york_prompts,
                                                                  zone):
    """`sitload monitor --tz ZONE`'s path: LiveSessions(timezone=ZONE), here without a broker."""
    sessions = LiveSessions(timezone=zone, policy_config=NEW_YORK_QUIET)
    with open_recording(new_york_day) as rec:
        device = rec.device()
        for batch in replay_batches(rec, device.id):
            sessions.feed(device.address, device.name, device.kind, [batch])
    sessions.close()
    unrestricted, quiet = new_york_prompts
    # in UTC, 03:30-04:00 is before the data
    assert [(p.created, p.kind) for p in sessions.prompts(device.address)] == \
        (quiet if zone == "America/New_York" else unrestricted)
