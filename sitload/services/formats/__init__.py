"""Files of research devices and phone apps into recordings, and reference labels of other
devices, by format name (docs/import-formats.md). Each reader returns the CsvData the generic CSV
reader returns, so an import goes the one path into a recording (``import_csv``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from sitload.errors import ImportDataError, UsageError
from sitload.vocab import ImportFormat, LabelsFormat, wire_names
from sitload.services.formats import activpal, actigraph, axivity, phyphox, sensor_logger
from sitload.services.formats.options import ReadOptions
from sitload.services.formats.rate import thinned
from sitload.services.formats.text import Text, decode, file_bytes, is_zip, zip_members
from sitload.services.importers import CsvData, ImportSummary, ReferenceLabels, import_csv, \
    read_labels

Reader = Callable[[Path, ReadOptions], CsvData]
READERS: dict[ImportFormat, Reader] = {
    ImportFormat.ACTIGRAPH_CSV: actigraph.read, ImportFormat.AXIVITY_CSV: axivity.read,
    ImportFormat.SENSOR_LOGGER: sensor_logger.read, ImportFormat.PHYPHOX: phyphox.read}
LABEL_READERS: dict[LabelsFormat, Callable[..., ReferenceLabels]] = {
    LabelsFormat.CSV: read_labels, LabelsFormat.ACTIVPAL_EVENTS: activpal.read_events}
SENSOR_LOGGER_FILES = {sensor_logger.TOTAL, sensor_logger.GRAVITY, sensor_logger.USER}
SNIFF_BYTES = 4096
NUMBER = re.compile(r"[-+]?[0-9]*[.,]?[0-9]+(?:[eE][-+]?[0-9]+)?")


def detect(path: Path) -> ImportFormat:
    """The format a file's own header names; ``csv`` (the generic reader) when none does."""
    if is_zip(path):
        try:
            names = zip_members(path)
        except ImportDataError:  # the generic reader names what is wrong with it
            return ImportFormat.CSV
        if phyphox.TIME_CSV in names:
            return ImportFormat.PHYPHOX
        if SENSOR_LOGGER_FILES & {PurePosixPath(n).name for n in names}:
            return ImportFormat.SENSOR_LOGGER
        return ImportFormat.CSV
    text = _head(path)
    if text is None:
        return ImportFormat.CSV
    head, names = text.lines(1), text.names()
    if head and actigraph.BANNER.search(head[0]):
        return ImportFormat.ACTIGRAPH_CSV
    if {"time", "seconds_elapsed", *sensor_logger.AXES} <= set(names):
        return ImportFormat.SENSOR_LOGGER
    if names and phyphox.SECONDS.search(names[0]) and len(phyphox.axes_of(names)) == 3:
        return ImportFormat.PHYPHOX
    if len(names) >= 4 and axivity.FORMATTED.match(names[0]) \
            and all(NUMBER.fullmatch(n) for n in names[1:4]):
        return ImportFormat.AXIVITY_CSV
    return ImportFormat.CSV


def _head(path: Path) -> Text | None:
    """The file's first bytes as text; None when it cannot be read (the generic reader then
    names what is wrong)."""
    try:
        return Text(path, decode(file_bytes(path)[:SNIFF_BYTES]))
    except ImportDataError:
        return None


def import_file(source: str | Path, output: str | Path, *, fmt: str | None = None,
                sensor: str = "thigh-imu", units: str | None = None, gyro_units: str | None = None,
                tz: str = "UTC", start: str | None = None, skip_bad: bool = False
                ) -> tuple[ImportFormat, ImportSummary]:
    """Import ``source`` in format ``fmt`` (None: the one its header names) into a recording;
    the format read and the summary. ``units`` and ``gyro_units`` (default g and deg/s) are the
    generic CSV's; the other formats define theirs, and giving one for them is a UsageError."""
    source = Path(source)
    if fmt is not None and fmt not in wire_names(ImportFormat):
        raise UsageError(f"unknown format {fmt!r} (one of {', '.join(wire_names(ImportFormat))})")
    fmt = ImportFormat(fmt) if fmt else detect(source)
    given = [flag for flag, value in (("--units", units), ("--gyro-units", gyro_units)) if value]
    if fmt != ImportFormat.CSV and given:
        raise UsageError(f"{' and '.join(given)} apply to a generic csv; {fmt} files carry their "
                         "own units")
    options = ReadOptions(tz=tz, start=start, skip_bad=skip_bad)
    read = READERS.get(fmt)
    reader = None if read is None else (lambda path: thinned(read(path, options)))
    return fmt, import_csv(source, output, sensor=sensor, units=units or "g",
                           gyro_units=gyro_units or "dps",
                           tz=tz, skip_bad=skip_bad, reader=reader)


def read_reference(path: str | Path, fmt: str | None = None, tz: str = "UTC"
                   ) -> ReferenceLabels:
    """Reference labels of ``path`` in label format ``fmt`` (None: activpal-events when its
    header names an activPAL code column, else csv)."""
    if fmt is None:
        text = _head(Path(path))
        fmt = LabelsFormat.ACTIVPAL_EVENTS if text and activpal.is_events(text) else \
            LabelsFormat.CSV
    if fmt not in wire_names(LabelsFormat):
        raise UsageError(f"unknown labels format {fmt!r} "
                         f"(one of {', '.join(wire_names(LabelsFormat))})")
    return LABEL_READERS[LabelsFormat(fmt)](path, tz=tz)
