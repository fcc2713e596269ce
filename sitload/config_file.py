"""`--config FILE`: the analysis, prompt policy and flare settings from a TOML file.

A section per dataclass, keys are its field names (docs/configuration.md). The dataclasses hold the
defaults and check the values; this module only reads the file, checks each value's type and names
the file and key of anything wrong in one ``ConfigError`` line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import types
from dataclasses import dataclass, field, fields
from datetime import time as dtime
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from sitload.alerts.policy_config import PolicyConfig
from sitload.analytics.config import AnalysisConfig
from sitload.analytics.flare_config import FlareConfig
from sitload.errors import ConfigError

ENV = "SITLOAD_CONFIG"
SECTIONS: dict[str, type] = {"analysis": AnalysisConfig, "policy": PolicyConfig,
                             "flares": FlareConfig}


@dataclass(frozen=True)
class Settings:
    """The three configurations a command may use; the dataclasses' defaults without a file."""

    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    flares: FlareConfig = field(default_factory=FlareConfig)


def settings(args: argparse.Namespace) -> Settings:
    """The settings of ``--config FILE``, else of ``$SITLOAD_CONFIG``, else the defaults."""
    path = getattr(args, "config", None) or os.environ.get(ENV)
    return load(path) if path else Settings()


def load(path: str | Path) -> Settings:
    """Read a TOML configuration file; a ConfigError names the file and the key at fault."""
    import tomllib    # here: most runs have no configuration file
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    parts = {}
    for name, table in doc.items():
        if name not in SECTIONS:
            what = f"section [{name}]" if isinstance(table, dict) else f"key {name!r}"
            raise ConfigError(f"{path}: unknown {what}{_hint(name, SECTIONS)}; the sections are "
                              f"[{'], ['.join(SECTIONS)}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name}: expected a section [{name}], got {_shown(table)}")
        try:
            parts[name] = _build(SECTIONS[name], table, name)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return Settings(**parts)


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    """``cls`` from a table of its fields; the dataclass's own checks run on the result."""
    hints = get_type_hints(cls)
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key{_hint(key, known)}")
        values[key] = _value(value, hints[key], getattr(defaults, key), f"{where}.{key}")
    try:
        return cls(**values)
    except ConfigError as exc:
        # name the keys that fail on their own, else (a rule between fields) all those given
        alone = [k for k in values if not _valid(cls, {k: values[k]})] or list(values)
        raise ConfigError(f"{', '.join(f'{where}.{k}' for k in alone)}: {exc}") from None


def _valid(cls: type, values: dict[str, Any]) -> bool:
    try:
        cls(**values)
    except ConfigError:
        return False
    return True


def _value(value: Any, hint: Any, default: Any, where: str, optional: bool = False) -> Any:
    """``value`` checked against the field type ``hint``; ``false`` turns an optional field off."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return None if value is False else _value(value, inner, default, where, optional=True)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, dtime):  # a TOML time: quiet_hours = [22:00:00, 07:00:00]
        return value.isoformat()
    if hint is str and isinstance(value, str):
        return value
    if origin is tuple and isinstance(value, list) and (args[-1] is Ellipsis
                                                        or len(value) == len(args)):
        return tuple(_value(v, args[0], None, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict and isinstance(value, dict):  # keys given replace the default's
        return {**default, **{k: _value(v, args[1], None, f"{where}.{k}") for k, v in value.items()}}
    off = " or false (off)" if optional else ""
    raise ConfigError(f"{where}: expected {_name(hint)}{off}, got {_shown(value)}")


_NAMES = {float: ("a number", "numbers"), int: ("a whole number", "whole numbers"),
          str: ("a string", "strings")}


def _name(hint: Any) -> str:
    """How a field type reads in an error message, e.g. 'a list of 2 strings'."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        count = "" if args[-1] is Ellipsis else f"{len(args)} "
        return f"a list of {count}{_NAMES[args[0]][1]}"
    if origin is dict:
        return f"a table of {_NAMES[args[1]][1]}"
    return _NAMES[hint][0]


def _shown(value: Any) -> str:
    """A value as it reads in TOML (near enough): "text", true, [1, 2]."""
    return json.dumps(value, default=str)


def _hint(name: str, known) -> str:
    import difflib    # here: only a mistake needs a hint

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
