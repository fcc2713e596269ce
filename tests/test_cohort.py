"""`sitload cohort` against a Dask cluster started by hand: a real `dask scheduler` and two
`dask worker` processes on loopback, real recordings, the real command; its Parquet dataset
must hold what serial `sitload analyze` finds, read by pandas and by DuckDB as it is."""

import html
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import _free_port
from sitload.services.cohort import find_recordings
from sitload.services.cohort_dataset import recording_key, safe_name
from sitload.errors import ConfigError

SITLOAD = [sys.executable, "-m", "sitload.cli"]
DASK = str(Path(sys.executable).with_name("dask"))


def run(*args, check=True):
    proc = subprocess.run([*SITLOAD, *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"sitload {' '.join(map(str, args))} -> {proc.returncode}\n"
                             f"{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two single-threaded workers."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler.log", "w"))]
    procs += [subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-dashboard",
                                "--host", "127.0.0.1"], cwd=logs, stdout=subprocess.DEVNULL,
                               stderr=open(logs / f"worker{i}.log", "w")) for i in range(2)]
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Two patients' half-hour desk days in a folder (the first with a pain report), and a file
    that is no recording."""
    folder = tmp_path_factory.mktemp("cohort")
    for seed in (11, 12):
        run("simulate", "desk-day", "--sensor", "thigh-imu", "--hours", 0.5, "--seed", seed,
            "-o", folder / f"day{seed}.sitload")
    run("diary", "add", folder / "day11.sitload", "--pain", 6, "--side", "left", "--at",
        "2026-03-02T08:20:00Z")
    (folder / "broken.sitload").write_bytes(b"not a recording")
    return folder


def serial(path: Path, tmp: Path) -> tuple[dict, pd.DataFrame]:
    """`sitload analyze --json` and its epochs CSV."""
    epochs = tmp / f"{path.stem}-epochs.csv"
    out = run("analyze", path, "--json", "--epochs", epochs)
    return json.loads(out.stdout), pd.read_csv(epochs)


def test_cohort_on_a_hand_started_cluster_equals_serial_analysis(cluster, recordings, tmp_path):
    out = tmp_path / "out"
    proc = run("cohort", recordings, "-o", out, "--scheduler", cluster, check=False)
    assert proc.returncode == 1, proc.stderr
    failed = [line for line in proc.stderr.splitlines() if "failed:" in line]
    assert failed == [f"sitload: failed: {recordings / 'broken.sitload'}: not a sitload "
                      "recording"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert "analysed 2 recordings (0 up to date, 1 failed) of 2 patients" in proc.stdout
    assert out.stat().st_mode & 0o777 == 0o700

    epochs = pd.read_parquet(out / "epochs")
    bouts = pd.read_parquet(out / "bouts")
    daily = pd.read_parquet(out / "daily")
    page = (out / "index.html").read_text()
    by_duckdb = dict(duckdb.sql(
        f"SELECT recording, sum(sitting_s) FROM read_parquet('{out}/daily/*/*/*.parquet', "
        "hive_partitioning = true) GROUP BY recording").fetchall())
    for seed in (11, 12):
        path = recordings / f"day{seed}.sitload"
        found, csv = serial(path, tmp_path)
        mine = epochs[epochs["recording"] == path.name].sort_values("t")
        assert len(mine) == len(csv) > 1700
        assert (mine["posture"].to_numpy() == csv["posture"].to_numpy()).all()
        assert (mine["time"].dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy()
                == csv["time"].str[:19].to_numpy()).all()
        patient = mine["patient"].iloc[0]
        assert patient.startswith("sitload-thigh-") and set(mine["date"]) == {"2026-03-02"}
        b = bouts[bouts["recording"] == path.name].sort_values("start")
        assert [(r.start_utc, r.end_utc, r.duration_s) for r in b.itertuples()] == [
            (x["start"], x["end"], x["duration_s"]) for x in found["bouts"]]
        d = daily[daily["recording"] == path.name]
        assert len(d) == 1 and d["sitting_s"].iloc[0] == found["sitting_s"] > 0
        assert by_duckdb[path.name] == found["sitting_s"]
        assert d["bouts_30"].iloc[0] == found["prolonged_bouts_30"]
        assert d["w50_s"].iloc[0] == pytest.approx(found["w50_s"])
        assert (f'data-patient="{patient}" data-metric="sitting_s" '
                f'data-value="{float(found["sitting_s"])!r}"') in page
    assert "broken.sitload" in page and "not a sitload recording" in page
    flares = run("flares", recordings / "day11.sitload").stdout.strip()
    rows = {line.split('"')[1]: line for line in page.split("<tr id=")[1:]}
    assert [p for p, row in rows.items() if html.escape(flares, quote=True) in row] == [
        f"patient-{epochs.loc[epochs['recording'] == 'day11.sitload', 'patient'].iloc[0]}"]
    assert sum("no pain diary" in row for row in rows.values()) == 1


def test_a_rerun_skips_what_is_up_to_date_and_replaces_what_changed(cluster, recordings,
                                                                     tmp_path):
    out = tmp_path / "out"
    copy = tmp_path / "in" / "day.sitload"
    copy.parent.mkdir()
    copy.write_bytes((recordings / "day12.sitload").read_bytes())
    inputs = [recordings / "day11.sitload", copy.parent]
    run("cohort", *inputs, "-o", out, "--scheduler", cluster)
    files = sorted(out.glob("*/patient=*/date=*/*.parquet"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    old_patients = set(pd.read_parquet(out / "daily", columns=["patient"])["patient"])

    again = run("cohort", *inputs, "-o", out, "--scheduler", cluster)
    assert "analysed 0 recordings (2 up to date, 0 failed)" in again.stdout
    assert {f: f.stat().st_mtime_ns for f in files} == stamps

    copy.unlink()        # the file replaced by another patient's longer recording
    run("simulate", "desk-day", "--sensor", "thigh-imu", "--hours", 0.75, "--seed", 13,
        "-o", copy)
    third = run("cohort", *inputs, "-o", out, "--scheduler", cluster)
    assert "analysed 1 recordings (1 up to date, 0 failed)" in third.stdout
    epochs = pd.read_parquet(out / "epochs", columns=["recording", "patient"])
    _, csv = serial(copy, tmp_path)
    mine = epochs[epochs["recording"] == "day.sitload"]
    assert len(mine) == len(csv) > 2600            # replaced, not added to
    patients = set(epochs["patient"])
    assert len(patients) == 2 and len(patients & old_patients) == 1
    kept = [f for f in files if f.exists()]    # day11's, untouched; the old copy's are gone
    assert {f.name for f in kept} == {f.name for f in files if f.name.startswith("part-day11-")}
    assert len(kept) == 3 and all(f.stat().st_mtime_ns == stamps[f] for f in kept)


def test_inputs_are_named_when_wrong(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: a folder without recordings"):
        find_recordings([tmp_path / "empty"])
    with pytest.raises(ConfigError, match="nothing.sitload: no such recording or folder"):
        find_recordings([tmp_path / "nothing.sitload"])
    proc = run("cohort", tmp_path / "empty", "-o", tmp_path / "out", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "a folder without recordings (*.sitload)" in proc.stderr


def test_patient_ids_and_file_keys_are_safe_names(tmp_path):
    assert safe_name("Ward 3/bed=7") == "Ward-3-bed-7"
    assert safe_name("../x") == "x" and safe_name("///") == "unknown"
    a, b = tmp_path / "a" / "day1.sitload", tmp_path / "b" / "day1.sitload"
    assert recording_key(a) != recording_key(b)
    assert recording_key(a).startswith("day1-") and recording_key(a) == recording_key(a)


def test_without_dask_the_command_says_what_to_install(recordings, tmp_path, monkeypatch,
                                                       capsys):
    from sitload.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)     # as in a base install
    assert main(["cohort", str(recordings / "day12.sitload"), "-o", str(tmp_path)]) == 1
    assert capsys.readouterr().err == ("sitload: error: sitload cohort runs on Dask, which is "
                                       "not installed: pip install 'sitload[cohort]'\n")
