"""`--config FILE` (docs/configuration.md): the TOML settings reach every command that analyses,
prompts or relates flares, through the real CLI on simulated recordings; bad files give one line."""

import json
import re
import subprocess
import sys
from dataclasses import fields, replace
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

import sitload.services.flare_analysis
from sitload.alerts.policy_config import PolicyConfig
from sitload.sensor_ingest.recording import append_diary
from sitload.sensor_ingest.replay import open_recording, replay_batches
from sitload.cli import build_parser, main
from sitload.services.analysis import analyze_recording
from sitload.config_file import Settings, load
from sitload.services.live import LiveSessions
from sitload.services.pipeline import STEP_S
from sitload.services.simulation import DEFAULT_START_UTC, simulate_to_recording

ROOT = Path(__file__).resolve().parent.parent
BREAK_S = 240  # desk-day seed 1's last bouts are 3 min apart: 4 min joins them


@pytest.fixture(scope="module")
def desk_day(tmp_path_factory):
    """Two hours of desk-day: nine bouts of 2-17 min, none long enough for a default prompt."""
    return simulate_to_recording(tmp_path_factory.mktemp("config") / "desk.sitload",
                                 scenario="desk-day", sensor="thigh-imu", seed=1, hours=2.0)


def toml(tmp_path, text: str, name: str = "sitload.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cli(capsys, *args) -> tuple[dict, str]:
    """(the JSON printed, stderr) of `sitload ARGS --json` run in this process."""
    assert main([*map(str, args), "--json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def cli_json(capsys, *args) -> dict:
    return cli(capsys, *args)[0]


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def pauses(bouts: list[dict]) -> list[float]:
    return [epoch(b["start"]) - epoch(a["end"]) for a, b in pairwise(bouts)]


def test_analysis_break_s_changes_the_bouts_in_analyze_and_replay_alike(desk_day, tmp_path,
                                                                        capsys):
    config = toml(tmp_path, f"[analysis]\nbreak_s = {BREAK_S}\n")
    default = cli_json(capsys, "analyze", desk_day)["bouts"]
    batch = cli_json(capsys, "analyze", desk_day, "--config", config)["bouts"]
    streamed = cli_json(capsys, "replay", desk_day, "--config", config)["bouts"]
    assert min(pauses(default)) < BREAK_S <= min(pauses(batch))
    assert len(batch) == len(default) - 3 and batch[-1]["end"] == default[-1]["end"]
    assert streamed == batch  # the streaming engine got the same AnalysisConfig


def test_policy_break_after_min_and_checkins_change_replays_prompts(desk_day, tmp_path, capsys):
    assert [p for p in cli_json(capsys, "replay", desk_day)["prompts"]
            if p["kind"] in ("break", "checkin")] == []
    config = toml(tmp_path, "[policy]\nbreak_after_min = 10\ncheckin_every_min = 45\n"
                  "[policy.cooldown_min]\nbreak = 5\n")  # the last two bouts are 9 min apart
    out = cli_json(capsys, "replay", desk_day, "--config", config)
    breaks = [p for p in out["prompts"] if p["kind"] == "break"]
    long_bouts = [epoch(b["start"]) for b in out["bouts"] if b["duration_s"] > 11 * 60]
    assert len(breaks) == len(long_bouts) == 2
    for prompt, start in zip(breaks, long_bouts):
        assert 0 <= epoch(prompt["created"]) - (start + 600) <= STEP_S
        assert "sitting for 10 min" in prompt["message"]
    checkins = [epoch(p["created"]) - DEFAULT_START_UTC for p in out["prompts"]
                if p["kind"] == "checkin"]
    assert len(checkins) == 2 and checkins[0] >= 45 * 60


def test_analysis_and_policy_together_prompt_on_the_joined_bout(desk_day, tmp_path, capsys):
    config = toml(tmp_path, f"[analysis]\nbreak_s = {BREAK_S}\n[policy]\nbreak_after_min = 20\n"
                  "escalate_after_min = false\n")  # no reminder 10 min later
    out = cli_json(capsys, "replay", desk_day, "--config", config)
    (joined,) = [b for b in out["bouts"] if b["duration_s"] > 20 * 60]  # 09:07:55 to the end
    first, *later = [p for p in out["prompts"] if p["kind"] == "break"]
    assert 0 <= epoch(first["created"]) - (epoch(joined["start"]) + 1200) <= STEP_S
    assert [p["follows"] for p in later] == [None]  # the next after the 30 min cooldown


def test_tolerance_from_without_a_tolerance_keeps_the_files_threshold(desk_day, tmp_path,
                                                                      capsys):
    config = toml(tmp_path, "[policy]\nbreak_after_min = 10\n")
    out, err = cli(capsys, "replay", desk_day, "--tolerance-from", desk_day, "--config", config)
    assert "no personal sitting tolerance yet" in err and "threshold (10 min)" in err
    assert {p["detail"]["bout_minutes"] for p in out["prompts"] if p["kind"] == "break"} == {10}


def test_tolerance_from_combines_the_personal_threshold_with_the_files_policy(
        desk_day, tmp_path, capsys, monkeypatch):
    """A found tolerance replaces only the break threshold: the file's check-ins stay on, and the
    history is analysed with the file's flare and analysis settings."""
    config = toml(tmp_path, "[policy]\nbreak_after_min = 10\ncheckin_every_min = 45\n"
                  "[flares]\nalpha = 0.01\n[analysis]\nbreak_s = 90\n")
    real = sitload.services.flare_analysis.analyze_flares
    seen = []

    def with_tolerance(paths, config=None, analysis_config=None):
        seen.append((config, analysis_config))
        analysis, notes = real(paths, config, analysis_config)
        return replace(analysis, status="ok", tolerance_min=15.0), notes

    monkeypatch.setattr(sitload.services.flare_analysis, "analyze_flares", with_tolerance)
    out, err = cli(capsys, "replay", desk_day, "--tolerance-from", desk_day, "--config", config)
    assert "break prompts after 15 min" in err  # 0.8 x 15 min, raised to the floor of 15
    assert {p["detail"]["bout_minutes"] for p in out["prompts"] if p["kind"] == "break"} == {15}
    assert len([p for p in out["prompts"] if p["kind"] == "checkin"]) == 2
    ((flares, analysis),) = seen
    assert flares.alpha == 0.01 and analysis.break_s == 90


@pytest.fixture(scope="module")
def with_diary(tmp_path_factory):
    """Half an hour of desk-day with six pain reports: median 3."""
    path = simulate_to_recording(tmp_path_factory.mktemp("diary") / "pain.sitload",
                                 scenario="desk-day", sensor="thigh-imu", seed=1, hours=0.5)
    for i, pain in enumerate((2, 3, 3, 3, 4, 6)):
        append_diary(path, DEFAULT_START_UTC + 300 * (i + 1), pain, side="left", source="cli")
    return path


def test_flares_section_sets_the_flare_threshold_and_the_cli_overrides_it(with_diary, tmp_path,
                                                                          capsys):
    default = cli_json(capsys, "flares", with_diary)
    assert (default["baseline_pain"], default["flare_threshold"]) == (3, 5)
    config = toml(tmp_path, "[flares]\nflare_rise = 1\n")
    assert cli_json(capsys, "flares", with_diary, "--config", config)["flare_threshold"] == 4
    config = toml(tmp_path, "[flares]\nflare_rise = 1\nbaseline_pain = 1\nflare_pain = 9\n")
    assert cli_json(capsys, "flares", with_diary, "--config", config)["flare_threshold"] == 2
    overridden = cli_json(capsys, "flares", with_diary, "--config", config, "--baseline", "4")
    assert overridden["flare_threshold"] == 5
    overridden = cli_json(capsys, "flares", with_diary, "--config", config, "--flare-pain", "1")
    assert overridden["flare_threshold"] == 1


def test_score_scores_against_truth_bouts_by_the_same_rules(desk_day, tmp_path, capsys):
    config = toml(tmp_path, f"[analysis]\nbreak_s = {BREAK_S}\n")
    default = cli_json(capsys, "score", desk_day)
    joined = cli_json(capsys, "score", desk_day, "--config", config)
    assert joined["truth_bouts"] < default["truth_bouts"]
    assert joined["bout_recall"] == default["bout_recall"] == 1.0


def test_report_analyses_with_the_config(desk_day, tmp_path, capsys):
    config = toml(tmp_path, f"[analysis]\nbreak_s = {BREAK_S}\n")
    rows = {}
    for name, extra in (("default", []), ("joined", ["--config", str(config)])):
        assert main(["report", str(desk_day), "-o", str(tmp_path / name), *extra]) == 0
        rows[name] = len((tmp_path / name / "bouts.csv").read_text().splitlines())
    assert rows["joined"] == rows["default"] - 3


def test_live_sessions_analyse_as_the_batch_analysis_does(desk_day, tmp_path):
    """`sitload monitor`'s path (LiveSessions) with the file's AnalysisConfig."""
    config = load(toml(tmp_path, f"[analysis]\nbreak_s = {BREAK_S}\n")).analysis
    sessions = LiveSessions(analysis_config=config)
    with open_recording(desk_day) as rec:
        device = rec.device()
        for batch in replay_batches(rec, device.id):
            sessions.feed(device.address, device.name, device.kind, [batch])
    sessions.close()
    live = sessions._sessions[device.address].pipeline.engine.result()
    batch = analyze_recording(str(desk_day), config).result
    assert [(b.start, b.end) for b in live.bouts] == [(b.start, b.end) for b in batch.bouts]
    assert len(batch.bouts) == 6


def test_monitor_prompts_at_the_files_threshold(tmp_path, capsys):
    config = toml(tmp_path, "[policy]\nbreak_after_min = 5\n")
    assert main(["monitor", "--simulate", "desk-day", "--minutes", "30", "--speed", "1200",
                 "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "prompt [break] You have been sitting for 5 min" in out


def test_demo_prompts_and_reports_with_the_config(tmp_path):
    config = toml(tmp_path, "[policy]\ncheckin_every_min = 20\nadherence_window_min = 5\n"
                  "[policy.cooldown_min]\ncheckin = 15\n")
    proc = subprocess.run([sys.executable, "-m", "sitload.cli", "demo", "--hours", "1",
                           "-o", str(tmp_path / "demo"), "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("[checkin]") >= 2  # none by default
    html = (tmp_path / "demo" / "report" / "index.html").read_text(encoding="utf-8")
    assert "within 5 min" in html


def test_sitload_config_names_the_default_file(desk_day, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SITLOAD_CONFIG", str(toml(tmp_path, f"[analysis]\nbreak_s = {BREAK_S}\n")))
    assert len(cli_json(capsys, "analyze", desk_day)["bouts"]) == 6
    empty = toml(tmp_path, "", "empty.toml")
    assert len(cli_json(capsys, "analyze", desk_day, "--config", empty)["bouts"]) == 9


def test_every_command_that_uses_a_setting_takes_config():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    with_config = {name for name, p in sub.choices.items()
                   if any("--config" in a.option_strings for a in p._actions)}
    assert with_config == {"monitor", "replay", "analyze", "score", "demo", "report", "flares",
                           "cohort"}


def test_the_documented_example_loads(tmp_path):
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```toml\n(.*?)\n```", text, re.S)
    settings = load(toml(tmp_path, example))
    assert settings.policy.quiet_hours == ("22:00", "07:00")
    assert settings.policy.cooldown_min["break"] == 20 and settings.policy.cooldown_min["shift"] \
        == Settings().policy.cooldown_min["shift"]  # the other kinds keep their default


def test_the_documented_policy_defaults_are_the_classes(tmp_path):
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (`[^`]+`|—) \|", text.split("### `[policy]`")[1], re.M))
    defaults = PolicyConfig()
    assert list(rows) == [f.name for f in fields(PolicyConfig)]
    for key, shown in rows.items():  # "—": None, not to be turned off
        read = None if shown == "—" else load(toml(tmp_path, f"[policy]\n{key} = {shown[1:-1]}\n"))
        assert (None if read is None else getattr(read.policy, key)) == getattr(defaults, key), key


# -- bad files: one line naming the file and the key, exit 1 ----------------------------------------
BAD = [
    ("[polcy]\nbreak_after_min = 25\n", "unknown section [polcy] (did you mean policy?)"),
    ("break_s = 90\n", "unknown key 'break_s'"),
    ("[policy]\nbrake_after_min = 25\n",
     "policy.brake_after_min: unknown key (did you mean break_after_min?)"),
    ('[policy]\nbreak_after_min = "25"\n', 'policy.break_after_min: expected a number, got "25"'),
    ("[policy]\nbreak_after_min = -5\n", "policy.break_after_min: break_after_min must be > 0"),
    ('[policy]\nquiet_hours = ["22:00"]\n',
     'policy.quiet_hours: expected a list of 2 strings or false (off), got ["22:00"]'),
    ('[policy]\nquiet_hours = ["22:00", "7 am"]\n',
     "policy.quiet_hours: time of day '7 am' is not HH:MM"),
    ('[policy]\ntimezone = "Europe/Atlantis"\n', "policy.timezone: unknown time zone"),
    ("[policy.cooldown_min]\nbreak = true\n",
     "policy.cooldown_min.break: expected a number, got true"),
    ("[policy.cooldown_min]\nnap = 5\n",
     "policy.cooldown_min: cooldown for unknown prompt kind(s): nap"),
    ("[analysis]\nprolonged_s = 1800\n", "analysis.prolonged_s: expected a list of numbers, got 1800"),
    ("[analysis]\nprolonged_s = [1200, 2430]\n",
     "analysis.prolonged_s: prolonged-sitting thresholds must be whole minutes"),
    ("[analysis]\nseat_off_n = 300\n", "analysis.seat_off_n: seat_off_n must not exceed"),
    ("[analysis]\nhip_sit_tilt_deg = 7\nhip_stand_tilt_deg = 8\n",
     "analysis.hip_sit_tilt_deg, analysis.hip_stand_tilt_deg: hip tilts must satisfy"),
    ("[flares]\nmin_flares = 4.5\n", "flares.min_flares: expected a whole number, got 4.5"),
    ("[flares]\nflare_rise = nan\n", "flares.flare_rise: expected a number, got NaN"),
    ("analysis = 60\n", "analysis: expected a section [analysis], got 60"),
    ("[policy]\nbreak_after_min = \n", "not valid TOML: Invalid value (at line 2"),
    ("[policy]\nbreak_after_min = 25\n[policy]\n", "not valid TOML: Cannot declare"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_a_bad_file_is_one_line_naming_file_and_key(desk_day, tmp_path, capsys, text, message):
    config = toml(tmp_path, text)
    assert main(["analyze", str(desk_day), "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"sitload: error: {config}: ")
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err


def test_every_command_reads_the_file_before_it_starts(desk_day, tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    commands = [["monitor", "--simulate", "desk-day"], ["replay", desk_day], ["analyze", desk_day],
                ["score", desk_day], ["demo", "-o", tmp_path / "demo"],
                ["report", desk_day, "-o", tmp_path / "report"], ["flares", desk_day]]
    for command in commands:
        assert main([*map(str, command), "--config", str(missing)]) == 1, command
        captured = capsys.readouterr()
        assert captured.err == f"sitload: error: {missing}: cannot read the configuration: No " \
            "such file or directory\n" and captured.out == "", command
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unreadable_file_is_one_line(desk_day, tmp_path):
    """As a user sees it, from a separate process."""
    cases = [(tmp_path / "missing.toml", "No such file or directory"),
             (tmp_path, "Is a directory"),
             (toml(tmp_path, "", "latin1.toml"), "not valid TOML")]
    cases[2][0].write_bytes("[policy]\n# caf\xe9\n".encode("latin-1"))
    for path, reason in cases:
        proc = subprocess.run([sys.executable, "-m", "sitload.cli", "replay", str(desk_day),
                               "--config", str(path)], cwd=ROOT, capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.startswith(f"sitload: error: {path}: ") and reason in proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
