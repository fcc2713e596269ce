"""One rule for "acted on": the prompt policy (live) and the report (afterwards) agree prompt by
prompt on simulated days (sitload.alerts.adherence)."""

import pytest

from sitload.services.pipeline import run_session
from sitload.report.model import prompt_records, session_recording
from sitload.sensor_ingest.replay import open_recording
from sitload.services.simulation import simulate_to_recording


@pytest.mark.parametrize("scenario,sensor,seed", [("desk-day", "thigh-imu", 3),
                                                  ("flare-day", "pressure", 2),
                                                  ("desk-day", "hip-imu", 1)])
def test_the_policy_and_the_report_agree_on_which_prompts_were_acted_on(tmp_path, scenario,
                                                                        sensor, seed):
    path = simulate_to_recording(tmp_path / "day.sitload", scenario=scenario, sensor=sensor,
                                 seed=seed, hours=8 if sensor != "pressure" else 4)
    with open_recording(path) as rec:
        session = run_session(rec)
        report = {p.id: p.acted for p in prompt_records(session_recording(rec, session))}
    outcomes = {p.id: session.outcomes[p.id].acted for p in session.prompts}
    assert len(outcomes) >= 3 and report == outcomes
    assert 0 < sum(outcomes.values()) < len(outcomes)     # some acted on, some not
