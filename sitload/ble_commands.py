"""`sitload scan` and `sitload monitor`: the BLE side of the CLI."""

from __future__ import annotations

import argparse


def add_ble_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the BLE subcommands (none yet)."""
