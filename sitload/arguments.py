"""Arguments shared by the subcommands: a bad value of a type here is a usage error (exit 2)."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitload.errors import ConfigError

if TYPE_CHECKING:
    from sitload.alerts.mqtt_transport import TlsOptions
def positive(kind):
    """A number type that must be > 0."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
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


def add_config(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` (read back with ``sitload.config_file.settings``)."""
    parser.add_argument("--config", metavar="FILE",
                        help="TOML file of analysis, prompt and flare settings "
                        "(docs/configuration.md; default: $SITLOAD_CONFIG)")


def add_broker(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--broker URL`` and ``--ca-file PATH`` (read back with ``broker_tls``)."""
    parser.add_argument("--broker", metavar="URL", required=required, help=help)
    parser.add_argument("--ca-file", metavar="PATH",
                        help="CA certificate(s), PEM, to check an mqtts:// broker against "
                        "(default: the system's CA store)")


def broker_tls(args: argparse.Namespace) -> TlsOptions | None:
    """The TLS settings of ``--ca-file`` (None without it); a ConfigError when the file cannot be
    used or the broker is not mqtts://."""
    if args.ca_file is None:
        return None
    from sitload.alerts.mqtt_transport import TlsOptions, parse_broker_url

    if not args.broker or not parse_broker_url(args.broker).tls:
        raise ConfigError("--ca-file needs an mqtts:// --broker")
    return TlsOptions(ca_certs=args.ca_file)
