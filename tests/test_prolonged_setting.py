"""One setting for prolonged sitting (docs/configuration.md): `[analysis] prolonged_s` decides
which bouts count as prolonged in `analyze --json`, in the report (page, CSV, Parquet, FHIR) and
in a replay's events and stretch prompts, alike, each count named by its threshold's minutes; the
defaults keep today's names (prolonged_bouts_30 / _60, bouts_30 / _60)."""

import json
import re
from collections import Counter

import pandas as pd
import pytest

from sitload.alerts.policy import Policy
from sitload.cli import main
from sitload.events import ProlongedSitting
from sitload.services.simulation import simulate_to_recording
from test_report_fhir import validate_bundle

DEFAULT_S, CUSTOM_S = (1800, 3600), (1200, 2400)
DAILY_COLUMNS = ["date", "sensor", "wear_s", "gap_s", "sitting_s", "bouts", "bout_s", "bouts_30",
                 "bouts_60", "breaks", "breaks_per_sitting_hour", "w50_s", "alpha", "gini",
                 "lean_left_s", "lean_right_s", "crossed_s", "left_dose_ns", "right_dose_ns",
                 "si_mean"]


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    """Four hours of desk-day: bouts of 21 and 46 min among shorter ones, both ended by a break."""
    return simulate_to_recording(tmp_path_factory.mktemp("prolonged") / "desk.sitload",
                                 scenario="desk-day", sensor="thigh-imu", seed=2, hours=4.0)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "sitload.toml"
    path.write_text("[analysis]\nprolonged_s = [1200, 2400]   # 20 and 40 min\n",
                    encoding="utf-8")
    return path


def run_json(capsys, *args) -> dict:
    assert main([*map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def prolonged_keys(doc: dict) -> list[str]:
    return [key for key in doc if key.startswith("prolonged_")]


def at_least(bouts: list[dict], thresholds_s) -> list[int]:
    return [sum(b["duration_s"] >= t for b in bouts) for t in thresholds_s]


def test_analyze_counts_and_names_the_configured_thresholds(rec, config, capsys):
    default = run_json(capsys, "analyze", rec)
    custom = run_json(capsys, "analyze", rec, "--config", config)
    assert custom["bouts"] == default["bouts"]            # the thresholds change no bout
    assert prolonged_keys(default) == ["prolonged_bouts_30", "prolonged_bouts_60"]
    assert prolonged_keys(custom) == ["prolonged_bouts_20", "prolonged_bouts_40"]
    assert list(custom).index("prolonged_bouts_20") == list(default).index("prolonged_bouts_30")
    assert [default[k] for k in prolonged_keys(default)] == at_least(default["bouts"], DEFAULT_S)
    assert [custom[k] for k in prolonged_keys(custom)] == at_least(custom["bouts"], CUSTOM_S) \
        == [2, 1]
    assert [custom["accumulation"][k] for k in ("bouts_20", "bouts_40")] == [2, 1]
    assert "bouts_30" not in custom["accumulation"]
    assert main(["analyze", str(rec), "--config", str(config)]) == 0
    assert "bouts; 2 of >= 20 min, 1 of >= 40 min; W50" in capsys.readouterr().out


def test_a_replay_has_its_events_and_stretch_prompts_at_the_configured_thresholds(
        rec, config, capsys, monkeypatch):
    """The events the replay's policy receives and the prompts it raises."""
    events = []
    on_event = Policy.on_event

    def recorded(self, event, now):
        events.append(event)
        return on_event(self, event, now)

    monkeypatch.setattr(Policy, "on_event", recorded)
    stretched = {}
    for name, thresholds, extra in (("default", DEFAULT_S, []),
                                    ("custom", CUSTOM_S, ["--config", config])):
        events.clear()
        out = run_json(capsys, "replay", rec, *extra)
        counts = at_least(out["bouts"], thresholds)
        assert {k: out[k] for k in prolonged_keys(out)} == \
            {f"prolonged_bouts_{t // 60}": n for t, n in zip(thresholds, counts)}
        prolonged = [e for e in events if isinstance(e, ProlongedSitting)]
        assert Counter(e.minutes for e in prolonged) == \
            {t / 60: n for t, n in zip(thresholds, counts) if n}
        assert all(e.t - e.start >= 60 * e.minutes for e in prolonged)
        stretched[name] = [p["detail"]["bout_minutes"] for p in out["prompts"]
                           if p["kind"] == "stretch"]
        assert all(minutes >= thresholds[0] // 60 for minutes in stretched[name])
    assert 21 in stretched["custom"] and 21 not in stretched["default"]


@pytest.fixture(scope="module")
def reports(rec, config, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    for name, extra in (("default", []), ("custom", ["--config", str(config)])):
        assert main(["report", str(rec), "-o", str(out / name), *extra]) == 0
    return out


def test_the_default_report_keeps_its_names(reports):
    assert list(pd.read_csv(reports / "default" / "daily.csv").columns) == DAILY_COLUMNS
    bundle = json.loads((reports / "default" / "observations.fhir.json").read_text())
    assert [c["code"] for c in bundle["entry"][0]["resource"]["concept"]] == [
        "sitting-time", "prolonged-sitting-bouts-30", "prolonged-sitting-bouts-60",
        "sitting-breaks"]


def test_the_report_counts_and_names_the_configured_thresholds(rec, config, reports, capsys):
    analysis = run_json(capsys, "analyze", rec, "--config", config)
    expected = {"bouts_20": analysis["prolonged_bouts_20"],
                "bouts_40": analysis["prolonged_bouts_40"]}
    out = reports / "custom"
    daily = pd.read_csv(out / "daily.csv")
    assert list(daily.columns) == [{"bouts_30": "bouts_20", "bouts_60": "bouts_40"}.get(c, c)
                                   for c in DAILY_COLUMNS]
    pd.testing.assert_frame_equal(daily, pd.read_parquet(out / "daily.parquet"),
                                  check_dtype=False)
    assert {k: daily[k].sum() for k in expected} == expected

    page = (out / "index.html").read_text(encoding="utf-8")
    values = dict(re.findall(r'id="([^"]+)"[^>]*? data-value="([^"]*)"', page))
    assert {k: float(values[f"thigh-imu-all-{k}"]) for k in expected} == expected
    assert not [key for key in values if key.endswith(("bouts_30", "bouts_60"))]
    assert "bouts ≥ 20 min" in page and "bouts ≥ 40 min" in page and "≥ 30 min" not in page
    assert (f"{expected['bouts_20']} sitting bouts lasted 20 min or more "
            f"({expected['bouts_40']} of them 40 min or more)") in page
    assert "minutes written on bouts of 20 min or more" in page
    assert "dashed line marks 20 min" in page

    bundle = json.loads((out / "observations.fhir.json").read_text())
    validate_bundle(bundle)
    codes = {"sitting-time": None, "prolonged-sitting-bouts-20": "bouts_20",
             "prolonged-sitting-bouts-40": "bouts_40", "sitting-breaks": None}
    assert [c["code"] for c in bundle["entry"][0]["resource"]["concept"]] == list(codes)
    totals = Counter()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation":
            totals[resource["code"]["coding"][0]["code"]] += resource["valueQuantity"]["value"]
    assert {name: totals[code] for code, name in codes.items() if name} == expected
