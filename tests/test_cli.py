"""The `sitload` command as a user runs it: real processes, real files."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitload.analytics.config import AnalysisConfig
from sitload.analytics.scoring import truth_bouts
from sitload.sensor_ingest.recording import Recording

SITLOAD = [sys.executable, "-m", "sitload.cli"]
ROOT = Path(__file__).resolve().parent.parent


def run(*args, check=True):
    proc = subprocess.run([*SITLOAD, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"sitload {' '.join(map(str, args))} -> {proc.returncode}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def desk_day(tmp_path_factory):
    """Two hours of a simulated desk day; the output name has no extension on purpose."""
    path = tmp_path_factory.mktemp("cli") / "day"
    run("simulate", "desk-day", "--sensor", "thigh-imu", "--hours", 2, "--seed", 1, "-o", path)
    return path


def test_simulate_writes_exactly_the_named_file(desk_day):
    assert desk_day.is_file() and sorted(p.name for p in desk_day.parent.iterdir()) == ["day"]
    with Recording(desk_day) as rec:
        assert rec.closed_cleanly and rec.meta["scenario"] == "desk-day"
        assert len(rec.truth(rec.device().id)) == 2 * 3600


def test_replay_json_reports_the_bouts_of_the_ground_truth(desk_day):
    out = json.loads(run("replay", desk_day, "--json").stdout)
    with Recording(desk_day) as rec:
        truth = rec.truth(rec.device().id)
    expected = [b for b in truth_bouts(truth, "thigh-imu", AnalysisConfig()) if b.duration_s >= 300]
    found = [b for b in out["bouts"] if b["duration_s"] >= 300]
    assert len(found) == len(expected) > 0
    for got, want in zip(found, expected):
        assert abs(got["duration_s"] - want.duration_s) <= 10
    true_sitting = float((truth["posture"] == "sitting").sum())
    assert abs(out["sitting_s"] - true_sitting) / true_sitting < 0.01
    assert out["decode"]["frames_bad"] == 0 and out["bouts"][0]["start"].endswith("Z")


def test_usage_errors_exit_2_and_runtime_errors_exit_1_with_one_line(tmp_path):
    bad = run("simulate", "desk-day", "--hours", "-3", "-o", tmp_path / "x", check=False)
    assert bad.returncode == 2 and "must be > 0" in bad.stderr
    unknown = run("simulate", "office-party", "-o", tmp_path / "x", check=False)
    assert unknown.returncode == 2 and "unknown scenario 'office-party'" in unknown.stderr
    for usage in (["simulate", "desk-day", "--drop-rate", "2", "-o", tmp_path / "x"],
                  ["replay", tmp_path / "x", "--speed", "nan"]):
        proc = run(*usage, check=False)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 2 and last.startswith(f"sitload {usage[0]}: error: "), last
    missing = run("replay", tmp_path / "nothing.sitload", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "no such recording" in missing.stderr
    assert "Traceback" not in missing.stderr + unknown.stderr


def test_every_subcommand_has_help():
    for command in ("simulate", "replay", "analyze", "score", "import", "demo"):
        assert run(command, "--help").stdout.startswith(f"usage: sitload {command}")


def test_the_parser_built_for_a_command_line_is_the_whole_parser_for_it():
    """Only the subcommand a command line names is built; its help, and the list of every
    command with theirs, are those of the parser built whole."""
    from sitload.cli import build_parser

    whole = build_parser()
    commands = next(a for a in whole._actions if a.dest == "command").choices
    assert len(commands) >= 14
    for name, parser in commands.items():
        built = build_parser(["-v", name, "FILE"])
        assert built.format_help() == whole.format_help()
        mine = next(a for a in built._actions if a.dest == "command").choices[name]
        assert mine.format_help() == parser.format_help()
    args = build_parser(["analyze", "rec.sitload", "--json"]).parse_args(
        ["analyze", "rec.sitload", "--json"])
    assert (args.command, args.file, args.json) == ("analyze", "rec.sitload", True)


def test_a_killed_simulate_leaves_a_recording_replay_reads_to_its_last_whole_frame(tmp_path):
    path = tmp_path / "killed.sitload"
    proc = subprocess.Popen([*SITLOAD, "simulate", "desk-day", "--hours", "8", "-o", str(path)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    frames = 0
    while time.monotonic() < deadline and frames < 30000:
        time.sleep(0.2)
        if path.exists():
            try:
                with Recording(path) as rec:
                    frames = rec.frame_summary(rec.device().id)[0]
            except Exception:  # the file may not hold its first device yet
                frames = 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < frames, "simulate wrote no frame before it was killed"
    replay = run("replay", path, "--json")
    assert "recording ends early (the writer stopped before closing it)" in replay.stderr
    out = json.loads(replay.stdout)
    assert out["decode"]["frames_bad"] == 0 and out["decode"]["frames_ok"] >= frames
    assert out["sitting_s"] > 0


def test_analyze_epochs_csv_has_one_row_per_second_in_the_shared_vocabulary(tmp_path):
    mat = tmp_path / "mat"
    run("simulate", "desk-day", "--sensor", "pressure", "--hours", 0.25, "--seed", 2, "-o", mat)
    epochs_csv = tmp_path / "epochs.csv"
    run("analyze", mat, "--epochs", epochs_csv)
    import pandas as pd

    epochs = pd.read_csv(epochs_csv)
    assert list(epochs.columns[:2]) == ["time", "posture"]
    assert len(epochs) == 15 * 60 and epochs["time"].iloc[0].endswith("Z")
    assert set(epochs["posture"]) <= {"sitting", "standing", "moving", "lying", "unknown", "gap"}
    assert {"si", "lean_side", "left_n", "right_n", "cop_x"} <= set(epochs.columns)
    sitting = epochs[epochs["posture"] == "sitting"]
    assert len(sitting) > 0 and sitting["si"].notna().all()


def test_unwritable_output_paths_are_one_line_errors_naming_the_path(tmp_path, capsys):
    from sitload.cli import main
    from sitload.services.simulation import simulate_to_recording

    rec = simulate_to_recording(tmp_path / "r.sitload", scenario="desk-day", sensor="thigh-imu",
                                seed=1, hours=0.2)
    capsys.readouterr()
    for argv, path in [(["analyze", rec, "--epochs", "/nonexistent/ep.csv"], "/nonexistent/ep.csv"),
                       (["analyze", rec, "--epochs", tmp_path], tmp_path),
                       (["simulate", "desk-day", "--hours", "0.1", "-o", "/nonexistent/x.sitload"],
                        "/nonexistent/x.sitload")]:
        assert main(list(map(str, argv))) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"sitload: error: {path}: cannot ") and "\n" not in err
    assert main(["analyze", str(rec), "--epochs", str(tmp_path / "ep.csv")]) == 0
    assert capsys.readouterr().out == f"wrote 720 epochs (one per second) to {tmp_path / 'ep.csv'}\n"


def test_replay_to_an_unreachable_broker_says_the_prompts_stayed_in_the_outbox(tmp_path, capsys):
    from sitload.cli import main
    from sitload.services.simulation import simulate_to_recording

    rec = simulate_to_recording(tmp_path / "r.sitload", scenario="desk-day", sensor="thigh-imu",
                                seed=1, hours=0.2)
    config = tmp_path / "c.toml"
    config.write_text("[policy]\nbreak_after_min = 1\nshift_after_min = 1\n")
    capsys.readouterr()
    assert main(["replay", str(rec), "--config", str(config), "--json",
                 "--broker", "mqtt://127.0.0.1:1"]) == 1
    captured = capsys.readouterr()
    sent = len(json.loads(captured.out)["prompts"])
    with sqlite3.connect(tmp_path / "r.outbox") as db:
        pending = db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
    assert sent > 0 and pending == sent
    assert captured.err.strip() == (f"sitload: error: broker 127.0.0.1:1 could not be reached; "
                                    f"{sent} prompt(s) left undelivered in {tmp_path / 'r.outbox'}")


def test_simulate_list_names_every_scenario_with_its_description(capsys):
    from sitload.firmware_sim import SCENARIOS
    from sitload.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--list"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)
    assert all(line.endswith(s.description) for line, s in zip(lines, SCENARIOS.values()))
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `sitload simulate"))
    assert "--days" in row and all(f"`{name}`" in row for name in SCENARIOS)


@pytest.mark.parametrize("command", [("analyze",), ("score",), ("flares",)])
def test_long_analyses_show_a_progress_bar_on_a_terminal(desk_day, command):
    """stderr on a pseudo-terminal gets a bar that ends at 100 %; piped stderr stays clean."""
    import os
    import pty

    controller, terminal = pty.openpty()
    proc = subprocess.run([*SITLOAD, *command, str(desk_day)], stdout=subprocess.PIPE,
                          stderr=terminal, cwd=ROOT)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:          # the terminal is closed and drained
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert proc.returncode == 0
    bars = shown.decode().replace("\r\n", "\n").split("\r")
    assert bars[-1].startswith("[" + "#" * 30 + "] 100%") and len(bars) >= 3
    assert "%" not in run(*command, desk_day).stderr


def test_a_recording_without_a_sitting_bout_is_summarised_not_a_traceback(tmp_path):
    """Three minutes of an active day have no bout: W50 is undefined and shown as a dash."""
    rec = tmp_path / "active.sitload"
    run("simulate", "active-day", "--hours", "0.05", "--seed", "4", "-o", rec)
    for command in ("analyze", "replay"):
        proc = run(command, rec)
        assert "in 0 bouts" in proc.stdout and "W50 -" in proc.stdout and not proc.stderr


def test_a_reader_that_goes_away_is_one_line_not_a_traceback(desk_day, monkeypatch, capsys):
    """`sitload analyze DAY --json | head -c 10`: the pipe closes under the writer (simulated
    here by a stdout that raises as a closed pipe does)."""
    from sitload.cli import main

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["analyze", str(desk_day), "--json"]) == 1
    err = capsys.readouterr().err
    assert err == "sitload: error: the output was closed early (broken pipe)\n"


@pytest.mark.parametrize("url, why", [("mqtt://h:99999", "Port out of range"),
                                      ("mqtt://[::1", "Invalid IPv6 URL"),
                                      ("mqtt://127.0.0.1:0", "port 0 is not a port"),
                                      ("http://h", "is not mqtt://host")])
def test_a_bad_broker_url_is_a_usage_error(url, why):
    proc = run("prompts", "--broker", url, "--device", "d", "--no-input", check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("sitload prompts: error: argument --broker: ")
    assert why in last and "Traceback" not in proc.stderr


def test_file_system_errors_and_control_characters_stay_one_line(tmp_path, desk_day):
    report = run("report", desk_day, "-o", "/dev/null/x", check=False)
    assert (report.returncode, report.stderr) == (1, "sitload: error: /dev/null/x: Not a directory\n")
    named = run("analyze", tmp_path / "day\x1b[31m.sitload", check=False)
    assert named.returncode == 1 and "\x1b" not in named.stderr
    assert named.stderr.count("\n") == 1 and "day\\x1b[31m.sitload: no such recording" in named.stderr


def test_sigterm_closes_a_live_recording_as_ctrl_c_does(tmp_path):
    rec = tmp_path / "live.sitload"
    proc = subprocess.Popen([*SITLOAD, "monitor", "--simulate", "desk-day", "--speed", "60",
                             "--minutes", "60", "--record", str(rec)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:    # until the sensor's first frames are on disk
        try:
            with Recording(rec) as r:
                if r.frame_summary(r.device().id)[0] > 0:
                    break
        except Exception:  # not created yet, or no device yet
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"recording: {rec}" in out
    with Recording(rec) as r:
        assert r.closed_cleanly and int(r.meta["frames"]) > 0


def test_the_console_script_ends_with_the_commands_code_output_and_exit_handlers(desk_day):
    """The console script (``run``) ends the process itself: the command's exit code, all its
    output (a JSON summary through a pipe) and the exit handlers run, as at an ordinary exit."""
    script = ("import atexit, sys\nfrom sitload.cli import run\n"
              "atexit.register(lambda: print('handler ran', file=sys.stderr))\nrun()\n"
              "print('not reached', file=sys.stderr)\n")
    outputs = []
    for args, code in (([str(desk_day), "--json"], 0), ([str(desk_day) + ".missing"], 1)):
        proc = subprocess.run([sys.executable, "-c", script, "analyze", *args],
                              capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == code
        assert proc.stderr.splitlines()[-1] == "handler ran"
        outputs.append(proc.stdout)
    assert json.loads(outputs[0])["decode"]["frames_ok"] > 0 and outputs[1] == ""
    assert "sitload.cli:run" in (ROOT / "pyproject.toml").read_text()
