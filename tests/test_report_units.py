"""The report's parts on small hand-made data: local days, adherence, a mat report, CLI errors."""

import json
import os
import signal
import subprocess
import time
from dataclasses import replace
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from sitload.analytics import AnalysisResult, accumulation_metrics
from sitload.analytics.records import EpochColumns
from sitload.events import Bout
from sitload.analytics.daily import daily_metrics, local_dates, minute_series, period_metrics
from sitload.alerts.policy import Prompt
from sitload.errors import ConfigError
from sitload.sensor_ingest.stream_decoder import DecodeStats
from sitload.vocab import PromptKind
from sitload.report import build_report
from sitload.report.model import DeviceData, RecordingData, prompt_records
from sitload.report.exports import fhir_bundle
from sitload.report.figures import Figures
from sitload.report.page import render_page
from sitload.report.plots import BATTERY_GAP_S, broken_at_gaps
from conftest import children
from test_report_fhir import MONDAY, make_model

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")
MIDNIGHT = 1772406000.0          # 2026-03-02 00:00 in Berlin


def bout(start: float, minutes: float, ended_by: str = "break") -> Bout:
    return Bout(start, start + 60 * minutes, 60 * minutes, 60 * minutes, 1, "none", 0.0, 0.0,
                "none", 0.0, None, None, None, None, None, None, None, ended_by)


def analysis(t0: float, labels: list[tuple[str, int]], bouts: list[Bout]) -> AnalysisResult:
    """Per-second epochs from (posture, seconds) runs starting at t0; lean left while sitting."""
    posture = np.concatenate([[p] * n for p, n in labels]).astype(object)
    t = t0 + np.arange(posture.size, dtype=float)
    lean = np.where(posture == "sitting", "left", "none").astype(object)
    epochs = pd.DataFrame({"t": t, "posture": posture, "lean_side": lean,
                           "crossed": np.full(t.size, "none", dtype=object)})
    return AnalysisResult("thigh-imu", epochs, bouts, float((posture == "sitting").sum()),
                          accumulation_metrics([b.duration_s for b in bouts]), [],
                          sum(b.ended_by == "break" for b in bouts), 0)


def test_local_dates_follow_the_time_zone_and_dst():
    mar29 = MIDNIGHT + 27 * 86400                  # 00:00 CET; 29 March has 23 hours
    mar30 = mar29 + 23 * 3600                       # 00:00 CEST
    t = np.array([MIDNIGHT - 1, MIDNIGHT, mar29 - 1, mar29, mar30 - 1, mar30])
    assert list(local_dates(t, BERLIN)) == ["2026-03-01", "2026-03-02", "2026-03-28",
                                            "2026-03-29", "2026-03-29", "2026-03-30"]
    assert list(local_dates(t, ZoneInfo("UTC"))) == ["2026-03-01", "2026-03-01", "2026-03-28",
                                                     "2026-03-28", "2026-03-29", "2026-03-29"]


def test_a_bout_over_midnight_counts_on_the_day_it_started():
    """45 min of sitting from 23:40: 20 min fall on the first day, 25 on the next, but the bout
    (and its prolonged-bout count) belongs to the first day."""
    start = MIDNIGHT + 86400 - 20 * 60
    r = analysis(start - 600, [("standing", 600), ("sitting", 45 * 60), ("moving", 300)],
                 [bout(start, 45)])
    days = daily_metrics([r], BERLIN)
    assert [(d.date, d.sitting_s, d.bouts, d.prolonged[0].count, d.breaks) for d in days] == [
        ("2026-03-02", 1200.0, 1, 1, 1), ("2026-03-03", 1500.0, 0, 0, 0)]
    assert days[0].lean_left_s == 1200.0 and days[1].wear_s == 1500.0 + 300
    total = period_metrics([r], days)
    assert (total.sitting_s, total.bouts, total.w50_s) == (2700.0, 1, 2700.0)


def test_gap_time_counts_within_a_day_not_overnight():
    r = analysis(MIDNIGHT + 9 * 3600, [("sitting", 600), ("gap", 120), ("standing", 600),
                                        ("gap", 20 * 3600), ("standing", 60)],
                 [bout(MIDNIGHT + 9 * 3600, 10)])
    days = daily_metrics([r], BERLIN)
    assert [(d.date, d.gap_s) for d in days] == [("2026-03-02", 120.0), ("2026-03-03", 0.0)]
    assert period_metrics([r], days).gap_s == 120.0


def test_minute_series_counts_seconds_per_minute():
    r = analysis(MIDNIGHT + 8 * 3600 + 30, [("sitting", 60), ("standing", 30), ("gap", 120)],
                 [bout(MIDNIGHT + 8 * 3600 + 30, 1)])
    m = minute_series([r], BERLIN)
    assert list(m["sitting_s"]) == [30.0, 30.0] and list(m["standing_s"]) == [0.0, 30.0]
    assert list(m["bout_s"]) == [30.0, 30.0] and list(m["posture"]) == ["sitting", "sitting"]
    assert list(m["lean_left_s"]) == [30.0, 30.0]
    assert str(m["time_local"].iloc[0]) == "2026-03-02 08:00:00+01:00"   # whole-gap minutes go


def sitting_left_s(result: AnalysisResult) -> float:
    """Sitting seconds leaning left of an analysis (codes)."""
    cols = result.seconds_with_data
    return float(np.sum((cols["posture"] == 1) & (cols["lean_side"] == 1)))


def test_summaries_of_the_engines_columns_count_the_seconds_without_data():
    """The engine keeps only the seconds with data (EpochColumns); the daily and minute summaries
    count the rest as the per-second table's GAP rows: per day between its first and last second
    with data, per minute wherever an analysis spans it, and in the bouts' time. Two analyses
    pooled, over local midnight, checked against counts over the pandas table."""
    rng = np.random.default_rng(5)
    results, tables = [], []
    for start, hours in ((MIDNIGHT - 3 * 3600 + 17, 2), (MIDNIGHT + 2 * 3600, 3)):
        sec = (start + np.arange(hours * 3600)).astype(np.int64)
        keep = (rng.random(sec.size) > 0.3) & ((sec < start + 1800) | (sec >= start + 2700))
        cols = {"sec": sec[keep], "posture": rng.choice([1, 2, 3, 6], keep.sum()).astype(np.int8),
                "lean_side": rng.integers(0, 3, keep.sum()).astype(np.int8),
                "crossed": rng.integers(0, 3, keep.sum()).astype(np.int8)}
        bouts = [bout(start + 600.5, 40), bout(start + 3 * 3600, 20)]
        results.append(AnalysisResult("thigh-imu", EpochColumns(cols), bouts, 0.0,
                                      accumulation_metrics([b.duration_s for b in bouts]), [], 2, 0))
        tables.append(results[-1].epochs)
    table = pd.concat(tables, ignore_index=True)
    gap, sitting = table["posture"] == "gap", table["posture"] == "sitting"
    date = local_dates(table["t"].to_numpy(), BERLIN)
    days = daily_metrics(results, BERLIN)
    assert [d.date for d in days] == ["2026-03-01", "2026-03-02"]
    for day in days:
        worn = np.flatnonzero(~gap[date == day.date].to_numpy())
        assert day.wear_s == len(worn) and day.sitting_s == sitting[date == day.date].sum()
        assert day.gap_s == gap[date == day.date].to_numpy()[worn[0]:worn[-1] + 1].sum() > 1800
        assert day.lean_left_s == (sitting & (table["lean_side"] == "left"))[date == day.date].sum()
    assert period_metrics(results, days).gap_s == sum(d.gap_s for d in days)
    m = minute_series(results, BERLIN)
    minute = np.floor(table["t"] / 60) * 60
    by_minute = pd.DataFrame({"t": minute, "gap": gap, "sitting": sitting}).groupby("t").sum()
    by_minute = by_minute[by_minute["gap"] < 60]
    assert list(m["t"]) == list(by_minute.index) and list(m["gap_s"]) == list(by_minute["gap"])
    assert list(m["sitting_s"]) == list(by_minute["sitting"])
    inside = np.zeros(len(table), dtype=bool)
    for b in (b for r in results for b in r.bouts):
        inside |= (table["t"] >= b.start).to_numpy() & (table["t"] < b.end).to_numpy()
    assert list(m["bout_s"]) == list(pd.Series(inside).groupby(minute.to_numpy()).sum()[
        by_minute.index].astype(float))
    lean_less = AnalysisResult("thigh-imu", EpochColumns(
        {k: v for k, v in results[1].seconds_with_data.items() if k != "lean_side"}),
        results[1].bouts, 0.0, results[1].metrics, [], 2, 0)
    pooled = daily_metrics([results[0], lean_less], BERLIN)    # a column one lacks reads NONE
    assert [d.lean_left_s for d in pooled] == [days[0].lean_left_s,
                                               days[1].lean_left_s - sitting_left_s(results[1])]


def test_adherence_from_answers_and_data():
    t0 = MIDNIGHT + 9 * 3600
    r = analysis(t0, [("sitting", 1800), ("sitting", 900), ("standing", 60), ("sitting", 3600)],
                 [bout(t0, 45), bout(t0 + 2760, 60)])
    prompts = [Prompt(pid, PromptKind(kind), t, t + 900.0, "up") for pid, t, kind in (
        ("a", t0 + 1800, "break"), ("b", t0 + 3000, "break"), ("c", t0 + 3000, "stretch"),
        ("d", t0 + 3000, "stretch"))]
    acks = pd.DataFrame({"prompt_id": ["b", "d", "c"], "t": [t0 + 3060, t0 + 3100, t0 + 4000],
                         "action": ["ack", "done", "done"]})
    device = DeviceData("r", "a", "dev", r, DecodeStats(), [], pd.DataFrame(), pd.DataFrame())
    rec = RecordingData("r", "UTC", [device], prompts, acks, pd.DataFrame())
    got = {p.id: (p.acknowledged, p.acted) for p in prompt_records(rec)}
    # a: stood up 15 min later (window 10 min) -> no; b: acknowledged, still sitting -> no;
    # c: 'done' too late -> no; d: 'done' within the window -> yes
    assert got == {"a": (False, False), "b": (True, False), "c": (True, False),
                   "d": (True, True)}
    rec.prompts[0] = replace(rec.prompts[0], created=t0 + 2200)   # the stand-up 500 s after it
    assert prompt_records(rec)[0].acted


def test_a_mat_report_shows_the_load_doses_and_the_heat_map_and_reports_progress(tmp_path):
    from sitload.services.simulation import simulate_to_recording

    rec = simulate_to_recording(tmp_path / "mat.sitload", scenario="desk-day", sensor="pressure",
                                seed=1, hours=1)
    seen = []
    files = build_report([rec], tmp_path / "out", timezone="America/New_York",
                         progress=seen.append)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0     # the progress bar
    page = files.index.read_text()
    assert "centre of pressure" in page and "left buttock carried" in page
    daily = pd.read_csv(files.exports["daily.csv"])
    assert daily["left_dose_ns"].iloc[0] > 0 and daily["right_dose_ns"].iloc[0] > 0
    assert list(daily["date"]) == ["2026-03-02"]     # 08:00 UTC is 03:00 in New York
    assert 'id="pressure-all-left_dose_ns"' in page


def cli(*args):
    return subprocess.run([sys.executable, "-m", "sitload.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("args, message", [
    (["missing.sitload"], "missing.sitload: no such recording"),
    (["{rec}"], "x.sitload: not a sitload recording"),
])
def test_user_errors_are_one_line(tmp_path, args, message):
    rec = tmp_path / "x.sitload"
    rec.write_bytes(b"not a recording")
    proc = cli("report", *[a.format(rec=rec) for a in args], "-o", tmp_path / "out")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("sitload: error:") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_an_unknown_time_zone_is_a_usage_error_like_in_every_command(tmp_path):
    proc = cli("report", tmp_path / "x.sitload", "--tz", "Mars/Olympus", "-o", tmp_path / "out")
    assert proc.returncode == 2 and "unknown time zone 'Mars/Olympus'" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_report_needs_a_recording_and_a_folder():
    assert cli("report").returncode == 2
    assert cli("report", "a.sitload").returncode == 2


def test_a_line_breaks_only_where_samples_are_more_than_the_gap_apart():
    t = np.array([0.0, 720.0, 720.0 + BATTERY_GAP_S, 30000.0, 90000.0])
    bt, by = broken_at_gaps(t, np.array([100, 99, 98, 97, 60]))
    # 720 -> 720 + gap is not more than the gap; 720 + gap -> 30000 and 30000 -> 90000 are
    assert list(bt) == [0.0, 720.0, 720.0 + BATTERY_GAP_S, 720.0 + BATTERY_GAP_S, 30000.0,
                        30000.0, 90000.0]
    assert np.array_equal(by, [100, 99, 98, np.nan, 97, np.nan, 60], equal_nan=True)
    assert [a.size for a in broken_at_gaps(np.array([5.0]), np.array([1]))] == [1, 1]
    assert [a.size for a in broken_at_gaps(np.array([]), np.array([]))] == [0, 0]


def test_no_build_time_unless_source_date_epoch(monkeypatch):
    """The page and the FHIR bundle state no wall-clock time; SOURCE_DATE_EPOCH sets one."""
    model = make_model(MONDAY)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    footer = render_page(model, [], Figures()).split("<footer>")[1]
    assert footer.startswith("<p>Made by sitload ") and " on " not in footer
    assert "from a.sitload; data 2026-03-02 to 2026-03-03 (2 days with data)." in footer
    assert "timestamp" not in fhir_bundle(model)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1772600000")
    assert " on 2026-03-04 05:53 CET from a.sitload" in render_page(model, [], Figures())
    assert fhir_bundle(model)["timestamp"] == "2026-03-04T04:53:20+00:00"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        fhir_bundle(model)


def test_battery_levels_are_one_line_per_device_over_every_recording():
    """A week of daily recordings of one thigh sensor, and a hip sensor on two of the days:
    two battery lines, each holding every day's levels in time order."""
    from sitload.sensor_ingest.stream_decoder import DecodeStats
    from sitload.report.model import DeviceData, build_model
    from sitload.report.page import battery_levels

    def device(address: str, name: str, day: int, percent: list[int]) -> DeviceData:
        t0 = MIDNIGHT + day * 86400 + 8 * 3600
        return DeviceData(f"day{day}.sitload", address, name,
                          analysis(t0, [("sitting", 600)], [bout(t0, 10)]), DecodeStats(), [],
                          pd.DataFrame({"host_time": t0 + 3600.0 * np.arange(len(percent)),
                                        "percent": percent}),
                          pd.DataFrame({"host_time": [], "event": [], "detail": []}))

    recordings = []
    for day in range(7):
        devices = [device("AA:AA", "thigh", day, [100 - 10 * day, 95 - 10 * day])]
        if day in (2, 5):
            devices.append(device("BB:BB", "hip", day, [80 - day]))
        recordings.append(RecordingData(f"day{day}.sitload", "Europe/Berlin", devices, [],
                                        pd.DataFrame({"prompt_id": [], "t": [], "action": []}),
                                        pd.DataFrame({"t": [], "pain": []})))
    model = build_model(recordings[::-1], title="t", timezone="Europe/Berlin")
    levels = battery_levels(model)
    assert [label for label, _ in levels] == ["thigh (thigh-imu)", "hip (thigh-imu)"]
    thigh, hip = (frame for _, frame in levels)
    assert list(thigh["percent"]) == [p for d in range(7) for p in (100 - 10 * d, 95 - 10 * d)]
    assert thigh["host_time"].is_monotonic_increasing and list(hip["percent"]) == [78, 75]


def test_overlapping_recordings_of_one_sensor_are_refused(tmp_path, capsys):
    import shutil

    from sitload.cli import main
    from sitload.services.simulation import simulate_to_recording

    a = simulate_to_recording(tmp_path / "a.sitload", scenario="desk-day", sensor="thigh-imu",
                              seed=1, hours=0.2)
    b = shutil.copy(a, tmp_path / "b.sitload")
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("sitload: error: recordings overlap in time") and "\n" not in err
    assert not (tmp_path / "out" / "daily.csv").exists()
    assert main(["report", str(a), "-o", str(tmp_path / "one")]) == 0


def test_every_day_strip_is_the_whole_figure_drawn_with_its_data():
    """A strip is its day's data drawn over the frame the strips share (blitting): byte for
    byte the figure drawn whole with that data, whichever day was drawn before it."""
    from datetime import datetime

    from sitload.report.model import PromptRecord
    from sitload.report.plots import DayStrips, day_data, png, strip_frame, strip_hours

    model = make_model(MONDAY)
    section, tz = model.sections[0], ZoneInfo(model.timezone)
    hours = strip_hours([section.minutes["t"]], tz)

    def day(date: str) -> tuple:
        minutes = section.minutes[section.minutes["date"] == date]
        bouts = [b for _, b in section.bouts
                 if datetime.fromtimestamp(b.start, tz).date().isoformat() == date]
        t = minutes["t"].to_numpy()
        prompts = [PromptRecord("a", "break", t[10], "", (), True),
                   PromptRecord("b", "break", t[-10], "", (), False)]
        diary = pd.DataFrame({"t": t[[20, -20]], "pain": [3, 7]})
        return minutes, bouts, prompts, diary

    first, second = model.dates
    strips = DayStrips(tz, model.prolonged_s, hours)
    drawn = [strips.png(*day(date)) for date in (first, second, first)]
    assert drawn[0] != drawn[1] and drawn[2] == drawn[0]
    for date, strip in zip((first, second), drawn):
        fig, axes = strip_frame(hours, model.prolonged_s, tz)
        day_data(axes, *day(date), tz, model.prolonged_s, hours)
        assert png(fig) == strip


def test_the_day_strips_span_the_whole_hours_around_every_minute():
    from sitload.report.plots import strip_hours

    tz = ZoneInfo("Europe/Berlin")
    monday_8_10 = 1772435400.0      # 2026-03-02 08:10 CET
    tuesday_17_59 = monday_8_10 + 86400 + 9 * 3600 + 49 * 60
    assert strip_hours([[monday_8_10], [tuesday_17_59]], tz) == (8.0, 18.0)
    assert strip_hours([[monday_8_10, monday_8_10 + 60]], tz) == (8.0, 9.0)
    assert strip_hours([[], []], tz) == strip_hours([], tz) == (8.0, 17.0)


def test_a_figure_laid_out_tight_is_drawn_once():
    """``plots.tight`` lays a figure out as ``tight_layout`` does but leaves no layout engine on
    it, for which ``savefig`` would draw the figure a first time without output."""
    from sitload.report.plots import figure, png, tight

    def plotted():
        fig, ax = figure(4, 2)
        ax.plot([0, 1], [0, 1])
        ax.set_title("a title that needs room")
        return fig

    ours, theirs = plotted(), plotted()
    tight(ours)
    theirs.tight_layout()
    assert ours.get_layout_engine() is None and theirs.get_layout_engine() is not None
    assert [getattr(ours.subplotpars, k) for k in ("left", "right", "bottom", "top")] == \
        [getattr(theirs.subplotpars, k) for k in ("left", "right", "bottom", "top")]
    draws = []
    ours.canvas.mpl_connect("draw_event", draws.append)
    png(ours)
    assert len(draws) == 1


FIGURES = """
import json, os, sys, threading
from sitload.report.figures import Figures
workers, threads = int(sys.argv[1]), int(sys.argv[2])
release = threading.Event()
for _ in range(threads):    # other threads: a fork could copy a lock one of them holds
    threading.Thread(target=release.wait).start()
figures, seen = Figures(), []
marks = [figures.place(lambda i=i: f"{i}:{os.getpid()}", shared=i in (0, 3)) for i in range(6)]
with figures.drawing(workers) as fill:
    page = fill("|".join(marks), seen.append)
release.set()
print(json.dumps({"pid": os.getpid(), "cells": page.split("|"), "seen": seen}))
"""


@pytest.mark.parametrize("workers, threads, forks", [(1, 0, False), (3, 0, True), (3, 1, False)])
def test_figures_fill_their_marks_in_order_and_say_how_far_they_are(workers, threads, forks):
    """Each mark gets its own figure, whichever process drew it. Shared figures (the day strips,
    which share the frame the first of them draws) are drawn here; with more than one worker
    the others are drawn on forked processes (Linux), unless the process has other threads.
    Run in a fresh interpreter: the test runner's own threads would keep it from forking."""
    out = subprocess.run([sys.executable, "-c", FIGURES, str(workers), str(threads)],
                         capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(out.stdout)
    drawn = [cell.split(":") for cell in found["cells"]]
    assert [int(i) for i, _ in drawn] == list(range(6))
    assert {int(drawn[i][1]) for i in (0, 3)} == {found["pid"]}
    alone = {int(drawn[i][1]) for i in (1, 2, 4, 5)}
    if forks and sys.platform == "linux":
        assert found["pid"] not in alone
    else:
        assert alone == {found["pid"]}
    assert found["seen"] == [(k + 1) / 6 for k in range(6)]


def test_a_figure_that_fails_on_a_worker_fails_the_page():
    """The error comes back from the worker that drew it, and the command ends."""
    code = ("from sitload.report.figures import Figures\nfigures = Figures()\n"
            "marks = [figures.place(lambda: 'ok') for _ in range(3)]\n"
            "marks.append(figures.place(lambda: 1 / 0))\n"
            "with figures.drawing(2) as fill:\n    fill(''.join(marks))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.rstrip().endswith("ZeroDivisionError: division by zero")


@pytest.mark.skipif(sys.platform != "linux", reason="figures are forked on Linux only")
def test_ctrl_c_while_figures_are_drawn_stops_the_command_and_its_workers():
    """Ctrl-C reaches the whole process group: the command stops (as sitload.cli does, with one
    line) and its drawing workers end with it, without a traceback of their own, also when the
    command handles SIGTERM by raising (as sitload.cli does) and the pool stops them with it."""
    code = ("import signal, sys, time\nfrom sitload.report.figures import Figures\n"
            "def terminated(*_):\n    raise RuntimeError('terminated')\n"
            "signal.signal(signal.SIGTERM, terminated)\nfigures = Figures()\n"
            "marks = [figures.place(lambda: 'ok', shared=True)]\n"
            "marks += [figures.place(lambda: time.sleep(60) or 'late') for _ in range(2)]\n"
            "try:\n    with figures.drawing(3) as fill:\n        fill(''.join(marks))\n"
            "except KeyboardInterrupt:\n    print('interrupted', file=sys.stderr)\n"
            "    sys.exit(130)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers: list[str] = []
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = children(proc.pid)
        assert len(workers) == 2, "the pool did not start"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130 and err == "interrupted\n", err
        time.sleep(0.5)
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    finally:    # a command that did not stop, and its workers (its own session): killed
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
