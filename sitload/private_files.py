"""Files and folders private to the user: what holds health data is created 0600 / 0700, and one
an older version left open to others is closed when sitload opens it (the ground floor)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def private_file(path: Path, *, new: bool = False) -> Path:
    """``path`` as a file only its owner may read and write: created 0600 when missing (empty),
    group and other access taken off an existing one; with ``new``, FileExistsError when it
    exists. SQLite gives its -wal and -shm files the mode of the database, so a database opened
    after this is private with them."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | (os.O_EXCL if new else 0), 0o600))
    return _close_to_others(path)


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter: created 0700 when missing (missing parents
    get the usual mode), group and other access taken off an existing one."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return _close_to_others(path)


def _close_to_others(path: Path) -> Path:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(mode & 0o700)
    return path
