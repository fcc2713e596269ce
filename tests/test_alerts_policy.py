"""The prompt policy (pure): thresholds, cooldowns, snooze, rate limit, hours, escalation, auto-resolve."""

import numpy as np
import pytest

from sitload.alerts.policy import Policy, PolicyConfig
from sitload.alerts.policy import prompt_id
from sitload.alerts.prompter import parse_command
from sitload.alerts.stretches import STRETCHES
from sitload.events import (Bout, BoutEnded, BoutStarted, EngineState, Leaning, LegsCrossed,
                            PostureChanged)
from sitload.vocab import BoutEnd, Posture, Side
from sitload.errors import ConfigError

T0 = 1772438400.0  # 2026-03-02 08:00 UTC (a Monday)
MIN = 60.0


def state(posture="sitting", bout_start=T0, asymmetry_si=None, lean_side="none", crossed="none", t=None):
    return EngineState(t=t, posture=Posture.from_wire(posture), bout_start=bout_start, bout_minutes=0.0,
                       asymmetry_si=asymmetry_si, lean_side=Side.from_wire(lean_side),
                       crossed=Side.from_wire(crossed))


def bout_end(end: float, now: float, ended_by: str = "break") -> BoutEnded:
    """A bout_end as analytics emits it: ``break_s`` after the last sitting second."""
    bout = Bout(T0, end, end - T0, end - T0, 1, "none", 0.0, 0.0, "none", None, None, None, None,
                None, None, None, None, BoutEnd(ended_by))
    return BoutEnded(now, bout)


def seconds(policy: Policy, start: float, end: float, posture="sitting", lean_side="none") -> None:
    """The engine's decided seconds [start, end) as the pipeline hands them to the policy."""
    t = np.arange(start, end)
    policy.on_seconds(t, np.full(t.size, Posture.from_wire(posture)),
                      np.full(t.size, Side.from_wire(lean_side)), np.zeros(t.size, dtype=np.int8))


def sit(policy: Policy, at: float = T0) -> None:
    assert policy.on_event(BoutStarted(at + 10.0, at), at + 10.0) == []


def run(policy: Policy, start_min: float, end_min: float, step_min: float = 1.0) -> list:
    """Tick every ``step_min`` from start to end (inclusive); all prompts issued."""
    out, m = [], start_min
    while m <= end_min + 1e-9:
        out += [(m, p) for p in policy.tick(T0 + m * MIN)]
        m += step_min
    return out


def test_break_prompt_at_threshold_with_specific_message_and_stretch():
    policy = Policy(PolicyConfig(), device_id="dev1")
    sit(policy)
    assert run(policy, 1, 29) == []
    [(m, p)] = run(policy, 30, 30)
    assert m == 30 and p.kind == "break" and p.urgency == "normal"
    assert p.message.startswith("You have been sitting for 30 min — stand up and walk for 2 minutes")
    assert p.stretch in STRETCHES and STRETCHES[p.stretch].position == "standing"
    assert p.created == T0 + 30 * MIN and p.expires == p.created + 15 * MIN
    assert p.id == prompt_id("dev1", "break", T0 + 30 * MIN)


def test_personal_tolerance_replaces_default_threshold():
    policy = Policy(PolicyConfig(sitting_tolerance_min=20))
    sit(policy)
    [(m, p)] = run(policy, 1, 25)
    assert m == 20 and "20 min" in p.message


def test_replay_gives_the_same_prompt_ids():
    def ids():
        policy = Policy(PolicyConfig(), device_id="dev1")
        sit(policy)
        return [p.id for _, p in run(policy, 0, 120)]
    first = ids()
    assert len(first) >= 2 and first == ids()
    other = Policy(PolicyConfig(), device_id="dev2")
    sit(other)
    assert [p.id for _, p in run(other, 0, 120)][0] != first[0]


def test_ignored_break_escalates_once_then_cooldown_governs():
    policy = Policy(PolicyConfig())  # escalate after 10 min, cooldown 30 min, max 3/h
    sit(policy)
    got = run(policy, 0, 75)
    # the follow-up restarts the cooldown: the next prompt comes 30 min after it
    assert [(m, p.kind, p.urgency) for m, p in got] == [(30, "break", "normal"), (40, "break", "high"),
                                                      (70, "break", "normal")]
    first, follow = got[0][1], got[1][1]
    assert follow.follows == first.id and follow.message.startswith("Reminder: You have been sitting for 40 min")
    assert policy.outcomes[first.id].resolution == "escalated"
    assert policy.outcomes[follow.id].resolution == "expired"  # 40 + 15


def test_acknowledged_prompt_is_not_escalated_and_cooldown_holds():
    policy = Policy(PolicyConfig())
    sit(policy)
    [(_, p)] = run(policy, 30, 30)
    policy.on_ack(p.id, "ack", T0 + 31 * MIN)
    assert run(policy, 31, 59) == []
    assert [m for m, _ in run(policy, 60, 60)] == [60]
    assert policy.outcomes[p.id].resolution == "ack"


def test_snooze_suppresses_for_its_minutes_then_prompts_again():
    policy = Policy(PolicyConfig())
    sit(policy)
    [(_, p)] = run(policy, 30, 30)
    policy.on_ack(p.id, "snooze", T0 + 31 * MIN, minutes=5)
    got = run(policy, 31, 40)
    assert [(m, q.kind) for m, q in got] == [(36, "break")]  # 31 + 5, not the 30-min cooldown
    assert policy.outcomes[p.id].resolution == "snooze"


def test_default_snooze_is_ten_minutes():
    policy = Policy(PolicyConfig())
    sit(policy)
    [(_, p)] = run(policy, 30, 30)
    policy.on_ack(p.id, "snooze", T0 + 30 * MIN)
    assert [m for m, _ in run(policy, 31, 45)] == [40]


def test_max_prompts_per_hour_caps_all_kinds():
    cfg = PolicyConfig(max_prompts_per_hour=2, escalate_after_min=None,
                       cooldown_min={"break": 5.0, "shift": 5.0, "uncross": 5.0})
    policy = Policy(cfg)
    sit(policy)
    got = run(policy, 0, 95)
    # one open prompt per kind: the next break once the first expires (45); then the hour is full
    # until the first leaves the window (30 + 60)
    assert [m for m, _ in got] == [30, 45, 90]


def test_quiet_hours_in_local_time_zone():
    # 08:00 UTC on 2 March is 08:00 in London (GMT) and 09:00 in Berlin
    quiet = ("08:45", "09:45")
    london = Policy(PolicyConfig(timezone="Europe/London", quiet_hours=quiet, escalate_after_min=None))
    berlin = Policy(PolicyConfig(timezone="Europe/Berlin", quiet_hours=quiet, escalate_after_min=None))
    for policy in (london, berlin):
        sit(policy)
    assert [m for m, _ in run(london, 0, 45)] == [30]  # 08:30 London: allowed
    assert [m for m, _ in run(berlin, 0, 45)] == [45]  # 09:30 Berlin quiet until 09:45 (= minute 45)


def test_hours_are_in_the_wearers_zone_unless_the_config_names_one():
    hours = PolicyConfig(quiet_hours=("22:00", "07:00"))
    assert hours.timezone is None  # Policy reads it as UTC
    assert hours.in_zone("America/New_York").timezone == "America/New_York"
    assert hours.in_zone(None) is hours
    explicit = PolicyConfig(timezone="UTC", quiet_hours=("22:00", "07:00"))
    assert explicit.in_zone("America/New_York") is explicit


def test_working_hours_wrap_and_outside_is_silent():
    policy = Policy(PolicyConfig(timezone="UTC", working_hours=("09:00", "17:00")))
    sit(policy)
    assert [m for m, _ in run(policy, 0, 61)] == [60]  # 08:30 is outside; 09:00 first allowed


def test_break_taken_resolves_prompt_and_records_adherence():
    policy = Policy(PolicyConfig())
    sit(policy)
    [(_, p)] = run(policy, 30, 30)
    up = T0 + 33 * MIN
    assert policy.on_event(PostureChanged(up, Posture.STANDING, Posture.SITTING), up) == []
    seconds(policy, up, up + 60, "standing")
    assert run(policy, 33.5, 33.9, step_min=0.2) == []  # standing: no escalation, no new break prompt
    prompts = policy.on_event(bout_end(up, up + 60), up + 60)
    outcome = policy.outcomes[p.id]
    assert outcome.resolution == "done" and outcome.acted and outcome.resolved_at == up
    # a 33-min bout earns a stretch prompt (seated/supine, not the standing one of the break)
    [s] = prompts
    assert s.kind == "stretch" and STRETCHES[s.stretch].position in ("seated", "supine")
    assert "33 min" in s.message
    assert policy.open_prompts == [s]


@pytest.mark.parametrize("prolonged_s, stretch_after_bout_min, earned", [
    ((1800.0, 3600.0), None, False),    # 22 min is not prolonged by default
    ((1200.0, 2400.0), None, True),     # it is with prolonged sitting from 20 min
    ((1200.0, 2400.0), 25.0, False),    # the policy's own threshold, when set, wins
])
def test_a_prolonged_bout_earns_a_stretch_prompt(prolonged_s, stretch_after_bout_min, earned):
    """The stretch prompt after a bout follows the analysis's first prolonged-sitting threshold."""
    policy = Policy(PolicyConfig(stretch_after_bout_min=stretch_after_bout_min),
                    prolonged_s=prolonged_s)
    sit(policy)
    up = T0 + 22 * MIN
    prompts = policy.on_event(bout_end(up, up + 60), up + 60)
    assert [p.kind for p in prompts] == (["stretch"] if earned else [])


def test_late_break_is_not_adherence():
    policy = Policy(PolicyConfig(escalate_after_min=None, expiry_min=60))
    sit(policy)
    [(_, p)] = run(policy, 30, 30)
    t = T0 + 46 * MIN
    seconds(policy, T0 + 45 * MIN, t, "standing")
    policy.on_event(bout_end(T0 + 45 * MIN, t), t)
    assert policy.outcomes[p.id].resolution == "done" and not policy.outcomes[p.id].acted


def test_short_stand_inside_a_bout_does_not_resolve_the_break_prompt():
    policy = Policy(PolicyConfig())
    sit(policy)
    [(_, p)] = run(policy, 30, 30)
    t = T0 + 32 * MIN
    policy.on_event(PostureChanged(t, Posture.STANDING, Posture.SITTING), t)
    policy.on_event(PostureChanged(t + 20, Posture.SITTING, Posture.STANDING), t + 20)
    assert policy.outcomes[p.id].resolution is None
    [(m, follow)] = run(policy, 33, 40)
    assert m == 40 and follow.follows == p.id


def test_bout_ended_by_a_data_gap_is_no_data_not_adherence():
    policy = Policy(PolicyConfig())
    sit(policy)
    [(_, p)] = run(policy, 30, 30)
    assert policy.on_event(bout_end(T0 + 31 * MIN, T0 + 36 * MIN, ended_by="gap"), T0 + 36 * MIN) == []
    assert policy.outcomes[p.id].resolution == "no_data" and not policy.outcomes[p.id].acted
    assert run(policy, 37, 90) == []  # not sitting as far as anyone knows


def test_shift_prompt_after_sustained_lean_from_state():
    policy = Policy(PolicyConfig())
    leaning = state(asymmetry_si=27.4, lean_side="left")  # SI in percent, + = left (docs/metrics.md)
    out = []
    for m in range(0, 8):
        out += [(m, p) for p in policy.on_state(leaning, T0 + m * MIN)]
    [(m, p)] = out
    assert m == 5 and p.kind == "shift" and p.urgency == "low"
    assert "left buttock for 5 min (load asymmetry 27%)" in p.message and "toward the right" in p.message
    assert p.detail == {"lean_side": "left", "minutes": 5, "asymmetry_si": 27.4}
    # sitting evenly again resolves it as done, and acts on it (the seconds show it)
    seconds(policy, T0 + 7.5 * MIN, T0 + 8 * MIN, "sitting", "none")
    policy.on_state(state(asymmetry_si=4.0, lean_side="none"), T0 + 8 * MIN)
    assert policy.outcomes[p.id].resolution == "done" and policy.outcomes[p.id].acted


def test_imu_lean_without_si_prompts_from_the_asymmetry_event():
    policy = Policy(PolicyConfig())
    sit(policy)
    t = T0 + 3 * MIN
    ev = Leaning(t, Side.RIGHT, t - 120.0, None, -7.5)
    assert policy.on_event(ev, t) == []
    [(m, p)] = run(policy, 4, 8)
    assert m == 6 and "right buttock for 5 min — shift your weight toward the left" in p.message


def test_small_asymmetry_never_prompts():
    policy = Policy(PolicyConfig())
    for m in range(0, 20):
        assert policy.on_state(state(asymmetry_si=19.0, lean_side="left"), T0 + m * MIN) == []


def test_uncross_prompt_from_crossed_legs_event_duration():
    policy = Policy(PolicyConfig())
    sit(policy)
    now = T0 + 12 * MIN
    prompts = policy.on_event(LegsCrossed(now, Side.RIGHT, now - 600.0), now)
    [p] = prompts
    assert p.kind == "uncross" and "right leg has been crossed over for 10 min" in p.message


def test_checkin_every_two_hours_when_enabled():
    policy = Policy(PolicyConfig(checkin_every_min=120, escalate_after_min=None))
    policy.on_state(state(posture="standing", bout_start=None), T0)
    got = [(m, p.kind) for m, p in run(policy, 1, 250, step_min=10)]
    assert got == [(121, "checkin"), (241, "checkin")]
    assert Policy(PolicyConfig()).tick(T0 + 500 * MIN) == []


def test_config_errors_are_sitload_errors():
    with pytest.raises(ConfigError, match="time zone"):
        PolicyConfig(timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="HH:MM"):
        PolicyConfig(quiet_hours=("22h", "07:00"))
    with pytest.raises(ConfigError, match="max prompts"):
        PolicyConfig(max_prompts_per_hour=0)
    with pytest.raises(ConfigError, match="checkin_every_min must be > 0, got 0"):
        PolicyConfig(checkin_every_min=0)
    with pytest.raises(ConfigError, match="uncross_after_min must be > 0, got -1"):
        PolicyConfig(uncross_after_min=-1)
    with pytest.raises(ConfigError, match=r"cooldown_min must not be negative \(break\)"):
        PolicyConfig(cooldown_min={"break": -5.0})
    assert PolicyConfig(escalate_after_min=None, checkin_every_min=None).escalate_after_min is None


def test_prompter_command_parsing():
    assert parse_command("s 15").minutes == 15 and parse_command("s").minutes is None
    cmd = parse_command("p 7 left worse after the drive")
    assert (cmd.verb, cmd.pain, cmd.side, cmd.note) == ("pain", 7, "left", "worse after the drive")
    assert parse_command("a").verb == "done" and parse_command("k").verb == "ack"
    for bad in ("p 11", "p", "s 0", "z"):
        with pytest.raises(ValueError):
            parse_command(bad)
