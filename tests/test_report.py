"""`sitload report` of a simulated week, opened in a real browser (headless Chromium).

The recording is 7 days x 8 h of a thigh IMU in Europe/Berlin with break prompts, answers and pain
reports added as a live session would have stored them. Every number checked on the page is
worked out here independently, from `sitload analyze --json --epochs` of the same recording.
"""

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import fields
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from matplotlib import image

from sitload.alerts.policy import PolicyConfig
from sitload.alerts.policy import prompt_id
from sitload.events import Bout
from sitload.sensor_ingest.replay import open_recording
from sitload.report import plots
from sitload.services.simulation import simulate_to_recording
from browser import QUIET_FLAGS, require_chromium
from test_report_fhir import validate_bundle

SITLOAD = [sys.executable, "-m", "sitload.cli"]
ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Europe/Berlin")
WINDOW_S = 60 * PolicyConfig().adherence_window_min
EXPORTS = ("bouts.csv", "bouts.parquet", "minutes.csv", "minutes.parquet", "daily.csv",
           "daily.parquet", "observations.fhir.json")

def run(*args, cwd: Path = ROOT, **env: str):
    """`sitload ARGS` without SOURCE_DATE_EPOCH (so no build time), plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    proc = subprocess.run([*SITLOAD, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**clean, **env})
    assert proc.returncode == 0, f"sitload {' '.join(map(str, args))}: {proc.stderr}"
    return proc


def local_date(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).date().isoformat()


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """The recording, its `analyze` output, the prompts/answers/diary added, and the report."""
    tmp = tmp_path_factory.mktemp("report")
    rec = simulate_to_recording(tmp / "week.sitload", scenario="desk-day", sensor="thigh-imu",
                                seed=2, days=7, timezone="Europe/Berlin")
    analysis = json.loads(run("analyze", rec, "--json", "--epochs", tmp / "epochs.csv").stdout)
    epochs = pd.read_csv(tmp / "epochs.csv")
    epochs["t"] = (pd.to_datetime(epochs.pop("time"), utc=True)
                   - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    # a break prompt 30 min into every long bout; every other one acknowledged, every third
    # answered 'done' (as a live session stores them: docs/recording-format.md)
    prompts, acks = [], []
    for i, bout in enumerate(b for b in analysis["bouts"] if b["duration_s"] >= 1800):
        t = datetime.fromisoformat(bout["start"]).timestamp() + 1800
        pid = prompt_id("week", "break", t)
        prompts.append((pid, t, "break", json.dumps({"message": "Time for a short walk"})))
        if i % 2 == 0:
            acks.append((pid, t + 120, "ack", ""))
        if i % 3 == 0:
            acks.append((pid, t + 300, "done", ""))
    # pain reports 4 times a day, 135 min apart: 8 after >= 40 min of sitting in the last hour,
    # else 2 or 3
    sitting_t = epochs.loc[epochs["posture"] == "sitting", "t"].to_numpy()
    diary = []
    for day in range(7):
        for i, minute in enumerate((60, 195, 330, 465)):
            t = datetime(2026, 3, 2 + day, 9, tzinfo=TZ).timestamp() + 60 * minute
            sat = ((sitting_t >= t - 3600) & (sitting_t < t)).sum()
            pain = 8 if sat >= 2400 else 2 + i % 2
            diary.append((t, pain, "buttock", "right", day % 2,
                          "after the long meeting" if pain == 8 else None, "test"))
    with sqlite3.connect(rec) as db:
        db.executemany("INSERT INTO prompts VALUES (?, ?, ?, ?)", prompts)
        db.executemany("INSERT INTO acks VALUES (?, ?, ?, ?)", acks)
        db.executemany("INSERT INTO diary (t, pain, location, side, tingling, note, source) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", diary)
    out = tmp / "report"
    proc = run("report", rec, "-o", out, "--workers", "3")
    return {"rec": rec, "analysis": analysis, "epochs": epochs, "prompts": prompts,
            "acks": acks, "diary": diary, "out": out, "stdout": proc.stdout}


def test_report_writes_the_page_and_every_export(week):
    names = sorted(p.name for p in week["out"].iterdir())
    assert names == sorted(("index.html", *EXPORTS))
    assert f"wrote {week['out'] / 'index.html'}" in week["stdout"]


def test_the_same_recordings_give_the_same_bytes(week):
    """A second run (another working folder, a relative path, another hash seed and local zone,
    seconds later, its figures drawn one after another rather than on 3 processes) writes
    byte-identical files; no file holds the day it was made on."""
    rec, first = week["rec"], week["out"]
    second = first.with_name("report-again")
    run("report", rec.name, "-o", second, "--workers", "1", cwd=rec.parent,
        PYTHONHASHSEED="12345", TZ="America/Los_Angeles")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    today = date.today().isoformat().encode()
    if today.decode() not in pd.read_csv(first / "daily.csv")["date"].values:
        assert not [name for name in names if today in (first / name).read_bytes()]
    assert b"from week.sitload; data 2026-03-02 to 2026-03-08 (7 days with data)." in \
        (first / "index.html").read_bytes()


def test_the_battery_line_breaks_over_the_nights(week, monkeypatch):
    """The data handed to the battery plot: one stretch per day (the level is stored every 12 min
    while worn), none drawn across a night."""
    with open_recording(week["rec"]) as rec:
        levels = rec.battery(rec.devices[0].id)
    figures = []
    monkeypatch.setattr(plots, "png", figures.append)
    plots.battery([("week thigh", levels)], TZ)
    line, = figures[0].axes[0].get_lines()
    times, percent = pd.to_datetime(line.get_xdata()), np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(percent).sum() == 6
    stretches = np.split(np.arange(percent.size), np.flatnonzero(np.isnan(percent)))
    days = [{t.date().isoformat() for t in times[s[~np.isnan(percent[s])]]} for s in stretches]
    assert days == [{f"2026-03-{d:02d}"} for d in range(2, 9)]
    assert list(percent[~np.isnan(percent)]) == list(levels["percent"].astype(float))
    assert (np.diff(levels["host_time"]) > plots.BATTERY_GAP_S).sum() == 6


# ---- the page in a real browser ------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    return require_chromium()


def browse(exe: str, tmp: Path, url: str, *flags: str, timeout: float = 120) -> str:
    proc = subprocess.run([exe, *QUIET_FLAGS, f"--user-data-dir={tmp / 'profile'}", *flags, url],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def page_requests(net_log: Path) -> list[str]:
    """URLs the page asked for (Chromium's own background requests have no page initiator)."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    jobs = [e.get("params", {}) for e in log["events"] if e["type"] == start_job]
    return [p["url"] for p in jobs if "url" in p and p.get("initiator") != "not an origin"]


class Elements(HTMLParser):
    """Collects every element's attributes."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(html_text: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(html_text)
    return parser.found


@pytest.fixture(scope="module")
def rendered(week, chromium, tmp_path_factory):
    """The DOM Chromium built from the page, with the network log of loading it."""
    tmp = tmp_path_factory.mktemp("chromium")
    dom = browse(chromium, tmp, week["out"].joinpath("index.html").as_uri(), "--dump-dom",
                 f"--log-net-log={tmp / 'net.json'}")
    return {"dom": dom, "requests": page_requests(tmp / "net.json"),
            "values": {a["id"]: a["data-value"] for _, a in elements(dom)
                       if "id" in a and "data-value" in a}}


def test_the_screenshot_is_not_blank(week, chromium, tmp_path):
    shot = tmp_path / "page.png"
    browse(chromium, tmp_path, week["out"].joinpath("index.html").as_uri(),
           f"--screenshot={shot}", "--window-size=1400,3000")
    pixels = image.imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (3000, 1400)
    assert pixels.std() > 0.1
    assert (pixels.min(axis=2) < 0.9).mean() > 0.05      # > 5 % of the page is not white
    colours = {tuple(c) for c in (pixels[::7, ::7] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 50                              # plots, not just text


def test_per_day_numbers_equal_analyze(week, rendered):
    epochs, analysis, values = week["epochs"], week["analysis"], rendered["values"]
    sitting = epochs[epochs["posture"] == "sitting"]
    per_day = sitting["t"].map(local_date).value_counts()
    worn = epochs[epochs["posture"] != "gap"]["t"].map(local_date).value_counts()
    assert sorted(per_day.index) == [f"2026-03-{d:02d}" for d in range(2, 9)]
    long_bouts = pd.Series([local_date(datetime.fromisoformat(b["start"]).timestamp())
                            for b in analysis["bouts"] if b["duration_s"] >= 1800])
    for day, seconds in per_day.items():
        assert float(values[f"thigh-imu-{day}-sitting_s"]) == seconds
        assert float(values[f"thigh-imu-{day}-wear_s"]) == worn[day]
        assert float(values[f"thigh-imu-{day}-bouts_30"]) == (long_bouts == day).sum()
    assert sum(float(values[f"thigh-imu-{d}-bouts"]) for d in per_day.index) == \
        len(analysis["bouts"])


def test_period_numbers_equal_analyze(week, rendered):
    analysis, values = week["analysis"], rendered["values"]
    assert float(values["thigh-imu-all-sitting_s"]) == analysis["sitting_s"]
    assert float(values["thigh-imu-all-bouts"]) == len(analysis["bouts"])
    assert float(values["thigh-imu-all-bouts_30"]) == analysis["prolonged_bouts_30"]
    assert float(values["thigh-imu-all-bouts_60"]) == analysis["prolonged_bouts_60"]
    assert float(values["thigh-imu-all-breaks"]) == analysis["breaks"]
    assert float(values["thigh-imu-all-breaks_per_sitting_hour"]) == \
        analysis["breaks_per_sitting_hour"]
    assert float(values["thigh-imu-all-w50_s"]) == analysis["w50_s"]


def test_prompt_adherence_equals_the_recorded_answers_and_the_data(week, rendered):
    epochs, values = week["epochs"], rendered["values"]
    upright = epochs[epochs["posture"].isin(["standing", "moving"])]["t"].to_numpy()
    done = {pid for pid, t, action, _ in week["acks"] if action == "done"}
    acted = sum(pid in done or bool(((upright > t) & (upright <= t + WINDOW_S)).any())
                for pid, t, *_ in week["prompts"])
    assert 0 < acted < len(week["prompts"])       # the test data has both outcomes
    assert int(values["prompts-all-sent"]) == int(values["prompts-break-sent"]) == \
        len(week["prompts"])
    assert int(values["prompts-all-acknowledged"]) == len({a[0] for a in week["acks"]})
    assert int(values["prompts-all-acted"]) == acted


def test_pain_reports_and_the_flare_analysis_are_shown(week, rendered):
    pains = [int(a["data-value"]) for _, a in elements(rendered["dom"])
             if a.get("data-metric") == "pain"]
    assert pains == [pain for _, pain, *_ in week["diary"]]
    summary = next(a for _, a in elements(rendered["dom"])
                   if a.get("id") == "flares-thigh-imu-summary")
    # every report has a full hour of data before it and they are > 2 h apart: all are used;
    # the flares are the pain-8 reports (the median is 2 or 3, so the threshold is 4 or 5)
    assert int(summary["data-reports"]) == int(summary["data-used"]) == 28
    assert int(summary["data-flares"]) == sum(pain == 8 for _, pain, *_ in week["diary"])
    # pain follows the sitting of the last hour by construction: the link and a tolerance show
    assert summary["data-status"] == "ok"
    assert float(rendered["values"]["flares-thigh-imu-tolerance"]) > 0


def test_nothing_is_fetched_from_the_network(week, rendered):
    assert rendered["requests"] == []
    for tag, attrs in elements(week["out"].joinpath("index.html").read_text()):
        if "src" in attrs:
            assert attrs["src"].startswith("data:image/png;base64,"), (tag, attrs["src"][:80])
        if "href" in attrs:                         # in-page anchors and the exports beside it
            href = attrs["href"]
            assert href.startswith("#") or (href in EXPORTS and tag == "a"), (tag, href)
        assert tag not in ("script", "link", "iframe", "object", "embed")
    assert "url(" not in week["out"].joinpath("index.html").read_text()


def test_the_network_check_sees_a_page_that_fetches(chromium, tmp_path):
    """The net-log check above can fail: a page with remote resources is caught."""
    page = tmp_path / "fetches.html"
    page.write_text('<html><head><link rel="stylesheet" href="https://example.invalid/a.css">'
                    '</head><body><img src="http://127.0.0.1:9/b.png"></body></html>')
    browse(chromium, tmp_path, page.as_uri(), "--dump-dom", f"--log-net-log={tmp_path / 'n.json'}")
    assert sorted(page_requests(tmp_path / "n.json")) == ["http://127.0.0.1:9/b.png",
                                                           "https://example.invalid/a.css"]


# ---- exports -----------------------------------------------------------------------------

def read_bouts(frame: pd.DataFrame) -> list[Bout]:
    """Bouts from an export (NaN -> None; integer fields back to int)."""
    ints = {"sit_to_stand", "weight_shifts"}
    out = []
    for row in frame.to_dict("records"):
        values = {}
        for f in fields(Bout):
            v = row[f.name]
            v = None if v is None or (isinstance(v, float) and np.isnan(v)) else v
            values[f.name] = int(v) if f.name in ints and v is not None else v
        out.append(Bout(**values))
    return out


@pytest.mark.parametrize("name", ["bouts.csv", "bouts.parquet"])
def test_bouts_round_trip(week, name):
    path = week["out"] / name
    frame = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
    bouts = read_bouts(frame)
    assert [b.to_json() for b in bouts] == week["analysis"]["bouts"]
    assert list(frame["date"]) == [local_date(b.start) for b in bouts]


@pytest.mark.parametrize("name", ["daily", "minutes", "bouts"])
def test_csv_and_parquet_hold_the_same_table(week, name):
    csv = pd.read_csv(week["out"] / f"{name}.csv")
    parquet = pd.read_parquet(week["out"] / f"{name}.parquet")
    if "time_local" in parquet:
        assert str(parquet["time_local"].dt.tz) == "Europe/Berlin"
        parquet["time_local"] = parquet["time_local"].map(lambda t: t.isoformat(sep=" "))
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)


def test_daily_and_minute_exports_add_up_to_analyze(week):
    daily = pd.read_csv(week["out"] / "daily.csv")
    minutes = pd.read_csv(week["out"] / "minutes.csv")
    per_day = week["epochs"][week["epochs"]["posture"] == "sitting"]["t"].map(local_date)
    expected = per_day.value_counts().sort_index()
    assert list(daily["sitting_s"]) == list(expected.astype(float))
    assert minutes.groupby("date")["sitting_s"].sum().to_dict() == \
        {d: float(n) for d, n in expected.items()}
    assert daily["bouts"].sum() == len(week["analysis"]["bouts"])
    assert len(minutes) == 7 * 8 * 60


def test_fhir_export_validates_and_equals_the_daily_table(week):
    bundle = json.loads((week["out"] / "observations.fhir.json").read_text())
    validate_bundle(bundle)
    daily = pd.read_csv(week["out"] / "daily.csv").set_index("date")
    observations = [e["resource"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == 7 * 4
    for obs in observations:
        day = obs["effectivePeriod"]["start"][:10]
        code = obs["code"]["coding"][0]["code"]
        value = obs["valueQuantity"]["value"]
        expected = {"sitting-time": round(daily.loc[day, "sitting_s"] / 60, 2),
                    "prolonged-sitting-bouts-30": daily.loc[day, "bouts_30"],
                    "prolonged-sitting-bouts-60": daily.loc[day, "bouts_60"],
                    "sitting-breaks": daily.loc[day, "breaks"]}[code]
        assert value == expected
