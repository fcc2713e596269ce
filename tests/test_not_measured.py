"""What a sensor cannot see is not measured — null, empty or a dash — never 0 (docs/metrics.md §9):
simulated recordings through `analyze --json`, the epoch CSV, `score`, `flares`, the report and
its exports, and the MQTT `state` message over a real Mosquitto."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sitload.alerts.schemas import VALIDATORS
from sitload.analytics.coverage import measured
from sitload.sensor_ingest.recording import append_diary
from sitload.cli import main
from sitload.services.analysis import analyze_recording
from sitload.config_file import load
from sitload.report import build_report
from sitload.services.simulation import simulate_to_recording
from test_report_fhir import validate_bundle

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("thigh-imu", "hip-imu", "pressure")
# Bout fields that only some sensors measure -> their metric in analytics.coverage
BOUT_METRICS = {"lean_deg_mean": "lean_deg", "crossed_s": "crossed", "crossed_side": "crossed",
                "fair_s": "fair", "si_mean": "seat_load", "cop_x_mean": "seat_load",
                "left_dose_ns": "seat_load", "right_dose_ns": "seat_load",
                "peak_left_kpa": "seat_load", "peak_right_kpa": "seat_load",
                "weight_shifts": "seat_load"}
FLARES_TOML = "[flares]\nepisode_min = 0.0\npermutations = 199\nbootstrap = 199\n"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Three hours of desk-day per sensor; the hip's has a pain diary that follows its sitting
    (pain 8 after 20 of the last 30 min sitting, else 2), every 5 min."""
    tmp = tmp_path_factory.mktemp("not-measured")
    paths = {kind: simulate_to_recording(tmp / f"{kind}.sitload", scenario="desk-day",
                                         sensor=kind, seed=1, hours=3)
             for kind in KINDS}
    result = analyze_recording(str(paths["hip-imu"])).result
    t = result.epochs["t"].to_numpy()
    sitting = (result.epochs["posture"] == "sitting").to_numpy()
    for minute in range(35, 180, 5):
        at = t[0] + 60 * minute
        sat = sitting[(t >= at - 1800) & (t < at)].sum()
        append_diary(paths["hip-imu"], at, 8 if sat >= 1200 else 2, side="left")
    return paths


def cli_json(capsys, *args) -> dict:
    assert main([*map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("kind", KINDS)
def test_analyze_json_gives_null_for_what_the_sensor_does_not_measure(recordings, kind, capsys):
    bouts = cli_json(capsys, "analyze", recordings[kind])["bouts"]
    assert len(bouts) >= 3
    sees = measured(kind)
    for bout in bouts:
        assert bout["lean_side"] in ("left", "right", "none")      # every sensor gives one
        for field, metric in BOUT_METRICS.items():
            assert (bout[field] is None) == (metric not in sees), (field, bout[field])
    if kind == "thigh-imu":   # it sees its own leg on top only: all its crossing is FAIR time
        assert all(b["crossed_s"] == b["fair_s"] for b in bouts)
        assert {b["crossed_side"] for b in bouts} <= {"right", "none"}


def test_the_epoch_csv_leaves_the_hips_crossed_legs_empty(recordings, tmp_path):
    for kind in ("hip-imu", "thigh-imu"):
        assert main(["analyze", str(recordings[kind]), "--epochs", str(tmp_path / kind)]) == 0
    hip, thigh = (pd.read_csv(tmp_path / kind) for kind in ("hip-imu", "thigh-imu"))
    assert hip["crossed"].isna().all() and hip["lean_side"].notna().all()
    assert thigh["crossed"].notna().all()


def test_score_has_no_crossed_side_agreement_for_a_hip(recordings, capsys):
    hip = cli_json(capsys, "score", recordings["hip-imu"])
    assert hip["crossed_bouts"] >= 1 and hip["crossed_side_agreement"] is None
    assert hip["lean_side_agreement"] is not None


def test_the_flares_table_says_not_measured_for_a_hips_crossed_legs(recordings, tmp_path,
                                                                     capsys):
    config = tmp_path / "flares.toml"
    config.write_text(FLARES_TOML)
    doc = cli_json(capsys, "flares", recordings["hip-imu"], "--config", config)
    assert doc["status"] in ("ok", "no_link") and doc["n_flares"] >= 5
    effects = {e["name"]: e for e in doc["exposures"]}
    crossed = effects.pop("crossed_min")
    assert all(crossed[k] is None for k in ("flare_mean", "other_mean", "diff", "diff_ci", "d",
                                            "p_raw", "p")) and crossed["linked"] is False
    assert all(e["flare_mean"] is not None for e in effects.values())
    assert main(["flares", str(recordings["hip-imu"]), "--config", str(config)]) == 0
    rows = {line[:58].strip(): line[58:].split() for line in
            capsys.readouterr().out.splitlines()[3:]}
    assert rows["legs crossed in the last 60 min"] == ["-", "-", "not", "measured", "-"]
    assert rows["breaks taken in the last 60 min"][0] != "-"


def test_the_hips_state_message_has_null_crossed_and_matches_the_schema(recordings, mosquitto,
                                                                         tmp_path):
    """Replayed to a real broker: the retained state says crossed legs are not measured."""
    rec = tmp_path / "hip.sitload"
    rec.write_bytes(recordings["hip-imu"].read_bytes())
    device = "hip-not-measured"
    assert main(["replay", str(rec), "--broker", mosquitto.url, "--device-id", device]) == 0
    out = subprocess.run(["mosquitto_sub", "-h", mosquitto.host, "-p", str(mosquitto.port),
                          "-t", f"sitload/v1/{device}/state", "-C", "1", "-W", "3"],
                         capture_output=True, text=True, timeout=10).stdout
    state = json.loads(out)
    VALIDATORS["state"].validate(state)
    assert state["crossed"] is None and state["asymmetry_si"] is None
    assert state["lean_side"] in ("left", "right", "none")
    assert not VALIDATORS["state"].is_valid({**state, "crossed": "unknown"})


@pytest.fixture(scope="module")
def hip_report(recordings, tmp_path_factory):
    out = tmp_path_factory.mktemp("hip-report")
    (out / "flares.toml").write_text(FLARES_TOML)
    files = build_report([recordings["hip-imu"]], out, settings=load(out / "flares.toml"))
    return files, files.index.read_text()


def test_the_hip_report_page_says_not_measured(hip_report):
    _, page = hip_report
    cell = re.search(r'<td [^>]*id="hip-imu-all-crossed_s"[^>]*>([^<]*)</td>', page)
    assert cell.group(1) == "not measured" and 'data-value=""' in cell.group(0)
    assert "A hip sensor cannot see crossed legs" in page
    assert "legs were crossed for" not in page
    flares = re.search(r'<table id="flares-hip-imu-exposures">.*?</table>', page).group(0)
    row = re.search(r"<tr><td>legs crossed in the last 60 min</td>.*?</tr>", flares).group(0)
    assert re.findall(r">([^<>]+)</td>", row)[1:] == ["–", "–", "not measured", "–"]


def test_the_hip_report_exports_leave_crossed_legs_empty(hip_report):
    files, _ = hip_report
    for name in ("bouts", "daily", "minutes"):
        for table in (pd.read_csv(files.exports[f"{name}.csv"]),
                      pd.read_parquet(files.exports[f"{name}.parquet"])):
            assert len(table) and table["crossed_s"].isna().all(), name
            assert table["lean_left_s" if name != "bouts" else "lean_side"].notna().all()
    bouts = pd.read_csv(files.exports["bouts.csv"])
    assert bouts["crossed_side"].isna().all() and bouts["lean_deg_mean"].notna().all()
    bundle = json.loads(files.exports["observations.fhir.json"].read_text())
    validate_bundle(bundle)
    values = [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]
              if e["resource"]["resourceType"] == "Observation"]
    assert len(values) == 4 and all(np.isfinite(values))   # every sensor measures these


def test_the_thigh_report_states_what_it_cannot_see(recordings, tmp_path):
    files = build_report([recordings["thigh-imu"]], tmp_path / "thigh")
    page = files.index.read_text()
    assert "legs were crossed for" in page
    assert "A thigh sensor sees only its own leg crossed on top" in page
    assert pd.read_csv(files.exports["daily.csv"])["crossed_s"].notna().all()


def test_the_docs_table_is_the_coverage_table():
    """docs/metrics.md §9 says of each sensor what analytics.coverage says."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    section = text.split("## 9. Which sensor measures which metric", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ")]
    head, body = rows[0], rows[1:]
    assert head[3:] == ["thigh IMU", "hip IMU", "pressure mat"]
    checked = set()
    for row in body:
        metric = row[2].strip("`")
        if metric == "—":
            continue
        checked.add(metric)
        for kind, cell in zip(KINDS, row[3:]):
            assert cell.startswith("not measured") == (metric not in measured(kind)), (row, kind)
    assert checked == set().union(*map(measured, KINDS))
