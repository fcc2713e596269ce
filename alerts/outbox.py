"""The durable outbox: prompts raised are kept in SQLite until the broker has them (or they expire)."""

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from sitload.errors import SitloadError
from sitload.private_files import private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,       -- prompt id: adding the same prompt twice is a no-op
    payload TEXT NOT NULL,     -- the alert JSON as published
    created REAL NOT NULL,
    expires REAL NOT NULL,
    state TEXT NOT NULL,       -- 'pending' | 'delivered' | 'expired'
    done_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, created);
"""
_KEEP_DONE_S = 7 * 86400.0


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    payload: str
    created: float
    expires: float


class Outbox:
    """A thread-safe SQLite outbox (WAL; every change committed at once, so a crash loses nothing).

    Prompts are health data: the file is private to the user (0600, and so are SQLite's -wal and
    -shm files, which take its mode); an outbox an older version left readable to others is made
    private when opened. A file that cannot be opened is a SitloadError naming it."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        try:
            private_file(Path(path))
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise SitloadError(f"{path}: cannot open the prompt outbox ({why})") from None

    def add(self, entry: OutboxEntry) -> bool:
        """Queue an entry; False when that id was queued before (pending, delivered or expired)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (id, payload, created, expires, state) VALUES (?, ?, ?, ?, 'pending')",
                (entry.id, entry.payload, entry.created, entry.expires))
            return cur.rowcount == 1

    def pending(self) -> list[OutboxEntry]:
        """Entries not yet delivered, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, payload, created, expires FROM outbox WHERE state = 'pending' ORDER BY created").fetchall()
        return [OutboxEntry(*row) for row in rows]

    def mark(self, entry_id: str, state: str, at: float) -> None:
        """Set a pending entry's final state ('delivered' or 'expired')."""
        with self._lock:
            self._db.execute("UPDATE outbox SET state = ?, done_at = ? WHERE id = ? AND state = 'pending'",
                             (state, at, entry_id))

    def state(self, entry_id: str) -> str | None:
        return self.outcome(entry_id)[0]

    def outcome(self, entry_id: str) -> tuple[str | None, float | None]:
        """An entry's state and when it reached it (None, None for an id never queued)."""
        with self._lock:
            row = self._db.execute("SELECT state, done_at FROM outbox WHERE id = ?", (entry_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def prune(self, now: float) -> None:
        """Forget delivered/expired entries older than a week (their ids no longer dedupe)."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE state != 'pending' AND done_at < ?", (now - _KEEP_DONE_S,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
