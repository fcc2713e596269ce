"""`sitload import`: foreign CSV -> recording -> the one decode path; `sitload score --labels`."""

import json

import numpy as np
import pandas as pd
import pytest

from sitload.sensor_ingest.replay import open_recording, replay_batches
from sitload.cli import main
from sitload.errors import ImportDataError
from sitload.services.importers import import_csv

T0 = 1_772_438_400.0


def _write_csv(path, t, accel, time_format="epoch"):
    times = (pd.to_datetime(t, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
             if time_format == "iso" else [f"{v:.4f}" for v in t])
    df = pd.DataFrame({"time": times, "ax": accel[:, 0], "ay": accel[:, 1], "az": accel[:, 2]})
    df.to_csv(path, index=False)


def _decoded(path):
    with open_recording(path) as rec:
        batches = list(replay_batches(rec))
    return batches


def test_irregular_25_hz_iso_csv_in_ms2_imports_with_a_hole_kept_as_a_gap(tmp_path):
    rng = np.random.default_rng(0)
    t = T0 + np.arange(0, 120, 0.04) + rng.uniform(-0.004, 0.004, 3000)  # 25 Hz, jittered
    t = np.delete(t, np.s_[1000:1500])  # a 20 s hole
    accel = np.tile([0.0, 0.0, 9.80665], (t.size, 1))
    accel[t > T0 + 60, :] = [9.80665, 0.0, 0.0]
    src = tmp_path / "foreign.csv"
    _write_csv(src, t, accel, "iso")
    summary = import_csv(src, tmp_path / "out.sitload", units="ms2")
    assert summary.rate_hz == 25.0 and summary.segments == 2
    batches = _decoded(tmp_path / "out.sitload")
    times = np.concatenate([b.t for b in batches])
    acc = np.concatenate([b.accel for b in batches])
    assert abs(times[0] - t[0]) < 0.002
    assert [round(b.gap_before_s) for b in batches if b.gap_before_s] == [20]
    assert np.abs(acc[times < T0 + 59] - [0, 0, 1]).max() < 2e-3
    assert np.abs(acc[times > T0 + 61] - [1, 0, 0]).max() < 2e-3


def test_a_bad_row_names_its_line_or_is_skipped_and_counted(tmp_path):
    t = T0 + np.arange(0, 10, 0.02)
    src = tmp_path / "bad.csv"
    _write_csv(src, t, np.tile([0.0, 0.0, 1.0], (t.size, 1)))
    lines = src.read_text().splitlines()
    lines[7] = lines[7].replace("1.0", "x1")  # line 8 of the file
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportDataError, match=r"bad\.csv line 8: bad value in az"):
        import_csv(src, tmp_path / "a.sitload")
    summary = import_csv(src, tmp_path / "b.sitload", skip_bad=True)
    assert summary.rows_skipped == 1 and summary.samples_read == t.size - 1


def test_values_beyond_what_a_body_worn_sensor_reads_are_bad_rows(tmp_path):
    """1e300 g would saturate every frame it lands in; it is a bad value, like text."""
    t = T0 + np.arange(0, 10, 0.02)
    src = tmp_path / "huge.csv"
    accel = np.tile([0.0, 0.0, 1.0], (t.size, 1))
    accel[6, 2] = 1e300        # line 8 of the file
    accel[20, 0] = -9.9 * 9.80665  # m/s^2 read as g: 97 g
    _write_csv(src, t, accel)
    with pytest.raises(ImportDataError, match=r"huge\.csv line 8: bad value in az \(1e\+300 g, "
                                              r"beyond the \+-64 g of a body-worn sensor\)"):
        import_csv(src, tmp_path / "a.sitload")
    summary = import_csv(src, tmp_path / "b.sitload", skip_bad=True)
    assert summary.rows_skipped == 2 and summary.samples_read == t.size - 2
    assert max(np.abs(b.accel).max() for b in _decoded(tmp_path / "b.sitload")) < 1.01


@pytest.mark.parametrize("prefix", [(0.0, 0.02), (T0 - 3.2e9, T0 - 3.2e9 + 0.02)])
def test_a_clock_that_was_not_set_is_refused_at_import_not_analysed_for_decades(tmp_path, prefix):
    """Two rows at epoch 0 (or 100 years early) before the real data: analysing the span would
    need a row for each of billions of seconds; the import names the line instead."""
    t = np.r_[prefix, T0 + np.arange(0, 60, 0.02)]
    src = tmp_path / "unset.csv"
    _write_csv(src, t, np.tile([0.0, 0.0, 1.0], (t.size, 1)))
    with pytest.raises(ImportDataError, match=r"unset\.csv line 4: time jumps [\d.]+ days ahead "
                                              r"\(more than 366: a clock that was not set\?"):
        import_csv(src, tmp_path / "a.sitload")


def test_cli_errors_are_one_line_with_exit_codes(tmp_path, capsys):
    src = tmp_path / "slow.csv"
    t = T0 + np.arange(0, 100, 1.0)  # 1 Hz: too slow
    _write_csv(src, t, np.tile([0.0, 0.0, 1.0], (t.size, 1)))
    assert main(["import", str(src), "-o", str(tmp_path / "x.sitload")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sample rate 1.0 Hz is outside 10-200 Hz" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["import", str(src), "--units", "furlongs", "-o", "y"])
    assert exit_info.value.code == 2


def test_score_against_reference_labels_of_a_foreign_recording(tmp_path, capsys):
    """A hip recording imported from CSV scored per second against a label file given per change:
    standing 10 min, sitting 20 min (with the pelvis tilted back and a sit-down swing), walking."""
    rate = 25
    t = T0 + np.arange(0, 40 * 60, 1 / rate)
    phase = t - T0
    tilt = np.where((phase >= 600) & (phase < 1800), np.radians(20), 0.0)
    accel = np.column_stack([np.cos(tilt), np.zeros_like(t), np.sin(tilt)])
    walking = (phase < 60) | (phase >= 1800)
    accel[walking, 0] += 0.4 * np.sin(2 * np.pi * 1.9 * phase[walking])
    accel += np.random.default_rng(1).normal(0, 0.01, accel.shape)
    src = tmp_path / "hip.csv"
    _write_csv(src, t, accel)
    import_csv(src, tmp_path / "hip.sitload", sensor="hip-imu")
    labels = tmp_path / "labels.csv"
    labels.write_text("time,label\n"
                      f"{T0},walking\n{T0 + 60},standing\n{T0 + 600},sitting\n{T0 + 1800},walking\n"
                      f"{T0 + 2399},walking\n")
    assert main(["score", str(tmp_path / "hip.sitload"), "--labels", str(labels), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["seconds"] >= 2390 and scores["sitting_s_labelled"] == 1200
    assert scores["sitting_kappa"] > 0.95
