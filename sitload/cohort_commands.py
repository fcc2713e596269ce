"""`sitload cohort`: a cohort's recordings analysed on Dask into a Parquet dataset and a page."""

from __future__ import annotations

import argparse
import sys

from sitload.arguments import add_config, positive
from sitload.errors import SitloadError


def cohort(args: argparse.Namespace) -> int:
    from sitload.config_file import settings
    from sitload.progress import print_progress
    from sitload.services.cohort import run_cohort

    run = run_cohort(args.recordings, args.output, scheduler=args.scheduler,
                     workers=args.workers, settings=settings(args), progress=print_progress)
    for error in run.failures.values():
        print(f"sitload: failed: {error}", file=sys.stderr)
    print(f"analysed {run.analysed} recordings ({run.up_to_date} up to date, "
          f"{len(run.failures)} failed) of {run.patients} patients; wrote {run.index}")
    if run.failures:
        raise SitloadError(f"{len(run.failures)} of {run.analysed + len(run.failures)} "
                           "recordings failed (listed above); the others are in the dataset")
    return 0


def add_cohort_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `sitload cohort`."""
    p = sub.add_parser("cohort", help="analyse a cohort's recordings on Dask into a Parquet "
                       "dataset and a cohort page",
                       description="Analyses every recording (one Dask task each) into "
                       "OUT/epochs/, OUT/bouts/, OUT/daily/ (Parquet, partitioned by patient "
                       "and date) and OUT/index.html (one row per patient). A re-run skips "
                       "recordings that have not changed (docs/cohort.md).")
    p.add_argument("recordings", nargs="+", metavar="RECORDING_OR_DIR",
                   help="recording files, or folders searched for *.sitload")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="folder for the dataset and index.html (made if missing)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="an existing Dask cluster's scheduler (its workers need this "
                       "sitload and the same paths); default: a local cluster")
    where.add_argument("--workers", type=positive(int), metavar="N",
                       help="worker processes of the local cluster (default: one per CPU)")
    add_config(p)
    p.set_defaults(func=cohort)
