"""Flare linkage (analytics.flares) on hand-built timelines and on the simulator's body truth."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sitload.analytics.flares import (DiaryEntry, FlareConfig, Timeline, break_prompt_min,
                              exposure_names, flare_analysis, median_ci, report_exposures,
                              sitting_before)
from sitload.analytics.intervals import percentile_bootstrap
from sitload.firmware_sim.symptoms import (body_truth, simulated_diary, simulated_flares,
                                   unbroken_bouts)
from sitload.errors import ConfigError
from sitload.flare_commands import flares_text

T0 = 1772438400.0
MIN = 60.0


def truth_frame(minutes: int, sitting: list[tuple[int, int]], left=(), crossed=()) -> pd.DataFrame:
    """Per-second truth: sitting in the given [start, end) minute ranges, left lean / crossed
    legs in theirs."""
    n = minutes * 60
    posture = np.full(n, "standing", dtype=object)
    side = np.full(n, "none", dtype=object)
    cross = np.full(n, "none", dtype=object)
    for a, b in sitting:
        posture[a * 60:b * 60] = "sitting"
    for a, b in left:
        side[a * 60:b * 60] = "left"
    for a, b in crossed:
        cross[a * 60:b * 60] = "left"
    lean = np.where(side == "left", 10.0, 0.0)
    return pd.DataFrame({"t": T0 + np.arange(n, dtype=float), "posture": posture,
                         "lean_deg": lean, "lean_side": side, "crossed": cross})


def timeline_of(truth: pd.DataFrame) -> Timeline:
    sitting = (truth["posture"] == "sitting").to_numpy()
    return Timeline.from_truth(truth, unbroken_bouts(truth["t"].to_numpy(), sitting))


@pytest.mark.parametrize("fields, message", [
    ({"pain": 14}, "pain must be a whole number from 0 to 10"),
    ({"pain": -1}, "pain must be"),
    ({"pain": 6.5}, "pain must be"),
    ({"pain": True}, "pain must be"),
    ({"side": "up"}, "side must be one of left, right, both, none"),
    ({"location": "knee"}, "location must be one of"),
    ({"t": float("nan")}, "time must be"),
    ({"note": "x" * 501}, "note is longer than 500"),
])
def test_malformed_entries_are_refused(fields, message):
    good = {"t": T0, "pain": 6, "side": "left", "location": "buttock"}
    with pytest.raises(ConfigError, match=message):
        DiaryEntry(**{**good, **fields})


def test_unbroken_bouts_join_runs_across_less_than_a_minute():
    t = T0 + np.arange(600, dtype=float)
    sitting = np.zeros(600, dtype=bool)
    sitting[10:100] = True      # 30 s pause: same bout
    sitting[130:200] = True     # 60 s pause: a new bout
    sitting[260:300] = True
    assert unbroken_bouts(t, sitting).tolist() == [[T0 + 10, T0 + 200], [T0 + 260, T0 + 300]]


def test_exposures_before_a_report():
    # sit 0-50, break 50-55, sit 55-120 with left lean 60-80 and crossed legs 90-100
    truth = truth_frame(180, [(0, 50), (55, 120)], left=[(60, 80)], crossed=[(90, 100)])
    x = report_exposures(timeline_of(truth), np.array([T0 + 100 * MIN, T0 + 170 * MIN]),
                         FlareConfig())
    at100, at170 = x.iloc[0], x.iloc[1]
    assert at100["sitting_30_min"] == pytest.approx(30.0)
    assert at100["sitting_60_min"] == pytest.approx(55.0)
    assert at100["sitting_120_min"] == pytest.approx(95.0)
    assert at100["longest_bout_min"] == pytest.approx(50.0)   # the ended bout beats 45 so far
    assert at100["left_load_min"] == pytest.approx(20.0)
    assert at100["right_load_min"] == 0.0
    assert at100["mean_asymmetry"] == pytest.approx(10.0 * 20 / 55)
    assert at100["crossed_min"] == pytest.approx(10.0)
    assert at100["breaks"] == 1.0
    assert at100["coverage"] == 1.0
    # 50 min after the last bout ended: it still overlaps the hour before
    assert at170["sitting_60_min"] == pytest.approx(10.0)
    assert at170["longest_bout_min"] == pytest.approx(65.0)
    assert at170["breaks"] == 1.0
    assert list(x.columns[:-1]) == [name for name, *_ in exposure_names(FlareConfig())]
    # the tolerance's sitting: the last bout only, up to the report or its end, within 60 min
    times = T0 + MIN * np.array([-10, 30, 100, 170, 190])
    assert sitting_before(timeline_of(truth), times, 60.0).tolist() == pytest.approx(
        [0.0, 30.0, 45.0, 65.0, 0.0])


def test_reports_without_data_before_them_are_left_out():
    truth = truth_frame(120, [(0, 100)])
    x = report_exposures(timeline_of(truth), np.array([T0 + 20 * MIN, T0 + 10 * 3600]),
                         FlareConfig())
    assert x["coverage"].tolist() == pytest.approx([20 / 60, 0.0])


def _entries(times_min, pains):
    return [DiaryEntry(T0 + m * MIN, p, side="left") for m, p in zip(times_min, pains)]


def test_too_few_reports_say_not_enough_data():
    truth = truth_frame(600, [(0, 590)])
    result = flare_analysis(_entries(range(60, 600, 60), [2, 6] * 4 + [2]), timeline_of(truth))
    assert result.status == "not_enough_data"
    assert result.tolerance_min is None and result.tolerance_ci_min is None
    assert result.n_reports == 9 and result.exposures == []
    assert result.summary.startswith("Not enough data yet: 9 usable reports")


def test_flare_definition_and_follow_up_reports():
    truth = truth_frame(600, [(0, 590)])
    # baseline (median) 2: pain >= 4 is a flare; a flare 30 min after another is the same flare
    entries = _entries([60, 120, 150, 300, 420, 480, 540], [2, 5, 4, 1, 7, 2, 2])
    config = FlareConfig(min_reports=3, min_flares=2, min_other=2)
    result = flare_analysis(entries, timeline_of(truth), config)
    assert (result.baseline_pain, result.flare_threshold) == (2.0, 4.0)
    assert (result.n_reports, result.n_follow_ups, result.n_used, result.n_flares) == (7, 1, 6, 2)
    fixed = flare_analysis(entries, timeline_of(truth),
                           FlareConfig(baseline_pain=0, flare_pain=5, min_reports=3,
                                       min_flares=2, min_other=2))
    assert fixed.flare_threshold == 2.0        # 0 + 2 is below the absolute threshold of 5
    # pain >= 2 at 60-150 and at 420-540 are two flares; only the report at 300 is not one
    assert (fixed.n_flares, fixed.n_follow_ups, fixed.n_used) == (2, 4, 3)
    assert fixed.status == "not_enough_data"


def _day(minute0: int, flare_bout: bool):
    """A 10-h day: a 50-min bout that ends in a flare report (or a 20-min one with a calm
    check-in), then 20-min bouts with calm check-ins."""
    bouts = [(minute0 + 5, minute0 + (55 if flare_bout else 25))]
    bouts += [(minute0 + s, minute0 + s + 20) for s in range(90, 560, 60)]
    reports = [(minute0 + (46 if flare_bout else 24), 6 if flare_bout else 2)]
    reports += [(minute0 + s + 15, 2) for s in range(150, 560, 120)]
    return bouts, reports


def test_tolerance_side_and_summary_from_a_clear_dose_response():
    bouts, reports, left = [], [], []
    for day in range(10):
        b, r = _day(day * 1440, flare_bout=day % 5 != 4)
        bouts += b
        reports += r
        left.append((b[0][0], b[0][0] + 15))
    truth = truth_frame(10 * 1440, bouts, left=left)
    entries = _entries(*zip(*reports))
    result = flare_analysis(entries, timeline_of(truth), FlareConfig(permutations=999))
    assert result.status == "ok" and result.n_flares == 8
    assert result.tolerance_min == pytest.approx(41.0)
    assert result.tolerance_ci_min == pytest.approx((41.0, 41.0))
    assert result.loaded_side == "left"
    effect = {e.name: e for e in result.exposures}
    assert effect["longest_bout_min"].linked and effect["longest_bout_min"].diff > 15
    assert effect["left_load_min"].linked
    assert not effect["right_load_min"].linked and effect["right_load_min"].p is None  # constant
    assert effect["right_load_min"].diff_ci == (0.0, 0.0)
    assert all(e.diff_ci[0] <= e.diff <= e.diff_ci[1] for e in result.exposures)
    # seeded: the same intervals on every run
    again = flare_analysis(entries, timeline_of(truth), FlareConfig(permutations=999))
    assert [e.diff_ci for e in again.exposures] == [e.diff_ci for e in result.exposures]
    assert "reported after a median of 41 min of unbroken sitting (95% CI 41-41 min)" \
        in result.summary and "left side loaded" in result.summary
    assert break_prompt_min(result) == pytest.approx(0.8 * 41.0)
    assert break_prompt_min(result, fraction=0.2) == 15.0
    assert break_prompt_min(result, fraction=1.0, ceiling_min=40.0) == 40.0
    table = dict(line.split("  ", 1) for line in flares_text(result).splitlines()[3:])
    assert table["sitting with the left side loaded in the last 60 min"].endswith("linked")
    assert table["sitting with the right side loaded in the last 60 min"].endswith(" -")
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["schema"] == "sitload.flares/1" and doc["tolerance_ci_min"] == [41.0, 41.0]
    assert {"tolerance_min", "n_reports", "n_flares", "exposures"} <= doc.keys()
    assert {"diff", "diff_ci", "d", "p", "p_raw", "linked"} <= doc["exposures"][0].keys()


def test_five_flares_give_a_tolerance_without_an_interval():
    """No order statistics of 5 values enclose the median with 95 % confidence (min-max: 93.75 %):
    the tolerance comes without a CI rather than with a narrower one."""
    bouts, reports = [], []
    for day in range(7):
        b, r = _day(day * 1440, flare_bout=day < 5)
        bouts += b
        reports += r
    result = flare_analysis(_entries(*zip(*reports)), timeline_of(truth_frame(7 * 1440, bouts)),
                            FlareConfig(permutations=999))
    assert result.status == "ok" and result.n_flares == 5
    assert result.tolerance_min == pytest.approx(41.0) and result.tolerance_ci_min is None
    assert "a median of 41 min of unbroken sitting (too few for a 95% CI)" in result.summary
    assert result.to_json()["tolerance_ci_min"] is None


def test_median_ci_by_hand():
    """n = 12: P(Bin(12, 1/2) <= 2) = 79/4096 = 0.019 <= 0.025 < P(<= 3) = 299/4096, so the 3rd
    and 10th smallest, with confidence 1 - 2 * 79/4096 = 96.1 %. n = 6: P(<= 0) = 1/64, the
    range (96.9 %); n = 5: P(<= 0) = 1/32 > 0.025, no 95 % interval (the range is 93.75 %)."""
    assert median_ci(np.arange(12.0, 0.0, -1.0)) == (3.0, 10.0)
    assert median_ci(np.array([5.0, 1.0, 4.0, 2.0, 6.0, 3.0])) == (1.0, 6.0)
    assert median_ci(np.arange(5.0)) is None
    assert median_ci(np.arange(5.0), level=0.90) == (0.0, 4.0)


def binomial_median_ci(values, level=0.95):
    """The same interval with the binomial tail from scipy.stats.binom."""
    x = np.sort(values)
    tail = stats.binom.cdf(np.arange(len(x)), len(x), 0.5)
    j = int((tail <= (1.0 - level) / 2.0).sum()) - 1
    return None if j < 0 else (float(x[j]), float(x[len(x) - 1 - j]))


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99])
def test_median_ci_in_exact_integers_equals_the_binomial_tail_of_scipy(level):
    rng = np.random.default_rng(3)
    for n in range(1, 200):
        values = rng.normal(size=n)
        assert median_ci(values, level) == binomial_median_ci(values, level), n


@settings(max_examples=40, deadline=None)
@given(nf=st.integers(2, 30), no=st.integers(2, 30), k=st.integers(1, 8),
       resamples=st.integers(99, 700), seed=st.integers(0, 2 ** 32 - 1),
       level=st.sampled_from([0.9, 0.95, 0.99]), ties=st.booleans())
def test_percentile_bootstrap_equals_scipy_bit_for_bit(nf, no, k, resamples, seed, level, ties):
    """The interval and the generator's state after it are scipy.stats.bootstrap's."""
    data = np.random.default_rng(seed).normal(size=(nf + no, k))
    if ties:
        data = np.round(data)
    flare, other = data[:nf], data[nf:]

    def difference(a, b, axis=-1):
        return a.mean(axis=axis) - b.mean(axis=axis)

    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    lo, hi = percentile_bootstrap((flare, other), difference, resamples, ours, level)
    expected = stats.bootstrap((flare, other), difference, n_resamples=resamples,
                               method="percentile", confidence_level=level,
                               rng=theirs).confidence_interval
    assert lo.tobytes() == np.asarray(expected.low).tobytes()
    assert hi.tobytes() == np.asarray(expected.high).tobytes()
    assert ours.bit_generator.state == theirs.bit_generator.state


@pytest.mark.parametrize("n, confidence", [(6, 1 - 2 / 64), (12, 1 - 2 * 79 / 4096),
                                           (20, 1 - 2 * 21700 / 2 ** 20)])
def test_median_ci_covers_the_median_as_often_as_it_says(n, confidence):
    """On a skewed law (lognormal, median 1) the interval holds the median as often as the
    binomial law says, never less than 95 % (4000 samples: SE 0.3 points)."""
    rng = np.random.default_rng(7)
    samples = rng.lognormal(0.0, 1.0, (4000, n))
    held = np.mean([lo <= 1.0 <= hi for lo, hi in map(median_ci, samples)])
    assert confidence >= 0.95
    assert held == pytest.approx(confidence, abs=0.01)


def test_overlapping_recordings_are_refused():
    tl = timeline_of(truth_frame(60, [(0, 30)]))
    with pytest.raises(ConfigError, match="overlap"):
        Timeline.join([tl, tl])


def test_an_exposure_not_measured_has_no_numbers_and_no_part_in_the_adjustment():
    """Crossed legs a hip IMU cannot see: null, a dash, not tested, and the other exposures are
    adjusted over the family without it (docs/flares.md §4)."""
    bouts, reports, crossed = [], [], []
    for day in range(10):
        b, r = _day(day * 1440, flare_bout=day % 5 != 4)
        bouts += b
        reports += r
        crossed += [(s, s + 5 * (1 + i % 3)) for i, (s, _) in enumerate(b[1:])]
    tl = timeline_of(truth_frame(10 * 1440, bouts, crossed=crossed))
    entries = _entries(*zip(*reports))
    config = FlareConfig(permutations=999)
    seen, blind, without = (flare_analysis(entries, t, config) for t in (
        tl, replace(tl, crossed=None), replace(tl, crossed=np.zeros_like(tl.crossed))))
    effect = {e.name: e for e in blind.exposures}["crossed_min"]
    assert not effect.measured and not effect.linked
    assert {e.name: e.measured for e in seen.exposures}["crossed_min"]
    doc = {e["name"]: e for e in json.loads(json.dumps(blind.to_json(),
                                                       allow_nan=False))["exposures"]}
    assert [doc["crossed_min"][k] for k in ("flare_mean", "other_mean", "diff", "diff_ci", "d",
                                            "p_raw", "p", "linked")] == [None] * 7 + [False]
    # a constant exposure is left out of the family too: the others' p values are the same ...
    others = [(e.name, e.p_raw, e.p) for e in blind.exposures if e.name != "crossed_min"]
    assert others == [(e.name, e.p_raw, e.p) for e in without.exposures
                      if e.name != "crossed_min"]
    # ... and not those of the family with crossed legs measured, which adjusts more
    p_with = {e.name: e.p for e in seen.exposures}
    assert p_with["sitting_120_min"] > dict((n, p) for n, _, p in others)["sitting_120_min"]
    # the bootstrap intervals are the same draws whichever exposures are measured
    assert [e.diff_ci for e in blind.exposures if e.name != "crossed_min"] == \
        [e.diff_ci for e in seen.exposures if e.name != "crossed_min"]
    row = next(line for line in flares_text(blind).splitlines()
               if line.startswith("legs crossed in the last 60 min"))
    assert row.split()[-5:] == ["-", "-", "not", "measured", "-"]


def test_a_sensor_that_sees_crossed_legs_does_not_join_one_that_does_not():
    tl = timeline_of(truth_frame(60, [(0, 30)]))
    later = replace(timeline_of(truth_frame(60, [(0, 30)])), t=tl.t + 3600, crossed=None)
    assert Timeline.join([later, replace(tl, t=tl.t + 7200, crossed=None)]).crossed is None
    with pytest.raises(ConfigError, match="crossed legs measured by one, not by another"):
        Timeline.join([tl, later])


def _truth_level(scenario: str, seed: int, days: int = 14):
    truth = body_truth(scenario, seed, days, T0)
    diary = [DiaryEntry(e.t, e.pain, e.location, e.side, e.tingling, e.note, "simulated")
             for e in simulated_diary(scenario, seed, truth)]
    return flare_analysis(diary, timeline_of(truth))


def test_hidden_tolerance_found_from_the_body_truth():
    """The statistics alone, with perfect sitting detection (recordings: test_flares_cli). The
    simulator's tolerance in the analysis's terms is 42.0 min (docs/flares.md section 7)."""
    result = _truth_level("flare-fortnight", 1)
    assert result.status == "ok"
    assert result.tolerance_ci_min[0] <= 42.0 <= result.tolerance_ci_min[1]
    assert result.loaded_side == "left"


def test_the_tolerance_measures_what_the_simulator_records():
    """Per flare, the sitting the analysis takes from the body truth is the simulator's own
    record of the sitting from the start of the flare's bout to its report."""
    truth = body_truth("flare-fortnight", 3, 3, T0)
    flares = simulated_flares("flare-fortnight", 3, truth)
    reported = [e.t for e in simulated_diary("flare-fortnight", 3, truth)
                if e.note == "flare (simulated)"]
    assert len(flares) >= 3 and flares["t"].tolist() == reported
    assert sitting_before(timeline_of(truth), flares["t"].to_numpy(), 60.0) == pytest.approx(
        flares["sitting_min"].to_numpy(), abs=1e-9)
    assert simulated_flares("no-dose-response", 3, truth).empty


def test_no_link_invented_without_a_dose_response():
    result = _truth_level("no-dose-response", 1)
    assert result.status == "no_link" and result.tolerance_min is None
    assert result.n_flares >= 5
    assert all(e.p > 0.05 for e in result.exposures if e.p is not None)
    assert "No exposure was clearly linked" in result.summary


def test_simulated_diary_is_deterministic_and_only_for_symptom_scenarios():
    truth = body_truth("flare-fortnight", 3, 2, T0)
    assert simulated_diary("flare-fortnight", 3, truth) == simulated_diary("flare-fortnight", 3,
                                                                           truth)
    assert simulated_diary("desk-day", 3, truth) == []
    entries = simulated_diary("flare-fortnight", 3, truth)
    assert all(truth["t"].iloc[0] <= e.t <= truth["t"].iloc[-1] + 1 for e in entries)
    assert all(0 <= e.pain <= 10 for e in entries)


def test_step_down_max_t_on_a_hand_worked_example():
    """Westfall & Young (1993) algorithm 2.8 by hand: observed statistics 3, 1, 2 and four
    permutations. In observed order (exposures 0, 2, 1) each is held against the maximum over
    itself and those after it:
    exposure 0 vs max of all = 2.5, 4, 1.5, 0.5: 1 of 4 reach 3, p = (1 + 1) / 5 = 0.4;
    exposure 2 vs max(exp. 2, exp. 1) = 2.5, 0, 1.5, 0.5: 1 reaches 2, p = 0.4;
    exposure 1 vs itself = 0, -1, 1.5, 0.5: 1 reaches 1, p = 0.4.
    Single-step max-T holds every exposure against the maximum of all: 0.4, 0.8, 0.6."""
    from sitload.analytics.flares import _step_down_max_t
    observed = np.array([3.0, 1.0, 2.0])
    null = np.array([[1.0, 0.0, 2.5], [4.0, -1.0, 0.0], [0.5, 1.5, 1.0], [0.0, 0.5, 0.5]])
    np.testing.assert_allclose(_step_down_max_t(observed, null), [0.4, 0.4, 0.4])
    single_step = (1 + (null.max(axis=1)[:, None] >= observed).sum(axis=0)) / 5
    np.testing.assert_allclose(single_step, [0.4, 0.8, 0.6])
    null[1, 0] = 2.0            # now no permutation reaches 3: exposure 0 gets p = 1 / 5
    np.testing.assert_allclose(_step_down_max_t(observed, null), [0.2, 0.4, 0.4])
    null[2, 1] = 0.5            # exposure 1 alone: p 0.2, lifted to 0.4 to stay monotone
    np.testing.assert_allclose(_step_down_max_t(observed, null), [0.2, 0.4, 0.4])
    null[2, 2] = 0.0            # exposure 2: 1 of 4 still reach 2 (2.5); exposure 1: none
    np.testing.assert_allclose(_step_down_max_t(observed, null), [0.2, 0.4, 0.4])


@pytest.mark.parametrize("fields,message", [
    ({"sitting_windows_min": (30.0, 30.0)}, "must not repeat a window"),
    ({"episode_min": -1.0}, "episode_min must be >= 0"),
    ({"min_reports": 0}, "min_reports >= 1"),
    ({"flare_pain": 11}, "the flare pain must be within 1-10, not 11"),
    ({"flare_rise": 0.0}, "the flare rise must be > 0 points, not 0.0"),
])
def test_flare_config_refuses_what_would_break_the_analysis(fields, message):
    with pytest.raises(ConfigError, match=message):
        FlareConfig(**fields)
