"""Arguments shared by the subcommands: a bad value of a type here is a usage error (exit 2)."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from sitload.errors import ConfigError

if TYPE_CHECKING:
    from sitload.alerts.broker import BrokerOptions


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


def port(text: str) -> int:
    """A TCP port to listen on: 0 (any free one) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0-65535): {text!r}")
    return int(text)


def time_zone(text: str) -> str:
    """An IANA time zone name, e.g. Europe/Berlin."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError    # here: few commands take a zone

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


def broker_url(text: str) -> str:
    """A broker URL argument, checked (``parse_broker_url``) and returned as given."""
    from sitload.alerts.broker import parse_broker_url    # here: most commands need no broker

    try:
        parse_broker_url(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_broker(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--broker URL`` and ``--ca-file PATH`` (read back with ``broker_options``)."""
    parser.add_argument("--broker", metavar="URL", required=required, help=help, type=broker_url)
    parser.add_argument("--ca-file", metavar="PATH",
                        help="CA certificate(s), PEM, to check an mqtts:// broker against "
                        "(default: the system's CA store)")


def add_notify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notify", action="store_true",
                        help="also show prompts as desktop notifications with Done / Snooze / Pain "
                        "buttons (pip install 'sitload[notify]'; docs/notifications.md)")


def broker_options(args: argparse.Namespace) -> BrokerOptions:
    """How to connect to ``--broker``: with the TLS settings of ``--ca-file`` when given; a
    ConfigError when that file cannot be used or the broker is not mqtts://."""
    from sitload.alerts.broker import BrokerOptions, TlsOptions, parse_broker_url

    if args.ca_file is None:
        return BrokerOptions()
    if not args.broker or not parse_broker_url(args.broker).tls:
        raise ConfigError("--ca-file needs an mqtts:// --broker")
    return BrokerOptions(tls=TlsOptions(ca_certs=args.ca_file))
