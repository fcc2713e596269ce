"""A device's frames decoded and its per-second features made on a forked process
(services.read_ahead): the same features bit for bit in the same blocks, the same progress, and
the decoder's counts, gaps and the recording's damage back on the replay, from lossy and damaged
recordings of both sensor families. Forking needs a process with no other thread, so the replays
run in a fresh interpreter, not in the test runner."""

from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sitload.firmware_sim import Faults
from sitload.services.simulation import simulate_to_recording

REPLAYS = """
import multiprocessing, pickle, sys
from sitload.analytics import AnalysisConfig
from sitload.analytics.seconds import second_features
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay
from sitload.services import read_ahead
out, paths = sys.argv[1], sys.argv[2:]
config, found = AnalysisConfig(), []
for path in paths:
    runs = []
    for ahead in (False, True):
        with Recording(path) as rec:
            replay, seen, forked = DeviceReplay.of(rec), [], set()
            source = read_ahead.FeaturesAhead(path, replay.device.id, config).take(
                replay, seen.append) if ahead else \\
                second_features(replay.device.kind, replay.batches(progress=seen.append), config)
            blocks = []
            for cols in source:
                blocks.append(cols)
                forked |= {p.pid for p in multiprocessing.active_children()}
            runs.append({"blocks": blocks, "seen": seen, "forked": len(forked),
                         "stats": replay.decoder.stats, "gaps": replay.decoder.gaps,
                         "note": replay.note})
    found.append(runs)
with open(out, "wb") as f:
    pickle.dump(found, f)
"""

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forked on Linux only")


def damaged(path: Path) -> Path:
    """``path`` with its second frame block's seal broken: the block is left out and named."""
    db = sqlite3.connect(path)
    db.execute("UPDATE frame_blocks SET seal = seal + 1 WHERE id = "
               "(SELECT id FROM frame_blocks ORDER BY id LIMIT 1 OFFSET 1)")
    db.commit()
    db.close()
    return path


def test_read_ahead_gives_the_replays_features_counts_and_notes(tmp_path):
    lossy = Faults(drop_rate=0.05)
    paths = [simulate_to_recording(tmp_path / "thigh.sitload", scenario="desk-day",
                                   sensor="thigh-imu", seed=5, hours=1.0, faults=lossy),
             simulate_to_recording(tmp_path / "mat.sitload", scenario="desk-day",
                                   sensor="pressure", seed=6, hours=0.5, faults=lossy),
             damaged(simulate_to_recording(tmp_path / "hip.sitload", scenario="desk-day",
                                           sensor="hip-imu", seed=7, hours=1.0))]
    out = tmp_path / "found.pickle"
    subprocess.run([sys.executable, "-c", REPLAYS, str(out), *map(str, paths)], check=True,
                   timeout=300)
    with out.open("rb") as f:
        found = pickle.load(f)
    for path, (here, ahead) in zip(paths, found):
        assert (here["forked"], ahead["forked"]) == (0, 1), path.name
        assert len(ahead["blocks"]) == len(here["blocks"]) > 1
        for a, b in zip(here["blocks"], ahead["blocks"]):
            assert list(a) == list(b)
            for name, x in a.items():
                y = b[name]
                assert x.dtype == y.dtype and x.shape == y.shape
                assert x.tobytes() == y.tobytes(), name
        assert ahead["seen"] == here["seen"] and here["seen"]
        assert (ahead["stats"], ahead["gaps"], ahead["note"]) == \
            (here["stats"], here["gaps"], here["note"])
    thigh, mat, hip = (here for here, _ in found)
    assert thigh["stats"].missing_frames > 0 and thigh["gaps"]
    assert mat["stats"].missing_frames > 0
    assert "unreadable frame(s) from frame" in hip["note"]
    assert thigh["seen"][-1] == mat["seen"][-1] == 1.0 > hip["seen"][-1]    # a block left out
    assert sum(b["n"].sum() for b in thigh["blocks"]) == pytest.approx(
        3600 * 50 * (1 - 0.05), rel=0.02)
    assert np.all(np.diff(np.concatenate([b["sec"] for b in thigh["blocks"]])) > 0)


KILLED = """
import multiprocessing, sys
from sitload.analytics import AnalysisConfig
from sitload.errors import RecordingError
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay
from sitload.services import read_ahead
with Recording(sys.argv[1]) as rec:
    replay = DeviceReplay.of(rec)
    blocks = read_ahead.FeaturesAhead(sys.argv[1], replay.device.id, AnalysisConfig()).take(
        replay)
    next(blocks)
    for child in multiprocessing.active_children():
        child.kill()
    try:
        for _ in blocks:
            pass
    except RecordingError as exc:
        print(exc)
"""


def test_a_decoding_process_that_dies_fails_the_replay_naming_the_recording(tmp_path):
    path = simulate_to_recording(tmp_path / "day.sitload", scenario="desk-day",
                                 sensor="thigh-imu", seed=2, hours=8.0)
    out = subprocess.run([sys.executable, "-c", KILLED, str(path)], capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.strip() == (f"{path}: the process decoding it ended early "
                                  "(exit code -9)")


ORPHANS = """
import os, sys, time
from sitload.analytics import AnalysisConfig
from sitload.services.read_ahead import FeaturesAhead
started = [FeaturesAhead(path, 1, AnalysisConfig()) for path in sys.argv[1:]]
print(" ".join(str(s._proc.pid) for s in started), flush=True)
time.sleep(60)
"""


def test_decoding_processes_end_when_the_command_is_killed(tmp_path):
    """Two decoding processes started, their features not taken, the command killed: each sees
    its reader gone and ends (the second, forked later, holds a copy of the first's reading end
    until it ends itself)."""
    paths = [simulate_to_recording(tmp_path / f"{i}.sitload", scenario="desk-day",
                                   sensor="thigh-imu", seed=i, hours=1.0) for i in (1, 2)]
    proc = subprocess.Popen([sys.executable, "-c", ORPHANS, *map(str, paths)],
                            stdout=subprocess.PIPE, text=True)
    pids = [int(pid) for pid in proc.stdout.readline().split()]
    assert len(pids) == 2
    time.sleep(1.0)     # both have made the features they may make ahead, and wait
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(map(running, pids)):
        time.sleep(0.1)
    assert not [pid for pid in pids if running(pid)]


def running(pid: int) -> bool:
    """Whether ``pid`` runs (an ended process not yet reaped is a zombie, state Z)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
