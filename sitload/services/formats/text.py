"""The text of a foreign file (plain, gzip-compressed or a member of a zip export): its first lines,
to read a header block or sniff a format, and its rows as text cells with their line numbers."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sitload.errors import ImportDataError
from sitload.services.importers import GZIP_MAGIC

ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Text:
    """A file's text and the name errors give it (``export.zip:Gravity.csv`` for a member)."""

    where: Path
    body: str

    def lines(self, n: int) -> list[str]:
        """The first ``n`` lines (fewer in a shorter file)."""
        stream = io.StringIO(self.body)
        return [line.rstrip("\r\n") for line in (stream.readline() for _ in range(n)) if line]

    def names(self) -> list[str]:
        """The first line's names, as ``cells`` gives them."""
        head = self.lines(1)
        return cells(head[0]) if head else []

    def table(self, skip: int, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows after the first ``skip`` lines as text cells (columns numbered from 0,
        surrounding quotes removed) and each row's line number; blank lines are dropped."""
        try:
            rows = pd.read_csv(io.StringIO(self.body), sep=sep, header=None, skiprows=skip,
                               dtype=str, keep_default_na=False, skip_blank_lines=False,
                               index_col=False)
        except (ValueError, pd.errors.ParserError) as exc:
            raise ImportDataError(f"{self.where}: cannot read CSV ({str(exc).splitlines()[0]})"
                                  ) from None
        line = np.arange(len(rows)) + skip + 1
        used = ~(rows.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
        if not used.any():
            raise ImportDataError(f"{self.where}: no rows after line {skip}")
        return rows[used].reset_index(drop=True), line[used]


def separator(line: str) -> str:
    """Semicolon or tab where the line has one (decimal commas then are no separators), else
    comma."""
    return next((s for s in ";\t" if s in line), ",")


def cells(line: str) -> list[str]:
    """A header line's names, trimmed, unquoted and in lower case."""
    return [c.strip().strip('"').strip().lower() for c in line.split(separator(line))]


def decode(data: bytes) -> str:
    """UTF-16 with a BOM, else UTF-8 (BOM or not; undecodable bytes replaced)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def file_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when gzip-compressed."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportDataError(f"{path}: cannot read ({exc})") from None


def load(path: Path) -> Text:
    return Text(path, decode(file_bytes(path)))


def is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == ZIP_MAGIC
    except OSError:
        return False


def zip_members(path: Path) -> dict[str, str]:
    """Member names of a zip by their lower-case path (folders kept), to look them up."""
    try:
        with zipfile.ZipFile(path) as z:
            return {n.lower(): n for n in z.namelist() if not n.endswith("/")}
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportDataError(f"{path}: cannot read the zip ({exc})") from None


def load_member(path: Path, member: str) -> Text:
    try:
        with zipfile.ZipFile(path) as z:
            return Text(Path(f"{path}:{member}"), decode(z.read(member)))
    except (OSError, zipfile.BadZipFile, zlib.error) as exc:
        raise ImportDataError(f"{path}: cannot read {member} ({exc})") from None
