"""Pure analysis of sitload sensor data: posture, sitting bouts, asymmetry, accumulation metrics.

No I/O and no asyncio: numpy/scipy/pandas in, dataclasses out. Metric definitions: docs/metrics.md.
"""

from analytics.accumulation import AccumulationMetrics, accumulation_metrics
from analytics.config import AnalysisConfig
from analytics.engine import Engine, analyze
from analytics.records import AnalysisResult, Bout, EngineState, Event

__all__ = ["AccumulationMetrics", "AnalysisConfig", "AnalysisResult", "Bout", "Engine",
           "EngineState", "Event", "accumulation_metrics", "analyze"]
