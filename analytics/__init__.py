"""Pure analysis of sitload sensor data: posture, sitting bouts, asymmetry, accumulation metrics.

No I/O and no asyncio: numpy/scipy/pandas in, dataclasses out. Metric definitions: docs/metrics.md.
"""

from sitload.analytics.accumulation import AccumulationMetrics, accumulation_metrics
from sitload.analytics.config import AnalysisConfig
from sitload.analytics.engine import Engine, analyze
from sitload.analytics.records import AnalysisResult

__all__ = ["AccumulationMetrics", "AnalysisConfig", "AnalysisResult", "Engine",
           "accumulation_metrics", "analyze"]
