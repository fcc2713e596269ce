"""The per-second features' arithmetic (analytics.epochs): the rows' lengths are the bits the
features were made with before (numpy's einsum), for any values."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sitload.analytics.epochs import epoch_segments, row_norms

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(0, 300), st.just(3)), elements=FLOATS))
def test_row_lengths_are_einsums_to_the_bit(v):
    with np.errstate(all="ignore"):
        assert np.array_equal(row_norms(v), np.sqrt(np.einsum("ij,ij->i", v, v)), equal_nan=True)


def test_row_lengths_of_a_day_of_samples_are_einsums_to_the_bit():
    rng = np.random.default_rng(7)
    v = rng.normal(size=(50 * 3600, 3)) * rng.uniform(1e-3, 16, (50 * 3600, 1))
    assert np.array_equal(row_norms(v), np.sqrt(np.einsum("ij,ij->i", v, v)))


@given(st.lists(st.integers(0, 5), max_size=60))
def test_epoch_segments_are_the_runs_of_equal_seconds(steps):
    sec = 1_700_000_000 + np.cumsum(np.array(steps, dtype=np.int64))
    secs, starts, counts = epoch_segments(sec)
    assert counts.sum() == sec.size and (counts > 0).all()
    assert np.array_equal(np.repeat(secs, counts), sec)
    assert np.array_equal(starts, np.cumsum(counts) - counts)
    assert len(set(secs.tolist())) == secs.size
