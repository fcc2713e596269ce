"""The recordings' analyses decoded on forked processes (services.analysis_workers), as `sitload
report` runs them: the same analyses as in one process, progress over all of them, and a decoding
process that dies or a Ctrl-C ends the command. Forking needs a process with no other thread, so
the analyses run in a fresh interpreter, not in the test runner."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import children

from sitload.services.simulation import simulate_to_recording

ANALYSES = """
import multiprocessing, pickle, sys
from sitload.analytics import AnalysisConfig
from sitload.services.analysis_workers import Analyses
workers, out, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
seen, later = [], set()

def progress(share):
    seen.append(share)
    later.update(p.pid for p in multiprocessing.active_children())

with Analyses(paths, AnalysisConfig(), workers) as analyses:
    forked = len(multiprocessing.active_children())
    found = analyses.collect(progress)
with open(out, "wb") as f:
    pickle.dump({"forked": forked, "later": len(later), "seen": seen, "found": found}, f)
"""

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("workers")
    return [simulate_to_recording(folder / f"{sensor}.sitload", scenario="desk-day",
                                  sensor=sensor, seed=seed, hours=1.5, faults=None)
            for seed, sensor in enumerate(("thigh-imu", "pressure", "hip-imu"), 3)]


def analysed(workers: int, paths: list[Path], out: Path) -> dict:
    subprocess.run([sys.executable, "-c", ANALYSES, str(workers), str(out), *map(str, paths)],
                   check=True, timeout=120)
    with out.open("rb") as f:
        return pickle.load(f)


def test_workers_give_each_recording_the_analyses_one_process_gives(recordings, tmp_path):
    """Three recordings with two workers (two decoded at once from the start, the third when the
    first is done) and in one process: every second's labels and values, the bouts, the
    decoding counts, gaps and notes are equal, in the order of the paths; the progress rises to
    1 over all of them."""
    alone = analysed(1, recordings, tmp_path / "alone.pickle")
    forked = analysed(2, recordings, tmp_path / "forked.pickle")
    assert (alone["forked"], forked["forked"]) == (0, 2)
    assert alone["later"] == 0      # one worker: no process decodes beside it
    assert forked["later"] == 3     # each recording decoded on a process of its own
    assert [len(r) for r in forked["found"]] == [1, 1, 1]
    for (one,), (other,), path in zip(alone["found"], forked["found"], recordings):
        assert other.path == str(path) and other.result.kind == one.result.kind
        a, b = one.result.seconds_with_data, other.result.seconds_with_data
        assert a.keys() == b.keys() and len(a["sec"]) > 5000
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert other.result.bouts == one.result.bouts and one.result.bouts
        assert (other.decode, other.gaps, other.note) == (one.decode, one.gaps, one.note)
    for seen in (alone["seen"], forked["seen"]):
        assert seen[-1] == 1.0 and len(seen) > 3
        assert all(b >= a for a, b in zip(seen, seen[1:]))


KILLED = """
import multiprocessing, sys
from sitload.analytics import AnalysisConfig
from sitload.errors import RecordingError
from sitload.services.analysis_workers import Analyses
with Analyses(sys.argv[1:], AnalysisConfig(), 2) as analyses:
    for child in multiprocessing.active_children():
        child.kill()
    try:
        analyses.collect()
    except RecordingError as exc:
        print(exc)
"""


def test_a_decoding_process_that_dies_fails_the_analyses_naming_its_recording(recordings):
    out = subprocess.run([sys.executable, "-c", KILLED, *map(str, recordings[:2])],
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == \
        f"{recordings[0]}: the process decoding it ended early (exit code -9)"


def test_ctrl_c_while_the_recordings_are_analysed_stops_the_report_and_its_workers(tmp_path):
    """`sitload report` decodes on other processes while it loads its libraries; Ctrl-C to the
    process group ends the command with its one line, and those processes with it."""
    week = simulate_to_recording(tmp_path / "week.sitload", scenario="desk-day",
                                 sensor="thigh-imu", seed=1, days=3)
    proc = subprocess.Popen([sys.executable, "-m", "sitload.cli", "report", str(week), "-o",
                             str(tmp_path / "report"), "--workers", "2"],
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        workers: list[str] = []
        deadline = time.monotonic() + 30
        while not workers and time.monotonic() < deadline:
            time.sleep(0.01)
            workers = children(proc.pid)
        assert workers, "no worker started"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        # the command's own exit code, or (seen now and then under the test runner, not from a
        # shell) its death by the SIGINT it handled: a shell reports 130 for both
        assert proc.returncode in (130, -signal.SIGINT), err
        assert err.endswith("sitload: interrupted\n") and "Traceback" not in err
        time.sleep(0.5)
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        assert not (tmp_path / "report" / "index.html").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
