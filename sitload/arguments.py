"""Argument types shared by the subcommands: a bad value is a usage error (exit 2)."""

from __future__ import annotations

import argparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def positive(kind):
    """A number type that must be > 0."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def time_zone(text: str) -> str:
    """An IANA time zone name, e.g. Europe/Berlin."""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown time zone {text!r}") from None
    return text
