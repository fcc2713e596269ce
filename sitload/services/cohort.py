"""`sitload cohort`: every recording of a cohort analysed on Dask, one task per recording, into
a partitioned Parquet dataset and a cohort page (docs/cohort.md).

A Dask ``LocalCluster`` of ``workers`` processes by default, or the cluster whose scheduler is
``scheduler`` (its workers run this sitload and see the recordings and the output folder under
the same paths). A recording that fails is kept with its error and the others go on; a re-run
skips the recordings whose file and settings have not changed (cohort_manifest).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sitload.config_file import Settings
from sitload.errors import ConfigError, SitloadError
from sitload.private_files import private_dir
from sitload.progress import Progress, part
from sitload.services.flare_analysis import analyze_flares
from sitload.services.cohort_dataset import analyze_into
from sitload.services.cohort_manifest import (Manifest, PatientFlares, fingerprint,
                                              flare_inputs)
from sitload.services.cohort_page import write_page

SUFFIX = ".sitload"          # the recordings a folder given on the command line contributes
SAVE_EVERY_S = 2.0           # the manifest is saved this often while tasks complete
ANALYSIS_SHARE = 0.9         # of the progress bar: the recordings' analyses (then flares)


@dataclass(frozen=True)
class CohortRun:
    """What a run did: the page, the recordings analysed now and skipped as up to date, this
    run's failures (path -> one-line error) and the patients in the dataset."""

    index: Path
    analysed: int
    up_to_date: int
    failures: dict[str, str]
    patients: int


def find_recordings(inputs: Sequence[str | Path]) -> list[str]:
    """The recordings named: files as given, folders searched (with their subfolders) for
    ``*.sitload``; absolute paths, each once, in the order found."""
    found: dict[str, None] = {}
    for item in map(Path, inputs):
        if item.is_dir():
            inside = sorted(p for p in item.rglob(f"*{SUFFIX}") if p.is_file())
            if not inside:
                raise ConfigError(f"{item}: a folder without recordings (*{SUFFIX})")
            found.update(dict.fromkeys(str(p.absolute()) for p in inside))
        elif item.exists():
            found[str(item.absolute())] = None
        else:
            raise ConfigError(f"{item}: no such recording or folder")
    return list(found)


def run_cohort(inputs: Sequence[str | Path], out: str | Path, *, scheduler: str | None = None,
               workers: int | None = None, settings: Settings | None = None,
               progress: Progress | None = None) -> CohortRun:
    """Analyse the recordings (files, or folders of ``*.sitload``) into ``out``: the dataset
    ``out/{epochs,bouts,daily}/``, ``out/manifest.json`` and the page ``out/index.html``
    (``out`` private to the user).
    Dask is started only when a recording or a patient's flare analysis is out of date."""
    settings = settings or Settings()
    paths = find_recordings(inputs)
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    private_dir(out)                     # health data, as the recordings are
    manifest = Manifest.read(out)
    prints = {p: fingerprint(p, settings.analysis) for p in paths}
    todo = [p for p in paths if not manifest.up_to_date(p, prints[p], out)]
    failures: dict[str, str] = {}
    try:
        flares = _flare_work(manifest, settings, todo)
        if todo or flares:
            with dask_client(scheduler, workers) as client:
                failures = _analyse(client, todo, out, settings, manifest, prints,
                                    part(progress, 0.0, ANALYSIS_SHARE))
                _patient_flares(client, _flare_work(manifest, settings, []), settings,
                                manifest, part(progress, ANALYSIS_SHARE, 1.0))
    finally:
        manifest.write(out)
    if progress is not None:
        progress(1.0)
    index = write_page(out, manifest)
    return CohortRun(index, len(todo) - len(failures), len(paths) - len(todo), failures,
                     len({r.patient for r in manifest.recordings.values()}))


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator:
    """A ``distributed.Client`` of the cluster at ``scheduler``, or of a LocalCluster of
    ``workers`` single-threaded processes (default: one per CPU), closed on leaving. Dask logs
    (a failed task's traceback among them) only when the root logger shows INFO (`-v`)."""
    if not logging.getLogger().isEnabledFor(logging.INFO):    # Dask's own logs only with -v
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")    # the local workers'
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("sitload cohort runs on Dask, which is not installed: "
                          "pip install 'sitload[cohort]'") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"{scheduler}: no Dask scheduler answers ({exc})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                      processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def _analyse(client, todo: list[str], out: Path, settings: Settings, manifest: Manifest,
             prints: dict[str, str], progress: Progress | None) -> dict[str, str]:
    """One task per recording; each result goes into the manifest as it arrives (saved every
    SAVE_EVERY_S), each failure as one line. Returns the failures."""
    from distributed import as_completed

    futures = client.map(analyze_into, todo, out=str(out), config=settings.analysis,
                         pure=False)
    path_of = {f.key: p for f, p in zip(futures, todo)}
    failures, saved = {}, time.monotonic()
    for done, future in enumerate(as_completed(futures), 1):
        path = path_of[future.key]
        try:
            manifest.record(future.result(), prints[path], out)
        except Exception as exc:    # noqa: BLE001 - any task's failure is that recording's alone
            failures[path] = one_line(path, exc)
            manifest.fail(path, failures[path], out)
        if progress is not None:
            progress(done / len(todo))
        if time.monotonic() - saved > SAVE_EVERY_S:
            manifest.write(out)
            saved = time.monotonic()
    return failures


def _flare_work(manifest: Manifest, settings: Settings,
                todo: list[str]) -> dict[str, tuple[list[str], str]]:
    """Patients with pain reports whose flare analysis is out of date: their recordings in
    time order, and the inputs' digest. Patients without pain reports lose an old analysis."""
    by_patient: dict[str, list] = {}
    for rows in manifest.recordings.values():
        by_patient.setdefault(rows.patient, []).append(rows)
    work = {}
    for patient in set(manifest.flares) - set(by_patient):
        del manifest.flares[patient]
    for patient, recordings in by_patient.items():
        if not any(r.diary_reports for r in recordings):
            manifest.flares.pop(patient, None)
            continue
        inputs = flare_inputs([manifest.fingerprints[r.path] for r in recordings],
                              settings.flares)
        stale = manifest.flares.get(patient)
        if stale is None or stale.inputs != inputs or any(r.path in todo for r in recordings):
            ordered = sorted(recordings, key=lambda r: r.dates[:1])
            work[patient] = ([r.path for r in ordered], inputs)
    return work


def _patient_flares(client, work: dict[str, tuple[list[str], str]], settings: Settings,
                    manifest: Manifest, progress: Progress | None) -> None:
    """One task per patient with pain reports: the flare analysis of `sitload flares`."""
    from distributed import as_completed

    futures = {client.submit(patient_flares, paths, inputs, settings, pure=False): patient
               for patient, (paths, inputs) in work.items()}
    for done, future in enumerate(as_completed(list(futures)), 1):
        patient = futures[future]
        try:
            manifest.flares[patient] = future.result()
        except Exception as exc:    # noqa: BLE001 - one patient's failure is theirs alone
            manifest.flares[patient] = PatientFlares(work[patient][1],
                                                     f"not analysed: {one_line('', exc)}")
        if progress is not None:
            progress(done / len(futures))


def patient_flares(paths: list[str], inputs: str, settings: Settings) -> PatientFlares:
    """A patient's flare analysis over their recordings (runs on a worker)."""
    try:
        analysis, _ = analyze_flares(paths, settings.flares, settings.analysis)
    except SitloadError as exc:
        return PatientFlares(inputs, f"not analysed: {exc}")
    return PatientFlares(inputs, analysis.summary, analysis.n_flares, analysis.tolerance_min)


def one_line(path: str, exc: BaseException) -> str:
    """A task's exception as one line naming the recording (sitload's own errors name it
    already; anything else is shown with its type)."""
    text = str(exc) if isinstance(exc, SitloadError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if not path or path in text else f"{path}: {text}"
