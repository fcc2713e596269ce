"""When to prompt: the prompt policy's settings (the ``[policy]`` section of a configuration
file, docs/configuration.md). The policy itself is alerts.policy."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time as dtime

from sitload.errors import ConfigError
from sitload.vocab import PromptKind


def parse_hhmm(value: str) -> dtime:
    """A time of day 'HH:MM'; a ConfigError names a malformed one."""
    try:
        return dtime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"time of day {value!r} is not HH:MM") from exc


def _default_cooldowns() -> dict[str, float]:
    return {"break": 30.0, "shift": 15.0, "uncross": 15.0, "stretch": 60.0, "checkin": 60.0}


@dataclass(frozen=True)
class PolicyConfig:
    """When to prompt. Minutes unless the name says otherwise.

    SI is the analytics symmetry index in percent (docs/metrics.md §4); IMU sensors have no SI, so
    for them a sustained lean side alone counts.
    """

    break_after_min: float = 30.0
    sitting_tolerance_min: float | None = None  # a personal tolerance replaces break_after_min
    break_walk_min: float = 2.0
    shift_si_pct: float = 20.0
    shift_after_min: float = 5.0
    uncross_after_min: float = 10.0
    stretch_after_bout_min: float | None = None  # a bout this long earns a stretch; None: a prolonged one
    checkin_every_min: float | None = None  # check-in (pain report) prompts; off by default
    cooldown_min: dict[str, float] = field(default_factory=_default_cooldowns)
    snooze_min: float = 10.0
    max_prompts_per_hour: int = 3
    timezone: str | None = None  # of the hours below; None: the wearer's (sitload sets it), else UTC
    working_hours: tuple[str, str] | None = None  # prompt only inside, e.g. ('08:00', '18:00')
    quiet_hours: tuple[str, str] | None = None  # never prompt inside, e.g. ('22:00', '07:00')
    escalate_after_min: float | None = 10.0  # follow-up at higher urgency when a prompt is ignored
    expiry_min: float = 15.0
    adherence_window_min: float = 10.0  # doing what a prompt asked within this long is acting on it

    def __post_init__(self) -> None:
        if self.timezone:    # none: the wearer's zone, else UTC
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigError(f"unknown time zone {self.timezone!r}") from exc
        for window in (self.working_hours, self.quiet_hours):
            if window is not None:
                parse_hhmm(window[0]), parse_hhmm(window[1])
        positive = {"break_after_min": self.break_after_min,
                    "sitting_tolerance_min": self.break_threshold_min,
                    "expiry_min": self.expiry_min, "snooze_min": self.snooze_min,
                    "shift_si_pct": self.shift_si_pct, "shift_after_min": self.shift_after_min,
                    "uncross_after_min": self.uncross_after_min,
                    "stretch_after_bout_min": self.stretch_after_bout_min,
                    "break_walk_min": self.break_walk_min,
                    "adherence_window_min": self.adherence_window_min,
                    "checkin_every_min": self.checkin_every_min,
                    "escalate_after_min": self.escalate_after_min}
        for name, value in positive.items():
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        negative = sorted(kind for kind, minutes in self.cooldown_min.items() if minutes < 0)
        if negative:
            raise ConfigError(f"cooldown_min must not be negative ({', '.join(negative)})")
        if self.max_prompts_per_hour < 1:
            raise ConfigError(f"max prompts per hour must be >= 1, got {self.max_prompts_per_hour}")
        unknown = set(self.cooldown_min) - set(PromptKind)
        if unknown:
            raise ConfigError(f"cooldown for unknown prompt kind(s): {', '.join(sorted(unknown))}")

    @property
    def break_threshold_min(self) -> float:
        return self.sitting_tolerance_min if self.sitting_tolerance_min is not None else self.break_after_min

    def in_zone(self, wearer: str | None) -> PolicyConfig:
        """This config with its hours in the wearer's time zone, unless it names a zone itself."""
        return self if self.timezone is not None or wearer is None else replace(self, timezone=wearer)
