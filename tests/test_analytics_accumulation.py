"""Accumulation metrics (Chastin & Granat 2010) on a hand-worked bout list."""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from sitload.analytics import AnalysisConfig, accumulation_metrics
from sitload.errors import ConfigError


def test_hand_worked_bouts():
    # Bouts 600, 1200, 2400, 3600 s. total = 7800 s, n = 4, mean = 1950 s, median = 1800 s.
    # >= 30 min: 2400, 3600 -> 2; >= 60 min: 3600 -> 1.
    # Cumulative time fractions over the sorted bouts:
    #   600/7800 = 0.076923, 1800/7800 = 0.230769, 4200/7800 = 0.538462, 7800/7800 = 1.
    # F = 0.5 falls between (1200, 0.230769) and (2400, 0.538462):
    #   W50 = 1200 + (0.5 - 1800/7800) / (2400/7800) * 1200 = 1200 + (2100/2400) * 1200 = 2250 s.
    # alpha = 1 + n / sum ln(x / 600) = 1 + 4 / (0 + ln 2 + ln 4 + ln 6) = 1 + 4 / 3.871201
    #       = 2.033271.
    # Gini: pairwise |differences| 600, 1800, 3000, 1200, 2400, 1200 sum to 10200, so the double sum
    #   over (i, j) is 20400; G = 20400 / (2 * 4^2 * 1950) = 0.326923.
    m = accumulation_metrics([2400.0, 600.0, 3600.0, 1200.0])
    assert m.total_s == 7800.0
    assert m.n_bouts == 4
    assert m.mean_s == 1950.0
    assert m.median_s == 1800.0
    assert [(p.name, p.count) for p in m.prolonged] == [("bouts_30", 2), ("bouts_60", 1)]
    assert m.w50_s == pytest.approx(2250.0)
    assert m.alpha == pytest.approx(1 + 4 / (math.log(2) + math.log(4) + math.log(6)))
    assert m.alpha == pytest.approx(2.033271, abs=1e-6)
    assert m.gini == pytest.approx(0.326923, abs=1e-6)
    assert m.x_min_s == 600.0


@given(st.lists(st.floats(min_value=1.0, max_value=86400.0), min_size=1, max_size=60))
def test_the_median_is_numpys_to_the_bit(durations):
    assert accumulation_metrics(durations).median_s == float(np.median(durations))


def test_prolonged_counts_follow_the_thresholds_named_by_their_minutes():
    m = accumulation_metrics([2400.0, 600.0, 3600.0, 1200.0], prolonged_s=(1200.0, 2400.0, 5400.0))
    doc = m.to_json()
    assert list(doc)[3:8] == ["median_s", "bouts_20", "bouts_40", "bouts_90", "w50_s"]
    assert [doc[k] for k in ("bouts_20", "bouts_40", "bouts_90")] == [3, 2, 0]
    assert accumulation_metrics([], prolonged_s=(1200.0,)).to_json()["bouts_20"] == 0
    with pytest.raises(ConfigError, match="whole minutes"):
        AnalysisConfig(prolonged_s=(1200.0, 2430.0))


def test_explicit_x_min_drops_shorter_bouts_from_alpha():
    # x_min = 1200: bouts 1200, 2400, 3600 -> alpha = 1 + 3 / (ln 1 + ln 2 + ln 3) = 2.365212
    m = accumulation_metrics([600.0, 1200.0, 2400.0, 3600.0], x_min_s=1200.0)
    assert m.alpha == pytest.approx(1 + 3 / (math.log(2) + math.log(3)))


def test_degenerate_inputs():
    empty = accumulation_metrics([])
    assert (empty.n_bouts, empty.total_s, empty.w50_s, empty.alpha, empty.gini) == \
        (0, 0.0, None, None, None)
    same = accumulation_metrics([300.0, 300.0])
    assert same.alpha is None and same.gini == 0.0 and same.w50_s == 300.0
    with pytest.raises(ValueError):
        accumulation_metrics([300.0, 0.0])
