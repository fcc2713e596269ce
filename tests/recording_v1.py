"""Version 1 recordings (a row a frame), as sitload wrote them before frame blocks: made from a
version 2 recording by moving its frames into rows, so the tests can check they are still read."""

import sqlite3
from pathlib import Path

from sitload.sensor_ingest.frame_seals import seals
from sitload.sensor_ingest.recording import Recording


def as_version_1(path: Path) -> None:
    """Rewrite the recording at ``path`` in place as format version 1."""
    with Recording(path) as rec:
        rows = [(int(i), dev.id, float(t), f, int(s))
                for dev in rec.devices
                for ids, times, frames in rec.iter_frames(dev.id)
                for i, t, f, s in zip(ids, times, frames, seals(ids, dev.id, times))]
    db = sqlite3.connect(path)
    db.executescript("""
        DROP TABLE frame_blocks;
        CREATE TABLE frames (
            id INTEGER PRIMARY KEY, device INTEGER NOT NULL REFERENCES devices(id),
            host_time REAL NOT NULL, data BLOB NOT NULL, seal INTEGER);
        CREATE INDEX frames_by_device ON frames(device, id);
        UPDATE meta SET value = '1' WHERE key = 'format_version';
    """)
    db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
