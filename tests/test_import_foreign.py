"""`sitload import` / `sitload score --labels` on CSV files as real exports write them: BOMs, CRLF,
odd headers, other separators, time formats, unsorted and repeated rows, jitter, long holes,
label spellings and partial labels (docs/metrics.md, "Real labelled recordings")."""

import contextlib
import datetime as dt
import gzip
import io
import json

import numpy as np
import pandas as pd
import pytest

from sitload.sensor_ingest.replay import open_recording, replay_batches
from sitload.cli import main
from sitload.errors import ConfigError
from sitload.services.importers import import_csv, read_csv

T0 = 1_772_438_400.0  # 2026-03-02T08:00:00Z (CET, +01:00, in Europe/Berlin)


def _signal(seconds: float, rate: float = 25.0, jitter: float = 0.0, seed: int = 0):
    """Times and a slowly tilting accelerometer (|a| = 1 g) sampled at ``rate``."""
    t = T0 + np.arange(0, seconds, 1 / rate)
    t += np.random.default_rng(seed).uniform(-jitter, jitter, t.size)
    tilt = 0.5 * np.sin(2 * np.pi * (t - T0) / 20)
    return t, np.column_stack([np.cos(tilt), np.sin(tilt), np.zeros_like(t)])


def _iso(t, fmt: str = "%Y-%m-%dT%H:%M:%S.%f", suffix: str = "", hours: float = 0.0) -> list[str]:
    stamps = pd.to_datetime(np.rint(np.asarray(t) * 1e6).astype(np.int64), unit="us")
    return [s + suffix for s in (stamps + pd.Timedelta(hours=hours)).strftime(fmt)]


def _write(path, columns: dict, *, sep: str = ",", newline: str = "\n", encoding: str = "utf-8"):
    """A CSV whose header is the keys of ``columns`` as given, cells as given (str()-ed)."""
    rows = [sep.join(columns)] + [sep.join(map(str, r)) for r in zip(*columns.values())]
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(newline.join(rows) + newline)
    return path


def _rewrite(path, edit):
    """Replace the file's lines by ``edit(lines)``."""
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    return path


def _axes(accel, fmt: str = "{:.6f}") -> dict:
    return {k: [fmt.format(v) for v in accel[:, i]] for i, k in enumerate(("ax", "ay", "az"))}


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err.strip()


def _import(capsys, src, out, *args) -> tuple[int, str, str]:
    return _run(capsys, "import", src, "--sensor", "hip-imu", "-o", out, *args)


def _decoded(path):
    with open_recording(path) as rec:
        batches = list(replay_batches(rec))
    return (batches, np.concatenate([b.t for b in batches]),
            np.concatenate([b.accel for b in batches]))


def _assert_same_samples(path, t, accel):
    _, times, acc = _decoded(path)
    assert times.size == t.size and np.abs(times - t).max() < 1e-3
    assert np.abs(acc - accel).max() < 1e-3


TIME_FORMATS = {
    "epoch seconds": (lambda t: [f"{v:.3f}" for v in t], []),
    "epoch milliseconds": (lambda t: [f"{v * 1000:.0f}" for v in t], []),
    "epoch nanoseconds": (lambda t: [f"{v * 1e9:.0f}" for v in t], []),
    "ISO with Z": (lambda t: _iso(t, suffix="Z"), []),
    "ISO with +01:00": (lambda t: _iso(t, suffix="+01:00", hours=1), []),
    "ISO with the offset changing (+01:00, +02:00)": (lambda t: [
        (a if i % 2 else b) for i, (a, b) in enumerate(zip(_iso(t, suffix="+01:00", hours=1),
                                                           _iso(t, suffix="+02:00", hours=2)))],
        []),
    "ISO ms, space for T": (lambda t: [s[:-3] for s in _iso(t, "%Y-%m-%d %H:%M:%S.%f")], []),
    "Python isoformat (no fraction on whole seconds)": (
        lambda t: [dt.datetime.fromtimestamp(v, dt.UTC).isoformat() for v in t], []),
    "naive local time with --tz": (lambda t: _iso(t, hours=1), ["--tz", "Europe/Berlin"]),
}


@pytest.mark.parametrize("name", TIME_FORMATS)
def test_time_formats_import_to_the_same_samples(tmp_path, capsys, name):
    t, accel = _signal(60)
    times, args = TIME_FORMATS[name]
    src = _write(tmp_path / "in.csv", {"time": times(t), **_axes(accel)})
    code, out, err = _import(capsys, src, tmp_path / "out.sitload", *args)
    assert (code, err) == (0, "") and "1500 samples at 25 Hz in 1 segment(s)" in out
    _assert_same_samples(tmp_path / "out.sitload", t, accel)


def _comma_decimals(columns: dict) -> dict:
    return {k: [v.replace(".", ",") for v in col] for k, col in columns.items()}


FILE_VARIANTS = {  # each writes the columns time (ISO, Z), ax, ay, az to a path
    "UTF-8 BOM and CRLF": lambda p, c: _write(p, c, newline="\r\n", encoding="utf-8-sig"),
    "header case and spaces, padded cells": lambda p, c: _write(p, {
        h: [f" {v} " for v in c[k]] for h, k in zip(("Time", " AX ", "ay", "az"), c)}),
    "extra columns (temp, quoted label)": lambda p, c: _write(p, {
        "temp": ["31.5"] * len(c["time"]), **c, "label": ['"sitting, desk"'] * len(c["time"])}),
    "semicolons and decimal commas (European Excel)": lambda p, c: _write(
        p, _comma_decimals(c), sep=";", newline="\r\n"),
    "UTF-16 tab-separated (Excel Unicode text)": lambda p, c: _write(
        p, c, sep="\t", newline="\r\n", encoding="utf-16"),
    "a separator at the end of each data row": lambda p, c: _rewrite(
        _write(p, c), lambda lines: lines[:1] + [x + "," for x in lines[1:]]),
    "blank lines inside and at the end": lambda p, c: _rewrite(
        _write(p, c), lambda lines: [*lines[:100], "", *lines[100:], "", ""]),
}


@pytest.mark.parametrize("name", FILE_VARIANTS)
def test_file_variants_import_to_the_same_samples(tmp_path, capsys, name):
    t, accel = _signal(60)
    src = FILE_VARIANTS[name](tmp_path / "in.csv", {"time": _iso(t, suffix="Z"), **_axes(accel)})
    code, out, err = _import(capsys, src, tmp_path / "out.sitload")
    assert (code, err) == (0, "") and "1500 samples at 25 Hz in 1 segment(s)" in out
    _assert_same_samples(tmp_path / "out.sitload", t, accel)


def test_jittered_100_hz_with_swapped_and_repeated_rows_imports_like_the_clean_file(tmp_path,
                                                                                     capsys):
    t, accel = _signal(120, rate=100, jitter=0.003, seed=2)
    clean = {"time": _iso(t, suffix="Z"), **_axes(accel)}
    _write(tmp_path / "clean.csv", clean)
    rows = np.arange(t.size)
    rng = np.random.default_rng(3)
    for i in rng.choice(t.size - 1, 40, replace=False):  # slightly unsorted: neighbours swapped
        rows[[i, i + 1]] = rows[[i + 1, i]]
    again = rng.choice(t.size, 30, replace=False)
    rows = np.insert(rows, again, rows[again])  # rows written twice
    _write(tmp_path / "messy.csv", {k: [col[i] for i in rows] for k, col in clean.items()})
    for name in ("clean", "messy"):
        code, out, err = _import(capsys, tmp_path / f"{name}.csv", tmp_path / f"{name}.sitload")
        assert (code, err) == (0, "") and f"{t.size} samples at 100 Hz in 1 segment(s)" in out
    _, t_clean, a_clean = _decoded(tmp_path / "clean.sitload")
    _, t_messy, a_messy = _decoded(tmp_path / "messy.sitload")
    assert np.array_equal(t_clean, t_messy) and np.array_equal(a_clean, a_messy)
    assert np.allclose(np.diff(t_clean), 0.01, atol=1e-4)  # back on a uniform 100 Hz grid
    summary = import_csv(tmp_path / "messy.csv", tmp_path / "api.sitload")
    assert summary.repeated_times == 30 and summary.samples_read == t.size


@pytest.mark.parametrize("hole_h", [3, 50, 80])
def test_a_hole_of_hours_or_days_stays_a_gap_at_the_right_time(tmp_path, capsys, hole_h):
    """50 h and 80 h holes take the 36.4 h device clock (``ticks`` mod 2^32) across one and two
    wraps, more than half its range: only the receive times tell how many. Samples keep their
    own times to the millisecond, but in the first minute after the hole (until its minimum
    offset joins the clock's line) to a few: that minute's offsets come from the line fitted on
    the 10 minutes before the hole, whose slope the ticks' 30 us steps leave uncertain by about
    1e-8, drawn 50 or 80 h on."""
    t, accel = _signal(1200)
    t[t >= T0 + 600] += hole_h * 3600  # 10 min, the hole, 10 min
    src = _write(tmp_path / "hole.csv", {"time": _iso(t, suffix="Z"), **_axes(accel)})
    code, out, err = _import(capsys, src, tmp_path / "hole.sitload")
    assert (code, err) == (0, "") and "in 2 segment(s)" in out
    batches, times, _ = _decoded(tmp_path / "hole.sitload")
    assert [round(b.gap_before_s) for b in batches if b.gap_before_s] == [hole_h * 3600]
    inside = (times > T0 + 600) & (times < T0 + 600 + hole_h * 3600 - 0.05)
    assert times.size == t.size and not inside.any()  # nothing filled in
    error = np.abs(times - t)                             # every sample at its own time
    after = T0 + 600 + hole_h * 3600
    first_minute = (t >= after) & (t < after + 60)
    assert error[~first_minute].max() < 1e-3 and error[first_minute].max() < 5e-3


def test_daylight_saving_fallback_in_naive_local_times_is_one_continuous_stretch(tmp_path,
                                                                                capsys):
    utc = pd.date_range("2025-10-25 23:50", "2025-10-26 01:10", freq="100ms", tz="UTC")
    local = utc.tz_convert("Europe/Berlin").strftime("%Y-%m-%d %H:%M:%S.%f")  # 02:xx twice
    t = (utc - pd.Timestamp(0, tz="UTC")).total_seconds().to_numpy()
    accel = np.tile([1.0, 0.0, 0.0], (t.size, 1))
    src = _write(tmp_path / "dst.csv", {"time": list(local), **_axes(accel)})
    code, out, err = _import(capsys, src, tmp_path / "dst.sitload", "--tz", "Europe/Berlin")
    assert (code, err) == (0, "") and f"{t.size} samples at 10 Hz in 1 segment(s)" in out
    _assert_same_samples(tmp_path / "dst.sitload", t, accel)


def _errors(tmp_path, capsys, columns: dict, *args, edit=None) -> str:
    src = _write(tmp_path / "bad.csv", columns)
    if edit:
        _rewrite(src, edit)
    code, out, err = _import(capsys, src, tmp_path / "x.sitload", *args)
    assert code == 1 and out == "" and err.count("\n") == 0 and "bad.csv" in err
    return err


def test_what_cannot_be_read_without_guessing_is_a_one_line_error(tmp_path, capsys):
    t, accel = _signal(30)
    iso = _iso(t, suffix="Z")

    err = _errors(tmp_path, capsys, {"timestamp": iso, "x": iso, "y": iso, "z": iso})
    assert ("line 1: header lacks time, ax, ay, az (need time,ax,ay,az; found timestamp, x, y, z)"
            in err)
    err = _errors(tmp_path, capsys, {"time": _iso(t, "%d/%m/%Y %H:%M:%S.%f"), **_axes(accel)})
    assert "line 2: bad time '02/03/2026 08:00:00.000000' (need ISO 8601 or epoch" in err

    def blank_then_bad(lines):  # a blank line 6 does not shift the line numbers
        lines[8] = lines[8].rsplit(",", 1)[0] + ",n/a"
        return [*lines[:5], "", *lines[5:]]
    err = _errors(tmp_path, capsys, {"time": iso, **_axes(accel)}, edit=blank_then_bad)
    assert "bad.csv line 10: bad value in az (use --skip-bad" in err

    clock_reset = np.where(t >= T0 + 20, t - 60, t)
    err = _errors(tmp_path, capsys, {"time": _iso(clock_reset, suffix="Z"), **_axes(accel)})
    assert "line 502: time steps back 59.96 s (clock reset or files joined?)" in err
    whole_seconds = _iso(t, "%Y-%m-%dT%H:%M:%SZ")
    err = _errors(tmp_path, capsys, {"time": whole_seconds, **_axes(accel)})
    assert "line 2: 720 of 750 rows repeat the time of another row" in err

    err = _errors(tmp_path, capsys, {"time": iso, **_axes(accel * 9.80665)})
    assert "median acceleration is 9.81 g where gravity gives 1 g (wrong --units" in err
    err = _errors(tmp_path, capsys, {"time": iso, **_axes(accel)}, "--units", "ms2")
    assert "median acceleration is 0.102 g" in err

    err = _errors(tmp_path, capsys, {"time": [], "ax": [], "ay": [], "az": []})
    assert "bad.csv: no rows after the header" in err
    err = _errors(tmp_path, capsys, {"time": iso, **_axes(accel)},
                  edit=lambda lines: ["PK\x03\x04 (an .xlsx renamed)", *lines])
    assert "bad.csv: a zip or Excel file, not CSV text (save it as CSV)" in err


def test_gyro_in_rad_per_s_is_stored_in_deg_per_s(tmp_path, capsys):
    t, accel = _signal(30)
    rads = np.column_stack([np.sin(t - T0), np.cos(t - T0), np.full(t.size, 0.5)])
    src = _write(tmp_path / "hapt.csv", {"time": [f"{v:.3f}" for v in t], **_axes(accel),
                                         **{k: [f"{v:.6f}" for v in rads[:, i]]
                                            for i, k in enumerate(("gx", "gy", "gz"))}})
    assert np.allclose(read_csv(src, gyro_units="rads").gyro, np.degrees(rads), atol=1e-4)
    assert np.allclose(read_csv(src).gyro, rads, atol=1e-6)  # dps: as written
    code, out, err = _import(capsys, src, tmp_path / "hapt.sitload", "--gyro-units", "rads")
    assert (code, err) == (0, "") and "at 25 Hz" in out
    with open_recording(tmp_path / "hapt.sitload") as rec:
        gyro = np.concatenate([b.gyro for b in replay_batches(rec)])
    assert np.abs(gyro - np.degrees(rads)).max() < 0.1  # 2000 deg/s range: 0.06 deg/s per count
    with pytest.raises(ConfigError, match="gyro units must be one of dps, rads, not 'rpm'"):
        read_csv(src, gyro_units="rpm")


# --- reference labels --------------------------------------------------------------------------

PHASES = ((T0, "walking"), (T0 + 60, "standing"), (T0 + 600, "sitting"), (T0 + 1800, "walking"),
          (T0 + 2399, "walking"))  # per change; the last row ends the labelling


@pytest.fixture(scope="module")
def hip_recording(tmp_path_factory):
    """40 min at the hip: walking 1 min, standing 9 min, sitting 20 min (pelvis tilted 20 deg),
    walking 10 min; written as a CSV by hand and imported."""
    path = tmp_path_factory.mktemp("hip")
    phase = np.arange(0, 40 * 60, 1 / 25)
    tilt = np.where((phase >= 600) & (phase < 1800), np.radians(20), 0.0)
    accel = np.column_stack([np.cos(tilt), np.zeros_like(phase), np.sin(tilt)])
    walking = (phase < 60) | (phase >= 1800)
    accel[walking, 0] += 0.4 * np.sin(2 * np.pi * 1.9 * phase[walking])
    accel += np.random.default_rng(1).normal(0, 0.01, accel.shape)
    src = _write(path / "hip.csv", {"time": [f"{v:.3f}" for v in T0 + phase], **_axes(accel)})
    assert main(["import", str(src), "--sensor", "hip-imu", "-o", str(path / "hip.sitload")]) == 0
    return path / "hip.sitload"


def _score(capsys, recording, labels, *args) -> tuple[int, dict | None, str]:
    code, out, err = _run(capsys, "score", recording, "--labels", labels, "--json", *args)
    return code, json.loads(out) if code == 0 else None, err


@pytest.fixture(scope="module")
def reference_scores(hip_recording, tmp_path_factory):
    """`score --json` with the plain per-change labels of PHASES."""
    labels = _write(tmp_path_factory.mktemp("labels") / "plain.csv",
                    {"time": [f"{t:.0f}" for t, _ in PHASES], "label": [x for _, x in PHASES]})
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["score", str(hip_recording), "--labels", str(labels), "--json"]) == 0
    return json.loads(out.getvalue())


def test_the_reference_labels_score_the_whole_recording(reference_scores):
    assert reference_scores["seconds"] == 2400 and reference_scores["sitting_s_labelled"] == 1200
    assert reference_scores["sitting_kappa"] > 0.95


@pytest.mark.parametrize("spelling", ["Sitting", "SIT", "sit", "sitting ", " Seated",
                                      "Sedentary_Sitting", "sedentary - sitting", "1", "TRUE"])
def test_sitting_label_spellings(tmp_path, capsys, hip_recording, reference_scores, spelling):
    other = {"1": "0", "TRUE": "false"}.get(spelling)  # flags: 0 / false for the other rows
    labels = _write(tmp_path / "labels.csv", {"Time": [f"{t:.0f}" for t, _ in PHASES], "Label": [
        spelling if x == "sitting" else other or x.upper() for _, x in PHASES]})
    assert _score(capsys, hip_recording, labels)[:2] == (0, reference_scores)


LABEL_TIMES = {
    "ISO with Z": lambda t: _iso(t, suffix="Z"),
    "ISO with +01:00": lambda t: _iso(t, suffix="+01:00", hours=1),
    "ISO, space for T, no fraction": lambda t: _iso(t, "%Y-%m-%d %H:%M:%S", suffix="Z"),
    "epoch milliseconds": lambda t: [f"{v * 1000:.0f}" for v in t],
}


@pytest.mark.parametrize("name", LABEL_TIMES)
def test_label_time_formats(tmp_path, capsys, hip_recording, reference_scores, name):
    t = np.array([t for t, _ in PHASES])
    labels = _write(tmp_path / "labels.csv", {"time": LABEL_TIMES[name](t),
                                              "posture": [x for _, x in PHASES]})
    assert _score(capsys, hip_recording, labels)[:2] == (0, reference_scores)


def test_labels_file_from_european_excel(tmp_path, capsys, hip_recording, reference_scores):
    """BOM, CRLF, semicolons, naive local times with --tz, an extra column, label case."""
    t = np.array([t for t, _ in PHASES])
    labels = _write(tmp_path / "labels.csv",
                    {" Time ": _iso(t, "%Y-%m-%d %H:%M:%S", hours=1), "Label": [
                        x.capitalize() for _, x in PHASES], "Notiz": ["Büro"] * len(PHASES)},
                    sep=";", newline="\r\n", encoding="utf-8-sig")
    scores = _score(capsys, hip_recording, labels, "--tz", "Europe/Berlin")
    assert scores[:2] == (0, reference_scores)


def test_labels_covering_part_of_the_recording_score_only_the_labelled_seconds(
        tmp_path, capsys, hip_recording):
    per_second = np.r_[np.arange(T0 + 900, T0 + 1500), np.arange(T0 + 1900, T0 + 2000)]
    labels = _write(tmp_path / "seconds.csv", {
        "time": [f"{t:.0f}" for t in per_second],
        "label": ["sitting" if t < T0 + 1500 else "walking" for t in per_second]})
    code, scores, _ = _score(capsys, hip_recording, labels)  # the 400 s hole stays unlabelled
    assert code == 0 and scores["seconds"] == 700 and scores["sitting_s_labelled"] == 600
    assert scores["sitting_agreement"] > 0.97
    changes = _write(tmp_path / "changes.csv", {  # an empty or 'unknown' label ends a stretch
        "time": [f"{t:.0f}" for t in (T0 + 900, T0 + 1500, T0 + 1900, T0 + 2000)],
        "label": ["sitting", "", "walking", "Unknown"]})
    code, marked, _ = _score(capsys, hip_recording, changes)
    assert code == 0 and marked == {**scores, "skipped_unlabelled_s": 400 + 1}  # hole, last row


def test_numeric_activity_codes_and_sit_like_labels(tmp_path, capsys, hip_recording, caplog):
    codes = _write(tmp_path / "hapt.csv", {"time": [f"{t:.0f}" for t, _ in PHASES],
                                           "label": ["1", "5", "4", "1", "1"]})
    code, _, err = _score(capsys, hip_recording, codes)
    assert code == 1 and err.count("\n") == 0
    assert "hapt.csv line 3: label '5' is a number other than 0 or 1 (1 = sitting)" in err
    transitions = _write(tmp_path / "sts.csv", {
        "time": [f"{t:.0f}" for t in (T0 + 599, T0 + 600, T0 + 1799, T0 + 1800, T0 + 1810)],
        "label": ["STAND_TO_SIT", "sitting", "sit-to-stand", "Sitting on the floor", "walking"]})
    code, scores, _ = _score(capsys, hip_recording, transitions)
    assert code == 0 and scores["sitting_s_labelled"] == 1199
    assert scores["seconds"] == 1199 + 11 and scores["skipped_unlabelled_s"] == 2
    assert "labels 'sitting on the floor' count as not sitting" in caplog.text
    assert "to sit" not in caplog.text and "to stand" not in caplog.text


def test_labels_score_only_the_seconds_wholly_inside_one_label(tmp_path, capsys, hip_recording):
    """Labels that change within a second (UCI HAPT's, at 0.02 s): that second is skipped, as are
    transitions and unlabelled stretches; `score` says how many of each it skipped."""
    labels = _write(tmp_path / "hapt.csv", {
        "time": [f"{t:.2f}" for t in (T0, T0 + 60.5, T0 + 600.3, T0 + 603.2, T0 + 1800,
                                      T0 + 2100, T0 + 2150.98, T0 + 2399)],
        "label": ["walking", "standing", "stand_to_sit", "sitting", "walking", "unlabelled",
                  "walking", "walking"]})
    code, scores, _ = _score(capsys, hip_recording, labels)
    # walking 0-59, standing 61-599, sitting 604-1799, walking 1800-2099 and 2151-2399
    assert code == 0 and scores["seconds"] == 60 + 539 + 1196 + 300 + 249
    assert scores["sitting_s_labelled"] == 1196
    assert scores["skipped_unlabelled_s"] == 2 + 50        # 601-602 transition, 2100-2149
    assert scores["skipped_straddling_s"] == 4             # seconds 60, 600, 603, 2150
    text = _run(capsys, "score", hip_recording, "--labels", labels)[1]
    assert "skipped_unlabelled_s     52" in text and "skipped_straddling_s     4" in text


def test_a_gzip_compressed_csv_imports_as_the_plain_one(tmp_path, capsys, hip_recording):
    plain = hip_recording.with_name("hip.csv")
    packed = tmp_path / "hip.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    code, out, _ = _run(capsys, "import", packed, "--sensor", "hip-imu", "-o", tmp_path / "gz.rec")
    assert code == 0 and "60000 samples at 25 Hz" in out
    same = [json.loads(_run(capsys, "analyze", rec, "--json")[1])
            for rec in (hip_recording, tmp_path / "gz.rec")]
    assert same[0]["bouts"] == same[1]["bouts"] and same[0]["sitting_s"] == same[1]["sitting_s"]
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(packed.read_bytes()[:200])
    code, _, err = _run(capsys, "import", broken, "--sensor", "hip-imu", "-o", tmp_path / "b.rec")
    assert code == 1 and f"{broken}: cannot read CSV" in err and err.count("\n") == 0


def test_a_recording_given_as_labels_is_named_not_dumped(tmp_path):
    import sqlite3

    from sitload.errors import ImportDataError
    from sitload.services.importers import read_labels

    db = tmp_path / "day.sitload"
    sqlite3.connect(db).execute("CREATE TABLE t (a)").connection.commit()
    with pytest.raises(ImportDataError, match=r"day.sitload: an SQLite database \(a recording\?\)"
                                              r", not CSV text$"):
        read_labels(db)
