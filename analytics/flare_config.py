"""The flare analysis' settings: the flare definition, windows and test settings (the
``[flares]`` section of a configuration file; docs/flares.md). The analysis is analytics.flares."""

from __future__ import annotations

from dataclasses import dataclass

from sitload.errors import ConfigError

PAIN_MAX = 10    # the top of the 0-10 pain rating scale


@dataclass(frozen=True)
class FlareConfig:
    """Flare definition, windows and test settings (minutes unless the name says otherwise)."""

    baseline_pain: float | None = None   # None: the median pain of the reports
    flare_rise: float = 2.0              # a flare: pain >= baseline + this ...
    flare_pain: int = 7                  # ... or pain >= this
    episode_min: float = 120.0           # flare reports closer than this are one flare
    window_min: float = 60.0             # look-back of the non-sitting-minutes exposures
    sitting_windows_min: tuple[float, ...] = (30.0, 60.0, 120.0)
    min_coverage: float = 0.5            # share of the window that must hold data
    min_reports: int = 20                # fewer usable reports: not enough data yet
    min_flares: int = 5
    min_other: int = 5
    alpha: float = 0.05                  # family-wise, over all exposures
    permutations: int = 4999
    bootstrap: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.flare_rise <= 0:
            raise ConfigError(f"the flare rise must be > 0 points, not {self.flare_rise}")
        if not 0 < self.flare_pain <= PAIN_MAX:
            raise ConfigError(f"the flare pain must be within 1-{PAIN_MAX}, not {self.flare_pain}")
        if self.baseline_pain is not None and not 0 <= self.baseline_pain <= PAIN_MAX:
            raise ConfigError(f"baseline pain must be within 0-10, not {self.baseline_pain}")
        if self.window_min <= 0 or any(w <= 0 for w in self.sitting_windows_min):
            raise ConfigError("windows must be > 0 minutes")
        if len(set(self.sitting_windows_min)) != len(self.sitting_windows_min):
            raise ConfigError(f"sitting_windows_min must not repeat a window: "
                              f"{list(self.sitting_windows_min)}")
        if self.episode_min < 0 or self.min_reports < 1:
            raise ConfigError("episode_min must be >= 0 and min_reports >= 1")
        if not 0 < self.alpha < 1 or not 0 <= self.min_coverage <= 1:
            raise ConfigError("alpha must be in (0, 1) and min_coverage in [0, 1]")
        if min(self.min_flares, self.min_other) < 2 or self.permutations < 99 \
                or self.bootstrap < 99:
            raise ConfigError("min_flares and min_other must be >= 2; permutations and "
                              "bootstrap >= 99")
