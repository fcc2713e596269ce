"""Session recordings: one SQLite file (WAL mode) per session, documented in
docs/recording-format.md.

Frames are stored exactly as received, with the host receive time, in blocks of up to
``BLOCK_FRAMES`` frames a row, and committed every ``commit_every_s`` so a killed writer loses at
most that much; a reader of a file whose writer died reads every committed frame and says where it
stopped. Recordings of format version 1 (a row a frame) are read as well.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sitload.vocab import SensorKind
from sitload import __version__
from sitload.errors import RecordingError
from sitload.private_files import private_file
from sitload.sensor_ingest.frame_seals import (block_formed, block_seals, frame_ids,
                                               rows_read_back)
from sitload.sensor_ingest.joined_frames import JoinedFrames
from sitload.timestamps import EARLIEST, LATEST, plausible

if TYPE_CHECKING:    # pandas is imported where a table is read: the frames need none
    import pandas as pd

FORMAT_VERSION = 2
READABLE_VERSIONS = ("1", "2")     # version 1 held a row a frame (table ``frames``)
BLOCK_FRAMES = 4096                # frames a block row holds at most
APPLICATION_ID = 0x5174_4C44  # 'StLD' in the SQLite header: marks a sitload recording

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY, address TEXT NOT NULL, name TEXT, kind INTEGER NOT NULL,
    info TEXT NOT NULL DEFAULT '{}', config BLOB, calibration BLOB);
CREATE TABLE IF NOT EXISTS frame_blocks (
    id INTEGER PRIMARY KEY, device INTEGER NOT NULL REFERENCES devices(id),
    count INTEGER NOT NULL, first_time REAL NOT NULL, last_time REAL NOT NULL,
    host_times BLOB NOT NULL, lengths BLOB NOT NULL, data BLOB NOT NULL, seal INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS link_events (
    device INTEGER NOT NULL REFERENCES devices(id), host_time REAL NOT NULL,
    event TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS battery (
    device INTEGER NOT NULL REFERENCES devices(id), host_time REAL NOT NULL,
    percent INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS truth (
    device INTEGER NOT NULL REFERENCES devices(id), t REAL NOT NULL, posture TEXT NOT NULL,
    lean_deg REAL NOT NULL, lean_side TEXT NOT NULL, crossed TEXT NOT NULL,
    shifting INTEGER NOT NULL, occupied INTEGER NOT NULL, object_on_seat INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS diary (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, pain INTEGER NOT NULL, location TEXT, side TEXT,
    tingling INTEGER, note TEXT, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (
    id TEXT PRIMARY KEY, t REAL NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acks (
    prompt_id TEXT NOT NULL, t REAL NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS frame_blocks_by_device ON frame_blocks(device, id);
"""
DIARY_INSERT = ("INSERT INTO diary (t, pain, location, side, tingling, note, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)")
TRUTH_COLUMNS = ("t", "posture", "lean_deg", "lean_side", "crossed", "shifting", "occupied",
                 "object_on_seat")


@dataclass(frozen=True)
class DiaryRow:
    """One row of the diary table as stored (NULL: None)."""

    id: int
    t: float
    pain: int
    location: str | None
    side: str | None
    tingling: int | None
    note: str | None
    source: str


@dataclass(frozen=True)
class DeviceRecord:
    """One device of a recording: its row of the devices table."""

    id: int
    address: str
    name: str
    kind: SensorKind
    info: dict
    config: bytes | None
    calibration: bytes | None


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RecordingWriter:
    """Append-only writer. Use as a context manager; ``close()`` marks the file as cleanly closed."""

    def __init__(self, path: str | Path, *, meta: dict[str, str] | None = None,
                 commit_every_s: float = 1.0):
        self.path = Path(path)
        if self.path.exists():
            raise RecordingError(f"{self.path}: already exists; choose a new file")
        self.commit_every_s = commit_every_s
        try:
            private_file(self.path, new=True)    # health data, and so are its -wal and -shm
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:    # e.g. a missing or read-only folder
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise RecordingError(f"{self.path}: cannot create the recording ({why})") from None
        self._db.execute("BEGIN")
        self._last_commit = time.monotonic()
        self.frames_written = 0
        self._next_id = 1      # frames are numbered in the order they are written
        self._queued: dict[int, tuple[list[bytes], list[float]]] = {}
        base = {"format_version": str(FORMAT_VERSION), "created": _iso_now(),
                "writer": f"sitload {__version__}", "timezone": "UTC"}
        self.set_meta({**base, **(meta or {})})
        self.commit()

    def set_meta(self, values: dict[str, str]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(k, str(v)) for k, v in values.items()])

    def add_device(self, address: str, kind: SensorKind, *, name: str = "", info: dict | None = None,
                   config: bytes | None = None, calibration: bytes | None = None) -> int:
        cur = self._db.execute(
            "INSERT INTO devices (address, name, kind, info, config, calibration) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (address, name, int(kind), json.dumps(info or {}), config, calibration))
        self.commit()
        return int(cur.lastrowid)

    def add_frames(self, device: int, frames: Sequence[bytes], host_times: Sequence[float]) -> None:
        """Queue frames as received; they are written in blocks at the next commit, or as soon
        as a device has ``BLOCK_FRAMES`` of them."""
        queued, times = self._queued.setdefault(device, ([], []))
        queued.extend(frames)
        times.extend(np.asarray(host_times, dtype=np.float64).tolist())
        self.frames_written += len(frames)
        full = len(queued) - len(queued) % BLOCK_FRAMES
        for start in range(0, full, BLOCK_FRAMES):
            self._write_block(device, queued[start:start + BLOCK_FRAMES],
                              times[start:start + BLOCK_FRAMES])
        del queued[:full], times[:full]
        self._maybe_commit()

    def _write_block(self, device: int, frames: list[bytes], host_times: list[float]) -> None:
        joined = JoinedFrames.joined(frames)
        self._insert_block(self._next_id, device, np.array(host_times, dtype=np.float64),
                           joined.lengths, joined.data)
        self._next_id += len(frames)

    def _insert_block(self, first_id: int, device: int, times: np.ndarray, lengths: np.ndarray,
                      data: bytes) -> None:
        first, last = float(times.min()), float(times.max())
        seal = block_seals(np.array([first_id]), device, np.array([len(times)]),
                           np.array([first]), np.array([last]), times, lengths)
        self._db.execute("INSERT INTO frame_blocks (id, device, count, first_time, last_time, "
                         "host_times, lengths, data, seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (first_id, device, len(times), first, last,
                          times.astype("<f8").tobytes(), lengths.astype("<u4").tobytes(), data,
                          int(seal[0])))

    def _pack_blocks(self) -> None:
        """Join each device's runs of blocks of consecutive frames into blocks of up to
        ``BLOCK_FRAMES`` (a live recording writes a small one at each commit), so a reader
        steps through a row per ``BLOCK_FRAMES`` frames however the recording was made."""
        run: list[tuple[int, int, int]] = []    # (device, first frame id, count)
        frames = 0
        blocks = self._db.execute("SELECT device, id, count FROM frame_blocks "
                                  "ORDER BY device, id").fetchall()
        for device, first, count in [*blocks, (None, 0, 0)]:
            if run and (device != run[0][0] or first != run[-1][1] + run[-1][2]
                        or frames + count > BLOCK_FRAMES):
                if len(run) > 1:
                    self._join(run[0][0], run[0][1], run[-1][1])
                run, frames = [], 0
            run.append((device, first, count))
            frames += count

    def _join(self, device: int, first: int, last: int) -> None:
        """The blocks of ``device`` from id ``first`` to ``last`` as one."""
        where = "WHERE device = ? AND id BETWEEN ? AND ?"
        rows = self._db.execute(f"SELECT host_times, lengths, data FROM frame_blocks {where} "
                                "ORDER BY id", (device, first, last)).fetchall()
        self._db.execute(f"DELETE FROM frame_blocks {where}", (device, first, last))
        self._insert_block(first, device, np.frombuffer(b"".join(r[0] for r in rows), "<f8"),
                           np.frombuffer(b"".join(r[1] for r in rows), "<u4"),
                           b"".join(r[2] for r in rows))

    def _write_queued(self) -> None:
        for device, (frames, times) in self._queued.items():
            if frames:
                self._write_block(device, frames, times)
        self._queued.clear()

    def add_link_event(self, device: int, host_time: float, event: str, detail: str = "") -> None:
        self._db.execute("INSERT INTO link_events VALUES (?, ?, ?, ?)",
                         (device, host_time, event, detail))
        self._maybe_commit()

    def add_battery(self, device: int, host_time: float, percent: int) -> None:
        self._db.execute("INSERT INTO battery VALUES (?, ?, ?)", (device, host_time, percent))
        self._maybe_commit()

    def add_truth(self, device: int, truth: pd.DataFrame) -> None:
        rows = truth[list(TRUTH_COLUMNS)].itertuples(index=False)
        self._db.executemany("INSERT INTO truth VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             ((device, float(r[0]), r[1], float(r[2]), r[3], r[4], int(r[5]),
                               int(r[6]), int(r[7])) for r in rows))
        self._maybe_commit()

    def add_diary(self, t: float, pain: int, *, location: str | None = None,
                  side: str | None = None, tingling: bool | None = None, note: str | None = None,
                  source: str = "cli") -> int:
        """Store one symptom-diary entry (validated by the caller); returns its id."""
        cur = self._db.execute(DIARY_INSERT, (t, pain, location, side,
                                              None if tingling is None else int(tingling), note,
                                              source))
        self._maybe_commit()
        return int(cur.lastrowid)

    def add_prompt(self, prompt_id: str, t: float, kind: str, payload: dict) -> None:
        self._db.execute("INSERT OR IGNORE INTO prompts VALUES (?, ?, ?, ?)",
                         (prompt_id, t, kind, json.dumps(payload)))
        self._maybe_commit()

    def add_ack(self, prompt_id: str, t: float, action: str, detail: str = "") -> None:
        self._db.execute("INSERT INTO acks VALUES (?, ?, ?, ?)", (prompt_id, t, action, detail))
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        if time.monotonic() - self._last_commit >= self.commit_every_s:
            self.commit()

    def commit(self) -> None:
        self._write_queued()
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")
        self._last_commit = time.monotonic()

    def close(self) -> None:
        if self._db is None:
            return
        self._write_queued()
        self._pack_blocks()
        self.set_meta({"closed": _iso_now(), "frames": str(self.frames_written)})
        self._db.execute("COMMIT")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
        self._db = None

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _plausible(column: str) -> str:
    return f"{column} >= {EARLIEST!r} AND {column} < {LATEST!r}"


def _frames_in(row: tuple) -> int:
    """How many frames a block row that does not read back held, as well as it can tell: the
    larger of its count (when a block could hold that many) and its receive times."""
    count, times = row[1], row[4]
    sane = count if isinstance(count, int) and 0 < count <= BLOCK_FRAMES else 0
    return max(1, sane, len(times or b"") // 8)


class Recording:
    """Read access to a recording (also while a writer is still appending to it)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise RecordingError(f"{self.path}: a folder, not a recording")
        if not self.path.is_file():
            raise RecordingError(f"{self.path}: no such recording")
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        try:
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError:
            app_id = None
        if app_id != APPLICATION_ID:
            self._db.close()
            with self.path.open("rb") as f:
                sqlite = f.read(16) == b"SQLite format 3\x00"
            raise RecordingError(f"{self.path}: not a sitload recording" + (
                " (an SQLite file without the sitload mark: another database, or a copy cut "
                "short or made without its -wal file)" if sqlite else ""))
        try:
            self.meta = dict(self._db.execute("SELECT key, value FROM meta"))
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            self._db.close()
            wal = self.path.with_name(self.path.name + "-wal")
            hint = ("; a copy taken while the recording was written needs its -wal file "
                    f"({wal.name}) next to it" if "no such table" in str(exc) and not wal.exists()
                    else "")
            raise RecordingError(f"{self.path}: unreadable recording ({exc}){hint}") from None
        version = self.meta.get("format_version", "0")
        if version not in READABLE_VERSIONS:
            self._db.close()
            raise RecordingError(f"{self.path}: recording format version {version}, this sitload "
                                 f"reads versions {' and '.join(READABLE_VERSIONS)}")
        self._blocks = version != "1"
        try:
            self.devices = self._devices()
        except RecordingError:
            self._db.close()
            raise
        if not self.devices:
            raise RecordingError(f"{self.path}: recording holds no device")
        self.damage: str | None = None      # why reading the frames stopped early
        self.damaged_frames = 0              # frames left out: no bytes, a receive time outside
        self.first_damaged_frame: int | None = None   # 1970-2099, a broken seal, a malformed
        #                                               block, or read twice
        # version 1 rows carry a seal when the table has the column (blocks always do)
        self._sealed = not self._blocks and "seal" in (self._one(
            "the frame table", "SELECT group_concat(name) FROM pragma_table_info('frames')")[0]
            or "").split(",")

    def _devices(self) -> list[DeviceRecord]:
        devices = []
        try:
            rows = self._db.execute("SELECT id, address, name, kind, info, config, calibration "
                                    "FROM devices ORDER BY id").fetchall()
            for r in rows:
                try:
                    kind = SensorKind(r[3])
                except ValueError:
                    raise RecordingError(f"{self.path}: device {r[0]} has an unknown sensor kind "
                                         f"{r[3]!r} (damaged, or written by a newer sitload)") from None
                devices.append(DeviceRecord(r[0], r[1], r[2] or "", kind, json.loads(r[4]), r[5], r[6]))
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:    # UnicodeDecodeError too
            raise RecordingError(f"{self.path}: unreadable device table ({exc})") from None
        return devices

    @property
    def closed_cleanly(self) -> bool:
        return "closed" in self.meta

    def device(self, device_id: int | None = None) -> DeviceRecord:
        if device_id is None:
            return self.devices[0]
        for dev in self.devices:
            if dev.id == device_id:
                return dev
        raise RecordingError(f"{self.path}: no device {device_id}; it has "
                             f"{', '.join(str(d.id) for d in self.devices)}")

    def frame_summary(self, device_id: int) -> tuple[int, float | None]:
        """(number of frames, host time of the last one) for a device."""
        count, _, last, table = self._columns
        count, last = self._one("the frame count", f"SELECT {count}, MAX({last}) FROM {table} "
                                f"WHERE device = ? AND {_plausible(last)}", (device_id,))
        return int(count or 0), last

    def frame_rows(self, device_id: int) -> int:
        """A device's frames, whole or not: what reading them goes through (counted in the
        index alone in a version 1 recording, a fifth of the time of ``frame_summary``)."""
        count, _, _, table = self._columns
        return int(self._one("the frame count", f"SELECT {count} FROM {table} WHERE device = ?",
                             (device_id,))[0] or 0)

    def time_span(self, device_id: int) -> tuple[float, float] | None:
        """Host times of a device's first and last frame (None without frames)."""
        _, first, last, table = self._columns
        first, last = self._one("the time span", f"SELECT MIN({first}), MAX({last}) FROM {table} "
                                f"WHERE device = ? AND {_plausible(first)} AND {_plausible(last)}",
                                (device_id,))
        return None if first is None else (first, last)

    def stray_frames(self) -> int:
        """Frames of no device in the recording (a damaged device column)."""
        count, _, _, table = self._columns
        return int(self._one("the frame devices", f"SELECT {count} FROM {table} WHERE device NOT "
                             "IN (SELECT id FROM devices)")[0] or 0)

    @property
    def _columns(self) -> tuple[str, str, str, str]:
        """(frame count, first and last receive time, table) in SQL, as this version holds them."""
        if self._blocks:
            return "SUM(count)", "first_time", "last_time", "frame_blocks"
        return "COUNT(*)", "host_time", "host_time", "frames"

    def _one(self, what: str, sql: str, params=()) -> tuple:
        try:
            return self._db.execute(sql, params).fetchone()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise RecordingError(f"{self.path}: damaged, cannot read {what} ({exc})") from None

    def iter_frames(self, device_id: int, chunk: int = 4096
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, Sequence[bytes]]]:
        """Yield (frame ids, host times, frame bytes) in chunks of at most ``chunk`` frames, in
        arrival order (the bytes of a version 2 recording as ``JoinedFrames``).

        A damaged file is read up to the last frame that can be read; ``damage`` then says where
        reading stopped and why. Frames that do not read back as written are left out and counted
        in ``damaged_frames``.
        """
        pages = self._block_pages if self._blocks else self._row_pages
        for ids, times, frames in pages(device_id, chunk):
            for start in range(0, len(frames), chunk):
                yield (ids[start:start + chunk], times[start:start + chunk],
                       frames[start:start + chunk])

    def _row_pages(self, device_id: int, chunk: int
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, Sequence[bytes]]]:
        """The frames of a version 1 recording, a row a frame."""
        last = 0
        seal = "CAST(seal AS INTEGER)" if self._sealed else "NULL"
        while True:
            rows = self._page(f"SELECT id, CAST(host_time AS REAL), CAST(data AS BLOB), {seal} "
                              "FROM frames WHERE device = ? AND id > ? ORDER BY id LIMIT ?",
                              (device_id, last, chunk), last)
            if not rows:
                return
            ids, times, data, stored = zip(*rows)
            id_array = np.array(ids, dtype=np.int64)
            # a damaged index can hand a row out twice: ids must rise
            whole = (rows_read_back(id_array, times, data, stored, device_id, self._sealed)
                     & (id_array > np.maximum.accumulate(np.r_[last, id_array[:-1]])))
            last = max(last, int(id_array.max()))
            if not whole.all():
                self._left_out(int((~whole).sum()), ids[int(np.argmin(whole))])
                data = [data[i] for i in np.flatnonzero(whole).tolist()]
            yield id_array[whole], np.array(times, dtype=np.float64)[whole], list(data)

    def _block_pages(self, device_id: int, chunk: int
                     ) -> Iterator[tuple[np.ndarray, np.ndarray, JoinedFrames]]:
        """The frames of a version 2 recording, read a page of blocks at a time: about
        ``chunk`` frames, however many blocks that is (a live recording writes small ones)."""
        last_block = last_frame = 0
        per_page = 1
        while True:
            rows = self._page(
                "SELECT id, CAST(count AS INTEGER), CAST(first_time AS REAL), "
                "CAST(last_time AS REAL), CAST(host_times AS BLOB), CAST(lengths AS BLOB), "
                "CAST(data AS BLOB), CAST(seal AS INTEGER) FROM frame_blocks "
                "WHERE device = ? AND id > ? ORDER BY id LIMIT ?",
                (device_id, last_block, per_page), last_frame)
            if not rows:
                return
            last_block = max(last_block, max(row[0] for row in rows))
            blocks = self._sealed_blocks(rows, device_id)
            whole = []
            for row in blocks:    # a damaged index can hand a block out twice: ids must rise
                if row[0] > last_frame:
                    whole.append(row)
                    last_frame = row[0] + row[1] - 1
                else:
                    self._left_out(row[1], row[0])
            if not whole:
                continue
            per_page = max(1, chunk * len(whole) // sum(row[1] for row in whole))
            ids = frame_ids([row[0] for row in whole], [row[1] for row in whole])
            times = np.frombuffer(b"".join(row[4] for row in whole), dtype="<f8")
            frames = JoinedFrames.of(b"".join(row[6] for row in whole),
                                     np.frombuffer(b"".join(row[5] for row in whole), dtype="<u4"))
            known = plausible(times)
            if not known.all():
                self._left_out(int((~known).sum()), int(ids[np.argmin(known)]))
            yield ids[known], times[known], frames[known]

    def _sealed_blocks(self, rows: list[tuple], device_id: int) -> list[tuple]:
        """The block rows of a page that read back as written: each column there, the sizes
        agreeing with the frame count, and the seal; the others are counted as left out."""
        formed, failed = [], []
        for row in rows:
            (formed if block_formed(row) else failed).append(row)
        passed = []
        if formed:
            counts = np.array([row[1] for row in formed], dtype=np.int64)
            lengths = np.frombuffer(b"".join(row[5] for row in formed), dtype="<u4")
            sealed = (block_seals(
                np.array([row[0] for row in formed], dtype=np.int64), device_id, counts,
                np.array([row[2] for row in formed]), np.array([row[3] for row in formed]),
                np.frombuffer(b"".join(row[4] for row in formed), dtype="<f8"), lengths)
                == np.array([row[7] for row in formed], dtype=np.int64))
            sized = (np.add.reduceat(lengths.astype(np.int64), np.cumsum(counts) - counts)
                     == np.array([len(row[6]) for row in formed]))
            passed = (sealed & sized).tolist()
        failed += [row for row, ok in zip(formed, passed) if not ok]
        for row in failed:
            self._left_out(_frames_in(row), row[0])
        return [row for row, ok in zip(formed, passed) if ok]

    def _page(self, sql: str, params: tuple, last: int) -> list[tuple]:
        """One page of frame rows; none where SQLite cannot read on (``damage`` says where)."""
        try:   # casts: a damaged type tag must not make the row unreadable (a TEXT not UTF-8)
            return self._db.execute(sql, params).fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            self.damage = f"damaged after frame {last} ({exc})"
            return []

    def _left_out(self, frames: int, first: int) -> None:
        self.damaged_frames += frames
        if self.first_damaged_frame is None or first < self.first_damaged_frame:
            self.first_damaged_frame = first

    def _frame(self, sql: str, params=()) -> pd.DataFrame:
        import pandas as pd

        try:
            return pd.read_sql_query(sql, self._db, params=params)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError, UnicodeDecodeError) as exc:
            table = sql.split(" FROM ")[1].split()[0]
            raise RecordingError(f"{self.path}: damaged, cannot read its {table} table "
                                 f"({exc.__cause__ or exc})") from None

    def truth(self, device_id: int) -> pd.DataFrame:
        df = self._frame("SELECT * FROM truth WHERE device = ? ORDER BY t", (device_id,))
        return df.drop(columns="device").astype({"shifting": bool, "occupied": bool,
                                                 "object_on_seat": bool})

    def link_events(self, device_id: int) -> pd.DataFrame:
        return self._frame("SELECT host_time, event, detail FROM link_events WHERE device = ? "
                           "ORDER BY host_time", (device_id,))

    def battery(self, device_id: int) -> pd.DataFrame:
        return self._frame("SELECT host_time, percent FROM battery WHERE device = ? "
                           "ORDER BY host_time", (device_id,))

    def diary(self) -> pd.DataFrame:
        return self._frame("SELECT * FROM diary ORDER BY t")

    def diary_rows(self) -> list[DiaryRow]:
        """The diary, oldest first, as rows (no table library needed)."""
        try:
            return [DiaryRow(*row) for row in self._db.execute(
                "SELECT id, t, pain, location, side, tingling, note, source FROM diary "
                "ORDER BY t")]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise RecordingError(f"{self.path}: damaged, cannot read its diary table "
                                 f"({exc})") from None

    def prompts(self) -> pd.DataFrame:
        return self._frame("SELECT * FROM prompts ORDER BY t")

    def acks(self) -> pd.DataFrame:
        return self._frame("SELECT * FROM acks ORDER BY t")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def append_diary(path: str | Path, t: float, pain: int, *, location: str | None = None,
                 side: str | None = None, tingling: bool | None = None, note: str | None = None,
                 source: str = "cli") -> int:
    """Add one (validated) diary entry to an existing recording, closed or still being written;
    returns its id."""
    with Recording(path) as rec:
        try:
            with rec._db:
                cur = rec._db.execute(DIARY_INSERT, (t, pain, location, side,
                                                     None if tingling is None else int(tingling),
                                                     note, source))
        except sqlite3.DatabaseError as exc:
            raise RecordingError(f"{rec.path}: cannot store the diary entry ({exc})") from None
        return int(cur.lastrowid)
