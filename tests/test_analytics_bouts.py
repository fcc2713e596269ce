"""Bout and break rules of the BoutTracker on hand-made per-second label sequences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitload.analytics import AnalysisConfig
from sitload.analytics.bouts import BoutTracker
from sitload.vocab import Posture, Side

GAP, SITTING, STANDING = Posture.GAP, Posture.SITTING, Posture.STANDING
from sitload.errors import ConfigError

T0 = 1_772_438_400


def labels(*runs):
    """Columns for consecutive runs of (posture, seconds[, lean side, crossed])."""
    posture, side, crossed = [], [], []
    for run in runs:
        code, n = run[0], run[1]
        posture += [code] * n
        side += [run[2] if len(run) > 2 else 0] * n
        crossed += [run[3] if len(run) > 3 else 0] * n
    n = len(posture)
    return {"sec": np.arange(T0, T0 + n, dtype=np.int64),
            "posture": np.array(posture, dtype=np.int8),
            "lean_side": np.array(side, dtype=np.int8),
            "crossed": np.array(crossed, dtype=np.int8)}


def run_tracker(cols, cuts=()):
    tracker = BoutTracker(AnalysisConfig())
    events = []
    edges = [0, *cuts, len(cols["sec"])]
    for a, b in zip(edges, edges[1:]):
        events += tracker.feed({k: v[a:b] for k, v in cols.items()})
    events += tracker.finish(int(cols["sec"][-1]) + 1)
    return tracker, events


def test_short_stand_up_does_not_split_and_blips_are_not_bouts():
    cols = labels((STANDING, 100), (SITTING, 600), (STANDING, 30), (SITTING, 600),
                  (STANDING, 120), (SITTING, 5), (STANDING, 100))
    tracker, events = run_tracker(cols)
    assert len(tracker.bouts) == 1
    bout = tracker.bouts[0]
    assert (bout.start, bout.end, bout.duration_s) == (T0 + 100, T0 + 1330, 1230.0)
    assert bout.sitting_s == 1200 and bout.ended_by == "break"
    assert bout.sit_to_stand == 2 and tracker.sit_to_stand == 2
    assert tracker.breaks == 1 and tracker.sitting_s == 1205
    kinds = [(e.kind, e.t) for e in events if e.kind != "posture"]
    assert kinds == [("bout_start", T0 + 110), ("bout_end", T0 + 1390)]
    assert [e.bout for e in events if e.kind == "bout_end"] == [bout]   # ended by a break


def test_gap_longer_than_break_closes_the_bout():
    long_gap = labels((SITTING, 600), (GAP, 70), (SITTING, 600))
    tracker, events = run_tracker(long_gap)
    assert [(b.start - T0, b.end - T0, b.ended_by) for b in tracker.bouts] == \
        [(0, 600, "gap"), (670, 1270, "end_of_data")]
    assert tracker.breaks == 0
    assert tracker.gaps == [(T0 + 600.0, T0 + 670.0)]
    assert [(e.start, e.end) for e in events if e.kind == "gap"] == [(T0 + 600.0, T0 + 670.0)]
    short_gap = labels((SITTING, 600), (GAP, 40), (SITTING, 600))
    tracker, _ = run_tracker(short_gap)
    assert [(b.start - T0, b.end - T0) for b in tracker.bouts] == [(0, 1240)]


def test_blip_near_the_break_threshold_does_not_extend_the_bout():
    # the 5 s blip starts 40 s after the bout: it neither extends nor splits anything
    cols = labels((SITTING, 300), (STANDING, 40), (SITTING, 5), (STANDING, 100))
    tracker, _ = run_tracker(cols)
    assert [(b.start - T0, b.end - T0) for b in tracker.bouts] == [(0, 300)]


def test_prolonged_sitting_events_and_sides():
    cols = labels((SITTING, 1000, 1, 0), (SITTING, 2800, 0, 2), (STANDING, 100))
    tracker, events = run_tracker(cols)
    prolonged = [(e.t - T0, e.minutes) for e in events if e.kind == "prolonged_sitting"]
    assert prolonged == [(1800, 30.0), (3600, 60.0)]
    bout = tracker.bouts[0]
    assert bout.duration_s == 3800 and bout.lean_side == "left"
    assert bout.crossed_s == 2800 and bout.crossed_side == "right"
    asym = [e for e in events if e.kind == "asymmetry"]
    crossed = [e for e in events if e.kind == "crossed_legs"]
    assert [(e.t - T0, e.side) for e in asym] == [(120, Side.LEFT)]
    assert [(e.t - T0, e.side) for e in crossed] == [(1060, Side.RIGHT)]


@pytest.mark.parametrize("cuts", [(1,), (7, 333, 334, 900), tuple(range(50, 1500, 97))])
def test_any_cut_of_the_stream_gives_the_same_result(cuts):
    cols = labels((STANDING, 50), (SITTING, 400, 2), (STANDING, 59), (SITTING, 9), (GAP, 30),
                  (SITTING, 300, 0, 1), (STANDING, 61), (SITTING, 200), (GAP, 100))
    whole, whole_events = run_tracker(cols)
    split, split_events = run_tracker(cols, cuts)
    assert whole.bouts == split.bouts and whole_events == split_events
    assert [(b.start - T0, b.end - T0) for b in whole.bouts] == [(50, 450), (548, 848), (909, 1109)]


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(st.tuples(st.sampled_from([GAP, SITTING, STANDING, Posture.UNKNOWN]),
                               st.integers(1, 400), st.integers(0, 2), st.integers(0, 2)),
                     min_size=1, max_size=14))
def test_gap_seconds_skipped_in_a_block_give_what_stepping_every_second_gives(runs):
    """A block steps over the inner seconds of a gap (they can only end the open bout, at its
    break); fed one second at a time, every second is stepped."""
    cols = labels(*runs)
    whole, whole_events = run_tracker(cols)
    one_by_one, single_events = run_tracker(cols, tuple(range(1, len(cols["sec"]))))
    assert whole_events == single_events
    assert (whole.bouts, whole.gaps, whole.sitting_s, whole.sit_to_stand) == \
        (one_by_one.bouts, one_by_one.gaps, one_by_one.sitting_s, one_by_one.sit_to_stand)


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(st.tuples(st.sampled_from([GAP, SITTING, SITTING, STANDING, Posture.UNKNOWN]),
                               st.integers(1, 300), st.integers(0, 2), st.integers(0, 2)),
                     min_size=1, max_size=14),
       seed=st.integers(0, 2**32 - 1))
def test_steady_sitting_taken_at_once_gives_what_stepping_every_second_gives(runs, seed):
    """A block adds a run of like sitting seconds to the open bout at once, up to the next event
    (held lean or crossed legs, a prolonged threshold: short here, so runs reach them); its lean
    sum is the one stepping gives, bit for bit."""
    cols = labels(*runs)
    cols["lean_deg"] = np.random.default_rng(seed).normal(5.0, 10.0, len(cols["sec"]))
    config = AnalysisConfig(prolonged_s=(120.0, 300.0, 600.0), asym_sustain_s=45.0,
                            crossed_sustain_s=30.0)
    found = []
    for cuts in ((), tuple(range(1, len(cols["sec"])))):
        tracker = BoutTracker(config, frozenset({"crossed", "lean_deg"}))
        edges = [0, *cuts, len(cols["sec"])]
        events = [e for a, b in zip(edges, edges[1:])
                  for e in tracker.feed({k: v[a:b] for k, v in cols.items()})]
        events += tracker.finish(int(cols["sec"][-1]) + 1)
        found.append((events, tracker.bouts, tracker.gaps, tracker.sitting_s,
                      tracker.sit_to_stand, tracker.breaks))
    assert found[0] == found[1]


@pytest.mark.parametrize("fields,message", [
    ({"prolonged_s": (3600.0, 1800.0)}, "prolonged_s must be positive and ascending"),
    ({"prolonged_s": ()}, "prolonged_s must be positive and ascending"),
    ({"lean_deg": -1.0, "shift_min_s": -2.0}, "lean_deg, shift_min_s must not be negative"),
])
def test_analysis_config_refuses_thresholds_that_make_no_sense(fields, message):
    with pytest.raises(ConfigError, match=message):
        AnalysisConfig(**fields)
