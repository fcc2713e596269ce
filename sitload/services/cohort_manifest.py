"""The cohort's manifest, ``OUT/manifest.json``: which recording was analysed from which state of
its file and with which settings, what it wrote, and each patient's flare analysis, so that a
re-run skips what is up to date (docs/cohort.md)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sitload import __version__
from sitload.analytics import AnalysisConfig
from sitload.analytics.flares import FlareConfig
from sitload.errors import ConfigError
from sitload.services.cohort_dataset import RecordingRows

SCHEMA = "sitload.cohort-manifest/1"
NAME = "manifest.json"


def fingerprint(path: str | Path, config: AnalysisConfig) -> str:
    """The state a recording's rows depend on: size and modification time of the file and of
    its -wal file (a recording still being written grows there), the analysis settings and the
    sitload version."""
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    parts = [(p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else None
             for p in (path, wal)]
    return digest([parts, asdict(config), __version__])


def flare_inputs(fingerprints: list[str], config: FlareConfig) -> str:
    """The state a patient's flare analysis depends on: their recordings' and the settings."""
    return digest([sorted(fingerprints), asdict(config)])


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PatientFlares:
    """A patient's flare analysis (docs/flares.md) over their recordings with the given
    fingerprints: its summary line, the flares and the personal sitting tolerance."""

    inputs: str
    summary: str
    flares: int | None = None
    tolerance_min: float | None = None


@dataclass
class Manifest:
    """Recordings by absolute path: their rows and fingerprints; failures by path; flares by
    patient."""

    recordings: dict[str, RecordingRows] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    flares: dict[str, PatientFlares] = field(default_factory=dict)

    @classmethod
    def read(cls, out: Path) -> Manifest:
        path = out / NAME
        if not path.exists():
            return cls()
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("schema") != SCHEMA:
                raise ValueError(f"schema {doc.get('schema')!r}, expected {SCHEMA!r}")
            return cls({p: RecordingRows(**{**r, "dates": tuple(r["dates"]),
                                            "files": tuple(r["files"])})
                        for p, r in doc["recordings"].items()},
                       dict(doc["fingerprints"]), dict(doc["failures"]),
                       {p: PatientFlares(**f) for p, f in doc["flares"].items()})
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a cohort manifest this sitload reads ({exc}); "
                              "choose another output folder or remove it") from None

    def write(self, out: Path) -> None:
        """Write the manifest (under a hidden name first, so a crash leaves the old one)."""
        doc = {"schema": SCHEMA, "fingerprints": self.fingerprints, "failures": self.failures,
               "recordings": {p: asdict(r) for p, r in sorted(self.recordings.items())},
               "flares": {p: asdict(f) for p, f in sorted(self.flares.items())}}
        hidden = out / f".{NAME}.tmp"
        hidden.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        os.replace(hidden, out / NAME)

    def up_to_date(self, path: str, fingerprint_now: str, out: Path) -> bool:
        """Whether ``path`` was analysed from the same state and its files are all still there."""
        rows = self.recordings.get(path)
        return (rows is not None and self.fingerprints.get(path) == fingerprint_now
                and all((out / f).exists() for f in rows.files))

    def record(self, rows: RecordingRows, fingerprint_now: str, out: Path) -> None:
        """Take a recording's new rows; its files of an earlier run that it did not write again
        (a day or a patient it no longer has) are removed."""
        self._remove_stale(rows.path, set(rows.files), out)
        self.recordings[rows.path] = rows
        self.fingerprints[rows.path] = fingerprint_now
        self.failures.pop(rows.path, None)

    def fail(self, path: str, error: str, out: Path) -> None:
        """A recording that failed: its rows of an earlier run (from a file that has changed
        since) leave the dataset, and the error is kept for the page."""
        self._remove_stale(path, set(), out)
        self.recordings.pop(path, None)
        self.fingerprints.pop(path, None)
        self.failures[path] = error

    def _remove_stale(self, path: str, keep: set[str], out: Path) -> None:
        old = self.recordings.get(path)
        for name in set(old.files) - keep if old else ():
            (out / name).unlink(missing_ok=True)
