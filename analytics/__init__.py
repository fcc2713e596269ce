"""Pure analysis of sitload sensor data: posture, sitting bouts, asymmetry, accumulation metrics.

No I/O and no asyncio: numpy/scipy/pandas in, dataclasses out. Metric definitions: docs/metrics.md.

The names below load their module when first asked for (PEP 562), so a process that needs only
the first stage (analytics.seconds, on a decoding process) does not load the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {"AccumulationMetrics": "accumulation", "accumulation_metrics": "accumulation",
          "AnalysisConfig": "config", "Engine": "engine", "analyze": "engine",
          "AnalysisResult": "records"}
__all__ = ["AccumulationMetrics", "AnalysisConfig", "AnalysisResult", "Engine",
           "accumulation_metrics", "analyze"]

if TYPE_CHECKING:
    from sitload.analytics.accumulation import AccumulationMetrics, accumulation_metrics
    from sitload.analytics.config import AnalysisConfig
    from sitload.analytics.engine import Engine, analyze
    from sitload.analytics.records import AnalysisResult


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
