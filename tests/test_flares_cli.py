"""The diary and flares commands on real recordings: simulate -> record -> analyse -> flares."""

import json

import numpy as np
import pytest

from sitload.analytics.flares import FlareConfig, Timeline, diary_entries, report_exposures
from sitload.firmware_sim.symptoms import simulated_diary, unbroken_bouts
from sitload.sensor_ingest.recording import Recording
from sitload.cli import main
from sitload.services.analysis import analyze_recording
from sitload.services.simulation import DEFAULT_START_UTC, simulate_to_recording


@pytest.fixture(scope="module")
def fortnight_start(tmp_path_factory):
    """Two days of flare-fortnight on a thigh IMU, with its simulated diary."""
    path = tmp_path_factory.mktemp("flares") / "ff.sitload"
    return simulate_to_recording(path, scenario="flare-fortnight", sensor="thigh-imu", seed=2,
                                 days=2)


@pytest.fixture
def short_recording(tmp_path):
    return simulate_to_recording(tmp_path / "short.sitload", scenario="desk-day",
                                 sensor="thigh-imu", seed=1, hours=0.1, timezone="Europe/Berlin")


def test_simulated_sessions_store_their_diary(fortnight_start):
    with Recording(fortnight_start) as rec:
        stored = rec.diary()
        truth = rec.truth(rec.device().id)
    expected = simulated_diary("flare-fortnight", 2, truth)
    assert len(stored) == len(expected) > 10
    assert stored["t"].tolist() == pytest.approx([e.t for e in expected])
    assert stored["pain"].tolist() == [e.pain for e in expected]
    assert set(stored["source"]) == {"simulated"}


def test_recording_exposures_match_the_truth(fortnight_start):
    """Sitting detected from the thigh IMU gives the exposures the body truth gives."""
    found = analyze_recording(str(fortnight_start))
    result, truth = found.result, found.truth
    with Recording(fortnight_start) as rec:
        times = np.array([e.t for e in diary_entries(rec.diary_rows())])
    config = FlareConfig()
    measured = report_exposures(Timeline.from_analysis(result), times, config)
    sitting = (truth["posture"] == "sitting").to_numpy()
    true = report_exposures(Timeline.from_truth(truth, unbroken_bouts(truth["t"].to_numpy(),
                                                                      sitting)), times, config)
    for name in ("sitting_30_min", "sitting_60_min", "longest_bout_min"):
        err = np.abs(measured[name] - true[name])
        assert err.max() < 2.0, (name, err.tolist())
    # a thigh sensor takes some crossed-leg minutes for leaning (docs/metrics.md)
    assert np.median(np.abs(measured["left_load_min"] - true["left_load_min"])) < 1.0


def test_flares_json_with_too_few_reports(fortnight_start, capsys):
    assert main(["flares", str(fortnight_start), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "not_enough_data"
    assert doc["n_reports"] > 10 and doc["tolerance_min"] is None
    assert doc["tolerance_ci_min"] is None and doc["exposures"] == []
    assert doc["summary"].startswith("Not enough data yet")


def _diary(path):
    with Recording(path) as rec:
        return rec.diary()


def test_diary_add_stores_a_validated_entry(short_recording, capsys):
    rc = main(["diary", "add", str(short_recording), "--pain", "6", "--side", "left",
               "--location", "buttock", "--tingling", "--at", "2026-03-02T09:05",
               "--note", "after the drive"])
    assert rc == 0 and "stored diary entry 1" in capsys.readouterr().out
    row = _diary(short_recording).iloc[0]
    assert row["t"] == DEFAULT_START_UTC + 300.0      # 09:05 in Berlin is 08:05 UTC
    assert (row["pain"], row["side"], row["location"], row["tingling"], row["note"],
            row["source"]) == (6, "left", "buttock", 1, "after the drive", "cli")
    assert main(["diary", "add", str(short_recording), "--pain", "0", "--side", "none",
                 "--at", "2026-03-02T08:06:00Z"]) == 0
    assert _diary(short_recording)["t"].tolist() == [DEFAULT_START_UTC + 300.0,
                                                     DEFAULT_START_UTC + 360.0]


@pytest.mark.parametrize("args, message", [
    (["--pain", "14", "--side", "left"], "pain must be a whole number from 0 to 10, not 14"),
    (["--pain", "six", "--side", "left"], "--pain must be a whole number from 0 to 10, not 'six'"),
    (["--pain", "5", "--side", "up"], "side must be one of left, right, both, none, not 'up'"),
    (["--pain", "5", "--side", "left", "--location", "knee"], "location must be one of"),
    (["--pain", "5", "--side", "left", "--at", "yesterday"],
     "--at: 'yesterday' is not an ISO 8601 time"),
    (["--pain", "5", "--side", "left", "--at", "9999-12-31T10:00Z"],
     "time must be a UTC epoch from 1970 to before 2100"),
])
def test_malformed_diary_input_is_refused_and_nothing_stored(short_recording, capsys, args,
                                                             message):
    assert main(["diary", "add", str(short_recording), *args]) == 2   # a usage error
    err = capsys.readouterr().err
    assert err.startswith("sitload diary: error: ") and message in err and err.count("\n") == 1
    assert _diary(short_recording).empty


def test_diary_of_a_missing_recording(tmp_path, capsys):
    assert main(["diary", "add", str(tmp_path / "none.sitload"), "--pain", "3",
                 "--side", "left"]) == 1
    assert "no such recording" in capsys.readouterr().err
    assert not (tmp_path / "none.sitload").exists()


def test_diary_list(short_recording, capsys):
    main(["diary", "add", str(short_recording), "--pain", "4", "--side", "right",
          "--at", "2026-03-02T08:10:00Z"])
    capsys.readouterr()
    assert main(["diary", "list", str(short_recording), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["time"], r["pain"], r["side"], r["source"]) for r in rows] == [
        ("2026-03-02T08:10:00Z", 4, "right", "cli")]


def test_diary_list_shows_missing_values_blank_and_null(short_recording, capsys):
    main(["diary", "add", str(short_recording), "--pain", "3", "--side", "left", "--location",
          "hip", "--note", "after lunch", "--at", "2026-03-02T08:10:00Z"])
    main(["diary", "add", str(short_recording), "--pain", "4", "--side", "right",
          "--at", "2026-03-02T08:12:00Z"])
    capsys.readouterr()
    assert main(["diary", "list", str(short_recording)]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    assert out.splitlines()[1] == "2026-03-02T08:12:00Z  pain  4  right   [cli]"
    assert main(["diary", "list", str(short_recording), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert (rows[0]["location"], rows[0]["note"]) == ("hip", "after lunch")
    assert (rows[1]["location"], rows[1]["note"], rows[1]["tingling"]) == (None, None, None)


def test_diary_rows_give_the_entries_the_diary_table_gives(short_recording):
    """`flares` reads the diary as rows (no pandas), the report as a table: the same entries,
    missing values as None either way."""
    main(["diary", "add", str(short_recording), "--pain", "7", "--side", "both", "--location",
          "buttock", "--tingling", "--note", "long drive", "--at", "2026-03-02T08:10:00Z"])
    main(["diary", "add", str(short_recording), "--pain", "2", "--side", "none",
          "--at", "2026-03-02T08:05:00Z"])
    with Recording(short_recording) as rec:
        rows, table = rec.diary_rows(), rec.diary()
    entries = diary_entries(rows)
    assert entries == diary_entries(table.itertuples(index=False))
    assert [(e.pain, e.side, e.location, e.tingling, e.note) for e in entries] == [
        (2, "none", None, None, None), (7, "both", "buttock", True, "long drive")]


def test_flares_refuses_overlapping_recordings(short_recording, capsys):
    assert main(["flares", str(short_recording), str(short_recording)]) == 1
    assert "recordings overlap in time" in capsys.readouterr().err


def test_replay_with_too_little_history_keeps_the_default_break_threshold(fortnight_start,
                                                                         tmp_path, capsys):
    session = simulate_to_recording(tmp_path / "session.sitload", scenario="flare-day",
                                    sensor="thigh-imu", seed=1, hours=0.7)  # a break at ~36 min
    assert main(["replay", str(session), "--tolerance-from", str(fortnight_start),
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert "no personal sitting tolerance yet (Not enough data yet" in captured.err
    minutes = [int(p["message"].split("sitting for ")[1].split()[0])
               for p in json.loads(captured.out)["prompts"] if p["kind"] == "break"]
    assert minutes and min(minutes) == 30  # the default threshold, not a personal one
