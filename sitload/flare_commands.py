"""`sitload diary` and `sitload flares`: the symptom diary and flare-up linkage."""

from __future__ import annotations

import argparse


def add_flare_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the diary and flare subcommands (none yet)."""
