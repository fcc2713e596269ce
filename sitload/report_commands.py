"""`sitload report`: the therapist's report and exports."""

from __future__ import annotations

import argparse


def add_report_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the report subcommand (none yet)."""
