"""Recordings: round trip, refusal of foreign files, and survival of a writer killed mid-write."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from sitload.firmware_sim.frame_encoder import encode_imu_frames
from sitload.sensor_ingest import recording
from sitload.sensor_ingest.frame_seals import block_seals
from sitload.sensor_ingest.recording import Recording, RecordingWriter
from sitload.sensor_ingest.replay import describe_end, replay_batches
from sitload.vocab import SensorKind
from sitload.errors import RecordingError
from recording_v1 import as_version_1

T0 = 1_772_438_400.0


def _frames(n):
    accel = np.tile([1.0, 0.0, 0.0], (n, 10, 1))
    ticks = np.round(np.arange(n) * 6553.6).astype(np.int64)
    return encode_imu_frames(1, np.arange(n), ticks, 0, accel, None, 500)


def test_round_trip_of_frames_truth_and_events(tmp_path):
    path = tmp_path / "a.sitload"
    frames = _frames(30)
    truth = pd.DataFrame({"t": [T0, T0 + 1], "posture": ["standing", "sitting"],
                          "lean_deg": [0.0, 7.5], "lean_side": ["none", "left"],
                          "crossed": ["none", "right"], "shifting": [False, True],
                          "occupied": [False, True], "object_on_seat": [False, False]})
    with RecordingWriter(path, meta={"timezone": "Europe/Oslo"}) as w:
        dev = w.add_device("F0:00:00:00:00:01", SensorKind.THIGH_IMU, name="sitload-thigh-0001",
                           info={"model": "sitload-thigh"})
        w.add_frames(dev, frames, [T0 + 0.2 * i for i in range(30)])
        w.add_truth(dev, truth)
        w.add_battery(dev, T0, 97)
        w.add_link_event(dev, T0, "connected")
    with Recording(path) as rec:
        assert rec.closed_cleanly and rec.meta["timezone"] == "Europe/Oslo"
        d = rec.device()
        assert (d.kind, d.name, d.info) == (SensorKind.THIGH_IMU, "sitload-thigh-0001",
                                            {"model": "sitload-thigh"})
        stored = [f for _, _, chunk in rec.iter_frames(d.id, chunk=7) for f in chunk]
        assert stored == frames
        pd.testing.assert_frame_equal(rec.truth(d.id), truth)
        assert rec.battery(d.id)["percent"].tolist() == [97]
        assert describe_end(rec) is None
        samples = sum(len(b) for b in replay_batches(rec))
        assert samples == 300


def test_existing_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "x.sitload").write_bytes(b"")
    with pytest.raises(RecordingError, match="already exists"):
        RecordingWriter(tmp_path / "x.sitload")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (a)").connection.commit()
    with pytest.raises(RecordingError, match=r"not a sitload recording \(an SQLite file without "
                                             r"the sitload mark: another database, or a copy"):
        Recording(other)
    (tmp_path / "notes.txt").write_text("time,ax\n")
    with pytest.raises(RecordingError, match=r"notes.txt: not a sitload recording$"):
        Recording(tmp_path / "notes.txt")
    with pytest.raises(RecordingError, match="no such recording"):
        Recording(tmp_path / "missing.sitload")
    with pytest.raises(RecordingError, match="a folder, not a recording"):
        Recording(tmp_path)


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from sitload.firmware_sim.frame_encoder import encode_imu_frames
    from sitload.sensor_ingest.recording import RecordingWriter
    from sitload.vocab import SensorKind
    w = RecordingWriter(sys.argv[1], commit_every_s=0.05)
    dev = w.add_device("F0:00:00:00:00:02", SensorKind.THIGH_IMU)
    accel = np.tile([0.0, 0.0, 1.0], (1, 10, 1))
    for i in range(10**6):
        frame = encode_imu_frames(1, i, round(i * 6553.6), 0, accel, None, 500)[0]
        w.add_frames(dev, [frame], [1772438400.0 + 0.2 * i])
        if i == 200:
            print("ready", flush=True)
        time.sleep(0.0005)
""")


def test_a_writer_killed_mid_write_leaves_every_committed_frame_readable(tmp_path):
    path = tmp_path / "killed.sitload"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, cwd=os.getcwd())
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Recording(path) as rec:
        assert not rec.closed_cleanly
        batches = list(replay_batches(rec))
        count, last = rec.frame_summary(rec.device().id)
        note = describe_end(rec)
    assert count > 200
    assert sum(len(b) for b in batches) == count * 10  # every stored frame is whole
    assert batches and not any(b.missing_frames for b in batches)
    assert f"read {count} whole frames" in note and "writer stopped" in note


def test_a_recording_is_private_to_its_user(tmp_path):
    """Recordings hold health data (pain notes, sitting): 0600, and so are their -wal files."""
    path = tmp_path / "day.sitload"
    with RecordingWriter(path) as rec:
        rec.add_device("aa:bb", SensorKind.THIGH_IMU)
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and (wal.stat().st_mode & 0o777) == 0o600
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_copy_without_its_wal_and_an_unknown_sensor_kind_are_named(tmp_path):
    """A copy of the main file taken while the writer runs holds no table yet: the error names
    the missing -wal file. A device whose kind this sitload does not know is named, not a
    traceback."""
    path = tmp_path / "live.sitload"
    with RecordingWriter(path) as writer:
        dev = writer.add_device("F0:00:00:00:00:03", SensorKind.THIGH_IMU)
        writer.add_frames(dev, _frames(5), T0 + 0.2 * np.arange(5))
        copy = tmp_path / "copy.sitload"
        copy.write_bytes(path.read_bytes())
    with pytest.raises(RecordingError, match=r"copy.sitload: unreadable recording \(no such table: "
                                             r"meta\); .* needs its -wal file \(copy.sitload-wal\)"):
        Recording(copy)
    db = sqlite3.connect(path)
    db.execute("UPDATE devices SET kind = 9")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match=r"live.sitload: device 1 has an unknown sensor kind 9"):
        Recording(path)


@pytest.mark.parametrize("damage, why", [
    ("UPDATE frames SET host_time = host_time + 1e-6 WHERE id = 5", "broken seal"),
    ("UPDATE frames SET host_time = 224554.1 WHERE id = 5", "broken seal"),
    ("UPDATE frames SET host_time = 1e300 WHERE id = 5", "outside 1970-2099"),
    ("UPDATE frames SET seal = NULL WHERE id = 5", "broken seal"),
    ("UPDATE frames SET host_time = 'x' || CAST(host_time AS TEXT) WHERE id = 5", "broken seal"),
    ("UPDATE frames SET seal = seal + 1 WHERE id = 5", "broken seal"),
])
def test_a_frame_row_of_version_1_that_does_not_read_back_as_written_is_left_out_and_named(
        tmp_path, damage, why):
    """A version 1 recording (a row a frame) is still read. Each frame row carries a seal over its
    id, device and receive time (its bytes have the device's CRC): a changed receive time, even
    by a microsecond, is seen, not analysed."""
    path = tmp_path / "day.sitload"
    with RecordingWriter(path) as writer:
        dev = writer.add_device("F0:00:00:00:00:04", SensorKind.THIGH_IMU)
        writer.add_frames(dev, _frames(20), T0 + 0.2 * np.arange(20))
    as_version_1(path)
    with Recording(path) as rec:
        assert [f for _, _, chunk in rec.iter_frames(dev) for f in chunk] == _frames(20)
    _damage(path, damage)
    with Recording(path) as rec:
        frames = [i for ids, _, _ in rec.iter_frames(dev) for i in ids]
        assert frames == [i for i in range(1, 21) if i != 5]
        assert (rec.damaged_frames, rec.first_damaged_frame) == (1, 5)
        assert rec.frame_rows(dev) == 20    # every row reading goes through, for its progress
    note = _replay_note(path)
    assert "damaged data left out: 1 unreadable frame(s) from frame 5" in note and why in note


def _three_blocks(path, monkeypatch):
    """A recording of 30 frames in three blocks (ids 1, 11 and 21) of one device (blocks of up
    to 10 frames: closing joins no two of them)."""
    monkeypatch.setattr(recording, "BLOCK_FRAMES", 10)
    with RecordingWriter(path) as writer:
        dev = writer.add_device("F0:00:00:00:00:04", SensorKind.THIGH_IMU)
        for i in range(3):
            writer.add_frames(dev, _frames(30)[10 * i:10 * i + 10],
                              T0 + 0.2 * np.arange(10 * i, 10 * i + 10))
            writer.commit()
    return dev


def _damage(path, sql, *params):
    db = sqlite3.connect(path)
    db.execute(sql, params)
    db.commit()
    db.close()


def _replay_note(path) -> str:
    from sitload.sensor_ingest.replay import DeviceReplay

    with Recording(path) as rec:
        replay = DeviceReplay.of(rec)
        list(replay.batches())
        return replay.note


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1:]


@pytest.mark.parametrize("column, change", [
    ("first_time", lambda v: v + 1e-6), ("last_time", lambda v: v - 1.0),
    ("count", lambda v: v - 1), ("seal", lambda v: v + 1), ("seal", lambda v: "x"),
    ("host_times", lambda v: _flip(v, 44)), ("lengths", lambda v: _flip(v, 8)),
    ("host_times", lambda v: v[:-8]), ("data", lambda v: v[:-1]), ("data", lambda v: v + b"x"),
    ("id", lambda v: 9),
])
def test_a_frame_block_that_does_not_read_back_as_written_is_left_out_and_named(
        tmp_path, monkeypatch, column, change):
    """A block's seal binds its first frame id, count, time span and every frame's receive time
    and length; its bytes must add up to the lengths. A block that fails is left out whole, its
    frames counted, and the blocks around it are read."""
    path = tmp_path / "day.sitload"
    dev = _three_blocks(path, monkeypatch)
    with Recording(path) as rec:
        assert rec._blocks and rec.frame_rows(dev) == 30
        assert rec.time_span(dev) == (T0, T0 + 0.2 * 29)
    db = sqlite3.connect(path)
    (value,) = db.execute(f"SELECT {column} FROM frame_blocks WHERE id = 11").fetchone()
    db.close()
    _damage(path, f"UPDATE frame_blocks SET {column} = ? WHERE id = 11", change(value))
    with Recording(path) as rec:
        ids = [i for ids, _, _ in rec.iter_frames(dev, chunk=4) for i in ids]
        assert ids == [*range(1, 11), *range(21, 31)]
        assert (rec.damaged_frames, rec.first_damaged_frame) == (10, 9 if column == "id" else 11)
    assert "10 unreadable frame(s) from frame" in _replay_note(path)


def test_a_frame_of_a_block_received_at_an_impossible_time_is_left_out_alone(tmp_path,
                                                                             monkeypatch):
    """A receive time outside 1970-2099 (a host clock gone wrong) leaves out that frame only."""
    path = tmp_path / "day.sitload"
    dev = _three_blocks(path, monkeypatch)
    db = sqlite3.connect(path)
    count, first, last, times, lengths = db.execute(
        "SELECT count, first_time, last_time, host_times, lengths FROM frame_blocks "
        "WHERE id = 11").fetchone()
    db.close()
    times = np.frombuffer(times, "<f8").copy()
    times[3] = 1e300
    seal = block_seals(np.array([11]), dev, np.array([count]), np.array([first]),
                       np.array([last]), times, np.frombuffer(lengths, "<u4"))
    _damage(path, "UPDATE frame_blocks SET host_times = ?, seal = ? WHERE id = 11",
            times.tobytes(), int(seal[0]))
    with Recording(path) as rec:
        ids = [i for ids, _, _ in rec.iter_frames(dev) for i in ids]
        assert ids == [i for i in range(1, 31) if i != 14]
        assert (rec.damaged_frames, rec.first_damaged_frame) == (1, 14)
    assert "1 unreadable frame(s) from frame 14" in _replay_note(path)


def test_frames_of_no_device_and_version_1_recordings_without_seals(tmp_path, monkeypatch):
    path = tmp_path / "day.sitload"
    with RecordingWriter(path) as writer:
        dev = writer.add_device("F0:00:00:00:00:05", SensorKind.THIGH_IMU)
        writer.add_frames(dev, _frames(10), T0 + 0.2 * np.arange(10))
    as_version_1(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE frames SET device = 7 WHERE id = 3")
    db.execute("ALTER TABLE frames DROP COLUMN seal")    # as recordings before seals were
    db.commit()
    db.close()
    from sitload.sensor_ingest.replay import DeviceReplay

    with Recording(path) as rec:
        replay = DeviceReplay.of(rec)
        assert sum(len(b) for b in replay.batches()) == 9 * 10
        assert rec.damaged_frames == 0 and rec.stray_frames() == 1
        assert "1 frame(s) of no device in the recording" in replay.note
    path = tmp_path / "blocks.sitload"
    _three_blocks(path, monkeypatch)
    _damage(path, "UPDATE frame_blocks SET device = 7 WHERE id = 21")
    assert "10 frame(s) of no device in the recording" in _replay_note(path)


def test_closing_joins_a_live_recordings_small_blocks(tmp_path, monkeypatch):
    """A live recording writes a block of each device at each commit; closing it joins each
    device's runs of consecutive frames into blocks of up to BLOCK_FRAMES (16 here): the same
    frames, ids and times, in fewer rows. Blocks of two devices taking turns stay apart."""
    monkeypatch.setattr(recording, "BLOCK_FRAMES", 16)
    path = tmp_path / "live.sitload"
    frames, times = _frames(60), T0 + 0.2 * np.arange(60)
    with RecordingWriter(path) as writer:
        thigh = writer.add_device("F0:00:00:00:00:06", SensorKind.THIGH_IMU)
        hip = writer.add_device("F0:00:00:00:00:07", SensorKind.HIP_IMU)
        for i in range(0, 60, 5):    # thigh alone for 40 frames, then the two take turns
            writer.add_frames(thigh if i < 40 or i % 10 == 0 else hip, frames[i:i + 5],
                              times[i:i + 5])
            writer.commit()
    db = sqlite3.connect(path)
    blocks = db.execute("SELECT device, id, count FROM frame_blocks ORDER BY id").fetchall()
    db.close()
    assert blocks == [(thigh, 1, 15), (thigh, 16, 15), (thigh, 31, 15), (hip, 46, 5),
                      (thigh, 51, 5), (hip, 56, 5)]
    with Recording(path) as rec:
        read = {dev: [(int(i), float(t), f) for ids, ts, fs in rec.iter_frames(dev)
                      for i, t, f in zip(ids, ts, fs)] for dev in (thigh, hip)}
    order = [k for k in range(60) if k < 40 or k // 5 % 2 == 0]
    assert read[thigh] == [(k + 1, times[k], frames[k]) for k in order]
    assert read[hip] == [(k + 1, times[k], frames[k]) for k in range(60) if k not in order]
