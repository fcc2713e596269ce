"""The policy fed by the real analytics engine through SessionPipeline, replaying a simulated
recording (no mocks): prompts follow the bouts and do not depend on how batches are cut."""

import pytest

from alerts import PolicyConfig
from sensor_ingest.replay import open_recording, replay_batches
from sitload.pipeline import STEP_S, SessionPipeline
from sitload.simulation import simulate_to_recording

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
